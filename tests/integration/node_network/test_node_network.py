#!/usr/bin/env python3
"""Paid network jobs end to end on loopback (issue: node).

Real `aria node run` processes: one requester (no model) and two providers
serving a synthetic model, on a fresh genesis. Checks:
  jobs      20 jobs through the HTTP API (completions and chat, streamed and
            not, two at a time) complete; the requester's balance falls and
            each provider's rises by exactly the totals of the receipts in
            the ledger; the three ledgers end with the same state hash.
  errors    malformed JSON 400, body over the limit 413, unknown model 404,
            too few credits 402, a price cap no one meets 503, each an
            OpenAI-style error; the node keeps serving.
  metrics   `promtool check metrics` accepts every node's /metrics.
  failover  SIGKILL of the serving provider mid-job: the job completes on
            the other provider; each provider was paid exactly price x the
            tokens it delivered.
  restart   all three nodes stopped and started again without --peer or
            --genesis: they find each other from their peer files, balances,
            receipts and state hash are intact, and a new job completes.
Run: ARIA_BIN=build/.../aria python3 test_node_network.py [jobs|errors|metrics|failover]
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ARIA = os.environ.get("ARIA_BIN")
PRICE = 5


def die(msg):
    print("FAIL: " + msg, flush=True)
    raise SystemExit(1)


def check(cond, msg):
    if not cond:
        die(msg)


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def fixed_port():
    """A free loopback port below the kernel's ephemeral range. Nodes that
    restart on their old gossip/service address need a port that no
    outgoing connection can take meanwhile (port 0 hands out ephemeral
    ports, and the many loopback connections of parallel tests reuse them:
    a restart once failed with 'address in use'). 0 if there is no room."""
    low = _ephemeral_low()
    if low < 12000:
        return 0
    for _ in range(200):
        port = random.randrange(10000, low)
        sk = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sk.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            sk.close()
    return 0


class Node:
    def __init__(self, root, name, genesis, extra=(), peer=None, config=None):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.name = name
        self.start_args = (root, name, genesis, extra, peer, config)
        args = [ARIA, "node", "run", "--data-dir", self.dir, "--testnet",
                *(["--genesis", genesis] if genesis else []),
                "--http", "127.0.0.1:0", "--log-level", "info"]
        if "--gossip" not in extra:
            args += ["--gossip", "tcp://127.0.0.1:%d" % fixed_port(),
                     "--service", "tcp://127.0.0.1:%d" % fixed_port()]
        if config:
            args = args[:3] + ["--config", config] + args[3:]
        if peer:
            args += ["--peer", peer]
        args += list(extra)
        self.log = open(os.path.join(self.dir, "node.log"), "a")
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.p.stdout.readline()
        check(line.startswith("aria node: ready"), "%s: no ready line (%r), see %s/node.log" %
              (name, line, self.dir))
        kv = dict(f.split("=", 1) for f in line.split()[3:])
        self.http = "http://" + kv["http"]
        self.service = kv["service"]
        self.gossip = kv["gossip"]
        self.account = kv["account"]

    def req(self, method, path, body=None, raw=None, timeout=60):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        r = urllib.request.Request(self.http + path, data=data, method=method,
                                   headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(r, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def get(self, path):
        st, b = self.req("GET", path)
        check(st == 200, "%s GET %s: %d %s" % (self.name, path, st, b))
        return json.loads(b)

    def balance(self, account=None):
        q = "?account=" + account if account else ""
        return self.get("/aria/v1/balance" + q)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                if os.environ.get("ARIA_GDB_ON_HANG"):
                    subprocess.run(["gdb", "-p", str(self.p.pid), "-batch", "-ex",
                                    "thread apply all bt 8"], check=False)
                self.p.kill()
                die("%s did not stop on SIGTERM within 20 s" % self.name)
            check(self.p.returncode == 0, "%s exited %d" % (self.name, self.p.returncode))
        self.log.close()


def aria(*args):
    env = dict(os.environ, ARIA_KEYSTORE_KDF="min")
    r = subprocess.run([ARIA] + list(args), capture_output=True, text=True, env=env)
    check(r.returncode == 0, "aria %s: %s" % (" ".join(args), r.stderr))
    return r.stdout.strip()


def network(root, model_args, funds, provider_extra=(), requester_config=None):
    model = os.path.join(root, "model.gguf")
    aria("model", "synth", "--arch", "bitnet-b1.58", "--type", "tq2_0", "--seed", "7",
         "--tokenizer", "gpt2", "-o", model, *model_args)
    names = ["req", "prov1", "prov2"]
    accts = []
    for n in names:
        os.makedirs(os.path.join(root, n), exist_ok=True)
        key = os.path.join(root, n, "wallet.key")
        aria("wallet", "new", "--no-passphrase", "--testnet", "--file", key)
        accts.append(aria("wallet", "address", "--testnet", "--file", key))
    genesis = os.path.join(root, "genesis.json")
    with open(genesis, "w") as f:
        json.dump({"name": "node-network-test", "timestamp_ms": 1764000000000,
                   "allocations": [{"account": a, "amount": amt}
                                   for a, amt in zip(accts, funds)]}, f)
    req = Node(root, "req", genesis, config=requester_config)
    provs = [Node(root, n, genesis, ["--model", model, "--price", str(PRICE), "--threads", "1",
                                      "--capacity", "2", *provider_extra], peer=req.service)
             for n in names[1:]]
    nodes = [req] + provs
    t0 = time.time()
    while time.time() - t0 < 20:
        if all(n.get("/aria/v1/status").get("peers", 0) >= 2 for n in nodes):
            break
        time.sleep(0.2)
    else:
        die("nodes did not see each other within 20 s")
    return req, provs


def sse_job(node, body, on_text=None):
    """POST a streamed chat completion; return (text, final chunk json)."""
    data = json.dumps(body).encode()
    r = urllib.request.Request(node.http + "/v1/chat/completions", data=data, method="POST",
                               headers={"Content-Type": "application/json"})
    text, last = "", None
    with urllib.request.urlopen(r, timeout=120) as resp:
        check(resp.headers.get("Content-Type", "").startswith("text/event-stream"),
              "not an event stream")
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                break
            ev = json.loads(line[6:])
            check("error" not in ev, "stream error: %s" % line)
            ch = ev["choices"][0]
            piece = ch.get("delta", {}).get("content")
            if piece:
                text += piece
                if on_text:
                    on_text(text)
            if ch.get("finish_reason"):
                last = ev
    check(last is not None, "stream ended without a finish event")
    return text, last


def wait_converged(nodes, provs, timeout=40):
    t0 = time.time()
    while time.time() - t0 < timeout:
        hashes = {n.get("/aria/v1/status").get("state_hash") for n in nodes}
        incoming = sum(p.balance()["incoming"] for p in provs)
        # hashes again: a receive made between the polls must not go unseen
        again = {n.get("/aria/v1/status").get("state_hash") for n in nodes}
        if len(hashes) == 1 and None not in hashes and incoming == 0 and again == hashes:
            return hashes.pop()
        time.sleep(0.5)
    die("ledgers did not converge within %d s: %s" %
        (timeout, [n.get("/aria/v1/status").get("state_hash") for n in nodes]))


def test_jobs(root):
    req, provs = network(root, ["--layers", "2", "--embd", "256", "--ff", "512", "--heads", "4",
                                "--vocab", "512"], [10**9, 1000, 1000])
    nodes = [req] + provs
    before = {n.account: n.balance()["balance"] for n in nodes}
    results, errors = [], []

    def one(i):
        try:
            if i % 4 == 0:
                text, last = sse_job(req, {"messages": [{"role": "user", "content": "job %d" % i}],
                                           "max_tokens": 24 + i, "stream": True})
                results.append(last["aria"])
            else:
                path = "/v1/chat/completions" if i % 2 else "/v1/completions"
                body = {"max_tokens": 24 + i, "temperature": 0.7, "seed": i}
                if i % 2:
                    body["messages"] = [{"role": "user", "content": "job %d" % i}]
                else:
                    body["prompt"] = "job %d:" % i
                st, b = req.req("POST", path, body)
                if st != 200:
                    errors.append("job %d: %d %s" % (i, st, b))
                    return
                j = json.loads(b)
                check(j["usage"]["completion_tokens"] >= 1, "job %d produced nothing" % i)
                results.append(j["aria"])
        except BaseException as e:  # noqa: BLE001 (report every failure)
            errors.append("job %d: %r" % (i, e))

    for i in range(0, 20, 2):
        ts = [threading.Thread(target=one, args=(k,)) for k in (i, i + 1)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    check(not errors, "jobs failed: %s" % errors)
    check(len(results) == 20, "%d of 20 jobs answered" % len(results))
    served = {p.account: 0 for p in provs}
    for a in results:
        check(a["cost_micro"] > 0 and a["provider"] in served, "bad job result %s" % a)
        served[a["provider"]] += 1
    wait_converged(nodes, provs)
    after = {n.account: n.balance()["balance"] for n in nodes}
    rc = req.get("/aria/v1/receipts")["receipts"]
    check(len(rc) == 20, "%d receipts, want 20" % len(rc))
    check({r["job_id"] for r in rc} == {a["job_id"] for a in results}, "receipts != jobs")
    total = sum(r["total"] for r in rc)
    check(sum(a["cost_micro"] for a in results) == total,
          "costs reported %d != receipts %d" % (sum(a["cost_micro"] for a in results), total))
    check(before[req.account] - after[req.account] == total,
          "requester paid %d, receipts total %d" % (before[req.account] - after[req.account],
                                                    total))
    for p in provs:
        mine = sum(r["total"] for r in rc if r["provider"] == p.account)
        check(after[p.account] - before[p.account] == mine,
              "provider %s earned %d, its receipts total %d" %
              (p.name, after[p.account] - before[p.account], mine))
        # the provider's own ledger says the same
        check(p.balance()["balance"] == after[p.account], "provider ledgers disagree")
    for r in rc:
        check(r["price"] == PRICE and r["total"] == r["tokens_out"] * PRICE, "receipt %s" % r)
    print("jobs: 20 done, served %s, %d micro-credits moved, state hash equal on 3 nodes" %
          (sorted(served.values()), total))
    for n in nodes:
        n.stop()


def expect_error(node, path, status, code, body=None, raw=None):
    st, b = node.req("POST", path, body, raw=raw)
    check(st == status, "%s: status %d, want %d: %s" % (path, st, status, b))
    e = json.loads(b).get("error", {})
    check(e.get("code") == code and e.get("message") and e.get("type"),
          "%s: error %s, want code %s" % (path, e, code))
    return e["message"]


def test_errors(root):
    req, provs = network(root, ["--layers", "2", "--embd", "256", "--ff", "512", "--heads", "4",
                                "--vocab", "512"], [10**6, 1000, 1000])
    chat = "/v1/chat/completions"
    msg = [{"role": "user", "content": "hi"}]
    expect_error(req, chat, 400, "invalid_request", raw=b'{"messages": [')
    expect_error(req, chat, 413, "body_too_large", raw=b"{" + b" " * (2 << 20) + b"}")
    for stream in (False, True):
        m = expect_error(req, chat, 404, "model_not_found",
                         {"model": "no-such-model", "messages": msg, "stream": stream})
        check("no-such-model" in m, m)
        m = expect_error(req, chat, 402, "insufficient_credits",
                         {"messages": msg, "max_tokens": 100000, "stream": stream})
        check("credits" in m, m)
        m = expect_error(req, chat, 503, "no_provider",
                         {"messages": msg, "max_tokens": 8, "stream": stream,
                          "aria": {"max_price": PRICE - 1}})
        check("max_price" in m or "at or under" in m, m)
    st, b = req.req("POST", chat, {"messages": msg, "max_tokens": 8})
    check(st == 200, "after the errors the node does not serve: %d %s" % (st, b))
    print("errors: 400 413 404 402 503 (streamed and not), then a job completes")
    for n in [req] + provs:
        n.stop()


def test_metrics(root):
    if not shutil.which("promtool"):
        die("promtool not found: install Debian's prometheus (scripts/install-deps.sh does)")
    req, provs = network(root, ["--layers", "2", "--embd", "256", "--ff", "512", "--heads", "4",
                                "--vocab", "512"], [10**6, 1000, 1000])
    st, b = req.req("POST", "/v1/completions", {"prompt": "x", "max_tokens": 8})
    check(st == 200, "job failed: %s" % b)
    for n in [req] + provs:
        st, text = n.req("GET", "/metrics")
        check(st == 200 and "aria_network_jobs_total" in text, "metrics of %s" % n.name)
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
        check(r.returncode == 0, "promtool rejects %s's metrics: %s %s" %
              (n.name, r.stdout, r.stderr))
    print("metrics: promtool accepts /metrics of 3 nodes")
    for n in [req] + provs:
        n.stop()


def test_failover(root):
    cfg = os.path.join(root, "req.ini")
    with open(cfg, "w") as f:
        f.write("[requester]\nchunk_timeout_ms = 1500\nchunk_tokens = 8\n")
    # a model big enough that a job takes seconds on one thread
    req, provs = network(root, ["--layers", "8", "--embd", "1024", "--ff", "2816", "--heads", "16",
                                "--vocab", "4096"], [10**9, 1000, 1000], requester_config=cfg)
    by_acct = {p.account: p for p in provs}
    wait_converged([req] + provs, provs)  # every genesis claim known everywhere
    before = {p.account: req.balance(p.account) for p in provs}
    killed = []

    def on_text(_text):
        if killed:
            return
        for p in provs:
            jobs = p.get("/aria/v1/jobs").get("network_jobs", [])
            if jobs and jobs[0]["tokens"] >= 8:
                p.p.send_signal(signal.SIGKILL)
                p.p.wait()
                killed.append(p)
                return

    text, last = sse_job(req, {"messages": [{"role": "user", "content": "a long story"}],
                               "max_tokens": 160, "temperature": 0, "stream": True}, on_text)
    check(killed, "no provider was serving while the job streamed")
    a = last["aria"]
    att = a["attempts"]
    check(len(att) >= 2, "no re-award happened: %s" % att)
    dead = killed[0]
    alive = [p for p in provs if p is not dead][0]
    check(a["provider"] == alive.account, "job finished on %s, not the live provider" %
          a["provider"])
    got = last["usage"]["completion_tokens"]
    check(got == 160, "job delivered %d of 160 tokens" % got)
    for at in att:
        check(at["paid"] == at["tokens"] * at["price"],
              "provider %s paid %d for %d tokens at %d" % (at["provider"], at["paid"],
                                                            at["tokens"], at["price"]))
    check(sum(at["tokens"] for at in att) == got, "attempt tokens do not add up")
    check(a["cost_micro"] == sum(at["paid"] for at in att), "cost != sum of payments")
    # the ledger (requester's view) moved exactly that to each provider
    time.sleep(2.5)
    for p in provs:
        b = req.balance(p.account)
        moved = (b["balance"] + b["incoming"]) - (before[p.account]["balance"] +
                                                  before[p.account]["incoming"])
        paid = sum(at["paid"] for at in att if at["provider"] == p.account)
        check(moved == paid, "ledger moved %d to %s, attempts say %d" % (moved, p.name, paid))
    print("failover: killed %s after %d tokens; %d tokens in all; paid %s" %
          (dead.name, [at for at in att if at["provider"] == dead.account][0]["tokens"], got,
           [(by_acct[at["provider"]].name, at["tokens"], at["paid"]) for at in att]))
    for n in [req, alive]:
        n.stop()


def test_restart(root):
    req, provs = network(root, ["--layers", "2", "--embd", "256", "--ff", "512", "--heads", "4",
                                "--vocab", "512"], [10**6, 1000, 1000])
    nodes = [req] + provs
    for i in range(3):
        st, b = req.req("POST", "/v1/completions", {"prompt": "r%d" % i, "max_tokens": 12})
        check(st == 200, "job %d: %s" % (i, b))
    h = wait_converged(nodes, provs)
    bal = {n.name: n.balance()["balance"] for n in nodes}
    rc = len(req.get("/aria/v1/receipts")["receipts"])
    for n in nodes:
        n.stop()
    # restart on the same ports (as a deployed node would) but with no
    # --genesis and no --peer: the ledger and the peer file suffice
    again = []
    for n in nodes:
        root_, name, _g, extra, _peer, config = n.start_args
        again.append(Node(root_, name, None, [*extra, "--gossip", n.gossip, "--service", n.service],
                          None, config))
    t0 = time.time()
    while time.time() - t0 < 20:
        if all(n.get("/aria/v1/status").get("peers", 0) >= 2 for n in again):
            break
        time.sleep(0.2)
    else:
        die("restarted nodes did not find each other from their peer files")
    for n in again:
        check(n.balance()["balance"] == bal[n.name], "%s balance changed over the restart" %
              n.name)
        check(n.get("/aria/v1/status")["state_hash"] == h, "%s state hash changed" % n.name)
    check(len(again[0].get("/aria/v1/receipts")["receipts"]) == rc, "receipts lost")
    st, b = again[0].req("POST", "/v1/completions", {"prompt": "after", "max_tokens": 12})
    check(st == 200, "job after restart: %s" % b)
    print("restart: 3 nodes back with the same balances, %d receipts, state hash; a new job "
          "completes" % rc)
    for n in again:
        n.stop()


def main():
    check(ARIA and os.path.exists(ARIA), "set ARIA_BIN to the aria binary")
    tests = {"jobs": test_jobs, "errors": test_errors, "metrics": test_metrics,
             "failover": test_failover, "restart": test_restart}
    which = sys.argv[1:] or list(tests)
    for name in which:
        root = tempfile.mkdtemp(prefix="aria-net-%s-" % name)
        t0 = time.time()
        try:
            tests[name](root)
        except SystemExit:
            for d in os.listdir(root):
                lp = os.path.join(root, d, "node.log")
                if os.path.exists(lp):
                    print("---- %s ----" % lp)
                    print(open(lp).read()[-3000:])
            subprocess.run(["pkill", "-KILL", "-f", root], check=False)
            raise
        subprocess.run(["pkill", "-KILL", "-f", root], check=False)
        shutil.rmtree(root, ignore_errors=True)
        print("%s: ok in %.1f s" % (name, time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
