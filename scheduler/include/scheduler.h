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
 *
 * The manual is split by concern: sched_types.h (messages, actions, the
 * winner rule), sched_req.h (requester),
 * sched_prov.h (provider).
 */
#ifndef ARIA_SCHEDULER_H
#define ARIA_SCHEDULER_H

/* Default payment granularity in tokens (DESIGN §4). */
#define SCHED_CHUNK_TOKENS_DEFAULT 32

#include "sched_types.h"
#include "sched_req.h"
#include "sched_prov.h"

#endif /* ARIA_SCHEDULER_H */
