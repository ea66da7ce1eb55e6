/* lesson.c - the guided tour behind `make demo` (see lesson.h).
 *
 * One section per stage (and the framed stages once more through
 * tools/slicer). A section starts the stage's server on port 0, reads the
 * port from its "listening on" line, starts the client with the tap in its
 * environment and its stdin a pipe, and then types one command per step.
 *
 * When is a step over? Not after a fixed sleep: the client is done when it
 * has read the whole command from our pipe and is blocked reading the next
 * one (read(0) in /proc/PID/syscall), and the server is done when it is
 * blocked in recv again. Both can be seen directly, so a slow machine only
 * makes the lesson slower, never wrong. */
#define _GNU_SOURCE
#include "lesson.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <ncurses.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "decode.h"
#include "duration.h"
#include "spawn_child.h"
#include "svg.h"
#include "ui.h"

#define STEP_DEADLINE_MS 10000     /* a step that takes longer is reported */
#define START_DEADLINE_MS 10000    /* waiting for "listening on"          */
#define SERVER_GRACE_MS 1000       /* a server stuck in send (see below)   */
#define OUTPUT_KEEP (256 * 1024)   /* client output kept per step          */

/* ---- the lesson's script ------------------------------------------------ */

enum { SLICE_DOWN = 1, SLICE_UP = 2 };

/* The slicer's piece sizes in the slicer sections. */
#define PIECE_MIN 1
#define PIECE_MAX 7

/* The numbers a narration may name, all from the run (the decoder's view
 * of the step), never written into the text: a narration says
 * "{reply_bytes}" and the lesson puts in what this run measured. */
enum fact {
    FACT_REPLY_BYTES,   /* bytes of this step's reply, as the server (or slicer) sent it */
    FACT_REPLY_SENDS,   /* sends that made it */
    FACT_RECVS,         /* the client's recvs in this step that returned data */
    FACT_RECV_BYTES,    /* bytes they returned */
    FACT_FIRST_RECV,    /* bytes the step's first recv returned */
    FACT_PENDING,       /* bytes sent to the client and not yet received */
    FACT_LENGTH,        /* the reply's length field, or its header's total_size */
    FACT_HEADER_LEN,    /* stage 4: the JSON header's length */
    FACT_STALE_RECV,    /* the recv # flagged STALE in this step */
    FACT_STALE_REPLY,   /* ... and the older reply # whose bytes it got */
    FACT_PIECE_MIN,     /* the slicer's smallest and largest piece */
    FACT_PIECE_MAX,
    FACT_UP_SENDS,      /* demo steps: the client's sends */
    FACT_UP_RECVS,      /* ... the server's recvs that returned data */
    FACT_UP_BYTES,      /* ... the bytes that went up */
    FACT_OUTPUT_BYTES,  /* stage 5: the command's output, the bodies of its output frames */
    FACT_WAITED_MS,     /* stage 6: how long client 2 waited for the first byte of its answer */
    FACT_HELD_MS,       /* stage 6: how long client 1 stayed after client 2 asked */
    FACT_AFTER_MS,      /* stage 6: client 2's answer, after client 1 left */
    FACT_ANSWERED_MS,   /* stage 6: client 2's wait, when answered with client 1 still there */
    FACT_COUNT
};

static const char *const fact_names[FACT_COUNT] = {
    "reply_bytes", "reply_sends", "recvs", "recv_bytes", "first_recv", "pending",
    "length", "header_len", "stale_recv", "stale_reply", "piece_min", "piece_max",
    "up_sends", "up_recvs", "up_bytes", "output_bytes", "waited_ms", "held_ms", "after_ms",
    "answered_ms",
};

struct lesson_step {
    const char *command;      /* typed into the client; for a demo
                                 step: the client's --demo NAME      */
    const char *narration;    /* N_() msgid with {fact} places        */
    const char *server;       /* demo step: the server program, which
                                 runs alone for this step           */
    const char *client;       /* demo step: the client program      */
    int needs;                /* the fact NARRATION is about (-1: none);
                                 without it, ELSE is said instead     */
    const char *narration_else;
};

struct lesson_section {
    int stage;                /* its row in common/stages.def       */
    const char *title;        /* N_() format: %d the stage, %s its
                                 document version ("1.1")           */
    const char *intro;        /* N_() msgid with {fact} places        */
    int via_slicer;           /* the client talks to tools/slicer, which
                                 cuts SLICE_DOWN the replies or SLICE_UP
                                 the requests (0: no slicer)         */
    const struct lesson_step *steps;
    size_t step_count;
    int concurrent;           /* 1: each step is two clients against the
                                 step's server (stage 6)             */
};

/* Stage 6: how long a server waits for a silent client's first request
 * (--idle): the deadline that frees an iterative server from it. 2 s, or
 * NIANBAO_LESSON_IDLE (a duration: the tests make it short), as text. */
static char conc_idle[32] = "2";

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

static const struct lesson_section sections[] = {
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

/* What the lesson needs of a stage, from the one list of stages. */
struct stage_info {
    int number;
    const char *dir;          /* "stage1_naive" */
    const char *version;      /* "v1.1" */
    const char *framing;      /* "raw", "len", "json", "udp" */
};

static const struct stage_info stage_table[] = {
#define STAGE(num, dir, version, framing, port, programs, title) { num, #dir, version, #framing },
#include "stages.def"
#undef STAGE
};

static const struct stage_info *stage_info(int number)
{
    for (size_t i = 0; i < sizeof stage_table / sizeof stage_table[0]; i++)
        if (stage_table[i].number == number)
            return &stage_table[i];
    return NULL;
}

/* The section's title, translated, with its stage and document version. */
static void section_title(const struct lesson_section *sec, char *buf, size_t len)
{
    const struct stage_info *info = stage_info(sec->stage);
    const char *version = info ? info->version : "?";
    if (*version == 'v')
        version++;
    snprintf(buf, len, _(sec->title), sec->stage, version);
}

/* Puts the facts into TEMPLATE ({name} places) into BUF. A fact that is
 * missing stays "{name}", which the tests look for: it must never be. */
static void expand(const char *template, const unsigned long long *facts, const int *have,
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

/* ---- child processes ---------------------------------------------------- */

struct text_buf {
    char *data;
    size_t len, cap, dropped;   /* DROPPED: bytes beyond OUTPUT_KEEP */
};

struct child {
    const char *name;     /* "server", "client", "slicer" in messages */
    pid_t pid;
    int in_fd;            /* our end of its stdin, -1 when closed     */
    int out_fd;           /* our end of its stdout, -1 at EOF         */
    int err_fd;           /* our end of its stderr, -1 at EOF         */
    struct text_buf out, err;
    int exited, status;
};

struct stage_run {
    const struct lesson_config *cfg;
    const struct lesson_section *section;
    const char *dir;           /* the stage's folder (stages.def) */
    const char *framing;       /* its framing: "raw", "len", "json", "ft" */
    char tap_lib[PATH_MAX];
    char capture[PATH_MAX];
    char server_port[16], client_port[16];
    struct child server, slicer, client, client2;   /* client2: stage 6 */
    struct capture_reader reader;
    int reader_open;
    struct decoder dec;
    int dec_ready;
    uint32_t request;          /* commands typed so far */
    pid_t client_pid;          /* the client of the current step */
    pid_t client2_pid;         /* stage 6: the second client of the step */
    struct text_buf demo_out;  /* demo step: client and server output */
    /* --from-capture: the event that starts the next step (the client's
     * next command), read and held back */
    struct cap_event held;
    unsigned char *held_data;
    int held_set;
};

/* What a step leaves for the presenter. */
struct step_report {
    const struct lesson_step *step;
    size_t index, count;
    const char *out; size_t out_len, out_dropped;   /* client stdout */
    const char *err; size_t err_len;                /* client stderr */
    int timed_out, client_gone;
    uint32_t recvs_before;     /* the client's recv # before the step */
    /* SLICE_UP: the slicer-to-server connection's counts before the step */
    uint32_t up_sends_before, up_recvs_before;
    uint64_t up_sent_before, down_sent_before;
    char wire[4][200];         /* the decoder's summary, one line each */
    int wire_lines;
    unsigned long long facts[FACT_COUNT];   /* what the narration may name */
    int have[FACT_COUNT];
    char status[160];          /* the status line's counts, from FACTS */
    char stale[160];           /* this step's STALE flag, worded, or "" */
    char note[160];            /* stage 6: the wait it measured, or "" */
    uint64_t aim;              /* where the stream panel opens */
    int aim_set;
};

static void fact_set(struct step_report *rep, enum fact f, unsigned long long value)
{
    rep->facts[f] = value;
    rep->have[f] = 1;
}

/* The status line's counts for the step, worded as the viewer's are (the
 * same msgids): " sends 1  recvs 1  pending 7869 ", " ... EOF ..." when the
 * receiver saw the end of the stream (a recv that returned 0 is not a
 * recv with data, so it is not counted). */
static void status_counts(struct step_report *rep, unsigned sends, unsigned recvs, int eof,
                          uint64_t pending)
{
    int used = snprintf(rep->status, sizeof rep->status, _(" sends %u  recvs %u "), sends, recvs);
    if (eof && used > 0 && (size_t)used < sizeof rep->status)
        used += snprintf(rep->status + used, sizeof rep->status - (size_t)used, "%s", _(" EOF "));
    if (used > 0 && (size_t)used < sizeof rep->status)
        snprintf(rep->status + used, sizeof rep->status - (size_t)used, _(" pending %llu "),
                 (unsigned long long)pending);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void text_add(struct text_buf *t, const char *bytes, size_t len)
{
    if (t->len + len > OUTPUT_KEEP) {
        size_t room = OUTPUT_KEEP - t->len;
        t->dropped += len - room;
        len = room;
    }
    if (t->len + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + len + 1)
            cap *= 2;
        char *grown = realloc(t->data, cap);
        if (!grown) {
            t->dropped += len;
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, bytes, len);
    t->len += len;
    t->data[t->len] = '\0';
}

static void text_clear(struct text_buf *t)
{
    t->len = 0;
    t->dropped = 0;
    if (t->data)
        t->data[0] = '\0';
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Starts ARGV in its own process group (so a Ctrl-C in the lesson's
 * terminal reaches the lesson, which then stops its children in order) with
 * the tap in its environment. Its stdin is a pipe when WITH_STDIN, else
 * /dev/null; stdout and stderr are pipes. Returns 0 or -1 (ERR filled). */
static int child_start(struct child *c, struct stage_run *run, char *const argv[],
                       int with_stdin, char *err, size_t errlen)
{
    const char *old = getenv("LD_PRELOAD");
    char preload[PATH_MAX * 2 + 16], tap[PATH_MAX + 16];
    /* Copy every byte: the lesson's replies are small. And write every
     * event at once: a step reads the capture the moment the client and
     * the server wait, and must find all of their calls there. */
    char *env[] = { preload, tap, "NIANBAO_TAP_CAP=65536", "NIANBAO_TAP_BUFFER=0", NULL };
    /* If the lesson dies (terminal closed, killed), so do its servers:
     * they would otherwise listen on forever. The commands run in the
     * source tree, so `ls` shows something the student recognises. */
    struct spawn_opts opts = { .fd = { with_stdin ? SPAWN_PIPE : SPAWN_NULL, SPAWN_PIPE,
                                       SPAWN_PIPE },
                               .new_group = 1, .parent_death_signal = SIGTERM,
                               .dir = run->cfg->root, .env = env };
    struct spawn_child child;
    char why[PATH_MAX + 128];   /* spawn's words; the lesson says it in the student's */

    snprintf(preload, sizeof preload, "LD_PRELOAD=%s%s%s", run->tap_lib,
             old && *old ? ":" : "", old ? old : "");
    snprintf(tap, sizeof tap, "NIANBAO_TAP=%s", run->capture);
    if (spawn_start(&child, argv[0], argv, &opts, why, sizeof why) < 0) {
        snprintf(err, errlen, _("cannot start %s: %s"), argv[0], strerror(errno));
        return -1;
    }
    c->pid = child.pid;
    c->in_fd = child.fd[STDIN_FILENO];
    c->out_fd = child.fd[STDOUT_FILENO];
    c->err_fd = child.fd[STDERR_FILENO];
    return 0;
}

/* Moves what is waiting on one of C's pipes into its buffer; at EOF the
 * pipe is closed. */
static void child_drain_fd(int *fd, struct text_buf *t)
{
    char buf[8192];
    ssize_t got = read(*fd, buf, sizeof buf);
    if (got > 0)
        text_add(t, buf, (size_t)got);
    else if (got == 0 || (errno != EINTR && errno != EAGAIN))
        close_fd(fd);
}

/* Waits up to TIMEOUT_MS for output from any child of RUN and collects it.
 * Returns the number of pipes that had something. */
static int run_collect(struct stage_run *run, int timeout_ms)
{
    struct child *kids[] = { &run->server, &run->slicer, &run->client, &run->client2 };
    struct pollfd fds[8];
    struct text_buf *bufs[8];
    int *fd_of[8];
    int n = 0;

    for (size_t i = 0; i < sizeof kids / sizeof kids[0]; i++) {
        if (kids[i]->out_fd >= 0) {
            fds[n] = (struct pollfd){ kids[i]->out_fd, POLLIN, 0 };
            bufs[n] = &kids[i]->out;
            fd_of[n++] = &kids[i]->out_fd;
        }
        if (kids[i]->err_fd >= 0) {
            fds[n] = (struct pollfd){ kids[i]->err_fd, POLLIN, 0 };
            bufs[n] = &kids[i]->err;
            fd_of[n++] = &kids[i]->err_fd;
        }
    }
    if (n == 0) {
        if (timeout_ms > 0)
            poll(NULL, 0, timeout_ms);
        return 0;
    }
    int ready = poll(fds, (nfds_t)n, timeout_ms);
    if (ready <= 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (fds[i].revents)
            child_drain_fd(fd_of[i], bufs[i]);
    return ready;
}

static int child_alive(struct child *c)
{
    if (c->pid <= 0 || c->exited)
        return 0;
    pid_t got = waitpid(c->pid, &c->status, WNOHANG);
    if (got == c->pid) {
        c->exited = 1;
        return 0;
    }
    return 1;
}

/* Waits for the "listening on ADDR:PORT" line on C's stderr and copies the
 * port. Returns 0, or -1 with ERR saying what the program said instead. */
static int child_wait_listening(struct stage_run *run, struct child *c, char *port,
                                size_t portlen, char *err, size_t errlen)
{
    long deadline = now_ms() + START_DEADLINE_MS;

    for (;;) {
        const char *line = c->err.data ? strstr(c->err.data, "listening on ") : NULL;
        const char *eol = line ? strchr(line, '\n') : NULL;
        if (eol) {
            const char *colon = eol;
            while (colon > line && *colon != ':')
                colon--;
            size_t len = (size_t)(eol - colon - 1);
            if (*colon == ':' && len > 0 && len < portlen) {
                memcpy(port, colon + 1, len);
                port[len] = '\0';
                return 0;
            }
        }
        if (!child_alive(c) && c->err_fd < 0) {
            snprintf(err, errlen, _("%s exited before listening: %s"), c->name,
                     c->err.len ? c->err.data : _("(no message)"));
            return -1;
        }
        if (now_ms() > deadline) {
            snprintf(err, errlen, _("%s did not say 'listening on' within %d s"), c->name,
                     START_DEADLINE_MS / 1000);
            return -1;
        }
        run_collect(run, 50);
    }
}

/* Ends C: closes its stdin (a client then exits at EOF) and waits a
 * moment for that; a server or the slicer gets SIGTERM at once (to its
 * whole process group: the slicer serves each connection in a child). */
static void child_stop(struct child *c)
{
    int has_stdin = c->in_fd >= 0;
    close_fd(&c->in_fd);
    if (c->pid > 0 && !c->exited) {
        long deadline = now_ms() + (has_stdin ? 1000 : 0);
        while (child_alive(c) && now_ms() < deadline)
            poll(NULL, 0, 5);
        if (child_alive(c)) {
            kill(-c->pid, SIGTERM);
            deadline = now_ms() + 1000;
            while (child_alive(c) && now_ms() < deadline)
                poll(NULL, 0, 10);
        }
        if (child_alive(c)) {
            kill(-c->pid, SIGKILL);
            waitpid(c->pid, &c->status, 0);
            c->exited = 1;
        }
    }
    close_fd(&c->out_fd);
    close_fd(&c->err_fd);
    free(c->out.data);
    free(c->err.data);
    const char *name = c->name;
    memset(c, 0, sizeof *c);
    c->name = name;
    c->in_fd = c->out_fd = c->err_fd = -1;
}

/* What PID is blocked in right now: 1 with *NR and *ARG0 set, 0 when it
 * is running (not in a system call), -1 when /proc does not tell us. */
static int blocked_in(pid_t pid, long *nr, unsigned long *arg0)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0)
        return -1;
    buf[got] = '\0';
    if (strncmp(buf, "running", 7) == 0)
        return 0;
    if (sscanf(buf, "%ld %lx", nr, arg0) != 2)
        return -1;
    return *nr >= 0 ? 1 : 0;
}

/* The client is waiting for its next command: blocked in read(0). */
static int client_waiting(pid_t pid)
{
    long nr;
    unsigned long arg0;
    int got = blocked_in(pid, &nr, &arg0);
    if (got < 0)
        return -1;
    return got == 1 && nr == SYS_read && arg0 == 0;
}

/* 1 when NR is a wait for any of several descriptors. */
static int is_poll_call(long nr)
{
#ifdef SYS_poll
    if (nr == SYS_poll)
        return 1;
#endif
#ifdef SYS_epoll_wait
    if (nr == SYS_epoll_wait)
        return 1;
#endif
    return nr == SYS_ppoll || nr == SYS_epoll_pwait;
}

/* The server is waiting for a request (or a connection). Stage 5 and 6
 * servers wait in poll/epoll (for a request, within a deadline): POLLS
 * says such a wait counts. A stage 1 to 4 server in poll may still be
 * reading a command's output, so there it does not. */
static int server_waiting_in(pid_t pid, int polls)
{
    long nr;
    unsigned long arg0;
    int got = blocked_in(pid, &nr, &arg0);
    if (got < 0)
        return -1;
    if (got == 0)
        return 0;
    return nr == SYS_read || nr == SYS_recvfrom || nr == SYS_recvmsg ||
           nr == SYS_accept || nr == SYS_accept4 || (polls && is_poll_call(nr));
}

static int server_waiting(pid_t pid)
{
    return server_waiting_in(pid, 0);
}

static size_t pipe_unread(int fd)
{
    int n = 0;
    if (fd < 0 || ioctl(fd, FIONREAD, &n) < 0)
        return 0;
    return n > 0 ? (size_t)n : 0;
}

/* ---- the decoder's view of a step ---------------------------------------- */

static void run_feed_decoder(struct stage_run *run)
{
    char err[256];
    struct cap_event ev;
    const unsigned char *data;

    if (!run->dec_ready)
        return;
    if (!run->reader_open) {
        if (capture_open(&run->reader, run->capture, err, sizeof err) < 0)
            return;   /* the tap has not written anything yet */
        run->reader_open = 1;
    }
    while (capture_next(&run->reader, &ev, &data, err, sizeof err) == 1)
        decoder_feed(&run->dec, &ev, data);
}

/* The connection the lesson's client made (to the server or the slicer). */
static const struct connection *run_client_conn(const struct stage_run *run)
{
    for (size_t i = 0; i < run->dec.n_conns; i++)
        if (run->dec.conns[i]->client_pid == (uint32_t)run->client_pid)
            return run->dec.conns[i];
    return NULL;
}

/* The newest connection the server accepted (from the client, or from the
 * slicer on the client's behalf). */
static const struct connection *run_server_conn(const struct stage_run *run)
{
    for (size_t i = run->dec.n_conns; i > 0; i--)
        if (run->dec.conns[i - 1]->server_pid == (uint32_t)run->server.pid)
            return run->dec.conns[i - 1];
    return NULL;
}

/* The connection the screen shows: where the section's lesson is. The
 * requests cut by the slicer are on its connection to the server. */
static const struct connection *conn_of_client(const struct stage_run *run, pid_t pid);

static const struct connection *run_view_conn(const struct stage_run *run)
{
    if (run->section->via_slicer == SLICE_UP)
        return run_server_conn(run);
    if (run->section->concurrent)       /* client 2's request, waiting or not */
        return conn_of_client(run, run->client2_pid);
    return run_client_conn(run);
}

/* Reads the step's numbers off the decoder: the reply this step's command
 * got (the last request's), the client's recvs since RECVS_BEFORE. The wire
 * lines, the status line and the narration all say these same numbers. */
/* The step's numbers when the slicer cuts the requests (stage 5): this
 * request on the slicer-to-server connection, the pieces the slicer sent
 * and the recvs the server needed; its header; and the output frames of
 * the reply. */
static void step_summarize_up(const struct stage_run *run, struct step_report *rep)
{
    const struct connection *conn = run_server_conn(run);
    if (!conn)
        return;
    const struct stream *up = &conn->up, *down = &conn->down;
    unsigned sends = up->send_calls - rep->up_sends_before;
    unsigned recvs = up->recv_calls - rep->up_recvs_before;
    uint64_t bytes = up->sent - rep->up_sent_before;
    fact_set(rep, FACT_UP_SENDS, sends);
    fact_set(rep, FACT_UP_RECVS, recvs);
    fact_set(rep, FACT_UP_BYTES, bytes);
    snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
             _("request #%u: %llu bytes, the slicer's sends: %u; the server's recvs: %u; "
               "pending: %llu bytes"),
             run->request, (unsigned long long)bytes, sends, recvs,
             (unsigned long long)stream_pending(up));
    status_counts(rep, sends, recvs, up->eof, stream_pending(up));
    int header_seen = 0;
    for (size_t i = 0; i < up->n_frames && rep->wire_lines < 3; i++) {
        const struct decode_frame *f = &up->frames[i];
        if (f->start < rep->up_sent_before)
            continue;
        if (f->part == FRAME_HEADER_LEN && !header_seen) {
            fact_set(rep, FACT_HEADER_LEN, (unsigned long long)f->value);
            snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                     _("header length: %lld"), f->value);
        } else if (f->part == FRAME_HEADER_JSON && !header_seen) {
            fact_set(rep, FACT_LENGTH, (unsigned long long)f->value);
            snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                     _("JSON header: %s"), f->note);
            header_seen = 1;
        } else if (f->part == FRAME_BAD) {
            snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                     _("bad frame: %s"), f->note);
        }
    }
    /* the reply: output frames (as many as the command's pipe gave
     * pieces: not a number the narration may name), then exit */
    unsigned long long output = 0;
    unsigned frames = 0;
    for (size_t i = 0; i < down->n_frames; i++) {
        const struct decode_frame *f = &down->frames[i];
        if (f->start >= rep->down_sent_before && f->part == FRAME_HEADER_JSON &&
            strcmp(f->header.op, "output") == 0) {
            output += (unsigned long long)f->value;
            frames++;
        }
    }
    fact_set(rep, FACT_OUTPUT_BYTES, output);
    snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
             _("reply: %llu bytes of output (output frames: %u), then the exit frame"), output,
             frames);
    rep->aim = rep->up_sent_before;
    rep->aim_set = 1;
}

static void step_summarize(const struct stage_run *run, uint32_t recvs_before,
                           struct step_report *rep)
{
    const struct connection *conn = run_client_conn(run);
    rep->wire_lines = 0;
    fact_set(rep, FACT_PIECE_MIN, PIECE_MIN);
    fact_set(rep, FACT_PIECE_MAX, PIECE_MAX);
    if (run->section->via_slicer == SLICE_UP) {
        step_summarize_up(run, rep);
        return;
    }
    if (!conn)
        return;
    const struct stream *down = &conn->down;
    uint32_t reply = run->request;
    uint64_t reply_bytes = 0, recv_bytes = 0;
    unsigned sends = 0, recvs = 0;
    const struct decode_span *first = NULL;

    for (size_t i = 0; i < down->n_sends; i++)
        if (down->sends[i].message == reply) {
            sends++;
            reply_bytes += down->sends[i].end - down->sends[i].start;
        }
    for (size_t i = 0; i < down->n_recvs; i++)
        if (down->recvs[i].number > recvs_before) {
            if (!first)
                first = &down->recvs[i];
            recvs++;
            recv_bytes += (uint64_t)down->recvs[i].call_size;
        }
    fact_set(rep, FACT_REPLY_BYTES, reply_bytes);
    fact_set(rep, FACT_REPLY_SENDS, sends);
    fact_set(rep, FACT_RECVS, recvs);
    fact_set(rep, FACT_RECV_BYTES, recv_bytes);
    fact_set(rep, FACT_PENDING, stream_pending(down));
    if (first)
        fact_set(rep, FACT_FIRST_RECV, (unsigned long long)first->call_size);
    snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
             _("reply #%u: %llu bytes, sends: %u; the client's recvs: %u, %llu bytes; "
               "pending: %llu bytes"),
             reply, (unsigned long long)reply_bytes, sends, recvs,
             (unsigned long long)recv_bytes, (unsigned long long)stream_pending(down));
    status_counts(rep, sends, recvs, down->eof, stream_pending(down));
    for (size_t i = 0; i < down->n_frames && rep->wire_lines < 3; i++) {
        const struct decode_frame *f = &down->frames[i];
        if (f->message != reply)
            continue;
        if (f->part == FRAME_LEN_FIELD) {
            fact_set(rep, FACT_LENGTH, (unsigned long long)f->value);
            snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                     _("length field: %lld"), f->value);
        } else if (f->part == FRAME_HEADER_LEN) {
            fact_set(rep, FACT_HEADER_LEN, (unsigned long long)f->value);
            snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                     _("header length: %lld"), f->value);
        } else if (f->part == FRAME_HEADER_JSON) {
            fact_set(rep, FACT_LENGTH, (unsigned long long)f->value);
            snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                     _("JSON header: %s"), f->note);
        } else if (f->part == FRAME_BAD) {
            snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                     _("bad frame: %s"), f->note);
        }
    }
    const struct decode_stale *last = NULL;
    for (size_t i = 0; i < run->dec.n_stales; i++) {
        const struct decode_stale *st = &run->dec.stales[i];
        if (st->conn_id == conn->id && st->recv_no > recvs_before)
            last = st;
    }
    if (last) {
        fact_set(rep, FACT_STALE_RECV, last->recv_no);
        fact_set(rep, FACT_STALE_REPLY, last->reply_no);
        ui_stale_text(last, rep->stale, sizeof rep->stale);
        snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0], "%s", rep->stale);
    }
    /* Where the stream panel opens: the STALE recv; else, while bytes
     * wait, where the client's last recv stopped (the cut, with the
     * pending bytes after it); else the step's first recv. */
    for (size_t i = 0; i < down->n_recvs; i++)
        if (last && down->recvs[i].number == last->recv_no) {
            rep->aim = down->recvs[i].start;
            rep->aim_set = 1;
        }
    if (!rep->aim_set && stream_pending(down) > 0) {
        rep->aim = down->received;
        rep->aim_set = 1;
    } else if (!rep->aim_set && first) {
        rep->aim = first->start;
        rep->aim_set = 1;
    }
}

/* ---- one section ---------------------------------------------------------- */

static int section_start(struct stage_run *run, char *err, size_t errlen)
{
    const struct lesson_section *sec = run->section;
    char server_path[PATH_MAX], client_path[PATH_MAX], slicer_path[PATH_MAX];
    char to[64], seed[24];

    snprintf(server_path, sizeof server_path, "%s/%s/server", run->cfg->root, run->dir);
    snprintf(client_path, sizeof client_path, "%s/%s/client", run->cfg->root, run->dir);
    snprintf(slicer_path, sizeof slicer_path, "%s/tools/slicer", run->cfg->root);

    /* --idle 0: a teacher may talk for minutes between two steps. Stage 5
     * and later serve the source tree (--root), as the commands run there. */
    int ft = strcmp(run->framing, "ft") == 0;
    char *server_argv[] = { server_path, "--port", "0", "--idle", "0",
                            ft ? "--root" : NULL, (char *)run->cfg->root, NULL };
    if (child_start(&run->server, run, server_argv, 0, err, errlen) < 0)
        return -1;
    if (child_wait_listening(run, &run->server, run->server_port, sizeof run->server_port,
                             err, errlen) < 0)
        return -1;
    snprintf(run->client_port, sizeof run->client_port, "%s", run->server_port);
    if (sec->via_slicer) {
        snprintf(to, sizeof to, "127.0.0.1:%s", run->server_port);
        snprintf(seed, sizeof seed, "%u", run->cfg->slicer_seed);
        char min[16], max[16];
        snprintf(min, sizeof min, "%d", PIECE_MIN);
        snprintf(max, sizeof max, "%d", PIECE_MAX);
        /* --pace: each piece is read on its own, so the counts the lesson
         * names are the same on every run with the same seed */
        char *slicer_argv[] = { slicer_path, "--listen", "0", "--to", to, "--min", min,
                                "--max", max, "--seed", seed, "--pace", "--direction",
                                sec->via_slicer == SLICE_UP ? "up" : "down", NULL };
        if (child_start(&run->slicer, run, slicer_argv, 0, err, errlen) < 0)
            return -1;
        if (child_wait_listening(run, &run->slicer, run->client_port, sizeof run->client_port,
                                 err, errlen) < 0)
            return -1;
    }
    char *client_argv[] = { client_path, "--port", run->client_port, NULL };
    if (child_start(&run->client, run, client_argv, 1, err, errlen) < 0)
        return -1;
    run->client_pid = run->client.pid;
    return 0;
}

/* 1 when the capture holds every send whose bytes the client has received.
 * A relay in between (the slicer) logs its send after the client may already
 * have the bytes: a step read too early would miss that send. */
static int capture_caught_up(struct stage_run *run)
{
    run_feed_decoder(run);
    const struct connection *conn = run_client_conn(run);
    const struct connection *sconn = run->section->via_slicer == SLICE_UP
                                     ? run_server_conn(run) : NULL;
    /* SLICE_UP: the same for the pieces the server has read */
    if (sconn && sconn->up.sender_tapped && sconn->up.sent < sconn->up.received)
        return 0;
    return !conn || !conn->down.sender_tapped || conn->down.sent >= conn->down.received;
}

/* Types STEP's command and waits until client and server are both idle. */
static int step_run(struct stage_run *run, const struct lesson_step *step,
                    struct step_report *rep)
{
    struct child *client = &run->client;
    char line[256];
    long deadline = now_ms() + STEP_DEADLINE_MS, client_idle_since = 0, quiet_since = 0;
    uint32_t recvs_before = 0;
    const struct connection *conn;

    run_feed_decoder(run);
    conn = run_client_conn(run);
    if (conn)
        recvs_before = conn->down.recv_calls;
    rep->recvs_before = recvs_before;
    const struct connection *sconn = run_server_conn(run);
    if (sconn) {
        rep->up_sends_before = sconn->up.send_calls;
        rep->up_recvs_before = sconn->up.recv_calls;
        rep->up_sent_before = sconn->up.sent;
        rep->down_sent_before = sconn->down.sent;
    }
    int polls = strcmp(run->framing, "ft") == 0;
    text_clear(&client->out);
    text_clear(&client->err);
    int len = snprintf(line, sizeof line, "%s\n", step->command);
    if (client->in_fd < 0 || write(client->in_fd, line, (size_t)len) != len) {
        rep->client_gone = 1;
        goto end;
    }
    run->request++;
    quiet_since = now_ms();
    for (;;) {
        int got = run_collect(run, 10);
        long now = now_ms();
        if (got > 0)
            quiet_since = now;
        if (!child_alive(client) && client->out_fd < 0) {
            rep->client_gone = 1;
            break;
        }
        if (now > deadline) {
            rep->timed_out = 1;
            break;
        }
        if (pipe_unread(client->in_fd) > 0)
            continue;    /* the client has not even read the command yet */
        int waiting = client_waiting(client->pid);
        if (waiting < 0) {
            /* No /proc/PID/syscall here: fall back to a quiet spell. */
            if (quiet_since && now - quiet_since > 500)
                break;
            continue;
        }
        if (!waiting) {
            client_idle_since = 0;
            continue;
        }
        if (!client_idle_since)
            client_idle_since = now;
        /* A stage 1 server can stay blocked in send() when the client never
         * reads its reply; then the client being idle is enough. */
        if ((server_waiting_in(run->server.pid, polls) == 1 ||
             now - client_idle_since > SERVER_GRACE_MS) &&
            capture_caught_up(run))
            break;
    }
    while (run_collect(run, 0) > 0)
        ;
end:
    rep->step = step;
    rep->out = client->out.data ? client->out.data : "";
    rep->out_len = client->out.len;
    rep->out_dropped = client->out.dropped;
    rep->err = client->err.data ? client->err.data : "";
    rep->err_len = client->err.len;
    run_feed_decoder(run);
    step_summarize(run, recvs_before, rep);
    return rep->timed_out || rep->client_gone ? -1 : 0;
}

/* --from-capture: step STEP as an earlier run of the lesson recorded it.
 * The lesson typed a command only when the one before was done, so a step
 * is the client's command send and every event up to its next one; the
 * client's output is what the stage 1 client prints: each recv's bytes
 * and a newline. Returns -1 with ERR filled when the capture ends first
 * or is corrupt. */
static int replay_step_run(struct stage_run *run, const struct lesson_step *step,
                           struct step_report *rep, char *err, size_t errlen)
{
    struct child *client = &run->client;
    struct cap_event ev;
    const unsigned char *data;
    int commands = 0, status = -1;
    char why[256];

    const struct connection *conn = run_client_conn(run);
    rep->recvs_before = conn ? conn->down.recv_calls : 0;
    text_clear(&client->out);
    text_clear(&client->err);
    run->request++;
    for (;;) {
        if (run->held_set) {
            ev = run->held;
            data = run->held_data;
            run->held_set = 0;
        } else {
            int got = capture_next(&run->reader, &ev, &data, why, sizeof why);
            if (got < 0) {
                snprintf(err, errlen, "%s", why);
                goto end;
            }
            if (got == 0)
                break;
        }
        if (ev.kind == CAP_CONNECT && ev.role == ROLE_CLIENT && !run->client_pid)
            run->client_pid = (pid_t)ev.pid;
        int mine = run->client_pid && ev.pid == (uint32_t)run->client_pid &&
                   ev.role == ROLE_CLIENT;
        if (mine && ev.kind == CAP_SEND && ev.result > 0 && commands++ > 0) {
            /* the next step's command: keep it for that step */
            unsigned char *copy = malloc(ev.data_len ? ev.data_len : 1);
            if (!copy) {
                snprintf(err, errlen, _("out of memory"));
                goto end;
            }
            memcpy(copy, data, ev.data_len);
            free(run->held_data);
            run->held = ev;
            run->held_data = copy;
            run->held_set = 1;
            break;
        }
        if (mine && ev.kind == CAP_SEND && ev.result > 0) {
            /* a capture of other commands would tell another story */
            size_t len = strlen(step->command);
            if (ev.data_len != len || memcmp(data, step->command, len) != 0) {
                snprintf(err, errlen, _("%s: step %zu's command is not `%s`"), run->capture,
                         rep->index + 1, step->command);
                goto end;
            }
        }
        if (mine && ev.kind == CAP_RECV && ev.result > 0) {
            text_add(&client->out, (const char *)data, ev.data_len);
            text_add(&client->out, "\n", 1);
        }
        decoder_feed(&run->dec, &ev, data);
    }
    if (commands == 0) {
        snprintf(err, errlen, _("%s ends before the step that types `%s`"), run->capture,
                 step->command);
        goto end;
    }
    status = 0;
end:
    rep->step = step;
    rep->out = client->out.data ? client->out.data : "";
    rep->out_len = client->out.len;
    rep->out_dropped = client->out.dropped;
    rep->err = "";
    rep->err_len = 0;
    step_summarize(run, rep->recvs_before, rep);
    return status;
}

/* A stage 2 step: the step's server and one run of its client with
 * --demo NAME; both print one line per socket call, and both are shown. */
static int demo_step_run(struct stage_run *run, const struct lesson_step *step,
                         struct step_report *rep, char *err, size_t errlen)
{
    char server_path[PATH_MAX], client_path[PATH_MAX];
    const char *dir = run->dir;
    int status = -1;

    snprintf(server_path, sizeof server_path, "%s/%s/%s", run->cfg->root, dir, step->server);
    snprintf(client_path, sizeof client_path, "%s/%s/%s", run->cfg->root, dir, step->client);
    text_clear(&run->demo_out);
    rep->step = step;
    char *server_argv[] = { server_path, "--port", "0", NULL };
    if (child_start(&run->server, run, server_argv, 0, err, errlen) < 0 ||
        child_wait_listening(run, &run->server, run->server_port, sizeof run->server_port,
                             err, errlen) < 0)
        goto end;
    char *client_argv[] = { client_path, "--port", run->server_port, "--demo",
                            (char *)step->command, NULL };
    if (child_start(&run->client, run, client_argv, 0, err, errlen) < 0)
        goto end;
    run->client_pid = run->client.pid;
    long deadline = now_ms() + STEP_DEADLINE_MS;
    while (child_alive(&run->client) || run->client.out_fd >= 0 || run->client.err_fd >= 0) {
        if (now_ms() > deadline) {
            rep->timed_out = 1;
            break;
        }
        run_collect(run, 10);
    }
    /* The server prints a call after making it: let it finish its lines. */
    long grace = now_ms() + SERVER_GRACE_MS;
    while (server_waiting(run->server.pid) != 1 && now_ms() < grace)
        run_collect(run, 10);
    while (run_collect(run, 0) > 0)
        ;
    if (run->client.out.len)
        text_add(&run->demo_out, run->client.out.data, run->client.out.len);
    if (run->client.err.len)
        text_add(&run->demo_out, run->client.err.data, run->client.err.len);
    const char *said = _("-- the server printed: --\n");
    text_add(&run->demo_out, said, strlen(said));
    if (run->server.out.len)
        text_add(&run->demo_out, run->server.out.data, run->server.out.len);
    status = rep->timed_out ? -1 : 0;
    if (rep->timed_out)
        snprintf(err, errlen, _("%s --demo %s did not finish"), step->client, step->command);
end:
    rep->out = run->demo_out.data ? run->demo_out.data : "";
    rep->out_len = run->demo_out.len;
    child_stop(&run->client);
    child_stop(&run->server);
    run_feed_decoder(run);
    rep->wire_lines = 0;
    const struct connection *conn = run_client_conn(run);
    if (conn) {
        /* "recvs" are the calls that returned data, as everywhere; the
         * end of the stream (a recv that returned 0) is said apart */
        const struct stream *up = &conn->up;
        fact_set(rep, FACT_UP_SENDS, up->send_calls);
        fact_set(rep, FACT_UP_RECVS, up->recv_calls);
        fact_set(rep, FACT_UP_BYTES, up->sent);
        snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                 up->eof ? _("client to server: %llu bytes, sends: %u; the server's recvs: %u, "
                             "then the end of the stream")
                         : _("client to server: %llu bytes, sends: %u; the server's recvs: %u"),
                 (unsigned long long)up->sent, up->send_calls, up->recv_calls);
        status_counts(rep, up->send_calls, up->recv_calls, up->eof, stream_pending(up));
    }
    return status;
}

/* The connection a client PID made, or NULL. */
static const struct connection *conn_of_client(const struct stage_run *run, pid_t pid)
{
    for (size_t i = 0; i < run->dec.n_conns; i++)
        if (run->dec.conns[i]->client_pid == (uint32_t)pid)
            return run->dec.conns[i];
    return NULL;
}

static unsigned long long ns_to_ms(uint64_t later, uint64_t earlier)
{
    return later > earlier ? (later - earlier) / 1000000u : 0;
}

/* Reads a stage 6 step off the capture. Client 2's request is C2's up
 * stream; C1 was cut (or left) when the server closed it. Times are of one
 * process each where they are compared (the server's own events, or
 * client 2's), so the order they say is the order things happened. */
static void conc_summarize(const struct stage_run *run, struct step_report *rep)
{
    const struct connection *c1 = conn_of_client(run, run->client_pid);
    const struct connection *c2 = conn_of_client(run, run->client2_pid);
    rep->wire_lines = 0;
    if (!c1 || !c2 || c2->up.n_sends == 0)
        return;
    const struct stream *up = &c2->up;
    uint64_t asked = up->sends[0].time_ns;
    uint64_t answered = c2->down.n_recvs > 0 ? c2->down.recvs[0].time_ns : 0;
    uint64_t cut = c1->server_closed_ns;
    /* what the server had read of client 2 while client 1 was connected */
    unsigned recvs_then = 0;
    uint64_t read_then = 0, first_read = 0;
    for (size_t i = 0; i < up->n_recvs; i++) {
        if (!first_read)
            first_read = up->recvs[i].time_ns;
        if (cut == 0 || up->recvs[i].time_ns < cut) {
            recvs_then++;
            read_then = up->recvs[i].end;
        }
    }
    uint64_t pending = up->sent - read_then;
    fact_set(rep, FACT_UP_BYTES, up->sent);
    fact_set(rep, FACT_UP_SENDS, up->send_calls);
    fact_set(rep, FACT_UP_RECVS, recvs_then);
    fact_set(rep, FACT_PENDING, pending);
    snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
             _("client 2's request: %llu bytes, sends: %u; the server's recvs of it while client "
               "1 was connected: %u; pending: %llu bytes"),
             (unsigned long long)up->sent, up->send_calls, recvs_then,
             (unsigned long long)pending);
    status_counts(rep, up->send_calls, recvs_then, 0, pending);
    if (answered) {
        fact_set(rep, FACT_WAITED_MS, ns_to_ms(answered, asked));
        snprintf(rep->note, sizeof rep->note, _("client 2 waited %llu ms"),
                 ns_to_ms(answered, asked));
    }
    if (cut && first_read && cut <= first_read) {
        fact_set(rep, FACT_HELD_MS, ns_to_ms(cut, asked));
        fact_set(rep, FACT_AFTER_MS, ns_to_ms(answered, cut));
        snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                 _("the server cut client 1 %llu ms after client 2 asked, and answered client 2 "
                   "%llu ms after that"),
                 ns_to_ms(cut, asked), ns_to_ms(answered, cut));
    } else if (answered && (cut == 0 || answered < cut)) {
        fact_set(rep, FACT_ANSWERED_MS, ns_to_ms(answered, asked));
        snprintf(rep->wire[rep->wire_lines++], sizeof rep->wire[0],
                 _("client 2 was answered %llu ms after it asked, client 1 still connected"),
                 ns_to_ms(answered, asked));
    }
    rep->aim = 0;
    rep->aim_set = 1;
}

/* A stage 6 step: the step's server; client 1 (the stage 5 client, its
 * prompt never answered) connects and stays silent; once the server has
 * accepted it and waits, client 2 runs STEP's command. The step is over
 * when client 2 has its answer and has exited: under the iterative server
 * only after the --idle deadline cut client 1, under poll at once. */
static int conc_step_run(struct stage_run *run, const struct lesson_step *step,
                         struct step_report *rep, char *err, size_t errlen)
{
    char server_path[PATH_MAX], client_path[PATH_MAX];
    const struct stage_info *five = stage_info(5);
    int status = -1;

    snprintf(server_path, sizeof server_path, "%s/%s/%s", run->cfg->root, run->dir, step->server);
    snprintf(client_path, sizeof client_path, "%s/%s/client", run->cfg->root,
             five ? five->dir : "?");
    rep->step = step;
    text_clear(&run->demo_out);
    char *server_argv[] = { server_path, "--port", "0", "--root", (char *)run->cfg->root,
                            "--idle", conc_idle, NULL };
    if (child_start(&run->server, run, server_argv, 0, err, errlen) < 0 ||
        child_wait_listening(run, &run->server, run->server_port, sizeof run->server_port,
                             err, errlen) < 0)
        goto end;
    char *client1_argv[] = { client_path, "--port", run->server_port, NULL };
    if (child_start(&run->client, run, client1_argv, 1, err, errlen) < 0)
        goto end;
    run->client_pid = run->client.pid;
    long deadline = now_ms() + STEP_DEADLINE_MS;
    for (;;) {      /* client 1 connected, accepted, silent; the server waits */
        run_feed_decoder(run);
        const struct connection *c1 = conn_of_client(run, run->client.pid);
        if (c1 && c1->server_pid != 0 && client_waiting(run->client.pid) == 1 &&
            server_waiting_in(run->server.pid, 1) == 1)
            break;
        if (now_ms() > deadline || !child_alive(&run->client)) {
            snprintf(err, errlen, _("client 1 did not connect to %s"), step->server);
            rep->timed_out = 1;
            goto end;
        }
        run_collect(run, 10);
    }
    char *client2_argv[] = { client_path, "--port", run->server_port, "exec",
                             (char *)step->command, NULL };
    if (child_start(&run->client2, run, client2_argv, 0, err, errlen) < 0)
        goto end;
    run->client2_pid = run->client2.pid;
    while (child_alive(&run->client2) || run->client2.out_fd >= 0 || run->client2.err_fd >= 0) {
        if (now_ms() > deadline) {
            snprintf(err, errlen, _("client 2 had no answer from %s within %d s"), step->server,
                     STEP_DEADLINE_MS / 1000);
            rep->timed_out = 1;
            goto end;
        }
        run_collect(run, 10);
    }
    /* the server logs its last events as its calls return: wait for it to
     * wait again (under iterative: on client 1, or for the next client) */
    long grace = now_ms() + SERVER_GRACE_MS;
    while (server_waiting_in(run->server.pid, 1) != 1 && now_ms() < grace)
        run_collect(run, 10);
    while (run_collect(run, 0) > 0)
        ;
    const char *said = _("-- client 2 printed: --\n");
    text_add(&run->demo_out, said, strlen(said));
    if (run->client2.out.len)
        text_add(&run->demo_out, run->client2.out.data, run->client2.out.len);
    if (run->client2.err.len)
        text_add(&run->demo_out, run->client2.err.data, run->client2.err.len);
    said = _("-- the server printed: --\n");
    text_add(&run->demo_out, said, strlen(said));
    if (run->server.err.len)
        text_add(&run->demo_out, run->server.err.data, run->server.err.len);
    status = 0;
end:
    rep->out = run->demo_out.data ? run->demo_out.data : "";
    rep->out_len = run->demo_out.len;
    run_feed_decoder(run);
    conc_summarize(run, rep);
    child_stop(&run->client2);
    child_stop(&run->client);
    child_stop(&run->server);
    return status;
}

static void section_stop(struct stage_run *run)
{
    child_stop(&run->client2);
    child_stop(&run->client);
    child_stop(&run->slicer);
    child_stop(&run->server);
}

/* ---- presenting: transcript or UI ------------------------------------------ */

struct presenter {
    FILE *out;                 /* transcript */
    int ui;                    /* 1: draw with ncurses */
    struct ui_view view;
    int quit;
    const struct lesson_config *picture;   /* --svg: keys are not waited for */
    int picture_done;          /* 1: written; -1: could not be */
};

/* Prints client output the way a reader can take in: short outputs whole,
 * long ones as their first and last lines around "[... N bytes ...]". */
static void print_output(FILE *out, const char *prefix, const char *text, size_t len)
{
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    if (len && text[len - 1] != '\n')
        lines++;

    const size_t head_lines = 4, tail_lines = 3;
    size_t head_end = len, tail_start = len;
    if (lines > 16) {
        size_t seen = 0;
        for (head_end = 0; head_end < len && seen < head_lines; head_end++)
            seen += text[head_end] == '\n';
        seen = 0;
        tail_start = len;
        if (tail_start && text[tail_start - 1] == '\n')
            tail_start--;
        while (tail_start > head_end && seen < tail_lines) {
            tail_start--;
            if (text[tail_start] == '\n')
                seen++;
        }
        if (text[tail_start] == '\n')
            tail_start++;
    }
    int at_line_start = 1;
    for (size_t i = 0; i < len; i++) {
        if (i == head_end && head_end < tail_start) {
            if (!at_line_start)
                fputc('\n', out);
            fprintf(out, "%s", prefix);
            fprintf(out, _("[... %zu bytes ...]"), tail_start - head_end);
            fputc('\n', out);
            i = tail_start;
            at_line_start = 1;
            if (i >= len)
                break;
        }
        if (at_line_start && text[i] != '\n')
            fputs(prefix, out);
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n' || ch == '\t' || ch >= 0x20)
            fputc(ch, out);
        else
            fputc('.', out);
        at_line_start = ch == '\n';
    }
    if (!at_line_start)
        fputc('\n', out);
}

/* The section's intro with its facts (the slicer's piece sizes). */
static void section_intro(const struct lesson_section *sec, char *buf, size_t len)
{
    unsigned long long facts[FACT_COUNT] = { 0 };
    int have[FACT_COUNT] = { 0 };
    facts[FACT_PIECE_MIN] = PIECE_MIN;
    facts[FACT_PIECE_MAX] = PIECE_MAX;
    have[FACT_PIECE_MIN] = have[FACT_PIECE_MAX] = 1;
    expand(_(sec->intro), facts, have, buf, len);
}

/* The step's narration, with this run's numbers in it. */
static void step_narration(const struct step_report *rep, char *buf, size_t len)
{
    const struct lesson_step *step = rep->step;
    const char *text = step->needs >= 0 && !rep->have[step->needs] && step->narration_else
                       ? step->narration_else : step->narration;
    expand(_(text), rep->facts, rep->have, buf, len);
}

static void present_section(struct presenter *p, const struct lesson_section *sec,
                            const struct stage_run *run)
{
    char title[256], intro[512];
    if (p->ui)
        return;
    section_title(sec, title, sizeof title);
    section_intro(sec, intro, sizeof intro);
    fprintf(p->out, "\n== %s ==\n%s\n", title, intro);
    if (sec->concurrent)
        fprintf(p->out, _("[each step starts the step's server in %s, then client 1, which says "
                          "nothing, then client 2, which runs one command]\n"), run->dir);
    else if (sec->steps[0].server)
        fprintf(p->out, _("[each step starts the step's server in %s and runs its client once]\n"),
                run->dir);
    else if (sec->via_slicer == SLICE_UP)
        fprintf(p->out, _("[%s/server is listening; the client connects through tools/slicer "
                          "--direction up, requests cut into pieces of %d to %d bytes, seed %u, "
                          "paced]\n"),
                run->dir, PIECE_MIN, PIECE_MAX, run->cfg->slicer_seed);
    else if (sec->via_slicer)
        fprintf(p->out, _("[%s/server is listening; the client connects through tools/slicer, "
                          "pieces of %d to %d bytes, seed %u, paced]\n"),
                run->dir, PIECE_MIN, PIECE_MAX, run->cfg->slicer_seed);
    else
        fprintf(p->out, _("[%s/server is listening; the client connects to it]\n"), run->dir);
}

/* What the student would type: the command, or a demo client's command line. */
static void step_command_line(const struct stage_run *run, const struct lesson_step *step,
                              char *buf, size_t len)
{
    const struct stage_info *five = stage_info(5);
    if (run->section->concurrent)
        snprintf(buf, len, "%s/%s --idle %s &  %s/client &  %s/client exec '%s'", run->dir,
                 step->server, conc_idle, five ? five->dir : "?", five ? five->dir : "?",
                 step->command);
    else if (step->server)
        snprintf(buf, len, "%s/%s --demo %s", run->dir, step->client, step->command);
    else
        snprintf(buf, len, "%s", step->command);
}

/* The status line as text: the step's counts, then its STALE flag. */
static void status_text(const struct step_report *rep, char *buf, size_t len)
{
    const char *counts = rep->status;
    while (*counts == ' ')
        counts++;
    size_t n = strlen(counts);
    while (n > 0 && counts[n - 1] == ' ')
        n--;
    snprintf(buf, len, "%.*s%s%s%s%s", (int)n, counts, rep->stale[0] ? " | " : "", rep->stale,
             rep->note[0] ? " | " : "", rep->note);
}

static void present_step_text(struct presenter *p, const struct stage_run *run,
                              const struct step_report *rep)
{
    FILE *out = p->out;
    char command[256], narration[1024], status[400];

    step_command_line(run, rep->step, command, sizeof command);
    step_narration(rep, narration, sizeof narration);
    fprintf(out, "\n-- ");
    fprintf(out, _("step %zu of %zu"), rep->index + 1, rep->count);
    fprintf(out, " --\n%s\n$ %s\n", narration, command);
    print_output(out, "  ", rep->out, rep->out_len);
    if (rep->err_len) {
        fprintf(out, "%s\n", _("  (on the client's stderr:)"));
        print_output(out, "  ! ", rep->err, rep->err_len);
    }
    for (int i = 0; i < rep->wire_lines; i++)
        fprintf(out, "%s %s\n", _("wire:"), rep->wire[i]);
    if (rep->status[0]) {
        status_text(rep, status, sizeof status);
        fprintf(out, "%s %s\n", _("status:"), status);
    }
    if (rep->timed_out)
        fprintf(out, _("the step did not finish within %d s\n"), STEP_DEADLINE_MS / 1000);
    if (rep->client_gone)
        fprintf(out, "%s\n", _("the client has exited"));
    fflush(out);
}

/* ---- the interactive screen ------------------------------------------------- */

/* Rows: narration on top, the stream in the middle, the client's output
 * below it, the status line and the prompt at the bottom. At 80x24: 1 + 4
 * + 1 + 9 + 1 + 6 + 2. TEXT (a narration, an intro or the closing words)
 * comes already worded. */
static void draw_lesson(struct presenter *p, const char *title, const char *text,
                        const struct stage_run *run, const struct step_report *rep,
                        const char *prompt)
{
    int rows = LINES, cols = COLS;
    char head[300];

    erase();
    snprintf(head, sizeof head, " %s ", title);
    attron(A_REVERSE);
    mvhline(0, 0, ' ', cols);
    ui_put(0, 0, head, cols);
    attroff(A_REVERSE);

    int narr_rows = rows >= 20 ? 4 : 2;
    if (run == NULL)
        narr_rows = rows - 3;          /* the closing words: the whole screen */
    ui_draw_wrapped(text, 1, narr_rows, A_BOLD);
    int row = 1 + narr_rows;
    if (rep) {
        char command[256];
        step_command_line(run, rep->step, command, sizeof command);
        attron(A_BOLD);
        mvprintw(row, 0, "$ %s", command);
        attroff(A_BOLD);
    }
    row++;
    if (run != NULL) {
        int avail = rows - row - 2;           /* minus status and prompt rows */
        int out_rows = avail >= 12 ? avail * 2 / 5 : avail / 2;
        int stream_rows = avail - out_rows - 1;
        const struct connection *conn = run_view_conn(run);
        if (conn && stream_rows > 0)
            ui_draw_stream(&p->view, conn, row, stream_rows);
        row += stream_rows;
        attron(A_REVERSE);
        mvhline(row, 0, ' ', cols);
        ui_put(row, 0, _(" client output "), cols);
        attroff(A_REVERSE);
        row++;
        if (rep && out_rows > 0) {
            /* The last OUT_ROWS lines of what the client printed. */
            const char *start = rep->out, *end = rep->out + rep->out_len;
            if (end > start && end[-1] == '\n')
                end--;
            const char *cut = end;
            int lines = 0;
            while (cut > start && lines < out_rows) {
                cut--;
                if (*cut == '\n')
                    lines++;
            }
            if (*cut == '\n')
                cut++;
            int r = row;
            while (cut < end && r < row + out_rows) {
                const char *eol = memchr(cut, '\n', (size_t)(end - cut));
                size_t n = (size_t)((eol ? eol : end) - cut);
                ui_put_n(r++, 0, cut, n, cols);
                cut = eol ? eol + 1 : end;
            }
        }
        /* The status line says this step's numbers, the ones the
         * narration names. */
        ui_draw_status_parts(&p->view, rep ? rep->status : NULL, rep ? rep->stale : NULL,
                             NULL, rep && rep->note[0] ? rep->note : p->view.note, NULL,
                             rows - 2);
    }
    attron(A_BOLD);
    mvhline(rows - 1, 0, ' ', cols);
    ui_put(rows - 1, 0, prompt, cols);
    attroff(A_BOLD);
    if (p->view.help)
        ui_draw_help(1);
    refresh();
}

/* --svg: the screen just drawn, written as a picture of the step REP. */
static void save_picture(struct presenter *p, const char *title, const struct step_report *rep)
{
    const struct lesson_config *cfg = p->picture;
    struct grid g;
    char err[512], made_title[400], desc[4096], line[512];
    size_t used;

    p->picture_done = -1;
    if (ui_read_grid(&g) < 0) {
        fprintf(stderr, "nianbao-view: out of memory\n");
        return;
    }
    snprintf(made_title, sizeof made_title, "nianbao lesson: %s, step %zu of %zu", title,
             rep->index + 1, rep->count);
    used = (size_t)snprintf(desc, sizeof desc,
                            "The screen (%dx%d) of the nianbao lesson (nianbao-lesson) at step "
                            "%zu of %zu of \"%s\": the narration, the command typed, the byte "
                            "stream with its recv marks, the client's output, the status line.",
                            g.cols, g.rows, rep->index + 1, rep->count, title);
    /* the narration, then the status line, as the screen words them; the
     * narration's rows joined as wrap_text cut them (Chinese with no space) */
    for (int r = 1; r < g.rows - 1 && used < sizeof desc; r++) {
        if (r > 4 && r != g.rows - 2)
            continue;
        grid_row_text(&g, r, line, sizeof line);
        if (!line[0])
            continue;
        int joined = r > 1 && r <= 4 && (unsigned char)desc[used - 1] >= 0x80 &&
                     (unsigned char)line[0] >= 0x80;
        used += (size_t)snprintf(desc + used, sizeof desc - used, "%s%s", joined ? "" : " ",
                                 line);
    }
    struct svg_meta meta = { cfg->svg_title ? cfg->svg_title : made_title, desc };
    unsigned hold = 0;
    if (svg_write_file(cfg->svg, &g, &hold, 1, &meta, err, sizeof err) < 0)
        fprintf(stderr, "nianbao-view: %s\n", err);
    else
        p->picture_done = 1;
    free(g.cells);
}

/* Waits for "next" or "quit"; other keys (hex, scroll, help) redraw. */
static int wait_key(struct presenter *p, const char *title, const char *text,
                    const struct stage_run *run, const struct step_report *rep,
                    const char *prompt)
{
    if (p->picture) {
        draw_lesson(p, title, text, run, rep, prompt);
        if (!rep || rep->index + 1 != (p->picture->svg_step ? (size_t)p->picture->svg_step
                                                             : rep->count))
            return 0;
        save_picture(p, title, rep);
        p->quit = 1;
        return 1;
    }
    for (;;) {
        draw_lesson(p, title, text, run, rep, prompt);
        int key = getch();
        if (key == ' ' || key == '\n' || key == KEY_ENTER || key == '\r')
            return 0;
        if (run == NULL) {      /* the closing words: nothing to scroll */
            if (key == 'q' || key == 'Q' || key == 3)
                return 1;
            continue;
        }
        enum ui_action act = ui_handle_key(&p->view, &run->dec, key);
        if (act == UI_QUIT) {
            p->quit = 1;
            return 1;
        }
    }
}

/* Opens the stream panel where the step's point is (step_summarize chose
 * it: the STALE recv, the cut before pending bytes, or the step's first
 * recv); a demo step from its first byte. */
static void aim_view(struct ui_view *view, const struct step_report *rep, int demo)
{
    view->follow = !demo;
    view->top_row = 0;
    view->jump = 0;
    if (!demo && rep->aim_set) {
        view->jump = 1;
        view->jump_to = rep->aim;
    }
}

/* ---- the whole lesson ------------------------------------------------------- */

static int section_run(struct presenter *p, const struct lesson_config *cfg,
                       const struct lesson_section *sec, int last_section)
{
    struct stage_run run = { 0 };
    char err[512], title[256], intro[512];
    int status = 1;
    const struct stage_info *info = stage_info(sec->stage);

    section_title(sec, title, sizeof title);
    run.cfg = cfg;
    run.section = sec;
    run.dir = info ? info->dir : "?";
    run.framing = info ? info->framing : "?";
    run.server.name = "server";
    run.slicer.name = "slicer";
    run.client.name = "client";
    run.server.in_fd = run.server.out_fd = run.server.err_fd = -1;
    run.slicer.in_fd = run.slicer.out_fd = run.slicer.err_fd = -1;
    run.client.in_fd = run.client.out_fd = run.client.err_fd = -1;
    run.client2.name = "client 2";
    run.client2.in_fd = run.client2.out_fd = run.client2.err_fd = -1;
    int replay = cfg->from_capture != NULL;
    if (replay) {
        snprintf(run.capture, sizeof run.capture, "%s", cfg->from_capture);
    } else {
        snprintf(run.capture, sizeof run.capture, "%s/stage%d%s.nbcap", cfg->workdir,
                 sec->stage, sec->via_slicer ? "-slicer" : "");
        unlink(run.capture);
    }
    if (info == NULL) {
        snprintf(err, sizeof err, _("stage %d is not in common/stages.def"), sec->stage);
        goto end;
    }
    if (replay) {
        if (capture_open(&run.reader, run.capture, err, sizeof err) < 0)
            goto end;
        run.reader_open = 1;
    } else if (capture_find_tap_lib(run.tap_lib, sizeof run.tap_lib, err, sizeof err) < 0) {
        goto end;
    }
    struct decode_options dopt = { PROTO_GUESS, 0 };
    if (strcmp(info->framing, "udp") == 0)
        dopt.proto = PROTO_RAW;
    else
        proto_parse(info->framing, &dopt.proto);
    if (decoder_init(&run.dec, &dopt) < 0) {
        snprintf(err, sizeof err, _("out of memory"));
        goto end;
    }
    run.dec_ready = 1;
    int conc = sec->concurrent;
    int demo = sec->steps[0].server != NULL && !conc;
    if (demo) {
        /* Stage 2 is optional for the lesson: skip it when not built. */
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s/%s", cfg->root, run.dir, sec->steps[0].client);
        if (access(path, X_OK) < 0) {
            if (!p->ui)
                fprintf(p->out, "\n== %s ==\n%s\n", title, _("(not built here: skipped)"));
            status = 0;
            goto end;
        }
    }
    if (replay && (demo || conc || sec->via_slicer)) {
        /* main lets --from-capture through with stage 1 only: its client
         * prints each recv as it is, so its output is in the capture */
        snprintf(err, sizeof err, "--from-capture: only stage 1 of the lesson");
        goto end;
    }
    if (!demo && !conc && !replay && section_start(&run, err, sizeof err) < 0)
        goto end;
    p->view.dir = demo || conc || sec->via_slicer == SLICE_UP ? DIR_UP : DIR_DOWN;
    p->view.note[0] = '\0';
    present_section(p, sec, &run);
    section_intro(sec, intro, sizeof intro);
    if (p->ui && wait_key(p, title, intro, &run, NULL,
                          _("space/enter: type the first command   q: quit"))) {
        status = 0;    /* q: the student chose to stop, not a failure */
        goto end;
    }
    for (size_t i = 0; i < sec->step_count; i++) {
        struct step_report rep = { 0 };
        rep.index = i;
        rep.count = sec->step_count;
        int failed = demo ? demo_step_run(&run, &sec->steps[i], &rep, err, sizeof err) < 0
                     : conc ? conc_step_run(&run, &sec->steps[i], &rep, err, sizeof err) < 0
                     : replay ? replay_step_run(&run, &sec->steps[i], &rep, err, sizeof err) < 0
                            : step_run(&run, &sec->steps[i], &rep) < 0;
        if (p->ui) {
            char narration[1024];
            const char *prompt =
                i + 1 < sec->step_count
                    ? _("space/enter: next step   x: hex   arrows: scroll   ?: help   q: quit")
                : !last_section
                    ? _("space/enter: next part   x: hex   arrows: scroll   ?: help   q: quit")
                    : _("space/enter: the end   x: hex   arrows: scroll   ?: help   q: quit");
            step_narration(&rep, narration, sizeof narration);
            aim_view(&p->view, &rep, demo || conc);
            if (wait_key(p, title, narration, &run, &rep, prompt)) {
                status = 0;
                goto end;
            }
        } else {
            present_step_text(p, &run, &rep);
        }
        if (failed) {
            if (!demo && !conc && !replay)
                snprintf(err, sizeof err, "%s", rep.timed_out ? _("a step did not finish")
                                                              : _("the client exited early"));
            goto end;
        }
    }
    status = 0;
end:
    if (status != 0) {
        if (p->ui)
            ui_stop();
        fprintf(stderr, "nianbao-view: %s, %s: %s\n", _("lesson"), title, err);
        if (run.server.err.len)
            fprintf(stderr, "%s %s", _("server said:"), run.server.err.data);
        p->quit = 1;
    }
    section_stop(&run);
    free(run.demo_out.data);
    free(run.held_data);
    if (run.reader_open)
        capture_close(&run.reader);
    if (run.dec_ready)
        decoder_free(&run.dec);
    return status;
}

/* The temporary folder of captures and the terminal's settings from
 * before curses, for the signal handler below: the only state that must
 * outlive a stack frame, because a signal has none. */
static char cleanup_dir[PATH_MAX];
static struct termios tty_before_ui;
static volatile sig_atomic_t tty_saved;

/* SIGHUP (terminal closed), SIGTERM, SIGINT in text mode: remove the
 * captures and go. The children follow by themselves (PR_SET_PDEATHSIG).
 * Only async-signal-safe calls here. */
static void lesson_killed(int sig)
{
    static const char *const names[] = {
        "/stage1.nbcap", "/stage2.nbcap", "/stage3.nbcap", "/stage3-slicer.nbcap",
        "/stage4.nbcap", "/stage4-slicer.nbcap", "/stage5-slicer.nbcap", "/stage6.nbcap",
    };
    char path[PATH_MAX + 32];
    size_t dir_len = strlen(cleanup_dir);

    for (size_t i = 0; dir_len && i < sizeof names / sizeof names[0]; i++) {
        size_t name_len = strlen(names[i]);
        memcpy(path, cleanup_dir, dir_len);
        memcpy(path + dir_len, names[i], name_len + 1);
        unlink(path);
    }
    if (dir_len)
        rmdir(cleanup_dir);
    if (tty_saved) {
        /* endwin() is not async-signal-safe: put back the saved termios
         * (echo, line editing) ourselves, then leave the alternate screen
         * and show the cursor, as endwin would have. */
        static const char leave[] = "\033[?1049l\033[?25h\r\n";
        tcsetattr(STDIN_FILENO, TCSANOW, &tty_before_ui);
        ssize_t ignored = write(STDOUT_FILENO, leave, sizeof leave - 1);
        (void)ignored;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static int remove_workdir(const char *dir)
{
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/stage%d%s.nbcap", dir, sections[i].stage,
                 sections[i].via_slicer ? "-slicer" : "");
        unlink(path);
    }
    return rmdir(dir);
}

int lesson_run(const struct lesson_config *cfg_in, FILE *out)
{
    struct lesson_config cfg = *cfg_in;
    struct presenter p = { 0 };
    char tmpdir[PATH_MAX];
    int status = 0, own_workdir = 0;

    p.out = out;
    p.ui = !cfg.text;
    const char *idle = getenv("NIANBAO_LESSON_IDLE");
    if (idle && *idle) {
        unsigned long idle_ms;
        char why[160];
        if (duration_parse(idle, 1, DURATION_S(3600), &idle_ms, why, sizeof why) < 0) {
            fprintf(stderr, "nianbao-view: NIANBAO_LESSON_IDLE: %s\n", why);
            return 1;
        }
        snprintf(conc_idle, sizeof conc_idle, "%s", duration_text(idle_ms).s);
    }
    signal(SIGPIPE, SIG_IGN);   /* a client that died must not kill the lesson */
    if (!cfg.workdir) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/nianbao-lesson-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            fprintf(stderr, "nianbao-view: %s %s: %s\n", _("cannot create"), tmpdir, strerror(errno));
            return 1;
        }
        cfg.workdir = tmpdir;
        own_workdir = 1;
        snprintf(cleanup_dir, sizeof cleanup_dir, "%s", tmpdir);
    }
    if (own_workdir || p.ui) {
        signal(SIGHUP, lesson_killed);
        signal(SIGTERM, lesson_killed);
        signal(SIGINT, lesson_killed);
    }
    ui_view_init(&p.view);
    p.view.flow = 1;    /* dense: more of the reply between the panels */
    /* waits of a person between two commands are not news; a machine's are */
    p.view.gap_max_ns = 1000000000ull;
    struct ui_offscreen offscreen = { 0 };
    if (cfg.svg) {
        char err[256];
        p.ui = 1;
        p.picture = &cfg;
        if (ui_start_offscreen(&offscreen, &p.view, cfg.color, cfg.svg_rows, cfg.svg_cols,
                               err, sizeof err) < 0) {
            fprintf(stderr, "nianbao-view: %s\n", err);
            status = 1;
            goto end;
        }
    }
    if (p.ui && !p.picture && tcgetattr(STDIN_FILENO, &tty_before_ui) == 0)
        tty_saved = 1;
    if (p.ui && !p.picture && ui_start(&p.view, cfg.color) < 0) {
        p.ui = 0;
        tty_saved = 0;
    }
    if (!p.ui) {
        fprintf(out, "%s\n", _("nianbao lesson: why a TCP byte stream has no message boundaries, "
                                "and how a length fixes it."));
        fprintf(out, "%s\n", _("Each step types one command into the stage's client; \"wire:\" lines "
                                "are what the viewer decoded from the tap's capture, \"status:\" "
                                "is its status line on the screen."));
    }
    size_t last = 0;
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        if (!cfg.only_stage || sections[i].stage == cfg.only_stage)
            last = i;
    for (size_t i = 0; i < sizeof sections / sizeof sections[0] && !p.quit; i++) {
        if (cfg.only_stage && sections[i].stage != cfg.only_stage)
            continue;
        if (section_run(&p, &cfg, &sections[i], i == last) != 0)
            status = 1;
    }
    const char *closing = _("That is the whole story: TCP delivers a stream of bytes, not "
                            "messages. A receiver finds the boundaries again only when the "
                            "sender writes them down: a length, or a header.");
    if (p.ui && !p.picture && status == 0 && !p.quit) {
        /* the closing words on the screen, before it closes */
        p.view.help = 0;
        wait_key(&p, _("nianbao lesson"), closing, NULL, NULL,
                 _("space/enter or q: leave the lesson"));
    }
    if (p.picture) {
        ui_stop_offscreen(&offscreen);
        if (status == 0 && p.picture_done == 0)
            fprintf(stderr, "nianbao-view: --step %d: stage %d of the lesson has fewer steps\n",
                    cfg.svg_step, cfg.only_stage);
        if (p.picture_done != 1)
            status = 1;
    } else if (p.ui) {
        tty_saved = 0;      /* endwin restores it from here on */
        ui_stop();
    }
    if (!p.ui && status == 0)
        fprintf(out, "\n%s\n", closing);
end:
    if (own_workdir)
        remove_workdir(cfg.workdir);
    return status;
}
