#!/usr/bin/env bash
# Proves that a support bundle holds no secret, and holds what it should.
#
# Plants random secret values everywhere a real deployment has them: the
# database password (in the configuration file, percent-encoded), the Redis
# password, SMTP credentials, the LLM key (in its key file), price-feed API
# keys in URL query strings, an unrelated *_SECRET variable, and, in the
# logs, a real access token and refresh token (from the running mesh), a
# bearer header and a PEM private key. Runs the real freedumb with them,
# builds a bundle with deploy/scripts/support-bundle.sh (with the process's
# environment, its configuration, its logs, its metrics and health),
# extracts it and searches every file for every planted value, raw and
# percent-decoded. Fails if one is found, if a part is missing, or if a
# non-secret setting was redacted too.
#
#   deploy/scripts/support-bundle-test.sh
#
# Environment: FREEDUMB_BIN (default: the newest freedumb under the cargo
# target directory), TEST_DATABASE_URL (Postgres whose user may CREATE
# DATABASE and connects with any password, as CI's trust authentication does;
# default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
die() { printf 'support-bundle-test: FAILED: %s\n' "$*" >&2; exit 1; }
say() { printf 'support-bundle-test: %s\n' "$*"; }
for tool in curl jq openssl psql tar grpcurl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done

# shellcheck source=deploy/scripts/lib/freedumb-bin.sh
. "$here/lib/freedumb-bin.sh"
# shellcheck source=deploy/scripts/lib/mesh.sh
. "$here/lib/mesh.sh"
bin=$(find_freedumb_bin "$root")
[ -n "$bin" ] && [ -x "$bin" ] || die "no freedumb binary: build it (cargo build -p freedumb-mesh) or set FREEDUMB_BIN"

server="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
db="freedumb_bundle_$$_$(date +%s)"
work=$(mktemp -d)
pid=""
cleanup() {
  local status=$?
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  psql -X -q -d "$server" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
psql -X -q -v ON_ERROR_STOP=1 -d "$server" -c "CREATE DATABASE \"$db\"" >/dev/null || die "cannot create a scratch database"

# The planted secrets: random, long, and each in a form a real one takes.
rand() { openssl rand -hex 16; }
db_password_raw="pg@$(rand)"            # appears percent-encoded in the URL
db_password_url="pg%40${db_password_raw#pg@}"
redis_password="rd$(rand)"
smtp_password="sm$(rand)"
llm_key="sk-live-$(rand)"
price_key="pk$(rand)"
fx_token="fx$(rand)"
other_secret="os$(rand)"
refresh_like="fdr_$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=')"

base="${server%%\?*}"
base="${base%/*}"
userinfo="${base#*://}"
host="${userinfo#*@}"
user="${userinfo%@*}"
[ "$user" != "$userinfo" ] || user=postgres
user="${user%%:*}"
database_url="postgres://$user:$db_password_url@$host/$db"

mkdir -p "$work/etc" "$work/logs" "$work/data" "$work/out"
printf '%s\n' "$llm_key" >"$work/etc/llm.key"
cat >"$work/etc/freedumb.toml" <<EOF
# planted by support-bundle-test.sh
database_url = "$database_url"
log_format = "json"

[investment]
price_provider = "http"
price_url = "http://127.0.0.1:9/daily/{symbol}?from={from}&to={to}&apikey=$price_key"
fx_url = "http://127.0.0.1:9/fx/{base}/{quote}?from={from}&to={to}&token=$fx_token"
price_interval_secs = 3600
EOF

read -r grpc_port admin_port rest_port < <(free_ports 3)

# The mesh, with secrets in its configuration file and its environment.
env -i PATH="$PATH" HOME="$work" \
  FREEDUMB_CONFIG_FILE="$work/etc/freedumb.toml" \
  FREEDUMB_DATA_DIR="$work/data" FREEDUMB_LOG_FILTER=info \
  FREEDUMB_GRPC_ADDR="127.0.0.1:$grpc_port" FREEDUMB_ADMIN_ADDR="127.0.0.1:$admin_port" \
  FREEDUMB_GATEWAY_ADDR="127.0.0.1:$rest_port" \
  FREEDUMB_AUTH__KEY_ROTATION_SECS=604800 \
  FREEDUMB_NOTIFICATION__SMTP_URL="smtps://mailer:$smtp_password@127.0.0.1:9" \
  FREEDUMB_AI__LLM_URL="http://127.0.0.1:9/v1" FREEDUMB_AI__LLM_MODEL=drill-model \
  FREEDUMB_AI__LLM_KEY_FILE="$work/etc/llm.key" \
  "$bin" serve --target all >"$work/logs/freedumb.log" 2>&1 &
pid=$!
ready=false
for _ in $(seq 1 120); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin_port/ready" || true)" = 200 ]; then ready=true; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
$ready || { tail -n 20 "$work/logs/freedumb.log" >&2; die "freedumb did not become ready"; }

# Real tokens, and traffic that logs (including a question the unreachable LLM fails).
api="http://127.0.0.1:$rest_port"
answer=$(curl -sf "$api/v1/auth:register" -H 'content-type: application/json' \
  -d "{\"email\":\"bundle-$$@example.com\",\"password\":\"bundle passphrase $$\"}") || die "register failed"
access=$(jq -r .tokens.accessToken <<<"$answer")
refresh=$(jq -r .tokens.refreshToken <<<"$answer")
[ -n "$access" ] && [ "$access" != null ] || die "no access token"
curl -s -o /dev/null "$api/v1/ai:ask" -H "authorization: Bearer $access" -H 'content-type: application/json' \
  -d '{"question":"how much did I spend on food?"}' || true
curl -s -o /dev/null "$api/v1/me" -H 'authorization: Bearer not-a-token' || true
private_key=$(openssl genpkey -algorithm ed25519 2>/dev/null)
key_body=$(sed -n 2p <<<"$private_key")
{
  echo "{\"timestamp\":\"2026-01-01T00:00:00Z\",\"level\":\"ERROR\",\"message\":\"proxy saw\",\"authorization\":\"Bearer $access\",\"refresh_token\":\"$refresh\"}"
  echo "127.0.0.1 - - POST /v1/auth:refresh refresh=$refresh_like Authorization: Bearer $access"
  echo "WARN connecting to $database_url failed; redis at redis://:$redis_password@127.0.0.1:6379"
  echo "ERROR key material follows"
  printf '%s\n' "$private_key"
  echo "ERROR done; other_secret=$other_secret"
} >"$work/logs/proxy.log"

say "building a bundle from a running mesh with planted secrets"
env REDIS_URL="redis://:$redis_password@127.0.0.1:6379" DRILL_API_SECRET="$other_secret" \
  FREEDUMB_CONFIG_FILE="$work/etc/freedumb.toml" FREEDUMB_BIN="$bin" \
  bash "$here/support-bundle.sh" --out "$work/out" --pid "$pid" \
    --endpoint "all=127.0.0.1:$grpc_port,127.0.0.1:$admin_port" --logs "$work/logs" >"$work/bundle.log" 2>&1 \
  || { cat "$work/bundle.log" >&2; die "support-bundle.sh failed"; }
tarball=$(find "$work/out" -name 'freedumb-support-*.tar.gz')
[ -n "$tarball" ] || die "no tarball written"
mkdir "$work/x"
tar -C "$work/x" -xzf "$tarball"
b=$(find "$work/x" -mindepth 1 -maxdepth 1 -type d)

# Not one secret, in any form.
leaks=0
for secret in "$db_password_raw" "$db_password_url" "${db_password_raw#pg@}" "$redis_password" "$smtp_password" \
    "$llm_key" "$price_key" "$fx_token" "$other_secret" "$refresh_like" "$access" "$refresh" "$key_body"; do
  if grep -rqF -- "$secret" "$b"; then
    printf '  leaked: %s... in %s\n' "${secret:0:6}" "$(grep -rlF -- "$secret" "$b" | sed "s#^$b/##" | tr '\n' ' ')" >&2
    leaks=$((leaks + 1))
  fi
done
# The tarball's own bytes, too (names, headers).
# Decompressed to a file first: `grep -q` stopping at the first match would
# kill gzip with SIGPIPE, and under pipefail a found secret would read as
# none.
gzip -dc "$tarball" >"$work/bundle.tar"
if grep -qaF -- "$llm_key" "$work/bundle.tar"; then leaks=$((leaks + 1)); fi
[ "$leaks" = 0 ] || die "$leaks secret value(s) found in the bundle"
say "13 planted secrets: none in the bundle"

# What must be there.
expect() { # FILE PATTERN WHAT
  grep -qE -- "$2" "$b/$1" 2>/dev/null || die "$3 (no /$2/ in $1)"
}
expect versions.txt '^freedumb: freedumb [0-9]' "versions: the freedumb version is missing"
expect versions.txt "^process $pid: .*: freedumb [0-9]" "versions: the running process's version is missing"
expect README.txt 'Redacted: [0-9]+ secret value' "the README is missing"
expect config/env.txt '^REDIS_URL=redis://:\[REDACTED\]@127\.0\.0\.1:6379$' "the shell's REDIS_URL is not shown redacted"
expect "config/env-pid-$pid.txt" '^FREEDUMB_NOTIFICATION__SMTP_URL=smtps://mailer:\[REDACTED\]@127\.0\.0\.1:9$' "the process's SMTP URL is not shown redacted"
expect "config/env-pid-$pid.txt" "^FREEDUMB_AI__LLM_KEY_FILE=$work/etc/llm.key$" "a key file's path (not a secret) was redacted"
expect "config/env-pid-$pid.txt" '^FREEDUMB_AUTH__KEY_ROTATION_SECS=604800$' "a duration with KEY in its name was redacted"
expect "config/env-pid-$pid.txt" '^FREEDUMB_AI__LLM_MODEL=drill-model$' "a plain setting is missing"
expect config/freedumb.toml "^database_url = \"postgres://$user:\\[REDACTED\\]@" "the configuration file's database URL is not redacted as expected"
expect config/freedumb.toml 'apikey=\[REDACTED\]' "the price URL's key is not redacted"
expect config/freedumb.toml '^price_provider = "http"$' "the configuration file lost a plain setting"
expect metrics/all.prom '^grpc_server_handled_total' "the metrics snapshot is missing"
expect health/diagnose.txt 'health \(process\): SERVING' "the gRPC health is missing"
expect health/diagnose.txt '/ready: 200' "the readiness is missing"
expect health/all-ready.txt 'HTTP 200' "the /ready snapshot is missing"
log_copy=$(find "$b/logs" -name '*freedumb.log')
[ -n "$log_copy" ] && [ -s "$log_copy" ] || die "the process's log is missing"
proxy_copy=$(find "$b/logs" -name '*proxy.log')
grep -q 'Authorization: \[REDACTED\]' "$proxy_copy" || die "the authorization header is not shown redacted"
grep -q '"authorization":"\[REDACTED\]"' "$proxy_copy" || die "the authorization field is not shown redacted"
grep -q '\[REDACTED PRIVATE KEY\]' "$proxy_copy" || die "the private key is not shown redacted"
grep -q 'ERROR done' "$proxy_copy" || die "log lines after the private key were lost"
say "present: versions, README, redacted environment (shell and process), configuration file, metrics, health, readiness, logs"
say "passed"
