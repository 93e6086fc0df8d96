"""Discovery commands: run, list, show, save."""

from __future__ import annotations

from textwrap import indent
from typing import Any

import typer
from rich.table import Table

from microseg.cli._common import (
    AS_OF_HELP,
    Group,
    console,
    emit_json,
    handled,
    open_workspace,
    state,
)
from microseg.cli._govern import parse_instant, stale_fields, stale_mark
from microseg.cli._readable import fitted_table, rule_yaml, when

__all__ = ["discover_app"]

discover_app = typer.Typer(
    cls=Group,
    no_args_is_help=True,
    help=(
        "Micro-segment discovery: run, list, show and save named clusters with rules.\n\n"
        "Examples:\n\n"
        "  microseg discover run --name oct -w shop\n"
        "  microseg discover show oct -w shop\n"
    ),
)

_JSON = typer.Option(False, "--json", help="Print JSON.")


@discover_app.command("run")
def run(
    ctx: typer.Context,
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    method: str = typer.Option(
        "kmeans", "--method", help="kmeans, gmm, bisecting or hdbscan (density, with noise)."
    ),
    macro: str = typer.Option(
        "lifecycle_stage", "--macro", help="Text trait or attribute for level 1, or 'none'."
    ),
    traits: list[str] = typer.Option(None, "--trait", help="Trait features (default: all)."),
    attributes: list[str] = typer.Option(
        None, "--attribute", help="Attribute features (default: psychographic)."
    ),
    allow_sensitive: list[str] = typer.Option(
        None, "--allow-sensitive", help="Use this sensitive attribute on purpose (recorded)."
    ),
    k: int = typer.Option(
        None, "--k", help="Micro clusters per macro segment (default: best silhouette)."
    ),
    min_k: int = typer.Option(2, "--min-k", help="Fewest micro clusters per macro segment."),
    max_k: int = typer.Option(8, "--max-k", help="Most micro clusters per macro segment."),
    min_size: int = typer.Option(50, "--min-size", help="Smaller clusters are merged."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same run."),
    refits: int = typer.Option(
        3, "--refits", help="Refits on subsamples for stability (k-means: its restarts)."
    ),
    name: str = typer.Option(None, "--name", help="Run name, a slug (default run-<id>)."),
    json_out: bool = _JSON,
) -> None:
    """Discover micro-segments at --as-of and store the run.

    Examples:

      microseg discover run --name oct --as-of 2026-10-31 -w shop
      microseg discover run --macro none --k 8 -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        result = ws.discover.run(
            as_of=as_of,
            method=method,
            macro=None if macro.lower() == "none" else macro,
            traits=traits or None,
            attributes=attributes or None,
            allow_sensitive=allow_sensitive or (),
            n_clusters=k,
            min_clusters=min_k,
            max_clusters=max_k,
            min_size=min_size,
            seed=seed,
            refits=refits,
            name=name,
        )
    data = result.to_dict()
    if json_out or state(ctx).json:
        emit_json(data)
        return
    _print_run(data)


@discover_app.command("list")
def list_(ctx: typer.Context, json_out: bool = _JSON) -> None:
    """Stored discovery runs, newest first.

    Example:

      microseg discover list -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        rows = [
            {**r, **stale_fields(ws.govern.stale_since(r["created_at"]))}
            for r in ws.discover.list()
        ]
        timezone = ws.config.timezone
    if json_out or state(ctx).json:
        emit_json(rows)
        return
    columns = ("id", "name", "as of", "method", "customers", "clusters", "stability")
    cells = [
        [
            str(r["run_id"]),
            r["name"] + stale_mark(r["stale"]),
            when(r["as_of"], timezone, zone=False),
            r["method"],
            f"{r['customers']:,}",
            str(r["clusters"]) + (f" +{r['unclustered']:,} left out" if r["unclustered"] else ""),
            "-" if r["stability_ari"] is None else f"{r['stability_ari']:.3f}",
        ]
        for r in rows
    ]
    table = fitted_table(f"discovery runs (times in {timezone})", columns, cells, text=3)
    console.print(table)


@discover_app.command("show")
def show(
    ctx: typer.Context,
    run: str = typer.Argument(..., metavar="RUN", help="Run name or id (see `discover list`)."),
    json_out: bool = _JSON,
) -> None:
    """A stored run: features, metrics, clusters with names, value, fidelity and rules.

    Example:

      microseg discover list -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        data = ws.discover.show(run)
        data |= stale_fields(ws.govern.stale_since(parse_instant(data.get("created_at"))))
    if json_out or state(ctx).json:
        emit_json(data)
        return
    if data["stale"]:
        console.print(
            f"[yellow]stale:[/] run {data.get('name')} was computed before the load of "
            f"{data['stale_since']}; run `microseg discover run` again",
            highlight=False,
        )
    _print_run(data, rules=True)


@discover_app.command("save")
def save(
    ctx: typer.Context,
    run: str = typer.Argument(..., metavar="RUN", help="Run name or id."),
    cluster: int = typer.Argument(
        ..., metavar="CLUSTER", help="Cluster id (the id column of `discover show`)."
    ),
    name: str = typer.Option(..., "--name", help="Segment name (a slug)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace segments/NAME.yaml if it exists."
    ),
    json_out: bool = _JSON,
) -> None:
    """Write a cluster's rule to segments/NAME.yaml.

    Example:

      microseg discover save oct 3 --name tech-lovers -w shop
    """
    with handled(), open_workspace(ctx) as ws:
        run_id = ws.discover.resolve(run)
        path = ws.discover.save(run_id, cluster, name=name, overwrite=overwrite)
    if json_out or state(ctx).json:
        emit_json({"run_id": run_id, "cluster": cluster, "name": name, "path": str(path)})
        return
    console.print(f"saved {path}")


def _print_run(data: dict[str, Any], *, rules: bool = False) -> None:
    m = data["metrics"]
    stability = "-" if m["stability_ari"] is None else f"{m['stability_ari']:.3f}"
    unclustered = m.get("unclustered", 0)
    console.print(
        f"run {data.get('name') or '(unsaved)'} (id {data['run_id']}) as of {data['as_of']}: "
        f"{m['clusters']} micro-segments"
        + (f" and {unclustered:,} customers unclustered" if unclustered else "")
        + f", coverage {m['coverage']:.0%} of {m['customers']:,} customers, "
        f"stability (ARI) {stability}, {data['seconds']} s",
        highlight=False,
    )
    for note in data["features"]["notes"]:
        console.print(f"  note: {note}", highlight=False)
    for typed in data.get("notes", []):  # runs stored before typed notes have none
        console.print(f"  [yellow]note:[/] {typed['message']}", highlight=False)
        if typed.get("hint"):
            console.print(f"    what to change: {typed['hint']}", highlight=False)
    for macro in data["macros"]:
        close = macro.get("close_call")
        if close:
            where = "" if macro["macro"] == "all" else f"in {macro['macro']}, "
            console.print(
                f"  note: {where}k = {close['k']} scores within {close['margin']:.3f} "
                f"silhouette of the k = {macro['k']} kept; `--k {close['k']}` gives that cut",
                highlight=False,
            )
    valued = any("clv_12m_total" in c for c in data["clusters"])
    table = Table(title="micro-segments")
    columns = ["id", "name", "size", "share", "net spend to date"]
    columns += ["p_alive", "clv_12m", "clv_12m total"] if valued else []
    for column in (*columns, "precision", "recall"):
        table.add_column(column, overflow="fold")
    for c in data["clusters"]:
        cells = [str(c["id"]), c["name"], f"{c['size']:,}", f"{c['share']:.1%}"]
        cells.append(f"{c['revenue']:,.0f}")
        if valued:
            cells += [
                _number(c.get("p_alive_mean"), "{:.2f}"),
                _number(c.get("clv_12m_mean"), "{:,.0f}"),
                _number(c.get("clv_12m_total"), "{:,.0f}"),
            ]
        cells += [_number(c["precision"], "{:.2f}"), _number(c["recall"], "{:.2f}")]
        table.add_row(*cells)
    console.print(table)
    if rules:
        for macro in data["macros"]:
            weights = macro.get("top_weights")
            if weights and max(weights.values()) > 1.0:
                top = ", ".join(f"{name} {w:.2f}" for name, w in weights.items())
                console.print(f"weights in {macro['macro']}: {top}", highlight=False)
        for c in data["clusters"]:
            top = ", ".join(f"{t['feature']} {t['std_diff']:+.2f}" for t in c["top_features"])
            console.print(f"[bold]{c['id']}[/] {c['name']}: {top}", highlight=False)
            if c["rule"] is not None:
                console.print("  rule:", highlight=False)
                text = rule_yaml(c["rule"])
                console.print(indent(text, "    "), highlight=False, markup=False, soft_wrap=True)


def _number(value: float | None, form: str) -> str:
    return "-" if value is None else form.format(value)
