#!/usr/bin/env bash
# A local Switchboard cluster, laid out like a Cloud Foundry deployment: one redis-server (or a
# Redis Cluster), one PostgreSQL for the accounts, N app instances on their own ports with their
# own INSTANCE_ID, and HAProxy in front doing what the CF router does (affinity cookie, redispatch
# when the sticky instance is gone, health checks, WebSocket pass-through). The Playwright tests
# and the benchmarks use this same rig.
#
#   scripts/cluster.sh up [N] [--redis-cluster]
#                                    start redis, postgres, N instances (default 3) and
#                                    HAProxy; with --redis-cluster (or REDIS_CLUSTER=1) a Redis
#                                    Cluster of 3 masters with a replica each instead of one
#                                    redis-server
#   scripts/cluster.sh kill I        kill -9 instance I (a crash)
#   scripts/cluster.sh stop I        SIGTERM instance I and wait for it to exit (a scale-down)
#   scripts/cluster.sh start I       start instance I again
#   scripts/cluster.sh restart I     stop, then start instance I (a rolling restart)
#   scripts/cluster.sh pause I|redis SIGSTOP instance I, or redis (every Redis node: a stall;
#                                    sockets stay open)
#   scripts/cluster.sh resume I|redis SIGCONT it; for redis, return once the load balancer
#                                    serves again (the instances went unready while it was frozen)
#   scripts/cluster.sh lb-stop       stop HAProxy: the service is out of reach (a network down)
#   scripts/cluster.sh lb-start      start it again
#   scripts/cluster.sh ws-block      HAProxy refuses WebSocket upgrades (a network that blocks
#                                    them), until ws-allow; each restarts HAProxy
#   scripts/cluster.sh status        what is running, and where
#   scripts/cluster.sh down          stop everything this script started (by pid, nothing else)
#
# PostgreSQL: Debian's newest (/usr/lib/postgresql/*/bin, else the one on PATH), as the postgres
# user when run as root, data in CLUSTER_DIR/postgres, listening on a Unix socket in CLUSTER_DIR
# only (no TCP). It runs with fsync and full_page_writes off: a test rig, whose data survives a
# crash of postgres but not of the machine (synchronous_commit stays on: off, a kill -9 would lose
# the last commits), and lasts until `down`. The instances get
# DATABASE_URL=postgres://postgres@localhost/switchboard?host=CLUSTER_DIR&port=PG_PORT; if
# DATABASE_URL is already set, they get that one instead and no PostgreSQL is started.
#
# With PROMETHEUS=1, `up` also starts a Prometheus (Debian's package, installed if missing) that
# scrapes every instance's /metrics every 5 s, on PROMETHEUS_PORT (default 9090). Grafana has no
# package here: import docs/grafana/switchboard.json into one of your own, pointed at it.
#
# Environment: CLUSTER_DIR (state and logs, default .cluster), LB_PORT (default 8000; instance I
# listens on LB_PORT+I), REDIS_PORT (default 6390; a Redis Cluster's six nodes take it and the
# five ports after it, their cluster bus ports 10000 higher), REDIS_NODE_TIMEOUT_MS (the
# cluster's node timeout, default 15000: a master that stays silent this long is failed over),
# PG_PORT (default LB_PORT+432; nothing listens on it, it only names the socket
# CLUSTER_DIR/.s.PGSQL.PG_PORT), DATABASE_URL (see above), SWITCHBOARD_BIN (default: the release
# build, else the debug build). Instances inherit the environment, so e.g. HEARTBEAT_SECS or
# DRAIN_SECS set for this script reach them. Build first: scripts/build.sh --release.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${CLUSTER_DIR:-$root/.cluster}"
lb_port="${LB_PORT:-8000}"
redis_port="${REDIS_PORT:-6390}"
pg_port="${PG_PORT:-$((lb_port + 432))}"
mkdir -p "$dir"
# Absolute and without symlinks: postgres gets paths in it, and works in one (see pg_leftovers).
dir="$(cd "$dir" && pwd -P)"

bin="${SWITCHBOARD_BIN:-}"
if [ -z "$bin" ]; then
  if [ -x "$root/target/release/switchboard" ]; then bin="$root/target/release/switchboard"
  else bin="$root/target/debug/switchboard"; fi
fi

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'cluster: %s\n' "$*" >&2; exit 1; }

pid_of() { [ -f "$dir/$1.pid" ] && cat "$dir/$1.pid" || true; }
# Whether pid $1 runs. A zombie does not: where init does not reap orphans (some containers),
# a killed process stays one.
running() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]; }
alive() { local pid; pid="$(pid_of "$1")"; [ -n "$pid" ] && running "$pid"; }
instance_port() { echo $((lb_port + $1)); }
count() { cat "$dir/instances" 2>/dev/null || echo 0; }

# Waits (up to $2 seconds) until $1 (a command) succeeds.
wait_until() {
  local what="$1" limit="$2" i=0
  until eval "$what" >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -le $((limit * 10)) ] || return 1
    sleep 0.1
  done
}

redis_mode() { cat "$dir/redis-mode" 2>/dev/null || echo single; }
# The pid-file names of the Redis processes of the current mode.
redis_names() {
  if [ "$(redis_mode)" = cluster ]; then echo redis-0 redis-1 redis-2 redis-3 redis-4 redis-5
  else echo redis; fi
}
# What the instances are told: REDIS_URL, or REDIS_CLUSTER_URLS with the masters as seeds.
redis_env() {
  if [ "$(redis_mode)" = cluster ]; then
    echo "REDIS_CLUSTER_URLS=redis://127.0.0.1:$redis_port,redis://127.0.0.1:$((redis_port + 1)),redis://127.0.0.1:$((redis_port + 2))"
  else
    echo "REDIS_URL=redis://127.0.0.1:$redis_port"
  fi
}

# "own" (this script's PostgreSQL) or "external" (the DATABASE_URL `up` was given).
pg_mode() { cat "$dir/postgres-mode" 2>/dev/null || echo own; }
pg_names() { [ "$(pg_mode)" = own ] && echo postgres || true; }
own_database_url() { echo "postgres://postgres@localhost/switchboard?host=$dir&port=$pg_port"; }
# What the instances are told about the accounts database. An external URL is not written down
# (it may hold a password): `start I` needs it in the environment again.
database_env() {
  if [ "$(pg_mode)" = own ]; then
    echo "DATABASE_URL=$(own_database_url)"
  else
    [ -n "${DATABASE_URL:-}" ] || die "the cluster was started with a DATABASE_URL of your own: set it again"
    echo "DATABASE_URL=$DATABASE_URL"
  fi
}

# The processes left of our postgres (every postgres process works in its data directory): the
# children of a killed postmaster outlive it for a moment, and hold on to its shared memory.
pg_leftovers() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/cwd" 2>/dev/null)" = "$dir/postgres" ] && echo "${p#/proc/}"
  done
  true
}

start_postgres() {
  [ "$(pg_mode)" = own ] || return 0
  alive postgres && return
  local pg as_pg=()
  pg="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$pg" ] || pg="$(dirname "$(command -v initdb || echo /none/initdb)")"
  [ -x "$pg/postgres" ] || die "no PostgreSQL in /usr/lib/postgresql/*/bin: scripts/setup.sh test installs it"
  # postgres will not run as root. setpriv execs, so the pid below is the postmaster's.
  if [ "$(id -u)" -eq 0 ]; then
    as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups)
    # The socket goes in $dir itself.
    chown postgres:postgres "$dir"
  fi
  "${as_pg[@]}" test -w "$dir" -a -x "$dir" \
    || die "the postgres user cannot write $dir (or reach it through its parents): choose another CLUSTER_DIR"
  # The marker is written once the database exists: without it, what is there is half made.
  if [ ! -f "$dir/postgres.ready" ]; then
    rm -rf "$dir/postgres"
    (cd "$dir" && exec "${as_pg[@]}" "$pg/initdb" -D "$dir/postgres" -A trust -U postgres -N \
      --no-instructions -E UTF8 --locale=C.UTF-8) >>"$dir/postgres.log" 2>&1 \
      || die "initdb failed (see $dir/postgres.log)"
  fi
  wait_until '[ -z "$(pg_leftovers)" ]' 10 || die "processes of an old postgres remain: $(pg_leftovers)"
  # A postmaster killed outright leaves its lock files, and where nothing reaps it, the pid in
  # them stays taken by its zombie: a new postmaster would think it still runs. Nothing of it is
  # left (above), so they go.
  rm -f "$dir/postgres/postmaster.pid" "$dir/.s.PGSQL.$pg_port.lock"
  # Dynamic shared memory in files under the data directory, not /dev/shm: a postgres killed
  # for good leaves its segments behind, and `down` removes them with the data.
  (cd "$dir" && exec "${as_pg[@]}" "$pg/postgres" -D "$dir/postgres" -k "$dir" -p "$pg_port" \
    -c listen_addresses= -c fsync=off -c full_page_writes=off -c dynamic_shared_memory_type=mmap) \
    >>"$dir/postgres.log" 2>&1 &
  echo $! >"$dir/postgres.pid"
  wait_until "! alive postgres || '$pg/pg_isready' -q -h '$dir' -p $pg_port -U postgres -d postgres" 20 \
    && alive postgres || die "postgres did not start (see $dir/postgres.log)"
  if [ ! -f "$dir/postgres.ready" ]; then
    "$pg/createdb" -h "$dir" -p "$pg_port" -U postgres switchboard >>"$dir/postgres.log" 2>&1 \
      || die "createdb switchboard failed (see $dir/postgres.log)"
    touch "$dir/postgres.ready"
  fi
  say "postgres ready on $dir/.s.PGSQL.$pg_port (pid $(pid_of postgres))"
}

# With OIDC_PORT set, `up` also starts an OpenID provider for single sign-on (npm oidc-provider,
# end2end/oidc/provider.mjs: any login name signs in) on 127.0.0.1:OIDC_PORT, and the instances
# are told to sign in with it.
start_oidc() {
  [ -n "${OIDC_PORT:-}" ] || return 0
  alive oidc && return
  [ -d "$root/end2end/node_modules/oidc-provider" ] || die "no oidc-provider: scripts/setup.sh test installs it"
  OIDC_REDIRECT_URIS="http://127.0.0.1:$lb_port/auth/oidc/callback" \
    node "$root/end2end/oidc/provider.mjs" >>"$dir/oidc.log" 2>&1 &
  echo $! >"$dir/oidc.pid"
  wait_until "grep -q 'oidc-provider ready' '$dir/oidc.log'" 20 || die "the OpenID provider did not start (see $dir/oidc.log)"
  say "OpenID provider ready on http://127.0.0.1:$OIDC_PORT (pid $(pid_of oidc))"
}

# What the instances are told about single sign-on.
oidc_env() {
  if [ -n "${OIDC_PORT:-}" ]; then
    printf '%s\n' "OIDC_ISSUER_URL=http://127.0.0.1:$OIDC_PORT" "OIDC_CLIENT_ID=switchboard" \
      "OIDC_CLIENT_SECRET=switchboard-secret" "OIDC_REDIRECT_BASE=http://127.0.0.1:$lb_port" \
      "OIDC_PROVIDER_NAME=${OIDC_PROVIDER_NAME:-Test ID}"
  else
    echo "OIDC_ISSUER_URL="
  fi
}

start_redis_cluster() {
  alive redis-0 && return
  local k port nodes=()
  for k in 0 1 2 3 4 5; do
    port=$((redis_port + k))
    rm -f "$dir/nodes-$port.conf"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --cluster-enabled yes --cluster-config-file "$dir/nodes-$port.conf" \
      --cluster-node-timeout "${REDIS_NODE_TIMEOUT_MS:-15000}" \
      --dir "$dir" --logfile "$dir/redis-$k.log" --daemonize no >/dev/null 2>&1 &
    echo $! >"$dir/redis-$k.pid"
    nodes+=("127.0.0.1:$port")
  done
  for k in 0 1 2 3 4 5; do
    wait_until "redis-cli -p $((redis_port + k)) ping | grep -q PONG" 10 || die "redis node $k did not start (see $dir/redis-$k.log)"
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/redis-create.log" 2>&1 \
    || die "redis-cli --cluster create failed (see $dir/redis-create.log)"
  for k in 0 1 2 3 4 5; do
    wait_until "redis-cli -p $((redis_port + k)) cluster info | grep -q cluster_state:ok" 20 \
      || die "the redis cluster did not become healthy (see $dir/redis-$k.log)"
  done
  say "redis cluster: 3 masters + 3 replicas on ports $redis_port-$((redis_port + 5))"
}

start_redis() {
  [ "$(redis_mode)" = cluster ] && { start_redis_cluster; return; }
  alive redis && return
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" --daemonize no >/dev/null 2>&1 &
  echo $! >"$dir/redis.pid"
  wait_until "redis-cli -p $redis_port ping | grep -q PONG" 10 || die "redis did not start (see $dir/redis.log)"
}

start_instance() {
  local i="$1" port db_env
  port="$(instance_port "$i")"
  db_env="$(database_env)"
  alive "app-$i" && die "instance $i is already running"
  [ -x "$bin" ] || die "no server binary at $bin: run scripts/build.sh --release first"
  local oidc=()
  mapfile -t oidc < <(oidc_env)
  env -u REDIS_URL -u REDIS_CLUSTER_URLS HOST=127.0.0.1 PORT="$port" INSTANCE_ID="app-$i" "$(redis_env)" \
    "$db_env" "${oidc[@]}" \
    LEPTOS_SITE_ROOT="$root/target/site" RUST_LOG="${RUST_LOG:-info}" PROXY_HOPS="${PROXY_HOPS:-1}" \
    "$bin" >>"$dir/app-$i.log" 2>&1 &
  echo $! >"$dir/app-$i.pid"
  wait_until "curl -fs http://127.0.0.1:$port/readyz" 20 || die "instance $i did not become ready (see $dir/app-$i.log)"
  say "app-$i ready on http://127.0.0.1:$port (pid $(pid_of "app-$i"))"
}

write_haproxy_cfg() {
  local n="$1"
  {
    cat <<CFG
# Generated by scripts/cluster.sh: HAProxy standing in for the Cloud Foundry router.
global
    # Each proxied connection takes two descriptors; stay under the usual 20k limit.
    maxconn 9000

defaults
    mode http
    option http-server-close
    # Like the CF router: the client's address goes to the app in X-Forwarded-For (PROXY_HOPS=1).
    option forwardfor
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # An open WebSocket may be quiet for long; the app's heartbeats keep it well under this.
    timeout tunnel 1h
    timeout client-fin 5s
    # The sticky instance is gone: send the request to a live one instead of failing it.
    option redispatch 1
    retries 3

frontend web
    bind 127.0.0.1:$lb_port
    default_backend app
CFG
    if [ -e "$dir/ws-blocked" ]; then
      cat <<CFG
    # A network that blocks WebSockets (scripts/cluster.sh ws-block): upgrades are refused.
    http-request deny deny_status 403 if { hdr(upgrade) -i websocket }
CFG
    fi
    cat <<CFG

backend app
    balance roundrobin
    # Affinity like CF's __VCAP_ID__: set beside JSESSIONID, names the instance to stick to.
    cookie __VCAP_ID__ insert indirect nocache httponly
    option httpchk GET /readyz
    http-check expect status 200
    # Like the CF router, an instance that fails its readiness check gets no new requests, but
    # open WebSockets are left alone: a Redis blip must not cut every socket (they backfill),
    # and a frozen instance's clients find out by their silence watchdog.
    default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 2
CFG
    for i in $(seq 1 "$n"); do
      echo "    server app-$i 127.0.0.1:$(instance_port "$i") check cookie app-$i"
    done
  } >"$dir/haproxy.cfg"
}

start_haproxy() {
  alive haproxy && return
  haproxy -c -q -f "$dir/haproxy.cfg" || die "bad haproxy config ($dir/haproxy.cfg)"
  haproxy -f "$dir/haproxy.cfg" -db >>"$dir/haproxy.log" 2>&1 &
  echo $! >"$dir/haproxy.pid"
  wait_until "curl -fs http://127.0.0.1:$lb_port/readyz" 10 || die "haproxy did not start (see $dir/haproxy.log)"
}

start_prometheus() {
  local n="$1" targets="" i
  alive prometheus && return
  command -v prometheus >/dev/null || {
    say "installing prometheus (Debian package)"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get install -y -qq prometheus >/dev/null
  }
  for i in $(seq 1 "$n"); do targets="${targets:+$targets, }\"127.0.0.1:$(instance_port "$i")\""; done
  cat >"$dir/prometheus.yml" <<CFG
# Generated by scripts/cluster.sh: every instance of the local cluster.
scrape_configs:
  - job_name: switchboard
    scrape_interval: 5s
    static_configs:
      - targets: [$targets]
CFG
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/prometheus" \
    --web.listen-address="127.0.0.1:${PROMETHEUS_PORT:-9090}" >>"$dir/prometheus.log" 2>&1 &
  echo $! >"$dir/prometheus.pid"
  wait_until "curl -fs http://127.0.0.1:${PROMETHEUS_PORT:-9090}/-/ready" 20 || die "prometheus did not start (see $dir/prometheus.log)"
  say "prometheus on http://127.0.0.1:${PROMETHEUS_PORT:-9090}"
}

stop_pid() { # name signal
  local name="$1" sig="$2" pid
  pid="$(pid_of "$name")"
  [ -n "$pid" ] || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do running "$pid" || break; sleep 0.1; done
  if running "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$dir/$name.pid"
}

check_index() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$(count)" ] || die "no instance ${1:-?} (have $(count))"
}

cmd="${1:-}"
case "$cmd" in
  up)
    shift
    n=3 mode=single
    [ "${REDIS_CLUSTER:-0}" = 1 ] && mode=cluster
    for arg in "$@"; do
      case "$arg" in
        --redis-cluster) mode=cluster ;;
        *[!0-9]*|"") die "up: unknown argument $arg" ;;
        *) n="$arg" ;;
      esac
    done
    echo "$n" >"$dir/instances"
    echo "$mode" >"$dir/redis-mode"
    # A cluster already up keeps the database it has, whatever DATABASE_URL says now.
    if ! alive postgres && ! alive app-1; then
      if [ -n "${DATABASE_URL:-}" ]; then echo external; else echo own; fi >"$dir/postgres-mode"
    fi
    start_redis
    start_postgres
    start_oidc
    for i in $(seq 1 "$n"); do alive "app-$i" || start_instance "$i"; done
    rm -f "$dir/ws-blocked"
    write_haproxy_cfg "$n"
    start_haproxy
    [ "${PROMETHEUS:-0}" = 1 ] && start_prometheus "$n"
    if [ "$(pg_mode)" = own ]; then db="$(database_env)"; else db="DATABASE_URL from the environment"; fi
    say "cluster up: http://127.0.0.1:$lb_port ($n instances, $(redis_env), $db, logs in $dir)"
    ;;
  kill)
    check_index "${2:-}"; stop_pid "app-$2" KILL; say "app-$2 killed" ;;
  stop)
    check_index "${2:-}"; stop_pid "app-$2" TERM; say "app-$2 stopped" ;;
  start)
    check_index "${2:-}"; start_instance "$2" ;;
  restart)
    check_index "${2:-}"; stop_pid "app-$2" TERM; start_instance "$2" ;;
  lb-stop)
    # The whole service out of reach, as when the user's network drops: HAProxy stops, and
    # every connection through it with it.
    stop_pid haproxy TERM; say "haproxy stopped" ;;
  lb-start)
    start_haproxy; say "haproxy started" ;;
  ws-block|ws-allow)
    # Rewrites HAProxy's configuration and restarts it: every connection through it drops.
    if [ "$cmd" = ws-block ]; then touch "$dir/ws-blocked"; else rm -f "$dir/ws-blocked"; fi
    write_haproxy_cfg "$(count)"
    stop_pid haproxy TERM
    start_haproxy
    say "haproxy restarted: WebSocket upgrades ${cmd#ws-}ed" ;;
  pause|resume)
    target="${2:-}"
    if [ "$target" = redis ]; then names="$(redis_names)"
    else check_index "$target"; names="app-$target"; fi
    for name in $names; do
      pid="$(pid_of "$name")"
      [ -n "$pid" ] || die "$name is not running"
      if [ "$cmd" = pause ]; then kill -STOP "$pid"; else kill -CONT "$pid"; fi
    done
    say "$target ${cmd}d"
    # Every instance went unready while Redis was frozen, and HAProxy takes a few checks to let
    # them back in: whatever runs next must find the service serving, not a 503.
    if [ "$target" = redis ] && [ "$cmd" = resume ]; then
      wait_until "curl -fs http://127.0.0.1:$lb_port/readyz" 20 || die "the service did not become ready after Redis resumed"
    fi
    ;;
  status)
    for name in $(redis_names) $(pg_names) haproxy prometheus $(for i in $(seq 1 "$(count)"); do echo "app-$i"; done); do
      if alive "$name"; then echo "$name running (pid $(pid_of "$name"))"; else echo "$name stopped"; fi
    done
    if [ "$(pg_mode)" = own ]; then database_env; else echo "DATABASE_URL: the caller's (no postgres of ours)"; fi
    ;;
  down)
    # A paused process would ignore the TERM below until continued.
    for name in redis redis-0 redis-1 redis-2 redis-3 redis-4 redis-5 $(for i in $(seq 1 "$(count)"); do echo "app-$i"; done); do
      pid="$(pid_of "$name")"; [ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null || true
    done
    stop_pid prometheus TERM
    stop_pid oidc TERM
    stop_pid haproxy TERM
    for i in $(seq 1 "$(count)"); do stop_pid "app-$i" TERM; done
    for name in redis redis-0 redis-1 redis-2 redis-3 redis-4 redis-5; do stop_pid "$name" TERM; done
    # SIGINT is postgres's fast shutdown; on SIGTERM it would wait for its clients to leave.
    stop_pid postgres INT
    rm -rf "$dir/postgres" "$dir/postgres.ready" "$dir/postgres-mode"
    say "cluster down"
    ;;
  *)
    sed -n '2,42p' "$0" >&2; exit 2 ;;
esac
