"""The project: where its files live and how this run treats them, decided once.

The CLI builds one from its flags, the pytest plugin from its options and ini keys; everything else asks
the project. The root is the folder of the agents file; the scenarios, cassettes and state database
default to folders beside it, so `harness run` and `pytest` find the same cassette for a scenario
wherever they are started from.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from harness.cassettes.mode import RecordMode
from harness.cassettes.repeats import recorded_repeats
from harness.errors import UserError
from harness.files import confined, unreachable_reason
from harness.llm.settings import http_url_problem

DEFAULT_AGENTS_FILE = "agents.yaml"
DEFAULT_SCENARIOS = "scenarios"
DEFAULT_CASSETTES = "cassettes"
DEFAULT_STATE_DB = ".harness/state.db"
DEFAULT_SNAPSHOTS = "snapshots"  # golden files of `snapshot:` checks, mirroring the cassettes' paths
# History files (`{messages: [...]}`, which a scenario's `history:` names; `harness import` writes them
# there) live in folders of this name among the scenarios: not scenarios, so neither `harness run` nor
# the pytest plugin collects them.
HISTORY_FOLDER = "history"
OUTSIDE = "_outside"  # cassettes of scenarios from outside the project
REPEAT = ".repeat-"  # in the name of a repeat's cassette: `remember.repeat-2.yaml`


@dataclass(frozen=True)
class Project:
    root: Path
    agents_file: Path
    scenarios_dir: Path
    cassettes_dir: Path
    state_db: Path
    record_mode: RecordMode = RecordMode.NONE
    base_url: str | None = None  # endpoint override (record from another server)
    model_name: str | None = None  # model override (replay must use the name it recorded with)
    base: Path | None = None  # the folder paths were given from (the current folder, or pytest's rootdir)

    @classmethod
    def build(
        cls,
        *,
        agents: str | os.PathLike[str] | None = None,
        scenarios: str | os.PathLike[str] | None = None,
        scenario_folders: Iterable[str | os.PathLike[str]] = (),
        cassettes: str | os.PathLike[str] | None = None,
        state_db: str | os.PathLike[str] | None = None,
        record_mode: RecordMode | str = RecordMode.NONE,
        base_url: str | None = None,
        model_name: str | None = None,
        relative_to: Path | None = None,
    ) -> Project:
        """Paths given are taken relative to `relative_to` (the current folder, or pytest's rootdir); the
        ones not given default to beside the agents file. `scenario_folders` are the other folders this run
        takes scenarios from (pytest's `harness_scenarios`, the folders named on the command line): the
        cassette folder may overlap none of them either."""
        base = relative_to or Path.cwd()
        problem = http_url_problem(base_url) if base_url else None
        if problem is not None:
            raise UserError(f"the endpoint override (--base-url): {problem}")

        def given(path: str | os.PathLike[str]) -> Path:
            return Path(path) if Path(path).is_absolute() else base / path

        agents_file = given(agents or DEFAULT_AGENTS_FILE)
        unreachable = unreachable_reason(agents_file)
        if unreachable is not None:
            raise UserError(f"{agents_file}: {unreachable}")
        root = agents_file.parent
        cassettes_dir = given(cassettes) if cassettes else root / DEFAULT_CASSETTES
        unreachable = unreachable_reason(cassettes_dir)
        if unreachable is not None:
            raise UserError(f"the cassette folder {cassettes_dir}: {unreachable}")
        if cassettes_dir.exists() and not cassettes_dir.is_dir():  # every scenario would fail "not recorded"
            raise UserError(f"the cassette folder {cassettes_dir} is a file: give a folder (--cassettes)")
        scenarios_dir = given(scenarios) if scenarios else root / DEFAULT_SCENARIOS
        folders = [("scenarios", scenarios_dir), *(("scenarios", given(folder)) for folder in scenario_folders)]
        overlap = _overlap(cassettes_dir, [*folders, ("snapshots", root / DEFAULT_SNAPSHOTS)])
        if overlap is not None:
            named = [given(folder) for folder in scenario_folders]
            if not cassettes and any(_holds(folder, cassettes_dir) for folder in named):
                # `harness run .`: the folder named to take scenarios from holds the default cassette folder
                fix = f"name the scenarios' own folders or files (as {scenarios_dir}) instead"
            else:
                fix = f"give the cassettes a folder of their own (--cassettes), as {root / DEFAULT_CASSETTES}"
            raise UserError(
                f"the cassette folder {cassettes_dir} {overlap}: cassettes written there would overwrite, or be "
                f"taken for, the files kept there; {fix}"
            )
        return cls(
            root=root,
            agents_file=agents_file,
            scenarios_dir=scenarios_dir,
            cassettes_dir=cassettes_dir,
            state_db=given(state_db) if state_db else root / DEFAULT_STATE_DB,
            record_mode=RecordMode(record_mode),
            base_url=base_url or None,
            model_name=model_name or None,
            base=base,
        )

    @property
    def replaying(self) -> bool:
        return self.record_mode == RecordMode.NONE

    def cassette_path(self, scenario: Path, explicit: str | None = None) -> Path:
        """`explicit` (a scenario's `cassette:`) is relative to the cassette folder and must stay inside it
        (OutsideProject otherwise). Otherwise the scenario's path under the scenarios folder (or under the
        root, or under the folder the run started from) is mirrored there, with a .yaml suffix; a scenario
        from anywhere else gets a folder of its own under `_outside/`, named after its folder and a hash of
        that folder's path, so two such scenarios with one file name never share a cassette."""
        if explicit:
            return confined(self.cassettes_dir, explicit)
        path = _absolute(scenario)
        placed = self._placed(path, self._absolute_bases)
        if placed is None:  # one of the two spelt through a link (a checkout reached by a symlink): the real paths
            path = Path(os.path.realpath(path))
            placed = self._placed(path, self._real_bases)
        if placed is not None:
            relative, from_root = placed
        else:
            # Outside the project: two such scenarios with one file name must not share a cassette.
            folder = hashlib.sha256(str(path.parent).encode()).hexdigest()[:10]
            relative, from_root = Path(OUTSIDE) / f"{path.parent.name}-{folder}" / path.name, False
        if from_root and relative.parts and relative.parts[0] == DEFAULT_SCENARIOS:
            relative = relative.relative_to(DEFAULT_SCENARIOS)
        return self.cassettes_dir / relative.with_suffix(".yaml")

    @cached_property
    def _bases(self) -> tuple[Path, Path, Path]:
        """Where a scenario's cassette path is taken relative to, in order (see `cassette_path`)."""
        return (self.scenarios_dir, self.root, self.base or self.root)

    @cached_property
    def _absolute_bases(self) -> tuple[Path, ...]:
        return tuple(_absolute(base) for base in self._bases)

    @cached_property
    def _real_bases(self) -> tuple[Path, ...]:
        return tuple(Path(os.path.realpath(base)) for base in self._bases)

    def _placed(self, path: Path, bases: tuple[Path, ...]) -> tuple[Path, bool] | None:
        """`path` relative to the first of `bases` it is under, and whether that base is the root."""
        for base, absolute in zip(self._bases, bases, strict=True):
            if path.is_relative_to(absolute):
                return path.relative_to(absolute), base == self.root
        return None

    @staticmethod
    def variant_path(cassette: Path, variant: int) -> Path:
        """Repeat `variant` (1-based) of a scenario's cassette: the cassette itself for the first, then
        `<name>.repeat-<n>.yaml` beside it (`harness record --repeat K`)."""
        return cassette if variant == 1 else cassette.with_name(f"{cassette.stem}{REPEAT}{variant}{cassette.suffix}")

    @staticmethod
    def variants(cassette: Path, siblings: int | None = None) -> list[int]:
        """The repeats of a cassette: [1, 2, ..., k] for the k its first cassette says were recorded (a
        missing one is then reported not recorded, the last too, and a file above k is left out); for one
        recorded before that was kept, up to the last repeat whose file exists, a missing one in between
        included. [1] alone for a scenario never repeated. `siblings`: the repeats the other rows and models
        of its scenario file were recorded with, which a missing first cassette (its recording failed, so
        nothing kept its count) is taken to have had: replay then reports each not recorded, as many as
        the recording measured."""
        count = recorded_repeats(cassette)
        if count is None:
            count = Project.repeats_on_disk(cassette)
            if siblings is not None and not os.path.lexists(cassette):
                count = max(count, siblings)
        return list(range(1, count + 1))

    @staticmethod
    def repeats_on_disk(cassette: Path) -> int:
        """The last repeat whose file exists beside `cassette` (1 when there is none)."""
        return _last_repeats(str(cassette.parent)).get(cassette.stem, 1)

    @staticmethod
    def leftover_repeats(cassette: Path) -> list[int]:
        """The repeats whose files exist above the number the first cassette says were recorded (left from
        an earlier, larger `--repeat`): replay does not play them."""
        count = recorded_repeats(cassette)
        if count is None:
            return []
        last = Project.repeats_on_disk(cassette)
        return [n for n in range(count + 1, last + 1) if Project.variant_path(cassette, n).is_file()]

    def report_over_input(self, option: str, path: Path) -> str | None:
        """Why a report cannot go to `path` (what the run reads there), or None."""
        read = self.input_at(path)
        return None if read is None else f"{option} {path}: that is {read}, which the run reads; give another file name"

    def input_at(self, path: Path) -> str | None:
        """What a run reads at `path`, if anything (the agents file, a scenario or a cassette, the state
        database), said so: a report written there would destroy it."""
        real = Path(os.path.realpath(path))
        if real == Path(os.path.realpath(self.agents_file)):
            return "the agents file"
        if real == Path(os.path.realpath(self.state_db)):
            return "the state database"
        if real.suffix in (".yaml", ".yml"):
            for folder, what in ((self.cassettes_dir, "cassette"), (self.scenarios_dir, "scenarios")):
                if real.is_relative_to(os.path.realpath(folder)):
                    return f"a YAML file in the {what} folder {_absolute(folder)}"
        return None

    def as_given(self, path: Path) -> str:
        """`path` (one of this project's, as `build` made it) as it was given, normalised: relative to the
        folder paths were given from when it was (`--db ../state.db` from `sub/` is `../state.db`, not
        `/home/.../sub/../state.db`), else absolute. Lexical only: nothing on disk is looked at."""
        base = self.base or self.root
        if path.is_relative_to(base):
            return os.path.normpath(path.relative_to(base))
        return os.path.normpath(path)

    def relative(self, path: Path) -> str:
        """`path` as shown in reports: relative to the root when inside it."""
        try:
            return str(_absolute(path).relative_to(self._absolute_bases[1]))
        except ValueError:
            return str(path)


_REPEAT_FILE = re.compile(rf"(.+){re.escape(REPEAT)}([0-9]+)\.yaml")
_repeats_seen: dict[str, tuple[int, dict[str, int]]] = {}


def _last_repeats(folder: str) -> dict[str, int]:
    """The last repeat recorded of each cassette of `folder`, by cassette name (without `.yaml`): listed
    once while the folder stays as it is (its mtime changes when a repeat is written or removed; a folder
    changed in the last two seconds is listed again each time, as an mtime may not yet tell a change
    made within the same tick)."""
    try:
        mtime = os.stat(folder).st_mtime_ns
    except OSError:
        return {}
    seen = _repeats_seen.get(folder)
    if seen is not None and seen[0] == mtime and time.time_ns() - mtime > 2_000_000_000:
        return seen[1]
    last: dict[str, int] = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                match = _REPEAT_FILE.fullmatch(entry.name)
                if match is not None and entry.is_file():
                    stem, number = match.group(1), int(match.group(2))
                    last[stem] = max(last.get(stem, 1), number)
    except OSError:  # a folder it may not read: its cassettes are unreadable too, which reading them says
        return {}
    _repeats_seen[folder] = (mtime, last)
    return last


def _overlap(cassettes: Path, folders: Iterable[tuple[str, Path]]) -> str | None:
    """How the cassette folder overlaps one of `folders` (by what they hold), said so, or None: the same
    folder (each scenario's cassette path would be its own scenario file), one inside the other (a scenario
    or snapshot could be a cassette's path, `cassettes check` would call the scenarios orphans, and
    scenario discovery would collect the cassettes)."""
    for what, folder in folders:
        if _holds(folder, cassettes):
            return f"is the {what} folder" if _holds(cassettes, folder) else f"is inside the {what} folder {folder}"
        if _holds(cassettes, folder):
            return f"holds the {what} folder {folder}"
    return None


def _holds(folder: Path, inner: Path) -> bool:
    """Whether `inner` is `folder` or inside it, links resolved."""
    return Path(os.path.realpath(inner)).is_relative_to(os.path.realpath(folder))


def _absolute(path: Path) -> Path:
    """Absolute and normalised, without touching the file system (resolve() costs syscalls per scenario)."""
    return Path(os.path.abspath(path))
