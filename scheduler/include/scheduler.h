/*
 * scheduler.h — the job auction and pay-as-you-pull streaming of DESIGN §4
 * as two pure state machines: the requester side of one job (sched_req) and
 * the provider side of one node (sched_prov). Events in, actions out.
 *
 * Pure: no sockets, files, threads, randomness or clock reads. Every entry
 * point takes `now_ms`, the caller's monotonic time in milliseconds; every
 * deadline the machines report is an absolute time in that same base, and
 * offer/bid expiry times are in that base too (the node converts the wall
 * times it gossips). If now_ms ever goes backwards the machine uses the
 * largest value it has seen. Timers fire only inside *_tick(); a caller runs
 * tick whenever now >= *_next_deadline() (UINT64_MAX = no timer).
 *
 * Messages are plain structs defined here (ids are 32-byte arrays); the node
 * maps them to wire and ledger messages. Every event function appends the
 * resulting actions to a caller-owned sched_actions (see "Actions").
 *
 * Return codes of event functions: 0 = applied; SCHED_IGNORED (1) = well
 * formed but not applicable now (duplicate, late, stale, out of order, for
 * another job or peer), no state change; ARIA_EPROTO = the peer broke the
 * protocol (detail message via aria_err_msg(); actions may still have been
 * appended, e.g. the requester abandons a provider that sent a bad chunk);
 * ARIA_EINVAL / ARIA_ESTATE = caller misuse detectable at run time.
 *
 * Threads: a machine is owned by one thread (the node's loop); none of these
 * functions lock. The full rules, tables and defaults are in
 * docs/scheduler.md.
 */
#ifndef ARIA_SCHEDULER_H
#define ARIA_SCHEDULER_H
#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default payment granularity in tokens (DESIGN §4). */
#define SCHED_CHUNK_TOKENS_DEFAULT 32
#define SCHED_ID_BYTES             32
#define SCHED_REQ_MAX_BIDS         64 /* best bids a requester keeps per job */
#define SCHED_REQ_MAX_AWARDS       8  /* providers tried per job, at most */
#define SCHED_PROV_MAX_MODELS      16
#define SCHED_PROV_MAX_CAPACITY    1024
#define SCHED_ACTIONS_MAX          16 /* actions one event can append */
#define SCHED_NO_DEADLINE          UINT64_MAX

enum { SCHED_IGNORED = 1 };

/* ------------------------------------------------------------------ */
/* Messages (the node maps these to wire/ledger messages)               */
/* ------------------------------------------------------------------ */

/* Offer (gossiped, signed by the requester). The prompt is not in it. */
typedef struct sched_offer {
    uint8_t job_id[SCHED_ID_BYTES];
    uint8_t requester[SCHED_ID_BYTES]; /* requester node id */
    uint8_t model_id[SCHED_ID_BYTES];
    uint32_t prompt_tokens;
    uint32_t max_new_tokens;  /* >= 1 */
    uint32_t chunk_tokens;    /* payment granularity; 0 = default 32 */
    uint64_t max_price_micro; /* micro-credits per generated token */
    uint32_t bid_window_ms;   /* 0 = default */
    uint64_t expires_ms;      /* job deadline (absolute, caller time base) */
} sched_offer;

/* Bid (direct to the requester, signed by the provider). */
typedef struct sched_bid {
    uint8_t job_id[SCHED_ID_BYTES];
    uint8_t provider[SCHED_ID_BYTES];
    uint64_t price_micro;  /* per generated token */
    uint32_t tokens_per_s; /* expected decode speed, >= 1 */
    uint32_t queue_depth;  /* jobs the provider is running now */
    uint64_t expires_ms;   /* capacity reserved until then */
} sched_bid;

/* Award (direct to the chosen provider). A re-award resumes the job at
 * start_chunk: the provider re-prefills prompt + the start_token tokens
 * already produced (the node sends them sealed with the prompt). */
typedef struct sched_award {
    uint8_t job_id[SCHED_ID_BYTES];
    uint8_t requester[SCHED_ID_BYTES];
    uint8_t provider[SCHED_ID_BYTES];
    uint8_t model_id[SCHED_ID_BYTES];
    uint64_t price_micro; /* the provider's bid price */
    uint32_t prompt_tokens;
    uint32_t max_new_tokens; /* for the whole job */
    uint32_t chunk_tokens;
    uint32_t start_chunk; /* first chunk this provider produces */
    uint32_t start_token; /* = start_chunk * chunk_tokens */
    uint32_t attempt;     /* 0 for the first award, 1.. for re-awards */
} sched_award;

typedef enum sched_refuse {
    SCHED_REFUSE_NONE = 0,
    SCHED_REFUSE_CAPACITY = 1, /* no free slot now */
    SCHED_REFUSE_MODEL = 2,    /* model not served */
    SCHED_REFUSE_PRICE = 3,    /* award price below the provider's price */
} sched_refuse;

/* The provider's answer to an award. */
typedef struct sched_award_reply {
    uint8_t job_id[SCHED_ID_BYTES];
    uint8_t provider[SCHED_ID_BYTES];
    bool accepted;
    sched_refuse reason; /* when !accepted */
} sched_award_reply;

/* A payment: one ledger send from payer to payee. `amount_micro` is this
 * transfer; the totals are cumulative for (job, payee), so a provider can
 * check a duplicated or reordered payment without double counting. */
typedef struct sched_payment {
    uint8_t job_id[SCHED_ID_BYTES];
    uint8_t payer[SCHED_ID_BYTES];
    uint8_t payee[SCHED_ID_BYTES];
    uint64_t amount_micro;
    uint32_t upto_chunk;   /* covers every delivered chunk with index < this */
    uint32_t total_tokens; /* tokens paid to payee for this job, cumulative */
    uint64_t total_micro;  /* credits paid to payee for this job, cumulative */
} sched_payment;

/* "Want chunk i" (direct to the provider). Every pull after the first of an
 * award carries the payment for the chunks received so far. */
typedef struct sched_pull {
    uint8_t job_id[SCHED_ID_BYTES];
    uint8_t requester[SCHED_ID_BYTES];
    uint8_t provider[SCHED_ID_BYTES];
    uint32_t chunk; /* global chunk index: tokens [chunk*C, chunk*C + C) */
    bool has_payment;
    sched_payment payment;
} sched_pull;

/* A chunk of output (the tokens themselves stay with the node). Every chunk
 * has chunk_tokens tokens except the last, which may have fewer (even 0). */
typedef struct sched_chunk {
    uint8_t job_id[SCHED_ID_BYTES];
    uint8_t provider[SCHED_ID_BYTES];
    uint32_t index;
    uint32_t n_tokens;
    bool last;                           /* end of output (EOS or max_new) */
    uint8_t output_hash[SCHED_ID_BYTES]; /* on the last chunk: provider's hash */
} sched_chunk;

/* Requester → provider: stop working on this job. */
typedef struct sched_cancel {
    uint8_t job_id[SCHED_ID_BYTES];
    uint8_t requester[SCHED_ID_BYTES];
    uint8_t provider[SCHED_ID_BYTES];
} sched_cancel;

/* The job receipt carried by the last payment (DESIGN §4.5). With re-awards
 * it names the provider that finished the job: tokens_in counts the prompt
 * plus the resumed tokens it prefilled, tokens_out the tokens it produced. */
typedef struct sched_receipt {
    uint8_t job_id[SCHED_ID_BYTES];
    uint8_t model_id[SCHED_ID_BYTES];
    uint8_t requester[SCHED_ID_BYTES];
    uint8_t provider[SCHED_ID_BYTES];
    uint32_t tokens_in;
    uint32_t tokens_out;
    uint64_t price_micro;
    uint64_t total_micro; /* paid to this provider for the job */
    uint8_t output_hash[SCHED_ID_BYTES];
} sched_receipt;

/* Provider → its inference worker: produce chunk `chunk` (up to max_tokens
 * tokens starting at output token start_token). The worker answers with
 * sched_prov_on_computed(). */
typedef struct sched_compute {
    uint8_t job_id[SCHED_ID_BYTES];
    uint32_t chunk;
    uint32_t start_token;
    uint32_t max_tokens;
    bool first; /* first chunk of this award: prefill prompt + start_token */
} sched_compute;

/* Why a job ended (requester END) or a provider slot was freed (RELEASE). */
typedef enum sched_end_reason {
    SCHED_END_DONE = 0,        /* output complete, settled */
    SCHED_END_NO_BIDS = 1,     /* requester: no eligible bid in the window */
    SCHED_END_NO_PROVIDER = 2, /* requester: every bidder refused or died */
    SCHED_END_EXPIRED = 3,     /* requester: job deadline passed */
    SCHED_END_CANCELED = 4,    /* requester canceled */
    SCHED_END_BID_LAPSED = 5,  /* provider: reservation expired, no award */
    SCHED_END_UNPAID = 6,      /* provider: payment lagged or pulls stopped */
    SCHED_END_UNSETTLED = 7,   /* provider: output sent, final payment missing */
} sched_end_reason;
const char *sched_end_reason_name(sched_end_reason r);

typedef struct sched_end {
    uint8_t job_id[SCHED_ID_BYTES];
    uint8_t peer[SCHED_ID_BYTES]; /* RELEASE: the requester; END: last provider or 0 */
    sched_end_reason reason;
    uint32_t tokens;     /* END: tokens received; RELEASE: tokens delivered */
    uint64_t paid_micro; /* END: total paid; RELEASE: total received */
} sched_end;

/* ------------------------------------------------------------------ */
/* Actions                                                              */
/* ------------------------------------------------------------------ */

typedef enum sched_action_kind {
    /* requester */
    SCHED_ACT_OFFER = 1, /* gossip u.offer */
    SCHED_ACT_AWARD,     /* send u.award to u.award.provider */
    SCHED_ACT_PULL,      /* if has_payment, sign u.pull.payment as a ledger send; send u.pull */
    SCHED_ACT_SETTLE,    /* sign u.settle.pay, send it with u.settle.receipt */
    SCHED_ACT_CANCEL,    /* send u.cancel to u.cancel.provider */
    SCHED_ACT_OUTPUT,    /* accept u.chunk's tokens into the output (in order) */
    SCHED_ACT_END,       /* the job is over: u.end */
    /* provider */
    SCHED_ACT_BID,         /* send u.bid to the offer's requester */
    SCHED_ACT_AWARD_REPLY, /* answer the award with u.reply */
    SCHED_ACT_COMPUTE,     /* ask the worker for u.compute */
    SCHED_ACT_CHUNK,       /* send computed chunk u.chunk (again, if a resend) */
    SCHED_ACT_RELEASE,     /* slot freed: stop the worker, drop job state: u.end */
} sched_action_kind;
const char *sched_action_name(sched_action_kind k);

typedef struct sched_settle {
    sched_payment pay; /* amount_micro may be 0 (nothing left to pay) */
    sched_receipt receipt;
} sched_settle;

typedef struct sched_action {
    sched_action_kind kind;
    union {
        sched_offer offer;
        sched_award award;
        sched_pull pull;
        sched_settle settle;
        sched_cancel cancel;
        sched_chunk chunk; /* OUTPUT, CHUNK */
        sched_bid bid;
        sched_award_reply reply;
        sched_compute compute;
        sched_end end; /* END, RELEASE */
    } u;
} sched_action;

/* Caller-owned output list. Event functions append (they never clear);
 * appending past SCHED_ACTIONS_MAX is a contract violation (abort). Clear
 * between events with sched_actions_clear(). */
typedef struct sched_actions {
    size_t n;
    sched_action a[SCHED_ACTIONS_MAX];
} sched_actions;
static inline void
sched_actions_clear(sched_actions *out)
{
    out->n = 0;
}

/* ------------------------------------------------------------------ */
/* Winner rule (used by the requester; exported for tests and tools)    */
/* ------------------------------------------------------------------ */

/* Expected job latency of a bid: (queue_depth + 1) * ceil(work_tokens *
 * 1000 / tokens_per_s) ms, saturating; UINT64_MAX when tokens_per_s is 0. */
uint64_t sched_bid_latency_ms(const sched_bid *b, uint32_t work_tokens);
/* Tie-break hash over (job id, provider id): 64-bit FNV-1a over the 64
 * bytes, then the murmur3 finaliser. Lower wins. Not cryptographic. */
uint64_t sched_tiebreak(const uint8_t job_id[SCHED_ID_BYTES],
                        const uint8_t provider[SCHED_ID_BYTES]);
/* Compare two bids for job work of `work_tokens` with caller-supplied
 * reputations (higher is better). Negative if a wins, positive if b wins,
 * 0 only if the provider ids are equal. Order: lower price, then lower
 * expected latency, then higher reputation, then lower tie-break hash,
 * then lower provider id (bytewise). */
int sched_bid_cmp(const sched_bid *a, uint32_t rep_a, const sched_bid *b, uint32_t rep_b,
                  uint32_t work_tokens);

/* ------------------------------------------------------------------ */
/* Requester: one job                                                   */
/* ------------------------------------------------------------------ */

typedef struct sched_req_config {
    uint32_t bid_window_ms;          /* used when the offer says 0; 500 */
    uint32_t award_timeout_ms;       /* award → reply; 5000 */
    uint32_t first_chunk_timeout_ms; /* accept/first pull → chunk (prefill); 60000 */
    uint32_t chunk_timeout_ms;       /* pull → chunk; 20000 */
    uint32_t max_awards;             /* providers tried, 1..SCHED_REQ_MAX_AWARDS; 4 */
    uint32_t max_auctions;           /* offers made (1 = never re-offer), >= 1; 3 */
} sched_req_config;
void sched_req_config_default(sched_req_config *c);

typedef enum sched_req_state {
    SCHED_REQ_NEW = 0,    /* created, offer not sent */
    SCHED_REQ_COLLECTING, /* offer sent (again), collecting bids until the window ends */
    SCHED_REQ_AWARDING,   /* award sent, waiting for the reply */
    SCHED_REQ_STREAMING,  /* pulling chunks from the current provider */
    SCHED_REQ_DONE,       /* terminal: settled */
    SCHED_REQ_FAILED,     /* terminal: no bids / no provider / expired */
    SCHED_REQ_CANCELED,   /* terminal: canceled by the caller */
} sched_req_state;
const char *sched_req_state_name(sched_req_state s);

typedef struct sched_req sched_req;

/* Create a job machine for `offer` (copied; chunk_tokens 0 → default,
 * bid_window_ms 0 → cfg). cfg NULL = defaults. ARIA_EINVAL (with a message)
 * if max_new_tokens is 0, max_price * max_new_tokens overflows, or cfg is
 * out of range; ARIA_ENOMEM. Free with sched_req_free (NULL is a no-op). */
int sched_req_new(const sched_offer *offer, const sched_req_config *cfg,
                  sched_req **out) ARIA_MUST_CHECK;
void sched_req_free(sched_req *r);

/* NEW → COLLECTING: appends OFFER; the bid window starts now.
 * ARIA_ESTATE if already started; ARIA_EINVAL if the offer already expired. */
int sched_req_start(sched_req *r, uint64_t now_ms, sched_actions *out) ARIA_MUST_CHECK;
/* A bid, with the caller's reputation score for its provider (higher is
 * better, e.g. from the ledger). Stored if it is for this job, at or under
 * the max price, unexpired, tokens_per_s >= 1, and the first from this
 * provider; kept as a backup when it arrives after the window. When
 * SCHED_REQ_MAX_BIDS are held, the worst is replaced by a better one. */
int sched_req_on_bid(sched_req *r, const sched_bid *bid, uint32_t reputation, uint64_t now_ms,
                     sched_actions *out) ARIA_MUST_CHECK;
int sched_req_on_award_reply(sched_req *r, const sched_award_reply *reply, uint64_t now_ms,
                             sched_actions *out) ARIA_MUST_CHECK;
int sched_req_on_chunk(sched_req *r, const sched_chunk *chunk, uint64_t now_ms,
                       sched_actions *out) ARIA_MUST_CHECK;
/* Cancel: tells the current provider to stop (CANCEL) and ends the job.
 * Nothing is owed: every chunk received was already paid on the pull that
 * followed it. SCHED_IGNORED when already over. */
int sched_req_cancel(sched_req *r, uint64_t now_ms, sched_actions *out) ARIA_MUST_CHECK;
/* Fire every timer with deadline <= now_ms. */
int sched_req_tick(sched_req *r, uint64_t now_ms, sched_actions *out) ARIA_MUST_CHECK;
uint64_t sched_req_next_deadline(const sched_req *r);

sched_req_state sched_req_get_state(const sched_req *r);
bool sched_req_is_over(const sched_req *r);

/* One award of this job and what flowed under it. */
typedef struct sched_req_attempt {
    uint8_t provider[SCHED_ID_BYTES];
    uint64_t price_micro;
    uint32_t start_chunk;
    uint32_t chunks;      /* chunks received from it */
    uint32_t tokens;      /* tokens received from it */
    uint32_t paid_tokens; /* tokens paid to it */
    uint64_t paid_micro;  /* credits paid to it (= paid_tokens * price) */
    bool accepted;
    bool current;
} sched_req_attempt;

typedef struct sched_req_info {
    sched_req_state state;
    sched_end_reason end_reason; /* when over */
    uint32_t chunk_tokens;
    uint32_t bids;       /* bids held */
    uint32_t auctions;   /* offers made */
    uint32_t attempts;   /* awards made */
    uint32_t next_chunk; /* chunks received (global index of the next one) */
    uint32_t tokens;     /* tokens received */
    uint64_t paid_micro; /* credits paid, all providers */
} sched_req_info;
void sched_req_get_info(const sched_req *r, sched_req_info *out);
/* Attempt i (0-based, < info.attempts). ARIA_ERANGE otherwise. */
int sched_req_get_attempt(const sched_req *r, uint32_t i, sched_req_attempt *out) ARIA_MUST_CHECK;
/* Check the payment invariants (every provider paid exactly price times
 * the tokens received from it, so never more than delivered and nothing
 * owed between events; totals agree; chunks in order). 0, or ARIA_EINTERNAL with a message naming
 * the broken one. */
int sched_req_check(const sched_req *r) ARIA_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Provider: one node, many jobs                                        */
/* ------------------------------------------------------------------ */

typedef struct sched_prov_config {
    uint8_t node_id[SCHED_ID_BYTES];
    uint32_t capacity;          /* concurrent jobs, 1..1024 */
    uint32_t overbook_pct;      /* bids outstanding + jobs <= capacity * this / 100;
                                   100..1000, 0 = 100 (every bid holds a real slot) */
    uint64_t base_price_micro;  /* price per token when idle */
    uint32_t load_factor_pct;   /* price rise at full load, percent of base */
    uint32_t tokens_per_s;      /* advertised decode speed, >= 1 */
    uint32_t bid_grace_ms;      /* reservation = offer's window + this; 2000 */
    uint32_t pull_timeout_ms;   /* wait for the next (paid) pull; 30000 */
    uint32_t settle_timeout_ms; /* wait for the final payment; 30000 */
    uint32_t n_models;
    uint8_t models[SCHED_PROV_MAX_MODELS][SCHED_ID_BYTES];
} sched_prov_config;
/* Defaults for everything but node_id, prices and models (zeroed). */
void sched_prov_config_default(sched_prov_config *c);

/* Why no bid was made (sched_prov_on_offer's positive return values). */
typedef enum sched_nobid {
    SCHED_NOBID_MODEL = 2,     /* model not served */
    SCHED_NOBID_CAPACITY = 3,  /* no free slot, or capacity jobs running */
    SCHED_NOBID_PRICE = 4,     /* our price is above the offer's max */
    SCHED_NOBID_DUPLICATE = 5, /* already bid for / running this job */
    SCHED_NOBID_EXPIRED = 6,   /* the offer has expired */
    SCHED_NOBID_INVALID = 7,   /* offer fields unusable (max_new 0, overflow) */
} sched_nobid;
const char *sched_nobid_name(int why);

typedef struct sched_prov sched_prov;

/* ARIA_EINVAL (with a message) on a bad config; ARIA_ENOMEM. */
int sched_prov_new(const sched_prov_config *cfg, sched_prov **out) ARIA_MUST_CHECK;
void sched_prov_free(sched_prov *p);

/* The price this provider asks now: base + ceil(base * load_factor_pct *
 * used / (100 * capacity)), used = reserved + running slots (saturating;
 * with overbooking used can exceed capacity). */
uint64_t sched_prov_price(const sched_prov *p);
/* Decide on an offer. 0 = bid made (BID appended, a slot reserved until
 * the bid expires); a positive sched_nobid code = no bid, nothing changed. */
int sched_prov_on_offer(sched_prov *p, const sched_offer *offer, uint64_t now_ms,
                        sched_actions *out) ARIA_MUST_CHECK;
/* Accept (AWARD_REPLY accepted + COMPUTE of the first chunk) or refuse
 * (AWARD_REPLY with a reason). An award without a live reservation (it
 * lapsed, or a re-award to a former bidder) is accepted only if the model
 * is served, a slot is free and the award price is >= our price now. A
 * repeated award for a running job repeats the acceptance only. */
int sched_prov_on_award(sched_prov *p, const sched_award *award, uint64_t now_ms,
                        sched_actions *out) ARIA_MUST_CHECK;
/* A pull. For the next chunk, payment must cover every chunk delivered
 * before it, else the job stops (RELEASE unpaid). A repeated pull of the
 * last sent chunk resends it; older or future indexes are ignored. */
int sched_prov_on_pull(sched_prov *p, const sched_pull *pull, uint64_t now_ms,
                       sched_actions *out) ARIA_MUST_CHECK;
/* The worker finished chunk `chunk` with n_tokens tokens (fewer than asked
 * only at the end of output: `last`). output_hash is used on the last chunk.
 * ARIA_EINVAL if it produced more than asked or too few without `last`. */
int sched_prov_on_computed(sched_prov *p, const uint8_t job_id[SCHED_ID_BYTES], uint32_t chunk,
                           uint32_t n_tokens, bool last, const uint8_t output_hash[SCHED_ID_BYTES],
                           uint64_t now_ms, sched_actions *out) ARIA_MUST_CHECK;
/* A payment not riding on a pull: the settle. Completes a finished job
 * once it covers every delivered token. */
int sched_prov_on_payment(sched_prov *p, const sched_payment *pay, uint64_t now_ms,
                          sched_actions *out) ARIA_MUST_CHECK;
int sched_prov_on_cancel(sched_prov *p, const sched_cancel *c, uint64_t now_ms,
                         sched_actions *out) ARIA_MUST_CHECK;
/* Fire timers with deadline <= now_ms, as many as fit in `out` (one action
 * each); call again while sched_prov_next_deadline() <= now_ms. */
int sched_prov_tick(sched_prov *p, uint64_t now_ms, sched_actions *out) ARIA_MUST_CHECK;
uint64_t sched_prov_next_deadline(const sched_prov *p);

typedef enum sched_slot_state {
    SCHED_SLOT_FREE = 0,
    SCHED_SLOT_RESERVED,  /* bid made, waiting for an award */
    SCHED_SLOT_RUNNING,   /* awarded: computing / sending chunks */
    SCHED_SLOT_FINISHING, /* last chunk sent, waiting for the final payment */
} sched_slot_state;
const char *sched_slot_state_name(sched_slot_state s);

typedef struct sched_prov_job {
    sched_slot_state state;
    uint64_t price_micro;
    uint32_t start_chunk;
    uint32_t next_send;        /* next chunk index to send */
    uint32_t delivered_chunks; /* sent under this award */
    uint32_t delivered_tokens;
    uint64_t paid_micro; /* cumulative, as reported by payments */
    bool computing;      /* worker busy on chunk next_send */
    bool ready;          /* chunk next_send computed, not sent */
    bool pulled;         /* chunk next_send pulled (and paid for) */
    uint64_t deadline;
} sched_prov_job;

/* Slots in use (reserved + running + finishing), and jobs running
 * (running + finishing). */
uint32_t sched_prov_used(const sched_prov *p);
uint32_t sched_prov_running(const sched_prov *p);
/* ARIA_ENOTFOUND if the provider holds no slot for job_id. */
int sched_prov_get_job(const sched_prov *p, const uint8_t job_id[SCHED_ID_BYTES],
                       sched_prov_job *out) ARIA_MUST_CHECK;
/* Check invariants (running jobs <= capacity, slots <= capacity *
 * overbook; per job: at most one chunk computed
 * beyond the last pull, at most one delivered chunk unpaid). 0 or
 * ARIA_EINTERNAL with a message. */
int sched_prov_check(const sched_prov *p) ARIA_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif /* ARIA_SCHEDULER_H */
