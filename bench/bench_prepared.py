"""One customer's segments through the public API: the facade call against the prepared
evaluator, on a 100,000-customer shop (about 1.4M events).

    python bench/bench_prepared.py                   # 100,000 customers
    python bench/bench_prepared.py --customers 20000

The shop and the 50 segments of bench_segments.py (shared with it: bench/.work/segments),
plus five segments that read built-in traits (lifecycle stage, RFM group, spend, return
rate, top category), so the prepared evaluator also carries the trait catalog, the RFM cut
points and trait dependencies. Both paths run in this process, on the same customers:

* ``ws.segments.of(customer_id, as_of=...)``: what any caller had before (each call loads
  the catalogs, checks the definitions, computes the RFM cut points, reads the customer);
* ``ws.segments.prepare()`` once, then ``evaluator.of(customer_id, as_of=...)``.

Every customer measured on the facade path is checked to get the same answer from the
prepared evaluator. Writes bench/results/prepared.json and bench/results/prepared.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

AS_OF = "2026-10-31"
NOW = datetime(2026, 11, 1, tzinfo=UTC)

TRAIT_SEGMENTS: dict[str, Any] = {
    "trait-at-risk": {"trait": "lifecycle_stage", "in": ["at_risk", "lapsed"]},
    "trait-champions": {"trait": "rfm_group", "eq": "champions"},
    "trait-big-spenders": {"trait": "total_spend", "gte": 500},
    "trait-returners": {"trait": "return_rate", "gt": 0.2},
    "trait-sports-first": {
        "all": [{"trait": "top_category", "eq": "sports"}, {"trait": "purchase_count", "gte": 2}]
    },
}


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
    parser.add_argument("--facade", type=int, default=20, help="customers on the facade path")
    parser.add_argument("--calls", type=int, default=2000, help="prepared calls measured")
    args = parser.parse_args()

    prepared = _prepare(args.customers, reuse=True)
    source = _work(args.customers) / "ws"
    work = HERE / ".work" / "prepared" / str(args.customers)
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work)
    for name, rule in TRAIT_SEGMENTS.items():
        (work / "segments" / f"{name}.yaml").write_text(json.dumps({"name": name, "rule": rule}))

    ws = Workspace.open(work, clock=lambda: NOW)
    ids = ws.customers().select("customer_id").to_pyarrow().column(0).to_pylist()
    rng = random.Random(11)
    chosen = rng.sample(ids, args.facade)
    load_before = round(os.getloadavg()[0], 2)

    facade: list[float] = []
    answers: dict[str, dict[str, bool]] = {}
    for customer_id in chosen:
        start = time.perf_counter()
        answers[customer_id] = ws.segments.of(customer_id, as_of=AS_OF)
        facade.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    evaluator = ws.segments.prepare()
    prepare_seconds = time.perf_counter() - start
    for customer_id in chosen:
        assert evaluator.of(customer_id, as_of=AS_OF) == answers[customer_id], customer_id

    calls = [rng.choice(ids) for _ in range(args.calls + 200)]
    for customer_id in calls[:200]:  # warm-up: the first call at an as_of loads its cut points
        evaluator.of(customer_id, as_of=AS_OF)
    timings = []
    for customer_id in calls[200:]:
        start = time.perf_counter()
        evaluator.of(customer_id, as_of=AS_OF)
        timings.append((time.perf_counter() - start) * 1000)
    ws.close()

    before, after = _percentiles(facade), _percentiles(timings)
    result = {
        "machine": describe(),
        "load_before": load_before,
        "customers": prepared["customers"],
        "events": prepared["events"],
        "segments": len(evaluator.names),
        "traits": len(evaluator.traits.definitions),
        "as_of": AS_OF,
        "facade": before,
        "prepare_seconds": round(prepare_seconds, 2),
        "prepared": after,
        "speedup_p50": round(before["p50_ms"] / after["p50_ms"], 1),
        "agree": len(chosen),
    }
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "prepared.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "prepared.md").write_text(_markdown(result))
    print(json.dumps(result, indent=2))


def _markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    rows = [
        ("`ws.segments.of(id, as_of=...)`", r["facade"]),
        ("`ws.segments.prepare()` then `.of(id, as_of=...)`", r["prepared"]),
    ]
    table = "\n".join(
        f"| {label} | {p['runs']} | {p['p50_ms']} | {p['p95_ms']} | {p['p99_ms']} | {p['max_ms']} |"
        for label, p in rows
    )
    return (
        "# One customer's segments through the public API\n\n"
        f"Machine: {m['cpu']}, {m['cores']} cores, {m.get('memory_gib')} GiB; "
        f"Python {m['python']}; 1-minute load before the run {r['load_before']} (shared "
        "machine). Reproduce: `python bench/bench_prepared.py`.\n\n"
        f"A synthetic shop of {r['customers']:,} customers and {r['events']:,} events; "
        f"{r['segments']} segments (the 50 of bench_segments.py and five that read built-in "
        f"traits) over {r['traits']} traits, as of {r['as_of']}. Both paths ran in the same "
        f"process on the same workspace; the {r['agree']} customers of the first row got "
        "the same answer from both.\n\n"
        "| path | calls | p50 ms | p95 ms | p99 ms | max ms |\n"
        "|---|---:|---:|---:|---:|---:|\n"
        f"{table}\n\n"
        f"Preparing took {r['prepare_seconds']} s (catalogs, checks, and every customer's "
        "events and attribute history read into memory, sorted by customer). The prepared "
        f"evaluator is {r['speedup_p50']}x faster at the median.\n"
    )


if __name__ == "__main__":
    main()
