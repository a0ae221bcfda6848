#!/usr/bin/env bash
# The scrape drill: a real Prometheus scrapes a running FREEDUMB and a
# FREEDUMB metric is queried back through Prometheus's HTTP API.
#
#   deploy/scripts/scrape-drill.sh [FREEDUMB_BINARY]
#
# FREEDUMB_BINARY defaults to ~/.cache/freedumb/target/debug/freedumb.
#
# 1. Starts `freedumb serve --target all` on free loopback ports, with SQLite
#    in a temporary directory and no Postgres or Redis.
# 2. Starts a Prometheus server (Debian `prometheus`; installed with apt-get
#    when missing and running as root) that scrapes the admin port every
#    second under the scrape contract of deploy/monitoring (job="freedumb",
#    target="all") and loads the repository's rule files, the SLO group
#    evaluated every 2 s instead of every minute.
# 3. Once Prometheus scrapes, makes traffic through the REST gateway with
#    curl: sign-up, login, GetMe; then, once Prometheus has seen those
#    counters, a login and GetMe again (so that rates are not zero).
# 4. Lints the /metrics exposition with `promtool check metrics` (tolerating
#    metrics without help text, for now).
# 5. Queries back through the HTTP API, and fails if any is absent:
#    grpc_server_handled_total of the Login just made, the db_pool_connections
#    and process_resident_memory_bytes gauges, and the SLO recording rules for
#    the auth service (which proves the rules match the real exposition,
#    histogram buckets included); and checks that every rule evaluates
#    without error.
#
# Both processes are stopped and the directory removed on exit. Takes about
# 20 s with a debug binary.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${1:-$HOME/.cache/freedumb/target/debug/freedumb}

fail() { printf 'scrape-drill: %s\n' "$*" >&2; exit 1; }
say() { printf 'scrape-drill: %s\n' "$*"; }

[ -x "$bin" ] || fail "no FREEDUMB binary at $bin (build it: cargo build), or pass its path"
for tool in curl jq python3; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is required (apt-get install $tool)"
done
if ! command -v prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Prometheus (Debian package prometheus)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null
  else
    fail "prometheus is required (apt-get install prometheus)"
  fi
fi

# shellcheck source=deploy/scripts/lib/mesh.sh
. "$root/deploy/scripts/lib/mesh.sh"
mesh_prepare
mesh_failure_logs 30 "$tmp/freedumb.log" "$tmp/prometheus.log"

read -r grpc_port admin_port gateway_port prom_port < <(free_ports 4)

say "starting $bin (gRPC $grpc_port, admin $admin_port, REST $gateway_port; SQLite in $tmp/data)"
mesh_serve "$bin" "$grpc_port" "$admin_port" "$gateway_port" FREEDUMB_LOG_FILTER=warn
mesh_wait_ready "$admin_port"
say "FREEDUMB is ready"

# The repository's rules; the SLO group is evaluated every 2 s instead of
# every minute, so the drill need not wait for it.
mkdir -p "$tmp/rules"
for rules in "$root"/deploy/monitoring/prometheus/rules/*.yml; do
  sed 's/^\(    interval: \)1m$/\12s/' "$rules" >"$tmp/rules/$(basename "$rules")"
done
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 2s
rule_files:
  - $tmp/rules/*.yml
scrape_configs:
  - job_name: freedumb
    static_configs:
      - targets: ["127.0.0.1:$admin_port"]
        labels:
          target: all
EOF
promtool check config "$tmp/prometheus.yml" >/dev/null

say "starting Prometheus $(prometheus --version 2>&1 | sed -n 1p | awk '{print $3}') on 127.0.0.1:$prom_port"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prometheus-data" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
prometheus_pid=$!
mesh_track "$prometheus_pid"
prom="http://127.0.0.1:$prom_port"
mesh_wait_http "$prom/-/ready" 60 "$prometheus_pid" prometheus

# Prints the result vector of an instant query as JSON lines.
query() {
  curl -fsS "$prom/api/v1/query" --data-urlencode "query=$1" | jq -c '.data.result[]'
}

# Waits until QUERY returns a sample, for at most 60 s; prints the first.
query_back() {
  local expr=$1 i result
  for ((i = 0; i < 120; i++)); do
    result=$(query "$expr" | sed -n 1p) || true
    if [ -n "$result" ]; then
      printf '%s\n' "$result"
      return 0
    fi
    sleep 0.5
  done
  fail "Prometheus returned nothing for: $expr"
}

query_back 'up{job="freedumb", target="all"} == 1' >/dev/null
say "Prometheus scrapes the admin port"

api="http://127.0.0.1:$gateway_port"
email="scrape-drill-$$-$RANDOM@freedumb.invalid"
password="scrape drill passphrase $RANDOM$RANDOM"
body=$(auth_body "$email" "$password")
sign_up "$api" "$body"
access=$(log_in "$api" "$body")
curl -fsS "$api/v1/me" -H "authorization: Bearer $access" | jq -e --arg email "$email" '.user.email == $email' >/dev/null \
  || fail "GetMe through the gateway did not return the new user"
say "signed up, logged in and read the user back through the REST gateway"

login=$(query_back 'grpc_server_handled_total{job="freedumb", method="freedumb.auth.v1.AuthService/Login", code="Ok"} >= 1')
say "queried back: grpc_server_handled_total{method=\"freedumb.auth.v1.AuthService/Login\", code=\"Ok\"} = $(jq -r '.value[1]' <<<"$login")"

# A counter appears at its first increment, so rates need calls after
# Prometheus has seen it once: a second round.
log_in "$api" "$body" >/dev/null
for _ in 1 2 3 4 5; do
  curl -fsS -o /dev/null "$api/v1/me" -H "authorization: Bearer $access" || fail "GetMe through the gateway failed"
done
query_back 'grpc_server_handled_total{job="freedumb", method="freedumb.auth.v1.AuthService/Login", code="Ok"} >= 2' >/dev/null
say "logged in again and called GetMe 5 times"

# The exposition, with the metrics the traffic made, passes promtool's lint
# (naming, types, units). "no help text" is tolerated while some metrics
# have no describe_*! in the code.
curl -fsS "http://127.0.0.1:$admin_port/metrics" >"$tmp/metrics.txt"
promtool check metrics <"$tmp/metrics.txt" >"$tmp/lint.txt" 2>&1 || true
lint=$(grep -v ' no help text$' "$tmp/lint.txt" || true)
[ -z "$lint" ] || fail "promtool check metrics: $lint"
say "/metrics passes promtool check metrics ($(grep -c ' no help text$' "$tmp/lint.txt" || true) metrics without help text)"
pools=$(query_back 'count(db_pool_connections{job="freedumb"})')
say "queried back: db_pool_connections, $(jq -r '.value[1]' <<<"$pools") series"
rss=$(query_back 'process_resident_memory_bytes{job="freedumb"}')
say "queried back: process_resident_memory_bytes = $(jq -r '.value[1]' <<<"$rss")"
build=$(query_back 'freedumb_build_info{job="freedumb"} == 1')
say "queried back: freedumb_build_info, version $(jq -r '.metric.version' <<<"$build")"
backlog=$(query_back 'outbox_pending_events{job="freedumb",stream="freedumb.ledger.v1.events"}')
say "queried back: outbox_pending_events of the ledger = $(jq -r '.value[1]' <<<"$backlog")"
calls=$(query_back 'service:freedumb_grpc_calls:rate5m{service="auth"} > 0')
say "queried back: service:freedumb_grpc_calls:rate5m{service=\"auth\"} = $(jq -r '.value[1]' <<<"$calls") calls/s"
slow=$(query_back 'service:freedumb_grpc_slow_calls:ratio_rate5m{service="auth"}')
say "queried back: service:freedumb_grpc_slow_calls:ratio_rate5m{service=\"auth\"} = $(jq -r '.value[1]' <<<"$slow")"

# Every rule has been evaluated, and none failed.
for ((i = 0; i < 60; i++)); do
  rules=$(curl -fsS "$prom/api/v1/rules")
  unevaluated=$(jq '[.data.groups[].rules[] | select(.health == "unknown")] | length' <<<"$rules")
  [ "$unevaluated" = 0 ] && break
  sleep 0.5
done
failed=$(jq -r '.data.groups[].rules[] | select(.health == "err") | "\(.name): \(.lastError)"' <<<"$rules")
[ -z "$failed" ] || fail "rules failed to evaluate: $failed"
[ "$unevaluated" = 0 ] || fail "$unevaluated rules were never evaluated"
say "all $(jq '[.data.groups[].rules[]] | length' <<<"$rules") rules of deploy/monitoring evaluated without error"
say "passed"
