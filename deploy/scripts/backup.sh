#!/usr/bin/env bash
# Backs up FREEDUMB's Postgres database: one pg_dump (custom format) per
# service schema, all taken from one snapshot, so the backup is the state of
# every service at one instant. Then applies the retention policy.
#
#   DATABASE_URL=postgres://... deploy/scripts/backup.sh [options]
#
# Options (each has an environment default):
#   -d, --dir DIR              backup root (BACKUP_DIR, default ./backups)
#   -s, --schemas LIST         comma-separated schemas (BACKUP_SCHEMAS, default
#                              auth,ledger,budget,notification,ai,investment,analytics)
#   -k, --keep N               keep the newest N backups (BACKUP_KEEP, default 14;
#                              0: no limit by count)
#   -a, --max-age-days D       delete backups older than D days (BACKUP_MAX_AGE_DAYS,
#                              default 35; 0: no limit by age)
#   -e, --encrypt-to FILE      encrypt every dump with age for the public keys
#                              (recipients) in FILE (BACKUP_AGE_RECIPIENTS_FILE)
#       --prune-only           apply the retention policy, take no backup
#   -h, --help
#
# Layout: DIR/freedumb-<UTC yyyymmddThhmmssZ>/ holds <schema>.dump (or
# <schema>.dump.age), MANIFEST (versions and migration levels) and SHA256SUMS.
# A backup is written under DIR/.partial-* and renamed when complete, so a
# crashed run never counts as a backup. The newest backup is never pruned.
# Restore with deploy/scripts/restore.sh.
set -euo pipefail

readonly ALL_SCHEMAS="auth,ledger,budget,notification,ai,investment,analytics"
readonly NAME_RE='^freedumb-[0-9]{8}T[0-9]{6}Z$'

die() { printf 'backup: %s\n' "$*" >&2; exit 1; }
say() { printf 'backup: %s\n' "$*"; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required but not installed ($2)"; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

dir="${BACKUP_DIR:-./backups}"
schemas="${BACKUP_SCHEMAS:-$ALL_SCHEMAS}"
keep="${BACKUP_KEEP:-14}"
max_age_days="${BACKUP_MAX_AGE_DAYS:-35}"
recipients="${BACKUP_AGE_RECIPIENTS_FILE:-}"
prune_only=false

while [ $# -gt 0 ]; do
  case "$1" in
    -d|--dir) dir="${2:?--dir needs a value}"; shift 2 ;;
    -s|--schemas) schemas="${2:?--schemas needs a value}"; shift 2 ;;
    -k|--keep) keep="${2:?--keep needs a value}"; shift 2 ;;
    -a|--max-age-days) max_age_days="${2:?--max-age-days needs a value}"; shift 2 ;;
    -e|--encrypt-to) recipients="${2:?--encrypt-to needs a value}"; shift 2 ;;
    --prune-only) prune_only=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

[[ "$keep" =~ ^[0-9]+$ ]] || die "--keep must be a whole number, not '$keep'"
[[ "$max_age_days" =~ ^[0-9]+$ ]] || die "--max-age-days must be a whole number, not '$max_age_days'"
for s in ${schemas//,/ }; do
  [[ "$s" =~ ^[a-z_]+$ ]] || die "schema names are lower-case letters and _, not '$s'"
done

need flock "Debian: util-linux"
need sha256sum "Debian: coreutils"
mkdir -p "$dir"
umask 077

# One backup at a time per directory.
exec 9>"$dir/.lock"
flock -n 9 || die "another backup or prune holds $dir/.lock"

# Complete backups, newest first.
list_backups() {
  local d
  for d in "$dir"/freedumb-*; do
    [ -f "$d/SHA256SUMS" ] || continue
    [[ "$(basename "$d")" =~ $NAME_RE ]] && basename "$d"
  done | sort -r
}

# Seconds since the epoch of a backup's name (its UTC timestamp).
stamp_epoch() {
  local s="${1#freedumb-}"
  date -u -d "${s:0:4}-${s:4:2}-${s:6:2} ${s:9:2}:${s:11:2}:${s:13:2}" +%s
}

prune() {
  local now cutoff=0 i=0 name reason
  now=$(date -u +%s)
  [ "$max_age_days" -gt 0 ] && cutoff=$((now - max_age_days * 86400))
  # Run directories left by a crashed run (we hold the lock: nobody writes them).
  for name in "$dir"/.partial-*; do
    [ -e "$name" ] || continue
    say "removing incomplete $(basename "$name")"
    rm -rf -- "$name"
  done
  while read -r name; do
    [ -n "$name" ] || continue
    i=$((i + 1))
    reason=""
    # The newest backup is kept whatever the policy says.
    if [ "$i" -gt 1 ]; then
      if [ "$keep" -gt 0 ] && [ "$i" -gt "$keep" ]; then
        reason="beyond the newest $keep"
      elif [ "$cutoff" -gt 0 ] && [ "$(stamp_epoch "$name")" -lt "$cutoff" ]; then
        reason="older than $max_age_days days"
      fi
    fi
    if [ -n "$reason" ]; then
      say "pruning $name ($reason)"
      rm -rf -- "${dir:?}/$name"
    fi
  done < <(list_backups)
}

if $prune_only; then
  prune
  say "kept: $(list_backups | tr '\n' ' ')"
  exit 0
fi

need pg_dump "Debian: postgresql-client"
need pg_restore "Debian: postgresql-client"
need psql "Debian: postgresql-client"
[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set (the Postgres URL the services use)"
if [ -n "$recipients" ]; then
  need age "Debian: age"
  [ -s "$recipients" ] || die "the age recipients file '$recipients' is missing or empty"
fi

# CONN (the URL without its password) and PGPASSWORD.
# shellcheck source=deploy/scripts/lib/pg-connection.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg-connection.sh"
split_url "$DATABASE_URL"
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
name="freedumb-$stamp"
[ ! -e "$dir/$name" ] || die "$dir/$name already exists (two backups in one second?)"
work="$dir/.partial-$stamp"
mkdir "$work"

# A session that holds one repeatable-read snapshot open while every schema
# is dumped from it (pg_dump --snapshot).
coproc SNAP { psql --no-psqlrc --quiet --no-align --tuples-only -v ON_ERROR_STOP=1 --dbname="$CONN" 2>&1; }
snap_in=${SNAP[1]}
snap_out=${SNAP[0]}
# shellcheck disable=SC2153 # SNAP_PID is set by coproc
snap_pid=$SNAP_PID
cleanup() {
  if [ -n "${snap_pid:-}" ]; then kill "$snap_pid" 2>/dev/null || true; fi
  if [ -n "${work:-}" ] && [ -d "$work" ]; then rm -rf -- "$work"; fi
}
trap cleanup EXIT
ask() { # one query in the snapshot session, one line of answer
  local answer
  printf '%s\n' "$1" >&"$snap_in"
  IFS= read -r -t 60 answer <&"$snap_out" || die "no answer from Postgres to: $1"
  case "$answer" in
    ERROR:*|FATAL:*|psql:*) die "Postgres: $answer" ;;
  esac
  printf '%s' "$answer"
}
snapshot=$(ask "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot();")
[[ "$snapshot" =~ ^[0-9A-F-]+$ ]] || die "could not export a snapshot: $snapshot"
server_version=$(ask "SHOW server_version;")

{
  echo "format 1"
  echo "created $stamp"
  echo "server_version $server_version"
  echo "pg_dump_version $(pg_dump --version)"
  echo "encrypted $([ -n "$recipients" ] && echo age || echo no)"
} >"$work/MANIFEST"

for s in ${schemas//,/ }; do
  exists=$(ask "SELECT count(*) FROM pg_namespace WHERE nspname = '$s';")
  [ "$exists" = 1 ] || die "schema '$s' does not exist in this database (pick the deployed ones with --schemas)"
  has_migrations=$(ask "SELECT count(*) FROM pg_tables WHERE schemaname = '$s' AND tablename = '_sqlx_migrations';")
  migration=none
  if [ "$has_migrations" = 1 ]; then
    migration=$(ask "SELECT coalesce(max(version)::text, 'none') FROM \"$s\"._sqlx_migrations WHERE success;")
  fi
  # Extensions installed in the schema (the ledger's pg_trgm, when its
  # migration created it) go with it: pg_dump --schema leaves them out, and
  # the schema's indexes name their operator classes.
  extensions=()
  for ext in $(ask "SELECT coalesce(string_agg(extname, ' '), '') FROM pg_extension WHERE extnamespace = '\"$s\"'::regnamespace;"); do
    extensions+=("--extension=$ext")
  done
  file="$s.dump"
  if [ -n "$recipients" ]; then
    file="$s.dump.age"
    pg_dump --format=custom --schema="$s" "${extensions[@]}" --snapshot="$snapshot" --no-password \
      --dbname="$CONN" | age --encrypt --recipients-file "$recipients" >"$work/$file"
  else
    pg_dump --format=custom --schema="$s" "${extensions[@]}" --snapshot="$snapshot" --no-password \
      --dbname="$CONN" --file="$work/$file"
    # The archive must read back (a truncated file fails here, not at restore).
    pg_restore --list "$work/$file" >/dev/null || die "$file does not read back"
  fi
  echo "schema $s migration $migration file $file bytes $(stat -c %s "$work/$file")" >>"$work/MANIFEST"
  say "dumped $s (migration $migration, $(stat -c %s "$work/$file") bytes)"
done

ask "COMMIT; SELECT 'done';" >/dev/null
printf '\\q\n' >&"$snap_in"
wait "$snap_pid" 2>/dev/null || true
snap_pid=""

(cd "$work" && sha256sum -- *.dump* MANIFEST >SHA256SUMS)
mv -- "$work" "$dir/$name"
work=""
say "backup complete: $dir/$name"

prune
say "kept: $(list_backups | tr '\n' ' ')"
