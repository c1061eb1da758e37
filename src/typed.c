/*
 * Layouts for typed objects: precise scanning where the program knows
 * which words of an object are pointers (bdwgc's GC_make_descriptor, and
 * the "precise heap scanning where the type is known" of the mission).
 *
 * A layout is an immutable record off the heap: a bitmap of the words that
 * are pointers and, for arrays, the element size in words.  A typed object
 * keeps its layout in the last word of its slot (alloc.c), so the marker
 * finds it from the object alone (mark.c) and scans only the pointer
 * words: an integer that happens to look like a heap address retains
 * nothing.
 *
 * Invariants:
 *   - Layouts are never freed, and equal layouts are one record (a hash
 *     table finds them), so a program that asks for the same layout again
 *     and again does not grow.
 *   - layouts_lock guards the table and the bump arena they come from.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

#define TABLE_SIZE 1024 /* buckets: layouts are few, one per type */
#define ARENA_CHUNK ((size_t)64 << 10)
#define SMALL_KEY_WORDS 16 /* bitmaps of up to 1024 words need no mmap */

struct entry {
  struct entry *next;
  struct gc_layout layout; /* flexible: bits follow */
};

static fgc_mutex layouts_lock = FGC_MUTEX_INIT;
static struct entry *table[TABLE_SIZE];
static char *arena;
static size_t arena_left;

static size_t words_for(uint32_t nwords) { return (nwords + 63) / 64; }

static uint64_t hash(const struct gc_layout *l) {
  uint64_t h = l->nwords * 0x9e3779b97f4a7c15ull ^ l->elem_words;
  for (size_t i = 0; i < words_for(l->nwords); i++)
    h = (h ^ l->bits[i]) * 0x100000001b3ull;
  return h;
}

static bool same(const struct gc_layout *a, const struct gc_layout *b) {
  return a->nwords == b->nwords && a->elem_words == b->elem_words &&
         memcmp(a->bits, b->bits, words_for(a->nwords) * sizeof(uint64_t)) == 0;
}

/* Bump allocation from off-heap chunks; layouts_lock held. */
static void *arena_alloc(size_t size) {
  size = (size + 15) & ~(size_t)15;
  if (size > arena_left) {
    size_t n = size > ARENA_CHUNK ? size : ARENA_CHUNK;
    arena = fgc_sysalloc(n);
    if (!arena) {
      arena_left = 0;
      return NULL;
    }
    arena_left = n;
  }
  void *p = arena;
  arena += size;
  arena_left -= size;
  return p;
}

/* The canonical record for the layout in `key`, made if new; NULL when out
 * of memory. */
static gc_layout intern(const struct gc_layout *key) {
  uint64_t h = hash(key) % TABLE_SIZE;
  size_t bits = words_for(key->nwords) * sizeof(uint64_t);
  fgc_lock(&layouts_lock);
  struct entry *e = table[h];
  while (e && !same(&e->layout, key))
    e = e->next;
  if (!e && (e = arena_alloc(sizeof *e + bits)) != NULL) {
    e->layout.nwords = key->nwords;
    e->layout.elem_words = key->elem_words;
    memcpy(e->layout.bits, key->bits, bits);
    e->next = table[h];
    table[h] = e;
  }
  fgc_unlock(&layouts_lock);
  return e ? &e->layout : NULL;
}

/* Builds a key for nwords words of bitmap in a buffer of the caller's. */
static gc_layout make(const uint64_t *bitmap, size_t nwords,
                      size_t elem_words) {
  if (nwords > UINT32_MAX || elem_words > UINT32_MAX)
    return NULL;
  /* Trailing non-pointer words carry no information: drop them, so that
   * equal layouts compare equal whatever length they were given with. */
  while (nwords > 0 &&
         !((bitmap[(nwords - 1) / 64] >> ((nwords - 1) % 64)) & 1))
    nwords--;
  size_t bits = words_for((uint32_t)nwords) * sizeof(uint64_t);
  /* The key lives on the stack unless the bitmap is big. */
  uint64_t small[1 + SMALL_KEY_WORDS];
  bool big = bits > sizeof small - sizeof(struct gc_layout);
  struct gc_layout *key =
      big ? fgc_sysalloc(sizeof *key + bits) : (struct gc_layout *)small;
  if (!key)
    return NULL;
  key->nwords = (uint32_t)nwords;
  key->elem_words = (uint32_t)elem_words;
  memcpy(key->bits, bitmap, bits);
  if (nwords % 64)
    key->bits[nwords / 64] &= ~(~(uint64_t)0 << (nwords % 64));
  gc_layout l = intern(key);
  if (big)
    fgc_sysfree(key, sizeof *key + bits);
  return l;
}

gc_layout gc_make_layout(const uint64_t *bitmap, size_t nwords) {
  fgc_ensure_init();
  return make(bitmap, nwords, 0);
}

void *gc_alloc_typed_array(size_t n, size_t size, gc_layout layout) {
  if (n == 0 || size == 0)
    return fgc_zerobase;
  if (size > SIZE_MAX / n) {
    errno = ENOMEM;
    return NULL;
  }
  if (!layout) /* scanned conservatively, as gc_alloc_typed's */
    return gc_alloc(n * size);
  /* An element that is not a whole number of words cannot repeat a word
   * bitmap: such arrays are scanned conservatively. */
  if (size % sizeof(void *) != 0 || n == 1)
    return size % sizeof(void *) ? gc_alloc(n * size)
                                 : gc_alloc_typed(size, layout);
  gc_layout array = make(layout->bits, layout->nwords, size / sizeof(void *));
  return array ? gc_alloc_typed(n * size, array) : NULL;
}

void fgc_typed_lock_all(void) { fgc_lock(&layouts_lock); }

void fgc_typed_unlock_all(void) { fgc_unlock(&layouts_lock); }
