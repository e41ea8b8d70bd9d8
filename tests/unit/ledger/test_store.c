/*
 * test_store.c — storage behaviour: a full LMDB map gives ARIA_EFULL, leaves
 * the database consistent and works after the map grows; reopening keeps the
 * state; pending vs available with the settle delay; the hold's bound and
 * expiry; receipts queries; export/import; verify.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ledger_testlib.h"

static tl_world w;
static char dir[256];
static aria_clock_manual clk;

static void
setup(void)
{
    tl_world_init(&w, 3, 2, 1000000);
    tl_tmpdir(dir, sizeof dir, "store");
}

static void
teardown(void)
{
    tl_rmdir(dir);
    tl_world_fini(&w);
}

TestSuite(ledger_store, .init = setup, .fini = teardown);

/* A chain of n entries of account 0: genesis then sends of 1 to account 1. */
static tl_bytes *
chain_of(size_t n)
{
    tl_bytes *c = aria_alloc_array(n, sizeof *c);
    c[0] = tl_genesis_entry(&w, 0, 1000000);
    for (size_t i = 1; i < n; i++)
        c[i] = tl_send(&w, 0, i, c[i - 1].id, 1, 1, i % 4 == 0, i);
    return c;
}

static void
free_chain(tl_bytes *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        aria_free(c[i].p);
    aria_free(c);
}

Test(ledger_store, full_map_is_a_clear_error_and_recoverable, .timeout = 60)
{
    ledger_options o;
    tl_options(&o, &clk);
    o.map_size_bytes = 160 << 10;
    ledger *l;
    cr_assert_eq(ledger_open(dir, w.g, &o, &l), 0, "%s", aria_err_msg());
    size_t n = 1500, i = 0;
    tl_bytes *c = chain_of(n);
    int rc = 0;
    uint8_t before[32];
    for (; i < n; i += 10) {
        cr_assert_eq(ledger_state_hash(l, before), 0);
        const uint8_t *p[10];
        size_t len[10];
        ledger_result res[10];
        for (int k = 0; k < 10; k++) {
            p[k] = c[i + k].p;
            len[k] = c[i + k].n;
        }
        rc = ledger_apply_batch(l, p, len, 10, res);
        if (rc)
            break;
    }
    cr_assert_eq(rc, ARIA_EFULL, "map never filled (rc %d)", rc);
    cr_assert(strstr(aria_err_msg(), "map is full"), "%s", aria_err_msg());
    cr_assert_gt(i, 0);
    /* consistent: nothing of the failed batch, verify passes */
    uint8_t after[32];
    cr_assert_eq(ledger_state_hash(l, after), 0);
    cr_assert_eq(memcmp(before, after, 32), 0);
    ledger_account_info a;
    cr_assert_eq(ledger_account(l, w.id[0], &a), 0);
    cr_assert_eq(a.chain_len, i);
    ledger_close(l);
    /* reopen with a bigger map: continues where it stopped */
    o.map_size_bytes = 8 << 20;
    cr_assert_eq(ledger_open(dir, NULL, &o, &l), 0, "%s", aria_err_msg());
    ledger_verify_report rep;
    cr_assert_eq(ledger_verify(l, &rep), 0, "%s", aria_err_msg());
    for (; i < n; i++) {
        ledger_result res;
        cr_assert_eq(ledger_apply(l, c[i].p, c[i].n, &res), 0, "%s", aria_err_msg());
    }
    cr_assert_eq(ledger_account(l, w.id[0], &a), 0);
    cr_assert_eq(a.chain_len, n);
    cr_assert_eq(ledger_verify(l, &rep), 0, "%s", aria_err_msg());
    ledger_close(l);
    free_chain(c, n);
}

Test(ledger_store, set_map_size_recovers_without_reopening, .timeout = 60)
{
    ledger_options o;
    tl_options(&o, &clk);
    o.map_size_bytes = 160 << 10;
    ledger *l;
    cr_assert_eq(ledger_open(dir, w.g, &o, &l), 0, "%s", aria_err_msg());
    size_t n = 1500, i = 0;
    tl_bytes *c = chain_of(n);
    int rc = 0;
    for (; i < n && rc == 0; i++)
        rc = ledger_apply(l, c[i].p, c[i].n, NULL);
    cr_assert_eq(rc, ARIA_EFULL);
    i--; /* the failed one was not applied */
    cr_assert_eq(ledger_set_map_size(l, 8 << 20), 0, "%s", aria_err_msg());
    for (; i < n; i++)
        cr_assert_eq(ledger_apply(l, c[i].p, c[i].n, NULL), 0, "%s", aria_err_msg());
    ledger_verify_report rep;
    cr_assert_eq(ledger_verify(l, &rep), 0, "%s", aria_err_msg());
    cr_assert_eq(rep.entries, n);
    ledger_close(l);
    free_chain(c, n);
}

Test(ledger_store, reopen_keeps_state_and_checks_the_network)
{
    ledger_options o;
    tl_options(&o, &clk);
    ledger *l;
    cr_assert_eq(ledger_open(dir, NULL, &o, &l), ARIA_EINVAL, "needs a genesis");
    cr_assert_eq(ledger_open(dir, w.g, &o, &l), 0);
    tl_bytes *c = chain_of(5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(ledger_apply(l, c[i].p, c[i].n, NULL), 0);
    uint8_t h1[32], h2[32];
    cr_assert_eq(ledger_state_hash(l, h1), 0);
    ledger_close(l);
    cr_assert_eq(ledger_open(dir, NULL, &o, &l), 0, "%s", aria_err_msg());
    cr_assert_eq(ledger_state_hash(l, h2), 0);
    cr_assert_eq(memcmp(h1, h2, 32), 0);
    ledger_close(l);
    tl_world other;
    tl_world_init(&other, 2, 1, 5);
    cr_assert_eq(ledger_open(dir, other.g, &o, &l), ARIA_EINVAL);
    tl_world_fini(&other);
    free_chain(c, 5);
}

static void
make_create_dir(const char *name)
{
    char p[600];
    aria_snprintf(p, sizeof p, "%s/%s", dir, name);
    cr_assert_eq(mkdir(p, 0700), 0, "%s", p);
    aria_snprintf(p, sizeof p, "%s/%s/data.mdb", dir, name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    fputs("half-made", f);
    fclose(f);
}

static bool
exists(const char *name)
{
    char p[600];
    struct stat st;
    aria_snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

/* A creator SIGKILLed after linking data.mdb but before removing its
 * DIR/.create-PID left that directory behind for good (the clean-up ran
 * only when data.mdb was missing); CI's crash test then failed to remove
 * the ledger directory. Now every open clears creators that are gone, and
 * leaves one whose process is still running. */
Test(ledger_store, open_removes_a_dead_creators_directory)
{
    ledger_options o;
    tl_options(&o, &clk);
    ledger *l;
    cr_assert_eq(ledger_open(dir, w.g, &o, &l), 0, "%s", aria_err_msg());
    ledger_close(l);
    pid_t dead = fork();
    cr_assert(dead >= 0);
    if (dead == 0)
        _exit(0);
    cr_assert_eq(waitpid(dead, NULL, 0), dead);
    char dead_name[64], live_name[64];
    aria_snprintf(dead_name, sizeof dead_name, ".create-%ld", (long)dead);
    aria_snprintf(live_name, sizeof live_name, ".create-%ld", (long)getppid());
    make_create_dir(dead_name);
    make_create_dir(live_name);
    cr_assert_eq(ledger_open(dir, NULL, &o, &l), 0, "%s", aria_err_msg());
    ledger_close(l);
    cr_assert(!exists(dead_name), "%s/%s should be gone", dir, dead_name);
    cr_assert(exists(live_name), "a running creator's directory must stay");
    char p[600];
    aria_snprintf(p, sizeof p, "%s/%s/data.mdb", dir, live_name);
    unlink(p);
    aria_snprintf(p, sizeof p, "%s/%s", dir, live_name);
    rmdir(p);
}

Test(ledger_store, received_credits_are_pending_until_the_settle_delay)
{
    ledger_options o;
    tl_options(&o, &clk);
    o.settle_ms = 5000;
    ledger *l;
    cr_assert_eq(ledger_open(dir, w.g, &o, &l), 0);
    tl_bytes g = tl_genesis_entry(&w, 0, 1000000);
    tl_bytes s = tl_send(&w, 0, 1, g.id, 2, 300, false, 0);
    uint8_t src[1][32];
    memcpy(src[0], s.id, 32);
    tl_bytes r = tl_receive(&w, 2, 0, NULL, (const uint8_t(*)[32])src, 1);
    cr_assert_eq(ledger_apply(l, g.p, g.n, NULL), 0);
    cr_assert_eq(ledger_apply(l, s.p, s.n, NULL), 0);
    cr_assert_eq(ledger_apply(l, r.p, r.n, NULL), 0);
    ledger_account_info a;
    cr_assert_eq(ledger_account(l, w.id[2], &a), 0);
    cr_assert_eq(a.balance, 300);
    cr_assert_eq(a.pending, 300);
    cr_assert_eq(a.available, 0);
    aria_clock_manual_advance(&clk, 4999);
    cr_assert_eq(ledger_account(l, w.id[2], &a), 0);
    cr_assert_eq(a.pending, 300);
    aria_clock_manual_advance(&clk, 1);
    cr_assert_eq(ledger_account(l, w.id[2], &a), 0);
    cr_assert_eq(a.pending, 0);
    cr_assert_eq(a.available, 300);
    /* the sender's change is never pending */
    cr_assert_eq(ledger_account(l, w.id[0], &a), 0);
    cr_assert_eq(a.available, 1000000 - 300);
    ledger_close(l);
    aria_free(g.p);
    aria_free(s.p);
    aria_free(r.p);
}

Test(ledger_store, hold_is_bounded_and_expires)
{
    ledger_options o;
    tl_options(&o, &clk);
    o.hold_max = 2;
    o.hold_ttl_ms = 1000;
    ledger *l;
    cr_assert_eq(ledger_open(dir, w.g, &o, &l), 0);
    tl_bytes *c = chain_of(5);
    ledger_result res;
    cr_assert_eq(ledger_apply(l, c[2].p, c[2].n, &res), 0);
    cr_assert_eq(res.reason, LEDGER_HELD);
    cr_assert_eq(ledger_apply(l, c[3].p, c[3].n, &res), 0);
    cr_assert_eq(ledger_apply(l, c[4].p, c[4].n, &res), ARIA_EFULL);
    cr_assert_eq(res.reason, LEDGER_HOLD_FULL);
    uint8_t miss[4][32];
    cr_assert_eq(ledger_missing(l, miss, 4), 2);
    aria_clock_manual_advance(&clk, 1001);
    ledger_hold_expire(l);
    cr_assert_eq(ledger_hold_count(l), 0);
    cr_assert_eq(ledger_missing(l, miss, 4), 0);
    /* a held entry re-sent after expiry is held again; filling the gap applies all */
    cr_assert_eq(ledger_apply(l, c[2].p, c[2].n, &res), 0);
    cr_assert_eq(res.reason, LEDGER_HELD);
    cr_assert_eq(ledger_apply(l, c[0].p, c[0].n, &res), 0);
    cr_assert_eq(ledger_apply(l, c[1].p, c[1].n, &res), 0);
    ledger_account_info a;
    cr_assert_eq(ledger_account(l, w.id[0], &a), 0);
    cr_assert_eq(a.chain_len, 3);
    ledger_close(l);
    free_chain(c, 5);
}

static int
count_entries(void *ctx, const ledger_entry *e, const ledger_entry_info *info)
{
    int *n = ctx;
    cr_assert(e->has_receipt);
    cr_assert(info->live);
    (*n)++;
    return 0;
}

Test(ledger_store, receipts_by_job_provider_and_requester)
{
    ledger_options o;
    tl_options(&o, &clk);
    ledger *l;
    cr_assert_eq(ledger_open(dir, w.g, &o, &l), 0);
    tl_bytes *c = chain_of(9); /* receipts at seq 4 and 8, jobs 4 and 8 */
    for (int i = 0; i < 9; i++)
        cr_assert_eq(ledger_apply(l, c[i].p, c[i].n, NULL), 0);
    int n = 0;
    cr_assert_eq(ledger_receipts(l, LEDGER_RECEIPTS_ALL, NULL, count_entries, &n), 0);
    cr_assert_eq(n, 2);
    n = 0;
    cr_assert_eq(ledger_receipts(l, LEDGER_RECEIPTS_BY_PROVIDER, w.id[1], count_entries, &n), 0);
    cr_assert_eq(n, 2);
    n = 0;
    cr_assert_eq(ledger_receipts(l, LEDGER_RECEIPTS_BY_REQUESTER, w.id[0], count_entries, &n), 0);
    cr_assert_eq(n, 2);
    n = 0;
    cr_assert_eq(ledger_receipts(l, LEDGER_RECEIPTS_BY_REQUESTER, w.id[1], count_entries, &n), 0);
    cr_assert_eq(n, 0);
    uint8_t job[32] = {0};
    aria_store_u64le(job, 8);
    n = 0;
    cr_assert_eq(ledger_receipts(l, LEDGER_RECEIPTS_BY_JOB, job, count_entries, &n), 0);
    cr_assert_eq(n, 1);
    ledger_entry e;
    ledger_entry_info info;
    cr_assert_eq(ledger_entry_get(l, c[8].id, &e, &info), 0);
    cr_assert_eq(e.receipt.tokens_out, 32 + 8);
    uint8_t nope[32] = {1};
    cr_assert_eq(ledger_entry_get(l, nope, &e, &info), ARIA_ENOTFOUND);
    ledger_close(l);
    free_chain(c, 9);
}

Test(ledger_store, export_then_import_gives_the_same_state)
{
    ledger_options o;
    tl_options(&o, &clk);
    ledger *l;
    cr_assert_eq(ledger_open(dir, w.g, &o, &l), 0);
    tl_rng r = {5};
    tl_history h;
    tl_history_gen(&w, &r, 60, 10, &h);
    for (size_t i = 0; i < h.n; i++) {
        ledger_result res;
        int rc = ledger_apply(l, h.e[i].p, h.e[i].n, &res);
        ARIA_UNUSED(rc);
    }
    char path[300];
    aria_snprintf(path, sizeof path, "%s.export", dir);
    uint64_t n = 0;
    cr_assert_eq(ledger_export_file(l, path, &n), 0, "%s", aria_err_msg());
    cr_assert_gt(n, 0);
    uint8_t h1[32], h2[32];
    cr_assert_eq(ledger_state_hash(l, h1), 0);
    char dir2[256];
    tl_tmpdir(dir2, sizeof dir2, "store2");
    ledger *l2;
    cr_assert_eq(ledger_open(dir2, w.g, &o, &l2), 0);
    ledger_import_stats st;
    cr_assert_eq(ledger_import_file(l2, path, &st), 0, "%s", aria_err_msg());
    cr_assert_eq(st.total, n);
    cr_assert_eq(st.rejected, 0);
    cr_assert_eq(ledger_state_hash(l2, h2), 0);
    cr_assert_eq(memcmp(h1, h2, 32), 0);
    ledger_verify_report rep;
    cr_assert_eq(ledger_verify(l2, &rep), 0, "%s", aria_err_msg());
    /* importing again: all duplicates */
    cr_assert_eq(ledger_import_file(l2, path, &st), 0);
    cr_assert_eq(st.duplicate + st.fork, n);
    /* a damaged file is refused with a message */
    FILE *f = fopen(path, "r+b");
    cr_assert(f);
    fseek(f, 8, SEEK_SET);
    fputc(0xff, f);
    fputc(0xff, f);
    fclose(f);
    cr_assert_eq(ledger_import_file(l2, path, &st), ARIA_EPROTO);
    ledger_close(l2);
    tl_rmdir(dir2);
    unlink(path);
    ledger_close(l);
    tl_history_free(&h);
}

/* verify must be able to fail: tamper with a derived table behind the
 * ledger's back (raw LMDB) and check that verify names the problem. */
#include <lmdb.h>

Test(ledger_store, verify_detects_a_tampered_balance)
{
    ledger_options o;
    tl_options(&o, &clk);
    ledger *l;
    cr_assert_eq(ledger_open(dir, w.g, &o, &l), 0);
    tl_bytes *c = chain_of(6);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(ledger_apply(l, c[i].p, c[i].n, NULL), 0);
    ledger_verify_report rep;
    cr_assert_eq(ledger_verify(l, &rep), 0, "%s", aria_err_msg());
    ledger_close(l);

    MDB_env *env;
    MDB_txn *t;
    MDB_dbi dbi;
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 16), 0);
    cr_assert_eq(mdb_env_set_mapsize(env, o.map_size_bytes), 0);
    cr_assert_eq(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &t), 0);
    cr_assert_eq(mdb_dbi_open(t, "acct", 0, &dbi), 0);
    MDB_val k = {32, w.id[0]}, v;
    cr_assert_eq(mdb_get(t, dbi, &k, &v), 0);
    uint8_t rec[104];
    cr_assert_eq(v.mv_size, sizeof rec);
    memcpy(rec, v.mv_data, sizeof rec);
    aria_store_u64le(rec + 96, aria_load_u64le(rec + 96) + 1000); /* live balance */
    MDB_val nv = {sizeof rec, rec};
    cr_assert_eq(mdb_put(t, dbi, &k, &nv, 0), 0);
    cr_assert_eq(mdb_txn_commit(t), 0);
    mdb_env_close(env);

    cr_assert_eq(ledger_open(dir, NULL, &o, &l), 0);
    cr_assert_eq(ledger_verify(l, &rep), ARIA_EPROTO);
    cr_assert_gt(rep.mismatched, 0);
    cr_assert(!rep.supply_ok);
    cr_assert(strstr(aria_err_msg(), "account"), "%s", aria_err_msg());
    ledger_close(l);
    free_chain(c, 6);
}
