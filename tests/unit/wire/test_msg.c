/*
 * test_msg.c — every body type round-trips through wire_msg_encode /
 * wire_msg_decode; limits and field checks reject what they must; peer
 * records are signed and verified over their own signed bytes.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "wire.h"

static uint8_t net[WIRE_ID_BYTES];

static void
roundtrip(const wire_msg *in, wire_msg *out)
{
    uint8_t *b;
    size_t bl;
    cr_assert_eq(wire_msg_encode(in, &b, &bl), 0, "%s", aria_err_msg());
    cr_assert_eq(wire_msg_decode(in->type, b, bl, out), 0, "%s: %s", wire_type_name(in->type),
                 aria_err_msg());
    aria_free(b);
}

static void
fill_record(wire_peer_record *r)
{
    memset(r, 0, sizeof *r);
    memset(net, 0x5a, sizeof net);
    memcpy(r->network_id, net, 32);
    aria_snprintf(r->gossip_addr, sizeof r->gossip_addr, "tcp://127.0.0.1:4000");
    aria_snprintf(r->service_addr, sizeof r->service_addr, "tcp://127.0.0.1:4001");
    r->n_models = 2;
    aria_snprintf(r->models[0], WIRE_STR_MAX, "bitnet-b1.58-2B-4T");
    aria_snprintf(r->models[1], WIRE_STR_MAX, "falcon3-1b");
    r->price_micro = 17;
    r->capacity = 3;
    aria_snprintf(r->version, WIRE_STR_MAX, "aria 0.1.0");
    r->created_ms = 1234;
}

Test(msg, job_offer_bid_award_round_trip)
{
    wire_msg m = {.type = WIRE_T_JOB_OFFER}, d;
    memset(m.u.offer.job_id, 1, 32);
    m.u.offer.model_id = "bitnet";
    m.u.offer.prompt_tokens = 10;
    m.u.offer.max_new_tokens = 20;
    m.u.offer.max_price_micro = 30;
    m.u.offer.bid_window_ms = 40;
    m.u.offer.requester_service_addr = "tcp://127.0.0.1:9";
    m.u.offer.expires_ms = 50;
    roundtrip(&m, &d);
    cr_assert_str_eq(d.u.offer.model_id, "bitnet");
    cr_assert_eq(d.u.offer.max_price_micro, 30);
    cr_assert_eq(d.u.offer.job_id[31], 1);
    cr_assert_str_eq(d.u.offer.requester_service_addr, "tcp://127.0.0.1:9");
    wire_msg_fini(&d);

    wire_msg b = {.type = WIRE_T_BID};
    memset(b.u.bid.job_id, 2, 32);
    b.u.bid.price_micro = 5;
    b.u.bid.tokens_per_s_milli = 12345;
    b.u.bid.queue_depth = 2;
    b.u.bid.expires_ms = 99;
    roundtrip(&b, &d);
    cr_assert_eq(d.u.bid.tokens_per_s_milli, 12345);
    cr_assert_str_eq(d.u.bid.provider_service_addr, "");
    wire_msg_fini(&d);

    wire_msg a = {.type = WIRE_T_AWARD};
    memset(a.u.award.job_id, 3, 32);
    memset(a.u.award.provider, 4, 32);
    a.u.award.chunk_tokens = 32;
    a.u.award.sealed_prompt.p = (const uint8_t *)"sealed";
    a.u.award.sealed_prompt.n = 6;
    roundtrip(&a, &d);
    cr_assert_eq(d.u.award.sealed_prompt.n, 6);
    cr_assert_eq(memcmp(d.u.award.sealed_prompt.p, "sealed", 6), 0);
    cr_assert_eq(d.u.award.provider[0], 4);
    wire_msg_fini(&d);
}

Test(msg, chunk_messages_round_trip)
{
    wire_msg m = {.type = WIRE_T_CHUNK_REQUEST}, d;
    memset(m.u.chunk_req.job_id, 9, 32);
    m.u.chunk_req.index = 7;
    m.u.chunk_req.payment.p = (const uint8_t *)"pay";
    m.u.chunk_req.payment.n = 3;
    roundtrip(&m, &d);
    cr_assert_eq(d.u.chunk_req.index, 7);
    cr_assert_eq(d.u.chunk_req.payment.n, 3);
    wire_msg_fini(&d);

    wire_msg c = {.type = WIRE_T_CHUNK};
    c.u.chunk.index = 3;
    c.u.chunk.n_tokens = 32;
    c.u.chunk.final = true;
    c.u.chunk.sealed_output.p = (const uint8_t *)"out";
    c.u.chunk.sealed_output.n = 3;
    c.u.chunk.receipt.p = (const uint8_t *)"rcpt";
    c.u.chunk.receipt.n = 4;
    roundtrip(&c, &d);
    cr_assert(d.u.chunk.final);
    cr_assert_eq(d.u.chunk.receipt.n, 4);
    wire_msg_fini(&d);
}

Test(msg, ledger_and_sync_round_trip)
{
    wire_bytes items[3] = {
        {(const uint8_t *)"e1", 2}, {(const uint8_t *)"", 0}, {(const uint8_t *)"entry3", 6}};
    wire_msg m = {.type = WIRE_T_LEDGER_ENTRIES}, d;
    m.u.entries.items = items;
    m.u.entries.n = 3;
    roundtrip(&m, &d);
    cr_assert_eq(d.u.entries.n, 3);
    cr_assert_eq(d.u.entries.items[2].n, 6);
    cr_assert_eq(memcmp(d.u.entries.items[2].p, "entry3", 6), 0);
    wire_msg_fini(&d);

    wire_msg f = {.type = WIRE_T_FORK_PROOF};
    f.u.fork_proof.p = (const uint8_t *)"proof";
    f.u.fork_proof.n = 5;
    roundtrip(&f, &d);
    cr_assert_eq(d.u.fork_proof.n, 5);
    wire_msg_fini(&d);

    wire_account_head heads[2];
    memset(heads[0].account, 1, 32);
    heads[0].next_seq = 5;
    memset(heads[1].account, 2, 32);
    heads[1].next_seq = 0;
    wire_msg s = {.type = WIRE_T_SYNC_REQUEST};
    s.u.sync_req.heads = heads;
    s.u.sync_req.n_heads = 2;
    s.u.sync_req.max_entries = 100;
    s.u.sync_req.cursor.p = (const uint8_t *)"c";
    s.u.sync_req.cursor.n = 1;
    roundtrip(&s, &d);
    cr_assert_eq(d.u.sync_req.n_heads, 2);
    cr_assert_eq(d.u.sync_req.heads[0].next_seq, 5);
    cr_assert_eq(d.u.sync_req.heads[1].account[0], 2);
    cr_assert_eq(d.u.sync_req.max_entries, 100);
    wire_msg_fini(&d);

    wire_msg r = {.type = WIRE_T_SYNC_REPLY};
    r.u.sync_reply.entries.items = items;
    r.u.sync_reply.entries.n = 2;
    r.u.sync_reply.next_cursor.p = (const uint8_t *)"next";
    r.u.sync_reply.next_cursor.n = 4;
    roundtrip(&r, &d);
    cr_assert_eq(d.u.sync_reply.entries.n, 2);
    cr_assert_eq(d.u.sync_reply.next_cursor.n, 4);
    wire_msg_fini(&d);
}

Test(msg, peers_and_ack_round_trip)
{
    wallet *w;
    uint8_t seed[32] = {1};
    cr_assert_eq(wallet_from_seed(seed, &w), 0);
    wire_peer_record recs[2];
    fill_record(&recs[0]);
    fill_record(&recs[1]);
    cr_assert_eq(wire_peer_record_sign(w, &recs[0]), 0, "%s", aria_err_msg());
    cr_assert_eq(wire_peer_record_verify(&recs[0], net), 0);

    wire_msg m = {.type = WIRE_T_PEERS_REPLY}, d;
    m.u.peers.records = recs;
    m.u.peers.n = 1;
    roundtrip(&m, &d);
    cr_assert_eq(d.u.peers.n, 1);
    cr_assert_eq(wire_peer_record_verify(&d.u.peers.records[0], net), 0);
    cr_assert_str_eq(d.u.peers.records[0].models[1], "falcon3-1b");
    wire_msg_fini(&d);

    wire_msg p = {.type = WIRE_T_PEER_RECORD};
    p.u.peer = recs[0];
    roundtrip(&p, &d);
    cr_assert_eq(wire_peer_record_verify(&d.u.peer, net), 0);
    cr_assert_eq(d.u.peer.price_micro, 17);
    wire_msg_fini(&d);

    wire_msg q = {.type = WIRE_T_PEERS_REQUEST};
    q.u.peers_request_max = 12;
    roundtrip(&q, &d);
    cr_assert_eq(d.u.peers_request_max, 12);
    wire_msg_fini(&d);

    wire_msg a = {.type = WIRE_T_ACK};
    a.u.ack.code = ARIA_ETIMEDOUT;
    a.u.ack.detail = "no answer in time";
    roundtrip(&a, &d);
    cr_assert_eq(d.u.ack.code, ARIA_ETIMEDOUT);
    cr_assert_str_eq(d.u.ack.detail, "no answer in time");
    wire_msg_fini(&d);
    wallet_free(w);
}

Test(msg, peer_record_signature_covers_fields)
{
    wallet *w;
    uint8_t seed[32] = {2};
    cr_assert_eq(wallet_from_seed(seed, &w), 0);
    wire_peer_record r;
    fill_record(&r);
    cr_assert_eq(wire_peer_record_sign(w, &r), 0);
    wire_peer_record t = r;
    t.price_micro++;
    cr_assert_eq(wire_peer_record_verify(&t, net), ARIA_ECRYPTO);
    t = r;
    t.gossip_addr[16] = '9';
    cr_assert_eq(wire_peer_record_verify(&t, net), ARIA_ECRYPTO);
    t = r;
    t.n_models = 1;
    cr_assert_eq(wire_peer_record_verify(&t, net), ARIA_ECRYPTO);
    t = r;
    uint8_t other[32];
    memset(other, 0, 32);
    cr_assert_eq(wire_peer_record_verify(&t, other), ARIA_EPERM);
    t = r;
    aria_snprintf(t.gossip_addr, sizeof t.gossip_addr, "ipc:///tmp/x");
    cr_assert_eq(wire_peer_record_verify(&t, net), ARIA_EPROTO);
    wallet_free(w);
}

Test(msg, decoders_reject_bad_fields)
{
    wire_msg d;
    /* job_id of 3 bytes */
    const uint8_t bad_job[] = {0x0a, 0x03, 1, 2, 3};
    cr_assert_eq(wire_msg_decode(WIRE_T_BID, bad_job, sizeof bad_job, &d), ARIA_EPROTO);
    cr_assert(strstr(aria_err_msg(), "job_id") != NULL, "%s", aria_err_msg());
    cr_assert_eq(wire_msg_decode(WIRE_T_CHUNK, bad_job, sizeof bad_job, &d), ARIA_EPROTO);
    cr_assert_eq(wire_msg_decode(99, bad_job, sizeof bad_job, &d), ARIA_EPROTO);
    /* offer with a non-tcp requester address */
    uint8_t buf[128];
    size_t k = 0;
    buf[k++] = 0x0a;
    buf[k++] = 32;
    memset(buf + k, 1, 32);
    k += 32;
    buf[k++] = 0x12; /* model_id */
    buf[k++] = 1;
    buf[k++] = 'm';
    buf[k++] = 0x3a; /* field 7 string */
    buf[k++] = 4;
    memcpy(buf + k, "ipc:", 4);
    k += 4;
    cr_assert_eq(wire_msg_decode(WIRE_T_JOB_OFFER, buf, k, &d), ARIA_EPROTO);
    /* control byte in a string */
    buf[k - 4] = 0x01;
    cr_assert_eq(wire_msg_decode(WIRE_T_JOB_OFFER, buf, k, &d), ARIA_EPROTO);
    /* unknown field on an ack */
    const uint8_t ack_unknown[] = {0x08, 0x01, 0x78, 0x01};
    cr_assert_eq(wire_msg_decode(WIRE_T_ACK, ack_unknown, sizeof ack_unknown, &d), ARIA_EPROTO);
    /* a ledger entries list over the limit */
    size_t n = WIRE_LIST_MAX + 1;
    uint8_t *big = aria_alloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        big[2 * i] = 0x0a;
        big[2 * i + 1] = 0;
    }
    cr_assert_eq(wire_msg_decode(WIRE_T_LEDGER_ENTRIES, big, n * 2, &d), ARIA_EPROTO);
    cr_assert_eq(wire_msg_decode(WIRE_T_LEDGER_ENTRIES, big, (n - 1) * 2, &d), 0);
    cr_assert_eq(d.u.entries.n, WIRE_LIST_MAX);
    wire_msg_fini(&d);
    aria_free(big);
}

Test(msg, encoder_checks_limits)
{
    wire_msg m = {.type = WIRE_T_JOB_OFFER};
    m.u.offer.model_id = "m";
    m.u.offer.requester_service_addr = "http://x";
    uint8_t *b;
    size_t bl;
    cr_assert_neq(wire_msg_encode(&m, &b, &bl), 0);
    wire_msg s = {.type = WIRE_T_SYNC_REQUEST};
    s.u.sync_req.n_heads = WIRE_HEADS_MAX + 1;
    cr_assert_eq(wire_msg_encode(&s, &b, &bl), ARIA_EINVAL);
    wire_msg t = {.type = 77};
    cr_assert_eq(wire_msg_encode(&t, &b, &bl), ARIA_EINVAL);
}

Test(msg, fails_cleanly_when_allocation_fails)
{
    wire_bytes items[2] = {{(const uint8_t *)"a", 1}, {(const uint8_t *)"b", 1}};
    wire_msg m = {.type = WIRE_T_LEDGER_ENTRIES}, d;
    m.u.entries.items = items;
    m.u.entries.n = 2;
    uint8_t *b;
    size_t bl;
    cr_assert_eq(wire_msg_encode(&m, &b, &bl), 0);
    for (long k = 1; k < 12; k++) {
        aria_alloc_fail_after(k, false);
        int rc = wire_msg_decode(m.type, b, bl, &d);
        aria_alloc_fail_after(0, false);
        if (rc == 0)
            wire_msg_fini(&d);
        else
            cr_assert(rc == ARIA_ENOMEM || rc == ARIA_EPROTO, "rc %d", rc);
    }
    aria_free(b);
}
