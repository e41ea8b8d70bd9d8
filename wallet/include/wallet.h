/*
 * wallet.h — identity and keys: a 32-byte seed per wallet, the secp256k1
 * signing key and X25519 encryption key derived from it, BIP-340 Schnorr
 * signatures over tagged hashes, BLAKE2b-256 hashing, sealed boxes, bech32m
 * addresses and the encrypted keystore file. docs/wallet.md documents the
 * derivations, tags and byte formats.
 *
 * Invariants:
 *  - Secret bytes (seed, signing key, X25519 secret) never leave this module:
 *    they live in sodium_malloc memory owned by a `wallet` handle, are wiped
 *    when the handle is freed, and every temporary copy is wiped with
 *    sodium_memzero before the function that made it returns.
 *  - A `wallet` is immutable after creation, so wallet_sign / wallet_unseal /
 *    wallet_account_id may be called on one handle from any number of threads.
 *  - All other functions are thread safe (no shared mutable state besides a
 *    read-only secp256k1 context created once).
 *  - Bytes from outside (addresses, keystore files, sealed boxes) get
 *    ARIA_EPROTO / ARIA_EINVAL / ARIA_ECRYPTO plus an aria_errf() detail
 *    message; passing NULL where a pointer is required is a bug (abort).
 */
#ifndef ARIA_WALLET_H
#define ARIA_WALLET_H
#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WALLET_SEED_BYTES    32
#define WALLET_ID_BYTES      32 /* x-only secp256k1 public key = account id = node id */
#define WALLET_ENC_KEY_BYTES 32 /* X25519 public key */
#define WALLET_SIG_BYTES     64 /* BIP-340 Schnorr signature */
#define WALLET_HASH_BYTES    32 /* BLAKE2b-256 */
/* A sealed box is: ephemeral X25519 public key (32) || ciphertext || Poly1305 tag (16). */
#define WALLET_SEAL_OVERHEAD 48

/* Version string of the crypto libraries wallet links (for `aria version`). */
const char *wallet_backend_version(void);

/* ------------------------------------------------------------------ */
/* Wallet handle                                                        */
/* ------------------------------------------------------------------ */

/* Opaque; secrets in sodium_malloc memory; immutable after creation, so
 * sign/unseal may be called from any thread. */
typedef struct wallet wallet;

/* A wallet from a fresh 32-byte random seed (OS randomness). *out is owned by
 * the caller (wallet_free). ARIA_ENOMEM, ARIA_EIO (no randomness). */
int wallet_new_random(wallet **out) ARIA_MUST_CHECK;
/* Deterministic wallet from a seed (tests, testnets, keystore load). The
 * seed is copied into protected memory; the caller wipes its own copy. */
int wallet_from_seed(const uint8_t seed[WALLET_SEED_BYTES], wallet **out) ARIA_MUST_CHECK;
/* NULL ok; wipes and unmaps the secrets. */
void wallet_free(wallet *w);
/* The 32-byte x-only public key: account id and node id. */
void wallet_account_id(const wallet *w, uint8_t out[WALLET_ID_BYTES]);
/* The X25519 public key peers seal boxes to. */
void wallet_enc_key(const wallet *w, uint8_t out[WALLET_ENC_KEY_BYTES]);

/* ------------------------------------------------------------------ */
/* Signatures                                                           */
/* ------------------------------------------------------------------ */

/* BIP-340 Schnorr over the tagged hash SHA256(SHA256(tag)||SHA256(tag)||msg)
 * with tag = "aria/<purpose>/v1". purpose e.g. "envelope", "entry",
 * "receipt", "peer": a non-empty string of at most 64 bytes of [a-z0-9_-]
 * (anything else is a bug: abort). msg may be NULL when len is 0.
 * Fresh auxiliary randomness is mixed into every signature (BIP-340's
 * recommendation against fault/side-channel attacks), so two signatures of
 * the same message differ; both verify. Returns 0 or ARIA_EINTERNAL. */
int wallet_sign(const wallet *w, const char *purpose, const void *msg, size_t len,
                uint8_t sig[WALLET_SIG_BYTES]) ARIA_MUST_CHECK;
/* 0 if sig is a valid signature by `id` of msg under `purpose`; ARIA_ECRYPTO
 * if not; ARIA_EINVAL for an id that is not a valid x-only key. */
int wallet_verify(const uint8_t id[WALLET_ID_BYTES], const char *purpose, const void *msg,
                  size_t len, const uint8_t sig[WALLET_SIG_BYTES]) ARIA_MUST_CHECK;

/* A parsed x-only public key: libsecp256k1's form plus the lifted point the
 * batch verifier uses. Parsing an id costs two field square roots (~10 us,
 * a quarter of a verify); a caller that checks many signatures of the same
 * accounts (the ledger) parses each id once and keeps the result.
 * Public data: a plain value, copy it freely, no cleanup. */
typedef struct wallet_pubkey {
    uint8_t opaque[128];
} wallet_pubkey;
/* Parse an account id. 0, or ARIA_EINVAL if it is not a valid x-only key. */
int wallet_pubkey_parse(const uint8_t id[WALLET_ID_BYTES], wallet_pubkey *out) ARIA_MUST_CHECK;
/* Exactly wallet_verify, with the key already parsed: 0 if sig is a valid
 * signature of msg under `purpose` by that key, else ARIA_ECRYPTO. */
int wallet_verify_parsed(const wallet_pubkey *pk, const char *purpose, const void *msg, size_t len,
                         const uint8_t sig[WALLET_SIG_BYTES]) ARIA_MUST_CHECK;

/* One signature check of a batch: exactly the arguments of
 * wallet_verify_parsed. All pointers are borrowed for the call only. */
typedef struct wallet_batch_item {
    const wallet_pubkey *pk;
    const char *purpose; /* as for wallet_sign */
    const void *msg;     /* may be NULL when len is 0 */
    size_t len;
    const uint8_t *sig; /* WALLET_SIG_BYTES */
} wallet_batch_item;
/* Check n signatures at once: ok_out[i] = 1 if wallet_verify_parsed would
 * return 0 for items[i], else 0. Returns the number of items with
 * ok_out[i] == 0 (0: all valid); it cannot fail.
 *
 * With 16 or more items it checks one random linear combination of them
 * (of each run of up to 2,048; BIP-340 batch verification with our own
 * arithmetic: docs/wallet.md §2.1): per signature 2 times cheaper than one
 * by one at 64 items of a few keys, 3 times at 256 (less with many
 * distinct keys; fewer than 16 items are checked one by one).
 * If that combination does not hold, or memory for it cannot be had, every
 * item is checked by libsecp256k1 on its own, so the answers are always
 * libsecp256k1's (a valid batch is accepted wrongly only with probability
 * below 2^-126); one bad signature makes its whole batch cost a little
 * more than checking one by one. Thread safe; purpose strings that are not
 * valid purposes are a bug (abort), as in wallet_verify. */
int wallet_verify_batch(size_t n, const wallet_batch_item *items, uint8_t *ok_out);

/* Plain BIP-340 over a 32-byte message (no tag): for the official test
 * vectors and interoperability checks. Same returns as wallet_verify. */
int wallet_bip340_verify(const uint8_t pubkey[32], const uint8_t *msg, size_t msg_len,
                         const uint8_t sig[WALLET_SIG_BYTES]) ARIA_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Hashing                                                              */
/* ------------------------------------------------------------------ */

/* BLAKE2b-256 (message ids, entry ids, hashes of files). msg may be NULL
 * when len is 0. */
void wallet_hash(uint8_t out[WALLET_HASH_BYTES], const void *msg, size_t len);
/* Incremental BLAKE2b-256 for hashing in several pieces; caller storage,
 * not shared between threads while in use. The same bytes in any split give
 * the same digest as wallet_hash. */
typedef struct wallet_hasher {
    unsigned char state[384] __attribute__((aligned(64)));
} wallet_hasher;
void wallet_hasher_init(wallet_hasher *h);
void wallet_hasher_update(wallet_hasher *h, const void *p, size_t n);
void wallet_hasher_final(wallet_hasher *h, uint8_t out[WALLET_HASH_BYTES]);

/* ------------------------------------------------------------------ */
/* Sealed boxes                                                         */
/* ------------------------------------------------------------------ */

/* Sealed boxes to a peer's X25519 key (ephemeral X25519 + XChaCha20-Poly1305).
 * out must hold len + WALLET_SEAL_OVERHEAD bytes and must not overlap msg.
 * ARIA_ECRYPTO if to_enc_key is a low-order point; ARIA_EIO without
 * randomness. */
int wallet_seal(const uint8_t to_enc_key[WALLET_ENC_KEY_BYTES], const void *msg, size_t len,
                uint8_t *out) ARIA_MUST_CHECK;
/* Open a box sealed to w's enc key; out holds box_len - WALLET_SEAL_OVERHEAD
 * bytes. ARIA_ERANGE if box_len < WALLET_SEAL_OVERHEAD; ARIA_ECRYPTO if
 * forged/corrupt or sealed to another key. */
int wallet_unseal(const wallet *w, const uint8_t *box, size_t box_len,
                  uint8_t *out /* box_len - overhead */) ARIA_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Addresses                                                            */
/* ------------------------------------------------------------------ */

/* bech32m (BIP-350) addresses over the 32-byte account id, hrp "aria"
 * (mainnet) / "tart" (testnet). An address is 63 characters, lowercase. */
#define WALLET_ADDRESS_MAX 96
#define WALLET_HRP_MAINNET "aria"
#define WALLET_HRP_TESTNET "tart"
int wallet_address_encode(const uint8_t id[WALLET_ID_BYTES], bool testnet,
                          char out[WALLET_ADDRESS_MAX]) ARIA_MUST_CHECK;
/* ARIA_EINVAL with a message naming the problem: bad checksum (a typo),
 * invalid character, mixed case, unknown hrp, wrong length. testnet may be
 * NULL. */
int wallet_address_decode(const char *addr, uint8_t id[WALLET_ID_BYTES],
                          bool *testnet) ARIA_MUST_CHECK;
/* Parse either an address or 64 hex digits of an account id. */
int wallet_account_parse(const char *s, uint8_t id[WALLET_ID_BYTES]) ARIA_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Keystore file                                                        */
/* ------------------------------------------------------------------ */

/* Argon2id cost of a keystore. Defaults (wallet_kdf_default) are libsodium's
 * MODERATE limits (3 passes, 256 MiB). The environment variable
 * ARIA_KEYSTORE_KDF overrides them for new files: "interactive" (2, 64 MiB),
 * "moderate", "sensitive" (4, 1 GiB), "min" (1 pass, 8 KiB: tests and
 * testnets only), or "OPS:MEM_KIB" (e.g. "2:65536"). Loading always uses
 * the parameters stored in the file. */
typedef struct wallet_kdf {
    uint32_t opslimit;     /* Argon2id passes, 1..64 */
    uint32_t memlimit_kib; /* memory in KiB, 8..4194304 (4 GiB) */
} wallet_kdf;
/* Fill *out from ARIA_KEYSTORE_KDF or the defaults; ARIA_EINVAL naming the
 * variable if it is set but malformed. */
int wallet_kdf_default(wallet_kdf *out) ARIA_MUST_CHECK;

/* Create a new random wallet and write it to `path` (which must not exist:
 * ARIA_EEXIST). passphrase NULL = unencrypted, an explicit choice. *out may
 * be NULL if the caller does not need the handle. */
int wallet_keystore_create(const char *path, const char *passphrase /* NULL = unencrypted */,
                           wallet **out) ARIA_MUST_CHECK;
/* Load a keystore. passphrase is ignored for an unencrypted file; NULL for an
 * encrypted one gives ARIA_EPERM. Errors: ARIA_ENOTFOUND / ARIA_EIO (file),
 * ARIA_ERANGE (truncated), ARIA_EPROTO (not a keystore, corrupted header,
 * trailing bytes), ARIA_EUNSUPPORTED (unknown format version), ARIA_ECRYPTO
 * (wrong passphrase or corrupted ciphertext). Never yields a wallet from a
 * damaged file. */
int wallet_keystore_load(const char *path, const char *passphrase, wallet **out) ARIA_MUST_CHECK;
/* Write w to path atomically (temp file in the same directory, fsync,
 * rename, fsync of the directory; mode 0600), replacing any existing file:
 * a crash leaves the complete old or the complete new file. Argon2id cost
 * from wallet_kdf_default(). passphrase NULL = unencrypted. */
int wallet_keystore_save(const char *path, const wallet *w, const char *passphrase) ARIA_MUST_CHECK;
/* Same with explicit KDF parameters (kdf ignored when passphrase is NULL). */
int wallet_keystore_save_kdf(const char *path, const wallet *w, const char *passphrase,
                             const wallet_kdf *kdf) ARIA_MUST_CHECK;
/* Validate the header of a keystore file without a passphrase and say
 * whether it is encrypted. Same errors as wallet_keystore_load except
 * ARIA_ECRYPTO. */
int wallet_keystore_is_encrypted(const char *path, bool *encrypted) ARIA_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Passphrases                                                          */
/* ------------------------------------------------------------------ */

/* Read a passphrase: the value of environment variable `env_name` if set
 * (e.g. "ARIA_PASSPHRASE"), else a no-echo prompt on /dev/tty (asked twice
 * when `confirm`). With neither, ARIA_EPERM with a message saying to set the
 * variable (never blocks on stdin). An empty passphrase is ARIA_EINVAL.
 * *out is sodium_malloc memory: release with wallet_passphrase_free. */
int wallet_passphrase_read(const char *env_name, const char *prompt, bool confirm,
                           char **out) ARIA_MUST_CHECK;
void wallet_passphrase_free(char *p); /* NULL ok; wipes */

#ifdef __cplusplus
}
#endif
#endif /* ARIA_WALLET_H */
