"""What an audit reads: memberships of a set of segments (or a discovery run's clusters)
joined to the attributes and traits the audit needs, one row per live customer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from microseg.context import Context
from microseg.core.errors import WorkspaceError
from microseg.core.time import AsOf
from microseg.discover.api import Discover
from microseg.govern._audit import AuditInput, rule_reads
from microseg.profile import ProfileAssembler
from microseg.segments.api import Segments
from microseg.traits.api import Traits

__all__ = ["run_input", "segments_input"]


def _rule_json(rule: Any) -> Any:
    return rule.model_dump(mode="json", by_alias=True, exclude_none=True)


def _columns(
    context: Context,
    profile: ProfileAssembler,
    traits: Traits,
    as_of: AsOf | None,
    reads: dict[str, list[str]],
) -> tuple[dict[str, list[Any]], list[str], list[str]]:
    """The customers' columns the audit needs, their ids, and the sensitive attributes the
    store does not have."""
    config = context.config
    attributes = set(profile.attribute_types())
    known_traits = set(traits.list().definitions)
    wanted_traits = sorted(
        {f for fs in reads.values() for f in fs if f not in attributes and f in known_traits}
    )
    table = profile.table(as_of, traits=wanted_traits)
    needed = {*config.sensitive, *(a for fs in config.families.values() for a in fs)}
    needed |= {f for fs in reads.values() for f in fs}
    present = [c for c in table.columns if c in needed and c != "customer_id"]
    rows = table.select("customer_id", *present).order_by("customer_id").to_pyarrow()
    columns = {name: rows.column(name).to_pylist() for name in present}
    ids = [str(v) for v in rows.column("customer_id").to_pylist()]
    missing = [s for s in config.sensitive if s not in columns]
    return columns, ids, missing


def segments_input(
    context: Context,
    profile: ProfileAssembler,
    traits: Traits,
    segments: Segments,
    names: Sequence[str] | None,
    as_of: AsOf | None,
) -> AuditInput:
    """Segments evaluated at ``as_of`` (not stored) and what each rule reads."""
    catalog = segments.list()
    run = segments.evaluate(list(names) if names else None, as_of=as_of, save=False)
    if not run.sizes or run.result is None:
        raise WorkspaceError(
            "no segment to audit",
            where=str(context.segments_dir),
            hint="define segments (docs/segments.md) or audit a discovery run with --run",
        )
    expand = {n: _rule_json(catalog.full_rule(n)) for n in catalog.definitions}
    reads = {n: rule_reads(expand[n], expand) for n in run.sizes}
    columns, ids, missing = _columns(context, profile, traits, as_of, reads)
    flags = run.result.table().order_by("customer_id").to_pyarrow()
    index = {str(c): i for i, c in enumerate(flags.column("customer_id").to_pylist())}
    members = {}
    for name in run.sizes:
        values = flags.column(name).to_pylist()
        members[name] = [bool(values[index[c]]) if c in index else False for c in ids]
    return AuditInput(
        as_of=run.as_of,
        source="segments",
        members=members,
        columns=columns,
        reads=reads,
        families={str(f): list(a) for f, a in context.config.families.items()},
        sensitive=[s for s in context.config.sensitive if s in columns],
        missing_sensitive=missing,
    )


def run_input(
    context: Context,
    profile: ProfileAssembler,
    traits: Traits,
    discover: Discover,
    run: str | int,
) -> AuditInput:
    """A stored discovery run's clusters (unclustered customers are in none), audited at
    the run's ``as_of``; each cluster reads what its extracted rule reads."""
    data = discover.show(run)
    as_of = data["as_of"]
    clusters = [c for c in data["clusters"] if int(c["id"]) > 0]
    names = {int(c["id"]): f"{c['id']} {c['name']}" for c in clusters}
    reads = {names[int(c["id"])]: rule_reads(c.get("rule")) for c in clusters}
    columns, ids, missing = _columns(context, profile, traits, as_of, reads)
    assigned = discover.assignments(run)
    cluster_of = dict(
        zip(
            (str(c) for c in assigned.column("customer_id").to_pylist()),
            assigned.column("cluster").to_pylist(),
            strict=True,
        )
    )
    members = {name: [cluster_of.get(c) == cluster for c in ids] for cluster, name in names.items()}
    return AuditInput(
        as_of=context.instant(as_of),
        source=f"run {data.get('name') or data['run_id']}",
        members=members,
        columns=columns,
        reads=reads,
        families={str(f): list(a) for f, a in context.config.families.items()},
        sensitive=[s for s in context.config.sensitive if s in columns],
        missing_sensitive=missing,
    )
