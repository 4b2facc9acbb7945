"""The commands and their flags. Building the parser imports argparse and the command modules, which import
nothing heavy at their top: what a command needs is imported when it runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from harness.cassettes.mode import RecordMode
from harness.cassettes.repeats import MAX_REPEATS
from harness.cli.agentfiles import export_command, import_command
from harness.cli.authoring import compile_command, schema_command, validate_command
from harness.cli.cassettes import cassettes_check_command
from harness.cli.chat import chat_command, memory_command
from harness.cli.run import run_command
from harness.project import DEFAULT_AGENTS_FILE, DEFAULT_STATE_DB

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

DEFAULT_DB = f"{DEFAULT_STATE_DB} (beside the agents file)"
# The codes a CI script branches on, one rule for every command (README's Exit codes; harness.cli's doc).
EXIT_CODES = """\
exit codes:
  0    ok: the scenarios passed, the cassettes checked are ok, the files valid
  1    a run failed: a scenario failed or errored, a cassette needs attention,
       the two replays of --twice differ, a report could not be written,
       chat's endpoint failed; or stdout could not be written (a full disk,
       closed) where it would have been 0
  2    a mistake in a file or flag, said with where it is (a PATH that does
       not exist included)
  5    nothing to work on: the PATHs hold no scenario file, -k selects none, or
       the project has no scenario (record --stale: nor a Python test's
       cassette; validate with no PATH checks the agents file alone: 0)
  130  interrupted by Ctrl-C (every finished recording is kept)
  143  stopped by SIGTERM (a cancelled CI job), as by Ctrl-C
  141  the reader of stdout went away (harness run | head)"""
# The end of a subcommand's own line of them: what every command returns whatever it does.
_STOPPED = "130 Ctrl-C, 143 SIGTERM, 141 the reader of stdout went away"
_STDOUT_LOST = "stdout could not be written, on a full disk or closed, where it would have been 0"


def _run_exit_codes(failed: str, nothing: str = "") -> str:
    """`run`'s and `record`'s line of exit codes (a paragraph, wrapped as the rest of its help): `failed`,
    what else than a failed scenario exits 1; `nothing`, what else 5 needs."""
    return (
        f"exit codes: 0 every scenario passed, 1 one failed or errored (or {failed}, or {_STDOUT_LOST}), 2 a "
        f"mistake in a file or flag, 5 no scenario found or selected{nothing}, {_STOPPED}"
    )


RUN_EXIT_CODES = _run_exit_codes("a report could not be written, or the two replays of --twice differ")
RECORD_EXIT_CODES = _run_exit_codes(
    "a report could not be written, or --stale left a cassette unrecorded: a Python test's, an unreadable or an "
    "edited one",
    " (--stale with no PATH: nor a Python test's cassette)",
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("harness")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class _VersionAction(argparse.Action):
    """argparse's `version` action, but the version is looked up only when asked for (importlib.metadata
    costs every command 30 ms otherwise)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        _print_out(parser, f"{parser.prog} {_version()}\n")
        parser.exit()


def _print_out(parser: argparse.ArgumentParser, text: str) -> None:
    """What argparse prints on stdout (`--version`, `--help`), or the exit `main` would make: argparse
    leaves a failed write unsaid (exit 0, the help lost on a full disk) or crashes on a closed stdout."""
    from harness.cli.console import discard_stdout, lost_stdout_text, write_line

    try:
        lost = write_line(sys.stdout, text, end="")
    except BrokenPipeError:
        discard_stdout()
        parser.exit(141)
    if lost is not None:
        discard_stdout()
        parser.exit(1, lost_stdout_text(lost) + "\n")


class _Parser(argparse.ArgumentParser):
    """argparse's parser (and its subcommands'), whose usage errors are masked as everything printed is:
    `unrecognized arguments: --base-url http://user:password@...` echoed the credentials."""

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if message and file is sys.stdout:
            _print_out(self, message)
        else:
            super()._print_message(message, file)

    def error(self, message: str) -> NoReturn:
        import re

        from harness.secrets import Secrets

        super().error(Secrets.collect(urls=re.findall(r"[A-Za-z][A-Za-z0-9+.-]*://\S+", message)).mask(message))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="harness",
        description="A YAML-configured testbed for LLM agents with editable memory (Letta/MemGPT style).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the codes one a line
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show program's version number and exit")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def agents_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--agents",
            default=DEFAULT_AGENTS_FILE,
            metavar="FILE",
            help=f"agents file (default: {DEFAULT_AGENTS_FILE})",
        )

    p = commands.add_parser(
        "validate",
        help="check the agents file and scenario files without running anything; exit 2 with every problem",
        epilog=f"exit codes: 0 valid, 1 {_STDOUT_LOST}, 2 a mistake (every one listed), 5 the PATHs given hold no "
        "scenario file (with no PATH, a project with no scenario has its agents file checked alone: 0), "
        f"{_STOPPED}",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="scenario files or folders (default: scenarios/)")
    agents_option(p)
    p.set_defaults(command=validate_command)

    p = commands.add_parser("compile", help="print the exact system message the model would receive")
    p.add_argument("agent", metavar="AGENT")
    agents_option(p)
    p.add_argument(
        "--tools", action="store_true", help="print the tool schemas the model receives instead, as JSON alone"
    )
    p.add_argument(
        "--scenario",
        metavar="FILE",
        help="as this scenario's run builds the agent: its blocks, its history and its agent id (Letta's "
        "letta-v1 message shows the id)",
    )
    p.set_defaults(command=compile_command)

    p = commands.add_parser("chat", help="talk to an agent; its memory persists across restarts")
    p.add_argument("agent", metavar="AGENT")
    agents_option(p)
    p.add_argument("--db", metavar="FILE", help=f"state database (default: {DEFAULT_DB})")
    p.add_argument("--base-url", metavar="URL", help="override the agent's model endpoint")
    p.add_argument("--model", metavar="NAME", help="override the agent's model name")
    p.set_defaults(command=chat_command)

    p = commands.add_parser("memory", help="show an agent's persisted blocks, or one block by id")
    p.add_argument("agent", metavar="AGENT", nargs="?", help="agent name (as in `harness chat AGENT`)")
    agents_option(p)
    p.add_argument("--db", metavar="FILE", help=f"state database (default: {DEFAULT_DB})")
    p.add_argument("--block", metavar="ID", help="show the block with this id (as Letta's client.get_block)")
    p.set_defaults(command=memory_command)

    p = commands.add_parser(
        "run",
        help="replay scenarios from their cassettes, offline (the main job)",
        description="Replay scenarios from their cassettes, offline. A scenario recorded with --repeat K is "
        "replayed once per repeat, and pass@1 and pass^k are reported over the repeats.",
        epilog=RUN_EXIT_CODES,
    )
    _scenario_options(p, agents_option, recording=False)
    p.add_argument(
        "--live",
        action="store_true",
        help="run against the live endpoint instead, recording every exchange again (as `harness record "
        "--mode all`), so the run replays offline after",
    )
    _repeat_option(p)
    _jobs_option(p)
    p.add_argument(
        "--update-snapshots",
        action="store_true",
        help="write the golden files of `snapshot:` checks (snapshots/) from this run instead of comparing",
    )
    p.add_argument("--report", metavar="FILE.json", help="write per-scenario transcripts and block values")
    p.add_argument(
        "--html",
        metavar="FILE.html",
        help="write a self-contained HTML report (summary with filters, transcripts, block diffs)",
    )
    p.add_argument(
        "--summary-md",
        metavar="FILE.md",
        help="write a Markdown summary for CI pages (also appended to $GITHUB_STEP_SUMMARY when that is set)",
    )
    p.add_argument(
        "--twice",
        action="store_true",
        help="replay the suite twice and fail (exit 1) if the two reports differ beyond timings",
    )
    p.set_defaults(command=run_command, mode=RecordMode.NONE)

    p = commands.add_parser(
        "record",
        help="record scenarios' cassettes from a live model endpoint",
        description="Record scenarios' cassettes from a live model endpoint. Each request waits at most the "
        "agent's model.timeout (default 120 s) and is retried at most model.max_retries times (default 2) on a "
        "connection error or a 408, 409, 429 or 5xx answer; a request that times out is not retried, so a hung "
        "endpoint costs one timeout per scenario.",
        epilog=RECORD_EXIT_CODES,
    )
    _scenario_options(p, agents_option, recording=True)
    p.add_argument(
        "--mode",
        choices=(RecordMode.ALL.value, RecordMode.NEW.value),  # words: argparse shows a choice by its repr
        default=RecordMode.NEW.value,
        help="new (default): record what is missing or stale, keep what still matches, drop what is no longer "
        "used; all: re-record every exchange, replacing every cassette",
    )
    p.add_argument("--report", metavar="FILE.json", help="write per-scenario transcripts and block values")
    _repeat_option(p)
    _jobs_option(p)
    p.add_argument(
        "--stale",
        action="store_true",
        help="record only the scenarios whose cassette is missing, stale or holds unused exchanges (see "
        "`harness cassettes check`); each starts again from its first changed request",
    )
    p.set_defaults(command=run_command)

    p = commands.add_parser(
        "cassettes",
        help=(
            "cassette hygiene: `check` lists missing, stale, unreadable, edited and orphan cassettes, unused repeats "
            "and unused exchanges, and why"
        ),
    )
    cassette_commands = p.add_subparsers(title="cassette commands", required=True, metavar="ACTION")
    q = cassette_commands.add_parser(
        "check",
        help="say which cassettes a change invalidates and why, offline (exit 1 if any needs attention)",
        epilog=f"exit codes: 0 every cassette is ok, 1 one needs attention (or {_STDOUT_LOST}), 2 a mistake in a "
        "file or a PATH that does not exist, 5 nothing to check (the PATHs hold no scenario; with no PATH, the "
        f"project has neither scenarios nor cassettes), {_STOPPED}",
    )
    q.add_argument("paths", nargs="*", metavar="PATH", help="scenario files or folders (default: scenarios/)")
    agents_option(q)
    q.add_argument("--cassettes", metavar="DIR", help="cassette folder (default: cassettes/ beside the agents file)")
    q.add_argument(
        "--base-url",
        metavar="URL",
        help="accepted for a command line shared with `harness record` (a request is matched by its operation, "
        "not the base URL's prefix)",
    )
    q.add_argument("--model", metavar="NAME", help="the --model the cassettes were recorded with, if they were")
    q.set_defaults(command=cassettes_check_command)

    p = commands.add_parser(
        "import",
        help="write an agents.yaml (and a tools module) from a Letta Agent File (.af); says what it could not keep",
    )
    p.add_argument("file", metavar="FILE.af")
    p.add_argument("--out", metavar="DIR", default=".", help="folder to write agents.yaml into (default: here)")
    p.add_argument("--force", action="store_true", help="overwrite agents.yaml or agent_tools.py if they exist")
    p.set_defaults(command=import_command)

    p = commands.add_parser("export", help="write an agent of agents.yaml as a Letta Agent File (.af)")
    p.add_argument("agent", metavar="AGENT")
    agents_option(p)
    p.add_argument("-o", "--output", metavar="FILE.af", help="file to write (default: AGENT.af)")
    p.add_argument("--force", action="store_true", help="overwrite the file if it exists")
    p.add_argument(
        "--scenario",
        metavar="FILE",
        help="replay this scenario of AGENT (offline, from its cassette) and export the state it ends in: "
        "block values and the message history",
    )
    p.add_argument("--cassettes", metavar="DIR", help="cassette folder (default: cassettes/ beside the agents file)")
    p.set_defaults(command=export_command)

    p = commands.add_parser("schema", help="print the JSON Schema of agents.yaml or of scenario files (for editors)")
    p.add_argument("kind", nargs="?", choices=("agents", "scenario"), default="agents")
    p.set_defaults(command=schema_command)
    return parser


def _scenario_options(
    p: argparse.ArgumentParser, agents_option: Callable[[argparse.ArgumentParser], None], recording: bool
) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="scenario files or folders (default: scenarios/)")
    agents_option(p)
    p.add_argument("--cassettes", metavar="DIR", help="cassette folder (default: cassettes/ beside the agents file)")
    if recording:
        p.add_argument("--base-url", metavar="URL", help="model endpoint to record from (overrides agents.yaml)")
    else:
        p.add_argument(
            "--base-url",
            metavar="URL",
            help="the endpoint of a --live run; replay never contacts one, and matches a request by its operation, "
            "not the base URL's prefix",
        )
    p.add_argument("--model", metavar="NAME", help="model name (overrides agents.yaml; replay must use the same)")
    p.add_argument(
        "-k",
        metavar="EXPR",
        dest="keyword",
        help="only scenarios whose path matches EXPR, as pytest -k: words (substrings), and, or, not, ()",
    )
    p.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failing scenario")


def _jobs_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-j",
        "--jobs",
        metavar="N",
        type=_positive,
        default=1,
        help="run N scenarios at once, each in a worker process (default 1: one after the other, in this "
        "process); for a live endpoint that serves N requests at once (vLLM, llama-server --parallel N, a "
        "provider)",
    )


def _repeat_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--repeat",
        metavar="K",
        type=_repeat_count,
        default=None,
        help="record each scenario K times, each repeat in its own cassette (<name>.repeat-N.yaml beside the "
        "first), and report pass@1 and pass^k over them; `harness run` replays every repeat recorded",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _repeat_count(text: str) -> int:
    """A `--repeat` K: at most what a cassette's kept count may say (harness.cassettes.repeats)."""
    value = _positive(text)
    if value > MAX_REPEATS:
        raise argparse.ArgumentTypeError(f"at most {MAX_REPEATS} repeats, not {value}")
    return value
