"""Why an attribute is missing at an instant: not yet valid then, or never loaded.

``explain`` says which (docs/segments.md): an attribute with no value in force at
``as_of`` but a value in a later version of the customer's history is *pending*, valid
from that version's start; one with no value in any version was never loaded for the
customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

__all__ = ["pending_attributes"]


def pending_attributes(
    versions: Iterable[Mapping[str, Any]],
    attributes: Mapping[str, Any],
    moment: datetime | None,
) -> dict[str, datetime]:
    """Missing attributes (``None`` in ``attributes``) that a version starting at or after
    ``moment`` (naive UTC) provides, each with the earliest such start.

    ``versions`` are the customer's rows of ``customer_history``. Without a ``moment``
    (the current attributes) nothing is pending. A derived ``age`` follows ``birth_date``.
    """
    if moment is None:
        return {}
    missing = [name for name, value in attributes.items() if value is None]
    found: dict[str, datetime] = {}
    for version in versions:
        start = version["valid_from"]
        if start is None or start < moment:
            continue
        for name in missing:
            if version.get(name) is not None and (name not in found or start < found[name]):
                found[name] = start
    if "age" in missing and "age" not in found and "birth_date" in found:
        found["age"] = found["birth_date"]
    return found
