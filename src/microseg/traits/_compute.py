"""Computing traits: in batch for everyone (stored, stamped with as_of) or for one profile."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis.expr.types as ir

from microseg.lang import Clock
from microseg.lang.batch import BatchCompiler
from microseg.lang.profile import Profile, ProfileEvaluator
from microseg.store import Store
from microseg.traits._catalog import TraitCatalog

__all__ = ["TraitRun", "compute_traits", "profile_traits"]

RESULT_TABLE = "_trait_eval"


@dataclass(frozen=True)
class TraitRun:
    as_of: datetime
    customers: int
    summary: dict[str, dict[str, Any]]
    seconds: float
    saved: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat() + "Z",
            "customers": self.customers,
            "traits": self.summary,
            "seconds": self.seconds,
            "saved": self.saved,
        }


def compute_traits(
    store: Store,
    traits: TraitCatalog,
    names: list[str],
    *,
    customers: ir.Table,
    events: ir.Table,
    clock: Clock,
    attribute_types: dict[str, str],
    save: bool = True,
) -> TraitRun:
    """All ``names`` for every customer in one aggregation pass; stored long when ``save``."""
    started = time.perf_counter()
    compiler = BatchCompiler(
        customers,
        events,
        clock,
        attribute_types=attribute_types,
        trait_definition=traits.definitions.__getitem__,
    )
    lowered = {name: compiler.trait(name) for name in names}
    joined = compiler.table()
    result = joined.select("customer_id", **{n: f(joined) for n, f in lowered.items()})
    store.ibis.create_table(RESULT_TABLE, result, temp=True, overwrite=True)
    types: dict[str, str] = {n: traits.definitions[n].type for n in names}
    summary = store.trait_summary(RESULT_TABLE, types)
    total = int(store.scalar(f"SELECT count(*) FROM {RESULT_TABLE}"))
    if save:
        with store.transaction():
            store.replace_trait_values(RESULT_TABLE, types, as_of=clock.as_of)
    return TraitRun(clock.as_of, total, summary, round(time.perf_counter() - started, 3), save)


def profile_traits(
    traits: TraitCatalog, names: list[str], profile: Profile, clock: Clock
) -> dict[str, Any]:
    evaluator = ProfileEvaluator(profile, clock, trait_definition=traits.definitions.__getitem__)
    return {name: evaluator.trait(name) for name in names}
