/*
 * hostile.c — a hostile peer for the testnet scenarios: for SECONDS it
 * floods the gossip endpoints it is given with frames no honest node sends
 * and with replays of what it hears. An attacker with many addresses: the
 * junk comes from 127.0.0.10 and up, a fresh address every 250 ms (the
 * nodes discourage an offending address), while a quiet listener on
 * 127.0.0.3 per node hears the network's gossip and replays it.
 *
 *   aria_hostile GENESIS SECONDS GOSSIP_URL... [-- SERVICE_URL...]
 *
 * Kinds, in turn: random bytes; over-size frames (70 KiB); envelopes with a
 * broken signature; envelopes of another network; validly signed offers
 * with absurd fields; validly signed LEDGER_ENTRIES full of junk entries;
 * and every frame it received from the network, replayed 5 times. Junk
 * requests go to the service URLs. It never dials from 127.0.0.1, so the
 * nodes' per-address discouragement does not shut out the honest nodes,
 * which all share it. Bounded: 4000 frames per second per node, SECONDS <= 120.
 * Prints what it sent; exit 0 unless it could not start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/bus0/bus.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "base.h"
#include "ledger.h"
#include "wallet.h"
#include "wire.h"

#define MAX_PEERS  64
#define RING       64
#define RATE_PER_S 4000

typedef struct {
    uint8_t *p;
    size_t n;
} frame;

static frame ring[RING];
static size_t ring_n, ring_next;
static uint64_t sent[8];
static const char *names[8] = {"random",       "oversize",     "bad-signature", "other-network",
                               "absurd-offer", "junk-entries", "replay",        "service-junk"};

static void
put(nng_socket *s, size_t ns, const uint8_t *p, size_t n, int kind)
{
    for (size_t i = 0; i < ns; i++)
        if (nng_send(s[i], (void *)p, n, NNG_FLAG_NONBLOCK) == 0)
            sent[kind]++;
}

static uint64_t
rnd(void)
{
    uint64_t r;
    if (aria_os_random(&r, sizeof r))
        r = aria_mono_ns();
    return r;
}

/* A BUS socket dialing `url` from the local address `from`. */
static int
dial_from(nng_socket *s, const char *from, const char *url)
{
    char u[256];
    snprintf(u, sizeof u, "tcp://%s;%s", from, strstr(url, "://") + 3);
    if (nng_bus0_open(s) != 0)
        return 1;
    nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, 1 << 20);
    nng_socket_set_ms(*s, NNG_OPT_RECONNMINT, 60000);
    nng_socket_set_ms(*s, NNG_OPT_RECONNMAXT, 60000);
    if (nng_dial(*s, u, NULL, NNG_FLAG_NONBLOCK) != 0) {
        fprintf(stderr, "hostile: cannot dial %s\n", u);
        nng_close(*s);
        return 1;
    }
    return 0;
}

static void
build(const wallet *w, const uint8_t net[32], uint32_t type, const void *body, size_t bl,
      uint8_t **f, size_t *fl)
{
    static uint64_t seq = 1;
    if (wire_envelope_build(w, net, type, seq++, aria_wall_ms(), 4, body, bl, f, fl, NULL)) {
        *f = NULL;
        *fl = 0;
    }
}

int
main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: aria_hostile GENESIS SECONDS GOSSIP_URL... [-- SERVICE_URL...]\n");
        return 2;
    }
    ledger_genesis *g = NULL;
    if (ledger_genesis_load(argv[1], &g)) {
        fprintf(stderr, "hostile: %s\n", aria_err_msg());
        return 1;
    }
    uint8_t net[32], other[32];
    memcpy(net, g->network_id, 32);
    ledger_genesis_free(g);
    memcpy(other, net, 32);
    other[0] ^= 0xff;
    long secs = strtol(argv[2], NULL, 10);
    if (secs < 1 || secs > 120)
        secs = 10;
    wallet *w = NULL;
    if (wallet_new_random(&w))
        return 1;
    const char *gossip[MAX_PEERS];
    size_t nb = 0;
    const char *svc[MAX_PEERS];
    size_t nsvc = 0;
    bool svc_part = false;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            svc_part = true;
            continue;
        }
        if (!strstr(argv[i], "://"))
            continue;
        if (svc_part && nsvc < MAX_PEERS)
            svc[nsvc++] = argv[i];
        else if (!svc_part && nb < MAX_PEERS)
            gossip[nb++] = argv[i];
    }
    if (!nb) {
        fprintf(stderr, "hostile: no gossip URL\n");
        return 1;
    }
    nng_socket listen_s[MAX_PEERS], bus[MAX_PEERS];
    for (size_t i = 0; i < nb; i++)
        if (dial_from(&listen_s[i], "127.0.0.3", gossip[i]))
            return 1;
    uint32_t gen = 0;
    for (size_t i = 0; i < nb; i++)
        if (dial_from(&bus[i], "127.0.0.10", gossip[i]))
            return 1;
    uint64_t next_rotate = aria_mono_ms() + 250;
    uint64_t end = aria_mono_ms() + (uint64_t)secs * 1000;
    uint64_t round = 0;
    uint8_t junk[2048];
    uint8_t *big = aria_alloc(70 * 1024);
    if (!big)
        return 1;
    memset(big, 0x42, 70 * 1024);
    while (aria_mono_ms() < end) {
        uint64_t t0 = aria_mono_ms();
        if (aria_mono_ms() >= next_rotate) { /* a fresh address for the junk */
            next_rotate = aria_mono_ms() + 250;
            gen++;
            char from[32];
            snprintf(from, sizeof from, "127.0.0.%u", 10 + gen % 240);
            /* the old sockets stay open (nng 1.5.2 can hang in nng_close,
             * nanomsg/nng#1543); they do not redial for a minute */
            for (size_t i = 0; i < nb; i++)
                if (dial_from(&bus[i], from, gossip[i]))
                    return 1;
        }
        /* hear: keep the last RING frames for replay */
        for (size_t i = 0; i < nb; i++) {
            nng_msg *m;
            while (nng_recvmsg(listen_s[i], &m, NNG_FLAG_NONBLOCK) == 0) {
                frame *f = &ring[ring_next];
                aria_free(f->p);
                f->n = nng_msg_len(m);
                f->p = aria_alloc(f->n ? f->n : 1);
                if (f->p)
                    memcpy(f->p, nng_msg_body(m), f->n);
                nng_msg_free(m);
                ring_next = (ring_next + 1) % RING;
                if (ring_n < RING)
                    ring_n++;
            }
        }
        for (int k = 0; k < 40; k++, round++) { /* 40 frames per 10 ms tick */
            uint8_t *f = NULL;
            size_t fl = 0;
            switch (round % 7) {
            case 0: {
                size_t n = 1 + rnd() % sizeof junk;
                for (size_t i = 0; i < n; i += 8) {
                    uint64_t r = rnd();
                    memcpy(junk + i, &r, n - i < 8 ? n - i : 8);
                }
                put(bus, nb, junk, n, 0);
                break;
            }
            case 1:
                if (round % 70 == 1)
                    put(bus, nb, big, 70 * 1024, 1);
                break;
            case 2: {
                uint8_t body[64] = {0};
                build(w, net, WIRE_T_JOB_OFFER, body, sizeof body, &f, &fl);
                if (f) {
                    f[fl - 10] ^= 0x55; /* inside the signature */
                    put(bus, nb, f, fl, 2);
                }
                break;
            }
            case 3: {
                wire_msg m = {.type = WIRE_T_JOB_OFFER};
                uint8_t id[32];
                memcpy(id, &round, sizeof round);
                memset(id + 8, 7, 24);
                memcpy(m.u.offer.job_id, id, 32);
                m.u.offer.model_id = "m";
                m.u.offer.max_new_tokens = 1;
                m.u.offer.requester_service_addr = "tcp://127.0.0.2:1";
                uint8_t *b = NULL;
                size_t bl = 0;
                if (wire_msg_encode(&m, &b, &bl) == 0)
                    build(w, other, WIRE_T_JOB_OFFER, b, bl, &f, &fl);
                aria_free(b);
                if (f)
                    put(bus, nb, f, fl, 3);
                break;
            }
            case 4: {
                wire_msg m = {.type = WIRE_T_JOB_OFFER};
                uint8_t id[32];
                memcpy(id, &round, sizeof round);
                memset(id + 8, 9, 24);
                memcpy(m.u.offer.job_id, id, 32);
                m.u.offer.model_id = round % 2 ? "model" : "no-such-model";
                m.u.offer.prompt_tokens = UINT32_MAX;
                m.u.offer.max_new_tokens = UINT32_MAX;
                m.u.offer.max_price_micro = UINT64_MAX;
                m.u.offer.bid_window_ms = 1;
                m.u.offer.requester_service_addr = "tcp://127.0.0.2:1";
                m.u.offer.expires_ms = aria_wall_ms() + 100;
                uint8_t *b = NULL;
                size_t bl = 0;
                if (wire_msg_encode(&m, &b, &bl) == 0)
                    build(w, net, WIRE_T_JOB_OFFER, b, bl, &f, &fl);
                aria_free(b);
                if (f)
                    put(bus, nb, f, fl, 4);
                break;
            }
            case 5: {
                uint8_t e1[200], e2[40];
                for (size_t i = 0; i < sizeof e1; i++)
                    e1[i] = (uint8_t)rnd();
                memset(e2, 0x08, sizeof e2);
                wire_bytes items[2] = {{e1, sizeof e1}, {e2, sizeof e2}};
                wire_msg m = {.type = WIRE_T_LEDGER_ENTRIES};
                m.u.entries.items = items;
                m.u.entries.n = 2;
                uint8_t *b = NULL;
                size_t bl = 0;
                if (wire_msg_encode(&m, &b, &bl) == 0)
                    build(w, net, WIRE_T_LEDGER_ENTRIES, b, bl, &f, &fl);
                aria_free(b);
                if (f)
                    put(bus, nb, f, fl, 5);
                break;
            }
            default:
                for (size_t i = 0; i < ring_n; i++)
                    for (int r = 0; r < 5; r++)
                        put(listen_s, nb, ring[i].p, ring[i].n, 6);
                ring_n = 0; /* replay each heard frame once per round of 5 */
                break;
            }
            aria_free(f);
        }
        if (nsvc && round % 400 == 0) {
            nng_socket rq;
            if (nng_req0_open(&rq) == 0) {
                nng_socket_set_ms(rq, NNG_OPT_RECVTIMEO, 200);
                nng_socket_set_ms(rq, NNG_OPT_SENDTIMEO, 200);
                nng_socket_set_size(rq, NNG_OPT_RECVMAXSZ, 1 << 20);
                char url[256];
                const char *s = svc[(round / 400) % nsvc];
                snprintf(url, sizeof url, "tcp://127.0.0.4;%s", strstr(s, "://") + 3);
                if (nng_dial(rq, url, NULL, 0) == 0) {
                    nng_msg *m = NULL;
                    if (nng_send(rq, junk, 300, 0) == 0)
                        sent[7]++;
                    if (nng_recvmsg(rq, &m, 0) == 0)
                        nng_msg_free(m);
                }
                /* not closed: see the rotation above */
            }
        }
        uint64_t took = aria_mono_ms() - t0;
        if (took < 10)
            nng_msleep((nng_duration)(10 - took));
    }
    printf("hostile: %ld s against %zu nodes:", secs, nb);
    for (int k = 0; k < 8; k++)
        printf(" %s=%llu", names[k], (unsigned long long)sent[k]);
    printf("\n");
    fflush(stdout);
    _exit(0); /* no nng_close: see the rotation above */
}
