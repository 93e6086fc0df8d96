"""Synth speed and ingest throughput (Parquet, CSV) with peak memory, at 1M and 10M events.

Each measurement runs in its own process so that its peak RSS is its own. Ingest is
also expressed as a ratio to a bare ``INSERT INTO ... SELECT * FROM read_parquet(...)``
(or ``read_csv``) run in the same process on the same file: the engine's own limit.

    python bench/bench_ingest.py                # 1M and 10M events
    python bench/bench_ingest.py --sizes 1      # 1M only (quick)

Writes bench/results/ingest.json and bench/results/ingest.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_synth(customers: int, out: str) -> dict[str, object]:
    from microseg.synth import generate_shop

    start = time.perf_counter()
    result = generate_shop(out, customers=customers, seed=7)
    seconds = time.perf_counter() - start
    return {
        "customers": customers,
        "events": result.counts["events"],
        "seconds": round(seconds, 2),
        "events_per_s": round(result.counts["events"] / seconds),
        "peak_rss_mib": round(_peak_rss_mib()),
    }


def child_ingest(fmt: str, files: list[str], root: str) -> dict[str, object]:
    import duckdb

    from microseg import Workspace

    shutil.rmtree(root, ignore_errors=True)
    ws = Workspace.init(root, clock=lambda: datetime(2026, 11, 1, tzinfo=UTC))
    start = time.perf_counter()
    report = ws.ingest("events", files)
    seconds = time.perf_counter() - start
    ws.close()
    rss = _peak_rss_mib()
    # the baseline: DuckDB copying the same files into a table, nothing else
    base_path = Path(root) / "baseline.duckdb"
    con = duckdb.connect(str(base_path))
    reader = "read_parquet" if fmt == "parquet" else "read_csv"
    con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}($1) LIMIT 0", [files])
    start = time.perf_counter()
    con.execute(f"INSERT INTO t SELECT * FROM {reader}($1)", [files])
    con.execute("CHECKPOINT")
    base_seconds = time.perf_counter() - start
    con.close()
    return {
        "format": fmt,
        "rows": report.rows_read,
        "accepted": report.accepted,
        "seconds": round(seconds, 2),
        "events_per_s": round(report.rows_read / seconds),
        "peak_rss_mib": round(rss),
        "baseline_seconds": round(base_seconds, 2),
        "ratio_to_baseline": round(seconds / base_seconds, 2),
    }


def _run_child(*args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10], help="million events")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "synth":
            result = child_synth(int(rest[0]), rest[1])
        else:
            result = child_ingest(rest[0], rest[2:], rest[1])
        print(json.dumps(result))
        return

    from _machine import describe

    WORK.mkdir(exist_ok=True)
    results: dict[str, object] = {"machine": describe(), "synth": [], "ingest": []}
    for millions in args.sizes:
        shop = WORK / f"shop-{millions}m"
        shutil.rmtree(shop, ignore_errors=True)
        # about 12 events per customer over 24 months
        synth = _run_child("synth", str(millions * 1_000_000 // 12), str(shop))
        results["synth"].append(synth)  # type: ignore[attr-defined]
        print("synth", synth, flush=True)
        parquet = sorted(str(p) for p in shop.glob("events*.parquet"))
        csv = str(shop / "events.csv")
        import duckdb

        duckdb.connect().execute(
            "COPY (SELECT * FROM read_parquet($1)) TO '" + csv.replace("'", "''") + "' (HEADER)",
            [parquet],
        )
        for fmt, files in (("parquet", parquet), ("csv", [csv])):
            row = _run_child("ingest", fmt, str(WORK / "ws"), *files)
            row["millions"] = millions
            results["ingest"].append(row)  # type: ignore[attr-defined]
            print("ingest", row, flush=True)
        shutil.rmtree(shop, ignore_errors=True)
    shutil.rmtree(WORK, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "ingest.md").write_text(_markdown(results))


def _markdown(results: dict[str, object]) -> str:
    machine = results["machine"]
    lines = [
        "# Ingest and synth benchmark",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; "  # type: ignore[index]
        f"Python {machine['python']}, DuckDB {machine['duckdb']}, Ibis {machine['ibis']}.",  # type: ignore[index]
        "Reproduce: `python bench/bench_ingest.py`.",
        "",
        "## Synthetic shop (Parquet)",
        "",
        "| customers | events | seconds | events/s | peak RSS MiB |",
        "|---:|---:|---:|---:|---:|",
    ]
    for s in results["synth"]:  # type: ignore[attr-defined]
        lines.append(
            f"| {s['customers']:,} | {s['events']:,} | {s['seconds']} | {s['events_per_s']:,} "
            f"| {s['peak_rss_mib']:,} |"
        )
    lines += [
        "",
        "## Event ingest (validation, dedup, identity, atomic)",
        "",
        "| format | rows | seconds | events/s | peak RSS MiB | bare DuckDB insert s | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["ingest"]:  # type: ignore[attr-defined]
        lines.append(
            f"| {r['format']} | {r['rows']:,} | {r['seconds']} | {r['events_per_s']:,} "
            f"| {r['peak_rss_mib']:,} | {r['baseline_seconds']} | {r['ratio_to_baseline']}x |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
