/*
 * ledger.c — the ledger state in LMDB: opening, atomic application of
 * entries, out-of-order holding, fork proofs and voiding, queries, state hash.
 * The rules implemented here are written down in docs/ledger.md; the two must
 * agree.
 *
 * Invariants:
 *  - Every stored entry is valid: it passed decoding, its signatures, and the
 *    rules for its kind against its own chain prefix and the sends it names.
 *    Validity never changes afterwards; forks only change liveness.
 *  - live_len of an account only decreases (voids are permanent), and an entry
 *    is live iff its seq < live_len of its account and it is in the chain.
 *  - All writes of one apply call happen in one LMDB write transaction; on any
 *    LMDB error the transaction is aborted and the in-memory hold is restored
 *    from its snapshot, so memory and disk never disagree.
 *  - LMDB is opened in its default durable mode (no NOSYNC, no WRITEMAP).
 *
 * Database layout (all integers little-endian unless noted):
 *   meta     "network_id" -> 32 bytes; "genesis" -> genesis file bytes;
 *            "format" -> u32 1
 *   alloc    account -> u64 amount (from the genesis file)
 *   entries  id -> where(u8: 1 chain, 2 fork branch) applied_ms(u64)
 *               balance_after(u64) signed entry bytes
 *   chain    account || seq (u64 big-endian, so keys sort by seq) -> id
 *   acct     account -> head(32) live_head(32) chain_len live_len frozen
 *               head_balance live_balance (u64 each)
 *   recv     send id -> receiving account(32) || seq(u64)
 *   forks    account || seq (u64 big-endian) -> u32 len_a, entry a, entry b (the first
 *            two distinct signed entries seen at that position)
 *   witness  account || seq (u64 big-endian) -> id(32) || entry bytes: the first
 *            signed entry rejected at the chain's next position (a fork witness)
 *   rjob, rprov, rreq (dupsort) job id / provider / requester -> entry id
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger_int.h"

#define WHERE_CHAIN 1
#define WHERE_FORK  2
#define REC_HDR     17 /* where + applied_ms + balance_after */
#define ACCT_BYTES  104

typedef struct held {
    uint8_t id[32];
    uint8_t account[32];
    uint64_t seq;
    bool gap;            /* waiting for the chain to reach seq (waiting = prev) */
    uint8_t waiting[32]; /* gap: the prev id; else the missing source id */
    uint64_t expires_ms;
    bool in_hold;
    uint32_t len;
    uint8_t bytes[];
} held;

typedef struct ptrvec {
    held **v;
    size_t n, cap;
} ptrvec;

struct ledger {
    MDB_env *env;
    MDB_dbi meta, alloc, entries, chain, acct, recv, forks, witness, rjob, rprov, rreq;
    ledger_options opt;
    uint8_t network[32];
    uint64_t genesis_total;
    ledger_genesis *genesis; /* parsed copy of the stored genesis file */
    ptrvec hold;             /* entries waiting for a predecessor or a source */
    ptrvec snap;             /* hold at the start of the current write txn */
    ptrvec added;            /* held items created during the current write txn */
    uint64_t last_expire_ms;
    ledger_pk_cache *pkc; /* parsed public keys of accounts seen (signature checks) */
};

typedef struct acct_rec {
    uint8_t head[32], live_head[32];
    uint64_t chain_len, live_len, frozen, head_balance, live_balance;
} acct_rec;

const char *
ledger_backend_version(void)
{
    return mdb_version(NULL, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

static int
mdb_err(int rc, const char *what)
{
    ARIA_LOG_D("L0001", "ledger", "lmdb: %s: %s (%d)", what, mdb_strerror(rc), rc);
    switch (rc) {
    case MDB_MAP_FULL:
        return aria_errf(ARIA_EFULL,
                         "ledger: the LMDB map is full while %s; nothing of this call was "
                         "applied; raise the map size (ledger map_size / --map-size) and retry",
                         what);
    case MDB_TXN_FULL:
        return aria_errf(ARIA_EFULL, "ledger: transaction too large while %s; use smaller batches",
                         what);
    case MDB_NOTFOUND: return aria_errf(ARIA_ENOTFOUND, "ledger: not found (%s)", what);
    case ENOMEM: return aria_errf(ARIA_ENOMEM, "ledger: out of memory while %s", what);
    default: return aria_errf(ARIA_EIO, "ledger: LMDB error while %s: %s", what, mdb_strerror(rc));
    }
}

static void
store_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t
load_u64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void
seq_key(uint8_t key[40], const uint8_t account[32], uint64_t seq)
{
    memcpy(key, account, 32);
    store_u64be(key + 32, seq);
}

static uint64_t
now_ms(const ledger *l)
{
    return aria_clock_wall_ms(l->opt.clock);
}

static int
get(MDB_txn *t, MDB_dbi d, const void *k, size_t kn, MDB_val *v)
{
    MDB_val key = {kn, (void *)k};
    return mdb_get(t, d, &key, v);
}

static int
put(MDB_txn *t, MDB_dbi d, const void *k, size_t kn, const void *v, size_t vn, unsigned flags)
{
    MDB_val key = {kn, (void *)k}, val = {vn, (void *)v};
    return mdb_put(t, d, &key, &val, flags);
}

static void
acct_decode(const MDB_val *v, acct_rec *a)
{
    const uint8_t *p = v->mv_data;
    memcpy(a->head, p, 32);
    memcpy(a->live_head, p + 32, 32);
    a->chain_len = aria_load_u64le(p + 64);
    a->live_len = aria_load_u64le(p + 72);
    a->frozen = aria_load_u64le(p + 80);
    a->head_balance = aria_load_u64le(p + 88);
    a->live_balance = aria_load_u64le(p + 96);
}

/* 0 with zeros for an unknown account; MDB error otherwise. */
static int
acct_load(ledger *l, MDB_txn *t, const uint8_t account[32], acct_rec *a)
{
    MDB_val v;
    int rc = get(t, l->acct, account, 32, &v);
    if (rc == MDB_NOTFOUND) {
        memset(a, 0, sizeof *a);
        a->frozen = LEDGER_SEQ_NONE;
        return 0;
    }
    if (rc)
        return rc;
    if (v.mv_size != ACCT_BYTES)
        return MDB_CORRUPTED;
    acct_decode(&v, a);
    return 0;
}

static int
acct_save(ledger *l, MDB_txn *t, const uint8_t account[32], const acct_rec *a)
{
    uint8_t p[ACCT_BYTES];
    memcpy(p, a->head, 32);
    memcpy(p + 32, a->live_head, 32);
    aria_store_u64le(p + 64, a->chain_len);
    aria_store_u64le(p + 72, a->live_len);
    aria_store_u64le(p + 80, a->frozen);
    aria_store_u64le(p + 88, a->head_balance);
    aria_store_u64le(p + 96, a->live_balance);
    return put(t, l->acct, account, 32, p, sizeof p, 0);
}

/* A stored entry record. */
typedef struct rec {
    uint8_t where;
    uint64_t applied_ms, balance_after;
    const uint8_t *bytes;
    size_t len;
} rec;

static int
rec_get(ledger *l, MDB_txn *t, const uint8_t id[32], rec *r)
{
    MDB_val v;
    int rc = get(t, l->entries, id, 32, &v);
    if (rc)
        return rc;
    if (v.mv_size <= REC_HDR)
        return MDB_CORRUPTED;
    const uint8_t *p = v.mv_data;
    r->where = p[0];
    r->applied_ms = aria_load_u64le(p + 1);
    r->balance_after = aria_load_u64le(p + 9);
    r->bytes = p + REC_HDR;
    r->len = v.mv_size - REC_HDR;
    return 0;
}

static int
rec_put(ledger *l, MDB_txn *t, const uint8_t id[32], uint8_t where, uint64_t applied_ms,
        uint64_t balance_after, const uint8_t *bytes, size_t len)
{
    MDB_val key = {32, (void *)id}, val = {REC_HDR + len, NULL};
    int rc = mdb_put(t, l->entries, &key, &val, MDB_RESERVE);
    if (rc)
        return rc;
    uint8_t *p = val.mv_data;
    p[0] = where;
    aria_store_u64le(p + 1, applied_ms);
    aria_store_u64le(p + 9, balance_after);
    memcpy(p + REC_HDR, bytes, len);
    return 0;
}

/* Decode bytes that the ledger itself stored (checked when they were
 * stored, so the canonical re-encoding is skipped). */
static int
stored_decode(const rec *r, ledger_entry *e)
{
    int rc = ledger__decode_stored(r->bytes, r->len, e);
    if (rc)
        return MDB_CORRUPTED;
    return 0;
}

static int
chain_id(ledger *l, MDB_txn *t, const uint8_t account[32], uint64_t seq, uint8_t id[32])
{
    uint8_t key[40];
    seq_key(key, account, seq);
    MDB_val v;
    int rc = get(t, l->chain, key, 40, &v);
    if (rc)
        return rc;
    if (v.mv_size != 32)
        return MDB_CORRUPTED;
    memcpy(id, v.mv_data, 32);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reasons                                                              */
/* ------------------------------------------------------------------ */

const char *
ledger_reason_name(ledger_reason r)
{
    static const char *const names[] = {
        "applied",       "held",      "duplicate",     "fork",           "frozen",      "malformed",
        "oversize",      "bad-field", "wrong-network", "bad-signature",  "bad-receipt", "bad-prev",
        "no-allocation", "overspend", "not-recipient", "double-receive", "not-a-send",  "hold-full",
    };
    if ((unsigned)r < ARIA_ARRAY_LEN(names))
        return names[r];
    return "unknown";
}

int
ledger_reason_error(ledger_reason r)
{
    switch (r) {
    case LEDGER_APPLIED:
    case LEDGER_HELD: return 0;
    case LEDGER_DUPLICATE: return ARIA_EEXIST;
    case LEDGER_FORK:
    case LEDGER_FROZEN: return ARIA_ESTATE;
    case LEDGER_OVERSIZE: return ARIA_ERANGE;
    case LEDGER_BAD_SIGNATURE:
    case LEDGER_BAD_RECEIPT: return ARIA_ECRYPTO;
    case LEDGER_OVERSPEND: return ARIA_EFUNDS;
    case LEDGER_HOLD_FULL: return ARIA_EFULL;
    default: return ARIA_EPROTO;
    }
}

/* ------------------------------------------------------------------ */
/* Opening                                                              */
/* ------------------------------------------------------------------ */

void
ledger_options_default(ledger_options *o)
{
    memset(o, 0, sizeof *o);
    o->map_size_bytes = (size_t)256 << 20;
    o->settle_ms = 60000;
    o->hold_max = 4096;
    o->hold_ttl_ms = 600000;
    o->clock = NULL;
}

static int
open_dbis(ledger *l, MDB_txn *t)
{
    struct {
        const char *name;
        MDB_dbi *dbi;
        unsigned flags;
    } dbs[] = {
        {"meta", &l->meta, 0},
        {"alloc", &l->alloc, 0},
        {"entries", &l->entries, 0},
        {"chain", &l->chain, 0},
        {"acct", &l->acct, 0},
        {"recv", &l->recv, 0},
        {"forks", &l->forks, 0},
        {"witness", &l->witness, 0},
        {"rjob", &l->rjob, MDB_DUPSORT | MDB_DUPFIXED},
        {"rprov", &l->rprov, MDB_DUPSORT | MDB_DUPFIXED},
        {"rreq", &l->rreq, MDB_DUPSORT | MDB_DUPFIXED},
    };
    for (size_t i = 0; i < ARIA_ARRAY_LEN(dbs); i++) {
        int rc = mdb_dbi_open(t, dbs[i].name, dbs[i].flags | MDB_CREATE, dbs[i].dbi);
        if (rc)
            return rc;
    }
    return 0;
}

/* mkdir -p with mode 0700 for the parts that are missing. */
static int
mkdir_p(const char *dir)
{
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0)
            continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return -1;
        p[i] = c;
    }
    return 0;
}

static int ledger_open_env(const char *dir, const ledger_genesis *genesis, const ledger_options *o,
                           ledger **out);

/* Remove DIR/.create-PID left by a creator that died (they never held a
 * ledger anyone acknowledged anything from). Runs at every open, not only
 * when data.mdb is missing: a creator killed after its link() but before it
 * removed its directory leaves one next to a good data.mdb. A PID that is
 * still running (or is ours) may be creating right now and is left alone. */
static void
remove_stale_creates(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, ".create-", 8) != 0)
            continue;
        char *end = NULL;
        errno = 0;
        long pid = strtol(de->d_name + 8, &end, 10);
        if (errno == 0 && end && *end == '\0' && pid > 0 && pid <= INT_MAX &&
            (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno == EPERM))
            continue;
        char p[PATH_MAX];
        const char *files[] = {"data.mdb", "lock.mdb"};
        for (size_t i = 0; i < 2; i++) {
            aria_snprintf(p, sizeof p, "%s/%s/%s", dir, de->d_name, files[i]);
            (void)unlink(p);
        }
        aria_snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        (void)rmdir(p);
    }
    closedir(d);
}

/* A new ledger appears atomically: it is built and committed in
 * DIR/.create-PID, then its data file is hard-linked to DIR/data.mdb (link
 * fails if another creator won) and the directory synced. A writer killed
 * while creating leaves no half-made data.mdb behind (LMDB writes its meta
 * pages at creation, and a file cut short there does not open again). */
static int
create_atomically(const char *dir, const ledger_genesis *genesis, const ledger_options *o)
{
    char tmp[PATH_MAX], src[PATH_MAX], dst[PATH_MAX], lock[PATH_MAX];
    aria_snprintf(tmp, sizeof tmp, "%s/.create-%ld", dir, (long)getpid());
    aria_snprintf(src, sizeof src, "%s/data.mdb", tmp);
    aria_snprintf(lock, sizeof lock, "%s/lock.mdb", tmp);
    aria_snprintf(dst, sizeof dst, "%s/data.mdb", dir);
    (void)unlink(src);
    (void)unlink(lock);
    ledger *t = NULL;
    int rc = ledger_open_env(tmp, genesis, o, &t);
    ledger_close(t);
    if (!rc && link(src, dst) != 0 && errno != EEXIST)
        rc = aria_errf(ARIA_EIO, "ledger: cannot create %s: %s", dst, strerror(errno));
    if (!rc) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
            (void)fsync(fd);
            close(fd);
        }
    }
    (void)unlink(src);
    (void)unlink(lock);
    (void)rmdir(tmp);
    return rc;
}

int
ledger_open(const char *dir, const ledger_genesis *genesis, const ledger_options *o, ledger **out)
{
    *out = NULL;
    if (mkdir_p(dir) != 0)
        return aria_errf(ARIA_EIO, "ledger: cannot create directory %s: %s", dir, strerror(errno));
    char data[PATH_MAX];
    aria_snprintf(data, sizeof data, "%s/data.mdb", dir);
    remove_stale_creates(dir);
    struct stat st;
    if (stat(data, &st) != 0) {
        if (errno != ENOENT)
            return aria_errf(ARIA_EIO, "ledger: cannot read %s: %s", data, strerror(errno));
        if (!genesis)
            return aria_errf(ARIA_EINVAL,
                             "ledger: %s is not initialised; a genesis file is needed to create it",
                             dir);
        int rc = create_atomically(dir, genesis, o);
        if (rc)
            return rc;
    }
    return ledger_open_env(dir, genesis, o, out);
}

static int
ledger_open_env(const char *dir, const ledger_genesis *genesis, const ledger_options *o,
                ledger **out)
{
    *out = NULL;
    ledger *l = aria_calloc(1, sizeof *l);
    if (!l)
        return ARIA_ENOMEM;
    l->pkc = ledger__pk_cache_new();
    if (!l->pkc) {
        aria_free(l);
        return ARIA_ENOMEM;
    }
    if (o)
        l->opt = *o;
    else
        ledger_options_default(&l->opt);
    ledger_options def;
    ledger_options_default(&def);
    if (!l->opt.map_size_bytes)
        l->opt.map_size_bytes = def.map_size_bytes;
    if (!l->opt.hold_max)
        l->opt.hold_max = def.hold_max;
    if (!l->opt.hold_ttl_ms)
        l->opt.hold_ttl_ms = def.hold_ttl_ms;
    if (!l->opt.clock)
        l->opt.clock = aria_clock_system();

    int rc = 0;
    MDB_txn *t = NULL;
    if (mkdir_p(dir) != 0) {
        rc = aria_errf(ARIA_EIO, "ledger: cannot create directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    int mrc = mdb_env_create(&l->env);
    if (!mrc)
        mrc = mdb_env_set_maxdbs(l->env, 16);
    if (!mrc)
        mrc = mdb_env_set_mapsize(l->env, l->opt.map_size_bytes);
    if (!mrc)
        mrc = mdb_env_open(l->env, dir, MDB_NOTLS, 0600);
    if (mrc) {
        rc = aria_errf(mrc == ENOMEM ? ARIA_ENOMEM : ARIA_EIO, "ledger: cannot open LMDB in %s: %s",
                       dir, mdb_strerror(mrc));
        goto fail;
    }
    int dead = 0;
    mrc = mdb_reader_check(l->env, &dead);
    if (mrc) {
        rc = mdb_err(mrc, "checking for stale readers");
        goto fail;
    }
    if (dead)
        ARIA_LOG_I("L0002", "ledger", "cleared %d stale reader slot(s) in %s", dead, dir);
    mrc = mdb_txn_begin(l->env, NULL, 0, &t);
    if (!mrc)
        mrc = open_dbis(l, t);
    if (mrc) {
        rc = mdb_err(mrc, "opening the databases");
        goto fail;
    }
    MDB_val v;
    mrc = get(t, l->meta, "network_id", 10, &v);
    if (mrc == 0) {
        MDB_val gv;
        if (v.mv_size != 32 || get(t, l->meta, "genesis", 7, &gv) != 0) {
            rc = aria_errf(ARIA_EPROTO, "ledger: %s has a damaged meta table", dir);
            goto fail;
        }
        memcpy(l->network, v.mv_data, 32);
        if (genesis && memcmp(genesis->network_id, l->network, 32) != 0) {
            rc = aria_errf(ARIA_EINVAL,
                           "ledger: %s belongs to another network (its genesis differs from the "
                           "one given)",
                           dir);
            goto fail;
        }
        rc = ledger_genesis_parse(gv.mv_data, gv.mv_size, &l->genesis);
        if (rc)
            goto fail;
        /* Commit, not abort: dbi handles opened in an aborted txn are invalid. */
        mrc = mdb_txn_commit(t);
        t = NULL;
        if (mrc) {
            rc = mdb_err(mrc, "opening the databases");
            goto fail;
        }
    } else if (mrc == MDB_NOTFOUND) {
        if (!genesis) {
            rc = aria_errf(ARIA_EINVAL,
                           "ledger: %s is not initialised; a genesis file is needed to create it",
                           dir);
            goto fail;
        }
        uint8_t fmt[4];
        aria_store_u32le(fmt, 1);
        mrc = put(t, l->meta, "network_id", 10, genesis->network_id, 32, 0);
        if (!mrc)
            mrc = put(t, l->meta, "genesis", 7, genesis->bytes, genesis->len, 0);
        if (!mrc)
            mrc = put(t, l->meta, "format", 6, fmt, 4, 0);
        for (size_t i = 0; !mrc && i < genesis->n_allocs; i++) {
            uint8_t a[8];
            aria_store_u64le(a, genesis->allocs[i].amount);
            mrc = put(t, l->alloc, genesis->allocs[i].account, 32, a, 8, 0);
        }
        if (!mrc)
            mrc = mdb_txn_commit(t);
        else
            mdb_txn_abort(t);
        t = NULL;
        if (mrc) {
            rc = mdb_err(mrc, "writing the genesis");
            goto fail;
        }
        memcpy(l->network, genesis->network_id, 32);
        rc = ledger_genesis_parse(genesis->bytes, genesis->len, &l->genesis);
        if (rc)
            goto fail;
    } else {
        rc = mdb_err(mrc, "reading the network id");
        goto fail;
    }
    l->genesis_total = l->genesis->total;
    *out = l;
    return 0;
fail:
    if (t)
        mdb_txn_abort(t);
    ledger_close(l);
    return rc;
}

static void
ptrvec_free_items(ptrvec *p)
{
    for (size_t i = 0; i < p->n; i++)
        aria_free(p->v[i]);
    p->n = 0;
}

void
ledger_close(ledger *l)
{
    if (!l)
        return;
    if (l->env)
        mdb_env_close(l->env);
    ptrvec_free_items(&l->hold);
    aria_free(l->hold.v);
    aria_free(l->snap.v);
    aria_free(l->added.v);
    ledger_genesis_free(l->genesis);
    ledger__pk_cache_free(l->pkc);
    aria_free(l);
}

int
ledger_set_map_size(ledger *l, size_t bytes)
{
    int rc = mdb_env_set_mapsize(l->env, bytes);
    if (rc)
        return mdb_err(rc, "setting the map size");
    l->opt.map_size_bytes = bytes;
    return 0;
}

void
ledger_network_id(const ledger *l, uint8_t out[32])
{
    memcpy(out, l->network, 32);
}

/* ------------------------------------------------------------------ */
/* Hold (in memory, journaled per write transaction)                    */
/* ------------------------------------------------------------------ */

static int
ptrvec_push(ptrvec *p, held *h)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        held **v = aria_realloc(p->v, cap * sizeof *v);
        if (!v)
            return ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = h;
    return 0;
}

static int
hold_begin(ledger *l)
{
    l->snap.n = 0;
    l->added.n = 0;
    for (size_t i = 0; i < l->hold.n; i++)
        if (ptrvec_push(&l->snap, l->hold.v[i]))
            return ENOMEM;
    return 0;
}

static void
hold_commit(ledger *l)
{
    for (size_t i = 0; i < l->snap.n; i++)
        if (!l->snap.v[i]->in_hold)
            aria_free(l->snap.v[i]);
    for (size_t i = 0; i < l->added.n; i++)
        if (!l->added.v[i]->in_hold)
            aria_free(l->added.v[i]);
    l->snap.n = l->added.n = 0;
}

static void
hold_abort(ledger *l)
{
    for (size_t i = 0; i < l->added.n; i++)
        aria_free(l->added.v[i]);
    l->hold.n = 0;
    for (size_t i = 0; i < l->snap.n; i++) {
        l->snap.v[i]->in_hold = true;
        l->hold.v[l->hold.n++] = l->snap.v[i]; /* hold.cap >= snap.n: it held them before */
    }
    l->snap.n = l->added.n = 0;
}

static void
hold_remove_at(ledger *l, size_t i)
{
    l->hold.v[i]->in_hold = false;
    l->hold.v[i] = l->hold.v[--l->hold.n];
}

static bool
hold_has(const ledger *l, const uint8_t id[32])
{
    for (size_t i = 0; i < l->hold.n; i++)
        if (memcmp(l->hold.v[i]->id, id, 32) == 0)
            return true;
    return false;
}

/* Returns an MDB-style error code (ENOMEM) or 0; sets *why. */
static int
hold_add(ledger *l, const ledger_entry *e, const uint8_t id[32], bool gap,
         const uint8_t waiting[32], const uint8_t *bytes, size_t len, ledger_reason *why)
{
    if (l->hold.n >= l->opt.hold_max) {
        *why = LEDGER_HOLD_FULL;
        aria_errf(ARIA_EFULL, "ledger: hold is full (%zu entries waiting); entry dropped",
                  l->hold.n);
        return 0;
    }
    held *h = aria_alloc(sizeof *h + len);
    if (!h)
        return ENOMEM;
    memcpy(h->id, id, 32);
    memcpy(h->account, e->account, 32);
    h->seq = e->seq;
    h->gap = gap;
    memcpy(h->waiting, waiting, 32);
    uint64_t now = now_ms(l);
    h->expires_ms = now + l->opt.hold_ttl_ms < now ? UINT64_MAX : now + l->opt.hold_ttl_ms;
    h->in_hold = true;
    h->len = (uint32_t)len;
    memcpy(h->bytes, bytes, len);
    if (ptrvec_push(&l->hold, h) || ptrvec_push(&l->added, h)) {
        if (l->hold.n && l->hold.v[l->hold.n - 1] == h)
            l->hold.n--;
        aria_free(h);
        return ENOMEM;
    }
    *why = LEDGER_HELD;
    aria_errf(ARIA_OK, "ledger: held until %s arrives", gap ? "the previous entry" : "a source");
    return 0;
}

static void
hold_expire_now(ledger *l)
{
    uint64_t now = now_ms(l);
    for (size_t i = 0; i < l->hold.n;) {
        if (l->hold.v[i]->expires_ms <= now)
            hold_remove_at(l, i);
        else
            i++;
    }
}

void
ledger_hold_expire(ledger *l)
{
    /* Outside a transaction: removal frees at once. */
    uint64_t now = now_ms(l);
    for (size_t i = 0; i < l->hold.n;) {
        if (l->hold.v[i]->expires_ms <= now) {
            held *h = l->hold.v[i];
            hold_remove_at(l, i);
            aria_free(h);
        } else {
            i++;
        }
    }
}

size_t
ledger_hold_count(const ledger *l)
{
    return l->hold.n;
}

size_t
ledger_missing(const ledger *l, uint8_t (*ids)[32], size_t max)
{
    size_t total = 0;
    for (size_t i = 0; i < l->hold.n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = memcmp(l->hold.v[j]->waiting, l->hold.v[i]->waiting, 32) == 0;
        if (seen)
            continue;
        if (total < max)
            memcpy(ids[total], l->hold.v[i]->waiting, 32);
        total++;
    }
    return total;
}

/* ------------------------------------------------------------------ */
/* Validation and application                                           */
/* ------------------------------------------------------------------ */

/* What validation learned about a receive's sources. */
typedef struct src_info {
    uint8_t account[32];
    uint64_t seq;
    uint8_t where;
} src_info;

/* Check `e` against its chain prefix (balance before it = `balance`).
 * Returns an MDB error, or 0 with *why = APPLIED (valid; *balance_after set),
 * HELD (*missing = id of an unknown source), or a rejection reason. */
static int
validate(ledger *l, MDB_txn *t, const ledger_entry *e, uint64_t balance, uint64_t *balance_after,
         src_info *srcs, uint8_t missing[32], ledger_reason *why)
{
    int rc;
    *why = LEDGER_APPLIED;
    switch (e->kind) {
    case LEDGER_KIND_GENESIS: {
        MDB_val v;
        rc = get(t, l->alloc, e->account, 32, &v);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
        if (rc == MDB_NOTFOUND || v.mv_size != 8 || aria_load_u64le(v.mv_data) != e->amount) {
            *why = LEDGER_NO_ALLOCATION;
            aria_errf(
                ARIA_EPROTO,
                "ledger: genesis entry claims %llu but the genesis file "
                "allocates %llu to this account",
                (unsigned long long)e->amount,
                (unsigned long long)(rc == 0 && v.mv_size == 8 ? aria_load_u64le(v.mv_data) : 0));
            return 0;
        }
        *balance_after = e->amount;
        return 0;
    }
    case LEDGER_KIND_SEND:
        if (e->amount > balance) {
            *why = LEDGER_OVERSPEND;
            aria_errf(ARIA_EFUNDS, "ledger: send of %llu at seq %llu exceeds the balance %llu",
                      (unsigned long long)e->amount, (unsigned long long)e->seq,
                      (unsigned long long)balance);
            return 0;
        }
        *balance_after = balance - e->amount;
        return 0;
    case LEDGER_KIND_RECEIVE: {
        uint64_t sum = balance;
        for (uint32_t i = 0; i < e->n_sources; i++) {
            rec r;
            rc = rec_get(l, t, e->sources[i], &r);
            if (rc == MDB_NOTFOUND) {
                memcpy(missing, e->sources[i], 32);
                *why = LEDGER_HELD;
                return 0;
            }
            if (rc)
                return rc;
            ledger_entry s;
            if ((rc = stored_decode(&r, &s)))
                return rc;
            if (s.kind != LEDGER_KIND_SEND) {
                *why = LEDGER_NOT_A_SEND;
                aria_errf(ARIA_EPROTO, "ledger: receive source %u is a %s entry, not a send", i,
                          ledger_kind_name(s.kind));
                return 0;
            }
            if (memcmp(s.to, e->account, 32) != 0) {
                *why = LEDGER_NOT_RECIPIENT;
                aria_errf(ARIA_EPROTO, "ledger: receive source %u is a send to another account", i);
                return 0;
            }
            MDB_val v;
            rc = get(t, l->recv, e->sources[i], 32, &v);
            if (rc && rc != MDB_NOTFOUND)
                return rc;
            if (rc == 0 && v.mv_size == 40 && aria_load_u64le((uint8_t *)v.mv_data + 32) < e->seq) {
                *why = LEDGER_DOUBLE_RECEIVE;
                aria_errf(ARIA_EPROTO, "ledger: receive source %u was already received at seq %llu",
                          i, (unsigned long long)aria_load_u64le((uint8_t *)v.mv_data + 32));
                return 0;
            }
            if (sum + s.amount < sum) {
                *why = LEDGER_BAD_FIELD;
                aria_errf(ARIA_EPROTO, "ledger: receive overflows the balance");
                return 0;
            }
            sum += s.amount;
            memcpy(srcs[i].account, s.account, 32);
            srcs[i].seq = s.seq;
            srcs[i].where = r.where;
        }
        *balance_after = sum;
        return 0;
    }
    }
    *why = LEDGER_BAD_FIELD;
    return 0;
}

/* Lower live_len of `account` to at most `len`, and of every account whose
 * live chain received a send that became void, transitively. */
static int
cascade_void(ledger *l, MDB_txn *t, const uint8_t account[32], uint64_t len)
{
    typedef struct work {
        uint8_t account[32];
        uint64_t len;
    } work;
    work *w = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
#define PUSH(acc, ln)                                                                              \
    do {                                                                                           \
        if (n == cap) {                                                                            \
            size_t nc = cap ? cap * 2 : 16;                                                        \
            work *nw = aria_realloc(w, nc * sizeof *w);                                            \
            if (!nw) {                                                                             \
                rc = ENOMEM;                                                                       \
                goto out;                                                                          \
            }                                                                                      \
            w = nw;                                                                                \
            cap = nc;                                                                              \
        }                                                                                          \
        memcpy(w[n].account, (acc), 32);                                                           \
        w[n].len = (ln);                                                                           \
        n++;                                                                                       \
    } while (0)
    PUSH(account, len);
    while (n) {
        work cur = w[--n];
        acct_rec a;
        if ((rc = acct_load(l, t, cur.account, &a)))
            goto out;
        if (cur.len >= a.live_len)
            continue;
        uint64_t old = a.live_len;
        a.live_len = cur.len;
        if (cur.len == 0) {
            memset(a.live_head, 0, 32);
            a.live_balance = 0;
        } else {
            rec r;
            if ((rc = chain_id(l, t, cur.account, cur.len - 1, a.live_head)) ||
                (rc = rec_get(l, t, a.live_head, &r)))
                goto out;
            a.live_balance = r.balance_after;
        }
        if ((rc = acct_save(l, t, cur.account, &a)))
            goto out;
        for (uint64_t s = cur.len; s < old; s++) {
            uint8_t id[32];
            rec r;
            ledger_entry e;
            MDB_val v;
            if ((rc = chain_id(l, t, cur.account, s, id)) || (rc = rec_get(l, t, id, &r)) ||
                (rc = stored_decode(&r, &e)))
                goto out;
            if (e.kind != LEDGER_KIND_SEND)
                continue;
            rc = get(t, l->recv, id, 32, &v);
            if (rc == MDB_NOTFOUND) {
                rc = 0;
                continue;
            }
            if (rc)
                goto out;
            if (v.mv_size != 40) {
                rc = MDB_CORRUPTED;
                goto out;
            }
            PUSH(v.mv_data, aria_load_u64le((uint8_t *)v.mv_data + 32));
        }
    }
out:
#undef PUSH
    aria_free(w);
    return rc;
}

static int
index_receipt(ledger *l, MDB_txn *t, const ledger_entry *e, const uint8_t id[32])
{
    int rc = put(t, l->rjob, e->receipt.job_id, 32, id, 32, 0);
    if (!rc)
        rc = put(t, l->rprov, e->to, 32, id, 32, 0);
    if (!rc)
        rc = put(t, l->rreq, e->account, 32, id, 32, 0);
    return rc;
}

/* Release events: an id was stored (wakes receives waiting for it as a
 * source), or an account's chain position changed (wakes its held entries
 * that can now be decided). */
typedef struct event {
    uint8_t key[32];
    bool is_account;
} event;

typedef struct evvec {
    event *v;
    size_t n, cap;
} evvec;

static int
ev_push(evvec *p, const uint8_t key[32], bool is_account)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        event *v = aria_realloc(p->v, cap * sizeof *v);
        if (!v)
            return ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    memcpy(p->v[p->n].key, key, 32);
    p->v[p->n].is_account = is_account;
    p->n++;
    return 0;
}

/* Record the fork proof (a, b) at (account, seq), freeze the account there
 * and void what depends on it. The first proof for a position is kept. */
static int
record_fork(ledger *l, MDB_txn *t, const uint8_t account[32], uint64_t seq, const uint8_t *a,
            size_t an, const uint8_t *b, size_t bn)
{
    uint8_t key[40];
    seq_key(key, account, seq);
    MDB_val k = {40, key}, v = {4 + an + bn, NULL};
    int rc = mdb_put(t, l->forks, &k, &v, MDB_RESERVE | MDB_NOOVERWRITE);
    if (rc == 0) {
        uint8_t *p = v.mv_data;
        aria_store_u32le(p, (uint32_t)an);
        memcpy(p + 4, a, an);
        memcpy(p + 4 + an, b, bn);
    } else if (rc != MDB_KEYEXIST) {
        return rc;
    }
    acct_rec ar;
    if ((rc = acct_load(l, t, account, &ar)))
        return rc;
    if (seq < ar.frozen) {
        ar.frozen = seq;
        if ((rc = acct_save(l, t, account, &ar)))
            return rc;
    }
    return cascade_void(l, t, account, seq);
}

/* Store `e` as a fork branch (never live; it can still be named as a source). */
static int
store_branch(ledger *l, MDB_txn *t, const uint8_t id[32], const uint8_t *bytes, size_t len,
             evvec *ev)
{
    int rc = rec_put(l, t, id, WHERE_FORK, now_ms(l), 0, bytes, len);
    if (!rc)
        rc = ev_push(ev, id, false);
    return rc;
}

/* e at the chain's next position was rejected for a state reason: keep it as
 * a fork witness, and any entry held at the same position forms a fork with it. */
static int
store_witness(ledger *l, MDB_txn *t, const ledger_entry *e, const uint8_t id[32],
              const uint8_t *bytes, size_t len, evvec *ev)
{
    uint8_t key[40];
    seq_key(key, e->account, e->seq);
    MDB_val k = {40, key}, v = {32 + len, NULL};
    int rc = mdb_put(t, l->witness, &k, &v, MDB_RESERVE | MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return 0;
    if (rc)
        return rc;
    memcpy(v.mv_data, id, 32);
    memcpy((uint8_t *)v.mv_data + 32, bytes, len);
    for (size_t i = 0; i < l->hold.n;) {
        held *h = l->hold.v[i];
        if (h->seq != e->seq || memcmp(h->account, e->account, 32) != 0) {
            i++;
            continue;
        }
        hold_remove_at(l, i);
        if ((rc = record_fork(l, t, e->account, e->seq, bytes, len, h->bytes, h->len)) ||
            (rc = store_branch(l, t, h->id, h->bytes, h->len, ev)))
            return rc;
    }
    return 0;
}

/* Apply one decoded, signature-checked entry inside write txn t. Returns an
 * MDB error (the caller aborts) or 0 with *why set; events for the hold go
 * to `ev`. The rules (docs/ledger.md "Applying an entry"):
 *   known id -> duplicate; account frozen at <= seq -> frozen;
 *   seq < chain length -> fork with the chain entry (no validation needed:
 *   two signed entries at one position are the proof);
 *   seq > chain length -> held for the gap;
 *   seq == chain length: a witness there -> fork; else prev, then kind rules;
 *   a missing source -> held; a broken rule -> rejected and kept as witness. */
static int
apply_core(ledger *l, MDB_txn *t, const ledger_entry *e, const uint8_t *bytes, size_t len,
           const uint8_t id[32], evvec *ev, ledger_reason *why)
{
    int rc;
    MDB_val v;
    uint8_t key[40];
    seq_key(key, e->account, e->seq);
    /* The witness at (account, seq), looked up once: nothing below writes
     * before its second use. */
    MDB_val wv;
    int wrc = MDB_NOTFOUND;
    rc = get(t, l->entries, id, 32, &v);
    if (rc == MDB_NOTFOUND && !hold_has(l, id)) {
        wrc = get(t, l->witness, key, 40, &wv);
        if (wrc && wrc != MDB_NOTFOUND)
            return wrc;
        if (wrc == 0 && wv.mv_size > 32 && memcmp(wv.mv_data, id, 32) == 0)
            rc = 0;
    } else if (rc == MDB_NOTFOUND) {
        rc = 0;
    }
    if (rc == 0) {
        *why = LEDGER_DUPLICATE;
        aria_errf(ARIA_EEXIST, "ledger: entry already known (replay)");
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    acct_rec a;
    if ((rc = acct_load(l, t, e->account, &a)))
        return rc;
    if (a.frozen <= e->seq) {
        *why = LEDGER_FROZEN;
        aria_errf(ARIA_ESTATE,
                  "ledger: account is frozen by a fork at seq %llu; entry at seq %llu "
                  "is void",
                  (unsigned long long)a.frozen, (unsigned long long)e->seq);
        return 0;
    }
    if (e->seq < a.chain_len) {
        uint8_t other[32];
        rec r;
        if ((rc = chain_id(l, t, e->account, e->seq, other)) || (rc = rec_get(l, t, other, &r)))
            return rc;
        /* Copy: r.bytes points into the map, which the puts below may move. */
        uint8_t ob[LEDGER_ENTRY_MAX_BYTES];
        size_t on = r.len <= sizeof ob ? r.len : sizeof ob;
        memcpy(ob, r.bytes, on);
        if ((rc = store_branch(l, t, id, bytes, len, ev)) ||
            (rc = record_fork(l, t, e->account, e->seq, ob, on, bytes, len)) ||
            (rc = ev_push(ev, e->account, true)))
            return rc;
        *why = LEDGER_FORK;
        aria_errf(ARIA_ESTATE,
                  "ledger: fork at seq %llu: two entries signed by the same account "
                  "for one position; proof stored, the account is frozen from there",
                  (unsigned long long)e->seq);
        return 0;
    }
    if (e->seq > a.chain_len)
        return hold_add(l, e, id, true, e->prev, bytes, len, why);

    /* e->seq == chain_len */
    rc = wrc;
    if (rc == 0) {
        uint8_t wb[LEDGER_ENTRY_MAX_BYTES];
        size_t wn = wv.mv_size - 32 <= sizeof wb ? wv.mv_size - 32 : sizeof wb;
        memcpy(wb, (uint8_t *)wv.mv_data + 32, wn);
        if ((rc = store_branch(l, t, id, bytes, len, ev)) ||
            (rc = record_fork(l, t, e->account, e->seq, wb, wn, bytes, len)))
            return rc;
        *why = LEDGER_FORK;
        aria_errf(ARIA_ESTATE,
                  "ledger: fork at seq %llu with an earlier rejected entry of the "
                  "same account; the account is frozen from there",
                  (unsigned long long)e->seq);
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    uint64_t balance = 0;
    if (e->seq > 0) {
        if (memcmp(a.head, e->prev, 32) != 0) {
            *why = LEDGER_BAD_PREV;
            aria_errf(ARIA_EPROTO,
                      "ledger: prev of seq %llu is not the id of the chain's entry "
                      "at seq %llu",
                      (unsigned long long)e->seq, (unsigned long long)(e->seq - 1));
            return store_witness(l, t, e, id, bytes, len, ev);
        }
        balance = a.head_balance;
    }
    uint64_t after = 0;
    src_info srcs[LEDGER_MAX_SOURCES];
    uint8_t missing[32];
    if ((rc = validate(l, t, e, balance, &after, srcs, missing, why)))
        return rc;
    if (*why == LEDGER_HELD)
        return hold_add(l, e, id, false, missing, bytes, len, why);
    if (*why != LEDGER_APPLIED) {
        char msg[256];
        aria_snprintf(msg, sizeof msg, "%s", aria_err_msg());
        rc = store_witness(l, t, e, id, bytes, len, ev);
        aria_errf(ledger_reason_error(*why), "%s", msg);
        return rc;
    }

    /* Append to the chain. */
    uint64_t now = now_ms(l);
    if ((rc = rec_put(l, t, id, WHERE_CHAIN, now, after, bytes, len)) ||
        (rc = put(t, l->chain, key, 40, id, 32, 0)))
        return rc;
    bool live = a.live_len == e->seq;
    if (e->kind == LEDGER_KIND_RECEIVE) {
        for (uint32_t i = 0; i < e->n_sources; i++) {
            uint8_t rv[40];
            memcpy(rv, e->account, 32);
            aria_store_u64le(rv + 32, e->seq);
            if ((rc = put(t, l->recv, e->sources[i], 32, rv, 40, 0)))
                return rc;
            if (live) {
                acct_rec sa;
                if ((rc = acct_load(l, t, srcs[i].account, &sa)))
                    return rc;
                live = srcs[i].where == WHERE_CHAIN && srcs[i].seq < sa.live_len;
            }
        }
    }
    if (e->kind == LEDGER_KIND_SEND && e->has_receipt && (rc = index_receipt(l, t, e, id)))
        return rc;
    memcpy(a.head, id, 32);
    a.chain_len = e->seq + 1;
    a.head_balance = after;
    if (live) {
        a.live_len = e->seq + 1;
        memcpy(a.live_head, id, 32);
        a.live_balance = after;
    }
    if ((rc = acct_save(l, t, e->account, &a)) || (rc = ev_push(ev, id, false)) ||
        (rc = ev_push(ev, e->account, true)))
        return rc;
    *why = LEDGER_APPLIED;
    return 0;
}

/* Apply one verified entry and everything it releases from the hold. */
static int
apply_release(ledger *l, MDB_txn *t, const ledger_entry *e, const uint8_t *bytes, size_t len,
              const uint8_t id[32], ledger_reason *why)
{
    evvec ev = {0};
    int rc = apply_core(l, t, e, bytes, len, id, &ev, why);
    /* Preserve the first entry's message for the caller. */
    char msg[256];
    aria_snprintf(msg, sizeof msg, "%s", aria_err_msg());
    /* Events only wake held entries, and only a released entry can be held
     * again: with an empty hold there is nothing to do. */
    while (rc == 0 && ev.n && l->hold.n) {
        event cur = ev.v[--ev.n];
        acct_rec a = {0};
        if (cur.is_account && (rc = acct_load(l, t, cur.key, &a)))
            break;
        for (size_t i = 0; i < l->hold.n;) {
            held *h = l->hold.v[i];
            bool go;
            if (cur.is_account)
                go = memcmp(h->account, cur.key, 32) == 0 &&
                     (h->seq < a.chain_len || (h->gap && h->seq == a.chain_len) ||
                      h->seq >= a.frozen);
            else
                go = !h->gap && memcmp(h->waiting, cur.key, 32) == 0;
            if (!go) {
                i++;
                continue;
            }
            hold_remove_at(l, i);
            ledger_entry he;
            ledger_reason hw;
            if (ledger__decode_stored(h->bytes, h->len, &he) != 0)
                continue; /* cannot happen: decoded before it was held */
            rc = apply_core(l, t, &he, h->bytes, h->len, h->id, &ev, &hw);
            if (rc)
                break;
            if (hw != LEDGER_APPLIED && hw != LEDGER_HELD && hw != LEDGER_FORK)
                ARIA_LOG_D("L0003", "ledger", "held entry not applied on release: %s",
                           ledger_reason_name(hw));
            if (cur.is_account && (rc = acct_load(l, t, cur.key, &a)))
                break;
            i = 0; /* the hold changed; rescan */
        }
    }
    aria_free(ev.v);
    if (rc == 0 && *why != LEDGER_APPLIED)
        aria_errf(ledger_reason_error(*why), "%s", msg);
    return rc;
}

/* Decode and check the network: no database access. */
static void
precheck(const ledger *l, const uint8_t *bytes, size_t len, ledger_entry *e, ledger_result *res)
{
    memset(res->id, 0, 32);
    int rc = ledger_entry_decode(bytes, len, e, res->id);
    if (rc) {
        res->reason = ledger__last_decode_reason();
        return;
    }
    if (memcmp(e->network, l->network, 32) != 0) {
        res->reason = LEDGER_WRONG_NETWORK;
        aria_errf(ARIA_EPROTO, "ledger: entry is for another network (network id differs)");
        return;
    }
    res->reason = LEDGER_APPLIED;
}

/* Byte-identical to a stored entry: a replay, whose signatures were checked
 * when it was stored (apply would say DUPLICATE for any entry with a stored
 * id; requiring the same bytes keeps BAD_SIGNATURE for a stored id with other
 * signature bytes exactly as before). 0 or an MDB error. */
static int
is_replay(ledger *l, MDB_txn *t, const uint8_t id[32], const uint8_t *bytes, size_t len,
          bool *replay)
{
    MDB_val v;
    int rc = get(t, l->entries, id, 32, &v);
    *replay = rc == 0 && v.mv_size == REC_HDR + len &&
              memcmp((const uint8_t *)v.mv_data + REC_HDR, bytes, len) == 0;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Order of work: decode everything; in the write transaction, answer
 * replays of stored entries without a signature check (gossip delivers most
 * entries several times); check the remaining signatures, all in one batch
 * verification (the dominant cost; docs/ledger.md §12.1); then apply in
 * order. */
int
ledger_apply_batch(ledger *l, const uint8_t *const *bytes, const size_t *lens, size_t n,
                   ledger_result *res)
{
    ledger_entry *es = aria_alloc_array(n ? n : 1, sizeof *es);
    if (!es)
        return ARIA_ENOMEM;
    char first_msg[256] = "";
    for (size_t i = 0; i < n; i++) {
        aria_err_clear();
        precheck(l, bytes[i], lens[i], &es[i], &res[i]);
        if (res[i].reason != LEDGER_APPLIED && !first_msg[0])
            aria_snprintf(first_msg, sizeof first_msg, "%s", aria_err_msg());
    }
    MDB_txn *t = NULL;
    int mrc = mdb_txn_begin(l->env, NULL, 0, &t);
    if (mrc) {
        aria_free(es);
        return mdb_err(mrc, "starting a write transaction");
    }
    for (size_t i = 0; i < n && !mrc; i++) {
        bool replay = false;
        if (res[i].reason == LEDGER_APPLIED &&
            !(mrc = is_replay(l, t, res[i].id, bytes[i], lens[i], &replay)) && replay) {
            res[i].reason = LEDGER_DUPLICATE;
            if (!first_msg[0])
                aria_snprintf(first_msg, sizeof first_msg, "ledger: entry already known (replay)");
        }
    }
    /* All signatures of the batch in one batch verification; an entry
     * whose checks did not all pass is checked again one by one, which
     * gives its reason and message exactly as before. */
    bool *check = aria_alloc_array(n ? n : 1, sizeof *check);
    uint8_t *maybe_bad = aria_alloc(n ? n : 1);
    if (!check || !maybe_bad) {
        aria_free(check);
        aria_free(maybe_bad);
        check = NULL;
        maybe_bad = NULL;
    } else if (!mrc) {
        for (size_t i = 0; i < n; i++)
            check[i] = res[i].reason == LEDGER_APPLIED;
        ledger__verify_many(l->pkc, n, es, bytes, lens, check, maybe_bad);
    }
    for (size_t i = 0; i < n && !mrc; i++) {
        if (res[i].reason != LEDGER_APPLIED || (maybe_bad && !maybe_bad[i]))
            continue;
        aria_err_clear();
        ledger_reason why;
        if (ledger__verify_bytes_cached(l->pkc, &es[i], bytes[i], lens[i], &why)) {
            res[i].reason = why;
            if (!first_msg[0])
                aria_snprintf(first_msg, sizeof first_msg, "%s", aria_err_msg());
        }
    }
    aria_free(check);
    aria_free(maybe_bad);
    if (mrc) {
        mdb_txn_abort(t);
        aria_free(es);
        return mdb_err(mrc, "looking up entries");
    }
    if (hold_begin(l)) {
        mdb_txn_abort(t);
        aria_free(es);
        return aria_errf(ARIA_ENOMEM, "ledger: out of memory");
    }
    uint64_t now = now_ms(l);
    if (now - l->last_expire_ms >= 1000 || now < l->last_expire_ms) {
        hold_expire_now(l);
        l->last_expire_ms = now;
    }
    for (size_t i = 0; i < n && !mrc; i++) {
        if (res[i].reason != LEDGER_APPLIED)
            continue;
        aria_err_clear();
        mrc = apply_release(l, t, &es[i], bytes[i], lens[i], res[i].id, &res[i].reason);
        if (!mrc && res[i].reason != LEDGER_APPLIED && res[i].reason != LEDGER_HELD &&
            !first_msg[0])
            aria_snprintf(first_msg, sizeof first_msg, "%s", aria_err_msg());
    }
    if (!mrc)
        mrc = mdb_txn_commit(t);
    else
        mdb_txn_abort(t);
    aria_free(es);
    if (mrc) {
        hold_abort(l);
        return mdb_err(mrc, "applying entries");
    }
    hold_commit(l);
    if (first_msg[0])
        aria_errf(ARIA_OK, "%s", first_msg);
    return 0;
}

int
ledger_apply(ledger *l, const uint8_t *bytes, size_t len, ledger_result *res)
{
    ledger_result tmp;
    if (!res)
        res = &tmp;
    const uint8_t *b[1] = {bytes};
    size_t n[1] = {len};
    int rc = ledger_apply_batch(l, b, n, 1, res);
    if (rc)
        return rc;
    rc = ledger_reason_error(res->reason);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Queries (each in its own read transaction)                           */
/* ------------------------------------------------------------------ */

static int
read_begin(ledger *l, MDB_txn **t)
{
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, t);
    return rc ? mdb_err(rc, "starting a read transaction") : 0;
}

/* Pending = live receives applied less than settle_ms ago (walking back
 * from the live head; a chain is applied in seq order, so applied_ms does not
 * decrease along it). */
static int
account_info(ledger *l, MDB_txn *t, const uint8_t account[32], const acct_rec *a,
             ledger_account_info *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->account, account, 32);
    out->chain_len = a->chain_len;
    out->live_len = a->live_len;
    memcpy(out->head, a->head, 32);
    memcpy(out->live_head, a->live_head, 32);
    out->balance = a->live_balance;
    out->frozen_seq = a->frozen;
    MDB_val v;
    int rc = get(t, l->alloc, account, 32, &v);
    if (rc == 0 && v.mv_size == 8)
        out->allocation = aria_load_u64le(v.mv_data);
    else if (rc && rc != MDB_NOTFOUND)
        return rc;
    uint64_t now = now_ms(l), pending = 0;
    for (uint64_t s = a->live_len; s-- > 0;) {
        uint8_t id[32];
        rec r, pr;
        if ((rc = chain_id(l, t, account, s, id)) || (rc = rec_get(l, t, id, &r)))
            return rc;
        if (r.applied_ms + l->opt.settle_ms <= now)
            break;
        uint64_t before = 0;
        if (s > 0) {
            uint8_t pid[32];
            if ((rc = chain_id(l, t, account, s - 1, pid)) || (rc = rec_get(l, t, pid, &pr)))
                return rc;
            before = pr.balance_after;
        }
        if (r.balance_after > before) {
            ledger_entry e;
            if ((rc = stored_decode(&r, &e)))
                return rc;
            if (e.kind == LEDGER_KIND_RECEIVE)
                pending += r.balance_after - before;
        }
    }
    out->pending = pending < out->balance ? pending : out->balance;
    out->available = out->balance - out->pending;
    return 0;
}

int
ledger_account(ledger *l, const uint8_t account[32], ledger_account_info *out)
{
    MDB_txn *t;
    int rc = read_begin(l, &t);
    if (rc)
        return rc;
    acct_rec a;
    int mrc = acct_load(l, t, account, &a);
    if (!mrc)
        mrc = account_info(l, t, account, &a, out);
    mdb_txn_abort(t);
    return mrc ? mdb_err(mrc, "reading an account") : 0;
}

static int
entry_info_fill(ledger *l, MDB_txn *t, const uint8_t id[32], ledger_entry *e,
                ledger_entry_info *info)
{
    rec r;
    int rc = rec_get(l, t, id, &r);
    if (rc)
        return rc;
    if ((rc = stored_decode(&r, e)))
        return rc;
    acct_rec a;
    if ((rc = acct_load(l, t, e->account, &a)))
        return rc;
    memcpy(info->id, id, 32);
    info->in_chain = r.where == WHERE_CHAIN;
    info->live = info->in_chain && e->seq < a.live_len;
    info->applied_ms = r.applied_ms;
    info->balance_after = r.balance_after;
    info->bytes = r.bytes;
    info->len = r.len;
    return 0;
}

int
ledger_entry_get(ledger *l, const uint8_t id[32], ledger_entry *e, ledger_entry_info *info)
{
    MDB_txn *t;
    int rc = read_begin(l, &t);
    if (rc)
        return rc;
    ledger_entry_info tmp;
    int mrc = entry_info_fill(l, t, id, e, info ? info : &tmp);
    if (info)
        info->bytes = NULL; /* not valid after the transaction ends */
    mdb_txn_abort(t);
    if (mrc == MDB_NOTFOUND)
        return aria_errf(ARIA_ENOTFOUND, "ledger: no entry with that id");
    return mrc ? mdb_err(mrc, "reading an entry") : 0;
}

int
ledger_history(ledger *l, const uint8_t account[32], uint64_t from_seq, size_t max,
               ledger_entry_fn fn, void *ctx)
{
    MDB_txn *t;
    MDB_cursor *c = NULL;
    int rc = read_begin(l, &t);
    if (rc)
        return rc;
    uint8_t key[40];
    seq_key(key, account, from_seq);
    MDB_val k = {40, key}, v;
    int mrc = mdb_cursor_open(t, l->chain, &c);
    int stop = 0;
    size_t n = 0;
    if (!mrc)
        mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (!mrc && !stop && (max == 0 || n < max)) {
        if (k.mv_size != 40 || memcmp(k.mv_data, account, 32) != 0 || v.mv_size != 32)
            break;
        ledger_entry e;
        ledger_entry_info info;
        uint8_t id[32];
        memcpy(id, v.mv_data, 32);
        if ((mrc = entry_info_fill(l, t, id, &e, &info)))
            break;
        stop = fn(ctx, &e, &info);
        n++;
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (mrc == MDB_NOTFOUND)
        mrc = 0;
    if (c)
        mdb_cursor_close(c);
    mdb_txn_abort(t);
    if (mrc)
        return mdb_err(mrc, "reading a chain");
    return stop;
}

int
ledger_accounts(ledger *l, ledger_account_fn fn, void *ctx)
{
    MDB_txn *t;
    MDB_cursor *c = NULL;
    int rc = read_begin(l, &t);
    if (rc)
        return rc;
    MDB_val k, v;
    int stop = 0;
    int mrc = mdb_cursor_open(t, l->acct, &c);
    if (!mrc)
        mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (!mrc && !stop) {
        acct_rec a;
        ledger_account_info info;
        if (k.mv_size != 32 || v.mv_size != ACCT_BYTES) {
            mrc = MDB_CORRUPTED;
            break;
        }
        acct_decode(&v, &a);
        uint8_t acc[32];
        memcpy(acc, k.mv_data, 32);
        if ((mrc = account_info(l, t, acc, &a, &info)))
            break;
        stop = fn(ctx, &info);
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (mrc == MDB_NOTFOUND)
        mrc = 0;
    if (c)
        mdb_cursor_close(c);
    mdb_txn_abort(t);
    if (mrc)
        return mdb_err(mrc, "listing accounts");
    return stop;
}

int
ledger_receipts(ledger *l, ledger_receipt_by by, const uint8_t key[32], ledger_entry_fn fn,
                void *ctx)
{
    MDB_dbi d = by == LEDGER_RECEIPTS_BY_PROVIDER    ? l->rprov
                : by == LEDGER_RECEIPTS_BY_REQUESTER ? l->rreq
                                                     : l->rjob;
    MDB_txn *t;
    MDB_cursor *c = NULL;
    int rc = read_begin(l, &t);
    if (rc)
        return rc;
    MDB_val k = {32, (void *)key}, v;
    int stop = 0;
    int mrc = mdb_cursor_open(t, d, &c);
    if (!mrc)
        mrc = mdb_cursor_get(c, &k, &v, by == LEDGER_RECEIPTS_ALL ? MDB_FIRST : MDB_SET_KEY);
    while (!mrc && !stop) {
        ledger_entry e;
        ledger_entry_info info;
        uint8_t id[32];
        if (v.mv_size != 32) {
            mrc = MDB_CORRUPTED;
            break;
        }
        memcpy(id, v.mv_data, 32);
        if ((mrc = entry_info_fill(l, t, id, &e, &info)))
            break;
        stop = fn(ctx, &e, &info);
        mrc = mdb_cursor_get(c, &k, &v, by == LEDGER_RECEIPTS_ALL ? MDB_NEXT : MDB_NEXT_DUP);
    }
    if (mrc == MDB_NOTFOUND)
        mrc = 0;
    if (c)
        mdb_cursor_close(c);
    mdb_txn_abort(t);
    if (mrc)
        return mdb_err(mrc, "reading receipts");
    return stop;
}

int
ledger_supply_get(ledger *l, ledger_supply *out)
{
    memset(out, 0, sizeof *out);
    out->genesis_total = l->genesis_total;
    MDB_txn *t;
    MDB_cursor *c = NULL;
    int rc = read_begin(l, &t);
    if (rc)
        return rc;
    MDB_val k, v;
    int mrc = mdb_cursor_open(t, l->acct, &c);
    if (!mrc)
        mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (!mrc) {
        acct_rec a;
        if (v.mv_size != ACCT_BYTES) {
            mrc = MDB_CORRUPTED;
            break;
        }
        acct_decode(&v, &a);
        out->balances += a.live_balance;
        uint8_t acc[32];
        memcpy(acc, k.mv_data, 32);
        for (uint64_t s = 0; s < a.live_len && !mrc; s++) {
            uint8_t id[32];
            rec r;
            ledger_entry e;
            if ((mrc = chain_id(l, t, acc, s, id)) || (mrc = rec_get(l, t, id, &r)) ||
                (mrc = stored_decode(&r, &e)))
                break;
            if (e.kind != LEDGER_KIND_SEND)
                continue;
            MDB_val rv;
            int g = get(t, l->recv, id, 32, &rv);
            bool received = false;
            if (g == 0 && rv.mv_size == 40) {
                acct_rec b;
                if ((mrc = acct_load(l, t, rv.mv_data, &b)))
                    break;
                received = aria_load_u64le((uint8_t *)rv.mv_data + 32) < b.live_len;
            } else if (g && g != MDB_NOTFOUND) {
                mrc = g;
                break;
            }
            if (!received)
                out->in_flight += e.amount;
        }
        if (!mrc)
            mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (mrc == MDB_NOTFOUND)
        mrc = 0;
    for (size_t i = 0; !mrc && i < l->genesis->n_allocs; i++) {
        acct_rec a;
        bool claimed = false;
        if ((mrc = acct_load(l, t, l->genesis->allocs[i].account, &a)))
            break;
        if (a.live_len > 0) {
            uint8_t id[32];
            rec r;
            ledger_entry e;
            if ((mrc = chain_id(l, t, l->genesis->allocs[i].account, 0, id)) ||
                (mrc = rec_get(l, t, id, &r)) || (mrc = stored_decode(&r, &e)))
                break;
            claimed = e.kind == LEDGER_KIND_GENESIS;
        }
        if (!claimed)
            out->unclaimed += l->genesis->allocs[i].amount;
    }
    if (c)
        mdb_cursor_close(c);
    mdb_txn_abort(t);
    return mrc ? mdb_err(mrc, "computing the supply") : 0;
}

int
ledger_state_hash(ledger *l, uint8_t out[32])
{
    wallet_hasher h;
    wallet_hasher_init(&h);
    static const char tag[] = "aria/ledger/state/v1";
    wallet_hasher_update(&h, tag, sizeof tag - 1);
    wallet_hasher_update(&h, l->network, 32);
    MDB_txn *t;
    MDB_cursor *c = NULL;
    int rc = read_begin(l, &t);
    if (rc)
        return rc;
    MDB_val k, v;
    int mrc = mdb_cursor_open(t, l->acct, &c);
    if (!mrc)
        mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (!mrc) {
        acct_rec a;
        if (k.mv_size != 32 || v.mv_size != ACCT_BYTES) {
            mrc = MDB_CORRUPTED;
            break;
        }
        acct_decode(&v, &a);
        if (a.live_len > 0) {
            uint8_t rec8[8 + 32 + 8];
            aria_store_u64le(rec8, a.live_len);
            memcpy(rec8 + 8, a.live_head, 32);
            aria_store_u64le(rec8 + 40, a.live_balance);
            wallet_hasher_update(&h, k.mv_data, 32);
            wallet_hasher_update(&h, rec8, sizeof rec8);
        }
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (mrc == MDB_NOTFOUND)
        mrc = 0;
    if (c)
        mdb_cursor_close(c);
    mdb_txn_abort(t);
    if (mrc)
        return mdb_err(mrc, "computing the state hash");
    wallet_hasher_final(&h, out);
    return 0;
}

int
ledger_stats_get(ledger *l, ledger_stats *out)
{
    memset(out, 0, sizeof *out);
    MDB_txn *t;
    int rc = read_begin(l, &t);
    if (rc)
        return rc;
    MDB_stat st;
    int mrc = mdb_stat(t, l->acct, &st);
    out->accounts = mrc ? 0 : st.ms_entries;
    if (!mrc && !(mrc = mdb_stat(t, l->entries, &st)))
        out->entries = st.ms_entries;
    if (!mrc && !(mrc = mdb_stat(t, l->chain, &st)))
        out->chain_entries = st.ms_entries;
    if (!mrc && !(mrc = mdb_stat(t, l->forks, &st)))
        out->forks = st.ms_entries;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    if (!mrc)
        mrc = mdb_cursor_open(t, l->acct, &c);
    if (!mrc)
        mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (!mrc) {
        if (v.mv_size == ACCT_BYTES)
            out->live_entries += aria_load_u64le((uint8_t *)v.mv_data + 72);
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (mrc == MDB_NOTFOUND)
        mrc = 0;
    if (c)
        mdb_cursor_close(c);
    mdb_txn_abort(t);
    MDB_envinfo info;
    MDB_stat est;
    if (!mrc && !mdb_env_info(l->env, &info) && !mdb_env_stat(l->env, &est)) {
        out->map_size_bytes = info.me_mapsize;
        out->used_bytes = (size_t)(info.me_last_pgno + 1) * est.ms_psize;
    }
    out->held = l->hold.n;
    return mrc ? mdb_err(mrc, "reading statistics") : 0;
}

int
ledger_forks(ledger *l, ledger_fork_fn fn, void *ctx)
{
    MDB_txn *t;
    MDB_cursor *c = NULL;
    int rc = read_begin(l, &t);
    if (rc)
        return rc;
    MDB_val k, v;
    int stop = 0;
    int mrc = mdb_cursor_open(t, l->forks, &c);
    if (!mrc)
        mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (!mrc && !stop) {
        const uint8_t *p = v.mv_data;
        if (k.mv_size != 40 || v.mv_size < 4 || aria_load_u32le(p) > v.mv_size - 4) {
            mrc = MDB_CORRUPTED;
            break;
        }
        size_t an = aria_load_u32le(p);
        stop = fn(ctx, k.mv_data, load_u64be((uint8_t *)k.mv_data + 32), p + 4, an, p + 4 + an,
                  v.mv_size - 4 - an);
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (mrc == MDB_NOTFOUND)
        mrc = 0;
    if (c)
        mdb_cursor_close(c);
    mdb_txn_abort(t);
    if (mrc)
        return mdb_err(mrc, "reading fork proofs");
    return stop;
}

/* For verify: every stored fork-branch entry (where == fork). */
int
ledger__fork_branches(ledger *l, ledger_entry_fn fn, void *ctx)
{
    MDB_txn *t;
    MDB_cursor *c = NULL;
    int rc = read_begin(l, &t);
    if (rc)
        return rc;
    MDB_val k, v;
    int stop = 0;
    int mrc = mdb_cursor_open(t, l->entries, &c);
    if (!mrc)
        mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (!mrc && !stop) {
        if (v.mv_size > REC_HDR && ((uint8_t *)v.mv_data)[0] == WHERE_FORK) {
            ledger_entry e;
            ledger_entry_info info;
            uint8_t id[32];
            memcpy(id, k.mv_data, 32);
            if ((mrc = entry_info_fill(l, t, id, &e, &info)))
                break;
            stop = fn(ctx, &e, &info);
        }
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (mrc == MDB_NOTFOUND)
        mrc = 0;
    if (c)
        mdb_cursor_close(c);
    mdb_txn_abort(t);
    if (mrc)
        return mdb_err(mrc, "reading fork branches");
    return stop;
}

const ledger_genesis *
ledger__genesis(const ledger *l)
{
    return l->genesis;
}

const ledger_options *
ledger__options(const ledger *l)
{
    return &l->opt;
}

int
ledger__witnesses(ledger *l, int (*fn)(void *ctx, const uint8_t *p, size_t n), void *ctx)
{
    MDB_txn *t;
    MDB_cursor *c = NULL;
    int rc = read_begin(l, &t);
    if (rc)
        return rc;
    MDB_val k, v;
    int stop = 0;
    int mrc = mdb_cursor_open(t, l->witness, &c);
    if (!mrc)
        mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (!mrc && !stop) {
        if (v.mv_size > 32)
            stop = fn(ctx, (uint8_t *)v.mv_data + 32, v.mv_size - 32);
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (mrc == MDB_NOTFOUND)
        mrc = 0;
    if (c)
        mdb_cursor_close(c);
    mdb_txn_abort(t);
    if (mrc)
        return mdb_err(mrc, "reading fork witnesses");
    return stop;
}
