/*
 * pool.c — a persistent thread pool for the kernels.
 *
 * One 64-bit atomic word holds (generation << 32 | next task index). A run
 * publishes fn/ctx/n_tasks and then a new generation with index 0; every
 * thread (the caller too) claims tasks by compare-and-swap on that word, so
 * a worker that wakes late can never claim a task of a generation whose
 * fn/ctx it did not read. The caller waits until `done` reaches n_tasks.
 *
 * Workers spin (with pause) for a short time after each run because decode
 * issues hundreds of small runs per token; after ~1 ms idle they sleep on a
 * condition variable. Sleeping and waking use a Dekker-style handshake:
 * the worker increments `sleepers` then re-checks the word under the mutex;
 * the caller publishes the word then reads `sleepers` (both seq_cst).
 *
 * Which thread runs a task never affects results: callers split work so
 * each task writes its own outputs (ops.c splits rows by fixed tiles).
 */
#include "ops.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#ifdef ARIA_POOL_STATS
#include <stdio.h>
#include <stdlib.h>
#define POOL_SITES 32
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#define PREFETCH(a) _mm_prefetch((a), _MM_HINT_T0)
#else
#define cpu_relax() ((void)0)
#define PREFETCH(a) ((void)(a))
#endif

/* Per worker (index 1..n_threads-1; the driving thread is 0): its start
 * argument and its prefetch hint for the run after `hint_gen`. */
typedef struct pool_worker {
    struct kern_pool *p;
    size_t index;
    _Atomic uint64_t hint_gen;
    _Atomic uintptr_t hint_addr;
    _Atomic size_t hint_len;
    char pad_[64]; /* workers' hints on separate lines */
} pool_worker;

#ifdef ARIA_POOL_STATS
typedef struct pool_site {
    const char *name;
    uint64_t runs, gap, own, wait;
} pool_site;
#endif

struct kern_pool {
    int n_threads;
    pthread_t *th;
    pool_worker *wk;
    int n_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic uint64_t word; /* gen << 32 | next task */
    _Atomic size_t done;
    _Atomic int sleepers;
    _Atomic int stop;
    kern_task_fn fn;
    void *ctx;
    size_t n_tasks;
    /* kern_pool_prefetch_after: the driving thread's own list */
    const void *pf_addr[KERN_POOL_PF_MAX];
    size_t pf_len[KERN_POOL_PF_MAX], n_pf;
#ifdef ARIA_POOL_STATS
    /* kern_pool_site: per site, the driving thread's times (ns) */
    pool_site st[POOL_SITES];
    size_t n_st, cur_st;
    uint64_t last_ret; /* when the previous run returned (0: none yet) */
#endif
};

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#ifdef ARIA_POOL_STATS
static void stats_print(const kern_pool *p);
#endif

static _Thread_local size_t tl_self;

size_t
kern_pool_self(void)
{
    return tl_self;
}

/* Claim and run tasks of generation `gen` until none are left. */
static void
work(kern_pool *p, uint32_t gen, size_t self)
{
    tl_self = self;
    kern_task_fn fn = p->fn;
    void *ctx = p->ctx;
    size_t n = p->n_tasks;
    uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(w >> 32) != gen)
            return;
        uint32_t i = (uint32_t)w;
        if (i >= n)
            return;
        if (!atomic_compare_exchange_weak_explicit(&p->word, &w, w + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        fn(ctx, i, n);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        w = atomic_load_explicit(&p->word, memory_order_acquire);
    }
}

/* The worker's share of run `gen` is done: prefetch its hint for the next
 * run, a few lines at a time, until that run starts. */
static void
hint_prefetch(pool_worker *wk, uint32_t gen)
{
    kern_pool *p = wk->p;
    if (atomic_load_explicit(&wk->hint_gen, memory_order_relaxed) != gen)
        return;
    const char *a = (const char *)atomic_load_explicit(&wk->hint_addr, memory_order_relaxed);
    size_t len = atomic_load_explicit(&wk->hint_len, memory_order_relaxed);
    for (size_t o = 0; o < len; o += 8 * 64) {
        if ((uint32_t)(atomic_load_explicit(&p->word, memory_order_relaxed) >> 32) != gen)
            return;
        for (size_t l = o; l < o + 8 * 64 && l < len; l += 64)
            PREFETCH(a + l);
    }
}

static void *
worker_main(void *arg)
{
    pool_worker *wk = arg;
    kern_pool *p = wk->p;
    uint32_t seen = (uint32_t)(atomic_load(&p->word) >> 32);
    for (;;) {
        uint64_t w = atomic_load_explicit(&p->word, memory_order_acquire);
        if ((uint32_t)(w >> 32) == seen) {
            uint64_t t0 = 0;
            unsigned spins = 0;
            for (;;) {
                if (atomic_load_explicit(&p->stop, memory_order_acquire))
                    return NULL;
                w = atomic_load_explicit(&p->word, memory_order_acquire);
                if ((uint32_t)(w >> 32) != seen)
                    break;
                cpu_relax();
                if ((++spins & 1023u) == 0) {
                    uint64_t t = now_ns();
                    if (!t0)
                        t0 = t;
                    else if (t - t0 > 1000000u)
                        break;
                }
            }
            if ((uint32_t)(w >> 32) == seen) {
                pthread_mutex_lock(&p->mu);
                atomic_fetch_add(&p->sleepers, 1);
                while (!atomic_load(&p->stop) && (uint32_t)(atomic_load(&p->word) >> 32) == seen)
                    pthread_cond_wait(&p->cv, &p->mu);
                atomic_fetch_sub(&p->sleepers, 1);
                pthread_mutex_unlock(&p->mu);
                continue;
            }
        }
        seen = (uint32_t)(w >> 32);
        work(p, seen, wk->index);
        hint_prefetch(wk, seen);
    }
}

int
kern_pool_new(int n_threads, kern_pool **out)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > 256)
        return aria_errf(ARIA_EINVAL, "pool: %d threads (1..256)", n_threads);
    kern_pool *p = aria_calloc(1, sizeof *p);
    if (!p)
        return aria_errf(ARIA_ENOMEM, "pool: allocation");
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->word, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    if (n_threads > 1) {
        p->th = aria_calloc((size_t)n_threads - 1, sizeof(pthread_t));
        p->wk = aria_calloc((size_t)n_threads - 1, sizeof(pool_worker));
        if (!p->th || !p->wk) {
            kern_pool_free(p);
            return aria_errf(ARIA_ENOMEM, "pool: allocation");
        }
        for (int i = 0; i < n_threads - 1; i++) {
            pool_worker *wk = &p->wk[i];
            wk->p = p;
            wk->index = (size_t)i + 1;
            atomic_init(&wk->hint_gen, 0);
            atomic_init(&wk->hint_addr, 0);
            atomic_init(&wk->hint_len, 0);
            int e = pthread_create(&p->th[i], NULL, worker_main, wk);
            if (e) {
                kern_pool_free(p);
                return aria_errf(e == EAGAIN ? ARIA_ENOMEM : ARIA_EIO,
                                 "pool: cannot start thread %d: %s", i + 1, strerror(e));
            }
            p->n_started++;
        }
    }
    *out = p;
    return 0;
}

void
kern_pool_free(kern_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++)
        pthread_join(p->th[i], NULL);
#ifdef ARIA_POOL_STATS
    stats_print(p);
#endif
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    aria_free(p->th);
    aria_free(p->wk);
    aria_free(p);
}

int
kern_pool_threads(const kern_pool *p)
{
    return p ? p->n_threads : 1;
}

void
kern_pool_hint_next(kern_pool *p, size_t thread, const void *addr, size_t len)
{
    if (!p || thread == 0 || thread >= (size_t)p->n_threads)
        return;
    pool_worker *wk = &p->wk[thread - 1];
    atomic_store_explicit(&wk->hint_addr, (uintptr_t)addr, memory_order_relaxed);
    atomic_store_explicit(&wk->hint_len, len, memory_order_relaxed);
    /* the run published next: kern_pool_run's seq_cst store orders these */
    uint32_t gen = (uint32_t)(atomic_load_explicit(&p->word, memory_order_relaxed) >> 32) + 1;
    atomic_store_explicit(&wk->hint_gen, gen, memory_order_relaxed);
}

void
kern_pool_prefetch_after(kern_pool *p, const void *addr, size_t len)
{
    if (!p || p->n_threads == 1 || !addr || !len || p->n_pf == KERN_POOL_PF_MAX)
        return;
    p->pf_addr[p->n_pf] = addr;
    p->pf_len[p->n_pf] = len;
    p->n_pf++;
}

/* The caller's share of a run is done: fetch what it reads next while the
 * others finish (prefetches never change a value). */
static void
prefetch_after(kern_pool *p)
{
    for (size_t i = 0; i < p->n_pf; i++) {
        const char *a = p->pf_addr[i];
        for (size_t o = 0; o < p->pf_len[i]; o += 64)
            PREFETCH(a + o);
    }
    p->n_pf = 0;
}

#ifdef ARIA_POOL_STATS
void
kern_pool_site(kern_pool *p, const char *site)
{
    if (!p)
        return;
    size_t i = 0;
    while (i < p->n_st && p->st[i].name != site && strcmp(p->st[i].name, site) != 0)
        i++;
    if (i == p->n_st) {
        if (p->n_st == POOL_SITES)
            i = POOL_SITES - 1; /* the last row takes the rest */
        else
            p->st[p->n_st++] = (pool_site){.name = site};
    }
    p->cur_st = i;
}

/* One run of the current site: t0 its call, t1 the caller's share done, t2
 * its return. */
static void
stats_add(kern_pool *p, uint64_t t0, uint64_t t1, uint64_t t2)
{
    if (p->n_st == 0)
        kern_pool_site(p, "(no site)");
    pool_site *s = &p->st[p->cur_st];
    s->runs++;
    s->gap += p->last_ret ? t0 - p->last_ret : 0;
    s->own += t1 - t0;
    s->wait += t2 - t1;
    p->last_ret = t2;
}

static void
stats_print(const kern_pool *p)
{
    if (!getenv("ARIA_POOL_STATS") || p->n_st == 0)
        return;
    fprintf(stderr,
            "pool stats (%d threads; driving thread, us per run): site, runs, serial steps "
            "before, own share, wait for the others, total ms\n",
            p->n_threads);
    for (size_t i = 0; i < p->n_st; i++) {
        const pool_site *s = &p->st[i];
        double n = s->runs ? (double)s->runs : 1.0;
        fprintf(stderr, "  %-20s %8llu %9.2f %9.2f %9.2f %10.1f\n", s->name,
                (unsigned long long)s->runs, (double)s->gap / n / 1e3, (double)s->own / n / 1e3,
                (double)s->wait / n / 1e3, (double)(s->gap + s->own + s->wait) / 1e6);
    }
}
#endif

void
kern_pool_run(kern_pool *p, kern_task_fn fn, void *ctx, size_t n_tasks)
{
    if (n_tasks == 0)
        return;
#ifdef ARIA_POOL_STATS
    uint64_t t0 = p ? now_ns() : 0;
#endif
    if (!p || p->n_threads == 1 || n_tasks == 1) {
        for (size_t i = 0; i < n_tasks; i++)
            fn(ctx, i, n_tasks);
        if (p) {
            p->n_pf = 0;
#ifdef ARIA_POOL_STATS
            uint64_t t1 = now_ns();
            stats_add(p, t0, t1, t1);
#endif
        }
        return;
    }
    ARIA_ASSERT(n_tasks < UINT32_MAX);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    uint32_t gen = (uint32_t)(atomic_load(&p->word) >> 32) + 1;
    atomic_store(&p->word, (uint64_t)gen << 32); /* seq_cst: pairs with sleepers */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    work(p, gen, 0);
#ifdef ARIA_POOL_STATS
    uint64_t t1 = now_ns();
#endif
    prefetch_after(p);
    unsigned spins = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) < n_tasks) {
        cpu_relax();
        if (++spins > 4096)
            sched_yield();
    }
#ifdef ARIA_POOL_STATS
    stats_add(p, t0, t1, now_ns());
#endif
}
