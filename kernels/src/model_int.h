/*
 * model_int.h — private to the engine (model.c, forward.c, sample.c,
 * generate.c, mathf.c) and its unit tests: the loaded-model structs, the
 * context's preallocated run state, and the engine's own math functions.
 *
 * Invariants: a kern_model is immutable after kern_model_load returns; every
 * buffer of a kern_ctx is allocated in kern_ctx_new_opts, so evaluation never
 * allocates.
 */
#ifndef ARIA_KERN_MODEL_INT_H
#define ARIA_KERN_MODEL_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kern_gguf.h"
#include "kern_model.h"
#include "kern_tok.h"
#include "ops.h"

/* ------------------------------------------------------------------ */
/* Own deterministic math (mathf.c)                                     */
/* ------------------------------------------------------------------ */

double kern_m_exp(double x);
double kern_m_log(double x); /* x > 0 */
double kern_m_pow(double base, double ex);
void kern_m_sincos(double x, double *s, double *c);
float kern_m_expf(float x);
float kern_m_silu(float x); /* x / (1 + e^-x), evaluated in double */
/* max(x, 0)^2 in float; inline so the gate loop vectorizes (element-wise,
 * the same values as the scalar loop) */
static inline float
kern_m_relu2(float x)
{
    float r = x > 0.0f ? x : 0.0f;
    return r * r;
}
/* g[i] = kern_m_silu(g[i]) * u[i] and x[i] = kern_m_expf(x[i]) for a row:
 * the same bits as the scalar functions (AVX2 when the selected ISA allows). */
void kern_m_silu_mul_row(float *g, const float *u, size_t n);
void kern_m_expf_row(float *x, size_t n);

/* Largest supported attention head size (stack buffers in forward.c). */
#define KERN_MAX_HEAD_DIM 512

/* ------------------------------------------------------------------ */
/* Weights                                                              */
/* ------------------------------------------------------------------ */

typedef enum eng_mat_kind {
    ENG_MAT_NONE = 0,
    ENG_MAT_TERNARY = 1, /* kern_tmat, int8 activations */
    ENG_MAT_FLOAT = 2,   /* kern_fmat in place in the mapping */
    ENG_MAT_INT8 = 3,    /* kern_i8mat (int8 LM head), int8 activations */
} eng_mat_kind;

/* One projection: y[rows] = W[rows x cols] x[cols] (x post_scale). */
typedef struct eng_mat {
    eng_mat_kind kind;
    uint32_t rows, cols;
    kern_tmat t;      /* TERNARY: owned; row scales include post_scale */
    kern_fmat f;      /* FLOAT: borrowed from the mapping */
    kern_i8mat i8;    /* INT8: owned */
    float post_scale; /* FLOAT: 1 or the file's ".scale" tensor value */
    int src_type;     /* kern_wtype in the file */
} eng_mat;

typedef struct eng_layer {
    const float *attn_norm;     /* [n_embd] */
    const float *attn_sub_norm; /* [n_head * head_dim] or NULL (llama) */
    const float *ffn_norm;      /* [n_embd] */
    const float *ffn_sub_norm;  /* [n_ff] or NULL (llama) */
    eng_mat wq, wk, wv, wo, wgate, wup, wdown;
} eng_layer;

struct kern_model {
    kern_gguf *g; /* owns the mapping every FLOAT matrix points into */
    kern_model_info info;
    char *arch_name;
    char *name;
    eng_layer *layers; /* [n_layer] */
    float *norms;      /* owned F32 copies of every norm vector */
    const float *output_norm;
    kern_gguf_tensor tok_embd; /* the embedding table as stored */
    eng_mat head;              /* LM head: output.weight or the tied embedding */
    kern_tok *tok;             /* owned, may be NULL */
};

/* ------------------------------------------------------------------ */
/* Context (run state)                                                  */
/* ------------------------------------------------------------------ */

struct kern_ctx {
    const kern_model *m;
    kern_ctx_opts o;
    uint32_t pos;    /* tokens in the cache */
    kern_pool *pool; /* NULL when n_threads == 1 */
    /* KV cache: per layer [n_head_kv / G][n_ctx][G][head_dim] with G =
     * kv_group heads per block (G = 1: head-major), F16 or F32, on 2 MiB
     * pages (kern_big_alloc; raw/len free it). forward.c's kv_off. */
    void *kv_k, *kv_v;
    void *kv_k_raw, *kv_v_raw;
    size_t kv_k_len, kv_v_len;
    size_t kv_layer_elems; /* n_ctx * n_head_kv * head_dim */
    size_t kv_group;       /* G above (opts.kv_group resolved) */
    /* RoPE tables [n_ctx][n_rot/2]. */
    float *rope_cos, *rope_sin;
    /* Activations, B = n_batch rows each (shape comments per row). */
    float *x;           /* [B][n_embd] residual stream */
    float *xn;          /* [B][max(n_embd, n_ff, n_q)] normalized input of a matmul */
    float *q;           /* [B][n_head * head_dim] */
    float *k;           /* [B][n_head_kv * head_dim] */
    float *v;           /* [B][n_head_kv * head_dim] */
    float *att;         /* [B][n_head * head_dim] attention output */
    float *gate;        /* [B][n_ff] */
    float *up;          /* [B][n_ff] */
    float *out;         /* [B][max(n_embd, n_ff, n_q)] matmul output */
    float *scores;      /* [n_att_slots][scores_rows][n_ctx] attention scratch, one
                           per task (two rows: att_pair; G rows: a block) */
    size_t scores_rows; /* max(2, kv_group) */
    float *kvf;         /* [n_att_slots][2][n_ctx][head_dim] K/V rows as float (prefill) */
    size_t n_att_slots;
    size_t width;   /* max(n_embd, n_ff, n_q) */
    kern_acts acts; /* [B] rows of int8 activations, stride >= width padded */
    int8_t *acts_q;
    float *acts_scale;
    int32_t *acts_sum;
};

/* forward.c: evaluate n <= n_batch tokens at positions c->pos.. (already
 * checked to fit); write the last token's logits if logits != NULL. */
void eng_forward_chunk(kern_ctx *c, const int32_t *ids, size_t n, float *logits);
/* forward.c: the KV heads per cache block chosen when opts.kv_group is 0:
 * blocks of 8 (else 4) where this CPU has the block attention loops and
 * there is a block per thread, else 1 (head-major). */
size_t eng_kv_group_auto(const kern_model_info *I, int n_threads);
/* forward.c: y[t][rows] = W x[t] for n tokens (x row stride xs, y stride ys). */
void eng_mat_apply(kern_ctx *c, const eng_mat *w, const float *x, size_t xs, size_t n, float *y,
                   size_t ys);

#endif
