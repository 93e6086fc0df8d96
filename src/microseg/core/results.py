"""Results that cross an edge (``--json``, later the HTTP API): pydantic models, one time form.

Every result a front end shows derives from :class:`Result`; :meth:`Result.to_dict` is its
JSON form (``model_dump(mode="json")``), so no result writes its own dictionary.

Times follow one convention, ISO 8601 with an offset. An :data:`Instant` is a moment in
UTC: the store keeps naive UTC datetimes, an aware datetime is converted, and either is
written as ``2025-01-01T00:00:00Z`` (microseconds when there are any:
``2025-10-31T22:59:59.999999Z``). A calendar day (a ``date``) is written ``2025-01-01``.

>>> from datetime import datetime
>>> class Stamp(Result):
...     as_of: Instant
>>> Stamp(as_of=datetime(2025, 1, 1)).to_dict()
{'as_of': '2025-01-01T00:00:00Z'}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer, model_validator

__all__ = [
    "AnyValue",
    "Instant",
    "ProblemResult",
    "Result",
    "as_utc",
    "instant_text",
    "plain",
]


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (a naive one is taken to be UTC, as stored)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def instant_text(value: datetime) -> str:
    """The ISO 8601 text of an instant in UTC, with ``Z`` for its offset."""
    return as_utc(value).replace(tzinfo=None).isoformat() + "Z"


#: A moment in UTC; naive datetimes (the store's) are UTC. Written ``...Z`` in JSON.
Instant = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(instant_text, return_type=str, when_used="json"),
]


def _any_json(value: Any) -> Any:
    return instant_text(value) if isinstance(value, datetime) else value


#: A value of any type (an attribute's, a trait's); a datetime in it is an instant.
AnyValue = Annotated[Any, PlainSerializer(_any_json, when_used="json")]


def plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays (nested in lists and dicts) as plain Python,
    so a result holds only what JSON can say."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(tolist) and type(value).__module__ == "numpy":
        return plain(tolist())
    return value


class Result(BaseModel):
    """Root of the results front ends show: frozen, no unknown fields, JSON by ``to_dict``.

    numpy numbers given to a result become plain Python numbers; NaN and infinities stay
    floats (written ``NaN`` and ``Infinity`` by ``json.dumps``, as before).
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", from_attributes=True, ser_json_inf_nan="constants"
    )

    @model_validator(mode="before")
    @classmethod
    def _plain(cls, data: Any) -> Any:
        return plain(data) if isinstance(data, dict) else data

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data: ``model_dump(mode="json")``."""
        return self.model_dump(mode="json")


class ProblemResult(Result):
    """One problem of a definition (``microseg.lang.Problem``): field path, message, place."""

    path: str
    message: str
    file: str | None = None
    line: int | None = None
