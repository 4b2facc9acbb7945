"""One exception tree for everything the harness raises on purpose.

    HarnessError
    ├── UserError            a mistake in the user's files or flags: located problems, exit code 2
    │   ├── ConfigError          agents.yaml, or a prompt or tool it names
    │   ├── ScenarioError        a scenario file
    │   ├── ToolDefinitionError  a tool function that cannot be offered to the model
    │   └── AgentFileError       a Letta Agent File (.af) that cannot be imported, or an export refused
    ├── RunError             something failed while running: exit code 1
    │   ├── LLMError             the model endpoint
    │   │   ├── ModelAnswerError     it answered, with something the loop cannot use: recorded, ends
    │   │   │   │                    that scenario (never the suite)
    │   │   │   └── SummaryFailed        a compaction's summary request answered with no text
    │   │   └── UnknownModel         it does not know the model's name: the user's to fix (exit code 2
    │   │                            once the other scenarios have run)
    │   ├── StoreError           the SQLite store
    │   ├── CassetteError        a cassette file that cannot be read
    │   ├── CassetteMiss         a request the cassette holds no response for
    │   └── OutputError          a file the run writes (a report, a cassette, a snapshot) that cannot be
    │                            written: a full disk, a folder gone (the file keeps what it held)
    └── MemoryEditError      an edit the memory refused: the model's mistake, sent back to it as a failed
                             tool call (never shown to the user as an error of theirs)

    Stopped (a SystemExit)   a `-j N` worker told to stop: no layer that contains a user's code (a tool
                             call, a scenario) takes it for that code's failure

This module imports nothing from the harness: every layer may raise these.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


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


def in_line_order(problems: list[Problem]) -> list[Problem]:
    """One file's problems as a reader meets them in it, whatever found them first (the keys' check, a
    dataset's rows, a tool's import); those of one place keep their order (a dataset's rows, line by line)."""
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


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


class ToolDefinitionError(UserError):
    """A function cannot be offered to the model as it stands; the message names the function and the fix.
    The agents file that names the tool turns it into a located ConfigError."""


class AgentFileError(UserError):
    """A Letta Agent File cannot be read (not JSON, not Letta's schema), or an import or export would
    overwrite a file without `--force`."""


class RunError(HarnessError):
    """Something failed while running an agent: the endpoint, the store, a cassette. Exit code 1."""

    exit_code = 1
    # The scenario check whose model exchange raised this (a judge's, an archival search's), as its key's
    # path in the scenario file: set where the check asks, so the error is located at that check.
    check_loc: tuple[str | int, ...] | None = None
    check_asker: str | None = None  # and which kind of check it is (scenarios.checks.Asker)


class LLMError(RunError):
    """The model endpoint could not be reached, refused the request or answered with something unusable."""


class ContextWindowExceeded(LLMError):
    """The system prompt alone is bigger than the agent's context window: no compaction can make the request
    fit, and the endpoint would refuse it (Letta's SystemPromptTokenExceededError)."""


class ModelAnswerError(LLMError):
    """The endpoint answered, but with a body the loop cannot use (malformed or truncated JSON, a runaway
    list of tool calls) or with an HTTP error about the request the model's own output made (Groq's
    `tool_use_failed`). It is the model's doing: it is recorded, replays the same, and ends that scenario
    with a located error while the rest of the suite runs. (A live 2xx body that is not JSON at all, a
    proxy's HTML page, is a plain LLMError: the environment's, never recorded.)"""


class UnknownModel(LLMError):
    """The endpoint says it does not know the model's name (`--model` or a `name:` with a typo, a model the
    account cannot use): never recorded, as any answer that says nothing about the model. The scenario
    errors; `harness run` and `record` exit 2 once the others have run, as for a scenario file's mistake."""

    def __init__(self, message: str, model: str = "") -> None:
        super().__init__(message)
        self.model = model


class SummaryFailed(ModelAnswerError):
    """A compaction's summary request was answered with no text (Letta 0.16.8's "Summary failed to
    generate"): the sliding window falls back to mode `all`; if that fails too, the step fails and nothing
    is evicted (an empty summary would lose the evicted messages from context without a word)."""


class StoreError(RunError):
    """The SQLite store could not be opened, read or written (locked, full, corrupt). A --db the harness cannot
    use (not SQLite, another program's, a newer harness's) is a UserError."""


class CassetteError(RunError):
    """A cassette file cannot be read: `path`, and `reason` (what is wrong with it, without the path), so a
    scenario's failure can name the file as reports name files (from the project's root) and give the command
    that records it anew; the message alone names the path as given."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(
            f"{self.path} is {reason}; restore it from version control, "
            "or re-record it with `harness record --mode all`"
        )


class CassetteKeyMismatch(CassetteError):
    """A stored request key that does not match its request body: the body was edited by hand, or a merge
    took the two from different recordings. `cassettes check` verifies the keys; replay trusts them (it
    decodes no body), so it replays what was recorded, while recording (mode `new`) goes by the bodies."""

    def __init__(self, path: str | os.PathLike[str], interaction: int) -> None:
        self.path = os.fspath(path)
        self.interaction = interaction
        self.reason = (
            f"the `key` of interaction {interaction} does not match its request body (edited by hand, or merged "
            "from two recordings): `harness run` replays by the key, what was recorded; `harness record` would go "
            "by the body"
        )
        RunError.__init__(
            self,
            f"{self.path}: {self.reason}; restore it from version control, or re-record it with `harness record "
            "--mode all`",
        )


class OutputError(RunError):
    """A file the run writes could not be written (a full disk, a folder removed meanwhile): one line naming
    the file and the OS's reason. Writes are atomic, so the file keeps what it held."""


class Stopped(SystemExit):
    """A worker process told to stop (the `-j N` parent's SIGTERM): it unwinds as `sys.exit` does, and a
    tool call or a scenario, which contain any other exception of the user's code, let it through."""


@dataclass(frozen=True)
class NearestRecorded:
    """The recorded request most like a missed one, and the unified diff from it to what was sent."""

    index: int
    diff: tuple[str, ...]


class CassetteMiss(RunError):
    """Replay sent a request its cassette holds no (unplayed) response for: the agent, its prompt or tools,
    the model settings or the scenario changed since recording. Carries what is needed to say how."""

    def __init__(self, cassette: str, request: MissedRequest, nearest: NearestRecorded | None) -> None:
        self.cassette = cassette
        self.request = request
        self.nearest = nearest
        self.notes: list[str] = []  # more about the miss, such as a base URL other than the recording's
        # Why it missed when that is the harness's doing, not the user's (`cassettes.diff.miss_cause`): said in
        # place of the guess at what the user changed.
        self.cause: str | None = None
        # A difference of the harness's doing that is not the whole story (another loop's request whose user
        # text differs too, `cassettes.diff.loop_change`): said beside the guess.
        self.also: str | None = None
        super().__init__(f"{cassette}: no recorded response for {request.method} {request.path}")

    def reason(self, guess: str) -> str:
        """Why it missed, for the parentheses after "no recorded response": the harness's cause alone when it
        is the whole story, else the caller's `guess` at what the user changed (and what else differs)."""
        if self.cause:
            return self.cause
        return f"{guess}; {self.also}" if self.also else guess

    def diff_lines(self, limit: int = 80) -> list[str]:
        """The miss explained: a diff between the nearest recorded request and the one sent, indented."""
        if self.nearest is None:
            return ["  the cassette holds no interactions", *self.notes]
        diff = self.nearest.diff
        if not diff:  # the very request is recorded (a note says why it missed)
            return list(self.notes)
        lines = ["  diff between the nearest recorded request and the one sent now:"]
        lines += [f"    {line}" for line in diff[:limit]]
        if len(diff) > limit:
            lines.append(f"    ... ({len(diff) - limit} more diff lines)")
        return lines + self.notes


@dataclass(frozen=True)
class MissedRequest:
    method: str
    path: str
    body: dict[str, object] | str = field(default="")


class MemoryEditError(HarnessError):
    """An edit the memory refused; the message is what the model sees as the tool's failure. `cause` says
    what was refused, for a loop that words it as another memory would (harness/memory.py's UnknownBlock,
    OverLimit)."""

    def __init__(self, message: str, cause: object = None) -> None:
        super().__init__(message)
        self.cause = cause
