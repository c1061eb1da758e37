/*
 * cpuscale: the machine's own ceiling for a multi-threaded speedup.
 *
 * T threads each run the same fixed loop of integer arithmetic, touching no
 * memory: with T cores free, the wall time does not change with T.  The
 * figure is wall time per iteration over all threads, so that its speedup
 * column (throughput at T over T=1) is directly comparable with mtalloc's:
 * on a machine whose second CPU is a hyperthread of the first, or is busy
 * with another guest, pure arithmetic scales by less than 2, and no
 * allocator can do better.
 *
 * Usage: cpuscale T [N]   (N iterations per thread, default 200,000,000)
 * Output: one line, "threads=T ns_per_iter=... maxrss_kb=... allocator=cpu".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define VARIANT_NAME "cpu"
#include "bench.h"

static long iterations = 200000000;
static volatile uint64_t result; /* keeps the loops' results alive */

static void *spin(void *arg) {
  uint64_t x = (uint64_t)(uintptr_t)arg | 1;
  for (long i = 0; i < iterations; i++) {
    /* xorshift: a dependent chain the compiler cannot fold away */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return (void *)(uintptr_t)x;
}

int main(int argc, char **argv) {
  int threads = probe_args(argc, argv, "cpuscale", &iterations);
  pthread_t t[64];
  uint64_t sink = 0;
  double t0 = now_ns();
  for (int i = 0; i < threads; i++)
    if (pthread_create(&t[i], NULL, spin, (void *)(uintptr_t)(i + 1)) != 0) {
      fprintf(stderr, "cpuscale: pthread_create failed\n");
      return 2;
    }
  for (int i = 0; i < threads; i++) {
    void *r;
    pthread_join(t[i], &r);
    sink ^= (uint64_t)(uintptr_t)r;
  }
  double ns = now_ns() - t0;
  result = sink;
  printf("threads=%d ns_per_iter=%.4f maxrss_kb=%ld allocator=%s\n", threads,
         ns / ((double)iterations * threads), max_rss_kb(), allocator_name());
  return 0;
}
