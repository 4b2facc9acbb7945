"""Custom tools whose schemas Letta's own generator wrote: `letta-custom-tool-schemas.json`, made by
scripts/letta_custom_tool_schemas.py, holds what Letta 0.6.23 sends for each (generate_schema, inner
thoughts, structured output) and what Letta 0.16.8's generate_schema writes, or why Letta refuses it.
tests/test_loops.py compares the harness's letta-memgpt and letta-v1 schemas with it. No `from __future__
import annotations`: Letta's generator reads the annotations as objects."""

# ruff: noqa: UP006, UP035, UP045, RUF013  # written as Letta reads them: `X | None` is another type to it

import enum
from typing import Annotated, Dict, List, Literal, Optional, Tuple

from pydantic import BaseModel, Field


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


def optional_no_default(name: str, nickname: Optional[str]) -> str:
    """Greet someone.

    Args:
        name (str): Their name.
        nickname (Optional[str]): Their nickname, or None.
    """
    return name


def pipe_none(name: str, nickname: str | None = None) -> str:
    """Greet someone.

    Args:
        name (str): Their name.
        nickname (str | None): Their nickname.
    """
    return name


def store(data: dict, tags: List[str], more: Dict = None) -> str:  # type: ignore[assignment]
    """Store data.

    Args:
        data (dict): The data.
        tags (List[str]): Its tags.
        more (Dict): More data.
    """
    return "ok"


def store_and_label(data: dict, label: str = "x", note: Optional[str] = None) -> str:
    """Store data under a label.

    Args:
        data (dict): The data.
        label (str): The label.
        note (Optional[str]): A note, or none.
    """
    return label


class Step(BaseModel):
    """One step of a plan."""

    name: str = Field(..., description="Name of the step.")
    key: str = Field(..., description="Unique identifier for the step.")


class Inner(BaseModel):
    x: int = Field(..., description="The x.")


class Outer(BaseModel):
    label: str = Field(..., description="A label.")
    inner: Inner = Field(..., description="The inner.")
    note: Optional[str] = Field(None, description="A note.")


class Tagged(BaseModel):
    tags: List[str] = Field(..., description="The tags.")


def add_step(step: Step) -> str:
    """Add one step.

    Args:
        step (Step): The step to add.
    """
    return "ok"


def create_task_plan(steps: list[Step]) -> str:
    """Creates a task plan for the current task.

    Args:
        steps: List of steps to add to the task plan.
    """
    return "ok"


def nested_model(outer: Outer) -> str:
    """Use a nested model.

    Args:
        outer (Outer): The outer thing.
    """
    return "ok"


def model_with_a_list(tagged: Tagged) -> str:
    """Use a model holding a list.

    Args:
        tagged (Tagged): The tagged thing.
    """
    return "ok"


def pick(mode: Literal["fast", "slow"], level: Literal[1, 2] = 1) -> str:
    """Pick a mode.

    Args:
        mode (str): fast or slow.
        level (int): 1 or 2.
    """
    return mode


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


def paint(color: Color) -> str:
    """Pick a color.

    Args:
        color (Color): The color.
    """
    return "ok"


def move(point: Tuple[int, int]) -> str:
    """Move to a point.

    Args:
        point (Tuple[int, int]): Where to.
    """
    return "ok"


def count(counts: dict[str, int], limit: Annotated[int, Field(ge=1)] = 1) -> str:
    """Count things.

    Args:
        counts (dict[str, int]): The counts.
        limit (int): At most.
    """
    return "ok"
