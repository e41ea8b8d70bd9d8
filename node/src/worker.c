/*
 * worker.c — bounded job queue and inference threads over kern_model.
 *
 * Invariants: the queue never holds more than queue_max jobs; every job taken
 * from the queue (or dropped at close) has its stream finished exactly once;
 * a job whose client went away stops at its next token.
 */
#include "worker.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "kern_model.h"
#include "kern_tok.h"
#include "wallet.h"

/* A chunked job's shared state (worker thread <-> node loop), under mu. */
struct node_pjob {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    uint32_t chunk_tokens;
    int64_t allowed; /* highest chunk index the loop allows */
    bool canceled;   /* loop closed it */
    int failed;      /* ARIA_E* once the job failed */
    char fail_msg[200];
    bool has_ready; /* one computed chunk waiting for take */
    node_pjob_chunk ready;
    /* worker-thread only: */
    uint32_t cur_index, cur_tokens, n_out, n_prompt;
    aria_buf cur;
    wallet_hasher hash;
    void (*notify)(void *ctx);
    void *notify_ctx;
};

typedef struct job {
    struct job *next;
    int32_t *ids;
    size_t n_ids;
    kern_gen_params gp;
    char *stop_store[NODE_REQ_MAX_STOP];
    node_stream *s;
    node_pjob *pj; /* chunked job instead of a stream */
} job;

struct node_worker {
    kern_model *m;
    const kern_tok *tok;
    kern_chat_tmpl tmpl;
    char model_id[256];
    node_worker_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    int n_queued;
    bool closing;
    pthread_t *threads;
    int n_threads_started;
    node_worker_stats st;
};

static void pjob_unref(node_pjob *pj);

static void
job_free(job *j)
{
    if (!j)
        return;
    pjob_unref(j->pj);
    for (int i = 0; i < NODE_REQ_MAX_STOP; i++)
        aria_free(j->stop_store[i]);
    aria_free(j->ids);
    if (j->s)
        node_stream_release(j->s);
    aria_free(j);
}

typedef struct run_ud {
    node_stream *s;
} run_ud;

static int
on_token(void *ud, int32_t id, const float *logits, const char *text, size_t len)
{
    run_ud *u = ud;
    ARIA_UNUSED(id);
    ARIA_UNUSED(logits);
    if (len && node_stream_push(u->s, text, len) != 0)
        return 1; /* client gone */
    return node_stream_canceled(u->s) ? 1 : 0;
}

static void
run_job(node_worker *w, kern_ctx *ctx, job *j)
{
    node_stream_result res;
    memset(&res, 0, sizeof res);
    snprintf(res.provider, sizeof res.provider, "local");
    kern_ctx_truncate(ctx, 0);
    run_ud u = {j->s};
    kern_gen_result gr;
    memset(&gr, 0, sizeof gr);
    int rc = kern_generate(ctx, j->ids, j->n_ids, &j->gp, on_token, &u, &gr);
    if (rc) {
        res.error = rc;
        snprintf(res.error_msg, sizeof res.error_msg, "inference failed: %s", aria_err_msg());
        snprintf(res.finish_reason, sizeof res.finish_reason, "error");
        atomic_fetch_add(&w->st.jobs_failed, 1);
    } else {
        snprintf(res.finish_reason, sizeof res.finish_reason, "%s",
                 gr.reason == KERN_STOP_LENGTH || gr.reason == KERN_STOP_CONTEXT ? "length"
                                                                                 : "stop");
        atomic_fetch_add(&w->st.jobs_done, 1);
    }
    res.prompt_tokens = gr.n_prompt;
    res.completion_tokens = gr.n_generated;
    atomic_fetch_add(&w->st.prompt_tokens, gr.n_prompt);
    atomic_fetch_add(&w->st.gen_tokens, gr.n_generated);
    atomic_fetch_add(&w->st.prompt_ns, gr.prompt_ns);
    atomic_fetch_add(&w->st.gen_ns, gr.gen_ns);
    node_stream_finish(j->s, &res);
}

/* ---- chunked jobs ---- */

static void
pjob_unref(node_pjob *pj)
{
    if (!pj)
        return;
    pthread_mutex_lock(&pj->mu);
    int left = --pj->refs;
    pthread_mutex_unlock(&pj->mu);
    if (left)
        return;
    aria_buf_fini(&pj->cur);
    if (pj->has_ready)
        aria_buf_fini(&pj->ready.payload);
    pthread_mutex_destroy(&pj->mu);
    pthread_cond_destroy(&pj->cv);
    aria_free(pj);
}

/* Worker thread: hand the chunk being built to the loop (waiting for the
 * ready slot to free), then start the next one. false if canceled. */
static bool
pjob_post(node_pjob *pj, bool last)
{
    pthread_mutex_lock(&pj->mu);
    while (pj->has_ready && !pj->canceled)
        pthread_cond_wait(&pj->cv, &pj->mu);
    if (pj->canceled) {
        pthread_mutex_unlock(&pj->mu);
        return false;
    }
    memset(&pj->ready, 0, sizeof pj->ready);
    pj->ready.index = pj->cur_index;
    pj->ready.n_tokens = pj->cur_tokens;
    pj->ready.last = last;
    pj->ready.n_prompt = pj->n_prompt;
    pj->ready.n_out = pj->n_out;
    if (last) {
        wallet_hasher h = pj->hash; /* the running hash stays usable */
        wallet_hasher_final(&h, pj->ready.out_hash);
    }
    pj->ready.payload = pj->cur;
    aria_buf_init(&pj->cur, 1 << 20);
    pj->has_ready = true;
    pj->cur_index++;
    pj->cur_tokens = 0;
    pthread_mutex_unlock(&pj->mu);
    pj->notify(pj->notify_ctx);
    return true;
}

/* Worker thread: wait until the loop allows chunk cur_index. */
static bool
pjob_wait_allowed(node_pjob *pj)
{
    pthread_mutex_lock(&pj->mu);
    while (pj->allowed < (int64_t)pj->cur_index && !pj->canceled)
        pthread_cond_wait(&pj->cv, &pj->mu);
    bool ok = !pj->canceled;
    pthread_mutex_unlock(&pj->mu);
    return ok;
}

static int
on_chunk_token(void *ud, int32_t id, const float *logits, const char *text, size_t len)
{
    node_pjob *pj = ud;
    ARIA_UNUSED(logits);
    if (id >= 0 && pj->cur_tokens == pj->chunk_tokens) {
        /* a token past a full chunk: that chunk was not the last one */
        if (!pjob_post(pj, false) || !pjob_wait_allowed(pj))
            return 1;
    }
    if (len > UINT16_MAX)
        len = UINT16_MAX;
    (void)aria_buf_put_u32le(&pj->cur, (uint32_t)id);
    (void)aria_buf_put_u16le(&pj->cur, (uint16_t)len);
    (void)aria_buf_put(&pj->cur, text, len);
    if (id >= 0) {
        uint8_t le[4];
        aria_store_u32le(le, (uint32_t)id);
        wallet_hasher_update(&pj->hash, le, 4);
        pj->cur_tokens++;
        pj->n_out++;
    }
    pthread_mutex_lock(&pj->mu);
    bool c = pj->canceled;
    pthread_mutex_unlock(&pj->mu);
    return c ? 1 : 0;
}

static void
pjob_fail(node_pjob *pj, int rc, const char *what)
{
    pthread_mutex_lock(&pj->mu);
    pj->failed = rc ? rc : ARIA_EINTERNAL;
    snprintf(pj->fail_msg, sizeof pj->fail_msg, "%s: %s", what, aria_err_msg());
    pthread_mutex_unlock(&pj->mu);
    pj->notify(pj->notify_ctx);
}

static void
run_chunked(node_worker *w, kern_ctx *ctx, job *j)
{
    node_pjob *pj = j->pj;
    kern_ctx_truncate(ctx, 0);
    pj->n_prompt = (uint32_t)j->n_ids;
    if (!pjob_wait_allowed(pj))
        return;
    kern_gen_result gr;
    memset(&gr, 0, sizeof gr);
    int rc = kern_generate(ctx, j->ids, j->n_ids, &j->gp, on_chunk_token, pj, &gr);
    atomic_fetch_add(&w->st.prompt_tokens, gr.n_prompt);
    atomic_fetch_add(&w->st.gen_tokens, gr.n_generated);
    atomic_fetch_add(&w->st.prompt_ns, gr.prompt_ns);
    atomic_fetch_add(&w->st.gen_ns, gr.gen_ns);
    if (rc) {
        atomic_fetch_add(&w->st.jobs_failed, 1);
        pjob_fail(pj, rc, "inference failed");
        return;
    }
    if (gr.reason == KERN_STOP_CALLBACK)
        return; /* canceled */
    if (pj->cur.err) {
        pjob_fail(pj, pj->cur.err, "chunk too large");
        return;
    }
    if (pjob_post(pj, true))
        atomic_fetch_add(&w->st.jobs_done, 1);
}

static void *
worker_main(void *arg)
{
    node_worker *w = arg;
    kern_ctx *ctx = NULL;
    int rc = kern_ctx_new(w->m, w->o.ctx_len, w->o.threads, &ctx);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->closing)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->closing) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        job *j = w->head;
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        w->n_queued--;
        atomic_store(&w->st.queued, w->n_queued);
        pthread_mutex_unlock(&w->mu);
        atomic_fetch_add(&w->st.running, 1);
        if (rc && j->pj) {
            pjob_fail(j->pj, rc, "cannot create an inference context");
        } else if (j->pj) {
            run_chunked(w, ctx, j);
        } else if (rc) {
            node_stream_result res;
            memset(&res, 0, sizeof res);
            res.error = rc;
            snprintf(res.error_msg, sizeof res.error_msg, "cannot create an inference context");
            node_stream_finish(j->s, &res);
        } else {
            run_job(w, ctx, j);
        }
        atomic_fetch_sub(&w->st.running, 1);
        job_free(j);
    }
    kern_ctx_free(ctx);
    return NULL;
}

int
node_worker_open(const node_worker_opts *o, node_worker **out)
{
    node_worker *w = aria_calloc(1, sizeof *w);
    if (!w)
        return aria_errf(ARIA_ENOMEM, "worker: out of memory");
    w->o = *o;
    if (w->o.capacity < 1)
        w->o.capacity = 1;
    if (w->o.threads < 1)
        w->o.threads = 1;
    if (w->o.queue_max < 1)
        w->o.queue_max = 4 * w->o.capacity;
    kern_model_opts mo = {.int8_head = o->int8_head};
    int rc = kern_model_load(o->model_path, &mo, &w->m);
    if (rc) {
        aria_free(w);
        return rc;
    }
    w->tok = kern_model_tok(w->m);
    if (!w->tok) {
        kern_model_free(w->m);
        aria_free(w);
        return aria_errf(ARIA_EUNSUPPORTED, "model %s has no tokenizer; the API needs one",
                         o->model_path);
    }
    const kern_model_info *mi = kern_model_get_info(w->m);
    w->tmpl = kern_chat_detect(NULL, mi->arch_name, w->tok);
    const char *base = strrchr(o->model_path, '/');
    base = base ? base + 1 : o->model_path;
    snprintf(w->model_id, sizeof w->model_id, "%s", base);
    size_t L = strlen(w->model_id);
    if (L > 5 && !strcmp(w->model_id + L - 5, ".gguf"))
        w->model_id[L - 5] = '\0';
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->threads = aria_calloc((size_t)w->o.capacity, sizeof *w->threads);
    if (!w->threads) {
        node_worker_close(w);
        return aria_errf(ARIA_ENOMEM, "worker: out of memory");
    }
    for (int i = 0; i < w->o.capacity; i++) {
        if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) {
            node_worker_close(w);
            return aria_errf(ARIA_EIO, "worker: cannot start thread");
        }
        w->n_threads_started++;
    }
    *out = w;
    return 0;
}

void
node_worker_close(node_worker *w)
{
    if (!w)
        return;
    if (w->threads) {
        pthread_mutex_lock(&w->mu);
        w->closing = true;
        job *j = w->head;
        w->head = w->tail = NULL;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        while (j) {
            job *next = j->next;
            if (j->pj) {
                (void)aria_errf(ARIA_ECANCELED, "the node is shutting down");
                pjob_fail(j->pj, ARIA_ECANCELED, "canceled");
                job_free(j);
                j = next;
                continue;
            }
            node_stream_result res;
            memset(&res, 0, sizeof res);
            res.error = ARIA_ECANCELED;
            snprintf(res.error_msg, sizeof res.error_msg, "the node is shutting down");
            node_stream_finish(j->s, &res);
            job_free(j);
            j = next;
        }
        for (int i = 0; i < w->n_threads_started; i++)
            pthread_join(w->threads[i], NULL);
        aria_free(w->threads);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    kern_model_free(w->m);
    aria_free(w);
}

const char *
node_worker_model_id(const node_worker *w)
{
    return w->model_id;
}

const char *
node_worker_model_arch(const node_worker *w)
{
    return kern_model_get_info(w->m)->arch_name;
}

const node_worker_stats *
node_worker_get_stats(const node_worker *w)
{
    return &w->st;
}

/* Format the request's prompt (chat template or raw text) and tokenize. */
static int
tokenize_request(node_worker *w, const node_completion_req *req, job *j)
{
    aria_buf text;
    aria_buf_init(&text, 8 << 20);
    int rc = 0;
    if (req->n_messages) {
        kern_chat_msg msgs[NODE_REQ_MAX_MESSAGES];
        for (int i = 0; i < req->n_messages; i++) {
            msgs[i].role =
                strcmp(req->messages[i].role, "developer") ? req->messages[i].role : "system";
            msgs[i].content = req->messages[i].content;
        }
        rc = kern_chat_format(w->tmpl, msgs, (size_t)req->n_messages, true, &text);
        if (rc) {
            aria_buf_fini(&text);
            return rc;
        }
    } else {
        rc = aria_buf_put(&text, req->prompt, strlen(req->prompt));
        if (rc) {
            aria_buf_fini(&text);
            return aria_errf(ARIA_EINVAL, "'prompt' is longer than 8 MiB");
        }
    }
    const char *t = text.data ? (const char *)text.data : "";
    size_t need = 0;
    rc = kern_tok_encode(w->tok, t, text.len, true, NULL, 0, &need);
    if (rc && rc != ARIA_ERANGE) {
        aria_buf_fini(&text);
        return rc;
    }
    if (need == 0 || need + (size_t)req->max_tokens > w->o.ctx_len) {
        aria_buf_fini(&text);
        if (need == 0)
            return aria_errf(ARIA_EINVAL, "the prompt is empty");
        return aria_errf(ARIA_EINVAL,
                         "the prompt (%zu tokens) plus max_tokens (%d) exceeds the context of "
                         "%u tokens",
                         need, req->max_tokens, w->o.ctx_len);
    }
    j->ids = aria_alloc_array(need, sizeof *j->ids);
    if (!j->ids) {
        aria_buf_fini(&text);
        return aria_errf(ARIA_ENOMEM, "worker: out of memory");
    }
    rc = kern_tok_encode(w->tok, t, text.len, true, j->ids, need, &j->n_ids);
    aria_buf_fini(&text);
    return rc;
}

/* Tokenize and fill the generation parameters of j from req. */
static int
job_prepare(node_worker *w, const node_completion_req *req, job *j)
{
    if (req->model && *req->model && strcmp(req->model, w->model_id) != 0)
        return aria_errf(ARIA_ENOTFOUND, "model '%s' is not served here (this node serves '%s')",
                         req->model, w->model_id);
    int rc = tokenize_request(w, req, j);
    if (rc)
        return rc;
    j->gp.n_predict = (uint32_t)req->max_tokens;
    kern_sample_params_default(&j->gp.sample);
    j->gp.sample.temp = (float)req->temperature;
    j->gp.sample.top_p = (float)req->top_p;
    j->gp.sample.top_k = (uint32_t)req->top_k;
    j->gp.sample.min_p = (float)req->min_p;
    j->gp.sample.repeat_penalty = (float)req->repeat_penalty;
    if (req->has_seed)
        j->gp.sample.seed = req->seed;
    else if (aria_os_random(&j->gp.sample.seed, sizeof j->gp.sample.seed))
        j->gp.sample.seed = aria_mono_ns();
    if ((rc = kern_sample_params_check(&j->gp.sample)))
        return rc;
    for (int i = 0; i < req->n_stop; i++) {
        j->stop_store[i] = aria_strdup(req->stop[i]);
        if (!j->stop_store[i])
            return aria_errf(ARIA_ENOMEM, "worker: out of memory");
    }
    j->gp.stop = (const char *const *)j->stop_store;
    j->gp.n_stop = (size_t)req->n_stop;
    return 0;
}

/* Queue j (taken over; freed on failure). */
static int
job_enqueue(node_worker *w, job *j)
{
    pthread_mutex_lock(&w->mu);
    if (w->n_queued >= w->o.queue_max || w->closing) {
        pthread_mutex_unlock(&w->mu);
        j->s = NULL; /* the caller keeps its reference */
        if (j->pj) {
            pjob_unref(j->pj); /* the worker's reference */
            j->pj = NULL;
        }
        job_free(j);
        atomic_fetch_add(&w->st.jobs_rejected, 1);
        return aria_errf(ARIA_EFULL, "this node is busy: %d jobs queued", w->o.queue_max);
    }
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->n_queued++;
    atomic_store(&w->st.queued, w->n_queued);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int
node_worker_submit(node_worker *w, const node_completion_req *req, node_stream *s)
{
    job *j = aria_calloc(1, sizeof *j);
    if (!j)
        return aria_errf(ARIA_ENOMEM, "worker: out of memory");
    int rc = job_prepare(w, req, j);
    if (rc) {
        job_free(j);
        return rc;
    }
    node_stream_retain(s);
    j->s = s;
    rc = job_enqueue(w, j);
    if (rc)
        node_stream_release(s);
    return rc;
}

int
node_worker_start_chunked(node_worker *w, const node_pjob_opts *o, node_pjob **out)
{
    if (o->chunk_tokens == 0 || o->n_resume >= (size_t)o->req->max_tokens)
        return aria_errf(ARIA_EINVAL, "chunked job: bad chunk size or resume point");
    job *j = aria_calloc(1, sizeof *j);
    node_pjob *pj = aria_calloc(1, sizeof *pj);
    if (!j || !pj) {
        aria_free(j);
        aria_free(pj);
        return aria_errf(ARIA_ENOMEM, "worker: out of memory");
    }
    node_completion_req r = *o->req;
    r.max_tokens = o->req->max_tokens - (int)o->n_resume;
    int rc = job_prepare(w, &r, j);
    if (!rc && o->n_resume) {
        if (j->n_ids + o->n_resume + (size_t)r.max_tokens > w->o.ctx_len)
            rc = aria_errf(ARIA_EINVAL, "prompt plus resumed output exceeds the context");
        int32_t *ids = rc ? NULL : aria_realloc(j->ids, (j->n_ids + o->n_resume) * sizeof *ids);
        if (!rc && !ids)
            rc = aria_errf(ARIA_ENOMEM, "worker: out of memory");
        if (!rc) {
            memcpy(ids + j->n_ids, o->resume, o->n_resume * sizeof *ids);
            j->ids = ids;
            j->n_ids += o->n_resume;
        }
    }
    if (rc) {
        job_free(j);
        aria_free(pj);
        return rc;
    }
    pthread_mutex_init(&pj->mu, NULL);
    pthread_cond_init(&pj->cv, NULL);
    pj->refs = 2; /* the loop's and the worker's */
    pj->chunk_tokens = o->chunk_tokens;
    pj->cur_index = (uint32_t)(o->n_resume / o->chunk_tokens);
    pj->allowed = (int64_t)pj->cur_index - 1;
    aria_buf_init(&pj->cur, 1 << 20);
    wallet_hasher_init(&pj->hash);
    pj->notify = o->notify;
    pj->notify_ctx = o->notify_ctx;
    j->pj = pj;
    if ((rc = job_enqueue(w, j))) {
        pjob_unref(pj);
        return rc;
    }
    *out = pj;
    return 0;
}

void
node_pjob_allow(node_pjob *pj, uint32_t chunk)
{
    pthread_mutex_lock(&pj->mu);
    if ((int64_t)chunk > pj->allowed)
        pj->allowed = chunk;
    pthread_cond_broadcast(&pj->cv);
    pthread_mutex_unlock(&pj->mu);
}

int
node_pjob_take(node_pjob *pj, uint32_t chunk, node_pjob_chunk *out)
{
    pthread_mutex_lock(&pj->mu);
    int rc = 0;
    if (pj->has_ready && pj->ready.index == chunk) {
        *out = pj->ready;
        pj->has_ready = false;
        rc = 1;
        pthread_cond_broadcast(&pj->cv);
    } else if (pj->failed) {
        rc = aria_errf(pj->failed, "%s", pj->fail_msg);
    }
    pthread_mutex_unlock(&pj->mu);
    return rc;
}

void
node_pjob_close(node_pjob *pj)
{
    if (!pj)
        return;
    pthread_mutex_lock(&pj->mu);
    pj->canceled = true;
    pthread_cond_broadcast(&pj->cv);
    pthread_mutex_unlock(&pj->mu);
    pjob_unref(pj);
}
