/* Cleanups: Go's AddCleanup semantics, mirroring runtime/mcleanup_test.go.
 * Objects meant to die are made in NOINLINE helpers; "ran" checks allow a
 * few collections (a conservative collector may keep a stray object for a
 * while), "did not run" checks are absolute. */
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "finalgc.h"
#include "testhelper.h"

/* Go's tests allocate struct{ v int; p unsafe.Pointer } to stay out of the
 * tiny allocator; so do these. */
struct t {
  long v;
  void *p;
  long a, b, c;
};

static pthread_t main_thread;
static volatile int count;

static void cleanup_count(void *arg) {
  (void)arg;
  __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
}

/* Run counts per slot: each attempt of each test takes a slot of its own
 * (its cleanups' arg), so that a stray object of an earlier attempt that
 * dies late counts for itself only. */
enum { SLOTS = 128 };
static volatile int tally[SLOTS];
static int slots_used;

static int new_slot(void) {
  REQUIRE(slots_used < SLOTS);
  return slots_used++;
}

static void cleanup_tally(void *arg) {
  __atomic_add_fetch(&tally[(intptr_t)arg], 1, __ATOMIC_RELAXED);
}

/* one_cleanup's arg is ARG + slot: a value out of range sets bad_arg. */
enum { ARG = 97531 };
static volatile int off_thread[SLOTS];
static volatile int bad_arg;

static void cleanup_set(void *arg) {
  intptr_t s = (intptr_t)arg - ARG;
  if (s < 0 || s >= SLOTS) {
    bad_arg = 1;
    return;
  }
  off_thread[s] = !pthread_equal(pthread_self(), main_thread);
  __atomic_add_fetch(&tally[s], 1, __ATOMIC_RELAXED);
}

static NOINLINE void add_one(int s) {
  struct t *x = gc_alloc(sizeof *x);
  gc_cleanup c = gc_add_cleanup(x, cleanup_set, (void *)(intptr_t)(ARG + s));
  REQUIRE(c.id != 0);
}

/* Fresh objects until one's cleanup runs; every cleanup that ran got its
 * arg, off the main thread, once. */
TEST(one_cleanup) {
  int first = slots_used, done = 0;
  for (int a = 0; a < ATTEMPTS && !done; a++) {
    int s = new_slot();
    add_one(s);
    done = COLLECT_UNTIL(tally[s] == 1, 10);
  }
  CHECK(done);
  collect_and_wait(2);
  for (int s = first; s < slots_used; s++) {
    CHECK(tally[s] <= 1); /* once only */
    CHECK(tally[s] == 0 || off_thread[s]);
  }
  CHECK(!bad_arg);
}

static NOINLINE void add_three(int interior, int s) {
  struct t *x = gc_alloc(sizeof *x);
  void *ptrs[3] = {x, x, x};
  if (interior) {
    ptrs[0] = &x->a;
    ptrs[1] = &x->b;
    ptrs[2] = &x->c;
  }
  for (int i = 0; i < 3; i++)
    REQUIRE(gc_add_cleanup(ptrs[i], cleanup_tally, (void *)(intptr_t)s).id !=
            0);
}

/* Fresh objects until all three cleanups of one run, at the start and at
 * interior pointers; no object's run more than three. */
TEST(multiple_and_interior) {
  int first = slots_used;
  for (int interior = 0; interior < 2; interior++) {
    int done = 0;
    for (int a = 0; a < ATTEMPTS && !done; a++) {
      int s = new_slot();
      add_three(interior, s);
      done = COLLECT_UNTIL(tally[s] == 3, 10);
    }
    CHECK(done);
  }
  for (int s = first; s < slots_used; s++)
    CHECK(tally[s] <= 3);
}

TEST(zero_size_and_globals) {
  static struct t global;
  count = 0;
  gc_cleanup a = gc_add_cleanup(gc_alloc(0), cleanup_count, NULL);
  gc_cleanup b = gc_add_cleanup(&global, cleanup_count, NULL);
  CHECK(a.id == 0 && b.id == 0);
  gc_cleanup_stop(a);
  collect_and_wait(2);
  CHECK(count == 0);
}

/* A finalizer runs first; the cleanup only once the object is unreachable
 * again without one: two collections (TestCleanupAfterFinalizer).  Order
 * per attempt (the arg). */
static int order[ATTEMPTS][4];
static volatile int order_len[ATTEMPTS];
static void fin_first(void *obj, void *arg) {
  (void)obj;
  intptr_t a = (intptr_t)arg;
  if (order_len[a] < 4)
    order[a][order_len[a]++] = 1;
}
static void cleanup_second(void *arg) {
  intptr_t a = (intptr_t)arg;
  if (order_len[a] < 4)
    order[a][order_len[a]++] = 2;
}

static NOINLINE void add_with_finalizer(int a) {
  struct t *x = gc_alloc(sizeof *x);
  REQUIRE(gc_add_cleanup(x, cleanup_second, (void *)(intptr_t)a).id != 0);
  REQUIRE(gc_set_finalizer(x, fin_first, (void *)(intptr_t)a) == GC_OK);
}

/* Fresh objects until one gets through both; the order is checked on every
 * one. */
TEST(cleanup_after_finalizer) {
  int done = 0, tried = 0;
  while (tried < ATTEMPTS && !done) {
    int a = tried++;
    add_with_finalizer(a);
    if (!COLLECT_UNTIL(order_len[a] >= 1, 10))
      continue;
    CHECK(order_len[a] == 1 && order[a][0] == 1);
    done = COLLECT_UNTIL(order_len[a] == 2, 10);
  }
  CHECK(done);
  for (int a = 0; a < tried; a++) {
    CHECK(order_len[a] <= 2);
    for (int i = 0; i < order_len[a]; i++)
      CHECK(order[a][i] == i + 1);
  }
}

/* Stop: once, three times, interleaved, and after the cleanup ran. */
static NOINLINE void add_and_stop(int stops, int s) {
  struct t *x = gc_alloc(sizeof *x);
  gc_cleanup c = gc_add_cleanup(x, cleanup_tally, (void *)(intptr_t)s);
  for (int i = 0; i < stops; i++)
    gc_cleanup_stop(c);
  gc_keep_alive(x);
}

/* arg is slot * 4 + value; the unstopped cleanups have value 1. */
static volatile int bad_value;
static void cleanup_value(void *arg) {
  intptr_t v = (intptr_t)arg;
  __atomic_add_fetch(&tally[v / 4], 1, __ATOMIC_RELAXED);
  if (v % 4 != 1)
    bad_value = 1;
}

static NOINLINE void add_interleaved(int s) {
  struct t *x = gc_alloc(sizeof *x);
  for (int i = 0; i < 5; i++) {
    gc_cleanup c =
        gc_add_cleanup(x, cleanup_value, (void *)(intptr_t)(s * 4 + 1 + i % 2));
    REQUIRE(c.id != 0);
    if (i % 2)
      gc_cleanup_stop(c);
  }
  gc_keep_alive(x);
}

static gc_cleanup stale;
static NOINLINE void add_keep_handle(int s) {
  stale = gc_add_cleanup(gc_alloc(sizeof(struct t)), cleanup_tally,
                         (void *)(intptr_t)s);
  REQUIRE(stale.id != 0);
}

/* Objects each with a cleanup, stopping the stale handle after each. */
enum { REUSERS = 100 };
static unsigned char reuser_runs[REUSERS];
static uintptr_t reuser_hidden[REUSERS];

static void cleanup_reuser(void *arg) { reuser_runs[(intptr_t)arg]++; }

static NOINLINE void add_reusers(void) {
  for (int i = 0; i < REUSERS; i++) {
    struct t *y = gc_alloc(sizeof *y);
    reuser_hidden[i] = hide(y);
    REQUIRE(gc_add_cleanup(y, cleanup_reuser, (void *)(intptr_t)i).id != 0);
    gc_cleanup_stop(stale);
  }
}

TEST(stop) {
  int s = new_slot();
  add_and_stop(1, s);
  add_and_stop(3, s);
  collect_and_wait(4);
  CHECK(tally[s] == 0);
  /* Fresh objects until one's three unstopped cleanups run: exactly three
   * on every object, all with arg 1. */
  int first = slots_used, done = 0;
  for (int a = 0; a < ATTEMPTS && !done; a++) {
    s = new_slot();
    add_interleaved(s);
    done = COLLECT_UNTIL(tally[s] == 3, 10);
  }
  CHECK(done);
  collect_and_wait(1);
  for (int i = first; i < slots_used; i++)
    CHECK(tally[i] <= 3);
  CHECK(bad_value == 0);
  /* Fresh objects until one's cleanup has run, keeping its handle. */
  first = slots_used;
  done = 0;
  for (int a = 0; a < ATTEMPTS && !done; a++) {
    s = new_slot();
    add_keep_handle(s);
    done = COLLECT_UNTIL(tally[s] == 1, 10);
  }
  CHECK(done);
  if (!done)
    return;
  gc_cleanup_stop(stale); /* after it ran: nothing happens */
  gc_cleanup_stop(stale);
  /* A stale handle never stops another object's cleanup, even when the
   * old slot is reused: >= 90% run, none twice, and none is lost (each has
   * run or its object is still allocated; nothing is allocated between the
   * collections and that count, so a freed slot still reads as freed). */
  add_reusers();
  COLLECT_UNTIL(({
                  int n = 0;
                  for (int i = 0; i < REUSERS; i++)
                    n += reuser_runs[i] != 0;
                  n == REUSERS;
                }),
                10);
  int ran = 0, twice = 0, lost = 0;
  for (int i = 0; i < REUSERS; i++) {
    ran += reuser_runs[i] != 0;
    twice += reuser_runs[i] > 1;
    lost += reuser_runs[i] == 0 && gc_base(reveal(reuser_hidden[i])) == NULL;
  }
  CHECK(ran >= REUSERS * 9 / 10);
  CHECK(twice == 0);
  CHECK(lost == 0);
  for (int i = first; i < slots_used; i++)
    CHECK(tally[i] <= 1);
}

/* arg must not reach ptr: refused, with an error (Go 1.26's checks). */
TEST(ptr_reachable_from_arg_refused) {
  count = 0;
  struct t *x = gc_alloc(sizeof *x);
  gc_cleanup c = gc_add_cleanup(x, cleanup_count, x);
  CHECK(c.id == 0 && gc_last_error() == GC_ERR_PTR_IS_ARG);
  CHECK(strcmp(gc_strerror(GC_ERR_PTR_IS_ARG),
               "ptr is equal to arg, cleanup will never run") == 0);
  c = gc_add_cleanup(x, cleanup_count, &x->b);
  CHECK(c.id == 0 && gc_last_error() == GC_ERR_PTR_IN_ARG);
  c = gc_add_cleanup(&x->a, cleanup_count, x);
  CHECK(c.id == 0 && gc_last_error() == GC_ERR_PTR_IN_ARG);
  int local;
  c = gc_add_cleanup(&local, cleanup_count, NULL);
  CHECK(c.id == 0 && gc_last_error() == GC_ERR_NOT_IN_HEAP);
  c = gc_add_cleanup(NULL, cleanup_count, NULL);
  CHECK(c.id == 0 && gc_last_error() == GC_ERR_INVALID);
  gc_keep_alive(x);
}

/* A cycle does not stop cleanups, and the object is freed by the same
 * collection that queues them (no resurrection).  Per attempt. */
static uintptr_t hidden_a[ATTEMPTS], hidden_b[ATTEMPTS];

static NOINLINE void make_cycle(int a, int s) {
  struct t *x = gc_alloc(sizeof *x), *y = gc_alloc(sizeof *y);
  x->p = y;
  y->p = x;
  REQUIRE(gc_add_cleanup(x, cleanup_tally, (void *)(intptr_t)s).id != 0);
  REQUIRE(gc_add_cleanup(y, cleanup_tally, (void *)(intptr_t)s).id != 0);
  hidden_a[a] = hide(x);
  hidden_b[a] = hide(y);
}

/* Fresh cycles until one's cleanups run; whenever a cycle's cleanups have
 * run, both its objects are already freed. */
TEST(cycles_and_one_collection) {
  int first = slots_used, done = 0;
  for (int a = 0; a < ATTEMPTS && !done; a++) {
    int s = new_slot();
    make_cycle(a, s);
    done = COLLECT_UNTIL(tally[s] == 2, 10);
    if (done) {
      /* Freed by the collection that queued the cleanups. */
      CHECK(gc_base(reveal(hidden_a[a])) == NULL);
      CHECK(gc_base(reveal(hidden_b[a])) == NULL);
    }
  }
  CHECK(done);
  for (int s = first; s < slots_used; s++)
    CHECK(tally[s] <= 2);
}

/* No cleanup lost: threads each add 10,000 (TestCleanupLost).  Each runs
 * once at most, >= 99% run, and none is lost: each has run or its object is
 * still allocated (a stray pointer may keep a few alive for good; nothing
 * is allocated between the collections and that count, so a freed slot
 * still reads as freed). */
enum { PER_THREAD = 10000, THREADS = 4, ALL = THREADS * PER_THREAD };
static unsigned char lost_runs[ALL];
static uintptr_t lost_hidden[ALL];

static void cleanup_one(void *arg) {
  __atomic_add_fetch(&lost_runs[(intptr_t)arg], 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
}

static void *add_many(void *arg) {
  intptr_t base = (intptr_t)arg * PER_THREAD;
  for (intptr_t i = base; i < base + PER_THREAD; i++) {
    struct t *x = gc_alloc(sizeof *x);
    lost_hidden[i] = hide(x);
    if (gc_add_cleanup(x, cleanup_one, (void *)i).id == 0)
      abort();
  }
  return NULL;
}

TEST(no_cleanup_lost) {
  count = 0;
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    REQUIRE(gc_pthread_create(&t[i], NULL, add_many, (void *)(intptr_t)i) == 0);
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  COLLECT_UNTIL(count == ALL, 20);
  collect_and_wait(1);
  int ran = 0, twice = 0, lost = 0;
  for (int i = 0; i < ALL; i++) {
    ran += lost_runs[i] != 0;
    twice += lost_runs[i] > 1;
    lost += lost_runs[i] == 0 && gc_base(reveal(lost_hidden[i])) == NULL;
  }
  CHECK(ran >= ALL - ALL / 100);
  CHECK(count == ran && twice == 0);
  CHECK(lost == 0);
  gc_stats st;
  gc_read_stats(&st);
  CHECK(st.cleanups_run == st.cleanups_queued);
}

/* The debug option reports an arg that reaches ptr indirectly. */
struct box {
  void *inner;
};

static NOINLINE int checkfin_child(void) {
  struct t *x = gc_alloc(sizeof *x);
  struct box *b = gc_alloc(sizeof *b);
  b->inner = x;
  if (gc_add_cleanup(x, cleanup_count, b).id == 0)
    return 1;
  x = NULL;
  b = NULL;
  collect_and_wait(2);
  return count == 0 ? 0 : 2;
}

TEST(checkfinalizers_reports_indirect_arg) {
  char cmd[256];
  snprintf(cmd, sizeof cmd,
           "FINALGCDEBUG=checkfinalizers=1 /proc/%d/exe --checkfin 2>&1",
           (int)getpid());
  FILE *p = popen(cmd, "r");
  REQUIRE(p != NULL);
  static char out[4096];
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  CHECK(pclose(p) == 0);
  CHECK(strstr(out, "is reachable from its cleanup's argument") != NULL);
}

/* Finalize-on-demand applies to cleanups: they run when the program asks,
 * on its thread. */
static volatile int on_main;
static void cleanup_where(void *arg) {
  (void)arg;
  on_main += pthread_equal(pthread_self(), main_thread);
}

/* n dropped objects with cleanup fn. */
static NOINLINE void add_cleanups(int n, gc_cleanup_fn fn) {
  for (int i = 0; i < n; i++)
    REQUIRE(gc_add_cleanup(gc_alloc(sizeof(struct t)), fn, NULL).id != 0);
}

static int on_demand_child(void) {
  gc_set_finalize_on_demand(1);
  add_cleanups(50, cleanup_where);
  scrub_stack();
  gc_collect();
  usleep(20000);
  if (on_main != 0)
    return 1;
  int ran = gc_run_finalizers();
  if (ran < 45 || on_main != ran)
    return 2;
  return 0;
}

TEST(on_demand) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "/proc/%d/exe --on-demand", (int)getpid());
  CHECK(system(cmd) == 0);
}

/* Cleanups queued while on demand, with the cleanup threads running, run
 * once it is turned off: the threads, woken by the collection, had left
 * them to the program, and nothing woke them again (gc_wait_cleanups
 * waited for ever). */
static int on_demand_off_child(void) {
  alarm(20); /* a hang fails the child */
  add_cleanups(10, cleanup_count);
  scrub_stack();
  gc_collect();
  gc_wait_cleanups(); /* the cleanup threads are running now */
  gc_set_finalize_on_demand(1);
  int before = __atomic_load_n(&count, __ATOMIC_RELAXED);
  add_cleanups(50, cleanup_count);
  scrub_stack();
  gc_collect();
  usleep(20000);
  gc_set_finalize_on_demand(0);
  gc_wait_cleanups();
  return __atomic_load_n(&count, __ATOMIC_RELAXED) - before >= 45 ? 0 : 1;
}

TEST(on_demand_turned_off) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "/proc/%d/exe --on-demand-off", (int)getpid());
  CHECK(system(cmd) == 0);
}

int main(int argc, char **argv) {
  main_thread = pthread_self();
  if (argc > 1 && strcmp(argv[1], "--checkfin") == 0)
    return checkfin_child();
  if (argc > 1 && strcmp(argv[1], "--on-demand") == 0)
    return on_demand_child();
  if (argc > 1 && strcmp(argv[1], "--on-demand-off") == 0)
    return on_demand_off_child();
  gc_init();
  RUN(one_cleanup);
  RUN(multiple_and_interior);
  RUN(zero_size_and_globals);
  RUN(cleanup_after_finalizer);
  RUN(stop);
  RUN(ptr_reachable_from_arg_refused);
  RUN(cycles_and_one_collection);
  RUN(no_cleanup_lost);
  RUN(checkfinalizers_reports_indirect_arg);
  RUN(on_demand);
  RUN(on_demand_turned_off);
  return test_summary();
}
