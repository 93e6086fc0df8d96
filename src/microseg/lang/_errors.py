"""Rule errors: every problem of a definition at once, each with file, line and field path."""

from __future__ import annotations

from dataclasses import dataclass

from microseg.errors import MicrosegError

__all__ = ["Problem", "RuleError"]


@dataclass(frozen=True)
class Problem:
    path: str  # field path, e.g. rule.all[1].attribute
    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file or "<definition>"
        if self.line is not None:
            where += f":{self.line}"
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


def _where(problem: Problem) -> str:
    where = problem.file or "<definition>"
    return f"{where}:{problem.line}" if problem.line is not None else where
