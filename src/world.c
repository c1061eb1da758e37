/*
 * Threads and the world: the registry of threads whose stacks are roots,
 * and stopping them all for a collection.
 *
 * Registration.  Every thread that calls into finalgc is registered on its
 * first call (or explicitly, or by gc_pthread_create), and a pthread key
 * destructor unregisters it when it exits, however it exits (return,
 * pthread_exit, cancellation), so a dead thread's stack is never scanned
 * and a dead thread is never signalled.
 *
 * Stopping the world.  The collector, holding world_lock, makes world_epoch
 * odd and sends the suspend signal (SIGPWR, as bdwgc uses on Linux) to every
 * other registered thread that is not inside gc_do_blocking.  The handler
 * records the thread's stack pointer (the kernel has already saved every
 * register of the interrupted code in the signal frame, on the stack the
 * thread runs on, above that pointer; a thread running a handler on its
 * signal stack also records that stack, see struct stack_start),
 * acknowledges by storing the epoch, and waits on a futex until the epoch
 * changes.  The collector proceeds once every signalled thread has
 * acknowledged this epoch.  Starting the world makes the epoch even and
 * wakes them all.  The handler is installed with
 * SA_RESTART, so system calls Linux restarts (read, write, wait...) carry
 * on unaware; those it never restarts (nanosleep, poll, select...) may
 * return EINTR during a collection, as with any signal.
 *
 * Invariants:
 *   - A thread stops only outside critical sections (see internal.h): a
 *     signal that arrives inside one is deferred until the section ends.
 *   - world_lock serialises collections and changes to the thread list; it
 *     is held by the collector from before the world stops until after it
 *     starts, so threads start and exit only between collections.
 *   - A thread inside gc_do_blocking is not signalled: the collector scans
 *     its stack from where it entered.  When it leaves, it publishes that
 *     (seq_cst) and then checks the epoch, stopping itself if a collection
 *     is under way, so it never touches the heap while being scanned.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "internal.h"

static pthread_mutex_t world_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct gc_thread *threads;
static struct fixalloc thread_records;
static pthread_key_t thread_key;

/* The value a joinable thread returned from a gc_pthread_create start
 * function or passed to gc_pthread_exit, kept alive until gc_pthread_join
 * hands it over: once the thread has exited, its stack is no longer
 * scanned and the value lives only in the C library's thread descriptor,
 * which the collector does not see (bdwgc keeps a thread's status for the
 * same reason).  A thread id is reused only after its thread was joined or
 * detached, so a record older than a new thread's with the same id is
 * dead: keep_result drops it, which bounds what plain pthread_join leaves
 * behind. */
struct thread_result {
  pthread_t id;
  void *value;
  struct thread_result *next;
};
static struct thread_result *results;
static fgc_mutex results_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fixalloc result_records;
static unsigned next_shard;  /* the next registered thread's; world_lock */
static uint32_t world_epoch; /* odd while the world is stopping or stopped */
static uint32_t ack_count;   /* bumped by every acknowledgement: a wake-up */

__thread struct gc_thread *fgc_self __attribute__((tls_model("initial-exec")));
__thread int fgc_critical __attribute__((tls_model("initial-exec")));
__thread volatile int fgc_suspend_pending
    __attribute__((tls_model("initial-exec")));

static void thread_exit(void *arg);
static void suspend_handler(int sig);

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);
static int fork_armed;             /* fgc_world_init has run */
static __thread bool fork_prepared /* by this thread's fork_prepare */
    __attribute__((tls_model("initial-exec")));

void fgc_world_init(void) {
  fgc_fixalloc_init(&thread_records, sizeof(struct gc_thread));
  fgc_fixalloc_init(&result_records, sizeof(struct thread_result));
  if (pthread_key_create(&thread_key, thread_exit) != 0)
    fgc_fatal("pthread_key_create failed");
  if (fgc_prim_install_suspend_handler(fgc_opt.suspend_signal,
                                       suspend_handler) != 0)
    fgc_fatal("cannot install the handler for signal %d",
              fgc_opt.suspend_signal);
  __atomic_store_n(&fork_armed, 1, __ATOMIC_RELEASE);
}

/* The fork handlers are registered before main runs, ahead of the
 * program's: the C library runs prepare handlers in the reverse order of
 * registration and the others in order, so finalgc's prepare runs after
 * the program's, and its parent and child handlers before the program's,
 * as the lowest layer's should.  Registered at the first call, they ran
 * the other way round for handlers the program had registered before: a
 * program's prepare that takes its own lock, held by a thread allocating
 * under it, waited for that thread, which waited at finalgc's fork gate;
 * and a program's child handler that allocated found finalgc's locks still
 * held.  They do nothing until the collector is initialised. */
__attribute__((constructor(101))) static void register_fork_handlers(void) {
  if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
    fgc_fatal("pthread_atfork failed");
}

static void *lock_world(void *arg) {
  (void)arg;
  pthread_mutex_lock(&world_mutex);
  return NULL;
}

/* world_lock is a plain mutex, outside the critical-section scheme: its
 * holders are never asked to stop.  A registered thread waits for it as a
 * blocking thread, since the holder may be a collector that would
 * otherwise wait for it to stop. */
void fgc_world_lock(void) {
  if (pthread_mutex_trylock(&world_mutex) == 0)
    return;
  if (fgc_self)
    gc_do_blocking(lock_world, NULL);
  else
    pthread_mutex_lock(&world_mutex);
}
void fgc_world_unlock(void) { pthread_mutex_unlock(&world_mutex); }

struct gc_thread *fgc_threads(void) {
  return threads;
}

/* Stops the calling thread until the world restarts, after recording its
 * stack pointer; its callee-saved registers are spilled into this frame
 * first (the caller-saved ones are dead across the call, or were saved by
 * the kernel in a signal frame above).  A thread already stopped in this
 * epoch is inside its own wait, interrupted by a late suspend signal (one
 * sent before it entered gc_do_blocking, delivered only now, as
 * ThreadSanitizer delivers them): it returns to that wait, and t->stop,
 * which the collector may be reading, stays as it is. */
static __attribute__((noinline)) void suspend_self(struct gc_thread *t) {
  __builtin_unwind_init();
  uint32_t epoch = __atomic_load_n(&world_epoch, __ATOMIC_ACQUIRE);
  if (!(epoch & 1) ||
      __atomic_load_n(&t->acked_epoch, __ATOMIC_RELAXED) == epoch)
    return;
  t->stop = fgc_stack_start((uintptr_t)&epoch);
  __atomic_store_n(&t->acked_epoch, epoch, __ATOMIC_RELEASE);
  __atomic_add_fetch(&ack_count, 1, __ATOMIC_RELEASE);
  fgc_prim_futex_wake(&ack_count);
  if (__atomic_load_n(&fgc_fork_gate, __ATOMIC_ACQUIRE))
    return; /* a fork: run on, outside critical sections (see internal.h) */
  while (__atomic_load_n(&world_epoch, __ATOMIC_ACQUIRE) == epoch)
    fgc_prim_futex_wait(&world_epoch, epoch);
  __asm__ volatile("" : : "r"(&epoch) : "memory");
}

static void suspend_handler(int sig) {
  (void)sig;
  int saved_errno = errno;
  struct gc_thread *t = fgc_self;
  if (t && (__atomic_load_n(&world_epoch, __ATOMIC_ACQUIRE) & 1)) {
    if (fgc_critical > 0)
      fgc_suspend_pending = 1;
    else
      suspend_self(t);
  }
  errno = saved_errno;
}

/* Called by fgc_unlock when a suspend signal arrived inside a critical
 * section. */
void fgc_world_suspend_pending(void) {
  fgc_suspend_pending = 0;
  if (fgc_self)
    suspend_self(fgc_self);
}

/* How long the collector waits for acknowledgements before it asks the
 * kernel whether the threads it waits for still exist. */
#define GONE_CHECK_NS 10000000u

/* Whether t, not acknowledging, has exited: a thread that a key destructor
 * registered again in the C library's last destructor round exits
 * registered (see thread_exit).  The collector then neither waits for it
 * nor scans its stack, and drops it after the collection. */
static bool check_gone(struct gc_thread *t) {
  if (!t->gone && fgc_prim_thread_gone(t->tid))
    t->gone = true;
  return t->gone;
}

void fgc_world_stop(void) {
  struct gc_thread *self = fgc_self;
  uint32_t epoch =
      __atomic_add_fetch(&world_epoch, 1, __ATOMIC_SEQ_CST); /* odd */
  for (struct gc_thread *t = threads; t; t = t->next) {
    if (t == self || t->gone || __atomic_load_n(&t->blocking, __ATOMIC_SEQ_CST))
      continue;
    int err = pthread_kill(t->id, fgc_opt.suspend_signal);
    if (err != 0 && !check_gone(t))
      fgc_fatal("cannot stop a registered thread (pthread_kill: %s)",
                strerror(err));
  }
  for (bool timed_out = false;;) {
    uint32_t seen = __atomic_load_n(&ack_count, __ATOMIC_ACQUIRE);
    bool all = true;
    for (struct gc_thread *t = threads; t && all; t = t->next)
      all = t == self || t->gone ||
            __atomic_load_n(&t->acked_epoch, __ATOMIC_ACQUIRE) == epoch ||
            __atomic_load_n(&t->blocking, __ATOMIC_SEQ_CST) ||
            (timed_out && check_gone(t));
    if (all)
      return;
    timed_out = fgc_prim_futex_wait_ns(&ack_count, seen, GONE_CHECK_NS);
  }
}

/* Drops the records of threads found gone (check_gone), once the world
 * has restarted. */
void fgc_world_drop_gone(void) {
  for (struct gc_thread **pp = &threads; *pp;) {
    struct gc_thread *t = *pp;
    if (!t->gone) {
      pp = &t->next;
      continue;
    }
    *pp = t->next;
    fgc_cache_release(t->cache);
    fgc_fixalloc_free(&thread_records, t);
  }
}

void fgc_world_start(void) {
  __atomic_add_fetch(&world_epoch, 1, __ATOMIC_SEQ_CST); /* even */
  fgc_prim_futex_wake(&world_epoch);
}

/* Where the collector starts scanning a stopped (or blocking) thread's
 * stack. */
const struct stack_start *fgc_thread_scan_start(const struct gc_thread *t) {
  if (__atomic_load_n(&t->acked_epoch, __ATOMIC_ACQUIRE) ==
      __atomic_load_n(&world_epoch, __ATOMIC_ACQUIRE))
    return &t->stop;
  return &t->blocking_at;
}

/* The calling thread's scan start at sp.  The kernel is asked every time
 * whether sp is on the signal stack: a signal stack may be a buffer inside
 * the thread's own stack (a local array), and then sp is in bounds but
 * above the frames the handler interrupted.  Off its own stack and off its
 * signal stack, sp is on a stack finalgc does not know (roots.c reports
 * that).  Async-signal-safe. */
struct stack_start fgc_stack_start(uintptr_t sp) {
  struct stack_start s = {sp, 0, 0};
  (void)fgc_prim_signal_stack(sp, &s.sigstack_lo, &s.sigstack_hi);
  return s;
}

/* --- registration ------------------------------------------------------- */

/* Registers the calling thread; NULL if memory is exhausted. */
static struct gc_thread *register_self(void) {
  struct gc_thread *t = fgc_fixalloc_alloc(&thread_records);
  if (!t)
    return NULL;
  memset(t, 0, sizeof *t);
  t->id = pthread_self();
  t->tid = fgc_prim_gettid();
  if (fgc_prim_stack_bounds(&t->stack_lo, &t->stack_hi) != 0)
    fgc_fatal("cannot find the stack of the calling thread");
  t->cache = fgc_cache_new();
  if (!t->cache) {
    fgc_fixalloc_free(&thread_records, t);
    return NULL;
  }
  fgc_world_lock();
  t->shard = next_shard++ % CENTRAL_SHARDS;
  t->next = threads;
  threads = t;
  fgc_self = t;
  fgc_world_unlock();
  pthread_setspecific(thread_key, t);
  return t;
}

struct gc_thread *fgc_thread_self(void) {
  if (likely(fgc_self != NULL))
    return fgc_self;
  fgc_ensure_init();
  return register_self();
}

static void unregister(struct gc_thread *t) {
  fgc_world_lock();
  struct gc_thread **pp = &threads;
  while (*pp != t)
    pp = &(*pp)->next;
  *pp = t->next;
  fgc_cache_release(t->cache);
  fgc_self = NULL;
  fgc_world_unlock();
  fgc_fixalloc_free(&thread_records, t);
}

/* The key destructor.  The C library runs key destructors in up to
 * PTHREAD_DESTRUCTOR_ITERATIONS rounds, each in key order, so another
 * key's destructor may use the heap after this one ran: that registers
 * the thread again, and sets the key again, so this runs again in the
 * next round.  After the last round nothing does: the thread exits
 * registered, and the next collection finds it gone (check_gone). */
static void thread_exit(void *arg) { unregister(arg); }

/* The slow path of fgc_register_caller (internal.h). */
bool fgc_register_caller_slow(const char *call) {
  if (fgc_thread_self())
    return true;
  fgc_misuse(GC_ERR_NOMEM, call);
  return false;
}

int gc_register_thread(void) {
  return fgc_thread_self() ? GC_OK : GC_ERR_NOMEM;
}

int gc_unregister_thread(void) {
  struct gc_thread *t = fgc_self;
  if (!t)
    return GC_ERR_NOT_FOUND;
  pthread_setspecific(thread_key, NULL);
  unregister(t);
  return GC_OK;
}

/* Publishes that t is blocking, scanned from `at` up.  A collector that is
 * waiting for this thread's acknowledgement (its signal may not have been
 * handled yet) is woken to see that it need not wait. */
static void enter_blocking(struct gc_thread *t, struct stack_start at) {
  t->blocking_at = at;
  __atomic_store_n(&t->blocking, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&world_epoch, __ATOMIC_SEQ_CST) & 1) {
    __atomic_add_fetch(&ack_count, 1, __ATOMIC_RELEASE);
    fgc_prim_futex_wake(&ack_count);
  }
}

/* Leaves blocking mode: publishes it, then stops if a collection that
 * did not signal this thread is under way, so that the thread never
 * touches the heap while its stack is being scanned. */
static void leave_blocking(void *thread) {
  struct gc_thread *t = thread;
  __atomic_store_n(&t->blocking, 0, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&world_epoch, __ATOMIC_SEQ_CST) & 1)
    suspend_self(t);
}

/* While fn runs, collections neither signal this thread nor wait for it,
 * and scan its stack from `anchor` up.  __builtin_unwind_init makes this
 * frame save every callee-saved register, above anchor, so values the
 * callers keep in registers are on the scanned stack even after fn spills
 * and reuses those registers.  A thread that leaves fn by cancellation or
 * pthread_exit leaves blocking mode too, in a cleanup handler: its own
 * cleanup handlers and key destructors, which may allocate, run after it.
 * A call from inside fn (which must not touch the heap) only runs its own
 * fn: the outer call's anchor, higher up, stays the place to scan from. */
void *gc_do_blocking(void *(*fn)(void *), void *arg) {
  struct gc_thread *t = fgc_thread_self();
  if (!t || __atomic_load_n(&t->blocking, __ATOMIC_SEQ_CST))
    return fn(arg);
  __builtin_unwind_init();
  /* The result goes straight to a slot above the anchor: it stays a root
   * through the calls that leave blocking mode (in a register, it was
   * not, and a collection then could free it). */
  volatile struct {
    void *anchor;
    void *result;
  } frame = {arg, NULL};
  enter_blocking(t, fgc_stack_start((uintptr_t)&frame.anchor));
  pthread_cleanup_push(leave_blocking, t);
  frame.result = fn(arg);
  pthread_cleanup_pop(0);
  leave_blocking(t);
  return frame.result;
}

/* bdwgc's GC_call_with_gc_active: inside gc_do_blocking, runs fn(arg) as
 * an ordinary thread again (leaving blocking mode as gc_do_blocking's
 * return does, stopping if a collection is under way), then goes back to
 * blocking with the outer anchor: fn's frames are gone by then. */
void *fgc_call_with_gc_active(void *(*fn)(void *), void *arg) {
  struct gc_thread *t = fgc_thread_self();
  if (!t || !__atomic_load_n(&t->blocking, __ATOMIC_SEQ_CST))
    return fn(arg);
  struct stack_start outer = t->blocking_at;
  __atomic_store_n(&t->blocking, 0, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&world_epoch, __ATOMIC_SEQ_CST) & 1)
    suspend_self(t);
  void *result = fn(arg);
  enter_blocking(t, outer);
  return result;
}

/* A new thread is not registered until it runs, so until then only the
 * creating thread's stack holds arg: the creator waits (on the started
 * flag) until the child has registered and copied what it needs. */
struct start_args {
  void *(*start)(void *);
  void *arg;
  bool joinable;
  uint32_t started;
};

static void drop_result(pthread_t t, bool match_value, void *value);

static void keep_result(void *value) {
  drop_result(pthread_self(), false, NULL);
  struct thread_result *r = fgc_fixalloc_alloc(&result_records);
  if (!r) {
    fgc_message("out of memory: the value a thread returned is not kept "
                "alive until it is joined");
    return;
  }
  r->id = pthread_self();
  r->value = value;
  fgc_lock(&results_lock);
  r->next = results;
  results = r;
  fgc_unlock(&results_lock);
}

/* Forgets the kept result of thread t, or with match_value, only a result
 * of t that is value: once t is joined, its id may already belong to a
 * new thread that has exited with a value of its own kept (and dropped
 * t's record then), which the join must not drop. */
static void drop_result(pthread_t t, bool match_value, void *value) {
  struct thread_result *r = NULL;
  fgc_lock(&results_lock);
  for (struct thread_result **p = &results; *p; p = &(*p)->next) {
    if (pthread_equal((*p)->id, t) && (!match_value || (*p)->value == value)) {
      r = *p;
      *p = r->next;
      break;
    }
  }
  fgc_unlock(&results_lock);
  if (r)
    fgc_fixalloc_free(&result_records, r);
}

/* With the world stopped; an unregistered thread (one whose registration
 * failed, or that unregistered itself before returning) may still be
 * inside results_lock, and is not stopped, so it will leave. */
void fgc_thread_results_mark(void) {
  pthread_mutex_lock(&results_lock);
  for (struct thread_result *r = results; r; r = r->next)
    fgc_mark_range((uintptr_t)&r->value, (uintptr_t)(&r->value + 1));
  pthread_mutex_unlock(&results_lock);
}

static void *thread_start(void *p) {
  struct start_args *a = p;
  void *(*start)(void *) = a->start;
  void *arg = a->arg;
  bool joinable = a->joinable;
  if (!fgc_thread_self())
    fgc_fatal("out of memory registering a new thread");
  __atomic_store_n(&a->started, 1, __ATOMIC_RELEASE);
  fgc_prim_futex_wake(&a->started);
  void *value = start(arg);
  if (joinable && value)
    keep_result(value);
  return value;
}

void gc_pthread_exit(void *value) {
  fgc_ensure_init();
  pthread_attr_t attr;
  int detach = PTHREAD_CREATE_DETACHED;
  if (value && pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getdetachstate(&attr, &detach);
    pthread_attr_destroy(&attr);
  }
  if (detach == PTHREAD_CREATE_JOINABLE)
    keep_result(value);
  pthread_exit(value);
}

static void *wait_started(void *p) {
  struct start_args *a = p;
  while (!__atomic_load_n(&a->started, __ATOMIC_ACQUIRE))
    fgc_prim_futex_wait(&a->started, 0);
  return NULL;
}

int gc_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                      void *(*start)(void *), void *arg) {
  fgc_ensure_init();
  int detach = PTHREAD_CREATE_JOINABLE;
  if (attr)
    pthread_attr_getdetachstate(attr, &detach);
  struct start_args a = {start, arg, detach == PTHREAD_CREATE_JOINABLE, 0};
  int err = pthread_create(t, attr, thread_start, &a);
  if (err != 0)
    return err;
  /* The child may wait for a collection to end before it can register,
   * and that collection must not wait for us. */
  gc_do_blocking(wait_started, &a);
  return 0;
}

struct join_args {
  pthread_t t;
  void **value;
  int err;
};

static void *join_blocking(void *p) {
  struct join_args *a = p;
  a->err = pthread_join(a->t, a->value);
  return NULL;
}

int gc_pthread_join(pthread_t t, void **result) {
  fgc_ensure_init();
  /* value is in this frame, above gc_do_blocking's, so it is scanned while
   * the join blocks; the kept result covers it until the join returns. */
  void *value = NULL;
  struct join_args a = {t, &value, 0};
  gc_do_blocking(join_blocking, &a);
  if (a.err != 0)
    return a.err;
  drop_result(t, true, value);
  if (result)
    *result = value;
  return 0;
}

/* The record goes first: t's id cannot be reused before pthread_detach
 * returns, and a thread that exits detached keeps nothing (one that exits
 * in between leaves a record that a later thread with its id drops). */
int gc_pthread_detach(pthread_t t) {
  fgc_ensure_init();
  drop_result(t, false, NULL);
  return pthread_detach(t);
}

/* --- fork --------------------------------------------------------------- */

/* Set from fork_prepare until the fork is over (see internal.h). */
uint32_t fgc_fork_gate;

/* Called by fgc_critical_enter while the gate is set: for an outermost
 * section, leaves it and waits for the fork to end (a nested one goes on:
 * its thread is inside a section already, which the fork waits for). */
void fgc_fork_gate_wait(void) {
  if (fgc_critical > 1)
    return;
  while (__atomic_load_n(&fgc_fork_gate, __ATOMIC_ACQUIRE)) {
    fgc_critical--;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (fgc_suspend_pending)
      fgc_world_suspend_pending();
    fgc_prim_futex_wait(&fgc_fork_gate, 1);
    fgc_critical++;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
  }
}

/* The end of a fork, in parent and child: the world restarts, the gate
 * opens, and the forking thread leaves the section fork_prepare opened. */
static void fork_end(void) {
  fgc_world_start();
  __atomic_store_n(&fgc_fork_gate, 0, __ATOMIC_RELEASE);
  fgc_prim_futex_wake(&fgc_fork_gate);
  fgc_critical_leave();
  fgc_world_unlock();
}

/* fork() copies only the calling thread, so every lock another thread
 * might hold is taken first, in lock order: the child then inherits
 * consistent state and unlocks it all.  world_lock first means no
 * collection is under way.  Then the gate is set and every registered
 * thread signalled, as for a collection, so that none is inside a critical
 * section, nor can enter one, when fork copies memory: state that critical
 * sections guard without a lock (a thread's cache and the span it
 * allocates from, a sweep under way) is never copied half updated (a child
 * once inherited a span whose alloc_cache had moved past a slot its
 * freeindex had not, and handed out a live slot again).  The threads are
 * not parked: one parked inside malloc held its arena lock, which the C
 * library's fork takes after these handlers, and fork hung.  The calling
 * thread opens a critical section first, so that its own locks below do
 * not stop it at the gate.
 * Unregistered threads are not stopped, but they sweep nothing: every call
 * registers its thread first.  In the child, the other threads are gone: their
 * records and caches are dropped (a cache's spans go back to the central
 * lists), the world restarts with nobody to wake, and the finalizer and
 * marker threads are started again on demand. */
static void fork_prepare(void) {
  if (!__atomic_load_n(&fork_armed, __ATOMIC_ACQUIRE))
    return;
  fork_prepared = true;
  fgc_world_lock();
  fgc_critical_enter();
  __atomic_store_n(&fgc_fork_gate, 1, __ATOMIC_SEQ_CST);
  fgc_world_stop();
  fgc_central_lock_all();
  fgc_weak_lock_all();
  fgc_typed_lock_all();
  fgc_special_lock_all();
  fgc_finalizer_fork_prepare();
  fgc_cleanup_fork_prepare();
  fgc_roots_lock_all();
  fgc_lock(&results_lock);
  fgc_fixalloc_lock_all();
}

static void unlock_all(void) {
  fgc_fixalloc_unlock_all();
  fgc_unlock(&results_lock);
  fgc_roots_unlock_all();
  fgc_special_unlock_all();
  fgc_typed_unlock_all();
  fgc_weak_unlock_all();
  fgc_central_unlock_all();
}

static void fork_parent(void) {
  if (!fork_prepared)
    return;
  fork_prepared = false;
  fgc_cleanup_fork_parent();
  fgc_finalizer_fork_parent();
  unlock_all();
  fork_end();
}

static void fork_child(void) {
  if (!fork_prepared)
    return;
  fork_prepared = false;
  fgc_mark_fork_child();
  fgc_cleanup_fork_child();
  fgc_finalizer_fork_child();
  unlock_all();
  /* The threads whose results were kept are the parent's: the child
   * cannot join them. */
  for (struct thread_result *r = results, *rn; r; r = rn) {
    rn = r->next;
    fgc_fixalloc_free(&result_records, r);
  }
  results = NULL;
  struct gc_thread *self = fgc_self, *t = threads, *next;
  threads = NULL;
  for (; t; t = next) {
    next = t->next;
    if (t == self) {
      t->next = threads;
      threads = t;
      t->id = pthread_self();
      continue;
    }
    fgc_cache_release(t->cache);
    fgc_fixalloc_free(&thread_records, t);
  }
  fork_end();
}
