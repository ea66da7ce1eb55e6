/* shell.c - the stage 5 client's command line and interactive mode (shell.h). */
#define _GNU_SOURCE                 /* POLLRDHUP */
#include "shell.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fileio.h"
#include "words.h"

const char shell_usage[] =
    "commands:\n"
    "  get NAME [DEST]   download NAME (to DEST, a file or a directory; - for stdout)\n"
    "  put FILE [NAME]   upload FILE (as NAME; FILE - reads standard input, NAME then\n"
    "                    required)\n"
    "  exec CMD...       run CMD on the server; its output is shown as it comes\n"
    "  ls [DIR]          list the served files (in DIR, beneath the root)\n"
    "  stat NAME         size of NAME, and of an interrupted upload of it\n"
    "  (none)            read commands from standard input, one per line, with the\n"
    "                    same words and options, quoted as in a shell ('my notes.txt');\n"
    "                    any other line runs as a command\n"
    "\n"
    "An interrupted get or put leaves its bytes (DEST.nianbao-part, or the server's\n"
    "partial file): a plain get or put then stops and says so; --resume goes on from\n"
    "there, --overwrite starts again.\n"
    "\n"
    "exit status of get, put, ls, stat:\n"
    "  0 done    1 the server answered an error\n"
    "  2 usage   3 cannot connect, or the connection was lost or timed out\n"
    "  4 the server broke the protocol   5 SHA-256 verification failed\n"
    "  6 a local file cannot be read or written   130 interrupted (Ctrl-C)\n"
    "exec, as ssh: the command's own status (0-255; killed by signal N: 128+N;\n"
    "  killed at the server's --timeout: 124; output cut by --max-output: 1);\n"
    "  255 when the client fails (cannot connect, connection lost, the server\n"
    "  refused or broke the protocol);\n"
    "  130 after Ctrl-C, which closes the connection: the server kills the command.\n"
    "With no COMMAND: the status of the last line that did not give 0.";

/* WORD (ARGV[0]: get, put, ls or stat) and its arguments, with options
 * anywhere among them ("get NAME --resume"; "--" ends them): the arguments
 * are moved to the end. Returns the index of the first, or -1 with CLI
 * saying why. */
static int parse_words(const struct cli_program *prog, int argc, char **argv,
                       struct cli_outcome *cli)
{
    static const struct { const char *word, *takes; int min, max; } shapes[] = {
        { "get", "NAME [DEST]", 1, 2 }, { "put", "FILE [NAME]", 1, 2 },
        { "ls", "at most a DIR", 0, 1 }, { "stat", "NAME", 1, 1 },
    };

    cli_parse_operands(prog, "[COMMAND [ARGS...]]", 0, argc, argv, cli);
    if (!cli->run)
        return -1;
    int n = argc - cli->first_operand;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        if (strcmp(argv[0], shapes[i].word) != 0)
            continue;
        if (n < shapes[i].min || n > shapes[i].max) {
            cli_usage_error(prog, cli, "%s takes %s", argv[0], shapes[i].takes);
            return -1;
        }
        return cli->first_operand;
    }
    cli_usage_error(prog, cli, "unknown command '%s' (get, put, exec, ls, stat)", argv[0]);
    return -1;
}

void shell_parse_args(const struct cli_program *prog, int argc, char **argv,
                      struct cli_outcome *cli, struct shell_args *args)
{
    /* Options first, then the command word: "client exec ls -l" runs "ls -l". */
    cli_parse_operands(prog, "[COMMAND [ARGS...]]", 1, argc, argv, cli);
    int first = cli->first_operand, at = first + 1;  /* the word, its arguments */
    const char *word = cli->run && first < argc ? argv[first] : NULL;
    int exec = word && strcmp(word, "exec") == 0;

    if (word && !exec)
        at = first + parse_words(prog, argc - first, argv + first, cli);
    else if (word && at >= argc)
        cli_usage_error(prog, cli, "exec needs a command");
    *args = (struct shell_args){ word, argc - at, exec, argv + at };
}

/* The words of an exec joined by spaces; NULL when out of memory. */
static char *shell_join(int n, char **args)
{
    size_t len = 0;

    for (int i = 0; i < n; i++)
        len += strlen(args[i]) + 1;
    char *command = malloc(len + 1);
    if (!command)
        return NULL;
    command[0] = '\0';
    for (int i = 0; i < n; i++) {
        strcat(command, args[i]);
        if (i + 1 < n)
            strcat(command, " ");
    }
    return command;
}

/* Before a line is sent: a server that closed the connection meanwhile
 * (its --idle) is found, and the line goes on a new connection. Stage 5's
 * server closes without a word; stage 6's says error "timeout" first, and
 * that frame, which nobody asked for, must not be taken for the answer to
 * the next request. Returns 0 (connected), or an exit status after saying
 * why. */
static int reconnect_if_closed(const struct shell *sh)
{
    struct pollfd pfd = { .fd = *sh->fd, .events = POLLIN | POLLRDHUP };
    char code[32] = "", addr[300];

    if (poll(&pfd, 1, 0) <= 0)
        return EXIT_OK;             /* nothing came: still open */
    if (!session_server_closed(*sh->fd)) {
        /* Bytes before the close: only an error that ends the connection
         * (busy, timeout) comes unasked. */
        *sh->quiet = 1;
        int rc = sh->receive_reply(sh->conn);
        *sh->quiet = 0;
        if (rc == EXIT_OK) {
            fprintf(sh->err, "%s: the server broke the protocol: it sent \"%s\" unasked\n",
                    sh->session->prog, sh->msg->op_name);
            return EXIT_PROTOCOL;
        }
        if (rc != EXIT_REMOTE)
            return rc;
        snprintf(code, sizeof code, " (%s)", sh->msg->code);
    }
    if (sh->reconnect(sh->conn) < 0)
        return EXIT_CONNECTION;
    session_addr(sh->session, addr, sizeof addr);
    fprintf(sh->err, "%s: the server closed the idle connection%s; reconnected to %s\n",
            sh->session->prog, code, addr);
    return EXIT_OK;
}

/* Runs COMMAND with the client's exec, unless it is longer than a server
 * runs. After Ctrl-C, closes the connection: the close is the message, the
 * server kills the command's whole process group when its client goes
 * away. Returns 0, or an exit status. */
static int run_exec(const struct shell *sh, const char *command)
{
    const char *prog = sh->session->prog;
    size_t len = strlen(command);

    if (len > FT_MAX_COMMAND) {
        fprintf(sh->err, "%s: the command is %zu bytes; the server runs at most %d (one argument "
                "of sh -c)\n", prog, len, FT_MAX_COMMAND);
        return EXIT_USAGE;
    }
    int rc = sh->exec(sh->conn, command, len);
    if (rc == EXIT_INTERRUPTED && *sh->fd >= 0) {
        close(*sh->fd);
        *sh->fd = -1;
    }
    if (rc == EXIT_INTERRUPTED)
        fprintf(sh->err, "%s: interrupted: the connection is closed, and the server stops the "
                "command (its whole process group)\n", prog);
    return rc;
}

/* Runs WORD (get, put, ls or stat) with its N arguments ARGS, options
 * taken out. Returns 0, or an exit status. */
static int run_op(const struct shell *sh, const char *word, int n, char **args)
{
    if (strcmp(word, "get") == 0)
        return sh->get(sh->conn, args[0], n > 1 ? args[1] : NULL);
    if (strcmp(word, "put") == 0)
        return sh->put(sh->conn, args[0], n > 1 ? args[1] : NULL);
    if (strcmp(word, "ls") == 0)
        return sh->list(sh->conn, n > 0 ? args[0] : NULL);
    return sh->stat(sh->conn, args[0]);
}

/* One line: get, put, ls or stat, with the command line's options, or a
 * command. Returns the client's own status for it (0, or what went
 * wrong), and sets *EXEC when it ran a command. */
static int run_words(const struct shell *sh, char *line, int *exec)
{
    const char *prog = sh->session->prog;
    const char *host = sh->session->host, *port = sh->session->port;
    struct cli_outcome cli;
    struct words w;
    char err[160];
    int rc;

    *exec = 0;
    if (words_split(line, &w, err, sizeof err) < 0) {
        rc = errno == ENOMEM ? EXIT_LOCAL : EXIT_USAGE;
        fprintf(sh->err, "%s: %s\n", prog, err);
        return rc;
    }
    /* The server closed an idle connection (its --idle): connect again. */
    rc = reconnect_if_closed(sh);
    if (rc != EXIT_OK) {
        words_free(&w);
        return rc;
    }
    const char *word = w.count > 0 ? w.argv[0] : "";
    int at = -1;
    *exec = strcmp(word, "get") != 0 && strcmp(word, "put") != 0 && strcmp(word, "ls") != 0 &&
            strcmp(word, "stat") != 0;
    if (!*exec) {
        at = parse_words(sh->prog, w.count, w.argv, &cli);
        /* Not the client's ls ("ls -l", "ls a b"): the server's. */
        *exec = at < 0 && strcmp(word, "ls") == 0 && cli.exit_status == EXIT_USAGE;
    }
    if (*exec) {
        rc = run_exec(sh, line);
    } else if (at < 0) {
        /* The error's line, without the pointer to --help; or the help. */
        int len = (int)strcspn(cli.text, "\n");
        if (!cli.to_stderr)
            fputs(cli.text, sh->out);
        else if (strstr(cli.text, " takes "))
            fprintf(sh->err, "%.*s (\"exec %s ...\" runs a command of that name)\n", len,
                    cli.text, word);
        else
            fprintf(sh->err, "%.*s\n", len, cli.text);
        rc = cli.exit_status;
    } else if (sh->session->host != host || sh->session->port != port) {
        fprintf(sh->err, "%s: --host and --port choose the connection: give them on the "
                "command line\n", prog);
        rc = EXIT_USAGE;
    } else {
        rc = run_op(sh, word, w.count - at, w.argv + at);
    }
    words_free(&w);
    return rc;
}

/* The interactive mode (shell_main). */
static int run_lines(const struct shell *sh)
{
    char *line = NULL;
    size_t cap = 0;
    int interactive = isatty(fileno(sh->in)), status = EXIT_OK;
    void *saved = malloc(sh->cfg_size);

    if (!saved) {
        fprintf(sh->err, "%s: out of memory\n", sh->session->prog);
        return EXIT_LOCAL;
    }
    memcpy(saved, sh->cfg, sh->cfg_size);
    for (;;) {
        if (interactive) {
            fputs("enter msg :>>>", sh->err);
            fflush(sh->err);
        }
        long len = read_command(sh->in, &line, &cap);
        if (len < 0)
            break;
        if (len == 0)
            continue;
        int exec, rc = run_words(sh, line, &exec);
        memcpy(sh->cfg, saved, sh->cfg_size);
        int line_status = exec ? shell_exec_status(rc, *sh->command_status) : rc;
        if (line_status != EXIT_OK)
            status = line_status;
        if (rc == EXIT_CONNECTION || rc == EXIT_PROTOCOL || rc == EXIT_INTERRUPTED)
            break;
    }
    if (interactive)
        fputc('\n', sh->err);
    free(line);
    free(saved);
    return status;
}

int shell_main(const struct shell *sh, const struct shell_args *args)
{
    if (!args->word)
        return run_lines(sh);
    if (!args->exec)
        return run_op(sh, args->word, args->n, args->args);
    char *command = shell_join(args->n, args->args);
    if (!command) {
        fprintf(sh->err, "%s: out of memory\n", sh->session->prog);
        return shell_exec_status(EXIT_LOCAL, 0);
    }
    int rc = run_exec(sh, command);
    free(command);
    return shell_exec_status(rc, *sh->command_status);
}

int shell_exec_status(int rc, int command_status)
{
    if (rc == EXIT_OK)
        return command_status;
    if (rc == EXIT_INTERRUPTED || rc == EXIT_USAGE)
        return rc;
    return EXIT_EXEC_FAILED;
}

int shell_exit_status(const struct ft_msg *m, const char *hex, const uint64_t sizes[3],
                      int *status, char *note, size_t notelen)
{
    note[0] = '\0';
    if (strcasecmp(hex, m->sha256) != 0 || sizes[1] != m->stdout_size ||
        sizes[2] != m->stderr_size) {
        snprintf(note, notelen, "the output does not match what the server sent: SHA-256 %s, %"
                 PRIu64 "+%" PRIu64 " bytes; the server says %s, %" PRIu64 "+%" PRIu64, hex,
                 sizes[1], sizes[2], m->sha256, m->stdout_size, m->stderr_size);
        return EXIT_VERIFY;
    }
    if (m->exit_code > 0)
        snprintf(note, notelen, "the command exited with status %d", m->exit_code);
    else if (m->signal)
        snprintf(note, notelen, "the command was killed by signal %d", m->signal);
    else if (m->exit_code < 0 && !m->timed_out && !m->truncated)
        snprintf(note, notelen, "the server gave no exit status for the command");
    *status = m->timed_out        ? EXIT_TIMED_OUT
              : m->truncated      ? EXIT_REMOTE
              : m->exit_code >= 0 ? m->exit_code
              : m->signal > 0     ? 128 + m->signal : EXIT_EXEC_FAILED;
    return EXIT_OK;
}

int shell_output_init(struct shell_output *o, int out_fd, int err_fd)
{
    *o = (struct shell_output){ { -1, out_fd, err_fd }, { DIGEST_NONE, NULL }, { 0, 0, 0 } };
    return digest_init_behind(&o->sha, DIGEST_SHA256);
}

int shell_output_write(struct shell_output *o, int stream, const void *piece, size_t len)
{
    digest_update(&o->sha, piece, len);
    o->sizes[stream] += len;
    return fileio_write_all(o->fds[stream], piece, len) < 0 ? -1 : 0;
}

int shell_output_end(struct shell_output *o, const struct ft_msg *m, int *status, char *note,
                     size_t notelen)
{
    char hex[DIGEST_HEX_MAX];

    digest_final_hex(&o->sha, hex);
    return shell_exit_status(m, hex, o->sizes, status, note, notelen);
}

void shell_output_free(struct shell_output *o)
{
    digest_free(&o->sha);
}
