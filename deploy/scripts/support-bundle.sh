#!/usr/bin/env bash
# Builds a support bundle: one tarball with the redacted configuration, the
# end of the logs, a metrics snapshot, versions and the health of a running
# FREEDUMB mesh, safe to attach to a ticket.
#
#   deploy/scripts/support-bundle.sh [options]
#
# Options:
#   -o, --out DIR          where the tarball is written (default .)
#   -c, --config FILE      the TOML configuration (default $FREEDUMB_CONFIG_FILE)
#   -p, --pid PID          also take the environment of this running process
#                          (/proc/PID/environ; repeatable)
#   -e, --endpoint NAME=GRPC[,ADMIN]  a process to check and snapshot (repeatable;
#                          default all=127.0.0.1:50051,127.0.0.1:9090)
#       --tls-dir DIR      mTLS client certificate for the gRPC health checks
#   -l, --logs PATH        a log file or a directory of them (repeatable)
#   -n, --lines N          lines kept from the end of each log file (default 10000)
#       --keep-emails      do not mask e-mail addresses in the logs
#   -h, --help
#
# What is never in the bundle: the value of any variable or configuration key
# whose name contains KEY, SECRET, PASSWORD, PASSWD, PASSPHRASE, TOKEN,
# CREDENTIAL or PRIVATE (names ending in _FILE, _PATH, _DIR, _SECS or _MS are
# paths and durations, kept); the password (and secret query parameters) of
# every URL (DATABASE_URL, REDIS_URL, SMTP, ...); the contents of key files;
# bearer tokens, JWTs, refresh tokens and PEM private keys in logs. Every
# secret value found in the environment, the configuration or a key file is
# also replaced wherever it appears, and the bundle is searched for each one
# before it is packed: if one is still there, no bundle is written.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { printf 'support-bundle: %s\n' "$*" >&2; exit 1; }
say() { printf 'support-bundle: %s\n' "$*"; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="."
config="${FREEDUMB_CONFIG_FILE:-}"
pids=()
endpoints=()
tls_dir=""
logs=()
lines=10000
keep_emails=false

while [ $# -gt 0 ]; do
  case "$1" in
    -o|--out) out="${2:?--out needs a directory}"; shift 2 ;;
    -c|--config) config="${2:?--config needs a file}"; shift 2 ;;
    -p|--pid) pids+=("${2:?--pid needs a process id}"); shift 2 ;;
    -e|--endpoint) endpoints+=("${2:?--endpoint needs NAME=GRPC[,ADMIN]}"); shift 2 ;;
    --tls-dir) tls_dir="${2:?--tls-dir needs a directory}"; shift 2 ;;
    -l|--logs) logs+=("${2:?--logs needs a path}"); shift 2 ;;
    -n|--lines) lines="${2:?--lines needs a number}"; shift 2 ;;
    --keep-emails) keep_emails=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$lines" =~ ^[0-9]+$ ]] || die "--lines must be a whole number"
for p in "${pids[@]}"; do
  [[ "$p" =~ ^[0-9]+$ ]] && [ -r "/proc/$p/environ" ] || die "cannot read the environment of process $p"
done
[ -z "$config" ] || [ -r "$config" ] || die "cannot read the configuration file $config"
[ "${#endpoints[@]}" -gt 0 ] || endpoints=("all=127.0.0.1:50051,127.0.0.1:9090")
for tool in tar gzip awk sed curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required but not installed"
done
mkdir -p "$out"

umask 077
stamp=$(date -u +%Y%m%dT%H%M%SZ)
name="freedumb-support-$stamp"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bundle="$work/$name"
mkdir -p "$bundle"/{config,logs,metrics,health}
secrets="$work/secret-values"   # never packed
: >"$secrets"

# Names whose values are secrets, and names that only look like it.
secret_name() { # NAME
  local n="${1^^}"
  case "$n" in
    *_FILE|*_PATH|*_DIR|*_SECS|*_MS) return 1 ;;
  esac
  [[ "$n" =~ (KEY|SECRET|PASSWORD|PASSWD|PASSPHRASE|TOKEN|CREDENTIAL|PRIVATE) ]]
}

# Remembers a secret value (and its percent-decoded form) for the value scrub.
remember() {
  local v="$1"
  [ "${#v}" -ge 4 ] || return 0
  printf '%s\n' "$v" >>"$secrets"
  if [[ "$v" == *%* ]]; then printf '%b\n' "${v//%/\\x}" >>"$secrets"; fi
}

# Remembers the password in every URL of a value.
remember_url_passwords() {
  local rest="$1" cred
  while [[ "$rest" =~ [a-zA-Z][a-zA-Z0-9+.-]*://([^/@[:space:]\"\']*)@ ]]; do
    cred="${BASH_REMATCH[1]}"
    if [[ "$cred" == *:* ]]; then remember "${cred#*:}"; fi
    rest="${rest#*"${BASH_REMATCH[0]}"}"
  done
  # Secret query parameters: ?password=..., &token=...
  rest="$1"
  while [[ "$rest" =~ [?\&]([A-Za-z_]*(password|passwd|pwd|secret|token|key|sig|signature))=([^\&[:space:]\"\']+) ]]; do
    remember "${BASH_REMATCH[3]}"
    rest="${rest#*"${BASH_REMATCH[0]}"}"
  done
}

# The contents of a file named by a *_FILE setting that holds a key.
remember_key_file() {
  local f="$1" line
  [ -r "$f" ] && [ -f "$f" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in -----*) continue ;; esac
    line="${line//$'\r'/}"
    remember "$line"
  done <"$f"
}

# Learns the secrets of NAME=VALUE lines (an environment) from stdin.
learn_env() {
  local line n v
  while IFS= read -r line; do
    [[ "$line" == *=* ]] || continue
    n="${line%%=*}"
    v="${line#*=}"
    if secret_name "$n"; then remember "$v"; fi
    remember_url_passwords "$v"
    case "${n^^}" in *KEY*_FILE|*SECRET*_FILE|*PASSWORD*_FILE|*TOKEN*_FILE) remember_key_file "$v" ;; esac
  done
}

# Writes the FREEDUMB-related variables of NAME=VALUE lines, redacted.
redact_env() {
  local line n v
  while IFS= read -r line; do
    [[ "$line" == *=* ]] || continue
    n="${line%%=*}"
    v="${line#*=}"
    case "$n" in
      FREEDUMB_*|DATABASE_URL|REDIS_URL|OTEL_*|RUST_LOG|RUST_BACKTRACE|TZ|TMPDIR) ;;
      *) continue ;;
    esac
    if secret_name "$n"; then v="[REDACTED]"; fi
    printf '%s=%s\n' "$n" "$v"
  done | sort
}

# Pattern redaction of any text: URL passwords, secret query parameters,
# bearer tokens, JWTs, refresh tokens, secret-named JSON/TOML/text fields,
# PEM private keys and (unless --keep-emails) e-mail addresses. Names ending
# in _file, _path, _dir, _secs or _ms are marked first (\x01 before their
# = or :) so that the field rules pass them by, and unmarked last.
scrub_patterns() {
  local email_rule='s/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/[EMAIL]/g'
  $keep_emails && email_rule='s/^$//'
  awk '
    /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/ { print "[REDACTED PRIVATE KEY]"; skip = 1; next }
    skip && /-----END [A-Z0-9 ]*PRIVATE KEY-----/ { skip = 0; next }
    !skip { print }' \
  | sed -E \
      -e 's#(_(file|path|dir|secs|ms)"?)([[:space:]]*[=:])#\1\x01\3#Ig' \
      -e 's#([a-zA-Z][a-zA-Z0-9+.-]*://[^/:@[:space:]"'"'"']*):[^@/[:space:]"'"'"']*@#\1:[REDACTED]@#g' \
      -e 's#([?&][A-Za-z_]*(password|passwd|pwd|secret|token|key|sig|signature)=)[^&[:space:]"'"'"']+#\1[REDACTED]#Ig' \
      -e 's#([Bb]earer[[:space:]]+)[A-Za-z0-9._~+/=-]+#\1[REDACTED]#g' \
      -e 's#eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*#[REDACTED-JWT]#g' \
      -e 's#fdr_[A-Za-z0-9_-]{16,}#fdr_[REDACTED]#g' \
      -e 's#("[A-Za-z0-9_.-]*(key|secret|password|passwd|passphrase|token|credential|private|authorization|cookie)[A-Za-z0-9_.-]*"[[:space:]]*:[[:space:]]*)"[^"]*"#\1"[REDACTED]"#Ig' \
      -e 's#(^|[[:space:],;{])([A-Za-z0-9_.-]*(key|secret|password|passwd|passphrase|token|credential|private|authorization|cookie)[A-Za-z0-9_.-]*[[:space:]]*[=:][[:space:]]*)("[^"]*"|'"'"'[^'"'"']*'"'"'|[^[:space:],;}]+)#\1\2[REDACTED]#Ig' \
      -e 's#\x01##g' \
      -e "$email_rule"
}

# Replaces every remembered secret value, literally, wherever it appears.
scrub_values() {
  awk -v list="$secrets" '
    BEGIN { while ((getline s < list) > 0) if (length(s) >= 4) v[++n] = s }
    {
      line = $0
      for (i = 1; i <= n; i++) {
        out = ""
        while ((p = index(line, v[i])) > 0) { out = out substr(line, 1, p - 1) "[REDACTED]"; line = substr(line, p + length(v[i])) }
        line = out line
      }
      print line
    }'
}

scrub_file() { # FILE: in place
  scrub_patterns <"$1" | scrub_values >"$1.scrubbed"
  mv -- "$1.scrubbed" "$1"
}

# 1. Learn every secret value before anything is written.
env | learn_env
for p in "${pids[@]}"; do tr '\0' '\n' <"/proc/$p/environ" | learn_env; done
if [ -n "$config" ]; then
  # key = "value" lines with a secret-looking key; URLs in any value.
  while IFS= read -r line; do
    [[ "$line" =~ ^[[:space:]]*([A-Za-z0-9_.-]+)[[:space:]]*=[[:space:]]*(.*)$ ]] || continue
    k="${BASH_REMATCH[1]}"
    v="${BASH_REMATCH[2]}"
    v="${v%%[[:space:]]#*}"
    v="${v#[\"\']}"
    v="${v%[\"\']}"
    if secret_name "$k"; then remember "$v"; fi
    remember_url_passwords "$v"
    case "${k^^}" in *KEY*_FILE) remember_key_file "$v" ;; esac
  done <"$config"
fi
sort -u -o "$secrets" "$secrets"

# 2. Configuration.
env | redact_env >"$bundle/config/env.txt"
for p in "${pids[@]}"; do
  tr '\0' '\n' <"/proc/$p/environ" | redact_env >"$bundle/config/env-pid-$p.txt"
  tr '\0' ' ' <"/proc/$p/cmdline" | sed 's/ $/\n/' >"$bundle/config/cmdline-pid-$p.txt"
done
if [ -n "$config" ]; then
  cp -- "$config" "$bundle/config/$(basename "$config")"
fi

# 3. Versions.
{
  echo "bundle created: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  bin="${FREEDUMB_BIN:-$(command -v freedumb || true)}"
  if [ -n "$bin" ] && [ -x "$bin" ]; then echo "freedumb: $("$bin" version)"; else echo "freedumb: no local binary (set FREEDUMB_BIN)"; fi
  for p in "${pids[@]}"; do
    echo "process $p: $(readlink "/proc/$p/exe" 2>/dev/null || echo unknown): $("/proc/$p/exe" version 2>/dev/null || echo "version unknown")"
  done
  if git -C "$here/../.." rev-parse --git-dir >/dev/null 2>&1; then
    echo "repository: $(git -C "$here/../.." describe --always --dirty --tags 2>/dev/null)"
  fi
  echo "kernel: $(uname -srm)"
  if [ -r /etc/os-release ]; then echo "os: $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')"; fi
  for tool in psql redis-cli grpcurl docker podman envoy; do
    if command -v "$tool" >/dev/null 2>&1; then
      echo "$tool: $("$tool" --version 2>&1 | sed -n '/./{p;q}' || true)"
    fi
  done
  if command -v kubectl >/dev/null 2>&1; then
    echo "kubectl: $(kubectl version --client 2>&1 | sed -n 1p || true)"
  fi
} >"$bundle/versions.txt" 2>&1

# 4. Health and diagnosis (diagnose.sh exits 1 when it finds a problem).
diag=()
for e in "${endpoints[@]}"; do diag+=(--endpoint "$e"); done
[ -z "$tls_dir" ] || diag+=(--tls-dir "$tls_dir")
for l in "${logs[@]}"; do diag+=(--logs "$l"); done
if command -v grpcurl >/dev/null 2>&1 && command -v jq >/dev/null 2>&1; then
  bash "$here/diagnose.sh" "${diag[@]}" >"$bundle/health/diagnose.txt" 2>&1 || true
else
  echo "diagnose.sh needs grpcurl and jq: not run" >"$bundle/health/diagnose.txt"
fi

# 5. Metrics and readiness snapshots.
for spec in "${endpoints[@]}"; do
  ep="${spec%%=*}"
  addrs="${spec#*=}"
  [[ "$addrs" == *,* ]] || continue
  admin="${addrs#*,}"
  curl -s --max-time 10 -o "$bundle/metrics/$ep.prom" "http://$admin/metrics" \
    || echo "no answer from http://$admin/metrics" >"$bundle/metrics/$ep.prom"
  curl -s --max-time 5 -w '\nHTTP %{http_code}\n' "http://$admin/ready" >"$bundle/health/$ep-ready.txt" 2>&1 || true
done

# 6. Logs: the end of each file.
for path in "${logs[@]}"; do
  files=()
  if [ -d "$path" ]; then
    while IFS= read -r -d '' f; do files+=("$f"); done \
      < <(find "$path" -maxdepth 2 -type f \( -name '*.log' -o -name '*.json' -o -name '*.jsonl' -o -name '*.txt' \) -print0)
  elif [ -f "$path" ]; then
    files=("$path")
  else
    echo "no log file or directory $path" >>"$bundle/logs/MISSING.txt"
  fi
  for f in "${files[@]}"; do
    target="$bundle/logs/$(printf '%s' "$f" | sed 's#^/##; s#/#__#g')"
    tail -n "$lines" -- "$f" >"$target"
  done
done

# 7. Redact everything, then prove it: no remembered secret may remain.
while IFS= read -r -d '' f; do scrub_file "$f"; done < <(find "$bundle" -type f -print0)
leaked=0
while IFS= read -r s; do
  [ "${#s}" -ge 4 ] || continue
  if grep -rqF -- "$s" "$bundle"; then leaked=$((leaked + 1)); fi
done <"$secrets"
[ "$leaked" = 0 ] || die "$leaked secret value(s) survived the redaction: no bundle written"

{
  echo "FREEDUMB support bundle $stamp"
  echo
  echo "config/    the FREEDUMB variables of this shell and of each --pid process, and the"
  echo "           configuration file, with every secret replaced by [REDACTED]"
  echo "health/    deploy/scripts/diagnose.sh output and each endpoint's /ready"
  echo "metrics/   a /metrics snapshot per endpoint (Prometheus text)"
  echo "logs/      the last $lines lines of each log file"
  echo "versions.txt"
  echo
  echo "Redacted: $(wc -l <"$secrets") secret value(s) known from the environment, the"
  echo "configuration and key files, plus URL passwords, tokens and private keys by pattern."
  echo
  echo "Files:"
  (cd "$bundle" && find . -type f ! -name README.txt | sort | sed 's#^\./#  #')
} >"$bundle/README.txt"

tarball="$out/$name.tar.gz"
tar -C "$work" --owner=0 --group=0 --numeric-owner -czf "$tarball" "$name"
say "wrote $tarball ($(stat -c %s "$tarball") bytes)"
