/* Finalizers: Go's SetFinalizer semantics, one test per rule, mirroring
 * runtime/mfinal_test.go.  Objects meant to die are made in NOINLINE
 * helpers and the stack is scrubbed before collecting; "ran" checks that
 * depend on the collector finding an object unreachable allow a few rounds
 * (a conservative collector may keep a stray object for a while), while
 * "did not run" checks are absolute. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "finalgc.h"
#include "testhelper.h"

static pthread_t main_thread;

/* Collects and waits for the finalizers until cond holds, at most `rounds`
 * times; returns whether it held. */
#define COLLECT_UNTIL(cond, rounds)                                            \
  ({                                                                           \
    int ok_ = 0;                                                               \
    for (int r_ = 0; r_ < (rounds) && !(ok_ = (cond)); r_++) {                 \
      scrub_stack();                                                           \
      gc_collect();                                                            \
      gc_wait_finalizers();                                                    \
    }                                                                          \
    ok_ || (cond);                                                             \
  })

static void collect_and_wait(int times) {
  for (int i = 0; i < times; i++) {
    scrub_stack();
    gc_collect();
    gc_wait_finalizers();
  }
}

/* --- argument variants (TestFinalizerType, TestFinalizerInterfaceBig) --- */

struct first_field {
  int x;
  void *pad;
};

static volatile int got_x;
static volatile int off_thread;

static void fin_first_field(struct first_field *f, void *arg) {
  got_x = f->x + (int)(intptr_t)arg;
  off_thread = !pthread_equal(pthread_self(), main_thread);
}

static void fin_any(void *obj, void *arg) {
  (void)arg;
  got_x = *(int *)obj;
}

struct big_value {
  uint64_t a;
  int flag;
  char text[200];
};

static volatile int big_ok;
static void fin_big(struct big_value *v, void *arg) {
  big_ok = v->a == 0xfeedface && v->flag == 1 &&
           strcmp(v->text, "a string inside") == 0 && arg == NULL;
}

static NOINLINE void set_first_field(void) {
  struct first_field *f = gc_alloc(sizeof *f);
  f->x = 97531;
  REQUIRE(GC_SET_FINALIZER(f, fin_first_field, (void *)(intptr_t)1) == 0);
}

static NOINLINE void set_any(void) {
  int *x = gc_alloc(sizeof(struct first_field));
  *x = 97531;
  REQUIRE(GC_SET_FINALIZER(x, fin_any, NULL) == 0);
}

static NOINLINE void set_big(void) {
  struct big_value *v = gc_alloc(sizeof *v);
  v->a = 0xfeedface;
  v->flag = 1;
  strcpy(v->text, "a string inside");
  REQUIRE(GC_SET_FINALIZER(v, fin_big, NULL) == 0);
}

TEST(argument_variants) {
  got_x = 0;
  set_first_field();
  CHECK(COLLECT_UNTIL(got_x == 97532, 10));
  CHECK(off_thread);
  got_x = 0;
  set_any();
  CHECK(COLLECT_UNTIL(got_x == 97531, 10));
  big_ok = 0;
  set_big();
  CHECK(COLLECT_UNTIL(big_ok, 10));
}

/* --- zero-size objects and globals (TestFinalizerZeroSizedStruct,
 *     TestFinalizerOnGlobal) --------------------------------------------- */

static volatile int never;
static void fin_never(void *obj, void *arg) {
  (void)obj;
  (void)arg;
  never++;
}

static struct first_field global_object;
static struct first_field initialized_global = {7, NULL};

TEST(zero_size_and_globals) {
  never = 0;
  CHECK(gc_set_finalizer(gc_alloc(0), fin_never, NULL) == GC_OK);
  CHECK(gc_set_finalizer(&global_object, fin_never, NULL) == GC_OK);
  CHECK(gc_set_finalizer(&initialized_global, fin_never, NULL) == GC_OK);
  CHECK(gc_set_finalizer(&global_object, NULL, NULL) == GC_OK);
  collect_and_wait(3);
  CHECK(never == 0);
}

/* --- an end-of-object pointer does not retain the next object
 *     (TestEmptySlice) ---------------------------------------------------- */

static volatile int y_finalized;
static void fin_y(void *obj, void *arg) {
  (void)obj;
  (void)arg;
  y_finalized = 1;
}

static char *end_of_x;

static NOINLINE void make_adjacent(void) {
  for (;;) {
    char *x = gc_alloc(320);
    char *y = gc_alloc(320);
    if (y == x + gc_size(x)) {
      end_of_x = x + 320; /* x[320:] in Go */
      REQUIRE(gc_set_finalizer(y, fin_y, NULL) == GC_OK);
      return;
    }
  }
}

TEST(end_pointer_does_not_retain_next) {
  y_finalized = 0;
  make_adjacent();
  CHECK(COLLECT_UNTIL(y_finalized, 10));
  CHECK(gc_base(end_of_x) != NULL); /* x itself is kept by it */
  end_of_x = NULL;
}

/* --- KeepAlive (TestDeferKeepAlive, and the seed's File example) -------- */

static volatile int keep_finalized;
static void fin_keep(void *obj, void *arg) {
  (void)obj;
  (void)arg;
  keep_finalized = 1;
}

static NOINLINE void uses_collections(void) { collect_and_wait(3); }

TEST(keep_alive) {
  keep_finalized = 0;
  long *x = gc_alloc(sizeof(long) * 4);
  REQUIRE(gc_set_finalizer(x, fin_keep, NULL) == GC_OK);
  uses_collections();
  CHECK(keep_finalized == 0);
  gc_keep_alive(x);
}

struct file {
  int fd;
};

static void close_file(struct file *f, void *arg) {
  (void)arg;
  close(f->fd);
}

/* The seed's example: the last use of p is reading p->fd, and the
 * finalizer closes the descriptor; gc_keep_alive(p) after the read keeps
 * the descriptor open until the read is done. */
static NOINLINE ssize_t read_file(int fd, char *buf) {
  struct file *p = gc_alloc(sizeof *p);
  p->fd = fd;
  REQUIRE(GC_SET_FINALIZER(p, close_file, NULL) == GC_OK);
  int d = p->fd;
  uses_collections(); /* collections while the read is pending */
  ssize_t n = read(d, buf, 1);
  gc_keep_alive(p);
  return n;
}

TEST(keep_alive_file) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  REQUIRE(write(fds[1], "k", 1) == 1);
  char c = 0;
  CHECK(read_file(fds[0], &c) == 1 && c == 'k');
  /* Once the file is unreachable, its finalizer closes the descriptor. */
  CHECK(COLLECT_UNTIL(fcntl(fds[0], F_GETFD) == -1 && errno == EBADF, 10));
  close(fds[1]);
}

/* --- resurrection and re-arming ----------------------------------------- */

static struct first_field *resurrected;
static volatile int first_runs, second_runs;

static void fin_second(struct first_field *f, void *arg) {
  (void)arg;
  second_runs += f->x == 4242;
}

static void fin_resurrect(struct first_field *f, void *arg) {
  (void)arg;
  first_runs++;
  resurrected = f; /* reachable again */
}

static NOINLINE void make_resurrectable(void) {
  struct first_field *f = gc_alloc(sizeof *f);
  f->x = 4242;
  f->pad = gc_alloc(64); /* what it reaches survives too */
  memset(f->pad, 0x5a, 64);
  REQUIRE(GC_SET_FINALIZER(f, fin_resurrect, NULL) == GC_OK);
}

static NOINLINE void rearm_and_drop(void) {
  REQUIRE(GC_SET_FINALIZER(resurrected, fin_second, NULL) == GC_OK);
  resurrected = NULL;
}

TEST(resurrection) {
  first_runs = second_runs = 0;
  resurrected = NULL;
  make_resurrectable();
  CHECK(COLLECT_UNTIL(first_runs == 1, 10));
  REQUIRE(resurrected != NULL);
  collect_and_wait(5);
  /* Alive, contents intact, and its finalizer ran once only. */
  CHECK(first_runs == 1);
  CHECK(resurrected->x == 4242);
  unsigned char *pad = resurrected->pad;
  int intact = 1;
  for (int i = 0; i < 64; i++)
    intact &= pad[i] == 0x5a;
  CHECK(intact);
  /* A new finalizer, and a second death. */
  rearm_and_drop();
  CHECK(COLLECT_UNTIL(second_runs == 1, 10));
  CHECK(first_runs == 1);
}

/* --- ordering: A -> B, chains, cycles ------------------------------------ */

struct link {
  struct link *next;
  int id;
};

/* Finalization order, per chain: a link's id is chain * 100 + position. */
enum { CHAINS = 5 };
static int order[CHAINS][16];
static volatile int order_len[CHAINS];
static void fin_order(struct link *l, void *arg) {
  (void)arg;
  int c = l->id / 100;
  order[c][order_len[c]++] = l->id % 100;
}

static NOINLINE void make_chain(int chain, int n) {
  struct link *next = NULL;
  for (int i = n; i >= 1; i--) {
    struct link *l = gc_alloc(sizeof *l);
    l->id = chain * 100 + i;
    l->next = next;
    REQUIRE(GC_SET_FINALIZER(l, fin_order, NULL) == GC_OK);
    next = l;
  }
}

TEST(a_reaches_b) {
  make_chain(0, 2); /* A(1) -> B(2) */
  CHECK(COLLECT_UNTIL(order_len[0] >= 1, 10));
  /* In the cycle that finds A unreachable, only A's finalizer runs. */
  CHECK(order_len[0] == 1 && order[0][0] == 1);
  CHECK(COLLECT_UNTIL(order_len[0] == 2, 10));
  CHECK(order[0][1] == 2);
}

/* Ten links, finalized head first, one per collection.  The order is
 * checked absolutely on every chain; that a chain finishes is statistical
 * (a stale copy of a link's address can hold it for a while), so fresh
 * chains are tried until one does. */
TEST(chain_of_ten) {
  int finished = 0;
  for (int c = 1; c < CHAINS && !finished; c++) {
    make_chain(c, 10);
    COLLECT_UNTIL(order_len[c] >= 1, 10);
    int cycles = 1;
    while (order_len[c] < 10 && cycles < 40) {
      int before = order_len[c];
      collect_and_wait(1);
      cycles++;
      CHECK(order_len[c] <= before + 1); /* never two links in one cycle */
    }
    int in_order = 1;
    for (int i = 0; i < order_len[c]; i++)
      in_order &= order[c][i] == i + 1;
    CHECK(in_order);
    if (order_len[c] == 10) {
      finished = 1;
      CHECK(cycles >= 10);
    }
  }
  CHECK(finished);
}

static NOINLINE void make_cycle(void) {
  struct link *a = gc_alloc(sizeof *a), *b = gc_alloc(sizeof *b);
  a->next = b;
  b->next = a;
  REQUIRE(gc_set_finalizer(a, fin_never, NULL) == GC_OK);
  REQUIRE(gc_set_finalizer(b, fin_never, NULL) == GC_OK);
  struct link *self = gc_alloc(sizeof *self);
  self->next = self;
  REQUIRE(gc_set_finalizer(self, fin_never, NULL) == GC_OK);
  struct link *via_arg = gc_alloc(sizeof *via_arg);
  REQUIRE(gc_set_finalizer(via_arg, fin_never, via_arg) == GC_OK);
}

TEST(cycles_never_finalized) {
  never = 0;
  make_cycle();
  collect_and_wait(8);
  CHECK(never == 0);
}

/* The debug option reports them: run in a child, read its stderr. */
static int checkfin_child(void) {
  printf("fin_never=(%p)\n", (void *)(uintptr_t)fin_never);
  fflush(stdout);
  make_cycle();
  collect_and_wait(2);
  return never == 0 ? 0 : 1;
}

static int run_child(const char *env, const char *arg, char *out,
                     size_t outlen) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "%s /proc/%d/exe %s 2>&1", env, (int)getpid(), arg);
  FILE *p = popen(cmd, "r");
  if (!p)
    return -1;
  size_t n = fread(out, 1, outlen - 1, p);
  out[n] = '\0';
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

TEST(checkfinalizers_reports_cycles) {
  static char out[8192];
  CHECK(run_child("FINALGCDEBUG=checkfinalizers=1", "--checkfin", out,
                  sizeof out) == 0);
  CHECK(count(out, "is reachable from itself") == 3);
  CHECK(count(out, "is reachable from its finalizer's argument") == 1);
  /* Each report names the finalizer (the child prints its address). */
  char fn[64];
  CHECK(sscanf(out, "fin_never=%63s", fn) == 1);
  CHECK(count(out, fn) == 5);
}

/* --- removal, errors ------------------------------------------------------ */

static NOINLINE void set_and_remove(void) {
  long *x = gc_alloc(64);
  REQUIRE(gc_set_finalizer(x, fin_never, NULL) == GC_OK);
  REQUIRE(gc_set_finalizer(x, NULL, NULL) == GC_OK);
  REQUIRE(gc_set_finalizer(x, NULL, NULL) == GC_OK); /* not set: fine */
}

TEST(removal) {
  never = 0;
  set_and_remove();
  collect_and_wait(4);
  CHECK(never == 0);
}

TEST(errors) {
  long *x = gc_alloc(64);
  CHECK(gc_set_finalizer(x, fin_never, NULL) == GC_OK);
  CHECK(gc_set_finalizer(x, fin_never, NULL) == GC_ERR_FINALIZER_SET);
  CHECK(strcmp(gc_strerror(GC_ERR_FINALIZER_SET), "finalizer already set") ==
        0);
  CHECK(gc_set_finalizer(x + 1, fin_never, NULL) == GC_ERR_NOT_AT_BASE);
  int local;
  void *m = malloc(16);
  CHECK(gc_set_finalizer(&local, fin_never, NULL) == GC_ERR_NOT_IN_HEAP);
  CHECK(gc_set_finalizer(m, fin_never, NULL) == GC_ERR_NOT_IN_HEAP);
  CHECK(gc_set_finalizer(NULL, fin_never, NULL) == GC_ERR_INVALID);
  free(m);
  CHECK(gc_set_finalizer(x, NULL, NULL) == GC_OK);
  /* A freed object is not in an allocated block, and gc_free drops the
   * finalizer of what it frees. */
  long *y = gc_alloc(64);
  CHECK(gc_set_finalizer(y, fin_never, NULL) == GC_OK);
  CHECK(gc_free(y) == GC_OK);
  CHECK(gc_set_finalizer(y, fin_never, NULL) == GC_ERR_NOT_IN_HEAP);
  never = 0;
  collect_and_wait(2);
  CHECK(never == 0);
}

static int fatal_child(void) {
  long *x = gc_alloc(64);
  gc_set_finalizer(x, fin_never, NULL);
  gc_set_finalizer(x, fin_never, NULL); /* aborts */
  return 0;
}

TEST(fatal_errors_option) {
  static char out[4096];
  int status =
      run_child("FINALGCDEBUG=fatalerrors=1", "--fatal", out, sizeof out);
  CHECK(status == 128 + SIGABRT);
  CHECK(strstr(out, "gc_set_finalizer: finalizer already set") != NULL);
}

/* --- tiny blocks -----------------------------------------------------------
 */

static void *tiny_seen[2];
static volatile int tiny_runs;
static void fin_tiny(void *obj, void *arg) {
  tiny_seen[(intptr_t)arg] = obj;
  tiny_runs++;
}

static uintptr_t tiny_hidden[2];

static NOINLINE void make_tiny_pair(void) {
  char *a, *b;
  do {
    a = gc_alloc_noscan(4);
    b = gc_alloc_noscan(4);
  } while (gc_base(a) != gc_base(b));
  REQUIRE(gc_set_finalizer(b, fin_tiny, (void *)1) == GC_OK); /* interior */
  REQUIRE(gc_set_finalizer(a, fin_tiny, (void *)0) == GC_OK);
  tiny_hidden[0] = ~(uintptr_t)a;
  tiny_hidden[1] = ~(uintptr_t)b;
}

/* volatile: a static the program never reads would be optimised away, and
 * with it the only reference to the block. */
static char *volatile tiny_keep;

TEST(tiny_block_finalizers) {
  tiny_runs = 0;
  make_tiny_pair();
  /* Keep the block alive through one of its objects: nothing runs. */
  tiny_keep = (char *)~tiny_hidden[0];
  collect_and_wait(3);
  CHECK(tiny_runs == 0);
  tiny_keep = NULL;
  CHECK(COLLECT_UNTIL(tiny_runs == 2, 10));
  /* Each finalizer got the exact pointer that was registered. */
  CHECK(tiny_seen[0] == (void *)~tiny_hidden[0]);
  CHECK(tiny_seen[1] == (void *)~tiny_hidden[1]);
}

/* --- finalizers that allocate, collect and set finalizers ---------------- */

static volatile int nested_runs;
static void fin_nested_inner(void *obj, void *arg) {
  (void)obj;
  (void)arg;
  nested_runs++;
}

static void fin_allocating(void *obj, void *arg) {
  (void)obj;
  (void)arg;
  for (int i = 0; i < 1000; i++)
    (void)gc_alloc(100);
  gc_collect();
  void *inner = gc_alloc(48);
  if (gc_set_finalizer(inner, fin_nested_inner, NULL) != GC_OK)
    abort();
  nested_runs += 100;
}

static NOINLINE void make_allocating(void) {
  REQUIRE(gc_set_finalizer(gc_alloc(48), fin_allocating, NULL) == GC_OK);
}

TEST(finalizer_allocates_and_collects) {
  nested_runs = 0;
  make_allocating();
  CHECK(COLLECT_UNTIL(nested_runs == 101, 20));
}

/* --- on-demand mode and the notifier ------------------------------------- */

static volatile int notified;
static void notifier(void) { notified++; }

static volatile int on_main_thread;
static void fin_where(void *obj, void *arg) {
  (void)obj;
  (void)arg;
  on_main_thread += pthread_equal(pthread_self(), main_thread);
}

static NOINLINE void make_where(int n) {
  for (int i = 0; i < n; i++)
    REQUIRE(gc_set_finalizer(gc_alloc(32), fin_where, NULL) == GC_OK);
}

static int on_demand_child(void) {
  main_thread = pthread_self();
  gc_set_finalize_on_demand(1);
  gc_set_finalizer_notifier(notifier);
  make_where(100);
  scrub_stack();
  gc_collect();
  if (notified < 1)
    return 1;
  usleep(50000);
  if (on_main_thread != 0) /* nothing runs by itself */
    return 2;
  int ran = gc_run_finalizers();
  if (ran < 90 || on_main_thread != ran)
    return 3;
  if (gc_run_finalizers() != 0)
    return 4;
  gc_stats st;
  gc_read_stats(&st);
  return st.finalizers_run == st.finalizers_queued ? 0 : 5;
}

TEST(on_demand_with_notifier) {
  static char out[1024];
  CHECK(run_child("", "--on-demand", out, sizeof out) == 0);
}

/* --- many finalizers, all run exactly once ------------------------------- */

enum { MANY = 100000 };
static unsigned char runs[MANY];

static void fin_count(void *obj, void *arg) {
  (void)obj;
  runs[(intptr_t)arg]++;
}

static NOINLINE void make_many(void) {
  for (int i = 0; i < MANY; i++) {
    size_t size = 16 + (size_t)(i % 7) * 40; /* several size classes */
    REQUIRE(gc_set_finalizer(gc_alloc(size), fin_count, (void *)(intptr_t)i) ==
            GC_OK);
  }
}

static int count_runs(int *twice) {
  int once = 0;
  *twice = 0;
  for (int i = 0; i < MANY; i++) {
    once += runs[i] >= 1;
    *twice += runs[i] > 1;
  }
  return once;
}

TEST(many_finalizers_run_exactly_once) {
  memset(runs, 0, sizeof runs);
  make_many();
  collect_and_wait(1);
  int twice;
  int first = count_runs(&twice);
  CHECK(first >= MANY - MANY / 1000);
  CHECK(COLLECT_UNTIL(count_runs(&twice) == MANY, 20));
  collect_and_wait(2);
  CHECK(count_runs(&twice) == MANY && twice == 0);
}

/* --- gc_wait_finalizers returns only after they have run ------------------ */

static volatile int slow_done;
static void fin_slow(void *obj, void *arg) {
  (void)obj;
  (void)arg;
  usleep(2000);
  __atomic_add_fetch(&slow_done, 1, __ATOMIC_RELEASE);
}

static NOINLINE void make_slow(int n) {
  for (int i = 0; i < n; i++)
    REQUIRE(gc_set_finalizer(gc_alloc(40), fin_slow, NULL) == GC_OK);
}

TEST(wait_finalizers_waits) {
  slow_done = 0;
  make_slow(20);
  scrub_stack();
  gc_stats before, after;
  gc_read_stats(&before);
  gc_collect();
  gc_wait_finalizers();
  int done = __atomic_load_n(&slow_done, __ATOMIC_ACQUIRE);
  gc_read_stats(&after);
  uint64_t queued = after.finalizers_queued - before.finalizers_queued;
  CHECK(queued >= 15);
  CHECK((uint64_t)done == queued);
  CHECK(after.finalizers_run == after.finalizers_queued);
  CHECK(COLLECT_UNTIL(slow_done == 20, 10));
}

/* --- a large object --------------------------------------------------------
 */

static volatile int large_ok;
static void fin_large(void *obj, void *arg) {
  (void)arg;
  large_ok = ((unsigned char *)obj)[100000] == 0x77;
}

static NOINLINE void make_large(void) {
  unsigned char *p = gc_alloc(200000);
  p[100000] = 0x77;
  REQUIRE(gc_set_finalizer(p, fin_large, NULL) == GC_OK);
}

TEST(large_object) {
  large_ok = 0;
  make_large();
  CHECK(COLLECT_UNTIL(large_ok, 10));
}

int main(int argc, char **argv) {
  main_thread = pthread_self();
  if (argc > 1 && strcmp(argv[1], "--checkfin") == 0)
    return checkfin_child();
  if (argc > 1 && strcmp(argv[1], "--fatal") == 0)
    return fatal_child();
  if (argc > 1 && strcmp(argv[1], "--on-demand") == 0)
    return on_demand_child();
  gc_init();
  RUN(argument_variants);
  RUN(zero_size_and_globals);
  RUN(end_pointer_does_not_retain_next);
  RUN(keep_alive);
  RUN(keep_alive_file);
  RUN(resurrection);
  RUN(a_reaches_b);
  RUN(chain_of_ten);
  RUN(cycles_never_finalized);
  RUN(checkfinalizers_reports_cycles);
  RUN(removal);
  RUN(errors);
  RUN(fatal_errors_option);
  RUN(tiny_block_finalizers);
  RUN(finalizer_allocates_and_collects);
  RUN(on_demand_with_notifier);
  RUN(many_finalizers_run_exactly_once);
  RUN(wait_finalizers_waits);
  RUN(large_object);
  return test_summary();
}
