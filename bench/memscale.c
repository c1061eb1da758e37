/*
 * memscale: the machine's own multi-threaded speedup for threads that
 * rewrite memory interleaved with each other's, to read mtalloc's speedup
 * against.
 *
 * T threads share one buffer of T x 2 MiB (more than a core's L2 cache),
 * cut into 8 KiB blocks; thread i owns blocks i, i + T, i + 2T, ..., and
 * passes over them again and again, clearing each block and then writing
 * one byte every 48, as an allocator does that hands out small objects
 * from 8 KiB spans taken in turn by the threads from one heap.  No thread
 * touches another's block, and each has the same work at any T.  The
 * figure is wall time per block over all threads, so that its speedup
 * column (throughput at T over T=1) sits next to mtalloc's: a collected
 * heap cycles through megabytes of memory between collections (finalgc's
 * smallest heap goal is 4 MiB), and on this project's
 * 2-vCPU virtual machine two threads writing memory at once run, at times,
 * at half speed each or slower, while pure arithmetic (cpuscale, which
 * touches no memory) still scales by 1.9.
 *
 * Usage: memscale T [N]   (N passes, default 300)
 * Output: one line, "threads=T ns_per_iter=... maxrss_kb=... allocator=mem".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VARIANT_NAME "mem"
#include "bench.h"

#define BLOCK ((size_t)8 << 10)
#define PER_THREAD ((size_t)2 << 20)

static int threads;
static long passes = 300;
static unsigned char *buffer;

static void *run(void *arg) {
  size_t id = (size_t)(uintptr_t)arg;
  size_t blocks = PER_THREAD / BLOCK * (size_t)threads;
  for (long p = 0; p < passes; p++) {
    for (size_t b = id; b < blocks; b += (size_t)threads) {
      unsigned char *block = buffer + b * BLOCK;
      memset(block, 0, BLOCK);
      for (size_t i = 0; i < BLOCK; i += 48)
        block[i] = (unsigned char)(p + i);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  threads = probe_args(argc, argv, "memscale", &passes);
  size_t bytes = PER_THREAD * (size_t)threads;
  buffer = aligned_alloc(PER_THREAD, bytes);
  if (!buffer) {
    fprintf(stderr, "memscale: out of memory\n");
    return 2;
  }
  memset(buffer, 1, bytes); /* every page present before the clock starts */
  pthread_t t[64];
  double t0 = now_ns();
  for (int i = 0; i < threads; i++)
    if (pthread_create(&t[i], NULL, run, (void *)(uintptr_t)i) != 0) {
      fprintf(stderr, "memscale: pthread_create failed\n");
      return 2;
    }
  for (int i = 0; i < threads; i++)
    pthread_join(t[i], NULL);
  double ns = now_ns() - t0;
  printf("threads=%d ns_per_iter=%.4f maxrss_kb=%ld allocator=%s\n", threads,
         ns / ((double)passes * (double)(bytes / BLOCK)), max_rss_kb(),
         allocator_name());
  free(buffer);
  return 0;
}
