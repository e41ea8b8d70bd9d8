/*
 * http.c — the HTTP API on libmicrohttpd: routing, request bodies with a
 * hard limit, OpenAI request parsing, JSON and SSE responses.
 *
 * Invariants:
 *  - A request body is never buffered past body_max: a larger Content-Length
 *    is refused at once with 413; a chunked body that grows past it is
 *    discarded and answered with 413.
 *  - Every error reply is OpenAI-style JSON with a message naming the field.
 *  - A streaming response holds one stream reference, released by the
 *    response's free callback, which also cancels the producer when the
 *    client goes away.
 */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct node_http {
    struct MHD_Daemon *d;
    const node_backend *b;
    uint64_t body_max;
    int port;
};

typedef struct req_ctx {
    aria_buf body;
    int too_big;
} req_ctx;

/* ---- responses ---- */

static enum MHD_Result
send_bytes(struct MHD_Connection *c, unsigned status, const char *ctype, const void *p, size_t n)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)p, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result
send_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        return MHD_NO;
    enum MHD_Result ret = send_bytes(c, status, "application/json", s, strlen(s));
    free(s);
    return ret;
}

static json_t *
error_json(const char *type, const char *code, const char *param, const char *msg)
{
    json_t *e = json_pack("{s:s, s:s, s:o, s:o}", "message", msg, "type", type, "param",
                          param ? json_string(param) : json_null(), "code",
                          code ? json_string(code) : json_null());
    return json_pack("{s:o}", "error", e);
}

static enum MHD_Result
send_error(struct MHD_Connection *c, unsigned status, const char *type, const char *code,
           const char *msg)
{
    return send_json(c, status, error_json(type, code, NULL, msg));
}

static json_t *aria_json(const node_stream_result *r);

/* A failed job's error, with "aria" (job id, what was paid) when it was a
 * network job. */
static enum MHD_Result
send_job_error(struct MHD_Connection *c, unsigned status, const char *type, const char *code,
               const node_stream_result *res)
{
    json_t *j = error_json(type, code, NULL, res->error_msg);
    if (j && res->job_id[0])
        json_object_set_new(j, "aria", aria_json(res));
    return send_json(c, status, j);
}

/* Map an ARIA error from the backend to HTTP status, OpenAI type and code. */
static void
map_error(int rc, unsigned *status, const char **type, const char **code)
{
    switch (rc) {
    case ARIA_EINVAL:
    case ARIA_ERANGE:
    case ARIA_EPROTO:
        *status = 400, *type = "invalid_request_error", *code = "invalid_request";
        break;
    case ARIA_ENOTFOUND:
        *status = 404, *type = "invalid_request_error", *code = "model_not_found";
        break;
    case ARIA_EFUNDS:
        *status = 402, *type = "insufficient_quota", *code = "insufficient_credits";
        break;
    case ARIA_EFULL: *status = 429, *type = "rate_limit_error", *code = "capacity"; break;
    case ARIA_EAGAIN: *status = 503, *type = "service_unavailable", *code = "no_provider"; break;
    case ARIA_ESTATE: *status = 503, *type = "service_unavailable", *code = "not_configured"; break;
    case ARIA_ETIMEDOUT: *status = 504, *type = "timeout", *code = "timeout"; break;
    case ARIA_EUNSUPPORTED: *status = 501, *type = "server_error", *code = "not_implemented"; break;
    default: *status = 500, *type = "server_error", *code = "internal_error"; break;
    }
}

/* ---- request parsing ---- */

static int
get_number(json_t *root, const char *key, double min, double max, double *out)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return aria_errf(ARIA_EINVAL, "'%s' must be a number", key);
    double d = json_number_value(v);
    if (!(d >= min && d <= max))
        return aria_errf(ARIA_EINVAL, "'%s' must be between %g and %g, got %g", key, min, max, d);
    *out = d;
    return 0;
}

static int
get_int(json_t *root, const char *key, long long min, long long max, long long *out, bool *had)
{
    json_t *v = json_object_get(root, key);
    if (had)
        *had = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return aria_errf(ARIA_EINVAL, "'%s' must be an integer", key);
    long long i = json_integer_value(v);
    if (i < min || i > max)
        return aria_errf(ARIA_EINVAL, "'%s' must be between %lld and %lld, got %lld", key, min, max,
                         i);
    *out = i;
    if (had)
        *had = true;
    return 0;
}

static int
get_bool(json_t *root, const char *key, bool *out)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return aria_errf(ARIA_EINVAL, "'%s' must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

int
node_api_parse_request(const char *body, size_t len, int chat, node_completion_req *req,
                       json_t **root_out)
{
    memset(req, 0, sizeof *req);
    req->max_tokens = 128;
    req->temperature = 1.0;
    req->top_p = 1.0;
    req->repeat_penalty = 1.0;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return aria_errf(ARIA_EINVAL, "request body is not valid JSON: %s (line %d, column %d)",
                         jerr.text, jerr.line, jerr.column);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = aria_errf(ARIA_EINVAL, "request body must be a JSON object");
        goto fail;
    }
    json_t *m = json_object_get(root, "model");
    if (m && !json_is_null(m)) {
        if (!json_is_string(m) || json_string_length(m) == 0 || json_string_length(m) > 256) {
            rc = aria_errf(ARIA_EINVAL, "'model' must be a non-empty string");
            goto fail;
        }
        req->model = json_string_value(m);
    }
    if (chat) {
        json_t *msgs = json_object_get(root, "messages");
        if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
            rc = aria_errf(ARIA_EINVAL, "'messages' must be a non-empty array");
            goto fail;
        }
        if (json_array_size(msgs) > NODE_REQ_MAX_MESSAGES) {
            rc = aria_errf(ARIA_EINVAL, "'messages' has more than %d entries",
                           NODE_REQ_MAX_MESSAGES);
            goto fail;
        }
        size_t i;
        json_t *e;
        json_array_foreach(msgs, i, e)
        {
            json_t *role = json_object_get(e, "role"), *content = json_object_get(e, "content");
            if (!json_is_string(role)) {
                rc = aria_errf(ARIA_EINVAL, "messages[%zu].role must be a string", i);
                goto fail;
            }
            const char *r = json_string_value(role);
            if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") &&
                strcmp(r, "developer")) {
                rc = aria_errf(ARIA_EINVAL,
                               "messages[%zu].role '%s' is not system, user or assistant", i, r);
                goto fail;
            }
            if (!json_is_string(content)) {
                rc = aria_errf(ARIA_EINVAL, "messages[%zu].content must be a string", i);
                goto fail;
            }
            req->messages[i].role = r;
            req->messages[i].content = json_string_value(content);
        }
        req->n_messages = (int)json_array_size(msgs);
    } else {
        json_t *p = json_object_get(root, "prompt");
        if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0)))
            p = json_array_get(p, 0);
        if (!json_is_string(p)) {
            rc = aria_errf(ARIA_EINVAL, "'prompt' must be a string");
            goto fail;
        }
        req->prompt = json_string_value(p);
    }
    long long mt = req->max_tokens, topk = 0, seed = 0;
    bool had;
    if ((rc = get_int(root, "max_tokens", 1, 1 << 20, &mt, NULL)) ||
        (chat && (rc = get_int(root, "max_completion_tokens", 1, 1 << 20, &mt, NULL))) ||
        (rc = get_int(root, "top_k", 0, 1 << 20, &topk, NULL)) ||
        (rc = get_int(root, "seed", 0, INT64_MAX, &seed, &had)))
        goto fail;
    req->max_tokens = (int)mt;
    req->top_k = (int)topk;
    req->has_seed = had;
    req->seed = (uint64_t)seed;
    if ((rc = get_number(root, "temperature", 0, 2, &req->temperature)) ||
        (rc = get_number(root, "top_p", 0, 1, &req->top_p)) ||
        (rc = get_number(root, "min_p", 0, 1, &req->min_p)) ||
        (rc = get_number(root, "repetition_penalty", 0.01, 10, &req->repeat_penalty)) ||
        (rc = get_bool(root, "stream", &req->stream)))
        goto fail;
    json_t *n = json_object_get(root, "n");
    if (n && !json_is_null(n) && !(json_is_integer(n) && json_integer_value(n) == 1)) {
        rc = aria_errf(ARIA_EINVAL, "'n' other than 1 is not supported");
        goto fail;
    }
    json_t *stop = json_object_get(root, "stop");
    if (json_is_string(stop)) {
        req->stop[0] = json_string_value(stop);
        req->n_stop = 1;
    } else if (json_is_array(stop)) {
        if (json_array_size(stop) > NODE_REQ_MAX_STOP) {
            rc = aria_errf(ARIA_EINVAL, "'stop' has more than %d strings", NODE_REQ_MAX_STOP);
            goto fail;
        }
        size_t i;
        json_t *e;
        json_array_foreach(stop, i, e)
        {
            if (!json_is_string(e) || json_string_length(e) == 0) {
                rc = aria_errf(ARIA_EINVAL, "stop[%zu] must be a non-empty string", i);
                goto fail;
            }
            req->stop[req->n_stop++] = json_string_value(e);
        }
    } else if (stop && !json_is_null(stop)) {
        rc = aria_errf(ARIA_EINVAL, "'stop' must be a string or an array of strings");
        goto fail;
    }
    /* ARIA extensions: {"aria": {"local": true, "max_price": N}} */
    json_t *ax = json_object_get(root, "aria");
    if (ax && !json_is_null(ax)) {
        if (!json_is_object(ax)) {
            rc = aria_errf(ARIA_EINVAL, "'aria' must be an object");
            goto fail;
        }
        long long mp = 0;
        if ((rc = get_bool(ax, "local", &req->local)) ||
            (rc = get_int(ax, "max_price", 0, 1000000000, &mp, NULL)))
            goto fail;
        req->max_price_micro = (uint64_t)mp;
    }
    *root_out = root;
    return 0;
fail:
    json_decref(root);
    return rc;
}

/* ---- completions ---- */

typedef struct sse_ctx {
    node_stream *s;
    int chat;
    char id[48];
    char model[260];
    long long created;
    aria_buf out; /* pending bytes for the client */
    size_t out_off;
    int state; /* 0 streaming, 1 done sent */
    int sent_role;
} sse_ctx;

static json_t *
chunk_json(sse_ctx *x, const char *text, const char *finish)
{
    json_t *choice;
    if (x->chat) {
        json_t *delta = json_object();
        if (!x->sent_role) {
            json_object_set_new(delta, "role", json_string("assistant"));
            x->sent_role = 1;
        }
        if (text)
            json_object_set_new(delta, "content", json_string(text));
        choice = json_pack("{s:i, s:o, s:o}", "index", 0, "delta", delta, "finish_reason",
                           finish ? json_string(finish) : json_null());
    } else {
        choice = json_pack("{s:s, s:i, s:n, s:o}", "text", text ? text : "", "index", 0, "logprobs",
                           "finish_reason", finish ? json_string(finish) : json_null());
    }
    return json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", x->id, "object",
                     x->chat ? "chat.completion.chunk" : "text_completion", "created",
                     (json_int_t)x->created, "model", x->model, "choices", choice);
}

static json_t *
usage_json(const node_stream_result *r)
{
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", (int)r->prompt_tokens, "completion_tokens",
                     (int)r->completion_tokens, "total_tokens",
                     (int)(r->prompt_tokens + r->completion_tokens));
}

static json_t *
aria_json(const node_stream_result *r)
{
    json_t *j = json_pack("{s:I, s:s, s:s}", "cost_micro", (json_int_t)r->cost_micro, "provider",
                          r->provider, "job_id", r->job_id);
    json_t *att = r->attempts[0] ? json_loads(r->attempts, 0, NULL) : NULL;
    if (j && att)
        json_object_set_new(j, "attempts", att);
    else
        json_decref(att);
    return j;
}

static void
sse_event(sse_ctx *x, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        return;
    (void)aria_buf_printf(&x->out, "data: %s\n\n", s);
    free(s);
}

static ssize_t
sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_ctx *x = cls;
    ARIA_UNUSED(pos);
    while (x->out_off >= x->out.len) {
        aria_buf_reset(&x->out);
        x->out_off = 0;
        if (x->state == 1)
            return MHD_CONTENT_READER_END_OF_STREAM;
        char text[4096];
        node_stream_result res;
        int n = node_stream_read(x->s, text, sizeof text - 1, 15000, &res);
        if (n == ARIA_ETIMEDOUT) {
            (void)aria_buf_printf(&x->out, ": keep-alive\n\n");
        } else if (n > 0) {
            text[n] = '\0';
            sse_event(x, chunk_json(x, text, NULL));
        } else {
            if (res.error) {
                unsigned st;
                const char *type, *code;
                map_error(res.error, &st, &type, &code);
                sse_event(x, error_json(type, code, NULL, res.error_msg));
            } else {
                json_t *last =
                    chunk_json(x, NULL, res.finish_reason[0] ? res.finish_reason : "stop");
                json_object_set_new(last, "usage", usage_json(&res));
                json_object_set_new(last, "aria", aria_json(&res));
                sse_event(x, last);
            }
            (void)aria_buf_printf(&x->out, "data: [DONE]\n\n");
            x->state = 1;
        }
        if (x->out.err)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = x->out.len - x->out_off;
    if (n > max)
        n = max;
    memcpy(buf, x->out.data + x->out_off, n);
    x->out_off += n;
    return (ssize_t)n;
}

static void
sse_free(void *cls)
{
    sse_ctx *x = cls;
    node_stream_cancel(x->s);
    node_stream_release(x->s);
    aria_buf_fini(&x->out);
    aria_free(x);
}

static void
make_id(char *out, size_t n, const char *prefix)
{
    uint8_t r[12];
    char hex[25];
    if (aria_os_random(r, sizeof r))
        memset(r, 0, sizeof r);
    aria_hex_encode(hex, sizeof hex, r, sizeof r);
    snprintf(out, n, "%s-%s", prefix, hex);
}

static enum MHD_Result
handle_completion(node_http *h, struct MHD_Connection *c, const char *body, size_t len, int chat)
{
    node_completion_req req;
    json_t *root = NULL;
    int rc = node_api_parse_request(body, len, chat, &req, &root);
    if (rc)
        return send_error(c, 400, "invalid_request_error", "invalid_request", aria_err_msg());
    node_stream *s;
    if (node_stream_new(64 * 1024, &s)) {
        json_decref(root);
        return send_error(c, 500, "server_error", "internal_error", "out of memory");
    }
    char model[260] = "";
    if (req.model) {
        snprintf(model, sizeof model, "%s", req.model);
    } else { /* no model named: the node's first model answers */
        json_t *data = json_array();
        h->b->list_models(h->b->ctx, data);
        const char *id = json_string_value(json_object_get(json_array_get(data, 0), "id"));
        snprintf(model, sizeof model, "%s", id ? id : "");
        json_decref(data);
    }
    aria_err_clear();
    rc = h->b->submit(h->b->ctx, &req, s);
    bool stream = req.stream;
    json_decref(root); /* req's borrowed strings end here; submit copied them */
    if (rc) {
        node_stream_release(s);
        unsigned st;
        const char *type, *code;
        map_error(rc, &st, &type, &code);
        const char *msg = aria_err_msg();
        return send_error(c, st, type, code, *msg ? msg : aria_strerror(rc));
    }
    node_stream_result early;
    if (stream && !node_stream_wait_started(s, 120000, &early)) {
        /* failed before any output (no bids, too few credits, ...): a real status */
        node_stream_release(s);
        unsigned st;
        const char *type, *code;
        map_error(early.error, &st, &type, &code);
        return send_job_error(c, st, type, code, &early);
    }
    if (stream) {
        sse_ctx *x = aria_calloc(1, sizeof *x);
        if (!x) {
            node_stream_cancel(s);
            node_stream_release(s);
            return send_error(c, 500, "server_error", "internal_error", "out of memory");
        }
        x->s = s;
        x->chat = chat;
        x->created = (long long)time(NULL);
        snprintf(x->model, sizeof x->model, "%s", model);
        make_id(x->id, sizeof x->id, chat ? "chatcmpl" : "cmpl");
        aria_buf_init(&x->out, 1 << 20);
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 8192, sse_reader, x, sse_free);
        if (!r) {
            sse_free(x);
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    /* Not streaming: gather the whole text (this connection's own thread). */
    aria_buf text;
    aria_buf_init(&text, 16 << 20);
    node_stream_result res;
    char piece[4096];
    for (;;) {
        int n = node_stream_read(s, piece, sizeof piece, 600000, &res);
        if (n == ARIA_ETIMEDOUT) {
            memset(&res, 0, sizeof res);
            res.error = ARIA_ETIMEDOUT;
            snprintf(res.error_msg, sizeof res.error_msg, "the job produced nothing for 600 s");
            break;
        }
        if (n == 0)
            break;
        (void)aria_buf_put(&text, piece, (size_t)n);
    }
    node_stream_cancel(s);
    node_stream_release(s);
    if (res.error) {
        aria_buf_fini(&text);
        unsigned st;
        const char *type, *code;
        map_error(res.error, &st, &type, &code);
        return send_job_error(c, st, type, code, &res);
    }
    (void)aria_buf_put_u8(&text, 0);
    char id[48];
    make_id(id, sizeof id, chat ? "chatcmpl" : "cmpl");
    const char *t = text.data ? (const char *)text.data : "";
    const char *fin = res.finish_reason[0] ? res.finish_reason : "stop";
    json_t *choice = chat ? json_pack("{s:i, s:{s:s, s:s}, s:s}", "index", 0, "message", "role",
                                      "assistant", "content", t, "finish_reason", fin)
                          : json_pack("{s:s, s:i, s:n, s:s}", "text", t, "index", 0, "logprobs",
                                      "finish_reason", fin);
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o, s:o}", "id", id, "object",
                          chat ? "chat.completion" : "text_completion", "created",
                          (json_int_t)time(NULL), "model", model, "choices", choice, "usage",
                          usage_json(&res), "aria", aria_json(&res));
    aria_buf_fini(&text);
    if (!j)
        return send_error(c, 500, "server_error", "internal_error",
                          "could not encode the response (output is not valid UTF-8)");
    return send_json(c, 200, j);
}

/* POST /aria/v1/send {"to": ADDRESS, "amount": N}. */
static enum MHD_Result
handle_send(node_http *h, struct MHD_Connection *c, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    char msg[300];
    if (!root || !json_is_object(root)) {
        snprintf(msg, sizeof msg, "request body is not a JSON object: %s",
                 root ? "wrong type" : jerr.text);
        json_decref(root);
        return send_error(c, 400, "invalid_request_error", "invalid_request", msg);
    }
    json_t *to = json_object_get(root, "to"), *amount = json_object_get(root, "amount");
    const char *bad = NULL;
    if (!json_is_string(to))
        bad = "'to' must be a string (an address or 64 hex digits)";
    else if (!json_is_integer(amount) || json_integer_value(amount) <= 0)
        bad = "'amount' must be a positive integer (credits)";
    if (bad) {
        json_decref(root);
        return send_error(c, 400, "invalid_request_error", "invalid_request", bad);
    }
    json_t *out = json_object();
    aria_err_clear();
    int rc =
        h->b->send(h->b->ctx, json_string_value(to), (uint64_t)json_integer_value(amount), out);
    json_decref(root);
    if (rc) {
        json_decref(out);
        unsigned st;
        const char *type, *code;
        map_error(rc, &st, &type, &code);
        const char *m = aria_err_msg();
        return send_error(c, st, type, code, *m ? m : aria_strerror(rc));
    }
    return send_json(c, 200, out);
}

/* ---- routing ---- */

static enum MHD_Result
route(node_http *h, struct MHD_Connection *c, const char *url, const char *method,
      const req_ctx *rq)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (rq->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body is larger than the limit of %llu bytes",
                 (unsigned long long)h->body_max);
        return send_error(c, 413, "invalid_request_error", "body_too_large", msg);
    }
    const char *body = rq->body.data ? (const char *)rq->body.data : "";
    if (!strcmp(url, "/v1/models")) {
        if (!get)
            goto bad_method;
        json_t *data = json_array();
        h->b->list_models(h->b->ctx, data);
        return send_json(c, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
    }
    if (!strcmp(url, "/v1/completions") || !strcmp(url, "/v1/chat/completions")) {
        if (!post)
            goto bad_method;
        return handle_completion(h, c, body, rq->body.len, url[4] == 'c' && url[5] == 'h');
    }
    if (!strcmp(url, "/metrics")) {
        if (!get)
            goto bad_method;
        aria_buf out;
        aria_buf_init(&out, 0);
        h->b->metrics(h->b->ctx, &out);
        enum MHD_Result r = send_bytes(c, 200, "text/plain; version=0.0.4; charset=utf-8",
                                       out.data ? (const void *)out.data : "", out.len);
        aria_buf_fini(&out);
        return r;
    }
    if (!strcmp(url, "/aria/v1/send")) {
        if (!post)
            goto bad_method;
        return handle_send(h, c, body, rq->body.len);
    }
    if (!strncmp(url, "/aria/v1/", 9)) {
        if (!get)
            goto bad_method;
        json_t *out = json_object();
        aria_err_clear();
        const char *account = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "account");
        int rc = h->b->info(h->b->ctx, url + 9, account, out);
        if (rc == ARIA_ENOTFOUND && !*aria_err_msg()) {
            json_decref(out);
            goto not_found;
        }
        if (rc) {
            json_decref(out);
            unsigned st;
            const char *type, *code;
            map_error(rc, &st, &type, &code);
            return send_error(c, st, type, code, aria_err_msg());
        }
        return send_json(c, 200, out);
    }
not_found : {
    char msg[300];
    snprintf(msg, sizeof msg, "no route for %s %.200s", method, url);
    return send_error(c, 404, "invalid_request_error", "not_found", msg);
}
bad_method : {
    char msg[300];
    snprintf(msg, sizeof msg, "method %s is not allowed on %.200s", method, url);
    return send_error(c, 405, "invalid_request_error", "method_not_allowed", msg);
}
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    node_http *h = cls;
    ARIA_UNUSED(version);
    req_ctx *rq = *con_cls;
    if (!rq) {
        rq = aria_calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        aria_buf_init(&rq->body, h->body_max);
        *con_cls = rq;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        uint64_t n;
        if (cl && aria_parse_u64(cl, UINT64_MAX, "Content-Length", &n) == 0 && n > h->body_max)
            rq->too_big = 1;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rq->too_big && aria_buf_put(&rq->body, upload, *upload_size))
            rq->too_big = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    return route(h, c, url, method, rq);
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    ARIA_UNUSED(cls);
    ARIA_UNUSED(c);
    ARIA_UNUSED(toe);
    req_ctx *rq = *con_cls;
    if (rq) {
        aria_buf_fini(&rq->body);
        aria_free(rq);
        *con_cls = NULL;
    }
}

int
node_http_open(const node_http_opts *o, const node_backend *b, node_http **out)
{
    char host[128];
    const char *colon = strrchr(o->listen, ':');
    if (!colon || (size_t)(colon - o->listen) >= sizeof host)
        return aria_errf(ARIA_EINVAL, "http listen address '%s' is not host:port", o->listen);
    memcpy(host, o->listen, (size_t)(colon - o->listen));
    host[colon - o->listen] = '\0';
    int64_t port;
    if (aria_parse_i64(colon + 1, 0, 65535, "http listen port", &port))
        return ARIA_EINVAL;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (!strcmp(host, "localhost"))
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return aria_errf(ARIA_EINVAL, "http listen host '%s' is not an IPv4 address", host);
    node_http *h = aria_calloc(1, sizeof *h);
    if (!h)
        return aria_errf(ARIA_ENOMEM, "http: out of memory");
    h->b = b;
    h->body_max = o->body_max ? o->body_max : (1u << 20);
    h->d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(o->max_conns ? o->max_conns : 64),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->idle_timeout_s ? o->idle_timeout_s : 120),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
    if (!h->d) {
        aria_free(h);
        return aria_errf(ARIA_EIO, "http: cannot listen on %s (address in use?)", o->listen);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : (int)port;
    *out = h;
    return 0;
}

int
node_http_port(const node_http *h)
{
    return h->port;
}

void
node_http_close(node_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    aria_free(h);
}
