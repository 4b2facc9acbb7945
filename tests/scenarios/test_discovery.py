"""Scenario discovery finds what `Path.rglob` would: files with a YAML suffix, not in `history/` folders, not
under links to folders, each file once however it is named; and links named like one that lead nowhere
(dangling, a loop), so that loading each fails that scenario with a located error."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.project import HISTORY_FOLDER
from harness.scenarios.discovery import SUFFIXES, discover
from tests.helpers import closed_to_user, run_python


def leads_nowhere(path: Path) -> bool:
    try:
        return path.is_symlink() and not path.is_dir() and not path.is_file()
    except OSError:  # a loop (Python < 3.12 says False instead)
        return True


def identity(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a loop of links
        return path.absolute()


def rglob_reference(paths: list[Path]) -> list[Path]:
    """The discovery this module replaced: rglob, a stat per file, and a resolve per file (and links that
    lead nowhere)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.suffix in SUFFIXES
                and HISTORY_FOLDER not in p.relative_to(path).parts[:-1]
                and (p.is_file() or leads_nowhere(p))
            )
        else:
            found.append(path)
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(identity(path), path)
    return list(unique.values())


names = st.sampled_from(["a.yaml", "b.yml", "c.txt", ".yaml", "x.y.yaml", HISTORY_FOLDER, "d", "e.yaml", "B.yaml"])
entries = st.lists(
    st.tuples(
        st.lists(names, min_size=1, max_size=3),
        st.sampled_from(["file", "dir", "link to file", "link to folder", "broken link", "link loop"]),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(entries, st.sampled_from(["root", "root and a file", "root twice", "a subfolder and root"]))
def test_it_finds_what_rglob_finds(tmp_path_factory: object, tree: list[tuple[list[str], str]], given_as: str) -> None:
    root = Path(tmp_path_factory.mktemp("tree"))  # type: ignore[attr-defined]
    (root / "target.yaml").write_text("x")
    (root / "target_folder").mkdir()
    (root / "target_folder" / "inside.yaml").write_text("x")
    for parts, kind in tree:
        path = root.joinpath(*parts)
        blocked = any(parent.is_symlink() or (parent.exists() and not parent.is_dir()) for parent in path.parents)
        if blocked or path.exists() or path.is_symlink():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "file":
            path.write_text("x")
        elif kind == "dir":
            path.mkdir()
        elif kind == "link to file":
            path.symlink_to(root / "target.yaml")
        elif kind == "link to folder":
            path.symlink_to(root / "target_folder", target_is_directory=True)
        elif kind == "link loop":
            path.symlink_to(path.name)
        else:
            path.symlink_to(root / "missing.yaml")
    files = [p for p in root.rglob("*.yaml") if p.is_file()]
    given = {
        "root": [root],
        "root and a file": [root, *files[:1]],
        "root twice": [root, root],
        "a subfolder and root": [*[p for p in root.iterdir() if p.is_dir() and not p.is_symlink()][:1], root],
    }[given_as]
    assert discover(given) == rglob_reference(given)


UNREADABLE = """
import json
from pathlib import Path
from harness.errors import ScenarioError
from harness.scenarios.discovery import discover
try:
    discover([Path("scenarios"), Path("locked/x.yaml")])
except ScenarioError as exc:
    print(json.dumps([str(problem) for problem in exc.problems]))
"""


def test_each_folder_it_may_not_read_is_an_error_not_skipped(tmp_path: Path) -> None:
    """As `Path.rglob`, a folder it could not read was left out silently: a run missing its scenarios
    passed green, and `cassettes check` called their cassettes orphans. pytest stops there (a collection
    error): so does discovery, naming every such folder and path at once."""
    for name in ("scenarios/a.yaml", "scenarios/x/b.yaml", "scenarios/y/z/c.yaml", "locked/x.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    with closed_to_user(tmp_path / "scenarios" / "x", tmp_path / "scenarios" / "y", tmp_path / "locked"):
        done = run_python(UNREADABLE, cwd=tmp_path, as_user=True)
    assert done.returncode == 0, done.stderr
    unreadable = "cannot read this scenario folder (Permission denied), so its scenarios cannot be found"
    assert sorted(json.loads(done.stdout)) == [
        "locked/x.yaml: cannot enter the folder locked (Permission denied)",
        f"scenarios/x: {unreadable}",
        f"scenarios/y: {unreadable}",
    ]
