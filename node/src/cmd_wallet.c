/*
 * cmd_wallet.c — `aria wallet`: create and inspect the keystore.
 *
 *   aria wallet new [--file F] [--no-passphrase] [--testnet]
 *   aria wallet show [--file F] [--testnet]
 *   aria wallet address [--file F] [--testnet]
 *   aria wallet change-passphrase [--file F] [--no-passphrase]
 *
 * The keystore defaults to <data dir>/wallet.key, data dir = $ARIA_HOME,
 * else ~/.aria (the same rule as the node and the ledger). Passphrases come
 * from ARIA_PASSPHRASE (the new one for change-passphrase from
 * ARIA_NEW_PASSPHRASE), else a no-echo prompt on /dev/tty; with neither the
 * command fails at once (exit 1) rather than waiting on stdin.
 * `balance` and `send` are added by the node as further rows of `subs`.
 *
 * Invariants: no secret byte is printed; the keystore file is only written
 * through wallet_keystore_create / wallet_keystore_save (atomic, 0600).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "wallet.h"

#define WALLET_FILE_NAME "wallet.key"

int
cmd_wallet_default_path(char *out, size_t size)
{
    const char *home = getenv("ARIA_HOME");
    int n;
    if (home && *home)
        n = aria_snprintf(out, size, "%s/" WALLET_FILE_NAME, home);
    else if ((home = getenv("HOME")) && *home)
        n = aria_snprintf(out, size, "%s/.aria/" WALLET_FILE_NAME, home);
    else
        return aria_errf(ARIA_EINVAL,
                         "no keystore location: set ARIA_HOME or HOME, or pass --file");
    if (n < 0 || (size_t)n >= size)
        return aria_errf(ARIA_EINVAL, "keystore path too long");
    return 0;
}

int
cmd_wallet_open(const char *file, wallet **out)
{
    char def[4096];
    int rc;
    if (!file) {
        if ((rc = cmd_wallet_default_path(def, sizeof def)))
            return rc;
        file = def;
    }
    bool enc = false;
    if ((rc = wallet_keystore_is_encrypted(file, &enc)))
        return rc;
    char *pass = NULL;
    if (enc &&
        (rc = wallet_passphrase_read("ARIA_PASSPHRASE", "Keystore passphrase: ", false, &pass)))
        return rc;
    rc = wallet_keystore_load(file, pass, out);
    wallet_passphrase_free(pass);
    return rc;
}

/* Create the parent directory (one level, mode 0700) if it is missing. */
static int
ensure_parent_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return 0;
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir)
        return aria_errf(ARIA_EINVAL, "keystore path too long");
    memcpy(dir, path, n);
    dir[n] = 0;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return aria_errf(ARIA_EIO, "cannot create directory %s: %s", dir, strerror(errno));
    return 0;
}

typedef struct wallet_opts {
    const char *file;
    bool no_passphrase;
    bool testnet;
} wallet_opts;

/* Parse the shared flags; `allowed` lists which of --no-passphrase and
 * --testnet this subcommand takes. Returns 0, or 2 after a usage error. */
static int
parse_opts(int argc, char **argv, wallet_opts *o, bool allow_nopass, bool allow_testnet)
{
    const cli_verb *v = cli_verb_find("wallet");
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--file") == 0 || strcmp(argv[i], "-f") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error(v, "--file needs a path");
            o->file = argv[++i];
        } else if (allow_nopass && strcmp(argv[i], "--no-passphrase") == 0) {
            o->no_passphrase = true;
        } else if (allow_testnet && strcmp(argv[i], "--testnet") == 0) {
            o->testnet = true;
        } else {
            char msg[160];
            aria_snprintf(msg, sizeof msg, "%s: unknown option '%.80s'", argv[0], argv[i]);
            return cli_usage_error(v, msg);
        }
    }
    return 0;
}

static const char *
resolve_file(const wallet_opts *o, char *buf, size_t size, int *rc)
{
    *rc = 0;
    if (o->file)
        return o->file;
    *rc = cmd_wallet_default_path(buf, size);
    return *rc ? NULL : buf;
}

static int
print_wallet(const wallet *w, const char *file, bool testnet, bool full)
{
    uint8_t id[WALLET_ID_BYTES], ek[WALLET_ENC_KEY_BYTES];
    char addr[WALLET_ADDRESS_MAX], hid[2 * WALLET_ID_BYTES + 1], hek[2 * WALLET_ENC_KEY_BYTES + 1];
    wallet_account_id(w, id);
    wallet_enc_key(w, ek);
    int rc = wallet_address_encode(id, testnet, addr);
    if (rc)
        return cli_fail(rc, "wallet address");
    if (!full) {
        printf("%s\n", addr);
        return 0;
    }
    aria_hex_encode(hid, sizeof hid, id, sizeof id);
    aria_hex_encode(hek, sizeof hek, ek, sizeof ek);
    bool enc = false;
    if (file && (rc = wallet_keystore_is_encrypted(file, &enc)) != 0)
        return cli_fail(rc, file);
    if (file) {
        printf("file:           %s\n", file);
        printf("encrypted:      %s\n", enc ? "yes (Argon2id + XChaCha20-Poly1305)" : "NO");
    }
    printf("address:        %s\n", addr);
    printf("account id:     %s\n", hid);
    printf("encryption key: %s\n", hek);
    return 0;
}

static int
sub_new(int argc, char **argv)
{
    wallet_opts o;
    int rc = parse_opts(argc, argv, &o, true, true);
    if (rc)
        return rc;
    char def[4096];
    const char *file = resolve_file(&o, def, sizeof def, &rc);
    if (!file)
        return cli_fail(rc, "wallet new");
    if (!o.file && (rc = ensure_parent_dir(file)))
        return cli_fail(rc, "wallet new");
    char *pass = NULL;
    if (!o.no_passphrase &&
        (rc = wallet_passphrase_read("ARIA_PASSPHRASE", "New keystore passphrase: ", true, &pass)))
        return cli_fail(rc, "wallet new");
    wallet *w = NULL;
    rc = wallet_keystore_create(file, pass, &w);
    wallet_passphrase_free(pass);
    if (rc)
        return cli_fail(rc, "wallet new");
    if (o.no_passphrase)
        fprintf(stderr, "aria: warning: %s is NOT encrypted (--no-passphrase)\n", file);
    rc = print_wallet(w, file, o.testnet, true);
    wallet_free(w);
    return rc;
}

static int
sub_show(int argc, char **argv, bool full)
{
    wallet_opts o;
    int rc = parse_opts(argc, argv, &o, false, true);
    if (rc)
        return rc;
    char def[4096];
    const char *file = resolve_file(&o, def, sizeof def, &rc);
    if (!file)
        return cli_fail(rc, argv[0]);
    wallet *w = NULL;
    if ((rc = cmd_wallet_open(file, &w)))
        return cli_fail(rc, full ? "wallet show" : "wallet address");
    rc = print_wallet(w, file, o.testnet, full);
    wallet_free(w);
    return rc;
}

static int
sub_show_full(int argc, char **argv)
{
    return sub_show(argc, argv, true);
}

static int
sub_address(int argc, char **argv)
{
    return sub_show(argc, argv, false);
}

static int
sub_change_passphrase(int argc, char **argv)
{
    wallet_opts o;
    int rc = parse_opts(argc, argv, &o, true, false);
    if (rc)
        return rc;
    char def[4096];
    const char *file = resolve_file(&o, def, sizeof def, &rc);
    if (!file)
        return cli_fail(rc, "wallet change-passphrase");
    wallet *w = NULL;
    if ((rc = cmd_wallet_open(file, &w)))
        return cli_fail(rc, "wallet change-passphrase");
    char *pass = NULL;
    if (!o.no_passphrase &&
        (rc = wallet_passphrase_read("ARIA_NEW_PASSPHRASE", "New keystore passphrase: ", true,
                                     &pass))) {
        wallet_free(w);
        return cli_fail(rc, "wallet change-passphrase");
    }
    rc = wallet_keystore_save(file, w, pass);
    wallet_passphrase_free(pass);
    wallet_free(w);
    if (rc)
        return cli_fail(rc, "wallet change-passphrase");
    printf("%s: %s\n", file,
           o.no_passphrase ? "now UNENCRYPTED (--no-passphrase)" : "passphrase changed");
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
} subs[] = {
    {"new", sub_new},
    {"show", sub_show_full},
    {"address", sub_address},
    {"change-passphrase", sub_change_passphrase},
    {"balance", cmd_wallet_balance}, /* cmd_wallet_node.c: through the local node */
    {"send", cmd_wallet_send},
};

int
cmd_wallet(int argc, char **argv)
{
    const cli_verb *v = cli_verb_find("wallet");
    if (argc < 2)
        return cli_usage_error(v, "missing subcommand");
    for (size_t i = 0; i < ARIA_ARRAY_LEN(subs); i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return subs[i].fn(argc - 1, argv + 1);
    char msg[120];
    aria_snprintf(msg, sizeof msg, "unknown subcommand '%.60s'", argv[1]);
    return cli_usage_error(v, msg);
}
