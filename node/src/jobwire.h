/*
 * jobwire.h — private to node: the bytes of a paid job that travel sealed
 * inside wire messages (docs/protocol.md "Job payloads").
 *
 *  - Job request (inside AWARD.sealed_prompt, sealed to the provider): JSON
 *    {"v":1, "model", "prompt" | "messages":[{"role","content"}],
 *     "max_tokens", "temperature", "top_p", "top_k", "min_p",
 *     "repeat_penalty", "seed", "stop":[...], "resume":[ids]}.
 *  - Chunk output (inside CHUNK.sealed_output, sealed to the requester):
 *    items of u32le token id (0xFFFFFFFF = text only) + u16le length + text.
 *  - Receipt info (CHUNK.receipt of the last chunk, in the clear):
 *    output_hash(32) tokens_in(u64le) tokens_out(u64le) provider_sig(64).
 *
 * Every decoder takes bytes from outside (a peer): it enforces the limits
 * below and fails with ARIA_EPROTO naming the field; fuzz_jobwire runs them.
 */
#ifndef ARIA_NODE_JOBWIRE_H
#define ARIA_NODE_JOBWIRE_H
#include <jansson.h>

#include "backend.h"
#include "base.h"

#define JOBWIRE_REQUEST_MAX  (256u * 1024u) /* bytes of a job request */
#define JOBWIRE_RESUME_MAX   8192           /* resumed tokens */
#define JOBWIRE_RECEIPT_LEN  (32 + 8 + 8 + 64)
#define JOBWIRE_TEXT_ONLY_ID 0xFFFFFFFFu

/* Encode req (+ resumed output ids) as a job request into out. */
int jobwire_request_encode(const node_completion_req *req, const int32_t *resume, size_t n_resume,
                           aria_buf *out) ARIA_MUST_CHECK;

/* A decoded job request: req's strings borrow from root. */
typedef struct jobwire_request {
    node_completion_req req;
    int32_t *resume; /* owned */
    size_t n_resume;
    json_t *root;
} jobwire_request;

int jobwire_request_decode(const uint8_t *p, size_t n, jobwire_request *out) ARIA_MUST_CHECK;
void jobwire_request_fini(jobwire_request *r);

/* Walk chunk output: fn gets each item (id -1 for text only); returns
 * ARIA_EPROTO for malformed bytes, else 0 with *n_tokens = items with an id.
 * fn may be NULL (validate only); a non-zero return from fn stops the walk
 * and is returned. */
typedef int (*jobwire_item_fn)(void *ctx, int32_t id, const char *text, size_t len);
int jobwire_output_walk(const uint8_t *p, size_t n, jobwire_item_fn fn, void *ctx,
                        uint32_t *n_tokens) ARIA_MUST_CHECK;

typedef struct jobwire_receipt {
    uint8_t output_hash[32];
    uint64_t tokens_in, tokens_out;
    uint8_t sig[64];
} jobwire_receipt;
void jobwire_receipt_encode(const jobwire_receipt *r, uint8_t out[JOBWIRE_RECEIPT_LEN]);
int jobwire_receipt_decode(const uint8_t *p, size_t n, jobwire_receipt *out) ARIA_MUST_CHECK;

/* Fork proof (FORK_PROOF gossip body): two signed entries of one account
 * with one seq, each as u32le length + bytes. decode borrows from p. */
int jobwire_fork_proof_encode(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                              aria_buf *out) ARIA_MUST_CHECK;
int jobwire_fork_proof_decode(const uint8_t *p, size_t n, const uint8_t **a, size_t *a_len,
                              const uint8_t **b, size_t *b_len) ARIA_MUST_CHECK;

#endif
