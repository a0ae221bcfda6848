# Sourced by the drills that run `freedumb serve` on free loopback ports
# (scrape-drill.sh, otlp-drill.sh, postgres-down-drill.sh, schemathesis.sh).
# The sourcing script defines `fail` (print, exit 1) and runs under
# `set -euo pipefail`.
#
#   mesh_prepare                 tmp=$(mktemp -d); traps that stop every tracked
#                                process, run the exit hooks, show the logs on
#                                failure and remove $tmp
#   mesh_track PID               stop PID on exit (the last tracked first)
#   mesh_exit_hook FUNCTION      call FUNCTION on exit, after the processes stop
#   mesh_failure_logs LINES FILE...  on failure, print the last LINES of each FILE
#   free_ports N                 N distinct free loopback ports, on one line
#   mesh_serve BIN GRPC ADMIN GATEWAY [NAME=VALUE...]
#                                `BIN serve --target all` in the background
#   mesh_wait_http URL SECONDS PID NAME   until URL answers 2xx
#   mesh_wait_ready ADMIN_PORT   until freedumb's /ready answers (120 s)
#   auth_body EMAIL PASSWORD     the JSON body of sign-up and login
#   sign_up API BODY             POST /v1/auth:register
#   log_in API BODY              POST /v1/auth:login; prints the access token
# shellcheck shell=bash

# Makes the temporary directory $tmp and installs the EXIT trap (and INT,
# TERM: exit 130) that cleans up after the drill.
mesh_prepare() {
  tmp=$(mktemp -d)
  freedumb_pid=""
  mesh_pids=()
  mesh_hooks=()
  mesh_logs=()
  mesh_log_lines=30
  trap mesh_cleanup EXIT
  trap 'exit 130' INT TERM
}

mesh_track() { mesh_pids+=("$1"); }
mesh_exit_hook() { mesh_hooks+=("$1"); }
mesh_failure_logs() {
  mesh_log_lines=$1
  shift
  mesh_logs+=("$@")
}

# The EXIT trap: stops the tracked processes (SIGTERM, then waits for each),
# runs the exit hooks, prints the logs' last lines when the drill fails, and
# removes $tmp. Exits with the drill's status.
mesh_cleanup() {
  local status=$? i pid hook log
  for ((i = ${#mesh_pids[@]} - 1; i >= 0; i--)); do
    kill "${mesh_pids[i]}" 2>/dev/null || true
  done
  for pid in "${mesh_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  for hook in "${mesh_hooks[@]}"; do
    "$hook" || true
  done
  if [ "$status" != 0 ]; then
    for log in "${mesh_logs[@]}"; do
      if [ -s "$log" ]; then
        printf -- '--- the last lines of %s\n' "$(basename "$log")" >&2
        tail -n "$mesh_log_lines" "$log" >&2
      fi
    done
  fi
  rm -rf "$tmp"
  exit "$status"
}

# Prints N free loopback TCP ports, space-separated, held until all are
# chosen so that they differ:  read -r a b < <(free_ports 2)
# They lie below the kernel's ephemeral range (ip_local_port_range): a port
# from that range can become the local port of some outgoing connection
# (the binary's own, to Postgres) between this check and the binary's
# bind, which once failed a CI run with "Address already in use".
free_ports() {
  python3 -c '
import random, socket, sys
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
first = max(1024, low - 12000)
socks = []
while len(socks) < int(sys.argv[1]):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randrange(first, low) if first < low else 0))
    except OSError:
        s.close()
        continue
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
' "$1"
}

# Starts `BIN serve --target all` in the background in a clean environment
# (no DATABASE_URL, REDIS_URL or stray FREEDUMB_* setting but the NAME=VALUE
# given): SQLite in $tmp/data, the gRPC, admin and REST gateway listeners on
# 127.0.0.1 at the ports given, JSON logs to $tmp/freedumb.log (the default
# filter, info, unless FREEDUMB_LOG_FILTER is given). Sets freedumb_pid and
# tracks it.
mesh_serve() {
  local bin=$1 grpc=$2 admin=$3 gateway=$4
  shift 4
  mkdir -p "$tmp/data"
  env -i PATH="$PATH" HOME="$tmp" \
    FREEDUMB_DATA_DIR="$tmp/data" \
    FREEDUMB_GRPC_ADDR="127.0.0.1:$grpc" \
    FREEDUMB_ADMIN_ADDR="127.0.0.1:$admin" \
    FREEDUMB_GATEWAY_ADDR="127.0.0.1:$gateway" \
    FREEDUMB_LOG_FORMAT=json \
    "$@" \
    "$bin" serve --target all >"$tmp/freedumb.log" 2>&1 &
  freedumb_pid=$!
  mesh_track "$freedumb_pid"
}

# Waits until URL answers 2xx, for at most SECONDS; fails if the process PID
# (called NAME) exits meanwhile.
mesh_wait_http() {
  local url=$1 seconds=$2 pid=$3 name=$4 i
  for ((i = 0; i < seconds * 4; i++)); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || fail "$name exited before it was ready ($url)"
    sleep 0.25
  done
  fail "$name was not ready within $seconds s ($url)"
}

# Waits until the freedumb started by mesh_serve is ready, for at most 120 s.
mesh_wait_ready() {
  mesh_wait_http "http://127.0.0.1:$1/ready" 120 "$freedumb_pid" freedumb
}

auth_body() {
  jq -cn --arg email "$1" --arg password "$2" '{email: $email, password: $password}'
}

# Signs up through the REST gateway at API (http://HOST:PORT) with BODY
# (auth_body); fails unless it answers 2xx.
sign_up() {
  curl -fsS -o /dev/null "$1/v1/auth:register" -H 'content-type: application/json' -d "$2" \
    || fail "sign-up of $(jq -r .email <<<"$2") through the gateway failed"
}

# Logs in through the REST gateway at API with BODY; prints the access token.
log_in() {
  curl -fsS "$1/v1/auth:login" -H 'content-type: application/json' -d "$2" \
    | jq -er '.tokens.accessToken' || fail "login of $(jq -r .email <<<"$2") through the gateway failed"
}
