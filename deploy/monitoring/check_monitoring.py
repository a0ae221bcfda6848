#!/usr/bin/env python3
"""Consistency checks of deploy/monitoring that promtool cannot make.

Run by deploy/scripts/check-monitoring.sh, which runs promtool and tsc on
the files this script writes into WORKDIR:

  WORKDIR/dashboard-queries.yml  every dashboard query as a recording rule,
                                 for `promtool check rules` (Prometheus's own
                                 parser)
  WORKDIR/ts/dashboards.ts       every dashboard as a TypeScript value that
                                 must satisfy Grafana's dashboard and panel
                                 option types (@grafana/schema), for `tsc`

and checks:
  - every metric a rule or a dashboard reads is exported by the code (the
    metrics macros in services/ and gateway-rest/, the metrics-process
    collector), recorded by a rule, listed in pending-metrics.yml, or one of
    the few that come from elsewhere (Prometheus's `up`, Envoy's);
  - pending-metrics.yml lists nothing the code exports already and nothing
    unused, and docs/RUNBOOK.md describes every entry;
  - every alert has a severity, a summary, a description, a runbook_url
    that points at its own entry in docs/RUNBOOK.md (and every alert entry
    there is an alert), a `requires` annotation exactly when it reads
    pending metrics, and a promtool unit test in which it fires;
  - the dashboards: unique uids and panel ids, the DS_PROMETHEUS data
    source on every panel and query, panels inside the 24-column grid and
    not overlapping, variables that exist;
  - the OpenTelemetry collector configuration: every component a pipeline
    names is defined, and every defined component is used.

Usage: check_monitoring.py REPO_ROOT WORKDIR
"""

import json
import pathlib
import re
import sys

import promql_parser
import yaml

RUNBOOK_BASE = "https://github.com/freedumb/freedumb/blob/main/docs/RUNBOOK.md#"

# The metrics-process crate (services/kit/src/metrics.rs installs its
# collector) exports exactly these.
PROCESS_METRICS = {
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_virtual_memory_max_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_threads",
}

# Metrics that neither FREEDUMB nor a rule makes.
EXTERNAL_METRICS = {
    "up": "Prometheus, for every target",
    "envoy_server_days_until_first_cert_expiring": "Envoy's statistics (job envoy)",
    "pg_up": "the Postgres exporter (job postgres)",
    "redis_up": "the Redis exporter (job redis)",
}

GRAFANA_BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}

SEVERITIES = {"critical", "warning"}

MACRO = re.compile(
    r"\b(?:describe_)?(counter|gauge|histogram)!\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"", re.S
)

problems = []


def problem(message):
    problems.append(message)


def exported_metrics(root):
    names = {}
    for base in ("services", "gateway-rest"):
        for path in sorted((root / base).rglob("*.rs")):
            if "/tests/" in path.as_posix() or "/target/" in path.as_posix():
                continue
            for kind, name in MACRO.findall(path.read_text(encoding="utf-8")):
                names.setdefault(name, kind)
    lock = (root / "Cargo.lock").read_text(encoding="utf-8")
    if 'name = "metrics-process"' not in lock:
        problem("Cargo.lock has no metrics-process: the process_* metrics are not exported")
    else:
        for name in PROCESS_METRICS:
            names.setdefault(name, "process")
    series = set()
    for name, kind in names.items():
        series.add(name)
        if kind == "histogram":
            series.update({name + "_bucket", name + "_sum", name + "_count"})
    return series


def selectors(expr):
    """Metric names an expression reads."""
    found = []

    def visit(node, *_):
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                found.append(node.name)
            else:
                found.append(None)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def github_slug(heading):
    slug = heading.strip().lower()
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


def main(root, work):
    mon = root / "deploy" / "monitoring"
    exported = exported_metrics(root)

    pending_doc = load_yaml(mon / "pending-metrics.yml")
    pending = {m["name"]: m for m in pending_doc["metrics"]}
    for m in pending_doc["metrics"]:
        for key in ("name", "type", "labels", "help"):
            if key not in m:
                problem(f"pending-metrics.yml: {m.get('name')}: no {key}")
        if m.get("type") not in ("counter", "gauge", "histogram"):
            problem(f"pending-metrics.yml: {m['name']}: type must be counter, gauge or histogram")
    for name in sorted(set(pending) & exported):
        problem(f"pending-metrics.yml: {name} is exported by the code now: delete its entry")

    # Rules.
    recorded = set()
    alerts = {}
    rule_exprs = []
    for path in sorted((mon / "prometheus" / "rules").glob("*.yml")):
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                where = f"{path.name}: {rule.get('alert') or rule.get('record')}"
                rule_exprs.append((where, rule["expr"]))
                if "record" in rule:
                    recorded.add(rule["record"])
                else:
                    alerts[rule["alert"]] = (where, rule)

    # Dashboards.
    dashboards = {}
    for path in sorted((mon / "grafana" / "dashboards").glob("*.json")):
        try:
            dashboards[path] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            problem(f"{path.name}: not JSON: {e}")
    dashboard_exprs = check_dashboards(dashboards)

    known = exported | recorded | set(pending) | set(EXTERNAL_METRICS)
    used = set()
    for where, expr in rule_exprs + [(w, e) for w, e, _ in dashboard_exprs]:
        try:
            names = selectors(expr)
        except Exception as e:  # the parser's own error type is not exported
            problem(f"{where}: does not parse: {e}")
            continue
        for name in names:
            if name is None:
                problem(f"{where}: a selector without a metric name; name the metric")
                continue
            used.add(name)
            if name not in known:
                problem(f"{where}: {name} is not exported by the code, recorded by a rule, "
                        "nor listed in deploy/monitoring/pending-metrics.yml")
    for name in sorted(set(pending) - used):
        problem(f"pending-metrics.yml: {name} is used by no rule or dashboard")
    for label in pending_doc.get("labels", []):
        if label["metric"] not in exported:
            problem(f"pending-metrics.yml: label {label['label']} for {label['metric']}, which the code does not export")

    check_alerts(root, mon, alerts, pending)

    runbook = (root / "docs" / "RUNBOOK.md").read_text(encoding="utf-8")
    for name in sorted(pending):
        if f"`{name}`" not in runbook:
            problem(f"docs/RUNBOOK.md does not describe the pending metric `{name}`")

    check_collector(load_yaml(mon / "otel" / "collector.yaml"))

    write_promtool_file(work / "dashboard-queries.yml", dashboard_exprs)
    write_typescript(work / "ts" / "dashboards.ts", dashboards)

    if problems:
        for p in problems:
            print(f"check-monitoring: {p}", file=sys.stderr)
        sys.exit(1)
    print(f"check-monitoring: {len(alerts)} alerts, {len(recorded)} recording rules, "
          f"{len(dashboard_exprs)} dashboard queries in {len(dashboards)} dashboards, "
          f"{len(used)} metrics ({len(used & set(pending))} pending in the code)")


def check_alerts(root, mon, alerts, pending):
    runbook = (root / "docs" / "RUNBOOK.md").read_text(encoding="utf-8")
    headings = {github_slug(h): h.strip() for h in re.findall(r"^### (.+)$", runbook, re.M)}
    alert_headings = {h for h in headings.values() if re.fullmatch(r"Freedumb[A-Za-z]+", h)}

    fired = set()
    for path in sorted((mon / "prometheus" / "tests").glob("*.yml")):
        for test in load_yaml(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                if case.get("exp_alerts"):
                    fired.add(case["alertname"])

    for name, (where, rule) in sorted(alerts.items()):
        labels = rule.get("labels", {})
        notes = rule.get("annotations", {})
        if labels.get("severity") not in SEVERITIES:
            problem(f"{where}: severity must be one of {sorted(SEVERITIES)}")
        for key in ("summary", "description", "runbook_url"):
            if not notes.get(key):
                problem(f"{where}: no {key} annotation")
        if notes.get("runbook_url") != RUNBOOK_BASE + name.lower():
            problem(f"{where}: runbook_url must be {RUNBOOK_BASE + name.lower()}")
        if name.lower() not in headings:
            problem(f"{where}: docs/RUNBOOK.md has no heading '### {name}'")
        try:
            reads = {n for n in selectors(rule["expr"]) if n in pending}
        except Exception:  # reported with the other parse errors
            reads = set()
        requires = {r.strip() for r in notes.get("requires", "").split(",") if r.strip()}
        if reads != requires:
            problem(f"{where}: annotation requires must list the pending metrics it reads: "
                    f"{', '.join(sorted(reads)) or '(none: drop the annotation)'}")
        if name not in fired:
            problem(f"{where}: no promtool unit test in which it fires")
    for heading in sorted(alert_headings - set(alerts)):
        problem(f"docs/RUNBOOK.md: '### {heading}' is not an alert of deploy/monitoring/prometheus/rules")


def rects_overlap(a, b):
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def check_dashboards(dashboards):
    exprs = []
    uids = {}
    for path, d in dashboards.items():
        name = path.name
        uid = d.get("uid")
        if not uid or len(uid) > 40:
            problem(f"{name}: uid must be set and at most 40 characters")
        if uid in uids:
            problem(f"{name}: uid {uid} is also the uid of {uids[uid]}")
        uids[uid] = name
        if path.stem != uid:
            problem(f"{name}: the file must be named after its uid ({uid}.json)")
        if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 36:
            problem(f"{name}: schemaVersion must be an integer, 36 or later")
        if not d.get("title"):
            problem(f"{name}: no title")
        if d.get("id") is not None:
            problem(f"{name}: must not carry a database id")
        variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
        ds = variables.get("DS_PROMETHEUS")
        if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            problem(f"{name}: needs the data source variable DS_PROMETHEUS (type datasource, query prometheus)")
        defined = set(variables) | set(GRAFANA_BUILTINS)
        for v in variables.values():
            if v.get("type") == "query":
                exprs.append((f"{name}: variable {v['name']}", v["query"], defined))
        ids = set()
        rects = []
        for panel in d.get("panels", []):
            pid = panel.get("id")
            where = f"{name}: panel {pid} ({panel.get('title')})"
            if not isinstance(pid, int) or pid in ids:
                problem(f"{where}: panel ids must be unique integers")
            ids.add(pid)
            g = panel.get("gridPos", {})
            if not all(isinstance(g.get(k), int) for k in "xywh") or g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24:
                problem(f"{where}: gridPos must lie within the 24 columns")
            else:
                for other_where, other in rects:
                    if rects_overlap(g, other):
                        problem(f"{where}: overlaps {other_where}")
                rects.append((where, g))
            if panel.get("type") == "row":
                continue
            if panel.get("type") not in ("timeseries", "stat", "table"):
                problem(f"{where}: type {panel.get('type')} is not one this check knows")
            if panel.get("datasource") != {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}:
                problem(f"{where}: datasource must be the DS_PROMETHEUS variable")
            refs = set()
            for t in panel.get("targets", []):
                if t.get("datasource") != {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}:
                    problem(f"{where}: query {t.get('refId')}: datasource must be the DS_PROMETHEUS variable")
                if not t.get("refId") or t["refId"] in refs:
                    problem(f"{where}: refIds must be set and unique")
                refs.add(t.get("refId"))
                if not t.get("expr"):
                    problem(f"{where}: query {t.get('refId')} has no expr")
                    continue
                exprs.append((f"{where} query {t['refId']}", t["expr"], defined))
            if not panel.get("targets"):
                problem(f"{where}: no query")
    out = []
    for where, expr, defined in exprs:
        for var in re.findall(r"\$\{?(\w+)\}?", expr):
            if var not in defined and not re.fullmatch(r"\d+", var):
                problem(f"{where}: uses ${var}, which the dashboard does not define")
        out.append((where, substitute(expr), expr))
    return out


def substitute(expr):
    """A dashboard query as Prometheus would receive it."""
    def repl(m):
        name = m.group(1) or m.group(2)
        if name.isdigit():
            return m.group(0)
        return GRAFANA_BUILTINS.get(name, ".*")
    # label_values(...) is Grafana's, not PromQL: check the selector inside.
    lv = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", expr.strip(), re.S)
    if lv:
        expr = lv.group(1)
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, expr)


def write_promtool_file(path, exprs):
    rules = [{"record": f"freedumb_dashboard_query_{i}", "expr": e} for i, (_, e, _) in enumerate(exprs)]
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, width=1000))
    index = path.with_suffix(".index")
    index.write_text("".join(f"freedumb_dashboard_query_{i}\t{w}\n" for i, (w, _, _) in enumerate(exprs)))


# Panel plugin: (prefix, module, whether it has field options of its own).
PANEL_TYPES = {
    "timeseries": ("TimeSeries", "timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen", True),
    "stat": ("Stat", "stat/panelcfg/x/StatPanelCfg_types.gen", False),
    "table": ("Table", "table/panelcfg/x/TablePanelCfg_types.gen", True),
}


def write_typescript(path, dashboards):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["import type { Dashboard } from '@grafana/schema';"]
    for kind, (prefix, module, custom) in PANEL_TYPES.items():
        names = f"Options as {prefix}Options" + (f", FieldConfig as {prefix}FieldConfig" if custom else "")
        lines.append(f"import type {{ {names} }} from '@grafana/schema/dist/esm/raw/composable/{module}';")
    lines += [
        "// JSON carries an enum's value, not the enum: compare with the values.",
        "type Json<T> = T extends string ? `${T}` : T extends number | boolean | null | undefined ? T",
        "  : T extends Array<infer U> ? Array<Json<U>> : T extends object ? { [K in keyof T]: Json<T[K]> } : T;",
    ]
    for i, (p, d) in enumerate(dashboards.items()):
        lines.append(f"// {p.name}")
        lines.append(f"export const dashboard{i} = {json.dumps(d)} satisfies Json<Dashboard>;")
        for panel in d.get("panels", []):
            kind = panel.get("type")
            if kind not in PANEL_TYPES:
                continue
            prefix, _, has_custom = PANEL_TYPES[kind]
            pid = panel.get("id")
            lines.append(f"export const options{i}_{pid} = {json.dumps(panel.get('options', {}))} satisfies Json<{prefix}Options>;")
            custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
            if has_custom:
                lines.append(f"export const custom{i}_{pid} = {json.dumps(custom or {})} satisfies Json<{prefix}FieldConfig>;")
            elif custom is not None:
                problem(f"{p.name}: panel {pid}: a {kind} panel has no custom field options")
    path.write_text("\n".join(lines) + "\n")


def check_collector(config):
    service = config.get("service", {})
    used = {"receivers": set(), "processors": set(), "exporters": set()}
    pipelines = service.get("pipelines", {})
    if not pipelines:
        problem("otel/collector.yaml: no pipelines")
    for name, pipeline in pipelines.items():
        if name.split("/")[0] not in ("traces", "metrics", "logs"):
            problem(f"otel/collector.yaml: pipeline {name}: not traces, metrics or logs")
        for kind in ("receivers", "exporters"):
            if not pipeline.get(kind):
                problem(f"otel/collector.yaml: pipeline {name} has no {kind}")
        for kind in used:
            for component in pipeline.get(kind, []):
                used[kind].add(component)
                if component not in (config.get(kind) or {}):
                    problem(f"otel/collector.yaml: pipeline {name} uses {kind[:-1]} {component}, which is not defined")
    for kind, names in used.items():
        for component in (config.get(kind) or {}):
            if component not in names:
                problem(f"otel/collector.yaml: {kind[:-1]} {component} is defined but in no pipeline")
    for ext in service.get("extensions", []):
        if ext not in (config.get("extensions") or {}):
            problem(f"otel/collector.yaml: extension {ext} is not defined")
    for ext in (config.get("extensions") or {}):
        if ext not in service.get("extensions", []):
            problem(f"otel/collector.yaml: extension {ext} is defined but not enabled")
    otlp = (config.get("receivers") or {}).get("otlp", {})
    if ((otlp.get("protocols") or {}).get("grpc") or {}).get("endpoint", "").rsplit(":", 1)[-1] != "4317":
        problem("otel/collector.yaml: the OTLP receiver must listen for gRPC on 4317")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: check_monitoring.py REPO_ROOT WORKDIR")
    main(pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2]))
