"""Loading products: the current catalogue, upserted on ``product_id``."""

from __future__ import annotations

from microseg.core.errors import IngestError
from microseg.ingest._convert import convert
from microseg.ingest._load import (
    Fate,
    LoadContext,
    missing,
    missing_column,
    properties_json,
    unreadable,
)
from microseg.ingest._sources import OpenedSource
from microseg.store import PRODUCT_COLUMNS, ident

__all__ = ["CANONICAL", "load_products"]

CANONICAL = tuple(c for c in PRODUCT_COLUMNS if c != "properties")
_TARGETS = {
    "product_id": "text",
    "category": "text",
    "brand": "text",
    "price": "number",
    "tags": "list",
}


def load_products(ctx: LoadContext, opened: OpenedSource, *, index: int, total: int) -> None:
    """Load one opened source of products (inside the caller's transaction)."""
    cols = opened.columns
    name = opened.source.name
    if missing_column("products", cols) is not None:
        raise IngestError(
            "missing required column 'product_id'",
            where=name,
            hint="map it with --map SOURCE=product_id",
        )
    store = ctx.store
    ctx.step(f"validating {name}", index * 2, total * 2)
    params = ctx.params()
    select: dict[str, str] = {}
    problems = []
    for column, target in _TARGETS.items():
        if column not in cols:
            select[column] = f"NULL::{PRODUCT_COLUMNS[column]}"
            continue
        conv = convert(column, cols[column], target, params)  # type: ignore[arg-type]
        select[column] = conv.value
        if target == "number":
            problems.append(unreadable(column, conv, "a number", "use digits with a dot", params))
    problems.insert(0, missing("product_id", select["product_id"], "the product's identifier"))
    extras = {c: t for c, t in cols.items() if c not in CANONICAL}
    fates = {c: Fate("canonical", c) for c in cols if c in CANONICAL}
    select["properties"] = (
        properties_json(ctx, opened, extras, params, fates) if extras else "NULL::JSON"
    )
    ctx.place_columns(opened, fates)
    ctx.stage(opened, select, problems, params)

    ctx.step(f"writing {name}", index * 2 + 1, total * 2)
    provided = [c for c in PRODUCT_COLUMNS if c in cols or (c == "properties" and extras)]
    merged = ", ".join(
        f"coalesce(s.{ident(c)}, p.{ident(c)}) AS {ident(c)}" if c in provided else f"p.{ident(c)}"
        for c in PRODUCT_COLUMNS
        if c != "product_id"
    )
    changed = (
        " OR ".join(
            f"(s.{ident(c)} IS NOT NULL AND s.{ident(c)} IS DISTINCT FROM p.{ident(c)})"
            for c in provided
            if c != "product_id"
        )
        or "false"
    )
    store.execute("DROP TABLE IF EXISTS _cand")
    store.execute(
        f"""CREATE TEMP TABLE _cand AS
        SELECT s.product_id, {merged}, p.product_id IS NULL AS is_new, ({changed}) AS changed
        FROM (SELECT * FROM _stage WHERE _ok
              QUALIFY row_number() OVER (PARTITION BY product_id ORDER BY _row DESC) = 1) s
        LEFT JOIN products p ON p.product_id = s.product_id"""  # noqa: S608 - identifiers via ident(), values bound as parameters
    )
    store.execute(
        "DELETE FROM products WHERE product_id IN (SELECT product_id FROM _cand WHERE changed)"
    )
    names = ", ".join(ident(c) for c in PRODUCT_COLUMNS)
    store.execute(
        f"INSERT INTO products ({names}, updated_at, load_id) SELECT {names}, $now, $load "  # noqa: S608 - identifiers via ident(), values bound as parameters
        "FROM _cand WHERE changed OR is_new",
        {"now": ctx.now, "load": ctx.load_id},
    )
    ok = int(store.scalar("SELECT count(*) FROM _stage WHERE _ok"))
    written = int(store.scalar("SELECT count(*) FROM _cand WHERE changed OR is_new"))
    ctx.accepted += written
    ctx.duplicates += ok - written
