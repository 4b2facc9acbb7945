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

from harness.cassettes.repeats import recorded_repeats
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
