/*
 * stream.h — private to node: a completion's token stream, shared by the
 * producer (an inference worker or the network job) and the HTTP thread that
 * sends it to the client.
 *
 * Thread safety: every function may be called from any thread. The object is
 * reference counted: the creator holds one reference and hands another to the
 * producer; each side calls node_stream_release() when done.
 * Pieces: each push is delivered by node_stream_read as its own piece (a
 * read never crosses a push boundary and never splits a UTF-8 sequence), so
 * a token's text reaches the client as its own event.
 * Bounded: a producer pushing faster than the client reads blocks in
 * node_stream_push (with the stream's cap), so memory stays bounded.
 */
#ifndef ARIA_NODE_STREAM_H
#define ARIA_NODE_STREAM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"

typedef struct node_stream node_stream;

typedef struct node_stream_result {
    int error; /* 0 or ARIA_E* */
    char error_msg[256];
    char finish_reason[16]; /* "stop", "length", "error" */
    uint32_t prompt_tokens;
    uint32_t completion_tokens;
    uint64_t cost_micro; /* credits paid for the job (0 if local) */
    char provider[96];   /* provider address or "local" */
    char job_id[65];     /* hex job id ("" if local) */
    char attempts[1024]; /* network jobs: JSON array of {provider, price, tokens, paid} */
} node_stream_result;

int node_stream_new(size_t cap_bytes, node_stream **out) ARIA_MUST_CHECK;
void node_stream_retain(node_stream *s);
void node_stream_release(node_stream *s);

/* Producer side. push returns ARIA_ECANCELED once the consumer has gone, so
 * the producer can stop early. finish may be called once; later pushes fail. */
int node_stream_push(node_stream *s, const char *text, size_t len);
void node_stream_finish(node_stream *s, const node_stream_result *res);
/* Never blocks (for the node loop): the text is one piece, merged into the
 * newest piece when the piece ring is full; ARIA_EFULL when the byte buffer
 * lacks room (the client stopped reading), ARIA_ECANCELED as push. */
int node_stream_push_nb(node_stream *s, const char *text, size_t len);
/* Consumer: wait up to timeout_ms until the stream has text or is finished.
 * false (and *res filled) when it finished with an error before any text, so
 * the HTTP layer can still answer with an error status. */
bool node_stream_wait_started(node_stream *s, int timeout_ms, node_stream_result *res);
bool node_stream_canceled(node_stream *s);

/* Consumer side. Waits up to timeout_ms for text; copies at most cap bytes
 * into buf. Returns bytes copied (> 0), 0 when finished and drained (then
 * *res is filled), or ARIA_ETIMEDOUT. */
int node_stream_read(node_stream *s, char *buf, size_t cap, int timeout_ms,
                     node_stream_result *res);
/* The consumer is gone (client disconnected). */
void node_stream_cancel(node_stream *s);

#endif
