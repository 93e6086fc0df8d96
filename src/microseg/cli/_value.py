"""Value commands: clv fit, predict, backtest."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from microseg.cli._common import (
    AS_OF_HELP,
    Group,
    console,
    emit_json,
    fail,
    handled,
    open_workspace,
    state,
)
from microseg.cli._govern import stale_fields, stale_mark
from microseg.cli._readable import when

if TYPE_CHECKING:
    from microseg.value import Backtest

__all__ = ["clv_app"]

clv_app = typer.Typer(
    cls=Group,
    no_args_is_help=True,
    help=(
        "Customer value (lifetime value, P(alive), churn risk): fit, predict, backtest.\n\n"
        "Examples:\n\n"
        "  microseg clv fit -w shop\n"
        "  microseg clv predict --top 20 -w shop\n"
    ),
)

PERIOD_END_HELP = "ISO date (the end of that day) or timestamp."


def _params_table(title: str, report: dict[str, Any]) -> Table:
    table = Table(title=title)
    for column in ("parameter", "estimate", "std. error", "95% interval"):
        table.add_column(column, justify="right" if column != "parameter" else "left")
    for name, value in report["params"].items():
        low, high = report["confidence_intervals"].get(name, [None, None])
        table.add_row(
            name,
            _fmt(value),
            _fmt(report["standard_errors"].get(name)),
            f"[{_fmt(low)}, {_fmt(high)}]",
        )
    return table


def _fmt(value: float | None) -> str:
    """4 decimals, or 4 significant digits for a value too small to show so (no e-notation)."""
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 1e-3:
        return f"{value:.4f}"
    digits = 3 - math.floor(math.log10(abs(value)))
    return f"{value:.{digits}f}"


def _print_fit_warnings(warnings: list[dict[str, Any]]) -> None:
    """Each warning of a fit (what it means), then what to try, once."""
    for warning in warnings:
        console.print(
            f"[yellow]warning ({warning['code']}):[/] {warning['message']}.",
            highlight=False,
            soft_wrap=True,
        )
    for hint in dict.fromkeys(w["hint"] for w in warnings):
        console.print(f"  what to try: {hint}.", highlight=False, soft_wrap=True)


@clv_app.command("fit")
def fit(
    ctx: typer.Context,
    model: str = typer.Option(
        None, "--model", help="bgnbd or pareto-nbd (default: value.model in microseg.yaml)."
    ),
    as_of: str = typer.Option(None, "--as-of", help="End of calibration. " + AS_OF_HELP),
    unit: str = typer.Option(None, "--unit", help="day or week (default: value.unit)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Fit the purchase model and Gamma-Gamma on every buyer's summary, and store them.

    Example:

      microseg clv fit --as-of 2026-06-30 -w shop
    """
    if model is not None and model not in ("bgnbd", "pareto-nbd"):
        raise fail(f"--model {model!r}: use bgnbd or pareto-nbd", 2)
    if unit is not None and unit not in ("day", "week"):
        raise fail(f"--unit {unit!r}: use day or week", 2)
    from microseg.value import fit_report

    with handled(), open_workspace(ctx) as ws:
        fitted = ws.value.fit(model=model, as_of=as_of, unit=unit)
        timezone = ws.config.timezone
    report = fit_report(fitted).to_dict()
    if json_out or state(ctx).json:
        emit_json(report)
        return
    purchase = report["purchase"]
    console.print(
        f"[bold]{fitted.model}[/] on {fitted.customers:,} buyers, as of "
        f"{when(fitted.as_of, timezone)}, unit {fitted.unit}; fit #{fitted.fit_id}"
    )
    console.print(_params_table("purchase model", purchase))
    console.print(
        f"log-likelihood {purchase['log_likelihood']:,.3f}, {purchase['seconds']:.3f} s"
        + ("" if purchase["converged"] else " [red](not converged)[/]")
    )
    spend = report["spend"]
    if spend is None:
        console.print("Gamma-Gamma not fitted: fewer than two repeat buyers")
        _print_fit_warnings(report["warnings"])
        return
    console.print(_params_table("spend model (Gamma-Gamma)", spend))
    console.print(
        f"log-likelihood {spend['log_likelihood']:,.3f} on {spend['customers']:,} repeat "
        f"buyers, {spend['seconds']:.3f} s; correlation of spend and frequency "
        f"{spend['spend_frequency_correlation']}"
        + (
            " [yellow](the model assumes none)[/]"
            if abs(spend["spend_frequency_correlation"] or 0.0) > 0.3
            else ""
        )
    )
    _print_fit_warnings(report["warnings"])


@clv_app.command("predict")
def predict(
    ctx: typer.Context,
    horizon: str = typer.Option(
        None, "--horizon", help="Prediction period, e.g. '12 months' (default: value.horizon)."
    ),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    out: Path = typer.Option(None, "--out", help="Write every buyer's predictions to a file."),
    fmt: str = typer.Option("csv", "--format", help="csv, parquet or json (with --out)."),
    top: int = typer.Option(10, "--top", help="Customers shown, highest clv first."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Predict purchases, P(alive), spend, clv and churn risk for every buyer.

    Examples:

      microseg clv predict --top 20 -w shop
      microseg clv predict --out clv.csv -w shop
    """
    from microseg.value import PREDICTION_FORMATS, write_predictions

    if fmt not in PREDICTION_FORMATS:
        raise fail(f"--format {fmt!r}: use csv, parquet or json", 2)
    with handled(), open_workspace(ctx) as ws:
        table = ws.value.predict(as_of=as_of, horizon=horizon)
        fit = ws.value.latest_fit(as_of=as_of)
        fit_id = None if fit is None else fit.fit_id
        stale = stale_fields(None if fit_id is None else ws.govern.fit_stale_since(fit_id))
    metadata = table.schema.metadata or {}
    warnings = json.loads(metadata.get(b"microseg.fit_warnings", b"[]"))
    if out is not None:
        write_predictions(table, out, fmt)
    rows = table.to_pylist()
    totals = _totals(rows)
    if json_out or state(ctx).json:
        emit_json(
            {
                "totals": totals,
                "out": str(out) if out else None,
                "warnings": warnings,
                "fit_id": fit_id,
                **stale,
                "customers": rows[:top] if out else rows,
            }
        )
        return
    ranked = sorted(rows, key=lambda r: -(r["clv"] if r["clv"] is not None else -math.inf))
    shown = Table(
        title=f"highest predicted value ({len(rows):,} buyers)"
        + stale_mark(stale["stale"]).replace("stale", "stale fit")
    )
    for column in (
        "customer_id",
        "frequency",
        "p_alive",
        "expected_purchases",
        "clv",
        "churn_risk",
    ):
        shown.add_column(
            column, justify="left" if column in ("customer_id", "churn_risk") else "right"
        )
    for r in ranked[:top]:
        shown.add_row(
            str(r["customer_id"]),
            f"{r['frequency']:.0f}",
            f"{r['p_alive']:.3f}",
            f"{r['expected_purchases']:.2f}",
            "-" if r["clv"] is None else f"{r['clv']:,.2f}",
            str(r["churn_risk"]),
        )
    console.print(shown)
    console.print(
        f"total expected purchases {totals['expected_purchases']:,.1f}, total clv "
        f"{totals['clv']:,.2f}; churn risk: "
        + ", ".join(f"{k} {v:,}" for k, v in totals["churn_risk"].items())
    )
    if out is not None:
        console.print(f"wrote {len(rows):,} rows to {out}")
    if stale["stale"]:
        console.print(
            f"[yellow]stale:[/] fit #{fit_id} was fitted before the load of "
            f"{stale['stale_since']}; run `microseg clv fit` again",
            highlight=False,
        )
    _print_fit_warnings(warnings)


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    risk: dict[str, int] = {}
    for r in rows:
        risk[str(r["churn_risk"])] = risk.get(str(r["churn_risk"]), 0) + 1
    return {
        "customers": len(rows),
        "expected_purchases": round(sum(r["expected_purchases"] for r in rows), 3),
        "clv": round(sum(r["clv"] for r in rows if r["clv"] is not None), 2),
        "churn_risk": dict(sorted(risk.items())),
    }


@clv_app.command("backtest")
def backtest(
    ctx: typer.Context,
    calibration_end: str = typer.Option(..., "--calibration-end", help=PERIOD_END_HELP),
    holdout_end: str = typer.Option(..., "--holdout-end", help=PERIOD_END_HELP),
    model: str = typer.Option(None, "--model", help="bgnbd or pareto-nbd."),
    unit: str = typer.Option(None, "--unit", help="day or week."),
    out: Path = typer.Option(None, "--out", help="Write per-customer results (CSV)."),
    plot: Path = typer.Option(None, "--plot", help="Write the tracking and frequency plots (SVG)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Fit on the calibration period and compare predictions with the holdout period.

    Example:

      microseg clv backtest --calibration-end 2026-03-31 --holdout-end 2026-06-30 -w shop
    """
    from microseg.value import backtest_svg, write_predictions

    if model is not None and model not in ("bgnbd", "pareto-nbd"):
        raise fail(f"--model {model!r}: use bgnbd or pareto-nbd", 2)
    with handled(), open_workspace(ctx) as ws:
        result = ws.value.backtest(
            calibration_end=calibration_end, holdout_end=holdout_end, model=model, unit=unit
        )
    if out is not None and result.per_customer is not None:
        write_predictions(result.per_customer, out, "csv")
    if plot is not None:
        plot.write_text(backtest_svg(result), encoding="utf-8")
    if json_out or state(ctx).json:
        emit_json(result.to_dict())
        return
    _print_backtest(result, plot)


def _print_backtest(result: Backtest, plot: Path | None) -> None:
    console.print(
        f"[bold]{result.fit.model}[/] calibrated through {result.calibration_end}, holdout "
        f"through {result.holdout_end} ({result.holdout_units:.2f} {result.unit}s), "
        f"{result.customers:,} customers"
    )
    summary = Table(title="holdout purchases")
    for column in ("", "total", "MAE", "RMSE"):
        summary.add_column(column, justify="right" if column else "left")
    summary.add_row("actual", f"{result.total_actual:,.0f}", "", "")
    summary.add_row(
        "model", f"{result.total_predicted:,.1f}", f"{result.mae:.4f}", f"{result.rmse:.4f}"
    )
    summary.add_row(
        "naive (calibration rate)",
        f"{result.total_naive:,.1f}",
        f"{result.mae_naive:.4f}",
        f"{result.rmse_naive:.4f}",
    )
    console.print(summary)
    freq = Table(title="mean holdout purchases by calibration frequency")
    for column in ("frequency", "customers", "actual", "model", "naive"):
        freq.add_column(column, justify="right")
    for row in result.by_frequency:
        freq.add_row(
            row["frequency"],
            f"{row['customers']:,}",
            f"{row['actual']:.3f}",
            f"{row['predicted']:.3f}",
            f"{row['naive']:.3f}",
        )
    console.print(freq)
    if plot is not None:
        console.print(f"plots written to {plot}")
