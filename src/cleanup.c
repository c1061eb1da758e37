/*
 * Cleanups: gc_add_cleanup, gc_cleanup_stop, the cleanup queue and its
 * threads (Go 1.24's mcleanup.go, with Go 1.25's concurrent cleanups).
 *
 * A cleanup is a special record on its object's span (special.c).  When the
 * collector finds the object unreachable and it has no finalizer, the
 * records of all its cleanups move to the tail of the cleanup queue (world
 * stopped, no copy) and the object is freed by the same collection.
 *
 * Running.  max(CPUs/4, 1) cleanup threads (Go's runCleanups goroutines)
 * are started on first use.  Each takes up to RUN_BATCH records from the
 * head of the queue at a time and runs them in order, so cleanups may run
 * concurrently with each other, unlike finalizers.  With finalize-on-demand
 * the threads stay idle and gc_run_finalizers runs the queue instead.
 *
 * Invariants:
 *   - cleanup_lock guards the queue, the counters and each runner's
 *     in-flight batch, except that the collector appends while the world is
 *     stopped (no thread is then inside the lock's critical section).
 *   - Queued records carry increasing seq numbers; a runner's batch is a
 *     run of them, and its first seq is recorded in the runner's slot while
 *     it runs, so gc_wait_cleanups can tell when everything queued before
 *     a given seq has returned: the queue's head is later, and no runner
 *     holds an earlier batch.
 *   - Queued and in-flight records are roots (their arg); a record's arg is
 *     on its runner's stack while it runs, and the record is freed first.
 *   - Handles name a cleanup by a unique id and hide the object's address,
 *     so they neither keep the object alive nor stop another's cleanup.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <unistd.h>

#include "internal.h"

#define RUN_BATCH 64
#define MAX_RUNNERS 17 /* up to 16 threads, and one slot for on-demand */
#define ON_DEMAND_SLOT (MAX_RUNNERS - 1)

struct runner {
  struct special_cleanup *running; /* rest of the batch it took */
  uint64_t batch_first;            /* seq of the batch's first record, or 0 */
  uint64_t batch_n;                /* records in that batch */
};

static fgc_mutex cleanup_lock = FGC_MUTEX_INIT;
static struct special_cleanup *q_head, *q_tail;
static uint64_t q_seq; /* seq of the last record queued */
static uint64_t queued, ran;
static struct runner runners[MAX_RUNNERS];
static uint64_t next_id;
static uint32_t work_seq, done_seq, done_waiters;
static uint32_t threads_started;
static pthread_mutex_t on_demand_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int in_cleanup __attribute__((tls_model("initial-exec")));

bool fgc_in_cleanup(void) { return in_cleanup; }
/* The runner slot the calling thread runs cleanups on, and whether it is
 * a cleanup thread (see fgc_cleanup_fork_child). */
static __thread struct runner *my_runner
    __attribute__((tls_model("initial-exec")));
static __thread int is_cleanup_thread
    __attribute__((tls_model("initial-exec")));

static struct special_cleanup *next_of(const struct special_cleanup *c) {
  return (struct special_cleanup *)c->s.next;
}

/* --- the queue (world stopped) ----------------------------------------- */

void fgc_cleanupq_push(struct special_cleanup *c) {
  c->s.seq = ++q_seq;
  c->s.next = NULL;
  if (q_tail)
    q_tail->s.next = &c->s;
  else
    q_head = c;
  q_tail = c;
  queued++;
}

static void mark_list(struct special_cleanup *c) {
  for (; c; c = next_of(c))
    fgc_mark_range((uintptr_t)&c->arg, (uintptr_t)(&c->arg + 1));
}

void fgc_cleanupq_mark(void) {
  mark_list(q_head);
  for (int i = 0; i < MAX_RUNNERS; i++)
    mark_list(runners[i].running);
}

uint64_t fgc_cleanups_queued(void) {
  fgc_lock(&cleanup_lock);
  uint64_t n = queued;
  fgc_unlock(&cleanup_lock);
  return n;
}

static void stats(uint64_t *q, uint64_t *r) {
  fgc_lock(&cleanup_lock);
  *q = queued;
  *r = ran;
  fgc_unlock(&cleanup_lock);
}

/* --- running ------------------------------------------------------------- */

/* Takes a batch for runner r; returns how many records it took. */
static uint64_t take_batch(struct runner *r) {
  fgc_lock(&cleanup_lock);
  struct special_cleanup *first = q_head, *last = q_head;
  uint64_t n = 0;
  if (first) {
    n = 1;
    while (n < RUN_BATCH && next_of(last)) {
      last = next_of(last);
      n++;
    }
    q_head = next_of(last);
    if (!q_head)
      q_tail = NULL;
    last->s.next = NULL;
    r->batch_first = first->s.seq;
  }
  r->batch_n = n;
  r->running = first;
  fgc_unlock(&cleanup_lock);
  return n;
}

/* Wakes the threads in gc_wait_cleanups to look again (also when
 * finalize-on-demand is turned on: they must then run the queue). */
void fgc_cleanups_wake_waiters(void) {
  __atomic_add_fetch(&done_seq, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&done_waiters, __ATOMIC_SEQ_CST))
    fgc_prim_futex_wake(&done_seq);
}

static void finish_batch(struct runner *r, uint64_t n) {
  fgc_lock(&cleanup_lock);
  ran += n;
  r->batch_first = 0;
  fgc_unlock(&cleanup_lock);
  fgc_cleanups_wake_waiters();
}

/* Runs batches on runner slot r until the queue is empty. */
static int run_queue(struct runner *r, bool on_thread) {
  int total = 0;
  uint64_t n;
  my_runner = r;
  /* A cleanup thread stops between batches once cleanups are on demand. */
  while (!(on_thread && fgc_on_demand()) && (n = take_batch(r)) != 0) {
    for (struct special_cleanup *c = r->running; c;) {
      gc_cleanup_fn fn = c->fn;
      void *arg = c->arg;
      struct special_cleanup *next = next_of(c);
      __atomic_store_n(&r->running, next, __ATOMIC_RELEASE);
      fgc_special_free(&c->s);
      in_cleanup = 1;
      fn(arg);
      in_cleanup = 0;
      gc_keep_alive(arg);
      c = next;
    }
    finish_batch(r, n);
    total += (int)n;
  }
  return total;
}

static void *wait_for_work(void *arg) {
  uint32_t seen = *(uint32_t *)arg;
  while (__atomic_load_n(&work_seq, __ATOMIC_ACQUIRE) == seen)
    fgc_prim_futex_wait(&work_seq, seen);
  return NULL;
}

static void *cleanup_thread(void *arg) {
  struct runner *r = arg;
  pthread_setname_np(pthread_self(), "finalgc-cleanup");
  is_cleanup_thread = 1;
  for (;;) {
    uint32_t seen = __atomic_load_n(&work_seq, __ATOMIC_ACQUIRE);
    if (!fgc_on_demand())
      run_queue(r, true);
    gc_do_blocking(wait_for_work, &seen);
  }
  return NULL;
}

/* Starts the cleanup threads once (Go creates its cleanup goroutines from
 * AddCleanup the same way). */
static void start_threads(void) {
  uint32_t expected = 0;
  if (__atomic_load_n(&threads_started, __ATOMIC_ACQUIRE) ||
      !__atomic_compare_exchange_n(&threads_started, &expected, 1, false,
                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    return;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int n = cpus / 4 > 1 ? (int)(cpus / 4) : 1;
  if (n > MAX_RUNNERS - 1)
    n = MAX_RUNNERS - 1;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (int i = 0; i < n; i++) {
    pthread_t t;
    int err = gc_pthread_create(&t, &attr, cleanup_thread, &runners[i]);
    if (err != 0)
      fgc_fatal("cannot start a cleanup thread: error %d", err);
  }
  pthread_attr_destroy(&attr);
}

/* Called by the collecting thread after the world restarts; returns
 * whether the collection queued cleanups. */
bool fgc_cleanups_after_gc(uint64_t queued_before) {
  if (fgc_cleanups_queued() == queued_before)
    return false;
  if (!fgc_on_demand())
    start_threads();
  __atomic_add_fetch(&work_seq, 1, __ATOMIC_RELEASE);
  fgc_prim_futex_wake(&work_seq);
  return true;
}

/* Sets the cleanup threads to work on what is queued, starting them if
 * there is work and they are not running yet: when finalize-on-demand is
 * turned off (cleanups queued meanwhile woke threads that left them for
 * the program to run), and before gc_wait_cleanups waits for them. */
void fgc_cleanups_kick(void) {
  fgc_lock(&cleanup_lock);
  bool work = q_head != NULL;
  fgc_unlock(&cleanup_lock);
  if (!work || fgc_on_demand())
    return;
  start_threads();
  __atomic_add_fetch(&work_seq, 1, __ATOMIC_RELEASE);
  fgc_prim_futex_wake(&work_seq);
}

static void *lock_on_demand(void *arg) {
  (void)arg;
  pthread_mutex_lock(&on_demand_lock);
  return NULL;
}

/* Runs the pending cleanups on the calling thread (finalize-on-demand). */
int fgc_run_cleanups(void) {
  if (in_cleanup)
    return 0;
  gc_do_blocking(lock_on_demand, NULL);
  int n = run_queue(&runners[ON_DEMAND_SLOT], false);
  pthread_mutex_unlock(&on_demand_lock);
  return n;
}

/* Whether every cleanup with seq <= target has returned. */
static bool done_up_to(uint64_t target) {
  fgc_lock(&cleanup_lock);
  bool done = !q_head || q_head->s.seq > target;
  for (int i = 0; i < MAX_RUNNERS && done; i++)
    done = runners[i].batch_first == 0 || runners[i].batch_first > target;
  fgc_unlock(&cleanup_lock);
  return done;
}

static void *wait_for_done(void *arg) {
  uint32_t seen = *(uint32_t *)arg;
  __atomic_add_fetch(&done_waiters, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&done_seq, __ATOMIC_SEQ_CST) == seen)
    fgc_prim_futex_wait(&done_seq, seen);
  __atomic_sub_fetch(&done_waiters, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

void gc_wait_cleanups(void) {
  fgc_ensure_init();
  if (in_cleanup)
    return;
  fgc_lock(&cleanup_lock);
  uint64_t target = q_seq;
  fgc_unlock(&cleanup_lock);
  for (;;) {
    uint32_t seen = __atomic_load_n(&done_seq, __ATOMIC_ACQUIRE);
    if (done_up_to(target))
      return;
    if (fgc_on_demand()) {
      /* Nothing to run: a cleanup thread still ends its batch. */
      if (fgc_run_cleanups() == 0)
        gc_do_blocking(wait_for_done, &seen);
    } else {
      fgc_cleanups_kick();
      gc_do_blocking(wait_for_done, &seen);
    }
  }
}

/* --- the API ------------------------------------------------------------- */

gc_cleanup gc_add_cleanup(void *ptr, gc_cleanup_fn fn, void *arg) {
  static const char call[] = "gc_add_cleanup";
  gc_cleanup none = {0, 0};
  fgc_ensure_init();
  uintptr_t p = (uintptr_t)ptr;
  if (!ptr || !fn) {
    fgc_misuse(GC_ERR_INVALID, call);
    return none;
  }
  if (!fgc_register_caller(call))
    return none;
  struct span *s;
  uint32_t i;
  int kind = fgc_classify(ptr, &s, &i);
  if (kind != GC_OK) {
    if (kind != FGC_IMMORTAL)
      fgc_misuse(kind, call);
    return none;
  }
  uintptr_t base = s->base + (uintptr_t)i * s->elemsize;
  uintptr_t a = (uintptr_t)arg;
  if (a == p) {
    fgc_misuse(GC_ERR_PTR_IS_ARG, call);
    return none;
  }
  if (s->spc != SPC_TINY && a >= base && a < base + s->elemsize) {
    fgc_misuse(GC_ERR_PTR_IN_ARG, call);
    return none;
  }
  if (!fgc_on_demand())
    start_threads();
  struct special_cleanup *c = (struct special_cleanup *)fgc_special_alloc();
  if (!c) {
    fgc_misuse(GC_ERR_NOMEM, call);
    return none;
  }
  c->s.offset = p - s->base;
  c->s.kind = SPECIAL_CLEANUP;
  c->s.reported = 0;
  c->fn = fn;
  c->arg = arg;
  c->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
  fgc_special_add(s, &c->s, true);
  gc_keep_alive(ptr);
  gc_keep_alive(arg);
  return (gc_cleanup){c->id, ~p};
}

void gc_cleanup_stop(gc_cleanup h) {
  if (h.id == 0 || !fgc_register_caller("gc_cleanup_stop"))
    return;
  /* The object may be gone: in a critical section, its span's record
   * cannot be reused under the lookup (internal.h, Spans). */
  uintptr_t p = ~h.ptr;
  fgc_critical_enter();
  struct span *s = span_of(p);
  if (s && span_state(s) == SPAN_IN_USE)
    fgc_special_remove_cleanup(s, p - s->base, h.id);
  fgc_critical_leave();
}

void fgc_cleanup_stats(uint64_t *q, uint64_t *r) { stats(q, r); }

/* --- fork --------------------------------------------------------------- */

void fgc_cleanup_fork_prepare(void) { fgc_lock(&cleanup_lock); }
void fgc_cleanup_fork_parent(void) { fgc_unlock(&cleanup_lock); }

/* The child has no cleanup threads: what they had yet to run goes back to
 * the head of the queue (in seq order), and they start again on demand.
 * When a cleanup forks, the forking thread is a runner: in the child it
 * goes on with its own batch (requeued, that batch ran twice), holding
 * on_demand_lock if it runs on demand, and a cleanup thread stays the
 * child's only one.  `ran` grows by a whole batch when the batch ends, so
 * its batch counts as queued. */
void fgc_cleanup_fork_child(void) {
  struct runner *mine = in_cleanup ? my_runner : NULL;
  for (int i = MAX_RUNNERS - 1; i >= 0; i--) {
    struct special_cleanup *c = runners[i].running;
    if (&runners[i] == mine)
      continue;
    /* A runner inside the last cleanup of its batch has running == NULL
     * but its batch_first still set: left so, waiters would wait for
     * that batch for ever. */
    runners[i].batch_first = 0;
    if (!c)
      continue;
    struct special_cleanup *last = c;
    while (next_of(last))
      last = next_of(last);
    last->s.next = q_head ? &q_head->s : NULL;
    if (!q_head)
      q_tail = last;
    q_head = c;
    runners[i].running = NULL;
  }
  uint64_t pending = mine ? mine->batch_n : 0;
  for (struct special_cleanup *c = q_head; c; c = next_of(c))
    pending++;
  queued = ran + pending;
  fgc_unlock(&cleanup_lock);
  if (!mine || is_cleanup_thread)
    pthread_mutex_init(&on_demand_lock, NULL);
  __atomic_store_n(&threads_started, mine && is_cleanup_thread ? 1 : 0,
                   __ATOMIC_RELEASE);
}
