"""Running a look-alike on a workspace: gathering its inputs, saving it as a segment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from microseg.context import Context
from microseg.core.errors import ParameterError
from microseg.core.time import AsOf
from microseg.insights._lookalike import Lookalike, LookalikeInputs, check_classes, rule_fields
from microseg.insights._lookalike_model import LookalikeModel, next_model_id, save_model
from microseg.lang import ModelExpr, parse_definition, walk
from microseg.profile import ProfileAssembler
from microseg.segments.api import Segments
from microseg.traits.api import Traits

__all__ = ["DEFAULT_MIN_SCORE", "gather", "save_lookalike"]

#: The score a saved look-alike segment asks for by default (scores are balanced: 0.5 is
#: "as much member as not"; 0.7 keeps those the model clearly places with the members).
DEFAULT_MIN_SCORE = 0.7


def gather(
    context: Context,
    profile: ProfileAssembler,
    traits: Traits,
    segments: Segments,
    segment: str,
    as_of: AsOf | None,
    *,
    folds: int,
) -> LookalikeInputs:
    """The members of ``segment`` at ``as_of``, the traits (no value-model outputs) and
    attributes of every customer then, and the fields the segment's rule names. A segment
    that cannot be cross-validated in ``folds`` folds is refused before any trait is
    computed."""
    catalog = segments.validate([segment])
    members = segments.members(segment, as_of=as_of).to_pyarrow()
    customers = profile.attributes(as_of=as_of).to_pyarrow()
    check_classes(segment, members.num_rows, customers.num_rows - members.num_rows, folds)
    trait_catalog = traits.list()
    modelled = [
        n
        for n, d in trait_catalog.definitions.items()
        if any(isinstance(node, ModelExpr) for node in walk(d.value))
    ]
    wanted = [n for n in trait_catalog.definitions if n not in modelled]
    run = traits.compute(wanted, as_of=as_of, save=False)
    assert run.result is not None
    table = run.result.to_pyarrow().sort_by("customer_id")
    run.result.drop()
    config = context.config
    return LookalikeInputs(
        segment=segment,
        as_of=context.instant(as_of),
        traits=table,
        customers=customers,
        members={str(m) for m in members.column("customer_id").to_pylist()},
        families={str(k): list(v) for k, v in config.families.items()},
        sensitive=list(config.sensitive),
        skipped_traits=modelled,
        rule_fields=rule_fields(
            catalog.full_rule(segment), catalog.full_rule, set(catalog.definitions)
        ),
    )


def save_lookalike(
    context: Context,
    segments: Segments,
    result: Lookalike,
    model: LookalikeModel,
    *,
    name: str,
    min_score: float = DEFAULT_MIN_SCORE,
    include_members: bool = False,
    overwrite: bool = False,
) -> tuple[Lookalike, Path]:
    """Store ``model`` as ``name`` and write ``segments/NAME.yaml``: a score of at least
    ``min_score``, without the original segment's members unless ``include_members``."""
    if not 0.0 < min_score < 1.0:
        raise ParameterError(
            f"The 'min_score' parameter of lookalike must be a score strictly between 0 and 1. "
            f"Got {min_score}."
        )
    if name == result.segment:
        raise ParameterError(
            f"the look-alike of {result.segment!r} cannot be saved under the same name",
            hint="choose another name, e.g. " + f"{result.segment}-lookalike",
        )
    score: dict[str, Any] = {"score": {"model": name, "gte": min_score}}
    rule = score if include_members else {"all": [score, {"not": {"segment": result.segment}}]}
    definition = parse_definition(
        {
            "name": name,
            "title": f"Look-alikes of {result.segment}",
            "description": f"Non-members of {result.segment} scoring at least {min_score} "
            f"by the look-alike model {name} (AUC {result.auc:.2f}, trained as of "
            f"{result.as_of.date().isoformat()})"
            if not include_members
            else f"Customers scoring at least {min_score} by the look-alike model {name} of "
            f"{result.segment} (AUC {result.auc:.2f})",
            "tags": ["lookalike"],
            "rule": rule,
        },
        file=f"segments/{name}.yaml",
    )
    path = context.segments_dir / f"{name}.yaml"
    if path.exists() and not overwrite:
        raise ParameterError(
            "a segment with this name exists",
            where=str(path),
            hint="choose another name, or overwrite it (--overwrite)",
        )
    stored = LookalikeModel(
        model_id=next_model_id(context.store, name),
        name=name,
        segment=model.segment,
        as_of=model.as_of,
        encoder=model.encoder,
        coef=model.coef,
        intercept=model.intercept,
        auc=model.auc,
    )
    save_model(context.store, stored)
    written = segments.save(definition, overwrite=overwrite)
    saved = result.model_copy(
        update={"saved": name, "saved_path": str(written), "min_score": min_score}
    )
    return saved, written
