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
STAGE_PORTS_H := common/stage_ports.h

# The stages' programs come from the one list of stages (common/stages.def,
# printed by tools/stages); every .c in tools/ is one program of the same name
# (and tools/grade is built from grader/: grader/grader.mk).
STAGE_BIN := $(shell tools/stages --programs)
ifeq ($(STAGE_BIN),)
$(error tools/stages --programs listed no program: is common/stages.def readable?)
endif
TOOLS_BIN := $(patsubst %.c,%,$(wildcard tools/*.c))
VIEWER_BIN :=
VIEWER_LIB :=

all: $(COMMON_LIB) $(STAGE_BIN) $(TOOLS_BIN) viewer-all

-include capture/capture.mk
-include viewer/viewer.mk
-include grader/grader.mk
-include exercises/exercises.mk
-include fuzz/fuzz.mk
-include tools/check.mk
-include tools/storm_parts/storm.mk

viewer-all: $(VIEWER_BIN) $(VIEWER_LIB)

%.o: %.c | $(STAGE_PORTS_H)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Each stage's default port as a string for the C programs (STAGE3_PORT
# "8083"; stage 2's UDP demo uses the port below its own), written from the
# table. Objects wait for it (order-only above); -MMD adds the rebuilds.
$(STAGE_PORTS_H): common/stages.def tools/stages
	{ echo '/* stage_ports.h - written by make from common/stages.def: do not edit. */'; \
	  echo '#ifndef NIANBAO_STAGE_PORTS_H'; echo '#define NIANBAO_STAGE_PORTS_H'; \
	  tools/stages | awk -F '\t' '{ printf "#define STAGE%s_PORT \"%s\"\n", $$1, $$5 } \
	      $$4 == "udp" { printf "#define STAGE%s_UDP_PORT \"%d\"\n", $$1, $$5 - 1 }'; \
	  echo '#endif'; } >$@.tmp && mv $@.tmp $@

$(COMMON_LIB): $(COMMON_OBJ)
	$(AR) rcs $@ $^

# common/ uses cJSON (frame.c) and libcrypto (digest.c); a program links
# only the parts of the library it calls, and the libraries they need.
CPPFLAGS += $(CJSON_CFLAGS) $(CRYPTO_CFLAGS)
LDLIBS += $(CJSON_LIBS) $(CRYPTO_LIBS)

$(STAGE_BIN) $(filter-out $(GRADER_BIN),$(TOOLS_BIN)): %: %.o $(COMMON_LIB)
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
	+@$(MAKE) --no-print-directory QUIET_TARGETS="all bench-programs test-tools" quiet-build
	@tests/run_suite.sh $(strip $(TEST_ARGS) tests/)

# The heavy tier runs 2 tests per CPU, not 3: its tests load the machine
# themselves (40 graders, a package build, 10,000 connections).
test-heavy: deps
	@tools/deps.sh $(DEB_BUILD_DEPS)
	+@$(MAKE) --no-print-directory QUIET_TARGETS="all bench-programs test-tools" quiet-build
	@tests/run_suite.sh --jobs $$(( $$(nproc) * 2 )) $(strip $(TEST_ARGS) tests/heavy/)

# ---- tests/tools: programs only the tests run (never installed) ----
# delayline: netem's delay where the kernel has none (the classroom test).
TEST_TOOLS := tests/tools/delayline
$(TEST_TOOLS): %: %.o $(COMMON_LIB)
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< $(COMMON_LIB) $(LDLIBS)
test-tools: $(TEST_TOOLS)
clean: test-tools-clean
test-tools-clean:
	rm -f $(TEST_TOOLS)

# ---- make bench: bench/run.sh and its programs (built for the bench only) ----
# (`make test` builds them too, for tests/bench.bats.) md5_speed times
# libmd's MD5 beside libcrypto's (the one stage 4 uses) when libmd-dev is
# there (`make bench` installs it); a stamp rebuilds it when that changes.
BENCH_BIN := bench/raw_server bench/raw_client bench/spawn_loop bench/tiny_sends bench/md5_speed \
             bench/rr_server bench/rr_client bench/rr_record
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

# ---- make install, make uninstall, make deb ----
# Everything keeps its place under $(PREFIX)/libexec/nianbao (the viewer finds
# its tap library and catalogue next to itself, the lesson finds the stages);
# $(PREFIX)/bin gets a link named nianbao-* for each program a user runs:
# stage3_struct_len/server is nianbao-stage3-server, tools/slicer is
# nianbao-slicer, viewer/nianbao-view and tools/lesson.sh are nianbao-view
# and nianbao-lesson. Each has a man page under its own name (the stage
# programs' names are links to their stage's page, man/nianbao-stageN.1),
# and nianbao(7) lists them. The exercises a student is handed go to
# $(PREFIX)/share/nianbao/exercises (nianbao-exercises DIR copies them out).
# `make uninstall` (same PREFIX and DESTDIR) removes exactly these files, then
# the directories of nianbao's own that are left empty.
LIBEXEC_DIR = $(PREFIX)/libexec/nianbao
SHARE_DIR   = $(PREFIX)/share/nianbao
MAN_DIR     = $(PREFIX)/share/man

# stage3_struct_len/server -> stage3; stage_cmd: -> nianbao-stage3-server
stage_of  = $(firstword $(subst _, ,$(patsubst %/,%,$(dir $(1)))))
stage_cmd = nianbao-$(call stage_of,$(1))-$(subst _,-,$(notdir $(1)))

INSTALL_PROGS = $(STAGE_BIN) $(TOOLS_BIN) $(filter-out viewer/test_decode,$(VIEWER_BIN)) \
                $(filter %.so,$(VIEWER_LIB)) tools/lesson.sh tools/exercises.sh
INSTALL_DATA  = $(filter %.mo,$(VIEWER_LIB))
# NAME:TARGET, TARGET beneath libexec/nianbao
BIN_LINKS = $(foreach p,$(STAGE_BIN),$(call stage_cmd,$(p)):$(p)) \
            $(foreach p,$(TOOLS_BIN),nianbao-$(notdir $(p)):$(p)) \
            nianbao-view:viewer/nianbao-view nianbao-lesson:tools/lesson.sh \
            nianbao-exercises:tools/exercises.sh
MAN1_PAGES := $(wildcard man/*.1)
MAN7_PAGES := $(wildcard man/*.7)
# NAME.1:PAGE.1, in man1
MAN1_LINKS = $(foreach p,$(STAGE_BIN),$(call stage_cmd,$(p)).1:nianbao-$(call stage_of,$(p)).1)
EXERCISE_HANDOUT := exercises/README.md exercises/README.zh.md \
                    $(wildcard exercises/stage[346]/*.c exercises/stage[346]/*.py)

install: all
	for f in $(INSTALL_PROGS); do \
	  install -d $(DESTDIR)$(LIBEXEC_DIR)/$$(dirname $$f) && \
	  install -m 755 $$f $(DESTDIR)$(LIBEXEC_DIR)/$$f || exit 1; done
	for f in $(INSTALL_DATA); do \
	  install -d $(DESTDIR)$(LIBEXEC_DIR)/$$(dirname $$f) && \
	  install -m 644 $$f $(DESTDIR)$(LIBEXEC_DIR)/$$f || exit 1; done
	install -d $(DESTDIR)$(PREFIX)/bin
	for link in $(BIN_LINKS); do \
	  ln -sf ../libexec/nianbao/$${link#*:} $(DESTDIR)$(PREFIX)/bin/$${link%%:*} || exit 1; done
	install -d $(DESTDIR)$(MAN_DIR)/man1 $(DESTDIR)$(MAN_DIR)/man7
	install -m 644 $(MAN1_PAGES) $(DESTDIR)$(MAN_DIR)/man1/
	install -m 644 $(MAN7_PAGES) $(DESTDIR)$(MAN_DIR)/man7/
	for link in $(MAN1_LINKS); do \
	  ln -sf $${link#*:} $(DESTDIR)$(MAN_DIR)/man1/$${link%%:*} || exit 1; done
	install -d $(DESTDIR)$(SHARE_DIR)
	install -m 644 tools/nianbao.lua $(DESTDIR)$(SHARE_DIR)/nianbao.lua
	for f in $(EXERCISE_HANDOUT); do \
	  install -d $(DESTDIR)$(SHARE_DIR)/$$(dirname $$f) && \
	  install -m 644 $$f $(DESTDIR)$(SHARE_DIR)/$$f || exit 1; done

uninstall:
	for f in $(INSTALL_PROGS) $(INSTALL_DATA); do rm -f $(DESTDIR)$(LIBEXEC_DIR)/$$f; done
	for link in $(BIN_LINKS); do rm -f $(DESTDIR)$(PREFIX)/bin/$${link%%:*}; done
	for f in $(notdir $(MAN1_PAGES)); do rm -f $(DESTDIR)$(MAN_DIR)/man1/$$f; done
	for f in $(notdir $(MAN7_PAGES)); do rm -f $(DESTDIR)$(MAN_DIR)/man7/$$f; done
	for link in $(MAN1_LINKS); do rm -f $(DESTDIR)$(MAN_DIR)/man1/$${link%%:*}; done
	rm -f $(DESTDIR)$(SHARE_DIR)/nianbao.lua
	for f in $(EXERCISE_HANDOUT); do rm -f $(DESTDIR)$(SHARE_DIR)/$$f; done
	for d in $(DESTDIR)$(LIBEXEC_DIR) $(DESTDIR)$(SHARE_DIR); do \
	  if [ -d $$d ]; then find $$d -depth -type d -empty -delete || exit 1; fi; done

# The Debian package (debian/), built by tools/build-deb.sh in a copy of
# the tracked files; the .deb lands in dist/. It installs, first, the
# Debian packages the build needs.
DEB_BUILD_DEPS := debhelper dpkg-dev fakeroot lintian
deb:
	@tools/deps.sh $(DEB_BUILD_DEPS)
	@tools/build-deb.sh

clean:
	rm -f $(COMMON_OBJ) $(COMMON_LIB) $(STAGE_PORTS_H) $(STAGE_BIN) $(TOOLS_BIN) $(VIEWER_BIN) $(VIEWER_LIB)
	rm -rf viewer/locale
	find . -name '*.o' -delete -o -name '*.d' -delete

.PHONY: all viewer-all deps demo test test-heavy bench install uninstall deb clean quiet-build bench-programs bench-clean test-tools test-tools-clean
-include $(shell find . -name '*.d' 2>/dev/null)
