# viewer/viewer.mk - the byte-stream viewer (issue 4), included by the Makefile.
#
#   viewer/libnianbao-tap.so  LD_PRELOAD tap that records socket calls
#   viewer/nianbao-view       the viewer: live UI, --replay, --dump, --html ...
#   viewer/test_decode        unit tests of the decoder (run by tests/viewer_decode.bats)

VIEWER_DATA_OBJ := viewer/capture.o viewer/decode.o viewer/export.o viewer/wrap.o viewer/pcap.o
VIEWER_UI_OBJ   := $(patsubst %.c,%.o,$(wildcard viewer/main.c viewer/ui.c viewer/lesson.c))

VIEWER_LIB += viewer/libnianbao-tap.so
VIEWER_BIN += viewer/test_decode
ifneq ($(wildcard viewer/main.c),)
VIEWER_BIN += viewer/nianbao-view
endif

viewer/%.o: CPPFLAGS += -Iviewer $(CJSON_CFLAGS)
$(VIEWER_UI_OBJ): CPPFLAGS += $(CURSES_CFLAGS)

# The tap is compiled on its own, position-independent, and links only libc
# and libdl: it is loaded into programs that know nothing about nianbao.
viewer/tap.pic.o: viewer/tap.c viewer/capture.h
	$(CC) $(WARN) $(CPPFLAGS) -Iviewer $(CFLAGS) -fPIC -c -o $@ $<

viewer/libnianbao-tap.so: viewer/tap.pic.o
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) -shared -fPIC -o $@ $^ -ldl

viewer/nianbao-view: $(VIEWER_UI_OBJ) $(VIEWER_DATA_OBJ) $(COMMON_LIB)
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CURSES_LIBS) $(CJSON_LIBS) $(LDLIBS)

viewer/test_decode: viewer/test_decode.o $(VIEWER_DATA_OBJ) $(COMMON_LIB)
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CJSON_LIBS) $(LDLIBS)

# The lesson's Chinese text: viewer/po/LANG.po -> viewer/locale/LANG/LC_MESSAGES/nianbao.mo
# (main.c looks for locale/ next to the executable). Skipped without msgfmt.
VIEWER_MO := $(patsubst viewer/po/%.po,viewer/locale/%/LC_MESSAGES/nianbao.mo,$(wildcard viewer/po/*.po))
ifneq ($(shell command -v msgfmt 2>/dev/null),)
VIEWER_LIB += $(VIEWER_MO)
endif

viewer/locale/%/LC_MESSAGES/nianbao.mo: viewer/po/%.po
	@mkdir -p $(dir $@)
	msgfmt -o $@ $<
