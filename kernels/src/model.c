/*
 * model.c — loading a model from GGUF (arch, hyperparameters, tensors with
 * shape checks, weight repacking) and the context lifecycle (KV cache, RoPE
 * tables, scratch) plus kern_ctx_eval's bounds checks.
 *
 * Invariants: every tensor the forward pass touches was found, type-checked
 * and shape-checked here, so forward.c never validates anything; every
 * buffer of a context is allocated in kern_ctx_new_opts.
 */
#define _DEFAULT_SOURCE /* madvise */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kern_types.h"
#include "model_int.h"

#define MOD "kernels"

const char *
kern_arch_name(kern_arch a)
{
    switch (a) {
    case KERN_ARCH_BITNET_B158: return "bitnet-b1.58";
    case KERN_ARCH_BITNET: return "bitnet";
    case KERN_ARCH_LLAMA: return "llama";
    }
    return "?";
}

/* ------------------------------------------------------------------ */
/* Metadata helpers                                                     */
/* ------------------------------------------------------------------ */

typedef struct loader {
    kern_model *m;
    const kern_gguf *g;
    const char *arch; /* prefix for hyperparameter keys */
    const char *path;
    const kern_model_opts *opts;
    size_t norm_used, norm_cap;
} loader;

static int
meta_u32(loader *L, const char *key, bool required, uint32_t def, uint32_t *out)
{
    char full[256];
    aria_snprintf(full, sizeof full, "%s.%s", L->arch, key);
    int rc = kern_gguf_get_u32(L->g, full, out);
    if (rc == ARIA_ENOTFOUND) {
        if (required)
            return aria_errf(ARIA_EPROTO, "model %s: missing metadata key '%s'", L->path, full);
        *out = def;
        return 0;
    }
    if (rc < 0)
        return aria_errf(ARIA_EPROTO, "model %s: metadata key '%s' is not a valid u32: %s", L->path,
                         full, aria_err_msg());
    return 0;
}

static int
meta_f32(loader *L, const char *key, bool required, float def, float *out)
{
    char full[256];
    aria_snprintf(full, sizeof full, "%s.%s", L->arch, key);
    int rc = kern_gguf_get_f32(L->g, full, out);
    if (rc == ARIA_ENOTFOUND) {
        if (required)
            return aria_errf(ARIA_EPROTO, "model %s: missing metadata key '%s'", L->path, full);
        *out = def;
        return 0;
    }
    if (rc < 0)
        return aria_errf(ARIA_EPROTO, "model %s: metadata key '%s' is not a number: %s", L->path,
                         full, aria_err_msg());
    if (!(*out == *out) || *out > 3.0e38f || *out < -3.0e38f)
        return aria_errf(ARIA_EPROTO, "model %s: metadata key '%s' is not finite", L->path, full);
    return 0;
}

static void
shape_str(char *buf, size_t n, uint32_t n_dims, const uint64_t *ne)
{
    size_t o = 0;
    o += (size_t)aria_snprintf(buf + o, n - o, "[");
    for (uint32_t i = 0; i < n_dims && o < n; i++)
        o += (size_t)aria_snprintf(buf + o, n - o, "%s%llu", i ? ", " : "",
                                   (unsigned long long)ne[i]);
    if (o < n)
        aria_snprintf(buf + o, n - o, "]");
}

/* Find `name` and check it has exactly the dims given (n_dims 1 or 2;
 * trailing 1s in the file are accepted). *out NULL if absent and optional. */
static int
find_tensor(loader *L, const char *name, bool required, uint32_t n_dims, uint64_t ne0, uint64_t ne1,
            const kern_gguf_tensor **out)
{
    const kern_gguf_tensor *t = kern_gguf_tensor_find(L->g, name);
    *out = NULL;
    if (!t) {
        if (required)
            return aria_errf(ARIA_EPROTO, "model %s: missing tensor '%s'", L->path, name);
        return 0;
    }
    uint64_t want[4] = {ne0, n_dims > 1 ? ne1 : 1, 1, 1};
    bool ok = true;
    for (int i = 0; i < 4; i++)
        if (t->ne[i] != want[i])
            ok = false;
    if (!ok) {
        char got[96], exp[96];
        shape_str(got, sizeof got, t->n_dims, t->ne);
        shape_str(exp, sizeof exp, n_dims, want);
        return aria_errf(ARIA_EPROTO, "model %s: tensor '%s' has shape %s, expected %s", L->path,
                         name, got, exp);
    }
    *out = t;
    return 0;
}

static bool
is_float_type(kern_wtype t)
{
    return t == KERN_WT_F32 || t == KERN_WT_F16 || t == KERN_WT_BF16 || t == KERN_WT_Q8_0;
}

/* A norm (or scale) vector as F32: copied into the model's norm arena. */
static int
load_vec(loader *L, const char *name, bool required, uint64_t n, const float **out)
{
    const kern_gguf_tensor *t;
    *out = NULL;
    int rc = find_tensor(L, name, required, 1, n, 1, &t);
    if (rc < 0 || !t)
        return rc;
    if (t->type != KERN_WT_F32 && t->type != KERN_WT_F16 && t->type != KERN_WT_BF16)
        return aria_errf(ARIA_EPROTO, "model %s: tensor '%s' has type %s, expected f32/f16/bf16",
                         L->path, name, kern_wtype_name(t->type));
    ARIA_ASSERT(L->norm_used + n <= L->norm_cap);
    float *dst = L->m->norms + L->norm_used;
    kern_dequant_row(t->type, t->data, dst, (size_t)n, 0.0f);
    for (uint64_t i = 0; i < n; i++)
        if (!(dst[i] == dst[i]) || dst[i] > 3.0e38f || dst[i] < -3.0e38f)
            return aria_errf(ARIA_EPROTO, "model %s: tensor '%s' element %llu is not finite",
                             L->path, name, (unsigned long long)i);
    L->norm_used += (size_t)n;
    *out = dst;
    return 0;
}

/* Drop the resident pages of a repacked tensor: the mapping is a read-only
 * private file mapping (kern_gguf_open), so MADV_DONTNEED only releases
 * clean page-cache pages and the file stays intact. Keeps resident memory
 * near the file size instead of file + repacked copy. */
static void
drop_pages(const void *p, uint64_t n)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0)
        return;
    uintptr_t a = (uintptr_t)p, e = a + (uintptr_t)n, m = (uintptr_t)pg - 1;
    a = (a + m) & ~m;
    e &= ~m;
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_DONTNEED);
}

/* TQ2_0 row straight from the packed bytes (blocks of 256: 64 bytes of 2-bit
 * codes q, value (q - 1) * d, then the fp16 d), giving the same codes and
 * scale as dequantizing to float and reading signs and |w|. Returns -1 (the
 * caller then takes the generic path, which names the problem) for anything
 * unusual: code 3, a non-finite d, or blocks with weights and different |d|. */
static int
tq2_row_codes(const uint8_t *src, uint64_t cols, int8_t *codes, float *scale)
{
    float s = 0.0f;
    for (uint64_t blk = 0; blk < cols / KERN_QK_K; blk++) {
        const uint8_t *b = src + blk * KERN_TQ2_0_BLOCK_BYTES;
        float d = kern_fp16_to_fp32((uint16_t)(b[64] | b[65] << 8));
        if (!(d == d) || d > 3.0e38f || d < -3.0e38f)
            return -1;
        int8_t sg = d > 0 ? 1 : (d < 0 ? -1 : 0);
        int8_t *o = codes + blk * KERN_QK_K;
        unsigned any = 0, three = 0;
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 4; l++)
                for (int m = 0; m < 32; m++) {
                    int q = (b[32 * h + m] >> (2 * l)) & 3;
                    three |= q == 3;
                    any |= q != 1;
                    o[128 * h + 32 * l + m] = (int8_t)(sg * (q - 1));
                }
        if (three)
            return -1;
        float a = d < 0 ? -d : d;
        if (any && a != 0.0f) {
            if (s == 0.0f)
                s = a;
            else if (a != s)
                return -1;
        }
    }
    *scale = s;
    return 0;
}

/* Build the engine's matrix for a [cols, rows] GGUF tensor. */
static int
mat_init(loader *L, eng_mat *w, const kern_gguf_tensor *t, float post_scale)
{
    uint64_t cols = t->ne[0], rows = t->ne[1];
    w->rows = (uint32_t)rows;
    w->cols = (uint32_t)cols;
    w->src_type = (int)t->type;
    w->post_scale = 1.0f;
    if (is_float_type(t->type) && !L->opts->ternarize_float) {
        w->kind = ENG_MAT_FLOAT;
        w->f.type = (kern_ftype)t->type;
        w->f.rows = (size_t)rows;
        w->f.cols = (size_t)cols;
        w->f.row_bytes = kern_wtype_row_bytes(t->type, cols);
        w->f.data = t->data;
        w->post_scale = post_scale;
        return 0;
    }
    if (!kern_wtype_is_ternary(t->type) && !is_float_type(t->type))
        return aria_errf(ARIA_EUNSUPPORTED, "model %s: tensor '%s' has unsupported type %s",
                         L->path, t->name, kern_wtype_name(t->type));
    /* Ternary: every row must be s_r * {-1, 0, +1}; the row scale (times the
     * optional .scale) goes into the int8 matrix. */
    float i2s = t->type == KERN_WT_I2_S ? kern_i2s_scale(t->data, t->n_elems) : 0.0f;
    size_t row_bytes = kern_wtype_row_bytes(t->type, cols);
    float *row = aria_alloc_array((size_t)cols, sizeof(float));
    int8_t *codes = aria_alloc((size_t)cols);
    int rc = 0;
    if (!row || !codes) {
        rc = aria_errf(ARIA_ENOMEM, "model: out of memory repacking '%s'", t->name);
        goto done;
    }
    rc = kern_tmat_init(&w->t, (size_t)rows, (size_t)cols);
    if (rc < 0)
        goto done;
    w->kind = ENG_MAT_TERNARY;
    if (t->type == KERN_WT_I2_S) {
        /* Fast path: codes straight from the packed bytes (0/1/2 = -1/0/+1;
         * 3 never written, read as 0 like kern_dequant_row), one scale. */
        static const int8_t code_val[4] = {-1, 0, 1, 0};
        if (!(i2s == i2s) || i2s > 3.0e38f || i2s < -3.0e38f) {
            rc = aria_errf(ARIA_EPROTO, "model %s: tensor '%s' has a non-finite i2_s scale",
                           L->path, t->name);
            goto done;
        }
        float sc = i2s < 0 ? -i2s : i2s;
        for (uint64_t r = 0; r < rows; r++) {
            const uint8_t *src = (const uint8_t *)t->data + r * row_bytes;
            for (uint64_t b = 0; b < cols / 128; b++)
                for (int j = 0; j < 32; j++) {
                    uint8_t byte = src[b * 32 + (uint64_t)j];
                    int8_t *o = codes + b * 128 + (uint64_t)j;
                    int8_t sg = i2s < 0 ? -1 : 1;
                    o[0] = (int8_t)(sg * code_val[(byte >> 6) & 3]);
                    o[32] = (int8_t)(sg * code_val[(byte >> 4) & 3]);
                    o[64] = (int8_t)(sg * code_val[(byte >> 2) & 3]);
                    o[96] = (int8_t)(sg * code_val[byte & 3]);
                }
            kern_tmat_set_row(&w->t, (size_t)r, codes, sc * post_scale);
        }
    }
    for (uint64_t r = 0; t->type != KERN_WT_I2_S && r < rows; r++) {
        const uint8_t *src = (const uint8_t *)t->data + r * row_bytes;
        float s = 0.0f;
        if (t->type == KERN_WT_TQ2_0 && tq2_row_codes(src, cols, codes, &s) == 0) {
            kern_tmat_set_row(&w->t, (size_t)r, codes, s * post_scale);
            continue;
        }
        /* Generic path (and the odd TQ2_0 row, with its precise error). */
        kern_dequant_row(t->type, src, row, (size_t)cols, i2s);
        for (uint64_t c = 0; c < cols; c++) {
            float a = row[c] < 0 ? -row[c] : row[c];
            if (a != 0.0f) {
                if (s == 0.0f) {
                    s = a;
                } else if (a != s) {
                    rc = aria_errf(ARIA_EUNSUPPORTED,
                                   "model %s: tensor '%s' row %llu is not ternary (|w| takes "
                                   "values %g and %g)",
                                   L->path, t->name, (unsigned long long)r, (double)s, (double)a);
                    goto done;
                }
            }
            codes[c] = row[c] > 0 ? 1 : (row[c] < 0 ? -1 : 0);
        }
        if (!(s == s) || s > 3.0e38f) {
            rc = aria_errf(ARIA_EPROTO, "model %s: tensor '%s' row %llu has a non-finite scale",
                           L->path, t->name, (unsigned long long)r);
            goto done;
        }
        kern_tmat_set_row(&w->t, (size_t)r, codes, s * post_scale);
    }
    L->m->info.resident_bytes += kern_tmat_bytes(&w->t) + t->ne[1] * sizeof(float);
    drop_pages(t->data, t->nbytes);
done:
    aria_free(row);
    aria_free(codes);
    return rc;
}

/* Bytes a matvec with w streams: packed weights and row scales, or the float
 * rows in the mapping. */
static uint64_t
mat_stream_bytes(const eng_mat *w)
{
    switch (w->kind) {
    case ENG_MAT_TERNARY: return kern_tmat_bytes(&w->t) + (uint64_t)w->rows * sizeof(float);
    case ENG_MAT_FLOAT: return (uint64_t)w->f.rows * w->f.row_bytes;
    case ENG_MAT_INT8:
        return kern_i8mat_bytes(&w->i8) + (uint64_t)w->rows * sizeof(float) +
               (uint64_t)w->i8.rows_p * sizeof(int32_t);
    case ENG_MAT_NONE: break;
    }
    return 0;
}

static void
mat_fini(eng_mat *w)
{
    if (w->kind == ENG_MAT_TERNARY)
        kern_tmat_fini(&w->t);
    if (w->kind == ENG_MAT_INT8)
        kern_i8mat_fini(&w->i8);
    w->kind = ENG_MAT_NONE;
}

/* A projection "blk.L.NAME.weight" of shape [cols, rows], with the optional
 * "blk.L.NAME.scale" ([1]) multiplier of the bitnet arch. */
static int
load_proj(loader *L, int layer, const char *nm, uint64_t cols, uint64_t rows, eng_mat *w)
{
    char name[128];
    const kern_gguf_tensor *t, *st;
    aria_snprintf(name, sizeof name, "blk.%d.%s.weight", layer, nm);
    int rc = find_tensor(L, name, true, 2, cols, rows, &t);
    if (rc < 0)
        return rc;
    float ps = 1.0f;
    aria_snprintf(name, sizeof name, "blk.%d.%s.scale", layer, nm);
    rc = find_tensor(L, name, false, 1, 1, 1, &st);
    if (rc < 0)
        return rc;
    if (st) {
        if (st->type != KERN_WT_F32 && st->type != KERN_WT_F16 && st->type != KERN_WT_BF16)
            return aria_errf(ARIA_EPROTO, "model %s: tensor '%s' has type %s, expected f32",
                             L->path, name, kern_wtype_name(st->type));
        kern_dequant_row(st->type, st->data, &ps, 1, 0.0f);
        if (!(ps == ps) || ps > 3.0e38f || ps < -3.0e38f)
            return aria_errf(ARIA_EPROTO, "model %s: tensor '%s' is not finite", L->path, name);
    }
    return mat_init(L, w, t, ps);
}

static int
parse_arch(const char *s, kern_arch *out)
{
    if (strcmp(s, "bitnet-b1.58") == 0 || strcmp(s, "bitnet-25") == 0)
        *out = KERN_ARCH_BITNET_B158;
    else if (strcmp(s, "bitnet") == 0)
        *out = KERN_ARCH_BITNET;
    else if (strcmp(s, "llama") == 0)
        *out = KERN_ARCH_LLAMA;
    else
        return -1;
    return 0;
}

static int
load_hparams(loader *L)
{
    kern_model_info *I = &L->m->info;
    int rc;
    if ((rc = meta_u32(L, "block_count", true, 0, &I->n_layer)) < 0 ||
        (rc = meta_u32(L, "embedding_length", true, 0, &I->n_embd)) < 0 ||
        (rc = meta_u32(L, "feed_forward_length", true, 0, &I->n_ff)) < 0 ||
        (rc = meta_u32(L, "attention.head_count", true, 0, &I->n_head)) < 0 ||
        (rc = meta_u32(L, "attention.head_count_kv", false, I->n_head, &I->n_head_kv)) < 0 ||
        (rc = meta_u32(L, "context_length", false, 4096, &I->n_ctx_train)) < 0 ||
        (rc = meta_f32(L, "attention.layer_norm_rms_epsilon", true, 0, &I->norm_eps)) < 0 ||
        (rc = meta_f32(L, "rope.freq_base", false, 10000.0f, &I->rope_theta)) < 0)
        return rc;
#define HP_CHECK(cond, key, what)                                                                  \
    if (!(cond))                                                                                   \
        return aria_errf(ARIA_EPROTO, "model %s: metadata key '%s.%s' %s", L->path, L->arch, key,  \
                         what);
    HP_CHECK(I->n_layer >= 1 && I->n_layer <= 1024, "block_count", "must be in 1..1024");
    HP_CHECK(I->n_embd >= 1 && I->n_embd <= 65536, "embedding_length", "must be in 1..65536");
    HP_CHECK(I->n_ff >= 1 && I->n_ff <= 262144, "feed_forward_length", "must be in 1..262144");
    HP_CHECK(I->n_head >= 1 && I->n_head <= 1024 && I->n_embd % I->n_head == 0,
             "attention.head_count", "must be in 1..1024 and divide embedding_length");
    HP_CHECK(I->n_head_kv >= 1 && I->n_head % I->n_head_kv == 0, "attention.head_count_kv",
             "must be >= 1 and divide attention.head_count");
    HP_CHECK(I->n_ctx_train >= 1, "context_length", "must be >= 1");
    HP_CHECK(I->norm_eps > 0.0f && I->norm_eps < 1.0f, "attention.layer_norm_rms_epsilon",
             "must be in (0, 1)");
    HP_CHECK(I->rope_theta > 0.0f, "rope.freq_base", "must be > 0");
    I->head_dim = I->n_embd / I->n_head;
    uint32_t kl = I->head_dim, vl = I->head_dim;
    if ((rc = meta_u32(L, "attention.key_length", false, I->head_dim, &kl)) < 0 ||
        (rc = meta_u32(L, "attention.value_length", false, I->head_dim, &vl)) < 0)
        return rc;
    HP_CHECK(kl == I->head_dim && vl == I->head_dim, "attention.key_length",
             "must equal embedding_length / head_count (other head sizes are not supported)");
    HP_CHECK(I->head_dim % 2 == 0 && I->head_dim <= KERN_MAX_HEAD_DIM, "attention.head_count",
             "must give an even head size of at most 512");
    if ((rc = meta_u32(L, "rope.dimension_count", false, I->head_dim, &I->n_rot)) < 0)
        return rc;
    HP_CHECK(I->n_rot >= 2 && I->n_rot <= I->head_dim && I->n_rot % 2 == 0, "rope.dimension_count",
             "must be even and at most the head size");
    I->rope_freq_scale = 1.0f;
    char key[256];
    aria_snprintf(key, sizeof key, "%s.rope.scaling.type", L->arch);
    const char *st = NULL;
    size_t stl = 0;
    rc = kern_gguf_get_str(L->g, key, &st, &stl);
    if (rc == 0 && strcmp(st, "none") != 0 && strcmp(st, "linear") != 0)
        return aria_errf(ARIA_EUNSUPPORTED, "model %s: rope scaling '%s' (%s) is not supported",
                         L->path, st, key);
    if (rc < 0 && rc != ARIA_ENOTFOUND)
        return aria_errf(ARIA_EPROTO, "model %s: metadata key '%s' is not a string", L->path, key);
    float factor = 1.0f;
    if ((rc = meta_f32(L, "rope.scaling.factor", false, 1.0f, &factor)) < 0)
        return rc;
    if (st && strcmp(st, "linear") == 0) {
        HP_CHECK(factor >= 1.0f / 1024 && factor <= 1024, "rope.scaling.factor",
                 "must be in [1/1024, 1024]");
        I->rope_freq_scale = 1.0f / factor;
    }
#undef HP_CHECK
    I->rope_neox = I->arch != KERN_ARCH_LLAMA;
    return 0;
}

static int
load_tensors(loader *L)
{
    kern_model *m = L->m;
    kern_model_info *I = &m->info;
    uint64_t E = I->n_embd, F = I->n_ff, nq = (uint64_t)I->n_head * I->head_dim,
             nkv = (uint64_t)I->n_head_kv * I->head_dim;
    bool sub = I->arch != KERN_ARCH_LLAMA;
    int rc;

    /* Embedding: [n_embd, n_vocab]. */
    const kern_gguf_tensor *te = kern_gguf_tensor_find(L->g, "token_embd.weight");
    if (!te)
        return aria_errf(ARIA_EPROTO, "model %s: missing tensor 'token_embd.weight'", L->path);
    if (te->ne[0] != E || te->ne[1] < 1 || te->ne[1] > KERN_TOK_MAX_VOCAB || te->ne[2] != 1 ||
        te->ne[3] != 1) {
        char got[96];
        shape_str(got, sizeof got, te->n_dims, te->ne);
        return aria_errf(ARIA_EPROTO,
                         "model %s: tensor 'token_embd.weight' has shape %s, expected [%llu, "
                         "n_vocab]",
                         L->path, got, (unsigned long long)E);
    }
    m->tok_embd = *te;
    I->n_vocab = (uint32_t)te->ne[1];
    uint32_t vs = 0;
    if ((rc = meta_u32(L, "vocab_size", false, I->n_vocab, &vs)) < 0)
        return rc;
    if (vs != I->n_vocab)
        return aria_errf(ARIA_EPROTO,
                         "model %s: metadata key '%s.vocab_size' = %u but 'token_embd.weight' "
                         "has %u rows",
                         L->path, L->arch, vs, I->n_vocab);

    size_t per_layer = 2 * (size_t)E + (sub ? (size_t)nq + (size_t)F : 0);
    L->norm_cap = per_layer * I->n_layer + (size_t)E;
    m->norms = aria_alloc_array(L->norm_cap, sizeof(float));
    m->layers = aria_calloc(I->n_layer, sizeof(eng_layer));
    if (!m->norms || !m->layers)
        return aria_errf(ARIA_ENOMEM, "model: out of memory");
    I->resident_bytes += L->norm_cap * sizeof(float);

    int proj_type = -1;
    for (uint32_t l = 0; l < I->n_layer; l++) {
        eng_layer *y = &m->layers[l];
        char name[128];
#define VEC(field, nm, n, req)                                                                     \
    aria_snprintf(name, sizeof name, "blk.%u.%s.weight", l, nm);                                   \
    if ((rc = load_vec(L, name, req, n, &y->field)) < 0)                                           \
        return rc;
        VEC(attn_norm, "attn_norm", E, true);
        VEC(ffn_norm, "ffn_norm", E, true);
        if (sub) {
            VEC(attn_sub_norm, "attn_sub_norm", nq, true);
            VEC(ffn_sub_norm, "ffn_sub_norm", F, true);
        }
#undef VEC
        if ((rc = load_proj(L, (int)l, "attn_q", E, nq, &y->wq)) < 0 ||
            (rc = load_proj(L, (int)l, "attn_k", E, nkv, &y->wk)) < 0 ||
            (rc = load_proj(L, (int)l, "attn_v", E, nkv, &y->wv)) < 0 ||
            (rc = load_proj(L, (int)l, "attn_output", nq, E, &y->wo)) < 0 ||
            (rc = load_proj(L, (int)l, "ffn_gate", E, F, &y->wgate)) < 0 ||
            (rc = load_proj(L, (int)l, "ffn_up", E, F, &y->wup)) < 0 ||
            (rc = load_proj(L, (int)l, "ffn_down", F, E, &y->wdown)) < 0)
            return rc;
        if (proj_type < 0)
            proj_type = y->wq.src_type;
    }
    I->proj_type = proj_type;
    if ((rc = load_vec(L, "output_norm.weight", true, E, &m->output_norm)) < 0)
        return rc;

    const kern_gguf_tensor *to;
    if ((rc = find_tensor(L, "output.weight", false, 2, E, I->n_vocab, &to)) < 0)
        return rc;
    I->tied_output = to == NULL;
    if (!to)
        to = te;
    if (to->type == KERN_WT_I2_S && to == te) /* embedding rows need the tensor scale */
        return aria_errf(ARIA_EUNSUPPORTED, "model %s: an i2_s token embedding is not supported",
                         L->path);
    loader hl = *L;
    kern_model_opts ho = *L->opts;
    ho.ternarize_float = false; /* the head stays in float */
    hl.opts = &ho;
    if ((rc = mat_init(&hl, &m->head, to, 1.0f)) < 0)
        return rc;
    m->info.resident_bytes = hl.m->info.resident_bytes;
    if (L->opts->int8_head && m->head.kind == ENG_MAT_FLOAT) {
        /* The int8 copy replaces the float head (the mapping stays for the
         * embedding lookups). */
        kern_i8mat q;
        if ((rc = kern_i8mat_from_fmat(&q, &m->head.f)) < 0)
            return rc;
        m->head.kind = ENG_MAT_INT8;
        m->head.i8 = q;
        m->info.resident_bytes +=
            kern_i8mat_bytes(&q) + q.rows * sizeof(float) + q.rows_p * sizeof(int32_t);
    }
    if (!is_float_type(te->type) && te->type != KERN_WT_TQ1_0 && te->type != KERN_WT_TQ2_0)
        return aria_errf(ARIA_EUNSUPPORTED, "model %s: token embedding type %s not supported",
                         L->path, kern_wtype_name(te->type));

    uint64_t db = mat_stream_bytes(&m->head) + L->norm_cap * sizeof(float) +
                  kern_wtype_row_bytes(te->type, E);
    for (uint32_t l = 0; l < I->n_layer; l++) {
        const eng_layer *y = &m->layers[l];
        db += mat_stream_bytes(&y->wq) + mat_stream_bytes(&y->wk) + mat_stream_bytes(&y->wv) +
              mat_stream_bytes(&y->wo) + mat_stream_bytes(&y->wgate) + mat_stream_bytes(&y->wup) +
              mat_stream_bytes(&y->wdown);
    }
    I->decode_bytes = db;
    uint64_t np = 0;
    for (size_t i = 0; i < kern_gguf_n_tensors(L->g); i++)
        np += kern_gguf_tensor_at(L->g, i)->n_elems;
    I->n_params = np;
    return 0;
}

int
kern_model_load(const char *path, const kern_model_opts *opts, kern_model **out)
{
    kern_model_opts dflt = {0};
    if (!opts)
        opts = &dflt;
    *out = NULL;
    kern_model *m = aria_calloc(1, sizeof *m);
    if (!m)
        return aria_errf(ARIA_ENOMEM, "model: out of memory");
    int rc = kern_gguf_open(path, &m->g);
    if (rc < 0)
        goto fail;
    loader L = {.m = m, .g = m->g, .path = path, .opts = opts};
    const char *arch = kern_gguf_arch(m->g);
    if (!arch) {
        rc = aria_errf(ARIA_EPROTO, "model %s: missing metadata key 'general.architecture'", path);
        goto fail;
    }
    if (parse_arch(arch, &m->info.arch) < 0) {
        rc = aria_errf(ARIA_EUNSUPPORTED,
                       "model %s: architecture '%s' is not supported (bitnet-b1.58, bitnet-25, "
                       "bitnet, llama)",
                       path, arch);
        goto fail;
    }
    m->arch_name = aria_strdup(arch);
    const char *nm = NULL;
    size_t nl = 0;
    m->name = aria_strdup(kern_gguf_get_str(m->g, "general.name", &nm, &nl) == 0 ? nm : "");
    if (!m->arch_name || !m->name) {
        rc = aria_errf(ARIA_ENOMEM, "model: out of memory");
        goto fail;
    }
    m->info.arch_name = m->arch_name;
    m->info.name = m->name;
    m->info.file_bytes = kern_gguf_file_size(m->g);
    L.arch = m->arch_name;
    if ((rc = load_hparams(&L)) < 0 || (rc = load_tensors(&L)) < 0)
        goto fail;

    m->info.bos_id = m->info.eos_id = m->info.eot_id = -1;
    if (!opts->no_tokenizer) {
        rc = kern_tok_from_gguf(m->g, &m->tok);
        if (rc == ARIA_ENOTFOUND) {
            m->tok = NULL;
        } else if (rc < 0) {
            goto fail;
        }
    }
    if (m->tok) {
        m->info.bos_id = kern_tok_bos(m->tok);
        m->info.eos_id = kern_tok_eos(m->tok);
        m->info.eot_id = kern_tok_eot(m->tok);
        if (kern_tok_n_vocab(m->tok) > m->info.n_vocab) {
            rc = aria_errf(ARIA_EPROTO,
                           "model %s: the tokenizer has %zu tokens but the embedding only %u rows",
                           path, kern_tok_n_vocab(m->tok), m->info.n_vocab);
            goto fail;
        }
    } else {
        int32_t v;
        if (kern_gguf_get_i32(m->g, "tokenizer.ggml.bos_token_id", &v) == 0)
            m->info.bos_id = v;
        if (kern_gguf_get_i32(m->g, "tokenizer.ggml.eos_token_id", &v) == 0)
            m->info.eos_id = v;
        if (kern_gguf_get_i32(m->g, "tokenizer.ggml.eot_token_id", &v) == 0)
            m->info.eot_id = v;
    }
    ARIA_LOG_D("K0100", MOD, "loaded %s: arch %s, %u layers, embd %u, ff %u, heads %u/%u, vocab %u",
               path, arch, m->info.n_layer, m->info.n_embd, m->info.n_ff, m->info.n_head,
               m->info.n_head_kv, m->info.n_vocab);
    *out = m;
    return 0;
fail:
    kern_model_free(m);
    return rc;
}

void
kern_model_free(kern_model *m)
{
    if (!m)
        return;
    if (m->layers) {
        for (uint32_t l = 0; l < m->info.n_layer; l++) {
            eng_layer *y = &m->layers[l];
            mat_fini(&y->wq);
            mat_fini(&y->wk);
            mat_fini(&y->wv);
            mat_fini(&y->wo);
            mat_fini(&y->wgate);
            mat_fini(&y->wup);
            mat_fini(&y->wdown);
        }
    }
    mat_fini(&m->head);
    aria_free(m->layers);
    aria_free(m->norms);
    kern_tok_free(m->tok);
    kern_gguf_close(m->g);
    aria_free(m->arch_name);
    aria_free(m->name);
    aria_free(m);
}

const kern_model_info *
kern_model_get_info(const kern_model *m)
{
    return &m->info;
}

const kern_tok *
kern_model_tok(const kern_model *m)
{
    return m->tok;
}

const kern_gguf *
kern_model_gguf(const kern_model *m)
{
    return m->g;
}

/* ------------------------------------------------------------------ */
/* Contexts                                                             */
/* ------------------------------------------------------------------ */

static void
ctx_opts_resolve(const kern_model *m, const kern_ctx_opts *in, kern_ctx_opts *o)
{
    *o = *in;
    if (o->n_ctx == 0)
        o->n_ctx = m->info.n_ctx_train < 4096 ? m->info.n_ctx_train : 4096;
    if (o->n_threads <= 0)
        o->n_threads = 1;
    if (o->n_batch == 0)
        o->n_batch = 64;
    if (o->n_batch > o->n_ctx)
        o->n_batch = o->n_ctx;
}

uint64_t
kern_ctx_kv_bytes(const kern_model *m, const kern_ctx_opts *opts)
{
    kern_ctx_opts o;
    ctx_opts_resolve(m, opts, &o);
    uint64_t el = o.kv_type == KERN_KV_F32 ? 4 : 2;
    return 2ull * m->info.n_layer * o.n_ctx * m->info.n_head_kv * m->info.head_dim * el;
}

int
kern_ctx_new(const kern_model *m, uint32_t n_ctx, int n_threads, kern_ctx **out)
{
    kern_ctx_opts o = {.n_ctx = n_ctx, .n_threads = n_threads, .kv_type = KERN_KV_F16};
    return kern_ctx_new_opts(m, &o, out);
}

int
kern_ctx_new_opts(const kern_model *m, const kern_ctx_opts *opts, kern_ctx **out)
{
    *out = NULL;
    const kern_model_info *I = &m->info;
    kern_ctx_opts o;
    ctx_opts_resolve(m, opts, &o);
    if (o.n_ctx > (1u << 22))
        return aria_errf(ARIA_EINVAL, "context: n_ctx %u is over the limit %u", o.n_ctx, 1u << 22);
    if (o.n_threads > 256)
        return aria_errf(ARIA_EINVAL, "context: %d threads is over the limit 256", o.n_threads);
    if (o.kv_type != KERN_KV_F16 && o.kv_type != KERN_KV_F32)
        return aria_errf(ARIA_EINVAL, "context: unknown KV cache type %d", (int)o.kv_type);
    if (o.kv_group && (o.kv_group > I->n_head_kv || I->n_head_kv % o.kv_group))
        return aria_errf(ARIA_EINVAL,
                         "context: kv_group %u does not divide the model's %u KV heads", o.kv_group,
                         I->n_head_kv);
    kern_ctx *c = aria_calloc(1, sizeof *c);
    if (!c)
        return aria_errf(ARIA_ENOMEM, "context: out of memory");
    c->m = m;
    c->o = o;
    int rc = 0;
    if (o.n_threads > 1 && (rc = kern_pool_new(o.n_threads, &c->pool)) < 0)
        goto fail;
    size_t B = o.n_batch, E = I->n_embd, F = I->n_ff, nq = (size_t)I->n_head * I->head_dim,
           nkv = (size_t)I->n_head_kv * I->head_dim;
    size_t W = E > F ? E : F;
    W = W > nq ? W : nq;
    c->width = W;
    size_t el = o.kv_type == KERN_KV_F32 ? 4 : 2;
    c->kv_layer_elems = (size_t)o.n_ctx * nkv;
    c->kv_group = o.kv_group ? o.kv_group : eng_kv_group_auto(I, o.n_threads);
    size_t kv_bytes = 0;
    if (I->n_layer && c->kv_layer_elems <= SIZE_MAX / I->n_layer / el) {
        kv_bytes = c->kv_layer_elems * I->n_layer * el;
        c->kv_k = kern_big_alloc(kv_bytes, &c->kv_k_raw, &c->kv_k_len);
        c->kv_v = kern_big_alloc(kv_bytes, &c->kv_v_raw, &c->kv_v_len);
    }
    size_t half = I->n_rot / 2;
    c->rope_cos = aria_alloc_array((size_t)o.n_ctx * half, sizeof(float));
    c->rope_sin = aria_alloc_array((size_t)o.n_ctx * half, sizeof(float));
    c->x = aria_alloc_array(B * E, sizeof(float));
    c->xn = aria_alloc_array(B * W, sizeof(float));
    c->q = aria_alloc_array(B * nq, sizeof(float));
    c->k = aria_alloc_array(B * nkv, sizeof(float));
    c->v = aria_alloc_array(B * nkv, sizeof(float));
    c->att = aria_alloc_array(B * nq, sizeof(float));
    c->gate = aria_alloc_array(B * F, sizeof(float));
    c->up = aria_alloc_array(B * F, sizeof(float));
    c->out = aria_alloc_array(B * W, sizeof(float));
    c->n_att_slots = (size_t)o.n_threads;
    c->scores_rows = c->kv_group > 2 ? c->kv_group : 2;
    c->scores = aria_alloc_array(c->n_att_slots * c->scores_rows * (size_t)o.n_ctx, sizeof(float));
    c->kvf = aria_alloc_array(c->n_att_slots * 2 * (size_t)o.n_ctx * I->head_dim, sizeof(float));
    size_t stride = kern_act_padded(W);
    c->acts_q = aria_alloc_array(B, stride);
    c->acts_scale = aria_alloc_array(B, sizeof(float));
    c->acts_sum = aria_alloc_array(B, sizeof(int32_t));
    if (!c->kv_k || !c->kv_v || !c->rope_cos || !c->rope_sin || !c->x || !c->xn || !c->q || !c->k ||
        !c->v || !c->att || !c->gate || !c->up || !c->out || !c->scores || !c->kvf || !c->acts_q ||
        !c->acts_scale || !c->acts_sum) {
        rc = aria_errf(ARIA_ENOMEM, "context: out of memory (n_ctx %u)", o.n_ctx);
        goto fail;
    }
    c->acts.stride = stride;
    c->acts.q = c->acts_q;
    c->acts.scale = c->acts_scale;
    c->acts.sum = c->acts_sum;
    /* RoPE: theta(p, i) = p * freq_scale * base^(-2i / n_rot), in double with
     * our own pow/sincos, rounded once to float. */
    for (size_t i = 0; i < half; i++) {
        double inv = kern_m_pow((double)I->rope_theta, -2.0 * (double)i / (double)I->n_rot);
        for (uint32_t p = 0; p < o.n_ctx; p++) {
            double s, co;
            kern_m_sincos((double)p * (double)I->rope_freq_scale * inv, &s, &co);
            c->rope_cos[(size_t)p * half + i] = (float)co;
            c->rope_sin[(size_t)p * half + i] = (float)s;
        }
    }
    *out = c;
    return 0;
fail:
    kern_ctx_free(c);
    return rc;
}

void
kern_ctx_free(kern_ctx *c)
{
    if (!c)
        return;
    kern_pool_free(c->pool);
    kern_big_free(c->kv_k_raw, c->kv_k_len);
    kern_big_free(c->kv_v_raw, c->kv_v_len);
    aria_free(c->rope_cos);
    aria_free(c->rope_sin);
    aria_free(c->x);
    aria_free(c->xn);
    aria_free(c->q);
    aria_free(c->k);
    aria_free(c->v);
    aria_free(c->att);
    aria_free(c->gate);
    aria_free(c->up);
    aria_free(c->out);
    aria_free(c->scores);
    aria_free(c->kvf);
    aria_free(c->acts_q);
    aria_free(c->acts_scale);
    aria_free(c->acts_sum);
    aria_free(c);
}

int
kern_ctx_eval(kern_ctx *c, const int32_t *ids, size_t n, float *logits_last)
{
    if (n == 0)
        return aria_errf(ARIA_EINVAL, "eval: no tokens");
    if (n > (size_t)c->o.n_ctx - c->pos)
        return aria_errf(ARIA_ERANGE,
                         "context full: %u tokens in the cache + %zu new > context size %u", c->pos,
                         n, c->o.n_ctx);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= c->m->info.n_vocab)
            return aria_errf(ARIA_EINVAL, "eval: token id %d at index %zu is outside [0, %u)",
                             ids[i], i, c->m->info.n_vocab);
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done < c->o.n_batch ? n - done : c->o.n_batch;
        bool last = done + chunk == n;
        eng_forward_chunk(c, ids + done, chunk, last ? logits_last : NULL);
        c->pos += (uint32_t)chunk;
        done += chunk;
    }
    return 0;
}

uint32_t
kern_ctx_pos(const kern_ctx *c)
{
    return c->pos;
}

uint32_t
kern_ctx_n_ctx(const kern_ctx *c)
{
    return c->o.n_ctx;
}

void
kern_ctx_truncate(kern_ctx *c, uint32_t pos)
{
    ARIA_ASSERT(pos <= c->pos);
    c->pos = pos;
}

const kern_model *
kern_ctx_model(const kern_ctx *c)
{
    return c->m;
}
