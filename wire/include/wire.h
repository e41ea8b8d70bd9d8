/*
 * wire.h — ARIA's network layer: a gossip overlay on an nng BUS socket and a
 * direct service channel on nng REQ/REP, carrying the signed envelopes of
 * wire_msg.h. docs/protocol.md is the protocol manual; this header is the
 * API manual.
 *
 * Threads and ownership (the one rule to remember):
 *  - A wire_node belongs to ONE owner thread: every wire_node_* call except
 *    wire_node_stats() and wire_node_event_fd() must come from it.
 *  - nng's own threads only enqueue: received frames, pipe changes and
 *    finished requests go into a bounded queue. The owner drains it with
 *    wire_node_poll(), which also runs timers (dialing, announcements, peer
 *    exchange, expiry) and invokes config.on_event on the owner thread.
 *  - To wait in an external event loop, poll wire_node_event_fd() for
 *    readability (an eventfd) and call wire_node_poll(n, 0) when it fires,
 *    and at least every config.tick_ms for the timers.
 *
 * Receive pipeline (gossip): size check → decode → message id → seen cache
 * (duplicates cost no signature check) → network id → age → signature →
 * internal handling (peer records) → on_event → forward to every other pipe
 * while hops remain. Ids enter the seen cache only after the signature
 * verified, so a forged copy cannot shadow the real message.
 *
 * Hardening: NNG_OPT_RECVMAXSZ on every socket before listen/dial, timeouts
 * on every receive, caps on pipes (inbound_max, outbound_target), per-pipe
 * token-bucket rate limits, bounded queue, seen cache and peer table. A pipe
 * that delivers a bad signature, an undecodable or over-size frame is closed
 * and its peer discouraged for discourage_ms (outbound: the peer's node id is
 * not redialed; inbound: new connections from that IP address are refused).
 * wire_stats counts all of it.
 */
#ifndef ARIA_WIRE_H
#define ARIA_WIRE_H
#include "base.h"
#include "wallet.h"
#include "wire_msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version string of the transport library (for `aria version`). */
const char *wire_backend_version(void);

typedef struct wire_node wire_node;

typedef enum wire_event_kind {
    WIRE_EV_GOSSIP = 1,  /* a verified gossip message, delivered once per message id */
    WIRE_EV_REQUEST = 2, /* a verified direct request: answer with wire_node_reply() */
    WIRE_EV_REPLY = 3,   /* the outcome of wire_node_request() / wire_node_sync() */
    WIRE_EV_PEER = 4,    /* a peer record was added or updated in the peer table */
} wire_event_kind;

/* Passed to on_event; every pointer is borrowed for the duration of the
 * callback only. */
typedef struct wire_event {
    wire_event_kind kind;
    const wire_envelope *env;     /* GOSSIP, REQUEST, and REPLY when status == 0 */
    const uint8_t *msg_id;        /* with env: its message id */
    uint64_t request_id;          /* REQUEST: for wire_node_reply; REPLY: from wire_node_request */
    int status;                   /* REPLY: 0, ARIA_ETIMEDOUT, ARIA_ECLOSED (no such node),
                                     ARIA_EPROTO / ARIA_ECRYPTO (bad reply), ARIA_ECANCELED */
    void *cookie;                 /* REPLY: the caller's cookie */
    const wire_peer_record *peer; /* PEER: the verified record */
} wire_event;

typedef void (*wire_event_fn)(void *ctx, const wire_event *ev);

typedef struct wire_config {
    const wallet *wallet; /* borrowed; must outlive the node */
    uint8_t network_id[WIRE_ID_BYTES];
    const char *gossip_listen;    /* nng URL; default "tcp://127.0.0.1:0" */
    const char *service_listen;   /* nng URL; default "tcp://127.0.0.1:0" */
    const char *const *bootstrap; /* service URLs of known nodes (--peer); copied */
    size_t n_bootstrap;
    /* NULL: system clock; borrowed. Drives the owner's timers, message ages
     * and the seen cache; rate buckets and IP bans (read on nng threads)
     * use the system monotonic clock. */
    const aria_clock *clock;
    wire_event_fn on_event; /* may be NULL */
    void *on_event_ctx;

    /* Advertised in this node's peer record (copied). */
    const char *const *models;
    size_t n_models; /* <= WIRE_MODELS_MAX */
    uint64_t price_micro;
    uint32_t capacity;
    const char *version; /* NULL: "aria" */

    /* Limits and policy; wire_config_default() sets the values in brackets. */
    uint32_t outbound_target;      /* [8] outbound gossip links kept */
    uint32_t inbound_max;          /* [64] inbound gossip pipes accepted */
    uint32_t peer_table_max;       /* [1024] */
    uint32_t seen_capacity;        /* [65536] ids */
    uint64_t seen_ttl_ms;          /* [600000] must be > 2*WIRE_CLOCK_SKEW_MS; gossip
                                      older than seen_ttl_ms - WIRE_CLOCK_SKEW_MS is stale */
    uint32_t queue_max;            /* [4096] received frames waiting for the owner */
    uint32_t hops;                 /* [WIRE_HOPS_DEFAULT] for published gossip */
    uint32_t rate_per_s;           /* [500] frames per second per pipe */
    uint32_t rate_burst;           /* [1000] bucket size; a pipe dropping more than
                                      this many frames in a row is closed */
    uint64_t discourage_ms;        /* [60000] */
    uint64_t announce_interval_ms; /* [60000] re-gossip our own peer record */
    uint64_t peer_exchange_ms;     /* [30000] ask a peer for records */
    uint64_t tick_ms;              /* [50] timer granularity */
    uint64_t dial_timeout_ms;      /* [3000] outbound slot without a link → give up */
    uint64_t backoff_max_ms;       /* [60000] redial backoff cap (doubles from 500 ms) */
    uint32_t service_workers;      /* [16] incoming requests handled concurrently */
    uint32_t requests_max;         /* [64] outgoing requests in flight */
    uint64_t request_timeout_ms;   /* [5000] default for wire_node_request(timeout 0) */
    uint64_t reply_timeout_ms;     /* [10000] unanswered incoming request → ACK ETIMEDOUT */
} wire_config;

void wire_config_default(wire_config *c);

/* Open the sockets, listen on both endpoints and sign this node's peer
 * record. Dialing starts in the first wire_node_poll(). */
int wire_node_new(const wire_config *c, wire_node **out) ARIA_MUST_CHECK;
/* Close every socket and wait for nng callbacks to finish; pending requests
 * are dropped without REPLY events. NULL ok. Owner thread. */
void wire_node_free(wire_node *n);

/* Wait up to timeout_ms for work, handle every queued event and due timer,
 * invoking on_event. Returns the number of frames/events handled (>= 0). */
int wire_node_poll(wire_node *n, int timeout_ms) ARIA_MUST_CHECK;
/* An eventfd that is readable when wire_node_poll has queued work. Any thread. */
int wire_node_event_fd(const wire_node *n);

/* Bound URLs ("tcp://127.0.0.1:PORT"), valid until wire_node_free. */
const char *wire_node_gossip_addr(const wire_node *n);
const char *wire_node_service_addr(const wire_node *n);
void wire_node_id(const wire_node *n, uint8_t id[WIRE_ID_BYTES]);

/* Sign and gossip a body of `type` (a gossip type: PEER_RECORD, JOB_OFFER,
 * LEDGER_ENTRIES, FORK_PROOF) to every pipe. The node's own message is
 * marked seen and is not delivered back to it. msg_id may be NULL.
 * ARIA_EAGAIN when no gossip link is up yet (nothing was sent). */
int wire_node_publish(wire_node *n, uint32_t type, const void *body, size_t len,
                      uint8_t msg_id[WIRE_ID_BYTES]) ARIA_MUST_CHECK;

/* Send one signed request to the service endpoint `service_addr` on its own
 * REQ socket. The outcome arrives as exactly one WIRE_EV_REPLY with the
 * returned request_id (unless the node is freed first). `expect_sender`
 * (may be NULL): the reply must be signed by this node id. timeout_ms 0 =
 * config default. ARIA_EFULL when requests_max are in flight. */
int wire_node_request(wire_node *n, const char *service_addr,
                      const uint8_t expect_sender[WIRE_ID_BYTES], uint32_t type, const void *body,
                      size_t len, uint64_t timeout_ms, void *cookie,
                      uint64_t *request_id) ARIA_MUST_CHECK;

/* Answer the WIRE_EV_REQUEST `request_id` (during the callback or later,
 * before reply_timeout_ms). ARIA_ENOTFOUND if it already timed out. */
int wire_node_reply(wire_node *n, uint64_t request_id, uint32_t type, const void *body,
                    size_t len) ARIA_MUST_CHECK;

/* Ledger sync by entries: send `req` (this node's account heads) as a
 * SYNC_REQUEST to a random known peer; the SYNC_REPLY arrives as a
 * WIRE_EV_REPLY (decode env->body with wire_msg_decode). The serving side
 * sees a WIRE_EV_REQUEST of type WIRE_T_SYNC_REQUEST and answers with
 * wire_node_reply(..., WIRE_T_SYNC_REPLY, ...) carrying the entries the
 * requester lacks (the ledger module produces and applies the entries).
 * ARIA_ENOTFOUND when no peer is known. */
int wire_node_sync(wire_node *n, const wire_sync_request *req, uint64_t timeout_ms, void *cookie,
                   uint64_t *request_id) ARIA_MUST_CHECK;

/* Add a bootstrap service URL at run time (peer exchange asks it). */
int wire_node_add_bootstrap(wire_node *n, const char *service_addr) ARIA_MUST_CHECK;

/* Copy up to `max` verified peer records; returns how many were copied. */
size_t wire_node_peers(wire_node *n, wire_peer_record *out, size_t max);
size_t wire_node_peer_count(const wire_node *n);
/* Copy the verified record of node `id` into *out. ARIA_ENOTFOUND if the
 * peer table does not hold it. Owner thread. */
int wire_node_peer_find(wire_node *n, const uint8_t id[WIRE_ID_BYTES],
                        wire_peer_record *out) ARIA_MUST_CHECK;

/* Counters; the current value of each. Any thread. */
typedef struct wire_stats {
    uint64_t gossip_received;   /* frames taken from the gossip socket */
    uint64_t gossip_delivered;  /* verified, first-seen messages given to on_event */
    uint64_t gossip_duplicates; /* dropped by the seen cache (no signature check) */
    uint64_t gossip_published;
    uint64_t gossip_forwarded;
    uint64_t gossip_bytes_sent; /* frame bytes x pipes they were sent to */
    uint64_t gossip_bytes_received;
    uint64_t rejected_oversize;
    uint64_t rejected_malformed;
    uint64_t rejected_bad_sig;
    uint64_t rejected_network;
    uint64_t rejected_stale; /* too old or too far in the future */
    uint64_t rejected_type;  /* a type not allowed on that channel */
    uint64_t rejected_rate;  /* dropped by a pipe's rate limit */
    uint64_t queue_drops;    /* owner queue full */
    uint64_t pipes_inbound;  /* current */
    uint64_t pipes_outbound; /* current */
    uint64_t pipes_refused;  /* inbound over inbound_max or from a discouraged IP */
    uint64_t pipes_closed_offender;
    uint64_t pipes_closed_flood;
    uint64_t offences; /* discouragements recorded */
    uint64_t dials_started;
    uint64_t dials_given_up;
    uint64_t peers_known; /* current */
    uint64_t seen_size;   /* current */
    uint64_t seen_evicted_early;
    uint64_t requests_sent;
    uint64_t requests_ok;
    uint64_t requests_failed;
    uint64_t requests_busy; /* refused with ARIA_EFULL */
    uint64_t service_received;
    uint64_t service_replied;
    uint64_t service_rejected; /* bad, replayed or wrong-type requests */
    uint64_t service_timeouts; /* requests the owner did not answer in time */
} wire_stats;

void wire_node_stats(const wire_node *n, wire_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* ARIA_WIRE_H */
