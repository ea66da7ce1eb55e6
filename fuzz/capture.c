/* fuzz/capture.c - the capture reader (capture/capture.c), fuzzed.
 *
 * The input is a capture file (from the tap, or from anywhere: the viewer
 * opens what it is given). It is read event by event with capture_next, and
 * the harness checks that the reader gives back the file exactly: each event
 * is the 88-byte header at its offset (or an 80-byte NBV1 one, given back in
 * the NBV2 layout with WIRE_LEN = RESULT) with a good magic and at most
 * CAP_MAX_DATA data bytes, its data is the bytes after it, and the events
 * plus the leftover cover the whole file; a refusal names a bad magic or a
 * too large data length that is really there. The fields are then formatted as the
 * viewer shows them. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "fuzz.h"

/* The header the reader must give for the event at AT (AVAIL bytes there);
 * its size in the file, or 0 when AT holds no whole header with a good magic. */
static size_t expected_header(const uint8_t *at, size_t avail, struct cap_event *want)
{
    uint32_t magic;
    if (avail < sizeof magic)
        return 0;
    memcpy(&magic, at, sizeof magic);
    size_t header = magic == CAP_MAGIC ? sizeof *want : magic == CAP_MAGIC_V1 ? CAP_HEADER_V1 : 0;
    if (header == 0 || avail < header)
        return 0;
    memset(want, 0, sizeof *want);
    memcpy(want, at, header);
    if (magic == CAP_MAGIC_V1) {
        want->magic = CAP_MAGIC;
        want->wire_len = want->result;
    }
    return header;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[256], name[64];
    struct capture_reader r;
    struct cap_event ev, want;
    const unsigned char *event_data;
    size_t offset = 0;
    int got;

    int fd = fuzz_memfile(data, size, path);
    if (fd < 0)
        return 0;
    if (capture_open(&r, path, err, sizeof err) < 0)
        fuzz_fail("capture_open: %s", err);
    while ((got = capture_next(&r, &ev, &event_data, err, sizeof err)) == 1) {
        size_t header = expected_header(data + offset, size - offset, &want);
        if (header == 0 || ev.magic != CAP_MAGIC || ev.data_len > CAP_MAX_DATA ||
            offset + header + ev.data_len > size)
            fuzz_fail("event at byte %zu is not in the file", offset);
        if (memcmp(&ev, &want, sizeof ev) != 0 ||
            memcmp(event_data, data + offset + header, ev.data_len) != 0)
            fuzz_fail("event at byte %zu differs from the file's bytes", offset);
        offset += header + ev.data_len;
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
        uint32_t magic = 0;
        if (offset + sizeof magic > size)
            fuzz_fail("refused at byte %zu, past the last magic: %s", offset, err);
        memcpy(&magic, data + offset, sizeof magic);
        if ((magic == CAP_MAGIC || magic == CAP_MAGIC_V1) &&
            (expected_header(data + offset, size - offset, &want) == 0 ||
             want.data_len <= CAP_MAX_DATA))
            fuzz_fail("a good event refused at byte %zu: %s", offset, err);
    }
    capture_close(&r);
    close(fd);
    return 0;
}
