/*
 * test_seen.c — the seen cache: membership, duplicates, expiry by the
 * injected clock, the capacity bound and early-eviction counter.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "wire_seen.h"

static void
idn(uint8_t id[32], uint32_t i)
{
    memset(id, 0, 32);
    aria_store_u32le(id, i);
    wallet_hash(id, id, 4); /* spread like real ids */
}

Test(seen, remembers_and_reports_duplicates)
{
    aria_clock_manual c;
    aria_clock_manual_init(&c, 1000, 0);
    wire_seen *s;
    cr_assert_eq(wire_seen_new(16, 100, &c.clock, &s), 0);
    uint8_t a[32], b[32];
    idn(a, 1);
    idn(b, 2);
    cr_assert(!wire_seen_contains(s, a));
    cr_assert_eq(wire_seen_insert(s, a), 0);
    cr_assert(wire_seen_contains(s, a));
    cr_assert(!wire_seen_contains(s, b));
    cr_assert_eq(wire_seen_insert(s, a), ARIA_EEXIST);
    cr_assert_eq(wire_seen_count(s), 1);
    wire_seen_free(s);
}

Test(seen, forgets_after_ttl)
{
    aria_clock_manual c;
    aria_clock_manual_init(&c, 1000, 0);
    wire_seen *s;
    cr_assert_eq(wire_seen_new(16, 100, &c.clock, &s), 0);
    uint8_t a[32], b[32];
    idn(a, 1);
    idn(b, 2);
    cr_assert_eq(wire_seen_insert(s, a), 0);
    aria_clock_manual_advance(&c, 50);
    cr_assert_eq(wire_seen_insert(s, b), 0);
    aria_clock_manual_advance(&c, 49);
    cr_assert(wire_seen_contains(s, a));
    aria_clock_manual_advance(&c, 1);
    cr_assert(!wire_seen_contains(s, a), "expired at exactly ttl");
    cr_assert(wire_seen_contains(s, b));
    aria_clock_manual_advance(&c, 50);
    cr_assert(!wire_seen_contains(s, b));
    cr_assert_eq(wire_seen_count(s), 0);
    cr_assert_eq(wire_seen_insert(s, a), 0, "an expired id can be inserted again");
    cr_assert_eq(wire_seen_evicted_early(s), 0);
    wire_seen_free(s);
}

Test(seen, stays_within_capacity)
{
    aria_clock_manual c;
    aria_clock_manual_init(&c, 1, 0);
    wire_seen *s;
    cr_assert_eq(wire_seen_new(100, 1000000, &c.clock, &s), 0);
    uint8_t id[32];
    for (uint32_t i = 0; i < 1000; i++) {
        idn(id, i);
        cr_assert_eq(wire_seen_insert(s, id), 0);
        cr_assert_leq(wire_seen_count(s), 100);
    }
    cr_assert_eq(wire_seen_evicted_early(s), 900);
    for (uint32_t i = 0; i < 900; i++) {
        idn(id, i);
        cr_assert(!wire_seen_contains(s, id), "oldest evicted first (%u)", i);
    }
    for (uint32_t i = 900; i < 1000; i++) {
        idn(id, i);
        cr_assert(wire_seen_contains(s, id), "newest kept (%u)", i);
    }
    wire_seen_free(s);
}

Test(seen, colliding_buckets_still_work)
{
    /* ids equal in their first 16 bytes share a bucket */
    aria_clock_manual c;
    aria_clock_manual_init(&c, 1, 0);
    wire_seen *s;
    cr_assert_eq(wire_seen_new(8, 10, &c.clock, &s), 0);
    uint8_t id[32];
    memset(id, 0x33, 32);
    for (int i = 0; i < 20; i++) {
        id[31] = (uint8_t)i;
        cr_assert_eq(wire_seen_insert(s, id), 0);
        aria_clock_manual_advance(&c, 1);
    }
    cr_assert_eq(wire_seen_count(s), 8);
    id[31] = 19;
    cr_assert(wire_seen_contains(s, id));
    id[31] = 11;
    cr_assert(!wire_seen_contains(s, id));
    aria_clock_manual_advance(&c, 100);
    cr_assert_eq(wire_seen_count(s), 8, "count refreshes on the next call");
    cr_assert(!wire_seen_contains(s, id));
    cr_assert_eq(wire_seen_count(s), 0);
    wire_seen_free(s);
}

Test(seen, rejects_bad_parameters)
{
    wire_seen *s;
    cr_assert_eq(wire_seen_new(0, 10, aria_clock_system(), &s), ARIA_EINVAL);
    cr_assert_eq(wire_seen_new(10, 0, aria_clock_system(), &s), ARIA_EINVAL);
    cr_assert_null(s);
}
