/*
 * finalgc's bdwgc-compatible typed allocation: <gc/gc_typed.h>.
 *
 * A bitmap says which words of an object may hold pointers; the collector
 * scans only those (precisely), on finalgc's typed objects (gc_make_layout,
 * gc_alloc_typed).  A descriptor is finalgc's interned layout, valid for the
 * life of the process.
 */
#ifndef GC_TYPED_H
#define GC_TYPED_H

#include "gc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef GC_word *GC_bitmap;

#define GC_WORDSZ (8 * sizeof(GC_word))
#define GC_get_bit(bm, index)                                                  \
  (((bm)[(index) / GC_WORDSZ] >> ((index) % GC_WORDSZ)) & 1)
#define GC_set_bit(bm, index)                                                  \
  ((bm)[(index) / GC_WORDSZ] |= (GC_word)1 << ((index) % GC_WORDSZ))
#define GC_WORD_OFFSET(t, f) (offsetof(t, f) / sizeof(GC_word))
#define GC_WORD_LEN(t) (sizeof(t) / sizeof(GC_word))
#define GC_BITMAP_SIZE(t) ((GC_WORD_LEN(t) + GC_WORDSZ - 1) / GC_WORDSZ)

typedef GC_word GC_descr;

/* A descriptor for objects whose word i may hold a pointer iff bit i of
 * bitmap is set (len words described; the words past len are not
 * scanned).  Out of memory: a descriptor that scans every word. */
GC_API GC_descr GC_make_descriptor(const GC_word *bitmap, size_t len);

/* Zeroed objects scanned through d.  An object larger than the bitmap
 * describes is scanned only where the bitmap says. */
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(1) void *GC_malloc_explicitly_typed(
    size_t size_in_bytes, GC_descr d);
GC_API GC_ATTR_MALLOC GC_ATTR_ALLOC_SIZE(
    1) void *GC_malloc_explicitly_typed_ignore_off_page(size_t size_in_bytes,
                                                        GC_descr d);
/* An array of nelements elements, each scanned through d. */
GC_API GC_ATTR_MALLOC void *
GC_calloc_explicitly_typed(size_t nelements, size_t element_size, GC_descr d);

#define GC_MALLOC_EXPLICITLY_TYPED(bytes, d)                                   \
  GC_malloc_explicitly_typed(bytes, d)
#define GC_CALLOC_EXPLICITLY_TYPED(n, bytes, d)                                \
  GC_calloc_explicitly_typed(n, bytes, d)

#ifdef __cplusplus
}
#endif

#endif /* GC_TYPED_H */
