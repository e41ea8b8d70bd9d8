/*
 * bench_sim.c — the scheduler simulation benchmark of issue 8: one process,
 * 1,000 providers and 1,000 requesters, 10,000 jobs, simulated message
 * delays (5..50 ms), 2% duplicated messages and 5% of the providers
 * crashing at random times. Three scenarios: mixed providers (base price
 * 95/100/105, 20/40/80 tokens/s, reputation 0..3) with strict reservations,
 * the same with 300% overbooking, and alike providers (strict). Checks that every job with an
 * eligible bid completes and prints job latency percentiles (simulated time), the spread of load
 * across providers, and wall and CPU time (median of 3 runs).
 *
 * Usage: bench_sched_sim [--jobs N] [--providers N] [--check]
 * (--check runs the machines' invariant checks after every event.)
 * Exit status 1 if an invariant broke or an eligible job did not complete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched_sim.h"

/* CPU time of this process: on a shared machine wall time mostly measures
 * the other processes, so both are printed. */
static uint64_t
cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t
pct(const uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i];
}

/* Run one configuration RUNS times; print its figures. 0 if every
 * eligible job completed and no invariant broke. */
static int
scenario(const sim_config *cfg, const char *label)
{
    sim_config c = *cfg;
    enum { RUNS = 3 };
    uint64_t wall[RUNS], cpu[RUNS];
    sim_stats st;
    memset(&st, 0, sizeof st);
    for (int r = 0; r < RUNS; r++) {
        if (r > 0)
            sim_stats_fini(&st);
        uint64_t t0 = aria_mono_ns(), c0 = cpu_ns();
        int rc = sim_run(&c, &st);
        wall[r] = aria_mono_ns() - t0;
        cpu[r] = cpu_ns() - c0;
        if (rc != 0) {
            fprintf(stderr, "bench_sched_sim: %s: invariant broken: %s\n", label, st.error);
            sim_stats_fini(&st);
            return 1;
        }
    }
    qsort(wall, RUNS, sizeof wall[0], cmp_u64);
    qsort(cpu, RUNS, sizeof cpu[0], cmp_u64);

    qsort(st.latency_ms, st.done, sizeof st.latency_ms[0], cmp_u64);
    /* load spread over providers that never crashed */
    uint32_t *served = aria_calloc(c.n_prov, sizeof *served);
    uint32_t n_alive = 0;
    uint64_t total_served = 0;
    for (uint32_t i = 0; i < c.n_prov; i++)
        if (!st.prov_crashed[i]) {
            served[n_alive++] = st.served[i];
            total_served += st.served[i];
        }
    qsort(served, n_alive, sizeof *served, cmp_u32);

    printf("\n[%s]\n", label);
    printf("scheduler simulation: %u providers (capacity %u, %u models), %u requesters, "
           "%u jobs over %llu s simulated\n",
           c.n_prov, c.capacity, c.n_models, c.n_req, c.n_jobs,
           (unsigned long long)(c.arrival_span_ms / 1000));
    printf("  network: delay %u..%u ms, %u%% duplicated; %u providers crashed\n", c.delay_min_ms,
           c.delay_max_ms, c.dup_pct, st.crashed);
    printf("  jobs: %u done, %u no eligible bid (%u priced below every provider, %u while all "
           "serving providers were full), %u no provider left, %u expired, %u other; "
           "%u re-awards\n",
           st.done, st.no_bids, st.no_bids_priced_out, st.no_bids - st.no_bids_priced_out,
           st.no_provider, st.expired, st.other, st.reawards);
    printf("  eligible jobs (>= 1 eligible bid): %u, completed: %u\n", st.eligible,
           st.eligible - st.eligible_not_done);
    printf("  job latency (simulated ms, offer to settle): p50 %llu  p90 %llu  p99 %llu  "
           "max %llu\n",
           (unsigned long long)pct(st.latency_ms, st.done, 50),
           (unsigned long long)pct(st.latency_ms, st.done, 90),
           (unsigned long long)pct(st.latency_ms, st.done, 99),
           (unsigned long long)(st.done ? st.latency_ms[st.done - 1] : 0));
    if (n_alive > 0)
        printf("  load per live provider (jobs served): min %u  p10 %u  median %u  p90 %u  "
               "max %u  mean %.1f  max/min %s%.2f\n",
               served[0], served[n_alive / 10], served[n_alive / 2], served[n_alive * 9 / 10],
               served[n_alive - 1], (double)total_served / n_alive, served[0] ? "" : "inf (min 0) ",
               served[0] ? (double)served[n_alive - 1] / served[0] : 0.0);
    printf("  credits booked: %llu micro; events processed: %llu\n", (unsigned long long)st.credits,
           (unsigned long long)st.events);
    printf("  time per run (median of %d): wall %.3f s (min %.3f, max %.3f), cpu %.3f s; "
           "%.0f ns cpu per event%s\n",
           RUNS, wall[RUNS / 2] / 1e9, wall[0] / 1e9, wall[RUNS - 1] / 1e9, cpu[RUNS / 2] / 1e9,
           st.events ? (double)cpu[RUNS / 2] / (double)st.events : 0.0,
           c.check ? ", invariants checked after every event" : "");
    int bad = st.eligible_not_done != 0;
    if (bad)
        fprintf(stderr, "bench_sched_sim: %s: %u eligible jobs did not complete\n", label,
                st.eligible_not_done);
    aria_free(served);
    sim_stats_fini(&st);
    return bad;
}

int
main(int argc, char **argv)
{
    sim_config c;
    memset(&c, 0, sizeof c);
    c.n_prov = 1000;
    c.n_req = 1000;
    c.n_jobs = 10000;
    c.n_models = 8;
    c.capacity = 4;
    c.arrival_span_ms = 1000000; /* 10,000 jobs over 1,000 s: 10 jobs/s */
    c.delay_min_ms = 5;
    c.delay_max_ms = 50;
    c.dup_pct = 2;
    c.drop_pct = 0;
    c.crash_permille = 50;
    c.ineligible_pct = 2;
    c.max_new_min = 32;
    c.max_new_max = 256;
    c.kill_job0_winner_after = 2;
    c.seed = 20261124;
    for (int i = 1; i < argc; i++) {
        uint64_t v;
        if (strcmp(argv[i], "--check") == 0) {
            c.check = true;
        } else if (i + 1 < argc && strcmp(argv[i], "--jobs") == 0) {
            if (aria_parse_u64(argv[++i], 10000000, "--jobs", &v) != 0) {
                fprintf(stderr, "bench_sched_sim: %s\n", aria_err_msg());
                return 2;
            }
            c.n_jobs = (uint32_t)v;
        } else if (i + 1 < argc && strcmp(argv[i], "--providers") == 0) {
            if (aria_parse_u64(argv[++i], 1000000, "--providers", &v) != 0 || v < c.n_models) {
                fprintf(stderr, "bench_sched_sim: --providers must be %u..1000000\n", c.n_models);
                return 2;
            }
            c.n_prov = (uint32_t)v;
        } else {
            fprintf(stderr, "usage: bench_sched_sim [--jobs N] [--providers N] [--check]\n");
            return 2;
        }
    }
    if (c.n_jobs == 0) {
        fprintf(stderr, "bench_sched_sim: --jobs must be >= 1\n");
        return 2;
    }

    int bad = 0;
    c.overbook_pct = 100;
    bad |= scenario(&c, "strict reservations: every bid holds a real slot (overbook 100%)");
    c.overbook_pct = 300;
    bad |= scenario(&c, "overbooking: bids outstanding up to 300% of capacity");
    c.overbook_pct = 100;
    c.alike = true;
    bad |= scenario(&c, "alike providers (price 100, 40 tokens/s, same reputation), strict");
    return bad;
}
