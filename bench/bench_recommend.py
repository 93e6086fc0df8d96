"""Next-best products on the synthetic shop: offline evaluation with a time split, the cost
of preparing, and one customer's recommendations from prepared state.

    python bench/bench_recommend.py                   # 100,000 customers
    python bench/bench_recommend.py --customers 20000

The shop of bench_segments.py (shared with it: bench/.work/segments). Train on everything
before T = 2026-09-05 (the end of 2026-09-04, Europe/Paris), test on the purchases of the
next 8 weeks. A discovery run made as of T gives the micro-segments of the ``segment``
method (no look-ahead). Measured in this process:

* ``ws.discover.run(as_of=T)`` (the micro-segments), then
  ``ws.insights.prepare_recommender(as_of=T, run=...)``: seconds and peak RSS;
* ``ws.insights.evaluate_recommendations(as_of=T, weeks=8, k=10)``: precision@10,
  recall@10, NDCG@10 and coverage of each method, against global popularity;
* the top 10 of every customer (blend), in batch;
* ``prepared.recommend(customer_id, method=...)`` for random customers: p50/p95/p99 ms,
  wall-clock and CPU time of the thread (the machine is shared).

Writes bench/results/recommend.json and bench/results/recommend.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

T = "2026-09-04"  # the end of that day: training stops before 2026-09-05 (local time)
WEEKS = 8
K = 10
NOW = datetime(2026, 11, 1, tzinfo=UTC)
METHODS = ("popular", "segment", "itemknn", "blend")


def _rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _percentiles(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "runs": len(ordered),
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * len(ordered)) - 1], 3),
        "p99_ms": round(ordered[int(0.99 * len(ordered)) - 1], 3),
        "max_ms": round(ordered[-1], 3),
    }


def main() -> None:
    from _machine import describe
    from bench_segments import _prepare, _work

    from microseg import Workspace

    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=2000, help="prepared calls per method")
    args = parser.parse_args()

    shop = _prepare(args.customers, reuse=True)
    work = HERE / ".work" / "recommend" / str(args.customers)
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(_work(args.customers) / "ws", work)
    ws = Workspace.open(work, clock=lambda: NOW)
    load_before = round(os.getloadavg()[0], 2)

    start = time.perf_counter()
    run = ws.discover.run(as_of=T, seed=1, name="train", refits=0)
    discover_seconds = time.perf_counter() - start

    start = time.perf_counter()
    prepared = ws.insights.prepare_recommender(as_of=T, run="train")
    prepare_seconds = time.perf_counter() - start
    rss_prepared = _rss_mib()

    start = time.perf_counter()
    evaluation = ws.insights.evaluate_recommendations(as_of=T, weeks=WEEKS, k=K, run="train")
    evaluate_seconds = time.perf_counter() - start

    start = time.perf_counter()
    everyone = prepared.for_members(prepared.customers, segment="everyone", k=K)
    all_seconds = time.perf_counter() - start

    rng = random.Random(13)
    counts = prepared.bought.getnnz(axis=1)
    buyers = [c for c, n in zip(prepared.customers, counts, strict=True) if n]
    calls = [rng.choice(buyers) for _ in range(args.calls + 200)]
    for customer_id in calls[:200]:  # warm-up
        prepared.recommend(customer_id)
    latency: dict[str, dict[str, float]] = {}
    cpu_latency: dict[str, dict[str, float]] = {}
    for method in METHODS:
        timings, cpu = [], []
        for customer_id in calls[200:]:
            begin, begin_cpu = time.perf_counter(), time.thread_time()
            prepared.recommend(customer_id, method=method, k=K)
            cpu.append((time.thread_time() - begin_cpu) * 1000)
            timings.append((time.perf_counter() - begin) * 1000)
        latency[method], cpu_latency[method] = _percentiles(timings), _percentiles(cpu)
    ws.close()

    result = {
        "machine": describe(),
        "load_before": load_before,
        "customers": shop["customers"],
        "events": shop["events"],
        "trained_until": T,
        "weeks": WEEKS,
        "k": K,
        "discovery": {
            "clusters": len(run.clusters),
            "seconds": round(discover_seconds, 2),
        },
        "prepare_seconds": round(prepare_seconds, 2),
        "peak_rss_mib_after_prepare": rss_prepared,
        "buyers_in_state": len(buyers),
        "candidates": len(prepared.products),
        "evaluate_seconds": round(evaluate_seconds, 2),
        "top10_all_customers_seconds": round(all_seconds, 2),
        "top10_all_customers": len(prepared.customers),
        "top10_all_first": everyone.products[0].product_id if everyone.products else None,
        "peak_rss_mib": _rss_mib(),
        "evaluation": evaluation.to_dict(),
        "latency": latency,
        "cpu_latency": cpu_latency,
    }
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "recommend.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "recommend.md").write_text(_markdown(result))
    print(json.dumps(result, indent=2))


def _markdown(r: dict[str, Any]) -> str:
    m, e = r["machine"], r["evaluation"]
    methods = "\n".join(
        f"| {s['method']} | {s['precision']:.4f} | {s['recall']:.4f} | {s['ndcg']:.4f} | "
        f"{s['coverage']:.1%} | {s['vs_popular'] if s['vs_popular'] is not None else '-'} |"
        for s in e["methods"]
    )
    latency = "\n".join(
        f"| {method} | {p['runs']} | {p['p50_ms']} | {p['p95_ms']} | {p['p99_ms']} | "
        f"{p['max_ms']} | {c['p50_ms']} | {c['p99_ms']} |"
        for (method, p), c in zip(r["latency"].items(), r["cpu_latency"].values(), strict=True)
    )
    return (
        "# Next-best products on the synthetic shop\n\n"
        f"Machine: {m['cpu']}, {m['cores']} cores, {m.get('memory_gib')} GiB; "
        f"Python {m['python']}; 1-minute load before the run {r['load_before']} (shared "
        "machine). Reproduce: "
        f"`python bench/bench_recommend.py --customers {r['customers']}`.\n\n"
        f"A synthetic shop of {r['customers']:,} customers and {r['events']:,} events. "
        f"Trained on everything up to {r['trained_until']} (end of day), tested on the "
        f"purchases of the next {r['weeks']} weeks: {e['customers']:,} customers who bought "
        f"before and bought a candidate product after ({e['test_purchases']:,} (customer, "
        f"product) pairs), {e['candidates']:,} candidate products. Micro-segments: "
        f"{e['group']} (made as of the same date, {r['discovery']['seconds']} s).\n\n"
        f"| method | precision@{r['k']} | recall@{r['k']} | NDCG@{r['k']} | coverage | "
        "precision vs popular |\n"
        "|---|---:|---:|---:|---:|---:|\n"
        f"{methods}\n\n"
        f"Preparing (purchase pairs, item-item neighbours, micro-segment popularity): "
        f"{r['prepare_seconds']} s, peak RSS {r['peak_rss_mib_after_prepare']:,} MiB. "
        f"The evaluation (every method, every tested customer) took {r['evaluate_seconds']} s; "
        f"the top {r['k']} (blend) of all {r['top10_all_customers']:,} customers in the "
        f"prepared state {r['top10_all_customers_seconds']} s. Peak RSS of the run "
        f"{r['peak_rss_mib']:,} MiB.\n\n"
        "One customer's recommendations from the prepared state "
        "(`prepared.recommend(customer_id, method=...)`, random buyers), wall-clock time, "
        "then the CPU time of the calling thread (what the call costs when the machine is "
        "not shared; the wall-clock tail is time spent waiting for a core):\n\n"
        "| method | calls | p50 ms | p95 ms | p99 ms | max ms | CPU p50 ms | CPU p99 ms |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|\n"
        f"{latency}\n"
    )


if __name__ == "__main__":
    main()
