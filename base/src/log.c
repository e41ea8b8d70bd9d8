/*
 * log.c — leveled logging with stable message ids and a pluggable sink.
 *
 * Records below the current level cost one atomic load. Formatting happens
 * into a bounded stack buffer (long texts are truncated, never overflow).
 */
#include "base.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int log_level = ARIA_LOG_INFO;
static aria_log_sink_fn log_sink;
static void *log_ctx;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error", "off"};

const char *
aria_log_level_name(aria_log_level level)
{
    if ((int)level < 0 || (int)level > ARIA_LOG_OFF)
        return "?";
    return level_names[level];
}

int
aria_log_level_parse(const char *s, aria_log_level *out)
{
    for (int i = 0; i <= ARIA_LOG_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (aria_log_level)i;
            return 0;
        }
    }
    return aria_errf(ARIA_EINVAL,
                     "unknown log level '%s' (use trace, debug, info, warn, "
                     "error or off)",
                     s);
}

void
aria_log_set_level(aria_log_level min_level)
{
    atomic_store(&log_level, (int)min_level);
}

aria_log_level
aria_log_get_level(void)
{
    return (aria_log_level)atomic_load(&log_level);
}

void
aria_log_set_sink(aria_log_sink_fn fn, void *ctx)
{
    pthread_mutex_lock(&log_mu);
    log_sink = fn;
    log_ctx = ctx;
    pthread_mutex_unlock(&log_mu);
}

static void
default_sink(const char *msg_id, aria_log_level level, const char *module, const char *text)
{
    struct timespec ts;
    struct tm tm;
    char when[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    char lvl[8];
    snprintf(lvl, sizeof lvl, "%s", aria_log_level_name(level));
    for (char *p = lvl; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    fprintf(stderr, "%s.%03ldZ %-5s %s %s: %s\n", when, ts.tv_nsec / 1000000L, lvl, msg_id, module,
            text);
}

void
aria_log(aria_log_level level, const char *msg_id, const char *module, const char *fmt, ...)
{
    if ((int)level < atomic_load(&log_level) || level >= ARIA_LOG_OFF)
        return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_mu);
    if (log_sink)
        log_sink(log_ctx, level, msg_id, module, text);
    else
        default_sink(msg_id, level, module, text);
    pthread_mutex_unlock(&log_mu);
}
