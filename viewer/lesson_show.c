/* lesson_show.c - presenting the lesson: the transcript, or the screen the
 * viewer draws, step by step (see lesson_parts.h). */
#define _GNU_SOURCE
#include "lesson_parts.h"

#include <errno.h>
#include <ncurses.h>
#include <stdlib.h>
#include <string.h>

#include "svg.h"

/* ---- presenting: transcript or UI ------------------------------------------ */

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
void section_intro(const struct lesson_section *sec, char *buf, size_t len)
{
    unsigned long long facts[FACT_COUNT] = { 0 };
    int have[FACT_COUNT] = { 0 };
    facts[FACT_PIECE_MIN] = PIECE_MIN;
    facts[FACT_PIECE_MAX] = PIECE_MAX;
    have[FACT_PIECE_MIN] = have[FACT_PIECE_MAX] = 1;
    expand(_(sec->intro), facts, have, buf, len);
}

/* The step's narration, with this run's numbers in it. */
void step_narration(const struct step_report *rep, char *buf, size_t len)
{
    const struct lesson_step *step = rep->step;
    const char *text = step->needs >= 0 && !rep->have[step->needs] && step->narration_else
                       ? step->narration_else : step->narration;
    expand(_(text), rep->facts, rep->have, buf, len);
}

void present_section(struct presenter *p, const struct lesson_section *sec,
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
                 step->server, lesson_conc_idle, five ? five->dir : "?", five ? five->dir : "?",
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

void present_step_text(struct presenter *p, const struct stage_run *run,
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
int wait_key(struct presenter *p, const char *title, const char *text,
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
void aim_view(struct ui_view *view, const struct step_report *rep, int demo)
{
    view->follow = !demo;
    view->top_row = 0;
    view->jump = 0;
    if (!demo && rep->aim_set) {
        view->jump = 1;
        view->jump_to = rep->aim;
    }
}
