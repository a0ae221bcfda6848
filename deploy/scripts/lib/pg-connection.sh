# Sourced by backup.sh and restore.sh (which define `die`): splits a
# Postgres URL into CONN, the URL without its password (so that it never
# shows in `ps`), and PGPASSWORD (percent-decoded, as libpq would).
# shellcheck shell=bash disable=SC2034  # CONN is read by the scripts that source this

split_url() {
  local url="$1" scheme rest authority userinfo user pass
  case "$url" in
    postgres://*|postgresql://*) ;;
    *) die "DATABASE_URL must start with postgres:// or postgresql://" ;;
  esac
  scheme="${url%%://*}"
  rest="${url#*://}"
  authority="${rest%%[/?]*}"
  if [[ "$authority" == *@* ]]; then
    userinfo="${authority%@*}"
    user="${userinfo%%:*}"
    if [[ "$userinfo" == *:* ]]; then
      pass="${userinfo#*:}"
      PGPASSWORD="$(printf '%b' "${pass//%/\\x}")"
      export PGPASSWORD
    fi
    CONN="$scheme://$user@${rest#*@}"
  else
    CONN="$url"
  fi
}
