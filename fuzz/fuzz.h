/* fuzz/fuzz.h - what the harnesses share.
 *
 * Each harness defines LLVMFuzzerTestOneInput. Built with clang and
 * -fsanitize=fuzzer it is a libFuzzer target (`make fuzz`); linked with
 * fuzz/replay.c by any compiler it runs the files it is given once each
 * (fuzz/replay-NAME, used by `make test` to replay the committed corpora).
 *
 * A harness never changes the code it tests: the stage clients' .c files
 * are included whole (their main renamed), and their stdout and stderr are
 * memory streams the harness reads back to check what was printed. */
#ifndef NIANBAO_FUZZ_H
#define NIANBAO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A connected stream socket pair holding DATA: all of it is written to one
 * end (as much as fits without blocking: *WRITTEN says how much), that end
 * is shut for writing, and the other end is returned, with a 1 s receive
 * timeout so that a reader that wants more than there is cannot hang.
 * Returns the reading end, or -1. The writing end is closed. */
int fuzz_socket_holding(const void *data, size_t size, size_t *written);

/* Reads what is left in FD until EOF into a malloc'ed buffer (*LEN bytes).
 * Returns the buffer (never NULL unless out of memory). */
unsigned char *fuzz_drain(int fd, size_t *len);

/* After a reader has taken what it wanted from FD (a fuzz_socket_holding
 * socket that held the first WRITTEN bytes of DATA): reads the rest, closes
 * FD, requires the rest to be exactly DATA's bytes after those the reader
 * took, and returns how many it took. */
size_t fuzz_consumed(int fd, const unsigned char *data, size_t written);

/* A memory file holding DATA, and a path that opens it ("/proc/self/fd/N"
 * in PATH, 64 bytes). Returns the descriptor (close it after), or -1. */
int fuzz_memfile(const void *data, size_t size, char path[64]);

/* A stream that discards what is written to it (opened once). */
FILE *fuzz_null_stream(void);

/* Makes a new directory "$TMPDIR/NAME.XXXXXX" (TMPDIR default /tmp) and
 * writes its path into DIR (LEN bytes); stops the run when it cannot. */
void fuzz_tempdir(const char *name, char *dir, size_t len);

/* Writes TEXT to PATH (created or truncated); stops the run when it cannot. */
void fuzz_write_file(const char *path, const char *text);

/* Stops the run when an invariant fails: prints WHY on the real stderr
 * (descriptor 2) and aborts, which libFuzzer reports as a crash. */
void fuzz_fail(const char *why, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
