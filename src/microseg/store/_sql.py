"""Small helpers for the few places that write SQL text: identifiers only, never values."""

from __future__ import annotations

__all__ = ["ident", "idents"]


def ident(name: str) -> str:
    """Quote an identifier for DuckDB (user column names may hold any character)."""
    return '"' + name.replace('"', '""') + '"'


def idents(names: list[str] | tuple[str, ...]) -> str:
    return ", ".join(ident(n) for n in names)
