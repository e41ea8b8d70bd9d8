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

#endif
