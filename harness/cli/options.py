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
    from pathlib import Path

    from harness.project import Project


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
    if path.is_dir():
        raise UserError(f"{flag} {given}: is a folder; give a file name, e.g. {path / example}")
    reason = unwritable_reason(path)
    if reason is not None:
        raise UserError(f"{flag} {given}: {reason}")
    return path
