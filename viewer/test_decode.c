/* test_decode.c - unit tests of the capture reader and the decoder library.
 *
 * Builds captures event by event, as the tap would write them, and checks
 * what decode.c makes of them. Prints one "ok"/"not ok" line per check
 * (TAP style) and exits 1 when any failed. Run by tests/viewer_decode.bats:
 *   viewer/test_decode DIR     (DIR: a scratch folder for capture files)
 * and, for the line breaker (wrap.h), by tests/lesson.bats:
 *   viewer/test_decode --wrap WIDTH...  < texts, one per line
 * which prints each text broken at each WIDTH, one line per output line
 * and an empty line after each text. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture.h"
#include "decode.h"
#include "export.h"
#include "wrap.h"

struct results {
    int run, failed;
};

#define CHECK(res, cond, ...)                                              \
    do {                                                                   \
        (res)->run++;                                                      \
        if (cond) {                                                        \
            printf("ok %d - ", (res)->run);                                \
        } else {                                                           \
            (res)->failed++;                                               \
            printf("not ok %d - (%s:%d: %s) ", (res)->run, __FILE__,       \
                   __LINE__, #cond);                                       \
        }                                                                  \
        printf(__VA_ARGS__);                                               \
        printf("\n");                                                      \
    } while (0)

/* Two ends of one loopback connection, as a test scenario drives them. */
struct scene {
    struct decoder dec;
    struct cap_addr client, server;
    uint64_t clock;
};

static struct cap_addr loopback(unsigned port)
{
    struct cap_addr a;
    memset(&a, 0, sizeof(a));
    a.family = AF_INET;
    a.port = (uint16_t)port;
    uint32_t ip = htonl(INADDR_LOOPBACK);
    memcpy(a.addr, &ip, 4);
    return a;
}

static void scene_init(struct scene *sc, enum proto proto, size_t window,
                       unsigned client_port, unsigned server_port)
{
    struct decode_options opt = { .proto = proto, .window = window };
    memset(sc, 0, sizeof(*sc));
    if (decoder_init(&sc->dec, &opt) < 0) {
        perror("decoder_init");
        exit(1);
    }
    sc->client = loopback(client_port);
    sc->server = loopback(server_port);
}

/* Feeds one event from the client's (FROM_CLIENT) or the server's side.
 * LEN is the call's size; DATA (may be NULL) holds the first DATA_LEN
 * bytes. Returns decoder_feed's result. */
static int feed(struct scene *sc, int from_client, unsigned kind, long long len,
                const void *data, size_t data_len)
{
    struct cap_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.magic = CAP_MAGIC;
    ev.kind = (uint8_t)kind;
    ev.call = kind == CAP_SEND ? CALL_SEND : kind == CAP_RECV ? CALL_RECV : CALL_NONE;
    ev.socktype = SOCK_STREAM;
    ev.role = from_client ? ROLE_CLIENT : ROLE_SERVER;
    ev.time_ns = ++sc->clock;
    ev.result = len;
    ev.pid = from_client ? 100 : 200;
    ev.fd = 3;
    ev.data_len = (uint32_t)data_len;
    ev.local = from_client ? sc->client : sc->server;
    ev.peer = from_client ? sc->server : sc->client;
    return decoder_feed(&sc->dec, &ev, data);
}

static void send_text(struct scene *sc, int from_client, const char *text)
{
    feed(sc, from_client, CAP_SEND, (long long)strlen(text), text, strlen(text));
}

static void recv_text(struct scene *sc, int from_client, const char *text)
{
    feed(sc, from_client, CAP_RECV, (long long)strlen(text), text, strlen(text));
}

static void connect_both(struct scene *sc, const char *client_prog, const char *server_prog)
{
    feed(sc, 1, CAP_CONNECT, 0, client_prog, strlen(client_prog));
    feed(sc, 0, CAP_ACCEPT, 0, server_prog, strlen(server_prog));
}

static struct connection *only_conn(struct scene *sc)
{
    return sc->dec.n_conns == 1 ? sc->dec.conns[0] : NULL;
}

/* A stage 1 session: reply 1 (1500 bytes) does not fit one recv(1024),
 * so request 2's recv returns the end of reply 1. */
static void test_stale(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_GUESS, 0, 40000, 8080);
    connect_both(&sc, "./client", "./server");
    char reply1[1500];
    memset(reply1, 'a', sizeof(reply1));
    send_text(&sc, 1, "seq 1 400");
    recv_text(&sc, 0, "seq 1 400");
    feed(&sc, 0, CAP_SEND, 1500, reply1, 1024);
    feed(&sc, 1, CAP_RECV, 1024, reply1, 1024);
    CHECK(res, sc.dec.stale_count == 0, "no STALE while the client reads reply #1");
    send_text(&sc, 1, "echo hi");
    recv_text(&sc, 0, "echo hi");
    send_text(&sc, 0, "hi\n");
    char tail[479];
    memset(tail, 'a', 476);
    memcpy(tail + 476, "hi\n", 3);
    feed(&sc, 1, CAP_RECV, 479, tail, 479);
    const struct decode_stale *st = decoder_last_stale(&sc.dec);
    CHECK(res, st != NULL && strcmp(st->text, "STALE: recv #2 returned bytes of reply #1") == 0,
          "recv #2 after request #2 is flagged: %s", st ? st->text : "(none)");
    CHECK(res, st != NULL && st->request_no == 2 && st->reply_no == 1 && st->conn_id == 1,
          "the flag names request #2, reply #1, connection 1");
    struct connection *c = only_conn(&sc);
    CHECK(res, c != NULL && c->proto == PROTO_RAW && c->proto_guessed,
          "raw framing is guessed for the stage 1 bytes");
    CHECK(res, c != NULL && c->down.sent == 1503 && c->down.received == 1503 &&
          stream_pending(&c->down) == 0, "1503 bytes down, none pending");
    const struct decode_span *snd = c ? stream_send_at(&c->down, 1024) : NULL;
    const struct decode_span *rcv = c ? stream_recv_at(&c->down, 1024) : NULL;
    CHECK(res, snd != NULL && snd->number == 1 && snd->message == 1 &&
          rcv != NULL && rcv->number == 2 && rcv->stale,
          "byte 1024 was written by send #1 (reply #1) and returned by the stale recv #2");
    CHECK(res, c != NULL && stream_byte(&c->down, 1024) == 'a' &&
          stream_byte(&c->down, 1501) == 'i',
          "bytes beyond the sender's cap are known from the receiver's copy");
    const struct decode_frame *f = c ? stream_frame_at(&c->down, 1501) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_REPLY && f->message == 2,
          "\"hi\" is framed as reply #2");
    f = c ? stream_frame_at(&c->up, 10) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_REQUEST && f->message == 2,
          "\"echo hi\" is framed as request #2");
    decoder_free(&sc.dec);
}

/* The receiver's event may reach the file before the sender's. */
static void test_recv_before_send(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_RAW, 0, 40001, 8080);
    connect_both(&sc, "client", "server");
    send_text(&sc, 1, "a");
    recv_text(&sc, 0, "a");
    feed(&sc, 1, CAP_RECV, 4, "AAAA", 4);   /* client recv logged first */
    feed(&sc, 0, CAP_SEND, 8, "AAAABBBB", 8);
    send_text(&sc, 1, "b");
    recv_text(&sc, 0, "b");
    feed(&sc, 1, CAP_RECV, 4, "BBBB", 4);   /* still reply #1's bytes */
    send_text(&sc, 0, "CC");
    struct connection *c = only_conn(&sc);
    CHECK(res, sc.dec.stale_count == 1 &&
          strcmp(decoder_last_stale(&sc.dec)->text,
                 "STALE: recv #2 returned bytes of reply #1") == 0,
          "a recv logged before the matching send is still checked");
    CHECK(res, c != NULL && stream_pending(&c->down) == 2, "2 bytes pending down");
    CHECK(res, c != NULL && stream_recv_at(&c->down, 8) == NULL &&
          stream_send_at(&c->down, 8) != NULL, "pending bytes have a send but no recv");
    decoder_free(&sc.dec);
}

static void le32(unsigned char *out, int32_t v)
{
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++)
        out[i] = (unsigned char)(u >> (8 * i));
}

/* Only a student's framed client is tapped, and it reads too little of
 * reply #1: the framing alone tells the replies apart. */
static void test_stale_client_only(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_LEN, 0, 40008, 9999);
    feed(&sc, 1, CAP_CONNECT, 0, "python3 my_client.py", 20);
    send_text(&sc, 1, "cmd1");
    unsigned char reply[4 + 10 + 4 + 2];
    le32(reply, 10);
    memcpy(reply + 4, "0123456789", 10);
    le32(reply + 14, 2);
    memcpy(reply + 18, "ok", 2);
    feed(&sc, 1, CAP_RECV, 4, reply, 4);
    feed(&sc, 1, CAP_RECV, 5, reply + 4, 5);
    CHECK(res, sc.dec.stale_count == 0, "reading reply #1 is not STALE");
    send_text(&sc, 1, "cmd2");
    feed(&sc, 1, CAP_RECV, 9, reply + 9, 9);
    const struct decode_stale *st = decoder_last_stale(&sc.dec);
    CHECK(res, st != NULL && strcmp(st->text, "STALE: recv #3 returned bytes of reply #1") == 0,
          "the leftover of reply #1 after request #2 is STALE: %s", st ? st->text : "(none)");
    const struct connection *c = only_conn(&sc);
    CHECK(res, c != NULL && c->down.recvs[2].stale && c->down.recvs[2].stale_reply == 1,
          "the recv span carries the flag and the reply #");
    decoder_free(&sc.dec);
}

static void test_len_frames(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_GUESS, 0, 40002, 45555);
    connect_both(&sc, "client", "server");
    send_text(&sc, 1, "ls");
    recv_text(&sc, 0, "ls");
    unsigned char len[4];
    le32(len, 6);
    feed(&sc, 0, CAP_SEND, 4, len, 4);
    send_text(&sc, 0, "a.txt\n");
    feed(&sc, 1, CAP_RECV, 4, len, 4);
    recv_text(&sc, 1, "a.txt\n");
    le32(len, 0);
    feed(&sc, 0, CAP_SEND, 4, len, 4);
    struct connection *c = only_conn(&sc);
    CHECK(res, c != NULL && c->proto == PROTO_LEN, "a small little-endian length is guessed as len");
    const struct decode_frame *f = c ? stream_frame_at(&c->down, 0) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_LEN_FIELD && f->value == 6 && f->end == 4 &&
          strcmp(f->note, "length 6") == 0, "the length field decodes to 6");
    f = c ? stream_frame_at(&c->down, 9) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_BODY && f->start == 4 && f->end == 10 &&
          f->message == 1, "bytes 4..9 are the body of reply #1");
    f = c ? stream_frame_at(&c->down, 10) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_LEN_FIELD && f->value == 0 && f->message == 2,
          "an empty reply #2 is just its length field");
    decoder_free(&sc.dec);

    scene_init(&sc, PROTO_LEN, 0, 40003, 8083);
    connect_both(&sc, "client", "server");
    send_text(&sc, 0, "GET / HTTP/1.0\r\n");
    c = only_conn(&sc);
    f = c ? stream_frame_at(&c->down, 0) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_BAD &&
          strcmp(f->note, "length 542393671 is \"GET \": the peer speaks another protocol") == 0,
          "text where a length should be is named: %s", f ? f->note : "(none)");
    CHECK(res, c != NULL && c->down.parse.lost && stream_frame_at(&c->down, 4) == NULL,
          "after a bad length nothing more is framed");
    decoder_free(&sc.dec);
}

static void test_json_frames(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_GUESS, 0, 40004, 8085);
    connect_both(&sc, "/x/stage4_json_header/client -p 8085", "server");
    send_text(&sc, 1, "echo hello");
    recv_text(&sc, 0, "echo hello");
    const char *header = "{\"file_name\": \"echo hello\", \"total_size\": 6, "
                         "\"md5\": \"b1946ac92492d2347c6235b4d2611184\", "
                         "\"stdout_size\": 6, \"exit_code\": 0}";
    unsigned char len[4];
    le32(len, (int32_t)strlen(header));
    feed(&sc, 0, CAP_SEND, 4, len, 4);
    send_text(&sc, 0, header);
    /* the body is captured only in part (cap) by both ends */
    feed(&sc, 0, CAP_SEND, 6, "hel", 3);
    struct connection *c = only_conn(&sc);
    CHECK(res, c != NULL && c->proto == PROTO_JSON, "stage4 in the client's command line means json");
    const struct decode_frame *f = c ? stream_frame_at(&c->down, 2) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_HEADER_LEN && f->value == (long long)strlen(header),
          "the header length is %zu", strlen(header));
    f = c ? stream_frame_at(&c->down, 10) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_HEADER_JSON && f->header.total_size == 6 &&
          f->header.stdout_size == 6 && f->header.have_exit_code && f->header.exit_code == 0 &&
          strcmp(f->header.md5, "b1946ac92492d2347c6235b4d2611184") == 0 &&
          strcmp(f->header.file_name, "echo hello") == 0,
          "the JSON header's fields are decoded: %s", f ? f->note : "(none)");
    uint64_t body = 4 + strlen(header);
    f = c ? stream_frame_at(&c->down, body + 5) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_BODY && f->start == body && f->value == 6,
          "the body is total_size bytes after the header");
    CHECK(res, c != NULL && stream_byte(&c->down, body + 2) == 'l' &&
          stream_byte(&c->down, body + 3) == -1, "body bytes beyond the cap are not captured");
    decoder_free(&sc.dec);
}

/* Stage 5: a 4-byte big-endian header length, a JSON header whose size
 * gives the body, both ways. FRAME is built into BUF; returns its length. */
static size_t ft_frame(unsigned char *buf, const char *header, const char *body)
{
    size_t hlen = strlen(header), blen = body ? strlen(body) : 0;
    buf[0] = (unsigned char)(hlen >> 24);
    buf[1] = (unsigned char)(hlen >> 16);
    buf[2] = (unsigned char)(hlen >> 8);
    buf[3] = (unsigned char)hlen;
    memcpy(buf + 4, header, hlen);
    if (blen)
        memcpy(buf + 4 + hlen, body, blen);
    return 4 + hlen + blen;
}

static void test_ft_frames(struct results *res)
{
    struct scene sc;
    unsigned char req[256], out1[256], out2[256];
    scene_init(&sc, PROTO_GUESS, 0, 40010, 8086);
    connect_both(&sc, "/x/stage5_file_transfer/client exec echo hi", "server --root r");
    size_t req_len = ft_frame(req, "{\"op\":\"exec\",\"size\":7}", "echo hi");
    /* the request sent in two pieces, read in three: header length, header, body */
    feed(&sc, 1, CAP_SEND, 10, req, 10);
    feed(&sc, 1, CAP_SEND, (long long)(req_len - 10), req + 10, req_len - 10);
    feed(&sc, 0, CAP_RECV, 4, req, 4);
    feed(&sc, 0, CAP_RECV, 22, req + 4, 22);
    feed(&sc, 0, CAP_RECV, 7, req + 26, 7);
    size_t o1 = ft_frame(out1, "{\"op\":\"output\",\"stream\":\"stdout\",\"size\":3}", "hi\n");
    size_t o2 = ft_frame(out2, "{\"op\":\"exit\",\"exit_code\":0,\"size\":0}", NULL);
    feed(&sc, 0, CAP_SEND, (long long)o1, out1, o1);
    feed(&sc, 0, CAP_SEND, (long long)o2, out2, o2);
    feed(&sc, 1, CAP_RECV, (long long)o1, out1, o1);
    feed(&sc, 1, CAP_RECV, (long long)o2, out2, o2);
    struct connection *c = only_conn(&sc);
    CHECK(res, c != NULL && c->proto == PROTO_FT, "stage5 in a command line means ft");
    const struct decode_frame *f = c ? stream_frame_at(&c->up, 1) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_HEADER_LEN && f->value == 22,
          "the request's header length is big-endian: 22");
    f = c ? stream_frame_at(&c->up, 10) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_HEADER_JSON && f->value == 7 &&
          strcmp(f->header.op, "exec") == 0 && strcmp(f->note, "op=exec size=7") == 0,
          "the request's header: %s", f ? f->note : "(none)");
    f = c ? stream_frame_at(&c->up, 30) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_BODY && f->start == 26 && f->end == 33,
          "the request's body is the command's 7 bytes");
    f = c ? stream_frame_at(&c->down, o1 + 1) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_HEADER_LEN && f->message == 2,
          "the reply's second frame starts right after the first's body");
    f = c ? stream_frame_at(&c->down, o1 + 5) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_HEADER_JSON && f->value == 0 &&
          strcmp(f->note, "op=exit exit_code=0 size=0") == 0, "exit: %s", f ? f->note : "-");
    CHECK(res, c != NULL && sc.dec.stale_count == 0 && c->down.messages == 1,
          "two frames of one reply are one reply, nothing STALE");
    decoder_free(&sc.dec);

    /* Only the client tapped, no name to go on: the request's first bytes
     * tell ft apart from stage 4's little-endian header. */
    scene_init(&sc, PROTO_GUESS, 0, 40011, 9999);
    feed(&sc, 1, CAP_SEND, (long long)req_len, req, req_len);
    c = only_conn(&sc);
    CHECK(res, c != NULL && c->proto == PROTO_FT && c->proto_guessed,
          "a big-endian header length and '{' going up are guessed as ft");
    feed(&sc, 1, CAP_RECV, (long long)o1, out1, o1);
    feed(&sc, 1, CAP_RECV, (long long)o2, out2, o2);
    CHECK(res, c != NULL && sc.dec.stale_count == 0,
          "client only: frames do not number ft's replies, nothing STALE");
    decoder_free(&sc.dec);

    /* A header length beyond 65536, and a size that is not a number:
     * shown as bad, and nothing after it is read as frames. */
    scene_init(&sc, PROTO_FT, 0, 40012, 9999);
    unsigned char huge[8] = { 0x7f, 0xff, 0xff, 0xff, 'x', 'y', 'z', 'w' };
    feed(&sc, 1, CAP_SEND, 8, huge, 8);
    size_t bad_len = ft_frame(out1, "{\"op\":\"output\",\"size\":1e308}", NULL);
    feed(&sc, 0, CAP_SEND, (long long)bad_len, out1, bad_len);
    c = only_conn(&sc);
    f = c ? stream_frame_at(&c->up, 0) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_BAD && c->up.parse.lost &&
          strcmp(f->note, "header length 2147483647 is too big to be right") == 0,
          "a huge header length is bad: %s", f ? f->note : "-");
    CHECK(res, c != NULL && c->up.n_frames == 1, "the bytes after a bad length are not framed");
    f = c ? stream_frame_at(&c->down, 5) : NULL;
    CHECK(res, f != NULL && f->part == FRAME_BAD &&
          strcmp(f->note, "header has no usable size (op=output size=invalid)") == 0,
          "a size of 1e308 is invalid: %s", f ? f->note : "-");
    decoder_free(&sc.dec);
}

/* Memory must not grow with the transfer. */
static void test_window(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_RAW, 0, 40005, 8080);
    connect_both(&sc, "client", "server");
    send_text(&sc, 1, "cat big");
    unsigned char chunk[1000];
    for (int i = 0; i < 10000; i++) {
        memset(chunk, 'a' + i % 26, sizeof(chunk));
        feed(&sc, 0, CAP_SEND, 1000, chunk, sizeof(chunk));
        feed(&sc, 1, CAP_RECV, 1000, chunk, sizeof(chunk));
    }
    struct connection *c = only_conn(&sc);
    const struct stream *s = c ? &c->down : NULL;
    CHECK(res, s != NULL && s->sent == 10000000 && s->send_calls == 10000,
          "totals count all 10 MB and 10000 sends");
    size_t pages = 0;
    for (size_t i = 0; s != NULL && i < s->n_slots; i++)
        pages += s->pages[i] != NULL;
    CHECK(res, s != NULL && s->win_start == 10000000 - DECODE_DEFAULT_WINDOW &&
          pages <= DECODE_DEFAULT_WINDOW / DECODE_PAGE + 2,
          "only the last 64 KiB are kept (%zu pages)", pages);
    CHECK(res, s != NULL && s->n_sends <= DECODE_DEFAULT_WINDOW / 1000 + 64 &&
          s->n_recvs <= DECODE_DEFAULT_WINDOW / 1000 + 64 &&
          s->n_frames <= 2, "spans outside the window are dropped (%zu kept)",
          s ? s->n_sends : 0);
    CHECK(res, s != NULL && stream_byte(s, 5000) == -1 &&
          stream_byte(s, 9999999) == 'a' + 9999 % 26 &&
          stream_send_at(s, 9999999)->number == 10000, "recent bytes and spans are there");
    decoder_free(&sc.dec);
}

/* A stage 1 reply of 224 KiB in 4 KiB sends, read 1 KiB per recv: the
 * window stays where the client reads, so its recv marks and bytes are
 * there, and its second recv (after request #2) is caught as STALE. */
static void test_receiver_lags(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_RAW, 0, 40010, 8080);
    connect_both(&sc, "python3 -c", "python3 pych.py");
    send_text(&sc, 1, "big");
    recv_text(&sc, 0, "big");
    unsigned char chunk[4096];
    for (int i = 0; i < 56; i++) {
        memset(chunk, '0' + i % 10, sizeof(chunk));
        feed(&sc, 0, CAP_SEND, 4096, chunk, 1024);
    }
    memset(chunk, '0', sizeof(chunk));
    feed(&sc, 1, CAP_RECV, 1024, chunk, 1024);
    send_text(&sc, 1, "small");
    feed(&sc, 1, CAP_RECV, 1024, chunk, 1024);
    const struct connection *c = only_conn(&sc);
    const struct decode_stale *st = decoder_last_stale(&sc.dec);
    CHECK(res, sc.dec.stale_count == 1 && st != NULL &&
          strcmp(st->text, "STALE: recv #2 returned bytes of reply #1") == 0,
          "a client far behind its server is still caught: %s", st ? st->text : "(none)");
    CHECK(res, c != NULL && c->down.win_start == 0 && stream_recv_at(&c->down, 1500) != NULL &&
          stream_recv_at(&c->down, 1500)->number == 2 && stream_byte(&c->down, 1500) == '0',
          "the window stays on the client's recvs and the bytes they returned");
    CHECK(res, c != NULL && stream_window_end(&c->down) == DECODE_DEFAULT_WINDOW &&
          stream_end(&c->down) == 56 * 4096,
          "bytes sent beyond the window are counted but not kept");
    for (int i = 0; i < 10000; i++)
        feed(&sc, 0, CAP_SEND, 1000, chunk, 1000);
    CHECK(res, c != NULL && c->down.n_sends <= DECODE_DEFAULT_WINDOW / 4096 + 2 &&
          c->down.send_calls == 10056,
          "sends far ahead of a stuck client share spans (%zu kept)", c ? c->down.n_sends : 0);
    decoder_free(&sc.dec);
}

/* With a tiny window, one big recv pushes reply #1's send out of the
 * window before the recv is checked: the history still knows the range. */
static void test_history(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_RAW, 1024, 40011, 8080);
    connect_both(&sc, "client", "server");
    char buf[6000];
    memset(buf, 'x', sizeof(buf));
    send_text(&sc, 1, "one");
    recv_text(&sc, 0, "one");
    feed(&sc, 0, CAP_SEND, 2000, buf, 1024);
    feed(&sc, 1, CAP_RECV, 1000, buf, 1000);
    send_text(&sc, 1, "two");
    recv_text(&sc, 0, "two");
    for (int i = 0; i < 10; i++)
        feed(&sc, 0, CAP_SEND, 400, buf, 400);
    feed(&sc, 1, CAP_RECV, 5000, buf, 1024);
    const struct connection *c = only_conn(&sc);
    CHECK(res, c != NULL && c->down.win_start == 6000 - 1024 && stream_send_at(&c->down, 0) == NULL,
          "reply #1's send span left the window");
    const struct decode_stale *st = decoder_last_stale(&sc.dec);
    CHECK(res, sc.dec.stale_count == 1 && st != NULL &&
          strcmp(st->text, "STALE: recv #2 returned bytes of reply #1") == 0,
          "the recv is flagged from the history: %s", st ? st->text : "(none)");
    CHECK(res, c != NULL && c->down.n_history == 1 && c->down.history[0].end == 2000 &&
          c->down.history[0].message == 1,
          "the history holds reply #1's range (%zu)", c ? c->down.n_history : 0);
    decoder_free(&sc.dec);
}

/* 200 short connections: only the newest DECODE_MAX_FULL_CONNS keep their
 * bytes and spans; the others keep their totals. */
static void test_many_connections(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_RAW, 0, 20000, 8080);
    for (unsigned i = 0; i < 200; i++) {
        sc.client = loopback(20000 + i);
        connect_both(&sc, "client", "server");
        send_text(&sc, 1, "ls");
        recv_text(&sc, 0, "ls");
        send_text(&sc, 0, "a.txt\n");
        recv_text(&sc, 1, "a.txt\n");
        feed(&sc, 1, CAP_CLOSE, 0, NULL, 0);
        feed(&sc, 0, CAP_CLOSE, 0, NULL, 0);
    }
    const struct decoder *d = &sc.dec;
    CHECK(res, d->n_conns == 200 && d->n_full == DECODE_MAX_FULL_CONNS &&
          d->compacted == 200 - DECODE_MAX_FULL_CONNS,
          "200 connections, %d kept in full", DECODE_MAX_FULL_CONNS);
    const struct connection *old = d->conns[0];
    CHECK(res, old->compact && old->down.pages == NULL && old->down.sends == NULL &&
          old->up.recvs == NULL && old->down.sent == 6 && old->down.recv_calls == 1 &&
          old->up.sent == 2 && old->client_closed && old->server_closed,
          "the oldest one is freed but keeps its totals");
    const struct connection *last = d->conns[199];
    CHECK(res, !last->compact && stream_byte(&last->down, 0) == 'a' &&
          stream_recv_at(&last->down, 5) != NULL, "the newest one keeps its bytes and recvs");
    sc.client = loopback(20000);
    feed(&sc, 0, CAP_SEND, 3, "bye", 3);
    CHECK(res, d->n_conns == 200 && old->down.sent == 9 && old->down.send_calls == 2,
          "a late event of a freed connection is still counted");
    struct decode_status st;
    decoder_status(d, &st);
    CHECK(res, st.sends == 401 && st.recvs == 400, "the status counts every connection");
    decoder_free(&sc.dec);
}

/* A dual-stack server on :: records its IPv4 client as ::ffff:127.0.0.1. */
static void test_v4_mapped(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_RAW, 0, 40020, 8080);
    feed(&sc, 1, CAP_CONNECT, 0, "client", 6);
    send_text(&sc, 1, "ls");
    struct cap_addr v4_client = sc.client, v4_server = sc.server;
    struct cap_addr *both[2] = { &sc.client, &sc.server };
    for (int i = 0; i < 2; i++) {
        struct cap_addr *a = both[i];
        uint8_t v4[4];
        memcpy(v4, a->addr, 4);
        memset(a->addr, 0, sizeof(a->addr));
        a->addr[10] = a->addr[11] = 0xff;
        memcpy(a->addr + 12, v4, 4);
        a->family = AF_INET6;
    }
    feed(&sc, 0, CAP_ACCEPT, 0, "server", 6);
    recv_text(&sc, 0, "ls");
    const struct connection *c = only_conn(&sc);
    CHECK(res, c != NULL && c->up.received == 2 && c->client_pid == 100 && c->server_pid == 200 &&
          capture_addr_equal(&c->client, &v4_client) && capture_addr_equal(&c->server, &v4_server) &&
          strcmp(c->server_name, "127.0.0.1:8080") == 0,
          "::ffff:127.0.0.1 on the server side is the client's 127.0.0.1");
    decoder_free(&sc.dec);
}

static void test_matching(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_RAW, 0, 40006, 8080);
    connect_both(&sc, "client", "server");
    send_text(&sc, 1, "one");
    struct cap_addr first = sc.client;
    sc.client = loopback(40007);
    connect_both(&sc, "client", "server");
    send_text(&sc, 1, "two!");
    sc.client = first;
    recv_text(&sc, 0, "one");
    CHECK(res, sc.dec.n_conns == 2 && sc.dec.conns[0]->up.received == 3 &&
          sc.dec.conns[1]->up.sent == 4, "events are matched to connections by address pair");
    CHECK(res, strcmp(sc.dec.conns[1]->client_name, "127.0.0.1:40007") == 0 &&
          strcmp(sc.dec.conns[1]->server_name, "127.0.0.1:8080") == 0,
          "connection 2 is 127.0.0.1:40007 -> 127.0.0.1:8080");
    struct decode_status st;
    decoder_status(&sc.dec, &st);
    CHECK(res, st.sends == 2 && st.recvs == 1 && st.pending == 0 && st.events == 7,
          "the status counts sends, recvs and events");
    decoder_free(&sc.dec);
}

/* A tap loaded after connect()/accept() sees no roles: the lower port is
 * taken for the server's, whichever end speaks first. */
static void test_unknown_roles(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_RAW, 0, 50000, 8080);
    struct cap_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.magic = CAP_MAGIC;
    ev.kind = CAP_SEND;
    ev.socktype = SOCK_STREAM;
    ev.role = ROLE_UNKNOWN;
    ev.result = 2;
    ev.data_len = 2;
    ev.local = sc.server;           /* the server end speaks first */
    ev.peer = sc.client;
    decoder_feed(&sc.dec, &ev, (const unsigned char *)"hi");
    const struct connection *c = only_conn(&sc);
    CHECK(res, c != NULL && c->server.port == 8080 && c->down.sent == 2 && c->up.sent == 0,
          "port 8080 is taken for the server and its bytes go down");
    ev.kind = CAP_CLOSE;
    ev.result = 0;
    ev.data_len = 0;
    ev.local.family = 0;            /* a listening socket: no peer */
    decoder_feed(&sc.dec, &ev, NULL);
    CHECK(res, sc.dec.ignored == 1 && sc.dec.n_conns == 1, "an event without addresses is ignored");
    decoder_free(&sc.dec);
}

static void test_protos(struct results *res)
{
    enum proto p = PROTO_GUESS;
    CHECK(res, proto_parse("len", &p) == 0 && p == PROTO_LEN, "\"len\" parses");
    CHECK(res, proto_parse("JSON", &p) < 0, "\"JSON\" does not");
    CHECK(res, proto_parse("ft", &p) == 0 && p == PROTO_FT, "\"ft\" parses");
    CHECK(res, proto_parse("stage5", &p) == 0 && p == PROTO_FT && proto_parse("stage6", &p) == 0 &&
          p == PROTO_FT && proto_parse("stage4", &p) == 0 && p == PROTO_JSON &&
          proto_parse("stage7", &p) < 0, "a stage's number names its framing");
    CHECK(res, strcmp(proto_name(PROTO_JSON), "json") == 0, "proto names round-trip");
}

/* The reader: whole events only, even from a file still being written. */
static void test_reader(struct results *res, const char *dir)
{
    char path[512], err[256];
    snprintf(path, sizeof(path), "%s/reader.nbcap", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    struct cap_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.magic = CAP_MAGIC;
    ev.kind = CAP_SEND;
    ev.result = 5;
    ev.data_len = 5;
    CHECK(res, fd >= 0 && capture_write(fd, &ev, "hello") == 0, "an event is written");
    /* half of a second event: a tap caught mid-write */
    unsigned char half[40];
    memcpy(half, &ev, sizeof(half));
    CHECK(res, write(fd, half, sizeof(half)) == (ssize_t)sizeof(half), "half an event is written");
    struct capture_reader r;
    const unsigned char *data;
    struct cap_event got;
    CHECK(res, capture_open(&r, path, err, sizeof(err)) == 0, "the capture opens");
    CHECK(res, capture_next(&r, &got, &data, err, sizeof(err)) == 1 && got.result == 5 &&
          memcmp(data, "hello", 5) == 0, "the first event reads back with its bytes");
    CHECK(res, capture_next(&r, &got, &data, err, sizeof(err)) == 0 && capture_leftover(&r) == 40,
          "a half-written event is not returned yet");
    CHECK(res, write(fd, (unsigned char *)&ev + 40, sizeof(ev) - 40) > 0 &&
          write(fd, "world", 5) == 5, "the rest arrives");
    CHECK(res, capture_next(&r, &got, &data, err, sizeof(err)) == 1 &&
          memcmp(data, "world", 5) == 0, "and then the event is returned");
    CHECK(res, write(fd, "garbage!", 8) == 8, "garbage is appended");
    for (int i = 0; i < 80; i++)
        if (write(fd, "x", 1) != 1)
            break;
    int rc = capture_next(&r, &got, &data, err, sizeof(err));
    char want[96];
    snprintf(want, sizeof(want), "not a nianbao capture (bad magic at byte %zu)",
             2 * (sizeof(ev) + 5));
    CHECK(res, rc == -1 && strcmp(err, want) == 0,
          "garbage is reported with its offset: %s", err);
    capture_close(&r);
    close(fd);

    /* The first format (NBV1, no WIRE_LEN) and this one, mixed, from memory. */
    unsigned char mem[2 * sizeof(ev) + 16];
    struct cap_event v1 = ev;
    v1.magic = CAP_MAGIC_V1;
    v1.kind = CAP_RECV;
    v1.result = 3;
    v1.data_len = 3;
    memcpy(mem, &v1, CAP_HEADER_V1);
    memcpy(mem + CAP_HEADER_V1, "abc", 3);
    struct cap_event v2 = ev;
    v2.kind = CAP_RECV;
    v2.result = 5;
    v2.wire_len = 2000;
    v2.data_len = 5;
    memcpy(mem + CAP_HEADER_V1 + 3, &v2, sizeof(v2));
    memcpy(mem + CAP_HEADER_V1 + 3 + sizeof(v2), "hello", 5);
    size_t mem_len = CAP_HEADER_V1 + 3 + sizeof(v2) + 5;
    capture_open_mem(&r, mem, mem_len);
    CHECK(res, capture_next(&r, &got, &data, err, sizeof(err)) == 1 && got.magic == CAP_MAGIC &&
          got.result == 3 && got.wire_len == 3 && memcmp(data, "abc", 3) == 0,
          "an NBV1 event reads as this format's, WIRE_LEN = RESULT");
    CHECK(res, capture_next(&r, &got, &data, err, sizeof(err)) == 1 && got.result == 5 &&
          got.wire_len == 2000 && memcmp(data, "hello", 5) == 0,
          "an NBV2 event after it keeps its WIRE_LEN");
    CHECK(res, capture_next(&r, &got, &data, err, sizeof(err)) == 0 && capture_leftover(&r) == 0,
          "the buffer ends after them");
    capture_close(&r);
    capture_open_mem(&r, mem, mem_len - 1);
    CHECK(res, capture_next(&r, &got, &data, err, sizeof(err)) == 1 &&
          capture_next(&r, &got, &data, err, sizeof(err)) == 0 && capture_leftover(&r) == 92,
          "a buffer cut in an event leaves it over (%zu)", capture_leftover(&r));
    capture_close(&r);
    CHECK(res, capture_open(&r, "/nonexistent/x.nbcap", err, sizeof(err)) == -1 &&
          strcmp(err, "cannot open /nonexistent/x.nbcap: No such file or directory") == 0,
          "a missing file is named: %s", err);
    struct cap_addr a6;
    memset(&a6, 0, sizeof(a6));
    a6.family = AF_INET6;
    a6.port = 8085;
    a6.addr[15] = 1;
    char text[64];
    CHECK(res, strcmp(capture_format_addr(&a6, text, sizeof(text)), "[::1]:8085") == 0,
          "IPv6 addresses are bracketed");
}


/* Like feed, with the recv's WIRE_LEN (a cut datagram, MSG_TRUNC). */
static int feed_wire(struct scene *sc, int from_client, int socktype, long long result,
                     long long wire, const void *data, size_t data_len)
{
    struct cap_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.magic = CAP_MAGIC;
    ev.kind = CAP_RECV;
    ev.call = CALL_RECVMSG;
    ev.socktype = (uint8_t)socktype;
    ev.role = from_client ? ROLE_CLIENT : ROLE_SERVER;
    ev.time_ns = ++sc->clock;
    ev.result = result;
    ev.wire_len = wire;
    ev.pid = from_client ? 100 : 200;
    ev.fd = 3;
    ev.data_len = (uint32_t)data_len;
    ev.local = from_client ? sc->client : sc->server;
    ev.peer = from_client ? sc->server : sc->client;
    return decoder_feed(&sc->dec, &ev, data);
}

/* What reached the program and what left the connection are told apart. */
static void test_wire_len(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_RAW, 0, 40020, 8081);
    char big[2000];
    memset(big, 'd', sizeof(big));
    feed(&sc, 1, CAP_SEND, 2000, big, 1024);
    feed_wire(&sc, 0, SOCK_DGRAM, 5, 2000, big, 5);
    const struct connection *c = only_conn(&sc);
    const struct stream *up = c ? &c->up : NULL;
    CHECK(res, up != NULL && up->received == 2000 && up->lost == 1995 && up->recv_calls == 1 &&
          up->n_recvs == 1 && up->recvs[0].call_size == 5 && up->recvs[0].end == 2000,
          "a datagram cut to 5 bytes: 5 received, 1995 lost, its span covers all 2000");
    CHECK(res, up != NULL && stream_pending(up) == 0, "nothing of it is pending");
    decoder_free(&sc.dec);

    scene_init(&sc, PROTO_RAW, 0, 40021, 8080);
    send_text(&sc, 0, "0123456789");
    feed_wire(&sc, 1, SOCK_STREAM, 0, 5, NULL, 0);
    feed_wire(&sc, 1, SOCK_STREAM, 5, 5, "56789", 5);
    c = only_conn(&sc);
    const struct stream *down = c ? &c->down : NULL;
    CHECK(res, down != NULL && down->received == 10 && down->lost == 5 && !down->eof &&
          down->recv_calls == 2 && down->recvs[0].call_size == 0,
          "TCP recv(MSG_TRUNC) discards 5 bytes: not an EOF, a recv that took 5");
    feed_wire(&sc, 1, SOCK_STREAM, 0, 0, NULL, 0);
    CHECK(res, down != NULL && down->eof && down->recv_calls == 2, "a recv of 0 is the EOF");
    decoder_free(&sc.dec);
}

/* Events no call can make are counted and left out. */
static void test_invalid(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_RAW, 0, 40022, 8080);
    send_text(&sc, 1, "ls");
    feed(&sc, 0, CAP_SEND, 9223372036854775807LL, "x", 1);
    feed(&sc, 0, CAP_SEND, 9223372036854775807LL, "x", 1);
    feed(&sc, 0, CAP_SEND, 3, "abcdef", 6);          /* captured more than it moved */
    feed_wire(&sc, 1, SOCK_STREAM, 2, -5, "ab", 2);  /* a wire length below -1 */
    const struct connection *c = only_conn(&sc);
    CHECK(res, sc.dec.invalid == 4 && c != NULL && c->down.sent == 0 && c->down.send_calls == 0 &&
          c->down.recv_calls == 0, "4 impossible events are invalid (%llu) and change nothing",
          (unsigned long long)sc.dec.invalid);
    feed(&sc, 0, CAP_SEND, DECODE_MAX_CALL, "x", 1);
    CHECK(res, c != NULL && c->down.sent == (uint64_t)DECODE_MAX_CALL && sc.dec.invalid == 4,
          "the biggest possible call is taken");
    decoder_free(&sc.dec);
}

/* A stage 4 header of HEADER (JSON text) from the server, whole. */
static const struct decode_frame *json_reply(struct scene *sc, const char *header)
{
    unsigned char msg[512];
    uint32_t len = (uint32_t)strlen(header);
    memcpy(msg, &len, 4);
    memcpy(msg + 4, header, len);
    send_text(sc, 1, "cmd");
    feed(sc, 0, CAP_SEND, 4 + len, msg, 4 + len);
    const struct connection *c = only_conn(sc);
    for (size_t i = 0; c != NULL && i < c->down.n_frames; i++)
        if (c->down.frames[i].start == 4)
            return &c->down.frames[i];
    return NULL;
}

/* JSON numbers that are no byte count are shown as invalid, never cast. */
static void test_json_values(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_JSON, 0, 40023, 8085);
    const struct decode_frame *f =
        json_reply(&sc, "{\"total_size\":1e308,\"stdout_size\":0,\"exit_code\":0}");
    CHECK(res, f != NULL && f->part == FRAME_BAD && f->header.have_total_size == -1 &&
          strcmp(f->note, "header has no usable total_size (total_size=invalid stdout_size=0 "
                 "exit_code=0)") == 0, "total_size 1e308: %s", f ? f->note : "(no frame)");
    decoder_free(&sc.dec);
    scene_init(&sc, PROTO_JSON, 0, 40024, 8085);
    f = json_reply(&sc, "{\"total_size\":0,\"stdout_size\":9223372036854775808,"
                        "\"exit_code\":-1e308}");
    CHECK(res, f != NULL && f->part == FRAME_HEADER_JSON && f->header.have_stdout_size == -1 &&
          f->header.have_exit_code == -1 &&
          strcmp(f->note, "total_size=0 stdout_size=invalid exit_code=invalid") == 0,
          "2^63 and -1e308: %s", f ? f->note : "(no frame)");
    decoder_free(&sc.dec);
    scene_init(&sc, PROTO_JSON, 0, 40025, 8085);
    f = json_reply(&sc, "{\"total_size\":2.5}");
    CHECK(res, f != NULL && f->part == FRAME_BAD && f->header.have_total_size == -1,
          "2.5 is no size: %s", f ? f->note : "(no frame)");
    decoder_free(&sc.dec);
}

/* A header whose bytes were not captured waits; when a copy of them comes
 * (the receiver's), it is decoded. */
static void test_header_wait(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_JSON, 0, 40026, 8085);
    const char *header = "{\"total_size\":3}";
    unsigned char msg[64];
    uint32_t len = (uint32_t)strlen(header);
    memcpy(msg, &len, 4);
    memcpy(msg + 4, header, len);
    memcpy(msg + 4 + len, "abc", 3);
    send_text(&sc, 1, "cmd");
    feed(&sc, 0, CAP_SEND, 4 + len + 3, msg, 4);     /* only the length captured */
    const struct connection *c = only_conn(&sc);
    for (size_t i = 0; i < 4 + len + 3; i++)
        feed(&sc, 1, CAP_RECV, 1, msg + i, i == 6 || i == 7 ? 0 : 1);  /* 2 never come */
    CHECK(res, c != NULL && c->down.n_frames == 1 && c->down.parse.scan_at == 6,
          "the header waits at its first byte not captured (%llu)",
          c ? (unsigned long long)c->down.parse.scan_at : 0ULL);
    decoder_free(&sc.dec);
    scene_init(&sc, PROTO_JSON, 0, 40027, 8085);
    send_text(&sc, 1, "cmd");
    feed(&sc, 0, CAP_SEND, 4 + len + 3, msg, 4);
    feed(&sc, 1, CAP_RECV, 4 + len + 3, msg, 4 + len + 3);
    c = only_conn(&sc);
    CHECK(res, c != NULL && c->down.n_frames == 3 && c->down.frames[1].part == FRAME_HEADER_JSON &&
          c->down.frames[2].part == FRAME_BODY, "the receiver's copy completes it");
    decoder_free(&sc.dec);
}

/* The framing guess reads common/stages.def. */
static void test_stage_table(struct results *res)
{
    CHECK(res, proto_for_port(8080) == PROTO_RAW && proto_for_port(8083) == PROTO_LEN &&
          proto_for_port(8085) == PROTO_JSON && proto_for_port(8081) == PROTO_RAW &&
          proto_for_port(9999) == PROTO_GUESS, "ports map to the stages' framing");
    CHECK(res, proto_for_port(8086) == PROTO_FT && proto_for_port(8087) == PROTO_FT &&
          proto_for_program("/x/stage6_concurrent/poll --port 0") == PROTO_FT &&
          proto_for_program("stage5_file_transfer/client ls") == PROTO_FT,
          "stages 5 and 6 are ft, by port and by program");
    CHECK(res, proto_for_program("/home/s/nianbao/stage3_struct_len/server --port 0") == PROTO_LEN &&
          proto_for_program("python3 client.py") == PROTO_GUESS,
          "a stage folder in the command line names the framing");
    CHECK(res, proto_for_program("nianbao-stage3-client -p 8083") == PROTO_LEN &&
          proto_for_program("/usr/bin/nianbao-stage4-server --port 0") == PROTO_JSON &&
          proto_for_program("nianbao-stage6-poll") == PROTO_FT &&
          proto_for_program("nianbao-stage1-client") == PROTO_RAW,
          "an installed name (nianbao-stageN-...) names the framing too");
}

/* Runs of bytes not captured end where a captured byte is. */
static void test_next_known(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_RAW, 0, 40028, 8080);
    send_text(&sc, 1, "x");
    char buf[20000];
    memset(buf, 'k', sizeof(buf));
    feed(&sc, 0, CAP_SEND, 20000, buf, 10);
    feed(&sc, 0, CAP_SEND, 5, "hello", 5);
    const struct stream *s = only_conn(&sc) ? &only_conn(&sc)->down : NULL;
    CHECK(res, s != NULL && stream_next_known(s, 0, 20005) == 0 &&
          stream_next_known(s, 10, 20005) == 20000 && stream_next_known(s, 10, 15000) == 15000,
          "the run after the 10 captured bytes ends at the next send's");
    decoder_free(&sc.dec);
}

/* A reply of 1-byte sends, a client recv of many of them: still STALE. */
static void test_stale_tiny_sends(struct results *res)
{
    struct scene sc;
    scene_init(&sc, PROTO_RAW, 0, 40029, 8080);
    send_text(&sc, 1, "one");
    recv_text(&sc, 0, "one");
    for (int i = 0; i < 3000; i++)
        feed(&sc, 0, CAP_SEND, 1, "a", 1);
    char buf[3000];
    memset(buf, 'a', sizeof(buf));
    feed(&sc, 1, CAP_RECV, 1024, buf, 1024);
    send_text(&sc, 1, "two");
    recv_text(&sc, 0, "two");
    feed(&sc, 1, CAP_RECV, 1976, buf, 1976);
    feed(&sc, 0, CAP_SEND, 2, "ok", 2);
    const struct decode_stale *st = decoder_last_stale(&sc.dec);
    CHECK(res, sc.dec.stale_count == 1 && st != NULL && st->recv_no == 2 && st->reply_no == 1,
          "a recv over 1976 one-byte sends of reply #1 is STALE");
    decoder_free(&sc.dec);
}

/* decoder_load_buffer: the fuzzing entry point. */
static void test_load_buffer(struct results *res)
{
    struct cap_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.magic = CAP_MAGIC;
    ev.kind = CAP_SEND;
    ev.socktype = SOCK_STREAM;
    ev.role = ROLE_CLIENT;
    ev.result = 2;
    ev.data_len = 2;
    ev.local = loopback(40030);
    ev.peer = loopback(8080);
    unsigned char buf[2 * (sizeof(ev) + 2)];
    memcpy(buf, &ev, sizeof(ev));
    memcpy(buf + sizeof(ev), "ls", 2);
    memcpy(buf + sizeof(ev) + 2, &ev, sizeof(ev));
    memcpy(buf + 2 * sizeof(ev) + 2, "ls", 2);
    struct decoder d;
    char err[256];
    decoder_init(&d, NULL);
    CHECK(res, decoder_load_buffer(&d, buf, sizeof(buf), err, sizeof(err)) == 0 &&
          d.n_conns == 1 && d.conns[0]->up.sent == 4, "a capture in memory decodes");
    decoder_free(&d);
    decoder_init(&d, NULL);
    CHECK(res, decoder_load_buffer(&d, buf, sizeof(buf) - 1, err, sizeof(err)) == -1 &&
          strcmp(err, "capture: ends in the middle of an event (89 stray bytes)") == 0,
          "a cut one says so: %s", err);
    decoder_free(&d);
}

/* --wrap: the line breaker on texts from stdin. */
static int wrap_main(int argc, char **argv)
{
    if (!setlocale(LC_ALL, "C.UTF-8") && !setlocale(LC_ALL, "C.utf8")) {
        fprintf(stderr, "test_decode: no C.UTF-8 locale\n");
        return 1;
    }
    char line[8192];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        for (int a = 2; a < argc; a++) {
            struct wrap_line lines[256];
            size_t n = wrap_text(line, atoi(argv[a]), lines, 256);
            for (size_t i = 0; i < n && i < 256; i++)
                printf("%.*s\n", (int)lines[i].len, line + lines[i].start);
            printf("\n");
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct results res = { 0, 0 };
    if (argc > 1 && strcmp(argv[1], "--wrap") == 0)
        return wrap_main(argc, argv);
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    test_reader(&res, dir);
    test_stale(&res);
    test_recv_before_send(&res);
    test_stale_client_only(&res);
    test_len_frames(&res);
    test_json_frames(&res);
    test_ft_frames(&res);
    test_window(&res);
    test_receiver_lags(&res);
    test_history(&res);
    test_many_connections(&res);
    test_v4_mapped(&res);
    test_matching(&res);
    test_unknown_roles(&res);
    test_protos(&res);
    test_wire_len(&res);
    test_invalid(&res);
    test_json_values(&res);
    test_header_wait(&res);
    test_stage_table(&res);
    test_next_known(&res);
    test_stale_tiny_sends(&res);
    test_load_buffer(&res);
    printf("1..%d\n", res.run);
    if (res.failed > 0)
        fprintf(stderr, "%d of %d checks failed\n", res.failed, res.run);
    return res.failed > 0;
}
