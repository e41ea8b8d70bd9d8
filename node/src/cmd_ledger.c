/*
 * cmd_ledger.c — `aria ledger`: inspect and maintain a node's ledger
 * directory (docs/ledger.md). Opens the ledger in --dir DIR, by default
 * <data dir>/ledger where the data dir is $ARIA_HOME, else ~/.aria (the same
 * default as `aria node run`). Only `init` creates a ledger (from a genesis
 * file); every other command needs an existing one.
 *
 * Invariants: read commands never write; `import` applies entries through
 * the normal validation path; exit 0 ok, 1 failure, 2 usage error.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "ledger.h"
#include "wallet.h"

static const cli_verb *
verb(void)
{
    return cli_verb_find("ledger");
}

static void
hex32(char out[65], const uint8_t b[32])
{
    aria_hex_encode(out, 65, b, 32);
}

static int
parse_id(const char *s, uint8_t out[32], const char *what)
{
    if (strlen(s) != 64 || aria_hex_decode(out, 32, s, 64) != 0)
        return aria_errf(ARIA_EINVAL, "%s must be 64 hex digits: '%s'", what, s);
    return 0;
}

static void
print_entry(const ledger_entry *e, const ledger_entry_info *info)
{
    char id[65], acc[65], x[65];
    hex32(id, info->id);
    hex32(acc, e->account);
    printf("%s seq %llu %-7s %s%s", id, (unsigned long long)e->seq, ledger_kind_name(e->kind),
           info->live ? "live" : "void", info->in_chain ? "" : " (fork branch)");
    switch (e->kind) {
    case LEDGER_KIND_GENESIS: printf(" amount %llu", (unsigned long long)e->amount); break;
    case LEDGER_KIND_SEND:
        hex32(x, e->to);
        printf(" amount %llu to %s", (unsigned long long)e->amount, x);
        break;
    case LEDGER_KIND_RECEIVE: printf(" sources %u", e->n_sources); break;
    }
    printf(" balance_after %llu\n", (unsigned long long)info->balance_after);
    if (e->has_receipt) {
        hex32(x, e->receipt.job_id);
        printf("    receipt job %s model %s tokens in %llu out %llu price %llu total %llu\n", x,
               e->receipt.model_id, (unsigned long long)e->receipt.tokens_in,
               (unsigned long long)e->receipt.tokens_out,
               (unsigned long long)e->receipt.price_micro,
               (unsigned long long)(e->receipt.tokens_out * e->receipt.price_micro));
    }
}

static int
history_cb(void *ctx, const ledger_entry *e, const ledger_entry_info *info)
{
    ARIA_UNUSED(ctx);
    print_entry(e, info);
    return 0;
}

static void
print_account(const ledger_account_info *a)
{
    char acc[65];
    hex32(acc, a->account);
    printf("%s balance %llu available %llu pending %llu entries %llu/%llu", acc,
           (unsigned long long)a->balance, (unsigned long long)a->available,
           (unsigned long long)a->pending, (unsigned long long)a->live_len,
           (unsigned long long)a->chain_len);
    if (a->frozen_seq != LEDGER_SEQ_NONE)
        printf(" FROZEN at seq %llu (fork proof)", (unsigned long long)a->frozen_seq);
    printf("\n");
}

static int
account_cb(void *ctx, const ledger_account_info *a)
{
    ARIA_UNUSED(ctx);
    print_account(a);
    return 0;
}

static int
fork_cb(void *ctx, const uint8_t account[32], uint64_t seq, const uint8_t *a, size_t an,
        const uint8_t *b, size_t bn)
{
    ARIA_UNUSED(ctx);
    char acc[65];
    hex32(acc, account);
    printf("fork %s seq %llu (%zu + %zu bytes)\n", acc, (unsigned long long)seq, an, bn);
    return 0;
}

static int
print_supply(ledger *l)
{
    ledger_supply s;
    int rc = ledger_supply_get(l, &s);
    if (rc)
        return rc;
    printf("supply: genesis %llu = balances %llu + in flight %llu + unclaimed %llu (%s)\n",
           (unsigned long long)s.genesis_total, (unsigned long long)s.balances,
           (unsigned long long)s.in_flight, (unsigned long long)s.unclaimed,
           s.balances + s.in_flight + s.unclaimed == s.genesis_total ? "conserved"
                                                                     : "NOT CONSERVED");
    return 0;
}

static int
run(ledger *l, int argc, char **argv)
{
    const char *cmd = argv[0];
    int rc = 0;
    if (strcmp(cmd, "balance") == 0) {
        if (argc > 2)
            return cli_usage_error(verb(), "balance takes at most one ACCOUNT");
        if (argc == 2) {
            uint8_t acc[32];
            ledger_account_info a;
            if ((rc = wallet_account_parse(argv[1], acc)))
                return cli_fail(rc, "ledger balance: ACCOUNT");
            if ((rc = ledger_account(l, acc, &a)))
                return cli_fail(rc, "ledger balance");
            print_account(&a);
            return 0;
        }
        rc = ledger_accounts(l, account_cb, NULL);
        return rc < 0 ? cli_fail(rc, "ledger balance") : 0;
    }
    if (strcmp(cmd, "history") == 0) {
        uint64_t from = 0, limit = 0;
        const char *acc_s = NULL;
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
                if ((rc = aria_parse_u64(argv[++i], UINT64_MAX - 1, "--from", &from)))
                    return cli_fail(rc, "ledger history");
            } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
                if ((rc = aria_parse_u64(argv[++i], 1u << 30, "--limit", &limit)))
                    return cli_fail(rc, "ledger history");
            } else if (argv[i][0] != '-' && !acc_s) {
                acc_s = argv[i];
            } else {
                return cli_usage_error(verb(), "history: unknown option");
            }
        }
        if (!acc_s)
            return cli_usage_error(verb(), "history needs an ACCOUNT");
        uint8_t acc[32];
        if ((rc = wallet_account_parse(acc_s, acc)))
            return cli_fail(rc, "ledger history: ACCOUNT");
        rc = ledger_history(l, acc, from, (size_t)limit, history_cb, NULL);
        return rc < 0 ? cli_fail(rc, "ledger history") : 0;
    }
    if (strcmp(cmd, "show") == 0) {
        if (argc != 2)
            return cli_usage_error(verb(), "show needs one entry ID");
        uint8_t id[32];
        ledger_entry e;
        ledger_entry_info info;
        if ((rc = parse_id(argv[1], id, "entry ID")) || (rc = ledger_entry_get(l, id, &e, &info)))
            return cli_fail(rc, "ledger show");
        print_entry(&e, &info);
        char x[65];
        hex32(x, e.account);
        printf("    account %s\n", x);
        if (e.seq) {
            hex32(x, e.prev);
            printf("    prev %s\n", x);
        }
        for (uint32_t i = 0; i < e.n_sources; i++) {
            hex32(x, e.sources[i]);
            printf("    source %s\n", x);
        }
        printf("    created_ms %llu applied_ms %llu\n", (unsigned long long)e.created_ms,
               (unsigned long long)info.applied_ms);
        return 0;
    }
    if (strcmp(cmd, "receipts") == 0) {
        ledger_receipt_by by = LEDGER_RECEIPTS_ALL;
        uint8_t key[32] = {0};
        if (argc == 3) {
            if (strcmp(argv[1], "--job") == 0) {
                by = LEDGER_RECEIPTS_BY_JOB;
                rc = parse_id(argv[2], key, "job ID");
            } else if (strcmp(argv[1], "--provider") == 0) {
                by = LEDGER_RECEIPTS_BY_PROVIDER;
                rc = wallet_account_parse(argv[2], key);
            } else if (strcmp(argv[1], "--requester") == 0) {
                by = LEDGER_RECEIPTS_BY_REQUESTER;
                rc = wallet_account_parse(argv[2], key);
            } else {
                return cli_usage_error(verb(), "receipts: unknown option");
            }
            if (rc)
                return cli_fail(rc, "ledger receipts");
        } else if (argc != 1) {
            return cli_usage_error(verb(), "receipts takes one of --job, --provider, --requester");
        }
        rc = ledger_receipts(l, by, key, history_cb, NULL);
        return rc < 0 ? cli_fail(rc, "ledger receipts") : 0;
    }
    if (strcmp(cmd, "verify") == 0) {
        if (argc != 1)
            return cli_usage_error(verb(), "verify takes no arguments");
        ledger_verify_report rep;
        rc = ledger_verify(l, &rep);
        char h[65];
        hex32(h, rep.state_hash);
        printf("verify: %llu entries re-applied, %llu rejected, %llu accounts differ, state hash "
               "%s (%s)\n",
               (unsigned long long)rep.entries, (unsigned long long)rep.rejected,
               (unsigned long long)rep.mismatched, h, rep.hash_equal ? "matches" : "DIFFERS");
        if (rc)
            return cli_fail(rc, "ledger verify");
        printf("verify: ok\n");
        return print_supply(l) ? cli_fail(ARIA_EIO, "ledger verify") : 0;
    }
    if (strcmp(cmd, "stats") == 0) {
        if (argc != 1)
            return cli_usage_error(verb(), "stats takes no arguments");
        ledger_stats st;
        uint8_t h[32], net[32];
        char hx[65], nx[65];
        if ((rc = ledger_stats_get(l, &st)) || (rc = ledger_state_hash(l, h)))
            return cli_fail(rc, "ledger stats");
        ledger_network_id(l, net);
        hex32(hx, h);
        hex32(nx, net);
        printf("network %s\nstate hash %s\n", nx, hx);
        printf("accounts %llu, entries %llu (chain %llu, live %llu), fork proofs %llu\n",
               (unsigned long long)st.accounts, (unsigned long long)st.entries,
               (unsigned long long)st.chain_entries, (unsigned long long)st.live_entries,
               (unsigned long long)st.forks);
        printf("map %zu bytes, used %zu bytes\n", st.map_size_bytes, st.used_bytes);
        if ((rc = print_supply(l)))
            return cli_fail(rc, "ledger stats");
        rc = ledger_forks(l, fork_cb, NULL);
        return rc < 0 ? cli_fail(rc, "ledger stats") : 0;
    }
    if (strcmp(cmd, "export") == 0) {
        if (argc != 2)
            return cli_usage_error(verb(), "export needs a FILE");
        uint64_t n = 0;
        if ((rc = ledger_export_file(l, argv[1], &n)))
            return cli_fail(rc, "ledger export");
        printf("exported %llu entries to %s\n", (unsigned long long)n, argv[1]);
        return 0;
    }
    if (strcmp(cmd, "import") == 0) {
        if (argc != 2)
            return cli_usage_error(verb(), "import needs a FILE");
        ledger_import_stats st;
        rc = ledger_import_file(l, argv[1], &st);
        printf("import: %llu entries: %llu applied, %llu held, %llu already known, %llu fork/void, "
               "%llu rejected\n",
               (unsigned long long)st.total, (unsigned long long)st.applied,
               (unsigned long long)st.held, (unsigned long long)st.duplicate,
               (unsigned long long)st.fork, (unsigned long long)st.rejected);
        if (rc)
            return cli_fail(rc, "ledger import");
        if (ledger_hold_count(l))
            printf("import: %zu entries wait for entries the file does not contain (not kept)\n",
                   ledger_hold_count(l));
        return 0;
    }
    return cli_usage_error(verb(), "unknown ledger command");
}

int
cmd_ledger(int argc, char **argv)
{
    node_config cfg;
    node_config_defaults(&cfg);
    char dir[NODE_CFG_PATH_MAX + 16];
    aria_snprintf(dir, sizeof dir, "%s/ledger", cfg.data_dir);
    const char *genesis_path = NULL;
    ledger_options o;
    ledger_options_default(&o);
    o.map_size_bytes = (size_t)cfg.ledger_map_mib << 20;
    int i = 1, rc;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        uint64_t v;
        if (i + 1 >= argc)
            return cli_usage_error(verb(), "option needs a value");
        if (strcmp(argv[i], "--dir") == 0) {
            aria_snprintf(dir, sizeof dir, "%s", argv[++i]);
        } else if (strcmp(argv[i], "--genesis") == 0) {
            genesis_path = argv[++i];
        } else if (strcmp(argv[i], "--map-mib") == 0) {
            if ((rc = aria_parse_u64(argv[++i], 1u << 20, "--map-mib", &v)) || v == 0)
                return cli_fail(rc ? rc : ARIA_EINVAL, "ledger --map-mib");
            o.map_size_bytes = (size_t)v << 20;
        } else if (strcmp(argv[i], "--settle-ms") == 0) {
            if ((rc = aria_parse_u64(argv[++i], UINT64_MAX / 4, "--settle-ms", &v)))
                return cli_fail(rc, "ledger --settle-ms");
            o.settle_ms = v;
        } else {
            return cli_usage_error(verb(), "unknown option");
        }
    }
    if (i >= argc)
        return cli_usage_error(verb(), "missing command");
    bool init = strcmp(argv[i], "init") == 0;
    if (init && argc - i != 1)
        return cli_usage_error(verb(), "init takes no arguments (give --genesis FILE)");
    if (init && !genesis_path)
        return cli_usage_error(verb(), "init needs --genesis FILE");
    ledger_genesis *g = NULL;
    if (genesis_path && (rc = ledger_genesis_load(genesis_path, &g)))
        return cli_fail(rc, "ledger --genesis");
    if (!init && !g) {
        /* Never create a ledger implicitly. */
        char probe[NODE_CFG_PATH_MAX + 32];
        aria_snprintf(probe, sizeof probe, "%s/data.mdb", dir);
        FILE *f = fopen(probe, "rb");
        if (!f)
            return cli_fail(aria_errf(ARIA_ENOTFOUND,
                                      "no ledger in %s (use --dir DIR, or 'aria ledger --genesis "
                                      "FILE init')",
                                      dir),
                            "ledger");
        fclose(f);
    }
    ledger *l;
    rc = ledger_open(dir, g, &o, &l);
    if (rc) {
        ledger_genesis_free(g);
        return cli_fail(rc, "ledger open");
    }
    int status;
    if (init) {
        uint8_t net[32];
        char nx[65];
        ledger_network_id(l, net);
        hex32(nx, net);
        printf("ledger in %s, network %s, %zu allocations, supply %llu\n", dir, nx, g->n_allocs,
               (unsigned long long)g->total);
        status = 0;
    } else {
        status = run(l, argc - i, argv + i);
    }
    ledger_close(l);
    ledger_genesis_free(g);
    return status;
}
