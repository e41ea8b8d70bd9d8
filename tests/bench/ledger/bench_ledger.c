/*
 * bench_ledger.c — throughput of the ledger on one core: entries decoded,
 * signature-checked (entry and receipt signatures) and applied to LMDB in its
 * default durable mode, in batches (one write transaction and one fsync per
 * batch). Also the cost of validation alone. Warm-up, 5 runs, median.
 *
 * usage: bench_ledger [ENTRIES [BATCH [RECEIPT_PCT]]]
 *        (default 20000 entries, batch 256, 33% of sends carry a job receipt,
 *        which costs a second signature check)
 * Rates are given per second of wall time and per second of this thread's
 * CPU time (the fair "one core" figure on a shared, loaded machine).
 * The ledger lives in $TMPDIR (default /tmp: a real disk, so fsync counts).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger_testlib.h"

static double
cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int
cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    uint64_t n_target = 20000, batch = 256;
    if (argc > 1 && aria_parse_u64(argv[1], 10000000, "ENTRIES", &n_target) != 0)
        return fprintf(stderr, "%s\n", aria_err_msg()), 2;
    if (argc > 2 && (aria_parse_u64(argv[2], 4096, "BATCH", &batch) != 0 || batch == 0))
        return fprintf(stderr, "bad BATCH\n"), 2;
    uint64_t rpct = 33;
    if (argc > 3 && aria_parse_u64(argv[3], 100, "RECEIPT_PCT", &rpct) != 0)
        return fprintf(stderr, "%s\n", aria_err_msg()), 2;
    tl_receipt_pct = (unsigned)rpct;
    tl_world w;
    tl_world_init(&w, 16, 16, 1000000000);
    /* A valid history: genesis claims, transfers, job payments with
     * receipts (one in three sends), receives. No forks. */
    tl_rng r = {42};
    tl_history h;
    uint64_t t0 = aria_mono_ns();
    tl_history_gen(&w, &r, (size_t)(n_target * 1.1), 0, &h);
    if (h.n > n_target)
        h.n = (size_t)n_target; /* a prefix of a valid history is valid */
    size_t receipts = 0;
    for (size_t i = 0; i < h.n; i++) {
        ledger_entry e;
        if (ledger_entry_decode(h.e[i].p, h.e[i].n, &e, NULL) == 0 && e.has_receipt)
            receipts++;
    }
    printf("bench_ledger: %zu entries (%zu with job receipts), batch %llu, signed in %.2f s\n", h.n,
           receipts, (unsigned long long)batch, (double)(aria_mono_ns() - t0) / 1e9);

    /* Validation only: decode + canonical check + signatures. */
    double vrates[5], vcpu[5];
    for (int run = 0; run < 5; run++) {
        uint64_t s = aria_mono_ns();
        double c0 = cpu_s();
        for (size_t i = 0; i < h.n; i++) {
            ledger_entry e;
            if (ledger_entry_decode(h.e[i].p, h.e[i].n, &e, NULL) != 0 ||
                ledger_entry_verify_sigs(&e) != 0)
                return fprintf(stderr, "entry %zu invalid\n", i), 1;
        }
        vrates[run] = (double)h.n / ((double)(aria_mono_ns() - s) / 1e9);
        vcpu[run] = (double)h.n / (cpu_s() - c0);
    }
    qsort(vrates, 5, sizeof vrates[0], cmp_d);
    qsort(vcpu, 5, sizeof vcpu[0], cmp_d);

    double rates[6], crates[6];
    int runs = 0;
    for (int run = 0; run < 6; run++) { /* run 0 = warm-up */
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
        double c0 = cpu_s();
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
        if (applied != h.n || ledger_hold_count(l) != 0)
            return fprintf(stderr, "only %zu of %zu applied\n", applied, h.n), 1;
        if (run > 0) {
            crates[runs] = (double)h.n / csecs;
            rates[runs++] = (double)h.n / secs;
        }
        ledger_stats st;
        if (ledger_stats_get(l, &st) == 0 && run == 5)
            printf("  database: %llu entries, %llu accounts, %.1f MiB used\n",
                   (unsigned long long)st.entries, (unsigned long long)st.accounts,
                   (double)st.used_bytes / 1048576.0);
        ledger_close(l);
        tl_rmdir(dir);
        aria_free(p);
        aria_free(len);
        aria_free(res);
    }
    qsort(rates, (size_t)runs, sizeof rates[0], cmp_d);
    qsort(crates, (size_t)runs, sizeof crates[0], cmp_d);
    printf("  validate only (decode + signatures), 1 thread: median %.0f entries/s wall, "
           "%.0f entries per CPU-second\n",
           vrates[2], vcpu[2]);
    printf("  validate + apply in LMDB (durable, batch %llu), 1 thread: median %.0f entries/s "
           "wall (min %.0f, max %.0f), %.0f entries per CPU-second [target >= 20000]\n",
           (unsigned long long)batch, rates[runs / 2], rates[0], rates[runs - 1], crates[runs / 2]);
    tl_history_free(&h);
    tl_world_fini(&w);
    return 0;
}
