/*
 * test_peers.c — the peer table: insert/update rules (newer record wins,
 * never self), the capacity bound and eviction, and the random pick that
 * skips peers being dialed, backing off or discouraged.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "wire_peers.h"

static uint8_t self[32];

static wire_peer_record
rec(uint8_t who, uint64_t created)
{
    wire_peer_record r;
    memset(&r, 0, sizeof r);
    memset(r.node_id, who, 32);
    aria_snprintf(r.gossip_addr, sizeof r.gossip_addr, "tcp://127.0.0.1:%u", 1000u + who);
    r.created_ms = created;
    return r;
}

Test(peers, newer_record_wins_and_self_is_refused)
{
    memset(self, 0xee, 32);
    wire_peers *p;
    cr_assert_eq(wire_peers_new(8, self, &p), 0);
    wire_peer_record a = rec(1, 10);
    cr_assert_eq(wire_peers_upsert(p, &a, 0), 1);
    cr_assert_eq(wire_peers_upsert(p, &a, 0), ARIA_EEXIST);
    wire_peer_record older = rec(1, 9);
    cr_assert_eq(wire_peers_upsert(p, &older, 0), ARIA_EEXIST);
    wire_peer_record newer = rec(1, 11);
    aria_snprintf(newer.gossip_addr, sizeof newer.gossip_addr, "tcp://127.0.0.1:7");
    wire_peer_entry *e = wire_peers_find(p, a.node_id);
    e->fails = 3;
    e->backoff_until_ms = 999;
    cr_assert_eq(wire_peers_upsert(p, &newer, 5), 0);
    e = wire_peers_find(p, a.node_id);
    cr_assert_str_eq(e->rec.gossip_addr, "tcp://127.0.0.1:7");
    cr_assert_eq(e->fails, 0, "a new address resets the backoff");
    cr_assert_eq(e->backoff_until_ms, 0);
    cr_assert_not_null(wire_peers_find_addr(p, "tcp://127.0.0.1:7"));
    wire_peer_record me = rec(0xee, 1);
    cr_assert_eq(wire_peers_upsert(p, &me, 0), ARIA_EPERM);
    cr_assert_eq(wire_peers_count(p), 1);
    wire_peers_remove(p, a.node_id);
    cr_assert_eq(wire_peers_count(p), 0);
    wire_peers_free(p);
}

Test(peers, bounded_with_least_recent_eviction)
{
    memset(self, 0xee, 32);
    wire_peers *p;
    cr_assert_eq(wire_peers_new(4, self, &p), 0);
    for (uint8_t i = 1; i <= 4; i++) {
        wire_peer_record r = rec(i, 1);
        cr_assert_eq(wire_peers_upsert(p, &r, 100 + i), 1);
    }
    wire_peers_find(p, (uint8_t[32]){1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
        ->dialing = true;
    wire_peer_record r5 = rec(5, 1);
    cr_assert_eq(wire_peers_upsert(p, &r5, 200), 1);
    cr_assert_eq(wire_peers_count(p), 4);
    uint8_t id[32];
    memset(id, 1, 32);
    cr_assert_not_null(wire_peers_find(p, id), "the dialed peer stays");
    memset(id, 2, 32);
    cr_assert_null(wire_peers_find(p, id), "the least recently seen idle peer goes");
    for (size_t i = 0; i < wire_peers_count(p); i++)
        wire_peers_at(p, i)->dialing = true;
    wire_peer_record r6 = rec(6, 1);
    cr_assert_eq(wire_peers_upsert(p, &r6, 300), ARIA_EFULL);
    wire_peers_free(p);
}

Test(peers, pick_skips_busy_backing_off_and_discouraged)
{
    memset(self, 0xee, 32);
    wire_peers *p;
    cr_assert_eq(wire_peers_new(16, self, &p), 0);
    for (uint8_t i = 1; i <= 4; i++) {
        wire_peer_record r = rec(i, 1);
        cr_assert_eq(wire_peers_upsert(p, &r, 0), 1);
    }
    uint8_t id[32];
    memset(id, 1, 32);
    wire_peers_find(p, id)->dialing = true;
    memset(id, 2, 32);
    wire_peers_find(p, id)->backoff_until_ms = 500;
    memset(id, 3, 32);
    wire_peers_find(p, id)->discouraged_until_ms = 500;
    for (uint64_t r = 0; r < 50; r++) {
        wire_peer_entry *e = wire_peers_pick(p, 100, r * 7919);
        cr_assert_not_null(e);
        cr_assert_eq(e->rec.node_id[0], 4);
    }
    int seen[5] = {0};
    for (uint64_t r = 0; r < 300; r++)
        seen[wire_peers_pick(p, 1000, r)->rec.node_id[0]]++;
    cr_assert_eq(seen[1], 0);
    cr_assert(seen[2] > 50 && seen[3] > 50 && seen[4] > 50, "uniform-ish: %d %d %d", seen[2],
              seen[3], seen[4]);
    memset(id, 4, 32);
    wire_peers_find(p, id)->dialing = true;
    memset(id, 2, 32);
    wire_peers_find(p, id)->dialing = true;
    memset(id, 3, 32);
    wire_peers_find(p, id)->dialing = true;
    cr_assert_null(wire_peers_pick(p, 1000, 1));
    wire_peers_free(p);
}
