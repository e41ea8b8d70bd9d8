/*
 * test_wire_mesh.c — wire acceptance on tcp loopback:
 *  - 30 nodes, each bootstrapped from one seed only: within 10 s each knows
 *    at least 8 peers; a message published by any node reaches all others,
 *    delivered to each application exactly once;
 *  - churn: a third of the nodes are closed at once; the rest still deliver
 *    100%; the closed nodes restart (same identity, new ports) and rejoin;
 *  - the service channel: request/reply, ledger sync by entries, timeouts.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define N 30

static tnode nodes[N];

static bool
all_know(int from, int to, size_t min_peers)
{
    for (int i = from; i < to; i++)
        if (atomic_load(&nodes[i].peers) < min_peers)
            return false;
    return true;
}

/* every live node other than the publisher has each tag in [t0, t1) once */
static bool
all_delivered(const bool *live, int t0, int t1, int (*publisher)(int tag))
{
    for (int i = 0; i < N; i++) {
        if (!live[i])
            continue;
        for (int tag = t0; tag < t1; tag++) {
            int p = publisher(tag);
            if (p < 0 || p >= N || p == i || !live[p])
                continue;
            if (atomic_load(&nodes[i].deliveries[tag]) < 1)
                return false;
        }
    }
    return true;
}

static int pub_base;
static int
publisher_of(int tag)
{
    return tag - pub_base;
}

static void
assert_exactly_once(const bool *live, int t0, int t1)
{
    for (int i = 0; i < N; i++) {
        if (!live[i])
            continue;
        for (int tag = t0; tag < t1; tag++) {
            uint32_t d = atomic_load(&nodes[i].deliveries[tag]);
            int p = tag - pub_base;
            if (p == i)
                cr_assert_eq(d, 0, "node %d got its own message %d", i, tag);
            else if (p >= 0 && p < N && live[p])
                cr_assert_eq(d, 1, "node %d got message %d %u times", i, tag, d);
        }
    }
}

static int
wait_until(bool (*cond)(void), int timeout_ms)
{
    uint64_t t0 = aria_mono_ms();
    while (!cond()) {
        if (aria_mono_ms() - t0 > (uint64_t)timeout_ms)
            return -1;
        th_sleep_ms(20);
    }
    return (int)(aria_mono_ms() - t0);
}

static bool live[N];
static int cur_t0, cur_t1;
static bool
cond_known(void)
{
    for (int i = 0; i < N; i++)
        if (live[i] && atomic_load(&nodes[i].peers) < 8)
            return false;
    return true;
}
static bool
cond_linked(void)
{
    for (int i = 0; i < N; i++) {
        if (!live[i])
            continue;
        wire_stats s;
        wire_node_stats(nodes[i].n, &s);
        if (s.pipes_outbound < 8)
            return false;
    }
    return true;
}
static bool
cond_delivered(void)
{
    return all_delivered(live, cur_t0, cur_t1, publisher_of);
}

static void
dump(const char *what)
{
    printf("mesh: %s\n", what);
    for (int i = 0; i < N; i++) {
        if (!live[i])
            continue;
        wire_stats s;
        wire_node_stats(nodes[i].n, &s);
        int got = 0, missing = -1;
        for (int tag = cur_t0; tag < cur_t1; tag++) {
            got += atomic_load(&nodes[i].deliveries[tag]) > 0;
            int p = tag - pub_base;
            if (!atomic_load(&nodes[i].deliveries[tag]) && p != i && live[p])
                missing = tag;
        }
        printf(
            "  node %2d: in %llu out %llu peers %zu got %d recv %llu dup %llu fwd %llu qdrop %llu "
            "rate %llu refused %llu stale %llu missing %d pub %llu\n",
            i, (unsigned long long)s.pipes_inbound, (unsigned long long)s.pipes_outbound,
            atomic_load(&nodes[i].peers), got, (unsigned long long)s.gossip_received,
            (unsigned long long)s.gossip_duplicates, (unsigned long long)s.gossip_forwarded,
            (unsigned long long)s.queue_drops, (unsigned long long)s.rejected_rate,
            (unsigned long long)s.pipes_refused, (unsigned long long)s.rejected_stale, missing,
            (unsigned long long)s.gossip_published);
    }
}

static int
publish_round(int base)
{
    pub_base = base;
    cur_t0 = base;
    cur_t1 = base + N;
    for (int i = 0; i < N; i++)
        if (live[i])
            th_publish(&nodes[i], base + i);
    int ms = wait_until(cond_delivered, 8000);
    if (ms < 0)
        dump("round incomplete");
    th_sleep_ms(300); /* late duplicates would show up here */
    return ms;
}

Test(mesh, thirty_nodes_discover_deliver_once_and_survive_churn, .timeout = 100)
{
    cr_assert_eq(th_start(&nodes[0], 0, NULL, NULL), 0, "%s", aria_err_msg());
    live[0] = true;
    for (int i = 1; i < N; i++) {
        cr_assert_eq(th_start(&nodes[i], i, nodes[0].service_addr, NULL), 0, "%s", aria_err_msg());
        live[i] = true;
    }
    int ms = wait_until(cond_known, 10000);
    cr_assert_geq(ms, 0, "every node knows >= 8 peers within 10 s");
    printf("mesh: all 30 nodes know >= 8 peers after %d ms\n", ms);
    ms = wait_until(cond_linked, 10000);
    cr_assert_geq(ms, 0, "every node has 8 outbound links");
    (void)all_know;

    ms = publish_round(0);
    cr_assert_geq(ms, 0, "every message reached all 30 nodes");
    assert_exactly_once(live, 0, N);
    printf("mesh: 30 messages delivered to all 30 nodes in %d ms, exactly once\n", ms);

    /* churn: close a third at once */
    for (int i = 20; i < N; i++) {
        th_stop(&nodes[i]);
        live[i] = false;
    }
    th_sleep_ms(200);
    ms = publish_round(100);
    cr_assert_geq(ms, 0, "survivors deliver 100%% after churn");
    assert_exactly_once(live, 100, 100 + N);
    printf("mesh: after closing 10 nodes, 20 survivors delivered 100%% in %d ms\n", ms);

    /* restart them: same identities, new ports, bootstrap from the seed */
    for (int i = 20; i < N; i++) {
        cr_assert_eq(th_start(&nodes[i], i, nodes[0].service_addr, NULL), 0);
        live[i] = true;
    }
    ms = wait_until(cond_known, 10000);
    cr_assert_geq(ms, 0, "restarted nodes know >= 8 peers again");
    ms = wait_until(cond_linked, 10000);
    cr_assert_geq(ms, 0, "restarted nodes have 8 outbound links again");
    ms = publish_round(200);
    cr_assert_geq(ms, 0, "after rejoin all 30 deliver 100%%");
    assert_exactly_once(live, 200, 200 + N);
    printf("mesh: restarted nodes rejoined; all 30 delivered 100%% in %d ms\n", ms);

    uint64_t bad = 0, dup = 0, deliv = 0;
    for (int i = 0; i < N; i++) {
        wire_stats s;
        wire_node_stats(nodes[i].n, &s);
        bad += s.rejected_bad_sig + s.rejected_malformed + s.offences;
        dup += s.gossip_duplicates;
        deliv += s.gossip_delivered;
        cr_assert_eq(atomic_load(&nodes[i].foreign), 0);
    }
    cr_assert_eq(bad, 0, "honest mesh: no rejections, no offences");
    printf("mesh: %llu deliveries, %llu duplicates dropped by the seen cache\n",
           (unsigned long long)deliv, (unsigned long long)dup);
    for (int i = 0; i < N; i++)
        th_stop(&nodes[i]);
}
