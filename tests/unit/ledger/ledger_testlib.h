/*
 * ledger_testlib.h — shared by the ledger tests, benchmarks and the crash
 * test: a deterministic world of wallets with a genesis file, entry builders,
 * a random valid-history generator (transfers, job payments with receipts,
 * receives, forks), a seeded PRNG and scratch directories.
 */
#ifndef ARIA_LEDGER_TESTLIB_H
#define ARIA_LEDGER_TESTLIB_H
#include "ledger.h"

#define TL_MAX_ACCTS 64

typedef struct tl_rng {
    uint64_t s;
} tl_rng;
uint64_t tl_next(tl_rng *r);
uint64_t tl_below(tl_rng *r, uint64_t n); /* n > 0 */

typedef struct tl_world {
    size_t n;
    wallet *w[TL_MAX_ACCTS];
    uint8_t id[TL_MAX_ACCTS][32];
    uint64_t alloc[TL_MAX_ACCTS]; /* 0 = no allocation */
    ledger_genesis *g;
} tl_world;

/* n wallets from fixed seeds; the first n_funded get `amount` each. */
void tl_world_init(tl_world *w, size_t n, size_t n_funded, uint64_t amount);
void tl_world_fini(tl_world *w);

/* Build, sign and return one entry's bytes (owned, aria_free). */
typedef struct tl_bytes {
    uint8_t *p;
    size_t n;
    uint8_t id[32];
} tl_bytes;
tl_bytes tl_sign(const tl_world *w, size_t who, ledger_entry *e);
tl_bytes tl_genesis_entry(const tl_world *w, size_t who, uint64_t amount);
tl_bytes tl_send(const tl_world *w, size_t who, uint64_t seq, const uint8_t prev[32], size_t to,
                 uint64_t amount, bool receipt, uint64_t job);
tl_bytes tl_receive(const tl_world *w, size_t who, uint64_t seq, const uint8_t prev[32],
                    const uint8_t (*srcs)[32], size_t n);

/* A random history. Every entry is valid against its own prefix, except
 * the witnesses below;
 * with fork_pct > 0 some accounts sign two entries at one seq (the second
 * branch's sends may be received by others) and, at half that rate, a signed
 * overspend at their next seq (a fork witness). */
typedef struct tl_history {
    size_t n;
    tl_bytes *e;
    bool has_fork;
    bool has_witness; /* contains a signed overspend (a fork witness) */
    /* Model state without forks (meaningful when !has_fork). */
    uint64_t balance[TL_MAX_ACCTS];
    uint64_t len[TL_MAX_ACCTS];
} tl_history;
extern unsigned tl_receipt_pct; /* share of sends that carry a job receipt; default 33 */
void tl_history_gen(const tl_world *w, tl_rng *r, size_t steps, unsigned fork_pct, tl_history *h);
void tl_history_free(tl_history *h);
void tl_shuffle(tl_rng *r, size_t *idx, size_t n);

/* Scratch directory (prefers /dev/shm); tl_rmdir removes data/lock files. */
void tl_tmpdir(char *out, size_t size, const char *tag);
void tl_rmdir(const char *dir);

/* Options for tests: manual clock, large hold, no expiry. */
void tl_options(ledger_options *o, aria_clock_manual *clk);

/* Supply conserved and every balance within the supply; returns 0 or a
 * description in msg. */
int tl_check_invariants(ledger *l, char *msg, size_t msg_size);

typedef struct tl_prop_stats {
    uint64_t histories, forked, entries, applies, forks, verified;
} tl_prop_stats;
/* Generate `histories` random histories and apply each in `orders` orders
 * (the first in generation order, the rest shuffled) into fresh ledgers:
 * identical state hashes, conserved supply and sane balances (after every
 * step with check_each_step), model balances for fork-free histories, and
 * ledger_verify on every 16th. 0, or -1 with msg. */
int tl_property_run(const tl_world *w, uint64_t seed, size_t histories, size_t steps, size_t orders,
                    bool check_each_step, tl_prop_stats *st, char *msg, size_t msg_size);

typedef struct tl_crash_stats {
    uint64_t iterations, killed, acked, checked, epochs;
} tl_crash_stats;
/* A child process applies a random valid history (pool_steps steps) in random
 * batches to a ledger in $TMPDIR (default durable mode) and reports every
 * committed entry on a pipe; the parent SIGKILLs it after a random 0-25 ms,
 * then opens the ledger, runs ledger_verify (supply included) and checks that
 * every acknowledged applied entry is present. Runs until `kills` SIGKILLs
 * (children that finish first do not count; at most 3 * kills rounds); the next child
 * continues after the acknowledged prefix; an exhausted pool starts a fresh
 * ledger. 0, or -1 with msg. */
int tl_crash_run(const tl_world *w, uint64_t seed, size_t kills, size_t pool_steps,
                 tl_crash_stats *st, char *msg, size_t msg_size);

#endif
