/*
 * What every benchmark program shares: a monotonic clock, the number of
 * collections so far, peak RSS, and the name of the allocator measured.
 * Include it after the variant's own headers and VARIANT_NAME (each program
 * is built with exactly one of USE_FINALGC, USE_BOEHM, USE_MALLOC).
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
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

#endif /* BENCH_H */
