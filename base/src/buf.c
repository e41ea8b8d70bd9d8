/*
 * buf.c — growable byte writer with sticky errors, and a bounds-checked
 * reader. Reader invariant: a failed read leaves the offset unchanged, so a
 * decoder can report exactly where the input went wrong.
 */
#include "base.h"

#include <stdio.h>
#include <string.h>

void
aria_buf_init(aria_buf *b, size_t max_bytes)
{
    memset(b, 0, sizeof *b);
    b->max = max_bytes ? max_bytes : SIZE_MAX;
}

void
aria_buf_fini(aria_buf *b)
{
    aria_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->err = 0;
}

void
aria_buf_reset(aria_buf *b)
{
    b->len = 0;
    b->err = 0;
}

int
aria_buf_reserve(aria_buf *b, size_t extra)
{
    if (b->err)
        return b->err;
    if (extra > b->max - b->len) {
        b->err = aria_errf(ARIA_EFULL, "buffer: %zu more bytes would exceed the %zu-byte limit",
                           extra, b->max);
        return b->err;
    }
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max)
        cap = b->max;
    uint8_t *p = aria_realloc(b->data, cap);
    if (!p) {
        b->err = aria_errf(ARIA_ENOMEM, "buffer: cannot grow to %zu bytes", cap);
        return b->err;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int
aria_buf_take(aria_buf *b, uint8_t **out, size_t *out_len)
{
    if (b->err)
        return b->err;
    if (!b->data) {
        int rc = aria_buf_reserve(b, 1);
        if (rc)
            return rc;
    }
    *out = b->data;
    *out_len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return 0;
}

int
aria_buf_put(aria_buf *b, const void *p, size_t n)
{
    int rc = aria_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int
aria_buf_put_u8(aria_buf *b, uint8_t v)
{
    return aria_buf_put(b, &v, 1);
}

int
aria_buf_put_u16le(aria_buf *b, uint16_t v)
{
    uint8_t t[2];
    aria_store_u16le(t, v);
    return aria_buf_put(b, t, sizeof t);
}

int
aria_buf_put_u32le(aria_buf *b, uint32_t v)
{
    uint8_t t[4];
    aria_store_u32le(t, v);
    return aria_buf_put(b, t, sizeof t);
}

int
aria_buf_put_u64le(aria_buf *b, uint64_t v)
{
    uint8_t t[8];
    aria_store_u64le(t, v);
    return aria_buf_put(b, t, sizeof t);
}

int
aria_buf_put_varint(aria_buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        t[n++] = (uint8_t)(byte | (v ? 0x80 : 0));
    } while (v);
    return aria_buf_put(b, t, n);
}

int
aria_buf_put_lenbytes(aria_buf *b, const void *p, size_t n)
{
    int rc = aria_buf_put_varint(b, n);
    if (rc)
        return rc;
    return aria_buf_put(b, p, n);
}

int
aria_buf_printf(aria_buf *b, const char *fmt, ...)
{
    if (b->err)
        return b->err;
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return b->err = aria_errf(ARIA_EINVAL, "buffer: bad format string");
    if ((size_t)n < sizeof small)
        return aria_buf_put(b, small, (size_t)n);
    int rc = aria_buf_reserve(b, (size_t)n + 1);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/* ---- reader ---- */

void
aria_rd_init(aria_rd *r, const void *data, size_t len)
{
    r->data = data;
    r->len = data ? len : 0;
    r->off = 0;
}

size_t
aria_rd_remaining(const aria_rd *r)
{
    return r->len - r->off;
}

static int
short_read(const aria_rd *r, size_t want)
{
    return aria_errf(ARIA_ERANGE, "input ends at offset %zu: needed %zu bytes, %zu left", r->off,
                     want, r->len - r->off);
}

int
aria_rd_bytes(aria_rd *r, size_t n, const uint8_t **p)
{
    if (n > r->len - r->off)
        return short_read(r, n);
    *p = r->data + r->off;
    r->off += n;
    return 0;
}

int
aria_rd_copy(aria_rd *r, void *out, size_t n)
{
    const uint8_t *p = NULL;
    int rc = aria_rd_bytes(r, n, &p);
    if (rc)
        return rc;
    if (n)
        memcpy(out, p, n);
    return 0;
}

int
aria_rd_skip(aria_rd *r, size_t n)
{
    const uint8_t *p = NULL;
    return aria_rd_bytes(r, n, &p);
}

int
aria_rd_u8(aria_rd *r, uint8_t *v)
{
    const uint8_t *p = NULL;
    int rc = aria_rd_bytes(r, 1, &p);
    if (rc)
        return rc;
    *v = p[0];
    return 0;
}

int
aria_rd_u16le(aria_rd *r, uint16_t *v)
{
    const uint8_t *p = NULL;
    int rc = aria_rd_bytes(r, 2, &p);
    if (rc)
        return rc;
    *v = aria_load_u16le(p);
    return 0;
}

int
aria_rd_u32le(aria_rd *r, uint32_t *v)
{
    const uint8_t *p = NULL;
    int rc = aria_rd_bytes(r, 4, &p);
    if (rc)
        return rc;
    *v = aria_load_u32le(p);
    return 0;
}

int
aria_rd_u64le(aria_rd *r, uint64_t *v)
{
    const uint8_t *p = NULL;
    int rc = aria_rd_bytes(r, 8, &p);
    if (rc)
        return rc;
    *v = aria_load_u64le(p);
    return 0;
}

int
aria_rd_varint(aria_rd *r, uint64_t *v)
{
    uint64_t val = 0;
    size_t off = r->off;
    for (unsigned i = 0; i < 10; i++) {
        if (off >= r->len)
            return aria_errf(ARIA_ERANGE, "varint at offset %zu is cut off after %u bytes", r->off,
                             i);
        uint8_t byte = r->data[off++];
        if (i == 9 && byte > 1)
            return aria_errf(ARIA_EPROTO, "varint at offset %zu does not fit in 64 bits", r->off);
        val |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            if (byte == 0 && i > 0)
                return aria_errf(ARIA_EPROTO, "varint at offset %zu is not minimally encoded",
                                 r->off);
            *v = val;
            r->off = off;
            return 0;
        }
    }
    return aria_errf(ARIA_EPROTO, "varint at offset %zu is longer than 10 bytes", r->off);
}

int
aria_rd_lenbytes(aria_rd *r, size_t max_len, const uint8_t **p, size_t *n)
{
    size_t start = r->off;
    uint64_t len;
    int rc = aria_rd_varint(r, &len);
    if (rc)
        return rc;
    if (len > max_len) {
        r->off = start;
        return aria_errf(ARIA_EPROTO, "length %llu at offset %zu exceeds the limit of %zu",
                         (unsigned long long)len, start, max_len);
    }
    if (len > r->len - r->off) {
        size_t left = r->len - r->off;
        r->off = start;
        return aria_errf(ARIA_ERANGE,
                         "length %llu at offset %zu runs past the end (%zu bytes left)",
                         (unsigned long long)len, start, left);
    }
    *p = r->data + r->off;
    *n = (size_t)len;
    r->off += (size_t)len;
    return 0;
}
