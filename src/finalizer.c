/*
 * Finalizers: gc_set_finalizer, the finalizer queue and the finalizer
 * thread (Go's mfinal.go: SetFinalizer, queuefinalizer, createfing,
 * runfinq).
 *
 * The queue.  When the collector finds an object with a finalizer
 * unreachable (world stopped), it moves the finalizer's special record from
 * the span's list to the tail of the finalizer queue, noting the object's
 * address in it: queueing copies nothing and allocates nothing.  Queued
 * records are roots (their obj and arg), so the object and all it reaches
 * stay alive until its finalizer has run.  Go copies each finalizer into
 * blocks of a queue instead; moving the record saves the copy and, for a
 * million dead objects at once, the page faults of a million fresh queue
 * entries.
 *
 * Running.  One finalizer thread is started, exactly once, by the first
 * gc_set_finalizer with a function (Go's createfing, a compare-and-swap).
 * It sleeps while the queue is empty and wakes when a collection queues
 * work.  Finalizers run one at a time in the order they were queued
 * (run_lock serialises the finalizer thread and gc_run_finalizers), so
 * "every finalizer queued before" is a prefix of what has run.  A runner
 * takes the whole queue into `running` and advances `running` past a
 * record before calling it (its obj and arg are then on the runner's
 * stack), so every record not yet started stays a root.
 *
 * Invariants:
 *   - fin_lock guards finq_head, finq_tail, running and the counters,
 *     except that the collector appends while the world is stopped, when no
 *     thread is inside the lock's critical section, without taking it.
 *   - A record is on the queue, or on a runner's running list, or being
 *     run (then only the runner's stack holds its obj and arg), or freed.
 *   - No user code runs with fin_lock held; run_lock is not a critical
 *     lock, so a thread running a finalizer can be stopped by a collection
 *     (and the finalizer itself may collect).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>

#include "internal.h"

static fgc_mutex fin_lock = FGC_MUTEX_INIT;
static struct special_finalizer *finq_head, *finq_tail;
static struct special_finalizer *running; /* what a runner has yet to run */
static uint64_t fin_queued, fin_run;
static uint32_t work_seq;     /* bumped when work is queued: futex word */
static uint32_t done_seq;     /* bumped when finalizers have run: futex word */
static uint32_t done_waiters; /* threads in gc_wait_finalizers */

static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t fing_created; /* Go's fingStatus&fingCreated */
static int on_demand;
static void (*notifier)(void);
static __thread int in_finalizer __attribute__((tls_model("initial-exec")));
static __thread int is_fing __attribute__((tls_model("initial-exec")));

static struct special_finalizer *next_of(const struct special_finalizer *f) {
  return (struct special_finalizer *)f->s.next;
}

/* --- queueing (world stopped) ------------------------------------------ */

/* The queue's last record when this collection began queueing, so that
 * fgc_finq_queued_this_cycle can find what it queued. */
static struct special_finalizer *cycle_start;

void fgc_finq_begin_cycle(void) { cycle_start = finq_tail; }

struct special_finalizer *fgc_finq_queued_this_cycle(void) {
  return cycle_start ? next_of(cycle_start) : finq_head;
}

/* Appends f, just unlinked from its span, for the object at obj.  Called
 * with the world stopped: no thread is inside fin_lock's critical section,
 * so the collector appends without taking it. */
void fgc_finq_push(struct special_finalizer *f, void *obj) {
  f->obj = obj;
  f->s.next = NULL;
  if (finq_tail)
    finq_tail->s.next = &f->s;
  else
    finq_head = f;
  finq_tail = f;
  fin_queued++;
}

/* Pending finalizers are roots: their objects, and their args. */
void fgc_finq_mark(void) {
  for (struct special_finalizer *f = finq_head; f; f = next_of(f))
    fgc_mark_range((uintptr_t)&f->arg, (uintptr_t)(&f->obj + 1));
  for (struct special_finalizer *f = running; f; f = next_of(f))
    fgc_mark_range((uintptr_t)&f->arg, (uintptr_t)(&f->obj + 1));
}

void fgc_finalizer_stats(uint64_t *queued, uint64_t *run) {
  fgc_lock(&fin_lock);
  *queued = fin_queued;
  *run = fin_run;
  fgc_unlock(&fin_lock);
}

/* --- running ----------------------------------------------------------- */

static void *lock_run(void *arg) {
  (void)arg;
  pthread_mutex_lock(&run_lock);
  return NULL;
}

/* Counts n more finalizers as run and wakes gc_wait_finalizers callers.
 * The runner calls it every RUN_BATCH finalizers and at the end of what
 * it took, so a waiter is woken a few times per long batch, not after
 * every finalizer. */
#define RUN_BATCH 4096

static void wake_waiters(void) {
  __atomic_add_fetch(&done_seq, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&done_waiters, __ATOMIC_SEQ_CST))
    fgc_prim_futex_wake(&done_seq);
}

static void count_run(uint64_t n) {
  fgc_lock(&fin_lock);
  fin_run += n;
  fgc_unlock(&fin_lock);
  wake_waiters();
}

/* Runs every pending finalizer on the calling thread, in queue order.
 * Returns how many ran. */
static int run_pending(bool on_thread) {
  gc_do_blocking(lock_run, NULL);
  int ran = 0;
  for (;;) {
    /* The finalizer thread stops between batches once finalization is on
     * demand (gc_set_finalize_on_demand waits for that). */
    if (on_thread && __atomic_load_n(&on_demand, __ATOMIC_ACQUIRE))
      break;
    fgc_lock(&fin_lock);
    struct special_finalizer *f = finq_head;
    finq_head = finq_tail = NULL;
    running = f;
    fgc_unlock(&fin_lock);
    if (!f)
      break;
    uint64_t n = 0;
    while (f) {
      gc_finalizer_fn fn = f->fn;
      void *obj = f->obj, *arg = f->arg;
      struct special_finalizer *next = next_of(f);
      if (next)
        __builtin_prefetch(next->s.next);
      __atomic_store_n(&running, next, __ATOMIC_RELEASE);
      fgc_special_free(&f->s);
      in_finalizer = 1;
      fn(obj, arg);
      in_finalizer = 0;
      gc_keep_alive(obj);
      gc_keep_alive(arg);
      if (++n == RUN_BATCH || !next) {
        count_run(n);
        ran += (int)n;
        n = 0;
      }
      f = next;
    }
  }
  pthread_mutex_unlock(&run_lock);
  return ran;
}

static void *wait_for_work(void *arg) {
  uint32_t seen = *(uint32_t *)arg;
  while (__atomic_load_n(&work_seq, __ATOMIC_ACQUIRE) == seen)
    fgc_prim_futex_wait(&work_seq, seen);
  return NULL;
}

/* The finalizer thread (Go's runfinq): runs what is queued, then sleeps
 * until a collection queues more. */
static void *finalizer_thread(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "finalgc-fin");
  is_fing = 1;
  for (;;) {
    uint32_t seen = __atomic_load_n(&work_seq, __ATOMIC_ACQUIRE);
    if (!__atomic_load_n(&on_demand, __ATOMIC_ACQUIRE))
      run_pending(true);
    gc_do_blocking(wait_for_work, &seen);
  }
  return NULL;
}

/* Starts the finalizer thread once (Go's createfing). */
static void create_fing(void) {
  uint32_t expected = 0;
  if (__atomic_load_n(&fing_created, __ATOMIC_ACQUIRE) ||
      !__atomic_compare_exchange_n(&fing_created, &expected, 1, false,
                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    return;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int err = gc_pthread_create(&t, &attr, finalizer_thread, NULL);
  pthread_attr_destroy(&attr);
  if (err != 0)
    fgc_fatal("cannot start the finalizer thread: error %d", err);
}

/* Called by the collecting thread after the world restarts; returns
 * whether the collection queued finalizers. */
bool fgc_finalizers_after_gc(uint64_t queued_before) {
  uint64_t queued, run;
  fgc_finalizer_stats(&queued, &run);
  if (queued == queued_before)
    return false;
  if (!__atomic_load_n(&on_demand, __ATOMIC_ACQUIRE))
    create_fing();
  __atomic_add_fetch(&work_seq, 1, __ATOMIC_RELEASE);
  fgc_prim_futex_wake(&work_seq);
  return true;
}

/* Calls the notifier: a collection queued finalizers or cleanups. */
void fgc_notify_pending(void) {
  void (*fn)(void) = __atomic_load_n(&notifier, __ATOMIC_ACQUIRE);
  if (fn)
    fn();
}

/* Not from a finalizer or a cleanup: run_lock is taken before
 * on_demand_lock (a finalizer run on demand may run cleanups on demand,
 * through gc_wait_cleanups), never after. */
int gc_run_finalizers(void) {
  fgc_ensure_init();
  if (in_finalizer || fgc_in_cleanup())
    return 0;
  int n = run_pending(false);
  return n + fgc_run_cleanups();
}

/* Waits for done_seq to move past seen.  The waiter count is raised
 * before done_seq is checked again (seq_cst on both sides), so a runner
 * that bumps done_seq either sees the waiter and wakes it or bumped it
 * before the check. */
static void *wait_for_done(void *arg) {
  uint32_t seen = *(uint32_t *)arg;
  __atomic_add_fetch(&done_waiters, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&done_seq, __ATOMIC_SEQ_CST) == seen)
    fgc_prim_futex_wait(&done_seq, seen);
  __atomic_sub_fetch(&done_waiters, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

void gc_wait_finalizers(void) {
  fgc_ensure_init();
  if (in_finalizer || fgc_in_cleanup())
    return;
  uint64_t target, run, queued;
  fgc_finalizer_stats(&target, &run);
  while (run < target) {
    uint32_t seen = __atomic_load_n(&done_seq, __ATOMIC_ACQUIRE);
    fgc_finalizer_stats(&queued, &run);
    if (run >= target)
      break;
    if (__atomic_load_n(&on_demand, __ATOMIC_ACQUIRE)) {
      run_pending(false);
    } else {
      create_fing();
      gc_do_blocking(wait_for_done, &seen);
    }
    fgc_finalizer_stats(&queued, &run);
  }
}

void gc_set_finalize_on_demand(int on) {
  fgc_ensure_init();
  __atomic_store_n(&on_demand, on != 0, __ATOMIC_RELEASE);
  if (on && !in_finalizer) {
    /* Wait for the batch the finalizer thread may be running. */
    gc_do_blocking(lock_run, NULL);
    pthread_mutex_unlock(&run_lock);
  }
  if (on) {
    /* Threads waiting for the finalizer threads to run what is queued
     * must run it themselves now: wake them. */
    wake_waiters();
    fgc_cleanups_wake_waiters();
  } else {
    create_fing();
    __atomic_add_fetch(&work_seq, 1, __ATOMIC_RELEASE);
    fgc_prim_futex_wake(&work_seq);
    fgc_cleanups_kick();
  }
}

void gc_set_finalizer_notifier(void (*fn)(void)) {
  __atomic_store_n(&notifier, fn, __ATOMIC_RELEASE);
}

/* --- gc_set_finalizer --------------------------------------------------- */

struct global_search {
  uintptr_t p;
  bool found;
};

static void find_segment(uintptr_t lo, uintptr_t hi, void *arg) {
  struct global_search *g = arg;
  g->found |= g->p >= lo && g->p < hi;
}

/* p points into the data or bss of the program or of a loaded library. */
bool fgc_is_global(uintptr_t p) {
  struct global_search g = {p, false};
  fgc_prim_data_segments(find_segment, &g);
  return g.found;
}

static __thread int last_error __attribute__((tls_model("initial-exec")));

/* Reports misuse: records err as this thread's last error and returns it,
 * or aborts with its text under FINALGCDEBUG=fatalerrors=1 (Go's throw). */
int fgc_misuse(int err, const char *call) {
  if (fgc_opt.fatalerrors)
    fgc_fatal("%s: %s", call, gc_strerror(err));
  last_error = err;
  return err;
}

int gc_last_error(void) { return last_error; }

bool fgc_on_demand(void) {
  return __atomic_load_n(&on_demand, __ATOMIC_ACQUIRE);
}

/* Whether a no-order finalizer was ever set (special.c holds cleanups
 * back while they may exist). */
static bool no_order_set;

bool fgc_no_order_finalizers_set(void) {
  return __atomic_load_n(&no_order_set, __ATOMIC_RELAXED);
}

/* Misuse is reported (gc_last_error, fatalerrors) in the name of call;
 * with call == NULL it is only returned (bdwgc's layer, which warns its own
 * way). */
static int refuse(int err, const char *call) {
  return call ? fgc_misuse(err, call) : err;
}

/* Sets, replaces or removes obj's finalizer.  With FIN_REPLACE in mode, an
 * existing finalizer is replaced (bdwgc's rule); without, it is an error
 * (Go's).  The finalizer replaced or removed is reported through ofn and
 * oarg, either of which may be NULL.  The object and arg are on this frame
 * until the special is linked, so a collection in between keeps them (Go's
 * KeepAlive in addfinalizer). */
int fgc_set_finalizer(void *obj, gc_finalizer_fn fn, void *arg, int mode,
                      gc_finalizer_fn *ofn, void **oarg, const char *call) {
  fgc_ensure_init();
  if (ofn)
    *ofn = NULL;
  if (oarg)
    *oarg = NULL;
  uintptr_t p = (uintptr_t)obj;
  if (!obj)
    return refuse(GC_ERR_INVALID, call);
  if (!fgc_register_caller(call ? call : "GC_register_finalizer"))
    return GC_ERR_NOMEM;
  /* Removing the finalizer of a live object needs no lookup: a special at
   * exactly p is attached to the object starting at p, which the caller
   * keeps alive.  Anything else takes the full check below.  In a
   * critical section, so that a stale p's span record is not reused under
   * it (internal.h, Spans). */
  if (!fn) {
    fgc_critical_enter();
    struct span *s = span_of(p);
    struct special *old =
        s && span_state(s) == SPAN_IN_USE
            ? fgc_special_remove(s, p - s->base, SPECIAL_FINALIZER)
            : NULL;
    fgc_critical_leave();
    if (old) {
      if (ofn)
        *ofn = ((struct special_finalizer *)old)->fn;
      if (oarg)
        *oarg = ((struct special_finalizer *)old)->arg;
      fgc_special_free(old);
      gc_keep_alive(obj);
      return GC_OK;
    }
  }
  struct span *s;
  uint32_t i;
  int kind = fgc_classify(obj, &s, &i);
  if (kind == FGC_IMMORTAL)
    return GC_OK;
  if (kind != GC_OK)
    return refuse(kind, call);
  if (s->base + (uintptr_t)i * s->elemsize != p && s->spc != SPC_TINY)
    return refuse(GC_ERR_NOT_AT_BASE, call);
  uintptr_t offset = p - s->base;
  struct special_finalizer *old = NULL;
  if (!fn) {
    old = (struct special_finalizer *)fgc_special_remove(s, offset,
                                                         SPECIAL_FINALIZER);
  } else {
    if (!__atomic_load_n(&on_demand, __ATOMIC_ACQUIRE))
      create_fing();
    if ((mode & ~FIN_REPLACE) == FIN_NO_ORDER &&
        !__atomic_load_n(&no_order_set, __ATOMIC_RELAXED))
      __atomic_store_n(&no_order_set, true, __ATOMIC_RELAXED);
    struct special_finalizer *f =
        (struct special_finalizer *)fgc_special_alloc();
    if (!f)
      return refuse(GC_ERR_NOMEM, call);
    f->s.offset = offset;
    f->s.kind = SPECIAL_FINALIZER;
    f->s.reported = 0;
    f->s.mode = (uint8_t)(mode & ~FIN_REPLACE);
    f->fn = fn;
    f->arg = arg;
    if (mode & FIN_REPLACE) {
      old = (struct special_finalizer *)fgc_special_replace(s, &f->s);
    } else if (!fgc_special_add(s, &f->s, false)) {
      fgc_special_free(&f->s);
      return refuse(GC_ERR_FINALIZER_SET, call);
    }
  }
  if (old) {
    if (ofn)
      *ofn = old->fn;
    if (oarg)
      *oarg = old->arg;
    fgc_special_free(&old->s);
  }
  gc_keep_alive(obj);
  gc_keep_alive(arg);
  return GC_OK;
}

int gc_set_finalizer(void *obj, gc_finalizer_fn fn, void *arg) {
  return fgc_set_finalizer(obj, fn, arg, FIN_ORDERED, NULL, NULL,
                           "gc_set_finalizer");
}

/* Fork: fin_lock is held across it.  When another thread forks, the child
 * has no runner: run_lock starts afresh, what a runner had yet to run
 * goes back to the head of the queue (the finalizer it was running when
 * the parent forked is the parent's), and the finalizer thread is created
 * again when there is work.  When a finalizer forks, the forking thread is
 * the runner: in the child it goes on with the records it took, holding
 * run_lock, and stays the finalizer thread if it was that (requeueing its
 * records ran them twice, after their records were freed). */
void fgc_finalizer_fork_prepare(void) { fgc_lock(&fin_lock); }
void fgc_finalizer_fork_parent(void) { fgc_unlock(&fin_lock); }

void fgc_finalizer_fork_child(void) {
  if (in_finalizer) {
    /* The queue, the batch and the counters go on as in the parent. */
    fgc_unlock(&fin_lock);
    __atomic_store_n(&fing_created, (uint32_t)is_fing, __ATOMIC_RELEASE);
    return;
  }
  if (running) {
    struct special_finalizer *last = running;
    while (next_of(last))
      last = next_of(last);
    last->s.next = finq_head ? &finq_head->s : NULL;
    if (!finq_head)
      finq_tail = last;
    finq_head = running;
    running = NULL;
  }
  uint64_t pending = 0;
  for (struct special_finalizer *f = finq_head; f; f = next_of(f))
    pending++;
  fin_queued = fin_run + pending;
  fgc_unlock(&fin_lock);
  pthread_mutex_init(&run_lock, NULL);
  __atomic_store_n(&fing_created, 0, __ATOMIC_RELEASE);
}

/* Finalizers queued and not yet returned (GC_should_invoke_finalizers). */
uint64_t fgc_finalizers_pending(void) {
  uint64_t queued, run;
  fgc_finalizer_stats(&queued, &run);
  return queued - run;
}
