/*
 * fuzz_entry.c — the entry decoder on arbitrary bytes. Checks its contract:
 * it never crashes or reads out of bounds; whatever it accepts re-encodes to
 * exactly the input (canonical form) and has the id of its signed prefix;
 * signature checks on accepted entries return cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ledger_entry e;
    uint8_t id[32];
    if (ledger_entry_decode(data, size, &e, id) != 0)
        return 0;
    aria_buf b;
    aria_buf_init(&b, 0);
    if (ledger_entry_encode(&e, true, &b) != 0 || b.len != size || memcmp(b.data, data, size) != 0)
        abort(); /* accepted bytes must be canonical */
    uint8_t h[32];
    aria_buf_reset(&b);
    if (ledger_entry_encode(&e, false, &b) != 0)
        abort();
    wallet_hash(h, b.data, b.len);
    if (memcmp(h, id, 32) != 0)
        abort();
    aria_buf_fini(&b);
    int rc = ledger_entry_verify_sigs(&e);
    if (rc != 0 && rc != ARIA_ECRYPTO && rc != ARIA_EINVAL)
        abort();
    return 0;
}
