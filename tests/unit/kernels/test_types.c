/* Weight types: sizes, fp16/bf16 conversions, exhaustive unpack of every
 * packed byte, known-answer layouts and pack/dequantize round trips. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "kern_types.h"

static uint64_t
lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static float
f_of(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static uint32_t
b_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

Test(types, numbers_names_and_block_geometry_match_ggml)
{
    cr_assert_eq(KERN_WT_F32, 0);
    cr_assert_eq(KERN_WT_F16, 1);
    cr_assert_eq(KERN_WT_Q8_0, 8);
    cr_assert_eq(KERN_WT_BF16, 30);
    cr_assert_eq(KERN_WT_TQ1_0, 34);
    cr_assert_eq(KERN_WT_TQ2_0, 35);
    cr_assert_eq(KERN_WT_I2_S, 36);
    const struct {
        kern_wtype t;
        const char *name;
        size_t be, bb;
    } want[] = {{KERN_WT_F32, "f32", 1, 4},        {KERN_WT_F16, "f16", 1, 2},
                {KERN_WT_BF16, "bf16", 1, 2},      {KERN_WT_Q8_0, "q8_0", 32, 34},
                {KERN_WT_TQ1_0, "tq1_0", 256, 54}, {KERN_WT_TQ2_0, "tq2_0", 256, 66},
                {KERN_WT_I2_S, "i2_s", 128, 32}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cr_assert(kern_wtype_valid(want[i].t));
        cr_assert_str_eq(kern_wtype_name(want[i].t), want[i].name);
        cr_assert_eq(kern_wtype_block_elems(want[i].t), want[i].be);
        cr_assert_eq(kern_wtype_block_bytes(want[i].t), want[i].bb);
        kern_wtype p;
        cr_assert_eq(kern_wtype_parse(want[i].name, &p), 0);
        cr_assert_eq(p, want[i].t);
    }
    for (uint32_t t = 0; t < 64; t++) {
        bool ok = t == 0 || t == 1 || t == 8 || t == 30 || t == 34 || t == 35 || t == 36;
        cr_assert_eq(kern_wtype_valid(t), ok, "type %u", t);
    }
    kern_wtype p;
    cr_assert_eq(kern_wtype_parse("q4_K", &p), ARIA_EINVAL);
    cr_assert_eq(kern_wtype_is_ternary(KERN_WT_I2_S), true);
    cr_assert_eq(kern_wtype_is_ternary(KERN_WT_F32), false);
}

Test(types, tensor_bytes_follow_ggml_and_bitnet_cpp)
{
    uint64_t b;
    cr_assert_eq(kern_wtype_tensor_bytes(KERN_WT_F32, 256 * 3, 256, &b), 0);
    cr_assert_eq(b, 3072);
    cr_assert_eq(kern_wtype_tensor_bytes(KERN_WT_Q8_0, 64 * 2, 64, &b), 0);
    cr_assert_eq(b, 4 * 34);
    cr_assert_eq(kern_wtype_tensor_bytes(KERN_WT_TQ1_0, 512 * 4, 512, &b), 0);
    cr_assert_eq(b, 8 * 54);
    cr_assert_eq(kern_wtype_tensor_bytes(KERN_WT_TQ2_0, 256, 256, &b), 0);
    cr_assert_eq(b, 66);
    /* bitnet.cpp: an I2_S tensor of n weights is n/4 code bytes + 32 */
    cr_assert_eq(kern_wtype_tensor_bytes(KERN_WT_I2_S, 2560ull * 6912, 2560, &b), 0);
    cr_assert_eq(b, 2560ull * 6912 / 4 + 32);
    cr_assert_eq(kern_wtype_row_bytes(KERN_WT_I2_S, 2560), 640);
    cr_assert_eq(kern_wtype_row_bytes(KERN_WT_TQ1_0, 2560), 540);
    /* rows must be whole blocks; sizes must not overflow */
    cr_assert_eq(kern_wtype_tensor_bytes(KERN_WT_TQ2_0, 255, 255, &b), ARIA_EINVAL);
    cr_assert_eq(kern_wtype_tensor_bytes(KERN_WT_I2_S, 64, 64, &b), ARIA_EINVAL);
    cr_assert_eq(kern_wtype_tensor_bytes(KERN_WT_Q8_0, 96, 64, &b), ARIA_EINVAL);
    cr_assert_eq(kern_wtype_tensor_bytes(KERN_WT_F32, 1ull << 62, 1ull << 31, &b), ARIA_ERANGE);
    cr_assert_eq(kern_wtype_tensor_bytes((kern_wtype)12, 256, 256, &b), ARIA_EINVAL);
}

Test(types, fp16_round_trips_every_half_value)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float f = kern_fp16_to_fp32((uint16_t)h);
        uint16_t back = kern_fp32_to_fp16(f);
        bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (nan)
            cr_assert(isnan(f) && (back & 0x7c00) == 0x7c00 && (back & 0x3ff), "h=%04x", h);
        else
            cr_assert_eq(back, h, "h=%04x -> %a -> %04x", h, f, back);
    }
}

Test(types, fp16_rounds_to_nearest_even_at_the_edges)
{
    cr_assert_eq(kern_fp32_to_fp16(1.0f), 0x3c00);
    cr_assert_eq(kern_fp32_to_fp16(-2.0f), 0xc000);
    cr_assert_eq(kern_fp32_to_fp16(65504.0f), 0x7bff);
    cr_assert_eq(kern_fp32_to_fp16(65519.99f), 0x7bff);
    cr_assert_eq(kern_fp32_to_fp16(65520.0f), 0x7c00); /* tie goes to even = inf */
    cr_assert_eq(kern_fp32_to_fp16(1e10f), 0x7c00);
    cr_assert_eq(kern_fp32_to_fp16(-INFINITY), 0xfc00);
    cr_assert_eq(kern_fp32_to_fp16(0x1p-24f), 0x0001);   /* smallest subnormal */
    cr_assert_eq(kern_fp32_to_fp16(0x1p-25f), 0x0000);   /* tie -> even (0) */
    cr_assert_eq(kern_fp32_to_fp16(0x1.8p-24f), 0x0002); /* 1.5 units: tie -> even (2) */
    cr_assert_eq(kern_fp32_to_fp16(0x1.000002p-25f), 0x0001);
    cr_assert_eq(kern_fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);     /* tie -> even */
    cr_assert_eq(kern_fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02); /* tie -> even */
    cr_assert_eq(kern_fp32_to_fp16(0x1.ff8p-15f), 0x03ff);        /* largest subnormal */
    cr_assert_eq(kern_fp32_to_fp16(0x1.ffcp-15f), 0x0400);        /* tie -> even: min normal */
    cr_assert_eq(kern_fp32_to_fp16(0x1.ffbp-15f), 0x03ff);
    cr_assert(isnan(kern_fp16_to_fp32(kern_fp32_to_fp16(NAN))));
    cr_assert_eq(kern_fp32_to_fp16(-0.0f), 0x8000);
}

#ifdef __FLT16_MAX__
Test(types, fp16_matches_the_compiler_on_a_million_floats)
{
    /* floats whose low 8 bits are 0x00 or 0x80, every 31st high part: covers
     * every exponent and, since 31 is odd, every tie position */
    for (uint32_t hi = 0; hi < (1u << 24); hi += 31) { /* 31: odd, so every low-bit pattern */
        for (uint32_t lo = 0; lo < 256; lo += 128) {
            uint32_t x = hi << 8 | lo;
            float f = f_of(x);
            if (isnan(f))
                continue;
            _Float16 r = (_Float16)f;
            uint16_t want;
            memcpy(&want, &r, 2);
            uint16_t got = kern_fp32_to_fp16(f);
            if (got != want)
                cr_assert_fail("x=%08x got %04x want %04x", x, got, want);
        }
    }
}
#endif

Test(types, bf16_round_trips_and_rounds_to_nearest_even)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float f = kern_bf16_to_fp32((uint16_t)h);
        uint16_t back = kern_fp32_to_bf16(f);
        if (isnan(f))
            cr_assert(isnan(kern_bf16_to_fp32(back)));
        else
            cr_assert_eq(back, h, "h=%04x", h);
    }
    cr_assert_eq(kern_fp32_to_bf16(f_of(0x3f808000)), 0x3f80); /* tie -> even */
    cr_assert_eq(kern_fp32_to_bf16(f_of(0x3f818000)), 0x3f82); /* tie -> even */
    cr_assert_eq(kern_fp32_to_bf16(f_of(0x3f808001)), 0x3f81);
    cr_assert_eq(kern_fp32_to_bf16(f_of(0x7f7fffff)), 0x7f80); /* overflow -> inf */
    cr_assert(isnan(kern_bf16_to_fp32(kern_fp32_to_bf16(f_of(0x7f800001)))));
}

Test(types, tq1_every_base3_byte_round_trips)
{
    bool seen[256] = {false};
    for (int v = 0; v < 243; v++) {
        uint8_t t[5], back[5];
        int x = v;
        for (int k = 4; k >= 0; k--) {
            t[k] = (uint8_t)(x % 3);
            x /= 3;
        }
        uint8_t b = kern_tq1_trits_byte(t);
        cr_assert(!seen[b], "two trit groups map to byte %u", b);
        seen[b] = true;
        kern_tq1_byte_trits(b, back);
        cr_assert_arr_eq(back, t, 5, "value %d byte %u", v, b);
    }
}

Test(types, tq1_every_byte_value_decodes_to_valid_trits)
{
    for (int b = 0; b < 256; b++) {
        uint8_t t[5];
        kern_tq1_byte_trits((uint8_t)b, t);
        for (int k = 0; k < 5; k++)
            cr_assert(t[k] <= 2, "byte %d trit %d = %u", b, k, t[k]);
        /* decoding is monotone in the byte: re-encoding gives a byte <= b
         * whose decoding is the same (the fixed-point encoding rounds up) */
        uint8_t e = kern_tq1_trits_byte(t), t2[5];
        kern_tq1_byte_trits(e, t2);
        cr_assert_arr_eq(t2, t, 5);
    }
}

static void
fill_block_bytes(kern_wtype t, uint8_t byte, uint8_t *blk)
{
    size_t bb = kern_wtype_block_bytes(t);
    memset(blk, byte, bb);
    if (t == KERN_WT_TQ2_0)
        blk[64] = 0x00, blk[65] = 0x3c; /* d = 1.0 */
}

Test(types, tq2_every_byte_value_unpacks_by_bit_position)
{
    uint8_t blk[66];
    float out[256];
    for (int b = 0; b < 256; b++) {
        fill_block_bytes(KERN_WT_TQ2_0, (uint8_t)b, blk);
        kern_dequant_row(KERN_WT_TQ2_0, blk, out, 256, 0);
        for (int i = 0; i < 256; i++) {
            int l = (i % 128) / 32;
            int code = (b >> (2 * l)) & 3;
            cr_assert_eq(out[i], (float)(code - 1), "byte %d elem %d", b, i);
        }
    }
}

Test(types, i2s_every_byte_value_unpacks_high_bits_first)
{
    uint8_t blk[32];
    float out[128];
    static const float val[4] = {-1, 0, 1, 2};
    for (int b = 0; b < 256; b++) {
        fill_block_bytes(KERN_WT_I2_S, (uint8_t)b, blk);
        kern_dequant_row(KERN_WT_I2_S, blk, out, 128, 2.5f);
        for (int i = 0; i < 128; i++) {
            int g = i / 32;
            int code = (b >> (6 - 2 * g)) & 3;
            cr_assert_eq(out[i], val[code] * 2.5f, "byte %d elem %d", b, i);
        }
    }
}

Test(types, packed_layouts_match_known_answers)
{
    int8_t t[256] = {0};
    uint8_t buf[256 / 4 + 32];
    /* all-zero weights: TQ1_0 qs bytes 0x80 (121 * 256 / 243 rounded up),
     * qh bytes 0x7f (120 * 256 / 243 rounded up), d after */
    uint8_t tq1[54];
    kern_pack_ternary(KERN_WT_TQ1_0, t, 256, 1.0f, tq1);
    for (int i = 0; i < 48; i++)
        cr_assert_eq(tq1[i], 0x80);
    for (int i = 48; i < 52; i++)
        cr_assert_eq(tq1[i], 0x7f);
    cr_assert_eq(tq1[52], 0x00);
    cr_assert_eq(tq1[53], 0x3c);
    uint8_t tq2[66];
    kern_pack_ternary(KERN_WT_TQ2_0, t, 256, 1.0f, tq2);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(tq2[i], 0x55);
    /* I2_S: weight 0 = +1 (code 2) -> byte 0 = 10 01 01 01; weight 96 = -1
     * (code 0) -> byte 0's low bits; weight 33 = +1 -> byte 1 bits 5..4 */
    t[0] = 1;
    t[96] = -1;
    t[33] = 1;
    kern_pack_ternary(KERN_WT_I2_S, t, 128, 0.5f, buf);
    cr_assert_eq(buf[0], 0x94);
    cr_assert_eq(buf[1], 0x65);
    for (int i = 2; i < 32; i++)
        cr_assert_eq(buf[i], 0x55);
    cr_assert_eq(kern_i2s_scale(buf, 128), 0.5f);
    for (int i = 36; i < 64; i++)
        cr_assert_eq(buf[i], 0, "padding byte %d", i);
    /* TQ1_0: weight 0 is the most significant trit of qs[0]; weight 32 the
     * next; weight 240 the top trit of qh[0] */
    memset(t, 0, sizeof t);
    t[0] = 1;
    t[32] = -1;
    t[240] = 1;
    kern_pack_ternary(KERN_WT_TQ1_0, t, 256, 1.0f, tq1);
    uint8_t tr[5];
    kern_tq1_byte_trits(tq1[0], tr);
    cr_assert(tr[0] == 2 && tr[1] == 0 && tr[2] == 1 && tr[3] == 1 && tr[4] == 1);
    kern_tq1_byte_trits(tq1[48], tr);
    cr_assert(tr[0] == 2 && tr[1] == 1 && tr[2] == 1 && tr[3] == 1 && tr[4] == 0);
    /* TQ2_0: weight 32 is bits 3..2 of byte 0; weight 128 bits 1..0 of byte 32 */
    memset(t, 0, sizeof t);
    t[32] = 1;
    t[128] = -1;
    kern_pack_ternary(KERN_WT_TQ2_0, t, 256, 1.0f, tq2);
    cr_assert_eq(tq2[0], 0x59);
    cr_assert_eq(tq2[32], 0x54);
    /* Q8_0: fp16 d then the int8 values */
    int8_t q[32] = {1, -1, 0};
    uint8_t q8[34];
    kern_pack_ternary(KERN_WT_Q8_0, q, 32, 2.0f, q8);
    cr_assert(q8[0] == 0x00 && q8[1] == 0x40 && q8[2] == 1 && q8[3] == 0xff && q8[4] == 0);
}

static const kern_wtype all_types[] = {KERN_WT_F32,   KERN_WT_F16,   KERN_WT_BF16, KERN_WT_Q8_0,
                                       KERN_WT_TQ1_0, KERN_WT_TQ2_0, KERN_WT_I2_S};

Test(types, pack_then_dequantize_round_trips_every_type_and_size)
{
    static int8_t t[256 * 5];
    static uint8_t packed[256 * 5 * 4 + 64];
    static float out[256 * 5];
    uint64_t s = 12345;
    const float scale = 0.375f; /* exact in fp16 and bf16 */
    for (size_t ti = 0; ti < sizeof all_types / sizeof all_types[0]; ti++) {
        kern_wtype ty = all_types[ti];
        size_t be = kern_wtype_block_elems(ty);
        size_t sizes[] = {0, be, 3 * be, be == 1 ? 257 : 2 * be};
        for (size_t si = 0; si < 4; si++) {
            size_t n = sizes[si];
            if (n > sizeof t)
                n = sizeof t / be * be;
            for (size_t i = 0; i < n; i++)
                t[i] = (int8_t)((int)(lcg(&s) % 3) - 1);
            uint64_t nbytes;
            cr_assert_eq(kern_wtype_tensor_bytes(ty, n, n, &nbytes), 0);
            memset(packed, 0xee, sizeof packed);
            kern_pack_ternary(ty, t, n, scale, packed);
            float sc = ty == KERN_WT_I2_S ? kern_i2s_scale(packed, n) : 0;
            if (ty == KERN_WT_I2_S)
                cr_assert_eq(sc, scale);
            cr_assert_eq(packed[nbytes], 0xee, "%s n=%zu wrote past its size", kern_wtype_name(ty),
                         n);
            kern_dequant_row(ty, packed, out, n, sc);
            for (size_t i = 0; i < n; i++)
                cr_assert_eq(out[i], (float)t[i] * scale, "%s n=%zu i=%zu", kern_wtype_name(ty), n,
                             i);
        }
    }
}

Test(types, float_types_dequantize_arbitrary_values)
{
    uint8_t buf[64];
    float v[8] = {1.5f, -2.25f, 65504.0f, 0x1p-24f, -0.0f, 3.0e-5f, 100.125f, -7.0f};
    for (int i = 0; i < 8; i++) {
        uint32_t b = b_of(v[i]);
        buf[4 * i] = (uint8_t)b, buf[4 * i + 1] = (uint8_t)(b >> 8);
        buf[4 * i + 2] = (uint8_t)(b >> 16), buf[4 * i + 3] = (uint8_t)(b >> 24);
    }
    float out[8];
    kern_dequant_row(KERN_WT_F32, buf, out, 8, 0);
    cr_assert_arr_eq(out, v, sizeof v);
    for (int i = 0; i < 8; i++) {
        uint16_t h = kern_fp32_to_fp16(v[i]);
        buf[2 * i] = (uint8_t)h, buf[2 * i + 1] = (uint8_t)(h >> 8);
    }
    kern_dequant_row(KERN_WT_F16, buf, out, 8, 0);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(out[i], kern_fp16_to_fp32(kern_fp32_to_fp16(v[i])));
    cr_assert_eq(out[0], 1.5f);
    cr_assert_eq(out[2], 65504.0f);
}
