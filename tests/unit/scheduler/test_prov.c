/*
 * The provider machine alone: the bid decision (model, capacity, price
 * policy with load factor, never above the max), reservations, awards
 * accepted and refused, computing at most one chunk ahead, stopping when
 * payment lags, duplicates, stale messages and every provider timer.
 */
#include "sched_test.h"

static sched_actions out;

static sched_prov *
prov_make(uint32_t capacity, uint64_t base, uint32_t load_pct)
{
    sched_prov_config c;
    sched_prov_config_default(&c);
    t_id(c.node_id, 'P', 1);
    c.capacity = capacity;
    c.base_price_micro = base;
    c.load_factor_pct = load_pct;
    c.tokens_per_s = 50;
    c.n_models = 2;
    t_id(c.models[0], 'M', 0);
    t_id(c.models[1], 'M', 7);
    sched_prov *p = NULL;
    cr_assert_eq(sched_prov_new(&c, &p), 0, "%s", aria_err_msg());
    return p;
}

static sched_award
award_for(const sched_offer *o, uint64_t price, uint32_t start_chunk)
{
    sched_award w;
    memset(&w, 0, sizeof w);
    memcpy(w.job_id, o->job_id, 32);
    memcpy(w.requester, o->requester, 32);
    t_id(w.provider, 'P', 1);
    memcpy(w.model_id, o->model_id, 32);
    w.price_micro = price;
    w.prompt_tokens = o->prompt_tokens;
    w.max_new_tokens = o->max_new_tokens;
    w.chunk_tokens = o->chunk_tokens;
    w.start_chunk = start_chunk;
    w.start_token = start_chunk * o->chunk_tokens;
    return w;
}

static sched_pull
pull_for(const sched_offer *o, uint32_t chunk, uint64_t total_paid)
{
    sched_pull pl;
    memset(&pl, 0, sizeof pl);
    memcpy(pl.job_id, o->job_id, 32);
    memcpy(pl.requester, o->requester, 32);
    t_id(pl.provider, 'P', 1);
    pl.chunk = chunk;
    if (total_paid != UINT64_MAX) {
        pl.has_payment = true;
        memcpy(pl.payment.job_id, o->job_id, 32);
        memcpy(pl.payment.payer, o->requester, 32);
        t_id(pl.payment.payee, 'P', 1);
        pl.payment.total_micro = total_paid;
    }
    return pl;
}

static const uint8_t no_hash[32] = {0};

/* Bid on job n and take the award. */
static sched_offer
running(sched_prov *p, uint32_t n, uint64_t now)
{
    sched_offer o = t_offer(n);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_offer(p, &o, now, &out), 0);
    uint64_t price = t_find(&out, SCHED_ACT_BID, 0)->u.bid.price_micro;
    sched_award w = award_for(&o, price, 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_award(p, &w, now, &out), 0);
    cr_assert(t_find(&out, SCHED_ACT_AWARD_REPLY, 0)->u.reply.accepted);
    const sched_action *c = t_find(&out, SCHED_ACT_COMPUTE, 0);
    cr_assert_eq(c->u.compute.chunk, 0);
    cr_assert(c->u.compute.first);
    t_prov_ok(p);
    return o;
}

Test(prov, rejects_bad_configs)
{
    sched_prov_config c;
    sched_prov_config_default(&c);
    sched_prov *p = NULL;
    c.capacity = 0;
    cr_assert_eq(sched_prov_new(&c, &p), ARIA_EINVAL);
    c.capacity = 2;
    c.n_models = SCHED_PROV_MAX_MODELS + 1;
    cr_assert_eq(sched_prov_new(&c, &p), ARIA_EINVAL);
    c.n_models = 0;
    c.tokens_per_s = 0;
    cr_assert_eq(sched_prov_new(&c, &p), ARIA_EINVAL);
    cr_assert(strstr(aria_err_msg(), "tokens_per_s") != NULL);
    cr_assert_null(p);
    sched_prov_free(NULL);
}

/* Table: (capacity, base, load %, slots used) → price asked. */
Test(prov, price_policy_rises_with_load)
{
    static const struct {
        uint32_t cap;
        uint64_t base;
        uint32_t pct, used;
        uint64_t want;
    } rows[] = {
        {4, 100, 100, 0, 100}, {4, 100, 100, 1, 125}, {4, 100, 100, 2, 150},
        {4, 100, 100, 3, 175}, {3, 10, 100, 1, 14}, /* ceil(10/3) = 4 */
        {4, 100, 0, 3, 100},   {2, 7, 50, 1, 9},    /* 7 + ceil(1.75) */
        {1, 0, 100, 0, 0},
    };
    for (size_t i = 0; i < ARIA_ARRAY_LEN(rows); i++) {
        sched_prov *p = prov_make(rows[i].cap, rows[i].base, rows[i].pct);
        for (uint32_t u = 0; u < rows[i].used; u++) {
            sched_offer o = t_offer(100 + u);
            o.max_price_micro = 1000;
            sched_actions_clear(&out);
            cr_assert_eq(sched_prov_on_offer(p, &o, 0, &out), 0);
        }
        cr_assert_eq(sched_prov_price(p), rows[i].want, "row %zu: %llu", i,
                     (unsigned long long)sched_prov_price(p));
        sched_prov_free(p);
    }
}

Test(prov, bid_decision_table)
{
    sched_prov *p = prov_make(2, 60, 100);
    sched_offer o = t_offer(1);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_offer(p, &o, 0, &out), 0);
    const sched_action *b = t_find(&out, SCHED_ACT_BID, 0);
    cr_assert_eq(b->u.bid.price_micro, 60);
    cr_assert_eq(b->u.bid.tokens_per_s, 50);
    cr_assert_eq(b->u.bid.queue_depth, 0);
    cr_assert_eq(b->u.bid.expires_ms, 500 + 2000, "window + grace");
    cr_assert_eq(sched_prov_used(p), 1);
    cr_assert_eq(sched_prov_on_offer(p, &o, 1, &out), SCHED_NOBID_DUPLICATE);
    /* model not served */
    sched_offer om = t_offer(2);
    t_id(om.model_id, 'M', 3);
    cr_assert_eq(sched_prov_on_offer(p, &om, 0, &out), SCHED_NOBID_MODEL);
    /* the second model is served */
    sched_offer o7 = t_offer(3);
    t_id(o7.model_id, 'M', 7);
    o7.max_price_micro = 89;
    cr_assert_eq(sched_prov_on_offer(p, &o7, 0, &out), SCHED_NOBID_PRICE, "60 + 30 > 89");
    o7.max_price_micro = 90;
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_offer(p, &o7, 0, &out), 0, "at the max is fine");
    cr_assert_eq(t_find(&out, SCHED_ACT_BID, 0)->u.bid.price_micro, 90);
    /* full */
    sched_offer o4 = t_offer(4);
    cr_assert_eq(sched_prov_on_offer(p, &o4, 0, &out), SCHED_NOBID_CAPACITY);
    /* expired, invalid */
    sched_offer o5 = t_offer(5);
    o5.expires_ms = 10;
    cr_assert_eq(sched_prov_on_offer(p, &o5, 10, &out), SCHED_NOBID_EXPIRED);
    cr_assert_str_eq(sched_nobid_name(SCHED_NOBID_MODEL), "model-not-served");
    t_prov_ok(p);
    sched_prov_free(p);
    p = prov_make(2, 60, 100);
    sched_offer o6 = t_offer(6);
    o6.max_new_tokens = 0;
    cr_assert_eq(sched_prov_on_offer(p, &o6, 0, &out), SCHED_NOBID_INVALID);
    sched_offer o8 = t_offer(8);
    o8.expires_ms = 1000; /* reservation capped at the offer's expiry */
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_offer(p, &o8, 0, &out), 0);
    cr_assert_eq(t_find(&out, SCHED_ACT_BID, 0)->u.bid.expires_ms, 1000);
    sched_prov_free(p);
}

Test(prov, reservation_lapses_and_frees_the_slot)
{
    sched_prov *p = prov_make(1, 10, 0);
    sched_offer o = t_offer(1);
    cr_assert_eq(sched_prov_on_offer(p, &o, 100, &out), 0);
    cr_assert_eq(sched_prov_next_deadline(p), 100 + 2500);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_tick(p, 2599, &out), 0);
    cr_assert_eq(out.n, 0);
    cr_assert_eq(sched_prov_tick(p, 2600, &out), 0);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.a[0].kind, SCHED_ACT_RELEASE);
    cr_assert_eq(out.a[0].u.end.reason, SCHED_END_BID_LAPSED);
    cr_assert_eq(sched_prov_used(p), 0);
    cr_assert_eq(sched_prov_next_deadline(p), SCHED_NO_DEADLINE);
    sched_prov_job j;
    cr_assert_eq(sched_prov_get_job(p, o.job_id, &j), ARIA_ENOTFOUND);
    /* a late award is judged afresh: a free slot and our price → accepted */
    sched_award w = award_for(&o, 10, 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_award(p, &w, 3000, &out), 0);
    cr_assert(t_find(&out, SCHED_ACT_AWARD_REPLY, 0)->u.reply.accepted);
    t_prov_ok(p);
    sched_prov_free(p);
}

Test(prov, award_to_a_provider_now_at_capacity_is_refused)
{
    sched_prov *p = prov_make(1, 10, 0);
    sched_offer o1 = t_offer(1), o2 = t_offer(2);
    cr_assert_eq(sched_prov_on_offer(p, &o1, 0, &out), 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_tick(p, 5000, &out), 0); /* o1's reservation lapses */
    (void)running(p, 2, 5000);                       /* slot taken by job 2 */
    sched_award w = award_for(&o1, 10, 0);           /* o1's award arrives late */
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_award(p, &w, 5001, &out), 0);
    cr_assert_eq(out.n, 1);
    cr_assert_not(out.a[0].u.reply.accepted);
    cr_assert_eq(out.a[0].u.reply.reason, SCHED_REFUSE_CAPACITY);
    ARIA_UNUSED(o2);
    t_prov_ok(p);
    sched_prov_free(p);
}

Test(prov, award_refused_for_unserved_model_and_low_price)
{
    sched_prov *p = prov_make(2, 50, 0);
    sched_offer o = t_offer(1);
    t_id(o.model_id, 'M', 9);
    sched_award w = award_for(&o, 100, 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_award(p, &w, 0, &out), 0);
    cr_assert_eq(out.a[0].u.reply.reason, SCHED_REFUSE_MODEL);
    sched_offer o2 = t_offer(2);
    w = award_for(&o2, 49, 0); /* a re-award below our price */
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_award(p, &w, 0, &out), 0);
    cr_assert_eq(out.a[0].u.reply.reason, SCHED_REFUSE_PRICE);
    /* an award below the reserved bid price drops the reservation */
    cr_assert_eq(sched_prov_on_offer(p, &o2, 0, &out), 0);
    cr_assert_eq(sched_prov_used(p), 1);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_award(p, &w, 1, &out), 0);
    cr_assert_eq(t_find(&out, SCHED_ACT_AWARD_REPLY, 0)->u.reply.reason, SCHED_REFUSE_PRICE);
    cr_assert_eq(sched_prov_used(p), 0);
    /* an award for someone else, or inconsistent, is not taken */
    w = award_for(&o2, 50, 0);
    t_id(w.provider, 'P', 2);
    cr_assert_eq(sched_prov_on_award(p, &w, 2, &out), SCHED_IGNORED);
    w = award_for(&o2, 50, 1);
    w.start_token = 5;
    cr_assert_eq(sched_prov_on_award(p, &w, 2, &out), ARIA_EPROTO);
    t_prov_ok(p);
    sched_prov_free(p);
}

Test(prov, computes_one_chunk_ahead_and_sends_only_paid_pulls)
{
    sched_prov *p = prov_make(2, 10, 0);
    sched_offer o = running(p, 1, 0); /* 100 tokens: 32,32,32,4 at price 10 */
    sched_prov_job j;
    cr_assert_eq(sched_prov_get_job(p, o.job_id, &j), 0);
    cr_assert(j.computing);
    /* the worker finishes chunk 0 before the pull: held, not sent */
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_computed(p, o.job_id, 0, 32, false, no_hash, 10, &out), 0);
    cr_assert_eq(out.n, 0, "no compute beyond one chunk ahead of pulls");
    sched_pull pl = pull_for(&o, 0, UINT64_MAX);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_pull(p, &pl, 20, &out), 0);
    cr_assert_eq(t_find(&out, SCHED_ACT_CHUNK, 0)->u.chunk.index, 0);
    cr_assert_eq(t_find(&out, SCHED_ACT_COMPUTE, 0)->u.compute.chunk, 1);
    cr_assert_not(t_find(&out, SCHED_ACT_COMPUTE, 0)->u.compute.first);
    t_prov_ok(p);
    /* pull 1 arrives while chunk 1 is computing: sent when done */
    pl = pull_for(&o, 1, 320);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_pull(p, &pl, 30, &out), 0);
    cr_assert_eq(out.n, 0);
    cr_assert_eq(sched_prov_next_deadline(p), SCHED_NO_DEADLINE, "waiting for our own worker");
    cr_assert_eq(sched_prov_on_computed(p, o.job_id, 1, 32, false, no_hash, 40, &out), 0);
    cr_assert_eq(t_find(&out, SCHED_ACT_CHUNK, 0)->u.chunk.index, 1);
    cr_assert_eq(t_find(&out, SCHED_ACT_COMPUTE, 0)->u.compute.chunk, 2);
    cr_assert_eq(sched_prov_next_deadline(p), 40 + 30000);
    /* a result for a chunk not asked for is ignored */
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_computed(p, o.job_id, 3, 4, true, no_hash, 41, &out), SCHED_IGNORED);
    cr_assert_eq(sched_prov_on_computed(p, o.job_id, 2, 33, false, no_hash, 41, &out), ARIA_EINVAL);
    cr_assert_eq(sched_prov_on_computed(p, o.job_id, 2, 31, false, no_hash, 41, &out), ARIA_EINVAL);
    cr_assert_eq(sched_prov_on_computed(p, o.job_id, 2, 32, false, no_hash, 42, &out), 0);
    pl = pull_for(&o, 2, 640);
    cr_assert_eq(sched_prov_on_pull(p, &pl, 43, &out), 0);
    cr_assert_eq(t_find(&out, SCHED_ACT_COMPUTE, 0)->u.compute.max_tokens, 4, "last chunk size");
    uint8_t h[32];
    memset(h, 0x5a, 32);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_computed(p, o.job_id, 3, 4, false, h, 44, &out), 0);
    pl = pull_for(&o, 3, 960);
    cr_assert_eq(sched_prov_on_pull(p, &pl, 45, &out), 0);
    const sched_action *last = t_find(&out, SCHED_ACT_CHUNK, 0);
    cr_assert(last->u.chunk.last, "max_new reached means last");
    cr_assert_eq(last->u.chunk.output_hash[0], 0x5a);
    cr_assert_eq(t_count(&out, SCHED_ACT_COMPUTE), 0);
    cr_assert_eq(sched_prov_get_job(p, o.job_id, &j), 0);
    cr_assert_eq(j.state, SCHED_SLOT_FINISHING);
    t_prov_ok(p);
    /* settle: the final payment completes and releases */
    sched_payment pay = pull_for(&o, 0, 1000).payment;
    pay.total_micro = 999;
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_payment(p, &pay, 50, &out), 0);
    cr_assert_eq(out.n, 0, "one micro-credit short");
    pay.total_micro = 1000;
    cr_assert_eq(sched_prov_on_payment(p, &pay, 51, &out), 0);
    cr_assert_eq(out.a[0].kind, SCHED_ACT_RELEASE);
    cr_assert_eq(out.a[0].u.end.reason, SCHED_END_DONE);
    cr_assert_eq(out.a[0].u.end.paid_micro, 1000);
    cr_assert_eq(out.a[0].u.end.tokens, 100);
    cr_assert_eq(sched_prov_used(p), 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_payment(p, &pay, 52, &out), SCHED_IGNORED, "duplicate");
    sched_prov_free(p);
}

/* Requester stops paying after k chunks: the provider stops within one
 * chunk, with at most one delivered chunk unpaid. Table over k and whether
 * the requester keeps pulling without paying or goes silent. */
Test(prov, requester_stops_paying_provider_stops_within_one_chunk)
{
    for (uint32_t k = 1; k <= 3; k++) {
        for (int silent = 0; silent <= 1; silent++) {
            sched_prov *p = prov_make(1, 10, 0);
            sched_offer o = running(p, k, 0);
            uint64_t now = 0;
            for (uint32_t i = 0; i < k; i++) {
                cr_assert_eq(sched_prov_on_computed(p, o.job_id, i, 32, false, no_hash, now, &out),
                             0);
                sched_pull pl = pull_for(&o, i, i == 0 ? UINT64_MAX : 320ull * i);
                sched_actions_clear(&out);
                cr_assert_eq(sched_prov_on_pull(p, &pl, now, &out), 0);
                cr_assert_eq(t_count(&out, SCHED_ACT_CHUNK), 1);
                t_prov_ok(p);
                now += 100;
            }
            /* chunk k is computed ahead (at most one); chunk 3 is the 4-token tail */
            cr_assert_eq(
                sched_prov_on_computed(p, o.job_id, k, k == 3 ? 4 : 32, false, no_hash, now, &out),
                0);
            sched_actions_clear(&out);
            if (silent) {
                uint64_t dl = sched_prov_next_deadline(p);
                cr_assert_eq(dl, now - 100 + 30000);
                cr_assert_eq(sched_prov_tick(p, dl, &out), 0);
            } else {
                /* pull k paying only for k-1 chunks */
                sched_pull pl = pull_for(&o, k, k == 1 ? UINT64_MAX : 320ull * (k - 1));
                cr_assert_eq(sched_prov_on_pull(p, &pl, now, &out), 0);
            }
            cr_assert_eq(out.n, 1);
            cr_assert_eq(out.a[0].kind, SCHED_ACT_RELEASE);
            cr_assert_eq(out.a[0].u.end.reason, SCHED_END_UNPAID);
            cr_assert_eq(out.a[0].u.end.tokens, 32 * k, "chunk k never sent");
            uint64_t unpaid = 320ull * k - out.a[0].u.end.paid_micro;
            cr_assert_leq(unpaid, 320, "at most one chunk at risk");
            cr_assert_eq(sched_prov_used(p), 0);
            sched_prov_free(p);
        }
    }
}

Test(prov, duplicate_stale_and_future_pulls)
{
    sched_prov *p = prov_make(1, 10, 0);
    sched_offer o = running(p, 1, 0);
    sched_pull pl = pull_for(&o, 1, UINT64_MAX);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_pull(p, &pl, 1, &out), SCHED_IGNORED, "future chunk");
    cr_assert_eq(sched_prov_on_computed(p, o.job_id, 0, 32, false, no_hash, 1, &out), 0);
    pl = pull_for(&o, 0, UINT64_MAX);
    cr_assert_eq(sched_prov_on_pull(p, &pl, 2, &out), 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_pull(p, &pl, 3, &out), 0, "repeat resends");
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.a[0].kind, SCHED_ACT_CHUNK);
    cr_assert_eq(out.a[0].u.chunk.index, 0);
    sched_prov_job j;
    cr_assert_eq(sched_prov_get_job(p, o.job_id, &j), 0);
    cr_assert_eq(j.delivered_chunks, 1, "a resend is not a second delivery");
    cr_assert_eq(sched_prov_on_computed(p, o.job_id, 1, 32, false, no_hash, 4, &out), 0);
    pl = pull_for(&o, 1, 320);
    cr_assert_eq(sched_prov_on_pull(p, &pl, 5, &out), 0);
    pl = pull_for(&o, 0, UINT64_MAX);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_pull(p, &pl, 6, &out), SCHED_IGNORED, "stale chunk");
    pl = pull_for(&o, 2, 640);
    cr_assert_eq(sched_prov_on_pull(p, &pl, 6, &out), 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_pull(p, &pl, 6, &out), SCHED_IGNORED, "already pulled, computing");
    /* a payment for someone else on a pull is a protocol error */
    pl = pull_for(&o, 2, 640);
    pl.payment.payee[0] ^= 1;
    cr_assert_eq(sched_prov_on_pull(p, &pl, 7, &out), ARIA_EPROTO);
    /* pull from a stranger */
    pl = pull_for(&o, 2, 640);
    pl.requester[0] ^= 1;
    cr_assert_eq(sched_prov_on_pull(p, &pl, 7, &out), SCHED_IGNORED);
    t_prov_ok(p);
    sched_prov_free(p);
}

Test(prov, duplicate_award_repeats_the_acceptance_only)
{
    sched_prov *p = prov_make(2, 10, 0);
    sched_offer o = running(p, 1, 0);
    sched_award w = award_for(&o, 10, 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_award(p, &w, 1, &out), 0);
    cr_assert_eq(out.n, 1);
    cr_assert(out.a[0].u.reply.accepted);
    w.start_chunk = 1;
    w.start_token = 32;
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_award(p, &w, 1, &out), SCHED_IGNORED);
    cr_assert_eq(sched_prov_used(p), 1);
    sched_prov_free(p);
}

Test(prov, resumed_award_starts_at_the_given_chunk)
{
    sched_prov *p = prov_make(2, 10, 0);
    sched_offer o = t_offer(1);
    sched_award w = award_for(&o, 10, 2);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_award(p, &w, 0, &out), 0);
    const sched_action *c = t_find(&out, SCHED_ACT_COMPUTE, 0);
    cr_assert_eq(c->u.compute.chunk, 2);
    cr_assert_eq(c->u.compute.start_token, 64);
    cr_assert(c->u.compute.first);
    cr_assert_eq(sched_prov_on_computed(p, o.job_id, 2, 32, false, no_hash, 1, &out), 0);
    sched_pull pl = pull_for(&o, 2, UINT64_MAX);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_pull(p, &pl, 2, &out), 0, "first pull of a re-award: no payment");
    cr_assert_eq(t_find(&out, SCHED_ACT_CHUNK, 0)->u.chunk.index, 2);
    t_prov_ok(p);
    sched_prov_free(p);
}

Test(prov, cancel_releases_and_later_messages_are_ignored)
{
    sched_prov *p = prov_make(1, 10, 0);
    sched_offer o = running(p, 1, 0);
    sched_cancel c;
    memcpy(c.job_id, o.job_id, 32);
    memcpy(c.requester, o.requester, 32);
    t_id(c.provider, 'P', 1);
    sched_cancel bad = c;
    bad.requester[0] ^= 1;
    cr_assert_eq(sched_prov_on_cancel(p, &bad, 1, &out), SCHED_IGNORED);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_cancel(p, &c, 1, &out), 0);
    cr_assert_eq(out.a[0].u.end.reason, SCHED_END_CANCELED);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_computed(p, o.job_id, 0, 32, false, no_hash, 2, &out),
                 SCHED_IGNORED);
    sched_pull pl = pull_for(&o, 0, UINT64_MAX);
    cr_assert_eq(sched_prov_on_pull(p, &pl, 2, &out), SCHED_IGNORED);
    cr_assert_eq(sched_prov_on_cancel(p, &c, 3, &out), SCHED_IGNORED);
    cr_assert_eq(out.n, 0);
    sched_prov_free(p);
}

Test(prov, every_timer_expires)
{
    /* pull timeout before the first pull */
    sched_prov *p = prov_make(3, 10, 0);
    sched_offer o1 = running(p, 1, 0);
    /* settle timeout: job 2 finishes, final payment never comes */
    sched_offer o2 = t_offer(2);
    o2.max_new_tokens = 10;
    cr_assert_eq(sched_prov_on_offer(p, &o2, 0, &out), 0);
    sched_award w = award_for(&o2, 10, 0);
    cr_assert_eq(sched_prov_on_award(p, &w, 0, &out), 0);
    cr_assert_eq(sched_prov_on_computed(p, o2.job_id, 0, 10, false, no_hash, 0, &out), 0);
    sched_pull pl = pull_for(&o2, 0, UINT64_MAX);
    cr_assert_eq(sched_prov_on_pull(p, &pl, 1000, &out), 0);
    /* reservation lapse: job 3 */
    sched_offer o3 = t_offer(3);
    cr_assert_eq(sched_prov_on_offer(p, &o3, 1000, &out), 0);
    cr_assert_eq(sched_prov_next_deadline(p), 3500);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_tick(p, 3499, &out), 0);
    cr_assert_eq(out.n, 0);
    cr_assert_eq(sched_prov_tick(p, 3500, &out), 0);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.a[0].u.end.reason, SCHED_END_BID_LAPSED);
    cr_assert_eq(sched_prov_next_deadline(p), 30000);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_tick(p, 30000, &out), 0);
    cr_assert_eq(out.a[0].u.end.reason, SCHED_END_UNPAID);
    cr_assert_arr_eq(out.a[0].u.end.job_id, o1.job_id, 32);
    cr_assert_eq(sched_prov_next_deadline(p), 31000);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_tick(p, 31000, &out), 0);
    cr_assert_eq(out.a[0].u.end.reason, SCHED_END_UNSETTLED);
    cr_assert_eq(out.a[0].u.end.tokens, 10);
    cr_assert_eq(sched_prov_used(p), 0);
    sched_prov_free(p);
}

Test(prov, tick_fires_at_most_what_fits_and_the_rest_next_call)
{
    sched_prov *p = prov_make(40, 1, 0);
    for (uint32_t i = 0; i < 40; i++) {
        sched_offer o = t_offer(i);
        sched_actions_clear(&out);
        cr_assert_eq(sched_prov_on_offer(p, &o, 0, &out), 0);
    }
    uint32_t released = 0;
    int rounds = 0;
    while (sched_prov_next_deadline(p) <= 2500) {
        sched_actions_clear(&out);
        cr_assert_eq(sched_prov_tick(p, 2500, &out), 0);
        released += (uint32_t)out.n;
        rounds++;
    }
    cr_assert_eq(released, 40);
    cr_assert_eq(rounds, 3);
    sched_prov_free(p);
}

Test(prov, overbooking_bids_beyond_capacity_but_runs_at_most_capacity)
{
    sched_prov_config c;
    sched_prov_config_default(&c);
    t_id(c.node_id, 'P', 1);
    c.capacity = 1;
    c.overbook_pct = 300;
    c.base_price_micro = 10;
    c.load_factor_pct = 0;
    c.n_models = 1;
    t_id(c.models[0], 'M', 0);
    sched_prov *p = NULL;
    c.overbook_pct = 99;
    cr_assert_eq(sched_prov_new(&c, &p), ARIA_EINVAL);
    c.overbook_pct = 300;
    cr_assert_eq(sched_prov_new(&c, &p), 0);
    sched_offer o[4];
    for (uint32_t i = 0; i < 4; i++) {
        o[i] = t_offer(i);
        sched_actions_clear(&out);
        cr_assert_eq(sched_prov_on_offer(p, &o[i], 0, &out), i < 3 ? 0 : SCHED_NOBID_CAPACITY);
    }
    cr_assert_eq(sched_prov_used(p), 3);
    sched_award w0 = award_for(&o[0], 10, 0), w1 = award_for(&o[1], 10, 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_award(p, &w0, 1, &out), 0);
    cr_assert(t_find(&out, SCHED_ACT_AWARD_REPLY, 0)->u.reply.accepted);
    cr_assert_eq(sched_prov_running(p), 1);
    /* the second award finds the one real slot busy: refused, reservation dropped */
    sched_actions_clear(&out);
    cr_assert_eq(sched_prov_on_award(p, &w1, 2, &out), 0);
    const sched_action *r = t_find(&out, SCHED_ACT_AWARD_REPLY, 0);
    cr_assert_not(r->u.reply.accepted);
    cr_assert_eq(r->u.reply.reason, SCHED_REFUSE_CAPACITY);
    cr_assert_eq(t_find(&out, SCHED_ACT_RELEASE, 0)->u.end.reason, SCHED_END_BID_LAPSED);
    cr_assert_eq(sched_prov_used(p), 2);
    /* while running at capacity no new bid */
    sched_offer o5 = t_offer(5);
    cr_assert_eq(sched_prov_on_offer(p, &o5, 3, &out), SCHED_NOBID_CAPACITY);
    t_prov_ok(p);
    sched_prov_free(p);
}
