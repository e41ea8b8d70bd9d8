/*
 * test_wire_service.c — wire acceptance, the direct service channel between
 * two nodes owned by the test thread (request/reply, ledger sync by
 * entries, expected-sender check, timeouts), and the nng 1.5.2 raw BUS
 * behaviour the gossip forwarder relies on.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* ------------------------------------------------------------------ */
/* Service channel: two nodes owned by the test thread                  */
/* ------------------------------------------------------------------ */
typedef struct svc_ctx {
    int gossip;
    int requests;
    int replies;
    int last_status;
    uint32_t last_type;
    uint8_t last_sender[32];
    uint64_t pending_request;
    bool answer;
    wire_node *self;
    char last_entry[32];
    int32_t last_ack;
    int peers;
} svc_ctx;

static void
svc_event(void *arg, const wire_event *ev)
{
    svc_ctx *c = arg;
    switch (ev->kind) {
    case WIRE_EV_GOSSIP: c->gossip += ev->env->type == WIRE_T_JOB_OFFER; break;
    case WIRE_EV_PEER: c->peers++; break;
    case WIRE_EV_REQUEST:
        c->requests++;
        c->last_type = ev->env->type;
        memcpy(c->last_sender, ev->env->sender, 32);
        c->pending_request = ev->request_id;
        if (!c->answer)
            break;
        if (ev->env->type == WIRE_T_SYNC_REQUEST) {
            wire_msg q;
            cr_assert_eq(wire_msg_decode(ev->env->type, ev->env->body, ev->env->body_len, &q), 0);
            cr_assert_eq(q.u.sync_req.n_heads, 1);
            cr_assert_eq(q.u.sync_req.heads[0].next_seq, 3);
            wire_msg_fini(&q);
            wire_bytes items[2] = {{(const uint8_t *)"entry-3", 7},
                                   {(const uint8_t *)"entry-4", 7}};
            wire_msg r = {.type = WIRE_T_SYNC_REPLY};
            r.u.sync_reply.entries.items = items;
            r.u.sync_reply.entries.n = 2;
            uint8_t *b;
            size_t bl;
            cr_assert_eq(wire_msg_encode(&r, &b, &bl), 0);
            cr_assert_eq(wire_node_reply(c->self, ev->request_id, WIRE_T_SYNC_REPLY, b, bl), 0);
            aria_free(b);
        } else {
            wire_msg a = {.type = WIRE_T_ACK};
            a.u.ack.detail = "ok";
            uint8_t *b;
            size_t bl;
            cr_assert_eq(wire_msg_encode(&a, &b, &bl), 0);
            cr_assert_eq(wire_node_reply(c->self, ev->request_id, WIRE_T_ACK, b, bl), 0);
            aria_free(b);
        }
        break;
    case WIRE_EV_REPLY:
        c->replies++;
        c->last_status = ev->status;
        if (ev->env) {
            c->last_type = ev->env->type;
            memcpy(c->last_sender, ev->env->sender, 32);
            wire_msg m;
            if (wire_msg_decode(ev->env->type, ev->env->body, ev->env->body_len, &m) == 0) {
                if (m.type == WIRE_T_SYNC_REPLY && m.u.sync_reply.entries.n == 2)
                    aria_snprintf(c->last_entry, sizeof c->last_entry, "%.*s",
                                  (int)m.u.sync_reply.entries.items[1].n,
                                  (const char *)m.u.sync_reply.entries.items[1].p);
                if (m.type == WIRE_T_ACK)
                    c->last_ack = m.u.ack.code;
                wire_msg_fini(&m);
            }
        }
        break;
    }
}

static void
pump(wire_node *a, wire_node *b, int ms)
{
    uint64_t t0 = aria_mono_ms();
    while (aria_mono_ms() - t0 < (uint64_t)ms) {
        cr_assert_geq(wire_node_poll(a, 2), 0);
        cr_assert_geq(wire_node_poll(b, 2), 0);
    }
}

#define PUMP_UNTIL(a, b, cond, ms)                                                                 \
    do {                                                                                           \
        uint64_t t0_ = aria_mono_ms();                                                             \
        while (!(cond) && aria_mono_ms() - t0_ < (ms))                                             \
            pump(a, b, 5);                                                                         \
        cr_assert(cond, "timed out waiting for " #cond);                                           \
    } while (0)

Test(service, request_reply_sync_and_timeouts, .timeout = 60)
{
    wallet *wa = th_wallet(100), *wb = th_wallet(101);
    svc_ctx ca = {.answer = true}, cb = {.answer = true};
    wire_config c;
    wire_config_default(&c);
    memcpy(c.network_id, th_network_id, 32);
    c.tick_ms = 20;
    c.reply_timeout_ms = 300;
    c.wallet = wa;
    c.on_event = svc_event;
    c.on_event_ctx = &ca;
    wire_node *a, *b;
    cr_assert_eq(wire_node_new(&c, &a), 0, "%s", aria_err_msg());
    ca.self = a;
    const char *boot[1] = {wire_node_service_addr(a)};
    c.wallet = wb;
    c.on_event_ctx = &cb;
    c.bootstrap = boot;
    c.n_bootstrap = 1;
    cr_assert_eq(wire_node_new(&c, &b), 0, "%s", aria_err_msg());
    cb.self = b;

    /* discovery both ways: B asks A for peers, dials it, announces itself */
    PUMP_UNTIL(a, b, wire_node_peer_count(a) == 1 && wire_node_peer_count(b) == 1, 5000);
    uint8_t ida[32], idb[32];
    wire_node_id(a, ida);
    wire_node_id(b, idb);

    /* gossip one offer: delivered once at A, not echoed back to B */
    wire_msg o = {.type = WIRE_T_JOB_OFFER};
    memset(o.u.offer.job_id, 5, 32);
    o.u.offer.model_id = "bitnet";
    o.u.offer.requester_service_addr = wire_node_service_addr(b);
    uint8_t *body;
    size_t bl;
    cr_assert_eq(wire_msg_encode(&o, &body, &bl), 0);
    cr_assert_eq(wire_node_publish(b, WIRE_T_JOB_OFFER, body, bl, NULL), 0);
    aria_free(body);
    PUMP_UNTIL(a, b, ca.gossip == 1, 3000);
    pump(a, b, 100);
    cr_assert_eq(ca.gossip, 1);
    cr_assert_eq(cb.gossip, 0, "a node never gets its own message back");

    /* request / reply */
    wire_msg bid = {.type = WIRE_T_BID};
    memset(bid.u.bid.job_id, 5, 32);
    bid.u.bid.price_micro = 3;
    cr_assert_eq(wire_msg_encode(&bid, &body, &bl), 0);
    uint64_t rid = 0;
    cr_assert_eq(
        wire_node_request(b, wire_node_service_addr(a), ida, WIRE_T_BID, body, bl, 2000, &cb, &rid),
        0, "%s", aria_err_msg());
    aria_free(body);
    PUMP_UNTIL(a, b, cb.replies == 1, 3000);
    cr_assert_eq(cb.last_status, 0);
    cr_assert_eq(cb.last_type, WIRE_T_ACK);
    cr_assert_eq(memcmp(cb.last_sender, ida, 32), 0, "reply signed by A");
    cr_assert_eq(ca.requests, 1);
    cr_assert_eq(memcmp(ca.last_sender, idb, 32), 0, "request signed by B");

    /* ledger sync by entries */
    wire_account_head head;
    memset(head.account, 9, 32);
    head.next_seq = 3;
    wire_sync_request sreq = {.heads = &head, .n_heads = 1, .max_entries = 10};
    cr_assert_eq(wire_node_sync(b, &sreq, 2000, NULL, &rid), 0, "%s", aria_err_msg());
    PUMP_UNTIL(a, b, cb.replies == 2, 3000);
    cr_assert_eq(cb.last_status, 0);
    cr_assert_eq(cb.last_type, WIRE_T_SYNC_REPLY);
    cr_assert_str_eq(cb.last_entry, "entry-4");

    /* the reply must come from the expected node */
    uint8_t wrong[32];
    memset(wrong, 1, 32);
    cr_assert_eq(wire_msg_encode(&bid, &body, &bl), 0);
    cr_assert_eq(wire_node_request(b, wire_node_service_addr(a), wrong, WIRE_T_BID, body, bl, 2000,
                                   NULL, &rid),
                 0);
    PUMP_UNTIL(a, b, cb.replies == 3, 3000);
    cr_assert_eq(cb.last_status, ARIA_ECRYPTO);

    /* nobody listening: times out, no crash */
    cr_assert_eq(
        wire_node_request(b, "tcp://127.0.0.1:9", NULL, WIRE_T_BID, body, bl, 300, NULL, &rid), 0);
    PUMP_UNTIL(a, b, cb.replies == 4, 3000);
    cr_assert_eq(cb.last_status, ARIA_ETIMEDOUT, "status %d", cb.last_status);

    /* A's owner does not answer: A's wire answers ETIMEDOUT after reply_timeout_ms */
    ca.answer = false;
    cr_assert_eq(wire_node_request(b, wire_node_service_addr(a), ida, WIRE_T_BID, body, bl, 3000,
                                   NULL, &rid),
                 0);
    PUMP_UNTIL(a, b, cb.replies == 5, 4000);
    cr_assert_eq(cb.last_status, 0);
    cr_assert_eq(cb.last_ack, ARIA_ETIMEDOUT);
    cr_assert_eq(wire_node_reply(a, ca.pending_request, WIRE_T_ACK, "", 0), ARIA_ENOTFOUND);

    /* non-request types are refused by the API */
    cr_assert_eq(wire_node_request(b, wire_node_service_addr(a), NULL, WIRE_T_CHUNK, body, bl, 100,
                                   NULL, &rid),
                 ARIA_EINVAL);
    cr_assert_eq(wire_node_publish(b, WIRE_T_BID, body, bl, NULL), ARIA_EINVAL);
    aria_free(body);

    wire_stats sa;
    wire_node_stats(a, &sa);
    cr_assert_eq(sa.service_timeouts, 1);
    cr_assert_eq(sa.offences, 0);
    wire_node_free(b);
    wire_node_free(a);
    wallet_free(wa);
    wallet_free(wb);
}

/* ------------------------------------------------------------------ */
/* The nng 1.5.2 fact the forwarder relies on                           */
/* ------------------------------------------------------------------ */
#include <nng/nng.h>
#include <nng/protocol/bus0/bus.h>

/* A raw BUS socket leaves out the pipe whose id is in the message header
 * (which a raw receive puts there); nng_msg_set_pipe alone does not. */
Test(nng, raw_bus_skips_the_pipe_named_in_the_header)
{
    nng_socket s, c1, c2;
    nng_listener l;
    int port;
    char url[64];
    cr_assert_eq(nng_bus0_open_raw(&s), 0);
    cr_assert_eq(nng_bus0_open(&c1), 0);
    cr_assert_eq(nng_bus0_open(&c2), 0);
    cr_assert_eq(nng_listener_create(&l, s, "tcp://127.0.0.1:0"), 0);
    cr_assert_eq(nng_listener_start(l, 0), 0);
    cr_assert_eq(nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port), 0);
    aria_snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    cr_assert_eq(nng_dial(c1, url, NULL, 0), 0);
    cr_assert_eq(nng_dial(c2, url, NULL, 0), 0);
    nng_socket_set_ms(c1, NNG_OPT_RECVTIMEO, 300);
    nng_socket_set_ms(c2, NNG_OPT_RECVTIMEO, 300);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 1000);
    th_sleep_ms(200);
    cr_assert_eq(nng_send(c1, "hi", 3, 0), 0);
    nng_msg *m;
    cr_assert_eq(nng_recvmsg(s, &m, 0), 0);
    cr_assert_eq(nng_msg_header_len(m), 4, "raw receive adds the pipe id as header");
    for (int mode = 0; mode < 2; mode++) {
        nng_msg *f;
        cr_assert_eq(nng_msg_alloc(&f, 0), 0);
        cr_assert_eq(nng_msg_append(f, "hi", 3), 0);
        nng_msg_set_pipe(f, nng_msg_get_pipe(m));
        if (mode == 1)
            cr_assert_eq(nng_msg_header_append_u32(f, nng_msg_get_pipe(m).id), 0);
        cr_assert_eq(nng_sendmsg(s, f, 0), 0);
        char buf[16];
        size_t sz = sizeof buf;
        int r1 = nng_recv(c1, buf, &sz, 0);
        sz = sizeof buf;
        int r2 = nng_recv(c2, buf, &sz, 0);
        cr_assert_eq(r2, 0, "the other pipe always gets it");
        if (mode == 0)
            cr_assert_eq(r1, 0, "set_pipe alone echoes to the origin (1.5.2)");
        else
            cr_assert_eq(r1, NNG_ETIMEDOUT, "the header leaves the origin out");
    }
    nng_msg_free(m);
    nng_close(c1);
    nng_close(c2);
    nng_close(s);
}
