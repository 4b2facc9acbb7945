"""`harness run` and `harness record`: the scenarios chosen and checked, played one after the other in this
process or in worker processes (`-j N`, see `harness.scenarios.pool`), then the summary and the reports."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from harness.cassettes.mode import RecordMode
from harness.cli.cassettes import needing_recording, stale_tests, tests_alone, tests_left, unreadable_left
from harness.cli.console import NO_SCENARIOS, Console, colour, printable, shown
from harness.cli.options import no_scenarios_in, project_of, record_options, report_path, scenario_paths
from harness.cli.scenario_files import every_problem, loaded_scenarios, refuse_overwriting_inputs

if TYPE_CHECKING:
    from pathlib import Path

    from harness.project import Project
    from harness.scenarios import Scenario, ScenarioRunner
    from harness.scenarios.hygiene import CassetteStatus
    from harness.scenarios.results import ScenarioResult


def run_command(args: argparse.Namespace, console: Console) -> int:
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
    report = report_path(args.report) if args.report is not None else None
    html = report_path(args.html, "--html", "report.html") if getattr(args, "html", None) is not None else None
    summary_md = getattr(args, "summary_md", None)
    markdown = report_path(summary_md, "--summary-md", "summary.md") if summary_md is not None else None
    clash = one_file_for_two({"--report": report, "--html": html, "--summary-md": markdown})
    if clash is not None:
        raise UserError(clash)
    check_step_summary()
    project = project_of(args)
    for flag, path in (("--report", report), ("--html", html), ("--summary-md", markdown)):
        refused = project.report_over_input(flag, path) if path is not None else None
        if refused is not None:
            raise UserError(refused)
    if args.jobs > 1:  # the workers' server starts (and imports) while this process checks the scenarios
        from harness.scenarios.pool import start_server

        start_server(project)
    factory = AgentFactory(project)
    console.learn(factory)  # loads (and validates) the agents file before any scenario
    found = discover(scenario_paths(args, project))
    if args.keyword:
        from harness.scenarios.selection import keyword_matcher

        matches = keyword_matcher(args.keyword)
        found = [path for path in found if matches(project.relative(path))]
    if not found:
        whole = getattr(args, "stale", False) and not (args.paths or args.keyword)
        tested = tests_alone(ScenarioRunner(factory, record_options=record_options(args)), console) if whole else None
        if tested is None:
            selected = f" selected by -k {args.keyword!r}" if args.keyword else ""
            console.err(f"no scenarios{selected} in {no_scenarios_in(args, project)}")
        # As pytest writes them: no scenarios. The job's page says it too: a job failing so is not left blank.
        if report is not None or html is not None or markdown is not None or step_summary_wanted():
            write_reports(json_report([], project.root, console.secrets), report, html, markdown, console)
        return NO_SCENARIOS if tested is None else tested
    runner = ScenarioRunner(
        factory, update_snapshots=getattr(args, "update_snapshots", False), record_options=record_options(args)
    )
    # Every scenario checked before anything runs; a file with mistakes fails alone: the others run.
    scenarios, mistakes = loaded_scenarios(runner, found)
    if mistakes:
        if not scenarios:
            raise UserError(every_problem(mistakes))
        console.err(
            f"note: {len(mistakes)} scenario file(s) with mistakes will not run (listed at the end); the others run"
        )
    unreadable: list[CassetteStatus] = []  # `--stale`: cassettes it leaves alone, which the run ends by naming
    tests: list[CassetteStatus] = []  # and the Python tests' it cannot record (over the whole project)
    if getattr(args, "stale", False):
        whole = not (args.paths or args.keyword)  # the Python tests' cassettes are among the others too
        tests = stale_tests(runner, scenarios, console, mistakes) if whole else []
        scenarios, unreadable = needing_recording(runner, scenarios, console)
        if not scenarios:
            if unreadable or tests:
                if unreadable:
                    console.err(unreadable_left(runner, unreadable))
                if tests:
                    console.err(tests_left(tests))
            elif mistakes:  # their cassettes went unchecked: not said to be up to date
                console.err(
                    "every cassette of the other scenario files is up to date: nothing to record; the "
                    f"{len(mistakes)} file(s) with mistakes were not checked"
                )
            else:
                console.err("every cassette is up to date: nothing to record")
            if mistakes:  # listed at the end, as the note said, and exit 2, as when something was recorded
                raise UserError(every_problem(mistakes))
            return 1 if unreadable or tests else 0
    recording = not project.replaying
    if recording:  # a read-only cassette folder, told after every live request was paid for, is told now
        unwritable = folder_unwritable_reason(project.cassettes_dir)
        if unwritable is not None:
            raise UserError(f"the cassette folder {shown(project.cassettes_dir)}: {unwritable}; nothing was recorded")
    if not recording and not project.cassettes_dir.is_dir():  # a typo in --cassettes fails every scenario
        console.err(f"note: there is no cassette folder {shown(project.cassettes_dir)}: nothing is recorded there")
    if recording and args.repeat is not None:
        runs = [(scenario, variant) for scenario in scenarios for variant in range(1, args.repeat + 1)]
    else:  # every repeat recorded: replayed, or recorded again (a stale repeat is no less stale)
        runs = runner.replayed_runs(scenarios)
    repeats = [(s, project.variant_path(runner.cassette_path(s), v)) for s, v in runs if v > 1]
    refuse_overwriting_inputs(runner, repeats, found)  # the first repeats' were checked with the scenarios
    play = _play_concurrently if args.jobs > 1 else _play_in_process
    results = play(args, runner, runs, console)
    if project.record_mode == RecordMode.ALL:
        _remove_leftover_repeats(project, results, console)
    not_run = len(runs) - len(results)  # left out by -x (an interrupted run ends before this)
    if not_run:  # a scenario whose later repeats -x left out: its pass^k says over how many of them
        planned = Counter((scenario.path, scenario.row, scenario.model) for scenario, _ in runs)
        for result in results:
            result.repeats = planned[(result.scenario.path, result.scenario.row, result.scenario.model)]
    console.out(
        summary_table(results, project.root, colour=colour(sys.stdout), unrunnable=list(mistakes), not_run=not_run)
    )
    relative = {result.scenario.path: project.relative(result.scenario.path) for result in results}
    if any(result.scenario.model is not None for result in results):
        console.out("\n" + matrix_table(results, relative))
    if has_repeats(results):
        console.out("\n" + reliability_table(reliability(results), relative))
    written = True
    if report is not None or html is not None or markdown is not None or step_summary_wanted():
        unrunnable = [(path, "\n".join(map(str, problems))) for path, problems in mistakes.items()]
        data = json_report(results, project.root, console.secrets, unrunnable, not_run)  # built only for writing
        written = write_reports(data, report, html, markdown, console)
    status = 0 if written and all(result.ok for result in results) and not unreadable and not tests else 1
    if getattr(args, "twice", False) and not _replays_alike(runner, results, console):
        status = 1
    if unreadable:
        console.err(unreadable_left(runner, unreadable))
    if tests:
        console.err(tests_left(tests))
    unknown = [result for result in results if result.unknown_model is not None]
    if unknown:  # a typo in --model or a model's `name:`: the user's to fix, as a scenario file's mistake is
        console.err(_unknown_models(unknown, recording))
        status = 2
    if mistakes:  # said last, where a CI log is read: the run's results stand above it
        raise UserError(every_problem(mistakes))
    return status


def _unknown_models(results: list[ScenarioResult], recording: bool) -> str:
    """The last word of a run whose endpoint did not know a model it was asked for (exit code 2). A name
    from a scenario file's `models:` list is located there (`matrix.yaml:3: models[1]`), once per file."""
    from harness.yamlsource import dotted

    names = sorted({result.unknown_model for result in results if result.unknown_model is not None})
    asked = ", ".join(repr(name) for name in names if name) or "it was asked for"
    located: dict[str, None] = {}
    for result in results:
        scenario = result.scenario
        if scenario.model is None or scenario.model != result.unknown_model or scenario.model not in scenario.models:
            continue
        loc = ("models", scenario.models.index(scenario.model))
        line = scenario.line(loc)
        where = f"{shown(scenario.path)}:{line}" if line else shown(scenario.path)
        located[f"{where}: {dotted(loc)}: {scenario.model!r}"] = None
    lines = [
        f"error: the model endpoint does not know the model {asked}: check the name given to --model, or the "
        "`name:` of the agent's `model:` in the agents file (or a scenario's `model:`"
        + (", or its `models:`, where it was asked for" if located else "")
        + ")"
        + ("; nothing of it was recorded" if recording else "")
        + (":" if located else "")
    ]
    return "\n".join(lines + [f"  {where}" for where in located])


Runs = list[tuple["Scenario", int]]  # (scenario, repeat), in the order the results are reported


def _run_label(scenario: Scenario, variant: int, repeats: bool) -> str:
    model = f" on {scenario.model}" if scenario.model is not None else ""
    row = f"[{scenario.row}]" if scenario.row is not None else ""
    return f"{shown(scenario.path)}{row}{model}{f' (repeat {variant})' if repeats else ''}"


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
        interrupted(results, len(runs), recording, console, stop)
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
                console.err(f"note: {shown(path)}: could not remove this repeat left from an earlier --repeat: {exc}")
                continue
            console.err(
                f"  {shown(path)}: removed (a repeat above the {len(project.variants(result.cassette))} just recorded)"
            )


def _tell(result: ScenarioResult, say: Callable[[str], None]) -> None:
    """What a finished run did to its cassette, and why it failed."""
    if result.change is not None:
        say(f"  {shown(result.cassette)}: {result.change.describe()}")
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
    bar = colour(sys.stderr)
    progress = Progress(
        len(jobs), what, sys.stderr, lambda text: printable(console.secrets.mask(text), sys.stderr), bar
    )
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
        interrupted(done, len(runs), recording, console, stop.by)
    progress.close()
    return [result_of(jobs[n], finished[n]) for n in sorted(finished)]


def _turns(scenario: Scenario) -> int:
    """How many user turns a scenario plays, at most: what its run's length is guessed from."""
    return scenario.simulate.max_turns if scenario.simulate is not None else len(scenario.turns)


def interrupted(
    results: list[ScenarioResult], runs: int, recording: bool, console: Console, stop: KeyboardInterrupt
) -> NoReturn:
    """Ctrl-C (or SIGTERM): say what was kept (every finished recording is on disk; the unfinished ones wrote
    nothing)."""
    finished = f"interrupted: {len(results)} of {runs} scenario run(s) finished"
    if recording:
        saved = [shown(result.cassette) for result in results if result.change is not None and result.change.saved]
        listed = ": " + ", ".join(saved) if saved else ""
        console.err(f"\n{finished}; kept {len(saved)} finished cassette(s){listed}; the others wrote nothing")
    else:
        console.err(f"\n{finished} (replay writes no cassette)")
    raise stop


def check_step_summary() -> None:
    """In a GitHub job the summary is appended to `$GITHUB_STEP_SUMMARY`: checked before the run, as a report."""
    if step_summary_wanted():
        import os

        from harness.report_md import STEP_SUMMARY

        report_path(os.environ[STEP_SUMMARY], f"${STEP_SUMMARY}", "summary.md")


def step_summary_wanted() -> bool:
    """Whether this is a GitHub job with a step summary to append to."""
    import os

    from harness.report_md import STEP_SUMMARY

    return bool(os.environ.get(STEP_SUMMARY))


def write_reports(
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
