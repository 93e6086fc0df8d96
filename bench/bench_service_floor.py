"""What this machine allows a Python HTTP service before microseg does any work: the
same load generator as bench_service.py (bench/_loadgen.py) against a service that does
nothing but answer, with a set amount of CPU work per event added, to find how much work
per event the 2,000 events/s, p99 <= 20 ms target leaves room for.

    python bench/bench_service_floor.py [--seconds 10]

The service is uvicorn (uvloop, httptools, as microseg's) in a thread of this process,
with one plain ASGI app: ``POST /api/events`` reads the body, parses the JSON, spins
``work`` microseconds holding the interpreter lock (what microseg's own process does per
event: HTTP handling, screening, the write-ahead record, applying it), puts one message
per event on the open ``GET /api/stream/memberships`` stream and answers 202.
``side`` is CPU spent meanwhile in another process at the same rate (what microseg's
evaluator processes take: the cores are shared). No store, no write-ahead file, no
evaluation. Bounded: each point runs ``--seconds`` and the load generator stops by
itself. Writes bench/results/service-floor.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

#: (events per second, microseconds of work per event in the service's process,
#: microseconds per event in another process); 280 µs is what microseg's evaluator
#: processes take per event at 2,000/s (bench/results/service.md)
POINTS = [
    (600, 0, 0),
    (600, 400, 280),
    (2000, 0, 0),
    (2000, 0, 280),
    (2000, 100, 280),
    (2000, 150, 280),
    (2000, 200, 280),
    (2000, 300, 280),
    (2000, 400, 280),
    # the work beyond 100 µs moved out of the service's process: do the cores allow it?
    (2000, 100, 430),
    (2000, 100, 530),
]


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _side(duty: float, stop: Any) -> None:
    """Busy ``duty`` of each 10 ms until told to stop (another process's CPU per event)."""
    while not stop.is_set():
        _spin(0.01 * duty)
        time.sleep(0.01 * (1 - duty))


class Floor:
    """The plain app: answers events, streams one message per event."""

    def __init__(self) -> None:
        self.work = 0.0
        self.streams: list[asyncio.Queue[bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/api/stream/memberships":
            await self._stream(send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        event = json.loads(body)
        if self.work:
            _spin(self.work)
        line = b"data: " + json.dumps({"trigger": event["event_id"]}).encode() + b"\n\n"
        for queue in self.streams:
            queue.put_nowait(line)
        reply = json.dumps({"accepted": 1, "event_ids": [event["event_id"]]}).encode()
        await send({"type": "http.response.start", "status": 202,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(reply)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": reply})

    async def _stream(self, send: Any) -> None:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.streams.append(queue)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})  # fmt: skip
        try:
            while True:
                line = await queue.get()
                await send({"type": "http.response.body", "body": line, "more_body": True})
        finally:
            self.streams.remove(queue)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    import uvicorn
    from _machine import describe

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="each point this many times, in rounds (the machine's speed moves within minutes)",
    )
    args = parser.parse_args()

    app = Floor()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    rows = []
    try:
        for round_, (rate, work, side) in (
            (r, point) for r in range(args.rounds) for point in POINTS
        ):
            app.work = work / 1e6
            stop = multiprocessing.Event()
            helper = None
            if side:
                duty = min(1.0, side * rate / 1e6)
                helper = multiprocessing.Process(target=_side, args=(duty, stop), daemon=True)
                helper.start()
            command = [sys.executable, str(HERE / "_loadgen.py"), f"http://127.0.0.1:{port}",
                       "none", "--rate", str(rate), "--seconds", str(args.seconds),
                       "--clients", str(args.clients), "--drain", "10"]  # fmt: skip
            cpu = time.process_time()
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=args.seconds + 60, check=True)  # fmt: skip
            cpu = time.process_time() - cpu
            stop.set()
            if helper is not None:
                helper.join(5)
            found = json.loads(done.stdout)
            answered = max(1, found["answered"])
            row = {"round": round_ + 1, "rate": rate, "work_us": work, "side_us": side,
                   "answered_per_second": found["events_per_second"],
                   "reply": found["reply"], "stream": found["stream"],
                   "service_cpu_ms_per_event": round(cpu * 1000 / answered, 3),
                   "load_generator_cpu_ms_per_event":
                       round(found["cpu_seconds"] * 1000 / answered, 3)}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        server.should_exit = True
        thread.join(10)

    result = {"machine": describe(), "seconds": args.seconds, "clients": args.clients,
              "points": rows}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "service-floor.json").write_text(json.dumps(result, indent=2) + "\n")
    text = _markdown(result)
    (RESULTS / "service-floor.md").write_text(text)
    print(text)


def _markdown(result: dict[str, Any]) -> str:
    """The results table: every round's figure of each point, in order."""
    from _machine import summary

    rows = result["points"]
    lines = [
        "# The floor: a service that does nothing, on this machine",
        "",
        "The load generator of bench_service.py against a plain ASGI app on uvicorn "
        "(uvloop, httptools) that answers each event 202 and puts one message on the "
        "stream, with `work` µs of CPU per event spun in the service's process (holding "
        "the interpreter lock, as microseg's own process does) and `side` µs per event "
        "spent in another process (as microseg's evaluator processes do). No store, no "
        "write-ahead file, no evaluation. "
        f"Machine: {summary(result['machine'])}; shared with other work. "
        f"{result['clients']} connections, {result['seconds']:g} s per point. "
        "Reproduce: `python bench/bench_service_floor.py`.",
        "",
        "Each point ran in each of the rounds (the rounds one after another), and the "
        "table gives every round's figure, in order.",
        "",
        "| events/s asked | work µs | side µs | answered/s | reply p99 ms "
        "| request to stream p50 ms | request to stream p99 ms "
        "| service CPU ms/event | load generator CPU ms/event |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def each(found: list[dict[str, Any]], read: Any) -> str:
        return " · ".join(str(read(row)) for row in found)

    points = dict.fromkeys((r["rate"], r["work_us"], r["side_us"]) for r in rows)
    for rate, work, side in points:
        found = [r for r in rows if (r["rate"], r["work_us"], r["side_us"]) == (rate, work, side)]
        lines.append(
            f"| {rate:,} | {work} | {side} "
            f"| {each(found, lambda r: format(r['answered_per_second'], ','))} "
            f"| {each(found, lambda r: r['reply'].get('p99_ms'))} "
            f"| {each(found, lambda r: r['stream'].get('p50_ms'))} "
            f"| {each(found, lambda r: r['stream'].get('p99_ms'))} "
            f"| {each(found, lambda r: r['service_cpu_ms_per_event'])} "
            f"| {each(found, lambda r: r['load_generator_cpu_ms_per_event'])} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
