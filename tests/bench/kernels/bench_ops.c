/*
 * bench_ops.c — kernel microbenchmarks: GB/s and GOP/s per kernel and ISA,
 * the ternary decode kernel streaming one matrix far larger than the
 * caches, and a decode "weight sweep" over every matrix of a model shape (the bytes
 * a decode step must stream), compared with the memory read bandwidth
 * measured in the same run by a streaming-read kernel over a buffer much
 * larger than the caches. Every figure is the median of repeated runs after
 * a warm-up. The machine may be shared: medians, not minima, are reported.
 *
 * Usage: bench_ops [--threads T] [--reps N] [--quick] [--shape large|2b|both]
 *                  [--isa scalar|avx2|avx512|all]
 *   --quick: small repetition counts and only the large shape (ctest `bench`).
 */
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "kern_perf.h"
#include "ops.h"

static uint64_t rs = 0x1234567887654321ull;
static uint64_t
rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

/* ------------------------------------------------------------------ */
/* memory bandwidth                                                     */
/* ------------------------------------------------------------------ */

/* The library's measurement (kern_membw_measure: 1 GiB on 2 MiB pages, the
 * kernels' prefetch), with the pool's thread count. */
static double
measure_bandwidth(kern_pool *pool, int reps, double *cpu_gbs)
{
    kern_membw bw;
    if (kern_membw_measure(kern_pool_threads(pool), (size_t)1 << 30, reps, &bw) != 0)
        return *cpu_gbs = 0;
    *cpu_gbs = bw.cpu_gbs;
    return bw.gbs;
}

/* ------------------------------------------------------------------ */
/* matrices with random content                                          */
/* ------------------------------------------------------------------ */

static uint8_t valid_bytes[81];

static void
fill_tmat(kern_tmat *m)
{
    size_t n = kern_tmat_bytes(m);
    for (size_t i = 0; i < n; i++)
        m->data[i] = valid_bytes[rnd() % 81];
    for (size_t r = 0; r < m->rows; r++)
        m->wscale[r] = 0.5f;
}

static int
new_tmat(kern_tmat *m, size_t rows, size_t cols)
{
    if (kern_tmat_init(m, rows, cols) < 0)
        return -1;
    fill_tmat(m);
    return 0;
}

static int
new_i8mat(kern_i8mat *m, size_t rows, size_t cols)
{
    if (kern_i8mat_init(m, rows, cols) < 0)
        return -1;
    size_t n = kern_i8mat_bytes(m);
    for (size_t i = 0; i < n; i++)
        m->data[i] = (int8_t)((int)(rnd() % 255) - 127);
    for (size_t r = 0; r < m->rows; r++)
        m->wscale[r] = 0.01f;
    return 0;
}

/* ------------------------------------------------------------------ */
/* split rows over the pool with an explicit ops table                  */
/* ------------------------------------------------------------------ */

/* Rows of up to 4 matrices sharing one input, split into tasks of whole
 * tiles (about 4 per thread), as ops.c does for the engine. */
typedef struct job {
    const kern_ops *o;
    int kind; /* 0 tmat matvec, 1 tmat matmul, 2 fmat, 3 i8mat */
    const void *m;
    const kern_acts *a;
    const float *x;
    float *out;
    size_t out_stride, rows;
    size_t n; /* extra matrices (kind 0): m2[0..n) */
    const kern_tmat *m2[3];
    size_t tpt[4], first[5];
} job;

static void
job_task(void *vctx, size_t task, size_t n_tasks)
{
    (void)n_tasks;
    job *j = vctx;
    size_t i = 0;
    while (task >= j->first[i + 1])
        i++;
    const void *m = i == 0 ? j->m : j->m2[i - 1];
    size_t rows = i == 0 ? j->rows : j->m2[i - 1]->rows;
    size_t r0 = (task - j->first[i]) * j->tpt[i] * KERN_TROWS, r1 = r0 + j->tpt[i] * KERN_TROWS;
    if (r1 > rows)
        r1 = rows;
    if (r0 >= r1)
        return;
    switch (j->kind) {
    case 0: j->o->tmat_matvec(m, j->a, j->out + r0, r0, r1); break;
    case 1: j->o->tmat_matmul(m, j->a, j->out + r0, j->out_stride, r0, r1); break;
    case 2: j->o->fmat_matvec(m, j->x, j->out + r0, r0, r1); break;
    default: j->o->i8mat_matvec(m, j->a, j->out + r0, r0, r1); break;
    }
}

static void
run_job(kern_pool *p, job *j)
{
    int nth = kern_pool_threads(p);
    /* as the engine splits (ops.c, tiles_per_task): one contiguous range per
     * thread for the streaming kernels, ~4 tasks per thread for the matmul */
    size_t target = nth <= 1 ? 1 : (j->kind == 1 ? 4 : 1) * (size_t)nth;
    j->first[0] = 0;
    for (size_t i = 0; i <= j->n; i++) {
        size_t rows = i == 0 ? j->rows : j->m2[i - 1]->rows;
        size_t tiles = (rows + KERN_TROWS - 1) / KERN_TROWS;
        j->tpt[i] = (tiles + target - 1) / target;
        if (!j->tpt[i])
            j->tpt[i] = 1;
        j->first[i + 1] = j->first[i] + (tiles + j->tpt[i] - 1) / j->tpt[i];
    }
    kern_pool_run(p, job_task, j, j->first[j->n + 1]);
}

/* ------------------------------------------------------------------ */
/* activations                                                          */
/* ------------------------------------------------------------------ */

typedef struct acts {
    kern_acts a;
    void *mem;
} acts;

static int
acts_new(acts *b, size_t n_tok, size_t cols)
{
    size_t st = kern_act_padded(cols);
    b->mem = calloc(1, n_tok * st + 64 + n_tok * 8);
    if (!b->mem)
        return -1;
    int8_t *q = (int8_t *)(((uintptr_t)b->mem + 63) & ~(uintptr_t)63);
    b->a = (kern_acts){.n_tok = n_tok,
                       .cols = cols,
                       .stride = st,
                       .q = q,
                       .scale = (float *)(void *)(q + n_tok * st),
                       .sum = (int32_t *)(void *)(q + n_tok * st + n_tok * 4)};
    return 0;
}

static void
acts_fill(acts *b, const kern_ops *o, const float *x)
{
    for (size_t t = 0; t < b->a.n_tok; t++)
        o->quant_act(x, &b->a, t);
}

/* ------------------------------------------------------------------ */
/* model sweep                                                          */
/* ------------------------------------------------------------------ */

typedef struct shape {
    const char *name;
    int layers;
    size_t embd, ff, kv, vocab;
} shape;

typedef struct model {
    const shape *s;
    kern_tmat *mats; /* layers * 7: q k v o gate up down */
    kern_i8mat head;
    size_t bytes;
} model;

static int
model_new(model *md, const shape *s)
{
    md->s = s;
    md->mats = calloc((size_t)s->layers * 7, sizeof(kern_tmat));
    if (!md->mats)
        return -1;
    size_t dims[7][2] = {{s->embd, s->embd}, {s->kv, s->embd}, {s->kv, s->embd}, {s->embd, s->embd},
                         {s->ff, s->embd},   {s->ff, s->embd}, {s->embd, s->ff}};
    md->bytes = 0;
    for (int l = 0; l < s->layers; l++)
        for (int k = 0; k < 7; k++) {
            if (new_tmat(&md->mats[l * 7 + k], dims[k][0], dims[k][1]) < 0)
                return -1;
            md->bytes += kern_tmat_bytes(&md->mats[l * 7 + k]);
        }
    if (new_i8mat(&md->head, s->vocab, s->embd) < 0)
        return -1;
    md->bytes += kern_i8mat_bytes(&md->head);
    return 0;
}

static void
model_free(model *md)
{
    for (int i = 0; i < md->s->layers * 7; i++)
        kern_tmat_fini(&md->mats[i]);
    free(md->mats);
    kern_i8mat_fini(&md->head);
}

/* One decode step's weight traffic: quantize inputs, every matvec, head. */
static void
model_pass(kern_pool *p, const kern_ops *o, model *md, const float *x, acts *ae, acts *af,
           float *out)
{
    const shape *s = md->s;
    for (int l = 0; l < s->layers; l++) {
        kern_tmat *m = &md->mats[l * 7];
        o->quant_act(x, &ae->a, 0); /* attention input: q, k, v in one run */
        job jq = {
            .o = o, .kind = 0, .m = &m[0], .a = &ae->a, .out = out, .rows = m[0].rows, .n = 2};
        jq.m2[0] = &m[1];
        jq.m2[1] = &m[2];
        run_job(p, &jq);
        o->quant_act(x, &ae->a, 0);
        job jo = {.o = o, .kind = 0, .m = &m[3], .a = &ae->a, .out = out, .rows = m[3].rows};
        run_job(p, &jo);
        o->quant_act(x, &ae->a, 0); /* FFN input: gate and up in one run */
        job jg = {
            .o = o, .kind = 0, .m = &m[4], .a = &ae->a, .out = out, .rows = m[4].rows, .n = 1};
        jg.m2[0] = &m[5];
        run_job(p, &jg);
        o->quant_act(x, &af->a, 0);
        job jd = {.o = o, .kind = 0, .m = &m[6], .a = &af->a, .out = out, .rows = m[6].rows};
        run_job(p, &jd);
    }
    o->quant_act(x, &ae->a, 0);
    job jh = {.o = o, .kind = 3, .m = &md->head, .a = &ae->a, .out = out, .rows = md->head.rows};
    run_job(p, &jh);
}

/* Worker threads' hints for the run after the next one (as forward.c's
 * hint_next: the start of each worker's own range, up to
 * KERN_POOL_HINT_BYTES). */
static void
hint_after(kern_pool *p, const kern_tmat *const *m, size_t n, const kern_i8mat *h)
{
    for (size_t t = 1; t < (size_t)kern_pool_threads(p); t++) {
        size_t len = 0;
        const void *a =
            h ? kern_i8mat_range_start(p, h, t, &len) : kern_tmat_range_start(p, m, n, t, &len);
        kern_pool_hint_next(p, t, a, len < KERN_POOL_HINT_BYTES ? len : KERN_POOL_HINT_BYTES);
    }
}

/* model_pass through the engine's own entry points (the selected table
 * only): kern_tmat_matmul_n's streaming split (one range per thread, claims
 * and steals) and the workers' hints for the run after, as a decode step
 * runs them, without the steps between runs (norms, attention). */
static void
model_pass_engine(kern_pool *p, model *md, const float *x, acts *ae, acts *af, float *out)
{
    const kern_ops *o = kern_ops_get();
    const shape *s = md->s;
    /* q/k/v and gate/up side by side in out (vocab floats: room for both) */
    float *qkv_out[3] = {out, out + s->embd, out + s->embd + s->kv};
    float *gu_out[2] = {out, out + s->ff}, *one_out[1] = {out};
    for (int l = 0; l < s->layers; l++) {
        const kern_tmat *m = &md->mats[l * 7];
        const kern_tmat *qkv[3] = {&m[0], &m[1], &m[2]}, *wo[1] = {&m[3]};
        const kern_tmat *gu[2] = {&m[4], &m[5]}, *dn[1] = {&m[6]};
        const kern_tmat *nq[3] = {l + 1 < s->layers ? &m[7] : NULL, &m[8], &m[9]};
        o->quant_act(x, &ae->a, 0);
        hint_after(p, wo, 1, NULL);
        kern_tmat_matmul_n(p, qkv, 3, &ae->a, qkv_out, 0);
        o->quant_act(x, &ae->a, 0);
        hint_after(p, gu, 2, NULL);
        kern_tmat_matmul_n(p, wo, 1, &ae->a, one_out, 0);
        o->quant_act(x, &ae->a, 0);
        hint_after(p, dn, 1, NULL);
        kern_tmat_matmul_n(p, gu, 2, &ae->a, gu_out, 0);
        o->quant_act(x, &af->a, 0);
        if (nq[0])
            hint_after(p, nq, 3, NULL);
        else
            hint_after(p, NULL, 0, &md->head);
        kern_tmat_matmul_n(p, dn, 1, &af->a, one_out, 0);
    }
    o->quant_act(x, &ae->a, 0);
    kern_i8mat_matvec(p, &md->head, &ae->a, out);
}

/* The same weight traffic in ONE pool run: task t of n streams its share of
 * the rows of every matrix in turn, with no barrier between matrices. Not a
 * decode (the layers' data dependencies are ignored): it is the bound the
 * kernels and the memory system give when threads never wait. */
typedef struct nosync_ctx {
    const kern_ops *o;
    model *md;
    const kern_acts *ae, *af;
    float *out;
} nosync_ctx;

static void
empty_task(void *vctx, size_t task, size_t n_tasks)
{
    (void)vctx;
    (void)task;
    (void)n_tasks;
}

/* Rows [*r0, *r1) of task `task` of n: whole tiles, split evenly. */
static bool
task_rows(size_t rows, size_t task, size_t n_tasks, size_t *r0, size_t *r1)
{
    size_t tiles = (rows + KERN_TROWS - 1) / KERN_TROWS;
    *r0 = tiles * task / n_tasks * KERN_TROWS;
    *r1 = tiles * (task + 1) / n_tasks * KERN_TROWS;
    if (*r1 > rows)
        *r1 = rows;
    return *r0 < *r1;
}

static void
nosync_task(void *vctx, size_t task, size_t n_tasks)
{
    nosync_ctx *c = vctx;
    const shape *s = c->md->s;
    size_t r0, r1;
    for (int l = 0; l < s->layers; l++)
        for (int k = 0; k < 7; k++) {
            const kern_tmat *m = &c->md->mats[l * 7 + k];
            if (task_rows(m->rows, task, n_tasks, &r0, &r1))
                c->o->tmat_matvec(m, k == 6 ? c->af : c->ae, c->out + r0, r0, r1);
        }
    const kern_i8mat *h = &c->md->head;
    if (task_rows(h->rows, task, n_tasks, &r0, &r1))
        c->o->i8mat_matvec(h, c->ae, c->out + r0, r0, r1);
}

/* One line: the median of reps pass times t over `bytes`, against bw. */
static void
pass_line(const shape *s, const kern_ops *o, int threads, const char *what, double *t, int reps,
          size_t bytes, double bw)
{
    double med = aria_median(t, (size_t)reps), gbs = (double)bytes / med / 1e9;
    printf("       %-7s %-10s threads %d  %s: %8.2f ms  %6.2f GB/s  %5.1f%% of %.1f GB/s\n",
           s->name, o->name, threads, what, med * 1e3, gbs, 100.0 * gbs / bw, bw);
}

/* The sweep of shape s on `threads` threads, against the mean of bandwidth
 * passes (same thread count) right before and right after it: this host's
 * bandwidth moves by 2x within a minute, so a pass taken once at the start
 * of the program misreads sweeps that run minutes later. */
static void
bench_model(const shape *s, const kern_ops *o, int threads, int reps, int bw_reps)
{
    model md;
    if (model_new(&md, s) < 0) {
        fprintf(stderr, "bench: out of memory for %s\n", s->name);
        return;
    }
    kern_pool *p = NULL;
    if (kern_pool_new(threads, &p) < 0)
        return;
    float *x = malloc(sizeof(float) * (s->ff > s->vocab ? s->ff : s->vocab));
    float *out = malloc(sizeof(float) * (s->ff > s->vocab ? s->ff : s->vocab));
    for (size_t i = 0; i < s->ff; i++)
        x[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
    acts ae, af;
    if (!x || !out || acts_new(&ae, 1, s->embd) < 0 || acts_new(&af, 1, s->ff) < 0)
        return;
    double t[64], tc[64], bw_cpu0, bw_cpu1;
    model_pass(p, o, &md, x, &ae, &af, out); /* warm-up */
    double bw0 = measure_bandwidth(p, bw_reps, &bw_cpu0);
    for (int i = 0; i < reps; i++) {
        double t0 = aria_clock_s(CLOCK_MONOTONIC), c0 = aria_clock_s(CLOCK_PROCESS_CPUTIME_ID);
        model_pass(p, o, &md, x, &ae, &af, out);
        t[i] = aria_clock_s(CLOCK_MONOTONIC) - t0;
        tc[i] = (aria_clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) / threads;
    }
    double bw1 = measure_bandwidth(p, bw_reps, &bw_cpu1);
    double bw = (bw0 + bw1) / 2, bw_cpu = (bw_cpu0 + bw_cpu1) / 2;
    double med = aria_median(t, (size_t)reps);
    double gbs = (double)md.bytes / med / 1e9;
    double gbs_cpu = (double)md.bytes / aria_median(tc, (size_t)reps) / 1e9;
    printf(
        "sweep  %-7s %-10s threads %d  %7.1f MB/token  %8.2f ms  %6.2f GB/s  %5.1f%% of %.1f GB/s"
        " (passes before/after %.1f / %.1f)  (%.1f tok/s weight-bound)\n",
        s->name, o->name, threads, (double)md.bytes / 1e6, med * 1e3, gbs, 100.0 * gbs / bw, bw,
        bw0, bw1, 1.0 / med);
    printf("       %-7s %-10s threads %d  per CPU-second of each thread: %6.2f GB/s  %5.1f%% of "
           "%.1f GB/s\n",
           s->name, o->name, threads, gbs_cpu, 100.0 * gbs_cpu / bw_cpu, bw_cpu);
    if (threads > 1) {
        for (int i = 0; i < reps; i++) {
            double t0 = aria_clock_s(CLOCK_MONOTONIC);
            for (int k = 0; k < 1000; k++)
                kern_pool_run(p, empty_task, NULL, 2 * (size_t)threads);
            t[i] = aria_clock_s(CLOCK_MONOTONIC) - t0;
        }
        printf("       empty pool run: %.2f us\n", aria_median(t, (size_t)reps) * 1e3);
        nosync_ctx nc = {.o = o, .md = &md, .ae = &ae.a, .af = &af.a, .out = out};
        for (int i = 0; i < reps; i++) {
            double t0 = aria_clock_s(CLOCK_MONOTONIC);
            kern_pool_run(p, nosync_task, &nc, (size_t)threads);
            t[i] = aria_clock_s(CLOCK_MONOTONIC) - t0;
        }
        pass_line(s, o, threads, "one pool run per pass (no barriers)", t, reps, md.bytes, bw);
        if (o == kern_ops_get()) { /* the engine's entry points use the selected table */
            for (int i = 0; i < reps; i++) {
                double t0 = aria_clock_s(CLOCK_MONOTONIC);
                model_pass_engine(p, &md, x, &ae, &af, out);
                t[i] = aria_clock_s(CLOCK_MONOTONIC) - t0;
            }
            pass_line(s, o, threads, "the engine's split and hints (one run per matrix group)", t,
                      reps, md.bytes, bw);
        }
    }
    fflush(stdout);
    free(x);
    free(out);
    free(ae.mem);
    free(af.mem);
    kern_pool_free(p);
    model_free(&md);
}

/* ------------------------------------------------------------------ */
/* per-kernel microbenchmarks                                           */
/* ------------------------------------------------------------------ */

typedef struct res {
    double ms, gbs, gops;
} res;

static res
time_job(kern_pool *p, job *j, int reps, double bytes, double ops)
{
    double t[64];
    run_job(p, j);
    for (int i = 0; i < reps; i++) {
        double t0 = aria_clock_s(CLOCK_MONOTONIC);
        run_job(p, j);
        t[i] = aria_clock_s(CLOCK_MONOTONIC) - t0;
    }
    double med = aria_median(t, (size_t)reps);
    return (res){med * 1e3, bytes / med / 1e9, ops / med / 1e9};
}

static void
print_res(const char *kernel, const char *shape_s, const kern_ops *o, int threads, res r, double bw)
{
    printf("kernel %-14s %-18s %-10s threads %d  %9.3f ms  %7.2f GB/s  %7.1f GOP/s  %5.1f%% bw\n",
           kernel, shape_s, o->name, threads, r.ms, r.gbs, r.gops, 100.0 * r.gbs / bw);
    fflush(stdout);
}

/* Job j timed between two bandwidth passes (same threads, 3 repetitions
 * each), bw[0] / bw[1]: the lines whose weights stream from memory are set
 * against the bandwidth of their own minute (as bench_model's sweeps). */
static res
time_between_passes(kern_pool *p, job *j, int reps, double bytes, double ops, double bw[2])
{
    double c;
    bw[0] = measure_bandwidth(p, 3, &c);
    res r = time_job(p, j, reps, bytes, ops);
    bw[1] = measure_bandwidth(p, 3, &c);
    return r;
}

/* A kernel line whose weights stream from memory, against the mean of the
 * passes around it. */
static void
print_res_around(kern_pool *p, const char *kernel, const char *shape_s, const kern_ops *o,
                 int threads, job *j, int reps, double bytes, double ops)
{
    double bw[2];
    res r = time_between_passes(p, j, reps, bytes, ops, bw);
    double m = (bw[0] + bw[1]) / 2;
    printf("kernel %-14s %-18s %-10s threads %d  %9.3f ms  %7.2f GB/s  %7.1f GOP/s  %5.1f%% of "
           "%.1f GB/s (passes before/after %.1f / %.1f)\n",
           kernel, shape_s, o->name, threads, r.ms, r.gbs, r.gops, 100.0 * r.gbs / m, m, bw[0],
           bw[1]);
    fflush(stdout);
}

static void
bench_kernels(const kern_ops *o, int threads, int reps, double bw, int quick)
{
    kern_pool *p = NULL;
    if (kern_pool_new(threads, &p) < 0)
        return;
    int slow = o->isa == KERN_ISA_SCALAR;
    int kreps = slow ? (reps < 5 ? reps : 5) : reps;
    size_t rows = 4096, cols = 1536;
    kern_tmat m;
    if (new_tmat(&m, rows, cols) < 0)
        return;
    float *x = malloc(sizeof(float) * 32000 * 4);
    float *out = malloc(sizeof(float) * 4096 * 256);
    for (size_t i = 0; i < 32000 * 4; i++)
        x[i] = (float)((int)(rnd() % 2001) - 1000) / 997.0f;
    size_t ntok = slow ? 8 : quick ? 32 : 128;
    acts a1, an;
    if (acts_new(&a1, 1, cols) < 0 || acts_new(&an, ntok, cols) < 0)
        return;
    acts_fill(&a1, o, x);
    acts_fill(&an, o, x);

    /* quantization of a 4096-float row */
    {
        acts aq;
        if (acts_new(&aq, 1, 4096) == 0) {
            double t[64];
            for (int i = 0; i < kreps; i++) {
                double t0 = aria_clock_s(CLOCK_MONOTONIC);
                for (int k = 0; k < 100; k++)
                    o->quant_act(x, &aq.a, 0);
                t[i] = (aria_clock_s(CLOCK_MONOTONIC) - t0) / 100;
            }
            double med = aria_median(t, (size_t)kreps);
            res r = {med * 1e3, 4096.0 * 4 / med / 1e9, 4096.0 / med / 1e9};
            print_res("quant_act", "4096", o, 1, r, bw);
            free(aq.mem);
        }
    }
    char shp[64];
    snprintf(shp, sizeof shp, "%zux%zu", rows, cols);
    job j = {.o = o, .kind = 0, .m = &m, .a = &a1.a, .out = out, .rows = rows};
    print_res("tmat_matvec", shp, o, threads,
              time_job(p, &j, kreps, (double)kern_tmat_bytes(&m), 2.0 * rows * cols), bw);
    snprintf(shp, sizeof shp, "%zux%zu n=%zu", rows, cols, ntok);
    job jm = {.o = o, .kind = 1, .m = &m, .a = &an.a, .out = out, .out_stride = rows, .rows = rows};
    print_res("tmat_matmul", shp, o, threads,
              time_job(p, &jm, kreps, (double)kern_tmat_bytes(&m), 2.0 * rows * cols * ntok), bw);
    kern_tmat_fini(&m);

    /* F16 matvec over 32000 x 1536 (98 MB, streams from memory) */
    size_t fr = slow ? 4096 : 32000;
    uint16_t *f16 = malloc(fr * cols * 2);
    for (size_t i = 0; i < fr * cols; i++)
        f16[i] = (uint16_t)(0x3000 + (rnd() % 0x800)) | (uint16_t)((rnd() & 1) << 15);
    kern_fmat fm = {
        .type = KERN_FT_F16, .rows = fr, .cols = cols, .row_bytes = cols * 2, .data = f16};
    job jf = {.o = o, .kind = 2, .m = &fm, .x = x, .out = out, .rows = fr};
    snprintf(shp, sizeof shp, "%zux%zu f16", fr, cols);
    print_res_around(p, "fmat_matvec", shp, o, threads, &jf, kreps, (double)fr * cols * 2,
                     2.0 * fr * cols);
    free(f16);

    /* int8 head 32000 x 1536 (49 MB) */
    kern_i8mat h;
    if (new_i8mat(&h, fr, cols) == 0) {
        job jh = {.o = o, .kind = 3, .m = &h, .a = &a1.a, .out = out, .rows = fr};
        snprintf(shp, sizeof shp, "%zux%zu", fr, cols);
        print_res_around(p, "i8mat_matvec", shp, o, threads, &jh, kreps,
                         (double)kern_i8mat_bytes(&h), 2.0 * fr * cols);
        kern_i8mat_fini(&h);
    }
    free(a1.mem);
    free(an.mem);
    free(x);
    free(out);
    kern_pool_free(p);
}

/* One `stream` line: job j (a matvec of j->rows x cols, `bytes` of weights)
 * timed between two bandwidth passes (same threads), against their mean. */
static void
stream_line(kern_pool *p, job *j, size_t cols, int threads, int reps, double bytes)
{
    char shp[64];
    snprintf(shp, sizeof shp, "%zux%zu", j->rows, cols);
    double bw[2];
    res r = time_between_passes(p, j, reps, bytes, 2.0 * (double)j->rows * (double)cols, bw);
    double m = (bw[0] + bw[1]) / 2;
    printf("stream %-12s %-13s %-10s threads %d  %9.3f ms  %7.2f GB/s  %5.1f%% of %.1f GB/s "
           "(passes before/after %.1f / %.1f)\n",
           j->kind == 3 ? "i8mat_matvec" : "tmat_matvec", shp, j->o->name, threads, r.ms, r.gbs,
           100.0 * r.gbs / m, m, bw[0], bw[1]);
    fflush(stdout);
}

/* The ternary decode kernel (and the int8 head's) over one matrix far
 * larger than the caches, one contiguous range per thread: its streaming
 * rate with no run starts, barriers or other work, next to the read-only
 * pass (the ceiling a decode run can approach). One ternary line per column
 * count of the model shapes (the activation row grows with it). */
static void
bench_stream(const kern_ops *o, int threads, int reps, int quick)
{
    kern_pool *p = NULL;
    if (kern_pool_new(threads, &p) < 0)
        return;
    /* the ternary kernel at each model width, the int8 head's at bitnet-large's */
    static const struct {
        int kind; /* job kinds: 0 ternary, 3 int8 */
        size_t cols;
    } list[] = {{0, 1536}, {0, 2560}, {0, 4096}, {0, 6912}, {3, 1536}};
    size_t target = (quick ? (size_t)128 : (size_t)256) << 20; /* well past the L3 */
    float *x = malloc(sizeof(float) * 6912);
    acts a;
    for (size_t i = 0; x && i < 6912; i++)
        x[i] = (float)((int)(rnd() % 2001) - 1000) / 997.0f;
    for (size_t c = 0; x && c < sizeof list / sizeof list[0]; c++) {
        int kind = list[c].kind;
        size_t cols = list[c].cols, row_bytes = kind == 3 ? cols : cols / 4;
        size_t rows = target / row_bytes / KERN_TROWS * KERN_TROWS;
        float *out = malloc(sizeof(float) * rows);
        if (!out || acts_new(&a, 1, cols) < 0) {
            free(out);
            break;
        }
        acts_fill(&a, o, x);
        kern_tmat m;
        kern_i8mat h;
        if ((kind == 3 ? new_i8mat(&h, rows, cols) : new_tmat(&m, rows, cols)) == 0) {
            job j = {.o = o, .kind = kind, .a = &a.a, .out = out, .rows = rows};
            j.m = kind == 3 ? (const void *)&h : (const void *)&m;
            double bytes = kind == 3 ? (double)kern_i8mat_bytes(&h) : (double)kern_tmat_bytes(&m);
            stream_line(p, &j, cols, threads, reps, bytes);
            if (kind == 3)
                kern_i8mat_fini(&h);
            else
                kern_tmat_fini(&m);
        }
        free(a.mem);
        free(out);
    }
    free(x);
    kern_pool_free(p);
}

int
main(int argc, char **argv)
{
    int threads = 2, reps = 11, quick = 0;
    const char *shape_sel = "both", *isa_sel = "all";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc)
            shape_sel = argv[++i];
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc)
            isa_sel = argv[++i];
        else {
            fprintf(stderr, "usage: bench_ops [--threads T] [--reps N] [--quick] "
                            "[--shape large|2b|both] [--isa scalar|avx2|avx512|all]\n");
            return 2;
        }
    }
    if (quick) {
        reps = 3;
        shape_sel = "large";
    }
    if (threads < 1 || threads > 64 || reps < 1 || reps > 64) {
        fprintf(stderr, "bench_ops: threads 1..64, reps 1..64\n");
        return 2;
    }
    int nv = 0;
    for (int b = 0; b < 256; b++)
        if ((b & 3) != 3 && ((b >> 2) & 3) != 3 && ((b >> 4) & 3) != 3 && ((b >> 6) & 3) != 3)
            valid_bytes[nv++] = (uint8_t)b;

    char feats[256];
    kern_cpu_feature_string(feats, sizeof feats);
    printf("bench_ops: cpu features: %s; selected isa: %s; threads %d; median of %d runs\n", feats,
           kern_ops_get()->name, threads, reps);
    printf("note: the machine may be shared with other jobs; figures are medians and noisy\n");

    double bw1 = 0, bwt, bw1c, bwtc;
    {
        kern_pool *p1 = NULL, *pt = NULL;
        if (kern_pool_new(1, &p1) < 0 || kern_pool_new(threads, &pt) < 0)
            return 1;
        bw1 = measure_bandwidth(p1, quick ? 3 : 7, &bw1c);
        bwt = measure_bandwidth(pt, quick ? 3 : 7, &bwtc);
        kern_pool_free(p1);
        kern_pool_free(pt);
    }
    printf("memory read bandwidth: %.2f GB/s on 1 thread, %.2f GB/s on %d threads (1 GiB stream); "
           "per CPU-second of each thread: %.2f and %.2f GB/s\n",
           bw1, bwt, threads, bw1c, bwtc);

    static const shape large = {"large", 24, 1536, 4096, 1536, 32000};
    static const shape b2 = {"2b-4t", 30, 2560, 6912, 640, 128256};
    for (int i = 0; i < 3; i++) {
        const kern_ops *o = kern_ops_for((kern_isa)i);
        if (!o || (o->isa != (kern_isa)i))
            continue;
        if (strcmp(isa_sel, "all") && strcmp(isa_sel, kern_isa_name((kern_isa)i)))
            continue;
        bench_kernels(o, threads, reps, bwt, quick);
        if (o->isa == KERN_ISA_SCALAR)
            continue; /* the sweep in scalar takes minutes */
        bench_stream(o, threads, reps, quick);
        if (!strcmp(shape_sel, "large") || !strcmp(shape_sel, "both")) {
            bench_model(&large, o, 1, reps, quick ? 3 : 5);
            bench_model(&large, o, threads, reps, quick ? 3 : 5);
        }
        if (!strcmp(shape_sel, "2b") || !strcmp(shape_sel, "both")) {
            bench_model(&b2, o, 1, reps, quick ? 3 : 5);
            bench_model(&b2, o, threads, reps, quick ? 3 : 5);
        }
    }
    return 0;
}
