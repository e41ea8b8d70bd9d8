/*
 * cmd_node.c — `aria node run`: the daemon. Reads the INI config, applies
 * flags, loads the served model into the inference worker, serves the HTTP
 * API, and shuts down cleanly on SIGINT/SIGTERM.
 *
 * State of this build (see docs/operations.md): completions run on this
 * node's own model (provider "local", cost 0); the paid network path joins
 * when the wire and scheduler modules are wired in. With a genesis
 * (node.genesis / --genesis, or a ledger already in the data directory) the
 * node owns its identity (<data_dir>/wallet.key) and its ledger
 * (<data_dir>/ledger): it claims its genesis allocation, answers balance and
 * receipts, and signs sends (POST /aria/v1/send).
 *
 * Invariants: the ledger handle is used only under app.lock (HTTP threads
 * call in); the wallet is immutable and closed after the HTTP server stops.
 */
#include <errno.h>
#include <stdlib.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build_info.h"
#include "cli.h"
#include "config.h"
#include "http.h"
#include "ledger.h"
#include "net.h"
#include "wallet.h"
#include "worker.h"
#include <sys/signalfd.h>

typedef struct node_app {
    node_config cfg;
    node_worker *w;
    uint64_t started_ms;
    uint64_t started_wall_ms;
    /* Identity and ledger: both NULL when no genesis is configured. */
    wallet *wal;
    ledger *led;
    uint8_t account[WALLET_ID_BYTES];
    pthread_mutex_t lock; /* guards led and the counters below */
    uint64_t sends_ok, sends_failed, credits_sent;
    node_net *net; /* the network side; NULL without a ledger */
} node_app;

static void
be_list_models(void *ctx, json_t *data)
{
    node_app *a = ctx;
    if (a->w)
        json_array_append_new(data,
                              json_pack("{s:s, s:s, s:I, s:s, s:{s:s, s:b}}", "id",
                                        node_worker_model_id(a->w), "object", "model", "created",
                                        (json_int_t)(a->started_ms / 1000), "owned_by", "aria",
                                        "aria", "arch", node_worker_model_arch(a->w), "local", 1));
    json_t *o = json_object();
    if (a->net && o && node_net_info(a->net, "models", o) == 0) {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(o, "models"), i, m) json_array_append_new(
            data, json_pack("{s:O, s:s, s:I, s:s, s:{s:b}}", "id", m, "object", "model", "created",
                            (json_int_t)(a->started_ms / 1000), "owned_by", "aria-network", "aria",
                            "local", 0));
    }
    json_decref(o);
}

static int
be_submit(void *ctx, const node_completion_req *req, node_stream *s)
{
    node_app *a = ctx;
    if (!req->local && a->net)
        return node_net_submit(a->net, req, s);
    if (!a->w)
        return aria_errf(ARIA_EAGAIN, "this node serves no model%s",
                         a->net ? "" : " and is not on a network (no genesis)");
    return node_worker_submit(a->w, req, s);
}

/* ---- identity and ledger ---- */

static void
hex32(char out[65], const uint8_t b[32])
{
    aria_hex_encode(out, 65, b, 32);
}

static json_t *
address_json(const node_app *a, const uint8_t id[32])
{
    char addr[WALLET_ADDRESS_MAX];
    if (wallet_address_encode(id, a->cfg.testnet, addr))
        return json_null();
    return json_string(addr);
}

/* ARIA_EINVAL naming the field, with the wallet's reason (copied first:
 * aria_errf reuses the message buffer). */
static int
bad_account(const char *field, const char *value)
{
    char why[256];
    aria_snprintf(why, sizeof why, "%s", aria_err_msg());
    return aria_errf(ARIA_EINVAL, "%s '%.100s': %s", field, value, why);
}

/* Open <data_dir>/wallet.key, creating it on first start: encrypted with
 * ARIA_PASSPHRASE when set, unencrypted only on a testnet. */
static int
identity_open(node_app *a)
{
    char path[NODE_CFG_PATH_MAX + 16];
    aria_snprintf(path, sizeof path, "%s/wallet.key", a->cfg.data_dir);
    const char *env = getenv("ARIA_PASSPHRASE");
    bool have_pass = env && *env;
    int rc;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (!have_pass && !a->cfg.testnet)
            return aria_errf(
                ARIA_EPERM,
                "no keystore %s: set ARIA_PASSPHRASE to create an encrypted one, or "
                "run a testnet (node.testnet = true / --testnet) for an unencrypted one",
                path);
        char *pass = NULL;
        if (have_pass &&
            (rc = wallet_passphrase_read("ARIA_PASSPHRASE", "Keystore passphrase: ", false, &pass)))
            return rc;
        rc = wallet_keystore_create(path, pass, &a->wal);
        wallet_passphrase_free(pass);
        if (rc)
            return rc;
        ARIA_LOG_I("N0010", "node", "created keystore %s (%s)", path,
                   have_pass ? "encrypted" : "UNENCRYPTED, testnet");
    } else {
        bool enc = false;
        if ((rc = wallet_keystore_is_encrypted(path, &enc)))
            return rc;
        if (!enc && !a->cfg.testnet)
            return aria_errf(ARIA_EPERM,
                             "keystore %s is unencrypted, which only a testnet accepts "
                             "(node.testnet = true / --testnet); encrypt it with 'aria wallet "
                             "change-passphrase --file %s'",
                             path, path);
        char *pass = NULL;
        if (enc &&
            (rc = wallet_passphrase_read("ARIA_PASSPHRASE", "Keystore passphrase: ", false, &pass)))
            return rc;
        rc = wallet_keystore_load(path, pass, &a->wal);
        wallet_passphrase_free(pass);
        if (rc)
            return rc;
    }
    wallet_account_id(a->wal, a->account);
    return 0;
}

/* Open <data_dir>/ledger with the configured genesis and claim this node's
 * genesis allocation if it has one and has not claimed it yet. */
static int
ledger_start(node_app *a)
{
    char dir[NODE_CFG_PATH_MAX + 16];
    aria_snprintf(dir, sizeof dir, "%s/ledger", a->cfg.data_dir);
    ledger_genesis *g = NULL;
    int rc;
    if (a->cfg.genesis[0] && (rc = ledger_genesis_load(a->cfg.genesis, &g)))
        return rc;
    ledger_options o;
    ledger_options_default(&o);
    o.map_size_bytes = (size_t)a->cfg.ledger_map_mib << 20;
    rc = ledger_open(dir, g, &o, &a->led);
    ledger_genesis_free(g);
    if (rc)
        return rc;
    ledger_account_info ai;
    if ((rc = ledger_account(a->led, a->account, &ai)))
        return rc;
    if (ai.allocation > 0 && ai.chain_len == 0) {
        ledger_entry e;
        memset(&e, 0, sizeof e);
        ledger_network_id(a->led, e.network);
        e.seq = 0;
        e.created_ms = aria_wall_ms();
        e.kind = LEDGER_KIND_GENESIS;
        e.amount = ai.allocation;
        aria_buf b;
        aria_buf_init(&b, LEDGER_ENTRY_MAX_BYTES);
        rc = ledger_entry_sign(&e, a->wal, &b, NULL);
        if (!rc)
            rc = ledger_apply(a->led, b.data, b.len, NULL);
        aria_buf_fini(&b);
        if (rc)
            return rc;
        ARIA_LOG_I("N0011", "node", "claimed genesis allocation of %llu credits",
                   (unsigned long long)ai.allocation);
    }
    return 0;
}

typedef struct acct_list {
    uint8_t (*ids)[32];
    size_t n, cap;
} acct_list;

static int
acct_list_cb(void *ctx, const ledger_account_info *ai)
{
    acct_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        uint8_t(*p)[32] = aria_realloc(l->ids, cap * 32);
        if (!p)
            return ARIA_ENOMEM;
        l->ids = p, l->cap = cap;
    }
    memcpy(l->ids[l->n++], ai->account, 32);
    return 0;
}

static int
id_cmp(const void *p, const void *q)
{
    return memcmp(p, q, 32);
}

typedef struct incoming_ctx {
    const uint8_t *to;
    uint8_t (*received)[32]; /* ids of sends the recipient's chain received */
    size_t n_received, cap_received;
    uint64_t sum;
    bool collect;                         /* pass 1: collect receive sources of `to` */
    uint8_t pick[LEDGER_MAX_SOURCES][32]; /* the first unreceived sends */
    size_t n_pick;
} incoming_ctx;

static int
incoming_cb(void *ctx, const ledger_entry *e, const ledger_entry_info *info)
{
    incoming_ctx *x = ctx;
    if (!info->live)
        return 0;
    if (x->collect) {
        for (uint32_t i = 0; e->kind == LEDGER_KIND_RECEIVE && i < e->n_sources; i++) {
            if (x->n_received == x->cap_received) {
                size_t cap = x->cap_received ? x->cap_received * 2 : 64;
                uint8_t(*p)[32] = aria_realloc(x->received, cap * 32);
                if (!p)
                    return ARIA_ENOMEM;
                x->received = p, x->cap_received = cap;
            }
            memcpy(x->received[x->n_received++], e->sources[i], 32);
        }
        return 0;
    }
    if (e->kind != LEDGER_KIND_SEND || memcmp(e->to, x->to, 32) != 0)
        return 0;
    /* received is sorted after pass 1: a provider's chain receives one
     * send per paid job, and a linear search made each scan quadratic */
    if (x->n_received && bsearch(info->id, x->received, x->n_received, 32, id_cmp))
        return 0;
    x->sum += e->amount;
    if (x->n_pick < LEDGER_MAX_SOURCES)
        memcpy(x->pick[x->n_pick++], info->id, 32);
    return 0;
}

/* Credits sent to `acc` by live sends its chain has not received yet (a
 * full scan: fine for a single node's ledger). Caller holds the lock. x is
 * caller storage (large); x->pick gets the ids of up to 16 such sends. */
static int
incoming_scan(node_app *a, const uint8_t acc[32], incoming_ctx *x)
{
    acct_list l = {0};
    memset(x, 0, sizeof *x);
    x->to = acc;
    x->collect = true;
    int rc = ledger_history(a->led, acc, 0, 0, incoming_cb, x);
    if (!rc)
        rc = ledger_accounts(a->led, acct_list_cb, &l);
    if (x->n_received)
        qsort(x->received, x->n_received, 32, id_cmp);
    x->collect = false;
    for (size_t i = 0; !rc && i < l.n; i++)
        if (memcmp(l.ids[i], acc, 32) != 0)
            rc = ledger_history(a->led, l.ids[i], 0, 0, incoming_cb, x);
    aria_free(l.ids);
    aria_free(x->received);
    x->received = NULL;
    return rc < 0 ? rc : rc ? ARIA_EINTERNAL : 0;
}

/* Receive (sign a RECEIVE entry for) up to 16 live sends to this node's
 * account that its chain has not received yet. The node loop calls this at
 * start and every few seconds; sends arrive by import today, by gossip once
 * the network is wired in. Returns how many sends were received, or < 0. */
static int
auto_receive(node_app *a)
{
    static incoming_ctx x; /* only the main thread calls this */
    ledger_account_info ai;
    pthread_mutex_lock(&a->lock);
    int rc = ledger_account(a->led, a->account, &ai);
    if (!rc && ai.frozen_seq == LEDGER_SEQ_NONE && ai.live_len == ai.chain_len)
        rc = incoming_scan(a, a->account, &x);
    else
        x.n_pick = 0;
    if (rc || x.n_pick == 0) {
        pthread_mutex_unlock(&a->lock);
        return rc;
    }
    ledger_entry e;
    memset(&e, 0, sizeof e);
    ledger_network_id(a->led, e.network);
    e.seq = ai.chain_len;
    memcpy(e.prev, ai.head, 32);
    e.created_ms = aria_wall_ms();
    e.kind = LEDGER_KIND_RECEIVE;
    qsort(x.pick, x.n_pick, 32, id_cmp); /* sources strictly ascending */
    e.n_sources = (uint32_t)x.n_pick;
    memcpy(e.sources, x.pick, x.n_pick * 32);
    aria_buf b;
    aria_buf_init(&b, LEDGER_ENTRY_MAX_BYTES);
    rc = ledger_entry_sign(&e, a->wal, &b, NULL);
    if (!rc)
        rc = ledger_apply(a->led, b.data, b.len, NULL);
    pthread_mutex_unlock(&a->lock);
    if (!rc && a->net)
        node_net_publish_entry(a->net, b.data, b.len);
    aria_buf_fini(&b);
    if (rc)
        return rc;
    ARIA_LOG_I("N0015", "node", "received %u send(s) to this node's account",
               (unsigned)e.n_sources);
    return (int)e.n_sources;
}

/* The account a query names (?account=), or the node's own. */
static int
resolve_account(const node_app *a, const char *account, uint8_t acc[32])
{
    if (!account) {
        memcpy(acc, a->account, 32);
        return 0;
    }
    if (wallet_account_parse(account, acc))
        return bad_account("account", account);
    return 0;
}

static int
info_balance(node_app *a, const char *account, json_t *out)
{
    uint8_t acc[32];
    int rc;
    if ((rc = resolve_account(a, account, acc)))
        return rc;
    ledger_account_info ai;
    uint64_t incoming = 0;
    incoming_ctx *x = aria_alloc(sizeof *x);
    if (!x)
        return aria_errf(ARIA_ENOMEM, "out of memory");
    pthread_mutex_lock(&a->lock);
    rc = ledger_account(a->led, acc, &ai);
    if (!rc)
        rc = incoming_scan(a, acc, x);
    incoming = x->sum;
    pthread_mutex_unlock(&a->lock);
    aria_free(x);
    if (rc)
        return rc;
    char hx[65];
    hex32(hx, acc);
    json_object_set_new(out, "account", address_json(a, acc));
    json_object_set_new(out, "account_id", json_string(hx));
    json_object_set_new(out, "available", json_integer((json_int_t)ai.available));
    json_object_set_new(out, "pending", json_integer((json_int_t)ai.pending));
    json_object_set_new(out, "balance", json_integer((json_int_t)ai.balance));
    json_object_set_new(out, "incoming", json_integer((json_int_t)incoming));
    json_object_set_new(out, "chain_len", json_integer((json_int_t)ai.chain_len));
    json_object_set_new(out, "frozen", json_boolean(ai.frozen_seq != LEDGER_SEQ_NONE));
    return 0;
}

typedef struct receipts_ctx {
    node_app *a;
    json_t *arr;
    const uint8_t *skip_requester; /* pass 2 skips receipts pass 1 listed */
} receipts_ctx;

static int
receipts_cb(void *ctx, const ledger_entry *e, const ledger_entry_info *info)
{
    receipts_ctx *x = ctx;
    if (x->skip_requester && !memcmp(e->account, x->skip_requester, 32))
        return 0;
    char job[65], id[65], oh[65];
    hex32(job, e->receipt.job_id);
    hex32(id, info->id);
    hex32(oh, e->receipt.output_hash);
    json_array_append_new(x->arr,
                          json_pack("{s:s, s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:s, s:b}",
                                    "entry", id, "job_id", job, "model", e->receipt.model_id,
                                    "requester", address_json(x->a, e->account), "provider",
                                    address_json(x->a, e->to), "amount", (json_int_t)e->amount,
                                    "tokens_in", (json_int_t)e->receipt.tokens_in, "tokens_out",
                                    (json_int_t)e->receipt.tokens_out, "price",
                                    (json_int_t)e->receipt.price_micro, "total",
                                    (json_int_t)(e->receipt.tokens_out * e->receipt.price_micro),
                                    "output_hash", oh, "live", (int)info->live));
    return 0;
}

static int
info_receipts(node_app *a, const char *account, json_t *out)
{
    uint8_t acc[32];
    int rc;
    if ((rc = resolve_account(a, account, acc)))
        return rc;
    receipts_ctx x = {a, json_array(), NULL};
    pthread_mutex_lock(&a->lock);
    rc = ledger_receipts(a->led, LEDGER_RECEIPTS_BY_REQUESTER, acc, receipts_cb, &x);
    x.skip_requester = acc; /* a self-paid job would be listed twice */
    if (rc >= 0)
        rc = ledger_receipts(a->led, LEDGER_RECEIPTS_BY_PROVIDER, acc, receipts_cb, &x);
    pthread_mutex_unlock(&a->lock);
    if (rc < 0) {
        json_decref(x.arr);
        return rc;
    }
    json_object_set_new(out, "account", address_json(a, acc));
    json_object_set_new(out, "receipts", x.arr);
    return 0;
}

static int
be_send(void *ctx, const char *to, uint64_t amount, json_t *out)
{
    node_app *a = ctx;
    if (!a->led)
        return aria_errf(ARIA_EAGAIN, "this node has no ledger: start it with a genesis "
                                      "(node.genesis / --genesis)");
    uint8_t dst[32];
    int rc;
    if ((rc = wallet_account_parse(to, dst)))
        return bad_account("'to' address", to);
    if (!memcmp(dst, a->account, 32))
        return aria_errf(ARIA_EINVAL, "'to' is this node's own account");
    if (amount == 0 || amount > LEDGER_SUPPLY_MAX)
        return aria_errf(ARIA_EINVAL, "'amount' must be 1..%llu",
                         (unsigned long long)LEDGER_SUPPLY_MAX);
    pthread_mutex_lock(&a->lock);
    ledger_account_info ai;
    uint8_t id[32];
    if ((rc = ledger_account(a->led, a->account, &ai)))
        goto out;
    if (ai.frozen_seq != LEDGER_SEQ_NONE) {
        rc = aria_errf(ARIA_EPERM, "this node's account is frozen by a fork at seq %llu",
                       (unsigned long long)ai.frozen_seq);
        goto out;
    }
    if (amount > ai.available) {
        rc = aria_errf(ARIA_EFUNDS,
                       "cannot send %llu credits: available %llu (pending %llu, balance %llu)",
                       (unsigned long long)amount, (unsigned long long)ai.available,
                       (unsigned long long)ai.pending, (unsigned long long)ai.balance);
        goto out;
    }
    ledger_entry e;
    memset(&e, 0, sizeof e);
    ledger_network_id(a->led, e.network);
    e.seq = ai.chain_len;
    memcpy(e.prev, ai.head, 32);
    e.created_ms = aria_wall_ms();
    e.kind = LEDGER_KIND_SEND;
    e.amount = amount;
    memcpy(e.to, dst, 32);
    aria_buf b;
    aria_buf_init(&b, LEDGER_ENTRY_MAX_BYTES);
    rc = ledger_entry_sign(&e, a->wal, &b, id);
    if (!rc)
        rc = ledger_apply(a->led, b.data, b.len, NULL);
    if (!rc && a->net)
        node_net_publish_entry(a->net, b.data, b.len);
    aria_buf_fini(&b);
    if (!rc)
        rc = ledger_account(a->led, a->account, &ai);
out:
    if (rc)
        a->sends_failed++;
    else
        a->sends_ok++, a->credits_sent += amount;
    pthread_mutex_unlock(&a->lock);
    if (rc)
        return rc;
    char hx[65];
    hex32(hx, id);
    json_object_set_new(out, "entry", json_string(hx));
    json_object_set_new(out, "to", address_json(a, dst));
    json_object_set_new(out, "amount", json_integer((json_int_t)amount));
    json_object_set_new(out, "seq", json_integer((json_int_t)e.seq));
    json_object_set_new(out, "available", json_integer((json_int_t)ai.available));
    json_object_set_new(out, "balance", json_integer((json_int_t)ai.balance));
    ARIA_LOG_I("N0012", "node", "sent %llu credits to %s (entry %s)", (unsigned long long)amount,
               to, hx);
    return 0;
}

static int
be_info(void *ctx, const char *what, const char *account, json_t *out)
{
    node_app *a = ctx;
    if (!strcmp(what, "balance") || !strcmp(what, "receipts")) {
        if (!a->led)
            return aria_errf(ARIA_EAGAIN, "this node has no ledger: start it with a genesis "
                                          "(node.genesis / --genesis)");
        return what[0] == 'b' ? info_balance(a, account, out) : info_receipts(a, account, out);
    }
    if (!strcmp(what, "status")) {
        const node_worker_stats *st = a->w ? node_worker_get_stats(a->w) : NULL;
        json_object_set_new(out, "version", json_string(ARIA_VERSION));
        json_object_set_new(out, "git", json_string(ARIA_GIT_REV));
        json_object_set_new(out, "uptime_s",
                            json_integer((json_int_t)((aria_mono_ms() - a->started_ms) / 1000)));
        json_object_set_new(out, "model",
                            a->w ? json_string(node_worker_model_id(a->w)) : json_null());
        if (a->net) {
            node_net_stats ns;
            node_net_get_stats(a->net, &ns);
            json_object_set_new(out, "gossip", json_string(node_net_gossip_addr(a->net)));
            json_object_set_new(out, "service", json_string(node_net_service_addr(a->net)));
            json_object_set_new(out, "peers",
                                json_integer((json_int_t)node_net_peer_count(a->net)));
            json_object_set_new(out, "gossip_links",
                                json_integer((json_int_t)node_net_link_count(a->net)));
            json_object_set_new(out, "jobs_served", json_integer((json_int_t)ns.jobs_served));
            json_object_set_new(out, "jobs_requested", json_integer((json_int_t)ns.jobs_requested));
            json_object_set_new(out, "credits_earned", json_integer((json_int_t)ns.credits_earned));
            json_object_set_new(out, "credits_spent", json_integer((json_int_t)ns.credits_spent));
            ledger_account_info ai;
            pthread_mutex_lock(&a->lock);
            int lrc = ledger_account(a->led, a->account, &ai);
            pthread_mutex_unlock(&a->lock);
            uint8_t sh[32];
            char shx[65];
            ledger_supply sup;
            pthread_mutex_lock(&a->lock);
            int hrc = ledger_state_hash(a->led, sh);
            int src = ledger_supply_get(a->led, &sup);
            pthread_mutex_unlock(&a->lock);
            if (!src)
                json_object_set_new(
                    out, "supply",
                    json_pack("{s:I, s:I, s:I, s:I, s:b}", "genesis_total",
                              (json_int_t)sup.genesis_total, "balances", (json_int_t)sup.balances,
                              "in_flight", (json_int_t)sup.in_flight, "unclaimed",
                              (json_int_t)sup.unclaimed, "conserved",
                              sup.balances + sup.in_flight + sup.unclaimed == sup.genesis_total));
            if (!lrc)
                json_object_set_new(out, "balance", json_integer((json_int_t)ai.balance));
            if (!hrc) {
                hex32(shx, sh);
                json_object_set_new(out, "state_hash", json_string(shx));
            }
        } else {
            json_object_set_new(out, "network", json_string("none: no genesis, local jobs only"));
        }
        if (st)
            json_object_set_new(
                out, "tok_s",
                json_real(st->gen_ns ? (double)st->gen_tokens * 1e9 / (double)st->gen_ns : 0.0));
        json_object_set_new(out, "account", a->wal ? address_json(a, a->account) : json_null());
        json_object_set_new(out, "testnet", json_boolean(a->cfg.testnet));
        if (st) {
            json_object_set_new(out, "jobs_done", json_integer((json_int_t)st->jobs_done));
            json_object_set_new(out, "jobs_running", json_integer(st->running));
            json_object_set_new(out, "jobs_queued", json_integer(st->queued));
        }
        return 0;
    }
    if (!strcmp(what, "jobs")) {
        const node_worker_stats *st = a->w ? node_worker_get_stats(a->w) : NULL;
        if (a->net) {
            int nrc = node_net_info(a->net, "jobs", out);
            if (nrc)
                return nrc;
        }
        if (st) {
            json_object_set_new(out, "done", json_integer((json_int_t)st->jobs_done));
            json_object_set_new(out, "failed", json_integer((json_int_t)st->jobs_failed));
            json_object_set_new(out, "rejected", json_integer((json_int_t)st->jobs_rejected));
            json_object_set_new(out, "running", json_integer(st->running));
            json_object_set_new(out, "queued", json_integer(st->queued));
        }
        return 0;
    }
    if (!strcmp(what, "peers")) {
        if (!a->net)
            return aria_errf(ARIA_ESTATE, "this node is not on a network: start it with a "
                                          "genesis (node.genesis / --genesis)");
        return node_net_info(a->net, "peers", out);
    }
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
    if (a->led) {
        ledger_account_info ai;
        pthread_mutex_lock(&a->lock);
        int rc = ledger_account(a->led, a->account, &ai);
        uint64_t ok = a->sends_ok, failed = a->sends_failed, sent = a->credits_sent;
        pthread_mutex_unlock(&a->lock);
        if (!rc)
            (void)aria_buf_printf(o,
                                  "# HELP aria_credits_balance This node's credits by state.\n"
                                  "# TYPE aria_credits_balance gauge\n"
                                  "aria_credits_balance{state=\"available\"} %llu\n"
                                  "aria_credits_balance{state=\"pending\"} %llu\n"
                                  "# HELP aria_credits_sent_total Credits sent by this node.\n"
                                  "# TYPE aria_credits_sent_total counter\n"
                                  "aria_credits_sent_total %llu\n"
                                  "# HELP aria_sends_total Send requests by result.\n"
                                  "# TYPE aria_sends_total counter\n"
                                  "aria_sends_total{result=\"ok\"} %llu\n"
                                  "aria_sends_total{result=\"failed\"} %llu\n",
                                  (unsigned long long)ai.available, (unsigned long long)ai.pending,
                                  (unsigned long long)sent, (unsigned long long)ok,
                                  (unsigned long long)failed);
    }
    if (a->net)
        node_net_metrics(a->net, o);
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

static void *
shutdown_watchdog(void *arg)
{
    ARIA_UNUSED(arg);
    struct timespec ts = {5, 0};
    while (nanosleep(&ts, &ts) != 0)
        ;
    ARIA_LOG_W("N0006", "node",
               "closing the network sockets hangs (nng 1.5.2, nanomsg/nng#1543); jobs, ledger "
               "and peer file were already closed: exiting");
    _exit(0);
    return NULL;
}

static int
node_run(int argc, char **argv)
{
    const cli_verb *v = cli_verb_find("node");
    static node_app app;
    memset(&app, 0, sizeof app);
    node_config_defaults(&app.cfg);
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},    {"data-dir", required_argument, 0, 'd'},
        {"model", required_argument, 0, 'm'},     {"http", required_argument, 0, 'H'},
        {"threads", required_argument, 0, 't'},   {"capacity", required_argument, 0, 'k'},
        {"ctx", required_argument, 0, 'x'},       {"log-level", required_argument, 0, 'l'},
        {"genesis", required_argument, 0, 'g'},   {"testnet", no_argument, 0, 'T'},
        {"gossip", required_argument, 0, 'G'},    {"service", required_argument, 0, 'S'},
        {"peer", required_argument, 0, 'P'},      {"price", required_argument, 0, 'p'},
        {"max-price", required_argument, 0, 'M'}, {"chunk-tokens", required_argument, 0, 'C'},
        {"int8-head", no_argument, 0, 'I'},       {0, 0, 0, 0}};
    /* Pass 1: the config file; pass 2: flags override it. */
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:d:m:H:t:k:x:l:g:TG:S:P:p:M:C:I", opts, NULL)) != -1) {
        if (ch == '?')
            return cli_usage_error(v, "unknown option or missing value");
        if (ch == 'c' && node_config_load_file(&app.cfg, optarg))
            return cli_fail(ARIA_EINVAL, "config");
    }
    optind = 1;
    bool models_from_flags = false, peers_from_flags = false;
    while ((ch = getopt_long(argc, argv, "c:d:m:H:t:k:x:l:g:TG:S:P:p:M:C:I", opts, NULL)) != -1) {
        const char *key = NULL, *flag = NULL;
        switch (ch) {
        case 'd': key = "node.data_dir", flag = "--data-dir"; break;
        case 'm': key = "provider.model", flag = "--model"; break;
        case 'H': key = "http.listen", flag = "--http"; break;
        case 't': key = "provider.threads", flag = "--threads"; break;
        case 'k': key = "provider.capacity", flag = "--capacity"; break;
        case 'x': key = "provider.ctx", flag = "--ctx"; break;
        case 'l': key = "node.log_level", flag = "--log-level"; break;
        case 'g': key = "node.genesis", flag = "--genesis"; break;
        case 'T': key = "node.testnet", flag = "--testnet", optarg = (char *)"true"; break;
        case 'G': key = "gossip.listen", flag = "--gossip"; break;
        case 'S': key = "service.listen", flag = "--service"; break;
        case 'P': key = "gossip.peer", flag = "--peer"; break;
        case 'p': key = "provider.price", flag = "--price"; break;
        case 'M': key = "requester.max_price", flag = "--max-price"; break;
        case 'C': key = "requester.chunk_tokens", flag = "--chunk-tokens"; break;
        case 'I': key = "provider.int8_head", flag = "--int8-head", optarg = (char *)"true"; break;
        default: continue;
        }
        if (ch == 'm' && !models_from_flags)
            app.cfg.n_models = 0, models_from_flags = true; /* flags replace the file's models */
        if (ch == 'P' && !peers_from_flags)
            app.cfg.n_peers = 0, peers_from_flags = true; /* and its peers */
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

    /* Identity and ledger, when a genesis is configured or stored. */
    char probe[NODE_CFG_PATH_MAX + 32];
    aria_snprintf(probe, sizeof probe, "%s/ledger/data.mdb", app.cfg.data_dir);
    struct stat pst;
    pthread_mutex_init(&app.lock, NULL);
    if (app.cfg.genesis[0] || stat(probe, &pst) == 0) {
        int rc = identity_open(&app);
        if (rc)
            return cli_fail(rc, "node: keystore");
        if ((rc = ledger_start(&app)) || (rc = auto_receive(&app)) < 0) {
            wallet_free(app.wal);
            ledger_close(app.led);
            return cli_fail(rc, "node: ledger");
        }
        char addr[WALLET_ADDRESS_MAX] = "";
        if (wallet_address_encode(app.account, app.cfg.testnet, addr))
            addr[0] = 0;
        ARIA_LOG_I("N0013", "node", "account %s, ledger %s/ledger", addr, app.cfg.data_dir);
    } else {
        ARIA_LOG_W("N0014", "node",
                   "no genesis configured (node.genesis / --genesis): no keystore or ledger, "
                   "balance, receipts and send answer 503");
    }

    app.started_ms = aria_mono_ms();
    app.started_wall_ms = aria_wall_ms();
    if (app.cfg.n_models > 0) {
        node_worker_opts wo = {app.cfg.models[0],
                               app.cfg.capacity > 0 ? app.cfg.capacity : 1,
                               app.cfg.threads,
                               (uint32_t)app.cfg.ctx_len,
                               0,
                               app.cfg.int8_head};
        if (node_worker_open(&wo, &app.w)) {
            int rc = cli_fail(ARIA_EINVAL, app.cfg.models[0]);
            ledger_close(app.led);
            wallet_free(app.wal);
            return rc;
        }
        ARIA_LOG_I("N0001", "node", "serving model %s (%s) on %d worker(s) x %d thread(s)",
                   node_worker_model_id(app.w), node_worker_model_arch(app.w), wo.capacity,
                   wo.threads);
    } else {
        ARIA_LOG_W("N0002", "node", "no model configured: this node serves no completions");
    }
    if (app.led) {
        node_net_opts no = {&app.cfg, app.wal, app.led, &app.lock, app.w};
        if (node_net_open(&no, &app.net)) {
            int rc = cli_fail(ARIA_EIO, "node: network");
            node_worker_close(app.w);
            ledger_close(app.led);
            wallet_free(app.wal);
            return rc;
        }
        ARIA_LOG_I("N0017", "node", "network: gossip %s, service %s, %d bootstrap peer(s)",
                   node_net_gossip_addr(app.net), node_net_service_addr(app.net), app.cfg.n_peers);
    }
    node_backend be = {&app, be_list_models, be_submit, be_info, be_send, be_metrics};
    node_http_opts ho = {app.cfg.http_listen, app.cfg.http_body_max, 64, 300};
    node_http *http = NULL;
    if (node_http_open(&ho, &be, &http)) {
        int rc = cli_fail(ARIA_EIO, "http");
        node_net_close(app.net);
        node_worker_close(app.w);
        ledger_close(app.led);
        wallet_free(app.wal);
        return rc;
    }
    ARIA_LOG_I("N0003", "node", "HTTP API on http://%.*s:%d/v1 (data dir %s)",
               (int)(strrchr(app.cfg.http_listen, ':') - app.cfg.http_listen), app.cfg.http_listen,
               node_http_port(http), app.cfg.data_dir);
    /* The readiness line scripts wait for. */
    char addr[WALLET_ADDRESS_MAX] = "-";
    if (app.wal && wallet_address_encode(app.account, app.cfg.testnet, addr))
        snprintf(addr, sizeof addr, "-");
    printf("aria node: ready http=%.*s:%d model=%s gossip=%s service=%s account=%s\n",
           (int)(strrchr(app.cfg.http_listen, ':') - app.cfg.http_listen), app.cfg.http_listen,
           node_http_port(http), app.w ? node_worker_model_id(app.w) : "-",
           app.net ? node_net_gossip_addr(app.net) : "-",
           app.net ? node_net_service_addr(app.net) : "-", addr);
    fflush(stdout);
    int sig = 0;
    int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    uint64_t next_recv = 0;
    for (;;) { /* the node loop: network, signals, receiving what was sent to us */
        if (app.net) {
            if (node_net_run_once(app.net, 50, sfd) == 1) {
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                    sig = (int)si.ssi_signo;
                break;
            }
        } else {
            struct timespec tick = {1, 0};
            sig = sigtimedwait(&sigs, NULL, &tick);
            if (sig > 0)
                break;
        }
        if (app.led && aria_mono_ms() >= next_recv) {
            next_recv = aria_mono_ms() + 1000;
            if (auto_receive(&app) < 0)
                ARIA_LOG_W("N0016", "node", "receiving incoming sends failed: %s", aria_err_msg());
        }
    }
    if (sfd >= 0)
        close(sfd);
    ARIA_LOG_I("N0004", "node", "signal %d: shutting down", sig);
    node_http_close(http);
    node_net_shutdown(app.net);
    node_worker_close(app.w);
    ledger_close(app.led); /* everything durable is closed from here on */
    if (app.net) {
        /* nng 1.5.2 can hang in nng_close (nanomsg/nng#1543): a watchdog
         * ends the process if closing the sockets takes more than 5 s */
        pthread_t wd;
        if (pthread_create(&wd, NULL, shutdown_watchdog, NULL) == 0)
            pthread_detach(wd);
        node_net_close(app.net);
    }
    wallet_free(app.wal);
    pthread_mutex_destroy(&app.lock);
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
    if (!strcmp(argv[1], "status"))
        return cmd_node_status(argc - 1, argv + 1);
    return cli_usage_error(v, "unknown subcommand");
}
