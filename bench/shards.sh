#!/usr/bin/env bash
# The measured inputs of docs/scaling.md: the same chat load on one Redis and on a Redis Cluster
# of 3 masters (each with a replica), with each Redis process's CPU, traffic and memory.
#
#   bench/shards.sh                       # rates 1000 2000 4000 msg/s, every topology (~8 min)
#   RATES="2000" TOPOLOGIES=cluster bench/shards.sh
#
# Load: two release instances behind nothing (the load generator spreads clients over both),
# ROOMS rooms (default 1000) of 5 clients, one sender per room, 100-byte texts, at each rate;
# and the same on one instance (one-instance), which tells what a second instance's receive
# path costs.
# Per run it records, per Redis process, over the measured window (8 s after 2 s of warm-up):
# CPU (% of a core, from /proc), bytes in and out and commands (INFO stats deltas); and at the
# end the keys each holds and the memory a stored message takes. Writes $RESULTS/shards.jsonl and prints the table docs/scaling.md quotes.
#
# Environment: RATES, ROOMS, TOPOLOGIES ("single cluster one-instance"), RESULTS (default
# bench/results/shards-<date-time>). Ports: instances 8301-8302, Redis 6400-6405 (+10000 for
# the cluster bus). Loopback only; every run is bounded.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
RATES="${RATES:-1000 2000 4000}"
ROOMS="${ROOMS:-1000}"
TOPOLOGIES="${TOPOLOGIES:-single cluster one-instance}"
RESULTS="${RESULTS:-$root/bench/results/shards-$(date +%Y-%m-%d-%H%M)}"
mkdir -p "$RESULTS"
run="$(mktemp -d /tmp/switchboard-shards.XXXXXX)"
export CLUSTER_DIR="$run/cluster" LB_PORT=8300 REDIS_PORT=6400 RUST_LOG=warn \
  SWITCHBOARD_BIN="$root/target/release/switchboard" REDIS_NODE_TIMEOUT_MS=15000
# As in bench/scenarios.sh: limits checked on every send, but out of the load generator's way.
export RATE_MESSAGES_PER_SEC=1000 RATE_MESSAGES_BURST=1000000 RATE_LOGINS_PER_MIN=60000 \
  MAX_SOCKETS_PER_USER=10000 MAX_SOCKETS=10000000 ALLOW_GUESTS=true
ulimit -n 20000 2>/dev/null || true
say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
cleanup() { scripts/cluster.sh down >/dev/null 2>&1 || true; rm -rf "$run"; }
trap cleanup EXIT

say "building (release): server, load generator"
cargo build --release -q -p switchboard -p loadgen

# Every Redis process of the rig as "port pid role", masters first.
redis_nodes() {
  local name pid port role
  for name in redis redis-0 redis-1 redis-2 redis-3 redis-4 redis-5; do
    [ -f "$CLUSTER_DIR/$name.pid" ] || continue
    pid="$(cat "$CLUSTER_DIR/$name.pid")"
    # redis-server retitles itself "redis-server 127.0.0.1:<port> [cluster]".
    port="$(tr '\0' ' ' <"/proc/$pid/cmdline" | grep -Eo ':[0-9]+' | head -1 | tr -d :)"
    role="$(redis-cli -p "$port" role | head -1)"
    echo "$port $pid $role"
  done | sort -k3,3 -s
}

# A script that writes one JSON object of INFO figures per node ({"port": {...}}) to $1: the
# load generator runs it at the start and the end of the measured window (--at).
cat >"$run/snapshot.sh" <<'SH'
#!/usr/bin/env bash
out="$1"; shift
{
  printf '{'
  first=1
  for port in $PORTS; do
    [ "$first" = 1 ] || printf ','
    first=0
    printf '"%s":{' "$port"
    redis-cli -p "$port" info all | tr -d '\r' | awk -F: '
      $1 ~ /^(total_net_input_bytes|total_net_output_bytes|total_commands_processed|used_memory)$/ {
        printf "%s\"%s\":%s", (n++ ? "," : ""), $1, $2 }'
    printf ',"keys":%s}' "$(redis-cli -p "$port" dbsize)"
  done
  printf '}'
} >"$out"
SH
chmod +x "$run/snapshot.sh"

for topology in $TOPOLOGIES; do
  for rate in $RATES; do
    say "$topology: $ROOMS rooms of 5 on two instances, $rate msg/s"
    scripts/cluster.sh down >/dev/null 2>&1 || true
    rm -rf "$CLUSTER_DIR"
    case "$topology" in
      cluster) scripts/cluster.sh up 2 --redis-cluster >/dev/null; urls=http://127.0.0.1:8301,http://127.0.0.1:8302 ;;
      single) scripts/cluster.sh up 2 >/dev/null; urls=http://127.0.0.1:8301,http://127.0.0.1:8302 ;;
      # The same load on one instance: the difference to "single" is what a second subscribed
      # instance costs per message (its receive path), which no other run separates.
      one-instance) scripts/cluster.sh up 1 >/dev/null; urls=http://127.0.0.1:8301 ;;
      *) echo "unknown topology $topology" >&2; exit 2 ;;
    esac
    nodes="$(redis_nodes)"
    [ -n "$nodes" ] || { echo "no Redis processes found in $CLUSTER_DIR" >&2; exit 1; }
    redis_pids="$(awk '{print $2}' <<<"$nodes" | paste -sd,)"
    server_pids="$(cat "$CLUSTER_DIR"/app-*.pid | paste -sd,)"
    export PORTS="$(awk '{print $1}' <<<"$nodes" | paste -sd' ')"
    target/release/loadgen --quiet --label "shards-$topology-r$rate" --json "$run/run.json" \
      --urls "$urls" --pids "$server_pids" --redis-pid "$redis_pids" \
      --clients $((ROOMS * 5)) --rooms "$ROOMS" --senders "$ROOMS" --rate "$rate" \
      --warmup 2 --duration 8 --drain 10 --room shard \
      --at "2=$run/snapshot.sh $run/before.json" --at "10=$run/snapshot.sh $run/after.json" \
      | grep -v '^{' || true
    before="$(cat "$run/before.json")" after="$(cat "$run/after.json")"
    # The stored size of a message: one room's stream, over its length.
    # (Taken at once: the sockets just closed, so the room's presence is still held.)
    tag="shard-7"
    [ "$topology" = cluster ] && tag="{shard-7}"
    usage() { local v; v="$(redis-cli -c -p "$REDIS_PORT" memory usage "$1" | grep -Eo '^[0-9]+' || true)"; echo "${v:-0}"; }
    presence=$(( $(usage "sb:here:$tag") + $(usage "sb:who:$tag") + $(usage "sb:whon:$tag") ))
    stream="$(usage "sb:log:$tag") $(redis-cli -c -p "$REDIS_PORT" xlen "sb:log:$tag")"
    session_key="$(redis-cli -p "$REDIS_PORT" --scan --pattern 'sb:session:*' | head -1 || true)"
    session_bytes="$(usage "$session_key")"
    python3 - "$topology" "$rate" "$run/run.json" "$before" "$after" "$nodes" "$stream" \
      "$session_bytes" "$presence" >>"$RESULTS/shards.jsonl" <<'PY'
import json, sys
topology, rate, path, before, after, nodes, stream, session, presence = sys.argv[1:]
report = [json.loads(l) for l in open(path) if l.strip()][-1]
before, after = json.loads(before), json.loads(after)
servers = len(report["pids"]) - len(nodes.splitlines())
pct = report["cpu"]["pids_pct"]
out = {"topology": topology, "rate": float(rate), "rooms": report["rooms"],
       "sent": report["tally"]["sent"], "acked": report["tally"]["acked"],
       "lost": report["tally"]["lost"], "duplicated": report["tally"]["duplicated"],
       "delivered_per_sec": report["delivered_per_sec"], "latency_ms": report["latency_ms"],
       "server_cpu_pct": sum(p or 0 for p in pct[:servers]),
       "server_us_per_delivery": report["server_cpu_us_per_delivery"], "nodes": []}
usage, length = (int(x) for x in stream.split())
out["stream_bytes_per_message"] = round(usage / max(length, 1))
out["session_bytes"] = int(session) or None
out["presence_bytes_per_member"] = round(int(presence) / 5) or None
for line, cpu in zip(nodes.splitlines(), pct[servers:]):
    port, pid, role = line.split()
    b, a = before[port], after[port]
    out["nodes"].append({"port": int(port), "role": role, "cpu_pct": cpu,
        "keys": a["keys"], "used_memory": a["used_memory"],
        "in_bytes": a["total_net_input_bytes"] - b["total_net_input_bytes"],
        "out_bytes": a["total_net_output_bytes"] - b["total_net_output_bytes"],
        "commands": a["total_commands_processed"] - b["total_commands_processed"]})
print(json.dumps(out))
PY
    rm -f "$run/run.json"
  done
done
scripts/cluster.sh down >/dev/null 2>&1 || true

# What one more subscribed instance costs Redis per message: PUBLISH of a message-sized payload
# (330 bytes, as a 100-byte text is published) to 0, 1, 10 and 50 subscriber connections,
# pipelined by redis-benchmark; Redis' CPU time from /proc over the publishes.
say "pub/sub: Redis CPU per publish by number of subscribers"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
redis-server --port 6410 --bind 127.0.0.1 --save "" --appendonly no --logfile "$run/pubsub.log" &
pubsub_pid=$!
for _ in $(seq 50); do redis-cli -p 6410 ping >/dev/null 2>&1 && break; sleep 0.1; done
payload="$(head -c 330 /dev/zero | tr '\0' x)"
subscribers=()
have=0
publishes=400000
for want in 0 1 10 50; do
  while [ "$have" -lt "$want" ]; do
    redis-cli -p 6410 subscribe sb:room:bench >/dev/null &
    subscribers+=($!)
    have=$((have + 1))
  done
  for _ in $(seq 50); do
    [ "$(redis-cli -p 6410 pubsub numsub sb:room:bench | tail -1)" = "$want" ] && break; sleep 0.1
  done
  before=$(cpu_ticks "$pubsub_pid")
  redis-benchmark -p 6410 -n "$publishes" -c 8 -P 16 -q publish sb:room:bench "$payload" >/dev/null
  after=$(cpu_ticks "$pubsub_pid")
  hz=$(getconf CLK_TCK)
  python3 -c "import json; print(json.dumps({'pubsub_subscribers': $want, 'us_per_publish': round(($after - $before) / $hz * 1e6 / $publishes, 2)}))" \
    >>"$RESULTS/shards.jsonl"
done
kill "${subscribers[@]}" "$pubsub_pid" 2>/dev/null || true

say "results: $RESULTS/shards.jsonl"
python3 - "$RESULTS/shards.jsonl" <<'PY'
import json, sys
everything = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in everything if "topology" in r]
def cpus(nodes):
    return " + ".join("%.1f" % (n["cpu_pct"] or 0) for n in nodes) or "–"

print("| topology | msg/s | delivered/s | p50 / p99 ms | lost / dup | masters' CPU % (each) | replicas' CPU % | Redis µs per message (masters) | Redis bytes in / out per message | server µs/delivery | stream bytes per stored message |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    masters = [n for n in r["nodes"] if n["role"] == "master"]
    replicas = [n for n in r["nodes"] if n["role"] != "master"]
    # CPU and traffic are both over the 8 s window: rate × 8 messages.
    msgs_window = r["rate"] * 8
    us = sum(n["cpu_pct"] or 0 for n in masters) / 100 * 8 * 1e6 / msgs_window
    bin_ = sum(n["in_bytes"] for n in masters) / msgs_window
    bout = sum(n["out_bytes"] for n in masters) / msgs_window
    lat = r["latency_ms"] or {}
    print(f"| {r['topology']} | {r['rate']:.0f} | {r['delivered_per_sec']:.0f} | {lat.get('p50', 0):.2f} / {lat.get('p99', 0):.2f} "
          f"| {r['lost']} / {r['duplicated']} | {cpus(masters)} "
          f"| {cpus(replicas)} | {us:.0f} | {bin_:.0f} / {bout:.0f} "
          f"| {r['server_us_per_delivery']} | {r['stream_bytes_per_message']} |")
print()
print("keys per master after the last run of each topology:",
      {r["topology"]: [n["keys"] for n in r["nodes"] if n["role"] == "master"] for r in rows})
print()
print("| subscribers | Redis µs per PUBLISH (330 bytes, pipelined) |")
print("|---|---|")
for r in everything:
    if "pubsub_subscribers" in r:
        print(f"| {r['pubsub_subscribers']} | {r['us_per_publish']} |")
PY
