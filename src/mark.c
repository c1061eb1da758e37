/*
 * Marking: finding every object reachable from the roots (Go's mgcmark.go).
 *
 * The tri-colour view: an object is white while its mark bit is clear, grey
 * once it is marked and on the mark stack, black once it is marked and its
 * words have been scanned.  Marking ends when the mark stack is empty; the
 * invariant that makes that correct is that a black object never points to
 * a white one, which holds because scanning an object greys everything it
 * points to before the object counts as black.  (With the world stopped for
 * the whole mark, no mutator can break it.  Objects allocated during a
 * future concurrent mark must be allocated black.)
 *
 * Scanning is conservative: a word is a pointer if it falls inside an
 * allocated slot of an IN_USE span (interior pointers included).  A slot
 * past the end of the span's last object (tail waste) and a free slot are
 * not objects.  Noscan objects are marked but never scanned.
 *
 * The mark stack is explicit, never the C stack, so a list of ten million
 * nodes marks in constant C stack.  It lives in memory from the OS and
 * doubles when full; when it cannot grow (or reaches the markstackmax
 * option), marking records an overflow and carries on: the object is
 * marked but not scanned.  After the stack drains, fgc_mark_finish rescans
 * every marked object of the heap until a pass ends without overflow.
 * Large objects are scanned in chunks of at most SCAN_CHUNK bytes so that
 * one huge array does not hold all the work.
 */
#include <string.h>

#include "internal.h"
#include "sanitizer.h"

#define SCAN_CHUNK ((uintptr_t)128 << 10)
#define MARK_STACK_INITIAL 65536

struct mark_entry {
  uintptr_t lo, hi;
};

static struct mark_entry *stack;
static size_t stack_top, stack_cap;
static bool overflowed;
static size_t marked_bytes;

void fgc_mark_init(void) {
  stack = fgc_sysalloc(MARK_STACK_INITIAL * sizeof *stack);
  if (!stack)
    fgc_fatal("out of memory for the mark stack");
  stack_cap = MARK_STACK_INITIAL;
}

static bool grow_stack(void) {
  size_t ncap = stack_cap * 2;
  if (ncap > fgc_opt.mark_stack_max)
    return false;
  struct mark_entry *n = fgc_sysalloc(ncap * sizeof *n);
  if (!n)
    return false;
  memcpy(n, stack, stack_top * sizeof *n);
  fgc_sysfree(stack, stack_cap * sizeof *stack);
  stack = n;
  stack_cap = ncap;
  return true;
}

static inline void push(uintptr_t lo, uintptr_t hi) {
  if (unlikely(stack_top == stack_cap) && !grow_stack()) {
    overflowed = true;
    return;
  }
  stack[stack_top++] = (struct mark_entry){lo, hi};
}

/* Scans the aligned words of [lo, hi), marking and greying every object
 * they point into. */
NO_SANITIZE static void scan(uintptr_t lo, uintptr_t hi) {
  struct heap *h = fgc_heap;
  const uintptr_t arena = h->arena_lo;
  const uintptr_t arena_len = h->arena_used - arena;
  struct span **const map = h->page_map;
  lo = (lo + WORD_SIZE - 1) & ~(WORD_SIZE - 1);
  for (uintptr_t p = lo; p + WORD_SIZE <= hi; p += WORD_SIZE) {
    uintptr_t w = *(const uintptr_t *)p;
    if (w - arena >= arena_len)
      continue;
    struct span *s = map[(w - arena) >> PAGE_SHIFT];
    if (!s || s->state != SPAN_IN_USE)
      continue;
    uint32_t i = span_object_index(s, w);
    if (i >= s->nelems)
      continue;
    uint64_t *word = &s->mark_bits[i / 64];
    uint64_t bit = (uint64_t)1 << (i % 64);
    if (*word & bit || !span_slot_allocated(s, i))
      continue;
    *word |= bit;
    marked_bytes += s->elemsize;
    if (!s->noscan) {
      uintptr_t base = s->base + (uintptr_t)i * s->elemsize;
      push(base, base + s->elemsize);
    }
  }
}

void fgc_mark_range(uintptr_t lo, uintptr_t hi) { scan(lo, hi); }

/* Drains the mark stack.  Scanning is memory-bound: the words of an object
 * just popped are rarely in cache.  So entries pass through a small FIFO
 * before they are scanned: an entry is prefetched when it enters and
 * scanned PREFETCH_DEPTH pops later, by which time its first line has
 * arrived (bdwgc and Go's mark loops do the same). */
#define PREFETCH_DEPTH 8

void fgc_mark_drain(void) {
  struct mark_entry fifo[PREFETCH_DEPTH];
  unsigned head = 0, len = 0;
  for (;;) {
    while (len < PREFETCH_DEPTH && stack_top > 0) {
      struct mark_entry e = stack[--stack_top];
      if (e.hi - e.lo > SCAN_CHUNK) {
        push(e.lo + SCAN_CHUNK, e.hi);
        e.hi = e.lo + SCAN_CHUNK;
      }
      __builtin_prefetch((void *)e.lo);
      fifo[(head + len++) % PREFETCH_DEPTH] = e;
    }
    if (len == 0)
      return;
    struct mark_entry e = fifo[head];
    head = (head + 1) % PREFETCH_DEPTH;
    len--;
    scan(e.lo, e.hi);
  }
}

/* Rescans every marked object of the heap: the recovery from a mark-stack
 * overflow.  Marking is monotone, so scanning an object twice is harmless. */
static void rescan_marked(void) {
  struct heap *h = fgc_heap;
  for (uintptr_t p = h->arena_lo; p < h->arena_used;) {
    struct span *s = h->page_map[(p - h->arena_lo) >> PAGE_SHIFT];
    p = s->base + s->npages * PAGE_SIZE;
    if (s->state != SPAN_IN_USE || s->noscan)
      continue;
    for (uint32_t i = 0; i < s->nelems; i++) {
      if (!bit_get(s->mark_bits, i))
        continue;
      uintptr_t base = s->base + (uintptr_t)i * s->elemsize;
      scan(base, base + s->elemsize);
      fgc_mark_drain();
    }
  }
}

/* Completes the mark and returns the bytes marked since the last call. */
size_t fgc_mark_finish(void) {
  fgc_mark_drain();
  while (overflowed) {
    overflowed = false;
    rescan_marked();
  }
  size_t n = marked_bytes;
  marked_bytes = 0;
  return n;
}
