"""A load that dies part-way leaves the store exactly as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from microseg import Workspace
from tests.conftest import NOW

# Runs a load in a child process. With a pause point, the child stops inside the load's
# transaction (after the events are written, before the commit) and waits to be killed.
CHILD = """
import sys, time
from datetime import datetime, UTC
from pathlib import Path
from microseg import Workspace
from microseg.store import Store

pause = sys.argv[3]
if pause:
    original = Store.fetchall
    def fetchall(self, sql, params=None):
        if sql.startswith(pause):
            Path(sys.argv[4]).write_text("paused")
            time.sleep(600)
        return original(self, sql, params)
    Store.fetchall = fetchall
ws = Workspace.open(sys.argv[1], clock=lambda: datetime(2026, 1, 15, 12, tzinfo=UTC))
print("loading", flush=True)
ws.ingest("events", [sys.argv[2]])
print("committed", flush=True)
"""


def _events_file(path: Path, n: int, offset: int = 0) -> Path:
    ids = [f"E{offset + i:09d}" for i in range(n)]
    table = pa.table(
        {
            "event_id": ids,
            "customer_id": [f"C{(offset + i) % 5000:05d}" for i in range(n)],
            "timestamp": pa.array([1_700_000_000 + i for i in range(n)], pa.timestamp("s", "UTC")),
            "type": ["purchase"] * n,
            "amount": [float(i % 97) for i in range(n)],
            "quantity": [1] * n,
            "device": ["mobile"] * n,
        }
    )
    pq.write_table(table, path)
    return path


def _snapshot(root: Path) -> dict[str, object]:
    ws = Workspace.open(root, clock=lambda: NOW)
    try:
        store = ws.store
        return {
            name: store.scalar(f"SELECT count(*) FROM {name}")
            for name in (
                "events",
                "customer_registry",
                "identities",
                "rejects",
                "loads",
                "customer_history",
            )
        } | {
            "distinct_ids": store.scalar("SELECT count(DISTINCT event_id) FROM events"),
            "orphans": store.scalar(
                "SELECT count(*) FROM events e ANTI JOIN customer_registry r USING (customer_id)"
            ),
            "amount": store.scalar("SELECT sum(amount) FROM events"),
        }
    finally:
        ws.close()


def _start(root: Path, source: Path, pause: str, marker: Path) -> subprocess.Popen[str]:
    env = dict(os.environ)
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(source), pause, str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    ws = Workspace.init(root, clock=lambda: NOW)
    ws.ingest("events", _events_file(tmp_path / "first.parquet", 20_000))
    ws.close()
    return root


@pytest.mark.slow
@pytest.mark.parametrize(
    "pause",
    [
        "INSERT INTO loads",  # last statement of the transaction: events already written
        "INSERT INTO events",  # while appending
        "CREATE TEMP TABLE _keys",  # early: after validation, before identity stitching
    ],
)
def test_sigkill_inside_the_transaction(seeded: Path, tmp_path: Path, pause: str) -> None:
    before = _snapshot(seeded)
    source = _events_file(tmp_path / "second.parquet", 200_000, offset=20_000)
    marker = tmp_path / "paused"
    child = _start(seeded, source, pause, marker)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the child never reached the pause point"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert _snapshot(seeded) == before
    # and the store still works: the same load now succeeds in full
    ws = Workspace.open(seeded, clock=lambda: NOW)
    report = ws.ingest("events", source)
    ws.close()
    assert report.accepted == 200_000
    after = _snapshot(seeded)
    assert after["events"] == before["events"] + 200_000  # type: ignore[operator]
    assert after["distinct_ids"] == after["events"]


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5])
def test_sigkill_at_arbitrary_moments(seeded: Path, tmp_path: Path, delay: float) -> None:
    before = _snapshot(seeded)
    source = _events_file(tmp_path / "big.parquet", 1_000_000, offset=20_000)
    child = _start(seeded, source, "", tmp_path / "unused")
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "loading"
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    after = _snapshot(seeded)
    if child.returncode == -signal.SIGKILL and after["loads"] == before["loads"]:
        assert after == before  # killed before the commit: nothing changed
    else:  # the load finished first: then all of it is there
        assert after["events"] == before["events"] + 1_000_000  # type: ignore[operator]


def test_exception_mid_load_rolls_back(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.ingest("events", _events_file(tmp_path / "a.parquet", 100))
    from microseg.ingest import _events

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(_events, "resolve_identities", boom)
    with pytest.raises(OSError, match="disk full"):
        ws.ingest("events", _events_file(tmp_path / "b.parquet", 100, offset=100))
    assert ws.store.scalar("SELECT count(*) FROM events") == 100
    assert ws.store.scalar("SELECT count(*) FROM loads") == 1
    assert ws.store.scalar("SELECT count(*) FROM customer_registry") == 100
