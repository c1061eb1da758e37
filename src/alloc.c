/*
 * Allocation: thread caches and the paths from gc_alloc to a slot (Go's
 * malloc.go and mcache.go).
 *
 * Allocating a small object proceeds up a hierarchy of caches:
 *   1. The thread's cache holds one span per span class; the slot after
 *      freeindex whose bit is set in alloc_cache is taken with no lock and
 *      no atomic instruction.  This is the fast path, inlined in gc_alloc.
 *   2. When the cached word of free bits runs out, the span's bitmap is
 *      searched for the next free slot (still lock-free: the span is the
 *      thread's own).
 *   3. When the span is full, it goes back to its central list and the
 *      thread takes a span with room from the central list of that class,
 *      sweeping spans as needed: one lock per shard of the class, its own
 *      shard first (central.c).  This is where the pacer may start a
 *      collection.
 *   4. When the central list has nothing, a new span comes from the page
 *      heap (heap.lock), which may grow the arena.
 * Large objects (over 32 KiB) skip 1-3 and get a span of their own.
 *
 * Pointer-free requests under 16 bytes are packed into 16-byte tiny blocks
 * (Go's tiny allocator); the block is one heap object, freed when none of
 * its parts is reachable.
 *
 * Zeroing: every free slot of a swept span is zero (sweeping clears the
 * slots of dead objects, and a span made of reused pages is cleared when it
 * is set up), so allocation hands slots out without writing them.  Only
 * the clobberfree debug option, which fills dead slots with garbage, makes
 * allocation zero them (needzero).
 *
 * Invariants:
 *   - A cache's alloc[spc] is a swept span of class spc cached by no one
 *     else, or the empty sentinel (whose alloc_cache is 0, so the fast path
 *     falls through without a NULL test).
 *   - A slot on a cache's freed list has its mark byte set (the "freed"
 *     flag) and belongs to a swept span.  During a mark the flag makes the
 *     slot look already marked, so a stale pointer neither scans nor keeps
 *     it; the collector clears the list and the flags after marking, and
 *     the sweep reclaims the slots.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "sanitizer.h"

char fgc_zerobase[16] __attribute__((aligned(16)));
struct span fgc_empty_span;

static __thread struct cache *tls_cache
    __attribute__((tls_model("initial-exec")));
static struct fixalloc cache_records;
static pthread_once_t cache_records_once = PTHREAD_ONCE_INIT;

static void cache_records_init(void) {
  fgc_fixalloc_init(&cache_records, sizeof(struct cache));
}

struct cache *fgc_cache_new(void) {
  pthread_once(&cache_records_once, cache_records_init);
  struct cache *c = fgc_fixalloc_alloc(&cache_records);
  if (!c)
    return NULL;
  memset(c, 0, sizeof *c);
  for (int i = 0; i < NUM_SPAN_CLASSES; i++)
    c->alloc[i] = &fgc_empty_span;
  return c;
}

/* Accounting.  A cached span's free slots count in heap_live as if
 * allocated, so the pacer sees a thread's allocations without the fast path
 * counting them (Go does the same); uncaching gives back what was not used
 * and adds the slots really allocated to the totals.  Each cache keeps its
 * deltas and adds them to the heap's counters every ACCOUNT_FLUSH bytes and
 * when it is flushed, so that threads taking spans do not all write one
 * cache line: the pacer may see a thread's last ACCOUNT_FLUSH bytes late. */
#define ACCOUNT_FLUSH ((int64_t)256 << 10)

static void account_flush(struct cache *c) {
  struct heap *h = fgc_heap;
  __atomic_add_fetch(&h->heap_live, (size_t)c->live_delta, __ATOMIC_RELAXED);
  __atomic_add_fetch(&h->total_alloc_objects, c->objects_delta,
                     __ATOMIC_RELAXED);
  __atomic_add_fetch(&h->total_alloc_bytes, c->bytes_delta, __ATOMIC_RELAXED);
  c->live_delta = 0;
  c->objects_delta = c->bytes_delta = 0;
}

static void account_cache(struct cache *c, struct span *s) {
  c->live_delta += (int64_t)(s->nelems - s->alloc_count) * (int64_t)s->elemsize;
  s->cached_count = s->alloc_count;
  if (c->live_delta >= ACCOUNT_FLUSH)
    account_flush(c);
}

static void account_uncache(struct cache *c, struct span *s) {
  uint64_t objects = s->alloc_count - s->cached_count;
  c->live_delta -= (int64_t)(s->nelems - s->alloc_count) * (int64_t)s->elemsize;
  c->objects_delta += objects;
  c->bytes_delta += objects * s->elemsize;
}

/* Clears the "freed" flag of a slot (see the invariants above). */
static void clear_freed_flag(void *p) {
  struct span *s = span_of((uintptr_t)p);
  uint32_t i = span_object_index(s, (uintptr_t)p);
  __atomic_store_n(&s->marks[i], 0, __ATOMIC_RELAXED);
}

/* Returns every span the cache holds to its central list and forgets the
 * tiny block.  Called with the world stopped, before marking (or by the
 * cache's own thread as it exits). */
void fgc_cache_flush(struct cache *c) {
  for (int spc = 0; spc < NUM_SPAN_CLASSES; spc++) {
    struct span *s = c->alloc[spc];
    if (s != &fgc_empty_span) {
      account_uncache(c, s);
      fgc_central_uncache_span(s);
      c->alloc[spc] = &fgc_empty_span;
    }
  }
  c->tiny = 0;
  c->tiny_offset = 0;
  account_flush(c);
}

/* Forgets the freed lists and clears their slots' "freed" flags, so that
 * the next sweep reclaims them.  Called with the world stopped, after
 * marking (or by the cache's own thread as it exits). */
/* Clears the "freed" flags of the slots on a freed list. */
static void drop_freed_list(void *p) {
  while (p) {
    void *next = *(void **)p;
    *(void **)p = NULL;
    clear_freed_flag(p);
    p = next;
  }
}

void fgc_cache_drop_freed(struct cache *c) {
  for (int spc = 0; spc < NUM_SPAN_CLASSES; spc++) {
    drop_freed_list(c->freed[spc]);
    c->freed[spc] = NULL;
  }
}

/* Slots released by gc_free on threads that have exited since the last
 * collection.  Their flags stay until that collection's mark is over, as
 * on a live thread's list: cleared at the thread's exit, a freed slot
 * looked allocated and unmarked again, a stale pointer marked and scanned
 * it (clobbered, or a typed slot's dead layout: a crash), and a second
 * gc_free of it went unreported.  Guarded by world_lock, which the
 * callers of fgc_cache_release and the collector hold. */
static void *orphan_freed;

void fgc_orphans_drop_freed(void) {
  drop_freed_list(orphan_freed);
  orphan_freed = NULL;
}

/* Adds the objects allocated from the cache's spans since they were cached:
 * the part of the totals not yet counted. */
void fgc_cache_count(const struct cache *c, uint64_t *objects,
                     uint64_t *bytes) {
  *objects += c->objects_delta;
  *bytes += c->bytes_delta;
  for (int spc = 0; spc < NUM_SPAN_CLASSES; spc++) {
    const struct span *s = c->alloc[spc];
    *objects += s->alloc_count - s->cached_count;
    *bytes += (uint64_t)(s->alloc_count - s->cached_count) * s->elemsize;
  }
}

void fgc_cache_release(struct cache *c) {
  fgc_cache_flush(c);
  for (int spc = 0; spc < NUM_SPAN_CLASSES; spc++) {
    for (void *p = c->freed[spc], *next; p; p = next) {
      next = *(void **)p;
      *(void **)p = orphan_freed;
      orphan_freed = p;
    }
    c->freed[spc] = NULL;
  }
  fgc_special_cache_release(c);
  if (tls_cache == c)
    tls_cache = NULL;
  fgc_fixalloc_free(&cache_records, c);
}

/* The calling thread's cache, registering the thread on first use. */
static struct cache *cache_self(void) {
  if (likely(tls_cache != NULL))
    return tls_cache;
  fgc_ensure_init();
  struct gc_thread *t = fgc_thread_self();
  tls_cache = t ? t->cache : NULL;
  return tls_cache;
}

static void *out_of_memory(void) {
  errno = ENOMEM;
  return NULL;
}

/* Takes a slot from the thread's span of class spc, replacing the span when
 * it is full.  Returns NULL only when the heap is exhausted.  Called inside
 * one critical section, which it leaves while a collection runs. */
static void *alloc_from_class(struct cache *c, int spc) {
  void *p = c->freed[spc];
  if (p) {
    c->freed[spc] = *(void **)p;
    clear_freed_flag(p);
    struct span *s = span_of((uintptr_t)p);
    fgc_unpoison(p, s->elemsize);
    if (s->needzero)
      memset(p, 0, s->elemsize);
    *(void **)p = NULL;
    /* An allocation for the totals, though not for heap_live: gc_free
     * did not take the slot off it either. */
    c->objects_delta++;
    c->bytes_delta += s->elemsize;
    return p;
  }
  struct span *s = c->alloc[spc];
  uint32_t idx = s->nelems ? fgc_span_next_free_index(s) : 0;
  if (idx >= s->nelems) {
    /* The full span goes back in the same lock hold that takes the next,
     * unless a collection comes first: then it must be on its list. */
    struct span *old = s != &fgc_empty_span ? s : NULL;
    c->alloc[spc] = &fgc_empty_span;
    if (old)
      account_uncache(c, old);
    if (fgc_collect_needed()) {
      if (old)
        fgc_central_uncache_span(old);
      old = NULL;
      fgc_critical_leave();
      fgc_collect_if_needed();
      fgc_critical_enter();
    }
    s = fgc_central_cache_span(spc, old);
    if (!s) {
      fgc_critical_leave();
      fgc_collect_for_oom();
      fgc_critical_enter();
      s = fgc_central_cache_span(spc, NULL);
      if (!s)
        return NULL;
    }
    c->alloc[spc] = s;
    account_cache(c, s);
    idx = fgc_span_next_free_index(s);
  }
  s->alloc_count++;
  p = (void *)(s->base + (uintptr_t)idx * s->elemsize);
  fgc_unpoison(p, s->elemsize);
  if (s->needzero)
    memset(p, 0, s->elemsize);
  return p;
}

/* The bytes of a slot the program may use: all of it, but for a typed
 * object's trailing layout word. */
static size_t usable_size(const struct span *s) {
  return s->elemsize - (s->typed ? sizeof(gc_layout) : 0);
}

/* A large object of kind, with layout at its end if it is typed.  Once on
 * the heap's list of large spans, the object is swept unless marked, and
 * its span record is no root: the thread keeps it in a critical section
 * until the object's own address is in a local, where a collection that
 * stops the thread finds it, and until a typed object's layout is in
 * place.  Zeroing comes after, outside: a big memset would hold up every
 * collection, and a collection that sees the object half cleared only
 * scans stale words (a typed one's last word is its layout already). */
static void *alloc_large(size_t size, int kind, gc_layout layout) {
  struct heap *h = fgc_heap;
  if (size > h->arena_hi - h->arena_lo)
    return out_of_memory();
  size_t npages = (size + PAGE_SIZE - 1) / PAGE_SIZE;
  fgc_collect_if_needed();
  fgc_reclaim_if_needed();
  struct span *s = NULL;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (attempt == 1)
      fgc_collect_for_oom();
    fgc_critical_enter();
    fgc_lock(&h->lock);
    s = fgc_pageheap_alloc(npages);
    if (s && fgc_span_init_large(s, kind) != 0) {
      fgc_pageheap_free(s);
      s = NULL;
    }
    if (s)
      fgc_list_push(&h->large, s);
    fgc_unlock(&h->lock);
    if (s)
      break;
    fgc_critical_leave();
  }
  if (!s)
    return out_of_memory();
  char *p = (char *)s->base;
  size_t bytes = s->elemsize, body = usable_size(s);
  bool zero = s->needzero;
  if (kind == KIND_TYPED)
    *(gc_layout *)(p + body) = layout;
  /* Counted inside the section: a collection between the two would count
   * the object as marked, then again here. */
  __atomic_add_fetch(&h->heap_live, bytes, __ATOMIC_RELAXED);
  __atomic_add_fetch(&h->total_alloc_bytes, bytes, __ATOMIC_RELAXED);
  __atomic_add_fetch(&h->total_alloc_objects, 1, __ATOMIC_RELAXED);
  fgc_critical_leave();
  if (zero)
    memset(p, 0, body);
  return p;
}

/* The tiny allocator: size < TINY_SIZE, pointer-free.  Objects are aligned
 * to the largest power of two (up to 8) dividing their size, and end
 * strictly inside their block (see slot_size).  Returns NULL when the
 * current block has no room. */
static inline void *tiny_fit(struct cache *c, size_t size) {
  size_t off = c->tiny_offset;
  if ((size & 7) == 0)
    off = (off + 7) & ~(size_t)7;
  else if ((size & 3) == 0)
    off = (off + 3) & ~(size_t)3;
  else if ((size & 1) == 0)
    off = (off + 1) & ~(size_t)1;
  if (!c->tiny || off + size >= TINY_SIZE)
    return NULL;
  c->tiny_offset = off + size;
  return (void *)(c->tiny + off);
}

static void *alloc_tiny(struct cache *c, size_t size) {
  void *p = tiny_fit(c, size);
  if (p)
    return p;
  void *block = alloc_from_class(c, SPC_TINY);
  if (!block)
    return NULL;
  /* Keep whichever block has more room left (Go does the same). */
  if (!c->tiny || size < c->tiny_offset) {
    c->tiny = (uintptr_t)block;
    c->tiny_offset = size;
  }
  return block;
}

/* Every object gets at least one byte more than it asked for, so that a
 * pointer one past its end (which C programs form all the time) points
 * into its own slot: it keeps that object alive, and never the next one.
 * bdwgc pads its objects for the same reason.  A size that is a multiple
 * of 16 may hold a 16-aligned type, so its slot must be a multiple of 16
 * too: every class from 32 bytes up is, and only a 16-byte request needs
 * the bigger step (to 32 rather than the 8-aligned 24). */
static inline size_t slot_size(size_t size) {
  return (size & 15) == 0 ? size + 16 : size + 1;
}

static void *alloc_slow(size_t size, int kind) {
  struct cache *c = cache_self();
  if (!c)
    return out_of_memory();
  if (size == 0)
    return fgc_zerobase;
  if (size >= GC_MAX_SMALL_SIZE)
    return size <= SIZE_MAX - 16 ? alloc_large(slot_size(size), kind, NULL)
                                 : out_of_memory();
  fgc_critical_enter();
  void *p = kind == KIND_NOSCAN && size < TINY_SIZE
                ? alloc_tiny(c, size)
                : alloc_from_class(
                      c, span_class_of(size_to_class(slot_size(size)), kind));
  fgc_critical_leave();
  return p ? p : out_of_memory();
}

/* The fast path: a slot from the thread's span, found in alloc_cache. */
static inline void *alloc_fast(struct cache *c, int spc) {
  struct span *s = c->alloc[spc];
  uint64_t bits = s->alloc_cache;
  if (unlikely(bits == 0 || c->freed[spc] != NULL))
    return NULL;
  unsigned bit = (unsigned)__builtin_ctzll(bits);
  uint32_t idx = s->freeindex + bit;
  uint32_t next = idx + 1;
  if (unlikely(idx >= s->nelems || next % 64 == 0))
    return NULL;
  s->alloc_cache = bits >> bit >> 1;
  span_set_freeindex(s, next);
  s->alloc_count++;
  void *p = (void *)(s->base + (uintptr_t)idx * s->elemsize);
  fgc_unpoison(p, s->elemsize);
  if (s->needzero)
    memset(p, 0, s->elemsize);
  return p;
}

/* The span class for a request of 1..GC_SMALL_SIZE_MAX-1 bytes, padded. */
static inline int small_class(size_t size, int kind) {
  size_t slot = slot_size(size);
  return span_class_of(size_to_class8[(slot + 7) >> 3], kind);
}

void *gc_alloc(size_t size) {
  struct cache *c = tls_cache;
  if (likely(c != NULL && size - 1 < GC_SMALL_SIZE_MAX - 1)) {
    fgc_critical_enter();
    void *p = alloc_fast(c, small_class(size, KIND_SCAN));
    fgc_critical_leave();
    if (likely(p != NULL))
      return p;
  }
  return alloc_slow(size, KIND_SCAN);
}

static gc_layout layout_of(const struct span *s, uintptr_t base) {
  return *(gc_layout *)(base + usable_size(s));
}

/* A typed object's slot ends with its layout, so it needs a word more than
 * asked for (which is also its one-past-the-end padding); a size that is a
 * multiple of 16 keeps a slot that is one too (see slot_size). */
void *gc_alloc_typed(size_t size, gc_layout layout) {
  if (size == 0)
    return fgc_zerobase;
  if (size > SIZE_MAX - 16)
    return out_of_memory();
  size_t need = (size & 15) == 0 ? size + 16 : ((size + 7) & ~(size_t)7) + 8;
  struct cache *c = cache_self();
  if (!c)
    return out_of_memory();
  void *p;
  if (need > GC_MAX_SMALL_SIZE)
    return alloc_large(need, KIND_TYPED, layout);
  fgc_critical_enter();
  p = alloc_from_class(c, span_class_of(size_to_class(need), KIND_TYPED));
  /* The layout is in place before any collection can see the object. */
  if (p) {
    struct span *s = span_of((uintptr_t)p);
    *(gc_layout *)((char *)p + s->elemsize - sizeof(gc_layout)) = layout;
  }
  fgc_critical_leave();
  return p ? p : out_of_memory();
}

void *gc_alloc_noscan(size_t size) {
  struct cache *c = tls_cache;
  if (likely(c != NULL)) {
    void *p = NULL;
    fgc_critical_enter();
    if (size - 1 < TINY_SIZE - 1)
      p = tiny_fit(c, size);
    else if (size < GC_SMALL_SIZE_MAX)
      p = alloc_fast(c, small_class(size, KIND_NOSCAN));
    fgc_critical_leave();
    if (likely(p != NULL))
      return p;
  }
  return alloc_slow(size, KIND_NOSCAN);
}

/* --- lookups ----------------------------------------------------------- */

/* Finds the live object holding p: its span and slot index, or NULL.  A
 * live object is allocated and not on a freed list.  A span still to be
 * swept is swept first (Go's ensureSwept): until then, and while another
 * thread sweeps it, its marks and allocation bits are in flux.  The caller
 * is inside a critical section, so that no collection can start (and make
 * the span unswept again, its marks meaning "live" instead of "freed")
 * between the check and the reads, and so that the record it reads is not
 * reused under it (internal.h, Spans). */
static struct span *find_object_critical(uintptr_t p, uint32_t *index) {
  struct span *s;
  for (;;) {
    s = span_of(p);
    if (!s || span_state(s) != SPAN_IN_USE)
      return NULL;
    if (__atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE) == fgc_heap->sweepgen)
      break;
    /* Swept or FREE after this: look again (a span made now is swept). */
    fgc_central_ensure_swept(s);
  }
  uint32_t i = span_object_index(s, p);
  if (!span_slot_is_object(s, i) || mark_get(s, i))
    return NULL;
  *index = i;
  return s;
}

/* find_object_critical, for callers outside critical sections.  The span
 * and index stay right after it returns as long as the caller holds a
 * reference to the object.  NULL also if the calling thread cannot be
 * registered (fgc_register_caller: a lookup may sweep the span it looks at,
 * and reads marks that mean "freed" only between collections; a lookup
 * from a thread finalgc did not know once ran during a collection's mark,
 * took the marks just set for "freed", and its sweep, ending after the
 * mark, wiped them, so that the next sweep freed live objects). */
struct span *fgc_find_object(uintptr_t p, uint32_t *index) {
  if (unlikely(!fgc_register_caller("gc_realloc")))
    return NULL;
  fgc_critical_enter();
  struct span *s = find_object_critical(p, index);
  fgc_critical_leave();
  return s;
}

/* For the calls that attach things to objects: FGC_IMMORTAL for the
 * zero-size address and globals (which never die), GC_OK with *sp and
 * *index set for a live heap object, GC_ERR_NOT_IN_HEAP otherwise. */
int fgc_classify(void *ptr, struct span **sp, uint32_t *index) {
  uintptr_t p = (uintptr_t)ptr;
  if (ptr == fgc_zerobase)
    return FGC_IMMORTAL;
  struct span *s = span_of(p);
  if (!s || span_state(s) != SPAN_IN_USE)
    return fgc_is_global(p) ? FGC_IMMORTAL : GC_ERR_NOT_IN_HEAP;
  *sp = fgc_find_object(p, index);
  return *sp ? GC_OK : GC_ERR_NOT_IN_HEAP;
}

/* gc_base and gc_size read the span inside the critical section: the
 * object may be dead (a stale pointer), and then its span's record may be
 * reused once the world has stopped (internal.h, Spans). */
void *gc_base(const void *p) {
  fgc_ensure_init();
  if (unlikely(!fgc_register_caller("gc_base")))
    return NULL;
  uint32_t i;
  fgc_critical_enter();
  struct span *s = find_object_critical((uintptr_t)p, &i);
  void *base = s ? (void *)(s->base + (uintptr_t)i * s->elemsize) : NULL;
  fgc_critical_leave();
  return base;
}

size_t gc_size(const void *p) {
  fgc_ensure_init();
  if (unlikely(!fgc_register_caller("gc_size")))
    return 0;
  uint32_t i;
  fgc_critical_enter();
  struct span *s = find_object_critical((uintptr_t)p, &i);
  size_t size = s ? usable_size(s) : 0;
  fgc_critical_leave();
  return size;
}

/* --- explicit free ----------------------------------------------------- */

static bool in_arena(uintptr_t p) {
  struct heap *h = fgc_heap;
  return p - h->arena_lo <
         __atomic_load_n(&h->arena_used, __ATOMIC_RELAXED) - h->arena_lo;
}

static int free_large(struct span *s) {
  struct heap *h = fgc_heap;
  fgc_lock(&h->lock);
  if (span_state(s) != SPAN_IN_USE) {
    fgc_unlock(&h->lock);
    return GC_ERR_FREED;
  }
  fgc_list_remove(&h->large, s);
  fgc_specials_drop_object(s, s->base);
  fgc_links_drop_inside(s->base, s->base + s->elemsize);
  size_t size = s->elemsize;
  fgc_pageheap_free(s);
  fgc_unlock(&h->lock);
  __atomic_sub_fetch(&h->heap_live, size, __ATOMIC_RELAXED);
  return GC_OK;
}

int gc_free(void *ptr) {
  uintptr_t p = (uintptr_t)ptr;
  if (!ptr || ptr == fgc_zerobase)
    return GC_OK;
  struct cache *c = cache_self();
  if (!c)
    return GC_ERR_NOMEM;
  struct span *s = span_of(p);
  if (!s || span_state(s) != SPAN_IN_USE)
    return in_arena(p) ? GC_ERR_FREED : GC_ERR_NOT_IN_HEAP;
  if (s->spc == SPC_TINY)
    return GC_OK;
  if (span_object_index(s, p) >= __atomic_load_n(&s->nelems, __ATOMIC_RELAXED))
    return GC_ERR_NOT_IN_HEAP;
  /* From the lookup to the "freed" mark, no collection may intervene (see
   * find_object_critical). */
  fgc_critical_enter();
  uint32_t i;
  s = find_object_critical(p, &i);
  int err = !s                                          ? GC_ERR_FREED
            : s->base + (uintptr_t)i * s->elemsize != p ? GC_ERR_NOT_AT_BASE
                                                        : GC_OK;
  if (err == GC_OK && span_is_large(s)) {
    fgc_critical_leave();
    return free_large(s);
  }
  if (err != GC_OK ||
      __atomic_exchange_n(&s->marks[i], MARK_FREED, __ATOMIC_RELAXED)) {
    fgc_critical_leave();
    return err != GC_OK ? err : GC_ERR_FREED;
  }
  fgc_specials_drop_object(s, p);
  fgc_links_drop_inside(p, p + s->elemsize);
  /* Cleared now, so that nothing it pointed to is kept by it. */
  memset(ptr, fgc_opt.clobberfree ? 0xdf : 0, s->elemsize);
  *(void **)ptr = c->freed[s->spc];
  c->freed[s->spc] = ptr;
  fgc_critical_leave();
  return GC_OK;
}

/* --- realloc ----------------------------------------------------------- */

void *gc_realloc(void *ptr, size_t size) {
  if (!ptr)
    return gc_alloc(size);
  if (ptr == fgc_zerobase)
    return gc_alloc(size);
  fgc_ensure_init();
  uintptr_t p = (uintptr_t)ptr;
  uint32_t i;
  struct span *s = fgc_find_object(p, &i);
  uintptr_t base = s ? s->base + (uintptr_t)i * s->elemsize : 0;
  bool tiny = s && s->spc == SPC_TINY;
  if (!s || (base != p && !tiny)) {
    errno = EINVAL;
    return NULL;
  }
  if (size == 0) {
    gc_free(ptr);
    return fgc_zerobase;
  }
  if (size > SIZE_MAX - 16)
    return out_of_memory(); /* slot_size would wrap */
  size_t old = tiny ? base + TINY_SIZE - p : usable_size(s);
  size_t slot = slot_size(size);
  bool fits =
      !s->typed &&
      (span_is_large(s) ? slot <= old && slot > old / 2
                        : !tiny && slot <= GC_MAX_SMALL_SIZE &&
                              size_to_class(slot) == spc_size_class(s->spc));
  if (fits) {
    memset((char *)ptr + size, 0, old - size);
    return ptr;
  }
  void *q = s->typed    ? gc_alloc_typed(size, layout_of(s, base))
            : s->noscan ? gc_alloc_noscan(size)
                        : gc_alloc(size);
  if (!q)
    return NULL;
  /* A tiny object's size is not known: its bytes to the end of its block
   * are copied, or up to its new place, which may be in the same block,
   * just after it (the copy overlapped). */
  size_t n = size < old ? size : old;
  if (tiny && (uintptr_t)q > p && (uintptr_t)q - p < n)
    n = (uintptr_t)q - p;
  memcpy(q, ptr, n);
  if (!tiny)
    gc_free(ptr);
  return q;
}
