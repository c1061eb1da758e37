/*
 * Threads and the world: the registry of threads whose stacks are roots,
 * and the one entry point that stops them all for a collection.
 *
 * Invariants:
 *   - Every thread that allocates is registered: the first call into
 *     finalgc from a thread registers it, and a pthread key destructor
 *     unregisters it when it exits, so a dead thread's stack is never
 *     scanned.
 *   - world_lock serialises collections and changes to the thread list.
 *     A collection holds it from before the world stops until after it
 *     starts again.
 *   - While the world is stopped, only the collecting thread runs finalgc
 *     code, and every other registered thread is parked outside it.
 */
#include <string.h>

#include "internal.h"

static fgc_mutex world_mutex = FGC_MUTEX_INIT;
static struct gc_thread *threads;
static struct fixalloc thread_records;
static pthread_key_t thread_key;

__thread struct gc_thread *fgc_self __attribute__((tls_model("initial-exec")));

static void thread_exit(void *arg);

void fgc_world_init(void) {
  fgc_fixalloc_init(&thread_records, sizeof(struct gc_thread));
  if (pthread_key_create(&thread_key, thread_exit) != 0)
    fgc_fatal("pthread_key_create failed");
}

void fgc_world_lock(void) { fgc_lock(&world_mutex); }
void fgc_world_unlock(void) { fgc_unlock(&world_mutex); }

struct gc_thread *fgc_threads(void) {
  return threads;
}

/* Registers the calling thread; NULL if memory is exhausted. */
static struct gc_thread *register_self(void) {
  struct gc_thread *t = fgc_fixalloc_alloc(&thread_records);
  if (!t)
    return NULL;
  memset(t, 0, sizeof *t);
  t->id = pthread_self();
  if (fgc_prim_stack_bounds(&t->stack_lo, &t->stack_hi) != 0)
    fgc_fatal("cannot find the stack of the calling thread");
  t->cache = fgc_cache_new();
  if (!t->cache) {
    fgc_fixalloc_free(&thread_records, t);
    return NULL;
  }
  fgc_world_lock();
  t->next = threads;
  threads = t;
  fgc_world_unlock();
  fgc_self = t;
  pthread_setspecific(thread_key, t);
  return t;
}

struct gc_thread *fgc_thread_self(void) {
  if (likely(fgc_self != NULL))
    return fgc_self;
  return register_self();
}

static void thread_exit(void *arg) {
  struct gc_thread *t = arg;
  fgc_world_lock();
  struct gc_thread **pp = &threads;
  while (*pp != t)
    pp = &(*pp)->next;
  *pp = t->next;
  fgc_cache_release(t->cache);
  fgc_world_unlock();
  fgc_self = NULL;
  fgc_fixalloc_free(&thread_records, t);
}

/* Stops every registered thread but the caller.  Until threads get their
 * own issue, finalgc supports one mutator thread, so there is nothing to
 * stop; the entry point exists so that the collector has one place to call. */
void fgc_world_stop(void) {}

void fgc_world_start(void) {}
