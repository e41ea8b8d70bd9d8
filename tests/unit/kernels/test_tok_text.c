/*
 * test_tok_text.c — text-level tokenizer properties: decode(encode(x)) == x
 * on the UTF-8 torture corpus (SPM reference vocabulary and a byte-level BPE
 * vocabulary), the streaming decoder (holds partial UTF-8, replaces invalid
 * bytes per maximal subpart, same output however the bytes are chunked) and
 * the chat templates.
 */
#include "test_tok_util.h"

static bool
contains(const char *s, size_t n, const char *needle)
{
    size_t l = strlen(needle);
    for (size_t i = 0; i + l <= n; i++)
        if (memcmp(s + i, needle, l) == 0)
            return true;
    return false;
}

/* Check that b[0..n) is valid UTF-8. */
static bool
valid_utf8(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = tok_utf8_next(b + i, n - i, &cp);
        if (cp == TOK_CP_INVALID)
            return false;
        i += k;
    }
    return true;
}

/* decode(encode(x)) == x through the batch decoder, and through the stream
 * when x is valid UTF-8. */
static void
check_round_trip(const kern_tok *t, const char *s, size_t n, unsigned dec_flags, const char *what)
{
    size_t k;
    int32_t *ids = tt_encode(t, s, n, KERN_TOK_ADD_SPECIAL, &k);
    aria_buf out;
    aria_buf_init(&out, 0);
    TT_CHECK(kern_tok_decode(t, ids, k, dec_flags, &out) == 0, "%s: decode failed", what);
    if (!(out.len == n && (n == 0 || memcmp(out.data, s, n) == 0))) {
        fprintf(stderr, "%s: round trip failed\n in :", what);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %02x", (uint8_t)s[i]);
        fprintf(stderr, "\n out:");
        for (size_t i = 0; i < out.len; i++)
            fprintf(stderr, " %02x", out.data[i]);
        fprintf(stderr, "\n ids:");
        for (size_t i = 0; i < k; i++)
            fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
        cr_assert_fail("%s: round trip of %zu bytes gave %zu bytes", what, n, out.len);
    }
    aria_buf_reset(&out);
    if (!valid_utf8((const uint8_t *)s, n)) {
        aria_buf_fini(&out); /* the stream replaces invalid bytes: tested below */
        free(ids);
        return;
    }
    kern_tok_stream st;
    kern_tok_stream_init(&st, t, dec_flags);
    for (size_t i = 0; i < k; i++)
        TT_CHECK(kern_tok_stream_push(&st, ids[i], &out) == 0, "%s: push", what);
    TT_CHECK(kern_tok_stream_flush(&st, &out) == 0, "%s: flush", what);
    TT_CHECK(out.len == n && (n == 0 || memcmp(out.data, s, n) == 0),
             "%s: streamed round trip of '%.*s'", what, (int)n, s);
    aria_buf_fini(&out);
    free(ids);
}

Test(tok_round_trip, spm_torture_corpus)
{
    kern_tok *t = tt_load_tiny(NULL);
    tt_case *c;
    size_t n = tt_load_torture(&c);
    cr_assert(n >= 400, "corpus has %zu cases", n);
    size_t checked = 0;
    uint64_t rs = 42;
    for (size_t i = 0; i < n; i++) {
        /* SPM cannot round-trip a literal U+2581 (it means space) nor the
         * text of a special token (parsed as the token): skip those. */
        if (contains(c[i].s, c[i].n, "\xe2\x96\x81") || contains(c[i].s, c[i].n, "<s>") ||
            contains(c[i].s, c[i].n, "</s>") || contains(c[i].s, c[i].n, "<unk>"))
            continue;
        check_round_trip(t, c[i].s, c[i].n, KERN_TOK_DECODE_SKIP_BOS | KERN_TOK_DECODE_STRIP_SPACE,
                         "spm");
        checked++;
        /* And a concatenation with another random case. */
        size_t j = (size_t)(tt_rand(&rs) % n);
        if (contains(c[j].s, c[j].n, "\xe2\x96\x81") || contains(c[j].s, c[j].n, "<"))
            continue;
        char *cat = malloc(c[i].n + c[j].n + 1);
        memcpy(cat, c[i].s, c[i].n);
        memcpy(cat + c[i].n, c[j].s, c[j].n);
        check_round_trip(t, cat, c[i].n + c[j].n,
                         KERN_TOK_DECODE_SKIP_BOS | KERN_TOK_DECODE_STRIP_SPACE, "spm cat");
        free(cat);
    }
    cr_assert(checked >= 400, "checked %zu", checked);
    tt_free_torture(c, n);
    kern_tok_free(t);
}

Test(tok_round_trip, bpe_torture_corpus_both_pretokenizers)
{
    for (int pre = KERN_TOK_PRE_GPT2; pre <= KERN_TOK_PRE_LLAMA3; pre++) {
        tt_bpe v;
        kern_tok *t = tt_make_bpe((kern_tok_pre)pre, &v);
        tt_case *c;
        size_t n = tt_load_torture(&c);
        for (size_t i = 0; i < n; i++)
            check_round_trip(t, c[i].s, c[i].n, KERN_TOK_DECODE_SKIP_BOS, "bpe");
        tt_free_torture(c, n);
        kern_tok_free(t);
        tt_bpe_free(&v);
    }
}

Test(tok_round_trip, bpe_keeps_arbitrary_bytes)
{
    tt_bpe v;
    kern_tok *t = tt_make_bpe(KERN_TOK_PRE_LLAMA3, &v);
    uint64_t rs = 7;
    for (int iter = 0; iter < 300; iter++) {
        char buf[64];
        size_t n = (size_t)(tt_rand(&rs) % sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(tt_rand(&rs) & 0xFF);
        /* Avoid forming "<|" special texts by chance: they are parsed. */
        for (size_t i = 0; i < n; i++)
            if (buf[i] == '<')
                buf[i] = '>';
        check_round_trip(t, buf, n, KERN_TOK_DECODE_SKIP_BOS, "bpe bytes");
    }
    kern_tok_free(t);
    tt_bpe_free(&v);
}

Test(tok_round_trip, spm_keeps_arbitrary_bytes_through_byte_fallback)
{
    kern_tok *t = tt_load_tiny(NULL);
    uint64_t rs = 9;
    for (int iter = 0; iter < 300; iter++) {
        char buf[48];
        size_t n = (size_t)(tt_rand(&rs) % sizeof buf);
        for (size_t i = 0; i < n; i++) {
            buf[i] = (char)(tt_rand(&rs) & 0xFF);
            if (buf[i] == '<' || (uint8_t)buf[i] == 0xE2)
                buf[i] = 'x'; /* no special texts, no U+2581 */
        }
        check_round_trip(t, buf, n, KERN_TOK_DECODE_SKIP_BOS | KERN_TOK_DECODE_STRIP_SPACE,
                         "spm bytes");
    }
    kern_tok_free(t);
}

Test(tok_decode, spm_pieces)
{
    kern_tok *t = tt_load_tiny(NULL);
    char p[64];
    int32_t sp = kern_tok_find(t, "\xe2\x96\x81the", 6);
    cr_assert(sp >= 0);
    cr_assert_eq(kern_tok_piece(t, sp, false, p, sizeof p), 4);
    cr_assert_eq(memcmp(p, " the", 4), 0);
    cr_assert_eq(kern_tok_piece(t, 13, false, p, sizeof p), 1); /* <0x0A> */
    cr_assert_eq(p[0], '\n');
    cr_assert_eq(kern_tok_piece(t, 1, false, p, sizeof p), 0); /* <s> hidden */
    cr_assert_eq(kern_tok_piece(t, 1, true, p, sizeof p), 3);
    /* A short buffer still reports the full length. */
    cr_assert_eq(kern_tok_piece(t, sp, false, p, 2), 4);
    int32_t bad[] = {sp, 32000};
    aria_buf out;
    aria_buf_init(&out, 0);
    cr_assert_eq(kern_tok_decode(t, bad, 2, 0, &out), ARIA_EINVAL);
    cr_assert(strstr(aria_err_msg(), "32000") != NULL);
    aria_buf_fini(&out);
    kern_tok_free(t);
}

/* ------------------------------------------------------------------ */
/* Streaming UTF-8                                                      */
/* ------------------------------------------------------------------ */

static void
stream_all(const void *p, size_t n, aria_buf *out)
{
    kern_tok_stream s;
    kern_tok_stream_init(&s, NULL, 0);
    TT_CHECK(kern_tok_stream_bytes(&s, p, n, out) == 0, "stream bytes");
    TT_CHECK(kern_tok_stream_flush(&s, out) == 0, "stream flush");
}

#define FFFD "\xEF\xBF\xBD"

Test(tok_stream, replaces_invalid_sequences_per_maximal_subpart)
{
    const struct {
        const char *in;
        size_t n;
        const char *want;
    } v[] = {
        {"abc", 3, "abc"},
        {"\x80", 1, FFFD},
        {"\xC0\xAF", 2, FFFD FFFD},                   /* overlong lead */
        {"\xE0\x80\x80", 3, FFFD FFFD FFFD},          /* E0 needs A0..BF */
        {"\xED\xA0\x80", 3, FFFD FFFD FFFD},          /* surrogate */
        {"\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD}, /* > U+10FFFF */
        {"\xE2\x82"
         "A",
         3, FFFD "A"},             /* truncated then ASCII */
        {"\xF0\x9F\x98", 3, FFFD}, /* truncated at the end */
        {"\xF0\x9F\x98\x80", 4, "\xF0\x9F\x98\x80"},
        {"\xFF\xFE", 2, FFFD FFFD},
        {"a\xC3", 2, "a" FFFD},
        {"\xC3\xA9\xC3", 3, "\xC3\xA9" FFFD},
    };
    for (size_t i = 0; i < ARIA_ARRAY_LEN(v); i++) {
        aria_buf out;
        aria_buf_init(&out, 0);
        stream_all(v[i].in, v[i].n, &out);
        size_t wl = strlen(v[i].want);
        cr_assert(out.len == wl && memcmp(out.data, v[i].want, wl) == 0, "case %zu", i);
        aria_buf_fini(&out);
    }
}

Test(tok_stream, holds_partial_characters_across_tokens)
{
    kern_tok *t = tt_load_tiny(NULL);
    /* 😀 as four byte-fallback tokens: nothing until the last one. */
    int32_t ids[] = {0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x80 + 3};
    kern_tok_stream s;
    kern_tok_stream_init(&s, t, 0);
    aria_buf out;
    aria_buf_init(&out, 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(kern_tok_stream_push(&s, ids[i], &out), 0);
        cr_assert_eq(out.len, 0, "emitted after byte %d", i);
    }
    cr_assert_eq(kern_tok_stream_push(&s, ids[3], &out), 0);
    cr_assert(out.len == 4 && memcmp(out.data, "\xF0\x9F\x98\x80", 4) == 0);
    /* An incomplete tail at the end becomes U+FFFD. */
    cr_assert_eq(kern_tok_stream_push(&s, 0xE2 + 3, &out), 0);
    cr_assert_eq(out.len, 4);
    cr_assert_eq(kern_tok_stream_push(&s, 32000, &out), ARIA_EINVAL);
    cr_assert_eq(kern_tok_stream_flush(&s, &out), 0);
    cr_assert(out.len == 7 && memcmp(out.data + 4, FFFD, 3) == 0);
    aria_buf_fini(&out);
    kern_tok_free(t);
}

Test(tok_stream, output_is_valid_and_independent_of_chunking)
{
    uint64_t rs = 1234;
    for (int iter = 0; iter < 2000; iter++) {
        uint8_t in[40];
        size_t n = (size_t)(tt_rand(&rs) % sizeof in);
        for (size_t i = 0; i < n; i++) {
            uint64_t r = tt_rand(&rs);
            /* Bias towards UTF-8-looking bytes. */
            in[i] = (r & 3) == 0   ? (uint8_t)(0x80 | ((r >> 8) & 0x3F))
                    : (r & 3) == 1 ? (uint8_t)(0xC0 | ((r >> 8) & 0x3F))
                                   : (uint8_t)(r >> 8);
        }
        aria_buf whole, parts;
        aria_buf_init(&whole, 0);
        aria_buf_init(&parts, 0);
        stream_all(in, n, &whole);
        kern_tok_stream s;
        kern_tok_stream_init(&s, NULL, 0);
        for (size_t i = 0; i < n;) {
            size_t k = 1 + (size_t)(tt_rand(&rs) % 4);
            if (k > n - i)
                k = n - i;
            TT_CHECK(kern_tok_stream_bytes(&s, in + i, k, &parts) == 0, "stream bytes");
            TT_CHECK(valid_utf8(parts.data, parts.len), "iteration %d: invalid output", iter);
            i += k;
        }
        TT_CHECK(kern_tok_stream_flush(&s, &parts) == 0, "flush");
        TT_CHECK(whole.len == parts.len &&
                     (whole.len == 0 || memcmp(whole.data, parts.data, whole.len) == 0),
                 "iteration %d: chunked output differs", iter);
        TT_CHECK(valid_utf8(whole.data, whole.len), "iteration %d: invalid output", iter);
        if (valid_utf8(in, n))
            TT_CHECK(whole.len == n && (n == 0 || memcmp(whole.data, in, n) == 0),
                     "iteration %d: valid input changed", iter);
        aria_buf_fini(&whole);
        aria_buf_fini(&parts);
    }
}

/* ------------------------------------------------------------------ */
/* Chat templates                                                       */
/* ------------------------------------------------------------------ */

static void
check_chat(kern_chat_tmpl k, const kern_chat_msg *m, size_t n, bool add, const char *want)
{
    aria_buf out;
    aria_buf_init(&out, 0);
    cr_assert_eq(kern_chat_format(k, m, n, add, &out), 0, "%s", aria_err_msg());
    cr_assert(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0, "%s: got '%.*s'",
              kern_chat_tmpl_name(k), (int)out.len, (const char *)out.data);
    aria_buf_fini(&out);
}

Test(tok_chat, formats_the_three_families)
{
    const kern_chat_msg m[] = {
        {"system", "Be brief."},
        {"user", " Hi! "},
        {"assistant", "Hello."},
        {"user", "Who are you?"},
    };
    check_chat(KERN_CHAT_BITNET, m + 1, 1, true, "User: Hi!<|eot_id|>Assistant: ");
    check_chat(KERN_CHAT_BITNET, m, 4, true,
               "System: Be brief.<|eot_id|>User: Hi!<|eot_id|>Assistant: Hello.<|eot_id|>"
               "User: Who are you?<|eot_id|>Assistant: ");
    check_chat(KERN_CHAT_LLAMA3, m, 2, true,
               "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
               "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\n");
    check_chat(KERN_CHAT_LLAMA2, m, 4, true,
               "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n Hi!  [/INST]Hello.</s>"
               "[INST] Who are you? [/INST]");
    aria_buf out;
    aria_buf_init(&out, 0);
    kern_chat_msg bad = {"robot", "x"};
    cr_assert_eq(kern_chat_format(KERN_CHAT_LLAMA3, &bad, 1, true, &out), ARIA_EINVAL);
    cr_assert(strstr(aria_err_msg(), "robot") != NULL);
    cr_assert_eq(kern_chat_format(KERN_CHAT_UNKNOWN, m, 1, true, &out), ARIA_EINVAL);
    aria_buf_fini(&out);
}

Test(tok_chat, detects_the_template_from_metadata)
{
    cr_assert_eq(
        kern_chat_detect("{{ '<|start_header_id|>' + role + '<|end_header_id|>' }}", "llama", NULL),
        KERN_CHAT_LLAMA3);
    cr_assert_eq(kern_chat_detect("{% set content = role + ': ' %}{{ 'Assistant: ' }}<|eot_id|>",
                                  NULL, NULL),
                 KERN_CHAT_BITNET);
    cr_assert_eq(kern_chat_detect("{{ '[INST] ' + content + ' [/INST]' }}", NULL, NULL),
                 KERN_CHAT_LLAMA2);
    cr_assert_eq(kern_chat_detect(NULL, "bitnet-b1.58", NULL), KERN_CHAT_BITNET);
    cr_assert_eq(kern_chat_detect("", "bitnet-25", NULL), KERN_CHAT_BITNET);
    cr_assert_eq(kern_chat_detect(NULL, "llama", NULL), KERN_CHAT_UNKNOWN);
    kern_gguf *g = NULL;
    kern_tok *t = tt_load_tiny(&g);
    cr_assert_eq(kern_chat_detect_gguf(g, t), KERN_CHAT_LLAMA2); /* SPM, arch bitnet, no template */
    kern_gguf_close(g);
    kern_tok_free(t);
    tt_bpe v;
    t = tt_make_bpe(KERN_TOK_PRE_LLAMA3, &v);
    cr_assert_eq(kern_chat_detect(NULL, "llama", t), KERN_CHAT_UNKNOWN);
    kern_tok_free(t);
    tt_bpe_free(&v);
    kern_chat_tmpl k;
    cr_assert_eq(kern_chat_tmpl_parse("llama3", &k), 0);
    cr_assert_eq(k, KERN_CHAT_LLAMA3);
    cr_assert_eq(kern_chat_tmpl_parse("chatml", &k), ARIA_EINVAL);
}
