/*
 * Requesters and providers together, through the discrete-event simulation
 * of tests/bench/scheduler/sched_sim.h (real machines, simulated network and
 * ledger): the winner dies after k chunks, and randomized runs with
 * duplicates, losses, delays and crashes, with every invariant checked
 * after every event.
 */
#include <criterion/criterion.h>

#include "sched_sim.h"

static sim_config
small(uint64_t seed)
{
    sim_config c;
    memset(&c, 0, sizeof c);
    c.n_prov = 24;
    c.n_req = 6;
    c.n_jobs = 120;
    c.n_models = 3;
    c.capacity = 3;
    c.arrival_span_ms = 60000;
    c.delay_min_ms = 1;
    c.delay_max_ms = 80;
    c.max_new_min = 40;
    c.max_new_max = 200;
    c.ineligible_pct = 10;
    c.kill_job0_winner_after = -1;
    c.seed = seed;
    c.check = true;
    return c;
}

Test(flow, winner_dies_after_k_chunks_end_to_end)
{
    for (int k = 0; k <= 4; k++) {
        sim_config c = small(7);
        c.n_jobs = 1;
        c.max_new_min = c.max_new_max = 150; /* chunks of 32: 0..4 */
        c.kill_job0_winner_after = k;
        sim_stats st;
        int rc = sim_run(&c, &st);
        cr_assert_eq(rc, 0, "k=%d: %s", k, st.error);
        cr_assert_eq(st.done, 1, "k=%d", k);
        cr_assert_eq(st.crashed, 1);
        cr_assert_geq(st.job0_attempts, 2);
        const sched_req_attempt *dead = &st.job0[0], *next = &st.job0[1];
        cr_assert_eq(dead->chunks, (uint32_t)k, "k=%d: the dead provider delivered k chunks", k);
        cr_assert_eq(dead->tokens, 32u * (uint32_t)k);
        cr_assert_eq(dead->paid_micro, dead->price_micro * 32u * (uint32_t)k,
                     "paid exactly for what it delivered");
        cr_assert_eq(next->start_chunk, (uint32_t)k, "resumes at the right chunk");
        cr_assert_eq(dead->tokens + next->tokens, 150);
        cr_assert_eq(next->paid_micro, next->price_micro * next->tokens);
        sim_stats_fini(&st);
    }
}

/* Table: seeds x (dup %, drop %, crash per mille). With no loss, every job
 * with an eligible bid completes; with loss, every job still ends and the
 * money invariants hold. */
Test(flow, randomized_runs_keep_every_invariant_after_every_event, .timeout = 120)
{
    static const struct {
        uint64_t seed;
        uint32_t dup, drop, crash;
    } rows[] = {
        {1, 0, 0, 0}, {2, 20, 0, 0},   {3, 10, 0, 100}, {4, 30, 0, 200},
        {5, 0, 5, 0}, {6, 10, 10, 50}, {7, 50, 5, 100},
    };
    for (size_t i = 0; i < ARIA_ARRAY_LEN(rows); i++) {
        sim_config c = small(rows[i].seed);
        c.dup_pct = rows[i].dup;
        c.drop_pct = rows[i].drop;
        c.crash_permille = rows[i].crash;
        sim_stats st;
        int rc = sim_run(&c, &st);
        cr_assert_eq(rc, 0, "row %zu: %s", i, st.error);
        uint32_t ended = st.done + st.no_bids + st.no_provider + st.expired + st.other;
        cr_assert_eq(ended, c.n_jobs, "row %zu: every job ends", i);
        cr_assert_gt(st.no_bids, 0, "row %zu: some offers are below every price", i);
        cr_assert_gt(st.done, c.n_jobs / 2, "row %zu: %u done", i, st.done);
        if (rows[i].drop == 0 && rows[i].crash == 0)
            cr_assert_eq(st.eligible_not_done, 0, "row %zu: eligible jobs all complete", i);
        sim_stats_fini(&st);
    }
}
