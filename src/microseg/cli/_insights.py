"""``microseg insights``: what segments are worth, how customers move between them, what
they buy and who resembles them (docs/insights.md). Each command is thin over
``ws.insights``."""

from __future__ import annotations

import typer

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

__all__ = ["insights_app", "recommend"]

insights_app = typer.Typer(
    cls=Group,
    help=(
        "Insight over segments: value, migration, overlap, affinities.\n\n"
        "Examples:\n\n"
        "  microseg insights value -w shop\n"
    ),
    no_args_is_help=True,
)


def recommend(
    ctx: typer.Context,
    customer_id: str = typer.Argument(
        None, metavar="CUSTOMER_ID", help="The customer (optional with --segment)."
    ),
    method: str = typer.Option(
        "blend", "--method", help="popular, segment, itemknn or blend (the default)."
    ),
    segment: str = typer.Option(
        None,
        "--segment",
        help="Without a customer: the products to push to this segment; with one: the "
        "customer's micro-segment for the segment method.",
    ),
    k: int = typer.Option(10, "--k", help="Products returned."),
    as_of: str = typer.Option(None, "--as-of", help=AS_OF_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Next-best products: ranked products a customer has not bought yet.

    Never a returned product, nor an owned one-off (docs/insights.md).

    Examples:

      microseg recommend C000042 -w shop
      microseg recommend C000042 --method itemknn --k 5 -w shop
      microseg recommend --segment vip --json -w shop
    """
    from rich.table import Table

    if customer_id is None and segment is None:
        raise fail("give a CUSTOMER_ID, or --segment NAME for a segment's products", 2)
    with handled(), open_workspace(ctx) as ws:
        result = ws.insights.recommend(
            customer_id, method=method, k=k, as_of=as_of, segment=segment
        )
    if json_out or state(ctx).json:
        emit_json(result.to_dict())
        return
    who = f"customer {customer_id}" if customer_id else f"segment {segment}"
    shown = Table(title=f"next-best products for {who} ({method})")
    for column in ("#", "product", "category", "brand", "score"):
        shown.add_column(column, justify="right" if column in ("#", "score") else "left")
    for item in result.products:
        shown.add_row(
            str(item.rank),
            item.product_id,
            item.category or "-",
            item.brand or "-",
            f"{item.score:.3f}",
        )
    console.print(shown)
    if customer_id:
        group = result.group or "none (global popularity instead)"
        console.print(f"excluded: {result.excluded} products (bought or returned)", highlight=False)
        console.print(f"micro-segment: {group}", highlight=False)
