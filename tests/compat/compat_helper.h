/*
 * Shared helpers for the bdwgc compatibility tests.
 *
 * The tests use only bdwgc's public API (<gc.h>, <gc_typed.h>), so the same
 * sources build against Debian's libgc-dev and against finalgc's compat
 * layer, and must pass on both.  Include this header after <gc.h>.
 *
 *   CHECK(expr)            records a failure (file:line, test, expression)
 *                          and goes on;
 *   CHECKF(expr, fmt, ...) the same, with a printf-style detail line;
 *   REQUIRE(expr)          fails and stops the test program at once;
 *   TEST(name) { ... }     defines a test; RUN(name) runs it;
 *   compat_init()          first thing in main (after GC_INIT()): arms a
 *                          watchdog so that a hang fails instead of
 *                          blocking the suite;
 *   return test_summary(); at the end of main.
 *
 * Conservative collection: a stale copy of a pointer in a dead stack slot or
 * a register can keep an object alive, so
 *   - objects meant to die are allocated in NOINLINE helpers, whose frames
 *     are gone by the time the test collects;
 *   - scrub_stack() overwrites 64 KiB of the stack below the caller before
 *     each collection, so that the collector's own frames do not inherit
 *     stale pointers;
 *   - "was collected / was finalized / was cleared" checks are statistical
 *     (at least 90% of N objects) or retried over several collections with
 *     COLLECT_UNTIL, while "was kept / did not run" checks are absolute.
 *
 * Weak probes (probe_add / probe_alive) tell whether an object is still
 * alive without keeping it alive: each probe is a slot holding the hidden
 * (GC_HIDE_POINTER) address of the object, registered as a disappearing
 * link, which the collector clears when the object becomes unreachable.
 */
#ifndef COMPAT_HELPER_H
#define COMPAT_HELPER_H

#ifndef GC_H
#error "include <gc.h> before compat_helper.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

/* Seconds a test program may run before the watchdog kills it. */
#ifndef COMPAT_WATCHDOG_SECONDS
#define COMPAT_WATCHDOG_SECONDS 60
#endif

/* Counted atomically: threads check too. */
static int test_failures;
static int test_checks;

/* ThreadSanitizer cannot run a child that starts threads after a
 * multi-threaded fork; tests that need one skip themselves under it. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif
static const char *test_current = "";

#define CHECK(expr)                                                            \
  do {                                                                         \
    __atomic_add_fetch(&test_checks, 1, __ATOMIC_RELAXED);                     \
    if (!(expr)) {                                                             \
      __atomic_add_fetch(&test_failures, 1, __ATOMIC_RELAXED);                 \
      fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", __FILE__, __LINE__,     \
              test_current, #expr);                                            \
    }                                                                          \
  } while (0)

#define CHECKF(expr, ...)                                                      \
  do {                                                                         \
    __atomic_add_fetch(&test_checks, 1, __ATOMIC_RELAXED);                     \
    if (!(expr)) {                                                             \
      __atomic_add_fetch(&test_failures, 1, __ATOMIC_RELAXED);                 \
      fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n    ", __FILE__, __LINE__, \
              test_current, #expr);                                            \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
    }                                                                          \
  } while (0)

#define REQUIRE(expr)                                                          \
  do {                                                                         \
    __atomic_add_fetch(&test_checks, 1, __ATOMIC_RELAXED);                     \
    if (!(expr)) {                                                             \
      fprintf(stderr, "%s:%d: %s: REQUIRE failed: %s\n", __FILE__, __LINE__,   \
              test_current, #expr);                                            \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

/* At least pct percent of n. */
#define AT_LEAST_PCT(count, n, pct) ((long)(count)*100 >= (long)(n) * (pct))

/* Not instrumented, so that ASan adds no redzones the memset would skip. */
static NOINLINE __attribute__((no_sanitize("address"))) void scrub_stack(void) {
  volatile char buf[64 * 1024];
  memset((char *)buf, 0, sizeof buf);
  __asm__ volatile("" : : "r"(buf) : "memory");
}

/* One full collection, then whatever finalizers became ready. */
static inline void collect_once(void) {
  scrub_stack();
  GC_gcollect();
  GC_invoke_finalizers();
}

static inline void collect_rounds(int rounds) {
  for (int i = 0; i < rounds; i++)
    collect_once();
}

/* Collects (GC_gcollect + GC_invoke_finalizers) until cond holds, at most
 * `rounds` times; evaluates to whether it held. */
#define COLLECT_UNTIL(cond, rounds)                                            \
  ({                                                                           \
    int ok_ = 0;                                                               \
    for (int r_ = 0; r_ < (rounds) && !(ok_ = !!(cond)); r_++)                 \
      collect_once();                                                          \
    ok_ || (cond);                                                             \
  })

static inline double compat_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#define TEST(name) static void test_##name(void)
#define RUN(name)                                                              \
  do {                                                                         \
    test_current = #name;                                                      \
    int before_ = test_failures;                                               \
    double start_ = compat_now_ms();                                           \
    scrub_stack();                                                             \
    test_##name();                                                             \
    scrub_stack();                                                             \
    fprintf(stderr, "%s %-56s %7.1f ms\n",                                     \
            test_failures == before_ ? "ok  " : "FAIL", #name,                 \
            compat_now_ms() - start_);                                         \
  } while (0)

static inline void compat_init(void) {
  setvbuf(stderr, NULL, _IONBF, 0);
  alarm(COMPAT_WATCHDOG_SECONDS);
}

static inline int test_summary(void) {
  fprintf(stderr, "%d checks, %d failed\n", test_checks, test_failures);
  return test_failures ? 1 : 0;
}

/* --- weak probes --- */

#define PROBES_MAX 8192
static GC_word probe_slot[PROBES_MAX];
static int probe_next;

/* Starts a fresh set of probes (the old ones must be dead or unregistered). */
static inline void probes_reset(void) {
  for (int i = 0; i < probe_next; i++)
    if (probe_slot[i] != 0)
      GC_unregister_disappearing_link((void **)&probe_slot[i]);
  memset(probe_slot, 0, sizeof probe_slot);
  probe_next = 0;
}

/* Returns the probe's index; obj must be the base of a GC object. */
static inline int probe_add(void *obj) {
  REQUIRE(probe_next < PROBES_MAX);
  int i = probe_next++;
  probe_slot[i] = GC_HIDE_POINTER(obj);
  REQUIRE(GC_general_register_disappearing_link((void **)&probe_slot[i], obj) ==
          GC_SUCCESS);
  return i;
}

static inline int probe_alive(int i) { return probe_slot[i] != 0; }

/* The object behind a live probe (read only while it is known alive). */
static inline void *probe_get(int i) {
  return probe_slot[i] ? GC_REVEAL_POINTER(probe_slot[i]) : NULL;
}

/* How many of the probes [from, to) are still alive. */
static inline int probes_alive(int from, int to) {
  int n = 0;
  for (int i = from; i < to; i++)
    n += probe_alive(i);
  return n;
}

#endif
