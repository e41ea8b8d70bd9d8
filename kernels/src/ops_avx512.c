/*
 * ops_avx512.c — AVX-512 (F/BW/VL + VNNI) kernels. Compiled with
 * -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c
 * -ffp-contract=off; only called when the CPU has all of them
 * (kern_ops_for). Every result equals ops_ref.c bit for bit:
 *  - quantization: v = x * m, then trunc + (|frac| >= 0.5 ? sign : 0), which
 *    is exactly roundf's ties-away rule for |v| < 2^23;
 *  - ternary: vpdpbusd(codes u = w + 1 as unsigned bytes, activations as
 *    signed bytes) = sum(w q) + sum(q); the token's q-sum is subtracted;
 *  - int8 head: vpdpbusd(q + 128 unsigned, w signed) = sum(w q) + 128 *
 *    sum(w); the row's weight sum is subtracted;
 *  - float: one zmm of 16 lane accumulators per row, merge-masked FMA on
 *    the tail (lanes past the end stay untouched, as in the scalar loop),
 *    then the fixed tree of ops.h.
 */
#include "ops.h"

#include <immintrin.h>
#include <string.h>

static inline int32_t
ld32(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ------------------------------------------------------------------ */
/* Activation quantization                                              */
/* ------------------------------------------------------------------ */

static void
quant_act_avx512(const float *x, kern_acts *a, size_t tok)
{
    ARIA_ASSERT(tok < a->n_tok && a->stride >= kern_act_padded(a->cols));
    size_t n = a->cols;
    int8_t *q = a->q + tok * a->stride;
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    __m512 mx = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        mx = _mm512_max_ps(mx, _mm512_and_ps(_mm512_loadu_ps(x + i), absmask));
    __mmask16 tail = (__mmask16)((1u << (n - i)) - 1u);
    if (n > i)
        mx = _mm512_max_ps(mx, _mm512_and_ps(_mm512_maskz_loadu_ps(tail, x + i), absmask));
    float amax = _mm512_reduce_max_ps(mx);
    size_t np = kern_act_padded(n);
    if (amax == 0.0f) {
        memset(q, 0, np);
        a->sum[tok] = 0;
        a->scale[tok] = 0.0f;
        return;
    }
    const __m512 mul = _mm512_set1_ps(127.0f / amax);
    const __m512 half = _mm512_set1_ps(0.5f);
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 signbit = _mm512_castsi512_ps(_mm512_set1_epi32((int)0x80000000u));
    const __m512 lim = _mm512_set1_ps(127.0f);
    __m512i vsum = _mm512_setzero_si512();
    for (i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : tail;
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), mul);
        __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        __m512 f = _mm512_and_ps(_mm512_sub_ps(v, t), absmask);
        __mmask16 away = _mm512_cmp_ps_mask(f, half, _CMP_GE_OQ);
        __m512 sgn1 = _mm512_or_ps(one, _mm512_and_ps(v, signbit));
        t = _mm512_mask_add_ps(t, away, t, sgn1);
        t = _mm512_min_ps(_mm512_max_ps(t, _mm512_sub_ps(_mm512_setzero_ps(), lim)), lim);
        __m512i qi = _mm512_cvttps_epi32(t);
        vsum = _mm512_add_epi32(vsum, qi);
        _mm512_mask_cvtepi32_storeu_epi8(q + i, k, qi);
    }
    memset(q + n, 0, np - n);
    a->sum[tok] = _mm512_reduce_add_epi32(vsum);
    a->scale[tok] = amax / 127.0f;
}

/* ------------------------------------------------------------------ */
/* Ternary                                                              */
/* ------------------------------------------------------------------ */

static void
check_range(size_t rows, size_t r0, size_t r1)
{
    ARIA_ASSERT(r0 <= r1 && r1 <= rows && r0 % KERN_TROWS == 0);
}

/* out[0..nr) for rows r..r+nr of the tile (nr <= 16) from int32 sums. */
static inline void
finish_rows(__m512i isum, int32_t sub_scalar, float s_tok, const float *wscale, float *out,
            size_t nr)
{
    __mmask16 k = nr >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nr) - 1u);
    isum = _mm512_sub_epi32(isum, _mm512_set1_epi32(sub_scalar));
    __m512 sc = _mm512_mul_ps(_mm512_set1_ps(s_tok), _mm512_maskz_loadu_ps(k, wscale));
    _mm512_mask_storeu_ps(out, k, _mm512_mul_ps(_mm512_cvtepi32_ps(isum), sc));
}

#define UNPACK4(w, u0, u1, u2, u3)                                                                 \
    do {                                                                                           \
        u0 = _mm512_and_si512(w, m3);                                                              \
        u1 = _mm512_and_si512(_mm512_srli_epi16(w, 2), m3);                                        \
        u2 = _mm512_and_si512(_mm512_srli_epi16(w, 4), m3);                                        \
        u3 = _mm512_and_si512(_mm512_srli_epi16(w, 6), m3);                                        \
    } while (0)

/* One tile, one contiguous stream, two chunks per step (8 accumulators;
 * nk is a multiple of 4 because cols_p is a multiple of 64). Decode is the
 * one place the codes are used once, so they are not shifted down: field j
 * is only masked in place (w & 3 << 2j, a code times 4^j, at most 128, still
 * an unsigned byte) and its own accumulators hold 4^j times its sum, which
 * an exact arithmetic shift takes back at the end (KERN_TMAT_MAX_COLS keeps
 * the largest, 128 * 127 per product, inside int32): four AND per 64 bytes
 * instead of three shifts and four AND (measured in a two-thread stream
 * over 512 MiB, variants interleaved: docs/performance.md, seventh round).
 * Software prefetch: the page kick (kern_kick, tenth round) and each line
 * KERN_AHEAD_DIST ahead (kern_ahead, twelfth round). */
static __m512i
tmat_tile1(const kern_tmat *m, const int8_t *q, size_t tile)
{
    const __m512i f0 = _mm512_set1_epi8(0x03), f1 = _mm512_set1_epi8(0x0c);
    const __m512i f2 = _mm512_set1_epi8(0x30), f3 = _mm512_set1_epi8((char)0xc0);
    size_t tb = m->cols_p * 4, nk = m->cols_p / 16;
    const uint8_t *p0 = m->data + tile * tb;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    __m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (size_t k = 0; k < nk; k += 2) {
        kern_kick(p0 + 64 * k, 128);
        kern_ahead(p0 + 64 * k);
        kern_ahead(p0 + 64 * k + 64);
        const int8_t *qk = q + 16 * k;
        __m512i w = _mm512_load_si512(p0 + 64 * k);
        a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(w, f0), _mm512_set1_epi32(ld32(qk)));
        a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(w, f1), _mm512_set1_epi32(ld32(qk + 4)));
        a2 = _mm512_dpbusd_epi32(a2, _mm512_and_si512(w, f2), _mm512_set1_epi32(ld32(qk + 8)));
        a3 = _mm512_dpbusd_epi32(a3, _mm512_and_si512(w, f3), _mm512_set1_epi32(ld32(qk + 12)));
        w = _mm512_load_si512(p0 + 64 * k + 64);
        b0 = _mm512_dpbusd_epi32(b0, _mm512_and_si512(w, f0), _mm512_set1_epi32(ld32(qk + 16)));
        b1 = _mm512_dpbusd_epi32(b1, _mm512_and_si512(w, f1), _mm512_set1_epi32(ld32(qk + 20)));
        b2 = _mm512_dpbusd_epi32(b2, _mm512_and_si512(w, f2), _mm512_set1_epi32(ld32(qk + 24)));
        b3 = _mm512_dpbusd_epi32(b3, _mm512_and_si512(w, f3), _mm512_set1_epi32(ld32(qk + 28)));
    }
    a0 = _mm512_add_epi32(a0, b0);
    a1 = _mm512_srai_epi32(_mm512_add_epi32(a1, b1), 2);
    a2 = _mm512_srai_epi32(_mm512_add_epi32(a2, b2), 4);
    a3 = _mm512_srai_epi32(_mm512_add_epi32(a3, b3), 6);
    return _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
}

static void
tmat_matvec_avx512(const kern_tmat *m, const kern_acts *a, float *out, size_t r0, size_t r1)
{
    check_range(m->rows, r0, r1);
    ARIA_ASSERT(a->cols == m->cols && a->n_tok >= 1);
    const int8_t *q = a->q;
    float s = a->scale[0];
    int32_t qs = a->sum[0];
    /* One tile at a time: the weights of a task are then read as ONE linear
     * stream, which measured faster from DRAM than two interleaved streams
     * (tile pairs), although pairs share the activation broadcasts. */
    size_t t_end = (r1 + KERN_TROWS - 1) / KERN_TROWS;
    for (size_t t = r0 / KERN_TROWS; t < t_end; t++) {
        size_t r = t * KERN_TROWS;
        finish_rows(tmat_tile1(m, q, t), qs, s, m->wscale + r, out + (r - r0), r1 - r);
    }
}

/* 8 tokens against one tile: codes unpacked once per chunk, 16 named
 * accumulators (two per token) so nothing spills to memory. */
#define MM_NT 8
static void
tmat_tile_tok8(const kern_tmat *m, const int8_t *qb, size_t st, size_t tile, __m512i *res)
{
    const __m512i m3 = _mm512_set1_epi8(3);
    size_t tb = m->cols_p * 4, nk = m->cols_p / 16;
    const uint8_t *p0 = m->data + tile * tb;
    __m512i z = _mm512_setzero_si512();
    __m512i c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
    __m512i c40 = z, c41 = z, c50 = z, c51 = z, c60 = z, c61 = z, c70 = z, c71 = z;
    for (size_t k = 0; k < nk; k++) {
        __m512i w = _mm512_load_si512(p0 + 64 * k), u0, u1, u2, u3;
        UNPACK4(w, u0, u1, u2, u3);
        const int8_t *qk = qb + 16 * k;
#define TOK(i, a0, a1)                                                                             \
    do {                                                                                           \
        const int8_t *qi = qk + (i)*st;                                                            \
        a0 = _mm512_dpbusd_epi32(a0, u0, _mm512_set1_epi32(ld32(qi)));                             \
        a1 = _mm512_dpbusd_epi32(a1, u1, _mm512_set1_epi32(ld32(qi + 4)));                         \
        a0 = _mm512_dpbusd_epi32(a0, u2, _mm512_set1_epi32(ld32(qi + 8)));                         \
        a1 = _mm512_dpbusd_epi32(a1, u3, _mm512_set1_epi32(ld32(qi + 12)));                        \
    } while (0)
        TOK(0, c00, c01);
        TOK(1, c10, c11);
        TOK(2, c20, c21);
        TOK(3, c30, c31);
        TOK(4, c40, c41);
        TOK(5, c50, c51);
        TOK(6, c60, c61);
        TOK(7, c70, c71);
#undef TOK
    }
    res[0] = _mm512_add_epi32(c00, c01);
    res[1] = _mm512_add_epi32(c10, c11);
    res[2] = _mm512_add_epi32(c20, c21);
    res[3] = _mm512_add_epi32(c30, c31);
    res[4] = _mm512_add_epi32(c40, c41);
    res[5] = _mm512_add_epi32(c50, c51);
    res[6] = _mm512_add_epi32(c60, c61);
    res[7] = _mm512_add_epi32(c70, c71);
}

/* 8 tokens against two adjacent tiles (32 rows): each activation broadcast
 * feeds two multiply-adds, halving the loads per multiply-add of
 * tmat_tile_tok8; 16 accumulators (one per token and tile), 8 unpacked code
 * registers. Sums are exact int32, so the result equals two tok8 calls. */
static void
tmat_tile2_tok8(const kern_tmat *m, const int8_t *qb, size_t st, size_t tile, __m512i *res0,
                __m512i *res1)
{
    const __m512i m3 = _mm512_set1_epi8(3);
    size_t tb = m->cols_p * 4, nk = m->cols_p / 16;
    const uint8_t *p0 = m->data + tile * tb, *p1 = p0 + tb;
    __m512i a[MM_NT], b[MM_NT];
    for (int i = 0; i < MM_NT; i++)
        a[i] = b[i] = _mm512_setzero_si512();
    for (size_t k = 0; k < nk; k++) {
        __m512i w0 = _mm512_load_si512(p0 + 64 * k), w1 = _mm512_load_si512(p1 + 64 * k);
        __m512i u[4], v[4];
        UNPACK4(w0, u[0], u[1], u[2], u[3]);
        UNPACK4(w1, v[0], v[1], v[2], v[3]);
        const int8_t *qk = qb + 16 * k;
#pragma GCC unroll 8
        for (int i = 0; i < MM_NT; i++) {
            const int8_t *qi = qk + (size_t)i * st;
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                __m512i x = _mm512_set1_epi32(ld32(qi + 4 * j));
                a[i] = _mm512_dpbusd_epi32(a[i], u[j], x);
                b[i] = _mm512_dpbusd_epi32(b[i], v[j], x);
            }
        }
    }
    for (int i = 0; i < MM_NT; i++) {
        res0[i] = a[i];
        res1[i] = b[i];
    }
}

static void
tmat_matmul_avx512(const kern_tmat *m, const kern_acts *a, float *out, size_t out_stride, size_t r0,
                   size_t r1)
{
    check_range(m->rows, r0, r1);
    ARIA_ASSERT(a->cols == m->cols);
    size_t t_end = (r1 + KERN_TROWS - 1) / KERN_TROWS;
    /* Tile outer, tokens inner: a tile (cols/4 bytes) stays in L1 while every
     * token block reads it; the activations stay in L2. */
    size_t tile = r0 / KERN_TROWS;
    /* pairs of whole tiles first (a partial last tile is never paired) */
    for (; tile + 2 <= t_end && (tile + 2) * KERN_TROWS <= r1; tile += 2) {
        size_t r = tile * KERN_TROWS;
        size_t t0 = 0;
        for (; t0 + MM_NT <= a->n_tok; t0 += MM_NT) {
            __m512i res0[MM_NT], res1[MM_NT];
            tmat_tile2_tok8(m, a->q + t0 * a->stride, a->stride, tile, res0, res1);
            for (size_t i = 0; i < MM_NT; i++) {
                float *o = out + (t0 + i) * out_stride + (r - r0);
                finish_rows(res0[i], a->sum[t0 + i], a->scale[t0 + i], m->wscale + r, o, r1 - r);
                finish_rows(res1[i], a->sum[t0 + i], a->scale[t0 + i], m->wscale + r + KERN_TROWS,
                            o + KERN_TROWS, r1 - r - KERN_TROWS);
            }
        }
        for (; t0 < a->n_tok; t0++) {
            const int8_t *q = a->q + t0 * a->stride;
            float *o = out + t0 * out_stride + (r - r0);
            finish_rows(tmat_tile1(m, q, tile), a->sum[t0], a->scale[t0], m->wscale + r, o, r1 - r);
            finish_rows(tmat_tile1(m, q, tile + 1), a->sum[t0], a->scale[t0],
                        m->wscale + r + KERN_TROWS, o + KERN_TROWS, r1 - r - KERN_TROWS);
        }
    }
    for (; tile < t_end; tile++) {
        for (size_t t0 = 0; t0 < a->n_tok; t0 += MM_NT) {
            size_t nt = a->n_tok - t0 < MM_NT ? a->n_tok - t0 : MM_NT;
            __m512i res[MM_NT];
            if (nt == MM_NT)
                tmat_tile_tok8(m, a->q + t0 * a->stride, a->stride, tile, res);
            else
                for (size_t i = 0; i < nt; i++)
                    res[i] = tmat_tile1(m, a->q + (t0 + i) * a->stride, tile);
            size_t r = tile * KERN_TROWS;
            for (size_t i = 0; i < nt; i++)
                finish_rows(res[i], a->sum[t0 + i], a->scale[t0 + i], m->wscale + r,
                            out + (t0 + i) * out_stride + (r - r0), r1 - r);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Int8 head                                                            */
/* ------------------------------------------------------------------ */

static void
i8mat_matvec_avx512(const kern_i8mat *m, const kern_acts *a, float *out, size_t r0, size_t r1)
{
    check_range(m->rows, r0, r1);
    ARIA_ASSERT(a->cols == m->cols && a->n_tok >= 1);
    const int8_t *q = a->q;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    size_t tb = m->cols_p * KERN_TROWS, nk = m->cols_p / 4; /* nk % 16 == 0 */
    size_t t_end = (r1 + KERN_TROWS - 1) / KERN_TROWS;
    /* one tile at a time: a single linear stream (see tmat_matvec_avx512) */
    for (size_t t = r0 / KERN_TROWS; t < t_end; t++) {
        const int8_t *p0 = m->data + t * tb;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t k = 0; k < nk; k += 4) {
            kern_kick(p0 + 64 * k, 256);
            __m512i x0 = _mm512_xor_si512(_mm512_set1_epi32(ld32(q + 4 * k)), flip);
            __m512i x1 = _mm512_xor_si512(_mm512_set1_epi32(ld32(q + 4 * k + 4)), flip);
            __m512i x2 = _mm512_xor_si512(_mm512_set1_epi32(ld32(q + 4 * k + 8)), flip);
            __m512i x3 = _mm512_xor_si512(_mm512_set1_epi32(ld32(q + 4 * k + 12)), flip);
            a0 = _mm512_dpbusd_epi32(a0, x0, _mm512_load_si512(p0 + 64 * k));
            a1 = _mm512_dpbusd_epi32(a1, x1, _mm512_load_si512(p0 + 64 * k + 64));
            a2 = _mm512_dpbusd_epi32(a2, x2, _mm512_load_si512(p0 + 64 * k + 128));
            a3 = _mm512_dpbusd_epi32(a3, x3, _mm512_load_si512(p0 + 64 * k + 192));
        }
        size_t r = t * KERN_TROWS;
        __m512i s0 = _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
        s0 = _mm512_sub_epi32(s0, _mm512_slli_epi32(_mm512_loadu_si512(m->wsum + r), 7));
        finish_rows(s0, 0, a->scale[0], m->wscale + r, out + (r - r0), r1 - r);
    }
}

/* ------------------------------------------------------------------ */
/* Float matvec                                                         */
/* ------------------------------------------------------------------ */

/* 16 weights of row `row` starting at column c (c % 16 == 0, c + 16 <= cols). */
static inline __m512
fw16(kern_ftype type, const uint8_t *row, size_t c)
{
    switch (type) {
    case KERN_FT_F32: return _mm512_loadu_ps(row + 4 * c);
    case KERN_FT_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 2 * c)));
    case KERN_FT_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(row + 2 * c))), 16));
    case KERN_FT_Q8_0: {
        const uint8_t *blk = row + (c / 32) * 34;
        uint16_t h;
        memcpy(&h, blk, 2);
        __m512 d = _mm512_cvtph_ps(_mm256_set1_epi16((short)h));
        __m128i b = _mm_loadu_si128((const __m128i *)(blk + 2 + c % 32));
        return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)), d);
    }
    }
    return _mm512_setzero_ps();
}

static inline float
tree16(__m512 acc)
{
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1);
}

static inline __m512
ftail(const kern_fmat *m, size_t r, size_t c)
{
    /* exact scalar conversion of the few tail weights */
    float tmp[16] = {0};
    size_t n = m->cols - c;
    const uint8_t *row = (const uint8_t *)m->data + r * m->row_bytes;
    for (size_t i = 0; i < n; i++) {
        switch (m->type) {
        case KERN_FT_F32: memcpy(&tmp[i], row + 4 * (c + i), 4); break;
        case KERN_FT_F16: {
            uint16_t h;
            memcpy(&h, row + 2 * (c + i), 2);
            tmp[i] = ops_fp16_to_f32(h);
            break;
        }
        case KERN_FT_BF16: {
            uint16_t h;
            memcpy(&h, row + 2 * (c + i), 2);
            uint32_t b = (uint32_t)h << 16;
            memcpy(&tmp[i], &b, 4);
            break;
        }
        case KERN_FT_Q8_0: break; /* cols % 32 == 0: no tail */
        }
    }
    return _mm512_loadu_ps(tmp);
}

static void
fmat_matvec_avx512(const kern_fmat *m, const float *x, float *out, size_t r0, size_t r1)
{
    check_range(m->rows, r0, r1);
    ARIA_ASSERT(m->type != KERN_FT_Q8_0 || m->cols % 32 == 0);
    size_t cf = m->cols / 16 * 16;
    size_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const uint8_t *w0 = (const uint8_t *)m->data + r * m->row_bytes;
        const uint8_t *w1 = w0 + m->row_bytes, *w2 = w1 + m->row_bytes, *w3 = w2 + m->row_bytes;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        /* the page kick for the rows two blocks on (F16 bitnet-large
         * decode ~22 -> 22-31 tok/s, tenth round) */
        kern_kick_range(w0 + 8 * m->row_bytes, 4 * m->row_bytes);
        for (size_t c = 0; c < cf; c += 16) {
            __m512 xv = _mm512_loadu_ps(x + c);
            a0 = _mm512_fmadd_ps(fw16(m->type, w0, c), xv, a0);
            a1 = _mm512_fmadd_ps(fw16(m->type, w1, c), xv, a1);
            a2 = _mm512_fmadd_ps(fw16(m->type, w2, c), xv, a2);
            a3 = _mm512_fmadd_ps(fw16(m->type, w3, c), xv, a3);
        }
        if (cf < m->cols) {
            __mmask16 k = (__mmask16)((1u << (m->cols - cf)) - 1u);
            __m512 xv = _mm512_maskz_loadu_ps(k, x + cf);
            a0 = _mm512_mask3_fmadd_ps(ftail(m, r, cf), xv, a0, k);
            a1 = _mm512_mask3_fmadd_ps(ftail(m, r + 1, cf), xv, a1, k);
            a2 = _mm512_mask3_fmadd_ps(ftail(m, r + 2, cf), xv, a2, k);
            a3 = _mm512_mask3_fmadd_ps(ftail(m, r + 3, cf), xv, a3, k);
        }
        out[r - r0] = tree16(a0);
        out[r + 1 - r0] = tree16(a1);
        out[r + 2 - r0] = tree16(a2);
        out[r + 3 - r0] = tree16(a3);
    }
    for (; r < r1; r++) {
        const uint8_t *w0 = (const uint8_t *)m->data + r * m->row_bytes;
        __m512 a0 = _mm512_setzero_ps();
        for (size_t c = 0; c < cf; c += 16)
            a0 = _mm512_fmadd_ps(fw16(m->type, w0, c), _mm512_loadu_ps(x + c), a0);
        if (cf < m->cols) {
            __mmask16 k = (__mmask16)((1u << (m->cols - cf)) - 1u);
            __m512 xv = _mm512_maskz_loadu_ps(k, x + cf);
            a0 = _mm512_mask3_fmadd_ps(ftail(m, r, cf), xv, a0, k);
        }
        out[r - r0] = tree16(a0);
    }
}

const kern_ops kern_ops_avx512 = {
    .isa = KERN_ISA_AVX512,
    .name = "avx512vnni",
    .quant_act = quant_act_avx512,
    .tmat_matvec = tmat_matvec_avx512,
    .tmat_matmul = tmat_matmul_avx512,
    .fmat_matvec = fmat_matvec_avx512,
    .i8mat_matvec = i8mat_matvec_avx512,
};
