# grader/grader.mk - the grader (issue 11), included by the Makefile.
#
#   tools/grade           the grader (installed as nianbao-grade), built from
#                         grader/main.c
#   grader/libgrade.a     its modules: scenarios, protocols, engine, report,
#                         escaping, the class (--each)
#
# tools/grade is one of TOOLS_BIN (installed and cleaned with the tools),
# built here from grader/ beside the common library.

GRADER_MAIN := grader/main.o
GRADER_OBJ := $(filter-out $(GRADER_MAIN),$(patsubst %.c,%.o,$(wildcard grader/*.c)))
GRADER_LIB := grader/libgrade.a
GRADER_BIN := tools/grade
TOOLS_BIN += $(GRADER_BIN)

grader/%.o: CPPFLAGS += -Igrader -Icapture $(CJSON_CFLAGS)

$(GRADER_LIB): $(GRADER_OBJ)
	$(AR) rcs $@ $^

all: $(GRADER_BIN)
$(GRADER_BIN): $(GRADER_MAIN) $(GRADER_LIB) $(CAPTURE_LIB) $(COMMON_LIB)
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $(GRADER_MAIN) $(GRADER_LIB) $(CAPTURE_LIB) \
	  $(COMMON_LIB) $(LDLIBS) -lm -lpthread

clean: clean-grader
clean-grader:
	rm -f $(GRADER_LIB)

.PHONY: clean-grader
