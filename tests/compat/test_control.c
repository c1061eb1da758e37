/* Collector control and statistics: GC_INIT / GC_init, GC_gcollect,
 * GC_gcollect_and_unmap, GC_get_gc_no, GC_enable / GC_disable /
 * GC_is_disabled, GC_dont_gc, GC_set_free_space_divisor /
 * GC_get_free_space_divisor, GC_expand_hp, GC_set_max_heap_size,
 * GC_set_oom_fn, GC_set_warn_proc, GC_add_roots / GC_remove_roots,
 * GC_get_heap_size, GC_get_free_bytes, GC_get_total_bytes,
 * GC_get_prof_stats, GC_get_heap_usage_safe, GC_set_start_callback,
 * GC_get_version, as documented in bdwgc's gc.h. */
#include <gc.h>

#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include "compat_helper.h"

/* bdwgc declares GC_set_start_callback in gc_mark.h, which this suite does
 * not include; the same prototype, repeated here. */
extern void GC_set_start_callback(void (*)(void));

static NOINLINE void make_probed_garbage(int n) {
  for (int i = 0; i < n; i++) {
    void *p = GC_malloc(64);
    REQUIRE(p != NULL);
    probe_add(p);
  }
}

static NOINLINE void allocate_garbage_bytes(size_t total, size_t chunk) {
  for (size_t done = 0; done < total; done += chunk) {
    char *p = GC_malloc(chunk);
    REQUIRE(p != NULL);
    p[chunk - 1] = 1;
  }
}

/* --- init, version --- */

TEST(init_is_idempotent) {
  void *p = GC_malloc(32);
  REQUIRE(p != NULL);
  GC_init(); /* "Multiple invocations are harmless." */
  GC_INIT();
  void *volatile q = GC_malloc(32);
  REQUIRE(q != NULL);
  collect_once();
  CHECK(GC_base((void *)q) == q);
}

TEST(version) {
  unsigned v = GC_get_version();
  CHECKF(v == (((unsigned)GC_VERSION_MAJOR << 16) |
               ((unsigned)GC_VERSION_MINOR << 8) | (unsigned)GC_VERSION_MICRO),
         "GC_get_version() = %#x, header says %d.%d.%d", v, GC_VERSION_MAJOR,
         GC_VERSION_MINOR, GC_VERSION_MICRO);
  CHECK(GC_VERSION_MAJOR >= 7);
}

/* --- collections --- */

TEST(gcollect_increments_gc_no) {
  for (int i = 0; i < 5; i++) {
    GC_word before = GC_get_gc_no();
    GC_gcollect();
    CHECKF(GC_get_gc_no() > before, "gc_no %lu -> %lu", (unsigned long)before,
           (unsigned long)GC_get_gc_no());
  }
}

TEST(gcollect_collects) {
  probes_reset();
  make_probed_garbage(200);
  CHECK(COLLECT_UNTIL(probes_alive(0, 200) <= 20, 10));
  CHECKF(probes_alive(0, 200) <= 20, "%d of 200 survived",
         probes_alive(0, 200));
  probes_reset();
}

TEST(gcollect_and_unmap) {
  probes_reset();
  make_probed_garbage(200);
  allocate_garbage_bytes(8 << 20, 64 << 10);
  int rounds = 0;
  do {
    GC_word before = GC_get_gc_no();
    scrub_stack();
    GC_gcollect_and_unmap();
    CHECK(GC_get_gc_no() > before);
  } while (++rounds < 10 && probes_alive(0, 200) > 20);
  CHECKF(probes_alive(0, 200) <= 20, "%d of 200 survived",
         probes_alive(0, 200));
  /* The heap still works after unmapping. */
  char *volatile big = GC_malloc(4 << 20);
  REQUIRE(big != NULL);
  big[(4 << 20) - 1] = 1;
  collect_once();
  CHECK(big[(4 << 20) - 1] == 1);
  probes_reset();
}

/* --- GC_enable / GC_disable / GC_dont_gc --- */

TEST(disable_enable) {
  probes_reset();
  CHECK(!GC_is_disabled());
  GC_disable();
  CHECK(GC_is_disabled());
  GC_disable();
  CHECK(GC_is_disabled());
  GC_enable();
  CHECK(GC_is_disabled()); /* calls nest */

  make_probed_garbage(100);
  GC_word before = GC_get_gc_no();
  for (int i = 0; i < 3; i++)
    collect_once(); /* "Even GC_gcollect calls will be ineffective." */
  allocate_garbage_bytes(32 << 20, 64 << 10);
  CHECKF(GC_get_gc_no() == before, "gc_no %lu -> %lu while disabled",
         (unsigned long)before, (unsigned long)GC_get_gc_no());
  CHECKF(probes_alive(0, 100) == 100,
         "%d of 100 objects collected while disabled",
         100 - probes_alive(0, 100));

  GC_enable();
  CHECK(!GC_is_disabled());
  CHECK(COLLECT_UNTIL(probes_alive(0, 100) <= 10, 10));
  CHECK(GC_get_gc_no() > before);
  probes_reset();
}

TEST(dont_gc) {
  /* First, without it: this much allocation triggers a collection. */
  GC_word before = GC_get_gc_no();
  allocate_garbage_bytes(64 << 20, 64 << 10);
  CHECKF(GC_get_gc_no() > before, "no automatic collection in 64 MiB");

  /* With GC_dont_gc = 1, neither allocation nor GC_gcollect collects. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  GC_dont_gc = 1;
  CHECK(GC_is_disabled());
  before = GC_get_gc_no();
  allocate_garbage_bytes(64 << 20, 64 << 10);
  CHECKF(GC_get_gc_no() == before,
         "gc_no %lu -> %lu while allocating with GC_dont_gc = 1",
         (unsigned long)before, (unsigned long)GC_get_gc_no());
  GC_gcollect();
  CHECK(GC_get_gc_no() == before);
  GC_dont_gc = 0;
#pragma GCC diagnostic pop
  CHECK(!GC_is_disabled());
  GC_gcollect();
  CHECK(GC_get_gc_no() > before);
}

/* --- tuning --- */

TEST(free_space_divisor) {
  GC_word old = GC_get_free_space_divisor();
  CHECK(old > 0);
  GC_set_free_space_divisor(7);
  CHECK(GC_get_free_space_divisor() == 7);
  GC_set_free_space_divisor(1);
  CHECK(GC_get_free_space_divisor() == 1);
  allocate_garbage_bytes(8 << 20, 1024); /* still works */
  GC_set_free_space_divisor(old);
  CHECK(GC_get_free_space_divisor() == old);
}

TEST(expand_hp) {
  size_t before = GC_get_heap_size();
  CHECK(GC_expand_hp(8 << 20) == 1);
  size_t after = GC_get_heap_size();
  CHECKF(after >= before + (8 << 20), "heap %zu -> %zu after expanding 8 MiB",
         before, after);
  /* The new space is usable. */
  char *volatile p = GC_malloc(4 << 20);
  REQUIRE(p != NULL);
  p[0] = 1;
}

/* --- out of memory --- */

static void *oom_result;
static size_t oom_requested;
static _Atomic int oom_calls;

static void *GC_CALLBACK counting_oom(size_t bytes) {
  oom_calls++;
  oom_requested = bytes;
  return oom_result;
}

static void *GC_CALLBACK null_oom(size_t bytes) {
  (void)bytes;
  return NULL;
}

static _Atomic int warnings, bad_warnings;

static void GC_CALLBACK counting_warn(char *msg, GC_word arg) {
  (void)arg;
  warnings++;
  if (msg == NULL)
    bad_warnings++;
}

TEST(oom_fn) {
  /* Never NULL: a handler may call the one it replaced. */
  GC_oom_func old_oom = GC_get_oom_fn();
  CHECK(old_oom != NULL);
  GC_warn_proc old_warn = GC_get_warn_proc();
  GC_set_warn_proc(counting_warn);
  CHECK(GC_get_warn_proc() == counting_warn);
  GC_set_oom_fn(counting_oom);
  CHECK(GC_get_oom_fn() == counting_oom);

  /* The handler's result is what the allocation returns: NULL ... */
  volatile size_t huge = (size_t)1 << 60;
  oom_result = NULL;
  oom_calls = 0;
  CHECK(GC_malloc(huge) == NULL);
  CHECK(oom_calls >= 1);
  CHECKF(oom_requested == huge, "oom fn got %zu, not %zu", oom_requested,
         (size_t)huge);
  oom_calls = 0;
  CHECK(GC_malloc_atomic(huge) == NULL);
  CHECK(oom_calls >= 1);

  /* ... or a previously allocated object. */
  oom_result = GC_malloc(48);
  REQUIRE(oom_result != NULL);
  oom_calls = 0;
  CHECK(GC_malloc(huge) == oom_result);
  CHECK(oom_calls >= 1 && oom_requested == huge);
  oom_result = NULL;

  CHECK(bad_warnings == 0);
  GC_set_oom_fn(old_oom);
  GC_set_warn_proc(old_warn);
  CHECK(GC_get_oom_fn() == old_oom);
  CHECK(GC_get_warn_proc() == old_warn);

  /* Allocation still works. */
  void *volatile p = GC_malloc(100);
  CHECK(p != NULL);
}

struct chunk {
  struct chunk *prev;
};

/* Runs in a forked child: with a heap limit, keeping every 1 MiB chunk
 * alive, allocation eventually returns NULL (through an oom fn returning
 * NULL), before much more than the limit was allocated. */
static NOINLINE int max_heap_child(void) {
  const size_t chunk = 1 << 20;
  size_t limit = GC_get_heap_size() + (16 << 20);
  GC_set_warn_proc(counting_warn);
  GC_set_oom_fn(null_oom);
  GC_set_max_heap_size(limit);
  struct chunk *volatile list = NULL;
  size_t n = 0;
  for (; n < 1024; n++) {
    struct chunk *c = GC_malloc(chunk);
    if (c == NULL)
      break;
    c->prev = list;
    list = c;
  }
  if (n == 1024) {
    fprintf(stderr, "child: 1 GiB allocated under a %zu byte limit\n", limit);
    return 1;
  }
  if (n * chunk > limit) {
    fprintf(stderr, "child: %zu MiB allocated under a %zu MiB limit\n", n,
            limit >> 20);
    return 2;
  }
  if (GC_get_heap_size() > limit) {
    fprintf(stderr, "child: heap %zu > limit %zu\n", GC_get_heap_size(), limit);
    return 3;
  }
  /* Everything allocated is still there. */
  size_t count = 0;
  for (struct chunk *c = list; c; c = c->prev)
    count++;
  if (count != n) {
    fprintf(stderr, "child: %zu of %zu chunks left\n", count, n);
    return 4;
  }
  return 0;
}

TEST(max_heap_size) {
  if (UNDER_TSAN) {
    fprintf(stderr, "skipped under ThreadSanitizer (fork with threads)\n");
    return;
  }
  fflush(NULL);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0)
    _exit(max_heap_child());
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
         "child status %#x (exit %d, signal %d)", status,
         WIFEXITED(status) ? WEXITSTATUS(status) : -1,
         WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* --- roots --- */

static NOINLINE void fill_root_region(void **region, int n) {
  for (int i = 0; i < n; i++) {
    long *p = GC_malloc(40);
    REQUIRE(p != NULL);
    p[0] = i * 3;
    probe_add(p);
    region[i] = p;
  }
}

TEST(add_remove_roots) {
  probes_reset();
  enum { N = 128 };
  /* Memory from the system malloc is not scanned unless registered. */
  void **region = malloc(N * sizeof(void *));
  REQUIRE(region != NULL);
  /* Added in two halves, removed as one range: GC_remove_roots removes
   * every range within its bounds. */
  GC_add_roots(region, region + N / 2);
  GC_add_roots(region + N / 2, region + N);
  fill_root_region(region, N);
  for (int i = 0; i < 3; i++) {
    allocate_garbage_bytes(4 << 20, 256);
    collect_once();
  }
  int lost = 0;
  for (int i = 0; i < N; i++)
    lost += !probe_alive(i) || region[i] != probe_get(i) ||
            ((long *)region[i])[0] != i * 3;
  CHECKF(lost == 0, "%d of %d objects referenced from an added root lost", lost,
         N);

  GC_remove_roots(region, region + N);
  CHECK(COLLECT_UNTIL(probes_alive(0, N) * 10 <= N, 10));
  CHECKF(AT_LEAST_PCT(N - probes_alive(0, N), N, 90),
         "%d of %d objects referenced only from a removed root survived",
         probes_alive(0, N), N);
  free(region);
  probes_reset();
}

/* --- statistics --- */

TEST(heap_size_free_bytes_total_bytes) {
  size_t heap = GC_get_heap_size();
  size_t free_bytes = GC_get_free_bytes();
  CHECK(heap > 0);
  CHECKF(free_bytes <= heap, "free %zu > heap %zu", free_bytes, heap);

  /* Total bytes grow at least by what is allocated, and never decrease. */
  size_t t0 = GC_get_total_bytes();
  void **volatile keep = GC_malloc(1000 * sizeof(void *));
  REQUIRE(keep != NULL);
  for (int i = 0; i < 1000; i++) {
    keep[i] = GC_malloc(1024);
    REQUIRE(keep[i] != NULL);
  }
  size_t t1 = GC_get_total_bytes();
  CHECKF(t1 >= t0 + 1000 * 1024, "total bytes %zu -> %zu after 1 MiB", t0, t1);
  collect_once();
  allocate_garbage_bytes(16 << 20, 4096);
  size_t t2 = GC_get_total_bytes();
  CHECKF(t2 >= t1 + (16 << 20), "total bytes %zu -> %zu after 16 MiB", t1, t2);
  collect_once();
  CHECK(GC_get_total_bytes() >= t2);
  CHECK(GC_get_free_bytes() <= GC_get_heap_size());
}

TEST(free_bytes_grow_when_garbage_is_collected) {
  struct GC_prof_stats_s s1, s2;
  collect_once();
  GC_disable(); /* no collection while the garbage is made */
  allocate_garbage_bytes(32 << 20, 32 << 10);
  REQUIRE(GC_get_prof_stats(&s1, sizeof s1) == sizeof s1);
  GC_enable();
  collect_once();
  REQUIRE(GC_get_prof_stats(&s2, sizeof s2) == sizeof s2);
  CHECKF(s2.free_bytes_full >= s1.free_bytes_full + (16 << 20),
         "free bytes (with unmapped) %lu -> %lu after collecting 32 MiB",
         (unsigned long)s1.free_bytes_full, (unsigned long)s2.free_bytes_full);
}

TEST(prof_stats) {
  struct GC_prof_stats_s st;
  memset(&st, 0xAB, sizeof st);
  collect_once();
  /* Read first: without allocation, free space can only grow. */
  size_t free_before = GC_get_free_bytes();
  size_t n = GC_get_prof_stats(&st, sizeof st);
  CHECK(n == sizeof st);
  CHECK(st.gc_no == GC_get_gc_no());
  CHECK(st.heapsize_full >= GC_get_heap_size());
  CHECK(st.heapsize_full > 0);
  CHECK(st.free_bytes_full <= st.heapsize_full);
  CHECK(st.unmapped_bytes <= st.free_bytes_full);
  CHECK(st.free_bytes_full >= free_before);
  CHECK(st.allocd_bytes_before_gc + st.bytes_allocd_since_gc ==
        GC_get_total_bytes());
  CHECK(st.obtained_from_os_bytes >= st.heapsize_full);

  /* gc_no follows collections. */
  GC_gcollect();
  struct GC_prof_stats_s st2;
  CHECK(GC_get_prof_stats(&st2, sizeof st2) == sizeof st2);
  CHECK(st2.gc_no > st.gc_no);

  /* A shorter buffer (an older client): only that much is filled. */
  struct {
    struct GC_prof_stats_s s;
    GC_word guard[4];
  } buf;
  memset(&buf, 0xAB, sizeof buf);
  size_t part = offsetof(struct GC_prof_stats_s, gc_no);
  CHECK(GC_get_prof_stats(&buf.s, part) == part);
  CHECK(buf.s.heapsize_full == st2.heapsize_full);
  unsigned char *rest = (unsigned char *)&buf + part;
  int touched = 0;
  for (size_t i = 0; i < sizeof buf - part; i++)
    touched += rest[i] != 0xAB;
  CHECKF(touched == 0, "%d bytes past the given size written", touched);

  /* A longer buffer (a newer client): unknown fields are set to -1 and the
   * size of the known part is returned. */
  memset(&buf, 0xAB, sizeof buf);
  CHECK(GC_get_prof_stats(&buf.s, sizeof buf) == sizeof buf.s);
  for (int i = 0; i < 4; i++)
    CHECK(buf.guard[i] == ~(GC_word)0);
}

TEST(heap_usage_safe) {
  GC_word heap = 0, free_bytes = 0, unmapped = 0, since_gc = 0, total = 0;
  collect_once();
  GC_get_heap_usage_safe(&heap, &free_bytes, &unmapped, &since_gc, &total);
  /* The same quantities as the separate getters (nothing is allocated in
   * between; free and unmapped space are only compared loosely, as an
   * implementation may sweep or unmap in the background). */
  CHECK(heap == GC_get_heap_size());
  CHECK(total == GC_get_total_bytes());
  CHECK(free_bytes <= heap);
  CHECK(GC_get_free_bytes() <= heap);
  CHECK(since_gc <= total);
  struct GC_prof_stats_s st;
  CHECK(GC_get_prof_stats(&st, sizeof st) == sizeof st);
  CHECK(st.bytes_allocd_since_gc == since_gc);
  CHECK(st.allocd_bytes_before_gc + since_gc == total);
  CHECK(unmapped <= st.heapsize_full);

  allocate_garbage_bytes(1 << 20, 1024);
  GC_word since2 = 0, total2 = 0;
  GC_get_heap_usage_safe(NULL, NULL, NULL, &since2, &total2);
  CHECK(total2 >= total + (1 << 20));
  GC_get_heap_usage_safe(NULL, NULL, NULL, NULL, NULL); /* all optional */
}

/* --- start callback --- */

static _Atomic int start_calls;

static void GC_CALLBACK on_gc_start(void) { start_calls++; }

TEST(start_callback) {
  start_calls = 0;
  GC_set_start_callback(on_gc_start);
  for (int i = 1; i <= 3; i++) {
    GC_gcollect();
    CHECKF(start_calls >= i, "%d calls after %d collections", start_calls, i);
  }
  /* Also for collections triggered by allocation. */
  int before = start_calls;
  GC_word gc_before = GC_get_gc_no();
  allocate_garbage_bytes(64 << 20, 64 << 10);
  if (GC_get_gc_no() > gc_before)
    CHECK(start_calls > before);
  GC_set_start_callback(0); /* "May be 0." */
  before = start_calls;
  GC_gcollect();
  CHECK(start_calls == before);
}

int main(void) {
  GC_INIT();
  compat_init();
  RUN(init_is_idempotent);
  RUN(version);
  RUN(gcollect_increments_gc_no);
  RUN(gcollect_collects);
  RUN(gcollect_and_unmap);
  RUN(max_heap_size); /* early: the limit is relative to the heap size */
  RUN(disable_enable);
  RUN(dont_gc);
  RUN(free_space_divisor);
  RUN(expand_hp);
  RUN(oom_fn);
  RUN(add_remove_roots);
  RUN(heap_size_free_bytes_total_bytes);
  RUN(free_bytes_grow_when_garbage_is_collected);
  RUN(prof_stats);
  RUN(heap_usage_safe);
  RUN(start_callback);
  return test_summary();
}
