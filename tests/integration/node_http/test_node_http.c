/*
 * The HTTP API against a real node process: models, completions (plain and
 * streamed as server-sent events), chat, metrics, every error status, and a
 * clean SIGTERM. The model is a small synthetic one made by `aria model
 * synth`, so the text is gibberish; what is checked is the protocol.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base.h"

static pid_t node_pid;
static int node_port;
static char tmpdir[64];

static const char *
bin(void)
{
    const char *b = getenv("ARIA_BIN");
    cr_assert(b && *b, "ARIA_BIN is not set (run through ctest)");
    return b;
}

static void
start_node(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/aria-http-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s model synth --arch bitnet-b1.58 --layers 2 --embd 256 --ff 512 --heads 4 "
             "--kv-heads 2 --vocab 1024 --type i2_s --seed 7 --tokenizer gpt2 -o %s/m.gguf",
             bin(), tmpdir);
    cr_assert_eq(system(cmd), 0, "synth failed: %s", cmd);
    int out[2];
    cr_assert_eq(pipe(out), 0);
    const char *aria = bin();
    node_pid = fork();
    if (node_pid == 0) {
        /* child: no cr_* calls here (they talk to the test runner) */
        dup2(out[1], 1);
        close(out[0]);
        char model[128], data[128];
        snprintf(model, sizeof model, "%s/m.gguf", tmpdir);
        snprintf(data, sizeof data, "%s/data", tmpdir);
        execl(aria, "aria", "node", "run", "--model", model, "--http", "127.0.0.1:0", "--data-dir",
              data, "--capacity", "1", "--threads", "1", "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    cr_assert(node_pid > 0, "fork failed");
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[256] = "";
    cr_assert_not_null(fgets(line, sizeof line, f), "node printed no ready line");
    fclose(f);
    const char *p = strstr(line, "http=127.0.0.1:");
    cr_assert_not_null(p, "unexpected ready line: %s", line);
    node_port = (int)strtol(p + 15, NULL, 10);
    cr_assert(node_port > 0);
}

static void
stop_node(void)
{
    if (node_pid > 0) {
        kill(node_pid, SIGKILL);
        waitpid(node_pid, NULL, 0);
        node_pid = 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

/* One request with Connection: close; returns the status, fills body. */
typedef struct {
    int status;
    char *body;
    size_t len;
} http_resp;

static void
http(const char *method, const char *path, const char *body, size_t body_len, http_resp *r)
{
    memset(r, 0, sizeof *r);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)node_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, path, body ? body_len : 0);
    cr_assert_eq(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
    size_t off = 0;
    while (body && off < body_len) {
        ssize_t k = send(fd, body + off, body_len - off, MSG_NOSIGNAL);
        if (k <= 0)
            break; /* the server may refuse a huge body early */
        off += (size_t)k;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t k = recv(fd, buf + len, cap - len - 1, 0);
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    buf[len] = '\0';
    cr_assert(sscanf(buf, "HTTP/1.1 %d", &r->status) == 1, "no status line in: %.200s", buf);
    char *b = strstr(buf, "\r\n\r\n");
    cr_assert_not_null(b);
    r->body = strdup(b + 4);
    r->len = strlen(r->body);
    free(buf);
}

static json_t *
json_of(const http_resp *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    cr_assert_not_null(j, "not JSON (%s): %.300s", e.text, r->body);
    return j;
}

static void
expect_error(const char *method, const char *path, const char *body, int status, const char *code)
{
    http_resp r;
    http(method, path, body, body ? strlen(body) : 0, &r);
    cr_assert_eq(r.status, status, "%s %s: status %d, want %d: %s", method, path, r.status, status,
                 r.body);
    json_t *j = json_of(&r);
    json_t *e = json_object_get(j, "error");
    cr_assert(json_is_object(e), "no error object: %s", r.body);
    cr_assert(json_is_string(json_object_get(e, "message")));
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), code, "%s", r.body);
    json_decref(j);
    free(r.body);
}

TestSuite(node_http, .init = start_node, .fini = stop_node, .timeout = 240);

Test(node_http, serves_models_completions_chat_and_metrics)
{
    http_resp r;
    http("GET", "/v1/models", NULL, 0, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *j = json_of(&r);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "id")),
        "m");
    json_decref(j);
    free(r.body);

    const char *req =
        "{\"model\":\"m\",\"prompt\":\"hello world\",\"max_tokens\":12,\"temperature\":0}";
    http("POST", "/v1/completions", req, strlen(req), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = json_of(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "object")), "text_completion");
    json_t *u = json_object_get(j, "usage");
    cr_assert_eq(json_integer_value(json_object_get(u, "completion_tokens")), 12, "%s", r.body);
    char *first = strdup(json_string_value(
        json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text")));
    json_decref(j);
    free(r.body);

    /* greedy is deterministic: the same request gives the same text */
    http("POST", "/v1/completions", req, strlen(req), &r);
    j = json_of(&r);
    cr_assert_str_eq(json_string_value(
                         json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text")),
                     first);
    json_decref(j);
    free(r.body);
    free(first);

    const char *chat = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5}";
    http("POST", "/v1/chat/completions", chat, strlen(chat), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = json_of(&r);
    json_t *msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
    cr_assert_str_eq(json_string_value(json_object_get(msg, "role")), "assistant");
    cr_assert_str_eq(json_string_value(json_object_get(j, "model")), "m");
    json_decref(j);
    free(r.body);

    http("GET", "/metrics", NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "aria_jobs_total{result=\"done\"} 3") != NULL, "%s", r.body);
    cr_assert(strstr(r.body, "# TYPE aria_tokens_total counter") != NULL);
    free(r.body);

    http("GET", "/aria/v1/status", NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    j = json_of(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "model")), "m");
    json_decref(j);
    free(r.body);
}

Test(node_http, streams_one_event_per_token_then_done)
{
    const char *req = "{\"prompt\":\"abc\",\"max_tokens\":24,\"temperature\":0.8,\"seed\":5,"
                      "\"stream\":true}";
    http_resp r;
    http("POST", "/v1/completions", req, strlen(req), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "data: [DONE]") != NULL, "%s", r.body);
    cr_assert(strstr(r.body, "\"finish_reason\":\"length\"") != NULL, "%s", r.body);
    cr_assert(strstr(r.body, "\"completion_tokens\":24") != NULL, "%s", r.body);
    /* several events: text went out as it was produced, not at the end */
    int events = 0;
    for (const char *p = r.body; (p = strstr(p, "data: {")); p++)
        events++;
    cr_assert(events >= 4, "only %d events: %s", events, r.body);
    free(r.body);

    const char *chat = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":6,"
                       "\"stream\":true}";
    http("POST", "/v1/chat/completions", chat, strlen(chat), &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"object\":\"chat.completion.chunk\"") != NULL, "%s", r.body);
    cr_assert(strstr(r.body, "\"role\":\"assistant\"") != NULL, "%s", r.body);
    cr_assert(strstr(r.body, "data: [DONE]") != NULL);
    free(r.body);
}

Test(node_http, bad_requests_get_openai_errors_and_the_node_keeps_serving)
{
    expect_error("POST", "/v1/completions", "{\"prompt\": ", 400, "invalid_request");
    expect_error("POST", "/v1/completions", "{\"prompt\":\"x\",\"temperature\":9}", 400,
                 "invalid_request");
    expect_error("POST", "/v1/completions", "{\"model\":\"nope\",\"prompt\":\"x\"}", 404,
                 "model_not_found");
    expect_error("POST", "/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":100000}", 400,
                 "invalid_request");
    expect_error("GET", "/v1/completions", NULL, 405, "method_not_allowed");
    expect_error("GET", "/v2/nothing", NULL, 404, "not_found");
    /* this node runs without a genesis: no keystore, no ledger (node_ledger
     * tests the ledger-backed answers) */
    expect_error("GET", "/aria/v1/balance", NULL, 503, "no_provider");
    expect_error("GET", "/aria/v1/receipts", NULL, 503, "no_provider");
    expect_error("POST", "/aria/v1/send", "{\"to\":\"x\",\"amount\":1}", 503, "no_provider");
    expect_error("POST", "/aria/v1/send", "{\"to\":\"x\"}", 400, "invalid_request");
    expect_error("GET", "/aria/v1/send", NULL, 405, "method_not_allowed");
    expect_error("GET", "/aria/v1/peers", NULL, 503, "not_configured");
    /* a body over the 1 MiB limit */
    size_t big = (2u << 20);
    char *b = malloc(big);
    memset(b, ' ', big);
    http_resp r;
    http("POST", "/v1/completions", b, big, &r);
    free(b);
    cr_assert_eq(r.status, 413, "%s", r.body);
    cr_assert(strstr(r.body, "body_too_large") != NULL, "%s", r.body);
    free(r.body);
    /* still serving */
    const char *ok = "{\"prompt\":\"x\",\"max_tokens\":2}";
    http("POST", "/v1/completions", ok, strlen(ok), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    free(r.body);
}

Test(node_http, sigterm_stops_the_node_cleanly)
{
    cr_assert_eq(kill(node_pid, SIGTERM), 0);
    int st = 0;
    for (int i = 0; i < 100; i++) {
        if (waitpid(node_pid, &st, WNOHANG) == node_pid) {
            node_pid = 0;
            break;
        }
        usleep(50000);
    }
    cr_assert_eq(node_pid, 0, "node did not exit within 5 s of SIGTERM");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
}
