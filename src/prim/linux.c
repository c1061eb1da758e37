/*
 * The operating-system layer for Linux (x86-64 first; only reading the
 * stack pointer out of a signal frame is architecture-specific).  Everything
 * the collector needs from the kernel and the C library goes through these
 * functions, so that the algorithm files hold no platform conditionals.
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
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <time.h>
#include <unistd.h>

#include "../internal.h"
#include "../sanitizer.h"

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

/* If the calling thread runs on its signal stack (sigaltstack), and sp is
 * on it, stores that stack's bounds and returns 0.  A bare system call,
 * so async-signal-safe.  A signal stack set with SS_AUTODISARM reads as
 * disabled while a handler runs on it, so it is not found. */
int fgc_prim_signal_stack(uintptr_t sp, uintptr_t *lo, uintptr_t *hi) {
  stack_t ss;
  if (sigaltstack(NULL, &ss) != 0 || !(ss.ss_flags & SS_ONSTACK))
    return -1;
  uintptr_t base = (uintptr_t)ss.ss_sp;
  if (sp < base || sp - base >= ss.ss_size)
    return -1;
  *lo = base;
  *hi = base + ss.ss_size;
  return 0;
}

#if defined(__x86_64__)
#define FRAME_SP(uc) ((uintptr_t)(uc)->uc_mcontext.gregs[REG_RSP])
#define RED_ZONE 128 /* the System V ABI's: live data below the SP */
#elif defined(__aarch64__)
#define FRAME_SP(uc) ((uintptr_t)(uc)->uc_mcontext.sp)
#define RED_ZONE 0
#else
#error "fgc_prim_interrupted_sp: no signal frame layout for this architecture"
#endif

/* Finds where a handler running on the signal stack [sig_lo, sig_hi)
 * interrupted the thread's own stack [lo, hi): when the kernel switches a
 * thread to its signal stack, the frame it writes there holds a ucontext
 * whose uc_stack describes the signal stack, flagged as not in use at the
 * interruption, and whose registers hold the interrupted stack pointer.
 * Returns the lowest such pointer in the words of [from, sig_hi), less the
 * ABI's red zone (clamped to lo), or 0 if there is none.  Taking the
 * lowest makes a stale frame of an earlier handler harmless: its pointer
 * was once a stack pointer of this stack, so it only widens the scan. */
NO_SANITIZE uintptr_t fgc_prim_interrupted_sp(uintptr_t from, uintptr_t sig_lo,
                                              uintptr_t sig_hi, uintptr_t lo,
                                              uintptr_t hi) {
  uintptr_t found = 0;
  from = (from + WORD_SIZE - 1) & ~(uintptr_t)(WORD_SIZE - 1);
  for (uintptr_t p = from;
       p + offsetof(ucontext_t, uc_mcontext) + sizeof(mcontext_t) <= sig_hi;
       p += WORD_SIZE) {
    const ucontext_t *uc = (const ucontext_t *)p;
    if ((uintptr_t)uc->uc_stack.ss_sp != sig_lo ||
        uc->uc_stack.ss_size != sig_hi - sig_lo ||
        (uc->uc_stack.ss_flags & (SS_ONSTACK | SS_DISABLE)) != 0)
      continue;
    uintptr_t sp = FRAME_SP(uc);
    if (sp >= lo && sp <= hi && (!found || sp < found))
      found = sp;
  }
  if (!found)
    return 0;
  return found - lo > RED_ZONE ? found - RED_ZONE : lo;
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

/* The same, for at most ns nanoseconds; true if that time ran out. */
bool fgc_prim_futex_wait_ns(uint32_t *addr, uint32_t val, uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  return syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0) != 0 &&
         errno == ETIMEDOUT;
}

/* The calling thread's kernel id. */
int fgc_prim_gettid(void) { return (int)syscall(SYS_gettid); }

/* Whether the thread with kernel id tid, of this process, has exited. */
bool fgc_prim_thread_gone(int tid) {
  return syscall(SYS_tgkill, getpid(), tid, 0) != 0 && errno == ESRCH;
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
