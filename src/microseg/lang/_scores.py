"""``score:`` nodes: a stored look-alike model's score for a customer, against a threshold.

Both evaluators read a model through :class:`ScoreSource` (a look-alike model stored by
``microseg insights lookalike --save`` is one): the batch evaluator finds every customer's
score in a column the workspace adds to the customers (:func:`score_column`), computed by
the model from the traits and attributes at ``as_of``; the per-profile evaluator asks the
same model for one profile. The pattern is that of ``cluster:`` nodes
(:mod:`microseg.lang._clusters`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

__all__ = ["ScoreLookup", "ScoreSource", "score_column"]


class ScoreSource(Protocol):
    """What a rule needs from a stored scoring model."""

    model_id: int
    name: str
    traits: list[str]
    attributes: list[str]

    def score_one(self, traits: Mapping[str, Any], attributes: Mapping[str, Any]) -> float: ...

    def score_table(self, traits: Any, customers: Any) -> Any:
        """Scores (a numpy array of floats) for the rows of ``traits`` (Arrow tables)."""
        ...


#: A model's name -> the model (raises a clear error for an unknown model).
ScoreLookup = Callable[[str], ScoreSource]


def score_column(model_id: int) -> str:
    """The customers column holding each customer's score by model ``model_id`` (batch)."""
    return f"_score_{model_id}"
