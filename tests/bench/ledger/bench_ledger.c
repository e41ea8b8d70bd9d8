/*
 * bench_ledger.c — throughput of the ledger on one core: entries decoded,
 * signature-checked (entry and receipt signatures) and applied to LMDB in its
 * default durable mode, in batches (one write transaction and one fsync per
 * batch). Also the cost of the parts alone: decoding, and decoding plus the
 * signature checks one by one (ledger_entry_check: the checks apply makes
 * before it touches the database, which apply does as one batch
 * verification per ledger_apply_batch). One warm-up, then RUNS runs of each
 * phase; medians.
 *
 * usage: bench_ledger [ENTRIES [BATCH [RECEIPT_PCT [RUNS [ACCOUNTS]]]]]
 *        (default 20000 entries, batch 256, 33% of sends carry a job receipt,
 *        which costs a second signature check, 5 runs, 16 accounts; at most
 *        64 accounts)
 * After the last apply run the whole history is applied again to the full
 * ledger: every entry is a replay (what gossip delivers most of the time).
 * Rates are given per second of wall time and per second of this thread's
 * CPU time (the fair "one core" figure on a shared, loaded machine).
 * The ledger lives in $TMPDIR (default /tmp: a real disk, so fsync counts).
 * BENCH_LEDGER_APPLY_ONLY=1 skips the decode/validate phases (for profiling
 * the apply path with perf).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ledger_testlib.h"

static double
cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Kernel CPU time of this thread (page writes, fdatasync). */
static double
sys_s(void)
{
    struct rusage u;
    if (getrusage(RUSAGE_THREAD, &u) != 0)
        return 0;
    return (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
}

/* Median of v[0..n). */
static double
median(const double *v, int n)
{
    return aria_median(v, (size_t)n);
}

#define MAX_RUNS 101

int
main(int argc, char **argv)
{
    uint64_t n_target = 20000, batch = 256, nruns = 5;
    if (argc > 1 && aria_parse_u64(argv[1], 10000000, "ENTRIES", &n_target) != 0)
        return fprintf(stderr, "%s\n", aria_err_msg()), 2;
    if (argc > 2 && (aria_parse_u64(argv[2], 4096, "BATCH", &batch) != 0 || batch == 0))
        return fprintf(stderr, "bad BATCH\n"), 2;
    uint64_t rpct = 33;
    if (argc > 3 && aria_parse_u64(argv[3], 100, "RECEIPT_PCT", &rpct) != 0)
        return fprintf(stderr, "%s\n", aria_err_msg()), 2;
    if (argc > 4 && (aria_parse_u64(argv[4], MAX_RUNS, "RUNS", &nruns) != 0 || nruns == 0))
        return fprintf(stderr, "bad RUNS (1..%d)\n", MAX_RUNS), 2;
    uint64_t naccts = 16;
    if (argc > 5 && (aria_parse_u64(argv[5], TL_MAX_ACCTS, "ACCOUNTS", &naccts) != 0 || naccts < 2))
        return fprintf(stderr, "bad ACCOUNTS (2..%d)\n", TL_MAX_ACCTS), 2;
    const int runs = (int)nruns;
    bool apply_only = getenv("BENCH_LEDGER_APPLY_ONLY") != NULL;
    tl_receipt_pct = (unsigned)rpct;
    tl_world w;
    tl_world_init(&w, (size_t)naccts, (size_t)naccts, 1000000000);
    /* A valid history: genesis claims, transfers, job payments with
     * receipts (one in three sends), receives. No forks. */
    tl_rng r = {42};
    tl_history h;
    uint64_t t0 = aria_mono_ns();
    tl_history_gen(&w, &r, (size_t)(n_target * 1.1), 0, &h);
    if (h.n > n_target)
        h.n = (size_t)n_target; /* a prefix of a valid history is valid */
    size_t receipts = 0, bytes = 0;
    for (size_t i = 0; i < h.n; i++) {
        ledger_entry e;
        if (ledger_entry_decode(h.e[i].p, h.e[i].n, &e, NULL) == 0 && e.has_receipt)
            receipts++;
        bytes += h.e[i].n;
    }
    printf("bench_ledger: %zu entries (%zu with job receipts: %.3f signature checks per entry; "
           "%.0f bytes on average), %llu accounts, batch %llu, %d runs, signed in %.2f s\n",
           h.n, receipts, 1.0 + (double)receipts / (double)h.n, (double)bytes / (double)h.n,
           (unsigned long long)naccts, (unsigned long long)batch, runs,
           (double)(aria_mono_ns() - t0) / 1e9);

    /* Phase 1: decode only (canonical check and entry id included).
     * Phase 2: decode + signatures (ledger_entry_check). */
    double drate[MAX_RUNS], dcpu[MAX_RUNS], vrate[MAX_RUNS], vcpu[MAX_RUNS];
    for (int run = -1; run < runs && !apply_only; run++) { /* run -1 = warm-up */
        for (int phase = 0; phase < 2; phase++) {
            uint64_t s = aria_mono_ns();
            double c0 = cpu_s();
            for (size_t i = 0; i < h.n; i++) {
                ledger_entry e;
                uint8_t id[32];
                int rc = phase == 0 ? ledger_entry_decode(h.e[i].p, h.e[i].n, &e, id)
                                    : ledger_entry_check(h.e[i].p, h.e[i].n, &e, id);
                if (rc != 0)
                    return fprintf(stderr, "entry %zu invalid: %s\n", i, aria_err_msg()), 1;
            }
            double wall = (double)h.n / ((double)(aria_mono_ns() - s) / 1e9);
            double cpu = (double)h.n / (cpu_s() - c0);
            if (run >= 0) {
                (phase == 0 ? drate : vrate)[run] = wall;
                (phase == 0 ? dcpu : vcpu)[run] = cpu;
            }
        }
    }

    double rates[MAX_RUNS], crates[MAX_RUNS], sysus[MAX_RUNS];
    for (int run = -1; run < runs; run++) { /* run -1 = warm-up */
        char dir[256];
        const char *base = getenv("TMPDIR");
        aria_snprintf(dir, sizeof dir, "%s/aria-bench-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(dir))
            return perror("mkdtemp"), 1;
        ledger_options o;
        ledger_options_default(&o);
        o.map_size_bytes = (size_t)1 << 30;
        o.hold_max = 1 << 20;
        ledger *l;
        if (ledger_open(dir, w.g, &o, &l) != 0)
            return fprintf(stderr, "open: %s\n", aria_err_msg()), 1;
        const uint8_t **p = aria_alloc_array(batch, sizeof *p);
        size_t *len = aria_alloc_array(batch, sizeof *len);
        ledger_result *res = aria_alloc_array(batch, sizeof *res);
        size_t applied = 0;
        uint64_t s = aria_mono_ns();
        double c0 = cpu_s(), k0 = sys_s();
        for (size_t i = 0; i < h.n; i += batch) {
            size_t n = h.n - i < batch ? h.n - i : batch;
            for (size_t k = 0; k < n; k++) {
                p[k] = h.e[i + k].p;
                len[k] = h.e[i + k].n;
            }
            if (ledger_apply_batch(l, p, len, n, res) != 0)
                return fprintf(stderr, "apply: %s\n", aria_err_msg()), 1;
            for (size_t k = 0; k < n; k++)
                applied += res[k].reason == LEDGER_APPLIED;
        }
        double secs = (double)(aria_mono_ns() - s) / 1e9, csecs = cpu_s() - c0;
        double ksecs = sys_s() - k0;
        if (applied != h.n || ledger_hold_count(l) != 0)
            return fprintf(stderr, "only %zu of %zu applied\n", applied, h.n), 1;
        if (run >= 0) {
            crates[run] = (double)h.n / csecs;
            rates[run] = (double)h.n / secs;
            sysus[run] = ksecs * 1e6 / (double)h.n;
        }
        ledger_stats st;
        if (ledger_stats_get(l, &st) == 0 && run == runs - 1)
            printf("  database: %llu entries, %llu accounts, %.1f MiB used\n",
                   (unsigned long long)st.entries, (unsigned long long)st.accounts,
                   (double)st.used_bytes / 1048576.0);
        if (run == runs - 1) { /* replays: the same bytes again */
            size_t dup = 0;
            double r0 = cpu_s();
            for (size_t i = 0; i < h.n; i += batch) {
                size_t n = h.n - i < batch ? h.n - i : batch;
                for (size_t k = 0; k < n; k++) {
                    p[k] = h.e[i + k].p;
                    len[k] = h.e[i + k].n;
                }
                if (ledger_apply_batch(l, p, len, n, res) != 0)
                    return fprintf(stderr, "replay: %s\n", aria_err_msg()), 1;
                for (size_t k = 0; k < n; k++)
                    dup += res[k].reason == LEDGER_DUPLICATE;
            }
            double rc = cpu_s() - r0;
            if (dup != h.n)
                return fprintf(stderr, "only %zu of %zu replays were duplicates\n", dup, h.n), 1;
            printf("  replays (every entry again, batch %llu): %.0f entries per CPU-second "
                   "(%.1f us each; one run)\n",
                   (unsigned long long)batch, (double)h.n / rc, rc * 1e6 / (double)h.n);
        }
        ledger_close(l);
        tl_rmdir(dir);
        aria_free(p);
        aria_free(len);
        aria_free(res);
    }
    double amin = rates[0], amax = rates[0];
    for (int i = 1; i < runs; i++) {
        amin = rates[i] < amin ? rates[i] : amin;
        amax = rates[i] > amax ? rates[i] : amax;
    }
    double cmin = crates[0], cmax = crates[0];
    for (int i = 1; i < runs; i++) {
        cmin = crates[i] < cmin ? crates[i] : cmin;
        cmax = crates[i] > cmax ? crates[i] : cmax;
    }
    double a_cpu = median(crates, runs), a_wall = median(rates, runs);
    if (!apply_only) {
        double d_cpu = median(dcpu, runs), v_cpu = median(vcpu, runs);
        printf("  decode only, 1 thread: median %.0f entries/s wall, %.0f entries per CPU-second\n",
               median(drate, runs), d_cpu);
        printf("  decode + signatures (ledger_entry_check), 1 thread: median %.0f entries/s wall, "
               "%.0f entries per CPU-second\n",
               median(vrate, runs), v_cpu);
        /* apply checks a batch's signatures with one batch verification
         * (wallet_verify_batch), so apply minus this one-by-one figure is
         * not the storage cost any more */
        printf("  CPU per entry: decode %.1f us, signatures one by one (as ledger_entry_check) "
               "%.1f us (%.1f us per check); apply verifies them as one batch\n",
               1e6 / d_cpu, 1e6 / v_cpu - 1e6 / d_cpu,
               (1e6 / v_cpu - 1e6 / d_cpu) / (1.0 + (double)receipts / (double)h.n));
    }
    printf("  apply: %.1f us of CPU per entry, of which %.1f us in the kernel (page writes and "
           "fdatasync of each batch)\n",
           1e6 / a_cpu, median(sysus, runs));
    printf("  validate + apply in LMDB (durable, batch %llu), 1 thread: median %.0f entries/s "
           "wall (min %.0f, max %.0f), %.0f entries per CPU-second (min %.0f, max %.0f) "
           "[target >= 20000]\n",
           (unsigned long long)batch, a_wall, amin, amax, a_cpu, cmin, cmax);
    tl_history_free(&h);
    tl_world_fini(&w);
    return 0;
}
