"""Batch evaluation: every built-in trait and 50 varied segments over a synthetic shop.

    python bench/bench_segments.py                    # 1M customers (~14M events)
    python bench/bench_segments.py --customers 200000

It generates the shop, ingests it (not timed here: see bench_ingest.py), then times
``compute_traits`` (all built-ins, one aggregation pass plus the RFM cut points) and
``evaluate`` (50 segments together, one aggregation pass plus the sequence joins).
Each measurement runs in its own process, so its peak RSS is its own.
Writes bench/results/segments.json and bench/results/segments.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "segments"
sys.path.insert(0, str(HERE))

AS_OF = "2026-10-31"


def _rss() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _prepare(customers: int) -> dict[str, object]:
    from bench_profile import _segments

    from microseg import Workspace
    from microseg.synth import generate_shop

    shutil.rmtree(WORK, ignore_errors=True)
    shop = generate_shop(WORK / "data", customers=customers, seed=3, end=date(2026, 10, 31))
    ws = Workspace.init(
        WORK / "ws", timezone="Europe/Paris", clock=lambda: datetime(2026, 11, 1, tzinfo=UTC)
    )
    ws.ingest("customers", shop.paths["customers"], valid_from="signup_date")
    ws.ingest("events", list(shop.event_files))
    for name, rule in _segments().items():
        (WORK / "ws" / "segments" / f"{name}.yaml").write_text(
            json.dumps({"name": name, "rule": rule})  # JSON is YAML
        )
    ws.close()
    return {"customers": customers, "events": shop.counts["events"]}


def _measure(what: str, with_pandas: bool = True) -> dict[str, object]:
    from microseg import Workspace

    ws = Workspace.open(WORK / "ws", clock=lambda: datetime(2026, 11, 1, tzinfo=UTC))
    start = time.perf_counter()
    if what == "traits":
        run = ws.compute_traits(as_of=AS_OF, save=False)
        count = len(run.summary)
        seconds = time.perf_counter() - start
        ws.close()
        return {"what": what, "items": count, "seconds": round(seconds, 2), "peak_rss_mib": _rss()}
    result = ws.evaluate(as_of=AS_OF, save=False)
    seconds = time.perf_counter() - start
    baseline_seconds, baseline_sizes = _baseline(ws)
    pandas = _pandas(ws) if with_pandas else None
    ws.close()
    mismatched = {
        n: (result.sizes[n], baseline_sizes.get(n))
        for n in result.sizes
        if result.sizes[n] != baseline_sizes.get(n)
    }
    return {
        "what": what,
        "items": len(result.sizes),
        "seconds": round(seconds, 2),
        "baseline_seconds": round(baseline_seconds, 2),
        "ratio_to_baseline": round(seconds / baseline_seconds, 2),
        "sizes_match_baseline": not mismatched,
        "mismatched": mismatched,
        "peak_rss_mib": _rss(),
        **(
            {
                "pandas_load_seconds": pandas[0],
                "pandas_seconds": pandas[1],
                "pandas_ratio": round(pandas[1] / seconds, 2),
                "pandas_sizes_match": pandas[2] == result.sizes,
                "pandas_mismatched": {
                    n: (result.sizes[n], pandas[2].get(n))
                    for n in result.sizes
                    if result.sizes[n] != pandas[2].get(n)
                },
            }
            if pandas
            else {}
        ),
    }


def _params(ws: Any) -> dict[str, Any]:
    from datetime import timedelta

    from microseg._duration import parse_duration

    clock = ws.clock(AS_OF)
    return {
        "as_of": clock.as_of,
        "age_day": clock.today().isoformat(),
        "d7": clock.as_of - timedelta(days=7),
        "d30": clock.as_of - timedelta(days=30),
        "d90": clock.as_of - timedelta(days=90),
        "m6": clock.back(parse_duration("6 months")),
        "m4": clock.back(parse_duration("4 months")),
        **{f"w{i}": clock.as_of - timedelta(days=90 + 30 * i) for i in range(7)},
    }


def _pandas(ws: Any) -> tuple[float, float, dict[str, int]]:
    """The same segments one by one in pandas: (load seconds, evaluate seconds, sizes)."""
    from _pandas_segments import load_frames, segments

    params = _params(ws)
    start = time.perf_counter()
    events, people = load_frames(ws.store, params["as_of"], params["age_day"])
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    sizes = {name: int(f(events, people).sum()) for name, f in segments(params).items()}
    return round(loaded, 2), round(time.perf_counter() - start, 2), sizes


def _baseline(ws: Any) -> tuple[float, dict[str, int]]:
    """The hand-written query (bench/sql/segments_baseline.sql) on the same store."""
    params = _params(ws)
    query = (HERE / "sql" / "segments_baseline.sql").read_text()
    start = time.perf_counter()
    ws.store.execute(f"CREATE OR REPLACE TEMP TABLE _baseline AS {query}", params)
    seconds = time.perf_counter() - start
    names = [c for c in ws.store.columns("_baseline") if c != "customer_id"]
    sizes = ws.store.membership_sizes("_baseline", names)
    return seconds, sizes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--child")
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas comparison")
    parser.add_argument("--render", action="store_true", help="rewrite the .md from the .json")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child, with_pandas=not args.no_pandas)))
        return
    if args.render:
        saved = json.loads((HERE / "results" / "segments.json").read_text())
        (HERE / "results" / "segments.md").write_text(_markdown(saved))
        return
    from _machine import describe

    shop = _prepare(args.customers)
    rows = []
    for what in ("traits", "segments"):
        extra = ["--no-pandas"] if args.no_pandas else []
        out = subprocess.run(
            [sys.executable, __file__, "--child", what, *extra], capture_output=True, text=True
        )
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    shutil.rmtree(WORK, ignore_errors=True)
    result = {"machine": describe(), "shop": shop, "runs": rows}
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stem = "segments" if args.customers == 1_000_000 else f"segments-{args.customers}"
    (out_dir / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / f"{stem}.md").write_text(_markdown(result))


def _markdown(result: dict[str, Any]) -> str:
    shop = result["shop"]
    rows = result["runs"]
    m = result["machine"]
    lines = [
        "# Batch evaluation: traits and segments",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; DuckDB {m['duckdb']}, "
        f"Ibis {m['ibis']}. Reproduce: `python bench/bench_segments.py "
        f"--customers {shop['customers']}`.",
        "",
        f"Shop: {shop['customers']:,} customers, {shop['events']:,} events; as_of {AS_OF}.",
        "",
        "| workload | items | seconds | peak RSS MiB |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        label = "all built-in traits" if row["what"] == "traits" else "50 segments together"
        lines.append(f"| {label} | {row['items']} | {row['seconds']} | {row['peak_rss_mib']:,} |")
    seg = next(r for r in rows if r["what"] == "segments")

    def same(ok: bool, diff: dict[str, Any]) -> str:
        return (
            "yes"
            if ok
            else "all but " + ", ".join(f"{k} {v[0]} vs {v[1]}" for k, v in diff.items())
        )

    lines += [
        "",
        "The same 50 segments computed by one hand-written DuckDB query "
        "(bench/sql/segments_baseline.sql), in the same process on the same store:",
        "",
        "| microseg s | hand-written query s | ratio | same sizes |",
        "|---:|---:|---:|---|",
        f"| {seg['seconds']} | {seg['baseline_seconds']} | {seg['ratio_to_baseline']}x "
        f"| {same(seg['sizes_match_baseline'], seg['mismatched'])} |",
    ]
    if "pandas_seconds" in seg:
        lines += [
            "",
            "The same 50 segments one by one in pandas (bench/_pandas_segments.py), on frames "
            "loaded from the store beforehand (loading not counted):",
            "",
            "| microseg s | pandas s | pandas / microseg | pandas load s | same sizes |",
            "|---:|---:|---:|---:|---|",
            f"| {seg['seconds']} | {seg['pandas_seconds']} | {seg['pandas_ratio']}x "
            f"| {seg['pandas_load_seconds']} "
            f"| {same(seg['pandas_sizes_match'], seg['pandas_mismatched'])} |",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
