"""The `harness` command line. Exit codes: 0 ok, 1 a run failed, 2 a mistake in the user's files or flags,
5 no scenario found or selected (as pytest: a CI job pointed at the wrong folder must not pass green).

Each command imports what it needs when it runs: `harness --help` loads argparse only, `validate` and
`compile` never load the openai SDK or vcrpy, and `run` (replay) never loads them either. Everything a
command prints goes through its `Console`, which masks the run's secrets.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from harness.cassettes.mode import RecordMode
from harness.cassettes.repeats import MAX_REPEATS
from harness.jsontext import inert
from harness.project import DEFAULT_AGENTS_FILE, DEFAULT_STATE_DB

if TYPE_CHECKING:
    from pathlib import Path

    from harness.agent import Agent
    from harness.config import AgentSpec
    from harness.errors import HarnessError, Problem, UserError
    from harness.factory import AgentFactory
    from harness.llm.chat import ChatModel, ChatResponse
    from harness.llm.settings import ToolChoice
    from harness.project import Project
    from harness.scenarios import Scenario, ScenarioRunner
    from harness.scenarios.hygiene import CassetteState, CassetteStatus
    from harness.scenarios.results import ScenarioResult
    from harness.secrets import Secrets

DEFAULT_DB = f"{DEFAULT_STATE_DB} (beside the agents file)"
NO_SCENARIOS = 5


class Console:
    """stdout and stderr with secrets masked: those of the environment and of `--base-url` from the start,
    the agents' (their key variables and base URLs) once a command has loaded them."""

    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets

    def learn(self, factory: AgentFactory) -> None:
        self.secrets = self.secrets | factory.secrets()

    def out(self, text: str = "") -> None:
        print(self._shown(text), flush=True)

    def err(self, text: str = "") -> None:
        print(self._shown(text), file=sys.stderr, flush=True)

    def _shown(self, text: str) -> str:
        """Masked, and printable by any UTF-8 terminal (a lone surrogate a tool wrote shows as U+FFFD)."""
        from harness.jsontext import storable

        return storable(self.secrets.mask(text))


Command = Callable[[argparse.Namespace, Console], int]


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
    parser = _parser()
    args = parser.parse_args(argv)
    command: Command = args.command
    from harness.errors import HarnessError, UserError
    from harness.secrets import Secrets

    console = Console(Secrets.collect(urls=[getattr(args, "base_url", None)]))
    previous = _on_sigterm(_terminate)
    try:
        return command(args, console)
    except HarnessError as exc:
        console.err(_error_text(exc))
        return exc.exit_code if isinstance(exc, UserError) else 1
    except KeyboardInterrupt as exc:
        console.err()
        return 128 + int(signal.SIGTERM) if isinstance(exc, Terminated) else 130
    except RuntimeError as exc:
        # Ctrl-C in a class body's `__set_name__` (a module importing, as pydantic's models do in the first
        # second) comes wrapped: "Error calling __set_name__". An interrupt still, said as one.
        if not isinstance(exc.__cause__, KeyboardInterrupt):
            raise
        console.err()
        return 128 + int(signal.SIGTERM) if isinstance(exc.__cause__, Terminated) else 130
    except BrokenPipeError:
        # The reader went away (`harness ... | head`): what is left goes nowhere, quietly, as `cat` does.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        _on_sigterm(previous)


def _error_text(exc: HarnessError) -> str:
    from harness.errors import UserError

    if isinstance(exc, UserError) and len(exc.problems) > 1:
        return f"error: {len(exc.problems)} problems\n" + "\n".join(f"  {p}" for p in exc.problems)
    return f"error: {exc}"


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
        sys.stdout.write(f"{parser.prog} {_version()}\n")
        parser.exit()


def _colour(stream: object) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org) or TERM=dumb."""
    import os

    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


class _Parser(argparse.ArgumentParser):
    """argparse's parser (and its subcommands'), whose usage errors are masked as everything printed is:
    `unrecognized arguments: --base-url http://user:password@...` echoed the credentials."""

    def error(self, message: str) -> NoReturn:
        import re

        from harness.secrets import Secrets

        super().error(Secrets.collect(urls=re.findall(r"[A-Za-z][A-Za-z0-9+.-]*://\S+", message)).mask(message))


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="harness",
        description="A YAML-configured testbed for LLM agents with editable memory (Letta/MemGPT style).",
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
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="scenario files or folders (default: scenarios/)")
    agents_option(p)
    p.set_defaults(command=_validate)

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
    p.set_defaults(command=_compile)

    p = commands.add_parser("chat", help="talk to an agent; its memory persists across restarts")
    p.add_argument("agent", metavar="AGENT")
    agents_option(p)
    p.add_argument("--db", metavar="FILE", help=f"state database (default: {DEFAULT_DB})")
    p.add_argument("--base-url", metavar="URL", help="override the agent's model endpoint")
    p.add_argument("--model", metavar="NAME", help="override the agent's model name")
    p.set_defaults(command=_chat)

    p = commands.add_parser("memory", help="show an agent's persisted blocks, or one block by id")
    p.add_argument("agent", metavar="AGENT", nargs="?", help="agent name (as in `harness chat AGENT`)")
    agents_option(p)
    p.add_argument("--db", metavar="FILE", help=f"state database (default: {DEFAULT_DB})")
    p.add_argument("--block", metavar="ID", help="show the block with this id (as Letta's client.get_block)")
    p.set_defaults(command=_memory)

    p = commands.add_parser(
        "run",
        help="replay scenarios from their cassettes, offline (the main job)",
        description="Replay scenarios from their cassettes, offline. A scenario recorded with --repeat K is "
        "replayed once per repeat, and pass@1 and pass^k are reported over the repeats.",
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
    p.set_defaults(command=_run, mode=RecordMode.NONE)

    p = commands.add_parser(
        "record",
        help="record scenarios' cassettes from a live model endpoint",
        description="Record scenarios' cassettes from a live model endpoint. Each request waits at most the "
        "agent's model.timeout (default 120 s) and is retried at most model.max_retries times (default 2) on a "
        "connection error, a 429 or a 5xx answer; a request that times out is not retried, so a hung endpoint "
        "costs one timeout per scenario.",
    )
    _scenario_options(p, agents_option, recording=True)
    p.add_argument(
        "--mode",
        choices=(RecordMode.ALL, RecordMode.NEW),
        type=RecordMode,
        default=RecordMode.NEW,
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
    p.set_defaults(command=_run)

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
    q.set_defaults(command=_cassettes_check)

    p = commands.add_parser(
        "import",
        help="write an agents.yaml (and a tools module) from a Letta Agent File (.af); says what it could not keep",
    )
    p.add_argument("file", metavar="FILE.af")
    p.add_argument("--out", metavar="DIR", default=".", help="folder to write agents.yaml into (default: here)")
    p.add_argument("--force", action="store_true", help="overwrite agents.yaml or agent_tools.py if they exist")
    p.set_defaults(command=_import_agent_file)

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
    p.set_defaults(command=_export_agent_file)

    p = commands.add_parser("schema", help="print the JSON Schema of agents.yaml or of scenario files (for editors)")
    p.add_argument("kind", nargs="?", choices=("agents", "scenario"), default="agents")
    p.set_defaults(command=_schema)
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


def _project(args: argparse.Namespace) -> Project:
    """The one `Project` of this command, from its flags (paths relative to the current folder)."""
    from harness.errors import UserError
    from harness.project import Project

    for flag, given in (("--agents", args.agents), ("--cassettes", getattr(args, "cassettes", None)),
                        ("--db", getattr(args, "db", None))):  # fmt: skip
        if given == "":  # an unset shell variable: not the default, silently
            raise UserError(f"{flag} '': give a path")
    return Project.build(
        agents=args.agents,
        # The folders named on the command line are scenario folders too (files are not: a file's folder may
        # be the project's root, which holds the cassette folder by default).
        scenario_folders=[path for path in getattr(args, "paths", None) or () if os.path.isdir(path)],
        cassettes=getattr(args, "cassettes", None),
        state_db=getattr(args, "db", None),
        record_mode=RecordMode.ALL if getattr(args, "live", False) else getattr(args, "mode", RecordMode.NONE),
        base_url=getattr(args, "base_url", None),
        model_name=getattr(args, "model", None),
    )


def _run(args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from harness.errors import UserError
    from harness.factory import AgentFactory
    from harness.files import folder_unwritable_reason, one_file_for_two
    from harness.reliability import has_repeats, reliability, reliability_table
    from harness.report import json_report, matrix_table, summary_table
    from harness.scenarios import ScenarioRunner
    from harness.scenarios.discovery import discover

    if getattr(args, "repeat", None) is not None and args.mode == RecordMode.NONE and not args.live:
        raise UserError(
            "--repeat records repeats: give it with --live (or to `harness record`); `harness run` "
            "replays every repeat already recorded"
        )
    report = _report_path(args.report) if args.report is not None else None
    html = _report_path(args.html, "--html") if getattr(args, "html", None) is not None else None
    markdown = _report_path(args.summary_md, "--summary-md") if getattr(args, "summary_md", None) is not None else None
    clash = one_file_for_two({"--report": report, "--html": html, "--summary-md": markdown})
    if clash is not None:
        raise UserError(clash)
    _check_step_summary()
    project = _project(args)
    for flag, path in (("--report", report), ("--html", html), ("--summary-md", markdown)):
        refused = project.report_over_input(flag, path) if path is not None else None
        if refused is not None:
            raise UserError(refused)
    if args.jobs > 1:  # the workers' server starts (and imports) while this process checks the scenarios
        from harness.scenarios.pool import start_server

        start_server(project)
    factory = AgentFactory(project)
    console.learn(factory)  # loads (and validates) the agents file before any scenario
    paths = [Path(p) for p in args.paths] or [Path(_shown(project.scenarios_dir))]  # as typed: relative paths
    found = discover(paths)
    if args.keyword:
        from harness.scenarios.selection import keyword_matcher

        matches = keyword_matcher(args.keyword)
        found = [path for path in found if matches(project.relative(path))]
    if not found:
        where = " ".join(args.paths) or str(project.scenarios_dir)
        selected = f" selected by -k {args.keyword!r}" if args.keyword else ""
        console.err(f"no scenarios{selected} in {where}")
        if report is not None or html is not None or markdown is not None:  # as pytest writes them: no scenarios
            _write_reports(json_report([], project.root, console.secrets), report, html, markdown, console)
        return NO_SCENARIOS
    runner = ScenarioRunner(
        factory, update_snapshots=getattr(args, "update_snapshots", False), record_options=_record_options(args)
    )
    # Every scenario checked before anything runs; a file with mistakes fails alone: the others run.
    scenarios, mistakes = _loaded_scenarios(runner, found)
    if mistakes:
        if not scenarios:
            raise UserError(_every_problem(mistakes))
        console.err(
            f"note: {len(mistakes)} scenario file(s) with mistakes will not run (listed at the end); the others run"
        )
    unreadable: list[CassetteStatus] = []  # `--stale`: cassettes it leaves alone, which the run ends by naming
    if getattr(args, "stale", False):
        scenarios, unreadable = _needing_recording(runner, scenarios, console)
        if not scenarios:
            if unreadable:
                console.err(_unreadable_left(runner, unreadable))
            else:
                console.err("every cassette is up to date: nothing to record")
            if mistakes:  # listed at the end, as the note said, and exit 2, as when something was recorded
                raise UserError(_every_problem(mistakes))
            return 1 if unreadable else 0
    recording = not project.replaying
    if recording:  # a read-only cassette folder, told after every live request was paid for, is told now
        unwritable = folder_unwritable_reason(project.cassettes_dir)
        if unwritable is not None:
            raise UserError(f"the cassette folder {_shown(project.cassettes_dir)}: {unwritable}; nothing was recorded")
    if not recording and not project.cassettes_dir.is_dir():  # a typo in --cassettes fails every scenario
        console.err(f"note: there is no cassette folder {_shown(project.cassettes_dir)}: nothing is recorded there")
    if recording and args.repeat is not None:
        runs = [(scenario, variant) for scenario in scenarios for variant in range(1, args.repeat + 1)]
    else:  # every repeat recorded: replayed, or recorded again (a stale repeat is no less stale)
        runs = [(s, v) for s in scenarios for v in project.variants(runner.cassette_path(s))]
    repeats = [(s, project.variant_path(runner.cassette_path(s), v)) for s, v in runs if v > 1]
    _refuse_overwriting_inputs(runner, repeats, found)  # the first repeats' were checked with the scenarios
    play = _play_concurrently if args.jobs > 1 else _play_in_process
    results = play(args, runner, runs, console)
    if project.record_mode == RecordMode.ALL:
        _remove_leftover_repeats(project, results, console)
    console.out(summary_table(results, project.root, colour=_colour(sys.stdout), unrunnable=list(mistakes)))
    shown = {result.scenario.path: project.relative(result.scenario.path) for result in results}
    if any(result.scenario.model is not None for result in results):
        console.out("\n" + matrix_table(results, shown))
    if has_repeats(results):
        console.out("\n" + reliability_table(reliability(results), shown))
    written = True
    if report is not None or html is not None or markdown is not None or _step_summary_wanted():
        unrunnable = [(path, "\n".join(map(str, problems))) for path, problems in mistakes.items()]
        data = json_report(results, project.root, console.secrets, unrunnable)  # built only for what writes it
        written = _write_reports(data, report, html, markdown, console)
    status = 0 if written and all(result.ok for result in results) and not unreadable else 1
    if getattr(args, "twice", False) and not _replays_alike(runner, results, console):
        status = 1
    if unreadable:
        console.err(_unreadable_left(runner, unreadable))
    unknown = sorted({result.unknown_model for result in results if result.unknown_model is not None})
    if unknown:  # a typo in --model or a model's `name:`: the user's to fix, as a scenario file's mistake is
        console.err(_unknown_models(unknown, recording))
        status = 2
    if mistakes:  # said last, where a CI log is read: the run's results stand above it
        raise UserError(_every_problem(mistakes))
    return status


def _unknown_models(names: list[str], recording: bool) -> str:
    """The last word of a run whose endpoint did not know a model it was asked for (exit code 2)."""
    shown = ", ".join(repr(name) for name in names if name) or "it was asked for"
    return (
        f"error: the model endpoint does not know the model {shown}: check the name given to --model, or the "
        "`name:` of the agent's `model:` in the agents file (or a scenario's `model:`)"
        + ("; nothing of it was recorded" if recording else "")
    )


Runs = list[tuple["Scenario", int]]  # (scenario, repeat), in the order the results are reported


def _run_label(scenario: Scenario, variant: int, repeats: bool) -> str:
    model = f" on {scenario.model}" if scenario.model is not None else ""
    row = f"[{scenario.row}]" if scenario.row is not None else ""
    return f"{_shown(scenario.path)}{row}{model}{f' (repeat {variant})' if repeats else ''}"


def _play_in_process(
    args: argparse.Namespace, runner: ScenarioRunner, runs: Runs, console: Console
) -> list[ScenarioResult]:
    """`-j 1`: one scenario after the other in this process, each step shown as it lands when recording."""
    from harness.progress import step_line
    from harness.scenarios.results import crash_reason

    recording = not runner.project.replaying
    if recording:
        runner.on_step = lambda step: console.err("  " + step_line(step))
    repeats = any(variant > 1 for _, variant in runs)  # as at -j N: a scenario's repeats told apart
    results: list[ScenarioResult] = []
    try:
        for number, (scenario, variant) in enumerate(runs, start=1):
            if recording:
                console.err(f"[{number}/{len(runs)}] recording {_run_label(scenario, variant, repeats)} ...")
            try:
                result = runner.run(scenario, variant=variant, repeats=_repeats_asked(args, recording))
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a bug, or user code (any BaseException): this run fails, the others run
                cassette = runner.project.variant_path(runner.cassette_path(scenario), variant)
                result = _crashed(scenario, variant, repeats, cassette, crash_reason(exc))
            if runner.factory.learned_secrets:  # credential headers the endpoint answered with (cookies)
                console.learn(runner.factory)
            results.append(result)
            _tell(result, console.err)
            if args.exitfirst and not result.ok:
                break
    except KeyboardInterrupt as stop:
        _interrupted(results, len(runs), recording, console, stop)
    return results


def _repeats_asked(args: argparse.Namespace, recording: bool) -> int | None:
    """How many repeats a recording makes when `--repeat K` says (kept in each scenario's first cassette);
    None: as many as each already has."""
    return getattr(args, "repeat", None) if recording else None


def _remove_leftover_repeats(project: Project, results: list[ScenarioResult], console: Console) -> None:
    """`--mode all` (and `run --live`) replaces a scenario's recordings: once its first cassette is written
    anew, the repeats above the number it now records (left by an earlier, larger `--repeat`) are removed,
    so what replays is what was just measured. (`--mode new` keeps them; replay skips them and `harness
    cassettes check` lists them.)"""
    for result in results:
        if result.variant != 1 or result.change is None or not result.change.saved:
            continue
        for variant in project.leftover_repeats(result.cassette):
            path = project.variant_path(result.cassette, variant)
            try:
                path.unlink()
            except OSError as exc:
                console.err(f"note: {_shown(path)}: could not remove this repeat left from an earlier --repeat: {exc}")
                continue
            console.err(
                f"  {_shown(path)}: removed (a repeat above the {len(project.variants(result.cassette))} just recorded)"
            )


def _tell(result: ScenarioResult, say: Callable[[str], None]) -> None:
    """What a finished run did to its cassette, and why it failed."""
    if result.change is not None:
        say(f"  {_shown(result.cassette)}: {result.change.describe()}")
    if not result.ok:
        say(result.explain() + "\n")


def _crashed(scenario: Scenario, variant: int, repeats: bool, cassette: Path, reason: str) -> ScenarioResult:
    """The result of a run the harness failed on (an exception no layer expected): an error of its own."""
    from harness.scenarios.results import Outcome
    from harness.scenarios.results import ScenarioResult as Result

    error = f"{_run_label(scenario, variant, repeats)}: the harness failed on this scenario: {reason}"
    return Result(scenario, cassette, outcome=Outcome.ERROR, variant=variant, error=error)


def _play_concurrently(
    args: argparse.Namespace, runner: ScenarioRunner, runs: Runs, console: Console
) -> list[ScenarioResult]:
    """`-j N`: the runs in N worker processes (see `harness.scenarios.pool`), reported in the order of
    `runs` whatever order they finish in, so the summary and reports are those of `-j 1`."""
    from dataclasses import replace

    from harness.progress import Progress
    from harness.scenarios.pool import Finished, Interrupted, Job, WorkerPool, job_for
    from harness.secrets import Secrets

    project = runner.project
    recording = not project.replaying
    repeats = any(variant > 1 for _, variant in runs)
    asked = _repeats_asked(args, recording)
    jobs = [
        job_for(n, scenario, variant, project.variant_path(runner.cassette_path(scenario), variant), asked)
        for n, (scenario, variant) in enumerate(runs)
    ]
    what = "recording" if recording else "replaying"
    bar = _colour(sys.stderr)
    progress = Progress(len(jobs), what, sys.stderr, lambda text: console.secrets.mask(text), bar)
    workers = min(args.jobs, len(jobs))
    progress.line(f"{what} {len(jobs)} scenario run(s) in {workers} worker process(es)")

    def result_of(job: Job, done: Finished) -> ScenarioResult:
        scenario = runs[job.index][0]
        if done.result is not None:
            return replace(done.result, scenario=scenario)
        return _crashed(scenario, job.variant, repeats, job.cassette, done.crash or "")

    def on_step(job: Job, line: str) -> None:
        progress.step()
        if recording and not bar:
            scenario, variant = runs[job.index]
            progress.line(f"  {_run_label(scenario, variant, repeats)}: {line}")

    def on_done(job: Job, done: Finished) -> bool:
        console.secrets = console.secrets | Secrets.collect(values=done.learned, environ={})
        result = result_of(job, done)
        progress.finished(f"{_run_label(result.scenario, job.variant, repeats)}: {result.outcome}")
        _tell(result, progress.line)
        return not (args.exitfirst and not result.ok)

    # The longest runs start first (fewer workers idle at the end, waiting on one long scenario); the
    # results are still reported in the order of `runs`.
    longest_first = sorted(jobs, key=lambda job: -_turns(runs[job.index][0]))
    pool = WorkerPool(
        project, args.jobs, update_snapshots=runner.update_snapshots, record_options=runner.record_options
    )
    try:
        finished = pool.run(longest_first, on_step, on_done)
    except Interrupted as stop:
        progress.close()
        done = [result_of(jobs[n], stop.finished[n]) for n in sorted(stop.finished)]
        _interrupted(done, len(runs), recording, console, stop.by)
    progress.close()
    return [result_of(jobs[n], finished[n]) for n in sorted(finished)]


def _turns(scenario: Scenario) -> int:
    """How many user turns a scenario plays, at most: what its run's length is guessed from."""
    return scenario.simulate.max_turns if scenario.simulate is not None else len(scenario.turns)


def _interrupted(
    results: list[ScenarioResult], runs: int, recording: bool, console: Console, stop: KeyboardInterrupt
) -> NoReturn:
    """Ctrl-C (or SIGTERM): say what was kept (every finished recording is on disk; the unfinished ones wrote
    nothing)."""
    finished = f"interrupted: {len(results)} of {runs} scenario run(s) finished"
    if recording:
        saved = [_shown(result.cassette) for result in results if result.change is not None and result.change.saved]
        listed = ": " + ", ".join(saved) if saved else ""
        console.err(f"\n{finished}; kept {len(saved)} finished cassette(s){listed}; the others wrote nothing")
    else:
        console.err(f"\n{finished} (replay writes no cassette)")
    raise stop


def _needing_recording(
    runner: ScenarioRunner, scenarios: list[Scenario], console: Console
) -> tuple[list[Scenario], list[CassetteStatus]]:
    """The scenarios whose cassette replay says must be recorded (again), and the cassettes it must not
    record over (unreadable: recording would destroy what is left of it; edited: recording would take a
    body for what was recorded), as `cassettes check` says, each named with why."""
    from dataclasses import replace

    from harness.factory import AgentFactory
    from harness.scenarios import ScenarioRunner
    from harness.scenarios.hygiene import check_cassettes

    offline = AgentFactory(replace(runner.project, record_mode=RecordMode.NONE), runner.factory.config)
    replaying = ScenarioRunner(offline, record_options=runner.record_options)
    chosen: list[Scenario] = []
    left: list[CassetteStatus] = []
    for status in check_cassettes(replaying, scenarios, orphans=False):
        if status.scenario is None or not (status.state.needs_recording or status.state.left_alone):
            continue
        console.err(f"{_shown(status.cassette)}: {status.state}: {'; '.join(status.reasons)}")
        if status.state.needs_recording and not any(scenario is status.scenario for scenario in chosen):
            chosen.append(status.scenario)  # once, however many repeats
        elif status.state.left_alone and not any(other.scenario is status.scenario for other in left):
            left.append(status)
    return chosen, [status for status in left if not any(status.scenario is other for other in chosen)]


def _unreadable_left(runner: ScenarioRunner, left: list[CassetteStatus]) -> str:
    """What `record --stale` says of the unreadable and edited cassettes it left alone (its exit code is
    then 1)."""
    scenarios = [status.scenario for status in left if status.scenario is not None]
    kinds = _kinds([status.state for status in left], "or")
    return (
        f"error: {len(left)} scenario(s) with an {kinds} cassette were left "
        f"alone, not recorded: restore the cassette from version control, or record it anew: "
        f"{_record_anew(runner, scenarios)}"
    )


def _kinds(states: Iterable[CassetteState], joined: str) -> str:
    """`unreadable`, `edited`, or both joined by `joined`: the cassettes restored or recorded anew."""
    from harness.scenarios.hygiene import CassetteState

    present = set(states)
    kinds = (CassetteState.UNREADABLE, CassetteState.EDITED)
    return f" {joined} ".join(str(state) for state in kinds if state in present)


def _record_anew(runner: ScenarioRunner, scenarios: list[Scenario]) -> str:
    """`harness record --mode all` of `scenarios` (each file once), with this command's options."""
    from harness.scenarios.runner import harness_record

    named = dict.fromkeys(_shown(scenario.path) for scenario in scenarios)
    return harness_record(*named, flags=("--mode", "all"), options=runner.record_options)


def _record_options(args: argparse.Namespace) -> tuple[str, ...]:
    """The options of this command that a `harness record` it tells must repeat to find the same project and
    model: the agents file and cassette folder as typed (relative to the folder it was started in), the
    endpoint and model overrides. Without them the pasted command reads another agents file, or none."""
    words: list[str] = []
    for flag, value in (
        ("--agents", args.agents if args.agents != DEFAULT_AGENTS_FILE else None),
        ("--cassettes", getattr(args, "cassettes", None)),
        ("--base-url", getattr(args, "base_url", None)),
        ("--model", getattr(args, "model", None)),
    ):
        if value is not None:
            words += [flag, value]
    return tuple(words)


def _cassettes_check(args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from harness.factory import AgentFactory
    from harness.scenarios import ScenarioRunner
    from harness.scenarios.discovery import discover
    from harness.scenarios.hygiene import CassetteState, check_cassettes
    from harness.scenarios.runner import harness_record

    project = _project(args)
    factory = AgentFactory(project)
    console.learn(factory)
    paths = [Path(p) for p in args.paths] or (
        [Path(_shown(project.scenarios_dir))] if project.scenarios_dir.is_dir() else []
    )
    runner = ScenarioRunner(factory, record_options=_record_options(args))
    scenarios = _checked_scenarios(runner, discover(paths))
    # Orphans only over the whole project: checking some scenarios, every other cassette is not theirs.
    statuses = check_cassettes(runner, scenarios, orphans=not args.paths)
    if not statuses:  # nothing checked: a CI job pointed at the wrong folder must not pass green, as for `run`
        nothing = f"nothing to check: no scenarios in {_shown(project.scenarios_dir)}"
        nothing += f" and no cassettes in {_shown(project.cassettes_dir)}"
        console.err(f"no scenarios in {' '.join(args.paths)}" if args.paths else nothing)
        return NO_SCENARIOS
    counts: dict[CassetteState, int] = {}
    for status in statuses:
        counts[status.state] = counts.get(status.state, 0) + 1
        if status.state == CassetteState.OK:
            continue
        scenario = f" ({_shown(status.scenario.path)})" if status.scenario is not None else ""
        console.out(f"{_shown(status.cassette)}: {status.state}{scenario}")
        for reason in status.reasons:
            console.out(f"  {reason}")
    console.out(", ".join(f"{counts[state]} {state}" for state in CassetteState if state in counts))
    if any(state.needs_recording for state in counts):
        command = harness_record(flags=("--stale",), options=runner.record_options)
        console.out(f"record what needs it with: {command}")
    left = [s for s in statuses if s.state.left_alone and s.scenario is not None]
    if left:  # --stale leaves these alone (see CassetteState.left_alone)
        scenarios = [status.scenario for status in left if status.scenario is not None]
        console.out(
            f"restore the {_kinds([s.state for s in left], 'and the')} from version control, or record them anew: "
            f"{_record_anew(runner, scenarios)}"
        )
    if CassetteState.ORPHAN in counts:
        console.out("an orphan is used by no scenario: delete it, or name it in a scenario's `cassette:`")
    if CassetteState.UNUSED_REPEAT in counts:
        console.out(
            "an unused repeat is above the number of repeats its scenario was last recorded with (replay skips it): "
            "delete it, or record that many repeats again"
        )
    return 1 if any(state != CassetteState.OK for state in counts) else 0


def _check_step_summary() -> None:
    """In a GitHub job the summary is appended to `$GITHUB_STEP_SUMMARY`: checked before the run, as a report."""
    if _step_summary_wanted():
        import os

        from harness.report_md import STEP_SUMMARY

        _report_path(os.environ[STEP_SUMMARY], f"${STEP_SUMMARY}")


def _step_summary_wanted() -> bool:
    """Whether this is a GitHub job with a step summary to append to."""
    import os

    from harness.report_md import STEP_SUMMARY

    return bool(os.environ.get(STEP_SUMMARY))


def _write_reports(
    data: dict[str, Any], report: Path | None, html: Path | None, markdown: Path | None, console: Console
) -> bool:
    """The JSON report, the HTML report and the Markdown summary (the latter also on the CI job page, when
    there is one); whether every one was written. One that cannot be (a full disk) is said in one line
    naming it, and the others are still written."""
    from harness.errors import OutputError
    from harness.report import write_json_report
    from harness.report_md import append_step_summary, write_markdown

    written = True

    def wrote(write: Callable[[], object]) -> bool:
        nonlocal written
        try:
            write()
        except OutputError as exc:
            console.err(f"error: {exc}")
            written = False
            return False
        return True

    if report is not None:
        wrote(lambda: write_json_report(data, report))
    if html is not None:
        from harness.report_html import write_html

        page = html
        if not wrote(lambda: write_html(data, page)):
            html = None  # not linked from the summaries: there is no such report
    if markdown is not None:
        wrote(lambda: write_markdown(data, markdown, html))
    wrote(lambda: append_step_summary(data, html))
    return written


def _replays_alike(first: ScenarioRunner, results: list[ScenarioResult], console: Console) -> bool:
    """`--twice`: replay the same scenarios again, from scratch, and compare the reports (timings aside)."""
    from harness.determinism import differences
    from harness.factory import AgentFactory
    from harness.report import json_report
    from harness.scenarios import ScenarioRunner

    project = first.project
    runner = ScenarioRunner(AgentFactory(project), record_options=first.record_options)
    again = [runner.run(result.scenario, variant=result.variant) for result in results]
    secrets = console.secrets
    found = differences(json_report(results, project.root, secrets), json_report(again, project.root, secrets))
    if found:
        console.err("error: the second replay differs from the first (not deterministic):")
        console.err("\n".join(f"  {line}" for line in found))
        return False
    console.err(f"the second replay gave the same report for {len(results)} scenario(s), timings aside")
    return True


def _report_path(given: str, flag: str = "--report") -> Path:
    """Where a report goes, checked before anything runs: a run must not end unable to write its report."""
    from pathlib import Path

    from harness.errors import UserError
    from harness.files import unwritable_reason

    if not given.strip():  # `--report ""`, an unset shell variable: not silently no report
        raise UserError(f"{flag} {given!r}: give a file name, e.g. report.json")
    path = Path(given)
    if path.is_dir():
        raise UserError(f"{flag} {given}: is a folder; give a file name, e.g. {path / 'report.json'}")
    reason = unwritable_reason(path)
    if reason is not None:
        raise UserError(f"{flag} {given}: {reason}")
    return path


def _shown(path: Path) -> str:
    """`path` as typed from the current folder when it is below it."""
    import os

    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else relative


def _schema(args: argparse.Namespace, console: Console) -> int:
    if args.kind == "scenario":
        from harness.scenarios.model import ScenarioWire

        console.out(json.dumps(ScenarioWire.model_json_schema(), indent=2))
        return 0
    from harness.config import json_schema

    console.out(json.dumps(json_schema(), indent=2))
    return 0


def _checked_scenarios(runner: ScenarioRunner, paths: list[Path]) -> list[Scenario]:
    """Every scenario loaded and checked against the agents file; one UserError with every problem of
    every file (the agents file's own first: without it the references cannot be checked)."""
    from harness.errors import UserError

    scenarios, mistakes = _loaded_scenarios(runner, paths)
    if mistakes:
        raise UserError(_every_problem(mistakes))
    return scenarios


def _loaded_scenarios(runner: ScenarioRunner, paths: list[Path]) -> tuple[list[Scenario], dict[Path, list[Problem]]]:
    """The scenarios of the files that load and check against the agents file, and the problems of each
    file that does not (a mistake in the agents file is a UserError at once, with every scenario's
    problems: without the agents file no reference can be checked)."""
    from harness.errors import UserError
    from harness.scenarios.cassette_owners import bystanders, sharing_problems
    from harness.scenarios.model import load_scenarios_partially

    scenarios: list[Scenario] = []
    mistakes: dict[Path, list[Problem]] = {}
    try:
        runner.factory.config  # noqa: B018 - the agents file, validated
        agents_problems: list[Problem] = []
    except UserError as exc:
        agents_problems = exc.problems
    for path in paths:
        loaded, found = load_scenarios_partially(path)
        problems = list(found)
        for scenario in loaded:
            try:
                if not agents_problems:
                    runner.spec_for(scenario)
            except UserError as exc:
                problems += [problem for problem in exc.problems if problem not in problems]
        if problems:
            mistakes[path] = problems
        else:
            scenarios += loaded
    if agents_problems:
        raise UserError(agents_problems + _every_problem(mistakes))
    project = runner.factory.project
    # Recording, a cassette another scenario of the project owns would lose its exchanges, run or not.
    others: list[Scenario] = []
    for other in [] if project.replaying else bystanders(project.scenarios_dir, paths):
        unusable = runner.cassette_problem(other)  # `cassette: ../x.yaml`: told as validate tells it
        if unusable is None:
            others.append(other)
        elif unusable not in mistakes.setdefault(other.path, []):
            mistakes[other.path].append(unusable)
    for scenario, problem in sharing_problems(scenarios, runner.cassette_path, _shown, others):
        mistakes.setdefault(scenario.path, []).append(problem)
    scenarios = [scenario for scenario in scenarios if scenario.path not in mistakes]
    _refuse_overwriting_inputs(runner, [(scenario, runner.cassette_path(scenario)) for scenario in scenarios], paths)
    return scenarios, mistakes


def _refuse_overwriting_inputs(
    runner: ScenarioRunner, cassettes: list[tuple[Scenario, Path]], files: list[Path]
) -> None:
    """A cassette path that is a file the run reads (`--cassettes` naming the wrong folder) stops the whole
    command before anything runs: recording would replace that file, replay would call it a cassette."""
    from harness.errors import UserError
    from harness.scenarios.cassette_owners import overwritten_inputs

    problems = overwritten_inputs(runner.project, cassettes, files, _shown)
    if problems:
        raise UserError(problems)


def _every_problem(mistakes: dict[Path, list[Problem]]) -> list[Problem]:
    return [problem for problems in mistakes.values() for problem in problems]


def _validate(args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from harness.errors import HarnessError
    from harness.factory import AgentFactory
    from harness.scenarios import ScenarioRunner
    from harness.scenarios.discovery import discover

    project = _project(args)
    given = [Path(p) for p in args.paths]
    folders = given or ([Path(_shown(project.scenarios_dir))] if project.scenarios_dir.is_dir() else [])
    runner = ScenarioRunner(AgentFactory(project))
    with contextlib.suppress(HarnessError):  # a mistake in the agents file is reported with the scenarios'
        console.learn(runner.factory)  # before any message that may quote what a base URL carries
    scenarios = _checked_scenarios(runner, discover(folders))
    config = runner.factory.config
    console.out(f"{args.agents}: ok ({len(config.agents)} agents: {', '.join(config.agents)})")
    if folders:
        files = len({scenario.path for scenario in scenarios})  # a dataset's rows and a matrix's models are one file
        runs = "" if files == len(scenarios) else f" ({len(scenarios)} scenarios: dataset rows and models apart)"
        console.out(f"{files} scenario file(s): ok{runs}")
    return 0


def _compile(args: argparse.Namespace, console: Console) -> int:
    from harness.agent import Agent
    from harness.factory import AgentFactory, recorded_run_spec

    # As a scenario's first request sends it (a Letta loop's time is the recorded run's clock unless the
    # agent declares one), built through the agent's loop: Letta's send their own system message and tools.
    factory = AgentFactory(_project(args))
    console.learn(factory)  # a prompt may quote what a base URL carries
    spec = recorded_run_spec(factory.config.get(args.agent))
    agent = _scenario_agent(args, factory, spec) if args.scenario else Agent(spec, _NoModel())
    if args.tools:
        console.out(json.dumps(agent.loop.tools(agent, list(spec.tools)), indent=2))
        return 0
    console.out(_loop_system_message(agent))
    return 0


def _scenario_agent(args: argparse.Namespace, factory: AgentFactory, spec: AgentSpec) -> Agent:
    """The agent as scenario `args.scenario`'s run builds it (blocks, history, id), asked nothing."""
    from dataclasses import replace

    from harness.scenarios import ScenarioRunner

    runner = ScenarioRunner(factory)
    scenario = _the_scenario(args, runner)
    return factory.new_agent(
        replace(spec, embedding=None),  # nothing is embedded before the first request: no endpoint, no key
        agent_id=runner.agent_id(scenario),
        blocks=scenario.blocks,
        model=_NoModel(),
        history=list(scenario.history),
    )


def _the_scenario(args: argparse.Namespace, runner: ScenarioRunner, error: type[UserError] | None = None) -> Scenario:
    """The one scenario of `args.scenario`, checked, and of `args.agent` (`--scenario` of compile and export)."""
    from pathlib import Path

    from harness.errors import UserError

    refuse = error or UserError
    found = _checked_scenarios(runner, [Path(args.scenario)])
    if len(found) != 1:  # a dataset's rows, a model matrix
        raise refuse(f"{args.scenario}: holds {len(found)} scenarios (dataset rows or matrix models); give one")
    (scenario,) = found
    if scenario.agent != args.agent:
        raise refuse(f"{args.scenario}: agent: this scenario runs '{scenario.agent}', not '{args.agent}'")
    return scenario


def _loop_system_message(agent: Agent) -> str:
    """The system message the agent's loop sends first: Letta's loops build their own (`compile`, and the
    first message of an exported history)."""
    from harness.loops.kinds import LoopName

    if agent.loop.name is LoopName.HARNESS:
        return agent.spec.system_message(agent.memory)
    return str(agent.request_messages()[0]["content"])


class _NoModel:
    """The model of an agent that is only compiled, never run."""

    def complete(self, messages: list[Any], tools: list[Any], tool_choice: Any = None) -> Any:
        raise AssertionError("harness compile never asks a model")


def _import_agent_file(args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from harness.agentfile.importer import HISTORY_FOLDER, TOOLS_MODULE, import_agent_file
    from harness.agentfile.reading import read_agent_file
    from harness.errors import AgentFileError
    from harness.files import write_atomically

    source = Path(args.file)
    result = import_agent_file(read_agent_file(source), source.name, console.secrets)
    out = Path(args.out)
    targets = [(out / "agents.yaml", result.agents_yaml)]
    if result.tools_module is not None:
        targets.append((out / f"{TOOLS_MODULE}.py", result.tools_module))
    histories = [(out / HISTORY_FOLDER / f"{name}.yaml", text) for name, text in result.histories.items()]
    targets += histories
    _refuse_overwrite([path for path, _ in targets], args.force, "--out DIR")
    _check_import(source, out, [(path.relative_to(out), text) for path, text in targets])
    for path, _ in targets:  # a file where a folder goes would fail a write half done: said before any
        blocking = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise AgentFileError(f"{blocking}: is a file where the import writes a folder, so nothing was written")
    try:
        for path, text in targets:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, text)
    except OSError as exc:
        raise AgentFileError(f"{out}: cannot write: {exc.strerror or exc}") from None
    console.out(f"wrote {targets[0][0]} ({len(result.agent_names)} agents: {', '.join(result.agent_names)})")
    if result.tools_module is not None:
        console.out(f"wrote {targets[1][0]} (custom tools with source)")
    for path, _ in histories:
        console.out(f"wrote {path} (the agent's in-context messages: start a scenario from them with `history:`)")
    if result.notes:
        console.out(f"not kept ({len(result.notes)}):")
        for note in result.notes:
            console.out(f"  {note}")
    return 0


def _check_import(source: Path, out: Path, files: list[tuple[Path, str]]) -> None:
    """What an import would write must be what `harness validate` accepts (an Agent File can hold what no
    agents file may: two blocks with one label, a block longer than any limit): checked in a scratch folder,
    before anything is written. The tools module there is a stub of the file's (`agentfile.stub`): checking
    runs nothing of the Agent File's."""
    import tempfile
    from pathlib import Path

    from harness.agentfile.importer import TOOLS_MODULE
    from harness.agentfile.stub import checkable_stub
    from harness.config import load_agents
    from harness.errors import AgentFileError, ConfigError

    with tempfile.TemporaryDirectory(prefix="harness-import-") as name:
        scratch = Path(name)
        for relative, text in files:
            stubbed = checkable_stub(text) if relative == Path(f"{TOOLS_MODULE}.py") else text
            try:
                (scratch / relative).parent.mkdir(parents=True, exist_ok=True)
                (scratch / relative).write_text(stubbed, encoding="utf-8")
            except OSError as exc:  # what cannot be written to check could not be written for real either
                raise AgentFileError(f"{out / relative}: cannot write: {exc.strerror or exc}") from None
        try:
            load_agents(scratch / "agents.yaml")
        except ConfigError as exc:
            problems = str(exc).replace(str(scratch), str(out))
            raise AgentFileError(
                f"{source}: its agents would make an agents.yaml the harness refuses, so nothing was written:\n"
                f"{problems}"
            ) from None
        finally:  # the scratch folder's tools module is not the one the written project will import
            sys.modules.pop(TOOLS_MODULE, None)
            with contextlib.suppress(ValueError):
                sys.path.remove(str(scratch.resolve()))


def _export_agent_file(args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from harness.agentfile.exporter import agent_file_text, export_agent, unwritten
    from harness.config import load_agents
    from harness.errors import AgentFileError
    from harness.files import write_atomically
    from harness.secrets import Secrets

    config = load_agents(args.agents)
    spec = config.get(args.agent)
    models = [agent.model for agent in config.agents.values()]
    secrets = console.secrets | Secrets.collect(
        names=[model.api_key_env for model in models], urls=[model.base_url for model in models]
    )
    path = Path(args.output or f"{args.agent}.af")
    _refuse_overwrite([path], args.force, "-o FILE.af")
    history = None
    if args.scenario:
        spec, history = _scenario_end_state(args)
    system = None
    if history is not None:  # as the replay's loop sent it, on the clock it ran on
        from harness.agent import Agent
        from harness.factory import recorded_run_spec

        system = _loop_system_message(Agent(recorded_run_spec(spec), _NoModel()))
    data = export_agent(spec, secrets, history, system)
    try:
        write_atomically(path, agent_file_text(data))
    except OSError as exc:
        raise AgentFileError(f"{path}: cannot write: {exc.strerror or exc}") from None
    console.out(f"wrote {path} (agent {spec.name}: {len(data['blocks'])} blocks, {len(data['tools'])} tools)")
    notes = unwritten(spec)
    if notes:
        console.out(f"not written ({len(notes)}):")
        for note in notes:
            console.out(f"  {note}")
    return 0


def _scenario_end_state(args: argparse.Namespace) -> tuple[AgentSpec, list[dict[str, Any]]]:
    """The agent as scenario `args.scenario` leaves it (replayed offline) and its history in context then:
    the conversation the scenario started from (`history:`) and its own turns, as the agent would send them
    next (after a compaction, its summary and what it kept)."""

    from harness.agentfile.exporter import with_end_state
    from harness.errors import AgentFileError, RunError
    from harness.factory import AgentFactory
    from harness.scenarios import ScenarioRunner

    made: list[Agent] = []

    class Keeping(AgentFactory):
        """The project's factory, keeping the agents it makes for the run."""

        def new_agent(self, *args: Any, **kwargs: Any) -> Agent:
            made.append(super().new_agent(*args, **kwargs))
            return made[-1]

    runner = ScenarioRunner(Keeping(_project(args)))
    scenario = _the_scenario(args, runner, AgentFileError)
    result = runner.run(scenario, runner.spec_for(scenario))
    if result.error or result.stale or not result.turns:
        why = result.error or "\n".join(result.stale) or "no turn was played"
        raise RunError(f"{args.scenario}: the replay did not finish, so there is no end state to export: {why}")
    (agent,) = [agent for agent in made if agent.state.id == runner.agent_id(scenario)]
    return with_end_state(runner.spec_for(scenario), result.end_blocks()), list(agent.messages)


def _refuse_overwrite(paths: list[Path], force: bool, elsewhere: str) -> None:
    from harness.errors import AgentFileError

    existing = [path for path in paths if path.exists() or path.is_symlink()]
    if existing and not force:
        named = " and ".join(str(path) for path in existing)
        raise AgentFileError(
            f"{named}: {'exists' if len(existing) == 1 else 'exist'}; give --force to overwrite, or {elsewhere} "
            "to write elsewhere"
        )


def _memory(args: argparse.Namespace, console: Console) -> int:
    from harness.errors import HarnessError, UserError
    from harness.factory import AgentFactory
    from harness.store import Store

    project = _project(args)
    with contextlib.suppress(HarnessError):  # the database was masked as written; this only adds to it
        console.learn(AgentFactory(project))
    db = project.state_db
    if not db.exists():
        raise UserError(f"{db}: no state database here (give --db, or start one with `harness chat`)")
    if (args.agent is None) == (args.block is None):
        raise UserError("give an AGENT name or --block ID")
    store = Store(db, console.secrets, read_only=True)  # shows, never changes (migrates) it
    try:
        if args.block is not None:
            block = store.get_block(args.block)
            if block is None:  # as an unknown agent: the id given is the mistake
                raise UserError(f"{db}: no block with id '{args.block}' is persisted here")
            blocks = [block]
        else:
            agent_id = store.find_agent(args.agent)
            if agent_id is None:
                raise UserError(f"{db}: no agent named '{inert(args.agent)}' has been persisted here")
            blocks = store.get_core_memory(agent_id).get_blocks()
    finally:
        store.close()
    for block in blocks:
        flags = ", read-only" if block.read_only else ""
        # a label the model chose is any text, as its value is: its controls are shown, not obeyed
        console.out(f"{inert(block.label)} ({block.id}, {len(block.value)}/{block.limit} characters{flags})")
        console.out("  " + inert(block.value).replace("\n", "\n  "))
    return 0


def _chat(args: argparse.Namespace, console: Console) -> int:
    from harness.factory import AgentFactory
    from harness.store import Store

    project = _project(args)
    factory = AgentFactory(project)
    spec = factory.spec(args.agent)
    console.learn(factory)
    store = Store(project.state_db, console.secrets)  # the path checked (a folder, not SQLite...) before a lock
    try:
        lock = _lock_agent(project.state_db, spec.name)
    except BaseException:
        store.close()
        raise
    model = factory.chat_model(spec)
    if sys.stderr.isatty():
        model = WaitingLine(model, sys.stderr)
    agent = factory.resume(spec, store, model=model)
    console.err(
        f"{spec.name} ({agent.state.id}, {agent.turns} earlier turns) on {spec.model.name}; "
        "/memory shows the blocks, /quit or Ctrl-D ends"
    )
    from harness.context_window import describe
    from harness.errors import LLMError, UnknownModel
    from harness.records import StopReason

    failed = 0  # a turn the endpoint failed: the session goes on, and ends with exit code 1 (2: a model name)
    try:
        while True:
            try:
                text = input("you> ")
            except EOFError:
                console.err()
                return failed
            if not text.strip():
                continue
            bad = _undecodable(text)
            if bad is not None:
                console.err(f"  that line is not UTF-8 ({bad}); nothing was sent or saved: type it again")
                continue
            if text.strip() in ("/quit", "/exit"):
                return failed
            if text.strip() == "/memory":
                console.out(inert(agent.memory.compile()))
                continue
            try:
                result = agent.send(text)
            except LLMError as exc:  # down, rate-limited, an answer it cannot use: one turn, not the session
                failed = max(failed, 2 if isinstance(exc, UnknownModel) else 1)
                console.err(f"error: {inert(str(exc))}")
                console.err("  (that turn ended there; type a message to go on, /quit or Ctrl-D ends)")
                continue
            for step in result.steps:  # what the model and its tools wrote: shown, never obeyed
                for event in step.context:  # a warning, an eviction (its summary is the model's: not shown)
                    console.err(f"  [{describe(event)}]")
                if step.content:
                    console.err(f"  ({inert(step.content.strip())})")
                for call in step.tool_calls:
                    status = "ok" if call.ok else "FAILED"
                    console.err(inert(f"  -> {call.name}({call.arguments}) {status}: {call.result}"))
            for reply in result.replies:
                console.out(f"{spec.name}> {inert(reply)}")
            if result.stop_reason != StopReason.REPLIED:
                console.err(f"  [turn ended: {result.stop_reason}]")
    finally:
        store.close()
        lock.close()


def _undecodable(text: str) -> str | None:
    """Where a line read from stdin was not UTF-8 (Python hands its bytes over as lone surrogates), or None."""
    for column, char in enumerate(text, start=1):
        if "\udc80" <= char <= "\udcff":
            return f"byte 0x{ord(char) - 0xDC00:02x} at column {column}"
    return None


def _lock_agent(db: Path, name: str) -> TextIO:
    """One `harness chat` per agent and database at a time: two would interleave their histories and lose
    each other's memory edits. The lock is the OS's (flock), so it goes away with the process."""
    import fcntl
    import os
    from pathlib import Path

    from harness.errors import RunError

    real = Path(os.path.realpath(db))  # one lock for the file, whichever link names it
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    try:
        lock = open(real.parent / f"{real.name}.{safe}.lock", "a+", encoding="utf-8")  # noqa: SIM115 - held to the end
    except OSError as exc:
        raise RunError(
            f"cannot lock agent '{name}' on {db}: {exc.strerror or exc} (`harness chat` keeps a lock file beside "
            "the database: give --db a file in a folder it can write to)"
        ) from None
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise RunError(
            f"agent '{name}' is in use by another `harness chat` ({holder}) on {db}; end that one first"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()}")
    lock.flush()
    return lock


class WaitingLine:
    """A chat model that shows a live `waiting for the model... 3 s` line on a terminal while it waits:
    a local model takes seconds a step, and a silent terminal looks hung."""

    def __init__(self, model: ChatModel, stream: TextIO, interval: float = 1.0) -> None:
        self.model = model
        self.stream = stream
        self.interval = interval

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice | None = None
    ) -> ChatResponse:
        import threading
        import time

        done = threading.Event()
        started = time.monotonic()

        def show() -> None:
            while not done.wait(self.interval):
                self.stream.write(f"\r  waiting for the model... {time.monotonic() - started:.0f} s")
                self.stream.flush()

        thread = threading.Thread(target=show, daemon=True)
        thread.start()
        try:
            if tool_choice is None:  # a model written before tool_choice existed takes two arguments
                return self.model.complete(messages, tools)
            return self.model.complete(messages, tools, tool_choice)
        finally:
            done.set()
            thread.join()
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


if __name__ == "__main__":
    sys.exit(main())
