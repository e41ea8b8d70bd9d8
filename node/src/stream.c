/*
 * stream.c — bounded, reference-counted producer/consumer byte stream.
 */
#include "stream.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

struct node_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    char *buf; /* ring of cap bytes */
    size_t cap, head, len;
    /* piece boundaries: a read never crosses one, so each push (a token's
     * text) reaches the client as its own event */
    size_t plen[256];
    size_t p_head, p_count;
    bool finished, canceled;
    node_stream_result res;
};

int
node_stream_new(size_t cap_bytes, node_stream **out)
{
    node_stream *s = aria_calloc(1, sizeof *s);
    if (!s)
        return aria_errf(ARIA_ENOMEM, "stream: out of memory");
    s->cap = cap_bytes ? cap_bytes : 65536;
    if (s->cap < 8)
        s->cap = 8; /* room for any UTF-8 character */
    s->buf = aria_alloc(s->cap);
    if (!s->buf) {
        aria_free(s);
        return aria_errf(ARIA_ENOMEM, "stream: out of memory");
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->refs = 1;
    *out = s;
    return 0;
}

void
node_stream_retain(node_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->refs++;
    pthread_mutex_unlock(&s->mu);
}

void
node_stream_release(node_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    int left = --s->refs;
    pthread_mutex_unlock(&s->mu);
    if (left)
        return;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    aria_free(s->buf);
    aria_free(s);
}

static void
deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int
node_stream_push(node_stream *s, const char *text, size_t len)
{
    pthread_mutex_lock(&s->mu);
    while (len) {
        if (s->canceled || s->finished) {
            pthread_mutex_unlock(&s->mu);
            return ARIA_ECANCELED;
        }
        size_t room = s->cap - s->len;
        if (!room || s->p_count == ARIA_ARRAY_LEN(s->plen)) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        size_t n = len < room ? len : room;
        /* a piece never ends inside a UTF-8 sequence */
        while (n < len && n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--;
        if (n == 0) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        for (size_t i = 0; i < n; i++)
            s->buf[(s->head + s->len + i) % s->cap] = text[i];
        s->len += n;
        s->plen[(s->p_head + s->p_count) % ARIA_ARRAY_LEN(s->plen)] = n;
        s->p_count++;
        text += n;
        len -= n;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int
node_stream_push_nb(node_stream *s, const char *text, size_t len)
{
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->canceled || s->finished)
        rc = ARIA_ECANCELED;
    else if (len > s->cap - s->len)
        rc = aria_errf(ARIA_EFULL, "stream: the client is %zu bytes behind", s->len);
    if (rc || !len) {
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    for (size_t i = 0; i < len; i++)
        s->buf[(s->head + s->len + i) % s->cap] = text[i];
    s->len += len;
    if (s->p_count == ARIA_ARRAY_LEN(s->plen)) /* ring full: grow the newest piece */
        s->plen[(s->p_head + s->p_count - 1) % ARIA_ARRAY_LEN(s->plen)] += len;
    else
        s->plen[(s->p_head + s->p_count++) % ARIA_ARRAY_LEN(s->plen)] = len;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

bool
node_stream_wait_started(node_stream *s, int timeout_ms, node_stream_result *res)
{
    struct timespec dl;
    deadline_in(&dl, timeout_ms);
    pthread_mutex_lock(&s->mu);
    while (s->len == 0 && !s->finished)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT)
            break;
    bool failed = s->len == 0 && s->finished && s->res.error;
    if (failed && res)
        *res = s->res;
    pthread_mutex_unlock(&s->mu);
    return !failed;
}

void
node_stream_finish(node_stream *s, const node_stream_result *res)
{
    pthread_mutex_lock(&s->mu);
    if (!s->finished) {
        s->finished = true;
        if (res)
            s->res = *res;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

bool
node_stream_canceled(node_stream *s)
{
    pthread_mutex_lock(&s->mu);
    bool c = s->canceled;
    pthread_mutex_unlock(&s->mu);
    return c;
}

void
node_stream_cancel(node_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->canceled = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int
node_stream_read(node_stream *s, char *buf, size_t cap, int timeout_ms, node_stream_result *res)
{
    struct timespec dl;
    deadline_in(&dl, timeout_ms);
    pthread_mutex_lock(&s->mu);
    while (s->len == 0 && !s->finished) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) {
            pthread_mutex_unlock(&s->mu);
            return ARIA_ETIMEDOUT;
        }
    }
    if (s->len == 0) {
        if (res)
            *res = s->res;
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    size_t piece = s->plen[s->p_head];
    size_t n = piece < cap ? piece : cap;
    /* never split a UTF-8 sequence: stop before a continuation byte */
    while (n > 0 && n < piece && (s->buf[(s->head + n) % s->cap] & 0xC0) == 0x80)
        n--;
    if (n == 0)
        n = piece < cap ? piece : cap; /* cap smaller than one character */
    if (n == piece) {
        s->p_head = (s->p_head + 1) % ARIA_ARRAY_LEN(s->plen);
        s->p_count--;
    } else {
        s->plen[s->p_head] -= n;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = s->buf[(s->head + i) % s->cap];
    s->head = (s->head + n) % s->cap;
    s->len -= n;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return (int)n;
}
