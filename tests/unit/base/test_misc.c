/* Clocks, hex, number parsing, randomness. */
#include <criterion/criterion.h>
#include <string.h>

#include "base.h"

Test(hex, round_trip_and_errors_name_the_position)
{
    const uint8_t in[] = {0x00, 0x7f, 0x80, 0xff, 0x1a};
    char s[11];
    aria_hex_encode(s, sizeof s, in, sizeof in);
    cr_assert_str_eq(s, "007f80ff1a");
    uint8_t out[5];
    cr_assert_eq(aria_hex_decode(out, 5, "007F80FF1A", 10), 0);
    cr_assert_arr_eq(out, in, 5);
    cr_assert_eq(aria_hex_decode(out, 5, "007f80ff1", 9), ARIA_EINVAL);
    cr_assert_eq(aria_hex_decode(out, 5, "007f80fg1a", 10), ARIA_EINVAL);
    cr_assert(strstr(aria_err_msg(), "position 7") != NULL, "%s", aria_err_msg());
}

Test(clock, manual_clock_moves_only_when_told)
{
    aria_clock_manual m;
    aria_clock_manual_init(&m, 1000, 1700000000000ull);
    cr_assert_eq(aria_clock_mono_ms(&m.clock), 1000);
    aria_clock_manual_advance(&m, 250);
    cr_assert_eq(aria_clock_mono_ms(&m.clock), 1250);
    cr_assert_eq(aria_clock_wall_ms(&m.clock), 1700000000250ull);
}

Test(clock, system_clock_is_monotonic_and_plausible)
{
    const aria_clock *c = aria_clock_system();
    uint64_t a = aria_clock_mono_ms(c), b = aria_clock_mono_ms(c);
    cr_assert(b >= a);
    cr_assert(aria_clock_wall_ms(c) > 1700000000000ull);
    cr_assert(aria_mono_ns() > 0);
}

Test(parse, integers_reject_junk_and_range)
{
    int64_t v;
    uint64_t u;
    double d;
    cr_assert_eq(aria_parse_i64("-42", -100, 100, "--n", &v), 0);
    cr_assert_eq(v, -42);
    cr_assert_eq(aria_parse_i64("42x", -100, 100, "--n", &v), ARIA_EINVAL);
    cr_assert(strstr(aria_err_msg(), "--n") != NULL);
    cr_assert_eq(aria_parse_i64("", 0, 1, "--n", &v), ARIA_EINVAL);
    cr_assert_eq(aria_parse_i64("101", -100, 100, "--n", &v), ARIA_EINVAL);
    cr_assert_eq(aria_parse_u64("-1", 10, "--k", &u), ARIA_EINVAL);
    cr_assert_eq(aria_parse_u64("99999999999999999999999", UINT64_MAX, "--k", &u), ARIA_EINVAL);
    cr_assert_eq(aria_parse_u64("10", 10, "--k", &u), 0);
    cr_assert_eq(u, 10);
    cr_assert_eq(aria_parse_double("0.5", 0, 1, "--p", &d), 0);
    cr_assert_float_eq(d, 0.5, 1e-12);
    cr_assert_eq(aria_parse_double("nan", 0, 1, "--p", &d), ARIA_EINVAL);
    cr_assert_eq(aria_parse_double("1.5", 0, 1, "--p", &d), ARIA_EINVAL);
}

Test(random, os_random_fills_and_differs)
{
    uint8_t a[32], b[32];
    cr_assert_eq(aria_os_random(a, sizeof a), 0);
    cr_assert_eq(aria_os_random(b, sizeof b), 0);
    cr_assert_neq(memcmp(a, b, 32), 0);
}
