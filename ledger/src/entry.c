/*
 * entry.c — the entry codec: ledger_entry <-> canonical protobuf bytes,
 * signing and signature checks.
 *
 * Invariants:
 *  - Protobuf does not define one encoding per message, so the ledger does:
 *    the canonical bytes are what protobuf-c 1.4 writes (ascending field
 *    numbers, defaults omitted, minimal varints, no unknown fields). The
 *    decoder re-encodes every entry and rejects any byte difference.
 *  - The signature is field 15, the last field, always 64 bytes, so a signed
 *    entry is exactly its signed bytes followed by 0x7a 0x40 and the 64
 *    signature bytes; the entry id is BLAKE2b-256 of the signed bytes. Two
 *    signatures over the same content therefore give the same id.
 *  - Decoding touches no ledger state and is safe on any bytes (fuzzed).
 */
#include <string.h>

#include "entry.pb-c.h"
#include "ledger_int.h"

#define SIG_TRAILER_BYTES (2 + WALLET_SIG_BYTES) /* tag 0x7a, length 0x40, signature */

static void *
pb_alloc(void *ctx, size_t n)
{
    ARIA_UNUSED(ctx);
    return aria_alloc(n);
}

static void
pb_free(void *ctx, void *p)
{
    ARIA_UNUSED(ctx);
    aria_free(p);
}

static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

/* Why the last decode on this thread failed (for apply's reason codes). */
static _Thread_local ledger_reason decode_why;

ledger_reason
ledger__last_decode_reason(void)
{
    return decode_why;
}

const char *
ledger_kind_name(ledger_kind k)
{
    switch (k) {
    case LEDGER_KIND_GENESIS: return "genesis";
    case LEDGER_KIND_SEND: return "send";
    case LEDGER_KIND_RECEIVE: return "receive";
    }
    return "unknown";
}

static bool
all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static bool
model_id_ok(const char *s, size_t n)
{
    if (n == 0 || n > LEDGER_MODEL_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

/* Kind-specific field rules shared by the encoder (caller bugs become
 * ARIA_EINVAL) and the decoder (ARIA_EPROTO). */
static int
check_fields(const ledger_entry *e, int err)
{
    if (e->seq == 0 && !all_zero(e->prev, 32))
        return aria_errf(err, "entry: prev must be absent for seq 0");
    if (e->seq != 0 && all_zero(e->prev, 32))
        return aria_errf(err, "entry: prev missing for seq %llu", (unsigned long long)e->seq);
    if (e->seq == LEDGER_SEQ_NONE)
        return aria_errf(err, "entry: seq out of range");
    switch (e->kind) {
    case LEDGER_KIND_GENESIS:
        if (e->seq != 0)
            return aria_errf(err, "entry: genesis entry must have seq 0");
        if (e->amount == 0)
            return aria_errf(err, "entry: genesis amount must be > 0");
        if (e->n_sources || e->has_receipt || !all_zero(e->to, 32))
            return aria_errf(err, "entry: genesis entry may only carry an amount");
        break;
    case LEDGER_KIND_SEND:
        if (e->amount == 0)
            return aria_errf(err, "entry: send amount must be > 0");
        if (e->amount > LEDGER_SUPPLY_MAX)
            return aria_errf(err, "entry: send amount over the supply cap");
        if (all_zero(e->to, 32))
            return aria_errf(err, "entry: send without recipient ('to')");
        if (memcmp(e->to, e->account, 32) == 0)
            return aria_errf(err, "entry: send to the sending account itself");
        if (e->n_sources)
            return aria_errf(err, "entry: send may not list sources");
        if (e->has_receipt) {
            size_t n = strnlen(e->receipt.model_id, sizeof e->receipt.model_id);
            if (!model_id_ok(e->receipt.model_id, n))
                return aria_errf(err, "entry: receipt model_id must be 1..%d printable ASCII bytes",
                                 LEDGER_MODEL_ID_MAX);
        }
        break;
    case LEDGER_KIND_RECEIVE:
        if (e->amount != 0 || e->has_receipt || !all_zero(e->to, 32))
            return aria_errf(err, "entry: receive may only list sources");
        if (e->n_sources == 0 || e->n_sources > LEDGER_MAX_SOURCES)
            return aria_errf(err, "entry: receive needs 1..%d sources, has %u", LEDGER_MAX_SOURCES,
                             e->n_sources);
        for (uint32_t i = 1; i < e->n_sources; i++)
            if (memcmp(e->sources[i - 1], e->sources[i], 32) >= 0)
                return aria_errf(err,
                                 "entry: receive sources must be strictly ascending "
                                 "(source %u)",
                                 i);
        break;
    default: return aria_errf(err, "entry: unknown kind %d", (int)e->kind);
    }
    return 0;
}

int
ledger_entry_encode(const ledger_entry *e, bool with_sig, aria_buf *out)
{
    int rc = check_fields(e, ARIA_EINVAL);
    if (rc)
        return rc;
    Aria__Ledger__Entry m = ARIA__LEDGER__ENTRY__INIT;
    Aria__Ledger__Receipt r = ARIA__LEDGER__RECEIPT__INIT;
    ProtobufCBinaryData srcs[LEDGER_MAX_SOURCES];
    m.version = 1;
    m.network = (ProtobufCBinaryData){32, (uint8_t *)e->network};
    m.account = (ProtobufCBinaryData){32, (uint8_t *)e->account};
    m.seq = e->seq;
    if (e->seq)
        m.prev = (ProtobufCBinaryData){32, (uint8_t *)e->prev};
    m.created_ms = e->created_ms;
    m.kind = (Aria__Ledger__Kind)e->kind;
    m.amount = e->amount;
    if (e->kind == LEDGER_KIND_SEND)
        m.to = (ProtobufCBinaryData){32, (uint8_t *)e->to};
    if (e->kind == LEDGER_KIND_RECEIVE) {
        for (uint32_t i = 0; i < e->n_sources; i++)
            srcs[i] = (ProtobufCBinaryData){32, (uint8_t *)e->sources[i]};
        m.n_sources = e->n_sources;
        m.sources = srcs;
    }
    if (e->kind == LEDGER_KIND_SEND && e->has_receipt) {
        r.job_id = (ProtobufCBinaryData){32, (uint8_t *)e->receipt.job_id};
        r.model_id = (char *)e->receipt.model_id;
        r.tokens_in = e->receipt.tokens_in;
        r.tokens_out = e->receipt.tokens_out;
        r.price_micro = e->receipt.price_micro;
        r.output_hash = (ProtobufCBinaryData){32, (uint8_t *)e->receipt.output_hash};
        r.provider_sig = (ProtobufCBinaryData){64, (uint8_t *)e->receipt.provider_sig};
        m.receipt = &r;
    }
    if (with_sig)
        m.signature = (ProtobufCBinaryData){64, (uint8_t *)e->signature};
    size_t n = aria__ledger__entry__get_packed_size(&m);
    if (n > LEDGER_ENTRY_MAX_BYTES)
        return aria_errf(ARIA_EINVAL, "entry: encoding is %zu bytes, limit %d", n,
                         LEDGER_ENTRY_MAX_BYTES);
    rc = aria_buf_reserve(out, n);
    if (rc)
        return rc;
    size_t w = aria__ledger__entry__pack(&m, out->data + out->len);
    ARIA_ASSERT(w == n);
    out->len += n;
    return 0;
}

static int
bin_exact(const ProtobufCBinaryData *b, size_t want, uint8_t *dst, const char *field)
{
    decode_why = b->len > want ? LEDGER_OVERSIZE : LEDGER_BAD_FIELD;
    if (b->len != want)
        return aria_errf(ARIA_EPROTO, "entry: field '%s' is %zu bytes, must be %zu", field, b->len,
                         want);
    memcpy(dst, b->data, want);
    return 0;
}

/* Fill `e` from a message; 0 or ARIA_EPROTO. */
static int
from_message(const Aria__Ledger__Entry *m, ledger_entry *e)
{
    int rc;
    memset(e, 0, sizeof *e);
    decode_why = LEDGER_MALFORMED;
    if (m->base.n_unknown_fields)
        return aria_errf(ARIA_EPROTO, "entry: unknown field (number %u)",
                         m->base.unknown_fields[0].tag);
    if (m->version != 1)
        return aria_errf(ARIA_EPROTO, "entry: version %u, this node reads version 1", m->version);
    if ((rc = bin_exact(&m->network, 32, e->network, "network")) ||
        (rc = bin_exact(&m->account, 32, e->account, "account")) ||
        (rc = bin_exact(&m->signature, 64, e->signature, "signature")))
        return rc;
    e->seq = m->seq;
    if (m->prev.len && (rc = bin_exact(&m->prev, 32, e->prev, "prev")))
        return rc;
    e->created_ms = m->created_ms;
    e->kind = (ledger_kind)m->kind;
    e->amount = m->amount;
    if (m->to.len && (rc = bin_exact(&m->to, 32, e->to, "to")))
        return rc;
    decode_why = LEDGER_OVERSIZE;
    if (m->n_sources > LEDGER_MAX_SOURCES)
        return aria_errf(ARIA_EPROTO, "entry: %zu sources, limit %d", m->n_sources,
                         LEDGER_MAX_SOURCES);
    e->n_sources = (uint32_t)m->n_sources;
    for (size_t i = 0; i < m->n_sources; i++)
        if ((rc = bin_exact(&m->sources[i], 32, e->sources[i], "sources")))
            return rc;
    if (m->receipt) {
        const Aria__Ledger__Receipt *r = m->receipt;
        decode_why = LEDGER_MALFORMED;
        if (r->base.n_unknown_fields)
            return aria_errf(ARIA_EPROTO, "entry: unknown receipt field (number %u)",
                             r->base.unknown_fields[0].tag);
        e->has_receipt = true;
        if ((rc = bin_exact(&r->job_id, 32, e->receipt.job_id, "receipt.job_id")) ||
            (rc = bin_exact(&r->output_hash, 32, e->receipt.output_hash, "receipt.output_hash")) ||
            (rc = bin_exact(&r->provider_sig, 64, e->receipt.provider_sig, "receipt.provider_sig")))
            return rc;
        size_t n = strlen(r->model_id);
        decode_why = n > LEDGER_MODEL_ID_MAX ? LEDGER_OVERSIZE : LEDGER_BAD_FIELD;
        if (!model_id_ok(r->model_id, n))
            return aria_errf(ARIA_EPROTO,
                             "entry: receipt model_id must be 1..%d printable ASCII bytes",
                             LEDGER_MODEL_ID_MAX);
        memcpy(e->receipt.model_id, r->model_id, n + 1);
        e->receipt.tokens_in = r->tokens_in;
        e->receipt.tokens_out = r->tokens_out;
        e->receipt.price_micro = r->price_micro;
    }
    decode_why = LEDGER_BAD_FIELD;
    return check_fields(e, ARIA_EPROTO);
}

int
ledger__decode_stored(const uint8_t *bytes, size_t len, ledger_entry *out)
{
    if (len > LEDGER_ENTRY_MAX_BYTES || len < SIG_TRAILER_BYTES)
        return ARIA_EPROTO;
    Aria__Ledger__Entry *m = aria__ledger__entry__unpack(&pb_allocator, len, bytes);
    if (!m)
        return ARIA_EPROTO;
    int rc = from_message(m, out);
    aria__ledger__entry__free_unpacked(m, &pb_allocator);
    return rc;
}

int
ledger_entry_decode(const uint8_t *bytes, size_t len, ledger_entry *out, uint8_t id_out[32])
{
    decode_why = LEDGER_OVERSIZE;
    if (len > LEDGER_ENTRY_MAX_BYTES)
        return aria_errf(ARIA_ERANGE, "entry: %zu bytes, limit %d", len, LEDGER_ENTRY_MAX_BYTES);
    decode_why = LEDGER_MALFORMED;
    if (len < SIG_TRAILER_BYTES)
        return aria_errf(ARIA_EPROTO, "entry: %zu bytes is too short", len);
    Aria__Ledger__Entry *m = aria__ledger__entry__unpack(&pb_allocator, len, bytes);
    if (!m)
        return aria_errf(ARIA_EPROTO, "entry: bytes are not a protobuf Entry message");
    int rc = from_message(m, out);
    if (rc == 0) {
        decode_why = LEDGER_MALFORMED;
        /* Canonical form: the re-encoding must give the same bytes. */
        uint8_t again[LEDGER_ENTRY_MAX_BYTES];
        size_t n = aria__ledger__entry__get_packed_size(m);
        if (n != len || aria__ledger__entry__pack(m, again) != len ||
            memcmp(again, bytes, len) != 0)
            rc = aria_errf(ARIA_EPROTO, "entry: non-canonical encoding (field order, defaults, "
                                        "repeated or over-long fields)");
    }
    aria__ledger__entry__free_unpacked(m, &pb_allocator);
    if (rc)
        return rc;
    /* Canonical and signature present => the last 66 bytes are the signature field. */
    ARIA_ASSERT(bytes[len - SIG_TRAILER_BYTES] == 0x7a &&
                bytes[len - SIG_TRAILER_BYTES + 1] == 0x40);
    if (id_out)
        wallet_hash(id_out, bytes, len - SIG_TRAILER_BYTES);
    return 0;
}

int
ledger_entry_sign(ledger_entry *e, const wallet *w, aria_buf *out, uint8_t id_out[32])
{
    wallet_account_id(w, e->account);
    aria_buf unsigned_bytes;
    aria_buf_init(&unsigned_bytes, LEDGER_ENTRY_MAX_BYTES);
    int rc = ledger_entry_encode(e, false, &unsigned_bytes);
    if (rc == 0)
        rc = wallet_sign(w, LEDGER_SIG_PURPOSE_ENTRY, unsigned_bytes.data, unsigned_bytes.len,
                         e->signature);
    if (rc == 0 && id_out)
        wallet_hash(id_out, unsigned_bytes.data, unsigned_bytes.len);
    aria_buf_fini(&unsigned_bytes);
    if (rc == 0)
        rc = ledger_entry_encode(e, true, out);
    return rc;
}

size_t
ledger_receipt_sign_bytes(const uint8_t network[32], const ledger_receipt *r,
                          uint8_t out[LEDGER_RECEIPT_SIGN_MAX])
{
    size_t n = strnlen(r->model_id, sizeof r->model_id);
    ARIA_ASSERT(n <= LEDGER_MODEL_ID_MAX);
    uint8_t *p = out;
    memcpy(p, network, 32);
    memcpy(p + 32, r->job_id, 32);
    memcpy(p + 64, r->output_hash, 32);
    aria_store_u64le(p + 96, r->tokens_in);
    aria_store_u64le(p + 104, r->tokens_out);
    aria_store_u64le(p + 112, r->price_micro);
    p[120] = (uint8_t)n;
    memcpy(p + 121, r->model_id, n);
    return 121 + n;
}

int
ledger_receipt_sign(const uint8_t network[32], ledger_receipt *r, const wallet *provider)
{
    uint8_t msg[LEDGER_RECEIPT_SIGN_MAX];
    size_t n = ledger_receipt_sign_bytes(network, r, msg);
    return wallet_sign(provider, LEDGER_SIG_PURPOSE_RECEIPT, msg, n, r->provider_sig);
}

int
ledger_entry_verify_sigs(const ledger_entry *e)
{
    aria_buf b;
    aria_buf_init(&b, 0);
    int rc = ledger_entry_encode(e, true, &b);
    if (rc == 0) {
        ledger_reason why;
        rc = ledger__verify_bytes(e, b.data, b.len, &why);
    }
    aria_buf_fini(&b);
    return rc;
}

int
ledger_entry_check(const uint8_t *bytes, size_t len, ledger_entry *out, uint8_t id_out[32])
{
    int rc = ledger_entry_decode(bytes, len, out, id_out);
    if (rc == 0) {
        ledger_reason why;
        rc = ledger__verify_bytes(out, bytes, len, &why);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Parsed-key cache                                                     */
/* ------------------------------------------------------------------ */

/* Direct-mapped on the id's first bytes (ids are x coordinates: uniform).
 * Only keys that parsed are stored; public data only. */
#define PK_SLOTS 1024
typedef struct pk_slot {
    uint8_t id[WALLET_ID_BYTES];
    bool used;
    wallet_pubkey pk;
} pk_slot;
struct ledger_pk_cache {
    pk_slot slot[PK_SLOTS];
};

ledger_pk_cache *
ledger__pk_cache_new(void)
{
    return aria_calloc(1, sizeof(ledger_pk_cache));
}

void
ledger__pk_cache_free(ledger_pk_cache *c)
{
    aria_free(c);
}

/* 0, or nonzero if `id` is not a valid key. */
static int
pk_get(ledger_pk_cache *c, const uint8_t id[WALLET_ID_BYTES], const wallet_pubkey **out)
{
    pk_slot *s = &c->slot[((size_t)id[0] | (size_t)id[1] << 8) % PK_SLOTS];
    if (!s->used || memcmp(s->id, id, WALLET_ID_BYTES) != 0) {
        wallet_pubkey pk;
        if (wallet_pubkey_parse(id, &pk) != 0)
            return ARIA_EINVAL;
        memcpy(s->id, id, WALLET_ID_BYTES);
        s->pk = pk;
        s->used = true;
    }
    *out = &s->pk;
    return 0;
}

static int
verify_one(ledger_pk_cache *c, const uint8_t id[WALLET_ID_BYTES], const char *purpose,
           const uint8_t *msg, size_t len, const uint8_t sig[WALLET_SIG_BYTES])
{
    if (!c)
        return wallet_verify(id, purpose, msg, len, sig);
    const wallet_pubkey *pk;
    int rc = pk_get(c, id, &pk);
    return rc ? rc : wallet_verify_parsed(pk, purpose, msg, len, sig);
}

int
ledger__verify_bytes(const ledger_entry *e, const uint8_t *bytes, size_t len, ledger_reason *why)
{
    return ledger__verify_bytes_cached(NULL, e, bytes, len, why);
}

/* Fast path used by apply: the signed bytes are the prefix of the entry bytes. */
int
ledger__verify_bytes_cached(ledger_pk_cache *c, const ledger_entry *e, const uint8_t *bytes,
                            size_t len, ledger_reason *why)
{
    if (verify_one(c, e->account, LEDGER_SIG_PURPOSE_ENTRY, bytes, len - SIG_TRAILER_BYTES,
                   e->signature)) {
        *why = LEDGER_BAD_SIGNATURE;
        return aria_errf(ARIA_ECRYPTO,
                         "entry: signature does not verify (account %02x%02x%02x%02x"
                         "... seq %llu)",
                         e->account[0], e->account[1], e->account[2], e->account[3],
                         (unsigned long long)e->seq);
    }
    if (e->kind == LEDGER_KIND_SEND && e->has_receipt) {
        uint8_t msg[LEDGER_RECEIPT_SIGN_MAX];
        size_t n = ledger_receipt_sign_bytes(e->network, &e->receipt, msg);
        if (verify_one(c, e->to, LEDGER_SIG_PURPOSE_RECEIPT, msg, n, e->receipt.provider_sig)) {
            *why = LEDGER_BAD_RECEIPT;
            return aria_errf(ARIA_ECRYPTO, "entry: receipt signature does not verify for the "
                                           "provider (the send's recipient)");
        }
    }
    return 0;
}

/* All signature checks of a batch in one wallet_verify_batch call. Keys are
 * copied out of the cache: a later lookup in the same batch may reuse the
 * slot. Receipt messages are rebuilt into one buffer. */
void
ledger__verify_many(ledger_pk_cache *c, size_t n, const ledger_entry *es,
                    const uint8_t *const *bytes, const size_t *lens, const bool *check,
                    uint8_t *maybe_bad)
{
    size_t nsig = 0, nrc = 0;
    for (size_t i = 0; i < n; i++) {
        maybe_bad[i] = 0;
        if (!check[i])
            continue;
        nsig++;
        if (es[i].kind == LEDGER_KIND_SEND && es[i].has_receipt) {
            nsig++;
            nrc++;
        }
    }
    if (nsig == 0)
        return;
    wallet_pubkey *keys = aria_alloc_array(nsig, sizeof *keys);
    wallet_batch_item *items = aria_alloc_array(nsig, sizeof *items);
    uint32_t *owner = aria_alloc_array(nsig, sizeof *owner);
    uint8_t *ok = aria_alloc(nsig);
    uint8_t *rmsg = aria_alloc_array(nrc ? nrc : 1, LEDGER_RECEIPT_SIGN_MAX);
    if (!keys || !items || !owner || !ok || !rmsg) {
        /* no memory: every entry goes the one-by-one way */
        for (size_t i = 0; i < n; i++)
            maybe_bad[i] = check[i];
        goto out;
    }
    size_t k = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        if (!check[i])
            continue;
        const ledger_entry *e = &es[i];
        const wallet_pubkey *pk;
        if (pk_get(c, e->account, &pk) != 0) {
            maybe_bad[i] = 1;
        } else {
            keys[k] = *pk;
            items[k] = (wallet_batch_item){&keys[k], LEDGER_SIG_PURPOSE_ENTRY, bytes[i],
                                           lens[i] - SIG_TRAILER_BYTES, e->signature};
            owner[k++] = (uint32_t)i;
        }
        if (e->kind == LEDGER_KIND_SEND && e->has_receipt) {
            if (pk_get(c, e->to, &pk) != 0) {
                maybe_bad[i] = 1;
                continue;
            }
            uint8_t *m = rmsg + (size_t)LEDGER_RECEIPT_SIGN_MAX * r++;
            size_t mlen = ledger_receipt_sign_bytes(e->network, &e->receipt, m);
            keys[k] = *pk;
            items[k] = (wallet_batch_item){&keys[k], LEDGER_SIG_PURPOSE_RECEIPT, m, mlen,
                                           e->receipt.provider_sig};
            owner[k++] = (uint32_t)i;
        }
    }
    if (wallet_verify_batch(k, items, ok) != 0) {
        for (size_t j = 0; j < k; j++)
            if (!ok[j])
                maybe_bad[owner[j]] = 1;
    }
out:
    aria_free(keys);
    aria_free(items);
    aria_free(owner);
    aria_free(ok);
    aria_free(rmsg);
}
