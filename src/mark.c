/*
 * Marking: finding every object reachable from the roots (Go's mgcmark.go),
 * on one or several marker threads.
 *
 * The tri-colour view: an object is white while its mark bit is clear, grey
 * once it is marked and on a mark stack, black once it is marked and its
 * words have been scanned.  Marking ends when every mark stack is empty;
 * the invariant that makes that correct is that a black object never
 * points to a white one, which holds because scanning an object greys
 * everything it points to before the object counts as black.  The world
 * stays stopped for the whole mark, so no mutator can break it.  (A future
 * concurrent mark must allocate black and re-scan what mutators wrote.)
 *
 * Scanning is conservative: a word is a pointer if it falls inside an
 * allocated slot of an IN_USE span (interior pointers included).  A slot
 * past the end of the span's last object (tail waste) and a free slot are
 * not objects.  Noscan objects are marked but never scanned.
 *
 * Work.  A unit of work is a range of words to scan: an object's slot, a
 * chunk of a root (data segment, thread stack, added range), the contents
 * of a finalizable object.  Each marker owns a mark stack, explicit and
 * growable (a list of ten million nodes marks in constant C stack).  With
 * several markers, a marker whose stack is deep while another is idle
 * moves a packet of its oldest entries (the shallowest, so the biggest
 * subtrees) to a shared pool, and an idle marker takes packets from the
 * pool (Go's work buffers).  Marking is over when every marker is idle and
 * the pool is empty: an idle marker has no work and can create none.
 * Mark bytes are set with plain stores (see internal.h), and the marked
 * set equals what one marker would find, since marking is monotone.
 *
 * Overflow.  When a stack cannot grow (or reaches the markstackmax option)
 * the marker records an overflow and carries on: the object is marked but
 * not scanned.  Afterwards one marker rescans every marked object of the
 * heap until a pass ends without overflow.  A root range is no object to
 * rescan, so one that finds the stack full is scanned at once instead
 * (push_or_scan), and so is a shared packet's entry, which may be a root.
 * Large objects and roots are scanned in chunks of at most SCAN_CHUNK
 * bytes, so that one huge array is shared out.
 */
#include <string.h>

#include "internal.h"
#include "sanitizer.h"

#define MARK_STACK_INITIAL 65536
#define PACKET_ENTRIES 254 /* a packet is 4 KiB */
/* Entries between a prefetch and the scan of its object (see drain): for
 * a marker that never shares work (one marker in all), and for one that
 * may (marker.poll: several markers, marker 0 included before it wakes the
 * others).  Measured on 256 MiB to 1 GiB trees, laid out in allocation
 * order and at random: alone, 16 is the best compromise (4 marks an
 * allocation-ordered tree 14% faster, which the hardware prefetcher
 * follows, but a random one 40% slower; 32 marks the allocation-ordered
 * tree at half speed); with two markers, whose misses take longer, 32 is
 * best on both, by up to 9%. */
#define PREFETCH_DEPTH 16
#define PREFETCH_DEPTH_SHARED 32
/* Marker 0 marks alone until it has scanned about this many units of work
 * (it counts its polls, one per turn of its ring), and only then wakes the
 * helpers: waking a thread costs tens of microseconds (more in a virtual
 * machine), which a small heap's whole mark does not take, and the
 * collector would wait for the helpers to wake only to find nothing left
 * to do. */
#define WAKE_HELPERS_AFTER 8192
_Static_assert(WAKE_HELPERS_AFTER >= PREFETCH_DEPTH_SHARED,
               "marker 0 must poll at least once before waking the helpers");

struct mark_entry {
  uintptr_t lo, hi;
};

/* An entry as one 16-byte value.  The mark loop pops the entry it pushed a
 * moment before, still in the store buffer: a load is forwarded from a
 * store only if the store covers it, so every entry is written (push, the
 * scan loop) and read whole (two 8-byte stores read back by one 16-byte
 * load stall the loop for a dozen cycles; perf put a quarter of the mark's
 * time there). */
typedef uintptr_t entry_bits __attribute__((vector_size(16), may_alias));

static inline void put_entry(struct mark_entry *at, uintptr_t lo,
                             uintptr_t hi) {
  *(entry_bits *)at = (entry_bits){lo, hi};
}

struct packet {
  struct packet *next;
  uint64_t n;
  struct mark_entry e[PACKET_ENTRIES];
};

/* A marker's stack is a deque: it pushes and pops at top, and gives its
 * oldest entries away from bottom.  Entries are [bottom, top), within
 * [stack, end); all four are pointers, which the mark loop uses as they
 * are (an index costs it a shift and an add on every push and pop).  Each
 * marker's record has cache lines of its own: markers update theirs on
 * every object, and sharing a line would make them take turns. */
struct __attribute__((aligned(128))) marker {
  struct mark_entry *stack, *end;
  struct mark_entry *bottom, *top;
  size_t marked_bytes;
  bool overflowed;
  bool poll;     /* may share: call marker_poll once per turn of drain's
                    ring */
  bool parallel; /* other markers run: share work */
  /* Marker 0 marking alone: polls until it wakes the helpers. */
  uint32_t until_wake;
};

static struct marker markers[GC_MAX_MARKERS];
static int nmarkers = 1; /* markers taking part in the current mark */

/* The shared pool, under pool_lock (a spinlock: markers are not
 * mutators, and no critical section applies while the world is stopped). */
static uint32_t pool_lock;
static struct packet *pool_full, *pool_empty;
static uint32_t pool_count; /* full packets */
static uint32_t idle;       /* markers with nothing to do */
static bool done;

/* Helper threads, created on first use. */
static int helpers_started;
static uint32_t mark_gen;     /* bumped to start helpers on a mark */
static uint32_t helpers_busy; /* helpers still in the current mark */

void fgc_mark_init(void) {
  for (int i = 0; i < GC_MAX_MARKERS; i++)
    markers[i].stack = markers[i].end = markers[i].bottom = markers[i].top =
        NULL;
}

static void pool_acquire(void) {
  while (__atomic_exchange_n(&pool_lock, 1, __ATOMIC_ACQUIRE))
    while (__atomic_load_n(&pool_lock, __ATOMIC_RELAXED))
      __builtin_ia32_pause();
}

static void pool_release(void) {
  __atomic_store_n(&pool_lock, 0, __ATOMIC_RELEASE);
}

/* Makes room at the top: by sliding the entries down over the space given
 * away at the bottom, or by doubling, up to the markstackmax option's
 * number of entries. */
static bool grow_stack(struct marker *m) {
  size_t cap = (size_t)(m->end - m->stack),
         depth = (size_t)(m->top - m->bottom);
  if ((size_t)(m->bottom - m->stack) > cap / 2) {
    memmove(m->stack, m->bottom, depth * sizeof *m->stack);
    m->bottom = m->stack;
    m->top = m->stack + depth;
    return true;
  }
  size_t max = fgc_opt.mark_stack_max ? fgc_opt.mark_stack_max : 1;
  size_t ncap = cap ? cap * 2 : MARK_STACK_INITIAL;
  if (ncap > max) {
    if (cap >= max)
      return false;
    ncap = max;
  }
  struct mark_entry *n = fgc_sysalloc(ncap * sizeof *n);
  if (!n)
    return false;
  if (m->stack) {
    memcpy(n, m->bottom, depth * sizeof *n);
    fgc_sysfree(m->stack, cap * sizeof *m->stack);
  }
  m->stack = m->bottom = n;
  m->top = n + depth;
  m->end = n + ncap;
  return true;
}

/* Pushes an entry; false if the stack is full and cannot grow. */
static inline bool try_push(struct marker *m, uintptr_t lo, uintptr_t hi) {
  if (unlikely(m->top == m->end) && !grow_stack(m))
    return false;
  put_entry(m->top++, lo, hi);
  return true;
}

/* Pushes a grey object's entry, or records an overflow: the object is
 * marked, so rescan_marked finds it again. */
static inline void push(struct marker *m, uintptr_t lo, uintptr_t hi) {
  if (!try_push(m, lo, hi))
    m->overflowed = true;
}

/* What the scan loop keeps in registers: the heap's bounds and page map,
 * which do not change while the world is stopped, and the marker's stack
 * top and end.  A mark is a byte store, which the compiler must assume
 * aliases the marker's record, so these live in a local copy and go back
 * to the record (scan_sync) before anything else looks at it.  The stack's
 * bottom stays in the record, read by drain once per entry: the scan loop
 * has no register to spare for it (as a register, it once pushed the
 * stack's capacity and base out to memory, to be reloaded on every push).
 */
struct scan_regs {
  uintptr_t arena, arena_len;
  struct span **map;
  struct mark_entry *top, *end;
  size_t marked;
};

static inline __attribute__((always_inline)) void
scan_load(struct scan_regs *r, const struct marker *m) {
  const struct heap *h = fgc_heap;
  r->arena = h->arena_lo;
  r->arena_len = h->arena_used - h->arena_lo;
  r->map = h->page_map;
  r->top = m->top;
  r->end = m->end;
  r->marked = 0;
}

static inline __attribute__((always_inline)) void scan_sync(struct scan_regs *r,
                                                            struct marker *m) {
  m->top = r->top;
  m->marked_bytes += r->marked;
  r->marked = 0;
}

/* Entry tags, in the low bits of an entry's lo (objects and roots are
 * word-aligned): TAG_TYPED, a typed object, scanned whole by its layout
 * (at its end); TAG_SPLIT, an untyped range longer than SCAN_CHUNK, which
 * drain scans a chunk at a time, pushing the rest back, so that one huge
 * array is shared out and never floods the stack. */
#define TAG_TYPED ((uintptr_t)1)
#define TAG_SPLIT ((uintptr_t)2)
#define TAG_MASK (TAG_TYPED | TAG_SPLIT)

/* Pushes a grey object that the fast path does not: a typed one, one too
 * big to be one unit of work, or any when the stack is full. */
static __attribute__((noinline)) void push_slow(struct marker *m, uintptr_t lo,
                                                uintptr_t hi, bool typed) {
  if (typed)
    lo |= TAG_TYPED;
  else if (hi - lo > SCAN_CHUNK)
    lo |= TAG_SPLIT;
  push(m, lo, hi);
}

/* Scans the words of [lo, hi), lo word-aligned (every stack entry is:
 * objects are, and fgc_mark_root aligns roots), marking and greying every
 * object they point into.  Two markers may both find a slot unmarked and both
 * scan it: wasted work, never a missed object. */
static inline __attribute__((always_inline)) void
scan_words(struct marker *m, struct scan_regs *r, uintptr_t lo, uintptr_t hi) {
  for (uintptr_t p = lo; p + WORD_SIZE <= hi; p += WORD_SIZE) {
    uintptr_t w = *(const uintptr_t *)p;
    if (w - r->arena >= r->arena_len)
      continue;
    struct span *s = r->map[(w - r->arena) >> PAGE_SHIFT];
    if (!s)
      continue;
    uint32_t i = span_object_index(s, w);
    if (unlikely(!span_slot_is_object(s, i)))
      continue;
    uint8_t *mark = &s->marks[i];
    if (*mark)
      continue;
    *mark = MARK_LIVE;
    unsigned kind = s->scan_kind;
    size_t size = s->elemsize;
    r->marked += size;
    uintptr_t base = s->base + (uintptr_t)i * size;
    if (likely(kind == SCAN_PLAIN && r->top < r->end)) {
      put_entry(r->top++, base, base + size);
    } else if (kind != SCAN_NOSCAN) {
      scan_sync(r, m);
      push_slow(m, base, base + size, s->typed);
      scan_load(r, m);
    }
  }
}

NO_SANITIZE static void scan(struct marker *m, uintptr_t lo, uintptr_t hi) {
  struct scan_regs r;
  scan_load(&r, m);
  scan_words(m, &r, (lo + WORD_SIZE - 1) & ~(WORD_SIZE - 1), hi);
  scan_sync(&r, m);
}

/* Scans a typed object [base, hi): only the words its layout, in the
 * slot's last word, marks as pointers; conservatively if it has none. */
static void scan_typed(struct marker *m, uintptr_t base, uintptr_t hi) {
  uintptr_t end = hi - sizeof(gc_layout);
  const struct gc_layout *l = *(const struct gc_layout *const *)end;
  if (!l) {
    scan(m, base, end);
    return;
  }
  size_t n = (end - base) / WORD_SIZE;
  for (size_t w = 0; w < n; w++) {
    if (!layout_is_pointer(l, w))
      continue;
    size_t run = w + 1;
    while (run < n && layout_is_pointer(l, run))
      run++;
    scan(m, base + w * WORD_SIZE, base + run * WORD_SIZE);
    w = run;
  }
}

/* Pushes an entry that may be a root, or, if the stack is full, scans an
 * untagged one (a root or a small object) at once: a root is no object,
 * and rescan_marked would not find it again.  A tagged entry is a marked
 * object, which it does find. */
static void push_or_scan(struct marker *m, uintptr_t lo, uintptr_t hi) {
  if (try_push(m, lo, hi))
    return;
  if (lo & TAG_MASK)
    m->overflowed = true;
  else
    scan(m, lo, hi);
}

/* Scans an object, as its span's kind says: for a collector pass that
 * looks at one object's contents (finalizers, overflow recovery). */
void fgc_mark_object_contents(const struct span *s, uintptr_t base) {
  if (s->noscan)
    return;
  if (s->typed)
    scan_typed(&markers[0], base, base + s->elemsize);
  else
    scan(&markers[0], base, base + s->elemsize);
}

/* Scans [lo, hi) now, on the collecting thread: for memory that may change
 * as soon as the caller returns (the collector's own stack). */
void fgc_mark_range(uintptr_t lo, uintptr_t hi) { scan(&markers[0], lo, hi); }

/* Queues [lo, hi) as a root to scan during fgc_mark_finish: for memory that
 * stays put while the world is stopped.  Only its aligned words count, and
 * the entries' low bits stay clear for the tags. */
void fgc_mark_root(uintptr_t lo, uintptr_t hi) {
  lo = (lo + WORD_SIZE - 1) & ~(WORD_SIZE - 1);
  hi &= ~(WORD_SIZE - 1);
  for (uintptr_t end; lo < hi; lo = end) {
    end = hi - lo > SCAN_CHUNK ? lo + SCAN_CHUNK : hi;
    push_or_scan(&markers[0], lo, end);
  }
}

/* Whether a marker with depth entries on its stack should give some away:
 * when some marker is idle and the pool is empty. */
static inline bool share_wanted(size_t depth) {
  return depth >= 4 && __atomic_load_n(&pool_count, __ATOMIC_RELAXED) == 0 &&
         __atomic_load_n(&idle, __ATOMIC_RELAXED) != 0;
}

/* Moves the oldest half of m's stack (at most a packet) to the pool.  In a
 * depth-first walk the oldest entries are the shallowest, so they carry the
 * most work: a binary tree's mark stack is only as deep as the tree, and
 * half of it is half of the remaining tree. */
static void share(struct marker *m) {
  pool_acquire();
  struct packet *p = pool_empty;
  if (p)
    pool_empty = p->next;
  pool_release();
  if (!p && !(p = fgc_sysalloc(sizeof *p)))
    return;
  size_t depth = (size_t)(m->top - m->bottom);
  size_t n = depth / 2 < PACKET_ENTRIES ? depth / 2 : PACKET_ENTRIES;
  p->n = n;
  memcpy(p->e, m->bottom, n * sizeof *m->bottom);
  m->bottom += n;
  pool_acquire();
  p->next = pool_full;
  pool_full = p;
  __atomic_add_fetch(&pool_count, 1, __ATOMIC_RELEASE);
  pool_release();
}

static void wake_helpers(void);

/* Whether m should give work away now; for marker 0 marking alone, counts
 * down to waking the helpers. */
static bool marker_poll(struct marker *m, size_t depth) {
  if (m->parallel)
    return share_wanted(depth);
  if (--m->until_wake == 0) {
    m->parallel = true;
    wake_helpers();
  }
  return false;
}

/* Empties m's stack.  Entries pass through a small FIFO, the ring, before
 * they are scanned: an entry is prefetched when it enters, and while the
 * stack has entries the ring is kept full, so that each is scanned
 * PREFETCH_DEPTH (or PREFETCH_DEPTH_SHARED) pops later, by which time its
 * first line has arrived (bdwgc's and Go's mark loops hide memory latency
 * the same way).  When the stack runs dry the ring's oldest entry is
 * scanned at once, and an entry that would be alone in the ring does not
 * enter it: waiting would add nothing, and a linked list, which has one
 * entry at a time, spent most of its mark in such waits.  An
 * untagged entry is at most SCAN_CHUNK long (push_slow, fgc_mark_root).  A
 * marker that may share work (m->poll) polls the others (marker_poll) once
 * per turn of the ring, not after every entry: polling reads shared
 * counters, and on every entry it cost a tenth of the loop's
 * instructions. */
NO_SANITIZE static inline __attribute__((always_inline)) void
drain_ring(struct marker *m, const unsigned depth, const bool poll) {
  struct mark_entry ring[PREFETCH_DEPTH_SHARED];
  const unsigned mask = depth - 1;
  unsigned head = 0, queued = 0; /* the oldest entry, and how many */
  struct scan_regs r;
  scan_load(&r, m);
  for (;;) {
    struct mark_entry e;
    if (r.top > m->bottom) {
      entry_bits in = *(const entry_bits *)--r.top;
      __builtin_prefetch((void *)in[0]);
      if (likely(queued == depth)) {
        e = ring[head];
        *(entry_bits *)&ring[head] = in;
      } else if (queued == 0 && r.top == m->bottom) {
        e = *r.top; /* it would come straight back out of the ring */
      } else {
        *(entry_bits *)&ring[(head + queued++) & mask] = in;
        continue;
      }
    } else {
      r.top = m->bottom = m->stack;
      if (queued == 0)
        break;
      e = ring[head];
      queued--;
    }
    /* One step per scanned entry (with an empty ring, only polls count). */
    head = (head + 1) & mask;
    if (likely(!(e.lo & TAG_MASK))) {
      scan_words(m, &r, e.lo, e.hi);
    } else if (e.lo & TAG_TYPED) {
      scan_sync(&r, m);
      scan_typed(m, e.lo & ~TAG_MASK, e.hi);
      scan_load(&r, m);
    } else {
      uintptr_t lo = e.lo & ~TAG_MASK;
      scan_sync(&r, m);
      push_slow(m, lo + SCAN_CHUNK, e.hi, false);
      scan_load(&r, m);
      scan_words(m, &r, lo, lo + SCAN_CHUNK);
    }
    if (poll && head == 0 && marker_poll(m, (size_t)(r.top - m->bottom))) {
      scan_sync(&r, m);
      share(m);
      scan_load(&r, m);
    }
  }
  scan_sync(&r, m);
}

/* One drain_ring per ring depth, so that the ring's index mask and the
 * poll test are constants: as variables they took registers of the scan
 * loop (4% of the mark's instructions at one marker). */
NO_SANITIZE static void drain(struct marker *m) {
  if (m->poll)
    drain_ring(m, PREFETCH_DEPTH_SHARED, true);
  else
    drain_ring(m, PREFETCH_DEPTH, false);
}

/* Takes a packet from the pool into m's stack, or waits until there is one
 * or the mark is over.  Returns false when it is over. */
static bool get_work(struct marker *m) {
  for (;;) {
    pool_acquire();
    struct packet *p = pool_full;
    if (p) {
      pool_full = p->next;
      __atomic_sub_fetch(&pool_count, 1, __ATOMIC_RELAXED);
      pool_release();
      for (uint64_t i = 0; i < p->n; i++)
        push_or_scan(m, p->e[i].lo, p->e[i].hi);
      pool_acquire();
      p->next = pool_empty;
      pool_empty = p;
      pool_release();
      return true;
    }
    if (__atomic_add_fetch(&idle, 1, __ATOMIC_RELAXED) == (uint32_t)nmarkers) {
      __atomic_store_n(&done, true, __ATOMIC_RELEASE);
      pool_release();
      return false;
    }
    pool_release();
    for (unsigned spins = 0; !__atomic_load_n(&done, __ATOMIC_ACQUIRE) &&
                             !__atomic_load_n(&pool_count, __ATOMIC_ACQUIRE);
         spins++) {
      if (spins % 64 == 63)
        sched_yield();
      else
        __builtin_ia32_pause();
    }
    pool_acquire();
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
      pool_release();
      return false;
    }
    __atomic_sub_fetch(&idle, 1, __ATOMIC_RELAXED);
    pool_release();
  }
}

static void mark_loop(struct marker *m) {
  do
    drain(m);
  while (get_work(m));
}

/* The mark generation when each helper was created: a helper joins the
 * marks woken after it, not one that ran before it existed (a child after
 * fork inherits the parent's generation; a helper created at the start of
 * a mark may find marker 0 still alone). */
static uint32_t helper_first_gen[GC_MAX_MARKERS];

static void *helper_main(void *arg) {
  int id = (int)(intptr_t)arg;
  uint32_t seen = helper_first_gen[id];
  for (;;) {
    while (__atomic_load_n(&mark_gen, __ATOMIC_ACQUIRE) == seen)
      fgc_prim_futex_wait(&mark_gen, seen);
    seen = __atomic_load_n(&mark_gen, __ATOMIC_ACQUIRE);
    if (id < nmarkers) {
      struct marker *m = &markers[id];
      m->parallel = m->poll = true;
      mark_loop(m);
    }
    __atomic_sub_fetch(&helpers_busy, 1, __ATOMIC_RELEASE);
    fgc_prim_futex_wake(&helpers_busy);
  }
  return NULL;
}

/* Starts helper threads until there are want-1 of them. */
static void start_helpers(int want) {
  for (int id = helpers_started + 1; id < want; id++) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    helper_first_gen[id] = __atomic_load_n(&mark_gen, __ATOMIC_RELAXED);
    int err = pthread_create(&t, &attr, helper_main, (void *)(intptr_t)id);
    pthread_attr_destroy(&attr);
    if (err != 0)
      break;
    helpers_started = id;
  }
}

/* Rescans every marked object of the heap: the recovery from a mark-stack
 * overflow.  Marking is monotone, so scanning an object twice is harmless. */
static void rescan_marked(struct marker *m) {
  struct heap *h = fgc_heap;
  for (uintptr_t p = h->arena_lo; p < h->arena_used;) {
    struct span *s = h->page_map[(p - h->arena_lo) >> PAGE_SHIFT];
    p = s->base + s->npages * PAGE_SIZE;
    if (s->state != SPAN_IN_USE || s->noscan)
      continue;
    for (uint32_t i = 0; i < s->nelems; i++) {
      if (s->marks[i] != MARK_LIVE)
        continue;
      uintptr_t base = s->base + (uintptr_t)i * s->elemsize;
      if (s->typed)
        scan_typed(m, base, base + s->elemsize);
      else
        scan(m, base, base + s->elemsize);
      drain(m);
    }
  }
}

/* Lets the helpers join the current mark.  Marker 0's record says parallel
 * already, so it shares work from now on. */
static void wake_helpers(void) {
  __atomic_store_n(&helpers_busy, (uint32_t)helpers_started, __ATOMIC_RELEASE);
  __atomic_add_fetch(&mark_gen, 1, __ATOMIC_RELEASE);
  fgc_prim_futex_wake(&mark_gen);
}

/* Completes the mark on every marker and returns the bytes marked since
 * the last call. */
/* Starts the helper threads the markers option asks for that do not run
 * yet: before the world stops, since pthread_create takes the C library's
 * locks, which a stopped thread may hold. */
void fgc_mark_prepare(void) {
  if (fgc_opt.markers > 1)
    start_helpers(fgc_opt.markers);
}

size_t fgc_mark_finish(void) {
  struct marker *m0 = &markers[0];
  int want = fgc_opt.markers;
  nmarkers = want > 1
                 ? 1 + (want - 1 < helpers_started ? want - 1 : helpers_started)
                 : 1;
  if (nmarkers > 1) {
    __atomic_store_n(&idle, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&done, false, __ATOMIC_RELAXED);
    __atomic_store_n(&pool_count, 0, __ATOMIC_RELAXED);
    m0->poll = true;
    m0->until_wake = WAKE_HELPERS_AFTER / PREFETCH_DEPTH_SHARED;
    drain(m0);
    if (m0->parallel) { /* the helpers were woken */
      while (get_work(m0))
        drain(m0);
      uint32_t busy;
      while ((busy = __atomic_load_n(&helpers_busy, __ATOMIC_ACQUIRE)) != 0)
        fgc_prim_futex_wait(&helpers_busy, busy);
    }
    m0->poll = m0->parallel = false;
  } else {
    drain(m0);
  }
  size_t marked = 0;
  bool overflowed = false;
  for (int i = 0; i < nmarkers; i++) {
    marked += markers[i].marked_bytes;
    markers[i].marked_bytes = 0;
    overflowed |= markers[i].overflowed;
    markers[i].overflowed = false;
  }
  while (overflowed) {
    rescan_marked(m0);
    overflowed = m0->overflowed;
    m0->overflowed = false;
  }
  marked += m0->marked_bytes;
  m0->marked_bytes = 0;
  return marked;
}

/* A child after fork has no helper threads: they start again on demand. */
void fgc_mark_fork_child(void) { helpers_started = 0; }

int gc_set_markers(int n) {
  if (n < 1)
    return GC_ERR_INVALID;
  fgc_ensure_init();
  fgc_world_lock();
  fgc_opt.markers = n > GC_MAX_MARKERS ? GC_MAX_MARKERS : n;
  fgc_world_unlock();
  return GC_OK;
}
