/*
 * Sanitizer hooks: the one place that knows whether the build runs under
 * AddressSanitizer or ThreadSanitizer.
 *
 * Under ASan the heap poisons every slot the collector frees and unpoisons a
 * slot when it is handed out again, so that a program (or a test) touching
 * an object the collector freed is stopped at the faulting access: the
 * "reachable object freed" bug cannot pass silently.  Conservative scanning
 * reads stack redzones and other threads' stacks on purpose, so the scanning
 * functions are exempt from both sanitizers (NO_SANITIZE).
 */
#ifndef FINALGC_SANITIZER_H
#define FINALGC_SANITIZER_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define FGC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FGC_ASAN 1
#endif
#endif

#ifdef FGC_ASAN
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define fgc_poison(p, n) __asan_poison_memory_region((p), (n))
#define fgc_unpoison(p, n) __asan_unpoison_memory_region((p), (n))
#define FGC_POISONING 1
#else
#define fgc_poison(p, n) ((void)(p), (void)(n))
#define fgc_unpoison(p, n) ((void)(p), (void)(n))
#define FGC_POISONING 0
#endif

#define NO_SANITIZE __attribute__((no_sanitize("address", "thread")))

#endif /* FINALGC_SANITIZER_H */
