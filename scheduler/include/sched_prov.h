/*
 * sched_prov.h — the provider machine for one node (see scheduler.h for the
 * conventions: now_ms, return codes, actions).
 */
#ifndef ARIA_SCHED_PROV_H
#define ARIA_SCHED_PROV_H
#include "sched_types.h"

#ifdef __cplusplus
extern "C" {
#endif

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
#endif /* ARIA_SCHED_PROV_H */
