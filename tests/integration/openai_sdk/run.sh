#!/bin/sh
# run.sh ARIA WORKDIR SRCDIR — OpenAI SDK test driver (see CMakeLists.txt).
# Exit 0 pass, 1 fail, 77 skipped (no node/npm, or the registry unreachable).
set -u
ARIA=$1
WORK=$2
SRC=$3
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
rm -rf "$WORK/data" "$WORK/node.out"
"$ARIA" node run --model "$MODEL" --http 127.0.0.1:0 --data-dir "$WORK/data" --capacity 1 \
  --threads 1 --log-level warn >"$WORK/node.out" 2>"$WORK/node.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null' EXIT
i=0
while ! grep -q ready "$WORK/node.out" 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 300 ] && { echo "node did not start"; cat "$WORK/node.log"; exit 1; }
  sleep 0.1
done
ADDR=$(sed -n 's/.*http=\([0-9.:]*\).*/\1/p' "$WORK/node.out")
NODE_PATH="$WORK/npm/node_modules" node "$SRC/client.mjs" "http://$ADDR/v1" "$WORK/npm/node_modules/openai/index.mjs"
