/* Reachable objects survive: from a local, a register, the bss, initialized
 * data, heap chains, interior pointers and added root ranges, through 100+
 * collections, with their contents intact.  (The tests run with
 * clobberfree on, so an object freed by mistake fails its checksum.) */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "finalgc.h"
#include "testhelper.h"

#define ROUNDS 120

/* An object that checks itself: n payload words and their sum. */
struct blob {
  uint64_t n;
  uint64_t sum;
  uint64_t word[];
};

static NOINLINE struct blob *blob_new(uint64_t n, uint64_t seed) {
  struct blob *b = gc_alloc(sizeof *b + n * 8);
  b->n = n;
  for (uint64_t i = 0; i < n; i++) {
    b->word[i] = seed * 2654435761u + i;
    b->sum += b->word[i];
  }
  return b;
}

static int blob_ok(const struct blob *b) {
  uint64_t s = 0;
  for (uint64_t i = 0; i < b->n; i++)
    s += b->word[i];
  return s == b->sum;
}

/* blob_ok, and the very blob that blob_new(n, seed) made: a slot freed by
 * mistake and handed out again can pass blob_ok. */
static int blob_is(const struct blob *b, uint64_t n, uint64_t seed) {
  if (b->n != n)
    return 0;
  for (uint64_t i = 0; i < n; i++)
    if (b->word[i] != seed * 2654435761u + i)
      return 0;
  return blob_ok(b);
}

/* Garbage between collections, so that freed memory gets reused and
 * clobbered. */
static NOINLINE void churn(int n) {
  for (int i = 0; i < n; i++) {
    uint64_t *p = gc_alloc(16 + (size_t)(i % 200) * 8);
    p[0] = (uint64_t)i;
  }
}

TEST(local) {
  struct blob *b = blob_new(20, 1);
  for (int i = 0; i < ROUNDS; i++) {
    churn(2000);
    gc_collect();
    REQUIRE(blob_ok(b));
  }
}

TEST(register_only) {
  register uintptr_t r __asm__("rbx") = (uintptr_t)blob_new(30, 2);
  scrub_stack();
  for (int i = 0; i < ROUNDS; i++) {
    __asm__ volatile("" : "+r"(r));
    churn(2000);
    gc_collect();
    __asm__ volatile("" : "+r"(r));
  }
  REQUIRE(blob_ok((struct blob *)r));
}

static struct blob *in_bss;
static struct {
  long tag;
  struct blob *b;
} in_data = {42, NULL};

static NOINLINE void set_globals(void) {
  in_bss = blob_new(40, 3);
  in_data.b = blob_new(50, 4);
}

TEST(globals) {
  set_globals();
  scrub_stack();
  for (int i = 0; i < ROUNDS; i++) {
    churn(2000);
    gc_collect();
  }
  CHECK(blob_ok(in_bss));
  CHECK(in_data.tag == 42 && blob_ok(in_data.b));
  in_bss = NULL;
  in_data.b = NULL;
}

struct node {
  struct node *left, *right;
  uint64_t value;
};

static NOINLINE struct node *tree(int depth, uint64_t *next) {
  struct node *n = gc_alloc(sizeof *n);
  n->value = (*next)++;
  if (depth > 0) {
    n->left = tree(depth - 1, next);
    n->right = tree(depth - 1, next);
  }
  return n;
}

static uint64_t tree_sum(const struct node *n, uint64_t *count) {
  if (!n)
    return 0;
  (*count)++;
  return n->value + tree_sum(n->left, count) + tree_sum(n->right, count);
}

static NOINLINE struct node *list(int n) {
  struct node *head = NULL;
  for (int i = 0; i < n; i++) {
    struct node *x = gc_alloc(sizeof *x);
    x->value = (uint64_t)i;
    x->left = head;
    head = x;
  }
  return head;
}

TEST(heap_chains) {
  uint64_t next = 0;
  struct node *t = tree(14, &next);
  struct node *l = list(50000);
  scrub_stack();
  for (int i = 0; i < ROUNDS; i++) {
    churn(3000);
    gc_collect();
  }
  uint64_t count = 0;
  CHECK(tree_sum(t, &count) == next * (next - 1) / 2);
  CHECK(count == next);
  uint64_t n = 0, sum = 0;
  for (struct node *x = l; x; x = x->left, n++)
    sum += x->value;
  CHECK(n == 50000 && sum == 50000ull * 49999 / 2);
}

TEST(interior_pointer) {
  struct blob *b = blob_new(100, 5);
  char *inside = (char *)b + 8 * 57;
  b = NULL;
  scrub_stack();
  for (int i = 0; i < ROUNDS; i++) {
    churn(2000);
    gc_collect();
  }
  CHECK(blob_ok((struct blob *)(inside - 8 * 57)));
  /* Also into a large object, far from its start. */
  char *big = gc_alloc(1 << 20);
  big[(1 << 20) - 1] = 7;
  char *end = big + (1 << 20) - 1;
  big = NULL;
  scrub_stack();
  for (int i = 0; i < 5; i++)
    gc_collect();
  CHECK(*end == 7);
  CHECK(gc_base(end) == end - ((1 << 20) - 1));
}

static NOINLINE void stash(void **slots, int n) {
  for (int i = 0; i < n; i++)
    slots[i] = blob_new(10, (uint64_t)i);
}

/* Fills slots[0..n) with objects, registers [lo, hi) as a root range, and
 * checks that every object survives collections. */
static void check_added_roots(void **slots, int n, void *lo, void *hi) {
  REQUIRE(gc_add_roots(lo, hi) == GC_OK);
  stash(slots, n);
  scrub_stack();
  for (int i = 0; i < ROUNDS; i++) {
    churn(1000);
    gc_collect();
  }
  int ok = 0;
  for (int i = 0; i < n; i++)
    ok += blob_ok(slots[i]);
  CHECK(ok == n);
  CHECK(gc_remove_roots(lo, hi) == GC_OK);
}

TEST(added_roots) {
  enum { N = 1000 };
  void **slots = malloc(N * sizeof *slots); /* not scanned by default */
  check_added_roots(slots, N, slots, slots + N);
  free(slots);
}

/* A range whose bounds are not word-aligned counts its aligned words (an
 * odd start once made the range look like a typed object, and its objects
 * were freed). */
TEST(added_roots_unaligned) {
  enum { N = 100 };
  char *raw = malloc((N + 2) * sizeof(void *));
  check_added_roots((void **)(raw + sizeof(void *)), N, raw + 1,
                    raw + (N + 1) * sizeof(void *) + 3);
  free(raw);
}

TEST(noscan_contents_untouched) {
  /* A noscan object's own contents survive even when they look like
   * pointers to freed memory. */
  uint64_t *ns = gc_alloc_noscan(4096);
  for (int i = 0; i < 512; i++)
    ns[i] = (uint64_t)(uintptr_t)gc_alloc(32);
  for (int i = 0; i < 20; i++) {
    churn(2000);
    gc_collect();
  }
  int same = 1;
  for (int i = 0; i < 512; i++)
    same &= ns[i] != 0;
  CHECK(same);
}

TEST(ten_million_list) {
  struct node *l = list(10 * 1000 * 1000);
  gc_collect();
  gc_collect();
  uint64_t n = 0;
  for (struct node *x = l; x; x = x->left)
    n += x->value == 10 * 1000 * 1000 - 1 - n;
  CHECK(n == 10 * 1000 * 1000);
}

/* Survivors scattered through every size class up to 1024 bytes: sweeping
 * packs each span's mark bytes into allocation bits a word at a time, so a
 * pattern that is irregular within every group of eight slots, and spans
 * whose slot count is not a multiple of eight or 64 (341 slots of 24
 * bytes, 170, 102, 85, ... 9), must come out exactly.  The dead slots are
 * then reused by new objects of the same sizes, filled with a byte no
 * survivor holds, which must not land on a survivor.  A request of
 * size - 1 bytes takes a slot of at least size bytes (one byte of
 * padding), rounded up to its class. */
#define SPARSE_SIZES 128        /* requests of 7, 15, ..., 1023 bytes */
#define SPARSE_BYTES (40 << 10) /* allocated per size: several spans */
#define SPARSE_REUSED 0xee

static int sparse_keep(size_t i) { return i % 3 == 0 || i % 7 == 5; }

/* Byte j of survivor i of size k: never SPARSE_REUSED, since j runs
 * through consecutive values. */
static unsigned char sparse_byte(size_t k, size_t i, size_t j) {
  return (unsigned char)(k * 31 + i * 7 + j + 1);
}

static NOINLINE unsigned char *sparse_object(size_t k, size_t i) {
  size_t n = (k + 1) * 8 - 1;
  unsigned char *p = gc_alloc(n);
  for (size_t j = 0; j < n; j++)
    p[j] = sparse_byte(k, i, j);
  return p;
}

static NOINLINE void sparse_reused(size_t k) {
  size_t n = (k + 1) * 8 - 1;
  memset(gc_alloc(n), SPARSE_REUSED, n);
}

/* keep[k][i] is object i of size k, or NULL for one left to die. */
static NOINLINE void sparse_fill(unsigned char ***keep) {
  for (size_t k = 0; k < SPARSE_SIZES; k++) {
    size_t n = SPARSE_BYTES / ((k + 1) * 8);
    keep[k] = gc_alloc(n * sizeof *keep[k]);
    REQUIRE(keep[k] != NULL);
    for (size_t i = 0; i < n; i++) {
      unsigned char *p = sparse_object(k, i);
      keep[k][i] = sparse_keep(i) ? p : NULL;
    }
  }
}

static NOINLINE void sparse_reuse(void) {
  for (size_t k = 0; k < SPARSE_SIZES; k++)
    for (size_t i = 0; i < SPARSE_BYTES / ((k + 1) * 8); i++)
      sparse_reused(k);
}

TEST(sparse_survivors_every_class) {
  unsigned char **keep[SPARSE_SIZES];
  sparse_fill(keep);
  scrub_stack();
  for (int round = 0; round < 3; round++) {
    gc_collect();
    sparse_reuse();
  }
  size_t bad = 0;
  for (size_t k = 0; k < SPARSE_SIZES; k++) {
    for (size_t i = 0; i < SPARSE_BYTES / ((k + 1) * 8); i++) {
      unsigned char *p = keep[k][i];
      if (!p)
        continue;
      bad += gc_base(p) != p;
      for (size_t j = 0; j < (k + 1) * 8 - 1; j++)
        bad += p[j] != sparse_byte(k, i, j);
    }
  }
  CHECK(bad == 0);
}

/* The overflow child's parts.  WIDE pointers to fresh objects, scanned in
 * one go, overflow a 64-entry mark stack many times over. */
#define WIDE 4096

/* A collecting thread whose own stack holds WIDE pointers: that stack is
 * scanned first, and fills the mark stack before the roots that follow
 * it (the other threads' stacks) are queued. */
static NOINLINE void *wide_collector(void *arg) {
  (void)arg;
  void *wide[WIDE];
  for (int i = 0; i < WIDE; i++)
    wide[i] = gc_alloc(24);
  for (int i = 0; i < 3; i++) {
    churn(20000);
    gc_collect();
  }
  int bad = 0;
  for (int i = 0; i < WIDE; i++)
    bad += gc_base(wide[i]) != wide[i];
  return (void *)(uintptr_t)bad;
}

/* gc_free'd typed objects wait on the freed list, clobbered, while the
 * rescan after an overflow walks the marked slots. */
static NOINLINE void free_typed(void) {
  static const uint64_t bits[1] = {1};
  gc_layout layout = gc_make_layout(bits, 4);
  for (int i = 0; i < 100; i++)
    gc_free(gc_alloc_typed(32, layout));
}

/* Stores a fresh blob where only the added root range holds it. */
static NOINLINE void blob_into(struct blob **slot, uint64_t seed) {
  *slot = blob_new(50, seed);
}

/* Run in a child process with a tiny mark stack, so that marking must
 * overflow and recover.  Returns 0, or which check failed. */
static int overflow_child(void) {
  uint64_t next = 0;
  struct node *t = tree(17, &next);
  struct node *l = list(100000);
  /* An added root range of more than 64 chunks (SCAN_CHUNK, 128 KiB),
   * whose last word holds the only reference to a blob: chunks that
   * find the stack full must still be scanned. */
  size_t words = ((size_t)9 << 20) / sizeof(void *);
  struct blob **range = calloc(words, sizeof *range);
  if (!range || gc_add_roots(range, range + words) != GC_OK)
    return 10;
  blob_into(&range[words - 1], 77);
  /* The only reference to this blob is in this thread's frame, while
   * another thread collects with a full mark stack. */
  struct blob *mine = blob_new(40, 78);
  scrub_stack();
  free_typed();
  for (int i = 0; i < 5; i++) {
    churn(20000);
    gc_collect();
  }
  pthread_t th;
  void *bad = NULL;
  if (gc_pthread_create(&th, NULL, wide_collector, NULL) != 0 ||
      gc_pthread_join(th, &bad) != 0)
    return 11;
  if (bad)
    return 3;
  if (!blob_is(mine, 40, 78) || gc_base(mine) != mine)
    return 4;
  if (!blob_is(range[words - 1], 50, 77) ||
      gc_base(range[words - 1]) != range[words - 1])
    return 5;
  uint64_t count = 0;
  if (tree_sum(t, &count) != next * (next - 1) / 2 || count != next)
    return 1;
  uint64_t n = 0;
  for (struct node *x = l; x; x = x->left)
    n++;
  return n == 100000 ? 0 : 2;
}

TEST(mark_stack_overflow) {
  char cmd[256];
  snprintf(cmd, sizeof cmd,
           "FINALGCDEBUG=clobberfree=1,markstackmax=64 /proc/%d/exe --overflow",
           (int)getpid());
  int status = system(cmd);
  if (status != 0)
    fprintf(stderr, "      overflow child: status %#x (exit %d)\n", status,
            WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  CHECK(status == 0);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--overflow") == 0)
    return overflow_child();
  gc_init();
  RUN(local);
  RUN(register_only);
  RUN(globals);
  RUN(heap_chains);
  RUN(interior_pointer);
  RUN(added_roots);
  RUN(added_roots_unaligned);
  RUN(noscan_contents_untouched);
  RUN(sparse_survivors_every_class);
  RUN(ten_million_list);
  RUN(mark_stack_overflow);
  return test_summary();
}
