"""Small helpers for the few places that write SQL text: identifiers only, never values."""

from __future__ import annotations

__all__ = ["ident", "idents"]


def ident(name: str) -> str:
    """Quote an identifier for DuckDB (user column names may hold any character but NUL,
    which ingestion refuses with a message: reaching here with one is a bug)."""
    if "\x00" in name:
        raise ValueError(f"an identifier cannot hold a NUL character: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def idents(names: list[str] | tuple[str, ...]) -> str:
    return ", ".join(ident(n) for n in names)
