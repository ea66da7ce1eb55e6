/* report.c - the grader's output (see report.h). */
#include "report.h"

#include <string.h>

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

void report_begin(struct report *rep, size_t total, const char *program_line)
{
    const struct grade_config *cfg = rep->cfg;
    if (rep->tap) {
        fprintf(rep->out, "TAP version 13\n1..%zu\n", total);
        fprintf(rep->out, "# nianbao-grade %s --proto %s, seed %llu: %s\n",
                cfg->mode == MODE_CLIENT ? "client" : "server", proto_name(cfg->proto),
                (unsigned long long)cfg->seed, program_line);
    } else {
        fprintf(rep->out, "grading the %s %s with %zu %s, seed %llu: %s\n",
                proto_name(cfg->proto), cfg->mode == MODE_CLIENT ? "client" : "server", total,
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
                             q, cfg->mode == MODE_CLIENT ? "client" : "server",
                             proto_name(cfg->proto), sc->name, (unsigned long long)seed,
                             cfg->self_args && cfg->self_args[0] ? " " : "",
                             cfg->self_args ? cfg->self_args : "");
    for (int i = 0; cfg->argv[i] && used < len; i++) {
        shell_quote(cfg->argv[i], q, sizeof q);
        used += (size_t)snprintf(buf + used, len - used, " %s", q);
    }
}

/* "waits: 2.31 s; 14 met, 1 exited, 0 stuck, 0 spinning, 0 last-guard". */
static void report_waits(struct report *rep, const struct verdict *v)
{
    if (!rep->waits)
        return;
    fprintf(rep->out, "%swaits: %.2f s;", rep->tap ? "# " : "      ", v->ms / 1000.0);
    for (int how = 0; how < WAIT_ENDS; how++)
        fprintf(rep->out, "%s %u %s", how ? "," : "", v->waits[how], wait_end_name(how));
    fputc('\n', rep->out);
}

void report_scenario(struct report *rep, const struct scenario *sc, const struct verdict *v,
                     uint64_t seed)
{
    FILE *out = rep->out;
    const char *indent = rep->tap ? "# " : "      ";
    char replay[4096], q[PATH_MAX + 8];

    rep->number++;
    if (v->pass) {
        rep->passed++;
        if (rep->tap)
            fprintf(out, "ok %zu - %s: %s\n", rep->number, sc->name, sc->title);
        else
            fprintf(out, "PASS  %-17s %s\n", sc->name, sc->title);
        report_waits(rep, v);
        fflush(out);
        return;
    }
    rep->failed++;
    size_t used = strlen(rep->failed_names);
    if (used + strlen(sc->name) + 3 < sizeof rep->failed_names)
        snprintf(rep->failed_names + used, sizeof rep->failed_names - used, "%s%s",
                 used ? ", " : "", sc->name);
    if (rep->tap)
        fprintf(out, "not ok %zu - %s: %s\n", rep->number, sc->name, sc->title);
    else
        fprintf(out, "FAIL  %-17s %s\n", sc->name, sc->title);
    for (size_t i = 0; i < v->n_steps; i++) {
        fprintf(out, "%s  %2zu. %s\n", indent, i + 1 + (i >= VERDICT_MAX_STEPS / 2 ? v->steps_dropped : 0),
                v->steps[i]);
        if (i + 1 == VERDICT_MAX_STEPS / 2 && v->steps_dropped)
            fprintf(out, "%s      (%zu steps left out)\n", indent, v->steps_dropped);
    }
    if (v->diagnosis[0])
        fprintf(out, "%sdiagnosis: %s\n", indent, v->diagnosis);
    fprintf(out, "%sseed: %llu\n", indent, (unsigned long long)seed);
    replay_line(rep, sc, seed, replay, sizeof replay);
    fprintf(out, "%sreplay: %s\n", indent, replay);
    if (v->capture[0]) {
        shell_quote(v->capture, q, sizeof q);
        fprintf(out, "%scapture: %s\n", indent, v->capture);
        /* The viewer's name for the framing (stage 5's: it guesses). */
        char proto_opt[32] = "";
        if (rep->cfg->proto != PROTO5)
            snprintf(proto_opt, sizeof proto_opt, " --proto %s",
                     rep->cfg->proto == PROTO4 ? "json" : "len");
        if (v->have_at)
            fprintf(out, "%sview: %s --replay %s%s --at %s:%llu --conn %u\n", indent,
                    rep->viewer, q, proto_opt, v->at_down ? "down" : "up",
                    (unsigned long long)v->at_offset, v->at_conn);
        else
            fprintf(out, "%sview: %s --replay %s%s\n", indent, rep->viewer, q, proto_opt);
    }
    if (v->note[0])
        fprintf(out, "%snote: %s\n", indent, v->note);
    report_waits(rep, v);
    fflush(out);
}

void report_end(struct report *rep)
{
    size_t total = rep->passed + rep->failed;
    if (rep->tap) {
        fprintf(rep->out, "# %zu of %zu passed%s%s\n", rep->passed, total,
                rep->failed ? "; failed: " : "", rep->failed ? rep->failed_names : "");
    } else if (rep->failed == 0) {
        fprintf(rep->out, "all %zu %s passed\n", total, total == 1 ? "scenario" : "scenarios");
    } else {
        fprintf(rep->out, "%zu of %zu %s passed; failed: %s\n", rep->passed, total,
                total == 1 ? "scenario" : "scenarios", rep->failed_names);
    }
    fflush(rep->out);
}
