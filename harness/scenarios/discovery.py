"""Finding scenario files."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from harness.errors import Problem, ScenarioError
from harness.files import unreachable_reason
from harness.project import HISTORY_FOLDER

SUFFIXES = (".yaml", ".yml")


def discover(paths: Iterable[Path]) -> list[Path]:
    """The scenario files of `paths`: files as given, folders walked (but their `history/` folders, and
    links to folders, which `Path.rglob` does not follow either), each file once.

    A path it cannot reach, or a folder in them it may not read, is a ScenarioError naming each (exit 2,
    nothing run), as pytest stops on a collection error: skipped, its scenarios would go missing from a
    run that then passes green, and `cassettes check` would call their cassettes orphans to delete."""
    found: list[tuple[Path, Path]] = []  # (as found, the file it is)
    unreadable: list[Problem] = []
    for path in paths:
        unreachable = unreachable_reason(path)
        if unreachable is not None:
            unreadable.append(Problem(str(path), None, None, "", unreachable))
        elif path.is_dir():
            real_folder = str(path.resolve())
            start = len(os.fspath(path))
            walked = [
                # No link to a folder is walked, so a file's real path is the folder's and the rest of its
                # own; only a link to a file needs resolving (a resolve per file cost a syscall per folder).
                (Path(name), _resolved(Path(name)) if link else Path(real_folder + name[start:]))
                for name, link in _walk(os.fspath(path), unreadable)
            ]
            found += sorted(walked)
        elif path.is_file():
            found.append((path, path.resolve()))
        elif os.path.exists(path):  # a FIFO, a device, a socket: reading one may block or never end
            raise ScenarioError(f"{path}: not a regular file: give a scenario file or a folder of them")
        else:
            raise ScenarioError(f"{path}: no such scenario file or folder")
    if unreadable:
        raise ScenarioError(unreadable)
    unique: dict[Path, Path] = {}
    for path, real in found:  # a file named twice (or inside a folder also named) runs once
        unique.setdefault(real, path)
    return list(unique.values())


def _resolved(link: Path) -> Path:
    """The file a link leads to; a loop of links, or one too deep, is its own (loading it says what is wrong)."""
    try:
        return link.resolve()
    except (OSError, RuntimeError):  # Python < 3.13 raises RuntimeError on a loop
        return link.absolute()


def _file_or_broken_link(entry: os.DirEntry[str]) -> bool:
    """A file, or a link that leads nowhere (dangling, a loop, too deep): that one is listed so that loading
    it fails that scenario with a located error, not the suite with a traceback nor silently."""
    try:
        return entry.is_file() or (entry.is_symlink() and not entry.is_dir())
    except OSError:
        return True


def _walk(folder: str, unreadable: list[Problem]) -> Iterator[tuple[str, bool]]:
    """(path, whether it is a link) of each scenario file under `folder`, from its entries' types (no
    stat a file); each folder it may not read is added to `unreadable` (`Path.rglob` leaves it out silently)."""
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != HISTORY_FOLDER:
                            pending.append(entry.path)
                    elif entry.name.endswith(SUFFIXES) and entry.name not in SUFFIXES and _file_or_broken_link(entry):
                        yield entry.path, entry.is_symlink()
        except FileNotFoundError:  # removed while it was walked
            continue
        except OSError as exc:
            why = f"cannot read this scenario folder ({exc.strerror or exc}), so its scenarios cannot be found"
            unreadable.append(Problem(current, None, None, "", why))
