"""Custom tools whose schemas Letta's own generator wrote: `letta-custom-tool-schemas.json`, made by
scripts/letta_custom_tool_schemas.py, holds what Letta 0.6.23 sends for each (generate_schema, inner
thoughts, structured output) and what Letta 0.16.8's generate_schema writes, or why Letta refuses it.
tests/test_loops.py compares the harness's letta-memgpt and letta-v1 schemas with it. No `from __future__
import annotations`: Letta's generator reads the annotations as objects."""

# ruff: noqa: UP045  # typing.Optional on purpose: Letta reads `X | None` as another type

from typing import Optional


def google_basic(city: str, days: int) -> str:
    """Get the weather forecast for a city.

    Args:
        city (str): The city to look up.
        days (int): How many days ahead.

    Returns:
        str: The forecast.
    """
    return city


def args_none() -> str:
    """Tell the time.

    Args:
        None

    Returns:
        str: the time.
    """
    return "noon"


def empty_args() -> str:
    """Tell the time.

    Args:
    """
    return "noon"


def no_summary(x: str) -> str:
    """
    Args:
        x (str): a value.
    """
    return x


def numpy_style(city: str, days: int) -> str:
    """Get the weather forecast for a city.

    Parameters
    ----------
    city : str
        The city to look up.
    days : int
        How many days ahead.
    """
    return city


def sphinx_style(city: str, days: int = 1) -> str:
    """Get the weather forecast for a city.

    :param city: The city to look up.
    :param days: How many days ahead.
    """
    return city


def optional_param(name: str, nickname: Optional[str] = None) -> str:
    """Greet someone.

    Args:
        name (str): Their name.
        nickname (Optional[str]): Their nickname.
    """
    return name


def note_last(note: str, agent_state: "AgentState") -> str:  # type: ignore[name-defined]  # noqa: F821
    """Append a note to the human block.

    Args:
        note (str): The note.
    """
    return note
