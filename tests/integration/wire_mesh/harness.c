/*
 * harness.c — see harness.h.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

const uint8_t th_network_id[WIRE_ID_BYTES] = {0x61, 0x72, 0x69, 0x61, 0x2d, 0x74,
                                              0x65, 0x73, 0x74, 0x6e, 0x65, 0x74};

void
th_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

wallet *
th_wallet(int idx)
{
    uint8_t seed[WALLET_SEED_BYTES];
    memset(seed, 0, sizeof seed);
    aria_store_u32le(seed, (uint32_t)idx + 1);
    seed[31] = 0x77;
    wallet *w = NULL;
    if (wallet_from_seed(seed, &w) != 0)
        return NULL;
    return w;
}

int
th_body(int tag, uint8_t **out, size_t *len)
{
    char txt[32];
    int n = aria_snprintf(txt, sizeof txt, "tag:%d", tag);
    wire_bytes item = {(const uint8_t *)txt, (size_t)n};
    wire_msg m = {.type = WIRE_T_LEDGER_ENTRIES};
    m.u.entries.items = &item;
    m.u.entries.n = 1;
    return wire_msg_encode(&m, out, len);
}

static void
on_event(void *ctx, const wire_event *ev)
{
    tnode *t = ctx;
    if (ev->kind != WIRE_EV_GOSSIP || ev->env->type != WIRE_T_LEDGER_ENTRIES)
        return;
    if (memcmp(ev->env->sender, t->evil_id, WIRE_ID_BYTES) == 0)
        atomic_fetch_add(&t->from_evil, 1);
    wire_msg m;
    if (wire_msg_decode(ev->env->type, ev->env->body, ev->env->body_len, &m) != 0) {
        atomic_fetch_add(&t->foreign, 1);
        return;
    }
    int tag = -1;
    if (m.u.entries.n == 1 && m.u.entries.items[0].n > 4 && m.u.entries.items[0].n < 16 &&
        memcmp(m.u.entries.items[0].p, "tag:", 4) == 0) {
        char txt[16];
        memcpy(txt, m.u.entries.items[0].p, m.u.entries.items[0].n);
        txt[m.u.entries.items[0].n] = 0;
        int64_t v;
        if (aria_parse_i64(txt + 4, 0, TH_MAX_TAGS - 1, "tag", &v) == 0)
            tag = (int)v;
    }
    wire_msg_fini(&m);
    if (tag < 0) {
        atomic_fetch_add(&t->foreign, 1);
        return;
    }
    if (atomic_fetch_add(&t->deliveries[tag], 1) == 0)
        atomic_store(&t->delivered_ns[tag], aria_mono_ns());
}

static void *
runner(void *arg)
{
    tnode *t = arg;
    while (!atomic_load(&t->stop)) {
        if (wire_node_poll(t->n, 5) < 0)
            break;
        pthread_mutex_lock(&t->mu);
        int k = t->npending;
        int tags[64];
        memcpy(tags, t->pending, sizeof(int) * (size_t)k);
        t->npending = 0;
        pthread_mutex_unlock(&t->mu);
        for (int i = 0; i < k; i++) {
            uint8_t *b;
            size_t bl;
            if (th_body(tags[i], &b, &bl) != 0)
                continue;
            atomic_store(&t->published_ns[tags[i]], aria_mono_ns());
            int rc = wire_node_publish(t->n, WIRE_T_LEDGER_ENTRIES, b, bl, NULL);
            if (rc == ARIA_EAGAIN)
                th_publish(t, tags[i]); /* no link yet: try again next turn */
            else if (rc)
                fprintf(stderr, "node %d: publish failed: %s\n", t->idx, aria_err_msg());
            aria_free(b);
        }
        atomic_store(&t->peers, wire_node_peer_count(t->n));
    }
    wire_node_free(t->n);
    t->n = NULL;
    return NULL;
}

int
th_start(tnode *t, int idx, const char *seed_service, void (*tweak)(wire_config *))
{
    uint8_t evil[WIRE_ID_BYTES];
    memcpy(evil, t->evil_id, sizeof evil);
    memset(t, 0, sizeof *t);
    memcpy(t->evil_id, evil, sizeof evil);
    t->idx = idx;
    if (!t->w)
        t->w = th_wallet(idx);
    if (!t->w)
        return ARIA_EINTERNAL;
    wire_config c;
    wire_config_default(&c);
    c.wallet = t->w;
    memcpy(c.network_id, th_network_id, WIRE_ID_BYTES);
    const char *boot[1] = {seed_service};
    if (seed_service) {
        c.bootstrap = boot;
        c.n_bootstrap = 1;
    }
    c.on_event = on_event;
    c.on_event_ctx = t;
    c.tick_ms = 20;
    if (tweak)
        tweak(&c);
    int rc = wire_node_new(&c, &t->n);
    if (rc)
        return rc;
    aria_snprintf(t->gossip_addr, sizeof t->gossip_addr, "%s", wire_node_gossip_addr(t->n));
    aria_snprintf(t->service_addr, sizeof t->service_addr, "%s", wire_node_service_addr(t->n));
    pthread_mutex_init(&t->mu, NULL);
    if (pthread_create(&t->th, NULL, runner, t) != 0) {
        wire_node_free(t->n);
        return ARIA_EINTERNAL;
    }
    atomic_store(&t->up, true);
    return 0;
}

void
th_stop(tnode *t)
{
    if (!atomic_load(&t->up))
        return;
    atomic_store(&t->stop, true);
    pthread_join(t->th, NULL);
    pthread_mutex_destroy(&t->mu);
    atomic_store(&t->up, false);
    wallet_free(t->w);
    t->w = NULL;
}

void
th_publish(tnode *t, int tag)
{
    pthread_mutex_lock(&t->mu);
    if (t->npending < 64)
        t->pending[t->npending++] = tag;
    pthread_mutex_unlock(&t->mu);
}
