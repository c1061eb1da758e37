/*
 * Options, messages and error texts.
 *
 * Every tunable is one row of the option table below, read once at start-up
 * from the environment: FINALGC_<NAME>=value for each, or all at once in
 * FINALGCDEBUG=name=value,name=value (modelled on Go's GODEBUG).  A setting in
 * FINALGCDEBUG wins over the single variable.  Sizes accept K, M and G
 * suffixes (powers of 1024); GOGC and HUGEPAGES also accept "off".  No other
 * file reads the environment.  docs/options.md is the user's copy of this
 * table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

struct fgc_options fgc_opt = {
    .gogc = 100,
    .max_heap = 0,
    .reserve = (size_t)64 << 30,
    .gctrace = 0,
    .clobberfree = 0,
    .mark_stack_max = (size_t)1 << 26,
    .suspend_signal = SIGPWR,
    .hugepages = (size_t)8 << 20,
};

enum opt_kind { OPT_INT, OPT_SIZE, OPT_SIZE_OFF, OPT_GOGC };

struct option {
  const char *name;
  enum opt_kind kind;
  void *value;
};

static const struct option options[] = {
    {"gogc", OPT_GOGC, &fgc_opt.gogc},
    {"max_heap", OPT_SIZE, &fgc_opt.max_heap},
    {"reserve", OPT_SIZE, &fgc_opt.reserve},
    {"gctrace", OPT_INT, &fgc_opt.gctrace},
    {"clobberfree", OPT_INT, &fgc_opt.clobberfree},
    {"markstackmax", OPT_SIZE, &fgc_opt.mark_stack_max},
    {"suspend_signal", OPT_INT, &fgc_opt.suspend_signal},
    {"fatalerrors", OPT_INT, &fgc_opt.fatalerrors},
    {"checkfinalizers", OPT_INT, &fgc_opt.checkfinalizers},
    {"markers", OPT_INT, &fgc_opt.markers},
    {"hugepages", OPT_SIZE_OFF, &fgc_opt.hugepages},
};

static int parse_size(const char *s, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || errno != 0)
    return -1;
  unsigned shift = 0;
  switch (*end) {
  case 'k':
  case 'K':
    shift = 10;
    end++;
    break;
  case 'm':
  case 'M':
    shift = 20;
    end++;
    break;
  case 'g':
  case 'G':
    shift = 30;
    end++;
    break;
  default: break;
  }
  if (*end == 'i' && end[1] == 'B')
    end += 2;
  else if (*end == 'B')
    end++;
  if (*end != '\0' || (shift && v > (~0ull >> shift)))
    return -1;
  *out = (size_t)(v << shift);
  return 0;
}

static void set_option(const struct option *o, const char *val) {
  size_t n;
  switch (o->kind) {
  case OPT_GOGC:
    if (strcmp(val, "off") == 0) {
      *(int *)o->value = -1;
      return;
    }
    /* fall through */
  case OPT_INT: {
    char *end;
    long v = strtol(val, &end, 10);
    if (end != val && *end == '\0') {
      *(int *)o->value = (int)v;
      return;
    }
    break;
  }
  case OPT_SIZE_OFF:
    if (strcmp(val, "off") == 0) {
      *(size_t *)o->value = SIZE_MAX;
      return;
    }
    /* fall through */
  case OPT_SIZE:
    if (parse_size(val, &n) == 0) {
      *(size_t *)o->value = n;
      return;
    }
    break;
  }
  fgc_message("ignoring option %s=%s: not a valid value", o->name, val);
}

static void parse_debug(const char *dbg);

void fgc_options_init(void) {
  char envname[64];
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
    snprintf(envname, sizeof envname, "FINALGC_%s", options[i].name);
    for (char *c = envname; *c; c++)
      if (*c >= 'a' && *c <= 'z')
        *c = (char)(*c - 'a' + 'A');
    const char *v = getenv(envname);
    if (v && *v)
      set_option(&options[i], v);
  }
  const char *dbg = getenv("FINALGCDEBUG");
  if (dbg)
    parse_debug(dbg);
  if (fgc_opt.markers <= 0)
    fgc_opt.markers = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (fgc_opt.markers < 1)
    fgc_opt.markers = 1;
  if (fgc_opt.markers > GC_MAX_MARKERS)
    fgc_opt.markers = GC_MAX_MARKERS;
}

static void parse_debug(const char *dbg) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", dbg);
  for (char *save, *item = strtok_r(buf, ",", &save); item;
       item = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(item, '=');
    if (!eq)
      continue;
    *eq = '\0';
    size_t i = 0;
    while (i < sizeof options / sizeof options[0] &&
           strcmp(options[i].name, item) != 0)
      i++;
    if (i < sizeof options / sizeof options[0])
      set_option(&options[i], eq + 1);
    else
      fgc_message("ignoring unknown option FINALGCDEBUG %s", item);
  }
}

/* Messages go to stderr with one write(2), so that they neither allocate
 * nor interleave. */
static void vmessage(const char *prefix, const char *fmt, va_list ap) {
  char buf[1024];
  int n = snprintf(buf, sizeof buf, "%s", prefix);
  n += vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
  if (n > (int)sizeof buf - 2)
    n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  ssize_t w = write(2, buf, (size_t)n);
  (void)w;
}

void fgc_message(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage("finalgc: ", fmt, ap);
  va_end(ap);
}

void fgc_fatal(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage("finalgc: fatal error: ", fmt, ap);
  va_end(ap);
  abort();
}

const char *gc_strerror(int err) {
  switch (err) {
  case GC_OK: return "success";
  case GC_ERR_NOT_IN_HEAP: return "pointer not in allocated block";
  case GC_ERR_NOT_AT_BASE: return "pointer not at beginning of allocated block";
  case GC_ERR_FREED: return "object already freed";
  case GC_ERR_INVALID: return "invalid argument";
  case GC_ERR_NOMEM: return "out of memory";
  case GC_ERR_NOT_FOUND: return "not found";
  case GC_ERR_FINALIZER_SET: return "finalizer already set";
  case GC_ERR_PTR_IS_ARG: return "ptr is equal to arg, cleanup will never run";
  case GC_ERR_PTR_IN_ARG: return "ptr is within arg, cleanup will never run";
  default: return "unknown error";
  }
}
