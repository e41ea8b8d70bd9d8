/*
 * The requester machine alone, driven by hand: every path of issue 8 on
 * the requester side (no bids, bids above the max, refusals, silent
 * providers, resume, exact payment of a dead provider, duplicates, late
 * and out-of-order messages, cancel, expiry of every timer).
 */
#include "sched_test.h"

static sched_actions out;

/* Collect bids from providers 1..n (price 10*i), award to provider 1. */
static sched_req *
awarded(const sched_offer *o, int n, uint64_t *now)
{
    sched_req *r = t_req_started(o, NULL, 0);
    for (int i = 1; i <= n; i++) {
        sched_bid b = t_bid(o, (uint32_t)i, 10u * (uint32_t)i, 100, 0);
        cr_assert_eq(sched_req_on_bid(r, &b, 0, 100, &out), 0);
    }
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_next_deadline(r), 500);
    cr_assert_eq(sched_req_tick(r, 500, &out), 0);
    const sched_action *aw = t_find(&out, SCHED_ACT_AWARD, 0);
    cr_assert_not_null(aw);
    cr_assert_eq(aw->u.award.provider[1], 1);
    cr_assert_eq(aw->u.award.start_chunk, 0);
    *now = 500;
    return r;
}

/* Accept from provider p and check the first pull (no payment). */
static void
accept(sched_req *r, const sched_offer *o, uint32_t p, uint32_t chunk, uint64_t now)
{
    sched_award_reply ok = t_reply(o, p, true);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_on_award_reply(r, &ok, now, &out), 0);
    const sched_action *pl = t_find(&out, SCHED_ACT_PULL, 0);
    cr_assert_not_null(pl);
    cr_assert_eq(pl->u.pull.chunk, chunk);
    cr_assert_not(pl->u.pull.has_payment, "the first pull of an award carries no payment");
    t_req_ok(r);
}

Test(req, no_bids_gives_up_without_spending)
{
    sched_offer o = t_offer(1);
    sched_req *r = t_req_started(&o, NULL, 1000);
    cr_assert_eq(sched_req_next_deadline(r), 1500);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_tick(r, 1499, &out), 0);
    cr_assert_eq(out.n, 0, "nothing before the window ends");
    cr_assert_eq(sched_req_tick(r, 1500, &out), 0);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.a[0].kind, SCHED_ACT_END);
    cr_assert_eq(out.a[0].u.end.reason, SCHED_END_NO_BIDS);
    cr_assert_eq(out.a[0].u.end.paid_micro, 0);
    cr_assert_eq(sched_req_get_state(r), SCHED_REQ_FAILED);
    cr_assert_eq(sched_req_next_deadline(r), SCHED_NO_DEADLINE);
    t_req_ok(r);
    sched_req_free(r);
}

Test(req, all_bids_above_max_give_up_without_spending)
{
    sched_offer o = t_offer(2);
    sched_req *r = t_req_started(&o, NULL, 0);
    for (uint32_t i = 1; i <= 5; i++) {
        sched_bid b = t_bid(&o, i, T_PRICE_MAX + i, 100, 0);
        cr_assert_eq(sched_req_on_bid(r, &b, 0, 10, &out), SCHED_IGNORED);
    }
    sched_bid at_max = t_bid(&o, 9, T_PRICE_MAX, 100, 0);
    sched_req *r2 = t_req_started(&o, NULL, 0);
    cr_assert_eq(sched_req_on_bid(r2, &at_max, 0, 10, &out), 0, "a bid at the max is eligible");
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_tick(r, 500, &out), 0);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.a[0].u.end.reason, SCHED_END_NO_BIDS);
    sched_req_info info;
    sched_req_get_info(r, &info);
    cr_assert_eq(info.paid_micro, 0);
    cr_assert_eq(info.bids, 0);
    sched_req_free(r);
    sched_req_free(r2);
}

Test(req, rejects_bad_offers_and_double_start)
{
    sched_offer o = t_offer(3);
    sched_req *r = NULL;
    o.max_new_tokens = 0;
    cr_assert_eq(sched_req_new(&o, NULL, &r), ARIA_EINVAL);
    cr_assert(strstr(aria_err_msg(), "max_new_tokens") != NULL);
    o = t_offer(3);
    o.max_price_micro = UINT64_MAX / 2;
    cr_assert_eq(sched_req_new(&o, NULL, &r), ARIA_EINVAL);
    o = t_offer(3);
    sched_req_config c;
    sched_req_config_default(&c);
    c.max_awards = SCHED_REQ_MAX_AWARDS + 1;
    cr_assert_eq(sched_req_new(&o, &c, &r), ARIA_EINVAL);
    cr_assert_null(r);
    o.expires_ms = 10;
    cr_assert_eq(sched_req_new(&o, NULL, &r), 0);
    cr_assert_eq(sched_req_start(r, 10, &out), ARIA_EINVAL, "expired offer");
    sched_req_free(r);
    cr_assert_eq(sched_req_new(&o, NULL, &r), 0);
    cr_assert_eq(sched_req_start(r, 5, &out), 0);
    cr_assert_eq(sched_req_start(r, 5, &out), ARIA_ESTATE);
    sched_req_free(r);
    sched_req_free(NULL);
}

Test(req, duplicate_late_foreign_and_expired_bids_are_ignored)
{
    sched_offer o = t_offer(4);
    sched_req *r = t_req_started(&o, NULL, 0);
    sched_bid b = t_bid(&o, 1, 50, 100, 0);
    cr_assert_eq(sched_req_on_bid(r, &b, 0, 10, &out), 0);
    sched_bid dup = b;
    dup.price_micro = 1; /* a second, cheaper bid from the same provider */
    cr_assert_eq(sched_req_on_bid(r, &dup, 0, 11, &out), SCHED_IGNORED);
    sched_bid other = t_bid(&o, 2, 40, 100, 0);
    other.job_id[5] ^= 1;
    cr_assert_eq(sched_req_on_bid(r, &other, 0, 12, &out), SCHED_IGNORED, "another job");
    sched_bid stale = t_bid(&o, 3, 40, 100, 0);
    stale.expires_ms = 12;
    cr_assert_eq(sched_req_on_bid(r, &stale, 0, 13, &out), SCHED_IGNORED, "expired bid");
    sched_bid zero = t_bid(&o, 4, 40, 0, 0);
    cr_assert_eq(sched_req_on_bid(r, &zero, 0, 13, &out), ARIA_EPROTO);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_tick(r, 500, &out), 0);
    const sched_action *aw = t_find(&out, SCHED_ACT_AWARD, 0);
    cr_assert_eq(aw->u.award.provider[1], 1);
    cr_assert_eq(aw->u.award.price_micro, 50, "the first bid of a provider counts");
    /* a bid after the window is kept as a backup, not awarded now */
    sched_bid late = t_bid(&o, 5, 5, 100, 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_on_bid(r, &late, 0, 600, &out), 0);
    cr_assert_eq(out.n, 0);
    sched_award_reply no = t_reply(&o, 1, false);
    cr_assert_eq(sched_req_on_award_reply(r, &no, 700, &out), 0);
    aw = t_find(&out, SCHED_ACT_AWARD, 0);
    cr_assert_eq(aw->u.award.provider[1], 5, "the late backup is next");
    sched_req_free(r);
}

Test(req, full_bid_table_keeps_the_best_bids)
{
    sched_offer o = t_offer(5);
    sched_req *r = t_req_started(&o, NULL, 0);
    for (uint32_t i = 0; i < SCHED_REQ_MAX_BIDS; i++) {
        sched_bid b = t_bid(&o, 100 + i, 90, 100, 0);
        cr_assert_eq(sched_req_on_bid(r, &b, 0, 1, &out), 0);
    }
    sched_bid worse = t_bid(&o, 1, 95, 100, 0), better = t_bid(&o, 2, 20, 100, 0);
    cr_assert_eq(sched_req_on_bid(r, &worse, 0, 1, &out), SCHED_IGNORED);
    cr_assert_eq(sched_req_on_bid(r, &better, 0, 1, &out), 0);
    sched_req_info info;
    sched_req_get_info(r, &info);
    cr_assert_eq(info.bids, SCHED_REQ_MAX_BIDS);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_tick(r, 500, &out), 0);
    cr_assert_eq(t_find(&out, SCHED_ACT_AWARD, 0)->u.award.provider[1], 2);
    sched_req_free(r);
}

Test(req, streams_paying_each_pull_and_settles_with_receipt)
{
    sched_offer o = t_offer(6); /* 100 tokens: chunks 32, 32, 32, 4 */
    uint64_t now;
    sched_req *r = awarded(&o, 2, &now);
    accept(r, &o, 1, 0, now);
    const uint32_t sizes[4] = {32, 32, 32, 4};
    for (uint32_t i = 0; i < 4; i++) {
        sched_chunk c = t_chunk(&o, 1, i, sizes[i], i == 3);
        c.output_hash[0] = 0xab;
        sched_actions_clear(&out);
        cr_assert_eq(sched_req_on_chunk(r, &c, now + 100 * i, &out), 0);
        t_req_ok(r);
        const sched_action *op = t_find(&out, SCHED_ACT_OUTPUT, 0);
        cr_assert_eq(op->u.chunk.index, i);
        if (i < 3) {
            const sched_action *pl = t_find(&out, SCHED_ACT_PULL, 0);
            cr_assert_eq(pl->u.pull.chunk, i + 1);
            cr_assert(pl->u.pull.has_payment);
            cr_assert_eq(pl->u.pull.payment.amount_micro, 32 * 10, "pays exactly chunk %u", i);
            cr_assert_eq(pl->u.pull.payment.upto_chunk, i + 1);
            cr_assert_eq(pl->u.pull.payment.total_micro, 32 * 10 * (i + 1));
            cr_assert_eq(sched_req_next_deadline(r), now + 100 * i + 20000);
        }
    }
    const sched_action *s = t_find(&out, SCHED_ACT_SETTLE, 0);
    cr_assert_not_null(s);
    cr_assert_eq(s->u.settle.pay.amount_micro, 4 * 10);
    cr_assert_eq(s->u.settle.pay.total_micro, 100 * 10);
    cr_assert_eq(s->u.settle.receipt.tokens_out, 100);
    cr_assert_eq(s->u.settle.receipt.tokens_in, 10);
    cr_assert_eq(s->u.settle.receipt.total_micro, 1000);
    cr_assert_eq(s->u.settle.receipt.output_hash[0], 0xab);
    const sched_action *e = t_find(&out, SCHED_ACT_END, 0);
    cr_assert_eq(e->u.end.reason, SCHED_END_DONE);
    cr_assert_eq(e->u.end.tokens, 100);
    cr_assert_eq(e->u.end.paid_micro, 1000);
    cr_assert_eq(sched_req_get_state(r), SCHED_REQ_DONE);
    t_req_ok(r);
    sched_req_free(r);
}

Test(req, early_end_of_output_settles_for_what_was_produced)
{
    sched_offer o = t_offer(7);
    uint64_t now;
    sched_req *r = awarded(&o, 1, &now);
    accept(r, &o, 1, 0, now);
    sched_chunk c = t_chunk(&o, 1, 0, 32, false);
    cr_assert_eq(sched_req_on_chunk(r, &c, now, &out), 0);
    c = t_chunk(&o, 1, 1, 0, true); /* EOS exactly at a chunk boundary */
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_on_chunk(r, &c, now, &out), 0);
    const sched_action *s = t_find(&out, SCHED_ACT_SETTLE, 0);
    cr_assert_eq(s->u.settle.pay.amount_micro, 0);
    cr_assert_eq(s->u.settle.receipt.total_micro, 320);
    cr_assert_eq(sched_req_get_state(r), SCHED_REQ_DONE);
    t_req_ok(r);
    sched_req_free(r);
}

/* The winner dies after k chunks, for k = 0..3: the next bidder resumes at
 * chunk k / token 32k, the dead one is paid exactly for its k chunks. */
Test(req, winner_dies_after_k_chunks_next_resumes_and_dead_is_paid_exactly)
{
    for (uint32_t k = 0; k <= 3; k++) {
        sched_offer o = t_offer(10 + k);
        uint64_t now;
        sched_req *r = awarded(&o, 3, &now);
        accept(r, &o, 1, 0, now);
        for (uint32_t i = 0; i < k; i++) {
            sched_chunk c = t_chunk(&o, 1, i, 32, false);
            sched_actions_clear(&out);
            cr_assert_eq(sched_req_on_chunk(r, &c, now, &out), 0);
            t_req_ok(r);
        }
        /* provider 1 goes silent: first-chunk or chunk timeout */
        uint64_t dl = sched_req_next_deadline(r);
        cr_assert_eq(dl, now + (k == 0 ? 60000 : 20000));
        sched_actions_clear(&out);
        cr_assert_eq(sched_req_tick(r, dl - 1, &out), 0);
        cr_assert_eq(out.n, 0);
        cr_assert_eq(sched_req_tick(r, dl, &out), 0);
        t_req_ok(r);
        /* every delivered chunk was paid on the pull after it: nothing owed */
        sched_req_info info;
        sched_req_get_info(r, &info);
        cr_assert_eq(info.paid_micro, 32 * 10 * k);
        const sched_action *cn = t_find(&out, SCHED_ACT_CANCEL, 0);
        cr_assert_eq(cn->u.cancel.provider[1], 1);
        const sched_action *aw = t_find(&out, SCHED_ACT_AWARD, 0);
        cr_assert_eq(aw->u.award.provider[1], 2);
        cr_assert_eq(aw->u.award.start_chunk, k);
        cr_assert_eq(aw->u.award.start_token, 32 * k);
        cr_assert_eq(aw->u.award.price_micro, 20);
        cr_assert_eq(aw->u.award.attempt, 1);
        accept(r, &o, 2, k, dl);
        /* a late chunk from the dead provider is ignored and not paid */
        sched_chunk ghost = t_chunk(&o, 1, k, 32, false);
        sched_actions_clear(&out);
        cr_assert_eq(sched_req_on_chunk(r, &ghost, dl, &out), SCHED_IGNORED);
        cr_assert_eq(out.n, 0);
        for (uint32_t i = k; i < 4; i++) {
            sched_chunk c = t_chunk(&o, 2, i, i == 3 ? 4 : 32, i == 3);
            sched_actions_clear(&out);
            cr_assert_eq(sched_req_on_chunk(r, &c, dl + 1, &out), 0);
            t_req_ok(r);
        }
        cr_assert_eq(sched_req_get_state(r), SCHED_REQ_DONE);
        sched_req_attempt a0, a1;
        cr_assert_eq(sched_req_get_attempt(r, 0, &a0), 0);
        cr_assert_eq(sched_req_get_attempt(r, 1, &a1), 0);
        cr_assert_eq(sched_req_get_attempt(r, 2, &a1), ARIA_ERANGE);
        cr_assert_eq(sched_req_get_attempt(r, 1, &a1), 0);
        cr_assert_eq(a0.tokens, 32 * k);
        cr_assert_eq(a0.paid_micro, 32 * 10 * k, "dead provider: paid exactly what it delivered");
        cr_assert_eq(a1.tokens, 100 - 32 * k);
        cr_assert_eq(a1.paid_micro, 20 * (100 - 32 * k));
        const sched_action *s = t_find(&out, SCHED_ACT_SETTLE, 0);
        cr_assert_eq(s->u.settle.receipt.tokens_in, 10 + 32 * k);
        cr_assert_eq(s->u.settle.receipt.tokens_out, 100 - 32 * k);
        sched_req_free(r);
    }
}

Test(req, award_timeout_and_refusal_move_to_the_next_bidder_then_reoffer_then_fail)
{
    sched_offer o = t_offer(20);
    sched_req_config c;
    sched_req_config_default(&c);
    c.max_auctions = 2;
    sched_req *r = t_req_started(&o, &c, 0);
    for (uint32_t i = 1; i <= 2; i++) {
        sched_bid b = t_bid(&o, i, 10 * i, 100, 0);
        cr_assert_eq(sched_req_on_bid(r, &b, 0, 1, &out), 0);
    }
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_tick(r, 500, &out), 0);
    uint64_t now = 500;
    cr_assert_eq(sched_req_next_deadline(r), now + 5000);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_tick(r, now + 5000, &out), 0);
    cr_assert_eq(t_find(&out, SCHED_ACT_CANCEL, 0)->u.cancel.provider[1], 1);
    cr_assert_eq(t_find(&out, SCHED_ACT_AWARD, 0)->u.award.provider[1], 2);
    /* the first provider's late acceptance is ignored */
    sched_award_reply late = t_reply(&o, 1, true);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_on_award_reply(r, &late, now + 5001, &out), SCHED_IGNORED);
    cr_assert_eq(out.n, 0);
    /* refused by the second: no bidder left, so the job is offered again */
    sched_award_reply no = t_reply(&o, 2, false);
    cr_assert_eq(sched_req_on_award_reply(r, &no, now + 5002, &out), 0);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.a[0].kind, SCHED_ACT_OFFER);
    cr_assert_eq(sched_req_get_state(r), SCHED_REQ_COLLECTING);
    cr_assert_eq(sched_req_next_deadline(r), now + 5002 + 500);
    /* providers already tried cannot bid again; nobody new bids */
    sched_bid again = t_bid(&o, 2, 5, 100, 0);
    cr_assert_eq(sched_req_on_bid(r, &again, 0, now + 5003, &out), SCHED_IGNORED);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_tick(r, now + 5502, &out), 0);
    const sched_action *e = t_find(&out, SCHED_ACT_END, 0);
    cr_assert_not_null(e);
    cr_assert_eq(e->u.end.reason, SCHED_END_NO_PROVIDER);
    cr_assert_eq(e->u.end.paid_micro, 0);
    cr_assert_eq(sched_req_get_state(r), SCHED_REQ_FAILED);
    sched_req_info info;
    sched_req_get_info(r, &info);
    cr_assert_eq(info.auctions, 2);
    t_req_ok(r);
    sched_req_free(r);
}

Test(req, reoffer_after_a_death_resumes_with_a_new_bidder)
{
    sched_offer o = t_offer(25);
    uint64_t now;
    sched_req *r = awarded(&o, 1, &now);
    accept(r, &o, 1, 0, now);
    sched_chunk c0 = t_chunk(&o, 1, 0, 32, false);
    cr_assert_eq(sched_req_on_chunk(r, &c0, now, &out), 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_tick(r, now + 20000, &out), 0); /* provider 1 silent */
    cr_assert_eq(t_count(&out, SCHED_ACT_CANCEL), 1);
    cr_assert_eq(t_count(&out, SCHED_ACT_OFFER), 1, "no bidder left: offer again");
    now += 20000;
    sched_bid b = t_bid(&o, 7, 30, 100, 0);
    cr_assert_eq(sched_req_on_bid(r, &b, 0, now + 10, &out), 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_tick(r, now + 500, &out), 0);
    const sched_action *aw = t_find(&out, SCHED_ACT_AWARD, 0);
    cr_assert_eq(aw->u.award.provider[1], 7);
    cr_assert_eq(aw->u.award.start_chunk, 1);
    cr_assert_eq(aw->u.award.attempt, 1);
    t_req_ok(r);
    sched_req_free(r);
}

Test(req, max_awards_limits_providers_tried)
{
    sched_offer o = t_offer(21);
    sched_req_config c;
    sched_req_config_default(&c);
    c.max_awards = 2;
    sched_req *r = t_req_started(&o, &c, 0);
    for (uint32_t i = 1; i <= 5; i++) {
        sched_bid b = t_bid(&o, i, 10 * i, 100, 0);
        cr_assert_eq(sched_req_on_bid(r, &b, 0, 1, &out), 0);
    }
    cr_assert_eq(sched_req_tick(r, 500, &out), 0);
    sched_award_reply no1 = t_reply(&o, 1, false), no2 = t_reply(&o, 2, false);
    cr_assert_eq(sched_req_on_award_reply(r, &no1, 501, &out), 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_on_award_reply(r, &no2, 502, &out), 0);
    cr_assert_eq(t_find(&out, SCHED_ACT_END, 0)->u.end.reason, SCHED_END_NO_PROVIDER);
    sched_req_free(r);
}

Test(req, duplicate_out_of_order_and_foreign_chunks_are_ignored)
{
    sched_offer o = t_offer(22);
    uint64_t now;
    sched_req *r = awarded(&o, 2, &now);
    sched_chunk early = t_chunk(&o, 1, 0, 32, false);
    cr_assert_eq(sched_req_on_chunk(r, &early, now, &out), SCHED_IGNORED, "before acceptance");
    accept(r, &o, 1, 0, now);
    sched_chunk c1 = t_chunk(&o, 1, 1, 32, false);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_on_chunk(r, &c1, now, &out), SCHED_IGNORED, "out of order");
    sched_chunk c0 = t_chunk(&o, 1, 0, 32, false);
    cr_assert_eq(sched_req_on_chunk(r, &c0, now, &out), 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_on_chunk(r, &c0, now, &out), SCHED_IGNORED, "duplicate");
    sched_chunk other = t_chunk(&o, 2, 1, 32, false);
    cr_assert_eq(sched_req_on_chunk(r, &other, now, &out), SCHED_IGNORED, "not the awardee");
    cr_assert_eq(out.n, 0);
    sched_award_reply dup = t_reply(&o, 1, true);
    cr_assert_eq(sched_req_on_award_reply(r, &dup, now, &out), SCHED_IGNORED);
    sched_req_info info;
    sched_req_get_info(r, &info);
    cr_assert_eq(info.tokens, 32);
    cr_assert_eq(info.paid_micro, 320);
    t_req_ok(r);
    sched_req_free(r);
}

Test(req, malformed_chunk_abandons_provider_without_paying_for_it)
{
    sched_offer o = t_offer(23);
    uint64_t now;
    sched_req *r = awarded(&o, 2, &now);
    accept(r, &o, 1, 0, now);
    sched_chunk c0 = t_chunk(&o, 1, 0, 32, false);
    cr_assert_eq(sched_req_on_chunk(r, &c0, now, &out), 0);
    sched_chunk bad = t_chunk(&o, 1, 1, 7, false); /* short without `last` */
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_on_chunk(r, &bad, now, &out), ARIA_EPROTO);
    cr_assert(strstr(aria_err_msg(), "chunk 1") != NULL, "%s", aria_err_msg());
    cr_assert_eq(t_count(&out, SCHED_ACT_OUTPUT), 0);
    cr_assert_eq(t_count(&out, SCHED_ACT_PULL), 0);
    cr_assert_eq(t_count(&out, SCHED_ACT_CANCEL), 1);
    sched_req_info info;
    sched_req_get_info(r, &info);
    cr_assert_eq(info.paid_micro, 320, "chunk 0 only (paid on pull 1), nothing for the bad one");
    cr_assert_eq(t_find(&out, SCHED_ACT_AWARD, 0)->u.award.start_chunk, 1);
    t_req_ok(r);
    sched_req_free(r);
    /* too many tokens */
    r = awarded(&o, 1, &now);
    accept(r, &o, 1, 0, now);
    sched_chunk big = t_chunk(&o, 1, 0, 33, false);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_on_chunk(r, &big, now, &out), ARIA_EPROTO);
    cr_assert_eq(t_count(&out, SCHED_ACT_OFFER), 1, "no bidder left: offer again");
    sched_req_info info2;
    sched_req_get_info(r, &info2);
    cr_assert_eq(info2.paid_micro, 0);
    sched_req_free(r);
}

Test(req, cancel_in_every_state)
{
    sched_offer o = t_offer(24);
    /* new */
    sched_req *r = NULL;
    cr_assert_eq(sched_req_new(&o, NULL, &r), 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_cancel(r, 0, &out), 0);
    cr_assert_eq(sched_req_get_state(r), SCHED_REQ_CANCELED);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.a[0].kind, SCHED_ACT_END);
    cr_assert_eq(out.a[0].u.end.reason, SCHED_END_CANCELED);
    cr_assert_eq(sched_req_start(r, 1, &out), ARIA_ESTATE);
    sched_req_free(r);
    /* collecting */
    r = t_req_started(&o, NULL, 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_cancel(r, 1, &out), 0);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.a[0].u.end.reason, SCHED_END_CANCELED);
    cr_assert_eq(sched_req_cancel(r, 2, &out), SCHED_IGNORED);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_tick(r, 10000, &out), 0);
    cr_assert_eq(out.n, 0, "no timer after cancel");
    sched_req_free(r);
    /* awarding */
    uint64_t now;
    r = awarded(&o, 1, &now);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_cancel(r, now, &out), 0);
    cr_assert_eq(t_count(&out, SCHED_ACT_CANCEL), 1);
    cr_assert_eq(t_count(&out, SCHED_ACT_PULL), 0);
    sched_req_free(r);
    /* streaming with two chunks delivered (both paid on the pulls after them) */
    r = awarded(&o, 1, &now);
    accept(r, &o, 1, 0, now);
    sched_chunk c0 = t_chunk(&o, 1, 0, 32, false);
    cr_assert_eq(sched_req_on_chunk(r, &c0, now, &out), 0);
    sched_chunk c1 = t_chunk(&o, 1, 1, 32, false);
    cr_assert_eq(sched_req_on_chunk(r, &c1, now, &out), 0);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_cancel(r, now, &out), 0);
    cr_assert_eq(t_count(&out, SCHED_ACT_PULL), 0);
    cr_assert_eq(t_count(&out, SCHED_ACT_CANCEL), 1);
    cr_assert_eq(t_find(&out, SCHED_ACT_END, 0)->u.end.paid_micro, 640);
    t_req_ok(r);
    sched_actions_clear(&out);
    sched_chunk c2 = t_chunk(&o, 1, 2, 32, false);
    cr_assert_eq(sched_req_on_chunk(r, &c2, now, &out), SCHED_IGNORED, "late chunk");
    sched_req_free(r);
}

Test(req, job_expiry_fires_in_every_active_state)
{
    for (int st = 0; st < 3; st++) {
        sched_offer o = t_offer(30 + (uint32_t)st);
        o.expires_ms = st == 0 ? 300 : 2000; /* before the window ends in case 0 */
        sched_req *r = t_req_started(&o, NULL, 0);
        sched_bid b = t_bid(&o, 1, 10, 100, 0);
        cr_assert_eq(sched_req_on_bid(r, &b, 0, 1, &out), 0);
        if (st >= 1)
            cr_assert_eq(sched_req_tick(r, 500, &out), 0);
        if (st == 2) {
            accept(r, &o, 1, 0, 600);
            sched_chunk c0 = t_chunk(&o, 1, 0, 32, false);
            cr_assert_eq(sched_req_on_chunk(r, &c0, 700, &out), 0);
        }
        cr_assert_eq(sched_req_next_deadline(r), o.expires_ms);
        sched_actions_clear(&out);
        cr_assert_eq(sched_req_tick(r, o.expires_ms, &out), 0);
        const sched_action *e = t_find(&out, SCHED_ACT_END, 0);
        cr_assert_not_null(e);
        cr_assert_eq(e->u.end.reason, SCHED_END_EXPIRED);
        cr_assert_eq(t_count(&out, SCHED_ACT_CANCEL), st >= 1 ? 1 : 0);
        cr_assert_eq(e->u.end.paid_micro, st == 2 ? 320u : 0u);
        t_req_ok(r);
        sched_req_free(r);
    }
}

Test(req, time_going_backwards_is_clamped)
{
    sched_offer o = t_offer(40);
    sched_req *r = t_req_started(&o, NULL, 1000);
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_tick(r, 1600, &out), 0); /* window over: no bids */
    cr_assert_eq(sched_req_get_state(r), SCHED_REQ_FAILED);
    sched_req_free(r);
    r = t_req_started(&o, NULL, 1000);
    sched_bid b = t_bid(&o, 1, 10, 100, 0);
    cr_assert_eq(sched_req_on_bid(r, &b, 0, 5, &out), 0, "an older now is treated as 1000");
    sched_req_free(r);
}

Test(req, expired_bids_are_not_awarded_the_job_is_offered_again)
{
    sched_offer o = t_offer(26);
    sched_req *r = t_req_started(&o, NULL, 0);
    sched_bid b1 = t_bid(&o, 1, 10, 100, 0), b2 = t_bid(&o, 2, 20, 100, 0);
    b1.expires_ms = 3000;
    b2.expires_ms = 3000;
    cr_assert_eq(sched_req_on_bid(r, &b1, 0, 1, &out), 0);
    cr_assert_eq(sched_req_on_bid(r, &b2, 0, 1, &out), 0);
    cr_assert_eq(sched_req_tick(r, 500, &out), 0);
    accept(r, &o, 1, 0, 500);
    sched_chunk c0 = t_chunk(&o, 1, 0, 32, false);
    cr_assert_eq(sched_req_on_chunk(r, &c0, 600, &out), 0);
    /* provider 1 goes silent; by then provider 2's bid has expired */
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_tick(r, 20600, &out), 0);
    cr_assert_eq(t_count(&out, SCHED_ACT_AWARD), 0, "no award on an expired bid");
    cr_assert_eq(t_count(&out, SCHED_ACT_OFFER), 1);
    /* provider 2 bids again (new price): its fresh bid replaces the expired one */
    sched_bid again = t_bid(&o, 2, 25, 100, 0);
    cr_assert_eq(sched_req_on_bid(r, &again, 0, 20700, &out), 0);
    cr_assert_eq(sched_req_on_bid(r, &again, 0, 20701, &out), SCHED_IGNORED, "live duplicate");
    sched_bid tried = t_bid(&o, 1, 1, 100, 0);
    cr_assert_eq(sched_req_on_bid(r, &tried, 0, 20702, &out), SCHED_IGNORED, "already tried");
    sched_actions_clear(&out);
    cr_assert_eq(sched_req_tick(r, 21100, &out), 0);
    const sched_action *aw = t_find(&out, SCHED_ACT_AWARD, 0);
    cr_assert_not_null(aw);
    cr_assert_eq(aw->u.award.provider[1], 2);
    cr_assert_eq(aw->u.award.price_micro, 25);
    cr_assert_eq(aw->u.award.start_chunk, 1);
    t_req_ok(r);
    sched_req_free(r);
}

Test(req, allocation_failure_is_reported_not_fatal)
{
    sched_offer o = t_offer(50);
    sched_req *r = (sched_req *)&o; /* must be reset to NULL */
    aria_alloc_fail_after(1, false);
    cr_assert_eq(sched_req_new(&o, NULL, &r), ARIA_ENOMEM);
    aria_alloc_fail_after(0, false);
    cr_assert_null(r);
    sched_prov_config c;
    sched_prov_config_default(&c);
    sched_prov *p = (sched_prov *)&o;
    aria_alloc_fail_after(1, false);
    cr_assert_eq(sched_prov_new(&c, &p), ARIA_ENOMEM);
    aria_alloc_fail_after(0, false);
    cr_assert_null(p);
}
