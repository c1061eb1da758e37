/* Threads, with GC_THREADS defined before <gc.h>: pthread_create /
 * pthread_join / pthread_detach / pthread_exit / pthread_cancel through
 * gc.h's redirects, GC_pthread_create / GC_pthread_join / GC_pthread_detach
 * called explicitly, GC_allow_register_threads + GC_register_my_thread /
 * GC_unregister_my_thread for a thread made with the real pthread_create,
 * GC_get_stack_base, GC_thread_is_registered, GC_do_blocking,
 * GC_call_with_gc_active, and on-demand finalizers run by the thread that
 * calls GC_invoke_finalizers.
 *
 * Synchronisation uses semaphores; sem_wait may fail with EINTR when a
 * collector signals the waiting thread, so it is retried. */
#define GC_THREADS

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdint.h>

/* The real pthread_create / pthread_join, taken before <gc.h> redirects
 * the names to the collector's wrappers. */
static int (*const raw_pthread_create)(pthread_t *, const pthread_attr_t *,
                                       void *(*)(void *),
                                       void *) = pthread_create;
static int (*const raw_pthread_join)(pthread_t, void **) = pthread_join;

#include <gc.h>

#include "compat_helper.h"

static pthread_t main_thread;

static void sem_wait_retry(sem_t *s) {
  while (sem_wait(s) != 0)
    REQUIRE(errno == EINTR);
}

struct node {
  struct node *next;
  long value;
};

static NOINLINE struct node *make_list(long n, long seed) {
  struct node *head = NULL;
  for (long i = 0; i < n; i++) {
    struct node *nd = GC_malloc(sizeof *nd);
    REQUIRE(nd != NULL);
    nd->value = seed + i;
    nd->next = head;
    head = nd;
  }
  return head;
}

static int list_ok(const struct node *n, long count, long seed) {
  long c = 0, s = 0;
  for (; n; n = n->next) {
    s += n->value;
    c++;
  }
  return c == count && s == count * seed + count * (count - 1) / 2;
}

static NOINLINE void churn(int n) {
  for (int i = 0; i < n; i++) {
    long *p = GC_malloc(16 + (i % 16) * 16);
    REQUIRE(p != NULL);
    p[0] = i;
  }
}

/* --- data on a thread's stack survives collections forced elsewhere --- */

enum { THREADS = 4, LIST = 5000 };

static sem_t ready, go;
static GC_word stack_probe[THREADS];

struct stack_arg {
  int index;
  int registered;
  int survived;
  int probe_kept;
};

static void *stack_roots_thread(void *p) {
  struct stack_arg *a = p;
  a->registered = GC_thread_is_registered();
  struct node *volatile list = make_list(LIST, a->index * 100000L);
  stack_probe[a->index] = GC_HIDE_POINTER(list);
  if (GC_general_register_disappearing_link((void **)&stack_probe[a->index],
                                            list) != GC_SUCCESS)
    return NULL;
  sem_post(&ready);
  sem_wait_retry(&go);
  a->probe_kept = stack_probe[a->index] == GC_HIDE_POINTER(list);
  a->survived = list_ok(list, LIST, a->index * 100000L);
  GC_unregister_disappearing_link((void **)&stack_probe[a->index]);
  return a;
}

TEST(thread_stacks_are_roots) {
  pthread_t t[THREADS];
  struct stack_arg args[THREADS];
  sem_init(&ready, 0, 0);
  sem_init(&go, 0, 0);
  for (int i = 0; i < THREADS; i++) {
    args[i] = (struct stack_arg){.index = i};
    REQUIRE(pthread_create(&t[i], NULL, stack_roots_thread, &args[i]) == 0);
  }
  for (int i = 0; i < THREADS; i++)
    sem_wait_retry(&ready);
  for (int r = 0; r < 4; r++) {
    churn(20000);
    GC_word before = GC_get_gc_no();
    collect_once();
    CHECK(GC_get_gc_no() > before);
  }
  for (int i = 0; i < THREADS; i++)
    sem_post(&go);
  for (int i = 0; i < THREADS; i++) {
    void *ret = NULL;
    CHECK(pthread_join(t[i], &ret) == 0);
    CHECK(ret == &args[i]);
    CHECK(args[i].registered);
    CHECKF(args[i].survived && args[i].probe_kept,
           "thread %d: list on its stack %s, link %s", i,
           args[i].survived ? "intact" : "damaged",
           args[i].probe_kept ? "kept" : "cleared");
  }
  sem_destroy(&ready);
  sem_destroy(&go);
}

/* --- exit, detach, cancel --- */

static NOINLINE void exit_from_nested(void *value) {
  churn(100);
  pthread_exit(value);
}

static void *exiting_thread(void *p) {
  exit_from_nested(p);
  return NULL; /* not reached */
}

static sem_t detached_done;

static void *detached_thread(void *p) {
  (void)p;
  struct node *volatile l = make_list(1000, 1);
  collect_once();
  int ok = list_ok(l, 1000, 1);
  sem_post(&detached_done);
  return ok ? NULL : (void *)1;
}

static _Atomic int cancel_cleanup_ran, cancel_loops;

static void cancel_cleanup(void *p) {
  (void)p;
  cancel_cleanup_ran = 1;
}

static void *cancellable_thread(void *p) {
  pthread_cleanup_push(cancel_cleanup, NULL);
  sem_post((sem_t *)p);
  for (;;) {
    churn(10);
    sched_yield();
    cancel_loops++;
    /* The cancellation point.  (Not a blocking call such as usleep:
     * ThreadSanitizer loses track of the locks taken by a thread whose
     * cancellation unwinds through one of its interceptors.) */
    pthread_testcancel();
  }
  pthread_cleanup_pop(0);
  return NULL;
}

static void *return_arg(void *p) { return p; }

TEST(join_exit_detach_cancel) {
  /* pthread_exit's value reaches pthread_join. */
  pthread_t t;
  static int token;
  void *ret = NULL;
  REQUIRE(pthread_create(&t, NULL, exiting_thread, &token) == 0);
  CHECK(pthread_join(t, &ret) == 0);
  CHECK(ret == &token);

  /* Detached threads finish on their own. */
  sem_init(&detached_done, 0, 0);
  for (int i = 0; i < 4; i++) {
    REQUIRE(pthread_create(&t, NULL, detached_thread, NULL) == 0);
    CHECK(pthread_detach(t) == 0);
  }
  for (int i = 0; i < 4; i++)
    sem_wait_retry(&detached_done);
  sem_destroy(&detached_done);
  usleep(20000); /* let them exit */

  /* Cancellation.  Collect while the thread runs, then let it go round its
   * loop twice before cancelling it: with bdwgc 8.2 on glibc 2.36, a
   * cancellation that arrives while the thread is still handling the
   * collector's suspend signal makes pthread_join return NULL instead of
   * PTHREAD_CANCELED (the thread is cancelled all the same). */
  sem_t started;
  sem_init(&started, 0, 0);
  cancel_cleanup_ran = cancel_loops = 0;
  REQUIRE(pthread_create(&t, NULL, cancellable_thread, &started) == 0);
  sem_wait_retry(&started);
  collect_once(); /* while it runs */
  int loops = cancel_loops;
  while (cancel_loops < loops + 2)
    usleep(500);
  CHECK(pthread_cancel(t) == 0);
  ret = NULL;
  CHECK(pthread_join(t, &ret) == 0);
  CHECK(ret == PTHREAD_CANCELED);
  CHECK(cancel_cleanup_ran);
  sem_destroy(&started);

  /* Collections still work after all these threads are gone, and new
   * threads can be made. */
  for (int i = 0; i < 3; i++) {
    GC_word before = GC_get_gc_no();
    collect_once();
    CHECK(GC_get_gc_no() > before);
  }
  for (int i = 0; i < 8; i++) {
    REQUIRE(pthread_create(&t, NULL, return_arg, &token) == 0);
    ret = NULL;
    CHECK(pthread_join(t, &ret) == 0 && ret == &token);
  }
}

/* --- GC_pthread_* called explicitly --- */

static void *explicit_thread(void *p) {
  struct node *volatile l = make_list(2000, 7);
  collect_once();
  *(int *)p = list_ok(l, 2000, 7) && GC_thread_is_registered();
  return p;
}

TEST(gc_pthread_create_explicitly) {
  pthread_t t;
  int ok = 0;
  REQUIRE(GC_pthread_create(&t, NULL, explicit_thread, &ok) == 0);
  void *ret = NULL;
  CHECK(GC_pthread_join(t, &ret) == 0);
  CHECK(ret == &ok && ok);

  sem_init(&detached_done, 0, 0);
  REQUIRE(GC_pthread_create(&t, NULL, detached_thread, NULL) == 0);
  CHECK(GC_pthread_detach(t) == 0);
  sem_wait_retry(&detached_done);
  sem_destroy(&detached_done);
  usleep(10000);
  collect_once();
}

/* --- stack base --- */

struct stack_base_result {
  int rc;
  int below_base;
  int near_base;
};

static NOINLINE void check_stack_base(struct stack_base_result *r) {
  struct GC_stack_base sb;
  volatile char local = 0;
  r->rc = GC_get_stack_base(&sb);
  uintptr_t base = (uintptr_t)sb.mem_base, here = (uintptr_t)&local;
  /* The stack grows down on every Linux target: the cold end is above. */
  r->below_base = r->rc == GC_SUCCESS && here < base;
  r->near_base = r->rc == GC_SUCCESS && base - here < ((uintptr_t)64 << 20);
}

static void *stack_base_thread(void *p) {
  check_stack_base(p);
  return NULL;
}

TEST(get_stack_base) {
  struct stack_base_result r;
  check_stack_base(&r);
  CHECK(r.rc == GC_SUCCESS);
  CHECK(r.below_base && r.near_base);
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, stack_base_thread, &r) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(r.rc == GC_SUCCESS);
  CHECK(r.below_base && r.near_base);
}

/* --- a thread made with the real pthread_create registers itself --- */

struct raw_arg {
  int was_registered;
  int stack_base_rc;
  int register_rc;
  int registered;
  int duplicate_rc;
  int survived;
  int unregistered;
};

static sem_t raw_ready, raw_go;

static NOINLINE void raw_thread_work(struct raw_arg *a) {
  struct node *volatile list = make_list(LIST, 3);
  sem_post(&raw_ready);
  sem_wait_retry(&raw_go);
  a->survived = list_ok(list, LIST, 3);
}

static void *raw_thread(void *p) {
  struct raw_arg *a = p;
  a->was_registered = GC_thread_is_registered();
  struct GC_stack_base sb;
  a->stack_base_rc = GC_get_stack_base(&sb);
  if (a->stack_base_rc != GC_SUCCESS) {
    sem_post(&raw_ready);
    return NULL;
  }
  a->register_rc = GC_register_my_thread(&sb);
  a->registered = GC_thread_is_registered();
  a->duplicate_rc = GC_register_my_thread(&sb);
  raw_thread_work(a);
  GC_unregister_my_thread();
  a->unregistered = !GC_thread_is_registered();
  return NULL;
}

TEST(register_my_thread) {
  GC_allow_register_threads();
  CHECK(GC_thread_is_registered()); /* the main thread always is */
  sem_init(&raw_ready, 0, 0);
  sem_init(&raw_go, 0, 0);
  struct raw_arg a = {0};
  pthread_t t;
  REQUIRE(raw_pthread_create(&t, NULL, raw_thread, &a) == 0);
  sem_wait_retry(&raw_ready);
  for (int r = 0; r < 3; r++) {
    churn(20000);
    collect_once();
  }
  sem_post(&raw_go);
  CHECK(raw_pthread_join(t, NULL) == 0);
  CHECK(!a.was_registered);
  CHECK(a.stack_base_rc == GC_SUCCESS);
  CHECK(a.register_rc == GC_SUCCESS);
  CHECK(a.registered);
  CHECK(a.duplicate_rc == GC_DUPLICATE);
  CHECKF(a.survived, "list on a registered thread's stack damaged");
  CHECK(a.unregistered);
  sem_destroy(&raw_ready);
  sem_destroy(&raw_go);
  /* Collections work after the thread unregistered and exited. */
  GC_word before = GC_get_gc_no();
  collect_once();
  CHECK(GC_get_gc_no() > before);
}

/* --- GC_do_blocking / GC_call_with_gc_active --- */

static int block_pipe[2];
static sem_t blocked;
static struct node *volatile made_while_active;

static void *GC_CALLBACK active_fn(void *arg) {
  /* Back in the active state: allocating and collecting are allowed. */
  struct node *n = GC_malloc(sizeof *n);
  if (n == NULL)
    return NULL;
  n->value = (long)(intptr_t)arg;
  made_while_active = n;
  GC_gcollect();
  return n;
}

static void *GC_CALLBACK blocking_fn(void *arg) {
  void *r = GC_call_with_gc_active(active_fn, (void *)(intptr_t)77);
  *(int *)arg = r != NULL && r == (void *)made_while_active;
  sem_post(&blocked);
  char c = 0;
  ssize_t n;
  do
    n = read(block_pipe[0], &c, 1);
  while (n < 0 && errno == EINTR);
  return (void *)(intptr_t)(n == 1 && c == 'x' ? 0x600D : 0xBAD);
}

struct blocking_arg {
  int active_ok;
  void *result;
  int survived;
};

static NOINLINE void blocking_work(struct blocking_arg *a) {
  /* Referenced from this (active) frame only, across the blocking call. */
  struct node *volatile list = make_list(LIST, 11);
  a->result = GC_do_blocking(blocking_fn, &a->active_ok);
  a->survived = list_ok(list, LIST, 11);
}

static void *blocking_thread(void *p) {
  blocking_work(p);
  return NULL;
}

TEST(do_blocking) {
  REQUIRE(pipe(block_pipe) == 0);
  sem_init(&blocked, 0, 0);
  struct blocking_arg a = {0};
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, blocking_thread, &a) == 0);
  sem_wait_retry(&blocked);
  usleep(20000); /* let it enter read() */
  /* Collections complete while the thread is blocked. */
  for (int r = 0; r < 3; r++) {
    churn(20000);
    GC_word before = GC_get_gc_no();
    collect_once();
    CHECK(GC_get_gc_no() > before);
  }
  REQUIRE(write(block_pipe[1], "x", 1) == 1);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(a.result == (void *)(intptr_t)0x600D); /* fn's result returned */
  CHECK(a.active_ok);
  CHECKF(a.survived, "list in the active frame damaged during blocking");
  CHECK(made_while_active != NULL && made_while_active->value == 77);
  made_while_active = NULL;
  close(block_pipe[0]);
  close(block_pipe[1]);
  sem_destroy(&blocked);

  /* Both also work on the main thread, nested. */
  void *r = GC_call_with_gc_active(active_fn, (void *)(intptr_t)5);
  CHECK(r != NULL && ((struct node *)r)->value == 5);
}

static void *GC_CALLBACK nested_blocking(void *arg) {
  return GC_call_with_gc_active(active_fn, arg);
}

TEST(do_blocking_nested_on_main_thread) {
  void *r = GC_do_blocking(nested_blocking, (void *)(intptr_t)9);
  CHECK(r != NULL && r == (void *)made_while_active);
  CHECK(made_while_active->value == 9);
  made_while_active = NULL;
}

/* --- on-demand finalizers run on the invoking thread --- */

enum { FN = 100 };

struct frec {
  _Atomic int runs;
  pthread_t thread; /* that ran it */
  int checked;
};

static struct frec od_rec[FN];

static void GC_CALLBACK fin_record_thread(void *obj, void *cd) {
  (void)obj;
  struct frec *r = cd;
  r->thread = pthread_self();
  r->runs++;
}

static NOINLINE void make_finalizable(void) {
  for (int i = 0; i < FN; i++) {
    void *o = GC_malloc(32);
    REQUIRE(o != NULL);
    GC_register_finalizer(o, fin_record_thread, &od_rec[i], NULL, NULL);
  }
}

struct invoker {
  int invoked;
  pthread_t self;
};

static void *invoker_thread(void *p) {
  struct invoker *inv = p;
  inv->self = pthread_self();
  inv->invoked = GC_invoke_finalizers();
  return NULL;
}

static int od_ran(void) {
  int n = 0;
  for (int i = 0; i < FN; i++)
    n += od_rec[i].runs > 0;
  return n;
}

TEST(on_demand_finalizers_run_on_the_invoking_thread) {
  GC_set_finalize_on_demand(1);
  make_finalizable();
  int invoked = 0, wrong_thread = 0, not_invoked = 0;
  for (int r = 0; r < 10 && od_ran() < FN * 9 / 10; r++) {
    scrub_stack();
    GC_gcollect();
    not_invoked += od_ran() != invoked; /* nothing runs until invoked */
    struct invoker inv = {0};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, invoker_thread, &inv) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    invoked += inv.invoked;
    for (int i = 0; i < FN; i++) {
      if (!od_rec[i].runs || od_rec[i].checked)
        continue;
      od_rec[i].checked = 1;
      wrong_thread += !pthread_equal(od_rec[i].thread, inv.self);
    }
  }
  CHECKF(AT_LEAST_PCT(od_ran(), FN, 90), "%d of %d finalized", od_ran(), FN);
  CHECK(not_invoked == 0);
  CHECK(invoked == od_ran()); /* GC_invoke_finalizers counts them */
  CHECKF(wrong_thread == 0,
         "%d finalizers did not run on the thread calling "
         "GC_invoke_finalizers",
         wrong_thread);
  GC_set_finalize_on_demand(0);
}

/* --- concurrent allocation and collection --- */

struct tree {
  struct tree *left, *right;
  long value;
};

static NOINLINE struct tree *make_tree(int depth, long *counter) {
  struct tree *t = GC_malloc(sizeof *t);
  if (t == NULL)
    return NULL;
  t->value = ++*counter;
  if (depth > 0) {
    t->left = make_tree(depth - 1, counter);
    t->right = make_tree(depth - 1, counter);
  }
  return t;
}

static long tree_sum(const struct tree *t) {
  return t ? t->value + tree_sum(t->left) + tree_sum(t->right) : 0;
}

static _Atomic int stop_stress;

static void *stress_thread(void *p) {
  long bad = 0, rounds = 0;
  struct tree *volatile keep = NULL;
  long keep_sum = 0;
  while (!stop_stress || rounds < 20) {
    long counter = 0;
    struct tree *t = make_tree(10, &counter);
    if (tree_sum(t) != counter * (counter + 1) / 2)
      bad++;
    if (rounds % 7 == 0) {
      keep = t; /* keep one across later rounds */
      keep_sum = counter * (counter + 1) / 2;
    }
    if (keep && tree_sum(keep) != keep_sum)
      bad++;
    rounds++;
  }
  *(long *)p = bad;
  return NULL;
}

TEST(concurrent_allocation) {
  enum { ST = 4 };
  pthread_t t[ST];
  long bad[ST];
  stop_stress = 0;
  for (int i = 0; i < ST; i++)
    REQUIRE(pthread_create(&t[i], NULL, stress_thread, &bad[i]) == 0);
  for (int r = 0; r < 20; r++) {
    GC_gcollect();
    usleep(2000);
  }
  stop_stress = 1;
  for (int i = 0; i < ST; i++) {
    CHECK(pthread_join(t[i], NULL) == 0);
    CHECKF(bad[i] == 0, "thread %d saw %ld damaged trees", i, bad[i]);
  }
}

int main(void) {
  GC_INIT();
  compat_init();
  main_thread = pthread_self();
  RUN(thread_stacks_are_roots);
  RUN(join_exit_detach_cancel);
  RUN(gc_pthread_create_explicitly);
  RUN(get_stack_base);
  RUN(register_my_thread);
  RUN(do_blocking);
  RUN(do_blocking_nested_on_main_thread);
  RUN(on_demand_finalizers_run_on_the_invoking_thread);
  RUN(concurrent_allocation);
  return test_summary();
}
