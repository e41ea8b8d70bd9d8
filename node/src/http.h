/*
 * http.h — private to node: the HTTP API server (libmicrohttpd).
 *
 * OpenAI-compatible routes (GET /v1/models, POST /v1/completions,
 * POST /v1/chat/completions with `stream: true` as server-sent events) plus
 * GET /aria/v1/{status,peers,jobs,balance,receipts} and GET /metrics.
 * Errors are OpenAI-style JSON: {"error": {"message", "type", "param", "code"}}.
 *
 * Threads: libmicrohttpd runs one thread per connection (bounded by the
 * connection limit); handlers block on the completion's node_stream, so a
 * slow client or a slow job never blocks the node's loop.
 */
#ifndef ARIA_NODE_HTTP_H
#define ARIA_NODE_HTTP_H
#include <stdint.h>

#include "backend.h"

typedef struct node_http node_http;

typedef struct node_http_opts {
    const char *listen;      /* "host:port"; port 0 picks a free port */
    uint64_t body_max;       /* request body limit in bytes */
    unsigned max_conns;      /* concurrent connections */
    unsigned idle_timeout_s; /* per-connection inactivity timeout */
} node_http_opts;

/* Start serving. `b` is borrowed and must outlive the server. */
int node_http_open(const node_http_opts *o, const node_backend *b, node_http **out) ARIA_MUST_CHECK;
/* The port actually bound. */
int node_http_port(const node_http *h);
/* Stop: waits for connection threads (streams are canceled first). NULL ok. */
void node_http_close(node_http *h);

/* Exposed for tests and fuzzing: parse an OpenAI request body. `chat`
 * selects /v1/chat/completions rules. On success *root owns the JSON that
 * req's strings borrow from (json_decref it after use). Errors name the
 * field. */
int node_api_parse_request(const char *body, size_t len, int chat, node_completion_req *req,
                           json_t **root) ARIA_MUST_CHECK;

#endif
