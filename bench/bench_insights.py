"""Segment insight at scale: the migration back-fill, the value table, recommendations.

    python bench/bench_insights.py                       # 1M customers (~14M events)
    python bench/bench_insights.py --customers 100000
    python bench/bench_insights.py --only series,one     # some measurements only

The shop (with its attribute history: marriages, moves) is generated and ingested once into
bench/.work/insights/<customers> (gitignored) and reused by later runs (``--fresh`` makes a
new one). Each measurement runs in its own process (its peak RSS is its own, VmHWM):

* ``one``: ``ws.segments.evaluate(SERIES, as_of=AS_OF)``, the 20 segments of the back-fill
  evaluated once, stored;
* ``series``: ``ws.segments.evaluate_series(SERIES, DATES)``, the 12 monthly snapshots in
  one pass (what ``microseg insights migration --every month`` back-fills), stored;
* ``onebyone``: the same 12 snapshots one evaluation after another (the earlier back-fill);
* ``value``: ``ws.insights.value(FIFTY, as_of=AS_OF)``, the value table of 50 segments
  (no value fit: its CLV columns are empty; growth against the same computation 12 months
  earlier, as no stored evaluation of the 50 precedes as_of);
* ``value_sql``: the same table by hand-written DuckDB SQL (bench/sql/value_baseline.sql
  over bench/sql/segments_baseline.sql at both dates), through duckdb directly;
* ``recommend``: ``ws.insights.prepare_recommender(as_of=AS_OF)``, then the top 10 (blend)
  of every customer in the prepared state.

The machine is shared: ratios measured in the same run are what count. Writes
bench/results/insights.json and insights.md (insights-<n>.* for other sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK_ROOT = HERE / ".work" / "insights"
sys.path.insert(0, str(HERE))

AS_OF = "2026-10-31"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
#: the 12 month ends of the back-fill, the last one AS_OF
DATES = [
    "2025-11-30", "2025-12-31", "2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30",
    "2026-05-31", "2026-06-30", "2026-07-31", "2026-08-31", "2026-09-30", "2026-10-31",
]  # fmt: skip
#: 20 of the 50 segments of bench_profile.py: windows, sums, attributes with references,
#: multi-condition counts, a negation, a bucket, an average, a distinct count, relative
#: dates, and two sequences (which the one-pass back-fill still computes date by date)
SERIES = [
    *(f"buyers-{c}" for c in ("sports", "travel", "anime", "electronics", "fashion")),
    *(f"spend-{c}" for c in ("sports", "travel", "anime")),
    "young-sports", "young-travel", "mobile-sports", "mobile-travel", "not-sports",
    "repeat-sports", "abandoned", "openers", "holdout", "big-basket", "many-channels", "recent",
]  # fmt: skip
MEASUREMENTS = ("one", "series", "onebyone", "value", "value_sql", "recommend")


def _work(customers: int) -> Path:
    return WORK_ROOT / str(customers)


def _prepare(customers: int, *, fresh: bool) -> dict[str, Any]:
    """Generate and ingest the shop once; later runs reuse it (bench/.work is gitignored)."""
    from bench_profile import _segments

    from microseg import Workspace
    from microseg.synth import generate_shop

    work = _work(customers)
    saved = work / "shop.json"
    if not fresh and saved.exists():
        return dict(json.loads(saved.read_text()))
    shutil.rmtree(work, ignore_errors=True)
    started = time.perf_counter()
    shop = generate_shop(work / "data", customers=customers, seed=3, end=date(2026, 10, 31))
    generated = time.perf_counter() - started
    ws = Workspace.init(work / "ws", timezone="Europe/Paris", clock=lambda: NOW)
    ws.ingest("customers", shop.paths["customers"], valid_from="signup_date")
    ws.ingest("customers", shop.paths["customer_updates"])
    ws.ingest("events", list(shop.event_files))
    for name, rule in _segments().items():
        (work / "ws" / "segments" / f"{name}.yaml").write_text(
            json.dumps({"name": name, "rule": rule})  # JSON is YAML
        )
    ws.close()
    shutil.rmtree(work / "data", ignore_errors=True)
    prepared = {
        "customers": customers,
        "events": shop.counts["events"],
        "generate_seconds": round(generated, 1),
        "generate_and_ingest_seconds": round(time.perf_counter() - started, 1),
    }
    saved.write_text(json.dumps(prepared))
    return prepared


def _params(ws: Any, as_of: str) -> dict[str, Any]:
    from bench_segments import _params as segment_params

    from microseg.core.duration import parse_duration

    clock = ws.context.clock(as_of)
    params = dict(segment_params(ws))
    if as_of != AS_OF:  # the segments' parameters at that date
        params = {
            "as_of": clock.as_of,
            "age_day": clock.today().isoformat(),
            "d7": clock.as_of - timedelta(days=7),
            "d30": clock.as_of - timedelta(days=30),
            "d90": clock.as_of - timedelta(days=90),
            "m6": clock.back(parse_duration("6 months")),
            "m4": clock.back(parse_duration("4 months")),
            **{f"w{i}": clock.as_of - timedelta(days=90 + 30 * i) for i in range(7)},
        }
    params["start"] = clock.back(parse_duration("12 months"))
    return params


def _value_sql(ws: Any) -> dict[str, Any]:
    """The value table of the 50 segments by hand-written SQL; its rows by group."""
    import duckdb

    from microseg.core.duration import parse_duration

    segments_sql = (HERE / "sql" / "segments_baseline.sql").read_text()
    value_sql = (HERE / "sql" / "value_baseline.sql").read_text()
    now = _params(ws, AS_OF)
    earlier = ws.context.clock(AS_OF).back(parse_duration("12 months"))
    before = _params(ws, earlier.replace(tzinfo=UTC).isoformat())
    con: duckdb.DuckDBPyConnection = ws.store.con
    for table, params in (("_seg_now", now), ("_seg_before", before)):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {segments_sql}", _only(params))
    rows: dict[str, Any] = {}
    for label, table, params in (("now", "_seg_now", now), ("before", "_seg_before", before)):
        query = value_sql.replace("$segments", table)
        cursor = con.execute(query, {"start": params["start"], "end": params["as_of"]})
        names = [d[0] for d in cursor.description]
        rows[label] = {r[0]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}
    return rows


def _only(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != "start"}


def _measure(what: str, customers: int) -> dict[str, Any]:
    """One measurement, in this (child) process."""
    from bench_profile import _segments
    from bench_segments import _cpu, _rss

    from microseg import Workspace

    ws = Workspace.open(_work(customers) / "ws", clock=lambda: NOW)
    row: dict[str, Any] = {"what": what, "load_before": round(os.getloadavg()[0], 2)}
    cpu = _cpu()
    start = time.perf_counter()
    if what == "one":
        run = ws.segments.evaluate(SERIES, as_of=AS_OF, save=True)
        row["sizes"] = {AS_OF: run.sizes}
    elif what == "series":
        runs = ws.segments.evaluate_series(SERIES, DATES, save=True)
        row["sizes"] = {d: r.sizes for d, r in zip(DATES, runs, strict=True)}
    elif what == "onebyone":
        row["sizes"] = {}
        for day in DATES:
            row["sizes"][day] = ws.segments.evaluate(SERIES, as_of=day, save=True).sizes
    elif what == "value":
        table = ws.insights.value(list(_segments()), as_of=AS_OF, by="revenue")
        row["rows"] = {
            r.group: {"members": r.members, "revenue": r.revenue, "orders": r.orders}
            for r in table.rows
        }
        row["items"] = len(table.rows)
    elif what == "value_sql":
        found = _value_sql(ws)
        row["rows"] = {
            g: {"members": r["members"], "revenue": round(r["revenue"], 2), "orders": r["orders"]}
            for g, r in found["now"].items()
        }
        row["items"] = len(found["now"])
    elif what == "recommend":
        prepared = ws.insights.prepare_recommender(as_of=AS_OF)
        row["prepare_seconds"] = round(time.perf_counter() - start, 2)
        everyone = prepared.for_members(prepared.customers, segment="everyone", k=10)
        row["customers"] = len(prepared.customers)
        row["products"] = len(everyone.products)
    else:
        raise SystemExit(f"unknown measurement {what!r}")
    row["seconds"] = round(time.perf_counter() - start, 2)
    row["cpu_seconds"] = round(_cpu() - cpu, 2)
    row["peak_rss_mib"] = _rss()
    ws.close()
    return row


def _child(what: str, customers: int) -> dict[str, Any]:
    """Run one measurement in a fresh process; a failure is recorded, not raised."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", what, "--customers", str(customers)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
        return {"what": what, "error": (lines or [f"exit {out.returncode}"])[-1].strip()}
    row: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return row


def _compare(result: dict[str, Any]) -> dict[str, Any]:
    """Ratios and agreement between the measurements of the same run."""
    runs = {r["what"]: r for r in result["runs"] if "error" not in r}
    found: dict[str, Any] = {}
    one = runs.get("one")
    for name in ("series", "onebyone"):
        if one and name in runs:
            found[f"{name}_ratio_to_one"] = round(runs[name]["seconds"] / one["seconds"], 2)
            found[f"{name}_cpu_ratio_to_one"] = round(
                runs[name]["cpu_seconds"] / one["cpu_seconds"], 2
            )
    if "series" in runs and "onebyone" in runs:
        found["series_sizes_equal_onebyone"] = runs["series"]["sizes"] == runs["onebyone"]["sizes"]
        found["onebyone_over_series"] = round(
            runs["onebyone"]["seconds"] / runs["series"]["seconds"], 2
        )
    if one and "series" in runs:
        found["series_last_equals_one"] = runs["series"]["sizes"][AS_OF] == one["sizes"][AS_OF]
    if "value" in runs and "value_sql" in runs:
        ours, theirs = runs["value"]["rows"], runs["value_sql"]["rows"]
        differ = {
            g: [ours[g], theirs.get(g)]
            for g in ours
            if theirs.get(g, {}).get("members") != ours[g]["members"]
            or abs((theirs.get(g, {}).get("revenue") or 0) - (ours[g]["revenue"] or 0)) > 0.01
            or theirs.get(g, {}).get("orders") != ours[g]["orders"]
        }
        found["value_ratio_to_sql"] = round(
            runs["value"]["seconds"] / runs["value_sql"]["seconds"], 2
        )
        found["value_cpu_ratio_to_sql"] = round(
            runs["value"]["cpu_seconds"] / runs["value_sql"]["cpu_seconds"], 2
        )
        found["value_same_rows"] = not differ
        found["value_differences"] = differ
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--child")
    parser.add_argument("--fresh", action="store_true", help="generate the shop again")
    parser.add_argument("--only", help="comma-separated measurements (default: all)")
    parser.add_argument("--render", action="store_true", help="rewrite the .md from the .json")
    args = parser.parse_args()
    stem = "insights" if args.customers == 1_000_000 else f"insights-{args.customers}"
    out_dir = HERE / "results"
    if args.child:
        print(json.dumps(_measure(args.child, args.customers), default=str))
        return
    if args.render:
        saved = json.loads((out_dir / f"{stem}.json").read_text())
        saved["comparisons"] = _compare(saved)
        (out_dir / f"{stem}.md").write_text(_markdown(saved))
        return
    from _machine import describe

    shop = _prepare(args.customers, fresh=args.fresh)
    print(shop, flush=True)
    chosen = args.only.split(",") if args.only else list(MEASUREMENTS)
    path = out_dir / f"{stem}.json"
    previous = json.loads(path.read_text()) if path.exists() and args.only else {"runs": []}
    earlier = previous.get("earlier", [])
    kept = [r for r in previous["runs"] if r["what"] not in chosen]
    runs = []
    for what in chosen:
        row = _child(what, args.customers)
        print({k: v for k, v in row.items() if k not in ("sizes", "rows")}, flush=True)
        runs.append(row)
    result = {
        "machine": describe(),
        "shop": shop,
        "as_of": AS_OF,
        "dates": DATES,
        "series_segments": SERIES,
        "runs": kept + runs,
        "earlier": earlier,
    }
    result["comparisons"] = _compare(result)
    out_dir.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    (out_dir / f"{stem}.md").write_text(_markdown(result))
    print(json.dumps(result["comparisons"], indent=2, default=str))


LABELS = {
    "one": "20 segments, one evaluation (as of {as_of})",
    "series": "20 segments x 12 monthly snapshots, one pass (evaluate_series)",
    "onebyone": "20 segments x 12 monthly snapshots, one by one",
    "value": "value table, 50 segments (ws.insights.value)",
    "value_sql": "value table, 50 segments, hand-written DuckDB SQL",
    "recommend": "recommendations (top 10, blend) for all customers",
}


def _markdown(result: dict[str, Any]) -> str:
    m, shop, c = result["machine"], result["shop"], result.get("comparisons", {})
    lines = [
        "# Segment insight at scale: back-fill, value table, recommendations",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, shared with other "
        "sessions' work (the 1-minute load average before each measurement is given: the "
        f"ratios measured in the same run are what count); Python {m['python']}, DuckDB "
        f"{m['duckdb']}, Ibis {m['ibis']}, DuckDB memory limit 1GB (the workspace default). "
        f"Reproduce: `python bench/bench_insights.py --customers {shop['customers']}`.",
        "",
        f"Shop: {shop['customers']:,} customers, {shop['events']:,} events, with their "
        "attribute history; as_of " + result["as_of"] + ". Each measurement runs in its own "
        "process; peak RSS is that process's (VmHWM).",
        "",
        "| measurement | seconds | CPU seconds | peak RSS MiB | load before | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in result["runs"]:
        label = LABELS[row["what"]].format(as_of=result["as_of"])
        if "error" in row:
            lines.append(f"| {label} | failed: {row['error']} | | | | |")
            continue
        note = ""
        if row["what"] == "recommend":
            note = (
                f"{row['customers']:,} customers in the state; preparing {row['prepare_seconds']} s"
            )
        elif "items" in row:
            note = f"{row['items']} rows"
        lines.append(
            f"| {label} | {row['seconds']} | {row['cpu_seconds']} | {row['peak_rss_mib']:,} "
            f"| {row['load_before']} | {note} |"
        )
    lines += ["", "Ratios (same run):", ""]
    if "series_ratio_to_one" in c:
        lines.append(
            f"- one-pass back-fill of 12 snapshots / one evaluation: "
            f"**{c['series_ratio_to_one']}x** wall-clock, {c['series_cpu_ratio_to_one']}x "
            "CPU seconds (target <= 4x)"
        )
    if "onebyone_ratio_to_one" in c:
        lines.append(
            f"- one-by-one back-fill of 12 snapshots / one evaluation: "
            f"{c['onebyone_ratio_to_one']}x wall-clock, {c['onebyone_cpu_ratio_to_one']}x "
            "CPU seconds"
        )
    if "series_sizes_equal_onebyone" in c:
        lines.append(
            "- the one-pass snapshots' sizes equal the one-by-one ones at every date: "
            + ("yes" if c["series_sizes_equal_onebyone"] else "NO")
        )
    if "value_ratio_to_sql" in c:
        lines.append(
            f"- value table / hand-written DuckDB SQL: **{c['value_ratio_to_sql']}x** "
            f"wall-clock, {c['value_cpu_ratio_to_sql']}x CPU seconds; same "
            "members, revenue and orders per segment: "
            + ("yes" if c["value_same_rows"] else f"no ({len(c['value_differences'])} differ)")
        )
    for earlier in result.get("earlier", []):
        lines.append(f"- an earlier run of the same command: {earlier['text']}")
    lines += [
        "",
        "10M customers: not run (generating and ingesting them takes hours on this shared "
        "machine). Reproduce: `python bench/bench_insights.py --customers 10000000`.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
