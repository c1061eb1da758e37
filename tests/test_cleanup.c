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

#define COLLECT_UNTIL(cond, rounds)                                            \
  ({                                                                           \
    int ok_ = 0;                                                               \
    for (int r_ = 0; r_ < (rounds) && !(ok_ = (cond)); r_++) {                 \
      scrub_stack();                                                           \
      gc_collect();                                                            \
      gc_wait_cleanups();                                                      \
      gc_wait_finalizers();                                                    \
    }                                                                          \
    ok_ || (cond);                                                             \
  })

static void collect_and_wait(int times) {
  for (int i = 0; i < times; i++) {
    scrub_stack();
    gc_collect();
    gc_wait_finalizers();
    gc_wait_cleanups();
  }
}

/* Go's tests allocate struct{ v int; p unsafe.Pointer } to stay out of the
 * tiny allocator; so do these. */
struct t {
  long v;
  void *p;
  long a, b, c;
};

static pthread_t main_thread;
static volatile long got;
static volatile int count;
static volatile int off_thread;

static void cleanup_set(void *arg) {
  got = (long)(intptr_t)arg;
  count++;
  off_thread = !pthread_equal(pthread_self(), main_thread);
}

static void cleanup_count(void *arg) {
  (void)arg;
  __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
}

static NOINLINE void add_one(void) {
  struct t *x = gc_alloc(sizeof *x);
  gc_cleanup c = gc_add_cleanup(x, cleanup_set, (void *)(intptr_t)97531);
  REQUIRE(c.id != 0);
}

TEST(one_cleanup) {
  got = 0;
  count = 0;
  add_one();
  CHECK(COLLECT_UNTIL(count == 1, 10));
  CHECK(got == 97531);
  CHECK(off_thread);
  collect_and_wait(2);
  CHECK(count == 1); /* once only */
}

static NOINLINE void add_three(int interior) {
  struct t *x = gc_alloc(sizeof *x);
  void *ptrs[3] = {x, x, x};
  if (interior) {
    ptrs[0] = &x->a;
    ptrs[1] = &x->b;
    ptrs[2] = &x->c;
  }
  for (int i = 0; i < 3; i++)
    REQUIRE(gc_add_cleanup(ptrs[i], cleanup_count, NULL).id != 0);
}

TEST(multiple_and_interior) {
  count = 0;
  add_three(0);
  CHECK(COLLECT_UNTIL(count == 3, 10));
  count = 0;
  add_three(1);
  CHECK(COLLECT_UNTIL(count == 3, 10));
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
 * again without one: two collections (TestCleanupAfterFinalizer). */
static int order[4];
static volatile int order_len;
static void fin_first(void *obj, void *arg) {
  (void)obj;
  (void)arg;
  order[order_len++] = 1;
}
static void cleanup_second(void *arg) {
  (void)arg;
  order[order_len++] = 2;
}

static NOINLINE void add_with_finalizer(void) {
  struct t *x = gc_alloc(sizeof *x);
  REQUIRE(gc_add_cleanup(x, cleanup_second, NULL).id != 0);
  REQUIRE(gc_set_finalizer(x, fin_first, NULL) == GC_OK);
}

TEST(cleanup_after_finalizer) {
  order_len = 0;
  add_with_finalizer();
  CHECK(COLLECT_UNTIL(order_len >= 1, 10));
  CHECK(order_len == 1 && order[0] == 1);
  CHECK(COLLECT_UNTIL(order_len == 2, 10));
  CHECK(order[1] == 2);
}

/* Stop: once, three times, interleaved, and after the cleanup ran. */
static NOINLINE void add_and_stop(int stops) {
  struct t *x = gc_alloc(sizeof *x);
  gc_cleanup c = gc_add_cleanup(x, cleanup_count, NULL);
  for (int i = 0; i < stops; i++)
    gc_cleanup_stop(c);
  gc_keep_alive(x);
}

static void cleanup_value(void *arg) {
  __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
  if ((intptr_t)arg != 1)
    got = -1;
}

static NOINLINE void add_interleaved(void) {
  struct t *x = gc_alloc(sizeof *x);
  for (int i = 0; i < 5; i++) {
    gc_cleanup c = gc_add_cleanup(x, cleanup_value, (void *)(intptr_t)(1 + i % 2));
    REQUIRE(c.id != 0);
    if (i % 2)
      gc_cleanup_stop(c);
  }
  gc_keep_alive(x);
}

static gc_cleanup stale;
static NOINLINE void add_keep_handle(void) {
  stale = gc_add_cleanup(gc_alloc(sizeof(struct t)), cleanup_count, NULL);
  REQUIRE(stale.id != 0);
}

TEST(stop) {
  count = 0;
  add_and_stop(1);
  add_and_stop(3);
  collect_and_wait(4);
  CHECK(count == 0);
  count = 0;
  got = 0;
  add_interleaved();
  CHECK(COLLECT_UNTIL(count == 3, 10));
  collect_and_wait(1);
  CHECK(count == 3 && got == 0); /* exactly three, all with arg 1 */
  count = 0;
  add_keep_handle();
  CHECK(COLLECT_UNTIL(count == 1, 10));
  gc_cleanup_stop(stale); /* after it ran: nothing happens */
  gc_cleanup_stop(stale);
  /* A stale handle never stops another object's cleanup, even when the
   * old slot is reused. */
  count = 0;
  for (int i = 0; i < 100; i++) {
    struct t *y = gc_alloc(sizeof *y);
    REQUIRE(gc_add_cleanup(y, cleanup_count, NULL).id != 0);
    gc_cleanup_stop(stale);
  }
  CHECK(COLLECT_UNTIL(count == 100, 10));
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
 * collection that queues them (no resurrection). */
static uintptr_t hidden_a, hidden_b;

static NOINLINE void make_cycle(void) {
  struct t *a = gc_alloc(sizeof *a), *b = gc_alloc(sizeof *b);
  a->p = b;
  b->p = a;
  REQUIRE(gc_add_cleanup(a, cleanup_count, NULL).id != 0);
  REQUIRE(gc_add_cleanup(b, cleanup_count, NULL).id != 0);
  hidden_a = ~(uintptr_t)a;
  hidden_b = ~(uintptr_t)b;
}

TEST(cycles_and_one_collection) {
  count = 0;
  make_cycle();
  CHECK(COLLECT_UNTIL(count == 2, 10));
  /* Freed by the collection that queued the cleanups. */
  CHECK(gc_base((void *)~hidden_a) == NULL);
  CHECK(gc_base((void *)~hidden_b) == NULL);
}

/* No cleanup lost: threads each add 10,000 (TestCleanupLost). */
enum { PER_THREAD = 10000, THREADS = 4 };

static void *add_many(void *arg) {
  (void)arg;
  for (int i = 0; i < PER_THREAD; i++) {
    struct t *x = gc_alloc(sizeof *x);
    if (gc_add_cleanup(x, cleanup_count, NULL).id == 0)
      abort();
  }
  return NULL;
}

TEST(no_cleanup_lost) {
  count = 0;
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    REQUIRE(gc_pthread_create(&t[i], NULL, add_many, NULL) == 0);
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  CHECK(COLLECT_UNTIL(count == THREADS * PER_THREAD, 20));
  collect_and_wait(1);
  CHECK(count == THREADS * PER_THREAD);
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

static NOINLINE void add_where(int n) {
  for (int i = 0; i < n; i++)
    REQUIRE(gc_add_cleanup(gc_alloc(sizeof(struct t)), cleanup_where, NULL)
                .id != 0);
}

static int on_demand_child(void) {
  gc_set_finalize_on_demand(1);
  add_where(50);
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

int main(int argc, char **argv) {
  main_thread = pthread_self();
  if (argc > 1 && strcmp(argv[1], "--checkfin") == 0)
    return checkfin_child();
  if (argc > 1 && strcmp(argv[1], "--on-demand") == 0)
    return on_demand_child();
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
  return test_summary();
}
