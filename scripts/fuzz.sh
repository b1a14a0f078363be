#!/usr/bin/env bash
# Builds the fuzz targets in fuzz/ (cargo-fuzz, libFuzzer) and runs each on its seed corpus.
#
#   scripts/fuzz.sh                  every target for FUZZ_SECONDS (default 10) each; make test
#   scripts/fuzz.sh TARGET SECONDS   one target, longer, by hand
#
# What a run discovers goes to a scratch directory, so the repo keeps only the seeds in
# fuzz/corpus/<target>/. A crash leaves its input in fuzz/artifacts/<target>/ and fails the run;
# reproduce it with `cargo fuzz run --dev -s none TARGET fuzz/artifacts/TARGET/<file>`, then add
# the input to the corpus once it is fixed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo-fuzz passes nightly-only flags (coverage instrumentation); the stable compiler accepts
# them this way, so no second toolchain is needed. No sanitizer: Rust is memory safe, and what
# we look for is panics, aborts, hangs and runaway memory, which libFuzzer catches by itself.
export RUSTC_BOOTSTRAP=1
# The targets never serve the dashboard: embedding the site would only rebuild them whenever it
# changes.
unset OSPREY_SITE_DIR
flags=(--dev --sanitizer none)

if [[ $# -ge 1 ]]; then
  targets=("$1")
  seconds=${2:-60}
else
  targets=(ingest_json otlp_protobuf otlp_json query_params config)
  seconds=${FUZZ_SECONDS:-10}
fi

cargo fuzz build "${flags[@]}"
failed=()
for target in "${targets[@]}"; do
  scratch=$(mktemp -d)
  echo "== fuzz $target for ${seconds}s"
  set +e
  cargo fuzz run "${flags[@]}" "$target" "$scratch" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$scratch.log" 2>&1
  status=$?
  set -e
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|INFO: seed corpus)' "$scratch.log" || true
  if [[ $status -ne 0 ]]; then
    # The panic, libFuzzer's summary and where the input was written.
    grep -E -A3 'panicked|ERROR|SUMMARY|Test unit written' "$scratch.log" | head -40 >&2
    failed+=("$target")
  fi
  rm -rf "$scratch" "$scratch.log"
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz targets failed: ${failed[*]}; their inputs are in fuzz/artifacts/<target>/" >&2
  exit 1
fi
