/*
 * net.c — the node's network loop: wire + scheduler + ledger joined (see
 * net.h and docs/protocol.md "Jobs" for the message mapping).
 *
 * Mapping of scheduler actions to the wire:
 *   OFFER        gossip JOB_OFFER (wall-clock expiry)
 *   BID          request BID to the offer's requester service address (ACK)
 *   AWARD        request AWARD with the job request sealed to the provider;
 *                the ACK answers it (code 0 = accepted)
 *   PULL         request CHUNK_REQUEST{index, payment = signed ledger send};
 *                the reply is the CHUNK (output sealed to the requester)
 *   SETTLE       request CHUNK_REQUEST{index = one past the last chunk,
 *                payment = the send carrying the receipt}; ACK
 *   CANCEL       request CHUNK_REQUEST{index = 0xFFFFFFFF}; ACK
 * Every ledger entry a node signs is also gossiped (LEDGER_ENTRIES), so a
 * payment reaches the payee even when a direct message is lost.
 *
 * Invariants: only the loop thread touches wire, scheduler machines and job
 * tables; the ledger only under the lock; a provider counts a payment entry
 * once (by entry id) and only if it is a valid send from the requester to
 * itself that the ledger accepted (applied, duplicate or held for its
 * predecessor); a requester pays exactly what the scheduler says, each
 * payment a real ledger send it applied to its own ledger first.
 */
#include "net.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "jobwire.h"
#include "scheduler.h"
#include "wire.h"

#define NET_MAX_RJOBS      256
#define NET_MAX_PJOBS      64
#define NET_MAX_TAGS       128
#define NET_PAID_RING      4096
#define NET_SYNC_MS        3000
#define NET_CANCEL_IDX     0xFFFFFFFFu
#define NET_PEERS_SAVE_MS  1000 /* see peers_save */
#define NET_PEERS_FILE_MAX 64
/* Losing bidders told at once (the others' reservations lapse): each cancel
 * is a request on its own connection, and wire caches 32 of them. */
#define NET_RELEASE_MAX 3
/* Bidders an offer should draw when many providers serve its model. */
#define NET_BIDDERS_WANTED 8
#define NET_MODEL_PEERS_MS 1000

/* ---- queued work from other threads ---- */
typedef enum { CMD_SUBMIT = 1, CMD_PUBLISH, CMD_INFO } cmd_kind;
typedef struct cmd {
    struct cmd *next;
    cmd_kind kind;
    /* SUBMIT */
    node_stream *s;
    aria_buf reqjson; /* job request encoding (jobwire) */
    char model[WIRE_STR_MAX];
    uint32_t max_tokens, prompt_tokens;
    uint64_t max_price;
    /* PUBLISH */
    aria_buf bytes;
    /* INFO */
    const char *what;
    json_t *out;
    int rc;
    bool done;
} cmd;

/* ---- requester jobs ---- */
typedef struct bidder {
    uint8_t id[32];
    char addr[WIRE_ADDR_MAX];
} bidder;

typedef struct rjob {
    bool used;
    uint8_t job_id[32];
    sched_req *r;
    node_stream *s;
    aria_buf reqjson;
    char model[WIRE_STR_MAX];
    uint64_t max_price, reserved;
    uint32_t max_tokens;
    int32_t *ids; /* output received so far */
    uint32_t n_ids, cap_ids;
    wallet_hasher att_hash; /* ids received from the current provider */
    bidder bidders[SCHED_REQ_MAX_BIDS];
    int n_bidders;
    /* the chunk being accepted (valid during sched_req_on_chunk) */
    const uint8_t *cur_out;
    size_t cur_out_len;
    jobwire_receipt cur_receipt;
    bool have_receipt;
    jobwire_receipt final_receipt;
    uint64_t final_price;
    bool released_losers;
} rjob;

/* ---- provider jobs ---- */
typedef struct pjob {
    bool used;
    uint8_t job_id[32];
    uint8_t requester[32];
    uint8_t req_enc[32];
    char model[WIRE_STR_MAX];
    uint64_t price;
    uint32_t chunk_tokens;
    node_pjob *pj;
    uint32_t want_chunk;  /* the chunk the worker is producing next */
    uint64_t pending_req; /* pull waiting for its chunk (0 = none) */
    uint32_t pending_idx;
    uint64_t paid;       /* micro-credits validated for this job */
    uint64_t held_value; /* of which in entries the ledger held (gap in the payer's chain) */
    uint32_t tokens;     /* delivered */
    /* encoded CHUNK bodies: the computed-not-sent one and the last sent */
    uint8_t *ready_body, *sent_body;
    size_t ready_len, sent_len;
    uint32_t ready_idx, sent_idx;
} pjob;

typedef enum { TAG_BID = 1, TAG_AWARD, TAG_PULL, TAG_SETTLE, TAG_CANCEL, TAG_SYNC } tag_kind;
typedef struct tag {
    bool used;
    tag_kind kind;
    uint8_t job_id[32];
    uint8_t provider[32];
    uint32_t index;
} tag;

struct node_net {
    node_net_opts o;
    node_config cfg;
    uint8_t id[32];
    uint8_t network[32];
    wire_node *w;
    sched_prov *prov;
    char model_id[WIRE_STR_MAX]; /* served model ("" = none) */
    uint8_t model_hash[32];
    int efd; /* wakes the loop for queued commands and worker chunks */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    cmd *qhead, *qtail;
    rjob rjobs[NET_MAX_RJOBS];
    pjob pjobs[NET_MAX_PJOBS];
    tag tags[NET_MAX_TAGS];
    uint8_t paid_ids[NET_PAID_RING][32]; /* payment entries already counted */
    size_t paid_n, paid_next;
    uint64_t reserved_total;
    uint64_t next_sync, next_peers_save;
    size_t peers_saved;
    bool shut;
    bool announced_chain;
    size_t model_peers; /* peers that serve this node's model (cached) */
    uint64_t next_model_peers;
    _Atomic size_t peers;
    struct {
        _Atomic uint64_t v[sizeof(node_net_stats) / sizeof(uint64_t)];
    } st;
};

#define STAT(n, f, d)                                                                              \
    atomic_fetch_add(&(n)->st.v[offsetof(node_net_stats, f) / sizeof(uint64_t)], (uint64_t)(d))

static uint64_t
now_ms(void)
{
    return aria_mono_ms();
}

static void
model_hash(const char *model, uint8_t out[32])
{
    wallet_hash(out, model, strlen(model));
}

static void
wake(node_net *n)
{
    uint64_t one = 1;
    ssize_t k = write(n->efd, &one, sizeof one);
    (void)k;
}

static void
wake_cb(void *ctx)
{
    wake(ctx);
}

/* ------------------------------------------------------------------ */
/* Ledger helpers (under the lock)                                      */
/* ------------------------------------------------------------------ */

static void
publish_entries(node_net *n, const uint8_t *const *items, const size_t *lens, size_t k)
{
    if (!k)
        return;
    wire_bytes wb[16];
    size_t m = k < 16 ? k : 16;
    for (size_t i = 0; i < m; i++)
        wb[i].p = items[i], wb[i].n = lens[i];
    wire_msg msg = {.type = WIRE_T_LEDGER_ENTRIES};
    msg.u.entries.items = wb;
    msg.u.entries.n = m;
    uint8_t *body = NULL;
    size_t bl = 0;
    if (wire_msg_encode(&msg, &body, &bl) == 0) {
        int rc = wire_node_publish(n->w, WIRE_T_LEDGER_ENTRIES, body, bl, NULL);
        if (rc && rc != ARIA_EAGAIN)
            ARIA_LOG_W("N0101", "net", "gossip of a ledger entry failed: %s", aria_err_msg());
    }
    aria_free(body);
}

static void
publish_one(node_net *n, const uint8_t *p, size_t len)
{
    publish_entries(n, &p, &len, 1);
}

/* Sign a send of `amount` to `to` (with an optional receipt), apply it and
 * gossip it. The bytes go to *out (caller's buffer). */
static int
sign_send(node_net *n, const uint8_t to[32], uint64_t amount, const ledger_receipt *rc_opt,
          aria_buf *out)
{
    pthread_mutex_lock(n->o.lock);
    ledger_account_info ai;
    int rc = ledger_account(n->o.led, n->id, &ai);
    if (!rc && ai.frozen_seq != LEDGER_SEQ_NONE)
        rc = aria_errf(ARIA_EPERM, "this node's account is frozen by a fork");
    if (!rc && amount > ai.balance)
        rc = aria_errf(ARIA_EFUNDS, "payment of %llu exceeds the balance %llu",
                       (unsigned long long)amount, (unsigned long long)ai.balance);
    if (!rc) {
        ledger_entry e;
        memset(&e, 0, sizeof e);
        memcpy(e.network, n->network, 32);
        e.seq = ai.chain_len;
        memcpy(e.prev, ai.head, 32);
        e.created_ms = aria_wall_ms();
        e.kind = LEDGER_KIND_SEND;
        e.amount = amount;
        memcpy(e.to, to, 32);
        if (rc_opt) {
            e.has_receipt = true;
            e.receipt = *rc_opt;
        }
        rc = ledger_entry_sign(&e, n->o.wal, out, NULL);
        ledger_result res;
        if (!rc)
            rc = ledger_apply(n->o.led, out->data, out->len, &res);
    }
    pthread_mutex_unlock(n->o.lock);
    if (!rc)
        publish_one(n, out->data, out->len);
    return rc;
}

typedef struct fork_find {
    uint8_t account[32];
    uint64_t seq;
    node_net *n;
    int found;
} fork_find;

static int
fork_cb(void *ctx, const uint8_t account[32], uint64_t seq, const uint8_t *a, size_t a_len,
        const uint8_t *b, size_t b_len)
{
    fork_find *f = ctx;
    if (memcmp(account, f->account, 32) || seq != f->seq)
        return 0;
    aria_buf body;
    aria_buf_init(&body, 4 * LEDGER_ENTRY_MAX_BYTES);
    if (jobwire_fork_proof_encode(a, a_len, b, b_len, &body) == 0) {
        int rc = wire_node_publish(f->n->w, WIRE_T_FORK_PROOF, body.data, body.len, NULL);
        if (rc && rc != ARIA_EAGAIN)
            ARIA_LOG_W("N0103", "net", "gossip of a fork proof failed: %s", aria_err_msg());
    }
    aria_buf_fini(&body);
    f->found = 1;
    return 1;
}

/* A fork was found by applying `bytes`: tell the network (the proof is
 * portable: every node that applies both entries freezes the account). */
static void
publish_fork(node_net *n, const uint8_t *bytes, size_t len)
{
    ledger_entry e;
    if (ledger_entry_decode(bytes, len, &e, NULL))
        return;
    fork_find f;
    memcpy(f.account, e.account, 32);
    f.seq = e.seq;
    f.n = n;
    f.found = 0;
    pthread_mutex_lock(n->o.lock);
    (void)!ledger_forks(n->o.led, fork_cb, &f);
    pthread_mutex_unlock(n->o.lock);
    char acct[65];
    aria_hex_encode(acct, sizeof acct, e.account, 32);
    ARIA_LOG_W("N0104", "net", "fork of account %.16s at seq %llu: account frozen%s", acct,
               (unsigned long long)e.seq, f.found ? ", proof gossiped" : "");
}

/* True if the ledger froze `account` (a fork proof is known). */
static bool
account_frozen(node_net *n, const uint8_t account[32])
{
    ledger_account_info ai;
    pthread_mutex_lock(n->o.lock);
    int rc = ledger_account(n->o.led, account, &ai);
    pthread_mutex_unlock(n->o.lock);
    return rc == 0 && ai.frozen_seq != LEDGER_SEQ_NONE;
}

/* Apply entries from a peer; gossip fork proofs found. */
static void
apply_from_peer(node_net *n, const wire_bytes *items, size_t k)
{
    if (!k)
        return;
    const uint8_t *ptrs[WIRE_LIST_MAX];
    size_t lens[WIRE_LIST_MAX];
    ledger_result res[WIRE_LIST_MAX];
    if (k > WIRE_LIST_MAX)
        k = WIRE_LIST_MAX;
    for (size_t i = 0; i < k; i++)
        ptrs[i] = items[i].p, lens[i] = items[i].n;
    pthread_mutex_lock(n->o.lock);
    int rc = ledger_apply_batch(n->o.led, ptrs, lens, k, res);
    pthread_mutex_unlock(n->o.lock);
    if (rc) {
        ARIA_LOG_W("N0102", "net", "applying %zu entries failed: %s", k, aria_err_msg());
        return;
    }
    for (size_t i = 0; i < k; i++) {
        if (res[i].reason == LEDGER_APPLIED)
            STAT(n, entries_applied, 1);
        else if (res[i].reason != LEDGER_HELD && res[i].reason != LEDGER_DUPLICATE)
            STAT(n, entries_rejected, 1);
        if (res[i].reason == LEDGER_FORK) {
            STAT(n, forks_seen, 1);
            publish_fork(n, items[i].p, items[i].n);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Tags (request cookies)                                               */
/* ------------------------------------------------------------------ */

static tag *
tag_new(node_net *n, tag_kind k, const uint8_t job[32], const uint8_t prov[32], uint32_t idx)
{
    for (size_t i = 0; i < NET_MAX_TAGS; i++)
        if (!n->tags[i].used) {
            tag *t = &n->tags[i];
            memset(t, 0, sizeof *t);
            t->used = true;
            t->kind = k;
            if (job)
                memcpy(t->job_id, job, 32);
            if (prov)
                memcpy(t->provider, prov, 32);
            t->index = idx;
            return t;
        }
    return NULL;
}

static int
request(node_net *n, const char *addr, const uint8_t expect[32], uint32_t type, const wire_msg *m,
        uint64_t timeout, tag_kind k, const uint8_t job[32], const uint8_t prov[32], uint32_t idx)
{
    uint8_t *body = NULL;
    size_t bl = 0;
    int rc = wire_msg_encode(m, &body, &bl);
    if (rc)
        return rc;
    tag *t = tag_new(n, k, job, prov, idx);
    if (!t) {
        aria_free(body);
        return aria_errf(ARIA_EFULL, "net: too many requests in flight");
    }
    uint64_t rid;
    rc = wire_node_request(n->w, addr, expect, type, body, bl, timeout, t, &rid);
    aria_free(body);
    if (rc)
        t->used = false;
    return rc;
}

static int
reply_msg(node_net *n, uint64_t rid, const wire_msg *m)
{
    uint8_t *body = NULL;
    size_t bl = 0;
    int rc = wire_msg_encode(m, &body, &bl);
    if (!rc)
        rc = wire_node_reply(n->w, rid, m->type, body, bl);
    aria_free(body);
    return rc;
}

static void
reply_ack(node_net *n, uint64_t rid, int32_t code, const char *detail)
{
    wire_msg m = {.type = WIRE_T_ACK};
    m.u.ack.code = code;
    m.u.ack.detail = detail ? detail : "";
    char d[WIRE_STR_MAX];
    if (detail && strlen(detail) >= WIRE_STR_MAX) {
        aria_snprintf(d, sizeof d, "%.*s", WIRE_STR_MAX - 1, detail);
        m.u.ack.detail = d;
    }
    (void)reply_msg(n, rid, &m);
}

/* ------------------------------------------------------------------ */
/* Requester                                                            */
/* ------------------------------------------------------------------ */

static rjob *
rjob_find(node_net *n, const uint8_t id[32])
{
    for (size_t i = 0; i < NET_MAX_RJOBS; i++)
        if (n->rjobs[i].used && !memcmp(n->rjobs[i].job_id, id, 32))
            return &n->rjobs[i];
    return NULL;
}

static void
rjob_free(node_net *n, rjob *j)
{
    sched_req_free(j->r);
    if (j->s) {
        node_stream_cancel(j->s);
        node_stream_release(j->s);
    }
    aria_buf_fini(&j->reqjson);
    aria_free(j->ids);
    n->reserved_total -= j->reserved;
    memset(j, 0, sizeof *j);
}

static void attempts_json(node_net *n, rjob *j, char *out, size_t cap);
static void rjob_fail(node_net *n, rjob *j, int err, const char *fmt, ...) ARIA_PRINTF(4, 5);
static void
rjob_fail(node_net *n, rjob *j, int err, const char *fmt, ...)
{
    node_stream_result res;
    memset(&res, 0, sizeof res);
    res.error = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res.error_msg, sizeof res.error_msg, fmt, ap);
    va_end(ap);
    aria_snprintf(res.finish_reason, sizeof res.finish_reason, "error");
    aria_hex_encode(res.job_id, sizeof res.job_id, j->job_id, 32);
    if (j->r) {
        sched_req_info info;
        sched_req_get_info(j->r, &info);
        res.cost_micro = info.paid_micro;
        res.completion_tokens = info.tokens;
        attempts_json(n, j, res.attempts, sizeof res.attempts);
    }
    node_stream_finish(j->s, &res);
    STAT(n, jobs_failed, 1);
    ARIA_LOG_I("N0110", "net", "job %.16s failed: %s", res.job_id, res.error_msg);
    rjob_free(n, j);
}

static const char *
bidder_addr(rjob *j, const uint8_t id[32])
{
    for (int i = 0; i < j->n_bidders; i++)
        if (!memcmp(j->bidders[i].id, id, 32))
            return j->bidders[i].addr;
    return NULL;
}

static void run_req_actions(node_net *n, rjob *j, sched_actions *acts);
static void start_sync_to(node_net *n, const char *addr);

static int
out_item(void *ctx, int32_t id, const char *text, size_t len)
{
    rjob *j = ctx;
    if (id >= 0) {
        if (j->n_ids == j->cap_ids) {
            uint32_t cap = j->cap_ids ? j->cap_ids * 2 : 64;
            int32_t *p = aria_realloc(j->ids, cap * sizeof *p);
            if (!p)
                return ARIA_ENOMEM;
            j->ids = p, j->cap_ids = cap;
        }
        j->ids[j->n_ids++] = id;
    }
    if (len && j->s) {
        int rc = node_stream_push_nb(j->s, text, len);
        if (rc == ARIA_EFULL)
            node_stream_cancel(j->s); /* the client stopped reading */
    }
    return 0;
}

static int
hash_item(void *ctx, int32_t id, const char *text, size_t len)
{
    wallet_hasher *h = ctx;
    ARIA_UNUSED(text);
    ARIA_UNUSED(len);
    if (id >= 0) {
        uint8_t le[4];
        aria_store_u32le(le, (uint32_t)id);
        wallet_hasher_update(h, le, 4);
    }
    return 0;
}

static void
req_award(node_net *n, rjob *j, const sched_award *aw, sched_actions *more)
{
    wire_peer_record pr;
    const char *addr = bidder_addr(j, aw->provider);
    int rc = addr ? wire_node_peer_find(n->w, aw->provider, &pr) : ARIA_ENOTFOUND;
    aria_buf plain, box;
    aria_buf_init(&plain, JOBWIRE_REQUEST_MAX + 65536);
    aria_buf_init(&box, WIRE_FRAME_MAX_BYTES);
    {
        sched_req_info info;
        sched_req_get_info(j->r, &info);
        if (info.attempts > 1) { /* a failover: say so, slow jobs are otherwise silent */
            char jid[17];
            aria_hex_encode(jid, sizeof jid, j->job_id, 8);
            ARIA_LOG_I("N0117", "net",
                       "job %s: attempt %u goes to provider %02x%02x%02x%02x... from token %u", jid,
                       (unsigned)info.attempts, aw->provider[0], aw->provider[1], aw->provider[2],
                       aw->provider[3], (unsigned)aw->start_token);
        }
    }
    if (!rc) {
        /* the request JSON with "resume" = the output received so far */
        json_t *root = json_loadb((const char *)j->reqjson.data, j->reqjson.len, 0, NULL);
        json_t *res = json_array();
        for (uint32_t i = 0; i < aw->start_token && i < j->n_ids; i++)
            json_array_append_new(res, json_integer(j->ids[i]));
        json_object_set_new(root, "resume", res);
        char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
        json_decref(root);
        rc = s ? aria_buf_put(&plain, s, strlen(s)) : ARIA_ENOMEM;
        free(s);
        if (!rc)
            rc = aria_buf_reserve(&box, plain.len + WALLET_SEAL_OVERHEAD);
        if (!rc && !(rc = wallet_seal(pr.enc_key, plain.data, plain.len, box.data)))
            box.len = plain.len + WALLET_SEAL_OVERHEAD;
    }
    if (!rc) {
        wire_msg m = {.type = WIRE_T_AWARD};
        memcpy(m.u.award.job_id, j->job_id, 32);
        memcpy(m.u.award.provider, aw->provider, 32);
        m.u.award.price_micro = aw->price_micro;
        m.u.award.chunk_tokens = aw->chunk_tokens;
        m.u.award.resume_tokens = aw->start_token;
        m.u.award.sealed_prompt.p = box.data;
        m.u.award.sealed_prompt.n = box.len;
        rc = request(n, addr, aw->provider, WIRE_T_AWARD, &m, 5000, TAG_AWARD, j->job_id,
                     aw->provider, 0);
    }
    aria_buf_fini(&plain);
    aria_buf_fini(&box);
    if (rc) {
        /* cannot reach or seal to it: a refusal */
        sched_award_reply rep = {0};
        memcpy(rep.job_id, j->job_id, 32);
        memcpy(rep.provider, aw->provider, 32);
        rep.accepted = false;
        rep.reason = SCHED_REFUSE_CAPACITY;
        (void)!sched_req_on_award_reply(j->r, &rep, now_ms(), more);
        return;
    }
    wallet_hasher_init(&j->att_hash);
}

static void
req_pull(node_net *n, rjob *j, const uint8_t provider[32], uint32_t idx, tag_kind kind,
         const ledger_receipt *rcpt, uint64_t amount)
{
    aria_buf pay;
    aria_buf_init(&pay, LEDGER_ENTRY_MAX_BYTES);
    int rc = 0;
    if (amount) {
        rc = sign_send(n, provider, amount, rcpt, &pay);
        if (rc) {
            ARIA_LOG_W("N0111", "net", "cannot pay the provider: %s", aria_err_msg());
            aria_buf_fini(&pay);
            return; /* the provider stops on the missing payment; we time out */
        }
        STAT(n, credits_spent, amount);
    }
    const char *addr = bidder_addr(j, provider);
    wire_msg m = {.type = WIRE_T_CHUNK_REQUEST};
    memcpy(m.u.chunk_req.job_id, j->job_id, 32);
    m.u.chunk_req.index = idx;
    m.u.chunk_req.payment.p = pay.data;
    m.u.chunk_req.payment.n = pay.len;
    uint64_t timeout = kind == TAG_PULL     ? (uint64_t)n->cfg.chunk_timeout_ms
                       : kind == TAG_CANCEL ? 1000
                                            : 5000;
    if (addr)
        rc = request(n, addr, provider, WIRE_T_CHUNK_REQUEST, &m, timeout, kind, j->job_id,
                     provider, idx);
    if (rc || !addr)
        ARIA_LOG_W("N0112", "net", "cannot send %s for chunk %u: %s",
                   kind == TAG_PULL ? "a pull" : "a settle", idx, aria_err_msg());
    aria_buf_fini(&pay);
}

static void
attempts_json(node_net *n, rjob *j, char *out, size_t cap)
{
    sched_req_info info;
    sched_req_get_info(j->r, &info);
    json_t *arr = json_array();
    for (uint32_t i = 0; i < info.attempts; i++) {
        sched_req_attempt at;
        if (sched_req_get_attempt(j->r, i, &at))
            continue;
        char addr[WALLET_ADDRESS_MAX];
        if (wallet_address_encode(at.provider, n->cfg.testnet, addr))
            addr[0] = 0;
        json_array_append_new(arr, json_pack("{s:s, s:I, s:i, s:I, s:b}", "provider", addr, "price",
                                             (json_int_t)at.price_micro, "tokens", (int)at.tokens,
                                             "paid", (json_int_t)at.paid_micro, "accepted",
                                             (int)at.accepted));
    }
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (s && strlen(s) < cap)
        memcpy(out, s, strlen(s) + 1);
    free(s);
}

static void
req_end(node_net *n, rjob *j, const sched_end *e)
{
    sched_req_info info;
    sched_req_get_info(j->r, &info);
    if (e->reason == SCHED_END_DONE) {
        node_stream_result res;
        memset(&res, 0, sizeof res);
        aria_snprintf(res.finish_reason, sizeof res.finish_reason, "%s",
                      info.tokens >= j->max_tokens ? "length" : "stop");
        res.prompt_tokens = j->have_receipt
                                ? (uint32_t)(j->final_receipt.tokens_in -
                                             (info.tokens - j->final_receipt.tokens_out))
                                : 0;
        res.completion_tokens = info.tokens;
        res.cost_micro = info.paid_micro;
        if (wallet_address_encode(e->peer, n->cfg.testnet, res.provider))
            aria_hex_encode(res.provider, sizeof res.provider, e->peer, 32);
        aria_hex_encode(res.job_id, sizeof res.job_id, j->job_id, 32);
        attempts_json(n, j, res.attempts, sizeof res.attempts);
        node_stream_finish(j->s, &res);
        STAT(n, jobs_done, 1);
        STAT(n, tokens_bought, info.tokens);
        ARIA_LOG_I("N0113", "net", "job %.16s done: %u tokens for %llu micro-credits", res.job_id,
                   info.tokens, (unsigned long long)info.paid_micro);
        rjob_free(n, j);
        return;
    }
    switch (e->reason) {
    case SCHED_END_NO_BIDS:
        rjob_fail(n, j, ARIA_EAGAIN,
                  "no provider bid for model '%s' at or under %llu micro-credits per token",
                  j->model, (unsigned long long)j->max_price);
        break;
    case SCHED_END_NO_PROVIDER:
        rjob_fail(n, j, ARIA_EAGAIN,
                  "every provider of model '%s' refused or stopped answering (%u tokens "
                  "received, %llu micro-credits paid)",
                  j->model, info.tokens, (unsigned long long)info.paid_micro);
        break;
    case SCHED_END_EXPIRED:
        rjob_fail(n, j, ARIA_ETIMEDOUT, "the job's deadline passed after %u tokens", info.tokens);
        break;
    default:
        rjob_fail(n, j, ARIA_ECANCELED, "the job was canceled after %u tokens", info.tokens);
        break;
    }
}

static void
run_req_actions(node_net *n, rjob *j, sched_actions *acts)
{
    for (size_t i = 0; i < acts->n && j->used; i++) {
        sched_action *a = &acts->a[i];
        sched_actions more;
        sched_actions_clear(&more);
        switch (a->kind) {
        case SCHED_ACT_OFFER: {
            wire_msg m = {.type = WIRE_T_JOB_OFFER};
            memcpy(m.u.offer.job_id, j->job_id, 32);
            m.u.offer.model_id = j->model;
            m.u.offer.prompt_tokens = a->u.offer.prompt_tokens;
            m.u.offer.max_new_tokens = a->u.offer.max_new_tokens;
            m.u.offer.max_price_micro = a->u.offer.max_price_micro;
            m.u.offer.bid_window_ms = a->u.offer.bid_window_ms;
            m.u.offer.requester_service_addr = wire_node_service_addr(n->w);
            m.u.offer.expires_ms = aria_wall_ms() + (a->u.offer.expires_ms - now_ms());
            uint8_t *body = NULL;
            size_t bl = 0;
            int rc = wire_msg_encode(&m, &body, &bl);
            if (!rc)
                rc = wire_node_publish(n->w, WIRE_T_JOB_OFFER, body, bl, NULL);
            aria_free(body);
            if (rc == ARIA_EAGAIN)
                ARIA_LOG_W("N0114", "net", "offer not sent: no gossip link is up");
            break;
        }
        case SCHED_ACT_AWARD: req_award(n, j, &a->u.award, &more); break;
        case SCHED_ACT_PULL:
            req_pull(n, j, a->u.pull.provider, a->u.pull.chunk, TAG_PULL, NULL,
                     a->u.pull.has_payment ? a->u.pull.payment.amount_micro : 0);
            break;
        case SCHED_ACT_SETTLE: {
            ledger_receipt lr;
            memset(&lr, 0, sizeof lr);
            memcpy(lr.job_id, j->job_id, 32);
            aria_snprintf(lr.model_id, sizeof lr.model_id, "%s", j->model);
            lr.tokens_in = j->final_receipt.tokens_in;
            lr.tokens_out = j->final_receipt.tokens_out;
            lr.price_micro = j->final_price;
            memcpy(lr.output_hash, j->final_receipt.output_hash, 32);
            memcpy(lr.provider_sig, j->final_receipt.sig, 64);
            sched_req_info info;
            sched_req_get_info(j->r, &info);
            req_pull(n, j, a->u.settle.pay.payee, info.next_chunk, TAG_SETTLE,
                     j->have_receipt ? &lr : NULL, a->u.settle.pay.amount_micro);
            break;
        }
        case SCHED_ACT_CANCEL:
            req_pull(n, j, a->u.cancel.provider, NET_CANCEL_IDX, TAG_CANCEL, NULL, 0);
            break;
        case SCHED_ACT_OUTPUT: {
            uint32_t k = 0;
            if (j->cur_out)
                (void)!jobwire_output_walk(j->cur_out, j->cur_out_len, out_item, j, &k);
            j->cur_out = NULL;
            break;
        }
        case SCHED_ACT_END: req_end(n, j, &a->u.end); return;
        default: break;
        }
        if (more.n)
            run_req_actions(n, j, &more);
    }
}

static void
on_bid(node_net *n, const wire_envelope *env, const wire_bid *b, uint64_t rid)
{
    rjob *j = rjob_find(n, b->job_id);
    if (!j) {
        reply_ack(n, rid, ARIA_ENOTFOUND, "no such job");
        return;
    }
    if (account_frozen(n, env->sender)) {
        reply_ack(n, rid, ARIA_EPERM, "your account is frozen by a fork proof");
        return;
    }
    sched_bid sb;
    memcpy(sb.job_id, b->job_id, 32);
    memcpy(sb.provider, env->sender, 32);
    sb.price_micro = b->price_micro;
    sb.tokens_per_s = b->tokens_per_s_milli / 1000 ? b->tokens_per_s_milli / 1000 : 1;
    sb.queue_depth = b->queue_depth;
    uint64_t wall = aria_wall_ms();
    sb.expires_ms = now_ms() + (b->expires_ms > wall ? b->expires_ms - wall : 0);
    if (!bidder_addr(j, env->sender) && j->n_bidders < SCHED_REQ_MAX_BIDS) {
        memcpy(j->bidders[j->n_bidders].id, env->sender, 32);
        aria_snprintf(j->bidders[j->n_bidders].addr, WIRE_ADDR_MAX, "%s", b->provider_service_addr);
        j->n_bidders++;
    }
    sched_actions acts;
    sched_actions_clear(&acts);
    (void)!sched_req_on_bid(j->r, &sb, 0, now_ms(), &acts);
    reply_ack(n, rid, 0, NULL);
    run_req_actions(n, j, &acts);
}

/* The price of the current award. */
static uint64_t
att_price(const rjob *j)
{
    sched_req_info info;
    sched_req_get_info(j->r, &info);
    sched_req_attempt at;
    for (uint32_t i = info.attempts; i-- > 0;)
        if (sched_req_get_attempt(j->r, i, &at) == 0 && at.current)
            return at.price_micro;
    return 0;
}

/* A CHUNK reply to one of our pulls. */
static void
on_chunk_reply(node_net *n, const tag *t, const wire_envelope *env)
{
    rjob *j = rjob_find(n, t->job_id);
    if (!j || env->type != WIRE_T_CHUNK)
        return;
    wire_msg m;
    if (wire_msg_decode(WIRE_T_CHUNK, env->body, env->body_len, &m))
        return;
    const wire_chunk *c = &m.u.chunk;
    uint8_t *plain = NULL;
    size_t pl = 0;
    int rc = memcmp(c->job_id, j->job_id, 32) || c->index != t->index ? ARIA_EPROTO : 0;
    if (!rc && c->sealed_output.n < WALLET_SEAL_OVERHEAD)
        rc = ARIA_EPROTO;
    if (!rc) {
        pl = c->sealed_output.n - WALLET_SEAL_OVERHEAD;
        plain = aria_alloc(pl ? pl : 1);
        rc = plain ? wallet_unseal(n->o.wal, c->sealed_output.p, c->sealed_output.n, plain)
                   : ARIA_ENOMEM;
    }
    uint32_t k = 0;
    wallet_hasher h = j->att_hash;
    if (!rc)
        rc = jobwire_output_walk(plain, pl, hash_item, &h, &k);
    if (!rc && k != c->n_tokens)
        rc = aria_errf(ARIA_EPROTO, "chunk says %u tokens, carries %u", c->n_tokens, k);
    sched_chunk sc;
    memset(&sc, 0, sizeof sc);
    if (!rc && c->final) {
        rc = jobwire_receipt_decode(c->receipt.p, c->receipt.n, &j->cur_receipt);
        uint8_t want[32];
        wallet_hasher h2 = h;
        wallet_hasher_final(&h2, want);
        if (!rc && memcmp(want, j->cur_receipt.output_hash, 32))
            rc = aria_errf(ARIA_EPROTO, "receipt output hash does not match the output");
        if (!rc) {
            ledger_receipt lr;
            memset(&lr, 0, sizeof lr);
            memcpy(lr.job_id, j->job_id, 32);
            aria_snprintf(lr.model_id, sizeof lr.model_id, "%s", j->model);
            lr.tokens_in = j->cur_receipt.tokens_in;
            lr.tokens_out = j->cur_receipt.tokens_out;
            lr.price_micro = att_price(j);
            memcpy(lr.output_hash, j->cur_receipt.output_hash, 32);
            uint8_t sb[LEDGER_RECEIPT_SIGN_MAX];
            size_t sl = ledger_receipt_sign_bytes(n->network, &lr, sb);
            rc = wallet_verify(env->sender, "receipt", sb, sl, j->cur_receipt.sig);
        }
        memcpy(sc.output_hash, j->cur_receipt.output_hash, 32);
    }
    if (rc) {
        ARIA_LOG_W("N0115", "net", "bad chunk %u from a provider: %s", t->index, aria_err_msg());
    } else {
        memcpy(sc.job_id, j->job_id, 32);
        memcpy(sc.provider, env->sender, 32);
        sc.index = c->index;
        sc.n_tokens = c->n_tokens;
        sc.last = c->final;
        j->cur_out = plain;
        j->cur_out_len = pl;
        sched_actions acts;
        sched_actions_clear(&acts);
        if (c->final) {
            j->final_receipt = j->cur_receipt;
            j->final_price = att_price(j);
            j->have_receipt = true;
        }
        int r2 = sched_req_on_chunk(j->r, &sc, now_ms(), &acts);
        if (r2 == 0)
            j->att_hash = h;
        /* OUTPUT runs before END frees the job */
        run_req_actions(n, j, &acts);
        if (j->used)
            j->cur_out = NULL;
    }
    aria_free(plain);
    wire_msg_fini(&m);
}

static void
on_award_reply(node_net *n, const tag *t, const wire_event *ev)
{
    rjob *j = rjob_find(n, t->job_id);
    if (!j)
        return;
    sched_award_reply rep;
    memset(&rep, 0, sizeof rep);
    memcpy(rep.job_id, j->job_id, 32);
    memcpy(rep.provider, t->provider, 32);
    rep.accepted = false;
    rep.reason = SCHED_REFUSE_CAPACITY;
    wire_msg m;
    if (ev->status == 0 && ev->env->type == WIRE_T_ACK &&
        wire_msg_decode(WIRE_T_ACK, ev->env->body, ev->env->body_len, &m) == 0) {
        rep.accepted = m.u.ack.code == 0;
        if (!rep.accepted)
            ARIA_LOG_I("N0116", "net", "award refused: %s", m.u.ack.detail);
        wire_msg_fini(&m);
    }
    if (!rep.accepted)
        STAT(n, awards_refused, 1);
    sched_actions acts;
    sched_actions_clear(&acts);
    (void)!sched_req_on_award_reply(j->r, &rep, now_ms(), &acts);
    if (rep.accepted && !j->released_losers) {
        /* tell the other bidders they lost, so their reserved slots free
         * at once (they may still take a re-award later) */
        j->released_losers = true;
        int sent = 0, busy = 0;
        for (size_t i = 0; i < NET_MAX_TAGS; i++)
            busy += n->tags[i].used;
        if (busy > 16) /* the connections are needed for awards and pulls */
            sent = NET_RELEASE_MAX;
        for (int i = 0; i < j->n_bidders && sent < NET_RELEASE_MAX; i++)
            if (memcmp(j->bidders[i].id, t->provider, 32)) {
                sent++;
                req_pull(n, j, j->bidders[i].id, NET_CANCEL_IDX, TAG_CANCEL, NULL, 0);
            }
    }
    run_req_actions(n, j, &acts);
}

static void
start_job(node_net *n, cmd *c)
{
    rjob *j = NULL;
    for (size_t i = 0; i < NET_MAX_RJOBS && !j; i++)
        if (!n->rjobs[i].used)
            j = &n->rjobs[i];
    node_stream_result res;
    memset(&res, 0, sizeof res);
    aria_snprintf(res.finish_reason, sizeof res.finish_reason, "error");
    if (!j) {
        res.error = ARIA_EFULL;
        aria_snprintf(res.error_msg, sizeof res.error_msg, "this node runs %d network jobs already",
                      NET_MAX_RJOBS);
        node_stream_finish(c->s, &res);
        return;
    }
    /* the model: asked for, else ours, else the first one a peer serves */
    char model[WIRE_STR_MAX];
    aria_snprintf(model, sizeof model, "%s", c->model[0] ? c->model : n->model_id);
    wire_peer_record *recs = aria_alloc_array(256, sizeof *recs);
    size_t np = recs ? wire_node_peers(n->w, recs, 256) : 0;
    bool served = false;
    char known[200] = "";
    for (size_t i = 0; i < np; i++)
        for (size_t k = 0; k < recs[i].n_models; k++) {
            if (!model[0])
                aria_snprintf(model, sizeof model, "%s", recs[i].models[k]);
            if (!strcmp(recs[i].models[k], model))
                served = true;
            else if (!strstr(known, recs[i].models[k]) &&
                     strlen(known) + strlen(recs[i].models[k]) + 4 < sizeof known)
                aria_snprintf(known + strlen(known), sizeof known - strlen(known), "%s'%s'",
                              known[0] ? ", " : "", recs[i].models[k]);
        }
    aria_free(recs);
    if (!served) {
        res.error = np ? ARIA_ENOTFOUND : ARIA_EAGAIN;
        if (!np)
            aria_snprintf(res.error_msg, sizeof res.error_msg,
                          "no peer is known yet: this node has no providers to ask");
        else
            aria_snprintf(res.error_msg, sizeof res.error_msg,
                          "no node on the network serves model '%s'%s%s", model,
                          known[0] ? "; served: " : "", known);
        node_stream_finish(c->s, &res);
        return;
    }
    /* credits: the most this job can cost must be available */
    uint64_t worst = c->max_price * c->max_tokens;
    ledger_account_info ai;
    pthread_mutex_lock(n->o.lock);
    int rc = ledger_account(n->o.led, n->id, &ai);
    pthread_mutex_unlock(n->o.lock);
    if (rc || ai.balance < n->reserved_total || ai.balance - n->reserved_total < worst) {
        res.error = ARIA_EFUNDS;
        aria_snprintf(
            res.error_msg, sizeof res.error_msg,
            "too few credits: this job may cost up to %llu micro-credits (max_tokens %u x "
            "max price %llu) but %llu are free (balance %llu, reserved by running jobs "
            "%llu)",
            (unsigned long long)worst, c->max_tokens, (unsigned long long)c->max_price,
            (unsigned long long)(rc || ai.balance < n->reserved_total
                                     ? 0
                                     : ai.balance - n->reserved_total),
            (unsigned long long)ai.balance, (unsigned long long)n->reserved_total);
        node_stream_finish(c->s, &res);
        return;
    }
    memset(j, 0, sizeof *j);
    if (aria_os_random(j->job_id, 32)) {
        res.error = ARIA_EIO;
        aria_snprintf(res.error_msg, sizeof res.error_msg, "no randomness for a job id");
        node_stream_finish(c->s, &res);
        return;
    }
    sched_offer of;
    memset(&of, 0, sizeof of);
    memcpy(of.job_id, j->job_id, 32);
    memcpy(of.requester, n->id, 32);
    model_hash(model, of.model_id);
    of.prompt_tokens = c->prompt_tokens;
    of.max_new_tokens = c->max_tokens;
    of.chunk_tokens = (uint32_t)n->cfg.chunk_tokens;
    of.max_price_micro = c->max_price;
    of.bid_window_ms = (uint32_t)n->cfg.bid_window_ms;
    of.expires_ms = now_ms() + (uint64_t)n->cfg.job_timeout_ms;
    sched_req_config rc_cfg;
    sched_req_config_default(&rc_cfg);
    rc_cfg.chunk_timeout_ms = (uint32_t)n->cfg.chunk_timeout_ms;
    rc_cfg.first_chunk_timeout_ms = (uint32_t)n->cfg.chunk_timeout_ms * 3;
    if ((rc = sched_req_new(&of, &rc_cfg, &j->r))) {
        res.error = rc;
        aria_snprintf(res.error_msg, sizeof res.error_msg, "%s", aria_err_msg());
        node_stream_finish(c->s, &res);
        return;
    }
    j->used = true;
    j->s = c->s;
    c->s = NULL;
    j->reqjson = c->reqjson;
    aria_buf_init(&c->reqjson, 1);
    aria_snprintf(j->model, sizeof j->model, "%s", model);
    j->max_price = c->max_price;
    j->max_tokens = c->max_tokens;
    j->reserved = worst;
    n->reserved_total += worst;
    STAT(n, jobs_requested, 1);
    sched_actions acts;
    sched_actions_clear(&acts);
    if ((rc = sched_req_start(j->r, now_ms(), &acts))) {
        rjob_fail(n, j, rc, "%s", aria_err_msg());
        return;
    }
    run_req_actions(n, j, &acts);
}

/* ------------------------------------------------------------------ */
/* Provider                                                             */
/* ------------------------------------------------------------------ */

static pjob *
pjob_find(node_net *n, const uint8_t id[32])
{
    for (size_t i = 0; i < NET_MAX_PJOBS; i++)
        if (n->pjobs[i].used && !memcmp(n->pjobs[i].job_id, id, 32))
            return &n->pjobs[i];
    return NULL;
}

static void
pjob_free(pjob *p)
{
    node_pjob_close(p->pj);
    aria_free(p->ready_body);
    aria_free(p->sent_body);
    memset(p, 0, sizeof *p);
}

/* Release this provider's slot for `job` of `requester` (the scheduler's
 * cancel); 0 if it held one. Actions go to *acts. */
static int
prov_cancel(node_net *n, const uint8_t job[32], const uint8_t requester[32], sched_actions *acts)
{
    sched_cancel cc;
    memcpy(cc.job_id, job, 32);
    memcpy(cc.requester, requester, 32);
    memcpy(cc.provider, n->id, 32);
    return sched_prov_on_cancel(n->prov, &cc, now_ms(), acts);
}

static void run_prov_actions(node_net *n, sched_actions *acts);

static void
on_offer(node_net *n, const wire_envelope *env, const wire_job_offer *o)
{
    if (!n->prov || strcmp(o->model_id, n->model_id) != 0 || account_frozen(n, env->sender))
        return;
    if (n->model_peers + 1 > NET_BIDDERS_WANTED) {
        /* many providers serve this model: bid for a deterministic share of
         * the offers (about NET_BIDDERS_WANTED bidders per job), so an offer
         * does not set off a bid from every provider on the network */
        uint8_t h[32], in[64];
        memcpy(in, o->job_id, 32);
        memcpy(in + 32, n->id, 32);
        wallet_hash(h, in, sizeof in);
        uint64_t r = aria_load_u64le(h);
        if (r % (n->model_peers + 1) >= NET_BIDDERS_WANTED) {
            STAT(n, bids_skipped, 1);
            return;
        }
    }
    sched_offer so;
    memset(&so, 0, sizeof so);
    memcpy(so.job_id, o->job_id, 32);
    memcpy(so.requester, env->sender, 32);
    model_hash(o->model_id, so.model_id);
    so.prompt_tokens = o->prompt_tokens;
    so.max_new_tokens = o->max_new_tokens;
    so.max_price_micro = o->max_price_micro;
    so.bid_window_ms = o->bid_window_ms;
    uint64_t wall = aria_wall_ms();
    so.expires_ms = now_ms() + (o->expires_ms > wall ? o->expires_ms - wall : 0);
    sched_actions acts;
    sched_actions_clear(&acts);
    int why = sched_prov_on_offer(n->prov, &so, now_ms(), &acts);
    if (why > 0) {
        ARIA_LOG_D("N0120", "net", "no bid: %s", sched_nobid_name(why));
        return;
    }
    for (size_t i = 0; i < acts.n; i++) {
        if (acts.a[i].kind != SCHED_ACT_BID)
            continue;
        const sched_bid *b = &acts.a[i].u.bid;
        wire_msg m = {.type = WIRE_T_BID};
        memcpy(m.u.bid.job_id, b->job_id, 32);
        m.u.bid.price_micro = b->price_micro;
        m.u.bid.tokens_per_s_milli = b->tokens_per_s * 1000;
        m.u.bid.queue_depth = b->queue_depth;
        m.u.bid.expires_ms = wall + (b->expires_ms - now_ms());
        m.u.bid.provider_service_addr = wire_node_service_addr(n->w);
        if (request(n, o->requester_service_addr, env->sender, WIRE_T_BID, &m, 5000, TAG_BID,
                    b->job_id, NULL, 0) == 0)
            STAT(n, bids_made, 1);
    }
}

static void
on_award(node_net *n, const wire_envelope *env, const wire_award *a, uint64_t rid)
{
    if (!n->prov) {
        reply_ack(n, rid, ARIA_EUNSUPPORTED, "this node serves no model");
        return;
    }
    pjob *p = pjob_find(n, a->job_id);
    if (p) { /* a repeated award: repeat the acceptance */
        reply_ack(n, rid, 0, NULL);
        return;
    }
    wire_peer_record rec;
    if (wire_node_peer_find(n->w, env->sender, &rec)) {
        reply_ack(n, rid, ARIA_EAGAIN, "unknown requester: no peer record to seal the output to");
        return;
    }
    if (memcmp(a->provider, n->id, 32)) {
        reply_ack(n, rid, ARIA_EINVAL, "award names another provider");
        return;
    }
    if (account_frozen(n, env->sender)) {
        reply_ack(n, rid, ARIA_EPERM, "the requester's account is frozen by a fork proof");
        return;
    }
    if (a->sealed_prompt.n < WALLET_SEAL_OVERHEAD || a->sealed_prompt.n > JOBWIRE_REQUEST_MAX * 2) {
        reply_ack(n, rid, ARIA_EPROTO, "sealed job request has a bad size");
        return;
    }
    size_t pl = a->sealed_prompt.n - WALLET_SEAL_OVERHEAD;
    uint8_t *plain = aria_alloc(pl ? pl : 1);
    jobwire_request jr;
    memset(&jr, 0, sizeof jr);
    int rc = plain ? wallet_unseal(n->o.wal, a->sealed_prompt.p, a->sealed_prompt.n, plain)
                   : ARIA_ENOMEM;
    if (!rc)
        rc = jobwire_request_decode(plain, pl, &jr);
    aria_free(plain);
    if (!rc && (a->chunk_tokens == 0 || a->chunk_tokens > 4096 || jr.n_resume != a->resume_tokens ||
                a->resume_tokens % a->chunk_tokens))
        rc = aria_errf(ARIA_EPROTO, "award: chunk size or resume point is inconsistent");
    if (!rc && jr.req.model && strcmp(jr.req.model, n->model_id))
        rc = aria_errf(ARIA_ENOTFOUND, "award for model '%s', this node serves '%s'", jr.req.model,
                       n->model_id);
    if (rc) {
        reply_ack(n, rid, rc, aria_err_msg());
        jobwire_request_fini(&jr);
        return;
    }
    for (size_t i = 0; i < NET_MAX_PJOBS && !p; i++)
        if (!n->pjobs[i].used)
            p = &n->pjobs[i];
    if (!p) {
        reply_ack(n, rid, ARIA_EFULL, "provider job table full");
        jobwire_request_fini(&jr);
        return;
    }
    sched_award sa;
    memset(&sa, 0, sizeof sa);
    memcpy(sa.job_id, a->job_id, 32);
    memcpy(sa.requester, env->sender, 32);
    memcpy(sa.provider, n->id, 32);
    memcpy(sa.model_id, n->model_hash, 32);
    sa.price_micro = a->price_micro;
    sa.max_new_tokens = (uint32_t)jr.req.max_tokens;
    sa.chunk_tokens = a->chunk_tokens;
    sa.start_chunk = a->resume_tokens / a->chunk_tokens;
    sa.start_token = a->resume_tokens;
    sa.attempt = a->resume_tokens ? 1 : 0;
    sched_actions acts;
    sched_actions_clear(&acts);
    rc = sched_prov_on_award(n->prov, &sa, now_ms(), &acts);
    bool accepted = false;
    for (size_t i = 0; i < acts.n; i++)
        if (acts.a[i].kind == SCHED_ACT_AWARD_REPLY)
            accepted = acts.a[i].u.reply.accepted;
    node_pjob *pj = NULL;
    if (accepted) {
        node_pjob_opts po = {&jr.req, jr.resume, jr.n_resume, a->chunk_tokens, wake_cb, n};
        rc = node_worker_start_chunked(n->o.worker, &po, &pj);
        if (rc) {
            char why[200];
            aria_snprintf(why, sizeof why, "%s", aria_err_msg());
            reply_ack(n, rid, rc, why);
            sched_actions_clear(&acts);
            (void)!prov_cancel(n, a->job_id, env->sender, &acts);
            jobwire_request_fini(&jr);
            return; /* the RELEASE has nothing to free */
        }
        memset(p, 0, sizeof *p);
        p->used = true;
        memcpy(p->job_id, a->job_id, 32);
        memcpy(p->requester, env->sender, 32);
        memcpy(p->req_enc, rec.enc_key, 32);
        aria_snprintf(p->model, sizeof p->model, "%s", n->model_id);
        p->price = a->price_micro;
        p->chunk_tokens = a->chunk_tokens;
        p->pj = pj;
        p->want_chunk = sa.start_chunk;
        STAT(n, bids_won, 1);
        reply_ack(n, rid, 0, NULL);
    } else {
        reply_ack(n, rid, ARIA_EFULL, "award refused (capacity or price)");
    }
    jobwire_request_fini(&jr);
    run_prov_actions(n, &acts);
}

/* Encode the CHUNK for a computed chunk. */
static int
build_chunk(node_net *n, pjob *p, const node_pjob_chunk *c)
{
    aria_buf box;
    aria_buf_init(&box, WIRE_FRAME_MAX_BYTES);
    int rc = aria_buf_reserve(&box, c->payload.len + WALLET_SEAL_OVERHEAD);
    if (!rc && !(rc = wallet_seal(p->req_enc, c->payload.data, c->payload.len, box.data)))
        box.len = c->payload.len + WALLET_SEAL_OVERHEAD;
    uint8_t rbytes[JOBWIRE_RECEIPT_LEN];
    wire_msg m = {.type = WIRE_T_CHUNK};
    memcpy(m.u.chunk.job_id, p->job_id, 32);
    m.u.chunk.index = c->index;
    m.u.chunk.n_tokens = c->n_tokens;
    m.u.chunk.final = c->last;
    m.u.chunk.sealed_output.p = box.data;
    m.u.chunk.sealed_output.n = box.len;
    if (!rc && c->last) {
        ledger_receipt lr;
        memset(&lr, 0, sizeof lr);
        memcpy(lr.job_id, p->job_id, 32);
        aria_snprintf(lr.model_id, sizeof lr.model_id, "%s", p->model);
        lr.tokens_in = c->n_prompt;
        lr.tokens_out = c->n_out;
        lr.price_micro = p->price;
        memcpy(lr.output_hash, c->out_hash, 32);
        rc = ledger_receipt_sign(n->network, &lr, n->o.wal);
        jobwire_receipt jr;
        memcpy(jr.output_hash, c->out_hash, 32);
        jr.tokens_in = c->n_prompt;
        jr.tokens_out = c->n_out;
        memcpy(jr.sig, lr.provider_sig, 64);
        jobwire_receipt_encode(&jr, rbytes);
        m.u.chunk.receipt.p = rbytes;
        m.u.chunk.receipt.n = sizeof rbytes;
    }
    if (!rc) {
        aria_free(p->ready_body);
        p->ready_body = NULL;
        rc = wire_msg_encode(&m, &p->ready_body, &p->ready_len);
        p->ready_idx = c->index;
    }
    aria_buf_fini(&box);
    return rc;
}

static void
prov_chunk_out(node_net *n, pjob *p, const sched_chunk *c)
{
    /* move ready -> sent when it is the new one */
    if (p->ready_body && p->ready_idx == c->index) {
        aria_free(p->sent_body);
        p->sent_body = p->ready_body, p->sent_len = p->ready_len, p->sent_idx = p->ready_idx;
        p->ready_body = NULL;
        p->tokens += c->n_tokens;
        STAT(n, tokens_served, c->n_tokens);
    }
    if (!p->sent_body || p->sent_idx != c->index || !p->pending_req)
        return;
    int rc = wire_node_reply(n->w, p->pending_req, WIRE_T_CHUNK, p->sent_body, p->sent_len);
    if (rc)
        ARIA_LOG_W("N0121", "net", "cannot send chunk %u: %s", c->index, aria_err_msg());
    p->pending_req = 0;
}

static void
run_prov_actions(node_net *n, sched_actions *acts)
{
    for (size_t i = 0; i < acts->n; i++) {
        sched_action *a = &acts->a[i];
        pjob *p;
        switch (a->kind) {
        case SCHED_ACT_COMPUTE:
            if ((p = pjob_find(n, a->u.compute.job_id))) {
                p->want_chunk = a->u.compute.chunk;
                node_pjob_allow(p->pj, a->u.compute.chunk);
            }
            break;
        case SCHED_ACT_CHUNK:
            if ((p = pjob_find(n, a->u.chunk.job_id)))
                prov_chunk_out(n, p, &a->u.chunk);
            break;
        case SCHED_ACT_RELEASE:
            if ((p = pjob_find(n, a->u.end.job_id))) {
                if (p->pending_req)
                    reply_ack(n, p->pending_req, ARIA_ECANCELED,
                              sched_end_reason_name(a->u.end.reason));
                if (a->u.end.reason == SCHED_END_DONE)
                    STAT(n, jobs_served, 1);
                else
                    STAT(n, jobs_served_failed, 1);
                ARIA_LOG_I(
                    "N0122", "net", "served job: %s, %u tokens delivered, %llu micro-credits paid",
                    sched_end_reason_name(a->u.end.reason), p->tokens, (unsigned long long)p->paid);
                pjob_free(p);
            } else if (a->u.end.reason == SCHED_END_BID_LAPSED) {
                STAT(n, bids_lost, 1);
            }
            break;
        default: break;
        }
    }
}

/* Worker chunks that are ready. */
static void
poll_pjobs(node_net *n)
{
    for (size_t i = 0; i < NET_MAX_PJOBS; i++) {
        pjob *p = &n->pjobs[i];
        if (!p->used || p->ready_body)
            continue;
        node_pjob_chunk c;
        int rc = node_pjob_take(p->pj, p->want_chunk, &c);
        if (rc == 0)
            continue;
        sched_actions acts;
        sched_actions_clear(&acts);
        if (rc < 0) {
            ARIA_LOG_W("N0123", "net", "provider job failed: %s", aria_err_msg());
            (void)!prov_cancel(n, p->job_id, p->requester, &acts);
            run_prov_actions(n, &acts);
            continue;
        }
        rc = build_chunk(n, p, &c);
        uint32_t idx = c.index, nt = c.n_tokens;
        bool last = c.last;
        uint8_t hash[32];
        memcpy(hash, c.out_hash, 32);
        aria_buf_fini(&c.payload);
        if (rc) {
            ARIA_LOG_W("N0124", "net", "cannot build chunk %u: %s", idx, aria_err_msg());
            continue;
        }
        rc = sched_prov_on_computed(n->prov, p->job_id, idx, nt, last, hash, now_ms(), &acts);
        if (rc < 0)
            ARIA_LOG_W("N0125", "net", "scheduler refused chunk %u: %s", idx, aria_err_msg());
        run_prov_actions(n, &acts);
    }
}

/* Validate a payment entry for job p; adds to p->paid. */
static int
take_payment(node_net *n, pjob *p, const wire_bytes *pay)
{
    ledger_entry e;
    uint8_t id[32];
    int rc = ledger_entry_decode(pay->p, pay->n, &e, id);
    if (rc)
        return rc;
    if (e.kind != LEDGER_KIND_SEND || memcmp(e.account, p->requester, 32) ||
        memcmp(e.to, n->id, 32))
        return aria_errf(ARIA_EPROTO, "payment is not a send from the requester to this node");
    for (size_t i = 0; i < n->paid_n; i++)
        if (!memcmp(n->paid_ids[i], id, 32))
            return aria_errf(ARIA_EPROTO, "payment entry already counted");
    ledger_result res;
    pthread_mutex_lock(n->o.lock);
    rc = ledger_apply(n->o.led, pay->p, pay->n, &res);
    pthread_mutex_unlock(n->o.lock);
    if (res.reason == LEDGER_FORK) {
        STAT(n, forks_seen, 1);
        publish_fork(n, pay->p, pay->n);
    }
    if (res.reason != LEDGER_APPLIED && res.reason != LEDGER_DUPLICATE && res.reason != LEDGER_HELD)
        return rc ? rc : aria_errf(ARIA_EPROTO, "payment rejected by the ledger");
    if (res.reason == LEDGER_HELD) {
        /* held: signed, but its chain has a gap we have not seen yet. Count
         * at most two chunks' worth of such credits per job, so a payer
         * cannot pay with entries that will never apply beyond that. */
        uint64_t cap = 2 * p->price * p->chunk_tokens;
        if (p->held_value + e.amount > cap)
            return aria_errf(ARIA_EAGAIN,
                             "payment held (the payer's earlier entries are missing) and "
                             "%llu micro-credits are held already",
                             (unsigned long long)p->held_value);
        p->held_value += e.amount;
    }
    memcpy(n->paid_ids[n->paid_next], id, 32);
    n->paid_next = (n->paid_next + 1) % NET_PAID_RING;
    if (n->paid_n < NET_PAID_RING)
        n->paid_n++;
    p->paid += e.amount;
    STAT(n, credits_earned, e.amount);
    if (res.reason == LEDGER_APPLIED)
        publish_one(n, pay->p, pay->n);
    if (res.reason == LEDGER_HELD) { /* we lack the payer's earlier entries: ask it */
        wire_peer_record pr;
        if (wire_node_peer_find(n->w, p->requester, &pr) == 0)
            start_sync_to(n, pr.service_addr);
    }
    return 0;
}

static void
on_pull(node_net *n, const wire_envelope *env, const wire_chunk_request *cr, uint64_t rid)
{
    pjob *p = pjob_find(n, cr->job_id);
    sched_actions acts;
    sched_actions_clear(&acts);
    if (!p && cr->index == NET_CANCEL_IDX && n->prov) {
        /* a bid that lost: free the slot it reserved now, not when it lapses */
        reply_ack(n, rid, 0, NULL);
        if (prov_cancel(n, cr->job_id, env->sender, &acts) == 0)
            STAT(n, bids_lost, 1);
        run_prov_actions(n, &acts);
        return;
    }
    if (!p || memcmp(env->sender, p->requester, 32)) {
        reply_ack(n, rid, ARIA_ENOTFOUND, "no such job here");
        return;
    }
    if (cr->index == NET_CANCEL_IDX) {
        reply_ack(n, rid, 0, NULL);
        (void)!prov_cancel(n, p->job_id, p->requester, &acts);
        run_prov_actions(n, &acts);
        return;
    }
    uint64_t before = p->paid;
    if (cr->payment.n && take_payment(n, p, &cr->payment)) {
        STAT(n, payments_rejected, 1);
        ARIA_LOG_W("N0126", "net", "payment refused: %s", aria_err_msg());
    }
    sched_payment pay;
    memset(&pay, 0, sizeof pay);
    memcpy(pay.job_id, p->job_id, 32);
    memcpy(pay.payer, p->requester, 32);
    memcpy(pay.payee, n->id, 32);
    pay.amount_micro = p->paid - before;
    pay.upto_chunk = cr->index;
    pay.total_micro = p->paid;
    pay.total_tokens = p->price ? (uint32_t)(p->paid / p->price) : 0;
    sched_prov_job pjs;
    if (sched_prov_get_job(n->prov, p->job_id, &pjs) == 0 && pjs.state == SCHED_SLOT_FINISHING &&
        cr->index == pjs.next_send) {
        reply_ack(n, rid, 0, NULL); /* the settle */
        (void)!sched_prov_on_payment(n->prov, &pay, now_ms(), &acts);
        run_prov_actions(n, &acts);
        return;
    }
    sched_pull sp;
    memset(&sp, 0, sizeof sp);
    memcpy(sp.job_id, p->job_id, 32);
    memcpy(sp.requester, p->requester, 32);
    memcpy(sp.provider, n->id, 32);
    sp.chunk = cr->index;
    sp.has_payment = true;
    sp.payment = pay;
    if (p->pending_req)
        reply_ack(n, p->pending_req, ARIA_ECANCELED, "superseded by a newer pull");
    p->pending_req = rid;
    p->pending_idx = cr->index;
    int rc = sched_prov_on_pull(n->prov, &sp, now_ms(), &acts);
    if (rc == SCHED_IGNORED || rc < 0) {
        p->pending_req = 0;
        reply_ack(n, rid, rc < 0 ? rc : ARIA_ESTATE, "pull not applicable now");
    }
    run_prov_actions(n, &acts);
}

/* ------------------------------------------------------------------ */
/* Sync                                                                 */
/* ------------------------------------------------------------------ */

typedef struct heads_ctx {
    wire_account_head *h;
    size_t n, cap;
} heads_ctx;

static int
heads_cb(void *ctx, const ledger_account_info *a)
{
    heads_ctx *x = ctx;
    if (x->n == x->cap)
        return 1;
    memcpy(x->h[x->n].account, a->account, 32);
    x->h[x->n].next_seq = a->chain_len;
    x->n++;
    return 0;
}

static void
start_sync(node_net *n)
{
    start_sync_to(n, NULL);
}

/* Sync with `addr` (a service URL), or with a random peer when NULL. */
static void
start_sync_to(node_net *n, const char *addr)
{
    heads_ctx x = {aria_alloc_array(WIRE_HEADS_MAX, sizeof(wire_account_head)), 0, WIRE_HEADS_MAX};
    if (!x.h)
        return;
    pthread_mutex_lock(n->o.lock);
    int rc = ledger_accounts(n->o.led, heads_cb, &x);
    pthread_mutex_unlock(n->o.lock);
    if (rc >= 0) {
        wire_sync_request sr = {x.h, x.n, 512, {NULL, 0}};
        if (addr) {
            wire_msg m = {.type = WIRE_T_SYNC_REQUEST};
            m.u.sync_req = sr;
            if (request(n, addr, NULL, WIRE_T_SYNC_REQUEST, &m, 5000, TAG_SYNC, NULL, NULL, 0) == 0)
                STAT(n, syncs, 1);
        } else {
            tag *t = tag_new(n, TAG_SYNC, NULL, NULL, 0);
            uint64_t rid;
            if (t && wire_node_sync(n->w, &sr, 5000, t, &rid) != 0)
                t->used = false;
            else if (t)
                STAT(n, syncs, 1);
        }
    }
    aria_free(x.h);
}

typedef struct serve_ctx {
    const wire_sync_request *req;
    aria_buf store; /* entry bytes back to back */
    size_t offs[WIRE_LIST_MAX + 1];
    size_t n, max;
    size_t bytes;
} serve_ctx;

static int
serve_entry(void *ctx, const ledger_entry *e, const ledger_entry_info *info)
{
    serve_ctx *x = ctx;
    ARIA_UNUSED(e);
    if (x->n >= x->max || x->bytes + info->len > WIRE_FRAME_MAX_BYTES / 2)
        return 1;
    if (aria_buf_put(&x->store, info->bytes, info->len))
        return 1;
    x->offs[++x->n] = x->store.len;
    x->bytes += info->len + 8;
    return 0;
}

typedef struct acct_ids {
    uint8_t (*ids)[32];
    size_t n, cap;
} acct_ids;

static int
acct_cb(void *ctx, const ledger_account_info *a)
{
    acct_ids *x = ctx;
    if (x->n == x->cap)
        return 1;
    memcpy(x->ids[x->n++], a->account, 32);
    return 0;
}

static void
serve_sync(node_net *n, const wire_sync_request *req, uint64_t rid)
{
    serve_ctx *x = aria_calloc(1, sizeof *x);
    acct_ids ac = {aria_alloc_array(WIRE_HEADS_MAX, 32), 0, WIRE_HEADS_MAX};
    if (!x || !ac.ids) {
        aria_free(x);
        aria_free(ac.ids);
        return;
    }
    x->req = req;
    x->max =
        req->max_entries && req->max_entries < WIRE_LIST_MAX ? req->max_entries : WIRE_LIST_MAX;
    aria_buf_init(&x->store, WIRE_FRAME_MAX_BYTES);
    pthread_mutex_lock(n->o.lock);
    int rc = ledger_accounts(n->o.led, acct_cb, &ac);
    for (size_t i = 0; rc >= 0 && i < ac.n && x->n < x->max; i++) {
        uint64_t from = 0;
        for (size_t k = 0; k < req->n_heads; k++)
            if (!memcmp(req->heads[k].account, ac.ids[i], 32))
                from = req->heads[k].next_seq;
        rc = ledger_history(n->o.led, ac.ids[i], from, 0, serve_entry, x);
        if (rc > 0)
            rc = 0;
    }
    pthread_mutex_unlock(n->o.lock);
    wire_bytes *items = aria_alloc_array(x->n ? x->n : 1, sizeof *items);
    if (items) {
        for (size_t i = 0; i < x->n; i++)
            items[i].p = x->store.data + x->offs[i], items[i].n = x->offs[i + 1] - x->offs[i];
        wire_msg m = {.type = WIRE_T_SYNC_REPLY};
        m.u.sync_reply.entries.items = items;
        m.u.sync_reply.entries.n = x->n;
        (void)reply_msg(n, rid, &m);
    }
    aria_free(items);
    aria_buf_fini(&x->store);
    aria_free(x);
    aria_free(ac.ids);
}

/* ------------------------------------------------------------------ */
/* Events                                                               */
/* ------------------------------------------------------------------ */

static void
on_fork_proof(node_net *n, const uint8_t *p, size_t len)
{
    wire_bytes two[2];
    if (jobwire_fork_proof_decode(p, len, &two[0].p, &two[0].n, &two[1].p, &two[1].n)) {
        ARIA_LOG_D("N0133", "net", "bad fork proof: %s", aria_err_msg());
        return;
    }
    apply_from_peer(n, two, 2); /* the ledger checks both signatures and the fork */
}

static void
on_event(void *ctx, const wire_event *ev)
{
    node_net *n = ctx;
    if (ev->kind == WIRE_EV_PEER) {
        atomic_store(&n->peers, wire_node_peer_count(n->w));
        return;
    }
    if (ev->kind == WIRE_EV_REPLY) {
        tag *t = ev->cookie;
        if (!t)
            return;
        tag tc = *t;
        t->used = false;
        if (tc.kind == TAG_AWARD) {
            on_award_reply(n, &tc, ev);
        } else if (ev->status == 0 && tc.kind == TAG_PULL) {
            on_chunk_reply(n, &tc, ev->env);
        } else if (ev->status == 0 && tc.kind == TAG_SYNC && ev->env->type == WIRE_T_SYNC_REPLY) {
            wire_msg m;
            if (wire_msg_decode(WIRE_T_SYNC_REPLY, ev->env->body, ev->env->body_len, &m) == 0) {
                apply_from_peer(n, m.u.sync_reply.entries.items, m.u.sync_reply.entries.n);
                wire_msg_fini(&m);
            }
        }
        return;
    }
    const wire_envelope *env = ev->env;
    wire_msg m;
    if (wire_msg_decode(env->type, env->body, env->body_len, &m)) {
        ARIA_LOG_D("N0130", "net", "undecodable %s: %s", wire_type_name(env->type), aria_err_msg());
        if (ev->kind == WIRE_EV_REQUEST)
            reply_ack(n, ev->request_id, ARIA_EPROTO, aria_err_msg());
        return;
    }
    if (ev->kind == WIRE_EV_GOSSIP) {
        if (env->type == WIRE_T_JOB_OFFER)
            on_offer(n, env, &m.u.offer);
        else if (env->type == WIRE_T_LEDGER_ENTRIES)
            apply_from_peer(n, m.u.entries.items, m.u.entries.n);
        else if (env->type == WIRE_T_FORK_PROOF)
            on_fork_proof(n, m.u.fork_proof.p, m.u.fork_proof.n);
    } else if (ev->kind == WIRE_EV_REQUEST) {
        switch (env->type) {
        case WIRE_T_BID: on_bid(n, env, &m.u.bid, ev->request_id); break;
        case WIRE_T_AWARD: on_award(n, env, &m.u.award, ev->request_id); break;
        case WIRE_T_CHUNK_REQUEST: on_pull(n, env, &m.u.chunk_req, ev->request_id); break;
        case WIRE_T_SYNC_REQUEST: serve_sync(n, &m.u.sync_req, ev->request_id); break;
        case WIRE_T_LEDGER_ENTRIES:
            apply_from_peer(n, m.u.entries.items, m.u.entries.n);
            reply_ack(n, ev->request_id, 0, NULL);
            break;
        default: reply_ack(n, ev->request_id, ARIA_EUNSUPPORTED, "not served here"); break;
        }
    }
    wire_msg_fini(&m);
}

/* ------------------------------------------------------------------ */
/* Peer file: <data_dir>/peers, one service URL per line, so a restart  */
/* finds its peers again without --peer.                                */
/* ------------------------------------------------------------------ */

static void
peers_path(const node_net *n, char *out, size_t cap)
{
    aria_snprintf(out, cap, "%s/peers", n->cfg.data_dir);
}

/* The peer file is rewritten when the peer count changed, checked every
 * NET_PEERS_SAVE_MS (the first check that long after start): with 30 s (first
 * at 5 s) a node killed in its first seconds restarted with no peers and,
 * without --peer, stayed alone (testnet_wirechurn under ASan, 2 of 16 runs). */
static void
peers_save(node_net *n)
{
    wire_peer_record *recs = aria_alloc_array(NET_PEERS_FILE_MAX, sizeof *recs);
    if (!recs)
        return;
    size_t np = wire_node_peers(n->w, recs, NET_PEERS_FILE_MAX);
    char path[NODE_CFG_PATH_MAX + 16], tmp[NODE_CFG_PATH_MAX + 32];
    peers_path(n, path, sizeof path);
    aria_snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    bool ok = f != NULL;
    for (size_t i = 0; ok && i < np; i++)
        ok = fprintf(f, "%s\n", recs[i].service_addr) > 0;
    if (f && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        ok = false;
    if (f && fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, path) == 0)
        n->peers_saved = np;
    else
        ARIA_LOG_W("N0131", "net", "cannot write the peer file %s: %s", path, strerror(errno));
    aria_free(recs);
}

static void
peers_load(node_net *n)
{
    char path[NODE_CFG_PATH_MAX + 16];
    peers_path(n, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[WIRE_ADDR_MAX + 2];
    int k = 0, bad = 0;
    while (k < NET_PEERS_FILE_MAX && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        if (strncmp(line, "tcp://", 6) != 0 || wire_node_add_bootstrap(n->w, line) != 0)
            bad++;
        else
            k++;
    }
    fclose(f);
    ARIA_LOG_I("N0132", "net", "peer file %s: %d peer(s)%s", path, k,
               bad ? " (some lines ignored: not tcp:// addresses)" : "");
}

/* ------------------------------------------------------------------ */
/* Loop                                                                 */
/* ------------------------------------------------------------------ */

static void
cmd_free(cmd *c)
{
    if (c->s)
        node_stream_release(c->s);
    aria_buf_fini(&c->reqjson);
    aria_buf_fini(&c->bytes);
    aria_free(c);
}

static void info_fill(node_net *n, cmd *c);

static void
drain_queue(node_net *n)
{
    pthread_mutex_lock(&n->qmu);
    cmd *c = n->qhead;
    n->qhead = n->qtail = NULL;
    pthread_mutex_unlock(&n->qmu);
    while (c) {
        cmd *next = c->next;
        if (c->kind == CMD_INFO) {
            info_fill(n, c);
            pthread_mutex_lock(&n->qmu);
            c->done = true;
            pthread_cond_broadcast(&n->qcv);
            pthread_mutex_unlock(&n->qmu);
        } else {
            if (c->kind == CMD_SUBMIT)
                start_job(n, c);
            else if (c->kind == CMD_PUBLISH)
                publish_one(n, c->bytes.data, c->bytes.len);
            cmd_free(c);
        }
        c = next;
    }
}

typedef struct chain_pub {
    node_net *n;
    aria_buf store;
    size_t offs[65], k;
} chain_pub;

static int
chain_pub_cb(void *ctx, const ledger_entry *e, const ledger_entry_info *info)
{
    chain_pub *c = ctx;
    ARIA_UNUSED(e);
    if (c->k == 64 || aria_buf_put(&c->store, info->bytes, info->len))
        return 1;
    c->offs[++c->k] = c->store.len;
    return 0;
}

/* Gossip the newest entries of this node's own chain (e.g. its genesis
 * claim, made before the network was up), so peers need not wait for a
 * sync to accept its payments. */
static void
publish_own_chain(node_net *n)
{
    chain_pub *c = aria_calloc(1, sizeof *c);
    if (!c)
        return;
    c->n = n;
    aria_buf_init(&c->store, 64 * LEDGER_ENTRY_MAX_BYTES);
    ledger_account_info ai;
    pthread_mutex_lock(n->o.lock);
    int rc = ledger_account(n->o.led, n->id, &ai);
    if (!rc)
        rc = ledger_history(n->o.led, n->id, ai.chain_len > 64 ? ai.chain_len - 64 : 0, 64,
                            chain_pub_cb, c);
    pthread_mutex_unlock(n->o.lock);
    for (size_t i = 0; rc >= 0 && i < c->k; i += 16) {
        const uint8_t *ptrs[16];
        size_t lens[16], m = 0;
        for (size_t j = i; j < c->k && m < 16; j++, m++) {
            ptrs[m] = c->store.data + c->offs[j];
            lens[m] = c->offs[j + 1] - c->offs[j];
        }
        publish_entries(n, ptrs, lens, m);
    }
    aria_buf_fini(&c->store);
    aria_free(c);
}

static void
timers(node_net *n)
{
    uint64_t t = now_ms();
    sched_actions acts;
    for (size_t i = 0; i < NET_MAX_RJOBS; i++) {
        rjob *j = &n->rjobs[i];
        if (!j->used)
            continue;
        sched_actions_clear(&acts);
        if (node_stream_canceled(j->s) && !sched_req_is_over(j->r))
            (void)!sched_req_cancel(j->r, t, &acts);
        else if (sched_req_next_deadline(j->r) <= t)
            (void)!sched_req_tick(j->r, t, &acts);
        run_req_actions(n, j, &acts);
    }
    while (n->prov && sched_prov_next_deadline(n->prov) <= t) {
        sched_actions_clear(&acts);
        (void)!sched_prov_tick(n->prov, t, &acts);
        if (!acts.n)
            break;
        run_prov_actions(n, &acts);
    }
    if (t >= n->next_peers_save) {
        n->next_peers_save = t + NET_PEERS_SAVE_MS;
        if (wire_node_peer_count(n->w) != n->peers_saved)
            peers_save(n);
    }
    if (n->prov && t >= n->next_model_peers) {
        n->next_model_peers = t + NET_MODEL_PEERS_MS;
        wire_peer_record *recs = aria_alloc_array(256, sizeof *recs);
        size_t np = recs ? wire_node_peers(n->w, recs, 256) : 0, k = 0;
        for (size_t i = 0; i < np; i++)
            for (size_t m = 0; m < recs[i].n_models; m++)
                if (!strcmp(recs[i].models[m], n->model_id)) {
                    k++;
                    break;
                }
        aria_free(recs);
        n->model_peers = k;
    }
    wire_stats ws;
    wire_node_stats(n->w, &ws);
    if (!n->announced_chain && ws.pipes_inbound + ws.pipes_outbound > 0) {
        /* a gossip link is up (knowing peers is not enough: the publish
         * would find no pipe and the announcement would be lost) */
        n->announced_chain = true;
        publish_own_chain(n);
    }
    if (t >= n->next_sync) {
        n->next_sync = t + NET_SYNC_MS;
        if (wire_node_peer_count(n->w))
            start_sync(n);
    }
}

int
node_net_run_once(node_net *n, int timeout_ms, int extra_fd)
{
    struct pollfd pf[3] = {
        {wire_node_event_fd(n->w), POLLIN, 0}, {n->efd, POLLIN, 0}, {extra_fd, POLLIN, 0}};
    int r = poll(pf, extra_fd >= 0 ? 3 : 2, timeout_ms);
    if (r > 0 && (pf[1].revents & POLLIN)) {
        uint64_t v;
        ssize_t k = read(n->efd, &v, sizeof v);
        (void)k;
    }
    (void)!wire_node_poll(n->w, 0);
    drain_queue(n);
    poll_pjobs(n);
    timers(n);
    return extra_fd >= 0 && r > 0 && (pf[2].revents & POLLIN) ? 1 : 0;
}

int
node_net_open(const node_net_opts *o, node_net **out)
{
    node_net *n = aria_calloc(1, sizeof *n);
    if (!n)
        return aria_errf(ARIA_ENOMEM, "net: out of memory");
    n->o = *o;
    n->cfg = *o->cfg;
    wallet_account_id(o->wal, n->id);
    ledger_network_id(o->led, n->network);
    n->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&n->qmu, NULL);
    pthread_cond_init(&n->qcv, NULL);
    if (n->efd < 0) {
        node_net_close(n);
        return aria_errf(ARIA_EIO, "net: eventfd: %s", strerror(errno));
    }
    const char *models[1];
    if (o->worker) {
        aria_snprintf(n->model_id, sizeof n->model_id, "%s", node_worker_model_id(o->worker));
        model_hash(n->model_id, n->model_hash);
        models[0] = n->model_id;
        sched_prov_config pc;
        sched_prov_config_default(&pc);
        memcpy(pc.node_id, n->id, 32);
        pc.capacity = (uint32_t)(n->cfg.capacity > 0 ? n->cfg.capacity : 1);
        pc.base_price_micro = n->cfg.price_micro;
        pc.load_factor_pct = 0;
        /* bids hold slots until they lapse; a requester awards one bidder and
         * lets the others lapse, so bid for up to 4x capacity at once (an
         * award beyond capacity is refused and the requester moves on) */
        pc.overbook_pct = 400;
        /* a reservation lasts the offer's bid window + this: short, since most
         * bids lose and a late award is still accepted while a slot is free
         * (with 2 s, 50 providers all bidding ran out of slots at 5 jobs/s) */
        pc.bid_grace_ms = 500;
        pc.tokens_per_s = 20;
        pc.n_models = 1;
        memcpy(pc.models[0], n->model_hash, 32);
        int rc = sched_prov_new(&pc, &n->prov);
        if (rc) {
            node_net_close(n);
            return rc;
        }
    }
    const char *boot[NODE_CFG_MAX_PEERS];
    for (int i = 0; i < n->cfg.n_peers; i++)
        boot[i] = n->cfg.peers[i];
    wire_config wc;
    wire_config_default(&wc);
    wc.wallet = o->wal;
    memcpy(wc.network_id, n->network, 32);
    wc.gossip_listen = n->cfg.gossip_listen;
    wc.service_listen = n->cfg.service_listen;
    wc.bootstrap = boot;
    wc.n_bootstrap = (size_t)n->cfg.n_peers;
    wc.on_event = on_event;
    wc.on_event_ctx = n;
    wc.models = o->worker ? models : NULL;
    wc.n_models = o->worker ? 1 : 0;
    wc.price_micro = n->cfg.price_micro;
    wc.capacity = (uint32_t)n->cfg.capacity;
    wc.version = "aria";
    wc.announce_interval_ms = 5000;
    wc.peer_exchange_ms = 3000;
    wc.reply_timeout_ms = (uint64_t)n->cfg.chunk_timeout_ms * 3;
    int rc = wire_node_new(&wc, &n->w);
    if (rc) {
        node_net_close(n);
        return rc;
    }
    n->next_sync = now_ms() + 500;
    n->next_peers_save = now_ms() + NET_PEERS_SAVE_MS;
    peers_load(n);
    *out = n;
    return 0;
}

void
node_net_shutdown(node_net *n)
{
    if (!n || n->shut)
        return;
    n->shut = true;
    for (size_t i = 0; i < NET_MAX_RJOBS; i++)
        if (n->rjobs[i].used)
            rjob_fail(n, &n->rjobs[i], ARIA_ECANCELED, "the node is shutting down");
    for (size_t i = 0; i < NET_MAX_PJOBS; i++)
        if (n->pjobs[i].used)
            pjob_free(&n->pjobs[i]);
    if (n->w && wire_node_peer_count(n->w))
        peers_save(n);
    pthread_mutex_lock(&n->qmu);
    cmd *c = n->qhead;
    n->qhead = n->qtail = NULL;
    pthread_mutex_unlock(&n->qmu);
    while (c) {
        cmd *next = c->next;
        if (c->kind == CMD_SUBMIT && c->s) {
            node_stream_result res;
            memset(&res, 0, sizeof res);
            res.error = ARIA_ECANCELED;
            aria_snprintf(res.error_msg, sizeof res.error_msg, "the node is shutting down");
            node_stream_finish(c->s, &res);
        }
        if (c->kind == CMD_INFO) { /* its caller waits: wake it */
            pthread_mutex_lock(&n->qmu);
            c->rc = ARIA_ECANCELED;
            c->done = true;
            pthread_cond_broadcast(&n->qcv);
            pthread_mutex_unlock(&n->qmu);
        } else {
            cmd_free(c);
        }
        c = next;
    }
}

void
node_net_close(node_net *n)
{
    if (!n)
        return;
    node_net_shutdown(n);
    wire_node_free(n->w);
    sched_prov_free(n->prov);
    if (n->efd >= 0)
        close(n->efd);
    pthread_mutex_destroy(&n->qmu);
    pthread_cond_destroy(&n->qcv);
    aria_free(n);
}

static void
enqueue(node_net *n, cmd *c)
{
    pthread_mutex_lock(&n->qmu);
    if (n->qtail)
        n->qtail->next = c;
    else
        n->qhead = c;
    n->qtail = c;
    pthread_mutex_unlock(&n->qmu);
    wake(n);
}

int
node_net_submit(node_net *n, const node_completion_req *req, node_stream *s)
{
    cmd *c = aria_calloc(1, sizeof *c);
    if (!c)
        return aria_errf(ARIA_ENOMEM, "net: out of memory");
    c->kind = CMD_SUBMIT;
    aria_buf_init(&c->reqjson, JOBWIRE_REQUEST_MAX);
    aria_buf_init(&c->bytes, 1);
    int rc = jobwire_request_encode(req, NULL, 0, &c->reqjson);
    if (rc) {
        cmd_free(c);
        return rc;
    }
    aria_snprintf(c->model, sizeof c->model, "%s", req->model ? req->model : "");
    if (req->model && strlen(req->model) >= WIRE_STR_MAX) {
        cmd_free(c);
        return aria_errf(ARIA_EINVAL, "'model' is longer than %d bytes", WIRE_STR_MAX - 1);
    }
    c->max_tokens = (uint32_t)req->max_tokens;
    c->max_price = req->max_price_micro ? req->max_price_micro : n->cfg.max_price_micro;
    size_t plen = req->prompt ? strlen(req->prompt) : 0;
    for (int i = 0; i < req->n_messages; i++)
        plen += strlen(req->messages[i].content) + 8;
    c->prompt_tokens = (uint32_t)(plen / 4 + 1); /* an estimate: the provider tokenizes */
    node_stream_retain(s);
    c->s = s;
    enqueue(n, c);
    return 0;
}

void
node_net_publish_entry(node_net *n, const uint8_t *bytes, size_t len)
{
    cmd *c = aria_calloc(1, sizeof *c);
    if (!c)
        return;
    c->kind = CMD_PUBLISH;
    aria_buf_init(&c->reqjson, 1);
    aria_buf_init(&c->bytes, LEDGER_ENTRY_MAX_BYTES);
    if (aria_buf_put(&c->bytes, bytes, len)) {
        cmd_free(c);
        return;
    }
    enqueue(n, c);
}

static void
info_fill(node_net *n, cmd *c)
{
    c->rc = 0;
    if (!strcmp(c->what, "peers")) {
        wire_peer_record *recs = aria_alloc_array(256, sizeof *recs);
        size_t np = recs ? wire_node_peers(n->w, recs, 256) : 0;
        json_t *arr = json_array();
        for (size_t i = 0; i < np; i++) {
            char addr[WALLET_ADDRESS_MAX];
            if (wallet_address_encode(recs[i].node_id, n->cfg.testnet, addr))
                addr[0] = 0;
            json_t *models = json_array();
            for (size_t k = 0; k < recs[i].n_models; k++)
                json_array_append_new(models, json_string(recs[i].models[k]));
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o, s:I, s:i, s:s, s:I}", "node",
                                                 addr, "gossip", recs[i].gossip_addr, "service",
                                                 recs[i].service_addr, "models", models, "price",
                                                 (json_int_t)recs[i].price_micro, "capacity",
                                                 (int)recs[i].capacity, "version", recs[i].version,
                                                 "seen_ms", (json_int_t)recs[i].created_ms));
        }
        aria_free(recs);
        json_object_set_new(c->out, "peers", arr);
        json_object_set_new(c->out, "count", json_integer((json_int_t)np));
    } else if (!strcmp(c->what, "models")) {
        /* the models the peers serve, each once */
        wire_peer_record *recs = aria_alloc_array(256, sizeof *recs);
        size_t np = recs ? wire_node_peers(n->w, recs, 256) : 0;
        json_t *arr = json_array();
        for (size_t i = 0; i < np; i++)
            for (size_t k = 0; k < recs[i].n_models; k++) {
                bool dup = !strcmp(recs[i].models[k], n->model_id);
                for (size_t q = 0; q < json_array_size(arr) && !dup; q++)
                    dup = !strcmp(json_string_value(json_array_get(arr, q)), recs[i].models[k]);
                if (!dup)
                    json_array_append_new(arr, json_string(recs[i].models[k]));
            }
        aria_free(recs);
        json_object_set_new(c->out, "models", arr);
    } else if (!strcmp(c->what, "jobs")) {
        json_t *arr = json_array();
        for (size_t i = 0; i < NET_MAX_RJOBS; i++) {
            rjob *j = &n->rjobs[i];
            if (!j->used)
                continue;
            sched_req_info info;
            sched_req_get_info(j->r, &info);
            char hx[65];
            aria_hex_encode(hx, sizeof hx, j->job_id, 32);
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:i}", "job_id", hx, "role",
                               "requester", "model", j->model, "state",
                               sched_req_state_name(info.state), "tokens", (int)info.tokens, "paid",
                               (json_int_t)info.paid_micro, "attempts", (int)info.attempts));
        }
        for (size_t i = 0; i < NET_MAX_PJOBS; i++) {
            pjob *p = &n->pjobs[i];
            if (!p->used)
                continue;
            char hx[65];
            aria_hex_encode(hx, sizeof hx, p->job_id, 32);
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:i, s:I}", "job_id", hx, "role",
                                                 "provider", "model", p->model, "tokens",
                                                 (int)p->tokens, "paid", (json_int_t)p->paid));
        }
        json_object_set_new(c->out, "network_jobs", arr);
    } else {
        c->rc = ARIA_ENOTFOUND;
    }
}

int
node_net_info(node_net *n, const char *what, json_t *out)
{
    cmd *c = aria_calloc(1, sizeof *c);
    if (!c)
        return aria_errf(ARIA_ENOMEM, "net: out of memory");
    c->kind = CMD_INFO;
    c->what = what;
    c->out = out;
    aria_buf_init(&c->reqjson, 1);
    aria_buf_init(&c->bytes, 1);
    enqueue(n, c);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    pthread_mutex_lock(&n->qmu);
    while (!c->done)
        if (pthread_cond_timedwait(&n->qcv, &n->qmu, &dl) == ETIMEDOUT)
            break;
    bool done = c->done;
    pthread_mutex_unlock(&n->qmu);
    if (!done) /* the loop will still fill it: leak it rather than race (rare) */
        return aria_errf(ARIA_ETIMEDOUT, "the node loop did not answer in 5 s");
    int rc = c->rc;
    cmd_free(c);
    return rc;
}

void
node_net_get_stats(const node_net *n, node_net_stats *out)
{
    uint64_t *v = (uint64_t *)out;
    for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++)
        v[i] = atomic_load(&((node_net *)n)->st.v[i]);
}

void
node_net_metrics(node_net *n, aria_buf *o)
{
    node_net_stats s;
    node_net_get_stats(n, &s);
    wire_stats ws;
    wire_node_stats(n->w, &ws);
    (void)aria_buf_printf(
        o,
        "# HELP aria_network_jobs_total Paid network jobs by role and result.\n"
        "# TYPE aria_network_jobs_total counter\n"
        "aria_network_jobs_total{role=\"requester\",result=\"done\"} %llu\n"
        "aria_network_jobs_total{role=\"requester\",result=\"failed\"} %llu\n"
        "aria_network_jobs_total{role=\"provider\",result=\"done\"} %llu\n"
        "aria_network_jobs_total{role=\"provider\",result=\"failed\"} %llu\n"
        "# HELP aria_bids_total Bids by outcome.\n"
        "# TYPE aria_bids_total counter\n"
        "aria_bids_total{outcome=\"made\"} %llu\n"
        "aria_bids_total{outcome=\"won\"} %llu\n"
        "aria_bids_total{outcome=\"lost\"} %llu\n"
        "aria_bids_total{outcome=\"skipped\"} %llu\n"
        "# HELP aria_network_tokens_total Tokens of paid jobs by direction.\n"
        "# TYPE aria_network_tokens_total counter\n"
        "aria_network_tokens_total{direction=\"served\"} %llu\n"
        "aria_network_tokens_total{direction=\"bought\"} %llu\n"
        "# HELP aria_credits_total Micro-credits earned and spent on jobs.\n"
        "# TYPE aria_credits_total counter\n"
        "aria_credits_total{direction=\"earned\"} %llu\n"
        "aria_credits_total{direction=\"spent\"} %llu\n"
        "# HELP aria_payments_rejected_total Payments a requester sent that were refused.\n"
        "# TYPE aria_payments_rejected_total counter\n"
        "aria_payments_rejected_total %llu\n"
        "# HELP aria_ledger_entries_total Ledger entries from peers by result.\n"
        "# TYPE aria_ledger_entries_total counter\n"
        "aria_ledger_entries_total{result=\"applied\"} %llu\n"
        "aria_ledger_entries_total{result=\"rejected\"} %llu\n"
        "# HELP aria_peers Peers in the peer table.\n"
        "# TYPE aria_peers gauge\n"
        "aria_peers %zu\n"
        "# HELP aria_gossip_messages_total Gossip messages by event.\n"
        "# TYPE aria_gossip_messages_total counter\n"
        "aria_gossip_messages_total{event=\"received\"} %llu\n"
        "aria_gossip_messages_total{event=\"delivered\"} %llu\n"
        "aria_gossip_messages_total{event=\"duplicate\"} %llu\n"
        "aria_gossip_messages_total{event=\"published\"} %llu\n"
        "aria_gossip_messages_total{event=\"forwarded\"} %llu\n"
        "# HELP aria_gossip_rejected_total Gossip frames rejected by reason.\n"
        "# TYPE aria_gossip_rejected_total counter\n"
        "aria_gossip_rejected_total{reason=\"oversize\"} %llu\n"
        "aria_gossip_rejected_total{reason=\"malformed\"} %llu\n"
        "aria_gossip_rejected_total{reason=\"bad_signature\"} %llu\n"
        "aria_gossip_rejected_total{reason=\"stale\"} %llu\n"
        "aria_gossip_rejected_total{reason=\"rate\"} %llu\n"
        "aria_gossip_rejected_total{reason=\"network\"} %llu\n"
        "aria_gossip_rejected_total{reason=\"type\"} %llu\n"
        "aria_gossip_rejected_total{reason=\"queue_full\"} %llu\n"
        "# HELP aria_offences_total Pipes closed for misbehaviour, by what they did.\n"
        "# TYPE aria_offences_total counter\n"
        "aria_offences_total{kind=\"offender\"} %llu\n"
        "aria_offences_total{kind=\"flood\"} %llu\n"
        "aria_offences_total{kind=\"refused\"} %llu\n"
        "# HELP aria_pipes Gossip connections by direction.\n"
        "# TYPE aria_pipes gauge\n"
        "aria_pipes{direction=\"inbound\"} %llu\n"
        "aria_pipes{direction=\"outbound\"} %llu\n"
        "# HELP aria_service_requests_total Direct requests by direction.\n"
        "# TYPE aria_service_requests_total counter\n"
        "aria_service_requests_total{direction=\"sent\"} %llu\n"
        "aria_service_requests_total{direction=\"received\"} %llu\n",
        (unsigned long long)s.jobs_done, (unsigned long long)s.jobs_failed,
        (unsigned long long)s.jobs_served, (unsigned long long)s.jobs_served_failed,
        (unsigned long long)s.bids_made, (unsigned long long)s.bids_won,
        (unsigned long long)s.bids_lost, (unsigned long long)s.bids_skipped,
        (unsigned long long)s.tokens_served, (unsigned long long)s.tokens_bought,
        (unsigned long long)s.credits_earned, (unsigned long long)s.credits_spent,
        (unsigned long long)s.payments_rejected, (unsigned long long)s.entries_applied,
        (unsigned long long)s.entries_rejected, atomic_load(&n->peers),
        (unsigned long long)ws.gossip_received, (unsigned long long)ws.gossip_delivered,
        (unsigned long long)ws.gossip_duplicates, (unsigned long long)ws.gossip_published,
        (unsigned long long)ws.gossip_forwarded, (unsigned long long)ws.rejected_oversize,
        (unsigned long long)ws.rejected_malformed, (unsigned long long)ws.rejected_bad_sig,
        (unsigned long long)ws.rejected_stale, (unsigned long long)ws.rejected_rate,
        (unsigned long long)ws.rejected_network, (unsigned long long)ws.rejected_type,
        (unsigned long long)ws.queue_drops, (unsigned long long)ws.pipes_closed_offender,
        (unsigned long long)ws.pipes_closed_flood, (unsigned long long)ws.pipes_refused,
        (unsigned long long)ws.pipes_inbound, (unsigned long long)ws.pipes_outbound,
        (unsigned long long)ws.requests_sent, (unsigned long long)ws.service_received);
}

const char *
node_net_gossip_addr(const node_net *n)
{
    return wire_node_gossip_addr(n->w);
}

const char *
node_net_service_addr(const node_net *n)
{
    return wire_node_service_addr(n->w);
}

size_t
node_net_peer_count(const node_net *n)
{
    return atomic_load(&((node_net *)n)->peers);
}

size_t
node_net_link_count(const node_net *n)
{
    wire_stats ws;
    wire_node_stats(n->w, &ws); /* safe from any thread */
    return (size_t)(ws.pipes_inbound + ws.pipes_outbound);
}
