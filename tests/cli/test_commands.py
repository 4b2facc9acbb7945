from __future__ import annotations

import io
import json
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest

from harness.cli import main
from harness.memory import Block
from harness.secrets import MASK
from harness.store import Store
from tests.helpers import ROOT, SEED_AGENTS, SEED_MEMORY, Script, call, completion, reply, serve

Write = Callable[..., Path]

MISSPELT = """
agents:
  chat:
    model: m
    sytem: hello
    tools: [send_message]
"""


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--agents", str(SEED_AGENTS)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{SEED_AGENTS}: ok (")
    assert "chat, task_agent" in out


def test_validate_misspelt_key_exits_2_with_located_error(
    write_agents: Write, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_agents(MISSPELT)
    assert main(["validate", "--agents", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {path}:4:")
    assert "agents.chat.sytem: unknown key 'sytem'; did you mean 'system'?" in captured.err
    assert "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_validate_reports_every_problem(write_agents: Write, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agents(
        """
        agents:
          chat:
            modle: m
            sytem: hello
            tools: [send_message]
        """
    )
    assert main(["validate", "--agents", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "error: 2 problems"
    assert lines[1].startswith(f"  {path}:3:") and "did you mean 'model'?" in lines[1]
    assert lines[2].startswith(f"  {path}:4:") and "did you mean 'system'?" in lines[2]


def test_validate_reports_mistakes_of_every_kind_in_one_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Invalid keys and values, and what only shows once the file is read (extends, prompt files, tools):
    one run, every problem, in file order (before: some, then more on the next run)."""
    (tmp_path / "agents.yaml").write_text(
        """defaults:
  model: {name: m, temprature: 1}
agents:
  chat:
    system: hi
    blocks:
      - {label: persona, vale: x}
    tools: [send_mesage]
    max_steps: 0
  other:
    extends: nobody
    system_file: missing.txt
    tools: [send_message, core_memory_apend]
  third:
    model: {name: m, timeout: -1}
    system: x
    tools: [send_message]
""",
        encoding="utf-8",
    )
    assert main(["validate", "--agents", str(tmp_path / "agents.yaml")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "error: 8 problems"
    keys = [line.split(": ")[1] for line in lines[1:]]
    assert keys == [
        "defaults.model.temprature",
        "agents.chat.blocks[0].vale",
        "agents.chat.tools[0]",
        "agents.chat.max_steps",
        "agents.other.extends",
        "agents.other.system_file",
        "agents.other.tools[1]",
        "agents.third.model.timeout",
    ]
    assert "no agent named 'nobody' to extend; defined: chat, other, third" in lines[5]


def test_validate_checks_scenarios_against_the_agents_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(SEED_AGENTS, tmp_path / "agents.yaml")
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "ok.yaml").write_text("agent: chat\nturns: [{user: hi}]\n", encoding="utf-8")
    (scenarios / "bad.yaml").write_text(
        """agent: chat
blocks: {human: "%s"}
turns:
  - user: hi
    expect:
      tool_calls: [{name: core_memory_append, args: {lable: human}}]
      blocks: {humn: unchanged}
  - user: again
    expect: {replies: x}
"""
        % ("x" * 5001),
        encoding="utf-8",
    )
    agents = str(tmp_path / "agents.yaml")
    assert main(["validate", "--agents", agents, str(scenarios / "ok.yaml")]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "1 scenario file(s): ok"
    assert main(["validate", "--agents", agents, str(scenarios)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "error: 4 problems"
    bad = scenarios / "bad.yaml"
    # in line order, as README says (the file's own keys were told before the agent's checks of line 2)
    assert lines[1].startswith(f"  {bad}:2:") and (
        "the initial value of block 'human' has 5001 characters, over the block's limit of 5000" in lines[1]
    )
    assert lines[2].startswith(f"  {bad}:6:")
    assert "args.lable: tool 'core_memory_append' has no argument 'lable'; did you mean 'label'?" in lines[2]
    assert lines[3].startswith(f"  {bad}:7:") and "blocks.humn: agent 'chat' has no block 'humn'" in lines[3]
    assert lines[4].startswith(f"  {bad}:9:") and "unknown key 'replies'" in lines[4]


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--agents", str(tmp_path / "none.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_compile_prints_prompt_then_seed_memory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "chat", "--agents", str(SEED_AGENTS)]) == 0
    out = capsys.readouterr().out
    prompt = (ROOT / "prompts" / "memgpt_chat.txt").read_text(encoding="utf-8").rstrip("\n")
    # The seed's agent runs Letta's MemGPT loop (the default): Letta 0.6's memory header, at the instant a
    # recorded run's clock starts when the agent declares no `clock:`.
    header = (
        "### Memory [last modified: 2025-01-01 12:00:00 PM UTC+0000]\n"
        "0 previous messages between you and the user are stored in recall memory (use functions to access them)\n"
        "0 total memories you created are stored in archival memory (use functions to access them)\n\n"
        "Core memory shown below (limited in size, additional information stored in archival / recall memory):\n"
    )
    assert out == prompt + "\n" + header + SEED_MEMORY + "\n"


def test_everything_printed_is_masked(
    write_agents: Write, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not only what came from an endpoint: a secret the user put in a block is masked in what is printed."""
    monkeypatch.setenv("SERVICE_TOKEN", "tok-1234-abcd")
    agents = write_agents(
        """
        agents:
          chat:
            model: {name: m}
            system: "Call the service with tok-1234-abcd."
            blocks: [{label: human, value: "token tok-1234-abcd"}]
            tools: [send_message]
        """
    )
    assert main(["compile", "chat", "--agents", str(agents)]) == 0
    out = capsys.readouterr().out
    assert "tok-1234-abcd" not in out
    assert out.count(MASK) == 2


def test_what_a_base_url_carries_is_masked_in_compile_and_validate(
    write_agents: Write, capsys: pytest.CaptureFixture[str]
) -> None:
    """The agents' base URLs are secrets of every command that reads them, not only of those that run."""
    agents = write_agents(
        """
        defaults: {model: {name: m, base_url: "http://svc-account:pw-in-the-url-77@h/v1?api-key=sk-in-the-query-88"}}
        agents:
          chat:
            system: "Call with pw-in-the-url-77 and sk-in-the-query-88."
            tools: [send_message]
        """
    )
    assert main(["compile", "chat", "--agents", str(agents)]) == 0
    out = capsys.readouterr().out
    assert "pw-in-the-url-77" not in out and "sk-in-the-query-88" not in out and out.count(MASK) == 2
    scenario = agents.parent / "scenarios" / "leak.yaml"
    scenario.parent.mkdir()
    scenario.write_text("agent: chat\nturns:\n  - user: hi\n    expect: {reply: {max_length: pw-in-the-url-77}}\n")
    assert main(["validate", "--agents", str(agents)]) == 2
    err = capsys.readouterr().err
    assert "max_length" in err and "pw-in-the-url-77" not in err and MASK in err


def test_compile_with_tools(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "chat", "--agents", str(SEED_AGENTS), "--tools"]) == 0
    out = capsys.readouterr().out
    tools = json.loads(out)  # JSON alone on stdout: pipeable into jq
    assert [t["function"]["name"] for t in tools] == ["send_message", "core_memory_append", "core_memory_replace"]


def test_compile_unknown_agent(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "nobody", "--agents", str(SEED_AGENTS)]) == 2
    err = capsys.readouterr().err
    assert "no agent named 'nobody'" in err and "Traceback" not in err


def test_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert "agents" in json.loads(capsys.readouterr().out)["properties"]


def test_bad_command_line_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["compile"])
    assert info.value.code == 2
    assert "AGENT" in capsys.readouterr().err


def chat(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stdin: str, *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["chat", "chat", "--agents", str(SEED_AGENTS), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_chat_end_to_end_survives_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "state.db")
    first = Script(
        [
            completion(
                call(
                    "core_memory_replace",
                    {"label": "human", "old_content": "Bob", "new_content": "Alice", "request_heartbeat": True},
                ),
                content="Saving the name.",
            ),
            reply("Nice to meet you, Alice!"),
        ]
    )
    with serve(first) as url:
        code, out, err = chat(
            monkeypatch, capsys, "My name is Alice\n\n/memory\n", "--db", db, "--base-url", url, "--model", "scripted"
        )
    assert code == 0, err
    assert "chat> Nice to meet you, Alice!" in out
    assert '<human characters="11/5000">\nName: Alice\n</human>' in out
    assert "0 earlier turns) on scripted" in err
    assert "(Saving the name.)" in err
    assert "-> core_memory_replace(" in err and ") ok (returned None)" in err
    assert "Traceback" not in err
    assert len(first.requests) == 2
    assert first.requests[0]["model"] == "scripted"
    assert SEED_MEMORY in first.requests[0]["messages"][0]["content"]

    second = Script([reply("You are Alice.")])
    with serve(second) as url:
        code, out, err = chat(
            monkeypatch, capsys, "/memory\nWho am I?\n/quit\nnever sent\n", "--db", db, "--base-url", url
        )
    assert code == 0, err
    assert "1 earlier turns" in err
    assert out.count('<human characters="11/5000">\nName: Alice\n</human>') == 1
    assert "chat> You are Alice." in out
    [body] = second.requests
    assert "Name: Alice" in body["messages"][0]["content"]
    assert "Name: Bob" not in body["messages"][0]["content"]
    # Letta's MemGPT loop (the seed agent's): boot messages and a login, the user's text packaged as JSON, a
    # heartbeat after the chained edit; all of it persisted and resumed.
    roles = [m["role"] for m in body["messages"]]
    assert roles == [
        "system",
        "assistant",
        "tool",
        "user",
        "user",
        "assistant",
        "tool",
        "user",
        "assistant",
        "tool",
        "user",
    ]
    assert json.loads(body["messages"][3]["content"])["type"] == "login"
    assert json.loads(body["messages"][4]["content"])["message"] == "My name is Alice"
    assert "request_heartbeat=true" in body["messages"][7]["content"]
    assert json.loads(body["messages"][-1]["content"])["message"] == "Who am I?"


def test_memory_shows_persisted_blocks_and_one_block_by_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "state.db")
    edit = {"label": "human", "old_content": "Bob", "new_content": "Alice", "request_heartbeat": True}
    with serve(Script([completion(call("core_memory_replace", edit)), reply("Hi Alice")])) as url:
        assert chat(monkeypatch, capsys, "My name is Alice\n", "--db", db, "--base-url", url)[0] == 0

    assert main(["memory", "chat", "--db", db]) == 0
    out = capsys.readouterr().out
    assert out.startswith("persona (block-")
    assert "27/5000 characters)\n  You are a helpful assistant\n" in out
    human_line = next(line for line in out.splitlines() if line.startswith("human ("))
    assert human_line.endswith(", 11/5000 characters)")
    assert out.endswith("  Name: Alice\n")

    block_id = human_line.removeprefix("human (").split(",")[0]
    assert main(["memory", "--block", block_id, "--db", db]) == 0
    assert capsys.readouterr().out == f"{human_line}\n  Name: Alice\n"
    assert main(["memory", "--block", "block-missing", "--db", db]) == 2  # as an unknown agent is
    assert capsys.readouterr().err == f"error: {db}: no block with id 'block-missing' is persisted here\n"
    assert main(["memory", "nobody", "--db", db]) == 2
    assert "no agent named 'nobody'" in capsys.readouterr().err
    assert main(["memory", "chat", "--db", str(tmp_path / "absent.db")]) == 2
    assert "no state database here" in capsys.readouterr().err
    assert not (tmp_path / "absent.db").exists()


def test_memory_shows_a_label_the_model_chose_with_its_controls_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The `memory` tool takes any text as a label, as Letta does: an escape sequence in one is shown."""
    db = tmp_path / "state.db"
    store = Store(db)
    store.create_agent("agent-x", "x", [Block("notes\x1b[2J.md", "hi")])
    store.close()
    assert main(["memory", "x", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("notes\\x1b[2J.md (block-") and "\x1b" not in out


def test_chat_reports_turn_end_without_reply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = Script([completion(content="plain words")])
    with serve(script) as url:
        code, out, err = chat(monkeypatch, capsys, "hello\n", "--db", str(tmp_path / "s.db"), "--base-url", url)
    assert code == 0
    # Under Letta's MemGPT loop (the seed agent's) plain text is private reasoning: the user gets nothing.
    assert "chat>" not in out and "plain words" in err
    assert "[turn ended: no_tool_call]" in err


def test_chat_without_api_key_is_one_line_exit_1(
    write_agents: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = write_agents(
        """
        agents:
          chat:
            model: gpt-4o-mini
            system: s
            tools: [send_message]
        """
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n"))
    assert main(["chat", "chat", "--agents", str(path), "--db", str(tmp_path / "s.db")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no API key: set the environment variable OPENAI_API_KEY")
    assert len(err.strip().splitlines()) == 1


def test_chat_unreachable_endpoint_is_one_error_line_then_exit_1(
    write_agents: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = write_agents(
        f"""
        agents:
          chat:
            model: {{name: m, base_url: "http://127.0.0.1:{port}/v1", max_retries: 0, timeout: 5}}
            system: s
            tools: [send_message]
        """
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n"))
    code = main(["chat", "chat", "--agents", str(path), "--db", str(tmp_path / "s.db")])
    err = capsys.readouterr().err
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: cannot reach the model endpoint http://127.0.0.1:{port}/v1: ")
    assert "Traceback" not in err


def test_chat_goes_on_after_a_turn_the_endpoint_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One refused request or one garbled answer ended the whole interactive session."""
    refused = httpx2.Response(400, json={"error": {"message": "context too long", "type": "invalid_request"}})
    script = Script([refused, {"choices": []}, reply("Hello again!")])
    db = str(tmp_path / "s.db")
    with serve(script) as url:
        code, out, err = chat(monkeypatch, capsys, "hello\nhello?\nhi\n", "--db", db, "--base-url", url)
    assert code == 1  # a turn failed
    assert "chat> Hello again!" in out
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and "answered HTTP 400: context too long" in errors[0] and "no choices" in errors[1]
    assert "Traceback" not in err
    sent = [request["messages"] for request in script.requests]
    users = [m for m in sent[-1] if m["role"] == "user" and "hello" in str(m["content"]).lower()]
    assert users == []  # the turns that failed at their first step left nothing in history


def test_chat_ends_with_exit_2_after_a_model_name_the_endpoint_does_not_know(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `--model` typo is the user's to fix (DeepSeek answers it with HTTP 400): the turn fails saying so,
    the session goes on, and ends with exit code 2."""
    unknown = httpx2.Response(400, json={"error": {"message": "Model Not Exist", "code": "invalid_request_error"}})
    script = Script([unknown])
    with serve(script) as url:
        code, _out, err = chat(monkeypatch, capsys, "hello\n", "--db", str(tmp_path / "s.db"), "--base-url", url,
                               "--model", "deepseek-chatt")  # fmt: skip
    assert code == 2
    assert "answered HTTP 400: Model Not Exist (invalid_request_error); check the model name 'deepseek-chatt'" in err


def test_an_unanswered_message_is_not_a_turn_after_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = str(tmp_path / "state.db")
    down = f"http://127.0.0.1:{port}/v1"
    assert chat(monkeypatch, capsys, "hello\n", "--db", db, "--base-url", down, "--model", "scripted")[0] == 1
    with serve(Script([reply("Hi!")])) as url:
        code, _out, err = chat(
            monkeypatch, capsys, "hello again\n", "--db", db, "--base-url", url, "--model", "scripted"
        )
    assert code == 0, err
    assert "0 earlier turns" in err  # the unanswered message was not kept as a turn
    from harness.store import Store

    store = Store(db)
    try:
        agent_id = store.find_agent("chat")
        assert agent_id is not None
        # Letta's MemGPT loop (the seed agent's): the boot sequence's login, then the message, as JSON; the
        # boot messages were kept for the first turn that was answered
        users = [json.loads(m["content"]) for m in store.load_messages(agent_id) if m["role"] == "user"]
        assert [(u["type"], u.get("message")) for u in users] == [("login", None), ("user_message", "hello again")]
        assert store.turns(agent_id) == 1
    finally:
        store.close()


def test_a_line_that_is_not_utf8_is_neither_sent_nor_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Python hands undecodable stdin bytes over as lone surrogates, which no request or database takes."""
    db = str(tmp_path / "state.db")
    script = Script([reply("Hi!")])
    with serve(script) as url:
        code, out, err = chat(monkeypatch, capsys, "caf\udce9\nhello\n", "--db", db, "--base-url", url)
    assert code == 0, err
    assert "that line is not UTF-8 (byte 0xe9 at column 4); nothing was sent or saved" in err
    assert "chat> Hi!" in out
    assert len(script.requests) == 1
    users = [json.loads(m["content"]) for m in script.requests[0]["messages"] if m["role"] == "user"]
    assert [u.get("message") for u in users] == [None, "hello"]  # the boot sequence's login, then the line


def test_a_second_chat_on_the_same_agent_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two processes on one agent lost memory edits and interleaved their histories."""
    from harness.cli.chat import lock_agent

    db = tmp_path / "state.db"
    held = lock_agent(db, "chat")
    try:
        code, _out, err = chat(monkeypatch, capsys, "hello\n", "--db", str(db), "--base-url", "http://127.0.0.1:9/v1")
        assert code == 1
        assert err.startswith(f"error: agent 'chat' is in use by another `harness chat` (pid {os.getpid()}) on {db}")
    finally:
        held.close()
    other = lock_agent(db, "task_agent")  # another agent in the same database is free
    other.close()


@pytest.mark.parametrize(("kind", "file"), [("agents", "agents.schema.json"), ("scenario", "scenario.schema.json")])
def test_committed_json_schemas_are_current(kind: str, file: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Editors read these files; a model change without `harness schema > FILE` would leave them stale.
    assert main(["schema", kind]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((ROOT / file).read_text(encoding="utf-8"))


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out == f"harness {version('harness')}\n"


def test_run_help_says_what_base_url_does_in_replay(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "replay never contacts one, and matches a request by its operation, not the base URL's prefix" in out
    with pytest.raises(SystemExit):
        main(["record", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "waits at most the agent's model.timeout (default 120 s)" in out


def test_chat_shows_a_live_line_while_the_model_thinks() -> None:
    import io
    import threading

    from harness.cli.chat import WaitingLine
    from harness.llm.chat import ChatResponse

    release = threading.Event()
    answer = ChatResponse(content="hi", tool_calls=(), model="m")

    class SlowModel:
        def complete(self, messages: list[dict[str, object]], tools: list[dict[str, object]]) -> ChatResponse:
            release.wait(5)
            return answer

    stream = io.StringIO()
    line = WaitingLine(SlowModel(), stream, interval=0.01)
    timer = threading.Timer(0.2, release.set)
    timer.start()
    assert line.complete([], []) is answer
    text = stream.getvalue()
    assert "\r  waiting for the model... 0 s" in text
    assert text.endswith("\r\x1b[2K")  # the line is cleared before the answer is printed


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    """`harness schema | head -1`: the pipe closes while the command still prints; no traceback."""
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import sys, harness.cli; sys.exit(harness.cli.main(['schema', 'agents']))"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


def test_the_console_prints_a_lone_surrogate_as_a_replacement_character(capsys: pytest.CaptureFixture[str]) -> None:
    """A tool's text can hold one; a UTF-8 stream cannot (printing it raised UnicodeEncodeError)."""
    from harness.cli.console import Console
    from harness.secrets import Secrets

    console = Console(Secrets.collect(values=["sk-hidden-123"], environ={}))
    console.out("half \ud83d of an emoji, key sk-hidden-123")
    console.err("\udfff")
    captured = capsys.readouterr()
    assert captured.out == f"half \ufffd of an emoji, key {MASK}\n"
    assert captured.err == "\ufffd\n"


def test_a_chat_through_a_link_to_a_database_in_use_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lock was named after the path as given: a link to the database got a lock of its own."""
    from harness.cli.chat import lock_agent

    db = tmp_path / "state.db"
    link = tmp_path / "other-name.db"
    link.symlink_to(db)
    held = lock_agent(db, "chat")
    try:
        code, _out, err = chat(monkeypatch, capsys, "hello\n", "--db", str(link), "--base-url", "http://127.0.0.1:9/v1")
        assert code == 1 and "is in use by another `harness chat`" in err
    finally:
        held.close()


@pytest.mark.parametrize("where", ["a file of another kind", "a FIFO (as /dev/null is no regular file)"])
def test_a_database_path_refused_leaves_no_lock_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    db = tmp_path / "notes.txt"
    if where.startswith("a FIFO"):
        os.mkfifo(db)
    else:
        db.write_text("mine\n", encoding="utf-8")
    before = set(tmp_path.iterdir())
    code, _out, err = chat(monkeypatch, capsys, "hello\n", "--db", str(db), "--base-url", "http://127.0.0.1:9/v1")
    assert code == 2, err
    assert "Traceback" not in err
    assert set(db.parent.iterdir()) == before  # no `.lock`, no `-journal`


def test_a_database_with_a_table_gone_is_refused_before_the_model_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tool_calls` dropped: the chat asked the model, then failed writing its answer (exit 1), the agent's
    turn count and the user's message saved without it."""
    db = chatted_then_changed(tmp_path, monkeypatch, capsys, "DROP TABLE tool_calls")
    before, files = db.read_bytes(), set(tmp_path.iterdir())
    script = Script([reply("Hi again")])
    with serve(script) as url:
        code, _out, err = chat(monkeypatch, capsys, "hello again\n", "--db", str(db), "--base-url", url)
    assert (code, script.requests) == (2, [])
    assert err == (
        f"error: {db} is not a state database this harness reads: its tables were changed by another program "
        "(table `tool_calls` gone); it is left as it is: restore it from a backup, or give --db a file `harness "
        "chat` made, or a new path\n"
    )
    assert db.read_bytes() == before and set(tmp_path.iterdir()) == files


def test_a_database_refused_when_its_agent_is_read_leaves_no_lock_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused once the lock was taken (a damaged table, found reading the agent): its `.chat.lock` stayed
    beside a file said to be "left as it is"."""
    db = chatted_then_changed(
        tmp_path, monkeypatch, capsys, "PRAGMA wal_checkpoint(TRUNCATE)", "UPDATE agents SET turns = 'many'"
    )  # a row this harness never writes
    files = set(tmp_path.iterdir())
    code, _out, err = chat(monkeypatch, capsys, "hello\n", "--db", str(db), "--base-url", "http://127.0.0.1:9/v1")
    assert code == 2 and "unexpected data in its `agents` table" in err, err
    assert set(tmp_path.iterdir()) == files


def test_a_database_folder_that_cannot_take_a_lock_file_is_an_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli.chat import lock_agent
    from harness.errors import RunError

    with pytest.raises(RunError, match=r"cannot lock agent 'chat' on .*: No such file or directory"):
        lock_agent(tmp_path / "gone" / "state.db", "chat")


def test_an_empty_path_flag_is_a_mistake_not_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    """`--db "$DB"` with the variable unset must not use (and change) the default database."""
    assert main(["memory", "chat", "--agents", str(ROOT / "agents.yaml"), "--db", ""]) == 2
    assert capsys.readouterr().err == "error: --db '': give a path\n"


def test_what_a_model_writes_is_shown_not_obeyed_by_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An escape sequence in a reply or a block would retitle the window or clear the screen."""
    db = str(tmp_path / "state.db")
    evil = "\x1b]0;pwned\x07\x1b[2J\u202eok"
    script = Script(
        [
            completion(
                call("core_memory_append", {"label": "human", "content": evil, "request_heartbeat": True}),
                content=evil,
            ),
            reply(evil),
        ]
    )
    with serve(script) as url:
        code, out, err = chat(monkeypatch, capsys, "hello\n/memory\n", "--db", db, "--base-url", url)
    assert code == 0, err
    shown = "\\x1b]0;pwned\\x07\\x1b[2J\\u202eok"
    assert f"chat> {shown}" in out and shown in err
    assert main(["memory", "chat", "--agents", str(SEED_AGENTS), "--db", db]) == 0
    memory = capsys.readouterr().out
    assert shown in memory
    for text in (out, err, memory):
        assert not any(char in text for char in "\x1b\x07\u202e")


def test_a_usage_error_echoing_a_url_masks_its_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse repeats the arguments it refuses: `export` takes no --base-url."""
    with pytest.raises(SystemExit) as exit:
        main(["export", "chat", "--base-url", "http://alice:pw-Hunter22@h/v1?api-key=qq-Hunter22"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --base-url http://<SECRET>:<SECRET>@h/v1?api-key=<SECRET>" in err
    assert "Hunter22" not in err


def test_memory_reads_a_database_and_changes_nothing_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A command that only shows opens the database read-only: it migrated an older harness's database (which
    that harness then could not open) and switched it to WAL mode. An older harness's database is shown as
    it is (it was refused: 'needs migrating', which a read-only place never allowed)."""
    import sqlite3

    from harness.store import MIGRATIONS

    db = tmp_path / "state.db"
    with serve(Script([reply("Hi")])) as url:
        assert chat(monkeypatch, capsys, "hello\n", "--db", str(db), "--base-url", url)[0] == 0
    raw = sqlite3.connect(db)
    raw.execute("PRAGMA journal_mode = DELETE")
    raw.execute("DELETE FROM _migrations WHERE name = ?", (MIGRATIONS[-1][0],))  # as an older harness left it
    raw.commit()
    raw.close()
    before = db.read_bytes()
    assert main(["memory", "chat", "--db", str(db)]) == 0
    assert "human (" in capsys.readouterr().out
    assert db.read_bytes() == before and not (tmp_path / "state.db-wal").exists()
    with sqlite3.connect(db) as raw:
        assert [name for (name,) in raw.execute("SELECT name FROM _migrations")] == [n for n, _ in MIGRATIONS[:-1]]
    raw.close()


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_memory_reads_a_database_in_a_folder_it_cannot_write(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    journal_mode: str,
) -> None:
    """Another user's database, a read-only mount, a CI artifact: `harness memory` failed with "attempt to
    write a readonly database" (a WAL reader must create `-shm` beside the file), and where it could write
    the folder it left `-wal` and `-shm` behind. The folder and file are made read-only; root ignores their
    mode, so what this always checks is the cause: nothing is created beside the file, nothing written."""
    import sqlite3

    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "state.db"
    with serve(Script([reply("Hi")])) as url:
        assert chat(monkeypatch, capsys, "hello\n", "--db", str(db), "--base-url", url)[0] == 0
    if journal_mode != "wal":  # as `harness chat` leaves it, or copied out of WAL mode
        with sqlite3.connect(db) as raw:
            raw.execute(f"PRAGMA journal_mode = {journal_mode}")
        raw.close()
    for lock in folder.glob("*.lock"):
        lock.unlink()
    before = db.read_bytes()
    db.chmod(0o444)
    folder.chmod(0o555)
    try:
        assert main(["memory", "chat", "--db", str(db), "--agents", str(SEED_AGENTS)]) == 0
        out = capsys.readouterr().out
        assert "human (" in out and "Name: Bob" in out
        assert sorted(path.name for path in folder.iterdir()) == ["state.db"]
        assert db.read_bytes() == before
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_validate_counts_scenario_files_and_says_how_many_scenarios_they_make(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It said "34 scenario file(s)" of this project's 30 files: a dataset's rows were counted as files."""
    files = [p for p in (ROOT / "scenarios").rglob("*.yaml") if "history" not in p.parts]
    assert main(["validate", "--agents", str(ROOT / "agents.yaml"), str(ROOT / "scenarios")]) == 0
    said = capsys.readouterr().out.splitlines()[1]
    assert said.startswith(f"{len(files)} scenario file(s): ok (")
    assert said.endswith("scenarios: dataset rows and models apart)")


def test_ctrl_c_while_a_module_imports_is_an_interrupt_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C inside a class's `__set_name__` (pydantic's models, imported in a command's first second)
    comes wrapped in a RuntimeError ("Error calling __set_name__"): it ended in a traceback, exit 1."""
    import harness.cli.parser

    def interrupted(args: object, console: object) -> int:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error calling __set_name__ on '_PydanticGeneralMetadata' instance") from exc

    monkeypatch.setattr(harness.cli.parser, "validate_command", interrupted)
    assert main(["validate"]) == 130
    assert capsys.readouterr().err == "\n"

    def broken(args: object, console: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(harness.cli.parser, "validate_command", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["validate"])


def test_chat_shows_what_context_pressure_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harness chat` showed tool calls but never a warning or an eviction: a user could not tell their
    agent's oldest messages had left its context."""
    import math
    from datetime import UTC, datetime

    from harness.context_window import ApproxTokenCounter, token_limit_warning

    def agents(window: int) -> Path:
        path = tmp_path / f"agents{window}.yaml"
        path.write_text(
            "agents:\n  chat:\n    model: {name: m, base_url: 'http://127.0.0.1:9/v1'}\n"
            f"    system: You are a test agent.\n    blocks: [{{label: human, value: 'Name: Bob. {'x' * 1500}'}}]\n"
            f"    tools: [send_message, core_memory_append]\n    context_window: {window}\n    memory_warning: true\n"
        )
        return path

    script = Script([reply("Hi")])  # a request the warning (about 200 tokens) leaves under 90% of the window
    with serve(script) as url:
        chat(
            monkeypatch,
            capsys,
            "hello\n",
            "--db",
            str(tmp_path / "a.db"),
            "--base-url",
            url,
            "--agents",
            str(agents(100000)),
        )
    body = script.requests[0]
    sent = ApproxTokenCounter().count(body["messages"]) + ApproxTokenCounter().count(body["tools"])
    # The same first request is over 75% of this window, and still under 90% with the warning: warned, not
    # evicted (a warning that takes a request over 90% is followed by a compaction).
    warning = {"role": "user", "content": token_limit_warning(datetime(2025, 1, 1, tzinfo=UTC))}
    warned = ApproxTokenCounter().count([*body["messages"], warning]) + ApproxTokenCounter().count(body["tools"])
    window = math.ceil(warned / 0.9) + 1
    assert 0.75 * window < sent
    script = Script([reply("Hi")])
    with serve(script) as url:
        code, _, err = chat(
            monkeypatch,
            capsys,
            "hello\n",
            "--db",
            str(tmp_path / "b.db"),
            "--base-url",
            url,
            "--agents",
            str(agents(window)),
        )
    assert code == 0
    assert f"  [context: memory-pressure warning sent, {sent} -> " in err and f" of {window} tokens]" in err


def test_a_state_database_is_named_in_messages_as_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--db ../state.db` from `sub/` was named `/tmp/.../sub/../state.db` in every state-database message."""
    (tmp_path / "state.db").write_text("not a database", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    for command in (["memory", "chat"], ["chat", "chat"]):
        assert main([*command, "--agents", str(SEED_AGENTS), "--db", "../state.db"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ../state.db is not a state database (not SQLite)"), err


def chatted_at_the_old_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, tuple[str, str]]:
    """A project whose agent chatted once with the database where the harness of 2026-11-23 kept it by
    default (`.harness/` of the folder it ran in, here project/work), now the current folder; the project and
    the --agents flag that names its agents file from there."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(SEED_AGENTS, project / "agents.yaml")
    shutil.copytree(ROOT / "prompts", project / "prompts")
    shutil.copytree(ROOT / "examples", project / "examples")
    work = project / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    agents = ("--agents", "../agents.yaml")
    with serve(Script([reply("Hi")])) as url:  # as the old harness kept it: in the folder it ran in
        assert chat(monkeypatch, capsys, "hello\n", *agents, "--db", ".harness/state.db", "--base-url", url)[0] == 0
    return project, agents


def test_a_database_at_the_default_before_it_moved_is_pointed_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The harness of 2026-11-23 kept the default database in `.harness/` of the folder it ran in; since
    2026-11-24 it is beside the agents file. A chat run from another folder after the upgrade silently started
    its agent afresh, its memory and history left unmentioned in the old place."""
    _, agents = chatted_at_the_old_default(tmp_path, monkeypatch, capsys)
    assert main(["memory", "chat", *agents]) == 2
    assert capsys.readouterr().err == (
        "error: ../.harness/state.db: no state database here (the default since 2026-11-24, beside the agents "
        "file); there is one at .harness/state.db, where the harness kept it before: give --db .harness/state.db\n"
    )
    with serve(Script([])) as url:
        code, _, err = chat(monkeypatch, capsys, "", *agents, "--base-url", url)
    assert code == 0
    assert err.startswith(
        "note: no state database at ../.harness/state.db (the default since 2026-11-24, beside the agents file), "
        "but there is one at .harness/state.db, where the harness kept it before: this chat starts a new one at "
        "../.harness/state.db; to go on with the agents kept there, give --db .harness/state.db\n"
    )
    assert "0 earlier turns" in err
    with serve(Script([])) as url:  # once the new default exists, it is the one: nothing more is said
        assert "note:" not in chat(monkeypatch, capsys, "", *agents, "--base-url", url)[2]
        assert "note:" not in chat(monkeypatch, capsys, "", *agents, "--db", ".harness/state.db", "--base-url", url)[2]


def test_the_older_default_is_not_pointed_to_when_the_new_one_cannot_be_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harness chat` said "this chat starts a new one at ..." and then failed to open that new one (a folder
    it cannot enter or write, a `.harness` that is a file): no chat started, and the note misled."""
    project, agents = chatted_at_the_old_default(tmp_path, monkeypatch, capsys)
    (project / ".harness").write_text("", encoding="utf-8")  # the new default's folder cannot be made
    with serve(Script([])) as url:
        code, _, err = chat(monkeypatch, capsys, "", *agents, "--base-url", url)
    assert code == 2
    assert "note:" not in err, err
    assert err.startswith("error: ../.harness/state.db: "), err


def chatted_then_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *sql: str
) -> Path:
    """A state database one chat turn made (its lock gone), then changed by another program running `sql`."""
    import sqlite3

    db = tmp_path / "state.db"
    with serve(Script([reply("Hi")])) as url:
        assert chat(monkeypatch, capsys, "hello\n", "--db", str(db), "--base-url", url)[0] == 0
    for lock in tmp_path.glob("*.lock"):
        lock.unlink()
    with sqlite3.connect(db, isolation_level=None) as raw:
        for statement in sql:
            raw.execute(statement)
    raw.close()
    return db
