/*
 * ops_avx2.c — AVX2 + FMA + F16C kernels. Compiled with -mavx2 -mfma -mf16c
 * -ffp-contract=off; only called when the CPU has all three (kern_ops_for).
 * Results equal ops_ref.c bit for bit:
 *  - quantization: trunc + (|frac| >= 0.5 ? sign : 0) == roundf for |v| < 2^23;
 *  - ternary: vpmaddubsw(codes u = w + 1 in 0..2, q) gives int16 pair sums of
 *    magnitude <= 508, so 32 of them (8 chunks x 4 shifts) add up in int16
 *    without overflow (<= 16256) before vpmaddwd widens to int32; the token's
 *    q-sum is subtracted at the end (sum(u q) = sum(w q) + sum(q));
 *  - int8 head: vpmaddubsw(|w|, sign(q, w)) pair sums <= 2*127*127 = 32258
 *    fit int16, widened at once by vpmaddwd;
 *  - float: two ymm accumulators per row hold lanes 0..7 and 8..15 of the
 *    16-lane order; the tail is blended so untouched lanes keep their value;
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

static inline float
hmax8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static inline int32_t
hsum8i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* ------------------------------------------------------------------ */
/* Activation quantization                                              */
/* ------------------------------------------------------------------ */

static inline __m256i
q8(__m256 v, __m256 mul)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 signbit = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u));
    const __m256 lim = _mm256_set1_ps(127.0f);
    v = _mm256_mul_ps(v, mul);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_and_ps(_mm256_sub_ps(v, t), absmask);
    __m256 away = _mm256_cmp_ps(f, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 sgn1 = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, signbit));
    t = _mm256_add_ps(t, _mm256_and_ps(away, sgn1));
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_sub_ps(_mm256_setzero_ps(), lim)), lim);
    return _mm256_cvttps_epi32(t);
}

/* 32 floats -> 32 int8 at dst; returns their sum added into *vsum. */
static inline void
q32(const float *x, __m256 mul, int8_t *dst, __m256i *vsum)
{
    __m256i a = q8(_mm256_loadu_ps(x), mul), b = q8(_mm256_loadu_ps(x + 8), mul);
    __m256i c = q8(_mm256_loadu_ps(x + 16), mul), d = q8(_mm256_loadu_ps(x + 24), mul);
    *vsum =
        _mm256_add_epi32(*vsum, _mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_add_epi32(c, d)));
    __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    __m256i p = _mm256_packs_epi16(ab, cd);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)dst, p);
}

static void
quant_act_avx2(const float *x, kern_acts *a, size_t tok)
{
    ARIA_ASSERT(tok < a->n_tok && a->stride >= kern_act_padded(a->cols));
    size_t n = a->cols, np = kern_act_padded(n);
    int8_t *q = a->q + tok * a->stride;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 mx = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(x + i), absmask));
    float amax = hmax8(mx);
    for (; i < n; i++) {
        float v = x[i] < 0 ? -x[i] : x[i];
        amax = v > amax ? v : amax;
    }
    if (amax == 0.0f) {
        memset(q, 0, np);
        a->sum[tok] = 0;
        a->scale[tok] = 0.0f;
        return;
    }
    __m256 mul = _mm256_set1_ps(127.0f / amax);
    __m256i vsum = _mm256_setzero_si256();
    for (i = 0; i + 32 <= n; i += 32)
        q32(x + i, mul, q + i, &vsum);
    if (i < n) {
        float tmp[32] = {0};
        int8_t qt[32];
        memcpy(tmp, x + i, (n - i) * sizeof(float));
        q32(tmp, mul, qt, &vsum);
        memcpy(q + i, qt, n - i);
    }
    memset(q + n, 0, np - n);
    a->sum[tok] = hsum8i(vsum);
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

static inline void
finish_rows(__m256i lo, __m256i hi, int32_t sub, float s_tok, const float *wscale, float *out,
            size_t nr)
{
    __m256i vs = _mm256_set1_epi32(sub);
    __m256 st = _mm256_set1_ps(s_tok);
    __m256 f0 = _mm256_cvtepi32_ps(_mm256_sub_epi32(lo, vs));
    __m256 f1 = _mm256_cvtepi32_ps(_mm256_sub_epi32(hi, vs));
    if (nr >= 16) {
        _mm256_storeu_ps(out, _mm256_mul_ps(f0, _mm256_mul_ps(st, _mm256_loadu_ps(wscale))));
        _mm256_storeu_ps(out + 8,
                         _mm256_mul_ps(f1, _mm256_mul_ps(st, _mm256_loadu_ps(wscale + 8))));
        return;
    }
    float a[16];
    _mm256_storeu_ps(a, f0);
    _mm256_storeu_ps(a + 8, f1);
    for (size_t i = 0; i < nr; i++)
        out[i] = a[i] * (s_tok * wscale[i]);
}

/* Codes of one 64-byte chunk: u<j><h> = codes of column group j (4 columns)
 * for rows 0-7 (h = 0) and 8-15 (h = 1). */
#define UNPACK8(p)                                                                                 \
    __m256i w0_ = _mm256_load_si256((const __m256i *)(p));                                         \
    __m256i w1_ = _mm256_load_si256((const __m256i *)((p) + 32));                                  \
    __m256i u00 = _mm256_and_si256(w0_, m3), u01 = _mm256_and_si256(w1_, m3);                      \
    __m256i u10 = _mm256_and_si256(_mm256_srli_epi16(w0_, 2), m3);                                 \
    __m256i u11 = _mm256_and_si256(_mm256_srli_epi16(w1_, 2), m3);                                 \
    __m256i u20 = _mm256_and_si256(_mm256_srli_epi16(w0_, 4), m3);                                 \
    __m256i u21 = _mm256_and_si256(_mm256_srli_epi16(w1_, 4), m3);                                 \
    __m256i u30 = _mm256_and_si256(_mm256_srli_epi16(w0_, 6), m3);                                 \
    __m256i u31 = _mm256_and_si256(_mm256_srli_epi16(w1_, 6), m3)

/* Add one chunk's products for activation q (16 bytes) into int16 h_lo/h_hi. */
#define CHUNK_DOT(q, h_lo, h_hi)                                                                   \
    do {                                                                                           \
        __m256i b0_ = _mm256_set1_epi32(ld32(q)), b1_ = _mm256_set1_epi32(ld32((q) + 4));          \
        __m256i b2_ = _mm256_set1_epi32(ld32((q) + 8)), b3_ = _mm256_set1_epi32(ld32((q) + 12));   \
        h_lo = _mm256_add_epi16(h_lo, _mm256_add_epi16(_mm256_maddubs_epi16(u00, b0_),             \
                                                       _mm256_maddubs_epi16(u10, b1_)));           \
        h_hi = _mm256_add_epi16(h_hi, _mm256_add_epi16(_mm256_maddubs_epi16(u01, b0_),             \
                                                       _mm256_maddubs_epi16(u11, b1_)));           \
        h_lo = _mm256_add_epi16(h_lo, _mm256_add_epi16(_mm256_maddubs_epi16(u20, b2_),             \
                                                       _mm256_maddubs_epi16(u30, b3_)));           \
        h_hi = _mm256_add_epi16(h_hi, _mm256_add_epi16(_mm256_maddubs_epi16(u21, b2_),             \
                                                       _mm256_maddubs_epi16(u31, b3_)));           \
    } while (0)

/* int32 sums (rows 0-7, rows 8-15) of one tile times one activation row.
 * int16 staging: each chunk adds at most 4 * 508 per lane; 8 chunks at most
 * 16256 < 32767, then widened. */
static inline void
tmat_tile(const kern_tmat *m, const int8_t *q, size_t tile, __m256i *lo, __m256i *hi)
{
    const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    size_t nk = m->cols_p / 16;
    const uint8_t *p = m->data + tile * (m->cols_p * 4);
    __m256i s_lo = _mm256_setzero_si256(), s_hi = s_lo;
    for (size_t k0 = 0; k0 < nk; k0 += 8) {
        size_t k1 = k0 + 8 < nk ? k0 + 8 : nk;
        __m256i h_lo = _mm256_setzero_si256(), h_hi = h_lo;
        for (size_t k = k0; k < k1; k++) {
            kern_kick(p + 64 * k, 64);
            kern_ahead(p + 64 * k);
            UNPACK8(p + 64 * k);
            CHUNK_DOT(q + 16 * k, h_lo, h_hi);
        }
        s_lo = _mm256_add_epi32(s_lo, _mm256_madd_epi16(h_lo, ones));
        s_hi = _mm256_add_epi32(s_hi, _mm256_madd_epi16(h_hi, ones));
    }
    *lo = s_lo;
    *hi = s_hi;
}

/* Two activation rows (q and q + st) against one tile, codes unpacked once. */
static inline void
tmat_tile_tok2(const kern_tmat *m, const int8_t *q, size_t st, size_t tile, __m256i res[4])
{
    const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    size_t nk = m->cols_p / 16;
    const uint8_t *p = m->data + tile * (m->cols_p * 4);
    __m256i s0l = _mm256_setzero_si256(), s0h = s0l, s1l = s0l, s1h = s0l;
    for (size_t k0 = 0; k0 < nk; k0 += 8) {
        size_t k1 = k0 + 8 < nk ? k0 + 8 : nk;
        __m256i h0l = _mm256_setzero_si256(), h0h = h0l, h1l = h0l, h1h = h0l;
        for (size_t k = k0; k < k1; k++) {
            UNPACK8(p + 64 * k);
            CHUNK_DOT(q + 16 * k, h0l, h0h);
            CHUNK_DOT(q + st + 16 * k, h1l, h1h);
        }
        s0l = _mm256_add_epi32(s0l, _mm256_madd_epi16(h0l, ones));
        s0h = _mm256_add_epi32(s0h, _mm256_madd_epi16(h0h, ones));
        s1l = _mm256_add_epi32(s1l, _mm256_madd_epi16(h1l, ones));
        s1h = _mm256_add_epi32(s1h, _mm256_madd_epi16(h1h, ones));
    }
    res[0] = s0l;
    res[1] = s0h;
    res[2] = s1l;
    res[3] = s1h;
}

static void
tmat_matvec_avx2(const kern_tmat *m, const kern_acts *a, float *out, size_t r0, size_t r1)
{
    check_range(m->rows, r0, r1);
    ARIA_ASSERT(a->cols == m->cols && a->n_tok >= 1);
    size_t t_end = (r1 + KERN_TROWS - 1) / KERN_TROWS;
    for (size_t t = r0 / KERN_TROWS; t < t_end; t++) {
        __m256i lo, hi;
        tmat_tile(m, a->q, t, &lo, &hi);
        size_t r = t * KERN_TROWS;
        finish_rows(lo, hi, a->sum[0], a->scale[0], m->wscale + r, out + (r - r0), r1 - r);
    }
}

static void
tmat_matmul_avx2(const kern_tmat *m, const kern_acts *a, float *out, size_t out_stride, size_t r0,
                 size_t r1)
{
    check_range(m->rows, r0, r1);
    ARIA_ASSERT(a->cols == m->cols);
    size_t st = a->stride;
    size_t t_end = (r1 + KERN_TROWS - 1) / KERN_TROWS;
    /* Tile outer, tokens inner: the tile stays in L1 for every token pair. */
    for (size_t tile = r0 / KERN_TROWS; tile < t_end; tile++) {
        for (size_t t0 = 0; t0 < a->n_tok; t0 += 2) {
            const int8_t *qb = a->q + t0 * st;
            size_t r = tile * KERN_TROWS;
            __m256i res[4];
            if (t0 + 1 < a->n_tok) {
                tmat_tile_tok2(m, qb, st, tile, res);
                finish_rows(res[0], res[1], a->sum[t0], a->scale[t0], m->wscale + r,
                            out + t0 * out_stride + (r - r0), r1 - r);
                finish_rows(res[2], res[3], a->sum[t0 + 1], a->scale[t0 + 1], m->wscale + r,
                            out + (t0 + 1) * out_stride + (r - r0), r1 - r);
            } else {
                tmat_tile(m, qb, tile, &res[0], &res[1]);
                finish_rows(res[0], res[1], a->sum[t0], a->scale[t0], m->wscale + r,
                            out + t0 * out_stride + (r - r0), r1 - r);
            }
        }
    }
}

/* ------------------------------------------------------------------ */
/* Int8 head                                                            */
/* ------------------------------------------------------------------ */

static void
i8mat_matvec_avx2(const kern_i8mat *m, const kern_acts *a, float *out, size_t r0, size_t r1)
{
    check_range(m->rows, r0, r1);
    ARIA_ASSERT(a->cols == m->cols && a->n_tok >= 1);
    const __m256i ones = _mm256_set1_epi16(1);
    const int8_t *q = a->q;
    size_t tb = m->cols_p * KERN_TROWS, nk = m->cols_p / 4;
    size_t t_end = (r1 + KERN_TROWS - 1) / KERN_TROWS;
    for (size_t t = r0 / KERN_TROWS; t < t_end; t++) {
        const int8_t *p = m->data + t * tb;
        __m256i lo0 = _mm256_setzero_si256(), hi0 = lo0, lo1 = lo0, hi1 = lo0;
        for (size_t k = 0; k < nk; k += 2) {
            kern_kick(p + 64 * k, 128);
            kern_ahead(p + 64 * k);
            kern_ahead(p + 64 * k + 64);
            __m256i b0 = _mm256_set1_epi32(ld32(q + 4 * k));
            __m256i b1 = _mm256_set1_epi32(ld32(q + 4 * k + 4));
            __m256i w0 = _mm256_load_si256((const __m256i *)(p + 64 * k));
            __m256i w1 = _mm256_load_si256((const __m256i *)(p + 64 * k + 32));
            __m256i w2 = _mm256_load_si256((const __m256i *)(p + 64 * k + 64));
            __m256i w3 = _mm256_load_si256((const __m256i *)(p + 64 * k + 96));
            lo0 = _mm256_add_epi32(
                lo0,
                _mm256_madd_epi16(
                    _mm256_maddubs_epi16(_mm256_abs_epi8(w0), _mm256_sign_epi8(b0, w0)), ones));
            hi0 = _mm256_add_epi32(
                hi0,
                _mm256_madd_epi16(
                    _mm256_maddubs_epi16(_mm256_abs_epi8(w1), _mm256_sign_epi8(b0, w1)), ones));
            lo1 = _mm256_add_epi32(
                lo1,
                _mm256_madd_epi16(
                    _mm256_maddubs_epi16(_mm256_abs_epi8(w2), _mm256_sign_epi8(b1, w2)), ones));
            hi1 = _mm256_add_epi32(
                hi1,
                _mm256_madd_epi16(
                    _mm256_maddubs_epi16(_mm256_abs_epi8(w3), _mm256_sign_epi8(b1, w3)), ones));
        }
        size_t r = t * KERN_TROWS;
        finish_rows(_mm256_add_epi32(lo0, lo1), _mm256_add_epi32(hi0, hi1), 0, a->scale[0],
                    m->wscale + r, out + (r - r0), r1 - r);
    }
}

/* ------------------------------------------------------------------ */
/* Float matvec                                                         */
/* ------------------------------------------------------------------ */

/* 8 weights of a row starting at column c (c % 8 == 0, c + 8 <= cols). */
static inline __m256
fw8(kern_ftype type, const uint8_t *row, size_t c)
{
    switch (type) {
    case KERN_FT_F32: return _mm256_loadu_ps((const float *)(row + 4 * c));
    case KERN_FT_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * c)));
    case KERN_FT_BF16:
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + 2 * c))), 16));
    case KERN_FT_Q8_0: {
        const uint8_t *blk = row + (c / 32) * 34;
        uint16_t h;
        memcpy(&h, blk, 2);
        __m256 d = _mm256_cvtph_ps(_mm_set1_epi16((short)h));
        __m128i b = _mm_loadl_epi64((const __m128i *)(blk + 2 + c % 32));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)), d);
    }
    }
    return _mm256_setzero_ps();
}

static inline float
tree16(__m256 lo, __m256 hi)
{
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1);
}

/* Tail columns c..cols-1 (< 16 of them) of row r: exact scalar conversion
 * into w[16], zero beyond. */
static inline void
ftail(const kern_fmat *m, size_t r, size_t c, float w[16])
{
    memset(w, 0, 16 * sizeof(float));
    const uint8_t *row = (const uint8_t *)m->data + r * m->row_bytes;
    for (size_t i = 0; i < m->cols - c; i++) {
        uint16_t h;
        switch (m->type) {
        case KERN_FT_F32: memcpy(&w[i], row + 4 * (c + i), 4); break;
        case KERN_FT_F16:
            memcpy(&h, row + 2 * (c + i), 2);
            w[i] = ops_fp16_to_f32(h);
            break;
        case KERN_FT_BF16: {
            memcpy(&h, row + 2 * (c + i), 2);
            uint32_t b = (uint32_t)h << 16;
            memcpy(&w[i], &b, 4);
            break;
        }
        case KERN_FT_Q8_0: break; /* cols % 32 == 0: no tail */
        }
    }
}

static void
fmat_matvec_avx2(const kern_fmat *m, const float *x, float *out, size_t r0, size_t r1)
{
    check_range(m->rows, r0, r1);
    ARIA_ASSERT(m->type != KERN_FT_Q8_0 || m->cols % 32 == 0);
    size_t cf = m->cols / 16 * 16, nt = m->cols - cf;
    float xt[16] = {0};
    __m256 mk0 = _mm256_setzero_ps(), mk1 = mk0;
    if (nt) {
        memcpy(xt, x + cf, nt * sizeof(float));
        int32_t mk[16] = {0};
        for (size_t i = 0; i < nt; i++)
            mk[i] = -1;
        mk0 = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)mk));
        mk1 = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(mk + 8)));
    }
    size_t r = r0;
    for (; r + 2 <= r1; r += 2) {
        const uint8_t *w0 = (const uint8_t *)m->data + r * m->row_bytes, *w1 = w0 + m->row_bytes;
        __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0;
        /* the page kick for the rows 8 on (as ops_avx512.c) */
        kern_kick_range(w0 + 8 * m->row_bytes, 2 * m->row_bytes);
        for (size_t c = 0; c < cf; c += 16) {
            __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);
            a0 = _mm256_fmadd_ps(fw8(m->type, w0, c), x0, a0);
            b0 = _mm256_fmadd_ps(fw8(m->type, w0, c + 8), x1, b0);
            a1 = _mm256_fmadd_ps(fw8(m->type, w1, c), x0, a1);
            b1 = _mm256_fmadd_ps(fw8(m->type, w1, c + 8), x1, b1);
        }
        if (nt) {
            float wt[16];
            __m256 x0 = _mm256_loadu_ps(xt), x1 = _mm256_loadu_ps(xt + 8);
            ftail(m, r, cf, wt);
            a0 = _mm256_blendv_ps(a0, _mm256_fmadd_ps(_mm256_loadu_ps(wt), x0, a0), mk0);
            b0 = _mm256_blendv_ps(b0, _mm256_fmadd_ps(_mm256_loadu_ps(wt + 8), x1, b0), mk1);
            ftail(m, r + 1, cf, wt);
            a1 = _mm256_blendv_ps(a1, _mm256_fmadd_ps(_mm256_loadu_ps(wt), x0, a1), mk0);
            b1 = _mm256_blendv_ps(b1, _mm256_fmadd_ps(_mm256_loadu_ps(wt + 8), x1, b1), mk1);
        }
        out[r - r0] = tree16(a0, b0);
        out[r + 1 - r0] = tree16(a1, b1);
    }
    for (; r < r1; r++) {
        const uint8_t *w0 = (const uint8_t *)m->data + r * m->row_bytes;
        __m256 a0 = _mm256_setzero_ps(), b0 = a0;
        for (size_t c = 0; c < cf; c += 16) {
            a0 = _mm256_fmadd_ps(fw8(m->type, w0, c), _mm256_loadu_ps(x + c), a0);
            b0 = _mm256_fmadd_ps(fw8(m->type, w0, c + 8), _mm256_loadu_ps(x + c + 8), b0);
        }
        if (nt) {
            float wt[16];
            ftail(m, r, cf, wt);
            a0 = _mm256_blendv_ps(a0, _mm256_fmadd_ps(_mm256_loadu_ps(wt), _mm256_loadu_ps(xt), a0),
                                  mk0);
            b0 = _mm256_blendv_ps(
                b0, _mm256_fmadd_ps(_mm256_loadu_ps(wt + 8), _mm256_loadu_ps(xt + 8), b0), mk1);
        }
        out[r - r0] = tree16(a0, b0);
    }
}

const kern_ops kern_ops_avx2 = {
    .isa = KERN_ISA_AVX2,
    .name = "avx2",
    .quant_act = quant_act_avx2,
    .tmat_matvec = tmat_matvec_avx2,
    .tmat_matmul = tmat_matmul_avx2,
    .fmat_matvec = fmat_matvec_avx2,
    .i8mat_matvec = i8mat_matvec_avx2,
};
