/*
 * Weak pointers: gc_weak_make and gc_weak_value (Go's package weak, and its
 * runtime side in mheap.go: getOrAddWeakHandle, makeStrongFromWeak).
 *
 * Invariants (Go's, restated for finalgc):
 *   1. There is one canonical handle per (object, offset): the handle of a
 *      weak special attached at that offset.  gc_weak_make returns it, or
 *      makes it; two racing makes agree, because the special is added only
 *      if none is there (and the loser returns the winner's).
 *   2. A handle holds the referent's address in a noscan heap object, so
 *      it does not keep the referent alive, while the special keeps the
 *      handle alive as long as the referent lives.
 *   3. A handle reads NULL as soon as a collection finds its referent
 *      unreachable the first time: the collector clears it with the world
 *      stopped, after marking and before any finalizer or cleanup is
 *      queued to run, and removes the special, so the handle stays NULL if
 *      a finalizer resurrects the object and a later make is a new handle.
 *   4. A value read is a strong reference from the moment it is loaded:
 *      the collector stops the reading thread, and a loaded pointer sits in
 *      its registers or stack, which are roots.  So the object a read
 *      returned is never freed under the reader (Go's #69210 needed an
 *      explicit shade because Go's marking runs concurrently with reads).
 *   5. Globals and the zero-size address never die: their handles are
 *      permanent records kept in a table, off the heap.
 */
#include <string.h>

#include "internal.h"

/* --- permanent handles -----------------------------------------------------
 */

static fgc_mutex permanent_lock = FGC_MUTEX_INIT;
static struct gc_weak **permanent; /* open-addressing table by address */
static size_t permanent_cap, permanent_len;
static struct fixalloc permanent_records;

static size_t slot_of(uintptr_t p, size_t cap) {
  return (size_t)((p * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

/* Doubles the table; permanent_lock held.  False when out of memory. */
static bool grow_permanent(void) {
  size_t ncap = permanent_cap ? permanent_cap * 2 : 256;
  struct gc_weak **n = fgc_sysalloc(ncap * sizeof *n);
  if (!n)
    return false;
  for (size_t i = 0; i < permanent_cap; i++) {
    struct gc_weak *w = permanent[i];
    if (!w)
      continue;
    size_t j = slot_of(w->ptr, ncap);
    while (n[j])
      j = (j + 1) & (ncap - 1);
    n[j] = w;
  }
  if (permanent)
    fgc_sysfree(permanent, permanent_cap * sizeof *permanent);
  else
    fgc_fixalloc_init(&permanent_records, sizeof(struct gc_weak));
  permanent = n;
  permanent_cap = ncap;
  return true;
}

static gc_weak *permanent_handle(uintptr_t p) {
  struct gc_weak *w = NULL;
  fgc_lock(&permanent_lock);
  if (2 * (permanent_len + 1) > permanent_cap && !grow_permanent())
    goto out;
  size_t i = slot_of(p, permanent_cap);
  while (permanent[i] && permanent[i]->ptr != p)
    i = (i + 1) & (permanent_cap - 1);
  w = permanent[i];
  if (!w) {
    w = fgc_fixalloc_alloc(&permanent_records);
    if (w) {
      w->ptr = p;
      w->unused = 0;
      permanent[i] = w;
      permanent_len++;
    }
  }
out:
  fgc_unlock(&permanent_lock);
  if (!w)
    fgc_misuse(GC_ERR_NOMEM, "gc_weak_make");
  return w;
}

/* --- heap handles ------------------------------------------------------------
 */

static gc_weak *existing(struct span *s, uintptr_t offset) {
  struct special *sp = fgc_special_find(s, offset, SPECIAL_WEAK);
  return sp ? ((struct special_weak *)sp)->handle : NULL;
}

gc_weak *gc_weak_make(void *ptr) {
  static const char call[] = "gc_weak_make";
  if (!ptr)
    return NULL;
  fgc_ensure_init();
  uintptr_t p = (uintptr_t)ptr;
  struct span *s;
  uint32_t i;
  int kind = fgc_classify(ptr, &s, &i);
  if (kind == FGC_IMMORTAL)
    return permanent_handle(p);
  if (kind != GC_OK) {
    fgc_misuse(kind, call);
    return NULL;
  }
  uintptr_t offset = p - s->base;
  gc_weak *w = existing(s, offset);
  if (w)
    return w;
  /* The new handle and record are reachable only from this frame until the
   * special is linked: a collection in between keeps them. */
  w = gc_alloc_noscan(sizeof *w);
  struct special_weak *sw = (struct special_weak *)fgc_special_alloc();
  if (!w || !sw) {
    if (sw)
      fgc_special_free(&sw->s);
    fgc_misuse(GC_ERR_NOMEM, call);
    return NULL;
  }
  w->ptr = p;
  sw->s.offset = offset;
  sw->s.kind = SPECIAL_WEAK;
  sw->s.reported = 0;
  sw->handle = w;
  if (!fgc_special_add(s, &sw->s, false)) {
    fgc_special_free(&sw->s);
    w = existing(s, offset);
  }
  gc_keep_alive(ptr);
  gc_keep_alive(w);
  return w;
}

void *gc_weak_value(gc_weak *w) {
  return w ? (void *)__atomic_load_n(&w->ptr, __ATOMIC_ACQUIRE) : NULL;
}
