"""A real service: uvicorn on a free loopback port, in a thread of the test process, over a
small workspace; and keys of each scope."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from microseg import Workspace
from microseg.service import KeyRing, ServiceSettings, create_app
from tests.conftest import NOW, write


class MovableClock:
    """The workspace's clock, moved by tests (the service's timers follow it)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Served:
    url: str
    workspace: Workspace
    keys: dict[str, str]  # scope -> key
    ring: KeyRing
    app: FastAPI
    clock: MovableClock

    def client(self, scope: str | None = "read") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[scope]}"} if scope else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def build_shop(root: Path, clock: MovableClock | None = None) -> Workspace:
    ws = Workspace.init(root, timezone="Europe/Paris", clock=clock or (lambda: NOW))
    customers = write(
        root / "customers.csv",
        """
customer_id,email,gender,country
C1,c1@example.com,female,FR
C2,c2@example.com,male,FR
C3,,female,DE
""",
    )
    events = write(
        root / "events.csv",
        """
event_id,customer_id,timestamp,type,amount,category
e1,C1,2025-12-01T10:00:00Z,purchase,120.0,travel
e2,C1,2026-01-10T10:00:00Z,purchase,80.0,books
e3,C2,2025-06-01T10:00:00Z,purchase,15.0,books
""",
    )
    ws.ingest("customers", customers)
    ws.ingest("events", events)
    write(
        root / "segments" / "buyers.yaml",
        """
name: buyers
title: Bought in the last 90 days
rule: {event: purchase, window: {last: 90 days}}
""",
    )
    write(
        root / "segments" / "women.yaml",
        """
name: women
rule: {attribute: gender, eq: female}
""",
    )
    return ws


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    clock = MovableClock(NOW)
    yield from serve_workspace(build_shop(tmp_path / "shop", clock), clock)


def serve_workspace(
    ws: Workspace, clock: MovableClock, settings: ServiceSettings | None = None
) -> Iterator[Served]:
    """``ws`` served by uvicorn on a free loopback port until the generator is closed."""
    ring = KeyRing(ws.path)
    keys = {scope: ring.create(f"test-{scope}", [scope])[1] for scope in ("read", "write", "admin")}
    settings = settings or ServiceSettings(rate=1000, burst=1000, max_body=200_000)
    port = _free_port()
    app = create_app(ws, settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start in 20 s"
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", ws, keys, ring, app, clock)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        ws.close()
