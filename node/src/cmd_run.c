/*
 * cmd_run.c — `aria run`: load a model, tokenize a prompt (or take ids),
 * generate, and stream the text (or the ids) to stdout.
 *
 * Output contract (tests rely on it): with --ids stdout holds exactly one
 * line, the generated ids separated by single spaces; otherwise stdout holds
 * only the generated text. Diagnostics go to stderr. --logits-out writes
 * n_vocab float32 values (host byte order, little endian on x86-64) per
 * generated token, in generation order.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kernels.h"

#define RUN_MAX_PROMPT (1u << 20)

typedef struct run_out {
    bool ids;
    size_t n_ids;
    FILE *logits_f;
    uint32_t n_vocab;
    int io_err;
} run_out;

static int
on_token(void *ud, int32_t id, const float *logits, const char *text, size_t text_len)
{
    run_out *o = ud;
    if (id >= 0 && o->logits_f && logits) {
        if (fwrite(logits, sizeof(float), o->n_vocab, o->logits_f) != o->n_vocab)
            o->io_err = 1;
    }
    if (o->ids) {
        if (id >= 0)
            printf("%s%d", o->n_ids++ ? " " : "", id);
        return 0;
    }
    if (text && text_len) {
        fwrite(text, 1, text_len, stdout);
        fflush(stdout);
    }
    return 0;
}

/* "1,2,3" (spaces allowed) into ids. */
static int
parse_ids(const char *s, int32_t **out, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    int32_t *ids = aria_alloc_array(cap, sizeof(int32_t));
    if (!ids)
        return aria_errf(ARIA_ENOMEM, "out of memory");
    size_t k = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *te = e;
        while (te > p && te[-1] == ' ')
            te--;
        char buf[24];
        size_t len = (size_t)(te - p);
        if (len == 0 || len >= sizeof buf) {
            aria_free(ids);
            return aria_errf(ARIA_EINVAL, "--prompt-ids: bad id at position %zu", k);
        }
        memcpy(buf, p, len);
        buf[len] = 0;
        int64_t v;
        if (aria_parse_i64(buf, 0, INT32_MAX, "--prompt-ids entry", &v) < 0) {
            aria_free(ids);
            return ARIA_EINVAL;
        }
        ids[k++] = (int32_t)v;
        p = *e ? e + 1 : e;
    }
    if (k == 0) {
        aria_free(ids);
        return aria_errf(ARIA_EINVAL, "--prompt-ids: no ids");
    }
    *out = ids;
    *n = k;
    return 0;
}

/* A "VmRSS:"-style line of /proc/self/status in KiB, or -1. */
static long
proc_status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0) {
            int64_t x;
            char num[32];
            size_t n = 0;
            for (const char *p = line + kl; *p && n + 1 < sizeof num; p++)
                if (*p >= '0' && *p <= '9')
                    num[n++] = *p;
            num[n] = 0;
            if (n && aria_parse_i64(num, 0, INT64_MAX, key, &x) == 0)
                v = (long)x;
            break;
        }
    fclose(f);
    return v;
}

static const char *
stop_name(kern_stop_reason r)
{
    switch (r) {
    case KERN_STOP_LENGTH: return "length";
    case KERN_STOP_EOS: return "eos";
    case KERN_STOP_STRING: return "stop string";
    case KERN_STOP_CALLBACK: return "callback";
    case KERN_STOP_CONTEXT: return "context full";
    }
    return "?";
}

int
cmd_run(int argc, char **argv)
{
    const cli_verb *v = cli_verb_find("run");
    const char *model_path = NULL, *prompt = NULL, *prompt_ids = NULL, *logits_path = NULL;
    const char *system = NULL, *stops[16];
    size_t n_stops = 0;
    int64_t n_predict = 128, threads = 1, ctx = 0;
    bool chat = false, ids = false, verbose = false, ignore_eos = false, seed_set = false;
    bool int8_head = false;
    kern_kv_type kv = KERN_KV_F16;
    kern_gen_params gp;
    memset(&gp, 0, sizeof gp);
    kern_sample_params_default(&gp.sample);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        int64_t iv;
        uint64_t uv;
#define NEED_VAL                                                                                   \
    if (!val)                                                                                      \
        return cli_usage_error(v, "missing value after an option");                                \
    i++;
#define PARSE_D(lo, hi, what, dst)                                                                 \
    NEED_VAL if (aria_parse_double(val, lo, hi, what, &d) <                                        \
                 0) return cli_usage_error(v, aria_err_msg());                                     \
    dst = (float)d;
#define PARSE_I(lo, hi, what, dst)                                                                 \
    NEED_VAL if (aria_parse_i64(val, lo, hi, what, &iv) <                                          \
                 0) return cli_usage_error(v, aria_err_msg());                                     \
    dst = iv;
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) {
            NEED_VAL model_path = val;
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) {
            NEED_VAL prompt = val;
        } else if (strcmp(a, "--prompt-ids") == 0) {
            NEED_VAL prompt_ids = val;
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--n-predict") == 0) {
            PARSE_I(0, 1 << 24, "-n", n_predict);
        } else if (strcmp(a, "--temp") == 0) {
            PARSE_D(0, 1000, "--temp", gp.sample.temp);
        } else if (strcmp(a, "--top-k") == 0) {
            PARSE_I(0, INT32_MAX, "--top-k", iv);
            gp.sample.top_k = (uint32_t)iv;
        } else if (strcmp(a, "--top-p") == 0) {
            PARSE_D(0, 1, "--top-p", gp.sample.top_p);
        } else if (strcmp(a, "--min-p") == 0) {
            PARSE_D(0, 1, "--min-p", gp.sample.min_p);
        } else if (strcmp(a, "--repeat-penalty") == 0) {
            PARSE_D(0.01, 100, "--repeat-penalty", gp.sample.repeat_penalty);
        } else if (strcmp(a, "--repeat-last-n") == 0) {
            PARSE_I(0, 1 << 20, "--repeat-last-n", iv);
            gp.sample.repeat_last_n = (uint32_t)iv;
        } else if (strcmp(a, "--seed") == 0) {
            NEED_VAL if (aria_parse_u64(val, UINT64_MAX, "--seed", &uv) <
                         0) return cli_usage_error(v, aria_err_msg());
            gp.sample.seed = uv;
            seed_set = true;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            PARSE_I(1, 256, "--threads", threads);
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--ctx") == 0) {
            PARSE_I(1, 1 << 22, "--ctx", ctx);
        } else if (strcmp(a, "--int8-head") == 0) {
            int8_head = true;
        } else if (strcmp(a, "--kv") == 0) {
            NEED_VAL if (strcmp(val, "f16") == 0) kv = KERN_KV_F16;
            else if (strcmp(val, "f32") == 0) kv = KERN_KV_F32;
            else return cli_usage_error(v, "--kv must be f16 or f32");
        } else if (strcmp(a, "--stop") == 0) {
            NEED_VAL if (n_stops == ARIA_ARRAY_LEN(stops)) return cli_usage_error(
                v, "too many --stop strings (max 16)");
            if (!val[0])
                return cli_usage_error(v, "--stop needs a non-empty string");
            stops[n_stops++] = val;
        } else if (strcmp(a, "--system") == 0) {
            NEED_VAL system = val;
        } else if (strcmp(a, "--chat") == 0) {
            chat = true;
        } else if (strcmp(a, "--ids") == 0) {
            ids = true;
        } else if (strcmp(a, "--ignore-eos") == 0) {
            ignore_eos = true;
        } else if (strcmp(a, "--logits-out") == 0) {
            NEED_VAL logits_path = val;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            verbose = true;
        } else {
            char msg[160];
            aria_snprintf(msg, sizeof msg, "unknown option '%s'", a);
            return cli_usage_error(v, msg);
        }
#undef NEED_VAL
#undef PARSE_D
#undef PARSE_I
    }
    static char default_model[4096];
    if (!model_path && cli_default_model(default_model, sizeof default_model))
        model_path = default_model;
    if (!model_path)
        return cli_usage_error(v, "-m FILE is required (no default model in models/)");
    if (!prompt == !prompt_ids)
        return cli_usage_error(v, "give exactly one of -p TEXT and --prompt-ids LIST");
    if (chat && prompt_ids)
        return cli_usage_error(v, "--chat needs -p TEXT");
    if (!seed_set && gp.sample.temp > 0 &&
        aria_os_random(&gp.sample.seed, sizeof gp.sample.seed) < 0)
        return cli_fail(ARIA_EIO, "random seed");

    kern_model *m = NULL;
    kern_ctx *c = NULL;
    int32_t *pids = NULL;
    size_t n_pids = 0;
    FILE *lf = NULL;
    aria_buf chat_text;
    aria_buf_init(&chat_text, 0);
    int rc, ret = 1;
    long rss_start_kb = proc_status_kb("VmRSS:");
    kern_model_opts mo = {.no_tokenizer = false, .int8_head = int8_head};
    if ((rc = kern_model_load(model_path, &mo, &m)) < 0) {
        ret = cli_fail(rc, "loading the model");
        goto out;
    }
    const kern_model_info *I = kern_model_get_info(m);
    const kern_tok *tok = kern_model_tok(m);
    if (prompt_ids) {
        if ((rc = parse_ids(prompt_ids, &pids, &n_pids)) < 0) {
            ret = cli_usage_error(v, aria_err_msg());
            goto out;
        }
    } else {
        if (!tok) {
            ret = cli_fail(ARIA_EUNSUPPORTED, "the model file has no tokenizer; use --prompt-ids");
            goto out;
        }
        const char *text = prompt;
        size_t len = strlen(prompt);
        if (chat) {
            kern_chat_tmpl k = kern_chat_detect_gguf(kern_model_gguf(m), tok);
            kern_chat_msg msgs[2];
            size_t nm = 0;
            if (system)
                msgs[nm++] = (kern_chat_msg){"system", system};
            msgs[nm++] = (kern_chat_msg){"user", prompt};
            if ((rc = kern_chat_format(k, msgs, nm, true, &chat_text)) < 0) {
                ret = cli_fail(rc, "chat template");
                goto out;
            }
            text = chat_text.len ? (const char *)chat_text.data : "";
            len = chat_text.len;
        }
        size_t need = 0;
        rc = kern_tok_encode(tok, text, len, true, NULL, 0, &need);
        if (rc < 0 && rc != ARIA_ERANGE) {
            ret = cli_fail(rc, "tokenizing the prompt");
            goto out;
        }
        if (need == 0 || need > RUN_MAX_PROMPT) {
            ret = cli_fail(aria_errf(ARIA_EINVAL, "the prompt gives %zu tokens", need), "prompt");
            goto out;
        }
        pids = aria_alloc_array(need, sizeof(int32_t));
        if (!pids) {
            ret = cli_fail(ARIA_ENOMEM, "prompt");
            goto out;
        }
        if ((rc = kern_tok_encode(tok, text, len, true, pids, need, &n_pids)) < 0) {
            ret = cli_fail(rc, "tokenizing the prompt");
            goto out;
        }
    }
    for (size_t i = 0; i < n_pids; i++)
        if ((uint32_t)pids[i] >= I->n_vocab) {
            char msg[128];
            aria_snprintf(msg, sizeof msg, "prompt id %d is outside the vocabulary (%u ids)",
                          pids[i], I->n_vocab);
            ret = cli_usage_error(v, msg);
            goto out;
        }
    uint64_t need_ctx = (uint64_t)n_pids + (uint64_t)n_predict;
    if (ctx == 0) {
        if (need_ctx > I->n_ctx_train) {
            ret = cli_fail(aria_errf(ARIA_ERANGE,
                                     "the prompt (%zu tokens) + -n %lld exceeds the model's "
                                     "context length %u",
                                     n_pids, (long long)n_predict, I->n_ctx_train),
                           "context");
            goto out;
        }
        ctx = (int64_t)need_ctx;
    } else if (need_ctx > (uint64_t)ctx) {
        ret = cli_fail(aria_errf(ARIA_ERANGE,
                                 "the prompt (%zu tokens) + -n %lld exceeds the context size "
                                 "--ctx %lld",
                                 n_pids, (long long)n_predict, (long long)ctx),
                       "context");
        goto out;
    }
    kern_ctx_opts co = {
        .n_ctx = (uint32_t)ctx, .n_threads = (int)threads, .kv_type = kv, .n_batch = 0};
    if ((rc = kern_ctx_new_opts(m, &co, &c)) < 0) {
        ret = cli_fail(rc, "creating the context");
        goto out;
    }
    if (logits_path) {
        lf = fopen(logits_path, "wb");
        if (!lf) {
            ret = cli_fail(aria_errf(ARIA_EIO, "cannot open %s: %s", logits_path, strerror(errno)),
                           "--logits-out");
            goto out;
        }
    }
    run_out ro = {.ids = ids || !tok, .logits_f = lf, .n_vocab = I->n_vocab};
    gp.n_predict = (uint32_t)n_predict;
    gp.stop = stops;
    gp.n_stop = n_stops;
    gp.ignore_eos = ignore_eos;
    kern_gen_result res;
    if (n_predict > 0) {
        rc = kern_generate(c, pids, n_pids, &gp, on_token, &ro, &res);
    } else {
        rc = kern_ctx_eval(c, pids, n_pids, NULL);
        memset(&res, 0, sizeof res);
    }
    printf("\n");
    fflush(stdout);
    if (rc < 0) {
        ret = cli_fail(rc, "generating");
        goto out;
    }
    if (lf) {
        if (fclose(lf) != 0 || ro.io_err) {
            lf = NULL;
            ret = cli_fail(aria_errf(ARIA_EIO, "writing %s failed", logits_path), "--logits-out");
            goto out;
        }
        lf = NULL;
    }
    if (verbose) {
        double pt = (double)res.prompt_ns / 1e9, gt = (double)res.gen_ns / 1e9;
        fprintf(stderr,
                "aria run: %u prompt tokens in %.3f s (%.1f tok/s), %u generated in %.3f s "
                "(%.1f tok/s), stop: %s, isa %s, threads %lld, seed %llu\n",
                res.n_prompt, pt, pt > 0 ? res.n_prompt / pt : 0.0, res.n_generated, gt,
                gt > 0 ? res.n_generated / gt : 0.0, stop_name(res.reason),
                kern_isa_name(kern_isa_selected()), (long long)threads,
                (unsigned long long)gp.sample.seed);
        /* Memory: the engine's share is peak minus the process before loading. */
        uint64_t kvb = kern_ctx_kv_bytes(m, &co);
        fprintf(stderr,
                "aria run: rss before load %ld KiB, peak %ld KiB; model file %llu bytes, kv cache "
                "%llu bytes\n",
                rss_start_kb, proc_status_kb("VmHWM:"), (unsigned long long)I->file_bytes,
                (unsigned long long)kvb);
    }
    ret = 0;
out:
    if (lf)
        fclose(lf);
    aria_buf_fini(&chat_text);
    aria_free(pids);
    kern_ctx_free(c);
    kern_model_free(m);
    return ret;
}
