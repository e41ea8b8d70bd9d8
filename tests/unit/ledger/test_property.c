/*
 * test_property.c — random valid histories (transfers, job payments with
 * receipts, receives, forks) applied in 5 orders each give identical state
 * hashes, with supply conserved and sane balances after every step. The
 * benchmark tests/bench/ledger/bench_ledger_property runs thousands.
 */
#include <criterion/criterion.h>

#include "ledger_testlib.h"

static void
run(uint64_t seed, size_t histories)
{
    tl_world w;
    tl_world_init(&w, 6, 4, 5000);
    tl_prop_stats st;
    char msg[512] = "";
    int rc = tl_property_run(&w, seed, histories, 30, 5, true, &st, msg, sizeof msg);
    cr_assert_eq(rc, 0, "%s", msg);
    cr_assert_eq(st.histories, histories);
    cr_assert_gt(st.forked, 0, "the generator must produce forks");
    cr_assert_gt(st.forks, 0, "forks must be detected");
    cr_log_info("%llu histories (%llu with forks), %llu entries, %llu applies, %llu verified",
                (unsigned long long)st.histories, (unsigned long long)st.forked,
                (unsigned long long)st.entries, (unsigned long long)st.applies,
                (unsigned long long)st.verified);
    tl_world_fini(&w);
}

Test(ledger_property, random_orders_give_identical_state_a, .timeout = 240)
{
    run(0x1234, 100);
}

Test(ledger_property, random_orders_give_identical_state_b, .timeout = 240)
{
    run(0xabcdef, 100);
}
