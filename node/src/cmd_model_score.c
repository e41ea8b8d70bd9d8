/*
 * cmd_model_score.c — `aria model score`: teacher-forced evaluation of a
 * token sequence, the engine side of a perplexity / top-1 comparison with
 * another implementation (models/train/check_engine.py uses it against the
 * PyTorch forward pass).
 *
 *   aria model score -m FILE [--ctx N] IDS|-      IDS: "1,2,3" or whitespace
 *
 * Feeds the ids one at a time (one KV cache, the positions a generation
 * would use) and prints, for every position i that has a next token, one
 * line "i argmax logprob(next)" with the log-probability in nats; then a
 * summary line "# n N nll MEAN ppl PPL" on stderr.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kernels.h"

static int
parse_ids(const char *s, int32_t **out, size_t *n)
{
    size_t cap = 256, k = 0;
    int32_t *ids = aria_alloc_array(cap, sizeof *ids);
    if (!ids)
        return aria_errf(ARIA_ENOMEM, "out of memory");
    while (*s) {
        while (*s == ',' || *s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
            s++;
        if (!*s)
            break;
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX) {
            aria_free(ids);
            return aria_errf(ARIA_EINVAL, "token id %zu is not a number: '%.20s'", k, s);
        }
        if (k == cap) {
            int32_t *p = aria_realloc(ids, 2 * cap * sizeof *ids);
            if (!p) {
                aria_free(ids);
                return aria_errf(ARIA_ENOMEM, "out of memory");
            }
            ids = p, cap *= 2;
        }
        ids[k++] = (int32_t)v;
        s = end;
    }
    *out = ids;
    *n = k;
    return 0;
}

int
cmd_model_score(int argc, char **argv)
{
    const cli_verb *v = cli_verb_find("model");
    const char *model = NULL, *src = NULL;
    uint64_t ctx_len = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--ctx") && i + 1 < argc) {
            if (aria_parse_u64(argv[++i], 1 << 20, "--ctx", &ctx_len))
                return cli_usage_error(v, aria_err_msg());
        } else if (!src)
            src = argv[i];
        else
            return cli_usage_error(v, "score: one IDS argument (or - for stdin)");
    }
    if (!model || !src)
        return cli_usage_error(v, "score: -m FILE and IDS are required");
    aria_buf in;
    aria_buf_init(&in, 64 << 20);
    if (!strcmp(src, "-")) {
        char chunk[65536];
        size_t k;
        while ((k = fread(chunk, 1, sizeof chunk, stdin)) > 0)
            if (aria_buf_put(&in, chunk, k)) {
                aria_buf_fini(&in);
                return cli_fail(ARIA_ERANGE, "score: stdin over 64 MiB");
            }
    } else if (aria_buf_put(&in, src, strlen(src))) {
        aria_buf_fini(&in);
        return cli_fail(ARIA_ENOMEM, "score");
    }
    (void)aria_buf_put(&in, "", 1);
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = parse_ids((const char *)in.data, &ids, &n);
    aria_buf_fini(&in);
    if (rc)
        return cli_fail(rc, "score");
    if (n < 2) {
        aria_free(ids);
        return cli_usage_error(v, "score: give at least two token ids");
    }
    kern_model *m = NULL;
    kern_ctx *c = NULL;
    float *logits = NULL;
    if ((rc = kern_model_load(model, NULL, &m))) {
        aria_free(ids);
        return cli_fail(rc, model);
    }
    uint32_t nv = kern_model_get_info(m)->n_vocab;
    if (!ctx_len)
        ctx_len = n;
    if (ctx_len < n)
        rc = aria_errf(ARIA_EINVAL, "score: %zu ids do not fit in --ctx %llu", n,
                       (unsigned long long)ctx_len);
    if (!rc)
        rc = kern_ctx_new(m, (uint32_t)ctx_len, 1, &c);
    if (!rc && !(logits = aria_alloc_array(nv, sizeof *logits)))
        rc = aria_errf(ARIA_ENOMEM, "out of memory");
    double nll = 0;
    for (size_t i = 0; !rc && i + 1 < n; i++) {
        if ((rc = kern_ctx_eval(c, &ids[i], 1, logits)))
            break;
        if ((uint32_t)ids[i + 1] >= nv) {
            rc = aria_errf(ARIA_EINVAL, "score: token id %d is outside the vocabulary (%u)",
                           ids[i + 1], nv);
            break;
        }
        uint32_t best = 0;
        double mx = logits[0];
        for (uint32_t t = 1; t < nv; t++)
            if (logits[t] > mx)
                mx = logits[t], best = t;
        double sum = 0;
        for (uint32_t t = 0; t < nv; t++)
            sum += exp((double)logits[t] - mx);
        double lp = (double)logits[ids[i + 1]] - mx - log(sum);
        nll -= lp;
        printf("%zu %u %.6f\n", i, best, lp);
    }
    if (!rc)
        fprintf(stderr, "# n %zu nll %.6f ppl %.4f\n", n - 1, nll / (double)(n - 1),
                exp(nll / (double)(n - 1)));
    aria_free(logits);
    kern_ctx_free(c);
    kern_model_free(m);
    aria_free(ids);
    return rc ? cli_fail(rc, "score") : 0;
}
