#!/usr/bin/env bash
# main.sh — the README's main job: install what is missing, build, start a
# local 4-node ARIA testnet on loopback and run paid inference jobs on it.
#   1. `aria testnet up -n 4`: keys, a genesis funding every node, node 0 as
#      the entry node (no model), nodes 1-3 as providers of the default model
#      (models/*.gguf; a synthetic model when none is bundled, and it says so);
#   2. three paid jobs through node 0's OpenAI-compatible API (one streamed
#      with `aria infer`): the answers, who served them and what they cost;
#   3. the balances of every node and the receipts in the ledger;
#   4. the network keeps running; it prints how to use and stop it.
# ARIA_TESTNET_DIR picks the directory (default build/testnet); a second run
# restarts the same network.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target aria
aria=$root/build/release/node/aria
dir=${ARIA_TESTNET_DIR:-$root/build/testnet}

echo; echo "== aria version"; $aria version | head -3
if [ -f "$dir/testnet.json" ]; then
  $aria testnet down --dir "$dir" >/dev/null 2>&1 || true
fi
echo; echo "== aria testnet up -n 4 --dir $dir"
$aria testnet up -n 4 --dir "$dir"

field() { # testnet.json: node N's KEY
  /usr/bin/python3 -c 'import json,sys; n=json.load(open(sys.argv[1]))["nodes"][int(sys.argv[2])]; print(n[sys.argv[3]])' \
    "$dir/testnet.json" "$1" "$2"
}
entry=$(field 0 http)
export ARIA_NODE=$entry
show() { # pretty-print a JSON answer's text, provider and cost
  /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
if "error" in j:
    print("  error:", j["error"]["message"]); sys.exit(1)
c = j["choices"][0]
text = c.get("text") if "text" in c else c["message"]["content"]
a = j["aria"]
print("  answer:   %r" % text)
print("  served by %s for %d micro-credits (%d tokens, %s)" % (a["provider"], a["cost_micro"],
      j["usage"]["completion_tokens"], c["finish_reason"]))'
}

# the default model is a 6 M-parameter base model: plain completions with a
# repetition penalty read best (models/README.md)
echo; echo "== paid job 1: POST /v1/completions through node 0 ($entry)"
curl -s "http://$entry/v1/completions" -H 'Content-Type: application/json' \
  -d '{"prompt": "In the beginning God created", "max_tokens": 40, "temperature": 0, "repetition_penalty": 1.3}' | show
echo; echo "== paid job 2: POST /v1/completions, sampled"
curl -s "http://$entry/v1/completions" -H 'Content-Type: application/json' \
  -d '{"prompt": "And it came to pass, when", "max_tokens": 40, "temperature": 0.7, "top_p": 0.9, "seed": 7, "repetition_penalty": 1.2}' | show
echo; echo "== paid job 3: aria infer (streamed as the provider produces it)"
$aria infer "And the LORD spoke unto Moses, saying" -n 48 --temp 0 --repeat-penalty 1.3

sleep 2 # the providers receive their payments (they check every second)
echo; echo "== balances (credits = 1,000,000 micro-credits; every node started with 1000)"
$aria testnet status --dir "$dir"
echo; echo "== receipts in node 0's ledger (signed by the providers)"
curl -s "http://$entry/aria/v1/receipts" | /usr/bin/python3 -c '
import json, sys
for r in json.load(sys.stdin)["receipts"]:
    print("  job %s..  provider %s..  %d tokens in, %d out x %d = %d micro-credits" % (
        r["job_id"][:12], r["provider"][:16], r["tokens_in"], r["tokens_out"], r["price"],
        r["total"]))'

cat <<TXT

The testnet is still running (logs: $dir/node<i>/node.log). Try:
  ARIA_NODE=$entry $aria infer "Blessed are the" -n 32
  curl -N http://$entry/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":32}'
  curl -s http://$entry/aria/v1/peers
  $aria testnet status --dir $dir
Stop it with:  $aria testnet down --dir $dir
TXT
