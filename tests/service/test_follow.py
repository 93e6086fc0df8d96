"""A destination that follows segments gets their entries and exits posted as the real-time
path finds them: signed, consent-aware pushes, the first the whole audience, then changes."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from microseg import Workspace
from microseg.activate import verify_signature
from tests.conftest import NOW
from tests.service.conftest import MovableClock, Served, _free_port, build_shop, serve_workspace

SECRET = "follow-secret"


class _Receiver(http.server.BaseHTTPRequestHandler):
    posts: ClassVar[list[dict[str, object]]] = []
    bad: ClassVar[list[str]] = []
    #: how many posts to answer 503 before accepting
    failures: ClassVar[int] = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if type(self).failures > 0:
            type(self).failures -= 1
            self.send_response(503)
            self.end_headers()
            return
        stamp = self.headers["x-microseg-timestamp"]
        signature = self.headers["x-microseg-signature"]
        if not verify_signature(SECRET, body, stamp, signature, now=int(stamp)):
            type(self).bad.append(self.path)
        type(self).posts.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def following(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    port = _free_port()
    receiver = http.server.HTTPServer(("127.0.0.1", port), _Receiver)
    _Receiver.posts, _Receiver.bad, _Receiver.failures = [], [], 0
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    monkeypatch.setenv("MICROSEG_TEST_FOLLOW", SECRET)
    clock = MovableClock(NOW)
    build_shop(tmp_path / "shop", clock).close()
    config = tmp_path / "shop" / "microseg.yaml"
    text = config.read_text().replace(
        "destinations: {}",
        f"destinations:\n  crm:\n    url: http://127.0.0.1:{port}/hooks\n"
        "    secret_env: MICROSEG_TEST_FOLLOW\n    follow: [buyers]\n    follow_seconds: 0.2\n"
        "    backoff: 0.05",
    )
    config.write_text(text)
    try:
        yield from serve_workspace(Workspace.open(tmp_path / "shop", clock=clock), clock)
    finally:
        receiver.shutdown()
        receiver.server_close()


def _wait_for(count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 30
    while len(_Receiver.posts) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(_Receiver.posts)


def test_entries_are_posted_as_they_happen(following: Served) -> None:
    event = {"event_id": "f1", "customer_id": "C2", "timestamp": "2026-01-15T11:00:00Z",
             "type": "purchase"}  # fmt: skip
    with following.client("write") as writer:
        assert writer.post("/api/events", json=event).is_success
    first = _wait_for(1)
    assert first[0]["segment"] == "buyers"
    assert first[0]["kind"] == "audience"  # the first push: the whole audience
    assert {m["customer_id"] for m in first[0]["members"]} == {"C1", "C2"}
    later = {"event_id": "f2", "customer_id": "C3", "timestamp": "2026-01-15T11:30:00Z",
             "type": "purchase"}  # fmt: skip
    with following.client("write") as writer:
        assert writer.post("/api/events", json=later).is_success
    second = _wait_for(2)[1]
    assert second["kind"] == "changes"
    assert [m["customer_id"] for m in second["entered"]] == ["C3"]
    assert second["left"] == []
    assert _Receiver.bad == []  # every post was signed with the destination's secret


def test_retries_and_deliveries_are_counted_in_the_metrics(following: Served) -> None:
    _Receiver.failures = 2
    event = {"event_id": "f1", "customer_id": "C2", "timestamp": "2026-01-15T11:00:00Z",
             "type": "purchase"}  # fmt: skip
    with following.client("write") as writer:
        assert writer.post("/api/events", json=event).is_success
    assert len(_wait_for(1)) == 1
    deadline = time.monotonic() + 10
    with following.client("read") as reader:
        while "microseg_webhook_retries_total 2.0" not in (text := reader.get("/metrics").text):
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
    assert 'microseg_webhook_batches_total{outcome="delivered"} 1.0' in text
    assert 'microseg_webhook_batches_total{outcome="dead"} 0.0' in text
    assert "microseg_evaluation_seconds_count 1.0" in text  # C2, evaluated once
    assert "microseg_event_apply_seconds_count 1.0" in text
    assert "microseg_expiry_timers 2.0" in text  # C1 and C2 have purchases in a window
    assert "microseg_applier_queue 0.0" in text
