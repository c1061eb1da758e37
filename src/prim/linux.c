/*
 * The operating-system layer for Linux (x86-64 first; nothing here is
 * architecture-specific).  Everything the collector needs from the kernel
 * and the C library goes through these functions, so that the algorithm
 * files hold no platform conditionals.
 *
 * Contract (shared with src/internal.h): addresses and sizes passed in are
 * page-aligned, result pointers are non-NULL, int results are 0 on success.
 *
 * The arena is reserved PROT_NONE with MAP_NORESERVE, so that reserving tens
 * of GiB costs neither memory nor commit charge; pages become usable when
 * committed (mprotect) and go back to the kernel with MADV_DONTNEED, after
 * which they read as zero.  The reservation is aligned to HUGE_PAGE_SIZE, so
 * that the kernel can back an aligned, wholly committed 2 MiB of it with one
 * transparent huge page once the collector asks (fgc_prim_advise_huge).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../internal.h"

/* Maps size bytes at a HUGE_PAGE_SIZE-aligned address: a little more, then
 * the ends are trimmed. */
static void *map_aligned(size_t size, int prot, int flags) {
  char *p = mmap(NULL, size + HUGE_PAGE_SIZE, prot,
                 MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
  if (p == MAP_FAILED)
    return NULL;
  char *q = (char *)(((uintptr_t)p + HUGE_PAGE_SIZE - 1) &
                     ~(uintptr_t)(HUGE_PAGE_SIZE - 1));
  if (q > p)
    munmap(p, (size_t)(q - p));
  munmap(q + size, (size_t)(p + HUGE_PAGE_SIZE - q));
  return q;
}

void *fgc_prim_reserve(size_t size) {
  return map_aligned(size, PROT_NONE, MAP_NORESERVE);
}

void *fgc_prim_map_huge(size_t size) {
  void *p = map_aligned(size, PROT_READ | PROT_WRITE, 0);
  if (p)
    fgc_prim_advise_huge(p, size);
  return p;
}

void fgc_prim_advise_huge(void *p, size_t size) {
  /* A kernel without transparent huge pages says EINVAL: small pages then,
   * which is only slower. */
  (void)madvise(p, size, MADV_HUGEPAGE);
}

int fgc_prim_commit(void *p, size_t size) {
  return mprotect(p, size, PROT_READ | PROT_WRITE) == 0 ? 0 : errno;
}

void fgc_prim_release(void *p, size_t size) {
  /* Only fails for bad arguments, which would be our bug. */
  if (madvise(p, size, MADV_DONTNEED) != 0)
    fgc_fatal("madvise(%p, %zu) failed: errno %d", p, size, errno);
}

void *fgc_prim_map(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void fgc_prim_unmap(void *p, size_t size) { munmap(p, size); }

int fgc_prim_stack_bounds(uintptr_t *lo, uintptr_t *hi) {
  pthread_attr_t attr;
  void *addr;
  size_t size;
  if (pthread_getattr_np(pthread_self(), &attr) != 0)
    return -1;
  int err = pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  if (err != 0)
    return err;
  *lo = (uintptr_t)addr;
  *hi = (uintptr_t)addr + size;
  return 0;
}

uint64_t fgc_prim_nanotime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct segment_walk {
  fgc_segment_fn fn;
  void *arg;
};

static int segment_callback(struct dl_phdr_info *info, size_t size,
                            void *data) {
  (void)size;
  struct segment_walk *w = data;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
      continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    w->fn(lo, lo + ph->p_memsz, w->arg);
  }
  return 0;
}

/* Calls fn for every writable loaded segment (data and bss) of the program
 * and of every shared library: the places a C program keeps its globals.
 * Go's runtime walks its moduledata list for the same purpose. */
void fgc_prim_data_segments(fgc_segment_fn fn, void *arg) {
  struct segment_walk w = {fn, arg};
  dl_iterate_phdr(segment_callback, &w);
}

/* Waits while *addr == val (or until a wake-up; callers re-check).
 * Async-signal-safe: a bare system call. */
void fgc_prim_futex_wait(uint32_t *addr, uint32_t val) {
  syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

void fgc_prim_futex_wake(uint32_t *addr) {
  syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Installs the suspend handler: SA_RESTART so that interrupted system
 * calls restart where Linux allows it; the signal stays blocked while the
 * handler runs, so a second stop cannot nest. */
int fgc_prim_install_suspend_handler(int sig, void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  return sigaction(sig, &sa, NULL) == 0 ? 0 : errno;
}
