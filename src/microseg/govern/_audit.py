"""The bias and coverage audit of a set of segments (docs/governance.md).

Given one row per live customer (membership of each segment, the sensitive attributes,
the attributes of the four families and what each rule reads), it reports:

* coverage: the share of customers in at least one segment, and who is in none, by family
  of attributes (each value's share among the uncovered against the population);
* per segment and sensitive attribute: the attribute's distribution in the segment against
  the population, the selection-rate ratio (fairlearn's ``MetricFrame`` of
  ``selection_rate``: the lowest group's rate over the highest's, over groups of at least
  ``min_group_size`` customers), flagged below ``audit.min_selection_ratio``;
* proxies: Cramér's V and mutual information of membership and the attribute with a seeded
  permutation test, flagged at ``audit.max_association`` or more with p below
  ``audit.alpha``, named or not in the rule; for a flagged segment, each attribute or
  trait the rule reads with its own association with the sensitive attribute and what is
  left of the membership's association *within* its strata (conditional Cramér's V). An
  attribute that leaves nothing carries the association;
* small groups: any count below ``privacy.min_group_size`` (and its shares) is suppressed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from microseg.config import AuditSettings
from microseg.core.results import Instant, Result
from microseg.govern._association import (
    association,
    codes_of,
    conditional_v,
    strata_of,
)

__all__ = [
    "CAVEAT",
    "AuditInput",
    "AuditResult",
    "Carrier",
    "Coverage",
    "GroupShare",
    "SegmentAudit",
    "SensitiveAudit",
    "UncoveredValue",
    "audit_segments",
    "rule_reads",
]

CAVEAT = (
    "The selection-rate ratio's 0.8 threshold is the four-fifths rule, a convention of US "
    "employment law for adverse impact: a flag is a reason to look, not a proof of bias, "
    "and no flag is no proof of fairness."
)


class GroupShare(Result):
    """One value of a sensitive attribute in one segment (None: suppressed, too few)."""

    value: str
    population: int | None
    members: int | None
    share_of_segment: float | None
    share_of_population: float | None
    selection_rate: float | None
    suppressed: bool


class Carrier(Result):
    """One attribute or trait the rule reads, against a flagged association."""

    feature: str
    #: Cramér's V of this feature (numbers in quintiles) and the sensitive attribute
    association_with_sensitive: float
    #: Cramér's V of membership and the sensitive attribute left within its strata
    conditional_v: float
    #: 1 - conditional / overall V, at least 0: how much of the association it carries
    carried_share: float


class SensitiveAudit(Result):
    attribute: str
    named_in_rule: bool
    groups: list[GroupShare]
    #: customers with no value of the attribute (None: suppressed)
    unknown: int | None
    selection_rates: dict[str, float]
    selection_ratio: float | None
    ratio_flagged: bool
    #: the selection rates differ more than chance would make them (permutation p < alpha)
    ratio_significant: bool
    cramers_v: float
    mutual_information_bits: float
    p_value: float
    permutations: int
    proxy_flagged: bool
    carriers: list[Carrier]


class SegmentAudit(Result):
    name: str
    members: int | None
    share: float | None
    reads: list[str]
    sensitive: list[SensitiveAudit]


class UncoveredValue(Result):
    """A value common among the customers in no segment, against the population."""

    family: str
    attribute: str
    value: str
    uncovered: int | None
    share_of_uncovered: float | None
    share_of_population: float | None


class Coverage(Result):
    customers: int
    covered: int | None
    share: float | None
    uncovered: int | None
    described: list[UncoveredValue]


class AuditResult(Result):
    as_of: Instant
    source: str
    customers: int
    min_group_size: int
    min_selection_ratio: float
    max_association: float
    alpha: float
    sensitive: list[str]
    missing_sensitive: list[str]
    coverage: Coverage
    segments: list[SegmentAudit]
    findings: list[str]
    caveat: str = CAVEAT


@dataclass
class AuditInput:
    """One row per live customer, as columns: ``members`` (segment -> flags),
    ``columns`` (attribute or trait -> values), what each segment's rule reads, and the
    families of attributes."""

    as_of: datetime
    source: str
    members: dict[str, list[bool]]
    columns: dict[str, list[Any]]
    reads: dict[str, list[str]]
    families: Mapping[str, Sequence[str]]
    sensitive: list[str]
    missing_sensitive: list[str] = field(default_factory=list)


def rule_reads(rule: Any, expand: Mapping[str, Any] | None = None) -> list[str]:
    """The attributes and traits a rule (its JSON form) reads, with those of the segments
    it refers to (``expand``: segment name -> its rule's JSON), in first-read order."""
    found: list[str] = []
    seen_segments: set[str] = set()
    stack = [rule]
    while stack:
        node = stack.pop(0)
        if isinstance(node, list):
            stack[:0] = node
        elif isinstance(node, dict):
            for key in ("attribute", "trait"):
                name = node.get(key)
                if isinstance(name, str) and name not in found:
                    found.append(name)
            segment = node.get("segment")
            if isinstance(segment, str) and expand and segment not in seen_segments:
                seen_segments.add(segment)
                stack.append(expand.get(segment))
            stack[:0] = [v for k, v in node.items() if isinstance(v, dict | list)]
    return found


def _small(count: int, k: int) -> bool:
    return 0 < count < k


def _kept(count: int, k: int) -> int | None:
    return None if _small(count, k) else count


def _share(part: int, whole: int, k: int) -> float | None:
    return None if _small(part, k) or whole == 0 else round(part / whole, 4)


def _selection(member: np.ndarray, values: np.ndarray) -> tuple[dict[str, float], float | None]:
    """Selection rates by group and their ratio (lowest over highest), from fairlearn."""
    if len(np.unique(values)) < 2:
        return {}, None
    from fairlearn.metrics import MetricFrame, selection_rate

    frame = MetricFrame(
        metrics=selection_rate,
        y_true=member.astype(int),
        y_pred=member.astype(int),
        sensitive_features=values,
    )
    rates = {str(g): round(float(r), 4) for g, r in frame.by_group.items()}
    ratio = float(frame.ratio(method="between_groups"))
    return rates, None if np.isnan(ratio) else round(ratio, 4)


def _groups(member: np.ndarray, codes: np.ndarray, names: list[str], k: int) -> list[GroupShare]:
    size = int(member.sum())
    n = len(member)
    rows = []
    for i, name in enumerate(names):
        inside = codes == i
        population, members = int(inside.sum()), int((member & inside).sum())
        hidden = _small(population, k) or _small(members, k)
        rows.append(
            GroupShare(
                value=name,
                population=_kept(population, k),
                members=None if hidden else members,
                share_of_segment=None if hidden else _share(members, size, k),
                share_of_population=_share(population, n, k),
                selection_rate=None if hidden or not population else round(members / population, 4),
                suppressed=hidden,
            )
        )
    return rows


def _audit_attribute(
    data: AuditInput, segment: str, attribute: str, settings: AuditSettings, k: int
) -> SensitiveAudit:
    member = np.array(data.members[segment], dtype=bool)
    codes, names = codes_of(data.columns[attribute])
    population = np.bincount(codes[codes >= 0], minlength=len(names))
    # the ratio compares groups large enough to show: a group of 3 says nothing
    eligible = np.isin(codes, np.flatnonzero(population >= k))
    rates, ratio = _selection(
        member[eligible], np.array([names[c] for c in codes[eligible]], dtype=object)
    )
    groups = _groups(member, codes, names, k)
    shown = {g.value for g in groups if not g.suppressed}
    rates = {g: r for g, r in rates.items() if g in shown}
    found = association(
        member, codes, len(names), permutations=settings.permutations, seed=settings.seed
    )
    proxy = found.cramers_v >= settings.max_association and found.p_value < settings.alpha
    carriers = _carriers(data, segment, attribute, member, codes, found.cramers_v) if proxy else []
    unknown = int((codes < 0).sum())
    return SensitiveAudit(
        attribute=attribute,
        named_in_rule=attribute in data.reads.get(segment, []),
        groups=groups,
        unknown=_kept(unknown, k),
        selection_rates=rates,
        selection_ratio=ratio,
        ratio_flagged=ratio is not None and ratio < settings.min_selection_ratio,
        ratio_significant=found.p_value < settings.alpha,
        cramers_v=round(found.cramers_v, 4),
        mutual_information_bits=round(found.mutual_information_bits, 4),
        p_value=round(found.p_value, 6),
        permutations=found.permutations,
        proxy_flagged=proxy,
        carriers=carriers,
    )


def _carriers(
    data: AuditInput,
    segment: str,
    attribute: str,
    member: np.ndarray,
    codes: np.ndarray,
    overall: float,
) -> list[Carrier]:
    k = int(codes.max()) + 1 if len(codes) and codes.max() >= 0 else 0
    if k < 2:
        return []
    rows = []
    for feature in data.reads.get(segment, []):
        if feature == attribute or feature not in data.columns:
            continue
        strata = strata_of(data.columns[feature])
        known = codes >= 0
        own = cramers_v_of_strata(strata[known], codes[known], k)
        left = conditional_v(member, codes, k, strata)
        carried = max(0.0, 1.0 - left / overall) if overall > 0 else 0.0
        rows.append(
            Carrier(
                feature=feature,
                association_with_sensitive=round(own, 4),
                conditional_v=round(left, 4),
                carried_share=round(carried, 4),
            )
        )
    return sorted(rows, key=lambda c: -c.carried_share)


def cramers_v_of_strata(strata: np.ndarray, codes: np.ndarray, k: int) -> float:
    """Cramér's V of two categorical codings (a feature's strata and the groups)."""
    from scipy.stats.contingency import association as scipy_association

    if len(codes) == 0:
        return 0.0
    table = np.zeros((int(strata.max()) + 1, k), dtype=np.int64)
    np.add.at(table, (strata, codes), 1)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if min(table.shape) < 2:
        return 0.0
    return float(scipy_association(table, method="cramer"))


def _coverage(data: AuditInput, k: int) -> Coverage:
    n = len(next(iter(data.columns.values()), [])) if data.columns else 0
    if data.members:
        n = len(next(iter(data.members.values())))
    covered = np.zeros(n, dtype=bool)
    for flags in data.members.values():
        covered |= np.array(flags, dtype=bool)
    out = ~covered
    uncovered = int(out.sum())
    described: list[UncoveredValue] = []
    for family, attributes in data.families.items():
        for attribute in attributes:
            values = data.columns.get(attribute)
            if values is None or attribute in data.sensitive:
                continue
            codes, names = codes_of([_category(v) for v in values])
            if not names or len(names) > 50:  # identifiers and free text describe no one
                continue
            inside = np.bincount(codes[out & (codes >= 0)], minlength=len(names))
            everyone = np.bincount(codes[codes >= 0], minlength=len(names))
            for i in np.argsort(-inside, kind="stable")[:3]:
                if inside[i] == 0 or _small(int(inside[i]), k):
                    continue
                described.append(
                    UncoveredValue(
                        family=family,
                        attribute=attribute,
                        value=names[i],
                        uncovered=int(inside[i]),
                        share_of_uncovered=_share(int(inside[i]), uncovered, k),
                        share_of_population=_share(int(everyone[i]), n, k),
                    )
                )
    return Coverage(
        customers=n,
        covered=_kept(n - uncovered, k),
        share=_share(n - uncovered, n, k),
        uncovered=_kept(uncovered, k),
        described=described,
    )


def _category(value: Any) -> Any:
    """A value as a category: lists, numbers with many values and dates are not described."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def audit_segments(
    data: AuditInput, settings: AuditSettings, *, min_group_size: int
) -> AuditResult:
    """The audit of ``data`` (see the module's docstring)."""
    k = min_group_size
    segments = []
    for name, flags in data.members.items():
        n, size = len(flags), int(sum(flags))
        segments.append(
            SegmentAudit(
                name=name,
                members=_kept(size, k),
                share=_share(size, n, k),
                reads=data.reads.get(name, []),
                sensitive=[
                    _audit_attribute(data, name, attribute, settings, k)
                    for attribute in data.sensitive
                ],
            )
        )
    coverage = _coverage(data, k)
    return AuditResult(
        as_of=data.as_of,
        source=data.source,
        customers=coverage.customers,
        min_group_size=k,
        min_selection_ratio=settings.min_selection_ratio,
        max_association=settings.max_association,
        alpha=settings.alpha,
        sensitive=data.sensitive,
        missing_sensitive=data.missing_sensitive,
        coverage=coverage,
        segments=segments,
        findings=_findings(segments, coverage, settings),
    )


def _findings(
    segments: list[SegmentAudit], coverage: Coverage, settings: AuditSettings
) -> list[str]:
    """The audit in plain words, with its numbers."""
    lines = []
    if coverage.share is not None:
        lines.append(
            f"{coverage.share:.1%} of {coverage.customers:,} customers are in at least one "
            "segment; "
            + (f"{coverage.uncovered:,}" if coverage.uncovered is not None else "a few")
            + " are in none."
        )
    for segment in segments:
        for s in segment.sensitive:
            if s.proxy_flagged:
                named = "" if s.named_in_rule else f" though its rule never names {s.attribute}"
                line = (
                    f"{segment.name}: membership is associated with {s.attribute} "
                    f"(Cramér's V {s.cramers_v:.2f}, mutual information "
                    f"{s.mutual_information_bits:.3f} bits, permutation p = {s.p_value:.3f} "
                    f"over {s.permutations} shuffles){named}"
                )
                if s.carriers:
                    top = s.carriers[0]
                    line += (
                        f"; {top.feature} carries {top.carried_share:.0%} of it (within its "
                        f"values V drops to {top.conditional_v:.2f})"
                    )
                lines.append(line + ".")
            if s.ratio_flagged:
                chance = (
                    ""
                    if s.ratio_significant
                    else f", but not beyond chance (p = {s.p_value:.3f}): its groups are too "
                    "small to tell"
                )
                lines.append(
                    f"{segment.name}: selection-rate ratio across {s.attribute} is "
                    f"{s.selection_ratio:.2f}, below {settings.min_selection_ratio:g} "
                    f"(four-fifths rule: a convention, not a proof){chance}."
                )
    if len(lines) == (1 if coverage.share is not None else 0):
        lines.append("No segment is flagged.")
    return lines
