/*
 * Central span lists and sweeping (Go's mcentral.go and mgcsweep.go).
 *
 * Each span class has one central record, split into shards (see struct
 * central_shard), each under its own spinlock, with four lists of
 * small-object spans that no thread cache holds:
 *   partial  swept, with at least one free slot;
 *   full     swept, every slot allocated;
 *   empty    swept, no slot allocated (at most EMPTY_KEEP per shard, kept
 *            for reuse by the class instead of a round trip through the
 *            page heap);
 *   unswept  marked by the last collection but not yet swept.
 *
 * Sweep generations (Go's sweepgen), with sg the heap's:
 *   span.sweepgen == sg - 2   needs sweeping (on unswept);
 *   span.sweepgen == sg - 1   being swept (on no list, owned by its sweeper);
 *   span.sweepgen == sg       swept.
 * A sweeper claims a span by taking it off unswept and setting sg - 1,
 * both under its shard's lock, then sweeps it with no lock held, so that
 * threads refilling the same class do not queue behind a sweep.  Sweeping
 * ends with sweepgen = sg (release): a thread that sees sg sees the swept
 * span.  A span that sweeping frees never gets sg: it goes FREE at sg - 1.
 * A thread that needs a span swept and finds it being swept waits until it
 * is swept or FREE.  So a small span a thread sees IN_USE at sg stays in
 * place until the next collection: only sweeping frees small spans.
 *
 * Invariants:
 *   - A span is on exactly one of these lists, of the shard span.shard
 *     names, or cached by exactly one thread, or being swept, or (during a
 *     collection) on none while being moved.  A cached span is always
 *     swept.  span.shard changes only while the span is on no list.
 *   - A span is claimed and swept within one critical section of a
 *     registered thread (every call registers its thread first, and one
 *     that cannot be registered sweeps nothing: fgc_register_caller), so
 *     no collection or fork, which stop every registered thread outside
 *     its critical sections, ever starts while a span is claimed and not
 *     yet swept: its mark bytes would still be the last cycle's, and the
 *     marker takes a set mark byte to mean "already scanned", so it would
 *     not scan the live objects of that span, and what only they reach
 *     would be freed.
 *   - When a collection ends, the world is stopped and no span is cached or
 *     being swept, so every span of every class moves to unswept in
 *     O(shards in use: a bitmap names them) (the sweepgen flip), and large
 *     spans are swept there and then.
 *   - Sweeping is lazy: a thread that needs a span sweeps unswept spans of
 *     its class until one has room (Go's "sweep on allocation"), its own
 *     shard's first: mostly the spans it allocated from.  Before the
 *     next mark, fgc_sweep_all finishes what is left, so a mark always
 *     starts with every mark byte clear.
 *
 * Sweeping a span makes its marks the new allocation bits and clears the
 * slots of the objects that died, so that free slots are always zero; a
 * span with no marked slot becomes empty, and goes back to the page heap
 * whole unless its class keeps it.
 */
#include <sched.h>
#include <string.h>

#include "internal.h"
#include "sanitizer.h"

#define EMPTY_KEEP 2

/* The marks of slots [64w, 64w+64) as a word of bits; adds their number
 * to *live.  Mark bytes are 0 or 1 (internal.h), so eight of them, read as
 * one little-endian word, pack into eight bits with one multiplication
 * (byte i's bit lands on bit 56 + i, and no two partial products meet) and
 * add up with another: a sweep reads a span's marks a word at a time. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "packed_marks reads mark bytes as little-endian words");
static uint64_t packed_marks(const struct span *s, size_t w, uint32_t *live) {
  uint32_t first = (uint32_t)w * 64;
  uint32_t n = s->nelems - first < 64 ? s->nelems - first : 64;
  const uint8_t *marks = s->marks + first;
  uint64_t bits = 0;
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    memcpy(&x, marks + i, sizeof x);
    bits |= (x * 0x0102040810204080u) >> 56 << i;
    *live += (uint32_t)((x * 0x0101010101010101u) >> 56);
  }
  for (; i < n; i++) {
    bits |= (uint64_t)marks[i] << i;
    *live += marks[i];
  }
  return bits;
}

/* The first slot whose bit is clear in the swept bitmap (nelems when the
 * span is full: packed_marks leaves the bits past nelems clear). */
static uint32_t first_free_slot(const uint64_t *marked, size_t words) {
  for (size_t w = 0; w < words; w++)
    if (~marked[w])
      return (uint32_t)(w * 64 + (size_t)__builtin_ctzll(~marked[w]));
  return (uint32_t)(words * 64);
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
    /* Under ASan a dead slot may still be poisoned: a thread that took it
     * had not unpoisoned it yet when the process forked (the child never
     * hands it out), so clearing it must unpoison it first. */
    fgc_unpoison(p, (size_t)len * s->elemsize);
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

/* span.shard is written with release by a thread that owns the span (on
 * no list), and read with acquire by ensure_swept, which does not: one that
 * sees a new shard also sees the sweep generation stored before it. */
static struct central_shard *shard_of(const struct span *s) {
  return &fgc_heap->central[s->spc]
              .shard[__atomic_load_n(&s->shard, __ATOMIC_ACQUIRE)];
}

static void set_shard(struct span *s, unsigned index) {
  __atomic_store_n(&s->shard, (uint8_t)index, __ATOMIC_RELEASE);
}

/* Sweeps a small-object span that its caller claimed (sweepgen sg - 1, on
 * no list), with no lock held, inside the critical section in which it was
 * claimed (see the invariants).  Returns false if the span had no live
 * object and went back to the page heap.  (Reading c->empty.len without
 * the lock only decides whether to keep an empty span: a stale value keeps
 * one too many or too few.) */
static bool sweep_span(struct span *s) {
  struct heap *h = fgc_heap;
  struct central_shard *c = shard_of(s);
  size_t words = span_bitmap_words(s->nelems);
  uint64_t marked[(GC_MAX_SPAN_SLOTS + 63) / 64];
  uint32_t live = 0;
  for (size_t w = 0; w < words; w++)
    marked[w] = packed_marks(s, w, &live);
  if (live == 0 &&
      __atomic_load_n(&c->empty.len, __ATOMIC_RELAXED) >= EMPTY_KEEP) {
    /* Its sweep generation stays sg - 1: a lookup that saw sg would take
     * the unswept bits for swept ones.  A thread waiting for the sweep
     * (fgc_central_ensure_swept) sees FREE instead. */
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
  span_set_freeindex(s, first_free_slot(marked, words));
  s->alloc_count = live;
  s->needzero = fgc_opt.clobberfree;
  fgc_span_refill_cache(s);
  if (FGC_POISONING)
    poison_free_slots(s);
  /* Last: a reader that sees the new generation sees the swept span. */
  __atomic_store_n(&s->sweepgen, h->sweepgen, __ATOMIC_RELEASE);
  return true;
}

static struct span_list *list_for(struct central_shard *c,
                                  const struct span *s) {
  if (s->alloc_count == 0)
    return &c->empty;
  return s->alloc_count == s->nelems ? &c->full : &c->partial;
}

/* Marks the shard of s in use; before s is pushed to it. */
static void shard_in_use(const struct span *s) {
  unsigned bit =
      s->spc * CENTRAL_SHARDS + __atomic_load_n(&s->shard, __ATOMIC_RELAXED);
  uint64_t *w = &fgc_heap->shards_in_use[bit / 64];
  uint64_t mask = (uint64_t)1 << (bit % 64);
  if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & mask))
    __atomic_or_fetch(w, mask, __ATOMIC_RELAXED);
}

/* Calls fn for every shard in use, with its bit. */
static void for_each_shard_in_use(void (*fn)(struct central_shard *,
                                             unsigned)) {
  struct heap *h = fgc_heap;
  for (size_t w = 0; w < sizeof h->shards_in_use / 8; w++) {
    uint64_t bits = __atomic_load_n(&h->shards_in_use[w], __ATOMIC_RELAXED);
    while (bits) {
      unsigned bit = (unsigned)(w * 64) + (unsigned)__builtin_ctzll(bits);
      bits &= bits - 1;
      fn(&h->central[bit / CENTRAL_SHARDS].shard[bit % CENTRAL_SHARDS], bit);
    }
  }
}

static void put_swept(struct span *s) {
  struct central_shard *c = shard_of(s);
  shard_in_use(s);
  fgc_spin_lock(&c->lock);
  fgc_list_push(list_for(c, s), s);
  fgc_spin_unlock(&c->lock);
}

/* Claims s, taken off its shard's unswept list; the shard's lock held. */
static void claim(struct span *s) {
  __atomic_store_n(&s->sweepgen, fgc_heap->sweepgen - 1, __ATOMIC_RELAXED);
}

/* Takes an unswept span of c and claims it for sweeping, or NULL.  The
 * caller is in a critical section, and sweeps the span before leaving it. */
static struct span *claim_unswept(struct central_shard *c) {
  fgc_spin_lock(&c->lock);
  struct span *s = fgc_list_pop(&c->unswept);
  if (s)
    claim(s);
  fgc_spin_unlock(&c->lock);
  return s;
}

/* Whether shard c may have a span to offer (a hint: read without its
 * lock). */
static bool may_offer(struct central_shard *c) {
  return __atomic_load_n(&c->partial.len, __ATOMIC_RELAXED) |
         __atomic_load_n(&c->empty.len, __ATOMIC_RELAXED) |
         __atomic_load_n(&c->unswept.len, __ATOMIC_RELAXED);
}

/* Returns a span of shard c with a free slot, or NULL if it has none.  put,
 * if not NULL, is a span with no free slot, pushed to c in the same lock
 * hold, as is every span found full after sweeping; so a refill takes the
 * lock once unless sweeping finds full spans. */
static struct span *take_from(struct central_shard *c, unsigned index,
                              struct span *put) {
  for (;;) {
    bool claimed = false;
    fgc_spin_lock(&c->lock);
    if (put) {
      set_shard(put, index);
      shard_in_use(put);
      fgc_list_push(list_for(c, put), put);
    }
    struct span *s = fgc_list_pop(&c->partial);
    if (!s)
      s = fgc_list_pop(&c->empty);
    if (!s && (s = fgc_list_pop(&c->unswept)) != NULL) {
      claim(s);
      claimed = true;
    }
    fgc_spin_unlock(&c->lock);
    put = NULL;
    if (!claimed)
      return s;
    bool kept = sweep_span(s);
    if (kept && s->alloc_count < s->nelems)
      return s;
    if (kept)
      put = s;
  }
}

/* Returns a swept span of class spc with at least one free slot, for the
 * calling thread's cache, or NULL when the heap cannot grow.  old, if not
 * NULL, is the cache's previous span of the class, given back in the same
 * lock hold.  The thread's own shard comes first, then the others in turn,
 * and only when none has a span does the heap grow. */
struct span *fgc_central_cache_span(int spc, struct span *old) {
  struct heap *h = fgc_heap;
  struct central *c = &h->central[spc];
  unsigned me = fgc_self ? fgc_self->shard : 0;
  struct span *s = NULL;
  for (unsigned k = 0; k < CENTRAL_SHARDS && !s; k++) {
    unsigned i = (me + k) % CENTRAL_SHARDS;
    if (k == 0 || may_offer(&c->shard[i]))
      s = take_from(&c->shard[i], i, k == 0 ? old : NULL);
  }
  if (!s) {
    size_t npages = class_to_npages[spc == SPC_TINY ? 2 : spc_size_class(spc)];
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
  set_shard(s, me);
  return s;
}

/* Takes back a span from a thread cache, into the shard of the thread that
 * cached it. */
void fgc_central_uncache_span(struct span *s) { put_swept(s); }

/* Sweeps s now if it still needs it, or waits while another thread sweeps
 * it (Go's ensureSwept).  Afterwards s may be FREE: callers look the
 * pointer up again.  While s is unswept its shard does not change, and the
 * lock is that shard's: under it, s is still unswept only if it is still
 * on that shard's unswept list. */
void fgc_central_ensure_swept(struct span *s) {
  struct heap *h = fgc_heap;
  for (unsigned spins = 0;; spins++) {
    uint32_t sg = __atomic_load_n(&s->sweepgen, __ATOMIC_ACQUIRE);
    if (sg == h->sweepgen || span_state(s) != SPAN_IN_USE)
      return;
    if (sg == h->sweepgen - 2) {
      struct central_shard *c = shard_of(s);
      fgc_spin_lock(&c->lock);
      bool mine =
          __atomic_load_n(&s->sweepgen, __ATOMIC_RELAXED) == h->sweepgen - 2 &&
          span_state(s) == SPAN_IN_USE && shard_of(s) == c;
      if (mine) {
        fgc_list_remove(&c->unswept, s);
        claim(s);
      }
      fgc_spin_unlock(&c->lock);
      if (mine) {
        if (sweep_span(s))
          put_swept(s);
        return;
      }
    }
    /* Another thread sweeps it: wait. */
    if (spins % 64 == 63)
      sched_yield();
    else
      __builtin_ia32_pause();
  }
}

/* Sweeps every span still unswept (Go's sweep termination).  Spans other
 * threads claimed are being swept inside critical sections, so they are
 * swept by the time the world has stopped.  One critical section per span,
 * so that a collection waits for one span's sweep at most. */
static void sweep_shard(struct central_shard *c, unsigned bit) {
  (void)bit;
  for (;;) {
    fgc_critical_enter();
    struct span *s = claim_unswept(c);
    if (s && sweep_span(s))
      put_swept(s);
    fgc_critical_leave();
    if (!s)
      break;
  }
}

void fgc_sweep_all(void) { for_each_shard_in_use(sweep_shard); }

/* Starts a new sweep generation: every small span becomes unswept, in the
 * shard it is in.  The world is stopped and no span is cached. */
static void shard_begin_cycle(struct central_shard *c, unsigned bit) {
  fgc_list_splice(&c->unswept, &c->partial);
  fgc_list_splice(&c->unswept, &c->full);
  fgc_list_splice(&c->unswept, &c->empty);
  if (!c->unswept.first)
    __atomic_and_fetch(&fgc_heap->shards_in_use[bit / 64],
                       ~((uint64_t)1 << (bit % 64)), __ATOMIC_RELAXED);
}

void fgc_sweep_begin_cycle(void) {
  fgc_heap->sweepgen += 2;
  for_each_shard_in_use(shard_begin_cycle);
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
    if (fgc_opt.clobberfree) {
      fgc_unpoison((void *)s->base, s->elemsize); /* as in clear_dead_slots */
      memset((void *)s->base, 0xdf, s->elemsize);
    }
    fgc_pageheap_free(s);
  }
  fgc_unlock(&h->lock);
}

/* For fork, world stopped (so no sweep is under way): every shard lock and
 * the heap lock (the lock order). */
void fgc_central_lock_all(void) {
  struct heap *h = fgc_heap;
  for (int spc = 1; spc < NUM_SPAN_CLASSES; spc++)
    for (unsigned i = 0; i < CENTRAL_SHARDS; i++)
      fgc_spin_lock(&h->central[spc].shard[i].lock);
  fgc_lock(&h->lock);
}

void fgc_central_unlock_all(void) {
  struct heap *h = fgc_heap;
  fgc_unlock(&h->lock);
  for (int spc = NUM_SPAN_CLASSES - 1; spc >= 1; spc--) {
    for (int i = CENTRAL_SHARDS - 1; i >= 0; i--)
      fgc_spin_unlock(&h->central[spc].shard[i].lock);
  }
}
