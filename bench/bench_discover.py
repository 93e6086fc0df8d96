"""Discovery at scale: a two-level run over a synthetic shop, with where the time goes.

    python bench/bench_discover.py                      # 1M customers (~14M events)
    python bench/bench_discover.py --customers 200000
    python bench/bench_discover.py --reuse              # keep the shop for the next run

The shop is the one bench_segments.py makes (same seed, same folder under bench/.work, so
``--reuse`` shares it). The run is ``ws.discover.run`` with its defaults (k-means inside
each lifecycle stage, automatic k by silhouette on a sample, 3 refits for stability, rules
and names for every cluster), stored like any run. It runs in a child process, so the peak
RSS is its own. Writes bench/results/discover.json and discover.md (discover-<n>.* for
other sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_segments import AS_OF, NOW, _prepare, _rss, _work  # noqa: E402


def _measure(customers: int, method: str) -> dict[str, Any]:
    """One discovery run in this (child) process."""
    from microseg import Workspace

    ws = Workspace.open(_work(customers) / "ws", clock=lambda: NOW)
    load = round(os.getloadavg()[0], 2)
    start = time.perf_counter()
    run = ws.discover.run(as_of=AS_OF, method=method, seed=1, name=f"bench-{int(time.time())}")
    seconds = time.perf_counter() - start
    row = {
        "method": method,
        "load_before": load,
        "seconds": round(seconds, 2),
        "peak_rss_mib": _rss(),
        "features": len(run.features["features"]),
        "customers": run.metrics["customers"],
        "macro_segments": len(run.macros),
        "clusters": run.metrics["clusters"],
        "coverage": run.metrics["coverage"],
        "stability_ari": run.metrics["stability_ari"],
        "smallest_cluster": run.metrics["smallest_cluster"],
        "seconds_by_phase": run.extra["seconds_by_phase"],
    }
    ws.close()
    return row


def _markdown(result: dict[str, Any]) -> str:
    m, row, shop = result["machine"], result["run"], result["shop"]
    lines = [
        "# Discovery at scale",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, shared with other "
        f"work (1-minute load before: {row.get('load_before')}). Reproduce: "
        f"`python bench/bench_discover.py --customers {shop['customers']}`.",
        "",
        f"Shop: {shop['customers']:,} customers, {shop['events']:,} events; as_of {AS_OF}. "
        f"Method {row.get('method')}, inside each lifecycle stage.",
        "",
    ]
    if "error" in row:
        return "\n".join([*lines, f"Failed: {row['error']}", ""])
    lines += [
        "| customers | features | macro segments | clusters | seconds | peak RSS MiB "
        "| stability (ARI) | coverage |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {row['customers']:,} | {row['features']} | {row['macro_segments']} "
        f"| {row['clusters']} | {row['seconds']} | {row['peak_rss_mib']:,} "
        f"| {row['stability_ari']} | {row['coverage']:.0%} |",
        "",
        "Where the time goes:",
        "",
        "| phase | seconds | share |",
        "|---|---:|---:|",
    ]
    total = sum(row["seconds_by_phase"].values()) or 1.0
    for phase, seconds in row["seconds_by_phase"].items():
        lines.append(f"| {phase} | {seconds:.2f} | {seconds / total:.0%} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--method", default="kmeans")
    parser.add_argument("--reuse", action="store_true", help="reuse (and keep) the shop")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--render", action="store_true", help="rewrite the .md from the .json")
    args = parser.parse_args()
    stem = "discover" if args.customers == 1_000_000 else f"discover-{args.customers}"
    out = HERE / "results"
    if args.child:
        print(json.dumps(_measure(args.customers, args.method)))
        return
    if args.render:
        saved = json.loads((out / f"{stem}.json").read_text())
        (out / f"{stem}.md").write_text(_markdown(saved))
        return
    from _machine import describe

    shop = _prepare(args.customers, reuse=args.reuse)
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--customers",
            str(args.customers),
            "--method",
            args.method,
        ],
        capture_output=True,
        text=True,
    )
    if child.returncode != 0:
        lines = [line for line in child.stderr.strip().splitlines() if line.strip()]
        row: dict[str, Any] = {"error": lines[-1] if lines else f"exit {child.returncode}"}
    else:
        row = json.loads(child.stdout.strip().splitlines()[-1])
    print(row, flush=True)
    result = {"machine": describe(), "shop": shop, "run": row}
    out.mkdir(exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{stem}.md").write_text(_markdown(result))


if __name__ == "__main__":
    main()
