#!/usr/bin/env bash
# Lighthouse on the login page, the way a new visitor on a phone meets Switchboard: Lighthouse
# 12.2.3 with its mobile defaults (simulated slow 4G, 4x CPU slowdown), Debian's Chromium, one
# release instance on the in-memory backend. Prints the four category scores and the paint
# timings; the full report goes to $RESULTS (default bench/results/lighthouse-<date-time>).
#
# It builds the release first, unless NO_BUILD=1 says target/ holds it already; RUNS audits
# (default 3) give the medians it prints; the instance listens on PORT (default 4310).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
RUNS="${RUNS:-3}" PORT="${PORT:-4310}"
RESULTS="${RESULTS:-$root/bench/results/lighthouse-$(date +%Y-%m-%d-%H%M)}"
say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

[ "${NO_BUILD:-0}" = 1 ] || scripts/build.sh --release
scripts/setup.sh test  # Chromium (Debian's), among what the tests need
tools="$root/tools/lighthouse"
if [ ! -x "$tools/node_modules/.bin/lighthouse" ]; then
  say "installing lighthouse@12.2.3 (npm)"
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --silent lighthouse@12.2.3 >/dev/null
fi

mkdir -p "$RESULTS"
log="$RESULTS/server.log"
HOST=127.0.0.1 PORT="$PORT" LEPTOS_SITE_ROOT=target/site target/release/switchboard >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

for i in $(seq "$RUNS"); do
  say "audit $i of $RUNS"
  CHROME_PATH=/usr/bin/chromium "$tools/node_modules/.bin/lighthouse" "http://127.0.0.1:$PORT/" \
    --quiet --output=json --output-path="$RESULTS/login-$i.json" \
    --only-categories=performance,accessibility,best-practices,seo \
    --chrome-flags="--headless=new --no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync --no-first-run --disable-quic"
done

node - "$RESULTS" "$RUNS" <<'JS'
const fs = require("fs");
const [dir, runs] = process.argv.slice(2);
const reports = [...Array(Number(runs)).keys()].map((i) => JSON.parse(fs.readFileSync(`${dir}/login-${i + 1}.json`)));
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const score = (id) => Math.round(100 * median(reports.map((r) => r.categories[id].score)));
const ms = (id) => Math.round(median(reports.map((r) => r.audits[id].numericValue)));
console.log(`lighthouse ${reports[0].lighthouseVersion}, ${reports[0].environment.hostUserAgent.match(/Chrome\/[\d.]+/)[0]}, mobile defaults, median of ${runs}`);
console.log(`performance ${score("performance")}  accessibility ${score("accessibility")}  best-practices ${score("best-practices")}  seo ${score("seo")}`);
console.log(`FCP ${ms("first-contentful-paint")} ms  LCP ${ms("largest-contentful-paint")} ms  TBT ${ms("total-blocking-time")} ms  CLS ${median(reports.map((r) => r.audits["cumulative-layout-shift"].numericValue)).toFixed(3)}`);
JS
