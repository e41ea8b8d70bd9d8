/*
 * test_model_util.h — helpers for the engine's tests: a small deterministic
 * synthetic-model writer (through kern_gguf_writer), and an independent
 * float reference of the forward pass that reads the GGUF itself,
 * dequantizes every tensor to F32 and runs straightforward double loops.
 *
 * The reference shares no code with the engine (only the GGUF reader and
 * the dequantizers): it simulates the int8 activation rounding of ternary
 * projections with the rule written in ops.h, and the fp16 rounding of the
 * hidden state before an F16 head, and nothing else.
 */
#ifndef TEST_MODEL_UTIL_H
#define TEST_MODEL_UTIL_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

typedef struct synth_opts {
    const char *arch; /* "bitnet-b1.58", "bitnet-25", "bitnet", "llama" */
    kern_wtype wtype; /* projection type */
    kern_wtype etype; /* embedding type (F16 or F32) */
    uint32_t n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab;
    uint64_t seed;
    bool scales;    /* bitnet: per-projection .scale tensors */
    bool output;    /* llama: separate output.weight (F16) */
    int corrupt;    /* 1: no block_count, 2: attn_k wrong shape, 3: no ffn_sub_norm */
    int32_t eos_id; /* > 0: write tokenizer.ggml.eos_token_id (no tokenizer) */
} synth_opts;

static inline uint64_t
tsyn_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline float
tsyn_unif(uint64_t *s) /* [-1, 1) */
{
    return (float)((double)(tsyn_next(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/* Everything the writer must keep alive until the write. */
typedef struct synth_mem {
    void *blocks[512];
    size_t n;
} synth_mem;

static inline void *
tsyn_keep(synth_mem *k, size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (p && k->n < 512)
        k->blocks[k->n++] = p;
    return p;
}

static inline int
tsyn_tensor(kern_gguf_writer *w, synth_mem *k, const char *name, kern_wtype t, uint64_t cols,
            uint64_t rows, uint64_t *st, int kind, float scale)
{
    /* kind 0: ternary projection (scale), 1: norm around 1, 2: embedding. */
    uint64_t n = cols * rows, nb = 0;
    if (kern_wtype_tensor_bytes(t, n, cols, &nb) < 0)
        return -1;
    void *data = tsyn_keep(k, (size_t)nb);
    if (!data)
        return -1;
    if (kind == 0) {
        int8_t *tern = malloc((size_t)n);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t r = tsyn_next(st) % 3;
            tern[i] = (int8_t)((int)r - 1);
        }
        if (t == KERN_WT_I2_S) {
            kern_pack_ternary(t, tern, (size_t)n, scale, data);
        } else {
            size_t rb = kern_wtype_row_bytes(t, cols);
            for (uint64_t r = 0; r < rows; r++)
                kern_pack_ternary(t, tern + r * cols, (size_t)cols, scale,
                                  (uint8_t *)data + r * rb);
        }
        free(tern);
    } else {
        float *f = malloc((size_t)n * sizeof(float));
        for (uint64_t i = 0; i < n; i++)
            f[i] = kind == 1 ? 1.0f + 0.25f * tsyn_unif(st) : tsyn_unif(st);
        if (t == KERN_WT_F32) {
            memcpy(data, f, (size_t)n * sizeof(float));
        } else if (t == KERN_WT_F16) {
            uint16_t *h = data;
            for (uint64_t i = 0; i < n; i++)
                h[i] = kern_fp32_to_fp16(f[i]);
        } else {
            free(f);
            return -1;
        }
        free(f);
    }
    uint64_t ne[2] = {cols, rows};
    return kern_gguf_writer_add_tensor(w, name, t, rows > 1 ? 2 : 1, ne, data);
}

/* Write a synthetic model; returns 0 or an ARIA error. */
static inline int
synth_write(const char *path, const synth_opts *o)
{
    kern_gguf_writer *w = NULL;
    synth_mem k;
    memset(&k, 0, sizeof k);
    int rc = kern_gguf_writer_new(&w);
    if (rc < 0)
        return rc;
    char key[128];
    uint64_t st = o->seed;
    uint32_t D = o->n_embd / o->n_head, nq = o->n_head * D, nkv = o->n_head_kv * D;
    bool sub = strcmp(o->arch, "llama") != 0;
#define KV(fn, kname, val)                                                                         \
    do {                                                                                           \
        snprintf(key, sizeof key, "%s.%s", o->arch, kname);                                        \
        if ((rc = fn(w, key, val)) < 0)                                                            \
            goto out;                                                                              \
    } while (0)
    if ((rc = kern_gguf_writer_add_str(w, "general.architecture", o->arch)) < 0)
        goto out;
    if (o->corrupt != 1)
        KV(kern_gguf_writer_add_u32, "block_count", o->n_layer);
    KV(kern_gguf_writer_add_u32, "embedding_length", o->n_embd);
    KV(kern_gguf_writer_add_u32, "feed_forward_length", o->n_ff);
    KV(kern_gguf_writer_add_u32, "attention.head_count", o->n_head);
    KV(kern_gguf_writer_add_u32, "attention.head_count_kv", o->n_head_kv);
    KV(kern_gguf_writer_add_u32, "context_length", 512);
    KV(kern_gguf_writer_add_f32, "rope.freq_base", 10000.0f);
    KV(kern_gguf_writer_add_f32, "attention.layer_norm_rms_epsilon", 1e-5f);
#undef KV
    if (o->eos_id > 0 &&
        (rc = kern_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)o->eos_id)) < 0)
        goto out;
    if ((rc = tsyn_tensor(w, &k, "token_embd.weight", o->etype, o->n_embd, o->n_vocab, &st, 2, 0)) <
            0 ||
        (rc = tsyn_tensor(w, &k, "output_norm.weight", KERN_WT_F32, o->n_embd, 1, &st, 1, 0)) < 0)
        goto out;
    if (o->output && (rc = tsyn_tensor(w, &k, "output.weight", KERN_WT_F16, o->n_embd, o->n_vocab,
                                       &st, 2, 0)) < 0)
        goto out;
    for (uint32_t l = 0; l < o->n_layer; l++) {
        static const char *const pn[7] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                          "ffn_gate", "ffn_up", "ffn_down"};
        uint64_t pc[7] = {o->n_embd, o->n_embd, o->n_embd, nq, o->n_embd, o->n_embd, o->n_ff};
        uint64_t pr[7] = {nq, nkv, nkv, o->n_embd, o->n_ff, o->n_ff, o->n_embd};
        char nm[96];
        for (int p = 0; p < 7; p++) {
            /* fp16- and bf16-exact scales that keep activations O(1). */
            float s = (float)(1.0 / 16.0) * (float)(1 + p % 3) / (p == 6 ? 2.0f : 1.0f);
            float ws = o->scales ? 1.0f : s;
            snprintf(nm, sizeof nm, "blk.%u.%s.weight", l, pn[p]);
            uint64_t rows = o->corrupt == 2 && p == 1 ? pr[p] + 1 : pr[p];
            if ((rc = tsyn_tensor(w, &k, nm, o->wtype, pc[p], rows, &st, 0, ws)) < 0)
                goto out;
            if (o->scales) {
                snprintf(nm, sizeof nm, "blk.%u.%s.scale", l, pn[p]);
                float *sv = tsyn_keep(&k, sizeof(float));
                *sv = s;
                uint64_t ne1 = 1;
                if ((rc = kern_gguf_writer_add_tensor(w, nm, KERN_WT_F32, 1, &ne1, sv)) < 0)
                    goto out;
            }
        }
        snprintf(nm, sizeof nm, "blk.%u.attn_norm.weight", l);
        if ((rc = tsyn_tensor(w, &k, nm, KERN_WT_F32, o->n_embd, 1, &st, 1, 0)) < 0)
            goto out;
        snprintf(nm, sizeof nm, "blk.%u.ffn_norm.weight", l);
        if ((rc = tsyn_tensor(w, &k, nm, KERN_WT_F32, o->n_embd, 1, &st, 1, 0)) < 0)
            goto out;
        if (sub) {
            snprintf(nm, sizeof nm, "blk.%u.attn_sub_norm.weight", l);
            if ((rc = tsyn_tensor(w, &k, nm, KERN_WT_F32, nq, 1, &st, 1, 0)) < 0)
                goto out;
            snprintf(nm, sizeof nm, "blk.%u.ffn_sub_norm.weight", l);
            if (o->corrupt != 3 &&
                (rc = tsyn_tensor(w, &k, nm, KERN_WT_F32, o->n_ff, 1, &st, 1, 0)) < 0)
                goto out;
        }
    }
    rc = kern_gguf_writer_write(w, path);
out:
    kern_gguf_writer_free(w);
    for (size_t i = 0; i < k.n; i++)
        free(k.blocks[i]);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Float reference                                                      */
/* ------------------------------------------------------------------ */

typedef struct ref_mat {
    uint32_t rows, cols;
    float *w;     /* [rows][cols] dequantized */
    bool ternary; /* int8 activation path */
    float *rs;    /* ternary: per-row scale (x post scale, rounded to float) */
    float post;   /* float path: multiplier */
} ref_mat;

typedef struct ref_model {
    kern_gguf *g;
    int arch; /* kern_arch */
    uint32_t L, E, F, H, Hkv, D, V;
    float eps, theta;
    bool neox, head_f16;
    float *embd; /* [V][E] */
    float *onorm;
    float **an, **asn, **fn, **fsn;
    ref_mat *m; /* [L][7] */
    ref_mat head;
    /* KV in float */
    float *kc, *vc; /* [L][n_ctx][Hkv*D] */
    uint32_t n_ctx, pos;
} ref_model;

static inline float *
ref_vec(kern_gguf *g, const char *name, uint64_t n)
{
    const kern_gguf_tensor *t = kern_gguf_tensor_find(g, name);
    if (!t || t->n_elems != n)
        return NULL;
    float *v = malloc(n * sizeof(float));
    kern_dequant_row(t->type, t->data, v, n, 0);
    return v;
}

static inline int
ref_mat_load(kern_gguf *g, const char *wname, const char *sname, ref_mat *m)
{
    const kern_gguf_tensor *t = kern_gguf_tensor_find(g, wname);
    if (!t)
        return -1;
    m->cols = (uint32_t)t->ne[0];
    m->rows = (uint32_t)t->ne[1];
    m->w = malloc((size_t)m->rows * m->cols * sizeof(float));
    float i2s = t->type == KERN_WT_I2_S ? kern_i2s_scale(t->data, t->n_elems) : 0;
    size_t rb = kern_wtype_row_bytes(t->type, m->cols);
    for (uint32_t r = 0; r < m->rows; r++)
        kern_dequant_row(t->type, (const uint8_t *)t->data + r * rb, m->w + (size_t)r * m->cols,
                         m->cols, i2s);
    float post = 1.0f;
    const kern_gguf_tensor *st = sname ? kern_gguf_tensor_find(g, sname) : NULL;
    if (st)
        kern_dequant_row(st->type, st->data, &post, 1, 0);
    m->ternary = kern_wtype_is_ternary(t->type);
    m->post = post;
    if (m->ternary) {
        m->rs = malloc(m->rows * sizeof(float));
        for (uint32_t r = 0; r < m->rows; r++) {
            float s = 0;
            for (uint32_t c = 0; c < m->cols; c++) {
                float a = fabsf(m->w[(size_t)r * m->cols + c]);
                if (a > s)
                    s = a;
            }
            m->rs[r] = s * post;
        }
    }
    return 0;
}

static inline void
ref_mat_free(ref_mat *m)
{
    free(m->w);
    free(m->rs);
}

/* y = W x with the engine's documented numerics (independent code). */
static inline void
ref_matvec(const ref_mat *m, const float *x, float *y)
{
    if (!m->ternary) {
        for (uint32_t r = 0; r < m->rows; r++) {
            double s = 0;
            for (uint32_t c = 0; c < m->cols; c++)
                s += (double)m->w[(size_t)r * m->cols + c] * x[c];
            y[r] = (float)s * m->post;
        }
        return;
    }
    float a = 0;
    for (uint32_t c = 0; c < m->cols; c++)
        if (fabsf(x[c]) > a)
            a = fabsf(x[c]);
    if (a == 0) {
        for (uint32_t r = 0; r < m->rows; r++)
            y[r] = 0;
        return;
    }
    float mul = 127.0f / a, sc = a / 127.0f;
    int32_t *q = malloc(m->cols * sizeof(int32_t));
    for (uint32_t c = 0; c < m->cols; c++) {
        float v = roundf(x[c] * mul);
        q[c] = v > 127 ? 127 : (v < -127 ? -127 : (int32_t)v);
    }
    for (uint32_t r = 0; r < m->rows; r++) {
        int64_t acc = 0;
        for (uint32_t c = 0; c < m->cols; c++) {
            float w = m->w[(size_t)r * m->cols + c];
            acc += (w > 0 ? 1 : (w < 0 ? -1 : 0)) * q[c];
        }
        y[r] = (float)acc * (sc * m->rs[r]);
    }
    free(q);
}

static inline void
ref_rmsnorm(const float *x, const float *w, uint32_t n, float eps, float *y)
{
    double s = 0;
    for (uint32_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    double k = 1.0 / sqrt(s / n + eps);
    for (uint32_t i = 0; i < n; i++)
        y[i] = (float)(x[i] * k * w[i]);
}

static inline int
ref_load(const char *path, uint32_t n_ctx, ref_model *R)
{
    memset(R, 0, sizeof *R);
    if (kern_gguf_open(path, &R->g) < 0)
        return -1;
    kern_gguf *g = R->g;
    const char *arch = kern_gguf_arch(g);
    char k[128];
    R->arch = strcmp(arch, "llama") == 0    ? KERN_ARCH_LLAMA
              : strcmp(arch, "bitnet") == 0 ? KERN_ARCH_BITNET
                                            : KERN_ARCH_BITNET_B158;
#define GU(name, dst)                                                                              \
    snprintf(k, sizeof k, "%s.%s", arch, name);                                                    \
    if (kern_gguf_get_u32(g, k, dst) < 0)                                                          \
        return -1;
    GU("block_count", &R->L);
    GU("embedding_length", &R->E);
    GU("feed_forward_length", &R->F);
    GU("attention.head_count", &R->H);
    GU("attention.head_count_kv", &R->Hkv);
#undef GU
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", arch);
    if (kern_gguf_get_f32(g, k, &R->eps) < 0)
        return -1;
    snprintf(k, sizeof k, "%s.rope.freq_base", arch);
    if (kern_gguf_get_f32(g, k, &R->theta) < 0)
        R->theta = 10000.0f;
    R->D = R->E / R->H;
    R->neox = R->arch != KERN_ARCH_LLAMA;
    const kern_gguf_tensor *te = kern_gguf_tensor_find(g, "token_embd.weight");
    R->V = (uint32_t)te->ne[1];
    R->embd = malloc((size_t)R->V * R->E * sizeof(float));
    size_t rb = kern_wtype_row_bytes(te->type, R->E);
    for (uint32_t v = 0; v < R->V; v++)
        kern_dequant_row(te->type, (const uint8_t *)te->data + v * rb, R->embd + (size_t)v * R->E,
                         R->E, 0);
    R->onorm = ref_vec(g, "output_norm.weight", R->E);
    R->an = calloc(R->L, sizeof(float *));
    R->asn = calloc(R->L, sizeof(float *));
    R->fn = calloc(R->L, sizeof(float *));
    R->fsn = calloc(R->L, sizeof(float *));
    R->m = calloc((size_t)R->L * 7, sizeof(ref_mat));
    static const char *const pn[7] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                      "ffn_gate", "ffn_up", "ffn_down"};
    for (uint32_t l = 0; l < R->L; l++) {
        char a[96], b[96];
        snprintf(a, sizeof a, "blk.%u.attn_norm.weight", l);
        R->an[l] = ref_vec(g, a, R->E);
        snprintf(a, sizeof a, "blk.%u.ffn_norm.weight", l);
        R->fn[l] = ref_vec(g, a, R->E);
        if (R->arch != KERN_ARCH_LLAMA) {
            snprintf(a, sizeof a, "blk.%u.attn_sub_norm.weight", l);
            R->asn[l] = ref_vec(g, a, (uint64_t)R->H * R->D);
            snprintf(a, sizeof a, "blk.%u.ffn_sub_norm.weight", l);
            R->fsn[l] = ref_vec(g, a, R->F);
        }
        for (int p = 0; p < 7; p++) {
            snprintf(a, sizeof a, "blk.%u.%s.weight", l, pn[p]);
            snprintf(b, sizeof b, "blk.%u.%s.scale", l, pn[p]);
            if (ref_mat_load(g, a, b, &R->m[l * 7 + p]) < 0)
                return -1;
        }
    }
    const char *hn =
        kern_gguf_tensor_find(g, "output.weight") ? "output.weight" : "token_embd.weight";
    if (ref_mat_load(g, hn, NULL, &R->head) < 0)
        return -1;
    R->head_f16 = kern_gguf_tensor_find(g, hn)->type == KERN_WT_F16;
    R->n_ctx = n_ctx;
    size_t kvn = (size_t)R->L * n_ctx * R->Hkv * R->D;
    R->kc = calloc(kvn, sizeof(float));
    R->vc = calloc(kvn, sizeof(float));
    return 0;
}

static inline void
ref_free(ref_model *R)
{
    for (uint32_t l = 0; l < R->L; l++) {
        free(R->an[l]);
        free(R->asn[l]);
        free(R->fn[l]);
        free(R->fsn[l]);
        for (int p = 0; p < 7; p++)
            ref_mat_free(&R->m[l * 7 + p]);
    }
    ref_mat_free(&R->head);
    free(R->an);
    free(R->asn);
    free(R->fn);
    free(R->fsn);
    free(R->m);
    free(R->embd);
    free(R->onorm);
    free(R->kc);
    free(R->vc);
    kern_gguf_close(R->g);
}

static inline void
ref_rope(const ref_model *R, float *v, uint32_t p)
{
    uint32_t half = R->D / 2;
    for (uint32_t i = 0; i < half; i++) {
        double th = p * pow((double)R->theta, -2.0 * i / R->D);
        double c = cos(th), s = sin(th);
        uint32_t i0 = R->neox ? i : 2 * i, i1 = R->neox ? i + half : 2 * i + 1;
        double x0 = v[i0], x1 = v[i1];
        v[i0] = (float)(x0 * c - x1 * s);
        v[i1] = (float)(x0 * s + x1 * c);
    }
}

/* One token at R->pos; logits (V floats) written. */
static inline void
ref_step(ref_model *R, int32_t id, float *logits)
{
    uint32_t E = R->E, F = R->F, D = R->D, nq = R->H * D, nkv = R->Hkv * D, p = R->pos;
    float *x = malloc(E * sizeof(float)), *h = malloc((E > F ? E : F) * 2 * sizeof(float) + nq * 4);
    float *q = malloc(nq * sizeof(float)), *k = malloc(nkv * sizeof(float)),
          *v = malloc(nkv * sizeof(float)), *a = malloc(nq * sizeof(float)),
          *g = malloc(F * sizeof(float)), *u = malloc(F * sizeof(float)),
          *o = malloc((E > F ? E : F) * sizeof(float)), *sc = malloc((p + 1) * sizeof(double) * 2);
    memcpy(x, R->embd + (size_t)id * E, E * sizeof(float));
    for (uint32_t l = 0; l < R->L; l++) {
        const ref_mat *M = &R->m[l * 7];
        ref_rmsnorm(x, R->an[l], E, R->eps, h);
        ref_matvec(&M[0], h, q);
        ref_matvec(&M[1], h, k);
        ref_matvec(&M[2], h, v);
        for (uint32_t i = 0; i < R->H; i++)
            ref_rope(R, q + i * D, p);
        for (uint32_t i = 0; i < R->Hkv; i++)
            ref_rope(R, k + i * D, p);
        size_t off = ((size_t)l * R->n_ctx + p) * nkv;
        memcpy(R->kc + off, k, nkv * sizeof(float));
        memcpy(R->vc + off, v, nkv * sizeof(float));
        double *s = (double *)sc;
        for (uint32_t hh = 0; hh < R->H; hh++) {
            uint32_t kh = hh / (R->H / R->Hkv);
            double mx = -1e300, sum = 0;
            for (uint32_t j = 0; j <= p; j++) {
                const float *kj = R->kc + ((size_t)l * R->n_ctx + j) * nkv + kh * D;
                double d = 0;
                for (uint32_t e = 0; e < D; e++)
                    d += (double)q[hh * D + e] * kj[e];
                s[j] = d / sqrt((double)D);
                if (s[j] > mx)
                    mx = s[j];
            }
            for (uint32_t j = 0; j <= p; j++) {
                s[j] = exp(s[j] - mx);
                sum += s[j];
            }
            for (uint32_t e = 0; e < D; e++) {
                double acc = 0;
                for (uint32_t j = 0; j <= p; j++)
                    acc += s[j] / sum * R->vc[((size_t)l * R->n_ctx + j) * nkv + kh * D + e];
                a[hh * D + e] = (float)acc;
            }
        }
        if (R->asn[l]) {
            ref_rmsnorm(a, R->asn[l], nq, R->eps, h);
            ref_matvec(&M[3], h, o);
        } else {
            ref_matvec(&M[3], a, o);
        }
        for (uint32_t i = 0; i < E; i++)
            x[i] += o[i];
        ref_rmsnorm(x, R->fn[l], E, R->eps, h);
        ref_matvec(&M[4], h, g);
        ref_matvec(&M[5], h, u);
        for (uint32_t i = 0; i < F; i++) {
            double gv = g[i];
            double act =
                R->arch == KERN_ARCH_BITNET_B158 ? (gv > 0 ? gv * gv : 0) : gv / (1 + exp(-gv));
            g[i] = (float)(act * u[i]);
        }
        if (R->fsn[l]) {
            ref_rmsnorm(g, R->fsn[l], F, R->eps, h);
            ref_matvec(&M[6], h, o);
        } else {
            ref_matvec(&M[6], g, o);
        }
        for (uint32_t i = 0; i < E; i++)
            x[i] += o[i];
    }
    ref_rmsnorm(x, R->onorm, E, R->eps, h);
    if (R->head_f16)
        for (uint32_t i = 0; i < E; i++)
            h[i] = kern_fp16_to_fp32(kern_fp32_to_fp16(h[i]));
    ref_matvec(&R->head, h, logits);
    R->pos++;
    free(x);
    free(h);
    free(q);
    free(k);
    free(v);
    free(a);
    free(g);
    free(u);
    free(o);
    free(sc);
}

#endif
