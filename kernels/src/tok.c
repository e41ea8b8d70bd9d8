/*
 * tok.c — kern_tok construction (from arrays or GGUF metadata), lookups,
 * encoding entry points (special-token partitioning, BOS/EOS), pieces,
 * decoding and the streaming UTF-8 decoder.
 *
 * Invariants: see tok_impl.h. A kern_tok is immutable once built; encoding
 * allocates only per-call scratch.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_impl.h"

/* ------------------------------------------------------------------ */
/* Hashing                                                              */
/* ------------------------------------------------------------------ */

static uint64_t
fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#define FNV_BASIS 0xcbf29ce484222325ull

static uint64_t
mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static size_t
table_slots(size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 1)
        cap <<= 1;
    return cap;
}

int32_t
tok_lookup(const kern_tok *t, const char *s, size_t len)
{
    size_t i = (size_t)mix64(fnv1a(FNV_BASIS, s, len)) & t->th_mask;
    for (;;) {
        uint32_t e = t->th[i];
        if (e == 0)
            return -1;
        uint32_t id = e - 1;
        if (t->len[id] == len && memcmp(t->arena + t->off[id], s, len) == 0)
            return (int32_t)id;
        i = (i + 1) & t->th_mask;
    }
}

static uint64_t
merge_hash(const char *l, size_t ll, const char *r, size_t rl)
{
    uint64_t h = fnv1a(FNV_BASIS, l, ll);
    h = fnv1a(h ^ 0x9e3779b97f4a7c15ull, &ll, sizeof ll);
    return mix64(fnv1a(h, r, rl));
}

int32_t
tok_merge_rank(const kern_tok *t, const char *l, size_t ll, const char *r, size_t rl)
{
    if (t->n_merges == 0)
        return -1;
    size_t i = (size_t)merge_hash(l, ll, r, rl) & t->mh_mask;
    for (;;) {
        uint32_t e = t->mh[i];
        if (e == 0)
            return -1;
        uint32_t k = e - 1;
        if (t->m_llen[k] == ll && t->m_rlen[k] == rl &&
            memcmp(t->marena + t->m_loff[k], l, ll) == 0 &&
            memcmp(t->marena + t->m_roff[k], r, rl) == 0)
            return (int32_t)k;
        i = (i + 1) & t->mh_mask;
    }
}

/* ------------------------------------------------------------------ */
/* Construction                                                         */
/* ------------------------------------------------------------------ */

void
kern_tok_free(kern_tok *t)
{
    if (!t)
        return;
    aria_free(t->arena);
    aria_free(t->off);
    aria_free(t->len);
    aria_free(t->scores);
    aria_free(t->types);
    aria_free(t->th);
    aria_free(t->marena);
    aria_free(t->m_loff);
    aria_free(t->m_llen);
    aria_free(t->m_roff);
    aria_free(t->m_rlen);
    aria_free(t->mh);
    aria_free(t->specials);
    aria_free(t);
}

/* Insertion sort by (length desc, id asc): deterministic and reentrant;
 * special-token lists are short (hundreds). */
static void
sort_specials(const kern_tok *t, int32_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        int32_t x = v[i];
        size_t j = i;
        while (j > 0) {
            int32_t y = v[j - 1];
            bool before = t->len[x] > t->len[y] || (t->len[x] == t->len[y] && x < y);
            if (!before)
                break;
            v[j] = y;
            j--;
        }
        v[j] = x;
    }
}

static bool
valid_id(int32_t id, size_t n)
{
    return id >= -1 && (id < 0 || (size_t)id < n);
}

static void
build_byte_tokens(kern_tok *t)
{
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        int32_t id = tok_lookup(t, buf, 6);
        if (id < 0) {
            char c = (char)b;
            id = tok_lookup(t, &c, 1);
        }
        if (id < 0)
            id = t->unk;
        t->byte_tok[b] = id;
    }
}

int
kern_tok_new(const kern_tok_vocab *v, kern_tok **out)
{
    *out = NULL;
    if (v->kind != KERN_TOK_SPM && v->kind != KERN_TOK_BPE)
        return aria_errf(ARIA_EINVAL, "tokenizer: unknown kind %d", (int)v->kind);
    if (v->n_tokens == 0 || v->n_tokens > KERN_TOK_MAX_VOCAB)
        return aria_errf(ARIA_EINVAL, "tokenizer: vocabulary size %zu (want 1..%u)", v->n_tokens,
                         KERN_TOK_MAX_VOCAB);
    if (!v->tokens)
        return aria_errf(ARIA_EINVAL, "tokenizer: no token texts");
    if (v->n_merges > 0 && !v->merges)
        return aria_errf(ARIA_EINVAL, "tokenizer: no merge texts");
    if (v->n_merges > KERN_TOK_MAX_VOCAB * 4u)
        return aria_errf(ARIA_EINVAL, "tokenizer: %zu merges is too many", v->n_merges);
    const struct {
        const char *name;
        int32_t id;
    } ids[] = {{"bos", v->bos_id},
               {"eos", v->eos_id},
               {"eot", v->eot_id},
               {"unk", v->unk_id},
               {"pad", v->pad_id}};
    for (size_t i = 0; i < ARIA_ARRAY_LEN(ids); i++)
        if (!valid_id(ids[i].id, v->n_tokens))
            return aria_errf(ARIA_EINVAL, "tokenizer: %s id %d out of range (vocabulary %zu)",
                             ids[i].name, ids[i].id, v->n_tokens);

    kern_tok *t = aria_calloc(1, sizeof *t);
    if (!t)
        return ARIA_ENOMEM;
    int rc = ARIA_ENOMEM;
    size_t n = v->n_tokens;
    t->kind = v->kind;
    t->pre = v->kind == KERN_TOK_BPE ? v->pre : KERN_TOK_PRE_NONE;
    if (t->kind == KERN_TOK_BPE && t->pre != KERN_TOK_PRE_GPT2 && t->pre != KERN_TOK_PRE_LLAMA3)
        t->pre = KERN_TOK_PRE_GPT2;
    t->n = n;
    t->bos = v->bos_id;
    t->eos = v->eos_id;
    t->eot = v->eot_id;
    t->unk = v->unk_id;
    t->pad = v->pad_id;
    t->add_bos = v->add_bos;
    t->add_eos = v->add_eos;
    t->add_space_prefix = v->kind == KERN_TOK_SPM && v->add_space_prefix;
    t->ignore_merges = t->kind == KERN_TOK_BPE && t->pre == KERN_TOK_PRE_LLAMA3;

    /* Texts. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = v->tokens[i];
        if (!s) {
            rc = aria_errf(ARIA_EINVAL, "tokenizer: token %zu has no text", i);
            goto fail;
        }
        size_t l = v->token_lens ? v->token_lens[i] : strlen(s);
        if (l > KERN_TOK_MAX_PIECE) {
            rc = aria_errf(ARIA_EINVAL, "tokenizer: token %zu is %zu bytes (max %d)", i, l,
                           KERN_TOK_MAX_PIECE);
            goto fail;
        }
        total += l;
    }
    if (total > UINT32_MAX / 2) {
        rc = aria_errf(ARIA_EINVAL, "tokenizer: token texts total %zu bytes", total);
        goto fail;
    }
    t->arena = aria_alloc(total + 1);
    t->off = aria_alloc_array(n, sizeof *t->off);
    t->len = aria_alloc_array(n, sizeof *t->len);
    t->scores = aria_calloc(n, sizeof *t->scores);
    t->types = aria_alloc(n);
    size_t slots = table_slots(n);
    t->th = aria_calloc(slots, sizeof *t->th);
    t->th_mask = slots - 1;
    if (!t->arena || !t->off || !t->len || !t->scores || !t->types || !t->th)
        goto fail;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = v->token_lens ? v->token_lens[i] : strlen(v->tokens[i]);
        memcpy(t->arena + pos, v->tokens[i], l);
        t->off[i] = (uint32_t)pos;
        t->len[i] = (uint32_t)l;
        pos += l;
        t->scores[i] = v->scores ? v->scores[i] : 0.0f;
        int32_t ty = v->types ? v->types[i] : KERN_TOK_TYPE_NORMAL;
        if (ty < KERN_TOK_TYPE_UNDEFINED || ty > KERN_TOK_TYPE_BYTE) {
            rc = aria_errf(ARIA_EINVAL, "tokenizer: token %zu has type %d (want 0..6)", i, ty);
            goto fail;
        }
        t->types[i] = (uint8_t)ty;
        /* Insert; a later duplicate replaces the earlier id. */
        size_t h = (size_t)mix64(fnv1a(FNV_BASIS, t->arena + t->off[i], l)) & t->th_mask;
        for (;;) {
            uint32_t e = t->th[h];
            if (e == 0) {
                t->th[h] = (uint32_t)i + 1;
                break;
            }
            uint32_t id = e - 1;
            if (t->len[id] == l && memcmp(t->arena + t->off[id], t->arena + t->off[i], l) == 0) {
                t->th[h] = (uint32_t)i + 1;
                break;
            }
            h = (h + 1) & t->th_mask;
        }
    }

    /* Merges. */
    if (v->n_merges > 0) {
        size_t nm = v->n_merges;
        size_t mtotal = 0;
        for (size_t i = 0; i < nm; i++) {
            if (!v->merges[i]) {
                rc = aria_errf(ARIA_EINVAL, "tokenizer: merge %zu has no text", i);
                goto fail;
            }
            mtotal += v->merge_lens ? v->merge_lens[i] : strlen(v->merges[i]);
        }
        if (mtotal > UINT32_MAX / 2) {
            rc = aria_errf(ARIA_EINVAL, "tokenizer: merges total %zu bytes", mtotal);
            goto fail;
        }
        t->marena = aria_alloc(mtotal + 1);
        t->m_loff = aria_alloc_array(nm, sizeof(uint32_t));
        t->m_llen = aria_alloc_array(nm, sizeof(uint32_t));
        t->m_roff = aria_alloc_array(nm, sizeof(uint32_t));
        t->m_rlen = aria_alloc_array(nm, sizeof(uint32_t));
        size_t ms = table_slots(nm);
        t->mh = aria_calloc(ms, sizeof *t->mh);
        t->mh_mask = ms - 1;
        if (!t->marena || !t->m_loff || !t->m_llen || !t->m_roff || !t->m_rlen || !t->mh)
            goto fail;
        size_t mp = 0;
        for (size_t i = 0; i < nm; i++) {
            const char *s = v->merges[i];
            size_t l = v->merge_lens ? v->merge_lens[i] : strlen(s);
            /* Split at the first space after the first byte (as llama.cpp). */
            size_t sp = 0;
            for (size_t j = 1; j < l; j++)
                if (s[j] == ' ') {
                    sp = j;
                    break;
                }
            if (sp == 0) {
                rc = aria_errf(ARIA_EINVAL, "tokenizer: merge %zu has no space separator", i);
                goto fail;
            }
            memcpy(t->marena + mp, s, l);
            t->m_loff[i] = (uint32_t)mp;
            t->m_llen[i] = (uint32_t)sp;
            t->m_roff[i] = (uint32_t)(mp + sp + 1);
            t->m_rlen[i] = (uint32_t)(l - sp - 1);
            mp += l;
            const char *lp = t->marena + t->m_loff[i], *rp = t->marena + t->m_roff[i];
            size_t h = (size_t)merge_hash(lp, t->m_llen[i], rp, t->m_rlen[i]) & t->mh_mask;
            for (;;) {
                uint32_t e = t->mh[h];
                if (e == 0) {
                    t->mh[h] = (uint32_t)i + 1;
                    break;
                }
                uint32_t k = e - 1; /* the first rank wins */
                if (t->m_llen[k] == t->m_llen[i] && t->m_rlen[k] == t->m_rlen[i] &&
                    memcmp(t->marena + t->m_loff[k], lp, t->m_llen[i]) == 0 &&
                    memcmp(t->marena + t->m_roff[k], rp, t->m_rlen[i]) == 0)
                    break;
                h = (h + 1) & t->mh_mask;
            }
        }
        t->n_merges = nm;
    }

    /* Special tokens, longest first. */
    size_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t ty = t->types[i];
        if ((ty == KERN_TOK_TYPE_CONTROL || ty == KERN_TOK_TYPE_USER_DEFINED ||
             ty == KERN_TOK_TYPE_UNKNOWN) &&
            t->len[i] > 0)
            ns++;
    }
    if (ns > 0) {
        t->specials = aria_alloc_array(ns, sizeof *t->specials);
        if (!t->specials)
            goto fail;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            uint8_t ty = t->types[i];
            if ((ty == KERN_TOK_TYPE_CONTROL || ty == KERN_TOK_TYPE_USER_DEFINED ||
                 ty == KERN_TOK_TYPE_UNKNOWN) &&
                t->len[i] > 0)
                t->specials[k++] = (int32_t)i;
        }
        sort_specials(t, t->specials, ns);
        t->n_specials = ns;
    }
    if (t->kind == KERN_TOK_SPM)
        build_byte_tokens(t);
    else
        for (int b = 0; b < 256; b++)
            t->byte_tok[b] = -1;
    *out = t;
    return 0;
fail:
    kern_tok_free(t);
    return rc;
}

/* ------------------------------------------------------------------ */
/* From GGUF                                                            */
/* ------------------------------------------------------------------ */

static kern_tok_pre
pre_from_name(const char *s)
{
    static const char *const llama3[] = {"llama-bpe", "llama3", "llama-v3",
                                         "falcon3",   "dbrx",   "smaug-bpe"};
    if (!s)
        return KERN_TOK_PRE_GPT2;
    for (size_t i = 0; i < ARIA_ARRAY_LEN(llama3); i++)
        if (strcmp(s, llama3[i]) == 0)
            return KERN_TOK_PRE_LLAMA3;
    return KERN_TOK_PRE_GPT2;
}

/* Read an optional id key into *id (left alone when absent). */
static int
opt_id(const kern_gguf *g, const char *key, int32_t *id)
{
    uint32_t v;
    int rc = kern_gguf_get_u32(g, key, &v);
    if (rc == ARIA_ENOTFOUND)
        return 0;
    if (rc < 0) {
        int64_t s;
        /* Some writers store -1 for "none" in a signed type. */
        if (kern_gguf_get_i64(g, key, &s) == 0 && s < 0) {
            *id = -1;
            return 0;
        }
        return rc;
    }
    if (v > INT32_MAX)
        return aria_errf(ARIA_EPROTO, "tokenizer: %s = %u out of range", key, v);
    *id = (int32_t)v;
    return 0;
}

static int
opt_bool(const kern_gguf *g, const char *key, bool *b)
{
    int rc = kern_gguf_get_bool(g, key, b);
    return rc == ARIA_ENOTFOUND ? 0 : rc;
}

int
kern_tok_from_gguf(const kern_gguf *g, kern_tok **out)
{
    *out = NULL;
    const char *model = NULL;
    size_t mlen = 0;
    int rc = kern_gguf_get_str(g, "tokenizer.ggml.model", &model, &mlen);
    if (rc == ARIA_ENOTFOUND)
        return aria_errf(ARIA_ENOTFOUND, "tokenizer: no tokenizer.ggml.model in the file");
    if (rc < 0)
        return rc;
    kern_tok_vocab v;
    memset(&v, 0, sizeof v);
    if (strcmp(model, "llama") == 0) {
        v.kind = KERN_TOK_SPM;
        v.bos_id = 1;
        v.eos_id = 2;
        v.unk_id = 0;
        v.add_bos = true;
        v.add_space_prefix = true;
    } else if (strcmp(model, "gpt2") == 0) {
        v.kind = KERN_TOK_BPE;
        v.bos_id = 11;
        v.eos_id = 11;
        v.unk_id = -1;
    } else {
        return aria_errf(ARIA_EUNSUPPORTED,
                         "tokenizer: tokenizer.ggml.model '%s' is not supported (want llama "
                         "or gpt2)",
                         model);
    }
    v.eot_id = -1;
    v.pad_id = -1;

    kern_gguf_arr toks;
    rc = kern_gguf_get_arr(g, "tokenizer.ggml.tokens", &toks);
    if (rc == ARIA_ENOTFOUND)
        return aria_errf(ARIA_EPROTO, "tokenizer: no tokenizer.ggml.tokens array");
    if (rc < 0)
        return rc;
    if (toks.type != KERN_GGUF_STRING)
        return aria_errf(ARIA_EPROTO, "tokenizer: tokenizer.ggml.tokens holds %s, not strings",
                         kern_gguf_vtype_name(toks.type));
    if (toks.n == 0 || toks.n > KERN_TOK_MAX_VOCAB)
        return aria_errf(ARIA_EPROTO, "tokenizer: tokenizer.ggml.tokens has %llu entries",
                         (unsigned long long)toks.n);
    size_t n = (size_t)toks.n;

    const char *pre_name = NULL;
    size_t plen;
    rc = kern_gguf_get_str(g, "tokenizer.ggml.pre", &pre_name, &plen);
    if (rc < 0 && rc != ARIA_ENOTFOUND)
        return rc;
    if (rc == ARIA_ENOTFOUND)
        pre_name = NULL;
    v.pre = pre_from_name(pre_name);
    if (v.kind == KERN_TOK_BPE && v.pre == KERN_TOK_PRE_LLAMA3)
        v.add_bos = true; /* llama.cpp's default for these vocabularies */

    const char **texts = aria_calloc(n, sizeof *texts);
    size_t *lens = aria_calloc(n, sizeof *lens);
    float *scores = NULL;
    int32_t *types = NULL;
    const char **merges = NULL;
    size_t *mlens = NULL;
    rc = ARIA_ENOMEM;
    if (!texts || !lens)
        goto done;
    for (size_t i = 0; i < n; i++) {
        rc = kern_gguf_arr_str(g, &toks, i, &texts[i], &lens[i]);
        if (rc < 0)
            goto done;
        if (lens[i] > KERN_TOK_MAX_PIECE) {
            rc = aria_errf(ARIA_EPROTO, "tokenizer: tokenizer.ggml.tokens[%zu] is %zu bytes", i,
                           lens[i]);
            goto done;
        }
    }
    kern_gguf_arr a;
    rc = kern_gguf_get_arr(g, "tokenizer.ggml.scores", &a);
    if (rc == 0) {
        if (a.n != toks.n) {
            rc = aria_errf(ARIA_EPROTO,
                           "tokenizer: tokenizer.ggml.scores has %llu entries, "
                           "tokens %zu",
                           (unsigned long long)a.n, n);
            goto done;
        }
        scores = aria_alloc_array(n, sizeof *scores);
        if (!scores) {
            rc = ARIA_ENOMEM;
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            if ((rc = kern_gguf_arr_f32(g, &a, i, &scores[i])) < 0)
                goto done;
    } else if (rc != ARIA_ENOTFOUND) {
        goto done;
    }
    rc = kern_gguf_get_arr(g, "tokenizer.ggml.token_type", &a);
    if (rc == 0) {
        if (a.n != toks.n) {
            rc = aria_errf(ARIA_EPROTO,
                           "tokenizer: tokenizer.ggml.token_type has %llu entries, "
                           "tokens %zu",
                           (unsigned long long)a.n, n);
            goto done;
        }
        types = aria_alloc_array(n, sizeof *types);
        if (!types) {
            rc = ARIA_ENOMEM;
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            int64_t ty;
            if ((rc = kern_gguf_arr_i64(g, &a, i, &ty)) < 0)
                goto done;
            if (ty < 0 || ty > KERN_TOK_TYPE_BYTE) {
                rc = aria_errf(ARIA_EPROTO,
                               "tokenizer: tokenizer.ggml.token_type[%zu] = %lld (want 0..6)", i,
                               (long long)ty);
                goto done;
            }
            types[i] = (int32_t)ty;
        }
    } else if (rc != ARIA_ENOTFOUND) {
        goto done;
    }
    if (v.kind == KERN_TOK_BPE) {
        rc = kern_gguf_get_arr(g, "tokenizer.ggml.merges", &a);
        if (rc == 0) {
            if (a.type != KERN_GGUF_STRING) {
                rc = aria_errf(ARIA_EPROTO, "tokenizer: tokenizer.ggml.merges is not strings");
                goto done;
            }
            if (a.n > KERN_TOK_MAX_VOCAB * 4u) {
                rc = aria_errf(ARIA_EPROTO, "tokenizer: tokenizer.ggml.merges has %llu entries",
                               (unsigned long long)a.n);
                goto done;
            }
            size_t nm = (size_t)a.n;
            merges = aria_calloc(nm ? nm : 1, sizeof *merges);
            mlens = aria_calloc(nm ? nm : 1, sizeof *mlens);
            if (!merges || !mlens) {
                rc = ARIA_ENOMEM;
                goto done;
            }
            for (size_t i = 0; i < nm; i++) {
                if ((rc = kern_gguf_arr_str(g, &a, i, &merges[i], &mlens[i])) < 0)
                    goto done;
                bool sp = false;
                for (size_t j = 1; j < mlens[i]; j++)
                    sp = sp || merges[i][j] == ' ';
                if (!sp) {
                    rc = aria_errf(ARIA_EPROTO,
                                   "tokenizer: tokenizer.ggml.merges[%zu] has no space", i);
                    goto done;
                }
            }
            v.n_merges = nm;
        } else if (rc != ARIA_ENOTFOUND) {
            goto done;
        }
    }
    if ((rc = opt_id(g, "tokenizer.ggml.bos_token_id", &v.bos_id)) < 0 ||
        (rc = opt_id(g, "tokenizer.ggml.eos_token_id", &v.eos_id)) < 0 ||
        (rc = opt_id(g, "tokenizer.ggml.eot_token_id", &v.eot_id)) < 0 ||
        (rc = opt_id(g, "tokenizer.ggml.unknown_token_id", &v.unk_id)) < 0 ||
        (rc = opt_id(g, "tokenizer.ggml.padding_token_id", &v.pad_id)) < 0 ||
        (rc = opt_bool(g, "tokenizer.ggml.add_bos_token", &v.add_bos)) < 0 ||
        (rc = opt_bool(g, "tokenizer.ggml.add_eos_token", &v.add_eos)) < 0 ||
        (rc = opt_bool(g, "tokenizer.ggml.add_space_prefix", &v.add_space_prefix)) < 0)
        goto done;
    /* Ids past the vocabulary mean "none" (llama.cpp ignores them too), but
     * say so: a file that names a missing BOS is suspicious. */
    int32_t *idp[] = {&v.bos_id, &v.eos_id, &v.eot_id, &v.unk_id, &v.pad_id};
    for (size_t i = 0; i < ARIA_ARRAY_LEN(idp); i++)
        if (*idp[i] >= 0 && (size_t)*idp[i] >= n) {
            ARIA_LOG_W("K0101", "kernels", "tokenizer: special id %d past the vocabulary (%zu)",
                       *idp[i], n);
            *idp[i] = -1;
        }
    if (v.eot_id < 0) {
        static const char *const eot_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>",
                                                "<end_of_turn>"};
        for (size_t k = 0; k < ARIA_ARRAY_LEN(eot_texts) && v.eot_id < 0; k++) {
            size_t l = strlen(eot_texts[k]);
            for (size_t i = 0; i < n; i++)
                if (lens[i] == l && memcmp(texts[i], eot_texts[k], l) == 0) {
                    v.eot_id = (int32_t)i;
                    break;
                }
        }
    }
    v.n_tokens = n;
    v.tokens = texts;
    v.token_lens = lens;
    v.scores = scores;
    v.types = types;
    v.merges = merges;
    v.merge_lens = mlens;
    rc = kern_tok_new(&v, out);
done:
    aria_free(texts);
    aria_free(lens);
    aria_free(scores);
    aria_free(types);
    aria_free(merges);
    aria_free(mlens);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Accessors                                                            */
/* ------------------------------------------------------------------ */

kern_tok_kind
kern_tok_kind_of(const kern_tok *t)
{
    return t->kind;
}
kern_tok_pre
kern_tok_pre_of(const kern_tok *t)
{
    return t->pre;
}
size_t
kern_tok_n_vocab(const kern_tok *t)
{
    return t->n;
}
int32_t
kern_tok_bos(const kern_tok *t)
{
    return t->bos;
}
int32_t
kern_tok_eos(const kern_tok *t)
{
    return t->eos;
}
int32_t
kern_tok_eot(const kern_tok *t)
{
    return t->eot;
}
int32_t
kern_tok_unk(const kern_tok *t)
{
    return t->unk;
}
int32_t
kern_tok_pad(const kern_tok *t)
{
    return t->pad;
}
bool
kern_tok_adds_bos(const kern_tok *t)
{
    return t->add_bos && t->bos >= 0;
}
bool
kern_tok_is_eog(const kern_tok *t, int32_t id)
{
    return id >= 0 && (id == t->eos || id == t->eot);
}
kern_tok_type
kern_tok_type_of(const kern_tok *t, int32_t id)
{
    if (id < 0 || (size_t)id >= t->n)
        return KERN_TOK_TYPE_UNDEFINED;
    return (kern_tok_type)t->types[id];
}
const char *
kern_tok_text(const kern_tok *t, int32_t id, size_t *len)
{
    if (id < 0 || (size_t)id >= t->n)
        return NULL;
    *len = t->len[id];
    return t->arena + t->off[id];
}
float
kern_tok_score(const kern_tok *t, int32_t id)
{
    if (id < 0 || (size_t)id >= t->n)
        return 0.0f;
    return t->scores[id];
}
int32_t
kern_tok_find(const kern_tok *t, const char *text, size_t len)
{
    return tok_lookup(t, text, len);
}

/* ------------------------------------------------------------------ */
/* Encoding                                                             */
/* ------------------------------------------------------------------ */

/* A fragment of the input: raw text [off, off+len) or one special token. */
typedef struct frag {
    size_t off;
    size_t len;
    int32_t id; /* -1 for raw text */
} frag;

typedef struct frag_list {
    frag *v;
    size_t n;
    size_t cap;
} frag_list;

static int
frag_insert(frag_list *l, size_t at, frag f)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        frag *nv = aria_realloc(l->v, cap * sizeof *nv);
        if (!nv)
            return ARIA_ENOMEM;
        l->v = nv;
        l->cap = cap;
    }
    memmove(l->v + at + 1, l->v + at, (l->n - at) * sizeof *l->v);
    l->v[at] = f;
    l->n++;
    return 0;
}

static const char *
find_bytes(const char *h, size_t hl, const char *nd, size_t nl)
{
    if (nl == 0 || nl > hl)
        return NULL;
    const char *end = h + hl - nl;
    for (const char *p = h; p <= end; p++) {
        p = memchr(p, (unsigned char)nd[0], (size_t)(end - p) + 1);
        if (!p)
            return NULL;
        if (memcmp(p, nd, nl) == 0)
            return p;
    }
    return NULL;
}

/* Split raw fragments on every special token in specials order (longest
 * first), like llama.cpp's tokenizer_st_partition. */
static int
partition(const kern_tok *t, const char *text, size_t len, bool parse_special, frag_list *l)
{
    int rc;
    if (len > 0 && (rc = frag_insert(l, 0, (frag){0, len, -1})) < 0)
        return rc;
    for (size_t s = 0; s < t->n_specials; s++) {
        int32_t id = t->specials[s];
        uint8_t ty = t->types[id];
        if (!parse_special && (ty == KERN_TOK_TYPE_CONTROL || ty == KERN_TOK_TYPE_UNKNOWN))
            continue;
        const char *st = t->arena + t->off[id];
        size_t sl = t->len[id];
        for (size_t i = 0; i < l->n; i++) {
            frag f = l->v[i];
            if (f.id >= 0 || f.len < sl)
                continue;
            const char *m = find_bytes(text + f.off, f.len, st, sl);
            if (!m)
                continue;
            size_t mo = (size_t)(m - text);
            /* [f.off, mo) raw, then the token, then the rest (rescanned next). */
            size_t left = mo - f.off;
            size_t right = f.off + f.len - (mo + sl);
            if (left > 0) {
                l->v[i].len = left;
                if ((rc = frag_insert(l, i + 1, (frag){mo, sl, id})) < 0)
                    return rc;
                i++;
            } else {
                l->v[i] = (frag){mo, sl, id};
            }
            if (right > 0 && (rc = frag_insert(l, i + 1, (frag){mo + sl, right, -1})) < 0)
                return rc;
        }
    }
    return 0;
}

int
kern_tok_encode_ex(const kern_tok *t, const char *text, size_t len, unsigned flags, int32_t *ids,
                   size_t max, size_t *n)
{
    tok_out o = {ids, ids ? max : 0, 0};
    frag_list l = {NULL, 0, 0};
    *n = 0;
    int rc = partition(t, text, len, (flags & KERN_TOK_PARSE_SPECIAL) != 0, &l);
    if (rc < 0)
        goto done;
    bool add_special = (flags & KERN_TOK_ADD_SPECIAL) != 0;
    if (add_special && t->add_bos && t->bos >= 0)
        tok_out_push(&o, t->bos);
    bool prev_special = true; /* SPM: prefix a space to the first fragment */
    for (size_t i = 0; i < l.n; i++) {
        frag f = l.v[i];
        if (f.id >= 0) {
            tok_out_push(&o, f.id);
            prev_special = true;
            continue;
        }
        if (t->kind == KERN_TOK_SPM)
            rc = tok_spm_encode(t, text + f.off, f.len, t->add_space_prefix && prev_special, &o);
        else
            rc = tok_bpe_encode(t, text + f.off, f.len, &o);
        if (rc < 0)
            goto done;
        prev_special = false;
    }
    if (add_special && t->add_eos && t->eos >= 0)
        tok_out_push(&o, t->eos);
    *n = o.n;
    rc = o.n > o.max ? ARIA_ERANGE : 0;
    if (rc)
        aria_errf(rc, "tokenizer: %zu ids do not fit in %zu", o.n, max);
done:
    aria_free(l.v);
    return rc;
}

int
kern_tok_encode(const kern_tok *t, const char *text, size_t len, bool add_special, int32_t *ids,
                size_t max, size_t *n)
{
    unsigned flags = KERN_TOK_PARSE_SPECIAL | (add_special ? KERN_TOK_ADD_SPECIAL : 0u);
    return kern_tok_encode_ex(t, text, len, flags, ids, max, n);
}

/* ------------------------------------------------------------------ */
/* Pieces and decoding                                                  */
/* ------------------------------------------------------------------ */

static size_t
put_piece(char *out, size_t cap, size_t at, const void *p, size_t n)
{
    if (at < cap)
        memcpy(out + at, p, at + n <= cap ? n : cap - at);
    return at + n;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
kern_tok_piece(const kern_tok *t, int32_t id, bool special, char *out, size_t cap)
{
    if (id < 0 || (size_t)id >= t->n)
        return aria_errf(ARIA_EINVAL, "tokenizer: token id %d out of range (vocabulary %zu)", id,
                         t->n);
    const char *s = t->arena + t->off[id];
    size_t l = t->len[id];
    uint8_t ty = t->types[id];
    size_t w = 0;
    if (ty == KERN_TOK_TYPE_CONTROL)
        return special ? (int)put_piece(out, cap, 0, s, l) : 0;
    if (ty == KERN_TOK_TYPE_UNUSED)
        return 0;
    if (t->kind == KERN_TOK_SPM) {
        if (ty == KERN_TOK_TYPE_UNKNOWN)
            return (int)put_piece(out, cap, 0, "\xe2\x96\x85", 3);
        if (ty == KERN_TOK_TYPE_BYTE) {
            int hi = l == 6 ? hexval(s[3]) : -1, lo = l == 6 ? hexval(s[4]) : -1;
            if (hi < 0 || lo < 0)
                return (int)put_piece(out, cap, 0, s, l);
            uint8_t b = (uint8_t)(hi * 16 + lo);
            return (int)put_piece(out, cap, 0, &b, 1);
        }
        /* Normal / user-defined: ▁ (E2 96 81) → space. */
        for (size_t i = 0; i < l;) {
            if (i + 3 <= l && (uint8_t)s[i] == 0xE2 && (uint8_t)s[i + 1] == 0x96 &&
                (uint8_t)s[i + 2] == 0x81) {
                w = put_piece(out, cap, w, " ", 1);
                i += 3;
            } else {
                w = put_piece(out, cap, w, s + i, 1);
                i++;
            }
        }
        return (int)w;
    }
    /* BPE */
    if (ty == KERN_TOK_TYPE_USER_DEFINED || ty == KERN_TOK_TYPE_UNKNOWN)
        return (int)put_piece(out, cap, 0, s, l);
    for (size_t i = 0; i < l;) {
        uint32_t cp;
        size_t k = tok_utf8_next((const uint8_t *)s + i, l - i, &cp);
        int b = cp == TOK_CP_INVALID ? -1 : tok_cp_to_byte(cp);
        if (b >= 0) {
            uint8_t byte = (uint8_t)b;
            w = put_piece(out, cap, w, &byte, 1);
        } else {
            w = put_piece(out, cap, w, s + i, k); /* not a byte image: keep as is */
        }
        i += k;
    }
    return (int)w;
}

/* Piece of `id` for a decode/stream position. */
static int
piece_for(const kern_tok *t, int32_t id, unsigned flags, bool first, char *buf, size_t *len,
          bool *skip)
{
    *skip = false;
    *len = 0;
    if (first && (flags & KERN_TOK_DECODE_SKIP_BOS) && id == t->bos && id >= 0) {
        if (id < 0 || (size_t)id >= t->n)
            return aria_errf(ARIA_EINVAL, "tokenizer: token id %d out of range", id);
        *skip = true;
        return 0;
    }
    int r =
        kern_tok_piece(t, id, (flags & KERN_TOK_DECODE_SPECIAL) != 0, buf, KERN_TOK_MAX_PIECE * 2);
    if (r < 0)
        return r;
    size_t l = (size_t)r;
    if (first && (flags & KERN_TOK_DECODE_STRIP_SPACE) && t->add_space_prefix && l > 0 &&
        buf[0] == ' ') {
        memmove(buf, buf + 1, l - 1);
        l--;
    }
    *len = l;
    return 0;
}

int
kern_tok_decode(const kern_tok *t, const int32_t *ids, size_t n, unsigned flags, aria_buf *out)
{
    char buf[KERN_TOK_MAX_PIECE * 2];
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        bool skip;
        int rc = piece_for(t, ids[i], flags, first, buf, &l, &skip);
        if (rc < 0)
            return rc;
        if (skip)
            continue; /* the token after a skipped BOS is still "first" */
        first = false;
        if ((rc = aria_buf_put(out, buf, l)) < 0)
            return rc;
    }
    return out->err;
}

/* ------------------------------------------------------------------ */
/* Streaming UTF-8                                                      */
/* ------------------------------------------------------------------ */

void
kern_tok_stream_init(kern_tok_stream *s, const kern_tok *t, unsigned flags)
{
    memset(s, 0, sizeof *s);
    s->tok = t;
    s->flags = flags;
}

static const char k_fffd[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

/* Total length of a sequence with lead b, and the allowed range of its
 * second byte; 0 if b cannot start a sequence. */
static size_t
lead_info(uint8_t b, uint8_t *lo2, uint8_t *hi2)
{
    *lo2 = 0x80;
    *hi2 = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
        return 2;
    if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0)
            *lo2 = 0xA0;
        if (b == 0xED)
            *hi2 = 0x9F;
        return 3;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0)
            *lo2 = 0x90;
        if (b == 0xF4)
            *hi2 = 0x8F;
        return 4;
    }
    return 0;
}

int
kern_tok_stream_bytes(kern_tok_stream *s, const void *p, size_t n, aria_buf *out)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = b[i];
        for (;;) {
            if (s->n_pend == 0) {
                if (c < 0x80) {
                    aria_buf_put_u8(out, c);
                } else {
                    uint8_t lo2, hi2;
                    if (lead_info(c, &lo2, &hi2) == 0)
                        aria_buf_put(out, k_fffd, 3);
                    else
                        s->pend[s->n_pend++] = c;
                }
                break;
            }
            uint8_t lo2, hi2;
            size_t need = lead_info(s->pend[0], &lo2, &hi2);
            uint8_t lo = s->n_pend == 1 ? lo2 : 0x80, hi = s->n_pend == 1 ? hi2 : 0xBF;
            if (c >= lo && c <= hi) {
                s->pend[s->n_pend++] = c;
                if (s->n_pend == need) {
                    aria_buf_put(out, s->pend, need);
                    s->n_pend = 0;
                }
                break;
            }
            /* The held bytes are a maximal invalid subpart: one U+FFFD, then
             * look at c afresh. */
            aria_buf_put(out, k_fffd, 3);
            s->n_pend = 0;
        }
    }
    return out->err;
}

int
kern_tok_stream_push(kern_tok_stream *s, int32_t id, aria_buf *out)
{
    char buf[KERN_TOK_MAX_PIECE * 2];
    size_t l;
    bool skip;
    int rc = piece_for(s->tok, id, s->flags, s->n_tokens == 0, buf, &l, &skip);
    if (rc < 0)
        return rc;
    if (skip)
        return 0;
    s->n_tokens++;
    return kern_tok_stream_bytes(s, buf, l, out);
}

int
kern_tok_stream_flush(kern_tok_stream *s, aria_buf *out)
{
    if (s->n_pend > 0) {
        aria_buf_put(out, k_fffd, 3);
        s->n_pend = 0;
    }
    return out->err;
}
