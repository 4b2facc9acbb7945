"""The pytest plugin end to end: scenario files collected and replayed by pytest in a small project."""

from __future__ import annotations

import os
import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.errors import UserError
from harness.yamlsource import load_yaml
from tests.fakes import (
    FORGETFUL,
    FORGETFUL_RESPONSES,
    REMEMBER,
    REMEMBER_RESPONSES,
    FakeOpenAI,
    Project,
    completion,
    make_project,
    replace,
    reply,
)
from tests.helpers import call

# The model replaces Bob with a misspelt name: the block's edit history explains the failure.
MISSPELT = """
agent: chat
description: the agent must store the corrected name exactly
turns:
  - user: "My name is Carol, not Bob."
    expect:
      blocks:
        human: {equals: "Name: Carol"}
"""
MISSPELT_RESPONSES = [replace("human", "Bob", "Carl"), reply("Got it, Carl")]


def lit(text: str) -> str:
    """`text` as an fnmatch pattern matching itself."""
    return text.replace("[", "[[]")


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    """A project in pytester's folder with remember (passes) and misspelt (fails), both recorded."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path, {"remember": REMEMBER, "misspelt": MISSPELT})
    project.record("remember", REMEMBER_RESPONSES)
    project.record("misspelt", MISSPELT_RESPONSES)
    return project


def test_each_scenario_is_collected_as_an_item(pytester: pytest.Pytester, project: Project) -> None:
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["scenarios/misspelt.yaml::misspelt", "scenarios/remember.yaml::remember"])
    result.stdout.no_fnmatch_line("cassettes/*")  # cassettes are YAML too, but not scenarios
    assert result.ret == pytest.ExitCode.OK


def test_a_passing_and_a_failing_scenario(pytester: pytest.Pytester, project: Project) -> None:
    result = pytester.runpytest_subprocess()  # a fresh process: the plugin loads from its entry point
    result.assert_outcomes(passed=1, failed=1)
    path = project.scenario_path("misspelt").relative_to(pytester.path)  # as typed from the rootdir
    result.stdout.fnmatch_lines(
        [
            f"{path}:7: turns[0].expect.blocks.human.equals: block 'human' differs",
            "  in turn 1: user: 'My name is Carol, not Bob.'",
            "  expected: 'Name: Carol'",
            "  actual:   'Name: Carl'",
            "  history of block 'human':",
            "    initial: 'Name: Bob'",
            "    turn 1 step 1 core_memory_replace(*): 'Name: Bob' -> 'Name: Carl'",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED scenarios/misspelt.yaml::misspelt*"])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*raise ScenarioFailed*")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_an_item_lets_go_of_its_results_once_reported(pytester: pytest.Pytester, project: Project) -> None:
    """The call's report (failure text included) is made from the results; after teardown the session no
    longer holds them, so a big suite's full garbage collections do not walk every result run so far."""
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_teardown(item):
            print(f"before teardown: {item.name} holds {len(item.results)} result(s)")
            yield
            print(f"after teardown: {item.name} holds {item.results} and {item.scenarios}")
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*before teardown: misspelt holds 1 result(s)",
            "*after teardown: misspelt holds None and None",
            "*block 'human' differs*",  # the failure was reported from the results all the same
        ]
    )
    result.stdout.fnmatch_lines(
        ["*before teardown: remember holds 1 result(s)", "*after teardown: remember holds None*"]
    )


def test_verbose_run_names_the_scenarios(pytester: pytest.Pytester, project: Project) -> None:
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(
        ["scenarios/misspelt.yaml::misspelt FAILED*", "scenarios/remember.yaml::remember PASSED*"], consecutive=False
    )


def test_k_selects_scenarios(pytester: pytest.Pytester, project: Project) -> None:
    result = pytester.runpytest("-k", "remember")
    result.assert_outcomes(passed=1, deselected=1)
    result = pytester.runpytest("-k", "misspelt")
    result.assert_outcomes(failed=1, deselected=1)
    result = pytester.runpytest("-m", "harness_scenario")
    result.assert_outcomes(passed=1, failed=1)


def test_xfail_scenarios(pytester: pytest.Pytester, project: Project) -> None:
    project.write_scenario("known_bug", FORGETFUL + "xfail: the model does not store names\n")
    project.record("known_bug", FORGETFUL_RESPONSES)
    project.write_scenario("fixed_bug", REMEMBER + "xfail: it used to forget\n")
    project.record("fixed_bug", REMEMBER_RESPONSES)
    result = pytester.runpytest("-rfxX", "-vv", "-k", "bug", "--junitxml=junit.xml")
    # a failing xfail scenario is xfailed; one that passes is a strict XPASS, i.e. a failure
    result.assert_outcomes(xfailed=1, failed=1, deselected=2)
    result.stdout.fnmatch_lines(["XFAIL scenarios/known_bug.yaml::known_bug*the model does not store names*"])
    # the failure says where (the `xfail:` key's line) and what to do, as `harness run` does (pytest said only
    # `[XPASS(strict)] <reason>`), on the first line, which the short summary and JUnit's `message` show
    located = (
        "scenarios/fixed_bug.yaml:17: xfail: expected to fail (it used to forget) but every check passed: "
        "remove `xfail` if the behaviour is fixed"
    )
    result.stdout.fnmatch_lines([f"[[]XPASS(strict)] {located}", f"FAILED *fixed_bug - [[]XPASS(strict)] {located}"])
    junit = (pytester.path / "junit.xml").read_text(encoding="utf-8")
    assert f'<failure message="[XPASS(strict)] {located}' in junit
    assert pytester.runpytest("-k", "fixed_bug", "--runxfail").ret == pytest.ExitCode.OK


def test_an_xfail_scenario_with_no_cassette_fails(pytester: pytest.Pytester, project: Project) -> None:
    project.write_scenario("unrecorded", FORGETFUL + "xfail: the model does not store names\n")
    result = pytester.runpytest("-k", "unrecorded")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(["*this scenario has not been recorded yet*", "*pytest --harness-record-mode new*"])


def test_a_stale_cassette_fails_with_the_diff_and_the_command(pytester: pytest.Pytester, project: Project) -> None:
    path = project.scenario_path("remember").relative_to(pytester.path)
    path.write_text(path.read_text().replace("My name is Azin.", "My name is Azim."))
    result = pytester.runpytest("-k", "remember")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            f"{lit(str(path))}:4: turns[[]0].user: the cassette * has no recorded response for turn 1, step 1*",
            "*-Hi! My name is Azin.",
            "*+Hi! My name is Azim.",
            f"  re-record with: pytest --harness-record-mode new {path}",
        ]
    )


def test_junitxml_lists_the_testcases(pytester: pytest.Pytester, project: Project) -> None:
    report = pytester.path / "junit.xml"
    result = pytester.runpytest(f"--junitxml={report}")
    result.assert_outcomes(passed=1, failed=1)
    root = ET.parse(report).getroot()
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert set(cases) == {"remember", "misspelt"}
    assert cases["remember"].get("classname") == "scenarios.remember.yaml"
    assert cases["remember"].find("failure") is None
    failure = cases["misspelt"].find("failure")
    assert failure is not None
    assert "block 'human' differs" in (failure.get("message") or "") + (failure.text or "")
    steps = {p.get("name"): p.get("value") for p in cases["remember"].iter("property")}
    assert steps == {"steps": "2"}


def test_a_misspelt_key_fails_that_scenario_alone_with_a_located_message(
    pytester: pytest.Pytester, project: Project
) -> None:
    bad = project.write_scenario("bad", "agent: chat\nturns:\n  - user: hi\n    expct:\n      reply: {contains: x}\n")
    bad = bad.relative_to(pytester.path)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)  # the other scenarios still ran
    result.stdout.fnmatch_lines(
        [
            f"{bad}:4:5: turns[0].expct: unknown key 'expct'; did you mean 'expect'? valid keys: user, expect, agent",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED scenarios/bad.yaml::bad*"])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*harness/scenarios/model.py*")
    result.stdout.no_fnmatch_line("*raise ScenarioError*")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_pattern_that_does_not_compile_fails_that_scenario_alone_with_a_located_message(
    pytester: pytest.Pytester, project: Project
) -> None:
    """re raises OverflowError, not re.error, for this count: still the user's mistake, at its line."""
    bad = project.write_scenario(
        "bad", "agent: chat\nturns:\n  - user: hi\nexpect:\n  reply: {matches: 'a{4294967296}'}\n"
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)  # the other scenarios still ran
    result.stdout.fnmatch_lines(
        [f"{bad.relative_to(pytester.path)}:5:11: expect.reply.matches: invalid regular expression: the repetition*"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*OverflowError*")


def test_an_unknown_agent_or_block_fails_that_scenario(pytester: pytest.Pytester, project: Project) -> None:
    bad = project.write_scenario("wrong_refs", "agent: chatbot\nturns: [{user: hi}]\n")
    blocks = project.write_scenario(
        "wrong_block", "agent: chat\nturns: [{user: hi}]\nexpect: {blocks: {tasks: {json: []}}}\n"
    )
    bad, blocks = bad.relative_to(pytester.path), blocks.relative_to(pytester.path)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines([f"{bad}:1:1: agent: no agent named 'chatbot'; defined: chat"])
    result.stdout.fnmatch_lines(
        [f"{blocks}:3:*: expect.blocks.tasks: agent 'chat' has no block 'tasks'; its blocks: persona, human"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_unplayed_interactions_fail_as_a_stale_cassette(pytester: pytest.Pytester, project: Project) -> None:
    """A cassette holding more than the run asks for recorded another conversation: it must not pass."""
    cassette = project.cassettes / "remember.yaml"
    data = yaml.safe_load(cassette.read_text())
    extra = dict(data["interactions"][0])
    extra["request"] = {**extra["request"], "body": extra["request"]["body"].replace("Azin", "Somebody else")}
    data["interactions"].append(extra)
    cassette.write_text(yaml.safe_dump(data))
    result = pytester.runpytest("-k", "remember")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "*holds 1 recorded interaction(s) this run never asked for (indexes [[]2]): the agent*",
            "*re-record with: pytest --harness-record-mode new *remember.yaml",
        ]
    )


def test_record_mode_records_through_pytest(pytester: pytest.Pytester, project: Project) -> None:
    project.write_scenario("fresh", "agent: chat\nturns:\n  - user: hello\n    expect: {reply: {equals: hi!}}\n")
    assert pytester.runpytest("-k", "fresh").parseoutcomes() == {"failed": 1, "deselected": 2}
    with FakeOpenAI([completion(content="hi!")]) as server:
        result = pytester.runpytest(
            "-k", "fresh", "--harness-record-mode", "all", "--harness-base-url", server.base_url
        )
    result.assert_outcomes(passed=1, deselected=2)
    assert len(server.received) == 1
    assert (project.cassettes / "fresh.yaml").exists()
    pytester.runpytest("-k", "fresh").assert_outcomes(passed=1, deselected=2)  # replayed offline


def test_a_different_model_name_makes_replay_stale(pytester: pytest.Pytester, project: Project) -> None:
    result = pytester.runpytest("-k", "remember", "--harness-model", "another-model")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(['*-model: "fake-model-7b"', '*+model: "another-model"'])


def test_ini_options_choose_the_files(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makeini(
        "[pytest]\nharness_agents = config/agents.yaml\nharness_cassettes = tapes\nharness_scenarios = evals\n"
    )
    project = make_project(tmp_path / "source", {"remember": REMEMBER})
    project.record("remember", REMEMBER_RESPONSES)
    (pytester.path / "config").mkdir()
    (pytester.path / "config" / "agents.yaml").write_text(project.agents.read_text())
    (pytester.path / "evals").mkdir()
    (pytester.path / "evals" / "remember.yaml").write_text(project.scenario_path("remember").read_text())
    # The scenario is outside the agents file's folder: its cassette mirrors its path under the rootdir.
    (pytester.path / "tapes" / "evals").mkdir(parents=True)
    (pytester.path / "tapes" / "evals" / "remember.yaml").write_text((project.cassettes / "remember.yaml").read_text())
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "not_a_scenario.yaml").write_text("just: data\n")
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(["evals/remember.yaml::remember PASSED*"])
    result.assert_outcomes(passed=1)


def test_help_lists_the_harness_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "agent scenarios replayed from cassettes (harness):",
            "*--harness-agents=FILE*",
            "*--harness-cassettes=DIR*",
            "*--harness-record-mode={none,new,all}*",
            "*none: replay only, never touch the network (default)*",
            "*--harness-base-url=URL*",
            "*--harness-model=NAME*",
        ]
    )


def test_xdist_and_exitfirst(pytester: pytest.Pytester, project: Project) -> None:
    # Each worker collects the same items and replays its share from the read-only cassettes.
    result = pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*2 workers*", "*scenarios/misspelt.yaml:*block 'human' differs*"])
    # -x stops at the first failure: misspelt sorts first, so remember never runs.
    result = pytester.runpytest("-x")
    result.assert_outcomes(failed=1)


def test_xdist_loadfile_runs_each_scenario_once(pytester: pytest.Pytester, project: Project) -> None:
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadfile")
    result.assert_outcomes(passed=1, failed=1)


def test_pytest_split_shards_partition_the_suite(pytester: pytest.Pytester, project: Project) -> None:
    """Sharding a huge suite across CI machines with pytest-split: every scenario runs in exactly one shard."""
    project.write_scenario("third", REMEMBER)
    project.record("third", REMEMBER_RESPONSES)
    ran: list[str] = []
    for group in ("1", "2"):
        result = pytester.runpytest("--splits", "2", "--group", group, "-v")
        ran += [line.split(" ")[0] for line in result.outlines if line.startswith("scenarios/") and "::" in line]
    assert sorted(ran) == [
        "scenarios/misspelt.yaml::misspelt",
        "scenarios/remember.yaml::remember",
        "scenarios/third.yaml::third",
    ]


PYTHON_TEST = """
def test_saves_name(harness_agent):
    agent = harness_agent("chat")
    result = agent.send("My name is Azin.")
    assert result.stop_reason == "replied"
    assert "Azin" in agent.memory.get_block("human").value
"""


def test_the_harness_agent_fixture_records_then_replays_a_python_test(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path)
    pytester.makepyfile(test_agent=PYTHON_TEST)
    cassette = project.cassettes / "test_agent" / "test_saves_name.yaml"

    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        recorded = pytester.runpytest("--harness-record-mode", "all", "--harness-base-url", server.base_url)
    recorded.assert_outcomes(passed=1)
    assert len(server.received) == 2
    assert yaml.safe_load(cassette.read_text())["metadata"]["recorded_with"]["model"] == "fake-model-7b"

    replayed = pytester.runpytest()  # no server: every exchange comes from the cassette
    replayed.assert_outcomes(passed=1)

    pytester.makepyfile(test_agent=PYTHON_TEST.replace("My name is Azin.", "My name is Azim."))
    stale = pytester.runpytest()
    stale.assert_outcomes(failed=1)
    stale.stdout.fnmatch_lines(
        [
            "test_agent.py::test_saves_name: no recorded response in *test_saves_name.yaml for a request this test*",
            "*-My name is Azin.",
            "*+My name is Azim.",
            "  re-record with: pytest --harness-record-mode new test_agent.py::test_saves_name",
        ]
    )


@pytest.mark.parametrize(
    ("returned", "said"),
    [
        ("agents.yaml", "agents.yaml is the agents file, which the run reads"),
        (
            "scenarios/remember.yaml",
            "scenarios/remember.yaml is in the scenarios folder scenarios, which the run reads",
        ),
        # not there yet: the next run would collect the cassette as a scenario, and fail it
        ("scenarios/new.yaml", "scenarios/new.yaml is in the scenarios folder scenarios, which the run reads"),
        ("evals/new.yaml", "evals/new.yaml is in the scenarios folder evals, which the run reads"),
        ("snapshots/remember.yaml", "snapshots/remember.yaml is in the snapshots folder snapshots, which the run"),
        ("tools.py", "tools.py is not a YAML file, as a cassette is: it may be one the run reads"),
        ("test_agent.py", "test_agent.py is not a YAML file, as a cassette is: it may be one the run reads"),
    ],
)
def test_a_cassette_path_fixture_naming_a_file_the_run_reads_fails_the_test(
    pytester: pytest.Pytester, returned: str, said: str
) -> None:
    """An overridden `harness_cassette_path` (as the README suggests) returning the agents file had
    `--harness-record-mode all` replace agents.yaml with the cassette (`metadata:` ...): every later run failed.
    Refused as a scenario's cassette path is, before anything is sent or written."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\nharness_scenarios = scenarios evals\n")
    make_project(pytester.path, {"remember": REMEMBER})
    (pytester.path / "evals").mkdir()
    (pytester.path / "snapshots").mkdir()
    (pytester.path / "snapshots" / "remember.yaml").write_text("golden: true\n", encoding="utf-8")
    (pytester.path / "tools.py").write_text("def tool():\n    pass\n", encoding="utf-8")
    pytester.makepyfile(test_agent=PYTHON_TEST)
    pytester.makeconftest(
        "import pytest\nfrom pathlib import Path\n\n"
        f"@pytest.fixture\ndef harness_cassette_path():\n    return Path(__file__).parent / {returned!r}\n"
    )
    target = pytester.path / returned
    before = target.read_bytes() if target.exists() else None
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        result = pytester.runpytest(
            "test_agent.py", "--harness-record-mode", "all", "--harness-base-url", server.base_url
        )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"harness_cassette_path: {lit(said)}*; make the fixture return a path of its own, in the cassette folder *"]
    )
    assert server.received == []
    assert (target.read_bytes() if target.exists() else None) == before  # untouched, or still not there


def test_a_cassette_path_fixture_naming_a_folder_of_its_own_records_there(pytester: pytest.Pytester) -> None:
    """The refusal above is of the run's own files only: a cassette moved elsewhere records and replays."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    make_project(pytester.path)
    pytester.makepyfile(test_agent=PYTHON_TEST)
    pytester.makeconftest(
        "import pytest\nfrom pathlib import Path\n\n"
        "@pytest.fixture\ndef harness_cassette_path():\n    return Path(__file__).parent / 'tapes' / 'mine.yml'\n"
    )
    (pytester.path / "tapes").mkdir()
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        pytester.runpytest("--harness-record-mode", "all", "--harness-base-url", server.base_url).assert_outcomes(
            passed=1
        )
    assert (pytester.path / "tapes" / "mine.yml").read_text(encoding="utf-8").startswith("metadata:")
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_python_tests_miss_under_another_loop_names_the_setting(pytester: pytest.Pytester) -> None:
    """The cause `harness run` gives a miss the harness made (the default loop changed) is the test's too."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path)
    pytester.makepyfile(test_agent=PYTHON_TEST)
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        pytester.runpytest("--harness-record-mode", "all", "--harness-base-url", server.base_url)
    agents = project.agents.read_text(encoding="utf-8")
    project.agents.write_text(agents.replace("  loop: harness", "  # loop: harness"), encoding="utf-8")
    stale = pytester.runpytest()
    stale.assert_outcomes(failed=1)
    stale.stdout.fnmatch_lines(
        [
            "test_agent.py::test_saves_name: no recorded response in *test_saves_name.yaml for a request this test "
            "made (the cassette was recorded under `loop: harness`, and this request is letta-memgpt's *",
        ]
    )


def test_a_python_test_never_recorded_says_so(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    make_project(pytester.path)
    pytester.makepyfile(test_agent=PYTHON_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_agent.py::test_saves_name: not recorded yet (no cassette at *test_saves_name.yaml)",
            "  record it with: pytest --harness-record-mode new test_agent.py::test_saves_name",
        ]
    )
    result.stdout.no_fnmatch_line("*changed*")


def test_a_python_test_leaving_recorded_exchanges_unplayed_fails_until_rerecorded(
    pytester: pytest.Pytester,
) -> None:
    """Recording mode new prunes what the test no longer asks for, so the cassette cannot pass for both."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path)
    pytester.makepyfile(test_agent=PYTHON_TEST)
    cassette = project.cassettes / "test_agent" / "test_saves_name.yaml"
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        pytester.runpytest("--harness-record-mode", "new", "--harness-base-url", server.base_url).assert_outcomes(
            passed=1
        )
    shorter = PYTHON_TEST.replace('harness_agent("chat")', 'harness_agent("chat", max_steps=1)').replace(
        '== "replied"', '== "max_steps"'
    )
    pytester.makepyfile(test_agent=shorter)
    stale = pytester.runpytest()
    stale.assert_outcomes(failed=1)
    stale.stdout.fnmatch_lines(
        [
            "*test_agent.py::test_saves_name: the cassette *test_saves_name.yaml holds 1 recorded interaction(s) "
            "this test never asked for (indexes [[]1])*",
            "*re-record with: pytest --harness-record-mode new test_agent.py::test_saves_name",
        ]
    )
    stale.stdout.no_fnmatch_line("*pytest_plugin.py*")  # the message alone: not the hook that raised it
    stale.stdout.no_fnmatch_line("*def pytest_runtest_call*")
    with FakeOpenAI([]) as server:
        pytester.runpytest("--harness-record-mode", "new", "--harness-base-url", server.base_url).assert_outcomes(
            passed=1
        )
    assert server.received == []
    assert len(yaml.safe_load(cassette.read_text())["interactions"]) == 1
    pytester.runpytest().assert_outcomes(passed=1)


def test_harness_agent_with_an_unknown_block_label_says_so(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    make_project(pytester.path)
    pytester.makepyfile(
        test_agent=PYTHON_TEST.replace('harness_agent("chat")', 'harness_agent("chat", blocks={"humn": "x"})')
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '>       agent = harness_agent("chat", blocks={"humn": "x"})',
            "E       harness.errors.UserError: harness_agent('chat', blocks=...): agent 'chat' has no block 'humn'; "
            "did you mean 'human'? its blocks: *",
        ]
    )
    result.stdout.no_fnmatch_line("*pytest_plugin.py*")


def test_harness_run_and_pytest_share_one_cassette_with_the_agents_file_elsewhere(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """The agents file outside pytest's rootdir: `harness record` and `pytest` both look for the cassette
    beside it, because both build the same Project."""
    from harness.cli import main

    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\nharness_agents = ../shared/agents.yaml\n")
    shared = make_project(pytester.path.parent / "shared")
    scenario = pytester.path / "scenarios" / "remember.yaml"
    scenario.parent.mkdir()
    scenario.write_text(textwrap.dedent(REMEMBER).lstrip(), encoding="utf-8")
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        code = main(["record", "--agents", str(shared.agents), "--base-url", server.base_url, str(scenario)])
    assert code == 0
    assert [p.name for p in shared.cassettes.rglob("*.yaml")] == ["remember.yaml"]
    result = pytester.runpytest("-v")  # replays what `harness record` wrote, offline
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["scenarios/remember.yaml::remember PASSED*"])


def test_runxfail_runs_xfail_scenarios_as_plain_ones(pytester: pytest.Pytester, project: Project) -> None:
    project.write_scenario("known_bug", FORGETFUL + "xfail: the model does not store names\n")
    project.record("known_bug", FORGETFUL_RESPONSES)
    result = pytester.runpytest("-k", "known_bug", "--runxfail")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(["*block 'human' does not contain 'Carol'*"])


def test_a_broken_agents_file_fails_the_scenarios_without_a_traceback(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.agents.write_text(project.agents.read_text().replace("blocks:", "blcks:"), encoding="utf-8")
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*agents.yaml:*: agents.chat.blcks: unknown key 'blcks'; did you mean 'blocks'?*"])
    result.stdout.no_fnmatch_line("*Traceback*")


@pytest.mark.parametrize(
    "broken",
    [
        ("tool", "class Stop(BaseException):\n    pass\n\nraise Stop('at import')\n"),
        ("schema", None),
    ],
    ids=["a-tool-module-raising-its-own-BaseException", "a-block-schema-ref-to-nowhere"],
)
def test_an_agents_file_that_fails_oddly_fails_the_scenarios_never_the_session(
    pytester: pytest.Pytester, project: Project, broken: tuple[str, str | None]
) -> None:
    """Both were an INTERNALERROR that ended the whole pytest session (and a traceback from the CLI)."""
    kind, module = broken
    text = project.agents.read_text()
    if kind == "tool":
        (project.root / "stopping.py").write_text(module or "", encoding="utf-8")
        text = text.replace("tools: [send_message,", "tools: ['stopping:f', send_message,")
        expected = "*importing 'stopping' for tool 'stopping:f' failed: Stop: at import*"
    else:
        text = text.replace('value: "Name: Bob"}', 'value: "[]", schema: {$ref: "#/definitions/nope"}}')
        expected = "*$ref '#/definitions/nope' does not resolve within the schema*"
    assert text != project.agents.read_text()
    project.agents.write_text(text, encoding="utf-8")
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([expected])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    assert main(["validate", "--agents", str(project.agents)]) == 2


@pytest.mark.parametrize("absolute", [False, True])
def test_a_link_back_to_a_folder_of_scenarios_is_not_walked(
    pytester: pytest.Pytester, project: Project, absolute: bool
) -> None:
    """pytest followed `scenarios/nested/loop -> ..` down to the system's limit on links: every scenario
    collected some 40 times over (`harness run` reads each file once)."""
    (project.root / "scenarios" / "nested").mkdir()
    target = project.root / "scenarios" if absolute else Path("..")
    (project.root / "scenarios" / "nested" / "loop").symlink_to(target, target_is_directory=True)
    result = pytester.runpytest("--collect-only", "-q")
    collected = sorted(line for line in result.outlines if "::" in line)
    assert collected == ["scenarios/misspelt.yaml::misspelt", "scenarios/remember.yaml::remember"]


def test_a_scenario_link_to_no_file_fails_its_item_as_the_cli_refuses_it(
    pytester: pytest.Pytester, project: Project
) -> None:
    """pytest walked past it without a word (an entry neither a file nor a folder) and the suite passed,
    where `harness run` and `validate` exit 2 with `scenarios/dangling.yaml: file not found`. In name order,
    beside the others; a link in a folder that holds no scenarios, and a test module's, stay pytest's."""
    (project.root / "scenarios" / "dangling.yaml").symlink_to("moved.yaml")
    (project.root / "scenarios" / "nested").mkdir()
    (project.root / "scenarios" / "nested" / "gone.yml").symlink_to(project.root / "nowhere.yml")
    (project.root / "docs").mkdir()
    (project.root / "docs" / "dangling.yaml").symlink_to("moved.yaml")
    (project.root / "test_gone.py").symlink_to("moved.py")
    collected = pytester.runpytest("--collect-only", "-q")
    assert [line for line in collected.outlines if "::" in line] == [
        "scenarios/dangling.yaml::dangling",
        "scenarios/misspelt.yaml::misspelt",
        "scenarios/nested/gone.yml::gone",
        "scenarios/remember.yaml::remember",
    ]
    result = pytester.runpytest("-k", "dangling or gone or remember")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ scenario: dangling _*",
            "scenarios/dangling.yaml: file not found",
            "*_ scenario: gone _*",
            "scenarios/nested/gone.yml: file not found",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    assert main(["validate", "--agents", str(project.agents)]) == 2


# ---------------------------------------------------------------- a good citizen in other projects


def test_a_project_without_an_agents_file_is_left_alone(pytester: pytest.Pytester) -> None:
    """The plugin is installed everywhere: YAML under an unrelated project's `scenarios/` is not ours."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "k8s.yaml").write_text("apiVersion: v1\nkind: Pod\n", encoding="utf-8")
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*agents.yaml*")


def test_an_agents_file_at_the_rootdir_opts_in(pytester: pytest.Pytester, project: Project) -> None:
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["*misspelt.yaml::misspelt", "*remember.yaml::remember"])


def test_the_ini_key_opts_in_with_the_agents_file_elsewhere(pytester: pytest.Pytester, project: Project) -> None:
    config = pytester.path / "config"
    config.mkdir()
    project.agents.rename(config / "agents.yaml")
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\nharness_agents = config/agents.yaml\n")
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["*remember.yaml::remember"])


def test_a_project_with_no_pytest_config_works_from_a_subfolder(pytester: pytest.Pytester, project: Project) -> None:
    """No ini file: pytest's rootdir is the folder it was started in; the agents file is found above it."""
    (pytester.path / "tox.ini").unlink()
    (pytester.path / ".git").mkdir()
    scenarios = project.root / "scenarios"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(scenarios)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "remember.yaml")
    result.assert_outcomes(passed=1)


def test_the_search_for_an_agents_file_stops_at_the_project_root(pytester: pytest.Pytester) -> None:
    """An agents file above another project's root does not switch the plugin on for it."""
    (pytester.path / "agents.yaml").write_text("agents: {}\n", encoding="utf-8")
    inner = pytester.path / "other"
    (inner / "scenarios").mkdir(parents=True)
    (inner / ".git").mkdir()
    (inner / "scenarios" / "data.yaml").write_text("a: 1\n", encoding="utf-8")
    (inner / "test_plain.py").write_text("def test_ok():\n    assert True\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(inner)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_an_initial_block_value_over_its_limit_fails_that_scenario_alone(
    pytester: pytest.Pytester, project: Project
) -> None:
    """Before: a MemoryEditError traceback that stopped the suite."""
    project.write_scenario("too_long", 'agent: chat\nblocks: {human: "%s"}\nturns: [{user: hi}]\n' % ("x" * 5001))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        ["*too_long.yaml:2:*: blocks.human: the initial value of block 'human' has 5001 characters, over *"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*MemoryEditError*")


def test_a_malformed_recorded_answer_fails_that_scenario_alone(pytester: pytest.Pytester, project: Project) -> None:
    from tests.fakes import Raw

    project.write_scenario("truncated", "agent: chat\nturns:\n  - user: hello?\n")
    project.record("truncated", [Raw('{"choices": [{"message": {"role": "assist')])
    result = pytester.runpytest("-k", "truncated or remember")
    result.assert_outcomes(passed=1, failed=1)
    path = project.scenario_path("truncated").relative_to(pytester.path)
    # the recording of the endpoint that answered it (the fake server's port), not the agents file's, and
    # where in the cassette the text that does not decode is
    result.stdout.fnmatch_lines(
        [
            lit(
                f"error: {path}:3: turns[0].user: turn 1, step 1: the recording of the model endpoint http://127.0.0.1:"
            )
            + "*"
            + lit("/v1 (cassettes/truncated.yaml:29, interaction 0) answered with a body that is not JSON: ")
            + lit('{"choices": [{"message": {"role": "assist'),
        ]
    )
    result.stdout.no_fnmatch_line("*the model endpoint http://127.0.0.1:9/v1*")
    result.stdout.no_fnmatch_line("*Traceback*")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full (a device that is always full)")
def test_a_report_a_full_disk_refuses_is_one_line_and_a_failed_run(pytester: pytest.Pytester, project: Project) -> None:
    """It was an INTERNALERROR traceback through write_atomically."""
    result = pytester.runpytest("--harness-html=/dev/full", "-k", "remember")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["harness: error: /dev/full: cannot write: No space left on device; the file is left as it was"]
    )
    result.stdout.no_fnmatch_line("*HTML report written*")
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full (a device that is always full)")
def test_a_summary_does_not_link_an_html_report_a_full_disk_refused(
    pytester: pytest.Pytester, project: Project
) -> None:
    """The write lambdas had captured the HTML path before its write failed: the summary linked it."""
    result = pytester.runpytest("--harness-html=/dev/full", "--harness-summary-md=s.md", "-k", "remember")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    summary = (pytester.path / "s.md").read_text(encoding="utf-8")
    assert "1 passed" in summary and "HTML report" not in summary
    result.stdout.fnmatch_lines(["harness: Markdown summary written to *s.md"])
    result.stdout.no_fnmatch_line("*HTML report written*")


def test_a_cassette_folder_that_is_a_file_is_a_usage_error(pytester: pytest.Pytester, project: Project) -> None:
    """Every scenario would fail as not recorded (30 failures for one slip of the option); `harness run` says
    the same (tests/cli/test_run.py)."""
    result = pytester.runpytest("--harness-cassettes", "agents.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: the cassette folder */agents.yaml is a file: give a folder (--harness-cas*"])


def test_a_cassette_folder_that_is_the_scenarios_folder_is_a_usage_error(
    pytester: pytest.Pytester, project: Project
) -> None:
    """Recording would have written each scenario's cassette over the scenario file (`harness run` says the
    same: tests/test_project.py)."""
    before = project.scenario_path("remember").read_text(encoding="utf-8")
    result = pytester.runpytest("--harness-cassettes", "scenarios", "--harness-record-mode", "all")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: the cassette folder */scenarios is the scenarios folder: *(--harness-cassettes, or harness_cass*"]
    )
    assert project.scenario_path("remember").read_text(encoding="utf-8") == before


def test_a_cassette_folder_that_is_a_scenario_folder_the_ini_key_names_is_a_usage_error(
    pytester: pytest.Pytester, project: Project
) -> None:
    """With `harness_scenarios = evals`, only the default scenarios/ folder was checked: pytest skipped every
    scenario as a cassette and said only 'no tests ran'."""
    (pytester.path / "evals").mkdir()
    project.scenario_path("remember").rename(pytester.path / "evals" / "remember.yaml")
    (pytester.path / "tox.ini").unlink(missing_ok=True)
    pytester.makeini("[pytest]\nharness_scenarios = evals\n")
    result = pytester.runpytest("--harness-cassettes", "evals", "--harness-record-mode", "all", "evals")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: the cassette folder */evals is the scenarios folder: *"])


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ('harness_agents = ["agents.yaml"]', "the ini key harness_agents should be one path (a string), not list: *"),
        ('harness_cassettes = ["cassettes"]', "the ini key harness_cassettes should be one path (a string), not list*"),
        ('harness_agents = "agents.yaml\\u0000x"', "the ini key harness_agents holds a NUL character, which no path*"),
        ('harness_cassettes = "c\\u0000"', "the ini key harness_cassettes holds a NUL character, which no path can*"),
        ('addopts = "--harness-agents a\\u0000b"', "--harness-agents holds a NUL character, which no path can: *"),
    ],
)
def test_an_ini_key_no_path_can_be_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, project: Project, setting: str, says: str
) -> None:
    """A TOML list was an INTERNALERROR (TypeError), a NUL an error of every item (ValueError: embedded null
    byte, out of os.open)."""
    (pytester.path / "tox.ini").unlink(missing_ok=True)
    pytester.makepyprojecttoml(f"[tool.pytest.ini_options]\n{setting}\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {says}"])
    said = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in said and "TypeError" not in said and "deprecated" not in said


def test_a_path_holding_a_nul_is_a_located_problem(tmp_path: Path) -> None:
    """os.open raises ValueError for it, which load_yaml did not take for a file it cannot read."""
    with pytest.raises(UserError, match="cannot read: the path holds a NUL character, which no file name can"):
        load_yaml(tmp_path / "agents.yaml\x00x")


def test_every_recorded_repeat_is_played_as_harness_run_plays_them(pytester: pytest.Pytester, project: Project) -> None:
    """pytest played repeat 1 alone: a broken repeat 2 failed `harness run` and passed pytest."""
    cassette = project.cassettes / "remember.yaml"
    shutil.copy(cassette, project.cassettes / "remember.repeat-2.yaml")
    result = pytester.runpytest("scenarios/remember.yaml")
    result.assert_outcomes(passed=1)
    shutil.copy(project.cassettes / "misspelt.yaml", project.cassettes / "remember.repeat-2.yaml")  # another's
    result = pytester.runpytest("scenarios/remember.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*remember.repeat-2.yaml has no recorded response*"])


def test_two_conversations_in_one_cassette_fail_the_later_as_harness_run_says(
    pytester: pytest.Pytester, project: Project
) -> None:
    """Recording either drops the other's exchanges; the same turns with other checks share one fine. The
    later of the two fails alone, with the located message `harness validate` gives, in every worker."""
    project.write_scenario("again", REMEMBER.replace("agent: chat", "agent: chat\ncassette: remember.yaml"))
    again = project.scenario_path("again")
    again.write_text(again.read_text().replace("contains: Azin", "not_contains: Carol"), encoding="utf-8")
    result = pytester.runpytest("-k", "again or remember")
    result.assert_outcomes(passed=2, deselected=1)
    project.write_scenario("zother", FORGETFUL.replace("agent: chat", "agent: chat\ncassette: remember.yaml"))
    for extra in ([], ["-n", "2"]):
        result = pytester.runpytest("-k", "again or remember or zother", *extra)
        result.assert_outcomes(passed=2, failed=1, deselected=0 if extra else 1)  # xdist does not count them
        path = project.scenario_path("zother").relative_to(pytester.path)
        result.stdout.fnmatch_lines(
            [
                f"{path}:2:1: cassette: shares its cassette cassettes/remember.yaml with scenarios/again.yaml, "
                "which has another conversation*",
                "FAILED scenarios/zother.yaml::zother*",
            ]
        )
    result = pytester.runpytest("-k", "zother")  # the other is not in the run: nothing to drop
    result.stdout.no_fnmatch_line("*shares its cassette*")


def test_a_bad_harness_base_url_is_a_usage_error_not_an_internal_error(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest("--harness-base-url", "http://alice:pw-Hunter22@[bad/v1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*the endpoint override (--harness-base-url): not a URL this harness can reach*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "pw-Hunter22" not in result.stdout.str() + result.stderr.str()


def test_a_ci_page_does_not_touch_a_project_that_does_not_use_the_harness(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitHub sets $GITHUB_STEP_SUMMARY for every job: a plain project must neither be refused for it nor
    pay for the harness's report modules at the end of its session."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    pytester.makepyfile(
        test_plain="import sys\n\ndef test_ok():\n    assert True\n\n"
        "def test_zz_nothing_of_the_harness_loaded():\n    assert 'harness.report' not in sys.modules\n"
    )
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "missing" / "summary.md"))
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    assert not (pytester.path / "missing").exists()


def test_relative_harness_options_are_taken_from_where_pytest_started(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As --junitxml is: `cd scenarios && pytest --harness-agents ../agents.yaml` looked beside the rootdir."""
    moved = pytester.path / "tapes"
    (pytester.path / "cassettes").rename(moved)
    monkeypatch.chdir(pytester.path / "scenarios")
    result = pytester.runpytest("--harness-agents", "../agents.yaml", "--harness-cassettes", "../tapes")
    result.assert_outcomes(passed=1, failed=1)


def test_a_checkout_reached_through_a_link_finds_its_cassettes(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest's paths are the real ones; options spelt through the link (`$PWD` in a shell) are not."""
    link = pytester.path.parent / f"{pytester.path.name}-link"
    link.symlink_to(pytester.path, target_is_directory=True)
    monkeypatch.chdir(link)
    result = pytester.runpytest(
        "--harness-agents",
        str(link / "agents.yaml"),
        "--harness-cassettes",
        str(link / "cassettes"),
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.no_fnmatch_line("*cassettes/*.yaml*")


def test_the_http_libraries_logs_are_masked_in_the_live_log_and_the_log_file(
    pytester: pytest.Pytester, project: Project
) -> None:
    """Recording, httpx logs each request's URL: a base URL's user and password and `?api-key=` with it."""
    project.write_scenario("fresh", "agent: chat\nturns:\n  - user: hello\n    expect: {reply: {equals: hi!}}\n")
    log_file = pytester.path / "run.log"
    with FakeOpenAI([completion(content="hi!")]) as server:
        url = server.base_url.replace("http://", "http://alice:pw-Hunter22@") + "?api-key=k3y-Hunter22"
        result = pytester.runpytest_subprocess(
            "-k", "fresh", "--harness-record-mode", "all", "--harness-base-url", url,
            "--log-cli-level=INFO", f"--log-file={log_file}", "--log-file-level=DEBUG",
        )  # fmt: skip
    result.assert_outcomes(passed=1, deselected=2)
    logged = log_file.read_text(encoding="utf-8")
    assert "HTTP Request: POST http://<SECRET>:<SECRET>@127.0.0.1" in logged  # it was logged, masked
    for output in (logged, result.stdout.str(), result.stderr.str()):
        assert "Hunter22" not in output


def test_a_yaml_and_a_yml_of_one_name_share_a_cassette_and_the_later_fails(
    pytester: pytest.Pytester, project: Project
) -> None:
    """`a.yaml` and `a.yml` mirror to one cassette, as `harness run` says; neither names a `cassette:`."""
    shutil.copy(project.scenario_path("misspelt"), project.scenario_path("remember").with_suffix(".yml"))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["scenarios/remember.yml:1:1: shares its cassette cassettes/remember.yaml with *"])


def test_scenario_files_one_file_apart_where_case_is_ignored_fail_the_later_as_harness_run_says(
    pytester: pytest.Pytester, project: Project
) -> None:
    """`Remember.yaml` and `remember.yaml` have cassettes that are one file on macOS and Windows; replaying,
    the plugin reads only the files that may share a cassette, and these are among them."""
    shutil.copy(project.scenario_path("remember"), project.scenario_path("Remember"))
    shutil.copy(project.cassettes / "remember.yaml", project.cassettes / "Remember.yaml")  # Linux has two
    result = pytester.runpytest("-k", "emember")
    result.assert_outcomes(passed=1, failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "scenarios/remember.yaml:1:1: its cassette cassettes/remember.yaml and the cassette "
            "cassettes/Remember.yaml of scenarios/Remember.yaml differ only in letter case or Unicode "
            "normalisation: one file on macOS and Windows*"
        ]
    )


def test_recording_into_a_cassette_another_scenario_owns_is_refused_though_the_other_is_not_run(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.write_scenario("zother", FORGETFUL.replace("agent: chat", "agent: chat\ncassette: remember.yaml"))
    before = (project.cassettes / "remember.yaml").read_bytes()
    with FakeOpenAI(list(FORGETFUL_RESPONSES)) as server:
        result = pytester.runpytest(
            str(project.scenario_path("zother")), "--harness-record-mode", "all", "--harness-base-url", server.base_url
        )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*cassette: shares its cassette cassettes/remember.yaml with scenarios/remember.yaml*"]
    )
    assert server.received == [] and (project.cassettes / "remember.yaml").read_bytes() == before


def test_recording_into_a_folder_that_takes_no_file_is_a_usage_error(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest(
        "--harness-record-mode", "all", "--harness-base-url", "http://127.0.0.1:9/v1",
        "--harness-cassettes", "/proc/harness-cassettes",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*the cassette folder /proc/harness-cassettes: cannot create a file in the folder /proc*"]
    )


def test_the_record_command_pytest_gives_works_from_a_subfolder_with_the_options_given(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said `harness record remember.yaml`, which from a subfolder (or with the agents file named by an
    ini key or option) does not find the agents file."""
    project.write_scenario("fresh", "agent: chat\nturns:\n  - user: hello\n    expect: {reply: {equals: hi!}}\n")
    (pytester.path / "cassettes").rename(pytester.path / "tapes")
    monkeypatch.chdir(pytester.path / "scenarios")
    options = ["--harness-agents", "../agents.yaml", "--harness-cassettes", "../tapes"]
    result = pytester.runpytest("-k", "fresh", *options)
    told = (
        "  record it with: pytest --harness-record-mode new --harness-agents ../agents.yaml --harness-cassettes "
        "../tapes fresh.yaml"
    )
    assert told in result.stdout.str().splitlines()
    command = told.split("record it with: pytest ")[1].split()
    with FakeOpenAI([completion(content="hi!")]) as server:
        pytester.runpytest(*command, "--harness-base-url", server.base_url).assert_outcomes(passed=1)
    pytester.runpytest("-k", "fresh", *options).assert_outcomes(passed=1, deselected=2)


def test_an_unreadable_cassette_tells_the_pytest_command_that_records_it_anew(
    pytester: pytest.Pytester, project: Project
) -> None:
    """Under pytest the failure told `harness record --mode all`, with no scenario and not pytest's own."""
    (project.cassettes / "remember.yaml").write_text("interactions: [\n", encoding="utf-8")
    result = pytester.runpytest("-k", "remember")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*scenarios/remember.yaml:4: cassettes/remember.yaml is not a readable cassette (ParserError: *; "
            "restore it from version control, or record it anew with: "
            "pytest --harness-record-mode all scenarios/remember.yaml"
        ]
    )


def test_each_python_test_has_its_own_cassette_classes_and_odd_names_included(pytester: pytest.Pytester) -> None:
    """`TestA::test_x` and `TestB::test_x` shared one cassette, as did `test_x[a/b]` and `test_x[a_b]`."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path)
    pytester.makepyfile(
        test_names="""
import pytest

class TestA:
    def test_x(self, harness_cassette_path):
        print("PATH", harness_cassette_path)

class TestB:
    def test_x(self, harness_cassette_path):
        print("PATH", harness_cassette_path)

@pytest.mark.parametrize("who", ["a/b", "a_b"])
def test_y(harness_cassette_path, who):
    print("PATH", harness_cassette_path)

def test_plain(harness_cassette_path):
    print("PATH", harness_cassette_path)
"""
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=5)
    paths = [line.split("PATH ", 1)[1] for line in result.stdout.lines if "PATH " in line]
    assert len(set(paths)) == 5
    folder = project.cassettes / "test_names"
    assert str(folder / "TestA.test_x.yaml") in paths and str(folder / "test_plain.yaml") in paths
    assert str(folder / "test_y_a_b_.yaml") not in paths  # both would have been this


def test_two_reports_into_one_file_are_a_usage_error(pytester: pytest.Pytester, project: Project) -> None:
    """pytest-html's `--html` too: both plugins said they wrote the file, and pytest-html's page replaced
    the harness's report (its option is reproduced here, where pytest-html is not installed)."""
    pytester.makeconftest(
        "def pytest_addoption(parser):\n    parser.addoption('--html', dest='htmlpath', metavar='path')\n"
    )
    out = pytester.path / "r.out"
    for options in (
        ["--harness-html", str(out), "--harness-summary-md", str(out)],
        ["--junitxml", str(out), "--harness-html", str(out)],
        ["--html", "r.out", "--harness-html", "r.out"],
        ["--html", "r.out", "--harness-summary-md", str(out)],
    ):
        result = pytester.runpytest(*options)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"* and --harness-* name one file, {out}: give each report its own"])
    assert not out.exists()


@pytest.mark.parametrize(
    ("logged", "shown"),
    [
        (
            "receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', [(b'Set-Cookie', "
            "b'__cf_bm=c00kie; path=/'), (b'openai-organization', b'org-1234')])",
            "receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', [(b'Set-Cookie', "
            "b'<SECRET>'), (b'openai-organization', b'<SECRET>')])",
        ),
        (
            "Appending request ... {'headers': {'set-cookie': ['__cf_bm=c00kie'], 'content-type': ['json']}}",
            "Appending request ... {'headers': {'set-cookie': ['<SECRET>'], 'content-type': ['json']}}",
        ),
        (
            "Request options: {'headers': {'Authorization': 'Bearer sk-1'}}",
            "Request options: {'headers': {'Authorization': '<SECRET>'}}",
        ),
        (  # Anthropic's OpenAI-compatible endpoint names the key's organization in every answer
            "receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', [(b'request-id', "
            "b'req_1'), (b'anthropic-organization-id', b'3f2a9c5e-org')])",
            "receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', [(b'request-id', "
            "b'req_1'), (b'anthropic-organization-id', b'<SECRET>')])",
        ),
        (
            "Request options: {'headers': {'x-api-key': 'sk-ant-1', 'x-goog-api-key': 'AIza-1'}}",
            "Request options: {'headers': {'x-api-key': '<SECRET>', 'x-goog-api-key': '<SECRET>'}}",
        ),
    ],
)
def test_credential_headers_in_a_log_are_masked_by_name(logged: str, shown: str) -> None:
    """The HTTP libraries log an answer's headers before the harness learns its cookie from them."""
    from harness.pytest_plugin import MASKED, _credential_header_values

    assert _credential_header_values().sub(lambda m: m[1] + MASKED, logged) == shown


def test_an_xfail_scenario_some_of_whose_repeats_pass_fails_as_harness_run_says(
    pytester: pytest.Pytester, project: Project
) -> None:
    """Each repeat is judged as `harness run` judges it: a repeat that passes is an XPASS. pytest took the
    failing repeat's ScenarioFailed for the xfail it expects, and passed the file (`harness run` failed)."""
    project.write_scenario("flaky", REMEMBER + "xfail: it forgets now and then\n")
    project.record("flaky", FORGETFUL_RESPONSES)
    shutil.copy(project.cassettes / "remember.yaml", project.cassettes / "flaky.repeat-2.yaml")
    result = pytester.runpytest("scenarios/flaky.yaml", "--junitxml=junit.xml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "[[]XPASS(strict)] 1 run(s) of this xfail scenario passed:",
            "*expected to fail (it forgets now and then) but every check passed: remove `xfail`*",
        ]
    )
    # Each passing repeat explained once (it was told twice; in the JUnit XML, twice in the failure's body).
    # Counted in the failure's body only: on CI (`CI` set) pytest's short summary repeats the whole message.
    told = "repeat 2 (cassette flaky.repeat-2.yaml):"
    body = result.stdout.str().split("short test summary info")[0]
    assert body.count(told) == 1
    junit = (pytester.path / "junit.xml").read_text(encoding="utf-8")
    message, body = junit.split("<failure message=")[1].split("</failure>")[0].split('">', 1)
    assert message.count(told) == 1 and body.count(told) == 1
    assert pytester.runpytest("scenarios/flaky.yaml", "--runxfail").ret == pytest.ExitCode.TESTS_FAILED
    (project.cassettes / "flaky.repeat-2.yaml").unlink()
    pytester.runpytest("scenarios/flaky.yaml").assert_outcomes(xfailed=1)


def test_a_python_tests_cassette_is_found_from_a_subfolder_without_an_ini_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an ini file pytest's rootdir is where it starts: recorded from the root, the cassette was
    `cassettes/tests/test_agent/...`, and pytest started in tests/ looked for `cassettes/test_agent/...`."""
    project = make_project(pytester.path)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_agent.py").write_text(PYTHON_TEST, encoding="utf-8")
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        recorded = pytester.runpytest(
            "-p", "no:cacheprovider", "--harness-record-mode", "all", "--harness-base-url", server.base_url, "tests"
        )
    recorded.assert_outcomes(passed=1)
    assert (project.cassettes / "tests" / "test_agent" / "test_saves_name.yaml").is_file()
    monkeypatch.chdir(pytester.path / "tests")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


# ---------------------------------------------------------------- tests written in Python, as a user writes them

TWO_OF_ONE_SPEC = """
def test_two_of_one_spec(harness_agent):
    first, second = harness_agent("chat"), harness_agent("chat")
    assert first.send("Hi, I am Azin.").stop_reason == "replied"
    assert second.send("Hi, I am Azin.").stop_reason == "replied"
    blocks = [[block.id for block in agent.memory.get_blocks()] for agent in (first, second)]
    print("IDS", first.state.id, second.state.id, blocks, [agent.messages[1] for agent in (first, second)])
    assert (first.state.id, second.state.id) == ("agent-chat-1", "agent-chat-2")
    assert not set(blocks[0]) & set(blocks[1])
"""


def test_two_agents_of_one_spec_in_one_test_each_have_their_own_ids_in_every_run(
    pytester: pytest.Pytester,
) -> None:
    """The second `harness_agent("chat")` raised `StoreError: cannot write the state database :memory::
    UNIQUE constraint failed: agents.name`."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path)
    project.agents.write_text(project.agents.read_text().replace("loop: harness", "loop: letta-memgpt"))
    pytester.makepyfile(test_two=TWO_OF_ONE_SPEC)
    with FakeOpenAI([reply("Nice to meet you, Azin!"), reply("Hello Azin!")]) as server:
        recorded = pytester.runpytest("-s", "--harness-record-mode", "new", "--harness-base-url", server.base_url)
    recorded.assert_outcomes(passed=1)
    assert len(server.received) == 2
    replayed = pytester.runpytest("-s")
    replayed.assert_outcomes(passed=1)
    ids = [line.split("IDS ", 1)[1] for line in recorded.outlines if "IDS " in line]
    assert ids and ids == [line.split("IDS ", 1)[1] for line in replayed.outlines if "IDS " in line]
    # The first keeps the ids it drew before a second could be made: cassettes recorded then still replay.
    assert "'tool_call_id': '41ac8d51-8cfc-4230-80d7-cfd34'" in ids[0]


def test_the_record_command_of_a_python_test_works_when_pasted(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was `pytest --harness-record-mode new tests/test_a.py::test_x[Azin Rahimi]`: not quoted (two
    arguments, and a glob in zsh), from the rootdir rather than from where pytest was started, and without
    the `--harness-cassettes` given."""
    import shlex

    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    make_project(pytester.path)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_a.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.parametrize('who', ['Azin Rahimi'])\n"
        "def test_x(harness_agent, who):\n"
        "    assert harness_agent('chat').send(f'My name is {who}.').stop_reason == 'replied'\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(pytester.path / "tests")
    result = pytester.runpytest("--harness-cassettes", "../tapes")
    result.assert_outcomes(failed=1)
    told = (
        "  record it with: pytest --harness-record-mode new --harness-cassettes ../tapes "
        "'test_a.py::test_x[Azin Rahimi]'"
    )
    assert told in result.outlines
    command = shlex.split(told.split("record it with: pytest ")[1])
    with FakeOpenAI([reply("Hello Azin Rahimi!")]) as server:
        pytester.runpytest(*command, "--harness-base-url", server.base_url).assert_outcomes(passed=1)
    pytester.runpytest("--harness-cassettes", "../tapes").assert_outcomes(passed=1)


def test_cassettes_check_finds_the_test_of_each_cassette_the_fixture_names(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cassettes check` called these orphans, to delete: a test in a class, and (the monorepo layout the
    `harness_agents` ini key is for) a test outside the agents file's folder."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\nharness_agents = agent_tests/agents.yaml\n")
    project = make_project(pytester.path / "agent_tests", {"remember": REMEMBER})
    project.record("remember", REMEMBER_RESPONSES)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_top.py").write_text(
        "import pytest\n\n"
        "class TestIntro:\n"
        "    @pytest.mark.parametrize('who', ['a/b', 'x' * 300])\n"
        "    def test_intro(self, harness_cassette_path, who):\n"
        "        print('PATH', harness_cassette_path)\n\n"
        "def test_top(harness_cassette_path):\n"
        "    print('PATH', harness_cassette_path)\n",
        encoding="utf-8",
    )
    result = pytester.runpytest("-s", "tests")
    result.assert_outcomes(passed=3)
    paths = [Path(line.split("PATH ", 1)[1]) for line in result.outlines if "PATH " in line]
    assert len(set(paths)) == 3
    for path in paths:
        assert path.is_relative_to(project.cassettes / "tests" / "test_top")
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(project.cassettes / "remember.yaml", path)
    capsys.readouterr()
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 0
    assert "orphan" not in capsys.readouterr().out
    shutil.copy(project.cassettes / "remember.yaml", project.cassettes / "tests" / "test_top" / "test_gone.yaml")
    assert main(["cassettes", "check", "--agents", str(project.agents)]) == 1
    assert "test_gone.yaml: orphan" in capsys.readouterr().out


def test_a_python_test_with_a_long_id_records_and_replays(pytester: pytest.Pytester) -> None:
    """Its cassette's name was longer than a file name may be: recording ended in `OSError: [Errno 36]
    File name too long`, so it could never be recorded."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path)
    pytester.makepyfile(
        test_long="import pytest\n\n"
        "@pytest.mark.parametrize('text', ['the user says ' * 20], ids=['the user says ' * 20])\n"
        "def test_long(harness_agent, text):\n"
        "    assert harness_agent('chat').send(text).stop_reason == 'replied'\n"
    )
    pytester.runpytest().assert_outcomes(failed=1)
    with FakeOpenAI([reply("Noted.")]) as server:
        recorded = pytester.runpytest("--harness-record-mode", "new", "--harness-base-url", server.base_url)
    recorded.assert_outcomes(passed=1)
    [cassette] = (project.cassettes / "test_long").iterdir()
    assert cassette.name.startswith("test_long_the_user_says_the_user_says")  # cut, with a hash of the id
    pytester.runpytest().assert_outcomes(passed=1)


def test_yaml_in_a_scenarios_folder_deeper_down_is_not_a_scenario(pytester: pytest.Pytester, project: Project) -> None:
    """pytest collected YAML in every folder named `scenarios` at any depth (docs, a unit test's fixture
    data), where `harness run` reads the project's `scenarios/` alone."""
    for folder in ("docs/scenarios", "tests/fixtures/scenarios"):
        (pytester.path / folder).mkdir(parents=True)
    (pytester.path / "docs" / "scenarios" / "example.yaml").write_text(REMEMBER, encoding="utf-8")
    (pytester.path / "tests" / "fixtures" / "scenarios" / "data.yaml").write_text("a: 1\n", encoding="utf-8")
    result = pytester.runpytest("--collect-only", "-q")
    collected = sorted(line for line in result.outlines if "::" in line)
    assert collected == ["scenarios/misspelt.yaml::misspelt", "scenarios/remember.yaml::remember"]


def test_k_selects_by_the_path_from_the_project_root_as_harness_run_does(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.write_scenario("chat/remember", REMEMBER)
    result = pytester.runpytest("--collect-only", "-q", "-k", "chat/remem")
    assert [line for line in result.outlines if "::" in line] == ["scenarios/chat/remember.yaml::remember"]
    assert main(["run", "--agents", str(project.agents), "-k", "chat/remem"]) == 1  # not recorded, but selected


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--harness-agents", "nope.yaml"], "--harness-agents nope.yaml: */nope.yaml: file not found"),
        (["--harness-agents", "scenarios"], "--harness-agents scenarios: */scenarios is a folder; name the agents*"),
        (["-o", "harness_agents=nope.yaml"], "the ini key harness_agents = nope.yaml: */nope.yaml: file not found"),
    ],
)
def test_an_agents_file_named_that_is_not_there_is_a_usage_error(
    pytester: pytest.Pytester, project: Project, options: list[str], said: str
) -> None:
    """Every scenario failed with the same 'file not found' (exit 1), where `harness run --agents` says it
    once; a cassette folder that is a file was already a usage error."""
    result = pytester.runpytest(*options)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {said}"])
    assert "file not found" not in result.stdout.str()
    assert pytester.runpytest("--help", *options).ret == pytest.ExitCode.OK


def test_another_tools_agents_file_does_not_turn_collection_on(pytester: pytest.Pytester) -> None:
    """CrewAI's `agents.yaml` (agent names to role, goal and backstory) beside its own `scenarios/`: the
    plugin took the file's name for an opt-in and failed the YAML as scenarios."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    (pytester.path / "agents.yaml").write_text(
        "researcher:\n  role: Senior researcher\n  goal: Find out\n  backstory: Curious\n", encoding="utf-8"
    )
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "market.yaml").write_text("topic: markets\n", encoding="utf-8")
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*market*")


@pytest.mark.parametrize(
    "text",
    ["agents:\n  chat: {}\n", "\ufeff# yaml-language-server: $schema=agents.schema.json\n{agents: {}}\n"],
    ids=["agents-key", "schema-comment"],
)
def test_a_harness_agents_file_turns_collection_on(pytester: pytest.Pytester, text: str) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    (pytester.path / "agents.yaml").write_text(text, encoding="utf-8")
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "hello.yaml").write_text("agent: chat\n", encoding="utf-8")
    assert "scenarios/hello.yaml::hello" in pytester.runpytest("--collect-only", "-q").outlines


AS_CLI_TAKES_IT = {  # an agents file the CLI takes, or refuses saying why: taken, so the run says it too
    "json": (b'{\n  "defaults": {"max_steps": 4},\n  "agents": {\n    "chat": {}\n  }\n}\n', None),
    "utf-16": ("agents:\n  chat: {}\n".encode("utf-16"), "the file is UTF-16 text: save it as UTF-8"),
    "utf-16-no-bom": ("defaults: {}\nagents:\n  chat: {}\n".encode("utf-16-le"), "contains NUL characters"),
    "dangling-link": (None, "agents.yaml: file not found"),
    "looping-link": (None, "agents.yaml: cannot read: Too many levels of symbolic links"),
    "link-to-a-fifo": (None, "agents.yaml: not a regular file"),  # read without blocking, as the CLI reads it
}


@pytest.mark.parametrize("kind", list(AS_CLI_TAKES_IT))
def test_an_agents_file_the_cli_takes_or_explains_turns_collection_on(pytester: pytest.Pytester, kind: str) -> None:
    """Written as JSON (which YAML reads), an agents file was not taken for the harness's (its `agents` key is
    indented) and pytest collected nothing, saying only "not found" of a scenario named; a UTF-16 one, or a
    link that leads nowhere, likewise, where `harness run` says what is wrong with it."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    data, said = AS_CLI_TAKES_IT[kind]
    agents = pytester.path / "agents.yaml"
    if data is not None:
        agents.write_bytes(data)
    else:
        if kind == "link-to-a-fifo":
            os.mkfifo(pytester.path / "pipe")
        agents.symlink_to({"dangling-link": "nowhere.yaml", "looping-link": "agents.yaml"}.get(kind, "pipe"))
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "hello.yaml").write_text("agent: chat\nturns:\n  - user: hello\n", encoding="utf-8")
    assert "scenarios/hello.yaml::hello" in pytester.runpytest("--collect-only", "-q").outlines
    if said is not None:
        result = pytester.runpytest("scenarios/hello.yaml")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([f"*{said}*"])


def test_another_tools_agents_file_in_json_does_not_turn_collection_on(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    (pytester.path / "agents.yaml").write_text('{\n  "researcher": {\n    "role": "x"\n  }\n}\n', encoding="utf-8")
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "market.yaml").write_text("topic: markets\n", encoding="utf-8")
    assert "market" not in pytester.runpytest("--collect-only", "-q").stdout.str()


def test_a_project_that_does_not_use_the_harness_loads_nothing_of_it(pytester: pytest.Pytester) -> None:
    """The plugin's word: loading it imports nothing but pytest (and the record modes, for its options)."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    (pytester.path / "agents.yaml").write_text("researcher:\n  role: x\n", encoding="utf-8")  # not ours
    pytester.makepyfile(
        test_plain="import sys\n\ndef test_zz_last():\n"
        "    print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] == 'harness'))\n"
    )
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    [line] = [line for line in result.outlines if "LOADED " in line]
    assert line.split("LOADED ", 1)[1] == str(
        ["harness", "harness.cassettes", "harness.cassettes.mode", "harness.pytest_plugin"]
    )


def test_a_harness_error_in_a_python_test_is_shown_at_the_tests_line(pytester: pytest.Pytester) -> None:
    """An endpoint out of reach while recording printed some 80 lines of the harness's own source, down to
    its HTTP client, before the message."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    make_project(pytester.path)
    pytester.makepyfile(test_agent=PYTHON_TEST)
    options = ["--harness-record-mode", "new", "--harness-base-url", "http://127.0.0.1:9/v1"]
    result = pytester.runpytest(*options)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '>       result = agent.send("My name is Azin.")',
            "E       harness.errors.LLMError: cannot reach the model endpoint http://127.0.0.1:9/v1: *",
            "test_agent.py:3: LLMError",
        ]
    )
    result.stdout.no_fnmatch_line("*harness/*.py*")
    full = pytester.runpytest(*options, "--fulltrace")  # still there for whoever asks
    full.stdout.fnmatch_lines(["*harness/llm/openai_client.py:*"])


def test_a_sub_project_under_a_repositorys_pytest_config_says_why_nothing_ran(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pytest scenarios` in `evals/` of a repository configuring pytest at its root said only "no tests
    ran": the rootdir is the repository's, and the plugin looks for agents.yaml there."""
    (pytester.path / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    project = make_project(pytester.path / "evals", {"remember": REMEMBER})
    project.record("remember", REMEMBER_RESPONSES)
    monkeypatch.chdir(project.root)
    result = pytester.runpytest("scenarios")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(
        [
            "harness: agents.yaml is not used, so no scenario was collected: pytest's rootdir is .. (its config "
            "file ../pyproject.toml), and the plugin looks for agents.yaml there; name it with the ini key "
            "`harness_agents = evals/agents.yaml` or with --harness-agents agents.yaml"
        ]
    )
    pytester.runpytest("scenarios", "--harness-agents", "agents.yaml").assert_outcomes(passed=1)
    # A config file named elsewhere moves the rootdir as well.
    (project.root / "ci").mkdir()
    (project.root / "ci" / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    elsewhere = pytester.runpytest("-p", "no:cacheprovider", "-c", "ci/pytest.ini", "scenarios")
    elsewhere.stdout.fnmatch_lines(["harness: agents.yaml is not used*`harness_agents = ../agents.yaml`*"])
    # Tests that ran, none of them named among the scenarios: nothing to say.
    (pytester.path / "evals" / "test_unit.py").write_text("def test_unit():\n    pass\n", encoding="utf-8")
    quiet = pytester.runpytest("test_unit.py")
    quiet.assert_outcomes(passed=1)
    quiet.stdout.no_fnmatch_line("harness:*")


LONG_KEY = "sk-proj-Q7vX2mLp9RtY4wZs8KdN3bHc6FgJ1aEu5iOo0PqWeRtYuIoPaSdFgHjKlZxCvBnM"
SHORTENED_KEY_TESTS = """
import os


def test_not_echoed(harness_agent):
    harness_agent("chat")
    reply = "I read your key: " + os.environ["OPENAI_API_KEY"]
    assert "key" not in reply  # pytest shows 'I read your...<the key's last characters>'


def test_equal(harness_agent):
    harness_agent("chat")
    key = os.environ["OPENAI_API_KEY"]
    assert key + "abc" == key + "abd"  # its diff skips the shared start, cutting the key
"""


def test_the_pieces_of_a_key_pytest_shortens_are_masked_and_the_crash_line_kept(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest showed `'I read your...gHjKlZxCvBnM'`: the key's tail, which exact masking missed, reached the
    terminal and JUnit. And masking turned the failure into plain text: the short summary and JUnit's
    `message` showed the traceback's first line instead of the assertion."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    make_project(pytester.path)
    pytester.makepyfile(test_key=SHORTENED_KEY_TESTS)
    for name in ("test_not_echoed", "test_equal"):  # no exchange: an empty cassette
        (pytester.path / "cassettes" / "test_key").mkdir(parents=True, exist_ok=True)
        (pytester.path / "cassettes" / "test_key" / f"{name}.yaml").write_text("interactions: []\nversion: 1\n")
    monkeypatch.setenv("OPENAI_API_KEY", LONG_KEY)
    result = pytester.runpytest("--junitxml", "j.xml", "-rf")
    result.assert_outcomes(failed=2)
    shown = result.stdout.str() + (pytester.path / "j.xml").read_text(encoding="utf-8")
    pieces = [LONG_KEY[i : i + 6] for i in range(len(LONG_KEY) - 5)]
    assert [piece for piece in pieces if piece in shown] == []
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: assert 'key' not in 'I read your...<SECRET>'",
            "E         Skipping * identical leading characters in diff, use -v to show",
            "E         - <SECRET>abd",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "FAILED test_key.py::test_not_echoed - AssertionError: assert 'key' not in*",
            "FAILED test_key.py::test_equal - AssertionError: assert '<SECRET>...*",
        ]
    )
    root = ET.parse(pytester.path / "j.xml").getroot()
    messages = [failure.get("message") or "" for failure in root.iter("failure")]
    assert [message.split(" ")[0] for message in messages] == ["AssertionError:", "AssertionError:"]


def test_a_projects_own_fixture_named_harness_agent_is_left_alone(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin took any test with a fixture of that name for its own: it imported the harness to mask
    the environment's keys and rewrote the test's report, in a project that does not use the harness."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    pytester.makeconftest(
        "import os, pytest\n\n@pytest.fixture\ndef harness_agent():\n    return os.environ['OPENAI_API_KEY']\n"
    )
    pytester.makepyfile(
        test_own="import sys\n\ndef test_own(harness_agent):\n"
        "    print('LOADED', sorted(m for m in sys.modules if m.startswith('harness.secrets')))\n"
        "    assert len(harness_agent) == 3\n"
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-0123456789")
    result = pytester.runpytest_subprocess("-rf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*LOADED []", "FAILED test_own.py::test_own - AssertionError: assert 18 == 3"])
    result.stdout.fnmatch_lines(["*where 18 = len('sk-live-0123456789')"])  # pytest's own report, as it made it


def test_a_bug_in_a_scenario_is_shown_from_the_items_code_down_with_its_crash_line(
    pytester: pytest.Pytester, project: Project
) -> None:
    """Anything but a scenario's failure or a harness error (a bug) was shown from pytest's own runner down,
    pluggy's frames included, and the short summary and JUnit's `message` read `cls = <class CallInfo>`."""
    pytester.makeconftest(  # for this session only: the runner's class is this process's too
        """
        import pytest

        from harness.scenarios.runner import ScenarioRunner


        def broken(self, *args, **kwargs):
            return {}['missing']


        @pytest.hookimpl(wrapper=True)
        def pytest_runtestloop(session):
            run, ScenarioRunner.run = ScenarioRunner.run, broken
            try:
                return (yield)
            finally:
                ScenarioRunner.run = run
        """
    )
    result = pytester.runpytest("-k", "remember", "-rf", "--junitxml", "j.xml")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            ">*runner.run(scenario, specs[[]id(scenario)[]], variant=variant)*",  # the item's runtest
            "*harness/pytest_plugin.py:*",
            ">       return {}['missing']",
            "E       KeyError: 'missing'",
            "FAILED scenarios/remember.yaml::remember - KeyError: 'missing'",
        ]
    )
    result.stdout.no_fnmatch_line("*_pytest/*")
    result.stdout.no_fnmatch_line("*pluggy/*")
    failure = ET.parse(pytester.path / "j.xml").getroot().find(".//failure")
    assert failure is not None and failure.get("message") == "KeyError: 'missing'"
    full = pytester.runpytest("-k", "remember", "--fulltrace")  # every frame, for whoever asks
    full.stdout.fnmatch_lines(["*_pytest/runner.py:*"])


def test_a_scenario_the_harness_counts_as_an_error_is_a_junit_failure_saying_error(
    pytester: pytest.Pytester, project: Project
) -> None:
    """The Markdown summary said `1 error` and JUnit `errors="0" failures="1"` with nothing tying the two: pytest's
    error is a fixture's setup or teardown failing. The failure text starts with the harness's `error:` wording,
    also when a repeat's header comes first (the short summary and JUnit's `message` showed only the header)."""
    (project.cassettes / "misspelt.yaml").write_text("interactions: [\n", encoding="utf-8")
    shutil.copy(project.cassettes / "remember.yaml", project.cassettes / "remember.repeat-2.yaml")
    (project.cassettes / "remember.repeat-2.yaml").write_text("interactions: [\n", encoding="utf-8")
    result = pytester.runpytest("--junitxml=j.xml", "--harness-summary-md=s.md")
    result.assert_outcomes(failed=2)
    assert "**1 passed, 2 error**" in (pytester.path / "s.md").read_text(encoding="utf-8")  # remember's repeat 1
    suite = ET.parse(pytester.path / "j.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("errors"), suite.get("failures")) == ("0", "2")
    failures = {case.get("name"): case.find("failure") for case in suite.iter("testcase")}
    messages = {name: failure.get("message", "") for name, failure in failures.items() if failure is not None}
    assert messages["misspelt"].startswith("error: scenarios/misspelt.yaml:4: cassettes/misspelt.yaml is not a")
    assert messages["remember"].startswith(
        "error: 1 run of this scenario could not be run to the end (the harness reports it as an error):\n"
        "scenarios/remember.yaml: repeat 2 (cassette remember.repeat-2.yaml):\n"
        "error: scenarios/remember.yaml:"
    )
    result.stdout.fnmatch_lines(["FAILED scenarios/remember.yaml::remember - error: 1 run of this scenario*"])


def test_junitxml_keeps_every_judges_score_as_a_property(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    judged = REMEMBER.replace(
        "expect:\n  blocks:", 'expect:\n  reply: {judge: {rubric: "greets Azin", threshold: 0.6}}\n  blocks:'
    )
    project = make_project(pytester.path, {"judged": judged})
    project.record("judged", [*REMEMBER_RESPONSES, completion(content='{"score": 0.8, "reason": "it does"}')])
    report = pytester.path / "junit.xml"
    pytester.runpytest(f"--junitxml={report}").assert_outcomes(passed=1)
    (case,) = ET.parse(report).getroot().iter("testcase")
    properties = [(p.get("name"), p.get("value")) for p in case.iter("property")]
    written = project.scenario_path("judged").read_text().splitlines()
    line = next(n for n, text in enumerate(written, 1) if "judge:" in text)
    assert properties[1:] == [
        (
            "judge",
            f"line {line}, expect.reply.judge: the reply scored 0.8 >= 0.6 against the rubric 'greets Azin': it does",
        )
    ]


def test_a_python_test_recording_a_secrets_value_fails_at_record_time(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a scenario's recording does: the cassette masks the value, so the test would fail only at its
    first replay, far from the recording that made it so."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    make_project(pytester.path)
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-5f1e2d3c4b")
    pytester.makepyfile(test_agent=PYTHON_TEST.replace("My name is Azin.", "My name is Azin, token tok-5f1e2d3c4b."))
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        result = pytester.runpytest("--harness-record-mode", "all", "--harness-base-url", server.base_url)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_agent.py::test_saves_name: a request this test recorded held a secret's value (message * (user) "
            "held the value of MY_SERVICE_TOKEN*): the cassette *test_saves_name.yaml masks it as <SECRET>, * it can "
            "never replay: * then record it again with: pytest --harness-record-mode new "
            "test_agent.py::test_saves_name*"
        ]
    )
    assert "tok-5f1e2d3c4b" not in result.stdout.str()


DRAWING_CONFTEST = """
import os
import random

import pytest


@pytest.fixture(autouse=True)
def outer_seed():
    # as pytest-randomly does: `random` seeded before each test, another seed on each run here
    seed = int(os.environ["OUTER_SEED"])
    random.seed(seed)
    yield
    assert random.random() == random.Random(seed).random(), "the test's seeding leaked out of it"
"""

DRAWING_TOOLS = '''
import random


def draw_py() -> str:
    """Draw a number.

    Returns:
        str: the number drawn.
    """
    return f"{random.random():.12f}"
'''

DRAWING_TEST = """
def test_draws(harness_agent):
    agent = harness_agent("drawer")
    assert agent.send("go").stop_reason == "replied"
"""


def test_a_python_tests_tool_drawing_random_numbers_replays_and_its_seeding_stays_inside_the_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`harness_agent` seeds Python's `random` when its first agent is made, from the test's cassette and the
    clock's seed, and puts it back as it was once the test is done."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    project = make_project(pytester.path)
    with project.agents.open("a") as agents:
        agents.write("  drawer:\n    system: You draw.\n    tools: [send_message, 'pydrawing:draw_py']\n")
    (pytester.path / "pydrawing.py").write_text(DRAWING_TOOLS)
    pytester.makeconftest(DRAWING_CONFTEST)
    pytester.makepyfile(test_drawing=DRAWING_TEST)
    responses = [completion(call("draw_py", {"request_heartbeat": True})), reply("done")]
    monkeypatch.setenv("OUTER_SEED", "1")
    with FakeOpenAI(responses) as server:
        recorded = pytester.runpytest("--harness-record-mode", "all", "--harness-base-url", server.base_url)
    recorded.assert_outcomes(passed=1)
    monkeypatch.setenv("OUTER_SEED", "2")  # unseeded, the tool would draw another number than recorded
    pytester.runpytest().assert_outcomes(passed=1)
