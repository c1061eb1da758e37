/*
 * FINALGCDEBUG=checkfinalizers=1 (Go 1.25's GODEBUG=checkfinalizers):
 * reports every object whose finalizer can never run because the object is
 * reachable from itself (a cycle through it, or a pointer to itself) or
 * from its finalizer's own arg, and every object whose cleanup can never
 * run because the cleanup's arg reaches it.  Such an object stays marked by the
 * scan of its own contents or arg (special.c), so it is never found
 * unreachable.
 *
 * After each mark, with the world stopped, it walks the heap from each
 * finalizable object's contents and from its arg, separately from the real
 * mark, with a visited set of its own, and stops at the object itself.  It
 * costs a traversal per finalizer per collection: a debugging aid, not for
 * production.  Each finalizer is reported once, after the world restarts.
 * Finalizers with no order (bdwgc's GC_register_finalizer_no_order) run in
 * cycles, and ignore-self ones (GC_register_finalizer_ignore_self) despite
 * pointers to their object from itself: neither is reported for those.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>

#include "internal.h"

#define VISITED_BITS 20 /* up to a million objects per finalizer */
#define MAX_VISITS ((size_t)1 << (VISITED_BITS - 1))
#define MAX_REPORTS 50

struct visited_slot {
  uintptr_t base;
  uint64_t generation;
};

/* Words to scan: of a typed object, only those its layout marks as
 * pointers (all, for a NULL layout), as the marker does. */
struct range {
  uintptr_t lo, hi;
  const struct gc_layout *layout;
};

/* The range of the object at base in s. */
static struct range object_range(const struct span *s, uintptr_t base) {
  uintptr_t hi = base + s->elemsize;
  if (!s->typed)
    return (struct range){base, hi, NULL};
  hi -= sizeof(gc_layout);
  return (struct range){base, hi, *(const struct gc_layout *const *)hi};
}

static struct range word_range(void *const *word) {
  return (struct range){(uintptr_t)word, (uintptr_t)(word + 1), NULL};
}

static struct visited_slot *visited;
static uint64_t generation;
static struct range *work; /* objects still to scan */
static size_t reports;

/* Inserts base into the visited set; false if it was there. */
static bool visit(uintptr_t base) {
  size_t mask = ((size_t)1 << VISITED_BITS) - 1;
  size_t i = (size_t)(base * 0x9e3779b97f4a7c15ull >> 20) & mask;
  while (visited[i].generation == generation) {
    if (visited[i].base == base)
      return false;
    i = (i + 1) & mask;
  }
  visited[i] = (struct visited_slot){base, generation};
  return true;
}

/* Looks for target in the objects reachable from the words of r, leaving
 * out the words of r that point into [target, target + skip) (an
 * ignore-self finalizer's object pointing to itself). */
static bool reaches(struct range r, uintptr_t target, size_t skip) {
  generation++;
  size_t top = 0, visits = 0;
  for (;;) {
    for (uintptr_t p = (r.lo + 7) & ~(uintptr_t)7; p + 8 <= r.hi; p += 8) {
      if (r.layout && !layout_is_pointer(r.layout, (p - r.lo) / WORD_SIZE))
        continue;
      uintptr_t w = *(uintptr_t *)p;
      if (w - target < skip)
        continue;
      struct span *s = span_of(w);
      if (!s || s->state != SPAN_IN_USE)
        continue;
      uint32_t i = span_object_index(s, w);
      /* Not a slot gc_free released: under clobberfree its layout word is
       * garbage, and the marker skips it too. */
      if (!span_slot_is_object(s, i) || s->marks[i] == MARK_FREED)
        continue;
      uintptr_t base = s->base + (uintptr_t)i * s->elemsize;
      if (base == target)
        return true;
      if (s->noscan || visits == MAX_VISITS || !visit(base))
        continue;
      visits++;
      work[top++] = object_range(s, base);
    }
    if (top == 0)
      return false;
    skip = 0;
    r = work[--top];
  }
}

/* Reports found with the world stopped, printed once it runs again
 * (fgc_checkfinalizers_report): dladdr takes the dynamic loader's lock,
 * and printing stdio's, which a stopped thread may hold.  world_lock. */
struct report {
  uintptr_t base;
  size_t size;
  uintptr_t registered;
  void *fn;
  const char *from;
};
static struct report pending[MAX_REPORTS + 1]; /* the last: "too many" */
static size_t pending_len;

static void report(uintptr_t base, size_t size, uintptr_t registered, void *fn,
                   const char *from) {
  pending[pending_len++] = (struct report){base, size, registered, fn, from};
}

void fgc_checkfinalizers_report(void) {
  struct report r[MAX_REPORTS + 1];
  fgc_world_lock();
  size_t n = pending_len;
  memcpy(r, pending, n * sizeof *r);
  pending_len = 0;
  fgc_world_unlock();
  for (size_t i = 0; i < n; i++) {
    if (!r[i].from) {
      fgc_message("checkfinalizers: too many reports; the rest are silent");
      continue;
    }
    Dl_info info;
    const char *name = "?";
    if (dladdr(r[i].fn, &info) && info.dli_sname)
      name = info.dli_sname;
    fgc_message("checkfinalizers: object at %p (%zu bytes, registered as %p) "
                "is reachable from %s %s (%p) will never run",
                (void *)r[i].base, r[i].size, (void *)r[i].registered,
                r[i].from, name, r[i].fn);
  }
}

static void check_span(struct span *s, void *arg) {
  (void)arg;
  for (struct special *sp = s->specials; sp; sp = sp->next) {
    if (sp->reported ||
        (sp->kind != SPECIAL_FINALIZER && sp->kind != SPECIAL_CLEANUP))
      continue;
    uint32_t i = span_object_index(s, s->base + sp->offset);
    uintptr_t base = s->base + (uintptr_t)i * s->elemsize;
    const char *from = NULL;
    void *fn;
    if (sp->kind == SPECIAL_FINALIZER) {
      struct special_finalizer *f = (struct special_finalizer *)sp;
      fn = (void *)(uintptr_t)f->fn;
      /* A finalizer with no order runs in a cycle too, and one that
       * ignores self-pointers only minds a longer way back. */
      size_t skip = sp->mode == FIN_IGNORE_SELF ? s->elemsize : 0;
      if (!s->noscan && sp->mode != FIN_NO_ORDER &&
          reaches(object_range(s, base), base, skip))
        from = "itself: its finalizer";
      else if (reaches(word_range(&f->arg), base, 0))
        from = "its finalizer's argument: its finalizer";
    } else {
      struct special_cleanup *c = (struct special_cleanup *)sp;
      fn = (void *)(uintptr_t)c->fn;
      if (reaches(word_range(&c->arg), base, 0))
        from = "its cleanup's argument: its cleanup";
    }
    if (!from)
      continue;
    sp->reported = 1;
    if (reports++ < MAX_REPORTS)
      report(base, s->elemsize, s->base + sp->offset, fn, from);
    else if (reports == MAX_REPORTS + 1)
      report(0, 0, 0, NULL, NULL);
  }
}

void fgc_checkfinalizers(void) {
  if (!visited) {
    visited = fgc_sysalloc(sizeof *visited << VISITED_BITS);
    work = fgc_sysalloc(sizeof *work * MAX_VISITS);
    if (!visited || !work)
      fgc_fatal("out of memory for checkfinalizers");
  }
  fgc_specials_for_each_span(check_span, NULL);
}
