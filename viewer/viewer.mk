# viewer/viewer.mk - the byte-stream viewer (issue 4), included by the Makefile.
#
#   viewer/libnianbao-tap.so  LD_PRELOAD tap that records socket calls
#   viewer/nianbao-view       the viewer: live UI, --replay, --dump, --html ...
#   viewer/test_decode        unit tests of the decoder (run by tests/viewer_decode.bats)
#
# The capture format and its decoder are capture/'s library (capture/capture.mk).

VIEWER_DATA_OBJ := viewer/wrap.o viewer/svg.o
VIEWER_UI_OBJ   := $(patsubst %.c,%.o,$(wildcard viewer/main.c viewer/ui.c viewer/lesson*.c))

VIEWER_LIB += viewer/libnianbao-tap.so
VIEWER_BIN += viewer/test_decode
ifneq ($(wildcard viewer/main.c),)
VIEWER_BIN += viewer/nianbao-view
endif

viewer/%.o: CPPFLAGS += -Iviewer -Icapture $(CJSON_CFLAGS)
$(VIEWER_UI_OBJ): CPPFLAGS += $(CURSES_CFLAGS)

# The tap (capture/tap.c: it writes the capture format) is compiled on its
# own, position-independent, and links only libc and libdl: it is loaded into
# programs that know nothing about nianbao. It is built here, beside the
# viewer, which looks for it next to itself.
capture/tap.pic.o: capture/tap.c capture/capture.h
	$(CC) $(WARN) $(CPPFLAGS) -Icapture $(CFLAGS) -fPIC -c -o $@ $<

viewer/libnianbao-tap.so: capture/tap.pic.o
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) -shared -fPIC -o $@ $^ -ldl

viewer/nianbao-view: $(VIEWER_UI_OBJ) $(VIEWER_DATA_OBJ) $(CAPTURE_LIB) $(COMMON_LIB)
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CURSES_LIBS) $(CJSON_LIBS) $(LDLIBS)

viewer/test_decode: viewer/test_decode.o $(VIEWER_DATA_OBJ) $(CAPTURE_LIB) $(COMMON_LIB)
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

# make screenshots: the README's pictures, drawn by the viewer's own screen
# code from the committed captures (tests/golden/), the lesson's stage 1
# screen in Chinese too: from lesson_stage1.nbcap, a recorded run of it
# (--from-capture), not a new run, whose first reply is `ls` of this tree
# and so moves every byte after it when a file comes or goes. The same
# inputs give the same bytes (tests/viewer_svg.bats regenerates them into a
# temporary folder and compares). Nothing from the user's environment
# reaches a picture: the language, the locale and the wait markers are
# fixed here, and the lesson's waits (a person's pace, a machine's) are not
# drawn.
SCREENSHOT_DIR ?= docs/img
SCREENSHOT_VIEW = env -u NO_COLOR -u LANGUAGE -u NIANBAO_VIEW_GAP_MS LC_ALL=C.UTF-8 \
	viewer/nianbao-view --lang en --size 80x24
screenshots: all
	@mkdir -p $(SCREENSHOT_DIR)
	$(SCREENSHOT_VIEW) --replay tests/golden/stage1_garble.nbcap --keys w \
	  --svg-animate $(SCREENSHOT_DIR)/stage1-garble.svg \
	  --title "Stage 1, as it happens: the reply to seq 1 300 arrives, one recv(1024) takes its first 1024 bytes, and each later recv returns the previous reply's bytes, flagged STALE"
	$(SCREENSHOT_VIEW) --replay tests/golden/stage3_len.nbcap --keys w \
	  --svg $(SCREENSHOT_DIR)/stage3-frames.svg \
	  --title "Stage 3: every reply starts with its decoded 4-byte length ([len 1092], [len 3], [len 9]) and no recv is STALE"
	$(SCREENSHOT_VIEW) --replay tests/golden/stage5_ft.nbcap --keys w \
	  --svg $(SCREENSHOT_DIR)/stage5-replies.svg \
	  --title "Stage 5, replies (down): every reply is a frame, a header length, a JSON header and its body"
	$(SCREENSHOT_VIEW) --replay tests/golden/stage5_ft.nbcap --keys wd \
	  --svg $(SCREENSHOT_DIR)/stage5-requests.svg \
	  --title "Stage 5, requests (up): the requests are frames too: exec, put with its data, get"
	$(SCREENSHOT_VIEW) --replay tests/golden/stage6_two.nbcap --keys wn \
	  --svg $(SCREENSHOT_DIR)/stage6-switch.svg \
	  --title "Stage 6: two clients of one poll server at once; n switched the screen to connection 2 of 2, a get of notes.txt"
	env -u NO_COLOR -u LANGUAGE NIANBAO_VIEW_GAP_MS=3600000 LC_ALL=C.UTF-8 \
	  viewer/nianbao-view --lesson --lang zh --stage 1 --size 80x24 \
	  --from-capture tests/golden/lesson_stage1.nbcap \
	  --svg $(SCREENSHOT_DIR)/lesson-zh.svg \
	  --title "The lesson in Chinese, stage 1, step 3: echo MARK prints old seq output, and the status line flags the STALE recv"

.PHONY: screenshots
