/* class.c - grading a whole class (see class.h). */
#define _GNU_SOURCE
#include "class.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "escape.h"
#include "spawn_child.h"

enum sub_state { SUB_WAITING, SUB_RUNNING, SUB_DONE };

struct submission {
    const char *dir;
    char report[PATH_MAX + 16];
    char captures[PATH_MAX + 16];
    char verdicts[PATH_MAX];      /* in our temporary folder */
    char errors[PATH_MAX];        /* its grader's stderr, ditto */
    enum sub_state state;
    pid_t pid;
    cJSON *verdict;               /* what its grader handed back */
    char trouble[512];            /* why it could not be graded, or "" */
};

struct class_state {
    const struct class_run *run;
    struct submission *subs;
    char tmp[64];
};

/* The graders running, for the signal handler. */
static struct class_state *volatile active;

void class_kill_all_from_signal(void)
{
    struct class_state *st = active;
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->run->n_dirs; i++)
        if (st->subs[i].state == SUB_RUNNING && st->subs[i].pid > 0)
            kill(st->subs[i].pid, SIGTERM);
    /* Each ends its program and itself at once; then nothing writes into
     * our temporary folder any more, and it goes (all of this is
     * async-signal-safe). */
    for (size_t i = 0; i < st->run->n_dirs; i++)
        if (st->subs[i].state == SUB_RUNNING && st->subs[i].pid > 0)
            waitpid(st->subs[i].pid, NULL, 0);
    for (size_t i = 0; i < st->run->n_dirs; i++) {
        unlink(st->subs[i].verdicts);
        unlink(st->subs[i].errors);
    }
    rmdir(st->tmp);
}

const char *class_report_name(enum report_format format)
{
    static const char *const names[] = { "grade.txt", "grade.tap", "grade.xml", "results.json" };
    return names[format];
}

/* ARG with every "{dir}" replaced by DIR, in a new string (NULL: out of memory). */
static char *with_dir(const char *arg, const char *dir)
{
    size_t n = 0;
    for (const char *p = arg; (p = strstr(p, "{dir}")) != NULL; p += 5)
        n++;
    char *out = malloc(strlen(arg) + n * strlen(dir) + 1);
    if (out == NULL)
        return NULL;
    char *w = out;
    for (const char *p = arg; *p;) {
        if (strncmp(p, "{dir}", 5) == 0) {
            w = stpcpy(w, dir);
            p += 5;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return out;
}

/* Starts the grader of submission SUB. On a problem of the submission's
 * own (its report cannot be written) it is done at once, with TROUBLE
 * saying why. Returns 0, or -1 with ERR filled when we cannot start its grader. */
static int start(struct class_state *st, struct submission *sub, char *err, size_t errlen)
{
    const struct class_run *run = st->run;
    size_t n_opts = 0, n_prog = 0;
    while (run->grader_args[n_opts])
        n_opts++;
    while (run->program[n_prog])
        n_prog++;
    char **argv = calloc(n_opts + n_prog + 12, sizeof *argv);
    char **owned = calloc(n_prog + 1, sizeof *owned);
    int report_fd = -1, errors_fd = -1, rc = 0;
    if (argv == NULL || owned == NULL) {
        snprintf(sub->trouble, sizeof sub->trouble, "out of memory");
        goto end;
    }
    size_t n = 0;
    argv[n++] = (char *)run->self;
    for (size_t i = 0; i < n_opts; i++)
        argv[n++] = run->grader_args[i];
    argv[n++] = "--format";
    argv[n++] = (char *)format_name(run->format);
    argv[n++] = "--captures";
    argv[n++] = sub->captures;
    argv[n++] = "--verdicts-json";
    argv[n++] = sub->verdicts;
    argv[n++] = "--";
    for (size_t i = 0; i < n_prog; i++) {
        if ((owned[i] = with_dir(run->program[i], sub->dir)) == NULL) {
            snprintf(sub->trouble, sizeof sub->trouble, "out of memory");
            goto end;
        }
        argv[n++] = owned[i];
    }
    argv[n] = NULL;

    report_fd = open(sub->report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (report_fd < 0) {
        snprintf(sub->trouble, sizeof sub->trouble, "cannot write %.300s: %s", sub->report,
                 strerror(errno));
        goto end;
    }
    errors_fd = open(sub->errors, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (errors_fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", sub->errors, strerror(errno));
        rc = -1;
        goto end;
    }
    /* Its report on its stdout, its complaints in ERRORS, no stdin: the
     * grader feeds the program's stdin itself. */
    struct spawn_opts opts = { .fd = { SPAWN_NULL, report_fd, errors_fd } };
    struct spawn_child grader;
    if (spawn_start(&grader, "/proc/self/exe", argv, &opts, err, errlen) < 0) {
        rc = -1;
        goto end;
    }
    pid_t pid = grader.pid;
    sub->pid = pid;
    sub->state = SUB_RUNNING;
end:
    if (report_fd >= 0)
        close(report_fd);
    if (errors_fd >= 0)
        close(errors_fd);
    for (size_t i = 0; owned && i < n_prog; i++)
        free(owned[i]);
    free(owned);
    free(argv);
    if (sub->state != SUB_RUNNING && rc == 0)
        sub->state = SUB_DONE;
    return rc;
}

/* The file at PATH, whole, in a new string (NULL: unreadable). */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *text = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (cap - *len < 4096) {
            char *grown = realloc(text, cap = cap * 2 + 8192);
            if (grown == NULL) {
                free(text);
                fclose(f);
                return NULL;
            }
            text = grown;
        }
        size_t got = fread(text + *len, 1, cap - *len - 1, f);
        *len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    text[*len] = '\0';
    return text;
}

/* What a grader said on stderr: on ERRORS, each line after its directory;
 * its first line into FIRST. */
static void pass_on_errors(const struct class_run *run, const struct submission *sub,
                           char *first, size_t first_len)
{
    size_t len;
    char *text = slurp(sub->errors, &len);
    first[0] = '\0';
    if (text == NULL)
        return;
    char prog[PATH_MAX];
    snprintf(prog, sizeof prog, "%s", run->self);
    char *base = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (first[0] == '\0')
            snprintf(first, first_len, "%s", line);
        fprintf(run->errors, "%s: %s: ", base, sub->dir);
        terminal_put(run->errors, line);
        fputc('\n', run->errors);
    }
    free(text);
}

/* Submission SUB's grader ended with wait status STATUS. */
static void finish(struct class_state *st, struct submission *sub, int status)
{
    char said[400];
    sub->state = SUB_DONE;
    sub->pid = 0;
    pass_on_errors(st->run, sub, said, sizeof said);
    if (WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 1)) {
        size_t len;
        char *text = slurp(sub->verdicts, &len);
        sub->verdict = text ? cJSON_ParseWithLength(text, len) : NULL;
        free(text);
        if (sub->verdict && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(sub->verdict,
                                                                           "scenarios")))
            return;
        cJSON_Delete(sub->verdict);
        sub->verdict = NULL;
        snprintf(sub->trouble, sizeof sub->trouble, "its grader handed back no verdicts");
    } else if (said[0]) {
        snprintf(sub->trouble, sizeof sub->trouble, "%s", said);
    } else if (WIFEXITED(status)) {
        snprintf(sub->trouble, sizeof sub->trouble, "its grader exited with status %d",
                 WEXITSTATUS(status));
    } else {
        snprintf(sub->trouble, sizeof sub->trouble, "its grader was killed by signal %d (%s)",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    }
}

static size_t count_of(const cJSON *doc, const char *key)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(doc, key);
    return cJSON_IsNumber(n) && n->valuedouble >= 0 ? (size_t)n->valuedouble : 0;
}

static const char *text_of(const cJSON *obj, const char *key)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(s) ? s->valuestring : "";
}

/* 1 when the scenarios before case ONE have one of its name that failed. */
static int failed_before(const cJSON *scenarios, const cJSON *one)
{
    const cJSON *other;
    cJSON_ArrayForEach(other, scenarios) {
        if (other == one)
            return 0;
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(other, "pass")) &&
            strcmp(text_of(other, "name"), text_of(one, "name")) == 0)
            return 1;
    }
    return 0;
}

/* The table's columns. */
struct widths {
    size_t dir, count;
};

static void put_padded(FILE *out, const char *s, size_t width, size_t used)
{
    fputs(s, out);
    for (size_t i = used; i < width; i++)
        fputc(' ', out);
}

/* One row: the directory, passed/total, the scenarios that failed (each
 * named once, whatever --repeat). */
static void put_row(const struct class_run *run, const struct widths *w,
                    const struct submission *sub)
{
    FILE *out = run->table;
    char count[64];
    size_t used = terminal_put(out, sub->dir);
    for (; used < w->dir + 2; used++)
        fputc(' ', out);
    if (sub->verdict == NULL) {
        snprintf(count, sizeof count, "-/%zu", run->total);
        put_padded(out, count, w->count + 2, strlen(count));
        fputs("could not grade: ", out);
        terminal_put(out, sub->trouble);
        fputc('\n', out);
        return;
    }
    size_t passed = count_of(sub->verdict, "passed"), total = count_of(sub->verdict, "total");
    snprintf(count, sizeof count, "%zu/%zu", passed, total);
    if (passed == total) {
        fprintf(out, "%s\n", count);
        return;
    }
    put_padded(out, count, w->count + 2, strlen(count));
    const cJSON *scenarios = cJSON_GetObjectItemCaseSensitive(sub->verdict, "scenarios"), *one;
    int any = 0;
    cJSON_ArrayForEach(one, scenarios) {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(one, "pass")) ||
            failed_before(scenarios, one))
            continue;
        fputs(any ? ", " : "", out);
        terminal_put(out, text_of(one, "name"));
        any = 1;
    }
    fputc('\n', out);
}

/* ---- the page ---------------------------------------------------------------- */

static const char page_style[] =
    "body{font-family:sans-serif;margin:1.5em}\n"
    "table{border-collapse:collapse}\n"
    "th,td{border:1px solid #999;padding:.25em .5em;vertical-align:top;text-align:left}\n"
    "thead th{background:#eee}\n"
    "td.pass{background:#dfd}\n"
    "td.fail{background:#fdd}\n"
    "td.trouble{background:#fd9}\n"
    "details[open]{min-width:40em}\n"
    "summary{cursor:pointer;font-weight:bold}\n"
    "pre,code{white-space:pre-wrap;font-size:90%}\n";

static void put_failure(FILE *out, const cJSON *one)
{
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(one, "steps"), *step;
    fputs("<p>", out);
    xml_put(out, text_of(one, "name"));
    fprintf(out, " (seed %zu): ", count_of(one, "seed"));
    xml_put(out, text_of(one, "title"));
    fputs("</p>\n<pre>", out);
    cJSON_ArrayForEach(step, steps) {
        if (cJSON_IsString(step)) {
            xml_put(out, step->valuestring);
            fputc('\n', out);
        }
    }
    fputs("</pre>\n", out);
    static const char *const fields[] = { "diagnosis", "replay", "view", "note" };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *value = text_of(one, fields[i]);
        if (!value[0])
            continue;
        fprintf(out, "<p>%s: %s", fields[i], i == 1 || i == 2 ? "<code>" : "");
        xml_put(out, value);
        fprintf(out, "%s</p>\n", i == 1 || i == 2 ? "</code>" : "");
    }
}

/* The scenarios, in the order the first graded submission ran them (a
 * name another one ran too is added after). Returns how many, in NAMES
 * (pointers into the verdicts), or -1 when out of memory. */
static long columns(const struct class_state *st, const char ***names)
{
    size_t n = 0, cap = 0;
    *names = NULL;
    for (size_t i = 0; i < st->run->n_dirs; i++) {
        const cJSON *one, *scenarios = cJSON_GetObjectItemCaseSensitive(st->subs[i].verdict,
                                                                         "scenarios");
        cJSON_ArrayForEach(one, scenarios) {
            const char *name = text_of(one, "name");
            size_t k = 0;
            while (k < n && strcmp((*names)[k], name) != 0)
                k++;
            if (k < n)
                continue;
            if (n == cap) {
                const char **grown = realloc(*names, (cap = cap * 2 + 16) * sizeof *grown);
                if (grown == NULL)
                    return -1;
                *names = grown;
            }
            (*names)[n++] = name;
        }
    }
    return (long)n;
}

static void put_cell(FILE *out, const cJSON *verdict, const char *name)
{
    const cJSON *one, *scenarios = cJSON_GetObjectItemCaseSensitive(verdict, "scenarios");
    size_t ran = 0, failed = 0;
    cJSON_ArrayForEach(one, scenarios) {
        if (strcmp(text_of(one, "name"), name) != 0)
            continue;
        ran++;
        failed += !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(one, "pass"));
    }
    if (ran == 0) {
        fputs("<td>-</td>", out);
        return;
    }
    if (failed == 0) {
        fputs("<td class=\"pass\">pass</td>", out);
        return;
    }
    fputs("<td class=\"fail\"><details><summary>FAIL", out);
    if (ran > 1)
        fprintf(out, " %zu of %zu", failed, ran);
    fputs("</summary>\n", out);
    cJSON_ArrayForEach(one, scenarios)
        if (strcmp(text_of(one, "name"), name) == 0 &&
            !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(one, "pass")))
            put_failure(out, one);
    fputs("</details></td>", out);
}

/* The page: one table, a row per submission, a column per scenario; a
 * failed cell opens (no script: <details>) on what the report says. */
static int put_page(const struct class_state *st, const char *command,
                    const struct class_outcome *outcome)
{
    const struct class_run *run = st->run;
    FILE *out = run->html;
    const char **names;
    long n_names = columns(st, &names);
    if (n_names < 0)
        return -1;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n", out);
    fprintf(out, "<title>nianbao-grade: %zu submissions</title>\n<style>\n%s</style>\n"
            "</head>\n<body>\n", run->n_dirs, page_style);
    fputs("<h1>nianbao-grade</h1>\n<p><code>", out);
    xml_put(out, command);
    fprintf(out, "</code></p>\n<p>%zu of %zu submissions passed every scenario", outcome->passed,
            run->n_dirs);
    if (outcome->trouble)
        fprintf(out, "; %zu could not be graded", outcome->trouble);
    fputs(". A failed cell opens on the steps of that scenario, its diagnosis, and the "
          "commands that replay it and show its capture.</p>\n", out);
    fputs("<table>\n<thead><tr><th>submission</th><th>passed</th>", out);
    for (long k = 0; k < n_names; k++) {
        fputs("<th>", out);
        xml_put(out, names[k]);
        fputs("</th>", out);
    }
    fputs("</tr></thead>\n<tbody>\n", out);
    for (size_t i = 0; i < run->n_dirs; i++) {
        const struct submission *sub = &st->subs[i];
        fputs("<tr><th>", out);
        xml_put(out, sub->dir);
        fputs("</th>", out);
        if (sub->verdict == NULL) {
            fprintf(out, "<td>-/%zu</td><td class=\"trouble\" colspan=\"%ld\">could not grade: ",
                    run->total, n_names > 0 ? n_names : 1);
            xml_put(out, sub->trouble);
            fputs("</td></tr>\n", out);
            continue;
        }
        fprintf(out, "<td>%zu/%zu</td>", count_of(sub->verdict, "passed"),
                count_of(sub->verdict, "total"));
        for (long k = 0; k < n_names; k++)
            put_cell(out, sub->verdict, names[k]);
        fputs("</tr>\n", out);
    }
    fputs("</tbody>\n</table>\n</body>\n</html>\n", out);
    free(names);
    return 0;
}

/* The command as given, {dir} and all, for the page. */
static void command_text(const struct class_run *run, char *buf, size_t len)
{
    char q[PATH_MAX + 8];
    size_t used = 0;
    shell_quote(run->self, q, sizeof q);
    used += (size_t)snprintf(buf, len, "%s", q);
    for (size_t i = 0; run->grader_args[i] && used < len; i++) {
        shell_quote(run->grader_args[i], q, sizeof q);
        used += (size_t)snprintf(buf + used, len - used, " %s", q);
    }
    if (used < len)
        used += (size_t)snprintf(buf + used, len - used, " --");
    for (size_t i = 0; run->program[i] && used < len; i++) {
        shell_quote(run->program[i], q, sizeof q);
        used += (size_t)snprintf(buf + used, len - used, " %s", q);
    }
}

int class_grade(const struct class_run *run, struct class_outcome *out, char *err,
                size_t errlen)
{
    struct class_state st = { .run = run };
    int rc = -1;
    size_t next = 0, running = 0, shown = 0;
    struct widths w = { strlen("submission"), strlen("passed") };
    char count[64];

    memset(out, 0, sizeof *out);
    snprintf(st.tmp, sizeof st.tmp, "/tmp/nianbao-grade-each-XXXXXX");
    st.subs = calloc(run->n_dirs, sizeof *st.subs);
    if (st.subs == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (mkdtemp(st.tmp) == NULL) {
        snprintf(err, errlen, "cannot create a temporary folder: %s", strerror(errno));
        free(st.subs);
        return -1;
    }
    for (size_t i = 0; i < run->n_dirs; i++) {
        struct submission *sub = &st.subs[i];
        sub->dir = run->dirs[i];
        snprintf(sub->report, sizeof sub->report, "%s/%s", sub->dir,
                 class_report_name(run->format));
        snprintf(sub->captures, sizeof sub->captures, "%s/grade-captures", sub->dir);
        snprintf(sub->verdicts, sizeof sub->verdicts, "%s/%zu.json", st.tmp, i);
        snprintf(sub->errors, sizeof sub->errors, "%s/%zu.err", st.tmp, i);
        size_t width = terminal_width(sub->dir);
        w.dir = width > w.dir ? width : w.dir;
    }
    snprintf(count, sizeof count, "%zu/%zu", run->total, run->total);
    w.count = strlen(count) > w.count ? strlen(count) : w.count;

    fputs("submission", run->table);
    for (size_t i = strlen("submission"); i < w.dir + 2; i++)
        fputc(' ', run->table);
    put_padded(run->table, "passed", w.count + 2, strlen("passed"));
    fputs("failed\n", run->table);
    fflush(run->table);

    active = &st;
    while (shown < run->n_dirs) {
        while (running < run->jobs && next < run->n_dirs) {
            if (start(&st, &st.subs[next++], err, errlen) < 0)
                goto end;
            running += st.subs[next - 1].state == SUB_RUNNING;
        }
        /* Rows in the order given, each as soon as it and those before it are done. */
        for (; shown < run->n_dirs && st.subs[shown].state == SUB_DONE; shown++) {
            put_row(run, &w, &st.subs[shown]);
            fflush(run->table);
        }
        if (running == 0)
            continue;
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "waitpid: %s", strerror(errno));
            goto end;
        }
        for (size_t i = 0; i < run->n_dirs; i++)
            if (st.subs[i].state == SUB_RUNNING && st.subs[i].pid == pid) {
                finish(&st, &st.subs[i], status);
                running--;
                break;
            }
    }
    for (size_t i = 0; i < run->n_dirs; i++) {
        const struct submission *sub = &st.subs[i];
        if (sub->verdict == NULL)
            out->trouble++;
        else if (count_of(sub->verdict, "passed") == count_of(sub->verdict, "total"))
            out->passed++;
        else
            out->failed++;
    }
    fprintf(run->table, "%zu of %zu submissions passed every scenario", out->passed,
            run->n_dirs);
    if (out->trouble)
        fprintf(run->table, "; %zu could not be graded", out->trouble);
    fprintf(run->table, "; each one's report is DIR/%s%s\n", class_report_name(run->format),
            out->failed ? ", the captures of its failures in DIR/grade-captures/" : "");
    fflush(run->table);
    rc = 0;
    if (run->html) {
        char command[8192];
        command_text(run, command, sizeof command);
        if (put_page(&st, command, out) < 0) {
            snprintf(err, errlen, "out of memory writing the page");
            rc = -1;
        }
    }
end:
    active = NULL;
    if (rc < 0) {
        /* End what we started, and wait for it: no grader outlives us. */
        for (size_t i = 0; i < run->n_dirs; i++)
            if (st.subs[i].state == SUB_RUNNING) {
                kill(st.subs[i].pid, SIGTERM);
                waitpid(st.subs[i].pid, NULL, 0);
            }
    }
    for (size_t i = 0; i < run->n_dirs; i++) {
        unlink(st.subs[i].verdicts);
        unlink(st.subs[i].errors);
        cJSON_Delete(st.subs[i].verdict);
    }
    rmdir(st.tmp);
    free(st.subs);
    return rc;
}
