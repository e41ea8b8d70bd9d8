/*
 * test_wallet_cli.c — runs `aria wallet` (ARIA_BIN) in a fresh ARIA_HOME:
 * new/show/address/change-passphrase, and the exit codes and messages of
 * a wrong passphrase, a missing passphrase without a terminal (must fail at
 * once, not wait on stdin), a damaged file and bad usage. The child runs in
 * its own session (setsid) so it has no controlling terminal, like CI.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wallet.h"

static char home[64];
static char out[8192], err[8192];

static void
setup(void)
{
    aria_snprintf(home, sizeof home, "wcli-XXXXXX");
    cr_assert(mkdtemp(home));
}

static void
teardown(void)
{
    char cmd[256];
    aria_snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(wallet_cli, .init = setup, .fini = teardown, .timeout = 60);

static void
slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

/* Run ARIA_BIN with args (NULL-terminated) and passphrase env values (NULL
 * = unset); returns the exit status, stdout/stderr in out/err. */
static int
run(const char *pass, const char *newpass, const char *const *args)
{
    const char *bin = getenv("ARIA_BIN");
    cr_assert(bin, "ARIA_BIN not set");
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)bin;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    char po[128], pe[128];
    aria_snprintf(po, sizeof po, "%s/.out", home);
    aria_snprintf(pe, sizeof pe, "%s/.err", home);
    /* the environment is built before fork: only async-signal-safe calls
     * happen in the child */
    extern char **environ;
    static char *envp[512];
    static char e_home[128], e_pass[256], e_new[256];
    int ne = 0;
    for (char **e = environ; *e && ne < 500; e++)
        if (strncmp(*e, "ARIA_HOME=", 10) && strncmp(*e, "ARIA_KEYSTORE_KDF=", 18) &&
            strncmp(*e, "ARIA_PASSPHRASE=", 16) && strncmp(*e, "ARIA_NEW_PASSPHRASE=", 20))
            envp[ne++] = *e;
    aria_snprintf(e_home, sizeof e_home, "ARIA_HOME=%s", home);
    envp[ne++] = e_home;
    envp[ne++] = (char *)"ARIA_KEYSTORE_KDF=min";
    if (pass) {
        aria_snprintf(e_pass, sizeof e_pass, "ARIA_PASSPHRASE=%s", pass);
        envp[ne++] = e_pass;
    }
    if (newpass) {
        aria_snprintf(e_new, sizeof e_new, "ARIA_NEW_PASSPHRASE=%s", newpass);
        envp[ne++] = e_new;
    }
    envp[ne] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        int fi = open("/dev/null", O_RDONLY);
        int fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fi < 0 || fo < 0 || fe < 0)
            _exit(120);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execve(bin, argv, envp);
        _exit(127);
    }
    cr_assert(pid > 0);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    slurp(po, out, sizeof out);
    slurp(pe, err, sizeof err);
    cr_assert(WIFEXITED(st), "aria died by a signal; stderr: %s", err);
    return WEXITSTATUS(st);
}

#define RUN(pass, newpass, ...) run(pass, newpass, (const char *const[]){__VA_ARGS__, NULL})

static void
line_value(const char *key, char *v, size_t cap)
{
    const char *p = strstr(out, key);
    cr_assert(p, "no '%s' in output: %s", key, out);
    p += strlen(key);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\n");
    cr_assert(n < cap);
    memcpy(v, p, n);
    v[n] = 0;
}

Test(wallet_cli, new_show_address_change_passphrase)
{
    char addr[128], id[128], addr2[128], path[128];
    cr_assert_eq(RUN("s3cret", NULL, "wallet", "new"), 0, "%s", err);
    line_value("address:", addr, sizeof addr);
    line_value("account id:", id, sizeof id);
    cr_assert(strncmp(addr, "aria1", 5) == 0);
    uint8_t a[32], b[32];
    cr_assert_eq(wallet_address_decode(addr, a, NULL), 0);
    cr_assert_eq(wallet_account_parse(id, b), 0);
    cr_assert(memcmp(a, b, 32) == 0);
    aria_snprintf(path, sizeof path, "%s/wallet.key", home);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);

    cr_assert_eq(RUN("s3cret", NULL, "wallet", "show"), 0, "%s", err);
    line_value("address:", addr2, sizeof addr2);
    cr_assert_str_eq(addr, addr2);
    cr_assert(strstr(out, "encryption key:"));

    cr_assert_eq(RUN("s3cret", NULL, "wallet", "address"), 0);
    out[strcspn(out, "\n")] = 0;
    cr_assert_str_eq(out, addr);
    cr_assert_eq(RUN("s3cret", NULL, "wallet", "address", "--testnet"), 0);
    cr_assert(strncmp(out, "tart1", 5) == 0);

    /* refuses to overwrite */
    cr_assert_eq(RUN("other", NULL, "wallet", "new"), 1);
    cr_assert(strstr(err, "already exists"), "%s", err);

    cr_assert_eq(RUN("s3cret", "n3w", "wallet", "change-passphrase"), 0, "%s", err);
    cr_assert_eq(RUN("s3cret", NULL, "wallet", "address"), 1);
    cr_assert(strstr(err, "wrong passphrase"), "%s", err);
    cr_assert_eq(RUN("n3w", NULL, "wallet", "address"), 0, "%s", err);
    out[strcspn(out, "\n")] = 0;
    cr_assert_str_eq(out, addr);
}

Test(wallet_cli, missing_passphrase_without_terminal_fails_at_once)
{
    cr_assert_eq(RUN(NULL, NULL, "wallet", "new"), 1);
    cr_assert(strstr(err, "ARIA_PASSPHRASE"), "%s", err);
    cr_assert_eq(RUN("pw", NULL, "wallet", "new"), 0);
    cr_assert_eq(RUN(NULL, NULL, "wallet", "show"), 1);
    cr_assert(strstr(err, "ARIA_PASSPHRASE"), "%s", err);
}

Test(wallet_cli, unencrypted_keystore_needs_the_flag)
{
    char path[128];
    aria_snprintf(path, sizeof path, "%s/plain.key", home);
    cr_assert_eq(RUN(NULL, NULL, "wallet", "new", "--file", path, "--no-passphrase"), 0, "%s", err);
    cr_assert(strstr(err, "NOT encrypted"), "%s", err);
    cr_assert(strstr(out, "encrypted:      NO"), "%s", out);
    cr_assert_eq(RUN(NULL, NULL, "wallet", "show", "--file", path), 0, "%s", err);
}

Test(wallet_cli, damaged_files_give_clear_errors)
{
    char path[128];
    aria_snprintf(path, sizeof path, "%s/wallet.key", home);
    cr_assert_eq(RUN("pw", NULL, "wallet", "new"), 0);
    uint8_t buf[256];
    FILE *f = fopen(path, "rb");
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    cr_assert_eq(n, 124);
    /* truncated */
    f = fopen(path, "wb");
    cr_assert_eq(fwrite(buf, 1, 100, f), 100);
    fclose(f);
    cr_assert_eq(RUN("pw", NULL, "wallet", "show"), 1);
    cr_assert(strstr(err, "truncated"), "%s", err);
    cr_assert_eq(out[0], 0, "printed something: %s", out);
    /* one flipped bit in the ciphertext */
    buf[90] ^= 4;
    f = fopen(path, "wb");
    cr_assert_eq(fwrite(buf, 1, 124, f), 124);
    fclose(f);
    cr_assert_eq(RUN("pw", NULL, "wallet", "show"), 1);
    cr_assert(strstr(err, "corrupted"), "%s", err);
    cr_assert_eq(out[0], 0);
    /* one flipped bit in the header */
    buf[90] ^= 4;
    buf[30] ^= 1;
    f = fopen(path, "wb");
    cr_assert_eq(fwrite(buf, 1, 124, f), 124);
    fclose(f);
    cr_assert_eq(RUN("pw", NULL, "wallet", "address"), 1);
    cr_assert(strstr(err, "header"), "%s", err);
    /* missing file */
    cr_assert_eq(RUN("pw", NULL, "wallet", "show", "--file", "/nonexistent/x.key"), 1);
    cr_assert(strstr(err, "does not exist"), "%s", err);
}

Test(wallet_cli, usage_errors_exit_2)
{
    cr_assert_eq(RUN("pw", NULL, "wallet"), 2);
    cr_assert_eq(RUN("pw", NULL, "wallet", "frobnicate"), 2);
    cr_assert(strstr(err, "unknown subcommand"));
    cr_assert_eq(RUN("pw", NULL, "wallet", "show", "--bogus"), 2);
    cr_assert_eq(RUN("pw", NULL, "wallet", "address", "--no-passphrase"), 2);
    cr_assert_eq(RUN("pw", NULL, "wallet", "new", "--file"), 2);
    cr_assert_eq(RUN("pw", NULL, "wallet", "--help"), 0);
    cr_assert(strstr(out, "change-passphrase"));
}
