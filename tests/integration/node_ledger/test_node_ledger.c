/*
 * The node owns its identity and ledger: a real `aria node run` with a
 * genesis funding its account (keystore made by `aria wallet new`) claims its
 * allocation, answers balance/receipts/metrics, signs sends through
 * POST /aria/v1/send and `aria wallet send`, refuses overspends and bad
 * addresses, stops cleanly leaving a ledger `aria ledger verify` accepts, and
 * resumes with the same account and balance after a restart.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base.h"
#include "ledger.h"
#include "wallet.h"

static char dir[64];
static pid_t node_pid;
static int node_port;

static const char *
bin(void)
{
    const char *b = getenv("ARIA_BIN");
    cr_assert(b && *b, "ARIA_BIN is not set (run through ctest)");
    return b;
}

/* Run a shell command; capture stdout+stderr into out; return exit code. */
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

typedef struct {
    int status;
    json_t *j;
} resp;

static resp
http(const char *method, const char *path, const char *body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)node_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[1024];
    size_t bl = body ? strlen(body) : 0;
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, bl, body ? body : "");
    cr_assert_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    static char buf[1 << 16];
    size_t len = 0;
    ssize_t k;
    while (len < sizeof buf - 1 && (k = recv(fd, buf + len, sizeof buf - 1 - len, 0)) > 0)
        len += (size_t)k;
    close(fd);
    buf[len] = 0;
    resp r = {0, NULL};
    cr_assert(sscanf(buf, "HTTP/1.1 %d", &r.status) == 1, "no status line: %.200s", buf);
    char *b = strstr(buf, "\r\n\r\n");
    cr_assert_not_null(b);
    if (strstr(path, "/metrics"))
        r.j = json_string(b + 4);
    else {
        json_error_t e;
        r.j = json_loads(b + 4, 0, &e);
        cr_assert_not_null(r.j, "not JSON (%s): %.300s", e.text, b + 4);
    }
    return r;
}

static long long
get_int(json_t *j, const char *k)
{
    json_t *v = json_object_get(j, k);
    cr_assert(json_is_integer(v), "no integer '%s'", k);
    return (long long)json_integer_value(v);
}

/* Start the node; extra = further flags. */
static void
start_node_in(const char *sub, const char *extra)
{
    int out[2];
    cr_assert_eq(pipe(out), 0);
    node_pid = fork();
    if (node_pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "exec %s node run --data-dir %s/%s --http 127.0.0.1:0 --gossip tcp://127.0.0.1:0 "
                 "--service tcp://127.0.0.1:0 --log-level warn %s",
                 bin(), dir, sub, extra);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    cr_assert(node_pid > 0);
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
start_node(const char *extra)
{
    start_node_in("data", extra);
}

static void
stop_node(void)
{
    cr_assert_eq(kill(node_pid, SIGTERM), 0);
    int st = 0;
    cr_assert_eq(waitpid(node_pid, &st, 0), node_pid);
    node_pid = 0;
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "node did not stop cleanly: %d", st);
}

static void
cleanup(void)
{
    if (node_pid > 0) {
        kill(node_pid, SIGKILL);
        waitpid(node_pid, NULL, 0);
    }
    if (dir[0]) {
        char o[256];
        (void)run(o, sizeof o, "rm -rf %s", dir);
    }
}

static void
check_balance2(const char *account, long long available, long long pending, long long incoming)
{
    char path[200];
    snprintf(path, sizeof path, "/aria/v1/balance%s%s", account ? "?account=" : "",
             account ? account : "");
    resp r = http("GET", path, NULL);
    cr_assert_eq(r.status, 200, "%s: %d", path, r.status);
    cr_assert_eq(get_int(r.j, "available"), available, "%s", path);
    cr_assert_eq(get_int(r.j, "pending"), pending, "%s", path);
    cr_assert_eq(get_int(r.j, "balance"), available + pending);
    cr_assert_eq(get_int(r.j, "incoming"), incoming, "%s", path);
    if (account)
        cr_assert_str_eq(json_string_value(json_object_get(r.j, "account")), account);
    json_decref(r.j);
}

static void
check_balance(const char *account, long long available, long long incoming)
{
    check_balance2(account, available, 0, incoming);
}

Test(node_ledger, owns_keystore_and_ledger_sends_and_resumes, .fini = cleanup, .timeout = 110)
{
    setenv("ARIA_KEYSTORE_KDF", "min", 1);
    unsetenv("ARIA_PASSPHRASE");
    unsetenv("ARIA_NODE");
    snprintf(dir, sizeof dir, "/tmp/aria-nledger-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char o[4096], a[128], b[128], node[64];
    cr_assert_eq(run(o, sizeof o, "mkdir %s/data %s/datab", dir, dir), 0);
    cr_assert_eq(run(o, sizeof o,
                     "%s wallet new --no-passphrase --testnet --file %s/data/wallet.key", bin(),
                     dir),
                 0, "%s", o);
    cr_assert_eq(run(o, sizeof o,
                     "%s wallet new --no-passphrase --testnet --file %s/datab/wallet.key", bin(),
                     dir),
                 0, "%s", o);
    cr_assert_eq(
        run(a, sizeof a, "%s wallet address --testnet --file %s/data/wallet.key", bin(), dir), 0);
    cr_assert_eq(
        run(b, sizeof b, "%s wallet address --testnet --file %s/datab/wallet.key", bin(), dir), 0);
    a[strcspn(a, "\n")] = 0, b[strcspn(b, "\n")] = 0;
    cr_assert(!strncmp(a, "tart1", 5) && !strncmp(b, "tart1", 5), "%s %s", a, b);
    char gpath[128];
    snprintf(gpath, sizeof gpath, "%s/genesis.json", dir);
    FILE *g = fopen(gpath, "w");
    cr_assert_not_null(g);
    fprintf(g,
            "{\"name\": \"node-ledger-test\", \"timestamp_ms\": 1764000000000,\n"
            " \"allocations\": [{\"account\": \"%s\", \"amount\": 1000000},\n"
            "                 {\"account\": \"%s\", \"amount\": 5000}]}\n",
            a, b);
    fclose(g);

    /* An unencrypted keystore needs --testnet. */
    cr_assert_eq(run(o, sizeof o,
                     "%s node run --data-dir %s/data --http 127.0.0.1:0 --gossip tcp://127.0.0.1:0 "
                     "--service tcp://127.0.0.1:0 --genesis %s",
                     bin(), dir, gpath),
                 1, "%s", o);
    cr_assert(strstr(o, "unencrypted") != NULL, "%s", o);

    char extra[256];
    snprintf(extra, sizeof extra, "--testnet --genesis %s", gpath);
    start_node(extra);
    snprintf(node, sizeof node, "127.0.0.1:%d", node_port);

    /* The genesis allocation is claimed and shown. */
    check_balance(NULL, 1000000, 0);
    check_balance(a, 1000000, 0);
    check_balance(b, 0, 0);
    cr_assert_eq(run(o, sizeof o, "%s wallet balance --node %s", bin(), node), 0, "%s", o);
    cr_assert(strstr(o, "available 1000000\n") && strstr(o, a), "%s", o);

    /* A send through the CLI and one through HTTP. */
    cr_assert_eq(run(o, sizeof o, "%s wallet send %s 250000 --node %s", bin(), b, node), 0, "%s",
                 o);
    cr_assert(strstr(o, "sent 250000") && strstr(o, "available 750000"), "%s", o);
    char body[256];
    snprintf(body, sizeof body, "{\"to\": \"%s\", \"amount\": 1000}", b);
    resp r = http("POST", "/aria/v1/send", body);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(get_int(r.j, "available"), 749000);
    cr_assert_eq(strlen(json_string_value(json_object_get(r.j, "entry"))), 64);
    json_decref(r.j);
    check_balance(NULL, 749000, 0);
    check_balance(b, 0, 251000);

    /* Overspend, bad address, bad body: clear errors, nothing changes. */
    snprintf(body, sizeof body, "{\"to\": \"%s\", \"amount\": 749001}", b);
    r = http("POST", "/aria/v1/send", body);
    cr_assert_eq(r.status, 402);
    const char *msg = json_string_value(json_object_get(json_object_get(r.j, "error"), "message"));
    cr_assert(msg && strstr(msg, "available 749000"), "%s", msg ? msg : "-");
    json_decref(r.j);
    char bad[128];
    snprintf(bad, sizeof bad, "%s", b);
    bad[10] = bad[10] == 'q' ? 'p' : 'q'; /* a typo: checksum fails */
    snprintf(body, sizeof body, "{\"to\": \"%s\", \"amount\": 1}", bad);
    r = http("POST", "/aria/v1/send", body);
    cr_assert_eq(r.status, 400);
    msg = json_string_value(json_object_get(json_object_get(r.j, "error"), "message"));
    cr_assert(msg && strstr(msg, "'to' address"), "%s", msg ? msg : "-");
    json_decref(r.j);
    r = http("POST", "/aria/v1/send", "{\"to\": 5, \"amount\": 1}");
    cr_assert_eq(r.status, 400);
    json_decref(r.j);
    snprintf(body, sizeof body, "{\"to\": \"%s\", \"amount\": 0}", b);
    r = http("POST", "/aria/v1/send", body);
    cr_assert_eq(r.status, 400);
    json_decref(r.j);
    cr_assert_eq(run(o, sizeof o, "%s wallet send %s 9999999 --node %s", bin(), b, node), 1, "%s",
                 o);
    cr_assert(strstr(o, "402"), "%s", o);
    cr_assert_eq(run(o, sizeof o, "%s wallet send %s 1 --node %s", bin(), a, node), 1, "%s", o);
    cr_assert(strstr(o, "own account"), "%s", o);
    check_balance(NULL, 749000, 0);

    /* Receipts (none: no paid jobs yet) and metrics. */
    r = http("GET", "/aria/v1/receipts", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.j, "receipts")), 0);
    json_decref(r.j);
    r = http("GET", "/metrics", NULL);
    cr_assert_eq(r.status, 200);
    const char *m = json_string_value(r.j);
    cr_assert(strstr(m, "aria_credits_balance{state=\"available\"} 749000\n"), "%s", m);
    cr_assert(strstr(m, "aria_credits_sent_total 251000\n"), "%s", m);
    json_decref(r.j);
    stop_node();

    /* The ledger the node left verifies and conserves supply. */
    cr_assert_eq(run(o, sizeof o, "%s ledger --dir %s/data/ledger verify", bin(), dir), 0, "%s", o);
    cr_assert(strstr(o, "verify: ok") && strstr(o, "conserved"), "%s", o);
    cr_assert(strstr(o, "balances 749000 + in flight 251000"), "%s", o);

    /* Restart without --genesis: same account, same balance. */
    start_node("--testnet");
    snprintf(node, sizeof node, "127.0.0.1:%d", node_port);
    check_balance(a, 749000, 0);
    check_balance(b, 0, 251000);
    cr_assert_eq(run(o, sizeof o, "%s wallet balance --node %s", bin(), node), 0, "%s", o);
    cr_assert(strstr(o, "available 749000\n"), "%s", o);
    stop_node();

    /* B's own node, given A's entries, receives the 251000 A sent (pending
     * for the 60 s settle delay) and pays 5000 back; A's node, given B's
     * entries, receives them in turn. */
    cr_assert_eq(
        run(o, sizeof o, "%s ledger --dir %s/data/ledger export %s/a.exp", bin(), dir, dir), 0,
        "%s", o);
    cr_assert_eq(
        run(o, sizeof o, "%s ledger --dir %s/datab/ledger --genesis %s init", bin(), dir, gpath), 0,
        "%s", o);
    cr_assert_eq(
        run(o, sizeof o, "%s ledger --dir %s/datab/ledger import %s/a.exp", bin(), dir, dir), 0,
        "%s", o);
    start_node_in("datab", "--testnet");
    check_balance2(NULL, 5000, 251000, 0);
    check_balance(a, 749000, 0);
    snprintf(body, sizeof body, "{\"to\": \"%s\", \"amount\": 6000}", a);
    r = http("POST", "/aria/v1/send", body); /* pending credits are not spendable yet */
    cr_assert_eq(r.status, 402);
    json_decref(r.j);
    /* 8 concurrent sends of 1000 from B's 5000 available: exactly 5 pass. */
    snprintf(node, sizeof node, "127.0.0.1:%d", node_port);
    pid_t kids[8];
    for (int i = 0; i < 8; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            int devnull = open("/dev/null", O_WRONLY);
            dup2(devnull, 1), dup2(devnull, 2);
            execl(bin(), "aria", "wallet", "send", a, "1000", "--node", node, (char *)NULL);
            _exit(127);
        }
        cr_assert(kids[i] > 0);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < 8; i++) {
        int st = 0;
        cr_assert_eq(waitpid(kids[i], &st, 0), kids[i]);
        cr_assert(WIFEXITED(st));
        ok += WEXITSTATUS(st) == 0, refused += WEXITSTATUS(st) == 1;
    }
    cr_assert_eq(ok, 5, "%d sends passed, %d refused", ok, refused);
    cr_assert_eq(refused, 3);
    check_balance2(NULL, 0, 251000, 0);
    check_balance(a, 749000, 5000);
    stop_node();
    cr_assert_eq(
        run(o, sizeof o, "%s ledger --dir %s/datab/ledger export %s/b.exp", bin(), dir, dir), 0,
        "%s", o);
    cr_assert_eq(
        run(o, sizeof o, "%s ledger --dir %s/data/ledger import %s/b.exp", bin(), dir, dir), 0,
        "%s", o);
    start_node("--testnet");
    check_balance2(NULL, 749000, 5000, 0);
    check_balance2(b, 0, 251000, 0);
    stop_node();
    cr_assert_eq(run(o, sizeof o, "%s ledger --dir %s/data/ledger verify", bin(), dir), 0, "%s", o);
    cr_assert(strstr(o, "verify: ok") && strstr(o, "balances 1005000 + in flight 0"), "%s", o);

    /* A paid job's settlement: A pays B 100 with a receipt B signed (as the
     * network path will); the node lists it for both sides. */
    {
        char ka[128], kb[128], ldir[128];
        snprintf(ka, sizeof ka, "%s/data/wallet.key", dir);
        snprintf(kb, sizeof kb, "%s/datab/wallet.key", dir);
        snprintf(ldir, sizeof ldir, "%s/data/ledger", dir);
        wallet *wa = NULL, *wb = NULL;
        ledger *l = NULL;
        cr_assert_eq(wallet_keystore_load(ka, NULL, &wa), 0);
        cr_assert_eq(wallet_keystore_load(kb, NULL, &wb), 0);
        cr_assert_eq(ledger_open(ldir, NULL, NULL, &l), 0, "%s", aria_err_msg());
        uint8_t ida[32], idb[32];
        wallet_account_id(wa, ida);
        wallet_account_id(wb, idb);
        ledger_account_info ai;
        cr_assert_eq(ledger_account(l, ida, &ai), 0);
        ledger_entry e;
        memset(&e, 0, sizeof e);
        ledger_network_id(l, e.network);
        e.seq = ai.chain_len;
        memcpy(e.prev, ai.head, 32);
        e.kind = LEDGER_KIND_SEND;
        e.amount = 100;
        memcpy(e.to, idb, 32);
        e.has_receipt = true;
        memset(e.receipt.job_id, 0x4a, 32);
        snprintf(e.receipt.model_id, sizeof e.receipt.model_id, "bitnet-test");
        e.receipt.tokens_in = 7;
        e.receipt.tokens_out = 10;
        memset(e.receipt.output_hash, 0x0b, 32);
        cr_assert_eq(ledger_receipt_sign(e.network, &e.receipt, wb), 0);
        aria_buf eb;
        aria_buf_init(&eb, LEDGER_ENTRY_MAX_BYTES);
        cr_assert_eq(ledger_entry_sign(&e, wa, &eb, NULL), 0);
        cr_assert_eq(ledger_apply(l, eb.data, eb.len, NULL), 0, "%s", aria_err_msg());
        aria_buf_fini(&eb);
        ledger_close(l);
        wallet_free(wa);
        wallet_free(wb);
    }
    start_node("--testnet");
    check_balance2(NULL, 748900, 5000, 0);
    for (int side = 0; side < 2; side++) {
        char path[200];
        snprintf(path, sizeof path, "/aria/v1/receipts%s%s", side ? "?account=" : "",
                 side ? b : "");
        r = http("GET", path, NULL);
        cr_assert_eq(r.status, 200);
        json_t *list = json_object_get(r.j, "receipts");
        cr_assert_eq(json_array_size(list), 1, "%s", path);
        json_t *rc0 = json_array_get(list, 0);
        cr_assert_str_eq(json_string_value(json_object_get(rc0, "requester")), a);
        cr_assert_str_eq(json_string_value(json_object_get(rc0, "provider")), b);
        cr_assert_str_eq(json_string_value(json_object_get(rc0, "model")), "bitnet-test");
        cr_assert_eq(get_int(rc0, "amount"), 100);
        cr_assert_eq(get_int(rc0, "tokens_out"), 10);
        json_decref(r.j);
    }
    stop_node();

    /* The CLI without a node: a clear error. */
    cr_assert_eq(run(o, sizeof o, "%s wallet balance --node %s", bin(), node), 1, "%s", o);
    cr_assert(strstr(o, "cannot connect"), "%s", o);

    /* A different genesis is refused. */
    g = fopen(gpath, "w");
    fprintf(g, "{\"name\": \"other\", \"allocations\": [{\"account\": \"%s\", \"amount\": 5}]}", a);
    fclose(g);
    cr_assert_eq(run(o, sizeof o,
                     "%s node run --data-dir %s/data --http 127.0.0.1:0 --gossip tcp://127.0.0.1:0 "
                     "--service tcp://127.0.0.1:0 --testnet --genesis %s",
                     bin(), dir, gpath),
                 1, "%s", o);
}

Test(node_ledger, creates_an_encrypted_keystore_with_a_passphrase, .fini = cleanup, .timeout = 110)
{
    setenv("ARIA_KEYSTORE_KDF", "min", 1);
    unsetenv("ARIA_PASSPHRASE");
    snprintf(dir, sizeof dir, "/tmp/aria-nledger-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char o[4096], gpath[128], other[128];
    cr_assert_eq(run(o, sizeof o, "%s wallet new --no-passphrase --file %s/b.key", bin(), dir), 0,
                 "%s", o);
    cr_assert_eq(run(other, sizeof other, "%s wallet address --file %s/b.key", bin(), dir), 0);
    other[strcspn(other, "\n")] = 0;
    snprintf(gpath, sizeof gpath, "%s/genesis.json", dir);
    FILE *g = fopen(gpath, "w");
    cr_assert_not_null(g);
    fprintf(g, "{\"name\": \"enc\", \"allocations\": [{\"account\": \"%s\", \"amount\": 7}]}",
            other);
    fclose(g);
    /* Neither a passphrase nor a testnet: refused, no keystore written. */
    cr_assert_eq(run(o, sizeof o,
                     "%s node run --data-dir %s/data --http 127.0.0.1:0 --gossip tcp://127.0.0.1:0 "
                     "--service tcp://127.0.0.1:0 --genesis %s",
                     bin(), dir, gpath),
                 1, "%s", o);
    cr_assert(strstr(o, "ARIA_PASSPHRASE"), "%s", o);
    cr_assert_neq(run(o, sizeof o, "test -e %s/data/wallet.key", dir), 0);

    setenv("ARIA_PASSPHRASE", "correct horse", 1);
    char extra[256];
    snprintf(extra, sizeof extra, "--genesis %s", gpath);
    start_node(extra);
    resp r = http("GET", "/aria/v1/balance", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(get_int(r.j, "available"), 0);
    char acct[80];
    snprintf(acct, sizeof acct, "%s", json_string_value(json_object_get(r.j, "account")));
    cr_assert(!strncmp(acct, "aria1", 5), "%s", acct); /* not a testnet */
    json_decref(r.j);
    snprintf(extra, sizeof extra, "{\"to\": \"%s\", \"amount\": 1}", other);
    r = http("POST", "/aria/v1/send", extra);
    cr_assert_eq(r.status, 402); /* nothing to send */
    json_decref(r.j);
    stop_node();
    /* The file is encrypted and holds the account the node reported. */
    cr_assert_eq(run(o, sizeof o, "%s wallet show --file %s/data/wallet.key", bin(), dir), 0, "%s",
                 o);
    cr_assert(strstr(o, acct) && strstr(o, "encrypted"), "%s", o);
    /* A wrong passphrase stops the start. */
    setenv("ARIA_PASSPHRASE", "wrong", 1);
    cr_assert_eq(run(o, sizeof o,
                     "%s node run --data-dir %s/data --http 127.0.0.1:0 --gossip tcp://127.0.0.1:0 "
                     "--service tcp://127.0.0.1:0",
                     bin(), dir),
                 1, "%s", o);
    unsetenv("ARIA_PASSPHRASE");
}
