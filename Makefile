# finalgc build.
#
#   make                 library (static and shared), examples, tests, benchmarks
#   make example         build and run the example program
#   make test            build and run the tests
#   make test-asan       the tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-tsan       the tests under ThreadSanitizer
#   make test-compat-bdwgc  the bdwgc compatibility tests against the system bdwgc
#   make bench           run the benchmarks (BENCH_FLAGS=--large for bigger sizes)
#   make install         PREFIX=/usr/local by default
#   make sizeclasses     regenerate src/sizeclasses.h
#
# Every variant builds into its own directory under build/.

CC       ?= cc
Q        ?= @
PREFIX   ?= /usr/local
VARIANT  ?= release
B        := build/$(VARIANT)

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
BASE     := -std=gnu11 -g -fPIC -fvisibility=hidden -pthread -Iinclude
ifeq ($(VARIANT),release)
  OPT    := -O2
endif
ifeq ($(VARIANT),asan)
  OPT    := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif
ifeq ($(VARIANT),tsan)
  OPT    := -O1 -fsanitize=thread
endif
CFLAGS_ALL := $(BASE) $(OPT) $(WARN) $(CFLAGS)
LDFLAGS_ALL := $(OPT) -pthread $(LDFLAGS)

LIB_SRCS := $(filter-out src/boehm.c,$(wildcard src/*.c)) $(wildcard src/prim/*.c)
LIB_OBJS := $(patsubst src/%.c,$(B)/obj/%.o,$(LIB_SRCS))
LIB_A    := $(B)/libfinalgc.a
LIB_SO   := $(B)/libfinalgc.so

# The bdwgc-compatible library: finalgc plus the GC_ API (src/boehm.c), used
# with the headers in compat/include (<gc.h>, <gc/gc.h>, <gc_typed.h>...).
COMPAT_HDRS := $(wildcard compat/include/*.h compat/include/gc/*.h)
BDWGC_A  := $(B)/libfinalgc-bdwgc.a
BDWGC_SO := $(B)/libfinalgc-bdwgc.so

TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TESTS     := $(patsubst tests/%.c,$(B)/tests/%,$(TEST_SRCS))
EXAMPLES  := $(patsubst examples/%.c,$(B)/examples/%,$(wildcard examples/*.c))

.PHONY: all lib tests examples example test test-asan test-tsan test-compat-bdwgc bench install \
        sizeclasses clean check-format
all: lib examples tests bench-build

lib: $(LIB_A) $(LIB_SO) $(BDWGC_A) $(BDWGC_SO)

$(B)/obj/%.o: src/%.c src/*.h include/finalgc.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIB_A): $(LIB_OBJS)
	@rm -f $@
	@echo "  AR      $@"
	$(Q)ar rcs $@ $^

$(LIB_SO): $(LIB_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) -shared -o $@ $^ $(LDFLAGS_ALL) -Wl,-soname,libfinalgc.so.0

$(B)/obj/boehm.o: $(COMPAT_HDRS)

$(BDWGC_A): $(LIB_OBJS) $(B)/obj/boehm.o
	@rm -f $@
	@echo "  AR      $@"
	$(Q)ar rcs $@ $^

$(BDWGC_SO): $(LIB_OBJS) $(B)/obj/boehm.o
	@echo "  LD      $@"
	$(Q)$(CC) -shared -o $@ $^ $(LDFLAGS_ALL) -Wl,-soname,libfinalgc-bdwgc.so.0

$(B)/tests/%: tests/%.c tests/testhelper.h $(LIB_A)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -Isrc -o $@ $< $(LIB_A) $(LDFLAGS_ALL)

# test_mixed uses the native API and the bdwgc layer together.
$(B)/tests/test_mixed: tests/test_mixed.c tests/testhelper.h $(BDWGC_A) $(COMPAT_HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -Isrc -Icompat/include -o $@ $< $(BDWGC_A) $(LDFLAGS_ALL)

$(B)/examples/%: examples/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB_A) $(LDFLAGS_ALL)

tests: $(TESTS)
examples: $(EXAMPLES)

example: $(B)/examples/hello
	$(B)/examples/hello

# The tests run with the collector's debug checks on: freed objects are
# clobbered, so a reachable object freed by mistake fails its checksum.
TEST_ENV := FINALGCDEBUG=clobberfree=1
# The bdwgc compatibility suite (tests/compat) uses only <gc.h>: `make test`
# runs it against finalgc; `make test-compat-bdwgc` against the system's bdwgc.
test: tests $(BDWGC_A)
	@tests/run.sh $(B)/tests "$(TEST_ENV)"
	@$(MAKE) --no-print-directory -C tests/compat run \
	  GC_CFLAGS="-I$(CURDIR)/compat/include $(filter -fsanitize%,$(OPT))" \
	  GC_LIBS="$(CURDIR)/$(BDWGC_A) $(LDFLAGS_ALL)" OUT=$(CURDIR)/$(B)/compat \
	  GC_DEPS="$(CURDIR)/$(BDWGC_A) $(COMPAT_HDRS:%=$(CURDIR)/%)"

test-compat-bdwgc:
	@$(MAKE) --no-print-directory -C tests/compat run OUT=$(CURDIR)/build/compat-bdwgc

test-asan:
	@ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=0 \
	 UBSAN_OPTIONS=print_stacktrace=1 $(MAKE) --no-print-directory VARIANT=asan test

# detect_deadlocks=0: fork holds every internal lock (over 64) across
# fork(), more than TSan's deadlock detector can track at once.
test-tsan:
	@TSAN_OPTIONS=halt_on_error=1:detect_deadlocks=0 $(MAKE) --no-print-directory VARIANT=tsan test

bench-build: lib
	@$(MAKE) --no-print-directory -C bench build VARIANT=$(VARIANT)

bench: lib
	@$(MAKE) --no-print-directory -C bench run VARIANT=$(VARIANT) BENCH_FLAGS="$(BENCH_FLAGS)"

install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/finalgc.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libfinalgc.so.0
	ln -sf libfinalgc.so.0 $(DESTDIR)$(PREFIX)/lib/libfinalgc.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' finalgc.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/finalgc.pc
	install -d $(DESTDIR)$(PREFIX)/include/finalgc-bdwgc/gc
	install -m 644 compat/include/*.h $(DESTDIR)$(PREFIX)/include/finalgc-bdwgc/
	install -m 644 compat/include/gc/*.h $(DESTDIR)$(PREFIX)/include/finalgc-bdwgc/gc/
	install -m 644 $(BDWGC_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BDWGC_SO) $(DESTDIR)$(PREFIX)/lib/libfinalgc-bdwgc.so.0
	ln -sf libfinalgc-bdwgc.so.0 $(DESTDIR)$(PREFIX)/lib/libfinalgc-bdwgc.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' finalgc-bdwgc.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/finalgc-bdwgc.pc

sizeclasses:
	@mkdir -p build
	$(CC) -O2 -Wall -Wextra -Werror -o build/mksizeclasses tools/mksizeclasses.c
	build/mksizeclasses > src/sizeclasses.h

check-format:
	clang-format --dry-run -Werror include/*.h src/*.c src/*.h src/prim/*.c tests/*.c tests/*.h examples/*.c compat/include/*.h compat/include/gc/*.h bench/*.c bench/*.h

clean:
	rm -rf build
