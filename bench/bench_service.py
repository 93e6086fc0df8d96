"""The service under load, on loopback: single events with their membership updates, the
batch endpoint, memory per resident profile, against batch evaluation after the same events.

    python bench/bench_service.py                      # 100,000 customers, 50 segments
    python bench/bench_service.py --customers 20000 --seconds 10 --light-rate 300

The shop and the 50 segments of bench_segments.py (bench/.work/segments/N, reused), copied
so that the run's events do not change it. uvicorn serves it in this process on a free
127.0.0.1 port; everything is bounded in count and time and stops by itself:

* **start:** the real-time state (every customer's segments from one batch evaluation,
  the prepared per-profile state): seconds, and the resident memory it added, per
  customer;
* **single events:** the load generator (bench/_loadgen.py, a process of its own, asyncio
  over ``--clients`` keep-alive connections) posts one event per request for
  ``--seconds``: open loop at ``--rate`` (the target, 2,000/s), open loop at
  ``--light-rate``, then closed loop (as fast as answers come); the rate answered, and
  p50/p99 of (a) the reply and (b) the membership change on the SSE stream, from when the
  event was due, for events that moved a customer; and how long until all of it is stored;
* **batch endpoint:** ``--batches`` posts of ``--batch-size`` events, sent one after
  another by the load generator's process: events per second acknowledged (written
  ahead), and stored and evaluated;
* **batch evaluation** of the 50 segments after those events (``ws.segments.evaluate``):
  how long a batch refresh takes, against the real-time path's per-event latency.

Writes bench/results/service.json and bench/results/service.md, and
bench/results/service-latency.svg: the ``--rate`` phase over time, per tenth of a second
(the median and slowest change on the stream, the storer's loads into the store shaded).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _rss_mib() -> float:
    """The current resident set (not the peak), in MiB."""
    with open("/proc/self/statm", encoding="utf-8") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 1024**2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _used(path: str) -> float:
    """CPU seconds (user and system) of a /proc stat file's process or thread."""
    with open(path, encoding="utf-8") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _copy_pids(engine: Any) -> list[int]:
    """The evaluations' processes of the real-time state (none now: empty)."""
    copies = engine._copies
    return list(copies.pids) if copies is not None else []


def _cpu(engine: Any) -> dict[str, float]:
    """CPU seconds so far: this process's threads (:func:`_cpu_by_thread`) and the
    evaluations' processes (``evaluator processes``; their pids as ``evaluator pids``)."""
    found: dict[str, Any] = dict(_cpu_by_thread())
    pids = _copy_pids(engine)
    found["evaluator pids"] = pids
    found["evaluator processes"] = sum(_used(f"/proc/{pid}/stat") for pid in pids)
    return found


def _private_mib(pid: int) -> float | None:
    """The memory a process has of its own (pages it wrote since it was forked), MiB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as rollup:
            rows = dict(line.split(":", 1) for line in rollup if ":" in line)
    except OSError:
        return None
    kib = sum(int(rows[k].split()[0]) for k in ("Private_Clean", "Private_Dirty") if k in rows)
    return kib / 1024


def _cpu_by_thread() -> dict[str, float]:
    """CPU seconds of this process so far: the service's threads by name, the rest
    (DuckDB's own threads, the benchmark) together as ``other``."""
    used = _used

    found = {t.name: used(f"/proc/self/task/{t.native_id}/stat")
             for t in threading.enumerate() if t.native_id is not None
             and os.path.exists(f"/proc/self/task/{t.native_id}/stat")}  # fmt: skip
    total = used("/proc/self/stat")
    named = {n: v for n, v in found.items() if n.startswith(("microseg-", "uvicorn"))}
    return {**named, "other": total - sum(named.values())}


def _load(
    base: str,
    token: str,
    args: argparse.Namespace,
    rate: float,
    prefix: str,
    engine: Any,
    samples: Path | None = None,
) -> Any:
    """One run of the load generator (bench/_loadgen.py) in a process of its own, with
    the CPU time each side spent per event answered (the evaluator processes counted
    from the phase's start, or from their making when they were made during the phase);
    ``samples``: where it writes each event's latencies."""
    command = [sys.executable, str(HERE / "_loadgen.py"), base, token, "--rate", str(rate),
               "--seconds", str(args.seconds), "--clients", str(args.clients),
               "--customers", str(args.customers), "--prefix", prefix]  # fmt: skip
    if samples is not None:
        command += ["--samples", str(samples)]
    before = _cpu(engine)
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.seconds + 120)
    after = _cpu(engine)
    if before.pop("evaluator pids") != after.pop("evaluator pids"):
        before["evaluator processes"] = 0.0
    if done.returncode:
        raise SystemExit(f"the load generator failed: {done.stderr[-2000:]}")
    found = json.loads(done.stdout)
    answered = max(1, found["answered"])
    per_event = {n: round((after[n] - before.get(n, 0.0)) * 1000 / answered, 3) for n in after}
    per_event["load generator"] = round(found["cpu_seconds"] * 1000 / answered, 3)
    found["cpu_ms_per_event"] = per_event
    return found


def _settle(pipeline: Any, limit: float = 600) -> float:
    """Seconds until every acknowledged record is in the store."""
    begun = time.perf_counter()
    while pipeline.unstored and time.perf_counter() - begun < limit:
        time.sleep(0.01)
    return time.perf_counter() - begun


def main() -> None:
    import uvicorn
    from _machine import describe
    from bench_segments import _prepare, _work

    from microseg import Workspace
    from microseg.service import KeyRing, ServiceSettings, create_app

    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--light-rate", type=float, default=600)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument(
        "--store-threads",
        type=int,
        default=None,
        help="the store's DuckDB threads (store: threads:), default all cores",
    )
    args = parser.parse_args()

    shop = _prepare(args.customers, reuse=True)
    work = HERE / ".work" / "service" / str(args.customers)
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(_work(args.customers) / "ws", work)
    if args.store_threads:
        config = work / "microseg.yaml"
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("store:\n", f"store:\n  threads: {args.store_threads}\n", 1))
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
    pipeline = app.state.pipeline
    segments = len(engine.names)

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                       timeout_graceful_shutdown=2)
    )  # fmt: skip
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"

    # single events: a warm-up, then a light rate (open loop), the target rate, then as
    # fast as the server answers; lightest first, so that no phase inherits a backlog
    warm = argparse.Namespace(**{**vars(args), "seconds": 5.0})
    warm_up = _load(base, token, warm, args.light_rate / 2, "warm", engine)
    warm_up["stored_after_s"] = round(_settle(pipeline), 2)
    light = _load(base, token, args, args.light_rate, "light", engine)
    light["stored_after_s"] = round(_settle(pipeline), 2)
    samples = HERE / ".work" / "service" / "samples.jsonl"
    sustained = _load(base, token, args, args.rate, "open", engine, samples)
    loads = list(pipeline.loads)
    sustained["stored_after_s"] = round(_settle(pipeline), 2)
    most = _load(base, token, args, 0, "closed", engine)
    most["stored_after_s"] = round(_settle(pipeline), 2)

    # the batch endpoint, from the load generator's process: acknowledged, then stored
    # and applied
    command = [sys.executable, str(HERE / "_loadgen.py"), base, token, "--batches",
               str(args.batches), "--batch-size", str(args.batch_size), "--customers",
               str(args.customers), "--prefix", "batch"]  # fmt: skip
    before = _cpu_by_thread()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    after = _cpu_by_thread()
    if done.returncode:
        raise SystemExit(f"the load generator failed: {done.stderr[-2000:]}")
    posted = json.loads(done.stdout)
    # what the service's threads did while the batches were acknowledged
    ack_cpu = {n: round(after[n] - before.get(n, 0.0), 2) for n in after}
    assert set(posted["statuses"]) == {"202"}, posted
    acknowledged = posted["acknowledged_seconds"]
    stored = acknowledged + _settle(pipeline)
    batch_events = args.batches * args.batch_size

    # batch evaluation after the same events, in a session of the served workspace
    with ws.session() as session:
        begun = time.perf_counter()
        run = session.segments.evaluate(engine.names, save=False)
        evaluate_seconds = time.perf_counter() - begun
        if run.result is not None:
            run.result.drop()
        reconcile, _ = engine.reconcile(session, heal=False)

    private = [_private_mib(pid) for pid in _copy_pids(engine)]
    copy_private = sum(p for p in private if p is not None) if private else None
    server.should_exit = True
    thread.join(timeout=30)
    ws.close()

    result = {
        "machine": describe(),
        "customers": args.customers,
        # the store's DuckDB threads while served (--store-threads, else the service's
        # default: the cores its real-time path leaves)
        "store_threads": app.state.store_threads[1] or ws.store.threads(),
        "seconds_per_phase": args.seconds,
        "events_in_shop": shop["events"],
        "segments": segments,
        "start": {
            "seconds": round(start_seconds, 2),
            "resident_mib": round(resident, 1),
            "kib_per_customer": round(resident * 1024 / args.customers, 2),
        },
        "evaluator_process": {
            "processes": settings.evaluator_processes,
            "copies_made": engine.forks,
            "evaluated_in_service_instead": engine.fallbacks,
            "private_mib_at_end": None if copy_private is None else round(copy_private, 1),
        },
        "warm_up": warm_up,
        "light": light,
        "sustained": sustained,
        "most": most,
        "batch": {
            "batches": args.batches,
            "batch_size": args.batch_size,
            "acknowledged_seconds": round(acknowledged, 2),
            "acknowledged_per_second": round(batch_events / acknowledged, 1),
            "cpu_seconds_while_acknowledged": ack_cpu,
            "stored_seconds": round(stored, 2),
            "stored_per_second": round(batch_events / stored, 1),
        },
        "flushes": pipeline.flushes,
        "divergences": pipeline.divergences,
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
    picture = _timeline_svg(samples, loads, args.rate)
    (out / "service-latency.svg").write_text(picture)
    sys.stdout.write(_markdown(result))


def _timeline_svg(samples: Path, loads: list[tuple[float, float, int]], rate: float) -> str:
    """The sustained phase over time: per tenth of a second, the median and the slowest
    request-to-stream latency of the events due then, with the storer's loads into the
    store shaded (self-contained SVG, no plotting library)."""
    lines = samples.read_text(encoding="utf-8").splitlines()
    started = json.loads(lines[0])["started_monotonic"]
    buckets: dict[int, list[float]] = {}
    for line in lines[1:]:
        due, _, stream = json.loads(line)
        if stream is not None:
            buckets.setdefault(int(due * 10), []).append(stream)
    span = max(buckets) + 1 if buckets else 1
    top = max((max(v) for v in buckets.values()), default=1.0)
    top = next(t for t in (25, 50, 100, 200, 400, 800, 1600, 3200, 10**6) if t >= top)
    width, height, left, right, above, below = 900, 330, 60, 20, 56, 45
    plot_w, plot_h = width - left - right, height - above - below

    def x(tenth: float) -> float:
        return left + plot_w * tenth / span

    def y(ms: float) -> float:
        return above + plot_h * (1 - min(ms, top) / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-weight="bold">Single events '
        f"at {rate:,.0f}/s: request to change on the stream, per tenth of a second</text>",
    ]
    for begun, ended, _ in loads:
        a, b = (begun - started) * 10, (ended - started) * 10
        if b < 0 or a > span:
            continue
        a, b = max(a, 0.0), min(b, float(span))
        parts.append(
            f'<rect x="{x(a):.1f}" y="{above}" width="{max(x(b) - x(a), 1):.1f}" '
            f'height="{plot_h}" fill="#fde9c9"/>'
        )
    for tick in range(0, top + 1, top // 4):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#e5e5e5"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{tick}</text>'
        )
    for second in range(span // 10 + 1):
        parts.append(
            f'<text x="{x(second * 10):.1f}" y="{height - below + 16}" '
            f'text-anchor="middle">{second}</text>'
        )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{y(20):.1f}" y2="{y(20):.1f}" '
        'stroke="#2ca02c" stroke-dasharray="4 3"/>'
    )
    for colour, pick in (("#d62728", max), ("#222222", lambda v: sorted(v)[len(v) // 2])):
        points = " ".join(f"{x(t + 0.5):.1f},{y(pick(buckets[t])):.1f}" for t in sorted(buckets))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}"/>')
    parts += [
        f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">seconds into '
        "the phase</text>",
        f'<text x="14" y="{above + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {above + plot_h / 2})">ms</text>',
        f'<line x1="{left}" x2="{left + 20}" y1="{above - 8}" y2="{above - 8}" '
        f'stroke="#d62728"/><text x="{left + 26}" y="{above - 4}">slowest event of the '
        "tenth</text>",
        f'<line x1="{left + 210}" x2="{left + 230}" y1="{above - 8}" y2="{above - 8}" '
        f'stroke="#222222"/><text x="{left + 236}" y="{above - 4}">median</text>',
        f'<line x1="{left + 310}" x2="{left + 330}" y1="{above - 8}" y2="{above - 8}" '
        f'stroke="#2ca02c" stroke-dasharray="4 3"/><text x="{left + 336}" '
        f'y="{above - 4}">the 20 ms target</text>',
        f'<rect x="{left + 470}" y="{above - 14}" width="20" height="12" fill="#fde9c9"/>'
        f'<text x="{left + 496}" y="{above - 4}">a load of the events taken into the '
        "store</text>",
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def _single(name: str, r: dict[str, Any], target: str) -> list[str]:
    reply, stream = r["reply"], r["stream"]
    return [
        f"| {name}: {r['mode']}, {r['clients']} connections | {r['events_per_second']:,} "
        f"events/s answered ({r['answered']:,} of {r['sent']:,} in {r['seconds']} s; "
        f"statuses {r['statuses']}) | {target} |",
        f"| {name}: reply | p50 {reply.get('p50_ms')} ms, p99 {reply.get('p99_ms')} ms | |",
        f"| {name}: request to change on the stream ({stream.get('count', 0):,} events moved "
        f"a customer) | p50 {stream.get('p50_ms')} ms, p99 {stream.get('p99_ms')} ms | "
        "p99 20 ms |",
        f"| {name}: all of it in the store | {r['stored_after_s']} s after the last event | |",
        f"| {name}: CPU per event answered | {_cpu_text(r['cpu_ms_per_event'])} | |",
    ]


def _cpu_text(per_event: dict[str, float]) -> str:
    shown = sorted(((v, n) for n, v in per_event.items() if v >= 0.005), reverse=True)
    total = sum(per_event.values())
    return f"{total:.2f} ms: " + ", ".join(f"{n} {v:.2f}" for v, n in shown)


def _ack_cpu(batch: dict[str, Any]) -> str:
    """The service's threads' CPU seconds while the batches were acknowledged, most first."""
    used = batch.get("cpu_seconds_while_acknowledged") or {}
    ordered = sorted(used.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{name} {seconds} s" for name, seconds in ordered if seconds)
    return shown or "not recorded"


def _markdown(r: dict[str, Any]) -> str:
    from _machine import summary

    m, b, st, e = r["machine"], r["batch"], r["start"], r["evaluator_process"]
    lines = [
        "# The service under load",
        "",
        f"{r['customers']:,} customers ({r['events_in_shop']:,} events), {r['segments']} "
        f"segments; uvicorn on 127.0.0.1 in the benchmark's process, the load generator "
        f"(bench/_loadgen.py) in another; single events after a 5-second warm-up at "
        f"{r['warm_up']['mode'].split(' at ')[-1]}. Machine: {summary(m)}; shared with "
        f"other work while it ran. The store's DuckDB threads while served: "
        f"{r.get('store_threads') or 'not recorded'}. Reproduce: "
        "`python bench/bench_service.py --customers "
        f"{r['customers']} --seconds {r['seconds_per_phase']:g}`. CPU per event: each "
        "thread's CPU time (from /proc) over the events answered in the phase, and the "
        "evaluations' processes' (forked copies of the real-time state).",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| start: real-time state of every customer | {st['seconds']} s, "
        f"{st['resident_mib']} MiB ({st['kib_per_customer']} KiB per customer) | |",
        f"| evaluations' processes ({e['processes']}, forked: they share the service's memory "
        f"until either writes) | {e['private_mib_at_end']} MiB of their own at the end; made "
        f"{e['copies_made']} times, {e['evaluated_in_service_instead']} evaluations done in "
        "the service instead | |",
        *_single("single events", r["light"], ""),
        *_single("single events", r["sustained"], "2,000 events/s"),
        *_single("single events", r["most"], ""),
        f"| batch endpoint, {b['batches']} x {b['batch_size']:,} events: acknowledged "
        f"(written ahead) | {b['acknowledged_per_second']:,} events/s | 50,000 events/s |",
        f"| batch endpoint: CPU of the service's threads while acknowledged | {_ack_cpu(b)} | |",
        f"| batch endpoint: stored and evaluated in real time | {b['stored_per_second']:,} "
        f"events/s ({b['stored_seconds']} s) | |",
        f"| batch evaluation of the {r['segments']} segments after those events | "
        f"{r['batch_evaluate_seconds']} s | |",
        f"| loads into the store (micro-batches) | {r['flushes']:,}; fast-lane divergences "
        f"{r['divergences']} | 0 |",
        f"| reconciliation after the run | {r['reconcile_disagreements']} disagreements | 0 |",
        "",
        f"The {r['sustained']['mode']} phase over time (service-latency.svg): per tenth of a "
        "second, the median and the slowest request-to-stream latency, with the storer's "
        "loads shaded.",
        "",
        "![latency over time](service-latency.svg)",
        "",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
