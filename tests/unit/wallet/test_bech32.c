/*
 * test_bech32.c — BIP-350 bech32m vectors, adapted: the generic decoder
 * must accept every valid bech32m string (any hrp) and reject the invalid
 * ones and every bech32 (BIP-173) checksum; the address layer adds hrp
 * "aria"/"tart", a 32-byte payload and a valid x-only key.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <string.h>

#include "wallet.h"
#include "wallet_internal.h"

static const char *valid[] = {
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
    /* BIP-350 segwit vectors whose checksum is bech32m: valid at this layer
     * (segwit-specific rules do not apply to ARIA) */
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
    "BC1SW50QGDZ25J",
    "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
    "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
    "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
    "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",
    "bc1pw5dgrnzv",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",
};

static const char *invalid[] = {
    " 1xj0phk",
    "\x7f"
    "1g6xzxy",
    "\x80"
    "1vctc34",
    "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",
    "qyrz8wqd2c9m",
    "1qyrz8wqd2c9m",
    "y1b0jsk6g",
    "lt1igcx5c0",
    "in1muywd",
    "mm1crxm3i",
    "au1s5cgom",
    "M1VUXWEZ",
    "16plkw9",
    "1p2gdwpf",
    /* bech32 (BIP-173) checksums must be rejected */
    "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
    "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
    "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
    "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
    "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",
    "bc1gmk9yu", /* "empty data section" in BIP-350: its checksum is not bech32m */
    "",
};

Test(wallet_bech32, bip350_valid_vectors_decode_and_reencode)
{
    for (size_t i = 0; i < ARIA_ARRAY_LEN(valid); i++) {
        char hrp[WALLET_BECH32_MAX_HRP + 1], again[WALLET_BECH32_MAX_LEN + 1],
            lower[WALLET_BECH32_MAX_LEN + 1];
        uint8_t d[WALLET_BECH32_MAX_DATA];
        size_t n = 0;
        cr_assert_eq(wallet__bech32m_decode(valid[i], hrp, d, &n), 0, "%s: %s", valid[i],
                     aria_err_msg());
        cr_assert_eq(wallet__bech32m_encode(again, sizeof again, hrp, d, n), 0);
        size_t l = strlen(valid[i]);
        for (size_t k = 0; k <= l; k++)
            lower[k] = (char)tolower((unsigned char)valid[i][k]);
        cr_assert_str_eq(again, lower);
    }
}

Test(wallet_bech32, bip350_invalid_vectors_rejected_with_reason)
{
    static const bool bech32_reason[ARIA_ARRAY_LEN(invalid)] = {
        [14] = true, [15] = true, [16] = true, [17] = true, [18] = true, [19] = true};
    for (size_t i = 0; i < ARIA_ARRAY_LEN(invalid); i++) {
        char hrp[WALLET_BECH32_MAX_HRP + 1];
        uint8_t d[WALLET_BECH32_MAX_DATA];
        size_t n = 0;
        aria_err_clear();
        cr_assert_eq(wallet__bech32m_decode(invalid[i], hrp, d, &n), ARIA_EINVAL, "%zu accepted",
                     i);
        cr_assert(strlen(aria_err_msg()) > 10, "%zu: no reason", i);
        if (bech32_reason[i])
            cr_assert(strstr(aria_err_msg(), "BIP-173"), "%zu: %s", i, aria_err_msg());
    }
}

static void
some_id(uint8_t id[32], uint8_t v)
{
    uint8_t seed[32];
    memset(seed, v, 32);
    wallet *w;
    cr_assert_eq(wallet_from_seed(seed, &w), 0);
    wallet_account_id(w, id);
    wallet_free(w);
}

Test(wallet_address, roundtrip_mainnet_and_testnet)
{
    uint8_t id[32], back[32];
    char a[WALLET_ADDRESS_MAX], t[WALLET_ADDRESS_MAX];
    some_id(id, 1);
    cr_assert_eq(wallet_address_encode(id, false, a), 0);
    cr_assert_eq(wallet_address_encode(id, true, t), 0);
    cr_assert_eq(strlen(a), 63);
    cr_assert(strncmp(a, "aria1", 5) == 0);
    cr_assert(strncmp(t, "tart1", 5) == 0);
    bool tn = true;
    cr_assert_eq(wallet_address_decode(a, back, &tn), 0);
    cr_assert(!tn);
    cr_assert(memcmp(id, back, 32) == 0);
    cr_assert_eq(wallet_address_decode(t, back, &tn), 0);
    cr_assert(tn);
    cr_assert(memcmp(id, back, 32) == 0);
    /* uppercase form is the same address */
    char up[WALLET_ADDRESS_MAX];
    for (size_t i = 0; i <= strlen(a); i++)
        up[i] = (char)toupper((unsigned char)a[i]);
    cr_assert_eq(wallet_address_decode(up, back, NULL), 0);
    cr_assert(memcmp(id, back, 32) == 0);
    /* account_parse takes both forms */
    char hex[65];
    aria_hex_encode(hex, sizeof hex, id, 32);
    memset(back, 0, 32);
    cr_assert_eq(wallet_account_parse(hex, back), 0);
    cr_assert(memcmp(id, back, 32) == 0);
    memset(back, 0, 32);
    cr_assert_eq(wallet_account_parse(t, back), 0);
    cr_assert(memcmp(id, back, 32) == 0);
}

Test(wallet_address, every_single_character_typo_is_detected)
{
    uint8_t id[32], back[32];
    char a[WALLET_ADDRESS_MAX], m[WALLET_ADDRESS_MAX];
    some_id(id, 2);
    cr_assert_eq(wallet_address_encode(id, false, a), 0);
    static const char cs[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    size_t n = strlen(a);
    for (size_t pos = 5; pos < n; pos++) {
        for (int c = 0; c < 32; c++) {
            if (cs[c] == a[pos])
                continue;
            memcpy(m, a, n + 1);
            m[pos] = cs[c];
            aria_err_clear();
            cr_assert_eq(wallet_address_decode(m, back, NULL), ARIA_EINVAL);
            cr_assert(strstr(aria_err_msg(), "checksum"), "%s", aria_err_msg());
        }
    }
    /* a dropped character and a swapped pair */
    memcpy(m, a, n + 1);
    memmove(m + 20, m + 21, n - 20);
    cr_assert_eq(wallet_address_decode(m, back, NULL), ARIA_EINVAL);
    memcpy(m, a, n + 1);
    char tmp = m[30];
    m[30] = m[31];
    m[31] = tmp;
    if (m[30] != m[31])
        cr_assert_eq(wallet_address_decode(m, back, NULL), ARIA_EINVAL);
}

Test(wallet_address, rejects_wrong_hrp_length_and_bad_keys)
{
    uint8_t id[32], d5[52] = {0}, back[32];
    char s[WALLET_ADDRESS_MAX];
    some_id(id, 3);
    /* a valid bech32m string with another hrp */
    cr_assert_eq(wallet__bech32m_encode(s, sizeof s, "bc", d5, 52), 0);
    aria_err_clear();
    cr_assert_eq(wallet_address_decode(s, back, NULL), ARIA_EINVAL);
    cr_assert(strstr(aria_err_msg(), "prefix"), "%s", aria_err_msg());
    /* right hrp, 31 bytes */
    cr_assert_eq(wallet__bech32m_encode(s, sizeof s, "aria", d5, 50), 0);
    cr_assert_eq(wallet_address_decode(s, back, NULL), ARIA_EINVAL);
    /* right hrp and length, non-zero padding bits */
    d5[51] = 1;
    cr_assert_eq(wallet__bech32m_encode(s, sizeof s, "aria", d5, 52), 0);
    aria_err_clear();
    cr_assert_eq(wallet_address_decode(s, back, NULL), ARIA_EINVAL);
    cr_assert(strstr(aria_err_msg(), "padding"), "%s", aria_err_msg());
    /* x = 2^256-1 is not a field element: not a key */
    uint8_t ff[32];
    memset(ff, 0xff, 32);
    cr_assert_eq(wallet_address_encode(ff, false, s), 0);
    cr_assert_eq(wallet_address_decode(s, back, NULL), ARIA_EINVAL);
    char hex[65];
    aria_hex_encode(hex, sizeof hex, ff, 32);
    cr_assert_eq(wallet_account_parse(hex, back), ARIA_EINVAL);
    cr_assert_eq(wallet_account_parse("xyz", back), ARIA_EINVAL);
    cr_assert_eq(wallet_account_parse("", back), ARIA_EINVAL);
    hex[10] = 'g';
    cr_assert_eq(wallet_account_parse(hex, back), ARIA_EINVAL);
}
