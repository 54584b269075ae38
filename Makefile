# iolayer: GNU make, gcc, C17.
#
#   make            build the library, the iolayer command, tests, benches, examples
#   make test       build and run the cmocka suite (installs build deps as root)
#   make demo       build and run the demo
#   make bench      run every benchmark in bench/ and write the results
#                   (BENCH_QUICK=1: a one-minute smoke run)
#   make SAN=asan test   the suite under AddressSanitizer+UBSan (build-asan/, build-asan-fault/)
#   make SAN=tsan test   the suite under ThreadSanitizer (build-tsan/, build-tsan-fault/)
#   make torture    the long torture run (TORTURE_KILLS=10000, FAULT build)
#   make fuzz       libFuzzer on table files (FUZZ_TIME=60 seconds, clang)
#   make install / uninstall   PREFIX=/usr/local DESTDIR=

VERSION    := 0.1.0
SOMAJOR    := 0
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec
MANDIR     ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR    ?=

CC      ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif
SAN     ?=
BUILD   ?= build

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wno-unused-parameter
OPT     ?= -O2 -g
CSTD    := -std=c17 -D_GNU_SOURCE
SANFLAGS :=
ifeq ($(SAN),asan)
BUILD    := build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT      := -O1 -g
endif
ifeq ($(SAN),tsan)
BUILD    := build-tsan
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
OPT      := -O1 -g
endif
# The fault-injection build: IOLAYER_FAULT=point[:n] kills the process at a
# named point inside table operations (src/fault.h).  Its own build
# directory beside the plain or sanitizer one: build-fault, build-asan-fault.
FAULT   ?=
ifeq ($(FAULT),1)
BUILD    := $(BUILD)-fault
SANFLAGS += -DIOLI_FAULT_INJECTION
endif
# The fuzzing build (make fuzz): clang, libFuzzer coverage, ASan+UBSan.
FUZZ    ?=
ifeq ($(FUZZ),1)
CC       := clang
BUILD    := build-fuzz
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	    -fno-sanitize-recover=all
OPT      := -O1 -g
endif

CPPFLAGS += -Iinclude -I.
CFLAGS   += $(CSTD) $(OPT) $(WARN) $(SANFLAGS) -pthread -fPIC -MMD -MP
LDFLAGS  += $(SANFLAGS) -pthread
LIBS     := -luring

# liburing 2.3 defines no version macros (2.4+ has IO_URING_VERSION_MAJOR/
# MINOR); the probe then reports the version pkg-config gives at build time.
# Recursive '=' so pkg-config runs when the object is compiled, after
# mk/deps.sh has installed it.
LIBURING_PC_WORDS = $(subst ., ,$(shell pkg-config --modversion liburing 2>/dev/null))
LIBURING_PC_DEFS = $(if $(word 2,$(LIBURING_PC_WORDS)),-DIOLI_LIBURING_PC_MAJOR=$(word \
	1,$(LIBURING_PC_WORDS)) -DIOLI_LIBURING_PC_MINOR=$(word 2,$(LIBURING_PC_WORDS)))
$(BUILD)/obj/src/probe/probe_env.o: CPPFLAGS += $(LIBURING_PC_DEFS)
# Where `iolayer bench` looks for the benchmark programs when they are not
# next to it (see src/cli/cmd_bench.c).
$(BUILD)/obj/src/cli/cmd_bench.o: CPPFLAGS += -DIOLI_BENCH_LIBEXEC='"$(LIBEXECDIR)/iolayer"'

# src/ is grouped by concern (the code map is in docs/design.md).  Tool-only
# code (src/check: fsck, listings, JSON output) goes into an internal static
# library linked by the iolayer command and the tests, not into libiolayer.
LIB_DIRS  := src src/table src/wait src/objects src/process src/probe futex uring
TOOL_SRCS := $(sort $(wildcard src/check/*.c))
LIB_SRCS  := $(sort $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)))
CLI_SRCS := $(sort $(wildcard src/cli/*.c))
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TEST_HELPER_SRCS := $(sort $(filter-out tests/test_%.c,$(wildcard tests/*.c)))
# Tests that need the fault-injection build: built only with FAULT=1, into
# $(BUILD)-fault/tests/, and run by `make test` from there.
FAULT_TEST_SRCS := $(sort $(wildcard tests/fault/test_*.c))
BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCH_SCRIPT_SRCS := $(sort $(wildcard bench/*.sh))
EXAMPLE_SRCS := $(sort $(wildcard examples/*.c))

LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
TOOL_OBJS := $(TOOL_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_HELPER_OBJS := $(TEST_HELPER_SRCS:%.c=$(BUILD)/obj/%.o)
TESTS    := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
FAULT_TESTS := $(FAULT_TEST_SRCS:tests/fault/%.c=$(BUILD)/tests/%)
TORTURE  := $(BUILD)/torture
BENCHES  := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
BENCH_SCRIPTS := $(BENCH_SCRIPT_SRCS:bench/%=$(BUILD)/bench/%)
EXAMPLES := $(EXAMPLE_SRCS:examples/%.c=$(BUILD)/examples/%)

STATIC_LIB := $(BUILD)/lib/libiolayer.a
TOOLS_LIB  := $(BUILD)/lib/libiolayer-tools.a
SHARED_LIB := $(BUILD)/lib/libiolayer.so.$(VERSION)
SONAME     := libiolayer.so.$(SOMAJOR)
CLI        := $(BUILD)/iolayer
DEPS_STAMP := $(BUILD)/.deps-build

.PHONY: all lib cli tests benches examples test demo bench install uninstall clean deps format \
	check-format fault-build fault-tests torture fuzz fuzz-bins

# Objects are kept between runs (make would delete them as intermediates
# and rebuild every test on each `make test`).
.SECONDARY:

all: lib cli tests benches examples

deps: $(DEPS_STAMP)

# Build dependencies are checked (and installed, as root) once per build dir.
$(DEPS_STAMP): mk/deps.sh
	@mkdir -p $(@D)
	@sh mk/deps.sh build
	@touch $@

lib: $(STATIC_LIB) $(SHARED_LIB) $(TOOLS_LIB)
cli: $(CLI)
tests: $(TESTS)
benches: $(BENCHES) $(BENCH_SCRIPTS)
examples: $(EXAMPLES)

$(BUILD)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The archives and the shared library depend on the Makefile too: a file
# moved between them must not stay behind in an old archive.
$(STATIC_LIB): $(LIB_OBJS) Makefile
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $(LIB_OBJS)

# Never installed: the tools' code on top of libiolayer.a.
$(TOOLS_LIB): $(TOOL_OBJS) Makefile
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $(TOOL_OBJS)

$(SHARED_LIB): $(LIB_OBJS) mk/libiolayer.map Makefile
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=mk/libiolayer.map \
		-Wl,--no-undefined $(LDFLAGS) -o $@ $(LIB_OBJS) $(LIBS)
	ln -sf libiolayer.so.$(VERSION) $(BUILD)/lib/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/lib/libiolayer.so

# In a ThreadSanitizer build, programs that take the table locks also link
# the test suite's libtsan shim (tests/tsan_compat.c says why).
TSAN_SHIM := $(if $(filter tsan,$(SAN)),$(BUILD)/obj/tests/tsan_compat.o)

$(CLI): $(CLI_OBJS) $(TOOLS_LIB) $(STATIC_LIB) $(TSAN_SHIM)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(TSAN_SHIM) $(TOOLS_LIB) $(STATIC_LIB) $(LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_HELPER_OBJS) $(TOOLS_LIB) $(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(EXTRA_OBJS) $(TEST_HELPER_OBJS) $(TOOLS_LIB) $(STATIC_LIB) \
		$(LIBS) -lcmocka -lseccomp

# The fuzzer's input code, replayed by test_fuzz_regressions.
FUZZ_INPUT_OBJ := $(BUILD)/obj/tests/fuzz/fuzz_input.o
$(BUILD)/tests/test_fuzz_regressions: $(FUZZ_INPUT_OBJ)
$(BUILD)/tests/test_fuzz_regressions: EXTRA_OBJS := $(FUZZ_INPUT_OBJ)

$(FAULT_TESTS): $(BUILD)/tests/%: $(BUILD)/obj/tests/fault/%.o $(TEST_HELPER_OBJS) $(TOOLS_LIB) \
		$(STATIC_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(TEST_HELPER_OBJS) $(TOOLS_LIB) $(STATIC_LIB) $(LIBS) -lcmocka \
		-lseccomp

$(TORTURE): $(BUILD)/obj/tests/torture/torture.o $(TOOLS_LIB) $(STATIC_LIB) $(TSAN_SHIM)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(TSAN_SHIM) $(TOOLS_LIB) $(STATIC_LIB) $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(STATIC_LIB) $(TSAN_SHIM)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(TSAN_SHIM) $(STATIC_LIB) $(LIBS) -lm

# Scripts of bench/ sit beside the programs, where `iolayer bench` runs them.
$(BUILD)/bench/%.sh: bench/%.sh
	@mkdir -p $(@D)
	install -m 755 $< $@

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(STATIC_LIB) $(TSAN_SHIM)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(TSAN_SHIM) $(STATIC_LIB) $(LIBS)

# Installation.  install builds nothing new when the build is up to date;
# iolayer.pc is generated for the PREFIX/LIBDIR/INCLUDEDIR of this call.
INSTALL_HEADERS := include/iolayer.h $(sort $(wildcard include/iolayer/*.h))

# `iolayer bench` runs the programs of bench/ from LIBEXECDIR/iolayer/bench/,
# and the pool's benchmark drives the example servers beside them.
install: lib cli benches examples
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/iolayer $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(LIBEXECDIR)/iolayer/bench $(DESTDIR)$(LIBEXECDIR)/iolayer/examples
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/libiolayer.a
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/libiolayer.so.$(VERSION)
	ln -sf libiolayer.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libiolayer.so
	install -m 644 include/iolayer.h $(DESTDIR)$(INCLUDEDIR)/iolayer.h
	install -m 644 $(filter include/iolayer/%,$(INSTALL_HEADERS)) $(DESTDIR)$(INCLUDEDIR)/iolayer/
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/iolayer
	install -m 755 $(BENCHES) $(BENCH_SCRIPTS) $(DESTDIR)$(LIBEXECDIR)/iolayer/bench/
	install -m 755 $(EXAMPLES) $(DESTDIR)$(LIBEXECDIR)/iolayer/examples/
	install -m 644 docs/iolayer.1 $(DESTDIR)$(MANDIR)/man1/iolayer.1
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		mk/iolayer.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/iolayer.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libiolayer.a $(DESTDIR)$(LIBDIR)/libiolayer.so \
		$(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libiolayer.so.$(VERSION)
	rm -f $(DESTDIR)$(INCLUDEDIR)/iolayer.h \
		$(patsubst include/%,$(DESTDIR)$(INCLUDEDIR)/%,$(filter include/iolayer/%,$(INSTALL_HEADERS)))
	rmdir $(DESTDIR)$(INCLUDEDIR)/iolayer 2>/dev/null || true
	rm -f $(DESTDIR)$(BINDIR)/iolayer $(DESTDIR)$(MANDIR)/man1/iolayer.1 \
		$(DESTDIR)$(PKGCONFIGDIR)/iolayer.pc
	rm -f $(patsubst $(BUILD)/bench/%,$(DESTDIR)$(LIBEXECDIR)/iolayer/bench/%,$(BENCHES) \
		$(BENCH_SCRIPTS)) \
		$(patsubst $(BUILD)/%,$(DESTDIR)$(LIBEXECDIR)/iolayer/%,$(EXAMPLES))
	rmdir $(DESTDIR)$(LIBEXECDIR)/iolayer/bench $(DESTDIR)$(LIBEXECDIR)/iolayer/examples \
		$(DESTDIR)$(LIBEXECDIR)/iolayer 2>/dev/null || true

# The suite: every tests/test_* program, each with its own time limit, and
# the tests/fault/test_* programs built in the fault-injection build.
ifeq ($(FAULT),1)
fault-tests: $(FAULT_TESTS) $(CLI) $(TORTURE)
test: fault-tests
	@BUILD=$(BUILD) SAN=$(SAN) sh tests/run.sh $(FAULT_TESTS)
else
FAULT_BUILD_TESTS = $(FAULT_TEST_SRCS:tests/fault/%.c=$(BUILD)-fault/tests/%)
fault-build:
	@$(MAKE) --no-print-directory FAULT=1 SAN=$(SAN) fault-tests
test: all fault-build
	@BUILD=$(BUILD) SAN=$(SAN) sh tests/run.sh $(TESTS) $(FAULT_BUILD_TESTS)
endif

# Fuzzing table files (tests/fuzz/fuzz_input.h): FUZZ_TIME seconds of
# libFuzzer from a seed corpus made of real tables plus every input that
# ever crashed (tests/fuzz/regressions/); new crashes land in
# build-fuzz/crash-*.
FUZZ_TIME ?= 60
FUZZ_ARGS ?=
ifeq ($(FUZZ),1)
fuzz-bins: $(BUILD)/fuzz_table $(BUILD)/fuzz_seed
$(BUILD)/fuzz_table: $(BUILD)/obj/tests/fuzz/fuzz_table.o $(FUZZ_INPUT_OBJ) $(TOOLS_LIB) \
		$(STATIC_LIB)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)
$(BUILD)/fuzz_seed: $(BUILD)/obj/tests/fuzz/seed_corpus.o $(FUZZ_INPUT_OBJ) $(TOOLS_LIB) \
		$(STATIC_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
else
fuzz:
	@sh mk/deps.sh fuzz
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-bins
	@rm -rf build-fuzz/seed
	build-fuzz/fuzz_seed build-fuzz/seed
	@mkdir -p build-fuzz/corpus
	build-fuzz/fuzz_table -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=4096 \
		-print_final_stats=1 -artifact_prefix=build-fuzz/ $(FUZZ_ARGS) \
		build-fuzz/corpus build-fuzz/seed tests/fuzz/regressions
endif

# The long torture run: workers killed at random points, TORTURE_KILLS
# times (SIGKILL and fault injection), then every invariant checked.
TORTURE_KILLS ?= 10000
TORTURE_ARGS  ?=
torture:
	@$(MAKE) --no-print-directory FAULT=1 SAN=$(SAN) fault-tests
	$(BUILD)-fault/torture --kills $(TORTURE_KILLS) $(TORTURE_ARGS)

demo: all
	@$(CLI) demo

# `make bench`: the full suite, about 5 to 10 minutes on 2 CPUs; results in
# bench/results/latest.json and docs/img/bench.svg.  BENCH_QUICK=1: a
# one-minute smoke run, written beside them as quick.json and quick.svg.
BENCH_OUT = $(if $(filter-out 0,$(BENCH_QUICK)),--quick --json bench/results/quick.json \
	--svg bench/results/quick.svg --logs bench/results/quick-logs,--json \
	bench/results/latest.json --svg docs/img/bench.svg --logs bench/results/logs)
bench: all
	@sh mk/deps.sh bench
	@$(CLI) bench $(BENCH_OUT)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-tsan build-fault build-asan-fault build-tsan-fault build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
