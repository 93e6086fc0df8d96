"""The one YAML loader for every file microseg reads: bounded in size, depth and aliases.

Segment files, trait files and ``microseg.yaml`` are user input. Read naively, a few
hundred bytes of nested anchors and aliases (a "billion laughs" document) expand to
billions of nodes, and a deeply nested document overflows the parser's stack. This loader
refuses, with the file and the line:

- a document larger than :data:`MAX_BYTES`, or not UTF-8 text;
- nesting deeper than :data:`MAX_DEPTH` mappings and lists;
- aliases that would expand the document beyond :data:`MAX_NODES` nodes, or that refer to
  the collection they are in (a recursive document).

Aliases within those bounds are fine: YAML's anchors are a legitimate way to share a list.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from microseg.core.errors import MicrosegError

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "YamlError",
    "compose_yaml",
    "load_yaml",
    "read_text",
    "read_yaml",
]

#: Largest document read, in bytes (a segment or configuration file is a few kilobytes).
MAX_BYTES = 1_000_000
#: Deepest nesting of mappings and lists.
MAX_DEPTH = 150
#: Most nodes a document may have once its aliases are expanded.
MAX_NODES = 200_000


class YamlError(MicrosegError, ValueError):
    """A YAML file cannot be read: not UTF-8, not valid YAML, or beyond a limit.

    ``file`` and ``line`` (1-based, None when unknown) say where; ``problem`` is the message
    without them.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem if hint is None else f"{problem} ({hint})"
        self.file = file
        self.line = line
        where = None if file is None else (file if line is None else f"{file}:{line}")
        super().__init__(problem, where=where, hint=hint)


class _LimitReached(yaml.YAMLError):
    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.problem = message
        self.problem_mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting depth and expanded nodes while it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._sizes:
                raise _LimitReached(
                    f"the alias *{event.anchor} refers to the collection it is in; "
                    "a document cannot contain itself",
                    event.start_mark,
                )
            found = super().compose_node(parent, index)
            assert found is not None
            return found
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _LimitReached(
                f"nested more than {MAX_DEPTH} levels deep; flatten the document", mark
            )
        node = super().compose_node(parent, index)
        assert node is not None
        self._depth -= 1
        size = 1
        if isinstance(node, yaml.MappingNode):
            size += sum(
                self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value
            )
        elif isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes.get(id(item), 1) for item in node.value)
        if size > MAX_NODES:
            raise _LimitReached(
                f"expands to more than {MAX_NODES:,} values (through anchors and aliases); "
                "write the values out or use fewer aliases",
                mark,
            )
        self._sizes[id(node)] = size
        return node


def _error(exc: yaml.YAMLError, file: str | None) -> YamlError:
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        return YamlError(f"not valid YAML: {exc}".replace("\n", " "), file=file)
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    if isinstance(exc, _LimitReached):
        return YamlError(f"refused: {problem}", file=file, line=line)
    return YamlError(f"not valid YAML: {problem}", file=file, line=line)


def _check_size(text: str, file: str | None) -> None:
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlError(
            f"larger than {MAX_BYTES:,} bytes",
            file=file,
            hint="a definition or configuration is a few kilobytes; split it or shorten it",
        )


def load_yaml(text: str, *, file: str | None = None) -> Any:
    """The data of one YAML document (None when empty), within the limits."""
    return _read(text, file, lambda loader: loader.get_single_data())


def compose_yaml(text: str, *, file: str | None = None) -> yaml.Node | None:
    """The node graph of one YAML document (for line numbers), within the limits."""
    return _read(text, file, lambda loader: loader.get_single_node())  # type: ignore[no-any-return]


def _read(text: str, file: str | None, get: Callable[[_BoundedLoader], Any]) -> Any:
    _check_size(text, file)
    try:
        loader = _BoundedLoader(text)  # reads the text: refuses control characters
        try:
            return get(loader)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _error(exc, file) from None


def read_text(path: str | Path) -> str:
    """A YAML file's text: refused when larger than :data:`MAX_BYTES` or not UTF-8."""
    path = Path(path)
    with path.open("rb") as handle:
        raw = handle.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise YamlError(
            f"larger than {MAX_BYTES:,} bytes",
            file=str(path),
            hint="a definition or configuration is a few kilobytes; split it or shorten it",
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlError(
            f"not UTF-8 text (byte {exc.start} cannot be decoded)",
            file=str(path),
            line=line,
            hint="save the file as UTF-8",
        ) from None


def read_yaml(path: str | Path) -> tuple[Any, str]:
    """A YAML file's data and text, through :func:`read_text` and :func:`load_yaml`."""
    text = read_text(path)
    return load_yaml(text, file=str(path)), text
