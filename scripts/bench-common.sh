# Shared by the bench scripts: start a release osprey on a fresh SQLite database.
: "${CARGO_TARGET_DIR:=$HOME/.cache/osprey/target}"
BIN="${OSPREY_BIN:-$CARGO_TARGET_DIR/release/osprey}"
LOAD="$CARGO_TARGET_DIR/release/osprey-load"
PORT=${PORT:-3200}
URL="http://127.0.0.1:$PORT"
KEY=bench-ingest-key
WORK=$(mktemp -d)

start_osprey() {
  # Reads need no sign-in here: the benchmarks measure queries, not authentication.
  OSPREY_INGEST_KEY=$KEY OSPREY__AUTH__ANONYMOUS_READ=true RUST_LOG=warn "$BIN" serve --addr "127.0.0.1:$PORT" \
    --database-url "sqlite://$WORK/bench.db" "$@" > "$WORK/osprey.log" 2>&1 &
  OSPREY_PID=$!
  for _ in $(seq 1 100); do curl -sf "$URL/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "osprey did not become ready" >&2; cat "$WORK/osprey.log" >&2; exit 1
}

rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$OSPREY_PID/status"; }
hwm_mb() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$OSPREY_PID/status"; }

stop_osprey() {
  kill -TERM "$OSPREY_PID" 2>/dev/null && wait "$OSPREY_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap stop_osprey EXIT

machine() { echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"; }
