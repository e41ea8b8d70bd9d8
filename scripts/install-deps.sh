#!/usr/bin/env bash
# install-deps.sh — install every Debian package ARIA needs to build, test
# and run. Idempotent: when everything is present it only checks (fast).
# Needs root (apt-get) only when something is missing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git ca-certificates
  clang libclang-rt-14-dev clang-format   # libFuzzer, formatting check
  libsecp256k1-dev libsodium-dev          # wallet
  liblmdb-dev lmdb-utils                  # ledger
  libnng-dev libprotobuf-c-dev protobuf-c-compiler   # wire
  libmicrohttpd-dev libjansson-dev libinih-dev       # node
  libcriterion-dev libnanomsg-dev         # tests
  valgrind curl python3                   # tests and tools
  prometheus                              # promtool checks /metrics in a test
)
# node and npm (OpenAI SDK and tokenizer parity tests): some machines carry a
# nodejs build that bundles npm and conflicts with Debian's npm package, so
# these count as present when the commands exist.
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)
# Optional extras; installed when asked (ARIA_EXTRAS=1).
EXTRAS=()

want=("${PKGS[@]}")
if [ "${ARIA_EXTRAS:-0}" = 1 ] && [ ${#EXTRAS[@]} -gt 0 ]; then want+=("${EXTRAS[@]}"); fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: this script needs Debian's dpkg and apt-get (Debian 12 expected)." >&2
  echo "install-deps: install these packages by other means: ${want[*]}" >&2
  exit 1
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "install-deps: not root and no sudo: run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${#missing[@]} packages"
