/*
 * test_model.c — the engine against an independent float reference on
 * synthetic models of every arch and weight type; bit-identical logits for
 * thread counts 1/2/3, batch chunking and every ISA path; load errors;
 * context limits; the engine's own math functions.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model_int.h"
#include "test_model_util.h"

#define N_PROMPT 6
#define N_STEPS  4

static const char *const ARCHS[] = {"bitnet-b1.58", "bitnet-25", "bitnet", "llama"};
static const kern_wtype TYPES[] = {KERN_WT_F32,   KERN_WT_F16,   KERN_WT_BF16, KERN_WT_Q8_0,
                                   KERN_WT_TQ1_0, KERN_WT_TQ2_0, KERN_WT_I2_S};

static void
tmp_path(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "/tmp/aria_test_model_%d_%s.gguf", (int)getpid(), tag);
}

static synth_opts
small_opts(const char *arch, kern_wtype t, uint64_t seed)
{
    synth_opts o = {.arch = arch,
                    .wtype = t,
                    .etype = seed % 2 ? KERN_WT_F16 : KERN_WT_F32,
                    .n_layer = 2,
                    .n_embd = 256,
                    .n_ff = 512,
                    .n_head = 4,
                    .n_head_kv = 2,
                    .n_vocab = 320,
                    .seed = seed,
                    .scales = strcmp(arch, "bitnet") == 0,
                    .output = strcmp(arch, "llama") == 0};
    return o;
}

static const int32_t PROMPT[N_PROMPT] = {1, 17, 300, 42, 42, 199};

/* Engine logits for the prompt then N_STEPS greedy steps: (1 + N_STEPS) x V,
 * with the KV cache in blocks of kv_group heads (0: the engine's choice). */
static void
engine_run_g(const kern_model *m, int threads, uint32_t n_batch, kern_kv_type kv, bool one_by_one,
             uint32_t kv_group, float *out)
{
    uint32_t V = kern_model_get_info(m)->n_vocab;
    kern_ctx *c = NULL;
    kern_ctx_opts o = {
        .n_ctx = 32, .n_threads = threads, .kv_type = kv, .n_batch = n_batch, .kv_group = kv_group};
    cr_assert_eq(kern_ctx_new_opts(m, &o, &c), 0, "%s", aria_err_msg());
    if (one_by_one) {
        for (int i = 0; i < N_PROMPT; i++)
            cr_assert_eq(kern_ctx_eval(c, &PROMPT[i], 1, out), 0);
    } else {
        cr_assert_eq(kern_ctx_eval(c, PROMPT, N_PROMPT, out), 0);
    }
    for (int s = 0; s < N_STEPS; s++) {
        const float *l = out + (size_t)s * V;
        int32_t best = 0;
        for (uint32_t i = 1; i < V; i++)
            if (l[i] > l[best])
                best = (int32_t)i;
        cr_assert_eq(kern_ctx_eval(c, &best, 1, out + (size_t)(s + 1) * V), 0);
    }
    kern_ctx_free(c);
}

static void
engine_run(const kern_model *m, int threads, uint32_t n_batch, kern_kv_type kv, bool one_by_one,
           float *out)
{
    engine_run_g(m, threads, n_batch, kv, one_by_one, 0, out);
}

/* Load `path`, run the engine and the float reference on PROMPT + N_STEPS
 * greedy steps, and compare argmax and logits. */
static void
compare_with_reference(const char *path, const char *label, int want_type)
{
    kern_model *m = NULL;
    kern_model_opts mo = {.no_tokenizer = true};
    cr_assert_eq(kern_model_load(path, &mo, &m), 0, "%s: %s", label, aria_err_msg());
    const kern_model_info *I = kern_model_get_info(m);
    cr_assert_eq(I->proj_type, want_type);
    uint32_t V = I->n_vocab;
    float *eng = malloc((size_t)(1 + N_STEPS) * V * sizeof(float));
    float *ref = malloc((size_t)V * sizeof(float));
    engine_run(m, 1, 4, KERN_KV_F32, false, eng);
    ref_model R;
    cr_assert_eq(ref_load(path, 32, &R), 0);
    double maxd = 0, maxl = 0;
    for (int i = 0; i < N_PROMPT; i++)
        ref_step(&R, PROMPT[i], ref);
    for (int s = 0; s <= N_STEPS; s++) {
        const float *e = eng + (size_t)s * V;
        int32_t be = 0, br = 0;
        for (uint32_t i = 0; i < V; i++) {
            double d = fabs((double)e[i] - ref[i]);
            maxd = d > maxd ? d : maxd;
            maxl = fabs(ref[i]) > maxl ? fabs(ref[i]) : maxl;
            if (e[i] > e[be])
                be = (int32_t)i;
            if (ref[i] > ref[br])
                br = (int32_t)i;
        }
        cr_expect_eq(be, br, "%s step %d: argmax %d vs reference %d", label, s, be, br);
        if (s < N_STEPS)
            ref_step(&R, be, ref);
    }
    cr_log_info("%s: max |logit diff| %.3g (max |logit| %.3g)", label, maxd, maxl);
    cr_expect(maxd < 1e-4 * (1 + maxl), "%s: max diff %g (max logit %g)", label, maxd, maxl);
    cr_expect(maxl > 0.1, "%s: logits are degenerate", label);
    ref_free(&R);
    free(eng);
    free(ref);
    kern_model_free(m);
}

Test(model, engine_matches_float_reference_on_every_arch_and_type)
{
    int seed = 1;
    for (size_t a = 0; a < ARIA_ARRAY_LEN(ARCHS); a++) {
        for (size_t t = 0; t < ARIA_ARRAY_LEN(TYPES); t++, seed++) {
            char path[128], label[64];
            tmp_path(path, sizeof path, "ref");
            synth_opts so = small_opts(ARCHS[a], TYPES[t], (uint64_t)seed);
            cr_assert_eq(synth_write(path, &so), 0, "%s", aria_err_msg());
            snprintf(label, sizeof label, "%s %s", ARCHS[a], kern_wtype_name(TYPES[t]));
            compare_with_reference(path, label, (int)TYPES[t]);
            unlink(path);
        }
    }
}

/* The same with files from kern-gguf's `aria model synth` writer (its own
 * tensor names, metadata keys, scales and tokenizer). */
Test(model, engine_matches_float_reference_on_model_synth_files)
{
    const kern_wtype types[] = {KERN_WT_I2_S, KERN_WT_TQ1_0, KERN_WT_F16, KERN_WT_Q8_0};
    for (size_t a = 0; a < ARIA_ARRAY_LEN(ARCHS); a++) {
        for (size_t t = 0; t < ARIA_ARRAY_LEN(types); t++) {
            char path[128], label[64];
            tmp_path(path, sizeof path, "ksynth");
            kern_synth_opts ko = {.arch = ARCHS[a],
                                  .n_layer = 2,
                                  .n_embd = 256,
                                  .n_ff = 512,
                                  .n_head = 4,
                                  .n_head_kv = 2,
                                  .n_vocab = 400,
                                  .wtype = types[t],
                                  .seed = 11 + a,
                                  .scales = strcmp(ARCHS[a], "bitnet") == 0};
            cr_assert_eq(kern_synth_write(&ko, path), 0, "%s", aria_err_msg());
            snprintf(label, sizeof label, "synth %s %s", ARCHS[a], kern_wtype_name(types[t]));
            compare_with_reference(path, label, (int)types[t]);
            unlink(path);
        }
    }
}

/* Write `so` to a temporary file named by tag (its path in path) and load it
 * without a tokenizer; *n = the floats engine_run writes. */
static kern_model *
synth_load(const synth_opts *so, const char *tag, char *path, size_t path_n, size_t *n)
{
    tmp_path(path, path_n, tag);
    cr_assert_eq(synth_write(path, so), 0);
    kern_model *m = NULL;
    kern_model_opts mo = {.no_tokenizer = true};
    cr_assert_eq(kern_model_load(path, &mo, &m), 0, "%s", aria_err_msg());
    *n = (size_t)(1 + N_STEPS) * kern_model_get_info(m)->n_vocab;
    return m;
}

Test(model, logits_bit_identical_across_threads_batching_and_kv_chunks)
{
    const kern_wtype types[] = {KERN_WT_I2_S, KERN_WT_TQ1_0, KERN_WT_F16};
    for (size_t a = 0; a < ARIA_ARRAY_LEN(ARCHS); a++) {
        for (size_t t = 0; t < ARIA_ARRAY_LEN(types); t++) {
            char path[128];
            synth_opts so = small_opts(ARCHS[a], types[t], 100 + a * 10 + t);
            size_t n;
            kern_model *m = synth_load(&so, "det", path, sizeof path, &n);
            float *base = malloc(n * sizeof(float)), *other = malloc(n * sizeof(float));
            for (int kv = 0; kv < 2; kv++) {
                engine_run(m, 1, 64, (kern_kv_type)kv, false, base);
                for (int th = 2; th <= 3; th++) {
                    engine_run(m, th, 64, (kern_kv_type)kv, false, other);
                    cr_expect(memcmp(base, other, n * sizeof(float)) == 0,
                              "%s %s kv %d: threads %d differ from 1", ARCHS[a],
                              kern_wtype_name(types[t]), kv, th);
                }
                engine_run(m, 2, 1, (kern_kv_type)kv, false, other);
                cr_expect(memcmp(base, other, n * sizeof(float)) == 0, "n_batch 1 differs");
                engine_run(m, 3, 5, (kern_kv_type)kv, true, other);
                cr_expect(memcmp(base, other, n * sizeof(float)) == 0, "one-by-one differs");
            }
            free(base);
            free(other);
            kern_model_free(m);
            unlink(path);
        }
    }
}

/* The KV cache in blocks of G heads (kern_ctx_opts.kv_group) never changes
 * a logit: 16 heads of 32 (no grouped-query attention: blocks of 4, 8 and 16
 * take the block loops where the CPU has them (with 4, the last position's
 * rows of an odd count one at a time), 2 the per-head loops reading rows
 * G * head_dim apart) and 16 query heads on 8 KV heads (per-head
 * loops, the paired loops only in the head-major layout), both cache types,
 * 1 and 2 threads, the prompt in one chunk, in chunks of 5 and token by
 * token; all bit for bit the head-major layout on one thread. A kv_group
 * that does not divide the KV heads is refused with an error naming it. */
Test(model, kv_cache_layouts_give_identical_logits)
{
    const uint32_t kvh[] = {16, 8};
    const uint32_t groups[] = {0, 2, 4, 8, 16};
    for (size_t s = 0; s < ARIA_ARRAY_LEN(kvh); s++) {
        char path[128];
        synth_opts so = small_opts(ARCHS[s == 0 ? 2 : 3], KERN_WT_TQ2_0, 400 + s);
        so.n_embd = 512;
        so.n_head = 16;
        so.n_head_kv = kvh[s];
        size_t n;
        kern_model *m = synth_load(&so, "kvg", path, sizeof path, &n);
        float *base = malloc(n * sizeof(float)), *other = malloc(n * sizeof(float));
        for (int kv = 0; kv < 2; kv++) {
            engine_run_g(m, 1, 64, (kern_kv_type)kv, false, 1, base);
            for (size_t g = 0; g < ARIA_ARRAY_LEN(groups); g++) {
                if (groups[g] > kvh[s])
                    continue;
                for (int th = 1; th <= 2; th++) {
                    engine_run_g(m, th, 64, (kern_kv_type)kv, false, groups[g], other);
                    cr_expect(memcmp(base, other, n * sizeof(float)) == 0,
                              "%u KV heads, kv %d, kv_group %u, %d threads: logits differ", kvh[s],
                              kv, groups[g], th);
                }
                engine_run_g(m, 2, 5, (kern_kv_type)kv, false, groups[g], other);
                cr_expect(memcmp(base, other, n * sizeof(float)) == 0,
                          "kv_group %u, chunks of 5: logits differ", groups[g]);
                engine_run_g(m, 2, 1, (kern_kv_type)kv, true, groups[g], other);
                cr_expect(memcmp(base, other, n * sizeof(float)) == 0,
                          "kv_group %u, token by token: logits differ", groups[g]);
            }
        }
        const uint32_t bad[] = {3, 32};
        for (size_t b = 0; b < ARIA_ARRAY_LEN(bad); b++) {
            kern_ctx *c = NULL;
            kern_ctx_opts o = {.n_ctx = 32, .n_threads = 1, .kv_group = bad[b]};
            cr_expect_eq(kern_ctx_new_opts(m, &o, &c), ARIA_EINVAL, "kv_group %u accepted", bad[b]);
            cr_expect(c == NULL);
            cr_expect(strstr(aria_err_msg(), "kv_group") != NULL, "error: %s", aria_err_msg());
        }
        free(base);
        free(other);
        kern_model_free(m);
        unlink(path);
    }
}

/* Run `aria run` with ARIA_ISA=isa, writing logits to out_path. */
static int run_aria_isa_args(const char *model, const char *isa, const char *out_path,
                             const char *ids, const char *n, const char *kv);

static int
run_aria_isa(const char *model, const char *isa, const char *out_path)
{
    return run_aria_isa_args(model, isa, out_path, "1,17,300,42,42,199", "6", "f16");
}

static int
run_aria_isa_args(const char *model, const char *isa, const char *out_path, const char *ids,
                  const char *n, const char *kv)
{
    const char *bin = getenv("ARIA_BIN");
    if (!bin)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        setenv("ARIA_ISA", isa, 1);
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execl(bin, bin, "run", "-m", model, "--prompt-ids", ids, "-n", n, "--kv", kv, "--temp", "0",
              "--threads", "2", "--logits-out", out_path, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static size_t
read_all(const char *path, char **buf)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc((size_t)n + 1);
    size_t r = fread(*buf, 1, (size_t)n, f);
    fclose(f);
    return r;
}

Test(model, logits_bit_identical_on_every_isa_path)
{
    const char *isas[] = {"scalar", "avx2", "avx512"};
    const kern_wtype types[] = {KERN_WT_I2_S, KERN_WT_TQ2_0, KERN_WT_F16,
                                KERN_WT_Q8_0, KERN_WT_F32,   KERN_WT_BF16};
    for (size_t t = 0; t < ARIA_ARRAY_LEN(types); t++) {
        char path[128], lp[3][160];
        tmp_path(path, sizeof path, "isa");
        synth_opts so = small_opts(ARCHS[t % 4], types[t], 200 + t);
        cr_assert_eq(synth_write(path, &so), 0);
        char *bufs[3] = {0};
        size_t lens[3];
        for (int i = 0; i < 3; i++) {
            snprintf(lp[i], sizeof lp[i], "/tmp/aria_test_model_%d_%s.logits", (int)getpid(),
                     isas[i]);
            cr_assert_eq(run_aria_isa(path, isas[i], lp[i]), 0, "aria run with ARIA_ISA=%s",
                         isas[i]);
            lens[i] = read_all(lp[i], &bufs[i]);
            cr_assert_eq(lens[i], 6 * 320 * sizeof(float));
            unlink(lp[i]);
        }
        for (int i = 1; i < 3; i++)
            cr_expect(lens[i] == lens[0] && memcmp(bufs[0], bufs[i], lens[0]) == 0,
                      "%s: ISA %s logits differ from scalar", kern_wtype_name(types[t]), isas[i]);
        for (int i = 0; i < 3; i++)
            free(bufs[i]);
        unlink(path);
    }
}

/* Attention's SIMD loops (4 positions at a time, up to 64 elements of a head
 * per pass, C fallback when head_dim % 8 != 0) against the scalar path:
 * head_dim 96 (a 64 + 32 split), 36 (fallback) and 128 (two full passes),
 * both KV cache types, 13 prompt positions (not a multiple of 4) plus 9
 * decode steps. Two or four query heads per KV head (head_dim 36, 64, 128)
 * take the paired decode loops (att_pair) on the AVX-512 path; 16 heads of
 * 32 with no grouped-query attention take the KV cache in blocks of 8 heads
 * and the block loops (att_block) there (2 threads), the head-major cache
 * on the others. */
Test(model, attention_bit_identical_on_every_isa_path)
{
    const char *isas[] = {"scalar", "avx2", "avx512"};
    const uint32_t embd[] = {384, 144, 512, 256, 512}, heads[] = {4, 4, 4, 4, 16},
                   kvh[] = {4, 2, 1, 2, 16};
    const char *kvs[] = {"f16", "f32"};
    for (size_t s = 0; s < ARIA_ARRAY_LEN(embd); s++) {
        for (size_t k = 0; k < 2; k++) {
            char path[128], lp[3][160];
            tmp_path(path, sizeof path, "att");
            synth_opts so = small_opts(ARCHS[s % 4], KERN_WT_F32, 300 + s);
            so.n_embd = embd[s];
            so.n_head = heads[s];
            so.n_head_kv = kvh[s];
            cr_assert_eq(synth_write(path, &so), 0);
            char *bufs[3] = {0};
            size_t lens[3];
            for (int i = 0; i < 3; i++) {
                snprintf(lp[i], sizeof lp[i], "/tmp/aria_test_att_%d_%s.logits", (int)getpid(),
                         isas[i]);
                cr_assert_eq(run_aria_isa_args(path, isas[i], lp[i],
                                               "1,17,300,42,42,199,5,6,7,8,9,10,11", "9", kvs[k]),
                             0, "aria run with ARIA_ISA=%s", isas[i]);
                lens[i] = read_all(lp[i], &bufs[i]);
                cr_assert_eq(lens[i], 9 * 320 * sizeof(float), "embd %u: %zu bytes of logits",
                             embd[s], lens[i]);
                unlink(lp[i]);
            }
            for (int i = 1; i < 3; i++)
                cr_expect(lens[i] == lens[0] && memcmp(bufs[0], bufs[i], lens[0]) == 0,
                          "head_dim %u, kv %s: ISA %s logits differ from scalar",
                          embd[s] / heads[s], kvs[k], isas[i]);
            for (int i = 0; i < 3; i++)
                free(bufs[i]);
            unlink(path);
        }
    }
}

static void
expect_load_error(const synth_opts *so, int want_rc, const char *needle)
{
    char path[128];
    tmp_path(path, sizeof path, "bad");
    cr_assert_eq(synth_write(path, so), 0);
    kern_model *m = NULL;
    kern_model_opts mo = {.no_tokenizer = true};
    int rc = kern_model_load(path, &mo, &m);
    cr_expect_eq(rc, want_rc, "rc %d: %s", rc, aria_err_msg());
    cr_expect_null(m);
    cr_expect(strstr(aria_err_msg(), needle) != NULL, "message '%s' lacks '%s'", aria_err_msg(),
              needle);
    unlink(path);
}

Test(model, load_errors_name_the_key_or_tensor_and_shapes)
{
    synth_opts so = small_opts("bitnet-b1.58", KERN_WT_F32, 5);
    so.corrupt = 1;
    expect_load_error(&so, ARIA_EPROTO, "'bitnet-b1.58.block_count'");
    so.corrupt = 2;
    expect_load_error(&so, ARIA_EPROTO,
                      "'blk.0.attn_k.weight' has shape [256, 129], expected "
                      "[256, 128]");
    so.corrupt = 3;
    expect_load_error(&so, ARIA_EPROTO, "missing tensor 'blk.0.ffn_sub_norm.weight'");
    so.corrupt = 0;
    so.arch = "mamba";
    expect_load_error(&so, ARIA_EUNSUPPORTED, "architecture 'mamba'");
    kern_model *m = NULL;
    cr_expect_lt(kern_model_load("/nonexistent/x.gguf", NULL, &m), 0);
    cr_expect(strstr(aria_err_msg(), "/nonexistent/x.gguf") != NULL, "%s", aria_err_msg());
}

Test(model, context_limit_gives_a_clear_error)
{
    char path[128];
    tmp_path(path, sizeof path, "ctx");
    synth_opts so = small_opts("bitnet-25", KERN_WT_I2_S, 9);
    cr_assert_eq(synth_write(path, &so), 0);
    kern_model *m = NULL;
    cr_assert_eq(kern_model_load(path, NULL, &m), 0, "%s", aria_err_msg());
    kern_ctx *c = NULL;
    cr_assert_eq(kern_ctx_new(m, 8, 1, &c), 0);
    int32_t ids[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float *lg = malloc(320 * sizeof(float));
    cr_expect_eq(kern_ctx_eval(c, ids, 9, lg), ARIA_ERANGE);
    cr_expect(strstr(aria_err_msg(), "context size 8") != NULL, "%s", aria_err_msg());
    cr_expect_eq(kern_ctx_pos(c), 0);
    cr_expect_eq(kern_ctx_eval(c, ids, 8, lg), 0);
    cr_expect_eq(kern_ctx_eval(c, ids, 1, lg), ARIA_ERANGE);
    int32_t bad = 320;
    kern_ctx_truncate(c, 7);
    cr_expect_eq(kern_ctx_eval(c, &bad, 1, lg), ARIA_EINVAL);
    cr_expect_eq(kern_ctx_eval(c, ids, 1, lg), 0);
    /* Generation refuses a prompt that does not fit. */
    kern_ctx_truncate(c, 0);
    kern_gen_params gp = {.n_predict = 4};
    kern_sample_params_default(&gp.sample);
    kern_gen_result res;
    cr_expect_eq(kern_generate(c, ids, 9, &gp, NULL, NULL, &res), ARIA_ERANGE);
    /* ...and stops cleanly when the context fills. */
    gp.n_predict = 100;
    gp.ignore_eos = true;
    cr_expect_eq(kern_generate(c, ids, 5, &gp, NULL, NULL, &res), 0, "%s", aria_err_msg());
    cr_expect_eq(res.reason, KERN_STOP_CONTEXT);
    cr_expect_eq(kern_ctx_pos(c), 8);
    free(lg);
    kern_ctx_free(c);
    kern_model_free(m);
    unlink(path);
}

Test(model, own_math_matches_libm)
{
    double worst_e = 0, worst_l = 0, worst_s = 0;
    uint64_t st = 7;
    for (int i = 0; i < 20000; i++) {
        double x = tsyn_unif(&st) * 700.0;
        double r = exp(x), e = kern_m_exp(x);
        double rel = fabs(e - r) / r;
        worst_e = rel > worst_e ? rel : worst_e;
        double y = fabs(x) * 1e-3 + 1e-300 + fabs(tsyn_unif(&st)) * 1e6;
        double lr = log(y), le = kern_m_log(y);
        double dl = fabs(le - lr) / (fabs(lr) > 1 ? fabs(lr) : 1);
        worst_l = dl > worst_l ? dl : worst_l;
        double a = tsyn_unif(&st) * 5000.0, s, c;
        kern_m_sincos(a, &s, &c);
        double ds = fabs(s - sin(a)) + fabs(c - cos(a));
        worst_s = ds > worst_s ? ds : worst_s;
    }
    cr_log_info("exp rel %g, log %g, sincos abs %g", worst_e, worst_l, worst_s);
    cr_expect(worst_e < 1e-15, "exp rel err %g", worst_e);
    cr_expect(worst_l < 1e-15, "log err %g", worst_l);
    cr_expect(worst_s < 1e-12, "sincos err %g", worst_s);
    cr_expect_eq(kern_m_exp(0.0), 1.0);
    cr_expect_eq(kern_m_exp(-1000.0), 0.0);
    cr_expect(isinf(kern_m_exp(1000.0)));
    cr_expect_eq(kern_m_relu2(-3.0f), 0.0f);
    cr_expect_eq(kern_m_relu2(3.0f), 9.0f);
    cr_expect(fabsf(kern_m_silu(1.0f) - (float)(1.0 / (1.0 + exp(-1.0)))) < 1e-7f);
    /* float exp correctly rounded on a sweep (double path then one rounding). */
    int off = 0;
    for (float x = -80.0f; x < 80.0f; x += 0.01f)
        off += kern_m_expf(x) != (float)exp((double)x);
    cr_expect(off == 0, "%d expf values differ from (float)exp", off);
}

Test(model, every_ternary_format_and_ternarized_f32_give_identical_logits)
{
    const kern_wtype types[] = {KERN_WT_I2_S, KERN_WT_TQ1_0, KERN_WT_TQ2_0, KERN_WT_F32};
    float *base = NULL, *other = NULL;
    size_t n = 0;
    for (size_t t = 0; t < ARIA_ARRAY_LEN(types); t++) {
        char path[128];
        tmp_path(path, sizeof path, "fmt");
        synth_opts so = small_opts("bitnet-25", types[t], 31);
        cr_assert_eq(synth_write(path, &so), 0);
        kern_model *m = NULL;
        kern_model_opts mo = {.no_tokenizer = true, .ternarize_float = true};
        cr_assert_eq(kern_model_load(path, &mo, &m), 0, "%s", aria_err_msg());
        if (!base) {
            n = (size_t)(1 + N_STEPS) * kern_model_get_info(m)->n_vocab;
            base = malloc(n * sizeof(float));
            other = malloc(n * sizeof(float));
        }
        engine_run(m, 2, 64, KERN_KV_F16, false, t == 0 ? base : other);
        if (t > 0)
            cr_expect(memcmp(base, other, n * sizeof(float)) == 0, "%s differs from i2_s",
                      kern_wtype_name(types[t]));
        kern_model_free(m);
        unlink(path);
    }
    free(base);
    free(other);
}

static int
count_cb(void *ud, int32_t id, const float *logits, const char *text, size_t len)
{
    ARIA_UNUSED(logits);
    ARIA_UNUSED(text);
    ARIA_UNUSED(len);
    int32_t *ids = ud;
    if (id >= 0)
        ids[ids[0]++ + 1] = id;
    return 0;
}

Test(model, generation_stops_at_eos_unless_ignored)
{
    char path[128];
    tmp_path(path, sizeof path, "eos");
    synth_opts so = small_opts("bitnet-25", KERN_WT_TQ2_0, 41);
    cr_assert_eq(synth_write(path, &so), 0);
    kern_model *m = NULL;
    cr_assert_eq(kern_model_load(path, NULL, &m), 0, "%s", aria_err_msg());
    kern_ctx *c = NULL;
    cr_assert_eq(kern_ctx_new(m, 32, 1, &c), 0);
    kern_gen_params gp = {.n_predict = 5};
    kern_sample_params_default(&gp.sample);
    gp.sample.temp = 0;
    int32_t got[16] = {0};
    kern_gen_result res;
    cr_assert_eq(kern_generate(c, PROMPT, N_PROMPT, &gp, count_cb, got, &res), 0);
    cr_assert_eq(res.reason, KERN_STOP_LENGTH);
    cr_assert_eq(got[0], 5);
    int32_t third = got[3];
    kern_ctx_free(c);
    kern_model_free(m);

    /* Same model with EOS = the third greedy token: generation stops there. */
    so.eos_id = third;
    cr_assert_eq(synth_write(path, &so), 0);
    cr_assert_eq(kern_model_load(path, NULL, &m), 0, "%s", aria_err_msg());
    cr_expect_eq(kern_model_get_info(m)->eos_id, third);
    cr_assert_eq(kern_ctx_new(m, 32, 1, &c), 0);
    int32_t got2[16] = {0};
    cr_assert_eq(kern_generate(c, PROMPT, N_PROMPT, &gp, count_cb, got2, &res), 0);
    cr_expect_eq(res.reason, KERN_STOP_EOS);
    int32_t first = 0; /* tokens before the first occurrence of the EOS id */
    while (got[first + 1] != third)
        first++;
    cr_expect_eq(got2[0], first);
    cr_expect_eq(res.n_generated, (uint32_t)first);
    cr_expect(memcmp(got + 1, got2 + 1, (size_t)first * sizeof(int32_t)) == 0);
    kern_ctx_truncate(c, 0);
    gp.ignore_eos = true;
    int32_t got3[16] = {0};
    cr_assert_eq(kern_generate(c, PROMPT, N_PROMPT, &gp, count_cb, got3, &res), 0);
    cr_expect_eq(res.reason, KERN_STOP_LENGTH);
    cr_expect(memcmp(got, got3, 6 * sizeof(int32_t)) == 0);
    kern_ctx_free(c);
    kern_model_free(m);
    unlink(path);
}

/* Corrupted model files (random byte changes in the header, metadata,
 * tensor table or data) must load with a clear error or load and run; never
 * crash. Under ASan this also checks every access stays in bounds. */
Test(model, corrupted_files_fail_cleanly_or_run)
{
    char path[128], bad[140];
    tmp_path(path, sizeof path, "fz");
    snprintf(bad, sizeof bad, "%s.bad", path);
    synth_opts so = {.arch = "bitnet",
                     .wtype = KERN_WT_F16,
                     .etype = KERN_WT_F16,
                     .n_layer = 1,
                     .n_embd = 64,
                     .n_ff = 128,
                     .n_head = 2,
                     .n_head_kv = 1,
                     .n_vocab = 64,
                     .seed = 3,
                     .scales = true};
    cr_assert_eq(synth_write(path, &so), 0);
    char *orig = NULL;
    size_t len = read_all(path, &orig);
    cr_assert(len > 1000);
    kern_gguf *g = NULL;
    cr_assert_eq(kern_gguf_open(path, &g), 0);
    size_t hdr = (size_t)kern_gguf_data_offset(g);
    kern_gguf_close(g);
    uint64_t st = 99;
    int loaded = 0, failed = 0;
    float *lg = malloc(64 * sizeof(float));
    for (int it = 0; it < 1000; it++) {
        char *buf = malloc(len);
        memcpy(buf, orig, len);
        int nmut = 1 + (int)(tsyn_next(&st) % 4);
        for (int k = 0; k < nmut; k++) {
            size_t lim = it % 4 == 3 ? len : hdr; /* mostly the header */
            size_t at = (size_t)(tsyn_next(&st) % lim);
            buf[at] = (char)(tsyn_next(&st) & 0xff);
        }
        FILE *f = fopen(bad, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(buf, 1, len, f), len);
        fclose(f);
        free(buf);
        kern_model *m = NULL;
        int rc = kern_model_load(bad, NULL, &m);
        if (rc < 0) {
            cr_assert_null(m);
            cr_assert(aria_err_msg()[0] != 0, "error %d without a message", rc);
            failed++;
            continue;
        }
        loaded++;
        kern_ctx *c = NULL;
        if (kern_ctx_new(m, 8, 2, &c) == 0) {
            int32_t ids[3] = {1, 2, 3};
            cr_expect_eq(kern_ctx_eval(c, ids, 3, lg), 0, "%s", aria_err_msg());
            kern_ctx_free(c);
        }
        kern_model_free(m);
    }
    cr_log_info("corrupted files: %d rejected, %d loaded", failed, loaded);
    cr_expect(failed > 200, "only %d of 1000 corruptions were rejected", failed);
    free(lg);
    free(orig);
    unlink(bad);
    unlink(path);
}

/* The row functions (AVX2 / AVX-512 on this machine, whatever the dispatch
 * chose) return exactly the scalar functions' bits: every 2^10-th float bit
 * pattern (both signs, all exponents: zeros, subnormals, the |x| > 700
 * fallback, infinities, NaNs) in rows whose length is not a multiple of 8. */
Test(model, silu_and_exp_rows_equal_the_scalar_functions)
{
    const size_t n = 4099;
    float *g = malloc(n * sizeof(float)), *u = malloc(n * sizeof(float));
    float *x = malloc(n * sizeof(float));
    size_t checked = 0, nan_lanes = 0;
    for (uint64_t base = 0; base < (1ull << 32); base += (uint64_t)n << 10) {
        for (size_t i = 0; i < n; i++) {
            uint32_t b = (uint32_t)(base + ((uint64_t)i << 10));
            memcpy(&g[i], &b, 4);
            x[i] = g[i];
            u[i] = 0.75f + (float)(i % 7);
        }
        float gw[4099], xw[4099];
        for (size_t i = 0; i < n; i++) {
            gw[i] = kern_m_silu(g[i]) * u[i];
            xw[i] = kern_m_expf(x[i]);
        }
        kern_m_silu_mul_row(g, u, n);
        kern_m_expf_row(x, n);
        for (size_t i = 0; i < n; i++) {
            if (isnan(gw[i]) || isnan(xw[i])) { /* NaN payloads may differ; NaN-ness not */
                nan_lanes++;
                cr_assert(!isnan(gw[i]) || isnan(g[i]));
                cr_assert(!isnan(xw[i]) || isnan(x[i]));
                continue;
            }
            cr_assert(memcmp(&gw[i], &g[i], 4) == 0, "silu row differs at lane %zu", i);
            cr_assert(memcmp(&xw[i], &x[i], 4) == 0, "exp row differs at lane %zu", i);
            checked++;
        }
    }
    cr_log_info("%zu lanes equal, %zu NaN lanes", checked, nan_lanes);
    cr_assert_gt(checked, 4000000);
    free(g);
    free(u);
    free(x);
}
