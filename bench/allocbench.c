/*
 * allocbench: the cost of allocating a small object and dropping it.
 *
 * N objects (default 20,000,000) are allocated, with sizes taken in turn
 * from a fixed pseudo-random table of sizes in 16..64 bytes.  One word is
 * written into each, and each is dropped at once: malloc variants free it
 * right away (a malloc+free pair), the collectors never free it and leave it
 * to the next collection.
 *
 * One source, selected by a macro:
 *   -DUSE_FINALGC   gc_alloc
 *   -DUSE_BOEHM     GC_MALLOC
 *   -DUSE_MALLOC    malloc + free (linked with -lmimalloc: mimalloc)
 *   The USE_BOEHM code is plain <gc.h>: it is also built against finalgc's
 *   bdwgc-compatible layer (-I compat/include, libfinalgc-bdwgc.a), as the
 *   finalgc-gch variant.
 *
 * Usage: allocbench [N]
 * Output: one line, "ns_per_obj=... gcs=... maxrss_kb=... allocator=...".
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
#define DROP(p) ((void)(p))
#define GC_SETUP() gc_init()
#elif defined(USE_BOEHM)
#include <gc.h>
/* The <gc.h> library linked: bdwgc, unless the build names another one
 * (finalgc's compat layer: -DBENCH_GC_NAME='"finalgc-gch"'). */
#ifndef BENCH_GC_NAME
#define BENCH_GC_NAME "bdwgc"
#endif
#define VARIANT_NAME BENCH_GC_NAME
#define ALLOC(n) GC_MALLOC(n)
#define DROP(p) ((void)(p))
#define GC_SETUP() GC_INIT()
#else
#define ALLOC(n) malloc(n)
#define DROP(p) free(p)
#define GC_SETUP() ((void)0)
#endif

#define MIN_SIZE 16
#define MAX_SIZE 64
#define NSIZES 4096 /* power of two */

static unsigned char sizes[NSIZES];

/* xorshift64*: a fixed sequence, the same in every variant and run. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng_next(void) {
  uint64_t x = rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rng_state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

#include "bench.h"

int main(int argc, char **argv) {
  long n = 20000000L;
  if (argc > 1) {
    char *end;
    n = strtol(argv[1], &end, 10);
    if (*end != '\0' || n <= 0) {
      fprintf(stderr, "allocbench: bad count '%s'\n", argv[1]);
      return 2;
    }
  }
  for (int k = 0; k < NSIZES; k++)
    sizes[k] =
        (unsigned char)(MIN_SIZE + rng_next() % (MAX_SIZE - MIN_SIZE + 1));

  double t0 = now_ns();
  GC_SETUP();
  for (long k = 0; k < n; k++) {
    uintptr_t *p = ALLOC(sizes[k & (NSIZES - 1)]);
    if (p == NULL) {
      fprintf(stderr, "allocbench: out of memory after %ld objects\n", k);
      return 2;
    }
    *p = (uintptr_t)k;
    /* The store and the allocation must happen: no malloc/free elision. */
    __asm__ volatile("" : : "r"(p) : "memory");
    DROP(p);
  }
  double t1 = now_ns();
  uint64_t gcs = num_collections();

  printf("ns_per_obj=%.2f gcs=%llu maxrss_kb=%ld allocator=%s\n",
         (t1 - t0) / (double)n, (unsigned long long)gcs, max_rss_kb(),
         allocator_name());
  return 0;
}
