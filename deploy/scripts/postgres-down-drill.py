#!/usr/bin/env python3
"""The load and the checks of the Postgres-down drill (postgres-down-drill.sh
starts Postgres and FREEDUMB, then runs this; Python 3 standard library and
grpcurl only).

    postgres-down-drill.py --api URL --admin URL --grpc HOST:PORT --pid PID \
        --pg-stop SCRIPT --pg-start SCRIPT [--outage SECONDS]

1. Signs up, opens an account, and starts the load: writer threads creating
   transactions over REST (each with its own request id and description; a
   503 or 409 is retried with the same request id after the RetryInfo's
   delay), two reader threads (GetAccount, ListTransactions), a /ready
   poller.
2. After a few acknowledged writes, runs --pg-stop (Postgres killed), keeps
   the load on for --outage seconds, tries one gRPC call with grpcurl and one
   REST login meanwhile, then runs --pg-start.
3. Waits for writes and /ready to come back by themselves, stops the load
   and lists the account's transactions.

Fails (exit 1, with the offending responses) unless: every failure is a 503
whose body is a google.rpc.Status with code UNAVAILABLE (14) and a
google.rpc.RetryInfo (or a 409 ABORTED with one); writes and reads answered
503 during the outage, and gRPC UNAVAILABLE with RetryInfo; /ready turned 503
within READY_DOWN_WITHIN seconds of the stop and 200 within RECOVERY_WITHIN
seconds of the start; writes succeeded again within RECOVERY_WITHIN seconds
and no call failed from 1 s after that;
every acknowledged transaction is listed exactly once, nothing else is, and
the balance is the opening balance plus their amounts; the process (--pid)
never exited.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

WRITERS = 4
READERS = 2
READY_DOWN_WITHIN = 5.0
RECOVERY_WITHIN = 30.0
AFTER_RECOVERY = 4.0
OPENING_MINOR = 1_000_000
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
UNAVAILABLE = 14
ABORTED = 10


def now():
    return time.monotonic()


class Drill:
    def __init__(self, args):
        self.args = args
        self.t0 = now()
        self.lock = threading.Lock()
        self.calls = []  # dicts: kind, start, end, status, body
        self.ready = []  # (time, status)
        self.acked = {}  # request id -> (transaction id, amount, description)
        self.stop = threading.Event()
        self.stop_ready = threading.Event()
        self.token = None
        self.account = None
        self.t_down = None
        self.t_start_cmd = None
        self.t_up = None
        self.grpc = None
        self.exited = None

    def rel(self, t):
        return t - self.t0

    # --- HTTP ---------------------------------------------------------------

    def http(self, method, url, body=None, timeout=20.0, token=None):
        """(status or None, parsed JSON or text or the transport error)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("content-type", "application/json")
        if token:
            request.add_header("authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (OSError, urllib.error.URLError) as e:
            return None, f"{type(e).__name__}: {e}"
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def call(self, kind, method, path, body=None):
        start = now()
        status, answer = self.http(method, self.args.api + path, body, token=self.token)
        end = now()
        with self.lock:
            self.calls.append(
                {"kind": kind, "start": start, "end": end, "status": status, "body": answer}
            )
        return status, answer

    # --- the load -----------------------------------------------------------

    def writer(self, w):
        i = 0
        while not self.stop.is_set():
            i += 1
            request_id = f"pg-drill-{self.run}-w{w}-{i}"
            description = f"postgres-down drill, writer {w}, write {i}"
            amount = -(w * 10_000 + i)
            body = {
                "accountId": self.account,
                "amount": {"currencyCode": "EUR", "amountMinor": str(amount)},
                "date": {"year": 2026, "month": 1, "day": 1 + (i % 28)},
                "description": description,
                "requestId": request_id,
            }
            # One logical write, retried with the same request id until it
            # is acknowledged (even after the stop: nothing is left unknown).
            deadline = now() + 60
            while now() < deadline:
                status, answer = self.call("write", "POST", "/v1/transactions", body)
                if status is not None and 200 <= status < 300:
                    tx = answer.get("transaction", {}) if isinstance(answer, dict) else {}
                    with self.lock:
                        self.acked[request_id] = (tx.get("id"), amount, description)
                    break
                time.sleep(retry_delay(answer))
            else:
                with self.lock:
                    self.acked[request_id] = (None, amount, description)

    def reader(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            if n % 2:
                self.call("read", "GET", f"/v1/accounts/{self.account}")
            else:
                self.call("read", "GET", f"/v1/transactions?accountId={self.account}&pageSize=5")
            time.sleep(0.1)

    def ready_poller(self):
        while not self.stop_ready.is_set():
            status, _ = self.http("GET", self.args.admin + "/ready", timeout=10)
            with self.lock:
                self.ready.append((now(), status))
            try:
                os.kill(self.args.pid, 0)
            except OSError:
                self.exited = now()
                return
            time.sleep(0.25)

    # --- the outage ---------------------------------------------------------

    def grpc_call(self):
        """GetAccount over gRPC with grpcurl, during the outage."""
        cmd = [
            "grpcurl", "-plaintext", "-format-error", "-max-time", "20",
            "-H", "authorization: Bearer " + self.token,
            "-d", json.dumps({"account_id": self.account}),
            self.args.grpc, "freedumb.ledger.v1.LedgerService/GetAccount",
        ]
        start = now()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        end = now()
        out = (done.stdout + done.stderr).strip()
        parsed = None
        match = re.search(r"\{.*\}", out, re.S)
        if match:
            try:
                parsed = json.loads(match.group(0))
            except ValueError:
                parsed = None
        self.grpc = {"exit": done.returncode, "output": out, "status": parsed, "start": start, "end": end}

    def run_script(self, path):
        done = subprocess.run([path], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            sys.exit(f"{path} failed ({done.returncode}): {done.stdout}{done.stderr}")

    # --- the drill ----------------------------------------------------------

    def main(self):
        self.run = uuid.uuid4().hex[:8]
        email = f"pg-drill-{self.run}@freedumb.invalid"
        status, answer = self.http(
            "POST", self.args.api + "/v1/auth:register",
            {"email": email, "password": f"postgres down drill {self.run}"},
        )
        if status != 200:
            sys.exit(f"sign-up failed: {status} {answer}")
        self.token = answer["tokens"]["accessToken"]
        status, answer = self.http(
            "POST", self.args.api + f"/v1/accounts?requestId=pg-drill-{self.run}",
            {"name": "Drill", "kind": "ACCOUNT_KIND_CHECKING",
             "openingBalance": {"currencyCode": "EUR", "amountMinor": str(OPENING_MINOR)}},
            token=self.token,
        )
        if status != 200:
            sys.exit(f"opening the account failed: {status} {answer}")
        self.account = answer["account"]["id"]
        say(f"signed up, account {self.account}; load: {WRITERS} writers, {READERS} readers, /ready every 0.25 s")

        threads = [threading.Thread(target=self.writer, args=(w,), daemon=True) for w in range(WRITERS)]
        threads += [threading.Thread(target=self.reader, daemon=True) for _ in range(READERS)]
        poller = threading.Thread(target=self.ready_poller, daemon=True)
        for t in threads + [poller]:
            t.start()

        warm = now() + 60
        while now() < warm and (len(self.acked) < 20 or now() - self.t0 < 3):
            time.sleep(0.2)
        if len(self.acked) < 20:
            self.finish(threads, poller)
            sys.exit(f"only {len(self.acked)} writes acknowledged in a minute before the outage")
        say(f"{len(self.acked)} writes acknowledged; stopping Postgres (immediate) for {self.args.outage:g} s")

        self.run_script(self.args.pg_stop)
        self.t_down = now()

        # One gRPC call and one login, each answered within the outage
        # (the pool waits 5 s for a connection before it gives up).
        def login():
            time.sleep(1)
            self.call("login", "POST", "/v1/auth:login",
                      {"email": email, "password": f"postgres down drill {self.run}"})

        def grpc():
            time.sleep(1)
            self.grpc_call()

        probes = [threading.Thread(target=f, daemon=True) for f in (login, grpc)]
        for t in probes:
            t.start()
        rest = self.t_down + self.args.outage - now()
        if rest > 0:
            time.sleep(rest)
        self.t_start_cmd = now()
        self.run_script(self.args.pg_start)
        self.t_up = now()
        for t in probes:
            t.join(timeout=30)
        say(f"Postgres started again after {self.t_start_cmd - self.t_down:.1f} s, accepting "
            f"{self.t_up - self.t_start_cmd:.1f} s later (crash recovery); waiting for FREEDUMB to recover")

        deadline = self.t_up + RECOVERY_WITHIN
        while now() < deadline and (self.first_write_ok() is None or self.first_ready_ok() is None):
            time.sleep(0.2)
        if self.first_write_ok() is not None:
            time.sleep(AFTER_RECOVERY)
        self.finish(threads, poller)
        return self.verify()

    def finish(self, threads, poller):
        self.stop.set()
        for t in threads:
            t.join(timeout=70)
        self.stop_ready.set()
        poller.join(timeout=15)

    def first_write_ok(self):
        with self.lock:
            ends = [c["end"] for c in self.calls
                    if c["kind"] == "write" and c["start"] >= self.t_up and ok(c["status"])]
        return min(ends) if ends else None

    def first_ready_ok(self):
        with self.lock:
            times = [t for t, s in self.ready if t >= self.t_up and s == 200]
        return min(times) if times else None

    # --- the checks ---------------------------------------------------------

    def verify(self):
        failures = []
        calls = self.calls

        def during(c):
            return self.t_down <= c["start"] < self.t_start_cmd

        # Every failure is a well-formed, retryable UNAVAILABLE (or ABORTED).
        bad = [c for c in calls if not ok(c["status"]) and not retryable(c["status"], c["body"])]
        if bad:
            failures.append(f"{len(bad)} responses are neither 2xx nor a 503 UNAVAILABLE "
                            f"(or 409 ABORTED) with RetryInfo; the first ones:")
            failures += [f"  {self.show(c)}" for c in bad[:5]]
        for kind in ("write", "read"):
            n = sum(1 for c in calls if c["kind"] == kind and during(c) and c["status"] == 503)
            if n == 0:
                failures.append(f"no {kind} answered 503 while Postgres was down")
        login = [c for c in calls if c["kind"] == "login"]
        if not login or login[0]["end"] > self.t_start_cmd:
            failures.append("the login during the outage was not answered before Postgres came back"
                            + (f": {self.show(login[0])}" if login else ""))
        elif login[0]["status"] != 503:
            failures.append(f"a login during the outage was not a 503: {self.show(login[0])}")

        g = self.grpc or {}
        st = g.get("status") or {}
        types = [d.get("@type") for d in st.get("details", []) if isinstance(d, dict)]
        if not g or g["end"] > self.t_start_cmd:
            failures.append("the gRPC call during the outage was not answered before Postgres came back")
        elif st.get("code") != UNAVAILABLE or RETRY_INFO not in types:
            failures.append("gRPC GetAccount during the outage is not UNAVAILABLE with a RetryInfo: "
                            f"grpcurl exit {g.get('exit')}: {g.get('output', '')[:600]}")

        # /ready.
        down = [t for t, s in self.ready if self.t_down <= t <= self.t_start_cmd and s != 200]
        ready_down = (min(down) - self.t_down) if down else None
        wrong = [(t, s) for t, s in self.ready if s not in (200, 503)]
        if ready_down is None or ready_down > READY_DOWN_WITHIN:
            failures.append(f"/ready did not turn 503 within {READY_DOWN_WITHIN:g} s of the stop "
                            f"(statuses during the outage: {sorted({s for t, s in self.ready if self.t_down <= t <= self.t_start_cmd}, key=str)})")
        if wrong:
            failures.append(f"/ready answered neither 200 nor 503: {wrong[:5]}")
        ready_up = self.first_ready_ok()
        if ready_up is None:
            failures.append(f"/ready did not return to 200 within {RECOVERY_WITHIN:g} s of the start")

        # Recovery without a restart.
        write_up = self.first_write_ok()
        if write_up is None:
            failures.append(f"no write succeeded within {RECOVERY_WITHIN:g} s of Postgres starting again")
        if self.exited is not None:
            failures.append(f"freedumb (pid {self.args.pid}) exited at +{self.rel(self.exited):.1f} s")
        late = [c for c in calls if write_up is not None and c["start"] > write_up + 1 and not ok(c["status"])]
        if late:
            failures.append(f"{len(late)} calls still failed more than 1 s after the recovery; the first: {self.show(late[0])}")

        # Nothing acknowledged is lost, nothing is written twice.
        unacked = [r for r, (tid, _, _) in self.acked.items() if not tid]
        if unacked:
            failures.append(f"{len(unacked)} writes were never acknowledged (retried for 60 s): {unacked[:3]}")
        listed = self.list_all()
        listed_ids = [t["id"] for t in listed]
        acked_ids = {tid for tid, _, _ in self.acked.values() if tid}
        lost = acked_ids - set(listed_ids)
        extra = set(listed_ids) - acked_ids
        dups = len(listed_ids) - len(set(listed_ids))
        by_desc = {}
        for t in listed:
            by_desc.setdefault(t.get("description"), []).append(t["id"])
        twice = {d: ids for d, ids in by_desc.items() if len(ids) > 1}
        if lost:
            failures.append(f"{len(lost)} acknowledged transactions are missing: {sorted(lost)[:5]}")
        if extra:
            failures.append(f"{len(extra)} transactions exist that no write acknowledged: {sorted(extra)[:5]}")
        if dups or twice:
            failures.append(f"written twice: {dups} repeated ids, descriptions {list(twice.items())[:3]}")
        for t in listed:
            want = next((a for tid, a, _ in self.acked.values() if tid == t["id"]), None)
            if want is not None and int(t["amount"]["amountMinor"]) != want:
                failures.append(f"transaction {t['id']} has amount {t['amount']} instead of {want}")
                break
        status, answer = self.call("final", "GET", f"/v1/accounts/{self.account}")
        expected = OPENING_MINOR + sum(a for tid, a, _ in self.acked.values() if tid)
        balance = None
        if ok(status):
            balance = int(answer["account"]["balance"]["amountMinor"])
            if balance != expected:
                failures.append(f"balance {balance} != opening + acknowledged amounts = {expected}")
        else:
            failures.append(f"GetAccount after the drill: {self.show(self.calls[-1])}")

        # The summary.
        say("responses (ok / 503 / other):")
        for kind in ("write", "read", "login", "list", "final"):
            cs = [c for c in calls if c["kind"] == kind]
            if not cs:
                continue
            n_ok = sum(ok(c["status"]) for c in cs)
            n_503 = sum(c["status"] == 503 for c in cs)
            say(f"  {kind:6} {n_ok:5} / {n_503:4} / {len(cs) - n_ok - n_503}")
        n_during = sum(1 for c in calls if during(c))
        slowest = max((c["end"] - c["start"] for c in calls if c["status"] == 503), default=0)
        say(f"outage: Postgres stopped at +{self.rel(self.t_down):.1f} s, started at "
            f"+{self.rel(self.t_start_cmd):.1f} s, accepting at +{self.rel(self.t_up):.1f} s; "
            f"{n_during} calls made meanwhile; the slowest 503 took {slowest:.1f} s")
        say("/ready: 503 " + fmt(ready_down, "after the stop") + ", 200 again "
            + fmt(None if ready_up is None else ready_up - self.t_up, "after the start"))
        say("writes: ok again " + fmt(None if write_up is None else write_up - self.t_up, "after the start")
            + ", without restarting freedumb")
        sample = next((c for c in calls if c["kind"] == "write" and c["status"] == 503), None)
        if sample:
            say(f"a 503 body: {json.dumps(sample['body'])[:400]}")
        say(f"gRPC during the outage: {describe_grpc(st)}")
        say(f"acknowledged {len(acked_ids)} transactions, listed {len(listed_ids)}; "
            f"balance {balance}, expected {expected}")
        if failures:
            for f in failures:
                print(f"postgres-down-drill: FAILED: {f}", file=sys.stderr)
            return 1
        return 0

    def list_all(self):
        out, token = [], ""
        for _ in range(100):
            path = f"/v1/transactions?accountId={self.account}&pageSize=1000"
            if token:
                path += "&pageToken=" + urllib.parse.quote(token)
            status, answer = self.call("list", "GET", path)
            if not ok(status):
                sys.exit(f"listing the transactions failed: {self.show(self.calls[-1])}")
            out += answer.get("transactions", [])
            token = answer.get("nextPageToken", "")
            if not token:
                break
        return out

    def show(self, c):
        body = c["body"] if isinstance(c["body"], str) else json.dumps(c["body"])
        return f"{c['kind']} at +{self.rel(c['start']):.1f} s ({c['end'] - c['start']:.1f} s): HTTP {c['status']} {body[:500]}"


def ok(status):
    return status is not None and 200 <= status < 300


def retryable(status, body):
    """A 503 UNAVAILABLE or a 409 ABORTED, as a google.rpc.Status with a RetryInfo."""
    if not isinstance(body, dict):
        return False
    want = {503: UNAVAILABLE, 409: ABORTED}.get(status)
    types = [d.get("@type") for d in body.get("details", []) if isinstance(d, dict)]
    return want is not None and body.get("code") == want and RETRY_INFO in types


def retry_delay(body):
    """The RetryInfo's delay, between 0.1 and 1 s (0.5 s without one)."""
    if isinstance(body, dict):
        for d in body.get("details", []):
            if isinstance(d, dict) and d.get("@type") == RETRY_INFO:
                try:
                    return min(1.0, max(0.1, float(str(d.get("retryDelay", "0.5s")).rstrip("s"))))
                except ValueError:
                    break
    return 0.5


def describe_grpc(status):
    if not status:
        return "no status"
    types = [d.get("@type", "?").rsplit(".", 1)[-1] for d in status.get("details", []) if isinstance(d, dict)]
    return f"code {status.get('code')} ({status.get('message')!r}), details {types}"


def fmt(seconds, since):
    return "never" if seconds is None else f"{seconds:.1f} s {since}"


def say(msg):
    print(f"postgres-down-drill: {msg}", flush=True)


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--api", required=True, help="the REST gateway, http://127.0.0.1:PORT")
    p.add_argument("--admin", required=True, help="the admin port, http://127.0.0.1:PORT")
    p.add_argument("--grpc", required=True, help="the gRPC listener, 127.0.0.1:PORT")
    p.add_argument("--pid", required=True, type=int, help="freedumb's process id")
    p.add_argument("--pg-stop", required=True, help="a script that stops Postgres")
    p.add_argument("--pg-start", required=True, help="a script that starts Postgres and waits for it")
    p.add_argument("--outage", type=float, default=10.0, help="seconds Postgres stays down")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(Drill(parse()).main())
