"""Small helpers for user-facing messages: YAML line numbers and "did you mean"."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

import yaml
from anyascii import anyascii

from microseg.core.yaml import YamlError, compose_yaml

__all__ = ["did_you_mean", "line_index", "slug", "spells"]


def line_index(text: str) -> dict[tuple[str | int, ...], int]:
    """Map each field path in a YAML document to its 1-based line (keys: the key's line)."""
    index: dict[tuple[str | int, ...], int] = {}
    try:
        root = compose_yaml(text)
    except YamlError:
        return index

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        index.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, key.value)
                index[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return index


def did_you_mean(name: str, known: Iterable[str], *, cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` for the closest known name, or ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=cutoff)
    return f"; did you mean {close[0]!r}?" if close else ""


_NOT_NAME = re.compile(r"[^a-z0-9]+")


def slug(text: str, *, length: int = 40) -> str:
    """``text`` as part of a name: transliterated to ASCII (``Beauté`` -> ``beaute``,
    ``Книги`` -> ``knigi``), lower case, each run of other characters one ``_``, at most
    ``length`` characters; ``""`` when nothing is left."""
    plain = _NOT_NAME.sub("_", anyascii(text).lower()).strip("_")
    return plain[:length].rstrip("_")


def spells(text: str, name: str) -> bool:
    """Whether the slug ``name`` spells ``text`` with nothing lost but case, accents and
    spaces or hyphens (``Beauté`` and ``beaute`` yes; ``Gifts!`` and ``gifts`` no)."""
    return re.sub(r"[ -]", "_", anyascii(text).lower()) == name
