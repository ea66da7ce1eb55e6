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

grader/%.o: CPPFLAGS += -Igrader -Iviewer $(CJSON_CFLAGS)
tools/grade.o: CPPFLAGS += -Igrader -Iviewer $(CJSON_CFLAGS)

$(GRADER_LIB): $(GRADER_OBJ)
	$(AR) rcs $@ $^

tools/grade: $(GRADER_LIB) viewer/capture.o
tools/grade: LDLIBS += $(GRADER_LIB) viewer/capture.o $(COMMON_LIB) $(CJSON_LIBS) $(CRYPTO_LIBS) -lm -lpthread

# make install: the grader on PREFIX/bin as nianbao-grade (its program is
# installed with the other tools, under libexec), the man pages of the
# installed programs, and the Wireshark dissector.
MAN_PAGES := $(wildcard man/*.1)
install: install-grader
install-grader: all
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/nianbao
	install -m 644 $(MAN_PAGES) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 tools/nianbao.lua $(DESTDIR)$(PREFIX)/share/nianbao/nianbao.lua

clean: clean-grader
clean-grader:
	rm -f $(GRADER_LIB)

.PHONY: clean-grader install-grader
