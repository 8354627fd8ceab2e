#!/usr/bin/env bash
# Builds (release) and runs one Switchboard instance on http://127.0.0.1:${PORT:-3000}.
# With no REDIS_URL, REDIS_CLUSTER_URLS or VCAP_SERVICES binding it uses the embedded in-memory
# backend and says so; with no DATABASE_URL or PostgreSQL binding it keeps accounts in memory and
# says so. ALLOW_GUESTS=true also lets people in under a name alone.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh --release
export LEPTOS_SITE_ROOT=target/site
exec target/release/switchboard
