"""How many repeats a scenario's recording made, kept in its first cassette: what replay plays and what
`harness cassettes check` calls an unused repeat, whatever files lie beside it; a cassette recorded before
the count was kept counts the files, as before."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cassettes import format
from harness.cassettes.repeats import MAX_REPEATS, recorded_repeats
from harness.errors import CassetteError
from harness.project import Project

FIRST = "metadata:\n  repeats: {}\n  recorded_with:\n    model: m\nversion: 1\ninteractions: []\n"
OLD = "metadata:\n  recorded_with:\n    model: m\nversion: 1\ninteractions: []\n"


@given(
    said=st.one_of(st.none(), st.integers(1, 6)),
    on_disk=st.sets(st.integers(2, 8), max_size=5),
    first=st.booleans(),
)
def test_the_count_kept_decides_the_repeats_and_the_leftovers(said: int | None, on_disk: set[int], first: bool) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        cassette = folder / "remember.yaml"
        if first:
            cassette.write_text(FIRST.format(said) if said is not None else OLD, encoding="utf-8")
        for n in on_disk:
            Project.variant_path(cassette, n).write_text(OLD, encoding="utf-8")
        (folder / "other.repeat-9.yaml").write_text(OLD, encoding="utf-8")  # another cassette's repeat
        kept = said if first else None
        assert recorded_repeats(cassette) == kept
        last = max(on_disk, default=1)
        if kept is not None:  # every repeat recorded, a missing one too (the last included); none above it
            assert Project.variants(cassette) == list(range(1, kept + 1))
            assert Project.leftover_repeats(cassette) == sorted(n for n in on_disk if n > kept)
        else:  # as before the count was kept: up to the last file, a gap included
            assert Project.variants(cassette) == list(range(1, last + 1))
            assert Project.leftover_repeats(cassette) == []


def test_only_the_metadatas_first_key_is_read(tmp_path: Path) -> None:
    cassette = tmp_path / "x.yaml"
    for text, count in [
        (FIRST.format(3), 3),
        (FIRST.format(3).replace("\n", "\r\n"), 3),
        (OLD, None),
        ("metadata:\n  recorded_with: {}\n  repeats: 3\n", None),  # not where the harness writes it
        ("interactions:\n- request:\n    body: '  repeats: 3'\n", None),
        (FIRST.format(0), None),
        ("metadata:\n  repeats: three\n", None),
        ("", None),
    ]:
        cassette.write_text(text, encoding="utf-8", newline="")
        assert recorded_repeats(cassette) == count, text
    assert recorded_repeats(tmp_path / "missing.yaml") is None
    assert recorded_repeats(tmp_path) is None  # a folder


@given(count=st.integers(-5, 10**13))
def test_a_count_out_of_range_is_no_count_and_reading_the_cassette_refuses_it(count: int) -> None:
    """A hand-edited `repeats: 30000` replayed 30,000 repeats, each one not recorded, in minutes: a count
    is at most what `--repeat` takes, and a larger one is an unreadable cassette, located at its line."""
    text = FIRST.format(count)
    with tempfile.TemporaryDirectory() as name:
        cassette = Path(name) / "remember.yaml"
        cassette.write_text(text, encoding="utf-8")
        in_range = 1 <= count <= MAX_REPEATS
        assert recorded_repeats(cassette) == (count if in_range else None)
        assert Project.variants(cassette) == (list(range(1, count + 1)) if in_range else [1])
    if in_range:
        assert format.parse(text, "remember.yaml").metadata["repeats"] == count
    else:
        with pytest.raises(CassetteError, match=rf"remember.yaml is not a readable cassette .*line 2: "
                           rf"`metadata.repeats` is {count}: .* from 1 to {MAX_REPEATS}"):  # fmt: skip
            format.parse(text, "remember.yaml")


def test_a_count_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(CassetteError, match=r"line 2: `metadata.repeats` is 'three'"):
        format.parse(FIRST.format("three"), "remember.yaml")


def test_repeat_takes_no_more_than_a_cassette_may_keep(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli.parser import build_parser  # the parser alone: nothing is recorded, whatever happens

    assert build_parser().parse_args(["record", "--repeat", str(MAX_REPEATS)]).repeat == MAX_REPEATS
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["record", "--repeat", str(MAX_REPEATS + 1)])
    assert exited.value.code == 2
    assert f"at most {MAX_REPEATS} repeats, not {MAX_REPEATS + 1}" in capsys.readouterr().err


def test_a_fifo_in_place_of_the_first_cassette_does_not_block(tmp_path: Path) -> None:
    """A plain open() of a FIFO waits for a writer, forever: `harness run` hung before it said a word."""
    fifo = tmp_path / "remember.yaml"
    os.mkfifo(fifo)
    found: list[int | None] = []
    reader = threading.Thread(target=lambda: found.append(recorded_repeats(fifo)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # blocked in open(): a writer releases it, so the test process can end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=10)
        pytest.fail("recorded_repeats blocked on a FIFO")
    assert found == [None]
