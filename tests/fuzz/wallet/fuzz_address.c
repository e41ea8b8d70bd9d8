/*
 * fuzz_address.c — bech32m and address decoding on arbitrary strings.
 * Contract: no crash or out-of-bounds read; whatever decodes re-encodes to
 * the lowercase form of the input; an accepted address holds a valid key.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wallet.h"
#include "wallet_internal.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[256];
    if (size >= sizeof s)
        size = sizeof s - 1;
    memcpy(s, data, size);
    s[size] = 0;

    char hrp[WALLET_BECH32_MAX_HRP + 1], again[WALLET_BECH32_MAX_LEN + 1];
    uint8_t d5[WALLET_BECH32_MAX_DATA];
    size_t n5 = 0;
    if (wallet__bech32m_decode(s, hrp, d5, &n5) == 0) {
        if (wallet__bech32m_encode(again, sizeof again, hrp, d5, n5) != 0)
            abort();
        size_t l = strlen(s);
        for (size_t i = 0; i < l; i++)
            if (again[i] != (char)tolower((unsigned char)s[i]))
                abort();
    }
    uint8_t id[32], id2[32];
    bool testnet = false;
    if (wallet_address_decode(s, id, &testnet) == 0) {
        char addr[WALLET_ADDRESS_MAX];
        if (wallet_address_encode(id, testnet, addr) != 0 || wallet_account_parse(addr, id2) != 0 ||
            memcmp(id, id2, 32) != 0)
            abort();
    }
    if (wallet_account_parse(s, id) == 0 && wallet_account_parse(s, id2) != 0)
        abort(); /* deterministic */
    return 0;
}
