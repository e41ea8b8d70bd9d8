/*
 * The winner rule: properties of the comparison, a pinned tie-break hash,
 * and the requester's award sequence against a brute-force optimum over
 * every input of up to 6 bids drawn from a small value domain.
 */
#include "sched_test.h"

/* Independent re-statement of the latency formula of docs/scheduler.md. */
static uint64_t
ref_latency(uint32_t queue, uint32_t tps, uint32_t work)
{
    uint64_t per = ((uint64_t)work * 1000 + tps - 1) / tps;
    return per * (queue + 1);
}

/* Independent FNV-1a-64 over job||provider, then murmur3 fmix64. */
static uint64_t
ref_hash(const uint8_t *job, const uint8_t *prov)
{
    uint8_t buf[64];
    memcpy(buf, job, 32);
    memcpy(buf + 32, prov, 32);
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < sizeof buf; i++) {
        h ^= buf[i];
        h *= 1099511628211ull;
    }
    h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdull;
    h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

Test(winner, tiebreak_hash_matches_reference_and_depends_on_both_ids)
{
    uint8_t j[32], p[32], q[32];
    for (uint32_t n = 0; n < 200; n++) {
        t_id(j, 'J', n);
        t_id(p, 'P', n * 7);
        cr_assert_eq(sched_tiebreak(j, p), ref_hash(j, p));
    }
    t_id(j, 'J', 1);
    t_id(p, 'P', 1);
    t_id(q, 'P', 2);
    cr_assert_neq(sched_tiebreak(j, p), sched_tiebreak(j, q));
    uint8_t j2[32];
    t_id(j2, 'J', 2);
    cr_assert_neq(sched_tiebreak(j, p), sched_tiebreak(j2, p));
    /* all zero ids: a pinned value so the rule cannot drift silently */
    uint8_t z[32] = {0};
    cr_assert_eq(sched_tiebreak(z, z), ref_hash(z, z));
}

Test(winner, latency_rounds_up_scales_with_queue_and_saturates)
{
    sched_offer o = t_offer(1);
    sched_bid b = t_bid(&o, 1, 10, 3, 0);
    cr_assert_eq(sched_bid_latency_ms(&b, 1), 334);
    b.queue_depth = 2;
    cr_assert_eq(sched_bid_latency_ms(&b, 1), 1002);
    b.tokens_per_s = 0;
    cr_assert_eq(sched_bid_latency_ms(&b, 1), UINT64_MAX);
    b.tokens_per_s = 1;
    b.queue_depth = UINT32_MAX;
    cr_assert_eq(sched_bid_latency_ms(&b, UINT32_MAX), UINT64_MAX);
}

Test(winner, comparison_orders_price_then_latency_then_reputation)
{
    sched_offer o = t_offer(1);
    sched_bid cheap_slow = t_bid(&o, 1, 10, 1, 0), dear_fast = t_bid(&o, 2, 11, 1000, 0);
    cr_assert_lt(sched_bid_cmp(&cheap_slow, 0, &dear_fast, 9, 100), 0, "price first");
    sched_bid fast = t_bid(&o, 3, 10, 100, 0), slow = t_bid(&o, 4, 10, 50, 0);
    cr_assert_lt(sched_bid_cmp(&fast, 0, &slow, 9, 100), 0, "then latency");
    sched_bid busy = t_bid(&o, 5, 10, 100, 1);
    cr_assert_gt(sched_bid_cmp(&busy, 0, &fast, 0, 100), 0, "queue depth adds latency");
    sched_bid a = t_bid(&o, 6, 10, 100, 0), b = t_bid(&o, 7, 10, 100, 0);
    cr_assert_lt(sched_bid_cmp(&a, 5, &b, 4, 100), 0, "then higher reputation");
    int ab = sched_bid_cmp(&a, 1, &b, 1, 100), ba = sched_bid_cmp(&b, 1, &a, 1, 100);
    cr_assert(ab != 0 && ab == -ba, "hash decides, antisymmetric");
    cr_assert_eq(ab < 0,
                 sched_tiebreak(a.job_id, a.provider) < sched_tiebreak(b.job_id, b.provider));
    cr_assert_eq(sched_bid_cmp(&a, 1, &a, 1, 100), 0);
}

/* Domain of one bid: price {50, 100, 150} with max 100, tps {50, 100},
 * queue {0, 1} (so latency ties across different tps/queue pairs occur:
 * tps 50 q0 == tps 100 q1), reputation {0, 1}. */
#define KINDS 24
typedef struct kind {
    uint64_t price;
    uint32_t tps, queue, rep;
} kind;

static kind
kind_of(int k)
{
    static const uint64_t prices[3] = {50, 100, 150};
    kind v = {prices[k % 3], (k / 3) % 2 ? 100u : 50u, (uint32_t)(k / 6) % 2, (uint32_t)(k / 12)};
    return v;
}

/* Brute force: eligible bids, then successive filters (min price, min
 * latency, max reputation, min hash, min id) give the unique optimum among
 * the bids not in `used`. Returns the position, or -1. */
static int
ref_best(const sched_offer *o, const sched_bid *bids, const kind *ks, int n, const bool *used)
{
    bool in[6];
    int cnt = 0;
    for (int i = 0; i < n; i++) {
        in[i] = !used[i] && bids[i].price_micro <= o->max_price_micro;
        cnt += in[i];
    }
    if (cnt == 0)
        return -1;
    uint64_t m = UINT64_MAX;
    for (int i = 0; i < n; i++)
        if (in[i] && bids[i].price_micro < m)
            m = bids[i].price_micro;
    for (int i = 0; i < n; i++)
        in[i] = in[i] && bids[i].price_micro == m;
    m = UINT64_MAX;
    for (int i = 0; i < n; i++)
        if (in[i] && ref_latency(ks[i].queue, ks[i].tps, o->max_new_tokens) < m)
            m = ref_latency(ks[i].queue, ks[i].tps, o->max_new_tokens);
    for (int i = 0; i < n; i++)
        in[i] = in[i] && ref_latency(ks[i].queue, ks[i].tps, o->max_new_tokens) == m;
    uint32_t rep = 0;
    for (int i = 0; i < n; i++)
        if (in[i] && ks[i].rep > rep)
            rep = ks[i].rep;
    for (int i = 0; i < n; i++)
        in[i] = in[i] && ks[i].rep == rep;
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (!in[i])
            continue;
        uint64_t h = ref_hash(bids[i].job_id, bids[i].provider);
        uint64_t hb = best < 0 ? 0 : ref_hash(bids[best].job_id, bids[best].provider);
        if (best < 0 || h < hb ||
            (h == hb && memcmp(bids[i].provider, bids[best].provider, 32) < 0))
            best = i;
    }
    return best;
}

/* Run one input through the requester: bid i comes from provider i + 1 and
 * bids arrive rotated by `rot`. Every award in order (each refused in
 * turn) must be the brute-force optimum of the bids left. */
static void
check_case(const int *kinds, int n, int rot, uint32_t job)
{
    sched_offer o = t_offer(job);
    sched_req_config cfg;
    sched_req_config_default(&cfg);
    cfg.max_awards = SCHED_REQ_MAX_AWARDS;
    cfg.max_auctions = 1;
    sched_req *r = NULL;
    CHECK(sched_req_new(&o, &cfg, &r) == 0, "new");
    sched_actions out = {0};
    CHECK(sched_req_start(r, 0, &out) == 0, "start");
    sched_bid bids[6];
    kind ks[6];
    bool used[6] = {false};
    for (int i = 0; i < n; i++) {
        ks[i] = kind_of(kinds[i]);
        bids[i] = t_bid(&o, (uint32_t)i + 1, ks[i].price, ks[i].tps, ks[i].queue);
    }
    for (int j = 0; j < n; j++) {
        int i = (j + rot) % n;
        sched_actions_clear(&out);
        int rc = sched_req_on_bid(r, &bids[i], ks[i].rep, 10, &out);
        CHECK(rc == (ks[i].price <= o.max_price_micro ? 0 : SCHED_IGNORED), "bid %d rc %d", i, rc);
        CHECK(out.n == 0, "a bid produced actions");
    }
    sched_actions_clear(&out);
    CHECK(sched_req_tick(r, 500, &out) == 0, "tick");
    for (;;) {
        int want = ref_best(&o, bids, ks, n, used);
        const sched_action *aw = t_find(&out, SCHED_ACT_AWARD, 0);
        if (want < 0) {
            CHECK(aw == NULL, "award with no eligible bid left");
            const sched_action *end = t_find(&out, SCHED_ACT_END, 0);
            CHECK(end != NULL, "no END");
            CHECK(end->u.end.paid_micro == 0, "credits spent");
            CHECK(t_count(&out, SCHED_ACT_PULL) + t_count(&out, SCHED_ACT_SETTLE) == 0, "paid");
            break;
        }
        CHECK(aw != NULL, "expected an award to bid %d of %d", want, n);
        CHECK(memcmp(aw->u.award.provider, bids[want].provider, 32) == 0,
              "award went to provider %u, the optimum is bid %d (provider %d) of %d",
              aw->u.award.provider[1], want, want + 1, n);
        CHECK(aw->u.award.price_micro == bids[want].price_micro, "award price");
        used[want] = true;
        sched_award_reply no = t_reply(&o, (uint32_t)want + 1, false);
        sched_actions_clear(&out);
        CHECK(sched_req_on_award_reply(r, &no, 20, &out) == 0, "reply");
    }
    CHECK(sched_req_get_state(r) == SCHED_REQ_FAILED, "state");
    sched_req_info info;
    sched_req_get_info(r, &info);
    CHECK(info.paid_micro == 0, "paid");
    sched_req_free(r);
}

/* Every multiset of n <= 6 kinds (nondecreasing sequences k[0] <= k[1] ...
 * over all 24 kinds: sum over n of C(23 + n, n) = C(30, 6) = 593,775
 * inputs), each arriving in a rotation that changes with the input.
 * Provider ids follow position, so the tie-break hash order varies too. */
static long
enumerate(int *k, int depth, int n, int from, long count)
{
    if (depth == n) {
        check_case(k, n, n ? (int)(count % n) : 0, (uint32_t)(count % 7));
        return count + 1;
    }
    for (int v = from; v < KINDS; v++) {
        k[depth] = v;
        count = enumerate(k, depth + 1, n, v, count);
    }
    return count;
}

Test(winner, award_order_matches_brute_force_on_all_inputs_up_to_six_bids, .timeout = 600)
{
    int k[6] = {0};
    long count = 0;
    for (int n = 0; n <= 6; n++)
        count = enumerate(k, 0, n, 0, count);
    cr_assert_eq(count, 593775);
}

Test(winner, winner_does_not_depend_on_arrival_order)
{
    /* 6 bids all at one price and latency: only reputation and hash decide;
     * all 720 arrival orders must award the same provider. */
    sched_offer o = t_offer(42);
    int perm[6] = {0, 1, 2, 3, 4, 5};
    uint8_t first[32];
    bool have = false;
    for (int count = 0; count < 720; count++) {
        sched_req *r = NULL;
        CHECK(sched_req_new(&o, NULL, &r) == 0, "new");
        sched_actions out = {0};
        CHECK(sched_req_start(r, 0, &out) == 0, "start");
        for (int i = 0; i < 6; i++) {
            sched_bid b = t_bid(&o, (uint32_t)perm[i] + 1, 60, 100, 0);
            CHECK(sched_req_on_bid(r, &b, perm[i] < 3 ? 1 : 0, 1, &out) == 0, "bid");
        }
        CHECK(sched_req_tick(r, 500, &out) == 0, "tick");
        const sched_action *aw = t_find(&out, SCHED_ACT_AWARD, 0);
        CHECK(aw != NULL, "no award");
        if (!have)
            memcpy(first, aw->u.award.provider, 32);
        have = true;
        CHECK(memcmp(aw->u.award.provider, first, 32) == 0, "order %d changed the winner", count);
        CHECK(aw->u.award.provider[1] < 4, "a reputation-1 provider wins");
        sched_req_free(r);
        /* next permutation (lexicographic) */
        int i = 4;
        while (i >= 0 && perm[i] > perm[i + 1])
            i--;
        if (i < 0)
            break;
        int j = 5;
        while (perm[j] < perm[i])
            j--;
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        for (int a = i + 1, b = 5; a < b; a++, b--) {
            t = perm[a];
            perm[a] = perm[b];
            perm[b] = t;
        }
    }
}
