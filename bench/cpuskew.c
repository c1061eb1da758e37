/*
 * cpuskew: whether the machine's CPUs run the same code at the same speed
 * right now, to read the 2-thread and 2-marker figures against.
 *
 * One thread, pinned to CPU C, runs a fixed loop of learnable branches (a
 * 256-step pattern, drawn at random once, that the branch predictor learns
 * within a few passes) and independent integer additions, touching no
 * memory beyond that pattern: the kind of code a mark loop and an
 * allocator are, without their memory traffic.  On a CPU of its own it
 * runs at the core's full speed; on a virtual CPU whose physical core's
 * other hyperthread is busy with another guest, it runs slower, because
 * the two threads share the branch predictor and the execution units.
 *
 * On this project's 2-vCPU virtual machine one vCPU runs it, for minutes
 * at a time, at up to half the other's speed, while cpuscale (a dependent
 * arithmetic chain, which leaves most of a core idle) still reports a
 * 2-thread speedup of 1.9 or more.  A benchmark that gives each of two
 * threads the same work then finishes when the slow vCPU does, and its
 * speedup over one thread depends on which vCPU the one thread ran on.
 *
 * Usage: cpuskew C [N]   (N iterations, default 100,000,000)
 * Output: one line, "cpu=C ns_per_iter=... maxrss_kb=... allocator=cpu";
 * exit status 2 if the thread cannot be pinned to CPU C.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define VARIANT_NAME "cpu"
#include "bench.h"

#define PATTERN 256

static long iterations = 100000000;
static volatile uint64_t result; /* keeps the loop's result alive */

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: cpuskew C [N]\n");
    return 2;
  }
  int cpu = atoi(argv[1]);
  if (argc == 3 && (iterations = atol(argv[2])) < PATTERN) {
    fprintf(stderr, "cpuskew: N must be at least %d\n", PATTERN);
    return 2;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpu < 0 || cpu >= CPU_SETSIZE) {
    fprintf(stderr, "cpuskew: no CPU %d\n", cpu);
    return 2;
  }
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    fprintf(stderr, "cpuskew: cannot run on CPU %d\n", cpu);
    return 2;
  }

  unsigned char pattern[PATTERN];
  uint64_t seed = 88172645463325252u;
  for (int i = 0; i < PATTERN; i++) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    pattern[i] = (unsigned char)(seed & 1);
  }

  uint64_t a = 1, b = 2, c = 3, d = 4;
  double t0 = now_ns();
  for (long n = 0; n < iterations / PATTERN; n++) {
    for (int i = 0; i < PATTERN; i++) {
      /* The empty asm keeps the branch a branch: the compiler would turn
       * the two updates into conditional moves. */
      if (pattern[i])
        a += (uint64_t)i;
      else
        b ^= (uint64_t)i;
      __asm__ volatile("" : "+r"(a), "+r"(b));
      c += a;
      d ^= b;
    }
  }
  double ns = now_ns() - t0;
  result = a ^ b ^ c ^ d;
  printf("cpu=%d ns_per_iter=%.4f maxrss_kb=%ld allocator=%s\n", cpu,
         ns / (double)(iterations / PATTERN * PATTERN), max_rss_kb(),
         allocator_name());
  return 0;
}
