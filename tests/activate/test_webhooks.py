"""Webhooks (issue 14, part 3): audiences and membership changes posted, signed, in batches,
to a real HTTP server on the loopback that fails, times out, answers 429 and 400, and
checks every signature it receives."""

from __future__ import annotations

import json
import random
import shutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

import microseg.segments
from microseg import ConfigError, Workspace, load_config
from microseg.activate import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    verify_signature,
)
from microseg.activate._webhooks import _retry_after
from microseg.cli import app
from microseg.config import DestinationSpec
from microseg.core.errors import ParameterError
from microseg.synth import generate_shop
from tests.conftest import NOW, write

SECRET = "test-secret-0123456789"
ENV = "MICROSEG_TEST_HOOK_SECRET"

CUSTOMERS = """
customer_id,email,phone,city
C1,c1@example.com,+33677187530,Lyon
C2,c2@example.com,,Lyon
C3,c3@example.com,+33612345678,Lyon
C4,c4@example.com,,Paris
C5,c5@example.com,+33698765432,Paris
"""
# from June 2025 C1 lives in Paris and C5 in Lyon: C5 enters "lyon", C1 leaves it
MOVES = """
customer_id,valid_from,city
C1,2025-06-01T00:00:00Z,Paris
C5,2025-06-01T00:00:00Z,Lyon
"""
SEGMENT = "name: lyon\nrule:\n  attribute: city\n  eq: Lyon\n"
BEFORE, AFTER = "2025-05-01", "2025-07-01"


# -- the receiver: a real HTTP server on 127.0.0.1 ------------------------------------------


class Receiver:
    """What the test server saw. Paths choose its behaviour, per idempotency key:

    /ok     200
    /flaky  500 on the first post of a batch, then 200
    /always 500, always
    /slow   the first post of a batch waits longer than the client's timeout, then 200
    /busy   429 with Retry-After: 2 on the first post of a batch, then 200
    /later  429 with Retry-After: 3600 on the first post of a batch, then 200
    /bad    400, always
    /strict 400 while ``refuse`` is set, then 200

    A receiver that processed a batch answers 200 to its repeats without processing again,
    as real receivers do with the Idempotency-Key; ``duplicates`` counts such repeats.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.bad_signatures: list[str] = []
        self.processed: dict[str, dict[str, Any]] = {}
        self.duplicates: list[str] = []
        self.posts: Counter[tuple[str, str]] = Counter()
        self.refuse = True
        self.now: float | None = NOW.timestamp()  # None: the real clock (CLI tests)
        self.slow_seconds = 1.0

    def handle(
        self, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes, float]:
        """(status, headers, body, seconds to wait before answering) for one post."""
        key = headers.get(IDEMPOTENCY_HEADER, "")
        good = verify_signature(
            SECRET, body, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER),
            now=self.now,
        )  # fmt: skip
        with self.lock:
            self.posts[(path, key)] += 1
            attempt = self.posts[(path, key)]
            self.requests.append({"path": path, "key": key, "attempt": attempt, "good": good})
            if not good:
                self.bad_signatures.append(key)
                return 401, {}, b"bad signature", 0.0
        if path == "/slow" and attempt == 1:
            # the client gives up first; this post is not processed (a gateway timeout)
            return 504, {}, b"too slow", self.slow_seconds
        status, extra = self._behaviour(path, attempt)
        if status == 200:
            with self.lock:
                if key in self.processed:
                    self.duplicates.append(key)
                else:
                    self.processed[key] = json.loads(body)
        answer = b'{"ok": true}' if status == 200 else b"unknown field 'segmnt'"
        return status, extra, answer, 0.0

    def _behaviour(self, path: str, attempt: int) -> tuple[int, dict[str, str]]:
        first = attempt == 1
        if (path == "/flaky" and first) or path == "/always":
            return 500, {}
        if path == "/busy" and first:
            return 429, {"Retry-After": "2"}
        if path == "/later" and first:
            return 429, {"Retry-After": "3600"}
        if path == "/bad" or (path == "/strict" and self.refuse):
            return 400, {}
        return 200, {}

    def keys_processed(self, path: str) -> list[str]:
        with self.lock:
            return sorted(
                {r["key"] for r in self.requests if r["path"] == path} & set(self.processed)
            )


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = min(int(self.headers.get("Content-Length") or 0), 10_000_000)
        body = self.rfile.read(length)
        status, headers, answer, delay = self.server.receiver.handle(self.path, self.headers, body)
        if delay:
            threading.Event().wait(delay)
        self._answer(status, headers, answer)

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the receiver records what it saw."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that left mid-answer (the timeout test) is expected, not an error."""


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    """A server on a free loopback port; it stops at the end of the test, or by itself
    after two minutes whatever happens."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.receiver = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    watchdog = threading.Timer(120, server.shutdown)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield server.receiver, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        watchdog.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- the workspace ------------------------------------------------------------------------


def _destinations(ws_path: Path, base: str, **settings: Any) -> None:
    """Append a destination per receiver path to microseg.yaml."""
    lines = ["", "destinations:"]
    for name in ("ok", "flaky", "always", "slow", "busy", "later", "bad", "strict"):
        lines += [f"  {name}:", f"    url: {base}/{name}", f"    secret_env: {ENV}"]
        lines += [f"    {key}: {value}" for key, value in settings.items()]
    config = ws_path / "microseg.yaml"
    config.write_text(config.read_text() + "\n".join(lines) + "\n")


def _open(path: Path, now: datetime = NOW) -> Workspace:
    return Workspace.open(path, clock=lambda: now)


@pytest.fixture
def shop(
    tmp_path: Path, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    monkeypatch.setenv(ENV, SECRET)
    ws = Workspace.init(tmp_path / "ws", timezone="Europe/Paris", clock=lambda: NOW)
    ws.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS))
    ws.ingest("customers", write(tmp_path / "m.csv", MOVES))
    (ws.path / "segments" / "lyon.yaml").write_text(SEGMENT, encoding="utf-8")
    ws.close()
    _destinations(
        tmp_path / "ws", receiver[1], batch_size=2, timeout=0.3, max_attempts=4, backoff=1,
        max_backoff=3,
    )  # fmt: skip
    ws = _open(tmp_path / "ws")
    yield ws
    ws.close()


class Sleeps:
    """An injected sleep: records the waits, waits for nothing."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _batch(ws: Workspace, batch_id: str) -> dict[str, Any]:
    row = ws.store.fetchone(
        "SELECT state, attempts, last_status, last_error FROM webhook_batches WHERE batch_id = $1",
        [batch_id],
    )
    assert row is not None
    return dict(zip(("state", "attempts", "last_status", "last_error"), row, strict=True))


# -- signatures ---------------------------------------------------------------------------


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = b'{"batch_id":"b1"}'
    expected = hmac.new(b"k", b"1767441600." + body, hashlib.sha256).hexdigest()
    assert sign("k", 1767441600, body) == f"sha256={expected}"
    header = sign("k", 1767441600, body)
    assert verify_signature("k", body, "1767441600", header, now=1767441600)
    # a tampered body, another secret, another timestamp, a replay, no header: all refused
    assert not verify_signature(
        "k", body.replace(b"b1", b"b2"), "1767441600", header, now=1767441600
    )
    assert not verify_signature("other", body, "1767441600", header, now=1767441600)
    assert not verify_signature("k", body, "1767441601", header, now=1767441600)
    assert not verify_signature("k", body, "1767441600", header, now=1767441600 + 301)
    assert verify_signature("k", body, "1767441600", header, now=1767441600 + 301, tolerance=None)
    assert not verify_signature("k", body, None, header)
    assert not verify_signature("k", body, "1767441600", None, now=1767441600)


# -- audiences, changes, idempotency --------------------------------------------------------


def test_a_push_to_a_channel_carries_only_who_consented_to_it(
    shop: Workspace, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    server, _ = receiver
    # in July 2025 C2, C3 and C5 live in Lyon; C2 did not opt in to e-mails
    opt_in = "customer_id,valid_from,email_opt_in\nC2,2025-06-15T00:00:00Z,false\n"
    opt_in += "C3,2025-06-15T00:00:00Z,true\nC5,2025-06-15T00:00:00Z,true\n"
    shop.ingest("customers", write(tmp_path / "consent.csv", opt_in))
    pushed = shop.activate.push("lyon", "ok", channel="email", as_of=AFTER)
    assert pushed.members == 2
    shop.activate.deliver(sleep=Sleeps())
    posted = [m for b in pushed.batch_ids for m in server.processed[b]["members"]]
    assert posted == [
        {"customer_id": "C3", "email": "c3@example.com", "phone": None},
        {"customer_id": "C5", "email": "c5@example.com", "phone": None},
    ]


def test_first_push_posts_the_audience_in_signed_batches_once(
    shop: Workspace, receiver: tuple[Receiver, str]
) -> None:
    server, _ = receiver
    pushed = shop.activate.push("lyon", "ok", as_of=BEFORE)
    # C1, C2, C3 live in Lyon in May 2025; batches of 2
    assert (pushed.kind, pushed.members, pushed.batches) == ("audience", 3, 2)
    report = shop.activate.deliver(sleep=Sleeps())
    assert (report.delivered, report.dead) == (2, 0)
    assert sorted(server.processed) == sorted(pushed.batch_ids)
    first, second = (server.processed[b] for b in pushed.batch_ids)
    # without a channel no contact detail leaves the workspace: ids only
    assert first["members"] == [
        {"customer_id": "C1", "email": None, "phone": None},
        {"customer_id": "C2", "email": None, "phone": None},
    ]
    assert second["members"] == [{"customer_id": "C3", "email": None, "phone": None}]
    assert (first["part"], first["parts"], first["segment"], first["destination"]) == (
        1, 2, "lyon", "ok",
    )  # fmt: skip
    assert first["as_of"] == "2025-05-01T22:00:00Z"  # the end of May 1 in Paris, in UTC
    # every post was checked, none was refused, and nothing was posted twice
    assert server.requests
    assert all(r["good"] for r in server.requests)
    assert server.bad_signatures == []
    assert server.duplicates == []
    # a second deliver after success sends nothing
    seen = len(server.requests)
    again = shop.activate.deliver(sleep=Sleeps())
    assert again.delivered == 0
    assert len(server.requests) == seen
    status = {d.destination: d for d in shop.activate.status().destinations}
    assert (status["ok"].delivered, status["ok"].pending, status["ok"].dead) == (2, 0, 0)
    assert status["ok"].delivered_records == 3


def test_a_clock_of_naive_local_times_signs_and_waits_at_the_right_instant(
    shop: Workspace, receiver: tuple[Receiver, str]
) -> None:
    """A workspace clock may give naive times: they are the workspace zone's, as
    everywhere else. The signature's timestamp is that instant (it was read as the
    server's own zone: an hour off in Paris, and every post refused), and a Retry-After
    given as an HTTP date is counted from it (it failed comparing naive with aware)."""
    server, _ = receiver
    path = shop.path
    shop.close()
    paris = NOW.astimezone(ZoneInfo("Europe/Paris")).replace(tzinfo=None)
    ws = _open(path, now=paris)
    try:
        ws.activate.push("lyon", "ok", as_of=BEFORE)
        report = ws.activate.deliver(sleep=Sleeps())
        assert (report.delivered, report.dead) == (2, 0)
        assert server.requests
        assert all(r["good"] for r in server.requests)
        later = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
        assert _retry_after(later, ws.context.now()) == 90.0
    finally:
        ws.close()


def test_later_pushes_post_who_entered_and_who_left(
    shop: Workspace, receiver: tuple[Receiver, str]
) -> None:
    server, _ = receiver
    shop.activate.push("lyon", "ok", as_of=BEFORE)
    changes = shop.activate.push("lyon", "ok", as_of=AFTER)
    assert (changes.kind, changes.members, changes.entered, changes.left) == ("changes", 3, 1, 1)
    assert changes.batches == 1
    shop.activate.deliver(sleep=Sleeps())
    body = server.processed[changes.batch_ids[0]]
    assert body["kind"] == "changes"
    assert body["entered"] == [
        {"customer_id": "C5", "email": None, "phone": None}  # no channel: no contact detail
    ]
    assert body["left"] == [{"customer_id": "C1"}]
    # nothing moved since: nothing to post
    quiet = shop.activate.push("lyon", "ok", as_of=AFTER)
    assert (quiet.entered, quiet.left, quiet.batches) == (0, 0, 0)


# -- retries --------------------------------------------------------------------------------


def test_a_5xx_is_retried_after_a_jittered_backoff_then_delivered(
    shop: Workspace, receiver: tuple[Receiver, str]
) -> None:
    server, _ = receiver
    pushed = shop.activate.push("lyon", "flaky", as_of=BEFORE)
    sleeps = Sleeps()
    report = shop.activate.deliver(sleep=sleeps, rng=random.Random(3))
    assert (report.delivered, report.dead, report.destinations[0].retries) == (2, 0, 2)
    # one wait per failed post, each within [0, backoff * 2**0] (full jitter)
    assert len(sleeps.waits) == 2
    assert all(0 <= w <= 1 for w in sleeps.waits)
    assert len(set(sleeps.waits)) == 2  # jittered, not a fixed wait
    for batch_id in pushed.batch_ids:
        assert _batch(shop, batch_id)["attempts"] == 2
        assert _batch(shop, batch_id)["state"] == "delivered"
    assert server.keys_processed("/flaky") == sorted(pushed.batch_ids)
    assert server.duplicates == []
    assert server.bad_signatures == []


def test_the_last_failed_attempt_parks_the_batch_with_its_reason(
    shop: Workspace, receiver: tuple[Receiver, str]
) -> None:
    server, _ = receiver
    pushed = shop.activate.push("lyon", "always", as_of=BEFORE)
    sleeps = Sleeps()
    report = shop.activate.deliver(sleep=sleeps, rng=random.Random(1))
    assert (report.delivered, report.dead) == (0, 2)
    # 4 attempts per batch, 3 waits each, the n-th within [0, min(3, 2**(n-1))]
    assert len(sleeps.waits) == 6
    for n, wait in enumerate(sleeps.waits[:3], start=1):
        assert 0 <= wait <= min(3, 2 ** (n - 1))
    assert server.posts[("/always", pushed.batch_ids[0])] == 4
    status = {d.destination: d for d in shop.activate.status().destinations}["always"]
    assert (status.delivered, status.pending, status.dead) == (0, 0, 2)
    reasons = {b.batch_id: b.reason for b in status.dead_batches}
    assert set(reasons) == set(pushed.batch_ids)
    assert all(r and r.startswith("HTTP 500") and "attempt 4 of 4" in r for r in reasons.values())
    # a dead batch is not posted again by deliver
    seen = len(server.requests)
    shop.activate.deliver(sleep=Sleeps())
    assert len(server.requests) == seen


def test_a_timeout_is_retried_and_the_batch_processed_once(
    shop: Workspace, receiver: tuple[Receiver, str]
) -> None:
    server, _ = receiver
    pushed = shop.activate.push("lyon", "slow", as_of=BEFORE)
    report = shop.activate.deliver(sleep=Sleeps(), rng=random.Random(0))
    assert (report.delivered, report.destinations[0].retries) == (2, 2)
    assert server.keys_processed("/slow") == sorted(pushed.batch_ids)
    assert server.duplicates == []
    for batch_id in pushed.batch_ids:
        assert _batch(shop, batch_id)["attempts"] == 2


def test_a_connection_error_is_retried_then_dead(shop: Workspace) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = shop.path / "microseg.yaml"
    config.write_text(
        config.read_text()
        + f"  closed:\n    url: http://127.0.0.1:{port}/x\n    secret_env: {ENV}\n"
        + "    max_attempts: 2\n    batch_size: 2\n"
    )
    shop.close()
    ws = _open(shop.path)
    try:
        ws.activate.push("lyon", "closed", as_of=BEFORE)
        report = ws.activate.deliver("closed", sleep=Sleeps())
        assert (report.dead, report.destinations[0].retries) == (2, 2)
        status = {d.destination: d for d in ws.activate.status().destinations}
        dead = status["closed"].dead_batches
        assert all((b.reason or "").startswith("cannot connect") for b in dead)
        assert all(b.attempts == 2 for b in dead)
    finally:
        ws.close()


def test_429_waits_for_retry_after(shop: Workspace, receiver: tuple[Receiver, str]) -> None:
    server, _ = receiver
    pushed = shop.activate.push("lyon", "busy", as_of=BEFORE)
    sleeps = Sleeps()
    report = shop.activate.deliver(sleep=sleeps)
    assert report.delivered == 2
    assert sleeps.waits == [2.0, 2.0]  # Retry-After, not the backoff
    assert server.keys_processed("/busy") == sorted(pushed.batch_ids)


def test_a_retry_after_beyond_max_wait_leaves_the_batches_for_later(
    shop: Workspace, receiver: tuple[Receiver, str]
) -> None:
    """A 429 asking for an hour pauses the destination: its batches wait for a deliver
    an hour later, the next batch is not posted meanwhile."""
    server, _ = receiver
    pushed = shop.activate.push("lyon", "later", as_of=BEFORE)
    sleeps = Sleeps()
    report = shop.activate.deliver(sleep=sleeps)
    assert (report.delivered, report.destinations[0].waiting) == (0, 2)
    assert sleeps.waits == []  # an hour is not waited for in-process
    assert len(server.requests) == 1  # the second batch was not posted into the pause
    assert {_batch(shop, b)["state"] for b in pushed.batch_ids} == {"pending"}
    # not due yet: nothing is posted
    assert shop.activate.deliver(sleep=sleeps).delivered == 0
    assert len(server.requests) == 1
    shop.close()
    for hours in (1, 2):  # the second batch gets its own 429 in the first hour
        moment = NOW + timedelta(hours=hours, seconds=1)
        server.now = moment.timestamp()
        later = _open(shop.path, moment)
        try:
            assert later.activate.deliver(sleep=sleeps).delivered == 1
        finally:
            later.close()
    assert server.keys_processed("/later") == sorted(pushed.batch_ids)
    assert server.bad_signatures == []


# -- 4xx, dead letters and resend -----------------------------------------------------------


def test_a_4xx_is_dead_at_once_with_the_reason(
    shop: Workspace, receiver: tuple[Receiver, str]
) -> None:
    server, _ = receiver
    pushed = shop.activate.push("lyon", "bad", as_of=BEFORE)
    sleeps = Sleeps()
    report = shop.activate.deliver(sleep=sleeps)
    assert report.dead == 2
    assert sleeps.waits == []
    assert server.posts[("/bad", pushed.batch_ids[0])] == 1
    batch = _batch(shop, pushed.batch_ids[0])
    assert (batch["state"], batch["attempts"], batch["last_status"]) == ("dead", 1, 400)
    assert "HTTP 400 Bad Request: unknown field 'segmnt'" in batch["last_error"]
    assert "would not succeed" in batch["last_error"]


def test_dead_batches_are_resent_by_id_or_all_and_delivered(
    shop: Workspace, receiver: tuple[Receiver, str]
) -> None:
    server, _ = receiver
    pushed = shop.activate.push("lyon", "strict", as_of=BEFORE)
    shop.activate.deliver(sleep=Sleeps())
    dead = {d.destination: d for d in shop.activate.status().destinations}["strict"]
    assert sorted(b.batch_id for b in dead.dead_batches) == sorted(pushed.batch_ids)
    server.refuse = False  # the receiver was fixed
    one = shop.activate.resend(pushed.batch_ids[0])
    assert (one.requeued, one.destinations) == ([pushed.batch_ids[0]], ["strict"])
    assert shop.activate.deliver(sleep=Sleeps()).delivered == 1
    rest = shop.activate.resend(dead=True)
    assert rest.requeued == [pushed.batch_ids[1]]
    assert shop.activate.deliver(sleep=Sleeps()).delivered == 1
    status = {d.destination: d for d in shop.activate.status().destinations}["strict"]
    assert (status.delivered, status.dead, status.dead_batches) == (2, 0, [])
    assert server.keys_processed("/strict") == sorted(pushed.batch_ids)
    # the dead letters stay as history, stamped with their requeue
    requeued = shop.store.scalar(
        "SELECT count(*) FROM webhook_dead_letters WHERE requeued_at IS NOT NULL"
    )
    assert requeued == 2
    # a delivered batch is never resent; an unknown one is named
    with pytest.raises(ParameterError, match="never sent again"):
        shop.activate.resend(pushed.batch_ids[0])
    with pytest.raises(ParameterError, match="no webhook batch 'nope'"):
        shop.activate.resend("nope")
    with pytest.raises(ParameterError, match="not both"):
        shop.activate.resend(pushed.batch_ids[0], dead=True)


# -- configuration ------------------------------------------------------------------------


def test_a_secret_in_the_file_is_refused(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws", clock=lambda: NOW)
    ws.close()
    config = tmp_path / "ws" / "microseg.yaml"
    lines = config.read_text().count("\n")
    config.write_text(
        config.read_text()
        + "destinations:\n  crm:\n    url: https://crm.example/hook\n"
        + f"    secret_env: {ENV}\n    secret: hunter2-very-secret\n"
    )
    with pytest.raises(ConfigError) as caught:
        Workspace.open(tmp_path / "ws")
    message = str(caught.value)
    assert f"microseg.yaml:{lines + 2}" in message  # the destination's line
    assert "destinations.crm" in message
    assert "'secret' would hold a secret in microseg.yaml" in message
    assert "secret_env" in message
    assert "hunter2" not in message  # the secret is not echoed
    # nor can secret_env hold the secret itself
    config.write_text(
        config.read_text().replace(
            f"secret_env: {ENV}\n    secret: hunter2-very-secret", "secret_env: hunter2-very-secret"
        )
    )
    with pytest.raises(ConfigError, match="never the secret itself"):
        Workspace.open(tmp_path / "ws")


def test_a_missing_secret_variable_is_named(
    shop: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV)
    with pytest.raises(ConfigError, match=f"environment variable {ENV} is not set") as caught:
        shop.activate.push("lyon", "ok", as_of=BEFORE)
    assert "destinations.ok.secret_env" in str(caught.value)
    assert f"export {ENV}=" in str(caught.value)
    with pytest.raises(ParameterError, match="no destination 'okk'; did you mean 'ok'"):
        shop.activate.push("lyon", "okk")


# -- the command line -----------------------------------------------------------------------


def _cli(ws: Workspace, *args: str) -> Any:
    result = CliRunner().invoke(app, ["--json", "-w", str(ws.path), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_push_status_and_resend(shop: Workspace, receiver: tuple[Receiver, str]) -> None:
    server, _ = receiver
    server.now = None  # the CLI signs with the real clock
    path = shop.path
    shop.close()
    pushed = _cli(shop, "activate", "push", "lyon", "--to", "strict", "--as-of", BEFORE)
    assert pushed["push"]["batches"] == 2
    assert pushed["delivery"]["destinations"][0]["dead"] == 2
    status = _cli(shop, "activate", "status")
    strict = next(d for d in status["destinations"] if d["destination"] == "strict")
    assert (strict["delivered"], strict["pending"], strict["dead"]) == (0, 0, 2)
    assert all("HTTP 400" in b["reason"] for b in strict["dead_batches"])
    assert all(b["died_at"].endswith("Z") for b in strict["dead_batches"])  # instants in UTC
    assert strict["url"].endswith("/strict")
    assert strict["configured"] is True
    server.refuse = False
    resent = _cli(shop, "activate", "resend", "--dead")
    assert sorted(resent["resend"]["requeued"]) == sorted(pushed["push"]["batch_ids"])
    assert resent["delivery"]["destinations"][0]["delivered"] == 2
    status = _cli(shop, "activate", "status")
    strict = next(d for d in status["destinations"] if d["destination"] == "strict")
    assert (strict["delivered"], strict["dead"]) == (2, 0)
    assert server.bad_signatures == []
    assert server.duplicates == []
    # the table fits 80 columns
    table = CliRunner().invoke(app, ["-w", str(path), "activate", "status"], terminal_width=80)
    assert table.exit_code == 0, table.output
    assert "strict" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80


def test_cli_errors_are_one_clear_line(shop: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    shop.close()
    runner = CliRunner()
    result = runner.invoke(app, ["-w", str(shop.path), "activate", "resend", "nope"])
    assert result.exit_code == 2
    assert "no webhook batch 'nope'" in result.stderr
    monkeypatch.delenv(ENV)
    result = runner.invoke(app, ["-w", str(shop.path), "activate", "push", "lyon", "--to", "ok"])
    assert result.exit_code == 1
    assert f"environment variable {ENV} is not set" in result.stderr
    assert "Traceback" not in result.output


def test_the_template_documents_destinations_as_they_behave(tmp_path: Path) -> None:
    """Uncommenting the example of the generated microseg.yaml gives a destination whose
    settings are the ones the comments state, and they are the defaults."""
    ws = Workspace.init(tmp_path / "ws", clock=lambda: NOW)
    ws.close()
    config = tmp_path / "ws" / "microseg.yaml"
    text = config.read_text()
    assert "destinations: {}\n#  crm:" in text
    head, example = text.split("destinations: {}\n")
    lines = [line.replace("#", "", 1) for line in example.splitlines() if line.startswith("#  ")]
    config.write_text(head + "destinations:\n" + "\n".join(lines) + "\n")
    spec = load_config(config).destinations["crm"]
    assert spec.url == "https://crm.example.com/hooks/microseg"
    assert spec.secret_env == "MICROSEG_CRM_SECRET"
    documented = (500, 10, 5, 1, 60, 60)
    settings = (
        spec.batch_size, spec.timeout, spec.max_attempts, spec.backoff, spec.max_backoff,
        spec.max_wait,
    )  # fmt: skip
    assert settings == documented
    assert DestinationSpec(url=spec.url, secret_env=spec.secret_env) == spec  # the defaults


def test_a_synthetic_shop_segment_reaches_the_receiver_whole(
    tmp_path: Path, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the synthetic shop: the receiver gets exactly the segment's members with their
    e-mails, across batches, then exactly who entered and who left a month later."""
    server, base = receiver
    monkeypatch.setenv(ENV, SECRET)
    data = generate_shop(tmp_path / "data", customers=300, seed=3)
    shop_now = datetime(2026, 11, 1, tzinfo=UTC)  # just after the shop's last day
    server.now = shop_now.timestamp()
    ws = Workspace.init(tmp_path / "ws", timezone="Europe/Paris", clock=lambda: shop_now)
    ws.ingest("customers", data.paths["customers"], valid_from="signup_date")
    ws.ingest("events", list(data.event_files))
    examples = Path(microseg.segments.__file__).parent / "examples"
    shutil.copy(examples / "email-never-openers.yaml", ws.path / "segments")
    ws.close()
    _destinations(tmp_path / "ws", base, batch_size=10)
    ws = _open(tmp_path / "ws", shop_now)
    try:
        first, second = "2026-09-30", "2026-10-31"
        # the e-mail audience: members who consented to e-mails and have an address
        audience = ws.activate.audience("email-never-openers", channel="email", as_of=first)
        expected = {r["customer_id"]: r["email"] for r in audience.members.to_pylist()}
        assert len(expected) > 10  # more than one batch
        assert sum(audience.excluded.values()) > 0  # and consent did leave some out
        pushed = ws.activate.push("email-never-openers", "ok", channel="email", as_of=first)
        assert pushed.batches == -(-len(expected) // 10)
        assert ws.activate.deliver(sleep=Sleeps()).delivered == pushed.batches
        got = {
            m["customer_id"]: m["email"]
            for b in pushed.batch_ids
            for m in server.processed[b]["members"]
        }
        assert got == expected
        later = ws.activate.audience("email-never-openers", channel="email", as_of=second)
        now_in = set(later.members.column("customer_id").to_pylist())
        changes = ws.activate.push("email-never-openers", "ok", channel="email", as_of=second)
        ws.activate.deliver(sleep=Sleeps())
        bodies = [server.processed[b] for b in changes.batch_ids]
        entered = {m["customer_id"] for b in bodies for m in b["entered"]}
        left = {m["customer_id"] for b in bodies for m in b["left"]}
        assert entered == now_in - set(expected)
        assert left == set(expected) - now_in
        assert entered or left
        assert server.bad_signatures == []
        assert server.duplicates == []
    finally:
        ws.close()


def test_the_documented_standalone_verifier_agrees_with_microseg() -> None:
    """docs/activation.md gives receivers a verifier with the standard library only: it
    accepts what microseg signs and refuses a tampered body."""
    text = (Path(__file__).parents[2] / "docs" / "activation.md").read_text()
    block = next(b for b in text.split("```python\n")[1:] if "def verify(" in b)
    namespace: dict[str, Any] = {}
    exec(block.split("```")[0], namespace)
    verify = namespace["verify"]
    body = b'{"batch_id":"b1","members":[]}'
    stamp = int(time.time())
    header = sign(SECRET, stamp, body)
    assert verify(SECRET.encode(), body, str(stamp), header) is True
    assert verify(SECRET.encode(), body + b" ", str(stamp), header) is False
    assert verify(b"another", body, str(stamp), header) is False
    assert verify(SECRET.encode(), body, str(stamp - 301), sign(SECRET, stamp - 301, body)) is False
