"""Commands that make data: synth and demo."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from microseg.cli._common import console, emit_json, handled, progress_bar, state
from microseg.cli._data import render_status
from microseg.cli._readable import fitted_table, number

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
    serve: bool = typer.Option(
        False, "--serve", help="Then serve it over HTTP with a new key (docs/service.md)."
    ),
    port: int = typer.Option(8000, "--port", help="The port --serve listens on."),
) -> None:
    """Build a synthetic shop in a fresh workspace, load it, and show what is there.

    Examples:

      microseg demo
      microseg demo --customers 20000 --dir /tmp/bigger-demo
      microseg demo --serve --port 8000
    """
    from microseg.demo import DEMO_TIMEZONE, run_demo

    quiet = json_out or state(ctx).json
    with handled(), progress_bar(not quiet) as progress:
        result = run_demo(directory, customers=customers, seed=seed, progress=progress)
    if quiet:
        emit_json(result.to_dict())
        return
    console.rule("[bold]microseg demo[/]")
    _print_loads(result.loads)
    render_status(result.status, DEMO_TIMEZONE)
    if result.planted:
        table = Table(title="planted micro-segments (ground truth)")
        table.add_column("segment")
        table.add_column("customers", justify="right")
        for name, count in result.planted.items():
            table.add_row(name, f"{count:,}")
        console.print(table)
    if result.segments is not None:
        _print_segments(result.segments)
    _print_fit(result.value_fit)
    if result.value_error:
        console.print(f"[yellow]value models not fitted:[/] {result.value_error}")
    if result.value:
        _print_value(result.value)
    if result.discovery:
        _print_discovery(result.discovery)
    _print_insights(result)
    if result.campaign_line():
        console.print(result.campaign_line(), highlight=False)
    for line in result.governance_lines():
        console.print(line, highlight=False)
    console.print("\nNext, from this folder:")
    for step in result.next_steps():
        console.print(f"  {step}", highlight=False, markup=False, soft_wrap=True)
    if serve:
        _serve_demo(result.path, port)


def _print_fit(fit: dict[str, Any] | None) -> None:
    """The value models' parameters and their warnings, with the advice once."""
    if fit is None:
        return
    params = ", ".join(f"{k} {number(v, 3)}" for k, v in fit["purchase"].items())
    spend = ", ".join(f"{k} {number(v, 3)}" for k, v in (fit["spend"] or {}).items())
    console.print(
        f"value models on {fit['buyers']:,} buyers ({fit['unit']}s): {fit['model']} "
        f"{params}; Gamma-Gamma {spend or 'not fitted'}",
        highlight=False,
    )
    hints: list[str] = []
    for warning in fit.get("warnings", []):
        console.print(
            f"[yellow]warning ({warning['code']}):[/] {warning['message']}", highlight=False
        )
        if warning["hint"] and warning["hint"] not in hints:
            hints.append(warning["hint"])
    for hint in hints:  # the same advice once, however many warnings share it
        console.print(f"what to try: {hint}", highlight=False)


def _serve_demo(path: Path, port: int) -> None:
    """Create a key with the write scope, print it and how to use it, and serve."""
    from microseg.service import KeyRing, ServiceSettings
    from microseg.service import serve as run

    key, token = KeyRing(path).create("demo", ["write"])
    base = f"http://127.0.0.1:{port}"
    console.print(
        f"\nServing the demo on {base} (API docs: {base}/docs); Ctrl-C stops. "
        f"Key {key.key_id} (scope write, which reads too), shown only now:",
        highlight=False,
    )
    console.print(token, highlight=False, markup=False, soft_wrap=True)
    console.print(
        f'  curl -H "Authorization: Bearer {token}" {base}/api/segments',
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    with handled():
        run(path, port=port, settings=ServiceSettings())


def _print_insights(result: Any) -> None:
    """The example segments ranked by value, the largest moves between lifecycle stages
    over the last 12 months, and the planted marriages' shift in spending (``microseg
    insights value``, ``migration`` and ``change``)."""
    from microseg.cli._insights import print_change, print_migration, print_value_table
    from microseg.demo import DEMO_TIMEZONE

    if result.value_table is not None:
        print_value_table(result.value_table, DEMO_TIMEZONE, 10, fit_notes=False)
        if result.value_table.fit_warnings:
            console.print("clv and potential rest on the value fit above: see its warnings.")
    if result.migration is not None:
        print_migration(result.migration.to_dict(), DEMO_TIMEZONE, 5)
    if result.marriage is not None:
        console.print(
            "\n[bold]the life event of the seeds[/]: customers who married, against those "
            "who stayed single (the 3 largest shifts in their spending)",
            highlight=False,
        )
        print_change(result.marriage, DEMO_TIMEZONE, largest=3)


def _print_loads(loads: list[Any]) -> None:
    rows = [
        [
            report.kind,
            ", ".join(Path(s).name for s in report.sources),
            f"{report.accepted:,}",
            f"{report.duplicates:,}",
            f"{report.rejected:,}",
        ]
        for report in loads
    ]
    columns = ("table", "file", "accepted", "duplicates", "rejected")
    console.print(fitted_table("loaded", columns, rows, text=2))


def _print_segments(run: Any) -> None:
    table = Table(title=f"example segments (segments/*.yaml) as of {run.as_of:%Y-%m-%d}")
    table.add_column("segment", overflow="fold")
    table.add_column("title")
    table.add_column("members", justify="right")
    table.add_column("share", justify="right")
    for name, size in run.sizes.items():
        share = size / run.customers if run.customers else 0.0
        table.add_row(name, run.titles.get(name) or "", f"{size:,}", f"{share:.1%}")
    console.print(table)


def _print_value(rows: list[dict[str, Any]]) -> None:
    cells = [
        [
            row["segment"],
            f"{row['buyers']:,}",
            _maybe(row["mean_p_alive"], "{:.2f}"),
            _maybe(row["clv_12m_per_buyer"], "{:,.2f}"),
            _maybe(row["clv_12m"], "{:,.0f}"),
            _maybe(row["high_churn_risk_share"], "{:.0%}"),
        ]
        for row in rows
    ]
    columns = (
        "segment",
        "buyers",
        "mean P(alive)",
        "value per buyer",
        "value of all buyers",
        "high churn risk",
    )
    title = "predicted value of the planted segments over the next 12 months"
    console.print(fitted_table(title, columns, cells))
    console.print(
        "value: predicted spend over the next 12 months (customer lifetime value, net of "
        "returns); P(alive): the chance a buyer is still a customer; high churn risk: "
        "P(alive) under 0.3.",
        highlight=False,
    )


def _print_discovery(found: dict[str, Any]) -> None:
    ari, macro = found.get("ari_vs_planted"), found.get("macro")
    rows = [
        [
            str(c["id"]),
            c["name"],
            f"{c['size']:,} ({c['share']:.0%})",
            _maybe(c["revenue_share"], "{:.1%}"),
            _maybe(c["clv_12m_mean"], "{:,.0f}"),
            "-" if c["precision"] is None else f"{c['precision']:.2f}/{c['recall']:.2f}",
        ]
        for c in found["clusters"]
    ]
    columns = ("id", "name", "customers", "spend to date", "value per buyer", "rule fit")
    title = f"discovered micro-segments (run {found['run']}, {found['method']})"
    console.print(fitted_table(title, columns, rows, text=2))
    console.print(
        "spend to date: the cluster's share of all net spend (purchases less returns, "
        "whole history); value per buyer: predicted spend over the next 12 months; rule "
        "fit: precision/recall of the cluster's rule.",
        highlight=False,
    )
    stability = _maybe(found["stability_ari"], "{:.2f}")
    text = f"Stability: {stability} adjusted Rand index (ARI) between restarts"
    if ari is not None:
        inside = f" inside each {macro.replace('_', ' ')}" if macro else ""
        levels = "two levels" if macro else "one level"
        text += (
            f"; agreement with the planted segments{inside}: ARI {ari:.2f} ({levels}; one "
            "level, `discover run --macro none --k 8`, recovers the planted segments "
            "themselves at 0.80-0.81 on larger shops, see docs/discovery.md)"
        )
    console.print(text + ".", highlight=False)


def _maybe(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)
