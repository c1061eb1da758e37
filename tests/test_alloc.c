/* Allocation API: sizes, alignment, zeroing, realloc, free, base/size, and
 * bad input. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "finalgc.h"
#include "testhelper.h"

static int all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return 0;
  return 1;
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    p[i] = (unsigned char)(i * 31 + seed);
}

static int check_fill(const unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(i * 31 + seed))
      return 0;
  return 1;
}

/* Every size from 1 byte to 64 KiB in steps that hit every size class and
 * many odd sizes: zeroed, aligned, usable for its whole size, intact after
 * collections. */
TEST(every_size) {
  enum { N = 600 };
  static void *objs[N];
  static size_t sizes[N];
  int n = 0;
  for (size_t size = 1; size <= 65536 && n < N; size += size < 256    ? 1
                                                        : size < 4096 ? 37
                                                                      : 1021) {
    for (int noscan = 0; noscan < 2 && n < N; noscan++) {
      unsigned char *p = noscan ? gc_alloc_noscan(size) : gc_alloc(size);
      REQUIRE(p != NULL);
      CHECK(all_zero(p, size));
      if (size % 16 == 0)
        CHECK(((uintptr_t)p & 15) == 0);
      if (size % 8 == 0 || size > 16)
        CHECK(((uintptr_t)p & 7) == 0);
      CHECK(gc_size(p) >= size);
      CHECK(gc_base(p) == p || (noscan && size < 16));
      CHECK(gc_base(p + size - 1) == gc_base(p));
      fill(p, size, (unsigned)n);
      objs[n] = p;
      sizes[n] = size;
      n++;
    }
  }
  for (int round = 0; round < 3; round++) {
    gc_collect();
    for (int i = 0; i < n; i++)
      CHECK(check_fill(objs[i], sizes[i], (unsigned)i));
  }
  memset(objs, 0, sizeof objs);
}

TEST(large_objects) {
  size_t sizes[] = {32769, 100000, (size_t)1 << 20, (size_t)5 << 20,
                    ((size_t)8 << 20) + 7};
  unsigned char *p[5];
  for (int i = 0; i < 5; i++) {
    p[i] = gc_alloc(sizes[i]);
    REQUIRE(p[i] != NULL);
    CHECK(((uintptr_t)p[i] & 4095) == 0);
    CHECK(all_zero(p[i], sizes[i]));
    CHECK(gc_size(p[i]) >= sizes[i]);
    CHECK(gc_base(p[i] + sizes[i] - 1) == p[i]);
    fill(p[i], sizes[i], (unsigned)i);
  }
  for (int round = 0; round < 3; round++) {
    gc_collect();
    for (int i = 0; i < 5; i++)
      CHECK(check_fill(p[i], sizes[i], (unsigned)i));
  }
  /* A freed large object's pages are reused zeroed. */
  CHECK(gc_free(p[3]) == GC_OK);
  unsigned char *q = gc_alloc(sizes[3]);
  REQUIRE(q != NULL);
  CHECK(all_zero(q, sizes[3]));
}

TEST(zero_size) {
  void *a = gc_alloc(0), *b = gc_alloc_noscan(0);
  CHECK(a != NULL);
  CHECK(a == b);
  CHECK(gc_free(a) == GC_OK);
  CHECK(gc_alloc(0) == a);
  void *r = gc_realloc(a, 32);
  CHECK(r != NULL && r != a && gc_size(r) >= 32);
}

TEST(tiny_blocks_are_shared) {
  /* Of three 4-byte noscan objects, at least two share a 16-byte block... */
  char *a = gc_alloc_noscan(4);
  char *b = gc_alloc_noscan(4);
  char *c3 = gc_alloc_noscan(4);
  REQUIRE(a && b && c3);
  CHECK(gc_base(a) == gc_base(b) || gc_base(b) == gc_base(c3));
  CHECK(gc_size(a) == 16);
  CHECK(b == a + 4 || c3 == b + 4);
  /* ...and each ends strictly inside its block. */
  char *e = gc_alloc_noscan(15);
  CHECK(gc_base(e + 15) == gc_base(e));
  /* ...but scanned objects never do. */
  char *c = gc_alloc(8), *d = gc_alloc(8);
  CHECK(gc_base(c) != gc_base(d));
  /* A tiny object may be freed: it is a no-op. */
  CHECK(gc_free(a) == GC_OK);
}

TEST(realloc_keeps_contents) {
  unsigned char *p = gc_alloc(10);
  fill(p, 10, 7);
  size_t sizes[] = {20, 100, 1000, 40000, 3000000, 50000, 500, 12, 3};
  size_t prev = 10;
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    unsigned char *q = gc_realloc(p, sizes[i]);
    REQUIRE(q != NULL);
    size_t keep = prev < sizes[i] ? prev : sizes[i];
    CHECK(check_fill(q, keep, 7));
    if (sizes[i] > prev)
      CHECK(all_zero(q + prev, sizes[i] - prev));
    fill(q, sizes[i], 7);
    gc_collect();
    CHECK(check_fill(q, sizes[i], 7));
    p = q;
    prev = sizes[i];
  }
  /* Within a size class, realloc stays in place. */
  unsigned char *s = gc_alloc(40);
  CHECK(gc_realloc(s, 44) == s);
  /* realloc keeps the kind: a noscan object stays noscan. */
  void *ns = gc_alloc_noscan(100);
  void *ns2 = gc_realloc(ns, 5000);
  CHECK(ns2 != NULL);
  CHECK(gc_realloc(NULL, 64) != NULL);
  /* A packed tiny object grown into its own block, just after it: the
   * copy overlapped (ASan: memcpy-param-overlap). */
  for (int i = 0; i < 16; i++) {
    char *t = gc_alloc_noscan(2);
    REQUIRE(t != NULL);
    t[0] = 'A';
    t[1] = 'B';
    char *u = gc_realloc(t, 5);
    REQUIRE(u != NULL);
    CHECK(u[0] == 'A' && u[1] == 'B');
  }
  void *z = gc_realloc(gc_alloc(64), 0);
  CHECK(z == gc_alloc(0));
}

TEST(free_then_reuse) {
  void *p = gc_alloc(48);
  memset(p, 0xab, 48);
  CHECK(gc_free(p) == GC_OK);
  /* The freeing thread's next allocation of that size reuses the slot,
   * zeroed. */
  void *q = gc_alloc(48);
  CHECK(q == p);
  CHECK(all_zero(q, 48));
  /* Freeing twice is reported. */
  void *r = gc_alloc(48);
  CHECK(gc_free(r) == GC_OK);
  CHECK(gc_free(r) == GC_ERR_FREED);
  CHECK(gc_base(r) == NULL);
  CHECK(gc_size(r) == 0);
  /* Large objects too. */
  void *big = gc_alloc(1 << 20);
  CHECK(gc_free(big) == GC_OK);
  CHECK(gc_free(big) == GC_ERR_FREED);
  CHECK(gc_base(big) == NULL);
  gc_collect();
  CHECK(gc_free(r) == GC_ERR_FREED);
}

/* A pointer one past the end of an object belongs to that object, whatever
 * the size: C programs form such pointers all the time. */
TEST(one_past_the_end) {
  size_t sizes[] = {1,    7,    8,    15,    16,    23,    24,
                    31,   32,   48,   64,    127,   128,   1023,
                    1024, 4096, 8192, 32767, 32768, 65536, 1 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    for (int noscan = 0; noscan < 2; noscan++) {
      char *p = noscan ? gc_alloc_noscan(sizes[i]) : gc_alloc(sizes[i]);
      CHECK(gc_base(p + sizes[i]) == gc_base(p));
    }
  }
}

TEST(base_and_size) {
  char *p = gc_alloc(100);
  CHECK(gc_size(p) == 112);
  CHECK(gc_base(p) == p);
  CHECK(gc_base(p + 50) == p);
  CHECK(gc_base(p + 111) == p);
  CHECK(gc_base(p + 112) != p); /* one past the end is another slot */
  CHECK(gc_size(p + 99) == 112);
  int local;
  static int global;
  void *m = malloc(64);
  CHECK(gc_base(&local) == NULL && gc_size(&local) == 0);
  CHECK(gc_base(&global) == NULL && gc_size(&global) == 0);
  CHECK(gc_base(m) == NULL && gc_size(m) == 0);
  CHECK(gc_base(NULL) == NULL && gc_size(NULL) == 0);
  CHECK(gc_base((void *)(uintptr_t)0xdeadbeef) == NULL);
  free(m);
}

/* Pointers that are not heap objects get a documented error, and the
 * process goes on working. */
TEST(bad_input) {
  int local;
  static int global;
  void *m = malloc(64);
  void *garbage = (void *)(uintptr_t)0x123456789aULL;
  void *bad[] = {&local, &global, m, garbage};
  for (int i = 0; i < 4; i++) {
    CHECK(gc_free(bad[i]) == GC_ERR_NOT_IN_HEAP);
    CHECK(gc_size(bad[i]) == 0);
    CHECK(gc_base(bad[i]) == NULL);
    errno = 0;
    CHECK(gc_realloc(bad[i], 10) == NULL && errno == EINVAL);
  }
  free(m);
  char *p = gc_alloc(64);
  CHECK(gc_free(p + 8) == GC_ERR_NOT_AT_BASE);
  errno = 0;
  CHECK(gc_realloc(p + 8, 100) == NULL && errno == EINVAL);
  CHECK(gc_size(p) >= 64); /* still alive */
  CHECK(gc_free(p) == GC_OK);
  errno = 0;
  CHECK(gc_realloc(p, 100) == NULL && errno == EINVAL);
  CHECK(strcmp(gc_strerror(GC_ERR_NOT_IN_HEAP),
               "pointer not in allocated block") == 0);
  CHECK(strcmp(gc_strerror(GC_ERR_NOT_AT_BASE),
               "pointer not at beginning of allocated block") == 0);
  CHECK(strcmp(gc_strerror(9999), "unknown error") == 0);
  /* The heap still works. */
  void *q = gc_alloc(64);
  CHECK(q != NULL && gc_size(q) >= 64);
}

/* Sizes near SIZE_MAX fail with ENOMEM.  They wrapped to a slot of 0
 * bytes: a span of no pages at the start of free pages, handed out again
 * by the next large allocation, and a crash in the next sweep. */
TEST(impossible_sizes) {
  size_t sizes[] = {SIZE_MAX, SIZE_MAX - 15, SIZE_MAX - 16, SIZE_MAX / 2};
  for (int i = 0; i < 4; i++) {
    errno = 0;
    CHECK(gc_alloc(sizes[i]) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(gc_alloc_noscan(sizes[i]) == NULL && errno == ENOMEM);
  }
  long *big = gc_alloc(100000);
  REQUIRE(big != NULL);
  big[0] = 42;
  errno = 0;
  CHECK(gc_realloc(big, SIZE_MAX) == NULL && errno == ENOMEM);
  CHECK(gc_realloc(big, SIZE_MAX - 15) == NULL);
  long *other = gc_alloc(100000);
  REQUIRE(other != NULL);
  CHECK(other != big && big[0] == 42 && gc_size(big) >= 100000);
  gc_collect();
  CHECK(big[0] == 42 && gc_base(big) == big);
}

TEST(roots_api) {
  void *block = malloc(256);
  CHECK(gc_add_roots(block, (char *)block + 256) == GC_OK);
  CHECK(gc_remove_roots(block, (char *)block + 256) == GC_OK);
  CHECK(gc_remove_roots(block, (char *)block + 256) == GC_ERR_NOT_FOUND);
  CHECK(gc_add_roots((char *)block + 8, block) == GC_ERR_INVALID);
  free(block);
}

TEST(stats) {
  gc_stats a, b;
  gc_read_stats(&a);
  for (int i = 0; i < 100000; i++)
    (void)gc_alloc(32);
  gc_collect();
  gc_read_stats(&b);
  CHECK(b.num_gc > a.num_gc);
  CHECK(b.total_alloc_objects >= a.total_alloc_objects + 100000);
  CHECK(b.total_alloc_bytes >= a.total_alloc_bytes + 3200000);
  CHECK(b.pause_total_ns >= a.pause_total_ns + b.last_pause_ns);
  CHECK(b.pause_max_ns >= b.last_pause_ns);
  CHECK(b.heap_mapped >= b.heap_inuse);
  CHECK(b.heap_goal >= b.heap_live);
  CHECK(b.metadata > 0);
  /* Slots that gc_free gave back and allocation took again count too. */
  gc_read_stats(&a);
  for (int i = 0; i < 1000; i++)
    CHECK(gc_free(gc_alloc(48)) == GC_OK);
  gc_read_stats(&b);
  CHECK(b.total_alloc_objects >= a.total_alloc_objects + 1000);
  CHECK(b.total_alloc_bytes >= a.total_alloc_bytes + 48000);
}

int main(void) {
  gc_init();
  RUN(every_size);
  RUN(large_objects);
  RUN(zero_size);
  RUN(tiny_blocks_are_shared);
  RUN(realloc_keeps_contents);
  RUN(free_then_reuse);
  RUN(one_past_the_end);
  RUN(base_and_size);
  RUN(bad_input);
  RUN(impossible_sizes);
  RUN(roots_api);
  RUN(stats);
  return test_summary();
}
