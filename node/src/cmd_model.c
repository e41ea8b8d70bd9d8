/*
 * cmd_model.c — `aria model <subcommand>`: a small table of subcommands
 * about model files. `info` prints what a GGUF file holds and the memory it
 * will need; `synth` writes a deterministic synthetic model. Other helpers
 * add rows (e.g. `tokenize`, implemented in cmd_model_tokenize.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kernels.h"

typedef struct model_sub {
    const char *name;
    const char *summary;
    int (*fn)(int argc, char **argv); /* argv[0] is the subcommand */
} model_sub;

static int model_info(int argc, char **argv);
static int model_synth(int argc, char **argv);

static const model_sub subs[] = {
    {"info", "print architecture, hyperparameters, tokenizer, tensors and memory needs",
     model_info},
    {"synth", "write a deterministic synthetic model", model_synth},
    {"tokenize", "print the token ids of a text (cmd_model_tokenize.c)", cmd_model_tokenize},
    {"score", "teacher-forced top-1 and log-probability of each next token (cmd_model_score.c)",
     cmd_model_score},
};

static const cli_verb *
verb(void)
{
    return cli_verb_find("model");
}

int
cmd_model(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(verb(), "missing subcommand");
    for (size_t i = 0; i < ARIA_ARRAY_LEN(subs); i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return subs[i].fn(argc - 1, argv + 1);
    char msg[160];
    aria_snprintf(msg, sizeof msg, "unknown subcommand '%s'", argv[1]);
    return cli_usage_error(verb(), msg);
}

/* ------------------------------------------------------------------ */
/* info                                                                 */
/* ------------------------------------------------------------------ */

static void
print_bytes(const char *label, uint64_t b)
{
    printf("%s%" PRIu64 " bytes (%.2f MiB)\n", label, b, (double)b / (1024.0 * 1024.0));
}

/* Print "<arch>.<suffix>" as a number if present; returns it (or 0). */
static double
hp(const kern_gguf *g, const char *arch, const char *suffix)
{
    char key[160];
    aria_snprintf(key, sizeof key, "%s.%s", arch, suffix);
    double v = 0;
    if (kern_gguf_get_f64(g, key, &v) == 0)
        printf("  %-34s %.9g\n", suffix, v);
    return v;
}

static void
print_kv_value(const kern_gguf *g, const kern_gguf_kv *kv)
{
    if (kv->type == KERN_GGUF_STRING) {
        const char *s;
        size_t n;
        if (kern_gguf_get_str(g, kv->key, &s, &n) == 0)
            printf("'%.*s'%s", n > 120 ? 120 : (int)n, s, n > 120 ? "..." : "");
    } else if (kv->type == KERN_GGUF_ARRAY) {
        printf("[%s x %" PRIu64 "]", kern_gguf_vtype_name(kv->arr_type), kv->arr_len);
    } else {
        double d = 0;
        if (kern_gguf_get_f64(g, kv->key, &d) == 0)
            printf("%.9g", d);
    }
}

static int
model_info(int argc, char **argv)
{
    const char *path = NULL;
    uint64_t n_ctx = 0;
    bool all = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ctx") == 0 && i + 1 < argc) {
            int rc = aria_parse_u64(argv[++i], 1u << 24, "--ctx", &n_ctx);
            if (rc)
                return cli_usage_error(verb(), aria_err_msg());
        } else if (strcmp(argv[i], "--all") == 0) {
            all = true;
        } else if (argv[i][0] == '-' || path) {
            return cli_usage_error(verb(), "model info: unexpected argument");
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return cli_usage_error(verb(), "model info: missing FILE");
    kern_gguf *g;
    int rc = kern_gguf_open(path, &g);
    if (rc)
        return cli_fail(rc, "model info");
    const char *arch = kern_gguf_arch(g);
    printf("file: %s\n", path);
    printf("format: GGUF v%u, %zu kv pairs, %zu tensors, alignment %u, data at offset %" PRIu64
           "\n",
           kern_gguf_version(g), kern_gguf_n_kv(g), kern_gguf_n_tensors(g), kern_gguf_alignment(g),
           kern_gguf_data_offset(g));
    print_bytes("file size: ", kern_gguf_file_size(g));
    printf("architecture: %s\n", arch ? arch : "(none: general.architecture missing)");
    const char *name;
    if (kern_gguf_get_str(g, "general.name", &name, NULL) == 0)
        printf("name: %s\n", name);
    double n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, ctx_len = 0;
    if (arch) {
        printf("hyperparameters:\n");
        ctx_len = hp(g, arch, "context_length");
        n_embd = hp(g, arch, "embedding_length");
        n_layer = hp(g, arch, "block_count");
        hp(g, arch, "feed_forward_length");
        n_head = hp(g, arch, "attention.head_count");
        n_head_kv = hp(g, arch, "attention.head_count_kv");
        hp(g, arch, "rope.dimension_count");
        hp(g, arch, "rope.freq_base");
        hp(g, arch, "attention.layer_norm_rms_epsilon");
        hp(g, arch, "vocab_size");
        if (n_head_kv == 0)
            n_head_kv = n_head;
    }
    /* tokenizer */
    const char *tm = NULL, *pre = NULL;
    kern_gguf_arr toks = {0}, merges = {0};
    printf("tokenizer:");
    if (kern_gguf_get_str(g, "tokenizer.ggml.model", &tm, NULL) == 0)
        printf(" model %s", tm);
    if (kern_gguf_get_str(g, "tokenizer.ggml.pre", &pre, NULL) == 0)
        printf(", pre %s", pre);
    if (kern_gguf_get_arr(g, "tokenizer.ggml.tokens", &toks) == 0)
        printf(", %" PRIu64 " tokens", toks.n);
    if (kern_gguf_get_arr(g, "tokenizer.ggml.merges", &merges) == 0)
        printf(", %" PRIu64 " merges", merges.n);
    static const char *const ids[] = {"bos", "eos", "eot", "unknown", "padding"};
    for (size_t i = 0; i < ARIA_ARRAY_LEN(ids); i++) {
        char key[64];
        uint32_t v;
        aria_snprintf(key, sizeof key, "tokenizer.ggml.%s_token_id", ids[i]);
        if (kern_gguf_get_u32(g, key, &v) == 0)
            printf(", %s %u", ids[i], v);
    }
    bool ab;
    if (kern_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &ab) == 0)
        printf(", add_bos %s", ab ? "yes" : "no");
    printf("%s\n", tm ? "" : " (none)");
    if (all) {
        printf("metadata:\n");
        for (size_t i = 0; i < kern_gguf_n_kv(g); i++) {
            kern_gguf_kv kv;
            kern_gguf_kv_at(g, i, &kv);
            printf("  %-44s %-6s ", kv.key, kern_gguf_vtype_name(kv.type));
            print_kv_value(g, &kv);
            printf("\n");
        }
    }
    /* tensors */
    uint64_t params = 0, tbytes = 0, tern_params = 0;
    printf("tensors:\n");
    for (size_t i = 0; i < kern_gguf_n_tensors(g); i++) {
        const kern_gguf_tensor *t = kern_gguf_tensor_at(g, i);
        char shape[96];
        int o = aria_snprintf(shape, sizeof shape, "[%" PRIu64, t->ne[0]);
        for (uint32_t d = 1; d < t->n_dims && o > 0 && (size_t)o < sizeof shape; d++)
            o += aria_snprintf(shape + o, sizeof shape - (size_t)o, ", %" PRIu64, t->ne[d]);
        if (o > 0 && (size_t)o < sizeof shape)
            aria_snprintf(shape + o, sizeof shape - (size_t)o, "]");
        printf("  %-36s %-6s %-18s %12" PRIu64 " bytes\n", t->name, kern_wtype_name(t->type), shape,
               t->nbytes);
        params += t->n_elems;
        tbytes += t->nbytes;
        if (kern_wtype_is_ternary(t->type))
            tern_params += t->n_elems;
    }
    printf("parameters: %" PRIu64 " (%.3f M), %" PRIu64 " in packed ternary tensors\n", params,
           (double)params / 1e6, tern_params);
    if (params)
        printf("bytes per weight: %.4f (%.4f bits) over all tensors\n",
               (double)tbytes / (double)params, 8.0 * (double)tbytes / (double)params);
    /* memory */
    uint64_t ctx = n_ctx ? n_ctx : (uint64_t)ctx_len;
    if (n_layer > 0 && n_head > 0 && n_embd > 0 && ctx > 0) {
        uint64_t head_dim = (uint64_t)n_embd / (uint64_t)n_head;
        uint64_t kv_elems = 2 * (uint64_t)n_layer * ctx * (uint64_t)n_head_kv * head_dim;
        uint64_t fsz = kern_gguf_file_size(g);
        printf("memory at context %" PRIu64 ":\n", ctx);
        print_bytes("  file mapping:           ", fsz);
        printf("  KV cache = 2 (K,V) x n_layer %.0f x n_ctx %" PRIu64
               " x n_head_kv %.0f x head_dim %" PRIu64 " x bytes/elem\n",
               n_layer, ctx, n_head_kv, head_dim);
        print_bytes("  KV cache (f16):         ", kv_elems * 2);
        print_bytes("  KV cache (f32):         ", kv_elems * 4);
        print_bytes("  total (mapping + f16 KV): ", fsz + kv_elems * 2);
    }
    kern_gguf_close(g);
    return 0;
}

/* ------------------------------------------------------------------ */
/* synth                                                                */
/* ------------------------------------------------------------------ */

static int
parse_u32_arg(const char *s, const char *what, uint32_t *out)
{
    uint64_t v;
    int rc = aria_parse_u64(s, UINT32_MAX, what, &v);
    if (!rc)
        *out = (uint32_t)v;
    return rc;
}

static int
model_synth(int argc, char **argv)
{
    kern_synth_opts o = {0};
    o.wtype = KERN_WT_I2_S;
    const char *out = NULL;
    bool have_type = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(a, "--scales") == 0) {
            o.scales = true;
            continue;
        }
        if (!v)
            return cli_usage_error(verb(), "model synth: option without a value");
        i++;
        if (strcmp(a, "--arch") == 0) {
            o.arch = v;
        } else if (strcmp(a, "--layers") == 0) {
            rc = parse_u32_arg(v, "--layers", &o.n_layer);
        } else if (strcmp(a, "--embd") == 0) {
            rc = parse_u32_arg(v, "--embd", &o.n_embd);
        } else if (strcmp(a, "--ff") == 0) {
            rc = parse_u32_arg(v, "--ff", &o.n_ff);
        } else if (strcmp(a, "--heads") == 0) {
            rc = parse_u32_arg(v, "--heads", &o.n_head);
        } else if (strcmp(a, "--kv-heads") == 0) {
            rc = parse_u32_arg(v, "--kv-heads", &o.n_head_kv);
        } else if (strcmp(a, "--vocab") == 0) {
            rc = parse_u32_arg(v, "--vocab", &o.n_vocab);
        } else if (strcmp(a, "--ctx") == 0) {
            rc = parse_u32_arg(v, "--ctx", &o.n_ctx);
        } else if (strcmp(a, "--type") == 0) {
            rc = kern_wtype_parse(v, &o.wtype);
            have_type = true;
        } else if (strcmp(a, "--seed") == 0) {
            rc = aria_parse_u64(v, UINT64_MAX, "--seed", &o.seed);
        } else if (strcmp(a, "--rope-base") == 0) {
            double d;
            rc = aria_parse_double(v, 1.0, 1e9, "--rope-base", &d);
            o.rope_base = (float)d;
        } else if (strcmp(a, "--tokenizer") == 0) {
            o.tokenizer = v;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            out = v;
        } else {
            char msg[160];
            aria_snprintf(msg, sizeof msg, "model synth: unknown option '%s'", a);
            return cli_usage_error(verb(), msg);
        }
        if (rc)
            return cli_usage_error(verb(), aria_err_msg());
    }
    if (!out)
        return cli_usage_error(verb(), "model synth: missing -o FILE");
    if (!have_type)
        return cli_usage_error(verb(), "model synth: missing --type");
    if (o.n_head_kv == 0)
        o.n_head_kv = o.n_head;
    int rc = kern_synth_check(&o);
    if (rc)
        return cli_usage_error(verb(), aria_err_msg());
    rc = kern_synth_write(&o, out);
    if (rc)
        return cli_fail(rc, "model synth");
    return 0;
}
