/*
 * harness.h — runs many wire nodes in one process for the wire integration
 * tests and the propagation benchmark. Each node has its own owner thread
 * that calls wire_node_poll; the main thread talks to it only through the
 * atomics and the small publish queue below (wire_node is owner-thread only).
 */
#ifndef ARIA_WIRE_HARNESS_H
#define ARIA_WIRE_HARNESS_H
#include <pthread.h>
#include <stdatomic.h>

#include "wire.h"

#define TH_MAX_TAGS 4096

typedef struct tnode {
    int idx;
    wallet *w;
    wire_node *n;
    pthread_t th;
    atomic_bool stop;
    atomic_bool up;
    pthread_mutex_t mu; /* guards pending */
    int pending[64];
    int npending;
    char gossip_addr[WIRE_ADDR_MAX];
    char service_addr[WIRE_ADDR_MAX];
    _Atomic uint32_t deliveries[TH_MAX_TAGS];
    _Atomic uint64_t delivered_ns[TH_MAX_TAGS];
    _Atomic uint64_t published_ns[TH_MAX_TAGS];
    atomic_size_t peers;
    _Atomic uint32_t foreign;   /* deliveries that did not carry a harness tag */
    _Atomic uint32_t from_evil; /* deliveries signed by the hostile wallet */
    uint8_t evil_id[WIRE_ID_BYTES];
} tnode;

extern const uint8_t th_network_id[WIRE_ID_BYTES];

/* Start node idx (wallet seed derived from idx) bootstrapped from `seed_service`
 * (NULL: none), with optional config tweaks. Returns 0 or an ARIA_E* code. */
int th_start(tnode *t, int idx, const char *seed_service, void (*tweak)(wire_config *));
/* Stop the owner thread and free the node (closing its sockets at once). */
void th_stop(tnode *t);
/* Ask node t to publish tag (LEDGER_ENTRIES body "tag:<n>"). */
void th_publish(tnode *t, int tag);
/* Sleep ms milliseconds. */
void th_sleep_ms(int ms);
/* Make a deterministic wallet for index idx. */
wallet *th_wallet(int idx);
/* The LEDGER_ENTRIES body carrying `tag`; caller frees with aria_free. */
int th_body(int tag, uint8_t **out, size_t *len);

#endif
