"""Segment commands: validate, evaluate, members; and the profile of one customer."""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from microseg.cli._common import (
    AS_OF_HELP,
    Group,
    console,
    emit_json,
    fail,
    fit_warning_lines,
    handled,
    open_workspace,
    report,
    state,
)
from microseg.cli._readable import sentence, tree_lines, value_text, when
from microseg.core.results import ProblemResult

if TYPE_CHECKING:
    from microseg.lang import Problem

__all__ = ["profile", "segment_app"]

segment_app = typer.Typer(
    cls=Group,
    no_args_is_help=True,
    help=(
        "Segments as code: validate, evaluate, members, explain, diff, grid.\n\n"
        "Examples:\n\n"
        "  microseg segment evaluate --as-of 2026-10-31 -w shop\n"
        "  microseg segment members anime-buyers --json -w shop\n"
    ),
)


class MembersFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    json = "json"


@segment_app.command("validate")
def validate(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="Segments to check (default: all)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check segment files against the workspace: every problem at once, with its line.

    Example:

      microseg segment validate -w shop
    """
    quiet = json_out or state(ctx).json
    from microseg.lang import RuleError

    with handled(), open_workspace(ctx) as ws:
        warnings = [*list(ws.traits.collisions().values()), *ws.traits.list().warnings]
        try:
            catalog = ws.segments.validate(names or None)
        except RuleError as exc:
            if quiet:
                emit_json(
                    {
                        "valid": False,
                        "problems": [p.__dict__ for p in exc.problems],
                        "warnings": warnings,
                    }
                )
                raise typer.Exit(1) from None
            report(warnings, [])
            for problem in exc.problems:
                console.print(f"[red]✗[/] {problem}", highlight=False, soft_wrap=True)
            raise fail(f"{len(exc.problems)} problem(s) found") from None
    chosen = names or sorted(catalog.definitions)
    warnings.extend(str(w) for w in catalog.warnings)
    if quiet:
        emit_json({"valid": True, "segments": chosen, "warnings": warnings})
    else:
        report(warnings, [])
        console.print(f"[green]✓[/] {len(chosen)} segment(s) valid: {', '.join(chosen)}")


@segment_app.command("evaluate")
def evaluate(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="Segments to evaluate (default: all)."),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Evaluate segments together at --as-of and store the memberships as a snapshot.

    A broken segment is reported with its file and reason; the others are evaluated and
    stored, and the command exits with 1 at the end.

    Example:

      microseg segment evaluate --as-of 2026-10-31 -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        run = ws.segments.evaluate(names or None, as_of=as_of)
        timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json(run.to_dict())
        if run.problems:
            raise typer.Exit(1)
        return
    table = Table(title=f"segments as of {when(run.as_of, timezone)} ({run.customers:,} customers)")
    table.add_column("segment")
    table.add_column("members", justify="right")
    table.add_column("share", justify="right")
    for name, size in run.sizes.items():
        share = size / run.customers if run.customers else 0.0
        table.add_row(name, f"{size:,}", f"{share:.1%}")
    console.print(table)
    console.print(f"{run.seconds:.2f} s")
    report(run.warnings, run.problems)
    if run.problems:
        raise fail(f"{len(run.problems)} problem(s): those segments were not evaluated")


@segment_app.command("members")
def members(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The segment."),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    columns: str = typer.Option(
        None,
        "--columns",
        help="Attributes and identities to add, comma-separated, e.g. email,city.",
    ),
    format_: MembersFormat = typer.Option(MembersFormat.csv, "--format", help="Output format."),
    out: Path = typer.Option(None, "--out", help="File to write (default: standard output)."),
    json_out: bool = typer.Option(
        False, "--json", help="Print JSON: the segment, its size and its members."
    ),
) -> None:
    """One row per member: customer_id, then the --columns asked for.

    Examples:

      microseg segment members anime-buyers --columns email,city -w shop
      microseg segment members anime-buyers --format parquet --out anime.parquet -w shop
    """
    if format_ is MembersFormat.parquet and out is None:
        raise fail("--format parquet needs --out FILE", 2)
    chosen = [c.strip() for c in (columns or "").split(",") if c.strip()]
    with handled(), open_workspace(ctx) as ws:
        table = ws.segments.members(name, as_of=as_of, columns=chosen)
        if format_ is MembersFormat.parquet and not (json_out or state(ctx).json):
            table.to_parquet(out)
            return
        rows = table.to_pyarrow().to_pylist()
    if json_out or state(ctx).json:
        emit_json({"segment": name, "customers": len(rows), "members": rows})
        return
    header = ["customer_id", *chosen]
    if format_ is MembersFormat.json:
        text = "".join(json.dumps(r, default=str) + "\n" for r in rows)
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([_csv_cell(r[c]) for c in header] for r in rows)
        text = buffer.getvalue()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


def _csv_cell(value: object) -> str:
    """A list as the "|"-separated text ``ingest`` reads back; nothing as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    return str(value)


def profile(
    ctx: typer.Context,
    customer_id: str = typer.Argument(..., help="The customer."),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    history: bool = typer.Option(False, "--history", help="Segment entries and exits."),
    start: str = typer.Option(None, "--from", help="History start (default: a year ago)."),
    end: str = typer.Option(None, "--to", help="History end (default: --as-of or today)."),
    every: str = typer.Option("month", "--every", help="History snapshots: month or week."),
) -> None:
    """One customer: attributes at --as-of, event counts, and segments (per-profile).

    Example:

      microseg profile C00000133 --as-of 2026-10-31 -w shop

      microseg profile C00000133 --history --from 2025-10-31 --to 2026-10-31 -w shop
    """
    from microseg.segments import ProfileResult
    from microseg.value import warning_results

    with handled(), open_workspace(ctx) as ws:
        one = ws.profile.of(customer_id, as_of=as_of)
        problems: list[Problem] = []
        segments = ws.segments.of(customer_id, as_of=as_of, problems=problems)
        traits = ws.traits.of(customer_id, as_of=as_of)
        warnings = list(ws.traits.collisions().values())
        timezone = ws.config.timezone
        fit_warnings = ws.value.fit_warnings(as_of=as_of)
        timeline = (
            ws.insights.history(customer_id, start=start, end=end or as_of, every=every)
            if history
            else None
        )
        from_fit = sorted(
            ws.traits.model_traits() & {k for k, v in traits.items() if v is not None}
        )
    warnings += fit_warning_lines(from_fit, fit_warnings)
    data = ProfileResult(
        customer_id=customer_id,
        attributes=dict(one.attributes),
        events=one.event_counts(),
        traits=traits,
        segments=sorted(n for n, inside in segments.items() if inside),
        warnings=warnings,
        problems=[ProblemResult.model_validate(p) for p in problems],
        fit_warnings=warning_results(fit_warnings if from_fit else []),
    ).to_dict()
    if timeline is not None:
        data["history"] = timeline.to_dict()
    attributes = data["attributes"]
    if json_out or state(ctx).json:
        emit_json(data)
        if problems:
            raise typer.Exit(1)
        return
    report(warnings, problems)
    table = Table(title=f"customer {customer_id}", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in attributes.items():
        table.add_row(key, value_text(value, timezone))
    console.print(table)
    counted = ", ".join(f"{k} {v:,}" for k, v in data["events"].items())
    console.print("events: " + (counted or "none"))
    shown = Table(title="traits", show_header=False)
    shown.add_column(style="bold")
    shown.add_column(overflow="fold")
    for key, value in traits.items():
        if value is not None:
            shown.add_row(key, value_text(value, timezone))
    console.print(shown)
    console.print("segments: " + (", ".join(data["segments"]) or "none"))
    if timeline is not None:
        from microseg.cli._insights import history_lines

        console.print("\n".join(history_lines(data["history"], timezone)), highlight=False)
    if problems:
        raise fail(f"{len(problems)} problem(s): those segments were not evaluated")


@segment_app.command("explain")
def explain(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The segment."),
    customer_id: str = typer.Argument(..., help="The customer."),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Why a customer is in or out of a segment, node by node, with the deciding values.

    Example:

      microseg segment explain anime-buyers C00000133 -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        result = ws.segments.explain(name, customer_id, as_of=as_of)
        timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json({"segment": name, "customer_id": customer_id, **result.to_dict()})
        return
    verdict = "in" if result.holds else "not in"
    reasons = "; ".join(sentence(leaf, timezone) for leaf in result.decisive())
    console.print(f"[bold]{customer_id} is {verdict} {name}[/]: {reasons}", highlight=False)
    for line in tree_lines(result, timezone):
        console.print(line, highlight=False, markup=False)


@segment_app.command("diff")
def diff(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="The edited definition (not saved yet)."),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Who would enter and who would leave if FILE replaced the current definition.

    Example:

      microseg segment diff edited/anime-buyers.yaml -w shop
    """
    from microseg.lang import load_definition

    with handled():
        if not file.exists():
            raise fail(f"{file}: file not found")
        definition = load_definition(file)
        with open_workspace(ctx) as ws:
            result = ws.segments.diff(definition, as_of=as_of)
            timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json(result.to_dict())
        return
    before = "new segment" if result.before is None else f"{result.before:,}"
    console.print(
        f"[bold]{result.name}[/] as of {when(result.as_of, timezone)}: {before} -> {result.after:,}"
    )
    console.print(f"  entering: {result.entering:,}  e.g. {', '.join(result.entering_sample)}")
    console.print(f"  leaving:  {result.leaving:,}  e.g. {', '.join(result.leaving_sample)}")


@segment_app.command("grid")
def grid(
    ctx: typer.Context,
    dimensions: list[str] = typer.Argument(
        ..., help="gender, age:18,25,35 (bands), interests=travel, segment:NAME."
    ),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    min_size: int = typer.Option(
        50, "--min-size", min=1, help="Hide cells smaller than this (at least 1)."
    ),
    limit: int = typer.Option(30, help="Show the largest N cells (0: all)."),
    save_cell: int = typer.Option(None, "--save-cell", help="Save cell N (1-based) as a segment."),
    name: str = typer.Option(None, "--name", help="Name of the saved segment."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Layer dimensions into every combination cell, with size, share and revenue.

    Examples:

      microseg segment grid gender age:18,25,35 --min-size 50 -w shop
      microseg segment grid gender lifecycle_stage --save-cell 1 --name women-active -w shop
    """
    if save_cell is not None and not name:
        raise fail("--save-cell needs --name NAME", 2)
    with handled(), open_workspace(ctx) as ws:
        result = ws.segments.grid(dimensions, as_of=as_of, min_size=min_size)
        timezone = ws.config.timezone
        saved = None
        if save_cell is not None:
            if not 1 <= save_cell <= len(result.cells):
                raise fail(f"--save-cell: choose 1 to {len(result.cells)}", 2)
            saved = ws.segments.save(result.definition(save_cell - 1, name))
    if json_out or state(ctx).json:
        emit_json({**result.to_dict(), "saved": str(saved) if saved else None})
        return
    report(result.warnings, [])
    table = Table(
        title=f"grid as of {when(result.as_of, timezone)} ({result.customers:,} customers)"
    )
    table.add_column("#", justify="right")
    for dim in result.dimensions:
        table.add_column(dim.label)
    valued = any(cell.clv_12m is not None for cell in result.cells)
    for label in ("customers", "share", "net spend to date", *(["clv 12m"] if valued else [])):
        table.add_column(label, justify="right")
    shown = result.cells if not limit else result.cells[:limit]
    for i, cell in enumerate(shown, start=1):
        table.add_row(
            str(i),
            *cell.values.values(),
            f"{cell.size:,}",
            f"{cell.share:.1%}",
            f"{cell.revenue:,.0f}",
            *([f"{cell.clv_12m or 0:,.0f}"] if valued else []),
        )
    console.print(table)
    console.print(
        f"{result.hidden_cells:,} cells under {result.min_size} customers hidden "
        f"({result.hidden_customers:,} customers)"
    )
    if saved:
        console.print(f"saved cell {save_cell} as {saved}")
