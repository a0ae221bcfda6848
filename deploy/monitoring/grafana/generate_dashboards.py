#!/usr/bin/env python3
"""Writes the FREEDUMB Grafana dashboards (dashboards/*.json).

The JSON files are generated so that every panel follows the same
conventions (data source variable, units, legends, layout); edit this file
and run it, never the JSON:

    python3 deploy/monitoring/grafana/generate_dashboards.py

`deploy/scripts/check-monitoring.sh` fails when the committed JSON differs
from what this script writes, type-checks the dashboards against Grafana's
schema (@grafana/schema), and parses every query with promtool.

Every query selects job="freedumb" and filters on the `target` label (the
process's FREEDUMB_TARGET); see deploy/monitoring/prometheus/prometheus.yml.
"""

import json
import pathlib
import sys

OUT = pathlib.Path(__file__).resolve().parent / "dashboards"

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SCHEMA_VERSION = 39

# The calls the SLOs count: unary calls of the FREEDUMB APIs of the chosen
# services (see prometheus/rules/freedumb-slo.yml).
SEL = r'job="freedumb", target=~"$target", method=~"freedumb\\.($service)\\.v1\\..+"'
UNARY = r'method!~".+/(Watch[A-Za-z]*|DownloadReport|ImportTransactions)"'
SERVER_ERRORS = 'code=~"Internal|Unavailable|DataLoss|Unknown|DeadlineExceeded"'
STREAMS_IN_FLIGHT = r'method!~".+/(Watch[A-Za-z]*|DownloadReport|ServerReflectionInfo)"'
TGT = 'job="freedumb", target=~"$target"'
LEDGER_STREAM = 'stream="freedumb.ledger.v1.events"'


def by_service(inner):
    """Adds the `service` label (the gRPC package) from `method`."""
    return (
        f'label_replace({inner}, "service", "$1", "method", '
        r'"freedumb\\.([a-z]+)\\.v1\\..+")'
    )


class Layout:
    """Places panels left to right in rows of 24 columns."""

    def __init__(self):
        self.y = 0
        self.x = 0
        self.row_h = 0
        self.next_id = 1
        self.panels = []

    def _id(self):
        i = self.next_id
        self.next_id += 1
        return i

    def row(self, title):
        self.y += self.row_h
        self.x = 0
        self.row_h = 0
        self.panels.append(
            {
                "type": "row",
                "id": self._id(),
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "panels": [],
            }
        )
        self.y += 1

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)


def targets(queries, instant=False, fmt="time_series"):
    out = []
    for i, (expr, legend) in enumerate(queries):
        out.append(
            {
                "datasource": DS,
                "refId": chr(ord("A") + i),
                "expr": expr,
                "legendFormat": legend,
                "range": not instant,
                "instant": instant,
                "format": fmt,
                "editorMode": "code",
            }
        )
    return out


def thresholds(steps):
    return {
        "mode": "absolute",
        "steps": [{"color": "green", "value": None}]
        + [{"color": c, "value": v} for v, c in steps],
    }


def timeseries(title, description, queries, unit, stack=False, steps=(), show_thresholds=False, minimum=0):
    custom = {
        "drawStyle": "line",
        "lineInterpolation": "linear",
        "lineWidth": 1,
        "fillOpacity": 20 if stack else 0,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "axisPlacement": "auto",
        "thresholdsStyle": {"mode": "line" if show_thresholds else "off"},
    }
    defaults = {"unit": unit, "custom": custom, "color": {"mode": "palette-classic"}}
    if minimum is not None:
        defaults["min"] = minimum
    if steps:
        defaults["thresholds"] = thresholds(steps)
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets(queries),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {
                "showLegend": True,
                "displayMode": "table",
                "placement": "bottom",
                "calcs": ["mean", "max", "lastNotNull"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(title, description, queries, unit, steps=(), decimals=None, graph=False):
    defaults = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": thresholds(steps),
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets(queries, instant=not graph),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "auto",
            "textMode": "auto",
            "colorMode": "value",
            "graphMode": "area" if graph else "none",
            "justifyMode": "auto",
            "wideLayout": True,
            "showPercentChange": False,
            "percentChangeColorMode": "standard",
        },
    }


def table(title, description, queries, hidden, renames):
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets(queries, instant=True, fmt="table"),
        "fieldConfig": {
            "defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}},
            "overrides": [],
        },
        "options": {"showHeader": True, "frameIndex": 0, "cellHeight": "sm"},
        "transformations": [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {name: True for name in hidden},
                    "renameByName": renames,
                },
            },
        ],
    }


def datasource_variable():
    return {
        "type": "datasource",
        "name": "DS_PROMETHEUS",
        "label": "Data source",
        "query": "prometheus",
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
        "includeAll": False,
        "multi": False,
        "skipUrlSync": False,
    }


def query_variable(name, label, query, regex=""):
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "query": query,
        "regex": regex,
        "refresh": 2,
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
        "skipUrlSync": False,
    }


def dashboard(uid, title, description, variables, layout, links_to):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["freedumb"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "weekStart": "",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "title": t,
                "type": "link",
                "url": f"/d/{u}",
                "icon": "dashboard",
                "tooltip": "",
                "tags": [],
                "asDropdown": False,
                "targetBlank": False,
                "includeVars": False,
                "keepTime": True,
            }
            for u, t in links_to
        ],
        "templating": {"list": variables},
        "panels": layout.panels,
    }


def services_dashboard():
    calls = f"rate(grpc_server_handled_total{{{SEL}}}[$__rate_interval])"
    unary = f"rate(grpc_server_handled_total{{{SEL}, {UNARY}}}[$__rate_interval])"
    errors = f"rate(grpc_server_handled_total{{{SEL}, {UNARY}, {SERVER_ERRORS}}}[$__rate_interval])"
    bucket = f"rate(grpc_server_handling_seconds_bucket{{{SEL}, {UNARY}}}[$__rate_interval])"
    method_sel = f'{SEL}, method=~"$method"'

    L = Layout()
    L.row("Overview")
    L.add(stat("Calls / s", "Unary and streaming calls of the selected services, all codes.",
               [(f"sum({calls})", "")], "reqps", decimals=1, graph=True), 6, 4)
    L.add(stat("Server errors",
               "Share of unary calls ending INTERNAL, UNAVAILABLE, DATA_LOSS, UNKNOWN or DEADLINE_EXCEEDED (the availability SLO allows 0.1 %).",
               [(f"sum({errors}) / sum({unary})", "")], "percentunit",
               steps=((0.001, "orange"), (0.01, "red")), decimals=3, graph=True), 6, 4)
    L.add(stat("p99 duration", "99th percentile of unary calls (the latency SLO: 99 % under 500 ms).",
               [(f"histogram_quantile(0.99, sum by (le) ({bucket}))", "")], "s",
               steps=((0.25, "orange"), (0.5, "red")), graph=True), 6, 4)
    L.add(stat("Processes up", "Scraped processes answering, of those Prometheus knows.",
               [(f"sum(up{{{TGT}}})", "up"), (f"count(up{{{TGT}}})", "known")], "none"), 6, 4)

    L.row("Rate")
    L.add(timeseries("Calls / s by service", "All calls, by gRPC package.",
                     [(f"sum by (service) ({by_service(calls)})", "{{service}}")], "reqps", stack=True), 12, 8)
    L.add(timeseries("Calls / s by method", "The methods chosen above.",
                     [(f"sum by (method) (rate(grpc_server_handled_total{{{method_sel}}}[$__rate_interval]))", "{{method}}")],
                     "reqps"), 12, 8)

    L.row("Errors")
    L.add(timeseries("Server-error ratio by service",
                     "Unary calls ending in a server error, over all unary calls. The line is the 0.1 % budget; the fast-burn alert starts at 14.4 times it.",
                     [(f"sum by (service) ({by_service(errors)}) / sum by (service) ({by_service(unary)})", "{{service}}")],
                     "percentunit", steps=((0.001, "red"),), show_thresholds=True), 12, 8)
    L.add(timeseries("Calls / s by code (not OK)", "Every code but OK, client errors included, by method and code.",
                     [(f'sum by (method, code) (rate(grpc_server_handled_total{{{method_sel}, code!="Ok"}}[$__rate_interval]))',
                       "{{method}} {{code}}")], "reqps"), 12, 8)

    L.row("Duration")
    L.add(timeseries("p99 by service", "99th percentile of unary calls, by service.",
                     [(f"histogram_quantile(0.99, sum by (service, le) ({by_service(bucket)}))", "{{service}}")],
                     "s", steps=((0.5, "red"),), show_thresholds=True), 8, 8)
    L.add(timeseries("p50, p95, p99", "Percentiles of unary calls of the selected services.",
                     [(f"histogram_quantile({q}, sum by (le) ({bucket}))", f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)],
                     "s"), 8, 8)
    L.add(timeseries("p99 by method", "99th percentile of the methods chosen above (streams last as long as the client stays).",
                     [(f"histogram_quantile(0.99, sum by (method, le) (rate(grpc_server_handling_seconds_bucket{{{method_sel}}}[$__rate_interval])))",
                       "{{method}}")], "s"), 8, 8)

    L.row("Service level objectives")
    L.add(timeseries("Error budget burn rate (1h)",
                     "Server-error ratio over the last hour divided by the 0.1 % budget. Alerts: 14.4 (with 5m) and 6 (6h with 30m) page; 3 and 1 open a ticket.",
                     [('service:freedumb_grpc_server_errors:ratio_rate1h{service=~"$service"} / 0.001', "{{service}}")],
                     "none", steps=((6, "orange"), (14.4, "red")), show_thresholds=True), 8, 8)
    L.add(timeseries("Latency budget burn rate (1h)",
                     "Share of unary calls slower than 500 ms over the last hour divided by the 1 % budget.",
                     [('service:freedumb_grpc_slow_calls:ratio_rate1h{service=~"$service"} / 0.01', "{{service}}")],
                     "none", steps=((6, "orange"), (14.4, "red")), show_thresholds=True), 8, 8)
    L.add(stat("Availability over the time range", "1 - server-error ratio of unary calls, per service, over the dashboard's time range.",
               [(f"1 - sum by (service) ({by_service(errors.replace('$__rate_interval', '$__range').replace('rate(', 'increase('))})"
                 f" / sum by (service) ({by_service(unary.replace('$__rate_interval', '$__range').replace('rate(', 'increase('))})",
                 "{{service}}")], "percentunit", steps=((0, "red"), (0.999, "green")), decimals=3), 8, 8)

    L.row("Saturation")
    L.add(timeseries("Unary calls in flight",
                     "Calls being served or queued for a slot, per process; the line is FREEDUMB_CONCURRENCY_LIMIT.",
                     [(f"sum by (target, instance) (grpc_server_in_flight{{{TGT}, {STREAMS_IN_FLIGHT}}})", "{{target}} {{instance}}"),
                      (f"max by (target, instance) (grpc_server_concurrency_limit{{{TGT}}})", "limit {{target}} {{instance}}")],
                     "none"), 8, 8)
    L.add(timeseries("Database pool connections",
                     "Connections per service pool and state; the line is FREEDUMB_DB_MAX_CONNECTIONS.",
                     [(f"sum by (service, state) (db_pool_connections{{{TGT}}})", "{{service}} {{state}}"),
                      (f"max by (service) (db_pool_max_connections{{{TGT}}})", "max {{service}}")],
                     "none"), 8, 8)
    L.add(timeseries("Open file descriptors",
                     "Open over allowed, per process.",
                     [(f"process_open_fds{{{TGT}}} / process_max_fds{{{TGT}}}", "{{target}} {{instance}}")],
                     "percentunit"), 8, 8)
    L.add(timeseries("CPU", "Cores used per process, and what it may use.",
                     [(f"rate(process_cpu_seconds_total{{{TGT}}}[$__rate_interval])", "{{target}} {{instance}}"),
                      (f"freedumb_cpu_limit_cores{{{TGT}}}", "limit {{target}} {{instance}}")],
                     "none"), 8, 8)
    L.add(timeseries("Resident memory", "Resident memory per process, and its limit.",
                     [(f"process_resident_memory_bytes{{{TGT}}}", "{{target}} {{instance}}"),
                      (f"freedumb_memory_limit_bytes{{{TGT}}}", "limit {{target}} {{instance}}")],
                     "bytes"), 8, 8)
    L.add(table("Processes", "Every scraped process: its version and how long it has run.",
                [(f"freedumb_build_info{{{TGT}}}", ""),
                 (f"time() - process_start_time_seconds{{{TGT}}}", "")],
                hidden=["Time", "__name__", "job", "Value #A"],
                renames={"Value #B": "uptime (s)"}), 8, 8)

    L.row("Events and workers")
    L.add(timeseries("Events published / s", "Events the outbox relays published, by stream.",
                     [(f"sum by (stream) (rate(events_published_total{{{TGT}}}[$__rate_interval]))", "{{stream}}")],
                     "ops", stack=True), 8, 8)
    L.add(timeseries("Events consumed / s", "Events the consumer groups handled and acknowledged, by group.",
                     [(f"sum by (group) (rate(events_consumed_total{{{TGT}}}[$__rate_interval]))", "{{group}}")],
                     "ops", stack=True), 8, 8)
    L.add(timeseries("Consumer failures and events set aside",
                     "Failed rounds (retried with backoff) and events set aside for good, by group.",
                     [(f"sum by (group) (rate(events_consumer_failures_total{{{TGT}}}[$__rate_interval]))", "failures {{group}}"),
                      (f"sum by (group) (increase(events_set_aside_total{{{TGT}}}[$__rate_interval]))", "set aside {{group}}")],
                     "none"), 8, 8)
    L.add(timeseries("Consumer lag", "Age of the oldest event each group has not acknowledged.",
                     [(f"max by (stream, group) (events_consumer_lag_seconds{{{TGT}}})", "{{group}} on {{stream}}")],
                     "s", steps=((300, "red"),), show_thresholds=True), 8, 8)
    L.add(timeseries("Outbox", "Age of the oldest unpublished event, and how many wait, per stream.",
                     [(f"max by (stream) (outbox_oldest_event_age_seconds{{{TGT}}})", "oldest {{stream}}"),
                      (f"max by (stream) (outbox_pending_events{{{TGT}}})", "pending {{stream}}")],
                     "none"), 8, 8)
    L.add(timeseries("Workers: oldest due work", "How late the oldest due item of each worker is (deliveries, occurrences, price series).",
                     [(f"max by (worker) (worker_oldest_due_seconds{{{TGT}}})", "{{worker}}"),
                      (f"max by (worker) (worker_due_items{{{TGT}}})", "due items {{worker}}")],
                     "none"), 8, 8)

    variables = [
        datasource_variable(),
        query_variable("target", "Target", 'label_values(up{job="freedumb"}, target)'),
        query_variable("service", "Service",
                       'label_values(grpc_server_handled_total{job="freedumb", target=~"$target"}, method)',
                       regex=r"/^freedumb\.([a-z]+)\.v1\..*/"),
        query_variable("method", "Method",
                       r'label_values(grpc_server_handled_total{job="freedumb", target=~"$target", method=~"freedumb\\.($service)\\.v1\\..+"}, method)'),
    ]
    return dashboard("freedumb-services", "FREEDUMB / Services",
                     "Rate, errors and duration of every gRPC service, the SLOs, saturation, and the event path.",
                     variables, L, [("freedumb-business", "FREEDUMB / Business")])


def business_dashboard():
    def per(expr_, factor):
        return f"{expr_} * {factor}"

    def total(metric, labels=""):
        sel = f"{TGT}, {labels}" if labels else TGT
        return f"sum(increase({metric}{{{sel}}}[$__range]))"

    L = Layout()
    L.row("Over the time range")
    L.add(stat("Transactions created", "Ledger transactions created, from every source (API, imports, recurring rules); transfers count apart, as transfer_created events.",
               [(total("events_published_total", f'{LEDGER_STREAM}, kind="transaction_created"'), "")], "short", decimals=0), 4, 4)
    L.add(stat("Statement imports", "Statement imports started.",
               [(total("ledger_imports_total"), "")], "short", decimals=0), 4, 4)
    L.add(stat("Budget alerts", "Budget thresholds crossed.",
               [(total("budget_alerts_total"), "")], "short", decimals=0), 4, 4)
    L.add(stat("Notifications delivered", "Emails and webhooks delivered.",
               [(total("notification_deliveries_total", 'outcome="delivered"'), "")], "short", decimals=0), 4, 4)
    L.add(stat("Sign-ups", "Accounts registered.",
               [(total("grpc_server_handled_total", 'method="freedumb.auth.v1.AuthService/Register", code="Ok"'), "")],
               "short", decimals=0), 4, 4)
    L.add(stat("Sign-ins", "Successful logins.",
               [(total("grpc_server_handled_total", 'method="freedumb.auth.v1.AuthService/Login", code="Ok"'), "")],
               "short", decimals=0), 4, 4)

    L.row("Ledger")
    L.add(timeseries("Transactions per minute",
                     "Ledger events per minute by kind: transaction_created is the transactions created, from every source.",
                     [(per(f"sum by (kind) (rate(events_published_total{{{TGT}, {LEDGER_STREAM}}}[$__rate_interval]))", 60),
                       "{{kind}}")], "short", stack=True), 12, 8)
    L.add(timeseries("Ledger writes per minute, by source",
                     "Successful write calls by method, and occurrences the recurring worker recorded.",
                     [(per(r'sum by (method) (rate(grpc_server_handled_total{job="freedumb", target=~"$target", '
                           r'method=~"freedumb\\.ledger\\.v1\\.LedgerService/(CreateTransaction|UpdateTransaction|DeleteTransaction|CreateTransfer|ImportTransactions|CreateImport)", '
                           r'code="Ok"}[$__rate_interval]))', 60), "{{method}}"),
                      (per(f"sum(rate(ledger_recurring_recorded_total{{{TGT}}}[$__rate_interval]))", 60), "recurring occurrences")],
                     "short", stack=True), 12, 8)
    L.add(timeseries("Statement imports per hour, by format", "Imports started (CSV, OFX/QFX, QIF, CAMT.053, MT940).",
                     [(per(f"sum by (format) (rate(ledger_imports_total{{{TGT}}}[$__rate_interval]))", 3600), "{{format}}")],
                     "short", stack=True), 12, 8)
    L.add(timeseries("Categories from the ai service, per minute", "Proposals the ledger applied, found stale, or without a category.",
                     [(per(f"sum by (outcome) (rate(ledger_ai_categorized_total{{{TGT}}}[$__rate_interval]))", 60), "{{outcome}}")],
                     "short", stack=True), 12, 8)

    L.row("Budgets and notifications")
    L.add(timeseries("Budget alerts and goals per hour", "Thresholds crossed and savings goals reached.",
                     [(per(f"sum(rate(budget_alerts_total{{{TGT}}}[$__rate_interval]))", 3600), "alerts"),
                      (per(f"sum(rate(budget_goals_reached_total{{{TGT}}}[$__rate_interval]))", 3600), "goals reached")],
                     "short"), 8, 8)
    L.add(timeseries("Notifications per minute", "Feed entries made from events.",
                     [(per(f"sum(rate(notifications_total{{{TGT}}}[$__rate_interval]))", 60), "notifications")],
                     "short"), 8, 8)
    L.add(timeseries("Deliveries per minute, by outcome", "Email and webhook attempts: delivered, to be retried, or dead.",
                     [(per(f"sum by (channel, outcome) (rate(notification_deliveries_total{{{TGT}}}[$__rate_interval]))", 60),
                       "{{channel}} {{outcome}}")], "short", stack=True), 8, 8)

    L.row("Sign-ins")
    L.add(timeseries("Sign-ups and sign-ins per minute, by code", "Register and Login calls by their code (throttled calls are RESOURCE_EXHAUSTED).",
                     [(per(r'sum by (method, code) (rate(grpc_server_handled_total{job="freedumb", target=~"$target", '
                           r'method=~"freedumb\\.auth\\.v1\\.AuthService/(Register|Login)"}[$__rate_interval]))', 60),
                       "{{method}} {{code}}")], "short"), 24, 8)

    L.row("AI, investments, analytics")
    L.add(timeseries("Categorizations per minute, by outcome", "Categorize answers by where the category came from.",
                     [(per(f"sum by (outcome) (rate(ai_categorized_total{{{TGT}}}[$__rate_interval]))", 60), "{{outcome}}"),
                      (per(f"sum(rate(ai_proposed_total{{{TGT}}}[$__rate_interval]))", 60), "proposed for new transactions")],
                     "short"), 8, 8)
    L.add(timeseries("Questions per minute, by outcome", "Ask: answered offline, by the LLM, or not understood; and LLM failures.",
                     [(per(f"sum by (outcome) (rate(ai_questions_total{{{TGT}}}[$__rate_interval]))", 60), "{{outcome}}"),
                      (per(f"sum(rate(ai_llm_failures_total{{{TGT}}}[$__rate_interval]))", 60), "LLM failures")],
                     "short"), 8, 8)
    L.add(timeseries("Prices per hour", "Daily closes recorded by outcome, and failed fetches.",
                     [(per(f"sum by (outcome) (rate(freedumb_investment_closes_recorded_total{{{TGT}}}[$__rate_interval]))", 3600), "{{outcome}}"),
                      (per(f"sum(rate(freedumb_investment_price_fetch_failures_total{{{TGT}}}[$__rate_interval]))", 3600), "failed fetches")],
                     "short"), 8, 8)
    L.add(timeseries("Investment transfers per hour", "Ledger transfers recorded for investment activities, or refused.",
                     [(per(f"sum by (outcome) (rate(ledger_investment_transfers_total{{{TGT}}}[$__rate_interval]))", 3600), "{{outcome}}")],
                     "short"), 8, 8)
    L.add(timeseries("Reports per hour, by format", "Analytics reports produced (CSV, PDF).",
                     [(per(f"sum by (format) (rate(analytics_reports_total{{{TGT}}}[$__rate_interval]))", 3600), "{{format}}")],
                     "short"), 8, 8)
    L.add(timeseries("Projections: events applied per minute", "Ledger events applied by the budget projection and the analytics read model.",
                     [(per(f"sum(rate(budget_projection_events_total{{{TGT}}}[$__rate_interval]))", 60), "budget"),
                      (per(f"sum(rate(analytics_model_events_total{{{TGT}}}[$__rate_interval]))", 60), "analytics"),
                      (per(f"sum(rate(ai_learned_events_total{{{TGT}}}[$__rate_interval]))", 60), "ai")],
                     "short"), 8, 8)

    variables = [
        datasource_variable(),
        query_variable("target", "Target", 'label_values(up{job="freedumb"}, target)'),
    ]
    return dashboard("freedumb-business", "FREEDUMB / Business",
                     "What the platform does for its users: transactions, imports, budget alerts, notifications, sign-ins.",
                     variables, L, [("freedumb-services", "FREEDUMB / Services")])


DASHBOARDS = {
    "freedumb-services.json": services_dashboard,
    "freedumb-business.json": business_dashboard,
}


def render(build):
    return json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        sys.exit(f"usage: {argv[0]} [--check]")
    stale = []
    for name, build in DASHBOARDS.items():
        path = OUT / name
        text = render(build)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        sys.exit("stale (run deploy/monitoring/grafana/generate_dashboards.py): " + ", ".join(stale))


if __name__ == "__main__":
    main(sys.argv)
