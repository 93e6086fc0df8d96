"""Discovery commands: run, list, show, save."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from microseg.cli._common import AS_OF_HELP, console, emit_json, handled, open_workspace, state
from microseg.discover import discover, list_runs, load_run, save_cluster

__all__ = ["discover_app"]

discover_app = typer.Typer(
    help="Micro-segment discovery: clusters inside macro segments, named, with rules."
)

_JSON = typer.Option(False, "--json", help="Print JSON.")


@discover_app.command("run")
def run(
    ctx: typer.Context,
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    method: str = typer.Option("kmeans", "--method", help="kmeans or gmm."),
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
    min_k: int = typer.Option(2, "--min-k", help="Fewest micro clusters per macro segment."),
    max_k: int = typer.Option(8, "--max-k", help="Most micro clusters per macro segment."),
    min_size: int = typer.Option(50, "--min-size", help="Smaller clusters are merged."),
    seed: int = typer.Option(0, "--seed"),
    json_out: bool = _JSON,
) -> None:
    """Discover micro-segments at --as-of and store the run."""
    with handled(), open_workspace(ctx) as ws:
        result = discover(
            ws,
            as_of=as_of,
            method=method,
            macro=None if macro.lower() == "none" else macro,
            traits=traits or None,
            attributes=attributes or None,
            allow_sensitive=allow_sensitive or (),
            min_clusters=min_k,
            max_clusters=max_k,
            min_size=min_size,
            seed=seed,
        )
    data = result.to_dict()
    if json_out or state(ctx).json:
        emit_json(data)
        return
    _print_run(data)


@discover_app.command("list")
def list_(ctx: typer.Context, json_out: bool = _JSON) -> None:
    """Stored discovery runs, newest first."""
    with handled(), open_workspace(ctx) as ws:
        rows = list_runs(ws)
    if json_out or state(ctx).json:
        emit_json(rows)
        return
    table = Table(title="discovery runs")
    for column in ("run", "as_of", "created", "method", "customers", "clusters", "stability"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["run_id"]),
            f"{r['as_of']:%Y-%m-%d %H:%M}",
            f"{r['created_at']:%Y-%m-%d %H:%M}",
            r["method"],
            f"{r['customers']:,}",
            str(r["clusters"]),
            "-" if r["stability_ari"] is None else f"{r['stability_ari']:.3f}",
        )
    console.print(table)


@discover_app.command("show")
def show(
    ctx: typer.Context,
    run_id: int = typer.Argument(..., metavar="RUN", help="Run id (see `discover list`)."),
    json_out: bool = _JSON,
) -> None:
    """A stored run: features, metrics, clusters with names, fidelity and rules."""
    with handled(), open_workspace(ctx) as ws:
        data = load_run(ws, run_id)
    if json_out or state(ctx).json:
        emit_json(data)
        return
    _print_run(data, rules=True)


@discover_app.command("save")
def save(
    ctx: typer.Context,
    run_id: int = typer.Argument(..., metavar="RUN"),
    cluster: int = typer.Argument(..., metavar="CLUSTER"),
    name: str = typer.Option(..., "--name", help="Segment name (a slug)."),
    overwrite: bool = typer.Option(False, "--overwrite"),
    json_out: bool = _JSON,
) -> None:
    """Write a cluster's rule to segments/NAME.yaml."""
    with handled(), open_workspace(ctx) as ws:
        path = save_cluster(ws, run_id, cluster, name=name, overwrite=overwrite)
    if json_out or state(ctx).json:
        emit_json({"run_id": run_id, "cluster": cluster, "name": name, "path": str(path)})
        return
    console.print(f"saved {path}")


def _print_run(data: dict[str, Any], *, rules: bool = False) -> None:
    m = data["metrics"]
    stability = "-" if m["stability_ari"] is None else f"{m['stability_ari']:.3f}"
    console.print(
        f"run {data['run_id']} as of {data['as_of']}: {m['clusters']} micro-segments, "
        f"coverage {m['coverage']:.0%} of {m['customers']:,} customers, "
        f"stability (ARI) {stability}, {data['seconds']} s"
    )
    for note in data["features"]["notes"]:
        console.print(f"  note: {note}", highlight=False)
    table = Table(title="micro-segments")
    for column in ("id", "name", "size", "share", "revenue", "precision", "recall"):
        table.add_column(column, overflow="fold")
    for c in data["clusters"]:
        table.add_row(
            str(c["id"]),
            c["name"],
            f"{c['size']:,}",
            f"{c['share']:.1%}",
            f"{c['revenue']:,.0f}",
            f"{c['precision']:.2f}",
            f"{c['recall']:.2f}",
        )
    console.print(table)
    if rules:
        for c in data["clusters"]:
            top = ", ".join(f"{t['feature']} {t['std_diff']:+.2f}" for t in c["top_features"])
            console.print(f"[bold]{c['id']}[/] {c['name']}: {top}", highlight=False)
            console.print(f"  rule: {c['rule']}", highlight=False, soft_wrap=True)
