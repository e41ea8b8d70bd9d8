/*
 * test_wipe.c — secrets do not outlive the operations that use them.
 *
 * How: every wallet operation that touches secret bytes (derivation,
 * signing, sealing/unsealing, keystore save/load encrypted and plain, and
 * wallet_free) runs on a thread whose stack is memory this test owns and
 * pre-fills with a pattern. After the thread ends, the test scans that whole
 * stack for any 8-byte piece of each secret (seed, secp256k1 key, X25519
 * key, the keystore's Argon2id-derived key), also byte-reversed so the
 * little-endian limbs of a scalar are caught. Stack frames are where
 * temporaries live; long-lived secrets are in sodium_malloc memory, which
 * sodium_free wipes and unmaps: the second test checks the pages of a freed
 * wallet's secrets are no longer mapped at all (mincore fails), so nothing
 * can read them. The wallet's plain heap (aria_alloc) holds only public
 * keys. Reading the owned stack is defined behaviour (valgrind-clean); the
 * scanner is excluded from ASan instrumentation because ASan may leave
 * stale redzone poison on a dead thread's frames.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "wallet.h"
#include "wallet_internal.h"

#define STACK_BYTES (1u << 20)

typedef struct job {
    uint8_t seed[32];
    char path_enc[64], path_plain[64];
    int rc;
} job;

static void *
run_ops(void *arg)
{
    job *j = arg;
    wallet *w = NULL, *l = NULL;
    uint8_t sig[64], id[32], ek[32], box[16 + WALLET_SEAL_OVERHEAD], out[16];
    j->rc = -100;
    if (wallet_from_seed(j->seed, &w))
        return NULL;
    wallet_account_id(w, id);
    wallet_enc_key(w, ek);
    if (wallet_sign(w, "entry", "msg", 3, sig) || wallet_verify(id, "entry", "msg", 3, sig))
        return NULL;
    if (wallet_seal(ek, "0123456789abcdef", 16, box) || wallet_unseal(w, box, sizeof box, out))
        return NULL;
    if (wallet_keystore_save(j->path_enc, w, "pw") || wallet_keystore_save(j->path_plain, w, NULL))
        return NULL;
    wallet_free(w);
    if (wallet_keystore_load(j->path_enc, "pw", &l))
        return NULL;
    if (wallet_sign(l, "peer", "x", 1, sig))
        return NULL;
    wallet_free(l);
    if (wallet_keystore_load(j->path_plain, NULL, &l))
        return NULL;
    wallet_free(l);
    j->rc = 0;
    return NULL;
}

__attribute__((no_sanitize_address, noinline)) static long
find_piece(const volatile uint8_t *hay, size_t n, const uint8_t *secret, size_t slen)
{
    for (size_t k = 0; k + 8 <= slen; k += 8) {
        uint8_t fwd[8], rev[8];
        for (int i = 0; i < 8; i++) {
            fwd[i] = secret[k + (size_t)i];
            rev[i] = secret[k + 7 - (size_t)i];
        }
        for (size_t p = 0; p + 8 <= n; p++) {
            int mf = 1, mr = 1;
            for (int i = 0; i < 8 && (mf || mr); i++) {
                uint8_t b = hay[p + (size_t)i];
                mf &= b == fwd[i];
                mr &= b == rev[i];
            }
            if (mf || mr)
                return (long)p;
        }
    }
    return -1;
}

Test(wallet_wipe, no_secret_bytes_left_on_the_stack)
{
    setenv("ARIA_KEYSTORE_KDF", "min", 1);
    job j;
    memset(&j, 0, sizeof j);
    for (int i = 0; i < 32; i++)
        j.seed[i] = (uint8_t)(0x5a ^ (i * 29));
    char dir[] = "wipe-XXXXXX";
    cr_assert(mkdtemp(dir));
    aria_snprintf(j.path_enc, sizeof j.path_enc, "%s/enc.key", dir);
    aria_snprintf(j.path_plain, sizeof j.path_plain, "%s/plain.key", dir);

    uint8_t *stack =
        mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(stack != MAP_FAILED);
    memset(stack, 0xA5, STACK_BYTES);
    pthread_attr_t at;
    pthread_attr_init(&at);
    cr_assert_eq(pthread_attr_setstack(&at, stack, STACK_BYTES), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, &at, run_ops, &j), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    pthread_attr_destroy(&at);
    cr_assert_eq(j.rc, 0, "operations failed: %s", aria_err_msg());

    /* the secrets, recomputed from the documented derivations */
    uint8_t sk[32], xsk[32], key[32], msg[25];
    memcpy(msg, "aria/wallet/secp256k1/v1", 24);
    msg[24] = 0;
    crypto_generichash(sk, 32, msg, 25, j.seed, 32);
    crypto_generichash(xsk, 32, (const uint8_t *)"aria/wallet/x25519/v1", 21, j.seed, 32);
    uint8_t file[WALLET_KS_BYTES];
    FILE *f = fopen(j.path_enc, "rb");
    cr_assert(f);
    cr_assert_eq(fread(file, 1, sizeof file, f), sizeof file);
    fclose(f);
    cr_assert_eq(crypto_pwhash(key, 32, "pw", 2, file + 20, aria_load_u32le(file + 12),
                               (size_t)aria_load_u32le(file + 16) * 1024,
                               crypto_pwhash_ALG_ARGON2ID13),
                 0);
    /* sanity: the scanner finds a planted secret */
    memcpy(stack + 1000, sk + 8, 8);
    cr_assert_eq(find_piece(stack, STACK_BYTES, sk, 32), 1000);
    memset(stack + 1000, 0xA5, 8);
    /* the thread really used this stack */
    size_t used = 0;
    for (size_t i = 0; i < STACK_BYTES; i++)
        used += stack[i] != 0xA5;
    cr_assert(used > 4096, "thread stack barely touched (%zu bytes)", used);

    long at_seed = find_piece(stack, STACK_BYTES, j.seed, 32);
    long at_sk = find_piece(stack, STACK_BYTES, sk, 32);
    long at_xsk = find_piece(stack, STACK_BYTES, xsk, 32);
    long at_key = find_piece(stack, STACK_BYTES, key, 32);
    cr_assert_eq(at_seed, -1, "seed bytes left at stack offset %ld", at_seed);
    cr_assert_eq(at_sk, -1, "signing key bytes left at stack offset %ld", at_sk);
    cr_assert_eq(at_xsk, -1, "X25519 key bytes left at stack offset %ld", at_xsk);
    cr_assert_eq(at_key, -1, "keystore key bytes left at stack offset %ld", at_key);
    munmap(stack, STACK_BYTES);
    unlink(j.path_enc);
    unlink(j.path_plain);
    rmdir(dir);
}

typedef struct sign_job {
    wallet *w;
    int rc;
} sign_job;

static void *
run_sign(void *arg)
{
    sign_job *j = arg;
    uint8_t sig[64];
    j->rc = 0;
    for (int i = 0; i < 3 && !j->rc; i++)
        j->rc = wallet_sign(j->w, "envelope", &i, sizeof i, sig);
    return NULL;
}

/* Signing alone (the hot path, which burns less stack than the others)
 * leaves no key bytes behind either. The wallet is made on the main thread
 * so only wallet_sign runs on the scanned stack. */
Test(wallet_wipe, signing_leaves_no_key_bytes_on_the_stack)
{
    uint8_t seed[32], sk[32], msg[25];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(0x33 + i * 5);
    sign_job j = {0};
    cr_assert_eq(wallet_from_seed(seed, &j.w), 0);
    memcpy(msg, "aria/wallet/secp256k1/v1", 24);
    msg[24] = 0;
    crypto_generichash(sk, 32, msg, 25, seed, 32);
    uint8_t *stack =
        mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(stack != MAP_FAILED);
    memset(stack, 0xA5, STACK_BYTES);
    pthread_attr_t at;
    pthread_attr_init(&at);
    cr_assert_eq(pthread_attr_setstack(&at, stack, STACK_BYTES), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, &at, run_sign, &j), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    pthread_attr_destroy(&at);
    cr_assert_eq(j.rc, 0);
    long at_sk = find_piece(stack, STACK_BYTES, sk, 32);
    cr_assert_eq(at_sk, -1, "signing key bytes left at stack offset %ld", at_sk);
    munmap(stack, STACK_BYTES);
    wallet_free(j.w);
}

Test(wallet_wipe, freed_wallet_secrets_are_unmapped)
{
    uint8_t seed[32] = {9, 8, 7};
    wallet *w;
    cr_assert_eq(wallet_from_seed(seed, &w), 0);
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t p = (uintptr_t)w->sec & ~(uintptr_t)(pg - 1);
    unsigned char vec;
    cr_assert_eq(mincore((void *)p, (size_t)pg, &vec), 0, "secret page not mapped while in use");
    /* the secrets are read-only while in use */
    wallet_free(w);
    errno = 0;
    cr_assert_eq(mincore((void *)p, (size_t)pg, &vec), -1);
    cr_assert_eq(errno, ENOMEM, "secret page still mapped after wallet_free");
}
