/*
 * kern_types.h — weight types as stored in GGUF files: their GGML type
 * numbers, block layouts and sizes, fp16/bf16 conversions, dequantization to
 * float, and packing of ternary weights (for writers such as `aria model synth`).
 *
 * Layouts (all little endian, blocks stored one after another along a row):
 *  - F32  (0): float32.                  F16 (1): IEEE half.  BF16 (30): bfloat16.
 *  - Q8_0 (8): 32 weights in 34 bytes: fp16 d, int8 qs[32]; w = d * qs[i].
 *  - TQ1_0 (34): 256 weights in 54 bytes: qs[48] (5 trits/byte), qh[4]
 *    (4 trits/byte), fp16 d. A byte stores its trits t0..t4 (t = w/d + 1 in
 *    {0,1,2}) as the fixed-point fraction ceil((sum t_k 3^(4-k)) * 256 / 243);
 *    trit k is recovered as ((uint8_t)(byte * 3^k) * 3) >> 8. Order of
 *    weights: qs[0..31] hold weights m + 32k (k = trit index 0..4, m = byte)
 *    = weights 0..159; qs[32..47] hold 160 + m + 16k = weights 160..239;
 *    qh[0..3] hold 240 + j + 4k for trits k = 0..3 (the 5th trit is 0).
 *  - TQ2_0 (35): 256 weights in 66 bytes: qs[64], fp16 d. Byte 32h+m holds
 *    weights 128h + m + 32l in bits 2l..2l+1 (l = 0..3), code c -> (c-1)*d
 *    (code 3 decodes to 2*d, as llama.cpp does; packing never produces it).
 *  - I2_S (36, bitnet.cpp): codes 0/1/2 = -1/0/+1, 128 weights per 32-byte
 *    block, byte j of a block holds elements j, j+32, j+64, j+96 in bits
 *    7..6, 5..4, 3..2, 1..0. The whole tensor (rows one after another, each
 *    row a multiple of 128) is one run of blocks, followed by ONE float32
 *    scale at byte n/4 and padding: a tensor of n weights occupies
 *    n/4 + 32 bytes (bitnet.cpp's ggml_nbytes: nbytes/4 + 32). Code 3 is
 *    never written; it decodes to +2 (bitnet.cpp's code-1 arithmetic), so a
 *    consumer checking for ternary rows rejects it. The GGUF reader does not
 *    check codes.
 *
 * Thread safety: everything here is pure and reentrant.
 */
#ifndef ARIA_KERN_TYPES_H
#define ARIA_KERN_TYPES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"

typedef enum kern_wtype {
    KERN_WT_F32 = 0,
    KERN_WT_F16 = 1,
    KERN_WT_Q8_0 = 8,
    KERN_WT_BF16 = 30,
    KERN_WT_TQ1_0 = 34,
    KERN_WT_TQ2_0 = 35,
    KERN_WT_I2_S = 36,
} kern_wtype;

/* Block geometry (elements per block, bytes per block). */
#define KERN_QK8_0             32
#define KERN_Q8_0_BLOCK_BYTES  34
#define KERN_QK_K              256
#define KERN_TQ1_0_BLOCK_BYTES 54
#define KERN_TQ2_0_BLOCK_BYTES 66
#define KERN_QK_I2_S           128
#define KERN_I2_S_BLOCK_BYTES  32
/* Bytes after the packed I2_S codes: the float32 scale plus padding. */
#define KERN_I2_S_TAIL_BYTES 32

/* True if `t` (a raw GGUF tensor type number) is one this build reads. */
bool kern_wtype_valid(uint32_t t);
/* "f32", "f16", "q8_0", "bf16", "tq1_0", "tq2_0", "i2_s"; "?" if unknown. */
const char *kern_wtype_name(kern_wtype t);
/* Parse a name as printed by kern_wtype_name (case-insensitive). */
int kern_wtype_parse(const char *name, kern_wtype *out) ARIA_MUST_CHECK;
/* Elements per block (1 for F32/F16/BF16, 32 Q8_0, 256 TQ*, 128 I2_S). A
 * row (ne[0]) must be a multiple of this. 0 for an invalid type. */
size_t kern_wtype_block_elems(kern_wtype t);
/* Bytes per block; for I2_S the 32 bytes of one 128-weight block. */
size_t kern_wtype_block_bytes(kern_wtype t);
/* Bytes of a row of n elements (n a multiple of the block size; asserts).
 * I2_S: n/4 (the packed codes only; the tensor tail is separate). */
size_t kern_wtype_row_bytes(kern_wtype t, uint64_t n);
/* Bytes of a whole tensor of n_elems elements whose rows have row_elems
 * elements, overflow-checked: ARIA_EINVAL if row_elems is not a multiple of
 * the block size or n_elems not a multiple of row_elems, ARIA_ERANGE on
 * overflow. I2_S: n/4 + KERN_I2_S_TAIL_BYTES. */
int kern_wtype_tensor_bytes(kern_wtype t, uint64_t n_elems, uint64_t row_elems,
                            uint64_t *out) ARIA_MUST_CHECK;
/* Average bits per weight (for display): 32, 16, 8.5, 16, 1.6875, 2.0625, 2. */
double kern_wtype_bits_per_weight(kern_wtype t);
/* True for the packed ternary types TQ1_0, TQ2_0, I2_S. */
bool kern_wtype_is_ternary(kern_wtype t);

/* IEEE binary16 <-> binary32. To-half rounds to nearest, ties to even;
 * overflow gives +-inf, NaN stays NaN (quiet), subnormals are exact. */
float kern_fp16_to_fp32(uint16_t h);
uint16_t kern_fp32_to_fp16(float f);
/* bfloat16 <-> binary32. To-bf16 rounds to nearest even; NaN stays NaN. */
float kern_bf16_to_fp32(uint16_t h);
uint16_t kern_fp32_to_bf16(float f);

/* Dequantize n consecutive weights starting at a block boundary of `src`
 * (n a multiple of the block size; asserts) into dst. For I2_S, src points at
 * packed codes (a block boundary) and `i2s_scale` is the tensor's float scale
 * (kern_i2s_scale); it is ignored for the other types. */
void kern_dequant_row(kern_wtype t, const void *src, float *dst, size_t n, float i2s_scale);

/* The float32 scale of an I2_S tensor of n weights whose data starts at
 * `tensor_data` (reads bytes n/4 .. n/4+3). */
float kern_i2s_scale(const void *tensor_data, uint64_t n);

/* Pack n ternary weights t[i] in {-1,0,1} (scaled by `scale`) into dst.
 * For F32/F16/BF16 the stored value is t[i]*scale (rounded to the type); for
 * Q8_0/TQ1_0/TQ2_0 each block stores d = scale (fp16) and the codes; for
 * I2_S, dst receives the whole tensor: n/4 code bytes then the float32 scale
 * then zero padding (kern_wtype_tensor_bytes bytes). n must be a multiple of
 * the block size (asserts). dst needs kern_wtype_tensor_bytes(t, n, n) bytes. */
void kern_pack_ternary(kern_wtype t, const int8_t *tern, size_t n, float scale, void *dst);

/* Single-byte helpers, exposed for exhaustive tests and the engine's
 * repacking: the 5 trits (each 0..2, most significant first) of a TQ1_0
 * byte, and the byte for 5 trits. */
void kern_tq1_byte_trits(uint8_t b, uint8_t trits[5]);
uint8_t kern_tq1_trits_byte(const uint8_t trits[5]);

#endif
