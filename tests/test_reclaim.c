/* Unreachable objects are reclaimed: a garbage-heavy program's heap stays
 * bounded, noscan memory retains nothing, an end-of-object pointer does
 * not retain the next object, the RSS falls after the heap shrinks, and
 * exhaustion is reported as ENOMEM.
 *
 * "Was collected" is checked through hidden pointers (XOR-ed, so the
 * collector cannot see them) and gc_base, which returns NULL for a freed
 * slot; because a conservative collector may keep a stray object, those
 * checks are statistical (>= 90%).  Automatic collection is off while such
 * objects are made, so that no slot is freed and reused before the check. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "finalgc.h"
#include "testhelper.h"

#define HIDE(p) ((uintptr_t)(p) ^ (uintptr_t)0x5a5a5a5a5a5a5a5aULL)
#define REVEAL(h) ((void *)((h) ^ (uintptr_t)0x5a5a5a5a5a5a5a5aULL))

static size_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
      resident = 0;
    fclose(f);
  }
  return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t count_alive(const uintptr_t *hidden, int n) {
  size_t alive = 0;
  for (int i = 0; i < n; i++)
    alive += gc_base(REVEAL(hidden[i])) != NULL;
  return alive;
}

struct node {
  struct node *next;
  uint64_t payload[5];
};

static NOINLINE struct node *make_list(int n) {
  struct node *head = NULL;
  for (int i = 0; i < n; i++) {
    struct node *x = gc_alloc(sizeof *x);
    x->next = head;
    x->payload[0] = (uint64_t)i;
    head = x;
  }
  return head;
}

static NOINLINE void garbage(size_t bytes) {
  for (size_t done = 0; done < bytes;) {
    size_t size = 16 + (done / 64) % 240;
    struct node *x = gc_alloc(size);
    x->payload[0] = done;
    done += size;
  }
}

/* Allocating 100x the live heap in garbage keeps the heap within 4x the
 * live heap plus a constant. */
TEST(bounded_heap) {
  struct node *live = make_list(150000); /* ~10 MB live */
  gc_collect();
  gc_stats st;
  gc_read_stats(&st);
  size_t live_bytes = st.heap_live;
  size_t max_mapped = 0;
  for (int i = 0; i < 100; i++) {
    garbage(live_bytes);
    gc_read_stats(&st);
    if (st.heap_mapped > max_mapped)
      max_mapped = st.heap_mapped;
  }
  CHECK(live_bytes > (size_t)8 << 20);
  CHECK(max_mapped <= 4 * live_bytes + ((size_t)16 << 20));
  int n = 0;
  for (struct node *x = live; x; x = x->next)
    n += x->payload[0] == (uint64_t)(149999 - n);
  CHECK(n == 150000);
}

enum { N = 10000 };
static uintptr_t hidden[N];

/* Makes N objects pointed to only from the contents of a holder object. */
static NOINLINE void *make_held(int noscan) {
  void **holder = noscan ? gc_alloc_noscan(N * sizeof(void *))
                         : gc_alloc(N * sizeof(void *));
  for (int i = 0; i < N; i++) {
    holder[i] = gc_alloc(32);
    hidden[i] = HIDE(holder[i]);
  }
  return holder;
}

/* A noscan object full of pointer-looking values keeps nothing alive; the
 * same values in a scanned object keep everything (the control). */
TEST(noscan_retains_nothing) {
  gc_set_percent(-1);
  void *volatile holder = make_held(1);
  scrub_stack();
  gc_collect();
  CHECK(count_alive(hidden, N) <= N / 10);
  CHECK(gc_base(holder) == holder);

  holder = make_held(0);
  gc_set_percent(100);
  scrub_stack();
  gc_collect();
  CHECK(count_alive(hidden, N) == N);
  holder = NULL;
}

/* Keeps, for each of N pairs of adjacent objects x, y, only a pointer one
 * past the end of x (hidden pointers to y). */
static NOINLINE void make_pairs(char **ends, size_t size) {
  for (int i = 0; i < N; i++) {
    char *x = gc_alloc(size);
    char *y = gc_alloc(size);
    ends[i] = x + size;
    hidden[i] = HIDE(y);
  }
}

TEST(end_pointer_does_not_retain_next) {
  size_t sizes[] = {24, 32, 320, 1000};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    char **ends = gc_alloc(N * sizeof(char *));
    gc_set_percent(-1);
    make_pairs(ends, sizes[k]);
    gc_set_percent(100);
    scrub_stack();
    gc_collect();
    CHECK(count_alive(hidden, N) <= N / 10);
    /* ...and each x is kept by its end pointer. */
    int kept = 0;
    for (int i = 0; i < N; i++)
      kept += gc_base(ends[i]) == ends[i] - sizes[k];
    CHECK(kept == N);
  }
}

/* The big heap is many short lists, each held from a global: a stray
 * pointer to a node (a stale register, say) keeps at most what its list
 * reaches, 256 KiB, not the whole heap as one long list would. */
enum { BIG_LISTS = 1024 };
static struct node *big_lists[BIG_LISTS];

static NOINLINE void make_big_heap(size_t bytes) {
  size_t per_list = bytes / BIG_LISTS;
  for (int k = 0; k < BIG_LISTS; k++) {
    struct node *head = NULL;
    for (size_t done = 0; done < per_list; done += sizeof(struct node)) {
      struct node *x = gc_alloc(sizeof *x);
      x->next = head;
      head = x;
    }
    big_lists[k] = head;
  }
}

static NOINLINE void drop_big_heap(void) {
  memset(big_lists, 0, sizeof big_lists);
}

/* After a big heap is dropped, the collector gives its pages back. */
TEST(rss_falls_after_shrink) {
  size_t big = (size_t)256 << 20;
  make_big_heap(big);
  size_t rss_full = rss_bytes();
  drop_big_heap();
  scrub_stack();
  gc_collect();
  gc_collect();
  gc_stats st;
  gc_read_stats(&st);
  size_t rss_after = rss_bytes();
  CHECK(rss_full > big);
  CHECK(rss_after + big / 2 < rss_full);
  CHECK(st.heap_mapped < (size_t)64 << 20);
  CHECK(st.heap_released > big / 2);
}

/* Exhaustion: with a heap limit, allocation fails with ENOMEM instead of
 * crashing, and the heap works again once memory is dropped.  Runs in a
 * child so that the limit does not affect the other tests. */
enum { OOM_CHAIN = 64, OOM_CHAINS = 4096 };
static void **oom_chains[OOM_CHAINS];

/* Fills the heap to its limit with 4 KiB objects on chains of OOM_CHAIN,
 * each held from a global (a stray pointer to one keeps only what its chain
 * reaches, at most 256 KiB); returns how many, errno as the last
 * allocation left it. */
static NOINLINE size_t oom_fill(void) {
  size_t n = 0;
  for (;;) {
    void **p = gc_alloc(4096);
    if (!p)
      break;
    size_t k = n / OOM_CHAIN;
    if (k == OOM_CHAINS)
      abort();
    p[0] = oom_chains[k];
    oom_chains[k] = p;
    n++;
  }
  return n;
}

static NOINLINE size_t oom_count(void) {
  size_t len = 0;
  for (size_t k = 0; k < OOM_CHAINS; k++)
    for (void **p = oom_chains[k]; p; p = p[0])
      len++;
  return len;
}

static int oom_child(void) {
  gc_set_max_heap((size_t)64 << 20);
  size_t n = oom_fill();
  if (errno != ENOMEM || n < 1000)
    return 1;
  if (gc_alloc(1 << 20) != NULL || errno != ENOMEM)
    return 2;
  if (oom_count() != n)
    return 3;
  memset(oom_chains, 0, sizeof oom_chains);
  scrub_stack();
  gc_collect();
  return gc_alloc(1 << 20) != NULL ? 0 : 4;
}

TEST(out_of_memory) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "/proc/%d/exe --oom", (int)getpid());
  CHECK(system(cmd) == 0);
  errno = 0;
  CHECK(gc_alloc(SIZE_MAX - 4096) == NULL && errno == ENOMEM);
  CHECK(gc_alloc((size_t)1 << 62) == NULL && errno == ENOMEM);
  CHECK(gc_alloc(64) != NULL);
}

/* GOGC: automatic collections follow the percentage, and off means off. */
static int gogc_off_child(void) {
  gc_stats a, b;
  gc_read_stats(&a);
  garbage((size_t)64 << 20);
  gc_read_stats(&b);
  return b.num_gc == a.num_gc ? 0 : 1;
}

TEST(pacing) {
  gc_stats a, b;
  gc_read_stats(&a);
  garbage((size_t)64 << 20);
  gc_read_stats(&b);
  CHECK(b.num_gc > a.num_gc);
  CHECK(gc_set_percent(-1) == 100);
  gc_read_stats(&a);
  garbage((size_t)64 << 20);
  gc_read_stats(&b);
  CHECK(b.num_gc == a.num_gc);
  CHECK(gc_set_percent(100) == -1);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "FINALGC_GOGC=off /proc/%d/exe --gogc-off",
           (int)getpid());
  CHECK(system(cmd) == 0);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--oom") == 0)
    return oom_child();
  if (argc > 1 && strcmp(argv[1], "--gogc-off") == 0)
    return gogc_off_child();
  gc_init();
  RUN(bounded_heap);
  RUN(noscan_retains_nothing);
  RUN(end_pointer_does_not_retain_next);
  RUN(rss_falls_after_shrink);
  RUN(out_of_memory);
  RUN(pacing);
  return test_summary();
}
