/*
 * cmd_testnet.c — `aria testnet up|status|down`: a local network of N real
 * `aria node run` processes on loopback, each with its own data directory,
 * keystore, ports and log file, funded by one genesis file.
 *
 * Layout of a testnet directory D (docs/testnet.md):
 *   D/.lock                 flock'ed by a running up or down
 *   D/genesis.json          funds every node's account (TESTNET_FUND_MICRO)
 *   D/testnet.json          the network's description: written before any node
 *                           starts (pids 0) and rewritten once all are ready
 *   D/model-synthetic.gguf  only when no model was given or found
 *   D/node<i>/wallet.key    the node's unencrypted testnet keystore
 *   D/node<i>/node.log      the node's stdout+stderr, appended across restarts
 *   D/node<i>/pid           the node's pid while it runs
 *   D/node<i>/ledger/       the node's ledger (made by the node)
 *
 * Invariants: keys and the genesis are made once, by the first `up`; a later
 * `up` in the same directory reuses them (same accounts, same network id) and
 * refuses to run while any node of the network is alive. A pid counts as a
 * live node only if /proc/<pid>/cmdline is an `aria node run` on that node's
 * data directory, so a recycled pid is never signalled by `down`.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "httpc.h"
#include "kern_gguf.h"
#include "wallet.h"

#define TESTNET_MAX_NODES       256
#define TESTNET_FUND_MICRO      1000000000ull /* 1,000 credits per node */
#define TESTNET_PATH_MAX        1024
#define TESTNET_HTTP_TIMEOUT_MS 2000
#define TESTNET_STOP_WAIT_MS    10000
#define TESTNET_MAX_EXTRA       16 /* node flags after `up ... --` */
#define TESTNET_EXTRA_LEN       256

typedef struct testnet_node {
    char role[24];              /* "entry", "entry+provider", "provider", "requester" */
    bool provider;              /* serves the model */
    char dir[TESTNET_PATH_MAX]; /* D/node<i> */
    char log[TESTNET_PATH_MAX + 16];
    char http[64];    /* 127.0.0.1:PORT as listened (read back) */
    char gossip[96];  /* tcp://127.0.0.1:PORT, "" unknown */
    char service[96]; /* tcp://127.0.0.1:PORT, "" unknown */
    char account[WALLET_ADDRESS_MAX];
    char model_id[128]; /* from the ready line, "" unknown */
    int pid;            /* 0 = not started by this run */
    bool ready;
    long log_off; /* log size when this run started the node */
} testnet_node;

typedef struct testnet {
    char dir[TESTNET_PATH_MAX]; /* absolute */
    char model[TESTNET_PATH_MAX];
    bool synthetic;
    int n, n_providers;
    unsigned base_port; /* 0 = every port picked by the OS */
    int n_extra;        /* flags appended to every node's command line */
    char extra[TESTNET_MAX_EXTRA][TESTNET_EXTRA_LEN];
    testnet_node *nodes;
    int lock_fd; /* D/.lock, held by up and down; -1 = not held */
} testnet;

static const cli_verb *
verb(void)
{
    return cli_verb_find("testnet");
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int
path_join(char *out, size_t size, const char *a, const char *b)
{
    int n = aria_snprintf(out, size, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= size)
        return aria_errf(ARIA_ERANGE, "path too long: %s/%s", a, b);
    return 0;
}

static bool
file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Write `text` to `path` atomically (temp file, fsync, rename). */
static int
write_file_atomic(const char *path, const char *text)
{
    char tmp[TESTNET_PATH_MAX + 16];
    aria_snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return aria_errf(ARIA_EIO, "cannot create %s: %s", tmp, strerror(errno));
    size_t len = strlen(text);
    bool ok = fwrite(text, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        (void)unlink(tmp);
        return aria_errf(ARIA_EIO, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Processes                                                            */
/* ------------------------------------------------------------------ */

/* True if pid is a running (not zombie) `aria node run` whose command line
 * names `data_dir`: a pid recycled by another program does not count. */
static bool
node_alive(int pid, const char *data_dir)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) != 0 && errno != EPERM)
        return false;
    char path[64];
    aria_snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* argv strings separated by NULs; a zombie has an empty cmdline */
    bool saw_node = false, saw_dir = false;
    for (size_t i = 0; i < n;) {
        const char *arg = buf + i;
        size_t l = strlen(arg);
        if (!strcmp(arg, "node"))
            saw_node = true;
        if (!strcmp(arg, "--data-dir") && i + l + 1 < n && !strcmp(buf + i + l + 1, data_dir))
            saw_dir = true;
        i += l + 1;
    }
    return saw_node && saw_dir;
}

static int
read_pid_file(const testnet_node *nd)
{
    char path[TESTNET_PATH_MAX + 8];
    aria_snprintf(path, sizeof path, "%s/pid", nd->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[32] = "";
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    line[strcspn(line, "\n")] = 0;
    int64_t v = 0;
    if (!ok || aria_parse_i64(line, 1, INT_MAX, path, &v))
        return 0;
    return (int)v;
}

static void
write_pid_file(const testnet_node *nd)
{
    char path[TESTNET_PATH_MAX + 8], text[32];
    aria_snprintf(path, sizeof path, "%s/pid", nd->dir);
    aria_snprintf(text, sizeof text, "%d\n", nd->pid);
    if (write_file_atomic(path, text))
        fprintf(stderr, "aria testnet: warning: %s\n", aria_err_msg());
}

static void
remove_pid_file(const testnet_node *nd)
{
    char path[TESTNET_PATH_MAX + 8];
    aria_snprintf(path, sizeof path, "%s/pid", nd->dir);
    (void)unlink(path);
}

/* Print the last `lines` lines of a log file to stderr. */
static void
print_log_tail(const char *log, int lines)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char buf[4096];
    long size = (fseek(f, 0, SEEK_END) == 0) ? ftell(f) : 0;
    long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
    size_t n = 0;
    if (fseek(f, from, SEEK_SET) == 0)
        n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = buf + n;
    int seen = 0;
    while (p > buf) {
        if (p[-1] == '\n' && p != buf + n && ++seen > lines)
            break;
        p--;
    }
    fprintf(stderr, "--- last lines of %s ---\n%s%s", log, p,
            (n && buf[n - 1] != '\n') ? "\n" : "");
}

/* ------------------------------------------------------------------ */
/* testnet.json                                                         */
/* ------------------------------------------------------------------ */

static int
node_paths(testnet *t, int i)
{
    testnet_node *nd = &t->nodes[i];
    char name[32];
    aria_snprintf(name, sizeof name, "node%d", i);
    int rc = path_join(nd->dir, sizeof nd->dir, t->dir, name);
    if (!rc)
        rc = path_join(nd->log, sizeof nd->log, nd->dir, "node.log");
    return rc;
}

static void
assign_roles(testnet *t)
{
    /* The last n_providers nodes serve the model; node 0 is the entry. */
    for (int i = 0; i < t->n; i++) {
        testnet_node *nd = &t->nodes[i];
        nd->provider = i >= t->n - t->n_providers;
        const char *role = i == 0 ? (nd->provider ? "entry+provider" : "entry")
                                  : (nd->provider ? "provider" : "requester");
        aria_snprintf(nd->role, sizeof nd->role, "%s", role);
    }
}

static int
testnet_json_write(const testnet *t)
{
    json_t *root = json_object();
    json_object_set_new(root, "format", json_integer(1));
    json_object_set_new(root, "dir", json_string(t->dir));
    json_object_set_new(root, "model", json_string(t->model));
    json_object_set_new(root, "model_synthetic", json_boolean(t->synthetic));
    json_object_set_new(root, "providers", json_integer(t->n_providers));
    json_object_set_new(root, "base_port", json_integer(t->base_port));
    json_object_set_new(root, "fund_micro", json_integer((json_int_t)TESTNET_FUND_MICRO));
    json_t *extra = json_array();
    for (int i = 0; i < t->n_extra; i++)
        json_array_append_new(extra, json_string(t->extra[i]));
    json_object_set_new(root, "node_args", extra);
    json_t *arr = json_array();
    for (int i = 0; i < t->n; i++) {
        const testnet_node *nd = &t->nodes[i];
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer(i));
        json_object_set_new(o, "role", json_string(nd->role));
        json_object_set_new(o, "pid", json_integer(nd->pid));
        json_object_set_new(o, "http", json_string(nd->http));
        json_object_set_new(o, "gossip", json_string(nd->gossip));
        json_object_set_new(o, "service", json_string(nd->service));
        json_object_set_new(o, "account", json_string(nd->account));
        json_object_set_new(o, "model_id", json_string(nd->model_id));
        json_object_set_new(o, "data_dir", json_string(nd->dir));
        json_object_set_new(o, "log", json_string(nd->log));
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "nodes", arr);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return aria_errf(ARIA_ENOMEM, "cannot encode testnet.json");
    char path[TESTNET_PATH_MAX + 16];
    aria_snprintf(path, sizeof path, "%s/testnet.json", t->dir);
    aria_buf b;
    aria_buf_init(&b, 0);
    (void)aria_buf_printf(&b, "%s\n", text);
    free(text);
    (void)aria_buf_put_u8(&b, 0);
    int rc = b.err ? b.err : write_file_atomic(path, (const char *)b.data);
    aria_buf_fini(&b);
    return rc;
}

static int
json_str_field(json_t *o, const char *key, char *out, size_t size, const char *file, int idx)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || strlen(s) >= size)
        return idx < 0
                   ? aria_errf(ARIA_EPROTO, "%s: missing or bad \"%s\"", file, key)
                   : aria_errf(ARIA_EPROTO, "%s: node %d: missing or bad \"%s\"", file, idx, key);
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

/* Load D/testnet.json into t (t->dir set, t->nodes allocated by the caller
 * for TESTNET_MAX_NODES). ARIA_ENOTFOUND if there is none. */
static int
testnet_json_read(testnet *t)
{
    char path[TESTNET_PATH_MAX + 16];
    aria_snprintf(path, sizeof path, "%s/testnet.json", t->dir);
    if (!file_exists(path))
        return aria_errf(ARIA_ENOTFOUND, "no testnet in %s (no %s): run 'aria testnet up'", t->dir,
                         path);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return aria_errf(ARIA_EPROTO, "%s: not a JSON object (line %d: %s)", path, jerr.line,
                         jerr.text);
    }
    int rc = 0;
    json_t *arr = json_object_get(root, "nodes");
    json_t *prov = json_object_get(root, "providers");
    json_t *bp = json_object_get(root, "base_port");
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n < 1 || n > TESTNET_MAX_NODES) {
        rc = aria_errf(ARIA_EPROTO, "%s: \"nodes\" must be an array of 1..%d nodes", path,
                       TESTNET_MAX_NODES);
        goto done;
    }
    if (!json_is_integer(prov) || json_integer_value(prov) < 0 ||
        json_integer_value(prov) > (json_int_t)n || !json_is_integer(bp) ||
        json_integer_value(bp) < 0 || json_integer_value(bp) > 65535) {
        rc = aria_errf(ARIA_EPROTO, "%s: bad \"providers\" or \"base_port\"", path);
        goto done;
    }
    t->n = (int)n;
    t->n_providers = (int)json_integer_value(prov);
    t->base_port = (unsigned)json_integer_value(bp);
    t->synthetic = json_is_true(json_object_get(root, "model_synthetic"));
    json_t *extra = json_object_get(root, "node_args"); /* optional */
    if (extra && (!json_is_array(extra) || json_array_size(extra) > TESTNET_MAX_EXTRA)) {
        rc = aria_errf(ARIA_EPROTO, "%s: \"node_args\" must be an array of at most %d strings",
                       path, TESTNET_MAX_EXTRA);
        goto done;
    }
    t->n_extra = (int)json_array_size(extra);
    for (int i = 0; i < t->n_extra; i++) {
        const char *a = json_string_value(json_array_get(extra, (size_t)i));
        if (!a || strlen(a) >= TESTNET_EXTRA_LEN) {
            rc = aria_errf(ARIA_EPROTO, "%s: node_args[%d] is not a string (or too long)", path, i);
            goto done;
        }
        memcpy(t->extra[i], a, strlen(a) + 1);
    }
    if ((rc = json_str_field(root, "model", t->model, sizeof t->model, path, -1)))
        goto done;
    assign_roles(t);
    for (int i = 0; i < t->n; i++) {
        testnet_node *nd = &t->nodes[i];
        json_t *o = json_array_get(arr, (size_t)i);
        json_t *pid = json_object_get(o, "pid");
        if (!json_is_object(o) || !json_is_integer(pid) || json_integer_value(pid) < 0 ||
            json_integer_value(pid) > INT_MAX) {
            rc = aria_errf(ARIA_EPROTO, "%s: node %d: not an object with an integer \"pid\"", path,
                           i);
            goto done;
        }
        if ((rc = node_paths(t, i)) ||
            (rc = json_str_field(o, "http", nd->http, sizeof nd->http, path, i)) ||
            (rc = json_str_field(o, "gossip", nd->gossip, sizeof nd->gossip, path, i)) ||
            (rc = json_str_field(o, "service", nd->service, sizeof nd->service, path, i)) ||
            (rc = json_str_field(o, "account", nd->account, sizeof nd->account, path, i)) ||
            (rc = json_str_field(o, "model_id", nd->model_id, sizeof nd->model_id, path, i)))
            goto done;
        nd->pid = (int)json_integer_value(pid);
        int p = read_pid_file(nd); /* the pid file is the fresher record */
        if (p > 0)
            nd->pid = p;
    }
done:
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Keys, genesis, model                                                 */
/* ------------------------------------------------------------------ */

/* Create the node's keystore if missing (unencrypted: testnet only), else
 * load it; fill nd->account with its tart1... address. */
static int
node_keystore(testnet_node *nd, bool *created)
{
    char path[TESTNET_PATH_MAX + 16];
    aria_snprintf(path, sizeof path, "%s/wallet.key", nd->dir);
    wallet *w = NULL;
    int rc;
    *created = !file_exists(path);
    aria_err_clear(); /* so that a detail below is from this call */
    if (*created)
        rc = wallet_keystore_create(path, NULL, &w);
    else
        rc = wallet_keystore_load(path, NULL, &w);
    if (rc)
        return aria_err_msg()[0] ? rc : aria_errf(rc, "keystore %s: %s", path, aria_strerror(rc));
    uint8_t id[WALLET_ID_BYTES];
    wallet_account_id(w, id);
    wallet_free(w);
    rc = wallet_address_encode(id, true, nd->account);
    if (rc)
        return aria_errf(rc, "keystore %s: cannot encode its address", path);
    return 0;
}

static int
genesis_write(const testnet *t, const char *path)
{
    aria_buf b;
    aria_buf_init(&b, 0);
    (void)aria_buf_printf(&b,
                          "{\n  \"name\": \"aria-testnet\",\n  \"timestamp_ms\": %" PRIu64
                          ",\n  \"allocations\": [\n",
                          aria_wall_ms());
    for (int i = 0; i < t->n; i++)
        (void)aria_buf_printf(&b, "    {\"account\": \"%s\", \"amount\": %llu}%s\n",
                              t->nodes[i].account, (unsigned long long)TESTNET_FUND_MICRO,
                              i + 1 < t->n ? "," : "");
    (void)aria_buf_printf(&b, "  ]\n}\n");
    (void)aria_buf_put_u8(&b, 0);
    int rc = b.err ? aria_errf(b.err, "cannot build %s", path)
                   : write_file_atomic(path, (const char *)b.data);
    aria_buf_fini(&b);
    return rc;
}

/* --model FILE, else the first models/ *.gguf in the source tree the binary
 * was built in (its parent directories) or in the current directory, else a
 * small synthetic model written into the testnet directory. */
static int
resolve_model(testnet *t, const char *flag_model)
{
    t->synthetic = false;
    if (flag_model) {
        if (!realpath(flag_model, t->model))
            return aria_errf(ARIA_ENOTFOUND, "--model %s: %s", flag_model, strerror(errno));
        return 0;
    }
    if (cli_default_model(t->model, sizeof t->model))
        return 0;
    int rc = path_join(t->model, sizeof t->model, t->dir, "model-synthetic.gguf");
    if (rc)
        return rc;
    t->synthetic = true;
    if (file_exists(t->model))
        return 0;
    /* Small enough to load in milliseconds and decode fast on one thread;
     * its text is gibberish (random ternary weights). */
    kern_synth_opts o = {0};
    o.arch = "bitnet-b1.58";
    o.n_layer = 2, o.n_embd = 256, o.n_ff = 512, o.n_head = 4, o.n_head_kv = 2;
    o.n_vocab = 1024, o.wtype = KERN_WT_I2_S, o.seed = 7, o.tokenizer = "gpt2";
    aria_err_clear();
    if ((rc = kern_synth_check(&o)) || (rc = kern_synth_write(&o, t->model)))
        return aria_err_msg()[0] ? rc : aria_errf(rc, "cannot write synthetic model %s", t->model);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Starting nodes                                                       */
/* ------------------------------------------------------------------ */

static void
url_port(char *out, size_t size, const char *scheme, unsigned port)
{
    aria_snprintf(out, size, "%s127.0.0.1:%u", scheme, port);
}

/* Start node i detached (own session, stdout+stderr appended to its log);
 * peers: service URLs to dial (NULL entries skipped). */
static int
node_spawn(testnet *t, int i, const char *genesis, const char *exe, const char *peer_a,
           const char *peer_b)
{
    testnet_node *nd = &t->nodes[i];
    char http[64], gossip[96], service[96];
    unsigned p = t->base_port ? t->base_port + 3u * (unsigned)i : 0;
    url_port(http, sizeof http, "", p);
    url_port(gossip, sizeof gossip, "tcp://", p ? p + 1 : 0);
    url_port(service, sizeof service, "tcp://", p ? p + 2 : 0);
    const char *argv[40 + TESTNET_MAX_EXTRA];
    int k = 0;
    argv[k++] = exe;
    argv[k++] = "node";
    argv[k++] = "run";
    argv[k++] = "--data-dir";
    argv[k++] = nd->dir;
    argv[k++] = "--genesis";
    argv[k++] = genesis;
    argv[k++] = "--testnet";
    argv[k++] = "--http";
    argv[k++] = http;
    argv[k++] = "--gossip";
    argv[k++] = gossip;
    argv[k++] = "--service";
    argv[k++] = service;
    argv[k++] = "--threads";
    argv[k++] = "1";
    argv[k++] = "--capacity";
    argv[k++] = "1";
    argv[k++] = "--log-level";
    argv[k++] = "info";
    if (nd->provider) {
        argv[k++] = "--model";
        argv[k++] = t->model;
    }
    if (peer_a && *peer_a) {
        argv[k++] = "--peer";
        argv[k++] = peer_a;
    }
    if (peer_b && *peer_b && (!peer_a || strcmp(peer_a, peer_b))) {
        argv[k++] = "--peer";
        argv[k++] = peer_b;
    }
    for (int e = 0; e < t->n_extra; e++)
        argv[k++] = t->extra[e];
    argv[k] = NULL;

    struct stat st;
    nd->log_off = stat(nd->log, &st) == 0 ? (long)st.st_size : 0;
    int logfd = open(nd->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0)
        return aria_errf(ARIA_EIO, "node %d: cannot open log %s: %s", i, nd->log, strerror(errno));
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd < 0) {
        close(logfd);
        return aria_errf(ARIA_EIO, "cannot open /dev/null: %s", strerror(errno));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(logfd);
        close(nullfd);
        return aria_errf(ARIA_EIO, "node %d: fork: %s", i, strerror(e));
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        (void)setsid();
        /* The node waits for SIGINT/SIGTERM with sigtimedwait: give it
         * default dispositions and an empty mask whatever ours are (a shell
         * running us in the background ignores SIGINT, and exec keeps that). */
        sigset_t none;
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        (void)signal(SIGINT, SIG_DFL);
        (void)signal(SIGTERM, SIG_DFL);
        (void)signal(SIGHUP, SIG_DFL);
        (void)signal(SIGPIPE, SIG_DFL);
        if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
            _exit(126);
        /* Close everything else the launcher may hold (pipes of whoever ran
         * us included), so that no reader waits for a detached node. */
        for (int fd = 3; fd < 1024; fd++)
            (void)close(fd);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    close(logfd);
    close(nullfd);
    nd->pid = (int)pid;
    nd->ready = false;
    write_pid_file(nd);
    return 0;
}

/* key=value from a ready line ("... http=H model=M gossip=G ..."); out is
 * left as it is when the key is absent or its value is "-". */
static void
ready_field(const char *line, const char *key, char *out, size_t size)
{
    size_t kl = strlen(key);
    for (const char *p = line; (p = strstr(p, key));) {
        if ((p == line || p[-1] == ' ') && p[kl] == '=') {
            p += kl + 1;
            size_t l = strcspn(p, " \r\n");
            if (l == 1 && p[0] == '-')
                return; /* "-": the node has none (no model, no network) */
            if (l > 0 && l < size) {
                memcpy(out, p, l);
                out[l] = 0;
            }
            return;
        }
        p += kl;
    }
}

/* If node's log (from log_off) holds a ready line, parse it (the first, or
 * with `last` the last one): true. */
static bool
node_check_ready(testnet_node *nd, bool last)
{
    FILE *f = fopen(nd->log, "r");
    if (!f)
        return false;
    bool found = false;
    if (fseek(f, nd->log_off, SEEK_SET) == 0) {
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            const char *r = strstr(line, "aria node: ready ");
            if (r && strchr(r, '\n')) {
                r += strlen("aria node: ready ");
                ready_field(r, "http", nd->http, sizeof nd->http);
                ready_field(r, "model", nd->model_id, sizeof nd->model_id);
                ready_field(r, "gossip", nd->gossip, sizeof nd->gossip);
                ready_field(r, "service", nd->service, sizeof nd->service);
                ready_field(r, "account", nd->account, sizeof nd->account);
                found = nd->http[0] != 0;
                if (!last)
                    break;
            }
        }
    }
    fclose(f);
    return found;
}

/* Wait until nodes [from, to) printed their ready line, or one dies, or the
 * deadline passes (error naming the node and its log). */
static int
wait_ready(testnet *t, int from, int to, uint64_t deadline_ms)
{
    for (;;) {
        int pending = 0;
        for (int i = from; i < to; i++) {
            testnet_node *nd = &t->nodes[i];
            if (nd->ready)
                continue;
            int st = 0;
            pid_t w = waitpid(nd->pid, &st, WNOHANG);
            if (w == nd->pid) {
                int pid = nd->pid;
                nd->pid = 0;
                remove_pid_file(nd);
                print_log_tail(nd->log, 12);
                if (WIFEXITED(st))
                    return aria_errf(ARIA_ESTATE,
                                     "node %d (pid %d) exited with status %d before it was "
                                     "ready; see its log %s",
                                     i, pid, WEXITSTATUS(st), nd->log);
                return aria_errf(ARIA_ESTATE,
                                 "node %d (pid %d) was killed by signal %d before it was ready; "
                                 "see its log %s",
                                 i, pid, WIFSIGNALED(st) ? WTERMSIG(st) : 0, nd->log);
            }
            if (node_check_ready(nd, false))
                nd->ready = true;
            else
                pending++;
        }
        if (!pending)
            return 0;
        if (aria_mono_ms() >= deadline_ms) {
            for (int i = from; i < to; i++)
                if (!t->nodes[i].ready) {
                    print_log_tail(t->nodes[i].log, 12);
                    return aria_errf(ARIA_ETIMEDOUT,
                                     "node %d (pid %d) printed no ready line in time "
                                     "(%d node(s) not ready); see its log %s",
                                     i, t->nodes[i].pid, pending, t->nodes[i].log);
                }
        }
        sleep_ms(50);
    }
}

/* GET a JSON object from a node's API; *out owned by the caller. */
static int
http_get_json(const char *hostport, const char *path, json_t **out)
{
    aria_buf resp;
    aria_buf_init(&resp, NODE_HTTPC_MAX_RESPONSE);
    int status = 0;
    int rc =
        node_httpc_request(hostport, "GET", path, NULL, TESTNET_HTTP_TIMEOUT_MS, &status, &resp);
    if (rc) {
        aria_buf_fini(&resp);
        return rc;
    }
    json_error_t jerr;
    json_t *j = json_loadb(resp.data ? (const char *)resp.data : "", resp.len, 0, &jerr);
    aria_buf_fini(&resp);
    if (!json_is_object(j) || status != 200) {
        json_decref(j);
        return aria_errf(ARIA_EPROTO, "node %s: GET %s answered HTTP %d%s", hostport, path, status,
                         json_is_object(j) ? "" : " with no JSON object");
    }
    *out = j;
    return 0;
}

/* Wait until every node reports at least `want` peers. Returns 1 (and warns)
 * if the build's status has no "peers" field: no network to wait for. */
static int
wait_peers(testnet *t, int want, uint64_t deadline_ms)
{
    for (;;) {
        int short_i = -1;
        long long have = 0;
        for (int i = 0; i < t->n && short_i < 0; i++) {
            json_t *j = NULL;
            int rc = http_get_json(t->nodes[i].http, "/aria/v1/status", &j);
            if (rc) {
                short_i = i, have = -1;
                break;
            }
            json_t *p = json_object_get(j, "peers");
            if (!p) {
                json_decref(j);
                fprintf(stderr,
                        "aria testnet: warning: node %d's /aria/v1/status has no \"peers\" "
                        "field (no network in this build?): not waiting for the nodes to see "
                        "each other\n",
                        i);
                return 1;
            }
            have = json_is_integer(p) ? (long long)json_integer_value(p) : 0;
            if (have < want)
                short_i = i;
            json_decref(j);
        }
        if (short_i < 0)
            return 0;
        if (aria_mono_ms() >= deadline_ms) {
            if (have < 0)
                return aria_errf(ARIA_ETIMEDOUT,
                                 "node %d (http %s) does not answer /aria/v1/status: %s; see its "
                                 "log %s",
                                 short_i, t->nodes[short_i].http, aria_err_msg(),
                                 t->nodes[short_i].log);
            return aria_errf(ARIA_ETIMEDOUT,
                             "node %d sees %lld peer(s), fewer than %d, after the timeout; the "
                             "nodes are left running: see its log %s, 'aria testnet status' and "
                             "'aria testnet down'",
                             short_i, have, want, t->nodes[short_i].log);
        }
        sleep_ms(200);
    }
}

/* ------------------------------------------------------------------ */
/* Stopping                                                             */
/* ------------------------------------------------------------------ */

/* SIGTERM every live node, wait up to wait_ms, SIGKILL the rest. Prints one
 * line per node when `report`. Returns the number of nodes stopped. */
static int
stop_nodes(testnet *t, uint64_t wait_ms, bool report)
{
    bool *term = aria_calloc((size_t)t->n, sizeof *term);
    if (!term)
        return 0;
    int stopped = 0;
    for (int i = 0; i < t->n; i++) {
        testnet_node *nd = &t->nodes[i];
        if (node_alive(nd->pid, nd->dir) && kill(nd->pid, SIGTERM) == 0)
            term[i] = true;
        else if (report)
            printf("node %d: not running\n", i);
    }
    uint64_t deadline = aria_mono_ms() + wait_ms;
    for (;;) {
        bool any = false;
        for (int i = 0; i < t->n; i++) {
            if (!term[i])
                continue;
            (void)waitpid(t->nodes[i].pid, NULL, WNOHANG); /* reap if it is our child */
            if (node_alive(t->nodes[i].pid, t->nodes[i].dir))
                any = true;
        }
        if (!any || aria_mono_ms() >= deadline)
            break;
        sleep_ms(50);
    }
    for (int i = 0; i < t->n; i++) {
        testnet_node *nd = &t->nodes[i];
        if (!term[i])
            continue;
        bool killed = false;
        if (node_alive(nd->pid, nd->dir)) {
            killed = kill(nd->pid, SIGKILL) == 0;
            for (int k = 0; k < 100 && node_alive(nd->pid, nd->dir); k++) {
                (void)waitpid(nd->pid, NULL, WNOHANG);
                sleep_ms(20);
            }
        }
        if (report)
            printf("node %d: stopped (pid %d%s)\n", i, nd->pid,
                   killed ? ", did not stop on SIGTERM: killed" : "");
        stopped++;
        remove_pid_file(nd);
        nd->pid = 0;
    }
    aria_free(term);
    return stopped;
}

/* ------------------------------------------------------------------ */
/* up                                                                   */
/* ------------------------------------------------------------------ */

static int
testnet_alloc(testnet *t, const char *dir_flag, bool create)
{
    memset(t, 0, sizeof *t);
    t->lock_fd = -1;
    const char *d = dir_flag ? dir_flag : "testnet";
    if (create && mkdir(d, 0700) != 0 && errno != EEXIST)
        return aria_errf(ARIA_EIO, "--dir %s: cannot create: %s", d, strerror(errno));
    if (!realpath(d, t->dir))
        return aria_errf(ARIA_ENOTFOUND, "--dir %s: %s", d, strerror(errno));
    t->nodes = aria_calloc(TESTNET_MAX_NODES, sizeof *t->nodes);
    if (!t->nodes)
        return aria_errf(ARIA_ENOMEM, "out of memory");
    return 0;
}

/* One up or down at a time per directory (two racing `up`s would start the
 * network twice). The lock dies with the process; nodes do not inherit it
 * (O_CLOEXEC, and the child closes every descriptor). */
static int
testnet_lock(testnet *t)
{
    char path[TESTNET_PATH_MAX + 8];
    aria_snprintf(path, sizeof path, "%s/.lock", t->dir);
    t->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (t->lock_fd < 0)
        return aria_errf(ARIA_EIO, "cannot open %s: %s", path, strerror(errno));
    if (flock(t->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return aria_errf(ARIA_ESTATE,
                         "another 'aria testnet up' or 'down' is running in %s (%s is locked)",
                         t->dir, path);
    return 0;
}

static void
testnet_release(testnet *t)
{
    if (t->lock_fd >= 0)
        close(t->lock_fd);
    t->lock_fd = -1;
    aria_free(t->nodes);
    t->nodes = NULL;
}

typedef struct up_opts {
    int n;
    bool n_given;
    int providers;  /* -1 = default (n - 1, at least 1) */
    long base_port; /* -1 = not given */
    const char *dir, *model;
    int timeout_s;
    int n_extra; /* -1 = no "--" given */
    char **extra;
} up_opts;

static int
parse_up(int argc, char **argv, up_opts *o)
{
    memset(o, 0, sizeof *o);
    o->n = 4, o->providers = -1, o->base_port = -1, o->timeout_s = 30, o->n_extra = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char msg[200];
        uint64_t x = 0;
        int rc = 0;
        if (!strcmp(a, "--")) { /* the rest: flags for every `aria node run` */
            o->extra = argv + i + 1, o->n_extra = argc - i - 1;
            if (o->n_extra > TESTNET_MAX_EXTRA)
                return cli_usage_error(verb(), "up: more than 16 node flags after --");
            for (int k = 0; k < o->n_extra; k++)
                if (strlen(o->extra[k]) >= TESTNET_EXTRA_LEN)
                    return cli_usage_error(verb(), "up: a node flag after -- is too long");
            break;
        }
        if (!strcmp(a, "-n") || !strcmp(a, "--nodes") || !strcmp(a, "--providers") ||
            !strcmp(a, "--base-port") || !strcmp(a, "--dir") || !strcmp(a, "--model") ||
            !strcmp(a, "--timeout")) {
            if (!v) {
                aria_snprintf(msg, sizeof msg, "up: %s needs a value", a);
                return cli_usage_error(verb(), msg);
            }
            i++;
        } else {
            aria_snprintf(msg, sizeof msg, "up: unknown option '%s'", a);
            return cli_usage_error(verb(), msg);
        }
        if (!strcmp(a, "-n") || !strcmp(a, "--nodes")) {
            rc = aria_parse_u64(v, TESTNET_MAX_NODES, "-n", &x);
            if (!rc && x < 1)
                rc = aria_errf(ARIA_EINVAL, "-n: at least 1 node");
            o->n = (int)x, o->n_given = true;
        } else if (!strcmp(a, "--providers")) {
            rc = aria_parse_u64(v, TESTNET_MAX_NODES, "--providers", &x);
            o->providers = (int)x;
        } else if (!strcmp(a, "--base-port")) {
            rc = aria_parse_u64(v, 65535, "--base-port", &x);
            if (!rc && x != 0 && x < 1024)
                rc = aria_errf(ARIA_EINVAL, "--base-port: 0 (any free port) or 1024..65535");
            o->base_port = (long)x;
        } else if (!strcmp(a, "--timeout")) {
            rc = aria_parse_u64(v, 3600, "--timeout", &x);
            if (!rc && x < 1)
                rc = aria_errf(ARIA_EINVAL, "--timeout: at least 1 second");
            o->timeout_s = (int)x;
        } else if (!strcmp(a, "--dir")) {
            o->dir = v;
        } else {
            o->model = v;
        }
        if (rc)
            return cli_usage_error(verb(), aria_err_msg());
    }
    return 0;
}

static void
print_summary(const testnet *t, bool restarted, bool no_network)
{
    printf("\naria testnet: %d node(s) %s in %s\n", t->n, restarted ? "restarted" : "up", t->dir);
    printf("model: %s%s\n", t->model,
           t->synthetic ? "  [SYNTHETIC: random weights, gibberish text; no trained model found "
                          "in models/]"
                        : "");
    printf("genesis: %s/genesis.json (%llu micro-credits per node)\n\n", t->dir,
           (unsigned long long)TESTNET_FUND_MICRO);
    printf("%-5s %-15s %-7s %-21s %-27s %s\n", "node", "role", "pid", "http", "service", "account");
    for (int i = 0; i < t->n; i++) {
        const testnet_node *nd = &t->nodes[i];
        printf("%-5d %-15s %-7d %-21s %-27s %s\n", i, nd->role, nd->pid, nd->http,
               nd->service[0] ? nd->service : "-", nd->account);
    }
    const char *model_id = "default";
    for (int i = 0; i < t->n; i++)
        if (t->nodes[i].model_id[0]) {
            model_id = t->nodes[i].model_id;
            break;
        }
    printf("\nAsk the network through node 0 (its HTTP API, OpenAI-compatible):\n"
           "  curl -s http://%s/v1/chat/completions -H 'Content-Type: application/json' \\\n"
           "    -d '{\"model\": \"%s\", \"messages\": [{\"role\": \"user\", \"content\": "
           "\"Hello\"}], \"max_tokens\": 32}'\n",
           t->nodes[0].http, model_id);
    printf("  curl -s http://%s/aria/v1/balance\n", t->nodes[0].http);
    for (int i = 0; no_network && i < t->n; i++)
        if (t->nodes[i].provider) {
            printf("This build's nodes report no network: node 0 cannot reach a provider yet;\n"
                   "ask provider node %d directly (a local, unpaid job) at http://%s/v1/...\n",
                   i, t->nodes[i].http);
            break;
        }
    printf("Logs:     %s/node<i>/node.log\n", t->dir);
    printf("Status:   aria testnet status --dir %s\n", t->dir);
    printf("Stop:     aria testnet down --dir %s   (keeps keys, ledgers and logs; 'up' "
           "restarts the same network)\n",
           t->dir);
}

static int
testnet_up(int argc, char **argv)
{
    up_opts o;
    int rc = parse_up(argc, argv, &o);
    if (rc)
        return rc;
    testnet t;
    if ((rc = testnet_alloc(&t, o.dir, true)) || (rc = testnet_lock(&t))) {
        testnet_release(&t);
        return cli_fail(rc, "testnet up");
    }
    char json_path[TESTNET_PATH_MAX + 16], genesis[TESTNET_PATH_MAX + 16];
    aria_snprintf(json_path, sizeof json_path, "%s/testnet.json", t.dir);
    aria_snprintf(genesis, sizeof genesis, "%s/genesis.json", t.dir);
    bool restart = file_exists(json_path);
    if (restart) {
        if ((rc = testnet_json_read(&t)))
            goto fail;
        int alive = 0;
        for (int i = 0; i < t.n; i++)
            if (node_alive(t.nodes[i].pid, t.nodes[i].dir)) {
                fprintf(stderr, "aria testnet up: node %d is running (pid %d)\n", i,
                        t.nodes[i].pid);
                alive++;
            }
        if (alive) {
            rc = aria_errf(ARIA_ESTATE,
                           "the testnet in %s is already running (%d of %d node(s) alive): see "
                           "'aria testnet status --dir %s', or stop it with 'aria testnet down "
                           "--dir %s'",
                           t.dir, alive, t.n, t.dir, t.dir);
            goto fail;
        }
        if (o.n_given && o.n != t.n) {
            rc = aria_errf(ARIA_EINVAL,
                           "-n %d: %s holds a %d-node testnet; restart it with -n %d (or no -n), "
                           "remove %s, or use another --dir",
                           o.n, json_path, t.n, t.n, t.dir);
            goto fail;
        }
        if (o.providers >= 0 && o.providers != t.n_providers) {
            rc = aria_errf(ARIA_EINVAL,
                           "--providers %d: %s has %d provider(s); the roles of a testnet are "
                           "fixed when it is made (remove %s to make a new one)",
                           o.providers, json_path, t.n_providers, t.dir);
            goto fail;
        }
        if (!file_exists(genesis)) {
            rc = aria_errf(ARIA_ENOTFOUND, "%s is missing (the testnet's genesis)", genesis);
            goto fail;
        }
        if (o.base_port >= 0)
            t.base_port = (unsigned)o.base_port;
        if (o.model && (rc = resolve_model(&t, o.model)))
            goto fail;
        if (!file_exists(t.model)) {
            rc = aria_errf(ARIA_ENOTFOUND, "model %s (from %s) is missing; give --model FILE",
                           t.model, json_path);
            goto fail;
        }
        for (int i = 0; i < t.n; i++) {
            char ks[TESTNET_PATH_MAX + 16];
            aria_snprintf(ks, sizeof ks, "%s/wallet.key", t.nodes[i].dir);
            bool created = false;
            char before[WALLET_ADDRESS_MAX];
            memcpy(before, t.nodes[i].account, sizeof before);
            if (!file_exists(ks)) {
                rc = aria_errf(ARIA_ENOTFOUND, "node %d: keystore %s is missing", i, ks);
                goto fail;
            }
            if ((rc = node_keystore(&t.nodes[i], &created)))
                goto fail;
            if (before[0] && strcmp(before, t.nodes[i].account)) {
                rc = aria_errf(ARIA_EPROTO, "node %d: keystore %s holds %s but %s says %s", i, ks,
                               t.nodes[i].account, json_path, before);
                goto fail;
            }
        }
    } else {
        t.n = o.n;
        t.n_providers = o.providers >= 0 ? o.providers : (o.n > 1 ? o.n - 1 : 1);
        t.base_port = o.base_port > 0 ? (unsigned)o.base_port : 0;
        if (t.n_providers > t.n) {
            rc = aria_errf(ARIA_EINVAL, "--providers %d: more than the %d node(s)", t.n_providers,
                           t.n);
            goto fail;
        }
        if (file_exists(genesis)) {
            rc = aria_errf(ARIA_EEXIST,
                           "%s exists but %s does not: %s holds something else than a "
                           "testnet made by 'aria testnet up'; remove it or use another --dir",
                           genesis, json_path, t.dir);
            goto fail;
        }
        if ((rc = resolve_model(&t, o.model)))
            goto fail;
        assign_roles(&t);
        for (int i = 0; i < t.n; i++) {
            bool created;
            if ((rc = node_paths(&t, i)))
                goto fail;
            if (mkdir(t.nodes[i].dir, 0700) != 0 && errno != EEXIST) {
                rc = aria_errf(ARIA_EIO, "node %d: cannot create %s: %s", i, t.nodes[i].dir,
                               strerror(errno));
                goto fail;
            }
            char ledger_dir[TESTNET_PATH_MAX + 16];
            aria_snprintf(ledger_dir, sizeof ledger_dir, "%s/ledger", t.nodes[i].dir);
            if (file_exists(ledger_dir)) {
                rc = aria_errf(ARIA_EEXIST,
                               "node %d: %s exists but %s does not; remove %s or use another "
                               "--dir",
                               i, ledger_dir, json_path, t.dir);
                goto fail;
            }
            if ((rc = node_keystore(&t.nodes[i], &created)))
                goto fail;
        }
        if ((rc = genesis_write(&t, genesis)))
            goto fail;
    }
    if (o.n_extra >= 0) { /* `-- flags` replace the stored node flags */
        t.n_extra = o.n_extra;
        for (int i = 0; i < o.n_extra; i++)
            aria_snprintf(t.extra[i], sizeof t.extra[i], "%s", o.extra[i]);
    }
    if (t.base_port && t.base_port + 3u * (unsigned)t.n - 1 > 65535) {
        rc = aria_errf(ARIA_EINVAL, "--base-port %u: %d nodes need ports up to %u (> 65535)",
                       t.base_port, t.n, t.base_port + 3u * (unsigned)t.n - 1);
        goto fail;
    }
    for (int i = 0; i < t.n; i++) { /* forget last run's addresses */
        t.nodes[i].pid = 0;
        t.nodes[i].http[0] = t.nodes[i].gossip[0] = t.nodes[i].service[0] = 0;
        t.nodes[i].model_id[0] = 0;
    }
    if ((rc = testnet_json_write(&t)))
        goto fail;
    if (t.synthetic)
        printf("aria testnet: no model given and none found in models/: using the SYNTHETIC "
               "model %s (random weights: the text is gibberish)\n",
               t.model);

    char exe[TESTNET_PATH_MAX];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (el <= 0) {
        rc = aria_errf(ARIA_EIO, "cannot find the aria binary (/proc/self/exe): %s",
                       strerror(errno));
        goto fail;
    }
    exe[el] = 0;

    /* Node 0 first: the others dial its service address. */
    uint64_t deadline = aria_mono_ms() + (uint64_t)o.timeout_s * 1000u;
    printf("aria testnet: starting %d node(s) in %s ...\n", t.n, t.dir);
    fflush(stdout);
    if ((rc = node_spawn(&t, 0, genesis, exe, NULL, NULL)) || (rc = wait_ready(&t, 0, 1, deadline)))
        goto fail_stop;
    char seed_peer[96] = "";
    if (t.nodes[0].service[0])
        memcpy(seed_peer, t.nodes[0].service, sizeof seed_peer);
    else if (t.base_port)
        url_port(seed_peer, sizeof seed_peer, "tcp://", t.base_port + 2);
    if (!seed_peer[0] && t.n > 1)
        fprintf(stderr, "aria testnet: warning: node 0's ready line has no service address (no "
                        "network in this build?): the other nodes get no --peer\n");
    for (int i = 1; i < t.n; i++) {
        char prev[96] = "";
        if (t.base_port && i > 1)
            url_port(prev, sizeof prev, "tcp://", t.base_port + 3u * (unsigned)(i - 1) + 2);
        if ((rc = node_spawn(&t, i, genesis, exe, seed_peer, prev)))
            goto fail_stop;
    }
    if ((rc = wait_ready(&t, 1, t.n, deadline)))
        goto fail_stop;
    for (int i = 0; i < t.n; i++) /* fill what the ready line did not say */
        if (!t.nodes[i].gossip[0] && t.base_port)
            url_port(t.nodes[i].gossip, sizeof t.nodes[i].gossip, "tcp://",
                     t.base_port + 3u * (unsigned)i + 1);
    for (int i = 0; i < t.n; i++)
        if (!t.nodes[i].service[0] && t.base_port)
            url_port(t.nodes[i].service, sizeof t.nodes[i].service, "tcp://",
                     t.base_port + 3u * (unsigned)i + 2);
    if ((rc = testnet_json_write(&t)))
        goto fail_stop;
    int want = t.n - 1 < 2 ? t.n - 1 : 2;
    bool no_network = false;
    if (want > 0) {
        printf("aria testnet: all %d node(s) ready; waiting until each sees %d peer(s) ...\n", t.n,
               want);
        fflush(stdout);
        rc = wait_peers(&t, want, aria_mono_ms() + (uint64_t)o.timeout_s * 1000u);
        if (rc < 0) {
            int r = cli_fail(rc, "testnet up");
            testnet_release(&t);
            return r;
        }
        no_network = rc == 1;
    }
    print_summary(&t, restart, no_network);
    testnet_release(&t);
    return 0;

fail_stop : {
    char saved[512];
    aria_snprintf(saved, sizeof saved, "%s", aria_err_msg());
    int n = stop_nodes(&t, TESTNET_STOP_WAIT_MS, false);
    if (n)
        fprintf(stderr, "aria testnet up: stopped the %d node(s) it had started\n", n);
    (void)testnet_json_write(&t);
    rc = aria_errf(rc, "%s", saved);
}
fail:
    testnet_release(&t);
    return cli_fail(rc, "testnet up");
}

/* ------------------------------------------------------------------ */
/* status, down                                                         */
/* ------------------------------------------------------------------ */

static int
parse_dir_only(int argc, char **argv, const char *sub, const char **dir)
{
    *dir = NULL;
    for (int i = 1; i < argc; i++) {
        char msg[200];
        if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
            *dir = argv[++i];
            continue;
        }
        aria_snprintf(msg, sizeof msg, "%s: %s '%s'", sub,
                      !strcmp(argv[i], "--dir") ? "missing value for" : "unknown option", argv[i]);
        return cli_usage_error(verb(), msg);
    }
    return 0;
}

static void
json_cell(json_t *o, const char *key, const char *alt, char *out, size_t size)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    if (!v && alt)
        v = json_object_get(o, alt);
    if (json_is_integer(v))
        aria_snprintf(out, size, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        aria_snprintf(out, size, "%.1f", json_real_value(v));
    else if (json_is_string(v))
        aria_snprintf(out, size, "%s", json_string_value(v));
    else
        aria_snprintf(out, size, "-");
}

static int
testnet_status(int argc, char **argv)
{
    const char *dir;
    int rc = parse_dir_only(argc, argv, "status", &dir);
    if (rc)
        return rc;
    testnet t;
    if ((rc = testnet_alloc(&t, dir, false)) || (rc = testnet_json_read(&t))) {
        testnet_release(&t);
        return cli_fail(rc, "testnet status");
    }
    printf("testnet %s: %d node(s), model %s%s\n", t.dir, t.n, t.model,
           t.synthetic ? " (synthetic)" : "");
    printf("%-4s %-14s %-8s %-6s %-5s %-20s %-6s %-9s %-18s %-8s %s\n", "node", "role", "pid",
           "state", "peers", "model", "served", "requested", "credits", "tok/s", "http");
    int alive_n = 0;
    for (int i = 0; i < t.n; i++) {
        testnet_node *nd = &t.nodes[i];
        bool alive = node_alive(nd->pid, nd->dir);
        char pid[16] = "-", peers[16] = "-", model[128] = "-", served[24] = "-", req[24] = "-",
             credits[32] = "-", toks[24] = "-";
        const char *state = alive ? "alive" : "down";
        if (alive) {
            alive_n++;
            aria_snprintf(pid, sizeof pid, "%d", nd->pid);
            if (!nd->http[0]) { /* `up` was interrupted: the log knows */
                nd->log_off = 0;
                (void)node_check_ready(nd, true);
            }
            json_t *st = NULL, *bal = NULL;
            if (http_get_json(nd->http, "/aria/v1/status", &st) == 0) {
                json_cell(st, "peers", NULL, peers, sizeof peers);
                json_cell(st, "model", NULL, model, sizeof model);
                json_cell(st, "jobs_served", "jobs_done", served, sizeof served);
                json_cell(st, "jobs_requested", NULL, req, sizeof req);
                json_cell(st, "tok_s", NULL, toks, sizeof toks);
            } else {
                state = "no-api";
            }
            /* The balance endpoint is the ledger's word; the status's
             * "balance" is the fallback. */
            if (http_get_json(nd->http, "/aria/v1/balance", &bal) != 0)
                bal = NULL;
            json_t *b = bal ? json_object_get(bal, "balance") : NULL;
            if (!json_is_integer(b) && st)
                b = json_object_get(st, "balance");
            if (json_is_integer(b) && json_integer_value(b) >= 0) {
                long long v = (long long)json_integer_value(b);
                aria_snprintf(credits, sizeof credits, "%lld.%06lld", v / 1000000, v % 1000000);
            }
            json_decref(st);
            json_decref(bal);
        }
        printf("%-4d %-14s %-8s %-6s %-5s %-20s %-6s %-9s %-18s %-8s %s\n", i, nd->role, pid, state,
               peers, model, served, req, credits, toks, alive && nd->http[0] ? nd->http : "-");
    }
    printf("%d of %d node(s) alive; logs in %s/node<i>/node.log\n", alive_n, t.n, t.dir);
    testnet_release(&t);
    return 0;
}

static int
testnet_down(int argc, char **argv)
{
    const char *dir;
    int rc = parse_dir_only(argc, argv, "down", &dir);
    if (rc)
        return rc;
    testnet t;
    if ((rc = testnet_alloc(&t, dir, false)) || (rc = testnet_lock(&t)) ||
        (rc = testnet_json_read(&t))) {
        testnet_release(&t);
        return cli_fail(rc, "testnet down");
    }
    int n = stop_nodes(&t, TESTNET_STOP_WAIT_MS, true);
    printf("aria testnet: stopped %d of %d node(s) in %s; data kept ('aria testnet up --dir %s' "
           "restarts the same network)\n",
           n, t.n, t.dir, t.dir);
    rc = testnet_json_write(&t);
    testnet_release(&t);
    return rc ? cli_fail(rc, "testnet down") : 0;
}

int
cmd_testnet(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(verb(), "missing subcommand (up, status or down)");
    if (!strcmp(argv[1], "up"))
        return testnet_up(argc - 1, argv + 1);
    if (!strcmp(argv[1], "status"))
        return testnet_status(argc - 1, argv + 1);
    if (!strcmp(argv[1], "down"))
        return testnet_down(argc - 1, argv + 1);
    char msg[160];
    aria_snprintf(msg, sizeof msg, "unknown subcommand '%s'", argv[1]);
    return cli_usage_error(verb(), msg);
}
