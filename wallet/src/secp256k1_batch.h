/*
 * secp256k1_batch.h — private to the wallet module (and its unit tests):
 * our own variable-time secp256k1 arithmetic for BIP-340 batch
 * verification, which libsecp256k1 0.2.0 does not offer.
 *
 * Everything here works on public data only (keys, signatures, messages):
 * nothing is constant time and nothing may ever see a secret. The batch
 * check is an accelerator: wallet.c trusts "the batch equation holds" as
 * "every item is valid", and asks libsecp256k1 about every item whenever
 * it does not hold. See docs/wallet.md "Batch verification".
 */
#ifndef ARIA_SECP256K1_BATCH_H
#define ARIA_SECP256K1_BATCH_H
#include <stddef.h>
#include <stdint.h>

/* Field element mod p = 2^256 - 2^32 - 977: five little-endian 52-bit
 * limbs (v[0] + v[1] 2^52 + ... + v[4] 2^208), weakly normalised: limbs
 * 0, 2, 3 below 2^52, limb 1 below 2^53, limb 4 below 2^48; the value may
 * be >= p (functions that compare or serialise normalise first). */
typedef struct wallet__fe {
    uint64_t v[5];
} wallet__fe;

/* Scalar mod n (the group order), always fully reduced (< n). */
typedef struct wallet__sc {
    uint64_t v[4];
} wallet__sc;

/* Affine point, never the point at infinity. */
typedef struct wallet__ge {
    wallet__fe x, y;
} wallet__ge;

/* Jacobian point (x / z^2, y / z^3); `inf` marks the point at infinity
 * (z is then meaningless). z is never zero when inf is 0. */
typedef struct wallet__gej {
    wallet__fe x, y, z;
    int inf;
} wallet__gej;

/* ---- field (exposed for the unit tests) ---- */
/* 1 if b (big-endian) < p and r was set, else 0. */
int wallet__fe_set_b32(wallet__fe *r, const uint8_t b[32]);
void wallet__fe_get_b32(uint8_t b[32], const wallet__fe *a); /* normalised */
void wallet__fe_mul(wallet__fe *r, const wallet__fe *a, const wallet__fe *b);
void wallet__fe_sqr(wallet__fe *r, const wallet__fe *a);
void wallet__fe_add(wallet__fe *r, const wallet__fe *a, const wallet__fe *b);
void wallet__fe_sub(wallet__fe *r, const wallet__fe *a, const wallet__fe *b);
void wallet__fe_inv(wallet__fe *r, const wallet__fe *a); /* a^(p-2); 0 -> 0 */
/* 1 and r = a square root of a if a is a square, else 0. */
int wallet__fe_sqrt(wallet__fe *r, const wallet__fe *a);
int wallet__fe_equal(const wallet__fe *a, const wallet__fe *b);

/* ---- scalars ---- */
/* 1 if b (big-endian) < n and r was set, else 0 (r set to b mod n). */
int wallet__sc_set_b32(wallet__sc *r, const uint8_t b[32]);
void wallet__sc_get_b32(uint8_t b[32], const wallet__sc *a);
void wallet__sc_mul(wallet__sc *r, const wallet__sc *a, const wallet__sc *b);
void wallet__sc_add(wallet__sc *r, const wallet__sc *a, const wallet__sc *b);
void wallet__sc_neg(wallet__sc *r, const wallet__sc *a);

/* ---- points ---- */
/* BIP-340 lift_x: the point with x coordinate x (big-endian, must be < p)
 * and even y. 1 on success, 0 if x >= p or x is not on the curve. */
int wallet__ge_lift_x(wallet__ge *r, const uint8_t x[32]);
void wallet__ge_generator(wallet__ge *g);
/* Affine coordinates of a (0 if a is infinity). */
int wallet__gej_to_affine(wallet__ge *r, const wallet__gej *a);
void wallet__gej_double(wallet__gej *r, const wallet__gej *a);
void wallet__gej_add_ge(wallet__gej *r, const wallet__gej *a, const wallet__ge *b);
void wallet__gej_add(wallet__gej *r, const wallet__gej *a, const wallet__gej *b);

/* Multi-scalar multiplication sum(k[i] * p[i]) by Pippenger's bucket
 * method with signed digits and affine buckets. The first `nbig` points
 * take full scalars (< n); the others must have scalars < 2^127 (the batch
 * randomizers), so the windows above bit 127 only visit the first nbig
 * points. Returns 1 if the sum is the point at infinity, 0 if not,
 * ARIA_ENOMEM without memory; *out (if not NULL) gets the sum. */
int wallet__msm(size_t m, size_t nbig, const wallet__ge *p, const wallet__sc *k, wallet__gej *out);

/* ---- the batch check ---- */
typedef struct wallet__bv_item {
    const uint8_t *pk;  /* 64 bytes: x || y big-endian of the lifted key (even
                         * y); NULL: not batchable, pre_ok 0 */
    const uint8_t *sig; /* 64 bytes: r || s */
    const uint8_t *msg; /* the BIP-340 message m (any length; wallet passes 32) */
    size_t msg_len;
} wallet__bv_item;

/*
 * BIP-340 batch verification of items[0..n): items whose r >= p, whose r is
 * not an x coordinate on the curve or whose s >= n are invalid and get
 * pre_ok[i] = 0 (pk must be a valid lifted key: wallet.c only passes keys it
 * lifted itself); the others get pre_ok[i] = 1 and enter the random linear
 * combination
 *     (-sum a_i s_i) G + sum a_i R_i + sum_keys (sum a_i e_i) P == infinity
 * with a_1 = 1 and a_2.. uniform below 2^127 from a secret random key
 * (libsodium randombytes) hashed with every item. Returns 1 if it holds
 * (then every pre_ok item is a valid signature, except with probability
 * below 2^-126), 0 if not (at least one pre_ok item is invalid, or by bad
 * luck none), ARIA_ENOMEM if its working memory could not be had.
 */
int wallet__bv_check(size_t n, const wallet__bv_item *items, uint8_t *pre_ok);

#endif
