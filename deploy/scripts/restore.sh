#!/usr/bin/env bash
# Restores a backup made by deploy/scripts/backup.sh into the Postgres
# database of DATABASE_URL: every selected schema in ONE transaction, so a
# failed restore leaves the database as it was.
#
#   DATABASE_URL=postgres://... deploy/scripts/restore.sh [options] BACKUP
#
# BACKUP is a backup directory, the name of one under --dir, or `latest`.
# Stop every FREEDUMB process first (scale the Deployments to zero): the
# restore refuses to run while FREEDUMB sessions are connected.
#
# Options:
#   -d, --dir DIR            backup root for names and `latest` (BACKUP_DIR,
#                            default ./backups)
#   -s, --schemas LIST       restore only these schemas (default: all in the backup)
#   -i, --identity FILE      age identity (private key) for encrypted backups
#                            (BACKUP_AGE_IDENTITY_FILE)
#       --replace            drop each schema that exists before restoring it
#                            (same transaction); without it, existing schemas
#                            are an error
#       --keep-owner         keep the dumped owners and GRANTs (default: objects
#                            belong to the connecting user, no GRANTs restored)
#       --force              restore although FREEDUMB sessions are connected
#       --verify-only        check checksums and that every archive reads; restore nothing
#   -h, --help
set -euo pipefail

die() { printf 'restore: %s\n' "$*" >&2; exit 1; }
say() { printf 'restore: %s\n' "$*"; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required but not installed ($2)"; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

dir="${BACKUP_DIR:-./backups}"
only=""
identity="${BACKUP_AGE_IDENTITY_FILE:-}"
replace=false
keep_owner=false
force=false
verify_only=false
backup=""

while [ $# -gt 0 ]; do
  case "$1" in
    -d|--dir) dir="${2:?--dir needs a value}"; shift 2 ;;
    -s|--schemas) only="${2:?--schemas needs a value}"; shift 2 ;;
    -i|--identity) identity="${2:?--identity needs a value}"; shift 2 ;;
    --replace) replace=true; shift ;;
    --keep-owner) keep_owner=true; shift ;;
    --force) force=true; shift ;;
    --verify-only) verify_only=true; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option: $1 (see --help)" ;;
    *) [ -z "$backup" ] || die "one backup at a time ('$backup', '$1')"; backup="$1"; shift ;;
  esac
done
[ -n "$backup" ] || die "which backup? (a directory, a name under --dir, or latest; see --help)"

need pg_restore "Debian: postgresql-client"
need psql "Debian: postgresql-client"
need sha256sum "Debian: coreutils"

# Resolve the backup directory.
if [ "$backup" = latest ]; then
  latest=""
  for d in "$dir"/freedumb-*; do
    [ -f "$d/SHA256SUMS" ] && latest="$d"
  done
  [ -n "$latest" ] || die "no complete backup under $dir"
  backup="$latest"
elif [ ! -d "$backup" ] && [ -d "$dir/$backup" ]; then
  backup="$dir/$backup"
fi
[ -d "$backup" ] || die "no backup directory '$backup'"
[ -f "$backup/MANIFEST" ] && [ -f "$backup/SHA256SUMS" ] || die "$backup is not a complete backup (no MANIFEST or SHA256SUMS)"
say "backup $backup"

# Integrity first: every file as written.
(cd "$backup" && sha256sum --quiet --strict -c SHA256SUMS) || die "checksums do not match: the backup is damaged"
say "checksums verified"

# The schemas in the backup, their migration levels and files.
declare -A file_of migration_of
in_backup=()
while read -r key s _ migration _ file _; do
  [ "$key" = schema ] || continue
  in_backup+=("$s")
  file_of[$s]="$file"
  migration_of[$s]="$migration"
done <"$backup/MANIFEST"
[ "${#in_backup[@]}" -gt 0 ] || die "the MANIFEST of $backup lists no schema"

selected=()
if [ -n "$only" ]; then
  for s in ${only//,/ }; do
    [ -n "${file_of[$s]:-}" ] || die "schema '$s' is not in this backup (it has: ${in_backup[*]})"
    selected+=("$s")
  done
else
  selected=("${in_backup[@]}")
fi

# Writes the archive of schema $1 to stdout (decrypted when needed).
archive() {
  local f="$backup/${file_of[$1]}"
  case "$f" in
    *.age)
      need age "Debian: age"
      [ -n "$identity" ] || die "${file_of[$1]} is encrypted: give the age identity with --identity"
      [ -r "$identity" ] || die "cannot read the age identity file '$identity'"
      age --decrypt --identity "$identity" "$f"
      ;;
    *) cat -- "$f" ;;
  esac
}

# The SQL script that recreates schema $1.
script() {
  local opts=(--file=-)
  $keep_owner || opts+=(--no-owner --no-acl)
  archive "$1" | pg_restore "${opts[@]}"
}

if $verify_only; then
  for s in "${selected[@]}"; do
    archive "$s" | pg_restore --list >/dev/null || die "the archive of $s does not read"
    say "$s: archive reads (migration ${migration_of[$s]})"
  done
  say "verified ${#selected[@]} schema(s); nothing restored"
  exit 0
fi

[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set (the database to restore into)"

# CONN (the URL without its password) and PGPASSWORD.
# shellcheck source=deploy/scripts/lib/pg-connection.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg-connection.sh"
split_url "$DATABASE_URL"
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
q() { psql --no-psqlrc --quiet --no-align --tuples-only -v ON_ERROR_STOP=1 --dbname="$CONN" -c "$1"; }

sessions=$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'freedumb-%' AND pid <> pg_backend_pid();")
if [ "$sessions" != 0 ]; then
  $force || die "$sessions FREEDUMB session(s) are connected to this database: stop the services first (or --force)"
  say "warning: $sessions FREEDUMB session(s) connected (--force)"
fi

existing=()
for s in "${selected[@]}"; do
  [ "$(q "SELECT count(*) FROM pg_namespace WHERE nspname = '$s';")" = 0 ] || existing+=("$s")
done
if [ "${#existing[@]}" -gt 0 ] && ! $replace; then
  die "schema(s) ${existing[*]} exist: pass --replace to drop and restore them"
fi

say "restoring ${selected[*]} in one transaction"
# COMMIT is written only after every archive was read in full: if reading one
# fails (a wrong key, a truncated file), psql reaches the end of its input
# inside the open transaction, and Postgres rolls it back.
{
  echo "BEGIN;"
  echo "SET client_min_messages = warning;"
  for s in "${selected[@]}"; do
    echo "DROP SCHEMA IF EXISTS \"$s\" CASCADE;"
  done
  for s in "${selected[@]}"; do
    script "$s" || exit 1
  done
  echo "COMMIT;"
} | psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 --dbname="$CONN" >/dev/null \
  || die "the restore failed and was rolled back: the database is unchanged"

status=0
for s in "${selected[@]}"; do
  tables=$(q "SELECT count(*) FROM pg_tables WHERE schemaname = '$s';")
  level=none
  if [ "$(q "SELECT count(*) FROM pg_tables WHERE schemaname = '$s' AND tablename = '_sqlx_migrations';")" = 1 ]; then
    level=$(q "SELECT coalesce(max(version)::text, 'none') FROM \"$s\"._sqlx_migrations WHERE success;")
  fi
  if [ "$level" != "${migration_of[$s]}" ]; then
    say "$s: migration $level after the restore, but the backup says ${migration_of[$s]}"
    status=1
  fi
  say "$s: $tables tables, migration $level"
done
[ "$status" = 0 ] || die "migration levels differ from the backup's MANIFEST"
say "restore complete: start the services (they apply any newer migrations at start)"
