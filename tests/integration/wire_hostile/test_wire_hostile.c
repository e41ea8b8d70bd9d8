/*
 * test_wire_hostile.c — a hostile peer against node V (with honest H1, H2
 * linked to it). The attacker speaks raw TCP (SP handshake by hand) and nng:
 * length claims of 2^40 and cap+1, truncated and malformed protobuf, bad
 * signatures, a wrong network id, 100 replays of one valid message, junk on
 * the service channel and 200 rapid connections. Checked: no crash, no
 * forged or replayed message delivered, the offender disconnected (and
 * refused while discouraged), resident memory within 64 MiB of the
 * baseline, honest gossip still delivered.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/bus0/bus.h>
#include <nng/protocol/reqrep0/req.h>

#include "harness.h"

#define EVIL_IDX   666
#define DISCOURAGE 400

static tnode v, h1, h2;
static wallet *evil;

static void
tweak_v(wire_config *c)
{
    c->discourage_ms = DISCOURAGE;
}

static long
rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

static int
port_of(const char *url)
{
    const char *c = strrchr(url, ':');
    return c ? (int)strtol(c + 1, NULL, 10) : -1;
}

static wire_stats
vstats(void)
{
    wire_stats s;
    wire_node_stats(v.n, &s);
    return s;
}

static int
tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void
send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the node may already have closed us: that is fine */
        b += w;
        n -= (size_t)w;
    }
}

/* SP over TCP: 8-byte header 00 'S' 'P' 00 <proto u16 BE> 00 00. */
static void
sp_hello(int fd, uint16_t proto)
{
    uint8_t h[8] = {0, 'S', 'P', 0, (uint8_t)(proto >> 8), (uint8_t)proto, 0, 0};
    send_all(fd, h, sizeof h);
}

static void
sp_frame_header(int fd, uint64_t len)
{
    uint8_t l[8];
    for (int i = 0; i < 8; i++)
        l[i] = (uint8_t)(len >> (56 - 8 * i));
    send_all(fd, l, 8);
}

/* True when the peer closed the connection within ~2 s. */
static bool
closed_by_peer(int fd)
{
    uint8_t buf[256];
    for (int i = 0; i < 4; i++) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return true;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
    }
    return false;
}

static bool
wait_stat(size_t off, uint64_t at_least, int ms)
{
    uint64_t t0 = aria_mono_ms();
    while (aria_mono_ms() - t0 < (uint64_t)ms) {
        wire_stats s = vstats();
        if (((uint64_t *)&s)[off / sizeof(uint64_t)] >= at_least)
            return true;
        th_sleep_ms(10);
    }
    return false;
}
#define WAIT_STAT(field, v_, ms) wait_stat(offsetof(wire_stats, field), (v_), (ms))

static void
frame(uint32_t type, const uint8_t *net, int tag, uint8_t **f, size_t *fl)
{
    uint8_t *b;
    size_t bl;
    cr_assert_eq(th_body(tag, &b, &bl), 0);
    cr_assert_eq(
        wire_envelope_build(evil, net, type, (uint64_t)tag, aria_wall_ms(), 4, b, bl, f, fl, NULL),
        0);
    aria_free(b);
}

/* nng attacker: a cooked BUS socket dialing V; counts its lost pipes. */
static atomic_int evil_pipes_lost;
static void
evil_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p;
    (void)arg;
    if (ev == NNG_PIPE_EV_REM_POST)
        atomic_fetch_add(&evil_pipes_lost, 1);
}

static nng_socket
evil_dial(void)
{
    nng_socket s;
    cr_assert_eq(nng_bus0_open(&s), 0);
    nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 1 << 20);
    nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 60000); /* one connection per dial */
    nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 60000);
    nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, evil_pipe_cb, NULL);
    cr_assert_eq(nng_dial(s, v.gossip_addr, NULL, 0), 0);
    return s;
}

static void
evil_send(nng_socket s, const void *p, size_t n)
{
    cr_assert_eq(nng_send(s, (void *)p, n, 0), 0);
}

static int honest_tag = 1000;
/* H1 publishes; V and H2 must deliver it. */
static void
assert_honest_traffic(const char *when)
{
    int tag = honest_tag++;
    th_publish(&h1, tag);
    uint64_t t0 = aria_mono_ms();
    while ((atomic_load(&v.deliveries[tag]) < 1 || atomic_load(&h2.deliveries[tag]) < 1) &&
           aria_mono_ms() - t0 < 5000)
        th_sleep_ms(10);
    cr_assert_eq(atomic_load(&v.deliveries[tag]), 1, "honest gossip reaches V %s", when);
    cr_assert_eq(atomic_load(&h2.deliveries[tag]), 1, "honest gossip reaches H2 %s", when);
}

Test(hostile, node_survives_and_punishes_a_hostile_peer, .timeout = 100)
{
    evil = th_wallet(EVIL_IDX);
    wallet_account_id(evil, v.evil_id);
    memcpy(h1.evil_id, v.evil_id, 32);
    memcpy(h2.evil_id, v.evil_id, 32);
    cr_assert_eq(th_start(&v, 0, NULL, tweak_v), 0);
    cr_assert_eq(th_start(&h1, 1, v.service_addr, NULL), 0);
    cr_assert_eq(th_start(&h2, 2, v.service_addr, NULL), 0);
    uint64_t t0 = aria_mono_ms();
    while (vstats().pipes_inbound < 2 && aria_mono_ms() - t0 < 5000)
        th_sleep_ms(10);
    cr_assert_geq(vstats().pipes_inbound, 2, "honest nodes linked to V");
    assert_honest_traffic("at start");
    long base = rss_kib();
    int gport = port_of(v.gossip_addr);

    /* 1. raw TCP: a length claim of 2^40 — nng drops the connection */
    int fd = tcp_connect(gport);
    sp_hello(fd, 0x70);
    sp_frame_header(fd, 1ull << 40);
    send_all(fd, "xxxxxxxx", 8);
    cr_assert(closed_by_peer(fd), "2^40 length claim: disconnected");
    close(fd);

    /* 2. raw TCP: cap+1 bytes — wire sees it, rejects, closes, discourages */
    wire_stats s0 = vstats();
    fd = tcp_connect(gport);
    sp_hello(fd, 0x70);
    size_t big = WIRE_GOSSIP_MAX_BYTES + 1;
    uint8_t *junk = calloc(1, big);
    sp_frame_header(fd, big);
    send_all(fd, junk, big);
    cr_assert(WAIT_STAT(rejected_oversize, s0.rejected_oversize + 1, 3000), "cap+1 rejected");
    cr_assert(closed_by_peer(fd), "cap+1 sender disconnected");
    close(fd);
    cr_assert_geq(vstats().offences, s0.offences + 1);
    /* while discouraged, the same address is refused at once */
    fd = tcp_connect(gport);
    sp_hello(fd, 0x70);
    cr_assert(closed_by_peer(fd), "discouraged address refused");
    close(fd);
    cr_assert_geq(vstats().pipes_refused, s0.pipes_refused + 1);
    th_sleep_ms(DISCOURAGE + 100);

    /* 3. raw TCP speaking no SP at all */
    fd = tcp_connect(gport);
    send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    cr_assert(closed_by_peer(fd), "non-SP bytes: disconnected");
    close(fd);

    /* 4. nng: cap+4097 (past nng's own limit): nng closes, our send "succeeds" */
    nng_socket es = evil_dial();
    th_sleep_ms(100);
    int lost = atomic_load(&evil_pipes_lost);
    uint8_t *huge = calloc(1, WIRE_GOSSIP_MAX_BYTES + 4097);
    evil_send(es, huge, WIRE_GOSSIP_MAX_BYTES + 4097);
    t0 = aria_mono_ms();
    while (atomic_load(&evil_pipes_lost) == lost && aria_mono_ms() - t0 < 3000)
        th_sleep_ms(10);
    cr_assert_gt(atomic_load(&evil_pipes_lost), lost, "over nng's cap: disconnected");
    nng_close(es);
    free(huge);

    /* 5..8: one offence per connection; each must cut the attacker off */
    uint8_t *good;
    size_t gl;
    frame(WIRE_T_LEDGER_ENTRIES, th_network_id, 7, &good, &gl);
    uint8_t other_net[32];
    memset(other_net, 0x99, 32);
    uint8_t *wrongnet;
    size_t wl;
    frame(WIRE_T_LEDGER_ENTRIES, other_net, 8, &wrongnet, &wl);
    uint8_t *badsig = malloc(gl);
    memcpy(badsig, good, gl);
    badsig[gl - 5] ^= 0x40; /* inside the signature, the last field */
    const uint8_t junkpb[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3};
    struct {
        const char *what;
        const void *p;
        size_t n;
        size_t counter;
    } attacks[] = {
        {"truncated protobuf", good, gl / 2, offsetof(wire_stats, rejected_malformed)},
        {"malformed protobuf", junkpb, sizeof junkpb, offsetof(wire_stats, rejected_malformed)},
        {"cap+1 via nng", NULL, WIRE_GOSSIP_MAX_BYTES + 1, offsetof(wire_stats, rejected_oversize)},
        {"bad signature", badsig, gl, offsetof(wire_stats, rejected_bad_sig)},
        {"wrong network id", wrongnet, wl, offsetof(wire_stats, rejected_network)},
    };
    uint8_t *capbuf = calloc(1, WIRE_GOSSIP_MAX_BYTES + 1);
    for (size_t i = 0; i < ARIA_ARRAY_LEN(attacks); i++) {
        wire_stats before = vstats();
        es = evil_dial();
        th_sleep_ms(50);
        lost = atomic_load(&evil_pipes_lost);
        evil_send(es, attacks[i].p ? attacks[i].p : capbuf, attacks[i].n);
        uint64_t want = ((uint64_t *)&before)[attacks[i].counter / 8] + 1;
        cr_assert(wait_stat(attacks[i].counter, want, 3000), "%s counted", attacks[i].what);
        t0 = aria_mono_ms();
        while (atomic_load(&evil_pipes_lost) == lost && aria_mono_ms() - t0 < 3000)
            th_sleep_ms(10);
        cr_assert_gt(atomic_load(&evil_pipes_lost), lost, "%s: disconnected", attacks[i].what);
        nng_close(es);
        th_sleep_ms(DISCOURAGE + 100);
    }
    free(capbuf);
    cr_assert_eq(atomic_load(&v.deliveries[7]), 0, "no forged message delivered");
    cr_assert_eq(atomic_load(&v.deliveries[8]), 0, "no other-network message delivered");
    assert_honest_traffic("after the offences");

    /* 9. 100 replays of one valid message: delivered once everywhere */
    wire_stats before = vstats();
    es = evil_dial();
    th_sleep_ms(50);
    /* nng's BUS drops a message when a pipe's send queue is full, so
       pace the replays: a slow (ASan) reader must still see all 101 */
    for (int i = 0; i < 101; i++) {
        evil_send(es, good, gl);
        if (i % 8 == 7)
            th_sleep_ms(10);
    }
    cr_assert(WAIT_STAT(gossip_duplicates, before.gossip_duplicates + 100, 3000), "replays seen");
    th_sleep_ms(200);
    cr_assert_eq(atomic_load(&v.deliveries[7]), 1, "delivered once at V");
    cr_assert_eq(atomic_load(&v.from_evil), 1);
    t0 = aria_mono_ms();
    while (atomic_load(&h1.deliveries[7]) < 1 && aria_mono_ms() - t0 < 3000)
        th_sleep_ms(10);
    cr_assert_eq(atomic_load(&h1.deliveries[7]), 1, "forwarded once to H1");
    cr_assert_eq(vstats().rejected_bad_sig, before.rejected_bad_sig, "replays cost no check");
    nng_close(es);

    /* 10. the service channel: junk, a bad signature and a replay */
    before = vstats();
    nng_socket rq;
    cr_assert_eq(nng_req0_open(&rq), 0);
    nng_socket_set_ms(rq, NNG_OPT_RECVTIMEO, 1000);
    nng_socket_set_ms(rq, NNG_OPT_REQ_RESENDTIME, 60000);
    cr_assert_eq(nng_dial(rq, v.service_addr, NULL, 0), 0);
    cr_assert_eq(nng_send(rq, (void *)junkpb, sizeof junkpb, 0), 0);
    char rbuf[4096];
    size_t rl = sizeof rbuf;
    cr_assert_neq(nng_recv(rq, rbuf, &rl, 0), 0, "junk request gets no answer");
    cr_assert(WAIT_STAT(offences, before.offences + 1, 2000));
    nng_close(rq);
    th_sleep_ms(DISCOURAGE + 100);
    uint8_t *req;
    size_t ql;
    uint8_t bidbody[40] = {0x0a, 32};
    cr_assert_eq(wire_envelope_build(evil, th_network_id, WIRE_T_BID, 1, aria_wall_ms(), 0, bidbody,
                                     34, &req, &ql, NULL),
                 0);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(nng_req0_open(&rq), 0);
        nng_socket_set_ms(rq, NNG_OPT_RECVTIMEO, 3000);
        nng_socket_set_ms(rq, NNG_OPT_REQ_RESENDTIME, 60000);
        cr_assert_eq(nng_dial(rq, v.service_addr, NULL, 0), 0);
        cr_assert_eq(nng_send(rq, req, ql, 0), 0);
        rl = sizeof rbuf;
        int rv = nng_recv(rq, rbuf, &rl, 0);
        nng_close(rq);
        if (i == 0)
            continue; /* the harness owner does not answer bids: ACK ETIMEDOUT or nothing */
        cr_assert_eq(rv, 0, "replayed request answered");
        wire_envelope e;
        cr_assert_eq(wire_envelope_decode((uint8_t *)rbuf, rl, 1 << 20, &e), 0);
        wire_msg m;
        cr_assert_eq(wire_msg_decode(e.type, e.body, e.body_len, &m), 0);
        cr_assert_eq(m.type, WIRE_T_ACK);
        cr_assert_eq(m.u.ack.code, ARIA_EEXIST, "replay refused: %d %s", m.u.ack.code,
                     m.u.ack.detail);
        wire_msg_fini(&m);
        wire_envelope_fini(&e);
    }
    aria_free(req);

    th_sleep_ms(DISCOURAGE + 100); /* REQ resent the junk on reconnect: a second offence */

    /* 11. 200 rapid connections (each says hello and leaves), then 100 held
     * open at once: the inbound cap holds */
    for (int i = 0; i < 200; i++) {
        fd = tcp_connect(gport);
        sp_hello(fd, 0x70);
        close(fd);
    }
    int held[100];
    for (int i = 0; i < 100; i++) {
        held[i] = tcp_connect(gport);
        sp_hello(held[i], 0x70);
    }
    th_sleep_ms(500);
    wire_stats during = vstats();
    cr_assert_leq(during.pipes_inbound, 64, "inbound cap holds: %llu",
                  (unsigned long long)during.pipes_inbound);
    cr_assert_gt(during.pipes_refused, before.pipes_refused, "excess connections refused");
    for (int i = 0; i < 100; i++)
        close(held[i]);
    assert_honest_traffic("after 300 connections");

    long after = rss_kib();
    printf("hostile: RSS baseline %ld KiB, after %ld KiB (+%ld KiB); offences %llu, refused %llu\n",
           base, after, after - base, (unsigned long long)vstats().offences,
           (unsigned long long)vstats().pipes_refused);
    cr_assert_lt(after - base, 64 * 1024, "RSS within 64 MiB of the baseline");
    cr_assert_eq(atomic_load(&v.foreign), 0);
    cr_assert_eq(atomic_load(&v.from_evil), 1, "only the one valid evil message, once");
    free(badsig);
    aria_free(good);
    aria_free(wrongnet);
    free(junk);
    th_stop(&h2);
    th_stop(&h1);
    th_stop(&v);
    wallet_free(evil);
}
