"""The pytest plugin next to the pytest plugins real projects use. Those plugins are not installed here, so
each test reproduces the mechanism of one in a conftest or a plugin module of the test project:
pytest-timeout's signal method (pytest.fail from a SIGALRM handler), pytest-rerunfailures (an item's protocol
run again, the earlier tries reported with outcome "rerun"), pytest-repeat (`--count`, a parametrization
made in `pytest_generate_tests`), pytest-html (`--html`)."""

from __future__ import annotations

import sys
import textwrap
from typing import Any

import pytest

from tests.fakes import REMEMBER, REMEMBER_RESPONSES, FakeOpenAI, Project, completion, make_project, reply
from tests.helpers import call

# pytest-timeout's signal method: SIGALRM, whose handler calls pytest.fail wherever the test is. Here it
# waits for the test to be inside the tool `nap` (a busy machine may take longer than the timer to get there).
TIMEOUT_CONFTEST = """
import signal

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    def timed_out(signum, frame):
        inside = frame
        while inside is not None and inside.f_code.co_name != "nap":
            inside = inside.f_back
        if inside is None:
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            return
        pytest.fail("Timeout (>0.2s) from pytest-timeout.")

    signal.signal(signal.SIGALRM, timed_out)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        return (yield)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
"""

NAP_TOOL = '''
import os
import time


def nap(seconds: float) -> str:
    """Sleep a while.

    Args:
        seconds (float): how long.
    """
    if os.environ.get("NAP_EXIT"):
        raise SystemExit(int(os.environ["NAP_EXIT"]))
    time.sleep(float(os.environ.get("NAP_SECONDS", seconds)))
    return "rested"
'''

NAPPING = """
agent: chat
turns:
  - user: "Take a nap."
    expect:
      reply: {contains: rested}
"""


@pytest.fixture(params=["harness", "letta-memgpt", "letta-v1"])
def loop(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def napping(pytester: pytest.Pytester, loop: str) -> Project:
    """A project whose scenario calls a custom tool that sleeps, recorded with the tool quick, under each
    loop (each contains a tool's failure in its own words)."""
    return napping_project(pytester, loop)


def napping_project(pytester: pytest.Pytester, loop: str = "harness") -> Project:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path, {"napping": NAPPING})
    (project.root / "naps.py").write_text(NAP_TOOL, encoding="utf-8")
    text = project.agents.read_text().replace("tools: [send_message,", "tools: ['naps:nap', send_message,")
    text = text.replace("loop: harness", f"loop: {loop}")
    project.agents.write_text(text, encoding="utf-8")
    project.record("napping", nap_then_reply(loop))
    return project


def nap_then_reply(loop: str) -> list[dict[str, Any]]:
    """The model's answers: a nap, then a reply (letta-v1's agent replies in plain text)."""
    last = completion(content="I rested.") if loop == "letta-v1" else reply("I rested.")
    return [completion(call("nap", {"seconds": 0.0, "request_heartbeat": True})), last]


def test_a_timeout_inside_a_custom_tool_ends_the_test_and_is_never_recorded(
    pytester: pytest.Pytester, napping: Project, monkeypatch: pytest.MonkeyPatch, loop: str
) -> None:
    """pytest-timeout's `Failed` raised inside the tool was contained as the tool's failure: the model read
    `Error executing function nap: Failed: Timeout ...`, replay failed as a stale cassette with "re-record
    with", and re-recording kept pytest-timeout's text in the cassette."""
    pytester.runpytest().assert_outcomes(passed=1)  # the tool quick: replayed as recorded
    pytester.makeconftest(TIMEOUT_CONFTEST)
    monkeypatch.setenv("NAP_SECONDS", "5")  # the tool now runs past the test's timeout
    cassette = napping.cassettes / "napping.yaml"
    recorded = cassette.read_bytes()
    result = pytester.runpytest("-rf")
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*re-record with*")
    result.stdout.no_fnmatch_line("*Error executing function nap*")
    # Shown as pytest shows a timeout: at the tool's line it stopped, without pytest's, pluggy's or the
    # harness's frames above it (hundreds of lines, and the short summary read `cls = <class CallInfo>`)
    result.stdout.fnmatch_lines(
        [
            '>       time.sleep(float(os.environ.get("NAP_SECONDS", seconds)))',
            "naps.py:*",
            '>       pytest.fail("Timeout (>0.2s) from pytest-timeout.")',
            "E       Failed: Timeout (>0.2s) from pytest-timeout.",
            "FAILED scenarios/napping.yaml::napping - Failed: Timeout*",
        ]
    )
    for frames in ("*_pytest/*", "*pluggy/*", "*harness/*"):
        result.stdout.no_fnmatch_line(frames)
    with FakeOpenAI(nap_then_reply(loop)) as server:
        again = pytester.runpytest("--harness-record-mode", "all", "--harness-base-url", server.base_url)
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*Failed: Timeout (>0.2s) from pytest-timeout.*"])
    assert len(server.received) == 1  # the tool's result never went to the model
    assert cassette.read_bytes() == recorded
    assert "pytest-timeout" not in "".join(path.read_text() for path in napping.cassettes.rglob("*"))


def test_a_tools_own_sys_exit_is_still_its_calls_failure_under_pytest(
    pytester: pytest.Pytester, napping: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only pytest's outcomes go through: a tool that exits fails its call, as Letta's sandbox contains it."""
    monkeypatch.setenv("NAP_EXIT", "3")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no recorded response*", "*+*Error executing function nap*"])  # as each loop words it


@pytest.mark.parametrize(
    ("call", "outcome"),
    [
        ('pytest.importorskip("no_such_module_xyz")', {"skipped": 1}),
        ('pytest.skip("needs a GPU", allow_module_level=True)', {"skipped": 1}),
        ('pytest.fail("the tool cannot load")', {"errors": 1}),
    ],
)
def test_a_tool_module_that_skips_or_fails_as_it_is_imported_is_the_outcome_of_its_scenarios(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, call: str, outcome: dict[str, int]
) -> None:
    """`pytest.importorskip` at the top of a tool module ended the session with INTERNALERROR (exit 3) from
    the plugin's warm-up and its report hook, which caught Exception alone (pytest's outcomes are
    BaseException): no test ran. The scenario needing the tool is skipped (or fails) instead, the rest run."""
    project = napping_project(pytester)
    tool = project.root / "naps.py"
    tool.write_text(f"import pytest\n{call}\n{tool.read_text()}", encoding="utf-8")
    pytester.makepyfile(test_other="def test_other():\n    pass\n")
    monkeypatch.delitem(sys.modules, "naps", raising=False)  # imported by the recording, in this process
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, **outcome)
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    assert result.ret == (pytest.ExitCode.OK if "skipped" in outcome else pytest.ExitCode.TESTS_FAILED)
    if "skipped" in outcome:
        result.stdout.fnmatch_lines(["SKIPPED * naps.py:2: *"])


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# pytest-repeat: `--count N` runs each test N times, a parametrization its pytest_generate_tests makes
# through a fixture of its own (ids `1-3`, `2-3`, `3-3`).
REPEAT_PLUGIN = """
import pytest


def pytest_addoption(parser):
    parser.addoption("--count", type=int, default=1)


@pytest.fixture
def __repeat_step(request):
    return request.param


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc):
    count = metafunc.config.option.count
    if count > 1:
        metafunc.fixturenames.append("__repeat_step")
        metafunc.parametrize(
            "__repeat_step", range(count), indirect=True, ids=lambda i: f"{i + 1}-{count}"
        )
"""


def test_the_record_command_keeps_the_options_that_made_the_tests_id(pytester: pytest.Pytester) -> None:
    """`pytest -p repeat --count 3 tests` told `record it with: pytest --harness-record-mode new
    'tests/test_a.py::test_a[1-3]'`: without `--count 3` that id does not exist (pytest: not found, exit 4)."""
    import shlex

    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    make_project(pytester.path)
    pytester.makepyfile(repeat_like=REPEAT_PLUGIN)
    pytester.syspathinsert()
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_a.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.parametrize('who', ['Azin'])\n"
        "def test_a(harness_agent, who):\n"
        "    assert harness_agent('chat').send(f'My name is {who}.').stop_reason == 'replied'\n",
        encoding="utf-8",
    )
    result = pytester.runpytest("-p", "repeat_like", "--count", "3", "-q", "tests")
    result.assert_outcomes(failed=3)
    told = [line.split("record it with: ", 1)[1] for line in result.outlines if "record it with: " in line]
    assert told[0].startswith("pytest --harness-record-mode new -p repeat_like --count 3 -q ")  # (and pytester's)
    assert told[0].endswith(" 'tests/test_a.py::test_a[Azin-1-3]'")
    with FakeOpenAI([reply("Hello Azin!")]) as server:
        pasted = pytester.runpytest(*shlex.split(told[0])[1:], "--harness-base-url", server.base_url)
    pasted.assert_outcomes(passed=1)
    # A parametrization the test's own mark makes needs no option: the command stays short.
    plain = pytester.runpytest("tests")
    plain.stdout.fnmatch_lines(["  record it with: pytest --harness-record-mode new 'tests/test_a.py::test_a[Azin]'"])


# What each test imports while it runs (its setup, call and teardown, which pytest-timeout times).
IMPORTS_CONFTEST = """
import sys

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    before = set(sys.modules)
    try:
        return (yield)
    finally:
        print("IMPORTED", item.nodeid, sorted(set(sys.modules) - before))
"""


def test_the_harness_is_loaded_before_any_test_runs_so_no_timeout_can_cut_its_import(
    pytester: pytest.Pytester,
) -> None:
    """The first scenario's setup imported the harness (yaml, pydantic, the agents file's tool modules):
    a pytest-timeout landing there left a half-initialized module, and every later scenario errored with
    "partially initialized module 'yaml' has no attribute 'error'". Now it is done once collection ends."""
    project = napping_project(pytester)
    pytester.makeconftest(IMPORTS_CONFTEST)
    project.write_scenario("remember", REMEMBER)
    project.record("remember", REMEMBER_RESPONSES)
    pytester.makepyfile(
        test_agent="def test_agent(harness_agent):\n    assert harness_agent('chat').memory is not None\n"
    )
    (pytester.path / "cassettes" / "test_agent").mkdir()
    (pytester.path / "cassettes" / "test_agent" / "test_agent.yaml").write_text("interactions: []\nversion: 1\n")
    result = pytester.runpytest_subprocess("-s")  # a fresh process: nothing loaded yet
    result.assert_outcomes(passed=3)
    imported = [line.split("IMPORTED ", 1)[1] for line in result.outlines if "IMPORTED " in line]
    assert len(imported) == 3
    for line in imported:
        modules = line.split(" ", 1)[1].strip("[]").replace("'", "").split(", ")
        heavy = [m for m in modules if m.split(".")[0] in ("harness", "yaml", "pydantic", "naps", "sqlite3")]
        assert heavy == [], line


def test_a_project_with_tests_of_its_own_only_loads_nothing_of_the_harness_at_collection(
    pytester: pytest.Pytester,
) -> None:
    """The load moved to the end of collection happens only where harness tests were collected."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    make_project(pytester.path)
    pytester.makepyfile(
        test_plain="import sys\n\ndef test_plain():\n"
        "    print('LOADED', sorted(m for m in sys.modules if m.startswith(('harness.config', 'yaml'))))\n"
    )
    result = pytester.runpytest_subprocess("-s", "test_plain.py")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*LOADED []"])
