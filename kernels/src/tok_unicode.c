/*
 * tok_unicode.c — Unicode helpers for the tokenizers: class lookup in the
 * generated range table (binary search), strict UTF-8 decoding/encoding, and
 * GPT-2's byte-level byte↔code point mapping.
 *
 * GPT-2 mapping: the 188 "printable" bytes '!'..'~', 0xA1..0xAC and
 * 0xAE..0xFF stand for themselves; the other 68 bytes, in increasing order,
 * map to U+0100, U+0101, ... (so ' ' → U+0120 'Ġ', '\n' → U+010A 'Ċ').
 */
#include "tok_impl.h"

unsigned
tok_ucat(uint32_t cp)
{
    size_t lo = 0, hi = tok_urange_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < tok_urange_table[mid].lo)
            hi = mid;
        else if (cp > tok_urange_table[mid].hi)
            lo = mid + 1;
        else
            return tok_urange_table[mid].flags;
    }
    return 0;
}

size_t
tok_utf8_next(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint8_t b = p[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t need;
    uint32_t c;
    uint8_t lo2 = 0x80, hi2 = 0xBF; /* allowed range of the second byte */
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
        c = b & 0x1Fu;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        c = b & 0x0Fu;
        if (b == 0xE0)
            lo2 = 0xA0; /* no overlongs */
        if (b == 0xED)
            hi2 = 0x9F; /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        c = b & 0x07u;
        if (b == 0xF0)
            lo2 = 0x90;
        if (b == 0xF4)
            hi2 = 0x8F; /* <= U+10FFFF */
    } else {
        *cp = TOK_CP_INVALID;
        return 1;
    }
    if (n < need || p[1] < lo2 || p[1] > hi2) {
        *cp = TOK_CP_INVALID;
        return 1;
    }
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *cp = TOK_CP_INVALID;
            return 1;
        }
        c = (c << 6) | (p[i] & 0x3Fu);
    }
    *cp = c;
    return need;
}

size_t
tok_utf8_put(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

static bool
byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t
tok_byte_to_cp(uint8_t b)
{
    /* The 68 non-printable bytes are 0x00..0x20 (33), 0x7F..0xA0 (34), 0xAD. */
    if (byte_is_printable(b))
        return b;
    if (b <= 0x20)
        return 0x100u + b;
    if (b >= 0x7F && b <= 0xA0)
        return 0x100u + 33u + (uint32_t)(b - 0x7F);
    return 0x100u + 67u; /* 0xAD */
}

int
tok_cp_to_byte(uint32_t cp)
{
    if (cp < 0x100)
        return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 0x100 + 68)
        return -1;
    uint32_t k = cp - 0x100;
    if (k < 33)
        return (int)k;
    if (k < 67)
        return (int)(0x7F + k - 33);
    return 0xAD;
}
