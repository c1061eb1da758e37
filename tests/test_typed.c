/* Typed objects: scanned through their layout only.  A pointer field keeps
 * its target alive (absolute); an integer field holding the same address
 * keeps nothing (statistical: >= 90%, through hidden addresses). */
#include <errno.h>
#include <stdint.h>

#include "finalgc.h"
#include "testhelper.h"

#define HIDE(p) (~(uintptr_t)(p))
#define REVEAL(h) ((void *)~(h))

/* struct rec { struct rec *next; uintptr_t number; void *data; long n; } */
struct rec {
  struct rec *next;
  uintptr_t number; /* not a pointer, even when it looks like one */
  void *data;
  long n;
};

static gc_layout rec_layout(void) {
  uint64_t bits = 1u << 0 | 1u << 2; /* next and data */
  return gc_make_layout(&bits, 4);
}

TEST(layouts_are_canonical) {
  gc_layout a = rec_layout(), b = rec_layout();
  CHECK(a != NULL && a == b);
  uint64_t other = 1;
  CHECK(gc_make_layout(&other, 4) != a);
  /* Trailing non-pointer words do not make a different layout. */
  CHECK(gc_make_layout(&other, 1) == gc_make_layout(&other, 9));
}

enum { N = 2000 };
static uintptr_t hidden[N];
static struct rec *recs[N];

static NOINLINE void make_records(gc_layout layout) {
  for (int i = 0; i < N; i++) {
    struct rec *r = gc_alloc_typed(sizeof *r, layout);
    REQUIRE(r != NULL);
    long *kept = gc_alloc(sizeof(long) * 4);
    kept[0] = i;
    long *dropped = gc_alloc(sizeof(long) * 4);
    r->data = kept;
    r->number = (uintptr_t)dropped; /* looks like a pointer; is not one */
    r->n = i;
    recs[i] = r;
    hidden[i] = HIDE(dropped);
  }
}

static int count_alive(void) {
  int alive = 0;
  for (int i = 0; i < N; i++)
    alive += gc_base(REVEAL(hidden[i])) != NULL;
  return alive;
}

TEST(pointer_fields_keep_number_fields_do_not) {
  make_records(rec_layout());
  scrub_stack();
  for (int round = 0; round < 3; round++)
    gc_collect();
  int kept = 0;
  for (int i = 0; i < N; i++)
    kept += ((long *)recs[i]->data)[0] == i && recs[i]->n == i;
  CHECK(kept == N);
  CHECK(count_alive() <= N / 10);
  /* The control: with no layout, the same object is scanned
   * conservatively and the number keeps its target. */
  make_records(NULL);
  scrub_stack();
  gc_collect();
  CHECK(count_alive() == N);
}

TEST(size_realloc_and_large) {
  gc_layout l = rec_layout();
  struct rec *r = gc_alloc_typed(sizeof *r, l);
  CHECK(gc_size(r) >= sizeof *r);
  CHECK(gc_base((char *)r + sizeof *r) == r); /* one past the end */
  r->data = gc_alloc(16);
  ((char *)r->data)[0] = 42;
  struct rec *r2 = gc_realloc(r, sizeof *r * 2);
  REQUIRE(r2 != NULL);
  gc_collect();
  CHECK(((char *)r2->data)[0] == 42);
  /* A large typed object: a million-word array whose every other word is a
   * pointer. */
  uint64_t alternate = 0x5555555555555555ull;
  gc_layout pairs = gc_make_layout(&alternate, 64);
  /* A NULL layout means conservative scanning, as for gc_alloc_typed; a
   * size that overflows is ENOMEM. */
  void **big = gc_alloc_typed_array(1 << 10, sizeof(void *) * 4, NULL);
  CHECK(big != NULL && gc_size(big) >= (1 << 10) * sizeof(void *) * 4);
  errno = 0;
  CHECK(gc_alloc_typed_array(SIZE_MAX / 2, 4, pairs) == NULL &&
        errno == ENOMEM);
  big = gc_alloc_typed_array(1 << 14, 64 * sizeof(void *), pairs);
  REQUIRE(big != NULL);
  size_t last = ((size_t)1 << 14) * 64 - 2;
  big[last] = gc_alloc(32);
  ((long *)big[last])[0] = 7;
  gc_collect();
  CHECK(((long *)big[last])[0] == 7);
}

static uintptr_t array_hidden[64];
static void **array;

static NOINLINE void make_array(void) {
  uint64_t first_only = 1; /* element = { void *p; uintptr_t x; } */
  gc_layout l = gc_make_layout(&first_only, 2);
  array = gc_alloc_typed_array(64, 2 * sizeof(void *), l);
  REQUIRE(array != NULL);
  for (int i = 0; i < 64; i++) {
    array[2 * i] = gc_alloc(24);
    void *number = gc_alloc(24);
    array[2 * i + 1] = number;
    array_hidden[i] = HIDE(number);
  }
}

TEST(arrays_repeat_the_layout) {
  make_array();
  scrub_stack();
  for (int round = 0; round < 3; round++)
    gc_collect();
  int kept = 0, numbers = 0;
  for (int i = 0; i < 64; i++) {
    kept += gc_base(array[2 * i]) == array[2 * i];
    numbers += gc_base(REVEAL(array_hidden[i])) != NULL;
  }
  CHECK(kept == 64);
  CHECK(numbers <= 6);
}

int main(void) {
  gc_init();
  RUN(layouts_are_canonical);
  RUN(pointer_fields_keep_number_fields_do_not);
  RUN(size_realloc_and_large);
  RUN(arrays_repeat_the_layout);
  return test_summary();
}
