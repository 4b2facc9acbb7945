"""The seed notebook's TaskMemory tools: a FIFO queue of tasks kept as a JSON list in the `tasks` block.

Ported from the notebook, with its inconsistency fixed: `task_queue_pop` read `self.get_block` where
`task_queue_push` read `self.memory.get_block`; both now go through the agent's memory.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness import AgentState


def task_queue_push(self: AgentState, task_description: str) -> None:
    """Push to a task queue stored in core memory.

    Args:
        task_description (str): A description of the next task you must accomplish.

    Returns:
        Optional[str]: None is always returned as this function
        does not produce a response.
    """
    tasks = json.loads(self.memory.get_block("tasks").value)
    tasks.append(task_description)
    self.memory.update_block_value("tasks", json.dumps(tasks))
    return None


def task_queue_pop(self: AgentState) -> str | None:
    """Get the next task from the task queue

    Returns:
        Optional[str]: The description of the task popped from the
        queue, if there are still tasks in queue. Otherwise, returns
        None (the task queue is empty)
    """
    tasks = json.loads(self.memory.get_block("tasks").value)
    if not tasks:
        return None
    # Remove and return the first task in the list
    task = tasks.pop(0)
    self.memory.update_block_value("tasks", json.dumps(tasks))
    return str(task)
