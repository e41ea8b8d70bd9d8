/*
 * ks_writer.c — helper for the keystore kill test: rewrites the keystore at
 * argv[1] forever, alternating between two fixed wallets (seeds 0xaa.. and
 * 0xbb..), encrypted with passphrase argv[2], until it is killed. Writes
 * one byte to stdout when initialised (the test waits for it). Exits 3 if a
 * save ever fails.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "wallet.h"

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: ks_writer PATH PASSPHRASE\n");
        return 2;
    }
    uint8_t sa[32], sb[32];
    memset(sa, 0xaa, 32);
    memset(sb, 0xbb, 32);
    wallet *a, *b;
    if (wallet_from_seed(sa, &a) || wallet_from_seed(sb, &b))
        return 3;
    if (write(1, "r", 1) != 1)
        return 3;
    for (unsigned i = 0;; i++) {
        if (wallet_keystore_save(argv[1], (i & 1) ? a : b, argv[2]) != 0) {
            fprintf(stderr, "ks_writer: %s\n", aria_err_msg());
            return 3;
        }
    }
}
