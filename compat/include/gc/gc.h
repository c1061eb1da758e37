/*
 * finalgc's bdwgc-compatible API: <gc.h> / <gc/gc.h>.
 *
 * A program written for the Boehm-Demers-Weiser collector builds unchanged
 * against this header and libfinalgc-bdwgc (`pkg-config --cflags --libs
 * finalgc-bdwgc`).  It declares the part of bdwgc 8.2's API that finalgc
 * implements, with bdwgc's names, types, macros and result codes; each call
 * behaves as bdwgc documents it, and where finalgc differs the comment (and
 * the README's "Moving from bdwgc" table) says how and why.
 *
 * This header is installed in its own directory (include/finalgc-bdwgc), so
 * it never shadows a real bdwgc installation.
 */
#ifndef GC_H
#define GC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The bdwgc API version this layer implements (GC_get_version). */
#define GC_VERSION_MAJOR 8
#define GC_VERSION_MINOR 2
#define GC_VERSION_MICRO 2

#define GC_FINALGC 1 /* this is finalgc's compat layer, not bdwgc */

/* The same definition as <finalgc.h>'s, so both may be included. */
#ifndef GC_API
#define GC_API __attribute__((visibility("default")))
#endif
#define GC_CALL
#define GC_CALLBACK
#define GC_ATTR_MALLOC __attribute__((malloc))
#define GC_ATTR_ALLOC_SIZE(n) __attribute__((alloc_size(n)))
#define GC_ATTR_DEPRECATED __attribute__((deprecated))

typedef unsigned long GC_word;
typedef long GC_signed_word;
typedef void *GC_PTR;

/* Result codes. */
#define GC_SUCCESS 0
#define GC_DUPLICATE 1 /* already registered (link, thread) */
#define GC_NO_MEMORY 2
#define GC_UNIMPLEMENTED 3
#define GC_NOT_FOUND 4

/* --- allocation ---------------------------------------------------------- */

/* Zeroed memory, scanned conservatively.  NULL only when memory is exhausted
 * and the out-of-memory function (GC_set_oom_fn) returns NULL. */
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_malloc(size_t);
/* Memory that is never scanned for pointers (strings, numbers).  finalgc
 * zeroes it too; bdwgc does not promise to. */
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_malloc_atomic(size_t);
/* Scanned, never collected: freed only by GC_free. */
GC_API
GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_malloc_uncollectable(size_t);
/* finalgc treats every pointer into an object as a reference, so these are
 * GC_malloc and GC_malloc_atomic. */
GC_API GC_ATTR_MALLOC
    GC_ATTR_ALLOC_SIZE(1) void *GC_malloc_ignore_off_page(size_t);
GC_API GC_ATTR_MALLOC
    GC_ATTR_ALLOC_SIZE(1) void *GC_malloc_atomic_ignore_off_page(size_t);
/* Keeps the kind (scanned, atomic, uncollectable, typed) of p's object. */
GC_API GC_ATTR_ALLOC_SIZE(2) void *GC_realloc(void *p, size_t);
/* Explicit deallocation: p may be NULL or point into a heap object (the
 * whole object is freed); anything else is reported through the warning
 * procedure and ignored. */
GC_API void GC_free(void *);
GC_API GC_ATTR_MALLOC char *GC_strdup(const char *);
GC_API GC_ATTR_MALLOC char *GC_strndup(const char *, size_t);
/* Aligned allocation; align must be a power of two.  The result may be
 * passed to GC_free and GC_base. */
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(2) void *GC_memalign(size_t align,
                                                              size_t lb);
/* 0, EINVAL (align not a power of two multiple of sizeof(void *)) or
 * ENOMEM. */
GC_API int GC_posix_memalign(void **memptr, size_t align, size_t lb);

/* The start of the heap object containing p, or NULL. */
GC_API void *GC_base(void *p);
/* Usable size of the object starting at p (0 if p is not one). */
GC_API size_t GC_size(const void *p);
/* Nonzero if p points into a heap object. */
GC_API int GC_is_heap_ptr(const void *p);

#define GC_MALLOC(sz) GC_malloc(sz)
#define GC_MALLOC_ATOMIC(sz) GC_malloc_atomic(sz)
#define GC_MALLOC_UNCOLLECTABLE(sz) GC_malloc_uncollectable(sz)
#define GC_MALLOC_IGNORE_OFF_PAGE(sz) GC_malloc_ignore_off_page(sz)
#define GC_MALLOC_ATOMIC_IGNORE_OFF_PAGE(sz)                                   \
  GC_malloc_atomic_ignore_off_page(sz)
#define GC_REALLOC(old, sz) GC_realloc(old, sz)
#define GC_FREE(p) GC_free(p)
#define GC_STRDUP(s) GC_strdup(s)
#define GC_STRNDUP(s, n) GC_strndup(s, n)
#define GC_NEW(t) ((t *)GC_MALLOC(sizeof(t)))
#define GC_NEW_ATOMIC(t) ((t *)GC_MALLOC_ATOMIC(sizeof(t)))
#define GC_NEW_UNCOLLECTABLE(t) ((t *)GC_MALLOC_UNCOLLECTABLE(sizeof(t)))

/* --- collection and control ------------------------------------------------
 */

/* Optional on Linux, as with bdwgc: every call initializes on first use. */
GC_API void GC_init(void);
#define GC_INIT() GC_init()
GC_API int GC_is_init_called(void);

/* A full collection; returns when it is done and, unless finalization is on
 * demand, when the finalizers it made ready have run (bdwgc runs them in
 * this thread before returning). */
GC_API void GC_gcollect(void);
/* The same, then returns all free pages to the OS. */
GC_API void GC_gcollect_and_unmap(void);
/* Collections (automatic and GC_gcollect) are off while GC_disable calls
 * outnumber GC_enable calls, or while GC_dont_gc is nonzero. */
GC_API void GC_disable(void);
GC_API void GC_enable(void);
GC_API int GC_is_disabled(void);
extern GC_API int GC_dont_gc;

/* GC_free_space_divisor D: a collection starts after about 2/D of the live
 * heap has been allocated, i.e. finalgc's gc_set_percent(200 / D).  bdwgc's
 * default is 3; finalgc keeps its own default (GOGC 100) until this is
 * called or GC_FREE_SPACE_DIVISOR is set. */
GC_API void GC_set_free_space_divisor(GC_word);
GC_API GC_word GC_get_free_space_divisor(void);
/* Grows the heap's first goal by n bytes, so that no collection starts
 * before the heap reaches it.  Nonzero on success. */
GC_API int GC_expand_hp(size_t n);
/* Past this, allocation collects and then fails (GC_set_oom_fn).  0: no
 * limit. */
GC_API void GC_set_max_heap_size(GC_word n);

typedef void *(GC_CALLBACK *GC_oom_func)(size_t bytes_requested);
/* Called when an allocation fails; its result is returned to the caller.
 * The default returns NULL. */
GC_API void GC_set_oom_fn(GC_oom_func);
GC_API GC_oom_func GC_get_oom_fn(void);

typedef void(GC_CALLBACK *GC_warn_proc)(char *msg, GC_word arg);
/* msg is a printf format with one %lu-style conversion for arg.  The
 * default prints "GC Warning: ..." to stderr. */
GC_API void GC_set_warn_proc(GC_warn_proc);
GC_API GC_warn_proc GC_get_warn_proc(void);

/* Scans [low, high_plus_1) as a root. */
GC_API void GC_add_roots(void *low, void *high_plus_1);
GC_API void GC_remove_roots(void *low, void *high_plus_1);

/* Heap size: bytes of heap backed by memory (excluding pages returned to
 * the OS).  Free bytes: a lower bound on the free part of it.  Total bytes:
 * allocated since start-up.  GC number: collections so far. */
GC_API size_t GC_get_heap_size(void);
GC_API size_t GC_get_free_bytes(void);
GC_API size_t GC_get_unmapped_bytes(void);
GC_API size_t GC_get_bytes_since_gc(void);
GC_API size_t GC_get_total_bytes(void);
GC_API GC_word GC_get_gc_no(void);
GC_API void GC_get_heap_usage_safe(GC_word *pheap_size, GC_word *pfree_bytes,
                                   GC_word *punmapped_bytes,
                                   GC_word *pbytes_since_gc,
                                   GC_word *ptotal_bytes);

struct GC_prof_stats_s {
  GC_word heapsize_full;
  GC_word free_bytes_full;
  GC_word unmapped_bytes;
  GC_word bytes_allocd_since_gc;
  GC_word allocd_bytes_before_gc;
  GC_word non_gc_bytes;
  GC_word gc_no;
  GC_word markers_m1;
  GC_word bytes_reclaimed_since_gc;
  GC_word reclaimed_bytes_before_gc;
  GC_word expl_freed_bytes_since_gc;
  GC_word obtained_from_os_bytes;
};
/* Fills at most stats_sz bytes of *pstats; fields finalgc does not know
 * are set to all ones ((GC_word)-1), as bdwgc does.  Returns the number of
 * bytes filled. */
GC_API size_t GC_get_prof_stats(struct GC_prof_stats_s *pstats,
                                size_t stats_sz);

typedef void(GC_CALLBACK *GC_start_callback_proc)(void);
/* Called at the start of every collection, with the collector's lock held
 * and before the world stops: it must not allocate nor call into the
 * collector. */
GC_API void GC_set_start_callback(GC_start_callback_proc);
GC_API GC_start_callback_proc GC_get_start_callback(void);

/* (GC_VERSION_MAJOR << 16) | (GC_VERSION_MINOR << 8) | GC_VERSION_MICRO */
GC_API unsigned GC_get_version(void);

/* --- finalization
 * -------------------------------------------------------------
 *
 * GC_register_finalizer(obj, fn, cd, &ofn, &ocd) arranges for fn(obj, cd) to
 * be called once obj is unreachable, replacing any finalizer obj had (whose
 * fn and cd come back through ofn and ocd, which may be NULL); fn == NULL
 * removes it.  obj must be the start of a heap object; anything else is
 * ignored (ofn and ocd are set to NULL).  The variants differ in ordering:
 *   GC_register_finalizer: what a finalizable object reaches is finalized
 *     after it (the object is still intact when fn runs); a cycle of
 *     finalizable objects is never finalized.
 *   _ignore_self: the same, but pointers from obj to itself do not count.
 *   _no_order: no ordering; cycles are finalized too.
 *   _unreachable: no ordering, but fn runs only once obj is unreachable
 *     from every other finalizable object too.
 * The object, and what it reaches, survive until fn has run.
 *
 * Where finalizers run.  bdwgc runs them in whichever thread allocates or
 * collects.  finalgc runs them on its own finalizer thread (as Go does): a
 * finalizer never runs in the middle of the code that happened to allocate,
 * holding that code's locks.  GC_set_finalize_on_demand(1) gives bdwgc's
 * on-demand behaviour exactly: finalizers run only in GC_invoke_finalizers,
 * and the notifier (GC_set_finalizer_notifier) is called when some are
 * ready.
 */
typedef void(GC_CALLBACK *GC_finalization_proc)(void *obj, void *client_data);

GC_API void GC_register_finalizer(void *obj, GC_finalization_proc fn, void *cd,
                                  GC_finalization_proc *ofn, void **ocd);
GC_API void GC_register_finalizer_ignore_self(void *obj,
                                              GC_finalization_proc fn, void *cd,
                                              GC_finalization_proc *ofn,
                                              void **ocd);
GC_API void GC_register_finalizer_no_order(void *obj, GC_finalization_proc fn,
                                           void *cd, GC_finalization_proc *ofn,
                                           void **ocd);
GC_API void GC_register_finalizer_unreachable(void *obj,
                                              GC_finalization_proc fn, void *cd,
                                              GC_finalization_proc *ofn,
                                              void **ocd);

#define GC_REGISTER_FINALIZER(p, f, d, of, od)                                 \
  GC_register_finalizer(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_IGNORE_SELF(p, f, d, of, od)                     \
  GC_register_finalizer_ignore_self(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_NO_ORDER(p, f, d, of, od)                        \
  GC_register_finalizer_no_order(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_UNREACHABLE(p, f, d, of, od)                     \
  GC_register_finalizer_unreachable(p, f, d, of, od)

/* Runs the finalizers that are ready, in this thread; returns how many
 * ran. */
GC_API int GC_invoke_finalizers(void);
/* Nonzero if some finalizers are ready and have not run. */
GC_API int GC_should_invoke_finalizers(void);
GC_API void GC_set_finalize_on_demand(int);
GC_API int GC_get_finalize_on_demand(void);
typedef void(GC_CALLBACK *GC_finalizer_notifier_proc)(void);
GC_API void GC_set_finalizer_notifier(GC_finalizer_notifier_proc);
GC_API GC_finalizer_notifier_proc GC_get_finalizer_notifier(void);

/* --- weak references: disappearing links ------------------------------------
 *
 * GC_general_register_disappearing_link(link, obj): *link is set to NULL
 * when obj becomes unreachable, before any finalizer runs (a short link);
 * a long link (GC_register_long_link) is cleared only when obj is truly
 * gone, after its finalizer and anything that revived it.  The link itself
 * is not a reference: store obj in it hidden (GC_HIDE_POINTER) if the
 * memory holding it is scanned.  A link that lies in a heap object that is
 * collected is dropped.  Each returns GC_SUCCESS, GC_DUPLICATE (link was
 * already registered: it now tracks obj instead, as in bdwgc),
 * GC_NO_MEMORY, or GC_NOT_FOUND when obj is not a heap object (bdwgc
 * leaves that undefined).
 */
GC_API int GC_register_disappearing_link(void **link); /* obj: GC_base(link) */
GC_API int GC_general_register_disappearing_link(void **link, const void *obj);
/* 1 if link was registered (and is no longer), 0 if not. */
GC_API int GC_unregister_disappearing_link(void **link);
/* GC_SUCCESS, GC_DUPLICATE (new_link registered already), GC_NOT_FOUND
 * (link is not registered). */
GC_API int GC_move_disappearing_link(void **link, void **new_link);
GC_API int GC_register_long_link(void **link, const void *obj);
GC_API int GC_unregister_long_link(void **link);
GC_API int GC_move_long_link(void **link, void **new_link);

#define GC_GENERAL_REGISTER_DISAPPEARING_LINK(link, obj)                       \
  GC_general_register_disappearing_link(link, obj)
#define GC_REGISTER_LONG_LINK(link, obj) GC_register_long_link(link, obj)

typedef GC_word GC_hidden_pointer;
#define GC_HIDE_POINTER(p) (~(GC_hidden_pointer)(p))
#define GC_REVEAL_POINTER(p) ((void *)GC_HIDE_POINTER(p))
#if defined(I_HIDE_POINTERS) || defined(GC_I_HIDE_POINTERS)
#define HIDE_POINTER(p) GC_HIDE_POINTER(p)
#define REVEAL_POINTER(p) GC_REVEAL_POINTER(p)
#endif

/* --- threads
 * ------------------------------------------------------------------ */

struct GC_stack_base {
  void *mem_base; /* the cold end of the stack (its highest address) */
};

typedef void *(GC_CALLBACK *GC_fn_type)(void *client_data);
typedef void *(GC_CALLBACK *GC_stack_base_func)(struct GC_stack_base *sb,
                                                void *arg);

/* finalgc always allows threads to register (it registers a thread on its
 * first call), so this only initializes. */
GC_API void GC_allow_register_threads(void);
/* GC_SUCCESS, GC_DUPLICATE if the thread is registered already, or
 * GC_NO_MEMORY.  finalgc finds the stack bounds itself; sb is not read. */
GC_API int GC_register_my_thread(const struct GC_stack_base *sb);
GC_API int GC_unregister_my_thread(void);
GC_API int GC_thread_is_registered(void);
/* GC_SUCCESS or GC_UNIMPLEMENTED. */
GC_API int GC_get_stack_base(struct GC_stack_base *sb);
GC_API void *GC_call_with_stack_base(GC_stack_base_func fn, void *arg);
/* Runs fn(client_data) with the collector free to go ahead without this
 * thread: fn must not touch the heap, except through
 * GC_call_with_gc_active. */
GC_API void *GC_do_blocking(GC_fn_type fn, void *client_data);
/* Inside GC_do_blocking, runs fn(client_data) as a normal thread again. */
GC_API void *GC_call_with_gc_active(GC_fn_type fn, void *client_data);

#include <pthread.h>
#include <signal.h>

GC_API int GC_pthread_create(pthread_t *, const pthread_attr_t *,
                             void *(*)(void *), void *);
GC_API int GC_pthread_join(pthread_t, void **);
GC_API int GC_pthread_detach(pthread_t);
GC_API int GC_pthread_cancel(pthread_t);
GC_API void GC_pthread_exit(void *) __attribute__((noreturn));
/* pthread_sigmask that never blocks the collector's suspend signal. */
GC_API int GC_pthread_sigmask(int how, const sigset_t *set, sigset_t *oset);
GC_API void *GC_dlopen(const char *path, int mode);

#if defined(GC_THREADS) && !defined(GC_NO_THREAD_REDIRECTS) &&                 \
    !defined(GC_BUILD)
#include <dlfcn.h>
#undef pthread_create
#undef pthread_join
#undef pthread_detach
#undef pthread_cancel
#undef pthread_exit
#undef pthread_sigmask
#undef dlopen
#define pthread_create GC_pthread_create
#define pthread_join GC_pthread_join
#define pthread_detach GC_pthread_detach
#define pthread_cancel GC_pthread_cancel
#define pthread_exit GC_pthread_exit
#define pthread_sigmask GC_pthread_sigmask
#define dlopen GC_dlopen
#endif

#ifdef __cplusplus
}
#endif

#endif /* GC_H */
