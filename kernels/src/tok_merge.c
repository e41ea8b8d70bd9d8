/*
 * tok_merge.c — the two merge algorithms on one raw text fragment:
 * SentencePiece-style score merging (SPM) and byte-level BPE rank merging.
 *
 * Both keep the text as a doubly linked list of symbols (byte spans of a
 * working string) and a binary heap of candidate adjacent pairs. A popped
 * pair is stale when either side was merged since it was pushed; that shows
 * as a side of length 0 or a total length that changed (symbols only grow
 * to the right and never move), so the check is exact. Pops follow llama.cpp:
 * SPM takes the highest score first, BPE the lowest rank first, and ties go
 * to the leftmost pair. The heap holds at most 3n pairs (n - 1 seeds plus
 * two per merge).
 */
#include <string.h>

#include "tok_impl.h"

typedef struct sym {
    int32_t prev;
    int32_t next;
    uint32_t off;
    uint32_t n;
} sym;

typedef struct pair {
    int32_t left;
    int32_t right;
    float score;  /* SPM: higher first */
    int32_t rank; /* BPE: lower first */
    uint32_t size;
} pair;

typedef struct heap {
    pair *v;
    size_t n;
    bool by_rank;
} heap;

static bool
pair_before(const heap *h, const pair *a, const pair *b)
{
    if (h->by_rank) {
        if (a->rank != b->rank)
            return a->rank < b->rank;
    } else if (a->score != b->score) {
        return a->score > b->score;
    }
    return a->left < b->left;
}

static void
heap_push(heap *h, pair p)
{
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(h, &p, &h->v[parent]))
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = p;
}

static pair
heap_pop(heap *h)
{
    pair top = h->v[0];
    pair last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && pair_before(h, &h->v[c + 1], &h->v[c]))
            c++;
        if (!pair_before(h, &h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = last;
    return top;
}

/* Scratch shared by the fragments of one call. */
typedef struct scratch {
    char *str;
    size_t str_cap;
    sym *syms;
    pair *pairs;
    size_t sym_cap;
} scratch;

static int
scratch_need(scratch *s, size_t str_bytes, size_t n_syms)
{
    if (str_bytes > s->str_cap) {
        char *p = aria_realloc(s->str, str_bytes);
        if (!p)
            return ARIA_ENOMEM;
        s->str = p;
        s->str_cap = str_bytes;
    }
    if (n_syms > s->sym_cap) {
        sym *a = aria_realloc(s->syms, n_syms * sizeof *a);
        if (!a)
            return ARIA_ENOMEM;
        s->syms = a;
        if (n_syms > SIZE_MAX / (3 * sizeof(pair)))
            return ARIA_ENOMEM;
        pair *b = aria_realloc(s->pairs, 3 * n_syms * sizeof *b);
        if (!b)
            return ARIA_ENOMEM;
        s->pairs = b;
        s->sym_cap = n_syms;
    }
    return 0;
}

static void
scratch_free(scratch *s)
{
    aria_free(s->str);
    aria_free(s->syms);
    aria_free(s->pairs);
}

/* Split str[0..len) into UTF-8 characters. llama.cpp takes the length from
 * the lead byte alone; on valid UTF-8 that is the same split, but on invalid
 * input it can swallow the next character (e.g. C3 followed by the ▁ of a
 * space), which loses the space on decode. We split strictly: every byte
 * that is not part of a valid sequence is its own symbol, so any bytes
 * round-trip through byte fallback. */
static size_t
split_symbols(const char *str, size_t len, sym *syms)
{
    size_t k = 0;
    for (size_t off = 0; off < len;) {
        uint32_t cp;
        size_t l = tok_utf8_next((const uint8_t *)str + off, len - off, &cp);
        syms[k].prev = (int32_t)k - 1;
        syms[k].off = (uint32_t)off;
        syms[k].n = (uint32_t)l;
        off += l;
        syms[k].next = off == len ? -1 : (int32_t)k + 1;
        k++;
    }
    return k;
}

/* ------------------------------------------------------------------ */
/* SPM                                                                  */
/* ------------------------------------------------------------------ */

static void
spm_try_pair(const kern_tok *t, const char *str, sym *syms, heap *h, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return;
    uint32_t size = syms[l].n + syms[r].n;
    int32_t id = tok_lookup(t, str + syms[l].off, size);
    if (id < 0)
        return;
    heap_push(h, (pair){l, r, t->scores[id], 0, size});
}

int
tok_spm_encode(const kern_tok *t, const char *text, size_t len, bool space_prefix, tok_out *o)
{
    if (len > (SIZE_MAX - 3) / 3)
        return ARIA_ENOMEM;
    scratch sc = {0};
    size_t cap = len * 3 + 3; /* every byte a space → ▁ (3 bytes), plus the prefix */
    int rc = scratch_need(&sc, cap, cap);
    if (rc < 0)
        goto done;
    char *str = sc.str;
    size_t sl = 0;
    static const char lower_block[3] = {(char)0xE2, (char)0x96, (char)0x81};
    if (space_prefix) {
        memcpy(str, lower_block, 3);
        sl = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(str + sl, lower_block, 3);
            sl += 3;
        } else {
            str[sl++] = text[i];
        }
    }
    if (sl == 0)
        goto done;
    if (sl > UINT32_MAX) {
        rc = aria_errf(ARIA_EINVAL, "tokenizer: text fragment of %zu bytes is too long", len);
        goto done;
    }
    sym *syms = sc.syms;
    size_t ns = split_symbols(str, sl, syms);
    heap h = {sc.pairs, 0, false};
    for (size_t i = 1; i < ns; i++)
        spm_try_pair(t, str, syms, &h, (int32_t)i - 1, (int32_t)i);
    while (h.n > 0) {
        pair p = heap_pop(&h);
        sym *ls = &syms[p.left], *rs = &syms[p.right];
        if (ls->n == 0 || rs->n == 0 || ls->n + rs->n != p.size)
            continue;
        ls->n += rs->n;
        rs->n = 0;
        ls->next = rs->next;
        if (rs->next >= 0)
            syms[rs->next].prev = p.left;
        spm_try_pair(t, str, syms, &h, ls->prev, p.left);
        spm_try_pair(t, str, syms, &h, p.left, ls->next);
    }
    for (int32_t i = 0; i != -1; i = syms[i].next) {
        int32_t id = tok_lookup(t, str + syms[i].off, syms[i].n);
        if (id >= 0) {
            tok_out_push(o, id);
            continue;
        }
        /* Not a token: byte fallback. (A merged symbol is always a token.) */
        for (uint32_t j = 0; j < syms[i].n; j++) {
            int32_t b = t->byte_tok[(uint8_t)str[syms[i].off + j]];
            if (b >= 0)
                tok_out_push(o, b);
        }
    }
done:
    scratch_free(&sc);
    return rc;
}

/* ------------------------------------------------------------------ */
/* BPE                                                                  */
/* ------------------------------------------------------------------ */

typedef struct bpe_ctx {
    const kern_tok *t;
    const char *text;
    tok_out *o;
    scratch sc;
} bpe_ctx;

static void
bpe_try_pair(const kern_tok *t, const char *str, sym *syms, heap *h, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return;
    int32_t rank = tok_merge_rank(t, str + syms[l].off, syms[l].n, str + syms[r].off, syms[r].n);
    if (rank < 0)
        return;
    heap_push(h, (pair){l, r, 0.0f, rank, syms[l].n + syms[r].n});
}

static int
bpe_piece(void *vctx, size_t off, size_t len)
{
    bpe_ctx *c = vctx;
    const kern_tok *t = c->t;
    if (len == 0)
        return 0;
    if (len > (SIZE_MAX / 2) || len > UINT32_MAX / 2)
        return aria_errf(ARIA_EINVAL, "tokenizer: text piece of %zu bytes is too long", len);
    int rc = scratch_need(&c->sc, len * 2, len);
    if (rc < 0)
        return rc;
    /* Map every byte to its GPT-2 code point (1 or 2 UTF-8 bytes each). */
    char *str = c->sc.str;
    size_t sl = 0;
    sym *syms = c->sc.syms;
    for (size_t i = 0; i < len; i++) {
        uint8_t u[4];
        size_t k = tok_utf8_put(tok_byte_to_cp((uint8_t)c->text[off + i]), u);
        syms[i].prev = (int32_t)i - 1;
        syms[i].next = i + 1 == len ? -1 : (int32_t)i + 1;
        syms[i].off = (uint32_t)sl;
        syms[i].n = (uint32_t)k;
        memcpy(str + sl, u, k);
        sl += k;
    }
    if (t->ignore_merges) {
        int32_t id = tok_lookup(t, str, sl);
        if (id >= 0) {
            tok_out_push(c->o, id);
            return 0;
        }
    }
    heap h = {c->sc.pairs, 0, true};
    for (size_t i = 1; i < len; i++)
        bpe_try_pair(t, str, syms, &h, (int32_t)i - 1, (int32_t)i);
    while (h.n > 0) {
        pair p = heap_pop(&h);
        sym *ls = &syms[p.left], *rs = &syms[p.right];
        if (ls->n == 0 || rs->n == 0 || ls->n + rs->n != p.size)
            continue;
        ls->n += rs->n;
        rs->n = 0;
        ls->next = rs->next;
        if (rs->next >= 0)
            syms[rs->next].prev = p.left;
        bpe_try_pair(t, str, syms, &h, ls->prev, p.left);
        bpe_try_pair(t, str, syms, &h, p.left, ls->next);
    }
    for (int32_t i = 0; i != -1; i = syms[i].next) {
        int32_t id = tok_lookup(t, str + syms[i].off, syms[i].n);
        if (id >= 0) {
            tok_out_push(c->o, id);
            continue;
        }
        /* As llama.cpp: try each byte of the mapped text as a token. */
        for (uint32_t j = 0; j < syms[i].n; j++) {
            int32_t b = tok_lookup(t, str + syms[i].off + j, 1);
            if (b >= 0)
                tok_out_push(c->o, b);
        }
    }
    return 0;
}

int
tok_bpe_encode(const kern_tok *t, const char *text, size_t len, tok_out *o)
{
    bpe_ctx c = {t, text, o, {0}};
    int rc = tok_pre_split(t->pre, text, len, bpe_piece, &c);
    scratch_free(&c.sc);
    return rc;
}
