/*
 * test_keystore.c — the keystore file: round trips, and every kind of
 * damage (wrong passphrase, truncation at every length, a flipped bit at
 * every position, unknown version, trailing bytes) gives a clear error and
 * never a wallet. Uses the cheapest Argon2id parameters (ARIA_KEYSTORE_KDF=min)
 * so the ~2,000 damaged loads stay fast; the format and code path are the
 * same as with the secure defaults.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "wallet.h"
#include "wallet_internal.h"

static char dir[64];
static char path[128];

static void
setup(void)
{
    setenv("ARIA_KEYSTORE_KDF", "min", 1);
    aria_snprintf(dir, sizeof dir, "ks-test-XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    aria_snprintf(path, sizeof path, "%s/wallet.key", dir);
}

static void
teardown(void)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char p[512];
            aria_snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

TestSuite(wallet_keystore, .init = setup, .fini = teardown);

static size_t
read_all(const char *p, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(p, "rb");
    cr_assert(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void
write_bytes(const char *p, const uint8_t *buf, size_t n)
{
    FILE *f = fopen(p, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
    cr_assert_eq(chmod(p, 0600), 0);
}

static void
id_of(const wallet *w, uint8_t id[32])
{
    wallet_account_id(w, id);
}

static int
count_files(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

Test(wallet_keystore, create_load_roundtrip_encrypted)
{
    wallet *w, *l;
    uint8_t a[32], b[32];
    cr_assert_eq(wallet_keystore_create(path, "correct horse", &w), 0, "%s", aria_err_msg());
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(st.st_size, WALLET_KS_BYTES);
    cr_assert_eq(count_files(), 1, "temp file left behind");
    bool enc = false;
    cr_assert_eq(wallet_keystore_is_encrypted(path, &enc), 0);
    cr_assert(enc);
    cr_assert_eq(wallet_keystore_load(path, "correct horse", &l), 0, "%s", aria_err_msg());
    id_of(w, a);
    id_of(l, b);
    cr_assert(memcmp(a, b, 32) == 0);
    /* the stored Argon2id parameters are the ones asked for */
    uint8_t buf[256];
    cr_assert_eq(read_all(path, buf, sizeof buf), WALLET_KS_BYTES);
    cr_assert(memcmp(buf, "ARIAKEYS", 8) == 0);
    cr_assert_eq(aria_load_u32le(buf + 12), 1);
    cr_assert_eq(aria_load_u32le(buf + 16), 8);
    /* the seed is not in the file in the clear */
    cr_assert(memmem(buf, WALLET_KS_BYTES, wallet__seed(w), 32) == NULL);
    /* create refuses to overwrite */
    wallet *x = NULL;
    cr_assert_eq(wallet_keystore_create(path, "other", &x), ARIA_EEXIST);
    cr_assert_null(x);
    cr_assert_eq(count_files(), 1);
    wallet_free(w);
    wallet_free(l);
}

Test(wallet_keystore, unencrypted_only_when_asked_and_roundtrips)
{
    wallet *w, *l;
    uint8_t a[32], b[32];
    cr_assert_eq(wallet_keystore_create(path, NULL, &w), 0, "%s", aria_err_msg());
    bool enc = true;
    cr_assert_eq(wallet_keystore_is_encrypted(path, &enc), 0);
    cr_assert(!enc);
    cr_assert_eq(wallet_keystore_load(path, NULL, &l), 0);
    id_of(w, a);
    id_of(l, b);
    cr_assert(memcmp(a, b, 32) == 0);
    wallet_free(l);
    /* re-encrypt (change-passphrase path) and back */
    cr_assert_eq(wallet_keystore_save(path, w, "pw1"), 0);
    cr_assert_eq(wallet_keystore_load(path, NULL, &l), ARIA_EPERM);
    cr_assert_null(l);
    cr_assert(strstr(aria_err_msg(), "passphrase"));
    cr_assert_eq(wallet_keystore_load(path, "pw1", &l), 0);
    wallet_free(l);
    cr_assert_eq(wallet_keystore_save(path, w, "pw2"), 0);
    cr_assert_eq(wallet_keystore_load(path, "pw1", &l), ARIA_ECRYPTO);
    cr_assert_eq(wallet_keystore_load(path, "pw2", &l), 0);
    id_of(l, b);
    cr_assert(memcmp(a, b, 32) == 0);
    cr_assert_eq(count_files(), 1);
    wallet_free(l);
    /* an empty passphrase is not a way to get an unencrypted file */
    cr_assert_eq(wallet_keystore_save(path, w, ""), ARIA_EINVAL);
    wallet_free(w);
}

Test(wallet_keystore, wrong_passphrase_is_a_clear_error)
{
    wallet *w, *l = (wallet *)1;
    cr_assert_eq(wallet_keystore_create(path, "right", &w), 0);
    aria_err_clear();
    cr_assert_eq(wallet_keystore_load(path, "wrong", &l), ARIA_ECRYPTO);
    cr_assert_null(l);
    cr_assert(strstr(aria_err_msg(), "wrong passphrase"), "%s", aria_err_msg());
    wallet_free(w);
}

Test(wallet_keystore, missing_file_directory_and_oversized_file)
{
    wallet *l;
    cr_assert_eq(wallet_keystore_load(path, "x", &l), ARIA_ENOTFOUND);
    cr_assert(strstr(aria_err_msg(), "does not exist"));
    cr_assert_eq(wallet_keystore_load(dir, "x", &l), ARIA_EPROTO);
    uint8_t big[5000];
    memset(big, 'A', sizeof big);
    memcpy(big, "ARIAKEYS", 8);
    write_bytes(path, big, sizeof big);
    cr_assert_eq(wallet_keystore_load(path, "x", &l), ARIA_EPROTO);
    cr_assert_null(l);
}

static void
damage_every_way(const char *pass)
{
    wallet *w;
    uint8_t good[WALLET_KS_BYTES], buf[WALLET_KS_BYTES + 1];
    cr_assert_eq(wallet_keystore_create(path, pass, &w), 0);
    cr_assert_eq(read_all(path, good, sizeof good), WALLET_KS_BYTES);
    char bad[160];
    aria_snprintf(bad, sizeof bad, "%s/bad.key", dir);
    /* truncated at every length */
    for (size_t len = 0; len < WALLET_KS_BYTES; len++) {
        write_bytes(bad, good, len);
        wallet *l = (wallet *)1;
        aria_err_clear();
        int rc = wallet_keystore_load(bad, pass, &l);
        cr_assert(rc == ARIA_ERANGE, "len %zu: rc %d %s", len, rc, aria_err_msg());
        cr_assert_null(l);
        cr_assert(strstr(aria_err_msg(), len ? "truncated" : "empty"), "%s", aria_err_msg());
    }
    /* a flipped bit at every position */
    int by_code[32] = {0};
    for (size_t bit = 0; bit < 8 * WALLET_KS_BYTES; bit++) {
        memcpy(buf, good, WALLET_KS_BYTES);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        write_bytes(bad, buf, WALLET_KS_BYTES);
        wallet *l = (wallet *)1;
        aria_err_clear();
        int rc = wallet_keystore_load(bad, pass, &l);
        cr_assert(rc < 0, "bit %zu accepted", bit);
        cr_assert_null(l);
        cr_assert(strlen(aria_err_msg()) > 10, "bit %zu: no message", bit);
        by_code[-rc]++;
        /* the specific code by region */
        if (bit < 64)
            cr_assert_eq(rc, ARIA_EPROTO, "bit %zu", bit);
        else if (bit < 80)
            cr_assert_eq(rc, ARIA_EUNSUPPORTED, "bit %zu", bit);
        else if (bit < 8 * WALLET_KS_HDR_BYTES)
            cr_assert_eq(rc, ARIA_EPROTO, "bit %zu: %s", bit, aria_err_msg());
        else
            cr_assert_eq(rc, pass ? ARIA_ECRYPTO : ARIA_EPROTO, "bit %zu", bit);
    }
    /* trailing bytes */
    memcpy(buf, good, WALLET_KS_BYTES);
    buf[WALLET_KS_BYTES] = 0;
    write_bytes(bad, buf, WALLET_KS_BYTES + 1);
    wallet *l;
    cr_assert_eq(wallet_keystore_load(bad, pass, &l), ARIA_EPROTO);
    cr_assert(strstr(aria_err_msg(), "trailing"));
    /* the undamaged file still loads */
    cr_assert_eq(wallet_keystore_load(path, pass, &l), 0);
    wallet_free(l);
    wallet_free(w);
}

Test(wallet_keystore, encrypted_file_damage_is_always_detected)
{
    damage_every_way("pass phrase");
}

Test(wallet_keystore, unencrypted_file_damage_is_always_detected)
{
    damage_every_way(NULL);
}

Test(wallet_keystore, unknown_version_is_a_clear_error)
{
    wallet *w;
    uint8_t buf[WALLET_KS_BYTES];
    cr_assert_eq(wallet_keystore_create(path, "pw", &w), 0);
    cr_assert_eq(read_all(path, buf, sizeof buf), WALLET_KS_BYTES);
    /* version 2 with an otherwise consistent header checksum */
    aria_store_u16le(buf + 8, 2);
    crypto_generichash(buf + 60, 16, buf, 60, (const uint8_t *)"aria/keystore/header/v1", 23);
    write_bytes(path, buf, sizeof buf);
    wallet *l;
    aria_err_clear();
    cr_assert_eq(wallet_keystore_load(path, "pw", &l), ARIA_EUNSUPPORTED);
    cr_assert_null(l);
    cr_assert(strstr(aria_err_msg(), "version 2"), "%s", aria_err_msg());
    /* not a keystore at all */
    write_bytes(path, (const uint8_t *)"hello world, not a key file", 27);
    cr_assert_eq(wallet_keystore_load(path, "pw", &l), ARIA_EPROTO);
    cr_assert(strstr(aria_err_msg(), "not an ARIA keystore"));
    wallet_free(w);
}

Test(wallet_keystore, kdf_parameters_from_environment)
{
    wallet_kdf k;
    unsetenv("ARIA_KEYSTORE_KDF");
    cr_assert_eq(wallet_kdf_default(&k), 0);
    cr_assert_eq(k.opslimit, 3);
    cr_assert_eq(k.memlimit_kib, 256 * 1024);
    setenv("ARIA_KEYSTORE_KDF", "interactive", 1);
    cr_assert_eq(wallet_kdf_default(&k), 0);
    cr_assert_eq(k.memlimit_kib, 64 * 1024);
    setenv("ARIA_KEYSTORE_KDF", "2:4096", 1);
    cr_assert_eq(wallet_kdf_default(&k), 0);
    cr_assert_eq(k.opslimit, 2);
    cr_assert_eq(k.memlimit_kib, 4096);
    const char *bad[] = {"fast", "0:4096", "2:4", "2:", ":8", "2:99999999999", "x:y"};
    for (size_t i = 0; i < ARIA_ARRAY_LEN(bad); i++) {
        setenv("ARIA_KEYSTORE_KDF", bad[i], 1);
        cr_assert_eq(wallet_kdf_default(&k), ARIA_EINVAL, "%s", bad[i]);
        cr_assert(strstr(aria_err_msg(), "ARIA_KEYSTORE_KDF"));
    }
    /* save with explicit parameters stores them */
    setenv("ARIA_KEYSTORE_KDF", "min", 1);
    wallet *w;
    uint8_t seed[32] = {1};
    cr_assert_eq(wallet_from_seed(seed, &w), 0);
    wallet_kdf two = {2, 16};
    cr_assert_eq(wallet_keystore_save_kdf(path, w, "pw", &two), 0);
    uint8_t buf[WALLET_KS_BYTES];
    cr_assert_eq(read_all(path, buf, sizeof buf), WALLET_KS_BYTES);
    cr_assert_eq(aria_load_u32le(buf + 12), 2);
    cr_assert_eq(aria_load_u32le(buf + 16), 16);
    wallet *l;
    cr_assert_eq(wallet_keystore_load(path, "pw", &l), 0);
    wallet_free(l);
    wallet_free(w);
}

/* Kill test: a child process (the ks_writer helper) rewrites the keystore
 * in a loop, alternating wallets A and B, each an encrypted atomic save, and
 * is SIGKILLed at a random moment; afterwards the file must load as exactly
 * A or exactly B. Repeated ARIA_KILL_ROUNDS times (default 200; set 1000 for
 * a long run). */
Test(wallet_keystore, killed_writer_leaves_old_or_new_file, .timeout = 240)
{
    uint8_t sa[32], sb[32], ia[32], ib[32], got[32];
    memset(sa, 0xaa, 32);
    memset(sb, 0xbb, 32);
    wallet *a, *b;
    cr_assert_eq(wallet_from_seed(sa, &a), 0);
    cr_assert_eq(wallet_from_seed(sb, &b), 0);
    id_of(a, ia);
    id_of(b, ib);
    cr_assert_eq(wallet_keystore_save(path, a, "pw"), 0);
    long rounds = 200;
    const char *e = getenv("ARIA_KILL_ROUNDS");
    int64_t v;
    if (e && aria_parse_i64(e, 1, 1000000, "ARIA_KILL_ROUNDS", &v) == 0)
        rounds = v;
    /* Kill moments are spread over about two saves, measured here, so the
     * rounds hit before, during and after the writer's first renames even
     * when the machine is loaded and fsync is slow. */
    uint64_t t0 = aria_mono_ns();
    for (int i = 0; i < 4; i++)
        cr_assert_eq(wallet_keystore_save(path, a, "pw"), 0);
    uint64_t save_us = (aria_mono_ns() - t0) / 4000 + 1;
    uint64_t span_us = 2 * save_us + 500;
    uint32_t rng = (uint32_t)time(NULL) * 2654435761u + (uint32_t)getpid();
    int seen_a = 0, seen_b = 0, torn_tmp = 0;
    for (long r = 0; r < rounds; r++) {
        int pfd[2];
        cr_assert_eq(pipe(pfd), 0);
        pid_t pid = fork();
        if (pid == 0) {
            /* no Criterion calls in the child: they would message the runner */
            close(pfd[0]);
            dup2(pfd[1], 1);
            execl(KS_WRITER, KS_WRITER, path, "pw", (char *)NULL);
            _exit(127);
        }
        cr_assert(pid > 0);
        close(pfd[1]);
        /* wait until the writer is initialised and about to save */
        char ready;
        cr_assert_eq(read(pfd[0], &ready, 1), 1, "writer did not start");
        close(pfd[0]);
        rng = rng * 1103515245u + 12345u;
        uint64_t us = (rng >> 4) % span_us;
        struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(WIFSIGNALED(st), "writer failed on its own (status %d)", st);
        wallet *l = NULL;
        int rc = wallet_keystore_load(path, "pw", &l);
        cr_assert_eq(rc, 0, "round %ld: %s", r, aria_err_msg());
        id_of(l, got);
        wallet_free(l);
        if (memcmp(got, ia, 32) == 0)
            seen_a++;
        else if (memcmp(got, ib, 32) == 0)
            seen_b++;
        else
            cr_assert_fail("round %ld: file holds neither A nor B", r);
        /* a killed writer may leave its temp file: never the keystore */
        int n = count_files();
        if (n > 1) {
            torn_tmp++;
            DIR *d = opendir(dir);
            struct dirent *de;
            while ((de = readdir(d)))
                if (strstr(de->d_name, ".tmp-")) {
                    char p[512];
                    aria_snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
                    unlink(p);
                }
            closedir(d);
        }
    }
    cr_log_info("kill rounds %ld (save ~%llu us): file was A %d, B %d; killed mid-write "
                "(temp file left) %d",
                rounds, (unsigned long long)save_us, seen_a, seen_b, torn_tmp);
    /* the rounds must have exercised both completed renames and torn writes */
    if (rounds >= 50)
        cr_assert(seen_b > 0 && torn_tmp > 0,
                  "kills never landed after a rename (B %d) or mid-write (%d)", seen_b, torn_tmp);
    wallet_free(a);
    wallet_free(b);
}
