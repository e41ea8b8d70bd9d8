/*
 * forward.c — the transformer forward pass for the supported archs over a
 * chunk of tokens, with the KV cache.
 *
 * Graph per layer (sub-norms only for the bitnet archs; act = ReLU² for
 * bitnet-b1.58, SiLU otherwise):
 *   h = rmsnorm(x)·attn_norm; q,k,v = Wq h, Wk h, Wv h; rope(q, k)
 *   a = softmax(q·kᵀ/√d + causal) v               (GQA: head h uses kv head h/(H/Hkv))
 *   x += Wo (rmsnorm(a)·attn_sub_norm)
 *   h = rmsnorm(x)·ffn_norm; f = act(Wgate h) ⊙ (Wup h)
 *   x += Wdown (rmsnorm(f)·ffn_sub_norm)
 * logits = Whead (rmsnorm(x_last)·output_norm)
 *
 * Determinism: the matrix kernels (ops.h) are bit-identical on every ISA and
 * thread count; everything here is plain C compiled for the baseline ISA with
 * no FP contraction, each output element computed by one task with one fixed
 * order: rmsnorm sums squares in double in 8 fixed lanes; attention dot
 * products use 8 lane accumulators then a fixed tree; softmax sums in double
 * in the same 8 fixed lanes; a·V accumulates positions 0 up. Exp is
 * kern_m_expf.
 *
 * F16 KV cache: K and V are stored rounded to fp16 and, as llama.cpp does
 * with an F16 cache, q is rounded to fp16 before q·k and the softmax
 * probabilities are rounded to fp16 before ·V.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <string.h>

#include "kern_cpu.h"
#include "kern_types.h"
#include "model_int.h"

/* Exact fp16 -> fp32 (bit manipulation). */
static inline float
h2f(uint16_t h)
{
    uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, b;
    if (e == 0) {
        if (m == 0) {
            b = s;
        } else { /* subnormal: normalise */
            e = 113;
            while (!(m & 0x400u)) {
                m <<= 1;
                e--;
            }
            b = s | (e << 23) | ((m & 0x3ffu) << 13);
        }
    } else if (e == 31) {
        b = s | 0x7f800000u | (m << 13);
    } else {
        b = s | ((e + 112) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static inline float
round_f16(float x)
{
    return h2f(kern_fp32_to_fp16(x));
}

/* h2f of every half, built once: attention converts 2 x head_dim halves per
 * cached position, head and layer, and a 256 KiB table (L2-resident) is
 * faster here than the bit-level h2f or a branchy rebias. Same values as
 * h2f (built from it). */
static float h2f_tab[65536];
static pthread_once_t h2f_once = PTHREAD_ONCE_INIT;

static void h2f_row_tab(const uint16_t *h, float *f, size_t n);
static void (*h2f_row)(const uint16_t *h, float *f, size_t n) = h2f_row_tab;

static void
h2f_row_tab(const uint16_t *h, float *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        f[i] = h2f_tab[h[i]];
}

#if defined(__x86_64__)
/* F16C: vcvtph2ps is exact for every finite half and infinities (NaNs come
 * out quiet, the one way it can differ from h2f: only a model that is
 * already producing NaNs can tell). */
__attribute__((target("avx,f16c"))) static void
h2f_row_f16c(const uint16_t *h, float *f, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(f + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++)
        f[i] = h2f_tab[h[i]];
}
#endif

/* fp32 -> fp16 (round to nearest even) of a row, and in-place rounding of
 * floats to fp16 values. kern_fp32_to_fp16 rounds exactly as IEEE does, so
 * F16C's vcvtps2ph (nearest even, DAZ off) gives the same halves for every
 * non-NaN input (checked over all 2^32 floats when this was written). */
static void
f2h_row_c(const float *f, uint16_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h[i] = kern_fp32_to_fp16(f[i]);
}

static void
round_f16_row_c(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = h2f_tab[kern_fp32_to_fp16(x[i])];
}

static void (*f2h_row)(const float *f, uint16_t *h, size_t n) = f2h_row_c;
static void (*round_f16_row)(float *x, size_t n) = round_f16_row_c;

#if defined(__x86_64__)
__attribute__((target("avx,f16c"))) static void
f2h_row_f16c(const float *f, uint16_t *h, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(f + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        h[i] = kern_fp32_to_fp16(f[i]);
}

__attribute__((target("avx,f16c"))) static void
round_f16_row_f16c(float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i),
                                                                _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++)
        x[i] = h2f_tab[kern_fp32_to_fp16(x[i])];
}
#endif

#if defined(__x86_64__)
static void att_scores_avx_any(const float *qv, const void *k, bool f16, size_t stride, size_t D,
                               size_t np, float scale, float *sc);
static void att_accum_avx_any(float *acc, const float *pr, const void *v, bool f16, size_t stride,
                              size_t D, size_t np);
static void att_scores_512_any(const float *qv, const void *k, bool f16, size_t stride, size_t D,
                               size_t np, float scale, float *sc);
static void att_accum_512_any(float *acc, const float *pr, const void *v, bool f16, size_t stride,
                              size_t D, size_t np);
#endif
static void att_scores_c(const float *qv, const void *k, bool f16, size_t stride, size_t D,
                         size_t np, float scale, float *sc);
static void att_accum_c(float *acc, const float *pr, const void *v, bool f16, size_t stride,
                        size_t D, size_t np);
static void (*att_scores)(const float *qv, const void *k, bool f16, size_t stride, size_t D,
                          size_t np, float scale, float *sc) = att_scores_c;
static void (*att_accum)(float *acc, const float *pr, const void *v, bool f16, size_t stride,
                         size_t D, size_t np) = att_accum_c;
/* Two query heads over the same K/V rows in one pass, each query's
 * arithmetic exactly as att_scores / att_accum do it (so a head's values do
 * not depend on whether it was paired). NULL: no paired loop on this path. */
typedef void att_scores2_fn(const float *qv0, const float *qv1, const void *k, bool f16, size_t D,
                            size_t np, float scale, float *sc0, float *sc1);
typedef void att_accum2_fn(float *acc0, float *acc1, const float *pr0, const float *pr1,
                           const void *v, bool f16, size_t D, size_t np);
#if defined(__x86_64__)
static att_scores2_fn att_scores2_512;
static att_accum2_fn att_accum2_512;
#endif
static att_scores2_fn *att_scores2;
static att_accum2_fn *att_accum2;
/* One block of G KV heads (kv_group) in one pass over its K rows and one
 * over its V rows, in address order; per head the arithmetic of
 * att_scores / att_accum. Score row h at sc + h * sc_stride. NULL: no block
 * loop on this path (heads one at a time, G * D apart). */
#define ATT_BLOCK_MAX  16  /* heads per block the block loops take */
#define ATT_BLOCK_DMAX 256 /* head_dim the block loops take */
typedef void att_gscores_fn(const float *qv, const void *k, bool f16, size_t G, size_t D, size_t np,
                            float scale, float *sc, size_t sc_stride);
typedef void att_gaccum_fn(float *acc, const float *pr, size_t pr_stride, const void *v, bool f16,
                           size_t G, size_t D, size_t np);
#if defined(__x86_64__)
static att_gscores_fn att_gscores_512;
static att_gaccum_fn att_gaccum_512;
#endif
static att_gscores_fn *att_gscores;
static att_gaccum_fn *att_gaccum;

static void
h2f_tab_build(void)
{
    for (uint32_t i = 0; i < 65536; i++)
        h2f_tab[i] = h2f((uint16_t)i);
#if defined(__x86_64__)
    /* ARIA_ISA=scalar keeps the plain C path, like the kernels */
    if (kern_isa_selected() >= KERN_ISA_AVX2 && kern_cpu_get()->f16c) {
        h2f_row = h2f_row_f16c;
        f2h_row = f2h_row_f16c;
        round_f16_row = round_f16_row_f16c;
        att_scores = att_scores_avx_any;
        att_accum = att_accum_avx_any;
        if (kern_isa_selected() >= KERN_ISA_AVX512) {
            att_scores = att_scores_512_any;
            att_accum = att_accum_512_any;
            att_scores2 = att_scores2_512;
            att_accum2 = att_accum2_512;
            att_gscores = att_gscores_512;
            att_gaccum = att_gaccum_512;
        }
    }
#endif
}

/* Sums in double in 8 lanes (lane l takes the indices i = l mod 8 in
 * increasing order; the tail continues from lane 0), then the fixed tree
 * ((0+4)+(2+6)) + ((1+5)+(3+7)), of x[i]² (each square a float product, as
 * llama.cpp computes it: rmsnorm) or of x[i] (softmax). One sequential chain
 * was bound by the add latency: ~5 us for a 4096-wide row, all of it on the
 * calling thread while the others wait. With SSE2 (every x86-64) the lanes
 * are four 2-wide registers doing the same float multiply, exact widening
 * and double add per lane as the C loop, so the result is the same on every
 * build. */
static inline double
sum8(const float *x, size_t n, bool square)
{
    double acc[8] = {0};
    size_t i = 0;
#if defined(__SSE2__)
    __m128d d0 = _mm_setzero_pd(), d1 = d0, d2 = d0, d3 = d0;
    for (; i + 8 <= n; i += 8) {
        __m128 a = _mm_loadu_ps(x + i), b = _mm_loadu_ps(x + i + 4);
        if (square) {
            a = _mm_mul_ps(a, a);
            b = _mm_mul_ps(b, b);
        }
        d0 = _mm_add_pd(d0, _mm_cvtps_pd(a));
        d1 = _mm_add_pd(d1, _mm_cvtps_pd(_mm_movehl_ps(a, a)));
        d2 = _mm_add_pd(d2, _mm_cvtps_pd(b));
        d3 = _mm_add_pd(d3, _mm_cvtps_pd(_mm_movehl_ps(b, b)));
    }
    _mm_storeu_pd(acc, d0);
    _mm_storeu_pd(acc + 2, d1);
    _mm_storeu_pd(acc + 4, d2);
    _mm_storeu_pd(acc + 6, d3);
#else
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] +=
                square ? (double)(x[i + (size_t)l] * x[i + (size_t)l]) : (double)x[i + (size_t)l];
#endif
    for (int l = 0; i < n; i++, l++)
        acc[l] += square ? (double)(x[i] * x[i]) : (double)x[i];
    double s0 = acc[0] + acc[4], s1 = acc[1] + acc[5], s2 = acc[2] + acc[6], s3 = acc[3] + acc[7];
    return (s0 + s2) + (s1 + s3);
}

/* y = (x * (1/sqrt(mean(x²) + eps))) * w, as llama.cpp computes it (its sum
 * of squares is one double chain; sum8's lanes differ from it only in the
 * double sum's last bits, far below the float mean's rounding). */
static void
rmsnorm(const float *x, const float *w, size_t n, float eps, float *y)
{
    float mean = (float)(sum8(x, n, true) / (double)n);
    float scale = 1.0f / sqrtf(mean + eps);
    size_t i = 0;
#if defined(__SSE2__) /* element-wise: the same two float multiplies */
    __m128 s4 = _mm_set1_ps(scale);
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(y + i, _mm_mul_ps(_mm_mul_ps(_mm_loadu_ps(x + i), s4), _mm_loadu_ps(w + i)));
#endif
    for (; i < n; i++)
        y[i] = (x[i] * scale) * w[i];
}

/* rmsnorm of n_tok rows (x rows xs apart, y rows ys apart). */
static void
rmsnorm_rows(const float *x, size_t xs, const float *w, size_t n, float eps, float *y, size_t ys,
             size_t n_tok)
{
    for (size_t t = 0; t < n_tok; t++)
        rmsnorm(x + t * xs, w, n, eps, y + t * ys);
}

/* Dot of n floats with 8 lane accumulators (lane i: indices = i mod 8, in
 * increasing order), then the fixed tree ((0+4)+(2+6)) + ((1+5)+(3+7)).
 * With SSE2 (every x86-64) lanes 0-3 and 4-7 are two 4-wide registers: each
 * lane does the same float multiply then add as the scalar loop, so the
 * result is identical. */
static inline float
dot8(const float *a, const float *b, size_t n)
{
    float acc[8] = {0};
    size_t i = 0;
#if defined(__SSE2__)
    __m128 lo = _mm_setzero_ps(), hi = _mm_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        lo = _mm_add_ps(lo, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
        hi = _mm_add_ps(hi, _mm_mul_ps(_mm_loadu_ps(a + i + 4), _mm_loadu_ps(b + i + 4)));
    }
    _mm_storeu_ps(acc, lo);
    _mm_storeu_ps(acc + 4, hi);
#else
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += a[i + (size_t)l] * b[i + (size_t)l];
#endif
    for (int l = 0; i < n; i++, l++)
        acc[l] += a[i] * b[i];
    float s0 = acc[0] + acc[4], s1 = acc[1] + acc[5], s2 = acc[2] + acc[6], s3 = acc[3] + acc[7];
    return (s0 + s2) + (s1 + s3);
}

/* acc[d] += pr * v[d] for d < n (element-wise: SSE2 gives the same values). */
static inline void
axpy(float *acc, float pr, const float *v, size_t n)
{
    size_t d = 0;
#if defined(__SSE2__)
    __m128 p4 = _mm_set1_ps(pr);
    for (; d + 4 <= n; d += 4)
        _mm_storeu_ps(acc + d,
                      _mm_add_ps(_mm_loadu_ps(acc + d), _mm_mul_ps(p4, _mm_loadu_ps(v + d))));
#endif
    for (; d < n; d++)
        acc[d] += pr * v[d];
}

/* x[i] += y[i] (element-wise: SSE2 gives the same values) */
static inline void
add_row(float *x, const float *y, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(x + i, _mm_add_ps(_mm_loadu_ps(x + i), _mm_loadu_ps(y + i)));
#endif
    for (; i < n; i++)
        x[i] += y[i];
}

/* g[i] = relu2(g[i]) * u[i]; _mm_max_ps(x, 0) returns 0 for NaN and -0,
 * as `x > 0 ? x : 0` does, so the values are the scalar loop's. */
static inline void
relu2_mul_row(float *g, const float *u, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    __m128 z = _mm_setzero_ps();
    for (; i + 4 <= n; i += 4) {
        __m128 r = _mm_max_ps(_mm_loadu_ps(g + i), z);
        _mm_storeu_ps(g + i, _mm_mul_ps(_mm_mul_ps(r, r), _mm_loadu_ps(u + i)));
    }
#endif
    for (; i < n; i++)
        g[i] = kern_m_relu2(g[i]) * u[i];
}

/* x[i] = x[i] * v (mul) or x[i] - v, element-wise (SSE2 gives the same
 * values as the plain loop). */
static inline void
row_op(float *x, size_t n, float v, bool mul)
{
    size_t i = 0;
#if defined(__SSE2__)
    __m128 v4 = _mm_set1_ps(v);
    for (; i + 4 <= n; i += 4) {
        __m128 a = _mm_loadu_ps(x + i);
        _mm_storeu_ps(x + i, mul ? _mm_mul_ps(a, v4) : _mm_sub_ps(a, v4));
    }
#endif
    for (; i < n; i++)
        x[i] = mul ? x[i] * v : x[i] - v;
}

/* Softmax of x[0..n) in place: m = max x, x - m, kern_m_expf, the sum in
 * sum8's lanes, then x * (float)(1 / sum). The max is the same whatever the
 * order (x > m keeps m on ties and NaNs, as _mm_max_ps(x, m) does per lane);
 * the rest is element-wise, so SSE2 gives the plain loops' values. */
static void
softmax_row(float *x, size_t n)
{
    float mx = -INFINITY;
    size_t i = 0;
#if defined(__SSE2__)
    __m128 m4 = _mm_set1_ps(-INFINITY);
    for (; i + 4 <= n; i += 4)
        m4 = _mm_max_ps(_mm_loadu_ps(x + i), m4);
    float lanes[4];
    _mm_storeu_ps(lanes, m4);
    for (int l = 0; l < 4; l++)
        if (lanes[l] > mx)
            mx = lanes[l];
#endif
    for (; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    row_op(x, n, mx, false);
    kern_m_expf_row(x, n);
    row_op(x, n, (float)(1.0 / sum8(x, n, false)), true);
}

/* Attention inner loops over np cached positions, rows `stride` elements
 * apart, F16 (halves) or F32:
 *   att_scores: sc[q] = dot8(qv, k_q, D) * scale
 *   att_accum:  acc[d] += pr[q] * v_q[d], positions 0 up
 * The plain C versions below define the values; the AVX+F16C versions do
 * the same float operations per lane (8 lanes, multiply then add, the same
 * final tree; no FMA) and so give identical results. */
/* Row q of a cached K or V block as floats: in place for F32, converted
 * into tmp (D elements) for F16. */
static inline const float *
att_row_c(const void *rows, bool f16, size_t stride, size_t D, size_t q, float *tmp)
{
    if (!f16)
        return (const float *)rows + q * stride;
    const uint16_t *r16 = (const uint16_t *)rows + q * stride;
    for (size_t d = 0; d < D; d++)
        tmp[d] = h2f_tab[r16[d]];
    return tmp;
}

static void
att_scores_c(const float *qv, const void *k, bool f16, size_t stride, size_t D, size_t np,
             float scale, float *sc)
{
    float kr[KERN_MAX_HEAD_DIM];
    for (size_t q = 0; q < np; q++)
        sc[q] = dot8(qv, att_row_c(k, f16, stride, D, q, kr), D) * scale;
}

static void
att_accum_c(float *acc, const float *pr, const void *v, bool f16, size_t stride, size_t D,
            size_t np)
{
    float vr[KERN_MAX_HEAD_DIM];
    for (size_t q = 0; q < np; q++)
        axpy(acc, pr[q], att_row_c(v, f16, stride, D, q, vr), D);
}

#if defined(__x86_64__)
__attribute__((target("avx,f16c"))) static inline __m256
att_ld8(const void *base, bool f16, size_t i)
{
    if (f16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + i)));
    return _mm256_loadu_ps((const float *)base + i);
}

/* dot8's final tree on one register of 8 lanes: ((0+4)+(2+6)) + ((1+5)+(3+7)) */
__attribute__((target("avx,f16c"))) static inline float
att_tree8(__m256 a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s)); /* t0 = s0+s2, t1 = s1+s3 */
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

/* Software prefetch for the attention loops: a head's cached rows are one
 * contiguous stream, but it is short (tens of KiB) and every head starts a
 * new one, so the hardware prefetchers alone leave the loops waiting on
 * memory latency. The loops fetch ATT_PF bytes ahead, never past the end of
 * the head's rows (bytes that would be read for nothing), when they read the
 * F16 cache itself; a prompt chunk's float copies (att_task) are already in
 * cache, and the F32 cache option is left to the hardware. Prefetches do not
 * change any value. */
#define ATT_PF 8192
static inline void
att_pf(const uint8_t *p, const uint8_t *end, size_t bytes)
{
#if defined(__SSE__)
    for (size_t o = 0; o < bytes && p + o < end; o += 64)
        _mm_prefetch((const char *)p + o, _MM_HINT_T0);
#else
    (void)p;
    (void)end;
    (void)bytes;
#endif
}

/* Four positions at a time, each with its own 8-lane accumulator (four
 * independent dependency chains). Needs D % 8 == 0 (checked by the caller). */
__attribute__((target("avx,f16c"))) static void
att_scores_avx(const float *qv, const void *k, bool f16, size_t stride, size_t D, size_t np,
               float scale, float *sc)
{
    size_t es = f16 ? 2 : 4;
    const uint8_t *kb = k, *kend = kb + np * stride * es;
    size_t q = 0;
    for (; q + 4 <= np; q += 4) {
        const uint8_t *r0 = kb + q * stride * es, *r1 = r0 + stride * es, *r2 = r1 + stride * es,
                      *r3 = r2 + stride * es;
        if (f16)
            att_pf(r0 + ATT_PF, kend, 4 * stride * es);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t i = 0; i < D; i += 8) {
            __m256 x = _mm256_loadu_ps(qv + i);
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(x, att_ld8(r0, f16, i)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(x, att_ld8(r1, f16, i)));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(x, att_ld8(r2, f16, i)));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(x, att_ld8(r3, f16, i)));
        }
        sc[q] = att_tree8(a0) * scale;
        sc[q + 1] = att_tree8(a1) * scale;
        sc[q + 2] = att_tree8(a2) * scale;
        sc[q + 3] = att_tree8(a3) * scale;
    }
    for (; q < np; q++) {
        const uint8_t *r0 = kb + q * stride * es;
        __m256 a0 = _mm256_setzero_ps();
        for (size_t i = 0; i < D; i += 8)
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(qv + i), att_ld8(r0, f16, i)));
        sc[q] = att_tree8(a0) * scale;
    }
}

/* M(NR) for nr = 1..8 with NR a constant (the a·V loops' register count). */
#define ATT_BY_NR(M)                                                                               \
    switch (nr) {                                                                                  \
    case 8: M(8); break;                                                                           \
    case 7: M(7); break;                                                                           \
    case 6: M(6); break;                                                                           \
    case 5: M(5); break;                                                                           \
    case 4: M(4); break;                                                                           \
    case 3: M(3); break;                                                                           \
    case 2: M(2); break;                                                                           \
    default: M(1); break;                                                                          \
    }

/* Up to 64 output elements (8 registers) stay in registers across all
 * positions; longer heads take several passes. Needs D % 8 == 0. The loop
 * over registers has a constant count (see ATT_ACC512). */
#define ATT_ACC256(NR)                                                                             \
    for (size_t q = 0; q < np; q++) {                                                              \
        const uint8_t *r = vb + q * stride * es;                                                   \
        if (f16)                                                                                   \
            att_pf(r + ATT_PF, vend, stride * es);                                                 \
        __m256 p = _mm256_set1_ps(pr[q]);                                                          \
        _Pragma("GCC unroll 8") for (size_t j = 0; j < (NR); j++) a[j] =                           \
            _mm256_add_ps(a[j], _mm256_mul_ps(p, att_ld8(r, f16, d0 + 8 * j)));                    \
    }

__attribute__((target("avx,f16c"))) static void
att_accum_avx(float *acc, const float *pr, const void *v, bool f16, size_t stride, size_t D,
              size_t np)
{
    size_t es = f16 ? 2 : 4;
    const uint8_t *vb = v, *vend = vb + np * stride * es;
    for (size_t d0 = 0; d0 < D; d0 += 64) {
        size_t nr = (D - d0 < 64 ? D - d0 : 64) / 8;
        __m256 a[8];
        _Pragma("GCC unroll 8") for (size_t j = 0; j < 8; j++) a[j] =
            j < nr ? _mm256_loadu_ps(acc + d0 + 8 * j) : _mm256_setzero_ps();
        ATT_BY_NR(ATT_ACC256);
        _Pragma("GCC unroll 8") for (size_t j = 0; j < 8; j++) if (j < nr)
            _mm256_storeu_ps(acc + d0 + 8 * j, a[j]);
    }
}
#undef ATT_ACC256

/* AVX-512: two positions per register in the score loop (lanes 0-7 one
 * row, 8-15 the next, each half the same 8 lanes as dot8), 16 elements per
 * register in the accumulation (element-wise, same order). */
#define ATT512 __attribute__((target("avx2,f16c,avx512f,avx512vl")))
ATT512 static inline __m512
att_ld8x2(const uint8_t *ra, const uint8_t *rb, bool f16, size_t i)
{
    if (f16) {
        __m128i a = _mm_loadu_si128((const __m128i *)((const uint16_t *)(const void *)ra + i));
        __m128i b = _mm_loadu_si128((const __m128i *)((const uint16_t *)(const void *)rb + i));
        return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1));
    }
    __m256 a = _mm256_loadu_ps((const float *)(const void *)ra + i);
    __m256 b = _mm256_loadu_ps((const float *)(const void *)rb + i);
    return _mm512_castpd_ps(
        _mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(a)), _mm256_castps_pd(b), 1));
}

ATT512 static inline void
att_tree8x2(__m512 a, float scale, float *out)
{
    __m256 lo = _mm512_castps512_ps256(a);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
    out[0] = att_tree8(lo) * scale;
    out[1] = att_tree8(hi) * scale;
}

/* x[i / 8] = qv[i..i+8) in both halves (the score loops' query registers). */
ATT512 static inline void
att_q8x2(const float *qv, size_t D, __m512 *x)
{
    for (size_t i = 0; i < D; i += 8) {
        __m256 h = _mm256_loadu_ps(qv + i);
        x[i / 8] = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(h)),
                                                       _mm256_castps_pd(h), 1));
    }
}

/* The scores of the 8 rows of one step: att_tree8x2 of each register. */
ATT512 static inline void
att_tree8x2x4(__m512 a0, __m512 a1, __m512 a2, __m512 a3, float scale, float *sc)
{
    att_tree8x2(a0, scale, sc);
    att_tree8x2(a1, scale, sc + 2);
    att_tree8x2(a2, scale, sc + 4);
    att_tree8x2(a3, scale, sc + 6);
}

/* Elements i..i+7 of the 8 cached rows from r (rows rs bytes apart), two
 * rows per register: k[j] holds rows 2j and 2j + 1 (the score loops' order). */
ATT512 static inline void
att_k8(const uint8_t *r, size_t rs, bool f16, size_t i, __m512 k[4])
{
    k[0] = att_ld8x2(r, r + rs, f16, i);
    k[1] = att_ld8x2(r + 2 * rs, r + 3 * rs, f16, i);
    k[2] = att_ld8x2(r + 4 * rs, r + 5 * rs, f16, i);
    k[3] = att_ld8x2(r + 6 * rs, r + 7 * rs, f16, i);
}

ATT512 static void
att_scores_512(const float *qv, const void *k, bool f16, size_t stride, size_t D, size_t np,
               float scale, float *sc)
{
    size_t es = f16 ? 2 : 4, rs = stride * es;
    const uint8_t *kb = k;
    __m512 x[KERN_MAX_HEAD_DIM / 8];
    att_q8x2(qv, D, x);
    const uint8_t *kend = kb + np * rs;
    size_t q = 0;
    for (; q + 8 <= np; q += 8) {
        const uint8_t *r = kb + q * rs;
        if (f16)
            att_pf(r + ATT_PF, kend, 8 * rs);
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t i = 0; i < D; i += 8) {
            __m512 xi = x[i / 8], kr[4];
            att_k8(r, rs, f16, i, kr);
            a0 = _mm512_add_ps(a0, _mm512_mul_ps(xi, kr[0]));
            a1 = _mm512_add_ps(a1, _mm512_mul_ps(xi, kr[1]));
            a2 = _mm512_add_ps(a2, _mm512_mul_ps(xi, kr[2]));
            a3 = _mm512_add_ps(a3, _mm512_mul_ps(xi, kr[3]));
        }
        att_tree8x2x4(a0, a1, a2, a3, scale, sc + q);
    }
    if (q < np)
        att_scores_avx(qv, kb + q * rs, f16, stride, D, np - q, scale, sc + q);
}

ATT512 static inline __m512
att_ld16(const uint8_t *r, bool f16, size_t i)
{
    if (f16)
        return _mm512_cvtph_ps(
            _mm256_loadu_si256((const __m256i *)((const uint16_t *)(const void *)r + i)));
    return _mm512_loadu_ps((const float *)(const void *)r + i);
}

/* One pass of att_accum_512 over NR (a constant 1..8) registers. The loop
 * over registers is unrolled with a constant count so the accumulators stay
 * in registers: a loop over a variable count (or one GCC chose not to
 * unroll) kept them in memory, and each position then waited on a store and
 * a reload per register (~3x slower, measured). */
#define ATT_ACC512(NR)                                                                             \
    for (size_t q = 0; q < np; q++) {                                                              \
        const uint8_t *r = vb + q * rs;                                                            \
        if (f16)                                                                                   \
            att_pf(r + ATT_PF, vend, rs);                                                          \
        __m512 p = _mm512_set1_ps(pr[q]);                                                          \
        _Pragma("GCC unroll 8") for (size_t j = 0; j < (NR); j++) a[j] =                           \
            _mm512_add_ps(a[j], _mm512_mul_ps(p, att_ld16(r, f16, d0 + 16 * j)));                  \
    }

/* Needs D % 16 == 0; up to 128 elements (8 registers) per pass. */
ATT512 static void
att_accum_512(float *acc, const float *pr, const void *v, bool f16, size_t stride, size_t D,
              size_t np)
{
    size_t es = f16 ? 2 : 4, rs = stride * es;
    const uint8_t *vb = v, *vend = vb + np * rs;
    for (size_t d0 = 0; d0 < D; d0 += 128) {
        size_t nr = (D - d0 < 128 ? D - d0 : 128) / 16;
        __m512 a[8];
        _Pragma("GCC unroll 8") for (size_t j = 0; j < 8; j++) a[j] =
            j < nr ? _mm512_loadu_ps(acc + d0 + 16 * j) : _mm512_setzero_ps();
        ATT_BY_NR(ATT_ACC512);
        _Pragma("GCC unroll 8") for (size_t j = 0; j < 8; j++) if (j < nr)
            _mm512_storeu_ps(acc + d0 + 16 * j, a[j]);
    }
}
#undef ATT_ACC512

/* att_scores_512 for two queries: each K register pair is loaded and
 * converted once and multiplied by both; per query the same operations in
 * the same order. The F16 cache (stride D); D % 8 == 0 else two C passes. */
ATT512 static void
att_scores2_512(const float *qv0, const float *qv1, const void *k, bool f16, size_t D, size_t np,
                float scale, float *sc0, float *sc1)
{
    if (D % 8) {
        att_scores_c(qv0, k, f16, D, D, np, scale, sc0);
        att_scores_c(qv1, k, f16, D, D, np, scale, sc1);
        return;
    }
    size_t es = f16 ? 2 : 4, rs = D * es;
    const uint8_t *kb = k;
    __m512 x0[KERN_MAX_HEAD_DIM / 8], x1[KERN_MAX_HEAD_DIM / 8];
    att_q8x2(qv0, D, x0);
    att_q8x2(qv1, D, x1);
    const uint8_t *kend = kb + np * rs;
    size_t q = 0;
    for (; q + 8 <= np; q += 8) {
        const uint8_t *r = kb + q * rs;
        if (f16)
            att_pf(r + ATT_PF, kend, 8 * rs);
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (size_t i = 0; i < D; i += 8) {
            __m512 xa = x0[i / 8], xb = x1[i / 8], kr[4];
            att_k8(r, rs, f16, i, kr);
            a0 = _mm512_add_ps(a0, _mm512_mul_ps(xa, kr[0]));
            b0 = _mm512_add_ps(b0, _mm512_mul_ps(xb, kr[0]));
            a1 = _mm512_add_ps(a1, _mm512_mul_ps(xa, kr[1]));
            b1 = _mm512_add_ps(b1, _mm512_mul_ps(xb, kr[1]));
            a2 = _mm512_add_ps(a2, _mm512_mul_ps(xa, kr[2]));
            b2 = _mm512_add_ps(b2, _mm512_mul_ps(xb, kr[2]));
            a3 = _mm512_add_ps(a3, _mm512_mul_ps(xa, kr[3]));
            b3 = _mm512_add_ps(b3, _mm512_mul_ps(xb, kr[3]));
        }
        att_tree8x2x4(a0, a1, a2, a3, scale, sc0 + q);
        att_tree8x2x4(b0, b1, b2, b3, scale, sc1 + q);
    }
    if (q < np) {
        att_scores_avx(qv0, kb + q * rs, f16, D, D, np - q, scale, sc0 + q);
        att_scores_avx(qv1, kb + q * rs, f16, D, D, np - q, scale, sc1 + q);
    }
}

/* att_accum_512 for two probability rows over the same V rows (16
 * accumulators at most). D % 16 == 0 else each row on its own. */
#define ATT_ACC512X2(NR)                                                                           \
    for (size_t q = 0; q < np; q++) {                                                              \
        const uint8_t *r = vb + q * rs;                                                            \
        if (f16)                                                                                   \
            att_pf(r + ATT_PF, vend, rs);                                                          \
        __m512 p = _mm512_set1_ps(pr0[q]), p1 = _mm512_set1_ps(pr1[q]);                            \
        _Pragma("GCC unroll 8") for (size_t j = 0; j < (NR); j++)                                  \
        {                                                                                          \
            __m512 vv = att_ld16(r, f16, d0 + 16 * j);                                             \
            a[j] = _mm512_add_ps(a[j], _mm512_mul_ps(p, vv));                                      \
            b[j] = _mm512_add_ps(b[j], _mm512_mul_ps(p1, vv));                                     \
        }                                                                                          \
    }

ATT512 static void
att_accum2_512(float *acc0, float *acc1, const float *pr0, const float *pr1, const void *v,
               bool f16, size_t D, size_t np)
{
    if (D % 16) {
        /* a call through a pointer: scripts/check_vzeroupper.py cannot see
         * that it is vector code, so the state is cleared here (costs
         * nothing on this rare path) */
        _mm256_zeroupper();
        att_accum(acc0, pr0, v, f16, D, D, np);
        att_accum(acc1, pr1, v, f16, D, D, np);
        return;
    }
    size_t es = f16 ? 2 : 4, rs = D * es;
    const uint8_t *vb = v, *vend = vb + np * rs;
    for (size_t d0 = 0; d0 < D; d0 += 128) {
        size_t nr = (D - d0 < 128 ? D - d0 : 128) / 16;
        __m512 a[8], b[8];
        _Pragma("GCC unroll 8") for (size_t j = 0; j < 8; j++)
        {
            a[j] = j < nr ? _mm512_loadu_ps(acc0 + d0 + 16 * j) : _mm512_setzero_ps();
            b[j] = j < nr ? _mm512_loadu_ps(acc1 + d0 + 16 * j) : _mm512_setzero_ps();
        }
        ATT_BY_NR(ATT_ACC512X2);
        _Pragma("GCC unroll 8") for (size_t j = 0; j < 8; j++) if (j < nr)
        {
            _mm512_storeu_ps(acc0 + d0 + 16 * j, a[j]);
            _mm512_storeu_ps(acc1 + d0 + 16 * j, b[j]);
        }
    }
}
#undef ATT_ACC512X2

/* Scores of a block of G heads (G % 4 == 0, D % 8 == 0): the rows
 * (position p, head h) in address order, eight at a time (with G = 4, two
 * positions), two rows per register as in att_scores_512, each row's lanes
 * against its own head's query; rows left over (G = 4, np odd) one at a
 * time by att_scores_avx. Per row the operations of att_scores_512 (and
 * att_scores_avx), so the same bits. */
ATT512 static void
att_gscores_512(const float *qv, const void *k, bool f16, size_t G, size_t D, size_t np,
                float scale, float *sc, size_t sc_stride)
{
    size_t es = f16 ? 2 : 4, rs = D * es;
    __m512 xq[ATT_BLOCK_MAX / 2][ATT_BLOCK_DMAX / 8];
    for (size_t h = 0; h < G; h += 2)
        for (size_t i = 0; i < D; i += 8) {
            __m256 a = _mm256_loadu_ps(qv + h * D + i), b = _mm256_loadu_ps(qv + (h + 1) * D + i);
            xq[h / 2][i / 8] = _mm512_castpd_ps(_mm512_insertf64x4(
                _mm512_castps_pd(_mm512_castps256_ps512(a)), _mm256_castps_pd(b), 1));
        }
    size_t nr = np * G, hp = G / 2;
    const uint8_t *kb = k, *kend = kb + nr * rs;
    /* row r0 is (position p, head h), kept without dividing by G: h is a
     * multiple of 4 at each step, so the step's four head pairs from h / 2
     * wrap past hp at most once */
    size_t r0 = 0, p = 0, h = 0;
    for (; r0 + 8 <= nr; r0 += 8) {
        const uint8_t *r = kb + r0 * rs;
        if (f16)
            att_pf(r + ATT_PF, kend, 8 * rs);
        size_t s[4];
        for (size_t j = 0; j < 4; j++)
            s[j] = h / 2 + j < hp ? h / 2 + j : h / 2 + j - hp;
        const __m512 *x0 = xq[s[0]], *x1 = xq[s[1]], *x2 = xq[s[2]], *x3 = xq[s[3]];
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t i = 0; i < D; i += 8) {
            __m512 kr[4];
            att_k8(r, rs, f16, i, kr);
            a0 = _mm512_add_ps(a0, _mm512_mul_ps(x0[i / 8], kr[0]));
            a1 = _mm512_add_ps(a1, _mm512_mul_ps(x1[i / 8], kr[1]));
            a2 = _mm512_add_ps(a2, _mm512_mul_ps(x2[i / 8], kr[2]));
            a3 = _mm512_add_ps(a3, _mm512_mul_ps(x3[i / 8], kr[3]));
        }
        float o[8];
        att_tree8x2x4(a0, a1, a2, a3, scale, o);
        for (size_t t = 0; t < 8; t++) {
            sc[h * sc_stride + p] = o[t];
            if (++h == G) {
                h = 0;
                p++;
            }
        }
    }
    for (; r0 < nr; r0++, h++) /* the last position's rows (G = 4, np odd) */
        att_scores_avx(qv + h * D, kb + r0 * rs, f16, D, D, 1, scale, sc + h * sc_stride + p);
}

/* a·V of a block (D % 16 == 0): acc row h += pr row h [p] * V row (p, h),
 * the rows in address order, so each head's elements take the positions in
 * order with the operations of att_accum_512: the same bits. The G * D
 * accumulators stay in acc (L1; they do not fit in registers). */
ATT512 static void
att_gaccum_512(float *acc, const float *pr, size_t pr_stride, const void *v, bool f16, size_t G,
               size_t D, size_t np)
{
    size_t es = f16 ? 2 : 4, rs = D * es;
    const uint8_t *vb = v, *vend = vb + np * G * rs;
    for (size_t p = 0; p < np; p++) {
        const uint8_t *r0 = vb + p * G * rs;
        if (f16)
            att_pf(r0 + ATT_PF, vend, G * rs);
        for (size_t h = 0; h < G; h++) {
            const uint8_t *r = r0 + h * rs;
            __m512 pp = _mm512_set1_ps(pr[h * pr_stride + p]);
            float *a = acc + h * D;
            for (size_t d = 0; d < D; d += 16)
                _mm512_storeu_ps(a + d, _mm512_add_ps(_mm512_loadu_ps(a + d),
                                                      _mm512_mul_ps(pp, att_ld16(r, f16, d))));
        }
    }
}

ATT512 static void
att_scores_512_any(const float *qv, const void *k, bool f16, size_t stride, size_t D, size_t np,
                   float scale, float *sc)
{
    if (D % 8)
        att_scores_c(qv, k, f16, stride, D, np, scale, sc);
    else
        att_scores_512(qv, k, f16, stride, D, np, scale, sc);
}

ATT512 static void
att_accum_512_any(float *acc, const float *pr, const void *v, bool f16, size_t stride, size_t D,
                  size_t np)
{
    if (D % 16 == 0)
        att_accum_512(acc, pr, v, f16, stride, D, np);
    else if (D % 8 == 0)
        att_accum_avx(acc, pr, v, f16, stride, D, np);
    else
        att_accum_c(acc, pr, v, f16, stride, D, np);
}

/* D % 8 != 0 falls back to the C loops (no padded lanes whose zero sign
 * could differ). */
__attribute__((target("avx,f16c"))) static void
att_scores_avx_any(const float *qv, const void *k, bool f16, size_t stride, size_t D, size_t np,
                   float scale, float *sc)
{
    if (D % 8)
        att_scores_c(qv, k, f16, stride, D, np, scale, sc);
    else
        att_scores_avx(qv, k, f16, stride, D, np, scale, sc);
}

__attribute__((target("avx,f16c"))) static void
att_accum_avx_any(float *acc, const float *pr, const void *v, bool f16, size_t stride, size_t D,
                  size_t np)
{
    if (D % 8)
        att_accum_c(acc, pr, v, f16, stride, D, np);
    else
        att_accum_avx(acc, pr, v, f16, stride, D, np);
}
#endif

void
eng_mat_apply(kern_ctx *c, const eng_mat *w, const float *x, size_t xs, size_t n, float *y,
              size_t ys)
{
    if (w->kind == ENG_MAT_TERNARY) {
        c->acts.n_tok = n;
        c->acts.cols = w->cols;
        kern_quant_acts(c->pool, x, xs, &c->acts);
        if (n == 1)
            kern_tmat_matvec(c->pool, &w->t, &c->acts, y);
        else
            kern_tmat_matmul(c->pool, &w->t, &c->acts, y, ys);
        return;
    }
    if (w->kind == ENG_MAT_INT8) {
        c->acts.n_tok = 1;
        c->acts.cols = w->cols;
        for (size_t t = 0; t < n; t++) {
            kern_quant_acts(c->pool, x + t * xs, xs, &c->acts);
            kern_i8mat_matvec(c->pool, &w->i8, &c->acts, y + t * ys);
        }
        return;
    }
    ARIA_ASSERT(w->kind == ENG_MAT_FLOAT);
    for (size_t t = 0; t < n; t++) {
        float *yt = y + t * ys;
        kern_fmat_matvec(c->pool, &w->f, x + t * xs, yt);
        if (w->post_scale != 1.0f)
            for (size_t r = 0; r < w->rows; r++)
                yt[r] *= w->post_scale;
    }
}

/* Several projections of the same input x (q/k/v, gate/up): when all are
 * ternary, the input is quantized once and every matrix runs in one pool run
 * (kern_tmat_matmul_n: the matvec kernel for one token, the batched matmul
 * for a prompt chunk). Same kernels per output row as eng_mat_apply, so the
 * results are identical. */
static void
eng_mat_apply_n(kern_ctx *c, const eng_mat *const *w, size_t n_mats, const float *x, size_t xs,
                size_t n, float *const *y, const size_t *ys)
{
    bool fused = n_mats <= 8;
    for (size_t i = 0; i < n_mats && fused; i++)
        fused =
            w[i]->kind == ENG_MAT_TERNARY && w[i]->cols == w[0]->cols && (n == 1 || ys[i] == ys[0]);
    if (!fused) {
        for (size_t i = 0; i < n_mats; i++)
            eng_mat_apply(c, w[i], x, xs, n, y[i], ys[i]);
        return;
    }
    const kern_tmat *tm[8];
    for (size_t i = 0; i < n_mats; i++)
        tm[i] = &w[i]->t;
    c->acts.n_tok = n;
    c->acts.cols = w[0]->cols;
    kern_quant_acts(c->pool, x, xs, &c->acts);
    kern_tmat_matmul_n(c->pool, tm, n_mats, &c->acts, y, ys[0]);
}

/* Decode: each worker thread, once its share of the coming run is done,
 * fetches the start of its own range in the run after it (given by w):
 * while the calling thread does the serial steps between runs (norms, rope,
 * the activation), the memory system would otherwise idle. Up to
 * KERN_POOL_HINT_BYTES per thread. */
static void
hint_next(kern_ctx *c, const eng_mat *const *w, size_t n)
{
    int nth = kern_pool_threads(c->pool);
    if (nth <= 1 || n > 8)
        return;
    const kern_tmat *tm[8];
    for (size_t i = 0; i < n; i++) {
        if (w[i]->kind != ENG_MAT_TERNARY && !(n == 1 && w[i]->kind == ENG_MAT_INT8))
            return;
        tm[i] = &w[i]->t;
    }
    for (size_t t = 1; t < (size_t)nth; t++) {
        size_t len = 0;
        const void *a = w[0]->kind == ENG_MAT_INT8
                            ? kern_i8mat_range_start(c->pool, &w[0]->i8, t, &len)
                            : kern_tmat_range_start(c->pool, tm, n, t, &len);
        kern_pool_hint_next(c->pool, t, a, len < KERN_POOL_HINT_BYTES ? len : KERN_POOL_HINT_BYTES);
    }
}

/* Rotate one head vector in place at position p. */
static void
rope(const kern_ctx *c, float *v, uint32_t p)
{
    const kern_model_info *I = &c->m->info;
    size_t half = I->n_rot / 2;
    const float *cs = c->rope_cos + (size_t)p * half, *sn = c->rope_sin + (size_t)p * half;
    size_t i = 0;
#if defined(__SSE2__)
    /* NeoX pairs (i, i + half) are two contiguous runs: four pairs per step,
     * the same float multiplies and add/sub per element as the loop below. */
    if (I->rope_neox)
        for (; i + 4 <= half; i += 4) {
            __m128 x0 = _mm_loadu_ps(v + i), x1 = _mm_loadu_ps(v + i + half);
            __m128 c4 = _mm_loadu_ps(cs + i), s4 = _mm_loadu_ps(sn + i);
            _mm_storeu_ps(v + i, _mm_sub_ps(_mm_mul_ps(x0, c4), _mm_mul_ps(x1, s4)));
            _mm_storeu_ps(v + i + half, _mm_add_ps(_mm_mul_ps(x0, s4), _mm_mul_ps(x1, c4)));
        }
#endif
    for (; i < half; i++) {
        size_t i0 = I->rope_neox ? i : 2 * i, i1 = I->rope_neox ? i + half : 2 * i + 1;
        float x0 = v[i0], x1 = v[i1];
        v[i0] = x0 * cs[i] - x1 * sn[i];
        v[i1] = x0 * sn[i] + x1 * cs[i];
    }
}

typedef struct att_job {
    kern_ctx *c;
    uint32_t layer;
    size_t n;    /* tokens in the chunk */
    uint32_t p0; /* position of token 0 */
    bool pairs;  /* att_pair over heads 2u, 2u + 1 (see att_task) */
    bool blocks; /* att_block over the heads of KV block u (see att_task) */
    _Atomic size_t next_head;
    /* pairs, blocks: units not yet claimed are [low 32 bits, high 32 bits) */
    _Atomic uint64_t pair_ends;
} att_job;

/* One (token, head) pair: scores over positions 0..p, softmax, ·V. With an
 * F16 cache, kf/vf hold this head's K/V rows already converted to float
 * (D apart), or are NULL to read the halves here; same values either way. */
/* Element offset of (layer, kv head, position) in the cache
 * [layer][kv head / G][position][kv head % G][head_dim], G = kv_group: with
 * G = 1 each head's rows are one contiguous run; with G > 1 a position's
 * rows of a block of G heads sit side by side, so one thread attending to
 * the block's heads reads ONE stream (att_block) instead of 2G short ones,
 * which the prefetchers barely follow (docs/performance.md, eleventh
 * round). */
static inline size_t
kv_off(const kern_ctx *c, size_t layer, size_t kvh, size_t pos)
{
    size_t G = c->kv_group;
    return layer * c->kv_layer_elems +
           ((kvh / G * (size_t)c->o.n_ctx + pos) * G + kvh % G) * c->m->info.head_dim;
}

/* Elements from one of a head's cached rows to the next position's. */
static inline size_t
kv_stride(const kern_ctx *c)
{
    return c->kv_group * c->m->info.head_dim;
}

/* Whether decode takes the block loops (att_block) for blocks of G heads
 * of this model; otherwise a blocked cache is read head by head, rows
 * G * head_dim apart. */
static bool
att_blocks_take(const kern_model_info *I, size_t G)
{
    return att_gscores && G > 1 && G % 4 == 0 && G <= ATT_BLOCK_MAX && I->n_head == I->n_head_kv &&
           I->head_dim % 16 == 0 && I->head_dim <= ATT_BLOCK_DMAX;
}

size_t
eng_kv_group_auto(const kern_model_info *I, int n_threads)
{
    pthread_once(&h2f_once, h2f_tab_build);
    size_t nth = n_threads > 1 ? (size_t)n_threads : 1;
    /* the largest block size that leaves a block per thread (for two
     * threads, blocks of 4 claimed two per thread for balance measured even
     * with one block of 8 each: docs/performance.md, eleventh round) */
    for (size_t G = 8; G >= 4; G /= 2)
        if (att_blocks_take(I, G) && I->n_head_kv % G == 0 && I->n_head_kv / G >= nth)
            return G;
    return 1;
}

/* Query head h's vector qs copied into qv (rounded to F16 with an F16
 * cache); *k0, *v0 = the first cached K and V rows of its KV head in layer
 * `layer`. With pf, their first ATT_PF bytes are fetched (the loops fetch
 * ahead only from there). */
static void
att_head_start(const kern_ctx *c, uint32_t layer, size_t h, const float *qs, size_t np, bool pf,
               float *qv, const uint8_t **k0, const uint8_t **v0)
{
    const kern_model_info *I = &c->m->info;
    size_t D = I->head_dim, kvh = h / (I->n_head / I->n_head_kv);
    bool f16 = c->o.kv_type == KERN_KV_F16;
    ARIA_ASSERT(D <= KERN_MAX_HEAD_DIM); /* checked at load */
    memcpy(qv, qs, D * sizeof(float));
    if (f16)
        round_f16_row(qv, D);
    size_t base = kv_off(c, layer, kvh, 0), es = f16 ? sizeof(uint16_t) : sizeof(float);
    *k0 = (const uint8_t *)c->kv_k + base * es;
    *v0 = (const uint8_t *)c->kv_v + base * es;
    if (pf) {
        att_pf(*k0, *k0 + np * kv_stride(c) * es, ATT_PF);
        att_pf(*v0, *v0 + np * kv_stride(c) * es, ATT_PF);
    }
}

/* Scores to probabilities: softmax, then rounded to F16 with an F16 cache. */
static void
att_probs(const kern_ctx *c, float *sc, size_t np)
{
    softmax_row(sc, np);
    if (c->o.kv_type == KERN_KV_F16)
        round_f16_row(sc, np);
}

static void
att_one(const att_job *j, size_t t, size_t h, float *sc, const float *kf, const float *vf)
{
    kern_ctx *c = j->c;
    const kern_model_info *I = &c->m->info;
    size_t D = I->head_dim, nq = (size_t)I->n_head * D;
    size_t np = (size_t)(j->p0 + (uint32_t)t) + 1;
    bool f16 = c->o.kv_type == KERN_KV_F16;
    float qv[KERN_MAX_HEAD_DIM];
    const uint8_t *k0, *v0;
    att_head_start(c, j->layer, h, c->q + t * nq + h * D, np, !kf, qv, &k0, &v0);
    float kq_scale = 1.0f / sqrtf((float)D);
    if (kf)
        att_scores(qv, kf, false, D, D, np, kq_scale, sc);
    else
        att_scores(qv, k0, f16, kv_stride(c), D, np, kq_scale, sc);
    att_probs(c, sc, np);
    /* Accumulate in a local array (out of memory that might alias the
     * cache), same order per element: positions 0 up. */
    float acc[KERN_MAX_HEAD_DIM];
    for (size_t d = 0; d < D; d++)
        acc[d] = 0.0f;
    if (vf)
        att_accum(acc, sc, vf, false, D, D, np);
    else
        att_accum(acc, sc, v0, f16, kv_stride(c), D, np);
    memcpy(c->att + t * nq + h * D, acc, D * sizeof(float));
}

/* Decode, query heads h and h + 1 of the same KV head (grouped-query
 * attention): att_one's steps for both, with one pass over the K rows and
 * one over the V rows instead of two each. sc0, sc1: n_ctx floats each. */
static void
att_pair(const att_job *j, size_t h, float *sc0, float *sc1)
{
    kern_ctx *c = j->c;
    size_t D = c->m->info.head_dim, np = (size_t)j->p0 + 1;
    bool f16 = c->o.kv_type == KERN_KV_F16;
    float qv0[KERN_MAX_HEAD_DIM], qv1[KERN_MAX_HEAD_DIM];
    ARIA_ASSERT(j->n == 1 && c->kv_group == 1); /* the paired loops read rows D apart */
    const uint8_t *k0, *v0;
    att_head_start(c, j->layer, h, c->q + h * D, np, true, qv0, &k0, &v0);
    att_head_start(c, j->layer, h + 1, c->q + (h + 1) * D, np, false, qv1, &k0, &v0);
    float kq_scale = 1.0f / sqrtf((float)D);
    att_scores2(qv0, qv1, k0, f16, D, np, kq_scale, sc0, sc1);
    att_probs(c, sc0, np);
    att_probs(c, sc1, np);
    float acc0[KERN_MAX_HEAD_DIM], acc1[KERN_MAX_HEAD_DIM];
    for (size_t d = 0; d < D; d++)
        acc0[d] = acc1[d] = 0.0f;
    att_accum2(acc0, acc1, sc0, sc1, v0, f16, D, np);
    memcpy(c->att + h * D, acc0, D * sizeof(float));
    memcpy(c->att + (h + 1) * D, acc1, D * sizeof(float));
}

/* KV heads [h0, h1) of token t at position p of layer l: k rotated in
 * place, then its K and V rows written into the cache. */
static void
new_rows(kern_ctx *c, uint32_t l, size_t t, uint32_t p, size_t h0, size_t h1)
{
    const kern_model_info *I = &c->m->info;
    size_t D = I->head_dim, nkv = (size_t)I->n_head_kv * D;
    bool f16 = c->o.kv_type == KERN_KV_F16;
    for (size_t h = h0; h < h1; h++)
        rope(c, c->k + t * nkv + h * D, p);
    for (size_t h = h0; h < h1; h++) {
        size_t off = kv_off(c, l, h, p);
        const float *ks = c->k + t * nkv + h * D, *vs = c->v + t * nkv + h * D;
        if (f16) {
            f2h_row(ks, (uint16_t *)c->kv_k + off, D);
            f2h_row(vs, (uint16_t *)c->kv_v + off, D);
        } else {
            memcpy((float *)c->kv_k + off, ks, D * sizeof(float));
            memcpy((float *)c->kv_v + off, vs, D * sizeof(float));
        }
    }
}

/* Decode, the heads of KV block b (kv_group G heads, one query head each):
 * att_one's steps for all of them, with one pass over the block's K rows
 * and one over its V rows. sc: G rows of n_ctx floats. */
static void
att_block(const att_job *j, size_t b, float *sc)
{
    kern_ctx *c = j->c;
    size_t D = c->m->info.head_dim, G = c->kv_group, np = (size_t)j->p0 + 1, N = c->o.n_ctx;
    bool f16 = c->o.kv_type == KERN_KV_F16;
    size_t es = f16 ? sizeof(uint16_t) : sizeof(float);
    ARIA_ASSERT(j->n == 1 && G <= ATT_BLOCK_MAX && D <= ATT_BLOCK_DMAX);
    float qv[ATT_BLOCK_MAX * ATT_BLOCK_DMAX], acc[ATT_BLOCK_MAX * ATT_BLOCK_DMAX];
    /* this token's rows of the block: rotated and written by the thread
     * that reads them next, as one contiguous run per K and V */
    for (size_t h = b * G; h < (b + 1) * G; h++)
        rope(c, c->q + h * D, j->p0);
    new_rows(c, j->layer, 0, j->p0, b * G, (b + 1) * G);
    memcpy(qv, c->q + b * G * D, G * D * sizeof(float));
    if (f16)
        round_f16_row(qv, G * D);
    size_t base = kv_off(c, j->layer, b * G, 0);
    const uint8_t *k0 = (const uint8_t *)c->kv_k + base * es;
    const uint8_t *v0 = (const uint8_t *)c->kv_v + base * es;
    att_pf(k0, k0 + np * G * D * es, ATT_PF);
    att_pf(v0, v0 + np * G * D * es, ATT_PF);
    att_gscores(qv, k0, f16, G, D, np, 1.0f / sqrtf((float)D), sc, N);
    for (size_t h = 0; h < G; h++)
        att_probs(c, sc + h * N, np);
    memset(acc, 0, G * D * sizeof(float));
    att_gaccum(acc, sc, N, v0, f16, G, D, np);
    memcpy(c->att + b * G * D, acc, G * D * sizeof(float));
}

/* Each task claims heads in turn until none is left (a head is a few us of
 * work at decode; a fixed share per task left one thread waiting for the
 * other whenever their shares ran at different speeds) and uses its own
 * scratch slot `task`. For a chunk of several tokens with an F16 cache it
 * converts the head's K/V rows once into its float scratch (instead of once
 * per token). Which task computes a head never changes its values. */
static void
att_task(void *ctx, size_t task, size_t n_tasks)
{
    (void)n_tasks;
    att_job *j = ctx;
    kern_ctx *c = j->c;
    const kern_model_info *I = &c->m->info;
    size_t H = I->n_head, D = I->head_dim;
    size_t P = (size_t)j->p0 + j->n; /* cached positions after this chunk */
    float *sc = c->scores + task * c->scores_rows * (size_t)c->o.n_ctx;
    bool conv = c->o.kv_type == KERN_KV_F16 && j->n > 1;
    float *kf = conv ? c->kvf + task * 2 * (size_t)c->o.n_ctx * D : NULL;
    float *vf = conv ? kf + (size_t)c->o.n_ctx * D : NULL;
    if (j->pairs || j->blocks) {
        /* Decode with grouped-query attention: heads two at a time; with a
         * blocked cache: a block of heads at a time. Even tasks claim units
         * from the front, odd ones from the back: the pairs of one KV head
         * are neighbours, so with two threads at most one KV head's rows are
         * read by both, and a head's second pair finds its K and V rows in
         * this core's cache (each head was read by both threads when they
         * claimed pairs in turn from the front). */
        bool back = task % 2 == 1;
        uint64_t e = atomic_load_explicit(&j->pair_ends, memory_order_relaxed);
        for (;;) {
            uint64_t lo = e & 0xffffffffu, hi = e >> 32;
            if (lo >= hi)
                break;
            uint64_t ne = back ? lo | (hi - 1) << 32 : (lo + 1) | hi << 32;
            if (!atomic_compare_exchange_weak_explicit(&j->pair_ends, &e, ne, memory_order_relaxed,
                                                       memory_order_relaxed))
                continue;
            size_t u = (size_t)(back ? hi - 1 : lo);
            if (j->blocks)
                att_block(j, u, sc);
            else
                att_pair(j, 2 * u, sc, sc + c->o.n_ctx);
            e = atomic_load_explicit(&j->pair_ends, memory_order_relaxed);
        }
        return;
    }
    for (;;) {
        size_t h = atomic_fetch_add_explicit(&j->next_head, 1, memory_order_relaxed);
        if (h >= H)
            break;
        if (conv) {
            size_t kvh = h / (I->n_head / I->n_head_kv);
            size_t base = kv_off(c, j->layer, kvh, 0), st = kv_stride(c);
            if (st == D) { /* one run */
                h2f_row((const uint16_t *)c->kv_k + base, kf, P * D);
                h2f_row((const uint16_t *)c->kv_v + base, vf, P * D);
            } else {
                for (size_t p = 0; p < P; p++) {
                    h2f_row((const uint16_t *)c->kv_k + base + p * st, kf + p * D, D);
                    h2f_row((const uint16_t *)c->kv_v + base + p * st, vf + p * D, D);
                }
            }
        }
        for (size_t t = 0; t < j->n; t++)
            att_one(j, t, h, sc, kf, vf);
    }
}

/* g = silu(g) * u over c->gate / c->up: split over the pool (SiLU is a
 * double-precision exp per element, ~10 us for a 4096-wide decode row on
 * the calling thread while the others wait). Element-wise, so any split
 * gives the same values. */
typedef struct silu_job {
    kern_ctx *c;
    size_t n;
} silu_job;

static void
silu_task(void *ctx, size_t task, size_t n_tasks)
{
    const silu_job *j = ctx;
    size_t i0 = j->n * task / n_tasks / 16 * 16;
    size_t i1 = task + 1 == n_tasks ? j->n : j->n * (task + 1) / n_tasks / 16 * 16;
    if (i1 > i0)
        kern_m_silu_mul_row(j->c->gate + i0, j->c->up + i0, i1 - i0);
}

static void
silu_mul_split(kern_ctx *c, size_t n)
{
    silu_job j = {.c = c, .n = n};
    size_t nth = (size_t)kern_pool_threads(c->pool);
    kern_pool_run(n >= 1024 ? c->pool : NULL, silu_task, &j, n >= 1024 ? nth : 1);
}

static void
embed(const kern_model *m, int32_t id, float *x)
{
    const kern_gguf_tensor *te = &m->tok_embd;
    size_t E = m->info.n_embd;
    size_t rb = kern_wtype_row_bytes(te->type, E);
    kern_dequant_row(te->type, (const uint8_t *)te->data + (size_t)id * rb, x, E, 0.0f);
}

void
eng_forward_chunk(kern_ctx *c, const int32_t *ids, size_t n, float *logits)
{
    const kern_model *m = c->m;
    const kern_model_info *I = &m->info;
    size_t E = I->n_embd, F = I->n_ff, D = I->head_dim, nq = (size_t)I->n_head * D,
           nkv = (size_t)I->n_head_kv * D, W = c->width;
    float eps = I->norm_eps;
    uint32_t p0 = c->pos;
    bool f16 = c->o.kv_type == KERN_KV_F16;
    pthread_once(&h2f_once, h2f_tab_build); /* tables and attention loops */

    for (size_t t = 0; t < n; t++)
        embed(m, ids[t], c->x + t * E);

/* The pool runs that follow belong to this step (ARIA_POOL_STATS builds). */
#define SITE(name) kern_pool_site(c->pool, n == 1 ? "decode " name : "prompt " name)
    for (uint32_t l = 0; l < I->n_layer; l++) {
        const eng_layer *y = &m->layers[l];
        SITE("qkv");
        rmsnorm_rows(c->x, E, y->attn_norm, E, eps, c->xn, W, n);
        /* Decode: what the calling thread reads after each run (the run's
         * outputs that other threads wrote, the next norm's weights) is
         * prefetched while it waits for the others' last rows. */
        const float *next_norm = l + 1 < I->n_layer ? m->layers[l + 1].attn_norm : m->output_norm;
        if (n == 1) {
            kern_pool_prefetch_after(c->pool, c->q, nq * sizeof(float));
            kern_pool_prefetch_after(c->pool, c->k, nkv * sizeof(float));
            kern_pool_prefetch_after(c->pool, c->v, nkv * sizeof(float));
            kern_pool_prefetch_after(c->pool, c->rope_cos + (size_t)p0 * (I->n_rot / 2),
                                     I->n_rot / 2 * sizeof(float));
        }
        {
            const eng_mat *ws[3] = {&y->wq, &y->wk, &y->wv};
            float *ys[3] = {c->q, c->k, c->v};
            size_t st[3] = {nq, nkv, nkv};
            if (nq == nkv || n == 1) {
                eng_mat_apply_n(c, ws, 3, c->xn, W, n, ys, st);
            } else { /* GQA prefill: q rows are longer; k and v share one run */
                eng_mat_apply(c, &y->wq, c->xn, W, n, c->q, nq);
                eng_mat_apply_n(c, ws + 1, 2, c->xn, W, n, ys + 1, st + 1);
            }
        }
        /* Decode with two or more query heads per KV head (an even count):
         * pairs of heads share one pass over their K and V rows. */
        size_t G = c->kv_group;
        bool pairs = n == 1 && att_scores2 && G == 1 && I->n_head_kv < I->n_head &&
                     (I->n_head / I->n_head_kv) % 2 == 0;
        /* Decode with a blocked cache (see kv_off): a block of heads per
         * unit where the block loops take it, else heads one at a time
         * reading rows G * D apart. */
        bool blocks = n == 1 && att_blocks_take(I, G);
        /* Decode: this token's cache rows, fetched while q is rotated (when
         * they were fetched before the q/k/v run, that run's weight stream
         * had evicted them again by the time they were written). */
        if (n == 1 && !blocks)
            for (size_t h = 0; h < I->n_head_kv; h++) {
                size_t off = kv_off(c, l, h, p0), es = f16 ? 2 : 4;
                const uint8_t *kr = (const uint8_t *)c->kv_k + off * es;
                const uint8_t *vr = (const uint8_t *)c->kv_v + off * es;
                att_pf(kr, kr + D * es, D * es);
                att_pf(vr, vr + D * es, D * es);
            }
        /* (with blocks, each block's task does these for its heads) */
        for (size_t t = 0; t < n && !blocks; t++) {
            uint32_t p = p0 + (uint32_t)t;
            for (size_t h = 0; h < I->n_head; h++)
                rope(c, c->q + t * nq + h * D, p);
            new_rows(c, l, t, p, 0, I->n_head_kv);
        }
        att_job aj = {.c = c, .layer = l, .n = n, .p0 = p0, .pairs = pairs, .blocks = blocks};
        size_t units = pairs ? I->n_head / 2 : blocks ? I->n_head / G : I->n_head;
        atomic_init(&aj.next_head, 0);
        atomic_init(&aj.pair_ends, (uint64_t)units << 32);
        size_t n_tasks = c->n_att_slots;
        if (n_tasks > units)
            n_tasks = units;
        if (n == 1) {
            kern_pool_prefetch_after(c->pool, c->att, nq * sizeof(float));
            if (y->attn_sub_norm)
                kern_pool_prefetch_after(c->pool, y->attn_sub_norm, nq * sizeof(float));
            const eng_mat *nx[1] = {&y->wo};
            hint_next(c, nx, 1);
        }
        SITE("attention");
        kern_pool_run(c->pool, att_task, &aj, n_tasks);

        const float *ain = c->att;
        size_t ais = nq;
        if (y->attn_sub_norm) {
            rmsnorm_rows(c->att, nq, y->attn_sub_norm, nq, eps, c->xn, W, n);
            ain = c->xn;
            ais = W;
        }
        if (n == 1) {
            kern_pool_prefetch_after(c->pool, c->out, E * sizeof(float));
            kern_pool_prefetch_after(c->pool, y->ffn_norm, E * sizeof(float));
            const eng_mat *nx[2] = {&y->wgate, &y->wup};
            hint_next(c, nx, 2);
        }
        SITE("o");
        eng_mat_apply(c, &y->wo, ain, ais, n, c->out, W);
        for (size_t t = 0; t < n; t++)
            add_row(c->x + t * E, c->out + t * W, E);

        rmsnorm_rows(c->x, E, y->ffn_norm, E, eps, c->xn, W, n);
        {
            const eng_mat *ws[2] = {&y->wgate, &y->wup};
            float *ys[2] = {c->gate, c->up};
            size_t st[2] = {F, F};
            if (n == 1) {
                kern_pool_prefetch_after(c->pool, c->gate, F * sizeof(float));
                kern_pool_prefetch_after(c->pool, c->up, F * sizeof(float));
                if (y->ffn_sub_norm)
                    kern_pool_prefetch_after(c->pool, y->ffn_sub_norm, F * sizeof(float));
                const eng_mat *nx[1] = {&y->wdown};
                hint_next(c, nx, 1);
            }
            SITE("gate_up");
            eng_mat_apply_n(c, ws, 2, c->xn, W, n, ys, st);
        }
        SITE("activation");
        if (I->arch == KERN_ARCH_BITNET_B158) {
            relu2_mul_row(c->gate, c->up, n * F);
        } else {
            silu_mul_split(c, n * F);
        }
        const float *fin = c->gate;
        size_t fis = F;
        if (y->ffn_sub_norm) {
            rmsnorm_rows(c->gate, F, y->ffn_sub_norm, F, eps, c->xn, W, n);
            fin = c->xn;
            fis = W;
        }
        if (n == 1) {
            kern_pool_prefetch_after(c->pool, c->out, E * sizeof(float));
            kern_pool_prefetch_after(c->pool, next_norm, E * sizeof(float));
            if (l + 1 < I->n_layer) {
                const eng_layer *yn = &m->layers[l + 1];
                const eng_mat *nx[3] = {&yn->wq, &yn->wk, &yn->wv};
                hint_next(c, nx, 3);
            } else if (logits) {
                const eng_mat *nx[1] = {&m->head};
                hint_next(c, nx, 1);
            }
        }
        SITE("down");
        eng_mat_apply(c, &y->wdown, fin, fis, n, c->out, W);
        for (size_t t = 0; t < n; t++)
            add_row(c->x + t * E, c->out + t * W, E);
    }
    if (!logits)
        return;
    rmsnorm(c->x + (n - 1) * E, m->output_norm, E, eps, c->xn);
    /* llama.cpp rounds the hidden state to fp16 before an F16 head. */
    if (m->head.kind == ENG_MAT_FLOAT && m->head.f.type == KERN_FT_F16)
        for (size_t i = 0; i < E; i++)
            c->xn[i] = round_f16(c->xn[i]);
    SITE("head");
    eng_mat_apply(c, &m->head, c->xn, W, 1, logits, I->n_vocab);
#undef SITE
}
