/*
 * gguf_write.c — GGUF v3 writer. Metadata is serialised into a buffer as
 * it is added; tensors are described up front and their bytes either
 * borrowed (written when reached) or streamed by the caller in order, so a
 * multi-gigabyte model never has to sit in memory.
 *
 * Invariants: output goes to "<path>.tmp.<pid>" and is renamed over `path`
 * only after every byte was written and fsynced; any failure (or free
 * before commit) removes the temporary file. Padding bytes are zero, so the
 * output is a pure function of what was added.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kern_gguf.h"

typedef struct wtensor {
    char *name;
    kern_wtype type;
    uint32_t n_dims;
    uint64_t ne[KERN_GGUF_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
    uint64_t offset;
} wtensor;

struct kern_gguf_writer {
    aria_buf kvbuf; /* serialised kv pairs */
    char **keys;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint32_t alignment;
    /* streaming state */
    FILE *f;
    char *path, *tmp;
    size_t cur;       /* tensor being written */
    uint64_t written; /* bytes of tensor `cur` written */
    uint64_t pos;     /* bytes written to the file */
    int err;          /* sticky stream error */
};

int
kern_gguf_writer_new(kern_gguf_writer **out)
{
    kern_gguf_writer *w = aria_calloc(1, sizeof *w);
    if (!w)
        return aria_errf(ARIA_ENOMEM, "gguf writer: out of memory");
    aria_buf_init(&w->kvbuf, 0);
    w->alignment = KERN_GGUF_DEFAULT_ALIGNMENT;
    *out = w;
    return 0;
}

static void
stream_abort(kern_gguf_writer *w)
{
    if (w->f) {
        fclose(w->f);
        w->f = NULL;
        unlink(w->tmp);
    }
}

void
kern_gguf_writer_free(kern_gguf_writer *w)
{
    if (!w)
        return;
    stream_abort(w);
    aria_buf_fini(&w->kvbuf);
    for (size_t i = 0; i < w->n_kv; i++)
        aria_free(w->keys[i]);
    aria_free(w->keys);
    for (size_t i = 0; i < w->n_t; i++)
        aria_free(w->t[i].name);
    aria_free(w->t);
    aria_free(w->path);
    aria_free(w->tmp);
    aria_free(w);
}

static int
put_str(aria_buf *b, const char *s, size_t n)
{
    aria_buf_put_u64le(b, n);
    return aria_buf_put(b, s, n);
}

/* Register the key (unique) and write key + type. */
static int
kv_begin(kern_gguf_writer *w, const char *key, kern_gguf_vtype type)
{
    if (w->f)
        return aria_errf(ARIA_ESTATE, "gguf writer: kv '%s' added after begin", key);
    size_t klen = strlen(key);
    if (klen == 0 || klen > 65535)
        return aria_errf(ARIA_EINVAL, "gguf writer: key length %zu not in 1..65535", klen);
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return aria_errf(ARIA_EEXIST, "gguf writer: duplicate key '%s'", key);
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        char **k = aria_realloc(w->keys, cap * sizeof *k);
        if (!k)
            return aria_errf(ARIA_ENOMEM, "gguf writer: out of memory");
        w->keys = k;
        w->cap_kv = cap;
    }
    char *copy = aria_strdup(key);
    if (!copy)
        return aria_errf(ARIA_ENOMEM, "gguf writer: out of memory");
    w->keys[w->n_kv++] = copy;
    put_str(&w->kvbuf, key, klen);
    return aria_buf_put_u32le(&w->kvbuf, (uint32_t)type);
}

static int
kv_end(kern_gguf_writer *w)
{
    if (w->kvbuf.err)
        return aria_errf(w->kvbuf.err, "gguf writer: out of memory for metadata");
    return 0;
}

#define ADD_SCALAR(fn, ctype, vt, putexpr)                                                         \
    int fn(kern_gguf_writer *w, const char *key, ctype v)                                          \
    {                                                                                              \
        int rc = kv_begin(w, key, vt);                                                             \
        if (rc)                                                                                    \
            return rc;                                                                             \
        putexpr;                                                                                   \
        return kv_end(w);                                                                          \
    }

ADD_SCALAR(kern_gguf_writer_add_u8, uint8_t, KERN_GGUF_U8, aria_buf_put_u8(&w->kvbuf, v))
ADD_SCALAR(kern_gguf_writer_add_i8, int8_t, KERN_GGUF_I8, aria_buf_put_u8(&w->kvbuf, (uint8_t)v))
ADD_SCALAR(kern_gguf_writer_add_u16, uint16_t, KERN_GGUF_U16, aria_buf_put_u16le(&w->kvbuf, v))
ADD_SCALAR(kern_gguf_writer_add_i16, int16_t, KERN_GGUF_I16,
           aria_buf_put_u16le(&w->kvbuf, (uint16_t)v))
ADD_SCALAR(kern_gguf_writer_add_i32, int32_t, KERN_GGUF_I32,
           aria_buf_put_u32le(&w->kvbuf, (uint32_t)v))
ADD_SCALAR(kern_gguf_writer_add_u64, uint64_t, KERN_GGUF_U64, aria_buf_put_u64le(&w->kvbuf, v))
ADD_SCALAR(kern_gguf_writer_add_i64, int64_t, KERN_GGUF_I64,
           aria_buf_put_u64le(&w->kvbuf, (uint64_t)v))
ADD_SCALAR(kern_gguf_writer_add_bool, bool, KERN_GGUF_BOOL, aria_buf_put_u8(&w->kvbuf, v ? 1 : 0))

int
kern_gguf_writer_add_u32(kern_gguf_writer *w, const char *key, uint32_t v)
{
    if (strcmp(key, "general.alignment") == 0) {
        if (v == 0 || (v & (v - 1)) != 0 || v > (1u << 30))
            return aria_errf(ARIA_EINVAL,
                             "gguf writer: general.alignment %u is not a power of two <= 2^30", v);
    }
    int rc = kv_begin(w, key, KERN_GGUF_U32);
    if (rc)
        return rc;
    aria_buf_put_u32le(&w->kvbuf, v);
    if ((rc = kv_end(w)) != 0)
        return rc;
    if (strcmp(key, "general.alignment") == 0)
        w->alignment = v;
    return 0;
}

int
kern_gguf_writer_add_f32(kern_gguf_writer *w, const char *key, float v)
{
    int rc = kv_begin(w, key, KERN_GGUF_F32);
    if (rc)
        return rc;
    uint32_t b;
    memcpy(&b, &v, 4);
    aria_buf_put_u32le(&w->kvbuf, b);
    return kv_end(w);
}

int
kern_gguf_writer_add_f64(kern_gguf_writer *w, const char *key, double v)
{
    int rc = kv_begin(w, key, KERN_GGUF_F64);
    if (rc)
        return rc;
    uint64_t b;
    memcpy(&b, &v, 8);
    aria_buf_put_u64le(&w->kvbuf, b);
    return kv_end(w);
}

int
kern_gguf_writer_add_str(kern_gguf_writer *w, const char *key, const char *v)
{
    int rc = kv_begin(w, key, KERN_GGUF_STRING);
    if (rc)
        return rc;
    put_str(&w->kvbuf, v, strlen(v));
    return kv_end(w);
}

int
kern_gguf_writer_add_arr(kern_gguf_writer *w, const char *key, kern_gguf_vtype et,
                         const void *elems, size_t n)
{
    if (et == KERN_GGUF_STRING || et == KERN_GGUF_ARRAY || (unsigned)et > KERN_GGUF_F64)
        return aria_errf(ARIA_EINVAL, "gguf writer: kv '%s': element type %d is not numeric", key,
                         (int)et);
    int rc = kv_begin(w, key, KERN_GGUF_ARRAY);
    if (rc)
        return rc;
    aria_buf *b = &w->kvbuf;
    aria_buf_put_u32le(b, (uint32_t)et);
    aria_buf_put_u64le(b, n);
    const uint8_t *p = elems;
    for (size_t i = 0; i < n; i++) {
        switch (et) {
        case KERN_GGUF_U8:
        case KERN_GGUF_I8: aria_buf_put_u8(b, p[i]); break;
        case KERN_GGUF_BOOL: aria_buf_put_u8(b, p[i] ? 1 : 0); break;
        case KERN_GGUF_U16:
        case KERN_GGUF_I16: {
            uint16_t v;
            memcpy(&v, p + 2 * i, 2);
            aria_buf_put_u16le(b, v);
            break;
        }
        case KERN_GGUF_U32:
        case KERN_GGUF_I32:
        case KERN_GGUF_F32: {
            uint32_t v;
            memcpy(&v, p + 4 * i, 4);
            aria_buf_put_u32le(b, v);
            break;
        }
        default: {
            uint64_t v;
            memcpy(&v, p + 8 * i, 8);
            aria_buf_put_u64le(b, v);
            break;
        }
        }
    }
    return kv_end(w);
}

int
kern_gguf_writer_add_arr_str(kern_gguf_writer *w, const char *key, const char *const *strs,
                             const size_t *lens, size_t n)
{
    int rc = kv_begin(w, key, KERN_GGUF_ARRAY);
    if (rc)
        return rc;
    aria_buf_put_u32le(&w->kvbuf, KERN_GGUF_STRING);
    aria_buf_put_u64le(&w->kvbuf, n);
    for (size_t i = 0; i < n; i++)
        put_str(&w->kvbuf, strs[i], lens ? lens[i] : strlen(strs[i]));
    return kv_end(w);
}

int
kern_gguf_writer_add_tensor(kern_gguf_writer *w, const char *name, kern_wtype type, uint32_t n_dims,
                            const uint64_t *ne, const void *data)
{
    if (w->f)
        return aria_errf(ARIA_ESTATE, "gguf writer: tensor '%s' added after begin", name);
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > 256)
        return aria_errf(ARIA_EINVAL, "gguf writer: tensor name length %zu not in 1..256", nlen);
    if (!kern_wtype_valid((uint32_t)type))
        return aria_errf(ARIA_EINVAL, "gguf writer: tensor '%s': unknown type %d", name, (int)type);
    if (n_dims > KERN_GGUF_MAX_DIMS)
        return aria_errf(ARIA_EINVAL, "gguf writer: tensor '%s': %u dims", name, n_dims);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return aria_errf(ARIA_EEXIST, "gguf writer: duplicate tensor '%s'", name);
    wtensor t = {0};
    uint64_t n = 1;
    for (uint32_t d = 0; d < KERN_GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] == 0 || t.ne[d] > (uint64_t)INT64_MAX || n > (uint64_t)INT64_MAX / t.ne[d])
            return aria_errf(ARIA_EINVAL, "gguf writer: tensor '%s': bad dimension ne[%u]", name,
                             d);
        n *= t.ne[d];
    }
    int rc = kern_wtype_tensor_bytes(type, n, t.ne[0], &t.nbytes);
    if (rc) {
        char why[256];
        aria_snprintf(why, sizeof why, "%s", aria_err_msg());
        return aria_errf(rc, "gguf writer: tensor '%s': %s", name, why);
    }
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 32;
        wtensor *nt = aria_realloc(w->t, cap * sizeof *nt);
        if (!nt)
            return aria_errf(ARIA_ENOMEM, "gguf writer: out of memory");
        w->t = nt;
        w->cap_t = cap;
    }
    t.name = aria_strdup(name);
    if (!t.name)
        return aria_errf(ARIA_ENOMEM, "gguf writer: out of memory");
    t.type = type;
    t.n_dims = n_dims;
    t.data = data;
    w->t[w->n_t++] = t;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Output                                                               */
/* ------------------------------------------------------------------ */

static int
out_bytes(kern_gguf_writer *w, const void *p, size_t n)
{
    if (w->err)
        return w->err;
    if (n && fwrite(p, 1, n, w->f) != n) {
        w->err =
            aria_errf(ARIA_EIO, "gguf writer: write to %s failed: %s", w->tmp, strerror(errno));
        return w->err;
    }
    w->pos += n;
    return 0;
}

static int
out_pad(kern_gguf_writer *w)
{
    static const uint8_t zeros[64];
    uint64_t pad = (w->alignment - w->pos % w->alignment) % w->alignment;
    while (pad > 0) {
        size_t k = pad > sizeof zeros ? sizeof zeros : (size_t)pad;
        int rc = out_bytes(w, zeros, k);
        if (rc)
            return rc;
        pad -= k;
    }
    return 0;
}

/* Write borrowed tensors and padding until a streamed tensor needs bytes. */
static int
advance(kern_gguf_writer *w)
{
    while (w->cur < w->n_t) {
        wtensor *t = &w->t[w->cur];
        if (w->written == t->nbytes) {
            int rc = out_pad(w);
            if (rc)
                return rc;
            w->cur++;
            w->written = 0;
            continue;
        }
        if (!t->data)
            return 0;
        const uint8_t *p = t->data;
        while (w->written < t->nbytes) {
            uint64_t k = t->nbytes - w->written;
            if (k > (1u << 30))
                k = 1u << 30;
            int rc = out_bytes(w, p + w->written, (size_t)k);
            if (rc)
                return rc;
            w->written += k;
        }
    }
    return 0;
}

int
kern_gguf_writer_begin(kern_gguf_writer *w, const char *path)
{
    if (w->f)
        return aria_errf(ARIA_ESTATE, "gguf writer: already writing %s", w->path);
    if (w->kvbuf.err)
        return aria_errf(w->kvbuf.err, "gguf writer: metadata buffer failed");
    aria_free(w->path);
    aria_free(w->tmp);
    w->path = aria_strdup(path);
    size_t tl = strlen(path) + 32;
    w->tmp = aria_alloc(tl);
    if (!w->path || !w->tmp)
        return aria_errf(ARIA_ENOMEM, "gguf writer: out of memory");
    aria_snprintf(w->tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    w->f = fopen(w->tmp, "wb");
    if (!w->f)
        return aria_errf(ARIA_EIO, "gguf writer: cannot create %s: %s", w->tmp, strerror(errno));
    w->err = 0;
    w->pos = 0;
    w->cur = 0;
    w->written = 0;
    /* lay out the data section */
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        off += w->t[i].nbytes;
        off += (w->alignment - off % w->alignment) % w->alignment;
    }
    aria_buf h;
    aria_buf_init(&h, 0);
    aria_buf_put_u32le(&h, KERN_GGUF_MAGIC);
    aria_buf_put_u32le(&h, 3);
    aria_buf_put_u64le(&h, w->n_t);
    aria_buf_put_u64le(&h, w->n_kv);
    aria_buf_put(&h, w->kvbuf.data, w->kvbuf.len);
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(&h, t->name, strlen(t->name));
        aria_buf_put_u32le(&h, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            aria_buf_put_u64le(&h, t->ne[d]);
        aria_buf_put_u32le(&h, (uint32_t)t->type);
        aria_buf_put_u64le(&h, t->offset);
    }
    int rc = h.err ? aria_errf(h.err, "gguf writer: out of memory for the header")
                   : out_bytes(w, h.data, h.len);
    aria_buf_fini(&h);
    if (!rc && w->n_t > 0)
        rc = out_pad(w);
    if (!rc)
        rc = advance(w);
    if (rc)
        stream_abort(w);
    return rc;
}

int
kern_gguf_writer_put(kern_gguf_writer *w, const void *p, size_t n)
{
    if (!w->f)
        return aria_errf(ARIA_ESTATE, "gguf writer: put without begin");
    const uint8_t *b = p;
    while (n > 0) {
        if (w->cur >= w->n_t)
            return aria_errf(ARIA_EINVAL, "gguf writer: %zu tensor bytes more than declared", n);
        wtensor *t = &w->t[w->cur];
        uint64_t k = t->nbytes - w->written;
        if (k > n)
            k = n;
        int rc = out_bytes(w, b, (size_t)k);
        if (rc)
            return rc;
        w->written += k;
        b += k;
        n -= (size_t)k;
        if ((rc = advance(w)) != 0)
            return rc;
    }
    return 0;
}

int
kern_gguf_writer_commit(kern_gguf_writer *w)
{
    if (!w->f)
        return aria_errf(ARIA_ESTATE, "gguf writer: commit without begin");
    int rc = advance(w);
    if (!rc && w->cur < w->n_t)
        rc = aria_errf(ARIA_EINVAL,
                       "gguf writer: tensor '%s': %" PRIu64 " of %" PRIu64 " bytes given",
                       w->t[w->cur].name, w->written, w->t[w->cur].nbytes);
    if (!rc && (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0))
        rc = aria_errf(ARIA_EIO, "gguf writer: flushing %s failed: %s", w->tmp, strerror(errno));
    if (rc) {
        stream_abort(w);
        return rc;
    }
    if (fclose(w->f) != 0) {
        w->f = NULL;
        unlink(w->tmp);
        return aria_errf(ARIA_EIO, "gguf writer: closing %s failed: %s", w->tmp, strerror(errno));
    }
    w->f = NULL;
    if (rename(w->tmp, w->path) != 0) {
        int e = errno;
        unlink(w->tmp);
        return aria_errf(ARIA_EIO, "gguf writer: rename %s -> %s failed: %s", w->tmp, w->path,
                         strerror(e));
    }
    /* make the rename durable */
    char *dcopy = aria_strdup(w->path);
    if (dcopy) {
        int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        aria_free(dcopy);
    }
    return 0;
}

int
kern_gguf_writer_write(kern_gguf_writer *w, const char *path)
{
    for (size_t i = 0; i < w->n_t; i++)
        if (!w->t[i].data)
            return aria_errf(ARIA_EINVAL,
                             "gguf writer: tensor '%s' has no data (use begin/put/commit)",
                             w->t[i].name);
    int rc = kern_gguf_writer_begin(w, path);
    return rc ? rc : kern_gguf_writer_commit(w);
}
