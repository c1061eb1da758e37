/*
 * The collection cycle, the pacer and the statistics (Go's mgc.go and
 * mgcpacer.go).
 *
 * A collection:
 *   1. Sweep termination: finish sweeping the last cycle's spans, so every
 *      mark bit is clear.  (World running.)
 *   2. Stop the world; flush every thread cache, so no span is cached and
 *      every freeindex is final.
 *   3. Mark from the roots until the mark stack is empty.
 *   4. Mark termination: flip the sweep generation (every small span now
 *      needs sweeping), sweep large spans, set the next heap goal.
 *   5. Start the world.  Small spans are swept lazily by allocation, or at
 *      once when the collection was explicit (gc_collect), which then
 *      returns surplus pages to the OS.
 *
 * Pacing (GOGC): a collection starts when heap_live, the bytes allocated
 * since the last mark plus the bytes that mark found, reaches
 *     heap_goal = max(marked * (100 + gogc) / 100, MIN_HEAP_GOAL * gogc/100).
 * The check runs only when a thread takes a new span or allocates a large
 * object, never on the fast path.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "sanitizer.h"

#define MIN_HEAP_GOAL ((size_t)4 << 20) /* Go's heapMinimum */

struct heap *fgc_heap;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool initialized;
static uint64_t start_time;

static size_t goal_for(size_t marked, int gogc) {
  if (gogc < 0)
    return SIZE_MAX;
  size_t growth;
  if (__builtin_mul_overflow(marked / 100, (size_t)gogc, &growth) ||
      growth > SIZE_MAX - marked)
    return SIZE_MAX; /* a goal past the address space: never */
  size_t goal = marked + growth;
  size_t floor = MIN_HEAP_GOAL / 100 * (size_t)(gogc > 0 ? gogc : 1);
  if (floor < fgc_heap->heap_min)
    floor = fgc_heap->heap_min;
  return goal > floor ? goal : floor;
}

/* Whether collections are turned off (GC_disable, GC_dont_gc). */
static bool collections_off(void) {
  const struct heap *h = fgc_heap;
  const int *dont_gc = __atomic_load_n(&h->dont_gc, __ATOMIC_ACQUIRE);
  return dont_gc && __atomic_load_n(dont_gc, __ATOMIC_RELAXED);
}

static void init(void) {
  fgc_options_init();
  fgc_heap = fgc_sysalloc(sizeof(struct heap));
  if (!fgc_heap)
    fgc_fatal("out of memory at start-up");
  struct heap *h = fgc_heap;
  pthread_mutex_init(&h->lock, NULL);
  h->sweepgen = 2;
  h->gogc = fgc_opt.gogc;
  h->heap_goal = goal_for(0, h->gogc);
  if (fgc_pageheap_init() != 0 ||
      fgc_special_init((h->arena_hi - h->arena_lo) / PAGE_SIZE) != 0)
    fgc_fatal("cannot reserve address space for the heap");
  fgc_mark_init();
  fgc_world_init();
  start_time = fgc_prim_nanotime();
  __atomic_store_n(&initialized, true, __ATOMIC_RELEASE);
}

void fgc_ensure_init(void) {
  if (likely(__atomic_load_n(&initialized, __ATOMIC_ACQUIRE)))
    return;
  pthread_once(&init_once, init);
}

void gc_init(void) {
  fgc_ensure_init();
  fgc_thread_self();
}

/* Runs one collection; the caller holds nothing. */
static __attribute__((noinline)) void
collect_now(bool sweep_now, size_t retain_override, bool if_needed) {
  struct heap *h = fgc_heap;
  /* A thread that is not registered would not have its own stack scanned
   * (roots.c), and it cannot be registered once it holds world_lock. */
  if (!fgc_thread_self()) {
    static bool reported;
    if (!__atomic_exchange_n(&reported, true, __ATOMIC_RELAXED))
      fgc_message("out of memory: cannot register a thread that asks for "
                  "a collection; it collects nothing (reported once)");
    return;
  }
  fgc_world_lock();
  if ((if_needed && !fgc_collect_needed()) || collections_off()) {
    fgc_world_unlock();
    return;
  }
  if (h->start_callback)
    h->start_callback();
  fgc_sweep_all();
  fgc_roots_snapshot_segments();
  uint64_t fin_queued, fin_run;
  fgc_finalizer_stats(&fin_queued, &fin_run);
  uint64_t cleanups_queued = fgc_cleanups_queued();
  fgc_mark_prepare();
  uint64_t t0 = fgc_prim_nanotime();
  fgc_world_stop();

  uint64_t t_stopped = fgc_prim_nanotime();
  for (struct gc_thread *t = fgc_threads(); t; t = t->next)
    fgc_cache_flush(t->cache);
  fgc_roots_mark();
  fgc_specials_mark();
  fgc_finq_mark();
  fgc_cleanupq_mark();
  size_t marked = fgc_mark_finish();
  marked += fgc_specials_mark_ordered();
  if (fgc_opt.checkfinalizers)
    fgc_checkfinalizers();
  uint64_t t_marked = fgc_prim_nanotime();
  marked += fgc_specials_process();
  uint64_t t_specials = fgc_prim_nanotime();
  for (struct gc_thread *t = fgc_threads(); t; t = t->next)
    fgc_cache_drop_freed(t->cache);
  fgc_orphans_drop_freed();

  fgc_sweep_begin_cycle();
  fgc_sweep_large();
  fgc_pageheap_reclaim();
  h->heap_marked = marked;
  h->heap_live = marked;
  h->heap_goal = goal_for(marked, h->gogc);
  h->alloc_bytes_at_gc = h->total_alloc_bytes;
  h->num_gc++;
  uint64_t pause = fgc_prim_nanotime() - t0;
  h->last_pause_ns = pause;
  h->pause_total_ns += pause;
  if (pause > h->pause_max_ns)
    h->pause_max_ns = pause;
  fgc_world_start();
  fgc_world_drop_gone();
  fgc_world_unlock();
  if (fgc_opt.checkfinalizers)
    fgc_checkfinalizers_report();

  bool fin_new = fgc_finalizers_after_gc(fin_queued);
  if (fgc_cleanups_after_gc(cleanups_queued) || fin_new)
    fgc_notify_pending();
  if (sweep_now)
    fgc_sweep_all();
  size_t retain = retain_override;
  if (retain == SIZE_MAX)
    retain = h->heap_goal + h->heap_goal / 4 + ((size_t)4 << 20);
  fgc_lock(&h->lock);
  fgc_pageheap_scavenge(retain);
  size_t mapped = (h->arena_used - h->arena_lo) - h->heap_released;
  fgc_unlock(&h->lock);

  if (fgc_opt.gctrace)
    fgc_message("gc %llu @%.3fs: %zu KiB marked, goal %zu KiB, pause %.3f ms "
                "(stop %.3f, mark %.3f, specials %.3f), %zu KiB mapped",
                (unsigned long long)h->num_gc, (double)(t0 - start_time) / 1e9,
                marked >> 10, h->heap_goal == SIZE_MAX ? 0 : h->heap_goal >> 10,
                (double)pause / 1e6, (double)(t_stopped - t0) / 1e6,
                (double)(t_marked - t_stopped) / 1e6,
                (double)(t_specials - t_marked) / 1e6, mapped >> 10);
}

/* Zeroes the dead stack just below the caller, where the collector's own
 * frames are about to go.  The collector scans its own thread's stack
 * conservatively, its own frames included, and a slot those frames never
 * write (padding, a spill slot unused on this path) would otherwise still
 * hold whatever an earlier call left there: bdwgc's GC_clear_stack. */
#define CLEAR_STACK_BYTES 8192

static NO_SANITIZE __attribute__((noinline)) void clear_stack_below(void) {
  volatile char buf[CLEAR_STACK_BYTES];
  memset((char *)buf, 0, sizeof buf);
  __asm__ volatile("" : : "r"(buf) : "memory");
}

static void collect(bool sweep_now, size_t retain_override, bool if_needed) {
  clear_stack_below();
  collect_now(sweep_now, retain_override, if_needed);
}

bool fgc_collect_needed(void) {
  struct heap *h = fgc_heap;
  return __atomic_load_n(&h->heap_live, __ATOMIC_RELAXED) >=
             __atomic_load_n(&h->heap_goal, __ATOMIC_RELAXED) &&
         !collections_off();
}

/* Collects if the pacer says so.  Several threads may find the goal
 * reached at once: the ones that wait for world_lock while another
 * collects find the goal moved and do nothing. */
void fgc_collect_if_needed(void) {
  if (fgc_collect_needed())
    collect(false, SIZE_MAX, true);
}

void fgc_collect_for_oom(void) { collect(true, SIZE_MAX, false); }

/* Frees the span records and bitmaps the page heap retired (pageheap.c)
 * in a stop of the world of its own once there are RETIRED_MAX of them:
 * a program that allocates and frees large objects with gc_free retires
 * records and bitmaps without bringing collections nearer. */
#define RETIRED_MAX 4096

void fgc_reclaim_if_needed(void) {
  if (likely(fgc_pageheap_retired() < RETIRED_MAX) || !fgc_thread_self())
    return;
  fgc_world_lock();
  if (fgc_pageheap_retired() >= RETIRED_MAX) {
    fgc_world_stop();
    fgc_pageheap_reclaim();
    fgc_world_start();
  }
  fgc_world_unlock();
}

void gc_collect(void) {
  fgc_ensure_init();
  collect(true, SIZE_MAX, false);
}

void gc_release_memory(void) {
  fgc_ensure_init();
  collect(true, 0, false);
}

/* Recomputes the goal after a pacing control changed; world_lock held. */
void fgc_pacer_update(void) {
  struct heap *h = fgc_heap;
  h->heap_goal = goal_for(h->heap_marked, h->gogc);
}

int gc_set_percent(int percent) {
  fgc_ensure_init();
  struct heap *h = fgc_heap;
  fgc_world_lock();
  int old = h->gogc;
  h->gogc = percent < 0 ? -1 : percent;
  h->heap_goal = goal_for(h->heap_marked, h->gogc);
  fgc_world_unlock();
  return old;
}

size_t gc_set_max_heap(size_t bytes) {
  fgc_ensure_init();
  struct heap *h = fgc_heap;
  fgc_lock(&h->lock);
  size_t old = h->max_heap;
  h->max_heap = bytes;
  fgc_unlock(&h->lock);
  return old;
}

void gc_read_stats(gc_stats *out) {
  fgc_ensure_init();
  struct heap *h = fgc_heap;
  struct gc_thread *self = fgc_thread_self();
  memset(out, 0, sizeof *out);
  fgc_world_lock();
  fgc_lock(&h->lock);
  out->heap_mapped = (h->arena_used - h->arena_lo) - h->heap_released;
  out->heap_released = h->heap_released;
  out->heap_inuse = h->heap_inuse;
  fgc_unlock(&h->lock);
  out->heap_live = h->heap_marked;
  out->heap_goal = h->heap_goal;
  out->metadata = fgc_metadata_bytes();
  out->total_alloc_bytes =
      __atomic_load_n(&h->total_alloc_bytes, __ATOMIC_RELAXED);
  out->total_alloc_objects =
      __atomic_load_n(&h->total_alloc_objects, __ATOMIC_RELAXED);
  if (self)
    fgc_cache_count(self->cache, &out->total_alloc_objects,
                    &out->total_alloc_bytes);
  out->num_gc = h->num_gc;
  out->pause_total_ns = h->pause_total_ns;
  out->pause_max_ns = h->pause_max_ns;
  out->last_pause_ns = h->last_pause_ns;
  fgc_finalizer_stats(&out->finalizers_queued, &out->finalizers_run);
  fgc_cleanup_stats(&out->cleanups_queued, &out->cleanups_run);
  fgc_world_unlock();
}
