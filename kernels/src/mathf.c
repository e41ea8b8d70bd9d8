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
#include <stdint.h>
#include <string.h>

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

float
kern_m_relu2(float x)
{
    float r = x > 0.0f ? x : 0.0f;
    return r * r;
}
