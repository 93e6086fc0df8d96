"""A segment's members with chosen attributes and identities beside their ids."""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir

from microseg.core.errors import ParameterError
from microseg.core.text import did_you_mean

__all__ = ["with_columns"]


def with_columns(
    members: ir.Table,
    columns: Sequence[str],
    *,
    attributes: ir.Table,
    identities: ir.Table,
    identity_types: Sequence[str],
) -> ir.Table:
    """``members`` (one ``customer_id`` column) with each of ``columns`` added, in order.

    A column is an attribute as of the evaluation (from ``attributes``) or an identity type
    (``email``, ``phone``, ...; the customer's first identifier of that type, in id order).
    Anything else is refused with the names that exist.
    """
    known_attributes = [c for c in attributes.columns if c != "customer_id"]
    identity_types = [t for t in identity_types if t != "customer_id"]
    chosen = list(dict.fromkeys(c.strip() for c in columns if c.strip()))
    for name in chosen:
        if name not in known_attributes and name not in identity_types:
            known = [*known_attributes, *identity_types]
            raise ParameterError(
                f"--columns {name!r}: not an attribute or an identity of this workspace"
                + did_you_mean(name, known),
                hint="choose from " + ", ".join(known),
            )
    result = members
    wanted = [c for c in chosen if c in known_attributes]
    if wanted:
        picked = attributes.select("customer_id", *wanted).rename(attr_id="customer_id")
        result = result.left_join(picked, result.customer_id == picked.attr_id).drop("attr_id")
    for kind in (c for c in chosen if c not in known_attributes):
        of_kind = identities.filter(identities.id_type == kind)
        first = of_kind.group_by(of_kind.customer_id).aggregate(value=of_kind.id_value.min())
        first = first.rename(**{"ident_id": "customer_id", kind: "value"})
        result = result.left_join(first, result.customer_id == first.ident_id).drop("ident_id")
    return result.select("customer_id", *chosen).order_by("customer_id")
