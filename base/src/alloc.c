/*
 * alloc.c — the one allocation seam, with failure injection for tests.
 *
 * Injection uses one atomic countdown: when it reaches zero the allocation
 * fails; with `sticky` every later allocation fails too until reset.
 */
#include "base.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic long fail_countdown; /* 0 = off */
static _Atomic bool fail_sticky;
static _Atomic bool fail_tripped;
static _Atomic unsigned long alloc_total;

void
aria_alloc_fail_after(long n, bool sticky)
{
    atomic_store(&fail_tripped, false);
    atomic_store(&fail_sticky, sticky);
    atomic_store(&fail_countdown, n < 0 ? 0 : n);
}

unsigned long
aria_alloc_count(void)
{
    return atomic_load(&alloc_total);
}

/* True when this allocation must fail. */
static bool
inject_failure(void)
{
    atomic_fetch_add(&alloc_total, 1);
    if (atomic_load(&fail_tripped))
        return atomic_load(&fail_sticky);
    long c = atomic_load(&fail_countdown);
    while (c > 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1)) {
            if (c == 1) {
                atomic_store(&fail_tripped, true);
                return true;
            }
            return false;
        }
    }
    return false;
}

void *
aria_alloc(size_t size)
{
    if (inject_failure())
        return NULL;
    return malloc(size ? size : 1);
}

void *
aria_alloc_array(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return aria_alloc(n * size);
}

void *
aria_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    if (inject_failure())
        return NULL;
    if (n == 0 || size == 0)
        return calloc(1, 1);
    return calloc(n, size);
}

void *
aria_realloc(void *p, size_t size)
{
    if (inject_failure())
        return NULL;
    return realloc(p, size ? size : 1);
}

void
aria_free(void *p)
{
    free(p);
}

char *
aria_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = aria_alloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *
aria_strdup(const char *s)
{
    return aria_strndup(s, SIZE_MAX);
}
