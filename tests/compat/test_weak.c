/* Weak references (disappearing links), as documented in bdwgc's gc.h:
 * GC_register_disappearing_link, GC_general_register_disappearing_link,
 * GC_GENERAL_REGISTER_DISAPPEARING_LINK, GC_unregister_disappearing_link,
 * GC_move_disappearing_link, GC_register_long_link / GC_REGISTER_LONG_LINK,
 * GC_unregister_long_link, GC_move_long_link, the result codes, and
 * GC_HIDE_POINTER / GC_REVEAL_POINTER.
 *
 * Ordering: a (short) disappearing link is cleared when its object first
 * becomes inaccessible, before any finalizer runs and even if a finalizer
 * then resurrects the object; a long link is cleared only once the object
 * is truly gone, so it survives its object's finalization. */
#include <gc.h>

#include <stdint.h>

#include "compat_helper.h"

#define MAGIC 0x3EA4L

struct wobj {
  long magic;
  long id;
  struct wobj *ref;
  void *field; /* for GC_register_disappearing_link */
};

enum { N = 100 };

static _Atomic int round_no;

static void weak_collect(void) {
  round_no++;
  collect_once();
}

static int count_zero(const GC_word *slots, int n) {
  int c = 0;
  for (int i = 0; i < n; i++)
    c += slots[i] == 0;
  return c;
}

static struct wobj *new_wobj(long id) {
  struct wobj *o = GC_malloc(sizeof *o);
  REQUIRE(o != NULL);
  o->magic = MAGIC;
  o->id = id;
  return o;
}

/* --- API and result codes --- */

TEST(hide_and_reveal) {
  void *p = GC_malloc(16);
  REQUIRE(p != NULL);
  GC_hidden_pointer h = GC_HIDE_POINTER(p);
  CHECK(h != (GC_hidden_pointer)(uintptr_t)p);
  CHECK(GC_REVEAL_POINTER(h) == p);
  CHECK(GC_REVEAL_POINTER(GC_HIDE_POINTER(NULL)) == NULL);
  /* A hidden pointer does not keep its object alive (see the tests below);
   * it is not a heap address. */
  CHECK(GC_base((void *)(uintptr_t)h) == NULL);
}

TEST(short_link_result_codes) {
  static GC_word a, b, c, unused;
  struct wobj *volatile o = new_wobj(1);
  struct wobj *volatile o2 = new_wobj(2);
  a = GC_HIDE_POINTER(o);
  CHECK(GC_general_register_disappearing_link((void **)&a, o) == GC_SUCCESS);
  CHECK(GC_general_register_disappearing_link((void **)&a, o) == GC_DUPLICATE);
  CHECK(GC_GENERAL_REGISTER_DISAPPEARING_LINK((void **)&a, o2) == GC_DUPLICATE);

  /* move: to a free location, then from a location no longer registered */
  CHECK(GC_move_disappearing_link((void **)&a, (void **)&b) == GC_SUCCESS);
  CHECK(GC_move_disappearing_link((void **)&a, (void **)&c) == GC_NOT_FOUND);
  CHECK(GC_move_disappearing_link((void **)&a, (void **)&a) == GC_NOT_FOUND);
  CHECK(GC_move_disappearing_link((void **)&b, (void **)&b) == GC_SUCCESS);
  CHECK(GC_GENERAL_REGISTER_DISAPPEARING_LINK((void **)&c, o) == GC_SUCCESS);
  CHECK(GC_move_disappearing_link((void **)&b, (void **)&c) == GC_DUPLICATE);
  CHECK(GC_move_disappearing_link((void **)&unused, (void **)&a) ==
        GC_NOT_FOUND);

  /* unregister: 1 if it was registered, else 0 */
  CHECK(GC_unregister_disappearing_link((void **)&a) == 0);
  CHECK(GC_unregister_disappearing_link((void **)&b) == 1);
  CHECK(GC_unregister_disappearing_link((void **)&b) == 0);
  CHECK(GC_unregister_disappearing_link((void **)&c) == 1);
  CHECK(GC_unregister_disappearing_link((void **)&unused) == 0);

  /* GC_register_disappearing_link: a field of a heap object */
  CHECK(GC_register_disappearing_link(&o->field) == GC_SUCCESS);
  CHECK(GC_register_disappearing_link(&o->field) == GC_DUPLICATE);
  CHECK(GC_unregister_disappearing_link(&o->field) == 1);
  CHECK(GC_unregister_disappearing_link(&o->field) == 0);
  CHECK(o->magic == MAGIC && o2->magic == MAGIC);
}

TEST(long_link_result_codes) {
  static GC_word a, b, c, unused;
  struct wobj *volatile o = new_wobj(1);
  a = GC_HIDE_POINTER(o);
  CHECK(GC_register_long_link((void **)&a, o) == GC_SUCCESS);
  CHECK(GC_register_long_link((void **)&a, o) == GC_DUPLICATE);
  CHECK(GC_REGISTER_LONG_LINK((void **)&a, o) == GC_DUPLICATE);
  CHECK(GC_move_long_link((void **)&a, (void **)&b) == GC_SUCCESS);
  CHECK(GC_move_long_link((void **)&a, (void **)&c) == GC_NOT_FOUND);
  CHECK(GC_move_long_link((void **)&a, (void **)&a) == GC_NOT_FOUND);
  CHECK(GC_move_long_link((void **)&b, (void **)&b) == GC_SUCCESS);
  CHECK(GC_REGISTER_LONG_LINK((void **)&c, o) == GC_SUCCESS);
  CHECK(GC_move_long_link((void **)&b, (void **)&c) == GC_DUPLICATE);
  CHECK(GC_move_long_link((void **)&unused, (void **)&a) == GC_NOT_FOUND);
  CHECK(GC_unregister_long_link((void **)&a) == 0);
  CHECK(GC_unregister_long_link((void **)&b) == 1);
  CHECK(GC_unregister_long_link((void **)&b) == 0);
  CHECK(GC_unregister_long_link((void **)&c) == 1);
  CHECK(GC_unregister_long_link((void **)&unused) == 0);
  CHECK(o->magic == MAGIC);
}

TEST(result_codes_are_distinct) {
  int codes[] = {GC_SUCCESS, GC_DUPLICATE, GC_NO_MEMORY, GC_UNIMPLEMENTED,
                 GC_NOT_FOUND};
  CHECK(GC_SUCCESS == 0);
  for (int i = 0; i < 5; i++)
    for (int j = i + 1; j < 5; j++)
      CHECK(codes[i] != codes[j]);
}

/* --- clearing --- */

static GC_word dead_slot[N], live_slot[N];
static struct wobj *live_obj[N];

static NOINLINE void make_links(void) {
  for (int i = 0; i < N; i++) {
    struct wobj *d = new_wobj(i), *l = new_wobj(i);
    dead_slot[i] = GC_HIDE_POINTER(d);
    live_slot[i] = GC_HIDE_POINTER(l);
    if (i % 2) {
      REQUIRE(GC_general_register_disappearing_link((void **)&dead_slot[i],
                                                    d) == GC_SUCCESS);
      REQUIRE(GC_general_register_disappearing_link((void **)&live_slot[i],
                                                    l) == GC_SUCCESS);
    } else {
      REQUIRE(GC_register_long_link((void **)&dead_slot[i], d) == GC_SUCCESS);
      REQUIRE(GC_register_long_link((void **)&live_slot[i], l) == GC_SUCCESS);
    }
    live_obj[i] = l;
  }
}

TEST(links_are_cleared_when_the_object_dies) {
  make_links();
  CHECK(COLLECT_UNTIL(count_zero(dead_slot, N) >= N * 9 / 10, 10));
  CHECKF(AT_LEAST_PCT(count_zero(dead_slot, N), N, 90),
         "%d of %d links to unreachable objects cleared",
         count_zero(dead_slot, N), N);
  /* Links to reachable objects are never cleared nor changed. */
  int changed = 0;
  for (int i = 0; i < N; i++)
    changed += live_slot[i] != GC_HIDE_POINTER(live_obj[i]) ||
               ((struct wobj *)GC_REVEAL_POINTER(live_slot[i]))->id != i;
  CHECKF(changed == 0, "%d links to reachable objects changed", changed);
  for (int i = 0; i < N; i++) {
    if (i % 2)
      CHECK(GC_unregister_disappearing_link((void **)&live_slot[i]) == 1);
    else
      CHECK(GC_unregister_long_link((void **)&live_slot[i]) == 1);
  }
  memset(live_obj, 0, sizeof live_obj);
}

/* Unregistered links are left alone; the probes show the objects died. */
static GC_word unreg_slot[N];

static NOINLINE int make_unregistered(void) {
  int base = probe_next;
  for (int i = 0; i < N; i++) {
    struct wobj *o = new_wobj(i);
    unreg_slot[i] = GC_HIDE_POINTER(o);
    if (i % 2) {
      CHECK(GC_general_register_disappearing_link((void **)&unreg_slot[i], o) ==
            GC_SUCCESS);
      CHECK(GC_unregister_disappearing_link((void **)&unreg_slot[i]) == 1);
    } else {
      CHECK(GC_register_long_link((void **)&unreg_slot[i], o) == GC_SUCCESS);
      CHECK(GC_unregister_long_link((void **)&unreg_slot[i]) == 1);
    }
    probe_add(o);
  }
  return base;
}

TEST(unregistered_links_are_not_cleared) {
  probes_reset();
  int base = make_unregistered();
  CHECK(COLLECT_UNTIL(probes_alive(base, base + N) <= N / 10, 10));
  CHECK(AT_LEAST_PCT(N - probes_alive(base, base + N), N, 90));
  CHECKF(count_zero(unreg_slot, N) == 0, "%d unregistered links cleared",
         count_zero(unreg_slot, N));
  probes_reset();
}

/* Registering a link again moves it to the new object: the old one is
 * ignored. */
static GC_word retarget_slot[N];
static struct wobj *second_obj[N];

static NOINLINE int make_retargeted(void) {
  int base = probe_next;
  for (int i = 0; i < N; i++) {
    struct wobj *first = new_wobj(i), *second = new_wobj(i);
    retarget_slot[i] = GC_HIDE_POINTER(second);
    CHECK(GC_general_register_disappearing_link((void **)&retarget_slot[i],
                                                first) == GC_SUCCESS);
    CHECK(GC_general_register_disappearing_link((void **)&retarget_slot[i],
                                                second) == GC_DUPLICATE);
    probe_add(first);
    second_obj[i] = second;
  }
  return base;
}

TEST(reregistering_a_link_retargets_it) {
  probes_reset();
  int base = make_retargeted();
  CHECK(COLLECT_UNTIL(probes_alive(base, base + N) <= N / 10, 10));
  CHECK(AT_LEAST_PCT(N - probes_alive(base, base + N), N, 90));
  CHECKF(count_zero(retarget_slot, N) == 0,
         "%d links cleared by the death of the object they no longer track",
         count_zero(retarget_slot, N));
  memset(second_obj, 0, sizeof second_obj);
  CHECK(COLLECT_UNTIL(count_zero(retarget_slot, N) >= N * 9 / 10, 10));
  CHECKF(AT_LEAST_PCT(count_zero(retarget_slot, N), N, 90),
         "%d of %d links cleared", count_zero(retarget_slot, N), N);
  probes_reset();
}

/* After a move, the new location is cleared and the old one is not. */
static GC_word from_slot[N], to_slot[N];

static NOINLINE void make_moved(void) {
  for (int i = 0; i < N; i++) {
    struct wobj *o = new_wobj(i);
    from_slot[i] = to_slot[i] = GC_HIDE_POINTER(o);
    if (i % 2) {
      CHECK(GC_general_register_disappearing_link((void **)&from_slot[i], o) ==
            GC_SUCCESS);
      CHECK(GC_move_disappearing_link((void **)&from_slot[i],
                                      (void **)&to_slot[i]) == GC_SUCCESS);
    } else {
      CHECK(GC_register_long_link((void **)&from_slot[i], o) == GC_SUCCESS);
      CHECK(GC_move_long_link((void **)&from_slot[i], (void **)&to_slot[i]) ==
            GC_SUCCESS);
    }
  }
}

TEST(moved_links) {
  make_moved();
  CHECK(COLLECT_UNTIL(count_zero(to_slot, N) >= N * 9 / 10, 10));
  CHECKF(AT_LEAST_PCT(count_zero(to_slot, N), N, 90),
         "%d of %d moved links cleared", count_zero(to_slot, N), N);
  CHECKF(count_zero(from_slot, N) == 0,
         "%d old locations of moved links cleared", count_zero(from_slot, N));
}

/* --- ordering against finalization --- */

struct frec {
  _Atomic int runs;
  _Atomic int short_clear_at_run; /* the short link was already cleared */
  _Atomic int long_set_at_run;    /* the long link was still set */
  _Atomic int field_clear_at_run; /* the registered field was cleared */
};

static GC_word res_short[N], res_long[N];
static struct frec res_rec[N];
static struct wobj *resurrected[N];

static void GC_CALLBACK fin_resurrect(void *obj, void *cd) {
  struct wobj *o = obj;
  struct frec *r = cd;
  long i = o->id;
  r->runs++;
  r->short_clear_at_run = res_short[i] == 0;
  r->long_set_at_run = res_long[i] != 0;
  r->field_clear_at_run = o->field == NULL;
  resurrected[i] = o;
}

static NOINLINE void make_resurrecting(void) {
  for (int i = 0; i < N; i++) {
    struct wobj *o = new_wobj(i);
    o->field = o; /* non-NULL; registered with GC_register_disappearing_link */
    res_short[i] = res_long[i] = GC_HIDE_POINTER(o);
    REQUIRE(GC_register_disappearing_link(&o->field) == GC_SUCCESS);
    REQUIRE(GC_general_register_disappearing_link((void **)&res_short[i], o) ==
            GC_SUCCESS);
    REQUIRE(GC_register_long_link((void **)&res_long[i], o) == GC_SUCCESS);
    GC_register_finalizer(o, fin_resurrect, &res_rec[i], NULL, NULL);
  }
}

static int count_runs(void) {
  int c = 0;
  for (int i = 0; i < N; i++)
    c += res_rec[i].runs > 0;
  return c;
}

TEST(short_links_clear_before_finalization_long_links_after) {
  make_resurrecting();
  CHECK(COLLECT_UNTIL(count_runs() >= N * 9 / 10, 10));
  int ran = count_runs();
  CHECKF(AT_LEAST_PCT(ran, N, 90), "%d of %d finalized", ran, N);
  int short_set = 0, long_clear = 0, field_set = 0;
  for (int i = 0; i < N; i++) {
    if (!res_rec[i].runs)
      continue;
    short_set += !res_rec[i].short_clear_at_run;
    field_set += !res_rec[i].field_clear_at_run;
    long_clear += !res_rec[i].long_set_at_run;
  }
  CHECKF(short_set == 0 && field_set == 0,
         "finalizers saw %d short links and %d registered fields not cleared",
         short_set, field_set);
  CHECKF(long_clear == 0, "finalizers saw %d long links already cleared",
         long_clear);

  /* The objects were resurrected: the short links stay cleared, the long
   * links stay set while the objects are reachable. */
  for (int i = 0; i < 4; i++)
    weak_collect();
  int short_back = 0, long_lost = 0, damaged = 0, twice = 0;
  for (int i = 0; i < N; i++) {
    if (!res_rec[i].runs)
      continue;
    short_back += res_short[i] != 0;
    long_lost += res_long[i] != GC_HIDE_POINTER(resurrected[i]);
    damaged += resurrected[i] == NULL || resurrected[i]->magic != MAGIC ||
               resurrected[i]->id != i || resurrected[i]->field != NULL;
    twice += res_rec[i].runs > 1;
  }
  CHECK(short_back == 0);
  CHECKF(long_lost == 0, "%d long links to resurrected objects cleared",
         long_lost);
  CHECK(damaged == 0);
  CHECK(twice == 0);

  /* Once the resurrected objects are dropped, the long links clear. */
  memset(resurrected, 0, sizeof resurrected);
  CHECK(COLLECT_UNTIL(count_zero(res_long, N) >= N * 9 / 10, 10));
  CHECKF(AT_LEAST_PCT(count_zero(res_long, N), N, 90),
         "%d of %d long links cleared after the objects were dropped",
         count_zero(res_long, N), N);
  for (int i = 0; i < N; i++)
    CHECK(res_rec[i].runs <= 1);
}

/* A long link to an object with a finalizer that does not resurrect it:
 * still set when the finalizer runs, cleared in a later collection. */
static GC_word plain_long[N];
static struct frec plain_rec[N];
static _Atomic int plain_round[N];

static void GC_CALLBACK fin_plain(void *obj, void *cd) {
  struct wobj *o = obj;
  struct frec *r = cd;
  r->runs++;
  r->long_set_at_run = plain_long[o->id] != 0;
  plain_round[o->id] = round_no;
}

static NOINLINE void make_plain(void) {
  for (int i = 0; i < N; i++) {
    struct wobj *o = new_wobj(i);
    plain_long[i] = GC_HIDE_POINTER(o);
    REQUIRE(GC_REGISTER_LONG_LINK((void **)&plain_long[i], o) == GC_SUCCESS);
    GC_REGISTER_FINALIZER(o, fin_plain, &plain_rec[i], NULL, NULL);
  }
}

TEST(long_link_outlives_finalization) {
  make_plain();
  int cleared_before = 0;
  for (int r = 0; r < 12; r++) {
    weak_collect();
    /* a long link is never cleared before its object's finalizer ran */
    for (int i = 0; i < N; i++)
      if (plain_long[i] == 0 && !plain_rec[i].runs)
        cleared_before++;
    if (count_zero(plain_long, N) >= N * 9 / 10)
      break;
  }
  int ran = 0, set_at_run = 0;
  for (int i = 0; i < N; i++) {
    ran += plain_rec[i].runs > 0;
    set_at_run += plain_rec[i].runs > 0 && plain_rec[i].long_set_at_run;
  }
  CHECKF(AT_LEAST_PCT(ran, N, 90), "%d of %d finalized", ran, N);
  CHECKF(set_at_run == ran, "%d of %d finalizers saw their long link cleared",
         ran - set_at_run, ran);
  CHECK(cleared_before == 0);
  CHECKF(AT_LEAST_PCT(count_zero(plain_long, N), N, 90),
         "%d of %d long links cleared after finalization",
         count_zero(plain_long, N), N);
}

/* A finalizable A points to B (no finalizer).  When both become
 * unreachable, B's short link is cleared at once (B "first becomes
 * inaccessible"), although B is kept for A's finalizer; B's long link is
 * not. */
static GC_word b_short[N], b_long[N];
static struct frec ab_rec[N];

static void GC_CALLBACK fin_a(void *obj, void *cd) {
  struct wobj *a = obj;
  struct frec *r = cd;
  long i = a->id;
  r->runs++;
  r->short_clear_at_run = b_short[i] == 0;
  r->long_set_at_run = b_long[i] != 0 && a->ref != NULL &&
                       a->ref->magic == MAGIC && a->ref->id == i;
}

static NOINLINE void make_ab(void) {
  for (int i = 0; i < N; i++) {
    struct wobj *a = new_wobj(i), *b = new_wobj(i);
    a->ref = b;
    b_short[i] = b_long[i] = GC_HIDE_POINTER(b);
    REQUIRE(GC_general_register_disappearing_link((void **)&b_short[i], b) ==
            GC_SUCCESS);
    REQUIRE(GC_register_long_link((void **)&b_long[i], b) == GC_SUCCESS);
    GC_register_finalizer(a, fin_a, &ab_rec[i], NULL, NULL);
  }
}

TEST(short_link_to_object_kept_only_for_a_finalizer) {
  make_ab();
  int ran = 0;
  for (int r = 0; r < 10 && ran < N * 9 / 10; r++) {
    weak_collect();
    ran = 0;
    for (int i = 0; i < N; i++)
      ran += ab_rec[i].runs > 0;
  }
  CHECKF(AT_LEAST_PCT(ran, N, 90), "%d of %d finalized", ran, N);
  int short_set = 0, long_clear = 0;
  for (int i = 0; i < N; i++) {
    if (!ab_rec[i].runs)
      continue;
    short_set += !ab_rec[i].short_clear_at_run;
    long_clear += !ab_rec[i].long_set_at_run;
  }
  CHECKF(short_set == 0,
         "%d short links to objects reachable only from a finalizable object "
         "not cleared before finalization",
         short_set);
  CHECKF(long_clear == 0,
         "%d long links (or objects) gone before the referrer's finalizer",
         long_clear);
  CHECK(COLLECT_UNTIL(count_zero(b_long, N) >= N * 9 / 10, 10));
}

/* Links stored inside heap objects that die before their targets: the
 * links disappear with their containers, and nothing breaks when the
 * targets die later. */
static struct wobj *targets[N];

static NOINLINE int make_containers(void) {
  int base = probe_next;
  for (int i = 0; i < N; i++) {
    GC_word *container = GC_malloc_atomic(4 * sizeof(GC_word));
    REQUIRE(container != NULL);
    struct wobj *t = new_wobj(i);
    container[1] = GC_HIDE_POINTER(t);
    container[2] = GC_HIDE_POINTER(t);
    REQUIRE(GC_general_register_disappearing_link((void **)&container[1], t) ==
            GC_SUCCESS);
    REQUIRE(GC_register_long_link((void **)&container[2], t) == GC_SUCCESS);
    probe_add(container);
    targets[i] = t;
  }
  return base;
}

TEST(links_inside_dead_objects) {
  probes_reset();
  int base = make_containers();
  CHECK(COLLECT_UNTIL(probes_alive(base, base + N) <= N / 10, 10));
  /* Reuse the memory of the dead containers. */
  for (int i = 0; i < 20000; i++) {
    GC_word *p = GC_malloc_atomic(4 * sizeof(GC_word));
    REQUIRE(p != NULL);
    p[0] = p[1] = p[2] = p[3] = (GC_word)-1;
  }
  int tprobe = probe_next;
  for (int i = 0; i < N; i++)
    probe_add(targets[i]);
  memset(targets, 0, sizeof targets);
  CHECK(COLLECT_UNTIL(probes_alive(tprobe, tprobe + N) <= N / 10, 10));
  collect_rounds(2);
  probes_reset();
}

/* A link inside an object released with GC_FREE goes with it: it is no
 * longer registered, and when its target dies the collector writes
 * nothing into the memory, which the next allocation of that size reuses
 * (finalgc wrote NULL there, and in a freed slot it cut the thread's list
 * of freed slots).  bdwgc 8.2 writes through such a link: finalgc only. */
#ifdef GC_FINALGC
static NOINLINE GC_word *link_in_freed(size_t size, struct wobj **target) {
  GC_word *container = GC_malloc_atomic(size);
  REQUIRE(container != NULL);
  struct wobj *t = new_wobj(0);
  REQUIRE(GC_general_register_disappearing_link((void **)&container[1], t) ==
          GC_SUCCESS);
  REQUIRE(GC_register_long_link((void **)&container[2], t) == GC_SUCCESS);
  GC_FREE(container);
  CHECK(GC_unregister_disappearing_link((void **)&container[1]) == 0);
  CHECK(GC_unregister_long_link((void **)&container[2]) == 0);
  *target = t;
  return container;
}

TEST(links_inside_freed_objects) {
  size_t sizes[] = {4 * sizeof(GC_word), 100000};
  for (int k = 0; k < 2; k++) {
    struct wobj *target;
    (void)link_in_freed(sizes[k], &target);
    GC_word *reused = GC_malloc_atomic(sizes[k]);
    REQUIRE(reused != NULL);
    reused[0] = reused[1] = reused[2] = (GC_word)-1;
    int tprobe = probe_next;
    probe_add(target);
    target = NULL;
    CHECK(COLLECT_UNTIL(probes_alive(tprobe, tprobe + 1) == 0, 10));
    CHECK(reused[0] == (GC_word)-1 && reused[1] == (GC_word)-1 &&
          reused[2] == (GC_word)-1);
    probes_reset();
  }
}
#endif

int main(void) {
  GC_INIT();
  compat_init();
  RUN(hide_and_reveal);
  RUN(short_link_result_codes);
  RUN(long_link_result_codes);
  RUN(result_codes_are_distinct);
  RUN(links_are_cleared_when_the_object_dies);
  RUN(unregistered_links_are_not_cleared);
  RUN(reregistering_a_link_retargets_it);
  RUN(moved_links);
  RUN(short_links_clear_before_finalization_long_links_after);
  RUN(long_link_outlives_finalization);
  RUN(short_link_to_object_kept_only_for_a_finalizer);
  RUN(links_inside_dead_objects);
#ifdef GC_FINALGC
  RUN(links_inside_freed_objects);
#endif
  return test_summary();
}
