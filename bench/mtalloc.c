/*
 * mtalloc: multi-threaded small-object allocation throughput.
 *
 * T threads run at once.  Each allocates N objects (default 10,000,000 per
 * thread) with sizes drawn from its own xorshift generator in 16..64 bytes,
 * writes one word into each, and keeps the last 1,000 in a ring: an array
 * local to the thread function, so on the thread's own stack, where a
 * collector must find it.  The object that leaves the ring is freed by the
 * malloc variants and simply overwritten (dropped) by the collectors.
 * After the run every thread checks that the objects still in its ring hold
 * the words it wrote.
 *
 * The figure is wall time over all allocations of all threads: with a
 * perfectly scalable allocator, T=2 halves it.
 *
 * One source, selected by a macro:
 *   -DUSE_FINALGC   gc_alloc, threads from gc_pthread_create, joined with
 *                   gc_pthread_join (the waiting main thread is then not
 *                   stopped by collections)
 *   -DUSE_BOEHM     GC_MALLOC (GC_THREADS: thread-local free lists),
 *                   threads from GC_pthread_create
 *   -DUSE_MALLOC    malloc + free, threads from pthread_create
 *                   (linked with -lmimalloc: mimalloc)
 *   The USE_BOEHM code is plain <gc.h>: it is also built against finalgc's
 *   bdwgc-compatible layer (-I compat/include, libfinalgc-bdwgc.a), as the
 *   finalgc-gch variant.
 *
 * Usage: mtalloc T [N]
 * Output: one line, "threads=T ns_per_alloc=... mallocs_per_s_M=... gcs=...
 * maxrss_kb=... allocator=..."; exit status 1 if a ring object was damaged.
 */
#define _GNU_SOURCE
#include <pthread.h>
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
#define GC_SETUP() gc_init()
#define ALLOC(n) gc_alloc(n)
#define DROP(p) ((void)(p))
#define THREAD_CREATE(t, fn, arg) gc_pthread_create((t), NULL, (fn), (arg))
#define THREAD_JOIN(t) gc_pthread_join((t), NULL)
#elif defined(USE_BOEHM)
#define GC_THREADS
#include <gc.h>
/* The <gc.h> library linked: bdwgc, unless the build names another one
 * (finalgc's compat layer: -DBENCH_GC_NAME='"finalgc-gch"'). */
#ifndef BENCH_GC_NAME
#define BENCH_GC_NAME "bdwgc"
#endif
#define VARIANT_NAME BENCH_GC_NAME
#define GC_SETUP() GC_INIT()
#define ALLOC(n) GC_MALLOC(n)
#define DROP(p) ((void)(p))
#define THREAD_CREATE(t, fn, arg) GC_pthread_create((t), NULL, (fn), (arg))
#define THREAD_JOIN(t) GC_pthread_join((t), NULL)
#else
#define GC_SETUP() ((void)0)
#define ALLOC(n) malloc(n)
#define DROP(p) free(p)
#define THREAD_CREATE(t, fn, arg) pthread_create((t), NULL, (fn), (arg))
#define THREAD_JOIN(t) pthread_join((t), NULL)
#endif

#define MIN_SIZE 16
#define MAX_SIZE 64
#define RING 1000
#define MAX_THREADS 64

typedef struct worker {
  pthread_t tid;
  int index;
  long n;
  long damaged; /* ring objects whose word was wrong at the end */
  int oom;
} worker;

/* xorshift64*, one state per thread. */
static inline uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static void *work(void *arg) {
  worker *w = arg;
  /* The ring lives on this thread's stack.  The empty asm makes its address
   * escape, so the compiler must store every pointer into it before the
   * next allocation call (where a collection may scan this stack). */
  uintptr_t *ring[RING];
  memset(ring, 0, sizeof ring);
  __asm__ volatile("" : : "r"(ring) : "memory");

  uint64_t rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(w->index + 1);
  long n = w->n;
  int slot = 0;
  for (long k = 0; k < n; k++) {
    size_t size =
        MIN_SIZE + (size_t)(rng_next(&rng) % (MAX_SIZE - MIN_SIZE + 1));
    uintptr_t *p = ALLOC(size);
    if (p == NULL) {
      w->oom = 1;
      break;
    }
    *p = (uintptr_t)k;
    DROP(ring[slot]); /* free(NULL) is a no-op in the first round */
    ring[slot] = p;
    if (++slot == RING)
      slot = 0;
  }

  /* The last min(n, RING) objects must still hold their words: object k
   * sits in slot k % RING. */
  long damaged = 0;
  if (!w->oom) {
    long first = n > RING ? n - RING : 0;
    for (long k = first; k < n; k++) {
      uintptr_t *p = ring[k % RING];
      if (p == NULL || *p != (uintptr_t)k)
        damaged++;
    }
  }
  w->damaged = damaged;
  for (int i = 0; i < RING; i++)
    DROP(ring[i]);
  __asm__ volatile("" : : "r"(ring) : "memory");
  return NULL;
}

#include "bench.h"

static long parse_long(const char *s, const char *what, long max) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*end != '\0' || v <= 0 || v > max) {
    fprintf(stderr, "mtalloc: bad %s '%s'\n", what, s);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: mtalloc THREADS [N_PER_THREAD]\n");
    return 2;
  }
  int nthreads = (int)parse_long(argv[1], "thread count", MAX_THREADS);
  long n = argc > 2 ? parse_long(argv[2], "count", 1L << 40) : 10000000L;

  GC_SETUP();
  static worker workers[MAX_THREADS];
  uint64_t gc0 = num_collections();
  double t0 = now_ns();
  for (int i = 0; i < nthreads; i++) {
    workers[i].index = i;
    workers[i].n = n;
    int err = THREAD_CREATE(&workers[i].tid, work, &workers[i]);
    if (err != 0) {
      fprintf(stderr, "mtalloc: thread creation failed: %s\n", strerror(err));
      return 2;
    }
  }
  for (int i = 0; i < nthreads; i++)
    THREAD_JOIN(workers[i].tid);
  double t1 = now_ns();
  uint64_t gcs = num_collections() - gc0;

  long damaged = 0;
  for (int i = 0; i < nthreads; i++) {
    if (workers[i].oom) {
      fprintf(stderr, "mtalloc: thread %d ran out of memory\n", i);
      return 2;
    }
    damaged += workers[i].damaged;
  }

  double total = (double)n * nthreads;
  printf("threads=%d ns_per_alloc=%.3f mallocs_per_s_M=%.2f gcs=%llu "
         "maxrss_kb=%ld allocator=%s\n",
         nthreads, (t1 - t0) / total, total / (t1 - t0) * 1e3,
         (unsigned long long)gcs, max_rss_kb(), allocator_name());
  if (damaged != 0) {
    fprintf(stderr, "mtalloc: %ld ring objects damaged\n", damaged);
    return 1;
  }
  return 0;
}
