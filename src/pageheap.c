/*
 * The page heap: the arena, the page map, span records and free page runs
 * (Go's mheap).
 *
 * Invariants:
 *   - The arena [arena_lo, arena_hi) is reserved once at start-up; pages
 *     below arena_used are committed (readable and writable) and every one of
 *     them belongs to exactly one span, FREE or IN_USE.  arena_used only
 *     grows.  A word w may point into the heap only if
 *     arena_lo <= w < arena_used: one subtraction and one compare.
 *   - page_map[i] is the record of the span holding page i for every page
 *     of an IN_USE span.  A FREE span is found through its first and last
 *     pages only (boundary tags, for coalescing in O(1)); its other pages,
 *     and uncommitted ones, map to NULL.  Finding the span of a pointer is
 *     one load; finding the object in a small-object span is a
 *     multiplication (span_object_index).
 *   - Two FREE spans are never adjacent: freeing coalesces with both
 *     neighbours.
 *   - A FREE span is on free_small[npages] (npages < 128) or free_large.
 *     released means its pages went back to the OS (and read as zero);
 *     needzero means some may hold old data.  Never both.
 *   - heap.lock guards everything here, and heap.heap_inuse and
 *     heap.heap_released.
 *   - Spans are published and torn down as internal.h (Spans) says, for
 *     lookups that read records with no lock: fgc_pageheap_alloc returns a
 *     new record, still FREE, which the caller builds and publishes under
 *     the same hold of heap.lock (so nothing here ever sees a FREE record
 *     that is not on a free list for long); fgc_pageheap_free makes a span
 *     FREE before anything else.  A record's base never changes, and a
 *     FREE record never becomes IN_USE: a run of free pages that is split
 *     or used up gets new records.
 *   - Records and bitmaps let go of are retired, not freed:
 *     fgc_pageheap_reclaim frees them while the world is stopped, at every
 *     collection, or sooner when many pile up (fgc_reclaim_if_needed).
 *
 * Huge pages: the arena past its first fgc_opt.hugepages bytes (8 MiB;
 * heap.huge_lo on) asks the kernel for transparent huge pages, and is committed
 * in whole, aligned 2 MiB steps so that each step can be one huge page from
 * its first touch.  A big heap then takes a page fault and a TLB entry per
 * 2 MiB instead of per 4 KiB (building a 256 MiB heap is several times
 * faster), while a small program keeps small pages and a small RSS.  The
 * scavenger returns a FREE span there only if it covers a whole aligned
 * huge page (release_lasts).
 *
 * Returning memory: after each collection the scavenger releases FREE spans
 * (MADV_DONTNEED) that stayed free through a whole cycle, until the
 * resident part of the heap is within the amount the collector retains
 * (a quarter above the heap goal, plus 4 MiB), and releases any span left
 * idle for SCAVENGE_IDLE_NS whatever the total.  So the process's RSS falls
 * one collection after its heap shrinks, while a heap that merely breathes
 * between collections keeps its pages instead of faulting them back in
 * every cycle.
 */
#include <string.h>

#include "internal.h"
#include "sanitizer.h"

#define FREE_SMALL_MAX 128
#define ARENA_GROW_PAGES 128 /* commit at least 1 MiB at a time */
#define SCAVENGE_IDLE_NS ((uint64_t)5000000000) /* 5 s */
#define MIN_RESERVE ((size_t)64 << 20)

static struct fixalloc span_records;
/* A small-object span's allocation bits and mark bytes share one record:
 * the bits first, then one byte per slot, then a word that links the
 * record on the retired list (no lookup reads it).  One fixalloc per
 * power-of-two slot count from 8 to 1024.  A large-object span keeps its
 * one bit and one mark byte in its own record (span.one_slot). */
#define BITMAP_BUCKETS 8
static struct fixalloc bitmaps[BITMAP_BUCKETS];

static size_t bucket_slots(int b) { return (size_t)8 << b; }
static size_t bucket_bytes(int b) {
  return bucket_slots(b) / 8 + bucket_slots(b);
}
static size_t bucket_link(int b) { return (bucket_bytes(b) + 7) & ~(size_t)7; }

/* Retired span records and bitmaps (see the invariants), freed by
 * fgc_pageheap_reclaim once the world is stopped; heap.lock. */
static struct span *retired_spans; /* linked through next */
static void *retired_bitmaps[BITMAP_BUCKETS];
static size_t retired_count; /* both; read without the lock as a hint */

static void retire_span(struct span *s) {
  s->next = retired_spans;
  retired_spans = s;
  __atomic_store_n(&retired_count, retired_count + 1, __ATOMIC_RELAXED);
}

/* --- span lists -------------------------------------------------------- */

void fgc_list_push(struct span_list *l, struct span *s) {
  s->prev = NULL;
  s->next = l->first;
  if (l->first)
    l->first->prev = s;
  else
    l->last = s;
  l->first = s;
  __atomic_store_n(&l->len, l->len + 1, __ATOMIC_RELAXED);
}

void fgc_list_remove(struct span_list *l, struct span *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    l->first = s->next;
  if (s->next)
    s->next->prev = s->prev;
  else
    l->last = s->prev;
  s->next = s->prev = NULL;
  __atomic_store_n(&l->len, l->len - 1, __ATOMIC_RELAXED);
}

struct span *fgc_list_pop(struct span_list *l) {
  struct span *s = l->first;
  if (s)
    fgc_list_remove(l, s);
  return s;
}

void fgc_list_splice(struct span_list *dst, struct span_list *src) {
  struct span *s = src->first;
  if (!s)
    return;
  struct span *last = src->last;
  last->next = dst->first;
  if (dst->first)
    dst->first->prev = last;
  else
    dst->last = last;
  dst->first = s;
  __atomic_store_n(&dst->len, dst->len + src->len, __ATOMIC_RELAXED);
  src->first = src->last = NULL;
  __atomic_store_n(&src->len, 0, __ATOMIC_RELAXED);
}

/* --- bitmaps ----------------------------------------------------------- */

static int bitmap_bucket(uint32_t nelems) {
  int b = 0;
  while (bucket_slots(b) < nelems)
    b++;
  return b;
}

static int span_alloc_bitmaps(struct span *s, uint32_t nelems) {
  int b = bitmap_bucket(nelems);
  uint64_t *bits = fgc_fixalloc_alloc(&bitmaps[b]);
  if (!bits)
    return -1;
  memset(bits, 0, bucket_bytes(b));
  s->alloc_bits = bits;
  s->marks = (uint8_t *)bits + bucket_slots(b) / 8;
  return 0;
}

/* Puts the bitmaps of s, a small-object span just made FREE, on the
 * retired list.  s keeps pointing at them: a lookup that saw s IN_USE may
 * still read them until the world next stops. */
static void retire_bitmaps(struct span *s, uint32_t nelems) {
  int b = bitmap_bucket(nelems);
  *(void **)((char *)s->alloc_bits + bucket_link(b)) = retired_bitmaps[b];
  retired_bitmaps[b] = s->alloc_bits;
  __atomic_store_n(&retired_count, retired_count + 1, __ATOMIC_RELAXED);
}

/* Frees what was retired before the world stopped: no thread is inside a
 * critical section, so none holds a pointer to it. */
void fgc_pageheap_reclaim(void) {
  struct heap *h = fgc_heap;
  fgc_lock(&h->lock);
  for (struct span *s = retired_spans, *next; s; s = next) {
    next = s->next;
    fgc_fixalloc_free(&span_records, s);
  }
  retired_spans = NULL;
  for (int b = 0; b < BITMAP_BUCKETS; b++) {
    for (void *p = retired_bitmaps[b], *next; p; p = next) {
      next = *(void **)((char *)p + bucket_link(b));
      fgc_fixalloc_free(&bitmaps[b], p);
    }
    retired_bitmaps[b] = NULL;
  }
  __atomic_store_n(&retired_count, 0, __ATOMIC_RELAXED);
  fgc_unlock(&h->lock);
}

size_t fgc_pageheap_retired(void) {
  return __atomic_load_n(&retired_count, __ATOMIC_RELAXED);
}

/* --- the arena --------------------------------------------------------- */

int fgc_pageheap_init(void) {
  struct heap *h = fgc_heap;
  fgc_fixalloc_init(&span_records, sizeof(struct span));
  for (int b = 0; b < BITMAP_BUCKETS; b++)
    fgc_fixalloc_init(&bitmaps[b], bucket_link(b) + sizeof(void *));

  size_t want = fgc_opt.reserve;
  if (fgc_opt.max_heap && fgc_opt.max_heap < want)
    want = fgc_opt.max_heap;
  want = (want + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
  if (want < MIN_RESERVE)
    want = MIN_RESERVE;
  void *arena = NULL;
  while (!(arena = fgc_prim_reserve(want)) && want > MIN_RESERVE)
    want /= 2;
  if (!arena)
    return -1;
  size_t npages = want / PAGE_SIZE;
  h->page_map = fgc_prim_map(npages * sizeof(struct span *));
  if (!h->page_map) {
    fgc_prim_unmap(arena, want);
    return -1;
  }
  h->arena_lo = h->arena_used = (uintptr_t)arena;
  h->arena_hi = (uintptr_t)arena + want;
  h->huge_lo = h->arena_hi;
  if (fgc_opt.hugepages < want) {
    h->huge_lo = h->arena_lo + ((fgc_opt.hugepages + HUGE_PAGE_SIZE - 1) &
                                ~(HUGE_PAGE_SIZE - 1));
    if (h->huge_lo < h->arena_hi)
      fgc_prim_advise_huge((void *)h->huge_lo, h->arena_hi - h->huge_lo);
  }
  h->max_heap = fgc_opt.max_heap;
  return 0;
}

static size_t page_index(uintptr_t p) {
  return (p - fgc_heap->arena_lo) >> PAGE_SHIFT;
}

/* Points every page of s at s: the IN_USE form. */
/* Page-map entries are read without heap.lock (span_of), so they are
 * stored atomically. */
static void map_set(size_t page, struct span *s) {
  __atomic_store_n(&fgc_heap->page_map[page], s, __ATOMIC_RELEASE);
}

static void set_page_map(struct span *s) {
  size_t first = page_index(s->base);
  for (size_t i = 0; i < s->npages; i++)
    map_set(first + i, s);
}

/* Points the first and last pages of FREE span s at it and clears the
 * interior: the FREE form. */
static void set_free_bounds(struct span *s, bool clear_interior) {
  size_t first = page_index(s->base);
  if (clear_interior)
    for (size_t i = 1; i + 1 < s->npages; i++)
      map_set(first + i, NULL);
  map_set(first, s);
  map_set(first + s->npages - 1, s);
}

static struct span *span_record(uintptr_t base, size_t npages) {
  struct span *s = fgc_fixalloc_alloc(&span_records);
  if (!s)
    return NULL;
  memset(s, 0, sizeof *s);
  s->base = base;
  s->npages = npages;
  return s;
}

/* Bit n of free_small_nonempty is set iff free_small[n] has a span, so
 * finding the smallest fitting run is a bit scan, not a walk of 128 lists. */
static uint64_t free_small_nonempty[FREE_SMALL_MAX / 64];

static void free_list_push(struct span *s) {
  struct heap *h = fgc_heap;
  if (s->npages >= FREE_SMALL_MAX) {
    fgc_list_push(&h->free_large, s);
    return;
  }
  fgc_list_push(&h->free_small[s->npages], s);
  bit_set(free_small_nonempty, (uint32_t)s->npages);
}

static void free_list_remove(struct span *s) {
  struct heap *h = fgc_heap;
  if (s->npages >= FREE_SMALL_MAX) {
    fgc_list_remove(&h->free_large, s);
    return;
  }
  fgc_list_remove(&h->free_small[s->npages], s);
  if (!h->free_small[s->npages].first)
    bit_clear(free_small_nonempty, (uint32_t)s->npages);
}

/* Puts FREE span s on its free list.  A lookup may read the nelems of a
 * span freed under it (internal.h, Spans): the store is atomic. */
static void insert_free(struct span *s) {
  s->scan_kind = SCAN_NONE;
  __atomic_store_n(&s->nelems, 0, __ATOMIC_RELAXED);
  span_set_freeindex(s, 0);
  __atomic_store_n(&s->state, SPAN_FREE, __ATOMIC_RELEASE);
  free_list_push(s);
}

/* Commits at least npages more pages of the arena and returns them as one
 * FREE span that is not on any list, or NULL. */
static struct span *grow(size_t npages) {
  struct heap *h = fgc_heap;
  size_t n = npages < ARENA_GROW_PAGES ? ARENA_GROW_PAGES : npages;
  size_t room = (h->arena_hi - h->arena_used) / PAGE_SIZE;
  if (h->max_heap) {
    size_t used = h->arena_used - h->arena_lo;
    size_t limit = h->max_heap > used ? (h->max_heap - used) / PAGE_SIZE : 0;
    if (limit < room)
      room = limit;
  }
  if (room < npages)
    return NULL;
  uintptr_t end = h->arena_used + n * PAGE_SIZE;
  if (end > h->huge_lo)
    n = (((end + HUGE_PAGE_SIZE - 1) & ~(HUGE_PAGE_SIZE - 1)) - h->arena_used) /
        PAGE_SIZE;
  if (n > room)
    n = room;
  if (fgc_prim_commit((void *)h->arena_used, n * PAGE_SIZE) != 0)
    return NULL;
  struct span *s = span_record(h->arena_used, n);
  if (!s)
    return NULL;
  /* The page map first, then the bound that makes span_of look at it. */
  __atomic_store_n(&s->state, SPAN_FREE, __ATOMIC_RELEASE);
  set_free_bounds(s, false);
  __atomic_store_n(&h->arena_used, h->arena_used + n * PAGE_SIZE,
                   __ATOMIC_RELEASE);
  fgc_add_metadata((ptrdiff_t)(n * sizeof(struct span *)));
  return s;
}

/* Finds the best FREE span of at least npages: the exact small list first,
 * then larger small lists, then the smallest fitting large span. */
static struct span *find_free(size_t npages) {
  struct heap *h = fgc_heap;
  for (size_t w = npages / 64;
       npages < FREE_SMALL_MAX && w < FREE_SMALL_MAX / 64; w++) {
    uint64_t bits = free_small_nonempty[w];
    if (w == npages / 64)
      bits &= ~(uint64_t)0 << (npages % 64);
    if (bits) {
      struct span *s =
          h->free_small[w * 64 + (size_t)__builtin_ctzll(bits)].first;
      free_list_remove(s);
      return s;
    }
  }
  struct span *best = NULL;
  for (struct span *s = h->free_large.first; s; s = s->next)
    if (s->npages >= npages &&
        (!best || s->npages < best->npages ||
         (s->npages == best->npages && s->base < best->base)))
      best = s;
  if (best)
    free_list_remove(best);
  return best;
}

/* Merges FREE span b (not on a list) into FREE span a, which is adjacent
 * and below it; a is not on a list either.  b's record is retired.  The
 * merged span counts as released only if both parts were. */
static void merge(struct span *a, struct span *b) {
  struct heap *h = fgc_heap;
  if (a->released != b->released) {
    struct span *r = a->released ? a : b;
    h->heap_released -= r->npages * PAGE_SIZE;
    r->released = false;
  }
  a->needzero = a->needzero || b->needzero;
  if (b->free_since > a->free_since)
    a->free_since = b->free_since;
  if (b->free_since_ns > a->free_since_ns)
    a->free_since_ns = b->free_since_ns;
  map_set(page_index(a->base + (a->npages - 1) * PAGE_SIZE), NULL);
  map_set(page_index(b->base), NULL);
  a->npages += b->npages;
  retire_span(b);
  set_free_bounds(a, false);
}

/* grow, coalesced with a FREE span just below the new pages (taken off its
 * list): one FREE span on no list, or NULL. */
static struct span *grow_merged(size_t npages) {
  struct heap *h = fgc_heap;
  struct span *s = grow(npages);
  if (s && s->base > h->arena_lo) {
    struct span *below = h->page_map[page_index(s->base) - 1];
    if (below->state == SPAN_FREE) {
      free_list_remove(below);
      merge(below, s);
      s = below;
    }
  }
  return s;
}

/* Allocates a span of npages pages, or NULL when the arena (or the heap
 * limit) is exhausted.  The span has a record of its own, never FREE
 * before, and the page map points at it, but it stays FREE, so invisible
 * to lookups, until the caller has set its class and bitmaps and
 * published it (fgc_span_init_small or _large), before it releases
 * heap.lock.  The FREE span its pages came from is retired, and the pages
 * left over get a new FREE record, so that no record's base ever moves: a
 * lookup that saw a span IN_USE just before it was freed may read its base
 * still. */
struct span *fgc_pageheap_alloc(size_t npages) {
  struct heap *h = fgc_heap;
  if (npages == 0)
    fgc_fatal("fgc_pageheap_alloc: a span of no pages");
  struct span *s = span_record(0, npages);
  if (!s)
    return NULL;
  struct span *f = find_free(npages);
  if (!f && !(f = grow_merged(npages))) {
    fgc_fixalloc_free(&span_records, s); /* never seen by anyone */
    return NULL;
  }
  if (f->npages > npages) {
    struct span *rest =
        span_record(f->base + npages * PAGE_SIZE, f->npages - npages);
    if (!rest) {
      insert_free(f);
      fgc_fixalloc_free(&span_records, s);
      return NULL;
    }
    rest->needzero = f->needzero;
    rest->released = f->released;
    rest->free_since = f->free_since;
    rest->free_since_ns = f->free_since_ns;
    set_free_bounds(rest, false);
    insert_free(rest);
  }
  s->base = f->base;
  s->needzero = f->needzero;
  if (f->released) {
    h->heap_released -= npages * PAGE_SIZE;
    s->needzero = false;
  }
  retire_span(f);
  set_page_map(s);
  fgc_unpoison((void *)s->base, s->npages * PAGE_SIZE);
  h->heap_inuse += s->npages * PAGE_SIZE;
  return s;
}

/* Makes s, fully built, visible to lookups: last, with release, so that a
 * lookup that sees IN_USE (span_state, acquire) sees the built span. */
static void publish(struct span *s) {
  __atomic_store_n(&s->state, SPAN_IN_USE, __ATOMIC_RELEASE);
}

/* Commits at least npages more pages as free, zero pages (GC_expand_hp):
 * unlike a span taken and given back, they need no clearing when used. */
bool fgc_pageheap_expand(size_t npages) {
  struct span *s = grow_merged(npages);
  if (!s)
    return false;
  insert_free(s);
  return true;
}

/* Returns the pages of a span from fgc_pageheap_alloc (published or not)
 * to the page heap, coalescing them with FREE neighbours.  The record
 * becomes FREE first, so that lookups stop at it; its bitmaps are retired,
 * and it keeps its class, size and bitmap pointers, for a lookup that saw
 * it IN_USE and reads them still. */
void fgc_pageheap_free(struct span *s) {
  struct heap *h = fgc_heap;
  __atomic_store_n(&s->state, SPAN_FREE, __ATOMIC_RELEASE);
  uint32_t nelems = s->nelems;
  __atomic_store_n(&s->nelems, 0, __ATOMIC_RELAXED);
  span_set_freeindex(s, 0);
  s->scan_kind = SCAN_NONE;
  if (s->alloc_bits && !span_is_large(s))
    retire_bitmaps(s, nelems);
  h->heap_inuse -= s->npages * PAGE_SIZE;
  fgc_poison((void *)s->base, s->npages * PAGE_SIZE);
  s->needzero = true;
  s->released = false;
  s->free_since = h->num_gc;
  s->free_since_ns = fgc_prim_nanotime();
  set_free_bounds(s, true);
  size_t first = page_index(s->base);
  if (first > 0) {
    struct span *below = h->page_map[first - 1];
    if (below->state == SPAN_FREE) {
      free_list_remove(below);
      merge(below, s);
      s = below;
    }
  }
  uintptr_t end = s->base + s->npages * PAGE_SIZE;
  if (end < h->arena_used) {
    struct span *above = h->page_map[page_index(end)];
    if (above->state == SPAN_FREE) {
      free_list_remove(above);
      merge(s, above);
    }
  }
  insert_free(s);
}

static void release(struct span *s) {
  fgc_prim_release((void *)s->base, s->npages * PAGE_SIZE);
  s->released = true;
  s->needzero = false;
  fgc_heap->heap_released += s->npages * PAGE_SIZE;
}

/* Whether releasing s would last.  In the huge-page region, a span that
 * covers no whole aligned huge page shares each of its huge pages with
 * memory in use, and khugepaged, which collapses a huge page whose small
 * pages are mostly absent, would soon fault the released pages back in
 * (max_ptes_none is 511 of 512 by default). */
static bool release_lasts(const struct span *s) {
  uintptr_t end = s->base + s->npages * PAGE_SIZE;
  if (end <= fgc_heap->huge_lo)
    return true;
  uintptr_t first = (s->base + HUGE_PAGE_SIZE - 1) & ~(HUGE_PAGE_SIZE - 1);
  return first + HUGE_PAGE_SIZE <= end;
}

static bool should_release(const struct span *s, size_t resident, size_t retain,
                           uint64_t now) {
  if (retain == 0)
    return true;
  return release_lasts(s) &&
         (now - s->free_since_ns >= SCAVENGE_IDLE_NS ||
          (resident > retain && fgc_heap->num_gc > s->free_since));
}

/* Returns FREE pages to the OS until at most `retain` bytes of the heap are
 * resident, largest spans first, and releases spans idle for long whatever
 * the total, except spans whose release would not last (release_lasts).
 * retain == 0 (gc_release_memory) releases every FREE page. */
void fgc_pageheap_scavenge(size_t retain) {
  struct heap *h = fgc_heap;
  size_t committed = h->arena_used - h->arena_lo;
  size_t resident = committed - h->heap_released;
  uint64_t now = fgc_prim_nanotime();
  for (struct span *s = h->free_large.first; s; s = s->next) {
    if (s->released)
      continue;
    if (should_release(s, resident, retain, now)) {
      release(s);
      resident -= s->npages * PAGE_SIZE;
    }
  }
  for (size_t n = FREE_SMALL_MAX - 1; n > 0; n--) {
    for (struct span *s = h->free_small[n].first; s; s = s->next) {
      if (s->released)
        continue;
      if (should_release(s, resident, retain, now)) {
        release(s);
        resident -= s->npages * PAGE_SIZE;
      }
    }
  }
}

/* --- small-object spans ------------------------------------------------ */

static size_t spc_elemsize(int spc) {
  return spc == SPC_TINY ? TINY_SIZE : class_to_size[spc_size_class(spc)];
}

/* Builds a span from fgc_pageheap_alloc into a small-object span of class
 * spc and publishes it; heap.lock held.  Returns -1 if its bitmaps cannot
 * be allocated (the span then stays unpublished). */
int fgc_span_init_small(struct span *s, int spc) {
  size_t elemsize = spc_elemsize(spc);
  uint32_t nelems = (uint32_t)(s->npages * PAGE_SIZE / elemsize);
  if (span_alloc_bitmaps(s, nelems) != 0)
    return -1;
  s->spc = (uint16_t)spc;
  s->noscan = spc % KINDS == KIND_NOSCAN;
  s->typed = spc % KINDS == KIND_TYPED;
  s->scan_kind = s->noscan ? SCAN_NOSCAN : s->typed ? SCAN_SLOW : SCAN_PLAIN;
  s->elemsize = elemsize;
  s->nelems = nelems;
  s->divmul = (uint32_t)((((uint64_t)1 << 32) + elemsize - 1) / elemsize);
  span_set_freeindex(s, 0);
  s->alloc_count = 0;
  s->sweepgen = fgc_heap->sweepgen;
  fgc_span_refill_cache(s);
  if (s->needzero)
    memset((void *)s->base, 0, s->npages * PAGE_SIZE);
  s->needzero = fgc_opt.clobberfree;
  publish(s);
  return 0;
}

/* Builds a span from fgc_pageheap_alloc into a large-object span and
 * publishes it; heap.lock held.  Its bit and mark byte are in its record,
 * so this cannot fail. */
int fgc_span_init_large(struct span *s, int kind) {
  s->spc = 0;
  s->noscan = kind == KIND_NOSCAN;
  s->typed = kind == KIND_TYPED;
  s->elemsize = s->npages * PAGE_SIZE;
  s->scan_kind = s->noscan                              ? SCAN_NOSCAN
                 : s->typed || s->elemsize > SCAN_CHUNK ? SCAN_SLOW
                                                        : SCAN_PLAIN;
  s->nelems = 1;
  s->divmul = 0;
  s->one_slot[0] = s->one_slot[1] = 0;
  s->alloc_bits = &s->one_slot[0];
  s->marks = (uint8_t *)&s->one_slot[1];
  span_set_freeindex(s, 1);
  s->alloc_count = 1;
  s->alloc_cache = 0;
  s->sweepgen = fgc_heap->sweepgen;
  publish(s);
  return 0;
}

void fgc_span_refill_cache(struct span *s) {
  uint32_t w = s->freeindex / 64;
  if (s->freeindex >= s->nelems) {
    s->alloc_cache = 0;
    return;
  }
  s->alloc_cache = ~s->alloc_bits[w] >> (s->freeindex % 64);
}

/* Finds the next free slot at or after freeindex, advances freeindex past
 * it and returns its index, or returns nelems when the span is full.
 * Go's nextFreeIndex. */
uint32_t fgc_span_next_free_index(struct span *s) {
  uint32_t idx = s->freeindex, n = s->nelems;
  uint64_t cache = s->alloc_cache;
  while (cache == 0) {
    idx = (idx + 64) & ~63u;
    if (idx >= n) {
      span_set_freeindex(s, n);
      s->alloc_cache = 0;
      return n;
    }
    cache = ~s->alloc_bits[idx / 64];
  }
  unsigned bit = (unsigned)__builtin_ctzll(cache);
  uint32_t result = idx + bit;
  if (result >= n) {
    span_set_freeindex(s, n);
    s->alloc_cache = 0;
    return n;
  }
  span_set_freeindex(s, result + 1);
  if (s->freeindex % 64 == 0)
    fgc_span_refill_cache(s);
  else
    s->alloc_cache = cache >> bit >> 1;
  return result;
}
