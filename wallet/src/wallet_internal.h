/*
 * wallet_internal.h — private to the wallet module (and its unit tests and
 * fuzz targets): the handle layout, library initialisation, bech32m codec
 * and the keystore byte parser.
 *
 * Invariants: struct wallet_secrets lives only in sodium_malloc memory and
 * is read-only after wallet creation.
 */
#ifndef ARIA_WALLET_INTERNAL_H
#define ARIA_WALLET_INTERNAL_H
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>

#include "wallet.h"

typedef struct wallet_secrets {
    uint8_t seed[WALLET_SEED_BYTES];
    uint8_t sign_sk[32]; /* secp256k1 secret key derived from seed */
    uint8_t enc_sk[32];  /* X25519 secret key derived from seed */
    secp256k1_keypair keypair;
} wallet_secrets;

struct wallet {
    wallet_secrets *sec; /* sodium_malloc, read-only after creation */
    uint8_t id[WALLET_ID_BYTES];
    uint8_t enc_pk[WALLET_ENC_KEY_BYTES];
};

/* Initialise libsodium and the shared secp256k1 context once (thread safe).
 * Returns the read-only context, or NULL if initialisation failed. */
const secp256k1_context *wallet__ctx(void);

/* Domain tags of the seed derivations (docs/wallet.md). */
#define WALLET_TAG_SIGN_KEY "aria/wallet/secp256k1/v1"
#define WALLET_TAG_ENC_KEY  "aria/wallet/x25519/v1"
#define WALLET_TAG_SEAL     "aria/seal/v1"

/* The seed, for keystore writing (module-internal only). */
const uint8_t *wallet__seed(const wallet *w);

/* Raw BIP-340 signing with an explicit secret key and aux randomness (NULL
 * allowed): only for the official test vectors. */
int wallet__bip340_sign_raw(const uint8_t seckey[32], const uint8_t *msg, size_t msg_len,
                            const uint8_t *aux32, uint8_t sig[64]) ARIA_MUST_CHECK;

/* ---- batch verification (wallet.c over secp256k1_batch.c) ---- */
/* Per-thread counters of wallet_verify_batch and the raw variant, so tests
 * can tell which path ran. */
typedef struct wallet_batch_stats {
    uint64_t batches;     /* random linear combinations evaluated */
    uint64_t batch_fails; /* ... that did not hold (every item then checked alone) */
    uint64_t batched;     /* items accepted by a combination that held */
    uint64_t singles;     /* items checked by libsecp256k1 one by one */
} wallet_batch_stats;
void wallet__batch_stats_get(wallet_batch_stats *out);
void wallet__batch_stats_reset(void);

/* Batches smaller than this go to libsecp256k1 one by one (below 16 items
 * of distinct keys a combination is slower: 0.55x at 4, 1.0x at 16, the
 * fixed cost of the multi-scalar multiplication dominating); larger ones
 * are verified in combinations of at most WALLET_BATCH_MAX items. */
#define WALLET_BATCH_MIN 16
#define WALLET_BATCH_MAX 2048

/* Plain BIP-340 (messages of any length, untagged) through the batch
 * path, for the official vectors: pk32 need not be a valid key (the item
 * is then invalid). min_batch overrides WALLET_BATCH_MIN (1 forces the
 * combination even for one item). Returns the number of invalid items. */
typedef struct wallet_bip340_item {
    const uint8_t *pk32;
    const uint8_t *msg;
    size_t msg_len;
    const uint8_t *sig;
} wallet_bip340_item;
int wallet__bip340_verify_batch(size_t n, const wallet_bip340_item *items, uint8_t *ok_out,
                                size_t min_batch);

/* ---- bech32m (BIP-350) ---- */
#define WALLET_BECH32_MAX_LEN  90 /* whole string, as BIP-173 */
#define WALLET_BECH32_MAX_HRP  83
#define WALLET_BECH32_MAX_DATA 82 /* 5-bit groups before the checksum */

/* Encode hrp (lowercase, 1..83 chars of 33..126) and 5-bit data values. */
int wallet__bech32m_encode(char *out, size_t out_size, const char *hrp, const uint8_t *data5,
                           size_t n5) ARIA_MUST_CHECK;
/* Decode any valid bech32m string: hrp written lowercased into hrp (size
 * >= WALLET_BECH32_MAX_HRP + 1), data values (without checksum) into data5
 * (size >= WALLET_BECH32_MAX_DATA). Rejects bech32 (BIP-173) checksums.
 * ARIA_EINVAL with a detail message otherwise. */
int wallet__bech32m_decode(const char *s, char *hrp, uint8_t *data5, size_t *n5) ARIA_MUST_CHECK;

/* ---- keystore bytes ---- */
#define WALLET_KS_MAGIC     "ARIAKEYS"
#define WALLET_KS_VERSION   1
#define WALLET_KS_HDR_BYTES 76  /* magic .. header check */
#define WALLET_KS_BYTES     124 /* whole version-1 file */

/* Serialise w into buf[WALLET_KS_BYTES]; passphrase NULL = unencrypted. */
int wallet__keystore_encode(const wallet *w, const char *passphrase, const wallet_kdf *kdf,
                            uint8_t buf[WALLET_KS_BYTES]) ARIA_MUST_CHECK;
/* Parse keystore bytes. With out == NULL only the header is validated (no
 * KDF run) and *encrypted set. `what` names the source in messages. */
int wallet__keystore_decode(const uint8_t *buf, size_t len, const char *passphrase,
                            const char *what, bool *encrypted, wallet **out) ARIA_MUST_CHECK;

/* Overwrite `bytes` (<= 16384) of stack below the caller's frame with
 * zeros: libsecp256k1 0.2.0 and libsodium's BLAKE2b leave scalar limbs and
 * hash outputs in their dead stack frames, so every function that hands
 * secrets to them calls this before returning (tests/unit/wallet/test_wipe.c
 * checks the result). */
void wallet__burn_stack(size_t bytes);

/* Prefix this thread's current error message with `prefix` (a copy is made
 * first: aria_errf must not read the buffer it writes). Returns rc. */
int wallet__err_wrap(int rc, const char *prefix);

#endif
