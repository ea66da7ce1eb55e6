/* main.c - nianbao-view: watch a TCP byte stream, send by send and recv by
 * recv, as the tap recorded it.
 *
 * Modes (one per run):
 *   -- PROG [ARGS]            live view of PROG run under the tap
 *   --record FILE -- PROG     run PROG under the tap, writing FILE; no UI
 *   --replay FILE             view a capture (followed while it grows)
 *   --replay FILE --dump | --html OUT | --side-by-side   text and HTML
 *   --replay FILE [--dump] --at DIR:OFFSET [--conn N]   one byte, in context
 *   --replay FILE --svg OUT | --svg-animate OUT       the screen as a picture
 *   --lesson                  the guided tour behind `make demo`
 *   --lesson --stage 1 --from-capture FILE   its stage 1 as FILE recorded it
 * The decoding itself is decode.c's; this file parses options, picks the
 * language and runs the keys -> data -> draw loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <libgen.h>
#include <limits.h>
#include <locale.h>
#include <ncurses.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"
#include "cli.h"
#include "decode.h"
#include "export.h"
#include "lesson.h"
#include "pcap.h"
#include "spawn_child.h"
#include "svg.h"
#include "ui.h"

struct view_config {
    const char *replay;
    const char *record;
    const char *html;
    const char *pcap;
    const char *proto_name;
    const char *lang;
    const char *at_spec;       /* --at DIR:OFFSET */
    const char *svg;           /* --svg OUT: the screen as a picture */
    const char *svg_animate;   /* --svg-animate OUT: one frame per event */
    const char *size_spec;     /* --size COLSxROWS */
    const char *keys;          /* --keys: pressed before the picture */
    const char *svg_title;     /* --title */
    const char *from_capture;  /* --from-capture: the lesson's stage from a capture */
    int cols, rows;            /* from --size */
    unsigned long step;        /* --step: the lesson step --svg shows */
    int dump, side_by_side, lesson, text, no_color, verbose;
    unsigned long stage, seed, conn;
    struct export_at at;
    char **prog_argv;          /* after "--", NULL when none */
    enum proto proto;
};

/* The capture being watched and the decoder fed from it. LIMIT stops the
 * feeding at that many events (replay stepping); UINT64_MAX: all. */
struct watch {
    const char *path;
    struct decode_options opt;
    struct capture_reader reader;
    int reader_open;
    struct decoder dec;
    uint64_t fed, limit;
    char error[256];
};

/* ---- language -------------------------------------------------------------- */

/* The folder of our executable: the lesson's source tree is its parent,
 * the message catalogue sits next to it. */
static int exe_dir(char *buf, size_t len)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n < 0)
        return -1;
    path[n] = '\0';
    snprintf(buf, len, "%s", dirname(path));
    return 0;
}

static int wants_chinese(const char *lang)
{
    if (lang)
        return strncmp(lang, "zh", 2) == 0;
    static const char *const vars[] = { "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return strncmp(v, "zh", 2) == 0;
    }
    return 0;
}

/* gettext only translates when the locale is not "C", and the zh_CN
 * locale is often not generated (a fresh Debian has C.UTF-8 only). So for
 * Chinese we keep whatever UTF-8 locale we can get (zh_CN.UTF-8 when it
 * exists, else C.UTF-8) and name the catalogue through LANGUAGE, which
 * glibc honours for any locale but "C". */
static int language_setup(const char *lang)
{
    char dir[PATH_MAX], localedir[PATH_MAX + 16];
    const char *env_dir = getenv("NIANBAO_LOCALEDIR");
    int chinese;

    if (lang && strcmp(lang, "en") != 0 && strncmp(lang, "zh", 2) != 0)
        return -1;
    chinese = wants_chinese(lang);
    const char *loc = setlocale(LC_ALL, "");
    int utf8 = loc && strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    if (chinese && !utf8) {
        if (!setlocale(LC_ALL, "zh_CN.UTF-8") && !setlocale(LC_ALL, "C.UTF-8"))
            setlocale(LC_ALL, "C.utf8");
    }
    if (chinese)
        setenv("LANGUAGE", "zh_CN", 1);
    else if (lang)
        setenv("LANGUAGE", "en", 1);
    if (env_dir && *env_dir)
        bindtextdomain(UI_TEXT_DOMAIN, env_dir);
    else if (exe_dir(dir, sizeof dir) == 0) {
        struct stat st;
        snprintf(localedir, sizeof localedir, "%s/locale", dir);
        if (stat(localedir, &st) == 0)
            bindtextdomain(UI_TEXT_DOMAIN, localedir);
    }
    bind_textdomain_codeset(UI_TEXT_DOMAIN, "UTF-8");
    textdomain(UI_TEXT_DOMAIN);
    return 0;
}

/* ---- the capture being watched ------------------------------------------------ */

static int watch_init(struct watch *w, const char *path, enum proto proto)
{
    memset(w, 0, sizeof *w);
    w->path = path;
    w->opt.proto = proto;
    w->limit = UINT64_MAX;
    return decoder_init(&w->dec, &w->opt);
}

/* Feeds what is new in the file (up to LIMIT). Returns 1 when something
 * was fed, 0 when nothing, -1 on a corrupt file (W->error filled). */
static int watch_poll(struct watch *w)
{
    struct cap_event ev;
    const unsigned char *data;
    int fed = 0;

    if (!w->reader_open) {
        if (capture_open(&w->reader, w->path, w->error, sizeof w->error) < 0)
            return 0;    /* not there yet: the tap creates it on first use */
        w->reader_open = 1;
        w->error[0] = '\0';
    }
    while (w->fed < w->limit) {
        int got = capture_next(&w->reader, &ev, &data, w->error, sizeof w->error);
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        if (decoder_feed(&w->dec, &ev, data) < 0) {
            snprintf(w->error, sizeof w->error, "out of memory");
            return -1;
        }
        w->fed++;
        fed = 1;
    }
    return fed;
}

/* Starts over and feeds the first LIMIT events (replay one step back). */
static int watch_rewind(struct watch *w, uint64_t limit)
{
    if (w->reader_open)
        capture_close(&w->reader);
    w->reader_open = 0;
    decoder_free(&w->dec);
    if (decoder_init(&w->dec, &w->opt) < 0)
        return -1;
    w->fed = 0;
    w->limit = limit;
    return watch_poll(w);
}

static void watch_free(struct watch *w)
{
    if (w->reader_open)
        capture_close(&w->reader);
    decoder_free(&w->dec);
}

/* ---- the interactive viewer ---------------------------------------------------- */

/* Keys -> data -> draw, until q. CHILD (live view) is reaped when it ends. */
static int view_loop(struct watch *w, const struct view_config *cfg, const char *title,
                     pid_t child)
{
    struct ui_view view;

    ui_view_init(&view);
    view.title = title;
    int at_pending = cfg->at_spec != NULL;   /* the --at note is shown */
    if (cfg->at_spec) {
        /* --at: that connection and direction, the byte marked and in view */
        view.conn_index = cfg->at.conn - 1;
        view.dir = cfg->at.dir;
        view.jump = 1;
        view.jump_to = cfg->at.offset;
        view.mark = 1;
        view.mark_at = cfg->at.offset;
        view.paused = 1;
    }
    if (ui_start(&view, cfg->no_color ? 0 : -1) < 0) {
        fprintf(stderr, "nianbao-view: cannot open the terminal (TERM=%s)\n",
                getenv("TERM") ? getenv("TERM") : "");
        return 1;
    }
    timeout(100);    /* follow a growing capture ten times a second */
    for (;;) {
        if (!view.paused && watch_poll(w) < 0)
            snprintf(view.note, sizeof view.note, "%s", w->error);
        if (child > 0) {
            int status;
            if (waitpid(child, &status, WNOHANG) == child) {
                child = 0;
                snprintf(view.note, sizeof view.note, _("the program exited (status %d)"),
                         WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            }
        }
        if (w->limit != UINT64_MAX && at_pending)
            snprintf(view.note, sizeof view.note, _("byte %llu marked (p: read on)"),
                     (unsigned long long)cfg->at.offset);
        else if (w->limit != UINT64_MAX)
            snprintf(view.note, sizeof view.note, _("event %llu (]: next, [: back, p: resume)"),
                     (unsigned long long)w->fed);
        ui_draw_viewer(&view, &w->dec);
        int key = getch();
        enum ui_action act = ui_handle_key(&view, &w->dec, key);
        if (act == UI_QUIT)
            break;
        if (act == UI_STEP_BACK || act == UI_STEP_FORWARD)
            at_pending = 0;
        if (act == UI_STEP_BACK && w->fed > 0) {
            view.paused = 1;
            watch_rewind(w, w->fed - 1);
        } else if (act == UI_STEP_FORWARD) {
            view.paused = 1;
            if (w->limit == UINT64_MAX)
                watch_rewind(w, w->fed > 0 ? w->fed - 1 : 0);
            w->limit = w->fed + 1;
            watch_poll(w);
        } else if (!view.paused && w->limit != UINT64_MAX) {
            w->limit = UINT64_MAX;   /* 'p' resumed: show everything again */
            view.note[0] = '\0';
        }
    }
    ui_stop();
    if (child > 0) {
        kill(child, SIGTERM);
        waitpid(child, NULL, 0);
    }
    return 0;
}

/* "up:1234" / "down:0" into CFG->at. Returns 0, or -1. */
static int parse_at(struct view_config *cfg)
{
    const char *spec = cfg->at_spec, *colon = strchr(spec, ':');
    if (colon == NULL)
        return -1;
    size_t dir_len = (size_t)(colon - spec);
    if (dir_len == 2 && strncmp(spec, "up", 2) == 0)
        cfg->at.dir = DIR_UP;
    else if (dir_len == 4 && strncmp(spec, "down", 4) == 0)
        cfg->at.dir = DIR_DOWN;
    else
        return -1;
    if (colon[1] < '0' || colon[1] > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long offset = strtoull(colon + 1, &end, 10);
    if (*end != '\0' || errno != 0 || offset > DECODE_MAX_STREAM)
        return -1;
    cfg->at.offset = offset;
    cfg->at.conn = (unsigned)cfg->conn;
    return 0;
}

/* ---- pictures ------------------------------------------------------------------ */

/* How long each frame of --svg-animate stays, and the last one. An event
 * that changes nothing on the screen (a request, when the screen shows the
 * replies) takes no time. */
#define FRAME_MS 700u
#define LAST_FRAME_MS 5000u

/* The keys --keys may press: the ones that change what the screen shows. */
static const char picture_keys[] = "jkbfgGxwsnNd?";

/* What a picture shows, in words, from its screen: the top line, the frame
 * line when there is one, and the status line. */
static void describe_screen(const struct grid *g, const char *what, char *buf, size_t len)
{
    char top[512], frame[512], status[512];
    grid_row_text(g, 0, top, sizeof top);
    grid_row_text(g, g->rows - 2, frame, sizeof frame);
    grid_row_text(g, g->rows - 1, status, sizeof status);
    snprintf(buf, len, "%s Top line: %s.%s%s%s Status line: %s.", what, top,
             frame[0] ? " Frame line: " : "", frame, frame[0] ? "." : "", status);
}

static int read_frame(struct grid *g, struct ui_view *view, const struct decoder *d,
                      char *err, size_t errlen)
{
    ui_draw_viewer(view, d);
    if (ui_read_grid(g) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int same_grid(const struct grid *a, const struct grid *b)
{
    return a->rows == b->rows && a->cols == b->cols &&
           memcmp(a->cells, b->cells, (size_t)a->rows * (size_t)a->cols * sizeof *a->cells) == 0;
}

/* --svg OUT (the screen after the capture, or at --at) and --svg-animate
 * OUT (a frame after every event that changes the screen), drawn by the
 * screen's own code into memory. Returns the exit status. */
static int run_svg(const struct view_config *cfg)
{
    char err[1024], what[1024], desc[4096];
    struct watch w;
    struct ui_view view;
    struct ui_offscreen screen;
    struct grid *frames = NULL;
    unsigned *hold = NULL;
    size_t n = 0;
    int status = 1, animate = cfg->svg_animate != NULL;

    if (watch_init(&w, cfg->replay, cfg->proto) < 0) {
        fprintf(stderr, "nianbao-view: out of memory\n");
        return 1;
    }
    if (capture_open(&w.reader, cfg->replay, err, sizeof err) < 0)
        goto fail;
    w.reader_open = 1;
    if (cfg->at_spec) {
        struct decoder probe;
        uint64_t events;
        if (export_load_at(&probe, cfg->replay, cfg->proto, &cfg->at, &events,
                           err, sizeof err) < 0)
            goto fail;
        decoder_free(&probe);
        w.limit = events;
    }
    if (animate)
        w.limit = 1;
    if (watch_poll(&w) < 0) {
        snprintf(err, sizeof err, "%s", w.error);
        goto fail;
    }
    ui_view_init(&view);
    view.title = cfg->replay;
    view.conn_index = cfg->conn - 1;
    if (cfg->at_spec) {
        view.dir = cfg->at.dir;
        view.jump = 1;
        view.jump_to = cfg->at.offset;
        view.mark = 1;
        view.mark_at = cfg->at.offset;
        view.paused = 1;
        snprintf(view.note, sizeof view.note, _("byte %llu marked (p: read on)"),
                 (unsigned long long)cfg->at.offset);
    }
    if (ui_start_offscreen(&screen, &view, cfg->no_color ? 0 : 1, cfg->rows, cfg->cols,
                           err, sizeof err) < 0)
        goto fail;
    for (const char *k = cfg->keys; k && *k; k++)
        ui_handle_key(&view, &w.dec, (unsigned char)*k);
    for (;;) {
        struct grid g;
        if (read_frame(&g, &view, &w.dec, err, sizeof err) < 0)
            goto stop;
        if (n > 0 && same_grid(&g, &frames[n - 1])) {
            free(g.cells);     /* an event the screen does not show */
        } else {
            struct grid *more = realloc(frames, (n + 1) * sizeof *frames);
            unsigned *more_hold = more ? realloc(hold, (n + 1) * sizeof *hold) : NULL;
            if (more)
                frames = more;
            if (more_hold)
                hold = more_hold;
            if (!more || !more_hold) {
                free(g.cells);
                snprintf(err, sizeof err, "out of memory");
                goto stop;
            }
            frames[n] = g;
            hold[n++] = FRAME_MS;
        }
        if (!animate)
            break;
        w.limit++;
        int fed = watch_poll(&w);
        if (fed < 0) {
            snprintf(err, sizeof err, "%s", w.error);
            goto stop;
        }
        if (fed == 0)
            break;
    }
    if (cfg->conn > w.dec.n_conns) {    /* known once the whole capture is read */
        snprintf(err, sizeof err, "--conn %lu: the capture has %zu connection%s", cfg->conn,
                 w.dec.n_conns, w.dec.n_conns == 1 ? "" : "s");
        goto stop;
    }
    hold[n - 1] = animate ? LAST_FRAME_MS : 0;
    if (animate)
        snprintf(what, sizeof what, "An animation of the nianbao-view screen (%dx%d) replaying %s "
                 "one event at a time: %.1f s for each event that changes the screen (%zu "
                 "screens), the last held %.0f s, then again from the start. The last screen:",
                 cfg->cols, cfg->rows, cfg->replay, FRAME_MS / 1000.0, n,
                 LAST_FRAME_MS / 1000.0);
    else
        snprintf(what, sizeof what, "The nianbao-view screen (%dx%d) replaying %s.",
                 cfg->cols, cfg->rows, cfg->replay);
    describe_screen(&frames[n - 1], what, desc, sizeof desc);
    char title[512];
    snprintf(title, sizeof title, "nianbao-view: %s", cfg->replay);
    struct svg_meta meta = { cfg->svg_title ? cfg->svg_title : title, desc };
    if (svg_write_file(animate ? cfg->svg_animate : cfg->svg, frames, hold, n, &meta,
                       err, sizeof err) == 0)
        status = 0;
stop:
    ui_stop_offscreen(&screen);
fail:
    if (status != 0)
        fprintf(stderr, "nianbao-view: %s\n", err);
    for (size_t i = 0; i < n; i++)
        free(frames[i].cells);
    free(frames);
    free(hold);
    watch_free(&w);
    return status;
}

/* ---- modes --------------------------------------------------------------------- */

static int run_replay(const struct view_config *cfg)
{
    char err[512];
    struct watch w;

    if (cfg->svg || cfg->svg_animate)
        return run_svg(cfg);
    if (cfg->at_spec && (cfg->dump || !isatty(STDOUT_FILENO) || cfg->text)) {
        if (export_dump_at(cfg->replay, stdout, cfg->proto, cfg->verbose, &cfg->at,
                           err, sizeof err) < 0) {
            fprintf(stderr, "nianbao-view: %s\n", err);
            return 1;
        }
        return 0;
    }
    if (cfg->dump || cfg->html || cfg->pcap || cfg->side_by_side || !isatty(STDOUT_FILENO) ||
        cfg->text) {
        int status = 0;
        if (cfg->pcap)
            status = pcap_export(cfg->replay, cfg->pcap, err, sizeof err);
        if (status == 0 && cfg->html)
            status = export_html(cfg->replay, cfg->html, cfg->proto, err, sizeof err);
        if (status == 0 && cfg->side_by_side)
            status = export_side_by_side(cfg->replay, stdout, cfg->proto, err, sizeof err);
        if (status == 0 && (cfg->dump || (!cfg->html && !cfg->pcap && !cfg->side_by_side)))
            status = export_dump(cfg->replay, stdout, cfg->proto, cfg->verbose, err, sizeof err);
        if (status < 0) {
            fprintf(stderr, "nianbao-view: %s\n", err);
            return 1;
        }
        return 0;
    }
    if (access(cfg->replay, R_OK) < 0) {
        fprintf(stderr, "nianbao-view: cannot open %s: %s\n", cfg->replay, strerror(errno));
        return 1;
    }
    if (watch_init(&w, cfg->replay, cfg->proto) < 0) {
        fprintf(stderr, "nianbao-view: out of memory\n");
        return 1;
    }
    if (cfg->at_spec) {
        /* the screen at the event after which the byte's part is settled */
        struct decoder probe;
        uint64_t events;
        if (export_load_at(&probe, cfg->replay, cfg->proto, &cfg->at, &events,
                           err, sizeof err) < 0) {
            fprintf(stderr, "nianbao-view: %s\n", err);
            watch_free(&w);
            return 1;
        }
        decoder_free(&probe);
        w.limit = events;
    }
    if (watch_poll(&w) < 0) {
        fprintf(stderr, "nianbao-view: %s\n", w.error);
        watch_free(&w);
        return 1;
    }
    int status = view_loop(&w, cfg, cfg->replay, 0);
    watch_free(&w);
    return status;
}

/* PATH as an absolute path in BUF: the tap opens NIANBAO_TAP lazily, at
 * the first socket event, and a program that has chdir'd by then (or a
 * child that did) must still append to the same capture. Returns 0, or -1
 * with ERR filled. */
static int absolute_path(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
    char cwd[PATH_MAX];
    if (path[0] == '/') {
        snprintf(buf, len, "%s", path);
        return 0;
    }
    if (getcwd(cwd, sizeof cwd) == NULL) {
        snprintf(err, errlen, "cannot find the current directory for %s: %s", path,
                 strerror(errno));
        return -1;
    }
    if ((size_t)snprintf(buf, len, "%s/%s", cwd, path) >= len) {
        snprintf(err, errlen, "%s/%s: path too long", cwd, path);
        return -1;
    }
    return 0;
}

/* LD_PRELOAD's value with the tap library LIB first, before what was
 * there, into BUF with PREFIX before it ("LD_PRELOAD=" for an environment
 * entry). */
static void tap_preload(char *buf, size_t len, const char *prefix, const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    snprintf(buf, len, "%s%s%s%s", prefix, lib, old && *old ? ":" : "", old ? old : "");
}

/* --record FILE -- PROG: exactly LD_PRELOAD=tap NIANBAO_TAP=FILE PROG. We
 * become PROG (exec), so it keeps the terminal, gets the signals meant for
 * it and its exit status is the one the shell sees. */
static int run_record(const struct view_config *cfg)
{
    char lib[PATH_MAX], err[PATH_MAX + 512], preload[PATH_MAX * 2], capture[PATH_MAX];

    if (capture_find_tap_lib(lib, sizeof lib, err, sizeof err) < 0 ||
        absolute_path(cfg->record, capture, sizeof capture, err, sizeof err) < 0) {
        fprintf(stderr, "nianbao-view: %s\n", err);
        return 1;
    }
    tap_preload(preload, sizeof preload, "", lib);
    setenv("LD_PRELOAD", preload, 1);
    setenv("NIANBAO_TAP", capture, 1);
    execvp(cfg->prog_argv[0], cfg->prog_argv);
    fprintf(stderr, "nianbao-view: cannot run %s: %s\n", cfg->prog_argv[0], strerror(errno));
    return 127;
}

/* -- PROG: run PROG under the tap with its output in a log next to the
 * capture (the screen is ours), and watch it live. */
static int run_live(const struct view_config *cfg)
{
    char lib[PATH_MAX], err[512], dir[] = "/tmp/nianbao-view-XXXXXX";
    char capture[PATH_MAX], log[PATH_MAX], title[PATH_MAX + 64];
    struct watch w;
    int status = 1;

    if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
        fprintf(stderr, "nianbao-view: the live view needs a terminal; "
                "use --record FILE -- PROG, then --replay FILE --dump\n");
        return 2;
    }
    if (capture_find_tap_lib(lib, sizeof lib, err, sizeof err) < 0) {
        fprintf(stderr, "nianbao-view: %s\n", err);
        return 1;
    }
    if (!mkdtemp(dir)) {
        fprintf(stderr, "nianbao-view: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    snprintf(capture, sizeof capture, "%s/live.nbcap", dir);
    if (cfg->record && absolute_path(cfg->record, capture, sizeof capture, err, sizeof err) < 0) {
        fprintf(stderr, "nianbao-view: %s\n", err);
        goto end;
    }
    snprintf(log, sizeof log, "%s/output.log", dir);
    snprintf(title, sizeof title, "%s (%s: %s)", cfg->prog_argv[0], _("output in"), log);
    if (watch_init(&w, capture, cfg->proto) < 0)
        goto end;
    int log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_fd < 0) {
        fprintf(stderr, "nianbao-view: cannot create %s: %s\n", log, strerror(errno));
        watch_free(&w);
        goto end;
    }
    char preload[PATH_MAX * 2 + 16], tap[PATH_MAX + 16];
    char *env[] = { preload, tap, NULL };
    tap_preload(preload, sizeof preload, "LD_PRELOAD=", lib);
    snprintf(tap, sizeof tap, "NIANBAO_TAP=%s", capture);
    /* Gone with the viewer; its output in the log, the screen is ours. */
    struct spawn_opts opts = { .fd = { SPAWN_NULL, log_fd, log_fd }, .new_group = 1,
                               .parent_death_signal = SIGTERM, .env = env,
                               .search_path = 1 };
    struct spawn_child child;
    int started = spawn_start(&child, cfg->prog_argv[0], cfg->prog_argv, &opts, err,
                              sizeof err);
    close(log_fd);
    if (started < 0) {
        fprintf(stderr, "nianbao-view: %s\n", err);
        watch_free(&w);
        status = 127;
        goto end;
    }
    pid_t pid = child.pid;
    status = view_loop(&w, cfg, title, pid);
    watch_free(&w);
end:
    if (!cfg->record)
        unlink(capture);
    unlink(log);
    rmdir(dir);
    return status;
}

static int run_lesson(const struct view_config *cfg)
{
    char dir[PATH_MAX], root[PATH_MAX + 4];
    struct lesson_config lc = { 0 };

    if (exe_dir(dir, sizeof dir) < 0) {
        fprintf(stderr, "nianbao-view: cannot find my own folder: %s\n", strerror(errno));
        return 1;
    }
    snprintf(root, sizeof root, "%s/..", dir);
    lc.root = root;
    lc.text = cfg->text || !isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO);
    lc.color = cfg->no_color ? 0 : -1;
    lc.only_stage = (int)cfg->stage;
    lc.slicer_seed = (unsigned)cfg->seed;
    lc.svg = cfg->svg;
    lc.svg_step = (int)cfg->step;
    lc.svg_rows = cfg->rows;
    lc.svg_cols = cfg->cols;
    lc.svg_title = cfg->svg_title;
    lc.from_capture = cfg->from_capture;
    if (lc.svg)
        lc.color = cfg->no_color ? 0 : 1;
    return lesson_run(&lc, stdout);
}

/* --svg and its company: with what they go, --size and --keys spelled
 * right. Says what is wrong in one line (and where to look) and returns
 * -1, or returns 0 with CFG->cols and CFG->rows set. */
static int check_picture_options(struct view_config *cfg)
{
    const char *why = NULL;
    char buf[160];
    int picture = cfg->svg || cfg->svg_animate;

    cfg->cols = 80;
    cfg->rows = 24;
    if (cfg->svg && cfg->svg_animate)
        why = "--svg and --svg-animate: one picture at a time";
    else if (picture && (cfg->dump || cfg->html || cfg->pcap || cfg->side_by_side || cfg->text))
        why = "--svg and --svg-animate do not go with --dump, --html, --pcap, --side-by-side "
              "or --text";
    else if (cfg->svg_animate && !cfg->replay)
        why = "--svg-animate goes with --replay FILE";
    else if (cfg->svg && !cfg->replay && !cfg->lesson)
        why = "--svg goes with --replay FILE or --lesson";
    else if (!picture && (cfg->size_spec || cfg->keys || cfg->svg_title))
        why = "--size, --keys and --title go with --svg or --svg-animate";
    else if (cfg->step && !(cfg->lesson && cfg->svg))
        why = "--step goes with --lesson --svg";
    else if (cfg->lesson && cfg->svg && (cfg->keys || !cfg->stage))
        why = "--lesson --svg takes --stage N (and no --keys)";
    else if (cfg->keys && cfg->keys[strspn(cfg->keys, picture_keys)] != '\0') {
        snprintf(buf, sizeof buf, "--keys: '%c' is not one of %s",
                 cfg->keys[strspn(cfg->keys, picture_keys)], picture_keys);
        why = buf;
    } else if (cfg->size_spec) {
        int cols, rows, used = 0;
        if (sscanf(cfg->size_spec, "%3dx%3d%n", &cols, &rows, &used) != 2 ||
            cfg->size_spec[used] != '\0' || cols < 20 || cols > 400 || rows < 5 ||
            rows > 200) {
            snprintf(buf, sizeof buf, "--size wants COLSxROWS, 20x5 to 400x200, e.g. 80x24, "
                     "not '%.40s'", cfg->size_spec);
            why = buf;
        } else {
            cfg->cols = cols;
            cfg->rows = rows;
        }
    }
    if (!why)
        return 0;
    fprintf(stderr, "nianbao-view: %s\nTry 'nianbao-view --help' for more information.\n", why);
    return -1;
}

int main(int argc, char **argv)
{
    struct view_config cfg = { 0 };
    cfg.seed = 1;
    cfg.conn = 1;
    const struct cli_option options[] = {
        { "replay", 'r', CLI_STRING, &cfg.replay, "FILE",
          "view the capture FILE (followed while a tap still writes it)", 0, 0 },
        { "record", 'w', CLI_STRING, &cfg.record, "FILE",
          "with -- PROG ARGS: run PROG under the tap, writing FILE (no screen)", 0, 0 },
        { "dump", 0, CLI_FLAG, &cfg.dump, NULL,
          "with --replay: print the decoded streams as text", 0, 0 },
        { "html", 0, CLI_STRING, &cfg.html, "OUT",
          "with --replay: write a self-contained HTML page to OUT", 0, 0 },
        { "pcap", 0, CLI_STRING, &cfg.pcap, "OUT",
          "with --replay: write the capture as a pcap file to OUT (Wireshark, tshark)", 0, 0 },
        { "side-by-side", 0, CLI_FLAG, &cfg.side_by_side, NULL,
          "with --replay: what a one-recv reader and a framed reader print", 0, 0 },
        { "proto", 0, CLI_STRING, &cfg.proto_name, "raw|len|json|ft|stageN",
          "the framing (ft: stage 5's, both ways; default: guessed from the program, bytes and port)", 0, 0 },
        { "verbose", 'v', CLI_FLAG, &cfg.verbose, NULL,
          "--dump: include times, pids and ports", 0, 0 },
        { "lesson", 0, CLI_FLAG, &cfg.lesson, NULL,
          "the guided lesson of `make demo`", 0, 0 },
        { "text", 0, CLI_FLAG, &cfg.text, NULL,
          "print the lesson (or --replay's dump) as text even on a terminal", 0, 0 },
        { "stage", 0, CLI_UINT, &cfg.stage, "N",
          "lesson: only stage N (1 to 6)", 1, 6 },
        { "seed", 0, CLI_UINT, &cfg.seed, "S",
          "lesson: the slicer's seed (default 1)", 0, 4294967295UL },
        { "lang", 0, CLI_STRING, &cfg.lang, "en|zh",
          "language of the lesson and the screen (default: from the locale)", 0, 0 },
        { "no-color", 0, CLI_FLAG, &cfg.no_color, NULL,
          "reverse/underline/bold instead of colours", 0, 0 },
        { "at", 0, CLI_STRING, &cfg.at_spec, "DIR:OFFSET",
          "with --replay: open at byte OFFSET of the up or down stream, marked "
          "(--dump: print the part around it)", 0, 0 },
        { "conn", 0, CLI_UINT, &cfg.conn, "N",
          "with --at or --svg: connection N (default 1, the first)", 1, 4294967295UL },
        { "svg", 0, CLI_STRING, &cfg.svg, "OUT",
          "with --replay: write the screen (at the end, or --at) as an SVG picture to OUT; "
          "with --lesson: a step's screen", 0, 0 },
        { "svg-animate", 0, CLI_STRING, &cfg.svg_animate, "OUT",
          "with --replay: write an animated SVG to OUT, the screen after each event", 0, 0 },
        { "size", 0, CLI_STRING, &cfg.size_spec, "COLSxROWS",
          "--svg, --svg-animate: the screen's size (default 80x24)", 0, 0 },
        { "keys", 0, CLI_STRING, &cfg.keys, "KEYS",
          "--svg, --svg-animate: press these keys first (of jkbfgGxwsnNd?: e.g. n, d, w)", 0, 0 },
        { "title", 0, CLI_STRING, &cfg.svg_title, "TEXT",
          "--svg, --svg-animate: the picture's title (its alt text)", 0, 0 },
        { "step", 0, CLI_UINT, &cfg.step, "K",
          "lesson --svg: the screen of step K of --stage (default the last)", 1, 100 },
        { "from-capture", 0, CLI_STRING, &cfg.from_capture, "FILE",
          "lesson --stage 1: read the steps from FILE, a capture of an earlier lesson run, "
          "instead of running them", 0, 0 },
    };
    const struct cli_program prog = {
        "nianbao-view",
        "Shows a TCP byte stream as the tap recorded it: sends, recv boundaries, frames, STALE replies.",
        "the byte-stream viewer", options, sizeof options / sizeof options[0],
        "Modes:\n"
        "  nianbao-view -- PROG [ARGS]             live view of PROG run under the tap\n"
        "      (PROG's stdin is /dev/null and its output goes to a log: the screen\n"
        "      is the viewer's. For an interactive PROG, run --record FILE -- PROG\n"
        "      in one terminal and --replay FILE, which follows it, in another.)\n"
        "  nianbao-view --record FILE -- PROG ...  run PROG under the tap, capture to FILE\n"
        "  nianbao-view --replay FILE              view a capture (live while it grows)\n"
        "  nianbao-view --replay FILE --dump       the same as text (also when not a tty)\n"
        "  nianbao-view --replay FILE --svg OUT    the screen as a picture (--svg-animate:\n"
        "      one frame per event)\n"
        "  nianbao-view --lesson [--lang zh]       the guided lesson (make demo)\n"
        "Keys: arrows/PgUp/PgDn scroll, End follow, x hex, n next connection,\n"
        "d direction, p pause, [ ] step events, ? help, q quit."
    };
    struct cli_outcome cli;
    int opt_argc = argc;

    /* Everything after "--" is the program to run, not our options. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            opt_argc = i;
            cfg.prog_argv = i + 1 < argc ? &argv[i + 1] : NULL;
            break;
        }
    cli_parse(&prog, opt_argc, argv, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    if (language_setup(cfg.lang) < 0) {
        fprintf(stderr, "nianbao-view: --lang: '%s' is not en or zh\n", cfg.lang);
        return 2;
    }
    if (cfg.proto_name && (proto_parse(cfg.proto_name, &cfg.proto) < 0)) {
        fprintf(stderr, "nianbao-view: --proto: '%s' is not raw, len, json, ft or stage1..stage6\n",
                cfg.proto_name);
        return 2;
    }
    int modes = (cfg.lesson != 0) + (cfg.replay != NULL) + (cfg.prog_argv != NULL);
    if (modes != 1 || (cfg.record && !cfg.prog_argv) ||
        ((cfg.dump || cfg.html || cfg.pcap || cfg.side_by_side) && !cfg.replay)) {
        fprintf(stderr, "nianbao-view: choose one of --lesson, --replay FILE, or -- PROG "
                "(--record, --dump, --html, --pcap and --side-by-side go with them)\n"
                "Try 'nianbao-view --help' for more information.\n");
        return 2;
    }
    if (cfg.at_spec && (!cfg.replay || cfg.html || cfg.pcap || cfg.side_by_side ||
                        cfg.svg_animate)) {
        fprintf(stderr, "nianbao-view: --at goes with --replay FILE (the screen or --dump)\n"
                "Try 'nianbao-view --help' for more information.\n");
        return 2;
    }
    if (cfg.from_capture && !(cfg.lesson && cfg.stage == 1)) {
        /* stage 1's client prints each recv as it is: its output is in
         * the capture; other stages' clients print what they decoded */
        fprintf(stderr, "nianbao-view: --from-capture goes with --lesson --stage 1\n"
                "Try 'nianbao-view --help' for more information.\n");
        return 2;
    }
    if (check_picture_options(&cfg) < 0)
        return 2;
    if (cfg.at_spec && parse_at(&cfg) < 0) {
        fprintf(stderr, "nianbao-view: --at wants DIR:OFFSET, DIR up or down, e.g. down:1024, "
                "not '%s'\n"
                "Try 'nianbao-view --help' for more information.\n", cfg.at_spec);
        return 2;
    }
    if (cfg.lesson)
        return run_lesson(&cfg);
    if (cfg.replay)
        return run_replay(&cfg);
    if (cfg.record)
        return run_record(&cfg);
    return run_live(&cfg);
}
