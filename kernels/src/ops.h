/*
 * ops.h — compute kernels of the inference engine (private to kernels/src;
 * the forward pass includes it): int8 activation quantization, the engine's
 * repacked ternary matrix and its int8 matvec/matmul, float matvec over
 * F32/F16/BF16/Q8_0 rows, the int8 LM head, a thread pool, and the dispatch
 * table that picks scalar / AVX2 / AVX-512 variants once from CPUID.
 *
 * Numerics (identical on every ISA path; tests check bit equality):
 *  - Activation quantization (per token): a = max |x[i]| over the row.
 *    a == 0: scale = 0, every q = 0.
 *    Otherwise m = 127.0f / a (one float division), v = x[i] * m (one float
 *    multiply), q[i] = v rounded to the nearest integer, ties AWAY from zero
 *    (C's roundf), clamped to [-127, 127]; scale = a / 127.0f.
 *    sum = sum of q[i] (int32). Entries cols..padded-1 are written as 0.
 *    Inputs must be finite (the caller's invariant; NaN gives unspecified q).
 *  - Ternary matvec: isum = sum_c w[r][c] * q[c] exactly in int32, then
 *    out[r] = (float)isum * (scale_tok * wscale[r])  — the product in
 *    parentheses is rounded to float first, then one float multiply.
 *  - Int8 LM head: same as ternary with int8 weights and per-row scales.
 *  - Float matvec: out[r] = fixed-order dot of float32 weights (F16/BF16
 *    converted exactly; Q8_0 dequantized exactly as d * qs[i] in float) with
 *    x: 16 lane accumulators, lane i takes columns c with c % 16 == i in
 *    increasing c, each step acc = fmaf(w, x, acc) (fused on every ISA,
 *    scalar uses fmaf); then a fixed tree: s8[i] = acc[i] + acc[i+8],
 *    s4[i] = s8[i] + s8[i+4], s2[i] = s4[i] + s4[i+2], out = s2[0] + s2[1].
 *
 * Ternary layout (kern_tmat), chosen for AVX-512 VNNI and shared by all ISAs:
 *  rows are grouped in tiles of KERN_TROWS = 16 (rows padded to a multiple
 *  of 16), columns padded to a multiple of KERN_TCOLS = 64. Weight code
 *  u = w + 1 in {0,1,2} (padding code 0 — harmless because padded
 *  activation entries are 0 and padded rows are never written out).
 *  A tile is a run of cols/16 chunks of 64 bytes; chunk k covers columns
 *  16k .. 16k+15. Byte p = 4*l + b of a chunk (l = row in tile 0..15,
 *  b = 0..3) holds in bits 2j..2j+1 the code of (row l, column 16k + 4j + b)
 *  for j = 0..3. Shifting a 64-byte chunk right by 2j and masking with 3
 *  gives 16 int32 lanes (one per row) of 4 consecutive codes: exactly the
 *  operand of vpdpbusd with 4 broadcast activation bytes. Since codes are
 *  w + 1, sum(u*q) = sum(w*q) + sum(q): the kernels subtract the token's
 *  q-sum. 2 bits per weight, one stream per tile.
 *
 * Int8 matrix layout (kern_i8mat, the LM head): rows in tiles of 16, columns
 *  padded to 64; a tile is cols/4 chunks of 64 bytes: byte 4*l + b of chunk k
 *  = weight (row l, column 4k + b). Per row: float scale and int32 sum of the
 *  row's weights (VNNI uses activation+128 as the unsigned operand).
 *
 * Kernels never allocate and never fail: contracts are asserted (ARIA_ASSERT
 * on misuse). Row ranges [r0, r1) must start on a tile boundary (r0 % 16 == 0)
 * and end on one or at rows. Matrix builders allocate (load time only).
 *
 * Thread safety: matrices are immutable after building and may be read by
 * any number of threads; kernels writing disjoint row ranges may run
 * concurrently. A kern_pool is driven by one thread at a time.
 */
#ifndef ARIA_KERN_OPS_H
#define ARIA_KERN_OPS_H
#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "kern_cpu.h"

#define KERN_TROWS 16 /* rows per interleaved tile */
#define KERN_TCOLS 64 /* column padding of tmat / i8mat / activations */
/* Most columns of a ternary matrix: the AVX-512 decode tile sums the top
 * code field scaled by 64, at most 128 * 127 for each of the cols / 4
 * columns in that field, in int32 (2^19 * 32 * 127 < 2^31). */
#define KERN_TMAT_MAX_COLS ((size_t)1 << 19)

/* Page kick for the streaming (decode) kernels: one software prefetch per
 * 4 KiB page, to the first line of the page KERN_KICK_DIST ahead, issued by
 * the loop step of `step` bytes that starts in the page's first `step`
 * bytes (steps are `step`-aligned). The hardware stream prefetcher starts
 * over at each 4 KiB page; one early miss per page gets it going before the
 * loads arrive, and leaves every other line to it. On this Zen 5 host it
 * streamed 20-45 % faster than a prefetch of every line 16 KiB ahead (and
 * faster than the hardware alone), two threads, variants interleaved
 * (docs/performance.md, tenth round). */
#define KERN_KICK_DIST 8192
static inline void
kern_kick(const void *p, size_t step)
{
    if (((uintptr_t)p & 4095) < step)
        __builtin_prefetch((const char *)p + KERN_KICK_DIST, 0, 3);
}

/* With the kick, the ternary decode kernels (and the AVX2 int8 head kernel)
 * also fetch each line KERN_AHEAD_DIST ahead: at ~12-13 instructions per
 * 64-byte line (the AVX-512 int8 kernel spends ~4 and does without) the
 * out-of-order window alone keeps too few of their lines in flight (our
 * reading). The measurements behind it and behind 4 KiB (rather than 3, 6
 * or 8) are in docs/performance.md, twelfth and thirteenth rounds. */
#define KERN_AHEAD_DIST 4096
static inline void
kern_ahead(const void *p)
{
    __builtin_prefetch((const char *)p + KERN_AHEAD_DIST, 0, 3);
}

/* The kick for a loop that reads several rows at once (the float matvec):
 * one prefetch per 4 KiB of [p, p + len), rows it reads later (prefetches
 * past a buffer's end are harmless). */
static inline void
kern_kick_range(const void *p, size_t len)
{
    for (size_t o = 0; o < len; o += 4096)
        __builtin_prefetch((const char *)p + o, 0, 3);
}

/* n rounded up to a multiple of KERN_TCOLS: the length an activation row
 * buffer must have (and the stride granularity of kern_acts). */
static inline size_t
kern_act_padded(size_t n)
{
    return (n + KERN_TCOLS - 1) / KERN_TCOLS * KERN_TCOLS;
}

/* ------------------------------------------------------------------ */
/* Quantized activations                                                */
/* ------------------------------------------------------------------ */

/* n_tok quantized activation rows of `cols` entries. Caller-owned storage:
 * q holds n_tok * stride bytes (stride >= kern_act_padded(cols), a multiple
 * of KERN_TCOLS; 64-byte alignment is faster but not required), scale and
 * sum hold n_tok entries. */
typedef struct kern_acts {
    size_t n_tok;
    size_t cols;
    size_t stride;
    int8_t *q;
    float *scale;
    int32_t *sum;
} kern_acts;

/* ------------------------------------------------------------------ */
/* Matrices                                                             */
/* ------------------------------------------------------------------ */

/* Repacked ternary matrix (layout above). Owned storage; immutable after
 * building. data is 64-byte aligned. */
typedef struct kern_tmat {
    size_t rows, cols;     /* logical shape (out features, in features) */
    size_t rows_p, cols_p; /* padded to 16 / 64 */
    uint8_t *data;         /* rows_p/16 tiles * (cols_p/16 * 64) bytes */
    float *wscale;         /* rows entries: per-row weight scale */
    void *mem_;            /* allocation behind data */
    size_t mem_len_;       /* its mapping length (0: heap) */
} kern_tmat;

/* Allocate a rows x cols ternary matrix with every weight 0 and every row
 * scale 0. ARIA_EINVAL if rows or cols is 0 or the size overflows,
 * ARIA_ENOMEM. */
int kern_tmat_init(kern_tmat *m, size_t rows, size_t cols) ARIA_MUST_CHECK;
void kern_tmat_fini(kern_tmat *m);
/* Set row r from cols ternary values t[c] in {-1,0,1} (asserts) and its
 * scale. */
void kern_tmat_set_row(kern_tmat *m, size_t r, const int8_t *t, float scale);
/* Weight (row r, col c) in {-1,0,1} (tests, debugging). */
int kern_tmat_get(const kern_tmat *m, size_t r, size_t c);
/* Build from a row-major rows x cols array of {-1,0,1} and one scale for
 * the whole tensor. Values outside {-1,0,1} give ARIA_EINVAL. */
int kern_tmat_from_codes(kern_tmat *m, const int8_t *t, size_t rows, size_t cols,
                         float scale) ARIA_MUST_CHECK;
/* Bytes of packed weights (the memory a matvec streams). */
size_t kern_tmat_bytes(const kern_tmat *m);

/* Float weights used in place (e.g. inside the mmap'd GGUF): rows of
 * `cols` elements, `row_bytes` apart. Types use GGML numbers. */
typedef enum kern_ftype {
    KERN_FT_F32 = 0,
    KERN_FT_F16 = 1,
    KERN_FT_Q8_0 = 8, /* cols % 32 == 0 */
    KERN_FT_BF16 = 30,
} kern_ftype;

typedef struct kern_fmat {
    kern_ftype type;
    size_t rows, cols;
    size_t row_bytes;
    const void *data; /* borrowed; must outlive every use */
} kern_fmat;

/* Int8 matrix with per-row scales (LM head copy). Owned storage. */
typedef struct kern_i8mat {
    size_t rows, cols, rows_p, cols_p;
    int8_t *data;  /* rows_p/16 tiles * (cols_p/4 * 64) bytes, 64-aligned */
    float *wscale; /* rows */
    int32_t *wsum; /* rows_p: sum of the row's int8 weights */
    void *mem_;
    size_t mem_len_;
} kern_i8mat;

int kern_i8mat_init(kern_i8mat *m, size_t rows, size_t cols) ARIA_MUST_CHECK;
void kern_i8mat_fini(kern_i8mat *m);
/* Quantize float row x (cols entries, finite) into row r with the
 * activation rule (absmax/127, ties away from zero). */
void kern_i8mat_set_row_f32(kern_i8mat *m, size_t r, const float *x);
/* Build from a kern_fmat (e.g. the F16 tied embedding): every row
 * converted to float exactly, then quantized as above. */
int kern_i8mat_from_fmat(kern_i8mat *m, const kern_fmat *f) ARIA_MUST_CHECK;
int kern_i8mat_get(const kern_i8mat *m, size_t r, size_t c);
size_t kern_i8mat_bytes(const kern_i8mat *m);

/* ------------------------------------------------------------------ */
/* Kernels and the dispatch table                                        */
/* ------------------------------------------------------------------ */

typedef struct kern_ops {
    kern_isa isa;
    const char *name; /* "scalar", "avx2", "avx512", "avx512vnni" */
    /* Quantize token `tok` of a: x has a->cols floats. */
    void (*quant_act)(const float *x, kern_acts *a, size_t tok);
    /* out[r - r0] for r in [r0, r1): ternary rows times token 0 of a. */
    void (*tmat_matvec)(const kern_tmat *m, const kern_acts *a, float *out, size_t r0, size_t r1);
    /* out[t * out_stride + r] for every token t of a and r in [r0, r1). */
    void (*tmat_matmul)(const kern_tmat *m, const kern_acts *a, float *out, size_t out_stride,
                        size_t r0, size_t r1);
    /* out[r - r0] = dot(row r, x) in the fixed order; x has cols floats. */
    void (*fmat_matvec)(const kern_fmat *m, const float *x, float *out, size_t r0, size_t r1);
    /* out[r - r0] for the int8 head times token 0 of a. */
    void (*i8mat_matvec)(const kern_i8mat *m, const kern_acts *a, float *out, size_t r0, size_t r1);
} kern_ops;

/* The table for kern_isa_selected() (chosen once, thread safe). */
const kern_ops *kern_ops_get(void);
/* The table of one ISA level (tests, benchmarks); NULL if this CPU cannot
 * run it. */
const kern_ops *kern_ops_for(kern_isa isa);

/* Per-ISA tables (defined in ops_<isa>.c; only call what the CPU runs). */
extern const kern_ops kern_ops_ref;
extern const kern_ops kern_ops_avx2;
extern const kern_ops kern_ops_avx512;

/* ------------------------------------------------------------------ */
/* Thread pool                                                          */
/* ------------------------------------------------------------------ */

typedef struct kern_pool kern_pool;
/* Task `task` of n_tasks. Tasks of one run may execute on any thread in any
 * order; each must write only its own outputs. */
typedef void (*kern_task_fn)(void *ctx, size_t task, size_t n_tasks);

/* A pool of n_threads workers in total, the calling thread included
 * (n_threads - 1 pthreads are started; 1 = run inline). ARIA_EINVAL if
 * n_threads < 1 or > 256; ARIA_ENOMEM / ARIA_EIO if threads cannot start. */
int kern_pool_new(int n_threads, kern_pool **out) ARIA_MUST_CHECK;
/* Stops and joins the workers. NULL is a no-op. */
void kern_pool_free(kern_pool *p);
int kern_pool_threads(const kern_pool *p);
/* Ask the driving thread to prefetch [addr, addr + len) during the next
 * kern_pool_run, once it has no task left to claim and waits for the
 * others: what it reads right after the run (a norm's weights, the run's
 * outputs written by other threads) then arrives while it would only
 * wait. Up to KERN_POOL_PF_MAX ranges per run (more are ignored); a no-op
 * without worker threads. */
#define KERN_POOL_PF_MAX 4
void kern_pool_prefetch_after(kern_pool *p, const void *addr, size_t len);
/* Worker `thread` (1 .. n_threads-1), once it has no task of the next
 * kern_pool_run left, prefetches [addr, addr + len), stopping as soon as
 * another run starts: the start of what it streams in the run after that,
 * so the time the driving thread spends between runs is not lost to the
 * memory system. A hint holds for one run; a no-op without workers. */
void kern_pool_hint_next(kern_pool *p, size_t thread, const void *addr, size_t len);
/* The engine's hint per worker (forward.c's hint_next): about what one
 * thread streams while the driving thread does the serial steps between
 * two runs. */
#define KERN_POOL_HINT_BYTES ((size_t)128 << 10)
/* Index of the calling thread in the pool whose task it runs (0: the
 * driving thread, or no pool). */
size_t kern_pool_self(void);
/* Diagnostics (built with -DARIA_POOL_STATS=ON, else a no-op that costs
 * nothing): the runs that follow belong to `site` (a string that outlives
 * the pool) until the next call. Per site the driving thread counts runs,
 * its time since the previous run returned (the serial steps before the
 * run), its own share, and its wait for the other threads; kern_pool_free
 * prints the table to stderr when the environment has ARIA_POOL_STATS. */
#ifdef ARIA_POOL_STATS
void kern_pool_site(kern_pool *p, const char *site);
#else
static inline void
kern_pool_site(kern_pool *p, const char *site)
{
    (void)p;
    (void)site;
}
#endif

/* Zero-filled, 64-byte aligned storage, from 2 MiB up on 2 MiB pages where
 * the kernel allows, as the weights are (for the KV cache: attention streams
 * every head's rows each token, and on 4 KiB pages each of its writes and
 * every 4 KiB of its reads took a TLB miss). NULL when out of memory; pass
 * *raw and *len to kern_big_free. */
void *kern_big_alloc(size_t n, void **raw, size_t *len);
void kern_big_free(void *raw, size_t len);
/* Run fn for tasks 0..n_tasks-1 and return when all are done. The caller
 * takes part. p == NULL runs every task inline. Not reentrant: one run at a
 * time per pool, from one thread. */
void kern_pool_run(kern_pool *p, kern_task_fn fn, void *ctx, size_t n_tasks);

/* ------------------------------------------------------------------ */
/* Whole-matrix helpers on a pool (pool may be NULL), selected ISA.     */
/* Rows are split into tasks of whole tiles; each output row is computed */
/* whole by one kernel call, so results do not depend on the split or   */
/* on the thread count.                                                  */
/* ------------------------------------------------------------------ */

/* Quantize n_tok rows of x (row t at x + t * x_stride floats) into a
 * (a->n_tok and a->cols must already be set). */
void kern_quant_acts(kern_pool *p, const float *x, size_t x_stride, kern_acts *a);
/* out[r] for all rows, token 0. */
void kern_tmat_matvec(kern_pool *p, const kern_tmat *m, const kern_acts *a, float *out);
/* out[t * out_stride + r] for all tokens of a and all rows. */
void kern_tmat_matmul(kern_pool *p, const kern_tmat *m, const kern_acts *a, float *out,
                      size_t out_stride);
/* Several matrices that read the same activations (q/k/v, gate/up) in ONE
 * pool run: out[i][t * out_stride + r] for matrix i (n_mats 1..8, every
 * matrix's cols == a->cols). With one token it uses the matvec kernel and
 * out_stride is unused. Fewer pool runs per token = fewer thread
 * synchronisations in decode. */
void kern_tmat_matmul_n(kern_pool *p, const kern_tmat *const *m, size_t n_mats, const kern_acts *a,
                        float *const *out, size_t out_stride);
void kern_fmat_matvec(kern_pool *p, const kern_fmat *m, const float *x, float *out);
void kern_i8mat_matvec(kern_pool *p, const kern_i8mat *m, const kern_acts *a, float *out);
/* Where pool thread t starts streaming in a one-token run of these
 * matrices (the range it owns), and *len, the bytes of that range inside
 * its first matrix: what kern_pool_hint_next can fetch ahead. NULL (and
 * *len 0) when t owns no range. */
const void *kern_tmat_range_start(kern_pool *p, const kern_tmat *const *m, size_t n, size_t t,
                                  size_t *len);
const void *kern_i8mat_range_start(kern_pool *p, const kern_i8mat *m, size_t t, size_t *len);

/* ------------------------------------------------------------------ */
/* Internals shared by ops*.c (not for callers)                         */
/* ------------------------------------------------------------------ */

/* Code (0..2) of (r, c) in the tmat layout, and its byte address/shift. */
static inline uint8_t *
ops_tmat_byte(const kern_tmat *m, size_t r, size_t c, unsigned *shift)
{
    size_t tile = r / KERN_TROWS, l = r % KERN_TROWS;
    size_t k = c / 16, j = (c % 16) / 4, b = c % 4;
    *shift = (unsigned)(2 * j);
    return m->data + tile * (m->cols_p * 4) + k * 64 + 4 * l + b;
}

static inline unsigned
ops_tmat_code(const kern_tmat *m, size_t r, size_t c)
{
    unsigned sh;
    const uint8_t *p = ops_tmat_byte(m, r, c, &sh);
    return (*p >> sh) & 3u;
}

static inline void
ops_tmat_put(kern_tmat *m, size_t r, size_t c, unsigned code)
{
    unsigned sh;
    uint8_t *p = ops_tmat_byte(m, r, c, &sh);
    *p = (uint8_t)((*p & ~(3u << sh)) | (code << sh));
}

/* max |x[i]| (0 for n == 0). */
float ops_absmax_ref(const float *x, size_t n);
/* Quantize n values with a given absmax (> 0 or 0) by the activation rule;
 * returns the sum of the q written. */
int32_t ops_quant_with_amax_ref(const float *x, size_t n, float amax, int8_t *q);
/* Row r of a float matrix converted exactly to float32. */
void ops_fmat_row_to_f32(const kern_fmat *m, size_t r, float *dst);
/* IEEE half -> float, exact. */
float ops_fp16_to_f32(uint16_t h);

#endif
