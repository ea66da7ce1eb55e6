/* lesson_script.c - the lesson's script: its sections and steps, what each
 * says, and the facts of the run a narration may name (see lesson_parts.h). */
#define _GNU_SOURCE
#include "lesson_parts.h"

#include <stdio.h>
#include <string.h>

/* ---- the lesson's script ------------------------------------------------ */

static const char *const fact_names[FACT_COUNT] = {
    "reply_bytes", "reply_sends", "recvs", "recv_bytes", "first_recv", "pending",
    "length", "header_len", "stale_recv", "stale_reply", "piece_min", "piece_max",
    "up_sends", "up_recvs", "up_bytes", "output_bytes", "waited_ms", "held_ms", "after_ms",
    "answered_ms",
};

/* Stage 6: how long a server waits for a silent client's first request
 * (--idle): the deadline that frees an iterative server from it. 2 s, or
 * NIANBAO_LESSON_IDLE (a duration: the tests make it short), as text. */
char lesson_conc_idle[32] = "2";

static const struct lesson_step stage1_steps[] = {
    { "ls", N_("`ls` has a short reply, {reply_bytes} bytes: it fits in one recv(1024), so nothing "
               "looks wrong yet."), NULL, NULL, -1, NULL },
    { "seq 1 2000", N_("`seq 1 2000` replies with {reply_bytes} bytes. The one recv takes the first "
                       "{first_recv}; the other {pending} wait in the client's socket, pending, "
                       "after the mark where the recv stopped."), NULL, NULL, -1, NULL },
    { "echo MARK", N_("`echo MARK` should print MARK. Instead recv #{stale_recv} returns the next "
                      "{first_recv} bytes of the seq reply, and the viewer flags it STALE (bytes of "
                      "reply #{stale_reply}): the garble of version 1.1."), NULL, NULL,
      FACT_STALE_RECV,
      N_("`echo MARK` printed MARK: this time nothing of the seq reply was left in the socket.") },
};

static const struct lesson_step stage2_steps[] = {
    { "boundaries", N_("UDP: the client sends \"world\" and then \"hello\", {up_sends} datagrams, and "
                       "the server's {up_recvs} recvfrom calls get them one each: a datagram keeps "
                       "its boundaries."),
      "udp_server", "udp_client", -1, NULL },
    { "merge", N_("TCP: the client sends \"hello\" and then \"world\", {up_sends} sends, and the "
                  "server's recv returns all {up_bytes} bytes as \"helloworld\" ({up_recvs} recv "
                  "with data; its next recv returns 0, the end of the stream): the stream kept the "
                  "bytes and lost the boundary."),
      "tcp_server", "tcp_client", -1, NULL },
};

static const struct lesson_step stage3_steps[] = {
    { "ls", N_("The reply now starts with a 4-byte length field ({length}); the client reads exactly "
               "that many bytes, in {recvs} recvs."), NULL, NULL, -1, NULL },
    { "seq 1 2000", N_("All {reply_bytes} bytes arrive, the 4-byte length and {length} bytes of "
                       "output: the client calls recv in a loop, {recvs} times, until the length is "
                       "reached."), NULL, NULL, -1, NULL },
    { "echo MARK", N_("Nothing of the previous reply is left over ({pending} bytes pending), so MARK "
                      "is printed and nothing is STALE."), NULL, NULL, -1, NULL },
};

static const struct lesson_step stage3_slicer_steps[] = {
    { "ls", N_("The slicer cuts the reply, length field included, into pieces of {piece_min} to "
               "{piece_max} bytes: {reply_sends} sends for {reply_bytes} bytes."),
      NULL, NULL, -1, NULL },
    { "seq 1 2000", N_("{reply_sends} pieces, and the client needed {recvs} recvs to read them "
                       "instead of a few big ones; the same {length} bytes printed."),
      NULL, NULL, -1, NULL },
    { "echo MARK", N_("MARK again, {recvs} recvs for its {reply_bytes} bytes: a receive loop that "
                      "counts bytes survives any split."), NULL, NULL, -1, NULL },
};

static const struct lesson_step stage4_steps[] = {
    { "ls", N_("The viewer decodes the 4-byte header length ({header_len}), the JSON header and the "
               "body ({length} bytes), each in its own style."), NULL, NULL, -1, NULL },
    { "seq 1 2000", N_("The JSON header says total_size {length}; the client receives until it has "
                       "them all: {recvs} recvs for {reply_bytes} bytes."), NULL, NULL, -1, NULL },
    { "echo MARK", N_("MARK is printed: each reply's header starts exactly where the previous body "
                      "ended ({pending} bytes pending, nothing STALE)."), NULL, NULL, -1, NULL },
};

static const struct lesson_step stage4_slicer_steps[] = {
    { "ls", N_("Through the slicer the JSON header arrives in pieces too ({reply_sends} sends for "
               "{reply_bytes} bytes); the client still reads it whole."), NULL, NULL, -1, NULL },
    { "seq 1 2000", N_("The same {length} bytes of output, now from {reply_sends} pieces and "
                       "{recvs} recvs."), NULL, NULL, -1, NULL },
    { "echo MARK", N_("MARK: header length, header and body survive any split ({recvs} recvs for "
                      "{reply_bytes} bytes)."), NULL, NULL, -1, NULL },
};

/* Stage 5: the requests cut by the slicer (--direction up), as stages 3
 * and 4's servers could not take; the numbers are the slicer's sends to
 * the server and the server's recvs (the up stream the screen shows). */
static const struct lesson_step stage5_steps[] = {
    { "echo hello", N_("The slicer cut this {up_bytes}-byte request into {up_sends} pieces; the server "
                       "needed {up_recvs} recvs. The stage 3 and 4 servers ran each piece as a "
                       "command (`e`, `cho he`, ...); this one reads the 4-byte header length "
                       "({header_len}), the JSON header, then exactly the {length} bytes of the "
                       "command, and runs `echo hello` whole."), NULL, NULL, -1, NULL },
    { "seq 1 2000", N_("{up_sends} pieces and {up_recvs} recvs for a {up_bytes}-byte request, and "
                       "still one command: its {output_bytes} bytes of output come back in frames, "
                       "each with its own header, and the client prints all of seq."),
      NULL, NULL, -1, NULL },
    { "echo MARK", N_("MARK: {up_sends} pieces, {up_recvs} recvs, one request. With frames in both "
                      "directions, no cut of the stream, either way, changes what runs or what is "
                      "printed."), NULL, NULL, -1, NULL },
};

/* Stage 6: client 1 connects and types nothing; client 2 runs one
 * command. The same two clients against two servers. */
static const struct lesson_step stage6_steps[] = {
    { "echo hello",
      N_("Client 1 connected and said nothing; client 2 sent `echo hello` ({up_bytes} bytes). The "
         "iterative server serves one client at a time: while client 1 was connected it made "
         "{up_recvs} recvs of client 2 ({pending} bytes pending). Its --idle deadline cut client 1 "
         "{held_ms} ms after client 2 asked; client 2 had its answer after {waited_ms} ms."),
      "iterative", NULL, FACT_HELD_MS,
      N_("Client 2 sent `echo hello`, a request of {up_bytes} bytes, and was answered while client "
         "1 was still connected (the server's recvs of it then: {up_recvs}, {pending} bytes "
         "pending): it waited {waited_ms} ms.") },
    { "echo hello",
      N_("The same against the poll server, which watches every connection at once: with client 1 "
         "connected and silent, it read client 2's request ({up_bytes} bytes, {pending} bytes "
         "pending; its recvs of it: {up_recvs}) and answered: client 2 waited {answered_ms} ms, not "
         "for client 1."),
      "poll", NULL, FACT_ANSWERED_MS,
      N_("Client 2 sent `echo hello`, a request of {up_bytes} bytes; while client 1 was connected "
         "the server's recvs of it: {up_recvs} ({pending} bytes pending). It was answered only "
         "after client 1 left: client 2 waited {waited_ms} ms.") },
};

#define STEPS(a) a, sizeof a / sizeof a[0]

const struct lesson_section lesson_sections[] = {
    { 1, N_("Stage %d: one recv per command (document v%s)"),
      N_("The client sends a command and calls recv(1024) once, as if one recv were one reply. "
         "TCP keeps no message boundaries, so that is a bet."),
      0, STEPS(stage1_steps), 0 },
    { 2, N_("Stage %d: UDP keeps message boundaries, TCP does not (document v%s)"),
      N_("Two small sends, once over UDP and once over TCP. Watch what the receiving side gets."),
      0, STEPS(stage2_steps), 0 },
    { 3, N_("Stage %d: a 4-byte length before each reply (document v%s)"),
      N_("The server sends struct.pack('i', len) and then the output; the client reads 4 bytes, "
         "then loops on recv until it has len bytes."),
      0, STEPS(stage3_steps), 0 },
    { 3, N_("Stage %d through the slicer (document v%s)"),
      N_("The same commands through tools/slicer, which re-cuts the reply stream into pieces of "
         "{piece_min} to {piece_max} bytes and waits until the client has read each one."),
      SLICE_DOWN, STEPS(stage3_slicer_steps), 0 },
    { 4, N_("Stage %d: a JSON header before each reply (document v%s)"),
      N_("A 4-byte header length, a JSON header naming total_size, then the body."),
      0, STEPS(stage4_steps), 0 },
    { 4, N_("Stage %d through the slicer (document v%s)"),
      N_("The same commands, re-cut into pieces of {piece_min} to {piece_max} bytes, each read on "
         "its own."),
      SLICE_DOWN, STEPS(stage4_slicer_steps), 0 },
    { 5, N_("Stage %d: every request is a frame too"),
      N_("Through tools/slicer --direction up the stage 3 and 4 servers ran `e`, `cho he`, ...: "
         "their requests had no framing. Stage 5 frames both ways: now the slicer cuts the "
         "requests into pieces of {piece_min} to {piece_max} bytes, each read on its own."),
      SLICE_UP, STEPS(stage5_steps), 0 },
    { 6, N_("Stage %d: two clients at once"),
      N_("A client that connects and then says nothing: does the next one wait behind it? Client 1 "
         "connects and stays silent; client 2 runs one command."),
      0, STEPS(stage6_steps), 1 },
};
const size_t lesson_section_count = sizeof lesson_sections / sizeof lesson_sections[0];

static const struct stage_info stage_table[] = {
#define STAGE(num, dir, version, framing, port, programs, title) { num, #dir, version, #framing },
#include "stages.def"
#undef STAGE
};

const struct stage_info *stage_info(int number)
{
    for (size_t i = 0; i < sizeof stage_table / sizeof stage_table[0]; i++)
        if (stage_table[i].number == number)
            return &stage_table[i];
    return NULL;
}

/* The section's title, translated, with its stage and document version. */
void section_title(const struct lesson_section *sec, char *buf, size_t len)
{
    const struct stage_info *info = stage_info(sec->stage);
    const char *version = info ? info->version : "?";
    if (*version == 'v')
        version++;
    snprintf(buf, len, _(sec->title), sec->stage, version);
}

/* Puts the facts into TEMPLATE ({name} places) into BUF. A fact that is
 * missing stays "{name}", which the tests look for: it must never be. */
void expand(const char *template, const unsigned long long *facts, const int *have,
                   char *buf, size_t len)
{
    size_t used = 0;
    for (const char *p = template; *p && used + 1 < len;) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        int fact = -1;
        for (int f = 0; close && f < FACT_COUNT; f++)
            if (strlen(fact_names[f]) == (size_t)(close - p - 1) &&
                strncmp(p + 1, fact_names[f], (size_t)(close - p - 1)) == 0)
                fact = f;
        if (fact >= 0 && have[fact]) {
            int n = snprintf(buf + used, len - used, "%llu", facts[fact]);
            if (n < 0 || (size_t)n >= len - used)
                break;
            used += (size_t)n;
            p = close + 1;
        } else {
            buf[used++] = *p++;
        }
    }
    buf[used] = '\0';
}
