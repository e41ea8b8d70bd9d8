/*
 * wire_msg.c — encode/decode of the envelope and every body type between
 * protobuf-c (aria.proto) and the plain structs of wire_msg.h, plus the
 * fixed "signed bytes" serializations that signatures and ids cover.
 *
 * Invariants: every decoder enforces the limits of wire_msg.h before it
 * hands anything out; protobuf-c allocates through aria_alloc (so tests can
 * fail allocations); unknown fields are rejected; nothing here asserts on
 * outside bytes.
 */
#include <string.h>

#include "aria.pb-c.h"
#include "wire_msg.h"

/* ------------------------------------------------------------------ */
/* protobuf-c allocator through the ARIA seam                           */
/* ------------------------------------------------------------------ */
static void *
pb_alloc(void *ad, size_t n)
{
    (void)ad;
    return aria_alloc(n);
}
static void
pb_free(void *ad, void *p)
{
    (void)ad;
    aria_free(p);
}
static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

static const char *const type_names[] = {
    "none",          "peer_record",   "job_offer",      "bid",        "award",
    "chunk_request", "chunk",         "ledger_entries", "fork_proof", "sync_request",
    "sync_reply",    "peers_request", "peers_reply",    "ack",
};

const char *
wire_type_name(uint32_t type)
{
    if (type >= 1 && type <= WIRE_T_MAX_)
        return type_names[type];
    return "unknown";
}

/* ------------------------------------------------------------------ */
/* Field checks                                                         */
/* ------------------------------------------------------------------ */
static int
need_len(const ProtobufCBinaryData *b, size_t n, const char *what)
{
    if (b->len != n)
        return aria_errf(ARIA_EPROTO, "wire: %s is %zu bytes, expected %zu", what, b->len, n);
    return 0;
}

static int
max_len(size_t have, size_t max, const char *what)
{
    if (have > max)
        return aria_errf(ARIA_EPROTO, "wire: %s is %zu long, limit %zu", what, have, max);
    return 0;
}

/* A printable-ASCII string shorter than `cap` (room for the NUL). Spaces
 * allowed only when `spaces`. */
static int
check_str(const char *s, size_t cap, bool spaces, const char *what)
{
    if (!s)
        return aria_errf(ARIA_EPROTO, "wire: %s missing", what);
    size_t n = strnlen(s, cap);
    if (n >= cap)
        return aria_errf(ARIA_EPROTO, "wire: %s longer than %zu bytes", what, cap - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c > 0x7e || c < 0x20 || (c == 0x20 && !spaces))
            return aria_errf(ARIA_EPROTO, "wire: %s has a non-printable byte at %zu", what, i);
    }
    return 0;
}

static int
check_addr(const char *s, const char *what)
{
    int rc = check_str(s, WIRE_ADDR_MAX, false, what);
    if (rc)
        return rc;
    if (strncmp(s, "tcp://", 6) != 0 || s[6] == 0)
        return aria_errf(ARIA_EPROTO, "wire: %s \"%s\" is not a tcp:// URL", what, s);
    return 0;
}

/* An optional address: empty is fine. */
static int
check_opt_addr(const char *s, const char *what)
{
    if (s && s[0] == 0)
        return 0;
    return check_addr(s, what);
}

static int
no_unknown(const ProtobufCMessage *m, const char *what)
{
    if (m->n_unknown_fields)
        return aria_errf(ARIA_EPROTO, "wire: %s has %u unknown field(s)", what,
                         m->n_unknown_fields);
    return 0;
}

static ProtobufCBinaryData
bin(const void *p, size_t n)
{
    ProtobufCBinaryData b = {n, (uint8_t *)(uintptr_t)p};
    return b;
}

static char *
str_or_empty(const char *s)
{
    return (char *)(uintptr_t)(s ? s : "");
}

/* Pack any protobuf-c message into a fresh aria_alloc buffer. */
static int
pack_any(const ProtobufCMessage *m, size_t max, uint8_t **out, size_t *out_len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    if (n > max)
        return aria_errf(ARIA_ERANGE, "wire: encoded %s is %zu bytes, limit %zu",
                         m->descriptor->short_name, n, max);
    uint8_t *p = aria_alloc(n);
    if (!p)
        return ARIA_ENOMEM;
    size_t w = protobuf_c_message_pack(m, p);
    if (w != n) {
        aria_free(p);
        return aria_errf(ARIA_EINTERNAL, "wire: packed %zu bytes, expected %zu", w, n);
    }
    *out = p;
    *out_len = n;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Envelope                                                             */
/* ------------------------------------------------------------------ */
int
wire_envelope_signed_bytes(const wire_envelope *e, aria_buf *b)
{
    aria_buf_put_u32le(b, e->version);
    aria_buf_put_u32le(b, e->type);
    aria_buf_put(b, e->sender, WIRE_ID_BYTES);
    aria_buf_put_u64le(b, e->seq);
    aria_buf_put_u64le(b, e->created_ms);
    aria_buf_put(b, e->network_id, WIRE_ID_BYTES);
    if (e->body_len > UINT32_MAX)
        return aria_errf(ARIA_ERANGE, "wire: body of %zu bytes", e->body_len);
    aria_buf_put_u32le(b, (uint32_t)e->body_len);
    if (e->body_len)
        aria_buf_put(b, e->body, e->body_len);
    return b->err;
}

void
wire_envelope_id(const wire_envelope *e, uint8_t id[WIRE_ID_BYTES])
{
    /* Same bytes as wire_envelope_signed_bytes, hashed in pieces so no copy
     * of the body is needed. */
    uint8_t head[4 + 4 + WIRE_ID_BYTES + 8 + 8 + WIRE_ID_BYTES + 4];
    uint8_t *p = head;
    aria_store_u32le(p, e->version);
    p += 4;
    aria_store_u32le(p, e->type);
    p += 4;
    memcpy(p, e->sender, WIRE_ID_BYTES);
    p += WIRE_ID_BYTES;
    aria_store_u64le(p, e->seq);
    p += 8;
    aria_store_u64le(p, e->created_ms);
    p += 8;
    memcpy(p, e->network_id, WIRE_ID_BYTES);
    p += WIRE_ID_BYTES;
    aria_store_u32le(p, (uint32_t)e->body_len);
    wallet_hasher h;
    wallet_hasher_init(&h);
    wallet_hasher_update(&h, head, sizeof head);
    if (e->body_len)
        wallet_hasher_update(&h, e->body, e->body_len);
    wallet_hasher_final(&h, id);
}

int
wire_envelope_encode(const wire_envelope *e, uint8_t **out, size_t *out_len)
{
    Aria__Wire__Envelope m = ARIA__WIRE__ENVELOPE__INIT;
    m.version = e->version;
    m.type = e->type;
    m.sender = bin(e->sender, WIRE_ID_BYTES);
    m.seq = e->seq;
    m.created_ms = e->created_ms;
    m.network_id = bin(e->network_id, WIRE_ID_BYTES);
    m.hops = e->hops;
    m.body = bin(e->body, e->body_len);
    m.signature = bin(e->sig, WIRE_SIG_BYTES);
    return pack_any(&m.base, WIRE_FRAME_MAX_BYTES, out, out_len);
}

int
wire_envelope_build(const wallet *w, const uint8_t network_id[WIRE_ID_BYTES], uint32_t type,
                    uint64_t seq, uint64_t created_ms, uint32_t hops, const void *body,
                    size_t body_len, uint8_t **out, size_t *out_len, uint8_t msg_id[WIRE_ID_BYTES])
{
    if (hops > WIRE_HOPS_MAX)
        return aria_errf(ARIA_ERANGE, "wire: hops %u over limit %u", hops, WIRE_HOPS_MAX);
    if (type < 1 || type > WIRE_T_MAX_)
        return aria_errf(ARIA_EINVAL, "wire: unknown message type %u", type);
    if (body_len > WIRE_FRAME_MAX_BYTES)
        return aria_errf(ARIA_ERANGE, "wire: body of %zu bytes over limit", body_len);
    wire_envelope e = {0};
    e.version = WIRE_VERSION;
    e.type = type;
    wallet_account_id(w, e.sender);
    e.seq = seq;
    e.created_ms = created_ms;
    memcpy(e.network_id, network_id, WIRE_ID_BYTES);
    e.hops = hops;
    e.body = (uint8_t *)(uintptr_t)body;
    e.body_len = body_len;
    aria_buf b;
    aria_buf_init(&b, WIRE_FRAME_MAX_BYTES + 256);
    int rc = wire_envelope_signed_bytes(&e, &b);
    if (!rc)
        rc = wallet_sign(w, "envelope", b.data, b.len, e.sig);
    aria_buf_fini(&b);
    if (rc)
        return rc;
    if (msg_id)
        wire_envelope_id(&e, msg_id);
    return wire_envelope_encode(&e, out, out_len);
}

int
wire_envelope_decode(const uint8_t *frame, size_t len, size_t max_bytes, wire_envelope *out)
{
    memset(out, 0, sizeof *out);
    if (len > max_bytes)
        return aria_errf(ARIA_ERANGE, "wire: frame of %zu bytes over limit %zu", len, max_bytes);
    if (len == 0)
        return aria_errf(ARIA_EPROTO, "wire: empty frame");
    Aria__Wire__Envelope *m = aria__wire__envelope__unpack(&pb_allocator, len, frame);
    if (!m)
        return aria_errf(ARIA_EPROTO, "wire: envelope is not valid protobuf (%zu bytes)", len);
    int rc = no_unknown(&m->base, "envelope");
    if (!rc && m->version != WIRE_VERSION)
        rc = aria_errf(ARIA_EPROTO, "wire: envelope version %u, expected %u", m->version,
                       WIRE_VERSION);
    if (!rc && (m->type < 1 || m->type > WIRE_T_MAX_))
        rc = aria_errf(ARIA_EPROTO, "wire: envelope type %u unknown", m->type);
    if (!rc)
        rc = need_len(&m->sender, WIRE_ID_BYTES, "envelope.sender");
    if (!rc)
        rc = need_len(&m->network_id, WIRE_ID_BYTES, "envelope.network_id");
    if (!rc)
        rc = need_len(&m->signature, WIRE_SIG_BYTES, "envelope.signature");
    if (!rc && m->hops > WIRE_HOPS_MAX)
        rc = aria_errf(ARIA_EPROTO, "wire: envelope.hops %u over limit %u", m->hops, WIRE_HOPS_MAX);
    if (!rc) {
        out->body = aria_alloc(m->body.len);
        if (!out->body)
            rc = ARIA_ENOMEM;
    }
    if (!rc) {
        out->version = m->version;
        out->type = m->type;
        memcpy(out->sender, m->sender.data, WIRE_ID_BYTES);
        out->seq = m->seq;
        out->created_ms = m->created_ms;
        memcpy(out->network_id, m->network_id.data, WIRE_ID_BYTES);
        out->hops = m->hops;
        if (m->body.len)
            memcpy(out->body, m->body.data, m->body.len);
        out->body_len = m->body.len;
        memcpy(out->sig, m->signature.data, WIRE_SIG_BYTES);
    }
    aria__wire__envelope__free_unpacked(m, &pb_allocator);
    return rc;
}

void
wire_envelope_fini(wire_envelope *e)
{
    if (!e)
        return;
    aria_free(e->body);
    e->body = NULL;
    e->body_len = 0;
}

int
wire_envelope_verify(const wire_envelope *e, const uint8_t network_id[WIRE_ID_BYTES],
                     uint64_t now_ms, uint64_t max_age_ms)
{
    if (memcmp(e->network_id, network_id, WIRE_ID_BYTES) != 0)
        return aria_errf(ARIA_EPERM, "wire: envelope for another network");
    if (e->created_ms > now_ms + WIRE_CLOCK_SKEW_MS)
        return aria_errf(ARIA_ERANGE, "wire: envelope created %llu ms in the future",
                         (unsigned long long)(e->created_ms - now_ms));
    if (max_age_ms && e->created_ms + max_age_ms < now_ms)
        return aria_errf(ARIA_ERANGE, "wire: envelope is %llu ms old (limit %llu)",
                         (unsigned long long)(now_ms - e->created_ms),
                         (unsigned long long)max_age_ms);
    aria_buf b;
    aria_buf_init(&b, WIRE_FRAME_MAX_BYTES + 256);
    int rc = wire_envelope_signed_bytes(e, &b);
    if (!rc) {
        rc = wallet_verify(e->sender, "envelope", b.data, b.len, e->sig);
        if (rc)
            rc = aria_errf(ARIA_ECRYPTO, "wire: bad envelope signature (type %s)",
                           wire_type_name(e->type));
    }
    aria_buf_fini(&b);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Peer record                                                          */
/* ------------------------------------------------------------------ */
int
wire_peer_record_signed_bytes(const wire_peer_record *r, aria_buf *b)
{
    if (r->n_models > WIRE_MODELS_MAX)
        return aria_errf(ARIA_EINVAL, "wire: %zu models, limit %d", r->n_models, WIRE_MODELS_MAX);
    aria_buf_put(b, r->node_id, WIRE_ID_BYTES);
    aria_buf_put(b, r->enc_key, WIRE_ID_BYTES);
    aria_buf_put(b, r->network_id, WIRE_ID_BYTES);
    aria_buf_put_lenbytes(b, r->gossip_addr, strnlen(r->gossip_addr, WIRE_ADDR_MAX - 1));
    aria_buf_put_lenbytes(b, r->service_addr, strnlen(r->service_addr, WIRE_ADDR_MAX - 1));
    aria_buf_put_varint(b, r->n_models);
    for (size_t i = 0; i < r->n_models; i++)
        aria_buf_put_lenbytes(b, r->models[i], strnlen(r->models[i], WIRE_STR_MAX - 1));
    aria_buf_put_u64le(b, r->price_micro);
    aria_buf_put_u32le(b, r->capacity);
    aria_buf_put_lenbytes(b, r->version, strnlen(r->version, WIRE_STR_MAX - 1));
    aria_buf_put_u64le(b, r->created_ms);
    return b->err;
}

static int
peer_record_check_fields(const wire_peer_record *r)
{
    int rc = check_addr(r->gossip_addr, "peer.gossip_addr");
    if (!rc)
        rc = check_addr(r->service_addr, "peer.service_addr");
    if (!rc && r->n_models > WIRE_MODELS_MAX)
        rc = aria_errf(ARIA_EPROTO, "wire: peer.models has %zu, limit %d", r->n_models,
                       WIRE_MODELS_MAX);
    for (size_t i = 0; !rc && i < r->n_models; i++)
        rc = check_str(r->models[i], WIRE_STR_MAX, false, "peer.models[]");
    if (!rc)
        rc = check_str(r->version, WIRE_STR_MAX, true, "peer.version");
    return rc;
}

int
wire_peer_record_sign(const wallet *w, wire_peer_record *r)
{
    wallet_account_id(w, r->node_id);
    wallet_enc_key(w, r->enc_key);
    int rc = peer_record_check_fields(r);
    if (rc)
        return rc;
    aria_buf b;
    aria_buf_init(&b, 4096);
    rc = wire_peer_record_signed_bytes(r, &b);
    if (!rc)
        rc = wallet_sign(w, "peer", b.data, b.len, r->sig);
    aria_buf_fini(&b);
    return rc;
}

int
wire_peer_record_verify(const wire_peer_record *r, const uint8_t network_id[WIRE_ID_BYTES])
{
    int rc = peer_record_check_fields(r);
    if (rc)
        return rc;
    if (memcmp(r->network_id, network_id, WIRE_ID_BYTES) != 0)
        return aria_errf(ARIA_EPERM, "wire: peer record for another network");
    aria_buf b;
    aria_buf_init(&b, 4096);
    rc = wire_peer_record_signed_bytes(r, &b);
    if (!rc && wallet_verify(r->node_id, "peer", b.data, b.len, r->sig) != 0)
        rc = aria_errf(ARIA_ECRYPTO, "wire: bad peer record signature");
    aria_buf_fini(&b);
    return rc;
}

static int
copy_str(char *dst, size_t cap, const char *src, bool spaces, const char *what)
{
    int rc = check_str(src, cap, spaces, what);
    if (rc)
        return rc;
    size_t n = strlen(src);
    memcpy(dst, src, n + 1);
    return 0;
}

static int
peer_from_pb(const Aria__Wire__PeerRecord *m, wire_peer_record *r)
{
    memset(r, 0, sizeof *r);
    int rc = no_unknown(&m->base, "peer record");
    if (!rc)
        rc = need_len(&m->node_id, WIRE_ID_BYTES, "peer.node_id");
    if (!rc)
        rc = need_len(&m->enc_key, WIRE_ID_BYTES, "peer.enc_key");
    if (!rc)
        rc = need_len(&m->network_id, WIRE_ID_BYTES, "peer.network_id");
    if (!rc)
        rc = need_len(&m->signature, WIRE_SIG_BYTES, "peer.signature");
    if (!rc)
        rc = max_len(m->n_models, WIRE_MODELS_MAX, "peer.models");
    if (!rc)
        rc = copy_str(r->gossip_addr, WIRE_ADDR_MAX, m->gossip_addr, false, "peer.gossip_addr");
    if (!rc)
        rc = copy_str(r->service_addr, WIRE_ADDR_MAX, m->service_addr, false, "peer.service_addr");
    for (size_t i = 0; !rc && i < m->n_models; i++)
        rc = copy_str(r->models[i], WIRE_STR_MAX, m->models[i], false, "peer.models[]");
    if (!rc)
        rc = copy_str(r->version, WIRE_STR_MAX, m->version, true, "peer.version");
    if (!rc)
        rc = peer_record_check_fields(r);
    if (rc)
        return rc;
    memcpy(r->node_id, m->node_id.data, WIRE_ID_BYTES);
    memcpy(r->enc_key, m->enc_key.data, WIRE_ID_BYTES);
    memcpy(r->network_id, m->network_id.data, WIRE_ID_BYTES);
    memcpy(r->sig, m->signature.data, WIRE_SIG_BYTES);
    r->n_models = m->n_models;
    r->price_micro = m->price_micro;
    r->capacity = m->capacity;
    r->created_ms = m->created_ms;
    return 0;
}

/* Fill a PeerRecord pb view of r; models pointer array supplied by caller. */
static void
peer_to_pb(const wire_peer_record *r, Aria__Wire__PeerRecord *m, char **models)
{
    aria__wire__peer_record__init(m);
    m->node_id = bin(r->node_id, WIRE_ID_BYTES);
    m->enc_key = bin(r->enc_key, WIRE_ID_BYTES);
    m->network_id = bin(r->network_id, WIRE_ID_BYTES);
    m->gossip_addr = str_or_empty(r->gossip_addr);
    m->service_addr = str_or_empty(r->service_addr);
    for (size_t i = 0; i < r->n_models && i < WIRE_MODELS_MAX; i++)
        models[i] = str_or_empty(r->models[i]);
    m->n_models = r->n_models < WIRE_MODELS_MAX ? r->n_models : WIRE_MODELS_MAX;
    m->models = models;
    m->price_micro = r->price_micro;
    m->capacity = r->capacity;
    m->version = str_or_empty(r->version);
    m->created_ms = r->created_ms;
    m->signature = bin(r->sig, WIRE_SIG_BYTES);
}

/* ------------------------------------------------------------------ */
/* Bodies                                                               */
/* ------------------------------------------------------------------ */
typedef struct msg_priv {
    ProtobufCMessage *pb;
    void *extra;
} msg_priv;

static const ProtobufCMessageDescriptor *
descriptor_for(uint32_t type)
{
    switch (type) {
    case WIRE_T_PEER_RECORD: return &aria__wire__peer_record__descriptor;
    case WIRE_T_JOB_OFFER: return &aria__wire__job_offer__descriptor;
    case WIRE_T_BID: return &aria__wire__bid__descriptor;
    case WIRE_T_AWARD: return &aria__wire__award__descriptor;
    case WIRE_T_CHUNK_REQUEST: return &aria__wire__chunk_request__descriptor;
    case WIRE_T_CHUNK: return &aria__wire__chunk__descriptor;
    case WIRE_T_LEDGER_ENTRIES: return &aria__wire__ledger_entries__descriptor;
    case WIRE_T_FORK_PROOF: return &aria__wire__fork_proof__descriptor;
    case WIRE_T_SYNC_REQUEST: return &aria__wire__sync_request__descriptor;
    case WIRE_T_SYNC_REPLY: return &aria__wire__sync_reply__descriptor;
    case WIRE_T_PEERS_REQUEST: return &aria__wire__peers_request__descriptor;
    case WIRE_T_PEERS_REPLY: return &aria__wire__peers_reply__descriptor;
    case WIRE_T_ACK: return &aria__wire__ack__descriptor;
    default: return NULL;
    }
}

static wire_bytes
wb(const ProtobufCBinaryData *b)
{
    wire_bytes r = {b->data, b->len};
    return r;
}

static int
bytes_list(size_t n, const ProtobufCBinaryData *items, size_t max, const char *what,
           wire_entries *out, void **extra)
{
    int rc = max_len(n, max, what);
    if (rc)
        return rc;
    wire_bytes *arr = aria_alloc_array(n ? n : 1, sizeof *arr);
    if (!arr)
        return ARIA_ENOMEM;
    for (size_t i = 0; i < n; i++)
        arr[i] = wb(&items[i]);
    *extra = arr;
    out->items = arr;
    out->n = n;
    return 0;
}

static int
decode_fields(wire_msg *out, ProtobufCMessage *pb, msg_priv *priv)
{
    int rc = 0;
    switch (out->type) {
    case WIRE_T_PEER_RECORD: return peer_from_pb((Aria__Wire__PeerRecord *)pb, &out->u.peer);
    case WIRE_T_JOB_OFFER: {
        Aria__Wire__JobOffer *m = (Aria__Wire__JobOffer *)pb;
        wire_job_offer *o = &out->u.offer;
        rc = need_len(&m->job_id, WIRE_ID_BYTES, "job_offer.job_id");
        if (!rc)
            rc = check_str(m->model_id, WIRE_STR_MAX, false, "job_offer.model_id");
        if (!rc)
            rc = check_addr(m->requester_service_addr, "job_offer.requester_service_addr");
        if (rc)
            return rc;
        memcpy(o->job_id, m->job_id.data, WIRE_ID_BYTES);
        o->model_id = m->model_id;
        o->prompt_tokens = m->prompt_tokens;
        o->max_new_tokens = m->max_new_tokens;
        o->max_price_micro = m->max_price_micro;
        o->bid_window_ms = m->bid_window_ms;
        o->requester_service_addr = m->requester_service_addr;
        o->expires_ms = m->expires_ms;
        return 0;
    }
    case WIRE_T_BID: {
        Aria__Wire__Bid *m = (Aria__Wire__Bid *)pb;
        wire_bid *b = &out->u.bid;
        rc = need_len(&m->job_id, WIRE_ID_BYTES, "bid.job_id");
        if (!rc)
            rc = check_opt_addr(m->provider_service_addr, "bid.provider_service_addr");
        if (rc)
            return rc;
        memcpy(b->job_id, m->job_id.data, WIRE_ID_BYTES);
        b->price_micro = m->price_micro;
        b->tokens_per_s_milli = m->tokens_per_s_milli;
        b->queue_depth = m->queue_depth;
        b->expires_ms = m->expires_ms;
        b->provider_service_addr = m->provider_service_addr;
        return 0;
    }
    case WIRE_T_AWARD: {
        Aria__Wire__Award *m = (Aria__Wire__Award *)pb;
        wire_award *a = &out->u.award;
        rc = need_len(&m->job_id, WIRE_ID_BYTES, "award.job_id");
        if (!rc)
            rc = need_len(&m->provider, WIRE_ID_BYTES, "award.provider");
        if (rc)
            return rc;
        memcpy(a->job_id, m->job_id.data, WIRE_ID_BYTES);
        memcpy(a->provider, m->provider.data, WIRE_ID_BYTES);
        a->price_micro = m->price_micro;
        a->chunk_tokens = m->chunk_tokens;
        a->resume_tokens = m->resume_tokens;
        a->sealed_prompt = wb(&m->sealed_prompt);
        return 0;
    }
    case WIRE_T_CHUNK_REQUEST: {
        Aria__Wire__ChunkRequest *m = (Aria__Wire__ChunkRequest *)pb;
        rc = need_len(&m->job_id, WIRE_ID_BYTES, "chunk_request.job_id");
        if (rc)
            return rc;
        memcpy(out->u.chunk_req.job_id, m->job_id.data, WIRE_ID_BYTES);
        out->u.chunk_req.index = m->index;
        out->u.chunk_req.payment = wb(&m->payment);
        return 0;
    }
    case WIRE_T_CHUNK: {
        Aria__Wire__Chunk *m = (Aria__Wire__Chunk *)pb;
        rc = need_len(&m->job_id, WIRE_ID_BYTES, "chunk.job_id");
        if (rc)
            return rc;
        wire_chunk *c = &out->u.chunk;
        memcpy(c->job_id, m->job_id.data, WIRE_ID_BYTES);
        c->index = m->index;
        c->n_tokens = m->n_tokens;
        c->final = m->final != 0;
        c->sealed_output = wb(&m->sealed_output);
        c->receipt = wb(&m->receipt);
        return 0;
    }
    case WIRE_T_LEDGER_ENTRIES: {
        Aria__Wire__LedgerEntries *m = (Aria__Wire__LedgerEntries *)pb;
        return bytes_list(m->n_entries, m->entries, WIRE_LIST_MAX, "ledger_entries.entries",
                          &out->u.entries, &priv->extra);
    }
    case WIRE_T_FORK_PROOF: out->u.fork_proof = wb(&((Aria__Wire__ForkProof *)pb)->proof); return 0;
    case WIRE_T_SYNC_REQUEST: {
        Aria__Wire__SyncRequest *m = (Aria__Wire__SyncRequest *)pb;
        rc = max_len(m->n_heads, WIRE_HEADS_MAX, "sync_request.heads");
        if (!rc)
            rc = max_len(m->cursor.len, WIRE_CURSOR_MAX, "sync_request.cursor");
        if (rc)
            return rc;
        wire_account_head *h = aria_alloc_array(m->n_heads ? m->n_heads : 1, sizeof *h);
        if (!h)
            return ARIA_ENOMEM;
        priv->extra = h;
        for (size_t i = 0; i < m->n_heads; i++) {
            rc = no_unknown(&m->heads[i]->base, "sync_request.heads[]");
            if (!rc)
                rc = need_len(&m->heads[i]->account, WIRE_ID_BYTES, "sync_request.heads[].account");
            if (rc)
                return rc;
            memcpy(h[i].account, m->heads[i]->account.data, WIRE_ID_BYTES);
            h[i].next_seq = m->heads[i]->next_seq;
        }
        out->u.sync_req.heads = h;
        out->u.sync_req.n_heads = m->n_heads;
        out->u.sync_req.max_entries = m->max_entries;
        out->u.sync_req.cursor = wb(&m->cursor);
        return 0;
    }
    case WIRE_T_SYNC_REPLY: {
        Aria__Wire__SyncReply *m = (Aria__Wire__SyncReply *)pb;
        rc = max_len(m->next_cursor.len, WIRE_CURSOR_MAX, "sync_reply.next_cursor");
        if (!rc)
            rc = bytes_list(m->n_entries, m->entries, WIRE_LIST_MAX, "sync_reply.entries",
                            &out->u.sync_reply.entries, &priv->extra);
        if (rc)
            return rc;
        out->u.sync_reply.next_cursor = wb(&m->next_cursor);
        return 0;
    }
    case WIRE_T_PEERS_REQUEST:
        out->u.peers_request_max = ((Aria__Wire__PeersRequest *)pb)->max_records;
        return 0;
    case WIRE_T_PEERS_REPLY: {
        Aria__Wire__PeersReply *m = (Aria__Wire__PeersReply *)pb;
        rc = max_len(m->n_records, WIRE_PEERS_REPLY_MAX, "peers_reply.records");
        if (rc)
            return rc;
        wire_peer_record *r = aria_alloc_array(m->n_records ? m->n_records : 1, sizeof *r);
        if (!r)
            return ARIA_ENOMEM;
        priv->extra = r;
        for (size_t i = 0; i < m->n_records; i++) {
            rc = peer_from_pb(m->records[i], &r[i]);
            if (rc)
                return rc;
        }
        out->u.peers.records = r;
        out->u.peers.n = m->n_records;
        return 0;
    }
    case WIRE_T_ACK: {
        Aria__Wire__Ack *m = (Aria__Wire__Ack *)pb;
        rc = check_str(m->detail, WIRE_STR_MAX, true, "ack.detail");
        if (rc)
            return rc;
        out->u.ack.code = m->code;
        out->u.ack.detail = m->detail;
        return 0;
    }
    default: return aria_errf(ARIA_EPROTO, "wire: unknown message type %u", out->type);
    }
}

int
wire_msg_decode(uint32_t type, const uint8_t *body, size_t len, wire_msg *out)
{
    memset(out, 0, sizeof *out);
    const ProtobufCMessageDescriptor *d = descriptor_for(type);
    if (!d)
        return aria_errf(ARIA_EPROTO, "wire: unknown message type %u", type);
    if (len > WIRE_FRAME_MAX_BYTES)
        return aria_errf(ARIA_ERANGE, "wire: %s body of %zu bytes over limit", wire_type_name(type),
                         len);
    ProtobufCMessage *pb = protobuf_c_message_unpack(d, &pb_allocator, len, body);
    if (!pb)
        return aria_errf(ARIA_EPROTO, "wire: %s body is not valid protobuf (%zu bytes)",
                         wire_type_name(type), len);
    msg_priv *priv = aria_calloc(1, sizeof *priv);
    if (!priv) {
        protobuf_c_message_free_unpacked(pb, &pb_allocator);
        return ARIA_ENOMEM;
    }
    priv->pb = pb;
    out->type = type;
    out->priv_ = priv;
    int rc = no_unknown(pb, wire_type_name(type));
    if (!rc)
        rc = decode_fields(out, pb, priv);
    if (rc) {
        wire_msg_fini(out);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

void
wire_msg_fini(wire_msg *m)
{
    if (!m || !m->priv_)
        return;
    msg_priv *priv = m->priv_;
    if (priv->pb)
        protobuf_c_message_free_unpacked(priv->pb, &pb_allocator);
    aria_free(priv->extra);
    aria_free(priv);
    m->priv_ = NULL;
}

static int
enc_check_id_bytes(const wire_bytes *b, size_t max, const char *what)
{
    if (b->n > max)
        return aria_errf(ARIA_EINVAL, "wire: %s is %zu bytes, limit %zu", what, b->n, max);
    return 0;
}

int
wire_msg_encode(const wire_msg *m, uint8_t **out, size_t *out_len)
{
    int rc = 0;
    void *tmp = NULL; /* temporary arrays of pointers */
    ProtobufCMessage *pbm = NULL;
    union {
        Aria__Wire__PeerRecord peer;
        Aria__Wire__JobOffer offer;
        Aria__Wire__Bid bid;
        Aria__Wire__Award award;
        Aria__Wire__ChunkRequest creq;
        Aria__Wire__Chunk chunk;
        Aria__Wire__LedgerEntries entries;
        Aria__Wire__ForkProof fork;
        Aria__Wire__SyncRequest sreq;
        Aria__Wire__SyncReply srep;
        Aria__Wire__PeersRequest preq;
        Aria__Wire__PeersReply prep;
        Aria__Wire__Ack ack;
    } u;
    char *models[WIRE_MODELS_MAX];
    switch (m->type) {
    case WIRE_T_PEER_RECORD:
        rc = peer_record_check_fields(&m->u.peer);
        peer_to_pb(&m->u.peer, &u.peer, models);
        pbm = &u.peer.base;
        break;
    case WIRE_T_JOB_OFFER: {
        const wire_job_offer *o = &m->u.offer;
        aria__wire__job_offer__init(&u.offer);
        rc = check_str(o->model_id, WIRE_STR_MAX, false, "job_offer.model_id");
        if (!rc)
            rc = check_addr(o->requester_service_addr, "job_offer.requester_service_addr");
        u.offer.job_id = bin(o->job_id, WIRE_ID_BYTES);
        u.offer.model_id = str_or_empty(o->model_id);
        u.offer.prompt_tokens = o->prompt_tokens;
        u.offer.max_new_tokens = o->max_new_tokens;
        u.offer.max_price_micro = o->max_price_micro;
        u.offer.bid_window_ms = o->bid_window_ms;
        u.offer.requester_service_addr = str_or_empty(o->requester_service_addr);
        u.offer.expires_ms = o->expires_ms;
        pbm = &u.offer.base;
        break;
    }
    case WIRE_T_BID: {
        const wire_bid *b = &m->u.bid;
        aria__wire__bid__init(&u.bid);
        rc = check_opt_addr(str_or_empty(b->provider_service_addr), "bid.provider_service_addr");
        u.bid.job_id = bin(b->job_id, WIRE_ID_BYTES);
        u.bid.price_micro = b->price_micro;
        u.bid.tokens_per_s_milli = b->tokens_per_s_milli;
        u.bid.queue_depth = b->queue_depth;
        u.bid.expires_ms = b->expires_ms;
        u.bid.provider_service_addr = str_or_empty(b->provider_service_addr);
        pbm = &u.bid.base;
        break;
    }
    case WIRE_T_AWARD: {
        const wire_award *a = &m->u.award;
        aria__wire__award__init(&u.award);
        u.award.job_id = bin(a->job_id, WIRE_ID_BYTES);
        u.award.provider = bin(a->provider, WIRE_ID_BYTES);
        u.award.price_micro = a->price_micro;
        u.award.chunk_tokens = a->chunk_tokens;
        u.award.resume_tokens = a->resume_tokens;
        u.award.sealed_prompt = bin(a->sealed_prompt.p, a->sealed_prompt.n);
        pbm = &u.award.base;
        break;
    }
    case WIRE_T_CHUNK_REQUEST:
        aria__wire__chunk_request__init(&u.creq);
        u.creq.job_id = bin(m->u.chunk_req.job_id, WIRE_ID_BYTES);
        u.creq.index = m->u.chunk_req.index;
        u.creq.payment = bin(m->u.chunk_req.payment.p, m->u.chunk_req.payment.n);
        pbm = &u.creq.base;
        break;
    case WIRE_T_CHUNK: {
        const wire_chunk *c = &m->u.chunk;
        aria__wire__chunk__init(&u.chunk);
        u.chunk.job_id = bin(c->job_id, WIRE_ID_BYTES);
        u.chunk.index = c->index;
        u.chunk.n_tokens = c->n_tokens;
        u.chunk.final = c->final;
        u.chunk.sealed_output = bin(c->sealed_output.p, c->sealed_output.n);
        u.chunk.receipt = bin(c->receipt.p, c->receipt.n);
        pbm = &u.chunk.base;
        break;
    }
    case WIRE_T_LEDGER_ENTRIES:
    case WIRE_T_SYNC_REPLY: {
        const wire_entries *e =
            m->type == WIRE_T_LEDGER_ENTRIES ? &m->u.entries : &m->u.sync_reply.entries;
        if (e->n > WIRE_LIST_MAX) {
            rc = aria_errf(ARIA_EINVAL, "wire: %zu entries, limit %d", e->n, WIRE_LIST_MAX);
            break;
        }
        ProtobufCBinaryData *arr = aria_alloc_array(e->n ? e->n : 1, sizeof *arr);
        if (!arr) {
            rc = ARIA_ENOMEM;
            break;
        }
        tmp = arr;
        for (size_t i = 0; i < e->n; i++)
            arr[i] = bin(e->items[i].p, e->items[i].n);
        if (m->type == WIRE_T_LEDGER_ENTRIES) {
            aria__wire__ledger_entries__init(&u.entries);
            u.entries.n_entries = e->n;
            u.entries.entries = arr;
            pbm = &u.entries.base;
        } else {
            aria__wire__sync_reply__init(&u.srep);
            rc = enc_check_id_bytes(&m->u.sync_reply.next_cursor, WIRE_CURSOR_MAX,
                                    "sync_reply.next_cursor");
            u.srep.n_entries = e->n;
            u.srep.entries = arr;
            u.srep.next_cursor = bin(m->u.sync_reply.next_cursor.p, m->u.sync_reply.next_cursor.n);
            pbm = &u.srep.base;
        }
        break;
    }
    case WIRE_T_FORK_PROOF:
        aria__wire__fork_proof__init(&u.fork);
        u.fork.proof = bin(m->u.fork_proof.p, m->u.fork_proof.n);
        pbm = &u.fork.base;
        break;
    case WIRE_T_SYNC_REQUEST: {
        const wire_sync_request *s = &m->u.sync_req;
        if (s->n_heads > WIRE_HEADS_MAX) {
            rc = aria_errf(ARIA_EINVAL, "wire: %zu heads, limit %d", s->n_heads, WIRE_HEADS_MAX);
            break;
        }
        rc = enc_check_id_bytes(&s->cursor, WIRE_CURSOR_MAX, "sync_request.cursor");
        if (rc)
            break;
        size_t n = s->n_heads;
        /* one block: n head structs then n pointers */
        uint8_t *blk = aria_alloc_array(n ? n : 1, sizeof(Aria__Wire__AccountHead) +
                                                       sizeof(Aria__Wire__AccountHead *));
        if (!blk) {
            rc = ARIA_ENOMEM;
            break;
        }
        tmp = blk;
        Aria__Wire__AccountHead *heads = (Aria__Wire__AccountHead *)blk;
        Aria__Wire__AccountHead **ptrs =
            (Aria__Wire__AccountHead **)(blk + n * sizeof(Aria__Wire__AccountHead));
        for (size_t i = 0; i < n; i++) {
            aria__wire__account_head__init(&heads[i]);
            heads[i].account = bin(s->heads[i].account, WIRE_ID_BYTES);
            heads[i].next_seq = s->heads[i].next_seq;
            ptrs[i] = &heads[i];
        }
        aria__wire__sync_request__init(&u.sreq);
        u.sreq.n_heads = n;
        u.sreq.heads = ptrs;
        u.sreq.max_entries = s->max_entries;
        u.sreq.cursor = bin(s->cursor.p, s->cursor.n);
        pbm = &u.sreq.base;
        break;
    }
    case WIRE_T_PEERS_REQUEST:
        aria__wire__peers_request__init(&u.preq);
        u.preq.max_records = m->u.peers_request_max;
        pbm = &u.preq.base;
        break;
    case WIRE_T_PEERS_REPLY: {
        size_t n = m->u.peers.n;
        if (n > WIRE_PEERS_REPLY_MAX) {
            rc =
                aria_errf(ARIA_EINVAL, "wire: %zu peer records, limit %d", n, WIRE_PEERS_REPLY_MAX);
            break;
        }
        size_t one = sizeof(Aria__Wire__PeerRecord) + sizeof(Aria__Wire__PeerRecord *) +
                     WIRE_MODELS_MAX * sizeof(char *);
        uint8_t *blk = aria_alloc_array(n ? n : 1, one);
        if (!blk) {
            rc = ARIA_ENOMEM;
            break;
        }
        tmp = blk;
        Aria__Wire__PeerRecord *recs = (Aria__Wire__PeerRecord *)blk;
        Aria__Wire__PeerRecord **ptrs =
            (Aria__Wire__PeerRecord **)(blk + n * sizeof(Aria__Wire__PeerRecord));
        char **mods = (char **)(blk + n * (sizeof(Aria__Wire__PeerRecord) +
                                           sizeof(Aria__Wire__PeerRecord *)));
        for (size_t i = 0; i < n && !rc; i++) {
            rc = peer_record_check_fields(&m->u.peers.records[i]);
            peer_to_pb(&m->u.peers.records[i], &recs[i], mods + i * WIRE_MODELS_MAX);
            ptrs[i] = &recs[i];
        }
        aria__wire__peers_reply__init(&u.prep);
        u.prep.n_records = n;
        u.prep.records = ptrs;
        pbm = &u.prep.base;
        break;
    }
    case WIRE_T_ACK:
        aria__wire__ack__init(&u.ack);
        rc = check_str(str_or_empty(m->u.ack.detail), WIRE_STR_MAX, true, "ack.detail");
        u.ack.code = m->u.ack.code;
        u.ack.detail = str_or_empty(m->u.ack.detail);
        pbm = &u.ack.base;
        break;
    default: rc = aria_errf(ARIA_EINVAL, "wire: unknown message type %u", m->type);
    }
    if (!rc)
        rc = pack_any(pbm, WIRE_FRAME_MAX_BYTES - 256, out, out_len);
    aria_free(tmp);
    return rc;
}
