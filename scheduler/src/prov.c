/*
 * prov.c — the provider machine for one node: bid (model, capacity, price
 * policy with a load factor, never above the max), reserve a slot for the
 * bid's lifetime, accept or refuse awards, compute at most one chunk ahead
 * of the requester's pulls, stop when payment lags, release slots.
 *
 * Invariants (checked by sched_prov_check):
 *  - Running jobs (running + finishing) never exceed capacity; slots in use
 *    (reserved + running + finishing) never exceed capacity * overbook_pct
 *    / 100 (= capacity by default: every bid holds a real slot).
 *  - Per job, the worker is asked for chunk next_send only: at most one
 *    chunk is computed beyond the last chunk pulled.
 *  - Chunk i is sent only after a pull of i whose payment covers every
 *    chunk delivered before i, so at most one delivered chunk is unpaid.
 */
#include "sched_int.h"

typedef struct pchunk {
    uint32_t index;
    uint32_t n_tokens;
    bool last;
    uint8_t hash[SCHED_ID_BYTES];
} pchunk;

typedef struct pslot {
    sched_slot_state state;
    uint8_t job_id[SCHED_ID_BYTES];
    uint8_t requester[SCHED_ID_BYTES];
    uint8_t model_id[SCHED_ID_BYTES];
    uint64_t price;
    uint32_t max_new;
    uint32_t chunk_tokens;
    uint32_t start_chunk;
    uint32_t next_send;
    uint32_t delivered_chunks;
    uint32_t delivered_tokens;
    uint64_t paid_micro;
    bool computing; /* worker busy on chunk next_send */
    bool ready;     /* chunk next_send computed, held in `held` */
    bool pulled;    /* chunk next_send pulled (with enough payment) */
    pchunk held;
    bool have_sent; /* `sent` holds the last chunk sent, for resends */
    pchunk sent;
    uint64_t deadline;
} pslot;

struct sched_prov {
    sched_prov_config cfg;
    uint64_t now;
    uint32_t used;    /* slots not free */
    uint32_t running; /* slots running or finishing */
    uint32_t n_slots; /* capacity * overbook_pct / 100, rounded up */
    pslot slots[];    /* n_slots */
};

void
sched_prov_config_default(sched_prov_config *c)
{
    memset(c, 0, sizeof *c);
    c->capacity = 4;
    c->overbook_pct = 100;
    c->load_factor_pct = 100;
    c->tokens_per_s = 10;
    c->bid_grace_ms = 2000;
    c->pull_timeout_ms = 30000;
    c->settle_timeout_ms = 30000;
}

int
sched_prov_new(const sched_prov_config *cfg, sched_prov **out)
{
    *out = NULL;
    if (cfg->capacity < 1 || cfg->capacity > SCHED_PROV_MAX_CAPACITY)
        return aria_errf(ARIA_EINVAL, "scheduler: provider capacity %u not in 1..%d", cfg->capacity,
                         SCHED_PROV_MAX_CAPACITY);
    uint32_t ob = cfg->overbook_pct ? cfg->overbook_pct : 100;
    if (ob < 100 || ob > 1000)
        return aria_errf(ARIA_EINVAL, "scheduler: overbook_pct %u not in 100..1000", ob);
    if (cfg->n_models > SCHED_PROV_MAX_MODELS)
        return aria_errf(ARIA_EINVAL, "scheduler: %u models served, at most %d", cfg->n_models,
                         SCHED_PROV_MAX_MODELS);
    if (cfg->tokens_per_s == 0)
        return aria_errf(ARIA_EINVAL, "scheduler: provider tokens_per_s is 0");
    if (cfg->pull_timeout_ms == 0 || cfg->settle_timeout_ms == 0)
        return aria_errf(ARIA_EINVAL, "scheduler: provider timeouts must be > 0 ms");
    if (cfg->load_factor_pct > 10000)
        return aria_errf(ARIA_EINVAL, "scheduler: load_factor_pct %u above 10000",
                         cfg->load_factor_pct);
    uint32_t n_slots = (uint32_t)(((uint64_t)cfg->capacity * ob + 99) / 100);
    sched_prov *p = aria_calloc(1, sizeof *p + (size_t)n_slots * sizeof(pslot));
    if (!p)
        return aria_errf(ARIA_ENOMEM, "scheduler: out of memory for a provider");
    p->cfg = *cfg;
    p->cfg.overbook_pct = ob;
    p->n_slots = n_slots;
    *out = p;
    return 0;
}

void
sched_prov_free(sched_prov *p)
{
    aria_free(p);
}

static uint64_t
prov_now(sched_prov *p, uint64_t now_ms)
{
    if (now_ms > p->now)
        p->now = now_ms;
    return p->now;
}

static bool
prov_serves(const sched_prov *p, const uint8_t *model)
{
    for (uint32_t i = 0; i < p->cfg.n_models; i++)
        if (sched_id_eq(p->cfg.models[i], model))
            return true;
    return false;
}

static pslot *
prov_find(sched_prov *p, const uint8_t *job_id)
{
    for (uint32_t i = 0; i < p->n_slots; i++)
        if (p->slots[i].state != SCHED_SLOT_FREE && sched_id_eq(p->slots[i].job_id, job_id))
            return &p->slots[i];
    return NULL;
}

static pslot *
prov_alloc(sched_prov *p)
{
    for (uint32_t i = 0; i < p->n_slots; i++)
        if (p->slots[i].state == SCHED_SLOT_FREE) {
            memset(&p->slots[i], 0, sizeof p->slots[i]);
            p->used++;
            return &p->slots[i];
        }
    return NULL;
}

uint64_t
sched_prov_price(const sched_prov *p)
{
    uint64_t base = p->cfg.base_price_micro;
    /* ceil(base * pct * used / (100 * cap)) with saturation */
    uint64_t num = sched_mul_sat(sched_mul_sat(base, p->cfg.load_factor_pct), p->used);
    uint64_t den = 100ull * p->cfg.capacity;
    uint64_t rise = num == UINT64_MAX ? UINT64_MAX : num / den + (num % den != 0);
    return sched_add_sat(base, rise);
}

static void
prov_release(sched_prov *p, pslot *s, sched_end_reason why, sched_actions *out)
{
    sched_action *a = sched_push(out, SCHED_ACT_RELEASE);
    sched_id_cpy(a->u.end.job_id, s->job_id);
    sched_id_cpy(a->u.end.peer, s->requester);
    a->u.end.reason = why;
    a->u.end.tokens = s->delivered_tokens;
    a->u.end.paid_micro = s->paid_micro;
    if (s->state != SCHED_SLOT_RESERVED) {
        ARIA_ASSERT(p->running > 0);
        p->running--;
    }
    s->state = SCHED_SLOT_FREE;
    ARIA_ASSERT(p->used > 0);
    p->used--;
}

int
sched_prov_on_offer(sched_prov *p, const sched_offer *o, uint64_t now_ms, sched_actions *out)
{
    uint64_t now = prov_now(p, now_ms);
    if (o->expires_ms <= now)
        return SCHED_NOBID_EXPIRED;
    if (!prov_serves(p, o->model_id))
        return SCHED_NOBID_MODEL;
    if (o->max_new_tokens == 0 ||
        sched_mul_sat(o->max_price_micro, o->max_new_tokens) == UINT64_MAX)
        return SCHED_NOBID_INVALID;
    if (prov_find(p, o->job_id))
        return SCHED_NOBID_DUPLICATE;
    if (p->used >= p->n_slots || p->running >= p->cfg.capacity)
        return SCHED_NOBID_CAPACITY;
    uint64_t price = sched_prov_price(p);
    if (price > o->max_price_micro)
        return SCHED_NOBID_PRICE;
    pslot *s = prov_alloc(p);
    ARIA_ASSERT(s != NULL);
    s->state = SCHED_SLOT_RESERVED;
    sched_id_cpy(s->job_id, o->job_id);
    sched_id_cpy(s->requester, o->requester);
    sched_id_cpy(s->model_id, o->model_id);
    s->price = price;
    uint32_t window = o->bid_window_ms ? o->bid_window_ms : 500;
    uint64_t exp = sched_add_sat(now, (uint64_t)window + p->cfg.bid_grace_ms);
    s->deadline = exp < o->expires_ms ? exp : o->expires_ms;

    sched_action *a = sched_push(out, SCHED_ACT_BID);
    sched_id_cpy(a->u.bid.job_id, o->job_id);
    sched_id_cpy(a->u.bid.provider, p->cfg.node_id);
    a->u.bid.price_micro = price;
    a->u.bid.tokens_per_s = p->cfg.tokens_per_s;
    a->u.bid.queue_depth = p->running;
    a->u.bid.expires_ms = s->deadline;
    return 0;
}

static void
prov_compute(pslot *s, bool first, sched_actions *out)
{
    sched_action *a = sched_push(out, SCHED_ACT_COMPUTE);
    sched_id_cpy(a->u.compute.job_id, s->job_id);
    a->u.compute.chunk = s->next_send;
    a->u.compute.start_token = s->next_send * s->chunk_tokens;
    uint32_t left = s->max_new - a->u.compute.start_token;
    a->u.compute.max_tokens = left < s->chunk_tokens ? left : s->chunk_tokens;
    a->u.compute.first = first;
    s->computing = true;
}

static void
prov_reply(const sched_prov *p, const uint8_t *job_id, bool ok, sched_refuse why,
           sched_actions *out)
{
    sched_action *a = sched_push(out, SCHED_ACT_AWARD_REPLY);
    sched_id_cpy(a->u.reply.job_id, job_id);
    sched_id_cpy(a->u.reply.provider, p->cfg.node_id);
    a->u.reply.accepted = ok;
    a->u.reply.reason = ok ? SCHED_REFUSE_NONE : why;
}

int
sched_prov_on_award(sched_prov *p, const sched_award *w, uint64_t now_ms, sched_actions *out)
{
    uint64_t now = prov_now(p, now_ms);
    if (!sched_id_eq(w->provider, p->cfg.node_id))
        return SCHED_IGNORED;
    if (w->max_new_tokens == 0 || w->chunk_tokens == 0 ||
        (uint64_t)w->start_chunk * w->chunk_tokens != w->start_token ||
        w->start_token >= w->max_new_tokens ||
        sched_mul_sat(w->price_micro, w->max_new_tokens) == UINT64_MAX)
        return aria_errf(ARIA_EPROTO,
                         "scheduler: award with max_new %u, chunk_tokens %u, start chunk %u, "
                         "start token %u is inconsistent",
                         w->max_new_tokens, w->chunk_tokens, w->start_chunk, w->start_token);
    pslot *s = prov_find(p, w->job_id);
    if (s && !sched_id_eq(s->requester, w->requester))
        return SCHED_IGNORED; /* someone else's job id: not ours to touch */
    if (s && s->state != SCHED_SLOT_RESERVED) {
        if (s->start_chunk != w->start_chunk)
            return SCHED_IGNORED;
        prov_reply(p, w->job_id, true, SCHED_REFUSE_NONE, out); /* repeated award */
        return 0;
    }
    if (!prov_serves(p, w->model_id)) {
        prov_reply(p, w->job_id, false, SCHED_REFUSE_MODEL, out);
        return 0;
    }
    if (s) {
        if (p->running >= p->cfg.capacity) { /* overbooked: every real slot is busy */
            prov_release(p, s, SCHED_END_BID_LAPSED, out);
            prov_reply(p, w->job_id, false, SCHED_REFUSE_CAPACITY, out);
            return 0;
        }
        if (w->price_micro < s->price || !sched_id_eq(s->model_id, w->model_id)) {
            /* not the terms we bid on: refuse and drop the reservation */
            sched_refuse why = w->price_micro < s->price ? SCHED_REFUSE_PRICE : SCHED_REFUSE_MODEL;
            prov_release(p, s, SCHED_END_BID_LAPSED, out);
            prov_reply(p, w->job_id, false, why, out);
            return 0;
        }
    } else {
        /* No live reservation: take it only on the terms we would bid now. */
        if (p->used >= p->n_slots || p->running >= p->cfg.capacity) {
            prov_reply(p, w->job_id, false, SCHED_REFUSE_CAPACITY, out);
            return 0;
        }
        if (w->price_micro < sched_prov_price(p)) {
            prov_reply(p, w->job_id, false, SCHED_REFUSE_PRICE, out);
            return 0;
        }
        s = prov_alloc(p);
        ARIA_ASSERT(s != NULL);
        sched_id_cpy(s->job_id, w->job_id);
        sched_id_cpy(s->requester, w->requester);
        sched_id_cpy(s->model_id, w->model_id);
    }
    s->state = SCHED_SLOT_RUNNING;
    p->running++;
    s->price = w->price_micro;
    s->max_new = w->max_new_tokens;
    s->chunk_tokens = w->chunk_tokens;
    s->start_chunk = w->start_chunk;
    s->next_send = w->start_chunk;
    s->deadline = sched_add_sat(now, p->cfg.pull_timeout_ms);
    prov_reply(p, w->job_id, true, SCHED_REFUSE_NONE, out);
    prov_compute(s, true, out);
    return 0;
}

static void
prov_emit_chunk(const sched_prov *p, const pslot *s, const pchunk *c, sched_actions *out)
{
    sched_action *a = sched_push(out, SCHED_ACT_CHUNK);
    sched_id_cpy(a->u.chunk.job_id, s->job_id);
    sched_id_cpy(a->u.chunk.provider, p->cfg.node_id);
    a->u.chunk.index = c->index;
    a->u.chunk.n_tokens = c->n_tokens;
    a->u.chunk.last = c->last;
    memcpy(a->u.chunk.output_hash, c->hash, SCHED_ID_BYTES);
}

/* Chunk next_send is both computed and paid-for-pulled: send it, then
 * compute the next one ahead (or wait for the final payment). */
static void
prov_send(sched_prov *p, pslot *s, uint64_t now, sched_actions *out)
{
    prov_emit_chunk(p, s, &s->held, out);
    s->sent = s->held;
    s->have_sent = true;
    s->ready = false;
    s->pulled = false;
    s->delivered_chunks++;
    s->delivered_tokens += s->held.n_tokens;
    s->next_send++;
    if (s->held.last) {
        s->state = SCHED_SLOT_FINISHING;
        s->deadline = sched_add_sat(now, p->cfg.settle_timeout_ms);
        return;
    }
    prov_compute(s, false, out);
    s->deadline = sched_add_sat(now, p->cfg.pull_timeout_ms);
}

int
sched_prov_on_pull(sched_prov *p, const sched_pull *pl, uint64_t now_ms, sched_actions *out)
{
    uint64_t now = prov_now(p, now_ms);
    pslot *s = prov_find(p, pl->job_id);
    if (!s || s->state == SCHED_SLOT_RESERVED || !sched_id_eq(pl->requester, s->requester) ||
        !sched_id_eq(pl->provider, p->cfg.node_id))
        return SCHED_IGNORED;
    if (pl->has_payment) {
        if (!sched_id_eq(pl->payment.job_id, s->job_id) ||
            !sched_id_eq(pl->payment.payer, s->requester) ||
            !sched_id_eq(pl->payment.payee, p->cfg.node_id))
            return aria_errf(ARIA_EPROTO,
                             "scheduler: pull %u carries a payment for another "
                             "job or payee",
                             pl->chunk);
        if (pl->payment.total_micro > s->paid_micro)
            s->paid_micro = pl->payment.total_micro;
    }
    if (s->have_sent && pl->chunk == s->sent.index) {
        prov_emit_chunk(p, s, &s->sent, out); /* the chunk got lost or the pull repeated */
        return 0;
    }
    if (s->state != SCHED_SLOT_RUNNING || pl->chunk != s->next_send || s->pulled)
        return SCHED_IGNORED;
    uint64_t owed = (uint64_t)s->delivered_tokens * s->price;
    if (s->paid_micro < owed) {
        prov_release(p, s, SCHED_END_UNPAID, out);
        return 0;
    }
    s->pulled = true;
    if (s->ready)
        prov_send(p, s, now, out);
    else
        s->deadline = SCHED_NO_DEADLINE; /* the worker owes us the chunk now */
    return 0;
}

int
sched_prov_on_computed(sched_prov *p, const uint8_t job_id[SCHED_ID_BYTES], uint32_t chunk,
                       uint32_t n_tokens, bool last, const uint8_t output_hash[SCHED_ID_BYTES],
                       uint64_t now_ms, sched_actions *out)
{
    uint64_t now = prov_now(p, now_ms);
    pslot *s = prov_find(p, job_id);
    if (!s || s->state != SCHED_SLOT_RUNNING || !s->computing || chunk != s->next_send)
        return SCHED_IGNORED; /* a result for a job we released or a chunk not asked for */
    uint32_t start = chunk * s->chunk_tokens;
    uint32_t left = s->max_new - start;
    uint32_t want = left < s->chunk_tokens ? left : s->chunk_tokens;
    if (n_tokens > want || (n_tokens < want && !last))
        return aria_errf(ARIA_EINVAL, "scheduler: worker returned %u tokens for chunk %u, asked %u",
                         n_tokens, chunk, want);
    s->computing = false;
    s->ready = true;
    s->held.index = chunk;
    s->held.n_tokens = n_tokens;
    s->held.last = last || n_tokens == left;
    if (output_hash)
        memcpy(s->held.hash, output_hash, SCHED_ID_BYTES);
    else
        memset(s->held.hash, 0, SCHED_ID_BYTES);
    if (s->pulled)
        prov_send(p, s, now, out);
    return 0;
}

int
sched_prov_on_payment(sched_prov *p, const sched_payment *pay, uint64_t now_ms, sched_actions *out)
{
    prov_now(p, now_ms);
    pslot *s = prov_find(p, pay->job_id);
    if (!s || s->state == SCHED_SLOT_RESERVED || !sched_id_eq(pay->payer, s->requester) ||
        !sched_id_eq(pay->payee, p->cfg.node_id))
        return SCHED_IGNORED;
    if (pay->total_micro > s->paid_micro)
        s->paid_micro = pay->total_micro;
    if (s->state == SCHED_SLOT_FINISHING &&
        s->paid_micro >= (uint64_t)s->delivered_tokens * s->price)
        prov_release(p, s, SCHED_END_DONE, out);
    return 0;
}

int
sched_prov_on_cancel(sched_prov *p, const sched_cancel *c, uint64_t now_ms, sched_actions *out)
{
    prov_now(p, now_ms);
    pslot *s = prov_find(p, c->job_id);
    if (!s || !sched_id_eq(c->requester, s->requester) || !sched_id_eq(c->provider, p->cfg.node_id))
        return SCHED_IGNORED;
    prov_release(p, s, SCHED_END_CANCELED, out);
    return 0;
}

int
sched_prov_tick(sched_prov *p, uint64_t now_ms, sched_actions *out)
{
    uint64_t now = prov_now(p, now_ms);
    for (uint32_t i = 0; i < p->n_slots && out->n < SCHED_ACTIONS_MAX; i++) {
        pslot *s = &p->slots[i];
        if (s->state == SCHED_SLOT_FREE || s->deadline > now)
            continue;
        switch (s->state) {
        case SCHED_SLOT_RESERVED: prov_release(p, s, SCHED_END_BID_LAPSED, out); break;
        case SCHED_SLOT_RUNNING: prov_release(p, s, SCHED_END_UNPAID, out); break;
        case SCHED_SLOT_FINISHING: prov_release(p, s, SCHED_END_UNSETTLED, out); break;
        default: break;
        }
    }
    return 0;
}

uint64_t
sched_prov_next_deadline(const sched_prov *p)
{
    uint64_t d = SCHED_NO_DEADLINE;
    for (uint32_t i = 0; i < p->n_slots; i++)
        if (p->slots[i].state != SCHED_SLOT_FREE && p->slots[i].deadline < d)
            d = p->slots[i].deadline;
    return d;
}

uint32_t
sched_prov_used(const sched_prov *p)
{
    return p->used;
}

uint32_t
sched_prov_running(const sched_prov *p)
{
    return p->running;
}

int
sched_prov_get_job(const sched_prov *p, const uint8_t job_id[SCHED_ID_BYTES], sched_prov_job *out)
{
    pslot *s = prov_find((sched_prov *)p, job_id);
    if (!s)
        return ARIA_ENOTFOUND;
    memset(out, 0, sizeof *out);
    out->state = s->state;
    out->price_micro = s->price;
    out->start_chunk = s->start_chunk;
    out->next_send = s->next_send;
    out->delivered_chunks = s->delivered_chunks;
    out->delivered_tokens = s->delivered_tokens;
    out->paid_micro = s->paid_micro;
    out->computing = s->computing;
    out->ready = s->ready;
    out->pulled = s->pulled;
    out->deadline = s->deadline;
    return 0;
}

int
sched_prov_check(const sched_prov *p)
{
    uint32_t used = 0, running = 0;
    for (uint32_t i = 0; i < p->n_slots; i++) {
        const pslot *s = &p->slots[i];
        if (s->state == SCHED_SLOT_FREE)
            continue;
        used++;
        if (s->state == SCHED_SLOT_RESERVED)
            continue;
        running++;
        if (s->computing && s->ready)
            return aria_errf(ARIA_EINTERNAL, "scheduler: slot %u computing and ready", i);
        if (s->state == SCHED_SLOT_FINISHING && (s->computing || s->ready || s->pulled))
            return aria_errf(ARIA_EINTERNAL, "scheduler: slot %u works after its last chunk", i);
        /* ahead by at most one: the worker only ever holds chunk next_send,
         * and chunk next_send - 1 was pulled (or it is the first chunk) */
        if (s->next_send != s->start_chunk + s->delivered_chunks)
            return aria_errf(ARIA_EINTERNAL, "scheduler: slot %u next_send %u != %u + %u", i,
                             s->next_send, s->start_chunk, s->delivered_chunks);
        uint64_t owed = (uint64_t)s->delivered_tokens * s->price;
        uint64_t one = (uint64_t)s->chunk_tokens * s->price;
        if (s->paid_micro < owed && owed - s->paid_micro > one)
            return aria_errf(ARIA_EINTERNAL, "scheduler: slot %u has %llu unpaid, over one chunk",
                             i, (unsigned long long)(owed - s->paid_micro));
    }
    if (used != p->used || used > p->n_slots)
        return aria_errf(ARIA_EINTERNAL, "scheduler: %u slots used, counter %u, slots %u", used,
                         p->used, p->n_slots);
    if (running != p->running || running > p->cfg.capacity)
        return aria_errf(ARIA_EINTERNAL, "scheduler: %u jobs running, counter %u, capacity %u",
                         running, p->running, p->cfg.capacity);
    return 0;
}
