"""One error type for everything a user can get wrong.

Every message names the file, the place inside it and the problem, so that the command line
can print it on one line and exit non-zero without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input from the user: a config, a manifest, a submission, a source file."""

    def __init__(self, problem: str, *, path: str | Path | None = None, where: str | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        self.where = where
        super().__init__(self.message)

    @property
    def message(self) -> str:
        prefix = ""
        if self.path:
            prefix = self.path
            if self.where:
                prefix += f" ({self.where})"
            prefix += ": "
        elif self.where:
            prefix = f"{self.where}: "
        return prefix + self.problem


class ValidationFailed(UserError):
    """A file broke several rules at once; its problems in file order (the first ones of a long list), and their `total`."""

    def __init__(self, path: str | Path, problems: list[str], *, limit: int = 20):
        # A capped list (submission_io.ProblemList) keeps the first problems and counts them all.
        self.total = getattr(problems, "total", len(problems))
        self.problems = list(problems)
        shown = "; ".join(self.problems[:limit])
        more = f"; ... and {self.total - min(limit, len(self.problems))} more" if self.total > min(limit, len(self.problems)) else ""
        super().__init__(f"{self.total} problem(s): {shown}{more}", path=path)
