/* main.c - the grader (tools/grade): checks a student's client or server
 * against every way a TCP byte stream can be cut, and shows where it broke.
 *
 *   grade client --proto stage3 -- python3 client.py {port}
 *   grade server --proto stage4 -- ./server --port {port}
 *
 * The grader stands in the middle: it is the server for a client under
 * test and the clients for a server under test, so it needs no LD_PRELOAD
 * and grades static binaries and Python alike. Every scenario is built
 * from a seed (the same splitmix64 streams as tools/slicer), and every
 * piece is sent only once the program has read the previous one: the same
 * seed gives the same cuts, as the program sees them, and the same verdict,
 * however loaded the machine is.
 *
 * The scenarios, the framing of each stage and the engine live beside it in
 * grader/; this file is the command line. */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "class.h"
#include "cli.h"
#include "engine.h"
#include "escape.h"
#include "grade.h"
#include "proto.h"
#include "report.h"

#define EXIT_FAILED 1      /* a scenario failed                  */
#define EXIT_USAGE 2
#define EXIT_TROUBLE 3     /* the grader itself could not run    */

struct grade_options {
    const char *proto;
    unsigned long seed;
    const char *only;
    const char *captures;
    unsigned long repeat, scenario_limit;
    int list, tap, concurrent, waits;
    const char *format;
    const char *each;          /* only for --help: main takes --each's DIRs */
    unsigned long jobs;        /* 0: the default                            */
    const char *html;
    const char *verdicts_json;
};

static char prog_name[64] = "grade";

/* Ends the program under test with us: it runs in a process group of its
 * own, so the terminal's Ctrl-C does not reach it; its daemons, in
 * sessions of their own, are our descendants (the subreaper). */
static void on_signal(int sig)
{
    child_kill_all_from_signal();
    class_kill_all_from_signal();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
        sigaction(SIGHUP, &sa, NULL) < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int concurrent_option;

static int applies(const struct scenario *sc, enum grade_mode mode, unsigned proto)
{
    return scenario_applies(sc, mode, proto, concurrent_option);
}

/* NAME is in the comma-separated LIST. */
static int listed(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        size_t word = strcspn(p, ",");
        if (word == len && strncmp(p, name, len) == 0)
            return 1;
        p += word + (p[word] == ',');
    }
    return 0;
}

static void print_list(enum grade_mode mode, unsigned proto)
{
    for (size_t i = 0; i < scenario_count; i++) {
        const struct scenario *sc = &scenarios[i];
        if (!applies(sc, mode, proto))
            continue;
        printf("%-17s %s (catches:", sc->name, sc->title);
        int any = 0;
        for (unsigned bit = 1; bit < 1u << BUG_COUNT; bit <<= 1)
            if (scenario_catches(sc, proto) & bit) {
                printf("%s %s", any ? "," : "", bug_name(bit));
                any = 1;
            }
        printf("%s)\n", any ? "" : " -");
    }
}

/* How to call the viewer in the printed command: by name when it is on
 * PATH, else the one built beside us (tools/../viewer/nianbao-view). */
static void find_viewer(char *buf, size_t len)
{
    const char *path = getenv("PATH");
    snprintf(buf, len, "nianbao-view");
    for (const char *p = path ? path : ""; *p;) {
        size_t dir_len = strcspn(p, ":");
        char candidate[PATH_MAX];
        snprintf(candidate, sizeof candidate, "%.*s/nianbao-view", (int)dir_len, p);
        if (dir_len > 0 && access(candidate, X_OK) == 0)
            return;
        p += dir_len + (p[dir_len] == ':');
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return;
    self[n] = '\0';
    char candidate[PATH_MAX + 32];
    snprintf(candidate, sizeof candidate, "%s/../viewer/nianbao-view", dirname(self));
    char resolved[PATH_MAX];
    if (realpath(candidate, resolved) && access(resolved, X_OK) == 0) {
        char cwd[PATH_MAX];
        size_t cwd_len;
        /* Relative to here when it is below here: shorter to read. */
        if (getcwd(cwd, sizeof cwd) && (cwd_len = strlen(cwd)) > 0 &&
            strncmp(resolved, cwd, cwd_len) == 0 && resolved[cwd_len] == '/')
            snprintf(buf, len, "%s", resolved + cwd_len + 1);
        else
            snprintf(buf, len, "%s", resolved);
    }
}

/* DIR with each run of slashes made one and no slash at its end: the
 * paths made of it ("DIR/grade.txt") have no "//". */
static void tidy_dir(char *dir)
{
    char *w = dir;
    for (const char *p = dir; *p; p++)
        if (!(*p == '/' && w > dir && w[-1] == '/'))
            *w++ = *p;
    while (w > dir + 1 && w[-1] == '/')
        w--;
    *w = '\0';
}

/* One line on stderr about DIR, safe for a terminal whatever its name. */
static void dir_error(const char *dir, const char *what)
{
    fprintf(stderr, "%s: --each: ", prog_name);
    terminal_put(stderr, dir);
    fprintf(stderr, ": %s\n", what);
}

/* The default --jobs: grading mostly waits for the program (its start, its
 * reads, the grader's pauses), so a few graders per CPU keep the CPUs busy. */
#define JOBS_PER_CPU 4

/* --each: every DIR checked before any is graded, then the class. Returns
 * the exit status. */
static int grade_class(const struct grade_options *opt, enum grade_mode mode, char **dirs,
                       size_t n_dirs, char **program, const char *self,
                       enum report_format format, size_t total)
{
    struct stat seen[n_dirs ? n_dirs : 1];
    for (size_t i = 0; i < n_dirs; i++) {
        tidy_dir(dirs[i]);
        if (stat(dirs[i], &seen[i]) < 0) {
            dir_error(dirs[i], strerror(errno));
            return EXIT_USAGE;
        }
        if (!S_ISDIR(seen[i].st_mode)) {
            dir_error(dirs[i], "not a directory");
            return EXIT_USAGE;
        }
        for (size_t k = 0; k < i; k++)
            if (seen[k].st_dev == seen[i].st_dev && seen[k].st_ino == seen[i].st_ino) {
                char what[PATH_MAX + 64];
                snprintf(what, sizeof what, "the same directory as %s, named before", dirs[k]);
                dir_error(dirs[i], what);
                return EXIT_USAGE;
            }
    }
    FILE *html = NULL;
    if (opt->html && (html = fopen(opt->html, "w")) == NULL) {
        fprintf(stderr, "%s: --html: cannot write ", prog_name);
        terminal_put(stderr, opt->html);
        fprintf(stderr, ": %s\n", strerror(errno));
        return EXIT_USAGE;
    }

    /* Each submission's grader gets our options (and its own --format,
     * --captures, --verdicts-json). */
    char seed[32], repeat[32], limit[32];
    char *grader_args[16];
    size_t n = 0;
    grader_args[n++] = mode == MODE_CLIENT ? "client" : "server";
    grader_args[n++] = "--proto";
    grader_args[n++] = (char *)opt->proto;
    snprintf(seed, sizeof seed, "%lu", opt->seed);
    grader_args[n++] = "--seed";
    grader_args[n++] = seed;
    if (opt->only) {
        grader_args[n++] = "--only";
        grader_args[n++] = (char *)opt->only;
    }
    if (opt->concurrent)
        grader_args[n++] = "--concurrent";
    if (opt->repeat != 1) {
        snprintf(repeat, sizeof repeat, "%lu", opt->repeat);
        grader_args[n++] = "--repeat";
        grader_args[n++] = repeat;
    }
    if (opt->waits)
        grader_args[n++] = "--waits";
    if (opt->scenario_limit != 60) {
        snprintf(limit, sizeof limit, "%lu", opt->scenario_limit);
        grader_args[n++] = "--scenario-limit";
        grader_args[n++] = limit;
    }
    grader_args[n] = NULL;

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct class_run run = {
        .dirs = dirs, .n_dirs = n_dirs, .grader_args = grader_args, .program = program,
        .self = self, .format = format, .total = total,
        .jobs = opt->jobs ? opt->jobs : (unsigned long)(cpus > 0 ? cpus : 1) * JOBS_PER_CPU,
        .table = stdout, .errors = stderr, .html = html,
    };
    if (install_signals() < 0) {
        fprintf(stderr, "%s: cannot set up signals: %s\n", prog_name, strerror(errno));
        return EXIT_TROUBLE;
    }
    struct class_outcome outcome;
    char err[512];
    int rc = class_grade(&run, &outcome, err, sizeof err);
    if (html && fclose(html) != 0 && rc == 0) {
        snprintf(err, sizeof err, "cannot write %s: %s", opt->html, strerror(errno));
        rc = -1;
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", prog_name, err);
        return EXIT_TROUBLE;
    }
    return outcome.trouble ? EXIT_TROUBLE : outcome.failed ? EXIT_FAILED : 0;
}

int main(int argc, char **argv)
{
    struct grade_options opt = { .seed = 1, .repeat = 1, .scenario_limit = 60 };
    char protos[128], about[512];
    proto_names("|", protos, sizeof protos);
    const struct cli_option options[] = {
        { "proto", 0, CLI_CHOICE, &opt.proto, protos,
          "the stage whose protocol the program speaks (required)", 0, 0 },
        { "seed", 's', CLI_UINT, &opt.seed, "N",
          "the seed every scenario is built from (default 1)", 0, 4294967295UL },
        { "only", 0, CLI_STRING, &opt.only, "NAME[,NAME]", "run only these scenarios", 0, 0 },
        { "list", 'l', CLI_FLAG, &opt.list, NULL,
          "list the scenarios (and the bugs each catches), run nothing", 0, 0 },
        { "format", 0, CLI_CHOICE, &opt.format, "text|tap|junit|gradescope",
          "the report: text (default), TAP, JUnit XML, Gradescope's results.json", 0, 0 },
        { "tap", 0, CLI_FLAG, &opt.tap, NULL, "--format tap (TAP, the Test Anything Protocol)", 0, 0 },
        { "captures", 0, CLI_STRING, &opt.captures, "DIR",
          "where captures of failed scenarios go (default grade-captures)", 0, 0 },
        { "each", 0, CLI_STRING, &opt.each, "DIR...",
          "grade a class: the command once per DIR, {dir} replaced (see below)", 0, 0 },
        { "jobs", 'j', CLI_UINT, &opt.jobs, "N",
          "--each: grade N submissions at a time (default 4 per CPU)", 1, 256 },
        { "html", 0, CLI_STRING, &opt.html, "FILE",
          "--each: also write the class's page: submissions x scenarios", 0, 0 },
        { "verdicts-json", 0, CLI_STRING, &opt.verdicts_json, "FILE",
          "also write every verdict, with its steps, as JSON (what --each reads)", 0, 0 },
        { "concurrent", 0, CLI_FLAG, &opt.concurrent, NULL,
          "server: also the scenarios of stage 6 (many clients at once)", 0, 0 },
        { "repeat", 0, CLI_UINT, &opt.repeat, "N",
          "run each scenario N times, with --seed's seed and the N-1 after it (default 1)", 1, 1000 },
        { "waits", 0, CLI_FLAG, &opt.waits, NULL,
          "after each scenario, say how long it took and how its waits ended", 0, 0 },
        { "scenario-limit", 0, CLI_UINT, &opt.scenario_limit, "SECS",
          "end a scenario's waits once it has run SECS (default 60; the last guard)", 1, 3600 },
    };
    char epilog[3072];
    snprintf(about, sizeof about,
             "Grades a client or a server of the lab (any language) against every way a TCP\n"
             "stream can be cut. The grader plays the other end:\n"
             "  grade client --proto %s [options] -- CMD [ARGS...]\n"
             "  grade server --proto %s [options] -- CMD [ARGS...]", protos, protos);
    const struct cli_program prog = {
        prog_name,
        about,
        "a lab tool: grades framing code against seeded cuts",
        options, sizeof options / sizeof options[0], epilog,
    };
    snprintf(epilog, sizeof epilog,
             "In CMD's arguments {port} becomes the port (and {host} 127.0.0.1); both are also\n"
             "in the environment as NIANBAO_PORT and NIANBAO_HOST. A client gets its commands\n"
             "on stdin, one a line, and must print each reply's body on stdout, exactly; a\n"
             "server listens on {port} or prints 'listening on ADDR:PORT'. Stage 5 programs\n"
             "speak the stage 5 frames (exec requests, output and exit replies).\n"
             "\n"
             "The grader waits for what the program does (reads, sends, a client's stdout,\n"
             "processes started or ended, exit); other output is not progress. It gives up\n"
             "on a program that waits with no progress for 1 s, 3 s before it first connects\n"
             "or listens (stuck), that uses 0.5 s of CPU with no progress (spinning), or,\n"
             "as a last guard, that does nothing at all for 30 s or is still at it when its\n"
             "scenario has run 60 s (--scenario-limit).\n"
             "--waits shows which.\n"
             "\n"
             "Exit status: 0 every scenario passed, 1 some failed, 2 usage, 3 the grader\n"
             "could not run (no socket, no fork).\n"
             "\n"
             "A class: --each DIR... (the words up to the next option) grades CMD once per\n"
             "DIR, {dir} in CMD becoming DIR, with the same seed, --jobs at a time. Each DIR\n"
             "gets its report (grade.txt, grade.tap, grade.xml or results.json, after\n"
             "--format) and its captures (DIR/grade-captures); stdout gets the class table:\n"
             "each DIR, passed/total, the scenarios it failed. Exit status: 0 every DIR\n"
             "passed, 1 some failed, 2 usage (a DIR that is no directory), 3 some DIR could\n"
             "not be graded.\n"
             "\n"
             "Examples:\n"
             "  %s client --proto stage3 -- python3 exercises/stage3/client.py {port}\n"
             "  %s server --proto stage4 --tap -- stage4_json_header/server --port {port}\n"
             "  %s client --proto stage3 --each subs/* --html class.html -- python3 {dir}/client.py {port}",
             prog_name, prog_name, prog_name);

    /* We are named after how we were called: grade or nianbao-grade. */
    char self_copy[PATH_MAX];
    snprintf(self_copy, sizeof self_copy, "%s", argv[0]);
    snprintf(prog_name, sizeof prog_name, "%s", basename(self_copy));

    /* Everything after "--" is the program. */
    int opt_argc = argc;
    char **program = NULL;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            opt_argc = i;
            program = i + 1 < argc ? &argv[i + 1] : NULL;
            break;
        }
    struct cli_outcome cli;
    /* The mode word, wherever it is among the options; --each's DIRs, which
     * getopt cannot take (an option with many values). */
    enum grade_mode mode = 0;
    char *args[opt_argc + 1], *dirs[opt_argc + 1];
    int n_args = 0, n_dirs = 0, each = 0;
    args[n_args++] = argv[0];
    for (int i = 1; i < opt_argc; i++) {
        const char *a = argv[i];
        if (!mode && (strcmp(a, "client") == 0 || strcmp(a, "server") == 0)) {
            mode = a[0] == 'c' ? MODE_CLIENT : MODE_SERVER;
            continue;
        }
        if (strcmp(a, "--each") == 0 || strncmp(a, "--each=", 7) == 0) {
            int before = n_dirs;
            if (a[6] == '=')
                dirs[n_dirs++] = argv[i] + 7;
            else
                while (i + 1 < opt_argc && argv[i + 1][0] != '-')
                    dirs[n_dirs++] = argv[++i];
            if (n_dirs == before) {
                cli_usage_error(&prog, &cli, "--each: name the submissions' directories after it "
                                "(--each subs/*)");
                fputs(cli.text, stderr);
                return EXIT_USAGE;
            }
            each = 1;
            continue;
        }
        args[n_args++] = argv[i];
        /* The value of an option that takes one is not the mode word. */
        static const char *const with_value[] = { "--proto", "--seed", "-s", "--only",
                                                  "--captures", "--repeat",
                                                  "--scenario-limit", "--format", "--jobs",
                                                  "-j", "--html", "--verdicts-json" };
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
            if (strcmp(a, with_value[k]) == 0 && i + 1 < opt_argc) {
                args[n_args++] = argv[++i];
                break;
            }
    }
    args[n_args] = NULL;
    dirs[n_dirs] = NULL;

    cli_parse(&prog, n_args, args, &cli);
    if (!cli.run) {
        fputs(cli.text, cli.to_stderr ? stderr : stdout);
        return cli.exit_status;
    }
    if (!mode) {
        cli_usage_error(&prog, &cli, "say what to grade: '%s client ...' or '%s server ...'",
                        prog_name, prog_name);
        fputs(cli.text, stderr);
        return EXIT_USAGE;
    }
    if (!opt.proto) {
        cli_usage_error(&prog, &cli, "--proto %s is required: which stage does the program "
                        "speak?", protos);
        fputs(cli.text, stderr);
        return EXIT_USAGE;
    }
    concurrent_option = opt.concurrent;
    if (opt.concurrent && mode != MODE_SERVER) {
        cli_usage_error(&prog, &cli, "--concurrent is for a server (many clients at once)");
        fputs(cli.text, stderr);
        return EXIT_USAGE;
    }
    unsigned proto = proto_find(opt.proto)->bit;     /* CLI_CHOICE took one of them */
    if (opt.list) {
        print_list(mode, proto);
        return 0;
    }
    if (program == NULL) {
        cli_usage_error(&prog, &cli, "no program to grade: put it after --, e.g. -- python3 %s.py "
                        "{port}", mode == MODE_CLIENT ? "client" : "server");
        fputs(cli.text, stderr);
        return EXIT_USAGE;
    }

    /* The scenarios to run. */
    size_t total = 0;
    if (opt.only) {
        for (const char *p = opt.only; *p;) {
            size_t word = strcspn(p, ",");
            int known = 0;
            for (size_t i = 0; i < scenario_count; i++)
                known |= strlen(scenarios[i].name) == word &&
                         strncmp(scenarios[i].name, p, word) == 0 &&
                         applies(&scenarios[i], mode, proto);
            if (!known) {
                char names[1024] = "";
                size_t used = 0;
                for (size_t i = 0; i < scenario_count; i++)
                    if (applies(&scenarios[i], mode, proto) && used < sizeof names)
                        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                                 used ? " " : "", scenarios[i].name);
                cli_usage_error(&prog, &cli, "--only: no scenario '%.*s' for a %s %s (there are: "
                                "%s)", (int)word, p, opt.proto,
                                mode == MODE_CLIENT ? "client" : "server", names);
                fputs(cli.text, stderr);
                return EXIT_USAGE;
            }
            p += word + (p[word] == ',');
        }
    }
    for (size_t i = 0; i < scenario_count; i++)
        if (applies(&scenarios[i], mode, proto) && (!opt.only || listed(opt.only, scenarios[i].name)))
            total++;

    /* The report's format: --tap is --format tap. */
    enum report_format format = opt.format ? (enum report_format)format_parse(opt.format)
                                           : FORMAT_TEXT;
    if (opt.tap && opt.format && format != FORMAT_TAP) {
        cli_usage_error(&prog, &cli, "--tap is --format tap: give one of them");
        fputs(cli.text, stderr);
        return EXIT_USAGE;
    }
    if (opt.tap)
        format = FORMAT_TAP;
    int names_dir = 0;
    for (int i = 0; program[i]; i++)
        names_dir |= strstr(program[i], "{dir}") != NULL;
    const char *misplaced = NULL;
    if (!each && (opt.html || opt.jobs))
        misplaced = opt.html ? "--html" : "--jobs";
    else if (each && (opt.captures || opt.verdicts_json))
        misplaced = opt.captures ? "--captures" : "--verdicts-json";
    if (misplaced) {
        cli_usage_error(&prog, &cli, each ? "%s is not for --each: each DIR gets its own (its "
                        "captures in DIR/grade-captures)" : "%s is for a class: grade with "
                        "--each DIR...", misplaced);
        fputs(cli.text, stderr);
        return EXIT_USAGE;
    }
    if (names_dir != each) {
        cli_usage_error(&prog, &cli, each ? "--each: the command must say where a submission "
                        "is: put {dir} in it (-- python3 {dir}/client.py {port})"
                        : "{dir} in the command is for a class: grade with --each DIR...");
        fputs(cli.text, stderr);
        return EXIT_USAGE;
    }
    if (each)
        return grade_class(&opt, mode, dirs, (size_t)n_dirs, program, argv[0], format,
                           total * opt.repeat);
    if (opt.captures == NULL)
        opt.captures = "grade-captures";

    if (install_signals() < 0) {
        fprintf(stderr, "%s: cannot set up signals: %s\n", prog_name, strerror(errno));
        return EXIT_TROUBLE;
    }
    if (child_reaper_setup() < 0) {
        fprintf(stderr, "%s: cannot become the reaper of the programs it runs "
                "(PR_SET_CHILD_SUBREAPER): %s\n", prog_name, strerror(errno));
        return EXIT_TROUBLE;
    }

    char self_args[PATH_MAX + 64] = "", quoted[PATH_MAX + 8];
    if (strcmp(opt.captures, "grade-captures") != 0) {
        shell_quote(opt.captures, quoted, sizeof quoted);
        snprintf(self_args, sizeof self_args, "--captures %s", quoted);
    }
    if (opt.concurrent)
        snprintf(self_args + strlen(self_args), sizeof self_args - strlen(self_args), "%s%s",
                 self_args[0] ? " " : "", "--concurrent");
    if (opt.scenario_limit != 60)
        snprintf(self_args + strlen(self_args), sizeof self_args - strlen(self_args),
                 "%s--scenario-limit %lu", self_args[0] ? " " : "", opt.scenario_limit);
    struct grade_config cfg = {
        .mode = mode,
        .proto = proto,
        .argv = program,
        .seed = opt.seed,
        .captures_dir = opt.captures,
        .self = argv[0],
        .self_args = self_args,
        .scenario_s = opt.scenario_limit,
    };
    char viewer[PATH_MAX], program_line[2048];
    find_viewer(viewer, sizeof viewer);
    size_t used = 0;
    program_line[0] = '\0';
    for (int i = 0; program[i] && used < sizeof program_line; i++) {
        shell_quote(program[i], quoted, sizeof quoted);
        used += (size_t)snprintf(program_line + used, sizeof program_line - used, "%s%s",
                                 i ? " " : "", quoted);
    }
    struct report rep = { .out = stdout, .format = format, .waits = opt.waits,
                          .repeat = opt.repeat > 1, .cfg = &cfg, .viewer = viewer };
    report_begin(&rep, total * opt.repeat, program_line, opt.verdicts_json != NULL);

    for (unsigned long round = 0; round < opt.repeat; round++) {
        cfg.seed = opt.seed + round;
        for (size_t i = 0; i < scenario_count; i++) {
            const struct scenario *sc = &scenarios[i];
            if (!applies(sc, mode, proto) || (opt.only && !listed(opt.only, sc->name)))
                continue;
            struct script s;
            struct verdict v;
            char err[512];
            if (scenario_build(sc, proto, cfg.seed, &s) < 0) {
                fprintf(stderr, "%s: %s: out of memory building the scenario\n", prog_name,
                        sc->name);
                script_free(&s);
                report_free(&rep);
                return EXIT_TROUBLE;
            }
            if (engine_run(&cfg, sc, &s, &v, err, sizeof err) < 0) {
                fprintf(stderr, "%s: %s: %s\n", prog_name, sc->name, err);
                script_free(&s);
                verdict_free(&v);
                report_free(&rep);
                return EXIT_TROUBLE;
            }
            report_scenario(&rep, sc, &v, cfg.seed);
            script_free(&s);
            verdict_free(&v);
        }
    }
    char err[512];
    int ended = report_end(&rep, opt.verdicts_json, err, sizeof err);
    int failed = rep.failed != 0;
    report_free(&rep);
    if (ended < 0) {
        fprintf(stderr, "%s: %s\n", prog_name, err);
        return EXIT_TROUBLE;
    }
    return failed ? EXIT_FAILED : 0;
}
