/*
 * ops_ref.c — scalar reference kernels (plain C, the definition of every
 * result). The SIMD variants must reproduce these bit for bit; the numeric
 * rules are written down in ops.h. Compiled with -ffp-contract=off so the
 * compiler never fuses a multiply and an add that the rules keep separate;
 * the float dot uses fmaf explicitly.
 */
#include "ops.h"

#include <math.h>
#include <string.h>

float
ops_fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {
            /* subnormal half: normalise into a float */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline float
bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t
rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

void
ops_fmat_row_to_f32(const kern_fmat *m, size_t r, float *dst)
{
    const uint8_t *row = (const uint8_t *)m->data + r * m->row_bytes;
    switch (m->type) {
    case KERN_FT_F32: memcpy(dst, row, m->cols * sizeof(float)); break;
    case KERN_FT_F16:
        for (size_t c = 0; c < m->cols; c++)
            dst[c] = ops_fp16_to_f32(rd16(row + 2 * c));
        break;
    case KERN_FT_BF16:
        for (size_t c = 0; c < m->cols; c++)
            dst[c] = bf16_to_f32(rd16(row + 2 * c));
        break;
    case KERN_FT_Q8_0:
        for (size_t b = 0; b < m->cols / 32; b++) {
            const uint8_t *blk = row + b * 34;
            float d = ops_fp16_to_f32(rd16(blk));
            for (size_t i = 0; i < 32; i++)
                dst[b * 32 + i] = (float)(int8_t)blk[2 + i] * d;
        }
        break;
    }
}

float
ops_absmax_ref(const float *x, size_t n)
{
    float a = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float v = fabsf(x[i]);
        a = v > a ? v : a;
    }
    return a;
}

int32_t
ops_quant_with_amax_ref(const float *x, size_t n, float amax, int8_t *q)
{
    if (amax == 0.0f) {
        memset(q, 0, n);
        return 0;
    }
    float mul = 127.0f / amax;
    int32_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        float v = roundf(x[i] * mul);
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
        q[i] = (int8_t)v;
        sum += q[i];
    }
    return sum;
}

static void
quant_act_ref(const float *x, kern_acts *a, size_t tok)
{
    ARIA_ASSERT(tok < a->n_tok && a->stride >= kern_act_padded(a->cols));
    int8_t *q = a->q + tok * a->stride;
    float amax = ops_absmax_ref(x, a->cols);
    a->sum[tok] = ops_quant_with_amax_ref(x, a->cols, amax, q);
    a->scale[tok] = amax / 127.0f;
    memset(q + a->cols, 0, kern_act_padded(a->cols) - a->cols);
}

static void
check_range(size_t rows, size_t r0, size_t r1)
{
    ARIA_ASSERT(r0 <= r1 && r1 <= rows && r0 % KERN_TROWS == 0);
}

static void
tmat_matvec_tok(const kern_tmat *m, const kern_acts *a, size_t tok, float *out, size_t r0,
                size_t r1)
{
    const int8_t *q = a->q + tok * a->stride;
    float s_tok = a->scale[tok];
    int32_t qsum = a->sum[tok];
    size_t n_chunks = m->cols_p / 16;
    for (size_t r = r0; r < r1; r++) {
        const uint8_t *tile = m->data + (r / KERN_TROWS) * (m->cols_p * 4) + 4 * (r % KERN_TROWS);
        int32_t s = 0;
        for (size_t k = 0; k < n_chunks; k++) {
            const uint8_t *ch = tile + k * 64;
            const int8_t *qk = q + 16 * k;
            for (unsigned j = 0; j < 4; j++)
                for (unsigned b = 0; b < 4; b++)
                    s += (int32_t)((ch[b] >> (2 * j)) & 3u) * qk[4 * j + b];
        }
        s -= qsum;
        out[r - r0] = (float)s * (s_tok * m->wscale[r]);
    }
}

static void
tmat_matvec_ref(const kern_tmat *m, const kern_acts *a, float *out, size_t r0, size_t r1)
{
    check_range(m->rows, r0, r1);
    ARIA_ASSERT(a->cols == m->cols && a->n_tok >= 1);
    tmat_matvec_tok(m, a, 0, out, r0, r1);
}

static void
tmat_matmul_ref(const kern_tmat *m, const kern_acts *a, float *out, size_t out_stride, size_t r0,
                size_t r1)
{
    check_range(m->rows, r0, r1);
    ARIA_ASSERT(a->cols == m->cols);
    for (size_t t = 0; t < a->n_tok; t++)
        tmat_matvec_tok(m, a, t, out + t * out_stride, r0, r1);
}

static inline float
fmat_w(const kern_fmat *m, const uint8_t *row, size_t c)
{
    switch (m->type) {
    case KERN_FT_F32: {
        float f;
        memcpy(&f, row + 4 * c, 4);
        return f;
    }
    case KERN_FT_F16: return ops_fp16_to_f32(rd16(row + 2 * c));
    case KERN_FT_BF16: return bf16_to_f32(rd16(row + 2 * c));
    case KERN_FT_Q8_0: {
        const uint8_t *blk = row + (c / 32) * 34;
        return (float)(int8_t)blk[2 + c % 32] * ops_fp16_to_f32(rd16(blk));
    }
    }
    return 0.0f;
}

static void
fmat_matvec_ref(const kern_fmat *m, const float *x, float *out, size_t r0, size_t r1)
{
    check_range(m->rows, r0, r1);
    ARIA_ASSERT(m->type != KERN_FT_Q8_0 || m->cols % 32 == 0);
    for (size_t r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)m->data + r * m->row_bytes;
        float acc[16] = {0};
        for (size_t c = 0; c < m->cols; c++)
            acc[c % 16] = fmaf(fmat_w(m, row, c), x[c], acc[c % 16]);
        float s8[8], s4[4], s2[2];
        for (int i = 0; i < 8; i++)
            s8[i] = acc[i] + acc[i + 8];
        for (int i = 0; i < 4; i++)
            s4[i] = s8[i] + s8[i + 4];
        for (int i = 0; i < 2; i++)
            s2[i] = s4[i] + s4[i + 2];
        out[r - r0] = s2[0] + s2[1];
    }
}

static void
i8mat_matvec_ref(const kern_i8mat *m, const kern_acts *a, float *out, size_t r0, size_t r1)
{
    check_range(m->rows, r0, r1);
    ARIA_ASSERT(a->cols == m->cols && a->n_tok >= 1);
    const int8_t *q = a->q;
    float s_tok = a->scale[0];
    size_t n_chunks = m->cols_p / 4;
    for (size_t r = r0; r < r1; r++) {
        const int8_t *tile =
            m->data + (r / KERN_TROWS) * (m->cols_p * KERN_TROWS) + 4 * (r % KERN_TROWS);
        int32_t s = 0;
        for (size_t k = 0; k < n_chunks; k++)
            for (unsigned b = 0; b < 4; b++)
                s += (int32_t)tile[k * 64 + b] * q[4 * k + b];
        out[r - r0] = (float)s * (s_tok * m->wscale[r]);
    }
}

const kern_ops kern_ops_ref = {
    .isa = KERN_ISA_SCALAR,
    .name = "scalar",
    .quant_act = quant_act_ref,
    .tmat_matvec = tmat_matvec_ref,
    .tmat_matmul = tmat_matmul_ref,
    .fmat_matvec = fmat_matvec_ref,
    .i8mat_matvec = i8mat_matvec_ref,
};
