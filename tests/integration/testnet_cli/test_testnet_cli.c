/*
 * `aria testnet up|status|down` end to end: `up -n 3 --base-port 0` starts
 * three real detached `aria node run` processes (keystores, a genesis funding
 * each, ports picked by the OS), writes testnet.json and pid files; every
 * node answers its API with its own funded account; `status` shows the three
 * alive; a node that fails to start is named with its log; a second `up`
 * while they run is refused; `down` stops them all and keeps the data; `up`
 * again restarts the same network (same accounts, same balances from the
 * resumed ledgers); `down` again.
 *
 * The model is a small synthetic one made by `aria model synth` (given with
 * --model so the test never loads a big trained model from models/).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base.h"

#define N_NODES 3

static char root[64]; /* the temporary directory */
static char dir[96];  /* root/net: the testnet */

static const char *
bin(void)
{
    const char *b = getenv("ARIA_BIN");
    cr_assert(b && *b, "ARIA_BIN is not set (run through ctest)");
    return b;
}

/* Run a shell command; capture stdout+stderr into out; return its exit code. */
static int run(char *out, size_t size, const char *fmt, ...) ARIA_PRINTF(3, 4);
static int
run(char *out, size_t size, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[2100];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* GET path from host:port; the body as JSON (NULL if not JSON). */
static json_t *
http_get(const char *hostport, const char *path, int *status)
{
    const char *colon = strrchr(hostport, ':');
    cr_assert_not_null(colon, "bad http address '%s'", hostport);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "connect %s: %s", hostport,
                 strerror(errno));
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    cr_assert_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    static char buf[1 << 16];
    size_t len = 0;
    ssize_t k;
    while (len < sizeof buf - 1 && (k = recv(fd, buf + len, sizeof buf - 1 - len, 0)) > 0)
        len += (size_t)k;
    close(fd);
    buf[len] = 0;
    cr_assert(sscanf(buf, "HTTP/1.1 %d", status) == 1, "no status line from %s: %.200s", hostport,
              buf);
    char *b = strstr(buf, "\r\n\r\n");
    cr_assert_not_null(b);
    return json_loads(b + 4, 0, NULL);
}

/* A pid that exists and is not a zombie. */
static int
pid_running(int pid)
{
    if (pid <= 0 || kill(pid, 0) != 0)
        return 0;
    char path[64], stat[256] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = 0;
    const char *rp = strrchr(stat, ')');
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

typedef struct {
    int pid;
    char http[64], account[128], role[32];
} node_info;

static const char *diag(const node_info *nodes);

/* Read dir/testnet.json into nodes[N_NODES]. */
static void
read_testnet(node_info *nodes)
{
    char path[128];
    snprintf(path, sizeof path, "%s/testnet.json", dir);
    json_error_t e;
    json_t *top = json_load_file(path, 0, &e);
    cr_assert_not_null(top, "%s: %s", path, e.text);
    json_t *arr = json_object_get(top, "nodes");
    cr_assert_eq(json_array_size(arr), N_NODES, "%s: want %d nodes", path, N_NODES);
    for (int i = 0; i < N_NODES; i++) {
        json_t *o = json_array_get(arr, (size_t)i);
        cr_assert_eq(json_integer_value(json_object_get(o, "index")), i);
        nodes[i].pid = (int)json_integer_value(json_object_get(o, "pid"));
        const char *h = json_string_value(json_object_get(o, "http"));
        const char *a = json_string_value(json_object_get(o, "account"));
        const char *r = json_string_value(json_object_get(o, "role"));
        cr_assert(h && a && r, "node %d: http, account or role missing", i);
        snprintf(nodes[i].http, sizeof nodes[i].http, "%s", h);
        snprintf(nodes[i].account, sizeof nodes[i].account, "%s", a);
        snprintf(nodes[i].role, sizeof nodes[i].role, "%s", r);
        char dd[128];
        snprintf(dd, sizeof dd, "%s/node%d", dir, i);
        cr_assert_str_eq(json_string_value(json_object_get(o, "data_dir")), dd);
    }
    json_decref(top);
}

/* Every node runs, answers its API with its own account, funded by genesis. */
static void
check_running(const node_info *nodes)
{
    for (int i = 0; i < N_NODES; i++) {
        cr_assert(nodes[i].pid > 0 && pid_running(nodes[i].pid), "node %d (pid %d) not running%s",
                  i, nodes[i].pid, diag(nodes));
        char path[128], o[64] = "";
        snprintf(path, sizeof path, "%s/node%d/pid", dir, i);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f, "no pid file %s", path);
        cr_assert_not_null(fgets(o, sizeof o, f));
        fclose(f);
        cr_assert_eq((int)strtol(o, NULL, 10), nodes[i].pid, "%s", path);
        cr_assert(!strncmp(nodes[i].account, "tart1", 5), "node %d account %s", i,
                  nodes[i].account);
        int st = 0;
        json_t *j = http_get(nodes[i].http, "/aria/v1/status", &st);
        cr_assert_eq(st, 200, "node %d status: HTTP %d", i, st);
        cr_assert_not_null(j);
        const char *acc = json_string_value(json_object_get(j, "account"));
        cr_assert(acc && !strcmp(acc, nodes[i].account), "node %d serves account %s, not %s", i,
                  acc ? acc : "(none)", nodes[i].account);
        json_t *model = json_object_get(j, "model");
        json_t *peers = json_object_get(j, "peers"); /* once the network is in */
        if (peers)
            cr_assert(json_integer_value(peers) >= 2, "node %d sees %lld peers after up", i,
                      (long long)json_integer_value(peers));
        if (i == 0)
            cr_assert(json_is_null(model), "the entry node serves no model");
        else
            cr_assert(json_is_string(model), "provider node %d serves no model", i);
        json_decref(j);
        j = http_get(nodes[i].http, "/aria/v1/balance", &st);
        cr_assert_eq(st, 200, "node %d balance: HTTP %d", i, st);
        cr_assert_eq(json_integer_value(json_object_get(j, "balance")), 1000000000,
                     "node %d is not funded by the genesis", i);
        json_decref(j);
    }
}

/* For failure messages: each node's liveness and the end of its log, so
 * that a node that died on its own says why. */
static const char *
diag(const node_info *nodes)
{
    static char out[8192];
    size_t o = 0;
    for (int i = 0; i < N_NODES && o < sizeof out - 1; i++) {
        char path[160], tail[1024] = "";
        snprintf(path, sizeof path, "%s/node%d/node.log", dir, i);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fseek(f, -(long)(sizeof tail - 1), SEEK_END) != 0)
                rewind(f);
            size_t n = fread(tail, 1, sizeof tail - 1, f);
            tail[n] = 0;
            fclose(f);
        }
        int w = snprintf(out + o, sizeof out - o, "\n--- node %d pid %d %s; end of %s:\n%s", i,
                         nodes[i].pid, pid_running(nodes[i].pid) ? "running" : "NOT running", path,
                         tail);
        if (w < 0)
            break;
        o += (size_t)w < sizeof out - o ? (size_t)w : sizeof out - o - 1;
    }
    return out;
}

static void
cleanup(void)
{
    if (!root[0])
        return;
    char o[4096];
    (void)run(o, sizeof o, "%s testnet down --dir %s", bin(), dir);
    if (getenv("ARIA_TEST_KEEP")) /* keep the logs for a post-mortem */
        fprintf(stderr, "kept %s\n", root);
    else
        (void)run(o, sizeof o, "rm -rf %s", root);
}

static int
count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

Test(testnet_cli, up_status_down_and_restart_keep_the_network, .fini = cleanup, .timeout = 110)
{
    snprintf(root, sizeof root, "/tmp/aria-testnet-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    snprintf(dir, sizeof dir, "%s/net", root);
    static char o[65536];
    int rc = run(o, sizeof o,
                 "%s model synth --arch bitnet-b1.58 --layers 2 --embd 256 --ff 512 --heads 4 "
                 "--kv-heads 2 --vocab 1024 --type i2_s --seed 7 --tokenizer gpt2 -o %s/m.gguf",
                 bin(), root);
    cr_assert_eq(rc, 0, "synth: %s", o);

    /* Bad flags: usage, exit 2; nothing started. */
    cr_assert_eq(run(o, sizeof o, "%s testnet up -n zero --dir %s/x", bin(), root), 2, "%s", o);
    cr_assert(strstr(o, "usage: aria testnet"), "%s", o);
    cr_assert_eq(run(o, sizeof o, "%s testnet up --frob", bin()), 2, "%s", o);
    cr_assert_eq(run(o, sizeof o, "%s testnet status --dir %s/none", bin(), root), 1, "%s", o);

    /* A node that cannot start: the error names it and its log, and the
     * nodes started before it are stopped. */
    rc = run(o, sizeof o, "%s testnet up -n 2 --dir %s/bad --model %s/m.gguf -- --no-such-flag",
             bin(), root, root);
    cr_assert_eq(rc, 1, "%s", o);
    cr_assert(strstr(o, "node 0 (pid") && strstr(o, "/bad/node0/node.log"), "%s", o);
    rc = run(o, sizeof o, "%s testnet status --dir %s/bad", bin(), root);
    cr_assert_eq(rc, 0, "%s", o);
    cr_assert(strstr(o, "0 of 2 node(s) alive"), "%s", o);

    rc = run(o, sizeof o, "%s testnet up -n %d --base-port 0 --dir %s --model %s/m.gguf", bin(),
             N_NODES, dir, root);
    cr_assert_eq(rc, 0, "up failed: %s", o);
    cr_assert(strstr(o, "3 node(s) up"), "%s", o);
    cr_assert(strstr(o, "/v1/chat/completions"), "no curl example: %s", o);

    node_info a[N_NODES], b[N_NODES];
    read_testnet(a);
    cr_assert_str_eq(a[0].role, "entry");
    cr_assert_str_eq(a[1].role, "provider");
    cr_assert_str_eq(a[2].role, "provider");
    check_running(a);
    for (int i = 0; i < N_NODES; i++)
        for (int k = 0; k < i; k++)
            cr_assert(strcmp(a[i].account, a[k].account) && strcmp(a[i].http, a[k].http),
                      "nodes %d and %d share an account or an address", k, i);
    char gpath[128];
    snprintf(gpath, sizeof gpath, "%s/genesis.json", dir);
    json_t *g = json_load_file(gpath, 0, NULL);
    cr_assert_not_null(g, "%s is not JSON", gpath);
    cr_assert_eq(json_array_size(json_object_get(g, "allocations")), N_NODES);
    json_decref(g);

    rc = run(o, sizeof o, "%s testnet status --dir %s", bin(), dir);
    cr_assert_eq(rc, 0, "status: %s", o);
    cr_assert_eq(count(o, " alive "), N_NODES, "status should show 3 alive nodes:\n%s", o);
    cr_assert(strstr(o, "3 of 3 node(s) alive"), "%s%s", o, diag(a));
    cr_assert(strstr(o, "1000.000000"), "status shows no credits:\n%s", o);

    rc = run(o, sizeof o, "%s testnet up --dir %s", bin(), dir);
    cr_assert_neq(rc, 0, "a second up while running must fail: %s%s", o, diag(a));
    cr_assert(strstr(o, "already running"), "%s%s", o, diag(a));
    for (int i = 0; i < N_NODES; i++)
        cr_assert(pid_running(a[i].pid), "the refused up disturbed node %d%s", i, diag(a));

    rc = run(o, sizeof o, "%s testnet down --dir %s", bin(), dir);
    cr_assert_eq(rc, 0, "down: %s", o);
    cr_assert(strstr(o, "stopped 3 of 3"), "%s%s", o, diag(a));
    cr_assert_null(strstr(o, "killed"), "a node did not stop on SIGTERM:\n%s", o);
    for (int i = 0; i < N_NODES; i++) {
        for (int k = 0; k < 100 && pid_running(a[i].pid); k++)
            usleep(20000); /* init reaps the orphan */
        cr_assert(!pid_running(a[i].pid), "node %d (pid %d) still runs after down", i, a[i].pid);
    }
    rc = run(o, sizeof o, "%s testnet status --dir %s", bin(), dir);
    cr_assert_eq(rc, 0, "status: %s", o);
    cr_assert_eq(count(o, " down "), N_NODES, "status should show 3 down nodes:\n%s", o);

    /* Restart: same keys, same genesis, the ledgers resume. */
    rc = run(o, sizeof o, "%s testnet up --dir %s", bin(), dir);
    cr_assert_eq(rc, 0, "restart failed: %s", o);
    cr_assert(strstr(o, "restarted"), "%s", o);
    read_testnet(b);
    for (int i = 0; i < N_NODES; i++) {
        cr_assert_str_eq(b[i].account, a[i].account, "node %d changed account on restart", i);
        cr_assert_neq(b[i].pid, a[i].pid);
    }
    check_running(b);

    rc = run(o, sizeof o, "%s testnet down --dir %s", bin(), dir);
    cr_assert_eq(rc, 0, "down: %s", o);
    for (int i = 0; i < N_NODES; i++) {
        for (int k = 0; k < 100 && pid_running(b[i].pid); k++)
            usleep(20000);
        cr_assert(!pid_running(b[i].pid), "node %d (pid %d) still runs after down", i, b[i].pid);
    }
}
