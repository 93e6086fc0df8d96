"""Micro-segment discovery on CDNOW, checked against what customers did next.

CDNOW_master.txt (shipped in the ``lifetimes`` wheel, ``lifetimes/datasets/``) holds every CD
purchase of the 23,570 customers who first bought at CDNOW in the first quarter of 1997, until
June 1998: customer id, date (YYYYMMDD), number of CDs and dollar value. There are no
demographics and no labels, so the test of a segmentation is the future: calibrate on
1997-01-01..1997-09-30, discover micro-segments as of 1997-09-30, and see whether the segments
differ in what their customers did in the holdout, 1997-10-01..1998-06-30 (39 weeks).

The script goes through microseg's public API only:

1. a UTC workspace; customers (ids, valid from their first purchase) and one ``purchase``
   event per line (amount = dollars, quantity = CDs) through the normal ingest path;
2. the value models fitted at the calibration date (``ws.value.fit``), then ``discover`` at
   the same date (macro segments = ``lifecycle_stage``) on purchase-history traits;
3. per micro-segment: size, rule fidelity, model P(alive) and 12-month CLV, and the holdout
   outcome (share who bought again, purchase days, spend) against the model's expectation.

Usage (docs/cdnow-discovery.md)::

    python examples/cdnow_discovery.py /path/to/CDNOW_master.txt --out cdnow-out

It prints the tables and writes ``results.json`` and ``holdout-repeat.svg`` under ``--out``;
the workspace is kept in ``--out``/workspace for ``microseg discover show``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from sklearn.metrics import roc_auc_score

from microseg import Workspace
from microseg.discover import DiscoveryRun

CALIBRATION_END = "1997-09-30"  # a bare date: the end of that day
HOLDOUT_END = "1998-06-30"
HOLDOUT = "273 days"  # 1997-10-01 through 1998-06-30: 39 weeks

#: Features for discovery, named rather than left to the defaults (every numeric trait but
#: scores and value-model outputs). On CDNOW the defaults add the channel, e-mail, cart,
#: return and discount traits, which this data cannot fill (discover drops them as
#: constant), near-copies (tenure_days, gross_spend: dropped as duplicates), and
#: occasion_share, which before 1997-10-01 only marks who happened to buy on 7-14 February
#: 1997, the one holiday window in the calibration period.
TRAITS = (
    "purchase_count",
    "days_since_last_purchase",
    "days_since_first_purchase",
    "mean_days_between_purchases",
    "total_spend",
    "avg_order_value",
    "spend_trend_90d",
    "cds_per_purchase",
)

#: A workspace trait (traits/cds_per_purchase.yaml): the one thing CDNOW has that the
#: built-in traits do not read, the number of CDs per purchase.
CDS_TRAIT = """\
name: cds_per_purchase
description: CDs bought per purchase (quantity / purchase events)
value:
  div:
    - {aggregate: sum, event: purchase, property: quantity}
    - {trait: purchase_count}
"""


def read_cdnow(path: Path) -> tuple[pa.Table, pa.Table]:
    """The customers (id, valid from the first purchase) and purchase events of the file."""
    raw = pd.read_csv(
        path,
        sep=r"\s+",
        header=0,
        names=["customer_id", "date", "cds", "dollars"],
        dtype={"customer_id": str, "date": str},
    )
    day = pd.to_datetime(raw.date, format="%Y%m%d").dt.strftime("%Y-%m-%d")
    # one id per line: the file has identical lines (same customer, day, CDs and dollars),
    # which are separate purchases, and re-running the script must load nothing twice
    events = pa.table(
        {
            "event_id": [f"cdnow-{i}" for i in range(len(raw))],
            "customer_id": raw.customer_id,
            "timestamp": day,
            "type": ["purchase"] * len(raw),
            "amount": raw.dollars.astype(float),
            "quantity": raw.cds.astype("int64"),
        }
    )
    first = day.groupby(raw.customer_id).min()
    customers = pa.table({"customer_id": first.index, "valid_from": first.to_numpy()})
    return customers, events


def _after_holdout() -> datetime:
    """The workspace clock: the day after the data ends, so runs are stamped reproducibly."""
    return datetime(1998, 7, 1, tzinfo=UTC)


def load_workspace(root: Path, data: Path) -> tuple[Workspace, dict[str, Any]]:
    """Create (or reopen) the workspace and ingest the file; loading twice adds nothing."""
    if (root / "microseg.yaml").exists():
        ws = Workspace.open(root, clock=_after_holdout)
    else:
        ws = Workspace.init(
            root, name="cdnow", timezone="UTC", currency="USD", clock=_after_holdout
        )
    (ws.path / "traits" / "cds_per_purchase.yaml").write_text(CDS_TRAIT, encoding="utf-8")
    customers, events = read_cdnow(data)
    loads = {
        "customers": ws.ingest("customers", [customers]),
        "events": ws.ingest("events", [events]),
    }
    return ws, {
        kind: {"accepted": r.accepted, "duplicates": r.duplicates, "rejected": r.rejected}
        for kind, r in loads.items()
    }


def holdout_outcomes(ws: Workspace) -> pd.DataFrame:
    """Purchase days and spend of every customer between the two dates (0 without any)."""
    events = ws.events(as_of=HOLDOUT_END)
    after = events.filter(
        (events.timestamp >= ws.context.instant(CALIBRATION_END)) & (events.type == "purchase")
    )
    per_customer = after.group_by("customer_id").aggregate(
        holdout_days=after.timestamp.date().nunique(), holdout_spend=after.amount.sum()
    )
    frame: pd.DataFrame = per_customer.to_pandas().set_index("customer_id")
    return frame


def predictions(ws: Workspace) -> pd.DataFrame:
    """The fitted model's view at the calibration date: P(alive), 12-month CLV, and the
    expected purchase days and P(any purchase) over exactly the holdout."""
    over_holdout = ws.value.predict(as_of=CALIBRATION_END, horizon=HOLDOUT).to_pandas()
    year = ws.value.predict(as_of=CALIBRATION_END, horizon="12 months").to_pandas()
    frame = over_holdout.set_index("customer_id")[
        ["frequency", "p_alive", "expected_purchases", "p_any_purchase"]
    ]
    joined: pd.DataFrame = frame.join(year.set_index("customer_id")["clv"].rename("clv_12m"))
    return joined


def customer_frame(run: DiscoveryRun, ws: Workspace) -> pd.DataFrame:
    """One row per customer: macro, cluster, model scores and holdout outcome."""
    frame = pd.DataFrame(
        {"macro": run.macro_labels, "cluster": run.labels},
        index=pd.Index(run.customer_ids, name="customer_id"),
    )
    frame = frame.join(predictions(ws)).join(holdout_outcomes(ws))
    frame[["holdout_days", "holdout_spend"]] = frame[["holdout_days", "holdout_spend"]].fillna(0)
    frame["repeat"] = frame.holdout_days > 0
    return frame


def summarise(group: pd.DataFrame, overall_rate: float) -> dict[str, Any]:
    """Size, model scores and holdout outcome of a group of customers."""
    rate = float(group.repeat.mean())
    return {
        "size": len(group),
        "mean_p_alive": round(float(group.p_alive.mean()), 4),
        "mean_clv_12m": round(float(group.clv_12m.mean()), 2),
        "holdout_repeat_rate": round(rate, 4),
        "lift": round(rate / overall_rate, 3),
        "model_p_any_purchase": round(float(group.p_any_purchase.mean()), 4),
        "holdout_purchase_days": round(float(group.holdout_days.mean()), 4),
        "model_expected_purchases": round(float(group.expected_purchases.mean()), 4),
        "holdout_spend": round(float(group.holdout_spend.mean()), 2),
    }


def segment_rows(
    run: DiscoveryRun, frame: pd.DataFrame, rules: dict[int, Any]
) -> list[dict[str, Any]]:
    """The report for every discovered micro-segment, in the run's order."""
    overall = float(frame.repeat.mean())
    rows = []
    for cluster in run.clusters:
        group = frame[frame.cluster == cluster["id"]]
        rows.append(
            {
                "id": cluster["id"],
                "name": cluster["name"],
                "macro": cluster["macro"],
                "share": cluster["share"],
                "rule": cluster.get("rule"),
                "precision": cluster.get("precision"),
                "recall": cluster.get("recall"),
                "top_features": cluster["top_features"],
                **summarise(group, overall),
                "rule_segment": rules.get(cluster["id"]),
            }
        )
    return rows


def rule_outcomes(ws: Workspace, run: DiscoveryRun, frame: pd.DataFrame) -> dict[int, Any]:
    """Each cluster's rule saved as a segment (``segments/cdnow-RUN-ID.yaml``) and evaluated
    like any other at the calibration date: its members and their holdout outcome. This is
    what a marketer would target; the run's ``members`` count should match it exactly."""
    found: dict[int, Any] = {}
    assert run.run_id is not None, "the run is stored (discover(..., save=True))"
    for cluster in run.clusters:
        if cluster.get("rule") is None:  # e.g. HDBSCAN's unclustered group
            continue
        name = f"cdnow-{run.run_id}-{cluster['id']}"
        ws.discover.save(run.run_id, cluster["id"], name=name, overwrite=True)
        members = ws.segments.members(name, as_of=CALIBRATION_END).to_pyarrow()
        group = frame.loc[members.column("customer_id").to_pylist()]
        found[cluster["id"]] = {
            "segment": name,
            "members": len(group),
            "members_claimed": cluster["members"],
            "holdout_repeat_rate": round(float(group.repeat.mean()), 4) if len(group) else None,
        }
    return found


def separation(frame: pd.DataFrame) -> dict[str, float]:
    """How well each grouping ranks who buys again in the holdout (ROC AUC).

    A grouping scores each customer with their group's holdout repeat rate, so the figure is
    in-sample (slightly flattering for many small groups); the model's P(any purchase) is a
    genuine forecast made at the calibration date.
    """
    y = frame.repeat.to_numpy()

    def by(column: str) -> float:
        score = frame.groupby(column).repeat.transform("mean").to_numpy()
        return round(float(roc_auc_score(y, score)), 4)

    return {
        "lifecycle_stage": by("macro"),
        "micro_segments": by("cluster"),
        "model_p_any_purchase": round(float(roc_auc_score(y, frame.p_any_purchase)), 4),
    }


_OPS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "in": "in"}


def rule_text(rule: Any) -> str:
    """A rule on one line: ``all(...)``, ``any(...)``, ``not ...`` and comparisons."""
    if not isinstance(rule, dict):
        return str(rule)
    for key in ("all", "any"):
        if key in rule:
            return f"{key}(" + ", ".join(rule_text(r) for r in rule[key]) + ")"
    if "not" in rule:
        return f"not {rule_text(rule['not'])}"
    subject = rule.get("trait") or rule.get("attribute")
    parts = []
    for op, value in rule.items():
        if op in ("trait", "attribute"):
            continue
        if op == "is_null":
            parts.append("is missing" if value else "is present")
        else:
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            parts.append(f"{_OPS.get(op, op)} {shown}")
    return f"{subject} " + " ".join(parts)


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_report(
    rows: Sequence[dict[str, Any]],
    macros: Sequence[dict[str, Any]],
    overall: dict[str, Any],
    auc: dict[str, float],
) -> None:
    header = (
        f"{'id':>3} {'segment':<56} {'size':>6} {'share':>6} {'prec':>5} {'rec':>5} "
        f"{'P(alive)':>8} {'CLV 12m':>8} {'repeat':>7} {'model':>6} {'lift':>5} "
        f"{'days':>5} {'model':>5} {'spend':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['id']:>3} {r['name'][:56]:<56} {r['size']:>6,} {r['share']:>6.1%} "
            f"{_num(r['precision'], '>5.2f')} {_num(r['recall'], '>5.2f')} "
            f"{r['mean_p_alive']:>8.2f} "
            f"{r['mean_clv_12m']:>8.2f} {r['holdout_repeat_rate']:>7.1%} "
            f"{r['model_p_any_purchase']:>6.1%} {r['lift']:>5.2f} "
            f"{r['holdout_purchase_days']:>5.2f} {r['model_expected_purchases']:>5.2f} "
            f"{r['holdout_spend']:>7.2f}"
        )
    print("-" * len(header))
    for m in [*macros, overall]:
        print(
            f"{'':>3} {m['name']:<56} {m['size']:>6,} {m['size'] / overall['size']:>6.1%} "
            f"{'':>5} {'':>5} {m['mean_p_alive']:>8.2f} {m['mean_clv_12m']:>8.2f} "
            f"{m['holdout_repeat_rate']:>7.1%} {m['model_p_any_purchase']:>6.1%} "
            f"{m['lift']:>5.2f} {m['holdout_purchase_days']:>5.2f} "
            f"{m['model_expected_purchases']:>5.2f} {m['holdout_spend']:>7.2f}"
        )
    print(
        "\nrepeat: share who bought in the holdout; model: mean P(any purchase) in it; "
        "days: mean holdout purchase days (actual, model); spend: mean holdout dollars"
    )
    print(
        "ROC AUC for 'buys again in the holdout': "
        + ", ".join(f"{k} {v:.3f}" for k, v in auc.items())
    )
    print("\nrules, saved as segments and evaluated at the calibration date:")
    for r in rows:
        saved = r["rule_segment"]
        if saved is None:
            print(f"{r['id']:>3} (no rule)")
            continue
        check = "" if saved["members"] == saved["members_claimed"] else " MISMATCH"
        print(
            f"{r['id']:>3} {saved['segment']}: {saved['members']:,} members "
            f"(run says {saved['members_claimed']:,}{check}), holdout repeat "
            f"{_num(saved['holdout_repeat_rate'], '.1%')}\n    {rule_text(r['rule'])}"
        )


def write_svg(rows: Sequence[dict[str, Any]], overall_rate: float, path: Path) -> None:
    """A bar chart of the holdout repeat rate of each segment (0-100%), the model's
    expectation as a black tick, all customers as a dashed line. Plain SVG."""
    label_w, bar_w, row_h, top = 440, 380, 22, 50
    x0 = label_w + 10
    bottom = top + row_h * len(rows)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{x0 + bar_w + 50}" '
        f'height="{bottom + 30}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="10" y="20" font-size="14" font-weight="bold">CDNOW micro-segments found '
        f"as of {CALIBRATION_END}: share who bought again by {HOLDOUT_END}</text>",
        '<text x="10" y="38" fill="#555">bar: actual; black tick: model P(any purchase); '
        f"dashed red: all customers ({overall_rate:.1%})</text>",
    ]
    for tick in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        x = x0 + tick * bar_w
        parts += [
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom + 4}" stroke="#ddd"/>',
            f'<text x="{x:.1f}" y="{bottom + 20}" text-anchor="middle" '
            f'fill="#555">{tick:.0%}</text>',
        ]
    overall_x = x0 + overall_rate * bar_w
    parts.append(
        f'<line x1="{overall_x:.1f}" x2="{overall_x:.1f}" y1="{top}" y2="{bottom}" '
        'stroke="#c44" stroke-width="1.5" stroke-dasharray="4 3"/>'
    )
    for i, r in enumerate(rows):
        y = top + i * row_h
        rate, model = r["holdout_repeat_rate"], r["model_p_any_purchase"]
        label = escape(f"{r['id']}. {r['name'][:58]} ({r['size']:,})")
        parts += [
            f'<text x="{label_w}" y="{y + 15}" text-anchor="end">{label}</text>',
            f'<rect x="{x0}" y="{y + 3}" width="{rate * bar_w:.1f}" height="{row_h - 6}" '
            'fill="#4878a8"/>',
            f'<line x1="{x0 + model * bar_w:.1f}" x2="{x0 + model * bar_w:.1f}" y1="{y + 1}" '
            f'y2="{y + row_h - 1}" stroke="black" stroke-width="2"/>',
            f'<text x="{x0 + max(rate, model) * bar_w + 5:.1f}" y="{y + 15}">{rate:.0%}</text>',
        ]
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="path to CDNOW_master.txt")
    parser.add_argument("--out", type=Path, default=Path("cdnow-discovery"), help="output folder")
    parser.add_argument("--seed", type=int, default=1, help="discovery seed (default 1)")
    parser.add_argument("--method", default="kmeans", help="kmeans (default), gmm, ...")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    ws, loads = load_workspace(args.out / "workspace", args.data)
    seconds["ingest"] = time.perf_counter() - started

    step = time.perf_counter()
    fit = ws.value.fit(as_of=CALIBRATION_END)
    seconds["fit_value"] = time.perf_counter() - step

    step = time.perf_counter()
    run = ws.discover.run(as_of=CALIBRATION_END, traits=TRAITS, seed=args.seed, method=args.method)
    seconds["discover"] = time.perf_counter() - step

    step = time.perf_counter()
    frame = customer_frame(run, ws)
    overall_rate = float(frame.repeat.mean())
    seconds["outcomes"] = time.perf_counter() - step

    step = time.perf_counter()
    rules = rule_outcomes(ws, run, frame)
    seconds["rules_as_segments"] = time.perf_counter() - step

    rows = segment_rows(run, frame, rules)
    macros = [
        {
            "name": f"lifecycle_stage = {m['macro']}",
            "k": m["k"],
            "stability_ari": m["stability_ari"],
            **summarise(frame[frame.macro == m["macro"]], overall_rate),
        }
        for m in run.macros
    ]
    overall = {"name": "all customers", **summarise(frame, overall_rate)}
    auc = separation(frame)
    seconds["total"] = time.perf_counter() - started

    print(
        f"CDNOW: {len(frame):,} customers, {int(ws.events().count().execute()):,} purchases; "
        f"{fit.model} fitted on {fit.customers:,} buyers at {CALIBRATION_END}; "
        f"run {run.run_id}: {len(rows)} micro-segments, stability (ARI) "
        f"{run.metrics['stability_ari']}"
    )
    for note in run.features.get("notes", []):
        print(f"  note: {note}")
    print()
    print_report(rows, macros, overall, auc)
    print("\nseconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))

    results = {
        "data": str(args.data),
        "calibration_end": CALIBRATION_END,
        "holdout_end": HOLDOUT_END,
        "loads": loads,
        "value_fit": {"model": fit.model, "customers": fit.customers, "unit": fit.unit},
        "discovery": run.to_dict(),
        "segments": rows,
        "macros": macros,
        "overall": overall,
        "roc_auc": auc,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }
    (args.out / "results.json").write_text(
        json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8"
    )
    write_svg(rows, overall_rate, args.out / "holdout-repeat.svg")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'holdout-repeat.svg'}")
    ws.close()


if __name__ == "__main__":
    main()
