/*
 * synth.c — deterministic synthetic models for tests and benchmarks
 * (`aria model synth`). See kern_synth_opts in kern_gguf.h for the contract.
 *
 * Invariants: the output is a pure function of the options (own PRNG,
 * no clock, no OS randomness); tensors are generated and streamed in chunks
 * of about 1M weights, so memory stays small for any model shape; every
 * ternary scale is exactly representable in fp16 and bf16, so all weight
 * types describe the same float model.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "kern_gguf.h"

/* ------------------------------------------------------------------ */
/* PRNG: splitmix64 to seed, xoshiro256** per tensor                    */
/* ------------------------------------------------------------------ */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t
rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

static void
rng_seed(rng *r, uint64_t seed, const char *name)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    uint64_t x = seed ^ h;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

/* Uniform in [0, 1) with 24 bits. */
static inline float
rng_unit(rng *r)
{
    return (float)(rng_next(r) >> 40) * 0x1p-24f;
}

/* ------------------------------------------------------------------ */
/* Options                                                              */
/* ------------------------------------------------------------------ */

typedef enum arch_kind { ARCH_BITNET_B158, ARCH_BITNET, ARCH_LLAMA } arch_kind;

static int
arch_of(const char *a, arch_kind *k)
{
    if (!a)
        return aria_errf(ARIA_EINVAL, "synth: --arch is required");
    if (strcmp(a, "bitnet-b1.58") == 0 || strcmp(a, "bitnet-25") == 0)
        *k = ARCH_BITNET_B158;
    else if (strcmp(a, "bitnet") == 0)
        *k = ARCH_BITNET;
    else if (strcmp(a, "llama") == 0)
        *k = ARCH_LLAMA;
    else
        return aria_errf(ARIA_EINVAL,
                         "synth: unknown arch '%s' (bitnet-b1.58 bitnet-25 bitnet llama)", a);
    return 0;
}

static const char *
tok_kind(const kern_synth_opts *o, arch_kind k)
{
    if (o->tokenizer)
        return o->tokenizer;
    return k == ARCH_BITNET ? "llama" : "gpt2";
}

int
kern_synth_check(const kern_synth_opts *o)
{
    arch_kind k;
    int rc = arch_of(o->arch, &k);
    if (rc)
        return rc;
    if (!kern_wtype_valid((uint32_t)o->wtype))
        return aria_errf(ARIA_EINVAL, "synth: unknown weight type %d", (int)o->wtype);
    const struct {
        const char *name;
        uint32_t v, max;
    } dims[] = {{"--layers", o->n_layer, 4096},     {"--embd", o->n_embd, 1u << 20},
                {"--ff", o->n_ff, 1u << 22},        {"--heads", o->n_head, 4096},
                {"--kv-heads", o->n_head_kv, 4096}, {"--vocab", o->n_vocab, INT32_MAX}};
    for (size_t i = 0; i < ARIA_ARRAY_LEN(dims); i++)
        if (dims[i].v == 0 || dims[i].v > dims[i].max)
            return aria_errf(ARIA_EINVAL, "synth: %s %u not in 1..%u", dims[i].name, dims[i].v,
                             dims[i].max);
    if (o->n_embd % o->n_head != 0 || (o->n_embd / o->n_head) % 2 != 0)
        return aria_errf(ARIA_EINVAL, "synth: --embd %u must be --heads %u times an even head size",
                         o->n_embd, o->n_head);
    if (o->n_head % o->n_head_kv != 0)
        return aria_errf(ARIA_EINVAL, "synth: --heads %u is not a multiple of --kv-heads %u",
                         o->n_head, o->n_head_kv);
    size_t be = kern_wtype_block_elems(o->wtype);
    if (o->n_embd % be != 0 || o->n_ff % be != 0)
        return aria_errf(ARIA_EINVAL,
                         "synth: --embd %u and --ff %u must be multiples of %zu for type %s",
                         o->n_embd, o->n_ff, be, kern_wtype_name(o->wtype));
    if (o->n_vocab < 259)
        return aria_errf(ARIA_EINVAL, "synth: --vocab %u is below 259 (256 byte tokens + specials)",
                         o->n_vocab);
    const char *tk = tok_kind(o, k);
    if (strcmp(tk, "llama") != 0 && strcmp(tk, "gpt2") != 0)
        return aria_errf(ARIA_EINVAL, "synth: unknown tokenizer '%s' (llama gpt2)", tk);
    if (o->scales && k != ARCH_BITNET)
        return aria_errf(ARIA_EINVAL, "synth: --scales is only for arch bitnet");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Vocabulary                                                           */
/* ------------------------------------------------------------------ */

/* Common English words: their pieces give the vocab realistic merges. */
static const char *const words[] = {
    "the",   "of",     "and",   "to",     "in",      "is",        "you",      "that",   "it",
    "he",    "was",    "for",   "on",     "are",     "as",        "with",     "his",    "they",
    "at",    "be",     "this",  "have",   "from",    "or",        "one",      "had",    "by",
    "word",  "but",    "not",   "what",   "all",     "were",      "we",       "when",   "your",
    "can",   "said",   "there", "use",    "an",      "each",      "which",    "she",    "do",
    "how",   "their",  "if",    "will",   "up",      "other",     "about",    "out",    "many",
    "then",  "them",   "these", "so",     "some",    "her",       "would",    "make",   "like",
    "him",   "into",   "time",  "has",    "look",    "two",       "more",     "write",  "go",
    "see",   "number", "no",    "way",    "could",   "people",    "my",       "than",   "first",
    "water", "been",   "call",  "who",    "oil",     "its",       "now",      "find",   "long",
    "down",  "day",    "did",   "get",    "come",    "made",      "may",      "part",   "hello",
    "world", "model",  "token", "market", "compute", "bit",       "net",      "peer",   "node",
    "Hello", "The",    "It",    "In",     "User",    "Assistant", "question", "answer",
};

/* A growing list of NUL-terminated strings with a linear duplicate check. */
typedef struct strlist {
    char **s;
    size_t n, cap;
} strlist;

static void
strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        aria_free(l->s[i]);
    aria_free(l->s);
    l->s = NULL;
    l->n = l->cap = 0;
}

static long
strlist_find(const strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->s[i], s) == 0)
            return (long)i;
    return -1;
}

static int
strlist_add(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 512;
        char **ns = aria_realloc(l->s, cap * sizeof *ns);
        if (!ns)
            return aria_errf(ARIA_ENOMEM, "synth: out of memory");
        l->s = ns;
        l->cap = cap;
    }
    if (!(l->s[l->n] = aria_strdup(s)))
        return aria_errf(ARIA_ENOMEM, "synth: out of memory");
    l->n++;
    return 0;
}

/* GPT-2's byte -> printable code point map, as UTF-8. */
static void
gpt2_byte_utf8(unsigned b, char out[3])
{
    unsigned cp;
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) {
        cp = b;
    } else {
        unsigned n = 0; /* rank of b among the unprintable bytes */
        for (unsigned x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255)))
                n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        out[2] = 0;
    }
}

#define TT_NORMAL       1
#define TT_UNKNOWN      2
#define TT_CONTROL      3
#define TT_USER_DEFINED 4
#define TT_UNUSED       5
#define TT_BYTE         6

typedef struct vocab {
    strlist tok;
    strlist merges;
    int32_t *type;
    float *score;
} vocab;

static void
vocab_free(vocab *v)
{
    strlist_free(&v->tok);
    strlist_free(&v->merges);
    aria_free(v->type);
    aria_free(v->score);
}

/* Add token `s` of type tt if new and there is room for `reserve` more. */
static int
vocab_add(vocab *v, uint32_t n_vocab, uint32_t reserve, const char *s, int32_t tt, bool *added)
{
    *added = false;
    /* padding tokens (UNUSED / reserved CONTROL names) are unique by
     * construction; skipping the linear search keeps 128k vocabs fast */
    bool padding = tt == TT_UNUSED || strncmp(s, "<|reserved_special_token_", 25) == 0;
    if (v->tok.n + reserve >= n_vocab || (!padding && strlist_find(&v->tok, s) >= 0))
        return 0;
    int rc = strlist_add(&v->tok, s);
    if (rc)
        return rc;
    v->type[v->tok.n - 1] = tt;
    v->score[v->tok.n - 1] = tt == TT_NORMAL ? -(float)v->tok.n : 0.0f;
    *added = true;
    return 0;
}

static int
vocab_build_spm(vocab *v, uint32_t n_vocab)
{
    bool added;
    int rc = 0;
    const char *sp = "\xe2\x96\x81"; /* U+2581, SentencePiece's space */
    rc = rc ? rc : vocab_add(v, n_vocab, 0, "<unk>", TT_UNKNOWN, &added);
    rc = rc ? rc : vocab_add(v, n_vocab, 0, "<s>", TT_CONTROL, &added);
    rc = rc ? rc : vocab_add(v, n_vocab, 0, "</s>", TT_CONTROL, &added);
    for (unsigned b = 0; b < 256 && !rc; b++) {
        char s[8];
        aria_snprintf(s, sizeof s, "<0x%02X>", b);
        rc = vocab_add(v, n_vocab, 0, s, TT_BYTE, &added);
    }
    rc = rc ? rc : vocab_add(v, n_vocab, 0, sp, TT_NORMAL, &added);
    for (unsigned c = 33; c < 127 && !rc; c++) {
        char s[2] = {(char)c, 0};
        rc = vocab_add(v, n_vocab, 0, s, TT_NORMAL, &added);
    }
    for (size_t w = 0; w < ARIA_ARRAY_LEN(words) && !rc; w++) {
        char piece[64];
        size_t L = strlen(words[w]);
        for (size_t k = 1; k <= L && !rc; k++) {
            aria_snprintf(piece, sizeof piece, "%s%.*s", sp, (int)k, words[w]);
            rc = vocab_add(v, n_vocab, 0, piece, TT_NORMAL, &added);
        }
    }
    for (uint32_t i = 0; v->tok.n < n_vocab && !rc; i++) {
        char s[32];
        aria_snprintf(s, sizeof s, "<unused%u>", i);
        rc = vocab_add(v, n_vocab + 1, 0, s, TT_UNUSED, &added);
    }
    return rc;
}

/* Append the merge chain for `word` (a sequence of GPT-2 mapped chars). */
static int
gpt2_add_word(vocab *v, uint32_t n_vocab, uint32_t reserve, const char *const *sym, size_t n)
{
    char acc[128], tok[128], m[256];
    aria_snprintf(acc, sizeof acc, "%s", sym[0]);
    for (size_t i = 1; i < n; i++) {
        aria_snprintf(tok, sizeof tok, "%s%s", acc, sym[i]);
        bool added;
        int rc = vocab_add(v, n_vocab, reserve, tok, TT_NORMAL, &added);
        if (rc)
            return rc;
        if (strlist_find(&v->tok, tok) < 0)
            return 0; /* no room: stop this word */
        aria_snprintf(m, sizeof m, "%s %s", acc, sym[i]);
        if (strlist_find(&v->merges, m) < 0 && (rc = strlist_add(&v->merges, m)) != 0)
            return rc;
        aria_snprintf(acc, sizeof acc, "%s", tok);
    }
    return 0;
}

static const char *const gpt2_specials[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"};

static int
vocab_build_gpt2(vocab *v, uint32_t n_vocab)
{
    bool added;
    int rc = 0;
    char bytes[256][3];
    for (unsigned b = 0; b < 256; b++)
        gpt2_byte_utf8(b, bytes[b]);
    for (unsigned b = 0; b < 256 && !rc; b++)
        rc = vocab_add(v, n_vocab, 0, bytes[b], TT_NORMAL, &added);
    uint32_t reserve = (uint32_t)ARIA_ARRAY_LEN(gpt2_specials);
    for (size_t w = 0; w < ARIA_ARRAY_LEN(words) && !rc; w++) {
        const char *sym[40];
        size_t L = strlen(words[w]);
        sym[0] = bytes[' '];
        for (size_t i = 0; i < L; i++)
            sym[i + 1] = bytes[(uint8_t)words[w][i]];
        rc = gpt2_add_word(v, n_vocab, reserve, sym, L + 1);
        if (!rc && L > 1)
            rc = gpt2_add_word(v, n_vocab, reserve, sym + 1, L);
    }
    for (size_t i = 0; i < ARIA_ARRAY_LEN(gpt2_specials) && !rc; i++)
        rc = vocab_add(v, n_vocab + 1, 0, gpt2_specials[i], TT_CONTROL, &added);
    for (uint32_t i = 0; v->tok.n < n_vocab && !rc; i++) {
        char s[48];
        aria_snprintf(s, sizeof s, "<|reserved_special_token_%u|>", i);
        rc = vocab_add(v, n_vocab + 1, 0, s, TT_CONTROL, &added);
    }
    return rc;
}

static int
write_vocab(kern_gguf_writer *w, const char *kind, uint32_t n_vocab)
{
    vocab v = {0};
    v.type = aria_alloc_array(n_vocab, sizeof(int32_t));
    v.score = aria_alloc_array(n_vocab, sizeof(float));
    int rc = 0;
    if (!v.type || !v.score) {
        rc = aria_errf(ARIA_ENOMEM, "synth: out of memory for the vocabulary");
        goto out;
    }
    bool spm = strcmp(kind, "llama") == 0;
    if ((rc = spm ? vocab_build_spm(&v, n_vocab) : vocab_build_gpt2(&v, n_vocab)) != 0)
        goto out;
    ARIA_ASSERT(v.tok.n == n_vocab);
    rc = kern_gguf_writer_add_str(w, "tokenizer.ggml.model", kind);
    if (!rc)
        rc = kern_gguf_writer_add_str(w, "tokenizer.ggml.pre", spm ? "default" : "llama-bpe");
    if (!rc)
        rc = kern_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.tok.s,
                                          NULL, v.tok.n);
    if (!rc && spm)
        rc = kern_gguf_writer_add_arr(w, "tokenizer.ggml.scores", KERN_GGUF_F32, v.score, v.tok.n);
    if (!rc)
        rc = kern_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", KERN_GGUF_I32, v.type,
                                      v.tok.n);
    if (!rc && !spm)
        rc = kern_gguf_writer_add_arr_str(w, "tokenizer.ggml.merges",
                                          (const char *const *)v.merges.s, NULL, v.merges.n);
    uint32_t bos, eos, eot = 0;
    if (spm) {
        bos = 1, eos = 2;
    } else {
        bos = (uint32_t)strlist_find(&v.tok, gpt2_specials[0]);
        eos = (uint32_t)strlist_find(&v.tok, gpt2_specials[1]);
        eot = (uint32_t)strlist_find(&v.tok, gpt2_specials[2]);
    }
    if (!rc)
        rc = kern_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", bos);
    if (!rc)
        rc = kern_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", eos);
    if (!rc && spm)
        rc = kern_gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (!rc && !spm)
        rc = kern_gguf_writer_add_u32(w, "tokenizer.ggml.eot_token_id", eot);
    if (!rc)
        rc = kern_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true);
    if (!rc)
        rc = kern_gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false);
out:
    vocab_free(&v);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Tensors                                                              */
/* ------------------------------------------------------------------ */

typedef enum tkind { T_EMBD, T_NORM, T_PROJ, T_SCALE } tkind;

typedef struct tdesc {
    char name[64];
    tkind kind;
    kern_wtype type;
    uint32_t n_dims;
    uint64_t ne[2];
} tdesc;

typedef struct plan {
    tdesc *t;
    size_t n, cap;
} plan;

static int
plan_add(plan *p, tkind kind, kern_wtype type, uint64_t ne0, uint64_t ne1, const char *fmt,
         int layer)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        tdesc *nt = aria_realloc(p->t, cap * sizeof *nt);
        if (!nt)
            return aria_errf(ARIA_ENOMEM, "synth: out of memory");
        p->t = nt;
        p->cap = cap;
    }
    tdesc *d = &p->t[p->n++];
    memset(d, 0, sizeof *d);
    if (layer >= 0)
        aria_snprintf(d->name, sizeof d->name, fmt, layer);
    else
        aria_snprintf(d->name, sizeof d->name, "%s", fmt);
    d->kind = kind;
    d->type = type;
    d->n_dims = ne1 ? 2 : 1;
    d->ne[0] = ne0;
    d->ne[1] = ne1 ? ne1 : 1;
    return 0;
}

static int
build_plan(const kern_synth_opts *o, arch_kind k, plan *p)
{
    uint64_t E = o->n_embd, F = o->n_ff, hd = E / o->n_head, KV = hd * o->n_head_kv;
    bool sub = k != ARCH_LLAMA;
    int rc = plan_add(p, T_EMBD, KERN_WT_F16, E, o->n_vocab, "token_embd.weight", -1);
    rc = rc ? rc : plan_add(p, T_NORM, KERN_WT_F32, E, 0, "output_norm.weight", -1);
    if (k == ARCH_LLAMA)
        rc = rc ? rc : plan_add(p, T_EMBD, KERN_WT_F16, E, o->n_vocab, "output.weight", -1);
    const struct {
        const char *fmt;
        tkind kind;
        uint64_t ne0, ne1;
        bool only_sub;
    } layer[] = {
        {"blk.%d.attn_norm.weight", T_NORM, E, 0, false},
        {"blk.%d.attn_q.weight", T_PROJ, E, E, false},
        {"blk.%d.attn_k.weight", T_PROJ, E, KV, false},
        {"blk.%d.attn_v.weight", T_PROJ, E, KV, false},
        {"blk.%d.attn_sub_norm.weight", T_NORM, E, 0, true},
        {"blk.%d.attn_output.weight", T_PROJ, E, E, false},
        {"blk.%d.ffn_norm.weight", T_NORM, E, 0, false},
        {"blk.%d.ffn_gate.weight", T_PROJ, E, F, false},
        {"blk.%d.ffn_up.weight", T_PROJ, E, F, false},
        {"blk.%d.ffn_sub_norm.weight", T_NORM, F, 0, true},
        {"blk.%d.ffn_down.weight", T_PROJ, F, E, false},
    };
    for (int l = 0; l < (int)o->n_layer && !rc; l++) {
        for (size_t i = 0; i < ARIA_ARRAY_LEN(layer) && !rc; i++) {
            if (layer[i].only_sub && !sub)
                continue;
            kern_wtype t = layer[i].kind == T_PROJ ? o->wtype : KERN_WT_F32;
            rc = plan_add(p, layer[i].kind, t, layer[i].ne0, layer[i].ne1, layer[i].fmt, l);
            if (!rc && layer[i].kind == T_PROJ && o->scales) {
                char sname[64];
                aria_snprintf(sname, sizeof sname, layer[i].fmt, l);
                size_t L = strlen(sname);
                /* "...weight" -> "...scale" */
                aria_snprintf(sname + L - 6, sizeof sname - (L - 6), "scale");
                rc = plan_add(p, T_SCALE, KERN_WT_F32, 1, 0, sname, -1);
            }
        }
    }
    return rc;
}

/* The tensor's scale: ~1/sqrt(fan-in), rounded to 8 significant bits so it
 * is exact in bf16 and fp16. Drawn from the weight tensor's own stream. */
static float
proj_scale(const kern_synth_opts *o, const char *weight_name, uint64_t fan_in)
{
    rng r;
    char sname[80];
    aria_snprintf(sname, sizeof sname, "%s#scale", weight_name);
    rng_seed(&r, o->seed, sname);
    float s = (0.75f + 0.5f * rng_unit(&r)) / sqrtf((float)fan_in);
    return kern_bf16_to_fp32(kern_fp32_to_bf16(s));
}

#define CHUNK_ELEMS (1u << 20)
/* Embedding amplitude: small, like trained models (~N(0, 0.02)), so a tied
 * LM head does not simply echo the last token. */
#ifndef EMBD_AMP
#define EMBD_AMP 0.05f
#endif

static int
gen_tensor(kern_gguf_writer *w, const kern_synth_opts *o, const tdesc *d, const tdesc *last_proj,
           int8_t *tern, uint8_t *pack)
{
    rng r;
    rng_seed(&r, o->seed, d->name);
    uint64_t ne0 = d->ne[0], rows = d->ne[1];
    int rc = 0;
    if (d->kind == T_NORM || d->kind == T_SCALE) {
        for (uint64_t i = 0; i < ne0; i++) {
            float v = d->kind == T_SCALE ? proj_scale(o, last_proj->name, last_proj->ne[0])
                                         : 1.0f + 0.25f * (rng_unit(&r) - 0.5f);
            uint32_t b;
            memcpy(&b, &v, 4);
            uint8_t le[4];
            aria_store_u32le(le, b);
            if ((rc = kern_gguf_writer_put(w, le, 4)) != 0)
                return rc;
        }
        return 0;
    }
    uint64_t rows_per = ne0 >= CHUNK_ELEMS ? 1 : CHUNK_ELEMS / ne0;
    if (d->kind == T_EMBD) {
        for (uint64_t r0 = 0; r0 < rows; r0 += rows_per) {
            uint64_t nr = rows - r0 < rows_per ? rows - r0 : rows_per;
            size_t n = (size_t)(nr * ne0);
            for (size_t i = 0; i < n; i++)
                aria_store_u16le(pack + 2 * i,
                                 kern_fp32_to_fp16(EMBD_AMP * (2.0f * rng_unit(&r) - 1.0f)));
            if ((rc = kern_gguf_writer_put(w, pack, 2 * n)) != 0)
                return rc;
        }
        return 0;
    }
    /* projection: s * ternary */
    float s = o->scales ? 1.0f : proj_scale(o, d->name, ne0);
    for (uint64_t r0 = 0; r0 < rows; r0 += rows_per) {
        uint64_t nr = rows - r0 < rows_per ? rows - r0 : rows_per;
        size_t n = (size_t)(nr * ne0);
        for (size_t i = 0; i < n; i += 2) {
            uint64_t x = rng_next(&r);
            tern[i] = (int8_t)((int)(((x & 0xffffffffu) * 3) >> 32) - 1);
            if (i + 1 < n)
                tern[i + 1] = (int8_t)((int)(((x >> 32) * 3) >> 32) - 1);
        }
        kern_pack_ternary(d->type, tern, n, s, pack);
        size_t bytes = d->type == KERN_WT_I2_S ? n / 4 : kern_wtype_row_bytes(d->type, n);
        if ((rc = kern_gguf_writer_put(w, pack, bytes)) != 0)
            return rc;
    }
    if (d->type == KERN_WT_I2_S) {
        uint8_t tail[KERN_I2_S_TAIL_BYTES] = {0};
        uint32_t b;
        memcpy(&b, &s, 4);
        aria_store_u32le(tail, b);
        rc = kern_gguf_writer_put(w, tail, sizeof tail);
    }
    return rc;
}

static uint32_t
file_type_of(kern_wtype t, bool *known)
{
    *known = true;
    switch (t) {
    case KERN_WT_F32: return 0;
    case KERN_WT_F16: return 1;
    case KERN_WT_Q8_0: return 7;
    case KERN_WT_BF16: return 32;
    case KERN_WT_TQ1_0: return 36;
    case KERN_WT_TQ2_0: return 37;
    default: *known = false; return 0;
    }
}

static int
write_meta(kern_gguf_writer *w, const kern_synth_opts *o, arch_kind k)
{
    const char *a = o->arch;
    char key[128], name[128];
    int rc = kern_gguf_writer_add_str(w, "general.architecture", a);
    aria_snprintf(name, sizeof name, "synthetic-%s-%s-seed%" PRIu64, a, kern_wtype_name(o->wtype),
                  o->seed);
    rc = rc ? rc : kern_gguf_writer_add_str(w, "general.name", name);
#define KU32(suffix, val)                                                                          \
    do {                                                                                           \
        aria_snprintf(key, sizeof key, "%s." suffix, a);                                           \
        rc = rc ? rc : kern_gguf_writer_add_u32(w, key, (val));                                    \
    } while (0)
#define KF32(suffix, val)                                                                          \
    do {                                                                                           \
        aria_snprintf(key, sizeof key, "%s." suffix, a);                                           \
        rc = rc ? rc : kern_gguf_writer_add_f32(w, key, (val));                                    \
    } while (0)
    KU32("context_length", o->n_ctx ? o->n_ctx : 2048);
    KU32("embedding_length", o->n_embd);
    KU32("block_count", o->n_layer);
    KU32("feed_forward_length", o->n_ff);
    KU32("attention.head_count", o->n_head);
    KU32("attention.head_count_kv", o->n_head_kv);
    KU32("rope.dimension_count", o->n_embd / o->n_head);
    KF32("rope.freq_base", o->rope_base > 0   ? o->rope_base
                           : k == ARCH_BITNET ? 10000.0f
                                              : 500000.0f);
    KF32("attention.layer_norm_rms_epsilon", 1e-5f);
    KU32("vocab_size", o->n_vocab);
#undef KU32
#undef KF32
    bool known;
    uint32_t ft = file_type_of(o->wtype, &known);
    if (known)
        rc = rc ? rc : kern_gguf_writer_add_u32(w, "general.file_type", ft);
    if (k == ARCH_BITNET) { /* as llama.cpp's converter writes for 1bitLLM models */
        aria_snprintf(key, sizeof key, "%s.rope.scaling.type", a);
        rc = rc ? rc : kern_gguf_writer_add_str(w, key, "linear");
        aria_snprintf(key, sizeof key, "%s.rope.scaling.factor", a);
        rc = rc ? rc : kern_gguf_writer_add_f32(w, key, 1.0f);
    }
    return rc ? rc : write_vocab(w, tok_kind(o, k), o->n_vocab);
}

int
kern_synth_write(const kern_synth_opts *o, const char *path)
{
    int rc = kern_synth_check(o);
    if (rc)
        return rc;
    arch_kind k;
    (void)arch_of(o->arch, &k);
    plan p = {0};
    kern_gguf_writer *w = NULL;
    int8_t *tern = NULL;
    uint8_t *pack = NULL;
    if ((rc = build_plan(o, k, &p)) != 0)
        goto out;
    if ((rc = kern_gguf_writer_new(&w)) != 0)
        goto out;
    if ((rc = write_meta(w, o, k)) != 0)
        goto out;
    for (size_t i = 0; i < p.n && !rc; i++) {
        uint64_t ne[2] = {p.t[i].ne[0], p.t[i].ne[1]};
        rc = kern_gguf_writer_add_tensor(w, p.t[i].name, p.t[i].type, p.t[i].n_dims, ne, NULL);
    }
    if (rc)
        goto out;
    /* chunk buffers: a chunk is CHUNK_ELEMS weights, or one row if longer */
    uint64_t maxrow = o->n_embd > o->n_ff ? o->n_embd : o->n_ff;
    size_t cap = maxrow > CHUNK_ELEMS ? (size_t)maxrow : CHUNK_ELEMS;
    tern = aria_alloc(cap);
    pack = aria_alloc(cap * 4 + KERN_I2_S_TAIL_BYTES);
    if (!tern || !pack) {
        rc = aria_errf(ARIA_ENOMEM, "synth: out of memory for %zu-weight chunks", cap);
        goto out;
    }
    if ((rc = kern_gguf_writer_begin(w, path)) != 0)
        goto out;
    const tdesc *last_proj = NULL;
    for (size_t i = 0; i < p.n && !rc; i++) {
        rc = gen_tensor(w, o, &p.t[i], last_proj, tern, pack);
        if (p.t[i].kind == T_PROJ)
            last_proj = &p.t[i];
    }
    if (!rc)
        rc = kern_gguf_writer_commit(w);
out:
    kern_gguf_writer_free(w);
    aria_free(p.t);
    aria_free(tern);
    aria_free(pack);
    return rc;
}
