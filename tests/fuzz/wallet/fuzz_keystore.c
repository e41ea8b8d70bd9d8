/*
 * fuzz_keystore.c — the keystore parser on arbitrary bytes. Contract: it
 * returns an error or a working wallet, never crashes, never reads out of
 * bounds, and header-only validation agrees with a full decode about
 * whether the header is acceptable. Passphrase "pw" (the seed corpus files
 * use it, with the cheapest Argon2id parameters).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wallet.h"
#include "wallet_internal.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool enc = false;
    int hdr = wallet__keystore_decode(data, size, NULL, "fuzz", &enc, NULL);
    wallet *w = NULL;
    int rc = wallet__keystore_decode(data, size, "pw", "fuzz", &enc, &w);
    if (hdr != 0 && rc == 0)
        abort(); /* a full decode accepted what the header check refused */
    if (rc == 0) {
        if (!w)
            abort();
        uint8_t id[32], sig[64];
        wallet_account_id(w, id);
        if (wallet_sign(w, "entry", data, size, sig) != 0 ||
            wallet_verify(id, "entry", data, size, sig) != 0)
            abort();
        wallet_free(w);
    } else if (w) {
        abort();
    }
    return 0;
}
