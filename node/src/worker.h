/*
 * worker.h — private to node: the inference worker. Loads one model and runs
 * completions on `capacity` worker threads (each with its own KV cache and
 * kernel thread pool), fed by a bounded queue. Text goes into the job's
 * node_stream as it is produced.
 *
 * Threads: submit() may be called from any thread; it never blocks on
 * inference (a full queue is ARIA_EFULL). The model is immutable and shared.
 */
#ifndef ARIA_NODE_WORKER_H
#define ARIA_NODE_WORKER_H
#include <stdatomic.h>
#include <stdint.h>

#include "backend.h"
#include "stream.h"

typedef struct node_worker node_worker;

typedef struct node_worker_opts {
    const char *model_path;
    int capacity;     /* worker threads = jobs run at once (>= 1) */
    int threads;      /* kernel threads per job (>= 1) */
    uint32_t ctx_len; /* context per job */
    int queue_max;    /* queued jobs beyond those running */
    bool int8_head;   /* run a float LM head as its int8 copy (kern_model_opts) */
} node_worker_opts;

typedef struct node_worker_stats {
    _Atomic uint64_t jobs_done, jobs_failed, jobs_rejected;
    _Atomic uint64_t prompt_tokens, gen_tokens;
    _Atomic uint64_t gen_ns, prompt_ns;
    _Atomic int running, queued;
} node_worker_stats;

int node_worker_open(const node_worker_opts *o, node_worker **out) ARIA_MUST_CHECK;
void node_worker_close(node_worker *w); /* cancels queued jobs, joins threads */

/* The model's id for the API (file name without .gguf) and facts. */
const char *node_worker_model_id(const node_worker *w);
const char *node_worker_model_arch(const node_worker *w);
const node_worker_stats *node_worker_get_stats(const node_worker *w);

/* Queue a completion. Copies everything it needs from req. On success the
 * worker holds a reference to s and finishes it. Errors: ARIA_EFULL (queue
 * full), ARIA_EINVAL (bad parameters, prompt too long for the context: the
 * message says so), ARIA_ENOMEM. */
int node_worker_submit(node_worker *w, const node_completion_req *req,
                       node_stream *s) ARIA_MUST_CHECK;

/* ---- Chunked jobs (a provider's share of a paid network job) ----------
 * The worker generates chunk_tokens tokens per chunk and then waits: it
 * computes chunk i only once node_pjob_allow(i) was called, and at most one
 * computed chunk waits to be taken, so a provider never runs more than one
 * chunk ahead of what was paid (DESIGN §4.4). A chunk's payload is the
 * output encoding of jobwire.h (token ids with their text). `notify` is
 * called from the worker thread whenever a chunk is ready or the job failed;
 * it must only wake the node loop. */
typedef struct node_pjob node_pjob;

typedef struct node_pjob_opts {
    const node_completion_req *req; /* prompt / messages and sampling; copied */
    const int32_t *resume;          /* output tokens already delivered (re-award) */
    size_t n_resume;
    uint32_t chunk_tokens;
    void (*notify)(void *ctx);
    void *notify_ctx;
} node_pjob_opts;

/* Tokenize, check the context and queue. ARIA_EINVAL / ARIA_EFULL as submit. */
int node_worker_start_chunked(node_worker *w, const node_pjob_opts *o,
                              node_pjob **out) ARIA_MUST_CHECK;
/* Allow computing chunk `chunk` (global index) and every one before it. */
void node_pjob_allow(node_pjob *pj, uint32_t chunk);

typedef struct node_pjob_chunk {
    uint32_t index;
    uint32_t n_tokens;
    bool last;
    uint32_t n_prompt;    /* tokens prefilled (prompt + resumed output) */
    uint32_t n_out;       /* tokens this job produced so far, all chunks */
    uint8_t out_hash[32]; /* on the last chunk: BLAKE2b-256 of the produced ids (u32le) */
    aria_buf payload;     /* owned by the caller after take: aria_buf_fini */
} node_pjob_chunk;

/* 1 and *out filled when chunk `chunk` is computed (taken: the slot frees);
 * 0 when not yet; < 0 (with a message) when the job failed. */
int node_pjob_take(node_pjob *pj, uint32_t chunk, node_pjob_chunk *out) ARIA_MUST_CHECK;
/* The loop is done with the job: stop it (if still running) and drop the
 * loop's reference. NULL ok. */
void node_pjob_close(node_pjob *pj);

#endif
