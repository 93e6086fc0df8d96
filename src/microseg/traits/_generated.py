"""Traits made from the data: one ``spend_share_<category>`` per purchase category.

Category text is data, and a shop's data may hold anything (``Gifts!``, ``''``, 300
characters, SQL). The category stays data (the value of a ``where`` test); only the trait
*name* is derived from it, by rules that keep every user file valid and every name stable:

- the name is ``spend_share_`` and a slug of the category (transliterated to ASCII, so
  ``Beauté`` gives ``beaute`` and ``Книги`` ``knigi``; letters and digits joined by ``_``,
  at most :data:`SLUG_LENGTH` characters);
- it is the bare slug only when the slug spells the category exactly (lower case, accents
  transliterated, ``_`` for spaces or hyphens), no other generated category claims the
  same slug, and no
  built-in or user trait has the name; otherwise the slug gets ``_`` and eight hex digits
  of the category's SHA-256, which depend on the category alone.

So a name never moves to another category: when a second category claims a bare name, both
take their suffixed names, and segments on the old name are told the trait is gone.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from microseg.core.text import slug, spells

__all__ = ["SPEND_SHARE_PREFIX", "CategoryTraits", "category_share_traits", "category_trait_names"]

SPEND_SHARE_PREFIX = "spend_share_"
#: The longest slug kept in a generated name (the name stays under 64 characters).
SLUG_LENGTH = 40


def _slug(category: str) -> str:
    return slug(category, length=SLUG_LENGTH) or "blank"


def _suffix(category: str) -> str:
    return hashlib.sha256(category.encode("utf-8")).hexdigest()[:8]


def category_trait_names(categories: Sequence[str], taken: Collection[str]) -> dict[str, str]:
    """Category -> trait name, for distinct ``categories``; never a name in ``taken``."""
    claims: dict[str, list[str]] = {}
    for category in dict.fromkeys(categories):
        claims.setdefault(_slug(category), []).append(category)
    names: dict[str, str] = {}
    for key, claimants in claims.items():
        bare = SPEND_SHARE_PREFIX + key
        # a bare slug that looks suffixed could take another category's suffixed name
        alone = len(claimants) == 1 and bare not in taken and not _SUFFIXED.search(key)
        for category in claimants:
            exact = alone and spells(category, key)
            names[category] = bare if exact else f"{bare}_{_suffix(category)}"
    return _distinct(names, taken)


_SUFFIXED = re.compile(r"_[0-9a-f]{8}$")


def _distinct(names: dict[str, str], taken: Collection[str]) -> dict[str, str]:
    """Names made distinct by longer digests, should eight hex digits ever collide."""
    for digits in (16, 64):
        seen: dict[str, int] = {}
        for name in names.values():
            seen[name] = seen.get(name, 0) + 1
        clashes = {n for n, count in seen.items() if count > 1 or (n in taken)}
        if not clashes:
            break
        for category, name in names.items():
            if name in clashes:
                full = hashlib.sha256(category.encode("utf-8")).hexdigest()
                names[category] = f"{SPEND_SHARE_PREFIX}{_slug(category)}_{full[:digits]}"
    return names


@dataclass(frozen=True)
class CategoryTraits:
    """The generated definitions, which category each is, and what the user should know."""

    definitions: list[dict[str, Any]]
    categories: dict[str, str]  # trait name -> category
    warnings: list[str] = field(default_factory=list)


def category_share_traits(
    categories: Sequence[str], *, taken: Collection[str] = (), purchase: str = "purchase"
) -> CategoryTraits:
    """``spend_share_<category>``: the share of purchase spend in each category."""
    names = category_trait_names(categories, taken)
    definitions: list[dict[str, Any]] = []
    warnings: list[str] = []
    for category, name in names.items():
        if SPEND_SHARE_PREFIX + _slug(category) in taken:
            warnings.append(
                f"the trait for the purchase category {category!r} is named {name}, because "
                f"{SPEND_SHARE_PREFIX + _slug(category)} is a trait of this workspace"
            )
        spend = {
            "aggregate": "sum",
            "event": purchase,
            "property": "amount",
            "where": [{"property": "category", "eq": category}],
        }
        definitions.append(
            {
                "name": name,
                "formula": f"share of purchase spend in the category {category!r} "
                "(its purchase amounts / gross_spend)",
                "value": {"div": [spend, {"trait": "gross_spend"}]},
            }
        )
    return CategoryTraits(definitions, {n: c for c, n in names.items()}, warnings)
