/*
 * finalgc: a garbage collector for C with Go's memory management and
 * finalizer system.
 *
 * Every object comes from a heap of finalgc's own: small objects from spans
 * of size-classed slots, large ones from spans of their own.  A collection
 * stops the program, marks everything reachable from the roots (thread stacks
 * and registers, the data and bss of the program and of every loaded
 * library, and added root ranges), and frees what it did not reach.  Roots
 * are scanned conservatively: any aligned word that points into an allocated
 * object, interior pointers included, keeps that object alive.  A pointer
 * one past the end of an object does not keep the next object alive.
 *
 * Options (environment variables and setters) are documented in
 * docs/options.md; error codes below, with gc_strerror's text for each.
 */
#ifndef FINALGC_H
#define FINALGC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* GC_API is shared with the bdwgc-compatible <gc.h>, which defines it the
 * same way. */
#ifndef GC_API
#define GC_API __attribute__((visibility("default")))
#endif
#define GC_MALLOC_ATTR __attribute__((malloc))

/* Error codes.  Every int-returning call returns 0 or one of these. */
enum {
  GC_OK = 0,
  GC_ERR_NOT_IN_HEAP = 1,   /* "pointer not in allocated block" */
  GC_ERR_NOT_AT_BASE = 2,   /* "pointer not at beginning of allocated block" */
  GC_ERR_FREED = 3,         /* "object already freed" */
  GC_ERR_INVALID = 4,       /* "invalid argument" */
  GC_ERR_NOMEM = 5,         /* "out of memory" */
  GC_ERR_NOT_FOUND = 6,     /* "not found" */
  GC_ERR_FINALIZER_SET = 7, /* "finalizer already set" */
  GC_ERR_PTR_IS_ARG = 8,    /* "ptr is equal to arg, cleanup will never run" */
  GC_ERR_PTR_IN_ARG = 9,    /* "ptr is within arg, cleanup will never run" */
};

/* The error of the last call on this thread that failed without returning
 * an error code (gc_add_cleanup, gc_weak_make), or GC_OK if none has. */
GC_API int gc_last_error(void);

/* Returns a static, human-readable description of an error code. */
GC_API const char *gc_strerror(int err);

/* Initializes the collector and registers the calling thread.  Optional:
 * the first call of any other function does it too.  Call it from main()
 * before creating threads if you can. */
GC_API void gc_init(void);

/* Allocates size bytes, zeroed.  The object is scanned conservatively for
 * pointers and freed once nothing points to it.  Returns NULL with
 * errno = ENOMEM when memory is exhausted, after a last full collection.
 * Every object is aligned for any C type of its size: to 16 bytes when the
 * size is a multiple of 16, and to 8 bytes otherwise (to the largest power
 * of two dividing the size, for packed tiny objects under 8 bytes). gc_alloc(0)
 * returns one shared non-NULL address that must not be written. */
GC_API GC_MALLOC_ATTR void *gc_alloc(size_t size);

/* Like gc_alloc, but the object is never scanned for pointers: use it for
 * strings, numbers and buffers.  Requests under 16 bytes are packed, several
 * to a 16-byte block (Go's tiny allocator): such a block is freed only when
 * all its objects are unreachable, and gc_base/gc_size describe the block. */
GC_API GC_MALLOC_ATTR void *gc_alloc_noscan(size_t size);

/* ------------------------------------------------------------------------
 * Typed objects: precise scanning where the program knows its types.
 *
 * A layout says which words of an object are pointers; a typed object is
 * scanned through its layout only, so a number that looks like an address
 * keeps nothing alive.  Layouts are immutable and live for the whole run;
 * making the same layout twice returns the same one.
 * ---------------------------------------------------------------------- */

typedef const struct gc_layout *gc_layout;

/* The layout in which word i (of nwords) is a pointer iff bit i of bitmap
 * (64 bits per element) is set; words past nwords are not pointers.  NULL
 * if memory is exhausted. */
GC_API gc_layout gc_make_layout(const uint64_t *bitmap, size_t nwords);

/* Allocates size zeroed bytes scanned through layout (conservatively, if
 * layout is NULL).  The slot keeps the layout in a word past the object, so
 * gc_size does not count it.  NULL with errno = ENOMEM on exhaustion. */
GC_API GC_MALLOC_ATTR void *gc_alloc_typed(size_t size, gc_layout layout);

/* n elements of size bytes each laid out by layout (calloc-style;
 * conservatively scanned if layout is NULL).  NULL with errno = ENOMEM if
 * n * size overflows or memory is exhausted. */
GC_API GC_MALLOC_ATTR void *gc_alloc_typed_array(size_t n, size_t size,
                                                 gc_layout layout);

/* Resizes an object, keeping its contents up to the smaller size and its
 * kind (scanned, noscan, or typed with its layout).  gc_realloc(NULL, n) is
 * gc_alloc(n); gc_realloc(p, 0) frees p and returns the zero-size address.
 * Returns NULL with errno = ENOMEM if memory is exhausted (p is untouched), or
 * with errno = EINVAL if p is not the start of a live heap object. */
GC_API void *gc_realloc(void *p, size_t size);

/* Frees an object early.  Small objects are reused by the freeing thread's
 * next allocation of that size; large ones (over 32 KiB) return their pages
 * at once.  Freeing a packed tiny object (gc_alloc_noscan under 16 bytes)
 * or the zero-size address succeeds and does nothing.  Errors:
 * GC_ERR_NOT_IN_HEAP, GC_ERR_NOT_AT_BASE, GC_ERR_FREED.  Freeing an object
 * that is still referenced is the caller's bug, as with free(). */
GC_API int gc_free(void *p);

/* The start of the heap object that contains p (interior pointers
 * included), or NULL if p does not point into a live heap object. */
GC_API void *gc_base(const void *p);

/* The usable size of the heap object that contains p, or 0. */
GC_API size_t gc_size(const void *p);

/* Runs a full collection and returns when it is done: every unreachable
 * object found by it has been freed (or, with a finalizer, queued). */
GC_API void gc_collect(void);

/* Runs a full collection and returns every free page to the operating
 * system (Go's debug.FreeOSMemory). */
GC_API void gc_release_memory(void);

/* Scans [lo, hi) as a root at every collection: memory from malloc or mmap
 * that holds pointers to heap objects.  lo and hi need not be aligned; the
 * aligned words inside the range are scanned.  Errors: GC_ERR_INVALID if
 * lo > hi, GC_ERR_NOMEM. */
GC_API int gc_add_roots(void *lo, void *hi);

/* Removes a range added with gc_add_roots, given the same bounds.
 * GC_ERR_NOT_FOUND if no such range was added. */
GC_API int gc_remove_roots(void *lo, void *hi);

/* Sets the collection target percentage (Go's GOGC): a collection starts
 * when the heap has grown by percent% of the live heap since the last one.
 * A negative value turns automatic collection off.  Returns the previous
 * value.  Default 100, or the FINALGC_GOGC environment variable. */
GC_API int gc_set_percent(int percent);

/* Sets a hard limit on the heap's size in bytes (0: no limit other than the
 * address space reserved at start-up).  Allocations that would pass it
 * collect first and then fail with ENOMEM.  Returns the previous limit. */
GC_API size_t gc_set_max_heap(size_t bytes);

/* ------------------------------------------------------------------------
 * Finalizers: Go's runtime.SetFinalizer and runtime.KeepAlive.
 *
 * gc_set_finalizer(obj, fn, arg) asks for fn(obj, arg) to be called once,
 * some time after obj becomes unreachable:
 *   - When a collection finds obj unreachable, it queues the call, clears
 *     the association, and keeps obj and everything it reaches alive until
 *     fn has run.  fn may store obj somewhere reachable (resurrection): obj
 *     then lives on, contents intact, and may be given a new finalizer.
 *     Otherwise obj is freed by a later collection: freeing an object with a
 *     finalizer takes at least two collections.
 *   - arg is kept alive while the finalizer is set, as Go keeps a closure.
 *   - Order: if A reaches B and both have finalizers, only A's runs; B's
 *     runs in a later cycle, once A is gone.  An object in a cycle of
 *     references through itself (including a pointer to itself, or from
 *     its own arg) is never finalized; FINALGCDEBUG=checkfinalizers=1
 *     reports such objects.
 *   - Finalizers run one at a time on one finalizer thread, started on
 *     first use; one that blocks holds up all the others.  They may
 *     allocate, collect and set finalizers.  Or, with finalize-on-demand,
 *     they run only when the program calls gc_run_finalizers.
 *   - Nothing guarantees that finalizers run before the program exits.
 *   - obj must be the start of a heap object, except that a pointer-free
 *     object of under 16 bytes (packed in a tiny block) may be given a
 *     finalizer at its own address: it runs when the whole block is
 *     unreachable, and receives the exact pointer registered.
 *   - A pointer into the data or bss of the program or of a loaded library
 *     (a global), and the zero-size address, are accepted and ignored.
 *   - gc_free on an object drops its finalizer without running it.
 * ---------------------------------------------------------------------- */

typedef void (*gc_finalizer_fn)(void *obj, void *arg);

/* Sets (fn != NULL) or removes (fn == NULL) obj's finalizer.  Errors, with
 * Go's texts: GC_ERR_NOT_IN_HEAP ("pointer not in allocated block"),
 * GC_ERR_NOT_AT_BASE ("pointer not at beginning of allocated block"),
 * GC_ERR_FINALIZER_SET ("finalizer already set"); GC_ERR_INVALID for a NULL
 * obj.  Removing a finalizer that is not set succeeds.  With
 * FINALGCDEBUG=fatalerrors=1 each error aborts with its message, as Go's
 * throw does. */
GC_API int gc_set_finalizer(void *obj, gc_finalizer_fn fn, void *arg);

/* gc_set_finalizer with a compile-time check that fn's first parameter has
 * p's type (or is void *, which accepts any object, as Go's func(any)):
 *   static void close_file(struct file *f, void *arg);
 *   GC_SET_FINALIZER(f, close_file, NULL);
 * Go checks the finalizer's parameter type when SetFinalizer runs; C can
 * refuse a mismatch when the program compiles. */
#define GC_SET_FINALIZER(p, fn, arg)                                           \
  (__extension__({                                                             \
    _Static_assert(                                                            \
        __builtin_types_compatible_p(__typeof__(&*(fn)),                       \
                                     void (*)(__typeof__(p), void *)) ||       \
            __builtin_types_compatible_p(__typeof__(&*(fn)),                   \
                                         void (*)(void *, void *)),            \
        "GC_SET_FINALIZER: the finalizer's first parameter must have the "     \
        "object's type, or be void *");                                        \
    gc_set_finalizer((p), (gc_finalizer_fn)(void (*)(void))(fn), (arg));       \
  }))

/* Go's runtime.KeepAlive: p stays reachable up to this point, so its
 * finalizer cannot run, nor it be freed, before.  Use it after the last use
 * of something p owns (a file descriptor read by a system call, say).  It
 * emits no instruction and survives any optimisation, LTO included. */
#define gc_keep_alive(p) __asm__ __volatile__("" : : "g"(p) : "memory")

/* Returns once every finalizer queued before the call has returned.  So
 * after `gc_collect(); gc_wait_finalizers();` the finalizer of every object
 * that collection found unreachable has run.  With finalize-on-demand it
 * runs them on the calling thread; called from a finalizer or a cleanup,
 * it returns at once (a finalizer cannot wait for itself). */
GC_API void gc_wait_finalizers(void);

/* on != 0: the program runs finalizers and cleanups with
 * gc_run_finalizers on a thread of its choosing (interpreters that are not
 * thread-safe; bdwgc's finalize-on-demand).  Once the call returns, the
 * finalizer thread runs no finalizer (the call waits for one that is
 * running); the cleanup threads stop after the batch they are running.
 * on == 0 (the default): the finalizer and cleanup threads run them. */
GC_API void gc_set_finalize_on_demand(int on);

/* fn is called, on the thread that ran the collection and with no lock
 * held, after every collection that queued finalizers or cleanups. */
GC_API void gc_set_finalizer_notifier(void (*fn)(void));

/* Runs the pending finalizers, then the pending cleanups, on the calling
 * thread; returns how many ran.  Finalizers never run concurrently with
 * each other.  Called from a finalizer or a cleanup, it returns 0 at
 * once. */
GC_API int gc_run_finalizers(void);

/* ------------------------------------------------------------------------
 * Cleanups: Go's runtime.AddCleanup (Go 1.24-1.26).
 *
 * gc_add_cleanup(ptr, fn, arg) asks for fn(arg) to be called some time
 * after the object ptr points into becomes unreachable:
 *   - No resurrection: fn gets arg, never ptr, and the object is freed by
 *     the collection that queues its cleanups, so one collection frees it.
 *   - Several cleanups may be attached to one object, at its start or at
 *     any interior pointer; they run in no particular order, and a cycle
 *     of objects does not stop them (unlike finalizers).
 *   - If ptr is reachable from arg, the cleanup never runs: arg == ptr is
 *     refused (GC_ERR_PTR_IS_ARG), and so is arg pointing anywhere into
 *     ptr's object (GC_ERR_PTR_IN_ARG), except inside a tiny block, which
 *     holds several objects.  Indirect paths are reported by
 *     FINALGCDEBUG=checkfinalizers=1.  arg itself is kept alive while the
 *     cleanup is set.
 *   - An object with a finalizer and cleanups: the finalizer runs first;
 *     the cleanups run once the object is unreachable again without one.
 *   - Cleanups run on cleanup threads (max(CPUs/4, 1) of them, started on
 *     first use), possibly concurrently with each other; with
 *     finalize-on-demand, gc_run_finalizers runs them instead.  A cleanup
 *     that blocks holds up the others on its thread.
 *   - Globals and the zero-size address: accepted and ignored (an empty
 *     handle).  Nothing guarantees that cleanups run before exit.
 *   - gc_free on an object cancels its cleanups.
 * ---------------------------------------------------------------------- */

typedef void (*gc_cleanup_fn)(void *arg);

/* A handle to one cleanup: it names the cleanup, and does not keep the
 * object alive.  id == 0 is the empty handle. */
typedef struct gc_cleanup {
  uint64_t id;   /* unique, never reused */
  uintptr_t ptr; /* the object, hidden from the collector */
} gc_cleanup;

/* Attaches a cleanup.  On error returns the empty handle and sets
 * gc_last_error: GC_ERR_INVALID (NULL ptr or fn), GC_ERR_NOT_IN_HEAP,
 * GC_ERR_PTR_IS_ARG, GC_ERR_PTR_IN_ARG, GC_ERR_NOMEM.  With
 * FINALGCDEBUG=fatalerrors=1 the errors abort with their text. */
GC_API gc_cleanup gc_add_cleanup(void *ptr, gc_cleanup_fn fn, void *arg);

/* Cancels that cleanup, and only that one.  Idempotent, and does nothing
 * once the cleanup has been queued to run, nor for the empty handle.  To be
 * sure it cancels, keep the object reachable across the call. */
GC_API void gc_cleanup_stop(gc_cleanup c);

/* Returns once every cleanup queued before the call has returned: after
 * `gc_collect(); gc_wait_cleanups();` the cleanups of every object that
 * collection found unreachable have run.  With finalize-on-demand it runs
 * them on the calling thread; called from a cleanup, it returns at once. */
GC_API void gc_wait_cleanups(void);

/* ------------------------------------------------------------------------
 * Weak pointers: Go's package weak (Go 1.24+).
 *
 * gc_weak_make(ptr) returns the canonical weak handle for ptr: two calls
 * with the same pointer return the same handle, before and after
 * collections; different fields of one object give different handles.
 * gc_weak_value(w) returns the original pointer while the object is
 * reachable, and NULL from the collection that finds it unreachable on:
 *   - in the same collection that queues its finalizer, before the
 *     finalizer runs; it stays NULL if the finalizer resurrects the object,
 *     and a handle made after that is a new one;
 *   - inside a cleanup of the object, the value is already NULL.
 * A pointer obtained from gc_weak_value is an ordinary strong reference.
 * The handle does not keep the object alive; the object keeps its handle
 * alive, and a handle nothing references any more is collected.  Globals
 * and the zero-size address get permanent handles whose value never goes
 * NULL.  Hold the pointer from gc_weak_value in a variable (or pass it to
 * gc_keep_alive) for as long as you use it.
 * ---------------------------------------------------------------------- */

typedef struct gc_weak gc_weak;

/* The weak handle for ptr; NULL for NULL.  NULL with gc_last_error set
 * (GC_ERR_NOT_IN_HEAP, GC_ERR_NOMEM) for a pointer that is neither into a
 * live heap object nor a global. */
GC_API gc_weak *gc_weak_make(void *ptr);

/* The pointer w was made from, or NULL once the object was found
 * unreachable; NULL for NULL. */
GC_API void *gc_weak_value(gc_weak *w);

/* ------------------------------------------------------------------------
 * Threads.  Every thread that calls into finalgc is registered on its first
 * call and unregistered when it exits, and its stack and registers are
 * roots.  A collection stops all registered threads with a signal (SIGPWR,
 * or FINALGC_SUSPEND_SIGNAL), installed with SA_RESTART: system calls that
 * Linux restarts carry on, while those it never restarts (nanosleep, poll,
 * select, epoll_wait...) may fail with EINTR during a collection, as with
 * any signal; wrap them in gc_do_blocking, or retry.
 *
 * A thread may be stopped inside a signal handler running on its signal
 * stack (sigaltstack, SA_ONSTACK): that stack is scanned too, and so is
 * the thread's own stack from where the handler interrupted it.  Other
 * stacks are not supported: a collection that finds a registered thread on
 * a stack made with makecontext (a coroutine's), or on a signal stack set
 * with SS_AUTODISARM, stops the program with a message saying so, since
 * going on would free what only that stack references.
 *
 * A thread that never called into finalgc is not registered: it must not
 * hold the only reference to a heap object.  Every call registers the
 * calling thread first (lookups, finalizers, cleanups and weak pointers
 * included: they read or change what a collection is working on); if
 * there is no memory for that, the call fails with GC_ERR_NOMEM (see
 * gc_last_error; NULL from the calls that return a pointer).
 * ---------------------------------------------------------------------- */

/* Thread-specific data destructors (pthread_key_create) may use the heap
 * in every destructor round: the thread is registered again if it must
 * be, and one that exits registered (after the C library's last round)
 * is found gone by the next collection, which drops it. */

/* pthread_create for threads that use the heap: the new thread is
 * registered before start runs, so arg may be the only reference to a heap
 * object.  Threads are unregistered automatically however they end. */
GC_API int gc_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                             void *(*start)(void *), void *arg);

/* pthread_join for threads made by gc_pthread_create.  While it waits, the
 * caller does not hold up collections (as in gc_do_blocking).  A joinable
 * thread's return value is kept alive from the moment start returns (or
 * the thread calls gc_pthread_exit) until this call hands it over (or
 * gc_pthread_detach drops it).  Joined with plain pthread_join, a returned
 * heap object stays alive until a new thread with the same thread id ends
 * with a value of its own kept in turn (at most one value per id).  A
 * value passed to plain pthread_exit is not kept at all: the C library
 * holds it where the collector does not look. */
GC_API int gc_pthread_join(pthread_t t, void **result);

/* pthread_exit that keeps value alive until the thread is joined, as if
 * start had returned it (for any joinable thread: one registered with
 * gc_register_thread too, whose joiner should then use gc_pthread_join).
 * Nothing is kept for a detached thread. */
GC_API void gc_pthread_exit(void *value) __attribute__((noreturn));

/* pthread_detach, which also drops the value the thread returned if it has
 * finished; one still running keeps its value, like a thread joined with
 * plain pthread_join. */
GC_API int gc_pthread_detach(pthread_t t);

/* Registers the calling thread (a thread finalgc did not create), if it is
 * not registered yet.  GC_ERR_NOMEM if memory is exhausted. */
GC_API int gc_register_thread(void);

/* Unregisters the calling thread before it exits; its stack stops being a
 * root.  GC_ERR_NOT_FOUND if it was not registered. */
GC_API int gc_unregister_thread(void);

/* Runs fn(arg) outside the collector's reach, for calls that may block (a
 * read on a socket, say): collections go ahead without waiting for this
 * thread, and its stack above this call is still scanned.  fn must not
 * touch the heap nor call finalgc (a gc_do_blocking inside fn only runs
 * its own fn), and its own frames are not scanned: a heap pointer it
 * returns must be reachable from elsewhere until it has returned (from
 * then on, gc_do_blocking keeps it).  A thread cancelled inside fn, or
 * calling pthread_exit there, leaves blocking mode before its cleanup
 * handlers run, so they may use the heap. */
GC_API void *gc_do_blocking(void *(*fn)(void *), void *arg);

/* Sets the number of threads that mark during a collection (the collecting
 * thread and n-1 helpers), at most 16.  Default: the number of online CPUs,
 * or FINALGC_MARKERS.  GC_ERR_INVALID if n < 1. */
GC_API int gc_set_markers(int n);

/* Statistics, in the spirit of Go's runtime.MemStats.  Totals count object
 * slots (a 20-byte request counts as its 24-byte size class).  Allocation
 * totals are exact for the calling thread and after a collection; between
 * collections they may miss what other threads allocated from the spans
 * they hold (at most one span per size class per thread). */
typedef struct gc_stats {
  size_t heap_mapped;   /* bytes of heap address space backed by memory:
                           committed pages minus those returned to the OS */
  size_t heap_released; /* bytes of free heap pages returned to the OS */
  size_t heap_inuse;    /* bytes in spans holding objects (including their
                           free slots) */
  size_t heap_live;     /* bytes of objects found live by the last
                           collection */
  size_t heap_goal;     /* heap size at which the next automatic collection
                           starts */
  size_t metadata;      /* bytes the collector uses off the heap: span
                           records, bitmaps, page map, mark stack */
  uint64_t total_alloc_bytes;   /* bytes allocated since start-up */
  uint64_t total_alloc_objects; /* objects allocated since start-up */
  uint64_t num_gc;              /* collections so far */
  uint64_t pause_total_ns;      /* total stop-the-world time */
  uint64_t pause_max_ns;        /* longest stop-the-world pause */
  uint64_t last_pause_ns;       /* pause of the last collection */
  uint64_t finalizers_queued;   /* finalizers queued since start-up */
  uint64_t finalizers_run;      /* finalizers that have returned */
  uint64_t cleanups_queued;     /* cleanups queued since start-up */
  uint64_t cleanups_run;        /* cleanups that have returned */
} gc_stats;

/* Fills *out with a consistent snapshot of the statistics. */
GC_API void gc_read_stats(gc_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* FINALGC_H */
