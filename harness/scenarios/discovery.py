"""Finding scenario files."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.errors import ScenarioError
from harness.project import HISTORY_FOLDER

SUFFIXES = (".yaml", ".yml")


def discover(paths: Iterable[Path]) -> list[Path]:
    """The scenario files of `paths`: files as given, folders walked (but their `history/` folders)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.suffix in SUFFIXES and HISTORY_FOLDER not in p.relative_to(path).parts[:-1] and p.is_file()
            )
        elif path.is_file():
            found.append(path)
        else:
            raise ScenarioError(f"{path}: no such scenario file or folder")
    unique: dict[Path, Path] = {}
    for path in found:  # a file named twice (or inside a folder also named) runs once
        unique.setdefault(path.resolve(), path)
    return list(unique.values())
