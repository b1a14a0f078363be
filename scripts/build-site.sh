#!/usr/bin/env bash
# Builds the browser side into $OSPREY_SITE_DIR: the hydrate wasm (wasm-bindgen, then wasm-opt),
# the stylesheet and the public files. The server embeds that directory when it is compiled.
# Files are replaced only when their content changes, so an unchanged site does not make
# cargo rebuild the server.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${CARGO_TARGET_DIR:?set CARGO_TARGET_DIR}"
: "${OSPREY_SITE_DIR:?set OSPREY_SITE_DIR}"
export PATH="$PWD/end2end/node_modules/.bin:$PATH"

# --emit-relocs on the final link only: wasm-split needs the relocations to cut the lazy islands
# (the 3-D views and their wgpu) into chunks that are fetched only where they are used.
cargo rustc -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release -- -C link-arg=--emit-relocs
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/frontend.wasm"

stage="$CARGO_TARGET_DIR/site-stage"
mkdir -p "$stage/pkg" "$OSPREY_SITE_DIR/pkg"
sum=$(sha256sum "$wasm" | cut -d' ' -f1)
if [ "$(cat "$stage/.wasm-sum" 2>/dev/null)" != "$sum" ]; then
  split="$CARGO_TARGET_DIR/site-split"
  rm -rf "$split" && mkdir -p "$split"
  wasm-split-cli "$wasm" "$split" --out-name osprey
  # Chunk names change with the code: drop the old ones so they are not served (or embedded).
  rm -f "$stage"/pkg/split_*.wasm "$stage"/pkg/chunk_*.wasm "$stage"/pkg/__wasm_split.js
  wasm-bindgen --target web --no-typescript --keep-lld-exports --no-demangle \
    --out-dir "$stage/pkg" --out-name osprey "$split/osprey.wasm"
  find "$split" -maxdepth 1 \( -name '__wasm_split.js' -o -name 'split_*.wasm' -o -name 'chunk_*.wasm' \) \
    -exec cp {} "$stage/pkg/" \;
  for f in "$stage/pkg/osprey_bg.wasm" "$stage"/pkg/split_*.wasm "$stage"/pkg/chunk_*.wasm; do
    [ -e "$f" ] || continue
    wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-reference-types --enable-multivalue --enable-mutable-globals "$f" -o "$f"
  done
  echo "$sum" > "$stage/.wasm-sum"
fi
cp style/main.css "$stage/pkg/osprey.css"
cp -r public/. "$stage/"

# Mirror the stage into the site, touching only files whose bytes differ, and removing chunks
# the stage no longer has.
(cd "$stage" && find . -type f ! -name '.wasm-sum') | while read -r f; do
  if ! cmp -s "$stage/$f" "$OSPREY_SITE_DIR/$f"; then
    mkdir -p "$(dirname "$OSPREY_SITE_DIR/$f")"
    cp "$stage/$f" "$OSPREY_SITE_DIR/$f"
  fi
done
for f in "$OSPREY_SITE_DIR"/pkg/split_*.wasm "$OSPREY_SITE_DIR"/pkg/chunk_*.wasm; do
  [ -e "$f" ] && [ ! -e "$stage/pkg/$(basename "$f")" ] && rm -f "$f"
done
size() { printf '%s bytes, %s gzipped' "$(stat -c %s "$1")" "$(gzip -9c "$1" | wc -c)"; }
echo "site: $OSPREY_SITE_DIR"
echo "  main wasm: $(size "$OSPREY_SITE_DIR/pkg/osprey_bg.wasm")"
for f in "$OSPREY_SITE_DIR"/pkg/split_*.wasm "$OSPREY_SITE_DIR"/pkg/chunk_*.wasm; do
  [ -e "$f" ] && echo "  $(basename "$f"): $(size "$f")"
done
true
