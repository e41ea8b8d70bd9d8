/*
 * base.h — the few things every ARIA module needs: error codes with a
 * per-thread detail message, leveled logging with stable message ids,
 * the allocation seam (with failure injection for tests), bounds-checked
 * byte readers and writers, injectable clocks, and hex.
 *
 * Invariants:
 *  - Every fallible function returns 0 (or a count) on success and a
 *    negative ARIA_E* code on failure; results go through out-parameters.
 *  - Bytes from outside (network, disk, users) never reach ARIA_ASSERT: they
 *    get ARIA_EPROTO / ARIA_EINVAL plus a detail message set with aria_errf().
 *  - Nothing here depends on any other module or third-party library.
 */
#ifndef ARIA_BASE_H
#define ARIA_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Attributes                                                           */
/* ------------------------------------------------------------------ */

#define ARIA_MUST_CHECK   __attribute__((warn_unused_result))
#define ARIA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ARIA_UNUSED(x)    ((void)(x))
#define ARIA_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A broken contract (a bug in the caller or in ARIA) aborts with the
 * location. Never use this for data that came from outside. */
#define ARIA_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            aria_assert_fail(#cond, __FILE__, __LINE__, __func__);                                 \
    } while (0)

_Noreturn void aria_assert_fail(const char *expr, const char *file, int line, const char *func);

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

enum {
    ARIA_OK = 0,
    ARIA_EINVAL = -1,        /* invalid argument or user input */
    ARIA_ENOMEM = -2,        /* allocation failed */
    ARIA_EIO = -3,           /* I/O error from the OS */
    ARIA_EPROTO = -4,        /* malformed bytes from a peer, file or user */
    ARIA_ENOTFOUND = -5,     /* no such item */
    ARIA_EEXIST = -6,        /* item already exists */
    ARIA_ERANGE = -7,        /* value or read out of range / truncated input */
    ARIA_ETIMEDOUT = -8,     /* deadline passed */
    ARIA_ECRYPTO = -9,       /* bad signature, failed authentication */
    ARIA_EFULL = -10,        /* a bounded store, queue or map is full */
    ARIA_EAGAIN = -11,       /* try again later */
    ARIA_ECLOSED = -12,      /* the object or connection is closed */
    ARIA_EPERM = -13,        /* not permitted */
    ARIA_EUNSUPPORTED = -14, /* valid but not supported by this build */
    ARIA_ESTATE = -15,       /* operation not valid in the current state */
    ARIA_ECANCELED = -16,    /* canceled */
    ARIA_EFUNDS = -17,       /* insufficient credits */
    ARIA_EINTERNAL = -18,    /* an error that should not happen */
};

/* A short, static description of an ARIA_E* code. Never returns NULL; an
 * unknown code gives "unknown error". */
const char *aria_strerror(int err);

/* Set this thread's error detail message (printf style) and return `err`,
 * so callers can write `return aria_errf(ARIA_EPROTO, "gguf: ...", ...)`.
 * The message should name what is wrong: the field, key, file or offset. */
int aria_errf(int err, const char *fmt, ...) ARIA_PRINTF(2, 3);
int aria_verrf(int err, const char *fmt, va_list ap);

/* This thread's last detail message, or "" if none was set since the last
 * aria_err_clear(). Valid until the next aria_errf() on this thread. */
const char *aria_err_msg(void);
void aria_err_clear(void);

/* ------------------------------------------------------------------ */
/* Logging                                                              */
/* ------------------------------------------------------------------ */

typedef enum aria_log_level {
    ARIA_LOG_TRACE = 0,
    ARIA_LOG_DEBUG = 1,
    ARIA_LOG_INFO = 2,
    ARIA_LOG_WARN = 3,
    ARIA_LOG_ERROR = 4,
    ARIA_LOG_OFF = 5,
} aria_log_level;

/* A sink receives one formatted record: level, a stable message id such as
 * "W0012" (module letter + number; documented ids never change meaning),
 * the module name, and the text without a trailing newline. Sinks may be
 * called from any thread; the built-in sink serialises with a mutex. */
typedef void (*aria_log_sink_fn)(void *ctx, aria_log_level level, const char *msg_id,
                                 const char *module, const char *text);

/* Replace the sink; NULL restores the default (stderr, one line per record:
 * "2026-11-24T03:31:49.123Z INFO  W0012 wallet: text"). Not thread safe with
 * respect to concurrent logging: call at start-up or in tests. */
void aria_log_set_sink(aria_log_sink_fn fn, void *ctx);
void aria_log_set_level(aria_log_level min_level);
aria_log_level aria_log_get_level(void);
/* Parse "trace", "debug", "info", "warn", "error", "off". */
int aria_log_level_parse(const char *s, aria_log_level *out) ARIA_MUST_CHECK;
const char *aria_log_level_name(aria_log_level level);

void aria_log(aria_log_level level, const char *msg_id, const char *module, const char *fmt, ...)
    ARIA_PRINTF(4, 5);

#define ARIA_LOG_T(id, mod, ...) aria_log(ARIA_LOG_TRACE, id, mod, __VA_ARGS__)
#define ARIA_LOG_D(id, mod, ...) aria_log(ARIA_LOG_DEBUG, id, mod, __VA_ARGS__)
#define ARIA_LOG_I(id, mod, ...) aria_log(ARIA_LOG_INFO, id, mod, __VA_ARGS__)
#define ARIA_LOG_W(id, mod, ...) aria_log(ARIA_LOG_WARN, id, mod, __VA_ARGS__)
#define ARIA_LOG_E(id, mod, ...) aria_log(ARIA_LOG_ERROR, id, mod, __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Allocation                                                           */
/* ------------------------------------------------------------------ */

/* All heap use in ARIA goes through these so tests can fail allocations.
 * aria_alloc(0) returns a unique non-NULL pointer. Overflowing n*size in
 * aria_calloc / aria_alloc_array fails with NULL. aria_free(NULL) is a no-op. */
void *aria_alloc(size_t size);
void *aria_calloc(size_t n, size_t size);
void *aria_alloc_array(size_t n, size_t size);
void *aria_realloc(void *p, size_t size);
void aria_free(void *p);
/* Duplicate a NUL-terminated string / n bytes plus a NUL. */
char *aria_strdup(const char *s);
char *aria_strndup(const char *s, size_t n);

/* Failure injection (tests only): the n-th allocation from now (1 = the
 * next one) returns NULL; with `sticky`, every allocation after it fails too.
 * n = 0 disables injection. Thread safe (atomic counter). */
void aria_alloc_fail_after(long n, bool sticky);
/* Number of allocations made through the seam since start (tests). */
unsigned long aria_alloc_count(void);

/* ------------------------------------------------------------------ */
/* Byte writer: a growable buffer with sticky errors                    */
/* ------------------------------------------------------------------ */

typedef struct aria_buf {
    uint8_t *data; /* owned; NULL until the first write */
    size_t len;    /* bytes written */
    size_t cap;    /* bytes allocated */
    size_t max;    /* hard cap on len (0 = SIZE_MAX); exceeding it fails */
    int err;       /* first error (0 if none); later writes are no-ops */
} aria_buf;

void aria_buf_init(aria_buf *b, size_t max_bytes);
void aria_buf_fini(aria_buf *b);  /* frees data; b may be re-initialised */
void aria_buf_reset(aria_buf *b); /* len = 0, err = 0, keeps memory */
/* Ensure room for `extra` more bytes. */
int aria_buf_reserve(aria_buf *b, size_t extra) ARIA_MUST_CHECK;
/* Transfer ownership of the bytes to the caller (free with aria_free);
 * the buffer is left empty. Fails with the sticky error if any. */
int aria_buf_take(aria_buf *b, uint8_t **out, size_t *out_len) ARIA_MUST_CHECK;

/* Writers record the first error in b->err and return it. */
int aria_buf_put(aria_buf *b, const void *p, size_t n);
int aria_buf_put_u8(aria_buf *b, uint8_t v);
int aria_buf_put_u16le(aria_buf *b, uint16_t v);
int aria_buf_put_u32le(aria_buf *b, uint32_t v);
int aria_buf_put_u64le(aria_buf *b, uint64_t v);
int aria_buf_put_varint(aria_buf *b, uint64_t v);                /* LEB128, <= 10 bytes */
int aria_buf_put_lenbytes(aria_buf *b, const void *p, size_t n); /* varint n + bytes */
int aria_buf_printf(aria_buf *b, const char *fmt, ...) ARIA_PRINTF(2, 3);

/* Little-endian helpers on raw memory (no bounds: caller checked). */
static inline void
aria_store_u16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void
aria_store_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void
aria_store_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t
aria_load_u16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t
aria_load_u32le(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static inline uint64_t
aria_load_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ------------------------------------------------------------------ */
/* Byte reader: bounds-checked, every read can fail cleanly             */
/* ------------------------------------------------------------------ */

typedef struct aria_rd {
    const uint8_t *data; /* borrowed */
    size_t len;
    size_t off;
} aria_rd;

void aria_rd_init(aria_rd *r, const void *data, size_t len);
size_t aria_rd_remaining(const aria_rd *r);

/* On failure these leave r->off unchanged and return ARIA_ERANGE (input
 * ends too soon) or ARIA_EPROTO (malformed varint, length over limit), with
 * a detail message naming the offset. */
int aria_rd_u8(aria_rd *r, uint8_t *v) ARIA_MUST_CHECK;
int aria_rd_u16le(aria_rd *r, uint16_t *v) ARIA_MUST_CHECK;
int aria_rd_u32le(aria_rd *r, uint32_t *v) ARIA_MUST_CHECK;
int aria_rd_u64le(aria_rd *r, uint64_t *v) ARIA_MUST_CHECK;
/* LEB128, at most 10 bytes, the 10th byte may only hold bit 63; a
 * non-minimal encoding (trailing 0x80 ... 0x00) is rejected with ARIA_EPROTO
 * so every value has exactly one encoding. */
int aria_rd_varint(aria_rd *r, uint64_t *v) ARIA_MUST_CHECK;
/* Copy n bytes out. */
int aria_rd_copy(aria_rd *r, void *out, size_t n) ARIA_MUST_CHECK;
/* Borrow n bytes (pointer into r->data, valid while data is). */
int aria_rd_bytes(aria_rd *r, size_t n, const uint8_t **p) ARIA_MUST_CHECK;
/* varint length (must be <= max_len) then borrow that many bytes. */
int aria_rd_lenbytes(aria_rd *r, size_t max_len, const uint8_t **p, size_t *n) ARIA_MUST_CHECK;
int aria_rd_skip(aria_rd *r, size_t n) ARIA_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Clocks                                                               */
/* ------------------------------------------------------------------ */

/* An injectable clock. `mono_ms` never goes backwards; `wall_ms` is Unix
 * time in milliseconds. Tests pass an aria_clock_manual. */
typedef struct aria_clock {
    uint64_t (*mono_ms)(void *ctx);
    uint64_t (*wall_ms)(void *ctx);
    void *ctx;
} aria_clock;

/* The system clock (CLOCK_MONOTONIC, CLOCK_REALTIME). Immutable. */
const aria_clock *aria_clock_system(void);
static inline uint64_t
aria_clock_mono_ms(const aria_clock *c)
{
    return c->mono_ms(c->ctx);
}
static inline uint64_t
aria_clock_wall_ms(const aria_clock *c)
{
    return c->wall_ms(c->ctx);
}

/* A manual clock for tests: time moves only when told. Not thread safe. */
typedef struct aria_clock_manual {
    aria_clock clock; /* pass &m.clock to code under test */
    uint64_t mono;
    uint64_t wall;
} aria_clock_manual;
void aria_clock_manual_init(aria_clock_manual *m, uint64_t mono_ms, uint64_t wall_ms);
void aria_clock_manual_advance(aria_clock_manual *m, uint64_t ms);

/* Direct system reads. */
uint64_t aria_mono_ns(void);
uint64_t aria_mono_ms(void);
uint64_t aria_wall_ms(void);
/* Seconds of the monotonic clock (CPU seconds for CLOCK_PROCESS_CPUTIME_ID
 * and the like), for benchmarks. */
double aria_clock_s(int clock_id);
/* Median of n values, 1 <= n <= 1024 (v is not changed). For benchmarks. */
double aria_median(const double *v, size_t n);

/* ------------------------------------------------------------------ */
/* Hex                                                                  */
/* ------------------------------------------------------------------ */

/* Write 2n lowercase hex digits plus a NUL into out (out_size >= 2n+1). */
void aria_hex_encode(char *out, size_t out_size, const void *in, size_t n);
/* Decode exactly 2*n hex digits (either case) from a string of length
 * `hex_len` into n bytes. ARIA_EINVAL names the first bad character. */
int aria_hex_decode(void *out, size_t n, const char *hex, size_t hex_len) ARIA_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

/* Parse a whole decimal string into an integer within [min, max]; ARIA_EINVAL
 * with a message naming `what` otherwise. Replaces atoi/strtol misuse. */
int aria_parse_i64(const char *s, int64_t min, int64_t max, const char *what,
                   int64_t *out) ARIA_MUST_CHECK;
int aria_parse_u64(const char *s, uint64_t max, const char *what, uint64_t *out) ARIA_MUST_CHECK;
int aria_parse_double(const char *s, double min, double max, const char *what,
                      double *out) ARIA_MUST_CHECK;

/* Fill buf with len bytes from the OS random source (getrandom). */
int aria_os_random(void *buf, size_t len) ARIA_MUST_CHECK;

/* Snprintf into a fixed buffer; returns the would-be length like snprintf,
 * always NUL-terminates when size > 0. (sprintf is banned.) */
int aria_snprintf(char *buf, size_t size, const char *fmt, ...) ARIA_PRINTF(3, 4);

#ifdef __cplusplus
}
#endif
#endif /* ARIA_BASE_H */
