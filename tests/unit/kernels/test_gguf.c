/* GGUF reader and writer: writer -> reader round trips of every value type,
 * streamed and atomic writes, the shared llama.cpp-made vector file,
 * synthetic models, and corrupted files (each must fail with a message
 * naming the field, never crash), plus allocation failure injection. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kern_gguf.h"

static char tmpdir[64];

static void
mk_tmpdir(void)
{
    aria_snprintf(tmpdir, sizeof tmpdir, "/tmp/aria-test-gguf-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void
rm_tmpdir(void)
{
    char cmd[128];
    aria_snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

static void
tpath(char *out, size_t n, const char *name)
{
    aria_snprintf(out, n, "%s/%s", tmpdir, name);
}

static uint8_t *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void
spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* ------------------------------------------------------------------ */
/* A file with every kv type and one tensor of every weight type         */
/* ------------------------------------------------------------------ */

#define NT 7
static const kern_wtype tt[NT] = {KERN_WT_F32,   KERN_WT_F16,   KERN_WT_BF16, KERN_WT_Q8_0,
                                  KERN_WT_TQ1_0, KERN_WT_TQ2_0, KERN_WT_I2_S};
static uint8_t tdata[NT][2048];
static uint64_t tbytes[NT];

static void
build_all_types(kern_gguf_writer *w, uint32_t alignment)
{
    cr_assert_eq(kern_gguf_writer_add_str(w, "general.architecture", "test"), 0);
    if (alignment)
        cr_assert_eq(kern_gguf_writer_add_u32(w, "general.alignment", alignment), 0);
    cr_assert_eq(kern_gguf_writer_add_u8(w, "v.u8", 200), 0);
    cr_assert_eq(kern_gguf_writer_add_i8(w, "v.i8", -5), 0);
    cr_assert_eq(kern_gguf_writer_add_u16(w, "v.u16", 60000), 0);
    cr_assert_eq(kern_gguf_writer_add_i16(w, "v.i16", -30000), 0);
    cr_assert_eq(kern_gguf_writer_add_u32(w, "v.u32", 4000000000u), 0);
    cr_assert_eq(kern_gguf_writer_add_i32(w, "v.i32", -2000000000), 0);
    cr_assert_eq(kern_gguf_writer_add_u64(w, "v.u64", 1ull << 40), 0);
    cr_assert_eq(kern_gguf_writer_add_i64(w, "v.i64", -(1ll << 40)), 0);
    cr_assert_eq(kern_gguf_writer_add_f32(w, "v.f32", 0.15625f), 0);
    cr_assert_eq(kern_gguf_writer_add_f64(w, "v.f64", 1e100), 0);
    cr_assert_eq(kern_gguf_writer_add_bool(w, "v.bool", true), 0);
    cr_assert_eq(kern_gguf_writer_add_str(w, "v.empty", ""), 0);
    int32_t ai[4] = {1, -2, 3, -4};
    cr_assert_eq(kern_gguf_writer_add_arr(w, "a.i32", KERN_GGUF_I32, ai, 4), 0);
    float af[3] = {0.5f, -1.5f, 2.0f};
    cr_assert_eq(kern_gguf_writer_add_arr(w, "a.f32", KERN_GGUF_F32, af, 3), 0);
    uint8_t ab[3] = {1, 0, 1};
    cr_assert_eq(kern_gguf_writer_add_arr(w, "a.bool", KERN_GGUF_BOOL, ab, 3), 0);
    uint64_t au[2] = {1ull << 63, 7};
    cr_assert_eq(kern_gguf_writer_add_arr(w, "a.u64", KERN_GGUF_U64, au, 2), 0);
    cr_assert_eq(kern_gguf_writer_add_arr(w, "a.empty", KERN_GGUF_U8, NULL, 0), 0);
    const char *strs[3] = {"hello", "", "w\0rld"};
    size_t lens[3] = {5, 0, 5};
    cr_assert_eq(kern_gguf_writer_add_arr_str(w, "a.str", strs, lens, 3), 0);
    /* duplicate keys are refused */
    cr_assert_eq(kern_gguf_writer_add_u8(w, "v.u8", 1), ARIA_EEXIST);
    cr_assert_eq(kern_gguf_writer_add_u32(w, "general.alignment", 3), ARIA_EINVAL);

    for (int i = 0; i < NT; i++) {
        size_t be = kern_wtype_block_elems(tt[i]);
        uint64_t ne[2] = {be == 1 ? 8 : be, 2};
        int8_t tern[512];
        for (uint64_t k = 0; k < ne[0] * ne[1]; k++)
            tern[k] = (int8_t)((int)((k * 7 + (uint64_t)i) % 3) - 1);
        cr_assert_eq(kern_wtype_tensor_bytes(tt[i], ne[0] * ne[1], ne[0], &tbytes[i]), 0);
        kern_pack_ternary(tt[i], tern, ne[0] * ne[1], 0.25f, tdata[i]);
        char name[32];
        aria_snprintf(name, sizeof name, "t.%s", kern_wtype_name(tt[i]));
        cr_assert_eq(kern_gguf_writer_add_tensor(w, name, tt[i], 2, ne, tdata[i]), 0);
    }
    uint64_t ne1[1] = {8};
    cr_assert_eq(kern_gguf_writer_add_tensor(w, "t.f32", KERN_WT_F32, 1, ne1, tdata[0]),
                 ARIA_EEXIST);
    uint64_t bad[1] = {100};
    cr_assert_eq(kern_gguf_writer_add_tensor(w, "t.bad", KERN_WT_TQ2_0, 1, bad, tdata[0]),
                 ARIA_EINVAL);
}

static void
check_all_types(const kern_gguf *g, uint32_t alignment)
{
    cr_assert_eq(kern_gguf_version(g), 3);
    cr_assert_eq(kern_gguf_alignment(g), alignment ? alignment : 32);
    cr_assert_str_eq(kern_gguf_arch(g), "test");
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    int64_t i64;
    float f;
    double d;
    bool b;
    const char *s;
    size_t n;
    cr_assert_eq(kern_gguf_get_u32(g, "v.u8", &u32), 0);
    cr_assert_eq(u32, 200);
    cr_assert_eq(kern_gguf_get_i32(g, "v.i8", &i32), 0);
    cr_assert_eq(i32, -5);
    cr_assert_eq(kern_gguf_get_u32(g, "v.i8", &u32), ARIA_EPROTO); /* negative */
    cr_assert(strstr(aria_err_msg(), "v.i8"));
    cr_assert_eq(kern_gguf_get_u32(g, "v.u16", &u32), 0);
    cr_assert_eq(u32, 60000);
    cr_assert_eq(kern_gguf_get_i64(g, "v.i16", &i64), 0);
    cr_assert_eq(i64, -30000);
    cr_assert_eq(kern_gguf_get_u32(g, "v.u32", &u32), 0);
    cr_assert_eq(u32, 4000000000u);
    cr_assert_eq(kern_gguf_get_i32(g, "v.u32", &i32), ARIA_EPROTO); /* too big */
    cr_assert_eq(kern_gguf_get_i32(g, "v.i32", &i32), 0);
    cr_assert_eq(i32, -2000000000);
    cr_assert_eq(kern_gguf_get_u64(g, "v.u64", &u64), 0);
    cr_assert_eq(u64, 1ull << 40);
    cr_assert_eq(kern_gguf_get_u32(g, "v.u64", &u32), ARIA_EPROTO);
    cr_assert_eq(kern_gguf_get_i64(g, "v.i64", &i64), 0);
    cr_assert_eq(i64, -(1ll << 40));
    cr_assert_eq(kern_gguf_get_f32(g, "v.f32", &f), 0);
    cr_assert_eq(f, 0.15625f);
    cr_assert_eq(kern_gguf_get_u32(g, "v.f32", &u32), ARIA_EPROTO); /* float as int */
    cr_assert_eq(kern_gguf_get_f64(g, "v.f64", &d), 0);
    cr_assert_eq(d, 1e100);
    cr_assert_eq(kern_gguf_get_f32(g, "v.u16", &f), 0); /* ints widen to float */
    cr_assert_eq(f, 60000.0f);
    cr_assert_eq(kern_gguf_get_bool(g, "v.bool", &b), 0);
    cr_assert(b);
    cr_assert_eq(kern_gguf_get_str(g, "v.empty", &s, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_str_eq(s, "");
    cr_assert_eq(kern_gguf_get_str(g, "v.u8", &s, &n), ARIA_EPROTO);
    cr_assert_eq(kern_gguf_get_u32(g, "no.such", &u32), ARIA_ENOTFOUND);
    cr_assert_eq(kern_gguf_find_key(g, "no.such"), -1);

    kern_gguf_arr a;
    cr_assert_eq(kern_gguf_get_arr(g, "a.i32", &a), 0);
    cr_assert_eq(a.type, KERN_GGUF_I32);
    cr_assert_eq(a.n, 4);
    cr_assert_eq(kern_gguf_arr_i64(g, &a, 3, &i64), 0);
    cr_assert_eq(i64, -4);
    cr_assert_eq(kern_gguf_arr_i64(g, &a, 4, &i64), ARIA_ERANGE);
    cr_assert_eq(kern_gguf_arr_u64(g, &a, 1, &u64), ARIA_EPROTO);
    cr_assert_eq(kern_gguf_get_arr(g, "a.f32", &a), 0);
    cr_assert_eq(kern_gguf_arr_f32(g, &a, 1, &f), 0);
    cr_assert_eq(f, -1.5f);
    cr_assert_eq(kern_gguf_get_arr(g, "a.bool", &a), 0);
    cr_assert_eq(kern_gguf_arr_u64(g, &a, 2, &u64), 0);
    cr_assert_eq(u64, 1);
    cr_assert_eq(kern_gguf_get_arr(g, "a.u64", &a), 0);
    cr_assert_eq(kern_gguf_arr_u64(g, &a, 0, &u64), 0);
    cr_assert_eq(u64, 1ull << 63);
    cr_assert_eq(kern_gguf_arr_i64(g, &a, 0, &i64), ARIA_EPROTO); /* does not fit */
    cr_assert_eq(kern_gguf_get_arr(g, "a.empty", &a), 0);
    cr_assert_eq(a.n, 0);
    cr_assert_eq(kern_gguf_get_arr(g, "a.str", &a), 0);
    cr_assert_eq(a.type, KERN_GGUF_STRING);
    cr_assert_eq(kern_gguf_arr_str(g, &a, 0, &s, &n), 0);
    cr_assert(n == 5 && memcmp(s, "hello", 5) == 0);
    cr_assert_eq(kern_gguf_arr_str(g, &a, 1, &s, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(kern_gguf_arr_str(g, &a, 2, &s, &n), 0);
    cr_assert(n == 5 && memcmp(s, "w\0rld", 5) == 0);
    cr_assert_eq(kern_gguf_arr_str(g, &a, 3, &s, &n), ARIA_ERANGE);
    cr_assert_eq(kern_gguf_arr_f32(g, &a, 0, &f), ARIA_EPROTO);
    cr_assert_eq(kern_gguf_get_arr(g, "v.u8", &a), ARIA_EPROTO);

    cr_assert_eq(kern_gguf_n_tensors(g), NT);
    const uint8_t *base = kern_gguf_base(g);
    uint32_t al = kern_gguf_alignment(g);
    for (int i = 0; i < NT; i++) {
        char name[32];
        aria_snprintf(name, sizeof name, "t.%s", kern_wtype_name(tt[i]));
        const kern_gguf_tensor *t = kern_gguf_tensor_find(g, name);
        cr_assert_not_null(t, "%s", name);
        cr_assert_eq(t, kern_gguf_tensor_at(g, (size_t)i));
        cr_assert_eq(t->type, tt[i]);
        cr_assert_eq(t->n_dims, 2);
        cr_assert_eq(t->ne[1], 2);
        cr_assert_eq(t->ne[2], 1);
        cr_assert_eq(t->nbytes, tbytes[i]);
        cr_assert_eq(((const uint8_t *)t->data - base) % al, 0, "%s misaligned", name);
        cr_assert_eq(t->offset % al, 0);
        cr_assert_eq(memcmp(t->data, tdata[i], tbytes[i]), 0, "%s data", name);
        float out[512];
        float sc = tt[i] == KERN_WT_I2_S ? kern_i2s_scale(t->data, t->n_elems) : 0;
        kern_dequant_row(tt[i], t->data, out, (size_t)t->n_elems, sc);
        for (uint64_t k = 0; k < t->n_elems; k++)
            cr_assert_eq(out[k], 0.25f * (float)((int)((k * 7 + (uint64_t)i) % 3) - 1));
    }
    cr_assert_null(kern_gguf_tensor_find(g, "t.none"));
}

Test(gguf, writer_reader_round_trip_of_every_type, .init = mk_tmpdir, .fini = rm_tmpdir)
{
    uint32_t aligns[] = {0, 64, 1};
    for (int k = 0; k < 3; k++) {
        kern_gguf_writer *w;
        cr_assert_eq(kern_gguf_writer_new(&w), 0);
        build_all_types(w, aligns[k]);
        char p[128];
        tpath(p, sizeof p, "all.gguf");
        cr_assert_eq(kern_gguf_writer_write(w, p), 0, "%s", aria_err_msg());
        kern_gguf_writer_free(w);
        kern_gguf *g;
        cr_assert_eq(kern_gguf_open(p, &g), 0, "%s", aria_err_msg());
        check_all_types(g, aligns[k]);
        kern_gguf_close(g);
        /* the same bytes through open_mem */
        size_t len;
        uint8_t *buf = slurp(p, &len);
        cr_assert_eq(kern_gguf_open_mem(buf, len, &g), 0, "%s", aria_err_msg());
        check_all_types(g, aligns[k]);
        kern_gguf_close(g);
        free(buf);
    }
}

Test(gguf, streamed_write_equals_one_shot_and_checks_byte_counts, .init = mk_tmpdir,
     .fini = rm_tmpdir)
{
    char p1[128], p2[128], p3[128];
    tpath(p1, sizeof p1, "one.gguf");
    tpath(p2, sizeof p2, "two.gguf");
    tpath(p3, sizeof p3, "three.gguf");
    kern_gguf_writer *w;
    cr_assert_eq(kern_gguf_writer_new(&w), 0);
    build_all_types(w, 0);
    cr_assert_eq(kern_gguf_writer_write(w, p1), 0);
    kern_gguf_writer_free(w);

    /* tensors 'a' and 'c' streamed in odd chunks around a borrowed 'b' */
    cr_assert_eq(kern_gguf_writer_new(&w), 0);
    cr_assert_eq(kern_gguf_writer_add_str(w, "general.architecture", "s"), 0);
    uint64_t ne[1] = {256};
    uint8_t a[66], b[1024];
    memset(a, 0x55, sizeof a);
    memset(b, 0x3c, sizeof b);
    cr_assert_eq(kern_gguf_writer_add_tensor(w, "a", KERN_WT_TQ2_0, 1, ne, NULL), 0);
    cr_assert_eq(kern_gguf_writer_add_tensor(w, "b", KERN_WT_F32, 1, ne, b), 0);
    cr_assert_eq(kern_gguf_writer_add_tensor(w, "c", KERN_WT_TQ2_0, 1, ne, NULL), 0);
    cr_assert_eq(kern_gguf_writer_write(w, p2), ARIA_EINVAL); /* streamed tensors need put */
    cr_assert_eq(kern_gguf_writer_begin(w, p2), 0);
    cr_assert_eq(kern_gguf_writer_add_u8(w, "late", 1), ARIA_ESTATE);
    for (size_t i = 0; i < 66; i += 7)
        cr_assert_eq(kern_gguf_writer_put(w, a + i, i + 7 > 66 ? 66 - i : 7), 0);
    cr_assert_eq(kern_gguf_writer_put(w, a, 60), 0);
    cr_assert_eq(kern_gguf_writer_commit(w), ARIA_EINVAL); /* 6 bytes of 'c' missing */
    cr_assert(strstr(aria_err_msg(), "'c'"));
    struct stat st;
    cr_assert_neq(stat(p2, &st), 0, "a failed commit must not leave the file");
    kern_gguf_writer_free(w);

    cr_assert_eq(kern_gguf_writer_new(&w), 0);
    cr_assert_eq(kern_gguf_writer_add_tensor(w, "a", KERN_WT_TQ2_0, 1, ne, NULL), 0);
    cr_assert_eq(kern_gguf_writer_begin(w, p3), 0);
    cr_assert_eq(kern_gguf_writer_put(w, a, 66), 0);
    cr_assert_eq(kern_gguf_writer_put(w, a, 1), ARIA_EINVAL); /* more than declared */
    cr_assert_eq(kern_gguf_writer_commit(w), 0);
    kern_gguf_writer_free(w);
    kern_gguf *g;
    cr_assert_eq(kern_gguf_open(p3, &g), 0, "%s", aria_err_msg());
    cr_assert_eq(memcmp(kern_gguf_tensor_at(g, 0)->data, a, 66), 0);
    kern_gguf_close(g);
    /* freeing an uncommitted writer removes its temporary file */
    cr_assert_eq(kern_gguf_writer_new(&w), 0);
    cr_assert_eq(kern_gguf_writer_begin(w, p2), 0);
    kern_gguf_writer_free(w);
    char cmd[256];
    aria_snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", tmpdir);
    cr_assert_neq(system(cmd), 0, "temporary file left behind");
}

Test(gguf, write_replaces_an_existing_file_atomically, .init = mk_tmpdir, .fini = rm_tmpdir)
{
    char p[128];
    tpath(p, sizeof p, "m.gguf");
    spit(p, "old contents", 12);
    kern_gguf_writer *w;
    cr_assert_eq(kern_gguf_writer_new(&w), 0);
    cr_assert_eq(kern_gguf_writer_add_str(w, "general.architecture", "x"), 0);
    cr_assert_eq(kern_gguf_writer_write(w, p), 0);
    kern_gguf_writer_free(w);
    kern_gguf *g;
    cr_assert_eq(kern_gguf_open(p, &g), 0, "%s", aria_err_msg());
    cr_assert_eq(kern_gguf_n_tensors(g), 0);
    kern_gguf_close(g);
    cr_assert_eq(kern_gguf_open("/nonexistent/x.gguf", &g), ARIA_ENOTFOUND);
    cr_assert(strstr(aria_err_msg(), "/nonexistent/x.gguf"));
}

/* ------------------------------------------------------------------ */
/* The shared vector made by llama.cpp's tools                          */
/* ------------------------------------------------------------------ */

Test(gguf, reads_the_shared_llamacpp_vector_file)
{
    const char *dir = getenv("ARIA_SHARED_DIR");
    char p[512];
    aria_snprintf(p, sizeof p, "%s/vectors/bitnet-tiny-A/bitnet-tiny-seedA-f32.gguf",
                  dir ? dir : "../shared");
    struct stat st;
    cr_assert_eq(stat(p, &st), 0, "shared vector %s missing", p);
    kern_gguf *g;
    cr_assert_eq(kern_gguf_open(p, &g), 0, "%s", aria_err_msg());
    cr_assert_eq(kern_gguf_version(g), 3);
    cr_assert_str_eq(kern_gguf_arch(g), "bitnet");
    uint32_t v;
    cr_assert_eq(kern_gguf_get_u32(g, "bitnet.block_count", &v), 0);
    cr_assert_eq(v, 4);
    cr_assert_eq(kern_gguf_get_u32(g, "bitnet.embedding_length", &v), 0);
    cr_assert_eq(v, 256);
    float eps;
    cr_assert_eq(kern_gguf_get_f32(g, "bitnet.attention.layer_norm_rms_epsilon", &eps), 0);
    cr_assert_float_eq(eps, 1e-5f, 1e-9f);
    kern_gguf_arr a;
    cr_assert_eq(kern_gguf_get_arr(g, "tokenizer.ggml.tokens", &a), 0);
    cr_assert_eq(a.n, 32000);
    const char *s;
    size_t n;
    cr_assert_eq(kern_gguf_arr_str(g, &a, 1, &s, &n), 0);
    cr_assert(n == 3 && memcmp(s, "<s>", 3) == 0);
    cr_assert_eq(kern_gguf_n_tensors(g), 46);
    const kern_gguf_tensor *t = kern_gguf_tensor_find(g, "token_embd.weight");
    cr_assert_not_null(t);
    cr_assert_eq(t->type, KERN_WT_F16);
    cr_assert(t->ne[0] == 256 && t->ne[1] == 32000);
    t = kern_gguf_tensor_find(g, "blk.3.ffn_down.weight");
    cr_assert_not_null(t);
    cr_assert(t->type == KERN_WT_F32 && t->ne[0] == 768 && t->ne[1] == 256);
    cr_assert_eq(t->file_offset + t->nbytes, kern_gguf_file_size(g));
    /* the projections of this file are ternary times one scale */
    float row[768];
    kern_dequant_row(t->type, t->data, row, 768, 0);
    float sc = 0;
    for (int i = 0; i < 768; i++) {
        float x = row[i] < 0 ? -row[i] : row[i];
        if (x != 0 && sc == 0)
            sc = x;
        cr_assert(x == 0 || x == sc, "weight %d = %g not in {0, +-%g}", i, row[i], sc);
    }
    kern_gguf_close(g);
}

Test(gguf, synthetic_models_have_llamacpp_names_and_are_deterministic, .init = mk_tmpdir,
     .fini = rm_tmpdir)
{
    kern_synth_opts o = {.arch = "bitnet-b1.58",
                         .n_layer = 2,
                         .n_embd = 256,
                         .n_ff = 512,
                         .n_head = 4,
                         .n_head_kv = 2,
                         .n_vocab = 700,
                         .wtype = KERN_WT_I2_S,
                         .seed = 42};
    char p1[128], p2[128];
    tpath(p1, sizeof p1, "a.gguf");
    tpath(p2, sizeof p2, "b.gguf");
    cr_assert_eq(kern_synth_write(&o, p1), 0, "%s", aria_err_msg());
    cr_assert_eq(kern_synth_write(&o, p2), 0);
    size_t l1, l2;
    uint8_t *b1 = slurp(p1, &l1), *b2 = slurp(p2, &l2);
    cr_assert(l1 == l2 && memcmp(b1, b2, l1) == 0, "synth is not deterministic");
    free(b2);
    kern_gguf *g;
    cr_assert_eq(kern_gguf_open_mem(b1, l1, &g), 0, "%s", aria_err_msg());
    cr_assert_str_eq(kern_gguf_arch(g), "bitnet-b1.58");
    uint32_t v;
    cr_assert_eq(kern_gguf_get_u32(g, "bitnet-b1.58.attention.head_count_kv", &v), 0);
    cr_assert_eq(v, 2);
    cr_assert_eq(kern_gguf_get_u32(g, "bitnet-b1.58.vocab_size", &v), 0);
    cr_assert_eq(v, 700);
    const char *names[] = {
        "token_embd.weight",          "output_norm.weight",       "blk.0.attn_norm.weight",
        "blk.0.attn_q.weight",        "blk.0.attn_k.weight",      "blk.0.attn_v.weight",
        "blk.0.attn_sub_norm.weight", "blk.0.attn_output.weight", "blk.0.ffn_norm.weight",
        "blk.0.ffn_gate.weight",      "blk.0.ffn_up.weight",      "blk.0.ffn_sub_norm.weight",
        "blk.1.ffn_down.weight"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cr_assert_not_null(kern_gguf_tensor_find(g, names[i]), "%s", names[i]);
    cr_assert_null(kern_gguf_tensor_find(g, "output.weight")); /* tied */
    cr_assert_eq(kern_gguf_n_tensors(g), 2 + 2 * 11);
    const kern_gguf_tensor *k = kern_gguf_tensor_find(g, "blk.0.attn_k.weight");
    cr_assert(k->ne[0] == 256 && k->ne[1] == 128 && k->type == KERN_WT_I2_S);
    kern_gguf_arr a;
    cr_assert_eq(kern_gguf_get_arr(g, "tokenizer.ggml.tokens", &a), 0);
    cr_assert_eq(a.n, 700);
    cr_assert_eq(kern_gguf_get_arr(g, "tokenizer.ggml.merges", &a), 0);
    cr_assert_gt(a.n, 100);
    uint32_t bos, eot;
    cr_assert_eq(kern_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos), 0);
    cr_assert_eq(kern_gguf_get_u32(g, "tokenizer.ggml.eot_token_id", &eot), 0);
    cr_assert_eq(kern_gguf_get_arr(g, "tokenizer.ggml.tokens", &a), 0);
    const char *s;
    size_t n;
    cr_assert_eq(kern_gguf_arr_str(g, &a, bos, &s, &n), 0);
    cr_assert(n == 17 && memcmp(s, "<|begin_of_text|>", 17) == 0);
    cr_assert_eq(kern_gguf_arr_str(g, &a, eot, &s, &n), 0);
    cr_assert(n == 10 && memcmp(s, "<|eot_id|>", 10) == 0);
    kern_gguf_close(g);
    free(b1);

    /* every weight type describes the same float model */
    kern_wtype types[] = {KERN_WT_F32,   KERN_WT_F16,   KERN_WT_BF16, KERN_WT_Q8_0,
                          KERN_WT_TQ1_0, KERN_WT_TQ2_0, KERN_WT_I2_S};
    static float ref[256 * 512], out[256 * 512];
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        o.wtype = types[ti];
        o.arch = "llama";
        cr_assert_eq(kern_synth_write(&o, p1), 0, "%s", aria_err_msg());
        cr_assert_eq(kern_gguf_open(p1, &g), 0, "%s", aria_err_msg());
        cr_assert_not_null(kern_gguf_tensor_find(g, "output.weight"));
        cr_assert_null(kern_gguf_tensor_find(g, "blk.0.attn_sub_norm.weight"));
        const kern_gguf_tensor *t = kern_gguf_tensor_find(g, "blk.1.ffn_up.weight");
        cr_assert_eq(t->type, types[ti]);
        float sc = t->type == KERN_WT_I2_S ? kern_i2s_scale(t->data, t->n_elems) : 0;
        kern_dequant_row(t->type, t->data, ti == 0 ? ref : out, (size_t)t->n_elems, sc);
        if (ti > 0)
            cr_assert_eq(memcmp(ref, out, sizeof ref), 0, "type %s differs from f32",
                         kern_wtype_name(types[ti]));
        kern_gguf_close(g);
    }
    /* --scales (arch bitnet): weights stored with scale 1 plus a .scale
     * tensor holding the scale the folded file multiplies in */
    o.arch = "bitnet";
    o.wtype = KERN_WT_TQ2_0;
    o.scales = false;
    cr_assert_eq(kern_synth_write(&o, p1), 0, "%s", aria_err_msg());
    o.scales = true;
    cr_assert_eq(kern_synth_write(&o, p2), 0, "%s", aria_err_msg());
    kern_gguf *g2;
    cr_assert_eq(kern_gguf_open(p1, &g), 0);
    cr_assert_eq(kern_gguf_open(p2, &g2), 0);
    cr_assert_null(kern_gguf_tensor_find(g, "blk.0.attn_q.scale"));
    const kern_gguf_tensor *wf = kern_gguf_tensor_find(g, "blk.1.attn_v.weight");
    const kern_gguf_tensor *wu = kern_gguf_tensor_find(g2, "blk.1.attn_v.weight");
    const kern_gguf_tensor *ws = kern_gguf_tensor_find(g2, "blk.1.attn_v.scale");
    cr_assert(wf && wu && ws && ws->type == KERN_WT_F32 && ws->n_elems == 1);
    float scl;
    kern_dequant_row(KERN_WT_F32, ws->data, &scl, 1, 0);
    kern_dequant_row(wf->type, wf->data, ref, (size_t)wf->n_elems, 0);
    kern_dequant_row(wu->type, wu->data, out, (size_t)wu->n_elems, 0);
    for (uint64_t i = 0; i < wf->n_elems; i++)
        cr_assert_eq(ref[i], out[i] * scl, "elem %llu", (unsigned long long)i);
    kern_gguf_close(g);
    kern_gguf_close(g2);
    o.scales = false;
    o.arch = "llama";

    /* option checks */
    o.n_embd = 200;
    cr_assert_eq(kern_synth_check(&o), ARIA_EINVAL);
    o.n_embd = 256;
    o.n_head_kv = 3;
    cr_assert_eq(kern_synth_check(&o), ARIA_EINVAL);
    o.n_head_kv = 2;
    o.arch = "gpt-j";
    cr_assert_eq(kern_synth_check(&o), ARIA_EINVAL);
    o.arch = "bitnet";
    o.n_vocab = 100;
    cr_assert_eq(kern_synth_check(&o), ARIA_EINVAL);
}

/* ------------------------------------------------------------------ */
/* Corrupted files                                                       */
/* ------------------------------------------------------------------ */

/* Offsets of the fields of a file, found by an independent walk. */
typedef struct fields {
    size_t kv_key[64], kv_type[64], kv_val[64]; /* val: array elem type for arrays */
    size_t n_kv;
    size_t t_name[64], t_ndims[64], t_ne0[64], t_type[64], t_off[64];
    size_t n_t;
} fields;

static uint64_t
ld64(const uint8_t *p)
{
    return aria_load_u64le(p);
}

static void
walk(const uint8_t *b, fields *f)
{
    size_t o = 24;
    uint64_t n_t = ld64(b + 8), n_kv = ld64(b + 16);
    cr_assert(n_kv <= 64 && n_t <= 64);
    f->n_kv = n_kv;
    f->n_t = n_t;
    static const size_t sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    for (size_t i = 0; i < n_kv; i++) {
        f->kv_key[i] = o;
        o += 8 + ld64(b + o);
        f->kv_type[i] = o;
        uint32_t t = aria_load_u32le(b + o);
        o += 4;
        f->kv_val[i] = o;
        if (t == 8) {
            o += 8 + ld64(b + o);
        } else if (t == 9) {
            uint32_t et = aria_load_u32le(b + o);
            uint64_t n = ld64(b + o + 4);
            o += 12;
            for (uint64_t k = 0; k < n; k++)
                o += et == 8 ? 8 + ld64(b + o) : sz[et];
        } else {
            o += sz[t];
        }
    }
    for (size_t i = 0; i < n_t; i++) {
        f->t_name[i] = o;
        o += 8 + ld64(b + o);
        f->t_ndims[i] = o;
        uint32_t nd = aria_load_u32le(b + o);
        o += 4;
        f->t_ne0[i] = o;
        o += 8 * nd;
        f->t_type[i] = o;
        o += 4;
        f->t_off[i] = o;
        o += 8;
    }
}

static long
find_kv(const uint8_t *b, const fields *f, const char *key)
{
    for (size_t i = 0; i < f->n_kv; i++)
        if (ld64(b + f->kv_key[i]) == strlen(key) &&
            memcmp(b + f->kv_key[i] + 8, key, strlen(key)) == 0)
            return (long)i;
    return -1;
}

static uint8_t *valid;
static size_t valid_len;
static fields vf;

static void
make_valid(void)
{
    mk_tmpdir();
    kern_gguf_writer *w;
    cr_assert_eq(kern_gguf_writer_new(&w), 0);
    build_all_types(w, 0);
    char p[128];
    tpath(p, sizeof p, "valid.gguf");
    cr_assert_eq(kern_gguf_writer_write(w, p), 0);
    kern_gguf_writer_free(w);
    valid = slurp(p, &valid_len);
    walk(valid, &vf);
}

static void
free_valid(void)
{
    free(valid);
    rm_tmpdir();
}

/* Open a modified copy (in memory, and once through a file) and require an
 * error whose message contains `want`. */
static void
expect_bad(const uint8_t *b, size_t len, const char *want, const char *what)
{
    kern_gguf *g = NULL;
    aria_err_clear();
    int rc = kern_gguf_open_mem(b, len, &g);
    cr_assert_lt(rc, 0, "%s: corrupted file was accepted", what);
    cr_assert_null(g);
    cr_assert(rc == ARIA_EPROTO || rc == ARIA_ERANGE, "%s: rc %d", what, rc);
    cr_assert(strstr(aria_err_msg(), want), "%s: message '%s' lacks '%s'", what, aria_err_msg(),
              want);
    cr_assert(strstr(aria_err_msg(), "offset") || strstr(aria_err_msg(), "overlaps"),
              "%s: message '%s' names no offset", what, aria_err_msg());
    char p[128];
    tpath(p, sizeof p, "bad.gguf");
    spit(p, b, len);
    rc = kern_gguf_open(p, &g);
    cr_assert_lt(rc, 0, "%s (file): accepted", what);
    cr_assert(strstr(aria_err_msg(), p), "file errors name the path: %s", aria_err_msg());
}

static uint8_t *
copy_valid(void)
{
    uint8_t *c = malloc(valid_len);
    memcpy(c, valid, valid_len);
    return c;
}

Test(gguf_bad, the_valid_base_file_opens, .init = make_valid, .fini = free_valid)
{
    kern_gguf *g;
    cr_assert_eq(kern_gguf_open_mem(valid, valid_len, &g), 0, "%s", aria_err_msg());
    check_all_types(g, 0);
    kern_gguf_close(g);
    cr_assert_eq(vf.n_t, NT);
}

Test(gguf_bad, truncation_at_every_header_byte_and_in_the_data_fails, .init = make_valid,
     .fini = free_valid)
{
    kern_gguf *g;
    cr_assert_eq(kern_gguf_open_mem(valid, valid_len, &g), 0);
    uint64_t data_end = 0, data_off = kern_gguf_data_offset(g);
    for (size_t i = 0; i < kern_gguf_n_tensors(g); i++) {
        const kern_gguf_tensor *t = kern_gguf_tensor_at(g, i);
        if (t->file_offset + t->nbytes > data_end)
            data_end = t->file_offset + t->nbytes;
    }
    kern_gguf_close(g);
    size_t n = 0;
    for (size_t cut = 0; cut < data_end; cut += cut < data_off + 64 ? 1 : 97, n++) {
        int rc = kern_gguf_open_mem(valid, cut, &g);
        cr_assert_lt(rc, 0, "truncated at %zu of %zu: accepted", cut, valid_len);
        cr_assert(strstr(aria_err_msg(), "gguf:"), "cut %zu: %s", cut, aria_err_msg());
    }
    cr_assert_gt(n, 500);
    expect_bad(valid, (size_t)data_end - 1, "runs past the end", "truncated in the last tensor");
    expect_bad(valid, 10, "tensor count", "truncated in the header");
}

Test(gguf_bad, header_fields, .init = make_valid, .fini = free_valid)
{
    uint8_t *c = copy_valid();
    c[0] = 'X';
    expect_bad(c, valid_len, "magic", "bad magic");
    memcpy(c, valid, valid_len);
    aria_store_u32le(c + 4, 1);
    expect_bad(c, valid_len, "version", "version 1");
    aria_store_u32le(c + 4, 4);
    expect_bad(c, valid_len, "version", "version 4");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + 8, 1ull << 62);
    expect_bad(c, valid_len, "tensor count", "huge tensor count");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + 16, UINT64_MAX);
    expect_bad(c, valid_len, "kv count", "huge kv count");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + 16, vf.n_kv + 1); /* one kv more than present */
    expect_bad(c, valid_len, "gguf:", "kv count one too many");
    /* a zeroed 64-byte file */
    uint8_t z[64] = {0};
    expect_bad(z, sizeof z, "magic", "zeros");
    free(c);
}

Test(gguf_bad, kv_fields, .init = make_valid, .fini = free_valid)
{
    uint8_t *c = copy_valid();
    aria_store_u64le(c + vf.kv_key[0], 1ull << 40);
    expect_bad(c, valid_len, "key", "huge key length");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + vf.kv_key[1], 0);
    expect_bad(c, valid_len, "empty", "empty key");
    memcpy(c, valid, valid_len);
    aria_store_u32le(c + vf.kv_type[2], 13);
    expect_bad(c, valid_len, "value type", "unknown value type");
    memcpy(c, valid, valid_len);
    aria_store_u32le(c + vf.kv_type[2], 0xffffffffu);
    expect_bad(c, valid_len, "value type", "value type -1");
    long sarr = find_kv(valid, &vf, "a.str");
    cr_assert_geq(sarr, 0);
    memcpy(c, valid, valid_len);
    aria_store_u32le(c + vf.kv_val[sarr], KERN_GGUF_ARRAY);
    expect_bad(c, valid_len, "nested", "array of arrays");
    memcpy(c, valid, valid_len);
    aria_store_u32le(c + vf.kv_val[sarr], 77);
    expect_bad(c, valid_len, "element type", "unknown array element type");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + vf.kv_val[sarr] + 4, 1ull << 61);
    expect_bad(c, valid_len, "array length", "huge string array");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + vf.kv_val[sarr] + 12, 1ull << 50); /* first string's length */
    expect_bad(c, valid_len, "string element 0", "huge string length");
    long iarr = find_kv(valid, &vf, "a.i32");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + vf.kv_val[iarr] + 4, 1ull << 62);
    expect_bad(c, valid_len, "array length", "huge numeric array");
    long str = find_kv(valid, &vf, "general.architecture");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + vf.kv_val[str], valid_len);
    expect_bad(c, valid_len, "string value", "string past the end");
    /* a NUL inside a string value is legal: the length is kept (regression
     * found by fuzz_gguf: the copy used to stop at the NUL) */
    memcpy(c, valid, valid_len);
    c[vf.kv_val[str] + 8 + 1] = 0;
    kern_gguf *g;
    cr_assert_eq(kern_gguf_open_mem(c, valid_len, &g), 0, "%s", aria_err_msg());
    const char *sv;
    size_t sn;
    cr_assert_eq(kern_gguf_get_str(g, "general.architecture", &sv, &sn), 0);
    cr_assert(sn == 4 && memcmp(sv, "t\0st", 5) == 0);
    kern_gguf_close(g);
    long bl = find_kv(valid, &vf, "v.bool");
    memcpy(c, valid, valid_len);
    c[vf.kv_val[bl]] = 2;
    expect_bad(c, valid_len, "bool", "bool value 2");
    long ab = find_kv(valid, &vf, "a.bool");
    memcpy(c, valid, valid_len);
    c[vf.kv_val[ab] + 12 + 1] = 9;
    expect_bad(c, valid_len, "bool element 1", "bool array element 9");
    /* duplicate key: rename v.i8 to v.u8 (same length) */
    long i8 = find_kv(valid, &vf, "v.i8");
    memcpy(c, valid, valid_len);
    memcpy(c + vf.kv_key[i8] + 8, "v.u8", 4);
    expect_bad(c, valid_len, "duplicate key", "duplicate key");
    /* NUL inside a key */
    memcpy(c, valid, valid_len);
    c[vf.kv_key[i8] + 8 + 1] = 0;
    expect_bad(c, valid_len, "NUL", "NUL in key");
    free(c);
}

Test(gguf_bad, alignment_key, .init = mk_tmpdir, .fini = rm_tmpdir)
{
    kern_gguf_writer *w;
    cr_assert_eq(kern_gguf_writer_new(&w), 0);
    cr_assert_eq(kern_gguf_writer_add_u32(w, "general.alignment", 64), 0);
    uint8_t d[32] = {0};
    uint64_t ne[1] = {8};
    cr_assert_eq(kern_gguf_writer_add_tensor(w, "x", KERN_WT_F32, 1, ne, d), 0);
    char p[128];
    tpath(p, sizeof p, "al.gguf");
    cr_assert_eq(kern_gguf_writer_write(w, p), 0);
    kern_gguf_writer_free(w);
    size_t len;
    uint8_t *b = slurp(p, &len);
    fields f;
    walk(b, &f);
    aria_store_u32le(b + f.kv_val[0], 48);
    expect_bad(b, len, "power of two", "alignment 48");
    aria_store_u32le(b + f.kv_val[0], 0);
    expect_bad(b, len, "power of two", "alignment 0");
    aria_store_u32le(b + f.kv_type[0], KERN_GGUF_U64);
    expect_bad(b, len, "", "alignment typed u64 (shifts the parse)");
    free(b);
}

Test(gguf_bad, tensor_fields, .init = make_valid, .fini = free_valid)
{
    uint8_t *c = copy_valid();
    aria_store_u64le(c + vf.t_name[0], 100000);
    expect_bad(c, valid_len, "name", "huge tensor name length");
    memcpy(c, valid, valid_len);
    aria_store_u32le(c + vf.t_ndims[0], 5);
    expect_bad(c, valid_len, "n_dims", "5 dims");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + vf.t_ne0[0], 0);
    expect_bad(c, valid_len, "ne[0]", "zero dimension");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + vf.t_ne0[0] + 8, 1ull << 63);
    expect_bad(c, valid_len, "ne[1]", "negative dimension");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + vf.t_ne0[0], 1ull << 40);
    aria_store_u64le(c + vf.t_ne0[0] + 8, 1ull << 40);
    expect_bad(c, valid_len, "overflow", "overflowing dims");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + vf.t_ne0[1], 1ull << 40);
    expect_bad(c, valid_len, "runs past the end", "tensor bigger than the file");
    memcpy(c, valid, valid_len);
    aria_store_u32le(c + vf.t_type[0], 12);
    expect_bad(c, valid_len, "q4_K", "unsupported GGML type");
    memcpy(c, valid, valid_len);
    aria_store_u32le(c + vf.t_type[0], 1000);
    expect_bad(c, valid_len, "type", "unknown tensor type");
    memcpy(c, valid, valid_len);
    aria_store_u32le(c + vf.t_type[0], KERN_WT_TQ2_0); /* ne0 = 8, not a 256-block */
    expect_bad(c, valid_len, "multiple", "row not a whole block");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + vf.t_off[1], ld64(valid + vf.t_off[1]) + 1);
    expect_bad(c, valid_len, "alignment", "misaligned offset");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + vf.t_off[1], 1ull << 60);
    expect_bad(c, valid_len, "runs past the end", "offset outside the file");
    memcpy(c, valid, valid_len);
    aria_store_u64le(c + vf.t_off[2], ld64(valid + vf.t_off[1]));
    expect_bad(c, valid_len, "overlaps", "overlapping tensors");
    memcpy(c, valid, valid_len);
    /* duplicate tensor name: "t.f16" -> "t.f32" */
    memcpy(c + vf.t_name[1] + 8, "t.f32", 5);
    expect_bad(c, valid_len, "duplicate name", "duplicate tensor name");
    free(c);
}

Test(gguf_bad, allocation_failures_are_reported_cleanly, .init = make_valid, .fini = free_valid)
{
    for (long n = 1; n < 200; n++) {
        kern_gguf *g = NULL;
        aria_alloc_fail_after(n, false);
        int rc = kern_gguf_open_mem(valid, valid_len, &g);
        aria_alloc_fail_after(0, false);
        if (rc == 0) {
            kern_gguf_close(g);
            cr_assert_gt(n, 3);
            return;
        }
        cr_assert_eq(rc, ARIA_ENOMEM, "n=%ld rc=%d %s", n, rc, aria_err_msg());
    }
    cr_assert_fail("open never succeeded under failure injection");
}

/* ------------------------------------------------------------------ */
/* The CLI: aria model synth / info                                     */
/* ------------------------------------------------------------------ */

static int
run_cmd(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(gguf_cli, synth_then_info_prints_shapes_params_and_memory, .init = mk_tmpdir,
     .fini = rm_tmpdir)
{
    const char *bin = getenv("ARIA_BIN");
    cr_assert_not_null(bin, "ARIA_BIN not set");
    static char out[1 << 16];
    char cmd[1024], p[128];
    tpath(p, sizeof p, "cli.gguf");
    aria_snprintf(cmd, sizeof cmd,
                  "'%s' model synth --arch bitnet-b1.58 --layers 2 --embd 256 --ff 512 --heads 4 "
                  "--kv-heads 2 --vocab 512 --type tq1_0 --seed 9 -o '%s' 2>&1",
                  bin, p);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 0, "%s", out);
    aria_snprintf(cmd, sizeof cmd, "'%s' model info --ctx 1024 '%s' 2>&1", bin, p);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "architecture: bitnet-b1.58"), "%s", out);
    cr_assert(strstr(out, "blk.1.ffn_down.weight"), "%s", out);
    cr_assert(strstr(out, "tq1_0  [512, 256]"), "%s", out);
    cr_assert(strstr(out, "model gpt2, pre llama-bpe, 512 tokens"), "%s", out);
    /* params: embd 256*512 + norms (256 + 2*(256+256+512)) + 2 layers of
     * (q 256*256 + k,v 2*256*128 + o 256*256 + gate,up 2*256*512 + down 512*256) */
    uint64_t params = 256 * 512 + 256 + 2 * (256 + 256 + 256 + 512) +
                      2 * (65536 + 2 * 32768 + 65536 + 2 * 131072 + 131072);
    char want[96];
    aria_snprintf(want, sizeof want, "parameters: %llu ", (unsigned long long)params);
    cr_assert(strstr(out, want), "want '%s' in %s", want, out);
    /* KV at ctx 1024, f16: 2 * 2 layers * 1024 * 2 kv heads * 64 * 2 bytes */
    aria_snprintf(want, sizeof want, "KV cache (f16):         %d bytes", 2 * 2 * 1024 * 2 * 64 * 2);
    cr_assert(strstr(out, want), "want '%s' in %s", want, out);

    aria_snprintf(cmd, sizeof cmd, "'%s' model 2>&1", bin);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 2);
    aria_snprintf(cmd, sizeof cmd, "'%s' model frob 2>&1", bin);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 2);
    aria_snprintf(cmd, sizeof cmd,
                  "'%s' model synth --arch bitnet --layers 1 --embd 200 --ff 256 --heads 4 "
                  "--vocab 300 --type tq2_0 --seed 1 -o '%s' 2>&1",
                  bin, p);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 2, "%s", out);
    cr_assert(strstr(out, "multiples of 256"), "%s", out);
    spit(p,
         "GGUF\x03\0\0\0\x01\0\0\0\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\x7f"
         "abcd",
         28);
    aria_snprintf(cmd, sizeof cmd, "'%s' model info '%s' 2>&1", bin, p);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "gguf:") && strstr(out, "offset"), "%s", out);
}
