/* storm.c - bad peers in bulk, to prove the lab's programs survive them:
 * the command line (its parts: tools/storm_parts/storm.h).
 *
 * storm server: thousands of broken connections against a running server -
 *   frames cut in the middle, EOF or a reset mid-frame, huge, negative and
 *   textual lengths, invalid and deeply nested JSON, NUL bytes and invalid
 *   UTF-8, connect-and-close, connect-and-stall, a client that never reads
 *   its reply - a few at a time, each bounded in time; then one good client,
 *   whose reply must be exact. The test around it checks what cannot be
 *   seen from outside (the server's descriptors and children).
 * storm client: plays a malicious server against a client program: for
 *   each case (a reply cut mid-length, mid-header, mid-body; lengths
 *   negative, 2^31-1, ASCII; invalid JSON; total_size that lies; a wrong
 *   MD5; a server that stalls...) it runs the client, answers its request
 *   with the bad reply, and checks that the client ends with its error line
 *   and a non-zero exit within 2 s (--within), never by a signal.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "duration.h"
#include "storm_parts/storm.h"

/* ---- the command line --------------------------------------------------- */

static const char server_epilog[] =
    "The server's requests are bad on purpose; its replies are read and dropped.\n"
    "Stages 1-4 run each request as a shell command: every byte string sent to\n"
    "them is checked to be inert to sh however it is cut (see tools/README.md).\n"
    "Example:\n"
    "  stage3_struct_len/server --port 0 --timeout 2 &   # listening on 127.0.0.1:PORT\n"
    "  " PROG_NAME " server --proto stage3 -p PORT --count 10000";

static const char client_epilog[] =
    "The client's command line follows --; {port} in it becomes storm's port.\n"
    "Each case runs it once with one command on stdin. A case passes when the\n"
    "client exits non-zero within 2 s (--within) of the bad reply (or of the\n"
    "stall), not by a signal, its last stderr line starting with PREFIX.\n"
    "Exit 0: every case passed.\n"
    "Example:\n"
    "  " PROG_NAME " client --proto stage4 -- stage4_json_header/client -p {port} --timeout 1";

int main(int argc, char **argv)
{
    struct cli_outcome out;
    const char *mode = argc > 1 ? argv[1] : "";

    if (strcmp(mode, "server") == 0) {
        struct server_config cfg = {
            .host = "127.0.0.1", .proto = NULL, .count = 10000, .concurrency = 4,
            .stalls = 10, .stall_ms = 1000, .conn_timeout_ms = DURATION_S(30), .seed = 1,
            .command = "echo storm-ok", .expect = "storm-ok\n",
        };
        const struct cli_option options[] = {
            CLI_HOST_OPTION(&cfg.host),
            { "port", 'p', CLI_PORT, &cfg.port, "PORT", "the server's port (required)", 1, 0 },
            { "proto", 0, CLI_CHOICE, &cfg.proto, "stage1|stage3|stage4|stage5",
              "what the server speaks (required): how the good client reads its reply; "
              "stage5 for stage 6's servers too", 0, 0 },
            { "count", 'n', CLI_UINT, &cfg.count, "N", "bad connections (default 10000)",
              1, 10000000 },
            { "concurrency", 'c', CLI_UINT, &cfg.concurrency, "N",
              "connections open at once (default 4)", 1, MAX_CONCURRENCY },
            { "stalls", 0, CLI_UINT, &cfg.stalls, "N",
              "how many of them stall (default 10), spread over the run", 0, 10000000 },
            { "stall-ms", 0, CLI_UINT, &cfg.stall_ms, "MS",
              "a stalled connection is closed after MS ms unless the server closes it "
              "first (default 1000)", 0, 600000 },
            { "conn-timeout", 0, CLI_DURATION, &cfg.conn_timeout_ms, "SECS",
              "fail when a connection has not ended after SECS (default 30)",
              1, DURATION_S(86400) },
            { "seed", 0, CLI_UINT, &cfg.seed, "S",
              "the same seed gives the same storm (default 1)", 0, ULONG_MAX },
            { "command", 0, CLI_STRING, &cfg.command, "CMD",
              "the good client's command (default 'echo storm-ok')", 0, 0 },
            { "expect", 0, CLI_STRING, &cfg.expect, "TEXT",
              "its exact reply; \\n is a newline (default 'storm-ok\\n')", 0, 0 },
            { "verbose", 'v', CLI_FLAG, &cfg.verbose, NULL, "one stderr line per connection",
              0, 0 },
        };
        const struct cli_program prog = {
            PROG_NAME " server", "Bad connections in bulk against a running server, then one "
            "good client whose reply must be exact.",
            "a lab tool, not in the document", options, sizeof options / sizeof options[0],
            server_epilog
        };
        cli_parse(&prog, argc - 1, argv + 1, &out);
        if (out.run && (cfg.port == NULL || cfg.proto == NULL))
            cli_usage_error(&prog, &out, "%s is required", cfg.port ? "--proto" : "--port");
        if (!out.run) {
            fputs(out.text, out.to_stderr ? stderr : stdout);
            return out.exit_status;
        }
        /* --expect's \n */
        char *expect = strdup(cfg.expect), *w = expect;
        if (expect == NULL)
            return 1;
        for (const char *r = cfg.expect; *r; r++) {
            if (r[0] == '\\' && r[1] == 'n') {
                *w++ = '\n';
                r++;
            } else {
                *w++ = *r;
            }
        }
        *w = '\0';
        cfg.expect = expect;
        cfg.cases = server_cases_for(cfg.proto);
        signal(SIGPIPE, SIG_IGN);
        int status = storm_server(&cfg);
        free(expect);
        return status;
    }
    if (strcmp(mode, "client") == 0) {
        struct client_config cfg = { .proto = NULL, .command = "echo storm",
                                     .within_ms = CLIENT_DEADLINE_MS };
        int dashes = 2;
        while (dashes < argc && strcmp(argv[dashes], "--") != 0)
            dashes++;
        const struct cli_option options[] = {
            { "proto", 0, CLI_CHOICE, &cfg.proto, "stage1|stage3|stage4|stage5",
              "what the client speaks (required)", 0, 0 },
            { "case", 0, CLI_STRING, &cfg.only, "NAME", "run only this case", 0, 0 },
            { "command", 0, CLI_STRING, &cfg.command, "CMD",
              "the line fed to the client (default 'echo storm')", 0, 0 },
            { "prefix", 0, CLI_STRING, &cfg.prefix, "TEXT",
              "how its error line starts (default: its name and ': ')", 0, 0 },
            { "within", 0, CLI_DURATION, &cfg.within_ms, "SECS",
              "a client still running SECS after the bad reply or the stall fails, and is "
              "killed (default 2)", 1, DURATION_S(600) },
        };
        const struct cli_program prog = {
            PROG_NAME " client", "Plays a malicious server against a client program: every "
            "bad reply must end it with its error line and a non-zero exit within 2 s "
            "(--within).",
            "a lab tool, not in the document", options, sizeof options / sizeof options[0],
            client_epilog
        };
        cli_parse(&prog, dashes - 1, argv + 1, &out);
        if (out.run && cfg.proto == NULL)
            cli_usage_error(&prog, &out, "--proto is required");
        else if (out.run && dashes + 1 >= argc)
            cli_usage_error(&prog, &out, "no client to run: give its command after --");
        if (!out.run) {
            fputs(out.text, out.to_stderr ? stderr : stdout);
            return out.exit_status;
        }
        cfg.argv = argv + dashes + 1;
        cfg.argc = argc - dashes - 1;
        char prefix[256];
        if (cfg.prefix == NULL) {
            const char *slash = strrchr(cfg.argv[0], '/');
            snprintf(prefix, sizeof prefix, "%s: ", slash ? slash + 1 : cfg.argv[0]);
            cfg.prefix = prefix;
        }
        signal(SIGPIPE, SIG_IGN);
        return storm_client(&cfg);
    }
    const struct cli_program prog = {
        PROG_NAME, "Bad peers in bulk: against a server (storm server) or a client "
        "(storm client).", "a lab tool, not in the document", NULL, 0,
        "Usage: " PROG_NAME " server --proto P -p PORT [OPTION]...\n"
        "       " PROG_NAME " client --proto P [OPTION]... -- CLIENT [ARG]...\n"
        "'" PROG_NAME " server --help' and '" PROG_NAME " client --help' list their options."
    };
    cli_parse(&prog, argc, argv, &out);
    if (out.run)
        cli_usage_error(&prog, &out, "say what to storm: 'server' or 'client'");
    fputs(out.text, out.to_stderr ? stderr : stdout);
    return out.exit_status;
}
