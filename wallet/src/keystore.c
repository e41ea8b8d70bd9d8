/*
 * keystore.c — the keystore file: a versioned 124-byte record holding the
 * wallet seed, encrypted with a passphrase (Argon2id + XChaCha20-Poly1305)
 * or, by explicit choice, in the clear. docs/wallet.md has the byte layout.
 *
 * Invariants:
 *  - Every byte of the file is covered by a check: the header by a BLAKE2b
 *    checksum verified before any KDF runs (so a corrupted cost field cannot
 *    make us allocate gigabytes) and by the AEAD as associated data; the seed
 *    by the AEAD tag, or by a keyed BLAKE2b checksum when unencrypted. A
 *    damaged file never yields a wallet.
 *  - Files are replaced atomically: temp file in the same directory (mode
 *    0600), fsync, rename (or link, to refuse overwriting on create), fsync
 *    of the directory. A crash leaves the complete old or new file.
 *  - Secret bytes (seed, derived key, plaintext file images) live in
 *    sodium_malloc memory or are wiped before returning.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "wallet_internal.h"

enum {
    KS_OFF_VERSION = 8,
    KS_OFF_PROT = 10,
    KS_OFF_RESERVED = 11,
    KS_OFF_OPS = 12,
    KS_OFF_MEM = 16,
    KS_OFF_SALT = 20,
    KS_OFF_NONCE = 36,
    KS_OFF_HCHECK = 60,
    KS_OFF_SEED = 76,
    KS_OFF_TAG = 108,
    KS_PROT_NONE = 0,
    KS_PROT_ARGON2ID_XCHACHA = 1,
    KS_MAX_FILE = 4096, /* anything bigger is not a keystore */
};

#define KS_KEY_HEADER "aria/keystore/header/v1"
#define KS_KEY_PLAIN  "aria/keystore/plain/v1"

_Static_assert(KS_OFF_HCHECK + 16 == WALLET_KS_HDR_BYTES, "header layout");
_Static_assert(KS_OFF_TAG + 16 == WALLET_KS_BYTES, "file layout");
_Static_assert(crypto_pwhash_SALTBYTES == 16, "salt size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "nonce size");

#define KDF_OPS_MAX     64u
#define KDF_MEM_MIN_KIB 8u
#define KDF_MEM_MAX_KIB (4u * 1024u * 1024u)

/* ------------------------------------------------------------------ */
/* KDF parameters                                                       */
/* ------------------------------------------------------------------ */

static int
kdf_check(const wallet_kdf *k)
{
    return k->opslimit >= 1 && k->opslimit <= KDF_OPS_MAX && k->memlimit_kib >= KDF_MEM_MIN_KIB &&
           k->memlimit_kib <= KDF_MEM_MAX_KIB;
}

int
wallet_kdf_default(wallet_kdf *out)
{
    ARIA_ASSERT(out);
    out->opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
    out->memlimit_kib = (uint32_t)(crypto_pwhash_MEMLIMIT_MODERATE / 1024);
    const char *e = getenv("ARIA_KEYSTORE_KDF");
    if (!e || !*e || strcmp(e, "moderate") == 0)
        return 0;
    if (strcmp(e, "interactive") == 0) {
        out->opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
        out->memlimit_kib = (uint32_t)(crypto_pwhash_MEMLIMIT_INTERACTIVE / 1024);
        return 0;
    }
    if (strcmp(e, "sensitive") == 0) {
        out->opslimit = crypto_pwhash_OPSLIMIT_SENSITIVE;
        out->memlimit_kib = (uint32_t)(crypto_pwhash_MEMLIMIT_SENSITIVE / 1024);
        return 0;
    }
    if (strcmp(e, "min") == 0) {
        out->opslimit = 1;
        out->memlimit_kib = KDF_MEM_MIN_KIB;
        return 0;
    }
    const char *colon = strchr(e, ':');
    char ops[16];
    uint64_t o = 0, m = 0;
    if (colon && (size_t)(colon - e) < sizeof ops) {
        memcpy(ops, e, (size_t)(colon - e));
        ops[colon - e] = 0;
        if (aria_parse_u64(ops, KDF_OPS_MAX, "ops", &o) == 0 &&
            aria_parse_u64(colon + 1, KDF_MEM_MAX_KIB, "mem", &m) == 0 && o >= 1 &&
            m >= KDF_MEM_MIN_KIB) {
            out->opslimit = (uint32_t)o;
            out->memlimit_kib = (uint32_t)m;
            return 0;
        }
    }
    return aria_errf(ARIA_EINVAL,
                     "ARIA_KEYSTORE_KDF='%.40s': expected interactive, moderate, sensitive, min "
                     "or OPS:MEM_KIB with OPS 1..%u and MEM_KIB %u..%u",
                     e, KDF_OPS_MAX, KDF_MEM_MIN_KIB, KDF_MEM_MAX_KIB);
}

/* ------------------------------------------------------------------ */
/* Encoding                                                             */
/* ------------------------------------------------------------------ */

static void
keyed_check(uint8_t out[16], const char *key, const uint8_t *p, size_t n)
{
    crypto_generichash(out, 16, p, n, (const uint8_t *)key, strlen(key));
}

/* Secret scratch for one encode/decode, in sodium_malloc memory. */
typedef struct ks_scratch {
    uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    uint8_t seed[WALLET_SEED_BYTES];
} ks_scratch;

static int
derive_key(ks_scratch *s, const char *passphrase, const uint8_t salt[16], uint32_t ops,
           uint32_t mem_kib)
{
    if (crypto_pwhash(s->key, sizeof s->key, passphrase, strlen(passphrase), salt, ops,
                      (size_t)mem_kib * 1024u, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return aria_errf(ARIA_ENOMEM,
                         "keystore: Argon2id with %u passes and %u KiB failed (out "
                         "of memory?)",
                         ops, mem_kib);
    return 0;
}

int
wallet__keystore_encode(const wallet *w, const char *passphrase, const wallet_kdf *kdf,
                        uint8_t buf[WALLET_KS_BYTES])
{
    ARIA_ASSERT(w && buf);
    memset(buf, 0, WALLET_KS_BYTES);
    if (!wallet__ctx())
        return aria_errf(ARIA_EINTERNAL, "wallet: crypto library initialisation failed");
    memcpy(buf, WALLET_KS_MAGIC, 8);
    aria_store_u16le(buf + KS_OFF_VERSION, WALLET_KS_VERSION);
    if (!passphrase) {
        buf[KS_OFF_PROT] = KS_PROT_NONE;
        keyed_check(buf + KS_OFF_HCHECK, KS_KEY_HEADER, buf, KS_OFF_HCHECK);
        memcpy(buf + KS_OFF_SEED, wallet__seed(w), WALLET_SEED_BYTES);
        keyed_check(buf + KS_OFF_TAG, KS_KEY_PLAIN, buf, KS_OFF_TAG);
        wallet__burn_stack(16384); /* BLAKE2b saw the seed */
        return 0;
    }
    ARIA_ASSERT(kdf);
    if (!*passphrase)
        return aria_errf(ARIA_EINVAL, "keystore: empty passphrase (use no passphrase explicitly "
                                      "for an unencrypted keystore)");
    if (!kdf_check(kdf))
        return aria_errf(ARIA_EINVAL,
                         "keystore: Argon2id parameters out of range (%u passes, %u KiB)",
                         kdf->opslimit, kdf->memlimit_kib);
    buf[KS_OFF_PROT] = KS_PROT_ARGON2ID_XCHACHA;
    aria_store_u32le(buf + KS_OFF_OPS, kdf->opslimit);
    aria_store_u32le(buf + KS_OFF_MEM, kdf->memlimit_kib);
    randombytes_buf(buf + KS_OFF_SALT, 16);
    randombytes_buf(buf + KS_OFF_NONCE, 24);
    keyed_check(buf + KS_OFF_HCHECK, KS_KEY_HEADER, buf, KS_OFF_HCHECK);
    ks_scratch *s = sodium_malloc(sizeof *s);
    if (!s)
        return aria_errf(ARIA_ENOMEM, "keystore: cannot allocate protected memory");
    int rc = derive_key(s, passphrase, buf + KS_OFF_SALT, kdf->opslimit, kdf->memlimit_kib);
    if (rc == 0) {
        unsigned long long clen = 0;
        crypto_aead_xchacha20poly1305_ietf_encrypt(buf + KS_OFF_SEED, &clen, wallet__seed(w),
                                                   WALLET_SEED_BYTES, buf, WALLET_KS_HDR_BYTES,
                                                   NULL, buf + KS_OFF_NONCE, s->key);
        ARIA_ASSERT(clen == WALLET_SEED_BYTES + 16);
    }
    sodium_free(s);
    wallet__burn_stack(16384);
    return rc;
}

static int
all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

int
wallet__keystore_decode(const uint8_t *buf, size_t len, const char *passphrase, const char *what,
                        bool *encrypted, wallet **out)
{
    ARIA_ASSERT((buf || len == 0) && what);
    if (out)
        *out = NULL;
    if (!wallet__ctx()) /* also initialises libsodium for sodium_malloc */
        return aria_errf(ARIA_EINTERNAL, "wallet: crypto library initialisation failed");
    size_t mlen = len < 8 ? len : 8;
    if (len == 0)
        return aria_errf(ARIA_ERANGE, "keystore %s is empty", what);
    if (memcmp(buf, WALLET_KS_MAGIC, mlen) != 0)
        return aria_errf(ARIA_EPROTO, "%s is not an ARIA keystore (bad magic)", what);
    if (len < KS_OFF_VERSION + 2)
        return aria_errf(ARIA_ERANGE, "keystore %s is truncated: %zu of %d bytes", what, len,
                         WALLET_KS_BYTES);
    uint16_t ver = aria_load_u16le(buf + KS_OFF_VERSION);
    if (ver != WALLET_KS_VERSION)
        return aria_errf(ARIA_EUNSUPPORTED,
                         "keystore %s has format version %u; this build reads version %d (a "
                         "newer ARIA wrote it, or the file is corrupted)",
                         what, ver, WALLET_KS_VERSION);
    if (len < WALLET_KS_BYTES)
        return aria_errf(ARIA_ERANGE, "keystore %s is truncated: %zu of %d bytes", what, len,
                         WALLET_KS_BYTES);
    if (len > WALLET_KS_BYTES)
        return aria_errf(ARIA_EPROTO, "keystore %s has %zu unexpected trailing bytes", what,
                         len - WALLET_KS_BYTES);
    uint8_t chk[16];
    keyed_check(chk, KS_KEY_HEADER, buf, KS_OFF_HCHECK);
    if (sodium_memcmp(chk, buf + KS_OFF_HCHECK, 16) != 0)
        return aria_errf(ARIA_EPROTO, "keystore %s is corrupted: header checksum mismatch", what);
    uint8_t prot = buf[KS_OFF_PROT];
    if (buf[KS_OFF_RESERVED] != 0)
        return aria_errf(ARIA_EPROTO, "keystore %s: reserved byte 11 is %u, expected 0", what,
                         buf[KS_OFF_RESERVED]);
    wallet_kdf kdf = {aria_load_u32le(buf + KS_OFF_OPS), aria_load_u32le(buf + KS_OFF_MEM)};
    if (prot == KS_PROT_NONE) {
        if (!all_zero(buf + KS_OFF_OPS, KS_OFF_HCHECK - KS_OFF_OPS))
            return aria_errf(ARIA_EPROTO, "keystore %s: unencrypted but KDF fields are not zero",
                             what);
    } else if (prot == KS_PROT_ARGON2ID_XCHACHA) {
        if (!kdf_check(&kdf))
            return aria_errf(ARIA_EPROTO,
                             "keystore %s: Argon2id parameters out of range (%u passes, %u KiB)",
                             what, kdf.opslimit, kdf.memlimit_kib);
    } else {
        return aria_errf(ARIA_EPROTO, "keystore %s: unknown protection scheme %u", what, prot);
    }
    if (encrypted)
        *encrypted = prot != KS_PROT_NONE;
    if (!out)
        return 0;

    if (prot == KS_PROT_NONE) {
        keyed_check(chk, KS_KEY_PLAIN, buf, KS_OFF_TAG);
        if (sodium_memcmp(chk, buf + KS_OFF_TAG, 16) != 0)
            return aria_errf(ARIA_EPROTO, "keystore %s is corrupted: checksum mismatch", what);
        return wallet_from_seed(buf + KS_OFF_SEED, out);
    }
    if (!passphrase)
        return aria_errf(ARIA_EPERM, "keystore %s is encrypted: a passphrase is required", what);
    ks_scratch *s = sodium_malloc(sizeof *s);
    if (!s)
        return aria_errf(ARIA_ENOMEM, "keystore: cannot allocate protected memory");
    int rc = derive_key(s, passphrase, buf + KS_OFF_SALT, kdf.opslimit, kdf.memlimit_kib);
    if (rc == 0 && crypto_aead_xchacha20poly1305_ietf_decrypt(
                       s->seed, NULL, NULL, buf + KS_OFF_SEED, WALLET_SEED_BYTES + 16, buf,
                       WALLET_KS_HDR_BYTES, buf + KS_OFF_NONCE, s->key) != 0)
        rc = aria_errf(ARIA_ECRYPTO,
                       "keystore %s: wrong passphrase, or the file is corrupted (authentication "
                       "failed)",
                       what);
    if (rc == 0)
        rc = wallet_from_seed(s->seed, out);
    sodium_free(s);
    wallet__burn_stack(16384);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Files                                                                */
/* ------------------------------------------------------------------ */

/* Read at most KS_MAX_FILE + 1 bytes of path into buf. */
static int
read_file(const char *path, uint8_t *buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return aria_errf(ARIA_ENOTFOUND, "keystore %s does not exist", path);
        return aria_errf(ARIA_EIO, "keystore %s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return aria_errf(ARIA_EPROTO, "keystore %s is not a regular file", path);
    }
    if (st.st_mode & 077)
        ARIA_LOG_W("W0001", "wallet",
                   "keystore %s is accessible by other users (mode %03o); run "
                   "chmod 600",
                   path, (unsigned)(st.st_mode & 0777));
    size_t n = 0;
    while (n < KS_MAX_FILE + 1) {
        ssize_t r = read(fd, buf + n, KS_MAX_FILE + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return aria_errf(ARIA_EIO, "keystore %s: read failed: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > KS_MAX_FILE)
        return aria_errf(ARIA_EPROTO, "keystore %s is too large to be a keystore", path);
    *len = n;
    return 0;
}

static int
decode_file(const char *path, const char *passphrase, bool *encrypted, wallet **out)
{
    uint8_t *buf = sodium_malloc(KS_MAX_FILE + 1); /* may hold a plaintext seed */
    if (!buf)
        return aria_errf(ARIA_ENOMEM, "keystore: cannot allocate protected memory");
    size_t len = 0;
    int rc = read_file(path, buf, &len);
    if (rc == 0)
        rc = wallet__keystore_decode(buf, len, passphrase, path, encrypted, out);
    sodium_free(buf);
    return rc;
}

int
wallet_keystore_load(const char *path, const char *passphrase, wallet **out)
{
    ARIA_ASSERT(path && out);
    *out = NULL;
    if (!wallet__ctx())
        return aria_errf(ARIA_EINTERNAL, "wallet: crypto library initialisation failed");
    return decode_file(path, passphrase, NULL, out);
}

int
wallet_keystore_is_encrypted(const char *path, bool *encrypted)
{
    ARIA_ASSERT(path && encrypted);
    if (!wallet__ctx())
        return aria_errf(ARIA_EINTERNAL, "wallet: crypto library initialisation failed");
    return decode_file(path, NULL, encrypted, NULL);
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int
fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        dir[0] = '.';
        dir[1] = 0;
    } else if (slash == path) {
        dir[0] = '/';
        dir[1] = 0;
    } else {
        size_t n = (size_t)(slash - path);
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return aria_errf(ARIA_EIO, "keystore: cannot open directory %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0)
        return aria_errf(ARIA_EIO, "keystore: fsync of directory %s failed: %s", dir, strerror(e));
    return 0;
}

/* Write bytes to path atomically. With no_clobber, fail with ARIA_EEXIST if
 * path exists (link(2) refuses atomically) instead of replacing it. */
static int
write_atomic(const char *path, const uint8_t *bytes, size_t n, bool no_clobber)
{
    char tmp[PATH_MAX];
    if (aria_snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
        return aria_errf(ARIA_EINVAL, "keystore: path too long");
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    if (fd < 0)
        return aria_errf(ARIA_EIO, "keystore %s: cannot create temporary file: %s", path,
                         strerror(errno));
    int rc = 0;
    if (fchmod(fd, 0600) != 0 || write_all(fd, bytes, n) != 0 || fsync(fd) != 0) {
        rc = aria_errf(ARIA_EIO, "keystore %s: writing %s failed: %s", path, tmp, strerror(errno));
        close(fd);
        goto fail;
    }
    if (close(fd) != 0) {
        rc = aria_errf(ARIA_EIO, "keystore %s: close failed: %s", path, strerror(errno));
        goto fail;
    }
    if (no_clobber) {
        if (link(tmp, path) != 0) {
            int e = errno;
            rc =
                e == EEXIST
                    ? aria_errf(ARIA_EEXIST, "keystore %s already exists; not overwriting it", path)
                    : aria_errf(ARIA_EIO, "keystore %s: cannot create: %s", path, strerror(e));
            goto fail;
        }
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        rc = aria_errf(ARIA_EIO, "keystore %s: rename failed: %s", path, strerror(errno));
        goto fail;
    }
    return fsync_dir_of(path);
fail:
    unlink(tmp);
    return rc;
}

int
wallet_keystore_save_kdf(const char *path, const wallet *w, const char *passphrase,
                         const wallet_kdf *kdf)
{
    ARIA_ASSERT(path && w);
    if (!wallet__ctx())
        return aria_errf(ARIA_EINTERNAL, "wallet: crypto library initialisation failed");
    uint8_t *buf = sodium_malloc(WALLET_KS_BYTES);
    if (!buf)
        return aria_errf(ARIA_ENOMEM, "keystore: cannot allocate protected memory");
    int rc = wallet__keystore_encode(w, passphrase, kdf, buf);
    if (rc == 0)
        rc = write_atomic(path, buf, WALLET_KS_BYTES, false);
    sodium_free(buf);
    return rc;
}

int
wallet_keystore_save(const char *path, const wallet *w, const char *passphrase)
{
    wallet_kdf kdf;
    int rc = wallet_kdf_default(&kdf);
    if (rc)
        return rc;
    return wallet_keystore_save_kdf(path, w, passphrase, &kdf);
}

int
wallet_keystore_create(const char *path, const char *passphrase, wallet **out)
{
    ARIA_ASSERT(path);
    if (out)
        *out = NULL;
    wallet_kdf kdf;
    int rc = wallet_kdf_default(&kdf);
    if (rc)
        return rc;
    wallet *w = NULL;
    rc = wallet_new_random(&w);
    if (rc)
        return rc;
    uint8_t *buf = sodium_malloc(WALLET_KS_BYTES);
    if (!buf) {
        wallet_free(w);
        return aria_errf(ARIA_ENOMEM, "keystore: cannot allocate protected memory");
    }
    rc = wallet__keystore_encode(w, passphrase, &kdf, buf);
    if (rc == 0)
        rc = write_atomic(path, buf, WALLET_KS_BYTES, true);
    sodium_free(buf);
    if (rc == 0 && out)
        *out = w;
    else
        wallet_free(w);
    return rc;
}
