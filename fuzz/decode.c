/* fuzz/decode.c - the capture decoder (capture/decode.c) and its text
 * exports, fuzzed.
 *
 * Input: one byte of options, then a capture file. The option byte picks
 * the framing (bits 0-1: guess, raw, len, json; bit 3 set: ft, stage 5's
 * frames both ways), --dump's verbosity (bit 2) and the window kept per stream (bits 4-7: 0 is the default 64 KiB, N is
 * 128 << N bytes, so small windows that drop spans are exercised too).
 * The events are decoded one by one as the live viewer does, the model is
 * dumped (--dump), and the same file is read again by --side-by-side and
 * --html (written to /dev/null).
 * What is checked: the sanitizers, and that the totals agree with the
 * events fed. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "decode.h"
#include "export.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[256];
    struct decode_options opt = { PROTO_GUESS, 0 };
    struct capture_reader r;
    struct cap_event ev;
    const unsigned char *event_data;
    struct decoder d;
    uint64_t fed = 0;

    if (size < 1)
        return 0;
    opt.proto = (data[0] & 8) ? PROTO_FT : (enum proto)(data[0] & 3);
    int verbose = (data[0] >> 2) & 1;
    if (data[0] >> 4)
        opt.window = (size_t)128 << (data[0] >> 4);
    int fd = fuzz_memfile(data + 1, size - 1, path);
    if (fd < 0)
        return 0;
    if (decoder_init(&d, &opt) < 0)
        fuzz_fail("decoder_init failed");
    if (capture_open(&r, path, err, sizeof err) < 0)
        fuzz_fail("capture_open: %s", err);
    while (capture_next(&r, &ev, &event_data, err, sizeof err) == 1) {
        if (decoder_feed(&d, &ev, event_data) < 0)
            fuzz_fail("decoder_feed: out of memory");
        fed++;
    }
    capture_close(&r);
    if (d.events != fed)
        fuzz_fail("%llu events fed, the decoder counted %llu",
                  (unsigned long long)fed, (unsigned long long)d.events);
    struct decode_status st;
    decoder_status(&d, &st);
    if (st.events != fed)
        fuzz_fail("status says %llu events of %llu", (unsigned long long)st.events,
                  (unsigned long long)fed);
    export_dump_decoder(&d, fuzz_null_stream(), verbose);
    decoder_free(&d);
    export_side_by_side(path, fuzz_null_stream(), opt.proto, err, sizeof err);
    export_html(path, "/dev/null", opt.proto, err, sizeof err);
    close(fd);
    return 0;
}
