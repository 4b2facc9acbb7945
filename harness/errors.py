"""One exception hierarchy: user mistakes (fixable in a file, exit 2) apart from run failures (exit 1)."""

from __future__ import annotations

from dataclasses import dataclass


class HarnessError(Exception):
    """Base of everything the harness raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One located mistake in a user file: where, which key, what is wrong and what would be valid."""

    file: str
    line: int | None
    column: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class UserError(HarnessError):
    """A mistake in the user's files or command line: reported with its location, exit code 2."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | str) -> None:
        self.problems: list[Problem] = (
            [Problem("", None, None, "", problems)] if isinstance(problems, str) else list(problems)
        )
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p).lstrip(": ") for p in self.problems)


class ConfigError(UserError):
    """agents.yaml (or a prompt or tool it names) is invalid."""


class ScenarioError(UserError):
    """A scenario file is invalid."""


class RunError(HarnessError):
    """Something failed while running an agent: the endpoint, the store, a cassette. Exit code 1."""

    exit_code = 1


class LLMError(RunError):
    """The model endpoint could not be reached or refused the request."""

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class StoreError(RunError):
    """The SQLite store could not be opened or is from a newer harness."""
