/*
 * The bdwgc-compatible API (compat/include/gc/gc.h): bdwgc's calls mapped
 * onto finalgc's.  This file is built only into libfinalgc-bdwgc, so the
 * plain library exports no GC_ symbol and can sit beside a real bdwgc.
 *
 * Invariants and reasons:
 *   - Everything here is a thin translation; the machinery (finalizer
 *     ordering modes, disappearing links, root specials, pacing controls)
 *     lives in the subsystems, so native and bdwgc programs share it.
 *   - bdwgc's environment variables and GC_dont_gc are taken into account
 *     from the first GC_ call (compat_init, once); a program that never
 *     calls one never pays for them.
 *   - bdwgc reports misuse through its warning procedure and carries on;
 *     so does this layer, where finalgc's native API returns error codes.
 *   - Uncollectable objects are ordinary objects with a root special: they
 *     are scanned, never collected, and GC_free removes the special with
 *     the object.
 */
#define GC_BUILD
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#include "../compat/include/gc/gc.h"
#include "../compat/include/gc/gc_typed.h"

int GC_dont_gc;

static pthread_once_t compat_once = PTHREAD_ONCE_INIT;
static bool compat_ready;
static GC_word free_space_divisor = 3;
static GC_oom_func oom_fn;
static GC_warn_proc warn_proc;
static GC_finalizer_notifier_proc finalizer_notifier;
static uint64_t uncollectable_bytes;

static void default_warn_proc(char *msg, GC_word arg) {
  fputs("GC Warning: ", stderr);
  fprintf(stderr, msg, arg);
}

static void warn(const char *msg, const void *arg) {
  GC_warn_proc fn = __atomic_load_n(&warn_proc, __ATOMIC_ACQUIRE);
  (fn ? fn : default_warn_proc)((char *)msg, (GC_word)arg);
}

/* bdwgc's size syntax: a number with an optional k, M or G suffix. */
static bool env_size(const char *name, size_t *out) {
  const char *v = getenv(name);
  if (!v || !*v)
    return false;
  char *end;
  unsigned long long n = strtoull(v, &end, 10);
  switch (*end) {
  case 'k':
  case 'K':
    n <<= 10;
    end++;
    break;
  case 'm':
  case 'M':
    n <<= 20;
    end++;
    break;
  case 'g':
  case 'G':
    n <<= 30;
    end++;
    break;
  }
  if (*end || end == v) {
    fgc_message("%s=%s is not a size; ignored", name, v);
    return false;
  }
  *out = (size_t)n;
  return true;
}

static void set_free_space_divisor(GC_word d);
static bool expand_heap(size_t n);

static void compat_init_once(void) {
  fgc_ensure_init();
  struct heap *h = fgc_heap;
  size_t n;
  fgc_world_lock();
  __atomic_store_n(&h->dont_gc, &GC_dont_gc, __ATOMIC_RELEASE);
  fgc_world_unlock();
  if (getenv("GC_DONT_GC"))
    __atomic_store_n(&GC_dont_gc, 1, __ATOMIC_RELAXED);
  if (getenv("GC_PRINT_STATS"))
    fgc_opt.gctrace = 1;
  if (env_size("GC_MARKERS", &n) && n > 0)
    gc_set_markers(n > GC_MAX_MARKERS ? GC_MAX_MARKERS : (int)n);
  if (env_size("GC_MAXIMUM_HEAP_SIZE", &n))
    gc_set_max_heap(n);
  if (env_size("GC_FREE_SPACE_DIVISOR", &n) && n > 0)
    set_free_space_divisor(n);
  if (env_size("GC_INITIAL_HEAP_SIZE", &n))
    expand_heap(n);
  __atomic_store_n(&compat_ready, true, __ATOMIC_RELEASE);
}

static inline void compat_init(void) {
  if (likely(__atomic_load_n(&compat_ready, __ATOMIC_ACQUIRE)))
    return;
  pthread_once(&compat_once, compat_init_once);
}

/* --- allocation ---------------------------------------------------------- */

/* bdwgc gives every request, 0 bytes included, an object of its own. */
static void *default_oom_fn(size_t size) {
  (void)size;
  return NULL;
}

static void *out_of_memory(size_t size) { return GC_get_oom_fn()(size); }

void *GC_malloc(size_t size) {
  compat_init();
  void *p = gc_alloc(size ? size : 1);
  return likely(p != NULL) ? p : out_of_memory(size);
}

/* At least 16 bytes, as bdwgc's smallest granule: a smaller pointer-free
 * request would share one of finalgc's tiny blocks, where GC_size and
 * GC_base describe the block, not the object, and addresses may be odd. */
void *GC_malloc_atomic(size_t size) {
  compat_init();
  void *p = gc_alloc_noscan(size < 16 ? 16 : size);
  return likely(p != NULL) ? p : out_of_memory(size);
}

void *GC_malloc_ignore_off_page(size_t size) { return GC_malloc(size); }

void *GC_malloc_atomic_ignore_off_page(size_t size) {
  return GC_malloc_atomic(size);
}

/* Gives p (the start of a fresh object) a root special. */
static bool make_uncollectable(void *p) {
  struct span *s;
  uint32_t i;
  if (fgc_classify(p, &s, &i) != GC_OK)
    return false;
  struct special *sp = fgc_special_alloc();
  if (!sp)
    return false;
  sp->offset = (uintptr_t)p - s->base;
  sp->kind = SPECIAL_ROOT;
  sp->reported = 0;
  sp->mode = 0;
  fgc_special_add(s, sp, true);
  __atomic_add_fetch(&uncollectable_bytes, gc_size(p), __ATOMIC_RELAXED);
  gc_keep_alive(p);
  return true;
}

/* Whether p, the start of an object, is uncollectable. */
static bool is_uncollectable(void *p) {
  struct span *s;
  uint32_t i;
  return fgc_classify(p, &s, &i) == GC_OK &&
         fgc_special_find(s, (uintptr_t)p - s->base, SPECIAL_ROOT) != NULL;
}

void *GC_malloc_uncollectable(size_t size) {
  compat_init();
  /* At least 16 bytes, so that the object never shares a tiny block. */
  void *p = gc_alloc(size < 16 ? 16 : size);
  if (!p)
    return out_of_memory(size);
  if (!make_uncollectable(p)) {
    gc_free(p);
    return out_of_memory(size);
  }
  return p;
}

void GC_free(void *p) {
  if (!p)
    return;
  compat_init();
  void *base = gc_base(p);
  if (!base) {
    warn("GC_free: %p is not in the heap; ignored\n", p);
    return;
  }
  size_t size = is_uncollectable(base) ? gc_size(base) : 0;
  int err = gc_free(base);
  if (err != GC_OK) {
    warn("GC_free: cannot free %p (already freed?); ignored\n", p);
    return;
  }
  if (size)
    __atomic_sub_fetch(&uncollectable_bytes, size, __ATOMIC_RELAXED);
}

void *GC_realloc(void *p, size_t size) {
  compat_init();
  if (!p)
    return GC_malloc(size);
  if (size == 0) {
    GC_free(p);
    return NULL;
  }
  if (is_uncollectable(p)) {
    size_t old = gc_size(p);
    if (size <= old)
      return p;
    void *q = GC_malloc_uncollectable(size);
    if (q) {
      memcpy(q, p, old);
      GC_free(p);
    }
    return q;
  }
  void *q = gc_realloc(p, size < 16 ? 16 : size);
  if (!q) {
    if (errno == EINVAL)
      warn("GC_realloc: %p is not the start of a heap object\n", p);
    return errno == EINVAL ? NULL : out_of_memory(size);
  }
  return q;
}

char *GC_strdup(const char *s) {
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *p = GC_malloc_atomic(n);
  if (p)
    memcpy(p, s, n);
  return p;
}

char *GC_strndup(const char *s, size_t max) {
  if (!s)
    return NULL;
  size_t n = strnlen(s, max);
  char *p = GC_malloc_atomic(n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

/* Over-allocates and returns the first aligned address inside the object:
 * finalgc keeps an object alive through any interior pointer, and GC_free
 * and GC_base go from there to the object's start.  Large objects start on
 * a page, so most big aligned requests cost nothing extra. */
void *GC_memalign(size_t align, size_t size) {
  compat_init();
  if (align <= 8)
    return GC_malloc(size);
  if (align & (align - 1)) {
    warn("GC_memalign: alignment %lu is not a power of two\n",
         (void *)(uintptr_t)align);
    return NULL;
  }
  if (size > SIZE_MAX - align)
    return out_of_memory(size);
  char *p = GC_malloc(size + align - 1);
  if (!p || ((uintptr_t)p & (align - 1)) == 0)
    return p;
  return (void *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
}

int GC_posix_memalign(void **memptr, size_t align, size_t size) {
  if (align < sizeof(void *) || (align & (align - 1)))
    return EINVAL;
  void *p = GC_memalign(align, size);
  if (!p)
    return ENOMEM;
  *memptr = p;
  return 0;
}

void *GC_base(void *p) { return gc_base(p); }
size_t GC_size(const void *p) { return gc_size(p); }
int GC_is_heap_ptr(const void *p) { return gc_base(p) != NULL; }

/* --- typed allocation ------------------------------------------------------
 */

/* A descriptor is a gc_layout (interned, never freed).  0 scans every word:
 * what an exhausted gc_make_layout leaves, and always safe. */
GC_descr GC_make_descriptor(const GC_word *bitmap, size_t len) {
  compat_init();
  _Static_assert(sizeof(GC_word) == sizeof(uint64_t), "64-bit words");
  return (GC_descr)(uintptr_t)gc_make_layout((const uint64_t *)bitmap, len);
}

void *GC_malloc_explicitly_typed(size_t size, GC_descr d) {
  compat_init();
  void *p = gc_alloc_typed(size ? size : 1, (gc_layout)(uintptr_t)d);
  return p ? p : out_of_memory(size);
}

void *GC_malloc_explicitly_typed_ignore_off_page(size_t size, GC_descr d) {
  return GC_malloc_explicitly_typed(size, d);
}

void *GC_calloc_explicitly_typed(size_t n, size_t size, GC_descr d) {
  compat_init();
  if (n == 0 || size == 0)
    return GC_malloc_explicitly_typed(0, d);
  void *p = gc_alloc_typed_array(n, size, (gc_layout)(uintptr_t)d);
  return p ? p : out_of_memory(n * size);
}

/* --- collection and control ---------------------------------------------- */

void GC_init(void) {
  compat_init();
  gc_init();
}

int GC_is_init_called(void) {
  return __atomic_load_n(&compat_ready, __ATOMIC_ACQUIRE);
}

/* bdwgc runs the finalizers a collection readied before GC_gcollect
 * returns (unless they are on demand); finalgc's thread runs them, and
 * this waits for it. */
void GC_gcollect(void) {
  compat_init();
  gc_collect();
  if (!fgc_on_demand())
    gc_wait_finalizers();
}

void GC_gcollect_and_unmap(void) {
  compat_init();
  gc_release_memory();
  if (!fgc_on_demand())
    gc_wait_finalizers();
}

/* As in bdwgc, GC_dont_gc is the counter GC_disable and GC_enable move. */
void GC_disable(void) {
  compat_init();
  fgc_world_lock();
  __atomic_add_fetch(&GC_dont_gc, 1, __ATOMIC_RELAXED);
  fgc_world_unlock();
}

void GC_enable(void) {
  compat_init();
  fgc_world_lock();
  __atomic_sub_fetch(&GC_dont_gc, 1, __ATOMIC_RELAXED);
  fgc_world_unlock();
}

int GC_is_disabled(void) {
  compat_init();
  return __atomic_load_n(&GC_dont_gc, __ATOMIC_RELAXED) != 0;
}

static void set_free_space_divisor(GC_word d) {
  if (d == 0)
    d = 1;
  __atomic_store_n(&free_space_divisor, d, __ATOMIC_RELAXED);
  gc_set_percent(d >= 200 ? 1 : (int)(200 / d));
}

void GC_set_free_space_divisor(GC_word d) {
  compat_init();
  set_free_space_divisor(d);
}

GC_word GC_get_free_space_divisor(void) {
  return __atomic_load_n(&free_space_divisor, __ATOMIC_RELAXED);
}

/* Commits n more bytes of heap (as free, still zero pages) and raises the heap
 * size below which no automatic collection starts, as bdwgc's larger heap
 * would. */
static bool expand_heap(size_t n) {
  struct heap *h = fgc_heap;
  size_t npages = (n + PAGE_SIZE - 1) / PAGE_SIZE;
  if (npages == 0)
    return true;
  fgc_lock(&h->lock);
  bool grown = fgc_pageheap_expand(npages);
  fgc_unlock(&h->lock);
  if (!grown)
    return false;
  fgc_world_lock();
  h->heap_min += npages * PAGE_SIZE;
  fgc_pacer_update();
  fgc_world_unlock();
  return true;
}

int GC_expand_hp(size_t n) {
  compat_init();
  return expand_heap(n);
}

void GC_set_max_heap_size(GC_word n) {
  compat_init();
  gc_set_max_heap(n);
}

void GC_set_oom_fn(GC_oom_func fn) {
  __atomic_store_n(&oom_fn, fn, __ATOMIC_RELEASE);
}

/* Never NULL, as in bdwgc: a handler may call the one it replaced. */
GC_oom_func GC_get_oom_fn(void) {
  GC_oom_func fn = __atomic_load_n(&oom_fn, __ATOMIC_ACQUIRE);
  return fn ? fn : default_oom_fn;
}

void GC_set_warn_proc(GC_warn_proc fn) {
  __atomic_store_n(&warn_proc, fn, __ATOMIC_RELEASE);
}

GC_warn_proc GC_get_warn_proc(void) {
  GC_warn_proc fn = __atomic_load_n(&warn_proc, __ATOMIC_ACQUIRE);
  return fn ? fn : default_warn_proc;
}

void GC_add_roots(void *lo, void *hi) {
  compat_init();
  if (gc_add_roots(lo, hi) != GC_OK)
    warn("GC_add_roots: cannot add the range at %p\n", lo);
}

/* bdwgc removes every range that lies within [lo, hi). */
void GC_remove_roots(void *lo, void *hi) {
  compat_init();
  fgc_remove_roots_within((uintptr_t)lo, (uintptr_t)hi);
}

void GC_set_start_callback(GC_start_callback_proc fn) {
  compat_init();
  fgc_world_lock();
  fgc_heap->start_callback = fn;
  fgc_world_unlock();
}

GC_start_callback_proc GC_get_start_callback(void) {
  compat_init();
  fgc_world_lock();
  GC_start_callback_proc fn = fgc_heap->start_callback;
  fgc_world_unlock();
  return fn;
}

unsigned GC_get_version(void) {
  return (GC_VERSION_MAJOR << 16) | (GC_VERSION_MINOR << 8) | GC_VERSION_MICRO;
}

/* --- statistics ------------------------------------------------------------
 */

struct usage {
  gc_stats st;
  size_t free_bytes;
  uint64_t since_gc;
  uint64_t before_gc;
};

static void read_usage(struct usage *u) {
  compat_init();
  gc_read_stats(&u->st);
  struct heap *h = fgc_heap;
  size_t live = __atomic_load_n(&h->heap_live, __ATOMIC_RELAXED);
  u->free_bytes = u->st.heap_mapped > live ? u->st.heap_mapped - live : 0;
  u->before_gc = __atomic_load_n(&h->alloc_bytes_at_gc, __ATOMIC_RELAXED);
  u->since_gc = u->st.total_alloc_bytes > u->before_gc
                    ? u->st.total_alloc_bytes - u->before_gc
                    : 0;
}

size_t GC_get_heap_size(void) {
  struct usage u;
  read_usage(&u);
  return u.st.heap_mapped;
}

size_t GC_get_free_bytes(void) {
  struct usage u;
  read_usage(&u);
  return u.free_bytes;
}

size_t GC_get_unmapped_bytes(void) {
  struct usage u;
  read_usage(&u);
  return u.st.heap_released;
}

size_t GC_get_bytes_since_gc(void) {
  struct usage u;
  read_usage(&u);
  return u.since_gc;
}

size_t GC_get_total_bytes(void) {
  struct usage u;
  read_usage(&u);
  return u.st.total_alloc_bytes;
}

GC_word GC_get_gc_no(void) {
  struct usage u;
  read_usage(&u);
  return u.st.num_gc;
}

void GC_get_heap_usage_safe(GC_word *heap_size, GC_word *free_bytes,
                            GC_word *unmapped_bytes, GC_word *bytes_since_gc,
                            GC_word *total_bytes) {
  struct usage u;
  read_usage(&u);
  if (heap_size)
    *heap_size = u.st.heap_mapped;
  if (free_bytes)
    *free_bytes = u.free_bytes;
  if (unmapped_bytes)
    *unmapped_bytes = u.st.heap_released;
  if (bytes_since_gc)
    *bytes_since_gc = u.since_gc;
  if (total_bytes)
    *total_bytes = u.st.total_alloc_bytes;
}

size_t GC_get_prof_stats(struct GC_prof_stats_s *out, size_t size) {
  struct usage u;
  read_usage(&u);
  struct GC_prof_stats_s s;
  memset(&s, 0xff, sizeof s); /* bdwgc's "unknown" */
  s.heapsize_full = u.st.heap_mapped + u.st.heap_released;
  s.free_bytes_full = u.free_bytes + u.st.heap_released;
  s.unmapped_bytes = u.st.heap_released;
  s.bytes_allocd_since_gc = u.since_gc;
  s.allocd_bytes_before_gc = u.before_gc;
  s.non_gc_bytes = __atomic_load_n(&uncollectable_bytes, __ATOMIC_RELAXED);
  s.gc_no = u.st.num_gc;
  s.markers_m1 = (GC_word)(fgc_opt.markers - 1);
  s.obtained_from_os_bytes =
      u.st.heap_mapped + u.st.heap_released + u.st.metadata;
  if (size > sizeof s) {
    memset((char *)out + sizeof s, 0xff, size - sizeof s);
    size = sizeof s;
  }
  memcpy(out, &s, size);
  return size;
}

/* --- finalization ------------------------------------------------------------
 */

static void register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
                               GC_finalization_proc *ofn, void **ocd, int mode,
                               const char *not_at_base) {
  compat_init();
  /* bdwgc ignores an object not in its heap; the start of an object, or
   * of one packed in a tiny block, is what fgc_set_finalizer takes. */
  int err = fgc_set_finalizer(obj, fn, cd, mode | FIN_REPLACE, ofn, ocd, NULL);
  if (unlikely(err != GC_OK)) {
    if (err == GC_ERR_NOT_AT_BASE)
      warn(not_at_base, obj);
    else if (err == GC_ERR_NOMEM)
      warn("out of memory registering a finalizer for %p\n", obj);
  }
}

void GC_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
                           GC_finalization_proc *ofn, void **ocd) {
  register_finalizer(
      obj, fn, cd, ofn, ocd, FIN_ORDERED,
      "GC_register_finalizer: %p is not the start of an object\n");
}

void GC_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn,
                                       void *cd, GC_finalization_proc *ofn,
                                       void **ocd) {
  register_finalizer(
      obj, fn, cd, ofn, ocd, FIN_IGNORE_SELF,
      "GC_register_finalizer_ignore_self: %p is not the start of an object\n");
}

void GC_register_finalizer_no_order(void *obj, GC_finalization_proc fn,
                                    void *cd, GC_finalization_proc *ofn,
                                    void **ocd) {
  register_finalizer(
      obj, fn, cd, ofn, ocd, FIN_NO_ORDER,
      "GC_register_finalizer_no_order: %p is not the start of an object\n");
}

void GC_register_finalizer_unreachable(void *obj, GC_finalization_proc fn,
                                       void *cd, GC_finalization_proc *ofn,
                                       void **ocd) {
  register_finalizer(
      obj, fn, cd, ofn, ocd, FIN_UNREACHABLE,
      "GC_register_finalizer_unreachable: %p is not the start of an object\n");
}

int GC_invoke_finalizers(void) {
  compat_init();
  return gc_run_finalizers();
}

int GC_should_invoke_finalizers(void) {
  compat_init();
  return fgc_finalizers_pending() > 0;
}

void GC_set_finalize_on_demand(int on) {
  compat_init();
  gc_set_finalize_on_demand(on);
}

int GC_get_finalize_on_demand(void) {
  compat_init();
  return fgc_on_demand();
}

/* bdwgc calls its notifier only when finalization is on demand. */
static void notify(void) {
  GC_finalizer_notifier_proc fn =
      __atomic_load_n(&finalizer_notifier, __ATOMIC_ACQUIRE);
  if (fn && fgc_on_demand())
    fn();
}

void GC_set_finalizer_notifier(GC_finalizer_notifier_proc fn) {
  compat_init();
  __atomic_store_n(&finalizer_notifier, fn, __ATOMIC_RELEASE);
  gc_set_finalizer_notifier(fn ? notify : NULL);
}

GC_finalizer_notifier_proc GC_get_finalizer_notifier(void) {
  return __atomic_load_n(&finalizer_notifier, __ATOMIC_ACQUIRE);
}

/* --- disappearing links ------------------------------------------------------
 */

static int link_result(int err) {
  switch (err) {
  case GC_OK: return GC_SUCCESS;
  case FGC_DUPLICATE: return GC_DUPLICATE;
  case GC_ERR_NOMEM: return GC_NO_MEMORY;
  default: return GC_NOT_FOUND;
  }
}

static int register_link(void **link, const void *obj, bool is_long) {
  compat_init();
  if (((uintptr_t)link & (sizeof(void *) - 1)) != 0) {
    warn("disappearing link %p is not word-aligned\n", link);
    return GC_NOT_FOUND;
  }
  return link_result(fgc_link_register(link, (void *)obj, is_long));
}

int GC_general_register_disappearing_link(void **link, const void *obj) {
  return register_link(link, obj, false);
}

/* bdwgc's original form: link lies in the object that it tracks. */
int GC_register_disappearing_link(void **link) {
  void *base = gc_base(link);
  if (!base) {
    warn("GC_register_disappearing_link: link %p is not in the heap\n", link);
    return GC_NOT_FOUND;
  }
  return register_link(link, base, false);
}

int GC_unregister_disappearing_link(void **link) {
  compat_init();
  return fgc_link_unregister(link, false);
}

int GC_move_disappearing_link(void **link, void **new_link) {
  compat_init();
  return link_result(fgc_link_move(link, new_link, false));
}

int GC_register_long_link(void **link, const void *obj) {
  return register_link(link, obj, true);
}

int GC_unregister_long_link(void **link) {
  compat_init();
  return fgc_link_unregister(link, true);
}

int GC_move_long_link(void **link, void **new_link) {
  compat_init();
  return link_result(fgc_link_move(link, new_link, true));
}

/* --- threads
 * ------------------------------------------------------------------- */

void GC_allow_register_threads(void) { compat_init(); }

int GC_register_my_thread(const struct GC_stack_base *sb) {
  (void)sb;
  compat_init();
  if (fgc_self)
    return GC_DUPLICATE;
  return gc_register_thread() == GC_OK ? GC_SUCCESS : GC_NO_MEMORY;
}

int GC_unregister_my_thread(void) {
  gc_unregister_thread();
  return GC_SUCCESS;
}

int GC_thread_is_registered(void) { return fgc_self != NULL; }

int GC_get_stack_base(struct GC_stack_base *sb) {
  uintptr_t lo, hi;
  if (fgc_prim_stack_bounds(&lo, &hi) != 0)
    return GC_UNIMPLEMENTED;
  sb->mem_base = (void *)hi;
  return GC_SUCCESS;
}

void *GC_call_with_stack_base(GC_stack_base_func fn, void *arg) {
  struct GC_stack_base sb = {NULL};
  GC_get_stack_base(&sb);
  return fn(&sb, arg);
}

void *GC_do_blocking(GC_fn_type fn, void *client_data) {
  compat_init();
  return gc_do_blocking(fn, client_data);
}

void *GC_call_with_gc_active(GC_fn_type fn, void *client_data) {
  compat_init();
  return fgc_call_with_gc_active(fn, client_data);
}

int GC_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                      void *(*start)(void *), void *arg) {
  compat_init();
  return gc_pthread_create(t, attr, start, arg);
}

/* Threads unregister themselves as they exit (a key destructor), however
 * they exit; join and detach hand over or drop the value a thread returned,
 * which finalgc keeps alive until then (gc_pthread_join). */
int GC_pthread_join(pthread_t t, void **result) {
  return gc_pthread_join(t, result);
}

int GC_pthread_detach(pthread_t t) { return gc_pthread_detach(t); }

int GC_pthread_cancel(pthread_t t) { return pthread_cancel(t); }

void GC_pthread_exit(void *result) { gc_pthread_exit(result); }

int GC_pthread_sigmask(int how, const sigset_t *set, sigset_t *oset) {
  sigset_t fixed;
  if (set && how != SIG_UNBLOCK) {
    fixed = *set;
    sigdelset(&fixed, fgc_opt.suspend_signal);
    set = &fixed;
  }
  return pthread_sigmask(how, set, oset);
}

/* finalgc finds the data segments of every loaded library at each
 * collection, so dlopen needs no wrapping. */
void *GC_dlopen(const char *path, int mode) { return dlopen(path, mode); }
