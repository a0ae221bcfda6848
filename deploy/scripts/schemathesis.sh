#!/usr/bin/env bash
# Schemathesis against the REST gateway: every operation of the served
# /openapi.json, authenticated, with every check and the stateful phase (it
# follows the document's links: create an account, then read, update and
# archive it by the id it got back).
#
#   deploy/scripts/schemathesis.sh [--long] [FREEDUMB_BINARY]
#
# FREEDUMB_BINARY defaults to FREEDUMB_BIN, else the newest freedumb build
# (deploy/scripts/lib/freedumb-bin.sh). Needs curl, jq, python3 and
# Schemathesis (pip install schemathesis==4.32.5; .ci/run installs it).
#
# 1. Starts `freedumb serve --target all` on free loopback ports with SQLite
#    in a temporary directory (no Postgres or Redis), its rate limits raised
#    for the drill (FREEDUMB_GATEWAY__AUTH_PER_MINUTE and __USER_PER_MINUTE:
#    Schemathesis sends thousands of requests a minute from one address and
#    one user; the limiter's own 429 stays covered by the gateway's tests),
#    and 127.0.0.1 a trusted proxy (FREEDUMB_TRUSTED_PROXIES), so that the
#    hooks can give each fuzzed password guess a client address of its own.
# 2. Signs up two users over REST (POST /v1/auth:register).
# 3. Runs `schemathesis run` on http://127.0.0.1:PORT/openapi.json with all
#    checks and the phases examples, coverage, fuzzing and stateful. The
#    users are a Web Fuzzing Commons auth file: Schemathesis logs in itself
#    (POST /v1/auth:login), logs in again every 5 minutes (access tokens last
#    15) and on a 401 (a fuzzed logout or logout-all revokes the session).
#    Every request goes as the first user; the second is its peer, whose
#    requests for the first one's objects must fail
#    (object_level_authorization). The watches (NDJSON server streams that
#    stay open while idle) are read up to their first message by
#    deploy/scripts/lib/schemathesis_hooks.py, which Schemathesis loads.
#
# Fails (non-zero) on any failure or error Schemathesis reports; its output
# says which check failed and gives the curl command that reproduces each.
# The reports (JUnit XML, NDJSON events with every request and response, a
# pytest file of the failures) are kept in SCHEMATHESIS_REPORT_DIR when set.
# SCHEMATHESIS_SCHEMA=FILE tests the running gateway against another
# document (e.g. an edited openapi.json, before a binary serves it).
#
# Time: about 15 s to start; the examples and coverage phases, once through
# every operation (about 200 s here; at most SCHEMATHESIS_COVERAGE_TIME,
# default 300; 0 skips them, to repeat fuzzing with many seeds); then
# fuzzing and the stateful phase for SCHEMATHESIS_MAX_TIME seconds (default
# 120, as in CI; they repeat until it is spent). --long gives those two
# SCHEMATHESIS_LONG_TIME seconds (default 1800) and more examples per
# operation, and the coverage phase every operation. SCHEMATHESIS_SEED
# makes a run repeatable; SCHEMATHESIS_WORKERS (default 2) sets concurrency.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
fail() { printf 'schemathesis: FAILED: %s\n' "$*" >&2; exit 1; }
say() { printf 'schemathesis: %s\n' "$*"; }

long=false
bin_arg=""
for arg in "$@"; do
  case "$arg" in
    --long) long=true ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) fail "unknown option $arg (--long, --help)" ;;
    *) bin_arg=$arg ;;
  esac
done

# shellcheck source=deploy/scripts/lib/freedumb-bin.sh
. "$here/lib/freedumb-bin.sh"
# shellcheck source=deploy/scripts/lib/mesh.sh
. "$here/lib/mesh.sh"
bin=${bin_arg:-$(find_freedumb_bin "$root")}
[ -n "$bin" ] && [ -x "$bin" ] || fail "no freedumb binary: build it (cargo build) or pass its path"
for tool in curl jq python3 schemathesis; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is required (schemathesis: pip install schemathesis==4.32.5)"
done

if $long; then
  max_time=${SCHEMATHESIS_LONG_TIME:-1800}
  max_examples=${SCHEMATHESIS_LONG_EXAMPLES:-200}
else
  max_time=${SCHEMATHESIS_MAX_TIME:-120}
  max_examples=${SCHEMATHESIS_MAX_EXAMPLES:-20}
fi
coverage_time=${SCHEMATHESIS_COVERAGE_TIME:-300}
workers=${SCHEMATHESIS_WORKERS:-2}

mesh_prepare
mesh_failure_logs 30 "$tmp/freedumb.log"
# On exit, after freedumb has stopped.
keep_reports() {
  if [ -n "${SCHEMATHESIS_REPORT_DIR:-}" ] && [ -d "$tmp/report" ]; then
    mkdir -p "$SCHEMATHESIS_REPORT_DIR"
    cp -R "$tmp/report/." "$SCHEMATHESIS_REPORT_DIR/"
    cp "$tmp/freedumb.log" "$SCHEMATHESIS_REPORT_DIR/" 2>/dev/null || true
  fi
}
mesh_exit_hook keep_reports

read -r grpc_port admin_port gateway_port < <(free_ports 3)

say "starting $bin (REST $gateway_port, gRPC $grpc_port, admin $admin_port; SQLite in $tmp/data)"
mesh_serve "$bin" "$grpc_port" "$admin_port" "$gateway_port" \
  FREEDUMB_GATEWAY__AUTH_PER_MINUTE=1000000 \
  FREEDUMB_GATEWAY__USER_PER_MINUTE=1000000 \
  'FREEDUMB_TRUSTED_PROXIES=[127.0.0.1]' \
  FREEDUMB_LOG_FILTER=warn
mesh_wait_ready "$admin_port"
api="http://127.0.0.1:$gateway_port"
say "freedumb is ready"

# Two users, signed up over REST; Schemathesis logs them in itself.
users=()
for name in owner peer; do
  email="schemathesis-$name-$$-$RANDOM@freedumb.invalid"
  password="schemathesis $name passphrase $RANDOM$RANDOM$RANDOM"
  sign_up "$api" "$(auth_body "$email" "$password")"
  users+=("$(jq -cn --arg name "$name" --arg email "$email" --arg password "$password" '{
    name: $name,
    loginEndpointAuth: {
      endpoint: "/v1/auth:login",
      verb: "POST",
      contentType: "application/json",
      payloadUserPwd: {username: $email, usernameField: "email", password: $password, passwordField: "password"},
      token: {extractFrom: "body", extractSelector: "/tokens/accessToken", sendIn: "header",
              sendName: "Authorization", sendTemplate: "Bearer {token}"}
    }
  }')")
done
printf '%s\n' "${users[@]}" | jq -s '{schemaVersion: "0.2.0", auth: .}' >"$tmp/auth.json"
say "signed up the users owner and peer"

cat >"$tmp/schemathesis.toml" <<EOF
# Written by deploy/scripts/schemathesis.sh.
workers = $workers
request-timeout = 20
# Nothing kept between runs: no project cache in the working directory.
[cache]
enabled = false

[auth.wfc]
path = "$tmp/auth.json"
user = "owner"
peers = ["owner", "peer"]
refresh_interval = 300

[generation]
max-examples = $max_examples
# No example database (Hypothesis's .hypothesis/ in the working directory).
database = "none"

# A page token is opaque: only one the server issued is valid (AIP-158;
# anything else is INVALID_ARGUMENT), so none can be generated as valid
# data: every list starts at its first page.
[parameters]
"query.pageToken" = ""

# The watches (server streams, NDJSON) stay open while idle: the hooks file
# reads one message or stops after this long without one.
[[operations]]
include-path-regex = ':watch\$'
request-timeout = 3

# Where a service checks what JSON Schema cannot state (a reference that
# must exist, an object's state, a check digit, a file's contents), a
# schema-valid request can be a correct 400: these operations may answer
# one, and the hooks' check positive_data_refused_for_a_stated_reason fails
# any 400 whose reasons schemathesis_refusals.json does not list.
[[operations]]
include-name = $(jq -c '.operations | keys' "$here/lib/schemathesis_refusals.json")
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]

[phases]
stateful.enabled = true
EOF
# Each report the coverage phase gets accepted is rendered (a PDF or CSV):
# hundreds of them took 80 of the 180 s and left the fuzzing and stateful
# phases no time. The short run leaves reports to those phases.
if ! $long; then
  cat >>"$tmp/schemathesis.toml" <<EOF

[[operations]]
include-name = "POST /v1/analytics/reports"
phases.coverage.enabled = false
EOF
fi

# SCHEMATHESIS_SCHEMA: another document (a file) to test the running gateway
# with, e.g. a changed openapi.json before the binary that serves it is built.
location="$api/openapi.json"
location_args=()
if [ -n "${SCHEMATHESIS_SCHEMA:-}" ]; then
  location=$(realpath "$SCHEMATHESIS_SCHEMA")
  location_args=(--url "$api")
fi
seed_args=()
[ -z "${SCHEMATHESIS_SEED:-}" ] || seed_args=(--seed "$SCHEMATHESIS_SEED")
# Every check runs, positive_data_acceptance (a request valid by the
# document must be accepted) and the negative ones (a request it calls
# invalid must be refused) included, plus the hooks' own. What the document
# states of values is gateway-rest/src/openapi/rules.rs; the rules across
# fields are applied to valid data by the hooks; what only a service can
# judge is schemathesis_refusals.json.
# Two passes, each with its own time: the examples and coverage phases go
# through every operation once (generating their values is most of their
# time: about 200 s here), then fuzzing and the stateful phase repeat until
# theirs is spent. In one run with one budget, coverage took all of it.
status=0
run_phases() { # phases, seconds
  say "$(schemathesis --version): all checks, phases $1; at most $2 s"
  local started=$SECONDS
  (cd "$tmp" && PYTHONDONTWRITEBYTECODE=1 SCHEMATHESIS_HOOKS="$here/lib/schemathesis_hooks.py" \
    schemathesis --config-file "$tmp/schemathesis.toml" --no-color run "$location" "${location_args[@]}" \
    --checks all --phases "$1" --max-time "$2" \
    --report junit,ndjson,pytest --report-dir "$tmp/report/${1//,/-}" \
    "${seed_args[@]}") || status=$?
  say "phases $1 ran $((SECONDS - started)) s"
  kill -0 "$freedumb_pid" 2>/dev/null || fail "freedumb exited during the run"
}
if [ "$coverage_time" = 0 ]; then
  say "examples and coverage skipped (SCHEMATHESIS_COVERAGE_TIME=0)"
else
  run_phases examples,coverage "$coverage_time"
fi
run_phases fuzzing,stateful "$max_time"
[ "$status" = 0 ] || fail "Schemathesis reported failures or errors (exit status $status; the curl commands above reproduce them)"
say "passed: no failure and no error"
