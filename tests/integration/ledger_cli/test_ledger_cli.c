/*
 * test_ledger_cli.c — runs `aria ledger` (ARIA_BIN) against ledgers built
 * with the library: init from a genesis file, import of an export, balance,
 * history, show, receipts, stats, verify, and the exit codes of errors.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ledger_testlib.h"

static char out[65536];

/* Run the aria binary with `args` (shell words); capture stdout+stderr. */
static int
aria(const char *args)
{
    const char *bin = getenv("ARIA_BIN");
    cr_assert(bin, "ARIA_BIN not set");
    char cmd[4096];
    aria_snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(ledger_cli, init_import_query_and_verify, .timeout = 100)
{
    tl_world w;
    tl_world_init(&w, 4, 2, 10000);
    char base[256], src[300], dst[300], gpath[300], xpath[300], args[2048];
    tl_tmpdir(base, sizeof base, "cli");
    aria_snprintf(src, sizeof src, "%s/src", base);
    aria_snprintf(dst, sizeof dst, "%s/dst", base);
    aria_snprintf(gpath, sizeof gpath, "%s/genesis.json", base);
    aria_snprintf(xpath, sizeof xpath, "%s/entries.bin", base);
    FILE *f = fopen(gpath, "wb");
    cr_assert(f);
    fwrite(w.g->bytes, 1, w.g->len, f);
    fclose(f);
    /* a ledger with a random history, exported */
    ledger_options o;
    aria_clock_manual clk;
    tl_options(&o, &clk);
    ledger *l;
    cr_assert_eq(ledger_open(src, w.g, &o, &l), 0);
    tl_rng r = {11};
    tl_history h;
    tl_receipt_pct = 50;
    tl_history_gen(&w, &r, 40, 0, &h);
    for (size_t i = 0; i < h.n; i++)
        cr_assert_eq(ledger_apply(l, h.e[i].p, h.e[i].n, NULL), 0, "%s", aria_err_msg());
    uint64_t n = 0;
    cr_assert_eq(ledger_export_file(l, xpath, &n), 0);
    uint8_t hash[32];
    cr_assert_eq(ledger_state_hash(l, hash), 0);
    ledger_close(l);
    char hx[65], acc[65], id[65];
    aria_hex_encode(hx, sizeof hx, hash, 32);
    aria_hex_encode(acc, sizeof acc, w.id[0], 32);
    aria_hex_encode(id, sizeof id, h.e[0].id, 32);

    aria_snprintf(args, sizeof args, "ledger --dir %s balance", dst);
    cr_assert_eq(aria(args), 1, "no ledger yet: %s", out);
    cr_assert(strstr(out, "no ledger in"), "%s", out);
    aria_snprintf(args, sizeof args, "ledger --dir %s init", dst);
    cr_assert_eq(aria(args), 2, "init without genesis is a usage error: %s", out);
    aria_snprintf(args, sizeof args, "ledger --dir %s --genesis %s init", dst, gpath);
    cr_assert_eq(aria(args), 0, "%s", out);
    aria_snprintf(args, sizeof args, "ledger --dir %s import %s", dst, xpath);
    cr_assert_eq(aria(args), 0, "%s", out);
    cr_assert(strstr(out, "0 rejected"), "%s", out);
    aria_snprintf(args, sizeof args, "ledger --dir %s stats", dst);
    cr_assert_eq(aria(args), 0, "%s", out);
    cr_assert(strstr(out, hx), "state hash must match the source ledger: %s", out);
    cr_assert(strstr(out, "conserved"), "%s", out);
    aria_snprintf(args, sizeof args, "ledger --dir %s verify", dst);
    cr_assert_eq(aria(args), 0, "%s", out);
    cr_assert(strstr(out, "verify: ok"), "%s", out);
    aria_snprintf(args, sizeof args, "ledger --dir %s balance %s", dst, acc);
    cr_assert_eq(aria(args), 0, "%s", out);
    cr_assert(strstr(out, "balance "), "%s", out);
    aria_snprintf(args, sizeof args, "ledger --dir %s balance", dst);
    cr_assert_eq(aria(args), 0, "%s", out);
    aria_snprintf(args, sizeof args, "ledger --dir %s history %s --limit 3", dst, acc);
    cr_assert_eq(aria(args), 0, "%s", out);
    cr_assert(strstr(out, "genesis"), "%s", out);
    aria_snprintf(args, sizeof args, "ledger --dir %s show %s", dst, id);
    cr_assert_eq(aria(args), 0, "%s", out);
    cr_assert(strstr(out, id), "%s", out);
    aria_snprintf(args, sizeof args, "ledger --dir %s receipts", dst);
    cr_assert_eq(aria(args), 0, "%s", out);
    cr_assert(strstr(out, "receipt job"), "%s", out);
    /* errors */
    aria_snprintf(args, sizeof args, "ledger --dir %s show 1234", dst);
    cr_assert_eq(aria(args), 1, "%s", out);
    cr_assert(strstr(out, "64 hex"), "%s", out);
    aria_snprintf(args, sizeof args, "ledger --dir %s frobnicate", dst);
    cr_assert_eq(aria(args), 2, "%s", out);
    aria_snprintf(args, sizeof args, "ledger --dir %s import %s", dst, gpath);
    cr_assert_eq(aria(args), 1, "%s", out);
    cr_assert(strstr(out, "not a ledger export"), "%s", out);
    aria_snprintf(args, sizeof args, "ledger --dir %s export %s.2", dst, xpath);
    cr_assert_eq(aria(args), 0, "%s", out);

    tl_rmdir(src);
    tl_rmdir(dst);
    unlink(gpath);
    unlink(xpath);
    char x2[310];
    aria_snprintf(x2, sizeof x2, "%s.2", xpath);
    unlink(x2);
    rmdir(base);
    tl_history_free(&h);
    tl_world_fini(&w);
}
