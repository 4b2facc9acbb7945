"""The `harness` command line: one module per group of commands, each importing what it needs when it runs.

    parser.py          the commands and their flags (argparse only: `harness --help` loads nothing else)
    console.py         what every command prints through: secrets masked; colour; paths as typed
    options.py         the flags read into the one Project, record hints and report paths
    scenario_files.py  the scenario files a command reads, loaded and checked against the agents file
    run.py             `run` and `record`: in this process or in worker processes, then the reports
    cassettes.py       `cassettes check`, and what `record --stale` records or leaves alone
    authoring.py       `validate`, `compile` and `schema`: the project read, nothing run
    agentfiles.py      `import` and `export` of Letta Agent Files
    chat.py            `chat` and `memory`: one agent, persisted in the state database

Exit codes, one rule for every command (README's Exit codes; `harness --help` lists them): 0 ok, 1 a run
failed, 2 a mistake in the user's files or flags (a PATH that does not exist included), 5 nothing to work on:
the PATHs hold no scenario file, -k selects none, or, with no PATH, the project has none (no scenarios/
folder, or an empty one; `cassettes check`: no cassette either; `record --stale`: no Python test's cassette),
as pytest's "no tests collected", so a CI job pointed at the wrong folder does not pass green. `validate` with
no PATH always has the agents file to check: a project with no scenario yet validates (0). 130 Ctrl-C, 143
SIGTERM, 141 the reader of stdout went away. A stdout that cannot be written (a full disk, closed) is said
last on stderr, and the exit code is then 1 if it would have been 0.

`harness --help` loads argparse only, `validate` and `compile` never load the openai SDK or vcrpy, and `run`
(replay) never loads them either.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.cli.console import Command
    from harness.errors import HarnessError


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled, `kill`): unwound as Ctrl-C is (workers stopped, finished cassettes
    listed, no half-written file), with exit code 143."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def _on_sigterm(handler: Any) -> Any:
    """Install `handler` for SIGTERM, returning the one it replaces (None where signals cannot be set: a
    thread other than the main one, as when a test calls `main`)."""
    if handler is None:
        return None
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """The `harness` command. Ctrl-C and SIGTERM are handled from its first line: building the parser
    imports every command module (a tenth of a second), and a Ctrl-C there printed a traceback. Only the
    interpreter's own start-up, and importing this light module, come before."""
    previous = _on_sigterm(_terminate)
    try:
        return _command(argv)
    except KeyboardInterrupt as exc:
        return _interrupted(exc)
    except RuntimeError as exc:
        # Ctrl-C in a class body's `__set_name__` (a module importing, as pydantic's models do in the first
        # second) comes wrapped: "Error calling __set_name__". An interrupt still, said as one.
        if not isinstance(exc.__cause__, KeyboardInterrupt):
            raise
        return _interrupted(exc.__cause__)
    finally:
        _on_sigterm(previous)


def _command(argv: Sequence[str] | None) -> int:
    """The command line parsed and run; its errors said, with their exit codes."""
    from harness.cli.parser import build_parser

    args = build_parser().parse_args(argv)
    command: Command = args.command
    from harness.cli.console import READER_GONE, Console, discard_stdout, lost_stdout_text
    from harness.errors import HarnessError, UserError
    from harness.secrets import Secrets

    console = Console(Secrets.collect(urls=[getattr(args, "base_url", None)]))
    try:
        status = command(args, console)
    except HarnessError as exc:
        from harness.cli.options import agents_file_hint

        console.err(_error_text(exc) + agents_file_hint(args, sys.argv[1:] if argv is None else argv, exc))
        status = exc.exit_code if isinstance(exc, UserError) else 1
    except BrokenPipeError:  # a write not through the console
        console.lost = READER_GONE
    if console.reader_gone:
        # The reader went away (`harness ... | head`): what was left went nowhere, quietly, as `cat` does;
        # the console kept the command going, so its reports are written as with a full disk.
        discard_stdout()
        return 141
    if console.lost is not None:  # a full disk, a closed stdout: said last, and never exit 0
        discard_stdout()
        console.err(lost_stdout_text(console.lost))
        return status or 1
    return status


def _interrupted(exc: KeyboardInterrupt) -> int:
    """Ctrl-C (130) or SIGTERM (143), said as a line break: what was kept was said where it was cut."""
    print(file=sys.stderr, flush=True)
    return 128 + int(signal.SIGTERM) if isinstance(exc, Terminated) else 130


def _error_text(exc: HarnessError) -> str:
    from harness.errors import UserError

    if isinstance(exc, UserError) and len(exc.problems) > 1:
        return f"error: {len(exc.problems)} problems\n" + "\n".join(f"  {p}" for p in exc.problems)
    return f"error: {exc}"
