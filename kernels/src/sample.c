/*
 * sample.c — token sampling: repetition penalty, greedy, top-k, top-p,
 * min-p, temperature, and a seeded draw from our own PRNG.
 *
 * Determinism: candidates are ordered by (logit descending, id ascending),
 * probabilities use kern_m_exp in double with sums from the best candidate
 * down, and the PRNG is xoshiro256** seeded with splitmix64, so the same
 * params, seed and logits give the same ids on every machine.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_int.h"

typedef struct cand {
    float logit;
    int32_t id;
} cand;

struct kern_sampler {
    kern_sample_params p;
    uint32_t n_vocab;
    uint64_t s[4]; /* xoshiro256** state */
    cand *c;       /* [n_vocab] */
    double *prob;  /* [n_vocab] */
    int32_t *hist; /* ring of the last repeat_last_n ids */
    size_t n_hist, hist_pos;
};

void
kern_sample_params_default(kern_sample_params *p)
{
    memset(p, 0, sizeof *p);
    p->temp = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = 0;
}

int
kern_sample_params_check(const kern_sample_params *p)
{
    if (!(p->temp == p->temp) || p->temp > 1000.0f)
        return aria_errf(ARIA_EINVAL, "sampling: temperature must be a number <= 1000");
    if (!(p->top_p == p->top_p) || p->top_p < 0.0f)
        return aria_errf(ARIA_EINVAL, "sampling: top_p must be >= 0");
    if (!(p->min_p == p->min_p) || p->min_p > 1.0f)
        return aria_errf(ARIA_EINVAL, "sampling: min_p must be <= 1");
    if (!(p->repeat_penalty > 0.0f) || p->repeat_penalty > 100.0f)
        return aria_errf(ARIA_EINVAL, "sampling: repeat_penalty must be in (0, 100]");
    if (p->repeat_last_n > (1u << 20))
        return aria_errf(ARIA_EINVAL, "sampling: repeat_last_n must be <= %u", 1u << 20);
    return 0;
}

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
xoshiro_next(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

int
kern_sampler_new(const kern_sample_params *p, uint32_t n_vocab, kern_sampler **out)
{
    *out = NULL;
    int rc = kern_sample_params_check(p);
    if (rc < 0)
        return rc;
    if (n_vocab == 0)
        return aria_errf(ARIA_EINVAL, "sampling: empty vocabulary");
    kern_sampler *s = aria_calloc(1, sizeof *s);
    if (!s)
        return aria_errf(ARIA_ENOMEM, "sampling: out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->c = aria_alloc_array(n_vocab, sizeof(cand));
    s->prob = aria_alloc_array(n_vocab, sizeof(double));
    s->hist = aria_alloc_array(p->repeat_last_n ? p->repeat_last_n : 1, sizeof(int32_t));
    if (!s->c || !s->prob || !s->hist) {
        kern_sampler_free(s);
        return aria_errf(ARIA_ENOMEM, "sampling: out of memory");
    }
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++)
        s->s[i] = splitmix64(&x);
    *out = s;
    return 0;
}

void
kern_sampler_free(kern_sampler *s)
{
    if (!s)
        return;
    aria_free(s->c);
    aria_free(s->prob);
    aria_free(s->hist);
    aria_free(s);
}

void
kern_sampler_accept(kern_sampler *s, int32_t id)
{
    if (s->p.repeat_last_n == 0)
        return;
    s->hist[s->hist_pos] = id;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->n_hist < s->p.repeat_last_n)
        s->n_hist++;
}

static int
cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->logit > y->logit)
        return -1;
    if (x->logit < y->logit)
        return 1;
    return (x->id > y->id) - (x->id < y->id);
}

static bool
cand_better(const cand *x, const cand *y)
{
    return x->logit > y->logit || (x->logit == y->logit && x->id < y->id);
}

/* Keep the best k candidates of c[0..n) sorted in c[0..k) (a bounded
 * insertion list: O(n k) worst case but k is small in practice; for large
 * k a full sort is used). */
static size_t
select_top(cand *c, size_t n, size_t k)
{
    if (k == 0 || k >= n || k > 256) {
        qsort(c, n, sizeof(cand), cand_cmp);
        return k == 0 || k >= n ? n : k;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        cand x = c[i];
        if (m == k && !cand_better(&x, &c[k - 1]))
            continue;
        size_t j = m < k ? m++ : k - 1;
        while (j > 0 && cand_better(&x, &c[j - 1])) {
            c[j] = c[j - 1];
            j--;
        }
        c[j] = x;
    }
    return m;
}

/* Softmax of c[0..n) (sorted, best first) at temperature t into prob. */
static void
softmax(const cand *c, size_t n, double t, double *prob)
{
    double mx = (double)c[0].logit, sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        prob[i] = kern_m_exp(((double)c[i].logit - mx) / t);
        sum += prob[i];
    }
    for (size_t i = 0; i < n; i++)
        prob[i] /= sum;
}

int32_t
kern_sampler_sample(kern_sampler *s, const float *logits)
{
    size_t n = s->n_vocab;
    cand *c = s->c;
    for (size_t i = 0; i < n; i++) {
        c[i].logit = logits[i];
        c[i].id = (int32_t)i;
    }
    /* Repetition penalty: each distinct id in the window once. */
    if (s->p.repeat_penalty != 1.0f) {
        for (size_t i = 0; i < s->n_hist; i++) {
            int32_t id = s->hist[i];
            if (id < 0 || (size_t)id >= n)
                continue;
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = s->hist[j] == id;
            if (seen)
                continue;
            float l = c[id].logit;
            c[id].logit = l > 0 ? l / s->p.repeat_penalty : l * s->p.repeat_penalty;
        }
    }
    /* NaN logits never win. */
    for (size_t i = 0; i < n; i++)
        if (!(c[i].logit == c[i].logit))
            c[i].logit = -INFINITY;
    if (s->p.temp <= 0.0f) {
        /* c[] is in id order here, so the first strictly larger logit is
         * the best candidate (lowest id on ties); the best logit stays in a
         * register (no load that waits on the previous step's choice). */
        size_t best = 0;
        float bv = c[0].logit;
        for (size_t i = 1; i < n; i++)
            if (c[i].logit > bv) {
                bv = c[i].logit;
                best = i;
            }
        return c[best].id;
    }
    size_t m = select_top(c, n, s->p.top_k);
    if (s->p.top_p < 1.0f && m > 1) {
        softmax(c, m, 1.0, s->prob);
        double cum = 0.0;
        size_t keep = m;
        for (size_t i = 0; i < m; i++) {
            cum += s->prob[i];
            if (cum >= (double)s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
        m = keep;
    }
    if (s->p.min_p > 0.0f && m > 1) {
        softmax(c, m, 1.0, s->prob);
        double thr = s->prob[0] * (double)s->p.min_p;
        size_t keep = 1;
        while (keep < m && s->prob[keep] >= thr)
            keep++;
        m = keep;
    }
    softmax(c, m, (double)s->p.temp, s->prob);
    /* u in [0, 1) with 53 random bits. */
    double u = (double)(xoshiro_next(s->s) >> 11) * (1.0 / 9007199254740992.0);
    double cum = 0.0;
    for (size_t i = 0; i < m; i++) {
        cum += s->prob[i];
        if (u < cum)
            return c[i].id;
    }
    return c[m - 1].id;
}
