/*
 * wire_seen.h — private to wire: the bounded, time-expiring set of message
 * ids already handled ("seen cache").
 *
 * Invariants: at most `capacity` ids are held; an id is forgotten `ttl_ms`
 * after it was inserted (by the injected clock's mono_ms) or earlier when the
 * cache is full (the oldest goes first; counted in evicted_early). Lookups
 * and inserts are O(1) expected. Owned by one thread (not thread safe).
 */
#ifndef ARIA_WIRE_SEEN_H
#define ARIA_WIRE_SEEN_H
#include "wire_msg.h"

typedef struct wire_seen wire_seen;

/* capacity >= 1, ttl_ms >= 1; clock borrowed for the cache's lifetime. */
int wire_seen_new(size_t capacity, uint64_t ttl_ms, const aria_clock *clock,
                  wire_seen **out) ARIA_MUST_CHECK;
void wire_seen_free(wire_seen *s);
/* True if `id` was inserted and has not expired. */
bool wire_seen_contains(wire_seen *s, const uint8_t id[WIRE_ID_BYTES]);
/* Insert; ARIA_EEXIST if already present (and unexpired). */
int wire_seen_insert(wire_seen *s, const uint8_t id[WIRE_ID_BYTES]) ARIA_MUST_CHECK;
/* Drop expired ids now (also done by every call above). */
void wire_seen_expire(wire_seen *s);
size_t wire_seen_count(const wire_seen *s);
/* Ids dropped before their ttl because the cache was full. */
uint64_t wire_seen_evicted_early(const wire_seen *s);

#endif
