/*
 * cmd_wallet_node.c — `aria wallet balance` and `aria wallet send`: the
 * wallet subcommands that go through the local node's HTTP API (the node
 * owns the keystore and the ledger; the CLI holds no key here).
 *
 *   aria wallet balance [--node HOST:PORT] [--account ADDRESS]
 *   aria wallet send ADDRESS AMOUNT [--node HOST:PORT]
 *
 * HOST:PORT defaults to $ARIA_NODE, else the node's default http.listen
 * (127.0.0.1:8080). Errors the node answers (400 bad address, 402 too few
 * credits, 503 no ledger) are printed with the node's message; exit 1.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "httpc.h"

#define DEFAULT_NODE    "127.0.0.1:8080"
#define NODE_TIMEOUT_MS 30000

static const char *
default_node(void)
{
    const char *e = getenv("ARIA_NODE");
    return e && *e ? e : DEFAULT_NODE;
}

/* Call the node; on success *out is the parsed JSON object of a 2xx answer.
 * Error answers become aria_errf with the node's message. */
static int
call(const char *node, const char *method, const char *path, const char *body, json_t **out)
{
    aria_buf resp;
    aria_buf_init(&resp, NODE_HTTPC_MAX_RESPONSE);
    int status = 0;
    int rc = node_httpc_request(node, method, path, body, NODE_TIMEOUT_MS, &status, &resp);
    if (rc) {
        aria_buf_fini(&resp);
        return rc;
    }
    json_error_t jerr;
    json_t *j = json_loadb(resp.data ? (const char *)resp.data : "", resp.len, 0, &jerr);
    aria_buf_fini(&resp);
    if (!json_is_object(j)) {
        json_decref(j);
        return aria_errf(ARIA_EPROTO, "node %s answered %d with no JSON object", node, status);
    }
    if (status / 100 != 2) {
        const char *msg =
            json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        rc = aria_errf(status == 402   ? ARIA_EFUNDS
                       : status == 400 ? ARIA_EINVAL
                       : status == 503 ? ARIA_EAGAIN
                                       : ARIA_EIO,
                       "node %s: HTTP %d: %s", node, status, msg ? msg : "(no message)");
        json_decref(j);
        return rc;
    }
    *out = j;
    return 0;
}

static json_int_t
geti(json_t *j, const char *k)
{
    return json_integer_value(json_object_get(j, k));
}

static const char *
gets_(json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    return s ? s : "-";
}

int
cmd_wallet_balance(int argc, char **argv)
{
    const cli_verb *v = cli_verb_find("wallet");
    const char *node = default_node(), *account = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--node") && i + 1 < argc)
            node = argv[++i];
        else if (!strcmp(argv[i], "--account") && i + 1 < argc)
            account = argv[++i];
        else
            return cli_usage_error(v, "balance: unknown option or missing value");
    }
    char path[256];
    if (account) {
        for (const char *p = account; *p; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
                return cli_fail(
                    aria_errf(ARIA_EINVAL, "--account: '%.100s' is not an address", account),
                    "wallet balance");
        if (aria_snprintf(path, sizeof path, "/aria/v1/balance?account=%s", account) >=
            (int)sizeof path)
            return cli_fail(aria_errf(ARIA_EINVAL, "--account: too long"), "wallet balance");
    } else {
        aria_snprintf(path, sizeof path, "/aria/v1/balance");
    }
    json_t *j = NULL;
    int rc = call(node, "GET", path, NULL, &j);
    if (rc)
        return cli_fail(rc, "wallet balance");
    printf("account   %s\navailable %lld\npending   %lld\nbalance   %lld\nincoming  %lld\n",
           gets_(j, "account"), (long long)geti(j, "available"), (long long)geti(j, "pending"),
           (long long)geti(j, "balance"), (long long)geti(j, "incoming"));
    json_decref(j);
    return 0;
}

int
cmd_wallet_send(int argc, char **argv)
{
    const cli_verb *v = cli_verb_find("wallet");
    const char *node = default_node(), *pos[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--node") && i + 1 < argc)
            node = argv[++i];
        else if (argv[i][0] == '-')
            return cli_usage_error(v, "send: unknown option or missing value");
        else if (npos < 2)
            pos[npos++] = argv[i];
        else
            return cli_usage_error(v, "send: too many arguments");
    }
    if (npos != 2)
        return cli_usage_error(v, "send needs ADDRESS AMOUNT");
    uint64_t amount;
    int rc = aria_parse_u64(pos[1], (uint64_t)1 << 62, "AMOUNT", &amount);
    if (rc)
        return cli_fail(rc, "wallet send");
    if (amount == 0)
        return cli_fail(aria_errf(ARIA_EINVAL, "AMOUNT must be at least 1"), "wallet send");
    json_t *req = json_pack("{s:s, s:I}", "to", pos[0], "amount", (json_int_t)amount);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body)
        return cli_fail(aria_errf(ARIA_EINVAL, "ADDRESS is not valid text"), "wallet send");
    json_t *j = NULL;
    rc = call(node, "POST", "/aria/v1/send", body, &j);
    free(body);
    if (rc)
        return cli_fail(rc, "wallet send");
    printf("sent %lld to %s\nentry     %s\navailable %lld\n", (long long)geti(j, "amount"),
           gets_(j, "to"), gets_(j, "entry"), (long long)geti(j, "available"));
    json_decref(j);
    return 0;
}
