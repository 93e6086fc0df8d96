"""What the recommender reads from a workspace: purchase pairs before ``as_of``, the
catalogue, and the micro-segments (segments by priority, or a discovery run's clusters)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

from microseg.context import Context
from microseg.discover.api import Discover
from microseg.insights._recommend import (
    Groups,
    PreparedRecommender,
    build_recommender,
    purchase_pairs,
)
from microseg.profile import ProfileAssembler
from microseg.segments.api import Segments

__all__ = ["catalog", "discovery_groups", "prepare", "segment_groups"]


def catalog(context: Context) -> dict[str, tuple[str | None, str | None]]:
    """product id -> (category, brand) from the products table."""
    products = context.store.table("products").select("product_id", "category", "brand")
    found: dict[str, tuple[str | None, str | None]] = {}
    for row in products.to_pyarrow().to_pylist():
        found[str(row["product_id"])] = (row["category"], row["brand"])
    return found


def segment_groups(segments: Segments, names: Sequence[str], moment: datetime) -> Groups:
    """Each customer's first segment of ``names`` (priority order) at ``moment``."""
    run = segments.evaluate(list(names), as_of=moment, save=False)
    of_customer: dict[str, str] = {}
    for name in names:
        members = run.members(name).select("customer_id").to_pyarrow().column(0).to_pylist()
        for customer in members:
            of_customer.setdefault(str(customer), name)
    return Groups(label="segments " + ", ".join(names), of_customer=of_customer)


def discovery_groups(discover: Discover, run: str | int | None, moment: datetime) -> Groups | None:
    """Each customer's cluster in ``run`` (None: the newest run made as of ``moment`` or
    before; no run, no groups). Cluster 0 (unclustered) is no group."""
    if run is None:
        runs = [r for r in discover.list() if _naive(r["as_of"]) <= moment]
        if not runs:
            return None
        run = int(runs[0]["run_id"])
    shown = discover.show(run)
    names = {int(c["id"]): str(c.get("name") or c["id"]) for c in shown["clusters"]}
    table: pa.Table = discover.assignments(run)
    of_customer = {
        str(customer): f"{cluster}: {names.get(int(cluster), cluster)}"
        for customer, cluster in zip(
            table.column("customer_id").to_pylist(),
            table.column("cluster").to_pylist(),
            strict=True,
        )
        if cluster
    }
    return Groups(label=f"discovery run {shown['name']}", of_customer=of_customer)


def _naive(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=None)


def prepare(
    context: Context,
    profile: ProfileAssembler,
    segments: Segments,
    discover: Discover,
    *,
    moment: datetime,
    names: Sequence[str] | None = None,
    run: str | int | None = None,
) -> PreparedRecommender:
    """The prepared recommender of a workspace at ``moment`` (naive UTC, exclusive)."""
    settings = context.config.value
    pairs, returned = purchase_pairs(
        profile.events(moment), purchase=settings.purchase_event, returned=settings.return_event
    )
    groups = (
        segment_groups(segments, names, moment)
        if names
        else discovery_groups(discover, run, moment)
    )
    return build_recommender(pairs, returned, as_of=moment, catalog=catalog(context), groups=groups)
