/*
 * test_tok.c — tokenizer tests: SPM parity with llama.cpp's recorded prompt
 * ids, SPM/BPE algorithm details on small hand-made vocabularies, the
 * pre-tokenizer splits, special tokens, GGUF loading and its errors.
 * (Round trips, streaming and chat templates: test_tok_text.c.)
 */
#include <jansson.h>

#include "test_tok_util.h"

/* ------------------------------------------------------------------ */
/* SPM against llama.cpp                                                */
/* ------------------------------------------------------------------ */

Test(tok_spm, matches_llamacpp_prompt_ids_of_bitnet_tiny_A)
{
    kern_tok *t = tt_load_tiny(NULL);
    char path[4096];
    tt_path(path, sizeof path, tt_shared_dir(), TINY_JSON);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    cr_assert(root != NULL, "%s: %s", path, jerr.text);
    json_t *cases = json_object_get(root, "cases");
    cr_assert(json_is_array(cases) && json_array_size(cases) == 4);
    size_t idx;
    json_t *c;
    json_array_foreach(cases, idx, c)
    {
        const char *text = json_string_value(json_object_get(c, "prompt_text"));
        json_t *want = json_object_get(c, "prompt_ids");
        cr_assert(text && json_is_array(want));
        size_t n;
        int32_t *ids = tt_encode(t, text, strlen(text), KERN_TOK_ADD_SPECIAL, &n);
        cr_assert_eq(n, json_array_size(want), "case %zu: %zu ids, llama.cpp %zu", idx, n,
                     json_array_size(want));
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(ids[i], json_integer_value(json_array_get(want, i)),
                         "case %zu id %zu: %d vs %lld", idx, i, ids[i],
                         (long long)json_integer_value(json_array_get(want, i)));
        /* The engine's call gives the same ids. */
        int32_t ids2[256];
        size_t n2;
        cr_assert_eq(kern_tok_encode(t, text, strlen(text), true, ids2, 256, &n2), 0);
        cr_assert_eq(n2, n);
        cr_assert_eq(memcmp(ids, ids2, n * sizeof *ids), 0);
        free(ids);
    }
    json_decref(root);
    kern_tok_free(t);
}

Test(tok_spm, reads_special_ids_and_flags_from_gguf)
{
    kern_tok *t = tt_load_tiny(NULL);
    cr_assert_eq(kern_tok_kind_of(t), KERN_TOK_SPM);
    cr_assert_eq(kern_tok_n_vocab(t), 32000);
    cr_assert_eq(kern_tok_bos(t), 1);
    cr_assert_eq(kern_tok_eos(t), 2);
    cr_assert_eq(kern_tok_unk(t), 0);
    cr_assert(kern_tok_adds_bos(t));
    cr_assert(kern_tok_is_eog(t, 2));
    cr_assert(!kern_tok_is_eog(t, 1));
    cr_assert_eq(kern_tok_type_of(t, 1), KERN_TOK_TYPE_CONTROL);
    cr_assert_eq(kern_tok_type_of(t, 3), KERN_TOK_TYPE_BYTE); /* <0x00> */
    size_t l;
    const char *s = kern_tok_text(t, 1, &l);
    cr_assert(l == 3 && memcmp(s, "<s>", 3) == 0);
    cr_assert_eq(kern_tok_find(t, "<0x0A>", 6), 13);
    cr_assert_null(kern_tok_text(t, 32000, &l));
    kern_tok_free(t);
}

Test(tok_spm, empty_text_gives_only_bos)
{
    kern_tok *t = tt_load_tiny(NULL);
    int32_t ids[4];
    size_t n = 99;
    cr_assert_eq(kern_tok_encode(t, "", 0, true, ids, 4, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], 1);
    cr_assert_eq(kern_tok_encode_ex(t, "", 0, 0, ids, 4, &n), 0);
    cr_assert_eq(n, 0);
    kern_tok_free(t);
}

Test(tok_spm, byte_fallback_for_characters_not_in_the_vocabulary)
{
    kern_tok *t = tt_load_tiny(NULL);
    /* U+1F600 is not a token of the LLaMA vocabulary: ▁ then 4 bytes
     * F0 9F 98 80 as <0xF0> <0x9F> <0x98> <0x80> (ids = byte + 3). */
    size_t n;
    int32_t *ids = tt_encode(t, "\xF0\x9F\x98\x80", 4, 0, &n);
    cr_assert_eq(n, 5);
    cr_assert_eq(ids[0], kern_tok_find(t, "\xe2\x96\x81", 3));
    cr_assert_eq(ids[1], 0xF0 + 3);
    cr_assert_eq(ids[2], 0x9F + 3);
    cr_assert_eq(ids[3], 0x98 + 3);
    cr_assert_eq(ids[4], 0x80 + 3);
    free(ids);
    /* Invalid UTF-8 is kept byte for byte. */
    ids = tt_encode(t, "a\xFF", 2, 0, &n);
    cr_assert_eq(ids[n - 1], 0xFF + 3);
    free(ids);
    kern_tok_free(t);
}

static kern_tok *
small_spm(const char *const *toks, const float *scores, const int32_t *types, size_t n, int32_t unk)
{
    kern_tok_vocab v;
    memset(&v, 0, sizeof v);
    v.kind = KERN_TOK_SPM;
    v.n_tokens = n;
    v.tokens = toks;
    v.scores = scores;
    v.types = types;
    v.bos_id = -1;
    v.eos_id = -1;
    v.eot_id = -1;
    v.unk_id = unk;
    v.pad_id = -1;
    v.add_space_prefix = false;
    kern_tok *t = NULL;
    cr_assert_eq(kern_tok_new(&v, &t), 0, "%s", aria_err_msg());
    return t;
}

Test(tok_spm, merges_highest_score_first_and_ties_leftmost)
{
    /* "abc": ab (score 1) vs bc (score 2) → a + bc. */
    const char *toks[] = {"<unk>", "a", "b", "c", "ab", "bc"};
    float sc[] = {0, 0, 0, 0, 1, 2};
    int32_t ty[] = {2, 1, 1, 1, 1, 1};
    kern_tok *t = small_spm(toks, sc, ty, 6, 0);
    int32_t ids[8];
    size_t n;
    cr_assert_eq(kern_tok_encode_ex(t, "abc", 3, 0, ids, 8, &n), 0);
    cr_assert(n == 2 && ids[0] == 1 && ids[1] == 5);
    kern_tok_free(t);
    /* Equal scores: the leftmost pair wins → ab + c. */
    float sc2[] = {0, 0, 0, 0, 2, 2};
    t = small_spm(toks, sc2, ty, 6, 0);
    cr_assert_eq(kern_tok_encode_ex(t, "abc", 3, 0, ids, 8, &n), 0);
    cr_assert(n == 2 && ids[0] == 4 && ids[1] == 3);
    /* No byte tokens and no one-byte token: unknown. */
    cr_assert_eq(kern_tok_encode_ex(t, "xa", 2, 0, ids, 8, &n), 0);
    cr_assert(n == 2 && ids[0] == 0 && ids[1] == 1);
    char piece[16];
    cr_assert_eq(kern_tok_piece(t, 0, false, piece, sizeof piece), 3);
    cr_assert_eq(memcmp(piece, "\xe2\x96\x85", 3), 0);
    kern_tok_free(t);
}

Test(tok_spm, later_duplicate_text_wins_like_llamacpp)
{
    const char *toks[] = {"<unk>", "a", "a"};
    kern_tok *t = small_spm(toks, NULL, NULL, 3, 0);
    cr_assert_eq(kern_tok_find(t, "a", 1), 2);
    kern_tok_free(t);
}

Test(tok_spm, space_prefix_is_added_after_each_special_token)
{
    kern_tok *t = tt_load_tiny(NULL);
    const char *s = "hi</s>hi";
    size_t n;
    int32_t *ids = tt_encode(t, s, strlen(s), KERN_TOK_PARSE_SPECIAL, &n);
    /* ▁hi </s> ▁hi */
    int32_t hi = kern_tok_find(t, "\xe2\x96\x81hi", 5);
    cr_assert(hi >= 0);
    cr_assert_eq(n, 3);
    cr_assert(ids[0] == hi && ids[1] == 2 && ids[2] == hi);
    free(ids);
    /* Without PARSE_SPECIAL the text </s> is ordinary text. */
    ids = tt_encode(t, s, strlen(s), 0, &n);
    cr_assert(n > 3);
    for (size_t i = 0; i < n; i++)
        cr_assert_neq(ids[i], 2);
    free(ids);
    kern_tok_free(t);
}

/* ------------------------------------------------------------------ */
/* Pre-tokenizers                                                       */
/* ------------------------------------------------------------------ */

typedef struct pieces {
    char buf[4096];
    size_t len;
    const char *text;
} pieces;

static int
collect(void *ctx, size_t off, size_t len)
{
    pieces *p = ctx;
    /* Pieces joined with '|' */
    if (p->len)
        p->buf[p->len++] = '|';
    memcpy(p->buf + p->len, p->text + off, len);
    p->len += len;
    p->buf[p->len] = 0;
    return 0;
}

static const char *
split(kern_tok_pre pre, const char *s, pieces *p)
{
    memset(p, 0, sizeof *p);
    p->text = s;
    cr_assert_eq(tok_pre_split(pre, s, strlen(s), collect, p), 0);
    return p->buf;
}

Test(tok_pre, gpt2_regex_pieces)
{
    pieces p;
    /* Each expectation is what the GPT-2 regex gives (worked by hand). */
    cr_assert_str_eq(split(KERN_TOK_PRE_GPT2, "Hello world", &p), "Hello| world");
    cr_assert_str_eq(split(KERN_TOK_PRE_GPT2, "it's  12345 ok", &p), "it|'s| | 12345| ok");
    cr_assert_str_eq(split(KERN_TOK_PRE_GPT2, "a   b", &p), "a|  | b");
    cr_assert_str_eq(split(KERN_TOK_PRE_GPT2, "end  ", &p), "end|  ");
    cr_assert_str_eq(split(KERN_TOK_PRE_GPT2, "x!!? y", &p), "x|!!?| y");
    cr_assert_str_eq(split(KERN_TOK_PRE_GPT2, "I'LL", &p), "I|'|LL");
    cr_assert_str_eq(split(KERN_TOK_PRE_GPT2, "a\n\nb", &p), "a|\n|\n|b");
    cr_assert_str_eq(split(KERN_TOK_PRE_GPT2, "naïve café", &p), "naïve| café");
    cr_assert_str_eq(split(KERN_TOK_PRE_GPT2, "٣٤ x", &p), "٣٤| x");
}

Test(tok_pre, llama3_regex_pieces)
{
    pieces p;
    cr_assert_str_eq(split(KERN_TOK_PRE_LLAMA3, "Hello world", &p), "Hello| world");
    /* Numbers in runs of at most three digits. */
    cr_assert_str_eq(split(KERN_TOK_PRE_LLAMA3, "1234567", &p), "123|456|7");
    cr_assert_str_eq(split(KERN_TOK_PRE_LLAMA3, "x 12", &p), "x| |12");
    /* Case-insensitive contractions. */
    cr_assert_str_eq(split(KERN_TOK_PRE_LLAMA3, "I'LL DON'T", &p), "I|'LL| DON|'T");
    /* A non-letter, non-digit, non-newline may lead a letter run. */
    cr_assert_str_eq(split(KERN_TOK_PRE_LLAMA3, "(hello)", &p), "(hello|)");
    cr_assert_str_eq(split(KERN_TOK_PRE_LLAMA3, "\thello", &p), "\thello");
    /* Punctuation takes trailing newlines; newline runs keep preceding spaces. */
    cr_assert_str_eq(split(KERN_TOK_PRE_LLAMA3, "a.\n\nb", &p), "a|.\n\n|b");
    cr_assert_str_eq(split(KERN_TOK_PRE_LLAMA3, "a  \n  b", &p), "a|  \n| | b");
    cr_assert_str_eq(split(KERN_TOK_PRE_LLAMA3, "a   b", &p), "a|  | b");
    cr_assert_str_eq(split(KERN_TOK_PRE_LLAMA3, "end   ", &p), "end|   ");
    cr_assert_str_eq(split(KERN_TOK_PRE_LLAMA3, "東京 and", &p), "東京| and");
    /* An invalid byte is one code point of no class. */
    cr_assert_str_eq(split(KERN_TOK_PRE_LLAMA3, "ab\xFF\xFE cd", &p), "ab|\xFF\xFE| cd");
}

/* ------------------------------------------------------------------ */
/* BPE                                                                  */
/* ------------------------------------------------------------------ */

/* 256 byte tokens plus `extra` tokens and merges. */
static kern_tok *
small_bpe(kern_tok_pre pre, const char *const *extra, size_t n_extra, const char *const *merges,
          size_t n_merges)
{
    static char bytes[256][4];
    const char *toks[300];
    for (int b = 0; b < 256; b++) {
        memset(bytes[b], 0, 4);
        tt_mapped((uint8_t)b, bytes[b]);
        toks[b] = bytes[b];
    }
    for (size_t i = 0; i < n_extra; i++)
        toks[256 + i] = extra[i];
    kern_tok_vocab v;
    memset(&v, 0, sizeof v);
    v.kind = KERN_TOK_BPE;
    v.pre = pre;
    v.n_tokens = 256 + n_extra;
    v.tokens = toks;
    v.n_merges = n_merges;
    v.merges = merges;
    v.bos_id = v.eos_id = v.eot_id = v.unk_id = v.pad_id = -1;
    kern_tok *t = NULL;
    cr_assert_eq(kern_tok_new(&v, &t), 0, "%s", aria_err_msg());
    return t;
}

Test(tok_bpe, merges_lowest_rank_first_and_ties_leftmost)
{
    const char *extra[] = {"bc", "ab", "aa"};
    const char *merges[] = {"b c", "a b", "a a"};
    kern_tok *t = small_bpe(KERN_TOK_PRE_GPT2, extra, 3, merges, 3);
    int32_t ids[8];
    size_t n;
    cr_assert_eq(kern_tok_encode_ex(t, "abc", 3, 0, ids, 8, &n), 0);
    cr_assert(n == 2 && ids[0] == 'a' && ids[1] == 256, "n=%zu %d %d", n, ids[0], ids[1]);
    cr_assert_eq(kern_tok_encode_ex(t, "aaa", 3, 0, ids, 8, &n), 0);
    cr_assert(n == 2 && ids[0] == 258 && ids[1] == 'a');
    kern_tok_free(t);
}

Test(tok_bpe, llama3_takes_whole_piece_tokens_without_merges)
{
    const char *extra[] = {"xyz"};
    kern_tok *t = small_bpe(KERN_TOK_PRE_LLAMA3, extra, 1, NULL, 0);
    int32_t ids[8];
    size_t n;
    cr_assert_eq(kern_tok_encode_ex(t, "xyz", 3, 0, ids, 8, &n), 0);
    cr_assert(n == 1 && ids[0] == 256);
    kern_tok_free(t);
    t = small_bpe(KERN_TOK_PRE_GPT2, extra, 1, NULL, 0);
    cr_assert_eq(kern_tok_encode_ex(t, "xyz", 3, 0, ids, 8, &n), 0);
    cr_assert(n == 3 && ids[0] == 'x' && ids[1] == 'y' && ids[2] == 'z');
    kern_tok_free(t);
}

Test(tok_bpe, maps_bytes_and_merges_words)
{
    tt_bpe v;
    kern_tok *t = tt_make_bpe(KERN_TOK_PRE_GPT2, &v);
    const char *s = " hello world\n\n";
    size_t n;
    int32_t *ids = tt_encode(t, s, strlen(s), 0, &n);
    cr_assert_eq(n, 3);
    cr_assert_eq(ids[0], tt_bpe_find(&v, "\xc4\xa0hello")); /* Ġhello */
    cr_assert_eq(ids[1], tt_bpe_find(&v, "\xc4\xa0world"));
    cr_assert_eq(ids[2], tt_bpe_find(&v, "\xc4\x8a\xc4\x8a")); /* ĊĊ */
    free(ids);
    kern_tok_free(t);
    tt_bpe_free(&v);
}

Test(tok_bpe, special_tokens_bos_and_parse_flag)
{
    tt_bpe v;
    kern_tok *t = tt_make_bpe(KERN_TOK_PRE_LLAMA3, &v);
    int32_t bos = (int32_t)v.n_tokens - 2, eot = (int32_t)v.n_tokens - 1;
    const char *s = "<|begin_of_text|>Hello<|eot_id|>";
    size_t n;
    int32_t *ids = tt_encode(t, s, strlen(s), KERN_TOK_PARSE_SPECIAL, &n);
    cr_assert_eq(n, 3);
    cr_assert(ids[0] == bos && ids[1] == tt_bpe_find(&v, "Hello") && ids[2] == eot);
    free(ids);
    ids = tt_encode(t, s, strlen(s), KERN_TOK_PARSE_SPECIAL | KERN_TOK_ADD_SPECIAL, &n);
    cr_assert(n == 4 && ids[0] == bos && ids[1] == bos);
    free(ids);
    ids = tt_encode(t, s, strlen(s), 0, &n);
    cr_assert(n > 3);
    for (size_t i = 0; i < n; i++)
        cr_assert(ids[i] != bos && ids[i] != eot);
    free(ids);
    cr_assert(kern_tok_is_eog(t, eot));
    /* CONTROL pieces are hidden unless asked for. */
    char piece[64];
    cr_assert_eq(kern_tok_piece(t, eot, false, piece, sizeof piece), 0);
    cr_assert_eq(kern_tok_piece(t, eot, true, piece, sizeof piece), 10);
    cr_assert_eq(memcmp(piece, "<|eot_id|>", 10), 0);
    cr_assert_eq(kern_tok_piece(t, (int32_t)v.n_tokens, false, piece, sizeof piece), ARIA_EINVAL);
    kern_tok_free(t);
    tt_bpe_free(&v);
}

Test(tok_bpe, encode_reports_needed_size_when_the_buffer_is_short)
{
    tt_bpe v;
    kern_tok *t = tt_make_bpe(KERN_TOK_PRE_GPT2, &v);
    int32_t all[16], ids[2] = {-7, -7};
    size_t n = 0, full = 0;
    cr_assert_eq(kern_tok_encode_ex(t, "a b c d", 7, 0, all, 16, &full), 0);
    cr_assert(full > 1);
    cr_assert_eq(kern_tok_encode_ex(t, "a b c d", 7, 0, ids, 1, &n), ARIA_ERANGE);
    cr_assert_eq(n, full);
    cr_assert_eq(ids[0], 'a');
    cr_assert_eq(ids[1], -7);
    cr_assert_eq(kern_tok_encode_ex(t, "a b c d", 7, 0, NULL, 0, &n), ARIA_ERANGE);
    cr_assert_eq(n, full);
    kern_tok_free(t);
    tt_bpe_free(&v);
}

Test(tok_vocab, rejects_bad_arrays)
{
    const char *toks[] = {"a", "b"};
    kern_tok_vocab v;
    memset(&v, 0, sizeof v);
    v.kind = KERN_TOK_SPM;
    v.n_tokens = 2;
    v.tokens = toks;
    v.bos_id = 5;
    v.eos_id = v.eot_id = v.unk_id = v.pad_id = -1;
    kern_tok *t = NULL;
    cr_assert_eq(kern_tok_new(&v, &t), ARIA_EINVAL);
    cr_assert(strstr(aria_err_msg(), "bos") != NULL, "%s", aria_err_msg());
    v.bos_id = -1;
    v.n_tokens = 0;
    cr_assert_eq(kern_tok_new(&v, &t), ARIA_EINVAL);
    v.n_tokens = 2;
    v.kind = (kern_tok_kind)9;
    cr_assert_eq(kern_tok_new(&v, &t), ARIA_EINVAL);
    v.kind = KERN_TOK_BPE;
    const char *merges[] = {"ab"};
    v.merges = merges;
    v.n_merges = 1;
    cr_assert_eq(kern_tok_new(&v, &t), ARIA_EINVAL);
    cr_assert(strstr(aria_err_msg(), "merge 0") != NULL, "%s", aria_err_msg());
    int32_t types[] = {1, 9};
    v.n_merges = 0;
    v.types = types;
    cr_assert_eq(kern_tok_new(&v, &t), ARIA_EINVAL);
    cr_assert_null(t);
}

Test(tok_vocab, allocation_failures_are_clean)
{
    tt_bpe v;
    tt_bpe_build(&v, tt_words, ARIA_ARRAY_LEN(tt_words));
    kern_tok_vocab voc;
    memset(&voc, 0, sizeof voc);
    voc.kind = KERN_TOK_BPE;
    voc.pre = KERN_TOK_PRE_LLAMA3;
    voc.n_tokens = v.n_tokens;
    voc.tokens = (const char *const *)v.tokens;
    voc.types = v.types;
    voc.n_merges = v.n_merges;
    voc.merges = (const char *const *)v.merges;
    voc.bos_id = voc.eos_id = voc.eot_id = voc.unk_id = voc.pad_id = -1;
    for (long k = 1; k < 40; k++) {
        kern_tok *t = NULL;
        aria_alloc_fail_after(k, false);
        int rc = kern_tok_new(&voc, &t);
        aria_alloc_fail_after(0, false);
        if (rc == 0) {
            /* Encoding under failure too. */
            for (long j = 1; j < 12; j++) {
                int32_t ids[64];
                size_t n;
                aria_alloc_fail_after(j, false);
                rc = kern_tok_encode(t, "Hello <|eot_id|> world 123", 26, true, ids, 64, &n);
                aria_alloc_fail_after(0, false);
                cr_assert(rc == 0 || rc == ARIA_ENOMEM);
            }
            kern_tok_free(t);
        } else {
            cr_assert(rc == ARIA_ENOMEM, "k=%ld rc=%d", k, rc);
            cr_assert_null(t);
        }
    }
    tt_bpe_free(&v);
}

/* ------------------------------------------------------------------ */
/* GGUF                                                                 */
/* ------------------------------------------------------------------ */

typedef enum {
    BAD_NONE,
    BAD_MODEL,
    BAD_NO_MODEL,
    BAD_TOKENS_TYPE,
    BAD_SCORES_LEN,
    BAD_MERGE,
    BAD_TYPE_VALUE,
    BAD_NO_TOKENS
} bad_kind;

static void
write_vocab_gguf(const char *path, const tt_bpe *v, bad_kind bad)
{
    kern_gguf_writer *w = NULL;
    cr_assert_eq(kern_gguf_writer_new(&w), 0);
    cr_assert_eq(kern_gguf_writer_add_str(w, "general.architecture", "llama"), 0);
    if (bad != BAD_NO_MODEL)
        cr_assert_eq(
            kern_gguf_writer_add_str(w, "tokenizer.ggml.model", bad == BAD_MODEL ? "bert" : "gpt2"),
            0);
    cr_assert_eq(kern_gguf_writer_add_str(w, "tokenizer.ggml.pre", "llama-bpe"), 0);
    if (bad == BAD_TOKENS_TYPE) {
        uint32_t x[3] = {1, 2, 3};
        cr_assert_eq(kern_gguf_writer_add_arr(w, "tokenizer.ggml.tokens", KERN_GGUF_U32, x, 3), 0);
    } else if (bad != BAD_NO_TOKENS) {
        cr_assert_eq(kern_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens",
                                                  (const char *const *)v->tokens, NULL,
                                                  v->n_tokens),
                     0);
    }
    int32_t *types = malloc(v->n_tokens * sizeof *types);
    memcpy(types, v->types, v->n_tokens * sizeof *types);
    if (bad == BAD_TYPE_VALUE)
        types[7] = 42;
    cr_assert_eq(
        kern_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", KERN_GGUF_I32, types, v->n_tokens),
        0);
    free(types);
    if (bad == BAD_SCORES_LEN) {
        float sc[2] = {0, 0};
        cr_assert_eq(kern_gguf_writer_add_arr(w, "tokenizer.ggml.scores", KERN_GGUF_F32, sc, 2), 0);
    }
    char **merges = v->merges;
    char *bad_merge = NULL;
    if (bad == BAD_MERGE) {
        merges = malloc(v->n_merges * sizeof *merges);
        memcpy(merges, v->merges, v->n_merges * sizeof *merges);
        bad_merge = strdup("nospace");
        merges[3] = bad_merge;
    }
    cr_assert_eq(kern_gguf_writer_add_arr_str(w, "tokenizer.ggml.merges",
                                              (const char *const *)merges, NULL, v->n_merges),
                 0);
    if (bad == BAD_MERGE) {
        free(merges);
        free(bad_merge);
    }
    cr_assert_eq(
        kern_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->n_tokens - 2), 0);
    cr_assert_eq(
        kern_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->n_tokens - 1), 0);
    cr_assert_eq(kern_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true), 0);
    cr_assert_eq(kern_gguf_writer_write(w, path), 0, "%s", aria_err_msg());
    kern_gguf_writer_free(w);
}

Test(tok_gguf, bpe_vocabulary_round_trips_through_a_gguf_file)
{
    tt_bpe v;
    kern_tok *ref = tt_make_bpe(KERN_TOK_PRE_LLAMA3, &v);
    char path[64];
    aria_snprintf(path, sizeof path, "tok_vocab_%d.gguf", (int)getpid());
    write_vocab_gguf(path, &v, BAD_NONE);
    kern_gguf *g = NULL;
    cr_assert_eq(kern_gguf_open(path, &g), 0, "%s", aria_err_msg());
    kern_tok *t = NULL;
    cr_assert_eq(kern_tok_from_gguf(g, &t), 0, "%s", aria_err_msg());
    cr_assert_eq(kern_tok_kind_of(t), KERN_TOK_BPE);
    cr_assert_eq(kern_tok_pre_of(t), KERN_TOK_PRE_LLAMA3);
    cr_assert_eq(kern_tok_bos(t), (int32_t)v.n_tokens - 2);
    cr_assert_eq(kern_tok_eot(t), (int32_t)v.n_tokens - 1); /* found by its text */
    cr_assert(kern_tok_adds_bos(t));
    const char *s = "Hello the quick brown fox, it's 12345 Straße 東京 😀!\n\n";
    size_t n1, n2;
    int32_t *a = tt_encode(ref, s, strlen(s), KERN_TOK_ADD_SPECIAL, &n1);
    int32_t *b = tt_encode(t, s, strlen(s), KERN_TOK_ADD_SPECIAL, &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(a, b, n1 * sizeof *a), 0);
    free(a);
    free(b);
    kern_tok_free(t);
    kern_tok_free(ref);
    kern_gguf_close(g);
    unlink(path);
    tt_bpe_free(&v);
}

Test(tok_gguf, malformed_tokenizer_metadata_gives_clear_errors)
{
    tt_bpe v;
    tt_bpe_build(&v, tt_words, ARIA_ARRAY_LEN(tt_words));
    const struct {
        bad_kind bad;
        int rc;
        const char *msg;
    } cases[] = {
        {BAD_MODEL, ARIA_EUNSUPPORTED, "bert"},
        {BAD_NO_MODEL, ARIA_ENOTFOUND, "tokenizer.ggml.model"},
        {BAD_NO_TOKENS, ARIA_EPROTO, "tokenizer.ggml.tokens"},
        {BAD_TOKENS_TYPE, ARIA_EPROTO, "tokenizer.ggml.tokens"},
        {BAD_SCORES_LEN, ARIA_EPROTO, "scores"},
        {BAD_MERGE, ARIA_EPROTO, "merges[3]"},
        {BAD_TYPE_VALUE, ARIA_EPROTO, "token_type[7]"},
    };
    for (size_t i = 0; i < ARIA_ARRAY_LEN(cases); i++) {
        char path[64];
        aria_snprintf(path, sizeof path, "tok_bad_%d_%zu.gguf", (int)getpid(), i);
        write_vocab_gguf(path, &v, cases[i].bad);
        kern_gguf *g = NULL;
        cr_assert_eq(kern_gguf_open(path, &g), 0, "%s", aria_err_msg());
        kern_tok *t = NULL;
        int rc = kern_tok_from_gguf(g, &t);
        cr_assert_eq(rc, cases[i].rc, "case %zu: rc %d (%s)", i, rc, aria_err_msg());
        cr_assert(strstr(aria_err_msg(), cases[i].msg) != NULL, "case %zu: '%s'", i,
                  aria_err_msg());
        cr_assert_null(t);
        kern_gguf_close(g);
        unlink(path);
    }
    tt_bpe_free(&v);
}
