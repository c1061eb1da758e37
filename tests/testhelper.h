/*
 * A minimal test harness (after mimalloc's test/testhelper.h).
 *
 *   CHECK(expr)        records a failure, with the expression and line, and
 *                      goes on;
 *   REQUIRE(expr)      fails and stops the test program at once;
 *   TEST(name) { ... } defines a test; RUN(name) runs it;
 *   return test_summary(); at the end of main.
 *
 * Helpers for a conservative collector: scrub_stack() overwrites the dead
 * part of the stack below the caller, so that stale pointers left by earlier
 * calls do not keep objects alive; allocations meant to die are made in
 * NOINLINE helpers so their pointers never sit in the test's own frame.
 *
 * Even so, a stale copy of an address (a register, a slot of another
 * thread's stack) can keep any one object alive.  So a test that an object
 * "was kept" is absolute, but one that an object was collected (finalized,
 * cleaned up, its weak pointer cleared, its memory reused) is either
 * statistical over many objects (>= 90%), or tries up to ATTEMPTS times
 * with fresh objects and passes if one attempt gets there; the absolute
 * properties (order, ran once, never ran while reachable, contents,
 * arguments) are checked on every attempt.  Each attempt's finalizers and
 * cleanups record into state of their own (indexed through their arg), so
 * that a stray object of an earlier attempt that dies late counts for
 * itself only.  hide() and reveal() keep an address where the collector
 * cannot see it, to ask gc_base whether the object is still allocated.
 */
#ifndef TESTHELPER_H
#define TESTHELPER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finalgc.h"

static int test_failures;
static int test_checks;
static const char *test_current = "";

#define NOINLINE __attribute__((noinline))

/* Fresh objects a "was collected" test tries before it fails. */
enum { ATTEMPTS = 5 };

static inline uintptr_t hide(const void *p) {
  return ~(uintptr_t)p ^ (uintptr_t)0x3c3c3c3c3c3c3c3cULL;
}
static inline void *reveal(uintptr_t h) {
  return (void *)~(h ^ (uintptr_t)0x3c3c3c3c3c3c3c3cULL);
}

#define CHECK(expr)                                                            \
  do {                                                                         \
    test_checks++;                                                             \
    if (!(expr)) {                                                             \
      test_failures++;                                                         \
      fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", __FILE__, __LINE__,     \
              test_current, #expr);                                            \
    }                                                                          \
  } while (0)

#define REQUIRE(expr)                                                          \
  do {                                                                         \
    test_checks++;                                                             \
    if (!(expr)) {                                                             \
      fprintf(stderr, "%s:%d: %s: REQUIRE failed: %s\n", __FILE__, __LINE__,   \
              test_current, #expr);                                            \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

#define TEST(name) static void test_##name(void)
#define RUN(name)                                                              \
  do {                                                                         \
    test_current = #name;                                                      \
    int before_ = test_failures;                                               \
    test_##name();                                                             \
    scrub_stack();                                                             \
    fprintf(stderr, "%s %s\n", test_failures == before_ ? "ok  " : "FAIL",     \
            #name);                                                            \
  } while (0)

/* Not instrumented, so that ASan adds no redzones the memset would skip. */
static NOINLINE __attribute__((no_sanitize("address"))) void scrub_stack(void) {
  volatile char buf[64 * 1024];
  memset((char *)buf, 0, sizeof buf);
  __asm__ volatile("" : : "r"(buf) : "memory");
}

/* Collects, then waits for the finalizers and cleanups it queued. */
static inline void collect_and_wait(int times) {
  for (int i = 0; i < times; i++) {
    scrub_stack();
    gc_collect();
    gc_wait_finalizers();
    gc_wait_cleanups();
  }
}

/* Collects and waits until cond holds, at most `rounds` times; evaluates to
 * whether it held. */
#define COLLECT_UNTIL(cond, rounds)                                            \
  ({                                                                           \
    int ok_ = 0;                                                               \
    for (int r_ = 0; r_ < (rounds) && !(ok_ = (cond)); r_++)                   \
      collect_and_wait(1);                                                     \
    ok_ || (cond);                                                             \
  })

static inline int test_summary(void) {
  fprintf(stderr, "%d checks, %d failed\n", test_checks, test_failures);
  return test_failures ? 1 : 0;
}

#endif
