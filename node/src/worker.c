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

typedef struct job {
    struct job *next;
    int32_t *ids;
    size_t n_ids;
    kern_gen_params gp;
    char *stop_store[NODE_REQ_MAX_STOP];
    node_stream *s;
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

static void
job_free(job *j)
{
    if (!j)
        return;
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
        if (rc) {
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
    int rc = kern_model_load(o->model_path, NULL, &w->m);
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

int
node_worker_submit(node_worker *w, const node_completion_req *req, node_stream *s)
{
    if (req->model && *req->model && strcmp(req->model, w->model_id) != 0)
        return aria_errf(ARIA_ENOTFOUND, "model '%s' is not served here (this node serves '%s')",
                         req->model, w->model_id);
    job *j = aria_calloc(1, sizeof *j);
    if (!j)
        return aria_errf(ARIA_ENOMEM, "worker: out of memory");
    int rc = tokenize_request(w, req, j);
    if (rc) {
        job_free(j);
        return rc;
    }
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
    if ((rc = kern_sample_params_check(&j->gp.sample))) {
        job_free(j);
        return rc;
    }
    for (int i = 0; i < req->n_stop; i++) {
        j->stop_store[i] = aria_strdup(req->stop[i]);
        if (!j->stop_store[i]) {
            job_free(j);
            return aria_errf(ARIA_ENOMEM, "worker: out of memory");
        }
    }
    j->gp.stop = (const char *const *)j->stop_store;
    j->gp.n_stop = (size_t)req->n_stop;
    pthread_mutex_lock(&w->mu);
    if (w->n_queued >= w->o.queue_max || w->closing) {
        pthread_mutex_unlock(&w->mu);
        job_free(j);
        atomic_fetch_add(&w->st.jobs_rejected, 1);
        return aria_errf(ARIA_EFULL, "this node is busy: %d jobs queued", w->o.queue_max);
    }
    node_stream_retain(s);
    j->s = s;
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
