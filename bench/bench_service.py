"""The service under load, on loopback: single events with their membership updates, the
batch endpoint, memory per resident profile, against batch evaluation after the same events.

    python bench/bench_service.py                      # 100,000 customers, 50 segments
    python bench/bench_service.py --customers 20000 --seconds 20

The shop and the 50 segments of bench_segments.py (bench/.work/segments/N, reused), copied
so that the run's events do not change it. uvicorn serves it in this process on a free
127.0.0.1 port; everything is bounded in count and time and stops by itself:

* **start:** the real-time state (every customer's segments from one batch evaluation,
  the prepared per-profile state): seconds, and the resident memory it added, per
  customer;
* **single events:** ``--clients`` threads post one event per request for ``--seconds``;
  rate, and p50/p99 of (a) the reply and (b) the membership change on the SSE stream,
  from the request's start, for events that moved a customer;
* **batch endpoint:** ``--batches`` posts of ``--batch-size`` events: events per second;
* **batch evaluation** of the 50 segments after those events (``ws.segments.evaluate``):
  how long a batch refresh takes, against the real-time path's per-event latency.

Writes bench/results/service.json and bench/results/service.md.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import socket
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

NOW = datetime(2026, 11, 1, tzinfo=UTC)
CATEGORIES = ("anime", "books", "travel", "toys", "electronics", "fashion")


def _rss_mib() -> float:
    """The current resident set (not the peak), in MiB."""
    with open("/proc/self/statm", encoding="utf-8") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 1024**2


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[max(0, int(0.99 * len(ordered)) - 1)], 2),
        "max_ms": round(ordered[-1], 2),
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _event(n: int, customers: int, rng: random.Random) -> dict[str, Any]:
    return {
        "event_id": f"bench-{n}",
        "customer_id": f"C{rng.randint(1, customers):08d}",
        "timestamp": (NOW - timedelta(seconds=rng.randint(1, 3600))).isoformat(),
        "type": rng.choice(["purchase", "view", "cart_add", "email_open"]),
        "amount": round(rng.uniform(5, 300), 2),
        "category": rng.choice(CATEGORIES),
    }


def main() -> None:
    import httpx
    import uvicorn
    from _machine import describe
    from bench_segments import _prepare, _work

    from microseg import Workspace
    from microseg.service import KeyRing, ServiceSettings, create_app

    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=10_000)
    args = parser.parse_args()

    shop = _prepare(args.customers, reuse=True)
    work = HERE / ".work" / "service" / str(args.customers)
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(_work(args.customers) / "ws", work)
    clock = [NOW]
    ws = Workspace.open(work, clock=lambda: clock[0])
    token = KeyRing(work).create("bench", ["write"])[1]
    settings = ServiceSettings(rate=1e9, burst=10**9, max_body=200_000_000)

    before = _rss_mib()
    started = time.perf_counter()
    app = create_app(ws, settings)
    start_seconds = time.perf_counter() - started
    resident = _rss_mib() - before
    engine = app.state.realtime
    segments = len(engine.names)

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                       timeout_graceful_shutdown=2)
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}

    # the stream: when each change arrived, by the event that caused it
    arrived: dict[str, float] = {}
    stop = threading.Event()

    def listen() -> None:
        try:
            with (
                httpx.Client(base_url=base, headers=headers, timeout=None) as client,
                client.stream("GET", "/api/stream/memberships") as reply,
            ):
                for line in reply.iter_lines():
                    if line.startswith("data: "):
                        change = json.loads(line[6:])
                        arrived.setdefault(change["trigger"], time.perf_counter())
                    if stop.is_set():
                        return
        except httpx.TransportError:
            return

    threading.Thread(target=listen, daemon=True).start()
    time.sleep(1.0)

    # single events
    sent: dict[str, float] = {}
    replies: list[float] = []
    errors = [0]
    counter = iter(range(1, 10**9))
    lock = threading.Lock()
    deadline = time.perf_counter() + args.seconds

    def client_loop(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            while time.perf_counter() < deadline:
                with lock:
                    n = next(counter)
                event = _event(n, args.customers, rng)
                begun = time.perf_counter()
                sent[event["event_id"]] = begun
                reply = client.post("/api/events", json=event)
                took = (time.perf_counter() - begun) * 1000
                if reply.status_code == 200:
                    replies.append(took)
                else:
                    errors[0] += 1

    single_started = time.perf_counter()
    clients = [threading.Thread(target=client_loop, args=(s,)) for s in range(args.clients)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    single_seconds = time.perf_counter() - single_started
    time.sleep(1.0)
    stream = [(arrived[e] - t) * 1000 for e, t in sent.items() if e in arrived]

    # the batch endpoint
    rng = random.Random(7)
    offset = 10**8
    batch_timings: list[float] = []
    with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
        for b in range(args.batches):
            body = [_event(offset + b * args.batch_size + i, args.customers, rng)
                    for i in range(args.batch_size)]  # fmt: skip
            begun = time.perf_counter()
            reply = client.post("/api/events", json=body)
            batch_timings.append(time.perf_counter() - begun)
            assert reply.status_code == 200, reply.text[:500]
    batch_events = args.batches * args.batch_size

    # batch evaluation after the same events, in a session of the served workspace
    with ws.session() as session:
        begun = time.perf_counter()
        run = session.segments.evaluate(engine.names, save=False)
        evaluate_seconds = time.perf_counter() - begun
        if run.result is not None:
            run.result.drop()
        reconcile = engine.reconcile(session)

    stop.set()
    server.should_exit = True
    thread.join(timeout=30)
    ws.close()

    accepted = len(replies)
    result = {
        "machine": describe(),
        "customers": args.customers,
        "events_in_shop": shop["events"],
        "segments": segments,
        "start": {
            "seconds": round(start_seconds, 2),
            "resident_mib": round(resident, 1),
            "kib_per_customer": round(resident * 1024 / args.customers, 2),
        },
        "single": {
            "clients": args.clients,
            "seconds": round(single_seconds, 2),
            "accepted": accepted,
            "errors": errors[0],
            "events_per_second": round(accepted / single_seconds, 1),
            "reply": _percentiles(replies),
            "stream": _percentiles(stream),
        },
        "batch": {
            "batches": args.batches,
            "batch_size": args.batch_size,
            "seconds": round(sum(batch_timings), 2),
            "events_per_second": round(batch_events / sum(batch_timings), 1),
        },
        "batch_evaluate_seconds": round(evaluate_seconds, 2),
        "reconcile_disagreements": len(reconcile.disagreements),
        "targets": {
            "single_events_per_second": 2000,
            "stream_p99_ms": 20,
            "batch_events_per_second": 50000,
        },
    }
    out = HERE / "results"
    (out / "service.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "service.md").write_text(_markdown(result))
    sys.stdout.write(_markdown(result))


def _markdown(r: dict[str, Any]) -> str:
    m, s, b, st = r["machine"], r["single"], r["batch"], r["start"]
    stream = s["stream"]
    lines = [
        "# The service under load",
        "",
        f"{r['customers']:,} customers ({r['events_in_shop']:,} events), {r['segments']} "
        f"segments; uvicorn on 127.0.0.1 in the benchmark's process. Machine: {m['cpu']}, "
        f"{m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, DuckDB "
        f"{m['duckdb']}; shared with other work while it ran. Reproduce: `python "
        f"bench/bench_service.py --customers {r['customers']}`.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| start: real-time state of every customer | {st['seconds']} s, "
        f"{st['resident_mib']} MiB ({st['kib_per_customer']} KiB per customer) | |",
        f"| single events, {s['clients']} clients | {s['events_per_second']:,} events/s "
        f"({s['accepted']:,} in {s['seconds']} s, {s['errors']} errors) | 2,000 events/s |",
        f"| reply to a single event | p50 {s['reply'].get('p50_ms')} ms, p99 "
        f"{s['reply'].get('p99_ms')} ms | |",
        f"| request to membership change on the stream ({stream.get('count', 0):,} events "
        f"moved a customer) | p50 {stream.get('p50_ms')} ms, p99 {stream.get('p99_ms')} ms "
        f"| p99 20 ms |",
        f"| batch endpoint, {b['batches']} x {b['batch_size']:,} events | "
        f"{b['events_per_second']:,} events/s | 50,000 events/s |",
        f"| batch evaluation of the {r['segments']} segments after those events | "
        f"{r['batch_evaluate_seconds']} s | |",
        f"| reconciliation after the run | {r['reconcile_disagreements']} disagreements | 0 |",
        "",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
