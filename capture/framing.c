/* framing.c - the lab's protocols read off a stream: the raw, len, json and
 * ft framings, and which one a connection speaks (framing.h). */
#include "framing.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsroot.h"

/* The largest reply a stage 3/4 client accepts (--max-len default): a
 * bigger length field means the bytes are not what the parser thinks. */
#define MAX_BODY_LEN ((long long)NB_MAX_LEN_DEFAULT)
/* A stage 4 header is a short JSON object; more means lost framing. */
#define MAX_HEADER_LEN ((long long)NB_MAX_HEADER_DEFAULT)
/* Stage 5 (stage5_file_transfer/README.md, "Frames"): HLEN is 1..65536,
 * the body's size an integer up to 2^53 - 1 (a 4 GiB upload is one body).
 * A body costs the parser nothing but an offset, whatever its size. */
#define FT_MAX_HEADER_LEN ((long long)FT_MAX_HEADER)
#define FT_MAX_BODY_LEN ((long long)FT_MAX_INTEGER)

const char *proto_name(enum proto proto)
{
    switch (proto) {
    case PROTO_RAW: return "raw";
    case PROTO_LEN: return "len";
    case PROTO_JSON: return "json";
    case PROTO_FT: return "ft";
    default: return "guess";
    }
}

/* The stages' framing and ports, from the one list of stages. */
static const struct stage_framing {
    int number;
    const char *dir;
    const char *framing;
    unsigned port;
} stage_table[] = {
#define STAGE(num, dir, version, framing, port, programs, title) { num, #dir, #framing, port },
#include "stages.def"
#undef STAGE
};

static enum proto proto_of_framing(const char *framing);

int proto_parse(const char *name, enum proto *proto)
{
    static const enum proto all[] = { PROTO_GUESS, PROTO_RAW, PROTO_LEN, PROTO_JSON,
                                      PROTO_FT };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(name, proto_name(all[i])) == 0) {
            *proto = all[i];
            return 0;
        }
    /* "stage5": a stage's framing, named as the grader names protocols */
    for (size_t i = 0; i < sizeof(stage_table) / sizeof(stage_table[0]); i++) {
        char stage[16];
        snprintf(stage, sizeof(stage), "stage%d", stage_table[i].number);
        if (strcmp(name, stage) == 0) {
            *proto = proto_of_framing(stage_table[i].framing);
            return *proto == PROTO_GUESS ? -1 : 0;
        }
    }
    return -1;
}

/* A stages.def framing word as the decoder's proto; framings the decoder
 * does not know yet are left to the guess. */
static enum proto proto_of_framing(const char *framing)
{
    static const enum proto all[] = { PROTO_RAW, PROTO_LEN, PROTO_JSON, PROTO_FT };
    if (strcmp(framing, "udp") == 0)
        return PROTO_RAW;       /* stage 2's demos carry no framing */
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(framing, proto_name(all[i])) == 0)
            return all[i];
    return PROTO_GUESS;
}

enum proto proto_for_program(const char *prog)
{
    for (size_t i = 0; i < sizeof(stage_table) / sizeof(stage_table[0]); i++) {
        /* its folder in the sources, or its installed name (make install:
         * nianbao-stageN-PROGRAM on PATH) */
        char installed[32];
        snprintf(installed, sizeof installed, "nianbao-stage%d-", stage_table[i].number);
        if (strstr(prog, stage_table[i].dir) != NULL || strstr(prog, installed) != NULL)
            return proto_of_framing(stage_table[i].framing);
    }
    return PROTO_GUESS;
}

enum proto proto_for_port(unsigned port)
{
    for (size_t i = 0; i < sizeof(stage_table) / sizeof(stage_table[0]); i++)
        if (stage_table[i].port == port)
            return proto_of_framing(stage_table[i].framing);
    return PROTO_GUESS;
}

/* ---- frames ----------------------------------------------------------- */

/* Raw framing: a request/reply is the bytes of one message number. Extends
 * the last frame when the new span continues it. */
int framing_add_message(struct stream *s, enum frame_part part,
                        uint64_t start, uint64_t end, uint32_t message)
{
    if (end <= start || message == 0)
        return 0;
    if (s->n_frames > 0) {
        struct decode_frame *last = &s->frames[s->n_frames - 1];
        if (last->part == part && last->message == message && last->end == start) {
            last->end = end;
            last->value = (long long)(last->end - last->start);
            snprintf(last->note, sizeof(last->note), "%s #%u, %lld bytes",
                     frame_part_name(part), message, last->value);
            return 0;
        }
        if (last->end > start)   /* out of order: the bytes already have a frame */
            return 0;
    }
    struct decode_frame *f = stream_push_frame(s);
    if (f == NULL)
        return -1;
    f->start = start;
    f->end = end;
    f->part = part;
    f->message = message;
    f->value = (long long)(end - start);
    snprintf(f->note, sizeof(f->note), "%s #%u, %lld bytes",
             frame_part_name(part), message, f->value);
    return 0;
}

/* Reads N (<= 8) known bytes at OFFSET. Returns 1, or 0 when one of them is
 * not known (yet). */
static int peek_bytes(const struct stream *s, uint64_t offset, unsigned char *out,
                      size_t n)
{
    if (offset + n > stream_end(s))
        return 0;
    for (size_t i = 0; i < n; i++) {
        int b = stream_byte(s, offset + i);
        if (b < 0)
            return 0;
        out[i] = (unsigned char)b;
    }
    return 1;
}

static long long le32(const unsigned char *b)
{
    uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                 (uint32_t)b[3] << 24;
    return (long long)(int32_t)v;   /* struct.pack('i'): signed */
}

static long long be32(const unsigned char *b)
{
    return (long long)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
                       (uint32_t)b[3]);     /* stage 5: unsigned, network order */
}

/* "1195725860 (\"GET \")" when the four bytes are text: a student reading a
 * nonsense length usually has an HTTP client or a stage 1 reply in hand. */
static void explain_length(char *note, size_t len, const char *what,
                           long long value, const unsigned char *b)
{
    int text = 1;
    for (int i = 0; i < 4; i++)
        if (b[i] < 0x20 || b[i] > 0x7e)
            text = 0;
    if (text)
        snprintf(note, len, "%s %lld is \"%c%c%c%c\": the peer speaks another protocol",
                 what, value, b[0], b[1], b[2], b[3]);
    else if (value < 0)
        snprintf(note, len, "%s %lld is negative: not a length", what, value);
    else
        snprintf(note, len, "%s %lld is too big to be right", what, value);
}

/* A JSON number as a byte count or exit code: 1 with *OUT set when it is an
 * integer of at most 2^53 in size (exact in a double), -1 when it is a
 * number but not such an integer (1e308, 2^63, 2.5), 0 when absent or not
 * a number. Casting 1e308 to long long is undefined; this never does. */
static int json_integer(const cJSON *item, long long *out)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double v = item->valuedouble;
    /* the range first: only then is the cast defined */
    if (!isfinite(v) || v > 9007199254740992.0 || v < -9007199254740992.0)
        return -1;
    long long whole = (long long)v;
    if ((double)whole != v)
        return -1;      /* 2.5 */
    *out = whole;
    return 1;
}

/* Appends " NAME=VALUE" (or " NAME=invalid") to NOTE when HAVE. */
static void note_field(char *note, size_t len, const char *name, int have, long long value)
{
    size_t used = strlen(note);
    if (have == 0 || used >= len)
        return;
    if (have > 0)
        snprintf(note + used, len - used, "%s%s=%lld", used ? " " : "", name, value);
    else
        snprintf(note + used, len - used, "%s%s=invalid", used ? " " : "", name);
}

static void read_json_header(const unsigned char *text, size_t len,
                             struct decode_frame *f)
{
    cJSON *root = cJSON_ParseWithLength((const char *)text, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        f->part = FRAME_BAD;
        snprintf(f->note, sizeof(f->note), "header of %zu bytes is not a JSON object", len);
        goto end;
    }
    struct json_header_info *h = &f->header;
    h->have_total_size = json_integer(cJSON_GetObjectItemCaseSensitive(root, "total_size"),
                                      &h->total_size);
    h->have_stdout_size = json_integer(cJSON_GetObjectItemCaseSensitive(root, "stdout_size"),
                                       &h->stdout_size);
    h->have_exit_code = json_integer(cJSON_GetObjectItemCaseSensitive(root, "exit_code"),
                                     &h->exit_code);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "file_name");
    if (cJSON_IsString(item))
        snprintf(h->file_name, sizeof(h->file_name), "%s", item->valuestring);
    item = cJSON_GetObjectItemCaseSensitive(root, "md5");
    if (cJSON_IsString(item))
        snprintf(h->md5, sizeof(h->md5), "%s", item->valuestring);
    f->note[0] = '\0';
    note_field(f->note, sizeof(f->note), "total_size", h->have_total_size, h->total_size);
    note_field(f->note, sizeof(f->note), "stdout_size", h->have_stdout_size, h->stdout_size);
    note_field(f->note, sizeof(f->note), "exit_code", h->have_exit_code, h->exit_code);
    if (h->have_total_size != 1 || h->total_size < 0 || h->total_size > MAX_BODY_LEN) {
        f->part = FRAME_BAD;
        char fields[sizeof(f->note)];
        snprintf(fields, sizeof(fields), "%s", f->note);
        if (h->have_total_size == 0)
            snprintf(f->note, sizeof(f->note), "header has no total_size");
        else
            snprintf(f->note, sizeof(f->note), "header has no usable total_size (%.80s)", fields);
        goto end;
    }
    f->value = h->total_size;
end:
    cJSON_Delete(root);
}

/* Appends " NAME=TEXT" to NOTE, TEXT cut to 16 bytes ("...", never inside
 * a character) and escaped as the servers' logs escape names
 * (fsroot_show_name: C0, DEL, C1 and bidirectional controls as \xNN), so
 * no escape code in a capture reaches a screen. */
static void note_text(char *note, size_t len, const char *name, const char *text)
{
    char shown[80];
    size_t text_len = strlen(text), cut = text_len;
    if (cut > 16) {
        cut = 16;
        while (cut > 0 && ((unsigned char)text[cut] & 0xc0) == 0x80)
            cut--;
    }
    fsroot_show_name(text, cut, shown, sizeof(shown));
    size_t at = strlen(note);
    if (at < len)
        snprintf(note + at, len - at, "%s%s=%s%s", at ? " " : "", name, shown,
                 cut < text_len ? "..." : "");
}

/* A stage 5 header: one JSON object whose "size" gives the body. Its
 * fields go into the note in the order sent ("op=exec size=7"), so every
 * op reads alike without the viewer knowing each one. */
static void read_ft_header(const unsigned char *text, size_t len, struct decode_frame *f)
{
    cJSON *root = cJSON_ParseWithLength((const char *)text, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        f->part = FRAME_BAD;
        snprintf(f->note, sizeof(f->note), "header of %zu bytes is not a JSON object", len);
        goto end;
    }
    struct json_header_info *h = &f->header;
    h->have_size = json_integer(cJSON_GetObjectItemCaseSensitive(root, "size"), &h->size);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "op");
    if (cJSON_IsString(item))
        note_text(h->op, sizeof(h->op), "", item->valuestring);
    memmove(h->op, h->op + (h->op[0] == '=' ? 1 : 0), strlen(h->op) + 1);
    item = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (cJSON_IsString(item))
        snprintf(h->file_name, sizeof(h->file_name), "%s", item->valuestring);
    f->note[0] = '\0';
    for (const cJSON *field = root->child; field != NULL; field = field->next) {
        const char *name = field->string ? field->string : "?";
        if (cJSON_IsString(field)) {
            note_text(f->note, sizeof(f->note), name, field->valuestring);
        } else if (cJSON_IsNumber(field)) {
            long long value = 0;
            int have = json_integer(field, &value);
            note_field(f->note, sizeof(f->note), name, have, value);
        } else {
            size_t at = strlen(f->note);
            const char *word = cJSON_IsTrue(field) ? "true" : cJSON_IsFalse(field) ? "false"
                               : cJSON_IsNull(field) ? "null" : "...";
            if (at < sizeof(f->note))
                snprintf(f->note + at, sizeof(f->note) - at, "%s%s=%s", at ? " " : "",
                         name, word);
        }
    }
    if (h->have_size != 1 || h->size < 0 || h->size > FT_MAX_BODY_LEN) {
        f->part = FRAME_BAD;
        char fields[sizeof(f->note)];
        snprintf(fields, sizeof(fields), "%s", f->note);
        if (h->have_size == 0)
            snprintf(f->note, sizeof(f->note), "header has no size");
        else
            snprintf(f->note, sizeof(f->note), "header has no usable size (%.80s)", fields);
        goto end;
    }
    f->value = h->size;
end:
    cJSON_Delete(root);
}

/* OP: the stage 5 header's op, or NULL for a stage 3/4 reply. */
static int add_body(struct stream *s, uint64_t start, long long len, uint32_t message,
                    const char *op)
{
    if (len == 0)
        return 0;
    /* OP may lie in S's frames, which push_frame may move: copied first */
    char op_copy[sizeof ((struct decode_frame *)0)->header.op] = "";
    if (op != NULL)
        snprintf(op_copy, sizeof op_copy, "%s", op);
    struct decode_frame *f = stream_push_frame(s);
    if (f == NULL)
        return -1;
    f->start = start;
    f->end = start + (uint64_t)len;
    f->part = FRAME_BODY;
    f->message = message;
    f->value = len;
    if (op != NULL)
        snprintf(f->note, sizeof(f->note), "body of frame #%u (%s), %lld bytes", message,
                 *op_copy ? op_copy : "?", len);
    else
        snprintf(f->note, sizeof(f->note), "body of reply #%u, %lld bytes", message, len);
    return 0;
}

/* Runs the len/json/ft parser over whatever bytes of S are known now
 * (len/json: the replies only; ft: either stream). */
int framing_parse(struct stream *s, enum proto proto)
{
    int ft = proto == PROTO_FT;
    for (;;) {
        if (s->parse.state == PARSE_OFF || s->parse.state == PARSE_WAIT_PROTO)
            return 0;
        if (s->parse.at < s->win_start) {
            /* The bytes we needed scrolled away before anyone captured
             * them: framing is lost from here on. */
            s->parse.state = PARSE_OFF;
            s->parse.lost = 1;
            return 0;
        }
        if (s->parse.state == PARSE_LENGTH) {
            unsigned char b[4];
            if (!peek_bytes(s, s->parse.at, b, 4))
                return 0;
            long long value = ft ? be32(b) : le32(b);
            uint32_t message = ++s->parse.message;
            /* ft: frames are not replies (one request, several frames) */
            if (!ft && message > s->messages)
                s->messages = message;
            struct decode_frame *f = stream_push_frame(s);
            if (f == NULL)
                return -1;
            f->start = s->parse.at;
            f->end = s->parse.at + 4;
            f->message = message;
            f->value = value;
            int json = proto == PROTO_JSON || ft;
            long long most = ft ? FT_MAX_HEADER_LEN : json ? MAX_HEADER_LEN : MAX_BODY_LEN;
            /* Four printable bytes make a length of over 538 MB: far more
             * likely text (a stage 1 reply, an HTTP client) than a frame. */
            int text = b[0] >= 0x20 && b[0] < 0x7f && b[1] >= 0x20 && b[1] < 0x7f &&
                       b[2] >= 0x20 && b[2] < 0x7f && b[3] >= 0x20 && b[3] < 0x7f;
            if (value < 0 || value > most || (json && value == 0) || text) {
                f->part = FRAME_BAD;
                explain_length(f->note, sizeof(f->note),
                               json ? "header length" : "length", value, b);
                s->parse.state = PARSE_OFF;
                s->parse.lost = 1;
                return 0;
            }
            s->parse.at += 4;
            if (json) {
                f->part = FRAME_HEADER_LEN;
                snprintf(f->note, sizeof(f->note), "header length %lld", value);
                s->parse.need = value;
                s->parse.state = PARSE_HEADER;
            } else {
                f->part = FRAME_LEN_FIELD;
                snprintf(f->note, sizeof(f->note), "length %lld", value);
                if (add_body(s, s->parse.at, value, message, NULL) < 0)
                    return -1;
                s->parse.at += (uint64_t)value;
            }
            continue;
        }
        /* PARSE_HEADER: wait until every byte of it is known. Bytes before
         * SCAN_AT are known already, so each call looks only at what is
         * new: a header whose bytes were not captured costs nothing per
         * event while it waits (perhaps forever). */
        uint64_t start = s->parse.at;
        size_t len = (size_t)s->parse.need;
        if (start + len > stream_end(s))
            return 0;
        if (s->parse.scan_at < start)
            s->parse.scan_at = start;
        while (s->parse.scan_at < start + len && stream_byte(s, s->parse.scan_at) >= 0)
            s->parse.scan_at++;
        if (s->parse.scan_at < start + len)
            return 0;
        unsigned char *text = malloc(len);
        if (text == NULL)
            return -1;
        stream_bytes(s, start, len, text, NULL);
        struct decode_frame *f = stream_push_frame(s);
        if (f == NULL) {
            free(text);
            return -1;
        }
        f->start = start;
        f->end = start + len;
        f->part = FRAME_HEADER_JSON;
        f->message = s->parse.message;
        if (ft)
            read_ft_header(text, len, f);
        else
            read_json_header(text, len, f);
        free(text);
        s->parse.at += len;
        if (f->part == FRAME_BAD) {
            s->parse.state = PARSE_OFF;
            s->parse.lost = 1;
            return 0;
        }
        long long body = f->value;
        if (add_body(s, s->parse.at, body, s->parse.message, ft ? f->header.op : NULL) < 0)
            return -1;
        s->parse.at += (uint64_t)body;
        s->parse.state = PARSE_LENGTH;
    }
}

/* Raw framing from the send spans already kept (after the proto was
 * decided late). */
int framing_raw_from_sends(struct stream *s, enum frame_part part)
{
    for (size_t i = 0; i < s->n_sends; i++)
        if (framing_add_message(s, part, s->sends[i].start, s->sends[i].end,
                                s->sends[i].message) < 0)
            return -1;
    return 0;
}

/* Decides the framing once there is enough to go on: the program names
 * (stage folders), then the first five downstream bytes, then the port. */
enum proto framing_guess(const struct stream *up, const struct stream *down,
                         const char *server_prog, const char *client_prog,
                         unsigned server_port, int closed)
{
    enum proto p = proto_for_program(server_prog);
    if (p == PROTO_GUESS)
        p = proto_for_program(client_prog);
    if (p != PROTO_GUESS)
        return p;
    const struct stream *s = down;
    unsigned char b[5];
    /* Stage 5's requests are framed too: a big-endian header length and
     * '{' open the client's first message before any reply exists. */
    /* (HLEN 65536 exactly, 00 01 00 00, is stage 4's 256: left to it) */
    if (peek_bytes(up, 0, b, 5) && b[4] == '{' && be32(b) > 0 &&
        be32(b) < FT_MAX_HEADER_LEN)
        return PROTO_FT;
    if (peek_bytes(s, 0, b, 5)) {
        long long v = le32(b);
        if (b[4] == '{' && be32(b) > 0 && be32(b) < FT_MAX_HEADER_LEN)
            return PROTO_FT;
        if (b[4] == '{' && v > 0 && v < MAX_HEADER_LEN)
            return PROTO_JSON;
        if (b[3] == 0 && v >= 0)
            return PROTO_LEN;
        return PROTO_RAW;
    }
    if (stream_end(s) >= 5 || closed) {
        p = proto_for_port(server_port);
        return p == PROTO_GUESS ? PROTO_RAW : p;
    }
    return PROTO_GUESS;
}

/* Starts S's len/json/ft parser at offset 0. Frames put there before the
 * framing was known (the raw requests of an ft stream) give way; bytes
 * that left the window before make the framing lost. */
void framing_start(struct stream *s)
{
    s->n_frames = 0;
    s->parse.state = PARSE_LENGTH;
    s->parse.at = 0;
}

