/*
 * types.c — GGUF weight types: sizes, fp16/bf16 conversion, dequantization
 * to float and packing of ternary weights. The block layouts are described
 * in kern_types.h and pinned here with static_asserts on private structs.
 *
 * Invariants: every function is pure; no allocation; packed output is a
 * pure function of the input (padding bytes are always zero), so files
 * written from the same inputs are byte-identical.
 */
#include <assert.h>
#include <string.h>
#include <strings.h>

#include "kern_types.h"

/* Private mirrors of the on-disk blocks, only to pin sizes and offsets. */
typedef struct {
    uint16_t d;
    int8_t qs[KERN_QK8_0];
} blk_q8_0;
typedef struct {
    uint8_t qs[(KERN_QK_K - 4 * KERN_QK_K / 64) / 5];
    uint8_t qh[KERN_QK_K / 64];
    uint16_t d;
} blk_tq1_0;
typedef struct {
    uint8_t qs[KERN_QK_K / 4];
    uint16_t d;
} blk_tq2_0;

static_assert(sizeof(blk_q8_0) == KERN_Q8_0_BLOCK_BYTES, "q8_0 block size");
static_assert(sizeof(blk_tq1_0) == KERN_TQ1_0_BLOCK_BYTES, "tq1_0 block size");
static_assert(offsetof(blk_tq1_0, qh) == 48 && offsetof(blk_tq1_0, d) == 52, "tq1_0 layout");
static_assert(sizeof(blk_tq2_0) == KERN_TQ2_0_BLOCK_BYTES, "tq2_0 block size");
static_assert(offsetof(blk_tq2_0, d) == 64, "tq2_0 layout");
static_assert(KERN_QK_I2_S / 4 == KERN_I2_S_BLOCK_BYTES, "i2_s block size");

#define TQ1_QS_BYTES 48
#define TQ1_QH_OFF   48
#define TQ1_D_OFF    52
#define TQ2_D_OFF    64

static const struct {
    kern_wtype t;
    const char *name;
    size_t blk_elems, blk_bytes;
    double bpw;
} type_table[] = {
    {KERN_WT_F32, "f32", 1, 4, 32.0},
    {KERN_WT_F16, "f16", 1, 2, 16.0},
    {KERN_WT_Q8_0, "q8_0", KERN_QK8_0, KERN_Q8_0_BLOCK_BYTES, 8.5},
    {KERN_WT_BF16, "bf16", 1, 2, 16.0},
    {KERN_WT_TQ1_0, "tq1_0", KERN_QK_K, KERN_TQ1_0_BLOCK_BYTES, 1.6875},
    {KERN_WT_TQ2_0, "tq2_0", KERN_QK_K, KERN_TQ2_0_BLOCK_BYTES, 2.0625},
    {KERN_WT_I2_S, "i2_s", KERN_QK_I2_S, KERN_I2_S_BLOCK_BYTES, 2.0},
};

static int
type_index(uint32_t t)
{
    for (size_t i = 0; i < ARIA_ARRAY_LEN(type_table); i++)
        if ((uint32_t)type_table[i].t == t)
            return (int)i;
    return -1;
}

bool
kern_wtype_valid(uint32_t t)
{
    return type_index(t) >= 0;
}

const char *
kern_wtype_name(kern_wtype t)
{
    int i = type_index((uint32_t)t);
    return i < 0 ? "?" : type_table[i].name;
}

int
kern_wtype_parse(const char *name, kern_wtype *out)
{
    for (size_t i = 0; i < ARIA_ARRAY_LEN(type_table); i++) {
        if (strcasecmp(name, type_table[i].name) == 0) {
            *out = type_table[i].t;
            return 0;
        }
    }
    return aria_errf(ARIA_EINVAL, "unknown weight type '%s' (f32 f16 bf16 q8_0 tq1_0 tq2_0 i2_s)",
                     name);
}

size_t
kern_wtype_block_elems(kern_wtype t)
{
    int i = type_index((uint32_t)t);
    return i < 0 ? 0 : type_table[i].blk_elems;
}

size_t
kern_wtype_block_bytes(kern_wtype t)
{
    int i = type_index((uint32_t)t);
    return i < 0 ? 0 : type_table[i].blk_bytes;
}

double
kern_wtype_bits_per_weight(kern_wtype t)
{
    int i = type_index((uint32_t)t);
    return i < 0 ? 0.0 : type_table[i].bpw;
}

bool
kern_wtype_is_ternary(kern_wtype t)
{
    return t == KERN_WT_TQ1_0 || t == KERN_WT_TQ2_0 || t == KERN_WT_I2_S;
}

size_t
kern_wtype_row_bytes(kern_wtype t, uint64_t n)
{
    int i = type_index((uint32_t)t);
    ARIA_ASSERT(i >= 0);
    ARIA_ASSERT(n % type_table[i].blk_elems == 0);
    return (size_t)(n / type_table[i].blk_elems * type_table[i].blk_bytes);
}

int
kern_wtype_tensor_bytes(kern_wtype t, uint64_t n_elems, uint64_t row_elems, uint64_t *out)
{
    int i = type_index((uint32_t)t);
    if (i < 0)
        return aria_errf(ARIA_EINVAL, "unknown tensor type %u", (unsigned)t);
    uint64_t be = type_table[i].blk_elems, bb = type_table[i].blk_bytes;
    if (row_elems == 0 ? n_elems != 0 : (row_elems % be != 0 || n_elems % row_elems != 0))
        return aria_errf(ARIA_EINVAL,
                         "%s: row of %llu elements is not a multiple of the %llu-element block",
                         type_table[i].name, (unsigned long long)row_elems, (unsigned long long)be);
    uint64_t blocks = n_elems / be;
    if (blocks > (UINT64_MAX - KERN_I2_S_TAIL_BYTES) / bb)
        return aria_errf(ARIA_ERANGE, "%s: tensor of %llu elements overflows 64-bit size",
                         type_table[i].name, (unsigned long long)n_elems);
    uint64_t bytes = blocks * bb;
    if (t == KERN_WT_I2_S)
        bytes += KERN_I2_S_TAIL_BYTES;
    *out = bytes;
    return 0;
}

/* ------------------------------------------------------------------ */
/* fp16 / bf16                                                          */
/* ------------------------------------------------------------------ */

static inline uint32_t
f32_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    return x;
}

static inline float
bits_f32(uint32_t x)
{
    float f;
    memcpy(&f, &x, 4);
    return f;
}

float
kern_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f) /* inf / NaN: keep the payload, NaN stays NaN */
        return bits_f32(sign | 0x7f800000u | (m << 13));
    if (e != 0)
        return bits_f32(sign | ((e + 112) << 23) | (m << 13));
    if (m == 0)
        return bits_f32(sign);
    /* subnormal: m * 2^-24, exact in float */
    float v = (float)m * 0x1p-24f;
    return sign ? -v : v;
}

uint16_t
kern_fp32_to_fp16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN: quiet, keep top payload bits */
        return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
    if (ax >= 0x477ff000u) /* >= 65520 rounds (ties to even) to inf */
        return (uint16_t)(sign | 0x7c00);
    if (ax < 0x38800000u) {    /* below 2^-14: half subnormal or zero */
        if (ax <= 0x33000000u) /* <= 2^-25: rounds to zero (tie -> even 0) */
            return sign;
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1)))
            r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ax - 0x38000000u; /* rebias the exponent 127 -> 15 */
    uint32_t h = r >> 13, rem = r & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++; /* a carry into the exponent is the correct rounding */
    return (uint16_t)(sign | h);
}

float
kern_bf16_to_fp32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t
kern_fp32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* ------------------------------------------------------------------ */
/* Ternary byte helpers                                                 */
/* ------------------------------------------------------------------ */

static const uint8_t pow3[6] = {1, 3, 9, 27, 81, 243};

void
kern_tq1_byte_trits(uint8_t b, uint8_t trits[5])
{
    for (int k = 0; k < 5; k++) {
        uint8_t q = (uint8_t)(b * pow3[k]); /* wraps mod 256 on purpose */
        trits[k] = (uint8_t)(((uint16_t)q * 3) >> 8);
    }
}

uint8_t
kern_tq1_trits_byte(const uint8_t trits[5])
{
    uint16_t q = 0;
    for (int k = 0; k < 5; k++)
        q = (uint16_t)(q * 3 + trits[k]);
    /* fixed-point fraction q/243 in 8 bits, rounded up so that digit
     * extraction by multiply-and-shift is exact */
    return (uint8_t)((q * 256 + 242) / 243);
}

/* ------------------------------------------------------------------ */
/* Dequantization                                                       */
/* ------------------------------------------------------------------ */

static void
dequant_tq1_block(const uint8_t *b, float *y)
{
    float d = kern_fp16_to_fp32(aria_load_u16le(b + TQ1_D_OFF));
    uint8_t t[5];
    for (int m = 0; m < 32; m++) {
        kern_tq1_byte_trits(b[m], t);
        for (int k = 0; k < 5; k++)
            y[m + 32 * k] = (float)((int)t[k] - 1) * d;
    }
    for (int m = 0; m < 16; m++) {
        kern_tq1_byte_trits(b[32 + m], t);
        for (int k = 0; k < 5; k++)
            y[160 + m + 16 * k] = (float)((int)t[k] - 1) * d;
    }
    for (int j = 0; j < 4; j++) {
        kern_tq1_byte_trits(b[TQ1_QH_OFF + j], t);
        for (int k = 0; k < 4; k++)
            y[240 + j + 4 * k] = (float)((int)t[k] - 1) * d;
    }
}

static void
dequant_tq2_block(const uint8_t *b, float *y)
{
    float d = kern_fp16_to_fp32(aria_load_u16le(b + TQ2_D_OFF));
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 4; l++)
            for (int m = 0; m < 32; m++) {
                int c = (b[32 * h + m] >> (2 * l)) & 3;
                y[128 * h + 32 * l + m] = (float)(c - 1) * d;
            }
}

static void
dequant_i2s_block(const uint8_t *b, float *y, float scale)
{
    /* code 3 is never written; it decodes as bitnet.cpp computes it (3-1) */
    static const float code_val[4] = {-1.0f, 0.0f, 1.0f, 2.0f};
    for (int g = 0; g < 4; g++)
        for (int j = 0; j < 32; j++)
            y[32 * g + j] = code_val[(b[j] >> (6 - 2 * g)) & 3] * scale;
}

void
kern_dequant_row(kern_wtype t, const void *src, float *dst, size_t n, float i2s_scale)
{
    const uint8_t *s = src;
    size_t be = kern_wtype_block_elems(t);
    ARIA_ASSERT(be != 0 && n % be == 0);
    switch (t) {
    case KERN_WT_F32:
        for (size_t i = 0; i < n; i++)
            dst[i] = bits_f32(aria_load_u32le(s + 4 * i));
        break;
    case KERN_WT_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = kern_fp16_to_fp32(aria_load_u16le(s + 2 * i));
        break;
    case KERN_WT_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = kern_bf16_to_fp32(aria_load_u16le(s + 2 * i));
        break;
    case KERN_WT_Q8_0:
        for (size_t b = 0; b < n / KERN_QK8_0; b++, s += KERN_Q8_0_BLOCK_BYTES) {
            float d = kern_fp16_to_fp32(aria_load_u16le(s));
            for (int i = 0; i < KERN_QK8_0; i++)
                dst[b * KERN_QK8_0 + i] = d * (float)(int8_t)s[2 + i];
        }
        break;
    case KERN_WT_TQ1_0:
        for (size_t b = 0; b < n / KERN_QK_K; b++)
            dequant_tq1_block(s + b * KERN_TQ1_0_BLOCK_BYTES, dst + b * KERN_QK_K);
        break;
    case KERN_WT_TQ2_0:
        for (size_t b = 0; b < n / KERN_QK_K; b++)
            dequant_tq2_block(s + b * KERN_TQ2_0_BLOCK_BYTES, dst + b * KERN_QK_K);
        break;
    case KERN_WT_I2_S:
        for (size_t b = 0; b < n / KERN_QK_I2_S; b++)
            dequant_i2s_block(s + b * KERN_I2_S_BLOCK_BYTES, dst + b * KERN_QK_I2_S, i2s_scale);
        break;
    }
}

float
kern_i2s_scale(const void *tensor_data, uint64_t n)
{
    return bits_f32(aria_load_u32le((const uint8_t *)tensor_data + n / 4));
}

/* ------------------------------------------------------------------ */
/* Packing                                                              */
/* ------------------------------------------------------------------ */

static void
pack_tq1_block(const int8_t *x, float scale, uint8_t *b)
{
    uint8_t t[5];
    for (int m = 0; m < 32; m++) {
        for (int k = 0; k < 5; k++)
            t[k] = (uint8_t)(x[m + 32 * k] + 1);
        b[m] = kern_tq1_trits_byte(t);
    }
    for (int m = 0; m < 16; m++) {
        for (int k = 0; k < 5; k++)
            t[k] = (uint8_t)(x[160 + m + 16 * k] + 1);
        b[32 + m] = kern_tq1_trits_byte(t);
    }
    for (int j = 0; j < 4; j++) {
        for (int k = 0; k < 4; k++)
            t[k] = (uint8_t)(x[240 + j + 4 * k] + 1);
        t[4] = 0;
        b[TQ1_QH_OFF + j] = kern_tq1_trits_byte(t);
    }
    aria_store_u16le(b + TQ1_D_OFF, kern_fp32_to_fp16(scale));
}

static void
pack_tq2_block(const int8_t *x, float scale, uint8_t *b)
{
    for (int h = 0; h < 2; h++)
        for (int m = 0; m < 32; m++) {
            uint8_t q = 0;
            for (int l = 0; l < 4; l++)
                q |= (uint8_t)((x[128 * h + 32 * l + m] + 1) << (2 * l));
            b[32 * h + m] = q;
        }
    aria_store_u16le(b + TQ2_D_OFF, kern_fp32_to_fp16(scale));
}

void
kern_pack_ternary(kern_wtype t, const int8_t *tern, size_t n, float scale, void *dst)
{
    uint8_t *d = dst;
    size_t be = kern_wtype_block_elems(t);
    ARIA_ASSERT(be != 0 && n % be == 0);
    for (size_t i = 0; i < n; i++)
        ARIA_ASSERT(tern[i] >= -1 && tern[i] <= 1);
    switch (t) {
    case KERN_WT_F32:
        for (size_t i = 0; i < n; i++)
            aria_store_u32le(d + 4 * i, f32_bits((float)tern[i] * scale));
        break;
    case KERN_WT_F16:
        for (size_t i = 0; i < n; i++)
            aria_store_u16le(d + 2 * i, kern_fp32_to_fp16((float)tern[i] * scale));
        break;
    case KERN_WT_BF16:
        for (size_t i = 0; i < n; i++)
            aria_store_u16le(d + 2 * i, kern_fp32_to_bf16((float)tern[i] * scale));
        break;
    case KERN_WT_Q8_0:
        for (size_t b = 0; b < n / KERN_QK8_0; b++, d += KERN_Q8_0_BLOCK_BYTES) {
            aria_store_u16le(d, kern_fp32_to_fp16(scale));
            for (int i = 0; i < KERN_QK8_0; i++)
                d[2 + i] = (uint8_t)tern[b * KERN_QK8_0 + i];
        }
        break;
    case KERN_WT_TQ1_0:
        for (size_t b = 0; b < n / KERN_QK_K; b++)
            pack_tq1_block(tern + b * KERN_QK_K, scale, d + b * KERN_TQ1_0_BLOCK_BYTES);
        break;
    case KERN_WT_TQ2_0:
        for (size_t b = 0; b < n / KERN_QK_K; b++)
            pack_tq2_block(tern + b * KERN_QK_K, scale, d + b * KERN_TQ2_0_BLOCK_BYTES);
        break;
    case KERN_WT_I2_S: {
        memset(d, 0, n / 4 + KERN_I2_S_TAIL_BYTES);
        for (size_t b = 0; b < n / KERN_QK_I2_S; b++) {
            uint8_t *blk = d + b * KERN_I2_S_BLOCK_BYTES;
            const int8_t *x = tern + b * KERN_QK_I2_S;
            for (int j = 0; j < KERN_QK_I2_S; j++)
                blk[j % 32] |= (uint8_t)((x[j] + 1) << (6 - 2 * (j / 32)));
        }
        aria_store_u32le(d + n / 4, f32_bits(scale));
        break;
    }
    }
}
