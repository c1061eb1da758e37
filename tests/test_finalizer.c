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
/* --- argument variants (TestFinalizerType, TestFinalizerInterfaceBig) --- */

struct first_field {
  int x;
  void *pad;
};

/* Each attempt's objects hold VALUE + attempt, so that each finalizer
 * records what it saw in its attempt's slot; a value out of range (a wrong
 * object) sets bad_value. */
enum { VALUE = 97531 };
static volatile int got_first[ATTEMPTS], first_off_thread[ATTEMPTS];
static volatile int got_any[ATTEMPTS];
static volatile int big_ran[ATTEMPTS], big_ok[ATTEMPTS];
static volatile int bad_value;

static int attempt_of(int value) {
  int a = value - VALUE;
  if (a < 0 || a >= ATTEMPTS) {
    bad_value = 1;
    return -1;
  }
  return a;
}

static void fin_first_field(struct first_field *f, void *arg) {
  int a = attempt_of(f->x);
  if (a < 0)
    return;
  first_off_thread[a] = !pthread_equal(pthread_self(), main_thread);
  got_first[a] = f->x + (int)(intptr_t)arg;
}

static void fin_any(void *obj, void *arg) {
  (void)arg;
  int a = attempt_of(*(int *)obj);
  if (a >= 0)
    got_any[a] = *(int *)obj;
}

struct big_value {
  uint64_t a;
  int flag;
  char text[200];
  int value;
};

static void fin_big(struct big_value *v, void *arg) {
  int a = attempt_of(v->value);
  if (a < 0)
    return;
  big_ok[a] = v->a == 0xfeedface && v->flag == 1 &&
              strcmp(v->text, "a string inside") == 0 && arg == NULL;
  big_ran[a]++;
}

static NOINLINE void set_first_field(int a) {
  struct first_field *f = gc_alloc(sizeof *f);
  f->x = VALUE + a;
  REQUIRE(GC_SET_FINALIZER(f, fin_first_field, (void *)(intptr_t)1) == 0);
}

static NOINLINE void set_any(int a) {
  int *x = gc_alloc(sizeof(struct first_field));
  *x = VALUE + a;
  REQUIRE(GC_SET_FINALIZER(x, fin_any, NULL) == 0);
}

static NOINLINE void set_big(int a) {
  struct big_value *v = gc_alloc(sizeof *v);
  v->a = 0xfeedface;
  v->flag = 1;
  strcpy(v->text, "a string inside");
  v->value = VALUE + a;
  REQUIRE(GC_SET_FINALIZER(v, fin_big, NULL) == 0);
}

/* Each kind of finalizer runs on some fresh object within ATTEMPTS tries;
 * every one that ran got its object and arg right. */
TEST(argument_variants) {
  int first = 0, any = 0, big = 0;
  for (int a = 0; a < ATTEMPTS && !first; a++) {
    set_first_field(a);
    first = COLLECT_UNTIL(got_first[a] != 0, 10);
  }
  for (int a = 0; a < ATTEMPTS && !any; a++) {
    set_any(a);
    any = COLLECT_UNTIL(got_any[a] != 0, 10);
  }
  for (int a = 0; a < ATTEMPTS && !big; a++) {
    set_big(a);
    big = COLLECT_UNTIL(big_ran[a] != 0, 10);
  }
  CHECK(first && any && big);
  for (int a = 0; a < ATTEMPTS; a++) {
    CHECK(got_first[a] == 0 ||
          (got_first[a] == VALUE + a + 1 && first_off_thread[a]));
    CHECK(got_any[a] == 0 || got_any[a] == VALUE + a);
    CHECK(big_ran[a] == 0 || (big_ran[a] == 1 && big_ok[a]));
  }
  CHECK(!bad_value);
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

static volatile int y_finalized[ATTEMPTS];
static void fin_y(void *obj, void *arg) {
  (void)obj;
  y_finalized[(intptr_t)arg]++;
}

static char *end_of_x[ATTEMPTS];

static NOINLINE void make_adjacent(int a) {
  for (;;) {
    char *x = gc_alloc(320);
    char *y = gc_alloc(320);
    if (y == x + gc_size(x)) {
      end_of_x[a] = x + 320; /* x[320:] in Go */
      REQUIRE(gc_set_finalizer(y, fin_y, (void *)(intptr_t)a) == GC_OK);
      return;
    }
  }
}

/* Fresh pairs until some y is finalized; every x is kept by its end
 * pointer. */
TEST(end_pointer_does_not_retain_next) {
  int done = 0, tried = 0;
  while (tried < ATTEMPTS && !done) {
    make_adjacent(tried);
    done = COLLECT_UNTIL(y_finalized[tried], 10);
    tried++;
  }
  CHECK(done);
  for (int a = 0; a < tried; a++) {
    CHECK(gc_base(end_of_x[a]) != NULL); /* x itself is kept by it */
    CHECK(y_finalized[a] <= 1);
  }
  memset(end_of_x, 0, sizeof end_of_x);
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

/* Fresh files until one's finalizer has closed its descriptor.  The read
 * must succeed every time.  A descriptor whose file is still alive is left
 * open: it belongs to that file's finalizer, which may still run. */
TEST(keep_alive_file) {
  int closed = 0;
  for (int a = 0; a < ATTEMPTS && !closed; a++) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    REQUIRE(write(fds[1], "k", 1) == 1);
    char c = 0;
    CHECK(read_file(fds[0], &c) == 1 && c == 'k');
    /* Once the file is unreachable, its finalizer closes the descriptor. */
    closed = COLLECT_UNTIL(fcntl(fds[0], F_GETFD) == -1 && errno == EBADF, 10);
    close(fds[1]);
  }
  CHECK(closed);
}

/* --- resurrection and re-arming ----------------------------------------- */

/* Per attempt (the finalizers' arg). */
static struct first_field *resurrected[ATTEMPTS];
static volatile int first_runs[ATTEMPTS], second_runs[ATTEMPTS];
static volatile int second_bad;

static void fin_second(struct first_field *f, void *arg) {
  second_bad |= f->x != 4242;
  second_runs[(intptr_t)arg]++;
}

static void fin_resurrect(struct first_field *f, void *arg) {
  first_runs[(intptr_t)arg]++;
  resurrected[(intptr_t)arg] = f; /* reachable again */
}

static NOINLINE void make_resurrectable(int a) {
  struct first_field *f = gc_alloc(sizeof *f);
  f->x = 4242;
  f->pad = gc_alloc(64); /* what it reaches survives too */
  memset(f->pad, 0x5a, 64);
  REQUIRE(GC_SET_FINALIZER(f, fin_resurrect, (void *)(intptr_t)a) == GC_OK);
}

static NOINLINE int resurrected_intact(int a) {
  if (resurrected[a]->x != 4242)
    return 0;
  unsigned char *pad = resurrected[a]->pad;
  int intact = 1;
  for (int i = 0; i < 64; i++)
    intact &= pad[i] == 0x5a;
  return intact;
}

static NOINLINE void rearm_and_drop(int a) {
  REQUIRE(GC_SET_FINALIZER(resurrected[a], fin_second, (void *)(intptr_t)a) ==
          GC_OK);
  resurrected[a] = NULL;
}

/* Fresh objects until one dies, is resurrected, and dies again; every
 * resurrected one is intact and finalized once per death. */
TEST(resurrection) {
  int done = 0, tried = 0;
  while (tried < ATTEMPTS && !done) {
    int a = tried++;
    make_resurrectable(a);
    if (!COLLECT_UNTIL(first_runs[a] == 1, 10))
      continue;
    REQUIRE(resurrected[a] != NULL);
    collect_and_wait(5);
    /* Alive, contents intact, and its finalizer ran once only. */
    CHECK(first_runs[a] == 1);
    CHECK(resurrected_intact(a));
    /* A new finalizer, and a second death. */
    rearm_and_drop(a);
    done = COLLECT_UNTIL(second_runs[a] == 1, 10);
    CHECK(first_runs[a] == 1);
  }
  CHECK(done);
  for (int a = 0; a < tried; a++)
    CHECK(first_runs[a] <= 1 && second_runs[a] <= first_runs[a]);
  CHECK(!second_bad);
  memset(resurrected, 0, sizeof resurrected);
}

/* --- ordering: A -> B, chains, cycles ------------------------------------ */

struct link {
  struct link *next;
  int id;
};

/* Finalization order, per chain: a link's id is chain * 100 + position.
 * chain_of_ten uses chains 1 to CHAINS - 1, a_reaches_b the PAIRS after. */
enum { CHAINS = 5, PAIRS = ATTEMPTS };
static int order[CHAINS + PAIRS][16];
static volatile int order_len[CHAINS + PAIRS];
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

/* A reaches B: A is finalized alone, B in a later cycle.  The order is
 * checked on every pair; fresh pairs are tried until one finishes. */
TEST(a_reaches_b) {
  int finished = 0;
  for (int c = CHAINS; c < CHAINS + PAIRS && !finished; c++) {
    make_chain(c, 2); /* A(1) -> B(2) */
    if (!COLLECT_UNTIL(order_len[c] >= 1, 10))
      continue;
    /* In the cycle that finds A unreachable, only A's finalizer runs. */
    CHECK(order_len[c] == 1 && order[c][0] == 1);
    finished = COLLECT_UNTIL(order_len[c] == 2, 10);
  }
  CHECK(finished);
  for (int c = CHAINS; c < CHAINS + PAIRS; c++) {
    CHECK(order_len[c] <= 2);
    for (int i = 0; i < order_len[c]; i++)
      CHECK(order[c][i] == i + 1);
  }
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

/* A typed object whose data word (not a pointer, by its layout) holds
 * its own address: the marker does not read that word, so its finalizer
 * runs, and checkfinalizers must not report it (it read every word), nor
 * follow its pointer word into a freed slot. */
static void fin_typed(void *obj, void *arg) {
  (void)obj;
  (void)arg;
}

static NOINLINE void make_typed_self(void) {
  uint64_t first_word_only = 1;
  gc_layout l = gc_make_layout(&first_word_only, 2);
  REQUIRE(l != NULL);
  uintptr_t *o = gc_alloc_typed(2 * sizeof(uintptr_t), l);
  REQUIRE(o != NULL);
  o[1] = (uintptr_t)o;
  /* Its pointer word holds a typed object released with gc_free: under
   * clobberfree that slot's layout word is garbage (a crash). */
  uintptr_t *freed = gc_alloc_typed(2 * sizeof(uintptr_t), l);
  REQUIRE(freed != NULL && gc_free(freed) == GC_OK);
  o[0] = (uintptr_t)freed;
  REQUIRE(gc_set_finalizer(o, fin_typed, NULL) == GC_OK);
}

/* The debug option reports them: run in a child, read its stderr. */
static int checkfin_child(void) {
  printf("fin_never=(%p)\n", (void *)(uintptr_t)fin_never);
  fflush(stdout);
  make_typed_self();
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
  CHECK(run_child("FINALGCDEBUG=checkfinalizers=1,clobberfree=1", "--checkfin",
                  out, sizeof out) == 0);
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

/* Per attempt: the pointers each finalizer got (arg = attempt * 2 + which
 * object) and how many ran. */
static void *tiny_seen[ATTEMPTS][2];
static volatile int tiny_runs[ATTEMPTS];
static void fin_tiny(void *obj, void *arg) {
  intptr_t k = (intptr_t)arg;
  tiny_seen[k / 2][k % 2] = obj;
  tiny_runs[k / 2]++;
}

static uintptr_t tiny_hidden[ATTEMPTS][2];

static NOINLINE void make_tiny_pair(int a) {
  char *x, *y;
  do {
    x = gc_alloc_noscan(4);
    y = gc_alloc_noscan(4);
  } while (gc_base(x) != gc_base(y));
  REQUIRE(gc_set_finalizer(y, fin_tiny, (void *)(intptr_t)(2 * a + 1)) ==
          GC_OK); /* interior */
  REQUIRE(gc_set_finalizer(x, fin_tiny, (void *)(intptr_t)(2 * a)) == GC_OK);
  tiny_hidden[a][0] = ~(uintptr_t)x;
  tiny_hidden[a][1] = ~(uintptr_t)y;
}

/* volatile: a static the program never reads would be optimised away, and
 * with it the only reference to the block. */
static char *volatile tiny_keep;

static NOINLINE void keep_tiny(int a) {
  tiny_keep = (char *)~tiny_hidden[a][0];
}

/* Fresh blocks until one's finalizers both run; on every block, nothing
 * runs while it is kept, and each finalizer gets its exact pointer. */
TEST(tiny_block_finalizers) {
  int done = -1, tried = 0;
  while (tried < ATTEMPTS && done < 0) {
    int a = tried++;
    make_tiny_pair(a);
    /* Keep the block alive through one of its objects: nothing runs. */
    keep_tiny(a);
    collect_and_wait(3);
    CHECK(tiny_runs[a] == 0);
    tiny_keep = NULL;
    if (COLLECT_UNTIL(tiny_runs[a] == 2, 10))
      done = a;
  }
  CHECK(done >= 0);
  if (done >= 0)
    CHECK(tiny_seen[done][0] != NULL && tiny_seen[done][1] != NULL);
  for (int a = 0; a < tried; a++) {
    CHECK(tiny_runs[a] <= 2);
    /* Each finalizer got the exact pointer that was registered. */
    for (int k = 0; k < 2; k++)
      CHECK(tiny_seen[a][k] == NULL ||
            tiny_seen[a][k] == (void *)~tiny_hidden[a][k]);
  }
}

/* --- finalizers that allocate, collect and set finalizers ---------------- */

/* Per attempt (the finalizers' arg). */
static volatile int outer_runs[ATTEMPTS], inner_runs[ATTEMPTS];
static void fin_nested_inner(void *obj, void *arg) {
  (void)obj;
  inner_runs[(intptr_t)arg]++;
}

static void fin_allocating(void *obj, void *arg) {
  (void)obj;
  for (int i = 0; i < 1000; i++)
    (void)gc_alloc(100);
  gc_collect();
  void *inner = gc_alloc(48);
  if (gc_set_finalizer(inner, fin_nested_inner, arg) != GC_OK)
    abort();
  outer_runs[(intptr_t)arg]++;
}

static NOINLINE void make_allocating(int a) {
  REQUIRE(gc_set_finalizer(gc_alloc(48), fin_allocating, (void *)(intptr_t)a) ==
          GC_OK);
}

/* Fresh objects until one's finalizer and the one it set have both run;
 * neither ever runs twice. */
TEST(finalizer_allocates_and_collects) {
  int done = 0, tried = 0;
  while (tried < ATTEMPTS && !done) {
    int a = tried++;
    make_allocating(a);
    done = COLLECT_UNTIL(outer_runs[a] == 1 && inner_runs[a] == 1, 20);
  }
  CHECK(done);
  for (int a = 0; a < tried; a++)
    CHECK(outer_runs[a] <= 1 && inner_runs[a] <= 1);
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
static uintptr_t many_hidden[MANY];

static void fin_count(void *obj, void *arg) {
  (void)obj;
  runs[(intptr_t)arg]++;
}

static NOINLINE void make_many(void) {
  for (int i = 0; i < MANY; i++) {
    size_t size = 16 + (size_t)(i % 7) * 40; /* several size classes */
    void *p = gc_alloc(size);
    many_hidden[i] = hide(p);
    REQUIRE(GC_SET_FINALIZER(p, fin_count, (void *)(intptr_t)i) == GC_OK);
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

/* Objects whose finalizer has not run although they were freed: lost.
 * (Nothing is allocated between the collections and this count, so a freed
 * slot still reads as freed.) */
static int count_lost(const unsigned char *ran, const uintptr_t *hidden,
                      int n) {
  int lost = 0;
  for (int i = 0; i < n; i++)
    lost += ran[i] == 0 && gc_base(reveal(hidden[i])) == NULL;
  return lost;
}

/* Nearly all run after one collection; none ever runs twice, and none is
 * lost: each has run or its object is still allocated (a stray pointer may
 * keep a few alive for good). */
TEST(many_finalizers_run_exactly_once) {
  memset(runs, 0, sizeof runs);
  make_many();
  collect_and_wait(1);
  int twice;
  int first = count_runs(&twice);
  CHECK(first >= MANY - MANY / 1000);
  COLLECT_UNTIL(count_runs(&twice) == MANY, 20);
  collect_and_wait(2);
  count_runs(&twice);
  CHECK(twice == 0);
  CHECK(count_lost(runs, many_hidden, MANY) == 0);
}

/* --- gc_wait_finalizers returns only after they have run ------------------ */

enum { SLOW = 20 };
static volatile int slow_done;
static unsigned char slow_runs[SLOW];
static uintptr_t slow_hidden[SLOW];
static void fin_slow(void *obj, void *arg) {
  (void)obj;
  usleep(2000);
  slow_runs[(intptr_t)arg]++;
  __atomic_add_fetch(&slow_done, 1, __ATOMIC_RELEASE);
}

static NOINLINE void make_slow(void) {
  for (int i = 0; i < SLOW; i++) {
    void *p = gc_alloc(40);
    slow_hidden[i] = hide(p);
    REQUIRE(gc_set_finalizer(p, fin_slow, (void *)(intptr_t)i) == GC_OK);
  }
}

/* In a child, so that no finalizer left over from an earlier test (an
 * object a stray pointer kept for a while) is queued with these: every
 * finalizer the collection queues is one of them. */
static int wait_child(void) {
  test_current = "wait_finalizers_waits";
  gc_init();
  slow_done = 0;
  make_slow();
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
  /* The rest: >= 90% in all, each once, none lost. */
  COLLECT_UNTIL(slow_done == SLOW, 10);
  CHECK(slow_done >= SLOW * 9 / 10);
  int twice = 0;
  for (int i = 0; i < SLOW; i++)
    twice += slow_runs[i] > 1;
  CHECK(twice == 0);
  CHECK(count_lost(slow_runs, slow_hidden, SLOW) == 0);
  return test_summary();
}

TEST(wait_finalizers_waits) {
  static char out[4096];
  int status = run_child("", "--wait", out, sizeof out);
  CHECK(status == 0);
  if (status != 0)
    fputs(out, stderr);
}

/* --- a large object --------------------------------------------------------
 */

/* Per attempt (the finalizer's arg). */
static volatile int large_ran[ATTEMPTS], large_ok[ATTEMPTS];
static void fin_large(void *obj, void *arg) {
  large_ok[(intptr_t)arg] = ((unsigned char *)obj)[100000] == 0x77;
  large_ran[(intptr_t)arg]++;
}

static NOINLINE void make_large(int a) {
  unsigned char *p = gc_alloc(200000);
  p[100000] = 0x77;
  REQUIRE(gc_set_finalizer(p, fin_large, (void *)(intptr_t)a) == GC_OK);
}

/* Fresh objects until one is finalized; each one finalized, once, with
 * its contents intact. */
TEST(large_object) {
  int done = 0, tried = 0;
  while (tried < ATTEMPTS && !done) {
    int a = tried++;
    make_large(a);
    done = COLLECT_UNTIL(large_ran[a] != 0, 10);
  }
  CHECK(done);
  for (int a = 0; a < tried; a++)
    CHECK(large_ran[a] == 0 || (large_ran[a] == 1 && large_ok[a]));
}

int main(int argc, char **argv) {
  main_thread = pthread_self();
  if (argc > 1 && strcmp(argv[1], "--checkfin") == 0)
    return checkfin_child();
  if (argc > 1 && strcmp(argv[1], "--fatal") == 0)
    return fatal_child();
  if (argc > 1 && strcmp(argv[1], "--on-demand") == 0)
    return on_demand_child();
  if (argc > 1 && strcmp(argv[1], "--wait") == 0)
    return wait_child();
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
