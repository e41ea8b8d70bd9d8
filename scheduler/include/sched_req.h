/*
 * sched_req.h — the requester machine for one job (see scheduler.h for the
 * conventions: now_ms, return codes, actions).
 */
#ifndef ARIA_SCHED_REQ_H
#define ARIA_SCHED_REQ_H
#include "sched_types.h"

#ifdef __cplusplus
extern "C" {
#endif

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

#ifdef __cplusplus
}
#endif
#endif /* ARIA_SCHED_REQ_H */
