"""A command's flags read into what it works on: the one Project, the options a suggested `harness record`
must repeat, and report paths checked before anything runs."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from harness.cassettes.mode import RecordMode
from harness.cli.console import shown
from harness.project import DEFAULT_AGENTS_FILE

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from harness.errors import HarnessError
    from harness.project import Project

# Folders that end the search for an agents file above the current one: a project's own root (as
# harness.pytest_plugin's PROJECT_MARKERS, which it does not import: loading the plugin stays light).
PROJECT_MARKERS = (".git", ".hg", "pyproject.toml", "setup.py", "setup.cfg", "tox.ini", "pytest.ini")


def project_of(args: argparse.Namespace) -> Project:
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
        record_mode=RecordMode.ALL if getattr(args, "live", False) else RecordMode(getattr(args, "mode", "none")),
        base_url=getattr(args, "base_url", None),
        model_name=getattr(args, "model", None),
    )


def scenario_paths(args: argparse.Namespace, project: Project) -> list[Path]:
    """Where a command looks for scenario files: the PATHs given, as typed; with none, the project's scenarios
    folder, or nowhere when the project has none. A project without one has nothing to run, as an empty
    folder (exit 5 for `run`, `record` and `cassettes check`), where a PATH typed that names nothing is a
    mistake (exit 2)."""
    from pathlib import Path

    if args.paths:
        return [Path(path) for path in args.paths]
    return [Path(shown(project.scenarios_dir))] if project.scenarios_dir.is_dir() else []


def no_scenarios_in(args: argparse.Namespace, project: Project) -> str:
    """Where a command found no scenario file, for the line that says so."""
    if args.paths:
        return " ".join(args.paths)
    folder = shown(project.scenarios_dir)
    return folder if project.scenarios_dir.is_dir() else f"{folder} (there is no such folder)"


def record_options(args: argparse.Namespace) -> tuple[str, ...]:
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


def report_path(given: str, flag: str = "--report", example: str = "report.json") -> Path:
    """Where a report goes, checked before anything runs: a run must not end unable to write its report.
    `example` is a file name of the report's kind, for the message that asks for one."""
    from pathlib import Path

    from harness.errors import UserError
    from harness.files import unwritable_reason

    if not given.strip():  # `--report ""`, an unset shell variable: not silently no report
        raise UserError(f"{flag} {given!r}: give a file name, e.g. {example}")
    path = Path(given)
    if os.path.isdir(path):  # False, not PermissionError, behind a folder it may not enter: said below
        raise UserError(f"{flag} {given}: is a folder; give a file name, e.g. {path / example}")
    reason = unwritable_reason(path)
    if reason is not None:
        raise UserError(f"{flag} {given}: {reason}")
    return path


def agents_file_hint(args: argparse.Namespace, argv: Sequence[str], exc: HarnessError) -> str:
    """When the current folder has no agents file (so the default one, or the state database beside it, was
    not found) but a folder above holds one (a command started from a subfolder of the project, as `pytest`
    may be): where it is, and the command again with --agents, ready to paste; "" otherwise. A hint, not a
    search the command makes itself: a folder above may be another project's, and the paths the command
    takes from here stay the ones typed."""
    import shlex

    from harness.errors import UserError
    from harness.project import DEFAULT_STATE_DB

    if getattr(args, "agents", None) != DEFAULT_AGENTS_FILE or not isinstance(exc, UserError):
        return ""
    here = os.path.abspath(DEFAULT_AGENTS_FILE)
    if os.path.exists(here):  # this folder's own agents file was read: one above is another project's
        return ""
    no_agents = any(p.message == "file not found" and os.path.abspath(p.file) == here for p in exc.problems)
    # the default state database is beside the default agents file, in this folder: named relative to it
    no_db = getattr(args, "db", "") is None and str(exc).startswith(f"{os.path.normpath(DEFAULT_STATE_DB)}: ")
    if not (no_agents or no_db):
        return ""
    above = agents_file_above(os.path.dirname(here))
    if above is None:
        return ""
    given = os.path.relpath(above)
    return (
        f"\nthe agents file is in a folder above this one: {given}; give it with --agents:"
        f"\n  harness {shlex.join([*argv, '--agents', given])}"
    )


def agents_file_above(folder: str) -> str | None:
    """The agents file of the first folder above `folder` that has one, up to the project's root (the first
    folder holding one of PROJECT_MARKERS, `folder` included), as the pytest plugin looks for it."""
    while not any(os.path.exists(os.path.join(folder, marker)) for marker in PROJECT_MARKERS):
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent
        candidate = os.path.join(folder, DEFAULT_AGENTS_FILE)
        if os.path.isfile(candidate):
            return candidate
    return None
