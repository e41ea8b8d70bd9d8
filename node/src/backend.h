/*
 * backend.h — private to node: what the HTTP API asks of the node.
 *
 * The HTTP layer parses and validates OpenAI-style requests into a
 * node_completion_req and hands it to submit(); the backend produces text
 * into the node_stream (from an inference worker or a paid network job) and
 * finishes it with usage, cost and provider. Functions are called from HTTP
 * threads; the backend synchronises with its own loop.
 */
#ifndef ARIA_NODE_BACKEND_H
#define ARIA_NODE_BACKEND_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base.h"
#include "stream.h"

#define NODE_REQ_MAX_STOP     4
#define NODE_REQ_MAX_MESSAGES 64

typedef struct node_chat_msg {
    const char *role;    /* "system", "user", "assistant" (borrowed) */
    const char *content; /* borrowed */
} node_chat_msg;

typedef struct node_completion_req {
    const char *model;                             /* borrowed, valid during submit() */
    const char *prompt;                            /* completions: the prompt text; chat: NULL */
    node_chat_msg messages[NODE_REQ_MAX_MESSAGES]; /* chat only */
    int n_messages;
    int max_tokens;
    double temperature, top_p, min_p, repeat_penalty;
    int top_k;
    uint64_t seed;
    bool has_seed;
    const char *stop[NODE_REQ_MAX_STOP];
    int n_stop;
    bool stream;
    bool local;               /* run on this node's model, not a network job */
    uint64_t max_price_micro; /* 0 = the node's default cap */
} node_completion_req;

typedef struct node_backend {
    void *ctx;
    /* Append one object per model ({"id":..., "object":"model", ...}). */
    void (*list_models)(void *ctx, json_t *data);
    /* Start the completion. On success the backend owns a reference to s and
     * finishes it. On failure returns ARIA_E* with aria_errf detail:
     * EINVAL → 400, ENOTFOUND (model) → 404, EFUNDS → 402, EFULL → 429,
     * EAGAIN / ENOTFOUND (no provider) → 503. */
    int (*submit)(void *ctx, const node_completion_req *req, node_stream *s);
    /* Fill /aria/v1/<what> (status, peers, jobs, balance, receipts); return
     * ARIA_ENOTFOUND for an unknown `what`. `account` is the `?account=`
     * query argument (NULL when absent): the account asked about instead of
     * the node's own. */
    int (*info)(void *ctx, const char *what, const char *account, json_t *out);
    /* POST /aria/v1/send: sign a send of `amount` credits from the node's
     * account to `to` (an address or 64 hex digits) and apply it to the
     * node's ledger; fill out with the entry id and the new balance.
     * EINVAL (bad address or amount) → 400, EFUNDS → 402, EAGAIN (no ledger)
     * → 503. */
    int (*send)(void *ctx, const char *to, uint64_t amount, json_t *out);
    /* Append Prometheus text exposition to out. */
    void (*metrics)(void *ctx, aria_buf *out);
} node_backend;

#endif
