/*
 * cmd_bench.c — `aria bench`: end-to-end speed of a model in this engine.
 *
 * One run loads the model, then repeats R times: clear the KV cache,
 * evaluate a prompt of N deterministic pseudo-random ids in one call
 * (prefill), measure the memory read bandwidth with the same thread count
 * (kern_membw_meter: 3 passes of each of its two readers over a 1 GiB
 * buffer, the better median), then G greedy decode steps of one token each
 * (logits computed every step, as in generation), then the bandwidth again.
 * A warm-up repetition comes first and is not counted. The bandwidth is
 * measured in every repetition, right before and right after its decode,
 * because on a shared machine it moves by 2x within a minute: each decode
 * is divided by the mean of its two measurements (one measurement alone,
 * taken during another tenant's burst that ended before the decode, made a
 * fraction up to 0.97 out of a typical 0.75). Reported figures:
 *   prefill_tok_s, decode_tok_s   medians over the R repetitions (wall clock)
 *   bytes_per_token               bytes one decode step must read: the
 *                                 weights it streams (weight_bytes_per_token,
 *                                 kern_model_info.decode_bytes) plus the KV
 *                                 cache rows its attention reads
 *                                 (kv_bytes_per_token: 2 x layers x KV heads
 *                                 x head_dim x 2 bytes x positions attended,
 *                                 averaged over the timed decode steps)
 *   bandwidth_gbs                 median of the repetitions' bandwidths (1e9
 *                                 B/s; per repetition in bandwidth_runs_gbs,
 *                                 the mean of bandwidth_before_runs_gbs and
 *                                 bandwidth_after_runs_gbs)
 *   bandwidth_reader_gbs          the same median for each reader of the
 *                                 pass alone: [0] hardware prefetch only,
 *                                 [1] software prefetch of every line 16 KiB
 *                                 ahead, [2] the decode kernels' page kick
 *                                 (one prefetch per 4 KiB page), where the
 *                                 CPU has AVX2 (else only [0]), [3] the
 *                                 page kick with 512-bit loads where it has
 *                                 AVX-512F; each pass
 *                                 counts the best one, so all are at most
 *                                 bandwidth_gbs; which one wins moves with
 *                                 the machine's phase
 *   roofline_fraction             median over the repetitions of
 *                                 bytes_per_token * decode tok/s / bandwidth
 *   weight_roofline_fraction      the same with the weights alone
 *   cpu_s_per_token               process CPU seconds over all decode steps /
 *                                 decode tokens (every thread counts, spinning
 *                                 pool workers included)
 * The figures are measurements of this machine at this moment: on a shared
 * machine, look at load_avg (reported) before reading anything into them.
 *
 * Output: a human table on stdout, or with --json exactly one JSON object on
 * stdout. Diagnostics go to stderr.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kernels.h"

/* Lowest index of the largest logit. The best value stays in a register:
 * comparing against x[best] made every step wait on a load whose address
 * depended on the previous step (~8 cycles per logit, 0.12 ms per token on
 * a 32000 vocabulary, inside the timed decode). */
static int32_t
argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    float bv = x[0];
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > bv) {
            bv = x[i];
            best = i;
        }
    return (int32_t)best;
}

/* 1-minute load average from /proc/loadavg, or -1. */
static double
load_avg(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f)
        return -1;
    char line[128];
    double v = -1;
    if (fgets(line, sizeof line, f)) {
        char *sp = strchr(line, ' ');
        if (sp)
            *sp = 0;
        if (aria_parse_double(line, 0, 1e6, "loadavg", &v) < 0)
            v = -1;
    }
    fclose(f);
    return v;
}

typedef struct bench_cfg {
    const char *model;
    int threads;
    uint32_t n_prompt, n_gen, n_batch;
    int reps;
    size_t bw_bytes;
    bool json, int8_head;
} bench_cfg;

/* KV cache bytes the G timed decode steps read per step on average (to the
 * nearest byte): step g (token at position P + g) attends P + g + 1 cached
 * rows of K and of V in every layer and KV head; the cache is F16. */
static uint64_t
kv_bytes_per_token(const bench_cfg *cfg, const kern_model_info *I)
{
    double row = 2.0 * I->n_layer * I->n_head_kv * (double)I->head_dim * 2.0;
    double P = cfg->n_prompt, G = cfg->n_gen;
    return G > 0 ? (uint64_t)(row * (P + (G + 1.0) / 2.0) + 0.5) : 0;
}

typedef struct bench_res {
    double load_s;
    double prefill_s[256], decode_s[256];
    double decode_cpu_s, prefill_cpu_s;
    kern_membw bw; /* medians over the repetitions of the run bandwidths */
    kern_membw bw_before[256], bw_after[256]; /* right before and after each decode */
    uint64_t kv_bytes;                        /* kv_bytes_per_token */
    double load_before, load_after;
} bench_res;

/* A repetition's bandwidth: the mean of the passes before and after its
 * decode (cpu: per CPU-second of each thread). */
static double
run_gbs(const bench_res *r, int i, bool cpu)
{
    return cpu ? (r->bw_before[i].cpu_gbs + r->bw_after[i].cpu_gbs) / 2
               : (r->bw_before[i].gbs + r->bw_after[i].gbs) / 2;
}

/* A repetition's roofline fraction: bytes per token x its decode tok/s over
 * its bandwidth. */
static double
run_roof(const bench_res *r, int i, uint32_t n_gen, double bytes)
{
    return bytes * ((double)n_gen / r->decode_s[i]) / (run_gbs(r, i, false) * 1e9);
}

/* The timed part: R repetitions (after one warm-up) of prefill + decode. */
static int
bench_runs(const bench_cfg *cfg, kern_ctx *c, kern_membw_meter *bwm, bench_res *r)
{
    const kern_model_info *I = kern_model_get_info(kern_ctx_model(c));
    int32_t *ids = aria_alloc_array(cfg->n_prompt, sizeof(int32_t));
    float *logits = aria_alloc_array(I->n_vocab, sizeof(float));
    int rc = 0;
    if (!ids || !logits) {
        rc = aria_errf(ARIA_ENOMEM, "bench: out of memory");
        goto out;
    }
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 0; i < cfg->n_prompt; i++) { /* xorshift, fixed seed */
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ids[i] = (int32_t)(s % I->n_vocab);
    }
    for (int rep = -1; rep < cfg->reps; rep++) { /* rep -1: warm-up */
        kern_ctx_truncate(c, 0);
        double t0 = aria_clock_s(CLOCK_MONOTONIC), c0 = aria_clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if ((rc = kern_ctx_eval(c, ids, cfg->n_prompt, logits)) < 0)
            goto out;
        double bw_t0 = aria_clock_s(CLOCK_MONOTONIC),
               bw_c0 = aria_clock_s(CLOCK_PROCESS_CPUTIME_ID);
        kern_membw bw;
        if ((rc = kern_membw_meter_run(bwm, 3, &bw)) < 0)
            goto out;
        double t1 = aria_clock_s(CLOCK_MONOTONIC), c1 = aria_clock_s(CLOCK_PROCESS_CPUTIME_ID);
        for (uint32_t g = 0; g < cfg->n_gen; g++) {
            int32_t next = argmax(logits, I->n_vocab);
            if ((rc = kern_ctx_eval(c, &next, 1, logits)) < 0)
                goto out;
        }
        double t2 = aria_clock_s(CLOCK_MONOTONIC), c2 = aria_clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (rep < 0)
            continue;
        kern_membw bw2;
        if ((rc = kern_membw_meter_run(bwm, 3, &bw2)) < 0)
            goto out;
        r->prefill_s[rep] = bw_t0 - t0;
        r->decode_s[rep] = t2 - t1;
        r->bw_before[rep] = bw;
        r->bw_after[rep] = bw2;
        r->prefill_cpu_s += bw_c0 - c0;
        r->decode_cpu_s += c2 - c1;
    }
out:
    aria_free(ids);
    aria_free(logits);
    return rc;
}

static void
print_json(const bench_cfg *cfg, const kern_model_info *I, const bench_res *r, double pre_tok_s,
           double dec_tok_s, double roof, double cpu_tok, double pre_cpu_tok)
{
    json_t *pre = json_array(), *dec = json_array(), *bwr = json_array(), *bwb = json_array(),
           *bwa = json_array();
    for (int i = 0; i < cfg->reps; i++) {
        json_array_append_new(pre, json_real((double)cfg->n_prompt / r->prefill_s[i]));
        json_array_append_new(dec, json_real((double)cfg->n_gen / r->decode_s[i]));
        json_array_append_new(bwr, json_real(run_gbs(r, i, false)));
        json_array_append_new(bwb, json_real(r->bw_before[i].gbs));
        json_array_append_new(bwa, json_real(r->bw_after[i].gbs));
    }
    json_t *o = json_object();
#define SET(k, val) json_object_set_new(o, k, val)
    SET("model", json_string(cfg->model));
    SET("arch", json_string(I->arch_name));
    SET("proj_type", json_string(kern_wtype_name(I->proj_type)));
    SET("n_params", json_integer((json_int_t)I->n_params));
    SET("head", json_string(cfg->int8_head ? "int8" : "float"));
    SET("isa", json_string(kern_kernels_path()));
    SET("threads", json_integer(cfg->threads));
    SET("prompt", json_integer(cfg->n_prompt));
    SET("gen", json_integer(cfg->n_gen));
    SET("reps", json_integer(cfg->reps));
    SET("batch", json_integer(cfg->n_batch));
    SET("prefill_tok_s", json_real(pre_tok_s));
    SET("decode_tok_s", json_real(dec_tok_s));
    uint64_t bytes = I->decode_bytes + r->kv_bytes;
    SET("bytes_per_token", json_integer((json_int_t)bytes));
    SET("weight_bytes_per_token", json_integer((json_int_t)I->decode_bytes));
    SET("kv_bytes_per_token", json_integer((json_int_t)r->kv_bytes));
    SET("bandwidth_gbs", json_real(r->bw.gbs));
    SET("bandwidth_cpu_gbs", json_real(r->bw.cpu_gbs));
    json_t *rd = json_array();
    for (int k = 0; k < r->bw.n_readers; k++)
        json_array_append_new(rd, json_real(r->bw.reader_gbs[k]));
    SET("bandwidth_reader_gbs", rd);
    SET("roofline_fraction", json_real(roof));
    SET("weight_roofline_fraction", json_real(roof * (double)I->decode_bytes / (double)bytes));
    SET("cpu_s_per_token", json_real(cpu_tok));
    SET("prefill_cpu_s_per_token", json_real(pre_cpu_tok));
    SET("load_s", json_real(r->load_s));
    SET("load_avg_before", json_real(r->load_before));
    SET("load_avg_after", json_real(r->load_after));
    SET("prefill_runs_tok_s", pre);
    SET("decode_runs_tok_s", dec);
    SET("bandwidth_runs_gbs", bwr);
    SET("bandwidth_before_runs_gbs", bwb);
    SET("bandwidth_after_runs_gbs", bwa);
#undef SET
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (txt)
        printf("%s\n", txt);
    free(txt);
    json_decref(o);
}

static void
print_text(const bench_cfg *cfg, const kern_model_info *I, const bench_res *r, double pre_tok_s,
           double dec_tok_s, double roof, double cpu_tok, double pre_cpu_tok)
{
    printf("model          %s (%s, %s projections, %.3f B params, %s head)\n", cfg->model,
           I->arch_name, kern_wtype_name(I->proj_type), (double)I->n_params / 1e9,
           cfg->int8_head ? "int8" : "float");
    printf("kernels        %s, %d thread%s, load %.2f s\n", kern_kernels_path(), cfg->threads,
           cfg->threads == 1 ? "" : "s", r->load_s);
    printf("prefill        %.1f tok/s (median of %d, %u tokens, batch %u), %.4f CPU-s/token\n",
           pre_tok_s, cfg->reps, cfg->n_prompt, cfg->n_batch, pre_cpu_tok);
    printf("decode         %.1f tok/s (median of %d, %u tokens), %.4f CPU-s/token\n", dec_tok_s,
           cfg->reps, cfg->n_gen, cpu_tok);
    double bytes = (double)(I->decode_bytes + r->kv_bytes);
    printf("bytes/token    %.1f MB: %.1f MB of weights + %.1f MB of KV cache rows\n", bytes / 1e6,
           (double)I->decode_bytes / 1e6, (double)r->kv_bytes / 1e6);
    printf("bandwidth      %.2f GB/s read (%.2f GB/s per CPU-second of each thread; median of "
           "the repetitions, each the mean of passes right before and right after its decode)\n",
           r->bw.gbs, r->bw.cpu_gbs);
    printf("               readers alone: %.2f GB/s hardware prefetch", r->bw.reader_gbs[0]);
    if (r->bw.n_readers >= 3)
        printf(", %.2f GB/s every line 16 KiB ahead, %.2f GB/s page kick", r->bw.reader_gbs[1],
               r->bw.reader_gbs[2]);
    if (r->bw.n_readers == 4)
        printf(", %.2f GB/s page kick with 512-bit loads", r->bw.reader_gbs[3]);
    printf("\n");
    printf("roofline       %.1f %% (decode bound at this bandwidth: %.1f tok/s); weights alone "
           "%.1f %%\n",
           100.0 * roof, r->bw.gbs * 1e9 / bytes, 100.0 * roof * (double)I->decode_bytes / bytes);
    /* Per repetition: a shared host's bandwidth moves between and within
     * repetitions, and the median alone hides which run met which phase. */
    for (int i = 0; i < cfg->reps; i++) {
        printf(
            "%-15sdecode %.1f tok/s, bandwidth %.2f before / %.2f after GB/s, roofline %.1f %%\n",
            i == 0 ? "runs" : "", (double)cfg->n_gen / r->decode_s[i], r->bw_before[i].gbs,
            r->bw_after[i].gbs, 100.0 * run_roof(r, i, cfg->n_gen, bytes));
    }
    printf("load average   %.2f before, %.2f after\n", r->load_before, r->load_after);
}

int
cmd_bench(int argc, char **argv)
{
    const cli_verb *v = cli_verb_find("bench");
    bench_cfg cfg = {.threads = 1, .n_prompt = 64, .n_gen = 32, .n_batch = 64, .reps = 5};
    int64_t bw_mib = 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t iv;
#define PARSE_I(lo, hi, what)                                                                      \
    if (!val)                                                                                      \
        return cli_usage_error(v, "missing value after " what);                                    \
    i++;                                                                                           \
    if (aria_parse_i64(val, lo, hi, what, &iv) < 0)                                                \
        return cli_usage_error(v, aria_err_msg());
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            if (!val)
                return cli_usage_error(v, "missing value after -m");
            cfg.model = val;
            i++;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            PARSE_I(1, 256, "--threads");
            cfg.threads = (int)iv;
        } else if (strcmp(a, "--prompt") == 0 || strcmp(a, "-p") == 0) {
            PARSE_I(1, 1 << 16, "--prompt");
            cfg.n_prompt = (uint32_t)iv;
        } else if (strcmp(a, "--gen") == 0 || strcmp(a, "-n") == 0) {
            PARSE_I(1, 1 << 16, "--gen");
            cfg.n_gen = (uint32_t)iv;
        } else if (strcmp(a, "--reps") == 0 || strcmp(a, "-r") == 0) {
            PARSE_I(1, 256, "--reps");
            cfg.reps = (int)iv;
        } else if (strcmp(a, "--batch") == 0) {
            PARSE_I(1, 4096, "--batch");
            cfg.n_batch = (uint32_t)iv;
        } else if (strcmp(a, "--bw-mib") == 0) {
            PARSE_I(1, 1 << 20, "--bw-mib");
            bw_mib = iv;
        } else if (strcmp(a, "--int8-head") == 0) {
            cfg.int8_head = true;
        } else if (strcmp(a, "--json") == 0) {
            cfg.json = true;
        } else {
            char msg[160];
            aria_snprintf(msg, sizeof msg, "unknown option '%s'", a);
            return cli_usage_error(v, msg);
        }
#undef PARSE_I
    }
    if (!cfg.model)
        return cli_usage_error(v, "-m FILE is required");
    cfg.bw_bytes = (size_t)bw_mib << 20;

    bench_res *r = aria_calloc(1, sizeof *r);
    if (!r)
        return cli_fail(ARIA_ENOMEM, "bench");
    kern_model *m = NULL;
    kern_ctx *c = NULL;
    kern_membw_meter *bwm = NULL;
    int rc, ret = 1;
    r->load_before = load_avg();
    kern_model_opts mo = {.no_tokenizer = true, .int8_head = cfg.int8_head};
    double t0 = aria_clock_s(CLOCK_MONOTONIC);
    if ((rc = kern_model_load(cfg.model, &mo, &m)) < 0) {
        ret = cli_fail(rc, "loading the model");
        goto out;
    }
    r->load_s = aria_clock_s(CLOCK_MONOTONIC) - t0;
    const kern_model_info *I = kern_model_get_info(m);
    uint32_t need = cfg.n_prompt + cfg.n_gen;
    if (cfg.n_batch > cfg.n_prompt)
        cfg.n_batch = cfg.n_prompt;
    kern_ctx_opts co = {
        .n_ctx = need, .n_threads = cfg.threads, .kv_type = KERN_KV_F16, .n_batch = cfg.n_batch};
    if ((rc = kern_ctx_new_opts(m, &co, &c)) < 0) {
        ret = cli_fail(rc, "creating the context");
        goto out;
    }
    if ((rc = kern_membw_meter_new(cfg.threads, cfg.bw_bytes, &bwm)) < 0) {
        ret = cli_fail(rc, "measuring the memory bandwidth");
        goto out;
    }
    if ((rc = bench_runs(&cfg, c, bwm, r)) < 0) {
        ret = cli_fail(rc, "evaluating");
        goto out;
    }
    r->load_after = load_avg();
    double pre = (double)cfg.n_prompt / aria_median(r->prefill_s, (size_t)cfg.reps);
    double dec = (double)cfg.n_gen / aria_median(r->decode_s, (size_t)cfg.reps);
    r->kv_bytes = kv_bytes_per_token(&cfg, I);
    double bytes = (double)(I->decode_bytes + r->kv_bytes);
    double gbs[256], cgbs[256], roofs[256]; /* per repetition */
    for (int i = 0; i < cfg.reps; i++) {
        gbs[i] = run_gbs(r, i, false);
        cgbs[i] = run_gbs(r, i, true);
        roofs[i] = run_roof(r, i, cfg.n_gen, bytes);
    }
    r->bw.gbs = aria_median(gbs, (size_t)cfg.reps);
    r->bw.cpu_gbs = aria_median(cgbs, (size_t)cfg.reps);
    /* each reader the meter ran: the same median */
    r->bw.n_readers = r->bw_before[0].n_readers;
    for (int k = 0; k < r->bw.n_readers; k++) {
        for (int i = 0; i < cfg.reps; i++)
            gbs[i] = (r->bw_before[i].reader_gbs[k] + r->bw_after[i].reader_gbs[k]) / 2;
        r->bw.reader_gbs[k] = aria_median(gbs, (size_t)cfg.reps);
    }
    double roof = aria_median(roofs, (size_t)cfg.reps);
    double cpu_tok = r->decode_cpu_s / ((double)cfg.n_gen * cfg.reps);
    double pre_cpu_tok = r->prefill_cpu_s / ((double)cfg.n_prompt * cfg.reps);
    if (cfg.json)
        print_json(&cfg, I, r, pre, dec, roof, cpu_tok, pre_cpu_tok);
    else
        print_text(&cfg, I, r, pre, dec, roof, cpu_tok, pre_cpu_tok);
    fflush(stdout);
    ret = 0;
out:
    kern_membw_meter_free(bwm);
    kern_ctx_free(c);
    kern_model_free(m);
    aria_free(r);
    return ret;
}
