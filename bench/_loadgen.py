"""The load generator of bench_service.py: a process of its own (so that its work does not
share the server's interpreter lock), asyncio over raw keep-alive HTTP/1.1 connections to
one loopback address, with the membership stream read on another connection.

    python bench/_loadgen.py URL KEY --rate 2000 --seconds 20 --customers 100000
    python bench/_loadgen.py URL KEY --batches 5 --batch-size 10000

On uvloop, as the server is (uvicorn takes it when installed): the load generator shares
the server's cores, and on asyncio's own loop it took a fifth more CPU per request.

Open loop: events are due at a fixed rate and each is timed from when it was due (not
from when a connection was free), so a server that falls behind shows it in the
latencies. ``--rate 0`` is a closed loop: each connection sends its next event as soon as
the last is answered (the most the server takes). Bounded: it stops after ``--seconds``
and waits at most ``--drain`` seconds more for answers and stream messages. Prints one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

NOW = datetime(2026, 11, 1, tzinfo=UTC)
TYPES = ("purchase", "view", "cart_add", "email_open")
CATEGORIES = ("anime", "books", "travel", "toys", "electronics", "fashion")


def event(n: int, customers: int, rng: random.Random, prefix: str) -> dict[str, Any]:
    return {
        "event_id": f"{prefix}-{n}",
        "customer_id": f"C{rng.randint(1, customers):08d}",
        "timestamp": (NOW - timedelta(seconds=rng.randint(1, 3600))).isoformat(),
        "type": rng.choice(TYPES),
        "amount": round(rng.uniform(5, 300), 2),
        "category": rng.choice(CATEGORIES),
    }


async def _read_reply(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        split = urlsplit(args.url)
        self.host, self.port = split.hostname or "127.0.0.1", split.port or 80
        self.auth = f"Authorization: Bearer {args.key}\r\n".encode()
        self.rng = random.Random(args.seed)
        self.due: dict[str, float] = {}
        self.replies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.arrived: dict[str, float] = {}
        #: when each event was answered (with ``--samples``)
        self.replied: dict[str, float] = {}
        self.queue: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.sent = 0

    def request(self, body: bytes) -> bytes:
        return (
            b"POST /api/events HTTP/1.1\r\nHost: bench\r\n" + self.auth
            + b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip

    async def stream(self, ready: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(
            b"GET /api/stream/memberships HTTP/1.1\r\nHost: bench\r\n" + self.auth + b"\r\n"
        )
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        ready.set()
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                if line.startswith(b"data: "):
                    trigger = json.loads(line[6:])["trigger"]
                    self.arrived.setdefault(trigger, time.monotonic())
        finally:
            writer.close()

    async def closed(self, deadline: float) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        while time.monotonic() < deadline:
            self.sent += 1
            one = event(self.sent, self.args.customers, self.rng, self.args.prefix)
            begun = time.monotonic()
            self.due[one["event_id"]] = begun
            writer.write(self.request(json.dumps(one).encode()))
            await writer.drain()
            self._answered(await _read_reply(reader), begun, one["event_id"])
        writer.close()

    async def connection(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            while True:
                due, one = await self.queue.get()
                writer.write(self.request(json.dumps(one).encode()))
                await writer.drain()
                self._answered(await _read_reply(reader), due, one["event_id"])
                self.queue.task_done()
        finally:
            writer.close()

    def _answered(self, status: int, begun: float, event_id: str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            now = time.monotonic()
            self.replies.append((now - begun) * 1000)
            if self.args.samples:
                self.replied[event_id] = now

    async def opened(self, deadline: float) -> None:
        interval = 1.0 / self.args.rate
        start = time.monotonic()
        while True:
            due = start + self.sent * interval
            if due >= deadline:
                return
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.sent += 1
            one = event(self.sent, self.args.customers, self.rng, self.args.prefix)
            self.due[one["event_id"]] = due
            self.queue.put_nowait((due, one))

    async def run(self) -> dict[str, Any]:
        ready = asyncio.Event()
        listener = asyncio.create_task(self.stream(ready))
        await asyncio.wait_for(ready.wait(), 30)
        cpu = time.process_time()
        started = time.monotonic()
        deadline = started + self.args.seconds
        if self.args.rate:
            workers = [asyncio.create_task(self.connection()) for _ in range(self.args.clients)]
            await self.opened(deadline)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.queue.join(), self.args.drain)
            for worker in workers:
                worker.cancel()
        else:
            await asyncio.gather(*(self.closed(deadline) for _ in range(self.args.clients)))
        elapsed = time.monotonic() - started
        cpu = time.process_time() - cpu
        await asyncio.sleep(min(2.0, self.args.drain))  # the last changes reach the stream
        listener.cancel()
        stream = [(self.arrived[e] - t) * 1000 for e, t in self.due.items() if e in self.arrived]
        if self.args.samples:
            with open(self.args.samples, "w") as out:
                out.write(json.dumps({"started_monotonic": started}) + "\n")
                for e, t in self.due.items():
                    got = self.replied.get(e)
                    seen = self.arrived.get(e)
                    out.write(
                        json.dumps(
                            [
                                round(t - started, 4),
                                None if got is None else round((got - t) * 1000, 2),
                                None if seen is None else round((seen - t) * 1000, 2),
                            ]
                        )
                        + "\n"
                    )
        answered = len(self.replies)
        return {
            "mode": f"open loop at {self.args.rate}/s" if self.args.rate else "closed loop",
            "clients": self.args.clients,
            "seconds": round(elapsed, 2),
            "sent": self.sent,
            "answered": answered,
            "statuses": self.statuses,
            "events_per_second": round(answered / elapsed, 1),
            "cpu_seconds": round(cpu, 3),
            "reply": percentiles(self.replies),
            "stream": percentiles(stream),
        }


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"count": len(ordered), "p50_ms": at(0.5), "p99_ms": at(0.99),
            "max_ms": round(ordered[-1], 2)}  # fmt: skip


async def batches(args: argparse.Namespace) -> dict[str, Any]:
    """``--batches`` posts of ``--batch-size`` events, one after another on one
    connection (bodies built before the clock starts): the seconds until all are
    acknowledged."""
    load = Load(args)
    bodies = [
        json.dumps([event(b * args.batch_size + i, args.customers, load.rng, args.prefix)
                    for i in range(args.batch_size)]).encode()
        for b in range(args.batches)
    ]  # fmt: skip
    reader, writer = await asyncio.open_connection(load.host, load.port)
    statuses: dict[int, int] = {}
    cpu, begun = time.process_time(), time.monotonic()
    for body in bodies:
        writer.write(load.request(body))
        await writer.drain()
        status = await _read_reply(reader)
        statuses[status] = statuses.get(status, 0) + 1
    elapsed = time.monotonic() - begun
    writer.close()
    return {"mode": "batches", "batches": args.batches, "batch_size": args.batch_size,
            "acknowledged_seconds": round(elapsed, 3), "statuses": statuses,
            "cpu_seconds": round(time.process_time() - cpu, 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--drain", type=float, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prefix", default="load")
    parser.add_argument(
        "--samples",
        help="write to this file a first line {started_monotonic}, then each event's "
        "[due second, reply ms, stream ms]",
    )
    parser.add_argument("--batches", type=int, default=0, help="post batches instead")
    parser.add_argument("--batch-size", type=int, default=10_000)
    args = parser.parse_args()
    run = batches(args) if args.batches else Load(args).run()
    try:  # a fifth less of the load generator's CPU, which the server's 2 cores share
        import uvloop
    except ImportError:  # (Windows)
        result = asyncio.run(run)
    else:
        result = uvloop.run(run)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
