/*
 * jobwire.c — the sealed job request, chunk output and receipt info of a
 * paid network job (formats in jobwire.h and docs/protocol.md).
 *
 * The job request reuses the OpenAI request body the HTTP API accepts (one
 * parser, node_api_parse_request, for both), plus "resume": the output ids
 * a re-awarded provider must prefill after the prompt.
 */
#include "jobwire.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "ledger.h"

int
jobwire_request_encode(const node_completion_req *req, const int32_t *resume, size_t n_resume,
                       aria_buf *out)
{
    json_t *o = json_object();
    if (!o)
        return aria_errf(ARIA_ENOMEM, "jobwire: out of memory");
    json_object_set_new(o, "v", json_integer(1));
    if (req->model && *req->model)
        json_object_set_new(o, "model", json_string(req->model));
    if (req->n_messages) {
        json_t *a = json_array();
        for (int i = 0; i < req->n_messages; i++)
            json_array_append_new(a, json_pack("{s:s, s:s}", "role", req->messages[i].role,
                                               "content", req->messages[i].content));
        json_object_set_new(o, "messages", a);
    } else {
        json_object_set_new(o, "prompt", json_string(req->prompt ? req->prompt : ""));
    }
    json_object_set_new(o, "max_tokens", json_integer(req->max_tokens));
    json_object_set_new(o, "temperature", json_real(req->temperature));
    json_object_set_new(o, "top_p", json_real(req->top_p));
    json_object_set_new(o, "top_k", json_integer(req->top_k));
    json_object_set_new(o, "min_p", json_real(req->min_p));
    json_object_set_new(o, "repetition_penalty", json_real(req->repeat_penalty));
    if (req->has_seed)
        json_object_set_new(o, "seed", json_integer((json_int_t)(req->seed & INT64_MAX)));
    if (req->n_stop) {
        json_t *a = json_array();
        for (int i = 0; i < req->n_stop; i++)
            json_array_append_new(a, json_string(req->stop[i]));
        json_object_set_new(o, "stop", a);
    }
    json_t *r = json_array();
    for (size_t i = 0; i < n_resume; i++)
        json_array_append_new(r, json_integer(resume[i]));
    json_object_set_new(o, "resume", r);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return aria_errf(ARIA_ENOMEM, "jobwire: cannot encode the job request");
    size_t n = strlen(s);
    int rc = 0;
    if (n > JOBWIRE_REQUEST_MAX)
        rc = aria_errf(ARIA_ERANGE, "the job request is %zu bytes, over the limit of %u", n,
                       JOBWIRE_REQUEST_MAX);
    else if (aria_buf_put(out, s, n))
        rc = aria_errf(ARIA_ENOMEM, "jobwire: out of memory");
    free(s);
    return rc;
}

int
jobwire_request_decode(const uint8_t *p, size_t n, jobwire_request *out)
{
    memset(out, 0, sizeof *out);
    if (n > JOBWIRE_REQUEST_MAX)
        return aria_errf(ARIA_EPROTO, "job request: %zu bytes, over the limit of %u", n,
                         JOBWIRE_REQUEST_MAX);
    /* chat or not: decided by the presence of "messages" */
    json_t *probe = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL);
    bool chat = probe && json_is_object(probe) && json_object_get(probe, "messages");
    json_decref(probe);
    int rc = node_api_parse_request((const char *)p, n, chat, &out->req, &out->root);
    if (rc) {
        char why[256];
        snprintf(why, sizeof why, "%s", aria_err_msg());
        return aria_errf(ARIA_EPROTO, "job request: %s", why);
    }
    json_t *v = json_object_get(out->root, "v");
    json_t *r = json_object_get(out->root, "resume");
    if (!json_is_integer(v) || json_integer_value(v) != 1) {
        rc = aria_errf(ARIA_EPROTO, "job request: 'v' must be 1");
        goto fail;
    }
    if (r && !json_is_array(r)) {
        rc = aria_errf(ARIA_EPROTO, "job request: 'resume' must be an array");
        goto fail;
    }
    size_t k = r ? json_array_size(r) : 0;
    if (k > JOBWIRE_RESUME_MAX || k >= (size_t)out->req.max_tokens) {
        rc = aria_errf(ARIA_EPROTO, "job request: %zu resumed tokens for max_tokens %d", k,
                       out->req.max_tokens);
        goto fail;
    }
    if (k) {
        out->resume = aria_alloc_array(k, sizeof *out->resume);
        if (!out->resume) {
            rc = aria_errf(ARIA_ENOMEM, "jobwire: out of memory");
            goto fail;
        }
    }
    for (size_t i = 0; i < k; i++) {
        json_t *e = json_array_get(r, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > INT32_MAX) {
            rc = aria_errf(ARIA_EPROTO, "job request: resume[%zu] is not a token id", i);
            goto fail;
        }
        out->resume[i] = (int32_t)json_integer_value(e);
    }
    out->n_resume = k;
    return 0;
fail:
    jobwire_request_fini(out);
    return rc;
}

void
jobwire_request_fini(jobwire_request *r)
{
    aria_free(r->resume);
    json_decref(r->root);
    memset(r, 0, sizeof *r);
}

int
jobwire_output_walk(const uint8_t *p, size_t n, jobwire_item_fn fn, void *ctx, uint32_t *n_tokens)
{
    size_t off = 0;
    uint32_t k = 0;
    while (off < n) {
        if (n - off < 6)
            return aria_errf(ARIA_EPROTO, "chunk output: item at byte %zu is truncated", off);
        uint32_t id = aria_load_u32le(p + off);
        size_t len = aria_load_u16le(p + off + 4);
        off += 6;
        if (len > n - off)
            return aria_errf(ARIA_EPROTO, "chunk output: text of item at byte %zu overruns",
                             off - 6);
        if (id != JOBWIRE_TEXT_ONLY_ID && id > INT32_MAX)
            return aria_errf(ARIA_EPROTO, "chunk output: bad token id %u", id);
        if (id != JOBWIRE_TEXT_ONLY_ID)
            k++;
        if (fn) {
            int rc =
                fn(ctx, id == JOBWIRE_TEXT_ONLY_ID ? -1 : (int32_t)id, (const char *)p + off, len);
            if (rc)
                return rc;
        }
        off += len;
    }
    *n_tokens = k;
    return 0;
}

void
jobwire_receipt_encode(const jobwire_receipt *r, uint8_t out[JOBWIRE_RECEIPT_LEN])
{
    memcpy(out, r->output_hash, 32);
    aria_store_u64le(out + 32, r->tokens_in);
    aria_store_u64le(out + 40, r->tokens_out);
    memcpy(out + 48, r->sig, 64);
}

int
jobwire_receipt_decode(const uint8_t *p, size_t n, jobwire_receipt *out)
{
    if (n != JOBWIRE_RECEIPT_LEN)
        return aria_errf(ARIA_EPROTO, "receipt info: %zu bytes, expected %d", n,
                         JOBWIRE_RECEIPT_LEN);
    memcpy(out->output_hash, p, 32);
    out->tokens_in = aria_load_u64le(p + 32);
    out->tokens_out = aria_load_u64le(p + 40);
    memcpy(out->sig, p + 48, 64);
    return 0;
}

int
jobwire_fork_proof_encode(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                          aria_buf *out)
{
    if (a_len > LEDGER_ENTRY_MAX_BYTES || b_len > LEDGER_ENTRY_MAX_BYTES)
        return aria_errf(ARIA_EINVAL, "fork proof: entry over %d bytes", LEDGER_ENTRY_MAX_BYTES);
    (void)aria_buf_put_u32le(out, (uint32_t)a_len);
    (void)aria_buf_put(out, a, a_len);
    (void)aria_buf_put_u32le(out, (uint32_t)b_len);
    return aria_buf_put(out, b, b_len);
}

int
jobwire_fork_proof_decode(const uint8_t *p, size_t n, const uint8_t **a, size_t *a_len,
                          const uint8_t **b, size_t *b_len)
{
    size_t off = 0;
    for (int i = 0; i < 2; i++) {
        if (n - off < 4)
            return aria_errf(ARIA_EPROTO, "fork proof: entry %d length is truncated", i + 1);
        size_t len = aria_load_u32le(p + off);
        off += 4;
        if (len == 0 || len > LEDGER_ENTRY_MAX_BYTES || len > n - off)
            return aria_errf(ARIA_EPROTO, "fork proof: entry %d has a bad length %zu", i + 1, len);
        *(i ? b : a) = p + off;
        *(i ? b_len : a_len) = len;
        off += len;
    }
    if (off != n)
        return aria_errf(ARIA_EPROTO, "fork proof: %zu bytes after the two entries", n - off);
    return 0;
}
