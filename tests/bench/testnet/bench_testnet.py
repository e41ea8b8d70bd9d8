#!/usr/bin/env python3
"""Scale benchmark of a local testnet (issue: testnet): N nodes on this
machine (node 0 the entry/requester, the others providers of a tiny model),
then
  - the network's overhead: time to first token of a streamed job over the
    network minus the median time to first token of the same job run
    locally on a provider ({"aria": {"local": true}}); p50 / p99;
  - throughput: JOBS paid jobs, CONC at a time, through node 0: jobs/s.
Prints the figures and the node count; docs/testnet.md records them.

  ARIA_BIN=build/release/node/aria python3 bench_testnet.py [N] [JOBS] [CONC] [BID_WINDOW_MS]
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ARIA = os.environ.get("ARIA_BIN", "build/release/node/aria")


def sh(*args):
    r = subprocess.run([ARIA, *args], capture_output=True, text=True)
    if r.returncode:
        sys.exit("aria %s failed: %s" % (" ".join(args), r.stderr[-2000:]))
    return r.stdout


def ttft(http, body):
    """Seconds to the first content event of a streamed completion, and total."""
    data = json.dumps(dict(body, stream=True)).encode()
    req = urllib.request.Request("http://%s/v1/completions" % http, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    first = None
    with urllib.request.urlopen(req, timeout=120) as r:
        for raw in r:
            line = raw.decode().strip()
            if line.startswith("data: {") and first is None:
                ev = json.loads(line[6:])
                if "error" in ev:
                    raise RuntimeError(ev["error"]["message"])
                if ev["choices"][0].get("text"):
                    first = time.perf_counter() - t0
    return first if first is not None else float("nan"), time.perf_counter() - t0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    conc = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    window = int(sys.argv[4]) if len(sys.argv) > 4 else 300
    d = tempfile.mkdtemp(prefix="aria-bench-testnet-")
    model = os.path.join(d, "tiny.gguf")
    sh("model", "synth", "--arch", "bitnet-b1.58", "--layers", "2", "--embd", "256", "--ff",
       "512", "--heads", "4", "--vocab", "512", "--type", "tq2_0", "--seed", "5",
       "--tokenizer", "gpt2", "-o", model)
    cfg = os.path.join(d, "bench.ini")
    with open(cfg, "w") as f:
        f.write("[requester]\nbid_window_ms = %d\n" % window)
    t0 = time.time()
    sh("testnet", "up", "-n", str(n), "--dir", d, "--model", model, "--timeout", "120", "--",
       "--capacity", "2", "--threads", "1", "--log-level", "warn", "--config", cfg)
    up_s = time.time() - t0
    try:
        nodes = json.load(open(os.path.join(d, "testnet.json")))["nodes"]
        entry, prov = nodes[0]["http"], nodes[1]["http"]
        rss = 0
        for nd in nodes:
            try:
                with open("/proc/%d/status" % nd["pid"]) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss += int(line.split()[1])
            except OSError:
                pass
        body = {"prompt": "the scale of it", "max_tokens": 16, "temperature": 0}
        # warm up both paths; a fresh network needs a few seconds until every
        # provider holds the entry node's peer record (to seal output to it)
        t_w = time.time()
        ok = 0
        while ok < 3 and time.time() - t_w < 60:
            try:
                ttft(prov, dict(body, aria={"local": True}))
                ttft(entry, body)
                ok += 1
            except Exception:  # noqa: BLE001
                time.sleep(1)
        warm_s = time.time() - t_w
        local = [ttft(prov, dict(body, aria={"local": True}))[0] for _ in range(30)]
        net, net_fail = [], 0
        for _ in range(30):
            try:
                net.append(ttft(entry, body)[0])
            except Exception:  # noqa: BLE001
                net_fail += 1
        base = statistics.median(local)
        over = [x - base for x in net]
        # throughput
        done, errs, lock = [0], [], threading.Lock()
        counter = [0]

        def worker():
            while True:
                with lock:
                    if counter[0] >= jobs:
                        return
                    counter[0] += 1
                try:
                    ttft(entry, dict(body, seed=counter[0], temperature=0.8))
                    with lock:
                        done[0] += 1
                except Exception as e:  # noqa: BLE001
                    with lock:
                        errs.append(str(e))

        t1 = time.time()
        ts = [threading.Thread(target=worker) for _ in range(conc)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        wall = time.time() - t1
        st = json.loads(urllib.request.urlopen("http://%s/aria/v1/status" % entry).read())
        print("testnet scale bench: %d nodes (1 entry + %d providers) up in %.1f s, "
              "total RSS %.0f MiB, entry sees %d peers" % (n, n - 1, up_s, rss / 1024.0,
                                                          st.get("peers", -1)))
        print("  first paid job succeeded %.1f s after the network was up" % warm_s)
        print("  time to first token, 16-token job: local p50 %.1f ms; network p50 %.1f ms "
              "p99 %.1f ms (bid window %d ms; %d of 30 sequential network jobs failed)" %
              (1e3 * base, 1e3 * pct(net, 50), 1e3 * pct(net, 99), window, net_fail))
        print("  network overhead (network TTFT - local median): p50 %.1f ms, p99 %.1f ms" %
              (1e3 * pct(over, 50), 1e3 * pct(over, 99)))
        print("  throughput: %d/%d paid jobs in %.1f s at concurrency %d = %.2f jobs/s "
              "(%d failed%s)" % (done[0], jobs, wall, conc, done[0] / wall, len(errs),
                                 ": " + errs[0] if errs else ""))
    finally:
        subprocess.run([ARIA, "testnet", "down", "--dir", d], capture_output=True)


if __name__ == "__main__":
    main()
