/*
 * finbench: the cost of finalizers.  The Go port is go/finbench/main.go;
 * both print the same fields.
 *
 * finbench pair [ROUNDS]
 *   Go's BenchmarkFinalizer shape, on one thread: 1,000 live 24-byte
 *   objects {p, a, b} in a global array (a root).  One round sets a
 *   finalizer on all 1,000, then clears all 1,000.  After a 50-round
 *   warm-up, ROUNDS rounds (default 1,000: 1e6 set+clear pairs) are timed
 *   in 5 batches; the figure is the median batch's time per pair.  No
 *   finalizer ever runs: every object stays reachable.
 *   Output: "pair_ns=... batches_ns=b1,..,b5 pairs=... gcs=... maxrss_kb=...
 *   allocator=...", gcs counting the collections during the timed batches.
 *
 * finbench run [N]
 *   Throughput: N objects (default 1,000,000) of sizes 16, 24, ..., 64 bytes
 *   in turn, each given a finalizer that increments an atomic counter, are
 *   kept in a collected array, then dropped together: the array is cleared
 *   and the stack scrubbed (a conservative collector must not find stale
 *   copies there).  From then on, until the counter reaches N, the program
 *   loops { full collection; wait for the finalizers } (at most 20 rounds).
 *   Output: "finalized=... fin_ms=... fin_per_s_M=... ns_per_fin=...
 *   gc_ms=... rounds=... alloc_ns=... gcs=... maxrss_kb=... allocator=...":
 *   ns_per_fin is fin_ms over the finalizers that ran, gc_ms the part of
 *   fin_ms spent in the collection calls, alloc_ns the cost of allocating
 *   an object and setting its finalizer (collections included), gcs the
 *   collections of the whole run.  Exit status 1 if some finalizers never
 *   ran.
 *
 * One source, selected by a macro:
 *   -DUSE_FINALGC   gc_alloc, gc_set_finalizer, gc_collect +
 *                   gc_wait_finalizers (finalizers run on finalgc's
 *                   finalizer thread)
 *   -DUSE_BOEHM     GC_MALLOC, GC_REGISTER_FINALIZER, GC_gcollect +
 *                   GC_invoke_finalizers (finalizers on the calling thread;
 *                   "run" turns finalize-on-demand on before the drop, so
 *                   that GC_gcollect leaves them to GC_invoke_finalizers)
 *   The USE_BOEHM code is plain <gc.h>: it is also built against finalgc's
 *   bdwgc-compatible layer (-I compat/include, libfinalgc-bdwgc.a), as the
 *   finalgc-gch variant.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(USE_FINALGC) + defined(USE_BOEHM) != 1
#error "define exactly one of USE_FINALGC, USE_BOEHM"
#endif

#if defined(USE_FINALGC)
#include "finalgc.h"
#define VARIANT_NAME "finalgc"
#define GC_SETUP() gc_init()
#define ALLOC(n) gc_alloc(n)
#define SET_FINALIZER(o, fn) gc_set_finalizer((o), (fn), NULL)
#define CLEAR_FINALIZER(o) gc_set_finalizer((o), NULL, NULL)
#define COLLECT() gc_collect()
#define RUN_FINALIZERS() gc_wait_finalizers()
#else
#include <gc.h>
/* The <gc.h> library linked: bdwgc, unless the build names another one
 * (finalgc's compat layer: -DBENCH_GC_NAME='"finalgc-gch"'). */
#ifndef BENCH_GC_NAME
#define BENCH_GC_NAME "bdwgc"
#endif
#define VARIANT_NAME BENCH_GC_NAME
#define GC_SETUP() GC_INIT()
#define ALLOC(n) GC_MALLOC(n)
#define SET_FINALIZER(o, fn) (GC_REGISTER_FINALIZER((o), (fn), 0, 0, 0), 0)
#define CLEAR_FINALIZER(o) (GC_REGISTER_FINALIZER((o), 0, 0, 0, 0), 0)
#define COLLECT() GC_gcollect()
#define RUN_FINALIZERS() ((void)GC_invoke_finalizers())
#endif

typedef struct obj {
  struct obj *p;
  int64_t a, b;
} obj;

_Static_assert(sizeof(obj) == 24, "obj should be 24 bytes");

#define PAIR_OBJS 1000
#define PAIR_WARMUP 50
#define BATCHES 5
#define MAX_ROUNDS 20

#include "bench.h"

static void *alloc_or_die(size_t n) {
  void *p = ALLOC(n);
  if (p == NULL) {
    fprintf(stderr, "finbench: out of memory\n");
    exit(2);
  }
  return p;
}

static void check(int err, const char *what) {
  if (err != 0) {
    fprintf(stderr, "finbench: %s failed (error %d)\n", what, err);
    exit(2);
  }
}

static long parse_count(const char *s, const char *what) {
  char *end;
  long n = strtol(s, &end, 10);
  if (*end != '\0' || n <= 0) {
    fprintf(stderr, "finbench: bad %s '%s'\n", what, s);
    exit(2);
  }
  return n;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* ---- pair ---------------------------------------------------------------- */

static obj *pair_objs[PAIR_OBJS]; /* in .bss: a root for both collectors */

static void pair_fin(void *o, void *arg) {
  (void)o;
  (void)arg;
}

static void pair_rounds(long rounds) {
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < PAIR_OBJS; i++)
      check(SET_FINALIZER(pair_objs[i], pair_fin), "set finalizer");
    for (int i = 0; i < PAIR_OBJS; i++)
      check(CLEAR_FINALIZER(pair_objs[i]), "clear finalizer");
  }
}

static int mode_pair(long rounds) {
  for (int i = 0; i < PAIR_OBJS; i++)
    pair_objs[i] = alloc_or_die(sizeof(obj));
  pair_rounds(PAIR_WARMUP);

  long per_batch = (rounds + BATCHES - 1) / BATCHES;
  double ns[BATCHES];
  uint64_t gc0 = num_collections();
  for (int b = 0; b < BATCHES; b++) {
    double t0 = now_ns();
    pair_rounds(per_batch);
    ns[b] = (now_ns() - t0) / ((double)per_batch * PAIR_OBJS);
  }
  uint64_t gcs = num_collections() - gc0;

  char list[BATCHES * 24] = "";
  for (int b = 0; b < BATCHES; b++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%.2f",
             b ? "," : "", ns[b]);
  qsort(ns, BATCHES, sizeof ns[0], cmp_double);
  printf("pair_ns=%.2f batches_ns=%s pairs=%ld gcs=%llu maxrss_kb=%ld "
         "allocator=%s\n",
         ns[BATCHES / 2], list, per_batch * BATCHES * PAIR_OBJS,
         (unsigned long long)gcs, max_rss_kb(), VARIANT_NAME);
  return 0;
}

/* ---- run ----------------------------------------------------------------- */

static void **run_objs; /* the collected array of the live objects */
static long run_count;  /* finalizers run */

static void run_fin(void *o, void *arg) {
  (void)o;
  (void)arg;
  __atomic_fetch_add(&run_count, 1, __ATOMIC_RELAXED);
}

/* The work is done in functions of their own, not inlined into the timed
 * code, so that no register or stack slot of the caller is left holding an
 * object's address when the objects are dropped. */
__attribute__((noinline)) static void run_populate(long n) {
  run_objs = alloc_or_die((size_t)n * sizeof(void *));
  for (long k = 0; k < n; k++) {
    /* 16, 24, ..., 64 bytes: a null pointer word, then k. */
    int64_t *o = alloc_or_die(16 + 8 * (size_t)(k % 7));
    o[1] = k;
    check(SET_FINALIZER(o, run_fin), "set finalizer");
    run_objs[k] = o;
  }
}

__attribute__((noinline)) static void run_drop(long n) {
  memset(run_objs, 0, (size_t)n * sizeof(void *));
}

/* Overwrites 64 KiB of the stack below the caller's frame. */
__attribute__((noinline)) static void scrub_stack(void) {
  char buf[64 * 1024];
  memset(buf, 0, sizeof buf);
  __asm__ volatile("" : : "r"(buf) : "memory");
}

static int mode_run(long n) {
  uint64_t gc_start = num_collections();
  double t0 = now_ns();
  run_populate(n);
  double t1 = now_ns();

  run_drop(n);
  scrub_stack();

#if defined(USE_BOEHM)
  /* GC_gcollect then leaves the finalizers to GC_invoke_finalizers, instead
   * of running them itself: the same work, but gc_ms is the collections'. */
  GC_set_finalize_on_demand(1);
#endif
  double t2 = now_ns(), gc_ns = 0;
  int rounds = 0;
  while (__atomic_load_n(&run_count, __ATOMIC_RELAXED) < n &&
         rounds < MAX_ROUNDS) {
    double c0 = now_ns();
    COLLECT();
    gc_ns += now_ns() - c0;
    RUN_FINALIZERS();
    rounds++;
  }
  double t3 = now_ns();
  long done = __atomic_load_n(&run_count, __ATOMIC_RELAXED);
  uint64_t gcs = num_collections() - gc_start;

  double fin_ns = t3 - t2;
  printf("finalized=%ld fin_ms=%.2f fin_per_s_M=%.3f ns_per_fin=%.2f "
         "gc_ms=%.2f rounds=%d alloc_ns=%.2f gcs=%llu maxrss_kb=%ld "
         "allocator=%s\n",
         done, fin_ns / 1e6, done > 0 ? done / fin_ns * 1e3 : 0.0,
         done > 0 ? fin_ns / (double)done : 0.0, gc_ns / 1e6, rounds,
         (t1 - t0) / (double)n, (unsigned long long)gcs, max_rss_kb(),
         VARIANT_NAME);
  if (done != n) {
    fprintf(stderr,
            "finbench: only %ld of %ld finalizers ran after %d rounds\n", done,
            n, rounds);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3 ||
      (strcmp(argv[1], "pair") != 0 && strcmp(argv[1], "run") != 0)) {
    fprintf(stderr, "usage: finbench pair [ROUNDS] | finbench run [N]\n");
    return 2;
  }
  GC_SETUP();
  if (strcmp(argv[1], "pair") == 0)
    return mode_pair(argc > 2 ? parse_count(argv[2], "round count") : 1000);
  return mode_run(argc > 2 ? parse_count(argv[2], "object count") : 1000000);
}
