/*
 * wire_node.c — the gossip node: nng sockets, the owner queue, the receive
 * pipeline, peer exchange and dialing policy, the service channel and the
 * hardening rules of wire.h.
 *
 * Threads: nng callbacks (gossip_recv_cb, pipe_cb, svc_cb, req_cb) touch only
 * what `mu` protects (the queue, the pipe table, the IP ban list) and the
 * atomic counters; everything else belongs to the owner thread that calls
 * wire_node_poll. Callbacks never call into the owner's code. The owner
 * never holds `mu` while calling an nng function that waits for callbacks
 * (nng_close, nng_aio_stop, nng_aio_free), so the two cannot deadlock.
 *
 * Invariants: every socket has NNG_OPT_RECVMAXSZ set before it listens or
 * dials; every receive has a timeout; the queue holds at most queue_max
 * gossip frames (other events are bounded by the pipe, worker and request
 * caps); a message id enters the seen cache only after its signature
 * verified.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/bus0/bus.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "wire.h"
#include "wire_peers.h"
#include "wire_seen.h"

#define MOD          "wire"
#define RECV_MARGIN  4096u /* nng's cap sits this far above ours so we see cap+1 and punish */
#define RECV_POLL_MS 1000  /* socket receive timeout (synchronous receives) */
/* Asynchronous receives that wait for the next frame re-arm after this long.
 * Kept long: every expiry is an aio abort, and aborts racing a completion
 * are where nng 1.5.2's close can hang (nanomsg/nng#1543). */
#define AIO_IDLE_MS   30000
#define SEND_TIMEOUT  2000
#define SVC_PIPES_MAX 256u
#define BANS_MAX      256u
#define BACKOFF_BASE  500u
#define PX_TIMEOUT_MS 2000u
#define PX_FAST_MS    1000u

/* ------------------------------------------------------------------ */
/* Counters                                                             */
/* ------------------------------------------------------------------ */
#define NSTATS (sizeof(wire_stats) / sizeof(uint64_t))
#define ST(f)  (offsetof(wire_stats, f) / sizeof(uint64_t))

/* ------------------------------------------------------------------ */
/* Types                                                                */
/* ------------------------------------------------------------------ */
typedef enum qkind { Q_GOSSIP, Q_SVC, Q_REQ, Q_PIPE_UP, Q_PIPE_DOWN } qkind;

typedef struct qev {
    struct qev *next;
    qkind kind;
    nng_msg *msg;
    uint32_t pipe_id;
    uint32_t dialer_id;
    uint32_t idx; /* worker or request slot */
    int err;      /* nng error */
} qev;

typedef struct pipe_slot { /* under mu */
    uint32_t id;           /* 0 = free */
    bool gossip;
    bool inbound;
    uint32_t dialer_id;
    char ip[64];
    double tokens;
    uint64_t last_ms;
    uint32_t drops; /* consecutive rate drops */
} pipe_slot;

typedef struct ip_ban { /* under mu */
    char ip[64];
    uint64_t until_ms;
} ip_ban;

typedef struct dial_slot { /* owner */
    bool used;
    bool connected;
    uint8_t peer[WIRE_ID_BYTES];
    nng_dialer d;
    uint32_t dialer_id;
    uint64_t since_ms; /* slot start or last long-lived pipe loss */
    uint64_t up_ms;
} dial_slot;

/* W_QUEUED: received, waiting in the owner queue; W_OWNER: delivered, waiting
 * for wire_node_reply (the reply timer runs only in this state). */
enum { W_RECV = 0, W_QUEUED = 1, W_OWNER = 2, W_SEND = 3 };

typedef struct svc_worker {
    struct wire_node *n;
    uint32_t idx;
    nng_ctx ctx;
    nng_aio *aio;
    _Atomic int state;
    uint64_t gen;
    uint64_t deadline_ms;
} svc_worker;

enum { R_FREE = 0, R_SEND = 1, R_RECV = 2 };

/* One REQ socket per remote service address, kept open and shared by the
 * conversations to it (one nng context each). Closing sockets is kept rare
 * on purpose: nng 1.5.2 can hang in nng_close when a socket is closed while
 * a dialer task is in flight (nanomsg/nng#1543), and a socket per
 * conversation closed one socket per request. */
typedef struct svc_conn {
    bool used;
    char addr[WIRE_ADDR_MAX];
    nng_socket sock;
    uint32_t refs;    /* conversations using it */
    uint64_t last_ms; /* last use (LRU) */
    uint32_t fails;   /* consecutive failed conversations */
} svc_conn;

#define CONNS_MAX 32

typedef struct out_req {
    struct wire_node *n;
    uint32_t idx;
    _Atomic int state;
    uint32_t conn;
    nng_ctx ctx;
    nng_aio *aio;
    uint64_t id;
    void *cookie;
    bool has_expect;
    bool internal_px;
    uint8_t expect[WIRE_ID_BYTES];
    uint64_t deadline_ms;
} out_req;

struct wire_node {
    wire_config cfg;
    const aria_clock *clock;
    uint8_t id[WIRE_ID_BYTES];
    nng_socket gsock, ssock;
    bool gsock_open, ssock_open;
    char gaddr[WIRE_ADDR_MAX], saddr[WIRE_ADDR_MAX];
    nng_aio *grecv;
    int efd;

    pthread_mutex_t mu; /* guards everything down to `bans` */
    qev *qhead, *qtail;
    size_t q_gossip;
    pipe_slot *pipes;
    size_t npipes;
    uint32_t n_in, n_out, n_svc;
    ip_ban bans[BANS_MAX];
    atomic_bool closing; /* wire_node_free started: receives are drained and dropped */

    /* owner thread */
    wire_seen *seen;
    wire_peers *peers;
    dial_slot *slots;
    svc_worker *workers;
    out_req *reqs;
    svc_conn conns[CONNS_MAX];
    uint64_t svc_gen, req_next;
    char **boot;
    size_t n_boot, boot_cap, px_next;
    bool px_pending;
    uint64_t next_px_ms;
    wire_peer_record self_rec;
    bool announce_needed;
    uint64_t last_announce_ms;
    uint64_t next_tick_ms;
    uint64_t seq;
    uint64_t rng;
    char **models;

    _Atomic uint64_t st[NSTATS];
};

static void
stat_add(wire_node *n, size_t i, uint64_t v)
{
    atomic_fetch_add_explicit(&n->st[i], v, memory_order_relaxed);
}
static void
stat_set(wire_node *n, size_t i, uint64_t v)
{
    atomic_store_explicit(&n->st[i], v, memory_order_relaxed);
}

static uint64_t
rnd64(wire_node *n)
{
    uint64_t x = n->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    n->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

static uint64_t
now_mono(const wire_node *n)
{
    return aria_clock_mono_ms(n->clock);
}

static int
map_nng(int rv, const char *what)
{
    if (rv == 0)
        return 0;
    ARIA_LOG_D("W0001", MOD, "%s: nng error %d (%s)", what, rv, nng_strerror(rv));
    switch (rv) {
    case NNG_ENOMEM: return ARIA_ENOMEM;
    case NNG_ETIMEDOUT: return ARIA_ETIMEDOUT;
    case NNG_ECLOSED: return ARIA_ECLOSED;
    case NNG_ECONNREFUSED: return ARIA_ECLOSED;
    case NNG_ECANCELED: return ARIA_ECANCELED;
    case NNG_EADDRINVAL: return aria_errf(ARIA_EINVAL, "%s: invalid address", what);
    case NNG_EADDRINUSE: return aria_errf(ARIA_EIO, "%s: address in use", what);
    default: return aria_errf(ARIA_EIO, "%s: %s", what, nng_strerror(rv));
    }
}

/* ------------------------------------------------------------------ */
/* The owner queue                                                      */
/* ------------------------------------------------------------------ */
static void
enqueue_locked(wire_node *n, qev *e)
{
    bool was_empty = n->qhead == NULL;
    e->next = NULL;
    if (n->qtail)
        n->qtail->next = e;
    else
        n->qhead = e;
    n->qtail = e;
    if (e->kind == Q_GOSSIP)
        n->q_gossip++;
    if (was_empty) {
        uint64_t one = 1;
        ssize_t w = write(n->efd, &one, sizeof one);
        (void)w; /* counter saturation is impossible at these rates */
    }
}

static void
enqueue(wire_node *n, qev *e)
{
    pthread_mutex_lock(&n->mu);
    enqueue_locked(n, e);
    pthread_mutex_unlock(&n->mu);
}

static qev *
qev_new(qkind k)
{
    qev *e = aria_calloc(1, sizeof *e);
    if (e)
        e->kind = k;
    return e;
}

/* ------------------------------------------------------------------ */
/* Pipe table and bans (under mu)                                       */
/* ------------------------------------------------------------------ */
static pipe_slot *
pipe_find_locked(wire_node *n, uint32_t id)
{
    for (size_t i = 0; i < n->npipes; i++)
        if (n->pipes[i].id == id)
            return &n->pipes[i];
    return NULL;
}

static bool
ip_banned_locked(wire_node *n, const char *ip, uint64_t now)
{
    for (size_t i = 0; i < BANS_MAX; i++)
        if (n->bans[i].until_ms > now && strcmp(n->bans[i].ip, ip) == 0)
            return true;
    return false;
}

static void
ban_ip(wire_node *n, const char *ip, uint64_t now)
{
    if (!ip[0])
        return;
    pthread_mutex_lock(&n->mu);
    size_t victim = 0;
    for (size_t i = 0; i < BANS_MAX; i++) {
        if (strcmp(n->bans[i].ip, ip) == 0 || n->bans[i].until_ms <= now) {
            victim = i;
            break;
        }
        if (n->bans[i].until_ms < n->bans[victim].until_ms)
            victim = i;
    }
    aria_snprintf(n->bans[victim].ip, sizeof n->bans[victim].ip, "%s", ip);
    n->bans[victim].until_ms = now + n->cfg.discourage_ms;
    pthread_mutex_unlock(&n->mu);
}

static void
pipe_ip(nng_pipe p, char *out, size_t cap)
{
    nng_sockaddr sa;
    out[0] = 0;
    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
        return;
    if (sa.s_family == NNG_AF_INET) {
        const uint8_t *a = (const uint8_t *)&sa.s_in.sa_addr;
        aria_snprintf(out, cap, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
    } else if (sa.s_family == NNG_AF_INET6) {
        aria_hex_encode(out, cap, sa.s_in6.sa_addr, 16);
    }
}

static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    wire_node *n = arg;
    uint32_t pid = (uint32_t)nng_pipe_id(p);
    bool gossip = nng_socket_id(nng_pipe_socket(p)) == nng_socket_id(n->gsock);
    bool inbound = nng_listener_id(nng_pipe_listener(p)) > 0;
    int did = nng_dialer_id(nng_pipe_dialer(p));
    if (ev == NNG_PIPE_EV_ADD_PRE) {
        char ip[64];
        pipe_ip(p, ip, sizeof ip);
        bool refuse = false;
        uint64_t now = aria_mono_ms();
        pthread_mutex_lock(&n->mu);
        if (inbound && ip_banned_locked(n, ip, now))
            refuse = true;
        else if (gossip && inbound && n->n_in >= n->cfg.inbound_max)
            refuse = true;
        else if (!gossip && inbound && n->n_svc >= SVC_PIPES_MAX)
            refuse = true;
        pipe_slot *s = NULL;
        if (!refuse && (gossip || inbound)) {
            s = pipe_find_locked(n, 0);
            if (!s)
                refuse = true;
        }
        if (s) {
            memset(s, 0, sizeof *s);
            s->id = pid;
            s->gossip = gossip;
            s->inbound = inbound;
            s->dialer_id = did > 0 ? (uint32_t)did : 0;
            memcpy(s->ip, ip, sizeof ip);
            s->tokens = n->cfg.rate_burst;
            s->last_ms = now;
            if (!gossip)
                n->n_svc++;
            else if (inbound)
                n->n_in++;
            else
                n->n_out++;
            stat_set(n, ST(pipes_inbound), n->n_in);
            stat_set(n, ST(pipes_outbound), n->n_out);
        }
        pthread_mutex_unlock(&n->mu);
        if (refuse) {
            stat_add(n, ST(pipes_refused), 1);
            nng_pipe_close(p);
        }
        return;
    }
    if (!gossip) {
        if (ev == NNG_PIPE_EV_REM_POST) {
            pthread_mutex_lock(&n->mu);
            pipe_slot *s = pipe_find_locked(n, pid);
            if (s) {
                s->id = 0;
                n->n_svc--;
            }
            pthread_mutex_unlock(&n->mu);
        }
        return;
    }
    qev *e = qev_new(ev == NNG_PIPE_EV_ADD_POST ? Q_PIPE_UP : Q_PIPE_DOWN);
    pthread_mutex_lock(&n->mu);
    if (ev == NNG_PIPE_EV_REM_POST) {
        pipe_slot *s = pipe_find_locked(n, pid);
        if (s) {
            if (s->inbound)
                n->n_in--;
            else
                n->n_out--;
            s->id = 0;
            stat_set(n, ST(pipes_inbound), n->n_in);
            stat_set(n, ST(pipes_outbound), n->n_out);
        }
    }
    if (e) {
        e->pipe_id = pid;
        e->dialer_id = did > 0 ? (uint32_t)did : 0;
        enqueue_locked(n, e);
    }
    pthread_mutex_unlock(&n->mu);
}

/* Token bucket; under mu. */
static bool
rate_take_locked(wire_node *n, pipe_slot *s, uint64_t now)
{
    if (now > s->last_ms) {
        s->tokens += (double)(now - s->last_ms) * n->cfg.rate_per_s / 1000.0;
        if (s->tokens > n->cfg.rate_burst)
            s->tokens = n->cfg.rate_burst;
        s->last_ms = now;
    }
    if (s->tokens < 1.0)
        return false;
    s->tokens -= 1.0;
    return true;
}

/* ------------------------------------------------------------------ */
/* nng callbacks                                                        */
/* ------------------------------------------------------------------ */
static void
gossip_recv_cb(void *arg)
{
    wire_node *n = arg;
    int rv = nng_aio_result(n->grecv);
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
        return;
    if (rv == 0 && atomic_load(&n->closing)) {
        nng_msg_free(nng_aio_get_msg(n->grecv));
        nng_aio_set_msg(n->grecv, NULL);
    } else if (rv == 0) {
        nng_msg *m = nng_aio_get_msg(n->grecv);
        nng_pipe p = nng_msg_get_pipe(m);
        size_t len = nng_msg_len(m);
        stat_add(n, ST(gossip_received), 1);
        stat_add(n, ST(gossip_bytes_received), len);
        bool keep = true, close_pipe = false;
        qev *e = qev_new(Q_GOSSIP);
        uint64_t now = aria_mono_ms();
        pthread_mutex_lock(&n->mu);
        pipe_slot *s = pipe_find_locked(n, (uint32_t)nng_pipe_id(p));
        if (s && !rate_take_locked(n, s, now)) {
            keep = false;
            stat_add(n, ST(rejected_rate), 1);
            if (++s->drops > n->cfg.rate_burst) {
                close_pipe = true;
                s->drops = 0;
            }
        } else if (s) {
            s->drops = 0;
        }
        if (keep && (n->q_gossip >= n->cfg.queue_max || !e)) {
            keep = false;
            stat_add(n, ST(queue_drops), 1);
        }
        if (keep) {
            e->msg = m;
            e->pipe_id = (uint32_t)nng_pipe_id(p);
            enqueue_locked(n, e);
        }
        pthread_mutex_unlock(&n->mu);
        if (!keep) {
            nng_msg_free(m);
            aria_free(e);
        }
        if (close_pipe) {
            stat_add(n, ST(pipes_closed_flood), 1);
            nng_pipe_close(p);
        }
    }
    nng_recv_aio(n->gsock, n->grecv);
}

static void
svc_cb(void *arg)
{
    svc_worker *w = arg;
    wire_node *n = w->n;
    int rv = nng_aio_result(w->aio);
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
        if (atomic_load(&w->state) == W_SEND && nng_aio_get_msg(w->aio)) {
            nng_msg_free(nng_aio_get_msg(w->aio));
            nng_aio_set_msg(w->aio, NULL);
        }
        return;
    }
    if (atomic_load(&w->state) == W_SEND) {
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(w->aio));
            nng_aio_set_msg(w->aio, NULL);
        }
        atomic_store(&w->state, W_RECV);
        nng_aio_set_timeout(w->aio, AIO_IDLE_MS);
        nng_ctx_recv(w->ctx, w->aio);
        return;
    }
    if (rv != 0) { /* receive timeout: keep listening */
        nng_ctx_recv(w->ctx, w->aio);
        return;
    }
    qev *e = qev_new(Q_SVC);
    nng_msg *m = nng_aio_get_msg(w->aio);
    nng_aio_set_msg(w->aio, NULL);
    if (!e) {
        nng_msg_free(m);
        nng_ctx_recv(w->ctx, w->aio);
        return;
    }
    stat_add(n, ST(service_received), 1);
    atomic_store(&w->state, W_QUEUED);
    e->msg = m;
    e->idx = w->idx;
    e->pipe_id = (uint32_t)nng_pipe_id(nng_msg_get_pipe(m));
    enqueue(n, e);
}

static void
req_cb(void *arg)
{
    out_req *r = arg;
    wire_node *n = r->n;
    int rv = nng_aio_result(r->aio);
    if (atomic_load(&r->state) == R_SEND && rv == 0) {
        atomic_store(&r->state, R_RECV);
        uint64_t now = aria_mono_ms();
        uint64_t left = r->deadline_ms > now ? r->deadline_ms - now : 1;
        nng_aio_set_timeout(r->aio, (nng_duration)left);
        nng_ctx_recv(r->ctx, r->aio);
        return;
    }
    nng_msg *m = NULL;
    if (atomic_load(&r->state) == R_SEND) {
        nng_msg *unsent = nng_aio_get_msg(r->aio);
        if (unsent)
            nng_msg_free(unsent);
        nng_aio_set_msg(r->aio, NULL);
    } else if (rv == 0) {
        m = nng_aio_get_msg(r->aio);
        nng_aio_set_msg(r->aio, NULL);
    }
    qev *e = qev_new(Q_REQ);
    if (!e) { /* cannot report; the slot stays busy until free */
        if (m)
            nng_msg_free(m);
        return;
    }
    e->msg = m;
    e->err = rv;
    e->idx = r->idx;
    enqueue(n, e);
}

/* ------------------------------------------------------------------ */
/* Offences                                                             */
/* ------------------------------------------------------------------ */
static void
dial_slot_release(wire_node *n, dial_slot *ds, bool failed, uint64_t discourage_until)
{
    if (!ds->used)
        return;
    nng_dialer_close(ds->d);
    wire_peer_entry *e = wire_peers_find(n->peers, ds->peer);
    if (e) {
        e->dialing = false;
        uint64_t now = now_mono(n);
        if (failed) {
            e->fails++;
            uint32_t sh = e->fails < 8 ? e->fails : 8;
            uint64_t b = (uint64_t)BACKOFF_BASE << sh;
            if (b > n->cfg.backoff_max_ms)
                b = n->cfg.backoff_max_ms;
            e->backoff_until_ms = now + b;
        }
        if (discourage_until)
            e->discouraged_until_ms = discourage_until;
    }
    memset(ds, 0, sizeof *ds);
}

/* A pipe delivered something no honest node sends: close it, discourage. */
static void
offence(wire_node *n, uint32_t pipe_id, const char *why)
{
    char ip[64] = "";
    bool inbound = false, found = false;
    uint32_t did = 0;
    pthread_mutex_lock(&n->mu);
    pipe_slot *s = pipe_find_locked(n, pipe_id);
    if (s) {
        found = true;
        inbound = s->inbound;
        did = s->dialer_id;
        memcpy(ip, s->ip, sizeof ip);
    }
    pthread_mutex_unlock(&n->mu);
    nng_pipe p = NNG_PIPE_INITIALIZER;
    p.id = pipe_id;
    if (pipe_id)
        nng_pipe_close(p);
    stat_add(n, ST(pipes_closed_offender), 1);
    stat_add(n, ST(offences), 1);
    uint64_t now = now_mono(n);
    ARIA_LOG_I("W0002", MOD, "closed pipe %u (%s %s): %s", pipe_id,
               !found    ? "already gone"
               : inbound ? "inbound"
                         : "outbound",
               ip, why);
    if (!found)
        return;
    if (inbound) {
        ban_ip(n, ip, aria_mono_ms());
    } else if (did) {
        for (uint32_t i = 0; i < n->cfg.outbound_target; i++)
            if (n->slots[i].used && n->slots[i].dialer_id == did)
                dial_slot_release(n, &n->slots[i], true, now + n->cfg.discourage_ms);
    }
}

/* ------------------------------------------------------------------ */
/* Sending                                                              */
/* ------------------------------------------------------------------ */
static bool
is_gossip_type(uint32_t t)
{
    return t == WIRE_T_PEER_RECORD || t == WIRE_T_JOB_OFFER || t == WIRE_T_LEDGER_ENTRIES ||
           t == WIRE_T_FORK_PROOF;
}

static bool
is_request_type(uint32_t t)
{
    return t == WIRE_T_BID || t == WIRE_T_AWARD || t == WIRE_T_CHUNK_REQUEST ||
           t == WIRE_T_SYNC_REQUEST || t == WIRE_T_PEERS_REQUEST || t == WIRE_T_LEDGER_ENTRIES ||
           t == WIRE_T_FORK_PROOF || t == WIRE_T_JOB_OFFER;
}

static int
build(wire_node *n, uint32_t type, uint32_t hops, const void *body, size_t len, nng_msg **out,
      uint8_t id[WIRE_ID_BYTES])
{
    uint8_t *frame = NULL;
    size_t flen = 0;
    uint64_t created = aria_clock_wall_ms(n->clock);
    int rc = wire_envelope_build(n->cfg.wallet, n->cfg.network_id, type, ++n->seq, created, hops,
                                 body, len, &frame, &flen, id);
    if (rc)
        return rc;
    nng_msg *m;
    int rv = nng_msg_alloc(&m, 0);
    if (rv == 0) {
        rv = nng_msg_append(m, frame, flen);
        if (rv)
            nng_msg_free(m);
    }
    aria_free(frame);
    if (rv)
        return map_nng(rv, "wire: message");
    *out = m;
    return 0;
}

static uint64_t
gossip_fanout(wire_node *n)
{
    return atomic_load(&n->st[ST(pipes_inbound)]) + atomic_load(&n->st[ST(pipes_outbound)]);
}

int
wire_node_publish(wire_node *n, uint32_t type, const void *body, size_t len,
                  uint8_t msg_id[WIRE_ID_BYTES])
{
    if (!is_gossip_type(type))
        return aria_errf(ARIA_EINVAL, "wire: %s cannot be gossiped", wire_type_name(type));
    uint8_t id[WIRE_ID_BYTES];
    nng_msg *m;
    int rc = build(n, type, n->cfg.hops, body, len, &m, id);
    if (rc)
        return rc;
    size_t flen = nng_msg_len(m);
    if (flen > WIRE_GOSSIP_MAX_BYTES) {
        nng_msg_free(m);
        return aria_errf(ARIA_ERANGE, "wire: gossip frame of %zu bytes over limit %u", flen,
                         WIRE_GOSSIP_MAX_BYTES);
    }
    uint64_t fan = gossip_fanout(n);
    if (fan == 0) {
        nng_msg_free(m);
        return aria_errf(ARIA_EAGAIN, "wire: no gossip link yet; publish again later");
    }
    if (wire_seen_insert(n->seen, id) != 0)
        ARIA_LOG_D("W0003", MOD, "published id already seen");
    stat_add(n, ST(gossip_bytes_sent), flen * fan);
    int rv = nng_sendmsg(n->gsock, m, NNG_FLAG_NONBLOCK);
    if (rv) {
        nng_msg_free(m);
        return map_nng(rv, "wire: publish");
    }
    stat_add(n, ST(gossip_published), 1);
    if (msg_id)
        memcpy(msg_id, id, WIRE_ID_BYTES);
    return 0;
}

static void
forward(wire_node *n, wire_envelope *e, uint32_t from_pipe)
{
    if (e->hops == 0)
        return;
    e->hops--;
    uint8_t *frame;
    size_t flen;
    if (wire_envelope_encode(e, &frame, &flen) != 0)
        return;
    nng_msg *m;
    if (nng_msg_alloc(&m, 0) == 0) {
        if (nng_msg_append(m, frame, flen) == 0) {
            nng_pipe p = NNG_PIPE_INITIALIZER;
            p.id = from_pipe;
            /* raw BUS leaves out the pipe whose id is in the message header
             * (nng 1.5.2 bus0: the header a raw receive adds); the pipe is
             * set too for nng versions that look there */
            nng_msg_set_pipe(m, p);
            if (nng_msg_header_append_u32(m, from_pipe) != 0)
                ARIA_LOG_D("W0004", MOD, "no header room; forward echoes");
            uint64_t fan = gossip_fanout(n);
            if (nng_sendmsg(n->gsock, m, NNG_FLAG_NONBLOCK) == 0) {
                stat_add(n, ST(gossip_forwarded), 1);
                stat_add(n, ST(gossip_bytes_sent), flen * (fan ? fan - 1 : 0));
            } else {
                nng_msg_free(m);
            }
        } else {
            nng_msg_free(m);
        }
    }
    aria_free(frame);
}

/* ------------------------------------------------------------------ */
/* Peers                                                                */
/* ------------------------------------------------------------------ */
static void
emit(wire_node *n, const wire_event *ev)
{
    if (n->cfg.on_event)
        n->cfg.on_event(n->cfg.on_event_ctx, ev);
}

/* A verified record: into the table, event if new or newer. */
static void
peer_learn(wire_node *n, const wire_peer_record *r)
{
    int rc = wire_peers_upsert(n->peers, r, now_mono(n));
    stat_set(n, ST(peers_known), wire_peers_count(n->peers));
    if (rc == 0 || rc == 1) {
        wire_event ev = {.kind = WIRE_EV_PEER, .peer = r};
        emit(n, &ev);
    }
}

static int
sign_self(wire_node *n)
{
    uint64_t now = aria_clock_wall_ms(n->clock);
    n->self_rec.created_ms = now > n->self_rec.created_ms ? now : n->self_rec.created_ms + 1;
    return wire_peer_record_sign(n->cfg.wallet, &n->self_rec);
}

static void
announce(wire_node *n)
{
    if (sign_self(n) != 0)
        return;
    wire_msg m = {.type = WIRE_T_PEER_RECORD};
    m.u.peer = n->self_rec;
    uint8_t *body;
    size_t len;
    if (wire_msg_encode(&m, &body, &len) != 0)
        return;
    if (wire_node_publish(n, WIRE_T_PEER_RECORD, body, len, NULL) == 0) {
        n->announce_needed = false;
        n->last_announce_ms = now_mono(n);
    }
    aria_free(body);
}

/* ------------------------------------------------------------------ */
/* Receive pipeline: gossip                                             */
/* ------------------------------------------------------------------ */
static uint64_t
max_age(const wire_node *n)
{
    return n->cfg.seen_ttl_ms - WIRE_CLOCK_SKEW_MS;
}

/* Verify network, age, signature. Returns 0, or the rejection code after
 * counting it. */
static int
check_envelope(wire_node *n, const wire_envelope *e)
{
    int rc = wire_envelope_verify(e, n->cfg.network_id, aria_clock_wall_ms(n->clock), max_age(n));
    if (rc == ARIA_EPERM)
        stat_add(n, ST(rejected_network), 1);
    else if (rc == ARIA_ERANGE)
        stat_add(n, ST(rejected_stale), 1);
    else if (rc)
        stat_add(n, ST(rejected_bad_sig), 1);
    return rc;
}

static void
process_gossip(wire_node *n, nng_msg *msg, uint32_t pipe_id)
{
    size_t len = nng_msg_len(msg);
    if (len > WIRE_GOSSIP_MAX_BYTES) {
        stat_add(n, ST(rejected_oversize), 1);
        offence(n, pipe_id, "over-size gossip frame");
        return;
    }
    wire_envelope e;
    if (wire_envelope_decode(nng_msg_body(msg), len, WIRE_GOSSIP_MAX_BYTES, &e) != 0) {
        stat_add(n, ST(rejected_malformed), 1);
        offence(n, pipe_id, aria_err_msg());
        return;
    }
    uint8_t id[WIRE_ID_BYTES];
    wire_envelope_id(&e, id);
    if (wire_seen_contains(n->seen, id)) {
        stat_add(n, ST(gossip_duplicates), 1);
        goto done;
    }
    if (!is_gossip_type(e.type)) {
        stat_add(n, ST(rejected_type), 1);
        goto done;
    }
    int rc = check_envelope(n, &e);
    if (rc == ARIA_EPERM) { /* another network: nothing to say to each other */
        nng_pipe p = NNG_PIPE_INITIALIZER;
        p.id = pipe_id;
        nng_pipe_close(p);
        goto done;
    }
    if (rc == ARIA_ECRYPTO) {
        offence(n, pipe_id, "bad envelope signature");
        goto done;
    }
    if (rc)
        goto done;
    if (wire_seen_insert(n->seen, id) != 0)
        goto done;
    if (e.type == WIRE_T_PEER_RECORD) {
        wire_msg m;
        if (wire_msg_decode(e.type, e.body, e.body_len, &m) != 0) {
            stat_add(n, ST(rejected_malformed), 1);
            goto done;
        }
        bool ok = memcmp(m.u.peer.node_id, e.sender, WIRE_ID_BYTES) == 0 &&
                  wire_peer_record_verify(&m.u.peer, n->cfg.network_id) == 0;
        if (ok)
            peer_learn(n, &m.u.peer);
        wire_msg_fini(&m);
        if (!ok) {
            stat_add(n, ST(rejected_malformed), 1);
            goto done;
        }
    }
    stat_add(n, ST(gossip_delivered), 1);
    wire_event ev = {.kind = WIRE_EV_GOSSIP, .env = &e, .msg_id = id};
    emit(n, &ev);
    forward(n, &e, pipe_id);
done:
    wire_envelope_fini(&e);
}

/* ------------------------------------------------------------------ */
/* Service channel: incoming                                            */
/* ------------------------------------------------------------------ */
static void
worker_listen(svc_worker *w)
{
    atomic_store(&w->state, W_RECV);
    nng_aio_set_timeout(w->aio, AIO_IDLE_MS);
    nng_ctx_recv(w->ctx, w->aio);
}

static int
worker_send(wire_node *n, svc_worker *w, uint32_t type, const void *body, size_t len)
{
    nng_msg *m;
    int rc = build(n, type, 0, body, len, &m, NULL);
    if (rc) {
        /* cannot reply (e.g. body too large): answer with an ACK instead */
        wire_msg ack = {.type = WIRE_T_ACK};
        ack.u.ack.code = rc;
        ack.u.ack.detail = "reply could not be built";
        uint8_t *b;
        size_t bl;
        if (wire_msg_encode(&ack, &b, &bl) != 0 || build(n, WIRE_T_ACK, 0, b, bl, &m, NULL)) {
            worker_listen(w);
            return rc;
        }
        aria_free(b);
    }
    stat_add(n, ST(service_replied), 1);
    atomic_store(&w->state, W_SEND);
    nng_aio_set_msg(w->aio, m);
    nng_aio_set_timeout(w->aio, SEND_TIMEOUT);
    nng_ctx_send(w->ctx, w->aio);
    return rc;
}

static void
worker_ack(wire_node *n, svc_worker *w, int code, const char *detail)
{
    wire_msg ack = {.type = WIRE_T_ACK};
    ack.u.ack.code = code;
    ack.u.ack.detail = detail;
    uint8_t *b;
    size_t bl;
    if (wire_msg_encode(&ack, &b, &bl) != 0) {
        worker_listen(w);
        return;
    }
    (void)worker_send(n, w, WIRE_T_ACK, b, bl);
    aria_free(b);
}

static void
answer_peers(wire_node *n, svc_worker *w, uint32_t want)
{
    size_t max = want && want < WIRE_PEERS_REPLY_MAX ? want : WIRE_PEERS_REPLY_MAX;
    wire_peer_record *recs = aria_alloc_array(max, sizeof *recs);
    if (!recs) {
        worker_ack(n, w, ARIA_ENOMEM, "out of memory");
        return;
    }
    size_t k = 0;
    if (sign_self(n) == 0)
        recs[k++] = n->self_rec;
    size_t total = wire_peers_count(n->peers);
    size_t start = total ? (size_t)(rnd64(n) % total) : 0;
    for (size_t i = 0; i < total && k < max; i++)
        recs[k++] = wire_peers_at(n->peers, (start + i) % total)->rec;
    wire_msg m = {.type = WIRE_T_PEERS_REPLY};
    m.u.peers.records = recs;
    m.u.peers.n = k;
    uint8_t *b;
    size_t bl;
    if (wire_msg_encode(&m, &b, &bl) == 0) {
        (void)worker_send(n, w, WIRE_T_PEERS_REPLY, b, bl);
        aria_free(b);
    } else {
        worker_ack(n, w, ARIA_EINTERNAL, "peer list could not be encoded");
    }
    aria_free(recs);
}

static void
process_service(wire_node *n, uint32_t idx, nng_msg *msg, uint32_t pipe_id)
{
    svc_worker *w = &n->workers[idx];
    w->gen = ++n->svc_gen;
    w->deadline_ms = now_mono(n) + n->cfg.reply_timeout_ms;
    atomic_store(&w->state, W_OWNER);
    size_t len = nng_msg_len(msg);
    wire_envelope e;
    if (len > WIRE_FRAME_MAX_BYTES) {
        stat_add(n, ST(rejected_oversize), 1);
        stat_add(n, ST(service_rejected), 1);
        offence(n, pipe_id, "over-size service frame");
        worker_listen(w);
        return;
    }
    if (wire_envelope_decode(nng_msg_body(msg), len, WIRE_FRAME_MAX_BYTES, &e) != 0) {
        stat_add(n, ST(rejected_malformed), 1);
        stat_add(n, ST(service_rejected), 1);
        offence(n, pipe_id, aria_err_msg());
        worker_listen(w);
        return;
    }
    uint8_t id[WIRE_ID_BYTES];
    wire_envelope_id(&e, id);
    if (wire_seen_contains(n->seen, id)) {
        stat_add(n, ST(service_rejected), 1);
        worker_ack(n, w, ARIA_EEXIST, "replayed request");
        goto done;
    }
    if (!is_request_type(e.type)) {
        stat_add(n, ST(rejected_type), 1);
        stat_add(n, ST(service_rejected), 1);
        worker_ack(n, w, ARIA_EPROTO, "not a request type");
        goto done;
    }
    int rc = check_envelope(n, &e);
    if (rc == ARIA_ECRYPTO) {
        stat_add(n, ST(service_rejected), 1);
        offence(n, pipe_id, "bad request signature");
        worker_listen(w);
        goto done;
    }
    if (rc) {
        stat_add(n, ST(service_rejected), 1);
        worker_ack(n, w, rc, rc == ARIA_EPERM ? "wrong network" : "stale request");
        goto done;
    }
    if (wire_seen_insert(n->seen, id) != 0)
        ARIA_LOG_D("W0003", MOD, "request id already seen");
    if (e.type == WIRE_T_PEERS_REQUEST) {
        wire_msg m;
        if (wire_msg_decode(e.type, e.body, e.body_len, &m) != 0) {
            stat_add(n, ST(service_rejected), 1);
            worker_ack(n, w, ARIA_EPROTO, "bad peers request");
            goto done;
        }
        answer_peers(n, w, m.u.peers_request_max);
        wire_msg_fini(&m);
        goto done;
    }
    wire_event ev = {
        .kind = WIRE_EV_REQUEST, .env = &e, .msg_id = id, .request_id = (w->gen << 8) | idx};
    emit(n, &ev);
done:
    wire_envelope_fini(&e);
}

int
wire_node_reply(wire_node *n, uint64_t request_id, uint32_t type, const void *body, size_t len)
{
    uint32_t idx = (uint32_t)(request_id & 0xff);
    if (idx >= n->cfg.service_workers)
        return aria_errf(ARIA_ENOTFOUND, "wire: no request %llu", (unsigned long long)request_id);
    svc_worker *w = &n->workers[idx];
    if (atomic_load(&w->state) != W_OWNER || w->gen != request_id >> 8)
        return aria_errf(ARIA_ENOTFOUND, "wire: request %llu already answered or timed out",
                         (unsigned long long)request_id);
    return worker_send(n, w, type, body, len);
}

/* ------------------------------------------------------------------ */
/* Service channel: outgoing                                            */
/* ------------------------------------------------------------------ */
static void
conn_close(svc_conn *c)
{
    if (c->used)
        nng_close(c->sock);
    memset(c, 0, sizeof *c);
}

/* The cached REQ socket for addr, or a new one (evicting the least recently
 * used idle one when the cache is full). */
static int
conn_get(wire_node *n, const char *addr, uint32_t *out)
{
    uint32_t free_i = CONNS_MAX, lru = CONNS_MAX;
    for (uint32_t i = 0; i < CONNS_MAX; i++) {
        svc_conn *c = &n->conns[i];
        if (c->used && strcmp(c->addr, addr) == 0) {
            *out = i;
            return 0;
        }
        if (!c->used && free_i == CONNS_MAX)
            free_i = i;
        if (c->used && c->refs == 0 && (lru == CONNS_MAX || c->last_ms < n->conns[lru].last_ms))
            lru = i;
    }
    if (free_i == CONNS_MAX) {
        if (lru == CONNS_MAX) {
            stat_add(n, ST(requests_busy), 1);
            return aria_errf(ARIA_EFULL, "wire: %d service connections busy", CONNS_MAX);
        }
        conn_close(&n->conns[lru]);
        free_i = lru;
    }
    if (strlen(addr) >= WIRE_ADDR_MAX)
        return aria_errf(ARIA_EINVAL, "wire: service address too long");
    svc_conn *c = &n->conns[free_i];
    int rv = nng_req0_open(&c->sock);
    if (rv)
        return map_nng(rv, "wire: req socket");
    /* limits before dialing */
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, WIRE_FRAME_MAX_BYTES + RECV_MARGIN);
    nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, (nng_duration)n->cfg.request_timeout_ms);
    nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, (nng_duration)n->cfg.request_timeout_ms);
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
                      (nng_duration)(n->cfg.request_timeout_ms * 2 + 1000));
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
    rv = nng_dial(c->sock, addr, NULL, NNG_FLAG_NONBLOCK);
    if (rv) {
        nng_close(c->sock);
        return map_nng(rv, "wire: dial service");
    }
    c->used = true;
    aria_snprintf(c->addr, sizeof c->addr, "%s", addr);
    c->last_ms = now_mono(n);
    *out = free_i;
    return 0;
}

static int
request_start(wire_node *n, const char *addr, const uint8_t *expect, uint32_t type,
              const void *body, size_t len, uint64_t timeout_ms, void *cookie, bool internal,
              uint64_t *request_id)
{
    if (!addr || strncmp(addr, "tcp://", 6) != 0)
        return aria_errf(ARIA_EINVAL, "wire: service address \"%s\" is not tcp://",
                         addr ? addr : "(null)");
    out_req *r = NULL;
    for (uint32_t i = 0; i < n->cfg.requests_max; i++)
        if (atomic_load(&n->reqs[i].state) == R_FREE) {
            r = &n->reqs[i];
            break;
        }
    if (!r) {
        stat_add(n, ST(requests_busy), 1);
        return aria_errf(ARIA_EFULL, "wire: %u requests in flight", n->cfg.requests_max);
    }
    if (!timeout_ms)
        timeout_ms = n->cfg.request_timeout_ms;
    nng_msg *m;
    int rc = build(n, type, 0, body, len, &m, NULL);
    if (rc)
        return rc;
    uint32_t ci = 0;
    rc = conn_get(n, addr, &ci);
    if (rc) {
        nng_msg_free(m);
        return rc;
    }
    svc_conn *c = &n->conns[ci];
    int rv = nng_ctx_open(&r->ctx, c->sock);
    if (rv == 0) {
        /* no resend inside our own deadline (REQ's default is 60 s) */
        nng_ctx_set_ms(r->ctx, NNG_OPT_REQ_RESENDTIME, (nng_duration)(timeout_ms * 2 + 1000));
        rv = nng_aio_alloc(&r->aio, req_cb, r);
        if (rv)
            nng_ctx_close(r->ctx);
    }
    if (rv) {
        nng_msg_free(m);
        r->aio = NULL;
        return map_nng(rv, "wire: service context");
    }
    r->conn = ci;
    c->refs++;
    c->last_ms = now_mono(n);
    r->id = ++n->req_next;
    r->cookie = cookie;
    r->internal_px = internal;
    r->has_expect = expect != NULL;
    if (expect)
        memcpy(r->expect, expect, WIRE_ID_BYTES);
    r->deadline_ms = aria_mono_ms() + timeout_ms;
    atomic_store(&r->state, R_SEND);
    stat_add(n, ST(requests_sent), 1);
    nng_aio_set_msg(r->aio, m);
    nng_aio_set_timeout(r->aio, (nng_duration)timeout_ms);
    nng_ctx_send(r->ctx, r->aio);
    if (request_id)
        *request_id = r->id;
    return 0;
}

int
wire_node_request(wire_node *n, const char *service_addr,
                  const uint8_t expect_sender[WIRE_ID_BYTES], uint32_t type, const void *body,
                  size_t len, uint64_t timeout_ms, void *cookie, uint64_t *request_id)
{
    if (!is_request_type(type))
        return aria_errf(ARIA_EINVAL, "wire: %s is not a request type", wire_type_name(type));
    return request_start(n, service_addr, expect_sender, type, body, len, timeout_ms, cookie, false,
                         request_id);
}

static int
nng_to_status(int rv)
{
    switch (rv) {
    case 0: return 0;
    case NNG_ETIMEDOUT: return ARIA_ETIMEDOUT;
    case NNG_ECANCELED: return ARIA_ECANCELED;
    default: return ARIA_ECLOSED;
    }
}

static void
handle_px_reply(wire_node *n, const wire_envelope *e)
{
    if (e->type != WIRE_T_PEERS_REPLY)
        return;
    wire_msg m;
    if (wire_msg_decode(e->type, e->body, e->body_len, &m) != 0) {
        stat_add(n, ST(rejected_malformed), 1);
        return;
    }
    for (size_t i = 0; i < m.u.peers.n; i++) {
        const wire_peer_record *r = &m.u.peers.records[i];
        if (wire_peer_record_verify(r, n->cfg.network_id) == 0)
            peer_learn(n, r);
        else
            stat_add(n, ST(rejected_bad_sig), 1);
    }
    wire_msg_fini(&m);
}

static void
process_reply(wire_node *n, uint32_t idx, nng_msg *msg, int err)
{
    out_req *r = &n->reqs[idx];
    wire_envelope e;
    bool have = false;
    int status = nng_to_status(err);
    if (!err && msg) {
        size_t len = nng_msg_len(msg);
        if (wire_envelope_decode(nng_msg_body(msg), len, WIRE_FRAME_MAX_BYTES, &e) != 0) {
            stat_add(n, ST(rejected_malformed), 1);
            status = ARIA_EPROTO;
        } else {
            have = true;
            status = check_envelope(n, &e);
            if (!status && r->has_expect && memcmp(e.sender, r->expect, WIRE_ID_BYTES) != 0)
                status = ARIA_ECRYPTO;
        }
    } else if (!err) {
        status = ARIA_ECLOSED;
    }
    stat_add(n, status ? ST(requests_failed) : ST(requests_ok), 1);
    uint64_t id = r->id;
    void *cookie = r->cookie;
    bool internal = r->internal_px;
    /* release the slot before the callback so it can issue a new request */
    nng_aio_free(r->aio); /* waits for req_cb to return */
    nng_ctx_close(r->ctx);
    r->aio = NULL;
    svc_conn *c = &n->conns[r->conn];
    c->refs--;
    c->last_ms = now_mono(n);
    c->fails = (status == ARIA_ETIMEDOUT || status == ARIA_ECLOSED) ? c->fails + 1 : 0;
    atomic_store(&r->state, R_FREE);
    if (internal) {
        n->px_pending = false;
        if (!status && have)
            handle_px_reply(n, &e);
    } else {
        wire_event ev = {.kind = WIRE_EV_REPLY,
                         .env = (!status && have) ? &e : NULL,
                         .request_id = id,
                         .status = status,
                         .cookie = cookie};
        uint8_t mid[WIRE_ID_BYTES];
        if (ev.env) {
            wire_envelope_id(&e, mid);
            ev.msg_id = mid;
        }
        emit(n, &ev);
    }
    if (have)
        wire_envelope_fini(&e);
}

int
wire_node_sync(wire_node *n, const wire_sync_request *req, uint64_t timeout_ms, void *cookie,
               uint64_t *request_id)
{
    size_t total = wire_peers_count(n->peers);
    if (!total)
        return aria_errf(ARIA_ENOTFOUND, "wire: no known peer to sync from");
    const wire_peer_entry *pe = wire_peers_at(n->peers, (size_t)(rnd64(n) % total));
    wire_msg m = {.type = WIRE_T_SYNC_REQUEST};
    m.u.sync_req = *req;
    uint8_t *b;
    size_t bl;
    int rc = wire_msg_encode(&m, &b, &bl);
    if (rc)
        return rc;
    rc = request_start(n, pe->rec.service_addr, pe->rec.node_id, WIRE_T_SYNC_REQUEST, b, bl,
                       timeout_ms, cookie, false, request_id);
    aria_free(b);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Timers: dialing policy, announcements, peer exchange, expiry         */
/* ------------------------------------------------------------------ */
static void
dial_policy(wire_node *n, uint64_t now)
{
    uint32_t used = 0;
    for (uint32_t i = 0; i < n->cfg.outbound_target; i++) {
        dial_slot *ds = &n->slots[i];
        if (!ds->used)
            continue;
        if (!ds->connected && now - ds->since_ms >= n->cfg.dial_timeout_ms) {
            stat_add(n, ST(dials_given_up), 1);
            dial_slot_release(n, ds, true, 0);
            continue;
        }
        used++;
    }
    for (uint32_t i = 0; i < n->cfg.outbound_target && used < n->cfg.outbound_target; i++) {
        dial_slot *ds = &n->slots[i];
        if (ds->used)
            continue;
        wire_peer_entry *pe = wire_peers_pick(n->peers, now, rnd64(n));
        if (!pe)
            break;
        nng_dialer d;
        int rv = nng_dialer_create(&d, n->gsock, pe->rec.gossip_addr);
        if (rv == 0) {
            nng_dialer_set_size(d, NNG_OPT_RECVMAXSZ, WIRE_GOSSIP_MAX_BYTES + RECV_MARGIN);
            nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, 100);
            nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, 1000);
            rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
            if (rv)
                nng_dialer_close(d);
        }
        if (rv) {
            pe->fails++;
            pe->backoff_until_ms = now + n->cfg.backoff_max_ms;
            continue;
        }
        memset(ds, 0, sizeof *ds);
        ds->used = true;
        ds->d = d;
        ds->dialer_id = (uint32_t)nng_dialer_id(d);
        memcpy(ds->peer, pe->rec.node_id, WIRE_ID_BYTES);
        ds->since_ms = now;
        pe->dialing = true;
        used++;
        stat_add(n, ST(dials_started), 1);
    }
}

static void
peer_exchange(wire_node *n, uint64_t now)
{
    if (n->px_pending || now < n->next_px_ms)
        return;
    size_t total = wire_peers_count(n->peers);
    const char *addr = NULL;
    if (n->n_boot && (total < n->cfg.outbound_target || (rnd64(n) & 3) == 0))
        addr = n->boot[n->px_next++ % n->n_boot];
    else if (total)
        addr = wire_peers_at(n->peers, (size_t)(rnd64(n) % total))->rec.service_addr;
    bool fast = total < 2u * n->cfg.outbound_target;
    n->next_px_ms = now + (fast ? PX_FAST_MS : n->cfg.peer_exchange_ms);
    if (!addr)
        return;
    wire_msg m = {.type = WIRE_T_PEERS_REQUEST};
    m.u.peers_request_max = WIRE_PEERS_REPLY_MAX;
    uint8_t *b;
    size_t bl;
    if (wire_msg_encode(&m, &b, &bl) != 0)
        return;
    if (request_start(n, addr, NULL, WIRE_T_PEERS_REQUEST, b, bl, PX_TIMEOUT_MS, NULL, true,
                      NULL) == 0)
        n->px_pending = true;
    aria_free(b);
}

static void
tick(wire_node *n, uint64_t now)
{
    wire_seen_expire(n->seen);
    stat_set(n, ST(seen_size), wire_seen_count(n->seen));
    stat_set(n, ST(seen_evicted_early), wire_seen_evicted_early(n->seen));
    for (uint32_t i = 0; i < n->cfg.service_workers; i++) {
        svc_worker *w = &n->workers[i];
        if (atomic_load(&w->state) == W_OWNER && now >= w->deadline_ms) {
            stat_add(n, ST(service_timeouts), 1);
            worker_ack(n, w, ARIA_ETIMEDOUT, "no answer in time");
        }
    }
    dial_policy(n, now);
    peer_exchange(n, now);
    if (gossip_fanout(n) > 0 &&
        (n->announce_needed || now - n->last_announce_ms >= n->cfg.announce_interval_ms))
        announce(n);
}

static void
pipe_event(wire_node *n, const qev *e)
{
    uint64_t now = now_mono(n);
    if (e->kind == Q_PIPE_UP && gossip_fanout(n) <= 1)
        n->announce_needed = true; /* first link: tell the network we are here */
    if (!e->dialer_id)
        return;
    for (uint32_t i = 0; i < n->cfg.outbound_target; i++) {
        dial_slot *ds = &n->slots[i];
        if (!ds->used || ds->dialer_id != e->dialer_id)
            continue;
        if (e->kind == Q_PIPE_UP) {
            ds->connected = true;
            ds->up_ms = now;
            wire_peer_entry *pe = wire_peers_find(n->peers, ds->peer);
            if (pe) {
                pe->fails = 0;
                pe->last_seen_ms = now;
            }
        } else if (ds->connected) {
            ds->connected = false;
            /* a link that lived a while restarts the give-up clock; one that
             * flapped (refused by a full peer) does not */
            if (now - ds->up_ms >= n->cfg.dial_timeout_ms)
                ds->since_ms = now;
        }
    }
}

int
wire_node_poll(wire_node *n, int timeout_ms)
{
    uint64_t now = now_mono(n);
    int wait = timeout_ms < 0 ? 0 : timeout_ms;
    uint64_t tick_in = n->next_tick_ms > now ? n->next_tick_ms - now : 0;
    if ((uint64_t)wait > tick_in)
        wait = (int)tick_in;
    pthread_mutex_lock(&n->mu);
    bool empty = n->qhead == NULL;
    pthread_mutex_unlock(&n->mu);
    if (empty && wait > 0) {
        struct pollfd pfd = {.fd = n->efd, .events = POLLIN};
        (void)poll(&pfd, 1, wait);
    }
    uint64_t junk;
    ssize_t rd = read(n->efd, &junk, sizeof junk);
    (void)rd;
    pthread_mutex_lock(&n->mu);
    qev *list = n->qhead;
    n->qhead = n->qtail = NULL;
    n->q_gossip = 0;
    pthread_mutex_unlock(&n->mu);
    int count = 0;
    while (list) {
        qev *e = list;
        list = e->next;
        switch (e->kind) {
        case Q_GOSSIP: process_gossip(n, e->msg, e->pipe_id); break;
        case Q_SVC: process_service(n, e->idx, e->msg, e->pipe_id); break;
        case Q_REQ: process_reply(n, e->idx, e->msg, e->err); break;
        case Q_PIPE_UP:
        case Q_PIPE_DOWN: pipe_event(n, e); break;
        }
        if (e->msg)
            nng_msg_free(e->msg);
        aria_free(e);
        count++;
    }
    now = now_mono(n);
    if (now >= n->next_tick_ms) {
        tick(n, now);
        n->next_tick_ms = now + n->cfg.tick_ms;
    }
    return count;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                           */
/* ------------------------------------------------------------------ */
void
wire_config_default(wire_config *c)
{
    memset(c, 0, sizeof *c);
    c->gossip_listen = "tcp://127.0.0.1:0";
    c->service_listen = "tcp://127.0.0.1:0";
    c->outbound_target = 8;
    c->inbound_max = 64;
    c->peer_table_max = 1024;
    c->seen_capacity = 65536;
    c->seen_ttl_ms = 600000;
    c->queue_max = 4096;
    c->hops = WIRE_HOPS_DEFAULT;
    c->rate_per_s = 500;
    c->rate_burst = 1000;
    c->discourage_ms = 60000;
    c->announce_interval_ms = 60000;
    c->peer_exchange_ms = 30000;
    c->tick_ms = 50;
    c->dial_timeout_ms = 3000;
    c->backoff_max_ms = 60000;
    c->service_workers = 16;
    c->requests_max = 64;
    c->request_timeout_ms = 5000;
    c->reply_timeout_ms = 10000;
}

static int
check_config(const wire_config *c)
{
    if (!c->wallet)
        return aria_errf(ARIA_EINVAL, "wire: config.wallet is required");
    if (c->outbound_target < 1 || c->outbound_target > 64)
        return aria_errf(ARIA_EINVAL, "wire: outbound_target %u not in 1..64", c->outbound_target);
    if (c->inbound_max > 1024)
        return aria_errf(ARIA_EINVAL, "wire: inbound_max %u over 1024", c->inbound_max);
    if (c->service_workers < 1 || c->service_workers > 255)
        return aria_errf(ARIA_EINVAL, "wire: service_workers %u not in 1..255", c->service_workers);
    if (c->requests_max < 1 || c->requests_max > 4096)
        return aria_errf(ARIA_EINVAL, "wire: requests_max %u not in 1..4096", c->requests_max);
    if (c->seen_ttl_ms <= 2ull * WIRE_CLOCK_SKEW_MS)
        return aria_errf(ARIA_EINVAL, "wire: seen_ttl_ms must exceed %u", 2 * WIRE_CLOCK_SKEW_MS);
    if (c->hops > WIRE_HOPS_MAX)
        return aria_errf(ARIA_EINVAL, "wire: hops %u over %u", c->hops, WIRE_HOPS_MAX);
    if (c->n_models > WIRE_MODELS_MAX)
        return aria_errf(ARIA_EINVAL, "wire: %zu models, limit %d", c->n_models, WIRE_MODELS_MAX);
    if (!c->queue_max || !c->rate_per_s || !c->rate_burst || !c->tick_ms || !c->peer_table_max ||
        !c->seen_capacity)
        return aria_errf(ARIA_EINVAL, "wire: a zero limit in the config");
    return 0;
}

/* "tcp://HOST:PORT" with the port the listener got. */
static int
bound_url(nng_listener l, const char *listen, char *out, size_t cap)
{
    int port = 0;
    int rv = nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port);
    if (rv)
        return map_nng(rv, "wire: bound port");
    const char *host = listen + 6;
    const char *colon = strrchr(host, ':');
    size_t hl = colon ? (size_t)(colon - host) : strlen(host);
    char h[WIRE_ADDR_MAX];
    aria_snprintf(h, sizeof h, "%.*s", (int)hl, host);
    if (!h[0] || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "*") == 0)
        aria_snprintf(h, sizeof h, "127.0.0.1");
    if (aria_snprintf(out, cap, "tcp://%s:%d", h, port) >= (int)cap)
        return aria_errf(ARIA_EINVAL, "wire: listen address too long");
    return 0;
}

static int
listen_on(nng_socket s, const char *url, size_t maxsz, char *out, size_t cap)
{
    if (!url || strncmp(url, "tcp://", 6) != 0)
        return aria_errf(ARIA_EINVAL, "wire: listen address \"%s\" is not tcp://",
                         url ? url : "(null)");
    nng_listener l;
    int rv = nng_listener_create(&l, s, url);
    if (rv)
        return map_nng(rv, "wire: listen");
    nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, maxsz);
    rv = nng_listener_start(l, 0);
    if (rv) {
        nng_listener_close(l);
        return map_nng(rv, "wire: listen");
    }
    return bound_url(l, url, out, cap);
}

int
wire_node_add_bootstrap(wire_node *n, const char *service_addr)
{
    if (!service_addr || strncmp(service_addr, "tcp://", 6) != 0 ||
        strlen(service_addr) >= WIRE_ADDR_MAX)
        return aria_errf(ARIA_EINVAL, "wire: bootstrap address \"%s\" is not a tcp:// URL",
                         service_addr ? service_addr : "(null)");
    if (n->n_boot == n->boot_cap) {
        size_t nc = n->boot_cap ? n->boot_cap * 2 : 4;
        char **nb = aria_realloc(n->boot, nc * sizeof *nb);
        if (!nb)
            return ARIA_ENOMEM;
        n->boot = nb;
        n->boot_cap = nc;
    }
    char *s = aria_strdup(service_addr);
    if (!s)
        return ARIA_ENOMEM;
    n->boot[n->n_boot++] = s;
    n->next_px_ms = 0;
    return 0;
}

int
wire_node_new(const wire_config *c, wire_node **out)
{
    *out = NULL;
    int rc = check_config(c);
    if (rc)
        return rc;
    wire_node *n = aria_calloc(1, sizeof *n);
    if (!n)
        return ARIA_ENOMEM;
    n->cfg = *c;
    n->cfg.bootstrap = NULL;
    n->cfg.models = NULL;
    n->clock = c->clock ? c->clock : aria_clock_system();
    n->efd = -1;
    pthread_mutex_init(&n->mu, NULL);
    wallet_account_id(c->wallet, n->id);
    if (aria_os_random(&n->rng, sizeof n->rng) != 0 || n->rng == 0)
        n->rng = 0x9e3779b97f4a7c15ull;
    n->npipes = (size_t)c->inbound_max + c->outbound_target + SVC_PIPES_MAX + 16;
    n->pipes = aria_calloc(n->npipes, sizeof *n->pipes);
    n->slots = aria_calloc(c->outbound_target, sizeof *n->slots);
    n->workers = aria_calloc(c->service_workers, sizeof *n->workers);
    n->reqs = aria_calloc(c->requests_max, sizeof *n->reqs);
    if (!n->pipes || !n->slots || !n->workers || !n->reqs) {
        rc = ARIA_ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < c->requests_max; i++) {
        n->reqs[i].n = n;
        n->reqs[i].idx = i;
    }
    if ((rc = wire_seen_new(c->seen_capacity, c->seen_ttl_ms, n->clock, &n->seen)) ||
        (rc = wire_peers_new(c->peer_table_max, n->id, &n->peers)))
        goto fail;
    for (size_t i = 0; i < c->n_bootstrap; i++)
        if ((rc = wire_node_add_bootstrap(n, c->bootstrap[i])))
            goto fail;
    n->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (n->efd < 0) {
        rc = aria_errf(ARIA_EIO, "wire: eventfd failed");
        goto fail;
    }

    /* gossip: raw BUS so a forwarded message skips the pipe it came from */
    int rv = nng_bus0_open_raw(&n->gsock);
    if (rv) {
        rc = map_nng(rv, "wire: bus socket");
        goto fail;
    }
    n->gsock_open = true;
    nng_socket_set_size(n->gsock, NNG_OPT_RECVMAXSZ, WIRE_GOSSIP_MAX_BYTES + RECV_MARGIN);
    nng_socket_set_ms(n->gsock, NNG_OPT_RECVTIMEO, RECV_POLL_MS);
    nng_socket_set_ms(n->gsock, NNG_OPT_SENDTIMEO, SEND_TIMEOUT);
    /* a send queue so non-blocking sends from the owner are not refused
     * while BUS hands the previous message to its pipes */
    nng_socket_set_int(n->gsock, NNG_OPT_SENDBUF, 1024);
    nng_socket_set_ms(n->gsock, NNG_OPT_RECONNMINT, 100);
    nng_socket_set_ms(n->gsock, NNG_OPT_RECONNMAXT, 1000);
    for (int ev = NNG_PIPE_EV_ADD_PRE; ev <= NNG_PIPE_EV_REM_POST; ev++)
        nng_pipe_notify(n->gsock, (nng_pipe_ev)ev, pipe_cb, n);

    /* service: REP with one context per worker */
    rv = nng_rep0_open(&n->ssock);
    if (rv) {
        rc = map_nng(rv, "wire: rep socket");
        goto fail;
    }
    n->ssock_open = true;
    nng_socket_set_size(n->ssock, NNG_OPT_RECVMAXSZ, WIRE_FRAME_MAX_BYTES + RECV_MARGIN);
    nng_socket_set_ms(n->ssock, NNG_OPT_RECVTIMEO, RECV_POLL_MS);
    nng_socket_set_ms(n->ssock, NNG_OPT_SENDTIMEO, SEND_TIMEOUT);
    nng_pipe_notify(n->ssock, NNG_PIPE_EV_ADD_PRE, pipe_cb, n);
    nng_pipe_notify(n->ssock, NNG_PIPE_EV_REM_POST, pipe_cb, n);

    if ((rc = listen_on(n->gsock, c->gossip_listen, WIRE_GOSSIP_MAX_BYTES + RECV_MARGIN, n->gaddr,
                        sizeof n->gaddr)) ||
        (rc = listen_on(n->ssock, c->service_listen, WIRE_FRAME_MAX_BYTES + RECV_MARGIN, n->saddr,
                        sizeof n->saddr)))
        goto fail;

    /* our record */
    memcpy(n->self_rec.network_id, c->network_id, WIRE_ID_BYTES);
    aria_snprintf(n->self_rec.gossip_addr, WIRE_ADDR_MAX, "%s", n->gaddr);
    aria_snprintf(n->self_rec.service_addr, WIRE_ADDR_MAX, "%s", n->saddr);
    n->self_rec.n_models = c->n_models;
    for (size_t i = 0; i < c->n_models; i++)
        aria_snprintf(n->self_rec.models[i], WIRE_STR_MAX, "%s", c->models[i]);
    n->self_rec.price_micro = c->price_micro;
    n->self_rec.capacity = c->capacity;
    aria_snprintf(n->self_rec.version, WIRE_STR_MAX, "%s", c->version ? c->version : "aria");
    if ((rc = sign_self(n)))
        goto fail;

    for (uint32_t i = 0; i < c->service_workers; i++) {
        svc_worker *w = &n->workers[i];
        w->n = n;
        w->idx = i;
        if ((rv = nng_aio_alloc(&w->aio, svc_cb, w)) || (rv = nng_ctx_open(&w->ctx, n->ssock))) {
            rc = map_nng(rv, "wire: service context");
            goto fail;
        }
        worker_listen(w);
    }
    if ((rv = nng_aio_alloc(&n->grecv, gossip_recv_cb, n))) {
        rc = map_nng(rv, "wire: aio");
        goto fail;
    }
    nng_aio_set_timeout(n->grecv, AIO_IDLE_MS);
    nng_recv_aio(n->gsock, n->grecv);
    n->announce_needed = true;
    *out = n;
    return 0;
fail:
    wire_node_free(n);
    return rc;
}

void
wire_node_free(wire_node *n)
{
    if (!n)
        return;
    /* Shut the gossip side down in an order nng 1.5.2 survives under load:
     * keep draining received frames (so no pipe is stuck handing a frame to
     * a socket nobody reads), close every pipe, give the reaper a moment,
     * and only then stop the receive and close the socket. */
    atomic_store(&n->closing, true);
    if (n->gsock_open) {
        uint32_t ids[2048];
        size_t k = 0;
        pthread_mutex_lock(&n->mu);
        for (size_t i = 0; i < n->npipes && k < ARIA_ARRAY_LEN(ids); i++)
            if (n->pipes[i].id && n->pipes[i].gossip)
                ids[k++] = n->pipes[i].id;
        pthread_mutex_unlock(&n->mu);
        for (size_t i = 0; i < k; i++) {
            nng_pipe p = NNG_PIPE_INITIALIZER;
            p.id = ids[i];
            nng_pipe_close(p);
        }
        /* dialers are closed here, apart from the socket: closing a dialer
         * and its socket back to back is the pattern that hangs nng
         * 1.5.2's reaper (nanomsg/nng#1543); left to the socket, they are
         * reaped after nng_close returns (LSan sees them as leaks) */
        bool any = k > 0;
        for (uint32_t i = 0; n->slots && i < n->cfg.outbound_target; i++)
            if (n->slots[i].used) {
                nng_dialer_close(n->slots[i].d);
                n->slots[i].used = false;
                any = true;
            }
        if (any)
            nng_msleep(50);
    }
    if (n->grecv)
        nng_aio_stop(n->grecv);
    for (uint32_t i = 0; n->workers && i < n->cfg.service_workers; i++)
        if (n->workers[i].aio)
            nng_aio_stop(n->workers[i].aio);
    for (uint32_t i = 0; n->reqs && i < n->cfg.requests_max; i++) {
        out_req *r = &n->reqs[i];
        if (r->aio) {
            nng_aio_stop(r->aio);
            nng_msg *m = nng_aio_get_msg(r->aio);
            if (m && atomic_load(&r->state) == R_SEND)
                nng_msg_free(m);
            nng_aio_free(r->aio);
            nng_ctx_close(r->ctx);
        }
    }
    for (uint32_t i = 0; i < CONNS_MAX; i++)
        conn_close(&n->conns[i]);
    if (n->gsock_open)
        nng_close(n->gsock);
    for (uint32_t i = 0; n->workers && i < n->cfg.service_workers; i++) {
        svc_worker *w = &n->workers[i];
        if (w->aio) {
            nng_msg *m = nng_aio_get_msg(w->aio);
            if (m)
                nng_msg_free(m);
            nng_ctx_close(w->ctx);
            nng_aio_free(w->aio);
        }
    }
    if (n->ssock_open)
        nng_close(n->ssock);
    if (n->grecv)
        nng_aio_free(n->grecv);
    while (n->qhead) {
        qev *e = n->qhead;
        n->qhead = e->next;
        if (e->msg)
            nng_msg_free(e->msg);
        aria_free(e);
    }
    for (size_t i = 0; i < n->n_boot; i++)
        aria_free(n->boot[i]);
    aria_free(n->boot);
    wire_seen_free(n->seen);
    wire_peers_free(n->peers);
    aria_free(n->pipes);
    aria_free(n->slots);
    aria_free(n->workers);
    aria_free(n->reqs);
    if (n->efd >= 0)
        close(n->efd);
    pthread_mutex_destroy(&n->mu);
    aria_free(n);
}

int
wire_node_event_fd(const wire_node *n)
{
    return n->efd;
}

const char *
wire_node_gossip_addr(const wire_node *n)
{
    return n->gaddr;
}

const char *
wire_node_service_addr(const wire_node *n)
{
    return n->saddr;
}

void
wire_node_id(const wire_node *n, uint8_t id[WIRE_ID_BYTES])
{
    memcpy(id, n->id, WIRE_ID_BYTES);
}

size_t
wire_node_peers(wire_node *n, wire_peer_record *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < wire_peers_count(n->peers) && k < max; i++)
        out[k++] = wire_peers_at(n->peers, i)->rec;
    return k;
}

int
wire_node_peer_find(wire_node *n, const uint8_t id[WIRE_ID_BYTES], wire_peer_record *out)
{
    wire_peer_entry *e = wire_peers_find(n->peers, id);
    if (!e)
        return ARIA_ENOTFOUND;
    *out = e->rec;
    return 0;
}

size_t
wire_node_peer_count(const wire_node *n)
{
    return wire_peers_count(n->peers);
}

void
wire_node_stats(const wire_node *n, wire_stats *out)
{
    uint64_t v[NSTATS];
    for (size_t i = 0; i < NSTATS; i++)
        v[i] = atomic_load_explicit(&((wire_node *)n)->st[i], memory_order_relaxed);
    memcpy(out, v, sizeof *out);
}
