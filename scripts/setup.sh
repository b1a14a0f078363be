#!/usr/bin/env bash
# Installs what building and testing Osprey needs on a fresh Debian machine with Rust (rustup)
# and Node 20. Idempotent: every step checks first and does nothing when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen pin in Cargo.toml
WASM_SPLIT_VERSION=0.2.3       # leptos 0.8's splitter (what cargo-leptos 0.3.10 uses)
want_e2e=${1:-all}             # "build" skips the browser and Playwright

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32 target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# Cuts the lazy islands out of the main wasm into chunks (scripts/build-site.sh).
if ! cargo install --list | grep -qx "wasm_split_cli_support v$WASM_SPLIT_VERSION:"; then
  say "installing wasm-split-cli $WASM_SPLIT_VERSION (a minute or two, once)"
  cargo install --locked wasm_split_cli_support --version "$WASM_SPLIT_VERSION" --features build-binary
fi

# npm packages: binaryen (wasm-opt) for the build, Playwright for the end-to-end tests.
stamp=end2end/node_modules/.osprey-lock
if [ ! -f "$stamp" ] || ! cmp -s end2end/package-lock.json "$stamp"; then
  say "installing npm packages (binaryen, Playwright)"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  cp end2end/package-lock.json "$stamp"
fi

if [ "$want_e2e" = all ] && ! command -v chromium >/dev/null; then
  say "installing Debian's Chromium for the end-to-end tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

if [ "$want_e2e" = all ]; then scripts/otel-venv.sh; fi # the Python SDK tests/otel_sdk.rs exports with
