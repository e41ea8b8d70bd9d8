#!/usr/bin/env bash
# main.sh — the README's main job: install what is missing, build, and run the
# best end-to-end path the project has. It grows into: start a local testnet
# serving a paid inference job on the bundled default model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)"
aria=build/release/node/aria
echo
echo "== aria version"
$aria version
if [ -x scripts/main-steps.sh ]; then
  exec scripts/main-steps.sh "$aria"
fi
