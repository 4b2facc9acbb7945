"""`harness import` and `harness export` as a user runs them: files written, never overwritten unless told,
mistakes as exit 2 with a located message and no traceback, secrets nowhere."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.agentfile.schema import AgentFileWire
from harness.cli import main
from harness.factory import AgentFactory
from harness.loops.letta_v1 import memory_metadata
from harness.project import Project
from harness.scenarios import ScenarioRunner
from harness.scenarios.model import load_scenario
from harness.secrets import MASK
from tests.agentfile.conftest import DATA, load_json, small_agent_file
from tests.helpers import ROOT, SEED_AGENTS


def test_import_writes_agents_yaml_and_tools_that_validate_and_compile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], forget_tools: Callable[[], None]
) -> None:
    out = tmp_path / "project"
    assert main(["import", str(DATA / "current_outreach_workflow_agent.af"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'agents.yaml'} (1 agents: outreach_workflow_agent)" in printed
    assert f"wrote {out / 'agent_tools.py'}" in printed
    assert "not kept (" in printed
    assert "message history" not in printed  # its one message is the system message, which the harness makes
    assert not (out / "scenarios").exists()
    assert main(["validate", "--agents", str(out / "agents.yaml")]) == 0
    assert "agents.yaml: ok (1 agents: outreach_workflow_agent)" in capsys.readouterr().out
    forget_tools()
    assert main(["compile", "outreach_workflow_agent", "--agents", str(out / "agents.yaml"), "--tools"]) == 0
    names = [tool["function"]["name"] for tool in json.loads(capsys.readouterr().out)]
    # a letta_v1_agent: Letta's newer loop, which needs no send_message (a reply without a call ends a turn)
    assert sorted(names) == ["evaluate_candidate", "reject", "retrieve_candidate", "send_email"]


def test_import_never_overwrites_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "agents.yaml").write_text("mine\n", encoding="utf-8")
    assert main(["import", str(DATA / "current_memgpt_agent.af"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'agents.yaml'}: exists; give --force to overwrite" in err
    assert "Traceback" not in err
    assert (tmp_path / "agents.yaml").read_text(encoding="utf-8") == "mine\n"
    assert main(["import", str(DATA / "current_memgpt_agent.af"), "--out", str(tmp_path), "--force"]) == 0
    assert "memgpt_agent:" in (tmp_path / "agents.yaml").read_text(encoding="utf-8")


def test_import_refuses_before_writing_anything(tmp_path: Path) -> None:
    """An existing tools module stops the import before agents.yaml is written too."""
    (tmp_path / "agent_tools.py").write_text("# mine\n", encoding="utf-8")
    assert main(["import", str(DATA / "current_outreach_workflow_agent.af"), "--out", str(tmp_path)]) == 2
    assert not (tmp_path / "agents.yaml").exists()


def test_a_file_where_the_import_writes_a_folder_stops_it_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """agents.yaml was written, then the history failed: the retry was refused (agents.yaml exists)."""
    (tmp_path / "scenarios").write_text("mine\n", encoding="utf-8")
    assert main(["import", str(DATA / "legacy_memgpt_agent.af"), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'scenarios'}: is a file where the import writes a folder, so nothing was written\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenarios"]


def test_import_of_a_bad_file_is_exit_2_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = load_json(DATA / "current_memgpt_agent.af")
    data["agents"][0]["colour"] = "blue"
    bad = tmp_path / "bad.af"
    bad.write_text(json.dumps(data), encoding="utf-8")
    assert main(["import", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: agents[0].colour: unknown key 'colour'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_import_prints_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "xoxb-secret-token-value-1234"
    data = load_json(DATA / "current_memgpt_agent.af")
    data["agents"][0]["tool_exec_environment_variables"] = {"SLACK_TOKEN": secret}
    data["agents"][0]["description"] = f"uses {secret}"
    path = tmp_path / "s.af"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["import", str(path), "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    written = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "o").iterdir())
    assert secret not in captured.out + captured.err + written
    assert "SLACK_TOKEN" in captured.out


def test_export_writes_an_agent_file_letta_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "chat.af"
    assert main(["export", "chat", "--agents", str(SEED_AGENTS), "-o", str(target)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {target} (agent chat: 2 blocks, 3 tools)" in printed
    not_written = printed[printed.index("not written (") :].splitlines()
    assert not_written[0] == f"not written ({len(not_written) - 1}):"
    assert "  max_steps 6 not written (no place for it in an Agent File)" in not_written
    assert "  model.timeout 900.0 not written (no place for it in an Agent File)" in not_written
    wire = AgentFileWire.model_validate_json(target.read_text(encoding="utf-8"))
    assert [block.label for block in wire.blocks] == ["persona", "human"]


def test_export_never_overwrites_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "chat.af"
    target.write_text("keep me", encoding="utf-8")
    assert main(["export", "chat", "--agents", str(SEED_AGENTS), "-o", str(target)]) == 2
    assert "exists; give --force" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == "keep me"
    assert main(["export", "chat", "--agents", str(SEED_AGENTS), "-o", str(target), "--force"]) == 0
    assert AgentFileWire.model_validate_json(target.read_text(encoding="utf-8")).agents[0].name == "chat"


def test_export_of_an_unknown_agent_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "nobody", "--agents", str(SEED_AGENTS), "-o", str(tmp_path / "x.af")]) == 2
    assert "no agent named 'nobody'" in capsys.readouterr().err
    assert not (tmp_path / "x.af").exists()


def test_export_defaults_to_agent_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["export", "task_agent", "--agents", str(SEED_AGENTS)]) == 0
    assert AgentFileWire.model_validate_json((tmp_path / "task_agent.af").read_text(encoding="utf-8")).tools


SCENARIO = ROOT / "scenarios" / "task_agent" / "queue_and_complete.yaml"


def test_export_with_a_scenario_writes_its_end_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "end.af"
    args = ["export", "task_agent", "--agents", str(SEED_AGENTS), "-o", str(target), "--scenario", str(SCENARIO)]
    assert main(args) == 0
    wire = AgentFileWire.model_validate_json(target.read_text(encoding="utf-8"))
    (agent,) = wire.agents
    runner = ScenarioRunner(AgentFactory(Project.build(agents=str(SEED_AGENTS))))
    scenario = load_scenario(SCENARIO)
    result = runner.run(scenario)
    assert {block.label: block.value for block in wire.blocks} == result.turns[-1].blocks
    # in context: Letta's boot messages (send_message, its result, the login), then the turns
    history = [message for turn in result.turns for message in turn.messages]
    assert len(agent.messages) == 1 + 3 + len(history)
    assert [m["role"] for m in agent.messages[1:4]] == ["assistant", "tool", "user"]
    assert "first login" in agent.messages[3]["content"][0]["text"]
    assert agent.messages[0]["role"] == "system" and agent.in_context_message_ids[0] == "message-0"
    # the system message as the agent's loop sent it (Letta's header, the blocks as the run left them), not
    # the harness's own compile of the declared blocks
    system = agent.messages[0]["content"][0]["text"]
    assert "### Memory [last modified: " in system
    assert all(value in system for value in result.turns[-1].blocks.values())
    assert [m["role"] for m in agent.messages[4:]] == [m["role"] for m in history]
    assert main(["import", str(target), "--out", str(tmp_path / "again")]) == 0
    written = tmp_path / "again" / "scenarios" / "history" / f"{agent.name}.yaml"
    assert f"wrote {written} (the agent's in-context messages" in capsys.readouterr().out
    seeded = tmp_path / "again" / "scenarios" / "resume.yaml"
    seeded.write_text(f"agent: {agent.name}\nhistory: history/{agent.name}.yaml\nturns: [{{user: hi}}]\n")
    resumed = load_scenario(seeded).history
    assert [m["role"] for m in resumed[3:]] == [m["role"] for m in history]  # the run's conversation, back
    assert [m.get("content") for m in resumed[3:] if m["role"] == "user"] == [
        m["content"] for m in history if m["role"] == "user"
    ]


def test_export_with_a_scenario_driving_two_agents_writes_its_own_agents_end_state(tmp_path: Path) -> None:
    """The sleep-time agent takes the last turn. The file held that agent's blocks (its persona, no human) and
    both agents' conversations as the primary's history; it holds the primary's blocks, the shared one as the
    sleep-time agent left it, and the primary's turns only."""
    from tests.scenarios.test_shared_blocks import RESPONSES, shared_project

    project = shared_project(tmp_path / "p")
    scenario = "agent: primary\nturns:\n  - user: We ship on Friday.\n  - {agent: sleeptime, user: Tidy it.}\n"
    project.write_scenario("shared", scenario)
    project.record("shared", RESPONSES[:4])
    target = tmp_path / "end.af"
    args = ["export", "primary", "--agents", str(project.agents), "-o", str(target)]
    assert main([*args, "--scenario", str(project.scenario_path("shared"))]) == 0
    wire = AgentFileWire.model_validate_json(target.read_text(encoding="utf-8"))
    assert {block.label: block.value for block in wire.blocks} == {
        "human": "Name: Bob",
        "project": "Project: harness\nDeadline: Friday",
    }
    (agent,) = wire.agents
    said = json.dumps([m["content"] for m in agent.messages if m["role"] == "user"])
    assert "We ship on Friday." in said and "Tidy it." not in said


def test_export_with_a_scenario_keeps_the_history_it_started_from(tmp_path: Path) -> None:
    """The file held the scenario's own turns only: the conversation it started from (`history:`, in context
    the whole run) was lost, so import -> scenario -> export -> import forgot it."""
    import yaml

    from tests.fakes import make_project, reply

    project = make_project(tmp_path)
    history = [{"role": "user", "content": "I am Sarah"}, {"role": "assistant", "content": "Hi Sarah"}]
    scenario = {"agent": "chat", "history": history, "turns": [{"user": "My favourite colour is teal."}]}
    path = project.write_scenario("teal", yaml.safe_dump(scenario, sort_keys=False))
    project.record("teal", [reply("Teal it is.")])
    target = tmp_path / "end.af"
    assert main(["export", "chat", "--agents", str(project.agents), "-o", str(target), "--scenario", str(path)]) == 0
    (agent,) = AgentFileWire.model_validate_json(target.read_text(encoding="utf-8")).agents
    texts = [part["text"] for message in agent.messages[1:] for part in message["content"]]
    assert texts[:3] == ["I am Sarah", "Hi Sarah", "My favourite colour is teal."]


def test_export_with_another_agent_s_scenario_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["export", "chat", "--agents", str(SEED_AGENTS), "-o", str(tmp_path / "x.af"), "--scenario", str(SCENARIO)]
    assert main(args) == 2
    assert "this scenario runs 'task_agent', not 'chat'" in capsys.readouterr().err
    assert not (tmp_path / "x.af").exists()


def test_export_writes_no_secret_of_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_agents: Callable[..., Path]
) -> None:
    secret = "tok-0123456789-secret"
    monkeypatch.setenv("MY_SERVICE_TOKEN", secret)
    monkeypatch.setenv("LLM_KEY", "key-9876543210-secret")
    path = write_agents(
        f"""
        agents:
          a:
            model: {{name: m, api_key_env: LLM_KEY}}
            system: "token {secret}, key key-9876543210-secret"
            blocks: [{{label: human, value: "{secret}"}}]
            tools: [send_message]
        """
    )
    target = tmp_path / "a.af"
    assert main(["export", "a", "--agents", str(path), "-o", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert secret not in text and "key-9876543210-secret" not in text
    assert text.count(MASK) == 3


def test_an_imported_history_is_no_scenario_of_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pytester: pytest.Pytester
) -> None:
    """The README's workflow: import, then a scenario starts from the history with `history:`. The history
    file, written under scenarios/history/, was collected as a scenario of its own (and refused: no agent,
    no turns) by `validate`, `run` and the pytest plugin."""
    out = tmp_path / "project"
    assert main(["import", str(DATA / "legacy_memgpt_agent.af"), "--out", str(out)]) == 0
    history = out / "scenarios" / "history" / "memgpt_agent.yaml"
    assert history.is_file()
    (out / "scenarios" / "resumed.yaml").write_text(
        "agent: memgpt_agent\nhistory: history/memgpt_agent.yaml\nturns:\n  - user: hi\n", encoding="utf-8"
    )
    capsys.readouterr()
    assert main(["validate", "--agents", str(out / "agents.yaml")]) == 0
    assert "1 scenario file(s): ok" in capsys.readouterr().out
    assert main(["validate", "--agents", str(out / "agents.yaml"), str(history)]) == 2  # named: says what it is
    assert "a history file (`messages:`), not a scenario" in capsys.readouterr().err
    pytester.chdir()
    for path in out.iterdir():
        target = pytester.path / path.name
        target.symlink_to(path, target_is_directory=path.is_dir())
    collected = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider")
    assert [line for line in collected.outlines if "::" in line] == ["scenarios/resumed.yaml::resumed"]


def _mutated(tmp_path: Path, change: Callable[[Any], None]) -> Path:
    data = load_json(DATA / "current_memgpt_agent.af")
    change(data)
    path = tmp_path / "mutated.af"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _duplicate_block(data: Any) -> None:
    data["blocks"].append({**data["blocks"][0], "id": "block-twin"})
    data["agents"][0]["block_ids"].append("block-twin")


def _huge_block(data: Any) -> None:
    data["blocks"][0]["value"] = "x" * 2_000_000
    data["blocks"][0]["limit"] = 3_000_000


@pytest.mark.parametrize(
    ("change", "message"),
    [(_duplicate_block, "duplicate block label"), (_huge_block, "characters")],
    ids=["two-blocks-one-label", "a-block-longer-than-any-limit"],
)
def test_an_import_the_harness_would_refuse_writes_nothing_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Callable[[Any], None], message: str
) -> None:
    """`import` exited 0 and wrote an agents.yaml that `validate` then refused."""
    out = tmp_path / "out"
    assert main(["import", str(_mutated(tmp_path, change)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "would make an agents.yaml the harness refuses, so nothing was written" in err and message in err
    assert f"{out / 'agents.yaml'}:" in err and "harness-import-" not in err  # the written file's path
    assert not out.exists()


def _many_blocks(data: Any) -> None:
    template = data["blocks"][0]
    for n in range(40_000):
        data["blocks"].append({**template, "id": f"block-{n}", "label": f"l{n}", "value": "v" * 100})
        data["agents"][0]["block_ids"].append(f"block-{n}")


def test_an_import_surely_too_big_is_refused_before_it_is_written_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """40,000 blocks took 9 s to dump as YAML, then were refused: the bound is known from the values alone."""
    out = tmp_path / "out"
    assert main(["import", str(_mutated(tmp_path, _many_blocks)), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "its agents would make an agents.yaml the harness refuses (more than 4 MB: at most 4 MB)" in err
    assert not out.exists()


def test_import_bounds_a_long_agent_name_it_makes_a_file_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Letta bounds no agent name; here it names scenarios/history/<agent>.yaml: a name past 100 characters is
    cut, a digest keeping two such names apart, and said; no OSError (File name too long)."""
    data = small_agent_file([])
    second = {**data["agents"][0], "id": "agent-1", "name": "a" * 299 + "c"}
    data["agents"][0] |= {"name": "a" * 299 + "b"}
    data["agents"].append(second)
    for agent in data["agents"]:
        agent["messages"] = [{"id": "m", "role": "user", "content": [{"type": "text", "text": "hello"}]}]
        agent["in_context_message_ids"] = ["m"]
    (tmp_path / "long.af").write_text(json.dumps(data), encoding="utf-8")
    assert main(["import", str(tmp_path / "long.af"), "--out", str(tmp_path / "p")]) == 0
    printed = capsys.readouterr().out
    histories = sorted((tmp_path / "p" / "scenarios" / "history").iterdir())
    assert len(histories) == 2 and all(len(path.stem) == 100 for path in histories)
    assert histories[0].stem != histories[1].stem and histories[0].stem.startswith("a" * 91 + "_")
    assert f"renamed '{histories[0].stem}' (a name is a file name here: at most 100 characters)" in printed
    assert main(["validate", "--agents", str(tmp_path / "p" / "agents.yaml")]) == 0


def test_a_file_the_import_cannot_write_is_exit_2_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were a name ever past what the file system takes, the check in a scratch folder says so, exit 2."""
    monkeypatch.setattr("harness.agentfile.importer.MAX_AGENT_NAME", 1000)
    data = small_agent_file([], name="a" * 300)
    data["agents"][0] |= {"messages": [{"id": "m", "role": "user", "content": "hi"}], "in_context_message_ids": ["m"]}
    (tmp_path / "long.af").write_text(json.dumps(data), encoding="utf-8")
    assert main(["import", str(tmp_path / "long.af"), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'p' / 'scenarios' / 'history' / ('a' * 300)}.yaml: cannot write: File name too long" in err
    assert "Traceback" not in err and not (tmp_path / "p").exists()


# A letta_v1_agent's message-0 as Letta <= 0.16.6 wrote the metadata section; 0.16.8 words it otherwise (agent
# and conversation ids, no current date, "System prompt last recompiled", no tool hint on the recall line).
OLD_MEMORY_METADATA = re.compile(
    r"\n\n<memory_metadata>\n- The current system date is: [^\n]*\n"
    r"- (?:Memory blocks were last modified|System prompt last recompiled): (?P<stamp>[^\n]*)\n"
    r"- (?P<previous>\d+) previous messages between you and the user are stored in recall memory "
    r"\(use tools to access them\)\n"
    r"(?:- (?P<archival>\d+) total memories you created are stored in archival memory \(use tools to access them\)\n)?"
    r"</memory_metadata>$"
)


@pytest.mark.parametrize(
    ("name", "agent"),
    [
        ("current_memgpt_agent.af", "memgpt_agent"),
        ("current_lettabot.af", "LettaBot"),  # eleven blocks, labels with `/`, 6 messages out of context
        ("current_outreach_workflow_agent.af", "outreach_workflow_agent"),  # no blocks; tool rules not rendered
    ],
)
def test_compile_prints_a_letta_v1_agents_message_zero_as_letta_wrote_it(
    name: str, agent: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Letta's own message-0 of each real letta_v1_agent (standard rendering, an OpenAI or zai endpoint),
    rebuilt by `harness import` then `harness compile` from the file's system prompt and blocks. Byte for byte
    up to `<memory_metadata>`; that section is what must be normalised: the file's Letta (<= 0.16.6) worded
    it differently from 0.16.8, and its time and counts are the file's moment, not the imported agent's
    clock. So it is compared as 0.16.8 renders the file's own facts (its timestamp, its counts)."""
    data = load_json(DATA / name)
    [letta] = [a for a in data["agents"] if a["agent_type"] == "letta_v1_agent"]
    message = {m["id"]: m for m in letta["messages"]}[letta["in_context_message_ids"][0]]
    written = "".join(part["text"] for part in message["content"])
    old = OLD_MEMORY_METADATA.search(written)
    assert old is not None
    out = tmp_path / "project"
    assert main(["import", str(DATA / name), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["compile", agent, "--agents", str(out / "agents.yaml")]) == 0
    printed = capsys.readouterr().out.removesuffix("\n")
    head, metadata = printed.split("\n\n<memory_metadata>\n")
    assert head == written[: old.start()]
    assert "<memory_metadata>\n" + metadata == memory_metadata(
        datetime(2025, 1, 1, tzinfo=UTC), metadata.split("\n")[0].removeprefix("- AGENT_ID: ")
    )  # the imported agent: its clock (`clock:` the import writes), nothing out of context, no passages
    stamp = datetime.strptime(old["stamp"], "%Y-%m-%d %I:%M:%S %p UTC+0000").replace(tzinfo=UTC)
    assert stamp.isoformat()[:19] == message["created_at"][:19]  # a new agent's message: stamped at creation
    # The file's section in 0.16.8's words: its ids in place of the current date, the timestamp's new label,
    # no tool hint on the recall line. The rest (the stamp's format, the counts, their order) must be as is.
    section = re.sub(
        r"- The current system date is: [^\n]*\n",
        f"- AGENT_ID: {letta['id']}\n- CONVERSATION_ID: default\n",
        written[old.start() + 2 :],
    )
    section = section.replace("Memory blocks were last modified", "System prompt last recompiled")
    section = section.replace("recall memory (use tools to access them)", "recall memory")
    assert section == memory_metadata(stamp, letta["id"], int(old["previous"]), int(old["archival"] or 0))
