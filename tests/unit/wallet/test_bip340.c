/*
 * test_bip340.c — the official BIP-340 test vectors (bip340_test_vectors.csv,
 * copied from bitcoin/bips bip-0340/test-vectors.csv, all 19 rows including
 * the failing ones and the variable-length messages added 2022-12): every
 * signing row must reproduce the exact signature from the secret key and
 * aux_rand, and every row must verify to the stated result.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wallet.h"
#include "wallet_internal.h"

static int
hexfield(const char *s, size_t n, uint8_t *out, size_t max)
{
    cr_assert(n % 2 == 0 && n / 2 <= max, "bad hex field length %zu", n);
    cr_assert_eq(aria_hex_decode(out, n / 2, s, n), 0);
    return (int)(n / 2);
}

Test(wallet_bip340, official_vectors_all_pass)
{
    const char *src = getenv("ARIA_SOURCE_DIR");
    cr_assert(src, "ARIA_SOURCE_DIR not set");
    char path[1024];
    aria_snprintf(path, sizeof path, "%s/tests/unit/wallet/bip340_test_vectors.csv", src);
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    char line[2048];
    cr_assert(fgets(line, sizeof line, f)); /* header */
    int rows = 0, signs = 0, fails = 0;
    while (fgets(line, sizeof line, f)) {
        const char *fld[8];
        size_t len[8];
        char *p = line;
        for (int i = 0; i < 8; i++) {
            char *c = (i < 7) ? strchr(p, ',') : p + strcspn(p, "\r\n");
            cr_assert(c, "row %d: too few fields", rows);
            fld[i] = p;
            len[i] = (size_t)(c - p);
            p = c + 1;
        }
        uint8_t sk[32], pk[32], aux[32], msg[128], sig[64], got[64];
        int msg_len = hexfield(fld[4], len[4], msg, sizeof msg);
        hexfield(fld[2], len[2], pk, 32);
        hexfield(fld[5], len[5], sig, 64);
        bool want = len[6] == 4 && memcmp(fld[6], "TRUE", 4) == 0;
        if (len[1]) {
            hexfield(fld[1], len[1], sk, 32);
            hexfield(fld[3], len[3], aux, 32);
            cr_assert_eq(wallet__bip340_sign_raw(sk, msg, (size_t)msg_len, aux, got), 0, "row %d",
                         rows);
            cr_assert(memcmp(got, sig, 64) == 0, "row %d: signature differs", rows);
            signs++;
        }
        int rc = wallet_bip340_verify(pk, msg, (size_t)msg_len, sig);
        cr_assert_eq(rc == 0, want, "row %d: verify gave %d, expected %s", rows, rc,
                     want ? "TRUE" : "FALSE");
        if (!want)
            fails++;
        rows++;
    }
    fclose(f);
    cr_assert_eq(rows, 19);
    cr_assert_eq(signs, 8);
    cr_assert_eq(fails, 10);
}
