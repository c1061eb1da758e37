# finalgc build.
#
#   make                 library (static and shared), examples, tests, benchmarks
#   make example         build and run the example program
#   make test            build and run the tests
#   make test-asan       the tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-tsan       the tests under ThreadSanitizer
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

LIB_SRCS := $(wildcard src/*.c) $(wildcard src/prim/*.c)
LIB_OBJS := $(patsubst src/%.c,$(B)/obj/%.o,$(LIB_SRCS))
LIB_A    := $(B)/libfinalgc.a
LIB_SO   := $(B)/libfinalgc.so

TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TESTS     := $(patsubst tests/%.c,$(B)/tests/%,$(TEST_SRCS))
EXAMPLES  := $(patsubst examples/%.c,$(B)/examples/%,$(wildcard examples/*.c))

.PHONY: all lib tests examples example test test-asan test-tsan bench install \
        sizeclasses clean check-format
all: lib examples tests bench-build

lib: $(LIB_A) $(LIB_SO)

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

$(B)/tests/%: tests/%.c tests/testhelper.h $(LIB_A)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -Isrc -o $@ $< $(LIB_A) $(LDFLAGS_ALL)

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
test: tests
	@tests/run.sh $(B)/tests "$(TEST_ENV)"

test-asan:
	@$(MAKE) --no-print-directory VARIANT=asan tests
	@ASAN_OPTIONS=detect_stack_use_after_return=0:detect_leaks=0 \
	 UBSAN_OPTIONS=print_stacktrace=1 tests/run.sh build/asan/tests "$(TEST_ENV)"

# detect_deadlocks=0: fork holds every internal lock (over 64) across
# fork(), more than TSan's deadlock detector can track at once.
test-tsan:
	@$(MAKE) --no-print-directory VARIANT=tsan tests
	@TSAN_OPTIONS=halt_on_error=1:detect_deadlocks=0 tests/run.sh build/tsan/tests "$(TEST_ENV)"

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

sizeclasses:
	@mkdir -p build
	$(CC) -O2 -Wall -Wextra -Werror -o build/mksizeclasses tools/mksizeclasses.c
	build/mksizeclasses > src/sizeclasses.h

check-format:
	clang-format --dry-run -Werror include/*.h src/*.c src/*.h src/prim/*.c tests/*.c tests/*.h examples/*.c

clean:
	rm -rf build
