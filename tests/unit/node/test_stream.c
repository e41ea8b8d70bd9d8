/* The token stream between producer and HTTP consumer. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "stream.h"

static void *
producer(void *arg)
{
    node_stream *s = arg;
    for (int i = 0; i < 1000; i++)
        if (node_stream_push(s, "héllo ", 7) != 0)
            break;
    node_stream_result r = {0};
    r.completion_tokens = 1000;
    node_stream_finish(s, &r);
    node_stream_release(s);
    return NULL;
}

Test(stream, bounded_stream_delivers_everything_in_order_without_splitting_utf8)
{
    node_stream *s;
    cr_assert_eq(node_stream_new(16, &s), 0);
    node_stream_retain(s);
    pthread_t t;
    pthread_create(&t, NULL, producer, s);
    char buf[5];
    size_t total = 0;
    node_stream_result res;
    int n;
    while ((n = node_stream_read(s, buf, sizeof buf, 5000, &res)) > 0) {
        for (int i = 0; i < n; i++)
            cr_assert_eq(buf[i], "héllo "[(total + (size_t)i) % 7]);
        cr_assert((buf[n - 1] & 0xC0) != 0xC0, "read ended inside a UTF-8 sequence");
        total += (size_t)n;
    }
    cr_assert_eq(n, 0);
    cr_assert_eq(total, 7000);
    cr_assert_eq(res.completion_tokens, 1000);
    pthread_join(t, NULL);
    node_stream_release(s);
}

Test(stream, cancel_stops_a_blocked_producer)
{
    node_stream *s;
    cr_assert_eq(node_stream_new(4, &s), 0);
    node_stream_retain(s);
    pthread_t t;
    pthread_create(&t, NULL, producer, s);
    char buf[2];
    cr_assert(node_stream_read(s, buf, 2, 5000, NULL) > 0);
    node_stream_cancel(s);
    pthread_join(t, NULL); /* returns: push saw the cancel */
    node_stream_release(s);
}

Test(stream, read_times_out_when_nothing_comes)
{
    node_stream *s;
    cr_assert_eq(node_stream_new(4, &s), 0);
    char buf[2];
    cr_assert_eq(node_stream_read(s, buf, 2, 50, NULL), ARIA_ETIMEDOUT);
    node_stream_release(s);
}
