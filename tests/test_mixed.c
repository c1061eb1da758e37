/* finalgc's native API and its bdwgc layer in one program: a cleanup
 * (gc_add_cleanup) on an object that only a bdwgc no-order finalizable
 * object reaches must wait while that finalizer can still revive it. */
#include <gc.h>

#include "finalgc.h"
#include "testhelper.h"

struct holder {
  void *x;
};

struct record {
  int cleaned;            /* X's cleanup ran */
  int finalized;          /* Y's finalizer ran */
  int cleaned_before_fin; /* X's cleanup had run when Y's finalizer ran */
};

static struct record rec[ATTEMPTS];
static void *volatile revived[ATTEMPTS]; /* X, kept by Y's finalizer */

static void cleanup(void *arg) {
  __atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
}

static void fin(void *obj, void *cd) {
  struct record *r = cd;
  r->cleaned_before_fin = __atomic_load_n(&r->cleaned, __ATOMIC_ACQUIRE);
  revived[r - rec] = ((struct holder *)obj)->x;
  r->finalized = 1;
}

/* Y (no-order finalizer) -> X (cleanup), both unreachable on return. */
static NOINLINE void make_pair(int a) {
  struct holder *y = GC_malloc(sizeof *y);
  void *x = gc_alloc(32);
  y->x = x;
  gc_cleanup c = gc_add_cleanup(x, cleanup, &rec[a].cleaned);
  REQUIRE(c.id != 0);
  GC_register_finalizer_no_order(y, fin, &rec[a], NULL, NULL);
}

static void collect(void) {
  scrub_stack();
  GC_gcollect(); /* returns once the finalizers it readied have run */
  gc_wait_cleanups();
}

TEST(cleanup_waits_for_no_order_referrer) {
  int done = 0;
  for (int a = 0; a < ATTEMPTS && !done; a++) {
    make_pair(a);
    for (int i = 0; i < 10 && !rec[a].finalized; i++)
      collect();
    if (!rec[a].finalized)
      continue;
    /* X was revived by Y's finalizer: its cleanup must not have run, and
     * does not while X stays reachable. */
    CHECK(!rec[a].cleaned_before_fin);
    for (int i = 0; i < 3; i++)
      collect();
    CHECK(!__atomic_load_n(&rec[a].cleaned, __ATOMIC_ACQUIRE));
    revived[a] = NULL;
    for (int i = 0; i < 10 && !rec[a].cleaned; i++)
      collect();
    done = __atomic_load_n(&rec[a].cleaned, __ATOMIC_ACQUIRE);
  }
  CHECK(done);
}

int main(void) {
  GC_INIT();
  RUN(cleanup_waits_for_no_order_referrer);
  return test_summary();
}
