/*
 * gguf.c — GGUF reader: parses and validates the header of a mapped (or
 * borrowed) file, builds the kv and tensor tables, and answers typed
 * queries.
 *
 * Invariants: parsing never reads outside [base, base + size): every read
 * is preceded by a bounds check against the bytes left; every count is
 * checked against the bytes left before anything is allocated for it, so a
 * small hostile file cannot make us allocate much more than its own size.
 * Tensor data is never read here (the reader validates only where it lies).
 * After a successful open the object is immutable.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kern_gguf.h"

#define MAX_KEY_LEN  65535u /* the spec's limit on key length */
#define MAX_NAME_LEN 256u   /* tensor names (llama.cpp allows 63) */

typedef struct kv_entry {
    char *key;
    kern_gguf_vtype type;
    kern_gguf_vtype arr_type;
    uint64_t arr_len;
    uint64_t val_off; /* file offset of the value (array: first element) */
    char *str;        /* scalar STRING: NUL-terminated copy */
    size_t str_len;
    uint64_t *str_offs; /* STRING array: file offset of each element's length */
} kv_entry;

/* Open-addressing hash of names -> index, for lookups and duplicates. */
typedef struct name_index {
    size_t cap; /* power of two; 0 when empty */
    size_t *slot;
} name_index;

struct kern_gguf {
    const uint8_t *base;
    uint64_t size;
    bool mapped;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_off;
    size_t n_kv;
    kv_entry *kv;
    name_index kv_idx;
    size_t n_tensors;
    kern_gguf_tensor *tensors;
    name_index t_idx;
    const char *arch;
};

static const char *const vtype_names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                          "bool", "string", "array", "u64", "i64", "f64"};

const char *
kern_gguf_vtype_name(kern_gguf_vtype t)
{
    return (unsigned)t < ARIA_ARRAY_LEN(vtype_names) ? vtype_names[t] : "?";
}

static size_t
vtype_size(kern_gguf_vtype t)
{
    switch (t) {
    case KERN_GGUF_U8:
    case KERN_GGUF_I8:
    case KERN_GGUF_BOOL: return 1;
    case KERN_GGUF_U16:
    case KERN_GGUF_I16: return 2;
    case KERN_GGUF_U32:
    case KERN_GGUF_I32:
    case KERN_GGUF_F32: return 4;
    case KERN_GGUF_U64:
    case KERN_GGUF_I64:
    case KERN_GGUF_F64: return 8;
    default: return 0;
    }
}

/* Names of GGML types we recognise but do not support, for messages. */
static const char *
ggml_type_name(uint32_t t)
{
    static const char *const names[] = {
        "f32",      "f16",      "q4_0",    "q4_1",  "q4_2",   "q4_3",  "q5_0",  "q5_1",
        "q8_0",     "q8_1",     "q2_K",    "q3_K",  "q4_K",   "q5_K",  "q6_K",  "q8_K",
        "iq2_xxs",  "iq2_xs",   "iq3_xxs", "iq1_s", "iq4_nl", "iq3_s", "iq2_s", "iq4_xs",
        "i8",       "i16",      "i32",     "i64",   "f64",    "iq1_m", "bf16",  "q4_0_4_4",
        "q4_0_4_8", "q4_0_8_8", "tq1_0",   "tq2_0", "i2_s"};
    return t < ARIA_ARRAY_LEN(names) ? names[t] : "unknown";
}

/* ------------------------------------------------------------------ */
/* Name index                                                           */
/* ------------------------------------------------------------------ */

static uint64_t
fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int
index_init(name_index *ix, size_t n)
{
    size_t cap = 8;
    while (cap < 2 * n)
        cap *= 2;
    ix->slot = aria_alloc_array(cap, sizeof(size_t));
    if (!ix->slot)
        return aria_errf(ARIA_ENOMEM, "gguf: out of memory for an index of %zu names", n);
    for (size_t i = 0; i < cap; i++)
        ix->slot[i] = SIZE_MAX;
    ix->cap = cap;
    return 0;
}

/* Find `name`; names_of(i) gives the name of entry i. Returns the entry
 * index or SIZE_MAX; *ins receives the free slot where it would go. */
typedef const char *(*name_of_fn)(const kern_gguf *g, size_t i);

static size_t
index_find(const kern_gguf *g, const name_index *ix, name_of_fn name_of, const char *name,
           size_t *ins)
{
    if (ix->cap == 0)
        return SIZE_MAX;
    size_t mask = ix->cap - 1;
    for (size_t h = (size_t)fnv1a(name) & mask;; h = (h + 1) & mask) {
        size_t e = ix->slot[h];
        if (e == SIZE_MAX) {
            if (ins)
                *ins = h;
            return SIZE_MAX;
        }
        if (strcmp(name_of(g, e), name) == 0)
            return e;
    }
}

static const char *
kv_name(const kern_gguf *g, size_t i)
{
    return g->kv[i].key;
}

static const char *
tensor_name(const kern_gguf *g, size_t i)
{
    return g->tensors[i].name;
}

/* ------------------------------------------------------------------ */
/* Cursor over the file with field-naming errors                        */
/* ------------------------------------------------------------------ */

typedef struct cur {
    const uint8_t *p;
    uint64_t len;
    uint64_t off;
} cur;

static int
need(const cur *c, uint64_t n, const char *what)
{
    if (n > c->len - c->off)
        return aria_errf(ARIA_ERANGE,
                         "gguf: %s at offset %" PRIu64 ": needs %" PRIu64
                         " bytes but the file ends at %" PRIu64,
                         what, c->off, n, c->len);
    return 0;
}

static int
rd_u32(cur *c, uint32_t *v, const char *what)
{
    int rc = need(c, 4, what);
    if (rc)
        return rc;
    *v = aria_load_u32le(c->p + c->off);
    c->off += 4;
    return 0;
}

static int
rd_u64(cur *c, uint64_t *v, const char *what)
{
    int rc = need(c, 8, what);
    if (rc)
        return rc;
    *v = aria_load_u64le(c->p + c->off);
    c->off += 8;
    return 0;
}

/* A GGUF string: u64 length + bytes. Checks len <= max and against the
 * bytes left; *at is the offset of the bytes. */
static int
rd_str(cur *c, uint64_t max, const char *what, uint64_t *at, uint64_t *len)
{
    uint64_t start = c->off, n;
    int rc = rd_u64(c, &n, what);
    if (rc)
        return rc;
    if (n > max) {
        c->off = start;
        return aria_errf(ARIA_EPROTO,
                         "gguf: %s at offset %" PRIu64 ": length %" PRIu64
                         " exceeds the limit %" PRIu64,
                         what, start, n, max);
    }
    if (n > c->len - c->off) {
        c->off = start;
        return aria_errf(ARIA_ERANGE,
                         "gguf: %s at offset %" PRIu64 ": length %" PRIu64
                         " runs past the end of the file (%" PRIu64 " bytes left)",
                         what, start, n, c->len - start - 8);
    }
    *at = c->off;
    *len = n;
    c->off += n;
    return 0;
}

/* Copy a name/key to a NUL-terminated string, rejecting empty names and
 * embedded NUL bytes (we look names up as C strings). */
static int
copy_name(const cur *c, uint64_t at, uint64_t len, const char *what, char **out)
{
    if (len == 0)
        return aria_errf(ARIA_EPROTO, "gguf: %s at offset %" PRIu64 " is empty", what, at - 8);
    if (memchr(c->p + at, 0, len))
        return aria_errf(ARIA_EPROTO, "gguf: %s at offset %" PRIu64 " contains a NUL byte", what,
                         at - 8);
    *out = aria_strndup((const char *)c->p + at, (size_t)len);
    if (!*out)
        return aria_errf(ARIA_ENOMEM, "gguf: out of memory");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                              */
/* ------------------------------------------------------------------ */

static int
parse_value(kern_gguf *g, cur *c, kv_entry *e, const char *ctx)
{
    char what[160];
    if (e->type == KERN_GGUF_STRING) {
        uint64_t at, len;
        aria_snprintf(what, sizeof what, "kv %s: string value", ctx);
        int rc = rd_str(c, UINT64_MAX, what, &at, &len);
        if (rc)
            return rc;
        e->val_off = at;
        e->str_len = (size_t)len;
        /* not strndup: the value may hold NUL bytes and keeps its length */
        e->str = aria_alloc((size_t)len + 1);
        if (!e->str)
            return aria_errf(ARIA_ENOMEM, "gguf: out of memory");
        memcpy(e->str, c->p + at, (size_t)len);
        e->str[len] = 0;
        return 0;
    }
    if (e->type == KERN_GGUF_ARRAY) {
        uint32_t at32;
        uint64_t n, tpos = c->off;
        aria_snprintf(what, sizeof what, "kv %s: array element type", ctx);
        int rc = rd_u32(c, &at32, what);
        if (rc)
            return rc;
        if (at32 == KERN_GGUF_ARRAY)
            return aria_errf(ARIA_EPROTO,
                             "gguf: kv %s: array element type at offset %" PRIu64
                             " is array: nested arrays are not supported",
                             ctx, tpos);
        if (at32 > KERN_GGUF_F64)
            return aria_errf(ARIA_EPROTO,
                             "gguf: kv %s: array element type at offset %" PRIu64
                             " is %u, not a GGUF value type (0..12)",
                             ctx, tpos, at32);
        e->arr_type = (kern_gguf_vtype)at32;
        uint64_t npos = c->off;
        aria_snprintf(what, sizeof what, "kv %s: array length", ctx);
        if ((rc = rd_u64(c, &n, what)) != 0)
            return rc;
        e->arr_len = n;
        e->val_off = c->off;
        uint64_t left = c->len - c->off;
        if (e->arr_type != KERN_GGUF_STRING) {
            size_t es = vtype_size(e->arr_type);
            if (n > left / es)
                return aria_errf(ARIA_ERANGE,
                                 "gguf: kv %s: array length %" PRIu64 " at offset %" PRIu64
                                 " needs %" PRIu64 "+ bytes but only %" PRIu64 " are left",
                                 ctx, n, npos, n > UINT64_MAX / es ? UINT64_MAX : n * es, left);
            if (e->arr_type == KERN_GGUF_BOOL)
                for (uint64_t i = 0; i < n; i++)
                    if (c->p[c->off + i] > 1)
                        return aria_errf(ARIA_EPROTO,
                                         "gguf: kv %s: bool element %" PRIu64 " at offset %" PRIu64
                                         " is %u, not 0 or 1",
                                         ctx, i, c->off + i, c->p[c->off + i]);
            c->off += n * es;
            return 0;
        }
        /* each string element takes at least its 8-byte length */
        if (n > left / 8)
            return aria_errf(ARIA_ERANGE,
                             "gguf: kv %s: string array length %" PRIu64 " at offset %" PRIu64
                             " cannot fit in the %" PRIu64 " bytes left",
                             ctx, n, npos, left);
        e->str_offs = aria_alloc_array((size_t)(n ? n : 1), sizeof(uint64_t));
        if (!e->str_offs)
            return aria_errf(ARIA_ENOMEM, "gguf: out of memory for %" PRIu64 " strings", n);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t at, len;
            e->str_offs[i] = c->off;
            aria_snprintf(what, sizeof what, "kv %s: string element %" PRIu64, ctx, i);
            if ((rc = rd_str(c, UINT64_MAX, what, &at, &len)) != 0)
                return rc;
        }
        return 0;
    }
    size_t es = vtype_size(e->type);
    aria_snprintf(what, sizeof what, "kv %s: %s value", ctx, kern_gguf_vtype_name(e->type));
    int rc = need(c, es, what);
    if (rc)
        return rc;
    if (e->type == KERN_GGUF_BOOL && c->p[c->off] > 1)
        return aria_errf(ARIA_EPROTO,
                         "gguf: kv %s: bool value at offset %" PRIu64 " is %u, not 0 or 1", ctx,
                         c->off, c->p[c->off]);
    e->val_off = c->off;
    c->off += es;
    return 0;
}

static int
parse_kvs(kern_gguf *g, cur *c, uint64_t n_kv, uint64_t n_kv_off)
{
    /* a kv takes at least 8 (key length) + 1 (key) + 4 (type) + 1 bytes */
    if (n_kv > (c->len - c->off) / 14)
        return aria_errf(ARIA_ERANGE,
                         "gguf: header kv count %" PRIu64 " at offset %" PRIu64
                         " cannot fit in the %" PRIu64 " bytes left",
                         n_kv, n_kv_off, c->len - c->off);
    g->kv = aria_calloc((size_t)(n_kv ? n_kv : 1), sizeof(kv_entry));
    if (!g->kv)
        return aria_errf(ARIA_ENOMEM, "gguf: out of memory for %" PRIu64 " kv pairs", n_kv);
    int rc = index_init(&g->kv_idx, (size_t)n_kv);
    if (rc)
        return rc;
    for (uint64_t i = 0; i < n_kv; i++) {
        kv_entry *e = &g->kv[i];
        char what[160];
        uint64_t kpos = c->off, at, len;
        aria_snprintf(what, sizeof what, "kv %" PRIu64 ": key", i);
        if ((rc = rd_str(c, MAX_KEY_LEN, what, &at, &len)) != 0)
            return rc;
        if ((rc = copy_name(c, at, len, what, &e->key)) != 0)
            return rc;
        g->n_kv = (size_t)i + 1; /* so close() frees what we built */
        size_t ins = 0;
        if (index_find(g, &g->kv_idx, kv_name, e->key, &ins) != SIZE_MAX)
            return aria_errf(ARIA_EPROTO,
                             "gguf: kv %" PRIu64 ": duplicate key '%s' at offset %" PRIu64, i,
                             e->key, kpos);
        g->kv_idx.slot[ins] = (size_t)i;
        char ctx[128];
        aria_snprintf(ctx, sizeof ctx, "%" PRIu64 " '%.80s'", i, e->key);
        uint32_t t;
        uint64_t tpos = c->off;
        aria_snprintf(what, sizeof what, "kv %s: value type", ctx);
        if ((rc = rd_u32(c, &t, what)) != 0)
            return rc;
        if (t > KERN_GGUF_F64)
            return aria_errf(ARIA_EPROTO,
                             "gguf: kv %s: value type at offset %" PRIu64
                             " is %u, not a GGUF value type (0..12)",
                             ctx, tpos, t);
        e->type = (kern_gguf_vtype)t;
        if ((rc = parse_value(g, c, e, ctx)) != 0)
            return rc;
    }
    return 0;
}

static int
parse_alignment(kern_gguf *g)
{
    g->alignment = KERN_GGUF_DEFAULT_ALIGNMENT;
    long i = kern_gguf_find_key(g, "general.alignment");
    if (i < 0)
        return 0;
    const kv_entry *e = &g->kv[i];
    if (e->type != KERN_GGUF_U32)
        return aria_errf(ARIA_EPROTO,
                         "gguf: kv 'general.alignment' at offset %" PRIu64
                         " has type %s, expected u32",
                         e->val_off, kern_gguf_vtype_name(e->type));
    uint32_t a = aria_load_u32le(g->base + e->val_off);
    if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 30))
        return aria_errf(ARIA_EPROTO,
                         "gguf: kv 'general.alignment' at offset %" PRIu64
                         " is %u, not a power of two <= 2^30",
                         e->val_off, a);
    g->alignment = a;
    return 0;
}

static int
parse_tensor_info(kern_gguf *g, cur *c, uint64_t i, kern_gguf_tensor *t, uint64_t *type_off,
                  uint64_t *off_off)
{
    char what[160];
    uint64_t at, len;
    aria_snprintf(what, sizeof what, "tensor %" PRIu64 ": name", i);
    int rc = rd_str(c, MAX_NAME_LEN, what, &at, &len);
    if (rc)
        return rc;
    char *name = NULL;
    if ((rc = copy_name(c, at, len, what, &name)) != 0)
        return rc;
    t->name = name;
    char ctx[128];
    aria_snprintf(ctx, sizeof ctx, "tensor %" PRIu64 " '%.80s'", i, name);
    uint64_t dpos = c->off;
    aria_snprintf(what, sizeof what, "%s: n_dims", ctx);
    if ((rc = rd_u32(c, &t->n_dims, what)) != 0)
        return rc;
    if (t->n_dims > KERN_GGUF_MAX_DIMS)
        return aria_errf(ARIA_EPROTO, "gguf: %s: n_dims at offset %" PRIu64 " is %u, more than %d",
                         ctx, dpos, t->n_dims, KERN_GGUF_MAX_DIMS);
    uint64_t n = 1;
    for (uint32_t d = 0; d < KERN_GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims)
            continue;
        uint64_t npos = c->off;
        aria_snprintf(what, sizeof what, "%s: ne[%u]", ctx, d);
        if ((rc = rd_u64(c, &t->ne[d], what)) != 0)
            return rc;
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
            return aria_errf(ARIA_EPROTO,
                             "gguf: %s: ne[%u] at offset %" PRIu64 " is %" PRIu64
                             ", not in 1..2^63-1",
                             ctx, d, npos, t->ne[d]);
        if (n > (uint64_t)INT64_MAX / t->ne[d])
            return aria_errf(
                ARIA_EPROTO,
                "gguf: %s: dimensions overflow: the element count passes 2^63 at ne[%u] "
                "(offset %" PRIu64 ")",
                ctx, d, npos);
        n *= t->ne[d];
    }
    t->n_elems = n;
    uint32_t ty;
    *type_off = c->off;
    aria_snprintf(what, sizeof what, "%s: type", ctx);
    if ((rc = rd_u32(c, &ty, what)) != 0)
        return rc;
    if (!kern_wtype_valid(ty))
        return aria_errf(ARIA_EPROTO,
                         "gguf: %s: type at offset %" PRIu64
                         " is %u (%s), not one of f32 f16 bf16 q8_0 tq1_0 tq2_0 i2_s",
                         ctx, *type_off, ty, ggml_type_name(ty));
    t->type = (kern_wtype)ty;
    *off_off = c->off;
    aria_snprintf(what, sizeof what, "%s: data offset", ctx);
    if ((rc = rd_u64(c, &t->offset, what)) != 0)
        return rc;
    rc = kern_wtype_tensor_bytes(t->type, n, t->ne[0], &t->nbytes);
    if (rc) {
        char why[256];
        aria_snprintf(why, sizeof why, "%s", aria_err_msg());
        return aria_errf(ARIA_EPROTO, "gguf: %s (type at offset %" PRIu64 "): %s", ctx, *type_off,
                         why);
    }
    (void)g;
    return 0;
}

static int
cmp_by_offset(const void *a, const void *b, void *ctx)
{
    const kern_gguf_tensor *ts = ctx;
    uint64_t oa = ts[*(const size_t *)a].offset, ob = ts[*(const size_t *)b].offset;
    return oa < ob ? -1 : oa > ob;
}

static int
parse_tensors(kern_gguf *g, cur *c, uint64_t n_t, uint64_t n_t_off)
{
    /* a tensor info takes at least 8+1 (name) + 4 + 4 + 8 bytes */
    if (n_t > (c->len - c->off) / 25)
        return aria_errf(ARIA_ERANGE,
                         "gguf: header tensor count %" PRIu64 " at offset %" PRIu64
                         " cannot fit in the %" PRIu64 " bytes left",
                         n_t, n_t_off, c->len - c->off);
    g->tensors = aria_calloc((size_t)(n_t ? n_t : 1), sizeof(kern_gguf_tensor));
    uint64_t *offpos = aria_alloc_array((size_t)(n_t ? n_t : 1), sizeof(uint64_t));
    size_t *order = aria_alloc_array((size_t)(n_t ? n_t : 1), sizeof(size_t));
    int rc = 0;
    if (!g->tensors || !offpos || !order) {
        rc = aria_errf(ARIA_ENOMEM, "gguf: out of memory for %" PRIu64 " tensors", n_t);
        goto out;
    }
    if ((rc = index_init(&g->t_idx, (size_t)n_t)) != 0)
        goto out;
    for (uint64_t i = 0; i < n_t; i++) {
        kern_gguf_tensor *t = &g->tensors[i];
        uint64_t npos = c->off, tpos;
        rc = parse_tensor_info(g, c, i, t, &tpos, &offpos[i]);
        g->n_tensors = (size_t)i + 1;
        if (rc)
            goto out;
        size_t ins = 0;
        if (index_find(g, &g->t_idx, tensor_name, t->name, &ins) != SIZE_MAX) {
            rc = aria_errf(ARIA_EPROTO,
                           "gguf: tensor %" PRIu64 ": duplicate name '%s' at offset %" PRIu64, i,
                           t->name, npos);
            goto out;
        }
        g->t_idx.slot[ins] = (size_t)i;
    }
    /* the data section starts at the next multiple of the alignment */
    uint64_t a = g->alignment;
    uint64_t pad = (a - c->off % a) % a;
    g->data_off = c->off + pad;
    if (g->data_off > g->size && n_t > 0) {
        rc = aria_errf(ARIA_ERANGE,
                       "gguf: data section would start at offset %" PRIu64
                       " (after the tensor infos, aligned to %" PRIu64
                       ") past the end of the file (%" PRIu64 " bytes)",
                       g->data_off, a, g->size);
        goto out;
    }
    uint64_t data_len = g->data_off <= g->size ? g->size - g->data_off : 0;
    for (uint64_t i = 0; i < n_t; i++) {
        kern_gguf_tensor *t = &g->tensors[i];
        if (t->offset % a != 0) {
            rc = aria_errf(ARIA_EPROTO,
                           "gguf: tensor %" PRIu64 " '%s': data offset %" PRIu64
                           " (field at offset %" PRIu64
                           ") is not a multiple of the alignment %" PRIu64,
                           i, t->name, t->offset, offpos[i], a);
            goto out;
        }
        if (t->offset > data_len || t->nbytes > data_len - t->offset) {
            rc = aria_errf(ARIA_ERANGE,
                           "gguf: tensor %" PRIu64 " '%s': data [%" PRIu64 ", +%" PRIu64
                           ") (offset field at %" PRIu64
                           ") runs past the end of the data section (%" PRIu64
                           " bytes at file offset %" PRIu64 ")",
                           i, t->name, t->offset, t->nbytes, offpos[i], data_len, g->data_off);
            goto out;
        }
        t->file_offset = g->data_off + t->offset;
        t->data = g->base + t->file_offset;
        order[i] = (size_t)i;
    }
    qsort_r(order, (size_t)n_t, sizeof(size_t), cmp_by_offset, g->tensors);
    for (uint64_t k = 1; k < n_t; k++) {
        const kern_gguf_tensor *p = &g->tensors[order[k - 1]], *q = &g->tensors[order[k]];
        if (p->offset + p->nbytes > q->offset) {
            rc =
                aria_errf(ARIA_EPROTO,
                          "gguf: tensor %zu '%s' data [%" PRIu64 ", +%" PRIu64
                          ") overlaps tensor %zu '%s' at %" PRIu64 " (offset field at %" PRIu64 ")",
                          order[k], q->name, q->offset, q->nbytes, order[k - 1], p->name, p->offset,
                          offpos[order[k]]);
            goto out;
        }
    }
out:
    aria_free(offpos);
    aria_free(order);
    return rc;
}

static int
parse(kern_gguf *g)
{
    cur c = {g->base, g->size, 0};
    uint32_t magic;
    int rc = rd_u32(&c, &magic, "header magic");
    if (rc)
        return rc;
    if (magic != KERN_GGUF_MAGIC)
        return aria_errf(ARIA_EPROTO,
                         "gguf: header magic at offset 0 is %02x %02x %02x %02x, not \"GGUF\"",
                         g->base[0], g->base[1], g->base[2], g->base[3]);
    if ((rc = rd_u32(&c, &g->version, "header version")) != 0)
        return rc;
    if (g->version != 2 && g->version != 3)
        return aria_errf(
            ARIA_EPROTO,
            "gguf: header version at offset 4 is %u; only versions 2 and 3 are supported",
            g->version);
    uint64_t n_t, n_kv;
    if ((rc = rd_u64(&c, &n_t, "header tensor count")) != 0)
        return rc;
    if ((rc = rd_u64(&c, &n_kv, "header kv count")) != 0)
        return rc;
    if ((rc = parse_kvs(g, &c, n_kv, 16)) != 0)
        return rc;
    if ((rc = parse_alignment(g)) != 0)
        return rc;
    if ((rc = parse_tensors(g, &c, n_t, 8)) != 0)
        return rc;
    long ai = kern_gguf_find_key(g, "general.architecture");
    if (ai >= 0 && g->kv[ai].type == KERN_GGUF_STRING)
        g->arch = g->kv[ai].str;
    return 0;
}

void
kern_gguf_close(kern_gguf *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_kv; i++) {
        aria_free(g->kv[i].key);
        aria_free(g->kv[i].str);
        aria_free(g->kv[i].str_offs);
    }
    aria_free(g->kv);
    for (size_t i = 0; i < g->n_tensors; i++)
        aria_free((char *)g->tensors[i].name);
    aria_free(g->tensors);
    aria_free(g->kv_idx.slot);
    aria_free(g->t_idx.slot);
    if (g->mapped && g->size > 0)
        munmap((void *)g->base, (size_t)g->size);
    aria_free(g);
}

static int
open_common(kern_gguf *g, kern_gguf **out)
{
    int rc = parse(g);
    if (rc) {
        kern_gguf_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

int
kern_gguf_open_mem(const void *data, size_t len, kern_gguf **out)
{
    *out = NULL;
    kern_gguf *g = aria_calloc(1, sizeof *g);
    if (!g)
        return aria_errf(ARIA_ENOMEM, "gguf: out of memory");
    g->base = data;
    g->size = len;
    return open_common(g, out);
}

int
kern_gguf_open(const char *path, kern_gguf **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return aria_errf(errno == ENOENT ? ARIA_ENOTFOUND : ARIA_EIO, "gguf: cannot open %s: %s",
                         path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return aria_errf(ARIA_EIO, "gguf: cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return aria_errf(ARIA_EINVAL, "gguf: %s is not a regular file", path);
    }
    if (st.st_size < 24) {
        close(fd);
        return aria_errf(ARIA_ERANGE,
                         "gguf: %s: file of %lld bytes is too short for a GGUF header (24 bytes)",
                         path, (long long)st.st_size);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return aria_errf(ARIA_EIO, "gguf: cannot map %s: %s", path, strerror(e));
    kern_gguf *g = aria_calloc(1, sizeof *g);
    if (!g) {
        munmap(p, (size_t)st.st_size);
        return aria_errf(ARIA_ENOMEM, "gguf: out of memory");
    }
    g->base = p;
    g->size = (uint64_t)st.st_size;
    g->mapped = true;
    int rc = open_common(g, out);
    if (rc) {
        char msg[512];
        aria_snprintf(msg, sizeof msg, "%s", aria_err_msg());
        return aria_errf(rc, "%s: %s", path, msg);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Queries                                                              */
/* ------------------------------------------------------------------ */

uint32_t
kern_gguf_version(const kern_gguf *g)
{
    return g->version;
}
uint32_t
kern_gguf_alignment(const kern_gguf *g)
{
    return g->alignment;
}
uint64_t
kern_gguf_data_offset(const kern_gguf *g)
{
    return g->data_off;
}
uint64_t
kern_gguf_file_size(const kern_gguf *g)
{
    return g->size;
}
const void *
kern_gguf_base(const kern_gguf *g)
{
    return g->base;
}
const char *
kern_gguf_arch(const kern_gguf *g)
{
    return g->arch;
}
size_t
kern_gguf_n_kv(const kern_gguf *g)
{
    return g->n_kv;
}

void
kern_gguf_kv_at(const kern_gguf *g, size_t i, kern_gguf_kv *out)
{
    ARIA_ASSERT(i < g->n_kv);
    const kv_entry *e = &g->kv[i];
    out->key = e->key;
    out->type = e->type;
    out->arr_type = e->arr_type;
    out->arr_len = e->type == KERN_GGUF_ARRAY ? e->arr_len : 0;
}

long
kern_gguf_find_key(const kern_gguf *g, const char *key)
{
    size_t i = index_find(g, &g->kv_idx, kv_name, key, NULL);
    return i == SIZE_MAX ? -1 : (long)i;
}

size_t
kern_gguf_n_tensors(const kern_gguf *g)
{
    return g->n_tensors;
}

const kern_gguf_tensor *
kern_gguf_tensor_at(const kern_gguf *g, size_t i)
{
    ARIA_ASSERT(i < g->n_tensors);
    return &g->tensors[i];
}

const kern_gguf_tensor *
kern_gguf_tensor_find(const kern_gguf *g, const char *name)
{
    size_t i = index_find(g, &g->t_idx, tensor_name, name, NULL);
    return i == SIZE_MAX ? NULL : &g->tensors[i];
}

/* A numeric value widened for conversion. */
typedef struct num {
    enum { NUM_U, NUM_I, NUM_F } kind;
    uint64_t u;
    int64_t i;
    double f;
} num;

static bool
load_num(kern_gguf_vtype t, const uint8_t *p, num *n)
{
    switch (t) {
    case KERN_GGUF_U8:
    case KERN_GGUF_BOOL: n->kind = NUM_U, n->u = p[0]; return true;
    case KERN_GGUF_U16: n->kind = NUM_U, n->u = aria_load_u16le(p); return true;
    case KERN_GGUF_U32: n->kind = NUM_U, n->u = aria_load_u32le(p); return true;
    case KERN_GGUF_U64: n->kind = NUM_U, n->u = aria_load_u64le(p); return true;
    case KERN_GGUF_I8: n->kind = NUM_I, n->i = (int8_t)p[0]; return true;
    case KERN_GGUF_I16: n->kind = NUM_I, n->i = (int16_t)aria_load_u16le(p); return true;
    case KERN_GGUF_I32: n->kind = NUM_I, n->i = (int32_t)aria_load_u32le(p); return true;
    case KERN_GGUF_I64: n->kind = NUM_I, n->i = (int64_t)aria_load_u64le(p); return true;
    case KERN_GGUF_F32: {
        uint32_t b = aria_load_u32le(p);
        float f;
        memcpy(&f, &b, 4);
        n->kind = NUM_F, n->f = f;
        return true;
    }
    case KERN_GGUF_F64: {
        uint64_t b = aria_load_u64le(p);
        memcpy(&n->f, &b, 8);
        n->kind = NUM_F;
        return true;
    }
    default: return false;
    }
}

static int
num_to_u64(const num *n, uint64_t max, const char *what, uint64_t *out)
{
    if (n->kind == NUM_F)
        return aria_errf(ARIA_EPROTO, "gguf: %s is a float, expected an integer", what);
    if (n->kind == NUM_I && n->i < 0)
        return aria_errf(ARIA_EPROTO, "gguf: %s is %lld, expected a non-negative integer", what,
                         (long long)n->i);
    uint64_t v = n->kind == NUM_U ? n->u : (uint64_t)n->i;
    if (v > max)
        return aria_errf(ARIA_EPROTO, "gguf: %s is %llu, more than %llu", what,
                         (unsigned long long)v, (unsigned long long)max);
    *out = v;
    return 0;
}

static int
num_to_i64(const num *n, int64_t min, int64_t max, const char *what, int64_t *out)
{
    if (n->kind == NUM_F)
        return aria_errf(ARIA_EPROTO, "gguf: %s is a float, expected an integer", what);
    if (n->kind == NUM_U && n->u > (uint64_t)max)
        return aria_errf(ARIA_EPROTO, "gguf: %s is %llu, more than %lld", what,
                         (unsigned long long)n->u, (long long)max);
    int64_t v = n->kind == NUM_U ? (int64_t)n->u : n->i;
    if (v < min || v > max)
        return aria_errf(ARIA_EPROTO, "gguf: %s is %lld, outside [%lld, %lld]", what, (long long)v,
                         (long long)min, (long long)max);
    *out = v;
    return 0;
}

static int
get_num(const kern_gguf *g, const char *key, num *n)
{
    long i = kern_gguf_find_key(g, key);
    if (i < 0)
        return aria_errf(ARIA_ENOTFOUND, "gguf: key '%s' not found", key);
    const kv_entry *e = &g->kv[i];
    if (!load_num(e->type, g->base + e->val_off, n))
        return aria_errf(ARIA_EPROTO, "gguf: key '%s' has type %s, expected a number", key,
                         kern_gguf_vtype_name(e->type));
    return 0;
}

int
kern_gguf_get_u64(const kern_gguf *g, const char *key, uint64_t *out)
{
    num n;
    int rc = get_num(g, key, &n);
    char what[160];
    aria_snprintf(what, sizeof what, "key '%s'", key);
    return rc ? rc : num_to_u64(&n, UINT64_MAX, what, out);
}

int
kern_gguf_get_u32(const kern_gguf *g, const char *key, uint32_t *out)
{
    num n;
    uint64_t v;
    int rc = get_num(g, key, &n);
    char what[160];
    aria_snprintf(what, sizeof what, "key '%s'", key);
    if (rc || (rc = num_to_u64(&n, UINT32_MAX, what, &v)) != 0)
        return rc;
    *out = (uint32_t)v;
    return 0;
}

int
kern_gguf_get_i64(const kern_gguf *g, const char *key, int64_t *out)
{
    num n;
    int rc = get_num(g, key, &n);
    char what[160];
    aria_snprintf(what, sizeof what, "key '%s'", key);
    return rc ? rc : num_to_i64(&n, INT64_MIN, INT64_MAX, what, out);
}

int
kern_gguf_get_i32(const kern_gguf *g, const char *key, int32_t *out)
{
    num n;
    int64_t v;
    int rc = get_num(g, key, &n);
    char what[160];
    aria_snprintf(what, sizeof what, "key '%s'", key);
    if (rc || (rc = num_to_i64(&n, INT32_MIN, INT32_MAX, what, &v)) != 0)
        return rc;
    *out = (int32_t)v;
    return 0;
}

int
kern_gguf_get_f64(const kern_gguf *g, const char *key, double *out)
{
    num n;
    int rc = get_num(g, key, &n);
    if (rc)
        return rc;
    *out = n.kind == NUM_F ? n.f : n.kind == NUM_U ? (double)n.u : (double)n.i;
    return 0;
}

int
kern_gguf_get_f32(const kern_gguf *g, const char *key, float *out)
{
    double d;
    int rc = kern_gguf_get_f64(g, key, &d);
    if (rc)
        return rc;
    *out = (float)d;
    return 0;
}

int
kern_gguf_get_bool(const kern_gguf *g, const char *key, bool *out)
{
    num n;
    int rc = get_num(g, key, &n);
    if (rc)
        return rc;
    if (n.kind == NUM_F || (n.kind == NUM_U && n.u > 1) ||
        (n.kind == NUM_I && (n.i < 0 || n.i > 1)))
        return aria_errf(ARIA_EPROTO, "gguf: key '%s' is not a bool (or integer 0/1)", key);
    *out = n.kind == NUM_U ? n.u != 0 : n.i != 0;
    return 0;
}

int
kern_gguf_get_str(const kern_gguf *g, const char *key, const char **out, size_t *len)
{
    long i = kern_gguf_find_key(g, key);
    if (i < 0)
        return aria_errf(ARIA_ENOTFOUND, "gguf: key '%s' not found", key);
    const kv_entry *e = &g->kv[i];
    if (e->type != KERN_GGUF_STRING)
        return aria_errf(ARIA_EPROTO, "gguf: key '%s' has type %s, expected string", key,
                         kern_gguf_vtype_name(e->type));
    *out = e->str;
    if (len)
        *len = e->str_len;
    return 0;
}

int
kern_gguf_get_arr(const kern_gguf *g, const char *key, kern_gguf_arr *out)
{
    long i = kern_gguf_find_key(g, key);
    if (i < 0)
        return aria_errf(ARIA_ENOTFOUND, "gguf: key '%s' not found", key);
    const kv_entry *e = &g->kv[i];
    if (e->type != KERN_GGUF_ARRAY)
        return aria_errf(ARIA_EPROTO, "gguf: key '%s' has type %s, expected array", key,
                         kern_gguf_vtype_name(e->type));
    out->type = e->arr_type;
    out->n = e->arr_len;
    out->kv_index = (size_t)i;
    return 0;
}

static int
arr_num(const kern_gguf *g, const kern_gguf_arr *a, uint64_t i, num *n)
{
    ARIA_ASSERT(a->kv_index < g->n_kv);
    const kv_entry *e = &g->kv[a->kv_index];
    if (i >= e->arr_len)
        return aria_errf(ARIA_ERANGE, "gguf: array '%s': index %llu out of range (%llu elements)",
                         e->key, (unsigned long long)i, (unsigned long long)e->arr_len);
    if (!load_num(e->arr_type, g->base + e->val_off + i * vtype_size(e->arr_type), n))
        return aria_errf(ARIA_EPROTO, "gguf: array '%s' holds %s, expected numbers", e->key,
                         kern_gguf_vtype_name(e->arr_type));
    return 0;
}

int
kern_gguf_arr_i64(const kern_gguf *g, const kern_gguf_arr *a, uint64_t i, int64_t *out)
{
    num n;
    int rc = arr_num(g, a, i, &n);
    char what[160];
    aria_snprintf(what, sizeof what, "array '%s' element %llu", g->kv[a->kv_index].key,
                  (unsigned long long)i);
    return rc ? rc : num_to_i64(&n, INT64_MIN, INT64_MAX, what, out);
}

int
kern_gguf_arr_u64(const kern_gguf *g, const kern_gguf_arr *a, uint64_t i, uint64_t *out)
{
    num n;
    int rc = arr_num(g, a, i, &n);
    char what[160];
    aria_snprintf(what, sizeof what, "array '%s' element %llu", g->kv[a->kv_index].key,
                  (unsigned long long)i);
    return rc ? rc : num_to_u64(&n, UINT64_MAX, what, out);
}

int
kern_gguf_arr_f32(const kern_gguf *g, const kern_gguf_arr *a, uint64_t i, float *out)
{
    num n;
    int rc = arr_num(g, a, i, &n);
    if (rc)
        return rc;
    *out = n.kind == NUM_F ? (float)n.f : n.kind == NUM_U ? (float)n.u : (float)n.i;
    return 0;
}

int
kern_gguf_arr_str(const kern_gguf *g, const kern_gguf_arr *a, uint64_t i, const char **s,
                  size_t *len)
{
    ARIA_ASSERT(a->kv_index < g->n_kv);
    const kv_entry *e = &g->kv[a->kv_index];
    if (e->arr_type != KERN_GGUF_STRING)
        return aria_errf(ARIA_EPROTO, "gguf: array '%s' holds %s, expected strings", e->key,
                         kern_gguf_vtype_name(e->arr_type));
    if (i >= e->arr_len)
        return aria_errf(ARIA_ERANGE, "gguf: array '%s': index %llu out of range (%llu elements)",
                         e->key, (unsigned long long)i, (unsigned long long)e->arr_len);
    uint64_t at = e->str_offs[i];
    *len = (size_t)aria_load_u64le(g->base + at);
    *s = (const char *)g->base + at + 8;
    return 0;
}

const void *
kern_gguf_arr_raw(const kern_gguf *g, const kern_gguf_arr *a)
{
    ARIA_ASSERT(a->kv_index < g->n_kv);
    return g->base + g->kv[a->kv_index].val_off;
}
