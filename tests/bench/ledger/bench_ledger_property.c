/*
 * bench_ledger_property.c — the long property run: thousands of random valid
 * histories (transfers, job payments with receipts, receives, forks), each
 * applied in 5 orders; identical state hashes, supply conserved and balances
 * sane after every step. usage: bench_ledger_property [HISTORIES [SEED]]
 */
#include <stdio.h>

#include "ledger_testlib.h"

int
main(int argc, char **argv)
{
    uint64_t histories = 2000, seed = 20261124;
    if (argc > 1 && aria_parse_u64(argv[1], 10000000, "HISTORIES", &histories) != 0)
        return fprintf(stderr, "%s\n", aria_err_msg()), 2;
    if (argc > 2 && aria_parse_u64(argv[2], UINT64_MAX, "SEED", &seed) != 0)
        return fprintf(stderr, "%s\n", aria_err_msg()), 2;
    tl_world w;
    tl_world_init(&w, 6, 4, 5000);
    tl_prop_stats st;
    char msg[512] = "";
    uint64_t t0 = aria_mono_ns();
    int rc = tl_property_run(&w, seed, (size_t)histories, 30, 5, true, &st, msg, sizeof msg);
    double secs = (double)(aria_mono_ns() - t0) / 1e9;
    printf("bench_ledger_property: %llu histories (%llu with forks, %llu forks detected), "
           "%llu entries, 5 orders each, %llu applies, %llu verified, %.1f s: %s\n",
           (unsigned long long)st.histories, (unsigned long long)st.forked,
           (unsigned long long)st.forks, (unsigned long long)st.entries,
           (unsigned long long)st.applies, (unsigned long long)st.verified, secs,
           rc == 0 ? "all identical, supply conserved" : msg);
    tl_world_fini(&w);
    return rc == 0 ? 0 : 1;
}
