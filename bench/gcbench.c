/*
 * gcbench: a binary-tree workload in the style of the Ellis-Kovac-Boehm
 * GCBench.
 *
 *   1. A "stretch" tree of depth 18 is built bottom-up and dropped.
 *   2. A long-lived tree of depth 16 and a long-lived pointer-free array of
 *      500,000 doubles are built and kept until the end.
 *   3. For depth d = 4, 6, ..., 16: NumIters(d) = 2*TreeSize(18)/TreeSize(d)
 *      trees of depth d are built top-down and dropped, then as many are
 *      built bottom-up and dropped.
 *   4. The long-lived tree and array are checked.
 *
 * One source, selected by a macro:
 *   -DUSE_FINALGC   gc_alloc / gc_alloc_noscan, never freed
 *   -DUSE_BOEHM     GC_MALLOC / GC_MALLOC_ATOMIC, never freed
 *   -DUSE_MALLOC    malloc, every dropped tree freed recursively
 *                   (linked with -lmimalloc, this is the mimalloc variant)
 *   The USE_BOEHM code is plain <gc.h>: it is also built against finalgc's
 *   bdwgc-compatible layer (-I compat/include, libfinalgc-bdwgc.a), as the
 *   finalgc-gch variant.
 *
 * Usage: gcbench [stretch_depth [long_lived_depth [max_depth]]]
 *        (defaults 18 16 16; the array has 500,000 doubles, doubled for
 *        every level of long_lived_depth above 16)
 *
 * Output: one line, "time_ms=... gcs=... maxrss_kb=... allocator=...";
 * exit status 1 if the long-lived data was damaged.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(USE_FINALGC) + defined(USE_BOEHM) + defined(USE_MALLOC) != 1
#error "define exactly one of USE_FINALGC, USE_BOEHM, USE_MALLOC"
#endif

#if defined(USE_FINALGC)
#include "finalgc.h"
#define VARIANT_NAME "finalgc"
#define ALLOC(n) gc_alloc(n)
#define ALLOC_ATOMIC(n) gc_alloc_noscan(n)
#define GC_SETUP() gc_init()
#define DROP_TREE(t) ((void)(t))
#elif defined(USE_BOEHM)
#include <gc.h>
/* The <gc.h> library linked: bdwgc, unless the build names another one
 * (finalgc's compat layer: -DBENCH_GC_NAME='"finalgc-gch"'). */
#ifndef BENCH_GC_NAME
#define BENCH_GC_NAME "bdwgc"
#endif
#define VARIANT_NAME BENCH_GC_NAME
#define ALLOC(n) GC_MALLOC(n)
#define ALLOC_ATOMIC(n) GC_MALLOC_ATOMIC(n)
#define GC_SETUP() GC_INIT()
#define DROP_TREE(t) ((void)(t))
#else
#define ALLOC(n) malloc(n)
#define ALLOC_ATOMIC(n) malloc(n)
#define GC_SETUP() ((void)0)
#define DROP_TREE(t) free_tree(t)
#endif

typedef struct Node {
  struct Node *left;
  struct Node *right;
  int i;
  int j;
} Node;

_Static_assert(sizeof(Node) == 24, "Node should be 24 bytes");

static void die_oom(void) {
  fprintf(stderr, "gcbench: out of memory\n");
  exit(2);
}

/* Every variant writes all four fields, so a GC's zeroing gives it no edge
 * and malloc's lack of it costs nothing extra. */
static inline Node *new_node(Node *l, Node *r, int depth) {
  Node *n = ALLOC(sizeof(Node));
  if (n == NULL)
    die_oom();
  n->left = l;
  n->right = r;
  n->i = depth;
  n->j = 0;
  return n;
}

#ifdef USE_MALLOC
static void free_tree(Node *t) {
  while (t != NULL) {
    Node *r = t->right;
    free_tree(t->left);
    free(t);
    t = r;
  }
}
#endif

/* Number of nodes in a full binary tree of the given depth. */
static long tree_size(int depth) { return (1L << (depth + 1)) - 1; }

static long num_iters(int stretch_depth, int depth) {
  return 2 * tree_size(stretch_depth) / tree_size(depth);
}

/* Top-down: the children are allocated and linked before they are filled. */
static void populate(int depth, Node *n) {
  if (depth <= 0)
    return;
  depth--;
  n->left = new_node(NULL, NULL, depth);
  n->right = new_node(NULL, NULL, depth);
  populate(depth, n->left);
  populate(depth, n->right);
}

/* Bottom-up: the children exist before their parent. */
static Node *make_tree(int depth) {
  if (depth <= 0)
    return new_node(NULL, NULL, 0);
  Node *l = make_tree(depth - 1);
  Node *r = make_tree(depth - 1);
  return new_node(l, r, depth);
}

/* Counts the nodes of a tree and checks its shape: a node's i is its
 * height, and only nodes of height 0 are leaves.  Returns -1 if damaged. */
static long check_tree(const Node *n, int depth) {
  if (n == NULL || n->i != depth || n->j != 0)
    return -1;
  if (depth == 0)
    return (n->left == NULL && n->right == NULL) ? 1 : -1;
  long l = check_tree(n->left, depth - 1);
  long r = check_tree(n->right, depth - 1);
  if (l < 0 || r < 0)
    return -1;
  return l + r + 1;
}

/* Stops the compiler from treating a dropped tree as dead early. */
static inline void keep(const void *p) {
  __asm__ volatile("" : : "r"(p) : "memory");
}

static void time_construction(int stretch_depth, int depth) {
  long iters = num_iters(stretch_depth, depth);
  for (long k = 0; k < iters; k++) {
    Node *t = new_node(NULL, NULL, depth);
    populate(depth, t);
    keep(t);
    DROP_TREE(t);
  }
  for (long k = 0; k < iters; k++) {
    Node *t = make_tree(depth);
    keep(t);
    DROP_TREE(t);
  }
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int parse_depth(const char *s, int dflt) {
  if (s == NULL)
    return dflt;
  char *end;
  long v = strtol(s, &end, 10);
  if (*end != '\0' || v < 1 || v > 26) {
    fprintf(stderr, "gcbench: bad depth '%s' (1..26)\n", s);
    exit(2);
  }
  return (int)v;
}

#include "bench.h"

int main(int argc, char **argv) {
  int stretch_depth = parse_depth(argc > 1 ? argv[1] : NULL, 18);
  int long_lived_depth = parse_depth(argc > 2 ? argv[2] : NULL, 16);
  int max_depth = parse_depth(argc > 3 ? argv[3] : NULL, 16);
  const int min_depth = 4;
  long array_size = 500000L
                    << (long_lived_depth > 16 ? long_lived_depth - 16 : 0);

  double t0 = now_ms();
  GC_SETUP();

  /* Stretch the heap: one big tree, dropped at once. */
  {
    Node *t = make_tree(stretch_depth);
    keep(t);
    DROP_TREE(t);
  }

  /* Long-lived data, live through the whole run. */
  Node *long_lived = new_node(NULL, NULL, long_lived_depth);
  populate(long_lived_depth, long_lived);
  double *array = ALLOC_ATOMIC(array_size * sizeof(double));
  if (array == NULL)
    die_oom();
  for (long k = 0; k < array_size; k++)
    array[k] = 1.0 / (double)(k + 1);

  for (int d = min_depth; d <= max_depth; d += 2)
    time_construction(stretch_depth, d);

  keep(long_lived);
  keep(array);
  double t1 = now_ms();
  uint64_t gcs = num_collections();

  /* Verify the long-lived data survived every collection. */
  int ok = 1;
  long nodes = check_tree(long_lived, long_lived_depth);
  if (nodes != tree_size(long_lived_depth)) {
    fprintf(stderr, "gcbench: long-lived tree damaged (%ld nodes, want %ld)\n",
            nodes, tree_size(long_lived_depth));
    ok = 0;
  }
  for (long k = 0; k < array_size; k++) {
    if (array[k] != 1.0 / (double)(k + 1)) {
      fprintf(stderr, "gcbench: long-lived array damaged at index %ld\n", k);
      ok = 0;
      break;
    }
  }

  printf("time_ms=%.1f gcs=%llu maxrss_kb=%ld allocator=%s\n", t1 - t0,
         (unsigned long long)gcs, max_rss_kb(), allocator_name());

#ifdef USE_MALLOC
  free_tree(long_lived);
  free(array);
#endif
  return ok ? 0 : 1;
}
