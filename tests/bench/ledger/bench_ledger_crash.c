/*
 * bench_ledger_crash.c — the long crash run: a ledger writer SIGKILLed at
 * random moments 1,000 times (default); after each the ledger opens, verify
 * passes, supply is conserved and every acknowledged entry is present.
 * usage: bench_ledger_crash [KILLS [SEED]]   (ledger in $TMPDIR)
 */
#include <stdio.h>

#include "ledger_testlib.h"

int
main(int argc, char **argv)
{
    uint64_t kills = 1000, seed = 7;
    if (argc > 1 && aria_parse_u64(argv[1], 10000000, "KILLS", &kills) != 0)
        return fprintf(stderr, "%s\n", aria_err_msg()), 2;
    if (argc > 2 && aria_parse_u64(argv[2], UINT64_MAX, "SEED", &seed) != 0)
        return fprintf(stderr, "%s\n", aria_err_msg()), 2;
    tl_world w;
    tl_world_init(&w, 6, 4, 100000);
    tl_crash_stats st;
    char msg[512] = "";
    uint64_t t0 = aria_mono_ns();
    int rc = tl_crash_run(&w, seed, (size_t)kills, 500, &st, msg, sizeof msg);
    double secs = (double)(aria_mono_ns() - t0) / 1e9;
    printf("bench_ledger_crash: %llu rounds, %llu SIGKILLs, %llu entries acknowledged, %llu "
           "presence checks, %llu fresh ledgers, %.1f s: %s\n",
           (unsigned long long)st.iterations, (unsigned long long)st.killed,
           (unsigned long long)st.acked, (unsigned long long)st.checked,
           (unsigned long long)st.epochs, secs,
           rc == 0 ? "every reopen verified, supply conserved, acked entries present" : msg);
    tl_world_fini(&w);
    return rc == 0 ? 0 : 1;
}
