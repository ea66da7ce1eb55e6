/* report.c - the grader's output (see report.h). */
#include "report.h"

#include <cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "proto.h"

void shell_quote(const char *arg, char *buf, size_t len)
{
    size_t used = 0;
    int safe = arg[0] != '\0';
    for (const char *p = arg; *p; p++)
        safe &= strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=@%+,{}-",
                       *p) != NULL;
    if (safe) {
        snprintf(buf, len, "%s", arg);
        return;
    }
    if (len < 3) {
        buf[0] = '\0';
        return;
    }
    buf[used++] = '\'';
    for (const char *p = arg; *p && used + 5 < len; p++) {
        if (*p == '\'') {
            memcpy(buf + used, "'\\''", 4);
            used += 4;
        } else {
            buf[used++] = *p;
        }
    }
    buf[used++] = '\'';
    buf[used] = '\0';
}

static const char *const format_names[] = { "text", "tap", "junit", "gradescope" };

const char *format_name(enum report_format format)
{
    return format_names[format];
}

int format_parse(const char *name)
{
    for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++)
        if (strcmp(name, format_names[i]) == 0)
            return (int)i;
    return -1;
}

static const char *mode_name(const struct grade_config *cfg)
{
    return cfg->mode == MODE_CLIENT ? "client" : "server";
}

void report_begin(struct report *rep, size_t total, const char *program_line,
                  int verdicts_json)
{
    const struct grade_config *cfg = rep->cfg;
    rep->program_line = program_line;
    if (verdicts_json) {
        rep->verdicts = cJSON_CreateArray();
        rep->out_of_memory |= rep->verdicts == NULL;
    }
    if (rep->format == FORMAT_TAP) {
        fprintf(rep->out, "TAP version 13\n1..%zu\n", total);
        fprintf(rep->out, "# nianbao-grade %s --proto %s, seed %llu: %s\n", mode_name(cfg),
                proto_name(cfg->proto), (unsigned long long)cfg->seed, program_line);
    } else if (rep->format == FORMAT_TEXT) {
        fprintf(rep->out, "grading the %s %s with %zu %s, seed %llu: %s\n",
                proto_name(cfg->proto), mode_name(cfg), total,
                total == 1 ? "scenario" : "scenarios", (unsigned long long)cfg->seed,
                program_line);
    }
    fflush(rep->out);
}

/* The command that runs exactly this scenario again. */
static void replay_line(const struct report *rep, const struct scenario *sc, uint64_t seed,
                        char *buf, size_t len)
{
    const struct grade_config *cfg = rep->cfg;
    char q[1024];
    size_t used = 0;
    shell_quote(cfg->self, q, sizeof q);
    used += (size_t)snprintf(buf + used, len - used, "%s %s --proto %s --only %s --seed %llu%s%s --",
                             q, mode_name(cfg), proto_name(cfg->proto), sc->name,
                             (unsigned long long)seed,
                             cfg->self_args && cfg->self_args[0] ? " " : "",
                             cfg->self_args ? cfg->self_args : "");
    for (int i = 0; cfg->argv[i] && used < len; i++) {
        shell_quote(cfg->argv[i], q, sizeof q);
        used += (size_t)snprintf(buf + used, len - used, " %s", q);
    }
}

/* The command that opens the capture at the failing byte ("" without one). */
static void view_line(const struct report *rep, const struct verdict *v, char *buf, size_t len)
{
    char q[PATH_MAX + 8];
    buf[0] = '\0';
    if (!v->capture[0])
        return;
    shell_quote(v->capture, q, sizeof q);
    /* The viewer's name for the framing (none: it guesses). */
    const char *viewer_proto = proto_ops(rep->cfg->proto)->viewer_proto;
    char proto_opt[32] = "";
    if (viewer_proto)
        snprintf(proto_opt, sizeof proto_opt, " --proto %s", viewer_proto);
    if (v->have_at)
        snprintf(buf, len, "%s --replay %s%s --at %s:%llu --conn %u", rep->viewer, q, proto_opt,
                 v->at_down ? "down" : "up", (unsigned long long)v->at_offset, v->at_conn);
    else
        snprintf(buf, len, "%s --replay %s%s", rep->viewer, q, proto_opt);
}

/* The same capture for Wireshark's tshark: the viewer writes it as a pcap
 * file beside the capture (CAPTURE less .nbcap, plus .pcap), tshark reads it. */
static void tshark_line(const struct report *rep, const struct verdict *v, char *buf, size_t len)
{
    char pcap[PATH_MAX], q[PATH_MAX + 8], qp[PATH_MAX + 8];
    size_t n = strlen(v->capture);
    if (n > 6 && strcmp(v->capture + n - 6, ".nbcap") == 0)
        n -= 6;
    snprintf(pcap, sizeof pcap, "%.*s.pcap", (int)n, v->capture);
    shell_quote(v->capture, q, sizeof q);
    shell_quote(pcap, qp, sizeof qp);
    int w = snprintf(buf, len, "%s --replay %s --pcap %s && tshark -r %s", rep->viewer, q, qp, qp);
    if (w < 0 || (size_t)w >= len)
        buf[0] = '\0';       /* a path too long to give whole: no line */
}

/* Step I as numbered in the report: when steps were left out of the
 * middle, the ones after them keep their numbers. */
static size_t step_number(const struct verdict *v, size_t i)
{
    return i + 1 + (i >= VERDICT_MAX_STEPS / 2 ? v->steps_dropped : 0);
}

/* "waits: 2.31 s; 14 met, 1 exited, 0 stuck, 0 spinning, 0 last-guard". */
static void put_waits(FILE *out, const char *indent, const struct verdict *v)
{
    fprintf(out, "%swaits: %.2f s;", indent, v->ms / 1000.0);
    for (int how = 0; how < WAIT_ENDS; how++)
        fprintf(out, "%s %u %s", how ? "," : "", v->waits[how], wait_end_name(how));
    fputc('\n', out);
}

/* One scenario's report on OUT: its line (TAP's or text's), and for a
 * failure what happened and how to see it again. */
static void put_scenario(FILE *out, const struct report *rep, const struct scenario *sc,
                         const struct verdict *v, uint64_t seed, int tap)
{
    const char *indent = tap ? "# " : "      ";
    char line[3 * PATH_MAX];

    if (tap)
        fprintf(out, "%s %zu - %s: %s\n", v->pass ? "ok" : "not ok", rep->number, sc->name,
                sc->title);
    else
        fprintf(out, "%s  %-17s %s\n", v->pass ? "PASS" : "FAIL", sc->name, sc->title);
    if (!v->pass) {
        for (size_t i = 0; i < v->n_steps; i++) {
            fprintf(out, "%s  %2zu. %s\n", indent, step_number(v, i), v->steps[i]);
            if (i + 1 == VERDICT_MAX_STEPS / 2 && v->steps_dropped)
                fprintf(out, "%s      (%zu steps left out)\n", indent, v->steps_dropped);
        }
        if (v->diagnosis[0])
            fprintf(out, "%sdiagnosis: %s\n", indent, v->diagnosis);
        fprintf(out, "%sseed: %llu\n", indent, (unsigned long long)seed);
        replay_line(rep, sc, seed, line, sizeof line);
        fprintf(out, "%sreplay: %s\n", indent, line);
        if (v->capture[0]) {
            fprintf(out, "%scapture: %s\n", indent, v->capture);
            view_line(rep, v, line, sizeof line);
            fprintf(out, "%sview: %s\n", indent, line);
            tshark_line(rep, v, line, sizeof line);
            if (line[0])
                fprintf(out, "%stshark: %s\n", indent, line);
        }
        if (v->note[0])
            fprintf(out, "%snote: %s\n", indent, v->note);
    }
    if (rep->waits)
        put_waits(out, indent, v);
}

/* Adds S to OBJ under KEY, as valid UTF-8. Returns 0 or -1. */
static int add_text(void *obj, const char *key, const char *s)
{
    char *clean = utf8_clean(s, 0);
    int ok = clean && cJSON_AddStringToObject(obj, key, clean);
    free(clean);
    return ok ? 0 : -1;
}

/* The verdict as --verdicts-json keeps it. */
static int add_verdict(struct report *rep, const struct scenario *sc, const struct verdict *v,
                       uint64_t seed)
{
    char line[3 * PATH_MAX];
    cJSON *one = cJSON_CreateObject(), *steps = cJSON_CreateArray();
    if (one == NULL || steps == NULL || !cJSON_AddItemToArray(rep->verdicts, one)) {
        cJSON_Delete(one);
        cJSON_Delete(steps);
        return -1;
    }
    int ok = add_text(one, "name", sc->name) == 0 && add_text(one, "title", sc->title) == 0 &&
             cJSON_AddNumberToObject(one, "seed", (double)seed) &&
             cJSON_AddBoolToObject(one, "pass", v->pass) &&
             cJSON_AddNumberToObject(one, "ms", (double)v->ms) &&
             cJSON_AddItemToObject(one, "steps", steps);
    if (!ok) {
        cJSON_Delete(steps);
        return -1;
    }
    if (v->pass)
        return 0;
    for (size_t i = 0; i < v->n_steps && ok; i++) {
        snprintf(line, sizeof line, "%2zu. %s", step_number(v, i), v->steps[i]);
        char *clean = utf8_clean(line, 0);
        cJSON *item = clean ? cJSON_CreateString(clean) : NULL;
        free(clean);
        ok = item && cJSON_AddItemToArray(steps, item);
        if (ok && i + 1 == VERDICT_MAX_STEPS / 2 && v->steps_dropped) {
            snprintf(line, sizeof line, "    (%zu steps left out)", v->steps_dropped);
            item = cJSON_CreateString(line);
            ok = item && cJSON_AddItemToArray(steps, item);
        }
    }
    replay_line(rep, sc, seed, line, sizeof line);
    ok = ok && add_text(one, "diagnosis", v->diagnosis) == 0 &&
         add_text(one, "replay", line) == 0 && add_text(one, "capture", v->capture) == 0;
    view_line(rep, v, line, sizeof line);
    ok = ok && add_text(one, "view", line) == 0 && add_text(one, "note", v->note) == 0;
    return ok ? 0 : -1;
}

/* Keeps the scenario's report as text for JUnit and Gradescope. */
static int keep_case(struct report *rep, const struct scenario *sc, const struct verdict *v,
                     uint64_t seed)
{
    if (rep->n_cases == rep->cap_cases) {
        size_t cap = rep->cap_cases ? rep->cap_cases * 2 : 32;
        struct report_case *grown = realloc(rep->cases, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        rep->cases = grown;
        rep->cap_cases = cap;
    }
    struct report_case *c = &rep->cases[rep->n_cases];
    *c = (struct report_case){ .sc = sc, .seed = seed, .pass = v->pass, .ms = v->ms };
    size_t size;
    FILE *mem = open_memstream(&c->text, &size);
    if (mem == NULL)
        return -1;
    put_scenario(mem, rep, sc, v, seed, 0);
    if (fclose(mem) != 0 || (c->diagnosis = strdup(v->diagnosis)) == NULL) {
        free(c->text);
        return -1;
    }
    rep->n_cases++;
    return 0;
}

void report_scenario(struct report *rep, const struct scenario *sc, const struct verdict *v,
                     uint64_t seed)
{
    rep->number++;
    if (v->pass) {
        rep->passed++;
    } else {
        rep->failed++;
        size_t used = strlen(rep->failed_names);
        if (used + strlen(sc->name) + 3 < sizeof rep->failed_names)
            snprintf(rep->failed_names + used, sizeof rep->failed_names - used, "%s%s",
                     used ? ", " : "", sc->name);
    }
    if (rep->format == FORMAT_TEXT || rep->format == FORMAT_TAP) {
        put_scenario(rep->out, rep, sc, v, seed, rep->format == FORMAT_TAP);
        fflush(rep->out);
    } else if (keep_case(rep, sc, v, seed) < 0) {
        rep->out_of_memory = 1;
    }
    if (rep->verdicts && add_verdict(rep, sc, v, seed) < 0)
        rep->out_of_memory = 1;
}

/* "3 of 14 scenarios passed; failed: coalesced, ..." or "all 14 scenarios passed". */
static void summary(const struct report *rep, char *buf, size_t len)
{
    size_t total = rep->passed + rep->failed;
    const char *noun = total == 1 ? "scenario" : "scenarios";
    if (rep->failed == 0)
        snprintf(buf, len, "all %zu %s passed", total, noun);
    else
        snprintf(buf, len, "%zu of %zu %s passed; failed: %s", rep->passed, total, noun,
                 rep->failed_names);
}

/* A test case's name: the scenario's, and its seed when seeds differ. */
static void case_name(const struct report *rep, const struct report_case *c, char *buf,
                      size_t len)
{
    if (rep->repeat)
        snprintf(buf, len, "%s (seed %llu)", c->sc->name, (unsigned long long)c->seed);
    else
        snprintf(buf, len, "%s", c->sc->name);
}

/* JUnit XML as GitLab and Jenkins read it: one testsuite, one testcase per
 * scenario, a failure's report as the text of its <failure>. */
static void put_junit(const struct report *rep)
{
    FILE *out = rep->out;
    char name[128];
    int64_t ms = 0;
    for (size_t i = 0; i < rep->n_cases; i++)
        ms += rep->cases[i].ms;
    char suite[2200];
    snprintf(suite, sizeof suite, "%s %s: %s", mode_name(rep->cfg), proto_name(rep->cfg->proto),
             rep->program_line);
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(out, "<testsuites name=\"nianbao-grade\" tests=\"%zu\" failures=\"%zu\" "
            "errors=\"0\" time=\"%.3f\">\n", rep->n_cases, rep->failed, ms / 1000.0);
    fprintf(out, "  <testsuite name=\"");
    xml_put(out, suite);
    fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"0\" time=\"%.3f\">\n",
            rep->n_cases, rep->failed, ms / 1000.0);
    for (size_t i = 0; i < rep->n_cases; i++) {
        const struct report_case *c = &rep->cases[i];
        case_name(rep, c, name, sizeof name);
        fprintf(out, "    <testcase classname=\"%s-%s\" name=\"", mode_name(rep->cfg),
                proto_name(rep->cfg->proto));
        xml_put(out, name);
        fprintf(out, "\" time=\"%.3f\"", c->ms / 1000.0);
        if (c->pass) {
            fprintf(out, "/>\n");
            continue;
        }
        fprintf(out, ">\n      <failure type=\"FAIL\" message=\"");
        xml_put(out, c->diagnosis[0] ? c->diagnosis : c->sc->title);
        fprintf(out, "\">");
        xml_put(out, c->text);
        fprintf(out, "</failure>\n    </testcase>\n");
    }
    fprintf(out, "  </testsuite>\n</testsuites>\n");
}

/* Gradescope's results.json: a point a scenario. */
static int put_gradescope(const struct report *rep)
{
    char line[2048];
    int ok = 1;
    cJSON *doc = cJSON_CreateObject(), *tests = cJSON_CreateArray();
    if (doc == NULL || tests == NULL) {
        cJSON_Delete(doc);
        cJSON_Delete(tests);
        return -1;
    }
    summary(rep, line, sizeof line);
    ok = cJSON_AddNumberToObject(doc, "score", (double)rep->passed) &&
         cJSON_AddNumberToObject(doc, "max_score", (double)rep->n_cases) &&
         add_text(doc, "output", line) == 0 && cJSON_AddItemToObject(doc, "tests", tests);
    if (!ok)
        cJSON_Delete(tests);
    for (size_t i = 0; i < rep->n_cases && ok; i++) {
        const struct report_case *c = &rep->cases[i];
        cJSON *one = cJSON_CreateObject();
        ok = one && cJSON_AddItemToArray(tests, one);
        if (!ok) {
            cJSON_Delete(one);
            break;
        }
        case_name(rep, c, line, sizeof line);
        ok = add_text(one, "name", line) == 0 &&
             cJSON_AddNumberToObject(one, "score", c->pass ? 1 : 0) &&
             cJSON_AddNumberToObject(one, "max_score", 1) &&
             add_text(one, "output", c->text) == 0 &&
             cJSON_AddStringToObject(one, "status", c->pass ? "passed" : "failed");
    }
    char *text = ok ? cJSON_Print(doc) : NULL;
    if (text)
        fprintf(rep->out, "%s\n", text);
    cJSON_free(text);
    cJSON_Delete(doc);
    return text ? 0 : -1;
}

/* --verdicts-json: the run and its verdicts, for the class table. */
static int write_verdicts(const struct report *rep, const char *path, char *err, size_t errlen)
{
    const struct grade_config *cfg = rep->cfg;
    cJSON *doc = cJSON_CreateObject();
    char *text = NULL;
    int ok = doc && add_text(doc, "program", rep->program_line) == 0 &&
             cJSON_AddStringToObject(doc, "mode", mode_name(cfg)) &&
             cJSON_AddStringToObject(doc, "proto", proto_name(cfg->proto)) &&
             cJSON_AddNumberToObject(doc, "passed", (double)rep->passed) &&
             cJSON_AddNumberToObject(doc, "total", (double)(rep->passed + rep->failed)) &&
             cJSON_AddItemReferenceToObject(doc, "scenarios", rep->verdicts) &&
             (text = cJSON_PrintUnformatted(doc)) != NULL;
    cJSON_Delete(doc);
    if (!ok) {
        snprintf(err, errlen, "out of memory writing the verdicts");
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (f == NULL || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        cJSON_free(text);
        return -1;
    }
    cJSON_free(text);
    return 0;
}

int report_end(struct report *rep, const char *verdicts_path, char *err, size_t errlen)
{
    char line[2048];
    if (rep->out_of_memory) {
        snprintf(err, errlen, "out of memory keeping the report");
        return -1;
    }
    switch (rep->format) {
    case FORMAT_TAP:
        fprintf(rep->out, "# %zu of %zu passed%s%s\n", rep->passed, rep->passed + rep->failed,
                rep->failed ? "; failed: " : "", rep->failed ? rep->failed_names : "");
        break;
    case FORMAT_TEXT:
        summary(rep, line, sizeof line);
        fprintf(rep->out, "%s\n", line);
        break;
    case FORMAT_JUNIT:
        put_junit(rep);
        break;
    case FORMAT_GRADESCOPE:
        if (put_gradescope(rep) < 0) {
            snprintf(err, errlen, "out of memory writing the report");
            return -1;
        }
        break;
    }
    fflush(rep->out);
    if (verdicts_path && rep->verdicts)
        return write_verdicts(rep, verdicts_path, err, errlen);
    return 0;
}

void report_free(struct report *rep)
{
    for (size_t i = 0; i < rep->n_cases; i++) {
        free(rep->cases[i].text);
        free(rep->cases[i].diagnosis);
    }
    free(rep->cases);
    rep->cases = NULL;
    rep->n_cases = rep->cap_cases = 0;
    cJSON_Delete(rep->verdicts);
    rep->verdicts = NULL;
}
