/*
 * scheduler.h — requester and provider job state machines (pure; no I/O).
 * (Skeleton: the scheduler issue fills this module in.)
 */
#ifndef ARIA_SCHEDULER_H
#define ARIA_SCHEDULER_H
#include "base.h"

/* Default payment granularity in tokens (DESIGN §4). */
#define SCHED_CHUNK_TOKENS_DEFAULT 32

#endif
