"""Schemathesis hooks for deploy/scripts/schemathesis.sh: the gateway's watch
streams (server-streaming RPCs, `application/x-ndjson`, one message per line),
the password guesses' client addresses, the rules across fields applied to
valid data, and the check that a valid request is refused only for a reason
schemathesis_refusals.json states (each explained where it is defined).

A watch lives as long as the client keeps it open and sends nothing until
something changes, so a client that reads the body to its end, as
Schemathesis does for every media type but `text/event-stream`, waits for
ever (Schemathesis reports a read timeout, a "Network Error"). These hooks
read an NDJSON body until its first complete line, its end, or a silence as
long as the operation's request timeout (schemathesis.sh sets a short one
for the `:watch` routes), then close it; and they deserialize the first line,
so that `response_schema_conformance` checks it against the message schema
the document gives. An error line (`{"error": {...}}`) is a message that does
not match the schema: reported, not skipped.

They also serialize `ast.parse`: CPython 3.11 keeps the AST constructor's
recursion depth in per-interpreter state, so two worker threads building an
AST at once can fail with "SystemError: AST constructor recursion depth
mismatch" (python/cpython#106905). Hypothesis parses source files to describe
the lambdas of the strategies Schemathesis builds, and with two workers this
made a rare run fail with a "Runtime Error" that is not the API's.

Loaded with SCHEMATHESIS_HOOKS=/path/to/this/file. Written against
Schemathesis 4.32.5 (pinned in .ci/run); the one internal it wraps is checked
at load time, so an upgrade that changes it fails loudly instead of silently
hanging again.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import re
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import schemathesis
import schemathesis.transport.requests as requests_transport
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.transport import STREAM_CUT_SHORT_ATTRIBUTE
from urllib3.exceptions import ReadTimeoutError

NDJSON = "application/x-ndjson"
QUERY = ParameterLocation.QUERY
BODY = ParameterLocation.BODY

_ast_parse = ast.parse
_ast_lock = threading.Lock()


def _serialized_parse(*args, **kwargs):
    with _ast_lock:
        return _ast_parse(*args, **kwargs)


ast.parse = _serialized_parse

_original_request = requests_transport._request
if list(inspect.signature(_original_request).parameters) != ["session", "data", "max_stream_events"]:
    raise RuntimeError(
        "schemathesis.transport.requests._request changed: update deploy/scripts/lib/schemathesis_hooks.py "
        f"for Schemathesis {schemathesis.__version__}"
    )


def _is_ndjson(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == NDJSON


class _Answered:
    """A session whose only request has been sent already."""

    def __init__(self, response):
        self._response = response

    def request(self, **_kwargs):
        return self._response


def _read_first_line(response) -> tuple[bytes, bool]:
    """The body up to its first complete line, and whether it was cut short."""
    content = bytearray()
    try:
        while b"\n" not in content:
            chunk = response.raw.read1(64 * 1024, decode_content=True)
            if not chunk:
                return bytes(content), False
            content += chunk
    except ReadTimeoutError:
        # Silence for the whole request timeout: an idle watch.
        return bytes(content[: content.rfind(b"\n") + 1]), True
    end = content.index(b"\n") + 1
    return bytes(content[:end]), True


def _request(session, data, max_stream_events):
    response = session.request(**{**data, "stream": True})
    if not _is_ndjson(response.headers.get("Content-Type")):
        # Everything else as Schemathesis reads it.
        return _original_request(_Answered(response), data, max_stream_events)
    response._content, cut_short = _read_first_line(response)
    if cut_short:
        setattr(response, STREAM_CUT_SHORT_ATTRIBUTE, True)
    response.close()
    return response


requests_transport._request = _request


@schemathesis.deserializer(NDJSON)
def _first_message(_ctx, response):
    """The stream's first message; none (an idle watch) is nothing to check."""
    for line in response.content.splitlines():
        if line.strip():
            return json.loads(line)
    # Schemathesis skips the schema check for content it cannot deserialize.
    raise NotImplementedError("no complete message within the read timeout")


# Wrong passwords are throttled per (account, client address): five wrong
# current passwords in fuzzed ChangePassword calls (made as the test user)
# lock that user's own sign-ins from 127.0.0.1 for 15 minutes, by design,
# and every later operation then fails to authenticate. Each call that can
# guess a password names a client address of its own in X-Forwarded-For
# (schemathesis.sh trusts 127.0.0.1 as a proxy), so the fuzzer's guesses are
# throttled per address, as a real attacker's would be, and the sign-ins
# Schemathesis makes for its users (from 127.0.0.1) are not.
_GUESSING_PATHS = frozenset({"/v1/auth:changePassword", "/v1/auth:login"})
_guesses = itertools.count(1)
_guesses_lock = threading.Lock()


@schemathesis.hook
def before_call(context, case, kwargs):
    # The stateful phase can change a case after `map_case` (seen: a
    # PATCH whose mask named a field its body no longer set), so the mask
    # is fitted to the body again here, the last step before sending.
    _mask_fits_body(case)
    if case.path not in _GUESSING_PATHS:
        return
    with _guesses_lock:
        n = next(_guesses)
    address = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    case.headers = {**(case.headers or {}), "X-Forwarded-For": address}


# Rules across fields, which JSON Schema cannot state, applied to the data
# Schemathesis generates as valid (positive) so that what it sends as valid
# is: Schemathesis' own advice for a `validation_mismatch` ("extend
# generators to match runtime rules"). Each mirrors a rule the contracts'
# comments state; data generated as invalid is left alone.
#
# - An update's mask names the fields its body sets (a field the mask names
#   and the body leaves out is cleared, which a required field refuses): the
#   mask becomes the body's updatable fields (the paths the `updateMask`
#   parameter's pattern lists), and a valid case whose body sets none of
#   them is not sent as valid.
# - A date range (`startDate`, `endDate`, in the query or the body; without
#   an end, it ends today) ends on or after its start, and spans at most what its operation takes: 3,660
#   days of balance history (the ledger's MAX_HISTORY_DAYS), 10,000 days
#   of analytics figures and reports (10,000 periods at most, the shortest
#   interval a day), else 49
#   years (the investment service's limit is 50, the analytics' 100).
# - A minimum amount is not above the maximum (`minAmountMinor`,
#   `maxAmountMinor`).
# - A transfer moves money between two different accounts.
# - An investment activity happened on or before today (UTC): a later date
#   is moved as many days before today as it was after it (modulo a
#   century).
_SPANS = {
    "/v1/accounts/{account_id}/balanceHistory": timedelta(days=3660),
    "/v1/analytics/": timedelta(days=9999),
}
_SPAN = timedelta(days=49 * 365)


def _span(path: str) -> timedelta:
    return next((span for prefix, span in _SPANS.items() if path.startswith(prefix)), _SPAN)


def _positive_at(case, location) -> bool:
    meta = case.meta
    return meta is None or not meta.is_negative_at(location)


_NOT_AFTER_TODAY = {("POST", "/v1/activities"): "date"}
_updatable: dict[tuple[str, str], list[str] | None] = {}


def _updatable_paths(case) -> list[str] | None:
    """The paths the operation's `updateMask` pattern lists, parsed once."""
    key = (case.method.upper(), case.operation.path)
    if key not in _updatable:
        paths = None
        for parameter in case.operation.definition.raw.get("parameters", []):
            if parameter.get("name") == "updateMask":
                found = re.match(r"\^\(([^)]*)\)", parameter.get("schema", {}).get("pattern", ""))
                paths = found.group(1).split("|") if found else None
        _updatable[key] = paths
    return _updatable[key]


def _as_date(value):
    try:
        if isinstance(value, str):
            return date.fromisoformat(value)
        if isinstance(value, dict):
            return date(value["year"], value["month"], value["day"])
    except (KeyError, TypeError, ValueError):
        pass
    return None


def _like(value, day: date):
    """`day` in the form `value` had (an ISO string or a Date object)."""
    if isinstance(value, str):
        return day.isoformat()
    return {"year": day.year, "month": day.month, "day": day.day}


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _amounts_in_order(container: dict) -> None:
    low, high = container.get("minAmountMinor"), container.get("maxAmountMinor")
    try:
        if low is not None and high is not None and int(low) > int(high):
            container["minAmountMinor"], container["maxAmountMinor"] = high, low
    except (TypeError, ValueError):
        pass


def _dates_in_range(container: dict, span: timedelta) -> None:
    start, end = _as_date(container.get("startDate")), _as_date(container.get("endDate"))
    if start is not None and "endDate" not in container:
        # The range ends today (UTC): it starts on or before it.
        today = _today()
        if start > today or today - start > span:
            start = today - timedelta(days=abs((today - start).days) % span.days)
            container["startDate"] = _like(container["startDate"], start)
        return
    if start is None or end is None:
        return
    if end < start:
        start, end = end, start
    if end - start > span:
        end = start + timedelta(days=(end - start).days % span.days)
    container["startDate"] = _like(container["startDate"], start)
    container["endDate"] = _like(container["endDate"], end)


@schemathesis.hook
def filter_case(context, case):
    paths = _updatable_paths(case)
    if paths is None or not (_positive_at(case, QUERY) and _positive_at(case, BODY)):
        return True
    return isinstance(case.body, dict) and any(key in paths for key in case.body)


def _mask_fits_body(case) -> None:
    """A valid update's mask: the updatable fields its body sets."""
    paths = _updatable_paths(case)
    if paths is not None and _positive_at(case, QUERY) and isinstance(case.body, dict):
        given = [key for key in case.body if key in paths]
        if given:
            case.query = {**(case.query or {}), "updateMask": ",".join(given)}


@schemathesis.hook
def map_case(context, case):
    _mask_fits_body(case)
    span = _span(case.operation.path)
    if _positive_at(case, QUERY) and isinstance(case.query, dict):
        _amounts_in_order(case.query)
        _dates_in_range(case.query, span)
    if _positive_at(case, BODY) and isinstance(case.body, dict):
        _amounts_in_order(case.body)
        _dates_in_range(case.body, span)
        field = _NOT_AFTER_TODAY.get((case.method.upper(), case.operation.path))
        day = _as_date(case.body.get(field)) if field else None
        today = _today()
        if day is not None and day > today:
            back = timedelta(days=(day - today).days % (100 * 365))
            case.body[field] = _like(case.body[field], today - back)
        same = case.body.get("fromAccountId")
        if isinstance(same, str) and same and same == case.body.get("toAccountId"):
            last = "0" if same[-1] != "0" else "1"
            case.body["toAccountId"] = same[:-1] + last
    return case


# The rules only the service can judge (schemathesis_refusals.json): on the
# operations listed there, positive_data_acceptance takes a 400
# (schemathesis.sh says so in its configuration), and this check fails the
# 400s that give any other reason.
_REFUSALS = json.loads((Path(__file__).with_name("schemathesis_refusals.json")).read_text())["operations"]


def _explained(violation: tuple[str, str], reasons: list[dict]) -> bool:
    field, description = violation
    for reason in reasons:
        if "message" in reason:
            if field == "" and reason["message"] in description:
                return True
            continue
        stated = reason["field"]
        if field == stated or field.startswith((stated + ".", stated + "[")):
            if re.search(reason["description"], description):
                return True
    return False


@schemathesis.check
def positive_data_refused_for_a_stated_reason(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    reasons = _REFUSALS.get(f"{case.method.upper()} {case.operation.path}")
    if reasons is None:
        # positive_data_acceptance refuses every 400 here.
        return None
    try:
        status = response.json()
    except ValueError:
        status = {}
    violations = [
        (v.get("field", ""), v.get("description", ""))
        for detail in status.get("details", [])
        for v in detail.get("fieldViolations", [])
    ] or [("", status.get("message", ""))]
    unexplained = [v for v in violations if not _explained(v, reasons)]
    if unexplained:
        raise AssertionError(
            "A schema-valid request was refused for a reason the document could state, "
            f"or that schemathesis_refusals.json does not list: {unexplained}"
        )
    return None
