/* Weak pointers: Go's package weak semantics, mirroring
 * weak/pointer_test.go.  "Dead" checks allow a few collections (a
 * conservative collector may keep a stray object for a while); "alive"
 * checks are absolute. */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "finalgc.h"
#include "testhelper.h"

#define COLLECT_UNTIL(cond, rounds)                                            \
  ({                                                                           \
    int ok_ = 0;                                                               \
    for (int r_ = 0; r_ < (rounds) && !(ok_ = (cond)); r_++) {                 \
      scrub_stack();                                                           \
      gc_collect();                                                            \
      gc_wait_finalizers();                                                    \
      gc_wait_cleanups();                                                      \
    }                                                                          \
    ok_ || (cond);                                                             \
  })

/* Go's T: a pointer field, so that it is not tiny-allocated. */
struct t {
  struct t *t;
  long a, b;
};

static NOINLINE gc_weak *make_dead(void) {
  struct t *x = gc_alloc(sizeof *x);
  return gc_weak_make(x);
}

TEST(pointer) {
  CHECK(gc_weak_make(NULL) == NULL);
  CHECK(gc_weak_value(NULL) == NULL);
  struct t *bt = gc_alloc(sizeof *bt);
  gc_weak *wt = gc_weak_make(bt);
  REQUIRE(wt != NULL);
  for (int i = 0; i < 3; i++) {
    gc_collect();
    CHECK(gc_weak_value(wt) == bt);
  }
  gc_keep_alive(bt);
  gc_weak *dead = make_dead();
  CHECK(COLLECT_UNTIL(gc_weak_value(dead) == NULL, 10));
}

/* One canonical handle per (object, offset), before and after collections;
 * different objects and fields give different handles. */
enum { N = 10 };
static struct t *volatile bt[N];
static gc_weak *wt[N], *wa[N];

static NOINLINE void make_ten(void) {
  for (int i = 0; i < N; i++) {
    bt[i] = gc_alloc(sizeof(struct t));
    wt[i] = gc_weak_make(bt[i]);
    wa[i] = gc_weak_make(&bt[i]->a);
  }
}

static NOINLINE void drop_ten(void) {
  for (int i = 0; i < N; i++)
    bt[i] = NULL;
}

TEST(equality) {
  make_ten();
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < N; i++) {
      CHECK(gc_weak_make(bt[i]) == wt[i]);
      CHECK(gc_weak_make(&bt[i]->a) == wa[i]);
      CHECK(wt[i] != wa[i]);
      CHECK(gc_weak_value(wa[i]) == &bt[i]->a);
      for (int j = 0; j < i; j++)
        CHECK(wt[i] != wt[j]);
    }
    gc_collect();
  }
  drop_ten();
  int all_dead = COLLECT_UNTIL(({
                                 int d = 1;
                                 for (int i = 0; i < N; i++)
                                   d &= gc_weak_value(wt[i]) == NULL &&
                                        gc_weak_value(wa[i]) == NULL;
                                 d;
                               }),
                               10);
  CHECK(all_dead);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < i; j++)
      CHECK(wt[i] != wt[j]);
}

/* With a finalizer: NULL as soon as the finalizer is queued, inside it,
 * and after (TestPointerFinalizer); resurrection makes a new handle. */
static gc_weak *fin_handle;
static volatile int fin_saw_null, fin_ran;
static struct t *resurrected;

static void fin_check(void *obj, void *arg) {
  (void)arg;
  fin_saw_null = gc_weak_value(fin_handle) == NULL;
  resurrected = obj;
  fin_ran = 1;
}

static NOINLINE void make_with_finalizer(void) {
  struct t *x = gc_alloc(sizeof *x);
  fin_handle = gc_weak_make(x);
  REQUIRE(gc_set_finalizer(x, fin_check, NULL) == GC_OK);
  for (int i = 0; i < 2; i++)
    gc_collect();
  REQUIRE(gc_weak_value(fin_handle) == x); /* still alive */
}

TEST(with_finalizer) {
  fin_ran = 0;
  make_with_finalizer();
  gc_set_finalize_on_demand(1); /* see the handle before the finalizer runs */
  for (int i = 0; i < 10 && gc_weak_value(fin_handle) != NULL; i++) {
    scrub_stack();
    gc_collect();
  }
  CHECK(gc_weak_value(fin_handle) == NULL);
  CHECK(fin_ran == 0);
  gc_run_finalizers();
  gc_set_finalize_on_demand(0);
  CHECK(fin_ran == 1 && fin_saw_null);
  REQUIRE(resurrected != NULL);
  CHECK(gc_weak_value(fin_handle) == NULL); /* stays NULL */
  gc_weak *again = gc_weak_make(resurrected);
  CHECK(again != fin_handle && gc_weak_value(again) == resurrected);
  resurrected = NULL;
}

/* With a cleanup: NULL inside the cleanup and after (TestPointerCleanup). */
static gc_weak *cleanup_handle;
static volatile int cleanup_saw_null, cleanup_ran;
static void cleanup_check(void *arg) {
  (void)arg;
  cleanup_saw_null = gc_weak_value(cleanup_handle) == NULL;
  cleanup_ran = 1;
}

static NOINLINE void make_with_cleanup(void) {
  struct t *x = gc_alloc(sizeof *x);
  cleanup_handle = gc_weak_make(x);
  REQUIRE(gc_add_cleanup(x, cleanup_check, NULL).id != 0);
}

TEST(with_cleanup) {
  cleanup_ran = 0;
  make_with_cleanup();
  CHECK(COLLECT_UNTIL(cleanup_ran, 10));
  CHECK(cleanup_saw_null);
  CHECK(gc_weak_value(cleanup_handle) == NULL);
}

/* Offsets beyond 64 KiB into a large object (Go #70739). */
TEST(large_offsets) {
  long **x = gc_alloc(sizeof(long *) * (4 << 16));
  gc_weak *a = gc_weak_make(&x[1 << 16]);
  gc_weak *b = gc_weak_make(&x[1 << 16]);
  gc_weak *c = gc_weak_make(&x[(1 << 16) + 1]);
  CHECK(a == b && a != c);
  CHECK(gc_weak_value(a) == &x[1 << 16]);
  gc_collect();
  CHECK(gc_weak_make(&x[1 << 16]) == a);
  gc_keep_alive(x);
}

/* Globals and the zero-size address get permanent handles
 * (TestImmortalPointer). */
static struct t global;

TEST(globals_and_zero_size) {
  gc_weak *g = gc_weak_make(&global);
  gc_weak *ga = gc_weak_make(&global.a);
  gc_weak *gb = gc_weak_make(&global.b);
  void *zero = gc_alloc(0);
  gc_weak *z = gc_weak_make(zero);
  for (int i = 0; i < 2; i++) {
    CHECK(gc_weak_make(&global) == g);
    CHECK(gc_weak_make(&global.a) == ga);
    CHECK(g != ga && ga != gb);
    CHECK(gc_weak_value(g) == &global);
    CHECK(gc_weak_value(gb) == &global.b);
    CHECK(gc_weak_value(z) == zero && gc_weak_make(zero) == z);
    gc_collect();
  }
  int local;
  CHECK(gc_weak_make(&local) == NULL && gc_last_error() == GC_ERR_NOT_IN_HEAP);
}

/* 1000 weak pointers to tiny objects: most read NULL after a collection
 * (Go #76007): the handles never share a tiny block with the objects. */
enum { TINY = 1000 };
static gc_weak *tiny_handles[TINY];

static NOINLINE void make_tiny(void) {
  for (int i = 0; i < TINY; i++) {
    long *x = gc_alloc_noscan(sizeof *x);
    tiny_handles[i] = gc_weak_make(x);
    REQUIRE(tiny_handles[i] != NULL);
    REQUIRE(gc_size(tiny_handles[i]) >= 16);
    REQUIRE(gc_base(tiny_handles[i]) != gc_base(x));
  }
}

TEST(tiny_objects) {
  make_tiny();
  scrub_stack();
  gc_collect();
  int null = 0;
  for (int i = 0; i < TINY; i++)
    null += gc_weak_value(tiny_handles[i]) == NULL;
  CHECK(null >= TINY * 3 / 4);
}

/* Handles nothing references are collected. */
static uintptr_t hidden_handles[100];

static NOINLINE void make_unreferenced_handles(void) {
  for (int i = 0; i < 100; i++) {
    gc_weak *w = gc_weak_make(gc_alloc(sizeof(struct t)));
    hidden_handles[i] = ~(uintptr_t)w;
  }
}

TEST(handles_collected) {
  make_unreferenced_handles();
  int freed = COLLECT_UNTIL(({
                              int f = 0;
                              for (int i = 0; i < 100; i++)
                                f += gc_base((void *)~hidden_handles[i]) ==
                                     NULL;
                              f >= 90;
                            }),
                            10);
  CHECK(freed);
}

/* Make, drop, read on several threads while another collects: a value read
 * is always a live object (Go #69210).  The test runs with clobberfree, so
 * a freed object would show. */
static volatile int stop_flag, bad;

static void *collector(void *arg) {
  (void)arg;
  while (!__atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE)) {
    gc_collect();
    usleep(100);
  }
  return NULL;
}

static NOINLINE gc_weak *make_marked(long tag) {
  struct t *x = gc_alloc(sizeof *x);
  x->a = tag;
  x->b = ~tag;
  return gc_weak_make(x);
}

static void *churner(void *arg) {
  long tag = (long)(intptr_t)arg * 1000000;
  for (int i = 0; i < 3000; i++, tag++) {
    gc_weak *w = make_marked(tag);
    if (i % 16 == 0)
      usleep(50);
    struct t *x = gc_weak_value(w);
    if (x) {
      if (x->a != tag || x->b != ~tag || gc_base(x) != x)
        __atomic_store_n(&bad, 1, __ATOMIC_RELAXED);
      x->t = x; /* write to it, as Go's test does */
    }
    gc_keep_alive(x);
  }
  return NULL;
}

TEST(stress_value_during_collections) {
  pthread_t c, w[3];
  stop_flag = 0;
  bad = 0;
  REQUIRE(gc_pthread_create(&c, NULL, collector, NULL) == 0);
  for (int i = 0; i < 3; i++)
    REQUIRE(gc_pthread_create(&w[i], NULL, churner, (void *)(intptr_t)i) ==
            0);
  for (int i = 0; i < 3; i++)
    pthread_join(w[i], NULL);
  __atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
  pthread_join(c, NULL);
  CHECK(bad == 0);
}

/* gc_free clears the object's weak pointers. */
TEST(free_clears) {
  struct t *x = gc_alloc(sizeof *x);
  gc_weak *w = gc_weak_make(x);
  CHECK(gc_free(x) == GC_OK);
  CHECK(gc_weak_value(w) == NULL);
}

int main(void) {
  gc_init();
  RUN(pointer);
  RUN(equality);
  RUN(with_finalizer);
  RUN(with_cleanup);
  RUN(large_offsets);
  RUN(globals_and_zero_size);
  RUN(tiny_objects);
  RUN(handles_collected);
  RUN(stress_value_during_collections);
  RUN(free_clears);
  return test_summary();
}
