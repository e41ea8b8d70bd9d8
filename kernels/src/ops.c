/*
 * ops.c — ISA-independent parts of the kernels: matrix builders (load time,
 * they allocate), the dispatch table choice, and the pool-splitting helpers.
 *
 * Invariant: every kern_tmat / kern_i8mat leaves padding (rows >= rows, cols
 * >= cols) at code 0 / weight 0 and data 64-byte aligned, which the SIMD
 * kernels rely on.
 */
#include "ops.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* ------------------------------------------------------------------ */
/* Aligned allocation                                                   */
/* ------------------------------------------------------------------ */

/* Weight storage, 64-byte aligned, zero-filled, on 2 MiB pages where the
 * kernel allows (MADV_HUGEPAGE): decode streams every weight once per token
 * and 4 KiB pages cost a TLB miss every 4 KiB of a stream.
 *  - n >= ARENA_CHUNK / 4: a mapping of its own, 2 MiB aligned;
 *  - smaller matrices (most projections are 0.5-4 MiB) share 64 MiB mapped
 *    chunks, sub-allocated in order, so they are huge-page backed without
 *    rounding each one up to 2 MiB; a chunk is unmapped when its last
 *    matrix is freed (reference count) and it is no longer the current one;
 *  - if mmap fails, the heap (aria_calloc).
 * *len tells free_weights which: 0 heap, LEN_ARENA chunk, else mapping length. */
#define HUGE_ALIGN  ((size_t)2 << 20)
#define ARENA_CHUNK ((size_t)64 << 20)
#define LEN_ARENA   SIZE_MAX

typedef struct arena_chunk {
    unsigned char *base; /* 2 MiB aligned start of the mapping */
    size_t used, refs;
} arena_chunk;

static pthread_mutex_t arena_mu = PTHREAD_MUTEX_INITIALIZER;
static arena_chunk *arena_cur;

static void *
map_huge(size_t n, void **raw, size_t *len)
{
    size_t l = n + HUGE_ALIGN;
    void *p = mmap(NULL, l, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1);
    (void)madvise((void *)a, n, MADV_HUGEPAGE); /* advisory; fine if refused */
    *raw = p;
    *len = l;
    return (void *)a;
}

static void
chunk_unmap(arena_chunk *c)
{
    munmap(c->base, ARENA_CHUNK);
    aria_free(c);
}

static void *
arena_alloc(size_t n, void **raw)
{
    size_t n64 = (n + 63) & ~(size_t)63;
    void *out = NULL;
    pthread_mutex_lock(&arena_mu);
    if (!arena_cur || arena_cur->used + n64 > ARENA_CHUNK) {
        arena_chunk *c = aria_calloc(1, sizeof *c);
        void *mraw = NULL;
        size_t mlen = 0;
        /* a chunk is mapped 2 MiB aligned with exactly ARENA_CHUNK bytes:
         * map extra, then trim both ends */
        unsigned char *base = c ? map_huge(ARENA_CHUNK, &mraw, &mlen) : NULL;
        if (!base) {
            aria_free(c);
            pthread_mutex_unlock(&arena_mu);
            return NULL;
        }
        size_t head = (size_t)(base - (unsigned char *)mraw);
        if (head)
            munmap(mraw, head);
        if (mlen - head > ARENA_CHUNK)
            munmap(base + ARENA_CHUNK, mlen - head - ARENA_CHUNK);
        c->base = base;
        if (arena_cur && arena_cur->refs == 0)
            chunk_unmap(arena_cur);
        arena_cur = c;
    }
    out = arena_cur->base + arena_cur->used;
    arena_cur->used += n64;
    arena_cur->refs++;
    *raw = arena_cur;
    pthread_mutex_unlock(&arena_mu);
    memset(out, 0, n); /* the space may have held a freed matrix */
    return out;
}

static void
arena_free(arena_chunk *c)
{
    pthread_mutex_lock(&arena_mu);
    ARIA_ASSERT(c->refs > 0);
    if (--c->refs == 0) {
        if (c != arena_cur)
            chunk_unmap(c);
        else
            c->used = 0; /* the current chunk is empty again: reuse it */
    }
    pthread_mutex_unlock(&arena_mu);
}

static void *
alloc_weights(size_t n, void **raw, size_t *len)
{
    *len = 0;
    if (n > SIZE_MAX - HUGE_ALIGN - 64)
        return NULL;
    if (n >= ARENA_CHUNK / 4) {
        void *p = map_huge(n, raw, len);
        if (p)
            return p;
    } else if (n > 0) {
        void *p = arena_alloc(n, raw);
        if (p) {
            *len = LEN_ARENA;
            return p;
        }
    }
    unsigned char *p = aria_calloc(1, n + 64);
    if (!p)
        return NULL;
    *raw = p;
    uintptr_t a = ((uintptr_t)p + 63) & ~(uintptr_t)63;
    return (void *)a;
}

static void
free_weights(void *raw, size_t len)
{
    if (len == LEN_ARENA)
        arena_free(raw);
    else if (len)
        munmap(raw, len);
    else
        aria_free(raw);
}

void *
kern_big_alloc(size_t n, void **raw, size_t *len)
{
    /* A mapping of its own from 2 MiB up (never the weight arena: its
     * chunks are touched whole, more than a small cache needs). */
    *len = 0;
    if (n >= HUGE_ALIGN && n <= SIZE_MAX - HUGE_ALIGN) {
        void *p = map_huge(n, raw, len);
        if (p)
            return p;
    }
    unsigned char *p = aria_calloc(1, n + 64);
    if (!p)
        return NULL;
    *raw = p;
    return (void *)(((uintptr_t)p + 63) & ~(uintptr_t)63);
}

void
kern_big_free(void *raw, size_t len)
{
    if (raw)
        free_weights(raw, len);
}

static int
mul_ok(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Ternary matrix                                                       */
/* ------------------------------------------------------------------ */

int
kern_tmat_init(kern_tmat *m, size_t rows, size_t cols)
{
    memset(m, 0, sizeof *m);
    if (rows == 0 || cols == 0)
        return aria_errf(ARIA_EINVAL, "ops: ternary matrix of %zu x %zu", rows, cols);
    if (rows > SIZE_MAX / 2)
        return aria_errf(ARIA_EINVAL, "ops: ternary matrix too large");
    if (cols > KERN_TMAT_MAX_COLS)
        return aria_errf(ARIA_EINVAL, "ops: ternary matrix of %zu x %zu (at most %zu columns)",
                         rows, cols, KERN_TMAT_MAX_COLS);
    size_t rows_p = (rows + KERN_TROWS - 1) / KERN_TROWS * KERN_TROWS;
    size_t cols_p = kern_act_padded(cols);
    size_t bytes;
    if (!mul_ok(rows_p, cols_p / 4, &bytes))
        return aria_errf(ARIA_EINVAL, "ops: ternary matrix too large");
    void *raw = NULL;
    size_t raw_len = 0;
    uint8_t *data = alloc_weights(bytes, &raw, &raw_len);
    float *ws = aria_calloc(rows, sizeof(float));
    if (!data || !ws) {
        if (data)
            free_weights(raw, raw_len);
        aria_free(ws);
        return aria_errf(ARIA_ENOMEM, "ops: %zu bytes for a ternary matrix", bytes);
    }
    /* Code 1 (weight 0) everywhere, padding included. */
    memset(data, 0x55, bytes);
    m->rows = rows;
    m->cols = cols;
    m->rows_p = rows_p;
    m->cols_p = cols_p;
    m->data = data;
    m->wscale = ws;
    m->mem_ = raw;
    m->mem_len_ = raw_len;
    return 0;
}

void
kern_tmat_fini(kern_tmat *m)
{
    if (!m)
        return;
    if (m->mem_)
        free_weights(m->mem_, m->mem_len_);
    aria_free(m->wscale);
    memset(m, 0, sizeof *m);
}

void
kern_tmat_set_row(kern_tmat *m, size_t r, const int8_t *t, float scale)
{
    ARIA_ASSERT(r < m->rows);
    /* Whole bytes at once, validity checked on the way (load time matters for
     * 2B-weight models): byte b of chunk k packs columns 16k + 4j + b,
     * j = 0..3, as codes t + 1. */
    uint8_t *base = m->data + (r / KERN_TROWS) * (m->cols_p * 4) + 4 * (r % KERN_TROWS);
    size_t full = m->cols / 16;
    unsigned bad = 0;
    for (size_t k = 0; k < full; k++) {
        const int8_t *tk = t + 16 * k;
        for (size_t b = 0; b < 4; b++) {
            unsigned c0 = (unsigned)(tk[b] + 1), c1 = (unsigned)(tk[4 + b] + 1),
                     c2 = (unsigned)(tk[8 + b] + 1), c3 = (unsigned)(tk[12 + b] + 1);
            bad |= (c0 > 2) | (c1 > 2) | (c2 > 2) | (c3 > 2);
            base[64 * k + b] = (uint8_t)(c0 | c1 << 2 | c2 << 4 | c3 << 6);
        }
    }
    for (size_t k = full; k < m->cols_p / 16; k++)
        for (size_t b = 0; b < 4; b++) {
            unsigned v = 0;
            for (unsigned j = 0; j < 4; j++) {
                size_t c = 16 * k + 4 * j + b;
                unsigned code = c < m->cols ? (unsigned)(t[c] + 1) : 1u;
                bad |= code > 2;
                v |= code << (2 * j);
            }
            base[64 * k + b] = (uint8_t)v;
        }
    ARIA_ASSERT(!bad); /* every t[c] in {-1, 0, 1} */
    m->wscale[r] = scale;
}

int
kern_tmat_get(const kern_tmat *m, size_t r, size_t c)
{
    ARIA_ASSERT(r < m->rows && c < m->cols);
    return (int)ops_tmat_code(m, r, c) - 1;
}

int
kern_tmat_from_codes(kern_tmat *m, const int8_t *t, size_t rows, size_t cols, float scale)
{
    size_t n;
    if (!mul_ok(rows, cols, &n))
        return aria_errf(ARIA_EINVAL, "ops: ternary matrix too large");
    for (size_t i = 0; i < n; i++)
        if (t[i] < -1 || t[i] > 1)
            return aria_errf(ARIA_EINVAL, "ops: ternary value %d at row %zu col %zu", t[i],
                             i / cols, i % cols);
    int rc = kern_tmat_init(m, rows, cols);
    if (rc < 0)
        return rc;
    for (size_t r = 0; r < rows; r++)
        kern_tmat_set_row(m, r, t + r * cols, scale);
    return 0;
}

size_t
kern_tmat_bytes(const kern_tmat *m)
{
    return m->rows_p * m->cols_p / 4;
}

/* ------------------------------------------------------------------ */
/* Int8 matrix                                                          */
/* ------------------------------------------------------------------ */

int
kern_i8mat_init(kern_i8mat *m, size_t rows, size_t cols)
{
    memset(m, 0, sizeof *m);
    if (rows == 0 || cols == 0)
        return aria_errf(ARIA_EINVAL, "ops: int8 matrix of %zu x %zu", rows, cols);
    if (rows > SIZE_MAX / 2 || cols > SIZE_MAX / 2)
        return aria_errf(ARIA_EINVAL, "ops: int8 matrix too large");
    size_t rows_p = (rows + KERN_TROWS - 1) / KERN_TROWS * KERN_TROWS;
    size_t cols_p = kern_act_padded(cols);
    size_t bytes;
    if (!mul_ok(rows_p, cols_p, &bytes))
        return aria_errf(ARIA_EINVAL, "ops: int8 matrix too large");
    void *raw = NULL;
    size_t raw_len = 0;
    int8_t *data = alloc_weights(bytes, &raw, &raw_len);
    float *ws = aria_calloc(rows, sizeof(float));
    int32_t *sum = aria_calloc(rows_p, sizeof(int32_t));
    if (!data || !ws || !sum) {
        if (data)
            free_weights(raw, raw_len);
        aria_free(ws);
        aria_free(sum);
        return aria_errf(ARIA_ENOMEM, "ops: %zu bytes for an int8 matrix", bytes);
    }
    m->rows = rows;
    m->cols = cols;
    m->rows_p = rows_p;
    m->cols_p = cols_p;
    m->data = data;
    m->wscale = ws;
    m->wsum = sum;
    m->mem_ = raw;
    m->mem_len_ = raw_len;
    return 0;
}

void
kern_i8mat_fini(kern_i8mat *m)
{
    if (!m)
        return;
    if (m->mem_)
        free_weights(m->mem_, m->mem_len_);
    aria_free(m->wscale);
    aria_free(m->wsum);
    memset(m, 0, sizeof *m);
}

static inline int8_t *
i8mat_at(const kern_i8mat *m, size_t r, size_t c)
{
    size_t tile = r / KERN_TROWS, l = r % KERN_TROWS;
    size_t tile_bytes = m->cols_p * KERN_TROWS;
    return m->data + tile * tile_bytes + (c / 4) * 64 + 4 * l + (c % 4);
}

void
kern_i8mat_set_row_f32(kern_i8mat *m, size_t r, const float *x)
{
    ARIA_ASSERT(r < m->rows);
    float scale;
    int32_t sum;
    int8_t q[KERN_TCOLS];
    /* Quantize in pieces of 64 after one absmax pass over the whole row, with
     * the same rule as activations (ops_quant_row_ref). */
    float amax = ops_absmax_ref(x, m->cols);
    sum = 0;
    for (size_t c0 = 0; c0 < m->cols; c0 += KERN_TCOLS) {
        size_t n = m->cols - c0 < KERN_TCOLS ? m->cols - c0 : KERN_TCOLS;
        sum += ops_quant_with_amax_ref(x + c0, n, amax, q);
        for (size_t i = 0; i < n; i++)
            *i8mat_at(m, r, c0 + i) = q[i];
    }
    scale = amax / 127.0f;
    m->wscale[r] = scale;
    m->wsum[r] = sum;
}

int
kern_i8mat_get(const kern_i8mat *m, size_t r, size_t c)
{
    ARIA_ASSERT(r < m->rows && c < m->cols);
    return *i8mat_at(m, r, c);
}

size_t
kern_i8mat_bytes(const kern_i8mat *m)
{
    return m->rows_p * m->cols_p;
}

#if defined(__x86_64__)
/* F16 row -> float with F16C: exact for every finite half (a row with a
 * non-finite value is redone by the reference path below). */
__attribute__((target("avx,f16c"))) static void
f16_row_f16c(const uint8_t *h, float *f, size_t n)
{
    /* h may be unaligned (rows inside a GGUF mapping): byte loads only */
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(f + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + 2 * i))));
    for (; i < n; i++) {
        uint16_t v;
        memcpy(&v, h + 2 * i, sizeof v);
        f[i] = ops_fp16_to_f32(v);
    }
}
#endif

/* Row r of f as float: F16 rows through F16C when the CPU has it. */
static void
fmat_row_fast(const kern_fmat *f, size_t r, float *dst, bool f16c)
{
#if defined(__x86_64__)
    if (f16c && f->type == KERN_FT_F16) {
        f16_row_f16c((const uint8_t *)f->data + r * f->row_bytes, dst, f->cols);
        return;
    }
#else
    (void)f16c;
#endif
    ops_fmat_row_to_f32(f, r, dst);
}

int
kern_i8mat_from_fmat(kern_i8mat *m, const kern_fmat *f)
{
    if (f->type == KERN_FT_Q8_0 && f->cols % 32)
        return aria_errf(ARIA_EINVAL, "ops: Q8_0 row of %zu columns", f->cols);
    int rc = kern_i8mat_init(m, f->rows, f->cols);
    if (rc < 0)
        return rc;
    /* Each row is quantized by the selected ISA's activation kernel, which
     * computes exactly the reference rule (ops.h; test_ops checks every ISA)
     * for finite inputs; a row holding Inf/NaN takes the reference path. */
    size_t stride = kern_act_padded(f->cols);
    float *row = aria_alloc_array(f->cols, sizeof(float));
    int8_t *q = aria_alloc(stride);
    if (!row || !q) {
        aria_free(row);
        aria_free(q);
        kern_i8mat_fini(m);
        return aria_errf(ARIA_ENOMEM, "ops: int8 head row buffer");
    }
    const kern_ops *ops = kern_ops_get();
    bool f16c = ops->isa >= KERN_ISA_AVX2 && kern_cpu_get()->f16c;
    float scale;
    int32_t sum;
    kern_acts a = {
        .n_tok = 1, .cols = f->cols, .stride = stride, .q = q, .scale = &scale, .sum = &sum};
    size_t tile_bytes = m->cols_p * KERN_TROWS;
    for (size_t r = 0; r < f->rows; r++) {
        fmat_row_fast(f, r, row, f16c);
        bool finite = true;
        for (size_t c = 0; c < f->cols; c++)
            finite &= row[c] - row[c] == 0.0f;
        if (!finite) {
            ops_fmat_row_to_f32(f, r, row);
            kern_i8mat_set_row_f32(m, r, row);
            continue;
        }
        ops->quant_act(row, &a, 0);
        /* 4 consecutive columns are 4 consecutive bytes of a chunk */
        int8_t *dst = m->data + (r / KERN_TROWS) * tile_bytes + 4 * (r % KERN_TROWS);
        for (size_t k = 0; k < m->cols_p / 4; k++)
            memcpy(dst + 64 * k, q + 4 * k, 4);
        m->wscale[r] = scale;
        m->wsum[r] = sum;
    }
    aria_free(row);
    aria_free(q);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                             */
/* ------------------------------------------------------------------ */

#define OPS_AVX2_TABLE   (&kern_ops_avx2)
#define OPS_AVX512_TABLE (&kern_ops_avx512)

const kern_ops *
kern_ops_for(kern_isa isa)
{
    const kern_cpu_features *f = kern_cpu_get();
    switch (isa) {
    case KERN_ISA_SCALAR: return &kern_ops_ref;
    case KERN_ISA_AVX2:
        if (f->avx2 && f->fma && f->f16c)
            return OPS_AVX2_TABLE;
        return NULL;
    case KERN_ISA_AVX512:
        /* The AVX-512 table needs VNNI for its integer kernels; a CPU with
         * AVX-512 but no VNNI (Skylake-X) runs the AVX2 table. */
        if (f->avx512f && f->avx512bw && f->avx512vl && f->avx512vnni && f->avx2 && f->fma &&
            f->f16c)
            return OPS_AVX512_TABLE;
        return kern_ops_for(KERN_ISA_AVX2);
    }
    return NULL;
}

static const kern_ops *ops_sel;
static pthread_once_t ops_once = PTHREAD_ONCE_INIT;

static void
ops_choose(void)
{
    kern_isa isa = kern_isa_selected();
    const kern_ops *o = NULL;
    for (int i = (int)isa; i >= 0 && !o; i--)
        o = kern_ops_for((kern_isa)i);
    ops_sel = o ? o : &kern_ops_ref;
}

const kern_ops *
kern_ops_get(void)
{
    pthread_once(&ops_once, ops_choose);
    return ops_sel;
}

/* ------------------------------------------------------------------ */
/* Pool helpers                                                         */
/* ------------------------------------------------------------------ */

/* Split of row tiles into tasks. Every output row is computed whole by one
 * kernel call whatever the split, so the split may follow the thread count
 * and the timing (it never changes a result).
 *  - Streaming kernels (one token: ternary and int8 matvec, float matvec)
 *    are bound by memory. Each thread owns one contiguous range of the
 *    run's tiles (all matrices of the run, in order) and claims half of
 *    what is left of it at a time from its front, so its weights are ONE
 *    long stream that the prefetchers follow from matrix to matrix; a thread
 *    that runs out steals the back half of what is left of another range,
 *    so a thread that is slower or starts late (woken after the caller) no
 *    longer leaves the other waiting for it. Measured on the bitnet-large weight
 *    sweep at 2 threads (bench_kernels_ops, 21 runs each): one range per
 *    thread 47.5-47.8 GB/s against 34.6-39.0 GB/s with four tasks per thread
 *    claimed in turn (each piece restarts the prefetch distance).
 *    Claiming halves, not fixed ~32 KiB chunks: a claim is a locked
 *    compare-and-swap, a full barrier that holds the thread's next loads and
 *    prefetches until its older loads are in, so every claim left a gap in
 *    the stream; halves need ~log2(tiles) claims per range (8 for a
 *    bitnet-large q/k/v share, 10 for its int8 head's instead of ~1000),
 *    and a thief's halves likewise. Both halve what is left, so the two
 *    meet within a tile or two. Interleaved aria bench: docs/performance.md,
 *    eighth round.
 *  - The batched matmul (prompt) is bound by arithmetic: about 4 tasks per
 *    thread, claimed in turn, balance a thread that is descheduled. */
static size_t
tiles_per_task(size_t n_tiles, kern_pool *p)
{
    int nth = kern_pool_threads(p);
    size_t target = nth <= 1 ? 1 : 4 * (size_t)nth;
    size_t t = (n_tiles + target - 1) / target;
    return t ? t : 1;
}

#define SPLIT_MAX 8
#define STEAL_MAX 16 /* more threads: tasks claimed in turn */

/* A range's unclaimed tiles [front, back) as one word (front low, back high):
 * the owner advances front, thieves lower back, both by compare-and-swap. */
typedef struct steal_range {
    _Alignas(64) _Atomic uint64_t fb;
} steal_range;

/* One job over up to SPLIT_MAX matrices of the same kind that share the
 * input; tasks (or the stolen tiles) are numbered matrix by matrix. */
typedef struct split_ctx {
    const kern_ops *ops;
    int kind; /* 0 tmat (matvec if 1 token, else matmul), 2 fmat, 3 i8mat */
    size_t n;
    const void *m[SPLIT_MAX];
    float *out[SPLIT_MAX];
    size_t rows[SPLIT_MAX], tpt[SPLIT_MAX], first[SPLIT_MAX + 1];
    const kern_acts *a;
    const float *x;
    size_t out_stride;
    /* stealing (streaming kinds): first[] counts tiles */
    size_t n_ranges;
    steal_range rng[STEAL_MAX];
} split_ctx;

/* Rows [r0, r1) of matrix i. */
static void
split_rows(const split_ctx *c, size_t i, size_t r0, size_t r1)
{
    float *out = c->out[i] + r0;
    switch (c->kind) {
    case 0:
        if (c->a->n_tok == 1)
            c->ops->tmat_matvec(c->m[i], c->a, out, r0, r1);
        else
            c->ops->tmat_matmul(c->m[i], c->a, out, c->out_stride, r0, r1);
        break;
    case 2: c->ops->fmat_matvec(c->m[i], c->x, out, r0, r1); break;
    default: c->ops->i8mat_matvec(c->m[i], c->a, out, r0, r1); break;
    }
}

static void
split_task(void *vctx, size_t task, size_t n_tasks)
{
    (void)n_tasks;
    split_ctx *c = vctx;
    size_t i = 0;
    while (task >= c->first[i + 1])
        i++;
    size_t r0 = (task - c->first[i]) * c->tpt[i] * KERN_TROWS;
    size_t r1 = r0 + c->tpt[i] * KERN_TROWS;
    if (r1 > c->rows[i])
        r1 = c->rows[i];
    if (r0 < r1)
        split_rows(c, i, r0, r1);
}

/* Run the run-wide tiles [g0, g1), matrix by matrix. */
static void
steal_tiles(const split_ctx *c, size_t g0, size_t g1)
{
    size_t i = 0;
    while (g0 < g1) {
        while (g0 >= c->first[i + 1])
            i++;
        size_t e = g1 < c->first[i + 1] ? g1 : c->first[i + 1];
        size_t r0 = (g0 - c->first[i]) * KERN_TROWS, r1 = (e - c->first[i]) * KERN_TROWS;
        split_rows(c, i, r0, r1 < c->rows[i] ? r1 : c->rows[i]);
        g0 = e;
    }
}

/* A task works the range of the thread running it (thread k of the pool
 * owns range k, so what it streams next is known ahead: kern_pool_hint_next)
 * from its front, then the other ranges from their backs. */
static void
steal_task(void *vctx, size_t task, size_t n_tasks)
{
    (void)n_tasks;
    split_ctx *c = vctx;
    size_t self = kern_pool_self();
    if (self < c->n_ranges)
        task = self;
#if defined(__x86_64__)
    /* Every tile reads the whole activation row, which the calling thread
     * has just written: ask for all its lines at once instead of one line
     * at a time from the other core (~2 us at a run's start, measured). */
    if (c->kind != 2 && self != 0)
        for (size_t o = 0; o < c->a->cols; o += 64)
            _mm_prefetch((const char *)c->a->q + o, _MM_HINT_T0);
#endif
    steal_range *own = &c->rng[task];
    uint64_t w = atomic_load_explicit(&own->fb, memory_order_relaxed);
    for (;;) {
        uint32_t f = (uint32_t)w, b = (uint32_t)(w >> 32);
        if (f >= b)
            break;
        /* half of what is left (see the split's comment) */
        uint32_t take = (b - f + 1) / 2;
        uint32_t e = f + take;
        if (!atomic_compare_exchange_weak_explicit(&own->fb, &w, (w & ~(uint64_t)UINT32_MAX) | e,
                                                   memory_order_relaxed, memory_order_relaxed))
            continue;
        steal_tiles(c, f, e);
        w = atomic_load_explicit(&own->fb, memory_order_relaxed);
    }
    for (size_t k = 1; k < c->n_ranges; k++) {
        steal_range *v = &c->rng[(task + k) % c->n_ranges];
        w = atomic_load_explicit(&v->fb, memory_order_relaxed);
        for (;;) {
            uint32_t f = (uint32_t)w, b = (uint32_t)(w >> 32);
            if (f >= b)
                break;
            /* the back half of what is left (the last tile alone): the
             * owner's stream keeps going, and the thief's piece is one
             * stream too, not a tile per locked CAS */
            uint32_t s = b - f > 1 ? b - (b - f) / 2 : f;
            if (!atomic_compare_exchange_weak_explicit(&v->fb, &w, ((uint64_t)s << 32) | f,
                                                       memory_order_relaxed, memory_order_relaxed))
                continue;
            steal_tiles(c, s, b);
            w = atomic_load_explicit(&v->fb, memory_order_relaxed);
        }
    }
}

static void
split_run(kern_pool *p, split_ctx *c)
{
    ARIA_ASSERT(c->n >= 1 && c->n <= SPLIT_MAX);
    bool streaming = c->kind != 0 || c->a->n_tok == 1;
    size_t nth = (size_t)kern_pool_threads(p);
    c->first[0] = 0;
    if (streaming && nth <= STEAL_MAX) {
        for (size_t i = 0; i < c->n; i++)
            c->first[i + 1] = c->first[i] + (c->rows[i] + KERN_TROWS - 1) / KERN_TROWS;
        size_t total = c->first[c->n];
        ARIA_ASSERT(total < UINT32_MAX);
        c->n_ranges = nth < total ? nth : total;
        /* Joint ranges: contiguous, sizes differing by at most one tile. */
        for (size_t k = 0; k < c->n_ranges; k++) {
            uint64_t f = total * k / c->n_ranges, b = total * (k + 1) / c->n_ranges;
            atomic_init(&c->rng[k].fb, (b << 32) | f);
        }
        kern_pool_run(p, steal_task, c, c->n_ranges);
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        size_t n_tiles = (c->rows[i] + KERN_TROWS - 1) / KERN_TROWS;
        c->tpt[i] = tiles_per_task(n_tiles, p);
        c->first[i + 1] = c->first[i] + (n_tiles + c->tpt[i] - 1) / c->tpt[i];
    }
    kern_pool_run(p, split_task, c, c->first[c->n]);
}

/* Thread t's own range in a streaming run over n matrices of `tiles[i]`
 * tiles of tile_bytes[i] at data[i] (as split_run makes it): its first
 * byte, and *len = the bytes from there to the end of the range or of that
 * matrix, whichever is first. NULL when the run would not steal. */
static const void *
range_start(kern_pool *p, size_t n, const size_t *tiles, const uint8_t *const *data,
            const size_t *tile_bytes, size_t t, size_t *len)
{
    size_t nth = (size_t)kern_pool_threads(p), total = 0;
    *len = 0;
    for (size_t i = 0; i < n; i++)
        total += tiles[i];
    size_t nr = nth < total ? nth : total;
    if (nth > STEAL_MAX || t >= nr)
        return NULL;
    size_t g = total * t / nr, g_end = total * (t + 1) / nr, i = 0;
    while (g >= tiles[i]) {
        g -= tiles[i];
        g_end -= tiles[i];
        i++;
    }
    size_t e = g_end < tiles[i] ? g_end : tiles[i];
    *len = (e - g) * tile_bytes[i];
    return data[i] + g * tile_bytes[i];
}

const void *
kern_tmat_range_start(kern_pool *p, const kern_tmat *const *m, size_t n, size_t t, size_t *len)
{
    ARIA_ASSERT(n >= 1 && n <= SPLIT_MAX);
    size_t tiles[SPLIT_MAX], tb[SPLIT_MAX];
    const uint8_t *data[SPLIT_MAX];
    for (size_t i = 0; i < n; i++) {
        tiles[i] = (m[i]->rows + KERN_TROWS - 1) / KERN_TROWS;
        tb[i] = m[i]->cols_p * 4;
        data[i] = m[i]->data;
    }
    return range_start(p, n, tiles, data, tb, t, len);
}

const void *
kern_i8mat_range_start(kern_pool *p, const kern_i8mat *m, size_t t, size_t *len)
{
    size_t tiles = (m->rows + KERN_TROWS - 1) / KERN_TROWS, tb = m->cols_p * KERN_TROWS;
    const uint8_t *data = (const uint8_t *)m->data;
    return range_start(p, 1, &tiles, &data, &tb, t, len);
}

void
kern_tmat_matvec(kern_pool *p, const kern_tmat *m, const kern_acts *a, float *out)
{
    ARIA_ASSERT(a->n_tok >= 1);
    kern_acts one = *a;
    one.n_tok = 1;
    split_ctx c = {.ops = kern_ops_get(), .kind = 0, .n = 1, .a = &one};
    c.m[0] = m;
    c.out[0] = out;
    c.rows[0] = m->rows;
    split_run(p, &c);
}

void
kern_tmat_matmul(kern_pool *p, const kern_tmat *m, const kern_acts *a, float *out,
                 size_t out_stride)
{
    kern_tmat_matmul_n(p, &m, 1, a, &out, out_stride);
}

void
kern_tmat_matmul_n(kern_pool *p, const kern_tmat *const *m, size_t n_mats, const kern_acts *a,
                   float *const *out, size_t out_stride)
{
    ARIA_ASSERT(n_mats >= 1 && n_mats <= SPLIT_MAX);
    split_ctx c = {.ops = kern_ops_get(), .kind = 0, .n = n_mats, .a = a, .out_stride = out_stride};
    for (size_t i = 0; i < n_mats; i++) {
        ARIA_ASSERT(m[i]->cols == a->cols);
        c.m[i] = m[i];
        c.out[i] = out[i];
        c.rows[i] = m[i]->rows;
    }
    split_run(p, &c);
}

void
kern_fmat_matvec(kern_pool *p, const kern_fmat *m, const float *x, float *out)
{
    split_ctx c = {.ops = kern_ops_get(), .kind = 2, .n = 1, .x = x};
    c.m[0] = m;
    c.out[0] = out;
    c.rows[0] = m->rows;
    split_run(p, &c);
}

void
kern_i8mat_matvec(kern_pool *p, const kern_i8mat *m, const kern_acts *a, float *out)
{
    split_ctx c = {.ops = kern_ops_get(), .kind = 3, .n = 1, .a = a};
    c.m[0] = m;
    c.out[0] = out;
    c.rows[0] = m->rows;
    split_run(p, &c);
}

typedef struct quant_ctx {
    const kern_ops *ops;
    const float *x;
    size_t x_stride;
    kern_acts *a;
} quant_ctx;

static void
quant_task(void *vctx, size_t task, size_t n_tasks)
{
    (void)n_tasks;
    quant_ctx *c = vctx;
    c->ops->quant_act(c->x + task * c->x_stride, c->a, task);
}

void
kern_quant_acts(kern_pool *p, const float *x, size_t x_stride, kern_acts *a)
{
    quant_ctx c = {.ops = kern_ops_get(), .x = x, .x_stride = x_stride, .a = a};
    kern_pool_run(a->n_tok > 1 ? p : NULL, quant_task, &c, a->n_tok);
}
