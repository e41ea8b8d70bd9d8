/*
 * genesis.c — parser for the genesis file, a small fixed JSON subset (the
 * ledger does not link jansson; node owns it). Grammar in docs/ledger.md:
 * one object with "name" (string), optional "timestamp_ms" (integer) and
 * "allocations" (array of {"account": string, "amount": integer}). Strings
 * have no escapes; integers are plain decimal without sign, fraction or
 * leading zeros. Anything else is rejected with the byte offset.
 *
 * Invariants: the parser never recurses and never reads past `len`; the
 * network id is BLAKE2b-256 of the exact file bytes, so two files that differ
 * in a single space are two networks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ledger_int.h"

typedef struct jp {
    const char *s;
    size_t n, off;
} jp;

static void
ws(jp *p)
{
    while (p->off < p->n && (p->s[p->off] == ' ' || p->s[p->off] == '\t' || p->s[p->off] == '\n' ||
                             p->s[p->off] == '\r'))
        p->off++;
}

static int
expect(jp *p, char c)
{
    ws(p);
    if (p->off >= p->n || p->s[p->off] != c)
        return aria_errf(ARIA_EPROTO, "genesis: expected '%c' at byte %zu", c, p->off);
    p->off++;
    return 0;
}

/* Peek the next non-space character (0 at the end). */
static char
peek(jp *p)
{
    ws(p);
    return p->off < p->n ? p->s[p->off] : 0;
}

/* A string without escapes: borrow [*str, *str + *len). */
static int
string(jp *p, const char **str, size_t *len)
{
    int rc = expect(p, '"');
    if (rc)
        return rc;
    size_t start = p->off;
    while (p->off < p->n && p->s[p->off] != '"') {
        unsigned char c = (unsigned char)p->s[p->off];
        if (c == '\\' || c < 0x20)
            return aria_errf(ARIA_EPROTO,
                             "genesis: escapes and control characters are not allowed in "
                             "strings (byte %zu)",
                             p->off);
        p->off++;
    }
    if (p->off >= p->n)
        return aria_errf(ARIA_EPROTO, "genesis: unterminated string starting at byte %zu",
                         start - 1);
    *str = p->s + start;
    *len = p->off - start;
    p->off++;
    return 0;
}

static int
integer(jp *p, uint64_t *v)
{
    ws(p);
    size_t start = p->off;
    uint64_t x = 0;
    while (p->off < p->n && p->s[p->off] >= '0' && p->s[p->off] <= '9') {
        unsigned d = (unsigned)(p->s[p->off] - '0');
        if (x > (LEDGER_SUPPLY_MAX - d) / 10)
            return aria_errf(ARIA_EPROTO, "genesis: integer at byte %zu is over 2^62", start);
        x = x * 10 + d;
        p->off++;
    }
    size_t nd = p->off - start;
    if (nd == 0)
        return aria_errf(ARIA_EPROTO, "genesis: expected an unsigned integer at byte %zu", start);
    if (nd > 1 && p->s[start] == '0')
        return aria_errf(ARIA_EPROTO, "genesis: leading zero in integer at byte %zu", start);
    if (p->off < p->n && (p->s[p->off] == '.' || p->s[p->off] == 'e' || p->s[p->off] == 'E'))
        return aria_errf(ARIA_EPROTO, "genesis: only whole numbers are allowed (byte %zu)", p->off);
    *v = x;
    return 0;
}

static bool
key_is(const char *k, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(k, want, n) == 0;
}

static int
allocation(jp *p, ledger_genesis *g, size_t cap)
{
    int rc = expect(p, '{');
    if (rc)
        return rc;
    size_t at = p->off;
    bool have_acct = false, have_amount = false;
    ledger_alloc a = {{0}, 0};
    if (peek(p) != '}') {
        for (;;) {
            const char *k;
            size_t kn;
            if ((rc = string(p, &k, &kn)) || (rc = expect(p, ':')))
                return rc;
            if (key_is(k, kn, "account") && !have_acct) {
                const char *v;
                size_t vn;
                char tmp[WALLET_ADDRESS_MAX + 1];
                size_t vat = p->off;
                if ((rc = string(p, &v, &vn)))
                    return rc;
                if (vn >= sizeof tmp)
                    return aria_errf(ARIA_EPROTO, "genesis: account at byte %zu is too long", vat);
                memcpy(tmp, v, vn);
                tmp[vn] = 0;
                if (wallet_account_parse(tmp, a.account))
                    return aria_errf(ARIA_EPROTO,
                                     "genesis: account at byte %zu is neither 64 hex digits nor "
                                     "an address",
                                     vat);
                have_acct = true;
            } else if (key_is(k, kn, "amount") && !have_amount) {
                if ((rc = integer(p, &a.amount)))
                    return rc;
                have_amount = true;
            } else {
                return aria_errf(ARIA_EPROTO,
                                 "genesis: unknown or repeated key '%.*s' in allocation at byte "
                                 "%zu",
                                 (int)(kn > 40 ? 40 : kn), k, at);
            }
            if (peek(p) == ',') {
                p->off++;
                continue;
            }
            break;
        }
    }
    if ((rc = expect(p, '}')))
        return rc;
    if (!have_acct || !have_amount)
        return aria_errf(ARIA_EPROTO, "genesis: allocation at byte %zu needs account and amount",
                         at);
    if (a.amount == 0)
        return aria_errf(ARIA_EPROTO, "genesis: allocation at byte %zu has amount 0", at);
    for (size_t i = 0; i < g->n_allocs; i++)
        if (memcmp(g->allocs[i].account, a.account, 32) == 0)
            return aria_errf(ARIA_EPROTO, "genesis: account at byte %zu is allocated twice", at);
    if (g->n_allocs >= cap)
        return aria_errf(ARIA_EPROTO, "genesis: more than %d allocations",
                         LEDGER_GENESIS_MAX_ALLOCS);
    if (g->total + a.amount > LEDGER_SUPPLY_MAX)
        return aria_errf(ARIA_EPROTO, "genesis: total supply over 2^62 at byte %zu", at);
    g->total += a.amount;
    g->allocs[g->n_allocs++] = a;
    return 0;
}

static int
parse(jp *p, ledger_genesis *g, size_t cap)
{
    bool have_name = false, have_ts = false, have_allocs = false;
    int rc = expect(p, '{');
    if (rc)
        return rc;
    if (peek(p) != '}') {
        for (;;) {
            const char *k;
            size_t kn;
            size_t at = p->off;
            if ((rc = string(p, &k, &kn)) || (rc = expect(p, ':')))
                return rc;
            if (key_is(k, kn, "name") && !have_name) {
                const char *v;
                size_t vn;
                if ((rc = string(p, &v, &vn)))
                    return rc;
                if (vn == 0 || vn >= sizeof g->name)
                    return aria_errf(ARIA_EPROTO, "genesis: name must be 1..64 bytes");
                memcpy(g->name, v, vn);
                g->name[vn] = 0;
                have_name = true;
            } else if (key_is(k, kn, "timestamp_ms") && !have_ts) {
                if ((rc = integer(p, &g->timestamp_ms)))
                    return rc;
                have_ts = true;
            } else if (key_is(k, kn, "allocations") && !have_allocs) {
                if ((rc = expect(p, '[')))
                    return rc;
                if (peek(p) != ']') {
                    for (;;) {
                        if ((rc = allocation(p, g, cap)))
                            return rc;
                        if (peek(p) == ',') {
                            p->off++;
                            continue;
                        }
                        break;
                    }
                }
                if ((rc = expect(p, ']')))
                    return rc;
                have_allocs = true;
            } else {
                return aria_errf(ARIA_EPROTO, "genesis: unknown or repeated key '%.*s' at byte %zu",
                                 (int)(kn > 40 ? 40 : kn), k, at);
            }
            if (peek(p) == ',') {
                p->off++;
                continue;
            }
            break;
        }
    }
    if ((rc = expect(p, '}')))
        return rc;
    ws(p);
    if (p->off != p->n)
        return aria_errf(ARIA_EPROTO, "genesis: trailing bytes after the object at byte %zu",
                         p->off);
    if (!have_name || !have_allocs)
        return aria_errf(ARIA_EPROTO, "genesis: keys 'name' and 'allocations' are required");
    if (g->n_allocs == 0)
        return aria_errf(ARIA_EPROTO, "genesis: 'allocations' is empty");
    return 0;
}

int
ledger_genesis_parse(const void *json, size_t len, ledger_genesis **out)
{
    *out = NULL;
    if (len > LEDGER_GENESIS_MAX_BYTES)
        return aria_errf(ARIA_ERANGE, "genesis: file is %zu bytes, limit %u", len,
                         LEDGER_GENESIS_MAX_BYTES);
    /* An allocation takes at least 27 bytes, which bounds the array. */
    size_t cap = len / 27 + 1;
    if (cap > LEDGER_GENESIS_MAX_ALLOCS)
        cap = LEDGER_GENESIS_MAX_ALLOCS;
    ledger_genesis *g = aria_calloc(1, sizeof *g);
    if (!g)
        return ARIA_ENOMEM;
    g->allocs = aria_alloc_array(cap, sizeof *g->allocs);
    g->bytes = aria_alloc(len);
    if (!g->allocs || !g->bytes) {
        ledger_genesis_free(g);
        return ARIA_ENOMEM;
    }
    memcpy(g->bytes, json, len);
    g->len = len;
    jp p = {(const char *)g->bytes, len, 0};
    int rc = parse(&p, g, cap);
    if (rc) {
        ledger_genesis_free(g);
        return rc;
    }
    wallet_hash(g->network_id, g->bytes, g->len);
    *out = g;
    return 0;
}

int
ledger_genesis_load(const char *path, ledger_genesis **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return aria_errf(ARIA_EIO, "genesis: cannot open %s: %s", path, strerror(errno));
    uint8_t *buf = aria_alloc(LEDGER_GENESIS_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return ARIA_ENOMEM;
    }
    size_t n = fread(buf, 1, LEDGER_GENESIS_MAX_BYTES + 1, f);
    int err = ferror(f);
    fclose(f);
    int rc;
    if (err)
        rc = aria_errf(ARIA_EIO, "genesis: read error on %s", path);
    else if (n > LEDGER_GENESIS_MAX_BYTES)
        rc = aria_errf(ARIA_ERANGE, "genesis: %s is over %u bytes", path, LEDGER_GENESIS_MAX_BYTES);
    else
        rc = ledger_genesis_parse(buf, n, out);
    if (rc && rc != ARIA_ENOMEM && rc != ARIA_EIO && rc != ARIA_ERANGE) {
        char msg[256];
        aria_snprintf(msg, sizeof msg, "%s", aria_err_msg());
        rc = aria_errf(rc, "%s: %s", path, msg);
    }
    aria_free(buf);
    return rc;
}

void
ledger_genesis_free(ledger_genesis *g)
{
    if (!g)
        return;
    aria_free(g->allocs);
    aria_free(g->bytes);
    aria_free(g);
}
