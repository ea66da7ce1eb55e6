/* framing.h - what the bytes of a stream mean to the lab's protocols: the
 * raw (stage 1), len (stage 3), json (stage 4) and ft (stages 5 and 6)
 * framings, and which one a connection speaks.
 *
 * The parsers read a stream's known bytes and add its frames
 * (FRAME_LEN_FIELD, FRAME_HEADER_LEN, ...; stream.h). len and json frame
 * the replies; stage 5 (ft) frames both streams: the requests are parsed as
 * the replies are, each stream on its own (FRAME_HEADER_LEN,
 * FRAME_HEADER_JSON, FRAME_BODY, or FRAME_BAD where a header length or size
 * cannot be right; after that the stream's framing is lost and the rest is
 * left undecoded).
 *
 * Nothing here prints or exits. */
#ifndef NIANBAO_FRAMING_H
#define NIANBAO_FRAMING_H

#include <stdint.h>

#include "stream.h"

/* How the downstream bytes are framed. */
enum proto {
    PROTO_GUESS = 0,  /* decide from the data, then from the server port   */
    PROTO_RAW,        /* stage 1: no framing; a reply is whatever was sent  */
    PROTO_LEN,        /* stage 3: 4-byte little-endian length, then body    */
    PROTO_JSON,       /* stage 4: 4-byte LE header length, JSON header, body */
    PROTO_FT,         /* stage 5 and 6: every message both ways is a 4-byte
                         big-endian header length, a JSON header, then
                         exactly header.size body bytes                   */
};

/* The framing of a stage's programs, from common/stages.def: by the stage
 * folder named in PROG (a recorded command line), or by a server's default
 * PORT. PROTO_GUESS when nothing matches. */
enum proto proto_for_program(const char *prog);
enum proto proto_for_port(unsigned port);

/* "raw", "len", "json", "ft", "guess". */
const char *proto_name(enum proto proto);

/* Parses "raw" | "len" | "json" | "ft" (and "guess"), or a stage as the
 * grader names it, "stage1" .. "stage6" (its framing in stages.def). Returns 0, or -1 when NAME
 * is none of them. */
int proto_parse(const char *name, enum proto *proto);

/* For the decoder (decode.c). */

/* Where a stream's parser is (struct stream's parse.state). */
enum parse_state {
    PARSE_WAIT_PROTO = 0,   /* proto not decided yet                 */
    PARSE_LENGTH,           /* need the 4-byte length at parse.at     */
    PARSE_HEADER,           /* json: need parse.need header bytes     */
    PARSE_OFF,              /* raw framing, or gave up                */
};

/* Decides a connection's framing once there is enough to go on: the
 * program names (stage folders), then the first five bytes of UP or DOWN,
 * then SERVER_PORT once DOWN has five bytes or an end has CLOSED.
 * PROTO_GUESS while there is not enough yet. */
enum proto framing_guess(const struct stream *up, const struct stream *down,
                         const char *server_prog, const char *client_prog,
                         unsigned server_port, int closed);

/* Starts S's len/json/ft parser at offset 0. */
void framing_start(struct stream *s);

/* Runs the parser of PROTO (len, json or ft) over whatever bytes of S are
 * known now. Returns 0, or -1 (ENOMEM). */
int framing_parse(struct stream *s, enum proto proto);

/* Raw framing: [START, END) is part of request/reply MESSAGE (PART
 * FRAME_REQUEST or FRAME_REPLY); extends S's last frame when it continues
 * it. Returns 0, or -1 (ENOMEM). */
int framing_add_message(struct stream *s, enum frame_part part,
                        uint64_t start, uint64_t end, uint32_t message);

/* Raw framing from the send spans S already keeps (after the proto was
 * decided late). Returns 0, or -1 (ENOMEM). */
int framing_raw_from_sends(struct stream *s, enum frame_part part);

#endif
