# nianbao - a plain Makefile: no autoconf. Override CC, CFLAGS, PREFIX, DESTDIR.
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=gnu11 -Wall -Wextra
CPPFLAGS += -Icommon -MMD -MP
PREFIX  ?= /usr/local
DESTDIR ?=
PKG_CONFIG ?= pkg-config

# Evaluated when a recipe needs them, so `make demo` / `make test` can
# install the packages first and still build in the same run.
CJSON_CFLAGS = $(shell $(PKG_CONFIG) --cflags libcjson 2>/dev/null)
CJSON_LIBS   = $(shell $(PKG_CONFIG) --libs libcjson 2>/dev/null || echo -lcjson)
CRYPTO_CFLAGS = $(shell $(PKG_CONFIG) --cflags libcrypto 2>/dev/null)
CRYPTO_LIBS  = $(shell $(PKG_CONFIG) --libs libcrypto 2>/dev/null || echo -lcrypto)
CURSES_CFLAGS = $(shell $(PKG_CONFIG) --cflags ncursesw 2>/dev/null)
CURSES_LIBS   = $(shell $(PKG_CONFIG) --libs ncursesw 2>/dev/null || echo -lncursesw)

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:.c=.o)
COMMON_LIB := common/libnianbao.a

# Every .c in a stage folder or in tools/ is one program of the same name.
STAGE_BIN := $(patsubst %.c,%,$(wildcard stage*_*/*.c))
TOOLS_BIN := $(patsubst %.c,%,$(wildcard tools/*.c))
VIEWER_BIN :=
VIEWER_LIB :=

all: $(COMMON_LIB) $(STAGE_BIN) $(TOOLS_BIN) viewer-all

-include viewer/viewer.mk
-include grader/grader.mk
-include exercises/exercises.mk
-include fuzz/fuzz.mk
-include tools/check.mk

viewer-all: $(VIEWER_BIN) $(VIEWER_LIB)

%.o: %.c
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(COMMON_LIB): $(COMMON_OBJ)
	$(AR) rcs $@ $^

# common/ uses cJSON (frame.c) and libcrypto (digest.c); a program links
# only the parts of the library it calls, and the libraries they need.
CPPFLAGS += $(CJSON_CFLAGS) $(CRYPTO_CFLAGS)
LDLIBS += $(CJSON_LIBS) $(CRYPTO_LIBS)

$(STAGE_BIN) $(TOOLS_BIN): %: %.o $(COMMON_LIB)
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< $(COMMON_LIB) $(LDLIBS)

# Set-up: install the Debian packages that are missing, and say which.
deps:
	@tools/deps.sh

# The build before a lesson or a benchmark keeps quiet: its log is shown only
# when it fails or warns.
QUIET_TARGETS ?= all
QUIET_ALL = log=$$(mktemp) && if $(MAKE) --no-print-directory $(QUIET_TARGETS) >"$$log" 2>&1; then \
	    if grep -v '^make' "$$log" | grep -q 'warning:'; then cat "$$log" >&2; fi; rm -f "$$log"; \
	  else cat "$$log" >&2; rm -f "$$log"; echo "make: the build failed (its output is above)" >&2; exit 1; fi

demo: deps
	+@$(QUIET_ALL)
	@tools/lesson.sh

quiet-build:
	+@$(QUIET_ALL)

# The suite's per-test lines, then one summary line (tests/run_suite.sh);
# the exit status is bats'. `make test` is the tier that proves every
# behaviour with small sizes (tests/*.bats, then tests/serial/ alone);
# `make test-heavy` repeats them at scale (tests/heavy/). Files run several
# at a time: NIANBAO_TEST_JOBS=N sets how many (1: one after another).
test: deps
	+@$(MAKE) --no-print-directory QUIET_TARGETS="all bench-programs" quiet-build
	@tests/run_suite.sh tests/

test-heavy: deps
	+@$(MAKE) --no-print-directory QUIET_TARGETS="all bench-programs" quiet-build
	@tests/run_suite.sh tests/heavy/

# ---- make bench: bench/run.sh and its programs (built for the bench only) ----
# (`make test` builds them too, for tests/bench.bats.) md5_speed times
# libmd's MD5 beside libcrypto's (the one stage 4 uses) when libmd-dev is
# there (`make bench` installs it); a stamp rebuilds it when that changes.
BENCH_BIN := bench/raw_server bench/raw_client bench/spawn_loop bench/tiny_sends bench/md5_speed
HAVE_LIBMD := $(shell $(PKG_CONFIG) --exists libmd 2>/dev/null && echo yes)
BENCH_LIBMD_STAMP := bench/.libmd-$(if $(HAVE_LIBMD),yes,no)
$(BENCH_LIBMD_STAMP):
	@rm -f bench/.libmd-*; touch $@
bench/md5_speed.o: $(BENCH_LIBMD_STAMP)
bench/md5_speed.o: CPPFLAGS += $(if $(HAVE_LIBMD),-DHAVE_LIBMD $(shell $(PKG_CONFIG) --cflags libmd))
bench/md5_speed: LDLIBS += $(if $(HAVE_LIBMD),$(shell $(PKG_CONFIG) --libs libmd))
$(BENCH_BIN): %: %.o $(COMMON_LIB)
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< $(COMMON_LIB) $(LDLIBS)
bench-programs: $(BENCH_BIN)
bench-clean:
	rm -f $(BENCH_BIN)
clean: bench-clean

# gnuplot draws the plot; libmd-dev lets bench/md5_speed time libmd too.
bench:
	@tools/deps.sh gnuplot-nox libmd-dev
	+@$(MAKE) --no-print-directory QUIET_TARGETS="all bench-programs" quiet-build
	@bench/run.sh

# Everything keeps its place under $(PREFIX)/libexec/nianbao (the viewer finds
# its tap library and catalogue next to itself, the lesson finds the stages);
# $(PREFIX)/bin gets the viewer and the lesson.
LIBEXEC = $(DESTDIR)$(PREFIX)/libexec/nianbao
install: all
	for f in $(STAGE_BIN) $(TOOLS_BIN) $(filter-out viewer/test_decode,$(VIEWER_BIN)) \
	         $(filter %.so,$(VIEWER_LIB)) tools/lesson.sh; do \
	  install -d $(LIBEXEC)/$$(dirname $$f) && install -m 755 $$f $(LIBEXEC)/$$f || exit 1; done
	for f in $(filter %.mo,$(VIEWER_LIB)); do \
	  install -d $(LIBEXEC)/$$(dirname $$f) && install -m 644 $$f $(LIBEXEC)/$$f || exit 1; done
	install -d $(DESTDIR)$(PREFIX)/bin
	ln -sf ../libexec/nianbao/viewer/nianbao-view $(DESTDIR)$(PREFIX)/bin/nianbao-view
	ln -sf ../libexec/nianbao/tools/lesson.sh $(DESTDIR)$(PREFIX)/bin/nianbao-lesson
	ln -sf ../libexec/nianbao/tools/grade $(DESTDIR)$(PREFIX)/bin/nianbao-grade

clean:
	rm -f $(COMMON_OBJ) $(COMMON_LIB) $(STAGE_BIN) $(TOOLS_BIN) $(VIEWER_BIN) $(VIEWER_LIB)
	rm -rf viewer/locale
	find . -name '*.o' -delete -o -name '*.d' -delete

.PHONY: all viewer-all deps demo test test-heavy bench install clean quiet-build bench-programs bench-clean
-include $(shell find . -name '*.d' 2>/dev/null)
