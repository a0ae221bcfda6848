#!/usr/bin/env python3
"""Helpers of deploy/scripts/blue-green.sh (Python 3.9+, standard library only).

  ports N                        N free TCP ports on 127.0.0.1
  render TEMPLATE OUT K=V...     fill ${K} placeholders (all of them) into OUT
  endpoints --xds DIR --colour C [HOST:PORT...]
                                 publish colour C's endpoints (EDS file)
  route --xds DIR --template F --to C
                                 publish the route to colour C (RDS file)
  wait-healthy --admin PORT --cluster C HOST:PORT...
                                 wait until Envoy's gRPC health checks pass
  switch --admin PORT --xds DIR --template F --from C --to C [--events F]
                                 move the traffic and measure it
  clusters --admin PORT          each colour's replicas as Envoy sees them
  report --k6 FILE --events FILE the drill's figures; exit 1 when it failed

Envoy reads the xDS files from directories it watches (XDS/routes,
XDS/eds-blue, XDS/eds-green); a file is published by writing it in XDS/tmp
and renaming it into its watched directory, which Envoy sees as one atomic
change.
"""

import argparse
import json
import os
import re
import socket
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone

PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")
ROUTE_FILE = ("routes", "edge.yaml")


def now_ms():
    return time.time() * 1000.0


def fail(message):
    print(f"bgctl: {message}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- files


def fill(text, values):
    """`text` with every ${NAME} replaced; a placeholder left is an error."""

    def one(match):
        name = match.group(1)
        if name not in values:
            fail(f"no value for ${{{name}}}")
        return values[name]

    out = []
    for line in text.splitlines(keepends=True):
        # Comments keep their ${NAME}s: they document the placeholders.
        out.append(line if line.lstrip().startswith("#") else PLACEHOLDER.sub(one, line))
    return "".join(out)


def publish(path, text, scratch=None):
    """Writes `text` to `path` atomically: into a file in `scratch` (same
    file system; default: beside `path`), then renamed onto `path`."""
    scratch = scratch or os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=scratch, prefix=".", suffix=".yaml")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def version():
    return str(time.time_ns())


def endpoints_doc(colour, hosts):
    lb = []
    for host in hosts:
        address, _, port = host.rpartition(":")
        if not address or not port.isdigit():
            fail(f"endpoint {host!r} is not HOST:PORT")
        lb.append({"endpoint": {"address": {"socket_address": {"address": address, "port_value": int(port)}}}})
    return {
        "version_info": version(),
        "resources": [
            {
                "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
                "cluster_name": colour,
                "endpoints": [{"lb_endpoints": lb}] if lb else [],
            }
        ],
    }


def publish_endpoints(xds, colour, hosts):
    # JSON is YAML: Envoy parses the .yaml file either way.
    text = json.dumps(endpoints_doc(colour, hosts), indent=2) + "\n"
    publish(os.path.join(xds, f"eds-{colour}", "endpoints.yaml"), text, os.path.join(xds, "tmp"))


def publish_route(xds, template, colour):
    with open(template) as f:
        text = fill(f.read(), {"CLUSTER": colour, "VERSION": version()})
    publish(os.path.join(xds, *ROUTE_FILE), text, os.path.join(xds, "tmp"))


# ---------------------------------------------------------------- Envoy's admin


def admin_get(port, path, timeout=2.0):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.read().decode()


def stats(port, pattern):
    """Counters and gauges whose names match `pattern`, as {name: int}."""
    text = admin_get(port, "/stats?filter=" + urllib.request.quote(pattern))
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if value.strip().lstrip("-").isdigit():
            out[name] = int(value)
    return out


def hosts(port):
    """{cluster: {host: {"health": flags, "rq_active": n, "rq_total": n}}}."""
    out = {}
    for line in admin_get(port, "/clusters").splitlines():
        parts = line.split("::")
        if len(parts) != 4 or parts[0] not in ("blue", "green"):
            continue
        cluster, host, key, value = parts
        if ":" not in host:  # per-cluster settings, not a replica
            continue
        entry = out.setdefault(cluster, {}).setdefault(host, {})
        if key == "health_flags":
            entry["health"] = value
        elif key in ("rq_active", "rq_total", "rq_error"):
            entry[key] = int(value)
    return out


def cmd_wait_healthy(args):
    deadline = time.monotonic() + args.timeout
    want = set(args.hosts)
    seen = {}
    while time.monotonic() < deadline:
        try:
            seen = hosts(args.admin).get(args.cluster, {})
        except OSError:
            seen = {}
        if all(seen.get(h, {}).get("health") == "healthy" for h in want):
            return
        time.sleep(0.1)
    states = ", ".join(f"{h}: {seen.get(h, {}).get('health', 'unknown to Envoy')}" for h in sorted(want))
    fail(f"Envoy's health checks did not pass for {args.cluster} within {args.timeout:.0f} s ({states})")


def route_updates(port):
    """{listener prefix: (successes, rejections)} of the route `edge`
    (the edge and the internal listener both take it)."""
    counters = stats(port, r"^http\.[a-z_]+\.rds\.edge\.update_(success|rejected)$")
    out = {}
    for name, value in counters.items():
        prefix, _, kind = name.rpartition(".rds.edge.update_")
        success, rejected = out.get(prefix, (0, 0))
        out[prefix] = (value, rejected) if kind == "success" else (success, value)
    return out


def cmd_switch(args):
    """Points the route at `to`, then waits until Envoy has applied it on
    every listener and nothing is in flight on `from` any more: from then
    on all traffic is on `to`."""
    before = route_updates(args.admin)
    if not before:
        fail("Envoy reports no route `edge`")
    start = now_ms()
    publish_route(args.xds, args.template, args.to)
    deadline = time.monotonic() + args.timeout
    applied = idle = None
    while time.monotonic() < deadline:
        current = route_updates(args.admin)
        if any(current.get(p, (0, 0))[1] > r for p, (_, r) in before.items()):
            fail(f"Envoy rejected the route to {args.to} (see its log)")
        if all(current.get(p, (0, 0))[0] > s for p, (s, _) in before.items()):
            applied = now_ms()
            break
        time.sleep(0.005)
    if applied is None:
        fail(f"Envoy did not apply the route to {args.to} within {args.timeout:.0f} s")
    gauge = f"cluster.{args.source}.upstream_rq_active"
    while time.monotonic() < deadline:
        if stats(args.admin, "^" + re.escape(gauge) + "$").get(gauge, 0) == 0:
            idle = now_ms()
            break
        time.sleep(0.005)
    if idle is None:
        fail(f"calls on {args.source} did not finish within {args.timeout:.0f} s")
    event = {
        "event": "switch",
        "t": start,
        "from": args.source,
        "to": args.to,
        "applied": applied,
        "idle": idle,
    }
    if args.events:
        with open(args.events, "a") as f:
            f.write(json.dumps(event) + "\n")
    print(
        f"switched {args.source} -> {args.to}: route applied after {(applied - start) / 1000:.3f} s, "
        f"no call left on {args.source} after {(idle - start) / 1000:.3f} s"
    )


def cmd_clusters(args):
    try:
        seen = hosts(args.admin)
    except OSError as e:
        fail(f"Envoy's admin interface on port {args.admin} does not answer: {e}")
    for colour in ("blue", "green"):
        replicas = seen.get(colour, {})
        if not replicas:
            print(f"{colour}: no replicas in Envoy")
        for host, entry in sorted(replicas.items()):
            print(
                f"{colour}: {host} {entry.get('health', '?')}, "
                f"{entry.get('rq_total', 0)} calls, {entry.get('rq_active', 0)} in flight"
            )


# ---------------------------------------------------------------- the report

_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def epoch_ms(text):
    """RFC 3339 (nanoseconds allowed, as k6 writes them) to epoch ms."""
    m = _TIME.fullmatch(text)
    if not m:
        raise ValueError(f"unreadable time {text!r}")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    seconds = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=timezone.utc).timestamp()
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        seconds -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return seconds * 1000.0 + (float("0." + frac) * 1000.0 if frac else 0.0)


def percentile(sorted_values, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return float("nan")
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


class Run:
    """The load's samples (k6 JSON output) and the drill's events."""

    def __init__(self, k6_path, events_path):
        self.calls = []  # (t_ms, duration_ms, ok, rpc)
        self.answers = []  # (t_ms, colour)
        self.failures = []  # (t_ms, tags)
        self.dropped = 0
        with open(k6_path) as f:
            for line in f:
                point = json.loads(line)
                if point.get("type") != "Point":
                    continue
                data = point["data"]
                tags = data.get("tags") or {}
                if tags.get("scenario") != "load":
                    continue
                t = epoch_ms(data["time"])
                metric = point["metric"]
                if metric == "grpc_req_duration":
                    self.calls.append((t, float(data["value"]), tags.get("status") == "0", tags.get("rpc", "?")))
                elif metric == "drill_answers":
                    self.answers.append((t, tags.get("colour", "none")))
                elif metric == "drill_failures":
                    self.failures.append((t, tags))
                elif metric == "dropped_iterations":
                    self.dropped += int(data["value"])
        self.events = []
        with open(events_path) as f:
            self.events = [json.loads(line) for line in f if line.strip()]
        self.steps = []
        open_steps = {}
        for e in self.events:
            if e["event"] == "step-start":
                open_steps[e["step"]] = e
            elif e["event"] == "step-end":
                start = open_steps.pop(e["step"])
                self.steps.append({**start, "end": e["t"]})
        self.switches = [e for e in self.events if e["event"] == "switch"]
        self.load_start = self._event("load-start")
        self.load_stop = self._event("load-stop")

    def _event(self, name):
        for e in self.events:
            if e["event"] == name:
                return e["t"]
        fail(f"the events file has no {name}")
        return None

    def window(self, *intervals):
        """Figures of the calls that ended inside any of `intervals`
        ((start_ms, end_ms) pairs)."""

        def inside(t):
            return any(start <= t <= end for start, end in intervals)

        calls = [c for c in self.calls if inside(c[0])]
        durations = sorted(c[1] for c in calls)
        # A failure is an answer other than OK, or a call that could not be
        # made at all (k6 has no duration for those).
        thrown = sum(1 for t, tags in self.failures if inside(t) and tags.get("status") == "exception")
        colours = {}
        for t, colour in self.answers:
            if inside(t):
                colours[colour] = colours.get(colour, 0) + 1
        return {
            "seconds": sum(end - start for start, end in intervals) / 1000.0,
            "requests": len(calls) + thrown,
            "failed": sum(1 for c in calls if not c[2]) + thrown,
            "p50": percentile(durations, 0.50),
            "p95": percentile(durations, 0.95),
            "p99": percentile(durations, 0.99),
            "max": durations[-1] if durations else float("nan"),
            "colours": colours,
        }


def ms(value):
    return "-" if value != value else f"{value:.1f} ms"


def cmd_report(args):
    run = Run(args.k6, args.events)
    problems = []
    rows = [("whole run", run.window((run.load_start, run.load_stop)))]
    if run.steps:
        rows.append(("steady on blue, before the first deploy", run.window((run.load_start, run.steps[0]["t"]))))
    for step in run.steps:
        rows.append((step["step"], run.window((step["t"], step["end"]))))
    # "During the switches": every step's window together.
    together = run.window(*[(step["t"], step["end"]) for step in run.steps])
    together["colours"] = {}
    rows.append(("all deploy, rollback and drain steps together", together))

    print()
    for line in args.title or []:
        print(line)
    print()
    print("| window | length | requests | failed | p50 | p95 | p99 | max | answered by |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, w in rows:
        colours = ", ".join(f"{c} {n}" for c, n in sorted(w["colours"].items())) or "-"
        print(
            f"| {name} | {w['seconds']:.1f} s | {w['requests']} | {w['failed']} | {ms(w['p50'])} | "
            f"{ms(w['p95'])} | {ms(w['p99'])} | {ms(w['max'])} | {colours} |"
        )
        if w["requests"] == 0:
            problems.append(f"no request completed during '{name}'")
    print()

    for i, s in enumerate(run.switches):
        until = run.switches[i + 1]["t"] if i + 1 < len(run.switches) else run.load_stop
        after = [t for t, c in run.answers if c == s["from"] and s["t"] <= t < until]
        first_new = [t for t, c in run.answers if c == s["to"] and s["t"] <= t < until]
        client = ""
        if first_new:
            client = f"; k6 saw the first answer from {s['to']} after {(min(first_new) - s['t']) / 1000:.3f} s"
        if after:
            client += f" and the last from {s['from']} after {(max(after) - s['t']) / 1000:.3f} s"
        print(
            f"- switch {s['from']} -> {s['to']}: Envoy applied the route after "
            f"{(s['applied'] - s['t']) / 1000:.3f} s; all traffic on {s['to']} "
            f"(nothing left in flight on {s['from']}) after {(s['idle'] - s['t']) / 1000:.3f} s{client}"
        )
    switch_times = [(s["idle"] - s["t"]) / 1000.0 for s in run.switches]
    if not switch_times:
        problems.append("no switch happened")

    rollbacks = []
    for step in run.steps:
        if step.get("kind") != "rollback":
            continue
        inside = [s for s in run.switches if step["t"] <= s["t"] <= step["end"]]
        if not inside:
            problems.append(f"'{step['step']}' switched no traffic")
            continue
        seconds = (inside[0]["idle"] - step["t"]) / 1000.0
        rollbacks.append(seconds)
        print(f"- {step['step']}: {seconds:.2f} s from the command to all traffic on {inside[0]['to']}")
        if seconds >= args.rollback_goal:
            problems.append(f"'{step['step']}' took {seconds:.1f} s (goal: under {args.rollback_goal:.0f} s)")
    for step in run.steps:
        if step.get("kind") == "deploy":
            print(f"- {step['step']}: {(step['end'] - step['t']) / 1000:.2f} s from the command to all traffic on the new colour")
    for step in run.steps:
        if step.get("kind") == "drain":
            print(f"- {step['step']}: {(step['end'] - step['t']) / 1000:.2f} s (SIGTERM to exit, both replicas)")

    whole = rows[0][1]
    if run.dropped:
        print(f"- k6 could not start {run.dropped} iterations on time (the load generator fell behind)")
    if run.failures:
        kinds = {}
        for _, tags in run.failures:
            key = f"{tags.get('rpc')} on {tags.get('colour')}: status {tags.get('status')}: {tags.get('message', '')}"
            kinds[key] = kinds.get(key, 0) + 1
        print("- failed requests:")
        for key, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
            print(f"  - {n} x {key}")
    if whole["failed"]:
        problems.append(f"{whole['failed']} of {whole['requests']} requests failed (goal: none)")

    print()
    print(
        f"requests: {whole['requests']}, failed: {whole['failed']}; "
        f"time to switch: {f'{max(switch_times):.3f} s' if switch_times else '-'} at most over {len(switch_times)} switches; "
        f"time to roll back: {', '.join(f'{r:.2f} s' for r in rollbacks) or '-'} (goal: under {args.rollback_goal:.0f} s); "
        f"p99 during the steps: {ms(rows[-1][1]['p99'])}, over the whole run: {ms(whole['p99'])}"
    )
    if problems:
        print("DRILL FAILED: " + "; ".join(problems))
        sys.exit(1)
    print("DRILL PASSED")


# ---------------------------------------------------------------- the rest


def free_ports(count):
    """`count` free loopback ports, all held until every one is chosen (so
    no two are the same); the load test's driver imports it too."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def cmd_ports(args):
    print(" ".join(str(port) for port in free_ports(args.count)))


def cmd_render(args):
    values = {}
    for pair in args.values:
        key, sep, value = pair.partition("=")
        if not sep:
            fail(f"{pair!r} is not NAME=VALUE")
        values[key] = value
    with open(args.template) as f:
        text = fill(f.read(), values)
    publish(args.out, text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ports")
    p.add_argument("count", type=int)
    p.set_defaults(run=cmd_ports)

    p = sub.add_parser("render")
    p.add_argument("template")
    p.add_argument("out")
    p.add_argument("values", nargs="*")
    p.set_defaults(run=cmd_render)

    p = sub.add_parser("endpoints")
    p.add_argument("--xds", required=True)
    p.add_argument("--colour", required=True, choices=["blue", "green"])
    p.add_argument("hosts", nargs="*")
    p.set_defaults(run=lambda a: publish_endpoints(a.xds, a.colour, a.hosts))

    p = sub.add_parser("route")
    p.add_argument("--xds", required=True)
    p.add_argument("--template", required=True)
    p.add_argument("--to", required=True, choices=["blue", "green"])
    p.set_defaults(run=lambda a: publish_route(a.xds, a.template, a.to))

    p = sub.add_parser("wait-healthy")
    p.add_argument("--admin", required=True, type=int)
    p.add_argument("--cluster", required=True, choices=["blue", "green"])
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("hosts", nargs="+")
    p.set_defaults(run=cmd_wait_healthy)

    p = sub.add_parser("switch")
    p.add_argument("--admin", required=True, type=int)
    p.add_argument("--xds", required=True)
    p.add_argument("--template", required=True)
    p.add_argument("--from", dest="source", required=True, choices=["blue", "green"])
    p.add_argument("--to", required=True, choices=["blue", "green"])
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--events")
    p.set_defaults(run=cmd_switch)

    p = sub.add_parser("clusters")
    p.add_argument("--admin", required=True, type=int)
    p.set_defaults(run=cmd_clusters)

    p = sub.add_parser("report")
    p.add_argument("--k6", required=True)
    p.add_argument("--events", required=True)
    p.add_argument("--title", action="append")
    p.add_argument("--rollback-goal", type=float, default=30.0, help="seconds a rollback must stay under")
    p.set_defaults(run=cmd_report)

    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
