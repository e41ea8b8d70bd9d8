/*
 * secp256k1_batch.c — BIP-340 batch verification with our own secp256k1
 * arithmetic (libsecp256k1 0.2.0 has none): 5x52-bit field limbs and
 * 4x64-bit scalar limbs with unsigned __int128 products, affine and
 * Jacobian points, and a Pippenger multi-scalar multiplication over signed
 * window digits with affine bucket sums.
 *
 * Written from the BIP-340 text ("Batch Verification") and textbook
 * formulas; no code was taken from other projects.
 *
 * Invariants:
 *  - Variable time on public data only: no secret ever reaches this file.
 *  - Field elements are weakly normalised (see "Field" below); functions
 *    that compare or serialise normalise fully first. Scalars are always
 *    < n.
 *  - Jacobian points carry an explicit infinity flag; addition handles
 *    P + P (doubling: a batch may hold the same signature twice) and
 *    P + (-P) (infinity), so no input can make a wrong sum.
 *  - wallet__bv_check only ever says "valid" when the random linear
 *    combination of all items sums to infinity; any other outcome sends
 *    the caller to libsecp256k1 item by item.
 */
#include <string.h>

#include <sodium.h>

#include "base.h"
#include "secp256k1_batch.h"

__extension__ typedef unsigned __int128 u128;

/* 2^256 mod p */
#define FE_C 0x1000003D1ULL

static const wallet__sc SC_N = {
    {0xBFD25E8CD0364141ULL, 0xBAAEDCE6AF48A03BULL, 0xFFFFFFFFFFFFFFFEULL, 0xFFFFFFFFFFFFFFFFULL}};
/* 2^256 - n (129 bits) */
static const uint64_t SC_NC[3] = {0x402DA1732FC9BEBFULL, 0x4551231950B75FC4ULL, 1};

/* ------------------------------------------------------------------ */
/* Field                                                                */
/* ------------------------------------------------------------------ */

static uint64_t
load_be64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

static void
store_be64(uint8_t *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* 1 if a >= m (both 4 limbs) */
static int
geq4(const uint64_t *a, const uint64_t *m)
{
    for (int i = 3; i >= 0; i--) {
        if (a[i] != m[i])
            return a[i] > m[i];
    }
    return 1;
}

/* r = r - m (4 limbs), ignoring the final borrow */
static void
sub4(uint64_t *r, const uint64_t *m)
{
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        u128 d = (u128)r[i] - m[i] - borrow;
        r[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
}

/*
 * Field elements are five 52-bit limbs (the top one 48 bits when
 * normalised): sums and differences need no carries, and products of
 * limbs below 2^53 summed five at a time fit in 128 bits. Every function
 * returns limbs 0, 2, 3 below 2^52, limb 1 below 2^53 and limb 4 below
 * 2^48 ("weakly normalised": the value is below 2^257 but maybe >= p), and
 * accepts any such input; only fe_normalize gives the unique form.
 */
#define M52 0xFFFFFFFFFFFFFULL
#define M48 0xFFFFFFFFFFFFULL
/* p in limbs, and 2p: fe_sub adds 2p so no limb of a weakly normalised b
 * can underflow */
#define P0 0xFFFFEFFFFFC2FULL
#define P1 M52
#define P4 M48

/* Carry every limb into the next and fold bits above 2^256 back in with
 * 2^256 == FE_C; input limbs below 2^63. */
static inline void
fe_weak(wallet__fe *r)
{
    uint64_t t0 = r->v[0], t1 = r->v[1], t2 = r->v[2], t3 = r->v[3], t4 = r->v[4];
    t1 += t0 >> 52;
    t0 &= M52;
    t2 += t1 >> 52;
    t1 &= M52;
    t3 += t2 >> 52;
    t2 &= M52;
    t4 += t3 >> 52;
    t3 &= M52;
    t0 += (t4 >> 48) * FE_C;
    t4 &= M48;
    t1 += t0 >> 52;
    t0 &= M52;
    r->v[0] = t0;
    r->v[1] = t1;
    r->v[2] = t2;
    r->v[3] = t3;
    r->v[4] = t4;
}

static void
fe_normalize(wallet__fe *r)
{
    uint64_t *t = r->v, top;
    do { /* full carries until nothing is left above 2^256 */
        t[1] += t[0] >> 52;
        t[0] &= M52;
        t[2] += t[1] >> 52;
        t[1] &= M52;
        t[3] += t[2] >> 52;
        t[2] &= M52;
        t[4] += t[3] >> 52;
        t[3] &= M52;
        top = t[4] >> 48;
        t[4] &= M48;
        t[0] += top * FE_C;
    } while (top);
    /* canonical limbs, value < 2^256 < 2p: subtract p once if needed */
    if (t[4] == M48 && t[3] == M52 && t[2] == M52 && t[1] == M52 && t[0] >= P0) {
        t[0] -= P0;
        t[1] = t[2] = t[3] = t[4] = 0;
    }
}

int
wallet__fe_set_b32(wallet__fe *r, const uint8_t b[32])
{
    uint64_t w[4];
    for (int i = 0; i < 4; i++)
        w[i] = load_be64(b + 8 * (3 - i));
    r->v[0] = w[0] & M52;
    r->v[1] = (w[0] >> 52 | w[1] << 12) & M52;
    r->v[2] = (w[1] >> 40 | w[2] << 24) & M52;
    r->v[3] = (w[2] >> 28 | w[3] << 36) & M52;
    r->v[4] = w[3] >> 16;
    const uint64_t *t = r->v;
    return !(t[4] == M48 && t[3] == M52 && t[2] == M52 && t[1] == M52 && t[0] >= P0);
}

void
wallet__fe_get_b32(uint8_t b[32], const wallet__fe *a)
{
    wallet__fe t = *a;
    fe_normalize(&t);
    uint64_t w[4];
    w[0] = t.v[0] | t.v[1] << 52;
    w[1] = t.v[1] >> 12 | t.v[2] << 40;
    w[2] = t.v[2] >> 24 | t.v[3] << 28;
    w[3] = t.v[3] >> 36 | t.v[4] << 16;
    for (int i = 0; i < 4; i++)
        store_be64(b + 8 * (3 - i), w[i]);
}

static int
fe_is_zero(const wallet__fe *a)
{
    wallet__fe t = *a;
    fe_normalize(&t);
    return (t.v[0] | t.v[1] | t.v[2] | t.v[3] | t.v[4]) == 0;
}

int
wallet__fe_equal(const wallet__fe *a, const wallet__fe *b)
{
    wallet__fe x = *a, y = *b;
    fe_normalize(&x);
    fe_normalize(&y);
    return memcmp(x.v, y.v, sizeof x.v) == 0;
}

static inline void
fe_add(wallet__fe *r, const wallet__fe *a, const wallet__fe *b)
{
    for (int i = 0; i < 5; i++)
        r->v[i] = a->v[i] + b->v[i];
    fe_weak(r);
}

void
wallet__fe_add(wallet__fe *r, const wallet__fe *a, const wallet__fe *b)
{
    fe_add(r, a, b);
}

static inline void
fe_sub(wallet__fe *r, const wallet__fe *a, const wallet__fe *b)
{
    /* a + 2p - b: 2p's limbs exceed any weakly normalised limb */
    r->v[0] = a->v[0] + 2 * P0 - b->v[0];
    r->v[1] = a->v[1] + 2 * P1 - b->v[1];
    r->v[2] = a->v[2] + 2 * M52 - b->v[2];
    r->v[3] = a->v[3] + 2 * M52 - b->v[3];
    r->v[4] = a->v[4] + 2 * P4 - b->v[4];
    fe_weak(r);
}

void
wallet__fe_sub(wallet__fe *r, const wallet__fe *a, const wallet__fe *b)
{
    fe_sub(r, a, b);
}

static void
fe_neg(wallet__fe *r, const wallet__fe *a)
{
    static const wallet__fe zero = {{0, 0, 0, 0, 0}};
    fe_sub(r, &zero, a);
}

/* 2^260 mod p: the weight of column 5 relative to column 0 */
#define FE_R 0x1000003D10ULL

/* r from the nine 128-bit columns c[k] (weight 2^(52k)). */
static inline void
fe_reduce_cols(wallet__fe *r, u128 c[9])
{
    /* columns 5..8 into 52-bit limbs d5..d9 */
    uint64_t d5 = (uint64_t)c[5] & M52;
    c[6] += c[5] >> 52;
    uint64_t d6 = (uint64_t)c[6] & M52;
    c[7] += c[6] >> 52;
    uint64_t d7 = (uint64_t)c[7] & M52;
    c[8] += c[7] >> 52;
    uint64_t d8 = (uint64_t)c[8] & M52;
    uint64_t d9 = (uint64_t)(c[8] >> 52); /* < 2^58 */
    /* fold: d(5+k) * 2^(52(5+k)) == d(5+k) * FE_R * 2^(52k) */
    c[0] += (u128)d5 * FE_R;
    c[1] += (u128)d6 * FE_R;
    c[2] += (u128)d7 * FE_R;
    c[3] += (u128)d8 * FE_R;
    c[4] += (u128)d9 * FE_R;
    uint64_t t0 = (uint64_t)c[0] & M52;
    c[1] += c[0] >> 52;
    uint64_t t1 = (uint64_t)c[1] & M52;
    c[2] += c[1] >> 52;
    uint64_t t2 = (uint64_t)c[2] & M52;
    c[3] += c[2] >> 52;
    uint64_t t3 = (uint64_t)c[3] & M52;
    c[4] += c[3] >> 52;
    uint64_t t4 = (uint64_t)c[4] & M48;
    /* bits from 2^256 up: times FE_C into limb 0 */
    u128 acc = (u128)(uint64_t)(c[4] >> 48) * FE_C + t0;
    t0 = (uint64_t)acc & M52;
    t1 += (uint64_t)(acc >> 52);
    r->v[0] = t0;
    r->v[1] = t1;
    r->v[2] = t2;
    r->v[3] = t3;
    r->v[4] = t4;
}

static inline void
fe_mul(wallet__fe *r, const wallet__fe *a, const wallet__fe *b)
{
    const uint64_t *x = a->v, *y = b->v;
    u128 c[9];
    c[0] = (u128)x[0] * y[0];
    c[1] = (u128)x[0] * y[1] + (u128)x[1] * y[0];
    c[2] = (u128)x[0] * y[2] + (u128)x[1] * y[1] + (u128)x[2] * y[0];
    c[3] = (u128)x[0] * y[3] + (u128)x[1] * y[2] + (u128)x[2] * y[1] + (u128)x[3] * y[0];
    c[4] = (u128)x[0] * y[4] + (u128)x[1] * y[3] + (u128)x[2] * y[2] + (u128)x[3] * y[1] +
           (u128)x[4] * y[0];
    c[5] = (u128)x[1] * y[4] + (u128)x[2] * y[3] + (u128)x[3] * y[2] + (u128)x[4] * y[1];
    c[6] = (u128)x[2] * y[4] + (u128)x[3] * y[3] + (u128)x[4] * y[2];
    c[7] = (u128)x[3] * y[4] + (u128)x[4] * y[3];
    c[8] = (u128)x[4] * y[4];
    fe_reduce_cols(r, c);
}

static inline void
fe_sqr(wallet__fe *r, const wallet__fe *a)
{
    const uint64_t *x = a->v;
    uint64_t d0 = 2 * x[0], d1 = 2 * x[1], d2 = 2 * x[2], d3 = 2 * x[3];
    u128 c[9];
    c[0] = (u128)x[0] * x[0];
    c[1] = (u128)d0 * x[1];
    c[2] = (u128)d0 * x[2] + (u128)x[1] * x[1];
    c[3] = (u128)d0 * x[3] + (u128)d1 * x[2];
    c[4] = (u128)d0 * x[4] + (u128)d1 * x[3] + (u128)x[2] * x[2];
    c[5] = (u128)d1 * x[4] + (u128)d2 * x[3];
    c[6] = (u128)d2 * x[4] + (u128)x[3] * x[3];
    c[7] = (u128)d3 * x[4];
    c[8] = (u128)x[4] * x[4];
    fe_reduce_cols(r, c);
}

void
wallet__fe_mul(wallet__fe *r, const wallet__fe *a, const wallet__fe *b)
{
    fe_mul(r, a, b);
}

void
wallet__fe_sqr(wallet__fe *r, const wallet__fe *a)
{
    fe_sqr(r, a);
}

static void
fe_sqr_n(wallet__fe *r, const wallet__fe *a, int n)
{
    *r = *a;
    for (int i = 0; i < n; i++)
        fe_sqr(r, r);
}

/* x^(2^k - 1) for the k the exponent chains need. Both exponents, (p+1)/4
 * and p-2, start with a run of 223 ones then a zero and 22 ones. */
typedef struct fe_runs {
    wallet__fe x1, x2, x3, x22, x223;
} fe_runs;

static void
fe_runs_compute(fe_runs *o, const wallet__fe *a)
{
    wallet__fe x6, x9, x11, x44, x88, x176, x220, t;
    o->x1 = *a;
    fe_sqr(&t, a);
    fe_mul(&o->x2, &t, a);
    fe_sqr(&t, &o->x2);
    fe_mul(&o->x3, &t, a);
    fe_sqr_n(&t, &o->x3, 3);
    fe_mul(&x6, &t, &o->x3);
    fe_sqr_n(&t, &x6, 3);
    fe_mul(&x9, &t, &o->x3);
    fe_sqr_n(&t, &x9, 2);
    fe_mul(&x11, &t, &o->x2);
    fe_sqr_n(&t, &x11, 11);
    fe_mul(&o->x22, &t, &x11);
    fe_sqr_n(&t, &o->x22, 22);
    fe_mul(&x44, &t, &o->x22);
    fe_sqr_n(&t, &x44, 44);
    fe_mul(&x88, &t, &x44);
    fe_sqr_n(&t, &x88, 88);
    fe_mul(&x176, &t, &x88);
    fe_sqr_n(&t, &x176, 44);
    fe_mul(&x220, &t, &x44);
    fe_sqr_n(&t, &x220, 3);
    fe_mul(&o->x223, &t, &o->x3);
}

int
wallet__fe_sqrt(wallet__fe *r, const wallet__fe *a)
{
    /* (p+1)/4 in bits: 223 ones, 0, 22 ones, 0000, 11, 00 */
    fe_runs k;
    wallet__fe t, c;
    fe_runs_compute(&k, a);
    fe_sqr_n(&t, &k.x223, 23);
    fe_mul(&t, &t, &k.x22);
    fe_sqr_n(&t, &t, 6);
    fe_mul(&t, &t, &k.x2);
    fe_sqr_n(&t, &t, 2);
    fe_sqr(&c, &t);
    *r = t;
    return wallet__fe_equal(&c, a);
}

void
wallet__fe_inv(wallet__fe *r, const wallet__fe *a)
{
    /* p-2 in bits: 223 ones, 0, 22 ones, 0000, 1, 0, 11, 0, 1 */
    fe_runs k;
    wallet__fe t;
    fe_runs_compute(&k, a);
    fe_sqr_n(&t, &k.x223, 23);
    fe_mul(&t, &t, &k.x22);
    fe_sqr_n(&t, &t, 5);
    fe_mul(&t, &t, &k.x1);
    fe_sqr_n(&t, &t, 3);
    fe_mul(&t, &t, &k.x2);
    fe_sqr_n(&t, &t, 2);
    fe_mul(r, &t, &k.x1);
}

/* ------------------------------------------------------------------ */
/* Scalars mod n                                                        */
/* ------------------------------------------------------------------ */

/* Reduce t[0..len) (len <= 8) mod n by folding the part above 2^256 with
 * 2^256 == 2^256 - n (mod n), then one conditional subtraction. */
static void
sc_reduce(wallet__sc *r, const uint64_t *t, size_t len)
{
    uint64_t buf[9];
    memcpy(buf, t, len * sizeof *t);
    while (len < 4)
        buf[len++] = 0;
    for (;;) {
        while (len > 4 && buf[len - 1] == 0)
            len--;
        if (len <= 4)
            break;
        size_t hn = len - 4; /* <= 4 */
        uint64_t prod[8] = {0};
        for (size_t i = 0; i < hn; i++) {
            uint64_t carry = 0;
            for (size_t j = 0; j < 3; j++) {
                u128 x = (u128)buf[4 + i] * SC_NC[j] + prod[i + j] + carry;
                prod[i + j] = (uint64_t)x;
                carry = (uint64_t)(x >> 64);
            }
            prod[i + 3] = carry;
        }
        size_t pn = hn + 3;
        u128 acc = 0;
        for (size_t i = 0; i < pn; i++) {
            acc += (u128)prod[i] + (i < 4 ? buf[i] : 0);
            buf[i] = (uint64_t)acc;
            acc >>= 64;
        }
        buf[pn] = (uint64_t)acc;
        len = pn + 1;
    }
    memcpy(r->v, buf, sizeof r->v);
    if (geq4(r->v, SC_N.v))
        sub4(r->v, SC_N.v);
}

int
wallet__sc_set_b32(wallet__sc *r, const uint8_t b[32])
{
    for (int i = 0; i < 4; i++)
        r->v[i] = load_be64(b + 8 * (3 - i));
    int ok = !geq4(r->v, SC_N.v);
    if (!ok)
        sub4(r->v, SC_N.v); /* b < 2^256 < 2n */
    return ok;
}

void
wallet__sc_get_b32(uint8_t b[32], const wallet__sc *a)
{
    for (int i = 0; i < 4; i++)
        store_be64(b + 8 * (3 - i), a->v[i]);
}

void
wallet__sc_mul(wallet__sc *r, const wallet__sc *a, const wallet__sc *b)
{
    uint64_t t[8] = {0};
    for (int i = 0; i < 4; i++) {
        uint64_t carry = 0;
        for (int j = 0; j < 4; j++) {
            u128 x = (u128)a->v[i] * b->v[j] + t[i + j] + carry;
            t[i + j] = (uint64_t)x;
            carry = (uint64_t)(x >> 64);
        }
        t[i + 4] = carry;
    }
    sc_reduce(r, t, 8);
}

void
wallet__sc_add(wallet__sc *r, const wallet__sc *a, const wallet__sc *b)
{
    uint64_t t[5];
    u128 acc = 0;
    for (int i = 0; i < 4; i++) {
        acc += (u128)a->v[i] + b->v[i];
        t[i] = (uint64_t)acc;
        acc >>= 64;
    }
    t[4] = (uint64_t)acc;
    sc_reduce(r, t, 5);
}

void
wallet__sc_neg(wallet__sc *r, const wallet__sc *a)
{
    if ((a->v[0] | a->v[1] | a->v[2] | a->v[3]) == 0) {
        *r = *a;
        return;
    }
    uint64_t t[4];
    memcpy(t, SC_N.v, sizeof t);
    sub4(t, a->v);
    memcpy(r->v, t, sizeof t);
}

/* ------------------------------------------------------------------ */
/* Points                                                               */
/* ------------------------------------------------------------------ */

void
wallet__ge_generator(wallet__ge *g)
{
    static const uint8_t gx[32] = {0x79, 0xBE, 0x66, 0x7E, 0xF9, 0xDC, 0xBB, 0xAC, 0x55, 0xA0, 0x62,
                                   0x95, 0xCE, 0x87, 0x0B, 0x07, 0x02, 0x9B, 0xFC, 0xDB, 0x2D, 0xCE,
                                   0x28, 0xD9, 0x59, 0xF2, 0x81, 0x5B, 0x16, 0xF8, 0x17, 0x98};
    static const uint8_t gy[32] = {0x48, 0x3A, 0xDA, 0x77, 0x26, 0xA3, 0xC4, 0x65, 0x5D, 0xA4, 0xFB,
                                   0xFC, 0x0E, 0x11, 0x08, 0xA8, 0xFD, 0x17, 0xB4, 0x48, 0xA6, 0x85,
                                   0x54, 0x19, 0x9C, 0x47, 0xD0, 0x8F, 0xFB, 0x10, 0xD4, 0xB8};
    (void)wallet__fe_set_b32(&g->x, gx);
    (void)wallet__fe_set_b32(&g->y, gy);
}

int
wallet__ge_lift_x(wallet__ge *r, const uint8_t x[32])
{
    static const wallet__fe seven = {{7, 0, 0, 0}};
    wallet__fe c, y;
    if (!wallet__fe_set_b32(&r->x, x))
        return 0;
    fe_sqr(&c, &r->x);
    fe_mul(&c, &c, &r->x);
    fe_add(&c, &c, &seven);
    if (!wallet__fe_sqrt(&y, &c))
        return 0;
    fe_normalize(&y);
    if (y.v[0] & 1)
        fe_neg(&y, &y);
    fe_normalize(&y);
    r->y = y;
    return 1;
}

int
wallet__gej_to_affine(wallet__ge *r, const wallet__gej *a)
{
    if (a->inf)
        return 0;
    wallet__fe zi, zi2, zi3;
    wallet__fe_inv(&zi, &a->z);
    fe_sqr(&zi2, &zi);
    fe_mul(&zi3, &zi2, &zi);
    fe_mul(&r->x, &a->x, &zi2);
    fe_mul(&r->y, &a->y, &zi3);
    fe_normalize(&r->x);
    fe_normalize(&r->y);
    return 1;
}

void
wallet__gej_double(wallet__gej *r, const wallet__gej *a)
{
    /* y^2 = x^3 + 7 (a = 0): S = 4XY^2, M = 3X^2, X' = M^2 - 2S,
     * Y' = M(S - X') - 8Y^4, Z' = 2YZ. No point of this curve has y = 0. */
    if (a->inf) {
        r->inf = 1;
        return;
    }
    wallet__fe yy, s, m, t, x3, y3, z3;
    fe_sqr(&yy, &a->y);
    fe_mul(&s, &a->x, &yy);
    fe_add(&s, &s, &s);
    fe_add(&s, &s, &s);
    fe_sqr(&m, &a->x);
    fe_add(&t, &m, &m);
    fe_add(&m, &t, &m);
    fe_sqr(&x3, &m);
    fe_sub(&x3, &x3, &s);
    fe_sub(&x3, &x3, &s);
    fe_sub(&t, &s, &x3);
    fe_mul(&y3, &m, &t);
    fe_sqr(&t, &yy); /* Y^4 */
    fe_add(&t, &t, &t);
    fe_add(&t, &t, &t);
    fe_add(&t, &t, &t);
    fe_sub(&y3, &y3, &t);
    fe_mul(&z3, &a->y, &a->z);
    fe_add(&z3, &z3, &z3);
    r->x = x3;
    r->y = y3;
    r->z = z3;
    r->inf = 0;
}

/* The shared tail of both additions, given U1, S1 (of a) and U2, S2 (of
 * b) on the common denominator and zz = the product of the z's. */
static void
gej_add_tail(wallet__gej *r, const wallet__gej *a, const wallet__fe *u1, const wallet__fe *s1,
             const wallet__fe *u2, const wallet__fe *s2, const wallet__fe *zz)
{
    wallet__fe h, rr, h2, h3, v, x3, y3, t;
    fe_sub(&h, u2, u1);
    fe_sub(&rr, s2, s1);
    if (fe_is_zero(&h)) {
        if (fe_is_zero(&rr)) {
            wallet__gej_double(r, a); /* the same point */
        } else {
            r->inf = 1; /* P + (-P) */
        }
        return;
    }
    fe_sqr(&h2, &h);
    fe_mul(&h3, &h2, &h);
    fe_mul(&v, u1, &h2);
    fe_sqr(&x3, &rr);
    fe_sub(&x3, &x3, &h3);
    fe_sub(&x3, &x3, &v);
    fe_sub(&x3, &x3, &v);
    fe_sub(&t, &v, &x3);
    fe_mul(&y3, &rr, &t);
    fe_mul(&t, s1, &h3);
    fe_sub(&y3, &y3, &t);
    fe_mul(&r->z, zz, &h);
    r->x = x3;
    r->y = y3;
    r->inf = 0;
}

void
wallet__gej_add_ge(wallet__gej *r, const wallet__gej *a, const wallet__ge *b)
{
    if (a->inf) {
        r->x = b->x;
        r->y = b->y;
        r->z = (wallet__fe){{1, 0, 0, 0}};
        r->inf = 0;
        return;
    }
    /* U1 = X1, S1 = Y1, U2 = X2 Z1^2, S2 = Y2 Z1^3 */
    wallet__fe z2, u2, s2, u1 = a->x, s1 = a->y, z = a->z;
    fe_sqr(&z2, &a->z);
    fe_mul(&u2, &b->x, &z2);
    fe_mul(&s2, &z2, &a->z);
    fe_mul(&s2, &s2, &b->y);
    gej_add_tail(r, a, &u1, &s1, &u2, &s2, &z);
}

void
wallet__gej_add(wallet__gej *r, const wallet__gej *a, const wallet__gej *b)
{
    if (a->inf) {
        *r = *b;
        return;
    }
    if (b->inf) {
        *r = *a;
        return;
    }
    wallet__fe z1s, z2s, u1, u2, s1, s2, zz;
    fe_sqr(&z1s, &a->z);
    fe_sqr(&z2s, &b->z);
    fe_mul(&u1, &a->x, &z2s);
    fe_mul(&u2, &b->x, &z1s);
    fe_mul(&s1, &z2s, &b->z);
    fe_mul(&s1, &s1, &a->y);
    fe_mul(&s2, &z1s, &a->z);
    fe_mul(&s2, &s2, &b->y);
    fe_mul(&zz, &a->z, &b->z);
    gej_add_tail(r, a, &u1, &s1, &u2, &s2, &zz);
}

/* ------------------------------------------------------------------ */
/* Pippenger                                                            */
/* ------------------------------------------------------------------ */

/* Windows: bits [0,128) for every point, [128,257) for the first nbig
 * (bit 256 is always 0, so the top signed digit never carries out; the
 * small scalars are < 2^127, so their digits stop at bit 127 too). */
#define MSM_MAX_WINDOWS 260
#define MSM_MAX_C       12

typedef struct msm_window {
    uint16_t start, width;
} msm_window;

/* Relative cost of a window of width c over `pts` points: affine bucket
 * additions (~8 field multiplications each, inversion shared) and the
 * bucket sums (a mixed and a general Jacobian addition, ~27, per bucket),
 * spread over the c bits it covers. */
static unsigned
msm_best_width(size_t pts)
{
    unsigned best = 1;
    double best_cost = 1e300;
    for (unsigned c = 1; c <= MSM_MAX_C; c++) {
        double cost = ((double)pts * 8.0 + (double)(1u << (c - 1)) * 27.0) / c;
        if (cost < best_cost) {
            best_cost = cost;
            best = c;
        }
    }
    return best;
}

static size_t
msm_plan(size_t m, size_t nbig, msm_window *w)
{
    size_t nw = 0;
    unsigned c = msm_best_width(m);
    for (unsigned s = 0; s < 128; s += c)
        w[nw++] = (msm_window){(uint16_t)s, (uint16_t)(s + c > 128 ? 128 - s : c)};
    if (nbig) {
        c = msm_best_width(nbig);
        for (unsigned s = 128; s < 257; s += c)
            w[nw++] = (msm_window){(uint16_t)s, (uint16_t)(s + c > 257 ? 257 - s : c)};
    }
    return nw;
}

static unsigned
sc_bits(const wallet__sc *k, unsigned start, unsigned width)
{
    unsigned limb = start / 64, off = start % 64;
    if (limb >= 4)
        return 0;
    uint64_t v = k->v[limb] >> off;
    if (off + width > 64 && limb + 1 < 4)
        v |= k->v[limb + 1] << (64 - off);
    return (unsigned)(v & ((1u << width) - 1));
}

/*
 * Bucket accumulation in affine coordinates. The points of each bucket are
 * laid out together (a counting sort by bucket) and summed as a tree:
 * every level adds neighbours pairwise in all buckets at once, so the
 * additions of a level are independent and their slopes take one field
 * inversion per MSM_CHUNK of them (Montgomery's trick: 3 multiplications
 * each). An addition then costs about 5M + 1S against 8M + 3S for a mixed
 * Jacobian one. Q == B is a doubling (slope 3x^2 / 2y) and Q == -B gives
 * the point at infinity; both are decided before the slopes, so no
 * denominator is ever zero.
 */
#define MSM_CHUNK 512
#define OP_NEG    0x80000000u

typedef struct msm_chunk {
    size_t k;
    uint32_t dst[MSM_CHUNK], src[MSM_CHUNK]; /* dst += src, both slots */
    uint8_t dbl[MSM_CHUNK];
    wallet__fe den[MSM_CHUNK], pre[MSM_CHUNK];
} msm_chunk;

static void
chunk_flush(msm_chunk *c, wallet__ge *pt)
{
    size_t k = c->k;
    if (k == 0)
        return;
    for (size_t j = 0; j < k; j++) {
        const wallet__ge *a = &pt[c->dst[j]], *b = &pt[c->src[j]];
        if (c->dbl[j])
            fe_add(&c->den[j], &a->y, &a->y);
        else
            fe_sub(&c->den[j], &b->x, &a->x);
        if (j == 0)
            c->pre[0] = c->den[0];
        else
            fe_mul(&c->pre[j], &c->pre[j - 1], &c->den[j]);
    }
    wallet__fe inv;
    wallet__fe_inv(&inv, &c->pre[k - 1]);
    for (size_t j = k; j-- > 0;) {
        wallet__fe ij; /* 1 / den[j] */
        if (j > 0) {
            fe_mul(&ij, &inv, &c->pre[j - 1]);
            fe_mul(&inv, &inv, &c->den[j]);
        } else {
            ij = inv;
        }
        wallet__ge *a = &pt[c->dst[j]];
        const wallet__ge *b = &pt[c->src[j]];
        wallet__fe lam, t, x3, y3;
        if (c->dbl[j]) {
            fe_sqr(&t, &a->x);
            fe_add(&lam, &t, &t);
            fe_add(&lam, &lam, &t);
        } else {
            fe_sub(&lam, &b->y, &a->y);
        }
        fe_mul(&lam, &lam, &ij);
        fe_sqr(&x3, &lam);
        fe_sub(&x3, &x3, &a->x);
        fe_sub(&x3, &x3, &b->x);
        fe_sub(&t, &a->x, &x3);
        fe_mul(&y3, &lam, &t);
        fe_sub(&y3, &y3, &a->y);
        a->x = x3;
        a->y = y3;
    }
    c->k = 0;
}

/* pt[d] += pt[s] (inf[] marks the point at infinity) */
static void
chunk_add(msm_chunk *c, wallet__ge *pt, uint8_t *inf, uint32_t d, uint32_t s)
{
    if (inf[s])
        return;
    if (inf[d]) {
        pt[d] = pt[s];
        inf[d] = 0;
        return;
    }
    int dbl = 0;
    if (wallet__fe_equal(&pt[d].x, &pt[s].x)) {
        if (!wallet__fe_equal(&pt[d].y, &pt[s].y)) {
            inf[d] = 1; /* B + (-B) */
            return;
        }
        dbl = 1;
    }
    c->dst[c->k] = d;
    c->src[c->k] = s;
    c->dbl[c->k] = (uint8_t)dbl;
    if (++c->k == MSM_CHUNK)
        chunk_flush(c, pt);
}

int
wallet__msm(size_t m, size_t nbig, const wallet__ge *p, const wallet__sc *k, wallet__gej *out)
{
    ARIA_ASSERT(nbig <= m && m < OP_NEG);
    msm_window win[MSM_MAX_WINDOWS];
    size_t nw = msm_plan(m, nbig, win);
    ARIA_ASSERT(nw <= MSM_MAX_WINDOWS);
    size_t boff[MSM_MAX_WINDOWS + 1], nops = 0;
    boff[0] = 0;
    for (size_t w = 0; w < nw; w++) {
        boff[w + 1] = boff[w] + ((size_t)1 << (win[w].width - 1));
        nops += win[w].start >= 128 ? nbig : m;
    }
    size_t nbk = boff[nw];
    /* one block: chunk state, the operations (bucket, point | sign), the
     * points laid out by bucket and their infinity flags, each bucket's
     * first slot and length */
    size_t bytes = sizeof(msm_chunk) + nops * 2 * sizeof(uint32_t) + nops * sizeof(wallet__ge) +
                   nops + (nbk + 1) * sizeof(uint32_t) * 2 + 64;
    unsigned char *mem = aria_alloc(bytes);
    if (!mem)
        return ARIA_ENOMEM;
    unsigned char *mp = mem;
    msm_chunk *ch = (msm_chunk *)(void *)mp;
    mp += sizeof *ch;
    uint32_t *ops = (uint32_t *)(void *)mp;
    mp += nops * 2 * sizeof(uint32_t);
    wallet__ge *pt = (wallet__ge *)(void *)mp;
    mp += nops * sizeof(wallet__ge);
    uint32_t *first = (uint32_t *)(void *)mp;
    mp += (nbk + 1) * sizeof(uint32_t);
    uint32_t *len = (uint32_t *)(void *)mp;
    mp += (nbk + 1) * sizeof(uint32_t);
    uint8_t *inf = mp;
    ch->k = 0;
    memset(len, 0, (nbk + 1) * sizeof *len);

    /* signed digits in (-2^(c-1), 2^(c-1)], low window first */
    size_t nop = 0;
    for (size_t i = 0; i < m; i++) {
        unsigned carry = 0;
        for (size_t w = 0; w < nw; w++) {
            if (i >= nbig && win[w].start >= 128)
                break;
            int d = (int)(sc_bits(&k[i], win[w].start, win[w].width) + carry);
            int half = 1 << (win[w].width - 1);
            if (d > half) {
                d -= 1 << win[w].width;
                carry = 1;
            } else {
                carry = 0;
            }
            if (d == 0)
                continue;
            uint32_t bucket = (uint32_t)(boff[w] + (size_t)(d > 0 ? d : -d) - 1);
            ops[2 * nop] = bucket;
            ops[2 * nop + 1] = (uint32_t)i | (d < 0 ? OP_NEG : 0);
            len[bucket]++;
            nop++;
        }
        /* bit 256 is zero and small scalars stop below bit 127 */
        ARIA_ASSERT(carry == 0);
        ARIA_ASSERT(i < nbig || (k[i].v[2] == 0 && k[i].v[3] == 0 && k[i].v[1] >> 63 == 0));
    }
    /* counting sort of the signed points by bucket */
    uint32_t at = 0;
    for (size_t b = 0; b < nbk; b++) {
        first[b] = at;
        at += len[b];
        len[b] = 0;
    }
    for (size_t j = 0; j < nop; j++) {
        uint32_t b = ops[2 * j], op = ops[2 * j + 1];
        uint32_t slot = first[b] + len[b]++;
        pt[slot] = p[op & ~OP_NEG];
        if (op & OP_NEG)
            fe_neg(&pt[slot].y, &pt[slot].y);
        inf[slot] = 0;
    }
    /* tree sums: each level adds slot 2j+1 into 2j in every bucket, then
     * moves slot 2j to j */
    for (;;) {
        int more = 0;
        for (size_t b = 0; b < nbk; b++) {
            uint32_t f = first[b];
            for (uint32_t j = 0; j + 1 < len[b]; j += 2)
                chunk_add(ch, pt, inf, f + j, f + j + 1);
        }
        chunk_flush(ch, pt);
        for (size_t b = 0; b < nbk; b++) {
            if (len[b] < 2)
                continue;
            uint32_t f = first[b], nl = (len[b] + 1) / 2;
            for (uint32_t j = 1; j < nl; j++) {
                pt[f + j] = pt[f + 2 * j];
                inf[f + j] = inf[f + 2 * j];
            }
            len[b] = nl;
            more |= nl > 1;
        }
        if (!more)
            break;
    }

    /* windows from the top: acc = acc * 2^width + sum_b (b+1) * bucket[b],
     * the sum by running sums from the highest bucket down */
    wallet__gej acc = {.inf = 1};
    for (size_t wi = nw; wi-- > 0;) {
        for (unsigned j = 0; j < win[wi].width && !acc.inf; j++)
            wallet__gej_double(&acc, &acc);
        wallet__gej run = {.inf = 1}, sum = {.inf = 1};
        for (size_t b = boff[wi + 1]; b-- > boff[wi];) {
            if (len[b] && !inf[first[b]])
                wallet__gej_add_ge(&run, &run, &pt[first[b]]);
            if (!run.inf)
                wallet__gej_add(&sum, &sum, &run);
        }
        wallet__gej_add(&acc, &acc, &sum);
    }
    aria_free(mem);
    if (out)
        *out = acc;
    return acc.inf;
}

/* ------------------------------------------------------------------ */
/* Batch check                                                          */
/* ------------------------------------------------------------------ */

/* SHA-256 state after SHA256(tag) || SHA256(tag) for "BIP0340/challenge". */
static void
challenge_init(crypto_hash_sha256_state *st)
{
    static const char tag[] = "BIP0340/challenge";
    uint8_t th[32];
    crypto_hash_sha256(th, (const uint8_t *)tag, sizeof tag - 1);
    crypto_hash_sha256_init(st);
    crypto_hash_sha256_update(st, th, 32);
    crypto_hash_sha256_update(st, th, 32);
}

/* Key grouping: open addressing on the key's x coordinate. */
static size_t
key_slot(const uint8_t *x, size_t mask)
{
    uint64_t h = 0;
    memcpy(&h, x, sizeof h);
    return (size_t)(h * 0x9E3779B97F4A7C15ULL >> 17) & mask;
}

int
wallet__bv_check(size_t n, const wallet__bv_item *items, uint8_t *pre_ok)
{
    if (n == 0)
        return 1;
    size_t tn = 16;
    while (tn < 2 * n)
        tn *= 2;
    size_t m_max = 2 * n + 1;
    /* one block: points, scalars, challenge scalars, key table and the key
     * of each group, randomizer bytes */
    size_t bytes = m_max * sizeof(wallet__ge) + m_max * sizeof(wallet__sc) +
                   n * sizeof(wallet__sc) + tn * sizeof(uint32_t) + n * sizeof(uint32_t) + n * 16;
    unsigned char *mem = aria_alloc(bytes);
    if (!mem)
        return ARIA_ENOMEM;
    unsigned char *mp = mem;
    wallet__ge *pt = (wallet__ge *)(void *)mp; /* keys, G, then the R_i */
    mp += m_max * sizeof(wallet__ge);
    wallet__sc *sc = (wallet__sc *)(void *)mp; /* their scalars */
    mp += m_max * sizeof(wallet__sc);
    wallet__sc *ev = (wallet__sc *)(void *)mp; /* e_i of each item */
    mp += n * sizeof(wallet__sc);
    uint32_t *table = (uint32_t *)(void *)mp; /* slot -> key group */
    mp += tn * sizeof(uint32_t);
    uint32_t *group_item = (uint32_t *)(void *)mp; /* key group -> first item */
    mp += n * sizeof(uint32_t);
    uint8_t *rnd = mp;
    /* The R_i are lifted into the upper half (pt + n + 1) while the number
     * of distinct keys is not known yet, and moved down at the end. */
    wallet__ge *rpt = pt + n + 1;
    wallet__sc *rsc = sc + n + 1;

    /* Pass 1: parse r and s, lift R, challenge e. */
    crypto_hash_sha256_state ch0, st;
    challenge_init(&ch0);
    size_t nvalid = 0;
    for (size_t i = 0; i < n; i++) {
        wallet__sc s;
        pre_ok[i] = 0;
        if (!items[i].pk || !wallet__sc_set_b32(&s, items[i].sig + 32) ||
            !wallet__ge_lift_x(&rpt[nvalid], items[i].sig))
            continue;
        uint8_t e32[32];
        st = ch0;
        crypto_hash_sha256_update(&st, items[i].sig, 32);
        crypto_hash_sha256_update(&st, items[i].pk, 32);
        crypto_hash_sha256_update(&st, items[i].msg, items[i].msg_len);
        crypto_hash_sha256_final(&st, e32);
        (void)wallet__sc_set_b32(&ev[i], e32);
        pre_ok[i] = 1;
        nvalid++;
    }
    if (nvalid == 0) {
        aria_free(mem);
        return 1;
    }

    /* Randomizers: a ChaCha20 stream keyed by BLAKE2b(secret random key,
     * every valid item's sig || key x || e). The secret key alone makes them
     * unpredictable; hashing the items keeps them so even if the random
     * source were weak. */
    uint8_t key[crypto_generichash_KEYBYTES], seed[32];
    randombytes_buf(key, sizeof key);
    crypto_generichash_state hs;
    crypto_generichash_init(&hs, key, sizeof key, sizeof seed);
    for (size_t i = 0; i < n; i++) {
        if (!pre_ok[i])
            continue;
        uint8_t e32[32];
        wallet__sc_get_b32(e32, &ev[i]);
        crypto_generichash_update(&hs, items[i].sig, 64);
        crypto_generichash_update(&hs, items[i].pk, 32);
        crypto_generichash_update(&hs, e32, 32);
    }
    crypto_generichash_final(&hs, seed, sizeof seed);
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
    crypto_stream_chacha20(rnd, 16 * nvalid, nonce, seed);
    sodium_memzero(key, sizeof key);
    sodium_memzero(seed, sizeof seed);

    /* Pass 2: a_i; group keys, summing a_i e_i per key; sum a_i s_i. */
    memset(table, 0xff, tn * sizeof *table);
    size_t nkeys = 0, ri = 0;
    wallet__sc ssum = {{0, 0, 0, 0}};
    for (size_t i = 0; i < n; i++) {
        if (!pre_ok[i])
            continue;
        wallet__sc a = {{1, 0, 0, 0}};
        if (ri > 0) {
            a.v[0] = aria_load_u64le(rnd + 16 * ri);
            a.v[1] = aria_load_u64le(rnd + 16 * ri + 8) & 0x7FFFFFFFFFFFFFFFULL;
            if ((a.v[0] | a.v[1]) == 0)
                a.v[0] = 1;
        }
        rsc[ri++] = a;
        wallet__sc ae, s;
        wallet__sc_mul(&ae, &a, &ev[i]);
        (void)wallet__sc_set_b32(&s, items[i].sig + 32);
        wallet__sc_mul(&s, &a, &s);
        wallet__sc_add(&ssum, &ssum, &s);
        size_t slot = key_slot(items[i].pk, tn - 1);
        for (;;) {
            uint32_t g = table[slot];
            if (g == UINT32_MAX) {
                table[slot] = (uint32_t)nkeys;
                group_item[nkeys] = (uint32_t)i;
                (void)wallet__fe_set_b32(&pt[nkeys].x, items[i].pk);
                (void)wallet__fe_set_b32(&pt[nkeys].y, items[i].pk + 32);
                sc[nkeys] = ae;
                nkeys++;
                break;
            }
            if (memcmp(items[group_item[g]].pk, items[i].pk, 32) == 0) {
                wallet__sc_add(&sc[g], &sc[g], &ae);
                break;
            }
            slot = (slot + 1) & (tn - 1);
        }
    }
    /* G with -sum a_i s_i right after the keys, then the R_i with a_i */
    size_t m = nkeys;
    wallet__ge_generator(&pt[m]);
    wallet__sc_neg(&sc[m], &ssum);
    m++;
    size_t nbig = m;
    memmove(pt + m, rpt, nvalid * sizeof *pt);
    memmove(sc + m, rsc, nvalid * sizeof *sc);
    m += nvalid;
    int ok = wallet__msm(m, nbig, pt, sc, NULL);
    aria_free(mem);
    return ok;
}
