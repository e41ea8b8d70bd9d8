/*
 * tok_impl.h — private to the tokenizer files (tok*.c) and their tests:
 * the kern_tok layout, hash lookups, Unicode classes and UTF-8 helpers.
 *
 * Invariants: token i's text is arena[off[i] .. off[i]+len[i]); the token
 * hash maps every distinct text to the LAST id with that text; the merge
 * hash maps a (left, right) pair to its FIRST rank; specials[] lists the
 * CONTROL / USER_DEFINED / UNKNOWN ids with non-empty text, longest first
 * (ties by id).
 */
#ifndef ARIA_KERN_TOK_IMPL_H
#define ARIA_KERN_TOK_IMPL_H
#include <stddef.h>
#include <stdint.h>

#include "kern_tok.h"

/* Unicode classes for the pre-tokenizers. */
enum {
    TOK_U_LETTER = 1,
    TOK_U_NUMBER = 2,
    TOK_U_SPACE = 4,
};

typedef struct tok_urange {
    uint32_t lo;
    uint32_t hi;
    uint8_t flags;
} tok_urange;

extern const tok_urange tok_urange_table[];
extern const size_t tok_urange_count;

/* Class bits of a code point (0 for anything else, incl. unassigned). */
unsigned tok_ucat(uint32_t cp);

/* Decode one UTF-8 sequence at p (n > 0 bytes left). Returns its length
 * (1..4) and the code point; an invalid or truncated sequence gives length 1
 * and TOK_CP_INVALID. Strict: no overlongs, surrogates or > U+10FFFF. */
#define TOK_CP_INVALID 0xFFFFFFFFu
size_t tok_utf8_next(const uint8_t *p, size_t n, uint32_t *cp);
/* Encode cp (<= 0x10FFFF) into out; returns 1..4. */
size_t tok_utf8_put(uint32_t cp, uint8_t out[4]);
/* llama.cpp's sequence length from the lead byte: {1 x12, 2, 2, 3, 4}[b >> 4]. */
static inline size_t
tok_utf8_lead_len(uint8_t b)
{
    static const uint8_t lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[b >> 4];
}

/* GPT-2 byte-level mapping: byte → code point, and back (-1 if cp is not
 * the image of a byte). */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp);

struct kern_tok {
    kern_tok_kind kind;
    kern_tok_pre pre;
    size_t n;
    char *arena;    /* all token texts */
    uint32_t *off;  /* [n] */
    uint32_t *len;  /* [n] */
    float *scores;  /* [n] */
    uint8_t *types; /* [n] kern_tok_type */
    uint32_t *th;   /* token hash: id + 1, 0 = empty; th_mask + 1 slots */
    size_t th_mask;
    /* Merges: left/right texts in marena; hash of (left, right) → rank. */
    size_t n_merges;
    char *marena;
    uint32_t *m_loff, *m_llen, *m_roff, *m_rlen; /* [n_merges] */
    uint32_t *mh;                                /* rank + 1, 0 = empty */
    size_t mh_mask;
    int32_t *specials; /* [n_specials] */
    size_t n_specials;
    int32_t byte_tok[256]; /* SPM: <0xXX> (or the 1-byte token, or unk); -1 none */
    int32_t bos, eos, eot, unk, pad;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
};

/* Output ids: writes while room is left, always counts. */
typedef struct tok_out {
    int32_t *ids;
    size_t max;
    size_t n;
} tok_out;

static inline void
tok_out_push(tok_out *o, int32_t id)
{
    if (o->n < o->max)
        o->ids[o->n] = id;
    o->n++;
}

/* Id of an exact text, or -1. */
int32_t tok_lookup(const kern_tok *t, const char *s, size_t len);
/* Rank of the merge (left, right), or -1. */
int32_t tok_merge_rank(const kern_tok *t, const char *l, size_t ll, const char *r, size_t rl);

/* Algorithms on one raw text fragment. */
int tok_spm_encode(const kern_tok *t, const char *text, size_t len, bool space_prefix,
                   tok_out *o) ARIA_MUST_CHECK;
int tok_bpe_encode(const kern_tok *t, const char *text, size_t len, tok_out *o) ARIA_MUST_CHECK;

/* Pre-tokenizer: split `len` bytes into pieces; calls fn for each piece
 * (byte offset and length, covering the text in order). */
typedef int (*tok_piece_fn)(void *ctx, size_t off, size_t len);
int tok_pre_split(kern_tok_pre pre, const char *text, size_t len, tok_piece_fn fn,
                  void *ctx) ARIA_MUST_CHECK;

#endif
