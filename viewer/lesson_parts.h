/* lesson_parts.h - what the parts of the lesson share (lesson.h is its
 * interface to the viewer).
 *
 *   lesson_script.c  the script: sections, steps, their narrations, and the
 *                    facts a narration may name
 *   lesson_proc.c    the stage programs as child processes: started, their
 *                    output collected, watched until they wait, stopped
 *   lesson_show.c    presenting: the transcript, or the screen
 *   lesson.c         running a section step by step, the decoder's view of a
 *                    step, and the whole lesson
 */
#ifndef NIANBAO_LESSON_PARTS_H
#define NIANBAO_LESSON_PARTS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "capture.h"
#include "decode.h"
#include "lesson_config.h"
#include "ui.h"

#define STEP_DEADLINE_MS 10000     /* a step that takes longer is reported */
#define START_DEADLINE_MS 10000    /* waiting for "listening on"          */
#define SERVER_GRACE_MS 1000       /* a server stuck in send (see below)   */
#define OUTPUT_KEEP (256 * 1024)   /* client output kept per step          */

/* ---- the script (lesson_script.c) ---------------------------------------- */

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

/* What the lesson needs of a stage, from the one list of stages. */
struct stage_info {
    int number;
    const char *dir;          /* "stage1_naive" */
    const char *version;      /* "v1.1" */
    const char *framing;      /* "raw", "len", "json", "udp" */
};

extern const struct lesson_section lesson_sections[];
extern const size_t lesson_section_count;

/* Stage 6: how long a server waits for a silent client's first request
 * (--idle), as text: "2", or NIANBAO_LESSON_IDLE (set once at start). */
extern char lesson_conc_idle[32];

const struct stage_info *stage_info(int number);
void section_title(const struct lesson_section *sec, char *buf, size_t len);
void expand(const char *template, const unsigned long long *facts, const int *have, char *buf,
            size_t len);

/* ---- the processes (lesson_proc.c) ---------------------------------------- */

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

long now_ms(void);
void text_add(struct text_buf *t, const char *bytes, size_t len);
void text_clear(struct text_buf *t);
int child_start(struct child *c, struct stage_run *run, char *const argv[], int with_stdin,
                char *err, size_t errlen);
int run_collect(struct stage_run *run, int timeout_ms);
int child_alive(struct child *c);
int child_wait_listening(struct stage_run *run, struct child *c, char *port, size_t portlen,
                         char *err, size_t errlen);
void child_stop(struct child *c);
int client_waiting(pid_t pid);
int server_waiting_in(pid_t pid, int polls);
int server_waiting(pid_t pid);
size_t pipe_unread(int fd);

/* ---- the run: which connection the screen shows (lesson_proc.c) ------------ */

const struct connection *run_view_conn(const struct stage_run *run);
/* The connection the lesson's client made; the newest one the server
 * accepted; the one client PID made (lesson_proc.c). NULL: none yet. */
const struct connection *run_client_conn(const struct stage_run *run);
const struct connection *run_server_conn(const struct stage_run *run);
const struct connection *conn_of_client(const struct stage_run *run, pid_t pid);

/* ---- presenting (lesson_show.c) --------------------------------------------- */

struct presenter {
    FILE *out;                 /* transcript */
    int ui;                    /* 1: draw with ncurses */
    struct ui_view view;
    int quit;
    const struct lesson_config *picture;   /* --svg: keys are not waited for */
    int picture_done;          /* 1: written; -1: could not be */
};

void section_intro(const struct lesson_section *sec, char *buf, size_t len);
void step_narration(const struct step_report *rep, char *buf, size_t len);
void present_section(struct presenter *p, const struct lesson_section *sec,
                     const struct stage_run *run);
void present_step_text(struct presenter *p, const struct stage_run *run,
                       const struct step_report *rep);
int wait_key(struct presenter *p, const char *title, const char *text,
             const struct stage_run *run, const struct step_report *rep, const char *prompt);
void aim_view(struct ui_view *view, const struct step_report *rep, int demo);

#endif
