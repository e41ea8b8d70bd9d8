/*
 * fuzz_genesis.c — the genesis JSON-subset parser on arbitrary bytes: never
 * crashes; an accepted file has 1..max allocations, no zero amounts, a total
 * equal to the sum and within the cap, and its network id is the hash of
 * the bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ledger_genesis *g;
    if (ledger_genesis_parse(data, size, &g) != 0)
        return 0;
    uint64_t sum = 0;
    if (g->n_allocs == 0 || g->n_allocs > LEDGER_GENESIS_MAX_ALLOCS)
        abort();
    for (size_t i = 0; i < g->n_allocs; i++) {
        if (g->allocs[i].amount == 0)
            abort();
        sum += g->allocs[i].amount;
    }
    if (sum != g->total || sum > LEDGER_SUPPLY_MAX)
        abort();
    uint8_t h[32];
    wallet_hash(h, data, size);
    if (memcmp(h, g->network_id, 32) != 0)
        abort();
    ledger_genesis_free(g);
    return 0;
}
