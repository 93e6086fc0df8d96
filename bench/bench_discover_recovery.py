"""How well discovery recovers the synthetic shop's planted micro-segments.

    python bench/bench_discover_recovery.py                   # 20,000 customers
    python bench/bench_discover_recovery.py --customers 5000 --shops 7 8

Three parts, each scored by the adjusted Rand index against ``ground_truth.parquet``, over
every customer and over the planted segments' customers only (the shop's "background"
third has no structure of its own):

1. **Methods** on the shop of seed 7: one level (``macro=None``) and two levels (inside
   lifecycle stages, the default), each method, run seeds 1-3.
2. **Shops**: one-level k-means on shops generated with other seeds, run seeds 1-3, to
   show how much the figure moves with the data and the start; with k chosen (silhouette,
   2 to 8) and with k given (8, the number of true segments: ``--k 8``).
3. **References** on the shop of seed 7, on the run's own feature matrix: k-means as it
   was before features were weighted and missing values skipped (median imputation, equal
   weights), and two classifiers *trained on the truth* (3-fold cross-validated): linear
   discriminant analysis and gradient-boosted trees. They bound what features this
   informative allow: a clustering never sees the truth.

Writes bench/results/discover-recovery.json and .md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

END = date(2026, 10, 31)
BENCH_SHOP = 7


def _scores(run: Any, truth: dict[str, str]) -> tuple[float, float]:
    return _ari(run.customer_ids.tolist(), run.labels.tolist(), truth)


def _ari(ids: list[str], labels: list[Any], truth: dict[str, str]) -> tuple[float, float]:
    from sklearn.metrics import adjusted_rand_score

    found = dict(zip(ids, labels, strict=True))
    known = [c for c in ids if c in truth]
    planted = [c for c in known if truth[c] != "background"]
    everyone = adjusted_rand_score([truth[c] for c in known], [found[c] for c in known])
    only = adjusted_rand_score([truth[c] for c in planted], [found[c] for c in planted])
    return round(float(everyone), 3), round(float(only), 3)


def _shop(work: Path, customers: int, seed: int) -> tuple[Any, dict[str, str]]:
    import pyarrow.parquet as pq

    from microseg import Workspace
    from microseg.synth import generate_shop

    shop = generate_shop(work / "data", customers=customers, seed=seed, end=END)
    ws = Workspace.init(
        work / "ws", timezone="Europe/Paris", clock=lambda: datetime(2026, 11, 1, tzinfo=UTC)
    )
    ws.ingest("customers", shop.paths["customers"], valid_from="signup_date")
    ws.ingest("customers", shop.paths["customer_updates"])
    ws.ingest("events", list(shop.event_files))
    table = pq.read_table(shop.paths["ground_truth"], columns=["customer_id", "segment"])
    return ws, dict(zip(*table.to_pydict().values(), strict=True))


def _row(run: Any, truth: dict[str, str], started: float, **keys: Any) -> dict[str, Any]:
    everyone, planted = _scores(run, truth)
    ids = run.customer_ids.tolist()
    stages = dict(zip(ids, run.macro_labels.tolist(), strict=True))
    # two levels split each planted segment by lifecycle stage: the truth inside stages
    in_stage = {c: f"{stages[c]}/{truth[c]}" for c in ids if c in truth}
    row = {
        **keys,
        "clusters": run.metrics["clusters"],
        "ari_all": everyone,
        "ari_planted": planted,
        "ari_in_macro": _ari(ids, run.labels.tolist(), in_stage)[0],
        "stability_ari": run.metrics["stability_ari"],
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(row, flush=True)
    return row


def _references(ws: Any, run: Any, truth: dict[str, str]) -> list[dict[str, Any]]:
    """Old k-means and supervised classifiers on the run's own encoded features."""
    import numpy as np
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_predict

    from microseg.discover import KMeansClusters

    computed = ws.traits.compute(run.assigner.traits, as_of=END, save=False)
    traits = computed.result.to_pyarrow().sort_by("customer_id")
    customers = ws.customers(as_of=END).to_pyarrow()
    X, missing = run.assigner.encoder.encode_masked(traits, customers)
    ids = traits.column("customer_id").to_pylist()
    keep = [i for i, c in enumerate(ids) if c in truth]
    ids = [ids[i] for i in keep]
    X, missing = X[keep], missing[keep]
    y = np.array([truth[c] for c in ids])
    k = len(set(y.tolist()))
    rows = []
    before = KMeansClusters(n_clusters=k, weighting=False, random_state=1).fit(X)
    rows.append(("k-means, median-imputed, unweighted (before)", before.labels_.tolist()))
    after = KMeansClusters(n_clusters=k, random_state=1).fit(X, missing)
    rows.append(("k-means, missing skipped, weighted (now)", after.labels_.tolist()))
    lda = cross_val_predict(LinearDiscriminantAnalysis(), X, y, cv=3)
    rows.append(("trained on the truth: linear discriminant analysis", lda.tolist()))
    nan_x = np.where(missing, np.nan, X)
    trees = cross_val_predict(HistGradientBoostingClassifier(random_state=0), nan_x, y, cv=3)
    rows.append(("trained on the truth: gradient-boosted trees", trees.tolist()))
    out = []
    for name, labels in rows:
        everyone, planted = _ari(ids, labels, truth)
        out.append({"model": name, "k": k, "ari_all": everyone, "ari_planted": planted})
        print(out[-1], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--shops", type=int, nargs="+", default=[7, 8, 9, 10, 11, 12])
    parser.add_argument("--methods", nargs="+", default=["kmeans", "gmm", "bisecting"])
    args = parser.parse_args()

    from _machine import describe

    root = HERE / ".work" / "recovery"
    methods, shops, references = [], [], []
    for shop_seed in sorted({BENCH_SHOP, *args.shops}):
        work = root / str(shop_seed)
        shutil.rmtree(work, ignore_errors=True)
        ws, truth = _shop(work, args.customers, shop_seed)
        if shop_seed == BENCH_SHOP:
            for levels, macro in (("one", None), ("two", "lifecycle_stage")):
                for method in args.methods:
                    for seed in args.seeds:
                        started = time.perf_counter()
                        run = ws.discover.run(
                            as_of=END, method=method, macro=macro, seed=seed, save=False
                        )
                        methods.append(
                            _row(run, truth, started, levels=levels, method=method, seed=seed)
                        )
        if shop_seed in args.shops:
            for k in (None, len(set(truth.values()))):
                for seed in args.seeds:
                    started = time.perf_counter()
                    run = ws.discover.run(
                        as_of=END, macro=None, seed=seed, n_clusters=k, save=False
                    )
                    shops.append(
                        _row(
                            run,
                            truth,
                            started,
                            shop=shop_seed,
                            k="chosen" if k is None else k,
                            seed=seed,
                        )
                    )
        if shop_seed == BENCH_SHOP:
            references = _references(ws, run, truth)
        ws.close()
        shutil.rmtree(work, ignore_errors=True)
    summary = {}
    for k in ("chosen", *sorted({r["k"] for r in shops if r["k"] != "chosen"})):
        values = [r["ari_all"] for r in shops if r["k"] == k]
        summary[str(k)] = {
            "runs": len(values),
            "median": round(statistics.median(values), 3) if values else None,
            "min": min(values, default=None),
            "max": max(values, default=None),
            "at_least_0.8": sum(v >= 0.8 for v in values),
        }
    result = {
        "machine": describe(),
        "customers": args.customers,
        "bench_shop": BENCH_SHOP,
        "features": "default (numeric traits and psychographic attributes)",
        "methods": methods,
        "shops": shops,
        "shops_summary": summary,
        "references": references,
    }
    out = HERE / "results"
    (out / "discover-recovery.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "discover-recovery.md").write_text(_markdown(result))


def _markdown(result: dict[str, Any]) -> str:
    m, n = result["machine"], result["customers"]
    lines = [
        "# Discovery: recovery of the planted micro-segments",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores. Reproduce: `python "
        f"bench/bench_discover_recovery.py --customers {n}`. Synthetic shops of {n:,} "
        f"customers; features: {result['features']}. Adjusted Rand index against "
        "ground_truth.parquet, over everyone and over the planted segments' customers only "
        "(without the unstructured background third). Two-level runs split every planted "
        "segment by lifecycle stage; their last ARI is against the planted segment inside "
        "each stage.",
        "",
        f"## Methods (shop seed {result['bench_shop']})",
        "",
        "| levels | method | seed | clusters | ARI, everyone | ARI, planted only "
        "| ARI, planted inside stages | stability | seconds |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["methods"]:
        inside = r["ari_in_macro"] if r["levels"] == "two" else "-"
        lines.append(
            f"| {r['levels']} | {r['method']} | {r['seed']} | {r['clusters']} | {r['ari_all']} "
            f"| {r['ari_planted']} | {inside} | {r['stability_ari']} | {r['seconds']} |"
        )
    lines += ["", "## Shops (one-level k-means, the default method)", ""]
    for k, s in result["shops_summary"].items():
        lines.append(
            f"- k {k}: {s['runs']} runs, median ARI {s['median']}, from {s['min']} to "
            f"{s['max']}; {s['at_least_0.8']} of {s['runs']} at 0.8 or more."
        )
    lines += [
        "",
        "| shop seed | k | run seed | clusters | ARI, everyone | ARI, planted only | stability |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["shops"]:
        lines.append(
            f"| {r['shop']} | {r['k']} | {r['seed']} | {r['clusters']} | {r['ari_all']} "
            f"| {r['ari_planted']} | {r['stability_ari']} |"
        )
    lines += [
        "",
        f"## References (shop seed {result['bench_shop']}, the run's own features, k fixed "
        "to the number of true segments)",
        "",
        "| model | ARI, everyone | ARI, planted only |",
        "|---|---:|---:|",
    ]
    for r in result["references"]:
        lines.append(f"| {r['model']} | {r['ari_all']} | {r['ari_planted']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
