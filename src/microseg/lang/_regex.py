"""Regular expressions of ``matches``: RE2 semantics in both evaluators.

The batch evaluator runs ``matches`` in DuckDB, whose regular expressions are RE2's; the
per-profile interpreter runs the same engine through the ``google-re2`` package, with the
same flags: a case-insensitive search (``(?i)`` before the pattern) anywhere in the text,
``.`` not matching a newline, ``^`` and ``$`` at the ends of the text. RE2 runs in time
linear in the text, so no pattern can make an evaluation hang; it has no look-around and
no back-references, and validation says so (:func:`pattern_problem`).
"""

from __future__ import annotations

import functools
from typing import Any

import re2

from microseg.lang._limits import MAX_PATTERN

__all__ = ["CASE_INSENSITIVE", "pattern_problem", "search"]

#: What both evaluators put before a pattern: matching ignores case, as the other text
#: operators do.
CASE_INSENSITIVE = "(?i)"

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are reported as validation problems, not on stderr


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    return re2.compile(CASE_INSENSITIVE + pattern, _OPTIONS)


def pattern_problem(pattern: str) -> str | None:
    """Why RE2 cannot run ``pattern`` (plain words, with the construct), or None."""
    if len(pattern) > MAX_PATTERN:
        return (
            f"the pattern is {len(pattern)} characters long; at most {MAX_PATTERN}: "
            "shorten it, or use in: with a list of values"
        )
    try:
        _compiled(pattern)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        return (
            f"not a regular expression microseg can run ({detail}); patterns follow RE2 "
            "syntax: no look-ahead or look-behind, no back-references (docs/segments.md)"
        )
    return None


def search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` occurs in ``text``, ignoring case (RE2, as DuckDB runs it)."""
    return _compiled(pattern).search(text) is not None
