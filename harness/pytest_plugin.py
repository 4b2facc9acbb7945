"""pytest plugin: every YAML file under a scenario folder is a test, replayed from its cassette.

Options (also as ini keys `harness_agents`, `harness_cassettes`, `harness_scenarios`):
`--harness-agents FILE`, `--harness-cassettes DIR`, `--harness-record-mode none|new|all`,
`--harness-base-url URL`, `--harness-model NAME`, `--harness-html FILE`, `--harness-summary-md FILE` (see
harness/pytest_reports.py). The cassette folder defaults to `cassettes/` beside the
agents file, as for `harness run`: both build the same `Project`.

The plugin is installed into every project of the environment, so it collects scenario files only where
a project opts in: an `agents.yaml` at pytest's rootdir that is the harness's (a top-level `agents:` key;
for a project with no pytest config file, in the first folder above it that holds one, up to the
repository or package root), or the `harness_agents` ini key / `--harness-agents` option naming the agents
file. Elsewhere it collects nothing (and says why when an agents file where pytest was started goes unused).
The scenario files are the YAML under the `scenarios/` folder beside the agents file, as `harness run`
finds them: its folders walked as the CLI walks them (those pytest's `norecursedirs` skips too, no link to a
folder).

For tests written in Python, the `harness_agent` fixture builds agents from agents.yaml whose model
exchanges go through the test's own cassette (`harness_cassette_path`, overridable, like
pytest-recording's `vcr_cassette_dir`).

Loading the plugin imports nothing but pytest (and the record modes, for its options): the harness itself
is imported when a scenario file is collected or a harness fixture is used, so a project that does neither
pays nothing for it.

What pytest reports of a scenario or of a test using `harness_agent` (its failure, its captured output,
and so the terminal and JUnit XML) has the run's secrets masked, as cassettes have, with the pieces of one
a shortened value shows beside its cut (`harness.secrets.Secrets.mask_shortened`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import os
import re
import stat
import warnings
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pytest

from harness.cassettes.mode import RecordMode

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

    from harness.agent import Agent
    from harness.config import AgentSpec
    from harness.errors import Problem
    from harness.factory import Cassette
    from harness.project import Project
    from harness.scenarios.model import Scenario
    from harness.scenarios.results import ScenarioResult
    from harness.scenarios.runner import ScenarioRunner
    from harness.secrets import Secrets

RUNNER_KEY = pytest.StashKey["ScenarioRunner"]()
FIXTURE_CASSETTE_KEY: pytest.StashKey[Cassette] = pytest.StashKey()
USES_HARNESS_KEY = pytest.StashKey[bool]()  # a test that set up the plugin's fixtures: its report is masked
AGENTS_KEY = pytest.StashKey["Path | None"]()
PROJECT_KEY: pytest.StashKey[Project] = pytest.StashKey()
SHARING_KEY = pytest.StashKey["dict[Path, list[Problem]]"]()
CASSETTE_FOLDERS_KEY = pytest.StashKey[dict[Path, bool]]()  # folder -> whether it is in the cassette folder
SCENARIO_BASES_KEY = pytest.StashKey[tuple[Path, ...]]()  # where the scenario folders are, in order
# The folders in a scenarios folder walked because the harness walks them, where pytest alone would not.
WALKED_FOR_THE_HARNESS_KEY = pytest.StashKey[set[Path]]()
# Folders that end the upward search for an agents file: a project's own root.
PROJECT_MARKERS = (".git", ".hg", "pyproject.toml", "setup.py", "setup.cfg", "tox.ini", "pytest.ini")
SUFFIXES = (".yaml", ".yml")
# Report files other plugins write, by option and where pytest keeps it: one of ours over one of them
# would leave only one of the two, each plugin saying it wrote it.
OTHER_REPORTS = {"--junitxml": "xmlpath", "--html": "htmlpath"}
STEP_SUMMARY = "GITHUB_STEP_SUMMARY"  # as harness.report_md, not imported: loading the plugin stays light
DEFAULT_AGENTS_FILE = "agents.yaml"  # as harness.project's (not imported: loading the plugin stays light)
DEFAULT_SCENARIOS = "scenarios"  # as harness.project's
AGENTS_FILE_LIMIT = 4 * 1024 * 1024  # as harness.yamlsource.FILE_LIMITS.max_bytes: the harness reads no more
# A top-level `agents:` key, which the harness requires (quoted or not, after a byte order mark, in a flow
# mapping), or the schema comment `harness schema` suggests.
_BOM = rb"(?:\xef\xbb\xbf|\xff\xfe|\xfe\xff)?"  # UTF-8's, UTF-16's or UTF-32's (their NULs dropped)
OUR_AGENTS_FILE = re.compile(rb"(?m)^" + _BOM + rb"""(?:\{\s*)?["']?agents["']?\s*:|agents\.schema\.json""")
# A flow mapping (JSON, which YAML reads: `json.dumps(data, indent=2)` puts each key on a line of its own,
# indented) with an `agents` key. A UTF-16 or UTF-32 file is matched with its NULs dropped: it is taken, so
# that the run says what is wrong with it.
FLOW_AGENTS_FILE = re.compile(rb"\A" + _BOM + rb"""\s*\{.*?["']?\bagents["']?\s*:""", re.DOTALL)


class ScenarioFailed(Exception):
    def __init__(self, *results: ScenarioResult) -> None:
        super().__init__("\n\n".join(result.explain() for result in results))
        self.results = results


class XPassedRuns(Exception):
    """Some runs of an `xfail` scenario (repeats, dataset rows) passed: each is an XPASS, as `harness run`
    judges it, though others failed as documented; not the ScenarioFailed its xfail mark expects."""

    def __init__(self, *results: ScenarioResult) -> None:
        super().__init__(_xpassed(results, of_several=True))
        self.results = results


def _xpassed(results: Sequence[ScenarioResult], of_several: bool = False) -> str:
    """Runs of an `xfail` scenario that passed, as pytest's strict XPASS starts its text, explained as
    `harness run` explains them. A scenario's one run: its located message (`x.yaml:3: xfail: expected to
    fail ...`) on that first line, which pytest's short summary and JUnit's `message` show; runs (of several
    played), under a count."""
    told = [result.explain() for result in results]
    if len(told) == 1 and not of_several:
        return f"[XPASS(strict)] {told[0]}"
    return f"[XPASS(strict)] {len(told)} run(s) of this xfail scenario passed:\n" + "\n\n".join(told)


class StaleCassette(Exception):
    """The cassette lacks a response the scenario needs, or cannot be read: a failure even for an `xfail`
    scenario. A run the harness counts as an error (an unreadable cassette, an endpoint's or a model answer's
    error) is a failed test to pytest and JUnit, whose `error` is a fixture's setup or teardown failing: the
    text starts with the harness's `error:` wording, so pytest's short summary and JUnit's `message` say it."""

    def __init__(self, *results: ScenarioResult) -> None:
        text = "\n\n".join(result.explain() for result in results)
        errors = sum(result.error is not None for result in results)
        if errors and not text.startswith("error: "):  # a repeat's, row's or model's header comes first
            runs, reported = ("1 run", "it as an error") if errors == 1 else (f"{errors} runs", "them as errors")
            text = (
                f"error: {runs} of this scenario could not be run to the end (the harness reports {reported}):\n{text}"
            )
        super().__init__(text)
        self.results = results


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "agent scenarios replayed from cassettes (harness)")
    group.addoption("--harness-agents", metavar="FILE", help="agents file (default: ini harness_agents, agents.yaml)")
    group.addoption(
        "--harness-cassettes", metavar="DIR", help="cassette folder (default: cassettes/ beside the agents file)"
    )
    group.addoption(
        "--harness-record-mode",
        choices=[mode.value for mode in RecordMode],
        default=None,
        help="none: replay only, never touch the network (default); new: record what is missing; "
        "all: re-record everything",
    )
    group.addoption("--harness-base-url", metavar="URL", help="model endpoint to record from")
    group.addoption("--harness-model", metavar="NAME", help="model name (replay must use the same)")
    group.addoption(
        "--harness-update-snapshots",
        action="store_true",
        help="write the golden files of `snapshot:` checks (snapshots/) instead of comparing",
    )
    group.addoption(
        "--harness-html", metavar="FILE", help="write the scenarios' self-contained HTML report (as harness run --html)"
    )
    group.addoption(
        "--harness-summary-md",
        metavar="FILE",
        help="write a Markdown summary of the scenarios for CI pages (also appended to $GITHUB_STEP_SUMMARY when set)",
    )
    parser.addini(
        "harness_agents",
        "agents file, relative to the rootdir; setting it turns scenario collection on (default: agents.yaml at "
        "the rootdir, if there is one)",
        default="",
    )
    parser.addini("harness_cassettes", "cassette folder, relative to the rootdir (default: beside the agents file)")
    parser.addini(
        "harness_scenarios", "folder names whose YAML files are scenarios", type="args", default=["scenarios"]
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "harness_scenario: a scenario file collected by the harness plugin")
    if config.getoption("help", False):  # `pytest --help` shows the options whatever they say
        return
    if agents_file(config) is not None:
        project = _project(config)  # a usage error in the options (a cassette folder that is a file) is said now
        _check_scenario_folders(config, project.root)
        if not project.replaying:  # a read-only cassette folder, told after every live request, is told now
            from harness.files import folder_unwritable_reason

            unwritable = folder_unwritable_reason(project.cassettes_dir)
            if unwritable is not None:
                raise pytest.UsageError(f"the cassette folder {project.cassettes_dir}: {unwritable}; nothing recorded")
        if not hasattr(config, "workerinput"):  # pytest-xdist's controller has said it
            _refuse_other_reports_over_inputs(config, project)
    if _reporting(config) and not hasattr(config, "workerinput"):  # pytest-xdist's workers report to this one
        from harness.files import one_file_for_two
        from harness.pytest_reports import ScenarioReports, checked_path

        html, markdown = config.getoption("harness_html"), config.getoption("harness_summary_md")
        if os.environ.get(STEP_SUMMARY):  # appended to at the end: checked now, as the report files are
            checked_path(os.environ[STEP_SUMMARY], f"${STEP_SUMMARY}")
        paths = {"--harness-html": html, "--harness-summary-md": markdown}
        checked = {option: checked_path(given, option) if given else None for option, given in paths.items()}
        # The reports other plugins write too: pytest's JUnit XML, pytest-html's page.
        others = {option: getattr(config.option, dest, None) for option, dest in OTHER_REPORTS.items()}
        clash = one_file_for_two({**others, **checked})
        if clash is not None:
            raise pytest.UsageError(clash)
        if agents_file(config) is not None:
            for option, path in checked.items():
                refused = _project(config).report_over_input(option, path) if path is not None else None
                if refused is not None:
                    raise pytest.UsageError(refused)
        config.pluginmanager.register(
            ScenarioReports(checked["--harness-html"], checked["--harness-summary-md"]), "harness-reports"
        )


def _refuse_other_reports_over_inputs(config: pytest.Config, project: Project) -> None:
    """pytest's `--junitxml` (and pytest-html's `--html`) naming a file the run reads (the agents file, a
    scenario, a cassette) is a usage error, as `--harness-html` naming one is: the report would replace it."""
    for option, dest in OTHER_REPORTS.items():
        given = getattr(config.option, dest, None)
        if isinstance(given, str) and given:  # relative to where pytest was started, as pytest writes it
            refused = project.report_over_input(option, config.invocation_params.dir / given)
            if refused is not None:
                raise pytest.UsageError(refused)


def _reporting(config: pytest.Config) -> bool:
    """Whether scenario items carry their report entries: a report file was asked for, or a CI page waits
    in a project that uses the harness (GitHub sets $GITHUB_STEP_SUMMARY for every job, harness or not)."""
    if config.getoption("harness_html") or config.getoption("harness_summary_md"):
        return True
    return bool(os.environ.get(STEP_SUMMARY)) and agents_file(config) is not None


def agents_file(config: pytest.Config) -> Path | None:
    """The agents file this run uses, or None where the project has not opted in (see the module doc)."""
    if AGENTS_KEY in config.stash:
        return config.stash[AGENTS_KEY]
    found: Path | None
    if given := _path_setting(config, "harness_agents"):  # relative to where pytest was started, as --junitxml
        found = _named_agents_file(config.invocation_params.dir / given, f"--harness-agents {given}")
    elif given := _path_setting(config, "harness_agents", ini=True):
        found = _named_agents_file(config.rootpath / given, f"the ini key harness_agents = {given}")
    else:
        named = _agents_file_by_name(config.rootpath, searching_up=config.inipath is None)
        found = named if named is not None and _looks_like_ours(named) else None
        if named is not None and found is None and not hasattr(config, "workerinput") and _harness_like(named):
            _warn_not_ours(config, named)
    config.stash[AGENTS_KEY] = found
    return found


def _named_agents_file(path: Path, said: str) -> Path:
    """The agents file an option or ini key names, or a usage error said once, before anything runs (as
    `harness run --agents` says it), rather than the same failure for every scenario."""
    if path.is_dir():
        raise pytest.UsageError(f"{said}: {path} is a folder; name the agents file (agents.yaml)")
    if not path.exists():
        raise pytest.UsageError(f"{said}: {path}: file not found")
    return path


def _path_setting(config: pytest.Config, name: str, *, ini: bool = False) -> str:
    """The path an option or ini key gives ("" for none), as a usage error when no path can be it:
    pyproject.toml's TOML gives an ini key as a list or a number as readily as a string, and a "\\u0000"
    there (or in `addopts`) is a NUL no file name can hold."""
    if ini:
        with warnings.catch_warnings():  # pytest's own word on a list for a string ("deprecated"): told below
            warnings.simplefilter("ignore", DeprecationWarning)
            value = config.getini(name)
    else:
        value = config.getoption(name)
    said = f"the ini key {name}" if ini else f"--{name.replace('_', '-')}"
    if value is None:
        return ""
    if not isinstance(value, str):
        raise pytest.UsageError(f"{said} should be one path (a string), not {type(value).__name__}: {value!r}")
    if "\x00" in value:
        raise pytest.UsageError(f"{said} holds a NUL character, which no path can: {value!r}")
    return value


def _find_agents_file(rootdir: Path, searching_up: bool, stop: Path | None = None) -> Path | None:
    """The harness agents file at `rootdir`, or (`searching_up`) in the first folder above it that has one,
    up to the project's root (or `stop`, left out). A file of that name that is not the harness's is not."""
    named = _agents_file_by_name(rootdir, searching_up, stop)
    return named if named is not None and _looks_like_ours(named) else None


def _harness_like(path: Path) -> bool:
    """A folder laid out as a harness project (`scenarios/` or `cassettes/` beside the file): where an agents
    file not taken is worth a word. Another tool's `agents.yaml` (CrewAI's) costs its project no warning,
    which `-W error` would have made an error."""
    return any((path.parent / folder).is_dir() for folder in (DEFAULT_SCENARIOS, "cassettes"))


def _warn_not_ours(config: pytest.Config, path: Path) -> None:
    """Said once, as a pytest warning (which `filterwarnings` can silence in a project whose `agents.yaml` is
    another tool's): a harness agents file not taken for one left its scenarios uncollected without a word."""
    shown = os.path.relpath(path, config.rootpath) if path.is_relative_to(config.rootpath) else str(path)
    config.issue_config_time_warning(
        pytest.PytestConfigWarning(
            f"harness: {shown} is not taken for the harness's agents file (no top-level `agents:` key nor "
            f"`agents.schema.json` in its first {AGENTS_FILE_LIMIT // (1024 * 1024)} MB), so no scenario is "
            f"collected; if it is the harness's, name it with the ini key `harness_agents = {shown}`"
        ),
        stacklevel=2,
    )


def _agents_file_by_name(rootdir: Path, searching_up: bool, stop: Path | None = None) -> Path | None:
    """The first `agents.yaml` at `rootdir` or (`searching_up`) above it, as `_find_agents_file` looks,
    whether or not it is the harness's."""
    folder = rootdir
    while folder != stop:
        candidate = folder / DEFAULT_AGENTS_FILE
        if candidate.is_file() or candidate.is_symlink():  # a link that leads nowhere: the run says so
            return candidate
        if not searching_up or folder.parent == folder or any((folder / m).exists() for m in PROJECT_MARKERS):
            return None
        folder = folder.parent
    return None


def _looks_like_ours(path: Path) -> bool:
    """Whether an `agents.yaml` found by its name is the harness's: it has a top-level `agents:` key, or
    names the harness's schema. Other tools use the name too (CrewAI's is a mapping of agent names to
    `role`, `goal`, `backstory`), and the plugin is installed into every project of the environment. Read
    cheaply (no YAML parser): its first 64 KiB, then, where the key is not there (a long comment first), the
    rest up to the harness's limit on the file; a file that cannot be read (a link that leads nowhere, not a
    regular file) is taken as ours, so that the run says what is wrong with it, as `harness run` does."""
    try:  # without blocking: a link to a FIFO would wait for a writer
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                return True
            text = os.read(descriptor, 65536)
            if _names_our_key(text):
                return True
            rest: list[bytes] = []
            size = len(text)
            while size < AGENTS_FILE_LIMIT and (chunk := os.read(descriptor, AGENTS_FILE_LIMIT - size)):
                rest.append(chunk)
                size += len(chunk)
        finally:
            os.close(descriptor)
    except OSError:
        return True
    return bool(rest) and _names_our_key(text + b"".join(rest))


def _names_our_key(text: bytes) -> bool:
    """Whether `text`, an agents file read, has a top-level `agents:` key or names the harness's schema."""
    if b"\x00" in text[:4]:  # UTF-16 or UTF-32 (ASCII keys there are ASCII bytes among NULs)
        text = text.replace(b"\x00", b"")
    return bool(OUR_AGENTS_FILE.search(text) or FLOW_AGENTS_FILE.match(text))


class _MaskedLogs(logging.Filter):
    """The run's secrets masked in each record the root logger's handlers write (pytest's live log and its
    --log-file, a user's own): while a scenario records, the HTTP libraries log each request's URL (with a
    base URL's user and password, `?api-key=`) and their headers. The secrets are worked out at the first
    record, so a run that logs nothing loads nothing for it."""

    def __init__(self, config: pytest.Config) -> None:
        super().__init__()
        self.config = config
        self.secrets: Secrets | None = None
        self.busy = False

    def filter(self, record: logging.LogRecord) -> bool:
        if self.busy:  # a record logged while the secrets are worked out
            return True
        if self.secrets is None:
            self.busy = True
            try:
                self.secrets = _secrets(self.config)
            finally:
                self.busy = False
        message = record.getMessage()
        masked = self.secrets.mask(message) if self.secrets.found_in(message) else message
        # An answer's credential headers are logged before the harness learns them (the first cookie):
        # masked by name, as the HTTP libraries show headers ((b'Set-Cookie', b'...'), {'set-cookie': [...]})
        masked = _credential_header_values().sub(lambda m: m[1] + MASKED, masked)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.secrets.found_in(record.exc_text):
            record.exc_text = self.secrets.mask(record.exc_text)
        return True


MASKED = "<SECRET>"  # as harness.secrets.MASK (not imported: loading the plugin stays light)


@functools.cache
def _credential_header_values() -> re.Pattern[str]:
    from harness.secrets import SECRET_HEADERS

    names = "|".join(re.escape(name) for name in SECRET_HEADERS)
    return re.compile(rf"""(?i)(['"](?:{names})['"]\s*[:,]\s*\[?\s*b?['"])[^'"]+""")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Where the plugin found no agents file but one sits where pytest was started (or between there and
    the rootdir), and nothing was collected or its scenarios were named: say why nothing of it ran. In a
    sub-project of a repository whose pytest config is at its root, the rootdir is the repository's."""
    if config.getoption("help", False) or agents_file(config) is not None:
        return
    unused = _find_agents_file(config.invocation_params.dir, searching_up=True, stop=config.rootpath)
    if unused is None:
        return
    if exitstatus != pytest.ExitCode.NO_TESTS_COLLECTED and not _names_scenarios(config, unused.parent):
        return
    from shlex import quote

    config_file = f" (its config file {_from_start(config, config.inipath)})" if config.inipath else ""
    terminalreporter.write_line(
        f"harness: {_from_start(config, unused)} is not used, so no scenario was collected: pytest's rootdir "
        f"is {_from_start(config, config.rootpath)}{config_file}, and the plugin looks for agents.yaml there; "
        f"name it with the ini key `harness_agents = {os.path.relpath(unused, config.rootpath)}` or with "
        f"--harness-agents {quote(_from_start(config, unused))}"
    )


def _names_scenarios(config: pytest.Config, root: Path) -> bool:
    """Whether a path on the command line is in (or is) a scenario folder beside `root`'s agents file."""
    folders = [root / folder for folder in config.getini("harness_scenarios")]
    for arg in config.args:
        path = Path(os.path.abspath(config.invocation_params.dir / arg.partition("::")[0]))
        if any(path.is_relative_to(folder) for folder in folders):
            return True
    return False


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    """Inside pytest's logging plugin, which hands the root logger its live-log and --log-file handlers for
    the run: each of them masks the run's secrets while the tests run."""
    if agents_file(session.config) is None:
        return (yield)
    masked = _MaskedLogs(session.config)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(masked)
    try:
        return (yield)
    finally:
        for handler in handlers:
            handler.removeFilter(masked)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A link back to a folder it is in (`scenarios/chat/loop -> ..`) is not walked: pytest would collect
    every scenario again at each level, down to the system's limit on links (the CLI reads each file once).
    Inside a scenarios folder pytest walks as `harness run` does (`_walked_as_the_harness_walks`). Only in
    a project that uses the harness; one lstat a path, a resolve only for a link."""
    agents = agents_file(config)
    if agents is None:
        return None
    if collection_path.is_symlink():
        try:
            target = collection_path.resolve()
        except (OSError, RuntimeError):  # a loop of links that resolves nowhere
            return True
        folder = collection_path.parent.resolve()
        if target == folder or target in folder.parents:
            return True
        # `harness run` follows no link to a folder in a scenarios folder (a link to a file it reads)
        inside = _in_a_scenario_folder(collection_path, agents, config) is not None
        return True if inside and target.is_dir() else None
    return _walked_as_the_harness_walks(collection_path, config)


def _walked_as_the_harness_walks(path: Path, config: pytest.Config) -> bool | None:
    """In a scenarios folder, a folder pytest alone would skip (`norecursedirs`: `build/`, `dist/`, a
    dot-folder as `.wip/`, `node_modules/`; a virtualenv) is walked, as `harness run`, `validate` and
    `cassettes check` walk it: its scenarios failed the CLI and pytest passed without them. Only the
    scenario files are taken from such a folder (a Python test module there stays uncollected, as before),
    and what the user leaves out by name (`--ignore`, `--ignore-glob`, a conftest's `collect_ignore`) stays
    out. Outside the scenarios folders nothing changes."""
    agents = agents_file(config)
    folder = _scenario_folder_holding(path, agents, config) if agents is not None else None
    if folder is None:
        return None
    walked = config.stash.setdefault(WALKED_FOR_THE_HARNESS_KEY, set())
    if path.is_dir():
        from harness.project import HISTORY_FOLDER  # not walked by the harness: pytest's as before

        if path.name in (HISTORY_FOLDER, "__pycache__") or _left_out_by_name(path, config):
            return None
        if _pytest_alone_ignores(path, config):
            walked.add(path)
            return False
        return None
    if walked and path.suffix not in SUFFIXES and any(parent in walked for parent in path.parents):
        return True
    return None


def _pytest_alone_ignores(path: Path, config: pytest.Config) -> bool:
    """Whether pytest, without this plugin, would leave `path` out (its own rules, a conftest's hook)."""
    import sys

    caller = config.pluginmanager.subset_hook_caller("pytest_ignore_collect", [sys.modules[__name__]])
    return bool(caller(collection_path=path, config=config))


def _left_out_by_name(path: Path, config: pytest.Config) -> bool:
    """Whether `--ignore`, `--ignore-glob` or a conftest's `collect_ignore` or `collect_ignore_glob` above
    `path` names it (as pytest reads them; relative to the conftest's folder)."""
    import fnmatch

    paths = [Path(os.path.abspath(given)) for given in config.getoption("ignore", None) or []]
    globs = [os.path.abspath(given) for given in config.getoption("ignore_glob", None) or []]
    for plugin in config.pluginmanager.get_plugins():
        file = getattr(plugin, "__file__", None)
        if not isinstance(file, str) or os.path.basename(file) != "conftest.py":
            continue
        here = Path(file).parent
        if path.parent.is_relative_to(here):
            paths += [Path(os.path.abspath(here / str(given))) for given in getattr(plugin, "collect_ignore", ()) or ()]
            globs += [os.path.abspath(here / str(g)) for g in getattr(plugin, "collect_ignore_glob", ()) or ()]
    return path in paths or any(fnmatch.fnmatch(str(path), glob) for glob in globs)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in SUFFIXES:
        return None
    agents = agents_file(parent.config)
    if agents is None:
        return None
    if _in_cassettes(file_path, parent.config):  # a cassette mirrors a scenario's path
        return None
    relative = _in_a_scenario_folder(file_path, agents, parent.config)
    if relative is None:
        return None
    from harness.project import HISTORY_FOLDER

    if HISTORY_FOLDER in relative.parts[:-1]:
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A scenario folder's links to no file (`scenarios/gone.yaml -> moved.yaml`) are scenario items too,
    which fail with the located "file not found" `harness run` and `validate` give (exit 2 there): pytest
    walks past an entry that is neither a file nor a folder without a word (as it does a test module's), and
    the suite passed where the CLI refused it."""
    report = yield
    if report.outcome != "passed" or not isinstance(collector, pytest.Dir | pytest.Package):
        return report
    agents = agents_file(collector.config)
    if agents is None or _in_a_scenario_folder(collector.path / SUFFIXES[0], agents, collector.config) is None:
        return report
    found = [
        node
        for path in _links_to_nothing(collector.path)
        if not collector.ihook.pytest_ignore_collect(collection_path=path, config=collector.config)
        and (node := pytest_collect_file(path, collector)) is not None
    ]
    if found:  # in pytest's order, by name
        report.result = sorted([*report.result, *found], key=lambda node: node.path.name)
    return report


def _links_to_nothing(folder: Path) -> list[Path]:
    """The scenario files in `folder` that are links whose target does not exist."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return [
        Path(entry.path)
        for entry in entries
        if entry.name.endswith(SUFFIXES) and entry.is_symlink() and not os.path.exists(entry.path)
    ]


# pytest's outcome exceptions (BaseException, not Exception): `pytest.skip`, `importorskip`, `fail`, `xfail`
# called by a tool module as it is imported. They are the outcome of the items that load it, never the
# session's INTERNALERROR.
_OUTCOMES = (pytest.skip.Exception, pytest.fail.Exception)

HARNESS_FIXTURES = frozenset({"harness_agent", "harness_runner", "harness_cassette_path"})


def pytest_collection_finish(session: pytest.Session) -> None:
    """Once collection is done, before any test runs: the harness imported, the agents file and its tool
    modules loaded, and the scenarios' cassettes sharing worked out. Done in the first test's setup, that
    counted against its time, and a per-test timeout (pytest-timeout) landing in the middle of an import
    left a half-initialized module (`partially initialized module 'yaml'`) that every later test failed
    on. Only where tests of the harness were collected (under pytest-xdist, in each worker), and not for
    `--collect-only`."""
    config = session.config
    if config.option.collectonly or not session.items or agents_file(config) is None:
        return
    scenarios = any(isinstance(item, ScenarioItem) for item in session.items)
    fixtures = any(HARNESS_FIXTURES.intersection(getattr(item, "fixturenames", ())) for item in session.items)
    if scenarios or fixtures:
        _warm_up(session, scenarios, fixtures)


def _warm_up(session: pytest.Session, scenarios: bool, fixtures: bool) -> None:
    """What the first scenario or `harness_agent` test would do first (see pytest_collection_finish). A
    mistake met here (in the agents file, a tool module, a scenario) is left for each test to say."""
    import harness.scenarios.model
    import harness.scenarios.runner
    import harness.store  # the fixture's agents keep their state in one

    config = session.config
    try:
        runner = _runner(config)
        if not runner.project.replaying:  # the HTTP clients, the SDK and vcrpy
            import harness.cassettes.recording
            import harness.llm.openai_client
        runner.factory.secrets()  # reads the agents file, importing the tool modules it names
        for spec in runner.factory.config.agents.values():  # pydantic imports more the first time it writes one
            for tool in spec.tools:
                tool.parameters_schema()
        if fixtures:
            import harness.cassettes.python_tests  # noqa: F401  (the fixtures name a test's cassette with it)
        if scenarios:
            _sharing_mistakes(session)
    except (Exception, *_OUTCOMES):  # `pytest.skip` in a tool module too: the items' setup raises it again
        if SHARING_KEY in config.stash:  # worked out part way: the first setup works it out again, and says why
            del config.stash[SHARING_KEY]


def _check_scenario_folders(config: pytest.Config, root: Path) -> None:
    """A folder the `harness_scenarios` ini key names that is not there (`senarios`) is a usage error, as
    one `harness_agents` names: pytest collected no scenario and passed. A project without the default
    `scenarios/` (one with only `harness_agent` tests) has nothing to collect, as `harness run` has none."""
    folders = config.getini("harness_scenarios")
    if folders == [DEFAULT_SCENARIOS]:
        return
    said = f"the ini key harness_scenarios = {' '.join(folders)}"
    for folder in folders:
        places = list(dict.fromkeys([root / folder, config.rootpath / folder]))
        if any(place.is_dir() for place in places):
            continue
        where = " nor ".join(str(place) for place in places)
        what = "is not a folder" if any(place.exists() for place in places) else "no such folder"
        raise pytest.UsageError(
            f"{said}: {folder}: {what} ({where}); name the folders that hold the scenarios, beside the agents "
            f"file {agents_file(config)} (default: {DEFAULT_SCENARIOS})"
        )


def _in_a_scenario_folder(path: Path, agents: Path, config: pytest.Config) -> Path | None:
    """`path` relative to its scenario folder when it lies in one: a folder the `harness_scenarios`
    ini key names (`scenarios`) beside the agents file, as `harness run` finds them, or (for a path not
    under that file's folder, as when the ini key names an agents file kept apart) at the rootdir. YAML in a
    `scenarios` folder deeper down (`docs/scenarios/`, a unit test's `tests/fixtures/scenarios/`) is not a
    scenario of the project."""
    folder = _scenario_folder_holding(path, agents, config)
    return None if folder is None or folder == path else path.relative_to(folder)


def _scenario_folder_holding(path: Path, agents: Path, config: pytest.Config) -> Path | None:
    """The scenario folder (see `_in_a_scenario_folder`) that is `path` or holds it, or None."""
    bases = config.stash.get(SCENARIO_BASES_KEY, None)
    if bases is None:
        root = agents.parent
        bases = (root, Path(os.path.realpath(root)), config.rootpath)
        config.stash[SCENARIO_BASES_KEY] = bases
    folders = [Path(folder).parts for folder in config.getini("harness_scenarios")]
    for base in bases:
        if path.is_relative_to(base):
            relative = path.relative_to(base)
            for folder in folders:
                if folder and relative.parts[: len(folder)] == folder:
                    return base.joinpath(*folder)
            return None
    return None


def _in_cassettes(path: Path, config: pytest.Config) -> bool:
    """Whether `path` is in the cassette folder, either spelt through a link (a real path looked up once a
    folder a session)."""
    cassettes = _project(config).cassettes_dir
    if path.parts[: len(cassettes.parts)] == cassettes.parts:
        return True
    folders = config.stash.setdefault(CASSETTE_FOLDERS_KEY, {})
    known = folders.get(path.parent)
    if known is None:
        known = folders[path.parent] = Path(os.path.realpath(path.parent)).is_relative_to(os.path.realpath(cassettes))
    return known


def harness_project(config: pytest.Config) -> Project:
    """The run's `Project`, from the harness options and ini keys."""
    from harness.errors import UserError
    from harness.project import Project

    given = _path_setting(
        config, "harness_cassettes"
    )  # relative to where pytest was started; the ini key to the rootdir
    cassettes = (
        config.invocation_params.dir / given if given else _path_setting(config, "harness_cassettes", ini=True) or None
    )
    try:
        agents = agents_file(config)
        root = agents.parent if agents is not None else config.rootpath
        return Project.build(
            agents=agents,
            # Every folder the ini key names is a scenarios folder: the cassette folder may overlap none.
            scenario_folders=[root / folder for folder in config.getini("harness_scenarios")],
            cassettes=cassettes,
            record_mode=config.getoption("harness_record_mode") or RecordMode.NONE,
            base_url=config.getoption("harness_base_url"),
            model_name=config.getoption("harness_model"),
            relative_to=config.rootpath,
        )
    except UserError as exc:
        raise pytest.UsageError(
            str(exc)
            .replace("(--cassettes)", "(--harness-cassettes, or harness_cassettes)")
            .replace("(--base-url)", "(--harness-base-url)")
        ) from None


def _project(config: pytest.Config) -> Project:
    project = config.stash.get(PROJECT_KEY, None)
    if project is None:
        project = config.stash[PROJECT_KEY] = harness_project(config)
    return project


def _runner(config: pytest.Config) -> ScenarioRunner:
    runner = config.stash.get(RUNNER_KEY, None)
    if runner is None:
        from harness.factory import AgentFactory
        from harness.scenarios.runner import ScenarioRunner

        runner = ScenarioRunner(
            AgentFactory(_project(config)),
            update_snapshots=bool(config.getoption("harness_update_snapshots")),
            record_command=functools.partial(_record_command, config),
        )
        config.stash[RUNNER_KEY] = runner
    return runner


def _record_command(
    config: pytest.Config, path: Path, test: str = "", *, anew: bool = False, every_option: bool = False
) -> str:
    """How to record a scenario file (or, with `test`, the Python test `path::test`) from where pytest was
    started: pytest itself, with the harness options given on this command line (the ini keys apply anyway),
    or (`every_option`) every option given on it, quoted for a shell (a path or a test id with a space, or
    `[...]`, which zsh would glob). `harness record` would miss those options, and from a subfolder it would
    not find the agents file."""
    from shlex import quote

    if every_option:
        options = "".join(f" {quote(option)}" for option in _options_given(config))
    else:
        options = "".join(
            f" --{name.replace('_', '-')} {quote(_from_start(config, config.invocation_params.dir / given))}"
            for name in ("harness_agents", "harness_cassettes")
            if (given := config.getoption(name))
        )
    target = _from_start(config, path) + (f"::{test}" if test else "")
    return f"pytest --harness-record-mode {'all' if anew else 'new'}{options} {quote(target)}"


def _python_test_record_command(item: pytest.Item) -> str:
    """The record command of a Python test: its node id, from where pytest was started. An id holding a
    parameter another plugin or a conftest made (pytest-repeat's `--count 3` makes `test_a[1-3]`) may exist
    only with this run's options: the command keeps them all, so that pasted it selects the test."""
    test = item.nodeid.partition("::")[2]
    return _record_command(item.config, item.path, test, every_option=_parametrized_by_a_hook(item))


def _parametrized_by_a_hook(item: pytest.Item) -> bool:
    """Whether the test's id holds a parameter that neither a `parametrize` mark nor a fixture's `params`
    made: a `pytest_generate_tests` hook did, which may read the command line."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return False
    made: set[str] = set()
    for mark in item.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        made |= {name.strip() for name in names.split(",")} if isinstance(names, str) else set(names)
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    made |= {name for name, chain in definitions.items() if chain and chain[-1].params is not None}
    return any(name not in made for name in callspec.params)


def _options_given(config: pytest.Config) -> list[str]:
    """The options on this run's command line, in order: its paths and test ids, and its record mode (the
    command gives its own), left out."""
    paths = list(config.args) if config.args_source == pytest.Config.ArgsSource.ARGS else []
    options: list[str] = []
    arguments = iter(config.invocation_params.args)
    for argument in arguments:
        if argument == "--harness-record-mode":
            next(arguments, None)
        elif paths and argument == paths[0]:
            paths.pop(0)
        elif not argument.startswith("--harness-record-mode="):
            options.append(argument)
    return options


def _from_start(config: pytest.Config, path: Path) -> str:
    """`path` as typed in the folder pytest was started in (a test may have changed the current one)."""
    try:
        return os.path.relpath(Path(path).absolute(), config.invocation_params.dir)
    except ValueError:  # another drive
        return str(Path(path).absolute())


def _secrets(config: pytest.Config) -> Secrets:
    """The run's secrets: the agents' too when the agents file loads, else the environment's and the
    endpoint override's."""
    from harness.secrets import Secrets

    try:
        return _runner(config).factory.secrets()
    except (Exception, *_OUTCOMES):  # the agents file failed to load (a tool module called `pytest.skip`
        # too): each item says how, its setup raising it again; this must not end the session
        return Secrets.collect(urls=[config.getoption("harness_base_url")])


def _mask_report(report: pytest.TestReport, secrets: Secrets) -> None:
    """The report's failure text and captured output, masked, with the pieces of a secret a shortened value
    shows (pytest's `'I read your...gHjKlZxCvBnM'`). A failure pytest represents keeps its structure, masked
    in place: the crash line, which the short summary and JUnit's `message` show, stays the assertion's."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = longrepr
        report.longrepr = (path, line, secrets.mask_shortened(reason))
    elif isinstance(longrepr, str) or (longrepr is not None and dataclasses.is_dataclass(longrepr)):
        report.longrepr = _masked_in_place(longrepr, secrets, set())
    elif longrepr is not None:  # another plugin's representation: its text
        text = str(longrepr)
        masked = secrets.mask_shortened(text)
        if masked != text:
            report.longrepr = masked
    report.sections = [(title, secrets.mask_shortened(content)) for title, content in report.sections]


def _masked_in_place(value: Any, secrets: Secrets, seen: set[int]) -> Any:
    """`value`, part of pytest's representation of a failure (dataclasses holding text, lists and tuples),
    with its text masked; its dataclasses are changed in place (one may be reached twice: a chain holds its
    last traceback, which the representation names again). A list of lines (a traceback entry's) is masked
    as one text, so that a diff's "Skipping N identical leading characters" is read with the lines after it."""
    if isinstance(value, str):
        return secrets.mask_shortened(value)
    if isinstance(value, list) and value and all(isinstance(line, str) and "\n" not in line for line in value):
        return secrets.mask_shortened("\n".join(value)).split("\n")
    if isinstance(value, list | tuple):
        return type(value)(_masked_in_place(part, secrets, seen) for part in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and id(value) not in seen:
        seen.add(id(value))
        for field in dataclasses.fields(value):
            # pytest's are not frozen today; set as for a frozen one all the same
            object.__setattr__(value, field.name, _masked_in_place(getattr(value, field.name), secrets, seen))
    return value


def _shown(path: Path) -> Path:
    """The path as the user would type it from here, so reports and re-record commands read naturally."""
    try:
        return Path(os.path.relpath(path))
    except ValueError:  # another drive
        return path


class ScenarioFile(pytest.File):
    """A scenario file: one item, named after the file. Nothing is read while collecting, so collection
    stays cheap (pytest-xdist collects in every worker); the file is read when its item is set up."""

    def collect(self) -> Iterator[pytest.Item]:
        item = ScenarioItem.from_parent(self, name=self.path.stem)
        item.add_marker(pytest.mark.harness_scenario)
        # `-k chat/remember` selects by the path from the project's root, as `harness run -k` does
        item.extra_keyword_matches.add(_project(self.config).relative(self.path))
        yield item


class ScenarioItem(pytest.Item):
    """One scenario file: one scenario, or every row of its `dataset`, each repeat recorded of each (the item
    fails if any of them does)."""

    scenarios: list[tuple[Scenario, AgentSpec]] | None = None
    results: list[ScenarioResult] | None = None
    mistake: Exception | None = None

    def setup(self) -> None:
        """Read and check the scenario, and mark it xfail when it documents a misbehaviour: pytest's xfail
        plugin evaluates marks again when the test is called, so strict XPASS and --runxfail work as for
        any marked test. A mistake in the scenario (or in agents.yaml) fails this item alone, with the
        located message, when it is called."""
        from harness.errors import HarnessError, ScenarioError
        from harness.scenarios.model import load_scenarios_partially

        try:
            loaded, problems = load_scenarios_partially(_shown(self.path))
            if problems:
                raise ScenarioError(problems)
            runner = _runner(self.config)
            self.scenarios = [(scenario, runner.spec_for(scenario)) for scenario in loaded]
            shared = _sharing_mistakes(self.session).get(self.path.resolve())
            if shared:
                raise ScenarioError(shared)
        except HarnessError as exc:
            self.mistake = exc
            return
        reason = next((scenario.xfail for scenario, _ in self.scenarios if scenario.xfail is not None), None)
        if reason is not None:  # masked: pytest prints the reason, and JUnit XML keeps it
            reason = _secrets(self.config).mask(reason)
            self.add_marker(pytest.mark.xfail(reason=reason, strict=True, raises=ScenarioFailed))

    def runtest(self) -> None:
        if self.mistake is not None:
            raise self.mistake
        assert self.scenarios is not None, "set up first"
        from harness.scenarios.results import Outcome

        runner = _runner(self.config)
        # Every repeat recorded (`harness record --repeat K`), as `harness run` plays them: one verdict.
        runs = runner.replayed_runs(scenario for scenario, _ in self.scenarios)
        specs = {id(scenario): spec for scenario, spec in self.scenarios}
        results = self.results = [
            runner.run(scenario, specs[id(scenario)], variant=variant) for scenario, variant in runs
        ]
        self.user_properties.append(("steps", sum(result.steps for result in results)))
        judged_runs = [result for result in results if result.judgements]
        mask = _secrets(self.config).mask if judged_runs else str  # the secrets are read anew: only when used
        for result in judged_runs:  # every judge's score, a passing one's too: JUnit XML keeps them as properties
            for judged in result.judgements:
                line = result.scenario.line(judged.loc)
                where = f"line {line}, " if line else ""
                self.user_properties.append(("judge", mask(where + judged.said())))
        stale = [result for result in results if result.stale or result.error]
        if stale:
            raise StaleCassette(*stale)
        xpassed = [result for result in results if result.outcome == Outcome.XPASSED]
        if xpassed and len(xpassed) < len(results) and not self.config.option.runxfail:
            raise XPassedRuns(*xpassed)  # the others failed: without this the item would be xfailed
        failed = [result for result in results if result.failures]
        if failed:
            raise ScenarioFailed(*failed)

    def teardown(self) -> None:
        """Its report made, the item lets go of its scenarios and results: a session holds every item to
        the end, and a thousand results kept alive are what each full garbage collection then walks."""
        self.scenarios = self.results = None

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        """A scenario's failure, a mistake or a harness error: its own text. Anything else (pytest ending the
        test, as a pytest-timeout timeout; a bug) keeps pytest's representation, whose crash line the short
        summary and JUnit's `message` show, from the item's `runtest` down: pytest's and pluggy's frames above
        it say nothing of the scenario. pytest's own outcomes show only the user's code they stopped (a
        custom tool), or the line they stopped at. `--fulltrace` shows every frame."""
        from harness.errors import HarnessError
        from harness.tools.runtime import stops_the_run

        if isinstance(excinfo.value, ScenarioFailed | StaleCassette | XPassedRuns | HarnessError):
            return str(excinfo.value)
        if not self.config.getoption("fulltrace", False):
            code = ScenarioItem.runtest.__code__
            cut = excinfo.traceback.cut(path=Path(code.co_filename), firstlineno=code.co_firstlineno - 1)
            traceback = cut.filter(excinfo)  # without the frames that hide themselves (`__tracebackhide__`)
            if stops_the_run(excinfo.value):
                traceback = traceback.filter(lambda entry: not _in_harness(str(entry.path))) or traceback[-1:]
            excinfo.traceback = traceback or cut
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"scenario: {self.name}"


def _sharing_mistakes(session: pytest.Session) -> dict[Path, list[Problem]]:
    """The problems of the session's scenario files that share a cassette with an earlier one holding
    another conversation, as `harness run` finds them among the scenarios it runs. Worked out once per
    process, at the first setup, over every item of the session (each xdist worker has them all). Only the
    files that name a `cassette:`, those whose default cassette one of them names, and those one folder
    holds under one name (`a.yaml` and `a.yml` mirror to one cassette, `Zoe.yaml` and `zoe.yaml` too where
    letter case is ignored) are read for it."""
    known = session.config.stash.get(SHARING_KEY, None)
    if known is not None:
        return known
    from harness.errors import HarnessError
    from harness.lookalike import folded
    from harness.scenarios.cassette_owners import bystanders, sharing_problems
    from harness.scenarios.model import load_scenarios_partially

    known = session.config.stash[SHARING_KEY] = {}
    paths = list(dict.fromkeys(item.path for item in session.items if isinstance(item, ScenarioItem)))
    runner = _runner(session.config)
    project = runner.factory.project
    # Recording, a cassette another scenario of the project owns would lose its exchanges, run or not.
    others = [] if project.replaying else bystanders(project.scenarios_dir, paths)
    naming = [path for path in paths if _mentions_a_cassette(path)]
    # `a.yaml` and `a.yml`, or `Zoe.yaml` and `zoe.yaml` (one file on macOS and Windows), have one cassette.
    stems = Counter(folded(str(path.with_suffix(""))) for path in paths)
    clashing = {path for path in paths if stems[folded(str(path.with_suffix("")))] > 1}
    if not naming and not clashing and not others:
        return known

    @functools.cache
    def load(path: Path) -> list[Scenario]:  # once a file: those naming a cassette are asked for twice
        try:
            loaded, problems = load_scenarios_partially(_shown(path))
        except HarnessError:
            return []
        return [] if problems else loaded

    named = {runner.cassette_path(scenario) for path in naming for scenario in load(path) if scenario.cassette}
    # A file that names none may still have one of those: its own (a row's, a matrix model's) starts so.
    named_texts = [str(path) for path in named]
    read = (set(naming) | clashing) if project.replaying else set(paths)
    scenarios: list[Scenario] = []
    for path in paths:
        if path in read or (
            named_texts
            and any(text.startswith(str(project.cassette_path(path).with_suffix(""))) for text in named_texts)
        ):
            scenarios += load(path)
    for scenario, problem in sharing_problems(scenarios, runner.cassette_path, lambda p: str(_shown(p)), others):
        known.setdefault(scenario.path.resolve(), []).append(problem)
    return known


def _mentions_a_cassette(path: Path) -> bool:
    """Whether the file's bytes say `cassette` (a cheap first sieve: a thousand files cost a few ms). Read
    without blocking (a FIFO) and bounded as the scenario loader reads; an unreadable file says so itself."""
    from harness.yamlsource import FILE_LIMITS

    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        return b"cassette" in os.read(descriptor, FILE_LIMITS.max_bytes)
    except OSError:
        return False
    finally:
        os.close(descriptor)


# ---------------------------------------------------------------- fixtures for tests written in Python


@pytest.fixture
def harness_runner(request: pytest.FixtureRequest) -> ScenarioRunner:
    """The session's runner: its project (agents file, cassette folder, record mode, endpoint overrides)
    and agent factory."""
    # The test's report is masked from here on: a project's own fixture named `harness_agent` is not ours.
    request.node.stash[USES_HARNESS_KEY] = True
    return _runner(request.config)


@pytest.fixture
def harness_cassette_path(request: pytest.FixtureRequest, harness_runner: ScenarioRunner) -> Path:
    """`<cassettes>/<test file path without .py>/<Class.>test name.yaml`, the path from the project's root
    (the agents file's folder; pytest's rootdir for a test file outside it), so pytest started in a
    subfolder finds the cassette a run from the root recorded. Override it to put cassettes elsewhere. One
    cassette per test: the classes a test is in are part of its name, and a name a file name cannot keep
    (`test_x[a/b]`, or one too long) is cut and gets a short hash of the exact name, so `[a/b]` and `[a_b]`
    do not share one (harness.cassettes.python_tests, which `harness cassettes check` reads too)."""
    from harness.cassettes.python_tests import cassette_folder, cassette_name

    project = harness_runner.project
    folder = cassette_folder(request.node.path, [project.root, request.config.rootpath])
    return project.cassettes_dir / folder / f"{cassette_name(_test_parts(request.node))}.yaml"


def _test_parts(node: pytest.Item) -> list[str]:
    """The classes a test is in and its own name, the same from any folder pytest starts in."""
    chain = node.listchain()
    module = next((i for i, parent in enumerate(chain) if isinstance(parent, pytest.Module)), None)
    return [parent.name for parent in chain[module + 1 :]] if module is not None else [node.name]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A scenario's report entry, for the HTML and Markdown reports; a Python test whose request is not in its
    cassette: say so with the diff and the re-record command, as a scenario would."""
    report = yield
    if call.when == "call" and isinstance(item, ScenarioItem) and _reporting(item.config):
        from harness.pytest_reports import ENTRY
        from harness.report import scenario_report, unrunnable_report

        root = _project(item.config).root
        if item.results is not None:  # one entry a scenario (a dataset file has one a row)
            entries = [scenario_report(result, root) for result in item.results]
        else:  # a mistake in the scenario or the agents file
            entries = [unrunnable_report(item.path, root, str(item.mistake or call.excinfo))]
        setattr(report, ENTRY, _secrets(item.config).mask_data(entries))  # masked before it leaves the worker
    # pytest's own strict XPASS (every run passed); XPassedRuns (some did) explains its runs itself
    xpassed = report.failed and call.excinfo is None and str(report.longrepr).startswith("[XPASS(strict)]")
    if call.when == "call" and isinstance(item, ScenarioItem) and xpassed and item.results:
        from harness.scenarios.results import Outcome

        # pytest says only `[XPASS(strict)] <reason>`: say where, and what to do, as `harness run` does
        report.longrepr = _xpassed([result for result in item.results if result.outcome == Outcome.XPASSED])
    miss = call.excinfo.value if call.excinfo is not None else None
    if miss is not None and type(miss).__name__ == "CassetteMiss":
        from harness.errors import CassetteMiss

        if isinstance(miss, CassetteMiss):
            cassette = Path(miss.cassette)
            if not cassette.exists():
                lines = [f"{item.nodeid}: not recorded yet (no cassette at {_shown(cassette)})"]
                lines.append(f"  record it with: {_python_test_record_command(item)}")
            else:
                lines = [
                    f"{item.nodeid}: no recorded response in {_shown(cassette)} for a request this test made "
                    f"({miss.reason('the agent, its prompt or tools, the model settings or the test changed')})"
                ]
                lines += miss.diff_lines()
                lines.append(f"  re-record with: {_python_test_record_command(item)}")
            report.longrepr = "\n".join(lines)
    elif isinstance(miss, UnplayedInteractions | SecretsSent):  # its message says it all, not the hook raising it
        report.longrepr = str(miss)
    harness_item = isinstance(item, ScenarioItem) or item.stash.get(USES_HARNESS_KEY, False)
    if harness_item and call.when == "call" and call.excinfo is not None and report.failed:
        _hide_harness_frames(item, call.excinfo, report)
    if harness_item and (report.longrepr is not None or report.sections):
        _mask_report(report, _secrets(item.config))
    return report


HARNESS_PACKAGE = Path(__file__).parent  # spelt as the package's modules' code names their files


def _hide_harness_frames(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException], report: Any) -> None:
    """A harness error in a Python test (an endpoint out of reach, a tool that failed) is shown at the
    test's line that called into the harness, with the error's message: the harness's own frames below it
    are hidden, as pytest hides its own (`--fulltrace` shows them)."""
    error = excinfo.value
    if not type(error).__module__.startswith("harness.") or item.config.getoption("fulltrace", False):
        return
    from harness.errors import CassetteMiss, HarnessError

    if not isinstance(error, HarnessError) or isinstance(error, CassetteMiss):  # a miss is told above
        return
    function = getattr(item, "obj", None)
    code = getattr(inspect.unwrap(function), "__code__", None) if callable(function) else None
    entry: TracebackType | None = excinfo.tb
    while entry is not None and entry.tb_frame.f_code is not code:
        entry = entry.tb_next
    if entry is None or code is None:
        return
    while entry.tb_next is not None and not _in_harness(entry.tb_next.tb_frame.f_code.co_filename):
        entry = entry.tb_next  # the test's own helpers, between it and the harness
    if entry.tb_next is None:
        return
    entry.tb_next = None  # pytest rebuilds its traceback from these entries: cut here
    excinfo.traceback = type(excinfo.traceback)(excinfo.tb)
    report.longrepr = item.repr_failure(excinfo)


def _in_harness(filename: str) -> bool:
    return Path(filename).is_relative_to(HARNESS_PACKAGE)


class UnplayedInteractions(Exception):
    """A Python test replayed less than its cassette holds: it recorded another conversation."""


class SecretsSent(Exception):
    """A Python test recorded a request holding a secret's value: its cassette can never replay."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A test that passed but left recorded exchanges unplayed fails, as a scenario does: otherwise a
    cassette that kept stale exchanges would pass for the old and the new config alike."""
    yield
    cassette = item.stash.get(FIXTURE_CASSETTE_KEY, None)
    sent = cassette.secrets_sent() if cassette is not None else []  # recording: nothing sent in replay
    if cassette is not None and sent:
        # As a scenario's recording says it: the cassette masks the value, so it could never replay.
        places = "; ".join(f"{found.place} held the value of {' and '.join(found.names)}" for found in sent)
        raise SecretsSent(
            f"{item.nodeid}: a request this test recorded held a secret's value ({places}): the cassette "
            f"{_shown(cassette.path)} masks it as {MASKED}, so it holds another request than the one the test sends, "
            "and it can never replay: keep secrets out of prompts, messages and tool results (a tool can say it "
            f"has a token without returning it), then record it again with: {_python_test_record_command(item)}"
        )
    if cassette is not None and cassette.unplayed:
        raise UnplayedInteractions(
            f"{item.nodeid}: the cassette {_shown(cassette.path)} holds {len(cassette.unplayed)} recorded "
            f"interaction(s) this test never asked for (indexes {cassette.unplayed}): the agent, its prompt or "
            "tools, the model settings or the test changed\n"
            f"  re-record with: {_python_test_record_command(item)}"
        )


@pytest.fixture
def harness_agent(
    request: pytest.FixtureRequest, harness_runner: ScenarioRunner, harness_cassette_path: Path
) -> Iterator[Callable[..., Agent]]:
    """A factory: `harness_agent("chat", blocks={"human": "..."})` gives a fresh agent whose model
    exchanges replay from (or record into) this test's cassette, with its state in an in-memory store of
    its own. Called twice with one name it gives two agents (two of one spec talking, or a fresh one to
    compare with): each has its own id (`agent-chat-1`, `agent-chat-2`) and its own seeded ids, the same
    in every run, so the second replays as the first does."""
    from harness.clock import kept_random
    from harness.store import Store

    _refuse_an_input(request.config, harness_runner.project, harness_cassette_path)
    factory = harness_runner.factory
    stores: list[Store] = []
    made: list[AgentSpec] = []
    steps_given: dict[str, int] = {}  # a name's first agent's `max_steps=`: its fingerprint is of that spec
    try:
        # Python's `random` seeded when the first agent is made (a tool drawing numbers replays), and put
        # back as it was once the test is done: the other tests (and pytest-randomly) see no difference.
        with factory.cassette(harness_cassette_path) as cassette, kept_random():
            request.node.stash[FIXTURE_CASSETTE_KEY] = cassette

            def make(name: str, blocks: dict[str, str] | None = None, max_steps: int | None = None) -> Agent:
                __tracebackhide__ = True  # a mistake here is the test's: pytest shows the test's line
                spec = factory.spec(name, max_steps)
                _check_labels(spec, blocks or {})
                if max_steps is not None and all(earlier.name != spec.name for earlier in made):
                    steps_given[spec.name] = max_steps
                made.append(spec)
                if len(made) == 1:
                    factory.seed_random(spec, harness_cassette_path)
                agent_id = f"agent-{name}-{len(made)}"
                # The first agent of a name draws the ids it always drew; another draws its own.
                again = sum(1 for earlier in made if earlier.name == spec.name) > 1
                stores.append(Store(":memory:", factory.secrets()))
                return factory.new_agent(
                    spec,
                    cassette=cassette,
                    agent_id=agent_id,
                    blocks=blocks,
                    store=stores[-1],
                    ids_key=agent_id if again else None,
                )

            yield make
            if made:
                cassette.note_recording(made[-1].model, _test_fingerprint(made, steps_given))
    finally:
        for store in stores:
            store.close()


def _refuse_an_input(config: pytest.Config, project: Project, cassette: Path) -> None:
    """A `harness_cassette_path` (overridden) naming a file the run reads fails the test before anything is
    read or written: recording would replace that file with the cassette, replay would call it unreadable."""
    from harness.scenarios.cassette_owners import python_test_cassette_problem

    folders = [project.root / folder for folder in config.getini("harness_scenarios")]
    problem = python_test_cassette_problem(project, Path(cassette), folders, lambda path: str(_shown(path)))
    if problem is not None:
        pytest.fail(
            f"harness_cassette_path: {problem}; make the fixture return a path of its own, in the cassette "
            f"folder {_shown(project.cassettes_dir)}",
            pytrace=False,
        )


def _test_fingerprint(made: list[AgentSpec], steps_given: dict[str, int]) -> dict[str, Any]:
    """What a test's cassette stores of its agents (`metadata.agent`), so that `harness cassettes check`
    names a change to one of them: the first agent's fingerprint with its name, each other name's first
    agent's under `others`, and the `max_steps=` the test gave (the check builds each agent with it)."""
    from harness.fingerprint import STEPS_GIVEN_KEY, agents_fingerprint

    first: dict[str, AgentSpec] = {}
    for spec in made:
        first.setdefault(spec.name, spec)
    name, *others = first
    fingerprint = agents_fingerprint(first[name], {other: first[other] for other in others}, name=name)
    if steps_given:
        fingerprint[STEPS_GIVEN_KEY] = dict(steps_given)
    return fingerprint


def _check_labels(spec: AgentSpec, blocks: dict[str, str]) -> None:
    __tracebackhide__ = True
    import difflib

    from harness.errors import UserError

    labels = [block.label for block in spec.blocks]
    for label in blocks:
        if label not in labels:
            close = difflib.get_close_matches(label, labels, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise UserError(
                f"harness_agent('{spec.name}', blocks=...): agent '{spec.name}' has no block '{label}'; "
                f"{hint}its blocks: {', '.join(labels) or 'none'}"
            )
