/*
 * generate.c — the generation loop: prompt evaluation, sampling, EOS/EOT
 * and stop-string handling, streaming complete UTF-8 text per token.
 *
 * Invariant: text given to the callback never contains (a part of) a stop
 * string that later completes: a suffix of the decoded text that is a prefix
 * of some stop string is held back until it is resolved.
 */
#include <string.h>

#include "model_int.h"

typedef struct gen_text {
    kern_tok_stream st;
    aria_buf held; /* decoded, not yet emitted */
    bool have_tok;
} gen_text;

/* Length of the longest suffix of s[0..n) that is a proper prefix of a
 * stop string. */
static size_t
held_suffix(const char *s, size_t n, const kern_gen_params *p)
{
    size_t best = 0;
    for (size_t k = 0; k < p->n_stop; k++) {
        size_t sl = strlen(p->stop[k]);
        size_t mx = sl - 1 < n ? sl - 1 : n;
        for (size_t l = mx; l > best; l--)
            if (memcmp(s + n - l, p->stop[k], l) == 0) {
                best = l;
                break;
            }
    }
    return best;
}

/* Earliest match of any stop string in s[0..n); n if none. */
static size_t
find_stop(const char *s, size_t n, const kern_gen_params *p)
{
    size_t first = n;
    for (size_t k = 0; k < p->n_stop; k++) {
        size_t sl = strlen(p->stop[k]);
        if (sl == 0 || sl > n)
            continue;
        for (size_t i = 0; i + sl <= n && i < first; i++)
            if (memcmp(s + i, p->stop[k], sl) == 0) {
                first = i;
                break;
            }
    }
    return first;
}

int
kern_generate(kern_ctx *c, const int32_t *prompt, size_t n_prompt, const kern_gen_params *p,
              kern_gen_fn fn, void *ud, kern_gen_result *res)
{
    const kern_model *m = c->m;
    const kern_tok *tok = m->tok;
    memset(res, 0, sizeof *res);
    if (n_prompt == 0)
        return aria_errf(ARIA_EINVAL, "generate: empty prompt");
    if (n_prompt > (size_t)c->o.n_ctx - c->pos)
        return aria_errf(ARIA_ERANGE,
                         "generate: the prompt has %zu tokens but the context holds %u (%u used)",
                         n_prompt, c->o.n_ctx, c->pos);
    for (size_t k = 0; k < p->n_stop; k++)
        if (!p->stop[k] || !p->stop[k][0])
            return aria_errf(ARIA_EINVAL, "generate: stop string %zu is empty", k);
    kern_sampler *s = NULL;
    int rc = kern_sampler_new(&p->sample, m->info.n_vocab, &s);
    if (rc < 0)
        return rc;
    float *logits = aria_alloc_array(m->info.n_vocab, sizeof(float));
    gen_text gt;
    memset(&gt, 0, sizeof gt);
    aria_buf_init(&gt.held, 0);
    if (!logits) {
        rc = aria_errf(ARIA_ENOMEM, "generate: out of memory");
        goto done;
    }
    if (tok) {
        kern_tok_stream_init(&gt.st, tok, 0);
        gt.have_tok = true;
    }
    for (size_t i = 0; i < n_prompt; i++)
        kern_sampler_accept(s, prompt[i]);
    res->n_prompt = (uint32_t)n_prompt;
    uint64_t t0 = aria_mono_ns();
    if ((rc = kern_ctx_eval(c, prompt, n_prompt, logits)) < 0)
        goto done;
    uint64_t t1 = aria_mono_ns();
    res->prompt_ns = t1 - t0;
    res->reason = KERN_STOP_LENGTH;
    for (uint32_t i = 0; i < p->n_predict; i++) {
        int32_t id = kern_sampler_sample(s, logits);
        bool eog =
            id == m->info.eos_id || id == m->info.eot_id || (tok && kern_tok_is_eog(tok, id));
        if (eog && !p->ignore_eos) {
            res->reason = KERN_STOP_EOS;
            break;
        }
        kern_sampler_accept(s, id);
        const char *text = NULL;
        size_t text_len = 0;
        bool stop_str = false;
        if (gt.have_tok) {
            if ((rc = kern_tok_stream_push(&gt.st, id, &gt.held)) < 0)
                goto done;
            const char *h = (const char *)gt.held.data;
            size_t hl = gt.held.len;
            size_t cut = find_stop(h, hl, p);
            if (cut < hl) {
                stop_str = true;
                text_len = cut;
            } else {
                text_len = hl - held_suffix(h, hl, p);
            }
            text = h ? h : "";
        }
        int stop_cb = fn ? fn(ud, id, logits, text, text_len) : 0;
        if (gt.have_tok && text_len > 0) {
            memmove(gt.held.data, gt.held.data + text_len, gt.held.len - text_len);
            gt.held.len -= text_len;
        }
        res->n_generated++;
        if (stop_str) {
            res->reason = KERN_STOP_STRING;
            gt.held.len = 0;
            break;
        }
        if (stop_cb) {
            res->reason = KERN_STOP_CALLBACK;
            break;
        }
        if (i + 1 == p->n_predict)
            break;
        if (c->pos >= c->o.n_ctx) {
            res->reason = KERN_STOP_CONTEXT;
            break;
        }
        if ((rc = kern_ctx_eval(c, &id, 1, logits)) < 0)
            goto done;
    }
    res->gen_ns = aria_mono_ns() - t1;
    if (gt.have_tok && res->reason != KERN_STOP_STRING) {
        if ((rc = kern_tok_stream_flush(&gt.st, &gt.held)) < 0)
            goto done;
        if (gt.held.len > 0 && fn)
            (void)fn(ud, -1, NULL, (const char *)gt.held.data, gt.held.len);
    }
    rc = 0;
done:
    aria_buf_fini(&gt.held);
    aria_free(logits);
    kern_sampler_free(s);
    return rc;
}
