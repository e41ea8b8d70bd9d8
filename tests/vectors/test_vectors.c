/*
 * test_vectors.c — the engine against llama.cpp's recorded greedy outputs on
 * ../shared/vectors/bitnet-tiny-A (an F32 "bitnet" model): prompt token ids,
 * 24 greedy ids and the top logits of every case, in process and through
 * the `aria run` binary; plus the resident-memory bound while generating.
 *
 * Environment (set by aria_test): ARIA_SHARED_DIR, ARIA_BIN.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernels.h"
#include "test_model_util.h"

#define N_GREEDY 24
/* llama.cpp rounds a few intermediates to fp16 that we keep in float (and
 * vice versa); an independent numpy float implementation differed by up to
 * 4.6e-3. The smallest top-1/top-2 margin in the vectors is 0.027. */
#define LOGIT_TOL 5e-3

static char model_path[1024], json_path[1024];

static json_t *
load_vectors(void)
{
    const char *d = getenv("ARIA_SHARED_DIR");
    cr_assert_not_null(d, "ARIA_SHARED_DIR is not set");
    snprintf(model_path, sizeof model_path, "%s/vectors/bitnet-tiny-A/bitnet-tiny-seedA-f32.gguf",
             d);
    snprintf(json_path, sizeof json_path,
             "%s/vectors/bitnet-tiny-A/bitnet-tiny-seedA-f32.llamacpp.json", d);
    json_error_t err;
    json_t *j = json_load_file(json_path, 0, &err);
    cr_assert_not_null(j, "%s: %s (line %d)", json_path, err.text, err.line);
    json_t *cases = json_object_get(j, "cases");
    cr_assert(json_is_array(cases) && json_array_size(cases) >= 4, "no cases in %s", json_path);
    return j;
}

static size_t
ids_of(json_t *arr, int32_t *out, size_t max)
{
    cr_assert(json_is_array(arr));
    size_t n = json_array_size(arr);
    cr_assert(n <= max);
    for (size_t i = 0; i < n; i++)
        out[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return n;
}

static void
check_case(const kern_model *m, json_t *cs, kern_kv_type kv, int threads, double tol, double *maxd)
{
    int32_t prompt[256], greedy[N_GREEDY];
    size_t np = ids_of(json_object_get(cs, "prompt_ids"), prompt, 256);
    cr_assert_eq(ids_of(json_object_get(cs, "greedy_ids"), greedy, N_GREEDY), N_GREEDY);
    json_t *t1 = json_object_get(cs, "top1_logits"), *t2 = json_object_get(cs, "top2_logits"),
           *t5 = json_object_get(cs, "top5");
    uint32_t V = kern_model_get_info(m)->n_vocab;
    float *lg = malloc(V * sizeof(float));
    kern_ctx *c = NULL;
    kern_ctx_opts o = {.n_ctx = 128, .n_threads = threads, .kv_type = kv};
    cr_assert_eq(kern_ctx_new_opts(m, &o, &c), 0, "%s", aria_err_msg());
    cr_assert_eq(kern_ctx_eval(c, prompt, np, lg), 0, "%s", aria_err_msg());
    for (int s = 0; s < N_GREEDY; s++) {
        int32_t best = 0, second = -1;
        for (uint32_t i = 1; i < V; i++)
            if (lg[i] > lg[best])
                best = (int32_t)i;
        for (uint32_t i = 0; i < V; i++)
            if ((int32_t)i != best && (second < 0 || lg[i] > lg[second]))
                second = (int32_t)i;
        cr_expect_eq(best, greedy[s], "'%s' step %d: id %d, llama.cpp %d",
                     json_string_value(json_object_get(cs, "prompt_text")), s, best, greedy[s]);
        double d1 = fabs(lg[best] - json_real_value(json_array_get(t1, (size_t)s)));
        double d2 = fabs(lg[second] - json_real_value(json_array_get(t2, (size_t)s)));
        cr_expect(d1 < tol && d2 < tol, "step %d: top1/top2 logit diff %g %g", s, d1, d2);
        *maxd = fmax(*maxd, fmax(d1, d2));
        json_t *row = json_array_get(t5, (size_t)s);
        for (size_t k = 0; k < json_array_size(row); k++) {
            json_t *pair = json_array_get(row, k);
            int32_t id = (int32_t)json_integer_value(json_array_get(pair, 0));
            double want = json_real_value(json_array_get(pair, 1));
            double d = fabs(lg[id] - want);
            cr_expect(d < tol, "step %d top5 id %d: %g vs %g", s, id, lg[id], want);
            *maxd = fmax(*maxd, d);
        }
        cr_assert_eq(kern_ctx_eval(c, &greedy[s], 1, lg), 0);
    }
    kern_ctx_free(c);
    free(lg);
}

Test(vectors, engine_reproduces_llamacpp_greedy_ids_and_logits)
{
    json_t *j = load_vectors();
    kern_model *m = NULL;
    cr_assert_eq(kern_model_load(model_path, NULL, &m), 0, "%s", aria_err_msg());
    json_t *cases = json_object_get(j, "cases");
    double maxd = 0;
    for (size_t i = 0; i < json_array_size(cases); i++)
        check_case(m, json_array_get(cases, i), KERN_KV_F16, 1 + (int)(i % 3), LOGIT_TOL, &maxd);
    cr_log_info("F16 KV: max |logit diff| vs llama.cpp %.4g", maxd);
    /* With an F32 cache the ids still match; logits move a little more. */
    double maxd32 = 0;
    check_case(m, json_array_get(cases, 0), KERN_KV_F32, 2, 2e-2, &maxd32);
    cr_log_info("F32 KV: max |logit diff| vs llama.cpp %.4g", maxd32);
    kern_model_free(m);
    json_decref(j);
}

Test(vectors, tokenizer_gives_the_recorded_prompt_ids)
{
    json_t *j = load_vectors();
    kern_model *m = NULL;
    cr_assert_eq(kern_model_load(model_path, NULL, &m), 0, "%s", aria_err_msg());
    const kern_tok *t = kern_model_tok(m);
    cr_assert_not_null(t, "the vector model has a tokenizer");
    json_t *cases = json_object_get(j, "cases");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *cs = json_array_get(cases, i);
        const char *text = json_string_value(json_object_get(cs, "prompt_text"));
        int32_t want[256], got[256];
        size_t nw = ids_of(json_object_get(cs, "prompt_ids"), want, 256), ng = 0;
        cr_assert_eq(kern_tok_encode(t, text, strlen(text), true, got, 256, &ng), 0);
        cr_expect(ng == nw && memcmp(got, want, nw * sizeof(int32_t)) == 0,
                  "'%s': %zu ids, want %zu", text, ng, nw);
    }
    kern_model_free(m);
    json_decref(j);
}

/* Run ARIA_BIN with args; capture stdout (or stderr if want_err) into out
 * (NUL-terminated). Returns the exit status. */
static int
run_bin(char *const *args, char *out, size_t cap, bool want_err)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(fds[1], want_err ? 2 : 1);
        dup2(null, want_err ? 1 : 2);
        close(fds[0]);
        close(fds[1]);
        execv(args[0], args);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while ((r = read(fds[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
expect_ids_line(const char *out, const int32_t *want, size_t n, const char *what)
{
    char exp[1024] = "";
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(exp + o, sizeof exp - o, "%s%d", i ? " " : "", want[i]);
    snprintf(exp + o, sizeof exp - o, "\n");
    cr_expect_str_eq(out, exp, "%s", what);
}

Test(vectors, aria_run_binary_prints_the_same_greedy_ids)
{
    const char *bin = getenv("ARIA_BIN");
    cr_assert_not_null(bin, "ARIA_BIN is not set");
    json_t *j = load_vectors();
    json_t *cases = json_object_get(j, "cases");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *cs = json_array_get(cases, i);
        int32_t prompt[256], greedy[N_GREEDY];
        size_t np = ids_of(json_object_get(cs, "prompt_ids"), prompt, 256);
        ids_of(json_object_get(cs, "greedy_ids"), greedy, N_GREEDY);
        char plist[2048] = "";
        size_t o = 0;
        for (size_t k = 0; k < np; k++)
            o += (size_t)snprintf(plist + o, sizeof plist - o, "%s%d", k ? "," : "", prompt[k]);
        char out[4096];
        char *a1[] = {
            (char *)bin, "run", "-m",           model_path, "--ids",     "--temp",          "0",
            "-n",        "24",  "--prompt-ids", plist,      "--threads", i % 2 ? "2" : "1", NULL};
        cr_assert_eq(run_bin(a1, out, sizeof out, false), 0, "aria run --prompt-ids failed");
        expect_ids_line(out, greedy, N_GREEDY, "--prompt-ids");
        const char *text = json_string_value(json_object_get(cs, "prompt_text"));
        char *a2[] = {(char *)bin, "run", "-m", model_path, "--ids",      "--temp",
                      "0",         "-n",  "24", "-p",       (char *)text, NULL};
        cr_assert_eq(run_bin(a2, out, sizeof out, false), 0, "aria run -p failed");
        expect_ids_line(out, greedy, N_GREEDY, text);
    }
    json_decref(j);
}

/* `aria run -v` reports its RSS before loading the model and its peak
 * (VmHWM: this process image only); the difference must stay within the
 * model file + KV cache + 10%. */
static void
check_rss(const char *bin, const char *model, const char *what)
{
    char out[8192];
    char *ar[] = {(char *)bin,       "run",   "-m", (char *)model, "--ids",
                  "--temp",          "0",     "-n", "16",          "--prompt-ids",
                  "1,2,3,4,5,6,7,8", "--ctx", "64", "-v",          NULL};
    cr_assert_eq(run_bin(ar, out, sizeof out, true), 0, "aria run on %s failed", model);
    const char *p = strstr(out, "rss before load");
    cr_assert_not_null(p, "no rss line in: %s", out);
    long start_kb = 0, peak_kb = 0;
    unsigned long long file_b = 0, kv_b = 0;
    cr_assert_eq(sscanf(p,
                        "rss before load %ld KiB, peak %ld KiB; model file %llu bytes, kv cache "
                        "%llu bytes",
                        &start_kb, &peak_kb, &file_b, &kv_b),
                 4, "%s", p);
    double used = (double)(peak_kb - start_kb) * 1024.0;
    double bound = 1.10 * ((double)file_b + (double)kv_b);
    cr_log_info("%s: peak RSS %ld KiB, before load %ld KiB: engine %.2f MiB, bound %.2f MiB (file "
                "%.2f MiB + KV %.2f MiB + 10%%)",
                what, peak_kb, start_kb, used / 1048576.0, bound / 1048576.0,
                (double)file_b / 1048576.0, (double)kv_b / 1048576.0);
    cr_expect(start_kb > 0 && peak_kb > start_kb);
    cr_expect(used <= bound, "%s: %.0f bytes resident > bound %.0f", what, used, bound);
}

Test(vectors, resident_memory_within_model_plus_kv_plus_10_percent)
{
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("resident memory is not meaningful under AddressSanitizer");
#endif
    const char *bin = getenv("ARIA_BIN");
    cr_assert_not_null(bin);
    json_t *j = load_vectors();
    json_decref(j);
    check_rss(bin, model_path, "bitnet-tiny-A f32");

    /* A ternary (I2_S) model: the repacked weights replace the file's pages. */
    char path[128];
    snprintf(path, sizeof path, "/tmp/aria_test_vectors_rss_%d.gguf", (int)getpid());
    synth_opts so = {.arch = "bitnet-b1.58",
                     .wtype = KERN_WT_I2_S,
                     .etype = KERN_WT_F16,
                     .n_layer = 4,
                     .n_embd = 1024,
                     .n_ff = 2816,
                     .n_head = 8,
                     .n_head_kv = 2,
                     .n_vocab = 8000,
                     .seed = 77};
    cr_assert_eq(synth_write(path, &so), 0, "%s", aria_err_msg());
    check_rss(bin, path, "synthetic bitnet-b1.58 i2_s");
    unlink(path);
}

typedef struct gen_acc {
    int32_t ids[64];
    size_t n;
    char text[4096];
    size_t len;
    int flushes;
} gen_acc;

static int
gen_cb(void *ud, int32_t id, const float *logits, const char *text, size_t len)
{
    gen_acc *g = ud;
    if (id >= 0) {
        cr_assert_not_null(logits);
        g->ids[g->n++] = id;
    } else {
        g->flushes++;
    }
    cr_assert(g->len + len < sizeof g->text);
    memcpy(g->text + g->len, text, len);
    g->len += len;
    g->text[g->len] = 0;
    return 0;
}

Test(vectors, generate_streams_text_and_honours_stop_strings)
{
    json_t *j = load_vectors();
    json_t *cs = json_array_get(json_object_get(j, "cases"), 3);
    int32_t prompt[256], greedy[N_GREEDY];
    size_t np = ids_of(json_object_get(cs, "prompt_ids"), prompt, 256);
    ids_of(json_object_get(cs, "greedy_ids"), greedy, N_GREEDY);
    kern_model *m = NULL;
    cr_assert_eq(kern_model_load(model_path, NULL, &m), 0, "%s", aria_err_msg());
    kern_ctx *c = NULL;
    cr_assert_eq(kern_ctx_new(m, 128, 2, &c), 0);
    kern_gen_params gp = {.n_predict = N_GREEDY, .ignore_eos = true};
    kern_sample_params_default(&gp.sample);
    gp.sample.temp = 0;
    gen_acc a;
    memset(&a, 0, sizeof a);
    kern_gen_result res;
    cr_assert_eq(kern_generate(c, prompt, np, &gp, gen_cb, &a, &res), 0, "%s", aria_err_msg());
    cr_expect_eq(res.reason, KERN_STOP_LENGTH);
    cr_expect_eq(res.n_generated, N_GREEDY);
    cr_expect(a.n == N_GREEDY && memcmp(a.ids, greedy, sizeof greedy) == 0);
    /* The streamed text is the decoded ids. */
    aria_buf dec;
    aria_buf_init(&dec, 0);
    cr_assert_eq(kern_tok_decode(kern_model_tok(m), greedy, N_GREEDY, 0, &dec), 0);
    cr_expect(dec.len == a.len && memcmp(dec.data, a.text, a.len) == 0, "streamed '%s'", a.text);
    aria_buf_fini(&dec);
    cr_assert(a.len > 12);

    /* A stop string from the middle of that text: output ends right before it. */
    char stop[8];
    size_t at = a.len / 2;
    while (at < a.len && ((unsigned char)a.text[at] & 0xc0) == 0x80)
        at++;
    memcpy(stop, a.text + at, 4);
    stop[4] = 0;
    while (strlen(stop) && ((unsigned char)stop[strlen(stop) - 1] & 0x80))
        stop[strlen(stop) - 1] = 0; /* keep it ASCII-ended */
    cr_assert(strlen(stop) >= 1);
    const char *first = strstr(a.text, stop);
    size_t want_len = (size_t)(first - a.text);
    const char *stops[] = {"\xff never", stop};
    gp.stop = stops;
    gp.n_stop = 2;
    gen_acc b;
    memset(&b, 0, sizeof b);
    kern_ctx_truncate(c, 0);
    cr_assert_eq(kern_generate(c, prompt, np, &gp, gen_cb, &b, &res), 0);
    cr_expect_eq(res.reason, KERN_STOP_STRING);
    cr_expect_eq(b.len, want_len, "stop '%s': got '%s'", stop, b.text);
    cr_expect(memcmp(b.text, a.text, want_len) == 0);
    cr_expect_eq(b.flushes, 0);
    kern_ctx_free(c);
    kern_model_free(m);
    json_decref(j);
}
