"""pytest plugin: every YAML file under a scenario folder is a test, replayed from its cassette.

Options (also as ini keys `harness_agents`, `harness_cassettes`, `harness_scenarios`):
`--harness-agents FILE`, `--harness-cassettes DIR`, `--harness-record-mode none|new|all`,
`--harness-base-url URL`, `--harness-model NAME`.

For tests written in Python, the `harness_agent` fixture builds agents from agents.yaml whose model
exchanges go through the test's own cassette (`harness_cassette_path`, overridable, like
pytest-recording's `vcr_cassette_dir`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.agent import Agent, AgentState
from harness.cassettes import CassetteSession, RecordModeName, is_cassette_miss, use_cassette
from harness.config import AgentSpec, load_agents
from harness.errors import HarnessError
from harness.scenarios.model import Scenario, load_scenario
from harness.scenarios.runner import ScenarioResult, ScenarioRunner
from harness.store import Store

RUNNER_KEY = pytest.StashKey[ScenarioRunner]()
CASSETTE_KEY = pytest.StashKey[CassetteSession]()


class UnplayedInteractionsWarning(UserWarning):
    """A cassette holds exchanges the scenario no longer makes: re-record it to prune them."""


class ScenarioFailed(Exception):
    def __init__(self, result: ScenarioResult) -> None:
        super().__init__(result.explain())
        self.result = result


class StaleCassette(Exception):
    """The cassette lacks a response the scenario needs, or cannot be read: a failure even for an `xfail`
    scenario."""

    def __init__(self, result: ScenarioResult) -> None:
        super().__init__(result.explain())
        self.result = result


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "agent scenarios replayed from cassettes (harness)")
    group.addoption("--harness-agents", metavar="FILE", help="agents file (default: ini harness_agents, agents.yaml)")
    group.addoption("--harness-cassettes", metavar="DIR", help="cassette folder (default: cassettes)")
    group.addoption(
        "--harness-record-mode",
        choices=("none", "new", "all"),
        default=None,
        help="none: replay only, never touch the network (default); new: record what is missing; "
        "all: re-record everything",
    )
    group.addoption("--harness-base-url", metavar="URL", help="model endpoint to record from")
    group.addoption("--harness-model", metavar="NAME", help="model name (replay must use the same)")
    parser.addini("harness_agents", "agents file, relative to the rootdir", default="agents.yaml")
    parser.addini("harness_cassettes", "cassette folder, relative to the rootdir", default="cassettes")
    parser.addini(
        "harness_scenarios", "folder names whose YAML files are scenarios", type="args", default=["scenarios"]
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "harness_scenario: a scenario file collected by the harness plugin")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    folders = set(parent.config.getini("harness_scenarios"))
    try:
        relative = file_path.relative_to(parent.config.rootpath)
    except ValueError:
        relative = file_path
    if not folders.intersection(relative.parts[:-1]):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


def _runner(config: pytest.Config) -> ScenarioRunner:
    runner = config.stash.get(RUNNER_KEY, None)
    if runner is None:
        root = config.rootpath
        agents = config.getoption("harness_agents") or config.getini("harness_agents")
        cassettes = config.getoption("harness_cassettes") or config.getini("harness_cassettes")
        mode: RecordModeName = config.getoption("harness_record_mode") or "none"
        agents_path = Path(agents) if Path(agents).is_absolute() else root / agents
        runner = ScenarioRunner(
            load_agents(agents_path),
            Path(cassettes) if Path(cassettes).is_absolute() else root / cassettes,
            mode=mode,
            base_url=config.getoption("harness_base_url"),
            model_name=config.getoption("harness_model"),
        )
        config.stash[RUNNER_KEY] = runner
    return runner


def _shown(path: Path) -> Path:
    """The path as the user would type it from here, so reports and re-record commands read naturally."""
    try:
        return Path(os.path.relpath(path))
    except ValueError:  # another drive
        return path


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        runner = _runner(self.config)
        scenario = load_scenario(_shown(self.path))
        runner.spec_for(scenario)
        item = ScenarioItem.from_parent(self, name=self.path.stem, scenario=scenario)
        item.add_marker(pytest.mark.harness_scenario)
        if scenario.wire.xfail is not None:
            item.add_marker(pytest.mark.xfail(reason=scenario.wire.xfail, strict=True, raises=ScenarioFailed))
        yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, HarnessError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        result = _runner(self.config).run(self.scenario)
        self.user_properties.append(("steps", result.steps))
        if result.unplayed:
            warnings.warn(
                UnplayedInteractionsWarning(
                    f"{self.scenario.path}: {len(result.unplayed)} recorded interaction(s) never played "
                    f"(indexes {result.unplayed}) in {result.cassette}; re-record to prune them"
                ),
                stacklevel=1,
            )
        if result.stale or result.error:
            raise StaleCassette(result)
        if result.failures:
            raise ScenarioFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed | StaleCassette | HarnessError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = self.scenario.line(("turns",))
        return self.path, (line - 1) if line else 0, f"scenario: {self.scenario.wire.description or self.name}"


# ---------------------------------------------------------------- fixtures for tests written in Python


@pytest.fixture
def harness_runner(request: pytest.FixtureRequest) -> ScenarioRunner:
    """The session's runner: agents file, cassette folder, record mode and endpoint overrides."""
    return _runner(request.config)


@pytest.fixture
def harness_cassette_path(request: pytest.FixtureRequest, harness_runner: ScenarioRunner) -> Path:
    """`<cassettes>/<test file path without .py>/<test name>.yaml`; override it to put cassettes elsewhere."""
    relative = Path(os.path.relpath(request.node.path, request.config.rootpath)).with_suffix("")
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
    return harness_runner.cassette_dir / relative / f"{name}.yaml"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A Python test whose request is not in its cassette: say so with the diff and the re-record command,
    as a scenario would, instead of vcrpy's generic message."""
    report = yield
    session = item.stash.get(CASSETTE_KEY, None)
    if session is not None and call.excinfo is not None and is_cassette_miss(call.excinfo.value):
        lines = [
            f"{item.nodeid}: no recorded response in {session.path} for a request this test made "
            "(the agent, its prompt or tools, the model settings or the test changed)"
        ]
        lines += session.miss_diff()
        lines.append(f"  re-record with: pytest --harness-record-mode new {item.nodeid}")
        report.longrepr = "\n".join(lines)
    return report


@pytest.fixture
def harness_agent(
    request: pytest.FixtureRequest, harness_runner: ScenarioRunner, harness_cassette_path: Path
) -> Iterator[Callable[..., Agent]]:
    """A factory: `harness_agent("chat", blocks={"human": "..."})` gives a fresh agent whose model
    exchanges replay from (or record into) this test's cassette, with its state in an in-memory store."""
    store = Store(":memory:")
    made: list[AgentSpec] = []
    with use_cassette(harness_cassette_path, harness_runner.mode) as session:
        request.node.stash[CASSETTE_KEY] = session

        def make(name: str, blocks: dict[str, str] | None = None, max_steps: int | None = None) -> Agent:
            spec = harness_runner.agent_spec(name, max_steps)
            made.append(spec)
            state = AgentState(f"agent-{name}-{len(made)}", spec.name, spec.new_memory(blocks))
            agent = Agent(spec, harness_runner.chat_model(spec), state=state, store=store)
            store.create_agent(agent.state)
            return agent

        yield make
        if made:
            model = made[-1].model
            session.note_recording(model.name, model.base_url or "https://api.openai.com/v1")
    store.close()
