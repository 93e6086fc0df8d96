"""``ws.traits``: the trait catalog, batch computation and one customer's traits."""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import ibis

from microseg.context import Context
from microseg.core.text import did_you_mean
from microseg.core.time import AsOf
from microseg.lang import Clock, ModelExpr, Problem, RuleError, Schema, TraitExpr, walk
from microseg.profile import BatchInputs, ProfileAssembler
from microseg.traits._catalog import TraitCatalog
from microseg.traits._compute import TraitRun, compute_cuts, compute_traits, profile_traits
from microseg.traits._follow import cluster_runs, model_outputs, score_models
from microseg.traits._generated import SPEND_SHARE_PREFIX

__all__ = ["TraitValues", "Traits"]


class Traits:
    """The traits of a workspace (docs/traits.md): ``ws.traits``."""

    def __init__(self, context: Context, profile: ProfileAssembler) -> None:
        self._context = context
        self._profile = profile

    # -- the catalog --------------------------------------------------------------------------

    def list(self) -> TraitCatalog:
        """The traits without problems: built-ins, ``traits/*.yaml``, ``spend_share_<category>``
        for the purchase categories (those declared under ``traits:`` in microseg.yaml, or
        every purchased one up to ``traits.spend_share_limit``), and the value-model traits
        (``p_alive``, ``clv_12m``, ...) once a value model has been fitted.

        A broken trait file, or a trait that has (or uses one that has) a problem, is left
        out; the catalog's ``problems`` and ``broken`` say why, and ``warnings`` what the
        user should know (categories the cap cut, generated traits renamed).
        """
        categories, note = self._purchase_categories()
        catalog = TraitCatalog.load(
            self._context.traits_dir,
            settings=self._context.config.lifecycle.model_dump(),
            value_traits=self._context.store.latest_value_fit() is not None,
            categories=categories,
            problems=[],
            vocabulary=self._context.config.traits,
        )
        if note:
            catalog.warnings.insert(0, note)
        return catalog.checked(self._profile.schema(catalog.types()))

    def vocabulary(self, catalog: TraitCatalog | None = None) -> dict[str, Any]:
        """The shop's words the built-in traits read (``traits:`` in microseg.yaml): channel
        name -> channel values, role -> event type, and each ``spend_share`` trait's
        category (declared, or the purchased ones)."""
        settings = self._context.config.traits
        catalog = catalog or self.list()
        return {
            "channels": {name: list(values) for name, values in settings.channels.items()},
            "event_types": settings.event_types.by_role(),
            "categories": dict(catalog.categories),
            "categories_from": "traits.spend_share_categories"
            if settings.spend_share_categories is not None
            else "the purchased categories",
        }

    def validate(self) -> TraitCatalog:
        """The traits, or :class:`RuleError` listing every problem of every trait."""
        catalog = self.list()
        if catalog.problems:
            raise RuleError(catalog.problems)
        return catalog

    def schema(self, catalog: TraitCatalog | None = None) -> Schema:
        """What rules may refer to: attributes (with derived ``age``), the traits without
        problems, event types and discovery runs."""
        return self._profile.schema((catalog or self.list()).types())

    def model_traits(self, catalog: TraitCatalog | None = None) -> set[str]:
        """The traits computed from a value model, directly (``model: p_alive``) or through
        another trait: they carry the warnings of the fit they come from."""
        catalog = catalog or self.list()
        uses: dict[str, set[str]] = {}
        found: set[str] = set()
        for name, definition in catalog.definitions.items():
            nodes = list(walk(definition.value))
            if any(isinstance(node, ModelExpr) for node in nodes):
                found.add(name)
            uses[name] = {node.trait for node in nodes if isinstance(node, TraitExpr)}
        grown = True
        while grown:
            more = {name for name, used in uses.items() if used & found} - found
            found |= more
            grown = bool(more)
        return found

    def collisions(self, catalog: TraitCatalog | None = None) -> dict[str, str]:
        """A warning for each attribute that has the name of a trait (docs/traits.md).

        Rules say which they mean (``attribute:`` or ``trait:``); a bare name, as a grid
        dimension, means the trait.
        """
        catalog = catalog or self.list()
        traits = {**dict.fromkeys(catalog.broken, "broken"), **catalog.files}
        return {
            name: f"the attribute {name!r} has the name of the trait {name} ({traits[name]}): "
            f"a bare name (a grid dimension) means the trait; write attribute:{name} for "
            "the attribute, and rules say which they mean with `attribute:` or `trait:`"
            for name in sorted(set(self._profile.attribute_types()) & set(traits))
        }

    def _purchase_categories(self) -> tuple[builtins.list[str], str | None]:
        """The categories that get a ``spend_share`` trait, and a note when the cap cut some."""
        settings = self._context.config.traits
        if settings.spend_share_categories is not None:
            return list(settings.spend_share_categories), None
        limit = settings.spend_share_limit
        purchase = settings.event_types.purchase
        found = self._context.store.purchase_categories(limit=limit + 1, purchase=purchase)
        if len(found) <= limit:
            return found, None
        total = self._context.store.purchase_category_count(purchase)
        return found[:limit], (
            f"{total} purchase categories, and spend_share traits are made for the {limit} "
            "most purchased (traits.spend_share_limit in microseg.yaml): list the ones you "
            "use under traits.spend_share_categories to keep their traits whatever the data"
        )

    def missing(self, catalog: TraitCatalog) -> Callable[[str], str | None]:
        """Why a trait a segment names is missing, for the segment's problem."""

        def reason(name: str) -> str | None:
            if name in catalog.broken:
                found = "; ".join(str(p) for p in catalog.broken[name])
                return f"uses the trait {name!r}, which is broken: {found}"
            if name.startswith(SPEND_SHARE_PREFIX):
                declared = self._context.config.traits.spend_share_categories
                where = (
                    "the categories declared under traits.spend_share_categories"
                    if declared is not None
                    else "the purchased categories"
                )
                return (
                    f"no trait {name!r}: spend_share traits are made from {where}, and "
                    "none of them gives this name now (`microseg traits list` shows those "
                    "there are); add its category to traits.spend_share_categories in "
                    "microseg.yaml, or change the rule"
                )
            return None

        return reason

    # -- evaluation ---------------------------------------------------------------------------

    def inputs(
        self,
        clock: Clock,
        as_of: AsOf | None,
        catalog: TraitCatalog,
        *,
        models: bool = True,
        runs: set[str | int] | None = None,
        scores: set[str] | None = None,
    ) -> BatchInputs:
        """The batch profile the traits of ``catalog`` read: with the value-model outputs
        they use (``models``) and the clusters of ``runs``."""
        return self._profile.batch(
            clock,
            as_of,
            models=model_outputs(catalog) if models else (),
            runs=runs or (),
            scores=scores or (),
        )

    def compute(
        self,
        names: Sequence[str] | None = None,
        *,
        as_of: AsOf | None = None,
        save: bool = True,
    ) -> TraitRun:
        """Every trait (or ``names``) for every customer at ``as_of``, in one pass; stored.

        Traits with problems are left out and listed in the run's ``problems`` (each with
        its file and reason); a request that names one trait only raises them instead. The
        run's ``result`` holds every customer's values.
        """
        catalog = self.list()
        chosen = list(names) if names else list(catalog.definitions)
        unknown = [n for n in chosen if n not in catalog.definitions and n not in catalog.broken]
        if unknown:
            hint = did_you_mean(unknown[0], catalog.definitions)
            raise RuleError([Problem("traits", f"unknown trait {unknown[0]!r}{hint}")])
        if names:
            problems = [p for n in chosen for p in catalog.broken.get(n, [])]
        else:
            problems = list(catalog.problems)
        if problems and len(chosen) == 1:
            raise RuleError(problems)
        chosen = [n for n in chosen if n in catalog.definitions]
        clock = self._context.clock(as_of)
        run = self.compute_with(catalog, chosen, clock, as_of, save=save)
        return dataclasses.replace(run, problems=problems, warnings=list(catalog.warnings))

    def compute_with(
        self,
        catalog: TraitCatalog,
        names: builtins.list[str],
        clock: Clock,
        as_of: AsOf | None,
        *,
        save: bool,
    ) -> TraitRun:
        """``names`` of ``catalog`` at ``clock`` for every customer, as :meth:`compute` does
        once it has checked the request."""
        runs = cluster_runs([], None, catalog, names)
        scores = score_models([], None, catalog, names)
        inputs = self.inputs(clock, as_of, catalog, runs=runs, scores=scores)
        run = compute_traits(self._context.store, catalog, names, inputs, save=save)
        if save:  # when they were computed: stale after a later load (docs/governance.md)
            self._context.store.record_trait_run(
                as_of=run.as_of,
                computed_at=self._context.now(),
                traits=names,
                customers=run.customers,
            )
        return run

    def of(self, customer_id: str, *, as_of: AsOf | None = None) -> dict[str, Any]:
        """One customer's traits, by the per-profile interpreter."""
        catalog = self.list()
        profile = self._profile.of(customer_id, as_of=as_of)
        clock = self._context.clock(as_of)
        return profile_traits(
            catalog,
            list(catalog.definitions),
            profile,
            clock,
            cuts=self.cuts(clock, catalog),
            models=self._profile.scorer(clock),
            clusters=self._profile.clusters(),
            scores=self._profile.scores(),
        )

    def provider(self) -> TraitValues:
        """The profile's trait provider backed by this namespace."""
        return TraitValues(self)

    def cuts(
        self, clock: Clock, catalog: TraitCatalog | None = None
    ) -> dict[str, builtins.list[float]]:
        """Population cut points of the scores (RFM) at the clock's as_of.

        Those stored by :meth:`compute` at that very instant are reused; otherwise they are
        computed now (a few small queries).
        """
        store = self._context.store
        stored = store.latest_trait_cuts(clock.as_of)
        if stored and store.has_trait_cuts(clock.as_of):
            return stored
        catalog = catalog or self.list()
        return compute_cuts(
            catalog,
            list(catalog.definitions),
            customers=self._profile.customers_at(clock, clock.as_of),
            events=self._profile.events(),
            clock=clock,
            attribute_types=self._profile.attribute_types(),
            identities=self._profile.identities(),
        )


class TraitValues:
    """Trait values for the profile's batch table (:meth:`ProfileAssembler.table`)."""

    def __init__(self, traits: Traits) -> None:
        self._traits = traits

    def values(self, as_of: AsOf | None, names: Sequence[str] | None) -> ibis.Table:
        run = self._traits.compute(names, as_of=as_of, save=False)
        if run.result is None:  # pragma: no cover - a computed run always has its table
            raise RuntimeError("a trait run without its result table")
        return run.result.table()
