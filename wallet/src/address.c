/*
 * address.c — bech32m (BIP-350) codec and ARIA addresses over account ids.
 *
 * The generic codec accepts any valid bech32m string (any hrp, as BIP-350
 * defines validity) and rejects bech32 (BIP-173) checksums; the address
 * layer on top requires hrp "aria" or "tart" and exactly 32 data bytes that
 * form a valid x-only secp256k1 key. Every rejection names its reason.
 */
#include <string.h>

#include "wallet_internal.h"

#define BECH32M_CONST 0x2bc830a3u

static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t
polymod_step(uint32_t chk, uint8_t v)
{
    static const uint32_t gen[5] = {0x3b6a57b2u, 0x26508e6du, 0x1ea119fau, 0x3d4233ddu,
                                    0x2a1462b3u};
    uint8_t top = (uint8_t)(chk >> 25);
    chk = ((chk & 0x1ffffffu) << 5) ^ v;
    for (int i = 0; i < 5; i++)
        if ((top >> i) & 1)
            chk ^= gen[i];
    return chk;
}

/* Checksum state after the expanded hrp (high bits, 0, low bits). */
static uint32_t
polymod_hrp(const char *hrp, size_t n)
{
    uint32_t chk = 1;
    for (size_t i = 0; i < n; i++)
        chk = polymod_step(chk, (uint8_t)((uint8_t)hrp[i] >> 5));
    chk = polymod_step(chk, 0);
    for (size_t i = 0; i < n; i++)
        chk = polymod_step(chk, (uint8_t)(hrp[i] & 31));
    return chk;
}

static int
charset_index(char c)
{
    const char *p = memchr(charset, c, 32);
    return (p && c) ? (int)(p - charset) : -1;
}

int
wallet__bech32m_encode(char *out, size_t out_size, const char *hrp, const uint8_t *data5, size_t n5)
{
    size_t hn = strlen(hrp);
    if (hn < 1 || hn > WALLET_BECH32_MAX_HRP || hn + 1 + n5 + 6 > WALLET_BECH32_MAX_LEN)
        return aria_errf(ARIA_EINVAL, "bech32m: hrp of %zu chars with %zu data values is too long",
                         hn, n5);
    if (out_size < hn + 1 + n5 + 6 + 1)
        return aria_errf(ARIA_ERANGE, "bech32m: output buffer too small");
    for (size_t i = 0; i < hn; i++)
        if (hrp[i] < 33 || hrp[i] > 126 || (hrp[i] >= 'A' && hrp[i] <= 'Z'))
            return aria_errf(ARIA_EINVAL, "bech32m: invalid hrp character at %zu", i);
    uint32_t chk = polymod_hrp(hrp, hn);
    size_t o = 0;
    memcpy(out, hrp, hn);
    o = hn;
    out[o++] = '1';
    for (size_t i = 0; i < n5; i++) {
        if (data5[i] > 31)
            return aria_errf(ARIA_EINVAL, "bech32m: data value %zu is not 5-bit", i);
        chk = polymod_step(chk, data5[i]);
        out[o++] = charset[data5[i]];
    }
    for (int i = 0; i < 6; i++)
        chk = polymod_step(chk, 0);
    chk ^= BECH32M_CONST;
    for (int i = 0; i < 6; i++)
        out[o++] = charset[(chk >> (5 * (5 - i))) & 31];
    out[o] = 0;
    return 0;
}

int
wallet__bech32m_decode(const char *s, char *hrp, uint8_t *data5, size_t *n5)
{
    size_t len = strnlen(s, WALLET_BECH32_MAX_LEN + 1);
    if (len > WALLET_BECH32_MAX_LEN)
        return aria_errf(ARIA_EINVAL, "bech32m: longer than %d characters", WALLET_BECH32_MAX_LEN);
    bool lower = false, upper = false;
    size_t sep = len; /* position of the last '1' */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126)
            return aria_errf(ARIA_EINVAL, "bech32m: invalid character (code %u) at position %zu", c,
                             i);
        if (c >= 'a' && c <= 'z')
            lower = true;
        if (c >= 'A' && c <= 'Z')
            upper = true;
        if (c == '1')
            sep = i;
    }
    if (lower && upper)
        return aria_errf(ARIA_EINVAL, "bech32m: mixed upper and lower case");
    if (sep == len)
        return aria_errf(ARIA_EINVAL, "bech32m: no separator '1'");
    if (sep == 0)
        return aria_errf(ARIA_EINVAL, "bech32m: empty human-readable part");
    if (len - sep - 1 < 6)
        return aria_errf(ARIA_EINVAL, "bech32m: checksum too short (%zu characters after '1')",
                         len - sep - 1);
    for (size_t i = 0; i < sep; i++) {
        char c = s[i];
        hrp[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    hrp[sep] = 0;
    uint32_t chk = polymod_hrp(hrp, sep);
    size_t nd = len - sep - 1;
    for (size_t i = 0; i < nd; i++) {
        char c = s[sep + 1 + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        int v = charset_index(c);
        if (v < 0)
            return aria_errf(ARIA_EINVAL, "bech32m: invalid data character '%c' at position %zu",
                             s[sep + 1 + i], sep + 1 + i);
        chk = polymod_step(chk, (uint8_t)v);
        if (i < nd - 6)
            data5[i] = (uint8_t)v;
    }
    if (chk == 1)
        return aria_errf(ARIA_EINVAL, "bech32m: string has a bech32 (BIP-173) checksum, "
                                      "not bech32m");
    if (chk != BECH32M_CONST)
        return aria_errf(ARIA_EINVAL, "bech32m: checksum mismatch (a typo?)");
    *n5 = nd - 6;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Addresses                                                            */
/* ------------------------------------------------------------------ */

static int
id_is_valid_key(const uint8_t id[WALLET_ID_BYTES])
{
    secp256k1_xonly_pubkey pk;
    const secp256k1_context *ctx = wallet__ctx();
    return ctx && secp256k1_xonly_pubkey_parse(ctx, &pk, id);
}

int
wallet_address_encode(const uint8_t id[WALLET_ID_BYTES], bool testnet, char out[WALLET_ADDRESS_MAX])
{
    ARIA_ASSERT(id && out);
    uint8_t d5[52];
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < WALLET_ID_BYTES; i++) {
        acc = (acc << 8) | id[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            d5[n++] = (uint8_t)((acc >> bits) & 31);
        }
    }
    if (bits)
        d5[n++] = (uint8_t)((acc << (5 - bits)) & 31);
    ARIA_ASSERT(n == sizeof d5);
    return wallet__bech32m_encode(out, WALLET_ADDRESS_MAX,
                                  testnet ? WALLET_HRP_TESTNET : WALLET_HRP_MAINNET, d5, n);
}

int
wallet_address_decode(const char *addr, uint8_t id[WALLET_ID_BYTES], bool *testnet)
{
    ARIA_ASSERT(addr && id);
    char hrp[WALLET_BECH32_MAX_HRP + 1];
    uint8_t d5[WALLET_BECH32_MAX_DATA];
    size_t n5 = 0;
    int rc = wallet__bech32m_decode(addr, hrp, d5, &n5);
    if (rc)
        return wallet__err_wrap(rc, "address");
    bool tn;
    if (strcmp(hrp, WALLET_HRP_MAINNET) == 0)
        tn = false;
    else if (strcmp(hrp, WALLET_HRP_TESTNET) == 0)
        tn = true;
    else
        return aria_errf(ARIA_EINVAL,
                         "address: unknown prefix '%s' (expected '" WALLET_HRP_MAINNET
                         "' or '" WALLET_HRP_TESTNET "')",
                         hrp);
    if (n5 != 52)
        return aria_errf(ARIA_EINVAL, "address: %zu data characters, expected 52 for a 32-byte id",
                         n5);
    uint8_t tmp[WALLET_ID_BYTES];
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < n5; i++) {
        acc = (acc << 5) | d5[i];
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            tmp[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
        return aria_errf(ARIA_EINVAL, "address: non-zero padding bits");
    if (!id_is_valid_key(tmp))
        return aria_errf(ARIA_EINVAL, "address: not a valid account id (x is not on secp256k1)");
    memcpy(id, tmp, WALLET_ID_BYTES);
    if (testnet)
        *testnet = tn;
    return 0;
}

int
wallet_account_parse(const char *s, uint8_t id[WALLET_ID_BYTES])
{
    ARIA_ASSERT(s && id);
    size_t n = strnlen(s, 2 * WALLET_ID_BYTES + 1);
    if (n == 2 * WALLET_ID_BYTES) { /* addresses are 63 characters */
        uint8_t tmp[WALLET_ID_BYTES];
        int rc = aria_hex_decode(tmp, WALLET_ID_BYTES, s, n);
        if (rc)
            return wallet__err_wrap(rc, "account");
        if (!id_is_valid_key(tmp))
            return aria_errf(ARIA_EINVAL,
                             "account: not a valid account id (x is not on secp256k1)");
        memcpy(id, tmp, WALLET_ID_BYTES);
        return 0;
    }
    int rc = wallet_address_decode(s, id, NULL);
    if (rc)
        return wallet__err_wrap(rc, "account: expected an address or 64 hex digits");
    return 0;
}
