#!/usr/bin/env bash
# Installs what building and testing Switchboard need, skipping whatever is already there.
# Everything comes from the package registries this machine reaches (crates.io, npm, Debian):
# no step downloads a prebuilt binary from elsewhere.
#
#   scripts/setup.sh build   # wasm target, wasm-bindgen CLI, wasm-split CLI, wasm-opt (npm binaryen), brotli
#   scripts/setup.sh test    # build + redis-server, postgresql, haproxy, chromium, Playwright (npm)
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen crate pinned in Cargo.toml
WASM_SPLIT_VERSION=0.2.4       # the splitter of the lazy chunks (the library cargo-leptos --split uses)
BINARYEN_VERSION=132.0.0       # Debian's binaryen 108 produces wasm that crashes Chromium

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

need_build() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 6 minutes, once)"
    # No --locked: its lock file wants a webpki-roots version the registry here lacks.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
  # wasm-split-cli has no --version: cargo's list of what it installed says.
  if ! { command -v wasm-split-cli >/dev/null \
      && cargo install --list | grep -qx "wasm_split_cli_support v$WASM_SPLIT_VERSION:"; }; then
    say "installing wasm-split-cli $WASM_SPLIT_VERSION (about a minute, once)"
    cargo install wasm_split_cli_support --version "$WASM_SPLIT_VERSION" --features build-binary
  fi
  if [ "$(tools/node_modules/.bin/wasm-opt --version 2>/dev/null | awk '{print $3}')" != "${BINARYEN_VERSION%%.*}" ]; then
    say "installing wasm-opt (npm binaryen@$BINARYEN_VERSION)"
    mkdir -p tools
    npm install --silent --no-audit --no-fund --prefix tools "binaryen@$BINARYEN_VERSION" >/dev/null
  fi
  # The release bundle is served precompressed (scripts/build.sh).
  command -v brotli >/dev/null || apt_install brotli
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]} (Debian packages)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

need_test() {
  need_build
  # The tests and scripts/cluster.sh run private PostgreSQL servers from the package's binaries
  # (/usr/lib/postgresql/<version>/bin); the cluster the package itself starts is not used.
  apt_install redis-server postgresql haproxy chromium
  if [ ! -x end2end/node_modules/.bin/playwright ] \
    || ! cmp -s end2end/package-lock.json end2end/node_modules/.package-lock.json 2>/dev/null; then
    say "installing Playwright (npm; the browser is Debian's chromium)"
    (cd end2end && npm ci --silent --no-audit --no-fund)
  fi
}

case "${1:-build}" in
  build) need_build ;;
  test) need_test ;;
  *) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac
