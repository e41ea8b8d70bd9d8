/*
 * wire_peers.h — private to wire: the bounded table of known peers (verified
 * peer records plus dialing state).
 *
 * Invariants: at most `capacity` entries; never an entry for the node
 * itself; one entry per node id, holding the newest record seen (by
 * created_ms). When full, a new peer replaces the entry seen least recently
 * that is not being dialed. Records must be verified before insertion.
 * Owned by one thread (not thread safe).
 */
#ifndef ARIA_WIRE_PEERS_H
#define ARIA_WIRE_PEERS_H
#include "wire_msg.h"

typedef struct wire_peer_entry {
    wire_peer_record rec;
    uint64_t last_seen_ms;     /* mono ms of the last record or contact */
    uint64_t backoff_until_ms; /* mono ms: do not dial before */
    uint32_t fails;            /* consecutive failed dial attempts */
    uint64_t discouraged_until_ms;
    bool dialing; /* held by an outbound slot */
} wire_peer_entry;

typedef struct wire_peers wire_peers;

int wire_peers_new(size_t capacity, const uint8_t self_id[WIRE_ID_BYTES],
                   wire_peers **out) ARIA_MUST_CHECK;
void wire_peers_free(wire_peers *p);
/* Insert or update. Returns 1 if a new peer was added, 0 if an existing
 * entry took a newer record, ARIA_EEXIST if the record is not newer than the
 * one held, ARIA_EPERM if it describes the node itself, ARIA_EFULL if the
 * table is full and every entry is being dialed. */
int wire_peers_upsert(wire_peers *p, const wire_peer_record *r, uint64_t now_ms) ARIA_MUST_CHECK;
wire_peer_entry *wire_peers_find(wire_peers *p, const uint8_t id[WIRE_ID_BYTES]);
/* Entry by gossip address (first match) or NULL. */
wire_peer_entry *wire_peers_find_addr(wire_peers *p, const char *gossip_addr);
size_t wire_peers_count(const wire_peers *p);
/* Entry i in [0, count); the order changes on insert and remove. */
wire_peer_entry *wire_peers_at(wire_peers *p, size_t i);
void wire_peers_remove(wire_peers *p, const uint8_t id[WIRE_ID_BYTES]);
/* A uniformly random entry that is not dialing, not backing off and not
 * discouraged at now_ms, chosen with the random value `rnd`; NULL if none. */
wire_peer_entry *wire_peers_pick(wire_peers *p, uint64_t now_ms, uint64_t rnd);

#endif
