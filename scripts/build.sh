#!/usr/bin/env bash
# Builds the server and the site (WASM bundle, CSS, assets) into target/, the way cargo-leptos
# lays them out, with only cargo, wasm-split, wasm-bindgen and wasm-opt. `cargo leptos build` does the same
# from [[workspace.metadata.leptos]]; this script exists so a fresh machine (and CI) need not
# spend half an hour compiling cargo-leptos first.
#
#   scripts/build.sh            # debug
#   scripts/build.sh --release  # optimised server, size-optimised and wasm-opt'ed bundle
set -euo pipefail
cd "$(dirname "$0")/.."

release=false
[ "${1:-}" = "--release" ] && release=true

scripts/setup.sh build
export PATH="$PWD/tools/node_modules/.bin:$PATH"

site=target/site
pkg=$site/pkg
name=switchboard

if $release; then
  wasm_profile=wasm-release; wasm_dir=wasm-release; server_flags=(--release)
else
  wasm_profile=wasm-dev; wasm_dir=wasm-dev; server_flags=()
fi

echo "==> building the WASM client ($wasm_profile)" >&2
cargo build -p frontend --lib --target wasm32-unknown-unknown --profile "$wasm_profile"

rm -rf "$pkg.tmp" "$pkg.split" && mkdir -p "$pkg.tmp"
# What a first paint does not need is split off into chunks the page loads when first used
# (the `wasm_split` points of app/src/later.rs): wasm-split cuts the linked module at those
# functions (it reads the relocations that .cargo/config.toml asks the linker to keep) and
# writes the main module, the chunks and their loader (__wasm_split.js). wasm-bindgen then binds
# the main module as usual, keeping the exports the chunks import from it. The same steps as `cargo leptos build --split`.
wasm-split-cli "target/wasm32-unknown-unknown/$wasm_dir/frontend.wasm" "$pkg.split" \
  --target web --out-name "$name"
wasm-bindgen "$pkg.split/$name.wasm" --keep-lld-exports --no-demangle \
  --target web --no-typescript --out-dir "$pkg.tmp" --out-name "$name"
rm "$pkg.split/$name.wasm" && mv "$pkg.split"/* "$pkg.tmp/" && rmdir "$pkg.split"
# The server asks for <name>.wasm (cargo-leptos' naming), not wasm-bindgen's <name>_bg.wasm.
mv "$pkg.tmp/${name}_bg.wasm" "$pkg.tmp/$name.wasm"
sed -i "s/${name}_bg\.wasm/$name.wasm/g" "$pkg.tmp/$name.js"
if $release; then
  echo "==> optimising the bundle with wasm-opt" >&2
  for file in "$pkg.tmp"/*.wasm; do
    wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-reference-types --enable-multivalue "$file" -o "$file.opt"
    mv "$file.opt" "$file"
  done
fi
cp style/main.css "$pkg.tmp/$name.css"
if $release; then
  # Compressed once here, at the highest levels, rather than per request: the server serves a
  # file's .br or .gz as it is when the browser accepts it (leptos_axum's ServeDir), and the
  # on-the-fly compression it would do otherwise is a fast, larger brotli.
  echo "==> precompressing the bundle (brotli -q 11, gzip -9)" >&2
  for file in "$pkg.tmp"/*.wasm "$pkg.tmp"/*.js "$pkg.tmp/$name.css"; do
    brotli -q 11 -f -o "$file.br" "$file"
    gzip -9 -n -c "$file" > "$file.gz"
  done
fi
mkdir -p "$site"
[ -d public ] && cp -r public/. "$site/"
rm -rf "$pkg" && mv "$pkg.tmp" "$pkg"

echo "==> building the server" >&2
cargo build --bin switchboard "${server_flags[@]}"

wasm_bytes=$(stat -c %s "$pkg/$name.wasm")
gz_bytes=$(gzip -9 -c "$pkg/$name.wasm" | wc -c)
if $release; then
  br_bytes=$(stat -c %s "$pkg/$name.wasm.br")
  echo "==> site in $site: $name.wasm $wasm_bytes bytes ($gz_bytes gzipped, $br_bytes with brotli)" >&2
else
  echo "==> site in $site: $name.wasm $wasm_bytes bytes ($gz_bytes gzipped)" >&2
fi
