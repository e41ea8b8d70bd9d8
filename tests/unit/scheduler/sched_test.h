/*
 * sched_test.h — helpers for the scheduler tests: ids, offers, action
 * lookup and a requester built and started in one call.
 */
#ifndef ARIA_SCHED_TEST_H
#define ARIA_SCHED_TEST_H
#include <criterion/criterion.h>
#include <string.h>

#include "scheduler.h"

#define T_PRICE_MAX 100u

/* A check in a hot loop: Criterion reports every assertion to its runner
 * (--full-stats), which would dominate the run; report failures only. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            cr_assert_fail(__VA_ARGS__);                                                           \
    } while (0)

static inline void
t_id(uint8_t id[SCHED_ID_BYTES], uint8_t tag, uint32_t n)
{
    memset(id, 0, SCHED_ID_BYTES);
    id[0] = tag;
    id[1] = (uint8_t)n;
    id[2] = (uint8_t)(n >> 8);
    id[3] = (uint8_t)(n >> 16);
}

/* Job n of requester R, model M0, 100 new tokens in chunks of 32. */
static inline sched_offer
t_offer(uint32_t n)
{
    sched_offer o;
    memset(&o, 0, sizeof o);
    t_id(o.job_id, 'J', n);
    t_id(o.requester, 'R', 0);
    t_id(o.model_id, 'M', 0);
    o.prompt_tokens = 10;
    o.max_new_tokens = 100;
    o.chunk_tokens = 32;
    o.max_price_micro = T_PRICE_MAX;
    o.bid_window_ms = 500;
    o.expires_ms = 1000000;
    return o;
}

static inline sched_bid
t_bid(const sched_offer *o, uint32_t prov, uint64_t price, uint32_t tps, uint32_t queue)
{
    sched_bid b;
    memset(&b, 0, sizeof b);
    memcpy(b.job_id, o->job_id, SCHED_ID_BYTES);
    t_id(b.provider, 'P', prov);
    b.price_micro = price;
    b.tokens_per_s = tps;
    b.queue_depth = queue;
    b.expires_ms = 900000;
    return b;
}

/* The i-th action of `kind` in out (0-based), or NULL. */
static inline const sched_action *
t_find(const sched_actions *out, sched_action_kind kind, int i)
{
    for (size_t k = 0; k < out->n; k++)
        if (out->a[k].kind == kind && i-- == 0)
            return &out->a[k];
    return NULL;
}

static inline int
t_count(const sched_actions *out, sched_action_kind kind)
{
    int c = 0;
    for (size_t k = 0; k < out->n; k++)
        c += out->a[k].kind == kind;
    return c;
}

static inline sched_req *
t_req_started(const sched_offer *o, const sched_req_config *cfg, uint64_t now)
{
    sched_req *r = NULL;
    cr_assert_eq(sched_req_new(o, cfg, &r), 0, "%s", aria_err_msg());
    sched_actions out = {0};
    cr_assert_eq(sched_req_start(r, now, &out), 0);
    cr_assert_eq(out.n, 1);
    cr_assert_eq(out.a[0].kind, SCHED_ACT_OFFER);
    return r;
}

static inline void
t_req_ok(const sched_req *r)
{
    int rc = sched_req_check(r);
    cr_assert_eq(rc, 0, "requester invariant: %s", aria_err_msg());
}

static inline void
t_prov_ok(const sched_prov *p)
{
    int rc = sched_prov_check(p);
    cr_assert_eq(rc, 0, "provider invariant: %s", aria_err_msg());
}

static inline sched_chunk
t_chunk(const sched_offer *o, uint32_t prov, uint32_t index, uint32_t n, bool last)
{
    sched_chunk c;
    memset(&c, 0, sizeof c);
    memcpy(c.job_id, o->job_id, SCHED_ID_BYTES);
    t_id(c.provider, 'P', prov);
    c.index = index;
    c.n_tokens = n;
    c.last = last;
    return c;
}

static inline sched_award_reply
t_reply(const sched_offer *o, uint32_t prov, bool ok)
{
    sched_award_reply r;
    memset(&r, 0, sizeof r);
    memcpy(r.job_id, o->job_id, SCHED_ID_BYTES);
    t_id(r.provider, 'P', prov);
    r.accepted = ok;
    r.reason = ok ? SCHED_REFUSE_NONE : SCHED_REFUSE_CAPACITY;
    return r;
}

#endif
