/* pcap.c - a capture as a pcap file (see pcap.h).
 *
 * Two passes over the capture: the first finds the connections and which
 * of their ends were tapped, the second writes the packets in the order
 * the calls returned. Both passes meet the connections in the same order
 * and number them alike. */
#include "pcap.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "capture.h"
#include "decode.h"

#define LINKTYPE_RAW 101
#define SNAPLEN 65535
#define MAX_PAYLOAD 65000            /* per packet: IPv4 total length <= 65535 */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* One connection (or UDP address pair). */
struct pconn {
    struct cap_addr client, server;
    int socktype;
    int client_sends, server_sends;  /* each end's send() calls were tapped */
    int opened;                      /* the handshake is written            */
    int client_fin, server_fin;      /* a FIN from that end is written       */
    int client_closed, server_closed; /* pass bookkeeping: that end closed  */
    uint32_t client_seq, server_seq; /* next sequence number of each end    */
    struct pconn *next;              /* same hash bucket                    */
};

struct table {
    struct pconn **buckets;
    size_t n_buckets;
    struct pconn **all;              /* in order of creation                */
    size_t n_all, cap_all;
};

struct out {
    FILE *f;
    uint16_t ip_id;
    unsigned char packet[40 + 20 + MAX_PAYLOAD];
};

/* ---- connections -------------------------------------------------------------- */

static uint64_t addr_hash(const struct cap_addr *a)
{
    uint64_t h = 1469598103934665603ULL ^ a->family ^ ((uint64_t)a->port << 16);
    for (int i = 0; i < 16; i++)
        h = (h ^ a->addr[i]) * 1099511628211ULL;
    return h;
}

/* The same for (A, B) and (B, A). */
static size_t pair_bucket(const struct table *t, const struct cap_addr *a, const struct cap_addr *b)
{
    return (size_t)((addr_hash(a) ^ addr_hash(b)) % t->n_buckets);
}

static int table_init(struct table *t)
{
    memset(t, 0, sizeof *t);
    t->n_buckets = 4093;
    t->buckets = calloc(t->n_buckets, sizeof *t->buckets);
    return t->buckets ? 0 : -1;
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->n_all; i++)
        free(t->all[i]);
    free(t->all);
    free(t->buckets);
    memset(t, 0, sizeof *t);
}

/* The connection of EV (made when new) and whether the recording process
 * is its client. As the decoder does: a connect()/accept() on a pair whose
 * end already closed starts a new connection; without connect/accept the
 * lower port is taken for the server's. Returns NULL when EV has no
 * addresses; *FAILED set when out of memory. */
static struct pconn *place(struct table *t, const struct cap_event *ev, int *is_client,
                           int *failed)
{
    struct cap_addr local = ev->local, peer = ev->peer;
    capture_addr_unmap(&local);
    capture_addr_unmap(&peer);
    if (local.family == 0 || peer.family == 0)
        return NULL;
    size_t bucket = pair_bucket(t, &local, &peer);
    for (struct pconn *c = t->buckets[bucket]; c; c = c->next) {
        int as_client = capture_addr_equal(&c->client, &local) &&
                        capture_addr_equal(&c->server, &peer);
        int as_server = capture_addr_equal(&c->server, &local) &&
                        capture_addr_equal(&c->client, &peer);
        if (!as_client && !as_server)
            continue;
        if ((ev->kind == CAP_CONNECT && as_client && c->client_closed) ||
            (ev->kind == CAP_ACCEPT && as_server && c->server_closed))
            break;      /* the ports reused by a new connection */
        *is_client = as_client;
        return c;
    }
    if (ev->kind == CAP_CLOSE)
        return NULL;
    int client = ev->role == ROLE_CLIENT ? 1 : ev->role == ROLE_SERVER ? 0
                 : local.port > peer.port;
    if (t->n_all == t->cap_all) {
        size_t cap = t->cap_all ? t->cap_all * 2 : 64;
        struct pconn **grown = realloc(t->all, cap * sizeof *grown);
        if (grown == NULL) {
            *failed = 1;
            return NULL;
        }
        t->all = grown;
        t->cap_all = cap;
    }
    struct pconn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        *failed = 1;
        return NULL;
    }
    c->client = client ? local : peer;
    c->server = client ? peer : local;
    c->socktype = ev->socktype;
    /* Plausible initial sequence numbers, different per connection. */
    uint64_t h = addr_hash(&c->client) * 31 + addr_hash(&c->server) + t->n_all;
    c->client_seq = (uint32_t)(h >> 7) | 1u;
    c->server_seq = (uint32_t)(h >> 35) | 2u;
    c->next = t->buckets[bucket];
    t->buckets[bucket] = c;
    t->all[t->n_all++] = c;
    *is_client = client;
    return c;
}

/* ---- packets -------------------------------------------------------------------- */

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/* The Internet checksum's running sum over LEN bytes. */
static uint32_t sum16(const unsigned char *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static int write_record(struct out *o, uint64_t time_ns, size_t captured, size_t len)
{
    unsigned char rec[16];
    uint32_t sec = (uint32_t)(time_ns / 1000000000u);
    uint32_t usec = (uint32_t)(time_ns % 1000000000u / 1000u);
    uint32_t fields[4] = { sec, usec, (uint32_t)captured, (uint32_t)len };
    memcpy(rec, fields, sizeof rec);       /* host order, as the file header */
    if (fwrite(rec, 1, sizeof rec, o->f) != sizeof rec ||
        fwrite(o->packet, 1, captured, o->f) != captured)
        return -1;
    return 0;
}

/* Writes one IP packet from FROM to TO carrying a transport header HDR
 * (HDR_LEN bytes, checksum field at CSUM_AT) and LEN payload bytes, of
 * which the first CAPTURED are DATA. */
static int write_packet(struct out *o, uint64_t time_ns, const struct cap_addr *from,
                        const struct cap_addr *to, uint8_t protocol, unsigned char *hdr,
                        size_t hdr_len, size_t csum_at, const unsigned char *data,
                        size_t captured, size_t len)
{
    unsigned char *p = o->packet;
    size_t ip_len = from->family == AF_INET6 ? 40 : 20;
    size_t total = ip_len + hdr_len + len;
    uint32_t pseudo = 0;

    if (from->family == AF_INET6) {
        memset(p, 0, 40);
        p[0] = 0x60;
        put16(p + 4, (uint16_t)(hdr_len + len));
        p[6] = protocol;
        p[7] = 64;
        memcpy(p + 8, from->addr, 16);
        memcpy(p + 24, to->addr, 16);
        pseudo = sum16(p + 8, 32, 0);
        uint32_t upper = (uint32_t)(hdr_len + len);
        pseudo += upper >> 16;
        pseudo += upper & 0xffff;
        pseudo += protocol;
    } else {
        memset(p, 0, 20);
        p[0] = 0x45;
        put16(p + 2, (uint16_t)total);
        put16(p + 4, o->ip_id++);
        p[6] = 0x40;                        /* don't fragment */
        p[8] = 64;
        p[9] = protocol;
        memcpy(p + 12, from->addr, 4);
        memcpy(p + 16, to->addr, 4);
        put16(p + 10, fold(sum16(p, 20, 0)));
        pseudo = sum16(p + 12, 8, 0) + protocol + (uint32_t)(hdr_len + len);
    }
    memcpy(p + ip_len, hdr, hdr_len);
    if (captured)
        memcpy(p + ip_len + hdr_len, data, captured);
    /* The transport checksum needs every byte: cut short, it stays 0. */
    if (captured == len) {
        uint16_t csum = fold(sum16(p + ip_len, hdr_len + len, pseudo));
        if (protocol == IPPROTO_UDP && csum == 0)
            csum = 0xffff;
        put16(p + ip_len + csum_at, csum);
    }
    return write_record(o, time_ns, ip_len + hdr_len + captured, total);
}

/* One TCP segment from the client end (FROM_CLIENT) or the server end. */
static int tcp_segment(struct out *o, struct pconn *c, int from_client, uint8_t flags,
                       const unsigned char *data, size_t captured, size_t len,
                       uint64_t time_ns)
{
    unsigned char tcp[20];
    const struct cap_addr *from = from_client ? &c->client : &c->server;
    const struct cap_addr *to = from_client ? &c->server : &c->client;
    uint32_t *seq = from_client ? &c->client_seq : &c->server_seq;
    uint32_t ack = from_client ? c->server_seq : c->client_seq;

    memset(tcp, 0, sizeof tcp);
    put16(tcp, from->port);
    put16(tcp + 2, to->port);
    put32(tcp + 4, *seq);
    put32(tcp + 8, flags & TCP_ACK ? ack : 0);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    put16(tcp + 14, 65535);
    if (write_packet(o, time_ns, from, to, IPPROTO_TCP, tcp, sizeof tcp, 16, data, captured,
                     len) < 0)
        return -1;
    *seq += (uint32_t)len + ((flags & (TCP_SYN | TCP_FIN)) ? 1 : 0);
    return 0;
}

static int udp_datagram(struct out *o, struct pconn *c, int from_client,
                        const unsigned char *data, size_t captured, size_t len,
                        uint64_t time_ns)
{
    unsigned char udp[8];
    const struct cap_addr *from = from_client ? &c->client : &c->server;
    const struct cap_addr *to = from_client ? &c->server : &c->client;
    if (len > MAX_PAYLOAD) {      /* a datagram does not split: keep its start */
        if (captured > MAX_PAYLOAD)
            captured = MAX_PAYLOAD;
        len = MAX_PAYLOAD;
    }
    put16(udp, from->port);
    put16(udp + 2, to->port);
    put16(udp + 4, (uint16_t)(8 + len));
    put16(udp + 6, 0);
    return write_packet(o, time_ns, from, to, IPPROTO_UDP, udp, sizeof udp, 6, data, captured,
                        len);
}

/* The three-way handshake, at the connection's first event. */
static int open_connection(struct out *o, struct pconn *c, uint64_t time_ns)
{
    if (c->opened || c->socktype != SOCK_STREAM)
        return 0;
    c->opened = 1;
    if (tcp_segment(o, c, 1, TCP_SYN, NULL, 0, 0, time_ns) < 0)
        return -1;
    if (tcp_segment(o, c, 0, TCP_SYN | TCP_ACK, NULL, 0, 0, time_ns) < 0)
        return -1;
    /* The client's ACK: its sequence number was moved by the SYN already. */
    return tcp_segment(o, c, 1, TCP_ACK, NULL, 0, 0, time_ns);
}

/* LEN bytes (CAPTURED of them in DATA) sent by one end: one segment, or
 * several of MAX_PAYLOAD bytes. What was not captured past the segments
 * that hold captured bytes is one segment, the last, after a gap in the
 * sequence numbers (Wireshark: "previous segment not captured"): the file
 * grows with what the capture holds, not with what an event claims. */
static int send_bytes(struct out *o, struct pconn *c, int from_client, const unsigned char *data,
                      size_t captured, uint64_t len, uint64_t time_ns)
{
    if (c->socktype != SOCK_STREAM)
        return udp_datagram(o, c, from_client, data, captured,
                            len > MAX_PAYLOAD ? MAX_PAYLOAD : (size_t)len, time_ns);
    uint32_t *seq = from_client ? &c->client_seq : &c->server_seq;
    for (uint64_t at = 0; at < len; at += MAX_PAYLOAD) {
        size_t piece = len - at < MAX_PAYLOAD ? (size_t)(len - at) : MAX_PAYLOAD;
        if (at >= captured && len - at > MAX_PAYLOAD) {
            uint64_t last = (len - at) % MAX_PAYLOAD ? (len - at) % MAX_PAYLOAD : MAX_PAYLOAD;
            *seq += (uint32_t)(len - at - last);    /* modulo 2^32, as TCP counts */
            at = len - last;
            piece = (size_t)last;
        }
        size_t have = captured > at ? captured - (size_t)at : 0;
        if (have > piece)
            have = piece;
        if (tcp_segment(o, c, from_client, TCP_PSH | TCP_ACK, data + (have ? at : 0), have, piece,
                        time_ns) < 0)
            return -1;
    }
    return 0;
}

static int fin(struct out *o, struct pconn *c, int from_client, uint64_t time_ns)
{
    int *done = from_client ? &c->client_fin : &c->server_fin;
    if (*done || c->socktype != SOCK_STREAM)
        return 0;
    *done = 1;
    return tcp_segment(o, c, from_client, TCP_FIN | TCP_ACK, NULL, 0, 0, time_ns);
}

/* ---- the two passes ------------------------------------------------------------ */

/* Pass 1: the connections, and which ends' sends were tapped. An event
 * whose sizes no call can have (decode_event_possible) is an error: no
 * file is written. */
static int survey(const char *path, struct table *t, char *err, size_t errlen)
{
    struct capture_reader r;
    struct cap_event ev;
    const unsigned char *data;
    int got, failed = 0;
    uint64_t n_event = 0;

    if (capture_open(&r, path, err, errlen) < 0)
        return -1;
    while ((got = capture_next(&r, &ev, &data, err, errlen)) == 1) {
        int is_client;
        n_event++;
        if (!decode_event_possible(&ev)) {
            const char *call = ev.kind == CAP_SEND ? "send" : "recv";
            int64_t claim = ev.wire_len > ev.result ? ev.wire_len : ev.result;
            if (claim > DECODE_MAX_CALL || ev.wire_len < -1)
                snprintf(err, errlen, "%s: event %llu is a %s of %lld bytes, more than one call "
                         "can move (%lld): no pcap written", path,
                         (unsigned long long)n_event, call, (long long)claim,
                         (long long)DECODE_MAX_CALL);
            else
                snprintf(err, errlen, "%s: event %llu is a %s of %lld bytes with %u captured, "
                         "more than it moved: no pcap written", path,
                         (unsigned long long)n_event, call, (long long)ev.result, ev.data_len);
            got = -1;
            break;
        }
        struct pconn *c = place(t, &ev, &is_client, &failed);
        if (failed) {
            snprintf(err, errlen, "out of memory reading %s", path);
            got = -1;
            break;
        }
        if (c == NULL)
            continue;
        if (ev.kind == CAP_SEND && ev.result > 0)
            *(is_client ? &c->client_sends : &c->server_sends) = 1;
        if (ev.kind == CAP_CLOSE)
            *(is_client ? &c->client_closed : &c->server_closed) = 1;
    }
    capture_close(&r);
    return got < 0 ? -1 : 0;
}

/* Pass 2: the packets. */
static int write_packets(const char *path, const struct table *survey_table, struct table *t,
                         struct out *o, char *err, size_t errlen)
{
    struct capture_reader r;
    struct cap_event ev;
    const unsigned char *data;
    int got, failed = 0, status = 0;

    if (capture_open(&r, path, err, errlen) < 0)
        return -1;
    while (status == 0 && (got = capture_next(&r, &ev, &data, err, errlen)) == 1) {
        int is_client;
        size_t before = t->n_all;
        struct pconn *c = place(t, &ev, &is_client, &failed);
        if (failed) {
            snprintf(err, errlen, "out of memory reading %s", path);
            status = -1;
            break;
        }
        if (c == NULL)
            continue;
        if (t->n_all > before && before < survey_table->n_all) {
            /* The same connection the survey met at this place. */
            c->client_sends = survey_table->all[before]->client_sends;
            c->server_sends = survey_table->all[before]->server_sends;
        }
        if (open_connection(o, c, ev.time_ns) < 0)
            goto write_error;
        size_t captured = ev.data_len < (uint64_t)(ev.result > 0 ? ev.result : 0)
                          ? ev.data_len : (size_t)(ev.result > 0 ? ev.result : 0);
        /* What went over the wire: the result, except for a recv that
         * discarded bytes (MSG_TRUNC) in the second capture format. */
        int64_t wire = ev.result;
        int eof = ev.kind == CAP_RECV && ev.result == 0;
#ifdef CAP_MAGIC_V1
        if (ev.kind == CAP_RECV) {
            wire = ev.wire_len > ev.result ? ev.wire_len : ev.result;
            eof = ev.result == 0 && ev.wire_len == 0;
        }
#endif
        switch (ev.kind) {
        case CAP_SEND:
            if (ev.result > 0 &&
                send_bytes(o, c, is_client, data, captured, (uint64_t)ev.result, ev.time_ns) < 0)
                goto write_error;
            break;
        case CAP_RECV: {
            int sender_is_client = !is_client;
            int sender_tapped = sender_is_client ? c->client_sends : c->server_sends;
            if (wire > 0 && !sender_tapped &&
                send_bytes(o, c, sender_is_client, data, captured, (uint64_t)wire, ev.time_ns) < 0)
                goto write_error;
            if (eof && fin(o, c, sender_is_client, ev.time_ns) < 0)
                goto write_error;
            break;
        }
        case CAP_CLOSE:
            *(is_client ? &c->client_closed : &c->server_closed) = 1;
            if (fin(o, c, is_client, ev.time_ns) < 0)
                goto write_error;
            break;
        default:
            break;
        }
        continue;
write_error:
        status = -1;
        err[0] = '\0';
    }
    if (status == 0 && got < 0)
        status = -1;
    capture_close(&r);
    return status;
}

int pcap_export(const char *capture_path, const char *out_path, char *err, size_t errlen)
{
    struct table survey_table, t;
    struct out *o = NULL;
    int status = -1;

    if (table_init(&survey_table) < 0 || table_init(&t) < 0) {
        snprintf(err, errlen, "out of memory");
        table_free(&survey_table);
        return -1;
    }
    if (survey(capture_path, &survey_table, err, errlen) < 0)
        goto end;
    o = calloc(1, sizeof *o);
    if (o == NULL) {
        snprintf(err, errlen, "out of memory");
        goto end;
    }
    o->f = fopen(out_path, "wb");
    if (o->f == NULL) {
        snprintf(err, errlen, "cannot write %s: %s", out_path, strerror(errno));
        goto end;
    }
    /* The classic pcap header, in host order (readers check the magic). */
    uint32_t magic = 0xa1b2c3d4, snaplen = SNAPLEN, linktype = LINKTYPE_RAW, zero = 0;
    uint16_t major = 2, minor = 4;
    if (fwrite(&magic, 4, 1, o->f) != 1 || fwrite(&major, 2, 1, o->f) != 1 ||
        fwrite(&minor, 2, 1, o->f) != 1 || fwrite(&zero, 4, 1, o->f) != 1 ||
        fwrite(&zero, 4, 1, o->f) != 1 || fwrite(&snaplen, 4, 1, o->f) != 1 ||
        fwrite(&linktype, 4, 1, o->f) != 1) {
        snprintf(err, errlen, "cannot write %s: %s", out_path, strerror(errno));
        goto end;
    }
    if (write_packets(capture_path, &survey_table, &t, o, err, errlen) < 0) {
        if (err[0] == '\0')
            snprintf(err, errlen, "cannot write %s: %s", out_path, strerror(errno));
        goto end;
    }
    status = 0;
end:
    if (o && o->f) {
        if (fclose(o->f) != 0 && status == 0) {
            snprintf(err, errlen, "cannot write %s: %s", out_path, strerror(errno));
            status = -1;
        }
    }
    free(o);
    table_free(&survey_table);
    table_free(&t);
    return status;
}
