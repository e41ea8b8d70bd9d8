/*
 * err.c — error codes, per-thread detail messages, contract failures.
 *
 * The detail message lives in thread-local storage so that concurrent
 * threads never see each other's errors; it is bounded (truncated, never
 * overflowing).
 */
#include "base.h"

#include <stdio.h>
#include <stdlib.h>

static _Thread_local char err_msg[512];

const char *
aria_strerror(int err)
{
    switch (err) {
    case ARIA_OK: return "success";
    case ARIA_EINVAL: return "invalid argument";
    case ARIA_ENOMEM: return "out of memory";
    case ARIA_EIO: return "input/output error";
    case ARIA_EPROTO: return "malformed data";
    case ARIA_ENOTFOUND: return "not found";
    case ARIA_EEXIST: return "already exists";
    case ARIA_ERANGE: return "out of range or truncated";
    case ARIA_ETIMEDOUT: return "timed out";
    case ARIA_ECRYPTO: return "cryptographic check failed";
    case ARIA_EFULL: return "full";
    case ARIA_EAGAIN: return "try again";
    case ARIA_ECLOSED: return "closed";
    case ARIA_EPERM: return "not permitted";
    case ARIA_EUNSUPPORTED: return "not supported";
    case ARIA_ESTATE: return "invalid state";
    case ARIA_ECANCELED: return "canceled";
    case ARIA_EFUNDS: return "insufficient credits";
    case ARIA_EINTERNAL: return "internal error";
    default: return "unknown error";
    }
}

int
aria_verrf(int err, const char *fmt, va_list ap)
{
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    return err;
}

int
aria_errf(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    aria_verrf(err, fmt, ap);
    va_end(ap);
    return err;
}

const char *
aria_err_msg(void)
{
    return err_msg;
}

void
aria_err_clear(void)
{
    err_msg[0] = '\0';
}

_Noreturn void
aria_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "aria: assertion failed: %s (%s:%d in %s)\n", expr, file, line, func);
    fflush(stderr);
    abort();
}
