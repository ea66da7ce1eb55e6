# grader/grader.mk - the grader (issue 11), included by the Makefile.
#
#   tools/grade           the grader (installed as nianbao-grade)
#   grader/libgrade.a     its modules: scenarios, framing, engine, report,
#                         escaping, the class (--each)
#
# tools/grade is built by the Makefile's rule for every tools/*.c; these
# lines add what it links beside the common library.

GRADER_OBJ := $(patsubst %.c,%.o,$(wildcard grader/*.c))
GRADER_LIB := grader/libgrade.a

grader/%.o: CPPFLAGS += -Igrader -Icapture $(CJSON_CFLAGS)
tools/grade.o: CPPFLAGS += -Igrader -Icapture $(CJSON_CFLAGS)

$(GRADER_LIB): $(GRADER_OBJ)
	$(AR) rcs $@ $^

tools/grade: $(GRADER_LIB) $(CAPTURE_LIB)
tools/grade: LDLIBS += $(GRADER_LIB) $(CAPTURE_LIB) $(COMMON_LIB) $(CJSON_LIBS) $(CRYPTO_LIBS) -lm -lpthread

clean: clean-grader
clean-grader:
	rm -f $(GRADER_LIB)

.PHONY: clean-grader
