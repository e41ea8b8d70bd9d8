/*
 * sched.c — parts shared by both machines: the action list, the winner
 * rule (bid comparison, expected latency, tie-break hash) and names.
 *
 * Invariant: sched_bid_cmp is a strict total order on bids with distinct
 * provider ids, so the winner does not depend on the order bids arrived in.
 */
#include "sched_int.h"

sched_action *
sched_push(sched_actions *out, sched_action_kind kind)
{
    ARIA_ASSERT(out != NULL);
    ARIA_ASSERT(out->n < SCHED_ACTIONS_MAX);
    sched_action *a = &out->a[out->n++];
    memset(a, 0, sizeof *a);
    a->kind = kind;
    return a;
}

uint64_t
sched_bid_latency_ms(const sched_bid *b, uint32_t work_tokens)
{
    if (b->tokens_per_s == 0)
        return UINT64_MAX;
    uint64_t per_job = ((uint64_t)work_tokens * 1000u + b->tokens_per_s - 1) / b->tokens_per_s;
    return sched_mul_sat(per_job, (uint64_t)b->queue_depth + 1);
}

uint64_t
sched_tiebreak(const uint8_t job_id[SCHED_ID_BYTES], const uint8_t provider[SCHED_ID_BYTES])
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 offset basis */
    for (int i = 0; i < SCHED_ID_BYTES; i++)
        h = (h ^ job_id[i]) * 0x100000001b3ull;
    for (int i = 0; i < SCHED_ID_BYTES; i++)
        h = (h ^ provider[i]) * 0x100000001b3ull;
    /* murmur3 fmix64: FNV's last bytes otherwise dominate the high bits */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

int
sched_bid_cmp(const sched_bid *a, uint32_t rep_a, const sched_bid *b, uint32_t rep_b,
              uint32_t work_tokens)
{
    if (a->price_micro != b->price_micro)
        return a->price_micro < b->price_micro ? -1 : 1;
    uint64_t la = sched_bid_latency_ms(a, work_tokens), lb = sched_bid_latency_ms(b, work_tokens);
    if (la != lb)
        return la < lb ? -1 : 1;
    if (rep_a != rep_b)
        return rep_a > rep_b ? -1 : 1;
    uint64_t ha = sched_tiebreak(a->job_id, a->provider);
    uint64_t hb = sched_tiebreak(b->job_id, b->provider);
    if (ha != hb)
        return ha < hb ? -1 : 1;
    int c = memcmp(a->provider, b->provider, SCHED_ID_BYTES);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

const char *
sched_end_reason_name(sched_end_reason r)
{
    switch (r) {
    case SCHED_END_DONE: return "done";
    case SCHED_END_NO_BIDS: return "no-bids";
    case SCHED_END_NO_PROVIDER: return "no-provider";
    case SCHED_END_EXPIRED: return "expired";
    case SCHED_END_CANCELED: return "canceled";
    case SCHED_END_BID_LAPSED: return "bid-lapsed";
    case SCHED_END_UNPAID: return "unpaid";
    case SCHED_END_UNSETTLED: return "unsettled";
    }
    return "unknown";
}

const char *
sched_action_name(sched_action_kind k)
{
    switch (k) {
    case SCHED_ACT_OFFER: return "offer";
    case SCHED_ACT_AWARD: return "award";
    case SCHED_ACT_PULL: return "pull";
    case SCHED_ACT_SETTLE: return "settle";
    case SCHED_ACT_CANCEL: return "cancel";
    case SCHED_ACT_OUTPUT: return "output";
    case SCHED_ACT_END: return "end";
    case SCHED_ACT_BID: return "bid";
    case SCHED_ACT_AWARD_REPLY: return "award-reply";
    case SCHED_ACT_COMPUTE: return "compute";
    case SCHED_ACT_CHUNK: return "chunk";
    case SCHED_ACT_RELEASE: return "release";
    }
    return "unknown";
}

const char *
sched_req_state_name(sched_req_state s)
{
    switch (s) {
    case SCHED_REQ_NEW: return "new";
    case SCHED_REQ_COLLECTING: return "collecting";
    case SCHED_REQ_AWARDING: return "awarding";
    case SCHED_REQ_STREAMING: return "streaming";
    case SCHED_REQ_DONE: return "done";
    case SCHED_REQ_FAILED: return "failed";
    case SCHED_REQ_CANCELED: return "canceled";
    }
    return "unknown";
}

const char *
sched_slot_state_name(sched_slot_state s)
{
    switch (s) {
    case SCHED_SLOT_FREE: return "free";
    case SCHED_SLOT_RESERVED: return "reserved";
    case SCHED_SLOT_RUNNING: return "running";
    case SCHED_SLOT_FINISHING: return "finishing";
    }
    return "unknown";
}

const char *
sched_nobid_name(int why)
{
    switch (why) {
    case 0: return "bid";
    case SCHED_NOBID_MODEL: return "model-not-served";
    case SCHED_NOBID_CAPACITY: return "at-capacity";
    case SCHED_NOBID_PRICE: return "price-above-max";
    case SCHED_NOBID_DUPLICATE: return "duplicate";
    case SCHED_NOBID_EXPIRED: return "offer-expired";
    case SCHED_NOBID_INVALID: return "invalid-offer";
    }
    return "unknown";
}
