/* Parallel marking: whatever gc_set_markers says, a collection keeps every
 * object reachable from the roots, so the marked set is the one a single
 * marker finds; and it still frees what is not reachable.
 *
 * The heap is big enough (over 400,000 objects) that marker 0 wakes its
 * helpers in every collection (it does after about 8,000 units of work),
 * and holds the shapes that stress sharing: a deep binary tree (the
 * shallowest entries are given away), a long list (one entry at a time:
 * nothing to share), a ladder in which every node is reached from two
 * others (two markers may race to mark it), a large pointer array (scanned
 * in chunks that go to different markers) and typed objects whose layouts
 * name their pointer words (a fake pointer in a data word keeps nothing).
 * The tests run with FINALGCDEBUG=clobberfree=1 (see the Makefile): an
 * object freed by mistake is overwritten at once by gc_collect's sweep,
 * and its checksum fails. */
#include <pthread.h>
#include <stdint.h>

#include "finalgc.h"
#include "testhelper.h"

struct node {
  struct node *left, *right;
  uint64_t value;
  uint64_t check;
};

static uint64_t check_of(uint64_t value) {
  return value * 0x9E3779B97F4A7C15ULL + 11;
}

/* Also called by other threads: no REQUIRE, whose count is not atomic. */
static struct node *node(uint64_t value) {
  struct node *n = gc_alloc(sizeof *n);
  if (n == NULL)
    abort();
  n->value = value;
  n->check = check_of(value);
  return n;
}

/* An object's checksum holds and it is still an allocated object. */
static int node_bad(const struct node *n, uint64_t value) {
  return n == NULL || gc_base(n) != n || n->value != value ||
         n->check != check_of(value);
}

enum {
  TREE_DEPTH = 16,     /* 131,071 nodes */
  LIST_LEN = 100000,   /* left is next */
  LADDER_LEN = 100000, /* node i points to i+1 and i+2 */
  WIDE_LEN = 65536,    /* a 512 KiB array: four SCAN_CHUNKs */
  TYPED_LEN = 20000,   /* typed records, a list */
  GARBAGE = 10000,     /* finalizable objects dropped per collection */
};

/* A typed record: next and child are pointers; fake holds an address
 * too, but its layout says data, so it must keep nothing. */
struct rec {
  struct rec *next;
  uintptr_t fake;
  struct node *child;
};

static struct {
  struct node *tree;
  struct node *list;
  struct node *ladder;
  struct node **wide;
  struct rec *typed;
} roots;

static struct node *tree(int depth, uint64_t *next) {
  struct node *n = node((*next)++);
  if (depth > 0) {
    n->left = tree(depth - 1, next);
    n->right = tree(depth - 1, next);
  }
  return n;
}

static uint64_t tree_bad(const struct node *n, uint64_t *next, int depth) {
  uint64_t want = (*next)++;
  if (node_bad(n, want))
    return 1;
  if (depth == 0)
    return n->left != NULL || n->right != NULL;
  return tree_bad(n->left, next, depth - 1) +
         tree_bad(n->right, next, depth - 1);
}

/* Builds the ladder from its end, so that each node's two successors
 * exist when it is made. */
static struct node *ladder(void) {
  struct node *after = NULL, *after2 = NULL;
  for (uint64_t i = LADDER_LEN; i-- > 0;) {
    struct node *n = node(i);
    n->left = after;
    n->right = after2;
    after2 = after;
    after = n;
  }
  return after;
}

/* Walks the ladder by left links and checks every right link too, so each
 * node is checked twice, reached from both of its predecessors. */
static uint64_t ladder_bad(const struct node *n) {
  uint64_t i = 0;
  for (; n; n = n->left, i++)
    if (node_bad(n, i) || (i + 2 < LADDER_LEN && node_bad(n->right, i + 2)))
      return 1;
  return i != LADDER_LEN;
}

static gc_layout rec_layout(void) {
  uint64_t bits = 1u << 0 | 1u << 2; /* next and child */
  return gc_make_layout(&bits, 3);
}

/* Decoys: objects that only a typed record's data word points to, their
 * addresses kept hidden to ask whether they were freed. */
static uintptr_t decoys[TYPED_LEN];

/* A list of TYPED_LEN typed records, each with a child node; with decoys
 * (not NULL), each record's data word points to a fresh decoy node. */
static NOINLINE struct rec *typed_list(uintptr_t *decoy) {
  gc_layout layout = rec_layout();
  REQUIRE(layout != NULL);
  struct rec *r = NULL;
  for (uint64_t i = TYPED_LEN; i-- > 0;) {
    struct rec *x = gc_alloc_typed(sizeof *x, layout);
    REQUIRE(x != NULL);
    x->next = r;
    x->child = node(i);
    if (decoy) {
      struct node *d = node(i);
      x->fake = (uintptr_t)d;
      decoy[i] = hide(d);
    }
    r = x;
  }
  return r;
}

static NOINLINE void build(void) {
  uint64_t next = 0;
  roots.tree = tree(TREE_DEPTH, &next);

  struct node *head = NULL;
  for (uint64_t i = LIST_LEN; i-- > 0;) {
    struct node *n = node(i);
    n->left = head;
    head = n;
  }
  roots.list = head;

  roots.ladder = ladder();

  roots.wide = gc_alloc(WIDE_LEN * sizeof *roots.wide);
  REQUIRE(roots.wide != NULL);
  for (uint64_t i = 0; i < WIDE_LEN; i++) {
    roots.wide[i] = node(i);
    roots.wide[i]->left = node(i + WIDE_LEN);
  }

  roots.typed = typed_list(NULL);
}

/* Counts damaged or freed objects.  A walk stops at the first bad node: a
 * freed node's links hold the clobber pattern. */
static uint64_t heap_bad(void) {
  uint64_t next = 0, bad = tree_bad(roots.tree, &next, TREE_DEPTH);
  uint64_t i = 0;
  for (const struct node *n = roots.list; n; n = n->left, i++)
    if (node_bad(n, i)) {
      bad++;
      break;
    }
  bad += i != LIST_LEN;
  bad += ladder_bad(roots.ladder);
  if (gc_base(roots.wide) != roots.wide)
    bad++;
  else
    for (uint64_t k = 0; k < WIDE_LEN; k++)
      bad += node_bad(roots.wide[k], k) ||
             node_bad(roots.wide[k]->left, k + WIDE_LEN);
  i = 0;
  for (const struct rec *r = roots.typed; r; r = r->next, i++)
    if (gc_base(r) != r || node_bad(r->child, i)) {
      bad++;
      break;
    }
  return bad + (i != TYPED_LEN);
}

/* The rounds of every_marker_count_marks_the_same, each with finalizer
 * arguments of its own, so that an object of an earlier round that a
 * stray word kept alive counts for its own round when it dies late. */
enum { ROUNDS = 6 };
static uint32_t finalized[ROUNDS * GARBAGE];
static uint32_t finalized_damaged;

/* The object and the child only it reached must both be intact. */
static void count_finalized(void *obj, void *arg) {
  uint64_t id = (uintptr_t)arg;
  const struct node *n = obj;
  if (node_bad(n, id) || node_bad(n->left, id))
    __atomic_add_fetch(&finalized_damaged, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&finalized[id], 1, __ATOMIC_RELAXED);
}

/* Drops GARBAGE finalizable objects, each with a child that only it
 * reaches. */
static NOINLINE void drop_garbage(int round) {
  for (uint64_t i = 0; i < GARBAGE; i++) {
    uint64_t id = (uint64_t)round * GARBAGE + i;
    struct node *n = node(id);
    n->left = node(id);
    REQUIRE(gc_set_finalizer(n, count_finalized, (void *)(uintptr_t)id) ==
            GC_OK);
  }
}

/* How many objects of a round were finalized, and how many more than once. */
static int finalized_count(int round, int *twice) {
  int n = 0;
  *twice = 0;
  for (int i = round * GARBAGE; i < (round + 1) * GARBAGE; i++) {
    uint32_t runs = __atomic_load_n(&finalized[i], __ATOMIC_RELAXED);
    n += runs != 0;
    *twice += runs > 1;
  }
  return n;
}

/* For every marker count: everything reachable survives intact, the bytes
 * found live match one marker's figure, dropped objects are finalized, and
 * a data word of a typed object keeps nothing. */
TEST(every_marker_count_marks_the_same) {
  build();
  scrub_stack();
  REQUIRE(gc_set_markers(1) == GC_OK);
  gc_collect();
  gc_stats st;
  gc_read_stats(&st);
  size_t live_one = st.heap_live;
  CHECK(heap_bad() == 0);

  static const int counts[ROUNDS] = {2, 3, 4, 8, 16, 1};
  for (int c = 0; c < ROUNDS; c++) {
    REQUIRE(gc_set_markers(counts[c]) == GC_OK);
    drop_garbage(c);
    collect_and_wait(2);
    uint64_t bad = heap_bad();
    if (bad)
      fprintf(stderr, "markers %d: %llu damaged or freed objects\n", counts[c],
              (unsigned long long)bad);
    CHECK(bad == 0);
    gc_read_stats(&st);
    /* Equal but for objects two markers both marked in a race (counted
     * twice) and garbage a stray word keeps: 1% is less than any one
     * structure, whose loss the checksums would catch anyway. */
    size_t diff = st.heap_live > live_one ? st.heap_live - live_one
                                          : live_one - st.heap_live;
    if (diff > live_one / 100)
      fprintf(stderr, "markers %d: %zu bytes live, one marker found %zu\n",
              counts[c], st.heap_live, live_one);
    CHECK(diff <= live_one / 100);
    int twice;
    CHECK(finalized_count(c, &twice) >= GARBAGE * 9 / 10);
    CHECK(twice == 0);
  }
  CHECK(__atomic_load_n(&finalized_damaged, __ATOMIC_RELAXED) == 0);
  /* Decoys, with several markers: nothing is allocated between the
   * collection and the check, so a freed decoy's slot is still free. */
  REQUIRE(gc_set_markers(4) == GC_OK);
  roots.typed = typed_list(decoys);
  scrub_stack();
  gc_collect();
  int freed = 0;
  for (int i = 0; i < TYPED_LEN; i++)
    freed += gc_base(reveal(decoys[i])) == NULL;
  CHECK(freed >= TYPED_LEN * 9 / 10);
  CHECK(heap_bad() == 0);
  roots.tree = roots.list = roots.ladder = NULL;
  roots.wide = NULL;
  roots.typed = NULL;
}

/* Trees held only by other threads' stacks, with several markers: the
 * stacks are roots, pushed as chunks that any marker may take. */
static volatile int phase;

static void *holder(void *arg) {
  uint64_t next = 0;
  struct node *t = tree(14, &next);
  __atomic_add_fetch(&phase, 1, __ATOMIC_RELEASE);
  while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) < 100)
    sched_yield();
  uint64_t n = 0, bad = tree_bad(t, &n, 14);
  (void)arg;
  return (void *)(uintptr_t)(bad == 0 && n == next);
}

TEST(thread_stacks_with_markers) {
  enum { HOLDERS = 3 };
  pthread_t t[HOLDERS];
  phase = 0;
  for (int i = 0; i < HOLDERS; i++)
    REQUIRE(gc_pthread_create(&t[i], NULL, holder, NULL) == 0);
  while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) < HOLDERS)
    sched_yield();
  static const int counts[] = {4, 2, 16};
  for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
    REQUIRE(gc_set_markers(counts[c]) == GC_OK);
    for (int i = 0; i < 3; i++) {
      for (int j = 0; j < 20000; j++)
        (void)gc_alloc(48);
      gc_collect();
    }
  }
  __atomic_store_n(&phase, 100, __ATOMIC_RELEASE);
  for (int i = 0; i < HOLDERS; i++) {
    void *ok;
    pthread_join(t[i], &ok);
    CHECK(ok == (void *)1);
  }
}

TEST(set_markers_errors) {
  CHECK(gc_set_markers(0) == GC_ERR_INVALID);
  CHECK(gc_set_markers(-3) == GC_ERR_INVALID);
  CHECK(gc_set_markers(1000) == GC_OK); /* at most 16 take part */
  gc_collect();
  CHECK(gc_set_markers(2) == GC_OK);
}

int main(void) {
  gc_init();
  RUN(every_marker_count_marks_the_same);
  RUN(thread_stacks_with_markers);
  RUN(set_markers_errors);
  return test_summary();
}
