/*
 * Proves a Criterion test binary can use nng: Criterion speaks to its
 * workers over libnanomsg, whose nn_* symbols libnng also exports. The build
 * links libnanomsg first (see cmake/AriaModule.cmake); if that were wrong,
 * Criterion's own protocol would break and this test would never report.
 */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <string.h>

Test(nng, req_rep_exchange_over_tcp_loopback)
{
    nng_socket rep, req;
    nng_listener l;
    cr_assert_eq(nng_rep0_open(&rep), 0);
    cr_assert_eq(nng_req0_open(&req), 0);
    cr_assert_eq(nng_socket_set_size(rep, NNG_OPT_RECVMAXSZ, 4096), 0);
    cr_assert_eq(nng_socket_set_size(req, NNG_OPT_RECVMAXSZ, 4096), 0);
    cr_assert_eq(nng_socket_set_ms(rep, NNG_OPT_RECVTIMEO, 5000), 0);
    cr_assert_eq(nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 5000), 0);
    /* port 0: the OS picks a free port; read it back. */
    cr_assert_eq(nng_listen(rep, "tcp://127.0.0.1:0", &l, 0), 0);
    int port = 0;
    cr_assert_eq(nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port), 0);
    cr_assert(port > 0);
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    cr_assert_eq(nng_dial(req, url, NULL, 0), 0);

    cr_assert_eq(nng_send(req, "ping", 5, 0), 0);
    char *buf = NULL;
    size_t sz = 0;
    cr_assert_eq(nng_recv(rep, &buf, &sz, NNG_FLAG_ALLOC), 0);
    cr_assert_eq(sz, 5);
    cr_assert_str_eq(buf, "ping");
    nng_free(buf, sz);
    cr_assert_eq(nng_send(rep, "pong", 5, 0), 0);
    cr_assert_eq(nng_recv(req, &buf, &sz, NNG_FLAG_ALLOC), 0);
    cr_assert_str_eq(buf, "pong");
    nng_free(buf, sz);
    nng_close(req);
    nng_close(rep);
}
