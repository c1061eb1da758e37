/*
 * pause: the time of a full collection of a big live heap of small linked
 * objects.
 *
 * A complete binary tree of depth D (default 22: 2^23 - 1 = 8.4M nodes) of
 * nodes {left, right, long value} (24-byte requests) is built bottom-up
 * with automatic collection off, and kept in a global.  Automatic
 * collection is then turned back on and 5 explicit full collections are
 * timed; nothing is garbage, so each one marks the whole tree.  Afterwards
 * the tree is checked: every node must still be there, with its value, and
 * still be a live object to the collector.
 *
 * Figures, each the median of the 5 collections:
 *   collect_ms  wall time of the call (gc_collect / GC_gcollect)
 *   pause_ms    time the world was stopped: finalgc's last_pause_ns from
 *               gc_read_stats after each gc_collect; for bdwgc, the time
 *               from its PRE_STOP_WORLD to its POST_START_WORLD event
 *   cmp_ms      the figure to compare: pause_ms for finalgc (gc_collect
 *               also sweeps, after the world has restarted), collect_ms
 *               for bdwgc (GC_gcollect holds the allocation lock throughout)
 *   ms_per_gib  cmp_ms per GiB of live heap (heap_mib): finalgc's heap_live
 *               (gc_read_stats), bdwgc's GC_get_heap_size - GC_get_free_bytes
 *
 * One source, selected by a macro:
 *   -DUSE_FINALGC   gc_alloc; gc_set_percent(-1) while building;
 *                   gc_set_markers(M)
 *   -DUSE_BOEHM     GC_MALLOC (GC_THREADS); GC_disable while building;
 *                   GC_MARKERS=M set in the environment before GC_INIT,
 *                   then GC_start_mark_threads()
 *
 * Usage: pause MARKERS [DEPTH]
 * Output: one line, "markers=M cmp_ms=... collect_ms=... pause_ms=...
 * ms_per_gib=... heap_mib=... nodes=... build_ms=... gcs=... maxrss_kb=...
 * allocator=...", gcs counting the collections from the start of the build
 * (the 5 timed ones, unless one ran while building); exit status 1 if the tree
 * was damaged, 3 if the marker count could not be set.
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
#define ALLOC(n) gc_alloc(n)
#else
#define GC_THREADS
#include <gc.h>
#include <gc/gc_mark.h>
#define VARIANT_NAME "bdwgc"
#define ALLOC(n) GC_MALLOC(n)
#endif

#define COLLECTIONS 5

typedef struct node {
  struct node *left;
  struct node *right;
  long value;
} node;

_Static_assert(sizeof(node) == 24, "node should be 24 bytes");

static node *root; /* in .bss: a root for both collectors */

#include "bench.h"

/* Node number id (the root is 1, the children of k are 2k and 2k+1) of a
 * tree of the given depth (0: a leaf). */
static node *build(int depth, long id) {
  node *l = NULL, *r = NULL;
  if (depth > 0) {
    l = build(depth - 1, 2 * id);
    r = build(depth - 1, 2 * id + 1);
  }
  node *n = ALLOC(sizeof(node));
  if (n == NULL) {
    fprintf(stderr, "pause: out of memory\n");
    exit(2);
  }
  n->left = l;
  n->right = r;
  n->value = id;
  return n;
}

/* Is n still an object of the collector's, not freed by a collection? */
static int is_live(const node *n) {
#if defined(USE_FINALGC)
  return gc_base(n) == n;
#else
  /* After a collection every reachable object keeps its mark bit until the
   * next one starts; what the collection reclaimed has it clear. */
  return GC_base((void *)n) == n && GC_is_marked(n);
#endif
}

/* Counts the nodes of the tree, or returns -1 if one is missing, has the
 * wrong value or children, or is not a live object any more. */
static long check(const node *n, int depth, long id) {
  if (n == NULL || n->value != id || !is_live(n))
    return -1;
  if (depth == 0)
    return (n->left == NULL && n->right == NULL) ? 1 : -1;
  long l = check(n->left, depth - 1, 2 * id);
  long r = check(n->right, depth - 1, 2 * id + 1);
  return (l < 0 || r < 0) ? -1 : l + r + 1;
}

#if defined(USE_BOEHM)
struct check_args {
  int depth;
  long count;
};

static void *GC_CALLBACK check_locked(void *p) {
  struct check_args *a = p;
  a->count = check(root, a->depth, 1);
  return NULL;
}

/* bdwgc's stop-the-world span, from its collection events. */
static double stw_start_ns, stw_total_ns;

static void GC_CALLBACK on_event(GC_EventType e) {
  if (e == GC_EVENT_PRE_STOP_WORLD)
    stw_start_ns = now_ns();
  else if (e == GC_EVENT_POST_START_WORLD)
    stw_total_ns += now_ns() - stw_start_ns;
}
#endif

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof v[0], cmp_double);
  return (n % 2) ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long parse_long(const char *s, const char *what, long lo, long hi) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*end != '\0' || v < lo || v > hi) {
    fprintf(stderr, "pause: bad %s '%s' (%ld..%ld)\n", what, s, lo, hi);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: pause MARKERS [DEPTH]\n");
    return 2;
  }
  int markers = (int)parse_long(argv[1], "marker count", 1, 16);
  int depth = argc > 2 ? (int)parse_long(argv[2], "depth", 1, 28) : 22;
  long want = (1L << (depth + 1)) - 1;

  /* ---- set-up: markers, automatic collection off ---- */
  int actual_markers;
#if defined(USE_FINALGC)
  gc_init();
  if (gc_set_markers(markers) != 0) {
    fprintf(stderr, "pause: gc_set_markers(%d) failed\n", markers);
    return 3;
  }
  actual_markers = markers;
  gc_set_percent(-1);
#else
  char buf[16];
  snprintf(buf, sizeof buf, "%d", markers);
  setenv("GC_MARKERS", buf, 1);
  GC_INIT();
  GC_start_mark_threads();
  actual_markers = GC_get_parallel() + 1;
  GC_disable();
#endif
  if (actual_markers != markers) {
    fprintf(stderr, "pause: asked for %d markers, the collector has %d\n",
            markers, actual_markers);
    return 3;
  }

  uint64_t gc0 = num_collections();
  double b0 = now_ns();
  root = build(depth, 1);
  double build_ns = now_ns() - b0;

#if defined(USE_FINALGC)
  gc_set_percent(100);
#else
  GC_enable();
  GC_set_on_collection_event(on_event);
#endif

  /* ---- the timed collections ---- */
  double collect[COLLECTIONS], pause[COLLECTIONS];
  size_t live = 0;
  for (int i = 0; i < COLLECTIONS; i++) {
#if defined(USE_FINALGC)
    double t0 = now_ns();
    gc_collect();
    collect[i] = now_ns() - t0;
    gc_stats st;
    gc_read_stats(&st);
    pause[i] = (double)st.last_pause_ns;
    live = st.heap_live;
#else
    stw_total_ns = 0;
    double t0 = now_ns();
    GC_gcollect();
    collect[i] = now_ns() - t0;
    pause[i] = stw_total_ns;
    live = GC_get_heap_size() - GC_get_free_bytes();
#endif
  }

  /* ---- the check ---- */
  long count;
#if defined(USE_FINALGC)
  count = check(root, depth, 1);
#else
  struct check_args ca = {depth, 0};
  GC_call_with_alloc_lock(check_locked, &ca);
  count = ca.count;
#endif
  uint64_t gcs = num_collections() - gc0;

  double collect_ms = median(collect, COLLECTIONS) / 1e6;
  double pause_ms = median(pause, COLLECTIONS) / 1e6;
#if defined(USE_FINALGC)
  double cmp_ms = pause_ms;
#else
  double cmp_ms = collect_ms;
#endif
  double live_gib = (double)live / (1024.0 * 1024 * 1024);

  printf("markers=%d cmp_ms=%.2f collect_ms=%.2f pause_ms=%.2f "
         "ms_per_gib=%.1f heap_mib=%.1f nodes=%ld build_ms=%.0f gcs=%llu "
         "maxrss_kb=%ld allocator=%s\n",
         actual_markers, cmp_ms, collect_ms, pause_ms,
         live_gib > 0 ? cmp_ms / live_gib : 0.0, (double)live / (1024 * 1024),
         count, build_ns / 1e6, (unsigned long long)gcs, max_rss_kb(),
         VARIANT_NAME);
  if (count != want) {
    fprintf(stderr, "pause: tree damaged (%ld nodes, want %ld)\n", count, want);
    return 1;
  }
  return 0;
}
