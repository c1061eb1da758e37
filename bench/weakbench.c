/*
 * weakbench: the cost of cleanups and weak pointers (Go's runtime.AddCleanup
 * and package weak, Go 1.24+), beside bdwgc's nearest equivalents.
 *
 * weakbench cleanup-pair [ROUNDS]
 *   finbench pair's shape, with cleanups: 1,000 live 24-byte objects in a
 *   global array (a root).  One round attaches a cleanup to all 1,000
 *   (gc_add_cleanup), then cancels all 1,000 (gc_cleanup_stop).  After a
 *   50-round warm-up, ROUNDS rounds (default 1,000: 1e6 add+stop pairs) are
 *   timed in 5 batches; the figure is the median batch's time per pair.  No
 *   cleanup ever runs.  bdwgc has no cleanups: its variant sets and clears a
 *   GC_REGISTER_FINALIZER_NO_ORDER finalizer instead (unordered, as cleanups
 *   are), reported as api=finalizer_no_order.
 *   Output: "pair_ns=... batches_ns=b1,..,b5 pairs=... gcs=... maxrss_kb=...
 *   api=... allocator=...", gcs counting the collections of the timed
 *   batches.
 *
 * weakbench cleanup-run [N]
 *   finbench run's shape, with cleanups: N objects (default 1,000,000) of
 *   16, 24, ..., 64 bytes in turn, each given a cleanup that increments an
 *   atomic counter, are kept in a collected array, then dropped together
 *   (the array cleared, the stack scrubbed).  Then, until the counter
 *   reaches N, the program loops { full collection; wait for the cleanups }
 *   (gc_collect + gc_wait_cleanups; at most 20 rounds).  bdwgc: a
 *   GC_REGISTER_FINALIZER_NO_ORDER finalizer per object, finalize-on-demand,
 *   GC_gcollect + GC_invoke_finalizers.
 *   Output: "ran=... run_ms=... per_s_M=... ns_per_cleanup=... gc_ms=...
 *   rounds=... alloc_ns=... gcs=... maxrss_kb=... api=... allocator=...":
 *   ns_per_cleanup is run_ms over the cleanups that ran (per_s_M: millions
 *   a second), gc_ms the part of run_ms spent in the collection calls,
 *   alloc_ns the cost of allocating an object and attaching its cleanup
 *   (collections included), gcs the collections of the whole run.  Exit
 *   status 1 if some cleanups never ran.
 *
 * The weak-pointer modes time N operations (default 1,000,000) in 5
 * batches of N/5 and report the median batch's time per operation (but
 * weak-make-distinct the mean: see there):
 *   "op_ns=... batches_ns=b1,..,b5 ops=... gcs=... maxrss_kb=... api=...
 *   allocator=...".
 *
 * weakbench weak-make-distinct [N]
 *   gc_weak_make on N distinct live 24-byte objects (each makes a new
 *   handle).  bdwgc: GC_general_register_disappearing_link on N distinct
 *   links (words of a pointer-free array, each holding its object's
 *   GC_HIDE_POINTER), one per object.  Afterwards every handle (link) must
 *   still give its object.  The handles (links) accumulate, and so do the
 *   collections and table growth they cause, which fall in some batches
 *   and not others: op_ns is the whole run's time per make, the mean of
 *   the batches, not their median.
 * weakbench weak-make-same [N]
 *   gc_weak_make N times on one live object: the lookup of its canonical
 *   handle (every call must return the first call's handle).  bdwgc has no
 *   canonical handles; the nearest operation is registering the same link
 *   for the same object again, which must return GC_DUPLICATE.
 * weakbench weak-value-live [N]
 *   gc_weak_value on the handles of 1,000 live objects, in turn, N reads in
 *   all (rounded up to whole rounds); each must give its object.  bdwgc:
 *   the documented safe read of a disappearing link, GC_call_with_alloc_lock
 *   with a function that reads the link and returns GC_REVEAL_POINTER of it
 *   (bdwgc 8.2 has no GC_call_with_reader_lock; a plain read could race with
 *   the collector clearing the link).  In a program that never registered a
 *   second thread, as here, bdwgc 8.2 skips the lock itself.  Output adds
 *   "live=1000" after api=.
 * weakbench weak-value-dead [N]
 *   The same on the handles (links) of 1,000 objects that were dropped and
 *   collected: full collections until every handle reads NULL, or two in a
 *   row clear none (at most 20); each read must give NULL.  A conservative
 *   collector may keep a few through stale words: the reads go to the dead
 *   handles only, and exit status 1 if over 1% were kept.  Output adds
 *   "dead=... kept=... collections=..." after api=.
 *
 * One source, selected by a macro:
 *   -DUSE_FINALGC   gc_alloc, gc_add_cleanup, gc_cleanup_stop, gc_collect +
 *                   gc_wait_cleanups, gc_weak_make, gc_weak_value
 *   -DUSE_BOEHM     bdwgc's <gc.h> (8.2): finalizers without order instead
 *                   of cleanups, disappearing links instead of weak handles.
 *                   Not built against finalgc's compat layer: it has no
 *                   GC_call_with_alloc_lock.
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
#define CLEANUP_API "cleanup"
#define WEAK_API "gc_weak"
#define GC_SETUP() gc_init()
#define ALLOC(n) gc_alloc(n)
#define ALLOC_NOSCAN(n) gc_alloc_noscan(n)
#define COLLECT() gc_collect()
#else
#include <gc.h>
#ifndef BENCH_GC_NAME
#define BENCH_GC_NAME "bdwgc"
#endif
#define VARIANT_NAME BENCH_GC_NAME
#define CLEANUP_API "finalizer_no_order"
#define WEAK_API "disappearing_link"
#define GC_SETUP() GC_INIT()
#define ALLOC(n) GC_MALLOC(n)
#define ALLOC_NOSCAN(n) GC_MALLOC_ATOMIC(n)
#define COLLECT() GC_gcollect()
#endif

typedef struct obj {
  struct obj *p;
  int64_t a, b;
} obj;

_Static_assert(sizeof(obj) == 24, "obj should be 24 bytes");

#define KOBJS 1000 /* objects of the pair and weak-value modes */
#define PAIR_WARMUP 50
#define BATCHES 5
#define MAX_ROUNDS 20

#include "bench.h"

static void *alloc_or_die(size_t n) {
  void *p = ALLOC(n);
  if (p == NULL) {
    fprintf(stderr, "weakbench: out of memory\n");
    exit(2);
  }
  return p;
}

#if defined(USE_BOEHM)
static void *alloc_noscan_or_die(size_t n) {
  void *p = ALLOC_NOSCAN(n);
  if (p == NULL) {
    fprintf(stderr, "weakbench: out of memory\n");
    exit(2);
  }
  return p;
}
#endif

/* An API call that failed: exit status 2, as for bad usage. */
static void fail_call(const char *what) {
  fprintf(stderr, "weakbench: %s failed\n", what);
  exit(2);
}

static long parse_count(const char *s, const char *what) {
  char *end;
  long n = strtol(s, &end, 10);
  if (*end != '\0' || n <= 0) {
    fprintf(stderr, "weakbench: bad %s '%s'\n", what, s);
    exit(2);
  }
  return n;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Prints "KEY=figure batches_ns=b1,..,b5 COUNT=n gcs=... maxrss_kb=...
 * api=... allocator=..." for the per-operation times ns[] of the batches
 * (equal in size; sorts ns).  The figure is the median batch's, or with
 * mean set the mean of all (the whole run's time per operation). */
static void report_batches(const char *key, double ns[BATCHES], int mean,
                           const char *count_key, long count, uint64_t gcs,
                           const char *api) {
  char list[BATCHES * 24] = "";
  double sum = 0;
  for (int b = 0; b < BATCHES; b++) {
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%.2f",
             b ? "," : "", ns[b]);
    sum += ns[b];
  }
  qsort(ns, BATCHES, sizeof ns[0], cmp_double);
  printf("%s=%.2f batches_ns=%s %s=%ld gcs=%llu maxrss_kb=%ld api=%s "
         "allocator=%s\n",
         key, mean ? sum / BATCHES : ns[BATCHES / 2], list, count_key, count,
         (unsigned long long)gcs, max_rss_kb(), api, VARIANT_NAME);
}

/* Overwrites 64 KiB of the stack below the caller's frame, so that a
 * conservative collector finds no stale copy of a dropped object there. */
__attribute__((noinline)) static void scrub_stack(void) {
  char buf[64 * 1024];
  memset(buf, 0, sizeof buf);
  __asm__ volatile("" : : "r"(buf) : "memory");
}

/* ---- cleanups (bdwgc: finalizers without order) -------------------------- */

#if defined(USE_FINALGC)
typedef gc_cleanup cleanup_handle;

static void nop_cleanup(void *arg) { (void)arg; }

static cleanup_handle add_cleanup(void *o, gc_cleanup_fn fn) {
  gc_cleanup c = gc_add_cleanup(o, fn, NULL);
  if (c.id == 0)
    fail_call("gc_add_cleanup");
  return c;
}

static void stop_cleanup(void *o, cleanup_handle c) {
  (void)o;
  gc_cleanup_stop(c);
}
#define RUN_CLEANUPS() gc_wait_cleanups()
#define CLEANUP_FN(name) static void name(void *arg)
#define CLEANUP_UNUSED() (void)arg
#else
typedef int cleanup_handle;

static void GC_CALLBACK nop_cleanup(void *o, void *cd) {
  (void)o;
  (void)cd;
}

static cleanup_handle add_cleanup(void *o, GC_finalization_proc fn) {
  GC_REGISTER_FINALIZER_NO_ORDER(o, fn, 0, 0, 0);
  return 0;
}

static void stop_cleanup(void *o, cleanup_handle c) {
  (void)c;
  GC_REGISTER_FINALIZER_NO_ORDER(o, 0, 0, 0, 0);
}
#define RUN_CLEANUPS() ((void)GC_invoke_finalizers())
#define CLEANUP_FN(name) static void GC_CALLBACK name(void *o, void *cd)
#define CLEANUP_UNUSED() ((void)o, (void)cd)
#endif

static obj *kobjs[KOBJS]; /* in .bss: a root for both collectors */
static cleanup_handle pair_handles[KOBJS];

static void pair_rounds(long rounds) {
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < KOBJS; i++)
      pair_handles[i] = add_cleanup(kobjs[i], nop_cleanup);
    for (int i = 0; i < KOBJS; i++)
      stop_cleanup(kobjs[i], pair_handles[i]);
  }
}

static int mode_cleanup_pair(long rounds) {
  for (int i = 0; i < KOBJS; i++)
    kobjs[i] = alloc_or_die(sizeof(obj));
  pair_rounds(PAIR_WARMUP);

  long per_batch = (rounds + BATCHES - 1) / BATCHES;
  double ns[BATCHES];
  uint64_t gc0 = num_collections();
  for (int b = 0; b < BATCHES; b++) {
    double t0 = now_ns();
    pair_rounds(per_batch);
    ns[b] = (now_ns() - t0) / ((double)per_batch * KOBJS);
  }
  report_batches("pair_ns", ns, 0, "pairs", per_batch * BATCHES * KOBJS,
                 num_collections() - gc0, CLEANUP_API);
  return 0;
}

static void **run_objs; /* the collected array of the live objects */
static long run_count;  /* cleanups run */

CLEANUP_FN(count_cleanup) {
  CLEANUP_UNUSED();
  __atomic_fetch_add(&run_count, 1, __ATOMIC_RELAXED);
}

/* In functions of their own, not inlined into the timed code, so that no
 * register or stack slot of the caller keeps an object's address. */
__attribute__((noinline)) static void run_populate(long n) {
  run_objs = alloc_or_die((size_t)n * sizeof(void *));
  for (long k = 0; k < n; k++) {
    /* 16, 24, ..., 64 bytes: a null pointer word, then k. */
    int64_t *o = alloc_or_die(16 + 8 * (size_t)(k % 7));
    o[1] = k;
    (void)add_cleanup(o, count_cleanup);
    run_objs[k] = o;
  }
}

__attribute__((noinline)) static void run_drop(long n) {
  memset(run_objs, 0, (size_t)n * sizeof(void *));
}

static int mode_cleanup_run(long n) {
  uint64_t gc_start = num_collections();
  double t0 = now_ns();
  run_populate(n);
  double t1 = now_ns();

  run_drop(n);
  scrub_stack();

#if defined(USE_BOEHM)
  /* GC_gcollect then leaves the finalizers to GC_invoke_finalizers. */
  GC_set_finalize_on_demand(1);
#endif
  double t2 = now_ns(), gc_ns = 0;
  int rounds = 0;
  while (__atomic_load_n(&run_count, __ATOMIC_RELAXED) < n &&
         rounds < MAX_ROUNDS) {
    double c0 = now_ns();
    COLLECT();
    gc_ns += now_ns() - c0;
    RUN_CLEANUPS();
    rounds++;
  }
  double t3 = now_ns();
  long done = __atomic_load_n(&run_count, __ATOMIC_RELAXED);
  uint64_t gcs = num_collections() - gc_start;

  double run_ns = t3 - t2;
  printf("ran=%ld run_ms=%.2f per_s_M=%.3f ns_per_cleanup=%.2f gc_ms=%.2f "
         "rounds=%d alloc_ns=%.2f gcs=%llu maxrss_kb=%ld api=%s "
         "allocator=%s\n",
         done, run_ns / 1e6, done > 0 ? done / run_ns * 1e3 : 0.0,
         done > 0 ? run_ns / (double)done : 0.0, gc_ns / 1e6, rounds,
         (t1 - t0) / (double)n, (unsigned long long)gcs, max_rss_kb(),
         CLEANUP_API, VARIANT_NAME);
  if (done != n) {
    fprintf(stderr, "weakbench: only %ld of %ld cleanups ran after %d rounds\n",
            done, n, rounds);
    return 1;
  }
  return 0;
}

/* ---- weak pointers (bdwgc: disappearing links) -------------------------- */

#if defined(USE_FINALGC)
/* A weak reference: finalgc's handle. */
typedef gc_weak *weak_ref;

static void weak_make(weak_ref *w, void *o) {
  *w = gc_weak_make(o);
  if (*w == NULL)
    fail_call("gc_weak_make");
}

/* Making it again: 1 if it gave the same handle. */
static int weak_make_again(weak_ref *w, void *o) {
  return gc_weak_make(o) == *w;
}

static void *weak_value(weak_ref *w) { return gc_weak_value(*w); }
#else
/* A weak reference: a disappearing link, a word holding the hidden
 * pointer. */
typedef GC_hidden_pointer weak_ref;

static void weak_make(weak_ref *w, void *o) {
  *w = GC_HIDE_POINTER(o);
  if (GC_general_register_disappearing_link((void **)w, o) != GC_SUCCESS)
    fail_call("GC_general_register_disappearing_link");
}

static int weak_make_again(weak_ref *w, void *o) {
  return GC_general_register_disappearing_link((void **)w, o) == GC_DUPLICATE;
}

static void *GC_CALLBACK reveal_link(void *link) {
  GC_hidden_pointer h = *(GC_hidden_pointer *)link;
  return h ? GC_REVEAL_POINTER(h) : NULL;
}

/* bdwgc's safe read: under the allocation lock, so that the collector
 * cannot clear the link between the read and the reveal. */
static void *weak_value(weak_ref *w) {
  return GC_call_with_alloc_lock(reveal_link, w);
}
#endif

static void bad_values(long bad, const char *what) {
  fprintf(stderr, "weakbench: %ld weak reads gave %s\n", bad, what);
  exit(1);
}

static int mode_weak_make_distinct(long n) {
  long per_batch = (n + BATCHES - 1) / BATCHES, total = per_batch * BATCHES;
  obj **objs = alloc_or_die((size_t)total * sizeof *objs);
  /* finalgc: the handles, in a scanned array; bdwgc: the links, in a
   * pointer-free one (hidden pointers need no scanning). */
#if defined(USE_FINALGC)
  weak_ref *refs = alloc_or_die((size_t)total * sizeof *refs);
#else
  weak_ref *refs = alloc_noscan_or_die((size_t)total * sizeof *refs);
#endif
  for (long k = 0; k < total; k++)
    objs[k] = alloc_or_die(sizeof(obj));

  double ns[BATCHES];
  uint64_t gc0 = num_collections();
  for (int b = 0; b < BATCHES; b++) {
    long lo = b * per_batch, hi = lo + per_batch;
    double t0 = now_ns();
    for (long k = lo; k < hi; k++)
      weak_make(&refs[k], objs[k]);
    ns[b] = (now_ns() - t0) / (double)per_batch;
  }
  uint64_t gcs = num_collections() - gc0;

  long bad = 0;
  for (long k = 0; k < total; k++)
    bad += weak_value(&refs[k]) != objs[k];
  if (bad)
    bad_values(bad, "a wrong value");
  report_batches("op_ns", ns, 1, "ops", total, gcs, WEAK_API);
  return 0;
}

static obj *same_obj;     /* a root */
static weak_ref same_ref; /* finalgc: a handle; bdwgc: a link */

static int mode_weak_make_same(long n) {
  long per_batch = (n + BATCHES - 1) / BATCHES;
  same_obj = alloc_or_die(sizeof(obj));
  weak_make(&same_ref, same_obj);
  long bad = 0;
  for (int i = 0; i < 1000; i++) /* warm-up */
    bad += !weak_make_again(&same_ref, same_obj);

  double ns[BATCHES];
  uint64_t gc0 = num_collections();
  for (int b = 0; b < BATCHES; b++) {
    double t0 = now_ns();
    for (long k = 0; k < per_batch; k++)
      bad += !weak_make_again(&same_ref, same_obj);
    ns[b] = (now_ns() - t0) / (double)per_batch;
  }
  uint64_t gcs = num_collections() - gc0;
  if (bad) {
    fprintf(stderr, "weakbench: %ld makes on the same object gave %s\n", bad,
#if defined(USE_FINALGC)
            "another handle"
#else
            "no GC_DUPLICATE"
#endif
    );
    return 1;
  }
  if (weak_value(&same_ref) != same_obj)
    bad_values(1, "a wrong value");
  report_batches("op_ns", ns, 0, "ops", per_batch * BATCHES, gcs,
#if defined(USE_FINALGC)
                 WEAK_API
#else
                 "disappearing_link_duplicate"
#endif
  );
  return 0;
}

static weak_ref krefs[KOBJS]; /* bdwgc: the links (hidden: no roots) */
static int kidx[KOBJS];       /* the references read, by index in krefs */
static int nidx;

/* Reads krefs[kidx[j]] for every j, rounds times, comparing each value with
 * kobjs[kidx[j]] (so NULL for a dead referent); returns the wrong ones. */
static long value_rounds(long rounds) {
  long bad = 0;
  for (long r = 0; r < rounds; r++)
    for (int j = 0; j < nidx; j++) {
      int i = kidx[j];
      bad += weak_value(&krefs[i]) != (void *)kobjs[i];
    }
  return bad;
}

static int time_values(long n, const char *extra) {
  long rounds = (n + (long)BATCHES * nidx - 1) / ((long)BATCHES * nidx);
  long bad = value_rounds(10); /* warm-up */
  double ns[BATCHES];
  uint64_t gc0 = num_collections();
  for (int b = 0; b < BATCHES; b++) {
    double t0 = now_ns();
    bad += value_rounds(rounds);
    ns[b] = (now_ns() - t0) / ((double)rounds * nidx);
  }
  uint64_t gcs = num_collections() - gc0;
  if (bad)
    bad_values(bad, "a wrong value");
  char api[96];
  snprintf(api, sizeof api, "%s %s",
#if defined(USE_FINALGC)
           WEAK_API,
#else
           "disappearing_link_alloc_lock",
#endif
           extra);
  report_batches("op_ns", ns, 0, "ops", rounds * BATCHES * nidx, gcs, api);
  return 0;
}

static int mode_weak_value_live(long n) {
  for (int i = 0; i < KOBJS; i++) {
    kobjs[i] = alloc_or_die(sizeof(obj));
    weak_make(&krefs[i], kobjs[i]);
    kidx[nidx++] = i;
  }
  return time_values(n, "live=1000");
}

__attribute__((noinline)) static void dead_populate(void) {
  for (int i = 0; i < KOBJS; i++) {
    kobjs[i] = alloc_or_die(sizeof(obj));
    weak_make(&krefs[i], kobjs[i]);
  }
}

__attribute__((noinline)) static void dead_drop(void) {
  memset(kobjs, 0, sizeof kobjs);
}

__attribute__((noinline)) static int live_refs(void) {
  int live = 0;
  for (int i = 0; i < KOBJS; i++)
    live += weak_value(&krefs[i]) != NULL;
  return live;
}

/* A conservative collector may keep a dropped object alive through a stale
 * word that happens to hold its address (bdwgc 8.2 here keeps one of the
 * 1,000, always the first object of a heap block); so the collections stop
 * once all are dead or two in a row change nothing, the reads go to the
 * dead references only, and at most 1% may be kept. */
static int mode_weak_value_dead(long n) {
  dead_populate();
  dead_drop();
  scrub_stack();
  int live = KOBJS, rounds = 0, same = 0;
  while (live > 0 && rounds < MAX_ROUNDS && same < 2) {
    COLLECT();
    int now = live_refs();
    same = now == live ? same + 1 : 0;
    live = now;
    rounds++;
  }
  if (live > KOBJS / 100) {
    fprintf(stderr,
            "weakbench: %d of %d weak references still set after %d "
            "collections\n",
            live, KOBJS, rounds);
    return 1;
  }
  for (int i = 0; i < KOBJS; i++)
    if (weak_value(&krefs[i]) == NULL)
      kidx[nidx++] = i;
  char extra[64];
  snprintf(extra, sizeof extra, "dead=%d kept=%d collections=%d", nidx,
           KOBJS - nidx, rounds);
  return time_values(n, extra);
}

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*fn)(long);
    long dflt;
    const char *what;
  } modes[] = {
      {"cleanup-pair", mode_cleanup_pair, 1000, "round count"},
      {"cleanup-run", mode_cleanup_run, 1000000, "object count"},
      {"weak-make-distinct", mode_weak_make_distinct, 1000000, "count"},
      {"weak-make-same", mode_weak_make_same, 1000000, "count"},
      {"weak-value-live", mode_weak_value_live, 1000000, "count"},
      {"weak-value-dead", mode_weak_value_dead, 1000000, "count"},
  };
  if (argc >= 2 && argc <= 3)
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++)
      if (strcmp(argv[1], modes[m].name) == 0) {
        GC_SETUP();
        return modes[m].fn(argc > 2 ? parse_count(argv[2], modes[m].what)
                                    : modes[m].dflt);
      }
  fprintf(stderr,
          "usage: weakbench cleanup-pair [ROUNDS] | cleanup-run [N] |\n"
          "       weakbench weak-make-distinct [N] | weak-make-same [N] |\n"
          "       weakbench weak-value-live [N] | weak-value-dead [N]\n");
  return 2;
}
