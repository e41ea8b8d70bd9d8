/*
 * wallet.c — the wallet handle: seed derivations, BIP-340 signing and
 * verification over tagged hashes, BLAKE2b-256 hashing and sealed boxes.
 *
 * Invariants:
 *  - Secrets live in a sodium_malloc'd wallet_secrets made read-only once
 *    filled; stack temporaries holding secret bytes are wiped with
 *    sodium_memzero on every path before returning.
 *  - The secp256k1 context is created and randomised once (pthread_once)
 *    and only used read-only afterwards, which libsecp256k1 allows from
 *    several threads at once.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <secp256k1_schnorrsig.h>
#include <sodium.h>

#include "secp256k1_batch.h"
#include "wallet_internal.h"

_Static_assert(sizeof(crypto_generichash_state) <= sizeof(((wallet_hasher *)0)->state),
               "wallet_hasher too small for BLAKE2b state");
_Static_assert(_Alignof(crypto_generichash_state) <= 64, "wallet_hasher alignment");
_Static_assert(WALLET_SEAL_OVERHEAD ==
                   crypto_scalarmult_curve25519_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "seal overhead");

/* Stack depth of secp256k1_schnorrsig_sign32 plus margin (test_wipe.c). */
/* libsecp256k1's signing clears its own secret scalars (test_wipe.c finds
 * no key bytes after it even without a burn); this cheap burn (~0.1 us) is
 * defence in depth for nonce material the test cannot recognise. */
#define WALLET_SIGN_BURN_BYTES 4096

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static secp256k1_context *g_ctx;   /* read-only after init */
static atomic_uint g_fork_gen = 1; /* bumped in every child after fork */

static void
on_fork_child(void)
{
    atomic_fetch_add_explicit(&g_fork_gen, 1, memory_order_relaxed);
}

static void
init_once(void)
{
    if (sodium_init() < 0)
        return;
    if (pthread_atfork(NULL, NULL, on_fork_child) != 0)
        return;
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (!ctx)
        return;
    /* Blinding of the signing computations against side channels. */
    uint8_t r[32];
    randombytes_buf(r, sizeof r);
    if (!secp256k1_context_randomize(ctx, r)) {
        secp256k1_context_destroy(ctx);
        return;
    }
    sodium_memzero(r, sizeof r);
    g_ctx = ctx;
}

const secp256k1_context *
wallet__ctx(void)
{
    pthread_once(&g_once, init_once);
    return g_ctx;
}

const char *
wallet_backend_version(void)
{
    return sodium_version_string(); /* cmd_version prints "libsodium %s" */
}

__attribute__((noinline)) void
wallet__burn_stack(size_t bytes)
{
    unsigned char buf[16384];
    if (bytes > sizeof buf)
        bytes = sizeof buf;
    /* zero the deepest part (next to the dead frames below us) */
    sodium_memzero(buf + sizeof buf - bytes, bytes);
    __asm__ __volatile__("" : : "r"(buf) : "memory");
}

int
wallet__err_wrap(int rc, const char *prefix)
{
    char tmp[256];
    aria_snprintf(tmp, sizeof tmp, "%s", aria_err_msg());
    return aria_errf(rc, "%s: %s", prefix, tmp);
}

/* ------------------------------------------------------------------ */
/* Handle                                                               */
/* ------------------------------------------------------------------ */

int
wallet_from_seed(const uint8_t seed[WALLET_SEED_BYTES], wallet **out)
{
    ARIA_ASSERT(seed && out);
    *out = NULL;
    const secp256k1_context *ctx = wallet__ctx();
    if (!ctx)
        return aria_errf(ARIA_EINTERNAL, "wallet: crypto library initialisation failed");
    wallet *w = aria_calloc(1, sizeof *w);
    if (!w)
        return aria_errf(ARIA_ENOMEM, "wallet: out of memory");
    w->sec = sodium_malloc(sizeof *w->sec);
    if (!w->sec) {
        aria_free(w);
        return aria_errf(ARIA_ENOMEM, "wallet: cannot allocate protected memory for secrets");
    }
    wallet_secrets *s = w->sec;
    memcpy(s->seed, seed, WALLET_SEED_BYTES);

    /* Signing key: BLAKE2b-256 keyed with the seed over tag || counter. A
     * candidate is invalid (0 or >= the group order) with probability
     * ~2^-128; the counter makes the retry deterministic. */
    int ok = 0;
    for (unsigned ctr = 0; ctr < 256 && !ok; ctr++) {
        uint8_t msg[sizeof WALLET_TAG_SIGN_KEY];
        memcpy(msg, WALLET_TAG_SIGN_KEY, sizeof WALLET_TAG_SIGN_KEY - 1);
        msg[sizeof msg - 1] = (uint8_t)ctr;
        crypto_generichash(s->sign_sk, sizeof s->sign_sk, msg, sizeof msg, s->seed,
                           WALLET_SEED_BYTES);
        ok = secp256k1_ec_seckey_verify(ctx, s->sign_sk);
    }
    secp256k1_xonly_pubkey xpk;
    if (!ok || !secp256k1_keypair_create(ctx, &s->keypair, s->sign_sk) ||
        !secp256k1_keypair_xonly_pub(ctx, &xpk, NULL, &s->keypair) ||
        !secp256k1_xonly_pubkey_serialize(ctx, w->id, &xpk)) {
        wallet_free(w);
        wallet__burn_stack(16384);
        return aria_errf(ARIA_EINTERNAL, "wallet: secp256k1 key derivation failed");
    }
    /* Encryption key: the X25519 scalar is clamped by crypto_scalarmult. */
    crypto_generichash(s->enc_sk, sizeof s->enc_sk, (const uint8_t *)WALLET_TAG_ENC_KEY,
                       sizeof WALLET_TAG_ENC_KEY - 1, s->seed, WALLET_SEED_BYTES);
    if (crypto_scalarmult_curve25519_base(w->enc_pk, s->enc_sk) != 0) {
        wallet_free(w);
        return aria_errf(ARIA_EINTERNAL, "wallet: X25519 key derivation failed");
    }
    sodium_mprotect_readonly(s);
    wallet__burn_stack(16384);
    *out = w;
    return 0;
}

int
wallet_new_random(wallet **out)
{
    ARIA_ASSERT(out);
    *out = NULL;
    if (!wallet__ctx())
        return aria_errf(ARIA_EINTERNAL, "wallet: crypto library initialisation failed");
    uint8_t *seed = sodium_malloc(WALLET_SEED_BYTES);
    if (!seed)
        return aria_errf(ARIA_ENOMEM, "wallet: cannot allocate protected memory for the seed");
    int rc = aria_os_random(seed, WALLET_SEED_BYTES);
    if (rc == 0)
        rc = wallet_from_seed(seed, out);
    sodium_free(seed);
    return rc;
}

void
wallet_free(wallet *w)
{
    if (!w)
        return;
    if (w->sec)
        sodium_free(w->sec); /* makes writable, wipes, unmaps */
    sodium_memzero(w, sizeof *w);
    aria_free(w);
}

void
wallet_account_id(const wallet *w, uint8_t out[WALLET_ID_BYTES])
{
    ARIA_ASSERT(w && out);
    memcpy(out, w->id, WALLET_ID_BYTES);
}

void
wallet_enc_key(const wallet *w, uint8_t out[WALLET_ENC_KEY_BYTES])
{
    ARIA_ASSERT(w && out);
    memcpy(out, w->enc_pk, WALLET_ENC_KEY_BYTES);
}

const uint8_t *
wallet__seed(const wallet *w)
{
    return w->sec->seed;
}

/* ------------------------------------------------------------------ */
/* Signatures                                                           */
/* ------------------------------------------------------------------ */

/* A purpose is 1..64 bytes of [a-z0-9_-]; callers pass string literals, so a
 * bad one is a bug. */
static size_t
purpose_len(const char *purpose)
{
    ARIA_ASSERT(purpose);
    size_t n = 0;
    for (; purpose[n]; n++) {
        char c = purpose[n];
        ARIA_ASSERT((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
    }
    ARIA_ASSERT(n >= 1 && n <= 64);
    return n;
}

/* The SHA-256 state after absorbing SHA256(tag)||SHA256(tag), cached per
 * thread for the last few purposes (saves two compressions per call). */
typedef struct tag_cache_entry {
    char purpose[65];
    crypto_hash_sha256_state st;
} tag_cache_entry;
static _Thread_local tag_cache_entry t_tag_cache[4];
static _Thread_local unsigned t_tag_next;

static void
tagged_hash(const char *purpose, const void *msg, size_t len, uint8_t out[32])
{
    size_t plen = purpose_len(purpose);
    ARIA_ASSERT(msg || len == 0);
    crypto_hash_sha256_state st;
    int found = 0;
    for (unsigned i = 0; i < ARIA_ARRAY_LEN(t_tag_cache); i++) {
        if (strcmp(t_tag_cache[i].purpose, purpose) == 0) {
            st = t_tag_cache[i].st;
            found = 1;
            break;
        }
    }
    if (!found) {
        char tag[80];
        int tn = aria_snprintf(tag, sizeof tag, "aria/%s/v1", purpose);
        uint8_t th[32];
        crypto_hash_sha256(th, (const uint8_t *)tag, (unsigned long long)tn);
        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, th, 32);
        crypto_hash_sha256_update(&st, th, 32);
        tag_cache_entry *e = &t_tag_cache[t_tag_next++ % ARIA_ARRAY_LEN(t_tag_cache)];
        memcpy(e->purpose, purpose, plen + 1);
        e->st = st;
    }
    if (len)
        crypto_hash_sha256_update(&st, msg, len);
    crypto_hash_sha256_final(&st, out);
}

/* BIP-340 auxiliary randomness, from a per-thread ChaCha20 stream keyed
 * from the OS (a getrandom call per signature costs ~5% of a signature).
 * Aux only blinds the nonce derivation against side channels; the nonce
 * stays deterministic in (key, message, aux), so even a repeated aux could
 * not leak the key. Re-keyed after fork so parent and child differ. */
typedef struct aux_rng {
    uint8_t key[crypto_stream_chacha20_KEYBYTES];
    uint64_t ctr;
    unsigned gen; /* g_fork_gen when keyed; 0 = not yet */
} aux_rng;
static _Thread_local aux_rng t_aux;

static void
aux_random(uint8_t out[32])
{
    /* getpid() is a system call on every sign; a fork counter is not */
    unsigned gen = atomic_load_explicit(&g_fork_gen, memory_order_relaxed);
    if (t_aux.gen != gen) {
        randombytes_buf(t_aux.key, sizeof t_aux.key);
        t_aux.ctr = 0;
        t_aux.gen = gen;
    }
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
    aria_store_u64le(nonce, t_aux.ctr++);
    crypto_stream_chacha20(out, 32, nonce, t_aux.key);
}

int
wallet_sign(const wallet *w, const char *purpose, const void *msg, size_t len,
            uint8_t sig[WALLET_SIG_BYTES])
{
    ARIA_ASSERT(w && sig);
    uint8_t h[32], aux[32];
    tagged_hash(purpose, msg, len, h);
    aux_random(aux);
    int ok = secp256k1_schnorrsig_sign32(wallet__ctx(), sig, h, &w->sec->keypair, aux);
    sodium_memzero(aux, sizeof aux);
    wallet__burn_stack(WALLET_SIGN_BURN_BYTES);
    if (!ok)
        return aria_errf(ARIA_EINTERNAL, "wallet: schnorr signing failed");
    return 0;
}

/* Parsing an x-only key costs a field square root (~10% of a verify), and
 * nodes verify many messages from the same few peers, so each thread keeps
 * the last few parsed keys. Public data only. */
typedef struct pk_cache_entry {
    uint8_t id[WALLET_ID_BYTES];
    secp256k1_xonly_pubkey pk;
    bool used;
} pk_cache_entry;
static _Thread_local pk_cache_entry t_pk_cache[16];
static _Thread_local unsigned t_pk_next;

static int
parse_id_cached(const secp256k1_context *ctx, const uint8_t id[WALLET_ID_BYTES],
                secp256k1_xonly_pubkey *pk)
{
    for (unsigned i = 0; i < ARIA_ARRAY_LEN(t_pk_cache); i++) {
        if (t_pk_cache[i].used && memcmp(t_pk_cache[i].id, id, WALLET_ID_BYTES) == 0) {
            *pk = t_pk_cache[i].pk;
            return 1;
        }
    }
    if (!secp256k1_xonly_pubkey_parse(ctx, pk, id))
        return 0;
    pk_cache_entry *e = &t_pk_cache[t_pk_next++ % ARIA_ARRAY_LEN(t_pk_cache)];
    memcpy(e->id, id, WALLET_ID_BYTES);
    e->pk = *pk;
    e->used = true;
    return 1;
}

int
wallet_verify(const uint8_t id[WALLET_ID_BYTES], const char *purpose, const void *msg, size_t len,
              const uint8_t sig[WALLET_SIG_BYTES])
{
    ARIA_ASSERT(id && sig);
    const secp256k1_context *ctx = wallet__ctx();
    uint8_t h[32];
    tagged_hash(purpose, msg, len, h);
    secp256k1_xonly_pubkey pk;
    if (!ctx || !parse_id_cached(ctx, id, &pk))
        return aria_errf(ARIA_EINVAL, "wallet: account id is not a valid x-only secp256k1 key");
    if (!secp256k1_schnorrsig_verify(ctx, sig, h, 32, &pk))
        return aria_errf(ARIA_ECRYPTO, "wallet: bad signature (purpose %s)", purpose);
    return 0;
}

/* wallet_pubkey.opaque: libsecp256k1's parsed key, then x || y (big-endian)
 * of the same point lifted by our own code for the batch verifier (all
 * zero if our lift disagreed, which would be a bug: such a key is then only
 * ever checked by libsecp256k1). */
#define PK_LIB_OFF  0
#define PK_XY_OFF   64
#define PK_XY_BYTES 64
_Static_assert(sizeof(secp256k1_xonly_pubkey) == 64, "secp256k1_xonly_pubkey size");
_Static_assert(PK_XY_OFF + PK_XY_BYTES == sizeof(((wallet_pubkey *)0)->opaque),
               "wallet_pubkey size");

int
wallet_pubkey_parse(const uint8_t id[WALLET_ID_BYTES], wallet_pubkey *out)
{
    ARIA_ASSERT(id && out);
    const secp256k1_context *ctx = wallet__ctx();
    secp256k1_xonly_pubkey pk;
    memset(out, 0, sizeof *out);
    if (!ctx || !secp256k1_xonly_pubkey_parse(ctx, &pk, id))
        return aria_errf(ARIA_EINVAL, "wallet: account id is not a valid x-only secp256k1 key");
    memcpy(out->opaque + PK_LIB_OFF, &pk, sizeof pk);
    wallet__ge p;
    if (wallet__ge_lift_x(&p, id)) {
        wallet__fe_get_b32(out->opaque + PK_XY_OFF, &p.x);
        wallet__fe_get_b32(out->opaque + PK_XY_OFF + 32, &p.y);
    }
    return 0;
}

static int
pk_lib_usable(const wallet_pubkey *pk)
{
    uint8_t any = 0;
    for (size_t i = 0; i < sizeof(secp256k1_xonly_pubkey); i++)
        any |= pk->opaque[PK_LIB_OFF + i];
    return any != 0;
}

static const uint8_t *
pk_xy(const wallet_pubkey *pk)
{
    uint8_t any = 0;
    for (size_t i = 0; i < PK_XY_BYTES; i++)
        any |= pk->opaque[PK_XY_OFF + i];
    return any ? pk->opaque + PK_XY_OFF : NULL;
}

int
wallet_verify_parsed(const wallet_pubkey *pk, const char *purpose, const void *msg, size_t len,
                     const uint8_t sig[WALLET_SIG_BYTES])
{
    ARIA_ASSERT(pk && sig);
    const secp256k1_context *ctx = wallet__ctx();
    uint8_t h[32];
    tagged_hash(purpose, msg, len, h);
    /* A failed parse leaves zeros, which libsecp256k1 treats as an illegal
     * argument (abort): refuse it here as a bad signature. */
    secp256k1_xonly_pubkey xpk;
    memcpy(&xpk, pk->opaque + PK_LIB_OFF, sizeof xpk);
    if (!ctx || !pk_lib_usable(pk) || !secp256k1_schnorrsig_verify(ctx, sig, h, 32, &xpk))
        return aria_errf(ARIA_ECRYPTO, "wallet: bad signature (purpose %s)", purpose);
    return 0;
}

int
wallet_bip340_verify(const uint8_t pubkey[32], const uint8_t *msg, size_t msg_len,
                     const uint8_t sig[WALLET_SIG_BYTES])
{
    ARIA_ASSERT(pubkey && sig && (msg || msg_len == 0));
    const secp256k1_context *ctx = wallet__ctx();
    secp256k1_xonly_pubkey pk;
    if (!ctx || !secp256k1_xonly_pubkey_parse(ctx, &pk, pubkey))
        return aria_errf(ARIA_EINVAL, "wallet: public key is not a valid x-only secp256k1 key");
    if (!secp256k1_schnorrsig_verify(ctx, sig, msg, msg_len, &pk))
        return aria_errf(ARIA_ECRYPTO, "wallet: bad BIP-340 signature");
    return 0;
}

int
wallet__bip340_sign_raw(const uint8_t seckey[32], const uint8_t *msg, size_t msg_len,
                        const uint8_t *aux32, uint8_t sig[64])
{
    const secp256k1_context *ctx = wallet__ctx();
    secp256k1_keypair kp;
    if (!ctx || !secp256k1_keypair_create(ctx, &kp, seckey))
        return aria_errf(ARIA_EINVAL, "wallet: invalid secret key");
    secp256k1_schnorrsig_extraparams ep = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
    ep.ndata = (void *)(uintptr_t)aux32;
    int ok = secp256k1_schnorrsig_sign_custom(ctx, sig, msg, msg_len, &kp, &ep);
    sodium_memzero(&kp, sizeof kp);
    wallet__burn_stack(16384);
    return ok ? 0 : aria_errf(ARIA_EINTERNAL, "wallet: schnorr signing failed");
}

/* ------------------------------------------------------------------ */
/* Hashing                                                              */
/* ------------------------------------------------------------------ */

void
wallet_hash(uint8_t out[WALLET_HASH_BYTES], const void *msg, size_t len)
{
    ARIA_ASSERT(out && (msg || len == 0));
    crypto_generichash(out, WALLET_HASH_BYTES, msg, len, NULL, 0);
}

void
wallet_hasher_init(wallet_hasher *h)
{
    ARIA_ASSERT(h);
    crypto_generichash_init((crypto_generichash_state *)(void *)h->state, NULL, 0,
                            WALLET_HASH_BYTES);
}

void
wallet_hasher_update(wallet_hasher *h, const void *p, size_t n)
{
    ARIA_ASSERT(h && (p || n == 0));
    if (n)
        crypto_generichash_update((crypto_generichash_state *)(void *)h->state, p, n);
}

void
wallet_hasher_final(wallet_hasher *h, uint8_t out[WALLET_HASH_BYTES])
{
    ARIA_ASSERT(h && out);
    crypto_generichash_final((crypto_generichash_state *)(void *)h->state, out, WALLET_HASH_BYTES);
}

/* ------------------------------------------------------------------ */
/* Sealed boxes                                                         */
/* ------------------------------------------------------------------ */

/* key = BLAKE2b-256(key = X25519 shared secret, "aria/seal/v1" || epk || to).
 * Each box has a fresh ephemeral key, so each key encrypts exactly one
 * message and the all-zero nonce is safe. */
static void
seal_key(uint8_t key[32], const uint8_t shared[32], const uint8_t epk[32], const uint8_t to[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, shared, 32, 32);
    crypto_generichash_update(&st, (const uint8_t *)WALLET_TAG_SEAL, sizeof WALLET_TAG_SEAL - 1);
    crypto_generichash_update(&st, epk, 32);
    crypto_generichash_update(&st, to, 32);
    crypto_generichash_final(&st, key, 32);
    sodium_memzero(&st, sizeof st);
}

int
wallet_seal(const uint8_t to_enc_key[WALLET_ENC_KEY_BYTES], const void *msg, size_t len,
            uint8_t *out)
{
    ARIA_ASSERT(to_enc_key && out && (msg || len == 0));
    if (!wallet__ctx())
        return aria_errf(ARIA_EINTERNAL, "wallet: crypto library initialisation failed");
    uint8_t esk[32], shared[32], key[32];
    static const uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    int rc = 0;
    randombytes_buf(esk, sizeof esk);
    crypto_scalarmult_curve25519_base(out, esk);
    if (crypto_scalarmult_curve25519(shared, esk, to_enc_key) != 0) {
        rc = aria_errf(ARIA_ECRYPTO, "wallet: seal: recipient key is a low-order point");
        goto done;
    }
    seal_key(key, shared, out, to_enc_key);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 32, NULL, msg, len, NULL, 0, NULL, nonce, key);
done:
    sodium_memzero(esk, sizeof esk);
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(key, sizeof key);
    wallet__burn_stack(16384);
    return rc;
}

int
wallet_unseal(const wallet *w, const uint8_t *box, size_t box_len, uint8_t *out)
{
    ARIA_ASSERT(w && (box || box_len == 0));
    if (box_len < WALLET_SEAL_OVERHEAD)
        return aria_errf(ARIA_ERANGE, "wallet: sealed box of %zu bytes is shorter than %d", box_len,
                         WALLET_SEAL_OVERHEAD);
    ARIA_ASSERT(out || box_len == WALLET_SEAL_OVERHEAD);
    uint8_t shared[32], key[32], dummy;
    static const uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    int rc = 0;
    if (crypto_scalarmult_curve25519(shared, w->sec->enc_sk, box) != 0) {
        rc = aria_errf(ARIA_ECRYPTO, "wallet: sealed box has a low-order ephemeral key");
        goto done;
    }
    seal_key(key, shared, box, w->enc_pk);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out ? out : &dummy, NULL, NULL, box + 32,
                                                   box_len - 32, NULL, 0, nonce, key) != 0)
        rc = aria_errf(ARIA_ECRYPTO, "wallet: sealed box failed authentication (forged, corrupt "
                                     "or sealed to another key)");
done:
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(key, sizeof key);
    wallet__burn_stack(16384);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Batch verification                                                   */
/* ------------------------------------------------------------------ */

static _Thread_local wallet_batch_stats t_bstats;

void
wallet__batch_stats_get(wallet_batch_stats *out)
{
    *out = t_bstats;
}

void
wallet__batch_stats_reset(void)
{
    memset(&t_bstats, 0, sizeof t_bstats);
}

/* One item as the driver sees it: the batch form (bv.pk NULL if our lift
 * is missing) and libsecp256k1's key (lib_ok 0: no usable key, invalid). */
typedef struct drive_item {
    wallet__bv_item bv;
    secp256k1_xonly_pubkey xpk;
    int lib_ok;
} drive_item;

static int
single_check(const secp256k1_context *ctx, const drive_item *d)
{
    t_bstats.singles++;
    return ctx && d->lib_ok &&
           secp256k1_schnorrsig_verify(ctx, d->bv.sig, d->bv.msg, d->bv.msg_len, &d->xpk);
}

/* The rule: an item is reported valid only if a random linear combination
 * that included it held, or libsecp256k1 said so alone. */
static int
batch_drive_one(size_t n, const drive_item *d, uint8_t *ok, size_t min_batch)
{
    const secp256k1_context *ctx = wallet__ctx();
    uint8_t *pre = NULL;
    wallet__bv_item *bv = NULL;
    int held = 0;
    /* without a context (library initialisation failed) nothing verifies,
     * as in wallet_verify_parsed */
    if (ctx && n >= min_batch && n > 0) {
        pre = aria_alloc(n);
        bv = aria_alloc_array(n, sizeof *bv);
    }
    if (pre && bv) {
        for (size_t i = 0; i < n; i++) {
            bv[i] = d[i].bv;
            if (!d[i].lib_ok)
                bv[i].pk = NULL;
        }
        t_bstats.batches++;
        held = wallet__bv_check(n, bv, pre) == 1;
        if (!held)
            t_bstats.batch_fails++;
    }
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (held && pre[i]) {
            ok[i] = 1;
            t_bstats.batched++;
        } else {
            ok[i] = (uint8_t)single_check(ctx, &d[i]);
        }
        bad += !ok[i];
    }
    aria_free(pre);
    aria_free(bv);
    return bad;
}

/* Combinations of at most WALLET_BATCH_MAX items: the gain flattens out
 * beyond ~1,000 (bench_sign) while the scratch memory keeps growing (about
 * 2 KB per item), and one bad item only sends its own chunk to the
 * fallback. A tail too small to batch joins the chunk before it. */
static int
batch_drive(size_t n, const drive_item *d, uint8_t *ok, size_t min_batch)
{
    int bad = 0;
    size_t i = 0;
    while (i < n) {
        size_t c = n - i;
        if (c > WALLET_BATCH_MAX)
            c = n - i - WALLET_BATCH_MAX < WALLET_BATCH_MIN ? n - i : WALLET_BATCH_MAX;
        bad += batch_drive_one(c, d + i, ok + i, min_batch);
        i += c;
    }
    return bad;
}

int
wallet_verify_batch(size_t n, const wallet_batch_item *items, uint8_t *ok_out)
{
    ARIA_ASSERT((items && ok_out) || n == 0);
    /* per item: the driver's view and the 32-byte tagged hash it points at */
    drive_item *d = aria_alloc_array(n ? n : 1, sizeof *d + 32);
    if (!d) {
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            const wallet_batch_item *it = &items[i];
            ok_out[i] = wallet_verify_parsed(it->pk, it->purpose, it->msg, it->len, it->sig) == 0;
            bad += !ok_out[i];
        }
        return bad;
    }
    uint8_t *h = (uint8_t *)(d + n);
    for (size_t i = 0; i < n; i++) {
        const wallet_batch_item *it = &items[i];
        ARIA_ASSERT(it->pk && it->sig);
        tagged_hash(it->purpose, it->msg, it->len, h + 32 * i);
        d[i].lib_ok = pk_lib_usable(it->pk);
        memcpy(&d[i].xpk, it->pk->opaque + PK_LIB_OFF, sizeof d[i].xpk);
        d[i].bv = (wallet__bv_item){pk_xy(it->pk), it->sig, h + 32 * i, 32};
    }
    int bad = batch_drive(n, d, ok_out, WALLET_BATCH_MIN);
    aria_free(d);
    return bad;
}

int
wallet__bip340_verify_batch(size_t n, const wallet_bip340_item *items, uint8_t *ok_out,
                            size_t min_batch)
{
    const secp256k1_context *ctx = wallet__ctx();
    drive_item *d = aria_alloc_array(n ? n : 1, sizeof *d + 64);
    ARIA_ASSERT(d && ctx); /* tests only */
    uint8_t *xy = (uint8_t *)(d + n);
    for (size_t i = 0; i < n; i++) {
        wallet__ge p;
        d[i].lib_ok = secp256k1_xonly_pubkey_parse(ctx, &d[i].xpk, items[i].pk32);
        const uint8_t *pk = NULL;
        if (d[i].lib_ok && wallet__ge_lift_x(&p, items[i].pk32)) {
            wallet__fe_get_b32(xy + 64 * i, &p.x);
            wallet__fe_get_b32(xy + 64 * i + 32, &p.y);
            pk = xy + 64 * i;
        }
        d[i].bv = (wallet__bv_item){pk, items[i].sig, items[i].msg, items[i].msg_len};
    }
    int bad = batch_drive(n, d, ok_out, min_batch);
    aria_free(d);
    return bad;
}
