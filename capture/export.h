/* export.h - the viewer's non-terminal modes: --dump, --html, --side-by-side.
 *
 * Each function reads a capture file, decodes it (decode.h) and writes text.
 * They never exit; they return 0, or -1 with ERR filled with a one-line
 * message for main() to print. main.c (the UI engineer's) dispatches to them. */
#ifndef NIANBAO_EXPORT_H
#define NIANBAO_EXPORT_H

#include <stddef.h>
#include <stdio.h>

#include "decode.h"

/* --dump: the annotated stream as plain, stable, diffable text (golden
 * files, slides). Timestamps, pids and ephemeral ports are left out unless
 * VERBOSE, so two recordings of the same session dump the same. */
int export_dump(const char *capture_path, FILE *out, enum proto proto,
                int verbose, char *err, size_t errlen);

/* Writes the dump of an already-loaded decoder (used by export_dump and by
 * tests that build a decoder by hand). */
void export_dump_decoder(const struct decoder *d, FILE *out, int verbose);

/* --html FILE: a self-contained page (inline CSS, no scripts fetched) with
 * each byte coloured by the send that wrote it, recv boundaries marked,
 * frame parts underlined and STALE flags shown. */
int export_html(const char *capture_path, const char *html_path,
                enum proto proto, char *err, size_t errlen);

/* --side-by-side: for each request of each connection, what a single
 * recv(1024) reader (v1) would print next to what a framed reader (v3/v4)
 * prints, from the same captured downstream bytes. */
int export_side_by_side(const char *capture_path, FILE *out,
                        enum proto proto, char *err, size_t errlen);

/* --at DIR:OFFSET [--conn N]: one byte of one connection's stream. */
struct export_at {
    unsigned conn;            /* 1-based */
    enum direction dir;
    uint64_t offset;
};

/* Decodes PATH up to the event after which the part of AT's stream around
 * AT->offset is settled (both tapped ends AT_CONTEXT bytes past it, or the
 * end of the capture): later events would slide the window away from it.
 * *EVENTS says how many events were fed. Returns 0 with D ready (free it
 * with decoder_free), or -1 with ERR filled: a bad capture, "--conn 3: the
 * capture has 1 connection", "--at up:500: the up stream of connection 1
 * has 12 bytes". */
int export_load_at(struct decoder *d, const char *path, enum proto proto,
                   const struct export_at *at, uint64_t *events, char *err, size_t errlen);

/* --dump --at: the dump lines of AT's stream within 256 bytes of the byte,
 * and after the line holding it a line "    => @OFFSET: 0x.. 'c', send #N,
 * recv #M, body #K" naming the byte and what it belongs to. */
int export_dump_at(const char *capture_path, FILE *out, enum proto proto, int verbose,
                   const struct export_at *at, char *err, size_t errlen);

#endif
