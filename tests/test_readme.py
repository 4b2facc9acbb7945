"""README's scenario examples are scenarios the harness takes: each validates against the project's own
agents.yaml (the one the README's tour shows a part of), as a reader copying one would run it."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from tests.helpers import ROOT, SEED_AGENTS

BLOCK = re.compile(r"^( *)```yaml\n(.*?)^\1```", re.S | re.M)
SCENARIOS = (ROOT / "README.md").read_text(encoding="utf-8").split("## Scenarios", 1)[1].split("\n## ", 1)[0]


def examples() -> list[tuple[str, str]]:
    """(name, scenario) for each example of README's Scenarios section: whole ones (from `agent:`), and
    an `expect:` fragment (a `tool_calls:` mapping) put in a turn of the `chat` agent, which has its tools."""
    found = []
    for match in BLOCK.finditer(SCENARIOS):
        body = textwrap.dedent(match.group(2))
        first = body.split(None, 1)[0]
        line = SCENARIOS[: match.start()].count("\n")
        if first == "agent:":
            found.append((f"{body.split()[1]}_{line}", body))
        elif first == "tool_calls:":
            found.append(
                (
                    f"fragment_{line}",
                    "agent: chat\nturns:\n  - user: hi\n    expect:\n" + textwrap.indent(body, "      "),
                )
            )
    return found


def test_every_whole_example_is_found() -> None:
    agents = [name.rsplit("_", 1)[0] for name, _ in examples()]
    assert agents == ["task_agent", "chat_small_context", "chat_archival", "fragment", "chat", "chat", "chat"]


@pytest.mark.parametrize(("name", "scenario"), examples(), ids=[name for name, _ in examples()])
def test_a_readme_example_validates_against_the_projects_agents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, scenario: str
) -> None:
    """The headline example checked evictions, warnings and a summary of `task_agent`, which has no
    `context_window`: `validate` refused it, as README says it would."""
    shutil.copy(SEED_AGENTS, tmp_path / "agents.yaml")
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / f"{name}.yaml").write_text(scenario, encoding="utf-8")
    (tmp_path / "scenarios" / "names.jsonl").write_text('{"id": "azin", "name": "Azin"}\n', encoding="utf-8")
    code = main(["validate", "--agents", str(tmp_path / "agents.yaml"), str(tmp_path / "scenarios")])
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize(("name", "scenario"), examples(), ids=[name for name, _ in examples()])
def test_a_readme_example_is_valid_under_the_editors_schema(name: str, scenario: str) -> None:
    import yaml

    from tests.test_schemas import EditorLoader, validator

    document = yaml.load(scenario, Loader=EditorLoader)  # a SafeLoader
    assert [error.message for error in validator("scenario").iter_errors(document)] == []
