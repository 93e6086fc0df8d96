"""Rule errors: every problem of a definition at once, each with file, line and field path."""

from __future__ import annotations

from dataclasses import dataclass

from microseg.core.errors import MicrosegError

__all__ = ["EvaluationError", "Problem", "RuleError"]


@dataclass(frozen=True)
class Problem:
    path: str  # field path, e.g. rule.all[1].attribute
    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.file is None:
            return f"{self.path}: {self.message}"
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}"


class RuleError(MicrosegError, ValueError):
    """A segment or trait definition is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        first = problems[0]
        rest = "".join(f"\n{p}" for p in problems[1:])
        super().__init__(f"{first.path}: {first.message}{rest}", where=_where(first))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def _where(problem: Problem) -> str | None:
    if problem.file is None:
        return None
    return f"{problem.file}:{problem.line}" if problem.line is not None else problem.file


class EvaluationError(MicrosegError, ValueError):
    """A valid rule or trait cannot be evaluated with what it was given.

    No fitted value model for a ``model:`` expression, no cut points for a ``score:``, no
    discovery runs for a ``cluster:`` node, a ``segment:`` or ``trait:`` reference without
    the definitions to follow it: ``hint`` says what to run or pass first.
    """
