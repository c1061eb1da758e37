/* Weak pointers: Go's package weak semantics, mirroring
 * weak/pointer_test.go.  "Dead" checks allow a few collections (a
 * conservative collector may keep a stray object for a while); "alive"
 * checks are absolute. */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "finalgc.h"
#include "testhelper.h"

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
  /* Fresh objects until one's weak pointer reads NULL. */
  int dead = 0;
  for (int a = 0; a < ATTEMPTS && !dead; a++) {
    gc_weak *w = make_dead();
    dead = COLLECT_UNTIL(gc_weak_value(w) == NULL, 10);
  }
  CHECK(dead);
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

static int ten_dead(void) {
  int d = 1;
  for (int i = 0; i < N; i++)
    d &= gc_weak_value(wt[i]) == NULL && gc_weak_value(wa[i]) == NULL;
  return d;
}

/* Fresh sets of ten until all ten of one die; the handles are checked on
 * every set. */
TEST(equality) {
  int all_dead = 0;
  for (int a = 0; a < ATTEMPTS && !all_dead; a++) {
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
    all_dead = COLLECT_UNTIL(ten_dead(), 10);
    for (int i = 0; i < N; i++)
      for (int j = 0; j < i; j++)
        CHECK(wt[i] != wt[j]);
  }
  CHECK(all_dead);
}

/* With a finalizer: NULL as soon as the finalizer is queued, inside it,
 * and after (TestPointerFinalizer); resurrection makes a new handle.  Per
 * attempt (the finalizer's arg). */
static gc_weak *fin_handle[ATTEMPTS];
static volatile int fin_saw_null[ATTEMPTS], fin_ran[ATTEMPTS];
static struct t *resurrected[ATTEMPTS];

static void fin_check(void *obj, void *arg) {
  intptr_t a = (intptr_t)arg;
  fin_saw_null[a] = gc_weak_value(fin_handle[a]) == NULL;
  resurrected[a] = obj;
  fin_ran[a]++;
}

static NOINLINE void make_with_finalizer(int a) {
  struct t *x = gc_alloc(sizeof *x);
  fin_handle[a] = gc_weak_make(x);
  REQUIRE(gc_set_finalizer(x, fin_check, (void *)(intptr_t)a) == GC_OK);
  for (int i = 0; i < 2; i++)
    gc_collect();
  REQUIRE(gc_weak_value(fin_handle[a]) == x); /* still alive */
}

/* Out of the test's frame, so that the resurrected object's address does
 * not linger there. */
static NOINLINE void check_resurrected(int a) {
  REQUIRE(resurrected[a] != NULL);
  CHECK(gc_weak_value(fin_handle[a]) == NULL); /* stays NULL */
  gc_weak *again = gc_weak_make(resurrected[a]);
  CHECK(again != fin_handle[a] && gc_weak_value(again) == resurrected[a]);
}

/* Fresh objects until one's handle reads NULL; on every one, the finalizer
 * has not run before the program asks (on demand), and when it has run, it
 * saw the handle NULL. */
TEST(with_finalizer) {
  int done = 0, tried = 0;
  while (tried < ATTEMPTS && !done) {
    int a = tried++;
    make_with_finalizer(a);
    gc_set_finalize_on_demand(1); /* see the handle before the finalizer runs */
    for (int i = 0; i < 10 && gc_weak_value(fin_handle[a]) != NULL; i++) {
      scrub_stack();
      gc_collect();
    }
    done = gc_weak_value(fin_handle[a]) == NULL;
    CHECK(fin_ran[a] == 0);
    gc_run_finalizers();
    gc_set_finalize_on_demand(0);
    if (done) {
      CHECK(fin_ran[a] == 1 && fin_saw_null[a]);
      check_resurrected(a);
    } else {
      CHECK(fin_ran[a] == 0); /* still reachable: its handle is not NULL */
    }
  }
  CHECK(done);
  for (int a = 0; a < tried; a++) {
    CHECK(fin_ran[a] <= 1);
    CHECK(fin_ran[a] == 0 || fin_saw_null[a]);
  }
  memset(resurrected, 0, sizeof resurrected);
}

/* With a cleanup: NULL inside the cleanup and after (TestPointerCleanup).
 * Per attempt (the cleanup's arg). */
static gc_weak *cleanup_handle[ATTEMPTS];
static volatile int cleanup_saw_null[ATTEMPTS], cleanup_ran[ATTEMPTS];
static void cleanup_check(void *arg) {
  intptr_t a = (intptr_t)arg;
  cleanup_saw_null[a] = gc_weak_value(cleanup_handle[a]) == NULL;
  cleanup_ran[a]++;
}

static NOINLINE void make_with_cleanup(int a) {
  struct t *x = gc_alloc(sizeof *x);
  cleanup_handle[a] = gc_weak_make(x);
  REQUIRE(gc_add_cleanup(x, cleanup_check, (void *)(intptr_t)a).id != 0);
}

/* Fresh objects until one's cleanup runs; every cleanup that ran saw its
 * handle NULL, and it stays NULL. */
TEST(with_cleanup) {
  int done = 0, tried = 0;
  while (tried < ATTEMPTS && !done) {
    int a = tried++;
    make_with_cleanup(a);
    done = COLLECT_UNTIL(cleanup_ran[a], 10);
  }
  CHECK(done);
  for (int a = 0; a < tried; a++) {
    CHECK(cleanup_ran[a] <= 1);
    if (cleanup_ran[a])
      CHECK(cleanup_saw_null[a] && gc_weak_value(cleanup_handle[a]) == NULL);
  }
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
                                f +=
                                    gc_base((void *)~hidden_handles[i]) == NULL;
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
    REQUIRE(gc_pthread_create(&w[i], NULL, churner, (void *)(intptr_t)i) == 0);
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
