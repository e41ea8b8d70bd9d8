/*
 * net.h — private to node: the network side of the daemon. One loop thread
 * (the caller of node_net_run_once) owns the wire node, the provider
 * machine, every requester job machine and all of their state; HTTP threads
 * reach it only through node_net_submit / node_net_call, which queue work for
 * the loop and wake it. Ledger access everywhere goes through opts.lock.
 *
 * What it does (docs/protocol.md "Jobs"): gossips offers and ledger entries,
 * bids for offers of the model it serves, streams chunks sealed to the
 * requester against payments that are real ledger sends, settles with a
 * receipt signed by the provider, re-awards a job whose provider went
 * silent, syncs ledgers by entries, and receives the sends paid to it.
 */
#ifndef ARIA_NODE_NET_H
#define ARIA_NODE_NET_H
#include <jansson.h>
#include <pthread.h>

#include "backend.h"
#include "config.h"
#include "ledger.h"
#include "stream.h"
#include "wallet.h"
#include "worker.h"

typedef struct node_net node_net;

typedef struct node_net_opts {
    const node_config *cfg;
    const wallet *wal;     /* the node's identity (borrowed) */
    ledger *led;           /* borrowed; only under *lock */
    pthread_mutex_t *lock; /* guards led */
    node_worker *worker;   /* the model served, or NULL (requester only) */
} node_net_opts;

int node_net_open(const node_net_opts *o, node_net **out) ARIA_MUST_CHECK;
/* Loop thread: end open jobs with an error, save the peer file. The wire
 * stays open (no new work is taken) and nothing here touches the ledger or
 * blocks on the network library, so the caller can close the worker and the
 * ledger next. Idempotent. */
void node_net_shutdown(node_net *n);
/* Shutdown (if not done) and close the sockets. nng 1.5.2 can hang in
 * nng_close (nanomsg/nng#1543): call this last, under a watchdog. */
void node_net_close(node_net *n);

/* Loop thread: wait up to timeout_ms for network or queued work, handle it
 * and every due timer. Also polls `extra_fd` (e.g. a signalfd; -1 = none)
 * and returns 1 when it is readable, else 0. */
int node_net_run_once(node_net *n, int timeout_ms, int extra_fd);

/* Any thread: start a paid network job for req; text goes into s. Errors
 * found later (no bids, too few credits, unknown model) finish s with the
 * error before any text. */
int node_net_submit(node_net *n, const node_completion_req *req, node_stream *s) ARIA_MUST_CHECK;

/* Any thread: gossip a ledger entry this node signed outside the loop. */
void node_net_publish_entry(node_net *n, const uint8_t *bytes, size_t len);

/* Any thread: fill `out` for /aria/v1/<what> ("peers", "jobs", "network")
 * on the loop thread (waits up to 5 s). */
int node_net_info(node_net *n, const char *what, json_t *out) ARIA_MUST_CHECK;
/* Any thread: Prometheus text for the network counters. */
void node_net_metrics(node_net *n, aria_buf *out);

const char *node_net_gossip_addr(const node_net *n);
const char *node_net_service_addr(const node_net *n);
size_t node_net_peer_count(const node_net *n);
/* Gossip links (pipes) up now, inbound + outbound. Any thread. */
size_t node_net_link_count(const node_net *n);

/* Counters (any thread). */
typedef struct node_net_stats {
    uint64_t jobs_requested, jobs_done, jobs_failed; /* as requester */
    uint64_t jobs_served, jobs_served_failed;        /* as provider */
    uint64_t bids_made, bids_won, bids_lost, awards_refused, bids_skipped;
    uint64_t tokens_served, tokens_bought;
    uint64_t credits_earned, credits_spent;
    uint64_t payments_rejected, entries_applied, entries_rejected, forks_seen, syncs;
} node_net_stats;
void node_net_get_stats(const node_net *n, node_net_stats *out);

#endif
