#!/usr/bin/env bash
# The restore drill, on real Postgres: write data, back up, wipe, restore,
# and prove every row came back.
#
#   1. a scratch database; `freedumb migrate --target all` (the real schemas);
#   2. the real binary serves on it, and the REST API writes into several
#      services: users, accounts, categories, transactions, a transfer, a
#      statement import, budgets, a recurring rule, a portfolio with an
#      instrument and an activity, a categorization rule; the events flow to
#      the budget, analytics, ai and notification schemas; then it stops;
#   3. a fingerprint of every service schema: each table's row count and the
#      md5 of its ordered rows, every sequence, column, index and constraint;
#   4. deploy/scripts/backup.sh twice (plain, and age-encrypted when age is
#      installed; required in CI); every schema is dropped; restore.sh
#      restores; the fingerprint must be identical, after each restore; a
#      restore that fails half-way (the wrong key) must change nothing;
#   5. FREEDUMB starts on the restored database, is ready, and the user signs
#      in with the same password and sees the same transactions;
#   6. a damaged backup is refused, and the retention keeps what it should.
# Exits non-zero on any difference.
#
#   deploy/scripts/restore-drill.sh          (make restore-drill)
#
# Environment: DRILL_POSTGRES (a Postgres URL of a user that may CREATE
# DATABASE; default TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test),
# FREEDUMB_BIN (default: the newest freedumb under the cargo target
# directory), DRILL_KEEP=1 keeps the scratch directory and database.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
die() { printf 'restore-drill: FAILED: %s\n' "$*" >&2; exit 1; }
say() { printf 'restore-drill: %s\n' "$*"; }
for tool in psql pg_dump pg_restore curl jq sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required (Debian: postgresql-client, curl, jq, coreutils)"
done
with_age=false
if command -v age >/dev/null 2>&1 && command -v age-keygen >/dev/null 2>&1; then
  with_age=true
elif [ -n "${CI:-}" ]; then
  die "age is required in CI (Debian: age): encrypted backups must be drilled too"
else
  say "age is not installed: the encrypted backup is not drilled (Debian: age)"
fi

# The binary: FREEDUMB_BIN, else the newest build in the usual target directories.
# shellcheck source=deploy/scripts/lib/freedumb-bin.sh
. "$here/lib/freedumb-bin.sh"
# shellcheck source=deploy/scripts/lib/mesh.sh
. "$here/lib/mesh.sh"
bin=$(find_freedumb_bin "$root")
[ -n "$bin" ] && [ -x "$bin" ] || die "no freedumb binary: build it (cargo build -p freedumb-mesh) or set FREEDUMB_BIN"
say "binary $bin ($("$bin" version))"

server="${DRILL_POSTGRES:-${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}}"
db="freedumb_drill_$$_$(date +%s)"
base="${server%%\?*}"
base="${base%/*}"
url="$base/$db"
schemas=(auth ledger budget notification ai investment analytics)
work=$(mktemp -d)
pid=""

cleanup() {
  local status=$?
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ "${DRILL_KEEP:-}" = 1 ]; then
    say "kept $work and database $db"
  else
    psql -X -q -d "$server" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT

psql -X -q -v ON_ERROR_STOP=1 -d "$server" -c "CREATE DATABASE \"$db\"" >/dev/null \
  || die "cannot create a scratch database with $server"
q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -d "$url" -c "$1"; }

# Free loopback ports for the binary's three listeners.
read -r grpc_port admin_port rest_port < <(free_ports 3)
api="http://127.0.0.1:$rest_port"

# The binary gets a clean environment: unknown FREEDUMB_* variables are
# configuration errors, and nothing of this shell should leak into it.
freedumb_env=(PATH="$PATH" HOME="$work" DATABASE_URL="$url"
  FREEDUMB_DATA_DIR="$work/data" FREEDUMB_LOG_FORMAT=json FREEDUMB_LOG_FILTER=warn
  FREEDUMB_GRPC_ADDR="127.0.0.1:$grpc_port" FREEDUMB_ADMIN_ADDR="127.0.0.1:$admin_port"
  FREEDUMB_GATEWAY_ADDR="127.0.0.1:$rest_port")
start() {
  # `env` execs the binary: $! is the server itself, which SIGTERM stops.
  env -i "${freedumb_env[@]}" "$bin" serve --target all >>"$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 120); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin_port/ready" || true)" = 200 ]; then return; fi
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$work/serve.log" >&2; die "freedumb exited at start"; }
    sleep 0.5
  done
  tail -n 20 "$work/serve.log" >&2
  die "freedumb did not become ready in 60 s"
}
stop() {
  kill -TERM "$pid"
  wait "$pid" || die "freedumb did not exit cleanly on SIGTERM"
  pid=""
}

# One REST call; prints the JSON answer; fails on anything but 2xx.
call() { # METHOD PATH [BODY]
  local code
  code=$(curl -s -o "$work/answer" -w '%{http_code}' -X "$1" "$api$2" \
    -H 'content-type: application/json' ${token:+-H "authorization: Bearer $token"} \
    ${3:+--data-binary "$3"}) || die "$1 $2: no answer"
  [[ "$code" == 2* ]] || die "$1 $2 answered $code: $(cat "$work/answer")"
  cat "$work/answer"
}

started=$(date +%s)
say "1. scratch database $db; migrations"
env -i "${freedumb_env[@]}" "$bin" migrate --target all >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; die "freedumb migrate failed"; }
for s in "${schemas[@]}"; do
  [ "$(q "SELECT count(*) FROM pg_namespace WHERE nspname = '$s'")" = 1 ] || die "migrate made no schema $s"
done

say "2. writing data through the REST API"
start
token=""
password="drill passphrase $(date +%s%N)"
users=2
for u in $(seq 1 "$users"); do
  email="drill-$u-$$@example.com"
  token=$(call POST /v1/auth:register "{\"email\":\"$email\",\"password\":\"$password\"}" | jq -r .tokens.accessToken)
  checking=$(call POST /v1/accounts '{"name":"Checking","kind":"ACCOUNT_KIND_CHECKING","openingBalance":{"currencyCode":"EUR","amountMinor":"250000"}}' | jq -r 'first(.[] | objects).id')
  savings=$(call POST /v1/accounts '{"name":"Savings","kind":"ACCOUNT_KIND_SAVINGS","openingBalance":{"currencyCode":"EUR","amountMinor":"1000000"}}' | jq -r 'first(.[] | objects).id')
  food=$(call POST /v1/categories '{"name":"Drill lunches","kind":"CATEGORY_KIND_EXPENSE"}' | jq -r 'first(.[] | objects).id')
  salary=$(call POST /v1/categories '{"name":"Drill pay","kind":"CATEGORY_KIND_INCOME"}' | jq -r 'first(.[] | objects).id')
  call POST /v1/budgets "{\"name\":\"Food\",\"categoryIds\":[\"$food\"],\"amount\":{\"currencyCode\":\"EUR\",\"amountMinor\":\"40000\"},\"period\":\"BUDGET_PERIOD_MONTHLY\",\"startDate\":{\"year\":2026,\"month\":1,\"day\":1}}" >/dev/null
  for d in $(seq 1 12); do
    call POST /v1/transactions "{\"accountId\":\"$checking\",\"amount\":{\"currencyCode\":\"EUR\",\"amountMinor\":\"-$((d * 137))\"},\"date\":{\"year\":2026,\"month\":2,\"day\":$d},\"description\":\"Lunch at Café Nº$d\",\"merchant\":\"Café Nº$d\",\"categoryId\":\"$food\",\"tags\":[\"drill\",\"day-$d\"],\"requestId\":\"drill-$u-$d\"}" >/dev/null
  done
  call POST /v1/transactions "{\"accountId\":\"$checking\",\"amount\":{\"currencyCode\":\"EUR\",\"amountMinor\":\"320000\"},\"date\":{\"year\":2026,\"month\":2,\"day\":27},\"description\":\"Salary\",\"categoryId\":\"$salary\"}" >/dev/null
  call POST /v1/transfers "{\"fromAccountId\":\"$checking\",\"toAccountId\":\"$savings\",\"amount\":{\"currencyCode\":\"EUR\",\"amountMinor\":\"50000\"},\"date\":{\"year\":2026,\"month\":2,\"day\":28},\"description\":\"Savings\"}" >/dev/null
  call POST /v1/recurring "{\"accountId\":\"$checking\",\"amount\":{\"currencyCode\":\"EUR\",\"amountMinor\":\"-9900\"},\"frequency\":\"FREQUENCY_MONTHLY\",\"startDate\":{\"year\":2026,\"month\":1,\"day\":5},\"description\":\"Rent\"}" >/dev/null
  call POST /v1/categorization-rules "{\"name\":\"Cafés\",\"conditions\":[{\"field\":\"RULE_FIELD_DESCRIPTION\",\"operator\":\"RULE_OPERATOR_CONTAINS\",\"value\":\"Café\"}],\"categoryId\":\"$food\"}" >/dev/null
  # A CSV statement, imported as a file (an operation, its import row, its transactions).
  printf 'Date,Description,Amount\n2026-03-01,Bakery,-4.20\n2026-03-02,Bookshop,-18.90\n2026-03-03,Refund,7.50\n' >"$work/statement.csv"
  code=$(curl -s -o "$work/answer" -w '%{http_code}' -X POST "$api/v1/accounts/$checking/imports" \
    -H "authorization: Bearer $token" -H 'content-type: application/octet-stream' --data-binary @"$work/statement.csv")
  [[ "$code" == 2* ]] || die "the statement import answered $code: $(cat "$work/answer")"
  portfolio=$(call POST /v1/portfolios '{"name":"Broker","baseCurrencyCode":"EUR"}' | jq -r 'first(.[] | objects).id')
  instrument=$(call POST /v1/instruments "{\"symbol\":\"DRL$u\",\"name\":\"Drill Fund $u\",\"kind\":\"INSTRUMENT_KIND_ETF\",\"currencyCode\":\"EUR\"}" | jq -r 'first(.[] | objects).id')
  call POST /v1/activities "{\"portfolioId\":\"$portfolio\",\"kind\":\"ACTIVITY_KIND_BUY\",\"date\":{\"year\":2026,\"month\":2,\"day\":3},\"instrumentId\":\"$instrument\",\"quantity\":\"10\",\"price\":\"101.25\"}" >/dev/null
done
# Let the events reach every consumer (budget, analytics, ai, notification).
for _ in $(seq 1 60); do
  pending=0
  for s in "${schemas[@]}"; do
    if [ "$(q "SELECT count(*) FROM pg_tables WHERE schemaname = '$s' AND tablename = 'outbox'")" = 1 ]; then
      pending=$((pending + $(q "SELECT count(*) FROM \"$s\".outbox")))
    fi
  done
  [ "$pending" = 0 ] && break
  sleep 0.5
done
sleep 1
stop
transactions_seen=$(q "SELECT count(*) FROM ledger.transactions")

# 3. The fingerprint of every service schema.
fingerprint() { # FILE
  local list query
  {
    echo "# tables: rows and md5 of the ordered rows"
    list=$(q "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname IN ('auth','ledger','budget','notification','ai','investment','analytics') ORDER BY 1")
    query=""
    for t in $list; do
      query+="${query:+ UNION ALL }SELECT '$t', count(*), md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) FROM $t r"
    done
    q "$query ORDER BY 1"
    echo "# sequences"
    q "SELECT schemaname, sequencename, last_value FROM pg_sequences WHERE schemaname IN ('auth','ledger','budget','notification','ai','investment','analytics') ORDER BY 1, 2"
    echo "# columns"
    q "SELECT table_schema, table_name, column_name, ordinal_position, data_type, is_nullable, coalesce(column_default, '') FROM information_schema.columns WHERE table_schema IN ('auth','ledger','budget','notification','ai','investment','analytics') ORDER BY 1, 2, 4"
    echo "# indexes"
    q "SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname IN ('auth','ledger','budget','notification','ai','investment','analytics') ORDER BY 1, 2"
    echo "# constraints"
    q "SELECT n.nspname, c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname IN ('auth','ledger','budget','notification','ai','investment','analytics') ORDER BY 1, 2, 3"
  } >"$1"
}
fingerprint "$work/before.txt"
tables=$(sed -n '/^# tables/,/^# sequences/p' "$work/before.txt" | grep -c '|' || true)
rows=$(sed -n '/^# tables/,/^# sequences/p' "$work/before.txt" | awk -F'|' 'NF == 3 { n += $2 } END { print n + 0 }')
filled=$(sed -n '/^# tables/,/^# sequences/p' "$work/before.txt" | awk -F'|' 'NF == 3 && $2 > 0 && $1 !~ /_sqlx_migrations$/ { split($1, p, "."); s[p[1]] = 1 } END { for (k in s) print k }' | sort | tr '\n' ' ')
say "3. fingerprint: $tables tables, $rows rows; data in: $filled"
for s in auth ledger budget investment ai; do
  [[ " $filled " == *" $s "* ]] || die "no data was written to the $s schema: the drill would prove nothing"
done
[ "$transactions_seen" -ge $((users * 13)) ] || die "only $transactions_seen ledger transactions were written"

say "4. backups"
backups="$work/backups"
t0=$(date +%s%N)
DATABASE_URL="$url" bash "$here/backup.sh" --dir "$backups" --keep 0 --max-age-days 0 >"$work/backup.log" \
  || { cat "$work/backup.log" >&2; die "backup.sh failed"; }
backup_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
plain=$(sed -n 's#^backup: backup complete: ##p' "$work/backup.log")
[ -d "$plain" ] || die "backup.sh reported no backup directory"
if $with_age; then
  age-keygen -o "$work/age.key" 2>/dev/null
  age-keygen -y "$work/age.key" >"$work/age.pub"
  sleep 1 # one backup per second: the names are timestamps
  DATABASE_URL="$url" bash "$here/backup.sh" --dir "$backups" --keep 0 --max-age-days 0 --encrypt-to "$work/age.pub" >"$work/backup-age.log" \
    || { cat "$work/backup-age.log" >&2; die "the encrypted backup failed"; }
  encrypted=$(sed -n 's#^backup: backup complete: ##p' "$work/backup-age.log")
  compgen -G "$encrypted/*.dump.age" >/dev/null || die "the encrypted backup holds no .age files"
  if compgen -G "$encrypted/*.dump" >/dev/null; then die "the encrypted backup holds plaintext dumps"; fi
fi

wipe() {
  local list="" s
  for s in "${schemas[@]}"; do list+="${list:+, }\"$s\""; done
  q "DROP SCHEMA $list CASCADE" >/dev/null
  [ "$(q "SELECT count(*) FROM pg_namespace WHERE nspname IN ('auth','ledger','budget','notification','ai','investment','analytics')")" = 0 ] \
    || die "the wipe left schemas behind"
}
check_restore() { # LABEL BACKUP [restore.sh options...]
  local label="$1" backup="$2" t0 ms
  shift 2
  wipe
  t0=$(date +%s%N)
  DATABASE_URL="$url" bash "$here/restore.sh" "$@" "$backup" >"$work/restore-$label.log" \
    || { cat "$work/restore-$label.log" >&2; die "restore.sh ($label) failed"; }
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  fingerprint "$work/after-$label.txt"
  if ! diff -u "$work/before.txt" "$work/after-$label.txt" >"$work/diff-$label.txt"; then
    sed -n '1,40p' "$work/diff-$label.txt" >&2
    die "the $label restore differs from the data before the backup"
  fi
  say "   $label: wiped every schema, restored in $ms ms; identical ($tables tables, $rows rows, sequences, columns, indexes, constraints)"
}
say "   plain backup in $backup_ms ms: $(du -sh "$plain" | cut -f1)"
check_restore plain "$plain"
if $with_age; then
  check_restore encrypted "$encrypted" --identity "$work/age.key"
  # A restore that fails half-way (here: the wrong key) changes nothing.
  age-keygen -o "$work/wrong.key" 2>/dev/null
  if DATABASE_URL="$url" bash "$here/restore.sh" --replace --identity "$work/wrong.key" "$encrypted" >"$work/wrong.log" 2>&1; then
    die "restore.sh succeeded with the wrong key"
  fi
  fingerprint "$work/after-wrong.txt"
  diff -q "$work/before.txt" "$work/after-wrong.txt" >/dev/null || die "a failed restore changed the database"
  say "   a restore that fails half-way (the wrong key) is rolled back: the database is unchanged"
fi

say "5. FREEDUMB on the restored database"
start
email="drill-1-$$@example.com"
token=""
token=$(call POST /v1/auth:login "{\"email\":\"$email\",\"password\":\"$password\"}" | jq -r .tokens.accessToken)
[ -n "$token" ] && [ "$token" != null ] || die "signing in after the restore failed"
accounts=$(call GET /v1/accounts | jq '.accounts | length')
[ "$accounts" = 2 ] || die "the restored user sees $accounts accounts, not 2"
stop
say "   ready; the user signs in with the same password and sees both accounts"

say "6. a damaged backup is refused; the retention"
damaged="$work/damaged/freedumb-20000101T000000Z"
mkdir -p "$damaged"
cp -a "$plain/." "$damaged/"
printf 'X' | dd of="$damaged/ledger.dump" bs=1 seek=100 conv=notrunc status=none
if DATABASE_URL="$url" bash "$here/restore.sh" --replace "$damaged" >"$work/damaged.log" 2>&1; then
  die "restore.sh accepted a damaged backup"
fi
grep -q 'checksums do not match' "$work/damaged.log" || die "the damaged backup was refused for the wrong reason: $(cat "$work/damaged.log")"
retention="$work/retention"
mkdir -p "$retention"
now=$(date -u +%s)
for age_days in 0 1 2 3 40 41; do
  name="freedumb-$(date -u -d "@$((now - age_days * 86400 - 60))" +%Y%m%dT%H%M%SZ)"
  cp -a "$plain" "$retention/$name"
done
mkdir -p "$retention/.partial-20000101T000000Z"
bash "$here/backup.sh" --dir "$retention" --prune-only --keep 3 --max-age-days 30 >"$work/prune.log"
kept=$(find "$retention" -mindepth 1 -maxdepth 1 -name 'freedumb-*' | wc -l)
[ "$kept" = 3 ] || die "retention --keep 3 left $kept backups"
[ ! -e "$retention/.partial-20000101T000000Z" ] || die "retention left an incomplete backup"
bash "$here/backup.sh" --dir "$retention" --prune-only --keep 0 --max-age-days 1 >"$work/prune.log"
kept=$(find "$retention" -mindepth 1 -maxdepth 1 -name 'freedumb-*' | wc -l)
[ "$kept" = 1 ] || die "retention --max-age-days 1 left $kept backups, not the 1 that is younger"
say "   a damaged archive is refused by its checksum; --keep and --max-age-days prune as asked"

say "passed in $(( $(date +%s) - started )) s: every row of $tables tables came back, $( $with_age && echo "from a plain and an encrypted backup" || echo "from a plain backup")"
