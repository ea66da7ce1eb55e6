/* capture.h - the capture format shared by the tap and the viewer.
 *
 * The tap (libnianbao-tap.so, loaded with LD_PRELOAD) appends one event per
 * socket call to a capture file. Several tapped processes (a server and its
 * clients) append to the same file: each event is written with a single
 * write() on an O_APPEND descriptor, so events never tear and the file is in
 * the order the calls returned, across processes.
 *
 * An event is a fixed 88-byte header (struct cap_event, host byte order)
 * followed by DATA_LEN bytes: for sends and receives the first bytes the call
 * moved (at most the tap's cap, NIANBAO_TAP_CAP), for connect/accept the
 * program's command line. There is no file header: a capture is just events,
 * so `cat a.nbcap b.nbcap` is a capture too. Each event starts with its
 * magic: "NBV2" (this layout) or "NBV1", the first format, whose 80-byte
 * header lacks WIRE_LEN; the reader takes both, even mixed in one file.
 *
 * Order: the events of one process are in the order its calls returned.
 * Events of different processes may be out of order by a few milliseconds:
 * a process that makes many calls in a burst keeps their events in a buffer
 * and appends them together (see tap.c). Nothing in the decoder depends on
 * the order of two processes' events.
 *
 * Recording:   LD_PRELOAD=viewer/libnianbao-tap.so NIANBAO_TAP=run.nbcap \
 *                  python3 client.py
 * Environment: NIANBAO_TAP      path of the capture file (no tap when unset)
 *              NIANBAO_TAP_CAP  bytes copied per call (default 1024, max 65536;
 *                               every call's full size is recorded anyway)
 *
 * Nothing here prints or exits. */
#ifndef NIANBAO_CAPTURE_H
#define NIANBAO_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define CAP_MAGIC 0x3256424eu        /* "NBV2" read as a little-endian u32 */
#define CAP_MAGIC_V1 0x3156424eu     /* "NBV1": the 80-byte first format */
#define CAP_HEADER_V1 80u            /* its header size */
#define CAP_DEFAULT_CAP 1024u        /* bytes copied per call by default */
#define CAP_MAX_CAP 65536u           /* largest NIANBAO_TAP_CAP honoured */
#define CAP_MAX_DATA (CAP_MAX_CAP)   /* a reader rejects bigger DATA_LEN */

/* What happened. */
enum cap_kind {
    CAP_CONNECT = 1,   /* connect() succeeded: this process is the client   */
    CAP_ACCEPT  = 2,   /* accept() returned FD: this process is the server   */
    CAP_SEND    = 3,   /* bytes went out (send/sendto/sendmsg/write/writev/
                          sendfile)                                         */
    CAP_RECV    = 4,   /* bytes came in (recv/recvfrom/recvmsg/read/readv);
                          RESULT 0 and WIRE_LEN 0 mean the peer closed (EOF) */
    CAP_CLOSE   = 5,   /* close() of a socket                                */
};

/* Which libc function the program called (for display only). */
enum cap_call {
    CALL_NONE = 0,
    CALL_SEND, CALL_SENDTO, CALL_SENDMSG, CALL_WRITE, CALL_WRITEV,
    CALL_RECV, CALL_RECVFROM, CALL_RECVMSG, CALL_READ, CALL_READV,
    CALL_CONNECT, CALL_ACCEPT, CALL_ACCEPT4, CALL_CLOSE,
    CALL_SENDFILE,
};

/* Which end of the connection the recording process is, when it knows
 * (it saw the connect() or accept() of this socket). */
enum cap_role {
    ROLE_UNKNOWN = 0,
    ROLE_CLIENT  = 1,
    ROLE_SERVER  = 2,
};

/* An IPv4 or IPv6 endpoint. FAMILY is AF_INET or AF_INET6 (0: unknown);
 * PORT is in host order; ADDR holds 4 or 16 address bytes (network order). */
struct cap_addr {
    uint16_t family;
    uint16_t port;
    uint8_t addr[16];
};

/* One event's fixed header, exactly as stored in the file. */
struct cap_event {
    uint32_t magic;       /* CAP_MAGIC: lets a reader detect garbage      */
    uint8_t kind;         /* enum cap_kind                                */
    uint8_t call;         /* enum cap_call                                */
    uint8_t socktype;     /* SOCK_STREAM or SOCK_DGRAM                    */
    uint8_t role;         /* enum cap_role, as the recording process knows */
    uint64_t time_ns;     /* CLOCK_REALTIME when the call returned: shared
                             by every process on the machine              */
    int64_t result;       /* bytes that left the program (send) or reached
                             it (recv): the full size, even beyond the cap;
                             -1 error. See WIRE_LEN for a cut datagram.   */
    uint32_t pid;         /* process that made the call                   */
    int32_t fd;           /* its descriptor                               */
    int32_t err;          /* errno when RESULT < 0, else 0                */
    uint32_t data_len;    /* bytes stored after this header (<= cap)      */
    struct cap_addr local;  /* this socket's own address                  */
    struct cap_addr peer;   /* the other end                              */
    int64_t wire_len;     /* recv: bytes the call took off the connection.
                             Equal to RESULT, except: a datagram longer than
                             the buffer (RESULT bytes reached the program,
                             WIRE_LEN is the datagram's length, or -1 when
                             the kernel said only that it was cut); TCP
                             recv(MSG_TRUNC), which discards WIRE_LEN bytes
                             (RESULT 0). Send: equal to RESULT.          */
};

_Static_assert(sizeof(struct cap_event) == 88, "capture event header is 88 bytes");

/* Reads events one by one from a capture file. Works on a file that is still
 * growing (live view): at the end, capture_next returns 0 and keeps the
 * partial event, and a later call picks up where it stopped. */
struct capture_reader {
    int fd;               /* -1: reading from memory (capture_open_mem) */
    unsigned char *buf;   /* bytes read but not yet returned */
    const unsigned char *mem;   /* capture_open_mem's buffer, or NULL */
    size_t len, pos, cap;
    uint64_t offset;      /* file offset of buf[pos], for error messages */
    uint64_t events;      /* events returned so far */
};

/* Opens PATH ("-" is stdin). Returns 0, or -1 with ERR filled
 * ("cannot open run.nbcap: No such file or directory"). */
int capture_open(struct capture_reader *r, const char *path,
                 char *err, size_t errlen);

/* Reads from the LEN bytes at BUF instead of a file: the entry point for a
 * fuzzing harness and for tests (BUF must outlive the reader; nothing is
 * copied). Cannot fail; returns 0.
 *
 *   struct capture_reader r; struct cap_event ev; const unsigned char *data;
 *   char err[256]; int got;
 *   capture_open_mem(&r, buf, len);
 *   while ((got = capture_next(&r, &ev, &data, err, sizeof err)) == 1)
 *       ...;                       // got 0: the end; -1: corrupt (ERR says why)
 *   capture_close(&r); */
int capture_open_mem(struct capture_reader *r, const void *buf, size_t len);

/* Returns 1 with *EV filled (always in this version's layout: an NBV1 event
 * gets WIRE_LEN = RESULT) and *DATA pointing at EV->data_len bytes (valid
 * until the next call); 0 when no complete event is available yet (end of
 * file for now); -1 with ERR filled when the file is not a capture or is
 * corrupt ("run.nbcap: not a nianbao capture (bad magic at byte 160)") or a
 * read failed. */
int capture_next(struct capture_reader *r, struct cap_event *ev,
                 const unsigned char **data, char *err, size_t errlen);

/* Bytes left over at the end: a torn last event (non-zero after the final
 * capture_next returned 0 means the file ends mid-event). */
size_t capture_leftover(const struct capture_reader *r);

void capture_close(struct capture_reader *r);

/* Appends one event (header + DATA) to FD with a single write().
 * Returns 0, or -1 (errno set). Used by tests and --record. */
int capture_write(int fd, const struct cap_event *ev, const void *data);

/* Formats ADDR as "127.0.0.1:8080" or "[::1]:8080" ("?" when unknown).
 * Returns BUF. 64 bytes are always enough. */
char *capture_format_addr(const struct cap_addr *addr, char *buf, size_t buflen);

/* Rewrites an IPv4-mapped IPv6 address (::ffff:127.0.0.1, what a
 * dual-stack server on :: sees of an IPv4 client) as the AF_INET address
 * it stands for, so both ends of one connection name it alike. */
void capture_addr_unmap(struct cap_addr *addr);

/* 1 when A and B are the same endpoint. */
int capture_addr_equal(const struct cap_addr *a, const struct cap_addr *b);

/* Names for display: "send", "recvfrom", "sendfile", ... and "connect",
 * "recv", ... */
const char *capture_call_name(unsigned call);
const char *capture_kind_name(unsigned kind);

/* Finds libnianbao-tap.so for a viewer started as ARGV0: next to the
 * executable (/proc/self/exe's folder), then $NIANBAO_TAP_LIB.
 * Returns 0 with BUF filled, or -1 with ERR filled. */
int capture_find_tap_lib(char *buf, size_t buflen, char *err, size_t errlen);

/* Starts ARGV (argv[0] looked up in PATH) with the tap: LD_PRELOAD=LIB_PATH
 * (prepended to any existing LD_PRELOAD) and NIANBAO_TAP=CAPTURE_PATH, and
 * NIANBAO_TAP_CAP=TAP_CAP when TAP_CAP > 0. Stdio is inherited.
 * Returns 0 with *PID set, or -1 with ERR filled. */
int capture_spawn_tapped(char *const argv[], const char *lib_path,
                         const char *capture_path, unsigned tap_cap,
                         pid_t *pid, char *err, size_t errlen);

#endif
