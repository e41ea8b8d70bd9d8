/*
 * util.c — clocks, hex, number parsing, OS randomness, bounded snprintf.
 */
#include "base.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---- clocks ---- */

uint64_t
aria_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double
aria_clock_s(int clock_id)
{
    struct timespec ts;
    clock_gettime((clockid_t)clock_id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double
aria_median(const double *v, size_t n)
{
    double tmp[1024];
    ARIA_ASSERT(n >= 1 && n <= ARIA_ARRAY_LEN(tmp));
    memcpy(tmp, v, n * sizeof *v);
    qsort(tmp, n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

uint64_t
aria_mono_ms(void)
{
    return aria_mono_ns() / 1000000ull;
}

uint64_t
aria_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

static uint64_t
sys_mono(void *ctx)
{
    ARIA_UNUSED(ctx);
    return aria_mono_ms();
}

static uint64_t
sys_wall(void *ctx)
{
    ARIA_UNUSED(ctx);
    return aria_wall_ms();
}

static const aria_clock system_clock = {sys_mono, sys_wall, NULL};

const aria_clock *
aria_clock_system(void)
{
    return &system_clock;
}

static uint64_t
man_mono(void *ctx)
{
    return ((aria_clock_manual *)ctx)->mono;
}

static uint64_t
man_wall(void *ctx)
{
    return ((aria_clock_manual *)ctx)->wall;
}

void
aria_clock_manual_init(aria_clock_manual *m, uint64_t mono_ms, uint64_t wall_ms)
{
    m->clock.mono_ms = man_mono;
    m->clock.wall_ms = man_wall;
    m->clock.ctx = m;
    m->mono = mono_ms;
    m->wall = wall_ms;
}

void
aria_clock_manual_advance(aria_clock_manual *m, uint64_t ms)
{
    m->mono += ms;
    m->wall += ms;
}

/* ---- hex ---- */

void
aria_hex_encode(char *out, size_t out_size, const void *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    ARIA_ASSERT(out_size >= 2 * n + 1);
    const uint8_t *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
aria_hex_decode(void *out, size_t n, const char *hex, size_t hex_len)
{
    if (hex_len != 2 * n)
        return aria_errf(ARIA_EINVAL, "hex string has %zu digits, expected %zu", hex_len, 2 * n);
    uint8_t *o = out;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            size_t bad = hi < 0 ? 2 * i : 2 * i + 1;
            return aria_errf(ARIA_EINVAL, "not a hex digit at position %zu: '%c'", bad, hex[bad]);
        }
        o[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* ---- parsing ---- */

int
aria_parse_i64(const char *s, int64_t min, int64_t max, const char *what, int64_t *out)
{
    if (!s || !*s)
        return aria_errf(ARIA_EINVAL, "%s: empty value, expected an integer", what);
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || end == s)
        return aria_errf(ARIA_EINVAL, "%s: '%s' is not an integer", what, s);
    if (errno == ERANGE || v < min || v > max)
        return aria_errf(ARIA_EINVAL, "%s: %s is out of range [%lld, %lld]", what, s,
                         (long long)min, (long long)max);
    *out = v;
    return 0;
}

int
aria_parse_u64(const char *s, uint64_t max, const char *what, uint64_t *out)
{
    if (!s || !*s)
        return aria_errf(ARIA_EINVAL, "%s: empty value, expected a number", what);
    if (*s == '-' || *s == '+' || *s == ' ')
        return aria_errf(ARIA_EINVAL, "%s: '%s' is not a non-negative integer", what, s);
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || end == s)
        return aria_errf(ARIA_EINVAL, "%s: '%s' is not a non-negative integer", what, s);
    if (errno == ERANGE || v > max)
        return aria_errf(ARIA_EINVAL, "%s: %s is out of range [0, %llu]", what, s,
                         (unsigned long long)max);
    *out = v;
    return 0;
}

int
aria_parse_double(const char *s, double min, double max, const char *what, double *out)
{
    if (!s || !*s)
        return aria_errf(ARIA_EINVAL, "%s: empty value, expected a number", what);
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || end == s || isnan(v))
        return aria_errf(ARIA_EINVAL, "%s: '%s' is not a number", what, s);
    if (errno == ERANGE || v < min || v > max)
        return aria_errf(ARIA_EINVAL, "%s: %s is out of range [%g, %g]", what, s, min, max);
    *out = v;
    return 0;
}

/* ---- misc ---- */

int
aria_os_random(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return aria_errf(ARIA_EIO, "getrandom failed: %s", strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
aria_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
