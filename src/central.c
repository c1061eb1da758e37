/*
 * Central span lists and sweeping (Go's mcentral.go and mgcsweep.go).
 *
 * Each span class has one central record, under its own lock, with three
 * lists of small-object spans that no thread cache holds:
 *   partial  swept, with at least one free slot;
 *   full     swept, every slot allocated;
 *   unswept  marked by the last collection but not yet swept.
 *
 * Invariants:
 *   - A span is on exactly one of these lists, or cached by exactly one
 *     thread, or (during a collection) on none while being moved.
 *   - A cached span is always swept.
 *   - When a collection ends, the world is stopped and no span is cached, so
 *     every span of every class moves to unswept in O(classes) (the
 *     sweepgen flip), and large spans are swept there and then.
 *   - Sweeping is lazy: a thread that needs a span sweeps unswept spans of
 *     its class until one has room (Go's "sweep on allocation").  Before the
 *     next mark, fgc_sweep_all finishes what is left, so a mark always
 *     starts with every mark bit clear.
 *
 * Sweeping a span makes its marks the new allocation bits and clears
 * the slots of the objects that died, so that free slots are always zero;
 * a span with no marked slot goes back to the page heap whole.
 */
#include <string.h>

#include "internal.h"
#include "sanitizer.h"

/* The marks of slots [64w, 64w+64) as a word of bits. */
static uint64_t packed_marks(const struct span *s, size_t w) {
  uint32_t first = (uint32_t)w * 64;
  uint32_t n = s->nelems - first < 64 ? s->nelems - first : 64;
  uint64_t bits = 0;
  for (uint32_t i = 0; i < n; i++)
    bits |= (uint64_t)(s->marks[first + i] != 0) << i;
  return bits;
}

/* Clears the slots that held objects until this sweep (allocated and not
 * marked), run by run, so that every free slot of a swept span is zero and
 * allocation never has to clear memory.  With clobberfree (Go's option of
 * that name) the slots get 0xdf instead, allocation zeroes them
 * (needzero), and a program that touches an object the collector freed
 * reads garbage at once. */
static void clear_dead_slots(const struct span *s, size_t w, uint64_t marked) {
  int fill = fgc_opt.clobberfree ? 0xdf : 0;
  uint32_t first = (uint32_t)w * 64;
  uint64_t allocated = s->alloc_bits[w];
  if (s->freeindex >= first + 64)
    allocated = ~(uint64_t)0;
  else if (s->freeindex > first)
    allocated |= ~(uint64_t)0 >> (64 - (s->freeindex - first));
  if (s->nelems - first < 64)
    allocated &= ~(~(uint64_t)0 << (s->nelems - first));
  uint64_t dead = allocated & ~marked;
  while (dead) {
    unsigned start = (unsigned)__builtin_ctzll(dead);
    uint64_t rest = ~(dead >> start);
    unsigned len = rest ? (unsigned)__builtin_ctzll(rest) : 64 - start;
    void *p = (void *)(s->base + (uintptr_t)(first + start) * s->elemsize);
    memset(p, fill, (size_t)len * s->elemsize);
    dead &= len + start >= 64 ? 0 : ~(uint64_t)0 << (start + len);
  }
}

/* Under ASan, poisons every slot the sweep leaves free. */
static void poison_free_slots(struct span *s) {
  for (uint32_t i = 0; i < s->nelems; i++)
    if (!bit_get(s->alloc_bits, i))
      fgc_poison((void *)(s->base + (uintptr_t)i * s->elemsize), s->elemsize);
}

/* Sweeps a small-object span that is on no list.  Returns false if the span
 * had no live object and went back to the page heap. */
static bool sweep_span(struct span *s) {
  struct heap *h = fgc_heap;
  size_t words = span_bitmap_words(s->nelems);
  uint64_t marked[(GC_MAX_SPAN_SLOTS + 63) / 64];
  uint32_t live = 0;
  for (size_t w = 0; w < words; w++) {
    marked[w] = packed_marks(s, w);
    live += (uint32_t)__builtin_popcountll(marked[w]);
  }
  if (live == 0) {
    fgc_lock(&h->lock);
    fgc_pageheap_free(s);
    fgc_unlock(&h->lock);
    return false;
  }
  for (size_t w = 0; w < words; w++) {
    clear_dead_slots(s, w, marked[w]);
    __atomic_store_n(&s->alloc_bits[w], marked[w], __ATOMIC_RELAXED);
  }
  memset(s->marks, 0, s->nelems);
  span_set_freeindex(s, 0);
  s->alloc_count = live;
  s->needzero = fgc_opt.clobberfree;
  fgc_span_refill_cache(s);
  if (FGC_POISONING)
    poison_free_slots(s);
  /* Last: a reader that sees the new generation sees the swept span. */
  __atomic_store_n(&s->sweepgen, h->sweepgen, __ATOMIC_RELEASE);
  return true;
}

static void put_swept(struct central *c, struct span *s) {
  fgc_list_push(s->alloc_count == s->nelems ? &c->full : &c->partial, s);
}

/* A cached span's free slots count in heap_live as if allocated, so the
 * pacer sees a thread's allocations without the fast path counting them
 * (Go does the same); uncaching gives back what was not used and adds the
 * slots really allocated to the totals. */
static void account_cache(struct span *s) {
  size_t free_bytes = (size_t)(s->nelems - s->alloc_count) * s->elemsize;
  __atomic_add_fetch(&fgc_heap->heap_live, free_bytes, __ATOMIC_RELAXED);
  s->cached_count = s->alloc_count;
}

static void account_uncache(struct span *s) {
  struct heap *h = fgc_heap;
  size_t free_bytes = (size_t)(s->nelems - s->alloc_count) * s->elemsize;
  uint64_t objects = s->alloc_count - s->cached_count;
  __atomic_sub_fetch(&h->heap_live, free_bytes, __ATOMIC_RELAXED);
  __atomic_add_fetch(&h->total_alloc_objects, objects, __ATOMIC_RELAXED);
  __atomic_add_fetch(&h->total_alloc_bytes, objects * s->elemsize,
                     __ATOMIC_RELAXED);
}

/* Returns a swept span of class spc with at least one free slot, for a
 * thread cache, or NULL when the heap cannot grow.  The span's free slots
 * count as allocated (heap_live) until it is uncached, as in Go. */
struct span *fgc_central_cache_span(int spc) {
  struct heap *h = fgc_heap;
  struct central *c = &h->central[spc];
  fgc_lock(&c->lock);
  struct span *s = fgc_list_pop(&c->partial);
  while (!s && (s = fgc_list_pop(&c->unswept)) != NULL) {
    if (!sweep_span(s))
      s = NULL;
    else if (s->alloc_count == s->nelems) {
      fgc_list_push(&c->full, s);
      s = NULL;
    }
  }
  fgc_unlock(&c->lock);
  if (!s) {
    size_t npages = class_to_npages[spc == SPC_TINY ? 2 : spc >> 1];
    fgc_lock(&h->lock);
    s = fgc_pageheap_alloc(npages);
    if (s && fgc_span_init_small(s, spc) != 0) {
      fgc_pageheap_free(s);
      s = NULL;
    }
    fgc_unlock(&h->lock);
    if (!s)
      return NULL;
  }
  account_cache(s);
  return s;
}

/* Takes back a span from a thread cache. */
void fgc_central_uncache_span(struct span *s) {
  struct central *c = &fgc_heap->central[s->spc];
  account_uncache(s);
  fgc_lock(&c->lock);
  put_swept(c, s);
  fgc_unlock(&c->lock);
}

/* Sweeps s now if it still needs it (Go's ensureSwept).  Afterwards s may be
 * FREE: callers look the pointer up again. */
void fgc_central_ensure_swept(struct span *s) {
  struct heap *h = fgc_heap;
  if (__atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE) == h->sweepgen)
    return;
  struct central *c = &h->central[s->spc];
  fgc_lock(&c->lock);
  if (s->state == SPAN_IN_USE && s->sweepgen != h->sweepgen) {
    fgc_list_remove(&c->unswept, s);
    if (sweep_span(s))
      put_swept(c, s);
  }
  fgc_unlock(&c->lock);
}

/* Sweeps every span still unswept (Go's sweep termination). */
void fgc_sweep_all(void) {
  struct heap *h = fgc_heap;
  for (int spc = 1; spc < NUM_SPAN_CLASSES; spc++) {
    struct central *c = &h->central[spc];
    fgc_lock(&c->lock);
    struct span *s;
    while ((s = fgc_list_pop(&c->unswept)) != NULL)
      if (sweep_span(s))
        put_swept(c, s);
    fgc_unlock(&c->lock);
  }
}

/* Starts a new sweep generation: every small span becomes unswept.  The
 * world is stopped and no span is cached. */
void fgc_sweep_begin_cycle(void) {
  struct heap *h = fgc_heap;
  h->sweepgen += 2;
  for (int spc = 1; spc < NUM_SPAN_CLASSES; spc++) {
    struct central *c = &h->central[spc];
    fgc_list_splice(&c->unswept, &c->partial);
    fgc_list_splice(&c->unswept, &c->full);
  }
}

/* Sweeps the large-object spans: an unmarked one goes back to the page heap
 * at once.  The world is stopped. */
void fgc_sweep_large(void) {
  struct heap *h = fgc_heap;
  struct span *next;
  fgc_lock(&h->lock);
  for (struct span *s = h->large.first; s; s = next) {
    next = s->next;
    if (s->marks[0]) {
      s->marks[0] = 0;
      s->sweepgen = h->sweepgen;
      continue;
    }
    fgc_list_remove(&h->large, s);
    if (fgc_opt.clobberfree)
      memset((void *)s->base, 0xdf, s->elemsize);
    fgc_pageheap_free(s);
  }
  fgc_unlock(&h->lock);
}

/* For fork: every central lock, then the heap lock (the lock order). */
void fgc_central_lock_all(void) {
  struct heap *h = fgc_heap;
  for (int spc = 1; spc < NUM_SPAN_CLASSES; spc++)
    fgc_lock(&h->central[spc].lock);
  fgc_lock(&h->lock);
}

void fgc_central_unlock_all(void) {
  struct heap *h = fgc_heap;
  fgc_unlock(&h->lock);
  for (int spc = NUM_SPAN_CLASSES - 1; spc >= 1; spc--)
    fgc_unlock(&h->central[spc].lock);
}
