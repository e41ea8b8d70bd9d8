/*
 * ledger_testlib.c — see ledger_testlib.h. Deterministic: the same seed gives
 * the same world and the same histories.
 */
#include "ledger_testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t
tl_next(tl_rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t
tl_below(tl_rng *r, uint64_t n)
{
    return tl_next(r) % n;
}

void
tl_world_init(tl_world *w, size_t n, size_t n_funded, uint64_t amount)
{
    ARIA_ASSERT(n <= TL_MAX_ACCTS);
    memset(w, 0, sizeof *w);
    w->n = n;
    aria_buf b;
    aria_buf_init(&b, 0);
    aria_buf_printf(&b, "{\"name\": \"ledger-test\", \"timestamp_ms\": 1764000000000,\n"
                        " \"allocations\": [");
    for (size_t i = 0; i < n; i++) {
        uint8_t seed[32];
        memset(seed, (int)(i + 1), sizeof seed);
        ARIA_ASSERT(wallet_from_seed(seed, &w->w[i]) == 0);
        wallet_account_id(w->w[i], w->id[i]);
        if (i < n_funded) {
            char hex[65];
            aria_hex_encode(hex, sizeof hex, w->id[i], 32);
            w->alloc[i] = amount;
            aria_buf_printf(&b, "%s\n  {\"account\": \"%s\", \"amount\": %llu}", i ? "," : "", hex,
                            (unsigned long long)amount);
        }
    }
    aria_buf_printf(&b, "]}\n");
    ARIA_ASSERT(b.err == 0);
    ARIA_ASSERT(ledger_genesis_parse(b.data, b.len, &w->g) == 0);
    aria_buf_fini(&b);
}

void
tl_world_fini(tl_world *w)
{
    for (size_t i = 0; i < w->n; i++)
        wallet_free(w->w[i]);
    ledger_genesis_free(w->g);
}

tl_bytes
tl_sign(const tl_world *w, size_t who, ledger_entry *e)
{
    aria_buf b;
    aria_buf_init(&b, 0);
    tl_bytes out;
    memcpy(e->network, w->g->network_id, 32);
    ARIA_ASSERT(ledger_entry_sign(e, w->w[who], &b, out.id) == 0);
    ARIA_ASSERT(aria_buf_take(&b, &out.p, &out.n) == 0);
    return out;
}

tl_bytes
tl_genesis_entry(const tl_world *w, size_t who, uint64_t amount)
{
    ledger_entry e;
    memset(&e, 0, sizeof e);
    e.kind = LEDGER_KIND_GENESIS;
    e.amount = amount;
    e.created_ms = 1764000000000ull;
    return tl_sign(w, who, &e);
}

tl_bytes
tl_send(const tl_world *w, size_t who, uint64_t seq, const uint8_t prev[32], size_t to,
        uint64_t amount, bool receipt, uint64_t job)
{
    ledger_entry e;
    memset(&e, 0, sizeof e);
    e.kind = LEDGER_KIND_SEND;
    e.seq = seq;
    if (seq)
        memcpy(e.prev, prev, 32);
    e.amount = amount;
    static uint64_t nonce;
    e.created_ms = 1764000000000ull + seq * 1000 + (nonce++ % 1000); /* distinct branches */
    memcpy(e.to, w->id[to], 32);
    if (receipt) {
        e.has_receipt = true;
        memset(e.receipt.job_id, 0, 32);
        aria_store_u64le(e.receipt.job_id, job);
        aria_snprintf(e.receipt.model_id, sizeof e.receipt.model_id, "bitnet-b1.58-2B-4T");
        e.receipt.tokens_in = 100 + job % 50;
        e.receipt.tokens_out = 32 + job % 64;
        wallet_hash(e.receipt.output_hash, &job, sizeof job);
        memcpy(e.network, w->g->network_id, 32);
        ARIA_ASSERT(ledger_receipt_sign(w->g->network_id, &e.receipt, w->w[to]) == 0);
    }
    return tl_sign(w, who, &e);
}

static int
cmp32(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

tl_bytes
tl_receive(const tl_world *w, size_t who, uint64_t seq, const uint8_t prev[32],
           const uint8_t (*srcs)[32], size_t n)
{
    ledger_entry e;
    memset(&e, 0, sizeof e);
    e.kind = LEDGER_KIND_RECEIVE;
    e.seq = seq;
    if (seq)
        memcpy(e.prev, prev, 32);
    e.created_ms = 1764000000000ull + seq;
    ARIA_ASSERT(n <= LEDGER_MAX_SOURCES);
    memcpy(e.sources, srcs, n * 32);
    qsort(e.sources, n, 32, cmp32);
    e.n_sources = (uint32_t)n;
    return tl_sign(w, who, &e);
}

unsigned tl_receipt_pct = 33;

typedef struct pend {
    uint8_t id[32];
    size_t to;
    uint64_t amount;
} pend;

static void
push(tl_history *h, size_t *cap, tl_bytes b)
{
    if (h->n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        h->e = aria_realloc(h->e, *cap * sizeof *h->e);
        ARIA_ASSERT(h->e);
    }
    h->e[h->n++] = b;
}

void
tl_history_gen(const tl_world *w, tl_rng *r, size_t steps, unsigned fork_pct, tl_history *h)
{
    memset(h, 0, sizeof *h);
    size_t cap = 0;
    uint8_t head[TL_MAX_ACCTS][32];
    bool forked[TL_MAX_ACCTS] = {false};
    pend *p = NULL;
    size_t np = 0, pcap = 0;
    static uint64_t job = 1;
    for (size_t i = 0; i < w->n; i++)
        if (w->alloc[i] && tl_below(r, 4) != 0) {
            tl_bytes b = tl_genesis_entry(w, i, w->alloc[i]);
            memcpy(head[i], b.id, 32);
            h->len[i] = 1;
            h->balance[i] = w->alloc[i];
            push(h, &cap, b);
        }
    for (size_t s = 0; s < steps; s++) {
        size_t a = (size_t)tl_below(r, w->n);
        uint64_t roll = tl_below(r, 100);
        if (roll < (uint64_t)fork_pct && !forked[a] && h->balance[a] >= 2) {
            /* Fork: a branch send to one account, the main branch continues. */
            size_t to = (a + 1 + (size_t)tl_below(r, w->n - 1)) % w->n;
            uint64_t amt = 1 + tl_below(r, h->balance[a]);
            tl_bytes b = tl_send(w, a, h->len[a], head[a], to, amt, false, 0);
            if (np == pcap) {
                pcap = pcap ? pcap * 2 : 32;
                p = aria_realloc(p, pcap * sizeof *p);
            }
            memcpy(p[np].id, b.id, 32);
            p[np].to = to;
            p[np].amount = amt;
            np++;
            push(h, &cap, b);
            forked[a] = true;
            h->has_fork = true;
            /* fall through to a main-branch action at the same seq */
            roll = 100;
        }
        if (roll >= 100 - (uint64_t)fork_pct / 2 && !forked[a]) {
            /* A signed but invalid entry (overspend) at a's next position: a
             * fork witness; a's next entry at that position is a fork. */
            size_t to = (a + 1 + (size_t)tl_below(r, w->n - 1)) % w->n;
            push(h, &cap, tl_send(w, a, h->len[a], head[a], to, h->balance[a] + 1, false, 0));
            forked[a] = true;
            h->has_fork = true;
            h->has_witness = true;
            roll = 100;
        }
        if (roll < 55 && h->balance[a] > 0) {
            size_t to = (a + 1 + (size_t)tl_below(r, w->n - 1)) % w->n;
            uint64_t amt = 1 + tl_below(r, h->balance[a] < 1000 ? h->balance[a] : 1000);
            bool receipt = tl_below(r, 100) < tl_receipt_pct;
            tl_bytes b = tl_send(w, a, h->len[a], head[a], to, amt, receipt, job++);
            memcpy(head[a], b.id, 32);
            h->len[a]++;
            h->balance[a] -= amt;
            if (np == pcap) {
                pcap = pcap ? pcap * 2 : 32;
                p = aria_realloc(p, pcap * sizeof *p);
            }
            memcpy(p[np].id, b.id, 32);
            p[np].to = to;
            p[np].amount = amt;
            np++;
            push(h, &cap, b);
        } else {
            /* Receive up to 3 pending sends to a. */
            uint8_t srcs[3][32];
            size_t ns = 0;
            for (size_t i = 0; i < np && ns < 3;) {
                if (p[i].to == a && tl_below(r, 3) != 0) {
                    memcpy(srcs[ns++], p[i].id, 32);
                    h->balance[a] += p[i].amount;
                    p[i] = p[--np];
                } else {
                    i++;
                }
            }
            if (ns == 0)
                continue;
            tl_bytes b = tl_receive(w, a, h->len[a], head[a], (const uint8_t(*)[32])srcs, ns);
            memcpy(head[a], b.id, 32);
            h->len[a]++;
            push(h, &cap, b);
        }
    }
    aria_free(p);
}

void
tl_history_free(tl_history *h)
{
    for (size_t i = 0; i < h->n; i++)
        aria_free(h->e[i].p);
    aria_free(h->e);
    memset(h, 0, sizeof *h);
}

void
tl_shuffle(tl_rng *r, size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)tl_below(r, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

void
tl_tmpdir(char *out, size_t size, const char *tag)
{
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : NULL;
    if (!base) {
        base = getenv("TMPDIR");
        if (!base || !*base)
            base = "/tmp";
    }
    aria_snprintf(out, size, "%s/aria-%s-XXXXXX", base, tag);
    ARIA_ASSERT(mkdtemp(out) != NULL);
}

void
tl_rmdir(const char *dir)
{
    char p[4200];
    aria_snprintf(p, sizeof p, "%s/data.mdb", dir);
    unlink(p);
    aria_snprintf(p, sizeof p, "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

void
tl_options(ledger_options *o, aria_clock_manual *clk)
{
    ledger_options_default(o);
    aria_clock_manual_init(clk, 1000, 1764000000000ull);
    o->clock = &clk->clock;
    o->hold_max = 100000;
    o->hold_ttl_ms = UINT64_MAX / 4;
    o->map_size_bytes = (size_t)64 << 20;
}

typedef struct inv {
    uint64_t total;
    int bad;
    char *msg;
    size_t msg_size;
} inv;

static int
inv_acct(void *ctx, const ledger_account_info *a)
{
    inv *v = ctx;
    if (a->balance > v->total || a->available + a->pending != a->balance ||
        a->live_len > a->chain_len) {
        v->bad = 1;
        aria_snprintf(v->msg, v->msg_size,
                      "account balance %llu (avail %llu pending %llu) live %llu "
                      "chain %llu",
                      (unsigned long long)a->balance, (unsigned long long)a->available,
                      (unsigned long long)a->pending, (unsigned long long)a->live_len,
                      (unsigned long long)a->chain_len);
        return 1;
    }
    return 0;
}

int
tl_check_invariants(ledger *l, char *msg, size_t msg_size)
{
    ledger_supply s;
    if (ledger_supply_get(l, &s) != 0) {
        aria_snprintf(msg, msg_size, "supply: %s", aria_err_msg());
        return -1;
    }
    if (s.balances + s.in_flight + s.unclaimed != s.genesis_total) {
        aria_snprintf(msg, msg_size, "supply not conserved: %llu + %llu + %llu != %llu",
                      (unsigned long long)s.balances, (unsigned long long)s.in_flight,
                      (unsigned long long)s.unclaimed, (unsigned long long)s.genesis_total);
        return -1;
    }
    inv v = {s.genesis_total, 0, msg, msg_size};
    int rc = ledger_accounts(l, inv_acct, &v);
    if (rc < 0) {
        aria_snprintf(msg, msg_size, "accounts: %s", aria_err_msg());
        return -1;
    }
    return v.bad ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Property run                                                         */
/* ------------------------------------------------------------------ */

typedef struct bal_ctx {
    const tl_world *w;
    const tl_history *h;
    int bad;
    char *msg;
    size_t msg_size;
} bal_ctx;

static int
model_check(void *ctx, const ledger_account_info *a)
{
    bal_ctx *c = ctx;
    for (size_t i = 0; i < c->w->n; i++) {
        if (memcmp(c->w->id[i], a->account, 32) != 0)
            continue;
        if (a->balance != c->h->balance[i] || a->live_len != c->h->len[i]) {
            c->bad = 1;
            aria_snprintf(c->msg, c->msg_size,
                          "account %zu: ledger balance %llu len %llu, model %llu len %llu", i,
                          (unsigned long long)a->balance, (unsigned long long)a->live_len,
                          (unsigned long long)c->h->balance[i], (unsigned long long)c->h->len[i]);
            return 1;
        }
    }
    return 0;
}

static int
dump_acct(void *ctx, const ledger_account_info *a)
{
    const tl_world *w = ctx;
    size_t who = 99;
    for (size_t i = 0; i < w->n; i++)
        if (memcmp(w->id[i], a->account, 32) == 0)
            who = i;
    fprintf(stderr, "  acct %zu chain %llu live %llu frozen %lld balance %llu\n", who,
            (unsigned long long)a->chain_len, (unsigned long long)a->live_len,
            (long long)a->frozen_seq, (unsigned long long)a->balance);
    return 0;
}

int
tl_property_run(const tl_world *w, uint64_t seed, size_t histories, size_t steps, size_t orders,
                bool check_each_step, tl_prop_stats *st, char *msg, size_t msg_size)
{
    tl_rng r = {seed};
    char dir[256];
    tl_tmpdir(dir, sizeof dir, "prop");
    memset(st, 0, sizeof *st);
    int fail = 0;
    for (size_t hi = 0; hi < histories && !fail; hi++) {
        tl_history h;
        tl_history_gen(w, &r, steps, 8, &h);
        size_t *idx = aria_alloc_array(h.n, sizeof *idx);
        uint8_t first_hash[32];
        st->histories++;
        st->forked += h.has_fork;
        for (size_t o = 0; o < orders && !fail; o++) {
            for (size_t i = 0; i < h.n; i++)
                idx[i] = i;
            if (o > 0)
                tl_shuffle(&r, idx, h.n);
            ledger_options opt;
            aria_clock_manual clk;
            tl_options(&opt, &clk);
            ledger *l;
            if (ledger_open(dir, w->g, &opt, &l) != 0) {
                aria_snprintf(msg, msg_size, "open: %s", aria_err_msg());
                fail = 1;
                break;
            }
            for (size_t k = 0; k < h.n && !fail; k++) {
                ledger_result res;
                int rc = ledger_apply(l, h.e[idx[k]].p, h.e[idx[k]].n, &res);
                st->applies++;
                bool ok =
                    res.reason == LEDGER_APPLIED || res.reason == LEDGER_HELD ||
                    (h.has_fork && (res.reason == LEDGER_FORK || res.reason == LEDGER_FROZEN ||
                                    res.reason == LEDGER_BAD_PREV)) ||
                    (h.has_witness && res.reason == LEDGER_OVERSPEND);
                if (!ok || rc != ledger_reason_error(res.reason)) {
                    aria_snprintf(msg, msg_size, "history %zu order %zu entry %zu: %s (%s)", hi, o,
                                  idx[k], ledger_reason_name(res.reason), aria_err_msg());
                    fail = 1;
                }
                st->forks += res.reason == LEDGER_FORK;
                if (!fail && (check_each_step || k + 1 == h.n))
                    fail = tl_check_invariants(l, msg, msg_size) != 0;
            }
            uint8_t hash[32];
            if (!fail && ledger_state_hash(l, hash) != 0) {
                aria_snprintf(msg, msg_size, "state hash: %s", aria_err_msg());
                fail = 1;
            }
            if (getenv("TL_DUMP")) {
                fprintf(stderr, "history %zu order %zu:\n", hi, o);
                if (ledger_accounts(l, dump_acct, (void *)w) < 0)
                    fprintf(stderr, "dump failed\n");
            }
            if (!fail && o == 0)
                memcpy(first_hash, hash, 32);
            if (!fail && o > 0 && memcmp(hash, first_hash, 32) != 0) {
                aria_snprintf(msg, msg_size, "history %zu: order %zu gives a different state hash",
                              hi, o);
                fail = 1;
            }
            if (!fail && !h.has_fork) {
                bal_ctx c = {w, &h, 0, msg, msg_size};
                if (ledger_accounts(l, model_check, &c) != 0 || c.bad)
                    fail = 1;
                if (!fail && ledger_hold_count(l) != 0) {
                    aria_snprintf(msg, msg_size, "history %zu: %zu entries still held", hi,
                                  ledger_hold_count(l));
                    fail = 1;
                }
            }
            if (!fail && o + 1 == orders && hi % 16 == 0) {
                ledger_verify_report rep;
                if (ledger_verify(l, &rep) != 0) {
                    aria_snprintf(msg, msg_size, "history %zu: verify: %s", hi, aria_err_msg());
                    fail = 1;
                }
                st->verified++;
            }
            ledger_close(l);
            tl_rmdir(dir);
            ARIA_ASSERT(mkdir(dir, 0700) == 0);
        }
        aria_free(idx);
        st->entries += h.n;
        tl_history_free(&h);
    }
    tl_rmdir(dir);
    return fail ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Crash run                                                            */
/* ------------------------------------------------------------------ */

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

/* The child: open, apply pool[from..] in random batches, and after each
 * commit report "index, reason" (5 bytes) per entry on fd. Never returns. */
static _Noreturn void
crash_child(const char *dir, const tl_world *w, const tl_history *pool, size_t from, uint64_t seed,
            int fd)
{
    ledger_options o;
    ledger_options_default(&o);
    o.hold_max = 100000;
    o.map_size_bytes = (size_t)64 << 20;
    ledger *l;
    if (ledger_open(dir, w->g, &o, &l) != 0)
        _exit(3);
    tl_rng r = {seed};
    size_t i = from;
    while (i < pool->n) {
        size_t n = 1 + (size_t)tl_below(&r, 16);
        if (n > pool->n - i)
            n = pool->n - i;
        const uint8_t *p[16];
        size_t len[16];
        ledger_result res[16];
        for (size_t k = 0; k < n; k++) {
            p[k] = pool->e[i + k].p;
            len[k] = pool->e[i + k].n;
        }
        if (ledger_apply_batch(l, p, len, n, res) != 0)
            _exit(4);
        uint8_t msg[16 * 5];
        for (size_t k = 0; k < n; k++) {
            aria_store_u32le(msg + 5 * k, (uint32_t)(i + k));
            msg[5 * k + 4] = (uint8_t)res[k].reason;
        }
        size_t off = 0;
        while (off < 5 * n) {
            ssize_t wr = write(fd, msg + off, 5 * n - off);
            if (wr < 0 && errno == EINTR)
                continue;
            if (wr <= 0)
                _exit(5);
            off += (size_t)wr;
        }
        i += n;
    }
    ledger_close(l);
    _exit(0);
}

/* Name of a DIR/.create-* entry, or NULL (static buffer). */
static const char *
stale_create_entry(const char *dir)
{
    static char name[256];
    const char *found = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && !found) {
        if (strncmp(de->d_name, ".create-", 8) == 0) {
            aria_snprintf(name, sizeof name, "%s", de->d_name);
            found = name;
        }
    }
    closedir(d);
    return found;
}

int
tl_crash_run(const tl_world *w, uint64_t seed, size_t kills, size_t pool_steps, tl_crash_stats *st,
             char *msg, size_t msg_size)
{
    memset(st, 0, sizeof *st);
    tl_rng r = {seed};
    char dir[256];
    const char *base = getenv("TMPDIR");
    aria_snprintf(dir, sizeof dir, "%s/aria-crash-XXXXXX", base && *base ? base : "/tmp");
    ARIA_ASSERT(mkdtemp(dir) != NULL);
    tl_history pool;
    tl_history_gen(w, &r, pool_steps, 4, &pool);
    uint8_t *reason = aria_alloc(pool.n); /* 0xff = not acknowledged yet */
    memset(reason, 0xff, pool.n);
    size_t cursor = 0;
    int fail = 0;
    /* Count SIGKILLs, not rounds: a child that finishes its pool first is not a kill. */
    for (size_t kill_i = 0; st->killed < kills && kill_i < 3 * kills && !fail; kill_i++) {
        if (cursor >= pool.n) {
            /* pool exhausted: start a fresh ledger so verify stays cheap */
            tl_rmdir(dir);
            ARIA_ASSERT(mkdir(dir, 0700) == 0);
            memset(reason, 0xff, pool.n);
            cursor = 0;
            st->epochs++;
        }
        int fds[2];
        ARIA_ASSERT(pipe(fds) == 0);
        uint64_t child_seed = tl_next(&r);
        pid_t pid = fork();
        ARIA_ASSERT(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            crash_child(dir, w, &pool, cursor, child_seed, fds[1]);
        }
        close(fds[1]);
        /* One round in eight kills at once (open, first batch); the others
         * wait for the first commit so that the kill lands while writing. */
        if (tl_below(&r, 8) == 0) {
            usleep((useconds_t)tl_below(&r, 5000));
        } else {
            struct pollfd pfd = {fds[0], POLLIN, 0};
            (void)poll(&pfd, 1, 5000);
            usleep((useconds_t)tl_below(&r, 20000));
        }
        kill(pid, SIGKILL);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (WIFSIGNALED(status))
            st->killed++;
        else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            aria_snprintf(msg, msg_size, "kill %zu: child exited with %d", kill_i,
                          WEXITSTATUS(status));
            fail = 1;
        }
        uint8_t rec5[5];
        size_t got = 0;
        for (;;) {
            ssize_t n = read(fds[0], rec5 + got, 5 - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
            if (got == 5) {
                uint32_t idx = aria_load_u32le(rec5);
                if (idx < pool.n) {
                    reason[idx] = rec5[4];
                    st->acked++;
                }
                got = 0;
            }
        }
        close(fds[0]);
        while (cursor < pool.n && reason[cursor] != 0xff)
            cursor++;
        /* After the kill: opens, verify passes, supply conserved, acked present. */
        ledger_options o;
        ledger_options_default(&o);
        o.hold_max = 100000;
        o.map_size_bytes = (size_t)64 << 20;
        ledger *l;
        if (!fail && ledger_open(dir, w->g, &o, &l) != 0) {
            aria_snprintf(msg, msg_size, "kill %zu: open failed: %s", kill_i, aria_err_msg());
            fail = 1;
            break;
        }
        if (fail)
            break;
        /* The killed writer may have died between its link() and removing
         * DIR/.create-PID; the open above must have cleared that. */
        const char *stale = stale_create_entry(dir);
        if (stale) {
            aria_snprintf(msg, msg_size, "kill %zu: %s left in %s after open", kill_i, stale, dir);
            fail = 1;
        }
        ledger_verify_report rep;
        if (ledger_verify(l, &rep) != 0) {
            aria_snprintf(msg, msg_size, "kill %zu: verify failed: %s", kill_i, aria_err_msg());
            fail = 1;
        }
        if (!fail && !rep.supply_ok) {
            aria_snprintf(msg, msg_size, "kill %zu: supply not conserved", kill_i);
            fail = 1;
        }
        for (size_t i = 0; i < pool.n && !fail; i++) {
            if (reason[i] != LEDGER_APPLIED)
                continue;
            ledger_entry e;
            ledger_entry_info info;
            if (ledger_entry_get(l, pool.e[i].id, &e, &info) != 0 || !info.in_chain) {
                aria_snprintf(msg, msg_size, "kill %zu: acknowledged entry %zu is missing", kill_i,
                              i);
                fail = 1;
            }
            st->checked++;
        }
        ledger_close(l);
        st->iterations++;
    }
    tl_rmdir(dir);
    aria_free(reason);
    tl_history_free(&pool);
    return fail ? -1 : 0;
}
