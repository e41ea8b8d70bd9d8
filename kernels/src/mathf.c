/*
 * mathf.c — the engine's own transcendental functions (exp, log, sin/cos)
 * and the activation functions built on them.
 *
 * Why our own: libm results may differ between C libraries, versions and
 * CPUs, and the engine promises bit-identical logits on every node. These
 * use only IEEE double +, -, *, / (no FMA contraction: the build uses ISO C
 * and this file is also compiled with -ffp-contract=off), integer bit
 * manipulation, and fixed polynomial evaluation orders, so every conforming
 * x86-64 (or other IEEE) machine computes the same bits.
 *
 * Accuracy: a few ulp of double, i.e. the float results are correctly rounded
 * in nearly all cases. Domains: exp any double; log x > 0 (else NaN / -inf);
 * sincos |x| < 2^20 * pi/2 keeps full accuracy (rope angles are far below).
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "kern_cpu.h"
#include "model_int.h"

static double
bits_to_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static uint64_t
double_to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* Nearest integer (ties away from zero) of |x| < 2^31. */
static int64_t
round_nearest(double x)
{
    return (int64_t)(x >= 0 ? x + 0.5 : x - 0.5);
}

/* 2^k for any k, applied in at most two exact-power steps. */
static double
scale_pow2(double p, int64_t k)
{
    while (k > 1023) {
        p *= bits_to_double((uint64_t)(1023 + 1023) << 52);
        k -= 1023;
    }
    while (k < -1022) {
        p *= bits_to_double((uint64_t)(1023 - 1022) << 52);
        k += 1022;
    }
    return p * bits_to_double((uint64_t)(k + 1023) << 52);
}

static const double LN2_HI = 6.93147180369123816490e-01; /* upper bits, k*LN2_HI exact */
static const double LN2_LO = 1.90821492927058770002e-10;
static const double INV_LN2 = 1.44269504088896338700e+00;

double
kern_m_exp(double x)
{
    if (x != x)
        return x;
    if (x > 709.782712893384)
        return bits_to_double(0x7ff0000000000000ull);
    if (x < -745.2)
        return 0.0;
    int64_t k = round_nearest(x * INV_LN2);
    double kd = (double)k;
    double r = (x - kd * LN2_HI) - kd * LN2_LO; /* |r| <= ~0.347 */
    /* Taylor series to r^14 (term < 2e-18 relative), Horner from the top. */
    double p = 1.0 / 87178291200.0; /* 1/14! */
    p = p * r + 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return scale_pow2(p, k);
}

double
kern_m_log(double x)
{
    if (x != x || x < 0)
        return bits_to_double(0x7ff8000000000000ull);
    if (x == 0)
        return -bits_to_double(0x7ff0000000000000ull);
    uint64_t b = double_to_bits(x);
    if (b >= 0x7ff0000000000000ull)
        return x; /* +inf */
    int64_t e = 0;
    if ((b >> 52) == 0) { /* subnormal: normalise */
        x *= bits_to_double((uint64_t)(1023 + 54) << 52);
        b = double_to_bits(x);
        e -= 54;
    }
    e += (int64_t)(b >> 52) - 1022;
    /* m in [0.5, 1) */
    double m = bits_to_double((b & 0x000fffffffffffffull) | 0x3fe0000000000000ull);
    if (m < 0.70710678118654752440) {
        m *= 2.0;
        e -= 1;
    }
    /* log(m) = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.1716 */
    double s = (m - 1.0) / (m + 1.0);
    double s2 = s * s;
    double t = 1.0 / 23.0;
    t = t * s2 + 1.0 / 21.0;
    t = t * s2 + 1.0 / 19.0;
    t = t * s2 + 1.0 / 17.0;
    t = t * s2 + 1.0 / 15.0;
    t = t * s2 + 1.0 / 13.0;
    t = t * s2 + 1.0 / 11.0;
    t = t * s2 + 1.0 / 9.0;
    t = t * s2 + 1.0 / 7.0;
    t = t * s2 + 1.0 / 5.0;
    t = t * s2 + 1.0 / 3.0;
    t = t * s2 + 1.0;
    double lm = 2.0 * s * t;
    double ed = (double)e;
    return ed * LN2_HI + (ed * LN2_LO + lm);
}

double
kern_m_pow(double base, double ex)
{
    return kern_m_exp(ex * kern_m_log(base));
}

/* pi/2 split in three parts of 33 bits each (fdlibm's constants). */
static const double PIO2_1 = 1.57079632673412561417e+00;
static const double PIO2_2 = 6.07710050630396597660e-11;
static const double PIO2_3 = 2.02226624871116645580e-21;
static const double INV_PIO2 = 6.36619772367581382433e-01;

static void
sincos_kernel(double r, double *s, double *c)
{
    double r2 = r * r;
    /* sin r = r (1 - r^2/3! + ... - r^20/21!) */
    double ps = 1.0 / 51090942171709440000.0; /* 1/21! */
    ps = ps * r2 - 1.0 / 121645100408832000.0;
    ps = ps * r2 + 1.0 / 355687428096000.0;
    ps = ps * r2 - 1.0 / 1307674368000.0;
    ps = ps * r2 + 1.0 / 6227020800.0;
    ps = ps * r2 - 1.0 / 39916800.0;
    ps = ps * r2 + 1.0 / 362880.0;
    ps = ps * r2 - 1.0 / 5040.0;
    ps = ps * r2 + 1.0 / 120.0;
    ps = ps * r2 - 1.0 / 6.0;
    ps = ps * r2 + 1.0;
    *s = r * ps;
    double pc = 1.0 / 2432902008176640000.0; /* 1/20! */
    pc = pc * r2 - 1.0 / 6402373705728000.0;
    pc = pc * r2 + 1.0 / 20922789888000.0;
    pc = pc * r2 - 1.0 / 87178291200.0;
    pc = pc * r2 + 1.0 / 479001600.0;
    pc = pc * r2 - 1.0 / 3628800.0;
    pc = pc * r2 + 1.0 / 40320.0;
    pc = pc * r2 - 1.0 / 720.0;
    pc = pc * r2 + 1.0 / 24.0;
    pc = pc * r2 - 0.5;
    pc = pc * r2 + 1.0;
    *c = pc;
}

void
kern_m_sincos(double x, double *s, double *c)
{
    if (x != x) {
        *s = *c = x;
        return;
    }
    int64_t k = round_nearest(x * INV_PIO2);
    double kd = (double)k;
    double r = x - kd * PIO2_1;
    r -= kd * PIO2_2;
    r -= kd * PIO2_3;
    double sr, cr;
    sincos_kernel(r, &sr, &cr);
    switch ((unsigned)(k & 3)) {
    case 0: *s = sr, *c = cr; break;
    case 1: *s = cr, *c = -sr; break;
    case 2: *s = -sr, *c = -cr; break;
    default: *s = -cr, *c = sr; break;
    }
}

float
kern_m_expf(float x)
{
    return (float)kern_m_exp((double)x);
}

float
kern_m_silu(float x)
{
    return (float)((double)x / (1.0 + kern_m_exp(-(double)x)));
}

/* ------------------------------------------------------------------ */
/* Rows: the same functions four at a time with AVX2 (no FMA)           */
/* ------------------------------------------------------------------ */

/* The AVX2 versions repeat kern_m_exp's steps lane by lane with the same
 * IEEE double operations in the same order (round half away from zero,
 * Cody-Waite reduction, the same Horner polynomial, one exact power-of-two
 * multiply), so they return the same bits. They take only lanes with
 * |x| <= 700 (where 2^k is one normal power and no special case applies);
 * any group of 4 holding another value (or NaN) goes through the scalar
 * functions. */

static void
silu_mul_row_c(float *g, const float *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] = kern_m_silu(g[i]) * u[i];
}

static void
expf_row_c(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = kern_m_expf(x[i]);
}

#if defined(__x86_64__)
#include <immintrin.h>

/* kern_m_exp's Horner coefficients, 1/14! down to 1, for the SIMD rows. */
static const double exp_c[15] = {1.0 / 87178291200.0,
                                 1.0 / 6227020800.0,
                                 1.0 / 479001600.0,
                                 1.0 / 39916800.0,
                                 1.0 / 3628800.0,
                                 1.0 / 362880.0,
                                 1.0 / 40320.0,
                                 1.0 / 5040.0,
                                 1.0 / 720.0,
                                 1.0 / 120.0,
                                 1.0 / 24.0,
                                 1.0 / 6.0,
                                 0.5,
                                 1.0,
                                 1.0};

/* AVX_CLEAN: the row functions below call the plain C functions (for a
 * group with a lane out of range, and for the tail). That C code is legacy
 * SSE, and legacy SSE run while the upper halves of the vector registers
 * are dirty is ~3x slower on this Zen 5 (an rmsnorm of 4096 floats: 8.8 k
 * instead of 2.7 k TSC cycles). GCC 12 emits no vzeroupper before those
 * calls (nor before the tail call at the end), and the dirty state then
 * outlived the row into the caller's next serial steps, so each call is
 * preceded by an explicit _mm256_zeroupper(). */

/* exp of 4 doubles, each |x| <= 700 (caller checks). */
__attribute__((target("avx2"))) static inline __m256d
exp_pd4(__m256d x)
{
    __m256d zero = _mm256_setzero_pd(), half = _mm256_set1_pd(0.5);
    __m256d t = _mm256_mul_pd(x, _mm256_set1_pd(INV_LN2));
    /* round_nearest: trunc(t + 0.5) for t >= 0, trunc(t - 0.5) otherwise */
    __m256d ge = _mm256_cmp_pd(t, zero, _CMP_GE_OQ);
    __m256d tt = _mm256_blendv_pd(_mm256_sub_pd(t, half), _mm256_add_pd(t, half), ge);
    __m256d kd = _mm256_round_pd(tt, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256d r = _mm256_sub_pd(_mm256_sub_pd(x, _mm256_mul_pd(kd, _mm256_set1_pd(LN2_HI))),
                              _mm256_mul_pd(kd, _mm256_set1_pd(LN2_LO)));
    __m256d p = _mm256_set1_pd(exp_c[0]);
    for (int i = 1; i < 15; i++)
        p = _mm256_add_pd(_mm256_mul_pd(p, r), _mm256_set1_pd(exp_c[i]));
    __m128i k32 = _mm256_cvtpd_epi32(kd); /* exact: kd is an integer */
    __m256i k64 = _mm256_cvtepi32_epi64(k32);
    __m256i bits = _mm256_slli_epi64(_mm256_add_epi64(k64, _mm256_set1_epi64x(1023)), 52);
    return _mm256_mul_pd(p, _mm256_castsi256_pd(bits));
}

/* All 4 lanes within |x| <= 700 (false for NaN). */
__attribute__((target("avx2"))) static inline int
in_range4(__m256d x)
{
    __m256d ax = _mm256_andnot_pd(_mm256_set1_pd(-0.0), x);
    return _mm256_movemask_pd(_mm256_cmp_pd(ax, _mm256_set1_pd(700.0), _CMP_LE_OQ)) == 0xf;
}

__attribute__((target("avx2"))) static void
silu_mul_row_avx2(float *g, const float *u, size_t n)
{
    size_t i = 0;
    __m256d one = _mm256_set1_pd(1.0);
    for (; i + 4 <= n; i += 4) {
        __m256d x = _mm256_cvtps_pd(_mm_loadu_ps(g + i));
        __m256d nx = _mm256_xor_pd(x, _mm256_set1_pd(-0.0)); /* -x, exact */
        if (!in_range4(nx)) {
            _mm256_zeroupper();
            silu_mul_row_c(g + i, u + i, 4);
            continue;
        }
        __m256d y = _mm256_div_pd(x, _mm256_add_pd(one, exp_pd4(nx)));
        _mm_storeu_ps(g + i, _mm_mul_ps(_mm256_cvtpd_ps(y), _mm_loadu_ps(u + i)));
    }
    _mm256_zeroupper(); /* see AVX_CLEAN */
    silu_mul_row_c(g + i, u + i, n - i);
}

__attribute__((target("avx2"))) static void
expf_row_avx2(float *x, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d d = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
        if (!in_range4(d)) {
            _mm256_zeroupper();
            expf_row_c(x + i, 4);
            continue;
        }
        _mm_storeu_ps(x + i, _mm256_cvtpd_ps(exp_pd4(d)));
    }
    _mm256_zeroupper(); /* see AVX_CLEAN */
    expf_row_c(x + i, n - i);
}

/* The same steps eight lanes at a time (AVX-512F): same operations, same
 * order, so the same bits. */
#define M512 __attribute__((target("avx512f,avx512vl,avx2")))
M512 static inline __m512d
exp_pd8(__m512d x)
{
    __m512d zero = _mm512_setzero_pd(), half = _mm512_set1_pd(0.5);
    __m512d t = _mm512_mul_pd(x, _mm512_set1_pd(INV_LN2));
    __mmask8 ge = _mm512_cmp_pd_mask(t, zero, _CMP_GE_OQ);
    __m512d tt = _mm512_mask_blend_pd(ge, _mm512_sub_pd(t, half), _mm512_add_pd(t, half));
    __m512d kd = _mm512_roundscale_pd(tt, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512d r = _mm512_sub_pd(_mm512_sub_pd(x, _mm512_mul_pd(kd, _mm512_set1_pd(LN2_HI))),
                              _mm512_mul_pd(kd, _mm512_set1_pd(LN2_LO)));
    __m512d p = _mm512_set1_pd(exp_c[0]);
    for (int i = 1; i < 15; i++)
        p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(exp_c[i]));
    __m256i k32 = _mm512_cvtpd_epi32(kd); /* exact: kd is an integer */
    __m512i k64 = _mm512_cvtepi32_epi64(k32);
    __m512i bits = _mm512_slli_epi64(_mm512_add_epi64(k64, _mm512_set1_epi64(1023)), 52);
    return _mm512_mul_pd(p, _mm512_castsi512_pd(bits));
}

M512 static inline int
in_range8(__m512d x)
{
    __m512d ax = _mm512_castsi512_pd(
        _mm512_andnot_si512(_mm512_castpd_si512(_mm512_set1_pd(-0.0)), _mm512_castpd_si512(x)));
    return _mm512_cmp_pd_mask(ax, _mm512_set1_pd(700.0), _CMP_LE_OQ) == 0xff;
}

M512 static void
silu_mul_row_avx512(float *g, const float *u, size_t n)
{
    size_t i = 0;
    __m512d one = _mm512_set1_pd(1.0);
    for (; i + 8 <= n; i += 8) {
        __m512d x = _mm512_cvtps_pd(_mm256_loadu_ps(g + i));
        __m512d nx = _mm512_castsi512_pd(_mm512_xor_si512(
            _mm512_castpd_si512(x), _mm512_castpd_si512(_mm512_set1_pd(-0.0)))); /* -x */
        if (!in_range8(nx)) {
            _mm256_zeroupper();
            silu_mul_row_c(g + i, u + i, 8);
            continue;
        }
        __m512d y = _mm512_div_pd(x, _mm512_add_pd(one, exp_pd8(nx)));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm512_cvtpd_ps(y), _mm256_loadu_ps(u + i)));
    }
    silu_mul_row_avx2(g + i, u + i, n - i);
}

M512 static void
expf_row_avx512(float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d d = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        if (!in_range8(d)) {
            _mm256_zeroupper();
            expf_row_c(x + i, 8);
            continue;
        }
        _mm256_storeu_ps(x + i, _mm512_cvtpd_ps(exp_pd8(d)));
    }
    expf_row_avx2(x + i, n - i);
}
#endif

static void (*silu_mul_row_fn)(float *g, const float *u, size_t n) = silu_mul_row_c;
static void (*expf_row_fn)(float *x, size_t n) = expf_row_c;
static pthread_once_t rows_once = PTHREAD_ONCE_INIT;

static void
rows_choose(void)
{
#if defined(__x86_64__)
    if (kern_isa_selected() >= KERN_ISA_AVX2) { /* ARIA_ISA=scalar keeps plain C */
        silu_mul_row_fn = silu_mul_row_avx2;
        expf_row_fn = expf_row_avx2;
    }
    if (kern_isa_selected() >= KERN_ISA_AVX512) {
        silu_mul_row_fn = silu_mul_row_avx512;
        expf_row_fn = expf_row_avx512;
    }
#endif
}

void
kern_m_silu_mul_row(float *g, const float *u, size_t n)
{
    pthread_once(&rows_once, rows_choose);
    silu_mul_row_fn(g, u, n);
}

void
kern_m_expf_row(float *x, size_t n)
{
    pthread_once(&rows_once, rows_choose);
    expf_row_fn(x, n);
}
