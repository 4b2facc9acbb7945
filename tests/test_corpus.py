"""The corpus of malformed and hostile files (`tests/corpus/`): one folder a case, holding the project files
and `EXPECT`: the command (line 1), its exit code (line 2), then fragments its stderr must contain
(`!fragment`: must not contain). Each case runs in a fresh process capped at 2 GiB and 10 s, from a copy, and
must end with its message and no traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.test_bounded_inputs import harness

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(path.name for path in CORPUS.iterdir() if (path / "EXPECT").is_file())


def test_the_corpus_covers_every_kind_of_file() -> None:
    kinds = {name.split("_")[0] for name in CASES}
    assert kinds == {"agents", "scenario", "cassette"}
    assert len(CASES) >= 50


@pytest.mark.parametrize("name", CASES)
def test_a_malformed_file_gets_its_message(name: str, tmp_path: Path) -> None:
    project = tmp_path / name
    shutil.copytree(CORPUS / name, project, symlinks=True)
    command, exit_line, *fragments = (project / "EXPECT").read_text(encoding="utf-8").splitlines()
    result = harness(*command.split(), cwd=project)
    assert f"exit {result.returncode}" == exit_line, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        if fragment.startswith("!"):
            assert fragment[1:] not in result.stderr + result.stdout
        else:
            assert fragment in result.stderr + result.stdout, result.stderr
