/*
 * test_keys.c — wallet handle: deterministic derivation, tagged-hash
 * signatures, hashing and sealed boxes.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <sodium.h>

#include "wallet.h"
#include "wallet_internal.h"

static void
seed_fill(uint8_t seed[32], uint8_t v)
{
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(v + i);
}

Test(wallet, from_seed_is_deterministic_and_distinct)
{
    uint8_t s1[32], s2[32], id1[32], id1b[32], id2[32], e1[32], e1b[32], e2[32];
    seed_fill(s1, 1);
    seed_fill(s2, 2);
    wallet *a, *b, *c;
    cr_assert_eq(wallet_from_seed(s1, &a), 0);
    cr_assert_eq(wallet_from_seed(s1, &b), 0);
    cr_assert_eq(wallet_from_seed(s2, &c), 0);
    wallet_account_id(a, id1);
    wallet_account_id(b, id1b);
    wallet_account_id(c, id2);
    wallet_enc_key(a, e1);
    wallet_enc_key(b, e1b);
    wallet_enc_key(c, e2);
    cr_assert(memcmp(id1, id1b, 32) == 0);
    cr_assert(memcmp(e1, e1b, 32) == 0);
    cr_assert(memcmp(id1, id2, 32) != 0);
    cr_assert(memcmp(e1, e2, 32) != 0);
    cr_assert(memcmp(id1, e1, 32) != 0);
    wallet_free(a);
    wallet_free(b);
    wallet_free(c);
    wallet_free(NULL);
}

/* The derivation documented in docs/wallet.md, recomputed here with the raw
 * libraries so the documentation and the code cannot drift apart. */
Test(wallet, derivation_matches_documentation)
{
    uint8_t seed[32], sk[32], id[32], want_id[32], xsk[32], want_epk[32], epk[32];
    seed_fill(seed, 7);
    uint8_t msg[sizeof WALLET_TAG_SIGN_KEY];
    memcpy(msg, "aria/wallet/secp256k1/v1", 24);
    msg[24] = 0;
    crypto_generichash(sk, 32, msg, 25, seed, 32);
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    secp256k1_keypair kp;
    secp256k1_xonly_pubkey xpk;
    cr_assert(secp256k1_keypair_create(ctx, &kp, sk));
    cr_assert(secp256k1_keypair_xonly_pub(ctx, &xpk, NULL, &kp));
    cr_assert(secp256k1_xonly_pubkey_serialize(ctx, want_id, &xpk));
    secp256k1_context_destroy(ctx);
    crypto_generichash(xsk, 32, (const uint8_t *)"aria/wallet/x25519/v1", 21, seed, 32);
    crypto_scalarmult_base(want_epk, xsk);
    wallet *w;
    cr_assert_eq(wallet_from_seed(seed, &w), 0);
    wallet_account_id(w, id);
    wallet_enc_key(w, epk);
    cr_assert(memcmp(id, want_id, 32) == 0);
    cr_assert(memcmp(epk, want_epk, 32) == 0);
    wallet_free(w);
}

Test(wallet, new_random_gives_distinct_wallets)
{
    wallet *a, *b;
    uint8_t ia[32], ib[32];
    cr_assert_eq(wallet_new_random(&a), 0);
    cr_assert_eq(wallet_new_random(&b), 0);
    wallet_account_id(a, ia);
    wallet_account_id(b, ib);
    cr_assert(memcmp(ia, ib, 32) != 0);
    wallet_free(a);
    wallet_free(b);
}

Test(wallet, sign_verify_roundtrip_and_rejections)
{
    uint8_t seed[32], id[32], other[32], sig[64], sig2[64];
    seed_fill(seed, 3);
    wallet *w, *o;
    cr_assert_eq(wallet_from_seed(seed, &w), 0);
    seed_fill(seed, 4);
    cr_assert_eq(wallet_from_seed(seed, &o), 0);
    wallet_account_id(w, id);
    wallet_account_id(o, other);
    const char msg[] = "pay 5 credits to bob";
    cr_assert_eq(wallet_sign(w, "entry", msg, sizeof msg, sig), 0);
    cr_assert_eq(wallet_verify(id, "entry", msg, sizeof msg, sig), 0);
    /* fresh aux randomness: a second signature differs and also verifies */
    cr_assert_eq(wallet_sign(w, "entry", msg, sizeof msg, sig2), 0);
    cr_assert(memcmp(sig, sig2, 64) != 0);
    cr_assert_eq(wallet_verify(id, "entry", msg, sizeof msg, sig2), 0);
    /* other purpose (domain separation), other key, other message, bad sig */
    cr_assert_eq(wallet_verify(id, "envelope", msg, sizeof msg, sig), ARIA_ECRYPTO);
    cr_assert_eq(wallet_verify(other, "entry", msg, sizeof msg, sig), ARIA_ECRYPTO);
    cr_assert_eq(wallet_verify(id, "entry", msg, sizeof msg - 1, sig), ARIA_ECRYPTO);
    for (int bit = 0; bit < 512; bit += 37) {
        memcpy(sig2, sig, 64);
        sig2[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_assert_eq(wallet_verify(id, "entry", msg, sizeof msg, sig2), ARIA_ECRYPTO);
    }
    /* empty message */
    cr_assert_eq(wallet_sign(w, "peer", NULL, 0, sig), 0);
    cr_assert_eq(wallet_verify(id, "peer", NULL, 0, sig), 0);
    /* x = 5 has no point on secp256k1? use p itself: not a field element */
    uint8_t bad[32];
    memset(bad, 0xff, 32);
    cr_assert_eq(wallet_verify(bad, "peer", NULL, 0, sig), ARIA_EINVAL);
    wallet_free(w);
    wallet_free(o);
}

/* The pre-parsed key API gives exactly wallet_verify's verdicts, and a failed
 * parse leaves a key that verifies nothing (no abort inside libsecp256k1). */
Test(wallet, verify_parsed_matches_verify)
{
    uint8_t seed[32], id[32], other[32], sig[64], sig2[64];
    seed_fill(seed, 5);
    wallet *w, *o;
    cr_assert_eq(wallet_from_seed(seed, &w), 0);
    seed_fill(seed, 6);
    cr_assert_eq(wallet_from_seed(seed, &o), 0);
    wallet_account_id(w, id);
    wallet_account_id(o, other);
    wallet_pubkey pk, opk;
    cr_assert_eq(wallet_pubkey_parse(id, &pk), 0);
    cr_assert_eq(wallet_pubkey_parse(other, &opk), 0);
    const char msg[] = "receipt for job 7";
    cr_assert_eq(wallet_sign(w, "receipt", msg, sizeof msg, sig), 0);
    cr_assert_eq(wallet_verify_parsed(&pk, "receipt", msg, sizeof msg, sig), 0);
    cr_assert_eq(wallet_verify_parsed(&pk, "entry", msg, sizeof msg, sig), ARIA_ECRYPTO);
    cr_assert_eq(wallet_verify_parsed(&opk, "receipt", msg, sizeof msg, sig), ARIA_ECRYPTO);
    cr_assert_eq(wallet_verify_parsed(&pk, "receipt", msg, sizeof msg - 1, sig), ARIA_ECRYPTO);
    for (int bit = 0; bit < 512; bit += 29) {
        memcpy(sig2, sig, 64);
        sig2[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int a = wallet_verify_parsed(&pk, "receipt", msg, sizeof msg, sig2);
        cr_assert_eq(a, ARIA_ECRYPTO);
        cr_assert_eq(a, wallet_verify(id, "receipt", msg, sizeof msg, sig2));
    }
    /* a copy of the parsed value works (plain data) */
    wallet_pubkey copy;
    memcpy(&copy, &pk, sizeof copy);
    cr_assert_eq(wallet_verify_parsed(&copy, "receipt", msg, sizeof msg, sig), 0);
    /* an id that is not a key: EINVAL, and the zeroed result verifies nothing */
    uint8_t bad[32];
    memset(bad, 0xff, 32);
    wallet_pubkey bpk;
    cr_assert_eq(wallet_pubkey_parse(bad, &bpk), ARIA_EINVAL);
    cr_assert_eq(wallet_verify_parsed(&bpk, "receipt", msg, sizeof msg, sig), ARIA_ECRYPTO);
    wallet_free(w);
    wallet_free(o);
}

/* The tagged hash equals BIP-340's definition with tag "aria/<purpose>/v1":
 * verifying the wallet signature as a plain BIP-340 signature over that
 * digest must succeed. */
Test(wallet, signature_is_bip340_over_tagged_hash)
{
    uint8_t seed[32], id[32], sig[64], th[32], h[32];
    seed_fill(seed, 9);
    wallet *w;
    cr_assert_eq(wallet_from_seed(seed, &w), 0);
    wallet_account_id(w, id);
    const char msg[] = "hello";
    cr_assert_eq(wallet_sign(w, "receipt", msg, 5, sig), 0);
    crypto_hash_sha256(th, (const uint8_t *)"aria/receipt/v1", 15);
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, th, 32);
    crypto_hash_sha256_update(&st, th, 32);
    crypto_hash_sha256_update(&st, (const uint8_t *)msg, 5);
    crypto_hash_sha256_final(&st, h);
    cr_assert_eq(wallet_bip340_verify(id, h, 32, sig), 0);
    h[0] ^= 1;
    cr_assert_eq(wallet_bip340_verify(id, h, 32, sig), ARIA_ECRYPTO);
    wallet_free(w);
}

Test(wallet, hash_is_blake2b_256_and_incremental_matches)
{
    /* BLAKE2b-256("abc") */
    static const char *want = "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319";
    uint8_t out[32], out2[32];
    char hex[65];
    wallet_hash(out, "abc", 3);
    aria_hex_encode(hex, sizeof hex, out, 32);
    cr_assert_str_eq(hex, want);
    uint8_t big[1000];
    for (int i = 0; i < 1000; i++)
        big[i] = (uint8_t)(i * 31);
    wallet_hash(out, big, sizeof big);
    for (size_t split = 0; split <= 1000; split += 111) {
        wallet_hasher h;
        wallet_hasher_init(&h);
        wallet_hasher_update(&h, big, split);
        wallet_hasher_update(&h, NULL, 0);
        wallet_hasher_update(&h, big + split, 1000 - split);
        wallet_hasher_final(&h, out2);
        cr_assert(memcmp(out, out2, 32) == 0);
    }
}

Test(wallet, seal_roundtrip_and_forgery_detected)
{
    uint8_t seed[32], ek[32];
    seed_fill(seed, 11);
    wallet *w, *o;
    cr_assert_eq(wallet_from_seed(seed, &w), 0);
    seed_fill(seed, 12);
    cr_assert_eq(wallet_from_seed(seed, &o), 0);
    wallet_enc_key(w, ek);
    const char msg[] = "the prompt: what is 2+2?";
    size_t n = sizeof msg;
    uint8_t box[sizeof msg + WALLET_SEAL_OVERHEAD], box2[sizeof box], out[sizeof msg];
    cr_assert_eq(wallet_seal(ek, msg, n, box), 0);
    cr_assert_eq(wallet_seal(ek, msg, n, box2), 0);
    cr_assert(memcmp(box, box2, sizeof box) != 0); /* ephemeral keys */
    cr_assert_eq(wallet_unseal(w, box, sizeof box, out), 0);
    cr_assert(memcmp(out, msg, n) == 0);
    cr_assert_eq(wallet_unseal(o, box, sizeof box, out), ARIA_ECRYPTO);
    for (size_t i = 0; i < sizeof box; i++) {
        memcpy(box2, box, sizeof box);
        box2[i] ^= 0x20;
        cr_assert_eq(wallet_unseal(w, box2, sizeof box, out), ARIA_ECRYPTO, "byte %zu", i);
    }
    cr_assert_eq(wallet_unseal(w, box, sizeof box - 1, out), ARIA_ECRYPTO);
    cr_assert_eq(wallet_unseal(w, box, WALLET_SEAL_OVERHEAD - 1, out), ARIA_ERANGE);
    /* empty message */
    uint8_t ebox[WALLET_SEAL_OVERHEAD];
    cr_assert_eq(wallet_seal(ek, NULL, 0, ebox), 0);
    cr_assert_eq(wallet_unseal(w, ebox, sizeof ebox, NULL), 0);
    /* low-order recipient key (all zero) */
    uint8_t zero[32] = {0};
    cr_assert_eq(wallet_seal(zero, msg, n, box), ARIA_ECRYPTO);
    wallet_free(w);
    wallet_free(o);
}
