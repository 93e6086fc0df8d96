"""Governance commands: ``microseg audit`` (bias and coverage) and ``microseg quality``
(data quality and staleness). docs/governance.md."""

from __future__ import annotations

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
    from microseg.govern import AuditResult

__all__ = ["audit", "stale_mark"]


def _count(value: int | None, k: int) -> str:
    return f"<{k}" if value is None else f"{value:,}"


def _pct(value: float | None, k: int) -> str:
    return f"(<{k})" if value is None else f"{value:.1%}"


def stale_mark(stale: bool) -> str:
    """The marker of a result computed before the latest ingest, in every table."""
    return " [stale]" if stale else ""


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
