/* Finalization, as documented in bdwgc's gc.h and docs/finalization.md:
 * GC_register_finalizer (topologically ordered), _ignore_self, _no_order,
 * _unreachable and their GC_REGISTER_FINALIZER* macros; replacing and
 * removing a finalizer (ofn/ocd); at most one run; client data kept alive;
 * resurrection; GC_invoke_finalizers, GC_should_invoke_finalizers,
 * GC_set_finalize_on_demand, GC_set_finalizer_notifier.
 *
 * Portability: by default bdwgc runs finalizers inside GC_gcollect (or an
 * allocation) on the calling thread, another implementation may run them on
 * a thread of its own; so in the default mode these tests only look at
 * what ran once GC_gcollect() + GC_invoke_finalizers() have returned, never
 * at which thread ran it.  In on-demand mode finalizers must run on the
 * thread calling GC_invoke_finalizers, and that is checked.
 *
 * Every test counts collections in `round_no` (fin_collect) and each
 * finalizer records the round it ran in, so ordering across collections
 * can be checked.  Objects whose finalization order matters are made with
 * the collector disabled, so that no implicit collection runs in between. */
#include <gc.h>

#include <pthread.h>
#include <stdint.h>

#include "compat_helper.h"

#define MAGIC 0x0F1A11CE5EEDL

struct rec {
  _Atomic int runs;
  _Atomic int round; /* round_no when it (last) ran */
  _Atomic int bad;   /* wrong obj/cd, or damaged contents */
  _Atomic int off_thread;
  _Atomic int note; /* test-specific */
};

struct fobj {
  struct fobj *ref;
  struct fobj *ref2;
  struct rec *rec;
  long magic;
  long id;
};

static _Atomic int round_no;
static pthread_t main_thread;

static void fin_collect(void) {
  round_no++;
  scrub_stack();
  GC_gcollect();
  GC_invoke_finalizers();
}

#define FIN_UNTIL(cond, rounds)                                                \
  ({                                                                           \
    int ok_ = 0;                                                               \
    for (int r_ = 0; r_ < (rounds) && !(ok_ = !!(cond)); r_++)                 \
      fin_collect();                                                           \
    ok_ || (cond);                                                             \
  })

static struct fobj *new_fobj(struct rec *r, long id) {
  struct fobj *o = GC_malloc(sizeof *o);
  REQUIRE(o != NULL);
  o->rec = r;
  o->magic = MAGIC;
  o->id = id;
  return o;
}

/* The standard finalizer: cd must be the object's own record. */
static void GC_CALLBACK fin_record(void *obj, void *cd) {
  struct fobj *o = obj;
  struct rec *r = cd;
  if (o->magic != MAGIC || o->rec != r || GC_base(obj) != obj) {
    r->bad++;
    return;
  }
  r->runs++;
  r->round = round_no;
  if (!pthread_equal(pthread_self(), main_thread))
    r->off_thread = 1;
}

static int count_ran(const struct rec *r, int n) {
  int c = 0;
  for (int i = 0; i < n; i++)
    c += r[i].runs > 0;
  return c;
}

static int count_bad(const struct rec *r, int n) {
  int c = 0;
  for (int i = 0; i < n; i++)
    c += r[i].bad != 0;
  return c;
}

static int count_ran_twice(const struct rec *r, int n) {
  int c = 0;
  for (int i = 0; i < n; i++)
    c += r[i].runs > 1;
  return c;
}

/* Objects that are never finalized (cycles) stay registered forever; the
 * tests keep their hidden addresses and unregister them afterwards, so that
 * they do not outlive their test. */
static GC_word stuck[4 * 100];
static int stuck_count;

static void remember_stuck(void *obj) {
  REQUIRE(stuck_count < (int)(sizeof stuck / sizeof *stuck));
  stuck[stuck_count++] = GC_HIDE_POINTER(obj);
}

static void release_stuck(void) {
  for (int i = 0; i < stuck_count; i++)
    GC_register_finalizer(GC_REVEAL_POINTER(stuck[i]), 0, 0, NULL, NULL);
  stuck_count = 0;
}

/* Warnings (bdwgc reports finalization cycles) are counted, not printed. */
static _Atomic int warnings;
static void GC_CALLBACK quiet_warn(char *msg, GC_word arg) {
  (void)msg;
  (void)arg;
  warnings++;
}

/* --- basic --- */

enum { N = 100 };

static struct rec basic_rec[N];

static NOINLINE void make_basic(void) {
  for (int i = 0; i < N; i++) {
    struct fobj *o = new_fobj(&basic_rec[i], i);
    GC_finalization_proc ofn = fin_record;
    void *ocd = o;
    GC_register_finalizer(o, fin_record, &basic_rec[i], &ofn, &ocd);
    /* no previous finalizer */
    CHECK(ofn == 0 && ocd == 0);
  }
}

TEST(finalizer_runs_once_for_unreachable_object) {
  make_basic();
  CHECK(FIN_UNTIL(count_ran(basic_rec, N) >= N * 9 / 10, 10));
  CHECKF(AT_LEAST_PCT(count_ran(basic_rec, N), N, 90), "%d of %d finalized",
         count_ran(basic_rec, N), N);
  CHECK(count_bad(basic_rec, N) == 0);
  for (int i = 0; i < 4; i++)
    fin_collect();
  CHECK(count_ran_twice(basic_rec, N) == 0); /* at most once */
  CHECK(count_bad(basic_rec, N) == 0);
}

static struct rec live_rec[N];
static struct fobj *live_objs[N];

static NOINLINE void make_live(struct fobj **heap_holder) {
  for (int i = 0; i < N; i++) {
    struct fobj *o = new_fobj(&live_rec[i], i);
    GC_register_finalizer(o, fin_record, &live_rec[i], NULL, NULL);
    if (i % 2)
      live_objs[i] = o; /* from a static root */
    else
      heap_holder[i] = o; /* from a heap object on the stack */
  }
}

TEST(reachable_objects_are_not_finalized) {
  struct fobj **volatile holder = GC_malloc(N * sizeof(struct fobj *));
  REQUIRE(holder != NULL);
  make_live(holder);
  for (int i = 0; i < 4; i++)
    fin_collect();
  CHECKF(count_ran(live_rec, N) == 0, "%d reachable objects finalized",
         count_ran(live_rec, N));
  for (int i = 0; i < N; i++) {
    struct fobj *o = i % 2 ? live_objs[i] : holder[i];
    CHECK(o->magic == MAGIC && o->id == i);
  }
  memset(live_objs, 0, sizeof live_objs);
}

/* --- topological order --- */

static struct rec topo_a[N], topo_b[N];

static NOINLINE void make_pairs(void) {
  GC_disable();
  for (int i = 0; i < N; i++) {
    struct fobj *a = new_fobj(&topo_a[i], i), *b = new_fobj(&topo_b[i], i);
    a->ref = b; /* A points to B */
    GC_register_finalizer(a, fin_record, &topo_a[i], NULL, NULL);
    GC_register_finalizer(b, fin_record, &topo_b[i], NULL, NULL);
  }
  GC_enable();
}

/* A's finalizer: B must not have been finalized yet, and must be intact. */
static void GC_CALLBACK fin_pair_a(void *obj, void *cd) {
  struct fobj *a = obj;
  fin_record(obj, cd);
  struct fobj *b = a->ref;
  if (b == NULL || b->magic != MAGIC || b->rec->runs != 0)
    a->rec->note = 1;
}

TEST(ordered_finalization_is_topological) {
  make_pairs();
  CHECK(FIN_UNTIL(count_ran(topo_b, N) >= N * 9 / 10, 12));
  int a_ran = count_ran(topo_a, N), b_ran = count_ran(topo_b, N);
  CHECKF(AT_LEAST_PCT(a_ran, N, 90) && AT_LEAST_PCT(b_ran, N, 90),
         "finalized: %d of %d A, %d of %d B", a_ran, N, b_ran, N);
  int violations = 0;
  for (int i = 0; i < N; i++)
    if (topo_b[i].runs &&
        (!topo_a[i].runs || topo_a[i].round >= topo_b[i].round))
      violations++;
  CHECKF(violations == 0,
         "%d pairs where B was finalized before or with A (A points to B)",
         violations);
  CHECK(count_bad(topo_a, N) == 0 && count_bad(topo_b, N) == 0);
}

static struct rec topo2_a[N], topo2_b[N];

static NOINLINE void make_checked_pairs(void) {
  GC_disable();
  for (int i = 0; i < N; i++) {
    struct fobj *a = new_fobj(&topo2_a[i], i), *b = new_fobj(&topo2_b[i], i);
    a->ref = b;
    GC_REGISTER_FINALIZER(a, fin_pair_a, &topo2_a[i], NULL, NULL);
    GC_REGISTER_FINALIZER(b, fin_record, &topo2_b[i], NULL, NULL);
  }
  GC_enable();
}

TEST(finalizer_of_a_sees_b_unfinalized) {
  make_checked_pairs();
  CHECK(FIN_UNTIL(count_ran(topo2_b, N) >= N * 9 / 10, 12));
  int seen_bad = 0;
  for (int i = 0; i < N; i++)
    seen_bad += topo2_a[i].note;
  CHECKF(seen_bad == 0, "%d A finalizers saw B finalized or damaged", seen_bad);
  CHECK(AT_LEAST_PCT(count_ran(topo2_a, N), N, 90));
  CHECK(count_bad(topo2_a, N) == 0 && count_bad(topo2_b, N) == 0);
}

enum { CHAINS = 30, CHAIN_LEN = 4 };
static struct rec chain_rec[CHAINS][CHAIN_LEN];

static NOINLINE void make_chains(void) {
  GC_disable();
  for (int c = 0; c < CHAINS; c++) {
    struct fobj *next = NULL;
    for (int k = CHAIN_LEN - 1; k >= 0; k--) {
      struct fobj *o = new_fobj(&chain_rec[c][k], k);
      o->ref = next; /* element k points to element k+1 */
      GC_register_finalizer(o, fin_record, &chain_rec[c][k], NULL, NULL);
      next = o;
    }
  }
  GC_enable();
}

static int chain_tails_ran(void) {
  int n = 0;
  for (int c = 0; c < CHAINS; c++)
    n += chain_rec[c][CHAIN_LEN - 1].runs > 0;
  return n;
}

TEST(chains_are_finalized_head_first) {
  make_chains();
  CHECK(FIN_UNTIL(chain_tails_ran() >= CHAINS * 9 / 10, 20));
  CHECKF(AT_LEAST_PCT(chain_tails_ran(), CHAINS, 90),
         "%d of %d chains finalized to the end", chain_tails_ran(), CHAINS);
  int violations = 0;
  for (int c = 0; c < CHAINS; c++)
    for (int k = 1; k < CHAIN_LEN; k++)
      if (chain_rec[c][k].runs &&
          (!chain_rec[c][k - 1].runs ||
           chain_rec[c][k - 1].round >= chain_rec[c][k].round))
        violations++;
  CHECKF(violations == 0,
         "%d chain elements finalized before or with their "
         "predecessor",
         violations);
}

/* --- cycles --- */

static struct rec cyc_rec[2 * N], self_rec[N];

static NOINLINE void make_ordered_cycles(void) {
  for (int i = 0; i < N; i++) {
    struct fobj *a = new_fobj(&cyc_rec[2 * i], i),
                *b = new_fobj(&cyc_rec[2 * i + 1], i);
    a->ref = b;
    b->ref = a;
    GC_register_finalizer(a, fin_record, &cyc_rec[2 * i], NULL, NULL);
    GC_register_finalizer(b, fin_record, &cyc_rec[2 * i + 1], NULL, NULL);
    struct fobj *s = new_fobj(&self_rec[i], i);
    s->ref = s;
    GC_register_finalizer(s, fin_record, &self_rec[i], NULL, NULL);
    remember_stuck(a);
    remember_stuck(b);
    remember_stuck(s);
  }
}

TEST(ordered_cycles_are_never_finalized) {
  GC_warn_proc old = GC_get_warn_proc();
  GC_set_warn_proc(quiet_warn);
  make_ordered_cycles();
  for (int i = 0; i < 5; i++)
    fin_collect();
  CHECKF(count_ran(cyc_rec, 2 * N) == 0, "%d objects in 2-cycles finalized",
         count_ran(cyc_rec, 2 * N));
  CHECKF(count_ran(self_rec, N) == 0, "%d self-referencing objects finalized",
         count_ran(self_rec, N));
  release_stuck();
  fin_collect();
  CHECK(count_ran(cyc_rec, 2 * N) == 0 && count_ran(self_rec, N) == 0);
  GC_set_warn_proc(old);
}

/* --- ignore_self --- */

static struct rec is_self_rec[N], is_cyc_rec[2 * N], is_a[N], is_b[N];

static NOINLINE void make_ignore_self(void) {
  GC_disable();
  for (int i = 0; i < N; i++) {
    struct fobj *s = new_fobj(&is_self_rec[i], i);
    s->ref = s;                                            /* to its base */
    s->ref2 = (struct fobj *)((char *)s + sizeof(void *)); /* interior */
    GC_register_finalizer_ignore_self(s, fin_record, &is_self_rec[i], NULL,
                                      NULL);
    struct fobj *a = new_fobj(&is_cyc_rec[2 * i], i),
                *b = new_fobj(&is_cyc_rec[2 * i + 1], i);
    a->ref = b;
    b->ref = a;
    a->ref2 = a;
    GC_REGISTER_FINALIZER_IGNORE_SELF(a, fin_record, &is_cyc_rec[2 * i], NULL,
                                      NULL);
    GC_REGISTER_FINALIZER_IGNORE_SELF(b, fin_record, &is_cyc_rec[2 * i + 1],
                                      NULL, NULL);
    remember_stuck(a);
    remember_stuck(b);
    /* Still ordered: A -> B, each also pointing to itself. */
    struct fobj *pa = new_fobj(&is_a[i], i), *pb = new_fobj(&is_b[i], i);
    pa->ref = pb;
    pa->ref2 = pa;
    pb->ref2 = pb;
    GC_register_finalizer_ignore_self(pa, fin_record, &is_a[i], NULL, NULL);
    GC_register_finalizer_ignore_self(pb, fin_record, &is_b[i], NULL, NULL);
  }
  GC_enable();
}

TEST(ignore_self) {
  GC_warn_proc old = GC_get_warn_proc();
  GC_set_warn_proc(quiet_warn);
  make_ignore_self();
  CHECK(FIN_UNTIL(count_ran(is_self_rec, N) >= N * 9 / 10 &&
                      count_ran(is_b, N) >= N * 9 / 10,
                  12));
  CHECKF(AT_LEAST_PCT(count_ran(is_self_rec, N), N, 90),
         "%d of %d self-referencing objects finalized",
         count_ran(is_self_rec, N), N);
  CHECKF(count_ran(is_cyc_rec, 2 * N) == 0, "%d objects in 2-cycles finalized",
         count_ran(is_cyc_rec, 2 * N));
  int violations = 0;
  for (int i = 0; i < N; i++)
    if (is_b[i].runs && (!is_a[i].runs || is_a[i].round >= is_b[i].round))
      violations++;
  CHECKF(violations == 0, "%d pairs finalized out of order", violations);
  CHECK(AT_LEAST_PCT(count_ran(is_b, N), N, 90));
  CHECK(count_bad(is_self_rec, N) == 0 && count_bad(is_a, N) == 0 &&
        count_bad(is_b, N) == 0);
  release_stuck();
  fin_collect();
  CHECK(count_ran(is_cyc_rec, 2 * N) == 0);
  GC_set_warn_proc(old);
}

/* --- no_order --- */

static struct rec no_cyc[2 * N], no_self[N];

static NOINLINE void make_no_order(void) {
  GC_disable();
  for (int i = 0; i < N; i++) {
    struct fobj *a = new_fobj(&no_cyc[2 * i], i),
                *b = new_fobj(&no_cyc[2 * i + 1], i);
    a->ref = b;
    b->ref = a;
    GC_register_finalizer_no_order(a, fin_record, &no_cyc[2 * i], NULL, NULL);
    GC_REGISTER_FINALIZER_NO_ORDER(b, fin_record, &no_cyc[2 * i + 1], NULL,
                                   NULL);
    struct fobj *s = new_fobj(&no_self[i], i);
    s->ref = s;
    GC_register_finalizer_no_order(s, fin_record, &no_self[i], NULL, NULL);
  }
  GC_enable();
}

static int pairs_split(void) {
  int split = 0;
  for (int i = 0; i < N; i++)
    split += (no_cyc[2 * i].runs > 0) != (no_cyc[2 * i + 1].runs > 0);
  return split;
}

TEST(no_order_finalizes_cycles_together) {
  make_no_order();
  int split = 0, differing_rounds = 0;
  for (int r = 0; r < 10; r++) {
    fin_collect();
    split += pairs_split(); /* never one of a cycle without the other */
    if (count_ran(no_cyc, 2 * N) >= 2 * N * 9 / 10 &&
        count_ran(no_self, N) >= N * 9 / 10)
      break;
  }
  for (int i = 0; i < N; i++)
    if (no_cyc[2 * i].runs && no_cyc[2 * i].round != no_cyc[2 * i + 1].round)
      differing_rounds++;
  CHECKF(AT_LEAST_PCT(count_ran(no_cyc, 2 * N), 2 * N, 90),
         "%d of %d objects in 2-cycles finalized", count_ran(no_cyc, 2 * N),
         2 * N);
  CHECKF(AT_LEAST_PCT(count_ran(no_self, N), N, 90),
         "%d of %d self-referencing objects finalized", count_ran(no_self, N),
         N);
  CHECKF(split == 0 && differing_rounds == 0,
         "cycle members finalized apart: %d split, %d in different rounds",
         split, differing_rounds);
  CHECK(count_bad(no_cyc, 2 * N) == 0 && count_bad(no_self, N) == 0);
  CHECK(count_ran_twice(no_cyc, 2 * N) == 0);
}

/* --- unreachable --- */

/* X (finalize-when-unreachable) is referenced from Y (unordered): X's
 * finalizer must wait until Y is finalized and gone ("not run while the
 * object is reachable from other objects specifying unordered
 * finalization").  Z (finalize-when-unreachable) alone is finalized.
 * Relies on GC_java_finalization, which bdwgc enables by default. */
static struct rec un_y[N], un_x[N], un_z[N];

static NOINLINE void make_unreachable(void) {
  GC_disable();
  for (int i = 0; i < N; i++) {
    struct fobj *y = new_fobj(&un_y[i], i), *x = new_fobj(&un_x[i], i);
    y->ref = x;
    GC_register_finalizer_no_order(y, fin_record, &un_y[i], NULL, NULL);
    GC_register_finalizer_unreachable(x, fin_record, &un_x[i], NULL, NULL);
    struct fobj *z = new_fobj(&un_z[i], i);
    GC_REGISTER_FINALIZER_UNREACHABLE(z, fin_record, &un_z[i], NULL, NULL);
  }
  GC_enable();
}

TEST(unreachable_waits_for_unordered_referrers) {
  make_unreachable();
  CHECK(FIN_UNTIL(count_ran(un_x, N) >= N * 9 / 10 &&
                      count_ran(un_z, N) >= N * 9 / 10,
                  12));
  CHECKF(AT_LEAST_PCT(count_ran(un_y, N), N, 90) &&
             AT_LEAST_PCT(count_ran(un_x, N), N, 90) &&
             AT_LEAST_PCT(count_ran(un_z, N), N, 90),
         "finalized: %d Y, %d X, %d Z of %d", count_ran(un_y, N),
         count_ran(un_x, N), count_ran(un_z, N), N);
  int violations = 0;
  for (int i = 0; i < N; i++)
    if (un_x[i].runs && (!un_y[i].runs || un_y[i].round >= un_x[i].round))
      violations++;
  CHECKF(violations == 0,
         "%d X finalized while still referenced from an unordered Y",
         violations);
  CHECK(count_bad(un_x, N) == 0 && count_bad(un_y, N) == 0 &&
        count_bad(un_z, N) == 0);
}

/* --- replacing and removing --- */

static struct rec repl_old[N], repl_new[N], removed_rec[N];
static _Atomic int other_fn_runs;

static void GC_CALLBACK fin_other(void *obj, void *cd) {
  (void)obj;
  (void)cd;
  other_fn_runs++;
}

static NOINLINE void make_replaced(int *probe_base) {
  static struct rec dummy;
  *probe_base = probe_next;
  for (int i = 0; i < N; i++) {
    struct fobj *o = new_fobj(&repl_new[i], i);
    GC_finalization_proc ofn;
    void *ocd;
    GC_register_finalizer(o, fin_other, &repl_old[i], &ofn, &ocd);
    CHECK(ofn == 0 && ocd == 0);
    GC_register_finalizer(o, fin_record, &repl_new[i], &ofn, &ocd);
    CHECK(ofn == fin_other && ocd == &repl_old[i]); /* the old pair */

    /* Removed: registering 0 returns the old pair and unregisters. */
    struct fobj *r = new_fobj(&removed_rec[i], i);
    GC_register_finalizer(r, fin_record, &removed_rec[i], NULL, NULL);
    GC_register_finalizer(r, fin_other, &dummy, NULL, NULL);
    GC_register_finalizer(r, 0, 0, &ofn, &ocd);
    CHECK(ofn == fin_other && ocd == &dummy);
    GC_register_finalizer(r, 0, 0, &ofn, &ocd);
    CHECK(ofn == 0 && ocd == 0); /* nothing registered any more */
    probe_add(r);
  }
}

TEST(replace_and_remove_finalizer) {
  probes_reset();
  other_fn_runs = 0;
  int base;
  make_replaced(&base);
  CHECK(FIN_UNTIL(count_ran(repl_new, N) >= N * 9 / 10 &&
                      probes_alive(base, base + N) <= N / 10,
                  10));
  CHECKF(AT_LEAST_PCT(count_ran(repl_new, N), N, 90),
         "%d of %d replacement finalizers ran", count_ran(repl_new, N), N);
  CHECKF(AT_LEAST_PCT(N - probes_alive(base, base + N), N, 90),
         "%d of %d objects whose finalizer was removed still alive",
         probes_alive(base, base + N), N);
  CHECK(other_fn_runs == 0); /* replaced or removed finalizers never run */
  CHECK(count_ran(removed_rec, N) == 0);
  CHECK(count_bad(repl_new, N) == 0);
  probes_reset();

  /* Outside the collected heap: fn is ignored, *ofn and *ocd are NULL. */
  static long not_in_heap;
  GC_finalization_proc ofn = fin_other;
  void *ocd = &ofn;
  GC_register_finalizer(&not_in_heap, fin_other, &not_in_heap, &ofn, &ocd);
  CHECK(ofn == 0 && ocd == 0);
  fin_collect();
  CHECK(other_fn_runs == 0);
}

/* --- client data --- */

struct cdata {
  long magic;
  long id;
  char payload[100];
};

static struct rec cd_rec[N];
static struct fobj *cd_objs[N];
static int cd_probe_base;

static void GC_CALLBACK fin_check_cd(void *obj, void *cd) {
  struct fobj *o = obj;
  struct cdata *c = cd;
  int ok = c != NULL && c->magic == ~MAGIC && c->id == o->id;
  for (int k = 0; ok && k < 100; k++)
    ok = c->payload[k] == (char)(o->id + k);
  if (!ok)
    o->rec->bad++;
  o->rec->runs++;
  o->rec->round = round_no;
}

/* The client data objects are referenced only by the registrations. */
static NOINLINE void make_cd(void) {
  cd_probe_base = probe_next;
  for (int i = 0; i < N; i++) {
    struct fobj *o = new_fobj(&cd_rec[i], i);
    struct cdata *c = GC_malloc(sizeof *c);
    REQUIRE(c != NULL);
    c->magic = ~MAGIC;
    c->id = i;
    for (int k = 0; k < 100; k++)
      c->payload[k] = (char)(i + k);
    probe_add(c);
    GC_register_finalizer(o, fin_check_cd, c, NULL, NULL);
    cd_objs[i] = o;
  }
}

TEST(client_data_is_kept_alive_until_the_finalizer_runs) {
  probes_reset();
  make_cd();
  for (int i = 0; i < 4; i++) {
    fin_collect();
    GC_free(GC_malloc(1 << 16));
  }
  CHECKF(probes_alive(cd_probe_base, cd_probe_base + N) == N,
         "%d of %d client data objects collected while registered",
         N - probes_alive(cd_probe_base, cd_probe_base + N), N);
  CHECK(count_ran(cd_rec, N) == 0);
  memset(cd_objs, 0, sizeof cd_objs);
  CHECK(FIN_UNTIL(count_ran(cd_rec, N) >= N * 9 / 10, 10));
  CHECKF(AT_LEAST_PCT(count_ran(cd_rec, N), N, 90), "%d of %d finalized",
         count_ran(cd_rec, N), N);
  CHECKF(count_bad(cd_rec, N) == 0, "%d finalizers saw damaged client data",
         count_bad(cd_rec, N));
  probes_reset();
}

/* "Note that cd will still be viewed as accessible, even if it refers to
 * the object itself": such an object is never finalized. */
static struct rec cd_self_rec[N];

static NOINLINE void make_cd_self(void) {
  for (int i = 0; i < N; i++) {
    struct fobj *o = new_fobj(&cd_self_rec[i], i);
    GC_register_finalizer_no_order(o, fin_other, o, NULL, NULL);
    remember_stuck(o);
  }
}

TEST(client_data_pointing_to_the_object_keeps_it) {
  other_fn_runs = 0;
  make_cd_self();
  for (int i = 0; i < 4; i++)
    fin_collect();
  CHECKF(other_fn_runs == 0,
         "%d objects finalized although their client data refers to them",
         other_fn_runs);
  release_stuck();
}

/* --- resurrection --- */

static struct rec res_rec[N];
static struct fobj *resurrected[N];

static void GC_CALLBACK fin_resurrect(void *obj, void *cd) {
  struct fobj *o = obj;
  fin_record(obj, cd);
  resurrected[o->id] = o;
}

static NOINLINE void make_resurrectable(void) {
  for (int i = 0; i < N; i++) {
    struct fobj *o = new_fobj(&res_rec[i], i);
    o->ref = new_fobj(&res_rec[i], i + 1000); /* a child, not finalizable */
    GC_register_finalizer(o, fin_resurrect, &res_rec[i], NULL, NULL);
  }
}

static NOINLINE void reregister_even(void) {
  for (int i = 0; i < N; i += 2)
    if (resurrected[i])
      GC_register_finalizer(resurrected[i], fin_record, &res_rec[i], NULL,
                            NULL);
}

TEST(resurrection) {
  make_resurrectable();
  CHECK(FIN_UNTIL(count_ran(res_rec, N) >= N * 9 / 10, 10));
  CHECKF(AT_LEAST_PCT(count_ran(res_rec, N), N, 90), "%d of %d finalized",
         count_ran(res_rec, N), N);
  for (int i = 0; i < 4; i++) {
    fin_collect();
    GC_free(GC_malloc(1 << 16));
  }
  /* Resurrected objects and what they point to are intact; the finalizer
   * did not run again. */
  int damaged = 0, missing = 0;
  for (int i = 0; i < N; i++) {
    if (!res_rec[i].runs)
      continue;
    struct fobj *o = resurrected[i];
    if (!o) {
      missing++;
      continue;
    }
    damaged += o->magic != MAGIC || o->id != i || o->ref == NULL ||
               o->ref->magic != MAGIC || o->ref->id != i + 1000;
  }
  CHECK(missing == 0);
  CHECKF(damaged == 0, "%d resurrected objects damaged", damaged);
  CHECK(count_ran_twice(res_rec, N) == 0);
  CHECK(count_bad(res_rec, N) == 0);

  /* Registering again makes a resurrected object finalizable again; the
   * others stay unfinalizable. */
  int even_ran = 0;
  for (int i = 0; i < N; i += 2)
    even_ran += resurrected[i] != NULL;
  reregister_even();
  memset(resurrected, 0, sizeof resurrected);
  int twice = 0;
  for (int r = 0; r < 10; r++) {
    fin_collect();
    twice = count_ran_twice(res_rec, N);
    if (twice >= even_ran * 9 / 10)
      break;
  }
  CHECKF(AT_LEAST_PCT(twice, even_ran, 90),
         "%d of %d re-registered objects finalized again", twice, even_ran);
  int odd_twice = 0;
  for (int i = 1; i < N; i += 2)
    odd_twice += res_rec[i].runs > 1;
  CHECK(odd_twice == 0);
  for (int i = 0; i < N; i++)
    CHECK(res_rec[i].runs <= 2);
}

/* --- a finalizer may allocate --- */

static struct rec alloc_rec[N];
static struct fobj *volatile made_by_finalizers;

static void GC_CALLBACK fin_allocating(void *obj, void *cd) {
  struct fobj *o = obj;
  fin_record(obj, cd);
  struct fobj *n = GC_malloc(sizeof *n);
  if (n == NULL)
    return;
  n->magic = MAGIC;
  n->id = o->id;
  n->ref = made_by_finalizers;
  made_by_finalizers = n;
}

static NOINLINE void make_allocating(void) {
  for (int i = 0; i < N; i++) {
    struct fobj *o = new_fobj(&alloc_rec[i], i);
    GC_register_finalizer(o, fin_allocating, &alloc_rec[i], NULL, NULL);
  }
}

TEST(finalizers_may_allocate) {
  made_by_finalizers = NULL;
  make_allocating();
  CHECK(FIN_UNTIL(count_ran(alloc_rec, N) >= N * 9 / 10, 10));
  for (int i = 0; i < 3; i++)
    fin_collect();
  int n = 0, bad = 0;
  for (struct fobj *p = made_by_finalizers; p; p = p->ref) {
    n++;
    bad += p->magic != MAGIC;
  }
  CHECK(n == count_ran(alloc_rec, N));
  CHECK(bad == 0);
  made_by_finalizers = NULL;
}

/* --- on demand --- */

static struct rec od_rec[N];

static NOINLINE void make_on_demand(struct rec *r, int n) {
  for (int i = 0; i < n; i++) {
    struct fobj *o = new_fobj(&r[i], i);
    GC_register_finalizer(o, fin_record, &r[i], NULL, NULL);
  }
}

static NOINLINE void churn_bytes(size_t total) {
  for (size_t done = 0; done < total; done += 4096) {
    char *p = GC_malloc(4096);
    REQUIRE(p != NULL);
    p[0] = 1;
  }
}

TEST(finalize_on_demand) {
  GC_set_finalize_on_demand(1);
  CHECK(GC_get_finalize_on_demand() != 0);
  make_on_demand(od_rec, N);
  /* Collections (explicit or triggered by allocation) queue finalizers but
   * do not run them. */
  for (int r = 0; r < 10 && !GC_should_invoke_finalizers(); r++) {
    round_no++;
    scrub_stack();
    GC_gcollect();
  }
  CHECK(GC_should_invoke_finalizers());
  churn_bytes(32 << 20);
  scrub_stack();
  GC_gcollect();
  CHECKF(count_ran(od_rec, N) == 0,
         "%d finalizers ran without GC_invoke_finalizers in on-demand mode",
         count_ran(od_rec, N));

  /* GC_invoke_finalizers runs them, on the calling thread, and returns how
   * many it ran. */
  int total = 0;
  for (int r = 0; r < 10; r++) {
    int n = GC_invoke_finalizers();
    CHECK(n >= 0);
    total += n;
    CHECKF(total == count_ran(od_rec, N), "invoke returned %d in all, %d ran",
           total, count_ran(od_rec, N));
    CHECK(!GC_should_invoke_finalizers()); /* nothing left to do */
    if (total >= N * 9 / 10)
      break;
    round_no++;
    scrub_stack();
    GC_gcollect();
  }
  CHECKF(AT_LEAST_PCT(total, N, 90), "%d of %d finalized", total, N);
  int off = 0;
  for (int i = 0; i < N; i++)
    off += od_rec[i].off_thread;
  CHECKF(off == 0, "%d finalizers did not run on the invoking thread", off);
  CHECK(count_bad(od_rec, N) == 0);
  CHECK(GC_invoke_finalizers() == 0);

  GC_set_finalize_on_demand(0);
  CHECK(GC_get_finalize_on_demand() == 0);
}

/* --- finalizer notifier --- */

static _Atomic int notifications, notified_with_work;

static void GC_CALLBACK notifier(void) {
  notifications++;
  if (GC_should_invoke_finalizers())
    notified_with_work++;
}

static struct rec nt_rec[N], nt_default_rec[N];

TEST(finalizer_notifier) {
  notifications = notified_with_work = 0;
  GC_set_finalize_on_demand(1);
  GC_set_finalizer_notifier(notifier);
  CHECK(GC_get_finalizer_notifier() == notifier);
  make_on_demand(nt_rec, N);
  for (int r = 0; r < 10 && notifications == 0; r++) {
    round_no++;
    scrub_stack();
    GC_gcollect();
  }
  CHECK(notifications > 0);
  CHECK(notified_with_work > 0);
  CHECK(count_ran(nt_rec, N) == 0); /* notified, not run */
  CHECK(GC_invoke_finalizers() > 0);
  for (int r = 0; r < 10 && count_ran(nt_rec, N) < N * 9 / 10; r++) {
    round_no++;
    scrub_stack();
    GC_gcollect();
    GC_invoke_finalizers();
  }
  CHECK(AT_LEAST_PCT(count_ran(nt_rec, N), N, 90));

  /* "Never invoked unless GC_finalize_on_demand is set." */
  GC_set_finalize_on_demand(0);
  notifications = 0;
  make_on_demand(nt_default_rec, N);
  CHECK(FIN_UNTIL(count_ran(nt_default_rec, N) >= N * 9 / 10, 10));
  CHECKF(notifications == 0, "notifier called %d times without on-demand",
         notifications);

  GC_set_finalizer_notifier(0);
  CHECK(GC_get_finalizer_notifier() == 0);
}

/* finalgc's FINALGCDEBUG=checkfinalizers=1 reports finalizers that can
 * never run, in a child process: not an ignore-self finalizer on an
 * object that points to itself, nor a no-order one in a cycle, which
 * both run (it reported both).  finalgc only: bdwgc has no such option. */
#ifdef GC_FINALGC
static void GC_CALLBACK fin_nothing(void *obj, void *cd) {
  (void)obj;
  (void)cd;
}

static NOINLINE void make_self_and_cycles(void) {
  for (int i = 0; i < 10; i++) {
    void **self = GC_malloc(2 * sizeof(void *));
    REQUIRE(self != NULL);
    self[0] = self;
    GC_register_finalizer_ignore_self(self, fin_nothing, NULL, NULL, NULL);
    void **a = GC_malloc(2 * sizeof(void *)), **b = GC_malloc(2 * sizeof *b);
    REQUIRE(a != NULL && b != NULL);
    a[0] = b;
    b[0] = a;
    GC_register_finalizer_no_order(a, fin_nothing, NULL, NULL, NULL);
    GC_register_finalizer_no_order(b, fin_nothing, NULL, NULL, NULL);
  }
}

static int checkfin_child(void) {
  make_self_and_cycles();
  collect_rounds(3);
  return 0;
}

TEST(checkfinalizers_knows_the_orders) {
  char cmd[160], out[4096];
  snprintf(cmd, sizeof cmd,
           "FINALGCDEBUG=checkfinalizers=1 /proc/%d/exe --checkfin 2>&1",
           (int)getpid());
  FILE *p = popen(cmd, "r");
  REQUIRE(p != NULL);
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  CHECK(pclose(p) == 0);
  CHECKF(strstr(out, "will never run") == NULL, "child said: %.200s", out);
}
#endif

int main(int argc, char **argv) {
  GC_INIT();
  compat_init();
#ifdef GC_FINALGC
  if (argc > 1 && strcmp(argv[1], "--checkfin") == 0)
    return checkfin_child();
#else
  (void)argc;
  (void)argv;
#endif
  main_thread = pthread_self();
  RUN(finalizer_runs_once_for_unreachable_object);
  RUN(reachable_objects_are_not_finalized);
  RUN(ordered_finalization_is_topological);
  RUN(finalizer_of_a_sees_b_unfinalized);
  RUN(chains_are_finalized_head_first);
  RUN(ordered_cycles_are_never_finalized);
  RUN(ignore_self);
  RUN(no_order_finalizes_cycles_together);
  RUN(unreachable_waits_for_unordered_referrers);
  RUN(replace_and_remove_finalizer);
  RUN(client_data_is_kept_alive_until_the_finalizer_runs);
  RUN(client_data_pointing_to_the_object_keeps_it);
  RUN(resurrection);
  RUN(finalizers_may_allocate);
  RUN(finalize_on_demand);
  RUN(finalizer_notifier);
#ifdef GC_FINALGC
  RUN(checkfinalizers_knows_the_orders);
#endif
  return test_summary();
}
