/*
 * config.c — INI configuration (libinih) with flag overrides.
 *
 * One table maps each key to its parser, so the file and the flags accept
 * exactly the same values with the same checks.
 */
#include "config.h"

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
node_config_defaults(node_config *c)
{
    memset(c, 0, sizeof *c);
    const char *home = getenv("ARIA_HOME");
    if (home && *home)
        snprintf(c->data_dir, sizeof c->data_dir, "%s", home);
    else if ((home = getenv("HOME")) && *home)
        snprintf(c->data_dir, sizeof c->data_dir, "%s/.aria", home);
    else
        snprintf(c->data_dir, sizeof c->data_dir, ".aria");
    snprintf(c->gossip_listen, sizeof c->gossip_listen, "tcp://127.0.0.1:7701");
    snprintf(c->service_listen, sizeof c->service_listen, "tcp://127.0.0.1:7702");
    snprintf(c->http_listen, sizeof c->http_listen, "127.0.0.1:8080");
    c->price_micro = 10;
    c->max_price_micro = 100;
    c->capacity = 2;
    c->threads = 2;
    c->ctx_len = 2048;
    c->log_level = ARIA_LOG_INFO;
    c->ledger_map_mib = 1024;
    c->http_body_max = 1 << 20;
    c->chunk_tokens = 32;
    c->bid_window_ms = 300;
    c->chunk_timeout_ms = 10000;
    c->job_timeout_ms = 300000;
}

typedef enum { K_STR, K_PATH, K_U64, K_INT, K_BOOL, K_LEVEL, K_PEER, K_MODEL } ktype;

typedef struct {
    const char *key;
    ktype type;
    size_t off;
    size_t size; /* for strings; for ints: max value */
    int64_t min;
} keydef;

#define STR(k, f)                                                                                  \
    {                                                                                              \
        k, K_STR, offsetof(node_config, f), sizeof(((node_config *)0)->f), 0                       \
    }
#define PATH(k, f)                                                                                 \
    {                                                                                              \
        k, K_PATH, offsetof(node_config, f), sizeof(((node_config *)0)->f), 0                      \
    }

static const keydef keys[] = {
    PATH("node.data_dir", data_dir),
    PATH("node.genesis", genesis),
    {"node.testnet", K_BOOL, offsetof(node_config, testnet), 0, 0},
    {"node.log_level", K_LEVEL, offsetof(node_config, log_level), 0, 0},
    STR("gossip.listen", gossip_listen),
    {"gossip.peer", K_PEER, 0, 0, 0},
    STR("service.listen", service_listen),
    STR("http.listen", http_listen),
    {"http.body_max", K_U64, offsetof(node_config, http_body_max), 64 << 20, 1024},
    {"provider.model", K_MODEL, 0, 0, 0},
    {"provider.price", K_U64, offsetof(node_config, price_micro), 1000000000, 0},
    {"provider.capacity", K_INT, offsetof(node_config, capacity), 256, 0},
    {"provider.threads", K_INT, offsetof(node_config, threads), 256, 1},
    {"provider.int8_head", K_BOOL, offsetof(node_config, int8_head), 0, 0},
    {"provider.ctx", K_INT, offsetof(node_config, ctx_len), 1 << 20, 16},
    {"requester.max_price", K_U64, offsetof(node_config, max_price_micro), 1000000000, 0},
    {"requester.chunk_tokens", K_INT, offsetof(node_config, chunk_tokens), 1024, 1},
    {"requester.bid_window_ms", K_INT, offsetof(node_config, bid_window_ms), 60000, 10},
    {"requester.chunk_timeout_ms", K_INT, offsetof(node_config, chunk_timeout_ms), 600000, 100},
    {"requester.job_timeout_ms", K_INT, offsetof(node_config, job_timeout_ms), 86400000, 1000},
    {"ledger.map_mib", K_U64, offsetof(node_config, ledger_map_mib), 1 << 20, 1},
};

int
node_config_set(node_config *c, const char *key, const char *value, const char *origin)
{
    const keydef *k = NULL;
    for (size_t i = 0; i < ARIA_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].key, key) == 0)
            k = &keys[i];
    if (!k)
        return aria_errf(ARIA_EINVAL, "%s: unknown configuration key '%s'", origin, key);
    char *base = (char *)c;
    switch (k->type) {
    case K_STR:
    case K_PATH:
        if (strlen(value) >= k->size)
            return aria_errf(ARIA_EINVAL, "%s: value of '%s' is longer than %zu bytes", origin, key,
                             k->size - 1);
        if (!*value)
            return aria_errf(ARIA_EINVAL, "%s: '%s' must not be empty", origin, key);
        snprintf(base + k->off, k->size, "%s", value);
        return 0;
    case K_PEER:
        if (c->n_peers >= NODE_CFG_MAX_PEERS)
            return aria_errf(ARIA_EINVAL, "%s: more than %d peers", origin, NODE_CFG_MAX_PEERS);
        if (strlen(value) >= sizeof c->peers[0] || !*value)
            return aria_errf(ARIA_EINVAL, "%s: bad peer address '%s'", origin, value);
        snprintf(c->peers[c->n_peers++], sizeof c->peers[0], "%s", value);
        return 0;
    case K_MODEL:
        if (c->n_models >= NODE_CFG_MAX_MODELS)
            return aria_errf(ARIA_EINVAL, "%s: more than %d models", origin, NODE_CFG_MAX_MODELS);
        if (strlen(value) >= sizeof c->models[0] || !*value)
            return aria_errf(ARIA_EINVAL, "%s: bad model path '%s'", origin, value);
        snprintf(c->models[c->n_models++], sizeof c->models[0], "%s", value);
        return 0;
    case K_U64: {
        uint64_t v;
        char what[300];
        snprintf(what, sizeof what, "%s: %s", origin, key);
        int rc = aria_parse_u64(value, k->size, what, &v);
        if (rc)
            return rc;
        if (v < (uint64_t)k->min)
            return aria_errf(ARIA_EINVAL, "%s: %s must be at least %lld", origin, key,
                             (long long)k->min);
        memcpy(base + k->off, &v, sizeof v);
        return 0;
    }
    case K_INT: {
        int64_t v;
        char what[300];
        snprintf(what, sizeof what, "%s: %s", origin, key);
        int rc = aria_parse_i64(value, k->min, (int64_t)k->size, what, &v);
        if (rc)
            return rc;
        int iv = (int)v;
        memcpy(base + k->off, &iv, sizeof iv);
        return 0;
    }
    case K_BOOL: {
        bool v;
        if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1"))
            v = true;
        else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0"))
            v = false;
        else
            return aria_errf(ARIA_EINVAL, "%s: %s must be true or false, not '%s'", origin, key,
                             value);
        memcpy(base + k->off, &v, sizeof v);
        return 0;
    }
    case K_LEVEL: {
        aria_log_level l;
        if (aria_log_level_parse(value, &l))
            return aria_errf(ARIA_EINVAL, "%s: %s", origin, aria_err_msg());
        memcpy(base + k->off, &l, sizeof l);
        return 0;
    }
    }
    return aria_errf(ARIA_EINTERNAL, "config: bad key table");
}

typedef struct {
    node_config *c;
    const char *path;
    int rc;
} ini_ctx;

static int
on_ini(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx *x = user;
    char key[256], origin[300];
    snprintf(key, sizeof key, "%s.%s", section, name);
    snprintf(origin, sizeof origin, "[%s] %s", section, name);
    int rc = node_config_set(x->c, key, value, origin);
    if (rc) {
        x->rc = rc;
        return 0; /* stop: ini_parse returns this line */
    }
    return 1;
}

int
node_config_load_file(node_config *c, const char *path)
{
    ini_ctx x = {c, path, 0};
    char saved[512] = "";
    int r = ini_parse(path, on_ini, &x);
    if (r == -1)
        return aria_errf(ARIA_EIO, "cannot open config file %s", path);
    if (r == -2)
        return aria_errf(ARIA_ENOMEM, "out of memory reading %s", path);
    if (r > 0) {
        if (x.rc) {
            snprintf(saved, sizeof saved, "%s", aria_err_msg());
            return aria_errf(x.rc, "%s:%d: %s", path, r, saved);
        }
        return aria_errf(ARIA_EINVAL, "%s:%d: syntax error (expected [section] or key = value)",
                         path, r);
    }
    return 0;
}
