"""Writing files the user keeps (cassettes, reports) so that no crash or kill leaves one half-written."""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

# What `Path.exists()` takes for "no such file" (it raises on any other error, as EACCES)
_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def unreachable_reason(path: Path) -> str | None:
    """Why `path` cannot even be looked up, or None (it exists, or plainly does not): a folder on the way
    the user may not enter (no search permission: another user's home, a CI artifact without `+x`). There
    `Path.exists()` and `is_dir()` raise PermissionError instead of answering, so every path a command is
    given is asked this first, and refused (exit 2) naming the folder."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno in _MISSING:
            return None
        why = exc.strerror or str(exc)
        closed = _closed_folder(path)
        return f"cannot enter the folder {closed} ({why})" if closed is not None else f"cannot look it up ({why})"
    except ValueError:  # a NUL in the name: no file has it, as `exists()` says in Python 3.13
        return None
    return None


def _closed_folder(path: Path) -> Path | None:
    """The first folder on the way to `path` that may not be entered (stat of `folder/.` needs its search
    permission), or None."""
    for folder in reversed(path.parents):
        try:
            os.stat(os.path.join(folder, "."))
        except PermissionError:
            return folder
        except OSError:
            return None
    return None


def written_path(path: Path) -> Path:
    """Where writing `path` lands: the file a link points at (the link stays a link)."""
    return path.resolve() if path.is_symlink() else path


def is_special(path: Path) -> bool:
    """Whether `path` is a device, a pipe or a socket (`/dev/null`, `/dev/stdout`): written into, never
    replaced."""
    try:
        mode = path.stat().st_mode
    except (OSError, RuntimeError):  # missing, a loop of links, a folder we may not enter: not one to write into
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def unwritable_reason(path: Path) -> str | None:
    """Why `path` (not a folder) could not be written when the time comes, found before a run that would
    end with it, or None: its folder is missing or takes no new file (a temporary one is made and removed,
    as writing will: a read-only mount or `/proc` passes an access check)."""
    unreachable = unreachable_reason(path)
    if unreachable is not None:
        return unreachable
    if is_special(path):  # /dev/stdout into a pipe: its link resolves to no path ("pipe:[n]")
        return None
    try:
        target = written_path(path)
    except (OSError, RuntimeError) as exc:  # a loop of links (Python < 3.13 raises RuntimeError)
        return f"cannot follow the link: {exc}"
    if is_special(target):
        return None
    folder = target.parent
    if not folder.is_dir():
        return f"the folder {folder} does not exist; create it first"
    probe = folder / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        probe.unlink()
    except OSError as exc:
        return f"cannot create a file in the folder {folder} ({exc.strerror or exc})"
    return None


def folder_unwritable_reason(folder: Path) -> str | None:
    """Why files could not be written into `folder` (made when missing, as a recording makes it), or None:
    probed in it, or in the nearest folder above it that exists."""
    unreachable = unreachable_reason(folder)
    if unreachable is not None:
        return unreachable
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    return unwritable_reason(existing / "cassette.yaml")


def one_file_for_two(reports: Mapping[str, str | Path | None]) -> str | None:
    """Why two of `reports` (paths by the option that named them) cannot be written, or None: they name one
    file, and the second would silently replace the first (a device or a pipe, as /dev/stdout, takes both)."""
    taken: dict[str, str] = {}
    for option, path in reports.items():
        if path is None:
            continue
        real = os.path.realpath(path)
        if real in taken and not is_special(Path(real)):
            return f"{taken[real]} and {option} name one file, {path}: give each report its own"
        taken.setdefault(real, option)
    return None


def write_atomically(path: Path, text: str) -> None:
    """`path` holds `text` or what it held before, whatever happens: written beside it, synced, renamed.

    The temporary file is created as `open` would create it (mode 0666 less the umask), then given the mode
    of the file it replaces, if any; one left by a killed process ends in `.tmp` and is never read. A link
    is written through (the file it points at is replaced, the link stays); a device or a pipe
    (`/dev/stdout`) is written into, as nothing can replace it."""
    if is_special(path):  # before following links: /dev/stdout into a pipe resolves to no path ("pipe:[n]")
        with path.open("w", encoding="utf-8", newline="") as file:
            file.write(text)
        return
    path = written_path(path)
    if is_special(path):
        with path.open("w", encoding="utf-8", newline="") as file:
            file.write(text)
        return
    try:
        mode: int | None = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cannot_write(path: Path | str, exc: OSError, kept: str) -> str:
    """The one line that says `path` could not be written and why (ENOSPC: "No space left on device")."""
    return f"{path}: cannot write: {exc.strerror or exc}; {kept}"


class OutsideProject(ValueError):
    """A path a user's file names leads out of the folder it must stay in."""


def confined(base: Path, given: str) -> Path:
    """`given` taken relative to `base`, which it must not leave (no absolute path, no `..` out of it).

    Checked on the normalised path and again with symbolic links resolved, so neither `../victim.txt` nor a
    link to a folder elsewhere can make a command write (or read) outside the project."""
    if "\0" in given:
        raise OutsideProject(f"{given!r} holds a NUL character, which no file name can")
    if Path(given).is_absolute():
        raise OutsideProject(f"'{given}' is an absolute path; give a path relative to {base}")
    path = Path(os.path.normpath(base / given))
    try:
        resolved = path.resolve()
    except OSError as exc:  # a name too long
        raise OutsideProject(f"'{given}' cannot be a path here: {exc.strerror or exc}") from None
    except RuntimeError:  # a loop of links: Python < 3.13 raises RuntimeError("Symlink loop from ...")
        raise OutsideProject(f"'{given}' is a symbolic link that loops (it never reaches a file)") from None
    for candidate, root in ((path, Path(os.path.normpath(base))), (resolved, base.resolve())):
        if candidate != root and root not in candidate.parents:
            raise OutsideProject(f"'{given}' leads outside {base}; give a path inside it")
    return path
