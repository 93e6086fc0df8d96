"""``ws.attributes``: the stored customer attributes, their families, and dropping one."""

from __future__ import annotations

import builtins
from typing import Any

from microseg.config import FAMILIES
from microseg.context import Context

__all__ = ["Attributes"]


class Attributes:
    """The attributes customers carry: ``ws.attributes`` (``microseg attributes``)."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def list(self) -> builtins.list[dict[str, Any]]:
        """Every stored attribute: name, type, family and how many customers have a value."""
        store, config = self._context.store, self._context.config
        present = store.attribute_presence()
        return [
            {
                "name": name,
                "type": kind,
                "family": config.family_of(name) or "unclassified",
                "customers": present.get(name, 0),
            }
            for name, kind in store.attribute_columns().items()
        ]

    def families(self) -> dict[str, builtins.list[str]]:
        """Stored attributes by family, with ``unclassified`` for those the config omits."""
        families: dict[str, list[str]] = {f: [] for f in (*FAMILIES, "unclassified")}
        for name in self._context.store.attribute_columns():
            families[self._context.config.family_of(name) or "unclassified"].append(name)
        return families

    def drop(self, name: str) -> None:
        """Remove the attribute ``name`` and its history from every customer.

        Deliberate and irreversible: reload a file to bring it back. Segments that use it
        then fail validation with "unknown attribute".
        """
        self._context.store.drop_attribute(name)
