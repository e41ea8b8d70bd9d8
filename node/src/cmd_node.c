/*
 * cmd_node.c — `aria node run`: the daemon. Reads the INI config, applies
 * flags, loads the served model into the inference worker, serves the HTTP
 * API, and shuts down cleanly on SIGINT/SIGTERM.
 *
 * State of this build (see docs/operations.md): completions run on this
 * node's own model (provider "local", cost 0); the paid network path joins
 * when the wire, ledger and scheduler modules are wired in.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "build_info.h"
#include "cli.h"
#include "config.h"
#include "http.h"
#include "worker.h"

typedef struct node_app {
    node_config cfg;
    node_worker *w;
    uint64_t started_ms;
    uint64_t started_wall_ms;
} node_app;

static void
be_list_models(void *ctx, json_t *data)
{
    node_app *a = ctx;
    if (!a->w)
        return;
    json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s, s:{s:s}}", "id",
                                          node_worker_model_id(a->w), "object", "model", "created",
                                          (json_int_t)(a->started_ms / 1000), "owned_by", "aria",
                                          "aria", "arch", node_worker_model_arch(a->w)));
}

static int
be_submit(void *ctx, const node_completion_req *req, node_stream *s)
{
    node_app *a = ctx;
    if (!a->w)
        return aria_errf(ARIA_EAGAIN, "this node serves no model");
    return node_worker_submit(a->w, req, s);
}

static int
be_info(void *ctx, const char *what, json_t *out)
{
    node_app *a = ctx;
    if (!strcmp(what, "status")) {
        const node_worker_stats *st = a->w ? node_worker_get_stats(a->w) : NULL;
        json_object_set_new(out, "version", json_string(ARIA_VERSION));
        json_object_set_new(out, "git", json_string(ARIA_GIT_REV));
        json_object_set_new(out, "uptime_s",
                            json_integer((json_int_t)((aria_mono_ms() - a->started_ms) / 1000)));
        json_object_set_new(out, "model",
                            a->w ? json_string(node_worker_model_id(a->w)) : json_null());
        json_object_set_new(out, "network",
                            json_string("not wired in this build (local jobs only)"));
        if (st) {
            json_object_set_new(out, "jobs_done", json_integer((json_int_t)st->jobs_done));
            json_object_set_new(out, "jobs_running", json_integer(st->running));
            json_object_set_new(out, "jobs_queued", json_integer(st->queued));
        }
        return 0;
    }
    if (!strcmp(what, "jobs")) {
        const node_worker_stats *st = a->w ? node_worker_get_stats(a->w) : NULL;
        if (st) {
            json_object_set_new(out, "done", json_integer((json_int_t)st->jobs_done));
            json_object_set_new(out, "failed", json_integer((json_int_t)st->jobs_failed));
            json_object_set_new(out, "rejected", json_integer((json_int_t)st->jobs_rejected));
            json_object_set_new(out, "running", json_integer(st->running));
            json_object_set_new(out, "queued", json_integer(st->queued));
        }
        return 0;
    }
    if (!strcmp(what, "peers") || !strcmp(what, "balance") || !strcmp(what, "receipts"))
        return aria_errf(ARIA_EUNSUPPORTED,
                         "/aria/v1/%s needs the network and ledger, which this build does not "
                         "wire in yet",
                         what);
    return ARIA_ENOTFOUND;
}

static void
be_metrics(void *ctx, aria_buf *o)
{
    node_app *a = ctx;
    (void)aria_buf_printf(o,
                          "# HELP aria_build_info Build information.\n"
                          "# TYPE aria_build_info gauge\n"
                          "aria_build_info{version=\"%s\",git=\"%s\"} 1\n",
                          ARIA_VERSION, ARIA_GIT_REV);
    if (!a->w)
        return;
    const node_worker_stats *st = node_worker_get_stats(a->w);
    uint64_t gen = st->gen_tokens, gen_ns = st->gen_ns;
    (void)aria_buf_printf(o,
                          "# HELP aria_jobs_total Completion jobs by result.\n"
                          "# TYPE aria_jobs_total counter\n"
                          "aria_jobs_total{result=\"done\"} %llu\n"
                          "aria_jobs_total{result=\"failed\"} %llu\n"
                          "aria_jobs_total{result=\"rejected\"} %llu\n"
                          "# HELP aria_tokens_total Tokens processed by kind.\n"
                          "# TYPE aria_tokens_total counter\n"
                          "aria_tokens_total{kind=\"prompt\"} %llu\n"
                          "aria_tokens_total{kind=\"completion\"} %llu\n"
                          "# HELP aria_jobs_running Jobs being computed now.\n"
                          "# TYPE aria_jobs_running gauge\n"
                          "aria_jobs_running %d\n"
                          "# HELP aria_jobs_queued Jobs waiting for a worker.\n"
                          "# TYPE aria_jobs_queued gauge\n"
                          "aria_jobs_queued %d\n"
                          "# HELP aria_decode_tokens_per_second Mean decode speed over all jobs.\n"
                          "# TYPE aria_decode_tokens_per_second gauge\n"
                          "aria_decode_tokens_per_second %.3f\n",
                          (unsigned long long)st->jobs_done, (unsigned long long)st->jobs_failed,
                          (unsigned long long)st->jobs_rejected,
                          (unsigned long long)st->prompt_tokens, (unsigned long long)gen,
                          st->running, st->queued,
                          gen_ns ? (double)gen * 1e9 / (double)gen_ns : 0.0);
}

static int
node_run(int argc, char **argv)
{
    const cli_verb *v = cli_verb_find("node");
    static node_app app;
    memset(&app, 0, sizeof app);
    node_config_defaults(&app.cfg);
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"data-dir", required_argument, 0, 'd'},
                                         {"model", required_argument, 0, 'm'},
                                         {"http", required_argument, 0, 'H'},
                                         {"threads", required_argument, 0, 't'},
                                         {"capacity", required_argument, 0, 'k'},
                                         {"ctx", required_argument, 0, 'x'},
                                         {"log-level", required_argument, 0, 'l'},
                                         {0, 0, 0, 0}};
    /* Pass 1: the config file; pass 2: flags override it. */
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:d:m:H:t:k:x:l:", opts, NULL)) != -1) {
        if (ch == '?')
            return cli_usage_error(v, "unknown option or missing value");
        if (ch == 'c' && node_config_load_file(&app.cfg, optarg))
            return cli_fail(ARIA_EINVAL, "config");
    }
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:d:m:H:t:k:x:l:", opts, NULL)) != -1) {
        const char *key = NULL, *flag = NULL;
        switch (ch) {
        case 'd': key = "node.data_dir", flag = "--data-dir"; break;
        case 'm': key = "provider.model", flag = "--model"; break;
        case 'H': key = "http.listen", flag = "--http"; break;
        case 't': key = "provider.threads", flag = "--threads"; break;
        case 'k': key = "provider.capacity", flag = "--capacity"; break;
        case 'x': key = "provider.ctx", flag = "--ctx"; break;
        case 'l': key = "node.log_level", flag = "--log-level"; break;
        default: continue;
        }
        if (ch == 'm')
            app.cfg.n_models = 0; /* the flag replaces the file's models */
        if (node_config_set(&app.cfg, key, optarg, flag))
            return cli_fail(ARIA_EINVAL, "config");
    }
    if (optind < argc)
        return cli_usage_error(v, "unexpected argument");
    aria_log_set_level(app.cfg.log_level);
    if (mkdir(app.cfg.data_dir, 0700) != 0 && errno != EEXIST)
        return cli_fail(aria_errf(ARIA_EIO, "cannot create data directory %s: %s", app.cfg.data_dir,
                                  strerror(errno)),
                        "node");

    /* Block the signals in every thread; this thread waits for them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    app.started_ms = aria_mono_ms();
    app.started_wall_ms = aria_wall_ms();
    if (app.cfg.n_models > 0) {
        node_worker_opts wo = {app.cfg.models[0], app.cfg.capacity > 0 ? app.cfg.capacity : 1,
                               app.cfg.threads, (uint32_t)app.cfg.ctx_len, 0};
        if (node_worker_open(&wo, &app.w))
            return cli_fail(ARIA_EINVAL, app.cfg.models[0]);
        ARIA_LOG_I("N0001", "node", "serving model %s (%s) on %d worker(s) x %d thread(s)",
                   node_worker_model_id(app.w), node_worker_model_arch(app.w), wo.capacity,
                   wo.threads);
    } else {
        ARIA_LOG_W("N0002", "node", "no model configured: this node serves no completions");
    }
    node_backend be = {&app, be_list_models, be_submit, be_info, be_metrics};
    node_http_opts ho = {app.cfg.http_listen, app.cfg.http_body_max, 64, 300};
    node_http *http = NULL;
    if (node_http_open(&ho, &be, &http)) {
        int rc = cli_fail(ARIA_EIO, "http");
        node_worker_close(app.w);
        return rc;
    }
    ARIA_LOG_I("N0003", "node", "HTTP API on http://%.*s:%d/v1 (data dir %s)",
               (int)(strrchr(app.cfg.http_listen, ':') - app.cfg.http_listen), app.cfg.http_listen,
               node_http_port(http), app.cfg.data_dir);
    /* The readiness line scripts wait for. */
    printf("aria node: ready http=%.*s:%d model=%s\n",
           (int)(strrchr(app.cfg.http_listen, ':') - app.cfg.http_listen), app.cfg.http_listen,
           node_http_port(http), app.w ? node_worker_model_id(app.w) : "-");
    fflush(stdout);
    int sig = 0;
    sigwait(&sigs, &sig);
    ARIA_LOG_I("N0004", "node", "signal %d: shutting down", sig);
    node_http_close(http);
    node_worker_close(app.w);
    ARIA_LOG_I("N0005", "node", "stopped cleanly");
    return 0;
}

int
cmd_node(int argc, char **argv)
{
    const cli_verb *v = cli_verb_find("node");
    if (argc < 2)
        return cli_usage_error(v, "missing subcommand");
    if (!strcmp(argv[1], "run"))
        return node_run(argc - 1, argv + 1);
    return cli_usage_error(v, "unknown subcommand");
}
