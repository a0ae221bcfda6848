#!/usr/bin/env bash
# The OTLP drill: a real OTLP receiver (rotel, PyPI `rotel`) gets the spans
# of ONE REST call made through a running FREEDUMB, and the trace is checked
# end to end.
#
#   deploy/scripts/otlp-drill.sh [FREEDUMB_BINARY]
#
# FREEDUMB_BINARY defaults to FREEDUMB_BIN, else the newest freedumb build
# (deploy/scripts/lib/freedumb-bin.sh). Needs curl, jq, python3 and
# `pip install rotel==0.0.1a15` (the agent binary ships in the package).
#
# 1. Starts rotel's agent on free loopback ports as an OTLP/gRPC receiver
#    that exports nowhere (blackhole) and prints every span it receives
#    (--debug-log traces --debug-log-verbosity detailed) to a file.
# 2. Starts `freedumb serve --target all` on free loopback ports, SQLite in
#    a temporary directory, OTEL_EXPORTER_OTLP_ENDPOINT pointing at rotel and
#    the batch span processor's delay cut to 100 ms (OTEL_BSP_SCHEDULE_DELAY).
# 3. Signs up and logs in through the REST gateway, then makes the one call
#    under test: GET /v1/accounts with the access token and a `traceparent`
#    naming a fresh trace id and a client span id.
# 4. Reads back what rotel received and fails unless that trace holds
#    (a) the gateway's server span, child of the client span sent;
#    (b) the ledger's server span of LedgerService/ListAccounts under it;
#    (c) a database call under the ledger's span (a span with db.system, or
#        one of the ledger's SQL store, freedumb_ledger::store::sql::*);
#    every span in that one trace (the ledger's spans in no other trace),
#    every parent link resolving to a span of the trace (the gateway's span
#    the only root, its parent the client's span), unique span ids, and a
#    service.name on every span. Prints the span tree.
#
# Spans go through the same filter as logs (FREEDUMB_LOG_FILTER); the drill
# keeps the default, info. Both processes are stopped and the directory
# removed on exit. Takes about 5 s with a debug binary (25 s when it fails).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

fail() { printf 'otlp-drill: FAILED: %s\n' "$*" >&2; exit 1; }
say() { printf 'otlp-drill: %s\n' "$*"; }

# shellcheck source=deploy/scripts/lib/freedumb-bin.sh
. "$here/lib/freedumb-bin.sh"
bin=${1:-$(find_freedumb_bin "$root")}
[ -n "$bin" ] && [ -x "$bin" ] \
  || fail "no freedumb binary: build it (cargo build -p freedumb-mesh), set FREEDUMB_BIN or pass its path"
for tool in curl jq python3; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is required"
done
rotel=$(python3 -c 'import pathlib, rotel; print(pathlib.Path(rotel.__file__).parent / "rotel-agent")' 2>/dev/null) \
  || fail "rotel is required: python3 -m pip install rotel==0.0.1a15"
[ -x "$rotel" ] || fail "the rotel package has no agent at $rotel"

# shellcheck source=deploy/scripts/lib/mesh.sh
. "$here/lib/mesh.sh"
mesh_prepare
mesh_failure_logs 20 "$tmp/freedumb.log" "$tmp/rotel.log"

read -r otlp_port otlp_http_port grpc_port admin_port gateway_port < <(free_ports 5)

say "starting rotel $("$rotel" --version | awk '{print $2}') (OTLP/gRPC receiver on 127.0.0.1:$otlp_port)"
# Not --daemon: the agent stays a child of this script, and the span dump
# (its stdout) goes to rotel.spans. --log-file and --pid-file are only used
# by --daemon; they point into the temporary directory all the same.
"$rotel" start --exporter blackhole \
  --debug-log traces --debug-log-verbosity detailed \
  --otlp-grpc-endpoint "127.0.0.1:$otlp_port" --otlp-http-endpoint "127.0.0.1:$otlp_http_port" \
  --otlp-receiver-metrics-disabled --otlp-receiver-logs-disabled \
  --batch-timeout 100ms \
  --log-file "$tmp/rotel-agent.log" --pid-file "$tmp/rotel-agent.pid" \
  >"$tmp/rotel.spans" 2>"$tmp/rotel.log" &
rotel_pid=$!
mesh_track "$rotel_pid"
for ((i = 0; ; i++)); do
  bash -c "exec 3<>/dev/tcp/127.0.0.1/$otlp_port" 2>/dev/null && break
  kill -0 "$rotel_pid" 2>/dev/null || { cat "$tmp/rotel.spans" >>"$tmp/rotel.log"; fail "rotel exited at start"; }
  ((i < 80)) || fail "rotel did not listen on 127.0.0.1:$otlp_port within 20 s"
  sleep 0.25
done

say "starting $bin (gRPC $grpc_port, admin $admin_port, REST $gateway_port; SQLite in $tmp/data)"
mesh_serve "$bin" "$grpc_port" "$admin_port" "$gateway_port" \
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp_port" \
  OTEL_BSP_SCHEDULE_DELAY=100
mesh_wait_ready "$admin_port"
say "FREEDUMB is ready"

api="http://127.0.0.1:$gateway_port"
email="otlp-drill-$$-$RANDOM@freedumb.invalid"
# Random, so that no password-strength policy refuses it.
password="otlp drill $(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
body=$(auth_body "$email" "$password")
sign_up "$api" "$body"
access=$(log_in "$api" "$body")

# The call under test, as the child of a client span of a fresh trace.
read -r trace_id client_span < <(python3 -c 'import secrets; print(secrets.token_hex(16), secrets.token_hex(8))')
status=$(curl -sS -o "$tmp/accounts.json" -w '%{http_code}' "$api/v1/accounts" \
  -H "authorization: Bearer $access" -H "traceparent: 00-$trace_id-$client_span-01") \
  || fail "GET /v1/accounts through the gateway failed"
[ "$status" = 200 ] || fail "GET /v1/accounts answered $status: $(cat "$tmp/accounts.json")"
say "GET /v1/accounts answered 200 (traceparent 00-$trace_id-$client_span-01)"

# Reads rotel's span dump (the collector's "detailed" debug format) and
# checks the trace. Exit 0: passed (prints the tree); 1: not (prints why).
cat >"$tmp/check.py" <<'PY'
import re
import sys

dump, trace_id, client_span = sys.argv[1:4]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FIELD = re.compile(r"^    (Trace ID|Parent ID|ID|Name|Kind|Status code)\s*: ?(.*)$")
ATTR = re.compile(r"^     -> ([^:]+): [A-Za-z]+\((.*)\)$")
TIME = re.compile(r"^(Start|End) time: (\d+)$")
KEYS = {"Trace ID": "trace", "Parent ID": "parent", "ID": "id", "Name": "name",
        "Kind": "kind", "Status code": "status"}


def parse(path):
    spans, resource, span, section = [], {}, None, None
    with open(path, errors="replace") as f:
        for line in f:
            line = ANSI.sub("", line.rstrip("\n"))
            if line.startswith("ResourceSpans #"):
                resource, span, section = {}, None, "resource"
            elif line.startswith("ScopeSpans #"):
                section = None
            elif line.startswith("Span #"):
                span = {"attrs": {}, "resource": resource, "parent": ""}
                spans.append(span)
                section = "span"
            elif line == "Attributes:" and span is not None:
                section = "attrs"
            elif line in ("Events:", "Links:"):
                section = None
            elif (m := FIELD.match(line)) and span is not None and section == "span":
                span[KEYS[m[1]]] = m[2].strip()
            elif (m := TIME.match(line)) and span is not None:
                span[m[1].lower()] = int(m[2])
            elif m := ATTR.match(line):
                if section == "resource":
                    resource[m[1]] = m[2]
                elif section == "attrs":
                    span["attrs"][m[1]] = m[2]
    # A block rotel is still writing lacks fields: left for the next read.
    return [s for s in spans if {"trace", "id", "name", "kind", "end"} <= s.keys()]


def module(s):
    a = s["attrs"]
    return a.get("code.module.name") or a.get("code.namespace") or a.get("target", "")


def route(s):
    a = s["attrs"]
    for key in ("http.route", "url.path", "http.target", "rpc.method"):
        if key in a:
            return a[key]
    return ""


def is_ledger(s):
    a = s["attrs"]
    return s["kind"] == "SPAN_KIND_SERVER" and (
        a.get("rpc.method") == "/freedumb.ledger.v1.LedgerService/ListAccounts"
        or (a.get("rpc.service") == "freedumb.ledger.v1.LedgerService"
            and a.get("rpc.method") == "ListAccounts"))


def is_db(s):
    a = s["attrs"]
    return ("db.system" in a or "db.system.name" in a
            or module(s).startswith("freedumb_ledger::store::sql"))


def show(s):
    ms = (s["end"] - s["start"]) / 1e6 if "start" in s else 0.0
    kind = s["kind"].removeprefix("SPAN_KIND_").lower()
    extra = f" {route(s)}" if route(s) else ""
    return (f"{s['name']} [{kind}]{extra} ({module(s)}; "
            f"service.name={s['resource'].get('service.name', '?')}; {ms:.2f} ms; span {s['id']})")


spans = parse(dump)
trace = [s for s in spans if s["trace"] == trace_id]
others = {s["trace"] for s in spans} - {trace_id}
problems = []
ids = {}
for s in trace:
    if s["id"] in ids:
        problems.append(f"span id {s['id']} appears twice in the trace")
    ids[s["id"]] = s
children = {}
for s in trace:
    children.setdefault(s["parent"], []).append(s)


def descendants(s):
    out = []
    for c in children.get(s["id"], []):
        out += [c] + descendants(c)
    return out


gateway = children.get(client_span, [])
if not trace:
    problems.append(f"rotel received no span of trace {trace_id} "
                    f"({len(spans)} spans of {len(others)} other traces)")
elif len(gateway) != 1:
    problems.append(f"expected one span whose parent is the client span {client_span} "
                    f"(the gateway continuing the caller's trace), found {len(gateway)}")
else:
    gw = gateway[0]
    if gw["kind"] != "SPAN_KIND_SERVER" or "/v1/accounts" not in route(gw):
        problems.append(f"the gateway's span is not a server span of /v1/accounts: {show(gw)}")
    below = descendants(gw)
    ledger = [s for s in below if is_ledger(s)]
    if len(ledger) != 1:
        problems.append(f"expected one ledger server span of LedgerService/ListAccounts under "
                        f"the gateway's span, found {len(ledger)}")
    else:
        status = str(ledger[0]["attrs"].get("rpc.grpc.status_code", ""))
        if status != "0":
            problems.append(f"the ledger's span carries rpc.grpc.status_code {status or 'none'}, "
                            f"not 0 (OK): {show(ledger[0])}")
        db = [s for s in descendants(ledger[0]) if is_db(s)]
        if not db:
            problems.append("no database span (db.system, or freedumb_ledger::store::sql::*) "
                            "under the ledger's span")
for s in trace:
    if s["parent"] == client_span:
        continue
    if not s["parent"]:
        problems.append(f"a second root in the trace: {show(s)}")
    elif s["parent"] not in ids:
        problems.append(f"orphan (parent {s['parent']} not in the trace): {show(s)}")
    name = s["resource"].get("service.name", "")
    if not name or name.startswith("unknown_service"):
        problems.append(f"no service.name: {show(s)}")
# Only this call reaches ListAccounts: its spans belong to this trace.
for s in spans:
    if s["trace"] != trace_id and (is_ledger(s) or module(s) == "freedumb_ledger::store::sql::accounts"):
        problems.append(f"a span of the call is in another trace {s['trace']} "
                        f"(parent {s['parent'] or 'none'}): {show(s)}")


def tree(s, depth, out):
    role = ""
    if s in gateway:
        role = "   <- gateway"
    elif is_ledger(s):
        role = "   <- ledger service"
    elif is_db(s):
        role = "   <- database call"
    out.append("  " * depth + show(s) + role)
    for c in sorted(children.get(s["id"], []), key=lambda c: c.get("start", 0)):
        tree(c, depth + 1, out)
    return out


lines = [f"trace {trace_id}, {len(trace)} spans; client span {client_span} (not exported: the caller's)"]
for s in gateway:
    tree(s, 1, lines)
stray = [s for s in trace if s not in gateway and s["parent"] not in ids]
for s in stray:
    tree(s, 1, lines)
if problems:
    print("\n".join(["the trace does not hold:"] + [f"  - {p}" for p in problems] + lines))
    sys.exit(1)
roots = {}
for s in spans:
    if s["trace"] != trace_id and not s["parent"]:
        roots[s["name"]] = roots.get(s["name"], 0) + 1
print("\n".join(lines))
print(f"also received: {len(others)} other traces, roots: "
      + ", ".join(f"{n} x{c}" for n, c in sorted(roots.items(), key=lambda x: -x[1])))
PY

# The spans end before the answer is sent; the exporter flushes every 100 ms
# and rotel every 100 ms. Waits for a passing trace for at most 20 s, then
# reads once more after a pause so that late spans are checked too.
deadline=$((SECONDS + 20))
while :; do
  python3 "$tmp/check.py" "$tmp/rotel.spans" "$trace_id" "$client_span" >/dev/null && break
  kill -0 "$rotel_pid" 2>/dev/null || fail "rotel exited"
  if ((SECONDS >= deadline)); then
    python3 "$tmp/check.py" "$tmp/rotel.spans" "$trace_id" "$client_span" >&2 || true
    fail "the trace of GET /v1/accounts is not as expected (above)"
  fi
  sleep 0.25
done
sleep 1
python3 "$tmp/check.py" "$tmp/rotel.spans" "$trace_id" "$client_span" >"$tmp/tree.txt" 2>&1 || {
  cat "$tmp/tree.txt" >&2
  fail "the trace of GET /v1/accounts is not as expected (above)"
}
sed 's/^/otlp-drill: /' "$tmp/tree.txt"
say "passed"
