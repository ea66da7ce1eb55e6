# capture/capture.mk - the capture library (issue 16), included by the Makefile
# before the programs that link it.
#
#   capture/libcapture.a  the capture format the tap writes (capture.c); the
#                         decoder of a capture into annotated streams: events
#                         to connections (decode.c), a stream's bytes and
#                         spans (stream.c), the protocols' frames
#                         (framing.c); and what a decoded capture is written
#                         as: --dump, --html, --side-by-side, --at (export.c)
#                         and pcap (pcap.c)
#   capture/tap.c         the tap that records a capture (LD_PRELOAD), built
#                         as viewer/libnianbao-tap.so beside the viewer
#
# Data apart from drawing: nothing here prints, exits or needs a terminal.
# The viewer, the grader (which records captures) and the fuzzers link it;
# their objects add -Icapture.

# capture/tap.c is not in the library: it is the LD_PRELOAD tap that writes
# captures, built as viewer/libnianbao-tap.so (viewer/viewer.mk).
CAPTURE_OBJ := $(patsubst %.c,%.o,$(filter-out capture/tap.c,$(wildcard capture/*.c)))
CAPTURE_LIB := capture/libcapture.a

capture/%.o: CPPFLAGS += -Icapture $(CJSON_CFLAGS)

$(CAPTURE_LIB): $(CAPTURE_OBJ)
	$(AR) rcs $@ $^

clean: clean-capture
clean-capture:
	rm -f $(CAPTURE_LIB)

.PHONY: clean-capture
