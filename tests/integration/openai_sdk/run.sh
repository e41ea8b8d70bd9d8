#!/bin/sh
# run.sh ARIA WORKDIR SRCDIR [local|network] — OpenAI SDK test driver (see
# CMakeLists.txt). local: one node answers from its own model. network: the
# SDK talks to a requester node (no model) and every completion is a paid
# job served by a provider node over loopback, in chunks of 4 tokens.
# Exit 0 pass, 1 fail, 77 skipped (no node/npm, or the registry unreachable).
set -u
ARIA=$1
WORK=$2
SRC=$3
MODE=${4:-local}
PKG=openai@4.95.0
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "SKIPPED: openai_sdk needs node and npm"; exit 77
fi
mkdir -p "$WORK/npm" || exit 1
if [ ! -f "$WORK/npm/node_modules/openai/package.json" ]; then
  echo "openai_sdk: npm install $PKG into $WORK/npm"
  if ! timeout 600 npm install --prefix "$WORK/npm" --no-audit --no-fund --loglevel=error "$PKG" \
      >"$WORK/npm-install.log" 2>&1; then
    tail -n 5 "$WORK/npm-install.log"
    echo "SKIPPED: openai_sdk: npm install $PKG failed (offline?)"; exit 77
  fi
fi
MODEL=$WORK/sdk-model.gguf
# big enough that 48 tokens take a visible while to generate
[ -f "$MODEL" ] || "$ARIA" model synth --arch bitnet-b1.58 --layers 4 --embd 512 --ff 1536 \
  --heads 8 --kv-heads 4 --vocab 4096 --type i2_s --seed 3 --tokenizer gpt2 -o "$MODEL" || exit 1
wait_ready() { # FILE LOG
  i=0
  while ! grep -q ready "$1" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 300 ] && { echo "node did not start"; cat "$2"; exit 1; }
    sleep 0.1
  done
}
rm -rf "$WORK/data" "$WORK/prov" "$WORK/node.out" "$WORK/prov.out"
PIDS=
trap 'kill $PIDS 2>/dev/null; wait $PIDS 2>/dev/null' EXIT
if [ "$MODE" = network ]; then
  export ARIA_KEYSTORE_KDF=min
  mkdir -p "$WORK/data" "$WORK/prov"
  "$ARIA" wallet new --no-passphrase --testnet --file "$WORK/data/wallet.key" 2>/dev/null || exit 1
  "$ARIA" wallet new --no-passphrase --testnet --file "$WORK/prov/wallet.key" 2>/dev/null || exit 1
  printf '{"name": "sdk-test", "timestamp_ms": 1764000000000, "allocations": [{"account": "%s", "amount": 1000000000}]}' \
    "$("$ARIA" wallet address --testnet --file "$WORK/data/wallet.key")" >"$WORK/genesis.json"
  "$ARIA" node run --genesis "$WORK/genesis.json" --testnet --http 127.0.0.1:0 --data-dir "$WORK/data" \
    --gossip tcp://127.0.0.1:0 --service tcp://127.0.0.1:0 --chunk-tokens 4 --log-level warn \
    >"$WORK/node.out" 2>"$WORK/node.log" &
  PIDS=$!
  wait_ready "$WORK/node.out" "$WORK/node.log"
  SVC=$(sed -n 's/.*service=\([^ ]*\).*/\1/p' "$WORK/node.out")
  "$ARIA" node run --genesis "$WORK/genesis.json" --testnet --http 127.0.0.1:0 --data-dir "$WORK/prov" \
    --gossip tcp://127.0.0.1:0 --service tcp://127.0.0.1:0 --peer "$SVC" --model "$MODEL" \
    --capacity 1 --threads 1 --price 3 --log-level warn >"$WORK/prov.out" 2>"$WORK/prov.log" &
  PIDS="$PIDS $!"
  wait_ready "$WORK/prov.out" "$WORK/prov.log"
  ADDR=$(sed -n 's/.*http=\([0-9.:]*\).*/\1/p' "$WORK/node.out")
  i=0 # until the requester knows the provider's model
  while ! curl -s "http://$ADDR/v1/models" | grep -q sdk-model; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "the requester never saw the provider"; exit 1; }
    sleep 0.1
  done
  export EXPECT_PAID=1
else
  "$ARIA" node run --model "$MODEL" --http 127.0.0.1:0 --data-dir "$WORK/data" --capacity 1 \
    --threads 1 --log-level warn >"$WORK/node.out" 2>"$WORK/node.log" &
  PIDS=$!
  wait_ready "$WORK/node.out" "$WORK/node.log"
  ADDR=$(sed -n 's/.*http=\([0-9.:]*\).*/\1/p' "$WORK/node.out")
fi
NODE_PATH="$WORK/npm/node_modules" node "$SRC/client.mjs" "http://$ADDR/v1" "$WORK/npm/node_modules/openai/index.mjs"
