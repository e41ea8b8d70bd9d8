/*
 * httpc.h — private to node: a tiny blocking HTTP/1.1 client for the CLI
 * verbs that talk to the local node (`aria wallet balance|send`).
 *
 * One request per connection (Connection: close), IPv4 host:port only (the
 * node's API listens on loopback), response read to EOF with a size limit
 * and a receive timeout. No dependency beyond the C library.
 */
#ifndef ARIA_NODE_HTTPC_H
#define ARIA_NODE_HTTPC_H
#include "base.h"

#define NODE_HTTPC_MAX_RESPONSE (4u << 20)

/* Send `method path` with an optional JSON `body` (NULL = none) to
 * `hostport` ("127.0.0.1:8080") and wait up to timeout_ms for the whole
 * response. On success *status is the HTTP status and `resp` (initialised by
 * the caller) holds the body, NUL-terminated. ARIA_EINVAL (bad host:port),
 * ARIA_EIO (connect, send or receive failed, naming the node address),
 * ARIA_ETIMEDOUT, ARIA_EPROTO (not an HTTP response), ARIA_ERANGE (too big). */
int node_httpc_request(const char *hostport, const char *method, const char *path, const char *body,
                       int timeout_ms, int *status, aria_buf *resp) ARIA_MUST_CHECK;

/* Streaming variant (HTTP/1.0, so the body is not chunked): once the
 * headers arrived, a 2xx body is handed to fn piece by piece as it arrives
 * (fn returns non-zero to stop); any other status collects the body into
 * `err_body` (NUL-terminated) for the caller's error message. The timeout
 * applies between pieces. Errors as node_httpc_request. */
typedef int (*node_httpc_fn)(void *ctx, const char *p, size_t n);
int node_httpc_stream(const char *hostport, const char *method, const char *path, const char *body,
                      int idle_timeout_ms, node_httpc_fn fn, void *ctx, int *status,
                      aria_buf *err_body) ARIA_MUST_CHECK;

/* Parse a complete HTTP/1.x response (bytes up to the peer's close): the
 * status into *status and the body, NUL-terminated, appended to `body`.
 * ARIA_EPROTO naming `from` for anything that is not a response or whose
 * Content-Length disagrees with the bytes received. Pure; fuzzed by
 * tests/fuzz/node/fuzz_httpc_response.c. */
int node_httpc_parse_response(const uint8_t *raw, size_t len, const char *from, int *status,
                              aria_buf *body) ARIA_MUST_CHECK;

#endif
