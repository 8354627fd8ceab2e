#!/usr/bin/env bash
# Runs every test, on a fresh machine too: installs what the tests need (scripts/setup.sh test),
# builds once, then runs lints, the Rust unit and integration tests (real redis-server and real
# Redis Clusters, a real PostgreSQL per test, real switchboard processes; with them
# tests/layers.rs, which fails on an import cycle among the server's modules) and the Playwright
# suite (Debian's Chromium, HAProxy, 3 instances, one PostgreSQL) twice: on one Redis, then on a
# Redis Cluster of 3 masters + 3 replicas.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
step() { printf '\n\033[1m==> [%ss] %s\033[0m\n' "$SECONDS" "$*"; }

step "installing what the tests need"
scripts/setup.sh test

step "building the site and the server (debug)"
scripts/build.sh

step "formatting and lints"
cargo fmt --all -- --check
cargo clippy -p switchboard -p app -p loadgen --all-targets -- -D warnings
cargo clippy -p frontend -p app --target wasm32-unknown-unknown -- -D warnings

step "Rust unit and integration tests (with a smoke run of the load generator)"
cargo build -p loadgen
rust_status=0
cargo test -p switchboard -p app -p loadgen 2>&1 | tee "$logs/cargo.txt" || rust_status=$?

step "fuzz targets (libFuzzer: client frames, the socket's query string; ${FUZZ_SECS:-10} s each)"
fuzz_status=0
scripts/fuzz.sh || fuzz_status=$?

# After a failed browser run, while its files are still there: what each failed test's page
# showed, and what the instances said beyond routine requests.
explain() {
  local f
  for f in end2end/test-results/cluster/app-*.log; do
    [ -f "$f" ] || continue
    echo "--- $f: warnings, errors and closed sockets (the last 30)"
    { grep -E ' (WARN|ERROR) |socket closed|backend unavailable' "$f" || true; } | tail -n 30
  done
  # Last, so that a shortened log still shows it: what each failed test's page showed.
  for f in end2end/test-results/*/error-context.md; do
    [ -f "$f" ] || continue
    echo "--- $f"
    head -n 60 "$f"
  done
}

step "browser tests (Playwright, Chromium, HAProxy + 3 instances + one Redis)"
e2e_status=0
(cd end2end && REDIS_CLUSTER=0 SWITCHBOARD_BIN="$PWD/../target/debug/switchboard" npx playwright test) 2>&1 \
  | tee "$logs/e2e.txt" || { e2e_status=$?; explain; }

step "browser tests again on a Redis Cluster (3 masters + 3 replicas, sharded pub/sub)"
(cd end2end && REDIS_CLUSTER=1 SWITCHBOARD_BIN="$PWD/../target/debug/switchboard" npx playwright test) 2>&1 \
  | tee "$logs/e2e-cluster.txt" || { e2e_status=$?; explain; }

# Sum "N passed"/"N failed" counts in a log; no match counts as 0.
count() {
  { grep -Eo "$1" "$2" || true; } \
    | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) { s += $i; break } } END { print s + 0 }'
}
rust_passed=$(count 'test result: [a-zA-Z]+\. [0-9]+ passed' "$logs/cargo.txt")
rust_failed=$(count '[0-9]+ failed;' "$logs/cargo.txt")
e2e_single=$(count '^ *[0-9]+ passed' "$logs/e2e.txt")
e2e_cluster=$(count '^ *[0-9]+ passed' "$logs/e2e-cluster.txt")
e2e_passed=$((e2e_single + e2e_cluster))
e2e_failed=$(( $(count '^ *[0-9]+ failed' "$logs/e2e.txt") + $(count '^ *[0-9]+ failed' "$logs/e2e-cluster.txt") ))
# The failed tests' names, from each run's closing summary, so the last lines of a red run say
# which test to look at.
failures() {
  awk '/^ *[0-9]+ failed$/ { f = 1; next } /^ *[0-9]+ (passed|flaky|skipped|did not run|interrupted)/ { f = 0 } f' "$1"
  { grep -E '^test .* \.\.\. FAILED$' "$1" || true; }
}
echo
for log in "$logs/cargo.txt" "$logs/e2e.txt" "$logs/e2e-cluster.txt"; do
  [ -f "$log" ] || continue
  failed_here="$(failures "$log")"
  [ -z "$failed_here" ] || printf 'failed in %s:\n%s\n' "$(basename "$log" .txt)" "$failed_here"
done
echo "finished in ${SECONDS}s"
echo "rust: $rust_passed passed, $rust_failed failed"
echo "playwright: $e2e_passed passed ($e2e_single on one Redis, $e2e_cluster on a Redis Cluster), $e2e_failed failed"
echo "fuzzing: $([ "$fuzz_status" -eq 0 ] && echo "no crash" || echo "FAILED")"
echo "total: $((rust_passed + e2e_passed)) passed, $((rust_failed + e2e_failed)) failed"
[ "$rust_status" -eq 0 ] && [ "$fuzz_status" -eq 0 ] && [ "$e2e_status" -eq 0 ] && [ "$e2e_failed" -eq 0 ] && [ "$rust_failed" -eq 0 ]
