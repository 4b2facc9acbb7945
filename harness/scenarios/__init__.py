"""Scenarios: scripted user turns with assertions on memory, tool calls and replies."""

from harness.scenarios.model import Scenario, load_scenario
from harness.scenarios.runner import ScenarioResult, ScenarioRunner

__all__ = ["Scenario", "ScenarioResult", "ScenarioRunner", "load_scenario"]
