/*
 * fixalloc: fixed-size records for the collector's own metadata (span
 * records, bitmaps, thread caches, specials, queue blocks), modelled on Go's
 * mfixalloc.go.
 *
 * Invariants:
 *   - Records come from chunks mapped straight from the kernel, never from
 *     the garbage-collected heap and never from an area the collector scans.
 *     Metadata therefore cannot keep a heap object alive by accident, and
 *     the collector never has to trace it.
 *   - Freed records go on a free list and are reused; chunks are never
 *     returned to the kernel.
 *   - A record is not zeroed on reuse; callers initialise every field.
 *   - Chunks are CHUNK_SIZE until a fixalloc holds a huge page's worth of
 *     them, then one huge page each, aligned and advised for huge pages
 *     (unless FINALGC_HUGEPAGES=off): the metadata of a big heap (span
 *     records, mark bytes) is read for every object a collection marks,
 *     and with small pages its TLB misses took about a tenth of the mark
 *     of a 1 GiB heap.  Small programs keep small pages and a small RSS.
 */
#include <string.h>

#include "internal.h"

#define CHUNK_SIZE ((size_t)256 << 10)

static size_t metadata_bytes;

void fgc_add_metadata(ptrdiff_t bytes) {
  __atomic_add_fetch(&metadata_bytes, (size_t)bytes, __ATOMIC_RELAXED);
}

size_t fgc_metadata_bytes(void) {
  return __atomic_load_n(&metadata_bytes, __ATOMIC_RELAXED);
}

void *fgc_sysalloc(size_t size) {
  size = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
  void *p = fgc_prim_map(size);
  if (p)
    fgc_add_metadata((ptrdiff_t)size);
  return p;
}

/* fgc_sysalloc for HUGE_PAGE_SIZE-aligned memory on huge pages. */
static void *sysalloc_huge(size_t size) {
  void *p = fgc_prim_map_huge(size);
  if (p)
    fgc_add_metadata((ptrdiff_t)size);
  return p;
}

void fgc_sysfree(void *p, size_t size) {
  size = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
  fgc_prim_unmap(p, size);
  fgc_add_metadata(-(ptrdiff_t)size);
}

static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fixalloc *all;

void fgc_fixalloc_init(struct fixalloc *f, size_t size) {
  pthread_mutex_init(&f->lock, NULL);
  f->size = (size + 15) & ~(size_t)15;
  f->free = NULL;
  f->chunk = NULL;
  f->chunk_left = 0;
  f->mapped = 0;
  pthread_mutex_lock(&all_lock);
  f->next = all;
  all = f;
  pthread_mutex_unlock(&all_lock);
}

/* For fork: every fixalloc's lock, held across the fork. */
void fgc_fixalloc_lock_all(void) {
  pthread_mutex_lock(&all_lock);
  for (struct fixalloc *f = all; f; f = f->next)
    fgc_lock(&f->lock);
}

void fgc_fixalloc_unlock_all(void) {
  for (struct fixalloc *f = all; f; f = f->next)
    fgc_unlock(&f->lock);
  pthread_mutex_unlock(&all_lock);
}

/* Takes one record; f->lock held.  NULL when the kernel refuses memory. */
static void *alloc_locked(struct fixalloc *f) {
  void *p;
  if (f->free) {
    p = f->free;
    f->free = *(void **)p;
  } else {
    if (f->chunk_left < f->size) {
      bool huge = fgc_opt.hugepages != SIZE_MAX &&
                  f->mapped >= HUGE_PAGE_SIZE && f->size <= HUGE_PAGE_SIZE;
      size_t n = huge                   ? HUGE_PAGE_SIZE
                 : f->size > CHUNK_SIZE ? f->size
                                        : CHUNK_SIZE;
      f->chunk = huge ? sysalloc_huge(n) : fgc_sysalloc(n);
      if (!f->chunk) {
        f->chunk_left = 0;
        return NULL;
      }
      f->chunk_left = n;
      f->mapped += n;
    }
    p = f->chunk;
    f->chunk += f->size;
    f->chunk_left -= f->size;
  }
  return p;
}

/* Returns a record, or NULL when the kernel refuses memory. */
void *fgc_fixalloc_alloc(struct fixalloc *f) {
  fgc_lock(&f->lock);
  void *p = alloc_locked(f);
  fgc_unlock(&f->lock);
  return p;
}

/* Returns up to n records linked through their first word (NULL-ended),
 * under one lock: for per-thread caches of records. */
void *fgc_fixalloc_alloc_list(struct fixalloc *f, unsigned n) {
  void *head = NULL;
  fgc_lock(&f->lock);
  for (unsigned i = 0; i < n; i++) {
    void *p = alloc_locked(f);
    if (!p)
      break;
    *(void **)p = head;
    head = p;
  }
  fgc_unlock(&f->lock);
  return head;
}

void fgc_fixalloc_free_list(struct fixalloc *f, void *head, void *tail) {
  fgc_lock(&f->lock);
  *(void **)tail = f->free;
  f->free = head;
  fgc_unlock(&f->lock);
}

void fgc_fixalloc_free(struct fixalloc *f, void *p) {
  fgc_lock(&f->lock);
  *(void **)p = f->free;
  f->free = p;
  fgc_unlock(&f->lock);
}
