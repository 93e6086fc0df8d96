"""What a rule may refer to in a workspace, and which operators suit which types."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "BUILTIN_EVENT_TYPES",
    "EVENT_PROPERTY_TYPES",
    "OPERATORS_BY_TYPE",
    "ORDER_PROPERTY",
    "ORDER_TIME_FORMAT",
    "Schema",
]

#: Promoted event columns and their types; any other property is a key of ``properties``.
EVENT_PROPERTY_TYPES: dict[str, str] = {
    "event_id": "text",
    "type": "text",
    "timestamp": "timestamp",
    "amount": "number",
    "quantity": "number",
    "discount": "number",
    "product_id": "text",
    "category": "text",
    "channel": "text",
    "order_id": "text",
    "campaign": "text",
    "query": "text",
    # derived from the timestamp, in the workspace time zone
    "month": "number",  # 1-12
    "day": "number",  # day of the month, 1-31
    "weekday": "number",  # 1 = Monday .. 7 = Sunday
    "hour": "number",  # 0-23
    # the event's order: its order_id, or without one its instant (ORDER_TIME_FORMAT, UTC),
    # so that the lines of one order (or one customer's lines at one instant) count once
    "order": "text",
}

#: The derived ``order`` property, and how an event without ``order_id`` spells its instant.
ORDER_PROPERTY = "order"
ORDER_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

#: Properties computed from an event's timestamp in the workspace time zone.
DERIVED_TIME_PROPERTIES = ("month", "day", "weekday", "hour")

BUILTIN_EVENT_TYPES = (
    "purchase",
    "return",
    "view",
    "search",
    "cart_add",
    "checkout_abandon",
    "email_sent",
    "email_open",
    "email_click",
)

_ORDERED = {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "is_null"}
_TEXTUAL = {"contains", "contains_any", "contains_all", "starts_with", "ends_with", "matches"}
OPERATORS_BY_TYPE: dict[str, set[str]] = {
    "text": _ORDERED | _TEXTUAL,
    "number": _ORDERED,
    "date": _ORDERED,
    "timestamp": _ORDERED,
    "boolean": {"eq", "ne", "is_null"},
    "list": {"contains", "contains_any", "contains_all", "is_null"},
    "json": _ORDERED | _TEXTUAL,  # a key of properties: the operand decides
}


@dataclass(frozen=True)
class Schema:
    """Attributes (name -> type), traits (name -> type), segments and event types known.

    ``clusters`` maps each stored discovery run's name and id (as text) to its clusters
    (id -> name), for ``cluster:`` nodes. ``property_keys`` are the keys of events'
    ``properties`` seen in the loads so far (None when unknown: property names are then
    not checked). ``score_models`` names the stored scoring models (``score:`` nodes).
    """

    attributes: dict[str, str] = field(default_factory=dict)
    traits: dict[str, str] = field(default_factory=dict)
    segments: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset(BUILTIN_EVENT_TYPES)
    clusters: dict[str, dict[int, str]] = field(default_factory=dict)
    property_keys: frozenset[str] | None = None
    #: the stored look-alike models' names, for ``score:`` nodes
    score_models: frozenset[str] = frozenset()
