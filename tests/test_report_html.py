"""The HTML report: self-contained, escaped, deterministic, failures open and linked; and opened in a real
headless browser (Debian's Chromium), which must render the counts, the filters and a block diff."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.report import json_report
from harness.report_html import diff_html, html_report, write_html
from harness.scenarios.results import ScenarioResult
from tests.fakes import (
    FORGETFUL,
    FORGETFUL_RESPONSES,
    REMEMBER,
    REMEMBER_RESPONSES,
    Project,
    append,
    completion,
    make_project,
    reply,
)
from tests.helpers import call

HOSTILE = """
agent: chat
description: "model output that looks like markup <i>stays text</i>"
turns:
  - user: "Remember <b>this</b> & that"
"""
HOSTILE_REPLY = "<script>document.title='pwned'</script>"
HOSTILE_RESPONSES = [append("human", '<img src=x onerror="document.title=1">'), reply(HOSTILE_REPLY)]


@pytest.fixture(scope="module")
def recorded_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(
        tmp_path_factory.mktemp("recorded"), {"remember": REMEMBER, "forgetful": FORGETFUL, "hostile": HOSTILE}
    )
    project.record("remember", REMEMBER_RESPONSES)
    project.record("forgetful", FORGETFUL_RESPONSES)
    project.record("hostile", HOSTILE_RESPONSES)
    return project.root


@pytest.fixture
def project(recorded_project: Path, tmp_path: Path) -> Project:
    shutil.copytree(recorded_project, tmp_path / "project")
    return Project(tmp_path / "project")


def replayed(project: Project) -> list[ScenarioResult]:
    return [project.replay(name) for name in ("remember", "forgetful", "hostile")]


@pytest.fixture
def report(project: Project) -> dict[str, Any]:
    return json_report(replayed(project), project.root)


class Page(HTMLParser):
    """The page's elements, as (tag, attributes) in document order, and its text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def having(self, **attributes: str) -> list[tuple[str, dict[str, str | None]]]:
        return [e for e in self.elements if all(e[1].get(k) == v for k, v in attributes.items())]


# ------------------------------------------------------------------ the page itself


def test_the_page_is_self_contained(report: dict[str, Any]) -> None:
    page = html_report(report)
    assert page.startswith("<!DOCTYPE html>")
    # nothing is fetched: no external script, style sheet, image or font, no URL at all
    assert not re.search(r"(src|href)=\"(?!#)", page)
    assert "http://" not in page and "https://" not in page and "@import" not in page
    assert "<style>" in page and "<script>" in page


def test_model_output_is_escaped(report: dict[str, Any]) -> None:
    page = html_report(report)
    assert HOSTILE_REPLY not in page
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "<img" not in page and "&lt;img src=x onerror=" in page
    assert "Remember &lt;b&gt;this&lt;/b&gt; &amp; that" in page
    assert "&lt;i&gt;stays text&lt;/i&gt;" in page
    parsed = Page(page)
    assert [tag for tag, _ in parsed.elements].count("script") == 1  # the report's own, no other
    assert HOSTILE_REPLY in "".join(parsed.text)  # shown to the reader as text


def test_counts_and_a_summary_row_per_scenario_linking_to_its_section(report: dict[str, Any]) -> None:
    page = Page(html_report(report))
    counts = page.having(**{"class": "count passed"})
    assert counts and counts[0][1]["data-outcome"] == "passed"
    assert "<b>2</b> passed</li>" in html_report(report) and "<b>1</b> failed</li>" in html_report(report)
    rows = [attrs for tag, attrs in page.elements if tag == "tr" and "data-target" in attrs]
    assert [(r["data-outcome"], r["data-target"]) for r in rows] == [  # by path: forgetful, hostile, remember
        ("failed", "s1"),
        ("passed", "s2"),
        ("passed", "s3"),
    ]
    links = [attrs["href"] for tag, attrs in page.elements if tag == "a"]
    assert links == ["#s1", "#s2", "#s3"]
    sections = [attrs for tag, attrs in page.elements if tag == "details"]
    assert [s["id"] for s in sections] == ["s1", "s2", "s3"]
    # failures are expanded, passing scenarios folded
    assert ["open" in s for s in sections] == [True, False, False]


def test_a_failure_shows_the_explanation(report: dict[str, Any], project: Project) -> None:
    page = html_report(report)
    failing = page[page.index('id="s1"') : page.index('id="s2"')]
    assert '<pre class="failures">' in failing
    assert (
        "turns[0].expect.blocks.human.contains: block &#x27;human&#x27; does not contain &#x27;Carol&#x27;" in failing
    )


def test_turns_show_user_steps_calls_arguments_results_and_block_diffs(report: dict[str, Any]) -> None:
    page = html_report(report)
    remember = page[page.index('id="s3"') :]
    assert "<pre>Hi! My name is Azin.</pre>" in remember
    assert '<code class="name">core_memory_append</code>' in remember
    assert "&quot;label&quot;: &quot;human&quot;" in remember  # arguments, as indented JSON
    assert '<div class="result"><b>ok</b> <pre>' in remember
    assert '<div class="reply"><b>reply:</b> <pre>Nice to meet you, Azin!</pre></div>' in remember
    # human changed in the turn: a diff against its value before; persona did not
    assert '<div class="block changed"><h4>human</h4><div class="diff">' in remember
    assert '<div class="line same"> Name: Bob</div><div class="line add">+<ins>Azin</ins></div>' in remember
    assert '<h4>persona <span class="unchanged-note">unchanged</span></h4>' in remember


def test_a_turn_another_agent_took_is_diffed_against_that_agents_own_blocks(tmp_path: Path) -> None:
    """Primary (human, project) and sleep-time (persona, project) agents take turns; both edit the shared
    `project` once and nothing else. Each turn was diffed against the turn before, whoever took it: the
    sleep-time turn showed its persona as new, and the primary's next turn its whole human block as new."""
    from tests.scenarios.test_shared_blocks import RESPONSES, shared_project

    project = shared_project(tmp_path)
    project.record("shared", RESPONSES)
    page = html_report(json_report([project.replay("shared")], project.root))
    turns = page.split('<div class="turn">')[1:]
    changed = [re.findall(r'<div class="block changed"><h4>([^<]*)</h4>', turn) for turn in turns]
    unchanged = [re.findall(r'<h4>([^<]*) <span class="unchanged-note">', turn) for turn in turns]
    assert changed == [["project"], ["project"], []]
    assert unchanged == [["human"], ["persona"], ["human", "project"]]
    # the shared block against what the other agent left in it: the sleep-time agent's replace of one line
    assert '<div class="line same"> Project: harness</div><div class="line del">-' in turns[1]


def test_block_diff_marks_changed_characters() -> None:
    assert diff_html("Name: Bob", "Name: Carl") == (
        '<div class="diff"><div class="line del">-Name: <del>Bob</del></div>'
        '<div class="line add">+Name: <ins>Carl</ins></div></div>'
    )
    assert diff_html("a\nb", "a") == (
        '<div class="diff"><div class="line same"> a</div><div class="line del">-<del>b</del></div></div>'
    )
    assert "&lt;x&gt;" in diff_html("", "<x>")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("I am A", "I am A\n"),  # a trailing newline
        ("Name: Bob\nlikes tea", "Name: Bob\r\nlikes tea"),  # CRLF
        ("a\nb", "a\u2028b"),  # U+2028 for a line break
        ("a\x0cb", "a\x1cb"),  # a form feed for a file separator
        ("a\x85b", "a\u2029b"),
    ],
)
def test_a_block_diff_shows_a_change_in_what_does_not_show(old: str, new: str) -> None:
    """`str.splitlines` split at these and dropped line endings: a block marked changed showed only
    unchanged lines."""
    diff = diff_html(old, new)
    assert 'class="line del"' in diff or 'class="line add"' in diff
    assert "\r" not in diff and "\u2028" not in diff and "\x0c" not in diff  # shown escaped, not obeyed


def test_a_block_diff_of_a_value_split_at_newlines_alone() -> None:
    assert diff_html("Name: Bob\nlikes tea", "Name: Bob\r\nlikes tea") == (
        '<div class="diff"><div class="line del">-Name: Bob</div>'
        '<div class="line add">+<ins>&quot;</ins>Name: Bob<ins>\\r&quot;</ins></div>'
        '<div class="line same"> likes tea</div></div>'
    )
    assert diff_html(None, "a\nb") == (
        '<div class="diff"><div class="line add">+<ins>a</ins></div><div class="line add">+<ins>b</ins></div></div>'
    )
    assert diff_html("a", None) == '<div class="diff"><div class="line del">-<del>a</del></div></div>'


def test_a_value_changed_only_in_a_trailing_newline_says_so_beside_its_diff() -> None:
    turn = {"user": "u", "stop_reason": "replied", "steps": [], "reply": None, "blocks": {"persona": "I am A\n"}}
    entry = {"outcome": "passed", "agent": "a", "failures": [], "failed_checks": [], "row": None, "repeat": 1}
    entry |= {"scenario": "scenarios/x.yaml", "cassette": None, "initial_blocks": {"persona": "I am A"}}
    page = html_report({"summary": {"passed": 1}, "scenarios": [{**entry, "turns": [turn], "timing": {}}]})
    assert '<h4>persona <span class="alike-note">the values differ only in trailing newlines' in page


def test_a_deleted_block_shows_as_deleted_and_a_renamed_one_as_renamed(tmp_path: Path) -> None:
    """The turn that deleted `notes` listed only the other blocks, and the one that renamed `human` to
    `user` showed `user` as a new block, every line added, while `human` vanished without a word."""
    from tests.scenarios.test_results import memory_project, memory_turn

    project = memory_project(tmp_path)
    project.write_scenario(
        "gone",
        "agent: chat\nturns:\n  - user: create\n  - user: delete\n  - user: rename\n  - user: rename and edit\n",
    )
    create = {"command": "create", "path": "/memories/notes", "description": "notes", "file_text": "n1\nn2"}
    delete = {"command": "delete", "path": "/memories/notes"}
    rename = {"command": "rename", "old_path": "/memories/human", "new_path": "/memories/user"}
    rename_again = {"command": "rename", "old_path": "/memories/user", "new_path": "/memories/person"}
    edit = {"command": "str_replace", "path": "/memories/person", "old_string": "Bob", "new_string": "Ann"}
    responses = memory_turn(create) + memory_turn(delete) + memory_turn(rename)
    responses += [completion(call("memory", {**rename_again, "request_heartbeat": True})), *memory_turn(edit)]
    project.record("gone", responses)
    report = json_report([project.replay("gone")], project.root)
    turns = report["scenarios"][0]["turns"]
    assert [turn.get("renamed") for turn in turns] == [None, None, {"user": "human"}, {"person": "user"}]
    page = html_report(report)
    created, deleted, renamed, edited = page.split('<div class="turn">')[1:]
    assert '<div class="block changed"><h4>notes</h4><div class="diff"><div class="line add">+<ins>n1</ins>' in created
    assert (
        '<div class="block deleted"><h4>notes <span class="deleted-note">deleted</span></h4><div class="diff">'
        '<div class="line del">-<del>n1</del></div><div class="line del">-<del>n2</del></div></div></div>'
    ) in deleted
    assert "<h4>user" not in deleted and "<h4>human" in deleted
    assert (
        '<h4>user <span class="renamed-note">renamed from human</span> <span class="unchanged-note">unchanged</span>'
        in renamed
    )
    assert "<h4>human" not in renamed and "deleted-note" not in renamed
    # renamed and edited in one turn: the diff against the value under its old label
    assert '<div class="block changed"><h4>person <span class="renamed-note">renamed from user</span></h4>' in edited
    assert (
        '<div class="line del">-Name: <del>Bob</del></div><div class="line add">+Name: <ins>Ann</ins></div>' in edited
    )


def test_the_same_results_give_the_same_page_timings_aside(project: Project) -> None:
    first, second = (html_report(json_report(replayed(project), project.root)) for _ in range(2))
    timing = re.compile(r'<span class="timing">[^<]*</span>')
    assert len(timing.findall(first)) == 6  # a row and a section heading per scenario
    assert timing.sub("", first) == timing.sub("", second)


def test_written_atomically(report: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "report.html"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o600)
    write_html(report, path)
    assert path.read_text(encoding="utf-8") == html_report(report)
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temporary file left


# ------------------------------------------------------------------ in a real browser


def chromium() -> str:
    """Debian's Chromium (`apt-get install chromium`; .ci/run installs it), or $HARNESS_CHROMIUM."""
    for candidate in (os.environ.get("HARNESS_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return candidate
    pytest.fail("no Chromium to open the HTML report in: apt-get install chromium (or set HARNESS_CHROMIUM)")


def browse(page: Path, tmp_path: Path, *args: str, query: str = "") -> str:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",  # as root in CI
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1200,1400",
            *args,
            page.as_uri() + query,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_report_renders_in_headless_chromium(report: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_html(report, page)

    dom = browse(page, tmp_path, "--dump-dom")
    parsed = Page(dom)
    assert "harness report" in dom and "pwned" not in dom.split("</title>")[0]  # the hostile reply never ran
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    assert re.search(r'data-outcome="passed"><b>2</b> passed', dom)
    assert re.search(r'data-outcome="failed"><b>1</b> failed', dom)
    assert '<span id="shown" class="muted">3 of 3 shown</span>' in dom  # the page's script ran
    assert parsed.having(**{"class": "diff"}) and "<ins>Azin</ins>" in dom

    # the filters: by outcome and by text, preset from the address
    dom = browse(page, tmp_path, "--dump-dom", query="?outcome=failed")
    assert "1 of 3 shown" in dom
    rows = [a for t, a in Page(dom).elements if t == "tr" and "data-target" in a]
    assert [r["class"] for r in rows] == ["failed", "passed hidden", "passed hidden"]
    dom = browse(page, tmp_path, "--dump-dom", query="?q=ONERROR")  # found in a block value, any case
    assert "1 of 3 shown" in dom
    sections = [a for t, a in Page(dom).elements if t == "details"]
    assert [s["class"] for s in sections] == ["scenario failed hidden", "scenario passed", "scenario passed hidden"]

    # a link to a folded scenario opens it
    dom = browse(page, tmp_path, "--dump-dom", query="#s3")
    sections = [a for t, a in Page(dom).elements if t == "details"]
    assert ["open" in s for s in sections] == [True, False, True]

    shot = tmp_path / "report.png"
    browse(page, tmp_path, f"--screenshot={shot}", query="#s3")  # opens the passing one, with its diff
    assert png_size(shot) == (1200, 1400)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    print(f"screenshot: {shot}")  # kept in pytest's temporary folder (the last 3 runs) to look at


def test_report_json_round_trip_renders_the_same(report: dict[str, Any]) -> None:
    """The page is built from the JSON report's data: the report as written and read back gives the same page
    (what the pytest plugin relies on when results come from pytest-xdist workers as JSON)."""
    assert html_report(json.loads(json.dumps(report))) == html_report(report)


def test_a_lone_surrogate_from_the_model_is_written_as_a_replacement_character(
    report: dict[str, Any], tmp_path: Path
) -> None:
    report["scenarios"][0]["turns"][0]["reply"] = "half a pair: \ud800"
    path = tmp_path / "report.html"
    write_html(report, path)
    assert "half a pair: \ufffd" in path.read_text(encoding="utf-8")


def test_a_scenario_that_could_not_run_is_shown_open_with_its_error(project: Project) -> None:
    (project.cassettes / "remember.yaml").write_text("interactions: [", encoding="utf-8")
    result = project.replay("remember")
    assert result.outcome == "error"
    page = html_report(json_report([result], project.root))
    assert '<details class="scenario error" id="s1" data-outcome="error" open>' in page
    assert '<pre class="failures">error: ' in page
    assert "<b>1</b> error</li>" in page


def test_a_refusal_and_the_error_that_ended_a_turn_are_shown(report: dict[str, Any]) -> None:
    turn = report["scenarios"][0]["turns"][0]
    turn["steps"][0]["refusal"] = "I can't <help>"
    turn["error"] = "the model's answer is not JSON"
    page = html_report(report)
    assert '<pre class="refusal">refused: I can&#x27;t &lt;help&gt;</pre>' in page
    assert '<pre class="failures">the turn ended: the model&#x27;s answer is not JSON</pre>' in page


def test_repeats_get_a_pass_hat_k_table_and_numbered_rows(report: dict[str, Any]) -> None:
    first = report["scenarios"][2]  # remember
    report["scenarios"] = [{**first, "repeat": 1}, {**first, "repeat": 2, "outcome": "failed"}]
    report["reliability"] = {
        "scenarios": [
            {
                "scenario": first["scenario"],
                "runs": 2,
                "passes": 1,
                "pass_at_1": 0.5,
                "pass_hat": {"1": 0.5, "2": 0.0},
                "failed_checks": {"2": ["reply.contains"]},
            }
        ],
        "suite": {"pass_at_1": 0.5, "pass_hat": {"1": 0.5, "2": 0.0}},
    }
    page = html_report(report)
    names = re.findall(r'<a href="#s\d">([^<]*)</a>', page)
    assert names == ["scenarios/remember.yaml #1", "scenarios/remember.yaml #2"]
    table = page[page.index('<table id="reliability">') :]
    table = table[: table.index("</table>")]
    assert "<th>pass@1</th><th>pass^1</th><th>pass^2</th>" in table
    assert "<tr><td>scenarios/remember.yaml</td><td>1/2</td><td>0.50</td><td>0.50</td><td>0.00</td></tr>" in table
    assert "<tr><td><b>suite (mean)</b></td><td>1/2</td><td>0.50</td><td>0.50</td><td>0.00</td></tr>" in table
    del report["reliability"]  # no repeats: no table, no numbers
    report["scenarios"] = [{**first, "repeat": 1}]
    page = html_report(report)
    assert 'id="reliability"' not in page and "remember.yaml #" not in page


def test_dataset_rows_are_named_apart_in_the_table_and_the_sections() -> None:
    """Each row of a dataset file was shown under the file's name alone: which row failed was not told."""
    base = {"outcome": "failed", "agent": "a", "turns": [], "failures": [], "failed_checks": [], "steps": 0}
    base |= {"repeat": 1, "cassette": None, "initial_blocks": {}, "final_blocks": {}, "timing": {}}
    rows = [{**base, "scenario": "scenarios/intro.yaml", "row": row} for row in ("azin", "carol")]
    page = html_report({"summary": {"failed": 2}, "scenarios": rows})
    for n, row in enumerate(("azin", "carol"), start=1):
        assert f'<a href="#s{n}">scenarios/intro.yaml[{row}]</a>' in page
        assert f"</span> scenarios/intro.yaml[{row}]" in page


def test_control_characters_and_bidi_overrides_a_model_wrote_are_shown_as_escapes() -> None:
    """A U+202E in a reply reordered the line it stood in, and an escape sequence reached the page raw."""
    base = {"outcome": "failed", "agent": "a", "turns": [], "failed_checks": [], "steps": 0, "row": None}
    base |= {"repeat": 1, "cassette": None, "initial_blocks": {}, "final_blocks": {}, "timing": {}}
    entry = {**base, "scenario": "scenarios/x.yaml", "failures": ["reply: 'abc\u202edef\x1b[31m'"]}
    page = html_report({"summary": {"failed": 1}, "scenarios": [entry]})
    assert "\u202e" not in page and "\x1b" not in page
    assert "abc\\u202edef\\x1b[31m" in page


def test_every_judges_verdict_is_in_the_json_and_the_page_a_passing_ones_too(tmp_path: Path) -> None:
    judged = REMEMBER.replace(
        "expect:\n  blocks:", 'expect:\n  reply: {judge: {rubric: "greets <b>Azin</b>", threshold: 0.6}}\n  blocks:'
    )
    project = make_project(tmp_path / "p", {"judged": judged, "remember": REMEMBER})
    project.record("judged", [*REMEMBER_RESPONSES, completion(content='{"score": 0.6, "reason": "it <i>does</i>"}')])
    project.record("remember", REMEMBER_RESPONSES)
    data = json_report([project.replay("judged"), project.replay("remember")], project.root)
    judged_entry, plain_entry = sorted(data["scenarios"], key=lambda s: s["scenario"])
    assert judged_entry["outcome"] == "passed"
    written = project.scenario_path("judged").read_text().splitlines()
    assert judged_entry["judgements"] == [
        {
            "file": "scenarios/judged.yaml",
            "line": next(n for n, text in enumerate(written, 1) if "judge:" in text),
            "key": "expect.reply.judge",
            "turn": None,
            "judged": "the reply",
            "model": "fake-model-7b",  # the agent's: the check names no other
            "rubric": "greets <b>Azin</b>",
            "score": 0.6,
            "threshold": 0.6,
            "passed": True,
            "reason": "it <i>does</i>",
        }
    ]
    assert "judgements" not in plain_entry  # a scenario without a judge: its entry as ever
    page = html_report(data)
    assert (
        '<li class="judgement passed"><b>passed</b> the reply: score 0.6 &gt;= 0.6 against '
        "<q>greets &lt;b&gt;Azin&lt;/b&gt;</q>: it &lt;i&gt;does&lt;/i&gt;"
    ) in page


def test_a_judgement_names_the_judge_model_another_than_the_agents(tmp_path: Path) -> None:
    """A `judge:` with its own `model:`: the JSON judgement did not say which model judged."""
    judged = REMEMBER.replace(
        "expect:\n  blocks:", 'expect:\n  reply: {judge: {rubric: "greets Azin", model: judge-model-9b}}\n  blocks:'
    )
    project = make_project(tmp_path / "p", {"judged": judged})
    project.record("judged", [*REMEMBER_RESPONSES, completion(content='{"score": 0.9, "reason": "it does"}')])
    data = json_report([project.replay("judged")], project.root)
    assert [judgement["model"] for judgement in data["scenarios"][0]["judgements"]] == ["judge-model-9b"]
