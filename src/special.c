/*
 * Specials: records attached to heap objects (Go's mspan.specials in
 * mheap.go): finalizers, weak handles and cleanups are kinds of one record.
 *
 * Invariants:
 *   - Each span keeps one singly linked list of its specials, sorted by
 *     (offset, kind), where offset is the registered pointer minus the
 *     span's base.  Several specials of different kinds may share an
 *     offset; a tiny block may carry specials at several offsets.
 *   - A list changes only under its span's special lock (a striped
 *     spinlock chosen by the span's address), or with the world stopped.
 *     specials_tail is the last node, or NULL for an empty list.
 *   - page_specials has the bit of a span's first page set iff the span's
 *     list is not empty, so the collector visits only spans with specials
 *     (Go's pageSpecials).  Bits change with atomic operations under the
 *     span's special lock.
 *   - A special is attached only to a live object, and the collector
 *     processes the specials of every object it finds unreachable before
 *     anything is swept, so a special never outlives its object: a freed
 *     slot carries none.  gc_free drops the specials of what it frees.
 *   - Records come from a fixalloc: never scanned, never in the heap.
 *
 * What the collector does with them (Go's markrootSpans and the sweeper's
 * special handling, mgcmark.go and mgcsweep.go):
 *   - Marking: for each finalizer, the object's contents are scanned but
 *     the object itself is not marked, and the finalizer's arg is a root
 *     (while bdwgc's short links exist, the contents in a second phase:
 *     see fgc_specials_mark).
 *     So an object reachable only from itself, or from its own arg, stays
 *     white and its finalizer never runs (a cycle), while everything a
 *     finalizable object reaches stays alive for its finalizer.  A
 *     cleanup's arg is a root; a weak special keeps its handle alive.
 *   - After marking, before anything is swept: see process_object.  The
 *     records of queued finalizers and cleanups move to their queues.
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"

#define SPECIAL_LOCKS 64
#define RECORD_BATCH 32 /* records a thread takes from the fixalloc at once */

static fgc_spinlock special_locks[SPECIAL_LOCKS];
static struct fixalloc special_records;

/* unlink() finds a node's predecessor from the link that points to it. */
_Static_assert(offsetof(struct special, next) == 0,
               "next must be the first field of struct special");

int fgc_special_init(size_t reserved_pages) {
  fgc_fixalloc_init(&special_records, sizeof(struct special_finalizer));
  size_t words = (reserved_pages + 63) / 64;
  fgc_heap->page_specials = fgc_prim_map(words * sizeof(uint64_t));
  return fgc_heap->page_specials ? 0 : -1;
}

static fgc_spinlock *lock_of(const struct span *s) {
  return &special_locks[(s->base >> PAGE_SHIFT) % SPECIAL_LOCKS];
}

static size_t page_of(const struct span *s) {
  return (s->base - fgc_heap->arena_lo) >> PAGE_SHIFT;
}

static void set_has_specials(const struct span *s, bool on) {
  size_t p = page_of(s);
  uint64_t bit = (uint64_t)1 << (p % 64);
  if (on)
    __atomic_fetch_or(&fgc_heap->page_specials[p / 64], bit, __ATOMIC_RELAXED);
  else
    __atomic_fetch_and(&fgc_heap->page_specials[p / 64], ~bit,
                       __ATOMIC_RELAXED);
}

/* Records come from a per-thread cache (struct cache), refilled and
 * drained in batches, so that setting and clearing a finalizer takes no
 * lock but the span's. */
struct special *fgc_special_alloc(void) {
  struct gc_thread *t = fgc_self;
  if (!t)
    return fgc_fixalloc_alloc(&special_records);
  struct cache *c = t->cache;
  if (!c->special_free) {
    c->special_free = fgc_fixalloc_alloc_list(&special_records, RECORD_BATCH);
    c->special_free_len = 0;
    for (struct special *sp = c->special_free; sp; sp = sp->next)
      c->special_free_len++;
    if (!c->special_free)
      return NULL;
  }
  struct special *sp = c->special_free;
  c->special_free = sp->next;
  c->special_free_len--;
  return sp;
}

void fgc_special_free(struct special *sp) {
  struct gc_thread *t = fgc_self;
  if (!t) {
    fgc_fixalloc_free(&special_records, sp);
    return;
  }
  struct cache *c = t->cache;
  sp->next = c->special_free;
  c->special_free = sp;
  if (++c->special_free_len == 2 * RECORD_BATCH) {
    /* Give back the older half. */
    struct special *keep_tail = sp;
    for (unsigned i = 1; i < RECORD_BATCH; i++)
      keep_tail = keep_tail->next;
    struct special *head = keep_tail->next, *tail = head;
    while (tail->next)
      tail = tail->next;
    keep_tail->next = NULL;
    fgc_fixalloc_free_list(&special_records, head, tail);
    c->special_free_len = RECORD_BATCH;
  }
}

/* Returns a thread's spare records when it exits. */
void fgc_special_cache_release(struct cache *c) {
  struct special *head = c->special_free;
  if (!head)
    return;
  struct special *tail = head;
  while (tail->next)
    tail = tail->next;
  fgc_fixalloc_free_list(&special_records, head, tail);
  c->special_free = NULL;
  c->special_free_len = 0;
}

/* The link that points to the first special at or after (offset, kind):
 * Go's specialFindSplicePoint.  Objects tend to get their specials in
 * address order, so an insertion past the tail is found at once. */
static struct special **splice_point(struct span *s, uintptr_t offset,
                                     int kind) {
  struct special *last = s->specials_tail;
  if (last &&
      (last->offset < offset || (last->offset == offset && last->kind < kind)))
    return &last->next;
  struct special **pp = &s->specials;
  while (*pp && ((*pp)->offset < offset ||
                 ((*pp)->offset == offset && (*pp)->kind < kind)))
    pp = &(*pp)->next;
  return pp;
}

static void link_at(struct span *s, struct special **pp, struct special *sp) {
  sp->next = *pp;
  *pp = sp;
  if (!sp->next)
    s->specials_tail = sp;
}

/* Unlinks the node *pp points to; returns it. */
static struct special *unlink_at(struct span *s, struct special **pp) {
  struct special *sp = *pp;
  *pp = sp->next;
  if (!sp->next)
    s->specials_tail = pp == &s->specials ? NULL : (struct special *)pp;
  return sp;
}

/* Attaches sp (offset and kind set) to s.  Returns false, attaching
 * nothing, if s already has a special of that kind at that offset, unless
 * force (cleanups: several may share an offset). */
bool fgc_special_add(struct span *s, struct special *sp, bool force) {
  fgc_spinlock *l = lock_of(s);
  fgc_spin_lock(l);
  struct special **pp = splice_point(s, sp->offset, sp->kind);
  bool exists =
      !force && *pp && (*pp)->offset == sp->offset && (*pp)->kind == sp->kind;
  if (!exists) {
    if (!s->specials)
      set_has_specials(s, true);
    link_at(s, pp, sp);
  }
  fgc_spin_unlock(l);
  return !exists;
}

/* Attaches sp in place of the special of its kind at its offset, in one
 * lock hold; returns the one replaced, or NULL. */
struct special *fgc_special_replace(struct span *s, struct special *sp) {
  fgc_spinlock *l = lock_of(s);
  fgc_spin_lock(l);
  struct special **pp = splice_point(s, sp->offset, sp->kind);
  struct special *old = NULL;
  if (*pp && (*pp)->offset == sp->offset && (*pp)->kind == sp->kind)
    old = unlink_at(s, pp);
  if (!s->specials)
    set_has_specials(s, true);
  link_at(s, pp, sp);
  fgc_spin_unlock(l);
  return old;
}

/* The special of that kind at that offset, or NULL.  The caller keeps the
 * object reachable, so the record stays attached while it is used. */
struct special *fgc_special_find(struct span *s, uintptr_t offset, int kind) {
  fgc_spinlock *l = lock_of(s);
  fgc_spin_lock(l);
  struct special **pp = splice_point(s, offset, kind);
  struct special *sp =
      *pp && (*pp)->offset == offset && (*pp)->kind == kind ? *pp : NULL;
  fgc_spin_unlock(l);
  return sp;
}

/* Detaches and frees the cleanup with that id at that offset; false if
 * there is none (it ran, was queued, or was stopped). */
bool fgc_special_remove_cleanup(struct span *s, uintptr_t offset, uint64_t id) {
  fgc_spinlock *l = lock_of(s);
  fgc_spin_lock(l);
  struct special **pp = splice_point(s, offset, SPECIAL_CLEANUP);
  struct special *found = NULL;
  for (; *pp && (*pp)->offset == offset && (*pp)->kind == SPECIAL_CLEANUP;
       pp = &(*pp)->next) {
    if (((struct special_cleanup *)*pp)->id == id) {
      found = unlink_at(s, pp);
      if (!s->specials)
        set_has_specials(s, false);
      break;
    }
  }
  fgc_spin_unlock(l);
  if (found)
    fgc_special_free(found);
  return found != NULL;
}

/* Detaches and returns the special of that kind at that offset, or NULL. */
struct special *fgc_special_remove(struct span *s, uintptr_t offset, int kind) {
  fgc_spinlock *l = lock_of(s);
  fgc_spin_lock(l);
  struct special **pp = splice_point(s, offset, kind);
  struct special *sp = NULL;
  if (*pp && (*pp)->offset == offset && (*pp)->kind == kind) {
    sp = unlink_at(s, pp);
    if (!s->specials)
      set_has_specials(s, false);
  }
  fgc_spin_unlock(l);
  return sp;
}

static void clear_handle(struct special_weak *w) {
  __atomic_store_n(&w->handle->ptr, 0, __ATOMIC_RELEASE);
}

/* Whether the run of specials from sp up to offset hi has a link. */
static bool has_links(const struct special *sp, uintptr_t hi) {
  for (; sp && sp->offset < hi; sp = sp->next)
    if (sp->kind == SPECIAL_LINK || sp->kind == SPECIAL_LONG_LINK)
      return true;
  return false;
}

/* Drops every special of the object at base (for gc_free), without running
 * or queueing anything; its weak pointers read NULL from now on. */
void fgc_specials_drop_object(struct span *s, uintptr_t base) {
  size_t p = page_of(s);
  if (!(__atomic_load_n(&fgc_heap->page_specials[p / 64], __ATOMIC_RELAXED) &
        ((uint64_t)1 << (p % 64))))
    return;
  /* Links are unregistered under links_lock, which comes before the span's
   * lock: if the object has links, start again holding it, so that no
   * other thread takes one of these records meanwhile. */
  uintptr_t lo = base - s->base, hi = lo + s->elemsize;
  struct special *dropped = NULL;
  fgc_spinlock *l = lock_of(s);
  bool links = false;
  for (;;) {
    if (links)
      fgc_links_lock();
    fgc_spin_lock(l);
    struct special **pp = splice_point(s, lo, 0);
    if (!links && has_links(*pp, hi)) {
      fgc_spin_unlock(l);
      links = true;
      continue;
    }
    while (*pp && (*pp)->offset < hi) {
      struct special *sp = unlink_at(s, pp);
      sp->next = dropped;
      dropped = sp;
    }
    if (!s->specials)
      set_has_specials(s, false);
    fgc_spin_unlock(l);
    break;
  }
  for (struct special *sp = dropped; sp; sp = sp->next) {
    if (sp->kind == SPECIAL_WEAK)
      clear_handle((struct special_weak *)sp);
    else if (sp->kind == SPECIAL_LINK || sp->kind == SPECIAL_LONG_LINK)
      fgc_link_forget_locked((struct special_link *)sp);
  }
  if (links)
    fgc_links_unlock();
  while (dropped) {
    struct special *next = dropped->next;
    fgc_special_free(dropped);
    dropped = next;
  }
}

/* Calls fn for every span that has specials.  World stopped. */
void fgc_specials_for_each_span(void (*fn)(struct span *s, void *arg),
                                void *arg) {
  struct heap *h = fgc_heap;
  size_t pages = (h->arena_used - h->arena_lo) >> PAGE_SHIFT;
  for (size_t w = 0; w < (pages + 63) / 64; w++) {
    uint64_t bits = h->page_specials[w];
    while (bits) {
      size_t page = w * 64 + (size_t)__builtin_ctzll(bits);
      bits &= bits - 1;
      fn(h->page_map[page], arg);
    }
  }
}

static uintptr_t object_base(const struct span *s, uintptr_t offset) {
  return s->base +
         (uintptr_t)span_object_index(s, s->base + offset) * s->elemsize;
}

static void mark_word(void *p) {
  fgc_mark_range((uintptr_t)p, (uintptr_t)p + sizeof(void *));
}

/* An object's contents, but no word pointing into the object itself
 * (GC_register_finalizer_ignore_self). */
static void mark_contents_but_self(const struct span *s, uintptr_t base) {
  if (s->noscan)
    return;
  uintptr_t end = base + s->elemsize;
  for (uintptr_t p = base; p < end; p += sizeof(void *)) {
    uintptr_t w = *(uintptr_t *)p;
    if (w < base || w >= end)
      mark_word((void *)p);
  }
}

/* Marks what an ordered finalizer keeps for its object: the contents,
 * not the object itself. */
static void mark_for_finalizer(struct span *s, struct special *sp,
                               uintptr_t base) {
  /* bdwgc marks an "unreachable" object's contents as an ordered one's:
   * what it reaches waits for it. */
  if (sp->mode == FIN_ORDERED || sp->mode == FIN_UNREACHABLE)
    fgc_mark_object_contents(s, base);
  else if (sp->mode == FIN_IGNORE_SELF)
    mark_contents_but_self(s, base);
}

static void mark_span_specials(struct span *s, void *arg) {
  bool defer_ordered = *(bool *)arg;
  for (struct special *sp = s->specials; sp; sp = sp->next) {
    uintptr_t base = object_base(s, sp->offset);
    switch (sp->kind) {
    case SPECIAL_FINALIZER:
      if (!defer_ordered)
        mark_for_finalizer(s, sp, base);
      mark_word(&((struct special_finalizer *)sp)->arg);
      break;
    case SPECIAL_WEAK: mark_word(&((struct special_weak *)sp)->handle); break;
    case SPECIAL_CLEANUP:
      mark_word(&((struct special_cleanup *)sp)->arg);
      break;
    case SPECIAL_ROOT: mark_word(&base); break;
    }
  }
}

static void mark_span_ordered(struct span *s, void *arg) {
  (void)arg;
  for (struct special *sp = s->specials; sp; sp = sp->next) {
    uintptr_t base = object_base(s, sp->offset);
    if (sp->kind == SPECIAL_FINALIZER && !s->marks[span_object_index(s, base)])
      mark_for_finalizer(s, sp, base);
  }
}

/* Whether the contents of finalizable objects wait for the second phase. */
static bool ordered_deferred;

/* Marks what the specials keep alive (see the top of the file), with the
 * roots.  While short links (bdwgc's) are registered, what ordered
 * finalizers keep is marked in a second phase instead, so that the links
 * to objects reachable only from finalizable objects are cleared first, as
 * bdwgc does; without them no one can tell the phases apart, and one
 * marking pass is cheaper. */
void fgc_specials_mark(void) {
  ordered_deferred = fgc_short_links_registered();
  fgc_specials_for_each_span(mark_span_specials, &ordered_deferred);
}

/* The second phase, after the first marking finished: clears the short
 * links to unmarked objects, then marks what ordered finalizers keep.
 * Returns the bytes it marked. */
size_t fgc_specials_mark_ordered(void) {
  if (!ordered_deferred)
    return 0;
  fgc_links_clear_short();
  fgc_specials_for_each_span(mark_span_ordered, NULL);
  return fgc_mark_finish();
}

/* Detaches sp from s (world stopped, or its object kept alive). */
void fgc_special_unlink(struct span *s, struct special *sp) {
  fgc_spinlock *l = lock_of(s);
  fgc_spin_lock(l);
  struct special **pp = splice_point(s, sp->offset, sp->kind);
  while (*pp != sp)
    pp = &(*pp)->next;
  unlink_at(s, pp);
  if (!s->specials)
    set_has_specials(s, false);
  fgc_spin_unlock(l);
}

/* --- after marking: what happens to unreachable objects ----------------- */

/* Finalizers of bdwgc's "unreachable" kind wait here until it is known
 * whether another finalizable object still reaches their object. */
struct deferred {
  struct special_finalizer *f;
  struct span *s;
  uint32_t index;
};

struct process_state {
  size_t resurrected;        /* bytes */
  struct deferred *deferred; /* f == NULL: an object whose cleanups wait */
  size_t ndeferred, cap;
  bool rescan;        /* some no-order finalizer was queued */
  bool hold_cleanups; /* no-order finalizers exist: see process_object */
};

static void defer(struct process_state *st, struct span *s, uint32_t index,
                  struct special_finalizer *f) {
  if (st->ndeferred == st->cap) {
    size_t ncap = st->cap ? 2 * st->cap : 64;
    struct deferred *n = fgc_sysalloc(ncap * sizeof *n);
    if (!n)
      fgc_fatal("out of memory processing finalizers");
    if (st->deferred) {
      memcpy(n, st->deferred, st->ndeferred * sizeof *n);
      fgc_sysfree(st->deferred, st->cap * sizeof *n);
    }
    st->deferred = n;
    st->cap = ncap;
  }
  st->deferred[st->ndeferred++] = (struct deferred){f, s, index};
}

/* Handles the specials of one unmarked object, the run [*pp, end) of s's
 * list (Go's sweeper, mgcsweep.go; bdwgc's GC_finalize for the links):
 *   - weak handles are cleared first, whatever happens next: before any
 *     finalizer runs (short links were, by fgc_specials_mark_ordered);
 *   - with a finalizer: the object is resurrected for it and its finalizer
 *     queued; its cleanups and long links stay, for when it is unreachable
 *     again without a finalizer.  A finalizer of the "unreachable" kind is
 *     deferred (see fgc_specials_process);
 *   - without: its cleanups are queued, and the sweep frees it.  Its long
 *     links are cleared by fgc_links_process.  But while bdwgc's no-order
 *     finalizers exist, the object may yet be reached from one queued in
 *     this pass (and so live on): its cleanups wait for that marking. */
static void process_object(struct process_state *st, struct span *s,
                           struct special **pp, uintptr_t end, uint32_t index) {
  struct special_finalizer *fin = NULL;
  for (struct special *sp = *pp; sp && sp->offset < end; sp = sp->next)
    if (sp->kind == SPECIAL_FINALIZER)
      fin = (struct special_finalizer *)sp;
  bool held = false;
  if (fin && fin->s.mode != FIN_UNREACHABLE) {
    s->marks[index] = MARK_LIVE;
    st->resurrected += s->elemsize;
    st->rescan |= fin->s.mode == FIN_NO_ORDER;
  }
  while (*pp && (*pp)->offset < end) {
    struct special *sp = *pp;
    void *ptr = (void *)(s->base + sp->offset);
    switch (sp->kind) {
    case SPECIAL_FINALIZER:
      if (sp->mode == FIN_UNREACHABLE)
        defer(st, s, index, (struct special_finalizer *)unlink_at(s, pp));
      else
        fgc_finq_push((struct special_finalizer *)unlink_at(s, pp), ptr);
      break;
    case SPECIAL_WEAK:
      clear_handle((struct special_weak *)sp);
      fgc_special_free(unlink_at(s, pp));
      break;
    case SPECIAL_CLEANUP:
      if (fin || st->hold_cleanups) {
        if (!fin && !held)
          defer(st, s, index, NULL);
        held = !fin;
        pp = &sp->next;
      } else {
        fgc_cleanupq_push((struct special_cleanup *)unlink_at(s, pp));
      }
      break;
    default: /* links (see fgc_links_process), roots (never unmarked) */
      pp = &sp->next;
      break;
    }
  }
}

static void process_span(struct span *s, void *arg) {
  struct process_state *st = arg;
  struct special **pp = &s->specials;
  while (*pp) {
    uint32_t index = span_object_index(s, s->base + (*pp)->offset);
    uintptr_t end = (uintptr_t)(index + 1) * s->elemsize;
    if (!s->marks[index])
      process_object(st, s, pp, end, index);
    while (*pp && (*pp)->offset < end)
      pp = &(*pp)->next;
  }
  if (!s->specials)
    set_has_specials(s, false);
}

/* Marks the contents of the objects just queued with no-order finalizers,
 * so that what they reach survives for them: bdwgc does the same when
 * GC_java_finalization is on, its default.  (The contents of the deferred
 * objects were marked with the roots, as ordered ones are.) */
static void mark_for_unordered(void) {
  for (struct special_finalizer *f = fgc_finq_queued_this_cycle(); f;
       f = (struct special_finalizer *)f->s.next)
    if (f->s.mode == FIN_NO_ORDER) {
      struct span *s = span_of((uintptr_t)f->obj);
      fgc_mark_object_contents(s, object_base(s, (uintptr_t)f->obj - s->base));
    }
}

/* After marking, with the world stopped: queues the finalizers and cleanups
 * of unreachable objects, resurrects the objects with finalizers, clears
 * weak handles and links.  Returns the bytes that marking from
 * resurrected objects adds to the live heap. */
/* Queues the cleanups of the object at index of s (world stopped). */
static void queue_cleanups(struct span *s, uint32_t index) {
  uintptr_t lo = (uintptr_t)index * s->elemsize, hi = lo + s->elemsize;
  struct special **pp = splice_point(s, lo, 0);
  while (*pp && (*pp)->offset < hi) {
    if ((*pp)->kind == SPECIAL_CLEANUP)
      fgc_cleanupq_push((struct special_cleanup *)unlink_at(s, pp));
    else
      pp = &(*pp)->next;
  }
  if (!s->specials)
    set_has_specials(s, false);
}

size_t fgc_specials_process(void) {
  struct process_state st = {0};
  st.hold_cleanups = fgc_no_order_finalizers_set();
  fgc_finq_begin_cycle();
  fgc_specials_for_each_span(process_span, &st);
  size_t marked = st.resurrected;
  if (st.rescan) {
    mark_for_unordered();
    marked += fgc_mark_finish();
  }
  /* A deferred object that the marking above reached is reachable from
   * another finalizable object: it goes back on its span (bdwgc puts it
   * back in its table).  The others are finalized.  Held cleanups run if
   * their object is still unreached. */
  for (size_t i = 0; i < st.ndeferred; i++) {
    struct deferred *d = &st.deferred[i];
    if (!d->f) {
      if (!d->s->marks[d->index])
        queue_cleanups(d->s, d->index);
    } else if (d->s->marks[d->index]) {
      fgc_special_add(d->s, &d->f->s, false);
    } else {
      d->s->marks[d->index] = MARK_LIVE;
      marked += d->s->elemsize;
      fgc_finq_push(d->f, (void *)(d->s->base + d->f->s.offset));
    }
  }
  if (st.deferred)
    fgc_sysfree(st.deferred, st.cap * sizeof *st.deferred);
  fgc_links_process();
  return marked;
}

void fgc_special_lock_all(void) {
  for (int i = 0; i < SPECIAL_LOCKS; i++)
    fgc_spin_lock(&special_locks[i]);
}

void fgc_special_unlock_all(void) {
  for (int i = 0; i < SPECIAL_LOCKS; i++)
    fgc_spin_unlock(&special_locks[i]);
}
