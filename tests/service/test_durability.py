"""An event answered with 2xx is never lost: it is on disk (the write-ahead file, fsynced)
before it is loaded, and a service killed in between loads it at its next start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from microseg import Workspace
from microseg.cli import app
from microseg.service import create_app
from microseg.service._pipeline import SCREEN_ON_LOOP
from microseg.service._wal import WAL_FILE, WriteAheadLog
from tests.service.conftest import Served, _free_port, build_shop

runner = CliRunner()


def test_the_file_keeps_what_is_not_done_and_ignores_a_torn_line(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    first = wal.append("events", [{"event_id": "a"}])
    second = wal.append("events", [{"event_id": "b"}])
    wal.done(first)
    wal.close()
    with (tmp_path / WAL_FILE).open("ab") as handle:
        handle.write(b'{"seq": 3, "kind": "events", "rec')  # killed while writing
    again = WriteAheadLog(tmp_path)
    assert [(p.seq, p.records) for p in again.pending()] == [(second, [{"event_id": "b"}])]
    assert again.append("events", [{"event_id": "c"}]) == second + 1
    again.close()


def test_batches_stored_together_are_marked_done_in_one_write(tmp_path: Path) -> None:
    """The storer marks a load's batches done in one write, not a system call each."""
    wal = WriteAheadLog(tmp_path)
    seqs = [wal.append("events", [{"event_id": str(n)}]) for n in range(50)]
    writes: list[bytes] = []
    real = wal._file

    class Counted:
        def write(self, data: bytes) -> int:
            writes.append(data)
            return real.write(data)

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    wal._file = Counted()  # type: ignore[assignment]
    wal.done(*seqs[:49])
    assert len(writes) == 1
    wal._file = real
    wal.close()
    again = WriteAheadLog(tmp_path)
    assert [p.seq for p in again.pending()] == [seqs[49]]
    again.close()


def test_writers_share_fsyncs(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    threads = [
        threading.Thread(target=lambda n=n: wal.append("events", [{"event_id": str(n)}]))
        for n in range(200)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wal.pending()) == 200
    assert 1 <= wal.fsyncs <= 200
    wal.close()


@pytest.mark.parametrize(
    "body",
    [
        # pretty-printed: line breaks between values, and one escaped inside a string
        b'[\n  {"event_id": "a", "note": "two\\nlines"},\r\n  {"event_id": "b"}\n]\n',
        '{"event_id": "c", "note": "\u00e9t\u00e9 \u2603"}'.encode(),  # one object, UTF-8
        '[{"event_id": "d"}]'.encode("utf-16-le"),  # json.loads reads it: encoded again
        b'\xef\xbb\xbf[{"event_id": "e"}]',  # a byte-order mark: encoded again
    ],
    ids=["pretty", "one-object", "utf-16", "bom"],
)
def test_a_body_written_as_it_came_reads_back_as_its_records(tmp_path: Path, body: bytes) -> None:
    read = json.loads(body)
    records = read if isinstance(read, list) else [read]
    wal = WriteAheadLog(tmp_path)
    seq = wal.append("events", records, body=body)
    after = wal.append("events", [{"event_id": "next"}])
    wal.close()
    written = (tmp_path / WAL_FILE).read_bytes()
    assert written.count(b"\n") == 2  # one line each, whatever the body's
    again = WriteAheadLog(tmp_path)
    assert [(p.seq, p.records) for p in again.pending()] == [
        (seq, records),
        (after, [{"event_id": "next"}]),
    ]
    again.close()


def test_a_batch_is_screened_and_written_ahead_as_it_came(served: Served) -> None:
    """A batch of more records than are screened on the event loop takes the path in
    front of the stack too: its body is in the write-ahead file as it was sent."""
    events = [
        {"event_id": f"big{n}", "customer_id": "C3", "type": "view",
         "timestamp": "2026-01-14T09:00:00Z"}
        for n in range(SCREEN_ON_LOOP + 50)
    ]  # fmt: skip
    body = json.dumps(events, indent=1).encode()
    with served.client("write") as writer:
        reply = writer.post(
            "/api/events", content=body, headers={"Content-Type": "application/json"}
        )
        assert reply.status_code == 202, reply.text
        assert reply.json()["accepted"] == len(events)
        assert body.replace(b"\n", b" ") in (served.workspace.path / WAL_FILE).read_bytes()
        # the same batch again: duplicates, told at once
        again = writer.post(
            "/api/events", content=body, headers={"Content-Type": "application/json"}
        )
        assert (again.status_code, again.json()["duplicates"]) == (202, len(events))
    served.app.state.pipeline.drain()
    for event_id in ("big0", f"big{len(events) - 1}"):
        assert _stored(served.workspace, event_id) == 1


def _stored(ws: Workspace, event_id: str) -> int:
    events = ws.events()
    return int(events.filter(events.event_id == event_id).count().to_pyarrow().as_py())


def test_a_batch_written_ahead_but_not_stored_is_loaded_at_the_next_start(
    tmp_path: Path,
) -> None:
    ws = build_shop(tmp_path / "shop")
    wal = WriteAheadLog(ws.path)  # as a service that died after the fsync
    wal.append("events", [{"event_id": "lost-1", "customer_id": "C3", "type": "purchase",
                           "timestamp": "2026-01-14T09:00:00Z", "amount": 5.0}])  # fmt: skip
    wal.close()
    assert _stored(ws, "lost-1") == 0
    service = create_app(ws)
    assert service.state.replayed == 1
    assert _stored(ws, "lost-1") == 1
    assert service.state.realtime.segments_of("C3") == frozenset({"buyers", "women"})
    service.state.wal.close()
    assert not (ws.path / WAL_FILE).read_bytes()  # loaded: a fresh file
    # a second start has nothing to load, and the event is still there once
    again = create_app(ws)
    assert again.state.replayed == 0
    again.state.wal.close()
    assert _stored(ws, "lost-1") == 1
    ws.close()


@pytest.mark.slow
def test_kill_9_during_a_stream_loses_no_acknowledged_event(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    build_shop(shop).close()
    where = ["-w", str(shop)]
    key = json.loads(runner.invoke(app, ["--json", "keys", "create", "load", "--scope",
                                         "write", *where]).output)["key"]  # fmt: skip
    port = _free_port()
    command = [sys.executable, "-m", "microseg", "serve", "--port", str(port), *where]

    def start() -> subprocess.Popen[bytes]:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)

    server = start()
    acknowledged: list[str] = []
    stop = threading.Event()

    def send() -> None:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            n = 0
            while not stop.is_set():
                n += 1
                event = {"event_id": f"k{n}", "customer_id": f"C{1 + n % 3}",
                         "timestamp": "2026-01-14T09:00:00Z", "type": "view"}  # fmt: skip
                try:
                    if client.post("/api/events", json=event, timeout=30).is_success:
                        acknowledged.append(event["event_id"])
                except httpx.TransportError:
                    return  # the server is gone: what was not answered may or may not be in

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    stop.set()
    sender.join(timeout=30)
    assert len(acknowledged) >= 40
    server = start()  # replays what the store lacks
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    with Workspace.open(shop) as ws:
        rows = ws.events().filter(ws.events().event_id.startswith("k")).to_pyarrow()
    stored = rows.column("event_id").to_pylist()
    assert set(acknowledged) <= set(stored)  # every acknowledged event is in
    assert len(stored) == len(set(stored))  # each once
