"""Schemathesis hooks for deploy/scripts/schemathesis.sh: the gateway's watch
streams (server-streaming RPCs, `application/x-ndjson`, one message per line).

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
import threading

import schemathesis
import schemathesis.transport.requests as requests_transport
from schemathesis.core.transport import STREAM_CUT_SHORT_ATTRIBUTE
from urllib3.exceptions import ReadTimeoutError

NDJSON = "application/x-ndjson"

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
    if case.path not in _GUESSING_PATHS:
        return
    with _guesses_lock:
        n = next(_guesses)
    address = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    case.headers = {**(case.headers or {}), "X-Forwarded-For": address}
