"""A custom tool's call contained (harness/tools/runtime.py): what Letta's sandbox process contains, the
harness contains in its own process."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import Stopped
from harness.tools.context import AgentState
from harness.tools.runtime import PRINTED_KEPT, CappedText, UserCall
from harness.tools.schema import ToolResult, tool_from_function

STATE = AgentState.__new__(AgentState)  # the tools here take no state


class Cancelled(BaseException):
    """A BaseException of a library's own (asyncio.CancelledError is one)."""


def raises(what: str) -> str:
    """Raise what it is told.

    Args:
        what (str): which exception.
    """
    if what == "fail":  # pytest-timeout's signal method calls pytest.fail from its SIGALRM handler
        pytest.fail("Timeout (>3.0s) from pytest-timeout.")
    if what == "skip":
        pytest.skip("not here")
    if what == "exit":
        pytest.exit("stop the session")
    if what == "xfail":
        pytest.xfail("known")
    raise {"cancelled": Cancelled("gone"), "interrupt": KeyboardInterrupt(), "stopped": Stopped(143)}[what]


def test_any_base_exception_of_a_tool_fails_its_call() -> None:
    tool = tool_from_function(raises)
    assert tool.call(STATE, {"what": "cancelled"}, UserCall("raises")) == ToolResult(
        False, "Error executing function raises: Cancelled: gone"
    )


@pytest.mark.parametrize(
    ("what", "kind"),
    [
        ("interrupt", KeyboardInterrupt),
        ("stopped", Stopped),
        ("fail", pytest.fail.Exception),
        ("skip", pytest.skip.Exception),
        ("exit", pytest.exit.Exception),
        ("xfail", pytest.xfail.Exception),
    ],
)
def test_what_stops_the_run_goes_through_a_tool_call(what: str, kind: type[BaseException]) -> None:
    """Ctrl-C (the CLI's SIGTERM is a KeyboardInterrupt too), a `-j N` worker told to stop (its SIGTERM
    raised `SystemExit`, which the tool's call took for its own failure: the worker went on), and pytest
    ending the test (a pytest-timeout timeout was handed to the model as the tool's failure, and a
    re-recording kept it in the cassette)."""
    with pytest.raises(kind):
        tool_from_function(raises).call(STATE, {"what": what}, UserCall("raises"))


def test_a_tools_own_sys_exit_still_fails_only_its_call() -> None:
    def exits() -> str:
        """Exit."""
        sys.exit(3)

    result = tool_from_function(exits).call(STATE, {}, UserCall("exits"))
    assert result == ToolResult(False, "Error executing function exits: SystemExit: 3")


def test_a_call_inside_a_call_is_contained_by_the_outer_one() -> None:
    outer, inner = UserCall("outer"), UserCall("inner")

    def nested() -> str:
        try:
            inner.run(lambda: sys.exit(4))
        except SystemExit as exc:
            return f"inner exited {exc.code}"
        return "not reached"

    assert outer.run(nested) == "inner exited 4"


# ---------------------------------------------------------------- a bounded time


def stalls(how: str) -> str:
    """Never return on its own.

    Args:
        how (str): how it stalls.
    """
    if how == "sleep":
        time.sleep(3600)
    while True:  # a loop that retries whatever fails, as a flaky client's does
        try:
            time.sleep(0.01)
        except Exception:
            continue


@pytest.mark.parametrize("how", ["sleep", "retrying loop"])
def test_a_call_past_its_time_is_stopped_and_fails_with_lettas_timeout_text(how: str) -> None:
    """Letta 0.16.8 stops a sandboxed tool after `tool_sandbox_timeout` seconds and tells the model
    `TimeoutError: Executing tool X timed out after 180.0 seconds.`; a tool that never returned hung the
    whole run (no summary, the other scenarios never run)."""
    started = time.monotonic()
    result = tool_from_function(stalls).call(STATE, {"how": how}, UserCall("stalls", 0.2))
    assert result == ToolResult(
        False, "Error executing function stalls: TimeoutError: Executing tool stalls timed out after 0.2 seconds."
    )
    assert time.monotonic() - started < 30  # stopped, not waited out (the bound is 0.2 s; the machine is shared)
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_tool_that_catches_the_stop_once_is_stopped_again_and_still_times_out() -> None:
    caught: list[str] = []

    def stubborn() -> str:
        try:
            time.sleep(3600)
        except BaseException as exc:
            caught.append(type(exc).__name__)
        time.sleep(3600)  # raised again a second later
        return "finished"

    with pytest.raises(TimeoutError, match=r"^Executing tool stubborn timed out after 0\.1 seconds\.$"):
        UserCall("stubborn", 0.1).run(stubborn)
    assert caught == ["_Deadline"]


def test_a_call_that_returns_in_time_is_not_touched() -> None:
    call = UserCall("quick", 5)
    assert call.run(lambda: "done") == "done"
    assert not call.expired and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


STALLING_EDITOR = '''
import time


def note_then_stall(agent_state, text: str) -> str:
    """Note text, then stall.

    Args:
        text (str): the text.
    """
    agent_state.memory.update_block_value("human", agent_state.memory.get_block("human").value + "\\\\n" + text)
    time.sleep(3600)
    return "noted"
'''


def test_a_call_stopped_leaves_memory_as_it_found_it(tmp_path: Path) -> None:
    """Letta's sandbox returns no state from a process it killed; the tool's edits before the stop are undone,
    as for a call that raised, and nothing of the tool is left running to edit it later."""
    from harness.config import load_agents

    (tmp_path / "stalling_editor.py").write_text(STALLING_EDITOR)
    (tmp_path / "agents.yaml").write_text(
        "agents:\n  a:\n    model: {name: m, base_url: 'http://127.0.0.1:9/v1'}\n    system: s\n"
        "    blocks: [{label: human, value: 'Name: Bob'}]\n"
        "    tools: [send_message, 'stalling_editor:note_then_stall']\n    tool_timeout: 0.2\n"
    )
    spec = load_agents(tmp_path / "agents.yaml").get("a")
    state = AgentState("agent-1", "a", spec.new_memory())
    tool = spec.tool("note_then_stall")
    assert tool is not None and spec.tool_timeout == 0.2
    result = tool.call(state, {"text": "likes tea"}, UserCall(tool.name, spec.tool_timeout))
    assert not result.ok and "timed out after 0.2 seconds" in result.message
    assert state.memory.values() == {"human": "Name: Bob"} and state.memory.edits == []


# ---------------------------------------------------------------- what a tool prints


def test_what_a_call_prints_is_kept_and_the_streams_are_put_back() -> None:
    streams = sys.stdout, sys.stderr
    call = UserCall("chatty")

    def chatty() -> str:
        print("to stdout")
        print("to stderr", file=sys.stderr)
        raise ValueError("and then it failed")

    with pytest.raises(ValueError):
        call.run(chatty)
    assert (call.stdout, call.stderr) == ("to stdout\n", "to stderr\n")
    assert (sys.stdout, sys.stderr) == streams


def test_what_a_call_prints_is_kept_up_to_its_first_and_last_halves() -> None:
    """A debug print in a loop (40 MB a call) was kept whole: ten calls, a 419 MB report and 1.27 GB."""
    call = UserCall("chatty")
    half = PRINTED_KEPT // 2

    def chatty() -> None:
        print("start")
        for _ in range(200):
            print("x" * 100_000)
        print("ValueError: the last line", file=sys.stderr)
        print("end")

    call.run(chatty)
    written = 6 + 200 * 100_001 + 4
    assert call.stdout.startswith("start\nxxx") and call.stdout.endswith("xxx\nend\n")
    assert f"\n... {written - 2 * half:,} characters left out ...\n" in call.stdout
    assert len(call.stdout) < PRINTED_KEPT + 50
    assert call.stderr == "ValueError: the last line\n"  # what fits is kept as written


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=30), st.integers(min_value=2, max_value=40))
def test_a_capped_stream_keeps_what_was_written_or_both_ends_of_it(writes: list[str], kept: int) -> None:
    """However the writes fall: all of it when it fits, else its first and last `kept // 2` characters and
    how many were left out; never more than about twice that held while written."""
    stream = CappedText(kept)
    for text in writes:
        assert stream.write(text) == len(text)
        assert stream.tail_length <= 2 * (kept // 2) and stream.head_length <= kept // 2
    whole, half = "".join(writes), kept // 2
    if len(whole) <= 2 * half:
        assert stream.getvalue() == whole
    else:
        left_out = len(whole) - 2 * half
        assert stream.getvalue() == f"{whole[:half]}\n... {left_out:,} characters left out ...\n{whole[-half:]}"
    with pytest.raises(TypeError, match="string argument expected, got 'bytes'"):
        stream.write(b"x")  # type: ignore[arg-type]


def test_what_a_call_printed_before_it_timed_out_is_kept() -> None:
    call = UserCall("chatty", 0.1)

    def chatty() -> str:
        print("started")
        time.sleep(3600)
        return "never"

    with pytest.raises(TimeoutError):
        call.run(chatty)
    assert call.stdout == "started\n"
