/* fuzz/capture.c - the viewer's capture reader (viewer/capture.c), fuzzed.
 *
 * The input is a capture file (from the tap, or from anywhere: the viewer
 * opens what it is given). It is read event by event with capture_next, and
 * the harness checks that the reader gives back the file exactly: each event
 * is the 80 bytes at its offset with a good magic and at most CAP_MAX_DATA
 * data bytes, its data is the bytes after it, and the events plus the
 * leftover cover the whole file; a refusal names a bad magic or a too large
 * data length that is really there. The fields are then formatted as the
 * viewer shows them. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[256], name[64];
    struct capture_reader r;
    struct cap_event ev;
    const unsigned char *event_data;
    size_t offset = 0;
    int got;

    int fd = fuzz_memfile(data, size, path);
    if (fd < 0)
        return 0;
    if (capture_open(&r, path, err, sizeof err) < 0)
        fuzz_fail("capture_open: %s", err);
    while ((got = capture_next(&r, &ev, &event_data, err, sizeof err)) == 1) {
        if (offset + sizeof ev > size || ev.magic != CAP_MAGIC || ev.data_len > CAP_MAX_DATA ||
            offset + sizeof ev + ev.data_len > size)
            fuzz_fail("event at byte %zu is not in the file", offset);
        if (memcmp(&ev, data + offset, sizeof ev) != 0 ||
            memcmp(event_data, data + offset + sizeof ev, ev.data_len) != 0)
            fuzz_fail("event at byte %zu differs from the file's bytes", offset);
        offset += sizeof ev + ev.data_len;
        capture_addr_unmap(&ev.local);
        capture_format_addr(&ev.local, name, sizeof name);
        capture_format_addr(&ev.peer, name, sizeof name);
        capture_addr_equal(&ev.local, &ev.peer);
        capture_call_name(ev.call);
        capture_kind_name(ev.kind);
    }
    if (got == 0 && offset + capture_leftover(&r) != size)
        fuzz_fail("%zu bytes of events and %zu left over in a %zu-byte file",
                  offset, capture_leftover(&r), size);
    if (got < 0) {
        struct cap_event bad;
        if (offset + sizeof bad > size)
            fuzz_fail("refused at byte %zu, past the last whole header: %s", offset, err);
        memcpy(&bad, data + offset, sizeof bad);
        if (bad.magic == CAP_MAGIC && bad.data_len <= CAP_MAX_DATA)
            fuzz_fail("a good event refused at byte %zu: %s", offset, err);
    }
    capture_close(&r);
    close(fd);
    return 0;
}
