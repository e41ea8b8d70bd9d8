/*
 * sched_types.h — the scheduler's messages, actions and winner rule: the
 * plain structs shared by the requester (sched_req.h) and provider
 * (sched_prov.h) machines. Include scheduler.h, which includes all three,
 * defines SCHED_CHUNK_TOKENS_DEFAULT and starts the module manual.
 */
#ifndef ARIA_SCHED_TYPES_H
#define ARIA_SCHED_TYPES_H
#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SCHED_ID_BYTES          32
#define SCHED_REQ_MAX_BIDS      64 /* best bids a requester keeps per job */
#define SCHED_REQ_MAX_AWARDS    8  /* providers tried per job, at most */
#define SCHED_PROV_MAX_MODELS   16
#define SCHED_PROV_MAX_CAPACITY 1024
#define SCHED_ACTIONS_MAX       16 /* actions one event can append */
#define SCHED_NO_DEADLINE       UINT64_MAX

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

#ifdef __cplusplus
}
#endif
#endif /* ARIA_SCHED_TYPES_H */
