/*
 * test_tok_util.h — helpers shared by the tokenizer tests: loading the
 * reference SPM vocabulary (bitnet-tiny-A from ../shared/vectors), a
 * synthetic byte-level BPE vocabulary, the UTF-8 torture corpus, and a
 * seeded PRNG. Header-only (static functions) so each test file stays
 * self-contained.
 */
#ifndef ARIA_TEST_TOK_UTIL_H
#define ARIA_TEST_TOK_UTIL_H
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels.h"
#include "tok_impl.h"

/* Checks in hot loops: Criterion with --full-stats sends every passing
 * cr_assert to the runner, so loops use this instead. */
#define TT_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            cr_assert_fail(__VA_ARGS__);                                                           \
    } while (0)

#define TINY_GGUF "/vectors/bitnet-tiny-A/bitnet-tiny-seedA-f32.gguf"
#define TINY_JSON "/vectors/bitnet-tiny-A/bitnet-tiny-seedA-f32.llamacpp.json"

static inline const char *
tt_shared_dir(void)
{
    const char *d = getenv("ARIA_SHARED_DIR");
    cr_assert(d != NULL, "ARIA_SHARED_DIR is not set (run through ctest)");
    return d;
}

static inline void
tt_path(char *out, size_t cap, const char *base, const char *rel)
{
    int n = aria_snprintf(out, cap, "%s%s", base, rel);
    cr_assert(n > 0 && (size_t)n < cap);
}

/* The tokenizer of the reference GGUF (LLaMA SentencePiece vocabulary). */
static inline kern_tok *
tt_load_tiny(kern_gguf **gout)
{
    char path[4096];
    tt_path(path, sizeof path, tt_shared_dir(), TINY_GGUF);
    kern_gguf *g = NULL;
    int rc = kern_gguf_open(path, &g);
    cr_assert_eq(rc, 0, "open %s: %s", path, aria_err_msg());
    kern_tok *t = NULL;
    rc = kern_tok_from_gguf(g, &t);
    cr_assert_eq(rc, 0, "tokenizer from %s: %s", path, aria_err_msg());
    if (gout)
        *gout = g;
    else
        kern_gguf_close(g);
    return t;
}

/* xorshift64* — deterministic test data. */
static inline uint64_t
tt_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* UTF-8 text of the GPT-2 image of byte b. */
static inline size_t
tt_mapped(uint8_t b, char out[4])
{
    return tok_utf8_put(tok_byte_to_cp(b), (uint8_t *)out);
}

/* A synthetic byte-level BPE vocabulary: the 256 byte tokens, then merges
 * built left to right over a word list (each prefix becomes a token), then
 * two CONTROL tokens. Texts are owned by the returned arrays (free with
 * tt_bpe_free). */
typedef struct tt_bpe {
    char **tokens;
    size_t n_tokens;
    char **merges;
    size_t n_merges;
    int32_t *types;
} tt_bpe;

static inline int32_t
tt_bpe_find(const tt_bpe *v, const char *s)
{
    for (size_t i = 0; i < v->n_tokens; i++)
        if (strcmp(v->tokens[i], s) == 0)
            return (int32_t)i;
    return -1;
}

static inline void
tt_bpe_add_tok(tt_bpe *v, const char *s, int32_t type)
{
    v->tokens = realloc(v->tokens, (v->n_tokens + 1) * sizeof *v->tokens);
    v->types = realloc(v->types, (v->n_tokens + 1) * sizeof *v->types);
    v->tokens[v->n_tokens] = strdup(s);
    v->types[v->n_tokens] = type;
    v->n_tokens++;
}

static inline void
tt_bpe_build(tt_bpe *v, const char *const *words, size_t n_words)
{
    memset(v, 0, sizeof *v);
    for (int b = 0; b < 256; b++) {
        char m[5] = {0};
        tt_mapped((uint8_t)b, m);
        tt_bpe_add_tok(v, m, KERN_TOK_TYPE_NORMAL);
    }
    for (size_t w = 0; w < n_words; w++) {
        /* Map the word's bytes, then merge its characters left to right. */
        const char *word = words[w];
        char mapped[256] = {0};
        size_t starts[64], nch = 0, ml = 0;
        for (size_t i = 0; word[i] && nch < 63; i++) {
            starts[nch++] = ml;
            ml += tt_mapped((uint8_t)word[i], mapped + ml);
        }
        starts[nch] = ml;
        for (size_t k = 1; k < nch; k++) {
            char left[256] = {0}, right[16] = {0}, both[256] = {0}, merge[300] = {0};
            memcpy(left, mapped, starts[k]);
            memcpy(right, mapped + starts[k], starts[k + 1] - starts[k]);
            memcpy(both, mapped, starts[k + 1]);
            if (tt_bpe_find(v, both) >= 0)
                continue;
            aria_snprintf(merge, sizeof merge, "%s %s", left, right);
            v->merges = realloc(v->merges, (v->n_merges + 1) * sizeof *v->merges);
            v->merges[v->n_merges++] = strdup(merge);
            tt_bpe_add_tok(v, both, KERN_TOK_TYPE_NORMAL);
        }
    }
    tt_bpe_add_tok(v, "<|begin_of_text|>", KERN_TOK_TYPE_CONTROL);
    tt_bpe_add_tok(v, "<|eot_id|>", KERN_TOK_TYPE_CONTROL);
}

static inline void
tt_bpe_free(tt_bpe *v)
{
    for (size_t i = 0; i < v->n_tokens; i++)
        free(v->tokens[i]);
    for (size_t i = 0; i < v->n_merges; i++)
        free(v->merges[i]);
    free(v->tokens);
    free(v->merges);
    free(v->types);
}

static const char *const tt_words[] = {
    " the",  " and", "ing",    " hello", " world", "er",  " é",  " Straße", "the",
    "Hello", " is",  " quick", " brown", " fox",   "123", " 12", "中文",    " 東京",
    "  ",    "\n\n", "'s",     " don",   "'t",     ".\n", ", ",  " a",      " in",
    "tion",  " of",  "😀",      " über",  "ed",     "es",  "re",  " re",
};

static inline kern_tok *
tt_make_bpe(kern_tok_pre pre, tt_bpe *v)
{
    tt_bpe_build(v, tt_words, ARIA_ARRAY_LEN(tt_words));
    kern_tok_vocab voc;
    memset(&voc, 0, sizeof voc);
    voc.kind = KERN_TOK_BPE;
    voc.pre = pre;
    voc.n_tokens = v->n_tokens;
    voc.tokens = (const char *const *)v->tokens;
    voc.types = v->types;
    voc.n_merges = v->n_merges;
    voc.merges = (const char *const *)v->merges;
    voc.bos_id = (int32_t)v->n_tokens - 2;
    voc.eos_id = (int32_t)v->n_tokens - 1;
    voc.eot_id = (int32_t)v->n_tokens - 1;
    voc.unk_id = -1;
    voc.pad_id = -1;
    voc.add_bos = true;
    kern_tok *t = NULL;
    int rc = kern_tok_new(&voc, &t);
    cr_assert_eq(rc, 0, "%s", aria_err_msg());
    return t;
}

/* The torture corpus: cases unescaped into one malloc'd block each. */
typedef struct tt_case {
    char *s;
    size_t n;
} tt_case;

static inline size_t
tt_load_torture(tt_case **out)
{
    char path[4096];
    const char *src = getenv("ARIA_SOURCE_DIR");
    cr_assert(src != NULL);
    tt_path(path, sizeof path, src, "/tests/unit/kernels/data/utf8_torture.txt");
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s", path);
    tt_case *v = NULL;
    size_t n = 0;
    char line[65536];
    while (fgets(line, sizeof line, f)) {
        size_t l = strlen(line);
        if (l && line[l - 1] == '\n')
            line[--l] = 0;
        char *s = malloc(l + 1);
        size_t k = 0;
        for (size_t i = 0; i < l; i++) {
            if (line[i] == '\\' && i + 1 < l) {
                char c = line[++i];
                s[k++] = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c == '0' ? 0 : c;
            } else {
                s[k++] = line[i];
            }
        }
        v = realloc(v, (n + 1) * sizeof *v);
        v[n].s = s;
        v[n].n = k;
        n++;
    }
    fclose(f);
    *out = v;
    return n;
}

static inline void
tt_free_torture(tt_case *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].s);
    free(v);
}

/* Encode into a malloc'd array; asserts success. */
static inline int32_t *
tt_encode(const kern_tok *t, const char *s, size_t len, unsigned flags, size_t *n)
{
    size_t need = 0;
    int rc = kern_tok_encode_ex(t, s, len, flags, NULL, 0, &need);
    TT_CHECK(rc == 0 || rc == ARIA_ERANGE, "encode: %d %s", rc, aria_err_msg());
    int32_t *ids = malloc((need + 1) * sizeof *ids);
    rc = kern_tok_encode_ex(t, s, len, flags, ids, need, n);
    TT_CHECK(rc == 0, "encode: %s", aria_err_msg());
    TT_CHECK(*n == need, "encode: %zu ids, then %zu", need, *n);
    return ids;
}

#endif
