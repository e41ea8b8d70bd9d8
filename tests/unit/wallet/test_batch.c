/*
 * test_batch.c — our BIP-340 batch verifier (wallet/src/secp256k1_batch.c)
 * against libsecp256k1: field, scalar and point arithmetic where the
 * library shows results (key parsing, public keys, secret-key tweaks), the
 * official BIP-340 vectors through the batch path, and thousands of random
 * batches, valid and with items broken in many ways, whose verdicts must
 * agree item for item with libsecp256k1 checking each signature alone. The
 * counters of wallet_batch_stats prove which path gave each verdict.
 *
 * Random choices come from a fixed-seed generator (printed on failure by
 * the round numbers), so every run checks the same cases.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include "secp256k1_batch.h"
#include "wallet.h"
#include "wallet_internal.h"

/* ---- deterministic randomness ---- */
static uint64_t rng_state;
static uint64_t
rng(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static void
rng_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rng();
}
static size_t
rng_below(size_t n)
{
    return (size_t)(rng() % n);
}

static secp256k1_context *ctx;
static void
setup(void)
{
    rng_state = 12345;
    ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    cr_assert(ctx);
}
static void
teardown(void)
{
    secp256k1_context_destroy(ctx);
}

static const uint8_t P_BYTES[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFC, 0x2F};
static const uint8_t N_BYTES[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
    0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41};

/* big-endian 256-bit add of a small value (wraps) */
static void
be_add_small(uint8_t b[32], unsigned v)
{
    for (int i = 31; i >= 0 && v; i--) {
        unsigned t = b[i] + v;
        b[i] = (uint8_t)t;
        v = t >> 8;
    }
}

/* ------------------------------------------------------------------ */
/* Arithmetic against libsecp256k1                                      */
/* ------------------------------------------------------------------ */

/* lift_x accepts exactly the x libsecp256k1 parses as x-only keys, random
 * ones and the edges around p and 0. */
Test(wallet_batch, lift_x_agrees_with_xonly_parse, .init = setup, .fini = teardown)
{
    int accepted = 0;
    for (int i = 0; i < 3000; i++) {
        uint8_t x[32];
        rng_bytes(x, 32);
        if (i < 40) { /* p - 20 .. p + 19, and 0 .. 19 */
            memcpy(x, P_BYTES, 32);
            x[31] = (uint8_t)(x[31] - 20 + i);
            if (i >= 20) {
                memset(x, 0, 32);
                x[31] = (uint8_t)(i - 20);
            }
        } else if (i < 48) {
            memset(x, 0xff, 32);
            x[31] = (uint8_t)(0xff - (i - 40));
        }
        secp256k1_xonly_pubkey pk;
        int lib = secp256k1_xonly_pubkey_parse(ctx, &pk, x);
        wallet__ge p;
        int ours = wallet__ge_lift_x(&p, x);
        cr_assert_eq(ours, lib, "x case %d", i);
        if (ours) {
            /* on the curve, even y */
            wallet__fe l, r, t;
            static const wallet__fe seven = {{7, 0, 0, 0}};
            wallet__fe_sqr(&l, &p.y);
            wallet__fe_sqr(&t, &p.x);
            wallet__fe_mul(&r, &t, &p.x);
            wallet__fe_add(&r, &r, &seven);
            cr_assert(wallet__fe_equal(&l, &r));
            uint8_t yb[32];
            wallet__fe_get_b32(yb, &p.y);
            cr_assert_eq(yb[31] & 1, 0);
            accepted++;
        }
    }
    cr_assert(accepted > 1300 && accepted < 1700, "accepted %d", accepted);
}

/* k*G from our multi-scalar multiplication (one point, and G split into
 * several points whose scalars add up to k) equals libsecp256k1's public
 * key for k; the lifted x-only key is the even-y twin of that point. */
Test(wallet_batch, multiples_of_g_match_pubkey_create, .init = setup, .fini = teardown)
{
    wallet__ge g;
    wallet__ge_generator(&g);
    for (int i = 0; i < 300; i++) {
        uint8_t k[32];
        rng_bytes(k, 32);
        if (i < 3) { /* 1, 2, n-1 */
            memset(k, 0, 32);
            k[31] = (uint8_t)(i + 1);
            if (i == 2) {
                memcpy(k, N_BYTES, 32);
                k[31] -= 1;
            }
        }
        if (!secp256k1_ec_seckey_verify(ctx, k))
            continue;
        secp256k1_pubkey pub;
        cr_assert(secp256k1_ec_pubkey_create(ctx, &pub, k));
        uint8_t ser[65];
        size_t sl = sizeof ser;
        cr_assert(secp256k1_ec_pubkey_serialize(ctx, ser, &sl, &pub, SECP256K1_EC_UNCOMPRESSED));

        wallet__sc ks;
        cr_assert(wallet__sc_set_b32(&ks, k));
        wallet__gej out;
        cr_assert_eq(wallet__msm(1, 1, &g, &ks, &out), 0);
        wallet__ge a;
        cr_assert(wallet__gej_to_affine(&a, &out));
        uint8_t xb[32], yb[32];
        wallet__fe_get_b32(xb, &a.x);
        wallet__fe_get_b32(yb, &a.y);
        cr_assert(memcmp(xb, ser + 1, 32) == 0, "k case %d: x", i);
        cr_assert(memcmp(yb, ser + 33, 32) == 0, "k case %d: y", i);

        /* the same k as k1 + k2 + k3 on three copies of G: equal points
         * meet in buckets (doubling), opposite digits cancel */
        wallet__ge gs[3] = {g, g, g};
        wallet__sc parts[3];
        uint8_t r1[32], r2[32];
        rng_bytes(r1, 32);
        rng_bytes(r2, 32);
        (void)wallet__sc_set_b32(&parts[0], r1);
        (void)wallet__sc_set_b32(&parts[1], r2);
        wallet__sc t;
        wallet__sc_add(&t, &parts[0], &parts[1]);
        wallet__sc_neg(&t, &t);
        wallet__sc_add(&parts[2], &t, &ks);
        cr_assert_eq(wallet__msm(3, 3, gs, parts, &out), 0);
        cr_assert(wallet__gej_to_affine(&a, &out));
        wallet__fe_get_b32(xb, &a.x);
        wallet__fe_get_b32(yb, &a.y);
        cr_assert(memcmp(xb, ser + 1, 32) == 0 && memcmp(yb, ser + 33, 32) == 0, "split %d", i);

        /* the same point twice with the same scalar: every addition into
         * a bucket is a doubling (2k*G, checked against 2k from tweak_add);
         * G and -G with the same scalar: every bucket empties again */
        wallet__sc kk[2] = {ks, ks};
        uint8_t k2[32];
        memcpy(k2, k, 32);
        if (secp256k1_ec_seckey_tweak_add(ctx, k2, k)) {
            secp256k1_pubkey pub2;
            cr_assert(secp256k1_ec_pubkey_create(ctx, &pub2, k2));
            uint8_t ser2[65];
            size_t sl2 = sizeof ser2;
            cr_assert(
                secp256k1_ec_pubkey_serialize(ctx, ser2, &sl2, &pub2, SECP256K1_EC_UNCOMPRESSED));
            wallet__gej out2;
            wallet__ge a2;
            uint8_t xb2[32], yb2[32];
            cr_assert_eq(wallet__msm(2, 2, gs, kk, &out2), 0);
            cr_assert(wallet__gej_to_affine(&a2, &out2));
            wallet__fe_get_b32(xb2, &a2.x);
            wallet__fe_get_b32(yb2, &a2.y);
            cr_assert(memcmp(xb2, ser2 + 1, 32) == 0 && memcmp(yb2, ser2 + 33, 32) == 0,
                      "double %d", i);
        }
        wallet__ge gn[2] = {g, g};
        static const wallet__fe zero = {{0, 0, 0, 0, 0}};
        wallet__fe_sub(&gn[1].y, &zero, &g.y);
        cr_assert_eq(wallet__msm(2, 2, gn, kk, NULL), 1);

        /* k*G + (n-k)*G is the point at infinity */
        wallet__sc nk;
        wallet__sc_neg(&nk, &ks);
        wallet__sc two[2] = {ks, nk};
        cr_assert_eq(wallet__msm(2, 2, gs, two, NULL), 1);

        /* lift_x of the x coordinate gives this point or its negation */
        wallet__ge l;
        cr_assert(wallet__ge_lift_x(&l, ser + 1));
        uint8_t ly[32];
        wallet__fe_get_b32(ly, &l.y);
        if (memcmp(ly, yb, 32) != 0) {
            wallet__fe s;
            wallet__fe_add(&s, &l.y, &a.y);
            cr_assert(wallet__fe_equal(&s, &zero));
        }
    }
}

/* Point addition edge cases directly: P + P = 2P, P + (-P) = infinity,
 * infinity + P = P, in both the mixed and the general form. */
Test(wallet_batch, point_addition_edge_cases, .init = setup, .fini = teardown)
{
    wallet__ge g, a, b;
    wallet__ge_generator(&g);
    wallet__gej gj = {g.x, g.y, {{1, 0, 0, 0}}, 0}, inf = {.inf = 1}, r1, r2, d;
    wallet__gej_double(&d, &gj);
    wallet__gej_add_ge(&r1, &gj, &g);
    wallet__gej_add(&r2, &gj, &gj);
    cr_assert(wallet__gej_to_affine(&a, &d));
    cr_assert(wallet__gej_to_affine(&b, &r1));
    cr_assert(wallet__fe_equal(&a.x, &b.x) && wallet__fe_equal(&a.y, &b.y));
    cr_assert(wallet__gej_to_affine(&b, &r2));
    cr_assert(wallet__fe_equal(&a.x, &b.x) && wallet__fe_equal(&a.y, &b.y));
    /* with a non-trivial z: 2G (Jacobian) + 2G (affine) = 4G = double(2G) */
    wallet__gej q, q2;
    wallet__gej_add_ge(&q, &d, &a);
    wallet__gej_double(&q2, &d);
    wallet__ge qa, qb;
    cr_assert(wallet__gej_to_affine(&qa, &q) && wallet__gej_to_affine(&qb, &q2));
    cr_assert(wallet__fe_equal(&qa.x, &qb.x) && wallet__fe_equal(&qa.y, &qb.y));
    wallet__ge ng = g;
    static const wallet__fe zero = {{0, 0, 0, 0}};
    wallet__fe_sub(&ng.y, &zero, &g.y);
    wallet__gej_add_ge(&r1, &gj, &ng);
    cr_assert(r1.inf);
    wallet__gej ngj = {ng.x, ng.y, {{1, 0, 0, 0}}, 0};
    wallet__gej_add(&r2, &d, &ngj); /* 2G - G = G */
    cr_assert(wallet__gej_to_affine(&b, &r2));
    cr_assert(wallet__fe_equal(&b.x, &g.x) && wallet__fe_equal(&b.y, &g.y));
    wallet__gej_add_ge(&r1, &inf, &g);
    cr_assert(!r1.inf && wallet__gej_to_affine(&b, &r1) && wallet__fe_equal(&b.x, &g.x));
    wallet__gej_add(&r2, &inf, &inf);
    cr_assert(r2.inf);
    wallet__gej_double(&r2, &inf);
    cr_assert(r2.inf);
}

/* Scalar products and sums mod n equal libsecp256k1's secret-key tweaks,
 * including operands next to n. */
Test(wallet_batch, scalar_mul_add_match_seckey_tweaks, .init = setup, .fini = teardown)
{
    for (int i = 0; i < 2000; i++) {
        uint8_t a[32], b[32];
        rng_bytes(a, 32);
        rng_bytes(b, 32);
        if (i % 7 == 1) {
            memcpy(a, N_BYTES, 32);
            a[31] = (uint8_t)(a[31] - 1 - (i % 5)); /* n-1 .. n-5 */
        }
        if (i % 11 == 2) {
            memcpy(b, N_BYTES, 32);
            b[31] = (uint8_t)(b[31] - 1 - (i % 3));
        }
        if (i % 13 == 3) {
            memset(a + 16, 0, 16); /* 128-bit randomizer sized */
        }
        if (!secp256k1_ec_seckey_verify(ctx, a) || !secp256k1_ec_seckey_verify(ctx, b))
            continue;
        wallet__sc sa, sb, r;
        cr_assert(wallet__sc_set_b32(&sa, a) && wallet__sc_set_b32(&sb, b));
        uint8_t want[32], got[32];
        memcpy(want, a, 32);
        cr_assert(secp256k1_ec_seckey_tweak_mul(ctx, want, b));
        wallet__sc_mul(&r, &sa, &sb);
        wallet__sc_get_b32(got, &r);
        cr_assert(memcmp(got, want, 32) == 0, "mul case %d", i);
        memcpy(want, a, 32);
        if (secp256k1_ec_seckey_tweak_add(ctx, want, b)) {
            wallet__sc_add(&r, &sa, &sb);
            wallet__sc_get_b32(got, &r);
            cr_assert(memcmp(got, want, 32) == 0, "add case %d", i);
        }
        memcpy(want, a, 32);
        cr_assert(secp256k1_ec_seckey_negate(ctx, want));
        wallet__sc_neg(&r, &sa);
        wallet__sc_get_b32(got, &r);
        cr_assert(memcmp(got, want, 32) == 0, "neg case %d", i);
    }
    /* set_b32 refuses n and above */
    wallet__sc s;
    uint8_t b[32];
    memcpy(b, N_BYTES, 32);
    cr_assert_eq(wallet__sc_set_b32(&s, b), 0);
    b[31] -= 1;
    cr_assert_eq(wallet__sc_set_b32(&s, b), 1);
}

/* a * a^-1 = 1 and sqrt(a^2) = +-a over random field elements. */
Test(wallet_batch, field_inverse_and_sqrt, .init = setup, .fini = teardown)
{
    static const wallet__fe one = {{1, 0, 0, 0}};
    for (int i = 0; i < 500; i++) {
        uint8_t b[32];
        rng_bytes(b, 32);
        wallet__fe a, inv, t, sq, rt;
        if (!wallet__fe_set_b32(&a, b))
            continue;
        wallet__fe_inv(&inv, &a);
        wallet__fe_mul(&t, &a, &inv);
        cr_assert(wallet__fe_equal(&t, &one), "inv case %d", i);
        wallet__fe_sqr(&sq, &a);
        wallet__fe_mul(&t, &a, &a);
        cr_assert(wallet__fe_equal(&t, &sq));
        cr_assert(wallet__fe_sqrt(&rt, &sq));
        wallet__fe_add(&t, &rt, &a);
        static const wallet__fe zero = {{0, 0, 0, 0}};
        cr_assert(wallet__fe_equal(&rt, &a) || wallet__fe_equal(&t, &zero));
    }
    /* values >= p (weakly normalised, five 52-bit limbs) behave as their
     * residue: (p + 1) * 1 = 1, (p + 1) + (p + 1) = 2 */
    wallet__fe big = {{0xFFFFEFFFFFC30ULL, 0xFFFFFFFFFFFFFULL, 0xFFFFFFFFFFFFFULL,
                       0xFFFFFFFFFFFFFULL, 0xFFFFFFFFFFFFULL}},
               t;
    wallet__fe_mul(&t, &big, &one);
    cr_assert(wallet__fe_equal(&t, &one));
    wallet__fe_add(&t, &big, &big);
    static const wallet__fe two = {{2, 0, 0, 0}};
    cr_assert(wallet__fe_equal(&t, &two));
}

/* ------------------------------------------------------------------ */
/* Signatures                                                           */
/* ------------------------------------------------------------------ */

/* A pool of valid signatures by a few keys, made with libsecp256k1. */
#define POOL_KEYS 24
#define POOL_SIGS 400
typedef struct pool_sig {
    uint8_t pk[32];
    uint8_t msg[128];
    size_t msg_len;
    uint8_t sig[64];
} pool_sig;
static pool_sig pool[POOL_SIGS];
static uint8_t pool_pk[POOL_KEYS][32];

static void
pool_make(void)
{
    secp256k1_keypair kp[POOL_KEYS];
    for (int k = 0; k < POOL_KEYS; k++) {
        uint8_t sk[32];
        do
            rng_bytes(sk, 32);
        while (!secp256k1_ec_seckey_verify(ctx, sk));
        cr_assert(secp256k1_keypair_create(ctx, &kp[k], sk));
        secp256k1_xonly_pubkey x;
        cr_assert(secp256k1_keypair_xonly_pub(ctx, &x, NULL, &kp[k]));
        cr_assert(secp256k1_xonly_pubkey_serialize(ctx, pool_pk[k], &x));
    }
    for (int i = 0; i < POOL_SIGS; i++) {
        /* skewed: the first keys sign most, as busy accounts do */
        int k = (int)(rng_below(POOL_KEYS) * rng_below(POOL_KEYS) / POOL_KEYS);
        pool_sig *s = &pool[i];
        memcpy(s->pk, pool_pk[k], 32);
        s->msg_len = i % 10 == 0 ? rng_below(41) : 32;
        rng_bytes(s->msg, s->msg_len);
        secp256k1_schnorrsig_extraparams ep = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
        cr_assert(secp256k1_schnorrsig_sign_custom(ctx, s->sig, s->msg, s->msg_len, &kp[k], &ep));
    }
}

static int
lib_verify(const pool_sig *s)
{
    secp256k1_xonly_pubkey x;
    return secp256k1_xonly_pubkey_parse(ctx, &x, s->pk) &&
           secp256k1_schnorrsig_verify(ctx, s->sig, s->msg, s->msg_len, &x);
}

static size_t
run_batch(const pool_sig *b, size_t n, uint8_t *ok, size_t min_batch)
{
    wallet_bip340_item it[512];
    cr_assert(n <= 512);
    for (size_t i = 0; i < n; i++)
        it[i] = (wallet_bip340_item){b[i].pk, b[i].msg, b[i].msg_len, b[i].sig};
    return (size_t)wallet__bip340_verify_batch(n, it, ok, min_batch);
}

static int
hexfield(const char *s, size_t n, uint8_t *out, size_t max)
{
    cr_assert(n % 2 == 0 && n / 2 <= max, "bad hex field length %zu", n);
    cr_assert_eq(aria_hex_decode(out, n / 2, s, n), 0);
    return (int)(n / 2);
}

/* The 19 official vectors, alone (min_batch 1 forces the combination) and
 * all together between valid pool signatures: each verdict as stated. */
Test(wallet_batch, official_bip340_vectors_through_batch, .init = setup, .fini = teardown)
{
    pool_make();
    const char *src = getenv("ARIA_SOURCE_DIR");
    cr_assert(src, "ARIA_SOURCE_DIR not set");
    char path[1024];
    aria_snprintf(path, sizeof path, "%s/tests/unit/wallet/bip340_test_vectors.csv", src);
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    char line[2048];
    cr_assert(fgets(line, sizeof line, f));
    pool_sig vec[19];
    bool want[19];
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        const char *fld[8];
        size_t len[8];
        char *p = line;
        for (int i = 0; i < 8; i++) {
            char *c = (i < 7) ? strchr(p, ',') : p + strcspn(p, "\r\n");
            cr_assert(c);
            fld[i] = p;
            len[i] = (size_t)(c - p);
            p = c + 1;
        }
        cr_assert(rows < 19);
        pool_sig *v = &vec[rows];
        v->msg_len = (size_t)hexfield(fld[4], len[4], v->msg, sizeof v->msg);
        hexfield(fld[2], len[2], v->pk, 32);
        hexfield(fld[5], len[5], v->sig, 64);
        want[rows] = len[6] == 4 && memcmp(fld[6], "TRUE", 4) == 0;
        rows++;
    }
    fclose(f);
    cr_assert_eq(rows, 19);
    for (int i = 0; i < rows; i++) {
        uint8_t ok[1];
        wallet__batch_stats_reset();
        run_batch(&vec[i], 1, ok, 1);
        cr_assert_eq(ok[0], want[i], "vector %d alone", i);
        cr_assert_eq(ok[0], lib_verify(&vec[i]));
        wallet_batch_stats st;
        wallet__batch_stats_get(&st);
        cr_assert_eq(st.batches, 1);
        if (want[i])
            cr_assert_eq(st.batched, 1, "vector %d: valid but not accepted by the batch", i);
    }
    /* all vectors spread among 100 valid signatures, several layouts */
    for (int round = 0; round < 20; round++) {
        pool_sig b[119];
        bool w[119];
        size_t n = 0, v = 0;
        while (n < 119) {
            if (v < 19 && (rng_below(6) == 0 || 119 - n <= 19 - v)) {
                w[n] = want[v];
                b[n++] = vec[v++];
            } else {
                w[n] = true;
                b[n++] = pool[rng_below(POOL_SIGS)];
            }
        }
        uint8_t ok[119];
        run_batch(b, n, ok, WALLET_BATCH_MIN);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(ok[i], w[i], "round %d item %zu", round, i);
    }
    /* the valid vectors alone form a batch that holds */
    pool_sig good[19];
    size_t ng = 0;
    for (int i = 0; i < rows; i++)
        if (want[i])
            good[ng++] = vec[i];
    uint8_t ok[19];
    wallet__batch_stats_reset();
    cr_assert_eq(run_batch(good, ng, ok, 1), 0);
    wallet_batch_stats st;
    wallet__batch_stats_get(&st);
    cr_assert_eq(st.batch_fails, 0);
    cr_assert_eq(st.batched, ng);
}

/* Thousands of valid batches of random size 1..300 (keys repeated, some
 * signatures duplicated): all accepted, and accepted by the combination,
 * not by the fallback. */
Test(wallet_batch, random_valid_batches_accepted_by_the_combination, .init = setup,
     .fini = teardown, .timeout = 600)
{
    pool_make();
    static pool_sig b[300];
    uint8_t ok[300];
    size_t items = 0;
    for (int round = 0; round < 1200; round++) {
        size_t n = round < 300 ? (size_t)round % 12 + 1 : 1 + rng_below(300);
        if (round % 9 == 0)
            n = 1 + rng_below(20);
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && rng_below(8) == 0)
                b[i] = b[rng_below(i)]; /* a duplicate */
            else
                b[i] = pool[rng_below(POOL_SIGS)];
        }
        wallet__batch_stats_reset();
        cr_assert_eq(run_batch(b, n, ok, 1), 0, "round %d (n %zu)", round, n);
        wallet_batch_stats st;
        wallet__batch_stats_get(&st);
        cr_assert_eq(st.batches, 1);
        cr_assert_eq(st.batch_fails, 0, "round %d: valid batch of %zu did not hold", round, n);
        cr_assert_eq(st.batched, n);
        cr_assert_eq(st.singles, 0);
        items += n;
    }
    cr_assert(items > 100000, "%zu items", items);
}

/* Ways to break item j of a batch (and sometimes another item). */
enum {
    BREAK_S_BIT,
    BREAK_R_BIT,
    BREAK_MSG_BIT,
    BREAK_KEY_SWAP,
    BREAK_R_OFF_CURVE,
    BREAK_S_GE_N,
    BREAK_R_GE_P,
    BREAK_KEY_OFF_CURVE,
    BREAK_SWAP_SIGS,
    BREAK_S_NEGATED,
    BREAK_S_ZERO,
    BREAK_R_OTHER,
    BREAK_MSG_LEN,
    BREAK_COUNT
};

static void
break_item(pool_sig *b, size_t n, size_t j, int how)
{
    pool_sig *s = &b[j];
    switch (how) {
    case BREAK_S_BIT: s->sig[32 + rng_below(32)] ^= (uint8_t)(1u << rng_below(8)); break;
    case BREAK_R_BIT: s->sig[rng_below(32)] ^= (uint8_t)(1u << rng_below(8)); break;
    case BREAK_MSG_BIT:
        if (s->msg_len == 0)
            s->msg_len = 1, s->msg[0] = 0;
        else
            s->msg[rng_below(s->msg_len)] ^= (uint8_t)(1u << rng_below(8));
        break;
    case BREAK_KEY_SWAP: {
        uint8_t *k;
        do
            k = pool_pk[rng_below(POOL_KEYS)];
        while (memcmp(k, s->pk, 32) == 0);
        memcpy(s->pk, k, 32);
        break;
    }
    case BREAK_R_OFF_CURVE: {
        secp256k1_xonly_pubkey x;
        do
            rng_bytes(s->sig, 32);
        while (secp256k1_xonly_pubkey_parse(ctx, &x, s->sig));
        break;
    }
    case BREAK_S_GE_N:
        memcpy(s->sig + 32, N_BYTES, 32);
        be_add_small(s->sig + 32, (unsigned)rng_below(3));
        if (rng_below(4) == 0)
            memset(s->sig + 32, 0xff, 32);
        break;
    case BREAK_R_GE_P:
        memcpy(s->sig, P_BYTES, 32);
        be_add_small(s->sig, (unsigned)rng_below(8));
        break;
    case BREAK_KEY_OFF_CURVE: {
        secp256k1_xonly_pubkey x;
        do
            rng_bytes(s->pk, 32);
        while (secp256k1_xonly_pubkey_parse(ctx, &x, s->pk));
        break;
    }
    case BREAK_SWAP_SIGS: {
        size_t o = (j + 1 + rng_below(n - 1)) % n;
        uint8_t t[64];
        memcpy(t, s->sig, 64);
        memcpy(s->sig, b[o].sig, 64);
        memcpy(b[o].sig, t, 64);
        break;
    }
    case BREAK_S_NEGATED: {
        wallet__sc x;
        cr_assert(wallet__sc_set_b32(&x, s->sig + 32));
        wallet__sc_neg(&x, &x);
        wallet__sc_get_b32(s->sig + 32, &x);
        break;
    }
    case BREAK_S_ZERO: memset(s->sig + 32, 0, 32); break;
    case BREAK_R_OTHER: /* a valid R of another signature */
        memcpy(s->sig, pool[rng_below(POOL_SIGS)].sig, 32);
        break;
    case BREAK_MSG_LEN: s->msg_len = s->msg_len ? s->msg_len - 1 : 1; break;
    }
}

/* Break one item (or a pair) of a valid batch in each way: the verdicts
 * are libsecp256k1's item for item, the broken item is among the bad, and
 * every untouched item is still good. */
Test(wallet_batch, broken_items_found_exactly, .init = setup, .fini = teardown, .timeout = 600)
{
    pool_make();
    static pool_sig b[130];
    uint8_t ok[130];
    int seen_bad[BREAK_COUNT] = {0};
    for (int round = 0; round < 1300; round++) {
        int how = round % BREAK_COUNT;
        size_t n = 2 + rng_below(round % 5 == 0 ? 129 : 24);
        for (size_t i = 0; i < n; i++)
            b[i] = (i > 0 && rng_below(10) == 0) ? b[rng_below(i)] : pool[rng_below(POOL_SIGS)];
        size_t j = rng_below(n);
        pool_sig orig[130];
        memcpy(orig, b, n * sizeof *b);
        break_item(b, n, j, how);
        wallet__batch_stats_reset();
        size_t bad = run_batch(b, n, ok, round % 3 ? WALLET_BATCH_MIN : 1);
        size_t lib_bad = 0;
        for (size_t i = 0; i < n; i++) {
            int lib = lib_verify(&b[i]);
            cr_assert_eq(ok[i], lib, "round %d how %d item %zu of %zu (broken %zu)", round, how, i,
                         n, j);
            lib_bad += !lib;
            if (memcmp(&b[i], &orig[i], sizeof b[i]) == 0)
                cr_assert(ok[i], "round %d: untouched item %zu rejected", round, i);
        }
        cr_assert_eq(bad, lib_bad);
        if (!ok[j])
            seen_bad[how]++;
        /* the combination never vouches for a bad item */
        wallet_batch_stats st;
        wallet__batch_stats_get(&st);
        cr_assert(st.batched + lib_bad <= n);
    }
    for (int h = 0; h < BREAK_COUNT; h++)
        cr_assert(seen_bad[h] >= 90, "break %d made only %d bad items", h, seen_bad[h]);
}

/* Two invalid signatures whose errors cancel in a plain sum (s_i + d,
 * s_j - d) are caught: the randomizers weight them differently. Without
 * them this batch would hold. */
Test(wallet_batch, cancelling_errors_are_caught, .init = setup, .fini = teardown)
{
    pool_make();
    for (int round = 0; round < 200; round++) {
        pool_sig b[8];
        for (int i = 0; i < 8; i++)
            b[i] = pool[rng_below(POOL_SIGS)];
        size_t x = rng_below(8), y = (x + 1 + rng_below(7)) % 8;
        uint8_t db[32];
        rng_bytes(db, 32);
        db[0] &= 0x7f;
        wallet__sc d, sx, sy;
        cr_assert(wallet__sc_set_b32(&d, db));
        cr_assert(wallet__sc_set_b32(&sx, b[x].sig + 32));
        cr_assert(wallet__sc_set_b32(&sy, b[y].sig + 32));
        wallet__sc_add(&sx, &sx, &d);
        wallet__sc_neg(&d, &d);
        wallet__sc_add(&sy, &sy, &d);
        wallet__sc_get_b32(b[x].sig + 32, &sx);
        wallet__sc_get_b32(b[y].sig + 32, &sy);
        uint8_t ok[8];
        wallet__batch_stats_reset();
        cr_assert_eq(run_batch(b, 8, ok, 1), 2);
        cr_assert(!ok[x] && !ok[y]);
        wallet_batch_stats st;
        wallet__batch_stats_get(&st);
        cr_assert_eq(st.batch_fails, 1);
    }
}

/* The public API: tagged wallet signatures of several purposes and keys,
 * one key without its lifted point (checked alone) and one failed parse. */
Test(wallet_batch, public_api_matches_verify_parsed)
{
    enum { NW = 5, N = 200 };
    wallet *w[NW];
    wallet_pubkey pk[NW];
    for (int k = 0; k < NW; k++) {
        uint8_t seed[32], id[32];
        memset(seed, k + 1, 32);
        cr_assert_eq(wallet_from_seed(seed, &w[k]), 0);
        wallet_account_id(w[k], id);
        cr_assert_eq(wallet_pubkey_parse(id, &pk[k]), 0);
    }
    static const char *purposes[] = {"entry", "receipt", "peer"};
    static uint8_t msgs[N][48], sigs[N][64];
    wallet_batch_item it[N];
    for (int i = 0; i < N; i++) {
        int k = i % NW;
        memset(msgs[i], i, sizeof msgs[i]);
        const char *pu = purposes[i % 3];
        size_t len = (size_t)(i % 49);
        cr_assert_eq(wallet_sign(w[k], pu, msgs[i], len, sigs[i]), 0);
        it[i] = (wallet_batch_item){&pk[k], pu, msgs[i], len, sigs[i]};
    }
    uint8_t ok[N];
    wallet__batch_stats_reset();
    cr_assert_eq(wallet_verify_batch(N, it, ok), 0);
    wallet_batch_stats st;
    wallet__batch_stats_get(&st);
    cr_assert_eq(st.batches, 1);
    cr_assert_eq(st.batched, N);
    cr_assert_eq(st.singles, 0);
    for (int i = 0; i < N; i++)
        cr_assert(ok[i]);

    /* wrong purpose on 7, a key whose lifted point is missing on 11, a
     * failed parse on 12 */
    it[7].purpose = "peer2";
    wallet_pubkey nolift = pk[11 % NW];
    memset(nolift.opaque + 64, 0, 64);
    it[11].pk = &nolift;
    wallet_pubkey failed;
    uint8_t bad[32];
    memset(bad, 0xff, 32);
    cr_assert_eq(wallet_pubkey_parse(bad, &failed), ARIA_EINVAL);
    it[12].pk = &failed;
    wallet__batch_stats_reset();
    cr_assert_eq(wallet_verify_batch(N, it, ok), 2);
    for (int i = 0; i < N; i++) {
        int want =
            wallet_verify_parsed(it[i].pk, it[i].purpose, it[i].msg, it[i].len, it[i].sig) == 0;
        cr_assert_eq(ok[i], want, "item %d", i);
    }
    cr_assert(!ok[7] && ok[11] && !ok[12]);
    /* small batches go one by one; n = 0 is fine */
    wallet__batch_stats_reset();
    cr_assert_eq(wallet_verify_batch(3, it, ok), 0);
    wallet__batch_stats_get(&st);
    cr_assert_eq(st.batches, 0);
    cr_assert_eq(st.singles, 3);
    cr_assert_eq(wallet_verify_batch(0, it, ok), 0);
    for (int k = 0; k < NW; k++)
        wallet_free(w[k]);
}

/* Long calls are split into combinations of at most WALLET_BATCH_MAX items
 * (a tail too small to batch joins the one before); a bad item sends only
 * its own combination to libsecp256k1. */
Test(wallet_batch, long_calls_split_into_combinations, .timeout = 600)
{
    enum { NW = 8, N = WALLET_BATCH_MAX + 100 };
    wallet *w[NW];
    wallet_pubkey pk[NW];
    for (int k = 0; k < NW; k++) {
        uint8_t seed[32], id[32];
        memset(seed, 0x40 + k, 32);
        cr_assert_eq(wallet_from_seed(seed, &w[k]), 0);
        wallet_account_id(w[k], id);
        cr_assert_eq(wallet_pubkey_parse(id, &pk[k]), 0);
    }
    static uint8_t msgs[N][8], sigs[N][64], ok[N];
    static wallet_batch_item it[N];
    for (int i = 0; i < N; i++) {
        memcpy(msgs[i], &i, sizeof i);
        cr_assert_eq(wallet_sign(w[i % NW], "entry", msgs[i], 8, sigs[i]), 0);
        it[i] = (wallet_batch_item){&pk[i % NW], "entry", msgs[i], 8, sigs[i]};
    }
    wallet_batch_stats st;
    wallet__batch_stats_reset();
    cr_assert_eq(wallet_verify_batch(WALLET_BATCH_MAX + 2, it, ok), 0);
    wallet__batch_stats_get(&st);
    cr_assert_eq(st.batches, 1);
    cr_assert_eq(st.batched, WALLET_BATCH_MAX + 2);
    wallet__batch_stats_reset();
    cr_assert_eq(wallet_verify_batch(N, it, ok), 0);
    wallet__batch_stats_get(&st);
    cr_assert_eq(st.batches, 2);
    cr_assert_eq(st.batched, N);
    sigs[N - 7][40] ^= 1;
    wallet__batch_stats_reset();
    cr_assert_eq(wallet_verify_batch(N, it, ok), 1);
    wallet__batch_stats_get(&st);
    cr_assert_eq(st.batch_fails, 1);
    cr_assert_eq(st.batched, WALLET_BATCH_MAX);
    cr_assert_eq(st.singles, 100);
    for (int i = 0; i < N; i++)
        cr_assert_eq(ok[i], i != N - 7, "item %d", i);
    for (int k = 0; k < NW; k++)
        wallet_free(w[k]);
}
