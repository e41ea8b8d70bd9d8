/*
 * config.h — private to node: the node's configuration, read from an INI
 * file (libinih) and overridden by command-line flags.
 *
 * Every error names where the bad value came from: "FILE:LINE: key" for the
 * file, "--flag" for flags. The struct is plain data, owned by the caller.
 */
#ifndef ARIA_NODE_CONFIG_H
#define ARIA_NODE_CONFIG_H
#include <stdbool.h>
#include <stdint.h>

#include "base.h"

#define NODE_CFG_MAX_PEERS  32
#define NODE_CFG_MAX_MODELS 4
#define NODE_CFG_PATH_MAX   1024

typedef struct node_config {
    char data_dir[NODE_CFG_PATH_MAX];    /* keystore, ledger, peers, logs */
    char genesis[NODE_CFG_PATH_MAX];     /* genesis JSON; "" = use the stored ledger */
    char gossip_listen[256];             /* nng URL, e.g. tcp://127.0.0.1:7701 */
    char service_listen[256];            /* nng URL for direct messages */
    char http_listen[256];               /* host:port, loopback by default */
    char peers[NODE_CFG_MAX_PEERS][256]; /* bootstrap gossip URLs */
    int n_peers;
    char models[NODE_CFG_MAX_MODELS][NODE_CFG_PATH_MAX]; /* GGUF files served */
    int n_models;
    uint64_t price_micro;     /* asking price, micro-credits per token */
    uint64_t max_price_micro; /* default cap when requesting */
    int capacity;             /* concurrent jobs served */
    int threads;              /* inference threads */
    int ctx_len;              /* context length per job */
    bool testnet;             /* tart addresses, unencrypted keystore allowed */
    bool int8_head;           /* provider.int8_head: int8 copy of a float LM head */
    aria_log_level log_level;
    uint64_t ledger_map_mib; /* LMDB map size */
    uint64_t http_body_max;  /* request body limit in bytes */
    /* Network jobs (requester side). */
    int chunk_tokens;     /* tokens per pulled (and paid) chunk */
    int bid_window_ms;    /* how long an offer collects bids */
    int chunk_timeout_ms; /* a provider silent this long is abandoned */
    int job_timeout_ms;   /* a network job's deadline */
} node_config;

void node_config_defaults(node_config *c);
/* Read an INI file; keys are "section.key" pairs listed in docs/operations.md.
 * Unknown sections or keys, and bad values, are errors naming FILE:LINE. */
int node_config_load_file(node_config *c, const char *path) ARIA_MUST_CHECK;
/* Set one key ("node.data_dir", "http.listen", ...) from `origin` (a flag
 * name or "FILE:LINE") — the one place values are parsed. */
int node_config_set(node_config *c, const char *key, const char *value,
                    const char *origin) ARIA_MUST_CHECK;

#endif
