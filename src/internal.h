/*
 * finalgc internals: the types every subsystem shares and the internal API,
 * grouped by the file that implements it.  docs/design.md is the overview;
 * each .c file opens with the invariants it keeps.
 *
 * The heap, in Go's words (malloc.go):
 *
 *   arena     one contiguous range of address space reserved at start-up and
 *             committed page by page as the heap grows, so that "is this word
 *             a heap pointer?" is a subtraction and a compare.
 *   page      8 KiB; the page map gives, for every committed page, the span
 *             it belongs to.
 *   span      a run of pages holding either one large object or many small
 *             objects of one size class.  Span records live off the heap.
 *   central   per span class, the spans with free slots and the spans still
 *             to sweep, in a few shards, each under its own lock (Go's
 *             mcentral).
 *   cache     per thread, one span per span class to allocate from without
 *             locks, plus the tiny block (Go's mcache).
 *
 * Naming: functions used across files are fgc_<module>_<verb>; functions in
 * one file are static and unprefixed.
 */
#ifndef FINALGC_INTERNAL_H
#define FINALGC_INTERNAL_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "finalgc.h"

#define FGC_INTERNAL __attribute__((visibility("hidden")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------------------
 * Geometry
 * ---------------------------------------------------------------------- */

#define PAGE_SHIFT 13
#define PAGE_SIZE ((size_t)1 << PAGE_SHIFT)
#define WORD_SIZE sizeof(uintptr_t)
#define TINY_SIZE 16 /* Go's maxTinySize */
#define GC_MAX_MARKERS 16
#define GC_MAX_SPAN_SLOTS 1024 /* tools/mksizeclasses.c checks it */

#include "sizeclasses.h"

/* A span class is a size class and an object kind: spans hold objects of
 * one kind only, so the collector knows from the span how to scan.
 *   KIND_SCAN    every word may be a pointer (gc_alloc);
 *   KIND_NOSCAN  never scanned (gc_alloc_noscan);
 *   KIND_TYPED   scanned precisely: the last word of the slot holds a
 *                layout (gc_alloc_typed), and only the words it marks as
 *                pointers are scanned.
 * Span class SPC_TINY (size class 0, noscan) is free, since size class 0
 * means "large"; the tiny allocator uses it for its 16-byte blocks, so that
 * a pointer can be recognised as pointing into a tiny block. */
enum obj_kind { KIND_SCAN = 0, KIND_NOSCAN = 1, KIND_TYPED = 2, KINDS = 3 };
#define NUM_SPAN_CLASSES (GC_NUM_SIZE_CLASSES * KINDS)
#define SPC_TINY KIND_NOSCAN
static inline int span_class_of(int size_class, int kind) {
  return size_class * KINDS + kind;
}
static inline int spc_size_class(int spc) { return spc / KINDS; }

static inline int size_to_class(size_t size) {
  if (size <= GC_SMALL_SIZE_MAX)
    return size_to_class8[(size + GC_SMALL_SIZE_DIV - 1) / GC_SMALL_SIZE_DIV];
  return size_to_class128[(size - GC_SMALL_SIZE_MAX + GC_LARGE_SIZE_DIV - 1) /
                          GC_LARGE_SIZE_DIV];
}

/* ------------------------------------------------------------------------
 * Locks and critical sections
 *
 * A collection stops every registered thread with a signal (world.c).  A
 * thread must never stop while it holds one of the collector's locks, or
 * the collector would wait for that lock forever; so every lock here opens
 * a critical section (fgc_critical counts them), and a suspend signal that
 * arrives inside one only sets fgc_suspend_pending: the thread stops itself
 * when it leaves its outermost critical section.  A thread waiting for a
 * lock is already inside the section, and the lock's holder is running, so
 * the wait always ends.  Code inside a critical section never calls user
 * code, never waits for a collection, and never takes world_lock.
 *
 * A thread's own allocation cache is guarded the same way, without a lock:
 * allocation runs inside a critical section, because the collector flushes
 * the caches of stopped threads and a thread stopped halfway through taking
 * a slot would otherwise hand out a slot the collector thought free.
 *
 * fork() needs no thread inside a critical section either, but must not
 * park threads the way a collection does: a thread parked inside malloc
 * holds the C library's arena lock, which fork then waits for forever.
 * While fgc_fork_gate is set (world.c), a thread that opens an outermost
 * critical section waits at the gate instead, and a thread asked to stop
 * acknowledges and runs on.
 *
 * Lock order, outermost first (a thread holding one may take only later
 * ones): world_lock > central shard locks (in span-class, then shard
 * order) > heap.lock > special locks > fin_lock > roots_lock > fixalloc
 * locks.  world_lock is not one of these: it is held only by a collector or
 * by a thread changing the thread list, and such a thread is never asked to
 * stop.
 * ---------------------------------------------------------------------- */

typedef pthread_mutex_t fgc_mutex;
#define FGC_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER

FGC_INTERNAL extern __thread int fgc_critical
    __attribute__((tls_model("initial-exec")));
FGC_INTERNAL extern __thread volatile int fgc_suspend_pending
    __attribute__((tls_model("initial-exec")));
FGC_INTERNAL void fgc_world_suspend_pending(void);

FGC_INTERNAL extern uint32_t fgc_fork_gate;
FGC_INTERNAL void fgc_fork_gate_wait(void);

static inline void fgc_critical_enter(void) {
  fgc_critical++;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (unlikely(__atomic_load_n(&fgc_fork_gate, __ATOMIC_RELAXED)))
    fgc_fork_gate_wait();
}

static inline void fgc_critical_leave(void) {
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (--fgc_critical == 0 && unlikely(fgc_suspend_pending))
    fgc_world_suspend_pending();
}

/* A spinlock for short sections on hot paths (a span's specials), with the
 * same critical-section rule as fgc_lock. */
typedef struct {
  uint32_t held;
} fgc_spinlock;

static inline void fgc_spin_lock(fgc_spinlock *l) {
  fgc_critical_enter();
  for (unsigned spins = 0; __atomic_exchange_n(&l->held, 1, __ATOMIC_ACQUIRE);
       spins++) {
    while (__atomic_load_n(&l->held, __ATOMIC_RELAXED)) {
      if (++spins % 64 == 0)
        sched_yield();
      else
        __builtin_ia32_pause();
    }
  }
}

static inline void fgc_spin_unlock(fgc_spinlock *l) {
  __atomic_store_n(&l->held, 0, __ATOMIC_RELEASE);
  fgc_critical_leave();
}

static inline void fgc_lock(fgc_mutex *m) {
  fgc_critical_enter();
  pthread_mutex_lock(m);
}

static inline void fgc_unlock(fgc_mutex *m) {
  pthread_mutex_unlock(m);
  fgc_critical_leave();
}

/* ------------------------------------------------------------------------
 * Spans
 *
 * A span's state is FREE (its pages are in the page heap) or IN_USE.  The
 * page map points every page of an IN_USE span at its record; a FREE span
 * is reachable through its first and last pages only (for coalescing).
 *
 * Lookups of user pointers (gc_base, gc_size, gc_free, the specials calls)
 * read span records with no lock, inside a critical section, while other
 * threads build and tear spans down.  So:
 *   - A span is published whole: it stays FREE until its class, size,
 *     bitmaps and sweep generation are set, and IN_USE is stored last
 *     (release); a lookup loads the state first (span_state, acquire).
 *   - Tearing down stores FREE first, and leaves the class, size and
 *     bitmap pointers as they were: a lookup that saw IN_USE may go on
 *     reading them.
 *   - A record is IN_USE at most once: a new span always gets a new
 *     record, and a FREE record is never published.
 *   - Records and bitmaps that the heap lets go (a FREE record merged into
 *     its neighbour or used up, a FREE span's bitmaps) are retired, not
 *     freed, until the world next stops (pageheap.c): a stopped thread is
 *     outside its critical sections, so no lookup holds them then.
 * A lookup that saw IN_USE thus reads one consistent span, still in place
 * at least until it leaves its critical section, or, for a large span that
 * another thread frees meanwhile, as it was just before.
 *
 * Small-object spans allocate with a bitmap, as Go's do, and mark with
 * bytes, as bdwgc's parallel marker does:
 *   alloc_bits  slot i is allocated if i < freeindex or bit i is set;
 *   marks       marks[i] is set to MARK_LIVE by the collector on every
 *               slot it reaches; a mark byte is 0, MARK_LIVE or
 *               MARK_FREED (below), and only 0 or MARK_LIVE when sweeping
 *               reads it (eight at a time).
 * A mark byte is set with a plain store: markers racing on one slot both
 * store MARK_LIVE (and may both scan it, which is harmless), where racing
 * on a word of bits would need an atomic instruction per object.
 *
 * The slots below freeindex were all handed out; the allocator finds the
 * next free slot in alloc_cache, the complement of the alloc_bits word that
 * holds freeindex, shifted so that bit 0 is slot freeindex.
 *
 *   0 <= freeindex <= nelems   (so nelems == 0 means freeindex == 0)
 *   alloc_count == number of allocated slots
 *
 * Sweeping makes the marks the new allocation state: alloc_bits becomes the
 * marks packed into bits, the marks are cleared, and freeindex goes to the
 * first free slot (Go's sweep resets it to 0; here the mark loop then finds
 * a dense span's objects allocated from freeindex alone, without loading a
 * word of alloc_bits for each).  Between collections, a swept span's marks
 * are all clear except for slots released by gc_free that wait on a
 * thread's freed list: their mark is MARK_FREED, which catches a second
 * gc_free of the same slot.  During a mark the same byte makes a freed
 * slot look already marked, so a stale pointer neither scans nor keeps it,
 * and the rescan after a mark-stack overflow, which scans MARK_LIVE slots
 * only, skips its contents (clobbered, or a dead layout); it is cleared
 * after the mark and the sweep reclaims the slot.
 *
 * Sweep generations (Go's sweepgen): the heap's sweepgen rises by 2 at
 * every collection.  A span with sweepgen == heap.sweepgen - 2 still needs
 * sweeping; sweepgen == heap.sweepgen means swept.  A span is swept before
 * anything allocates from it, and every span is swept before the next mark
 * begins, so marks always describe the latest collection.
 * ---------------------------------------------------------------------- */

enum span_state { SPAN_FREE = 0, SPAN_IN_USE = 1 };

/* What the mark loop does with a pointer into a span, in one byte of the
 * span's first line, so that the loop reads one field instead of the
 * state, noscan, typed and size checks:
 *   SCAN_NONE    ignore it: the span is FREE, or not yet initialized;
 *   SCAN_NOSCAN  mark the object;
 *   SCAN_PLAIN   mark it and queue it, untyped, as one unit of work;
 *   SCAN_SLOW    mark it and queue it through the slow path: typed, or a
 *                large object longer than SCAN_CHUNK, scanned in chunks.
 * Never SCAN_NONE while objects live in an IN_USE span, and always
 * SCAN_NONE when the span is FREE.  A SCAN_NONE span has nelems == 0, so
 * the loop's slot check (span_slot_is_object) already rejects a pointer
 * into it and the kind is read only for an object just marked. */
enum scan_kind { SCAN_NONE = 0, SCAN_NOSCAN, SCAN_PLAIN, SCAN_SLOW };
#define SCAN_CHUNK ((uintptr_t)128 << 10)

/* The first cache line holds what allocation and marking read for every
 * object; records are line-aligned so that spans owned by different threads
 * never share a line. */
struct __attribute__((aligned(64))) span {
  uintptr_t base;       /* address of the first page */
  uint8_t *marks;       /* nelems bytes, after alloc_bits; off-heap */
  uint64_t *alloc_bits; /* nelems bits */
  size_t elemsize;      /* object slot size; npages*PAGE_SIZE when large */
  uint64_t alloc_cache; /* free-slot bits from freeindex on (see above) */
  uint32_t divmul;      /* slot index = (offset * divmul) >> 32; 0 if large */
  uint32_t nelems;      /* slots in the span (1 when large, 0 when FREE) */
  uint32_t freeindex;   /* slots below were all handed out */
  uint32_t alloc_count; /* allocated slots */
  uint32_t sweepgen;    /* see above */
  uint8_t state;        /* enum span_state */
  uint8_t scan_kind;    /* enum scan_kind: what marking does with a pointer
                           into this span */
  bool needzero;        /* slots may hold old data; zero on allocation */
  bool noscan;          /* KIND_NOSCAN: objects hold no pointers */
  /* -- second line -- */
  bool typed;        /* KIND_TYPED: objects carry their layout */
  uint16_t spc;      /* span class; 0 for a large object */
  uint8_t shard;     /* central shard of its class it belongs to: set while
                        no list holds the span, stable while on a list */
  size_t npages;     /* length in pages */
  struct span *next; /* list links: central or page-heap free list */
  struct span *prev;
  uint32_t cached_count;         /* alloc_count when a thread cached the span */
  bool released;                 /* FREE only: pages were returned to the OS */
  struct special *specials;      /* sorted by (offset, kind); special lock */
  struct special *specials_tail; /* last of them, for O(1) appends */
  uint64_t free_since;           /* FREE only: collection count when freed */
  uint64_t free_since_ns;        /* FREE only: time when freed */
  uint64_t one_slot[2];          /* large: alloc_bits and marks point here */
};

static inline size_t span_bitmap_words(uint32_t nelems) {
  return (nelems + 63) / 64;
}

static inline uint32_t span_object_index(const struct span *s, uintptr_t p) {
  return (uint32_t)(((uint64_t)(p - s->base) * s->divmul) >> 32);
}

static inline bool bit_get(const uint64_t *bits, uint32_t i) {
  return (bits[i / 64] >> (i % 64)) & 1;
}
static inline void bit_set(uint64_t *bits, uint32_t i) {
  bits[i / 64] |= (uint64_t)1 << (i % 64);
}
enum { MARK_LIVE = 1, MARK_FREED = 2 }; /* mark byte values; see above */

static inline bool mark_get(const struct span *s, uint32_t i) {
  return __atomic_load_n(&s->marks[i], __ATOMIC_RELAXED) != 0;
}

static inline void bit_clear(uint64_t *bits, uint32_t i) {
  bits[i / 64] &= ~((uint64_t)1 << (i % 64));
}

/* Threads other than the span's owner read freeindex and alloc_bits (in
 * gc_base, say) while the owner allocates or a sweeper sweeps: such reads
 * and the writes they race with are relaxed atomics.  freeindex only grows
 * while a span is cached, and a slot's allocation bit only changes when the
 * span is swept, so a stale value never misreports a live object. */
static inline void span_set_freeindex(struct span *s, uint32_t v) {
  __atomic_store_n(&s->freeindex, v, __ATOMIC_RELAXED);
}

/* Whether slot index i (span_object_index of some address in the span)
 * holds an object handed out by the allocator (freed by sweeping only):
 * a slot past nelems is tail waste, and a span with no slots (FREE, or not
 * yet initialized) has none.  Valid for swept spans; the caller knows the
 * span is swept.  Slots below freeindex are allocated, and freeindex <=
 * nelems, so one test admits most objects: the mark loop runs it on every
 * pointer. */
static inline bool span_slot_is_object(const struct span *s, uint32_t i) {
  return i < __atomic_load_n(&s->freeindex, __ATOMIC_RELAXED) ||
         (i < __atomic_load_n(&s->nelems, __ATOMIC_RELAXED) &&
          ((__atomic_load_n(&s->alloc_bits[i / 64], __ATOMIC_RELAXED) >>
            (i % 64)) &
           1));
}

static inline bool span_is_large(const struct span *s) { return s->spc == 0; }

/* ------------------------------------------------------------------------
 * Specials (special.c): records attached to heap objects, Go's mspan
 * specials.  Kinds are ordered: a span's list is sorted by (offset, kind).
 * ---------------------------------------------------------------------- */

enum special_kind {
  SPECIAL_FINALIZER = 1, /* gc_set_finalizer, GC_register_finalizer* */
  SPECIAL_WEAK = 2,      /* gc_weak_make's canonical handle */
  SPECIAL_LINK = 3,      /* bdwgc short disappearing link */
  SPECIAL_LONG_LINK = 4, /* bdwgc long link */
  SPECIAL_CLEANUP = 5,   /* gc_add_cleanup; several may share an offset */
  SPECIAL_ROOT = 6,      /* the object is a root (GC_malloc_uncollectable) */
};

/* How a finalizer orders (bdwgc's four variants; Go's is FIN_ORDERED). */
enum fin_mode {
  FIN_ORDERED = 0,     /* scan its contents: what it reaches waits for it */
  FIN_IGNORE_SELF = 1, /* the same, ignoring pointers into itself */
  FIN_NO_ORDER = 2,    /* no order: cycles are finalized too */
  FIN_UNREACHABLE = 3, /* no order, but not while another finalizable
                          object still reaches it */
};

/* fgc_set_finalizer's mode may add: replace an existing finalizer
 * (bdwgc's rule) instead of refusing it (Go's). */
#define FIN_REPLACE 0x10

struct special {
  struct special *next;
  union {
    uintptr_t offset; /* attached: registered pointer minus span base */
    uint64_t seq;     /* queued cleanup: its place in the queue */
  };
  uint8_t kind;
  uint8_t reported; /* checkfinalizers has reported it */
  uint8_t mode;     /* finalizers: enum fin_mode */
};

struct special_finalizer {
  struct special s;
  gc_finalizer_fn fn;
  void *arg; /* kept alive while the finalizer is set */
  void *obj; /* once queued: the object (finalizer.c) */
};

/* The handle gc_weak_make returns: a heap object of its own, noscan, so
 * that ptr does not keep the referent alive; at least 16 bytes, so that
 * it never shares a tiny block with user data (Go #76007). */
struct gc_weak {
  uintptr_t ptr; /* the referent, or 0 once it was found unreachable */
  uintptr_t unused;
};

struct special_weak {
  struct special s;
  struct gc_weak *handle; /* kept alive while the special is */
};

/* Layouts of typed objects (gc_make_layout): word i of an element is a
 * pointer iff bit i of bits is set, for i < nwords; elements repeat every
 * elem_words words (0: the layout describes one object). */
struct gc_layout {
  uint32_t nwords;
  uint32_t elem_words;
  uint64_t bits[];
};

static inline bool layout_is_pointer(const struct gc_layout *l, size_t word) {
  if (l->elem_words)
    word %= l->elem_words;
  return word < l->nwords && (l->bits[word / 64] >> (word % 64)) & 1;
}

/* A disappearing link: *link is cleared when the object dies (short: as
 * soon as it is found unreachable; long: once no finalizer can bring it
 * back).  The link's own address is the key of a table in weak.c. */
struct special_link {
  struct special s;
  void **link;
  uintptr_t hidden_obj; /* the object's address, complemented */
};

struct special_cleanup {
  struct special s;
  gc_cleanup_fn fn;
  void *arg; /* kept alive while the cleanup is set */
  uint64_t id;
};

/* A doubly linked list of spans with a count. */
struct span_list {
  struct span *first;
  struct span *last; /* so that splicing a list is O(1) */
  size_t len;        /* written under the list's lock, atomically, so that
                        it may be read without (as a hint) */
};

/* ------------------------------------------------------------------------
 * Central lists and thread caches
 * ---------------------------------------------------------------------- */

/* The central lists of a span class are split into CENTRAL_SHARDS shards,
 * each under its own lock: a thread refills from its own shard first
 * (gc_thread.shard), so that threads allocating the same sizes do not
 * queue on one lock, and a span tends to be swept and reused by the thread
 * that last allocated from it, whose cache still holds its lines.  Shards
 * are line-aligned: threads refilling different ones share no line. */
#define CENTRAL_SHARDS 4

struct __attribute__((aligned(64))) central_shard {
  fgc_spinlock lock;        /* list operations only: never held to sweep */
  struct span_list partial; /* swept, with free slots, not cached */
  struct span_list full;    /* swept, no free slots, not cached */
  struct span_list empty;   /* swept, no allocated slot, kept for reuse */
  struct span_list unswept; /* need sweeping */
};

struct central {
  struct central_shard shard[CENTRAL_SHARDS];
};

/* Per-thread allocation cache.  Only its thread writes it, except that the
 * collector flushes every cache while the world is stopped.  Line-aligned,
 * so that two threads' caches never share a line. */
struct __attribute__((aligned(64))) cache {
  struct span *alloc[NUM_SPAN_CLASSES]; /* span to allocate from, or the
                                           empty sentinel */
  void *freed[NUM_SPAN_CLASSES];        /* gc_free'd slots, linked through
                                           their first word */
  uintptr_t tiny;                       /* current tiny block, or 0 */
  size_t tiny_offset;                   /* bytes used in the tiny block */
  struct special *special_free;         /* spare special records */
  uint32_t special_free_len;
  int64_t live_delta;                  /* not yet added to heap_live */
  uint64_t objects_delta, bytes_delta; /* not yet added to the totals */
};

/* ------------------------------------------------------------------------
 * Threads
 * ---------------------------------------------------------------------- */

/* Where the scan of a thread's stack starts.  sp is on the thread's own
 * stack, or, while a handler installed with SA_ONSTACK runs, on its signal
 * stack: [sigstack_lo, sigstack_hi) is that stack then, and both are 0
 * otherwise.  The collector scans a signal stack from sp up, then the
 * thread's own stack from where the handler interrupted it (roots.c). */
struct stack_start {
  uintptr_t sp;
  uintptr_t sigstack_lo, sigstack_hi;
};

/* A registered thread.  The collector reads stop, blocking and the stack
 * bounds only while the thread is stopped or blocking. */
struct gc_thread {
  pthread_t id;
  uintptr_t stack_hi; /* highest address of its stack (the base) */
  uintptr_t stack_lo; /* lowest mapped address of its stack */
  struct cache *cache;
  struct gc_thread *next;
  struct stack_start stop;        /* where it stopped itself */
  uint32_t acked_epoch;           /* the stop it last acknowledged */
  int blocking;                   /* inside gc_do_blocking */
  struct stack_start blocking_at; /* where it entered gc_do_blocking */
  unsigned shard;                 /* central shard it refills from first */
  int tid;                        /* its kernel id */
  bool gone;                      /* exited while registered (world.c) */
};

/* ------------------------------------------------------------------------
 * Root ranges
 * ---------------------------------------------------------------------- */

struct root_range {
  uintptr_t lo, hi;
};

/* ------------------------------------------------------------------------
 * The heap: one per process, allocated off the scanned area.
 * ---------------------------------------------------------------------- */

struct heap {
  fgc_mutex lock; /* page heap, large spans, heap counters */

  uintptr_t arena_lo; /* reserved address range */
  uintptr_t arena_hi;
  uintptr_t huge_lo;       /* huge pages from here on (pageheap.c).  Addresses
                              in the heap live here, off the scanned data
                              segments: a static holding one would be a root
                              keeping whatever object starts there alive. */
  uintptr_t arena_used;    /* committed up to here */
  struct span **page_map;  /* one entry per reserved page */
  uint64_t *page_specials; /* bit per page: the span starting there has
                              specials */

  struct span_list free_small[128]; /* FREE spans by length in pages */
  struct span_list free_large;      /* FREE spans of 128 pages or more */
  struct span_list large;           /* IN_USE large-object spans */

  struct central central[NUM_SPAN_CLASSES];
  /* Bit spc * CENTRAL_SHARDS + shard: that shard may hold spans; clear
   * only if all its lists are empty, so that the per-collection passes
   * over the shards visit only the few in use. */
  uint64_t shards_in_use[(NUM_SPAN_CLASSES * CENTRAL_SHARDS + 63) / 64];

  uint32_t sweepgen;

  /* Pacing and statistics; written under world_lock or heap.lock. */
  size_t heap_live;     /* bytes allocated or cached since the last mark,
                           plus marked bytes: the pacer's measure */
  size_t heap_marked;   /* bytes marked by the last collection */
  size_t heap_goal;     /* collect when heap_live reaches it */
  size_t heap_inuse;    /* bytes in IN_USE spans */
  size_t heap_released; /* bytes in FREE spans returned to the OS */
  size_t max_heap;      /* hard limit on arena_used - arena_lo, 0 = none */
  int gogc;
  uint64_t num_gc;
  uint64_t pause_total_ns;
  uint64_t pause_max_ns;
  uint64_t last_pause_ns;
  uint64_t total_alloc_bytes;
  uint64_t total_alloc_objects;
  uint64_t alloc_bytes_at_gc; /* total_alloc_bytes when the last mark ended */

  /* Controls for the bdwgc layer (boehm.c); read under world_lock. */
  size_t heap_min;    /* no automatic collection below this heap_live */
  const int *dont_gc; /* collections off while *dont_gc (GC_dont_gc) */
  void (*start_callback)(void); /* called as each collection starts */
};

FGC_INTERNAL extern struct heap *fgc_heap;
FGC_INTERNAL extern char fgc_zerobase[16];
FGC_INTERNAL extern __thread struct gc_thread *fgc_self
    __attribute__((tls_model("initial-exec")));

/* The span holding p, or NULL if p is not in the heap.  The result may be
 * a FREE span: callers check its state. */
static inline struct span *span_of(uintptr_t p) {
  struct heap *h = fgc_heap;
  uintptr_t used = __atomic_load_n(&h->arena_used, __ATOMIC_ACQUIRE);
  if (p - h->arena_lo >= used - h->arena_lo)
    return NULL;
  return __atomic_load_n(&h->page_map[(p - h->arena_lo) >> PAGE_SHIFT],
                         __ATOMIC_ACQUIRE);
}

static inline int span_state(const struct span *s) {
  return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------------
 * Internal API by file
 * ---------------------------------------------------------------------- */

/* "options.c" */
struct fgc_options {
  int gogc;              /* FINALGC_GOGC */
  size_t max_heap;       /* FINALGC_MAX_HEAP */
  size_t reserve;        /* FINALGC_RESERVE: address space to reserve */
  int gctrace;           /* FINALGCDEBUG=gctrace=1 */
  int clobberfree;       /* FINALGCDEBUG=clobberfree=1 */
  size_t mark_stack_max; /* FINALGCDEBUG=markstackmax=N (entries) */
  int suspend_signal;    /* FINALGC_SUSPEND_SIGNAL */
  int fatalerrors;       /* FINALGCDEBUG=fatalerrors=1: misuse aborts */
  int checkfinalizers;   /* FINALGCDEBUG=checkfinalizers=1 */
  int markers;           /* FINALGC_MARKERS: marker threads (default CPUs) */
  size_t hugepages;      /* FINALGC_HUGEPAGES: huge pages past this heap size */
};
FGC_INTERNAL extern struct fgc_options fgc_opt;
FGC_INTERNAL void fgc_options_init(void);
FGC_INTERNAL void fgc_message(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
FGC_INTERNAL _Noreturn void fgc_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* "fixalloc.c": fixed-size records from memory the collector never scans. */
struct fixalloc {
  fgc_mutex lock;
  size_t size;           /* record size */
  void *free;            /* free records, linked through their first word */
  char *chunk;           /* current chunk */
  size_t chunk_left;     /* bytes left in it */
  size_t mapped;         /* bytes of all its chunks */
  struct fixalloc *next; /* every fixalloc, for fork */
};
FGC_INTERNAL void fgc_fixalloc_init(struct fixalloc *f, size_t size);
FGC_INTERNAL void fgc_fixalloc_lock_all(void);
FGC_INTERNAL void fgc_fixalloc_unlock_all(void);
FGC_INTERNAL void *fgc_fixalloc_alloc(struct fixalloc *f);
FGC_INTERNAL void fgc_fixalloc_free(struct fixalloc *f, void *p);
FGC_INTERNAL void *fgc_fixalloc_alloc_list(struct fixalloc *f, unsigned n);
FGC_INTERNAL void fgc_fixalloc_free_list(struct fixalloc *f, void *head,
                                         void *tail);
FGC_INTERNAL void *fgc_sysalloc(size_t size); /* zeroed, page-rounded mmap */
FGC_INTERNAL void fgc_sysfree(void *p, size_t size);
FGC_INTERNAL size_t fgc_metadata_bytes(void);
FGC_INTERNAL void fgc_add_metadata(ptrdiff_t bytes);

/* "pageheap.c": the arena, page map, span records and free page runs. */
FGC_INTERNAL int fgc_pageheap_init(void);
FGC_INTERNAL bool fgc_pageheap_expand(size_t npages);        /* heap.lock */
FGC_INTERNAL struct span *fgc_pageheap_alloc(size_t npages); /* heap.lock */
FGC_INTERNAL void fgc_pageheap_free(struct span *s);         /* heap.lock */
FGC_INTERNAL void fgc_pageheap_scavenge(size_t retain);      /* heap.lock */
FGC_INTERNAL void fgc_pageheap_reclaim(void);                /* world stopped */
FGC_INTERNAL size_t fgc_pageheap_retired(void);
FGC_INTERNAL int fgc_span_init_small(struct span *s, int spc);
FGC_INTERNAL int fgc_span_init_large(struct span *s, int kind);
FGC_INTERNAL void fgc_span_refill_cache(struct span *s);
FGC_INTERNAL uint32_t fgc_span_next_free_index(struct span *s);

/* "list.c"-style helpers live in pageheap.c as they are all about spans. */
FGC_INTERNAL void fgc_list_push(struct span_list *l, struct span *s);
FGC_INTERNAL void fgc_list_remove(struct span_list *l, struct span *s);
FGC_INTERNAL struct span *fgc_list_pop(struct span_list *l);
FGC_INTERNAL void fgc_list_splice(struct span_list *dst, struct span_list *src);

/* "central.c": per span class lists; sweeping lives here too.  Callers of
 * cache_span and ensure_swept are in a critical section. */
FGC_INTERNAL struct span *fgc_central_cache_span(int spc, struct span *old);
FGC_INTERNAL void fgc_central_uncache_span(struct span *s);
FGC_INTERNAL void fgc_central_ensure_swept(struct span *s);
FGC_INTERNAL void fgc_sweep_all(void);
FGC_INTERNAL void fgc_sweep_begin_cycle(void); /* world stopped */
FGC_INTERNAL void fgc_sweep_large(void);       /* world stopped */

/* "alloc.c": thread caches and the allocation paths. */
FGC_INTERNAL struct cache *fgc_cache_new(void);
FGC_INTERNAL void fgc_cache_flush(struct cache *c);
FGC_INTERNAL void fgc_cache_drop_freed(struct cache *c);
FGC_INTERNAL void fgc_orphans_drop_freed(void); /* world stopped */
FGC_INTERNAL void fgc_cache_count(const struct cache *c, uint64_t *objects,
                                  uint64_t *bytes);
FGC_INTERNAL void fgc_cache_release(struct cache *c);
FGC_INTERNAL extern struct span fgc_empty_span;
FGC_INTERNAL struct span *fgc_find_object(uintptr_t p, uint32_t *index);
#define FGC_IMMORTAL (-1)
FGC_INTERNAL int fgc_classify(void *ptr, struct span **sp, uint32_t *index);

/* "world.c": threads and stopping the world. */
FGC_INTERNAL void fgc_world_init(void);
FGC_INTERNAL void fgc_world_lock(void);
FGC_INTERNAL void fgc_world_unlock(void);
FGC_INTERNAL void fgc_world_stop(void);           /* world_lock held */
FGC_INTERNAL void fgc_world_start(void);          /* world_lock held */
FGC_INTERNAL void fgc_world_drop_gone(void);      /* world_lock held */
FGC_INTERNAL struct gc_thread *fgc_threads(void); /* world stopped */
FGC_INTERNAL void fgc_thread_results_mark(void);  /* world stopped */
FGC_INTERNAL struct gc_thread *fgc_thread_self(void);
FGC_INTERNAL bool fgc_register_caller_slow(const char *call);

/* Registers the calling thread for a call that reads or changes collector
 * state (a lookup, specials, weak handles), as the header promises every
 * call does: a collection must stop such a thread like one that
 * allocates, or it reads marks while the markers set them and changes
 * specials lists while the collector walks them.  Returns false, with
 * GC_ERR_NOMEM reported in the name of call, if the thread cannot be
 * registered (out of memory).  Inline: gc_weak_value is a load. */
static inline bool fgc_register_caller(const char *call) {
  return likely(fgc_self != NULL) || fgc_register_caller_slow(call);
}
FGC_INTERNAL const struct stack_start *
fgc_thread_scan_start(const struct gc_thread *t);
FGC_INTERNAL struct stack_start fgc_stack_start(uintptr_t sp);

/* "roots.c" */
FGC_INTERNAL void fgc_roots_snapshot_segments(void); /* before stopping */
FGC_INTERNAL void fgc_roots_mark(void);              /* world stopped */
FGC_INTERNAL void fgc_remove_roots_within(uintptr_t lo, uintptr_t hi);

/* "mark.c" */
FGC_INTERNAL void fgc_mark_init(void);
FGC_INTERNAL void fgc_mark_range(uintptr_t lo, uintptr_t hi);
FGC_INTERNAL void fgc_mark_root(uintptr_t lo, uintptr_t hi);
FGC_INTERNAL void fgc_mark_object_contents(const struct span *s,
                                           uintptr_t base);
FGC_INTERNAL void fgc_mark_prepare(void);  /* before the world stops */
FGC_INTERNAL size_t fgc_mark_finish(void); /* returns marked bytes */

/* "special.c" */
FGC_INTERNAL int fgc_special_init(size_t reserved_pages);
FGC_INTERNAL struct special *fgc_special_alloc(void);
FGC_INTERNAL void fgc_special_free(struct special *sp);
FGC_INTERNAL bool fgc_special_add(struct span *s, struct special *sp,
                                  bool force);
FGC_INTERNAL struct special *fgc_special_replace(struct span *s,
                                                 struct special *sp);
FGC_INTERNAL struct special *fgc_special_find(struct span *s, uintptr_t offset,
                                              int kind);
FGC_INTERNAL bool fgc_special_remove_cleanup(struct span *s, uintptr_t offset,
                                             uint64_t id);
FGC_INTERNAL struct special *fgc_special_remove(struct span *s,
                                                uintptr_t offset, int kind);
FGC_INTERNAL void fgc_specials_drop_object(struct span *s, uintptr_t base);
FGC_INTERNAL void fgc_special_unlink(struct span *s, struct special *sp);
FGC_INTERNAL void fgc_special_cache_release(struct cache *c);
FGC_INTERNAL void fgc_specials_for_each_span(void (*fn)(struct span *s,
                                                        void *arg),
                                             void *arg); /* world stopped */
FGC_INTERNAL void fgc_specials_mark(void);               /* world stopped */
FGC_INTERNAL size_t fgc_specials_mark_ordered(void);     /* world stopped */
FGC_INTERNAL size_t fgc_specials_process(void);          /* world stopped */

/* "finalizer.c" */
FGC_INTERNAL void fgc_finq_push(struct special_finalizer *f, void *obj);
FGC_INTERNAL void fgc_finq_begin_cycle(void);
FGC_INTERNAL struct special_finalizer *fgc_finq_queued_this_cycle(void);
FGC_INTERNAL int fgc_set_finalizer(void *obj, gc_finalizer_fn fn, void *arg,
                                   int mode, gc_finalizer_fn *ofn, void **oarg,
                                   const char *call);
FGC_INTERNAL uint64_t fgc_finalizers_pending(void);
FGC_INTERNAL bool fgc_no_order_finalizers_set(void);
FGC_INTERNAL void fgc_finq_mark(void); /* world stopped */
FGC_INTERNAL bool fgc_finalizers_after_gc(uint64_t queued_before);
FGC_INTERNAL void fgc_notify_pending(void);
FGC_INTERNAL void fgc_finalizer_stats(uint64_t *queued, uint64_t *run);
FGC_INTERNAL bool fgc_is_global(uintptr_t p);
FGC_INTERNAL int fgc_misuse(int err, const char *call);

/* "weak.c": bdwgc's disappearing links, on weak specials. */
#define FGC_DUPLICATE (-2)
FGC_INTERNAL int fgc_link_register(void **link, void *obj, bool is_long);
FGC_INTERNAL bool fgc_link_unregister(void **link, bool is_long);
FGC_INTERNAL int fgc_link_move(void **link, void **new_link, bool is_long);
FGC_INTERNAL void fgc_links_lock(void);
FGC_INTERNAL void fgc_links_unlock(void);
FGC_INTERNAL void fgc_link_forget_locked(struct special_link *l);
FGC_INTERNAL void fgc_links_drop_inside(uintptr_t lo, uintptr_t hi);
FGC_INTERNAL void fgc_links_process(void);          /* world stopped */
FGC_INTERNAL bool fgc_short_links_registered(void); /* world stopped */
FGC_INTERNAL void fgc_links_clear_short(void);      /* world stopped */

/* "cleanup.c" */
FGC_INTERNAL void fgc_cleanupq_push(struct special_cleanup *c);
FGC_INTERNAL void fgc_cleanupq_mark(void); /* world stopped */
FGC_INTERNAL bool fgc_cleanups_after_gc(uint64_t queued_before);
FGC_INTERNAL uint64_t fgc_cleanups_queued(void);
FGC_INTERNAL void fgc_cleanup_stats(uint64_t *queued, uint64_t *run);
FGC_INTERNAL int fgc_run_cleanups(void);
FGC_INTERNAL void fgc_cleanups_kick(void);
FGC_INTERNAL bool fgc_in_cleanup(void);
FGC_INTERNAL void fgc_cleanups_wake_waiters(void);
FGC_INTERNAL bool fgc_on_demand(void);
FGC_INTERNAL void fgc_cleanup_fork_prepare(void);
FGC_INTERNAL void fgc_cleanup_fork_parent(void);
FGC_INTERNAL void fgc_cleanup_fork_child(void);

/* "checkfin.c": FINALGCDEBUG=checkfinalizers=1 (world stopped). */
FGC_INTERNAL void fgc_checkfinalizers(void);        /* world stopped */
FGC_INTERNAL void fgc_checkfinalizers_report(void); /* after it starts */

/* Fork (world.c drives it): each subsystem holds its locks across fork() so
 * that the child inherits consistent state, and resets what the child has
 * no thread for. */
FGC_INTERNAL void fgc_central_lock_all(void);
FGC_INTERNAL void fgc_central_unlock_all(void);
FGC_INTERNAL void fgc_special_lock_all(void);
FGC_INTERNAL void fgc_special_unlock_all(void);
FGC_INTERNAL void fgc_finalizer_fork_prepare(void);
FGC_INTERNAL void fgc_finalizer_fork_parent(void);
FGC_INTERNAL void fgc_finalizer_fork_child(void);
FGC_INTERNAL void fgc_mark_fork_child(void);
FGC_INTERNAL void fgc_roots_lock_all(void);
FGC_INTERNAL void fgc_pacer_update(void); /* world_lock held */
FGC_INTERNAL void *fgc_call_with_gc_active(void *(*fn)(void *), void *arg);
FGC_INTERNAL void fgc_weak_lock_all(void);
FGC_INTERNAL void fgc_weak_unlock_all(void);
FGC_INTERNAL void fgc_typed_lock_all(void);
FGC_INTERNAL void fgc_typed_unlock_all(void);
FGC_INTERNAL void fgc_roots_unlock_all(void);

/* "collect.c": the collection cycle and pacing. */
FGC_INTERNAL void fgc_ensure_init(void);
FGC_INTERNAL bool fgc_collect_needed(void);
FGC_INTERNAL void fgc_collect_if_needed(void);
FGC_INTERNAL void fgc_collect_for_oom(void);
FGC_INTERNAL void fgc_reclaim_if_needed(void);

/* "prim/linux.c": the operating system.  Every address and size passed in
 * is page-aligned; int results are 0 on success. */
#define HUGE_PAGE_SIZE ((size_t)2 << 20)
FGC_INTERNAL void *fgc_prim_reserve(size_t size); /* HUGE_PAGE_SIZE-aligned */
FGC_INTERNAL void fgc_prim_advise_huge(void *p, size_t size);
/* Readable and writable memory, aligned and advised for huge pages. */
FGC_INTERNAL void *fgc_prim_map_huge(size_t size);
FGC_INTERNAL int fgc_prim_commit(void *p, size_t size);
FGC_INTERNAL void fgc_prim_release(void *p, size_t size);
FGC_INTERNAL void *fgc_prim_map(size_t size);
FGC_INTERNAL void fgc_prim_unmap(void *p, size_t size);
FGC_INTERNAL int fgc_prim_stack_bounds(uintptr_t *lo, uintptr_t *hi);
FGC_INTERNAL int fgc_prim_signal_stack(uintptr_t sp, uintptr_t *lo,
                                       uintptr_t *hi);
FGC_INTERNAL uintptr_t fgc_prim_interrupted_sp(uintptr_t from, uintptr_t sig_lo,
                                               uintptr_t sig_hi, uintptr_t lo,
                                               uintptr_t hi);
FGC_INTERNAL uint64_t fgc_prim_nanotime(void);
FGC_INTERNAL void fgc_prim_futex_wait(uint32_t *addr, uint32_t val);
FGC_INTERNAL void fgc_prim_futex_wake(uint32_t *addr);
FGC_INTERNAL bool fgc_prim_futex_wait_ns(uint32_t *addr, uint32_t val,
                                         uint64_t ns);
FGC_INTERNAL int fgc_prim_gettid(void);
FGC_INTERNAL bool fgc_prim_thread_gone(int tid);
FGC_INTERNAL int fgc_prim_install_suspend_handler(int sig,
                                                  void (*handler)(int));
typedef void (*fgc_segment_fn)(uintptr_t lo, uintptr_t hi, void *arg);
FGC_INTERNAL void fgc_prim_data_segments(fgc_segment_fn fn, void *arg);

#endif /* FINALGC_INTERNAL_H */
