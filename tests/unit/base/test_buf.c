/* Byte writer and the bounds-checked reader: every failure path. */
#include <criterion/criterion.h>
#include <string.h>

#include "base.h"

Test(buf, integers_round_trip_little_endian)
{
    aria_buf b;
    aria_buf_init(&b, 0);
    cr_assert_eq(aria_buf_put_u8(&b, 0xab), 0);
    cr_assert_eq(aria_buf_put_u16le(&b, 0x1234), 0);
    cr_assert_eq(aria_buf_put_u32le(&b, 0xdeadbeef), 0);
    cr_assert_eq(aria_buf_put_u64le(&b, 0x0102030405060708ull), 0);
    const uint8_t want[] = {0xab, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde, 8, 7, 6, 5, 4, 3, 2, 1};
    cr_assert_eq(b.len, sizeof want);
    cr_assert_arr_eq(b.data, want, sizeof want);

    aria_rd r;
    aria_rd_init(&r, b.data, b.len);
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    cr_assert_eq(aria_rd_u8(&r, &u8), 0);
    cr_assert_eq(aria_rd_u16le(&r, &u16), 0);
    cr_assert_eq(aria_rd_u32le(&r, &u32), 0);
    cr_assert_eq(aria_rd_u64le(&r, &u64), 0);
    cr_assert_eq(u8, 0xab);
    cr_assert_eq(u16, 0x1234);
    cr_assert_eq(u32, 0xdeadbeef);
    cr_assert_eq(u64, 0x0102030405060708ull);
    cr_assert_eq(aria_rd_remaining(&r), 0);
    aria_buf_fini(&b);
}

Test(buf, varints_round_trip_at_every_boundary)
{
    uint64_t vals[] = {0,
                       1,
                       127,
                       128,
                       255,
                       300,
                       16383,
                       16384,
                       (1ull << 32) - 1,
                       1ull << 32,
                       (1ull << 63) - 1,
                       1ull << 63,
                       UINT64_MAX};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        aria_buf b;
        aria_buf_init(&b, 0);
        cr_assert_eq(aria_buf_put_varint(&b, vals[i]), 0);
        cr_assert(b.len >= 1 && b.len <= 10);
        aria_rd r;
        aria_rd_init(&r, b.data, b.len);
        uint64_t v;
        cr_assert_eq(aria_rd_varint(&r, &v), 0);
        cr_assert_eq(v, vals[i]);
        cr_assert_eq(aria_rd_remaining(&r), 0);
        aria_buf_fini(&b);
    }
}

/* A failed read must leave the offset where it was. */
#define EXPECT_FAIL(call, code)                                                                    \
    do {                                                                                           \
        size_t off_before = r.off;                                                                 \
        cr_assert_eq((call), (code), #call);                                                       \
        cr_assert_eq(r.off, off_before, "offset moved on failure: " #call);                        \
        cr_assert(aria_err_msg()[0] != '\0');                                                      \
    } while (0)

Test(rd, every_fixed_width_read_fails_cleanly_when_short)
{
    const uint8_t data[7] = {1, 2, 3, 4, 5, 6, 7};
    aria_rd r;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    aria_rd_init(&r, data, 0);
    EXPECT_FAIL(aria_rd_u8(&r, &u8), ARIA_ERANGE);
    aria_rd_init(&r, data, 1);
    EXPECT_FAIL(aria_rd_u16le(&r, &u16), ARIA_ERANGE);
    aria_rd_init(&r, data, 3);
    EXPECT_FAIL(aria_rd_u32le(&r, &u32), ARIA_ERANGE);
    aria_rd_init(&r, data, 7);
    EXPECT_FAIL(aria_rd_u64le(&r, &u64), ARIA_ERANGE);
    cr_assert_eq(aria_rd_u32le(&r, &u32), 0);
    EXPECT_FAIL(aria_rd_u32le(&r, &u32), ARIA_ERANGE);
    uint8_t out[8];
    EXPECT_FAIL(aria_rd_copy(&r, out, 4), ARIA_ERANGE);
    EXPECT_FAIL(aria_rd_skip(&r, 4), ARIA_ERANGE);
    const uint8_t *p;
    EXPECT_FAIL(aria_rd_bytes(&r, SIZE_MAX, &p), ARIA_ERANGE);
    cr_assert_eq(aria_rd_skip(&r, 3), 0);
    cr_assert_eq(aria_rd_remaining(&r), 0);
    aria_rd_init(&r, NULL, 100); /* NULL data means empty */
    EXPECT_FAIL(aria_rd_u8(&r, &u8), ARIA_ERANGE);
}

Test(rd, varint_failures)
{
    aria_rd r;
    uint64_t v;
    const uint8_t cut[] = {0x80, 0x80};
    aria_rd_init(&r, cut, sizeof cut);
    EXPECT_FAIL(aria_rd_varint(&r, &v), ARIA_ERANGE);
    const uint8_t too_long[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    aria_rd_init(&r, too_long, sizeof too_long);
    EXPECT_FAIL(aria_rd_varint(&r, &v), ARIA_EPROTO);
    const uint8_t overflow[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    aria_rd_init(&r, overflow, sizeof overflow);
    EXPECT_FAIL(aria_rd_varint(&r, &v), ARIA_EPROTO);
    const uint8_t nonminimal[] = {0x81, 0x00};
    aria_rd_init(&r, nonminimal, sizeof nonminimal);
    EXPECT_FAIL(aria_rd_varint(&r, &v), ARIA_EPROTO);
    const uint8_t empty[1] = {0};
    aria_rd_init(&r, empty, 0);
    EXPECT_FAIL(aria_rd_varint(&r, &v), ARIA_ERANGE);
}

Test(rd, lenbytes_checks_limit_and_end)
{
    aria_buf b;
    aria_buf_init(&b, 0);
    cr_assert_eq(aria_buf_put_lenbytes(&b, "hello", 5), 0);
    aria_rd r;
    const uint8_t *p;
    size_t n;
    aria_rd_init(&r, b.data, b.len);
    EXPECT_FAIL(aria_rd_lenbytes(&r, 4, &p, &n), ARIA_EPROTO); /* over limit */
    aria_rd_init(&r, b.data, b.len - 1);
    EXPECT_FAIL(aria_rd_lenbytes(&r, 100, &p, &n), ARIA_ERANGE); /* past end */
    aria_rd_init(&r, b.data, 0);
    EXPECT_FAIL(aria_rd_lenbytes(&r, 100, &p, &n), ARIA_ERANGE); /* no length */
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    aria_rd_init(&r, huge, sizeof huge);
    EXPECT_FAIL(aria_rd_lenbytes(&r, SIZE_MAX, &p, &n), ARIA_ERANGE);
    aria_rd_init(&r, b.data, b.len);
    cr_assert_eq(aria_rd_lenbytes(&r, 5, &p, &n), 0);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(p, "hello", 5), 0);
    aria_buf_fini(&b);
}

Test(buf, max_size_is_enforced_and_sticky)
{
    aria_buf b;
    aria_buf_init(&b, 6);
    cr_assert_eq(aria_buf_put_u32le(&b, 1), 0);
    cr_assert_eq(aria_buf_put_u32le(&b, 2), ARIA_EFULL);
    cr_assert_eq(aria_buf_put_u8(&b, 3), ARIA_EFULL, "error must be sticky");
    cr_assert_eq(b.len, 4);
    aria_buf_reset(&b);
    cr_assert_eq(aria_buf_put_u8(&b, 3), 0);
    aria_buf_fini(&b);
}

Test(buf, printf_and_take_transfer_ownership)
{
    aria_buf b;
    aria_buf_init(&b, 0);
    cr_assert_eq(aria_buf_printf(&b, "%s-%d", "abc", 12), 0);
    char longs[600];
    memset(longs, 'y', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    cr_assert_eq(aria_buf_printf(&b, "%s", longs), 0);
    cr_assert_eq(b.len, 6 + 599);
    uint8_t *out;
    size_t n;
    cr_assert_eq(aria_buf_take(&b, &out, &n), 0);
    cr_assert_eq(n, 605);
    cr_assert_eq(memcmp(out, "abc-12yyy", 9), 0);
    cr_assert_null(b.data);
    aria_free(out);
    aria_buf_fini(&b);
}
