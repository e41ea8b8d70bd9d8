/*
 * cmd_infer.c — `aria infer` (a paid job through the local node, streamed)
 * and `aria node status` (the node's status through its API).
 *
 *   aria infer "PROMPT" [-n N] [--max-price P] [--model M] [--chat] [--temp T]
 *              [--seed S] [--repeat-penalty R] [--local] [--node HOST:PORT]
 *
 * The text is printed as the node streams it (server-sent events over
 * HTTP/1.0); then, on stderr, the tokens, provider, cost and job id. Errors
 * the node answers (402 too few credits, 503 no provider, ...) are printed
 * with the node's message; exit 1.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "httpc.h"

static const char *
node_addr(const char *flag)
{
    if (flag)
        return flag;
    const char *e = getenv("ARIA_NODE");
    return e && *e ? e : "127.0.0.1:8080";
}

typedef struct sse {
    aria_buf line; /* the event being assembled */
    int chat;
    json_t *last; /* the event with finish_reason */
    json_t *error;
    size_t text_bytes;
} sse;

static void
sse_event(sse *x, const char *data)
{
    if (!strcmp(data, "[DONE]"))
        return;
    json_t *ev = json_loads(data, 0, NULL);
    if (!ev)
        return;
    if (json_object_get(ev, "error")) {
        json_decref(x->error);
        x->error = ev;
        return;
    }
    json_t *ch = json_array_get(json_object_get(ev, "choices"), 0);
    const char *t =
        x->chat ? json_string_value(json_object_get(json_object_get(ch, "delta"), "content"))
                : json_string_value(json_object_get(ch, "text"));
    if (t && *t) {
        fputs(t, stdout);
        fflush(stdout);
        x->text_bytes += strlen(t);
    }
    if (json_is_string(json_object_get(ch, "finish_reason"))) {
        json_decref(x->last);
        x->last = ev;
        return;
    }
    json_decref(ev);
}

static int
on_bytes(void *ctx, const char *p, size_t n)
{
    sse *x = ctx;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\n') {
            if (aria_buf_put(&x->line, &p[i], 1))
                return 1;
            continue;
        }
        (void)aria_buf_put(&x->line, "", 1);
        const char *l = (const char *)x->line.data;
        if (l && !strncmp(l, "data: ", 6))
            sse_event(x, l + 6);
        aria_buf_reset(&x->line);
    }
    return 0;
}

static int
http_error(const char *node, int status, const aria_buf *body)
{
    json_t *j = json_loads(body->data ? (const char *)body->data : "", 0, NULL);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    int rc = aria_errf(status == 402   ? ARIA_EFUNDS
                       : status == 400 ? ARIA_EINVAL
                       : status == 404 ? ARIA_ENOTFOUND
                       : status == 503 ? ARIA_EAGAIN
                                       : ARIA_EIO,
                       "node %s: HTTP %d: %s", node, status, msg ? msg : "(no message)");
    json_decref(j);
    return rc;
}

int
cmd_infer(int argc, char **argv)
{
    const cli_verb *v = cli_verb_find("infer");
    static const struct option opts[] = {{"max-price", required_argument, 0, 'P'},
                                         {"model", required_argument, 0, 'm'},
                                         {"chat", no_argument, 0, 'c'},
                                         {"temp", required_argument, 0, 't'},
                                         {"seed", required_argument, 0, 's'},
                                         {"local", no_argument, 0, 'L'},
                                         {"node", required_argument, 0, 'N'},
                                         {"repeat-penalty", required_argument, 0, 'R'},
                                         {0, 0, 0, 0}};
    uint64_t n = 64, max_price = 0, seed = 0;
    bool has_seed = false, chat = false, local = false;
    double temp = 0.8, rep = 1.0;
    const char *model = NULL, *node = NULL;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
        int rc = 0;
        switch (ch) {
        case 'n': rc = aria_parse_u64(optarg, 1 << 20, "-n", &n); break;
        case 'P': rc = aria_parse_u64(optarg, 1000000000, "--max-price", &max_price); break;
        case 'm': model = optarg; break;
        case 'c': chat = true; break;
        case 't': {
            char *end;
            temp = strtod(optarg, &end);
            if (*end || temp < 0 || temp > 2)
                rc = aria_errf(ARIA_EINVAL, "--temp must be a number in 0..2, not '%s'", optarg);
            break;
        }
        case 's':
            rc = aria_parse_u64(optarg, INT64_MAX, "--seed", &seed);
            has_seed = true;
            break;
        case 'L': local = true; break;
        case 'R': {
            char *end;
            rep = strtod(optarg, &end);
            if (*end || rep < 0.01 || rep > 10)
                rc = aria_errf(ARIA_EINVAL, "--repeat-penalty must be in 0.01..10, not '%s'",
                               optarg);
            break;
        }
        case 'N': node = optarg; break;
        default: return cli_usage_error(v, "unknown option or missing value");
        }
        if (rc)
            return cli_usage_error(v, aria_err_msg());
    }
    if (optind != argc - 1 || n == 0)
        return cli_usage_error(v, "give exactly one PROMPT (quote it)");
    const char *prompt = argv[optind];
    json_t *body =
        json_pack("{s:I, s:f, s:b}", "max_tokens", (json_int_t)n, "temperature", temp, "stream", 1);
    if (chat)
        json_object_set_new(body, "messages",
                            json_pack("[{s:s, s:s}]", "role", "user", "content", prompt));
    else
        json_object_set_new(body, "prompt", json_string(prompt));
    if (model)
        json_object_set_new(body, "model", json_string(model));
    if (has_seed)
        json_object_set_new(body, "seed", json_integer((json_int_t)seed));
    if (rep != 1.0)
        json_object_set_new(body, "repetition_penalty", json_real(rep));
    if (max_price || local)
        json_object_set_new(
            body, "aria",
            json_pack("{s:I, s:b}", "max_price", (json_int_t)max_price, "local", local));
    char *js = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!js)
        return cli_fail(ARIA_ENOMEM, "infer");
    const char *addr = node_addr(node);
    sse x;
    memset(&x, 0, sizeof x);
    x.chat = chat;
    aria_buf_init(&x.line, 1 << 20);
    aria_buf err;
    aria_buf_init(&err, 1 << 20);
    int status = 0;
    int rc = node_httpc_stream(addr, "POST", chat ? "/v1/chat/completions" : "/v1/completions", js,
                               300000, on_bytes, &x, &status, &err);
    free(js);
    if (!rc && status / 100 != 2)
        rc = http_error(addr, status, &err);
    if (!rc && x.error) {
        const char *m =
            json_string_value(json_object_get(json_object_get(x.error, "error"), "message"));
        rc = aria_errf(ARIA_EIO, "the job failed: %s", m ? m : "(no message)");
    }
    if (!rc && !x.last)
        rc = aria_errf(ARIA_EPROTO, "the node's stream ended without a final event");
    if (x.text_bytes)
        fputc('\n', stdout);
    fflush(stdout); /* the summary goes to stderr after the text */
    if (!rc) {
        json_t *u = json_object_get(x.last, "usage"), *a = json_object_get(x.last, "aria");
        fprintf(stderr, "-- %lld tokens (%s) from %s, cost %lld micro-credits%s%s\n",
                (long long)json_integer_value(json_object_get(u, "completion_tokens")),
                json_string_value(json_object_get(
                    json_array_get(json_object_get(x.last, "choices"), 0), "finish_reason")),
                json_string_value(json_object_get(a, "provider")),
                (long long)json_integer_value(json_object_get(a, "cost_micro")),
                json_string_length(json_object_get(a, "job_id")) ? ", job " : "",
                json_string_value(json_object_get(a, "job_id")));
    }
    json_decref(x.last);
    json_decref(x.error);
    aria_buf_fini(&x.line);
    aria_buf_fini(&err);
    return rc ? cli_fail(rc, "infer") : 0;
}

int
cmd_node_status(int argc, char **argv)
{
    const cli_verb *v = cli_verb_find("node");
    const char *node = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--node") && i + 1 < argc)
            node = argv[++i];
        else
            return cli_usage_error(v, "node status takes only --node HOST:PORT");
    }
    const char *addr = node_addr(node);
    aria_buf resp;
    aria_buf_init(&resp, NODE_HTTPC_MAX_RESPONSE);
    int status = 0;
    int rc = node_httpc_request(addr, "GET", "/aria/v1/status", NULL, 10000, &status, &resp);
    if (!rc && status != 200)
        rc = http_error(addr, status, &resp);
    json_t *j = rc ? NULL : json_loads((const char *)resp.data, 0, NULL);
    aria_buf_fini(&resp);
    if (!rc && !json_is_object(j))
        rc = aria_errf(ARIA_EPROTO, "node %s: status is not a JSON object", addr);
    if (rc) {
        json_decref(j);
        return cli_fail(rc, "node status");
    }
    const char *k;
    json_t *val;
    printf("node %s\n", addr);
    json_object_foreach(j, k, val)
    {
        char *s = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
        if (json_is_string(val))
            printf("  %-16s %s\n", k, json_string_value(val));
        else
            printf("  %-16s %s\n", k, s ? s : "?");
        free(s);
    }
    json_decref(j);
    return 0;
}
