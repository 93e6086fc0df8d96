"""Governance commands: ``microseg audit`` (bias and coverage) and ``microseg quality``
(data quality and staleness). docs/governance.md."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from microseg.cli._common import (
    AS_OF_HELP,
    console,
    emit_json,
    fail,
    handled,
    open_workspace,
    state,
)
from microseg.cli._readable import fitted_table, when

if TYPE_CHECKING:
    from microseg.govern import AuditResult, QualityReport

__all__ = ["audit", "parse_instant", "quality", "stale_fields", "stale_mark"]


def _count(value: int | None, k: int) -> str:
    return f"<{k}" if value is None else f"{value:,}"


def _pct(value: float | None, k: int) -> str:
    return f"(<{k})" if value is None else f"{value:.1%}"


def stale_fields(since: datetime | None) -> dict[str, Any]:
    """The ``stale`` and ``stale_since`` fields every listing of stored results adds to its
    JSON (``since``: from ``ws.govern.stale_since``, the one rule)."""
    from microseg.core.results import instant_text

    return {
        "stale": since is not None,
        "stale_since": None if since is None else instant_text(since),
    }


def parse_instant(text: str | datetime | None) -> datetime | None:
    """An instant as stored results write it (ISO 8601, ``Z`` for UTC)."""
    if text is None or isinstance(text, datetime):
        return text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def stale_mark(stale: bool) -> str:
    """The marker of a result computed before the latest ingest, in every table."""
    return " (stale)" if stale else ""


def audit(
    ctx: typer.Context,
    segments: list[str] = typer.Argument(None, help="Segments to audit (default: all)."),
    run: str = typer.Option(None, "--run", help="Audit a discovery run's clusters instead."),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Bias and coverage audit: who is in no segment, selection-rate ratios and proxies of
    the sensitive attributes (microseg.yaml: sensitive, audit, privacy).

    Examples:

      microseg audit -w shop
      microseg audit north vip --as-of 2026-10-31 -w shop
      microseg audit --run run-1 --json -w shop
    """
    if run is not None and segments:
        raise fail("give segments or --run RUN, not both", 2)
    with handled(), open_workspace(ctx) as ws:
        result = ws.govern.audit(segments or None, run=run, as_of=as_of)
        timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json(result.to_dict())
        return
    _print_audit(result, timezone)


def _print_audit(result: AuditResult, timezone: str) -> None:
    k = result.min_group_size
    cov = result.coverage
    console.print(
        f"[bold]audit[/] of {result.source} as of {when(result.as_of, timezone)}: "
        f"{cov.customers:,} customers, {_count(cov.covered, k)} ({_pct(cov.share, k)}) in at "
        f"least one segment, {_count(cov.uncovered, k)} in none; cells under {k} customers "
        "are suppressed",
        highlight=False,
    )
    if cov.described:
        rows = [
            [
                d.family,
                d.attribute,
                d.value,
                _count(d.uncovered, k),
                _pct(d.share_of_uncovered, k),
                _pct(d.share_of_population, k),
            ]
            for d in cov.described
        ]
        heads = ("family", "attribute", "value", "in none", "of none", "of all")
        console.print(fitted_table("who is in no segment", heads, rows, text=3))
    if result.missing_sensitive:
        console.print(
            "sensitive attributes not in the store (not audited): "
            + ", ".join(result.missing_sensitive),
            highlight=False,
        )
    rows = []
    for segment in result.segments:
        for s in segment.sensitive:
            ratio = ("ratio" if s.ratio_significant else "ratio?") if s.ratio_flagged else ""
            flags = ("proxy " if s.proxy_flagged else "") + ratio
            rows.append(
                [
                    segment.name,
                    s.attribute + ("" if s.named_in_rule else " *"),
                    _count(segment.members, k),
                    f"{s.cramers_v:.2f}",
                    f"{s.p_value:.3f}",
                    "-" if s.selection_ratio is None else f"{s.selection_ratio:.2f}",
                    flags.strip() or "-",
                ]
            )
    if rows:
        columns = ("segment", "sensitive", "members", "V", "p", "ratio", "flag")
        console.print(fitted_table("segments against sensitive attributes", columns, rows, 2))
        console.print(
            "V: Cramér's V of membership and the attribute; p: its permutation p-value; "
            "ratio: lowest selection rate over the highest (groups of "
            f"{k} or more); *: the rule never names the attribute; ratio?: below "
            f"{result.min_selection_ratio:g} but not beyond chance (p >= {result.alpha:g})",
            highlight=False,
        )
    for segment in result.segments:
        for s in segment.sensitive:
            if s.proxy_flagged or s.ratio_flagged:
                _print_groups(segment.name, s, k)
    for line in result.findings:
        console.print(f"- {line}", highlight=False)
    console.print(result.caveat, highlight=False)


def _print_groups(name: str, s: Any, k: int) -> None:
    rows = [
        [
            g.value,
            _count(g.population, k),
            _count(g.members, k),
            _pct(g.share_of_segment, k),
            _pct(g.share_of_population, k),
            _pct(g.selection_rate, k),
        ]
        for g in s.groups
    ]
    rows.append(["(unknown)", _count(s.unknown, k), "", "", "", ""])
    columns = ("value", "customers", "members", "of segment", "of all", "selected")
    console.print(fitted_table(f"{name}: {s.attribute}", columns, rows, text=1))
    if s.carriers:
        carried = [
            [
                c.feature,
                f"{c.association_with_sensitive:.2f}",
                f"{c.conditional_v:.2f}",
                f"{c.carried_share:.0%}",
            ]
            for c in s.carriers
        ]
        heads = ("rule reads", f"V with {s.attribute}", "V within it", "carries")
        console.print(fitted_table(f"{name}: what carries it", heads, carried, text=1))


def quality(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Data quality and staleness: nulls and distinct values per column, duplicates and
    rejects, future and implausible times, negative and outlying amounts, customers with
    too little history for the value models, and stale results.

    Example:

      microseg quality -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        report = ws.govern.quality()
        timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json(report.to_dict())
        return
    _print_quality(report, timezone)


def _print_quality(report: QualityReport, timezone: str) -> None:
    console.print(f"[bold]data quality[/] at {when(report.now, timezone)}", highlight=False)
    for table in report.tables:
        rows = [
            [
                c.column,
                f"{c.nulls:,}",
                f"{c.null_rate:.1%}",
                "-" if c.distinct is None else f"{c.distinct:,}",
            ]
            for c in table.columns
        ]
        title = f"{table.table} ({table.rows:,} rows)"
        console.print(fitted_table(title, ("column", "nulls", "null rate", "distinct"), rows))
    rows = [
        [
            x.kind,
            f"{x.loads:,}",
            f"{x.rows_read:,}",
            f"{x.accepted:,}",
            f"{x.duplicates:,}",
            f"{x.rejected:,}",
        ]
        for x in report.loads
    ]
    heads: tuple[str, ...] = ("table", "loads", "read", "accepted", "duplicates", "rejected")
    console.print(fitted_table("loads", heads, rows))
    if report.rejects:
        rows = [[r.kind, r.reason, f"{r.rows:,}"] for r in report.rejects]
        console.print(fitted_table("rejects by reason", ("table", "reason", "rows"), rows, 2))
    rows = [
        [
            a.type,
            f"{a.amounts:,}",
            f"{a.negative:,}",
            "-" if a.median is None else f"{a.median:,.2f}",
            "-" if a.low is None else f"{a.low:,.2f} to {a.high:,.2f}",
            "-" if a.outliers is None else f"{a.outliers:,}",
        ]
        for a in report.amounts
    ]
    heads = ("event type", "amounts", "negative", "median", "usual range", "outlying")
    console.print(fitted_table("amounts (outlying: robust z of the log beyond 3.5)", heads, rows))
    times = report.times
    console.print(
        f"times: {times.future:,} events after now, {times.before_earliest:,} before "
        f"{times.earliest:%Y-%m-%d}; latest event {when(times.latest_event, timezone)}",
        highlight=False,
    )
    thin = report.thin_history
    if thin.segments:
        rows = [
            [
                s.segment,
                when(s.as_of, timezone, zone=False),
                f"{s.members:,}",
                f"{s.thin:,}",
                "-" if s.share is None else f"{s.share:.1%}",
            ]
            for s in thin.segments
        ]
        heads = ("segment", "snapshot", "members", "thin", "share")
        console.print(fitted_table("thin history by segment (latest snapshot)", heads, rows, 2))
    _print_staleness(report, timezone)
    for line in report.findings:
        console.print(f"- {line}", highlight=False)


_KINDS = {
    "traits": "traits",
    "segment_snapshot": "snapshot",
    "value_fit": "value fit",
    "discovery_run": "discovery",
}


def _print_staleness(report: QualityReport, timezone: str) -> None:
    stale = report.staleness
    rows = [
        [
            s.kind,
            Path(s.source).name,
            f"{s.loads:,}",
            when(s.last_load, timezone, zone=False),
            "-" if s.last_event is None else when(s.last_event, timezone, zone=False),
        ]
        for s in stale.sources
    ]
    heads: tuple[str, ...] = ("table", "source", "loads", "last load", "last event")
    console.print(fitted_table(f"sources (times in {timezone})", heads, rows, 2))
    rows = [
        [
            _KINDS[r.kind],
            r.name,
            when(r.as_of, timezone, zone=False),
            "-" if r.computed_at is None else when(r.computed_at, timezone, zone=False),
            "stale" if r.stale else "",
        ]
        for r in stale.results
    ]
    if rows:
        heads = ("result", "name", "as of", "computed", "stale")
        title = "stored results (stale: computed before the latest load)"
        console.print(fitted_table(title, heads, rows, 2))
