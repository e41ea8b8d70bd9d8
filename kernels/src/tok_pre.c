/*
 * tok_pre.c — BPE pre-tokenizers, written by hand (no regex engine):
 *
 *  GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *  Llama-3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *
 * Each is a left-to-right scan over code points with the same alternation
 * order and greediness as the regex (the way llama.cpp's unicode.cpp does it),
 * so the pieces are those the regex finds. \p{L} and \p{N} are the general
 * categories L* and N*; \s is the White_Space property. A byte that is not
 * part of valid UTF-8 counts as one code point of no class (like U+FFFD) and
 * keeps its byte. Pieces cover the input exactly, in order.
 */
#include <string.h>

#include "tok_impl.h"

#define IN_RANGE 0x80u

typedef struct cps {
    uint32_t *cp;
    uint8_t *fl;  /* class bits | IN_RANGE */
    size_t *boff; /* [n + 1] byte offsets */
    size_t n;
} cps;

static uint32_t
cp_at(const cps *c, size_t i)
{
    return i < c->n ? c->cp[i] : TOK_CP_INVALID;
}

static unsigned
fl_at(const cps *c, size_t i)
{
    return i < c->n ? c->fl[i] : 0u;
}

static bool
is_l(unsigned f)
{
    return (f & TOK_U_LETTER) != 0;
}
static bool
is_n(unsigned f)
{
    return (f & TOK_U_NUMBER) != 0;
}
static bool
is_s(unsigned f)
{
    return (f & TOK_U_SPACE) != 0;
}
/* [^\s\p{L}\p{N}] on an existing code point. */
static bool
is_other(unsigned f)
{
    return (f & IN_RANGE) && !(f & (TOK_U_LETTER | TOK_U_NUMBER | TOK_U_SPACE));
}

static uint32_t
ascii_lower(uint32_t c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* Length (in code points) of a contraction at i, or 0. */
static size_t
contraction(const cps *c, size_t i, bool fold)
{
    if (cp_at(c, i) != '\'' || i + 1 >= c->n)
        return 0;
    uint32_t a = cp_at(c, i + 1), b = cp_at(c, i + 2);
    if (fold) {
        a = ascii_lower(a);
        b = ascii_lower(b);
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (i + 2 < c->n &&
        ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')))
        return 3;
    return 0;
}

/* Returns the end (exclusive) of the piece starting at pos. */
static size_t
next_gpt2(const cps *c, size_t pos)
{
    size_t k = contraction(c, pos, false);
    if (k)
        return pos + k;
    uint32_t cp = cp_at(c, pos);
    size_t p = pos + (cp == ' ' ? 1 : 0);
    unsigned f2 = fl_at(c, p);
    if (is_l(f2)) {
        while (is_l(fl_at(c, p)))
            p++;
        return p;
    }
    if (is_n(f2)) {
        while (is_n(fl_at(c, p)))
            p++;
        return p;
    }
    if (is_other(f2)) {
        while (is_other(fl_at(c, p)))
            p++;
        return p;
    }
    size_t ws = 0;
    while (is_s(fl_at(c, pos + ws)))
        ws++;
    if (ws > 1 && pos + ws < c->n)
        return pos + ws - 1; /* \s+(?!\S): leave the last space for the next piece */
    if (ws > 0)
        return pos + ws;
    return pos + 1;
}

static size_t
next_llama3(const cps *c, size_t pos)
{
    size_t k = contraction(c, pos, true);
    if (k)
        return pos + k;
    uint32_t cp = cp_at(c, pos);
    unsigned f = fl_at(c, pos);
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (!(cp == '\r' || cp == '\n' || is_n(f))) {
        if (is_l(f) || is_l(fl_at(c, pos + 1))) {
            size_t p = pos + 1;
            while (is_l(fl_at(c, p)))
                p++;
            return p;
        }
    }
    /* \p{N}{1,3} */
    if (is_n(f)) {
        size_t p = pos;
        while (p - pos < 3 && is_n(fl_at(c, p)))
            p++;
        return p;
    }
    /* ' '?[^\s\p{L}\p{N}]+[\r\n]* */
    size_t p = pos + (cp == ' ' ? 1 : 0);
    if (is_other(fl_at(c, p))) {
        while (is_other(fl_at(c, p)))
            p++;
        while (cp_at(c, p) == '\r' || cp_at(c, p) == '\n')
            p++;
        return p;
    }
    /* \s*[\r\n]+ | \s+(?!\S) | \s+ */
    size_t ws = 0, last_nl = 0;
    while (is_s(fl_at(c, pos + ws))) {
        uint32_t x = cp_at(c, pos + ws);
        if (x == '\r' || x == '\n')
            last_nl = pos + ws + 1;
        ws++;
    }
    if (last_nl > 0)
        return last_nl;
    if (ws > 1 && pos + ws < c->n)
        return pos + ws - 1;
    if (ws > 0)
        return pos + ws;
    return pos + 1;
}

int
tok_pre_split(kern_tok_pre pre, const char *text, size_t len, tok_piece_fn fn, void *ctx)
{
    if (len == 0)
        return 0;
    cps c = {0};
    c.cp = aria_alloc_array(len, sizeof *c.cp);
    c.fl = aria_alloc(len);
    c.boff = aria_alloc_array(len + 1, sizeof *c.boff);
    int rc = ARIA_ENOMEM;
    if (!c.cp || !c.fl || !c.boff)
        goto done;
    const uint8_t *b = (const uint8_t *)text;
    for (size_t off = 0; off < len;) {
        uint32_t cp;
        size_t k = tok_utf8_next(b + off, len - off, &cp);
        c.boff[c.n] = off;
        if (cp == TOK_CP_INVALID) {
            c.cp[c.n] = 0xFFFD;
            c.fl[c.n] = IN_RANGE;
        } else {
            c.cp[c.n] = cp;
            c.fl[c.n] = (uint8_t)(tok_ucat(cp) | IN_RANGE);
        }
        c.n++;
        off += k;
    }
    c.boff[c.n] = len;
    rc = 0;
    for (size_t pos = 0; pos < c.n;) {
        size_t end = pre == KERN_TOK_PRE_LLAMA3 ? next_llama3(&c, pos) : next_gpt2(&c, pos);
        ARIA_ASSERT(end > pos && end <= c.n);
        rc = fn(ctx, c.boff[pos], c.boff[end] - c.boff[pos]);
        if (rc < 0)
            break;
        pos = end;
    }
done:
    aria_free(c.cp);
    aria_free(c.fl);
    aria_free(c.boff);
    return rc;
}
