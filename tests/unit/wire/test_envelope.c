/*
 * test_envelope.c — the signed envelope: build/decode/verify round trip,
 * what the signature covers (everything but hops), network id and age
 * checks, strict decoding limits, and one id per content whatever the
 * protobuf encoding.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "wire.h"

static wallet *w;
static uint8_t net[WIRE_ID_BYTES];
static const uint64_t NOW = 1800000000000ull;

static void
setup(void)
{
    uint8_t seed[WALLET_SEED_BYTES];
    memset(seed, 7, sizeof seed);
    cr_assert_eq(wallet_from_seed(seed, &w), 0);
    memset(net, 0xab, sizeof net);
}
static void
teardown(void)
{
    wallet_free(w);
}

TestSuite(envelope, .init = setup, .fini = teardown);

static void
make(uint32_t type, const char *body, uint32_t hops, uint8_t **f, size_t *fl, uint8_t id[32])
{
    cr_assert_eq(wire_envelope_build(w, net, type, 42, NOW, hops, body, strlen(body), f, fl, id), 0,
                 "%s", aria_err_msg());
}

Test(envelope, round_trips_and_verifies)
{
    uint8_t *f;
    size_t fl;
    uint8_t id[32], id2[32], me[32];
    make(WIRE_T_JOB_OFFER, "hello body", 5, &f, &fl, id);
    wire_envelope e;
    cr_assert_eq(wire_envelope_decode(f, fl, WIRE_GOSSIP_MAX_BYTES, &e), 0, "%s", aria_err_msg());
    wallet_account_id(w, me);
    cr_assert_eq(e.version, 1);
    cr_assert_eq(e.type, WIRE_T_JOB_OFFER);
    cr_assert_eq(e.seq, 42);
    cr_assert_eq(e.created_ms, NOW);
    cr_assert_eq(e.hops, 5);
    cr_assert_eq(memcmp(e.sender, me, 32), 0);
    cr_assert_eq(e.body_len, 10);
    cr_assert_eq(memcmp(e.body, "hello body", 10), 0);
    wire_envelope_id(&e, id2);
    cr_assert_eq(memcmp(id, id2, 32), 0);
    cr_assert_eq(wire_envelope_verify(&e, net, NOW + 1000, 60000), 0, "%s", aria_err_msg());
    wire_envelope_fini(&e);
    aria_free(f);
}

Test(envelope, hop_counter_is_not_signed)
{
    uint8_t *f, *g;
    size_t fl, gl;
    uint8_t id[32], id2[32];
    make(WIRE_T_JOB_OFFER, "x", 8, &f, &fl, id);
    wire_envelope e, e2;
    cr_assert_eq(wire_envelope_decode(f, fl, WIRE_GOSSIP_MAX_BYTES, &e), 0);
    e.hops = 3;
    cr_assert_eq(wire_envelope_encode(&e, &g, &gl), 0);
    cr_assert_eq(wire_envelope_decode(g, gl, WIRE_GOSSIP_MAX_BYTES, &e2), 0);
    cr_assert_eq(e2.hops, 3);
    cr_assert_eq(wire_envelope_verify(&e2, net, NOW, 60000), 0);
    wire_envelope_id(&e2, id2);
    cr_assert_eq(memcmp(id, id2, 32), 0);
    wire_envelope_fini(&e);
    wire_envelope_fini(&e2);
    aria_free(f);
    aria_free(g);
}

Test(envelope, every_signed_field_is_covered)
{
    uint8_t *f;
    size_t fl;
    uint8_t id[32];
    make(WIRE_T_JOB_OFFER, "payload", 1, &f, &fl, id);
    for (int field = 0; field < 5; field++) {
        wire_envelope e;
        cr_assert_eq(wire_envelope_decode(f, fl, WIRE_GOSSIP_MAX_BYTES, &e), 0);
        switch (field) {
        case 0: e.type = WIRE_T_FORK_PROOF; break;
        case 1: e.seq++; break;
        case 2: e.created_ms++; break;
        case 3: e.body[0] ^= 1; break;
        case 4: e.sender[5] ^= 1; break;
        }
        int rc = wire_envelope_verify(&e, net, NOW, 60000);
        cr_assert(rc == ARIA_ECRYPTO || (field == 4 && rc == ARIA_EINVAL), "field %d rc %d", field,
                  rc);
        wire_envelope_fini(&e);
    }
    aria_free(f);
}

Test(envelope, rejects_other_network_and_bad_age)
{
    uint8_t *f;
    size_t fl;
    uint8_t id[32], other[32];
    make(WIRE_T_JOB_OFFER, "p", 1, &f, &fl, id);
    wire_envelope e;
    cr_assert_eq(wire_envelope_decode(f, fl, WIRE_GOSSIP_MAX_BYTES, &e), 0);
    memset(other, 0xac, sizeof other);
    cr_assert_eq(wire_envelope_verify(&e, other, NOW, 60000), ARIA_EPERM);
    /* the network id is signed: rewriting it breaks the signature */
    memcpy(e.network_id, other, 32);
    cr_assert_eq(wire_envelope_verify(&e, other, NOW, 60000), ARIA_ECRYPTO);
    memcpy(e.network_id, net, 32);
    cr_assert_eq(wire_envelope_verify(&e, net, NOW + 60001, 60000), ARIA_ERANGE);
    cr_assert_eq(wire_envelope_verify(&e, net, NOW - WIRE_CLOCK_SKEW_MS - 1, 60000), ARIA_ERANGE);
    cr_assert_eq(wire_envelope_verify(&e, net, NOW - WIRE_CLOCK_SKEW_MS, 60000), 0);
    wire_envelope_fini(&e);
    aria_free(f);
}

Test(envelope, decoder_enforces_limits)
{
    uint8_t *f;
    size_t fl;
    uint8_t id[32];
    wire_envelope e;
    make(WIRE_T_JOB_OFFER, "p", 1, &f, &fl, id);
    cr_assert_eq(wire_envelope_decode(f, fl, fl - 1, &e), ARIA_ERANGE);
    cr_assert_eq(wire_envelope_decode(f, 0, 100, &e), ARIA_EPROTO);
    cr_assert_eq(wire_envelope_decode(f, fl - 1, 1 << 20, &e), ARIA_EPROTO); /* truncated */
    uint8_t junk[64];
    memset(junk, 0xff, sizeof junk);
    cr_assert_eq(wire_envelope_decode(junk, sizeof junk, 1 << 20, &e), ARIA_EPROTO);

    /* helper: frame + one extra protobuf field */
    uint8_t g[1024];
    memcpy(g, f, fl);
    /* unknown field 15 (varint) */
    g[fl] = (15 << 3) | 0;
    g[fl + 1] = 1;
    cr_assert_eq(wire_envelope_decode(g, fl + 2, 1 << 20, &e), ARIA_EPROTO);
    cr_assert(strstr(aria_err_msg(), "unknown") != NULL, "%s", aria_err_msg());
    /* sender re-sent with 31 bytes (last one wins in protobuf) */
    g[fl] = (3 << 3) | 2;
    g[fl + 1] = 31;
    memset(g + fl + 2, 1, 31);
    cr_assert_eq(wire_envelope_decode(g, fl + 33, 1 << 20, &e), ARIA_EPROTO);
    cr_assert(strstr(aria_err_msg(), "sender") != NULL, "%s", aria_err_msg());
    /* hops 17 */
    g[fl] = (7 << 3) | 0;
    g[fl + 1] = 17;
    cr_assert_eq(wire_envelope_decode(g, fl + 2, 1 << 20, &e), ARIA_EPROTO);
    /* version 2 */
    g[fl] = (1 << 3) | 0;
    g[fl + 1] = 2;
    cr_assert_eq(wire_envelope_decode(g, fl + 2, 1 << 20, &e), ARIA_EPROTO);
    /* type 99 */
    g[fl] = (2 << 3) | 0;
    g[fl + 1] = 99;
    cr_assert_eq(wire_envelope_decode(g, fl + 2, 1 << 20, &e), ARIA_EPROTO);
    /* a length claim far past the end */
    g[fl] = (8 << 3) | 2;
    g[fl + 1] = 0xff;
    g[fl + 2] = 0xff;
    g[fl + 3] = 0xff;
    g[fl + 4] = 0x7f;
    cr_assert_eq(wire_envelope_decode(g, fl + 5, 1 << 20, &e), ARIA_EPROTO);
    aria_free(f);
}

Test(envelope, one_id_for_two_encodings)
{
    uint8_t *f;
    size_t fl;
    uint8_t id[32], id2[32];
    make(WIRE_T_LEDGER_ENTRIES, "abc", 2, &f, &fl, id);
    /* the same hops field written twice (different bytes, same content) */
    uint8_t g[1024];
    memcpy(g, f, fl);
    g[fl] = (7 << 3) | 0;
    g[fl + 1] = 2;
    cr_assert_neq(fl + 2, fl);
    wire_envelope e;
    cr_assert_eq(wire_envelope_decode(g, fl + 2, 1 << 20, &e), 0);
    wire_envelope_id(&e, id2);
    cr_assert_eq(memcmp(id, id2, 32), 0);
    cr_assert_eq(wire_envelope_verify(&e, net, NOW, 60000), 0);
    wire_envelope_fini(&e);
    aria_free(f);
}

Test(envelope, build_refuses_bad_arguments)
{
    uint8_t *f;
    size_t fl;
    cr_assert_eq(wire_envelope_build(w, net, 99, 1, NOW, 1, "", 0, &f, &fl, NULL), ARIA_EINVAL);
    cr_assert_eq(wire_envelope_build(w, net, 2, 1, NOW, WIRE_HOPS_MAX + 1, "", 0, &f, &fl, NULL),
                 ARIA_ERANGE);
}

Test(envelope, signed_bytes_layout_is_fixed)
{
    /* docs/protocol.md: u32 version, u32 type, sender, u64 seq, u64 created,
     * network id, u32 body length, body */
    wire_envelope e = {0};
    e.version = 1;
    e.type = 2;
    memset(e.sender, 0x11, 32);
    e.seq = 0x0102030405060708ull;
    e.created_ms = 9;
    memset(e.network_id, 0x22, 32);
    uint8_t body[3] = {0xaa, 0xbb, 0xcc};
    e.body = body;
    e.body_len = 3;
    e.hops = 7;
    aria_buf b;
    aria_buf_init(&b, 0);
    cr_assert_eq(wire_envelope_signed_bytes(&e, &b), 0);
    cr_assert_eq(b.len, 4 + 4 + 32 + 8 + 8 + 32 + 4 + 3);
    cr_assert_eq(b.data[0], 1);
    cr_assert_eq(b.data[4], 2);
    cr_assert_eq(b.data[8], 0x11);
    cr_assert_eq(b.data[40], 0x08);
    cr_assert_eq(b.data[47], 0x01);
    cr_assert_eq(b.data[48], 9);
    cr_assert_eq(b.data[56], 0x22);
    cr_assert_eq(b.data[88], 3);
    cr_assert_eq(b.data[92], 0xaa);
    uint8_t h[32], id[32];
    wallet_hash(h, b.data, b.len);
    wire_envelope_id(&e, id);
    cr_assert_eq(memcmp(h, id, 32), 0, "id = BLAKE2b-256(signed bytes)");
    aria_buf_fini(&b);
}
