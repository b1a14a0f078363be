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

cargo build -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/frontend.wasm"

stage="$CARGO_TARGET_DIR/site-stage"
mkdir -p "$stage/pkg" "$OSPREY_SITE_DIR/pkg"
sum=$(sha256sum "$wasm" | cut -d' ' -f1)
if [ "$(cat "$stage/.wasm-sum" 2>/dev/null)" != "$sum" ]; then
  wasm-bindgen --target web --no-typescript --out-dir "$stage/pkg" --out-name osprey "$wasm"
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-reference-types --enable-multivalue --enable-mutable-globals \
    "$stage/pkg/osprey_bg.wasm" -o "$stage/pkg/osprey_bg.wasm"
  echo "$sum" > "$stage/.wasm-sum"
fi
cp style/main.css "$stage/pkg/osprey.css"
cp -r public/. "$stage/"

# Mirror the stage into the site, touching only files whose bytes differ.
(cd "$stage" && find . -type f ! -name '.wasm-sum') | while read -r f; do
  if ! cmp -s "$stage/$f" "$OSPREY_SITE_DIR/$f"; then
    mkdir -p "$(dirname "$OSPREY_SITE_DIR/$f")"
    cp "$stage/$f" "$OSPREY_SITE_DIR/$f"
  fi
done
printf 'site: %s (wasm %s bytes, %s gzipped)\n' "$OSPREY_SITE_DIR" \
  "$(stat -c %s "$OSPREY_SITE_DIR/pkg/osprey_bg.wasm")" "$(gzip -9c "$OSPREY_SITE_DIR/pkg/osprey_bg.wasm" | wc -c)"
