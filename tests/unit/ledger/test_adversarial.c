/*
 * test_adversarial.c — every hostile or broken entry is rejected with its
 * own reason and error code, and leaves the database exactly as it was
 * (same state hash, same number of stored entries, nothing held unless the
 * rule is to hold).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "ledger_testlib.h"
#include "wallet_internal.h" /* wallet__batch_stats: which verification path ran */

static tl_world w;
static ledger *L;
static char dir[256];
static aria_clock_manual clk;

static void
setup(void)
{
    tl_world_init(&w, 3, 2, 1000);
    tl_tmpdir(dir, sizeof dir, "adv");
    ledger_options o;
    tl_options(&o, &clk);
    cr_assert_eq(ledger_open(dir, w.g, &o, &L), 0, "%s", aria_err_msg());
}

static void
teardown(void)
{
    ledger_close(L);
    tl_rmdir(dir);
    tl_world_fini(&w);
}

TestSuite(ledger_adversarial, .init = setup, .fini = teardown);

typedef struct snap {
    uint8_t hash[32];
    uint64_t entries;
    size_t held;
} snap;

static snap
take(void)
{
    snap s;
    ledger_stats st;
    cr_assert_eq(ledger_state_hash(L, s.hash), 0);
    cr_assert_eq(ledger_stats_get(L, &st), 0);
    s.entries = st.entries;
    s.held = st.held;
    return s;
}

static void
unchanged(snap before)
{
    snap now = take();
    cr_assert_eq(memcmp(now.hash, before.hash, 32), 0, "state hash changed");
    cr_assert_eq(now.entries, before.entries, "stored entries changed");
    cr_assert_eq(now.held, before.held, "hold changed");
}

static ledger_reason
apply_b(tl_bytes b, int want_rc)
{
    ledger_result res;
    int rc = ledger_apply(L, b.p, b.n, &res);
    cr_assert_eq(rc, want_rc, "rc %d (%s), want %d: %s", rc, aria_strerror(rc), want_rc,
                 aria_err_msg());
    aria_free(b.p);
    return res.reason;
}

static void
must_apply(tl_bytes b)
{
    ledger_result res;
    int rc = ledger_apply(L, b.p, b.n, &res);
    cr_assert_eq(rc, 0, "%s", aria_err_msg());
    cr_assert_eq(res.reason, LEDGER_APPLIED, "%s", ledger_reason_name(res.reason));
    aria_free(b.p);
}

static tl_bytes
copy(tl_bytes b)
{
    tl_bytes c = b;
    c.p = aria_alloc(b.n);
    memcpy(c.p, b.p, b.n);
    return c;
}

Test(ledger_adversarial, rejects_bad_signature)
{
    snap s = take();
    tl_bytes g = tl_genesis_entry(&w, 0, 1000);
    g.p[g.n - 5] ^= 0x40;
    cr_assert_eq(apply_b(g, ARIA_ECRYPTO), LEDGER_BAD_SIGNATURE);
    unchanged(s);
    /* a signature by another key over the same content */
    ledger_entry e;
    memset(&e, 0, sizeof e);
    e.kind = LEDGER_KIND_GENESIS;
    e.amount = 1000;
    tl_bytes other = tl_sign(&w, 1, &e); /* signs as account 1 */
    ledger_entry d;
    cr_assert_eq(ledger_entry_decode(other.p, other.n, &d, NULL), 0);
    memcpy(d.account, w.id[0], 32); /* claim to be account 0 */
    aria_buf b;
    aria_buf_init(&b, 0);
    cr_assert_eq(ledger_entry_encode(&d, true, &b), 0);
    tl_bytes forged = {b.data, b.len, {0}};
    cr_assert_eq(apply_b(forged, ARIA_ECRYPTO), LEDGER_BAD_SIGNATURE);
    aria_free(other.p);
    unchanged(s);
}

Test(ledger_adversarial, rejects_bad_receipt_signature)
{
    must_apply(tl_genesis_entry(&w, 0, 1000));
    snap s = take();
    ledger_account_info a;
    cr_assert_eq(ledger_account(L, w.id[0], &a), 0);
    ledger_entry e;
    memset(&e, 0, sizeof e);
    e.kind = LEDGER_KIND_SEND;
    e.seq = 1;
    memcpy(e.prev, a.head, 32);
    e.amount = 5;
    memcpy(e.to, w.id[1], 32);
    e.has_receipt = true;
    aria_snprintf(e.receipt.model_id, sizeof e.receipt.model_id, "m");
    memcpy(e.network, w.g->network_id, 32);
    /* signed by the requester instead of the provider */
    cr_assert_eq(ledger_receipt_sign(w.g->network_id, &e.receipt, w.w[0]), 0);
    cr_assert_eq(apply_b(tl_sign(&w, 0, &e), ARIA_ECRYPTO), LEDGER_BAD_RECEIPT);
    unchanged(s);
}

Test(ledger_adversarial, rejects_wrong_previous_hash)
{
    tl_bytes g = tl_genesis_entry(&w, 0, 1000);
    uint8_t gid[32];
    memcpy(gid, g.id, 32);
    must_apply(g);
    snap s = take();
    uint8_t bogus[32];
    memset(bogus, 0xee, 32);
    cr_assert_eq(apply_b(tl_send(&w, 0, 1, bogus, 1, 10, false, 0), ARIA_EPROTO), LEDGER_BAD_PREV);
    unchanged(s);
    /* prev names a known entry that is not seq-1 of this chain */
    tl_bytes g1 = tl_genesis_entry(&w, 1, 1000);
    must_apply(g1);
    s = take();
    cr_assert_eq(apply_b(tl_send(&w, 1, 1, gid, 0, 10, false, 0), ARIA_EPROTO), LEDGER_BAD_PREV);
    unchanged(s);
    /* a rejected entry stays a fork witness: another entry at that position
     * is proof that the account signed two entries for one seq */
    ledger_account_info a;
    cr_assert_eq(ledger_account(L, w.id[1], &a), 0);
    cr_assert_eq(apply_b(tl_send(&w, 1, 1, a.head, 0, 10, false, 0), ARIA_ESTATE), LEDGER_FORK);
    cr_assert_eq(ledger_account(L, w.id[1], &a), 0);
    cr_assert_eq(a.frozen_seq, 1);
    cr_assert_eq(a.balance, 1000);
    ARIA_UNUSED(gid);
}

Test(ledger_adversarial, holds_a_sequence_gap_without_applying_it)
{
    tl_bytes g = tl_genesis_entry(&w, 0, 1000);
    tl_bytes s1 = tl_send(&w, 0, 1, g.id, 1, 10, false, 0);
    tl_bytes s2 = tl_send(&w, 0, 2, s1.id, 1, 20, false, 0);
    uint8_t s1id[32];
    memcpy(s1id, s1.id, 32);
    must_apply(g);
    snap s = take();
    cr_assert_eq(apply_b(s2, 0), LEDGER_HELD);
    /* not applied: same state and stored entries, one held */
    snap now = take();
    cr_assert_eq(memcmp(now.hash, s.hash, 32), 0);
    cr_assert_eq(now.entries, s.entries);
    cr_assert_eq(now.held, 1);
    uint8_t miss[4][32];
    cr_assert_eq(ledger_missing(L, miss, 4), 1);
    cr_assert_eq(memcmp(miss[0], s1id, 32), 0);
    ledger_account_info a;
    cr_assert_eq(ledger_account(L, w.id[0], &a), 0);
    cr_assert_eq(a.chain_len, 1);
    /* the gap fills: both apply */
    must_apply(s1);
    cr_assert_eq(ledger_account(L, w.id[0], &a), 0);
    cr_assert_eq(a.chain_len, 3);
    cr_assert_eq(a.balance, 970);
    cr_assert_eq(ledger_hold_count(L), 0);
}

Test(ledger_adversarial, rejects_double_receive)
{
    tl_bytes g = tl_genesis_entry(&w, 0, 1000);
    tl_bytes s1 = tl_send(&w, 0, 1, g.id, 2, 100, false, 0);
    uint8_t src[1][32];
    memcpy(src[0], s1.id, 32);
    tl_bytes r1 = tl_receive(&w, 2, 0, NULL, (const uint8_t(*)[32])src, 1);
    tl_bytes r2 = tl_receive(&w, 2, 1, r1.id, (const uint8_t(*)[32])src, 1);
    must_apply(g);
    must_apply(s1);
    must_apply(r1);
    snap s = take();
    cr_assert_eq(apply_b(r2, ARIA_EPROTO), LEDGER_DOUBLE_RECEIVE);
    unchanged(s);
    ledger_account_info a;
    cr_assert_eq(ledger_account(L, w.id[2], &a), 0);
    cr_assert_eq(a.balance, 100);
    /* the same send twice in one receive is not canonical (sources ascend) */
    uint8_t two[2][32];
    memcpy(two[0], s1.id, 32);
    memcpy(two[1], s1.id, 32);
    ledger_entry e;
    memset(&e, 0, sizeof e);
    e.kind = LEDGER_KIND_RECEIVE;
    e.seq = 1;
    memcpy(e.prev, a.head, 32);
    e.n_sources = 2;
    memcpy(e.sources, two, 64);
    aria_buf b;
    aria_buf_init(&b, 0);
    cr_assert_eq(ledger_entry_encode(&e, true, &b), ARIA_EINVAL);
    aria_buf_fini(&b);
}

Test(ledger_adversarial, rejects_receive_of_a_send_to_someone_else)
{
    tl_bytes g0 = tl_genesis_entry(&w, 0, 1000);
    tl_bytes g1 = tl_genesis_entry(&w, 1, 1000);
    tl_bytes s1 = tl_send(&w, 0, 1, g0.id, 2, 100, false, 0);
    uint8_t src[1][32];
    memcpy(src[0], s1.id, 32);
    tl_bytes r = tl_receive(&w, 1, 1, g1.id, (const uint8_t(*)[32])src, 1);
    must_apply(g0);
    must_apply(g1);
    must_apply(s1);
    snap s = take();
    cr_assert_eq(apply_b(r, ARIA_EPROTO), LEDGER_NOT_RECIPIENT);
    unchanged(s);
    /* receiving something that is not a send */
    uint8_t gsrc[1][32];
    tl_bytes g2 = tl_genesis_entry(&w, 0, 1000); /* same content, same id as g0 */
    memcpy(gsrc[0], g2.id, 32);
    aria_free(g2.p);
    tl_bytes r2 = tl_receive(&w, 2, 0, NULL, (const uint8_t(*)[32])gsrc, 1);
    cr_assert_eq(apply_b(r2, ARIA_EPROTO), LEDGER_NOT_A_SEND);
    unchanged(s);
}

Test(ledger_adversarial, rejects_overspend)
{
    tl_bytes g = tl_genesis_entry(&w, 0, 1000);
    uint8_t gid[32];
    memcpy(gid, g.id, 32);
    must_apply(g);
    snap s = take();
    cr_assert_eq(apply_b(tl_send(&w, 0, 1, gid, 1, 1001, false, 0), ARIA_EFUNDS), LEDGER_OVERSPEND);
    unchanged(s);
    /* an account without funds cannot send at all */
    uint8_t z[32] = {0};
    cr_assert_eq(apply_b(tl_send(&w, 2, 0, z, 1, 1, false, 0), ARIA_EFUNDS), LEDGER_OVERSPEND);
    unchanged(s);
    /* a genesis entry that claims more than the allocation */
    cr_assert_eq(apply_b(tl_genesis_entry(&w, 1, 1001), ARIA_EPROTO), LEDGER_NO_ALLOCATION);
    unchanged(s);
}

/* Fork: account 0 signs two sends at seq 1. Both arrival orders give the
 * same state: account 0 frozen at seq 1, the receiver's receive void. */
static void
fork_scenario(bool x_first, uint8_t hash_out[32])
{
    tl_bytes g = tl_genesis_entry(&w, 0, 1000);
    tl_bytes x = tl_send(&w, 0, 1, g.id, 1, 10, false, 0);
    tl_bytes y = tl_send(&w, 0, 1, g.id, 2, 20, false, 0);
    uint8_t src[1][32];
    memcpy(src[0], x.id, 32);
    tl_bytes rx = tl_receive(&w, 1, 0, NULL, (const uint8_t(*)[32])src, 1);
    tl_bytes x2 = tl_send(&w, 0, 2, x.id, 2, 1, false, 0);
    must_apply(g);
    cr_assert_eq(apply_b(copy(rx), 0), LEDGER_HELD); /* until x arrives */
    tl_bytes first = x_first ? x : y, second = x_first ? y : x;
    ledger_result res;
    cr_assert_eq(ledger_apply(L, first.p, first.n, &res), 0, "%s", aria_err_msg());
    cr_assert_eq(res.reason, LEDGER_APPLIED);
    int rc = ledger_apply(L, second.p, second.n, &res);
    cr_assert_eq(rc, ARIA_ESTATE, "%s", aria_err_msg());
    cr_assert_eq(res.reason, LEDGER_FORK);
    /* a third entry at the forked seq and a later one are void */
    tl_bytes z = tl_send(&w, 0, 1, g.id, 2, 30, false, 0);
    cr_assert_eq(apply_b(z, ARIA_ESTATE), LEDGER_FROZEN);
    cr_assert_eq(apply_b(x2, ARIA_ESTATE), LEDGER_FROZEN);
    ledger_account_info a;
    cr_assert_eq(ledger_account(L, w.id[0], &a), 0);
    cr_assert_eq(a.frozen_seq, 1);
    cr_assert_eq(a.live_len, 1);
    cr_assert_eq(a.balance, 1000);
    cr_assert_eq(ledger_account(L, w.id[1], &a), 0);
    cr_assert_eq(a.chain_len, 1, "the receive of x is stored");
    cr_assert_eq(a.live_len, 0, "but void");
    cr_assert_eq(a.balance, 0);
    char msg[256];
    cr_assert_eq(tl_check_invariants(L, msg, sizeof msg), 0, "%s", msg);
    ledger_verify_report rep;
    cr_assert_eq(ledger_verify(L, &rep), 0, "%s", aria_err_msg());
    cr_assert_eq(ledger_state_hash(L, hash_out), 0);
    aria_free(x.p);
    aria_free(y.p);
    aria_free(rx.p);
}

static int
count_fork(void *ctx, const uint8_t account[32], uint64_t seq, const uint8_t *a, size_t an,
           const uint8_t *b, size_t bn)
{
    ARIA_UNUSED(account);
    int *n = ctx;
    ledger_entry ea, eb;
    cr_assert_eq(ledger_entry_decode(a, an, &ea, NULL), 0);
    cr_assert_eq(ledger_entry_decode(b, bn, &eb, NULL), 0);
    cr_assert_eq(ea.seq, seq);
    cr_assert_eq(eb.seq, seq);
    cr_assert_eq(memcmp(ea.account, eb.account, 32), 0);
    (*n)++;
    return 0;
}

Test(ledger_adversarial, fork_in_both_arrival_orders_gives_the_same_state)
{
    uint8_t h1[32], h2[32];
    fork_scenario(true, h1);
    int n = 0;
    cr_assert_eq(ledger_forks(L, count_fork, &n), 0);
    cr_assert_eq(n, 1);
    ledger_close(L);
    tl_rmdir(dir);
    tl_tmpdir(dir, sizeof dir, "adv");
    ledger_options o;
    tl_options(&o, &clk);
    cr_assert_eq(ledger_open(dir, w.g, &o, &L), 0);
    fork_scenario(false, h2);
    cr_assert_eq(memcmp(h1, h2, 32), 0, "fork arrival order changed the state");
}

Test(ledger_adversarial, rejects_replay_of_an_old_entry)
{
    tl_bytes g = tl_genesis_entry(&w, 0, 1000);
    tl_bytes gc = copy(g);
    tl_bytes s1 = tl_send(&w, 0, 1, g.id, 1, 10, false, 0);
    must_apply(g);
    must_apply(copy(s1));
    snap s = take();
    cr_assert_eq(apply_b(copy(gc), ARIA_EEXIST), LEDGER_DUPLICATE);
    unchanged(s);
    /* the same content with a fresh signature is the same entry (same id) */
    cr_assert_eq(apply_b(tl_genesis_entry(&w, 0, 1000), ARIA_EEXIST), LEDGER_DUPLICATE);
    unchanged(s);
    /* a stored id with broken signature bytes: replays of identical bytes
     * skip the signature check, these must not */
    tl_bytes bad = copy(s1);
    bad.p[bad.n - 7] ^= 0x01;
    cr_assert_eq(apply_b(bad, ARIA_ECRYPTO), LEDGER_BAD_SIGNATURE);
    unchanged(s);
    /* a batch: replays, a bad copy, a new entry and its replay in one call */
    tl_bytes s2 = tl_send(&w, 0, 2, s1.id, 1, 5, false, 0);
    tl_bytes badg = copy(gc);
    badg.p[badg.n - 1] ^= 0x80;
    const uint8_t *p[5] = {gc.p, badg.p, s2.p, gc.p, s2.p};
    size_t n[5] = {gc.n, badg.n, s2.n, gc.n, s2.n};
    ledger_result res[5];
    cr_assert_eq(ledger_apply_batch(L, p, n, 5, res), 0, "%s", aria_err_msg());
    cr_assert_eq(res[0].reason, LEDGER_DUPLICATE);
    cr_assert_eq(res[1].reason, LEDGER_BAD_SIGNATURE);
    cr_assert_eq(res[2].reason, LEDGER_APPLIED);
    cr_assert_eq(res[3].reason, LEDGER_DUPLICATE);
    cr_assert_eq(res[4].reason, LEDGER_DUPLICATE);
    ledger_account_info a;
    cr_assert_eq(ledger_account(L, w.id[0], &a), 0);
    cr_assert_eq(a.chain_len, 3);
    cr_assert_eq(a.balance, 1000 - 10 - 5);
    aria_free(gc.p);
    aria_free(badg.p);
    aria_free(s1.p);
    aria_free(s2.p);
}

Test(ledger_adversarial, rejects_wrong_network_id)
{
    tl_world other;
    tl_world_init(&other, 3, 1, 999); /* other genesis => other network */
    snap s = take();
    cr_assert_eq(apply_b(tl_genesis_entry(&other, 0, 999), ARIA_EPROTO), LEDGER_WRONG_NETWORK);
    unchanged(s);
    tl_world_fini(&other);
}

/* Hand-built protobuf so that field lengths can break the limits. */
static void
put_field(aria_buf *b, unsigned field, const void *p, size_t n)
{
    aria_buf_put_varint(b, (uint64_t)field << 3 | 2);
    aria_buf_put_lenbytes(b, p, n);
}

Test(ledger_adversarial, rejects_oversize_fields)
{
    snap s = take();
    uint8_t z[64] = {0}, to33[33];
    memset(to33, 9, sizeof to33);
    aria_buf b;
    aria_buf_init(&b, 0);
    aria_buf_put_u8(&b, 0x08);
    aria_buf_put_u8(&b, 0x01);
    put_field(&b, 2, w.g->network_id, 32);
    put_field(&b, 3, w.id[0], 32);
    aria_buf_put_u8(&b, 0x38); /* kind = send */
    aria_buf_put_u8(&b, 0x02);
    aria_buf_put_u8(&b, 0x40); /* amount = 5 */
    aria_buf_put_u8(&b, 0x05);
    put_field(&b, 9, to33, 33); /* 33-byte recipient */
    put_field(&b, 15, z, 64);
    tl_bytes t = {b.data, b.len, {0}};
    cr_assert_eq(apply_b(t, ARIA_ERANGE), LEDGER_OVERSIZE);
    /* receipt with a 129-byte model id */
    aria_buf r;
    aria_buf_init(&r, 0);
    char model[129];
    memset(model, 'm', sizeof model);
    put_field(&r, 1, z, 32);
    put_field(&r, 2, model, sizeof model);
    put_field(&r, 5, z, 32);
    put_field(&r, 6, z, 64);
    aria_buf_init(&b, 0);
    aria_buf_put_u8(&b, 0x08);
    aria_buf_put_u8(&b, 0x01);
    put_field(&b, 2, w.g->network_id, 32);
    put_field(&b, 3, w.id[0], 32);
    aria_buf_put_u8(&b, 0x38);
    aria_buf_put_u8(&b, 0x02);
    aria_buf_put_u8(&b, 0x40);
    aria_buf_put_u8(&b, 0x05);
    put_field(&b, 9, w.id[1], 32);
    put_field(&b, 11, r.data, r.len);
    put_field(&b, 15, z, 64);
    aria_buf_fini(&r);
    t = (tl_bytes){b.data, b.len, {0}};
    cr_assert_eq(apply_b(t, ARIA_ERANGE), LEDGER_OVERSIZE);
    /* 17 sources */
    aria_buf_init(&b, 0);
    aria_buf_put_u8(&b, 0x08);
    aria_buf_put_u8(&b, 0x01);
    put_field(&b, 2, w.g->network_id, 32);
    put_field(&b, 3, w.id[0], 32);
    aria_buf_put_u8(&b, 0x38);
    aria_buf_put_u8(&b, 0x03);
    for (int i = 0; i < 17; i++) {
        uint8_t src[32];
        memset(src, i + 1, 32);
        put_field(&b, 10, src, 32);
    }
    put_field(&b, 15, z, 64);
    t = (tl_bytes){b.data, b.len, {0}};
    cr_assert_eq(apply_b(t, ARIA_ERANGE), LEDGER_OVERSIZE);
    /* whole entry over the limit */
    uint8_t *big = aria_calloc(1, LEDGER_ENTRY_MAX_BYTES + 10);
    t = (tl_bytes){big, LEDGER_ENTRY_MAX_BYTES + 10, {0}};
    cr_assert_eq(apply_b(t, ARIA_ERANGE), LEDGER_OVERSIZE);
    unchanged(s);
}

Test(ledger_adversarial, rejects_malformed_bytes)
{
    snap s = take();
    tl_rng r = {77};
    for (int i = 0; i < 200; i++) {
        size_t n = 1 + (size_t)tl_below(&r, 300);
        uint8_t *p = aria_alloc(n);
        for (size_t k = 0; k < n; k++)
            p[k] = (uint8_t)tl_next(&r);
        tl_bytes t = {p, n, {0}};
        ledger_result res;
        int rc = ledger_apply(L, t.p, t.n, &res);
        cr_assert_lt(rc, 0);
        cr_assert(res.reason == LEDGER_MALFORMED || res.reason == LEDGER_BAD_FIELD ||
                      res.reason == LEDGER_OVERSIZE,
                  "%s", ledger_reason_name(res.reason));
        aria_free(p);
    }
    /* a valid entry cut short */
    tl_bytes g = tl_genesis_entry(&w, 0, 1000);
    g.n -= 10;
    cr_assert_eq(apply_b(g, ARIA_EPROTO), LEDGER_MALFORMED);
    unchanged(s);
}

Test(ledger_adversarial, batch_applies_the_good_and_rejects_the_bad)
{
    tl_bytes g = tl_genesis_entry(&w, 0, 1000);
    tl_bytes bad = tl_send(&w, 0, 1, g.id, 1, 5000, false, 0);
    bad.p[bad.n - 1] ^= 1; /* bad signature: refused before any rule, never a witness */
    tl_bytes ok = tl_send(&w, 0, 1, g.id, 1, 50, false, 0);
    const uint8_t *p[3] = {g.p, bad.p, ok.p};
    size_t n[3] = {g.n, bad.n, ok.n};
    ledger_result res[3];
    cr_assert_eq(ledger_apply_batch(L, p, n, 3, res), 0);
    cr_assert_eq(res[0].reason, LEDGER_APPLIED);
    cr_assert_eq(res[1].reason, LEDGER_BAD_SIGNATURE);
    cr_assert_eq(res[2].reason, LEDGER_APPLIED);
    ledger_account_info a;
    cr_assert_eq(ledger_account(L, w.id[0], &a), 0);
    cr_assert_eq(a.balance, 950);
    cr_assert_eq(a.chain_len, 2);
    aria_free(g.p);
    aria_free(bad.p);
    aria_free(ok.p);
}

/* The signatures of a batch are checked with one batch verification: a
 * valid batch is accepted by the combination (no one-by-one fallback), and
 * bad entry and receipt signatures among good ones get exactly the reasons
 * and the first message that applying each entry alone gives, with the same
 * final state. */
Test(ledger_adversarial, batch_signature_checks_match_one_by_one)
{
    enum { NS = 24, NB = 3 };
    tl_bytes e[2 + NS];
    e[0] = tl_genesis_entry(&w, 0, 1000);
    e[1] = tl_genesis_entry(&w, 1, 1000);
    for (uint64_t seq = 1; seq <= NS; seq++)
        e[1 + seq] =
            tl_send(&w, 0, seq, e[seq == 1 ? 0 : seq].id, 1 + seq % 2, 3, seq % 3 == 0, seq);
    /* bad entry signature: a copy of send 15 with a flipped signature bit */
    tl_bytes bad[NB];
    bad[0] = copy(e[1 + 15]);
    bad[0].p[bad[0].n - 3] ^= 0x10;
    /* bad receipt: send 18 (with a receipt) with a damaged provider
     * signature, re-signed by its account */
    ledger_entry d;
    cr_assert_eq(ledger_entry_decode(e[1 + 18].p, e[1 + 18].n, &d, NULL), 0);
    cr_assert(d.has_receipt);
    d.receipt.provider_sig[7] ^= 0x01;
    bad[1] = tl_sign(&w, 0, &d);
    /* a signature under another account's key: send 21 (to account 2)
     * claiming account 1 */
    cr_assert_eq(ledger_entry_decode(e[1 + 21].p, e[1 + 21].n, &d, NULL), 0);
    memcpy(d.account, w.id[1], 32);
    aria_buf b;
    aria_buf_init(&b, 0);
    cr_assert_eq(ledger_entry_encode(&d, true, &b), 0);
    bad[2] = (tl_bytes){b.data, b.len, {0}};

    /* batch 1: both genesis entries and sends 1..12, all valid */
    const uint8_t *p[2 + NS + NB];
    size_t n[2 + NS + NB], m = 0;
    for (size_t i = 0; i < 2 + 12; i++) {
        p[m] = e[i].p;
        n[m++] = e[i].n;
    }
    ledger_result res[2 + NS + NB];
    wallet__batch_stats_reset();
    cr_assert_eq(ledger_apply_batch(L, p, n, m, res), 0, "%s", aria_err_msg());
    wallet_batch_stats st;
    wallet__batch_stats_get(&st);
    for (size_t i = 0; i < m; i++)
        cr_assert_eq(res[i].reason, LEDGER_APPLIED, "entry %zu: %s", i,
                     ledger_reason_name(res[i].reason));
    cr_assert_eq(st.batches, 1);
    cr_assert_eq(st.batch_fails, 0);
    cr_assert_eq(st.batched, 14 + 4); /* 14 entries, receipts on sends 3, 6, 9, 12 */
    cr_assert_eq(st.singles, 0);

    /* batch 2: sends 13..24 with the bad ones among them */
    size_t m2 = 0;
    const uint8_t *p2[NS + NB];
    size_t n2[NS + NB];
    for (size_t seq = 13; seq <= NS; seq++) {
        if (seq == 14 || seq == 19 || seq == 24) {
            tl_bytes x = bad[seq == 14 ? 0 : seq == 19 ? 1 : 2];
            p2[m2] = x.p;
            n2[m2++] = x.n;
        }
        p2[m2] = e[1 + seq].p;
        n2[m2++] = e[1 + seq].n;
    }
    ledger_result res2[NS + NB];
    wallet__batch_stats_reset();
    cr_assert_eq(ledger_apply_batch(L, p2, n2, m2, res2), 0);
    char batch_msg[256];
    aria_snprintf(batch_msg, sizeof batch_msg, "%s", aria_err_msg());
    wallet__batch_stats_get(&st);
    cr_assert_eq(st.batches, 1);
    cr_assert_eq(st.batch_fails, 1);

    /* the same entries one by one in a second ledger */
    char dir2[256];
    tl_tmpdir(dir2, sizeof dir2, "adv1by1");
    ledger_options o;
    aria_clock_manual clk2;
    tl_options(&o, &clk2);
    ledger *L2;
    cr_assert_eq(ledger_open(dir2, w.g, &o, &L2), 0, "%s", aria_err_msg());
    char first_msg[256] = "";
    for (size_t i = 0; i < m + m2; i++) {
        ledger_result r1;
        const uint8_t *bp = i < m ? p[i] : p2[i - m];
        size_t bn = i < m ? n[i] : n2[i - m];
        int rc = ledger_apply(L2, bp, bn, &r1);
        cr_assert(rc == 0 || r1.reason != LEDGER_APPLIED);
        ledger_reason want = i < m ? res[i].reason : res2[i - m].reason;
        cr_assert_eq(r1.reason, want, "entry %zu: alone %s, in the batch %s", i,
                     ledger_reason_name(r1.reason), ledger_reason_name(want));
        if (i >= m && r1.reason != LEDGER_APPLIED && !first_msg[0])
            aria_snprintf(first_msg, sizeof first_msg, "%s", aria_err_msg());
    }
    cr_assert_str_eq(batch_msg, first_msg);
    size_t nbad = 0;
    for (size_t i = 0; i < m2; i++)
        nbad += res2[i].reason != LEDGER_APPLIED;
    cr_assert_eq(nbad, 3);
    cr_assert_eq(res2[1].reason, LEDGER_BAD_SIGNATURE);      /* bad[0] before send 14 */
    cr_assert_eq(res2[7].reason, LEDGER_BAD_RECEIPT);        /* bad[1] before send 19 */
    cr_assert_eq(res2[m2 - 2].reason, LEDGER_BAD_SIGNATURE); /* bad[2] before send 24 */
    uint8_t h1[32], h2[32];
    cr_assert_eq(ledger_state_hash(L, h1), 0);
    cr_assert_eq(ledger_state_hash(L2, h2), 0);
    cr_assert_eq(memcmp(h1, h2, 32), 0, "state differs from one-by-one application");
    ledger_account_info a;
    cr_assert_eq(ledger_account(L, w.id[0], &a), 0);
    cr_assert_eq(a.chain_len, 1 + NS);
    ledger_close(L2);
    tl_rmdir(dir2);
    for (size_t i = 0; i < 2 + NS; i++)
        aria_free(e[i].p);
    for (size_t i = 0; i < NB; i++)
        aria_free(bad[i].p);
}

typedef struct proof {
    uint8_t *a, *b;
    size_t an, bn;
} proof;

static int
grab_fork(void *ctx, const uint8_t account[32], uint64_t seq, const uint8_t *a, size_t an,
          const uint8_t *b, size_t bn)
{
    ARIA_UNUSED(account);
    ARIA_UNUSED(seq);
    proof *p = ctx;
    p->a = aria_alloc(an);
    p->b = aria_alloc(bn);
    memcpy(p->a, a, an);
    memcpy(p->b, b, bn);
    p->an = an;
    p->bn = bn;
    return 1;
}

Test(ledger_adversarial, exported_fork_proof_freezes_the_account_on_another_node)
{
    tl_bytes g = tl_genesis_entry(&w, 0, 1000);
    tl_bytes x = tl_send(&w, 0, 1, g.id, 1, 10, false, 0);
    tl_bytes y = tl_send(&w, 0, 1, g.id, 2, 20, false, 0);
    /* node 1 (L) sees the fork */
    cr_assert_eq(ledger_apply(L, g.p, g.n, NULL), 0);
    cr_assert_eq(ledger_apply(L, x.p, x.n, NULL), 0);
    cr_assert_eq(ledger_apply(L, y.p, y.n, NULL), ARIA_ESTATE);
    proof p = {0};
    cr_assert_eq(ledger_forks(L, grab_fork, &p), 1);
    /* node 2 only had the honest-looking branch y; the proof arrives */
    char dir2[256];
    tl_tmpdir(dir2, sizeof dir2, "adv2");
    ledger_options o;
    aria_clock_manual clk2;
    tl_options(&o, &clk2);
    ledger *l2;
    cr_assert_eq(ledger_open(dir2, w.g, &o, &l2), 0);
    cr_assert_eq(ledger_apply(l2, g.p, g.n, NULL), 0);
    cr_assert_eq(ledger_apply(l2, y.p, y.n, NULL), 0);
    ledger_account_info a;
    cr_assert_eq(ledger_account(l2, w.id[0], &a), 0);
    cr_assert_eq(a.balance, 980);
    ledger_result r1, r2;
    int rc1 = ledger_apply(l2, p.a, p.an, &r1), rc2 = ledger_apply(l2, p.b, p.bn, &r2);
    cr_assert(r1.reason == LEDGER_FORK || r2.reason == LEDGER_FORK, "%s %s",
              ledger_reason_name(r1.reason), ledger_reason_name(r2.reason));
    ARIA_UNUSED(rc1);
    ARIA_UNUSED(rc2);
    cr_assert_eq(ledger_account(l2, w.id[0], &a), 0);
    cr_assert_eq(a.frozen_seq, 1);
    cr_assert_eq(a.balance, 1000);
    uint8_t h1[32], h2[32];
    cr_assert_eq(ledger_state_hash(L, h1), 0);
    cr_assert_eq(ledger_state_hash(l2, h2), 0);
    cr_assert_eq(memcmp(h1, h2, 32), 0);
    ledger_close(l2);
    tl_rmdir(dir2);
    aria_free(p.a);
    aria_free(p.b);
    aria_free(g.p);
    aria_free(x.p);
    aria_free(y.p);
}
