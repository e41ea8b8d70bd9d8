/*
 * wire_msg.h — ARIA wire messages: the signed envelope and every body type
 * (wire/aria.proto is the spec, docs/protocol.md the prose). Part of wire.h;
 * include wire.h.
 *
 * Invariants:
 *  - Every decoder takes bytes from outside: it never crashes or asserts on
 *    them, enforces every limit below, rejects unknown fields and fixed-size
 *    fields of the wrong length, and reports ARIA_EPROTO / ARIA_ERANGE with a
 *    detail message (aria_err_msg()) naming the field.
 *  - Signatures and message ids are computed over a fixed little-endian
 *    serialization ("signed bytes"), never over protobuf bytes, so two
 *    protobuf encodings of one envelope have one id and one signature.
 *  - Thread safety: all functions here are reentrant; objects are owned by
 *    the caller.
 */
#ifndef ARIA_WIRE_MSG_H
#define ARIA_WIRE_MSG_H
#include "base.h"
#include "wallet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Limits (docs/protocol.md "Limits")                                   */
/* ------------------------------------------------------------------ */
#define WIRE_VERSION          1u
#define WIRE_ID_BYTES         32 /* node ids, message ids, job ids, network ids */
#define WIRE_SIG_BYTES        64
#define WIRE_FRAME_MAX_BYTES  (1024u * 1024u) /* largest envelope on the service channel */
#define WIRE_GOSSIP_MAX_BYTES (64u * 1024u)   /* largest envelope on the gossip socket */
#define WIRE_HOPS_MAX         16u             /* largest hop counter accepted */
#define WIRE_HOPS_DEFAULT     8u
#define WIRE_ADDR_MAX         128    /* bytes of an nng URL incl. NUL */
#define WIRE_STR_MAX          128    /* model ids, versions, details incl. NUL */
#define WIRE_MODELS_MAX       8      /* models in one peer record */
#define WIRE_LIST_MAX         1024   /* entries in LedgerEntries / SyncReply */
#define WIRE_HEADS_MAX        4096   /* heads in one SyncRequest */
#define WIRE_PEERS_REPLY_MAX  64     /* records in one PeersReply */
#define WIRE_CURSOR_MAX       64     /* bytes of a sync cursor */
#define WIRE_CLOCK_SKEW_MS    30000u /* created_ms may be this far in the future */

/* Message types (aria.proto MsgType). */
typedef enum wire_type {
    WIRE_T_PEER_RECORD = 1,
    WIRE_T_JOB_OFFER = 2,
    WIRE_T_BID = 3,
    WIRE_T_AWARD = 4,
    WIRE_T_CHUNK_REQUEST = 5,
    WIRE_T_CHUNK = 6,
    WIRE_T_LEDGER_ENTRIES = 7,
    WIRE_T_FORK_PROOF = 8,
    WIRE_T_SYNC_REQUEST = 9,
    WIRE_T_SYNC_REPLY = 10,
    WIRE_T_PEERS_REQUEST = 11,
    WIRE_T_PEERS_REPLY = 12,
    WIRE_T_ACK = 13,
    WIRE_T_MAX_ = 13,
} wire_type;

/* "job_offer", ... or "unknown"; never NULL. */
const char *wire_type_name(uint32_t type);

/* ------------------------------------------------------------------ */
/* Envelope                                                             */
/* ------------------------------------------------------------------ */

/* A decoded envelope. `body` is owned (aria_alloc) after wire_envelope_decode
 * and freed by wire_envelope_fini; when the caller fills one in to sign, body
 * is borrowed and the caller must not call fini. */
typedef struct wire_envelope {
    uint32_t version;
    uint32_t type;
    uint8_t sender[WIRE_ID_BYTES];
    uint64_t seq;
    uint64_t created_ms;
    uint8_t network_id[WIRE_ID_BYTES];
    uint32_t hops; /* not signed */
    uint8_t *body;
    size_t body_len;
    uint8_t sig[WIRE_SIG_BYTES];
} wire_envelope;

/* Build, sign (wallet purpose "envelope") and encode an envelope. Sender =
 * the wallet's id. `*out` is owned by the caller (aria_free); `msg_id` (may
 * be NULL) receives the message id. ARIA_ERANGE if the frame would pass
 * WIRE_FRAME_MAX_BYTES or hops > WIRE_HOPS_MAX. */
int wire_envelope_build(const wallet *w, const uint8_t network_id[WIRE_ID_BYTES], uint32_t type,
                        uint64_t seq, uint64_t created_ms, uint32_t hops, const void *body,
                        size_t body_len, uint8_t **out, size_t *out_len,
                        uint8_t msg_id[WIRE_ID_BYTES]) ARIA_MUST_CHECK;

/* Decode one frame of at most `max_bytes` (checked first) into *out
 * (structure only: no signature check). On success the caller owns out and
 * calls wire_envelope_fini. Rejects: version != 1, unknown type, wrong
 * sender/network/signature length, hops > WIRE_HOPS_MAX, unknown fields. */
int wire_envelope_decode(const uint8_t *frame, size_t len, size_t max_bytes,
                         wire_envelope *out) ARIA_MUST_CHECK;
void wire_envelope_fini(wire_envelope *e);

/* Encode a (decoded or filled-in) envelope as is, e.g. to forward it with a
 * smaller hop counter. `*out` owned by the caller. */
int wire_envelope_encode(const wire_envelope *e, uint8_t **out, size_t *out_len) ARIA_MUST_CHECK;

/* The signed bytes (docs/protocol.md): appended to `b`. */
int wire_envelope_signed_bytes(const wire_envelope *e, aria_buf *b) ARIA_MUST_CHECK;

/* Message id = BLAKE2b-256 of the signed bytes. */
void wire_envelope_id(const wire_envelope *e, uint8_t id[WIRE_ID_BYTES]);

/* Check network id (ARIA_EPERM if it differs), the signature (ARIA_ECRYPTO)
 * and the age: created_ms must lie in [now_ms - max_age_ms, now_ms +
 * WIRE_CLOCK_SKEW_MS] (ARIA_ERANGE), max_age_ms = 0 skips the age check. */
int wire_envelope_verify(const wire_envelope *e, const uint8_t network_id[WIRE_ID_BYTES],
                         uint64_t now_ms, uint64_t max_age_ms) ARIA_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Peer record (signed by the node it describes, purpose "peer")       */
/* ------------------------------------------------------------------ */
typedef struct wire_peer_record {
    uint8_t node_id[WIRE_ID_BYTES];
    uint8_t enc_key[WIRE_ID_BYTES];
    uint8_t network_id[WIRE_ID_BYTES];
    char gossip_addr[WIRE_ADDR_MAX];  /* "tcp://..." */
    char service_addr[WIRE_ADDR_MAX]; /* "tcp://..." */
    size_t n_models;
    char models[WIRE_MODELS_MAX][WIRE_STR_MAX];
    uint64_t price_micro;
    uint32_t capacity;
    char version[WIRE_STR_MAX];
    uint64_t created_ms;
    uint8_t sig[WIRE_SIG_BYTES];
} wire_peer_record;

/* Fill node_id and enc_key from the wallet and sign the record (the caller
 * set every other field). */
int wire_peer_record_sign(const wallet *w, wire_peer_record *r) ARIA_MUST_CHECK;
/* Field checks (addresses tcp://, printable strings) + network id + signature. */
int wire_peer_record_verify(const wire_peer_record *r,
                            const uint8_t network_id[WIRE_ID_BYTES]) ARIA_MUST_CHECK;
int wire_peer_record_signed_bytes(const wire_peer_record *r, aria_buf *b) ARIA_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Bodies                                                               */
/* ------------------------------------------------------------------ */

/* A byte string. Decoded: borrowed from the wire_msg (valid until
 * wire_msg_fini). To encode: borrowed from the caller. */
typedef struct wire_bytes {
    const uint8_t *p;
    size_t n;
} wire_bytes;

typedef struct wire_job_offer {
    uint8_t job_id[WIRE_ID_BYTES];
    const char *model_id; /* < WIRE_STR_MAX */
    uint32_t prompt_tokens;
    uint32_t max_new_tokens;
    uint64_t max_price_micro;
    uint32_t bid_window_ms;
    const char *requester_service_addr; /* < WIRE_ADDR_MAX */
    uint64_t expires_ms;
} wire_job_offer;

typedef struct wire_bid {
    uint8_t job_id[WIRE_ID_BYTES];
    uint64_t price_micro;
    uint32_t tokens_per_s_milli;
    uint32_t queue_depth;
    uint64_t expires_ms;
    const char *provider_service_addr;
} wire_bid;

typedef struct wire_award {
    uint8_t job_id[WIRE_ID_BYTES];
    uint8_t provider[WIRE_ID_BYTES];
    uint64_t price_micro;
    uint32_t chunk_tokens;
    uint32_t resume_tokens;
    wire_bytes sealed_prompt;
} wire_award;

typedef struct wire_chunk_request {
    uint8_t job_id[WIRE_ID_BYTES];
    uint32_t index;
    wire_bytes payment;
} wire_chunk_request;

typedef struct wire_chunk {
    uint8_t job_id[WIRE_ID_BYTES];
    uint32_t index;
    uint32_t n_tokens;
    bool final;
    wire_bytes sealed_output;
    wire_bytes receipt;
} wire_chunk;

typedef struct wire_entries { /* LEDGER_ENTRIES; also SYNC_REPLY's list */
    const wire_bytes *items;
    size_t n;
} wire_entries;

typedef struct wire_account_head {
    uint8_t account[WIRE_ID_BYTES];
    uint64_t next_seq;
} wire_account_head;

typedef struct wire_sync_request {
    const wire_account_head *heads;
    size_t n_heads; /* <= WIRE_HEADS_MAX */
    uint32_t max_entries;
    wire_bytes cursor; /* <= WIRE_CURSOR_MAX */
} wire_sync_request;

typedef struct wire_sync_reply {
    wire_entries entries; /* <= WIRE_LIST_MAX */
    wire_bytes next_cursor;
} wire_sync_reply;

typedef struct wire_peers_reply {
    const wire_peer_record *records; /* decoded: NOT yet signature-checked */
    size_t n;                        /* <= WIRE_PEERS_REPLY_MAX */
} wire_peers_reply;

typedef struct wire_ack {
    int32_t code;
    const char *detail;
} wire_ack;

/* One body of any type. */
typedef struct wire_msg {
    uint32_t type; /* wire_type */
    union {
        wire_peer_record peer;
        wire_job_offer offer;
        wire_bid bid;
        wire_award award;
        wire_chunk_request chunk_req;
        wire_chunk chunk;
        wire_entries entries;
        wire_bytes fork_proof;
        wire_sync_request sync_req;
        wire_sync_reply sync_reply;
        uint32_t peers_request_max;
        wire_peers_reply peers;
        wire_ack ack;
    } u;
    void *priv_; /* decoder storage; freed by wire_msg_fini */
} wire_msg;

/* Decode a body of `type` (bytes from outside; all limits enforced). On
 * success the caller calls wire_msg_fini. Peer records inside are checked
 * for form but not for signatures (use wire_peer_record_verify). */
int wire_msg_decode(uint32_t type, const uint8_t *body, size_t len, wire_msg *out) ARIA_MUST_CHECK;
void wire_msg_fini(wire_msg *m);
/* Encode m->u as m->type; `*out` owned by the caller (aria_free). Limits
 * are checked as on decode (ARIA_EINVAL names the field). */
int wire_msg_encode(const wire_msg *m, uint8_t **out, size_t *out_len) ARIA_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif /* ARIA_WIRE_MSG_H */
