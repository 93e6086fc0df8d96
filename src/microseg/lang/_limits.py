"""How large a definition may be: what validation refuses so that evaluation never fails.

Both evaluators walk a rule recursively, and the batch one builds one query expression
from it (segments it refers to included): past a few dozen levels, or a few thousand
nodes, the query grows too slow to compile, then fails. Validation refuses such rules
first, with the limit and what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_PATTERN",
    "data_too_deep",
    "depth_message",
    "nodes_message",
    "shape",
]

#: Deepest nesting of rules (``all``, ``any``, ``not``, ``case`` ...), through references.
MAX_DEPTH = 50
#: Most nodes of a rule, with the segments it refers to expanded.
MAX_NODES = 2000
#: Longest regular expression of ``matches``, in characters.
MAX_PATTERN = 1000


def data_too_deep(data: Any, limit: int) -> bool:
    """Whether nested mappings and lists in ``data`` go deeper than ``limit`` (iterative)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        seen += 1
        if seen > 1_000_000:  # shared structures: the depth is what matters, stop counting
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)
    return False


def _children(node: BaseModel) -> list[BaseModel]:
    # every part counts toward the size of a definition (predicates, windows, steps, case
    # rows), not only the rule and expression nodes that microseg.lang.walk yields
    out: list[BaseModel] = []
    for value in node.__dict__.values():
        items = value if isinstance(value, list | tuple) else [value]
        out.extend(i for i in items if isinstance(i, BaseModel))
    return out


def shape(
    node: BaseModel,
    *,
    expand: Callable[[BaseModel], tuple[int, int] | None] | None = None,
) -> tuple[int, int]:
    """(depth, nodes) of a rule or expression tree; only nodes with children add depth.

    ``expand`` gives the (depth, nodes) a reference node stands for (a ``segment:`` leaf
    is the whole rule of that segment), or None for an ordinary node. Both are capped
    just above the limits, so a huge (or cyclic) graph costs nothing more.
    """
    if expand is not None:
        referred = expand(node)
        if referred is not None:
            return referred
    children = _children(node)
    depth, nodes = 0, 1
    for child in children:
        child_depth, child_nodes = shape(child, expand=expand)
        depth = max(depth, child_depth)
        nodes = min(nodes + child_nodes, MAX_NODES + 1)
    is_branch = any(_is_rule_or_expr(c) for c in children)
    return min(depth + (1 if is_branch else 0), MAX_DEPTH + 1), nodes


def _is_rule_or_expr(node: BaseModel) -> bool:
    # predicates, windows and specs are part of their node, not a level of nesting
    name = type(node).__name__
    return name.endswith(("Rule", "Expr")) or name == "When"


def depth_message(depth: int, *, through_references: bool = False) -> str:
    what = "with the segments it refers to, nested" if through_references else "nested"
    more = f"more than {MAX_DEPTH}" if depth > MAX_DEPTH else str(depth)
    return (
        f"{what} {more} levels deep; at most {MAX_DEPTH} can be evaluated: "
        "flatten it (all: and any: take many items at one level)"
    )


def nodes_message(nodes: int, *, through_references: bool = False) -> str:
    what = "with the segments it refers to, has" if through_references else "has"
    return (
        f"{what} more than {MAX_NODES} nodes; at most {MAX_NODES} can be evaluated: "
        "simplify it, e.g. one `in:` list instead of many `eq:` items"
    )


def raw_too_deep(data: Any) -> str | None:
    """Why raw data (before parsing) is too deeply nested to become a rule, or None.

    A rule level is at most two nested mappings and lists (``all:`` and its list).
    """
    return depth_message(MAX_DEPTH + 1) if data_too_deep(data, 2 * MAX_DEPTH + 8) else None


def shape_problem(tree: BaseModel, *, through_references: bool = False) -> str | None:
    """Why a parsed rule or expression is too deep or too large to evaluate, or None."""
    depth, nodes = shape(tree)
    if depth > MAX_DEPTH:
        return depth_message(depth, through_references=through_references)
    if nodes > MAX_NODES:
        return nodes_message(nodes, through_references=through_references)
    return None
