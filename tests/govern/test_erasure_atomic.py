"""``forget`` and ``retention apply`` killed part-way leave the store as it was."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from microseg import Workspace
from tests.conftest import NOW
from tests.govern.conftest import build
from tests.govern.test_erasure import _fingerprint, _rows

# Runs a forget or a retention in a child process that stops at a pause point and waits
# to be killed: the erasure's copy (before the first row is copied, or after the proof,
# just before the new file replaces the old one), or the retention's delete.
CHILD = """
import sys, time
from datetime import datetime, UTC
from pathlib import Path
from microseg import Workspace
from microseg.store import _erase
from microseg.store import Store

root, what, pause, marker = sys.argv[1:5]

def stop():
    Path(marker).write_text("paused")
    time.sleep(600)

if pause in ("copy", "swap"):
    name = "_copy_without" if pause == "copy" else "_scan"
    original = getattr(_erase, name)
    def paused(*args, **kwargs):
        if pause == "copy":
            stop()
        result = original(*args, **kwargs)
        stop()
        return result
    setattr(_erase, name, paused)
else:
    fetchall = Store.fetchall
    def patched(self, sql, params=None):
        if sql.startswith(pause):
            stop()
        return fetchall(self, sql, params)
    Store.fetchall = patched
ws = Workspace.open(root, clock=lambda: datetime(2026, 1, 15, 12, tzinfo=UTC))
if what == "forget":
    ws.govern.forget("C1")
else:
    ws.govern.retention()
"""


def _state(root: Path) -> str:
    with Workspace.open(root, clock=lambda: NOW) as ws:
        return _fingerprint(_rows(ws), lambda table, row: True)


def _kill_at(root: Path, what: str, pause: str, marker: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), what, pause, str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the child never reached the pause point"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = build(tmp_path / "ws")
    ws.store.execute("CHECKPOINT")
    ws.close()
    return tmp_path / "ws"


@pytest.mark.slow
@pytest.mark.parametrize("pause", ["copy", "swap"])
def test_forget_killed_part_way_leaves_the_store_as_it_was(
    root: Path, tmp_path: Path, pause: str
) -> None:
    before = _state(root)
    _kill_at(root, "forget", pause, tmp_path / "paused")
    assert _state(root) == before
    # and the erasure then runs in full (the half-written copy is thrown away)
    with Workspace.open(root, clock=lambda: NOW) as ws:
        report = ws.govern.forget("C1")
        assert report.proof.clean
        assert report.removed["events"] == 6
    assert not Path(str(root / "microseg.duckdb") + ".rewrite").exists()


@pytest.mark.slow
def test_retention_killed_part_way_leaves_the_store_as_it_was(root: Path, tmp_path: Path) -> None:
    config = root / "microseg.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("action: delete", "action: archive"),
        encoding="utf-8",
    )
    before = _state(root)
    _kill_at(root, "retention", 'DELETE FROM "events"', tmp_path / "paused")
    assert _state(root) == before
    # the archive was written first, whole
    archived = sorted((root / "archive").glob("*.parquet"))
    assert [p.name for p in archived] == ["events-before-20230115T120000.parquet"]
    with Workspace.open(root, clock=lambda: NOW) as ws:
        assert ws.govern.retention().tables[0].removed == 3
        assert ws.store.scalar("SELECT count(*) FROM retention_runs") == 2
