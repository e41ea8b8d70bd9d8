/*
 * httpc.c — the CLI's HTTP/1.1 client to the local node (see httpc.h).
 *
 * Invariants: every socket is closed before return; the response is parsed
 * only after the peer closed the connection, so a short read never yields a
 * truncated body silently (Content-Length is checked when present).
 */
#include "httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static int
parse_hostport(const char *hp, struct sockaddr_in *sa)
{
    const char *colon = strrchr(hp, ':');
    char host[64];
    if (!colon || colon == hp || (size_t)(colon - hp) >= sizeof host)
        return aria_errf(ARIA_EINVAL, "node address '%.100s' is not HOST:PORT", hp);
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = 0;
    if (!strcmp(host, "localhost"))
        snprintf(host, sizeof host, "127.0.0.1");
    uint64_t port;
    if (aria_parse_u64(colon + 1, 65535, "node port", &port) || port == 0)
        return aria_errf(ARIA_EINVAL, "node address '%.100s': bad port", hp);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return aria_errf(ARIA_EINVAL, "node address '%.100s': host must be an IPv4 address", hp);
    return 0;
}

static int
send_all(int fd, const char *p, size_t n, const char *hp)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return aria_errf(ARIA_EIO, "sending to node %s: %s", hp, strerror(errno));
        p += k, n -= (size_t)k;
    }
    return 0;
}

int
node_httpc_parse_response(const uint8_t *raw, size_t len, const char *from, int *status,
                          aria_buf *body)
{
    /* "HTTP/1.x NNN reason\r\n" headers "\r\n\r\n" body */
    const char *p = raw ? (const char *)raw : "";
    const char *end = NULL;
    for (size_t i = 0; i + 3 < len; i++)
        if (!memcmp(p + i, "\r\n\r\n", 4)) {
            end = p + i;
            break;
        }
    int st = 0;
    if (!end || end - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
        return aria_errf(ARIA_EPROTO, "the answer from %s is not an HTTP response", from);
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return aria_errf(ARIA_EPROTO, "the answer from %s has no HTTP status", from);
        st = st * 10 + (p[i] - '0');
    }
    if (st < 100 || st > 599)
        return aria_errf(ARIA_EPROTO, "the answer from %s has HTTP status %d", from, st);
    size_t body_off = (size_t)(end - p) + 4;
    /* Content-Length, when present, must match what arrived. */
    for (const char *h = memchr(p, '\n', (size_t)(end - p)); h && h < end;
         h = memchr(h + 1, '\n', (size_t)(end - h - 1))) {
        if ((size_t)(end - h) > 16 && !strncasecmp(h + 1, "Content-Length:", 15)) {
            uint64_t cl = 0;
            const char *q = h + 16;
            while (q < end && *q == ' ')
                q++;
            int digits = 0;
            while (q < end && *q >= '0' && *q <= '9' && digits < 18)
                cl = cl * 10 + (uint64_t)(*q++ - '0'), digits++;
            if (!digits || cl != len - body_off)
                return aria_errf(ARIA_EPROTO, "truncated or malformed answer from %s", from);
            break;
        }
    }
    int rc = aria_buf_put(body, p + body_off, len - body_off);
    if (!rc)
        rc = aria_buf_put(body, "", 1);
    if (rc)
        return aria_errf(rc, "answer from %s: body too large", from);
    body->len--; /* keep the NUL out of the length */
    *status = st;
    return 0;
}

static int
connect_send(const char *hostport, const char *method, const char *path, const char *body,
             const char *version, int *fd_out)
{
    struct sockaddr_in sa;
    int rc = parse_hostport(hostport, &sa);
    if (rc)
        return rc;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return aria_errf(ARIA_EIO, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        rc = aria_errf(ARIA_EIO, "cannot connect to the node at %s: %s (is 'aria node run' up?)",
                       hostport, strerror(errno));
        close(fd);
        return rc;
    }
    size_t blen = body ? strlen(body) : 0;
    char head[1024], clen[80] = "";
    if (body)
        aria_snprintf(clen, sizeof clen,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    int n = aria_snprintf(head, sizeof head,
                          "%s %s %s\r\nHost: %s\r\nConnection: close\r\n"
                          "Accept: application/json, text/event-stream\r\n%s\r\n",
                          method, path, version, hostport, clen);
    if (n < 0 || (size_t)n >= sizeof head) {
        close(fd);
        return aria_errf(ARIA_EINVAL, "request line too long");
    }
    if ((rc = send_all(fd, head, (size_t)n, hostport)) ||
        (body && (rc = send_all(fd, body, blen, hostport)))) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

int
node_httpc_stream(const char *hostport, const char *method, const char *path, const char *body,
                  int idle_timeout_ms, node_httpc_fn fn, void *ctx, int *status, aria_buf *err_body)
{
    int fd = -1;
    int rc = connect_send(hostport, method, path, body, "HTTP/1.0", &fd);
    if (rc)
        return rc;
    aria_buf head;
    aria_buf_init(&head, 64 * 1024);
    bool in_body = false;
    int st = 0;
    char chunk[4096];
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = poll(&pfd, 1, idle_timeout_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            rc = aria_errf(ARIA_ETIMEDOUT, "the node at %s sent nothing for %d ms", hostport,
                           idle_timeout_ms);
            break;
        }
        ssize_t k = recv(fd, chunk, sizeof chunk, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = aria_errf(ARIA_EIO, "receiving from node %s: %s", hostport, strerror(errno));
            break;
        }
        if (k == 0) {
            if (!in_body)
                rc = aria_errf(ARIA_EPROTO, "the node at %s closed before its headers", hostport);
            break;
        }
        if (in_body) {
            if (st / 100 == 2) {
                if (fn(ctx, chunk, (size_t)k))
                    break;
            } else if (aria_buf_put(err_body, chunk, (size_t)k)) {
                break;
            }
            continue;
        }
        if (aria_buf_put(&head, chunk, (size_t)k)) {
            rc = aria_errf(ARIA_EPROTO, "headers from node %s are over 64 KiB", hostport);
            break;
        }
        const char *p = (const char *)head.data;
        for (size_t i = 0; i + 3 < head.len; i++)
            if (!memcmp(p + i, "\r\n\r\n", 4)) {
                if (head.len < 12 || memcmp(p, "HTTP/1.", 7) != 0 ||
                    sscanf(p + 9, "%3d", &st) != 1) {
                    rc = aria_errf(ARIA_EPROTO, "the answer from %s is not HTTP", hostport);
                    break;
                }
                in_body = true;
                size_t off = i + 4;
                if (off < head.len) {
                    if (st / 100 == 2)
                        (void)fn(ctx, p + off, head.len - off);
                    else
                        (void)aria_buf_put(err_body, p + off, head.len - off);
                }
                break;
            }
        if (rc)
            break;
    }
    close(fd);
    aria_buf_fini(&head);
    if (!rc) {
        (void)aria_buf_put(err_body, "", 1);
        if (err_body->len)
            err_body->len--;
        *status = st;
    }
    return rc;
}

int
node_httpc_request(const char *hostport, const char *method, const char *path, const char *body,
                   int timeout_ms, int *status, aria_buf *resp)
{
    int fd = -1;
    int rc = connect_send(hostport, method, path, body, "HTTP/1.1", &fd);
    if (rc)
        return rc;
    aria_buf raw;
    aria_buf_init(&raw, NODE_HTTPC_MAX_RESPONSE);
    uint64_t deadline = aria_mono_ms() + (uint64_t)timeout_ms;
    char chunk[4096];
    for (;;) {
        uint64_t now = aria_mono_ms();
        if (now >= deadline) {
            rc = aria_errf(ARIA_ETIMEDOUT, "no complete answer from the node at %s in %d ms",
                           hostport, timeout_ms);
            break;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = poll(&pfd, 1, (int)(deadline - now));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue; /* the deadline check above reports the timeout */
        ssize_t k = recv(fd, chunk, sizeof chunk, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = aria_errf(ARIA_EIO, "receiving from node %s: %s", hostport, strerror(errno));
            break;
        }
        if (k == 0)
            break;
        if (aria_buf_put(&raw, chunk, (size_t)k)) {
            rc = aria_errf(ARIA_ERANGE, "answer from node %s is over %u bytes", hostport,
                           NODE_HTTPC_MAX_RESPONSE);
            break;
        }
    }
    close(fd);
    if (rc) {
        aria_buf_fini(&raw);
        return rc;
    }
    rc = node_httpc_parse_response(raw.data, raw.len, hostport, status, resp);
    aria_buf_fini(&raw);
    return rc;
}
