#!/usr/bin/env bash
# Assembles dist/ for `cf push` with the binary buildpack: the release server and the built site.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh --release
rm -rf dist && mkdir -p dist
cp target/release/switchboard dist/
cp -r target/site dist/site
echo "==> dist/ ready: cf push (see manifest.yml)" >&2
