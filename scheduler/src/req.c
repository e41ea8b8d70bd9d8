/*
 * req.c — the requester machine for one job: offer, collect bids, award by
 * the winner rule, pull chunks paying as it pulls, settle; re-award on a
 * silent or refusing provider; cancel; give up.
 *
 * Invariants (checked by sched_req_check):
 *  - Credits go only to a provider for tokens it delivered: for every
 *    attempt paid_tokens <= tokens and paid_micro == paid_tokens * price.
 *  - Pay as you pull: a chunk is paid the moment it is accepted, on the pull
 *    for the next chunk (or the settle after the last), so between events
 *    nothing delivered is unpaid and leaving a provider (abandon, cancel,
 *    expiry) owes it nothing: it keeps exactly what it delivered.
 *  - Chunks are accepted strictly in order: next_chunk == sum of chunks over
 *    attempts and tokens == sum of tokens; every non-last chunk is full, so
 *    a re-award resumes at start_token = next_chunk * chunk_tokens.
 *  - A bid over the max price is never stored, so no credit is spent when
 *    no eligible bid arrives.
 */
#include "sched_int.h"

typedef struct req_bid {
    sched_bid bid;
    uint32_t reputation;
    bool tried;
    uint64_t latency_ms; /* cached winner-rule keys (see sched_bid_cmp) */
    uint64_t hash;
} req_bid;

/* sched_bid_cmp on cached keys: the same order, without rehashing. */
static int
req_bid_cmp(const req_bid *a, const req_bid *b)
{
    if (a->bid.price_micro != b->bid.price_micro)
        return a->bid.price_micro < b->bid.price_micro ? -1 : 1;
    if (a->latency_ms != b->latency_ms)
        return a->latency_ms < b->latency_ms ? -1 : 1;
    if (a->reputation != b->reputation)
        return a->reputation > b->reputation ? -1 : 1;
    if (a->hash != b->hash)
        return a->hash < b->hash ? -1 : 1;
    int c = memcmp(a->bid.provider, b->bid.provider, SCHED_ID_BYTES);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

struct sched_req {
    sched_offer offer;
    sched_req_config cfg;
    sched_req_state state;
    sched_end_reason end_reason;
    uint64_t now;      /* largest now_ms seen */
    uint64_t deadline; /* state timer, SCHED_NO_DEADLINE if none */
    uint32_t n_bids;
    req_bid bids[SCHED_REQ_MAX_BIDS];
    uint32_t n_att;
    sched_req_attempt att[SCHED_REQ_MAX_AWARDS];
    uint32_t auctions;
    uint32_t next_chunk;
    uint32_t tokens;
    uint64_t paid_micro;
};

void
sched_req_config_default(sched_req_config *c)
{
    c->bid_window_ms = 500;
    c->award_timeout_ms = 5000;
    c->first_chunk_timeout_ms = 60000;
    c->chunk_timeout_ms = 20000;
    c->max_awards = 4;
    c->max_auctions = 3;
}

int
sched_req_new(const sched_offer *offer, const sched_req_config *cfg, sched_req **out)
{
    *out = NULL;
    sched_req_config c;
    if (cfg)
        c = *cfg;
    else
        sched_req_config_default(&c);
    if (c.max_awards < 1 || c.max_awards > SCHED_REQ_MAX_AWARDS)
        return aria_errf(ARIA_EINVAL, "scheduler: max_awards %u not in 1..%d", c.max_awards,
                         SCHED_REQ_MAX_AWARDS);
    if (c.max_auctions < 1)
        return aria_errf(ARIA_EINVAL, "scheduler: max_auctions is 0");
    if (c.award_timeout_ms == 0 || c.chunk_timeout_ms == 0 || c.first_chunk_timeout_ms == 0)
        return aria_errf(ARIA_EINVAL, "scheduler: requester timeouts must be > 0 ms");
    if (offer->max_new_tokens == 0)
        return aria_errf(ARIA_EINVAL, "scheduler: offer max_new_tokens is 0");
    if (sched_mul_sat(offer->max_price_micro, offer->max_new_tokens) == UINT64_MAX)
        return aria_errf(ARIA_EINVAL,
                         "scheduler: offer max_price_micro %llu * max_new_tokens %u overflows",
                         (unsigned long long)offer->max_price_micro, offer->max_new_tokens);
    sched_req *r = aria_calloc(1, sizeof *r);
    if (!r)
        return aria_errf(ARIA_ENOMEM, "scheduler: out of memory for a job");
    r->offer = *offer;
    if (r->offer.chunk_tokens == 0)
        r->offer.chunk_tokens = SCHED_CHUNK_TOKENS_DEFAULT;
    if (r->offer.bid_window_ms == 0)
        r->offer.bid_window_ms = c.bid_window_ms ? c.bid_window_ms : 500;
    r->cfg = c;
    r->state = SCHED_REQ_NEW;
    r->deadline = SCHED_NO_DEADLINE;
    *out = r;
    return 0;
}

void
sched_req_free(sched_req *r)
{
    aria_free(r);
}

static bool
req_active(const sched_req *r)
{
    return r->state == SCHED_REQ_COLLECTING || r->state == SCHED_REQ_AWARDING ||
           r->state == SCHED_REQ_STREAMING;
}

static uint64_t
req_now(sched_req *r, uint64_t now_ms)
{
    if (now_ms > r->now)
        r->now = now_ms;
    return r->now;
}

static sched_req_attempt *
req_cur(sched_req *r)
{
    if (r->n_att == 0 || !r->att[r->n_att - 1].current)
        return NULL;
    return &r->att[r->n_att - 1];
}

static uint64_t
req_after(uint64_t now, uint32_t ms)
{
    return sched_add_sat(now, ms);
}

/* Build the payment for everything `a` delivered and was not yet paid for,
 * and book it. The caller puts it on a PULL or the SETTLE. */
static void
req_book_payment(sched_req *r, sched_req_attempt *a, sched_payment *p)
{
    uint32_t unpaid = a->tokens - a->paid_tokens;
    uint64_t amount = (uint64_t)unpaid * a->price_micro; /* fits: checked at new */
    sched_id_cpy(p->job_id, r->offer.job_id);
    sched_id_cpy(p->payer, r->offer.requester);
    sched_id_cpy(p->payee, a->provider);
    p->amount_micro = amount;
    p->upto_chunk = a->start_chunk + a->chunks;
    a->paid_tokens = a->tokens;
    a->paid_micro += amount;
    r->paid_micro += amount;
    p->total_tokens = a->paid_tokens;
    p->total_micro = a->paid_micro;
}

static void
req_end(sched_req *r, sched_req_state st, sched_end_reason why, sched_actions *out)
{
    sched_req_attempt *a = req_cur(r);
    sched_action *act = sched_push(out, SCHED_ACT_END);
    sched_id_cpy(act->u.end.job_id, r->offer.job_id);
    if (r->n_att > 0)
        sched_id_cpy(act->u.end.peer, r->att[r->n_att - 1].provider);
    act->u.end.reason = why;
    act->u.end.tokens = r->tokens;
    act->u.end.paid_micro = r->paid_micro;
    if (a)
        a->current = false;
    r->state = st;
    r->end_reason = why;
    r->deadline = SCHED_NO_DEADLINE;
}

/* Leave the current provider and tell it to stop. Nothing is owed to it:
 * every chunk it delivered was paid on the pull that followed it. */
static void
req_leave(sched_req *r, sched_actions *out)
{
    sched_req_attempt *a = req_cur(r);
    if (!a)
        return;
    ARIA_ASSERT(a->paid_tokens == a->tokens);
    sched_action *c = sched_push(out, SCHED_ACT_CANCEL);
    sched_id_cpy(c->u.cancel.job_id, r->offer.job_id);
    sched_id_cpy(c->u.cancel.requester, r->offer.requester);
    sched_id_cpy(c->u.cancel.provider, a->provider);
    a->current = false;
}

/* The best live bid not yet tried, by the winner rule; NULL if none. An
 * expired bid no longer holds a slot at its provider and its price may be
 * stale, so the job is offered again instead. */
static req_bid *
req_best_untried(sched_req *r, uint64_t now)
{
    req_bid *best = NULL;
    for (uint32_t i = 0; i < r->n_bids; i++) {
        req_bid *b = &r->bids[i];
        if (b->tried || b->bid.expires_ms <= now)
            continue;
        if (!best || req_bid_cmp(b, best) < 0)
            best = b;
    }
    return best;
}

static void
req_offer(sched_req *r, uint64_t now, sched_actions *out)
{
    sched_action *a = sched_push(out, SCHED_ACT_OFFER);
    a->u.offer = r->offer;
    r->auctions++;
    r->state = SCHED_REQ_COLLECTING;
    r->deadline = req_after(now, r->offer.bid_window_ms);
}

/* Award the rest of the job to the next live bidder; with none left, offer
 * the rest again (bids expire: a former bidder may now be busy or dearer,
 * and new providers may have come), or end the job. */
static void
req_award_next(sched_req *r, uint64_t now, sched_actions *out)
{
    bool may_award = r->n_att < r->cfg.max_awards;
    req_bid *b = may_award ? req_best_untried(r, now) : NULL;
    if (!b) {
        bool fresh = r->state == SCHED_REQ_COLLECTING; /* this auction's window just closed */
        if (may_award && r->auctions < r->cfg.max_auctions && !(fresh && r->n_bids == 0)) {
            req_offer(r, now, out);
            return;
        }
        req_end(r, SCHED_REQ_FAILED, r->n_bids == 0 ? SCHED_END_NO_BIDS : SCHED_END_NO_PROVIDER,
                out);
        return;
    }
    b->tried = true;
    sched_req_attempt *a = &r->att[r->n_att++];
    memset(a, 0, sizeof *a);
    sched_id_cpy(a->provider, b->bid.provider);
    a->price_micro = b->bid.price_micro;
    a->start_chunk = r->next_chunk;
    a->current = true;

    sched_action *act = sched_push(out, SCHED_ACT_AWARD);
    sched_award *w = &act->u.award;
    sched_id_cpy(w->job_id, r->offer.job_id);
    sched_id_cpy(w->requester, r->offer.requester);
    sched_id_cpy(w->provider, b->bid.provider);
    sched_id_cpy(w->model_id, r->offer.model_id);
    w->price_micro = b->bid.price_micro;
    w->prompt_tokens = r->offer.prompt_tokens;
    w->max_new_tokens = r->offer.max_new_tokens;
    w->chunk_tokens = r->offer.chunk_tokens;
    w->start_chunk = r->next_chunk;
    w->start_token = r->tokens;
    w->attempt = r->n_att - 1;
    r->state = SCHED_REQ_AWARDING;
    r->deadline = req_after(now, r->cfg.award_timeout_ms);
}

static void
req_pull(sched_req *r, sched_req_attempt *a, sched_actions *out)
{
    sched_action *act = sched_push(out, SCHED_ACT_PULL);
    sched_pull *p = &act->u.pull;
    sched_id_cpy(p->job_id, r->offer.job_id);
    sched_id_cpy(p->requester, r->offer.requester);
    sched_id_cpy(p->provider, a->provider);
    p->chunk = r->next_chunk;
    if (a->chunks > 0) {
        p->has_payment = true;
        req_book_payment(r, a, &p->payment);
    }
}

int
sched_req_start(sched_req *r, uint64_t now_ms, sched_actions *out)
{
    uint64_t now = req_now(r, now_ms);
    if (r->state != SCHED_REQ_NEW)
        return aria_errf(ARIA_ESTATE, "scheduler: job already started (state %s)",
                         sched_req_state_name(r->state));
    if (r->offer.expires_ms <= now)
        return aria_errf(ARIA_EINVAL, "scheduler: offer expires at %llu, now is %llu",
                         (unsigned long long)r->offer.expires_ms, (unsigned long long)now);
    req_offer(r, now, out);
    return 0;
}

/* The held bid a new one may replace: an untried expired one, else the
 * untried one the winner rule ranks last; -1 if every bid was tried. */
static int
req_victim(const sched_req *r, uint64_t now)
{
    int w = -1;
    for (uint32_t i = 0; i < r->n_bids; i++) {
        const req_bid *b = &r->bids[i];
        if (b->tried)
            continue;
        if (b->bid.expires_ms <= now)
            return (int)i;
        if (w < 0 || req_bid_cmp(b, &r->bids[w]) > 0)
            w = (int)i;
    }
    return w;
}

int
sched_req_on_bid(sched_req *r, const sched_bid *bid, uint32_t reputation, uint64_t now_ms,
                 sched_actions *out)
{
    ARIA_UNUSED(out);
    uint64_t now = req_now(r, now_ms);
    if (!req_active(r) || !sched_id_eq(bid->job_id, r->offer.job_id))
        return SCHED_IGNORED;
    if (bid->price_micro > r->offer.max_price_micro || bid->expires_ms <= now)
        return SCHED_IGNORED;
    if (bid->tokens_per_s == 0)
        return aria_errf(ARIA_EPROTO, "scheduler: bid with tokens_per_s 0");
    req_bid nb = {.bid = *bid,
                  .reputation = reputation,
                  .tried = false,
                  .latency_ms = sched_bid_latency_ms(bid, r->offer.max_new_tokens),
                  .hash = sched_tiebreak(bid->job_id, bid->provider)};
    for (uint32_t i = 0; i < r->n_bids; i++) {
        req_bid *b = &r->bids[i];
        if (!sched_id_eq(b->bid.provider, bid->provider))
            continue;
        if (b->tried || b->bid.expires_ms > now)
            return SCHED_IGNORED; /* one live bid per provider; never awarded twice */
        *b = nb;                  /* a fresh bid (re-offer) replaces its expired one */
        return 0;
    }
    for (uint32_t i = 0; i < r->n_att; i++)
        if (sched_id_eq(r->att[i].provider, bid->provider))
            return SCHED_IGNORED; /* already tried (its bid was evicted) */
    if (r->n_bids < SCHED_REQ_MAX_BIDS) {
        r->bids[r->n_bids++] = nb;
        return 0;
    }
    /* Full: replace an expired bid, or the worst one if the new one beats
     * it. Tried bids stay so a provider is never awarded twice. */
    int w = req_victim(r, now);
    if (w < 0)
        return SCHED_IGNORED;
    if (r->bids[w].bid.expires_ms > now && req_bid_cmp(&nb, &r->bids[w]) >= 0)
        return SCHED_IGNORED;
    r->bids[w] = nb;
    return 0;
}

int
sched_req_on_award_reply(sched_req *r, const sched_award_reply *reply, uint64_t now_ms,
                         sched_actions *out)
{
    uint64_t now = req_now(r, now_ms);
    sched_req_attempt *a = req_cur(r);
    if (r->state != SCHED_REQ_AWARDING || !a || !sched_id_eq(reply->job_id, r->offer.job_id) ||
        !sched_id_eq(reply->provider, a->provider))
        return SCHED_IGNORED;
    if (!reply->accepted) {
        a->current = false;
        req_award_next(r, now, out);
        return 0;
    }
    a->accepted = true;
    r->state = SCHED_REQ_STREAMING;
    req_pull(r, a, out);
    r->deadline = req_after(now, r->cfg.first_chunk_timeout_ms);
    return 0;
}

int
sched_req_on_chunk(sched_req *r, const sched_chunk *c, uint64_t now_ms, sched_actions *out)
{
    uint64_t now = req_now(r, now_ms);
    sched_req_attempt *a = req_cur(r);
    if (r->state != SCHED_REQ_STREAMING || !a || !sched_id_eq(c->job_id, r->offer.job_id) ||
        !sched_id_eq(c->provider, a->provider) || c->index != r->next_chunk)
        return SCHED_IGNORED; /* duplicate, late, out of order or not from the current one */
    uint32_t ct = r->offer.chunk_tokens;
    uint32_t remaining = r->offer.max_new_tokens - r->tokens;
    uint32_t want = remaining < ct ? remaining : ct;
    if (c->n_tokens > want || (c->n_tokens < want && !c->last)) {
        int rc = aria_errf(ARIA_EPROTO,
                           "scheduler: chunk %u has %u tokens, expected %u%s; provider abandoned",
                           c->index, c->n_tokens, want, c->n_tokens < want ? " or last" : "");
        req_leave(r, out);
        req_award_next(r, now, out);
        return rc;
    }
    a->chunks++;
    a->tokens += c->n_tokens;
    r->tokens += c->n_tokens;
    r->next_chunk++;
    sched_action *o = sched_push(out, SCHED_ACT_OUTPUT);
    o->u.chunk = *c;
    bool finished = c->last || r->tokens == r->offer.max_new_tokens;
    if (!finished) {
        req_pull(r, a, out);
        r->deadline = req_after(now, r->cfg.chunk_timeout_ms);
        return 0;
    }
    sched_action *s = sched_push(out, SCHED_ACT_SETTLE);
    req_book_payment(r, a, &s->u.settle.pay);
    sched_receipt *rc = &s->u.settle.receipt;
    sched_id_cpy(rc->job_id, r->offer.job_id);
    sched_id_cpy(rc->model_id, r->offer.model_id);
    sched_id_cpy(rc->requester, r->offer.requester);
    sched_id_cpy(rc->provider, a->provider);
    rc->tokens_in = r->offer.prompt_tokens + a->start_chunk * ct;
    rc->tokens_out = a->tokens;
    rc->price_micro = a->price_micro;
    rc->total_micro = a->paid_micro;
    memcpy(rc->output_hash, c->output_hash, SCHED_ID_BYTES);
    req_end(r, SCHED_REQ_DONE, SCHED_END_DONE, out);
    return 0;
}

int
sched_req_cancel(sched_req *r, uint64_t now_ms, sched_actions *out)
{
    req_now(r, now_ms);
    if (sched_req_is_over(r))
        return SCHED_IGNORED;
    req_leave(r, out);
    req_end(r, SCHED_REQ_CANCELED, SCHED_END_CANCELED, out);
    return 0;
}

int
sched_req_tick(sched_req *r, uint64_t now_ms, sched_actions *out)
{
    uint64_t now = req_now(r, now_ms);
    if (!req_active(r))
        return 0;
    if (now >= r->offer.expires_ms) {
        req_leave(r, out);
        req_end(r, SCHED_REQ_FAILED, SCHED_END_EXPIRED, out);
        return 0;
    }
    if (now < r->deadline)
        return 0;
    switch (r->state) {
    case SCHED_REQ_COLLECTING: req_award_next(r, now, out); break;
    case SCHED_REQ_AWARDING:  /* no reply: tell it to forget the award, move on */
    case SCHED_REQ_STREAMING: /* silent provider: pay what it delivered, move on */
        req_leave(r, out);
        req_award_next(r, now, out);
        break;
    default: break;
    }
    return 0;
}

uint64_t
sched_req_next_deadline(const sched_req *r)
{
    if (!req_active(r))
        return SCHED_NO_DEADLINE;
    return r->deadline < r->offer.expires_ms ? r->deadline : r->offer.expires_ms;
}

sched_req_state
sched_req_get_state(const sched_req *r)
{
    return r->state;
}

bool
sched_req_is_over(const sched_req *r)
{
    return r->state == SCHED_REQ_DONE || r->state == SCHED_REQ_FAILED ||
           r->state == SCHED_REQ_CANCELED;
}

void
sched_req_get_info(const sched_req *r, sched_req_info *out)
{
    memset(out, 0, sizeof *out);
    out->state = r->state;
    out->end_reason = r->end_reason;
    out->chunk_tokens = r->offer.chunk_tokens;
    out->bids = r->n_bids;
    out->auctions = r->auctions;
    out->attempts = r->n_att;
    out->next_chunk = r->next_chunk;
    out->tokens = r->tokens;
    out->paid_micro = r->paid_micro;
}

int
sched_req_get_attempt(const sched_req *r, uint32_t i, sched_req_attempt *out)
{
    if (i >= r->n_att)
        return aria_errf(ARIA_ERANGE, "scheduler: attempt %u of %u", i, r->n_att);
    *out = r->att[i];
    return 0;
}

int
sched_req_check(const sched_req *r)
{
    uint32_t chunks = 0, tokens = 0, current = 0;
    uint64_t paid = 0;
    uint32_t ct = r->offer.chunk_tokens;
    for (uint32_t i = 0; i < r->n_att; i++) {
        const sched_req_attempt *a = &r->att[i];
        if (a->start_chunk != chunks)
            return aria_errf(ARIA_EINTERNAL, "scheduler: attempt %u starts at chunk %u, not %u", i,
                             a->start_chunk, chunks);
        if (a->paid_tokens > a->tokens)
            return aria_errf(ARIA_EINTERNAL, "scheduler: attempt %u paid %u tokens of %u", i,
                             a->paid_tokens, a->tokens);
        if (a->paid_micro != (uint64_t)a->paid_tokens * a->price_micro)
            return aria_errf(ARIA_EINTERNAL, "scheduler: attempt %u paid %llu for %u tokens", i,
                             (unsigned long long)a->paid_micro, a->paid_tokens);
        if (a->tokens != a->paid_tokens)
            return aria_errf(ARIA_EINTERNAL, "scheduler: attempt %u has %u tokens unpaid", i,
                             a->tokens - a->paid_tokens);
        if (a->current)
            current++;
        chunks += a->chunks;
        tokens += a->tokens;
        paid += a->paid_micro;
    }
    if (chunks != r->next_chunk || tokens != r->tokens || paid != r->paid_micro)
        return aria_errf(ARIA_EINTERNAL, "scheduler: totals disagree with attempts");
    if (r->tokens > r->offer.max_new_tokens)
        return aria_errf(ARIA_EINTERNAL, "scheduler: %u tokens received, max %u", r->tokens,
                         r->offer.max_new_tokens);
    if (r->state != SCHED_REQ_DONE && r->next_chunk > 0 && r->tokens != r->next_chunk * ct)
        return aria_errf(ARIA_EINTERNAL, "scheduler: a short chunk before the end");
    bool want_current = r->state == SCHED_REQ_AWARDING || r->state == SCHED_REQ_STREAMING;
    if (current != (want_current ? 1u : 0u))
        return aria_errf(ARIA_EINTERNAL, "scheduler: %u current attempts in state %s", current,
                         sched_req_state_name(r->state));
    if (r->paid_micro > sched_mul_sat(r->tokens, r->offer.max_price_micro))
        return aria_errf(ARIA_EINTERNAL, "scheduler: paid more than tokens * max price");
    return 0;
}
