/*
 * wire_peers.c — peer table: a flat array scanned linearly. The table holds
 * at most a few thousand entries and is touched a few times per second, so
 * a scan is simpler and fast enough; no pointer into it survives an insert
 * or remove (callers re-find by id).
 */
#include <string.h>

#include "wire_peers.h"

struct wire_peers {
    size_t cap, n;
    wire_peer_entry *e;
    uint8_t self[WIRE_ID_BYTES];
};

int
wire_peers_new(size_t capacity, const uint8_t self_id[WIRE_ID_BYTES], wire_peers **out)
{
    *out = NULL;
    if (capacity < 1 || capacity > 100000)
        return aria_errf(ARIA_EINVAL, "wire: peer table capacity %zu invalid", capacity);
    wire_peers *p = aria_calloc(1, sizeof *p);
    if (!p)
        return ARIA_ENOMEM;
    p->e = aria_calloc(capacity, sizeof *p->e);
    if (!p->e) {
        aria_free(p);
        return ARIA_ENOMEM;
    }
    p->cap = capacity;
    memcpy(p->self, self_id, WIRE_ID_BYTES);
    *out = p;
    return 0;
}

void
wire_peers_free(wire_peers *p)
{
    if (!p)
        return;
    aria_free(p->e);
    aria_free(p);
}

wire_peer_entry *
wire_peers_find(wire_peers *p, const uint8_t id[WIRE_ID_BYTES])
{
    for (size_t i = 0; i < p->n; i++)
        if (memcmp(p->e[i].rec.node_id, id, WIRE_ID_BYTES) == 0)
            return &p->e[i];
    return NULL;
}

wire_peer_entry *
wire_peers_find_addr(wire_peers *p, const char *gossip_addr)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->e[i].rec.gossip_addr, gossip_addr) == 0)
            return &p->e[i];
    return NULL;
}

int
wire_peers_upsert(wire_peers *p, const wire_peer_record *r, uint64_t now_ms)
{
    if (memcmp(r->node_id, p->self, WIRE_ID_BYTES) == 0)
        return ARIA_EPERM;
    wire_peer_entry *e = wire_peers_find(p, r->node_id);
    if (e) {
        if (r->created_ms <= e->rec.created_ms)
            return ARIA_EEXIST;
        bool addr_changed = strcmp(e->rec.gossip_addr, r->gossip_addr) != 0;
        e->rec = *r;
        e->last_seen_ms = now_ms;
        if (addr_changed) { /* a restarted node: give it a fresh chance */
            e->fails = 0;
            e->backoff_until_ms = 0;
        }
        return 0;
    }
    if (p->n == p->cap) {
        size_t victim = SIZE_MAX;
        for (size_t i = 0; i < p->n; i++)
            if (!p->e[i].dialing &&
                (victim == SIZE_MAX || p->e[i].last_seen_ms < p->e[victim].last_seen_ms))
                victim = i;
        if (victim == SIZE_MAX)
            return ARIA_EFULL;
        p->e[victim] = p->e[--p->n];
    }
    e = &p->e[p->n++];
    memset(e, 0, sizeof *e);
    e->rec = *r;
    e->last_seen_ms = now_ms;
    return 1;
}

size_t
wire_peers_count(const wire_peers *p)
{
    return p->n;
}

wire_peer_entry *
wire_peers_at(wire_peers *p, size_t i)
{
    return i < p->n ? &p->e[i] : NULL;
}

void
wire_peers_remove(wire_peers *p, const uint8_t id[WIRE_ID_BYTES])
{
    wire_peer_entry *e = wire_peers_find(p, id);
    if (e)
        *e = p->e[--p->n];
}

static bool
eligible(const wire_peer_entry *e, uint64_t now_ms)
{
    return !e->dialing && e->backoff_until_ms <= now_ms && e->discouraged_until_ms <= now_ms;
}

wire_peer_entry *
wire_peers_pick(wire_peers *p, uint64_t now_ms, uint64_t rnd)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += eligible(&p->e[i], now_ms);
    if (n == 0)
        return NULL;
    size_t k = (size_t)(rnd % n);
    for (size_t i = 0; i < p->n; i++)
        if (eligible(&p->e[i], now_ms) && k-- == 0)
            return &p->e[i];
    return NULL;
}
