#!/usr/bin/env bash
# Every benchmark scenario, Switchboard and the Socket.IO reference side by side in one sitting,
# then the tables and the latency plot in docs/performance.md (between its "results" markers).
#
#   bench/scenarios.sh              # everything (about 20 minutes on the 2-core machine)
#   ONLY="idle fanout" bench/scenarios.sh
#
# Scenarios: idle (memory per connection at 1k/5k/10k on one instance), fanout (200 clients on two
# instances, 20 senders, a rate ladder), join (10,000 users log in and join one room), rooms
# (1,000 rooms of 5), storm (5,000 clients on one of three instances behind HAProxy, kill -9, a
# sender throughout), drain (the same with SIGTERM), page (the first page in Chromium, cold, until
# the chat is live), typing (what one typing frame costs the page with 500 messages shown). The
# reference has no resume and no page, so storm, drain, page and typing run Switchboard only.
#
# Environment: ONLY (scenarios to run), REPEAT (runs per fan-out step, default 3; the report takes
# medians), RATES (messages/s, default "100 200 400 800 1200 1600"), RESULTS (where JSONL goes,
# default bench/results/<date-time>), PEER (the Socket.IO reference, default ../shared/bench/socketio-peer).
# Loopback only; every run is bounded in count and time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
ONLY="${ONLY:-idle fanout join rooms storm drain page typing}"
REPEAT="${REPEAT:-3}"
RATES="${RATES:-100 200 400 800 1200 1600}"
RESULTS="${RESULTS:-$root/bench/results/$(date +%Y-%m-%d-%H%M)}"
PEER_SRC="${PEER:-$root/../shared/bench/socketio-peer}"
# The limits stay on (their Redis call is part of every send's cost) but out of the way: the load
# generator's senders each send far more than a person would, and it logs thousands in (as guests,
# which is why guests are allowed here).
export RATE_MESSAGES_PER_SEC=1000 RATE_MESSAGES_BURST=1000000 RATE_LOGINS_PER_MIN=60000 \
  MAX_SOCKETS_PER_USER=10000 MAX_SOCKETS=10000000 ALLOW_GUESTS=true
run="$(mktemp -d /tmp/switchboard-bench.XXXXXX)"
mkdir -p "$RESULTS"
ulimit -n 20000 2>/dev/null || true
say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
wants() { [[ " $ONLY " == *" $1 "* ]]; }

say "building (release): server, site, load generator"
scripts/build.sh --release
cargo build --release -q -p loadgen
loadgen="$root/target/release/loadgen"

# The Socket.IO reference, copied somewhere writable.
peer="$run/peer"
cp -r "$PEER_SRC" "$peer"
(cd "$peer" && npm ci --silent --no-audit --no-fund >/dev/null)

redis_port=6390
pids=()
stop_stack() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
  pids=()
}
cleanup() {
  stop_stack
  CLUSTER_DIR="$run/cluster" scripts/cluster.sh down >/dev/null 2>&1 || true
  rm -rf "$run"
}
trap cleanup EXIT

wait_http() { for _ in $(seq 100); do curl -fs "$1" >/dev/null 2>&1 && return; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

# start_stack sb|sse|sio N: Redis and N instances (ports 4201.. or 4001..); sets urls, server_pids.
start_stack() {
  local kind="$1" n="$2" port
  stop_stack
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --logfile "$run/redis.log" &
  pids+=($!); redis_pid=$!
  wait_http_redis() { for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return; sleep 0.1; done; }
  wait_http_redis
  urls=""; server_pids=""
  for i in $(seq 1 "$n"); do
    if [ "$kind" != sio ]; then
      port=$((4200 + i))
      HOST=127.0.0.1 PORT=$port INSTANCE_ID="sb-$i" RUST_LOG=warn LEPTOS_SITE_ROOT="$root/target/site" \
        REDIS_URL="redis://127.0.0.1:$redis_port" target/release/switchboard >"$run/sb-$i.log" 2>&1 &
    else
      port=$((4000 + i))
      PORT=$port REDIS_URL="redis://127.0.0.1:$redis_port" node "$peer/sio-server.js" >"$run/sio-$i.log" 2>&1 &
    fi
    pids+=($!)
    server_pids="${server_pids:+$server_pids,}$!"
    urls="${urls:+$urls,}http://127.0.0.1:$port"
  done
  for url in ${urls//,/ }; do wait_http "$url/healthz"; done
}

quiet() { "$peer/quiet.sh" 60 >/dev/null 2>&1 || true; }

lg() { # label proto args...
  local label="$1" proto="$2"; shift 2
  quiet
  "$loadgen" --quiet --proto "$proto" --label "$label" --json "$RESULTS/results.jsonl" "$@" | grep -v '^{' || true
}

# sse: Switchboard's second transport (an event stream and posts), against the same server.
if wants idle; then
  for kind in sb sse sio; do
    for n in 1000 5000 10000; do
      say "idle: $n connections on one $kind instance"
      start_stack "$kind" 1
      lg "idle-$kind-$n" "$kind" --urls "$urls" --pids "$server_pids" --clients "$n" --settle 3
    done
  done
fi

if wants fanout; then
  for kind in sb sse sio; do
    start_stack "$kind" 2
    for rate in $RATES; do
      for k in $(seq 1 "$REPEAT"); do
        say "fan-out: $kind, 200 clients, 20 senders, $rate msg/s (run $k of $REPEAT)"
        lg "fanout-$kind-r$rate" "$kind" --urls "$urls" --pids "$server_pids" --redis-pid "$redis_pid" \
          --clients 200 --senders 20 --rate "$rate" --warmup 2 --duration 8 --drain 5
      done
    done
  done
fi

if wants join; then
  for kind in sb sio; do
    say "join: 10,000 users log in and join one room ($kind, two instances)"
    start_stack "$kind" 2
    lg "join-$kind-10000" "$kind" --urls "$urls" --pids "$server_pids" --clients 10000 --settle 1
  done
fi

if wants rooms; then
  for kind in sb sio; do
    say "rooms: 1,000 rooms of 5 ($kind, two instances), one sender per room, 2,000 msg/s"
    start_stack "$kind" 2
    lg "rooms-$kind-1000x5" "$kind" --urls "$urls" --pids "$server_pids" --redis-pid "$redis_pid" \
      --clients 5000 --rooms 1000 --senders 1000 --rate 2000 --warmup 2 --duration 8 --drain 10
  done
fi

# storm|drain: 5,000 clients all on app-1 of three behind HAProxy (2 and 3 start once they are
# connected), one sender throughout (10 msg/s: 50,000 deliveries/s); then app-1 is killed (-9) or stopped (SIGTERM).
# The cluster's settings are exported, so the load generator's --at commands see them too.
export CLUSTER_DIR="$run/cluster" LB_PORT=8100 REDIS_PORT=6391 SWITCHBOARD_BIN="$root/target/release/switchboard"
cluster() { RUST_LOG=warn scripts/cluster.sh "$@" >/dev/null; }
for scenario in storm drain; do
  wants "$scenario" || continue
  stop_stack
  action=kill; [ "$scenario" = drain ] && action=stop
  say "$scenario: 5,000 clients on one of three instances behind HAProxy, then $action it"
  cluster up 3
  cluster stop 2
  cluster stop 3
  lg "$scenario-sb-5000" sb --urls http://127.0.0.1:8100 --probe --clients 5000 --senders 1 --rate 10 \
    --warmup 0 --duration 20 --drain 15 \
    --at "0=RUST_LOG=warn scripts/cluster.sh start 2 >/dev/null && RUST_LOG=warn scripts/cluster.sh start 3 >/dev/null" \
    --at "6=scripts/cluster.sh $action 1 >/dev/null"
  cluster down
done

# in_chromium SCRIPT ARGS...: a benchmark in Chromium (bench/SCRIPT) against one instance.
in_chromium() {
  local script="$1"; shift
  [ -x end2end/node_modules/.bin/playwright ] || scripts/setup.sh test
  start_stack sb 1
  quiet
  node "bench/$script" "$urls" "$@" "$RESULTS/results.jsonl"
}
if wants page; then
  say "page: first load in Chromium, cold cache, until the chat socket is open (one instance)"
  in_chromium page-load.cjs 9 page-sb
fi
if wants typing; then
  say "typing: one typing frame's cost in Chromium with 500 messages shown (one instance)"
  in_chromium typing-frame.cjs 25 typing-sb
fi

say "writing docs/performance.md"
"$root/target/release/bench-report" "$RESULTS/results.jsonl" docs/performance.md
echo "results: $RESULTS/results.jsonl" >&2
