/*
 * bench_sign.c — BIP-340 sign and verify throughput on one core: the wallet
 * API (tagged hash, fresh aux randomness, stack wiping, pubkey parsing)
 * against libsecp256k1 called directly on the same keys in the same run.
 * Each figure is the median of RUNS runs of OPS operations after a warm-up,
 * timed in thread CPU time (CLOCK_THREAD_CPUTIME_ID) so that other load on
 * the machine does not count against either side.
 *
 * Then batch verification (wallet_verify_batch) against checking the same
 * signatures one by one with wallet_verify_parsed (libsecp256k1), at batch
 * sizes 1..1024 and with 1 key, 16 keys or a distinct key per signature;
 * a batch that does not hold (it never should here) aborts the run.
 *
 * usage: bench_sign [--quick] [--runs N] [--ops N]
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>
#include <sodium.h>

#include "wallet.h"

#define NMSG 64

static secp256k1_context *ctx;
static secp256k1_keypair kp;
static wallet *w;
static uint8_t id[32], msgs[NMSG][32], lib_sigs[NMSG][64], w_sigs[NMSG][64], aux[32];
static volatile int sink;

static void
lib_sign(int ops)
{
    uint8_t sig[64];
    for (int i = 0; i < ops; i++) {
        aux[0] = (uint8_t)i;
        if (!secp256k1_schnorrsig_sign32(ctx, sig, msgs[i % NMSG], &kp, aux))
            abort();
    }
    sink += sig[0];
}

static void
wal_sign(int ops)
{
    uint8_t sig[64];
    for (int i = 0; i < ops; i++)
        if (wallet_sign(w, "entry", msgs[i % NMSG], 32, sig) != 0)
            abort();
    sink += sig[0];
}

static void
lib_verify_parse(int ops)
{
    for (int i = 0; i < ops; i++) {
        secp256k1_xonly_pubkey pk;
        if (!secp256k1_xonly_pubkey_parse(ctx, &pk, id) ||
            !secp256k1_schnorrsig_verify(ctx, lib_sigs[i % NMSG], msgs[i % NMSG], 32, &pk))
            abort();
    }
}

static secp256k1_xonly_pubkey parsed;
static void
lib_verify_noparse(int ops)
{
    for (int i = 0; i < ops; i++)
        if (!secp256k1_schnorrsig_verify(ctx, lib_sigs[i % NMSG], msgs[i % NMSG], 32, &parsed))
            abort();
}

/* Batch verification: NB signatures over "entry" messages, signature i by
 * key i % nkeys of NB wallets. */
#define NB 1024
static wallet *bw[NB];
static wallet_pubkey bpk[NB];
static uint8_t bmsg[NB][48], bsig[NB][64];
static wallet_batch_item bitems[NB];
static uint8_t bok[NB];
static size_t bsize = 1;

static int
batch_setup(int nkeys)
{
    for (int i = 0; i < NB; i++) {
        int k = i % nkeys;
        for (int j = 0; j < 48; j++)
            bmsg[i][j] = (uint8_t)(i * 13 + j);
        if (wallet_sign(bw[k], "entry", bmsg[i], sizeof bmsg[i], bsig[i]) != 0)
            return -1;
        bitems[i] = (wallet_batch_item){&bpk[k], "entry", bmsg[i], sizeof bmsg[i], bsig[i]};
    }
    return 0;
}

static void
batch_verify(int ops)
{
    size_t done = 0, off = 0;
    while (done < (size_t)ops) {
        if (off + bsize > NB)
            off = 0;
        if (wallet_verify_batch(bsize, bitems + off, bok) != 0)
            abort();
        off += bsize;
        done += bsize;
    }
    sink += bok[0];
}

static void
single_verify(int ops)
{
    for (int i = 0; i < ops; i++) {
        const wallet_batch_item *it = &bitems[i % NB];
        if (wallet_verify_parsed(it->pk, it->purpose, it->msg, it->len, it->sig) != 0)
            abort();
    }
}

static void
wal_verify(int ops)
{
    for (int i = 0; i < ops; i++)
        if (wallet_verify(id, "entry", msgs[i % NMSG], 32, w_sigs[i % NMSG]) != 0)
            abort();
}

/* CPU time of this thread: on a shared machine, wall time mostly measures
 * how often other processes preempt us. */
static uint64_t
thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Run the functions in turn, `runs` rounds, so changing machine load hits
 * all of them alike; out[i] = median ops/s of fns[i]. */
static void
measure(void (*const *fns)(int), int nfn, int ops, int runs, double *out)
{
    double r[8][64];
    for (int f = 0; f < nfn; f++)
        fns[f](ops / 4 + 1); /* warm-up */
    for (int k = 0; k < runs; k++) {
        for (int f = 0; f < nfn; f++) {
            uint64_t t0 = thread_cpu_ns();
            fns[f](ops);
            uint64_t t1 = thread_cpu_ns();
            r[f][k] = (double)ops * 1e9 / (double)(t1 - t0);
        }
    }
    for (int f = 0; f < nfn; f++)
        out[f] = aria_median(r[f], (size_t)runs);
}

static void
cpu_name(char *out, size_t n)
{
    aria_snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c += 2;
                c[strcspn(c, "\n")] = 0;
                aria_snprintf(out, n, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

int
main(int argc, char **argv)
{
    int runs = 11, ops = 4000;
    for (int i = 1; i < argc; i++) {
        int64_t v;
        if (strcmp(argv[i], "--quick") == 0) {
            runs = 3;
            ops = 500;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc &&
                   aria_parse_i64(argv[++i], 1, 63, "--runs", &v) == 0) {
            runs = (int)v;
        } else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc &&
                   aria_parse_i64(argv[++i], 1, 10000000, "--ops", &v) == 0) {
            ops = (int)v;
        } else {
            fprintf(stderr, "usage: bench_sign [--quick] [--runs N (1..63)] [--ops N]\n");
            return 2;
        }
    }
    /* one core: pin to the CPU we are on */
    cpu_set_t set;
    CPU_ZERO(&set);
    int cpu = sched_getcpu();
    CPU_SET(cpu < 0 ? 0 : cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        fprintf(stderr, "bench_sign: could not pin to one CPU\n");

    if (sodium_init() < 0)
        return 1;
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i * 7 + 1);
    if (wallet_from_seed(seed, &w) != 0)
        return 1;
    wallet_account_id(w, id);
    /* the library path uses the same secret key the wallet derived */
    uint8_t sk[32], m[25];
    memcpy(m, "aria/wallet/secp256k1/v1", 24);
    m[24] = 0;
    crypto_generichash(sk, 32, m, 25, seed, 32);
    ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    randombytes_buf(aux, 32);
    if (!secp256k1_context_randomize(ctx, aux) || !secp256k1_keypair_create(ctx, &kp, sk))
        return 1;
    sodium_memzero(sk, sizeof sk);
    if (!secp256k1_xonly_pubkey_parse(ctx, &parsed, id))
        return 1;
    for (int i = 0; i < NMSG; i++) {
        for (int j = 0; j < 32; j++)
            msgs[i][j] = (uint8_t)(i * 31 + j);
        if (!secp256k1_schnorrsig_sign32(ctx, lib_sigs[i], msgs[i], &kp, aux) ||
            wallet_sign(w, "entry", msgs[i], 32, w_sigs[i]) != 0)
            return 1;
    }
    char cpuname[128];
    cpu_name(cpuname, sizeof cpuname);
    printf("bench_sign: BIP-340 on one core (cpu %d: %s), libsodium %s\n", cpu, cpuname,
           wallet_backend_version());
    printf("median of %d interleaved runs x %d ops, ops per CPU-second of one thread\n", runs, ops);
    /* interleave library and wallet runs so machine load affects both */
    static void (*const sign_fns[])(int) = {lib_sign, wal_sign};
    static void (*const verify_fns[])(int) = {lib_verify_parse, lib_verify_noparse, wal_verify};
    double sr[2], vr[3];
    measure(sign_fns, 2, ops, runs, sr);
    measure(verify_fns, 3, ops, runs, vr);
    double ls = sr[0], ws = sr[1], lvp = vr[0], lvn = vr[1], wv = vr[2];
    printf("%-44s %10.0f /s\n", "sign   libsecp256k1 schnorrsig_sign32", ls);
    printf("%-44s %10.0f /s  (%.1f%% of library)\n", "sign   wallet_sign", ws, 100.0 * ws / ls);
    printf("%-44s %10.0f /s\n", "verify libsecp256k1 xonly_parse + verify", lvp);
    printf("%-44s %10.0f /s\n", "verify libsecp256k1 verify (pre-parsed key)", lvn);
    printf("%-44s %10.0f /s  (%.1f%% of library parse+verify, %.1f%% of pre-parsed)\n",
           "verify wallet_verify", wv, 100.0 * wv / lvp, 100.0 * wv / lvn);

    /* batch verification */
    for (int i = 0; i < NB; i++) {
        uint8_t bseed[32], bid[32];
        memset(bseed, 0, sizeof bseed);
        aria_store_u64le(bseed, (uint64_t)i + 1000);
        if (wallet_from_seed(bseed, &bw[i]) != 0)
            return 1;
        wallet_account_id(bw[i], bid);
        if (wallet_pubkey_parse(bid, &bpk[i]) != 0)
            return 1;
    }
    static const int key_counts[] = {1, 16, NB};
    static const size_t sizes[] = {1, 16, 64, 256, 1024};
    printf("\nbatch verify (wallet_verify_batch) vs one by one (wallet_verify_parsed), "
           "signatures per CPU-second\n");
    printf("%-10s %8s %12s %12s %8s\n", "keys", "batch", "one by one", "batched", "speedup");
    for (size_t kc = 0; kc < ARIA_ARRAY_LEN(key_counts); kc++) {
        if (batch_setup(key_counts[kc]) != 0)
            return 1;
        for (size_t si = 0; si < ARIA_ARRAY_LEN(sizes); si++) {
            bsize = sizes[si];
            int bops = ops < (int)bsize ? (int)bsize : ops;
            static void (*const bfns[])(int) = {single_verify, batch_verify};
            double br[2];
            measure(bfns, 2, bops, runs, br);
            char kname[16];
            aria_snprintf(kname, sizeof kname, "%d%s", key_counts[kc],
                          key_counts[kc] == NB ? " (all)" : "");
            printf("%-10s %8zu %12.0f %12.0f %7.2fx\n", kname, bsize, br[0], br[1], br[1] / br[0]);
            fflush(stdout);
        }
    }
    for (int i = 0; i < NB; i++)
        wallet_free(bw[i]);
    wallet_free(w);
    secp256k1_context_destroy(ctx);
    return 0;
}
