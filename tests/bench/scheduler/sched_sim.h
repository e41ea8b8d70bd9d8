/*
 * sched_sim.h — a discrete-event simulation of many requesters and
 * providers running the real scheduler machines in one process: simulated
 * message delays, duplicates, losses and provider crashes, a simulated
 * ledger that books every payment the requesters emit, and inference
 * workers that take tokens / tokens_per_s to produce a chunk.
 *
 * Used by tests/bench/scheduler/bench_sim.c (large runs, figures) and by
 * tests/unit/scheduler/test_flow.c (small runs with the invariants checked
 * after every event). Header-only: include it in exactly one file.
 *
 * Invariants checked when cfg.check is set (after every event) and always at
 * the end of every job: sched_req_check / sched_prov_check; output arrives
 * in order and complete; credits booked on the ledger for (job, provider)
 * equal the requester's record and price * tokens received from it; a
 * provider's released job never has more than one chunk delivered unpaid.
 */
#ifndef ARIA_SCHED_SIM_H
#define ARIA_SCHED_SIM_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler.h"

typedef struct sim_config {
    uint32_t n_prov, n_req, n_jobs, n_models;
    uint32_t capacity;        /* per provider */
    uint32_t overbook_pct;    /* provider bids outstanding, % of capacity (0 = 100) */
    uint64_t arrival_span_ms; /* jobs arrive uniformly over [0, span) */
    uint32_t delay_min_ms, delay_max_ms;
    uint32_t dup_pct, drop_pct; /* per message */
    uint32_t crash_permille;    /* providers that crash at a random time */
    uint32_t ineligible_pct;    /* jobs whose max price is below every provider's */
    uint32_t max_new_min, max_new_max;
    int kill_job0_winner_after; /* >= 0: job 0's first provider dies after sending k chunks */
    bool alike;                 /* every provider: base price 100, 40 tokens/s, reputation 0 */
    uint64_t seed;
    bool check; /* run the invariant checks after every event */
} sim_config;

typedef struct sim_stats {
    uint32_t done, no_bids, no_provider, expired, other;
    uint32_t no_bids_priced_out; /* of no_bids: max price below every provider's base */
    uint32_t eligible;           /* jobs with at least one eligible bid stored */
    uint32_t eligible_not_done;  /* must be 0 */
    uint32_t reawards;           /* awards beyond the first, all jobs */
    uint32_t crashed;
    uint64_t events;
    uint64_t credits;     /* booked on the simulated ledger */
    uint64_t *latency_ms; /* per done job, n = done (owned; free with sim_stats_fini) */
    uint32_t *served;     /* jobs done per provider (owned) */
    bool *prov_crashed;   /* (owned) */
    sched_req_attempt job0[SCHED_REQ_MAX_AWARDS];
    uint32_t job0_attempts;
    sched_end_reason job0_end;
    char error[256]; /* first invariant failure, "" if none */
} sim_stats;

/* ------------------------------------------------------------------ */

enum sim_ev_type {
    EV_JOB_START,
    EV_REQ_BID,
    EV_REQ_REPLY,
    EV_REQ_CHUNK,
    EV_REQ_TICK,
    EV_PROV_OFFER,
    EV_PROV_AWARD,
    EV_PROV_PULL,
    EV_PROV_PAY,
    EV_PROV_CANCEL,
    EV_PROV_COMPUTED,
    EV_PROV_TICK,
    EV_PROV_CRASH,
};

typedef struct sim_ev {
    int type;
    uint32_t target; /* job index (EV_REQ_*, EV_JOB_START) or provider index */
    uint32_t aux;    /* reputation (bid), job index (offer/computed) */
    union {
        sched_bid bid;
        sched_award_reply reply;
        sched_chunk chunk;
        sched_award award;
        sched_pull pull;
        sched_payment pay;
        sched_cancel cancel;
        struct {
            uint8_t job_id[SCHED_ID_BYTES];
            uint32_t chunk, n;
            bool last;
        } computed;
    } u;
} sim_ev;

typedef struct sim_hent {
    uint64_t time, seq;
    uint32_t slot;
} sim_hent;

typedef struct sim_job {
    sched_req *r;
    sched_offer offer;
    uint32_t model;
    uint32_t eos_at; /* output length the workers produce */
    uint64_t arrival;
    uint64_t tick_at;
    uint32_t next_out; /* next chunk index expected in OUTPUT */
    uint32_t out_tokens;
    uint32_t paid_prov[SCHED_REQ_MAX_AWARDS]; /* ledger: provider index ... */
    uint64_t paid_sum[SCHED_REQ_MAX_AWARDS];  /* ... and credits booked to it */
    uint32_t n_paid;
    bool over;
} sim_job;

typedef struct sim_prov {
    sched_prov *p;
    uint32_t tps;
    uint32_t rep;
    uint64_t tick_at;
    bool dead;
    int kill_after; /* chunks of job 0 to send before dying, -1 = no */
} sim_prov;

typedef struct sim {
    sim_config c;
    sim_stats *st;
    uint64_t rng;
    uint64_t now, seq;
    sim_hent *heap;
    size_t n_heap, cap_heap;
    sim_ev *pool;
    uint32_t *free_slots;
    size_t n_pool, n_free;
    sim_job *jobs;
    sim_prov *provs;
    uint32_t n_latency;
} sim;

static uint64_t
sim_rand(sim *s)
{
    /* splitmix64: deterministic per seed */
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t
sim_below(sim *s, uint32_t n)
{
    return n ? (uint32_t)(sim_rand(s) % n) : 0;
}

static void
sim_id(uint8_t id[SCHED_ID_BYTES], uint8_t tag, uint32_t n)
{
    memset(id, 0, SCHED_ID_BYTES);
    id[0] = tag;
    id[1] = (uint8_t)n;
    id[2] = (uint8_t)(n >> 8);
    id[3] = (uint8_t)(n >> 16);
    id[4] = (uint8_t)(n >> 24);
    id[31] = (uint8_t)(n * 37); /* spread the tie-break hash inputs */
}

static uint32_t
sim_id_index(const uint8_t id[SCHED_ID_BYTES])
{
    return (uint32_t)id[1] | (uint32_t)id[2] << 8 | (uint32_t)id[3] << 16 | (uint32_t)id[4] << 24;
}

static void
sim_fail(sim *s, const char *what, uint32_t idx)
{
    if (s->st->error[0] == 0)
        snprintf(s->st->error, sizeof s->st->error, "t=%llu %s %u: %s", (unsigned long long)s->now,
                 what, idx, aria_err_msg());
}

static void
sim_push(sim *s, uint64_t t, const sim_ev *ev)
{
    uint32_t slot;
    if (s->n_free > 0) {
        slot = s->free_slots[--s->n_free];
    } else {
        if (s->n_pool % 4096 == 0) {
            s->pool = aria_realloc(s->pool, (s->n_pool + 4096) * sizeof *s->pool);
            s->free_slots = aria_realloc(s->free_slots, (s->n_pool + 4096) * sizeof(uint32_t));
            ARIA_ASSERT(s->pool && s->free_slots);
        }
        slot = (uint32_t)s->n_pool++;
    }
    s->pool[slot] = *ev;
    if (s->n_heap == s->cap_heap) {
        s->cap_heap = s->cap_heap ? 2 * s->cap_heap : 4096;
        s->heap = aria_realloc(s->heap, s->cap_heap * sizeof *s->heap);
        ARIA_ASSERT(s->heap);
    }
    size_t i = s->n_heap++;
    sim_hent e = {t, s->seq++, slot};
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (s->heap[up].time < e.time || (s->heap[up].time == e.time && s->heap[up].seq < e.seq))
            break;
        s->heap[i] = s->heap[up];
        i = up;
    }
    s->heap[i] = e;
}

static bool
sim_pop(sim *s, sim_hent *out)
{
    if (s->n_heap == 0)
        return false;
    *out = s->heap[0];
    sim_hent last = s->heap[--s->n_heap];
    size_t i = 0, n = s->n_heap;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        sim_hent best = last;
        if (l < n && (s->heap[l].time < best.time ||
                      (s->heap[l].time == best.time && s->heap[l].seq < best.seq))) {
            m = l;
            best = s->heap[l];
        }
        if (l + 1 < n && (s->heap[l + 1].time < best.time ||
                          (s->heap[l + 1].time == best.time && s->heap[l + 1].seq < best.seq)))
            m = l + 1;
        if (m == i)
            break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (n > 0)
        s->heap[i] = last;
    return true;
}

/* A message over the simulated network: maybe lost, maybe duplicated. */
static void
sim_send(sim *s, const sim_ev *ev)
{
    if (s->c.drop_pct && sim_below(s, 100) < s->c.drop_pct)
        return;
    uint32_t span = s->c.delay_max_ms - s->c.delay_min_ms + 1;
    sim_push(s, s->now + s->c.delay_min_ms + sim_below(s, span), ev);
    if (s->c.dup_pct && sim_below(s, 100) < s->c.dup_pct)
        sim_push(s, s->now + s->c.delay_min_ms + sim_below(s, span), ev);
}

static void
sim_resched_req(sim *s, uint32_t j)
{
    sim_job *job = &s->jobs[j];
    if (job->over)
        return;
    uint64_t d = sched_req_next_deadline(job->r);
    if (d < job->tick_at) {
        job->tick_at = d < s->now ? s->now : d;
        sim_ev ev = {.type = EV_REQ_TICK, .target = j};
        sim_push(s, job->tick_at, &ev);
    }
}

static void
sim_resched_prov(sim *s, uint32_t i)
{
    sim_prov *p = &s->provs[i];
    uint64_t d = sched_prov_next_deadline(p->p);
    if (!p->dead && d < p->tick_at) {
        p->tick_at = d < s->now ? s->now : d;
        sim_ev ev = {.type = EV_PROV_TICK, .target = i};
        sim_push(s, p->tick_at, &ev);
    }
}

static void
sim_book(sim_job *job, uint32_t prov, uint64_t amount)
{
    for (uint32_t i = 0; i < job->n_paid; i++)
        if (job->paid_prov[i] == prov) {
            job->paid_sum[i] += amount;
            return;
        }
    ARIA_ASSERT(job->n_paid < SCHED_REQ_MAX_AWARDS);
    job->paid_prov[job->n_paid] = prov;
    job->paid_sum[job->n_paid++] = amount;
}

static void
sim_job_over(sim *s, uint32_t j, const sched_end *end)
{
    sim_job *job = &s->jobs[j];
    sched_req_info info;
    sched_req_get_info(job->r, &info);
    if (sched_req_check(job->r) != 0)
        sim_fail(s, "requester invariant at end, job", j);
    /* ledger == requester's record == price * tokens, per provider */
    for (uint32_t i = 0; i < info.attempts; i++) {
        sched_req_attempt a;
        if (sched_req_get_attempt(job->r, i, &a) != 0)
            sim_fail(s, "attempt", j);
        uint64_t booked = 0;
        for (uint32_t k = 0; k < job->n_paid; k++)
            if (job->paid_prov[k] == sim_id_index(a.provider))
                booked = job->paid_sum[k];
        if (booked != a.paid_micro || a.paid_micro != (uint64_t)a.tokens * a.price_micro) {
            aria_errf(ARIA_EINTERNAL, "booked %llu, requester %llu, tokens %u * price %llu",
                      (unsigned long long)booked, (unsigned long long)a.paid_micro, a.tokens,
                      (unsigned long long)a.price_micro);
            sim_fail(s, "ledger disagrees, job", j);
        }
        if (j == 0 && i < SCHED_REQ_MAX_AWARDS)
            s->st->job0[i] = a;
        if (i > 0)
            s->st->reawards++;
    }
    if (j == 0) {
        s->st->job0_attempts = info.attempts;
        s->st->job0_end = end->reason;
    }
    if (info.bids > 0)
        s->st->eligible++;
    switch (end->reason) {
    case SCHED_END_DONE:
        s->st->done++;
        s->st->latency_ms[s->n_latency++] = s->now - job->arrival;
        if (job->out_tokens != job->eos_at || info.tokens != job->eos_at) {
            aria_errf(ARIA_EINTERNAL, "output %u tokens, want %u", job->out_tokens, job->eos_at);
            sim_fail(s, "incomplete output, job", j);
        }
        break;
    case SCHED_END_NO_BIDS:
        s->st->no_bids++;
        s->st->no_bids_priced_out += job->offer.max_price_micro < 95;
        break;
    case SCHED_END_NO_PROVIDER: s->st->no_provider++; break;
    case SCHED_END_EXPIRED: s->st->expired++; break;
    default: s->st->other++; break;
    }
    if (info.bids > 0 && end->reason != SCHED_END_DONE) {
        s->st->eligible_not_done++;
#ifdef SIM_DEBUG
        fprintf(stderr, "job %u: %s, %u bids, %u auctions, %u attempts, arrival %llu now %llu\n", j,
                sched_end_reason_name(end->reason), info.bids, info.auctions, info.attempts,
                (unsigned long long)job->arrival, (unsigned long long)s->now);
        for (uint32_t i = 0; i < info.attempts; i++) {
            sched_req_attempt a;
            if (sched_req_get_attempt(job->r, i, &a) == 0)
                fprintf(stderr, "  attempt %u: provider %u%s accepted %d chunks %u\n", i,
                        sim_id_index(a.provider),
                        s->provs[sim_id_index(a.provider)].dead ? " (dead)" : "", a.accepted,
                        a.chunks);
        }
#endif
    }
    job->over = true;
    sched_req_free(job->r);
    job->r = NULL;
}

static void
sim_req_actions(sim *s, uint32_t j, const sched_actions *out)
{
    sim_job *job = &s->jobs[j];
    for (size_t k = 0; k < out->n; k++) {
        const sched_action *a = &out->a[k];
        sim_ev ev;
        memset(&ev, 0, sizeof ev);
        switch (a->kind) {
        case SCHED_ACT_OFFER:
            /* gossip reaches every provider; only those serving the model
             * are simulated (the others answer "model not served") */
            for (uint32_t i = job->model; i < s->c.n_prov; i += s->c.n_models) {
                ev.type = EV_PROV_OFFER;
                ev.target = i;
                ev.aux = j;
                sim_send(s, &ev);
            }
            break;
        case SCHED_ACT_AWARD:
            ev.type = EV_PROV_AWARD;
            ev.target = sim_id_index(a->u.award.provider);
            ev.u.award = a->u.award;
            sim_send(s, &ev);
            break;
        case SCHED_ACT_PULL:
            if (a->u.pull.has_payment) {
                sim_book(job, sim_id_index(a->u.pull.provider), a->u.pull.payment.amount_micro);
                s->st->credits += a->u.pull.payment.amount_micro;
            }
            ev.type = EV_PROV_PULL;
            ev.target = sim_id_index(a->u.pull.provider);
            ev.u.pull = a->u.pull;
            sim_send(s, &ev);
            break;
        case SCHED_ACT_SETTLE:
            sim_book(job, sim_id_index(a->u.settle.pay.payee), a->u.settle.pay.amount_micro);
            s->st->credits += a->u.settle.pay.amount_micro;
            ev.type = EV_PROV_PAY;
            ev.target = sim_id_index(a->u.settle.pay.payee);
            ev.u.pay = a->u.settle.pay;
            sim_send(s, &ev);
            break;
        case SCHED_ACT_CANCEL:
            ev.type = EV_PROV_CANCEL;
            ev.target = sim_id_index(a->u.cancel.provider);
            ev.u.cancel = a->u.cancel;
            sim_send(s, &ev);
            break;
        case SCHED_ACT_OUTPUT:
            if (a->u.chunk.index != job->next_out) {
                aria_errf(ARIA_EINTERNAL, "output chunk %u, expected %u", a->u.chunk.index,
                          job->next_out);
                sim_fail(s, "output out of order, job", j);
            }
            job->next_out++;
            job->out_tokens += a->u.chunk.n_tokens;
            break;
        case SCHED_ACT_END: sim_job_over(s, j, &a->u.end); return;
        default: sim_fail(s, "unexpected requester action, job", j); break;
        }
    }
}

static void
sim_prov_actions(sim *s, uint32_t i, const sched_actions *out)
{
    sim_prov *p = &s->provs[i];
    for (size_t k = 0; k < out->n; k++) {
        const sched_action *a = &out->a[k];
        sim_ev ev;
        memset(&ev, 0, sizeof ev);
        switch (a->kind) {
        case SCHED_ACT_BID:
            ev.type = EV_REQ_BID;
            ev.target = sim_id_index(a->u.bid.job_id);
            ev.aux = p->rep;
            ev.u.bid = a->u.bid;
            sim_send(s, &ev);
            break;
        case SCHED_ACT_AWARD_REPLY:
            ev.type = EV_REQ_REPLY;
            ev.target = sim_id_index(a->u.reply.job_id);
            ev.u.reply = a->u.reply;
            sim_send(s, &ev);
            break;
        case SCHED_ACT_COMPUTE: {
            const sched_compute *c = &a->u.compute;
            uint32_t j = sim_id_index(c->job_id);
            uint32_t eos = s->jobs[j].eos_at;
            uint32_t n = c->start_token >= eos ? 0 : eos - c->start_token;
            if (n > c->max_tokens)
                n = c->max_tokens;
            uint64_t ms = (uint64_t)n * 1000 / p->tps;
            if (c->first) /* prefill prompt + resumed output, 8x decode speed */
                ms += ((uint64_t)s->jobs[j].offer.prompt_tokens + c->start_token) * 1000 /
                      (8ull * p->tps);
            ev.type = EV_PROV_COMPUTED;
            ev.target = i;
            memcpy(ev.u.computed.job_id, c->job_id, SCHED_ID_BYTES);
            ev.u.computed.chunk = c->chunk;
            ev.u.computed.n = n;
            ev.u.computed.last = c->start_token + n == eos;
            sim_push(s, s->now + ms + 1, &ev);
            break;
        }
        case SCHED_ACT_CHUNK: {
            uint32_t j = sim_id_index(a->u.chunk.job_id);
            ev.type = EV_REQ_CHUNK;
            ev.target = j;
            ev.u.chunk = a->u.chunk;
            sim_send(s, &ev);
            if (j == 0 && p->kill_after > 0 && --p->kill_after == 0) {
                p->dead = true;
                s->st->crashed++;
                s->st->prov_crashed[i] = true;
                return;
            }
            break;
        }
        case SCHED_ACT_RELEASE:
            if (a->u.end.reason == SCHED_END_DONE)
                s->st->served[i]++;
            break;
        default: sim_fail(s, "unexpected provider action, provider", i); break;
        }
    }
}

static void
sim_dispatch(sim *s, const sim_ev *ev)
{
    sched_actions out;
    sched_actions_clear(&out);
    int rc = 0;
    if (ev->type <= EV_REQ_TICK) {
        uint32_t j = ev->target;
        sim_job *job = &s->jobs[j];
        if (ev->type == EV_JOB_START) {
            if (sched_req_new(&job->offer, NULL, &job->r) != 0 ||
                sched_req_start(job->r, s->now, &out) != 0) {
                sim_fail(s, "job start", j);
                return;
            }
        } else if (job->over) {
            return; /* a message for a finished job */
        } else if (ev->type == EV_REQ_BID) {
            rc = sched_req_on_bid(job->r, &ev->u.bid, ev->aux, s->now, &out);
        } else if (ev->type == EV_REQ_REPLY) {
            rc = sched_req_on_award_reply(job->r, &ev->u.reply, s->now, &out);
        } else if (ev->type == EV_REQ_CHUNK) {
            rc = sched_req_on_chunk(job->r, &ev->u.chunk, s->now, &out);
        } else {
            if (s->now != job->tick_at)
                return; /* superseded */
            job->tick_at = SCHED_NO_DEADLINE;
            rc = sched_req_tick(job->r, s->now, &out);
        }
        if (rc < 0)
            sim_fail(s, "requester event error, job", j);
        sim_req_actions(s, j, &out);
        if (!job->over && s->c.check && sched_req_check(job->r) != 0)
            sim_fail(s, "requester invariant, job", j);
        sim_resched_req(s, j);
        return;
    }
    uint32_t i = ev->target;
    sim_prov *p = &s->provs[i];
    if (p->dead)
        return;
    switch (ev->type) {
    case EV_PROV_OFFER: {
        sim_job *job = &s->jobs[ev->aux];
        rc = sched_prov_on_offer(p->p, &job->offer, s->now, &out);
#ifdef SIM_DEBUG
        sim_nobid_count[rc & 7]++;
#endif
        if (rc > 0)
            rc = 0; /* no bid */
        break;
    }
    case EV_PROV_AWARD:
        rc = sched_prov_on_award(p->p, &ev->u.award, s->now, &out);
        if (rc == 0 && ev->u.award.attempt == 0 && sim_id_index(ev->u.award.job_id) == 0 &&
            s->c.kill_job0_winner_after >= 0 && p->kill_after < 0) {
            p->kill_after = s->c.kill_job0_winner_after;
            if (p->kill_after == 0) {
                p->dead = true; /* dies right after accepting */
                s->st->crashed++;
                s->st->prov_crashed[i] = true;
            }
        }
        break;
    case EV_PROV_PULL: rc = sched_prov_on_pull(p->p, &ev->u.pull, s->now, &out); break;
    case EV_PROV_PAY: rc = sched_prov_on_payment(p->p, &ev->u.pay, s->now, &out); break;
    case EV_PROV_CANCEL: rc = sched_prov_on_cancel(p->p, &ev->u.cancel, s->now, &out); break;
    case EV_PROV_COMPUTED:
        rc = sched_prov_on_computed(p->p, ev->u.computed.job_id, ev->u.computed.chunk,
                                    ev->u.computed.n, ev->u.computed.last, NULL, s->now, &out);
        break;
    case EV_PROV_TICK:
        if (s->now != p->tick_at)
            return;
        p->tick_at = SCHED_NO_DEADLINE;
        rc = sched_prov_tick(p->p, s->now, &out);
        break;
    case EV_PROV_CRASH:
        p->dead = true;
        s->st->crashed++;
        s->st->prov_crashed[i] = true;
        return;
    default: break;
    }
    if (rc < 0)
        sim_fail(s, "provider event error, provider", i);
    sim_prov_actions(s, i, &out);
    if (s->c.check && sched_prov_check(p->p) != 0)
        sim_fail(s, "provider invariant, provider", i);
    sim_resched_prov(s, i);
}

static void
sim_stats_fini(sim_stats *st)
{
    aria_free(st->latency_ms);
    aria_free(st->served);
    aria_free(st->prov_crashed);
    memset(st, 0, sizeof *st);
}

/* Run one simulation. Returns 0, or -1 with st->error set. */
static int
sim_run(const sim_config *c, sim_stats *st)
{
    sim s;
    memset(&s, 0, sizeof s);
    memset(st, 0, sizeof *st);
    s.c = *c;
    s.st = st;
    s.rng = c->seed;
    s.jobs = aria_calloc(c->n_jobs, sizeof *s.jobs);
    s.provs = aria_calloc(c->n_prov, sizeof *s.provs);
    st->latency_ms = aria_calloc(c->n_jobs + 1, sizeof *st->latency_ms);
    st->served = aria_calloc(c->n_prov, sizeof *st->served);
    st->prov_crashed = aria_calloc(c->n_prov, sizeof *st->prov_crashed);
    ARIA_ASSERT(s.jobs && s.provs && st->latency_ms && st->served && st->prov_crashed);
    static const uint64_t base_prices[3] = {95, 100, 105};
    static const uint32_t speeds[3] = {20, 40, 80};
    for (uint32_t i = 0; i < c->n_prov; i++) {
        sched_prov_config pc;
        sched_prov_config_default(&pc);
        sim_id(pc.node_id, 'P', i);
        pc.capacity = c->capacity;
        pc.overbook_pct = c->overbook_pct;
        pc.base_price_micro = c->alike ? 100 : base_prices[sim_below(&s, 3)];
        pc.load_factor_pct = 100;
        pc.tokens_per_s = c->alike ? 40 : speeds[sim_below(&s, 3)];
        pc.bid_grace_ms = 250; /* > the largest one-way delay (50 ms) */
        pc.n_models = 1;
        sim_id(pc.models[0], 'M', i % c->n_models);
        s.provs[i].tps = pc.tokens_per_s;
        s.provs[i].rep = c->alike ? 0 : sim_below(&s, 4);
        s.provs[i].tick_at = SCHED_NO_DEADLINE;
        s.provs[i].kill_after = -1;
        if (sched_prov_new(&pc, &s.provs[i].p) != 0) {
            sim_fail(&s, "provider config", i);
            return -1;
        }
        if (c->crash_permille && sim_below(&s, 1000) < c->crash_permille) {
            sim_ev ev = {.type = EV_PROV_CRASH, .target = i};
            sim_push(&s, sim_below(&s, (uint32_t)(c->arrival_span_ms + 1)), &ev);
        }
    }
    for (uint32_t j = 0; j < c->n_jobs; j++) {
        sim_job *job = &s.jobs[j];
        sched_offer *o = &job->offer;
        sim_id(o->job_id, 'J', j);
        sim_id(o->requester, 'R', j % c->n_req);
        job->model = j == 0 ? 0 : sim_below(&s, c->n_models);
        sim_id(o->model_id, 'M', job->model);
        o->prompt_tokens = 20 + sim_below(&s, 200);
        o->max_new_tokens = c->max_new_min + sim_below(&s, c->max_new_max - c->max_new_min + 1);
        o->chunk_tokens = SCHED_CHUNK_TOKENS_DEFAULT;
        bool cheap = j != 0 && sim_below(&s, 100) < c->ineligible_pct;
        o->max_price_micro = cheap ? 50 : 400; /* every base price is 95..105 */
        o->bid_window_ms = 500;
        job->arrival = j == 0 ? 0 : sim_below(&s, (uint32_t)c->arrival_span_ms);
        o->expires_ms = job->arrival + 600000;
        /* a quarter of the jobs stop early (EOS) */
        job->eos_at = j != 0 && sim_below(&s, 4) == 0 ? 1 + sim_below(&s, o->max_new_tokens)
                                                      : o->max_new_tokens;
        job->tick_at = SCHED_NO_DEADLINE;
        sim_ev ev = {.type = EV_JOB_START, .target = j};
        sim_push(&s, job->arrival, &ev);
    }
    sim_hent h;
    while (sim_pop(&s, &h)) {
        s.now = h.time;
        sim_ev ev = s.pool[h.slot];
        s.free_slots[s.n_free++] = h.slot;
        st->events++;
        sim_dispatch(&s, &ev);
    }
    for (uint32_t j = 0; j < c->n_jobs; j++)
        if (!s.jobs[j].over) {
            aria_errf(ARIA_EINTERNAL, "never ended");
            sim_fail(&s, "job", j);
            sched_req_free(s.jobs[j].r);
        }
    for (uint32_t i = 0; i < c->n_prov; i++) {
        /* every slot of a live provider is free once all timers have run */
        if (!s.provs[i].dead && sched_prov_used(s.provs[i].p) != 0) {
            aria_errf(ARIA_EINTERNAL, "%u slots still used", sched_prov_used(s.provs[i].p));
            sim_fail(&s, "provider", i);
        }
        sched_prov_free(s.provs[i].p);
    }
    aria_free(s.jobs);
    aria_free(s.provs);
    aria_free(s.heap);
    aria_free(s.pool);
    aria_free(s.free_slots);
    return st->error[0] ? -1 : 0;
}

#endif
