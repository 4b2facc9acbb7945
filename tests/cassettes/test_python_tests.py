"""A Python test's cassette: its name (bounded, stable, its own) and the test that owns it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cassettes.python_tests import (
    MAX_NAME_BYTES,
    cassette_folder,
    cassette_name,
    owning_test,
    selected_tests,
)

# Test names as pytest builds them: classes, then a function with parameter ids of any text.
IDENTIFIER = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
PARAMS = st.text(max_size=400).map(lambda text: f"[{text}]")
TEST_NAMES = st.tuples(st.lists(IDENTIFIER, max_size=2), IDENTIFIER, st.one_of(st.just(""), PARAMS)).map(
    lambda parts: [*parts[0], parts[1] + parts[2]]
)


@given(TEST_NAMES)
def test_a_name_is_a_file_name_recording_can_write(parts: list[str]) -> None:
    """A long node id (a parametrize id of 280 characters) ended in ENAMETOOLONG while recording."""
    name = cassette_name(parts)
    assert 0 < len(name.encode()) <= MAX_NAME_BYTES
    assert len(f".{name}.yaml.0123456789ab.tmp".encode()) <= 255  # harness.files writes through this
    assert "/" not in name and "\x00" not in name and name not in (".", "..")
    assert name == cassette_name(list(parts))  # the same in every run


@given(TEST_NAMES, TEST_NAMES)
def test_two_tests_never_share_a_name(first: list[str], second: list[str]) -> None:
    if ".".join(first) != ".".join(second):
        assert cassette_name(first) != cassette_name(second)


def test_a_name_a_file_can_keep_is_kept_as_it_is() -> None:
    assert cassette_name(["TestA", "test_x"]) == "TestA.test_x"
    assert cassette_name(["test_plain"]) == "test_plain"
    assert cassette_name(["x" * MAX_NAME_BYTES]) == "x" * MAX_NAME_BYTES  # what could be recorded keeps its name
    cut = cassette_name(["test_long[" + "y" * 300 + "]"])
    assert cut.startswith("test_long_yyy") and len(cut.encode()) == MAX_NAME_BYTES


def test_a_name_is_cut_between_characters() -> None:
    name = cassette_name(["test_names[" + "é" * 200 + "]"])
    assert len(name.encode()) <= MAX_NAME_BYTES
    name.encode().decode()  # no half of a character


def test_the_folder_is_taken_from_the_project_then_from_the_rootdir(tmp_path: Path) -> None:
    project, rootdir = tmp_path / "repo" / "agent_tests", tmp_path / "repo"
    assert cassette_folder(project / "tests" / "test_a.py", [project, rootdir]) == Path("tests/test_a")
    assert cassette_folder(rootdir / "tests" / "test_top.py", [project, rootdir]) == Path("tests/test_top")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_owner_is_the_test_the_fixture_named_it_after(tmp_path: Path) -> None:
    """A test in a class (`TestIntro.test_intro.yaml`) and a test outside the agents file's folder (the
    monorepo layout) were called orphans, to delete."""
    repo = tmp_path / "repo"
    os.mkdir(repo)
    (repo / ".git").mkdir()
    project = repo / "agent_tests"
    cassettes = project / "cassettes"
    in_class = write(
        project / "test_cls.py",
        "import pytest\n\nclass TestIntro:\n    class TestInner:\n        async def test_deep(self): ...\n"
        "    @pytest.mark.parametrize('who', ['a/b'])\n    def test_intro(self, who): ...\n",
    )
    top = write(repo / "tests" / "test_top.py", "def test_top(harness_agent):\n    pass\n")
    for parts, test_file in (
        (["TestIntro", "test_intro[a/b]"], in_class),
        (["TestIntro", "TestInner", "test_deep"], in_class),
    ):
        cassette = cassettes / cassette_folder(test_file, [project, repo]) / f"{cassette_name(parts)}.yaml"
        assert owning_test(cassette, cassettes, project) == test_file
    top_cassette = cassettes / cassette_folder(top, [project, repo]) / "test_top.yaml"
    assert owning_test(top_cassette, cassettes, project) == top
    for orphan in ("test_cls/TestIntro.test_gone.yaml", "test_cls/TestOther.test_intro.yaml", "test_top.yaml"):
        assert owning_test(cassettes / orphan, cassettes, project) is None
    # Above the repository's root, no test file is looked for.
    write(tmp_path / "tests" / "test_out.py", "def test_out():\n    pass\n")
    assert owning_test(cassettes / "tests" / "test_out" / "test_out.yaml", cassettes, project) is None


def test_a_test_file_being_edited_owns_its_cassettes(tmp_path: Path) -> None:
    """One that does not parse: its cassettes are not called orphans while it is mid-edit."""
    test_file = write(tmp_path / "test_a.py", "def test_a(:\n")
    cassettes = tmp_path / "cassettes"
    assert owning_test(cassettes / "test_a" / "test_a.yaml", cassettes, tmp_path) == test_file
    test_file.write_text("def test_b():\n    pass\n", encoding="utf-8")  # read again once changed
    assert owning_test(cassettes / "test_a" / "test_a.yaml", cassettes, tmp_path) is None


TEST_FILE = """
import pytest

class TestIntro:
    class TestInner:
        def test_deep(self, who): ...

def test_a(who): ...
def test_a_b(who): ...
"""
KEPT = st.text(st.characters(codec="ascii", categories=["L", "N"], include_characters="-."), max_size=12)
UNKEPT = " _/,:'\"()[]\\=+*!?#$%&;<>@^`{|}~"  # every ASCII character a cassette name writes as `_`
# A parameter id as pytest writes one (ASCII: it escapes the rest, `\\u00e9`), with at most three characters
# a file name does not keep between the ones it keeps.
PARAM_IDS = st.lists(KEPT, min_size=1, max_size=4).flatmap(
    lambda pieces: st.lists(st.sampled_from(UNKEPT), min_size=len(pieces) - 1, max_size=len(pieces) - 1).map(
        lambda unkept: pieces[0] + "".join(c + piece for c, piece in zip(unkept, pieces[1:], strict=True))
    )
)


@pytest.fixture(scope="module")
def test_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("selected") / "test_x.py", TEST_FILE)


def cassette_of(test_file: Path, parts: list[str]) -> Path:
    return test_file.parent / "cassettes" / "test_x" / f"{cassette_name(parts)}.yaml"


@given(test=st.sampled_from([("TestIntro", "TestInner", "test_deep"), ("test_a",), ("test_a_b",)]), param=PARAM_IDS)
def test_a_parametrized_tests_node_id_is_worked_out_from_its_cassette(
    test_file: Path, test: tuple[str, ...], param: str
) -> None:
    """Its record command named the whole test file (every test in it recorded again): the cassette name,
    `test_a_b_c_-<hash>`, had lost which characters its `_` were, and whether `test_a` or `test_a_b` made it."""
    parts = [*test[:-1], f"{test[-1]}[{param}]"]
    assert selected_tests(cassette_of(test_file, parts), test_file) == ["::".join(parts)]


def test_a_test_kept_by_its_name_is_named_so(test_file: Path) -> None:
    assert selected_tests(cassette_of(test_file, ["TestIntro", "TestInner", "test_deep"]), test_file) == [
        "TestIntro::TestInner::test_deep"
    ]


def test_parameters_that_cannot_be_worked_out_name_the_function(test_file: Path) -> None:
    """Cut off from a long name, or too many characters to try: the function, which selects every parameter
    (never the whole file); each function whose name may begin the cassette's when two may."""
    cut = cassette_of(test_file, ["test_a[" + "y" * 300 + "]"])
    assert selected_tests(cut, test_file) == ["test_a"]
    many = cassette_of(test_file, ["test_a_b[~a~b~c~d~e~]"])
    assert selected_tests(many, test_file) == ["test_a", "test_a_b"]
    nested = cassette_of(test_file, ["TestIntro", "TestInner", "test_deep[" + "~" * 9 + "]"])
    assert selected_tests(nested, test_file) == ["TestIntro::TestInner::test_deep"]


def test_a_test_file_that_does_not_parse_is_named_whole(tmp_path: Path) -> None:
    test_file = write(tmp_path / "test_x.py", "def test_a(:\n")
    assert selected_tests(cassette_of(test_file, ["test_a[b c]"]), test_file) == []
