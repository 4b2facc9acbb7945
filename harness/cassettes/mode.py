"""Record modes, as `harness record --mode` and `pytest --harness-record-mode` name them."""

from __future__ import annotations

from enum import StrEnum


class RecordMode(StrEnum):
    NONE = "none"  # replay only: never touch the network (the default)
    NEW = "new"  # record only what the cassette lacks
    ALL = "all"  # re-record every exchange
