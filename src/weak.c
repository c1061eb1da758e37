/*
 * Weak pointers: gc_weak_make and gc_weak_value (Go's package weak, and its
 * runtime side in mheap.go: getOrAddWeakHandle, makeStrongFromWeak).
 *
 * Invariants (Go's, restated for finalgc):
 *   1. There is one canonical handle per (object, offset): the handle of a
 *      weak special attached at that offset.  gc_weak_make returns it, or
 *      makes it; two racing makes agree, because the special is added only
 *      if none is there (and the loser returns the winner's).
 *   2. A handle holds the referent's address in a noscan heap object, so
 *      it does not keep the referent alive, while the special keeps the
 *      handle alive as long as the referent lives.
 *   3. A handle reads NULL as soon as a collection finds its referent
 *      unreachable the first time: the collector clears it with the world
 *      stopped, after marking and before any finalizer or cleanup is
 *      queued to run, and removes the special, so the handle stays NULL if
 *      a finalizer resurrects the object and a later make is a new handle.
 *   4. A value read is a strong reference from the moment it is loaded:
 *      the collector stops the reading thread, and a loaded pointer sits in
 *      its registers or stack, which are roots.  So the object a read
 *      returned is never freed under the reader (Go's #69210 needed an
 *      explicit shade because Go's marking runs concurrently with reads).
 *   5. Globals and the zero-size address never die: their handles are
 *      permanent records kept in a table, off the heap.
 */
#include <string.h>

#include "internal.h"

/* --- permanent handles -----------------------------------------------------
 */

static fgc_mutex permanent_lock = FGC_MUTEX_INIT;
static struct gc_weak **permanent; /* open-addressing table by address */
static size_t permanent_cap, permanent_len;
static struct fixalloc permanent_records;

static size_t slot_of(uintptr_t p, size_t cap) {
  return (size_t)((p * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

/* Doubles the table; permanent_lock held.  False when out of memory. */
static bool grow_permanent(void) {
  size_t ncap = permanent_cap ? permanent_cap * 2 : 256;
  struct gc_weak **n = fgc_sysalloc(ncap * sizeof *n);
  if (!n)
    return false;
  for (size_t i = 0; i < permanent_cap; i++) {
    struct gc_weak *w = permanent[i];
    if (!w)
      continue;
    size_t j = slot_of(w->ptr, ncap);
    while (n[j])
      j = (j + 1) & (ncap - 1);
    n[j] = w;
  }
  if (permanent)
    fgc_sysfree(permanent, permanent_cap * sizeof *permanent);
  else
    fgc_fixalloc_init(&permanent_records, sizeof(struct gc_weak));
  permanent = n;
  permanent_cap = ncap;
  return true;
}

static gc_weak *permanent_handle(uintptr_t p) {
  struct gc_weak *w = NULL;
  fgc_lock(&permanent_lock);
  if (2 * (permanent_len + 1) > permanent_cap && !grow_permanent())
    goto out;
  size_t i = slot_of(p, permanent_cap);
  while (permanent[i] && permanent[i]->ptr != p)
    i = (i + 1) & (permanent_cap - 1);
  w = permanent[i];
  if (!w) {
    w = fgc_fixalloc_alloc(&permanent_records);
    if (w) {
      w->ptr = p;
      w->unused = 0;
      permanent[i] = w;
      permanent_len++;
    }
  }
out:
  fgc_unlock(&permanent_lock);
  if (!w)
    fgc_misuse(GC_ERR_NOMEM, "gc_weak_make");
  return w;
}

/* --- heap handles ------------------------------------------------------------
 */

static gc_weak *existing(struct span *s, uintptr_t offset) {
  struct special *sp = fgc_special_find(s, offset, SPECIAL_WEAK);
  return sp ? ((struct special_weak *)sp)->handle : NULL;
}

gc_weak *gc_weak_make(void *ptr) {
  static const char call[] = "gc_weak_make";
  if (!ptr || !fgc_register_caller(call))
    return NULL;
  uintptr_t p = (uintptr_t)ptr;
  struct span *s;
  uint32_t i;
  int kind = fgc_classify(ptr, &s, &i);
  if (kind == FGC_IMMORTAL)
    return permanent_handle(p);
  if (kind != GC_OK) {
    fgc_misuse(kind, call);
    return NULL;
  }
  uintptr_t offset = p - s->base;
  gc_weak *w = existing(s, offset);
  if (w)
    return w;
  /* The new handle and record are reachable only from this frame until the
   * special is linked: a collection in between keeps them. */
  w = gc_alloc_noscan(sizeof *w);
  struct special_weak *sw = (struct special_weak *)fgc_special_alloc();
  if (!w || !sw) {
    if (sw)
      fgc_special_free(&sw->s);
    fgc_misuse(GC_ERR_NOMEM, call);
    return NULL;
  }
  w->ptr = p;
  sw->s.offset = offset;
  sw->s.kind = SPECIAL_WEAK;
  sw->s.reported = 0;
  sw->handle = w;
  if (!fgc_special_add(s, &sw->s, false)) {
    fgc_special_free(&sw->s);
    w = existing(s, offset);
  }
  gc_keep_alive(ptr);
  gc_keep_alive(w);
  return w;
}

/* The caller is registered first: the pointer returned must be on a stack
 * that collections scan before they clear the handle (invariant 4). */
void *gc_weak_value(gc_weak *w) {
  if (!w || !fgc_register_caller("gc_weak_value"))
    return NULL;
  return (void *)__atomic_load_n(&w->ptr, __ATOMIC_ACQUIRE);
}

/* --- bdwgc's disappearing links -------------------------------------------- *
 *
 * A link is a word of the program's (void **link) that the collector clears
 * when an object dies: a weak reference of bdwgc's API, built on the same
 * specials as gc_weak handles.  A short link (GC_general_register_
 * disappearing_link) is cleared when the object is first found unreachable,
 * before any finalizer runs, as a weak handle is; a long link
 * (GC_register_long_link) only once the object is truly gone, after any
 * finalizer that might bring it back.
 *
 * Each link address is registered at most once per kind, so a table per
 * kind maps it to its special (unregistering and moving go by the link).
 * A link that lies inside a heap object which dies, or is released with
 * gc_free, is dropped, never written: bdwgc's "a link disappears when the
 * object containing it is collected".  links_lock guards the tables; the
 * collector takes it with the world stopped, when no thread can hold it.
 */

struct link_table {
  struct special_link **slots; /* NULL or TOMBSTONE or a registration */
  size_t cap, len, used;       /* used counts tombstones too */
};

static void len_add(struct link_table *t, ptrdiff_t d) { t->len += (size_t)d; }

#define TOMBSTONE ((struct special_link *)1)

static fgc_mutex links_lock = FGC_MUTEX_INIT;
static struct link_table tables[2]; /* [is_long] */

static size_t link_slot(void **link, size_t cap) {
  return (size_t)(((uintptr_t)link * 0x9e3779b97f4a7c15ull) >> 13) & (cap - 1);
}

/* The slot holding link, or the empty slot where it would go; links_lock
 * held, and the table not empty. */
static struct special_link **link_find(struct link_table *t, void **link) {
  size_t i = link_slot(link, t->cap);
  struct special_link **free_slot = NULL;
  for (;; i = (i + 1) & (t->cap - 1)) {
    struct special_link *l = t->slots[i];
    if (!l)
      return free_slot ? free_slot : &t->slots[i];
    if (l == TOMBSTONE) {
      if (!free_slot)
        free_slot = &t->slots[i];
    } else if (l->link == link) {
      return &t->slots[i];
    }
  }
}

static bool link_grow(struct link_table *t) {
  size_t ncap = t->cap ? t->cap * 2 : 256;
  if (t->len * 4 < t->cap)
    ncap = t->cap; /* mostly tombstones: rebuild at the same size */
  struct special_link **n = fgc_sysalloc(ncap * sizeof *n);
  if (!n)
    return false;
  struct link_table old = *t;
  t->slots = n;
  t->cap = ncap;
  t->len = t->used = 0;
  for (size_t i = 0; i < old.cap; i++) {
    struct special_link *l = old.slots[i];
    if (l && l != TOMBSTONE) {
      *link_find(t, l->link) = l;
      len_add(t, 1);
      t->used++;
    }
  }
  if (old.slots)
    fgc_sysfree(old.slots, old.cap * sizeof *old.slots);
  return true;
}

static struct link_table *table_of(const struct special_link *l) {
  return &tables[l->s.kind == SPECIAL_LONG_LINK];
}

static void link_remove_locked(struct special_link *l) {
  struct link_table *t = table_of(l);
  struct special_link **slot = link_find(t, l->link);
  if (*slot == l) {
    *slot = TOMBSTONE;
    len_add(t, -1);
  }
}

/* gc_free's side (fgc_specials_drop_object): it holds links_lock from
 * before it detaches the object's specials until it has cleared and
 * forgotten its links, so no unregistration or move can take a record it
 * is freeing.  links_lock comes after the heap lock (gc_free of a large
 * object holds it) and before the span special locks. */
void fgc_links_lock(void) { fgc_lock(&links_lock); }
void fgc_links_unlock(void) { fgc_unlock(&links_lock); }

/* Clears a dropped link and takes it out of its table; links_lock held. */
void fgc_link_forget_locked(struct special_link *l) {
  *l->link = NULL;
  link_remove_locked(l);
}

/* Detaches a registration from its object; links_lock held. */
static struct special_link *link_take(void **link, bool is_long) {
  struct link_table *t = &tables[is_long];
  if (!t->cap)
    return NULL;
  struct special_link **slot = link_find(t, link);
  struct special_link *l = *slot;
  if (!l || l == TOMBSTONE)
    return NULL;
  *slot = TOMBSTONE;
  len_add(t, -1);
  fgc_special_unlink(span_of(~l->hidden_obj), &l->s);
  return l;
}

/* gc_free's other side: drops the registrations whose link lies in the
 * freed object [lo, hi), as a collection drops those in a dead object,
 * since its memory is reused.  A small object's words are looked up one by
 * one, a table smaller than that is scanned whole. */
void fgc_links_drop_inside(uintptr_t lo, uintptr_t hi) {
  if (__atomic_load_n(&tables[0].len, __ATOMIC_RELAXED) == 0 &&
      __atomic_load_n(&tables[1].len, __ATOMIC_RELAXED) == 0)
    return;
  struct special *dropped = NULL;
  fgc_lock(&links_lock);
  for (int is_long = 0; is_long < 2; is_long++) {
    struct link_table *t = &tables[is_long];
    if (t->len == 0)
      continue;
    if ((hi - lo) / WORD_SIZE < t->cap) {
      for (uintptr_t p = lo; p < hi; p += WORD_SIZE) {
        struct special_link *l = link_take((void **)p, is_long);
        if (l) {
          l->s.next = dropped;
          dropped = &l->s;
        }
      }
      continue;
    }
    for (size_t i = 0; i < t->cap; i++) {
      struct special_link *l = t->slots[i];
      if (!l || l == TOMBSTONE || (uintptr_t)l->link - lo >= hi - lo)
        continue;
      l = link_take(l->link, is_long);
      l->s.next = dropped;
      dropped = &l->s;
    }
  }
  fgc_unlock(&links_lock);
  while (dropped) {
    struct special *next = dropped->next;
    fgc_special_free(dropped);
    dropped = next;
  }
}

int fgc_link_register(void **link, void *obj, bool is_long) {
  if (!fgc_register_caller("GC_general_register_disappearing_link"))
    return GC_ERR_NOMEM;
  struct span *s;
  uint32_t i;
  if (fgc_classify(obj, &s, &i) != GC_OK)
    return GC_ERR_NOT_IN_HEAP;
  struct special_link *l = (struct special_link *)fgc_special_alloc();
  if (!l)
    return GC_ERR_NOMEM;
  l->s.offset = (uintptr_t)obj - s->base;
  l->s.kind = is_long ? SPECIAL_LONG_LINK : SPECIAL_LINK;
  l->s.reported = 0;
  l->s.mode = 0;
  l->link = link;
  l->hidden_obj = ~(uintptr_t)obj;
  struct link_table *t = &tables[is_long];
  fgc_lock(&links_lock);
  int err = GC_OK;
  if (2 * (t->used + 1) > t->cap && !link_grow(t))
    err = GC_ERR_NOMEM;
  struct special_link *old = err ? NULL : link_take(link, is_long);
  if (err == GC_OK) {
    /* bdwgc: a link registered again tracks the new object (and the
     * caller hears GC_DUPLICATE). */
    struct special_link **slot = link_find(t, link);
    if (!*slot)
      t->used++;
    *slot = l;
    len_add(t, 1);
    /* Several links may share an object, and so an offset and kind. */
    fgc_special_add(s, &l->s, true);
    if (old)
      err = FGC_DUPLICATE;
  }
  fgc_unlock(&links_lock);
  if (old)
    fgc_special_free(&old->s);
  if (err != GC_OK && err != FGC_DUPLICATE)
    fgc_special_free(&l->s);
  gc_keep_alive(obj);
  return err;
}

bool fgc_link_unregister(void **link, bool is_long) {
  if (!fgc_register_caller("GC_unregister_disappearing_link"))
    return false;
  fgc_lock(&links_lock);
  struct special_link *l = link_take(link, is_long);
  fgc_unlock(&links_lock);
  if (l)
    fgc_special_free(&l->s);
  return l != NULL;
}

/* links_lock held. */
static int move_locked(struct link_table *t, void **link, void **new_link) {
  if (!t->cap)
    return GC_ERR_NOT_FOUND;
  /* Grown first: growing moves every slot. */
  if (2 * (t->used + 1) > t->cap && !link_grow(t))
    return GC_ERR_NOMEM;
  struct special_link **slot = link_find(t, link);
  if (!*slot || *slot == TOMBSTONE)
    return GC_ERR_NOT_FOUND;
  if (new_link == link)
    return GC_OK;
  struct special_link **to = link_find(t, new_link);
  if (*to && *to != TOMBSTONE)
    return FGC_DUPLICATE;
  struct special_link *l = *slot;
  *slot = TOMBSTONE;
  if (!*to)
    t->used++;
  *to = l;
  l->link = new_link;
  return GC_OK;
}

int fgc_link_move(void **link, void **new_link, bool is_long) {
  fgc_ensure_init();
  struct link_table *t = &tables[is_long];
  fgc_lock(&links_lock);
  int err = move_locked(t, link, new_link);
  fgc_unlock(&links_lock);
  return err;
}

/* Whether the word at p lies in a heap object that the last mark did not
 * reach (world stopped, specials processed). */
static bool in_dead_object(void **p) {
  struct span *s = span_of((uintptr_t)p);
  if (!s || span_state(s) != SPAN_IN_USE)
    return false;
  uint32_t i = span_object_index(s, (uintptr_t)p);
  return i < s->nelems && !s->marks[i];
}

/* Drops the registration in slot i, l, whose object is in s (world
 * stopped, links_lock held). */
static void drop_slot(struct link_table *t, size_t i, struct span *s,
                      struct special_link *l) {
  t->slots[i] = TOMBSTONE;
  len_add(t, -1);
  fgc_special_unlink(s, &l->s);
  fgc_special_free(&l->s);
}

/* After the specials of dead objects are processed (world stopped): drops
 * the links that lie in dead objects, and clears the long links whose
 * object is dead for good (not resurrected by a finalizer). */
void fgc_links_process(void) {
  fgc_lock(&links_lock);
  for (int is_long = 0; is_long < 2; is_long++) {
    struct link_table *t = &tables[is_long];
    for (size_t i = 0; i < t->cap && t->len > 0; i++) {
      struct special_link *l = t->slots[i];
      if (!l || l == TOMBSTONE)
        continue;
      uintptr_t obj = ~l->hidden_obj;
      struct span *s = span_of(obj);
      bool obj_dead = !s->marks[span_object_index(s, obj)];
      bool dangling = in_dead_object(l->link);
      if (!dangling && !(is_long && obj_dead))
        continue;
      if (!dangling)
        *l->link = NULL;
      drop_slot(t, i, s, l);
    }
  }
  fgc_unlock(&links_lock);
}

bool fgc_short_links_registered(void) { return tables[0].len > 0; }

/* bdwgc's first step after marking: every short link whose object is
 * unmarked is cleared and dropped, even one inside an unmarked object (a
 * finalizer may revive that object, and must find the link cleared). */
void fgc_links_clear_short(void) {
  struct link_table *t = &tables[0];
  fgc_lock(&links_lock);
  for (size_t i = 0; i < t->cap && t->len > 0; i++) {
    struct special_link *l = t->slots[i];
    if (!l || l == TOMBSTONE)
      continue;
    uintptr_t obj = ~l->hidden_obj;
    struct span *s = span_of(obj);
    if (s->marks[span_object_index(s, obj)])
      continue;
    *l->link = NULL;
    drop_slot(t, i, s, l);
  }
  fgc_unlock(&links_lock);
}

/* For fork: links_lock is taken before any span's specials lock (a
 * registration adds its special under it), permanent_lock before the
 * record allocator's. */
void fgc_weak_lock_all(void) {
  fgc_lock(&links_lock);
  fgc_lock(&permanent_lock);
}

void fgc_weak_unlock_all(void) {
  fgc_unlock(&permanent_lock);
  fgc_unlock(&links_lock);
}
