/*
 * fuzz_tok.c — fuzz target for the tokenizers. The first input byte picks a
 * mode; the rest is the payload:
 *   0 SPM encode (byte fallback vocabulary): decode must give the bytes back
 *     (U+2581 and special texts aside, which SPM cannot round-trip);
 *   1 / 2 BPE encode with the GPT-2 / Llama-3 pre-tokenizer: decode must give
 *     the bytes back exactly;
 *   3 decode arbitrary ids (int32 LE, any value) through the stream: output
 *     must be valid UTF-8, out-of-range ids must fail cleanly;
 *   4 stream raw bytes in chunks: valid UTF-8 out, equal to the input when the
 *     input is valid;
 *   5 build an SPM vocabulary from the payload (tokens split on '\n') and
 *     encode the payload with it;
 *   6 chat templates over messages split on '\n'.
 * Any broken property aborts (a crash for libFuzzer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "tok_impl.h"

static kern_tok *spm, *bpe_gpt2, *bpe_llama3;

static void
check(bool cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_tok: property failed: %s\n", what);
        abort();
    }
}

static kern_tok *
make_spm(void)
{
    static char bytes[256][8];
    static const char *const words[] = {"\xe2\x96\x81",
                                        "\xe2\x96\x81the",
                                        "\xe2\x96\x81"
                                        "a",
                                        "th",
                                        "he",
                                        "the",
                                        "in",
                                        "ing",
                                        "\xe2\x96\x81"
                                        "in",
                                        "e",
                                        "t",
                                        "a",
                                        "h",
                                        "i",
                                        "n",
                                        "g",
                                        "\xc3\xa9",
                                        "\xe6\x9d\xb1"};
    const char *toks[3 + 256 + ARIA_ARRAY_LEN(words)];
    float scores[ARIA_ARRAY_LEN(toks)];
    int32_t types[ARIA_ARRAY_LEN(toks)];
    size_t n = 0;
    toks[n] = "<unk>", types[n] = KERN_TOK_TYPE_UNKNOWN, scores[n++] = 0;
    toks[n] = "<s>", types[n] = KERN_TOK_TYPE_CONTROL, scores[n++] = 0;
    toks[n] = "</s>", types[n] = KERN_TOK_TYPE_CONTROL, scores[n++] = 0;
    for (int b = 0; b < 256; b++) {
        aria_snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        toks[n] = bytes[b], types[n] = KERN_TOK_TYPE_BYTE, scores[n++] = 0;
    }
    for (size_t i = 0; i < ARIA_ARRAY_LEN(words); i++)
        toks[n] = words[i], types[n] = KERN_TOK_TYPE_NORMAL, scores[n++] = -(float)i;
    kern_tok_vocab v;
    memset(&v, 0, sizeof v);
    v.kind = KERN_TOK_SPM;
    v.n_tokens = n;
    v.tokens = toks;
    v.scores = scores;
    v.types = types;
    v.unk_id = 0;
    v.bos_id = 1;
    v.eos_id = 2;
    v.eot_id = v.pad_id = -1;
    v.add_bos = true;
    v.add_space_prefix = true;
    kern_tok *t = NULL;
    check(kern_tok_new(&v, &t) == 0, "spm vocabulary");
    return t;
}

static kern_tok *
make_bpe(kern_tok_pre pre)
{
    static const char *const words[] = {" the",
                                        "ing",
                                        " a",
                                        "he",
                                        "123",
                                        "  ",
                                        "\n\n",
                                        "'s",
                                        " \xc3\xa9t\xc3\xa9",
                                        "\xe6\x9d\xb1\xe4\xba\xac"};
    char *toks[600];
    const char *ctoks[600];
    char *merges[300];
    size_t n = 0, nm = 0;
    for (int b = 0; b < 256; b++) {
        toks[n] = calloc(1, 8);
        tok_utf8_put(tok_byte_to_cp((uint8_t)b), (uint8_t *)toks[n]);
        n++;
    }
    for (size_t w = 0; w < ARIA_ARRAY_LEN(words); w++) {
        char prefix[128] = {0};
        size_t pl = 0;
        for (size_t i = 0; words[w][i]; i++) {
            uint8_t u[4];
            size_t k = tok_utf8_put(tok_byte_to_cp((uint8_t)words[w][i]), u);
            if (i > 0) {
                char m[300];
                aria_snprintf(m, sizeof m, "%.*s %.*s", (int)pl, prefix, (int)k, (char *)u);
                merges[nm++] = strdup(m);
            }
            memcpy(prefix + pl, u, k);
            pl += k;
            if (i > 0) {
                toks[n] = calloc(1, pl + 1);
                memcpy(toks[n], prefix, pl);
                n++;
            }
        }
    }
    toks[n++] = strdup("<|begin_of_text|>");
    toks[n++] = strdup("<|eot_id|>");
    int32_t types[600];
    for (size_t i = 0; i < n; i++) {
        ctoks[i] = toks[i];
        types[i] = i + 2 >= n ? KERN_TOK_TYPE_CONTROL : KERN_TOK_TYPE_NORMAL;
    }
    kern_tok_vocab v;
    memset(&v, 0, sizeof v);
    v.kind = KERN_TOK_BPE;
    v.pre = pre;
    v.n_tokens = n;
    v.tokens = ctoks;
    v.types = types;
    v.n_merges = nm;
    v.merges = (const char *const *)merges;
    v.bos_id = (int32_t)n - 2;
    v.eos_id = v.eot_id = (int32_t)n - 1;
    v.unk_id = v.pad_id = -1;
    v.add_bos = true;
    kern_tok *t = NULL;
    check(kern_tok_new(&v, &t) == 0, "bpe vocabulary");
    for (size_t i = 0; i < n; i++)
        free(toks[i]);
    for (size_t i = 0; i < nm; i++)
        free(merges[i]);
    return t;
}

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

static bool
has(const uint8_t *d, size_t n, const char *s)
{
    size_t l = strlen(s);
    for (size_t i = 0; i + l <= n; i++)
        if (memcmp(d + i, s, l) == 0)
            return true;
    return false;
}

static void
round_trip(const kern_tok *t, const uint8_t *d, size_t n, unsigned dflags, bool must_match)
{
    size_t k = 0;
    int rc = kern_tok_encode_ex(t, (const char *)d, n, KERN_TOK_ADD_SPECIAL, NULL, 0, &k);
    check(rc == 0 || rc == ARIA_ERANGE, "encode size");
    int32_t *ids = malloc((k + 1) * sizeof *ids);
    size_t k2 = 0;
    check(kern_tok_encode_ex(t, (const char *)d, n, KERN_TOK_ADD_SPECIAL, ids, k, &k2) == 0,
          "encode");
    check(k2 == k, "encode count stable");
    for (size_t i = 0; i < k; i++)
        check(ids[i] >= 0 && (size_t)ids[i] < kern_tok_n_vocab(t), "id in range");
    aria_buf out;
    aria_buf_init(&out, 0);
    check(kern_tok_decode(t, ids, k, dflags, &out) == 0, "decode");
    if (must_match)
        check(out.len == n && (n == 0 || memcmp(out.data, d, n) == 0), "round trip");
    free(ids);
    aria_buf_fini(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!spm) {
        spm = make_spm();
        bpe_gpt2 = make_bpe(KERN_TOK_PRE_GPT2);
        bpe_llama3 = make_bpe(KERN_TOK_PRE_LLAMA3);
    }
    if (size == 0)
        return 0;
    uint8_t mode = data[0] % 7;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    if (n > 4096)
        n = 4096;
    switch (mode) {
    case 0:
        round_trip(spm, d, n, KERN_TOK_DECODE_SKIP_BOS | KERN_TOK_DECODE_STRIP_SPACE,
                   !has(d, n, "\xe2\x96\x81") && !has(d, n, "<"));
        break;
    case 1:
    case 2:
        round_trip(mode == 1 ? bpe_gpt2 : bpe_llama3, d, n, KERN_TOK_DECODE_SKIP_BOS,
                   !has(d, n, "<|"));
        break;
    case 3: {
        const kern_tok *t = (n & 1) ? spm : bpe_llama3;
        kern_tok_stream s;
        kern_tok_stream_init(&s, t, (n & 2) ? KERN_TOK_DECODE_SPECIAL : 0);
        aria_buf out;
        aria_buf_init(&out, 0);
        for (size_t i = 0; i + 4 <= n; i += 4) {
            int32_t id = (int32_t)aria_load_u32le(d + i);
            if (i % 8 == 0) /* keep half the ids in range */
                id = (int32_t)((uint32_t)id % (kern_tok_n_vocab(t) + 3));
            int rc = kern_tok_stream_push(&s, id, &out);
            bool in = id >= 0 && (size_t)id < kern_tok_n_vocab(t);
            check(in ? rc == 0 : rc == ARIA_EINVAL, "stream push result");
            check(valid_utf8(out.data, out.len), "stream output valid");
        }
        check(kern_tok_stream_flush(&s, &out) == 0, "flush");
        check(valid_utf8(out.data, out.len), "stream output valid at end");
        aria_buf_fini(&out);
        break;
    }
    case 4: {
        kern_tok_stream s;
        kern_tok_stream_init(&s, NULL, 0);
        aria_buf out;
        aria_buf_init(&out, 0);
        size_t step = n ? 1 + d[0] % 5 : 1;
        for (size_t i = 0; i < n; i += step)
            check(kern_tok_stream_bytes(&s, d + i, i + step <= n ? step : n - i, &out) == 0,
                  "stream bytes");
        check(kern_tok_stream_flush(&s, &out) == 0, "flush");
        check(valid_utf8(out.data, out.len), "stream output valid");
        if (valid_utf8(d, n))
            check(out.len == n && (n == 0 || memcmp(out.data, d, n) == 0), "valid input kept");
        aria_buf_fini(&out);
        break;
    }
    case 5: {
        const char *toks[64];
        size_t lens[64], nt = 0, start = 0;
        for (size_t i = 0; i <= n && nt < 64; i++)
            if (i == n || d[i] == '\n') {
                toks[nt] = (const char *)d + start;
                lens[nt++] = i - start;
                start = i + 1;
            }
        kern_tok_vocab v;
        memset(&v, 0, sizeof v);
        v.kind = (n & 1) ? KERN_TOK_SPM : KERN_TOK_BPE;
        v.pre = (n & 2) ? KERN_TOK_PRE_LLAMA3 : KERN_TOK_PRE_GPT2;
        v.n_tokens = nt;
        v.tokens = toks;
        v.token_lens = lens;
        v.bos_id = v.eos_id = v.eot_id = v.unk_id = v.pad_id = -1;
        v.add_space_prefix = true;
        kern_tok *t = NULL;
        if (kern_tok_new(&v, &t) == 0) {
            round_trip(t, d, n, 0, false);
            kern_tok_free(t);
        }
        break;
    }
    case 6: {
        static const char *const roles[] = {"system", "user", "assistant"};
        char *copy = malloc(n + 1);
        memcpy(copy, d, n);
        copy[n] = 0;
        kern_chat_msg m[16];
        size_t nm = 0;
        char *p = copy;
        while (nm < 16) {
            char *nl = strchr(p, '\n');
            m[nm].role = roles[nm % 3];
            m[nm].content = p;
            nm++;
            if (!nl)
                break;
            *nl = 0;
            p = nl + 1;
        }
        for (int k = KERN_CHAT_LLAMA2; k <= KERN_CHAT_BITNET; k++) {
            aria_buf out;
            aria_buf_init(&out, 0);
            check(kern_chat_format((kern_chat_tmpl)k, m, nm, true, &out) == 0, "chat format");
            aria_buf_fini(&out);
        }
        (void)kern_chat_detect(copy, copy, spm);
        free(copy);
        break;
    }
    }
    return 0;
}
