from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import httpcore2  # noqa: F401  (see below)
import pytest
from hypothesis import HealthCheck, settings

from harness.agent import Agent
from harness.config import AgentsConfig, AgentSpec, load_agents
from tests.helpers import SEED_AGENTS, TEST_SETTINGS, Script

# httpx2 imports httpcore2 when its first transport is made. Were that inside a pytester in-process run, the
# run's sys.modules snapshot would drop httpcore2 afterwards, the next transport would import a second copy,
# and httpx2 would no longer recognise its errors (a refused connection escaped as httpcore2.ConnectError):
# imported here, before any test, there is one copy.

settings.register_profile(
    "harness", max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("harness")


@pytest.fixture(autouse=True)
def _no_real_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real provider with a real key."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture(autouse=True)
def _no_ci_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run in a GitHub job must not append their scenarios to the job's own page."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture
def write_agents(tmp_path: Path) -> Callable[[str], Path]:
    """Write an agents file (dedented) into tmp_path and return its path."""

    def write(text: str, name: str = "agents.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def load_text(write_agents: Callable[[str], Path]) -> Callable[[str], AgentsConfig]:
    return lambda text: load_agents(write_agents(text))


@pytest.fixture
def seed_config() -> AgentsConfig:
    return load_agents(SEED_AGENTS)


TEST_AGENTS = """
defaults:
  loop: harness   # these tests drive the harness's own loop (the default is letta-memgpt)
  model: {name: test-model, base_url: "http://llm.test/v1", max_retries: 0, timeout: 10}
  tools: [send_message, core_memory_append, core_memory_replace]
agents:
  chat:
    system: You are a test agent.
    blocks:
      - {label: persona, value: "You are a helpful assistant"}
      - {label: human, value: "Name: Bob"}
  short:
    extends: chat
    max_steps: 3
  task_agent:
    system: You clear tasks.
    blocks:
      - {label: tasks, value: "[]", limit: 2000}
    tools: [send_message, core_memory_append, core_memory_replace,
            "examples.task_queue:task_queue_push", "examples.task_queue:task_queue_pop"]
"""


@pytest.fixture
def agents_config(load_text: Callable[[str], AgentsConfig]) -> AgentsConfig:
    return load_text(TEST_AGENTS)


@pytest.fixture
def chat_spec(agents_config: AgentsConfig) -> AgentSpec:
    return agents_config.get("chat")


@pytest.fixture
def run_script(chat_spec: AgentSpec) -> Callable[..., tuple[Agent, Script]]:
    """An agent on `spec` (default: chat) whose model answers with `responses`, in order."""

    def make(responses: list[object], spec: AgentSpec = chat_spec) -> tuple[Agent, Script]:
        script = Script(responses)
        return Agent(spec, script.model(TEST_SETTINGS)), script

    return make
