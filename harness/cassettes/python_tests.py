"""The cassette of a test written in Python: where the `harness_agent` fixture puts it, and which test owns
it (`harness cassettes check`, which must not call a live test's cassette an orphan). Both read the one
naming rule here, so they cannot drift apart.

`<cassettes>/<test file, without .py, from the project's root>/<Class.>test name.yaml`. The name is kept
as the test's exact name (its classes, then the function and its parameters) where a file name can keep it;
otherwise (a character a file name cannot hold, or a name too long for one) it is cut to what can stay and
ends with a short hash of the exact name, so two tests never share a cassette and a name never changes
from one run to the next.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import itertools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

# A file name holds at most 255 bytes on the usual file systems, and a cassette is written through
# `.<name>.yaml.<12 hex>.tmp` (harness.files): 232 bytes of name keep every name that could be recorded.
MAX_NAME_BYTES = 255 - len("..yaml.123456789abc.tmp")
HASH_LENGTH = 8
# The folders where a repository ends: the search for a test file above the project stops there.
REPOSITORY_MARKERS = (".git", ".hg")


def cassette_name(parts: Sequence[str]) -> str:
    """The cassette's file name (without `.yaml`) of the test named by `parts`: the classes it is in, then
    its own name with its parameters (`["TestA", "test_x[a/b]"]`)."""
    exact = ".".join(parts)
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in exact)
    if name == exact and len(name.encode()) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha256(exact.encode()).hexdigest()[:HASH_LENGTH]
    kept = name.encode()[: MAX_NAME_BYTES - HASH_LENGTH - 1].decode(errors="ignore")  # whole characters
    return f"{kept}-{digest}"


def cassette_folder(test_file: Path, roots: Sequence[Path]) -> Path:
    """The test file's path without `.py`, from the first of `roots` it is under (the project's root, then
    pytest's rootdir for a test outside it): the cassette's folder under the cassette folder."""
    relative = Path(os.path.relpath(test_file, roots[0]))
    for root in roots[1:]:
        if relative.parts[:1] != ("..",):
            break
        relative = Path(os.path.relpath(test_file, root))
    return relative.with_suffix("")


def owning_test(cassette: Path, cassettes: Path, project_root: Path) -> Path | None:
    """The test file that defines the test whose cassette `cassette` is, or None. The test file is looked
    for as the fixture places it: from the project's root, or from a folder above it (pytest's rootdir in a
    repository whose pytest config is at its root), up to the repository's root."""
    try:
        relative = cassette.relative_to(cassettes)
    except ValueError:
        return None
    if len(relative.parts) < 2:
        return None
    for root in _roots(project_root):
        test_file = root / relative.parent.with_suffix(".py")
        if test_file.is_file() and cassette.stem in _Names(_tests_in(test_file)):
            return test_file
    return None


def selected_tests(cassette: Path, test_file: Path) -> list[str]:
    """What selects the test owning `cassette` in `test_file`, each after `::` (`TestA::test_x[a b]`), for
    pytest's command line; empty (the whole file) when the file does not parse, so no test in it is known.

    A name kept whole is the test's own. A parametrized test's name is always shortened (`[` is no file name
    character; `test_x[a b]` is `test_x_a_b_-<hash>`), and its parameters are worked out again: each `_`
    stood for one of the characters a file name does not keep, and the hash says which reading is the one
    (`_node_name`). Where it cannot be (parameters cut off from a long name, or too many `_` to try), the
    function is named (`test_x`, which selects all its parameters); where several functions' names could
    begin the cassette's (`test_a` and `test_a_b`), each of them."""
    tests = _tests_in(test_file)
    if tests is None:
        return []
    for test in tests:
        if cassette_name(test) == cassette.stem:
            return ["::".join(test)]
    kept, dash, digest = cassette.stem.rpartition("-")
    if not dash or len(digest) != HASH_LENGTH or digest.strip("0123456789abcdef"):
        return []
    functions = [test for test in tests if _may_begin(cassette_name(test), kept)]
    for test in functions:
        found = _node_name(test, kept, digest)
        if found is not None:
            return ["::".join((*test[:-1], found))]
    return ["::".join(test) for test in functions]


# The characters a parameter id (ASCII: pytest escapes the rest, `\\u00e9`) may hold that a cassette name
# writes as `_`, the likeliest first: a space, `_` itself, a path's `/`.
_UNKEPT = " _/,:'\"()[]\\=+*!?#$%&;<>@^`{|}~"
# The readings tried for one cassette (31 a `_`): three `_` are each tried, more only as far as this goes.
_TRIES = 40_000


def _may_begin(name: str, kept: str) -> bool:
    """Whether a parametrized test named `name` (its classes and function) may have a cassette named
    `kept`: that name, `_` for its `[`, then its parameters; or, cut short, a beginning of that."""
    return kept.startswith(name + "_") or (name + "_").startswith(kept)


def _node_name(test: tuple[str, ...], kept: str, digest: str) -> str | None:
    """The test's own name with its parameters (`test_x[a b]`) whose cassette name is `kept-digest`, or None
    when it cannot be worked out: the parameters were cut off, or no reading tried has the hash."""
    prefix = cassette_name(test) + "_"
    if not kept.startswith(prefix) or not kept.endswith("_") or len(kept) <= len(prefix):
        return None
    pieces = kept[len(prefix) : -1].split("_")
    exact = ".".join(test)
    for tried, readings in enumerate(itertools.product(_UNKEPT, repeat=len(pieces) - 1)):
        if tried == _TRIES:
            return None
        params = pieces[0] + "".join(c + piece for c, piece in zip(readings, pieces[1:], strict=True))
        name = f"{exact}[{params}]"
        if hashlib.sha256(name.encode()).hexdigest()[:HASH_LENGTH] == digest:
            return f"{test[-1]}[{params}]"
    return None


def _roots(project_root: Path) -> Iterator[Path]:
    folder = project_root.absolute()
    while True:
        yield folder
        if folder.parent == folder or any((folder / marker).exists() for marker in REPOSITORY_MARKERS):
            return
        folder = folder.parent


class _Names:
    """The cassette names a test file's tests can have: a test's own, or a parametrized one's (`<name>_...`).
    A file that cannot be read or parsed owns every name: a test file being
    edited must not have its cassettes called orphans, to delete."""

    def __init__(self, tests: list[tuple[str, ...]] | None) -> None:
        self.names = None if tests is None else [cassette_name(test) for test in tests]

    def __contains__(self, stem: str) -> bool:
        if self.names is None:
            return True
        return any(stem == name or stem.startswith(name + "_") for name in self.names)


def _tests_in(test_file: Path) -> list[tuple[str, ...]] | None:
    """Every function of the file, as the classes it is in and its name (pytest's `python_functions` and
    `python_classes` may name tests otherwise than `test_*`: any function may be one)."""
    try:
        status = test_file.stat()
    except OSError:
        return None
    return _parsed(test_file, status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=64)  # a file with many tests is asked about once per cassette
def _parsed(test_file: Path, mtime_ns: int, size: int) -> list[tuple[str, ...]] | None:
    try:
        tree = ast.parse(test_file.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return None
    found: list[tuple[str, ...]] = []

    def visit(body: list[ast.stmt], classes: tuple[str, ...]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((*classes, node.name))
            elif isinstance(node, ast.ClassDef):
                visit(node.body, (*classes, node.name))

    visit(tree.body, ())
    return found
