#!/usr/bin/env python3
"""Render, lint and compare the FREEDUMB Helm chart without a helm binary.

Helm v4 through PyPI `helm-python-sdk` (module `helm_python`), offline: no
cluster is contacted.

  helm_render.py render CHART [-f VALUES]... [--set K=V]... [--name N] [--namespace NS] -o OUT
      Render the chart (hooks included, NOTES.txt left out) into one
      multi-document YAML file.
  helm_render.py lint CHART [-f VALUES]... [--kube-version v1.31.0]
      `helm lint --strict`: exit 1 on any warning or error.
  helm_render.py compare KUSTOMIZE.yaml HELM.yaml
      Check that the chart makes the same objects as a kustomize overlay:
      the same kinds and names, and the same specification of each (pods:
      containers, probes, environment, volumes, security, resources,
      replicas, spread; Services; autoscalers; disruption budgets; network
      policies; the configuration and Envoy's, compared parsed). Labels and
      annotations, which the two tools set differently, are not compared,
      except the selectors, which must agree up to Helm's instance label.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

try:
    import helm_python as helm
except ImportError:  # pragma: no cover - reported to the operator
    sys.exit("helm_render.py: the Python package helm-python-sdk is missing "
             "(python3 -m pip install helm-python-sdk==0.2.2)")


def load_values(files: list[str], sets: list[str] | None = None) -> dict[str, Any] | None:
    """The values files merged in order, then the --set expressions, as
    `helm -f a -f b --set k=v` does."""
    if not files and not sets:
        return None
    merged: dict[str, Any] = {}
    for path in files:
        merged = merge(merged, helm.values_from_yaml(Path(path).read_text()))
    for expression in sets or []:
        merged = merge(merged, helm.parse_set_string(expression))
    return merged


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def render(args: argparse.Namespace) -> int:
    values = load_values(args.values, args.set)
    with helm.Chart.load(args.chart) as chart:
        manifests = chart.render(values, name=args.name, namespace=args.namespace,
                                 is_install=True)
    documents = []
    for template in sorted(manifests):
        if template.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(manifests[template]):
            if doc:
                doc.setdefault("metadata", {}).setdefault("namespace", args.namespace)
                documents.append(doc)
    if not documents:
        print(f"helm_render.py: {args.chart} rendered no object", file=sys.stderr)
        return 1
    Path(args.out).write_text(yaml.safe_dump_all(documents, sort_keys=False))
    print(f"{args.chart}: {len(documents)} objects -> {args.out}")
    return 0


SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def lint(args: argparse.Namespace) -> int:
    report = helm.lint(args.chart, load_values(args.values), strict=True,
                       namespace=args.namespace, kube_version=args.kube_version)
    failed = bool(report.get("errors"))
    for message in report.get("messages") or []:
        severity = message.get("severity", 0)
        print(f"  [{SEVERITY.get(severity, severity)}] {message.get('path')}: {message.get('error')}")
        failed |= severity >= 2
    for error in report.get("errors") or []:
        print(f"  [ERROR] {error}")
    label = ", ".join(args.values) or "default values"
    print(f"helm lint --strict {args.chart} ({label}): {'FAILED' if failed else 'ok'}")
    return 1 if failed else 0


# --- compare ---------------------------------------------------------------

HASH_SUFFIX = re.compile(r"-[a-z0-9]{10}$")
HELM_ONLY_LABELS = {"app.kubernetes.io/instance"}


def load_objects(path: str) -> dict[tuple[str, str], dict[str, Any]]:
    objects = {}
    for doc in yaml.safe_load_all(Path(path).read_text()):
        if not doc or doc.get("kind") == "Namespace":
            continue
        objects[(doc["kind"], object_name(doc))] = doc
    return objects


def object_name(doc: dict[str, Any]) -> str:
    name = doc["metadata"]["name"]
    if doc["kind"] == "ConfigMap":
        return HASH_SUFFIX.sub("", name)  # kustomize's content hash
    if doc["kind"] == "Job" and name.startswith("freedumb-migrate"):
        return "freedumb-migrate"  # kustomize names it after the release
    return name


def selector(labels: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (labels or {}).items() if k not in HELM_ONLY_LABELS}


def normalize_selectors(value: Any) -> Any:
    """Drops Helm's instance label from every matchLabels and selector."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "matchLabels":
                if selector(item):
                    out[key] = selector(item)
            elif key == "matchExpressions":
                out[key] = [e for e in item if e.get("key") not in HELM_ONLY_LABELS]
            else:
                out[key] = normalize_selectors(item)
        return out
    if isinstance(value, list):
        return [normalize_selectors(item) for item in value]
    return value


def pod(spec: dict[str, Any]) -> dict[str, Any]:
    template = spec["template"]["spec"]
    containers = []
    for container in template["containers"]:
        c = dict(container)
        c["env"] = {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}
        c["envFrom"] = [{"configMapRef": {"name": HASH_SUFFIX.sub("", e["configMapRef"]["name"])}}
                        for e in c.get("envFrom", [])]
        c["volumeMounts"] = sorted(c.get("volumeMounts", []), key=lambda m: m["name"])
        containers.append(c)
    volumes = []
    for volume in template.get("volumes", []):
        v = dict(volume)
        if "configMap" in v:
            v["configMap"] = {**v["configMap"], "name": HASH_SUFFIX.sub("", v["configMap"]["name"])}
        if "secret" in v:
            v["secret"] = {**v["secret"], "items": sorted(v["secret"].get("items", []),
                                                          key=lambda i: i["key"])}
        volumes.append(v)
    keep = {k: template.get(k) for k in (
        "serviceAccountName", "automountServiceAccountToken", "enableServiceLinks",
        "terminationGracePeriodSeconds", "securityContext", "topologySpreadConstraints",
        "restartPolicy")}
    annotations = {k: v for k, v in (spec["template"]["metadata"].get("annotations") or {}).items()
                   if k.startswith("prometheus.io/")}
    return {**keep, "containers": containers, "volumes": sorted(volumes, key=lambda v: v["name"]),
            "annotations": annotations,
            "labels": {k: v for k, v in spec["template"]["metadata"]["labels"].items()
                       if k in ("app.kubernetes.io/name", "app.kubernetes.io/component",
                                "freedumb.dev/role")}}


def essence(doc: dict[str, Any]) -> Any:
    kind, spec = doc["kind"], doc.get("spec", {})
    if kind == "Deployment":
        return {"replicas": spec.get("replicas"), "strategy": spec.get("strategy"),
                "selector": selector(spec["selector"]["matchLabels"]), "pod": pod(spec)}
    if kind == "Job":
        return {"backoffLimit": spec.get("backoffLimit"),
                "activeDeadlineSeconds": spec.get("activeDeadlineSeconds"), "pod": pod(spec)}
    if kind == "Service":
        return {"type": spec.get("type", "ClusterIP"), "clusterIP": spec.get("clusterIP"),
                "externalTrafficPolicy": spec.get("externalTrafficPolicy"),
                "selector": selector(spec.get("selector")), "ports": spec.get("ports")}
    if kind == "ConfigMap":
        data = dict(doc.get("data", {}))
        for key in [k for k in data if k.endswith(".yaml")]:
            data[key] = yaml.safe_load(data[key])  # Envoy's configuration, parsed
        return data
    if kind == "ServiceAccount":
        return {"automountServiceAccountToken": doc.get("automountServiceAccountToken")}
    if kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"):
        return normalize_selectors(spec)
    return spec


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a:
                out.append(f"{path}/{key}: only in the chart")
            elif key not in b:
                out.append(f"{path}/{key}: only in kustomize")
            else:
                out += differences(a[key], b[key], f"{path}/{key}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: kustomize {a!r}, chart {b!r}"]


def compare(args: argparse.Namespace) -> int:
    kustomize, chart = load_objects(args.kustomize), load_objects(args.helm)
    problems = []
    for key in sorted(set(kustomize) - set(chart)):
        problems.append(f"{key[0]} {key[1]}: only in kustomize")
    for key in sorted(set(chart) - set(kustomize)):
        problems.append(f"{key[0]} {key[1]}: only in the chart")
    for key in sorted(set(kustomize) & set(chart)):
        for diff in differences(essence(kustomize[key]), essence(chart[key])):
            problems.append(f"{key[0]} {key[1]}{diff}")
    for problem in problems:
        print(f"  {problem}")
    verdict = f"{len(problems)} differences" if problems else "the same objects"
    print(f"compare {Path(args.kustomize).name} {Path(args.helm).name}: {len(kustomize)} objects, {verdict}")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render")
    r.add_argument("chart")
    r.add_argument("-f", "--values", action="append", default=[])
    r.add_argument("--set", action="append", default=[], help="key=value, as helm --set")
    r.add_argument("--name", default="freedumb")
    r.add_argument("--namespace", default="freedumb")
    r.add_argument("-o", "--out", required=True)
    r.set_defaults(run=render)
    lnt = sub.add_parser("lint")
    lnt.add_argument("chart")
    lnt.add_argument("-f", "--values", action="append", default=[])
    lnt.add_argument("--namespace", default="freedumb")
    lnt.add_argument("--kube-version", default="v1.31.0")
    lnt.set_defaults(run=lint)
    c = sub.add_parser("compare")
    c.add_argument("kustomize")
    c.add_argument("helm")
    c.set_defaults(run=compare)
    args = parser.parse_args()
    try:
        return args.run(args)
    except helm.HelmError as e:
        print(f"helm_render.py {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
