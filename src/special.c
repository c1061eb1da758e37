/*
 * Specials: records attached to heap objects (Go's mspan.specials in
 * mheap.go).  Today's kind is the finalizer; cleanups and weak handles are
 * further kinds of the same record.
 *
 * Invariants:
 *   - Each span keeps one singly linked list of its specials, sorted by
 *     (offset, kind), where offset is the registered pointer minus the
 *     span's base.  Several specials of different kinds may share an
 *     offset; a tiny block may carry specials at several offsets.
 *   - A list changes only under its span's special lock (a striped lock
 *     chosen by the span's address), or with the world stopped.
 *   - page_specials has the bit of a span's first page set iff the span's
 *     list is not empty, so the collector visits only spans with specials
 *     (Go's pageSpecials).  Bits change with atomic operations under the
 *     span's special lock.
 *   - A special is attached only to a live object, and the collector
 *     processes the specials of every object it finds unreachable before
 *     anything is swept, so a special never outlives its object: a freed
 *     slot carries none.  gc_free drops the specials of what it frees.
 *   - Records come from a fixalloc: never scanned, never in the heap.
 *
 * What the collector does with them (Go's markrootSpans and the sweeper's
 * special handling, mgcmark.go and mgcsweep.go):
 *   - Marking: for each finalizer, the object's contents are scanned but
 *     the object itself is not marked, and the finalizer's arg is a root.
 *     So an object reachable only from itself, or from its own arg, stays
 *     white and its finalizer never runs (a cycle), while everything a
 *     finalizable object reaches stays alive for its finalizer.
 *   - After marking: an unmarked object with a finalizer is marked again
 *     (resurrected for its finalizer), its finalizer special is removed and
 *     the call is queued.
 */
#include <string.h>

#include "internal.h"

#define SPECIAL_LOCKS 64

static fgc_mutex special_locks[SPECIAL_LOCKS];
static struct fixalloc special_records;

static size_t record_size(void) { return sizeof(struct special_finalizer); }

int fgc_special_init(size_t reserved_pages) {
  for (int i = 0; i < SPECIAL_LOCKS; i++)
    pthread_mutex_init(&special_locks[i], NULL);
  fgc_fixalloc_init(&special_records, record_size());
  size_t words = (reserved_pages + 63) / 64;
  fgc_heap->page_specials = fgc_prim_map(words * sizeof(uint64_t));
  return fgc_heap->page_specials ? 0 : -1;
}

static fgc_mutex *lock_of(const struct span *s) {
  return &special_locks[(s->base >> PAGE_SHIFT) % SPECIAL_LOCKS];
}

static size_t page_of(const struct span *s) {
  return (s->base - fgc_heap->arena_lo) >> PAGE_SHIFT;
}

static void set_has_specials(const struct span *s, bool on) {
  size_t p = page_of(s);
  uint64_t bit = (uint64_t)1 << (p % 64);
  if (on)
    __atomic_fetch_or(&fgc_heap->page_specials[p / 64], bit, __ATOMIC_RELAXED);
  else
    __atomic_fetch_and(&fgc_heap->page_specials[p / 64], ~bit,
                       __ATOMIC_RELAXED);
}

struct special *fgc_special_alloc(void) {
  return fgc_fixalloc_alloc(&special_records);
}

void fgc_special_free(struct special *sp) {
  fgc_fixalloc_free(&special_records, sp);
}

/* The link that points to the first special at or after (offset, kind):
 * Go's specialFindSplicePoint. */
static struct special **splice_point(struct span *s, uintptr_t offset,
                                     int kind) {
  struct special **pp = &s->specials;
  while (*pp && ((*pp)->offset < offset ||
                 ((*pp)->offset == offset && (*pp)->kind < kind)))
    pp = &(*pp)->next;
  return pp;
}

/* Attaches sp (offset and kind set) to s.  Returns false, attaching
 * nothing, if s already has a special of that kind at that offset. */
bool fgc_special_add(struct span *s, struct special *sp) {
  fgc_mutex *m = lock_of(s);
  fgc_lock(m);
  struct special **pp = splice_point(s, sp->offset, sp->kind);
  bool exists = *pp && (*pp)->offset == sp->offset && (*pp)->kind == sp->kind;
  if (!exists) {
    sp->next = *pp;
    *pp = sp;
    set_has_specials(s, true);
  }
  fgc_unlock(m);
  return !exists;
}

/* Detaches and returns the special of that kind at that offset, or NULL. */
struct special *fgc_special_remove(struct span *s, uintptr_t offset, int kind) {
  fgc_mutex *m = lock_of(s);
  fgc_lock(m);
  struct special **pp = splice_point(s, offset, kind);
  struct special *sp = NULL;
  if (*pp && (*pp)->offset == offset && (*pp)->kind == kind) {
    sp = *pp;
    *pp = sp->next;
    if (!s->specials)
      set_has_specials(s, false);
  }
  fgc_unlock(m);
  return sp;
}

/* Drops every special of the object at base (for gc_free), without running
 * or queueing anything. */
void fgc_specials_drop_object(struct span *s, uintptr_t base) {
  size_t p = page_of(s);
  if (!(__atomic_load_n(&fgc_heap->page_specials[p / 64], __ATOMIC_RELAXED) &
        ((uint64_t)1 << (p % 64))))
    return;
  uintptr_t lo = base - s->base, hi = lo + s->elemsize;
  struct special *dropped = NULL;
  fgc_mutex *m = lock_of(s);
  fgc_lock(m);
  struct special **pp = splice_point(s, lo, 0);
  while (*pp && (*pp)->offset < hi) {
    struct special *sp = *pp;
    *pp = sp->next;
    sp->next = dropped;
    dropped = sp;
  }
  if (!s->specials)
    set_has_specials(s, false);
  fgc_unlock(m);
  while (dropped) {
    struct special *next = dropped->next;
    fgc_special_free(dropped);
    dropped = next;
  }
}

/* Calls fn for every span that has specials.  World stopped. */
void fgc_specials_for_each_span(void (*fn)(struct span *s, void *arg),
                                void *arg) {
  struct heap *h = fgc_heap;
  size_t pages = (h->arena_used - h->arena_lo) >> PAGE_SHIFT;
  for (size_t w = 0; w < (pages + 63) / 64; w++) {
    uint64_t bits = h->page_specials[w];
    while (bits) {
      size_t page = w * 64 + (size_t)__builtin_ctzll(bits);
      bits &= bits - 1;
      fn(h->page_map[page], arg);
    }
  }
}

static uintptr_t object_base(const struct span *s, uintptr_t offset) {
  return s->base +
         (uintptr_t)span_object_index(s, s->base + offset) * s->elemsize;
}

static void mark_span_specials(struct span *s, void *arg) {
  (void)arg;
  for (struct special *sp = s->specials; sp; sp = sp->next) {
    if (sp->kind != SPECIAL_FINALIZER)
      continue;
    struct special_finalizer *f = (struct special_finalizer *)sp;
    if (!s->noscan) {
      uintptr_t base = object_base(s, sp->offset);
      fgc_mark_range(base, base + s->elemsize);
    }
    fgc_mark_range((uintptr_t)&f->arg, (uintptr_t)(&f->arg + 1));
    fgc_mark_drain();
  }
}

/* Marks what the specials keep alive (see the top of the file). */
void fgc_specials_mark(void) {
  fgc_specials_for_each_span(mark_span_specials, NULL);
}

/* Handles the specials of one unmarked object, the run [*pp, end) of s's
 * list.  Returns the bytes resurrected. */
static size_t process_object(struct span *s, struct special **pp, uintptr_t end,
                             uint32_t index) {
  bool has_finalizer = false;
  for (struct special *sp = *pp; sp && sp->offset < end; sp = sp->next)
    has_finalizer |= sp->kind == SPECIAL_FINALIZER;
  if (!has_finalizer)
    return 0;
  bit_set(s->mark_bits, index);
  while (*pp && (*pp)->offset < end) {
    struct special *sp = *pp;
    if (sp->kind != SPECIAL_FINALIZER) {
      pp = &sp->next;
      continue;
    }
    struct special_finalizer *f = (struct special_finalizer *)sp;
    fgc_finq_push(f->fn, (void *)(s->base + sp->offset), f->arg);
    *pp = sp->next;
    fgc_special_free(sp);
  }
  return s->elemsize;
}

static void process_span(struct span *s, void *arg) {
  size_t *resurrected = arg;
  struct special **pp = &s->specials;
  while (*pp) {
    uint32_t index = span_object_index(s, s->base + (*pp)->offset);
    uintptr_t end = (uintptr_t)(index + 1) * s->elemsize;
    if (bit_get(s->mark_bits, index)) {
      while (*pp && (*pp)->offset < end)
        pp = &(*pp)->next;
      continue;
    }
    *resurrected += process_object(s, pp, end, index);
    while (*pp && (*pp)->offset < end)
      pp = &(*pp)->next;
  }
  if (!s->specials)
    set_has_specials(s, false);
}

/* After marking: queues the finalizers of unreachable objects and
 * resurrects those objects.  Returns the bytes resurrected. */
size_t fgc_specials_process(void) {
  size_t resurrected = 0;
  fgc_specials_for_each_span(process_span, &resurrected);
  return resurrected;
}
