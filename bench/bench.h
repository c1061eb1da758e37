/*
 * What every benchmark program shares: a monotonic clock, the number of
 * collections so far, peak RSS, the name of the allocator measured, and the
 * machine probes' arguments.
 * Include it after the variant's own headers and VARIANT_NAME (each program
 * is built with exactly one of USE_FINALGC, USE_BOEHM, USE_MALLOC).
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#ifdef USE_MALLOC
#include <dlfcn.h>
#endif

static inline double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline uint64_t num_collections(void) {
#if defined(USE_FINALGC)
  gc_stats st;
  gc_read_stats(&st);
  return st.num_gc;
#elif defined(USE_BOEHM)
  return (uint64_t)GC_get_gc_no();
#else
  return 0;
#endif
}

static inline long max_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* The allocator in use: for the malloc variants, the library that malloc
 * resolves to (glibc, or mimalloc when linked ahead of libc or preloaded). */
static inline const char *allocator_name(void) {
#ifdef USE_MALLOC
  Dl_info info;
  void *(*volatile m)(size_t) = malloc;
  if (dladdr((void *)m, &info) && info.dli_fname != NULL) {
    const char *s = strrchr(info.dli_fname, '/');
    s = s ? s + 1 : info.dli_fname;
    return strstr(s, "mimalloc") ? "mimalloc" : strstr(s, "libc") ? "glibc" : s;
  }
  return "unknown";
#else
  return VARIANT_NAME;
#endif
}

/* The arguments "T [N]" of the machine probes (cpuscale, memscale): returns
 * T, 1..64, and sets *n to N if it is given, which must be positive; exits
 * with status 2 and a message on anything else. */
static inline int probe_args(int argc, char **argv, const char *name, long *n) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s T [N]\n", name);
    exit(2);
  }
  int threads = atoi(argv[1]);
  if (threads < 1 || threads > 64) {
    fprintf(stderr, "%s: T must be 1..64\n", name);
    exit(2);
  }
  if (argc == 3 && (*n = atol(argv[2])) < 1) {
    fprintf(stderr, "%s: N must be positive\n", name);
    exit(2);
  }
  return threads;
}

#endif /* BENCH_H */
