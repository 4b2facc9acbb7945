"""The recorded recall and context-pressure scenarios, replayed offline from their cassettes: the long
conversation is evicted and summarized (the summary request comes from the cassette too), the same way run
after run, and the reports show it."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from harness.cli import main
from tests.helpers import ROOT

LONG = "scenarios/context/facts_survive_eviction.yaml"


def replay(tmp_path: Path, *paths: str) -> dict[str, Any]:
    report = tmp_path / "report.json"
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["run", "--agents", str(ROOT / "agents.yaml"), "--report", str(report), "--html",
                     str(tmp_path / "report.html"), *(str(ROOT / p) for p in paths)])  # fmt: skip
    assert code in (0, 1)  # passed, or a documented expected failure (xfail counts as passing)
    data: dict[str, Any] = json.loads(report.read_text())
    return data


def events(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    return [event for turn in scenario["turns"] for step in turn["steps"] for event in step.get("context", ())]


def test_the_long_conversation_is_evicted_and_summarized_offline(tmp_path: Path) -> None:
    first = replay(tmp_path, LONG)
    (scenario,) = first["scenarios"]
    assert scenario["outcome"] in ("passed", "xfailed"), scenario
    found = events(scenario)
    kinds = [event["kind"] for event in found]
    assert "eviction" in kinds
    evictions = [event for event in found if event["kind"] == "eviction"]
    eviction = evictions[0]
    # Past 90% of the window it evicts; Letta's prompt alone (memory header, boot messages, inner thoughts)
    # takes most of this small window, so even mode `all` leaves the request above 90%. The 1.5B model's
    # first summary is longer than the seven messages it replaces (the request grows, 2,615 -> 2,682
    # tokens); the ones after it shrink the request.
    assert all(event["tokens_before"] > 0.9 * event["context_window"] for event in evictions)
    assert all(event["tokens_after"] < event["tokens_before"] for event in evictions[1:]) and evictions[1:]
    assert eviction["evicted"] > 0 and eviction["summary"]
    # The summary went into history as Letta's packed system alert, first after the system message.
    users = [m["content"] for turn in scenario["turns"] for m in turn["messages"] if m["role"] == "user"]
    alerts = [json.loads(text) for text in users if text.startswith("{")]
    assert any(alert.get("type") == "system_alert" and eviction["summary"] in alert["message"] for alert in alerts)
    assert "evicted to recall" in (tmp_path / "report.html").read_text()
    again = replay(tmp_path, LONG)
    assert events(again["scenarios"][0]) == found  # byte for byte the same, run after run
