#!/usr/bin/env bash
# main.sh — the README's main job: install what is missing, build, and run the
# best end-to-end path the project has today:
#   1. pick the model: the bundled default under models/ if there is one,
#      otherwise a synthetic BitNet b1.58 model made by `aria model synth`
#      (random weights: the text it writes is gibberish, and we say so);
#   2. start an ARIA node serving it on loopback;
#   3. run completions through the OpenAI-compatible HTTP API (plain and
#      streamed) and show the answers, the node's status and its metrics;
#   4. leave the node running and print how to use and stop it.
# Paid jobs across a local testnet replace step 2-3 once the network lands.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)"
aria=$root/build/release/node/aria
run=${ARIA_MAIN_DIR:-$root/build/main}
mkdir -p "$run"

echo; echo "== aria version"; $aria version

model=$(ls "$root"/models/*.gguf 2>/dev/null | head -1 || true)
if [ -z "$model" ]; then
  model=$run/synthetic-bitnet.gguf
  echo; echo "== no trained default model is bundled yet: using a SYNTHETIC model (random"
  echo "   ternary weights), so the answers below are gibberish; the plumbing is real."
  [ -f "$model" ] || $aria model synth --arch bitnet-b1.58 --layers 4 --embd 512 --ff 1536 \
      --heads 8 --kv-heads 4 --vocab 4096 --type i2_s --seed 1 --tokenizer gpt2 -o "$model"
fi
echo; echo "== model"; $aria model info "$model" | head -12

if [ -f "$run/node.pid" ] && kill -0 "$(cat "$run/node.pid")" 2>/dev/null; then
  kill "$(cat "$run/node.pid")"; sleep 1
fi
$aria node run --model "$model" --http 127.0.0.1:0 --data-dir "$run/data" \
  >"$run/node.out" 2>"$run/node.log" &
echo $! >"$run/node.pid"
for _ in $(seq 100); do grep -q ready "$run/node.out" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/.*http=\([0-9.:]*\).*/\1/p' "$run/node.out")
[ -n "$addr" ] || { echo "node did not start; see $run/node.log" >&2; cat "$run/node.log" >&2; exit 1; }
echo; echo "== node serving on http://$addr (pid $(cat "$run/node.pid"), log $run/node.log)"

echo; echo "== POST /v1/completions"
curl -s "http://$addr/v1/completions" -H 'Content-Type: application/json' \
  -d '{"prompt": "In the beginning", "max_tokens": 24, "temperature": 0}'
echo; echo; echo "== POST /v1/chat/completions, stream: true (server-sent events as tokens are made)"
curl -sN "http://$addr/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 16, "stream": true}' | head -c 1500
echo; echo "== GET /aria/v1/status"; curl -s "http://$addr/aria/v1/status"; echo
echo; echo "== GET /metrics"; curl -s "http://$addr/metrics" | grep -v '^#'
cat <<TXT

The node is still running. Try:
  curl -s http://$addr/v1/models
  curl -N http://$addr/v1/chat/completions -d '{"messages":[{"role":"user","content":"hi"}],"stream":true}'
  $aria run -m $model -p "Hello" -n 32
Stop it with:  kill \$(cat $run/node.pid)
TXT
