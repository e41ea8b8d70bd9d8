/*
 * tok_parity.c VOCAB.json CASES.json OUT.gguf [PRE.json] — tokenizer id parity.
 *
 * Writes the vocabulary (tokens, token types, merges or scores, special ids)
 * as a GGUF with our writer, the keys llama.cpp's converter writes (BPE:
 * tokenizer.ggml.model = gpt2, pre = llama-bpe; with "model": "llama" in
 * VOCAB.json an SPM vocabulary with scores), loads it back
 * with kern_tok_from_gguf, and for every case compares our ids with the
 * reference ids. Also checks (BPE) that decoding our ids gives the string back and
 * that encoding with add_special puts BOS first. Prints every mismatch (the
 * first 20 in detail) and a final "N passed, N failed" line. Exit 0 only
 * when every case matches and there were at least 1,000 cases.
 * With PRE.json, also compares our GPT-2 and Llama-3 pre-tokenizer splits
 * with the splits node's regex engine made of the same strings.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "tok_impl.h"

static int
fail(const char *what)
{
    fprintf(stderr, "tok_parity: %s: %s\n", what, aria_err_msg());
    return 1;
}

static int
write_gguf(json_t *v, const char *path)
{
    json_t *jt = json_object_get(v, "tokens"), *jty = json_object_get(v, "types"),
           *jm = json_object_get(v, "merges");
    if (!json_is_array(jt) || !json_is_array(jty) || !json_is_array(jm) ||
        json_array_size(jt) != json_array_size(jty)) {
        fprintf(stderr, "tok_parity: vocab.json lacks tokens/types/merges\n");
        return 1;
    }
    size_t n = json_array_size(jt), nm = json_array_size(jm);
    const char **toks = malloc(n * sizeof *toks);
    size_t *lens = malloc(n * sizeof *lens);
    int32_t *types = malloc(n * sizeof *types);
    const char **merges = malloc(nm * sizeof *merges);
    for (size_t i = 0; i < n; i++) {
        toks[i] = json_string_value(json_array_get(jt, i));
        lens[i] = json_string_length(json_array_get(jt, i));
        types[i] = (int32_t)json_integer_value(json_array_get(jty, i));
    }
    for (size_t i = 0; i < nm; i++)
        merges[i] = json_string_value(json_array_get(jm, i));
    kern_gguf_writer *w = NULL;
    int rc = kern_gguf_writer_new(&w);
    if (rc == 0)
        rc = kern_gguf_writer_add_str(w, "general.architecture", "llama");
    const char *model = json_string_value(json_object_get(v, "model"));
    bool spm = model && strcmp(model, "llama") == 0;
    if (rc == 0)
        rc = kern_gguf_writer_add_str(w, "tokenizer.ggml.model", spm ? "llama" : "gpt2");
    if (rc == 0 && !spm)
        rc = kern_gguf_writer_add_str(w, "tokenizer.ggml.pre", "llama-bpe");
    json_t *js = json_object_get(v, "scores");
    if (rc == 0 && spm && json_array_size(js) == n) {
        float *sc = malloc(n * sizeof *sc);
        for (size_t i = 0; i < n; i++)
            sc[i] = (float)json_number_value(json_array_get(js, i));
        rc = kern_gguf_writer_add_arr(w, "tokenizer.ggml.scores", KERN_GGUF_F32, sc, n);
        free(sc);
    }
    if (rc == 0)
        rc = kern_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, lens, n);
    if (rc == 0)
        rc = kern_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", KERN_GGUF_I32, types, n);
    if (rc == 0 && nm > 0)
        rc = kern_gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", merges, NULL, nm);
    if (rc == 0)
        rc = kern_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id",
                                      (uint32_t)json_integer_value(json_object_get(v, "bos")));
    if (rc == 0)
        rc = kern_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id",
                                      (uint32_t)json_integer_value(json_object_get(v, "eos")));
    if (rc == 0)
        rc = kern_gguf_writer_write(w, path);
    kern_gguf_writer_free(w);
    free(toks);
    free(lens);
    free(types);
    free(merges);
    return rc == 0 ? 0 : fail("writing the vocabulary GGUF");
}

typedef struct split_ctx {
    const char *text;
    json_t *want; /* array of strings */
    size_t k;
    bool ok;
} split_ctx;

static int
split_cb(void *vctx, size_t off, size_t len)
{
    split_ctx *c = vctx;
    json_t *w = json_array_get(c->want, c->k++);
    if (!w || json_string_length(w) != len || memcmp(json_string_value(w), c->text + off, len) != 0)
        c->ok = false;
    return 0;
}

/* Compare both pre-tokenizers with the reference splits; counts cases. */
static void
check_splits(const char *path, size_t *passed, size_t *failed)
{
    json_error_t jerr;
    json_t *pre = json_load_file(path, 0, &jerr);
    if (!json_is_array(pre)) {
        fprintf(stderr, "tok_parity: %s: %s\n", path, pre ? "not an array" : jerr.text);
        (*failed)++;
        return;
    }
    static const struct {
        const char *key;
        kern_tok_pre pre;
    } kinds[] = {{"gpt2", KERN_TOK_PRE_GPT2}, {"llama3", KERN_TOK_PRE_LLAMA3}};
    size_t idx;
    json_t *c;
    json_array_foreach(pre, idx, c)
    {
        json_t *jt = json_object_get(c, "text");
        for (size_t k = 0; k < 2; k++) {
            split_ctx sc = {json_string_value(jt), json_object_get(c, kinds[k].key), 0, true};
            if (!sc.text || !json_is_array(sc.want) ||
                tok_pre_split(kinds[k].pre, sc.text, json_string_length(jt), split_cb, &sc) < 0)
                sc.ok = false;
            if (sc.ok && sc.k == json_array_size(sc.want)) {
                (*passed)++;
                continue;
            }
            (*failed)++;
            fprintf(stderr, "pre case %zu (%s): split differs from the regex: %s\n", idx,
                    kinds[k].key, sc.text ? sc.text : "?");
        }
    }
    json_decref(pre);
}

static void
print_ids(const char *label, const int32_t *ids, size_t n)
{
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

int
main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: tok_parity VOCAB.json CASES.json OUT.gguf [PRE.json]\n");
        return 2;
    }
    json_error_t jerr;
    json_t *voc = json_load_file(argv[1], 0, &jerr);
    if (!voc) {
        fprintf(stderr, "tok_parity: %s: %s\n", argv[1], jerr.text);
        return 1;
    }
    if (write_gguf(voc, argv[3]))
        return 1;
    int32_t bos = (int32_t)json_integer_value(json_object_get(voc, "bos"));
    int32_t eot = (int32_t)json_integer_value(json_object_get(voc, "eot"));
    json_decref(voc);

    kern_gguf *g = NULL;
    if (kern_gguf_open(argv[3], &g) < 0)
        return fail("opening the vocabulary GGUF");
    kern_tok *t = NULL;
    if (kern_tok_from_gguf(g, &t) < 0)
        return fail("kern_tok_from_gguf");
    bool meta_ok = kern_tok_kind_of(t) == KERN_TOK_SPM
                       ? kern_tok_bos(t) == bos
                       : kern_tok_pre_of(t) == KERN_TOK_PRE_LLAMA3 && kern_tok_bos(t) == bos &&
                             kern_tok_eot(t) == eot;
    if (!meta_ok || !kern_tok_adds_bos(t)) {
        fprintf(stderr,
                "tok_parity: tokenizer metadata not as written (kind %d pre %d bos %d "
                "eot %d)\n",
                kern_tok_kind_of(t), kern_tok_pre_of(t), kern_tok_bos(t), kern_tok_eot(t));
        return 1;
    }

    json_t *cases = json_load_file(argv[2], 0, &jerr);
    if (!json_is_array(cases)) {
        fprintf(stderr, "tok_parity: %s: %s\n", argv[2], cases ? "not an array" : jerr.text);
        return 1;
    }
    size_t passed = 0, failed = 0, n_ids_total = 0;
    size_t cap = 1 << 16;
    int32_t *ids = malloc(cap * sizeof *ids), *ref = malloc(cap * sizeof *ref);
    aria_buf dec;
    aria_buf_init(&dec, 0);
    size_t idx;
    json_t *c;
    json_array_foreach(cases, idx, c)
    {
        json_t *jtext = json_object_get(c, "text"), *jids = json_object_get(c, "ids");
        const char *text = json_string_value(jtext);
        size_t len = json_string_length(jtext);
        size_t nref = json_array_size(jids);
        if (!text || nref >= cap) {
            fprintf(stderr, "case %zu: malformed\n", idx);
            failed++;
            continue;
        }
        for (size_t i = 0; i < nref; i++)
            ref[i] = (int32_t)json_integer_value(json_array_get(jids, i));
        size_t n = 0;
        int rc = kern_tok_encode_ex(t, text, len, KERN_TOK_PARSE_SPECIAL, ids, cap, &n);
        bool ok = rc == 0 && n == nref && memcmp(ids, ref, n * sizeof *ids) == 0;
        /* Decoding (specials rendered) gives the text back. */
        bool dec_ok = true;
        if (ok && kern_tok_kind_of(t) == KERN_TOK_BPE) {
            aria_buf_reset(&dec);
            dec_ok = kern_tok_decode(t, ids, n, KERN_TOK_DECODE_SPECIAL, &dec) == 0 &&
                     dec.len == len && memcmp(dec.data, text, len) == 0;
        }
        /* With add_special the same ids follow BOS. */
        size_t n2 = 0;
        bool bos_ok = ok && kern_tok_encode(t, text, len, true, ids, cap, &n2) == 0 &&
                      n2 == n + 1 && ids[0] == bos && memcmp(ids + 1, ref, n * sizeof *ids) == 0;
        if (ok && dec_ok && bos_ok) {
            passed++;
            n_ids_total += n;
            continue;
        }
        failed++;
        if (failed <= 20) {
            fprintf(stderr, "case %zu: %s: \"", idx,
                    !ok       ? "ids differ"
                    : !dec_ok ? "decode differs"
                              : "BOS missing");
            for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)text[i];
                if (ch < 0x20 || ch == '"' || ch == '\\')
                    fprintf(stderr, "\\x%02x", ch);
                else
                    fputc(ch, stderr);
            }
            fprintf(stderr, "\"\n");
            if (!ok) {
                if (kern_tok_encode_ex(t, text, len, KERN_TOK_PARSE_SPECIAL, ids, cap, &n) == 0)
                    print_ids("ours", ids, n);
                print_ids("ref ", ref, nref);
            }
        }
    }
    aria_buf_fini(&dec);
    free(ids);
    free(ref);
    json_decref(cases);
    bool spm = kern_tok_kind_of(t) == KERN_TOK_SPM;
    kern_tok_free(t);
    kern_gguf_close(g);
    printf("tok_parity: %s vs @lenml/%s: %zu strings, %zu ids compared\n",
           spm ? "SPM" : "Llama-3 BPE", spm ? "tokenizer-llama2" : "tokenizer-llama3",
           passed + failed, n_ids_total);
    size_t n_id_cases = passed + failed;
    if (argc == 5) {
        size_t sp = 0, sf = 0;
        check_splits(argv[4], &sp, &sf);
        printf("tok_parity: pre-tokenizer splits vs node's regex engine (GPT-2, Llama-3): %zu "
               "passed, %zu failed\n",
               sp, sf);
        passed += sp;
        failed += sf;
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    if (n_id_cases < 1000) {
        printf("tok_parity: fewer than 1000 strings\n");
        return 1;
    }
    return failed == 0 ? 0 : 1;
}
