"""Commands that make data: synth and demo."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from microseg.cli._common import console, emit_json, handled, progress_bar, state
from microseg.cli._data import render_status

__all__ = ["demo", "synth"]


def synth(
    ctx: typer.Context,
    customers: int = typer.Option(5000, help="Number of customers."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same bytes."),
    months: int = typer.Option(24, help="Months of history."),
    end: str = typer.Option("2026-10-31", help="Last day of history (YYYY-MM-DD)."),
    out: Path = typer.Option(..., help="Folder to write the Parquet files into."),
    bad_rows: float = typer.Option(0.0, help="Fraction of deliberately bad event rows."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Write a synthetic shop (customers, events, products, planted segments) to Parquet.

    Example:

      microseg synth --customers 2000 --seed 1 --out data
    """
    from microseg.synth import generate_shop

    quiet = json_out or state(ctx).json
    with handled(), progress_bar(not quiet) as progress:
        result = generate_shop(
            out,
            customers=customers,
            seed=seed,
            months=months,
            end=date.fromisoformat(end),
            bad_rows=bad_rows,
            progress=(lambda done, total: progress("generating", done, total))
            if progress
            else None,
        )
    data = {
        "out": str(result.out_dir),
        "counts": result.counts,
        "files": {k: str(v) for k, v in result.paths.items()},
        "event_files": [str(p) for p in result.event_files],
        "seed": result.seed,
    }
    if quiet:
        emit_json(data)
        return
    table = Table(title=f"synthetic shop in {out}", show_header=False)
    for key, value in result.counts.items():
        table.add_row(key, f"{value:,}")
    console.print(table)


def demo(
    ctx: typer.Context,
    directory: Path = typer.Option(Path("microseg-demo"), "--dir", help="Where to build it."),
    customers: int = typer.Option(5000, help="Customers in the synthetic shop."),
    seed: int = typer.Option(42, help="Random seed."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Build a synthetic shop in a fresh workspace, load it, and show what is there.

    Examples:

      microseg demo
      microseg demo --customers 20000 --dir /tmp/bigger-demo
    """
    from microseg.demo import run_demo

    quiet = json_out or state(ctx).json
    with handled(), progress_bar(not quiet) as progress:
        result = run_demo(directory, customers=customers, seed=seed, progress=progress)
    if quiet:
        emit_json(result.to_dict())
        return
    console.rule("[bold]microseg demo[/]")
    for report in result.loads:
        console.print(
            f"loaded {report.kind:<9} {report.accepted:>9,} accepted  "
            f"{report.duplicates:>6,} duplicates  {report.rejected:>5,} rejected  "
            f"({report.seconds:.2f} s) from {', '.join(Path(s).name for s in report.sources)}"
        )
    console.print()
    render_status(result.status)
    if result.planted:
        table = Table(title="planted micro-segments (ground truth)")
        table.add_column("segment")
        table.add_column("customers", justify="right")
        for name, count in result.planted.items():
            table.add_row(name, f"{count:,}")
        console.print(table)
    if result.segments is not None:
        run = result.segments
        table = Table(title=f"example segments (segments/*.yaml) as of {run.as_of:%Y-%m-%d}")
        table.add_column("segment")
        table.add_column("title")
        table.add_column("members", justify="right")
        table.add_column("share", justify="right")
        for name, size in run.sizes.items():
            share = size / run.customers if run.customers else 0.0
            table.add_row(name, run.titles.get(name) or "", f"{size:,}", f"{share:.1%}")
        console.print(table)
    if result.value_fit is not None:
        fit = result.value_fit
        params = ", ".join(f"{k} {v:g}" for k, v in fit["purchase"].items())
        spend = ", ".join(f"{k} {v:g}" for k, v in (fit["spend"] or {}).items())
        console.print(
            f"value models on {fit['buyers']:,} buyers ({fit['unit']}s): {fit['model']} "
            f"{params}; Gamma-Gamma {spend or 'not fitted'}"
        )
    if result.value_error:
        console.print(f"[yellow]value models not fitted:[/] {result.value_error}")
    if result.value:
        table = Table(title="value of the planted segments (next 12 months)")
        for column in (
            "segment",
            "buyers",
            "mean P(alive)",
            "clv per buyer",
            "clv total",
            "high churn risk",
        ):
            if column == "segment":
                table.add_column(column, no_wrap=True)
            else:
                table.add_column(column, justify="right")
        for row in result.value:
            table.add_row(
                row["segment"],
                f"{row['buyers']:,}",
                _maybe(row["mean_p_alive"], "{:.2f}"),
                _maybe(row["clv_12m_per_buyer"], "{:,.2f}"),
                _maybe(row["clv_12m"], "{:,.0f}"),
                _maybe(row["high_churn_risk_share"], "{:.0%}"),
            )
        console.print(table)
    if result.discovery:
        _print_discovery(result.discovery)
    console.print(
        f"\nWorkspace: {result.path}   next: microseg --workspace {result.path} segment evaluate"
    )


def _print_discovery(found: dict[str, Any]) -> None:
    ari, macro = found.get("ari_vs_planted"), found.get("macro")
    table = Table(title=f"discovered micro-segments (run {found['run']}, {found['method']})")
    for column in ("id", "name", "customers", "share", "revenue", "clv/buyer", "rule P/R"):
        if column == "name":
            table.add_column(column, min_width=28, overflow="fold")
        else:
            table.add_column(column, justify="right", no_wrap=True)
    for c in found["clusters"]:
        fit = "-" if c["precision"] is None else f"P {c['precision']:.2f} / R {c['recall']:.2f}"
        table.add_row(
            str(c["id"]),
            c["name"],
            f"{c['size']:,}",
            f"{c['share']:.1%}",
            _maybe(c["revenue_share"], "{:.1%}"),
            _maybe(c["clv_12m_mean"], "{:,.2f}"),
            fit,
        )
    console.print(table)
    inside = f" inside each {macro.replace('_', ' ')}" if macro else ""
    console.print(
        f"Stability {_maybe(found['stability_ari'], '{:.2f}')} (adjusted Rand index between "
        "restarts)"
        + (f"; agreement with the planted segments{inside}: {ari:.2f}." if ari is not None else ".")
    )
    console.print(
        f"See a cluster's rule: microseg discover show {found['run']}; "
        f"keep it as a segment: microseg discover save {found['run']} ID --name NAME"
    )


def _maybe(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)
