"""How well discovery recovers the synthetic shop's planted micro-segments.

    python bench/bench_discover_recovery.py                   # 20,000 customers, seeds 1-3
    python bench/bench_discover_recovery.py --customers 5000

Generates a shop (the ground truth stays beside it), runs discovery at one level
(``macro=None``) and at two levels (the default, inside lifecycle stages) with each method,
and scores the labels against ``ground_truth.parquet`` by the adjusted Rand index: over
every customer, and over the customers of the planted segments only (the shop's
"background" third has no structure of its own). Writes bench/results/discover-recovery.json
and .md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

END = date(2026, 10, 31)


def _scores(run: Any, truth: dict[str, str]) -> tuple[float, float]:
    from sklearn.metrics import adjusted_rand_score

    found = dict(zip(run.customer_ids.tolist(), run.labels.tolist(), strict=True))
    ids = [c for c in found if c in truth]
    planted = [c for c in ids if truth[c] != "background"]
    everyone = adjusted_rand_score([truth[c] for c in ids], [found[c] for c in ids])
    only = adjusted_rand_score([truth[c] for c in planted], [found[c] for c in planted])
    return round(float(everyone), 3), round(float(only), 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--methods", nargs="+", default=["kmeans", "gmm", "bisecting"])
    args = parser.parse_args()

    import pyarrow.parquet as pq
    from _machine import describe

    from microseg import Workspace
    from microseg.synth import generate_shop

    work = HERE / ".work" / "recovery"
    shutil.rmtree(work, ignore_errors=True)
    shop = generate_shop(work / "data", customers=args.customers, seed=7, end=END)
    ws = Workspace.init(
        work / "ws",
        timezone="Europe/Paris",
        clock=lambda: datetime(2026, 11, 1, tzinfo=UTC),
    )
    ws.ingest("customers", shop.paths["customers"], valid_from="signup_date")
    ws.ingest("customers", shop.paths["customer_updates"])
    ws.ingest("events", list(shop.event_files))
    table = pq.read_table(shop.paths["ground_truth"], columns=["customer_id", "segment"])
    truth = dict(zip(*table.to_pydict().values(), strict=True))
    rows = []
    for levels, macro in (("one", None), ("two", "lifecycle_stage")):
        for method in args.methods:
            for seed in args.seeds:
                start = time.perf_counter()
                run = ws.discover(as_of=END, method=method, macro=macro, seed=seed, save=False)
                everyone, planted = _scores(run, truth)
                row = {
                    "levels": levels,
                    "method": method,
                    "seed": seed,
                    "clusters": run.metrics["clusters"],
                    "ari_all": everyone,
                    "ari_planted": planted,
                    "stability_ari": run.metrics["stability_ari"],
                    "seconds": round(time.perf_counter() - start, 1),
                }
                print(row, flush=True)
                rows.append(row)
    ws.close()
    shutil.rmtree(work, ignore_errors=True)
    result = {
        "machine": describe(),
        "customers": args.customers,
        "features": "default (numeric traits and psychographic attributes)",
        "runs": rows,
    }
    out = HERE / "results"
    (out / "discover-recovery.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "discover-recovery.md").write_text(_markdown(result))


def _markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Discovery: recovery of the planted micro-segments",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores. Reproduce: `python "
        f"bench/bench_discover_recovery.py --customers {result['customers']}`. Synthetic shop "
        f"of {result['customers']:,} customers (seed 7); features: {result['features']}. "
        "Adjusted Rand index against ground_truth.parquet, over everyone and over the "
        "planted segments' customers only (without the unstructured background third).",
        "",
        "| levels | method | seed | clusters | ARI, everyone | ARI, planted only | stability "
        "| seconds |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["runs"]:
        lines.append(
            f"| {r['levels']} | {r['method']} | {r['seed']} | {r['clusters']} | {r['ari_all']} "
            f"| {r['ari_planted']} | {r['stability_ari']} | {r['seconds']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
