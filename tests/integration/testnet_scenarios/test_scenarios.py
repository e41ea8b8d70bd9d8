#!/usr/bin/env python3
"""Testnet scenarios on loopback (issue: testnet).

churn    8 nodes (2 requesters, 6 providers), 100 paid jobs, 4 at a time.
         Two serving providers are SIGKILLed mid-job and one of them is
         restarted. Every job completes or fails cleanly (an OpenAI-style
         error that says what was paid); each requester's balance fell by
         exactly what its jobs report as paid (unspent credits intact);
         supply is conserved; the live ledgers reach one state hash within
         30 s of the last fault. Then every node is restarted: balances,
         receipts and peers are intact.
wirechurn 15 nodes (no models), each bootstrapped from node 0 only; a third
         of them (5) SIGKILLed: the rest stay connected and every one of 20
         sends gossiped by a live node reaches all 10 live ledgers within
         5 s; the killed nodes restart, rejoin, catch up, and a new send
         reaches all 15.
hostile  5 nodes and a hostile peer (aria_hostile) flooding every gossip
         endpoint with junk, forged, foreign and replayed frames for 15 s
         while 20 jobs run: every job completes, no node dies, the nodes'
         rejection counters show the attack arrived, ledgers converge.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import shutil

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "node_network"))
from test_node_network import Node, aria, check, die  # noqa: E402

PRICE = 5


def make_net(root, n_req, n_prov, model_args, funds_req=10**8, funds_prov=1000):
    model = os.path.join(root, "model.gguf")
    aria("model", "synth", "--arch", "bitnet-b1.58", "--type", "tq2_0", "--seed", "11",
         "--tokenizer", "gpt2", "-o", model, *model_args)
    names = ["req%d" % i for i in range(n_req)] + ["prov%d" % i for i in range(n_prov)]
    allocs = []
    for i, n in enumerate(names):
        os.makedirs(os.path.join(root, n), exist_ok=True)
        key = os.path.join(root, n, "wallet.key")
        aria("wallet", "new", "--no-passphrase", "--testnet", "--file", key)
        allocs.append({"account": aria("wallet", "address", "--testnet", "--file", key),
                       "amount": funds_req if i < n_req else funds_prov})
    genesis = os.path.join(root, "genesis.json")
    with open(genesis, "w") as f:
        json.dump({"name": "scenario", "timestamp_ms": 1764000000000, "allocations": allocs}, f)
    nodes = []
    for i, n in enumerate(names):
        extra = [] if i < n_req else ["--model", model, "--price", str(PRICE), "--threads", "1",
                                      "--capacity", "2"]
        nodes.append(Node(root, n, genesis, extra, peer=nodes[0].service if nodes else None))
    wait_peers(nodes, min(len(nodes) - 1, 4))
    return nodes[:n_req], nodes[n_req:], genesis


def wait_peers(nodes, want, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if all(n.get("/aria/v1/status").get("peers", 0) >= want for n in nodes):
            return
        time.sleep(0.3)
    die("nodes did not see %d peers each within %d s" % (want, timeout))


def alive(nodes):
    return [n for n in nodes if n.p.poll() is None]


def converge(nodes, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        st = [n.get("/aria/v1/status") for n in nodes]
        hs = {s.get("state_hash") for s in st}
        inc = sum(n.balance()["incoming"] for n in nodes)
        # the hashes again: a receive made between the two polls (after the
        # first, before the incoming scan) would otherwise go unseen
        hs2 = {n.get("/aria/v1/status").get("state_hash") for n in nodes}
        if len(hs) == 1 and inc == 0 and hs2 == hs:
            return st[0], time.time() - t0
        time.sleep(0.5)
    die("ledgers of %d live nodes did not converge within %d s: %s" %
        (len(nodes), timeout, [n.get("/aria/v1/status").get("state_hash") for n in nodes]))


def run_jobs(reqs, n_jobs, parallel, on_progress=None, max_tokens=40):
    """n_jobs jobs spread over the requesters, `parallel` at a time. Returns
    [(requester name, status, response json)]."""
    out, lock = [], threading.Lock()
    counter = [0]

    def worker():
        while True:
            with lock:
                i = counter[0]
                if i >= n_jobs:
                    return
                counter[0] += 1
            r = reqs[i % len(reqs)]
            body = {"prompt": "job %d says" % i, "max_tokens": max_tokens, "temperature": 0.8,
                    "seed": i}
            st, b = r.req("POST", "/v1/completions", body, timeout=180)
            try:
                j = json.loads(b)
            except ValueError:
                j = {"raw": b}
            with lock:
                out.append((r.name, st, j))
                done = len(out)
            if on_progress:
                on_progress(done)

    ts = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def serving(provs):
    for p in alive(provs):
        try:
            jobs = p.get("/aria/v1/jobs").get("network_jobs", [])
        except SystemExit:
            continue
        if jobs:  # awarded and not finished: a kill now is mid-job
            return p
    return None


def scenario_churn(root):
    reqs, provs, genesis = make_net(root, 2, 6, ["--layers", "4", "--embd", "512", "--ff", "1024",
                                                 "--heads", "8", "--vocab", "1024"])
    nodes = reqs + provs
    converge(nodes, 30)
    before = {r.name: r.balance()["balance"] for r in reqs}
    events, killed = [], []
    last_fault = [time.time()]
    lock = threading.Lock()

    def on_progress(done):
        with lock:
            if (done >= 25 and len(killed) == 0) or (done >= 55 and len(killed) == 1):
                p = serving(provs)
                if p is None:
                    return
                p.p.send_signal(signal.SIGKILL)
                p.p.wait()
                killed.append(p)
                last_fault[0] = time.time()
                events.append("killed %s after %d jobs" % (p.name, done))
            elif done >= 70 and len(killed) == 2 and not any("restarted" in e for e in events):
                p = killed[0]
                p.log.close()
                root_, name, _g, extra, _peer, config = p.start_args
                q = Node(root_, name, None, [*extra, "--gossip", p.gossip, "--service",
                                              p.service], nodes[0].service, config)
                provs[provs.index(p)] = q
                nodes[nodes.index(p)] = q
                last_fault[0] = time.time()
                events.append("restarted %s after %d jobs" % (name, done))

    res = run_jobs(reqs, 100, 4, on_progress)
    check(len(killed) == 2, "only %d providers were killed mid-job: %s" % (len(killed), events))
    check(len(res) == 100, "%d of 100 jobs answered" % len(res))
    ok = [r for r in res if r[1] == 200]
    failed = [r for r in res if r[1] != 200]
    for name, st, j in failed:
        e = j.get("error")
        check(e and e.get("message") and st in (503, 504),
              "job failed uncleanly: %d %s" % (st, j))
    live = alive(nodes)
    s0, t_conv = converge(live, 30)
    supply = s0["supply"]
    check(supply["conserved"], "supply not conserved: %s" % supply)
    for r in reqs:
        paid = sum(j["aria"]["cost_micro"] for n, st, j in res if n == r.name and "aria" in j)
        fell = before[r.name] - r.balance()["balance"]
        check(fell == paid, "%s: balance fell %d, its jobs paid %d" % (r.name, fell, paid))
    reawarded = sum(1 for _, st, j in ok if len(j["aria"].get("attempts", [])) > 1)
    print("churn: %s; %d jobs completed (%d re-awarded), %d failed cleanly; supply conserved; "
          "%d live ledgers equal %.1f s after the last fault" %
          ("; ".join(events), len(ok), reawarded, len(failed), len(live),
           time.time() - last_fault[0]))
    check(len(ok) >= 90, "only %d of 100 jobs completed" % len(ok))

    # (c) every node restarted
    bal = {n.name: n.balance()["balance"] for n in live}
    rc = {n.name: len(n.get("/aria/v1/receipts")["receipts"]) for n in live}
    for n in live:
        n.stop()
    again = []
    for n in live:
        root_, name, _g, extra, _peer, config = n.start_args
        again.append(Node(root_, name, None, [*extra, "--gossip", n.gossip, "--service",
                                               n.service], None, config))
    wait_peers(again, 3)
    for n in again:
        check(n.balance()["balance"] == bal[n.name], "%s: balance changed over the restart" %
              n.name)
        check(len(n.get("/aria/v1/receipts")["receipts"]) == rc[n.name],
              "%s: receipts lost over the restart" % n.name)
    s1, _ = converge(again, 30)
    check(s1["state_hash"] == s0["state_hash"], "state hash changed over the restart")
    res2 = run_jobs([n for n in again if n.name.startswith("req")], 4, 2)
    check(all(st == 200 for _, st, _ in res2), "jobs after the restart failed: %s" % res2)
    print("restart: %d nodes back with balances, receipts, peers and state hash intact" %
          len(again))
    for n in again:
        n.stop()


def scenario_hostile(root):
    reqs, provs, genesis = make_net(root, 1, 4, ["--layers", "2", "--embd", "256", "--ff", "512",
                                                 "--heads", "4", "--vocab", "512"])
    nodes = reqs + provs
    converge(nodes, 30)
    hostile = os.environ.get("ARIA_HOSTILE")
    check(hostile and os.path.exists(hostile), "set ARIA_HOSTILE to the aria_hostile binary")
    h = subprocess.Popen([hostile, genesis, "15"] + [n.gossip for n in nodes] + ["--"] +
                         [n.service for n in nodes], stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    t0 = time.time()
    res = run_jobs(reqs, 20, 2, max_tokens=24)
    took = time.time() - t0
    out, _ = h.communicate(timeout=60)
    bad = [(st, j) for _, st, j in res if st != 200]
    if bad:
        for n in nodes:
            st, text = n.req("GET", "/metrics")
            print("---- %s metrics ----\n%s" % (n.name, "\n".join(
                l for l in text.splitlines() if not l.startswith("#") and " 0" not in l[-2:])))
    check(not bad, "%d jobs failed under attack: %s" % (len(bad), bad[:1]))
    check(all(n.p.poll() is None for n in nodes), "a node died under attack")
    rejected = 0
    for n in nodes:
        st, text = n.req("GET", "/metrics")
        for line in text.splitlines():
            if line.startswith("aria_gossip_rejected_total"):
                rejected += int(float(line.split()[-1]))
    check(rejected > 0, "no node rejected anything: the attack did not arrive")
    converge(nodes, 30)
    print("hostile: %s; 20/20 jobs completed in %.1f s under attack; %d frames rejected" %
          (out.strip(), took, rejected))
    for n in nodes:
        n.stop()


def scenario_wirechurn(root):
    names = ["n%02d" % i for i in range(15)]
    allocs = []
    for n in names:
        os.makedirs(os.path.join(root, n), exist_ok=True)
        key = os.path.join(root, n, "wallet.key")
        aria("wallet", "new", "--no-passphrase", "--testnet", "--file", key)
        allocs.append({"account": aria("wallet", "address", "--testnet", "--file", key),
                       "amount": 10**6})
    genesis = os.path.join(root, "genesis.json")
    with open(genesis, "w") as f:
        json.dump({"name": "wirechurn", "timestamp_ms": 1764000000000, "allocations": allocs}, f)
    nodes = []
    for n in names:
        nodes.append(Node(root, n, genesis, [], peer=nodes[0].service if nodes else None))
    wait_peers(nodes, 8, timeout=30)
    converge(nodes, 30)
    victims = nodes[5:]
    victims = victims[::2][:5]  # 5 of the 15, not the seed
    for v in victims:
        v.p.send_signal(signal.SIGKILL)
        v.p.wait()
    live = [n for n in nodes if n not in victims]
    sender, dest = live[1], live[2]
    t0 = time.time()
    for i in range(20):
        st, b = sender.req("POST", "/aria/v1/send", {"to": dest.account, "amount": 1 + i})
        check(st == 200, "send %d: %s" % (i, b))
    want = sum(1 + i for i in range(20))
    while time.time() - t0 < 5:
        seen = [n.balance(sender.account)["balance"] for n in live]
        if all(x == 10**6 - want for x in seen):
            break
        time.sleep(0.05)
    else:
        die("not every live node has all 20 sends 5 s after a third was killed: %s" % seen)
    took = time.time() - t0
    peers = [n.get("/aria/v1/status")["peers"] for n in live]
    # the killed nodes restart on their old addresses and rejoin
    again = []
    for v in victims:
        root_, name, _g, extra, _peer, config = v.start_args
        v.log.close()
        q = Node(root_, name, None, [*extra, "--gossip", v.gossip, "--service", v.service],
                 None, config)
        again.append(q)
    allnodes = live + again
    t1 = time.time()
    while time.time() - t1 < 30:
        if all(n.balance(sender.account)["balance"] == 10**6 - want for n in again):
            break
        time.sleep(0.2)
    else:
        die("restarted nodes did not catch up within 30 s")
    # the send is gossiped: wait until the restarted sender has a gossip link
    # (catching up by sync does not need one)
    t3 = time.time()
    while again[0].get("/aria/v1/status").get("gossip_links", 0) < 1 and time.time() - t3 < 10:
        time.sleep(0.1)
    st, b = again[0].req("POST", "/aria/v1/send", {"to": dest.account, "amount": 7})
    check(st == 200, "send from a restarted node: %s" % b)
    t2 = time.time()
    while time.time() - t2 < 5:
        if all(n.balance(again[0].account)["balance"] == 10**6 - 7 for n in allnodes):
            break
        time.sleep(0.05)
    else:
        die("a send from a restarted node did not reach all 15 within 5 s")
    print("wirechurn: 5 of 15 SIGKILLed; 20/20 sends on all 10 live ledgers in %.2f s "
          "(live peers %d..%d); restarted nodes caught up in %.1f s; their send reached all 15 "
          "in %.2f s" % (took, min(peers), max(peers), t2 - t1, time.time() - t2))
    for n in allnodes:
        n.stop()


def main():
    tests = {"churn": scenario_churn, "hostile": scenario_hostile,
             "wirechurn": scenario_wirechurn}
    for name in sys.argv[1:] or list(tests):
        root = tempfile.mkdtemp(prefix="aria-scn-%s-" % name)
        t0 = time.time()
        try:
            tests[name](root)
        except SystemExit:
            for d in sorted(os.listdir(root)):
                lp = os.path.join(root, d, "node.log")
                if os.path.exists(lp):
                    print("---- %s (tail) ----" % lp)
                    print(open(lp).read()[-2000:])
            subprocess.run(["pkill", "-KILL", "-f", root], check=False)
            raise
        subprocess.run(["pkill", "-KILL", "-f", root], check=False)
        shutil.rmtree(root, ignore_errors=True)
        print("%s: ok in %.1f s" % (name, time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
