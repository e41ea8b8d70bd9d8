/*
 * wire_seen.c — seen cache: a FIFO ring of (id, insert time) in insertion
 * order plus a chained hash index over ring slots. Because insert times
 * never decrease (monotonic clock), expiry only ever removes from the ring's
 * head. Buckets are chosen with a per-cache random key so a peer cannot aim
 * ids at one chain.
 */
#include <string.h>

#include "wire_seen.h"

#define NIL UINT32_MAX

typedef struct seen_ent {
    uint8_t id[WIRE_ID_BYTES];
    uint64_t t_ms;
    uint32_t next; /* next slot in the same bucket chain */
} seen_ent;

struct wire_seen {
    size_t cap;
    uint64_t ttl_ms;
    const aria_clock *clock;
    seen_ent *ring;
    uint32_t *buckets;
    size_t nbuckets; /* power of two */
    size_t head;     /* oldest slot */
    size_t count;
    uint64_t key;
    uint64_t evicted_early;
};

static size_t
bucket_of(const wire_seen *s, const uint8_t *id)
{
    uint64_t v = aria_load_u64le(id) ^ s->key;
    v ^= aria_load_u64le(id + 8) * 0x9e3779b97f4a7c15ull;
    v *= 0xbf58476d1ce4e5b9ull;
    v ^= v >> 31;
    return (size_t)(v & (s->nbuckets - 1));
}

int
wire_seen_new(size_t capacity, uint64_t ttl_ms, const aria_clock *clock, wire_seen **out)
{
    *out = NULL;
    if (capacity < 1 || capacity > (1u << 26) || ttl_ms < 1 || !clock)
        return aria_errf(ARIA_EINVAL, "wire: seen cache capacity %zu / ttl %llu invalid", capacity,
                         (unsigned long long)ttl_ms);
    wire_seen *s = aria_calloc(1, sizeof *s);
    if (!s)
        return ARIA_ENOMEM;
    s->cap = capacity;
    s->ttl_ms = ttl_ms;
    s->clock = clock;
    s->nbuckets = 16;
    while (s->nbuckets < capacity * 2)
        s->nbuckets <<= 1;
    s->ring = aria_alloc_array(capacity, sizeof *s->ring);
    s->buckets = aria_alloc_array(s->nbuckets, sizeof *s->buckets);
    if (!s->ring || !s->buckets || aria_os_random(&s->key, sizeof s->key) != 0) {
        wire_seen_free(s);
        return ARIA_ENOMEM;
    }
    for (size_t i = 0; i < s->nbuckets; i++)
        s->buckets[i] = NIL;
    *out = s;
    return 0;
}

void
wire_seen_free(wire_seen *s)
{
    if (!s)
        return;
    aria_free(s->ring);
    aria_free(s->buckets);
    aria_free(s);
}

static void
drop_head(wire_seen *s)
{
    uint32_t slot = (uint32_t)s->head;
    uint32_t *pp = &s->buckets[bucket_of(s, s->ring[slot].id)];
    while (*pp != NIL && *pp != slot)
        pp = &s->ring[*pp].next;
    if (*pp == slot)
        *pp = s->ring[slot].next;
    s->head = (s->head + 1) % s->cap;
    s->count--;
}

void
wire_seen_expire(wire_seen *s)
{
    uint64_t now = aria_clock_mono_ms(s->clock);
    while (s->count && s->ring[s->head].t_ms + s->ttl_ms <= now)
        drop_head(s);
}

static bool
lookup(const wire_seen *s, const uint8_t *id)
{
    for (uint32_t i = s->buckets[bucket_of(s, id)]; i != NIL; i = s->ring[i].next)
        if (memcmp(s->ring[i].id, id, WIRE_ID_BYTES) == 0)
            return true;
    return false;
}

bool
wire_seen_contains(wire_seen *s, const uint8_t id[WIRE_ID_BYTES])
{
    wire_seen_expire(s);
    return lookup(s, id);
}

int
wire_seen_insert(wire_seen *s, const uint8_t id[WIRE_ID_BYTES])
{
    wire_seen_expire(s);
    if (lookup(s, id))
        return ARIA_EEXIST;
    if (s->count == s->cap) {
        drop_head(s);
        s->evicted_early++;
    }
    uint32_t slot = (uint32_t)((s->head + s->count) % s->cap);
    seen_ent *e = &s->ring[slot];
    memcpy(e->id, id, WIRE_ID_BYTES);
    e->t_ms = aria_clock_mono_ms(s->clock);
    size_t b = bucket_of(s, id);
    e->next = s->buckets[b];
    s->buckets[b] = slot;
    s->count++;
    return 0;
}

size_t
wire_seen_count(const wire_seen *s)
{
    return s->count;
}

uint64_t
wire_seen_evicted_early(const wire_seen *s)
{
    return s->evicted_early;
}
