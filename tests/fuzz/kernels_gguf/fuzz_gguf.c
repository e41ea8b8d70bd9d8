/*
 * fuzz_gguf.c — the GGUF reader on arbitrary bytes (kern_gguf_open_mem).
 * When a file is accepted, every getter is exercised and the reader's
 * promises are checked: each tensor's bytes lie inside the input, do not
 * overlap, sit at the declared alignment, and can be dequantized (first
 * rows) without reading outside them. Any violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kern_gguf.h"

static volatile int sink; /* keeps results of calls that may fail */

static void
walk_kv(const kern_gguf *g)
{
    for (size_t i = 0; i < kern_gguf_n_kv(g); i++) {
        kern_gguf_kv kv;
        kern_gguf_kv_at(g, i, &kv);
        if (kern_gguf_find_key(g, kv.key) != (long)i)
            abort();
        if (kv.type == KERN_GGUF_ARRAY) {
            kern_gguf_arr a;
            if (kern_gguf_get_arr(g, kv.key, &a) != 0 || a.n != kv.arr_len)
                abort();
            uint64_t lim = a.n < 64 ? a.n : 64;
            for (uint64_t k = 0; k < lim; k++) {
                const char *s;
                size_t n;
                float f;
                int64_t v;
                if (a.type == KERN_GGUF_STRING) {
                    if (kern_gguf_arr_str(g, &a, a.n - 1 - k, &s, &n) != 0)
                        abort();
                    if (n && (s[0] ^ s[n - 1]) == 0x7f) /* touch both ends */
                        (void)kern_gguf_n_kv(g);
                } else {
                    sink += kern_gguf_arr_f32(g, &a, k, &f);
                    sink += kern_gguf_arr_i64(g, &a, a.n - 1 - k, &v);
                }
            }
        } else if (kv.type == KERN_GGUF_STRING) {
            const char *s;
            size_t n;
            if (kern_gguf_get_str(g, kv.key, &s, &n) != 0 || s[n] != 0)
                abort();
        } else {
            double d;
            uint32_t u;
            int64_t v;
            bool b;
            if (kern_gguf_get_f64(g, kv.key, &d) != 0)
                abort();
            sink += kern_gguf_get_u32(g, kv.key, &u);
            sink += kern_gguf_get_i64(g, kv.key, &v);
            sink += kern_gguf_get_bool(g, kv.key, &b);
        }
    }
}

static float scratch[4096];

static void
walk_tensors(const kern_gguf *g, const uint8_t *data, size_t size)
{
    uint64_t al = kern_gguf_alignment(g);
    for (size_t i = 0; i < kern_gguf_n_tensors(g); i++) {
        const kern_gguf_tensor *t = kern_gguf_tensor_at(g, i);
        if (kern_gguf_tensor_find(g, t->name) != t)
            abort();
        const uint8_t *p = t->data;
        if (p < data || t->nbytes > size || (size_t)(p - data) > size - t->nbytes)
            abort();
        if ((size_t)(p - data) % al != 0 || t->n_dims > 4)
            abort();
        uint64_t want;
        if (kern_wtype_tensor_bytes(t->type, t->n_elems, t->ne[0], &want) != 0 || want != t->nbytes)
            abort();
        for (size_t j = 0; j < i; j++) { /* no overlap with earlier tensors */
            const kern_gguf_tensor *u = kern_gguf_tensor_at(g, j);
            if (t->offset < u->offset + u->nbytes && u->offset < t->offset + t->nbytes &&
                t->nbytes && u->nbytes)
                abort();
        }
        /* dequantize the leading whole rows that fit the scratch */
        size_t be = kern_wtype_block_elems(t->type);
        size_t n = t->ne[0] <= 4096 ? (size_t)t->ne[0] : 4096 / be * be;
        float sc = t->type == KERN_WT_I2_S ? kern_i2s_scale(t->data, t->n_elems) : 0;
        kern_dequant_row(t->type, t->data, scratch, n, sc);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kern_gguf *g = NULL;
    if (kern_gguf_open_mem(data, size, &g) != 0) {
        if (g)
            abort();
        return 0;
    }
    walk_kv(g);
    walk_tensors(g, data, size);
    kern_gguf_close(g);
    return 0;
}
