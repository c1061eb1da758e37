/*
 * Roots: where marking starts.  C has no stack maps and no type
 * information for globals, so every root is scanned conservatively:
 *   - the stack and saved registers of every registered thread (a stopped
 *     thread's registers are in its signal frame, on its stack, above the
 *     stack pointer it recorded; see world.c), and the signal stack of a
 *     thread that runs a handler on one (sigaltstack);
 *   - the writable segments (data and bss) of the program and of every
 *     loaded shared library, found with dl_iterate_phdr;
 *   - the ranges added with gc_add_roots.
 *
 * Invariants:
 *   - No static variable of finalgc ever holds a pointer into the heap, so
 *     scanning finalgc's own data segment cannot retain anything.  (The
 *     collector's state lives in memory from fgc_sysalloc.)
 *   - The segment list is taken before the world stops: dl_iterate_phdr
 *     takes the dynamic loader's lock, which a stopped thread may hold.
 */
#include <string.h>

#include "internal.h"
#include "sanitizer.h"

static fgc_mutex roots_lock = FGC_MUTEX_INIT;
static struct root_range *added; /* gc_add_roots ranges */
static size_t added_len, added_cap;
static struct root_range *segments; /* data segments, rebuilt per cycle */
static size_t segments_len, segments_cap;

/* Appends to a growable array of ranges kept in fgc_sysalloc memory. */
static int range_append(struct root_range **a, size_t *len, size_t *cap,
                        uintptr_t lo, uintptr_t hi) {
  if (*len == *cap) {
    size_t ncap = *cap ? *cap * 2 : 256;
    struct root_range *n = fgc_sysalloc(ncap * sizeof *n);
    if (!n)
      return GC_ERR_NOMEM;
    if (*a) {
      memcpy(n, *a, *len * sizeof *n);
      fgc_sysfree(*a, *cap * sizeof *n);
    }
    *a = n;
    *cap = ncap;
  }
  (*a)[(*len)++] = (struct root_range){lo, hi};
  return GC_OK;
}

static void add_segment(uintptr_t lo, uintptr_t hi, void *arg) {
  (void)arg;
  if (range_append(&segments, &segments_len, &segments_cap, lo, hi) != GC_OK)
    fgc_fatal("out of memory listing data segments");
}

void fgc_roots_snapshot_segments(void) {
  segments_len = 0;
  fgc_prim_data_segments(add_segment, NULL);
}

int gc_add_roots(void *lo, void *hi) {
  if ((uintptr_t)lo > (uintptr_t)hi)
    return GC_ERR_INVALID;
  fgc_ensure_init();
  fgc_lock(&roots_lock);
  int err = range_append(&added, &added_len, &added_cap, (uintptr_t)lo,
                         (uintptr_t)hi);
  fgc_unlock(&roots_lock);
  return err;
}

int gc_remove_roots(void *lo, void *hi) {
  int err = GC_ERR_NOT_FOUND;
  fgc_lock(&roots_lock);
  for (size_t i = 0; i < added_len; i++) {
    if (added[i].lo == (uintptr_t)lo && added[i].hi == (uintptr_t)hi) {
      added[i] = added[--added_len];
      err = GC_OK;
      break;
    }
  }
  fgc_unlock(&roots_lock);
  return err;
}

/* Removes every added range that lies within [lo, hi) (bdwgc's
 * GC_remove_roots). */
void fgc_remove_roots_within(uintptr_t lo, uintptr_t hi) {
  fgc_lock(&roots_lock);
  for (size_t i = 0; i < added_len;) {
    if (added[i].lo >= lo && added[i].hi <= hi)
      added[i] = added[--added_len];
    else
      i++;
  }
  fgc_unlock(&roots_lock);
}

/* Marks thread t's stack from `at` up: the words from at->sp to the base
 * of the stack at->sp is on and, if that is the thread's signal stack,
 * its own stack too, from where the handler interrupted it.  A thread on
 * any other stack (one made with makecontext, say) cannot be scanned, and
 * going on would free what only that stack references, or read unmapped
 * memory: that is fatal, with the reason. */
static void mark_stack(const struct gc_thread *t, const struct stack_start *at,
                       void (*mark)(uintptr_t lo, uintptr_t hi)) {
  uintptr_t sp = at->sp;
  if (at->sigstack_hi) {
    mark(sp, at->sigstack_hi);
    sp = fgc_prim_interrupted_sp(sp, at->sigstack_lo, at->sigstack_hi,
                                 t->stack_lo, t->stack_hi);
    if (!sp)
      fgc_fatal("a thread runs on its signal stack [%#lx, %#lx), but the "
                "frame of the signal that switched to it is not there",
                (unsigned long)at->sigstack_lo, (unsigned long)at->sigstack_hi);
  } else if (sp < t->stack_lo || sp > t->stack_hi) {
    fgc_fatal("a registered thread runs on a stack finalgc cannot scan (sp "
              "%#lx, its own stack is [%#lx, %#lx)): a stack made with "
              "makecontext or by hand, or a signal stack set with "
              "SS_AUTODISARM, which are not supported",
              (unsigned long)sp, (unsigned long)t->stack_lo,
              (unsigned long)t->stack_hi);
  }
  mark(sp, t->stack_hi);
}

/* Scans the calling thread's registers and stack.  __builtin_unwind_init
 * makes this frame save every callee-saved register in its prologue, above
 * its locals (the caller-saved ones are dead across the call), so one scan
 * from a local here to the stack base sees every register and every frame
 * of the thread.  The frame holds nothing else: an uninitialised buffer
 * here would hand the scan stale pointers from earlier calls. */
static __attribute__((noinline)) void mark_own_stack(struct gc_thread *t) {
  __builtin_unwind_init();
  volatile uintptr_t anchor = 0;
  struct stack_start at = fgc_stack_start((uintptr_t)&anchor);
  mark_stack(t, &at, fgc_mark_range);
}

void fgc_roots_mark(void) {
  for (size_t i = 0; i < segments_len; i++)
    fgc_mark_root(segments[i].lo, segments[i].hi);
  fgc_lock(&roots_lock);
  for (size_t i = 0; i < added_len; i++)
    fgc_mark_root(added[i].lo, added[i].hi);
  fgc_unlock(&roots_lock);
  struct gc_thread *self = fgc_self; /* registered by collect_now */
  for (struct gc_thread *t = fgc_threads(); t; t = t->next) {
    if (t == self)
      mark_own_stack(t);
    else if (!t->gone)
      mark_stack(t, fgc_thread_scan_start(t), fgc_mark_root);
  }
  fgc_thread_results_mark();
}

void fgc_roots_lock_all(void) { fgc_lock(&roots_lock); }
void fgc_roots_unlock_all(void) { fgc_unlock(&roots_lock); }
