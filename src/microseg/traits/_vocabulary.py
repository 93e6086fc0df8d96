"""The shop's own words in the built-in traits: event types and channels from microseg.yaml.

The built-ins are written with the default event types (``purchase``, ``return``, ...);
:func:`with_event_types` puts the shop's types in their place once the file is parsed, so
a type is always data (the value of ``event:``), never YAML text. The channel traits are
made from ``traits.channels`` (channel name -> the events' ``channel`` values that mean
it) by :func:`channel_traits`: ``<name>_share`` per channel, ``purchase_channel_count``
and ``omnichannel``, which all read the same values, so a customer who bought in one
channel is never omnichannel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CHANNEL_SHARE_SUFFIX", "channel_traits", "with_event_types"]

CHANNEL_SHARE_SUFFIX = "_share"


def with_event_types(data: Any, types: Mapping[str, str]) -> Any:
    """``data`` (parsed trait definitions) with each ``event: <role>`` read as the shop's
    type for that role; other values are left as they are."""
    if isinstance(data, list):
        return [with_event_types(item, types) for item in data]
    if not isinstance(data, dict):
        return data
    result = {key: with_event_types(value, types) for key, value in data.items()}
    event = result.get("event")
    if isinstance(event, str) and event in types:
        result["event"] = types[event]
    return result


def _channel_filter(values: Sequence[str]) -> dict[str, Any]:
    if len(values) == 1:
        return {"property": "channel", "eq": values[0]}
    return {"property": "channel", "in": list(values)}


def channel_traits(channels: Mapping[str, Sequence[str]], purchase: str) -> list[dict[str, Any]]:
    """The channel traits for ``channels`` (name -> channel values), on ``purchase`` events."""
    definitions: list[dict[str, Any]] = []
    used: list[dict[str, Any]] = []
    for name, values in channels.items():
        where = [_channel_filter(values)]
        shown = ", ".join(repr(v) for v in values)
        definitions.append(
            {
                "name": name + CHANNEL_SHARE_SUFFIX,
                "formula": f"share of orders made in the channel {name} (channel {shown}; "
                "traits.channels in microseg.yaml)",
                "value": {
                    "div": [
                        {
                            "aggregate": "distinct",
                            "event": purchase,
                            "property": "order",
                            "where": where,
                        },
                        {"trait": "purchase_count"},
                    ]
                },
            }
        )
        used.append(
            {
                "case": [{"when": {"event": purchase, "where": where}, "then": {"value": 1}}],
                "else": {"value": 0},
            }
        )
    names = ", ".join(channels)
    definitions.append(
        {
            "name": "purchase_channel_count",
            "formula": f"number of the channels of traits.channels ({names}) with a purchase",
            "value": used[0] if len(used) == 1 else {"add": used},
        }
    )
    definitions.append(
        {
            "name": "omnichannel",
            "type": "boolean",
            "formula": "purchases in two or more of the channels of traits.channels "
            "(purchase_channel_count >= 2)",
            "value": {
                "case": [
                    {
                        "when": {"trait": "purchase_channel_count", "gte": 2},
                        "then": {"value": True},
                    }
                ],
                "else": {"value": False},
            },
        }
    )
    return definitions
