"""The demo pipeline: a synthetic shop in a fresh workspace, loaded and summarised.

A short list of :class:`Workspace` calls; later parts of microseg add their step here.
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import ibis
import pyarrow.parquet as pq
from sklearn.metrics import adjusted_rand_score

from microseg.core.errors import ModelFitError, WorkspaceError
from microseg.discover import DiscoveryRun
from microseg.ingest import LoadReport, Progress
from microseg.segments import SegmentRun
from microseg.synth import generate_shop
from microseg.value import ValueFit
from microseg.workspace import TimeSource, Workspace, WorkspaceStatus

__all__ = ["DEMO_MARKER", "DEMO_TIMEZONE", "DemoResult", "run_demo"]

DEMO_MARKER = ".microseg-demo"
#: the demo shop's time zone
DEMO_TIMEZONE = "Europe/Paris"


@dataclass(frozen=True)
class DemoResult:
    path: Path
    loads: list[LoadReport]
    status: WorkspaceStatus
    planted: dict[str, int] = field(default_factory=dict)
    segments: SegmentRun | None = None
    value_fit: dict[str, Any] | None = None
    value: list[dict[str, Any]] = field(default_factory=list)
    value_error: str | None = None
    discovery: dict[str, Any] | None = None
    #: a customer in one of the example segments, for the printed next steps
    example: tuple[str, str] | None = None
    #: the example segments ranked by value (``ws.insights.value``), when the models fit
    value_table: Any = None
    #: customers' moves between lifecycle stages over the last 12 months
    migration: Any = None
    #: the seeds' life event: how the customers who married bought before and after
    marriage: Any = None
    #: the synthetic shop's planted campaign (``campaigns.json``) and its measurement
    planted_campaign: dict[str, Any] | None = None
    campaign: Any = None
    #: ``ws.govern.quality()`` and ``ws.govern.audit()`` of the example segments
    quality: Any = None
    audit: Any = None

    def governance_lines(self) -> list[str]:
        """The data-quality findings and the audit's coverage and flags, in sentences."""
        lines = [f"quality: {finding}" for finding in self.quality.findings] if self.quality else []
        if self.audit is not None:
            lines.append(f"audit: {self.audit.findings[0]}")
            checks = [s for seg in self.audit.segments for s in seg.sensitive]
            proxies = sum(s.proxy_flagged for s in checks)
            beyond = sum(s.ratio_flagged and s.ratio_significant for s in checks)
            lines.append(
                f"audit: {proxies} segment(s) flagged as a proxy of a sensitive attribute, "
                f"{beyond} with a selection-rate ratio below "
                f"{self.audit.min_selection_ratio} beyond chance "
                f"(`microseg audit` for the details and caveats)"
            )
        return lines

    def campaign_line(self) -> str | None:
        """The planted campaign's measured uplift against the planted one, in one line."""
        if self.campaign is None or self.planted_campaign is None:
            return None
        whole = self.campaign.slices[0]
        low, high = whole.conversion.relative_interval
        planted = self.planted_campaign["planted_relative_lift"]
        return (
            f"planted campaign {self.campaign.name}: {self.campaign.outcome} rate "
            f"{_share(whole.treatment.rate)} treated vs {_share(whole.control.rate)} in its "
            f"holdout: uplift {_signed(whole.conversion.relative_uplift)} (95% interval "
            f"{_signed(low)} to {_signed(high)}; planted {_signed(planted)})"
        )

    def next_steps(self, cwd: Path | None = None) -> list[str]:
        """Commands to run next, from ``cwd`` (default: the current folder), that work as
        printed: ``-w PATH`` names the workspace unless it is that folder."""
        here = Path.cwd() if cwd is None else cwd
        target = self.path
        same = target.resolve() == here.resolve()
        where = "" if same else f" -w {shlex.quote(str(target))}"
        steps = [f"microseg status{where}", f"microseg segment evaluate{where}"]
        if self.example is not None:
            segment, customer = self.example
            steps.append(f"microseg segment explain {segment} {customer}{where}")
            steps.append(f"microseg profile {customer}{where}")
        if self.discovery and self.discovery.get("clusters"):
            run = self.discovery["run"]
            cluster = self.discovery["clusters"][0]["id"]
            steps.append(f"microseg discover show {run}{where}")
            steps.append(f"microseg discover save {run} {cluster} --name {run}-{cluster}{where}")
        if self.planted_campaign is not None:
            name, window = self.planted_campaign["name"], self.planted_campaign["window"]
            # "3days" reads as "3 days" and needs no quotes (an 80-column line)
            plain = shlex.quote(window.replace(" ", ""))
            steps.append(f"microseg campaign measure {name} --window {plain}{where}")
        return steps

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "loads": [r.to_dict() for r in self.loads],
            "status": self.status.to_dict(),
            "planted_segments": self.planted,
            "segments": self.segments.to_dict() if self.segments else None,
            "value_fit": self.value_fit,
            "value_by_planted_segment": self.value,
            "value_error": self.value_error,
            "discovery": self.discovery,
            "value_table": self.value_table.to_dict() if self.value_table is not None else None,
            "migration": self.migration.to_dict() if self.migration is not None else None,
            "marriage": self.marriage.to_dict() if self.marriage is not None else None,
            "planted_campaign": self.planted_campaign,
            "campaign": self.campaign.to_dict() if self.campaign is not None else None,
            "quality": self.quality.to_dict() if self.quality is not None else None,
            "audit": self.audit.to_dict() if self.audit is not None else None,
            "next_steps": self.next_steps(),
        }


def _fresh_folder(path: Path) -> None:
    if path.exists() and any(path.iterdir()):
        if not (path / DEMO_MARKER).exists():
            raise WorkspaceError(
                "the folder exists and was not made by `microseg demo`; it is left untouched",
                where=str(path),
                hint="pass another --dir",
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / DEMO_MARKER).write_text("made by microseg demo; safe to delete\n", encoding="utf-8")


def fit_summary(fit: ValueFit) -> dict[str, Any]:
    """The fitted parameters under their usual names, rounded for display."""
    return {
        "model": fit.model,
        "unit": fit.unit,
        "buyers": fit.customers,
        "purchase": {k: round(float(v), 4) for k, v in fit.purchase.params_.items()},
        "spend": (
            {k: round(float(v), 4) for k, v in fit.spend.params_.items()} if fit.spend else None
        ),
        "warnings": [w.to_dict() for w in fit.warnings()],
    }


def _value_by_segment(ws: Workspace, truth: Path, as_of: date) -> list[dict[str, Any]]:
    """Buyers, mean P(alive), 12-month value and churn risk of each planted segment."""
    planted = ibis.memtable(pq.read_table(truth, columns=["customer_id", "segment"]))
    predicted = ibis.memtable(ws.value.predict(as_of=as_of))
    p = predicted.rename(buyer="customer_id")
    joined = planted.left_join(p, planted.customer_id == p.buyer)
    high = (joined.churn_risk == "high").ifelse(1.0, 0.0)
    summary = joined.group_by("segment").aggregate(
        customers=joined.count(),
        buyers=joined.buyer.count(),
        alive=joined.p_alive.mean(),
        total=joined.clv.sum(),
        mean=joined.clv.mean(),
        high=high.mean(),
    )
    ordered = summary.order_by(ibis.desc("mean", nulls_first=False))
    rows: list[dict[str, Any]] = ws.store.ibis.to_pyarrow(ordered).to_pylist()
    return [
        {
            "segment": str(r["segment"]),
            "customers": int(r["customers"]),
            "buyers": int(r["buyers"]),
            "mean_p_alive": _round(r["alive"], 3),
            "clv_12m": _round(r["total"], 2),
            "clv_12m_per_buyer": _round(r["mean"], 2),
            "high_churn_risk_share": _round(r["high"], 3),
        }
        for r in rows
    ]


def _planted(truth: Path) -> dict[str, int]:
    """Customers of each planted segment, the largest first."""
    counts = (
        pq.read_table(truth, columns=["segment"])
        .group_by("segment")
        .aggregate([("segment", "count")])
    )
    ordered = counts.sort_by([("segment_count", "descending"), ("segment", "ascending")])
    return {str(r["segment"]): int(r["segment_count"]) for r in ordered.to_pylist()}


def _discovery_summary(run: DiscoveryRun, truth: Path | None) -> dict[str, Any]:
    """The run's named micro-segments, with how well they recover the planted ones."""
    keep = ("id", "name", "size", "share", "revenue_share", "clv_12m_mean", "precision", "recall")
    summary: dict[str, Any] = {
        "run": run.name,
        "method": run.params["method"],
        "coverage": run.metrics["coverage"],
        "stability_ari": run.metrics["stability_ari"],
        "clusters": [{k: c.get(k) for k in keep} for c in run.clusters],
        "seconds": round(run.seconds, 1),
    }
    if truth is not None:
        planted = dict(
            zip(
                *pq.read_table(truth, columns=["customer_id", "segment"]).to_pydict().values(),
                strict=True,
            )
        )
        found = dict(zip(run.customer_ids.tolist(), run.labels.tolist(), strict=True))
        macro = dict(zip(run.customer_ids.tolist(), run.macro_labels.tolist(), strict=True))
        ids = [c for c in found if c in planted]
        # two levels split every planted segment by lifecycle stage: the truth to recover
        # is the planted segment inside each stage
        truth_in_stage = [f"{macro[c]}/{planted[c]}" for c in ids]
        summary["ari_vs_planted"] = round(
            float(adjusted_rand_score(truth_in_stage, [found[c] for c in ids])), 3
        )
        summary["macro"] = run.params["macro"]
    return summary


def _phase(progress: Progress | None, what: str) -> Progress | None:
    """A load's steps reported under one phase, ``loading WHAT``."""
    if progress is None:
        return None
    report = progress

    def step(message: str, done: int, total: int) -> None:
        report(f"loading {what}: {message}", done, total)

    return step


def _example(run: SegmentRun) -> tuple[str, str] | None:
    """The first member of the first example segment that has members."""
    for name, size in run.sizes.items():
        if size:
            first = run.members(name).limit(1).to_pyarrow().column("customer_id").to_pylist()
            if first:
                return name, str(first[0])
    return None


def _year_before(day: date) -> date:
    """The same day a year earlier (28 February for a 29th)."""
    return day.replace(year=day.year - 1, day=min(day.day, 28) if day.month == 2 else day.day)


def _round(value: Any, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0%}"


def _planted_events(paths: dict[str, Path]) -> list[Path]:
    """The planted mailing's events file of the shop, when it has one."""
    return [paths["campaign_events"]] if "campaign_events" in paths else []


def _planted_campaign(ws: Workspace, planted: dict[str, Any], audience: Path) -> Any:
    """Record the shop's planted mailing as the shop sent it (its audience, send time and
    holdout salt), then measure it as a user would."""
    ids = pq.read_table(audience, columns=["customer_id"]).column(0).to_pylist()
    ws.activate.campaign_create(
        planted["name"],
        audience=[str(c) for c in ids],
        holdout=planted["holdout"],
        salt=planted["salt"],
        channel=planted["channel"],
        as_of=planted["sent_at"],
    )
    return ws.activate.campaign_measure(
        planted["name"], outcome=planted["outcome"], window=planted["window"], cuped=True
    )


def run_demo(
    path: str | Path,
    *,
    customers: int = 5000,
    seed: int = 42,
    end: date = date(2026, 10, 31),
    progress: Progress | None = None,
) -> DemoResult:
    """Make a workspace with a synthetic shop at ``path``, load it, and summarise it."""
    root = Path(path)
    _fresh_folder(root)
    # The shop's clock stands just after its last day, so nothing loaded is "in the future".
    clock: TimeSource = lambda: datetime(end.year, end.month, end.day, 23, 59, 59, tzinfo=UTC)  # noqa: E731
    ws = Workspace.init(root, name="demo-shop", timezone=DEMO_TIMEZONE, clock=clock)
    try:
        if progress:
            progress("generating the synthetic shop", 0, 1)
        shop = generate_shop(root / "data", customers=customers, seed=seed, end=end)
        loads = [
            ws.ingest("products", shop.paths["products"], progress=_phase(progress, "products")),
            ws.ingest(
                "customers",
                shop.paths["customers"],
                valid_from="signup_date",
                progress=_phase(progress, "customers"),
            ),
            ws.ingest(
                "customers",
                shop.paths["customer_updates"],
                progress=_phase(progress, "customer updates"),
            ),
            ws.ingest(
                "events",
                [*shop.event_files, *_planted_events(shop.paths)],
                progress=_phase(progress, "events"),
            ),
            # unsubscribe/resubscribe events (docs/activation.md); a small load, no phase
            ws.ingest("events", shop.paths["consent_events"]),
        ]
        examples = Path(__file__).parent / "segments" / "examples"
        for example in sorted(examples.glob("*.yaml")):
            shutil.copy(example, root / "segments" / example.name)
        if progress:
            progress("evaluating the example segments", 0, 1)
        segments = ws.segments.evaluate(as_of=end)
        sample = _example(segments)
        planted: dict[str, int] = {}
        truth = shop.paths.get("ground_truth")
        if truth is not None:
            planted = _planted(truth)
        if progress:
            progress("fitting the value models", 0, 1)
        fitted: dict[str, Any] | None = None
        value: list[dict[str, Any]] = []
        value_error: str | None = None
        try:
            fitted = fit_summary(ws.value.fit(as_of=end))
            value = _value_by_segment(ws, truth, end) if truth is not None else []
        except ModelFitError as exc:
            # a shop too small or too odd for the models still gets the rest of the demo
            value_error = str(exc)
        if progress:
            progress("discovering micro-segments", 0, 1)
        found = ws.discover.run(as_of=end, seed=seed, name="demo")
        if progress:
            progress("ranking segments by value and following stage moves", 0, 1)
        ranked = ws.insights.value(as_of=end) if fitted is not None else None
        moved = ws.insights.migration(trait="lifecycle_stage", start=_year_before(end), end=end)
        if progress:
            progress("following the planted marriages", 0, 1)
        married = ws.insights.change("marital_status", from_value="single", to_value="married")
        planted_campaign = shop.campaigns[0] if shop.campaigns else None
        measured = None
        if planted_campaign is not None:
            if progress:
                progress("measuring the planted campaign", 0, 1)
            audience = shop.paths["campaign_audience"]
            measured = _planted_campaign(ws, planted_campaign, audience)
        if progress:
            progress("checking data quality and auditing the segments", 0, 1)
        quality = ws.govern.quality()
        audit = ws.govern.audit(as_of=end)
        result = DemoResult(
            root,
            loads,
            ws.status(),
            planted,
            segments,
            fitted,
            value,
            value_error,
            _discovery_summary(found, truth),
            sample,
            ranked,
            moved,
            married,
            planted_campaign,
            measured,
            quality,
            audit,
        )
        (root / "demo-summary.json").write_text(
            json.dumps(result.to_dict(), indent=2, default=str), encoding="utf-8"
        )
        return result
    finally:
        ws.close()
