/* Error codes, detail messages, logging levels and sinks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base.h"

Test(err, strerror_never_returns_null_and_names_every_code)
{
    for (int c = 0; c >= ARIA_EINTERNAL; c--) {
        const char *s = aria_strerror(c);
        cr_assert_not_null(s);
        cr_assert_str_neq(s, "unknown error", "code %d has no text", c);
    }
    cr_assert_str_eq(aria_strerror(-9999), "unknown error");
    cr_assert_str_eq(aria_strerror(42), "unknown error");
}

Test(err, errf_returns_code_and_sets_message)
{
    aria_err_clear();
    cr_assert_str_eq(aria_err_msg(), "");
    int rc = aria_errf(ARIA_EPROTO, "field %s at offset %d", "n_tensors", 24);
    cr_assert_eq(rc, ARIA_EPROTO);
    cr_assert_str_eq(aria_err_msg(), "field n_tensors at offset 24");
}

Test(err, long_message_is_truncated_not_overflowed)
{
    char big[4000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    aria_errf(ARIA_EINVAL, "%s", big);
    cr_assert(strlen(aria_err_msg()) < sizeof big - 1);
    cr_assert(strlen(aria_err_msg()) > 100);
}

typedef struct {
    int n;
    aria_log_level last_level;
    char last_id[16];
    char last_mod[16];
    char last_text[256];
} sink_rec;

static void
rec_sink(void *ctx, aria_log_level level, const char *id, const char *mod, const char *text)
{
    sink_rec *r = ctx;
    r->n++;
    r->last_level = level;
    snprintf(r->last_id, sizeof r->last_id, "%s", id);
    snprintf(r->last_mod, sizeof r->last_mod, "%s", mod);
    snprintf(r->last_text, sizeof r->last_text, "%s", text);
}

Test(log, sink_receives_records_at_or_above_level)
{
    sink_rec r = {0};
    aria_log_set_sink(rec_sink, &r);
    aria_log_set_level(ARIA_LOG_WARN);
    ARIA_LOG_I("B0001", "base", "hidden %d", 1);
    cr_assert_eq(r.n, 0);
    ARIA_LOG_W("B0002", "base", "shown %d", 2);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.last_level, ARIA_LOG_WARN);
    cr_assert_str_eq(r.last_id, "B0002");
    cr_assert_str_eq(r.last_mod, "base");
    cr_assert_str_eq(r.last_text, "shown 2");
    ARIA_LOG_E("B0003", "base", "err");
    cr_assert_eq(r.n, 2);
    aria_log_set_level(ARIA_LOG_OFF);
    ARIA_LOG_E("B0004", "base", "off");
    cr_assert_eq(r.n, 2);
    aria_log_set_sink(NULL, NULL);
    aria_log_set_level(ARIA_LOG_INFO);
}

Test(log, level_names_parse_and_reject_unknown)
{
    aria_log_level l;
    cr_assert_eq(aria_log_level_parse("debug", &l), 0);
    cr_assert_eq(l, ARIA_LOG_DEBUG);
    cr_assert_eq(aria_log_level_parse("loud", &l), ARIA_EINVAL);
    cr_assert(strstr(aria_err_msg(), "loud") != NULL);
    cr_assert_str_eq(aria_log_level_name(ARIA_LOG_ERROR), "error");
}
