"""Hostile and malformed files: each is refused with a located message (exit 2, no traceback) in bounded
time and memory, whatever kind of file it is (agents file, scenario, prompt, cassette)."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fakes import REMEMBER, REMEMBER_RESPONSES, make_project
from tests.helpers import ROOT

GIB = 1024**3
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
DEEP = "[" * 10_000 + "]" * 10_000

AGENTS = """
defaults:
  model: {name: m, base_url: "http://127.0.0.1:9/v1"}
  tools: [send_message]
agents:
  chat:
    system: hi
"""


def harness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh process capped at 2 GiB of memory and 10 s."""
    code = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({2 * GIB}, {2 * GIB}))\n"
        "from harness.cli import main\n"
        f"sys.exit(main({list(args)!r}))\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=10, env=_env())


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT)}


def refused(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (AGENTS + "x:\n  " + BOMB.replace("\n", "\n  ").rstrip() + "\n", ["agents.yaml:", "alias bomb"]),
        (AGENTS.replace("system: hi", "system: " + DEEP), ["agents.yaml:7:", "nested more than 64 levels"]),
        (AGENTS.replace("system: hi", "system: " + "x" * (2 * 1024 * 1024)), ["a value of 2097152 characters"]),
        (AGENTS.replace("system: hi", "system: " + "x" * (5 * 1024 * 1024)), ["larger than 4 MB"]),
    ],
    ids=["alias-bomb", "deep-nesting", "huge-value", "huge-file"],
)
def test_a_hostile_agents_file(tmp_path: Path, text: str, fragments: list[str]) -> None:
    (tmp_path / "agents.yaml").write_text(text, encoding="utf-8")
    refused(harness("validate", cwd=tmp_path), *fragments)


def test_a_system_file_that_is_a_device_or_too_big(tmp_path: Path) -> None:
    (tmp_path / "agents.yaml").write_text(AGENTS.replace("system: hi", "system_file: /dev/zero"), encoding="utf-8")
    refused(harness("validate", cwd=tmp_path), "agents.yaml:7:", "'/dev/zero' is an absolute path")
    os.mkfifo(tmp_path / "pipe")  # inside the project, but a reader would wait (or read) forever
    (tmp_path / "agents.yaml").write_text(AGENTS.replace("system: hi", "system_file: pipe"), encoding="utf-8")
    refused(harness("validate", cwd=tmp_path), "agents.yaml:7:", "not a regular file")
    (tmp_path / "big.txt").write_text("x" * (5 * 1024 * 1024), encoding="utf-8")
    (tmp_path / "agents.yaml").write_text(AGENTS.replace("system: hi", "system_file: big.txt"), encoding="utf-8")
    refused(harness("validate", cwd=tmp_path), "larger than 4 MB")


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        (AGENTS.encode("utf-16"), ["the file is UTF-16 text: save it as UTF-8"]),
        (AGENTS.encode("utf-16-le"), ["agents.yaml:2:1:", "NUL characters", "UTF-16"]),
        (
            AGENTS.replace("hi", "h\xe9").encode("latin-1"),
            ["agents.yaml:7:14:", f"byte {AGENTS.index('system: hi') + 9} (0xe9)", "save the file as UTF-8"],
        ),
    ],
    ids=["utf-16-bom", "utf-16-no-bom", "latin-1"],
)
def test_an_agents_file_that_is_not_utf8(tmp_path: Path, data: bytes, fragments: list[str]) -> None:
    (tmp_path / "agents.yaml").write_bytes(data)
    refused(harness("validate", cwd=tmp_path), *fragments)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "agents.yaml").write_bytes(codecs.BOM_UTF8 + AGENTS.encode("utf-8"))
    result = harness("validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("scenario", "fragments"),
    [
        ("agent: chat\nturns: [{user: hi}]\nblocks:\n  " + BOMB.replace("\n", "\n  "), ["alias bomb"]),
        ("agent: chat\nturns: [{user: " + DEEP + "}]\n", ["nested more than 64 levels"]),
    ],
    ids=["alias-bomb", "deep-nesting"],
)
def test_a_hostile_scenario_file(tmp_path: Path, scenario: str, fragments: list[str]) -> None:
    project = make_project(tmp_path / "p", {"bad": scenario})
    refused(harness("run", cwd=project.root), "scenarios/bad.yaml:", *fragments)


@pytest.mark.parametrize(
    ("cassette", "fragment"),
    [
        ("version: 1\ninteractions: " + DEEP + "\n", "nested more than 64 levels"),
        ("version: 1\nx:\n  " + BOMB.replace("\n", "\n  ") + "\ninteractions: []\n", "alias bomb"),
        ("\ufeff".encode("utf-16").decode("latin-1"), "UTF-16"),
    ],
    ids=["deep-nesting", "alias-bomb", "utf-16"],
)
def test_a_hostile_cassette_errors_that_scenario_only(tmp_path: Path, cassette: str, fragment: str) -> None:
    project = make_project(tmp_path / "p", {"remember": REMEMBER, "other": REMEMBER})
    project.record("remember", REMEMBER_RESPONSES)
    path = project.cassettes / "other.yaml"
    path.write_bytes(cassette.encode("latin-1") if cassette.startswith("\xff") else cassette.encode())
    result = harness("run", cwd=project.root)
    assert result.returncode == 1, result.stderr  # that scenario errors; the suite runs on
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr
    assert "1 passed, 1 error" in result.stdout
    assert textwrap.dedent(REMEMBER).strip()  # the other scenario is the same one, replayed fine


def test_a_long_extends_chain_compiles_in_linear_time(tmp_path: Path) -> None:
    lines = [AGENTS.replace("  chat:\n    system: hi\n", "  a0:\n    system: hi\n").rstrip()]
    lines += [f"  a{i}:\n    extends: a{i - 1}" for i in range(1, 3000)]
    (tmp_path / "agents.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = harness("validate", cwd=tmp_path)  # 10 s at most (it took over a minute before)
    assert result.returncode == 0, result.stderr
    assert "3000 agents" in result.stdout
    (tmp_path / "agents.yaml").write_text("\n".join([*lines, "  a0x:\n    extends: a2999x"]) + "\n", encoding="utf-8")
    refused(harness("validate", cwd=tmp_path), "agents.a0x.extends: no agent named 'a2999x' to extend")


def test_a_recursive_alias_and_deep_flow_nesting_in_a_scenario(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"loop": "agent: chat\nturns: &t [{user: hi, x: *t}]\n"})
    refused(harness("run", cwd=project.root), "scenarios/loop.yaml:2:", "contains itself")
    # deep enough that libyaml's composer, which recurses in C, would crash the process
    project.write_scenario("deep", "agent: chat\nturns: " + "[" * 200_000 + "]" * 200_000 + "\n")
    refused(harness("run", str(project.scenario_path("deep")), cwd=project.root), "nested more than 64 levels")
