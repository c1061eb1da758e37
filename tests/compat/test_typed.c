/* Typed allocation (gc_typed.h): GC_make_descriptor,
 * GC_malloc_explicitly_typed, GC_calloc_explicitly_typed, the bitmap macros
 * GC_WORDSZ, GC_WORD_OFFSET, GC_WORD_LEN, GC_BITMAP_SIZE, GC_set_bit,
 * GC_get_bit, and GC_MALLOC_EXPLICITLY_TYPED / GC_CALLOC_EXPLICITLY_TYPED.
 *
 * The contract tested: objects are cleared; an object reachable only
 * through a word the descriptor marks as a pointer survives (absolute);
 * and, statistically, pointers stored in words the descriptor does not
 * mark - including the words past the bitmap's length - do not keep their
 * targets alive ("putting pointers ... in non-pointer slots of typed
 * objects is equivalent to disguising them", gc.h). */
#include <gc.h>
#if __has_include(<gc_typed.h>)
#include <gc_typed.h>
#else
#include <gc/gc_typed.h> /* Debian installs it only under gc/ */
#endif

#include <stddef.h>

#include "compat_helper.h"

/* Words 0 and 2 are pointers; 1 and 3..7 are not. */
struct typed {
  void *p0;
  GC_word w1;
  void *p2;
  GC_word tail[5];
};

/* More than one bitmap word: a pointer at word 70 only. */
struct wide {
  GC_word before[70];
  void *p70;
  GC_word after[29];
};

static GC_descr typed_descr, first_only_descr, wide_descr;

static void make_descriptors(void) {
  GC_word bm[GC_BITMAP_SIZE(struct typed)] = {0};
  GC_set_bit(bm, GC_WORD_OFFSET(struct typed, p0));
  GC_set_bit(bm, GC_WORD_OFFSET(struct typed, p2));
  typed_descr = GC_make_descriptor(bm, GC_WORD_LEN(struct typed));

  /* Only word 0, with a bitmap of length 1: every later word of the
   * (larger) object is "assumed not to contain pointers". */
  GC_word one[1] = {0};
  GC_set_bit(one, 0);
  first_only_descr = GC_make_descriptor(one, 1);

  GC_word wbm[GC_BITMAP_SIZE(struct wide)] = {0};
  GC_set_bit(wbm, GC_WORD_OFFSET(struct wide, p70));
  wide_descr = GC_make_descriptor(wbm, GC_WORD_LEN(struct wide));
}

static int all_zero(const void *p, size_t n) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i])
      return 0;
  return 1;
}

TEST(bitmap_macros) {
  CHECK(GC_WORDSZ == 8 * sizeof(GC_word));
  CHECK(GC_WORD_OFFSET(struct typed, p0) == 0);
  CHECK(GC_WORD_OFFSET(struct typed, w1) == 1);
  CHECK(GC_WORD_OFFSET(struct typed, p2) == 2);
  CHECK(GC_WORD_OFFSET(struct typed, tail) == 3);
  CHECK(GC_WORD_LEN(struct typed) == 8);
  CHECK(GC_BITMAP_SIZE(struct typed) == 1);
  CHECK(GC_WORD_OFFSET(struct wide, p70) == 70);
  CHECK(GC_WORD_LEN(struct wide) == 100);
  CHECK(GC_BITMAP_SIZE(struct wide) == (100 + GC_WORDSZ - 1) / GC_WORDSZ);

  GC_word bm[GC_BITMAP_SIZE(struct wide)] = {0};
  GC_set_bit(bm, 0);
  GC_set_bit(bm, 2);
  GC_set_bit(bm, 70);
  CHECK(GC_get_bit(bm, 0) == 1);
  CHECK(GC_get_bit(bm, 1) == 0);
  CHECK(GC_get_bit(bm, 2) == 1);
  CHECK(GC_get_bit(bm, 70) == 1);
  CHECK(GC_get_bit(bm, 69) == 0);
  CHECK(bm[0] == 5);
  CHECK(bm[70 / GC_WORDSZ] & ((GC_word)1 << (70 % GC_WORDSZ)));
}

static NOINLINE void dirty_garbage(size_t size, int n) {
  for (int i = 0; i < n; i++) {
    void *p = GC_malloc(size);
    REQUIRE(p != NULL);
    memset(p, 0xEE, size);
  }
}

TEST(typed_objects_are_cleared) {
  for (int round = 0; round < 3; round++) {
    dirty_garbage(sizeof(struct typed), 500);
    dirty_garbage(sizeof(struct typed) * 10, 100);
    dirty_garbage(sizeof(struct wide), 100);
    collect_once();
    for (int i = 0; i < 200; i++) {
      struct typed *t = GC_malloc_explicitly_typed(sizeof *t, typed_descr);
      REQUIRE(t != NULL);
      CHECK(all_zero(t, sizeof *t));
      CHECK(GC_size(t) >= sizeof *t);
      CHECK(GC_base(t) == t);
      memset(t, 0x77, sizeof *t);
    }
    struct typed *a = GC_calloc_explicitly_typed(10, sizeof *a, typed_descr);
    REQUIRE(a != NULL);
    CHECK(all_zero(a, 10 * sizeof *a));
    CHECK(GC_base(a) == a);
    CHECK(GC_size(a) >= 10 * sizeof *a);
    struct wide *w = GC_malloc_explicitly_typed(sizeof *w, wide_descr);
    REQUIRE(w != NULL);
    CHECK(all_zero(w, sizeof *w));
  }
}

/* Fills n typed objects: p0/p2 point to probed targets (probes 4i, 4i+1),
 * w1/tail[2] hold the only pointers to other probed targets (4i+2, 4i+3).
 * The typed objects are kept in `keep` (a traced array). */
static NOINLINE void fill_typed(struct typed **keep, int n, int in_array,
                                struct typed *array) {
  for (int i = 0; i < n; i++) {
    struct typed *t = in_array
                          ? &array[i]
                          : GC_malloc_explicitly_typed(sizeof *t, typed_descr);
    REQUIRE(t != NULL);
    void *a = GC_malloc(32), *b = GC_malloc(32), *c = GC_malloc(32),
         *d = GC_malloc(32);
    REQUIRE(a && b && c && d);
    *(long *)a = 4L * i;
    *(long *)b = 4L * i + 1;
    probe_add(a);
    probe_add(b);
    probe_add(c);
    probe_add(d);
    t->p0 = a;
    t->p2 = b;
    t->w1 = (GC_word)c;
    t->tail[2] = (GC_word)d;
    if (keep)
      keep[i] = t;
  }
}

/* How many targets of the non-pointer words are alive. */
static int unmarked_targets_alive(int n) {
  int alive = 0;
  for (int i = 0; i < n; i++)
    alive += probe_alive(4 * i + 2) + probe_alive(4 * i + 3);
  return alive;
}

static void check_typed_targets(const char *what, struct typed **objs,
                                struct typed *array, int n) {
  int lost = 0, bad = 0;
  for (int i = 0; i < n; i++) {
    lost += !probe_alive(4 * i) + !probe_alive(4 * i + 1);
    struct typed *t = objs ? objs[i] : &array[i];
    if (t->p0 != probe_get(4 * i) || t->p2 != probe_get(4 * i + 1) ||
        *(long *)t->p0 != 4L * i || *(long *)t->p2 != 4L * i + 1)
      bad++;
  }
  CHECKF(lost == 0 && bad == 0,
         "%s: %d targets of pointer fields lost, %d objects damaged", what,
         lost, bad);
  CHECK(COLLECT_UNTIL(unmarked_targets_alive(n) * 10 <= 2 * n, 10));
  int unmarked_alive = unmarked_targets_alive(n);
  CHECKF(AT_LEAST_PCT(2 * n - unmarked_alive, 2 * n, 90),
         "%s: %d of %d targets of non-pointer words survived", what,
         unmarked_alive, 2 * n);
  /* The marked fields still hold (absolute). */
  lost = 0;
  for (int i = 0; i < 2 * n; i++)
    lost += !probe_alive(4 * (i / 2) + i % 2);
  CHECKF(lost == 0, "%s: %d targets of pointer fields lost later", what, lost);
}

TEST(malloc_explicitly_typed_traces_only_pointer_words) {
  probes_reset();
  enum { N = 200 };
  struct typed **volatile keep = GC_malloc(N * sizeof(struct typed *));
  REQUIRE(keep != NULL);
  fill_typed(keep, N, 0, NULL);
  collect_rounds(2);
  check_typed_targets("GC_malloc_explicitly_typed", keep, NULL, N);
  probes_reset();
}

TEST(calloc_explicitly_typed_traces_only_pointer_words) {
  probes_reset();
  enum { N = 300 };
  struct typed *volatile arr =
      GC_calloc_explicitly_typed(N, sizeof(struct typed), typed_descr);
  REQUIRE(arr != NULL);
  fill_typed(NULL, N, 1, arr);
  collect_rounds(2);
  check_typed_targets("GC_calloc_explicitly_typed", NULL, arr, N);
  probes_reset();
}

/* A chain of typed objects linked only through their p2 words: every node
 * is reachable only through a marked pointer field. */
static NOINLINE struct typed *make_typed_chain(int n) {
  struct typed *head = NULL;
  for (int i = 0; i < n; i++) {
    struct typed *t = GC_malloc_explicitly_typed(sizeof *t, typed_descr);
    REQUIRE(t != NULL);
    t->tail[0] = (GC_word)i;
    t->p2 = head;
    head = t;
  }
  return head;
}

static NOINLINE void churn(int n) {
  for (int i = 0; i < n; i++) {
    void *p = GC_malloc(16 + (i % 32) * 8);
    REQUIRE(p != NULL);
  }
}

TEST(typed_chain_survives) {
  const int N = 20000;
  struct typed *volatile head = make_typed_chain(N);
  for (int i = 0; i < 3; i++) {
    churn(30000);
    collect_once();
  }
  int count = 0, bad = 0;
  for (struct typed *t = head; t; t = t->p2) {
    bad += t->tail[0] != (GC_word)(N - 1 - count);
    count++;
  }
  CHECK(count == N && bad == 0);
}

/* Bitmap of length 1 on a 6-word object: word 0 traced, words 1..5 not. */
static NOINLINE void fill_first_only(void **keep, int n) {
  for (int i = 0; i < n; i++) {
    GC_word *o =
        GC_malloc_explicitly_typed(6 * sizeof(GC_word), first_only_descr);
    REQUIRE(o != NULL);
    void *a = GC_malloc(24), *b = GC_malloc(24);
    REQUIRE(a && b);
    probe_add(a);
    probe_add(b);
    o[0] = (GC_word)a;
    o[5] = (GC_word)b;
    keep[i] = o;
  }
}

TEST(words_past_the_bitmap_are_not_pointers) {
  probes_reset();
  enum { N = 200 };
  void **volatile keep = GC_malloc(N * sizeof(void *));
  REQUIRE(keep != NULL);
  fill_first_only(keep, N);
  int past_alive = N;
  for (int r = 0; r < 10 && past_alive * 10 > N; r++) {
    collect_once();
    past_alive = 0;
    for (int i = 0; i < N; i++)
      past_alive += probe_alive(2 * i + 1);
  }
  CHECKF(AT_LEAST_PCT(N - past_alive, N, 90),
         "%d of %d targets of words past the bitmap survived", past_alive, N);
  int lost = 0;
  for (int i = 0; i < N; i++)
    lost += !probe_alive(2 * i) ||
            ((GC_word *)keep[i])[0] != (GC_word)probe_get(2 * i);
  CHECKF(lost == 0, "%d targets of word 0 lost", lost);
  probes_reset();
}

static NOINLINE void fill_wide(struct wide **keep, int n) {
  for (int i = 0; i < n; i++) {
    struct wide *w = GC_malloc_explicitly_typed(sizeof *w, wide_descr);
    REQUIRE(w != NULL);
    void *a = GC_malloc(24), *b = GC_malloc(24);
    REQUIRE(a && b);
    probe_add(a);
    probe_add(b);
    w->p70 = a;
    w->before[3] = (GC_word)b;
    keep[i] = w;
  }
}

TEST(multi_word_bitmap) {
  probes_reset();
  enum { N = 100 };
  struct wide **volatile keep = GC_malloc(N * sizeof(struct wide *));
  REQUIRE(keep != NULL);
  fill_wide(keep, N);
  int other_alive = N;
  for (int r = 0; r < 10 && other_alive * 10 > N; r++) {
    collect_once();
    other_alive = 0;
    for (int i = 0; i < N; i++)
      other_alive += probe_alive(2 * i + 1);
  }
  CHECKF(AT_LEAST_PCT(N - other_alive, N, 90),
         "%d of %d targets of non-pointer words survived", other_alive, N);
  int lost = 0;
  for (int i = 0; i < N; i++)
    lost += !probe_alive(2 * i) || keep[i]->p70 != probe_get(2 * i);
  CHECKF(lost == 0, "%d targets of the pointer at word 70 lost", lost);
  probes_reset();
}

static NOINLINE void make_typed_garbage(int n) {
  for (int i = 0; i < n; i++) {
    struct typed *t = GC_malloc_explicitly_typed(sizeof *t, typed_descr);
    REQUIRE(t != NULL);
    probe_add(t);
    struct typed *a = GC_calloc_explicitly_typed(4, sizeof *a, typed_descr);
    REQUIRE(a != NULL);
    probe_add(a);
  }
}

TEST(unreachable_typed_objects_are_collected) {
  probes_reset();
  enum { N = 100 };
  make_typed_garbage(N);
  CHECK(COLLECT_UNTIL(probes_alive(0, 2 * N) * 10 <= 2 * N, 10));
  CHECKF(AT_LEAST_PCT(2 * N - probes_alive(0, 2 * N), 2 * N, 90),
         "%d of %d unreachable typed objects survived", probes_alive(0, 2 * N),
         2 * N);
  probes_reset();
}

TEST(typed_macros) {
  probes_reset();
  struct typed *volatile t =
      GC_MALLOC_EXPLICITLY_TYPED(sizeof(struct typed), typed_descr);
  struct typed *volatile a =
      GC_CALLOC_EXPLICITLY_TYPED(7, sizeof(struct typed), typed_descr);
  REQUIRE(t != NULL && a != NULL);
  CHECK(all_zero((void *)t, sizeof *t) && all_zero((void *)a, 7 * sizeof *a));
  t->p0 = GC_malloc(16);
  a[6].p2 = GC_malloc(16);
  REQUIRE(t->p0 && a[6].p2);
  int p1 = probe_add(t->p0), p2 = probe_add(a[6].p2);
  churn(10000);
  collect_rounds(3);
  CHECK(probe_alive(p1) && probe_alive(p2));
  probes_reset();
}

int main(void) {
  GC_INIT();
  compat_init();
  make_descriptors();
  RUN(bitmap_macros);
  RUN(typed_objects_are_cleared);
  RUN(malloc_explicitly_typed_traces_only_pointer_words);
  RUN(calloc_explicitly_typed_traces_only_pointer_words);
  RUN(typed_chain_survives);
  RUN(words_past_the_bitmap_are_not_pointers);
  RUN(multi_word_bitmap);
  RUN(unreachable_typed_objects_are_collected);
  RUN(typed_macros);
  return test_summary();
}
