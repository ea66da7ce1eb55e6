# fuzz/fuzz.mk - fuzz harnesses for every decoder of outside bytes, included
# by the Makefile (issue 8).
#
#   fuzz/replay-NAME        the harness NAME run once per file, any compiler,
#                           no libFuzzer: built by `make`, used by
#                           tests/fuzz_corpus.bats on fuzz/corpus/NAME/
#   fuzz/build/fuzz-NAME    the libFuzzer target (clang, ASan + UBSan),
#                           built by `make fuzz`
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_NAMES="decode capture"]
#                           fuzzes each harness FUZZ_SECONDS seconds, new
#                           inputs in fuzz/build/work/NAME/ (the committed
#                           seeds stay as they are); fails on a finding,
#                           which is kept in fuzz/build/artifacts/.

FUZZ_NAMES   ?= stage3_client stage4_client frame capture decode stage5_server stage5_client
FUZZ_ALL     := stage3_client stage4_client frame capture decode stage5_server stage5_client
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_CFLAGS  ?= -O1 -g -fno-omit-frame-pointer
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all

# What each harness links besides itself and common/'s library (sources, or
# capture/'s library: the replay build uses the tree's objects, the fuzz
# build compiles its own instrumented copies, the libraries included).
FUZZ_USES_stage3_client :=
FUZZ_USES_stage4_client :=
FUZZ_USES_frame         :=
FUZZ_USES_capture       := $(CAPTURE_LIB)
FUZZ_USES_decode        := $(CAPTURE_LIB)
FUZZ_LIBS_decode         = $(CJSON_LIBS)
FUZZ_USES_stage5_server := fuzz/ft_frames.c
FUZZ_USES_stage5_client := fuzz/ft_frames.c
FUZZ_LIBS_stage5_server  = -lpthread

FUZZ_REPLAY  := $(addprefix fuzz/replay-,$(FUZZ_ALL))
FUZZ_TARGETS := $(addprefix fuzz/build/fuzz-,$(FUZZ_ALL))

all: $(FUZZ_REPLAY)

fuzz/%.o: CPPFLAGS += -Ifuzz -Icapture $(CJSON_CFLAGS)

fuzz/build/%.o: %.c | $(STAGE_PORTS_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(WARN) $(CPPFLAGS) -Ifuzz -Icapture $(CJSON_CFLAGS) $(FUZZ_CFLAGS) \
	    $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

define FUZZ_RULES
fuzz/replay-$(1): fuzz/$(1).o fuzz/replay.o fuzz/fuzz_util.o $(FUZZ_USES_$(1):.c=.o) $$(COMMON_LIB)
	$$(CC) $$(WARN) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(FUZZ_LIBS_$(1)) $$(LDLIBS)

fuzz/build/fuzz-$(1): $(addprefix fuzz/build/,fuzz/$(1).o fuzz/fuzz_util.o $(FUZZ_USES_$(1):.c=.o)) \
                      fuzz/build/$$(COMMON_LIB)
	$$(FUZZ_CC) $$(FUZZ_CFLAGS) $$(FUZZ_SAN) -fsanitize=fuzzer -o $$@ $$^ $$(FUZZ_LIBS_$(1)) $$(LDLIBS)
endef
fuzz/build/$(COMMON_LIB): $(addprefix fuzz/build/,$(COMMON_OBJ))
	$(AR) rcs $@ $^
fuzz/build/$(CAPTURE_LIB): $(addprefix fuzz/build/,$(CAPTURE_OBJ))
	$(AR) rcs $@ $^

$(foreach name,$(FUZZ_ALL),$(eval $(call FUZZ_RULES,$(name))))

fuzz-build: deps
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS)

fuzz: fuzz-build
	fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-clean:
	rm -rf fuzz/build
	rm -f $(FUZZ_REPLAY)

clean: fuzz-clean

.PHONY: fuzz fuzz-build fuzz-clean
