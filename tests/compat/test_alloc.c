/* Allocation: GC_malloc, GC_malloc_atomic, GC_malloc_uncollectable,
 * GC_malloc_ignore_off_page, GC_malloc_atomic_ignore_off_page, GC_realloc,
 * GC_free, GC_strdup, GC_strndup, GC_memalign, GC_posix_memalign, GC_base,
 * GC_size, GC_is_heap_ptr and the GC_MALLOC* / GC_NEW* / GC_REALLOC /
 * GC_FREE / GC_STRDUP / GC_STRNDUP macros, as documented in bdwgc's gc.h. */
#include <gc.h>

#include <errno.h>
#include <stdint.h>

#include "compat_helper.h"

static char static_buf[256];

static int all_zero(const void *p, size_t n) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i])
      return 0;
  return 1;
}

static int aligned(const void *p, size_t a) { return ((uintptr_t)p % a) == 0; }

/* --- GC_malloc --- */

/* Dirty garbage of the given size, so that later allocations of that size
 * are likely to reuse non-zero memory. */
static NOINLINE void make_dirty_garbage(size_t size, int n) {
  for (int i = 0; i < n; i++) {
    void *p = GC_malloc(size);
    REQUIRE(p != NULL);
    memset(p, 0xA5, size);
  }
}

TEST(malloc_is_cleared) {
  static const size_t sizes[] = {1,   8,    16,   24,    40,     100,
                                 256, 1000, 4096, 10000, 100000, 1 << 20};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    size_t size = sizes[s];
    int n = size >= 100000 ? 8 : 200;
    for (int round = 0; round < 2; round++) {
      make_dirty_garbage(size, n);
      collect_once();
      int bad = 0;
      for (int i = 0; i < n; i++) {
        unsigned char *p = GC_malloc(size);
        REQUIRE(p != NULL);
        if (!all_zero(p, size))
          bad++;
        memset(p, 0x5A, size); /* dirty it for the next round */
      }
      CHECKF(bad == 0, "size %zu: %d of %d objects not cleared", size, bad, n);
    }
  }
}

TEST(malloc_base_size_heap_ptr) {
  static const size_t sizes[] = {1,   7,   8,    9,    16,    33,
                                 100, 513, 4095, 4097, 65536, 300000};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    size_t size = sizes[s];
    char *p = GC_malloc(size);
    REQUIRE(p != NULL);
    CHECK(aligned(p, sizeof(void *)));
    CHECKF(GC_size(p) >= size, "GC_size %zu < %zu", GC_size(p), size);
    CHECK(GC_base(p) == p);
    CHECK(GC_base(p + size / 2) == p);
    CHECK(GC_base(p + size - 1) == p);
    CHECK(GC_base(p + GC_size(p) - 1) == p);
    CHECK(GC_is_heap_ptr(p));
    CHECK(GC_is_heap_ptr(p + size - 1));
    memset(p, 0xFF, size); /* all of it is writable */
  }
  /* Pointers outside the collected heap. */
  int local = 0;
  void *m = malloc(64);
  REQUIRE(m != NULL);
  CHECK(GC_base(static_buf) == NULL);
  CHECK(GC_base(static_buf + 100) == NULL);
  CHECK(GC_base(&local) == NULL);
  CHECK(GC_base(m) == NULL);
  CHECK(!GC_is_heap_ptr(static_buf));
  CHECK(!GC_is_heap_ptr(&local));
  CHECK(!GC_is_heap_ptr(m));
  free(m);
}

struct node {
  struct node *next;
  long value;
  long pad[2];
};

static struct node *static_list; /* a root in the data segment */

static NOINLINE struct node *make_list(long n, long seed) {
  struct node *head = NULL;
  for (long i = 0; i < n; i++) {
    struct node *nd = GC_malloc(sizeof *nd);
    REQUIRE(nd != NULL);
    nd->value = seed + i;
    nd->next = head;
    head = nd;
  }
  return head;
}

static long list_sum(const struct node *n, long *count) {
  long s = 0, c = 0;
  for (; n; n = n->next) {
    s += n->value;
    c++;
  }
  *count = c;
  return s;
}

/* Binary tree, each node holding a checksum of its children. */
struct tree {
  struct tree *left, *right;
  long sum;
};

static NOINLINE struct tree *make_tree(int depth, long *counter) {
  struct tree *t = GC_malloc(sizeof *t);
  REQUIRE(t != NULL);
  t->sum = ++*counter;
  if (depth > 0) {
    t->left = make_tree(depth - 1, counter);
    t->right = make_tree(depth - 1, counter);
  }
  return t;
}

static long tree_sum(const struct tree *t) {
  return t ? t->sum + tree_sum(t->left) + tree_sum(t->right) : 0;
}

static NOINLINE void churn(int n) {
  for (int i = 0; i < n; i++) {
    long *p = GC_malloc(16 + (i % 64) * 8);
    REQUIRE(p != NULL);
    p[0] = i;
  }
}

TEST(malloc_reachable_objects_survive) {
  const long N = 20000;
  static_list = make_list(N, 1000);                   /* static root */
  struct node *volatile stack_list = make_list(N, 5); /* stack root */
  /* A heap-only chain: reachable only through a heap object. */
  struct node **holder = GC_malloc(sizeof *holder);
  REQUIRE(holder != NULL);
  *holder = make_list(N, 77);
  long counter = 0;
  struct tree *volatile tree = make_tree(14, &counter);
  long tree_expect = counter * (counter + 1) / 2;

  for (int round = 0; round < 4; round++) {
    churn(50000);
    collect_once();
  }
  long c, s;
  s = list_sum(static_list, &c);
  CHECK(c == N && s == N * 1000 + N * (N - 1) / 2);
  s = list_sum(stack_list, &c);
  CHECK(c == N && s == N * 5 + N * (N - 1) / 2);
  s = list_sum(*holder, &c);
  CHECK(c == N && s == N * 77 + N * (N - 1) / 2);
  CHECK(tree_sum(tree) == tree_expect);
  static_list = NULL;
}

static NOINLINE void make_probed_garbage(int n, size_t size) {
  for (int i = 0; i < n; i++) {
    void *p = GC_malloc(size);
    REQUIRE(p != NULL);
    probe_add(p);
  }
}

TEST(malloc_unreachable_objects_are_collected) {
  probes_reset();
  const int N = 200;
  make_probed_garbage(N, 48);
  make_probed_garbage(N / 4, 5000);
  int total = N + N / 4;
  CHECK(COLLECT_UNTIL(probes_alive(0, total) * 10 <= total, 10));
  CHECKF(AT_LEAST_PCT(total - probes_alive(0, total), total, 90),
         "only %d of %d unreachable objects collected",
         total - probes_alive(0, total), total);
  probes_reset();
}

static NOINLINE void allocate_garbage_bytes(size_t total, size_t chunk) {
  for (size_t done = 0; done < total; done += chunk) {
    char *p = GC_malloc(chunk);
    REQUIRE(p != NULL);
    p[0] = 1;
    p[chunk - 1] = 2;
  }
}

TEST(garbage_does_not_grow_the_heap_without_bound) {
  /* 512 MiB of garbage in 64 KiB and 100 byte pieces: a collecting heap
   * stays far below that. */
  allocate_garbage_bytes((size_t)384 << 20, 64 << 10);
  allocate_garbage_bytes((size_t)128 << 20, 100);
  size_t heap = GC_get_heap_size();
  CHECKF(heap < ((size_t)128 << 20), "heap grew to %zu bytes", heap);
}

/* --- GC_malloc_atomic --- */

TEST(malloc_atomic) {
  static const size_t sizes[] = {1, 8, 24, 100, 4096, 100000, 1 << 20};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    size_t size = sizes[s];
    unsigned char *volatile p = GC_malloc_atomic(size);
    REQUIRE(p != NULL);
    CHECK(GC_size(p) >= size);
    CHECK(GC_base(p) == p);
    CHECK(GC_is_heap_ptr(p));
    for (size_t i = 0; i < size; i++)
      p[i] = (unsigned char)(i * 7 + s);
    collect_rounds(2);
    int bad = 0;
    for (size_t i = 0; i < size; i++)
      bad += p[i] != (unsigned char)(i * 7 + s);
    CHECKF(bad == 0, "atomic object of %zu bytes changed (%d bytes)", size,
           bad);
  }
}

/* The atomic array holds the only (visible) pointers to the objects; the
 * collector does not scan atomic objects, so they die. */
static NOINLINE void **atomic_array_of_garbage(int n) {
  void **arr = GC_malloc_atomic(n * sizeof(void *));
  REQUIRE(arr != NULL);
  for (int i = 0; i < n; i++) {
    arr[i] = GC_malloc(32);
    REQUIRE(arr[i] != NULL);
    probe_add(arr[i]);
  }
  return arr;
}

TEST(malloc_atomic_contents_are_not_traced) {
  probes_reset();
  const int N = 200;
  void **volatile arr = atomic_array_of_garbage(N);
  CHECK(COLLECT_UNTIL(probes_alive(0, N) * 10 <= N, 10));
  CHECKF(AT_LEAST_PCT(N - probes_alive(0, N), N, 90),
         "%d of %d objects referenced only from an atomic object survived",
         probes_alive(0, N), N);
  CHECK(GC_base((void *)arr) == (void *)arr); /* the array itself is alive */
  probes_reset();
}

/* --- GC_malloc_uncollectable --- */

struct unode {
  struct unode *child;
  long magic;
  long data[6];
};

#define UMAGIC 0x55AA55AA12345678L

/* Builds uncollectable U -> collectable X; returns U hidden.  The probes
 * for U and X are at 2*i and 2*i+1. */
static NOINLINE GC_word make_uncollectable_pair(void) {
  struct unode *u = GC_malloc_uncollectable(sizeof *u);
  REQUIRE(u != NULL);
  CHECK(all_zero(u, sizeof *u)); /* non-atomic: cleared */
  struct unode *x = GC_malloc(sizeof *x);
  REQUIRE(x != NULL);
  u->magic = UMAGIC;
  x->magic = ~UMAGIC;
  for (int k = 0; k < 6; k++)
    u->data[k] = x->data[k] = k;
  u->child = x;
  probe_add(u);
  probe_add(x);
  return GC_HIDE_POINTER(u);
}

static int children_alive(int n) {
  int alive = 0;
  for (int i = 0; i < n; i++)
    alive += probe_alive(2 * i + 1);
  return alive;
}

TEST(malloc_uncollectable) {
  probes_reset();
  enum { N = 50 };
  static GC_word hidden[N];
  for (int i = 0; i < N; i++)
    hidden[i] = make_uncollectable_pair();
  churn(20000);
  collect_rounds(4);
  /* Kept with no reference, and keeps what it points to (absolute). */
  int lost = 0;
  for (int i = 0; i < N; i++) {
    if (!probe_alive(2 * i) || !probe_alive(2 * i + 1)) {
      lost++;
      continue;
    }
    struct unode *u = GC_REVEAL_POINTER(hidden[i]);
    CHECK(u->magic == UMAGIC && u->child != NULL &&
          u->child->magic == ~UMAGIC && u->child->data[5] == 5);
  }
  CHECKF(lost == 0, "%d uncollectable objects or their children were lost",
         lost);
  /* After GC_free, the children can be collected. */
  for (int i = 0; i < N; i++) {
    struct unode *u = GC_REVEAL_POINTER(hidden[i]);
    GC_unregister_disappearing_link((void **)&probe_slot[2 * i]);
    probe_slot[2 * i] = 0;
    GC_free(u);
  }
  CHECK(COLLECT_UNTIL(children_alive(N) * 10 <= N, 10));
  int alive = children_alive(N);
  CHECKF(AT_LEAST_PCT(N - alive, N, 90),
         "%d of %d children of freed uncollectable objects survived", alive, N);
  probes_reset();
}

TEST(uncollectable_macros) {
  long *p = GC_MALLOC_UNCOLLECTABLE(10 * sizeof(long));
  REQUIRE(p != NULL);
  CHECK(all_zero(p, 10 * sizeof(long)));
  CHECK(GC_size(p) >= 10 * sizeof(long));
  p[9] = 99;
  GC_word h = GC_HIDE_POINTER(p);
  p = NULL;
  collect_rounds(2);
  p = GC_REVEAL_POINTER(h);
  CHECK(p[9] == 99);
  GC_FREE(p);
  struct unode *u = GC_NEW_UNCOLLECTABLE(struct unode);
  REQUIRE(u != NULL);
  CHECK(u->child == NULL && u->magic == 0);
  GC_free(u);
}

/* --- ignore_off_page --- */

TEST(malloc_ignore_off_page) {
  const size_t size = 512 << 10;
  for (int round = 0; round < 2; round++) {
    make_dirty_garbage(size, 4);
    collect_once();
    char *volatile p = GC_malloc_ignore_off_page(size);
    REQUIRE(p != NULL);
    CHECK(all_zero(p, size)); /* non-atomic: cleared */
    CHECK(GC_size(p) >= size);
    CHECK(GC_base(p) == p);
    CHECK(GC_base(p + 200) == p);
    CHECK(GC_is_heap_ptr(p));
    memset(p, 0x3C, size);
  }
  /* Kept by a pointer to its start, and traced: a pointer stored in it
   * keeps its target alive. */
  probes_reset();
  void **volatile big = GC_malloc_ignore_off_page(size);
  REQUIRE(big != NULL);
  static_list = make_list(100, 3);
  big[size / sizeof(void *) - 1] = static_list; /* near its end */
  int pr = probe_add(static_list);
  static_list = NULL;
  collect_rounds(3);
  CHECK(probe_alive(pr));
  long c;
  long s = list_sum(big[size / sizeof(void *) - 1], &c);
  CHECK(c == 100 && s == 100 * 3 + 99 * 100 / 2);
  probes_reset();

  char *volatile a = GC_malloc_atomic_ignore_off_page(size);
  REQUIRE(a != NULL);
  CHECK(GC_size(a) >= size);
  CHECK(GC_base(a + size - 1) == a);
  memset(a, 0x42, size);
  collect_rounds(2);
  CHECK(a[0] == 0x42 && a[size - 1] == 0x42);

  CHECK(GC_MALLOC_IGNORE_OFF_PAGE(size) != NULL);
  CHECK(GC_MALLOC_ATOMIC_IGNORE_OFF_PAGE(size) != NULL);
}

static NOINLINE void make_big_probed_garbage(int n, size_t size, int atomic) {
  for (int i = 0; i < n; i++) {
    void *p = atomic ? GC_malloc_atomic_ignore_off_page(size)
                     : GC_malloc_ignore_off_page(size);
    REQUIRE(p != NULL);
    probe_add(p);
  }
}

TEST(ignore_off_page_objects_are_collected) {
  probes_reset();
  make_big_probed_garbage(20, 256 << 10, 0);
  make_big_probed_garbage(20, 256 << 10, 1);
  CHECK(COLLECT_UNTIL(probes_alive(0, 40) <= 4, 10));
  CHECKF(AT_LEAST_PCT(40 - probes_alive(0, 40), 40, 90), "%d of 40 survived",
         probes_alive(0, 40));
  probes_reset();
}

/* --- GC_realloc --- */

TEST(realloc) {
  /* NULL old object: like GC_malloc (cleared). */
  make_dirty_garbage(64, 100);
  collect_once();
  unsigned char *p = GC_realloc(NULL, 64);
  REQUIRE(p != NULL);
  CHECK(all_zero(p, 64));
  CHECK(GC_base(p) == p);

  /* Growing keeps the old contents and clears the rest (non-atomic). */
  for (int i = 0; i < 64; i++)
    p[i] = (unsigned char)(i + 1);
  static const size_t grow[] = {100, 1000, 5000, 100000, 1 << 20};
  size_t old = 64;
  for (size_t g = 0; g < sizeof grow / sizeof *grow; g++) {
    unsigned char *q = GC_realloc(p, grow[g]);
    REQUIRE(q != NULL);
    CHECK(GC_size(q) >= grow[g]);
    int bad = 0;
    for (int i = 0; i < 64; i++)
      bad += q[i] != (unsigned char)(i + 1);
    CHECKF(bad == 0, "realloc to %zu lost %d bytes", grow[g], bad);
    CHECKF(all_zero(q + old, grow[g] - old),
           "realloc to %zu: grown part not cleared", grow[g]);
    p = q;
    old = grow[g];
  }
  /* Shrinking keeps the prefix. */
  unsigned char *q = GC_realloc(p, 10);
  REQUIRE(q != NULL);
  CHECK(GC_size(q) >= 10);
  CHECK(q[0] == 1 && q[9] == 10);

  /* Size 0 frees the object and returns NULL. */
  CHECK(GC_realloc(q, 0) == NULL);

  /* Atomic objects keep their contents too. */
  char *a = GC_malloc_atomic(20);
  REQUIRE(a != NULL);
  strcpy(a, "atomic contents");
  char *b = GC_realloc(a, 5000);
  REQUIRE(b != NULL);
  CHECK(strcmp(b, "atomic contents") == 0);
  CHECK(GC_size(b) >= 5000);

  /* The macro. */
  long *m = GC_REALLOC(NULL, 4 * sizeof(long));
  REQUIRE(m != NULL);
  m[3] = 33;
  m = GC_REALLOC(m, 400 * sizeof(long));
  REQUIRE(m != NULL);
  CHECK(m[3] == 33 && m[399] == 0);
}

/* A reallocated (non-atomic) object is still traced. */
static NOINLINE void **realloc_holder(int pr_base) {
  void **h = GC_malloc(2 * sizeof(void *));
  REQUIRE(h != NULL);
  for (int i = 0; i < 2; i++) {
    h[i] = GC_malloc(40);
    REQUIRE(h[i] != NULL);
    CHECK(probe_add(h[i]) == pr_base + i);
  }
  void **g = GC_realloc(h, 3000 * sizeof(void *));
  REQUIRE(g != NULL);
  g[2999] = GC_malloc(40);
  REQUIRE(g[2999] != NULL);
  CHECK(probe_add(g[2999]) == pr_base + 2);
  return g;
}

TEST(realloc_result_is_traced) {
  probes_reset();
  void **volatile g = realloc_holder(0);
  churn(20000);
  collect_rounds(3);
  CHECK(probe_alive(0) && probe_alive(1) && probe_alive(2));
  CHECK(g[0] == probe_get(0) && g[1] == probe_get(1) &&
        g[2999] == probe_get(2));
  probes_reset();
}

/* --- GC_free --- */

TEST(free) {
  GC_free(NULL); /* no-op */
  GC_FREE(NULL);
  for (int round = 0; round < 3; round++) {
    void *a = GC_malloc(24), *b = GC_malloc_atomic(100), *c = GC_malloc(200000),
         *d = GC_malloc_uncollectable(48), *e = GC_malloc_atomic(1 << 20),
         *f = GC_malloc_ignore_off_page(300000);
    REQUIRE(a && b && c && d && e && f);
    GC_free(a);
    GC_free(b);
    GC_free(c);
    GC_free(d);
    GC_FREE(e);
    GC_free(f);
    collect_once();
  }
  /* Everything still works after explicit frees. */
  struct node *volatile l = make_list(1000, 9);
  for (int i = 0; i < 1000; i++)
    GC_free(GC_malloc(16 + i));
  collect_rounds(2);
  long c;
  CHECK(list_sum(l, &c) == 1000 * 9 + 999 * 1000 / 2 && c == 1000);
}

/* --- strings --- */

TEST(strdup_strndup) {
  const char *src = "hello, collector";
  char *s = GC_strdup(src);
  REQUIRE(s != NULL);
  CHECK(s != src);
  CHECK(strcmp(s, src) == 0);
  CHECK(GC_is_heap_ptr(s));
  CHECK(GC_base(s) != NULL);
  CHECK(GC_size(GC_base(s)) >= strlen(src) + 1);

  char *t = GC_strndup(src, 5);
  REQUIRE(t != NULL);
  CHECK(strcmp(t, "hello") == 0);
  char *u = GC_strndup(src, 1000);
  REQUIRE(u != NULL);
  CHECK(strcmp(u, src) == 0);
  char *e = GC_strndup(src, 0);
  REQUIRE(e != NULL);
  CHECK(e[0] == '\0');
  char *empty = GC_strdup("");
  REQUIRE(empty != NULL);
  CHECK(empty[0] == '\0');

  char *m1 = GC_STRDUP("macro");
  char *m2 = GC_STRNDUP("macro-n", 5);
  REQUIRE(m1 && m2);
  CHECK(strcmp(m1, "macro") == 0 && strcmp(m2, "macro") == 0);

  /* A long string, kept across collections. */
  char big[5000];
  for (size_t i = 0; i < sizeof big - 1; i++)
    big[i] = (char)('a' + i % 26);
  big[sizeof big - 1] = 0;
  char *volatile d = GC_strdup(big);
  REQUIRE(d != NULL);
  churn(10000);
  collect_rounds(2);
  CHECK(strcmp(d, big) == 0);
  CHECK(strcmp(s, src) == 0 && strcmp(t, "hello") == 0);
}

/* --- aligned allocation --- */

/* Alignments up to 4096 only: bdwgc 8.2's GC_memalign fails (calls the oom
 * handler and returns NULL; GC_posix_memalign returns ENOMEM) for any
 * alignment above its 4 KiB block size. */

TEST(memalign) {
  static const size_t aligns[] = {8, 16, 32, 64, 128, 256, 1024, 2048, 4096};
  enum { NA = sizeof aligns / sizeof *aligns };
  unsigned char *volatile keep[NA];
  for (size_t i = 0; i < NA; i++) {
    unsigned char *p = GC_memalign(aligns[i], 100);
    REQUIRE(p != NULL);
    CHECKF(aligned(p, aligns[i]), "GC_memalign(%zu) -> %p", aligns[i],
           (void *)p);
    CHECK(GC_is_heap_ptr(p));
    unsigned char *base = GC_base(p);
    CHECK(base != NULL && base <= p);
    CHECK(base != NULL && base + GC_size(base) >= p + 100);
    memset(p, (int)i + 1, 100);
    keep[i] = p;
  }
  churn(20000);
  collect_rounds(3);
  for (size_t i = 0; i < NA; i++) {
    int bad = 0;
    for (int k = 0; k < 100; k++)
      bad += keep[i][k] != (unsigned char)(i + 1);
    CHECKF(bad == 0, "GC_memalign(%zu) object changed", aligns[i]);
  }
}

TEST(posix_memalign) {
  static const size_t aligns[] = {sizeof(void *), 16, 64, 512, 4096};
  for (size_t i = 0; i < sizeof aligns / sizeof *aligns; i++) {
    void *p = NULL;
    CHECK(GC_posix_memalign(&p, aligns[i], 200) == 0);
    REQUIRE(p != NULL);
    CHECKF(aligned(p, aligns[i]), "GC_posix_memalign(%zu) -> %p", aligns[i], p);
    CHECK(GC_is_heap_ptr(p));
    memset(p, 0x11, 200);
  }
  /* Not a power of two, or not a multiple of sizeof(void *): EINVAL. */
  void *p = static_buf;
  CHECK(GC_posix_memalign(&p, 3, 16) == EINVAL);
  CHECK(GC_posix_memalign(&p, 24, 16) == EINVAL);
  CHECK(GC_posix_memalign(&p, sizeof(void *) / 2, 16) == EINVAL);
}

/* --- macros --- */

TEST(allocation_macros) {
  struct node *n = GC_MALLOC(sizeof *n);
  REQUIRE(n != NULL);
  CHECK(n->next == NULL && n->value == 0);
  char *a = GC_MALLOC_ATOMIC(77);
  REQUIRE(a != NULL);
  CHECK(GC_size(a) >= 77);
  struct node *g = GC_NEW(struct node);
  REQUIRE(g != NULL);
  CHECK(g->next == NULL && g->pad[1] == 0);
  long *ga = GC_NEW_ATOMIC(long);
  REQUIRE(ga != NULL);
  *ga = 5;
  g->next = n;
  n->value = 42;
  struct node *volatile keep = g;
  collect_rounds(2);
  CHECK(keep->next->value == 42 && *ga == 5);
}

int main(void) {
  GC_INIT();
  compat_init();
  RUN(malloc_is_cleared);
  RUN(malloc_base_size_heap_ptr);
  RUN(malloc_reachable_objects_survive);
  RUN(malloc_unreachable_objects_are_collected);
  RUN(garbage_does_not_grow_the_heap_without_bound);
  RUN(malloc_atomic);
  RUN(malloc_atomic_contents_are_not_traced);
  RUN(malloc_uncollectable);
  RUN(uncollectable_macros);
  RUN(malloc_ignore_off_page);
  RUN(ignore_off_page_objects_are_collected);
  RUN(realloc);
  RUN(realloc_result_is_traced);
  RUN(free);
  RUN(strdup_strndup);
  RUN(memalign);
  RUN(posix_memalign);
  RUN(allocation_macros);
  return test_summary();
}
