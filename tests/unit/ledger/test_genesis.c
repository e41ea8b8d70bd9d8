/*
 * test_genesis.c — the genesis JSON subset: accepted forms, network id =
 * hash of the bytes, and specific errors for everything else.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "ledger.h"

#define A1 "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
#define A2 "c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5"

static int
parse(const char *s, ledger_genesis **g)
{
    return ledger_genesis_parse(s, strlen(s), g);
}

Test(ledger_genesis, parses_allocations_and_hashes_the_bytes)
{
    const char *s = "{\"name\":\"t\",\"timestamp_ms\":5,\"allocations\":[{\"account\":\"" A1
                    "\",\"amount\":10},\n {\"amount\": 32, \"account\": \"" A2 "\"}]}\n";
    ledger_genesis *g;
    cr_assert_eq(parse(s, &g), 0, "%s", aria_err_msg());
    cr_assert_eq(g->n_allocs, 2);
    cr_assert_eq(g->total, 42);
    cr_assert_eq(g->timestamp_ms, 5);
    cr_assert_str_eq(g->name, "t");
    uint8_t h[32];
    wallet_hash(h, s, strlen(s));
    cr_assert_eq(memcmp(h, g->network_id, 32), 0);
    ledger_genesis_free(g);
}

Test(ledger_genesis, rejects_what_is_outside_the_subset)
{
    static const char *bad[] = {
        "",
        "[]",
        "{\"name\":\"t\"}",
        "{\"allocations\":[{\"account\":\"" A1 "\",\"amount\":1}]}",
        "{\"name\":\"t\",\"allocations\":[]}",
        "{\"name\":\"t\",\"allocations\":[{\"account\":\"" A1 "\",\"amount\":0}]}",
        "{\"name\":\"t\",\"allocations\":[{\"account\":\"" A1 "\",\"amount\":01}]}",
        "{\"name\":\"t\",\"allocations\":[{\"account\":\"" A1 "\",\"amount\":1.5}]}",
        "{\"name\":\"t\",\"allocations\":[{\"account\":\"" A1 "\",\"amount\":-1}]}",
        "{\"name\":\"t\",\"allocations\":[{\"account\":\"xyz\",\"amount\":1}]}",
        "{\"name\":\"t\",\"allocations\":[{\"account\":\"" A1 "\",\"amount\":1},"
        "{\"account\":\"" A1 "\",\"amount\":1}]}",
        "{\"name\":\"t\",\"allocations\":[{\"account\":\"" A1 "\",\"amount\":1}],\"x\":1}",
        "{\"name\":\"t\",\"name\":\"u\",\"allocations\":[{\"account\":\"" A1 "\",\"amount\":1}]}",
        "{\"name\":\"t\\n\",\"allocations\":[{\"account\":\"" A1 "\",\"amount\":1}]}",
        "{\"name\":\"t\",\"allocations\":[{\"account\":\"" A1 "\",\"amount\":1}]} x",
        "{\"name\":\"t\",\"allocations\":[{\"account\":\"" A1
        "\",\"amount\":4611686018427387905}]}",
        "{\"name\":\"t\",\"allocations\":[{\"account\":\"" A1 "\",\"amount\":1}",
        "{\"name\":\"t\",\"allocations\":[{\"account\":\"" A1 "\",\"amount\":1},]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ledger_genesis *g = (ledger_genesis *)1;
        int rc = parse(bad[i], &g);
        cr_assert_eq(rc, ARIA_EPROTO, "case %zu accepted or wrong error %d", i, rc);
        cr_assert_null(g);
        cr_assert_neq(strlen(aria_err_msg()), 0);
    }
}

Test(ledger_genesis, total_is_capped)
{
    const char *s = "{\"name\":\"t\",\"allocations\":[{\"account\":\"" A1
                    "\",\"amount\":4611686018427387904},{\"account\":\"" A2 "\",\"amount\":1}]}";
    ledger_genesis *g;
    cr_assert_eq(parse(s, &g), ARIA_EPROTO);
    cr_assert(strstr(aria_err_msg(), "total"), "%s", aria_err_msg());
}
