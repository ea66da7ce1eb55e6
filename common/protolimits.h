/* protolimits.h - the protocols' limits: every number a server, a client,
 * the grader, the viewer or the load generator checks a length against,
 * and that the specifications quote, once.
 *
 * Only numbers here, written as plain decimals (no code, no other header),
 * so that any program can include it, --help can show a default as text
 * (FT_STRINGIFY in ft.h) and a test can read the file. tests/ft_limits.bats reads this file and checks every limit
 * stage5_file_transfer/README.md (and stage6_concurrent/README.md) quotes
 * against these values: a number changed here and not there fails it. */
#ifndef NIANBAO_PROTOLIMITS_H
#define NIANBAO_PROTOLIMITS_H

/* ---- stages 3 and 4: the document's length-prefixed replies ----------- */

/* The largest reply body the stage 3/4 clients accept, --max-len's default
 * (256 MiB): a larger length field means the bytes are not what the
 * parser thinks. */
#define NB_MAX_LEN_DEFAULT 268435456UL
/* The longest stage 4 JSON header, the stage 4 client's --max-header. */
#define NB_MAX_HEADER_DEFAULT 65536

/* ---- stage 5's protocol (stage5_file_transfer/README.md) -------------- */

/* HLEN's range is 1..FT_MAX_HEADER: the servers' and the client's
 * --max-header default. */
#define FT_MAX_HEADER 65536
/* Every integer of a header, a body's size included: JSON's exact ones,
 * 0..2^53-1. */
#define FT_MAX_INTEGER 9007199254740991ULL
/* The longest command an exec may carry, in every server of the protocol
 * (--max-command's default and most) and its client: the server runs it as
 * one argument of execve (sh -c CMD), and Linux takes at most 131072 bytes
 * in one argument, its NUL included (MAX_ARG_STRLEN). */
#define FT_MAX_COMMAND 131071
/* --max-upload's default (4 GiB): checked against a put's file_size before
 * any byte is written. */
#define FT_MAX_UPLOAD_DEFAULT 4294967296
/* --max-output's default (256 MiB of one command's output). */
#define FT_MAX_OUTPUT_DEFAULT 268435456
/* The largest body of one "output" message: a full pipe (run.c sizes it
 * 1 MiB). */
#define FT_OUTPUT_MAX 1048576u
/* A refused request's body is read and dropped up to this size, so the
 * next frame is found; a larger one is not worth reading: the server
 * closes. */
#define FT_SKIP_MAX 1048576u
/* A name: at most FT_NAME_MAX bytes in all, each component at most
 * FT_COMPONENT_MAX: 255 (a file name's most) minus the 14 bytes of the
 * partial files' prefix ".nianbao-part." (fsroot.h checks the sum). */
#define FT_NAME_MAX 1024
#define FT_COMPONENT_MAX 241
/* A list stops past this many bytes of names (4 MiB), "truncated". */
#define FT_LIST_MAX 4194304u
/* A server process remembers the digests of this many downloaded files. */
#define FT_DIGEST_MEMO 32

#endif
