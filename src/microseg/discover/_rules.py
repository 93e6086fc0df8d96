"""Surrogate rules: a shallow decision tree per cluster, written in the rule language.

The tree learns on the raw values (missing values set below every present one), so each
split reads as a plain predicate; ``lte`` splits on a feature with missing values become
``any: [lte, is_null]``, which is exactly where the tree sends them. Fidelity is measured by
evaluating the emitted rule itself, with the language's semantics for missing values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.tree import DecisionTreeClassifier

from microseg.discover._features import Feature

__all__ = ["Condition", "SurrogateRule", "surrogate_rule"]

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Condition:
    """One split: ``feature`` above (``gt``) or at most (``lte``) ``threshold``."""

    feature: int
    op: str
    threshold: float


@dataclass(frozen=True)
class SurrogateRule:
    """A rule (as a mapping for :func:`microseg.lang.parse_definition`) and its fidelity."""

    rule: dict[str, Any]
    members: int
    true_positives: int
    cluster_size: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.members if self.members else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.cluster_size if self.cluster_size else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "members": self.members,
            "true_positives": self.true_positives,
            "cluster_size": self.cluster_size,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
        }


def surrogate_rule(  # noqa: PLR0913 - the columns of one macro segment, then the tree settings (keyword-only)
    raw: Array,
    features: list[Feature],
    target: Array,
    scope: Array,
    scope_rule: dict[str, Any] | None,
    *,
    max_depth: int = 3,
    min_leaf: int = 10,
    seed: int = 0,
    sample: int = 50_000,
) -> SurrogateRule:
    """The rule for the rows where ``target`` holds, learned within ``scope`` (a mask).

    ``scope_rule`` selects ``scope`` exactly (the macro segment) and is and-ed in front.
    The tree learns from at most ``sample`` rows of the scope (drawn with ``seed``); the
    rule's precision and recall are then counted on every row.
    """
    rows = np.flatnonzero(scope)
    if rows.size > sample:
        chosen = np.random.default_rng(seed).choice(rows, sample, replace=False)
        min_leaf = max(5, round(min_leaf * sample / rows.size))
        rows = np.sort(chosen)
    inside = raw[rows]
    positive = target[rows]
    if positive.all():
        paths: list[list[Condition]] = [[]]
    else:
        paths = _paths(inside, positive, max_depth=max_depth, min_leaf=min_leaf, seed=seed)
    parts = [
        _node_all([_node(c, features, raw) for c in _simplify(p, features, raw)]) for p in paths
    ]
    body = _node_any([p for p in parts if p is not None])
    mask = scope.copy()
    if paths != [[]]:
        mask &= _any_mask(paths, features, raw)
    nodes = [n for n in (scope_rule, body) if n is not None]
    if body is not None and "all" in body and len(nodes) == 2:
        nodes = [nodes[0], *body["all"]]  # one flat `all`, not an `all` inside an `all`
    rule = _node_all(nodes) or {"trait": "purchase_count", "gte": 0}
    return SurrogateRule(
        rule=rule,
        members=int(mask.sum()),
        true_positives=int((mask & target).sum()),
        cluster_size=int(target.sum()),
    )


def _paths(
    X: Array, y: Array, *, max_depth: int, min_leaf: int, seed: int
) -> list[list[Condition]]:
    filled = X.copy()
    for j in range(filled.shape[1]):
        gaps = np.isnan(filled[:, j])
        if gaps.any():
            present = filled[~gaps, j]
            filled[gaps, j] = (present.min() if present.size else 0.0) - 1.0
    tree = DecisionTreeClassifier(
        max_depth=max_depth, min_samples_leaf=min_leaf, class_weight="balanced", random_state=seed
    ).fit(filled, y)
    structure = tree.tree_
    node_paths: dict[int, list[Condition]] = {}
    parent: dict[int, int] = {}
    leaf_ids: list[int] = []

    def walk(node: int, path: list[Condition]) -> None:
        node_paths[node] = path
        left, right = structure.children_left[node], structure.children_right[node]
        if left == right:
            leaf_ids.append(node)
            return
        parent[left] = parent[right] = node
        feature, threshold = int(structure.feature[node]), float(structure.threshold[node])
        walk(left, [*path, Condition(feature, "lte", threshold)])
        walk(right, [*path, Condition(feature, "gt", threshold)])

    walk(0, [])
    leaves = tree.apply(filled)
    stats = []
    for leaf in leaf_ids:
        rows = leaves == leaf
        stats.append((int((rows & y).sum()), int(rows.sum()), leaf))
    stats.sort(key=lambda s: (-s[0] / s[1], -s[0], s[2]))
    chosen: set[int] = set()
    best_f1, hits, size, total = 0.0, 0, 0, int(y.sum())
    for pos, n, leaf in stats:
        f1 = 2 * (hits + pos) / (size + n + total)
        if f1 <= best_f1:
            break
        chosen.add(leaf)
        best_f1, hits, size = f1, hits + pos, size + n
    if not chosen:
        chosen.add(stats[0][2])
    return [node_paths[n] for n in sorted(_merge_siblings(chosen, parent, structure))]


def _merge_siblings(chosen: set[int], parent: dict[int, int], structure: Any) -> set[int]:
    """Replace two chosen siblings by their parent, until none are left: shorter rules."""
    merged = set(chosen)
    changed = True
    while changed:
        changed = False
        for node in sorted(merged):
            if node not in parent:
                continue
            up = parent[node]
            pair = {int(structure.children_left[up]), int(structure.children_right[up])}
            if pair <= merged:
                merged = (merged - pair) | {up}
                changed = True
                break
    return merged


def _simplify(path: list[Condition], features: list[Feature], raw: Array) -> list[Condition]:
    """One bound per feature and direction (the tightest), at a round threshold."""
    tight: dict[tuple[int, str], float] = {}
    for c in path:
        key = (c.feature, c.op)
        if key not in tight:
            tight[key] = c.threshold
        elif c.op == "gt":
            tight[key] = max(tight[key], c.threshold)
        else:
            tight[key] = min(tight[key], c.threshold)
    return [
        Condition(f, op, _nice(t, raw[:, f]) if features[f].kind == "number" else t)
        for (f, op), t in tight.items()
    ]


def _nice(threshold: float, column: Array) -> float:
    """The roundest number strictly between the values either side of ``threshold``.

    It splits the data as the tree did, and stays clear of every value, so that the last-bit
    noise of a recomputed trait cannot move a customer across it.
    """
    present = column[~np.isnan(column)]
    below, above = present[present <= threshold], present[present > threshold]
    low = float(below.max()) if below.size else threshold - 1.0
    high = float(above.min()) if above.size else threshold + 1.0
    margin = 1e-9 * max(1.0, abs(low), abs(high))
    middle = (low + high) / 2
    for digits in range(10):
        candidate = round(middle, digits)
        if low + margin < candidate < high - margin:
            return candidate
    return middle


def _node(c: Condition, features: list[Feature], raw: Array) -> dict[str, Any]:
    f = features[c.feature]
    key: dict[str, Any] = {f.source: f.field}
    column = raw[:, c.feature]
    has_gaps = bool(np.isnan(column).any())
    if f.kind == "number":
        bound = {**key, "gt": c.threshold} if c.op == "gt" else {**key, "lte": c.threshold}
        if c.threshold % 1 == 0.5 and _whole(column):
            # counts read better in whole numbers, and mean the same: > 1.5 is >= 2
            whole = int(c.threshold + 0.5) if c.op == "gt" else int(c.threshold - 0.5)
            bound = {**key, "gte": whole} if c.op == "gt" else {**key, "lte": whole}
        if c.op == "gt" or not has_gaps:
            return bound
        return {"any": [bound, {**key, "is_null": True}]}
    if c.threshold < 0:  # present vs missing (numbers returned above)
        return {**key, "is_null": c.op == "lte"}
    test: dict[str, Any] = {
        "flag": {**key, "eq": True},
        "contains": {**key, "contains": f.value},
        "equals": {**key, "eq": f.value},
    }[f.kind]
    return test if c.op == "gt" else {"not": test}


def _whole(column: Array) -> bool:
    """Whether every present value of ``column`` is a whole number (a count)."""
    present = column[~np.isnan(column)]
    return bool(present.size) and bool(np.all(present == np.round(present)))


def _condition_mask(c: Condition, features: list[Feature], raw: Array) -> Array:
    f, col = features[c.feature], raw[:, c.feature]
    gaps = np.isnan(col)
    if f.kind == "number":
        with np.errstate(invalid="ignore"):
            below: Array = (col <= c.threshold) | gaps
            return np.asarray(col > c.threshold) if c.op == "gt" else below
    if c.threshold < 0:
        return np.asarray(gaps if c.op == "lte" else ~gaps)
    hit = col == 1.0
    return np.asarray(hit if c.op == "gt" else ~hit)


def _any_mask(paths: list[list[Condition]], features: list[Feature], raw: Array) -> Array:
    mask = np.zeros(raw.shape[0], dtype=bool)
    for path in paths:
        part = np.ones(raw.shape[0], dtype=bool)
        for c in _simplify(path, features, raw):
            part &= _condition_mask(c, features, raw)
        mask |= part
    return mask


def _node_all(nodes: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not nodes:
        return None
    return nodes[0] if len(nodes) == 1 else {"all": nodes}


def _node_any(nodes: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not nodes:
        return None
    return nodes[0] if len(nodes) == 1 else {"any": nodes}
