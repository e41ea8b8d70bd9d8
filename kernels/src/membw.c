/*
 * membw.c — memory read bandwidth measured with the engine's pool
 * (kern_perf.h), and the name of the kernel table in use.
 *
 * The reader is the best streaming read we know (aligned 256-bit loads
 * XORed together, 2 MiB pages), so a decode speed reported as a fraction of
 * it is not flattered by a slow reference. Each repetition reads the buffer
 * three times: with the hardware prefetchers alone, with a software
 * prefetch of every line 16 KiB ahead, and with the decode kernels' page
 * kick (kern_kick, one prefetch per 4 KiB page); the reader with the best
 * median counts. On this Zen 5 host (25 Nov 2026) one thread read 33.0 GB/s
 * with the hardware alone against 27.0 with the every-line prefetch, two
 * threads 35.3-36.2 against 36.5-37.7 in a slow minute and more with the
 * hardware alone in fast ones; the page kick, added when the kernels took
 * it up, read 20-30 % more than the hardware alone in fast minutes (tenth
 * round of docs/performance.md). A fourth reader (AVX-512F) kicks the
 * pages the same way with 64-byte loads, 256 bytes per step, as the int8
 * head kernel reads: in fast minutes it read up to 4 % more than the AVX2
 * kick reader in 3 of 4 passes, in slow ones the same (eleventh round). Any
 * one reader alone would under-read the machine some of the time, and so
 * flatter the roofline fraction; so would a reader slower than our own
 * kernels.
 */
#define _DEFAULT_SOURCE /* madvise, MAP_ANONYMOUS */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "kern_perf.h"
#include "ops.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

const char *
kern_kernels_path(void)
{
    return kern_ops_get()->name;
}

/* the readers, in the order of kern_membw.reader_gbs */
enum { BW_HW, BW_PF, BW_KICK, BW_KICK512 };

typedef struct bw_ctx {
    const uint8_t *buf;
    size_t bytes;
    bool avx2, avx512;
    int rd; /* this pass's reader: BW_HW, BW_PF, BW_KICK or BW_KICK512 */
    uint64_t sink[256];
} bw_ctx;

#if defined(__x86_64__)
__attribute__((target("avx2"), always_inline)) static inline uint64_t
read_avx2_pf(const uint8_t *p, size_t n, int rd)
{
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        if (rd == BW_PF) {
            _mm_prefetch((const char *)p + i + 16384, _MM_HINT_T0);
            _mm_prefetch((const char *)p + i + 16384 + 64, _MM_HINT_T0);
        } else if (rd == BW_KICK) {
            kern_kick(p + i, 128);
        }
        a = _mm256_xor_si256(a, _mm256_load_si256((const __m256i *)(p + i)));
        b = _mm256_xor_si256(b, _mm256_load_si256((const __m256i *)(p + i + 32)));
        c = _mm256_xor_si256(c, _mm256_load_si256((const __m256i *)(p + i + 64)));
        d = _mm256_xor_si256(d, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
    return (uint64_t)_mm256_extract_epi64(a, 0) ^ (uint64_t)_mm256_extract_epi64(a, 3);
}

/* BW_KICK512: 64-byte loads, 256 bytes per step, the page kick. */
__attribute__((target("avx512f"))) static uint64_t
read_avx512_kick(const uint8_t *p, size_t n)
{
    __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
    for (size_t i = 0; i + 256 <= n; i += 256) {
        kern_kick(p + i, 256);
        a = _mm512_xor_si512(a, _mm512_load_si512((const void *)(p + i)));
        b = _mm512_xor_si512(b, _mm512_load_si512((const void *)(p + i + 64)));
        c = _mm512_xor_si512(c, _mm512_load_si512((const void *)(p + i + 128)));
        d = _mm512_xor_si512(d, _mm512_load_si512((const void *)(p + i + 192)));
    }
    a = _mm512_xor_si512(_mm512_xor_si512(a, b), _mm512_xor_si512(c, d));
    uint64_t v = (uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(a));
    _mm256_zeroupper();
    return v;
}

__attribute__((target("avx2"))) static uint64_t
read_avx2(const uint8_t *p, size_t n, int rd)
{
    switch (rd) {
    case BW_PF: return read_avx2_pf(p, n, BW_PF);
    case BW_KICK: return read_avx2_pf(p, n, BW_KICK);
    default: return read_avx2_pf(p, n, BW_HW);
    }
}
#endif

static uint64_t
read_plain(const uint8_t *p, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        s ^= v;
    }
    return s;
}

/* Task i of n reads the i-th slice (whole 256-byte blocks). */
static void
bw_task(void *vctx, size_t task, size_t n_tasks)
{
    bw_ctx *c = vctx;
    size_t per = c->bytes / n_tasks / 256 * 256;
    const uint8_t *p = c->buf + task * per;
    uint64_t v;
#if defined(__x86_64__)
    if (c->rd == BW_KICK512)
        v = read_avx512_kick(p, per);
    else
        v = c->avx2 ? read_avx2(p, per, c->rd) : read_plain(p, per);
#else
    v = read_plain(p, per);
#endif
    c->sink[task % 256] ^= v;
}

struct kern_membw_meter {
    int n_threads;
    size_t bytes;
    void *raw;
    size_t raw_len;
    kern_pool *pool;
    bw_ctx c;
    bool warm;
};

int
kern_membw_meter_new(int n_threads, size_t bytes, kern_membw_meter **out)
{
    *out = NULL;
    if (n_threads < 1 || n_threads > 256)
        return aria_errf(ARIA_EINVAL, "membw: %d threads (1..256)", n_threads);
    if (bytes < ((size_t)1 << 20) || bytes > ((size_t)1 << 40))
        return aria_errf(ARIA_EINVAL, "membw: buffer of %zu bytes (1 MiB..1 TiB)", bytes);
    kern_membw_meter *m = aria_calloc(1, sizeof *m);
    if (!m)
        return aria_errf(ARIA_ENOMEM, "membw: out of memory");
    size_t huge = (size_t)2 << 20;
    m->n_threads = n_threads;
    m->bytes = bytes;
    m->raw_len = bytes + huge;
    m->raw = mmap(NULL, m->raw_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m->raw == MAP_FAILED) {
        m->raw = NULL;
        kern_membw_meter_free(m);
        return aria_errf(ARIA_ENOMEM, "membw: cannot map %zu bytes", bytes + huge);
    }
    uint8_t *buf = (uint8_t *)(((uintptr_t)m->raw + huge - 1) & ~(uintptr_t)(huge - 1));
    (void)madvise(buf, bytes, MADV_HUGEPAGE); /* advisory */
    memset(buf, 1, bytes);                    /* real pages, not the zero page */
    int rc;
    if (n_threads > 1 && (rc = kern_pool_new(n_threads, &m->pool)) < 0) {
        kern_membw_meter_free(m);
        return rc;
    }
    m->c = (bw_ctx){.buf = buf,
                    .bytes = bytes,
                    .avx2 = kern_cpu_get()->avx2,
                    .avx512 = kern_cpu_get()->avx2 && kern_cpu_get()->avx512f};
    *out = m;
    return 0;
}

void
kern_membw_meter_free(kern_membw_meter *m)
{
    if (!m)
        return;
    kern_pool_free(m->pool);
    if (m->raw)
        munmap(m->raw, m->raw_len);
    aria_free(m);
}

int
kern_membw_meter_run(kern_membw_meter *m, int reps, kern_membw *out)
{
    memset(out, 0, sizeof *out);
    if (reps < 1 || reps > 1000)
        return aria_errf(ARIA_EINVAL, "membw: %d reps (1..1000)", reps);
    /* the readers (see the top of the file): reader r's times at t[r * reps] */
    int n_rd = m->c.avx512 ? KERN_MEMBW_READERS : m->c.avx2 ? KERN_MEMBW_READERS - 1 : 1;
    double *t = aria_alloc_array((size_t)(n_rd * reps), sizeof(double));
    double *tc = aria_alloc_array((size_t)(n_rd * reps), sizeof(double));
    if (!t || !tc) {
        aria_free(t);
        aria_free(tc);
        return aria_errf(ARIA_ENOMEM, "membw: out of memory");
    }
    /* 16 tasks per thread: a descheduled thread's share is taken by the others */
    size_t n_tasks = 16 * (size_t)m->n_threads;
    if (!m->warm) {
        kern_pool_run(m->pool, bw_task, &m->c, n_tasks); /* warm-up */
        m->warm = true;
    }
    double best = 0;
    for (int i = 0; i < reps; i++)
        for (int r = 0; r < n_rd; r++) { /* interleaved: all see the same minutes */
            m->c.rd = r;
            double t0 = aria_clock_s(CLOCK_MONOTONIC), c0 = aria_clock_s(CLOCK_PROCESS_CPUTIME_ID);
            kern_pool_run(m->pool, bw_task, &m->c, n_tasks);
            double dt = aria_clock_s(CLOCK_MONOTONIC) - t0;
            t[r * reps + i] = dt;
            tc[r * reps + i] = (aria_clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) / m->n_threads;
            if (dt > 0 && (double)m->bytes / dt > best)
                best = (double)m->bytes / dt;
        }
    /* the reader with the shorter median time counts (a median per reader,
     * not the faster of each pair, which would favour the noise) */
    size_t read = m->bytes / n_tasks / 256 * 256 * n_tasks;
    int k = 0;
    for (int r = 0; r < n_rd; r++) {
        out->reader_gbs[r] = (double)read / aria_median(t + r * reps, (size_t)reps) / 1e9;
        if (out->reader_gbs[r] > out->reader_gbs[k])
            k = r;
    }
    out->n_readers = n_rd;
    out->gbs = out->reader_gbs[k];
    out->cpu_gbs = (double)read / aria_median(tc + k * reps, (size_t)reps) / 1e9;
    out->best_gbs = best * ((double)read / (double)m->bytes) / 1e9;
    aria_free(t);
    aria_free(tc);
    return 0;
}

int
kern_membw_measure(int n_threads, size_t bytes, int reps, kern_membw *out)
{
    memset(out, 0, sizeof *out);
    if (reps < 1 || reps > 1000)
        return aria_errf(ARIA_EINVAL, "membw: %d reps (1..1000)", reps);
    kern_membw_meter *m = NULL;
    int rc = kern_membw_meter_new(n_threads, bytes, &m);
    if (rc == 0)
        rc = kern_membw_meter_run(m, reps, out);
    kern_membw_meter_free(m);
    return rc;
}
