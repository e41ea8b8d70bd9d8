/*
 * verify.c — whole-database checks and entry export/import, written on top
 * of the public query API (so they exercise the same paths peers' entries
 * take).
 *
 * Invariants: verify never trusts derived tables: it re-applies every stored
 * entry (decode, signatures, rules) into a scratch ledger in a fresh temporary
 * directory and compares the results; the scratch directory is always removed.
 * Import treats the file as outside bytes: frames are bounds-checked and every
 * entry goes through ledger_apply_batch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger_int.h"

#define BATCH 256
static const char export_magic[8] = {'A', 'R', 'I', 'A', 'L', 'D', 'G', '1'};

/* A batch of copied entry bytes. */
typedef struct batch {
    uint8_t *buf[BATCH];
    size_t len[BATCH];
    size_t n;
} batch;

static void
batch_clear(batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        aria_free(b->buf[i]);
    b->n = 0;
}

static int
batch_add(batch *b, const uint8_t *p, size_t n)
{
    uint8_t *c = aria_alloc(n);
    if (!c)
        return ARIA_ENOMEM;
    memcpy(c, p, n);
    b->buf[b->n] = c;
    b->len[b->n] = n;
    b->n++;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Walking every stored entry: chains in (account, seq) order, then forks */
/* ------------------------------------------------------------------ */

typedef int (*bytes_fn)(void *ctx, const uint8_t *p, size_t n);

typedef struct acc_list {
    uint8_t (*v)[32];
    size_t n, cap;
} acc_list;

static int
collect_account(void *ctx, const ledger_account_info *a)
{
    acc_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        uint8_t(*v)[32] = aria_realloc(l->v, cap * 32);
        if (!v)
            return ARIA_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    memcpy(l->v[l->n++], a->account, 32);
    return 0;
}

typedef struct walk {
    bytes_fn fn;
    void *ctx;
    int err;
} walk;

static int
walk_entry(void *ctx, const ledger_entry *e, const ledger_entry_info *info)
{
    ARIA_UNUSED(e);
    walk *w = ctx;
    w->err = w->fn(w->ctx, info->bytes, info->len);
    return w->err ? 1 : 0;
}

static int
walk_fork(void *ctx, const uint8_t account[32], uint64_t seq, const uint8_t *a, size_t an,
          const uint8_t *b, size_t bn)
{
    ARIA_UNUSED(account);
    ARIA_UNUSED(seq);
    walk *w = ctx;
    w->err = w->fn(w->ctx, a, an);
    if (!w->err)
        w->err = w->fn(w->ctx, b, bn);
    return w->err ? 1 : 0;
}

static int
walk_witness(void *ctx, const uint8_t *p, size_t n)
{
    walk *w = ctx;
    w->err = w->fn(w->ctx, p, n);
    return w->err ? 1 : 0;
}

/* Chains in (account, seq) order. */
static int
walk_chains(ledger *l, bytes_fn fn, void *ctx)
{
    acc_list accs = {0};
    int rc = ledger_accounts(l, collect_account, &accs);
    walk w = {fn, ctx, 0};
    for (size_t i = 0; rc == 0 && i < accs.n; i++) {
        rc = ledger_history(l, accs.v[i], 0, 0, walk_entry, &w);
        if (rc > 0)
            rc = w.err;
    }
    aria_free(accs.v);
    return rc;
}

/* Fork proofs (both entries, in the order they were seen), then witnesses. */
static int
walk_proofs(ledger *l, bytes_fn fn, void *ctx)
{
    walk w = {fn, ctx, 0};
    int rc = ledger_forks(l, walk_fork, &w);
    if (rc > 0)
        rc = w.err;
    if (rc == 0) {
        rc = ledger__witnesses(l, walk_witness, &w);
        if (rc > 0)
            rc = w.err;
    }
    return rc;
}

static int
walk_all(ledger *l, bytes_fn fn, void *ctx)
{
    int rc = walk_chains(l, fn, ctx);
    return rc ? rc : walk_proofs(l, fn, ctx);
}

/* ------------------------------------------------------------------ */
/* Verify                                                               */
/* ------------------------------------------------------------------ */

typedef struct vctx {
    ledger *scratch;
    bool proofs; /* phase 2: fork proofs and witnesses may be refused */
    batch b;
    ledger_verify_report *rep;
    char first[200];
} vctx;

static int
v_flush(vctx *v)
{
    if (!v->b.n)
        return 0;
    ledger_result res[BATCH];
    int rc =
        ledger_apply_batch(v->scratch, (const uint8_t *const *)v->b.buf, v->b.len, v->b.n, res);
    if (rc == 0) {
        for (size_t i = 0; i < v->b.n; i++) {
            v->rep->entries++;
            ledger_reason r = res[i].reason;
            if (!v->proofs && r != LEDGER_APPLIED && r != LEDGER_HELD) {
                v->rep->rejected++;
                if (!v->first[0])
                    aria_snprintf(v->first, sizeof v->first, "a stored entry is now rejected (%s)",
                                  ledger_reason_name(r));
            }
        }
    }
    batch_clear(&v->b);
    return rc;
}

static int
v_add(void *ctx, const uint8_t *p, size_t n)
{
    vctx *v = ctx;
    int rc = batch_add(&v->b, p, n);
    if (rc == 0 && v->b.n == BATCH)
        rc = v_flush(v);
    return rc;
}

typedef struct cmpctx {
    ledger *scratch;
    ledger_verify_report *rep;
    char *first;
    size_t first_size;
} cmpctx;

static int
v_compare(void *ctx, const ledger_account_info *a)
{
    cmpctx *c = ctx;
    ledger_account_info b;
    int rc = ledger_account(c->scratch, a->account, &b);
    if (rc)
        return rc;
    /* Only the live state must match: which of two forked entries sits in the
     * stored chain, and how far a chain runs past its void point, depend on
     * arrival order and change nothing (docs/ledger.md §5.1). */
    if (a->live_len != b.live_len || a->balance != b.balance ||
        memcmp(a->live_head, b.live_head, 32) != 0) {
        c->rep->mismatched++;
        if (!c->first[0]) {
            char hex[65];
            aria_hex_encode(hex, sizeof hex, a->account, 32);
            aria_snprintf(c->first, c->first_size,
                          "account %s: stored chain %llu live %llu balance %llu frozen %lld, "
                          "recomputed chain %llu live %llu balance %llu frozen %lld%s",
                          hex, (unsigned long long)a->chain_len, (unsigned long long)a->live_len,
                          (unsigned long long)a->balance, (long long)a->frozen_seq,
                          (unsigned long long)b.chain_len, (unsigned long long)b.live_len,
                          (unsigned long long)b.balance, (long long)b.frozen_seq,
                          memcmp(a->live_head, b.live_head, 32) ? " (live heads differ)" : "");
        }
    }
    return 0;
}

static void
remove_scratch(const char *dir)
{
    char p[4200];
    aria_snprintf(p, sizeof p, "%s/data.mdb", dir);
    unlink(p);
    aria_snprintf(p, sizeof p, "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

int
ledger_verify(ledger *l, ledger_verify_report *rep)
{
    memset(rep, 0, sizeof *rep);
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    aria_snprintf(dir, sizeof dir, "%s/aria-ledger-verify-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return aria_errf(ARIA_EIO, "ledger verify: cannot create a scratch directory in %s: %s",
                         tmp && *tmp ? tmp : "/tmp", strerror(errno));
    ledger_stats st;
    int rc = ledger_stats_get(l, &st);
    ledger_options o = *ledger__options(l);
    o.hold_max = (size_t)st.entries + 16;
    o.hold_ttl_ms = UINT64_MAX / 4;
    if (o.map_size_bytes < st.map_size_bytes)
        o.map_size_bytes = st.map_size_bytes;
    vctx v = {0};
    v.rep = rep;
    if (rc == 0)
        rc = ledger_open(dir, ledger__genesis(l), &o, &v.scratch);
    if (rc == 0)
        rc = walk_chains(l, v_add, &v);
    if (rc == 0)
        rc = v_flush(&v);
    v.proofs = true;
    if (rc == 0)
        rc = walk_proofs(l, v_add, &v);
    if (rc == 0)
        rc = v_flush(&v);
    batch_clear(&v.b);
    if (rc == 0) {
        cmpctx c = {v.scratch, rep, v.first, sizeof v.first};
        rc = ledger_accounts(l, v_compare, &c);
    }
    uint8_t h2[32];
    ledger_stats st2;
    if (rc == 0)
        rc = ledger_state_hash(l, rep->state_hash);
    if (rc == 0)
        rc = ledger_state_hash(v.scratch, h2);
    if (rc == 0)
        rc = ledger_stats_get(v.scratch, &st2);
    if (rc == 0)
        rc = ledger_supply_get(l, &rep->supply);
    if (rc == 0) {
        rep->hash_equal = memcmp(h2, rep->state_hash, 32) == 0;
        const ledger_supply *s = &rep->supply;
        rep->supply_ok = s->balances + s->in_flight + s->unclaimed == s->genesis_total;
        if (st2.accounts != st.accounts && !v.first[0])
            aria_snprintf(v.first, sizeof v.first, "%llu accounts stored, %llu recomputed",
                          (unsigned long long)st.accounts, (unsigned long long)st2.accounts);
        if (!rep->hash_equal && !v.first[0])
            aria_snprintf(v.first, sizeof v.first, "state hash differs from the recomputed one");
        if (!rep->supply_ok && !v.first[0])
            aria_snprintf(v.first, sizeof v.first,
                          "supply not conserved: balances %llu + in flight %llu + unclaimed %llu "
                          "!= genesis %llu",
                          (unsigned long long)s->balances, (unsigned long long)s->in_flight,
                          (unsigned long long)s->unclaimed, (unsigned long long)s->genesis_total);
        if (st2.accounts != st.accounts)
            rep->mismatched++;
    }
    ledger_close(v.scratch);
    remove_scratch(dir);
    if (rc)
        return rc;
    if (rep->rejected || rep->mismatched || !rep->hash_equal || !rep->supply_ok)
        return aria_errf(ARIA_EPROTO, "ledger verify: %s", v.first[0] ? v.first : "failed");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Export / import                                                      */
/* ------------------------------------------------------------------ */

typedef struct ectx {
    FILE *f;
    uint64_t n;
} ectx;

static int
e_write(void *ctx, const uint8_t *p, size_t n)
{
    ectx *e = ctx;
    uint8_t hdr[4];
    aria_store_u32le(hdr, (uint32_t)n);
    if (fwrite(hdr, 1, 4, e->f) != 4 || fwrite(p, 1, n, e->f) != n)
        return aria_errf(ARIA_EIO, "ledger export: write failed: %s", strerror(errno));
    e->n++;
    return 0;
}

int
ledger_export_file(ledger *l, const char *path, uint64_t *n_out)
{
    char tmp[4200];
    aria_snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return aria_errf(ARIA_EIO, "ledger export: cannot create %s: %s", tmp, strerror(errno));
    ectx e = {f, 0};
    int rc = fwrite(export_magic, 1, 8, f) == 8 ? 0 : aria_errf(ARIA_EIO, "ledger export: write");
    if (rc == 0)
        rc = walk_all(l, e_write, &e);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = rc ? rc : aria_errf(ARIA_EIO, "ledger export: cannot flush %s", tmp);
    if (fclose(f) != 0 && rc == 0)
        rc = aria_errf(ARIA_EIO, "ledger export: cannot close %s", tmp);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = aria_errf(ARIA_EIO, "ledger export: cannot rename to %s: %s", path, strerror(errno));
    if (rc)
        unlink(tmp);
    else if (n_out)
        *n_out = e.n;
    return rc;
}

static int
i_flush(ledger *l, batch *b, ledger_import_stats *st)
{
    if (!b->n)
        return 0;
    ledger_result res[BATCH];
    int rc = ledger_apply_batch(l, (const uint8_t *const *)b->buf, b->len, b->n, res);
    if (rc == 0) {
        for (size_t i = 0; i < b->n; i++) {
            switch (res[i].reason) {
            case LEDGER_APPLIED: st->applied++; break;
            case LEDGER_HELD: st->held++; break;
            case LEDGER_DUPLICATE: st->duplicate++; break;
            case LEDGER_FORK:
            case LEDGER_FROZEN: st->fork++; break;
            default: st->rejected++; break;
            }
        }
    }
    batch_clear(b);
    return rc;
}

int
ledger_import_file(ledger *l, const char *path, ledger_import_stats *st)
{
    memset(st, 0, sizeof *st);
    FILE *f = fopen(path, "rb");
    if (!f)
        return aria_errf(ARIA_EIO, "ledger import: cannot open %s: %s", path, strerror(errno));
    char magic[8];
    int rc = 0;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, export_magic, 8) != 0)
        rc = aria_errf(ARIA_EPROTO, "ledger import: %s is not a ledger export (bad magic)", path);
    batch b = {0};
    uint8_t buf[LEDGER_ENTRY_MAX_BYTES];
    uint64_t off = 8;
    while (rc == 0) {
        uint8_t hdr[4];
        size_t got = fread(hdr, 1, 4, f);
        if (got == 0 && feof(f))
            break;
        if (got != 4) {
            rc = aria_errf(ARIA_EPROTO, "ledger import: %s: truncated frame header at byte %llu",
                           path, (unsigned long long)off);
            break;
        }
        uint32_t n = aria_load_u32le(hdr);
        if (n == 0 || n > LEDGER_ENTRY_MAX_BYTES) {
            rc = aria_errf(ARIA_EPROTO,
                           "ledger import: %s: frame of %u bytes at byte %llu "
                           "(limit %d)",
                           path, n, (unsigned long long)off, LEDGER_ENTRY_MAX_BYTES);
            break;
        }
        if (fread(buf, 1, n, f) != n) {
            rc = aria_errf(ARIA_EPROTO, "ledger import: %s: truncated entry at byte %llu", path,
                           (unsigned long long)off + 4);
            break;
        }
        off += 4 + n;
        st->total++;
        rc = batch_add(&b, buf, n);
        if (rc == 0 && b.n == BATCH)
            rc = i_flush(l, &b, st);
    }
    if (rc == 0)
        rc = i_flush(l, &b, st);
    batch_clear(&b);
    fclose(f);
    return rc;
}
