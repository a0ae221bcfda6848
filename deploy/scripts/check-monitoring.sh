#!/usr/bin/env bash
# Checks deploy/monitoring with real tools:
#   - promtool: the Prometheus configuration, the alert and recording rules,
#     and their unit tests (prometheus/tests/*.yml);
#   - every Grafana dashboard query parsed by promtool (each one wrapped in a
#     recording rule), the dashboards type-checked by tsc against Grafana's
#     own schema (@grafana/schema: the dashboard, its variables, each panel's
#     options), and the committed JSON equal to what
#     deploy/monitoring/grafana/generate_dashboards.py writes;
#   - deploy/monitoring/check_monitoring.py: every metric a rule or a
#     dashboard reads is exported by the code (or listed as pending), every
#     alert has its runbook entry in docs/RUNBOOK.md and a unit test, the
#     OpenTelemetry collector's pipelines name defined components;
#   - yamllint --strict on every YAML file of deploy/monitoring.
#
#   deploy/scripts/check-monitoring.sh                  run the checks (about 30 s)
#   deploy/scripts/check-monitoring.sh --install-tools  install the tools below, then exit
#
# Tools: promtool (Debian `prometheus`), python3 with PyYAML and
# promql-parser, yamllint, Node.js with typescript and @grafana/schema in
# $FREEDUMB_MONITORING_TOOLS (default ~/.cache/freedumb/monitoring-tools).
set -euo pipefail

PROMQL_PARSER_VERSION=0.11.0
YAMLLINT_VERSION=1.38.0
GRAFANA_SCHEMA_VERSION=13.2.3
TYPESCRIPT_VERSION=5.9.3

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mon="$root/deploy/monitoring"
tools=${FREEDUMB_MONITORING_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/freedumb/monitoring-tools}

fail() { printf 'check-monitoring: %s\n' "$*" >&2; exit 1; }
step() { printf '== %s\n' "$*"; }

install_tools() {
  if ! command -v promtool >/dev/null 2>&1; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus
  fi
  python3 -m pip install --quiet "promql-parser==$PROMQL_PARSER_VERSION" "yamllint==$YAMLLINT_VERSION"
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --ignore-scripts --no-save \
    "@grafana/schema@$GRAFANA_SCHEMA_VERSION" "typescript@$TYPESCRIPT_VERSION"
}

case "${1:-}" in
  --install-tools) install_tools; exit 0 ;;
  "") ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) fail "unknown argument $1 (see --help)" ;;
esac

missing() { fail "$1 is missing: $2 (or run $0 --install-tools)"; }
command -v promtool >/dev/null 2>&1 || missing promtool "apt-get install prometheus"
command -v python3 >/dev/null 2>&1 || missing python3 "apt-get install python3"
python3 -c 'import yaml' 2>/dev/null || missing "PyYAML" "python3 -m pip install yamllint==$YAMLLINT_VERSION"
python3 -c 'import promql_parser' 2>/dev/null \
  || missing "promql-parser" "python3 -m pip install promql-parser==$PROMQL_PARSER_VERSION"
command -v yamllint >/dev/null 2>&1 || missing yamllint "python3 -m pip install yamllint==$YAMLLINT_VERSION"
command -v node >/dev/null 2>&1 || missing node "apt-get install nodejs npm"
tsc="$tools/node_modules/.bin/tsc"
[ -x "$tsc" ] && [ -f "$tools/node_modules/@grafana/schema/package.json" ] \
  || missing "typescript and @grafana/schema in $tools" \
    "npm install --prefix $tools @grafana/schema@$GRAFANA_SCHEMA_VERSION typescript@$TYPESCRIPT_VERSION"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "promtool check config"
promtool check config "$mon/prometheus/prometheus.yml"

step "promtool check rules"
promtool check rules "$mon"/prometheus/rules/*.yml

step "promtool test rules"
promtool test rules "$mon"/prometheus/tests/*.yml

step "dashboards are what generate_dashboards.py writes"
python3 "$mon/grafana/generate_dashboards.py" --check

step "metrics, runbook entries, dashboards, collector (check_monitoring.py)"
python3 "$mon/check_monitoring.py" "$root" "$work"

step "every dashboard query parses (promtool check rules)"
if ! promtool check rules "$work/dashboard-queries.yml"; then
  printf 'check-monitoring: the rules above are these dashboard queries:\n' >&2
  cat "$work/dashboard-queries.index" >&2
  exit 1
fi

step "dashboards against Grafana's schema (tsc, @grafana/schema $GRAFANA_SCHEMA_VERSION)"
ln -s "$tools/node_modules" "$work/ts/node_modules"
"$tsc" --noEmit --strict --target es2022 --module esnext --moduleResolution bundler \
  "$work/ts/dashboards.ts"
echo "  $(find "$mon/grafana/dashboards" -name '*.json' | wc -l) dashboards satisfy the schema"

step "yamllint --strict"
config="$root/.yamllint.yaml"
if [ -f "$config" ]; then
  yamllint --strict -c "$config" "$mon"
else
  yamllint --strict -d '{extends: default, rules: {document-start: disable, line-length: {max: 160}}}' "$mon"
fi
echo "  clean"

echo "check-monitoring: all checks passed"
