/* The declarations programs written for bdwgc rely on exist with the
 * documented shapes: result codes GC_SUCCESS, GC_DUPLICATE, GC_NO_MEMORY,
 * GC_UNIMPLEMENTED, GC_NOT_FOUND (integer constant expressions); the types
 * GC_word, GC_hidden_pointer, GC_finalization_proc, GC_oom_func,
 * GC_warn_proc, GC_fn_type, struct GC_stack_base, struct GC_prof_stats_s;
 * GC_CALLBACK / GC_CALL; the version macros; and the function-like macros
 * of gc.h.  Most of it is checked at compile time. */
#include <gc.h>

#include <stddef.h>

#include "compat_helper.h"

/* --- result codes: integer constant expressions, distinct --- */

_Static_assert(GC_SUCCESS == 0, "GC_SUCCESS is 0");
_Static_assert(GC_SUCCESS != GC_DUPLICATE && GC_SUCCESS != GC_NO_MEMORY &&
                   GC_SUCCESS != GC_UNIMPLEMENTED && GC_SUCCESS != GC_NOT_FOUND,
               "result codes distinct");
_Static_assert(GC_DUPLICATE != GC_NO_MEMORY &&
                   GC_DUPLICATE != GC_UNIMPLEMENTED &&
                   GC_DUPLICATE != GC_NOT_FOUND,
               "result codes distinct");
_Static_assert(GC_NO_MEMORY != GC_UNIMPLEMENTED && GC_NO_MEMORY != GC_NOT_FOUND,
               "result codes distinct");
_Static_assert(GC_UNIMPLEMENTED != GC_NOT_FOUND, "result codes distinct");

static const char *code_name(int rc) {
  switch (rc) { /* usable as case labels */
  case GC_SUCCESS: return "GC_SUCCESS";
  case GC_DUPLICATE: return "GC_DUPLICATE";
  case GC_NO_MEMORY: return "GC_NO_MEMORY";
  case GC_UNIMPLEMENTED: return "GC_UNIMPLEMENTED";
  case GC_NOT_FOUND: return "GC_NOT_FOUND";
  default: return "?";
  }
}

/* --- types --- */

_Static_assert(sizeof(GC_word) == sizeof(void *), "GC_word is pointer-sized");
_Static_assert((GC_word)-1 > 0, "GC_word is unsigned");
_Static_assert(sizeof(GC_hidden_pointer) == sizeof(void *),
               "GC_hidden_pointer is pointer-sized");
_Static_assert(sizeof(((struct GC_stack_base *)0)->mem_base) == sizeof(void *),
               "struct GC_stack_base has mem_base");
_Static_assert(offsetof(struct GC_prof_stats_s, heapsize_full) == 0,
               "struct GC_prof_stats_s starts with heapsize_full");

static int finalizer_calls;
static void GC_CALLBACK a_finalizer(void *obj, void *cd) {
  (void)obj;
  (void)cd;
  finalizer_calls++;
}
static void *GC_CALLBACK an_oom_fn(size_t n) {
  (void)n;
  return NULL;
}
static void GC_CALLBACK a_warn_proc(char *msg, GC_word arg) {
  (void)msg;
  (void)arg;
}
static void *GC_CALLBACK a_fn(void *cd) { return cd; }

TEST(types_and_callbacks) {
  GC_finalization_proc f = a_finalizer;
  GC_oom_func o = an_oom_fn;
  GC_warn_proc w = a_warn_proc;
  GC_fn_type fn = a_fn;
  struct GC_stack_base sb = {0};
  GC_word word = (GC_word)&sb;
  CHECK(f == a_finalizer && o == an_oom_fn && w == a_warn_proc && fn == a_fn);
  CHECK(sb.mem_base == NULL);
  CHECK(word != 0);
  CHECK(fn(&sb) == &sb);
  f(NULL, NULL);
  CHECK(finalizer_calls == 1);
}

TEST(result_code_names) {
  CHECK(strcmp(code_name(GC_SUCCESS), "GC_SUCCESS") == 0);
  CHECK(strcmp(code_name(GC_DUPLICATE), "GC_DUPLICATE") == 0);
  CHECK(strcmp(code_name(GC_NO_MEMORY), "GC_NO_MEMORY") == 0);
  CHECK(strcmp(code_name(GC_UNIMPLEMENTED), "GC_UNIMPLEMENTED") == 0);
  CHECK(strcmp(code_name(GC_NOT_FOUND), "GC_NOT_FOUND") == 0);
}

TEST(version_macros) {
  CHECK(GC_VERSION_MAJOR >= 7);
  CHECK(GC_VERSION_MINOR >= 0 && GC_VERSION_MINOR < 256);
  CHECK(GC_VERSION_MICRO >= 0 && GC_VERSION_MICRO < 256);
}

TEST(hidden_pointers) {
  void *p = GC_MALLOC(8);
  REQUIRE(p != NULL);
  GC_hidden_pointer h = GC_HIDE_POINTER(p);
  CHECK(GC_REVEAL_POINTER(h) == p);
  CHECK((GC_word)h != (GC_word)p);
}

int main(void) {
  GC_INIT();
  compat_init();
  RUN(types_and_callbacks);
  RUN(result_code_names);
  RUN(version_macros);
  RUN(hidden_pointers);
  return test_summary();
}
