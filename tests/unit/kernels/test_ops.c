/*
 * test_ops.c — the compute kernels: every ISA variant (called directly
 * through kern_ops_for, not only through ARIA_ISA) against the scalar
 * reference, bit for bit, at edge sizes and unaligned pointers; the scalar
 * reference against independent naive arithmetic; layout exhaustively on a
 * tile; the thread pool; thread-count independence.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "kern_perf.h"
#include "ops.h"

/* Assert only on failure: ctest runs Criterion with --full-stats, which
 * reports every passing assertion to the runner and makes loops of millions
 * of checks crawl. */
#define CK_FIRST(x, ...) x
#define CK_EQ(a, ...)                                                                              \
    do {                                                                                           \
        if (!((a) == (CK_FIRST(__VA_ARGS__, 0))))                                                  \
            cr_assert_eq(a, __VA_ARGS__);                                                          \
    } while (0)
#define CK(...)                                                                                    \
    do {                                                                                           \
        if (!(CK_FIRST(__VA_ARGS__, 0)))                                                           \
            cr_assert(__VA_ARGS__);                                                                \
    } while (0)

/* ------------------------------------------------------------------ */
/* helpers                                                              */
/* ------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float
rndf(void) /* in [-1, 1) */
{
    return (float)((double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static const kern_ops *
isa_ops(int i)
{
    return kern_ops_for((kern_isa)i);
}

#define FOR_EACH_ISA(o)                                                                            \
    for (int isa_i_ = 0; isa_i_ < 3; isa_i_++)                                                     \
        for (const kern_ops *o = isa_ops(isa_i_); o; o = NULL)

/* Activation storage with a deliberately unaligned q (offset 1 byte). */
typedef struct acts_buf {
    kern_acts a;
    int8_t *mem;
    float *scale;
    int32_t *sum;
} acts_buf;

static void
acts_alloc(acts_buf *b, size_t n_tok, size_t cols, size_t misalign)
{
    size_t stride = kern_act_padded(cols) + KERN_TCOLS;
    b->mem = aria_calloc(n_tok * stride + misalign + 1, 1);
    b->scale = aria_calloc(n_tok + 1, sizeof(float));
    b->sum = aria_calloc(n_tok + 1, sizeof(int32_t));
    CK(b->mem && b->scale && b->sum);
    b->a = (kern_acts){.n_tok = n_tok,
                       .cols = cols,
                       .stride = stride,
                       .q = b->mem + misalign,
                       .scale = b->scale,
                       .sum = b->sum};
}

static void
acts_free(acts_buf *b)
{
    aria_free(b->mem);
    aria_free(b->scale);
    aria_free(b->sum);
}

static void
fill_acts_random(acts_buf *b)
{
    for (size_t t = 0; t < b->a.n_tok; t++) {
        int8_t *q = b->a.q + t * b->a.stride;
        int32_t s = 0;
        for (size_t c = 0; c < b->a.cols; c++) {
            q[c] = (int8_t)((int)(rnd() % 255) - 127);
            s += q[c];
        }
        memset(q + b->a.cols, 0, kern_act_padded(b->a.cols) - b->a.cols);
        b->a.sum[t] = s;
        b->a.scale[t] = 0.001f + (float)(rnd() % 1000) / 997.0f;
    }
}

static int8_t *
random_codes(size_t n, int density)
{
    int8_t *t = aria_alloc(n ? n : 1);
    CK(t);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd() % 100;
        t[i] = r < (uint64_t)density ? (int8_t)((rnd() & 1) ? 1 : -1) : 0;
    }
    return t;
}

static void
assert_same_floats(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t x, y;
        memcpy(&x, &a[i], 4);
        memcpy(&y, &b[i], 4);
        CK_EQ(x, y, "%s: element %zu: %.9g (0x%08x) vs %.9g (0x%08x)", what, i, a[i], x, b[i], y);
    }
}

/* ------------------------------------------------------------------ */
/* quantization                                                         */
/* ------------------------------------------------------------------ */

Test(ops, dispatch_table_matches_selected_isa)
{
    const kern_ops *o = kern_ops_get();
    cr_assert_not_null(o);
    cr_assert_leq((int)o->isa, (int)kern_isa_selected());
    cr_assert_not_null(kern_ops_for(KERN_ISA_SCALAR));
    CK_EQ(kern_ops_for(KERN_ISA_SCALAR), &kern_ops_ref);
}

Test(ops, quantization_rounds_ties_away_from_zero)
{
    /* amax = 127 makes the multiplier exactly 1, so x are the v values. */
    float x[] = {127.0f,       0.5f,   -0.5f,   1.5f, -1.5f, 2.5f, -2.5f,  0.49999997f,
                 -0.49999997f, 126.5f, -126.5f, 0.0f, -0.0f, 3.0f, 1e-30f, -127.0f};
    int8_t want[] = {127, 1, -1, 2, -2, 3, -3, 0, 0, 127, -127, 0, 0, 3, 0, -127};
    size_t n = sizeof x / sizeof x[0];
    FOR_EACH_ISA(o)
    {
        acts_buf b;
        acts_alloc(&b, 1, n, 3);
        memset(b.a.q, 0x5a, b.a.stride);
        o->quant_act(x, &b.a, 0);
        int32_t s = 0;
        for (size_t i = 0; i < n; i++) {
            CK_EQ(b.a.q[i], want[i], "%s: x=%.9g gave %d want %d", o->name, x[i], b.a.q[i],
                  want[i]);
            s += want[i];
        }
        for (size_t i = n; i < kern_act_padded(n); i++)
            CK_EQ(b.a.q[i], 0, "%s: padding not zeroed", o->name);
        CK_EQ(b.a.sum[0], s);
        CK_EQ(b.a.scale[0], 1.0f);
        acts_free(&b);
    }
}

Test(ops, quantization_of_zero_row_gives_zero_scale)
{
    float x[70] = {0};
    FOR_EACH_ISA(o)
    {
        for (size_t n = 0; n <= 70; n += 35) {
            acts_buf b;
            acts_alloc(&b, 1, n, 1);
            memset(b.a.q, 0x11, b.a.stride);
            b.a.scale[0] = 9.0f;
            b.a.sum[0] = 9;
            o->quant_act(x, &b.a, 0);
            CK_EQ(b.a.scale[0], 0.0f);
            CK_EQ(b.a.sum[0], 0);
            for (size_t i = 0; i < kern_act_padded(n); i++)
                CK_EQ(b.a.q[i], 0);
            acts_free(&b);
        }
    }
}

Test(ops, quantization_matches_reference_on_every_isa_and_size)
{
    size_t sizes[] = {1, 2, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 1536, 2560, 4097};
    for (size_t si = 0; si < ARIA_ARRAY_LEN(sizes); si++) {
        size_t n = sizes[si];
        float *x = aria_alloc_array(n + 1, sizeof(float));
        for (int rep = 0; rep < 4; rep++) {
            float mag = rep == 0 ? 1.0f : rep == 1 ? 1e-20f : rep == 2 ? 3e4f : 0.37f;
            for (size_t i = 0; i < n + 1; i++)
                x[i] = rndf() * mag;
            if (rep == 3) /* many exact ties: amax 127, halves */
                for (size_t i = 0; i < n + 1; i++)
                    x[i] = (float)((int)(rnd() % 255) - 127) + ((rnd() & 1) ? 0.5f : 0.0f);
            const float *xs = x + (si & 1); /* unaligned input half the time */
            acts_buf ref;
            acts_alloc(&ref, 2, n, 0);
            kern_ops_ref.quant_act(xs, &ref.a, 1);
            /* the reference against the written rule, computed naively */
            float amax = 0;
            for (size_t i = 0; i < n; i++)
                amax = fmaxf(amax, fabsf(xs[i]));
            float mul = 127.0f / amax;
            int32_t s = 0;
            for (size_t i = 0; i < n; i++) {
                float v = roundf(xs[i] * mul);
                int want = (int)fminf(127.0f, fmaxf(-127.0f, v));
                CK_EQ(ref.a.q[ref.a.stride + i], want);
                s += want;
            }
            CK_EQ(ref.a.sum[1], s);
            CK_EQ(ref.a.scale[1], amax / 127.0f);
            FOR_EACH_ISA(o)
            {
                acts_buf b;
                acts_alloc(&b, 2, n, 1 + si % 7);
                memset(b.a.q, 0x33, 2 * b.a.stride);
                o->quant_act(xs, &b.a, 1);
                CK_EQ(memcmp(b.a.q + b.a.stride, ref.a.q + ref.a.stride, kern_act_padded(n)), 0,
                      "%s: q differs at n=%zu rep=%d", o->name, n, rep);
                CK_EQ(b.a.sum[1], ref.a.sum[1], "%s n=%zu", o->name, n);
                assert_same_floats(&b.a.scale[1], &ref.a.scale[1], 1, o->name);
                /* token 0 untouched */
                for (size_t i = 0; i < b.a.stride; i++)
                    CK_EQ(b.a.q[i], 0x33);
                acts_free(&b);
            }
            acts_free(&ref);
        }
        aria_free(x);
    }
}

/* ------------------------------------------------------------------ */
/* ternary                                                              */
/* ------------------------------------------------------------------ */

Test(ops, ternary_matrix_rejects_bad_shapes_and_values)
{
    kern_tmat m;
    CK_EQ(kern_tmat_init(&m, 0, 5), ARIA_EINVAL);
    CK_EQ(kern_tmat_init(&m, 5, 0), ARIA_EINVAL);
    int8_t bad[4] = {0, 1, 2, -1};
    CK_EQ(kern_tmat_from_codes(&m, bad, 2, 2, 1.0f), ARIA_EINVAL);
    CK(strstr(aria_err_msg(), "row 1 col 0") != NULL, "%s", aria_err_msg());
}

Test(ops, ternary_matrix_round_trips_every_value)
{
    /* the last shape is above 4 MiB: the huge-page mmap path */
    size_t shapes[][2] = {{1, 1}, {16, 64}, {17, 65}, {33, 130}, {5, 300}, {4100, 4096}};
    for (size_t s = 0; s < ARIA_ARRAY_LEN(shapes); s++) {
        size_t rows = shapes[s][0], cols = shapes[s][1];
        int8_t *t = random_codes(rows * cols, 70);
        kern_tmat m;
        CK_EQ(kern_tmat_from_codes(&m, t, rows, cols, 0.5f), 0);
        CK_EQ(((uintptr_t)m.data) % 64, 0);
        CK_EQ(kern_tmat_bytes(&m), m.rows_p * m.cols_p / 4);
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++)
                CK_EQ(kern_tmat_get(&m, r, c), t[r * cols + c]);
        kern_tmat_fini(&m);
        aria_free(t);
    }
}

/* Every weight position of a 16x64 tile, both signs, on every ISA: the
 * output is exactly +-q[c] on row r and 0 elsewhere (pins the layout). */
Test(ops, ternary_layout_is_exact_for_every_position_of_a_tile)
{
    const size_t rows = 16, cols = 64;
    acts_buf b;
    acts_alloc(&b, 1, cols, 0);
    for (size_t c = 0; c < cols; c++)
        b.a.q[c] = (int8_t)(c + 1);
    b.a.sum[0] = (int32_t)(cols * (cols + 1) / 2);
    b.a.scale[0] = 1.0f;
    int8_t *t = aria_calloc(rows * cols, 1);
    float out[16];
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            for (int sg = -1; sg <= 1; sg += 2) {
                memset(t, 0, rows * cols);
                t[r * cols + c] = (int8_t)sg;
                kern_tmat m;
                CK_EQ(kern_tmat_from_codes(&m, t, rows, cols, 1.0f), 0);
                FOR_EACH_ISA(o)
                {
                    o->tmat_matvec(&m, &b.a, out, 0, rows);
                    for (size_t i = 0; i < rows; i++)
                        CK_EQ(out[i], i == r ? (float)(sg * (int)(c + 1)) : 0.0f,
                              "%s: r=%zu c=%zu sign=%d row %zu gave %g", o->name, r, c, sg, i,
                              out[i]);
                }
                kern_tmat_fini(&m);
            }
    aria_free(t);
    acts_free(&b);
}

static void
naive_tmat(const int8_t *t, size_t rows, size_t cols, float wscale, const kern_acts *a, size_t tok,
           float *out)
{
    const int8_t *q = a->q + tok * a->stride;
    for (size_t r = 0; r < rows; r++) {
        int64_t s = 0;
        for (size_t c = 0; c < cols; c++)
            s += t[r * cols + c] * q[c];
        out[r] = (float)(int32_t)s * (a->scale[tok] * wscale);
    }
}

Test(ops, ternary_matvec_matches_reference_on_every_isa_and_shape)
{
    size_t rows_l[] = {1, 15, 16, 17, 32, 33, 48, 100};
    size_t cols_l[] = {1, 2, 63, 64, 65, 128, 130, 1536, 4160, 6912};
    for (size_t ri = 0; ri < ARIA_ARRAY_LEN(rows_l); ri++)
        for (size_t ci = 0; ci < ARIA_ARRAY_LEN(cols_l); ci++) {
            size_t rows = rows_l[ri], cols = cols_l[ci];
            int8_t *t = random_codes(rows * cols, (int)(10 + 20 * ci % 90));
            kern_tmat m;
            CK_EQ(kern_tmat_from_codes(&m, t, rows, cols, 0.75f), 0);
            acts_buf b;
            acts_alloc(&b, 1, cols, ri % 3);
            fill_acts_random(&b);
            float *want = aria_alloc_array(rows, sizeof(float));
            float *ref = aria_alloc_array(rows, sizeof(float));
            float *got = aria_alloc_array(rows + 1, sizeof(float));
            naive_tmat(t, rows, cols, 0.75f, &b.a, 0, want);
            kern_ops_ref.tmat_matvec(&m, &b.a, ref, 0, rows);
            assert_same_floats(ref, want, rows, "scalar vs naive");
            FOR_EACH_ISA(o)
            {
                memset(got, 0xff, (rows + 1) * sizeof(float));
                o->tmat_matvec(&m, &b.a, got + 1, 0, rows); /* unaligned out */
                assert_same_floats(got + 1, ref, rows, o->name);
                if (rows > 16) { /* a sub-range starting at a tile boundary */
                    memset(got, 0xff, (rows + 1) * sizeof(float));
                    o->tmat_matvec(&m, &b.a, got, 16, rows);
                    assert_same_floats(got, ref + 16, rows - 16, o->name);
                    uint32_t canary;
                    memcpy(&canary, &got[rows - 16], 4);
                    CK_EQ(canary, 0xffffffffu, "%s wrote past the range", o->name);
                }
            }
            aria_free(want);
            aria_free(ref);
            aria_free(got);
            acts_free(&b);
            kern_tmat_fini(&m);
            aria_free(t);
        }
}

/* All weights +1 or -1 and all activations +-127: over 4160 columns the
 * largest sums the int16 staging of the AVX2 kernel must hold, over
 * KERN_TMAT_MAX_COLS the largest the AVX-512 decode's scaled code fields
 * (64 x the top field's sum) must hold in int32. */
static void
check_extreme_matvec(size_t cols)
{
    size_t rows = 20;
    int8_t *t = aria_alloc(rows * cols);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            t[r * cols + c] = (int8_t)(r % 2 ? -1 : 1);
    kern_tmat m;
    CK_EQ(kern_tmat_from_codes(&m, t, rows, cols, 1.0f), 0);
    for (int sg = -1; sg <= 1; sg += 2) {
        acts_buf b;
        acts_alloc(&b, 1, cols, 0);
        for (size_t c = 0; c < cols; c++)
            b.a.q[c] = (int8_t)(127 * sg);
        b.a.sum[0] = (int32_t)(127 * sg * (int)cols);
        b.a.scale[0] = 1.0f;
        float out[20];
        FOR_EACH_ISA(o)
        {
            o->tmat_matvec(&m, &b.a, out, 0, rows);
            for (size_t r = 0; r < rows; r++)
                CK_EQ(out[r], (float)((r % 2 ? -1 : 1) * sg * 127 * (int)cols), "%s row %zu",
                      o->name, r);
        }
        acts_free(&b);
    }
    kern_tmat_fini(&m);
    aria_free(t);
}

Test(ops, ternary_matvec_is_exact_at_extreme_values)
{
    check_extreme_matvec(4160);
    check_extreme_matvec(KERN_TMAT_MAX_COLS);
    kern_tmat m;
    CK_EQ(kern_tmat_init(&m, 16, KERN_TMAT_MAX_COLS + 1), ARIA_EINVAL);
    CK(strstr(aria_err_msg(), "at most 524288 columns") != NULL, "%s", aria_err_msg());
}

Test(ops, ternary_matmul_matches_matvec_per_token_on_every_isa)
{
    size_t ntoks[] = {1, 3, 4, 5, 8, 9, 17};
    size_t shapes[][2] = {{33, 130}, {64, 256}, {17, 64}};
    for (size_t s = 0; s < ARIA_ARRAY_LEN(shapes); s++)
        for (size_t ni = 0; ni < ARIA_ARRAY_LEN(ntoks); ni++) {
            size_t rows = shapes[s][0], cols = shapes[s][1], nt = ntoks[ni];
            int8_t *t = random_codes(rows * cols, 60);
            kern_tmat m;
            CK_EQ(kern_tmat_from_codes(&m, t, rows, cols, 1.25f), 0);
            acts_buf b;
            acts_alloc(&b, nt, cols, ni % 2);
            fill_acts_random(&b);
            size_t ost = rows + 3;
            float *want = aria_calloc(nt * ost, sizeof(float));
            float *got = aria_calloc(nt * ost, sizeof(float));
            for (size_t k = 0; k < nt; k++)
                naive_tmat(t, rows, cols, 1.25f, &b.a, k, want + k * ost);
            FOR_EACH_ISA(o)
            {
                memset(got, 0, nt * ost * sizeof(float));
                o->tmat_matmul(&m, &b.a, got, ost, 0, rows);
                for (size_t k = 0; k < nt; k++)
                    assert_same_floats(got + k * ost, want + k * ost, rows, o->name);
                if (rows > 16) {
                    memset(got, 0, nt * ost * sizeof(float));
                    o->tmat_matmul(&m, &b.a, got, ost, 16, rows);
                    for (size_t k = 0; k < nt; k++)
                        assert_same_floats(got + k * ost, want + k * ost + 16, rows - 16, o->name);
                }
            }
            aria_free(want);
            aria_free(got);
            acts_free(&b);
            kern_tmat_fini(&m);
            aria_free(t);
        }
}

Test(ops, ternary_row_scales_apply_per_row)
{
    size_t rows = 40, cols = 96;
    kern_tmat m;
    CK_EQ(kern_tmat_init(&m, rows, cols), 0);
    int8_t *t = random_codes(rows * cols, 50);
    for (size_t r = 0; r < rows; r++)
        kern_tmat_set_row(&m, r, t + r * cols, 0.1f * (float)(r + 1));
    acts_buf b;
    acts_alloc(&b, 1, cols, 0);
    fill_acts_random(&b);
    float ref[40], got[40];
    kern_ops_ref.tmat_matvec(&m, &b.a, ref, 0, rows);
    for (size_t r = 0; r < rows; r++) {
        int32_t s = 0;
        for (size_t c = 0; c < cols; c++)
            s += t[r * cols + c] * b.a.q[c];
        CK_EQ(ref[r], (float)s * (b.a.scale[0] * (0.1f * (float)(r + 1))));
    }
    FOR_EACH_ISA(o)
    {
        o->tmat_matvec(&m, &b.a, got, 0, rows);
        assert_same_floats(got, ref, rows, o->name);
    }
    acts_free(&b);
    kern_tmat_fini(&m);
    aria_free(t);
}

/* ------------------------------------------------------------------ */
/* float matvec                                                         */
/* ------------------------------------------------------------------ */

static uint16_t
f32_to_f16_trunc(float f) /* any half will do: tests only need valid halves */
{
    uint32_t b;
    memcpy(&b, &f, 4);
    uint32_t sign = (b >> 16) & 0x8000u;
    int e = (int)((b >> 23) & 0xff) - 127 + 15;
    if (e <= 0)
        return (uint16_t)sign;
    if (e >= 31)
        return (uint16_t)(sign | 0x7bffu);
    return (uint16_t)(sign | ((uint32_t)e << 10) | ((b >> 13) & 0x3ffu));
}

static void *
make_fmat_data(kern_ftype type, size_t rows, size_t cols, size_t *row_bytes)
{
    size_t rb = type == KERN_FT_F32 ? cols * 4 : type == KERN_FT_Q8_0 ? cols / 32 * 34 : cols * 2;
    *row_bytes = rb;
    uint8_t *d = aria_alloc(rows * rb + 1);
    CK(d);
    uint8_t *p = d + 1; /* unaligned on purpose */
    for (size_t r = 0; r < rows; r++) {
        uint8_t *row = p + r * rb;
        for (size_t c = 0; c < cols; c++) {
            float v = rndf() * ((c % 7) ? 1.0f : 100.0f);
            uint16_t h;
            switch (type) {
            case KERN_FT_F32: memcpy(row + 4 * c, &v, 4); break;
            case KERN_FT_F16:
                h = f32_to_f16_trunc(v);
                memcpy(row + 2 * c, &h, 2);
                break;
            case KERN_FT_BF16: {
                uint32_t b;
                memcpy(&b, &v, 4);
                h = (uint16_t)(b >> 16);
                memcpy(row + 2 * c, &h, 2);
                break;
            }
            case KERN_FT_Q8_0:
                if (c % 32 == 0) {
                    h = f32_to_f16_trunc(0.01f + 0.02f * (float)(rnd() % 50));
                    memcpy(row + (c / 32) * 34, &h, 2);
                }
                row[(c / 32) * 34 + 2 + c % 32] = (uint8_t)(int8_t)((int)(rnd() % 255) - 127);
                break;
            }
        }
    }
    return d;
}

Test(ops, float_matvec_is_bit_identical_on_every_isa)
{
    kern_ftype types[] = {KERN_FT_F32, KERN_FT_F16, KERN_FT_BF16, KERN_FT_Q8_0};
    size_t cols_l[] = {1, 7, 15, 16, 17, 31, 32, 33, 64, 100, 1000, 1536};
    size_t rows_l[] = {1, 2, 3, 4, 5, 7, 16, 21};
    for (size_t ti = 0; ti < ARIA_ARRAY_LEN(types); ti++)
        for (size_t ci = 0; ci < ARIA_ARRAY_LEN(cols_l); ci++)
            for (size_t ri = 0; ri < ARIA_ARRAY_LEN(rows_l); ri++) {
                size_t cols = cols_l[ci], rows = rows_l[ri];
                if (types[ti] == KERN_FT_Q8_0 && cols % 32)
                    continue;
                size_t rb;
                uint8_t *d = make_fmat_data(types[ti], rows, cols, &rb);
                kern_fmat m = {
                    .type = types[ti], .rows = rows, .cols = cols, .row_bytes = rb, .data = d + 1};
                float *x = aria_alloc_array(cols + 1, sizeof(float));
                for (size_t c = 0; c < cols + 1; c++)
                    x[c] = rndf();
                float ref[21], got[22], row[1536];
                kern_ops_ref.fmat_matvec(&m, x + 1, ref, 0, rows);
                /* sanity of the reference against a double dot product */
                for (size_t r = 0; r < rows; r++) {
                    ops_fmat_row_to_f32(&m, r, row);
                    double s = 0, mag = 0;
                    for (size_t c = 0; c < cols; c++) {
                        s += (double)row[c] * x[1 + c];
                        mag += fabs((double)row[c] * x[1 + c]);
                    }
                    CK(fabs(s - ref[r]) <= 1e-5 * mag + 1e-30, "ref far from exact: %g %g", s,
                       (double)ref[r]);
                }
                FOR_EACH_ISA(o)
                {
                    o->fmat_matvec(&m, x + 1, got + 1, 0, rows);
                    assert_same_floats(got + 1, ref, rows, o->name);
                    if (rows > 16) {
                        o->fmat_matvec(&m, x + 1, got, 16, rows);
                        assert_same_floats(got, ref + 16, rows - 16, o->name);
                    }
                }
                aria_free(x);
                aria_free(d);
            }
}

Test(ops, float_matvec_keeps_negative_zero_lanes_untouched)
{
    /* -0 * 1 in every lane: the scalar result is -0 + ... = -0 only if the
     * tail lanes are never touched; every ISA must agree. */
    for (size_t cols = 1; cols <= 40; cols++) {
        float w[40], x[40];
        for (size_t c = 0; c < cols; c++) {
            w[c] = -0.0f;
            x[c] = 1.0f;
        }
        kern_fmat m = {
            .type = KERN_FT_F32, .rows = 1, .cols = cols, .row_bytes = 4 * cols, .data = w};
        float ref, got;
        kern_ops_ref.fmat_matvec(&m, x, &ref, 0, 1);
        FOR_EACH_ISA(o)
        {
            o->fmat_matvec(&m, x, &got, 0, 1);
            assert_same_floats(&got, &ref, 1, o->name);
        }
    }
}

/* ------------------------------------------------------------------ */
/* int8 head                                                            */
/* ------------------------------------------------------------------ */

Test(ops, int8_head_matches_reference_and_naive_on_every_isa)
{
    size_t rows_l[] = {1, 16, 17, 50};
    size_t cols_l[] = {1, 63, 64, 65, 200, 1536};
    for (size_t ri = 0; ri < ARIA_ARRAY_LEN(rows_l); ri++)
        for (size_t ci = 0; ci < ARIA_ARRAY_LEN(cols_l); ci++) {
            size_t rows = rows_l[ri], cols = cols_l[ci];
            size_t rb;
            uint8_t *d = make_fmat_data(KERN_FT_F16, rows, cols, &rb);
            kern_fmat f = {
                .type = KERN_FT_F16, .rows = rows, .cols = cols, .row_bytes = rb, .data = d + 1};
            kern_i8mat m;
            CK_EQ(kern_i8mat_from_fmat(&m, &f), 0);
            CK_EQ(kern_i8mat_bytes(&m), m.rows_p * m.cols_p);
            /* rows quantized by the activation rule */
            float *row = aria_alloc_array(cols, sizeof(float));
            acts_buf rq;
            acts_alloc(&rq, 1, cols, 0);
            for (size_t r = 0; r < rows; r++) {
                ops_fmat_row_to_f32(&f, r, row);
                kern_ops_ref.quant_act(row, &rq.a, 0);
                int32_t s = 0;
                for (size_t c = 0; c < cols; c++) {
                    CK_EQ(kern_i8mat_get(&m, r, c), rq.a.q[c]);
                    s += rq.a.q[c];
                }
                CK_EQ(m.wsum[r], s);
                CK_EQ(m.wscale[r], rq.a.scale[0]);
            }
            acts_buf b;
            acts_alloc(&b, 1, cols, ci % 2);
            fill_acts_random(&b);
            float *ref = aria_alloc_array(rows, sizeof(float));
            float *got = aria_alloc_array(rows, sizeof(float));
            kern_ops_ref.i8mat_matvec(&m, &b.a, ref, 0, rows);
            for (size_t r = 0; r < rows; r++) {
                int32_t s = 0;
                for (size_t c = 0; c < cols; c++)
                    s += kern_i8mat_get(&m, r, c) * b.a.q[c];
                CK_EQ(ref[r], (float)s * (b.a.scale[0] * m.wscale[r]));
            }
            FOR_EACH_ISA(o)
            {
                o->i8mat_matvec(&m, &b.a, got, 0, rows);
                assert_same_floats(got, ref, rows, o->name);
                if (rows > 16) {
                    o->i8mat_matvec(&m, &b.a, got, 16, rows);
                    assert_same_floats(got, ref + 16, rows - 16, o->name);
                }
            }
            aria_free(ref);
            aria_free(got);
            aria_free(row);
            acts_free(&b);
            acts_free(&rq);
            kern_i8mat_fini(&m);
            aria_free(d);
        }
}

Test(ops, int8_head_is_exact_at_extreme_values)
{
    size_t rows = 32, cols = 4096;
    float *x = aria_alloc_array(cols, sizeof(float));
    kern_i8mat m;
    CK_EQ(kern_i8mat_init(&m, rows, cols), 0);
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++)
            x[c] = r % 2 ? -1.0f : 1.0f;
        kern_i8mat_set_row_f32(&m, r, x);
    }
    for (int sg = -1; sg <= 1; sg += 2) {
        acts_buf b;
        acts_alloc(&b, 1, cols, 0);
        for (size_t c = 0; c < cols; c++)
            b.a.q[c] = (int8_t)(127 * sg);
        b.a.scale[0] = 1.0f;
        float out[32];
        FOR_EACH_ISA(o)
        {
            o->i8mat_matvec(&m, &b.a, out, 0, rows);
            for (size_t r = 0; r < rows; r++) {
                int32_t s = (r % 2 ? -1 : 1) * sg * 127 * 127 * (int32_t)cols;
                CK_EQ(out[r], (float)s * (1.0f * m.wscale[r]), "%s row %zu", o->name, r);
            }
        }
        acts_free(&b);
    }
    kern_i8mat_fini(&m);
    aria_free(x);
}

/* ------------------------------------------------------------------ */
/* pool                                                                 */
/* ------------------------------------------------------------------ */

typedef struct count_ctx {
    _Atomic int *hits;
} count_ctx;

static void
count_task(void *vctx, size_t task, size_t n_tasks)
{
    count_ctx *c = vctx;
    (void)n_tasks;
    c->hits[task]++;
}

Test(ops, pool_runs_every_task_exactly_once)
{
    kern_pool *p = NULL;
    CK_EQ(kern_pool_new(0, &p), ARIA_EINVAL);
    CK_EQ(kern_pool_new(257, &p), ARIA_EINVAL);
    for (int nth = 1; nth <= 4; nth++) {
        CK_EQ(kern_pool_new(nth, &p), 0);
        CK_EQ(kern_pool_threads(p), nth);
        size_t counts[] = {0, 1, 2, 3, 7, 64, 1000};
        for (int rep = 0; rep < 300; rep++) {
            size_t n = counts[rep % ARIA_ARRAY_LEN(counts)];
            _Atomic int hits[1000];
            for (size_t i = 0; i < 1000; i++)
                hits[i] = 0;
            count_ctx c = {.hits = hits};
            kern_pool_run(p, count_task, &c, n);
            for (size_t i = 0; i < 1000; i++)
                CK_EQ(hits[i], i < n ? 1 : 0, "threads %d n %zu task %zu", nth, n, i);
        }
        kern_pool_free(p);
    }
    kern_pool_free(NULL);
    _Atomic int hits[5] = {0};
    count_ctx c = {.hits = hits};
    kern_pool_run(NULL, count_task, &c, 5);
    for (int i = 0; i < 5; i++)
        CK_EQ(hits[i], 1);
}

Test(ops, pool_workers_wake_after_sleeping)
{
    kern_pool *p;
    CK_EQ(kern_pool_new(3, &p), 0);
    for (int rep = 0; rep < 3; rep++) {
        struct timespec ts = {0, 3 * 1000 * 1000}; /* > the 1 ms spin */
        nanosleep(&ts, NULL);
        _Atomic int hits[50];
        for (int i = 0; i < 50; i++)
            hits[i] = 0;
        count_ctx c = {.hits = hits};
        kern_pool_run(p, count_task, &c, 50);
        for (int i = 0; i < 50; i++)
            CK_EQ(hits[i], 1);
    }
    kern_pool_free(p);
}

Test(ops, results_do_not_depend_on_thread_count)
{
    size_t rows = 1000, cols = 384, nt = 5;
    int8_t *t = random_codes(rows * cols, 66);
    kern_tmat m;
    CK_EQ(kern_tmat_from_codes(&m, t, rows, cols, 0.3f), 0);
    float *x = aria_alloc_array(nt * cols, sizeof(float));
    for (size_t i = 0; i < nt * cols; i++)
        x[i] = rndf();
    acts_buf b;
    acts_alloc(&b, nt, cols, 0);
    size_t rb;
    uint8_t *fd = make_fmat_data(KERN_FT_F16, rows, cols, &rb);
    kern_fmat f = {
        .type = KERN_FT_F16, .rows = rows, .cols = cols, .row_bytes = rb, .data = fd + 1};
    kern_i8mat h;
    CK_EQ(kern_i8mat_from_fmat(&h, &f), 0);
    float *base = aria_alloc_array(rows * (nt + 3), sizeof(float));
    float *got = aria_alloc_array(rows * (nt + 3), sizeof(float));
    for (int nth = 1; nth <= 3; nth++) {
        kern_pool *p;
        CK_EQ(kern_pool_new(nth, &p), 0);
        kern_quant_acts(p, x, cols, &b.a);
        float *o = nth == 1 ? base : got;
        kern_tmat_matmul(p, &m, &b.a, o, rows);
        kern_tmat_matvec(p, &m, &b.a, o + nt * rows);
        kern_fmat_matvec(p, &f, x, o + (nt + 1) * rows);
        kern_i8mat_matvec(p, &h, &b.a, o + (nt + 2) * rows);
        if (nth > 1)
            assert_same_floats(got, base, rows * (nt + 3), "threads");
        kern_pool_free(p);
    }
    /* matvec equals token 0 of matmul */
    assert_same_floats(base + nt * rows, base, rows, "matvec vs matmul");
    aria_free(base);
    aria_free(got);
    aria_free(fd);
    kern_i8mat_fini(&h);
    acts_free(&b);
    aria_free(x);
    kern_tmat_fini(&m);
    aria_free(t);
}

/* Three random ternary matrices of `cols` columns, row scale sc[i]. */
static void
three_tmats(kern_tmat m[3], int8_t *t[3], const size_t rows[3], size_t cols, int density,
            const float sc[3])
{
    for (int i = 0; i < 3; i++) {
        t[i] = random_codes(rows[i] * cols, density);
        CK_EQ(kern_tmat_from_codes(&m[i], t[i], rows[i], cols, sc[i]), 0);
    }
}

Test(ops, grouped_matrices_match_separate_calls)
{
    size_t cols = 200, rows[3] = {50, 16, 129};
    kern_tmat m[3];
    int8_t *t[3];
    three_tmats(m, t, rows, cols, 60, (const float[3]){0.25f, 0.5f, 0.75f});
    const kern_tmat *mp[3] = {&m[0], &m[1], &m[2]};
    for (size_t nt = 1; nt <= 5; nt += 4) {
        acts_buf b;
        acts_alloc(&b, nt, cols, 0);
        fill_acts_random(&b);
        size_t ost = 130;
        float *want[3], *got[3];
        for (int i = 0; i < 3; i++) {
            want[i] = aria_calloc(nt * ost, sizeof(float));
            got[i] = aria_calloc(nt * ost, sizeof(float));
            for (size_t k = 0; k < nt; k++)
                naive_tmat(t[i], rows[i], cols, 0.25f * (float)(i + 1), &b.a, k, want[i] + k * ost);
        }
        for (int nth = 1; nth <= 3; nth++) {
            kern_pool *p;
            CK_EQ(kern_pool_new(nth, &p), 0);
            kern_tmat_matmul_n(p, mp, 3, &b.a, got, ost);
            for (int i = 0; i < 3; i++)
                for (size_t k = 0; k < nt; k++)
                    assert_same_floats(got[i] + k * ost, want[i] + k * ost, rows[i], "grouped");
            kern_pool_free(p);
        }
        for (int i = 0; i < 3; i++) {
            aria_free(want[i]);
            aria_free(got[i]);
        }
        acts_free(&b);
    }
    for (int i = 0; i < 3; i++) {
        kern_tmat_fini(&m[i]);
        aria_free(t[i]);
    }
}

/* One-token runs split tiles into one range per thread with stealing from
 * the back (ops.c split_run): under any interleaving every row is computed
 * exactly once and equals the naive product. Many threads on two CPUs make
 * the steals and late starts happen; 200 runs per thread count. */
Test(ops, stealing_split_computes_every_row_once)
{
    size_t cols = 256, rows[3] = {1000, 16, 333};
    kern_tmat m[3];
    int8_t *t[3];
    three_tmats(m, t, rows, cols, 50, (const float[3]){0.5f, 0.5f, 0.5f});
    const kern_tmat *mp[3] = {&m[0], &m[1], &m[2]};
    acts_buf b;
    acts_alloc(&b, 1, cols, 0);
    fill_acts_random(&b);
    float *want[3], *got[3];
    for (int i = 0; i < 3; i++) {
        want[i] = aria_calloc(rows[i], sizeof(float));
        got[i] = aria_calloc(rows[i] + 1, sizeof(float));
        naive_tmat(t[i], rows[i], cols, 0.5f, &b.a, 0, want[i]);
    }
    int nths[] = {2, 3, 5, 8};
    for (size_t k = 0; k < ARIA_ARRAY_LEN(nths); k++) {
        kern_pool *p;
        CK_EQ(kern_pool_new(nths[k], &p), 0);
        for (int rep = 0; rep < 200; rep++) {
            for (int i = 0; i < 3; i++) {
                for (size_t r = 0; r <= rows[i]; r++)
                    got[i][r] = -12345.0f; /* a row nobody wrote stays this */
            }
            kern_tmat_matmul_n(p, mp, 3, &b.a, got, 0);
            for (int i = 0; i < 3; i++) {
                assert_same_floats(got[i], want[i], rows[i], "stolen rows");
                CK_EQ(got[i][rows[i]], -12345.0f, "wrote past matrix %d", i);
            }
        }
        kern_pool_free(p);
    }
    for (int i = 0; i < 3; i++) {
        aria_free(want[i]);
        aria_free(got[i]);
        kern_tmat_fini(&m[i]);
        aria_free(t[i]);
    }
    acts_free(&b);
}

/* Thread t's own range starts where split_run puts it: the run's tiles
 * (4 + 1 + 9 = 14 here) in equal contiguous shares. */
Test(ops, range_start_matches_the_split)
{
    size_t cols = 100, rows[3] = {50, 16, 129};
    kern_tmat m[3];
    int8_t *t = random_codes(129 * cols, 50);
    for (int i = 0; i < 3; i++)
        CK_EQ(kern_tmat_from_codes(&m[i], t, rows[i], cols, 1.0f), 0);
    const kern_tmat *mp[3] = {&m[0], &m[1], &m[2]};
    size_t tb = m[0].cols_p * 4, len = 99;
    kern_pool *p;
    CK_EQ(kern_pool_new(2, &p), 0);
    CK_EQ(kern_tmat_range_start(p, mp, 3, 0, &len), (const void *)m[0].data);
    CK_EQ(len, 4 * tb); /* tiles 0..6: matrix 0's 4 tiles first */
    CK_EQ(kern_tmat_range_start(p, mp, 3, 1, &len), (const void *)(m[2].data + 2 * tb));
    CK_EQ(len, 7 * tb); /* tiles 7..13 = matrix 2's tiles 2..8 */
    CK(kern_tmat_range_start(p, mp, 3, 2, &len) == NULL);
    CK_EQ(len, 0);
    kern_pool_free(p);
    CK_EQ(kern_pool_new(5, &p), 0); /* shares of 14 tiles: 0,2,5,8,11 */
    CK_EQ(kern_tmat_range_start(p, mp, 3, 3, &len), (const void *)(m[2].data + 3 * tb));
    CK_EQ(len, 3 * tb);
    kern_pool_free(p);
    CK_EQ(kern_tmat_range_start(NULL, mp, 3, 0, &len), (const void *)m[0].data);
    for (int i = 0; i < 3; i++)
        kern_tmat_fini(&m[i]);
    aria_free(t);
}

typedef struct self_ctx {
    _Atomic int seen[8];
} self_ctx;

static void
self_task(void *vctx, size_t task, size_t n_tasks)
{
    (void)task;
    (void)n_tasks;
    self_ctx *c = vctx;
    size_t s = kern_pool_self();
    atomic_fetch_add(&c->seen[s < 8 ? s : 7], 1);
    struct timespec ts = {0, 200 * 1000};
    nanosleep(&ts, NULL);
}

/* Tasks learn which pool thread runs them (0 = the caller), and prefetch
 * hints / after-lists of any address, bad thread numbers included, change
 * nothing a run computes. */
Test(ops, pool_threads_know_their_index_and_hints_are_harmless)
{
    kern_pool *p;
    CK_EQ(kern_pool_new(3, &p), 0);
    self_ctx c;
    for (int i = 0; i < 8; i++)
        atomic_init(&c.seen[i], 0);
    static const char junk[4096];
    for (int rep = 0; rep < 20; rep++) {
        kern_pool_hint_next(p, 0, junk, sizeof junk);
        kern_pool_hint_next(p, 1, junk, sizeof junk);
        kern_pool_hint_next(p, 2, (const void *)(uintptr_t)64, 1 << 16); /* unmapped */
        kern_pool_hint_next(p, 3, junk, sizeof junk);
        for (int k = 0; k < KERN_POOL_PF_MAX + 2; k++)
            kern_pool_prefetch_after(p, junk, sizeof junk);
        kern_pool_run(p, self_task, &c, 12);
    }
    int total = 0;
    for (int i = 0; i < 8; i++) {
        total += atomic_load(&c.seen[i]);
        if (i >= 3)
            CK_EQ(atomic_load(&c.seen[i]), 0, "thread index %d of a 3-thread pool", i);
    }
    CK_EQ(total, 20 * 12);
    CK(atomic_load(&c.seen[0]) > 0); /* the caller takes part */
    kern_pool_free(p);
    kern_pool_hint_next(NULL, 1, junk, sizeof junk);
    kern_pool_prefetch_after(NULL, junk, sizeof junk);
    CK_EQ(kern_pool_self(), 0);
}

/* Matrices share huge-page chunks: freeing and reallocating in a mixed order
 * must give every new matrix clean (zero) padding and intact neighbours. */
Test(ops, weight_storage_is_reused_cleanly)
{
    enum { N = 120 };
    kern_tmat *t = aria_calloc(N, sizeof *t);
    int8_t *codes = random_codes(100 * 1000, 70);
    for (int i = 0; i < N; i++)
        CK_EQ(kern_tmat_from_codes(&t[i], codes, 100, 1000, 1.0f), 0);
    for (int i = 0; i < N; i += 2)
        kern_tmat_fini(&t[i]);
    /* int8 matrices land in the freed space; their padding must be zero */
    size_t rows = 37, cols = 1000;
    float *x = aria_alloc_array(rows * cols, sizeof(float));
    for (size_t i = 0; i < rows * cols; i++)
        x[i] = rndf();
    acts_buf b;
    acts_alloc(&b, 1, cols, 0);
    fill_acts_random(&b);
    for (int i = 0; i < N; i += 2) {
        kern_i8mat h;
        CK_EQ(kern_i8mat_init(&h, rows, cols), 0);
        for (size_t r = 0; r < rows; r++)
            kern_i8mat_set_row_f32(&h, r, x + r * cols);
        float got[37];
        FOR_EACH_ISA(o)
        {
            o->i8mat_matvec(&h, &b.a, got, 0, rows);
            for (size_t r = 0; r < rows; r++) {
                int32_t s = 0;
                for (size_t c = 0; c < cols; c++)
                    s += kern_i8mat_get(&h, r, c) * b.a.q[c];
                CK_EQ(got[r], (float)s * (b.a.scale[0] * h.wscale[r]), "%s", o->name);
            }
        }
        kern_i8mat_fini(&h);
    }
    for (int i = 1; i < N; i += 2) {
        for (size_t k = 0; k < 100 * 1000; k += 997)
            CK_EQ(kern_tmat_get(&t[i], k / 1000, k % 1000), codes[k]);
        kern_tmat_fini(&t[i]);
    }
    acts_free(&b);
    aria_free(x);
    aria_free(codes);
    aria_free(t);
}

/* The bandwidth meter (membw.c): bad arguments are refused; a measurement
 * reports positive figures, the better of its readers' medians, and a
 * fastest single pass no slower than either median, on 1 and 2 threads,
 * over several runs of one meter. */
Test(ops, bandwidth_meter_reports_consistent_figures)
{
    kern_membw bw;
    CK_EQ(kern_membw_measure(0, (size_t)1 << 24, 2, &bw), ARIA_EINVAL);
    CK_EQ(kern_membw_measure(1, (size_t)1 << 19, 2, &bw), ARIA_EINVAL);
    CK_EQ(kern_membw_measure(1, (size_t)1 << 24, 0, &bw), ARIA_EINVAL);
    for (int nth = 1; nth <= 2; nth++) {
        kern_membw_meter *m = NULL;
        CK_EQ(kern_membw_meter_new(nth, (size_t)32 << 20, &m), 0);
        CK_EQ(kern_membw_meter_run(m, 0, &bw), ARIA_EINVAL);
        for (int run = 0; run < 3; run++) {
            CK_EQ(kern_membw_meter_run(m, 3, &bw), 0);
            CK(bw.gbs > 0 && bw.cpu_gbs > 0, "%d threads: %.2f GB/s, %.2f per CPU-s", nth, bw.gbs,
               bw.cpu_gbs);
            CK(bw.best_gbs >= bw.gbs, "%d threads: fastest pass %.3f below the median %.3f", nth,
               bw.best_gbs, bw.gbs);
            /* the best reader counts (x86-64 with AVX-512F runs four, with
             * AVX2 three, else one, and the others read 0) */
            double best_rd = 0;
            for (int k = 0; k < KERN_MEMBW_READERS; k++) {
                double g = bw.reader_gbs[k];
                CK(k > 0 || g > 0, "reader 0: %.2f GB/s", g);
                CK(k == 0 || g == 0 || bw.reader_gbs[1] > 0, "reader %d ran without reader 1", k);
                CK(g == 0 || kern_cpu_get()->avx2, "reader %d ran without AVX2", k);
                CK(bw.best_gbs >= g, "fastest pass %.3f below reader %d's median %.3f", bw.best_gbs,
                   k, g);
                if (g > best_rd)
                    best_rd = g;
            }
            CK(bw.gbs == best_rd, "gbs %.3f, best reader %.3f", bw.gbs, best_rd);
            CK(!kern_cpu_get()->avx2 || bw.reader_gbs[2] > 0, "page-kick reader did not run");
            int want_rd = !kern_cpu_get()->avx2 ? 1 : kern_cpu_get()->avx512f ? 4 : 3;
            CK(bw.n_readers == want_rd, "%d readers reported, %d ran", bw.n_readers, want_rd);
            CK((bw.reader_gbs[3] > 0) == (kern_cpu_get()->avx2 && kern_cpu_get()->avx512f),
               "512-bit page-kick reader: %.2f GB/s, AVX-512F %d", bw.reader_gbs[3],
               (int)kern_cpu_get()->avx512f);
        }
        kern_membw_meter_free(m);
    }
}
