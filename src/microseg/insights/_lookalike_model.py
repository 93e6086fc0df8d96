"""A stored look-alike model: the score a ``score:`` rule reads, in batch or one at a time.

A :class:`LookalikeModel` holds what a look-alike fit learned, in plain numbers: the
discovery encoder of its features (fill, centre, scale, one-hot levels: see
:class:`microseg.discover.Encoder`) and the logistic regression's intercept and
coefficients on the standardized features. The batch path (numpy over Arrow tables) and
the per-profile path (plain Python on mappings) do the same arithmetic in the same order,
so they agree to the bit: missing values take the feature's fill, the linear term is summed
feature by feature from the intercept, and the logistic function is ``math.exp``'s.

Models are kept in the store's ``meta`` table under ``lookalike_model:NAME`` as JSON
(:func:`save_model`, :func:`load_model`, :func:`model_names`); the profile's score provider
(:class:`ScoreColumns`) adds ``_score_<id>`` columns for batch rules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from microseg.context import Context
from microseg.core.errors import WorkspaceError
from microseg.core.text import did_you_mean
from microseg.core.time import AsOf
from microseg.discover import Encoder, FeatureMatrix
from microseg.lang import Clock, ScoreLookup, ScoreSource, score_column
from microseg.profile import ProfileAssembler
from microseg.store import Store
from microseg.traits import score_models

if TYPE_CHECKING:
    from microseg.traits.api import Traits

__all__ = [
    "LookalikeModel",
    "ScoreColumns",
    "load_model",
    "model_names",
    "save_model",
]

_PREFIX = "lookalike_model:"
_FORMAT = 1


class LookalikeModel:
    """A fitted look-alike scorer: features encoded as discovery encodes them, then a
    logistic function of their weighted sum. JSON-safe (:meth:`to_dict`)."""

    model_id: int
    name: str
    traits: list[str]
    attributes: list[str]

    def __init__(
        self,
        *,
        model_id: int,
        name: str,
        segment: str,
        as_of: datetime,
        encoder: Encoder,
        coef: Sequence[float],
        intercept: float,
        auc: float | None = None,
    ) -> None:
        if len(coef) != len(encoder.features):
            raise WorkspaceError(
                f"look-alike model {name!r} has {len(coef)} coefficients for "
                f"{len(encoder.features)} features",
                where=f"meta.{_PREFIX}{name}",
            )
        self.model_id = model_id
        self.name = name
        self.segment = segment
        self.as_of = as_of
        # missing values take the fill in both paths (never NaN: a score is always given)
        self.encoder = replace(encoder, skip_missing=False)
        self.coef = tuple(float(c) for c in coef)
        self.intercept = float(intercept)
        self.auc = auc
        self.traits = self.encoder.reads("trait")
        self.attributes = self.encoder.reads("attribute")

    @classmethod
    def from_matrix(
        cls,
        matrix: FeatureMatrix,
        coef: Sequence[float],
        intercept: float,
        **identity: Any,
    ) -> LookalikeModel:
        return cls(
            encoder=Encoder.from_matrix(matrix, None), coef=coef, intercept=intercept, **identity
        )

    # -- scoring ------------------------------------------------------------------------------

    def encode_table(self, traits: pa.Table, customers: pa.Table) -> np.ndarray[Any, Any]:
        """The standardized features of every row of ``traits`` (attributes by customer_id)."""
        matrix, _ = self.encoder.encode_masked(traits, customers)
        return matrix

    def score_encoded(self, matrix: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The score of rows already encoded by :meth:`encode_table`."""
        total = np.full(matrix.shape[0], self.intercept)
        for j, weight in enumerate(self.coef):
            total = total + matrix[:, j] * weight
        return np.array([_logistic(x) for x in total.tolist()], dtype=np.float64)

    def score_table(self, traits: pa.Table, customers: pa.Table) -> np.ndarray[Any, Any]:
        """The score (0 to 1) of every row of ``traits``; ``customers`` holds the attributes."""
        return self.score_encoded(self.encode_table(traits, customers))

    def score_one(self, traits: Mapping[str, Any], attributes: Mapping[str, Any]) -> float:
        """The score of one customer (plain Python: no database)."""
        z = self.encoder.encode_one(traits, attributes)
        total = self.intercept
        for x, weight in zip(z, self.coef, strict=True):
            total = total + x * weight
        return _logistic(total)

    # -- storage ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "model_id": self.model_id,
            "name": self.name,
            "segment": self.segment,
            "as_of": self.as_of.isoformat(),
            "auc": self.auc,
            "intercept": self.intercept,
            "coef": list(self.coef),
            **self.encoder.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LookalikeModel:
        try:
            return cls(
                model_id=int(data["model_id"]),
                name=str(data["name"]),
                segment=str(data["segment"]),
                as_of=datetime.fromisoformat(str(data["as_of"])),
                encoder=Encoder.from_dict(data),
                coef=[float(c) for c in data["coef"]],
                intercept=float(data["intercept"]),
                auc=None if data.get("auc") is None else float(data["auc"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WorkspaceError(
                f"stored look-alike model is unreadable: {type(exc).__name__}: {exc}",
                hint="store it again with `microseg insights lookalike SEGMENT --save NAME`",
            ) from None

    def __repr__(self) -> str:
        return (
            f"LookalikeModel(model_id={self.model_id}, name={self.name!r}, "
            f"segment={self.segment!r}, features={len(self.coef)})"
        )


def _logistic(x: float) -> float:
    """1 / (1 + e^-x), without overflow for large negative ``x``."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# -- the store ---------------------------------------------------------------------------------


def _stored(store: Store) -> dict[str, dict[str, Any]]:
    meta = store.table("meta")
    rows = meta.filter(meta.key.startswith(_PREFIX)).to_pyarrow().to_pylist()
    return {str(r["key"])[len(_PREFIX) :]: json.loads(str(r["value"])) for r in rows}


def model_names(store: Store) -> list[str]:
    """The stored look-alike models' names, sorted."""
    return sorted(_stored(store))


def next_model_id(store: Store, name: str) -> int:
    """The id a model saved as ``name`` gets: its current id when it exists, else a new one."""
    stored = _stored(store)
    if name in stored:
        return int(stored[name]["model_id"])
    return 1 + max((int(d["model_id"]) for d in stored.values()), default=0)


def save_model(store: Store, model: LookalikeModel) -> None:
    """Keep ``model`` under its name (replacing a model of that name)."""
    store.set_meta_value(_PREFIX + model.name, json.dumps(model.to_dict()))


def load_model(store: Store, name: str) -> LookalikeModel:
    """The stored model ``name`` (a :class:`WorkspaceError` with a suggestion if unknown)."""
    text = store.meta_value(_PREFIX + name)
    if text is None:
        names = model_names(store)
        hint = did_you_mean(name, names)
        raise WorkspaceError(
            f"no look-alike model {name!r}{hint}",
            hint="stored models: " + ", ".join(names)
            if names
            else "store one with `microseg insights lookalike SEGMENT --save NAME`",
        )
    return LookalikeModel.from_dict(json.loads(text))


class ScoreColumns:
    """The profile's score provider: each customer's score by a stored model."""

    def __init__(self, context: Context, profile: ProfileAssembler, traits: Traits) -> None:
        self._context = context
        self._profile = profile
        self._traits = traits

    def lookup(self) -> ScoreLookup:
        loaded: dict[str, ScoreSource] = {}
        store = self._context.store

        def lookup(name: str) -> ScoreSource:
            if name not in loaded:
                loaded[name] = load_model(store, name)
            return loaded[name]

        return lookup

    def names(self) -> list[str]:
        return model_names(self._context.store)

    def scores(self, clock: Clock, as_of: AsOf | None, source: ScoreSource) -> pa.Table:
        """The score of every customer by ``source``, from traits and attributes at ``as_of``
        (the per-profile evaluator asks the same model for one profile)."""
        catalog = self._traits.list()
        missing = [t for t in source.traits if t not in catalog.definitions]
        if missing:
            raise WorkspaceError(
                f"look-alike model {source.name!r} uses the trait {missing[0]!r}, which this "
                "workspace does not define now",
                hint="restore the trait, or fit and save the look-alike again",
            )
        if source.name in score_models([], None, catalog, source.traits):
            raise WorkspaceError(
                f"look-alike model {source.name!r} reads a trait that tests its own score",
                hint="take the `score` node out of that trait, or fit the look-alike again",
            )
        people = self._profile.customers_at(clock, as_of)
        if source.traits:
            run = self._traits.compute_with(catalog, list(source.traits), clock, as_of, save=False)
            assert run.result is not None
            traits = run.result.to_pyarrow()
            run.result.drop()
        else:
            traits = people.select("customer_id").to_pyarrow()
        attributes = people.select("customer_id", *source.attributes).to_pyarrow()
        scores = source.score_table(traits, attributes)
        return pa.table(
            {
                "customer_id": traits.column("customer_id"),
                score_column(source.model_id): pa.array(np.asarray(scores, dtype=np.float64)),
            }
        )
