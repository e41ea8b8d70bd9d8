/*
 * sched_int.h — helpers shared by the requester and provider machines.
 * Private to the scheduler module (unit tests may include it).
 */
#ifndef ARIA_SCHED_INT_H
#define ARIA_SCHED_INT_H
#include <string.h>

#include "scheduler.h"

/* Append one action of `kind` and return it zeroed but for the kind.
 * Overflowing the caller's list is a contract violation. */
sched_action *sched_push(sched_actions *out, sched_action_kind kind);

static inline bool
sched_id_eq(const uint8_t *a, const uint8_t *b)
{
    return memcmp(a, b, SCHED_ID_BYTES) == 0;
}

static inline void
sched_id_cpy(uint8_t *dst, const uint8_t *src)
{
    memcpy(dst, src, SCHED_ID_BYTES);
}

/* a * b saturating at UINT64_MAX. */
static inline uint64_t
sched_mul_sat(uint64_t a, uint64_t b)
{
    if (a != 0 && b > UINT64_MAX / a)
        return UINT64_MAX;
    return a * b;
}

static inline uint64_t
sched_add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

#endif
