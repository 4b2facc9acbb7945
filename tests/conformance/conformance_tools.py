"""Custom tools both sides run: real Letta 0.6.23 (registered with `client.create_tool`, executed in its
sandbox from this source) and the harness (`conformance_tools:...` in agents.yaml). Each function is
self-contained (its imports inside), since Letta runs the function's source alone."""


def task_queue_push(agent_state: "AgentState", task_description: str) -> None:  # noqa: F821
    """Push to a task queue stored in core memory.

    Args:
        task_description (str): A description of the next task you must accomplish.

    Returns:
        Optional[str]: None is always returned as this function does not produce a response.
    """
    import json

    tasks = json.loads(agent_state.memory.get_block("tasks").value)
    tasks.append(task_description)
    agent_state.memory.update_block_value("tasks", json.dumps(tasks))
    return None


def task_queue_pop(agent_state: "AgentState") -> str:  # noqa: F821
    """Get the next task from the task queue

    Returns:
        Optional[str]: The description of the task popped from the queue, if there are still tasks in queue.
    """
    import json

    tasks = json.loads(agent_state.memory.get_block("tasks").value)
    if not tasks:
        return None
    task = tasks.pop(0)
    agent_state.memory.update_block_value("tasks", json.dumps(tasks))
    return task


def repeat_text(text: str, times: int) -> str:
    """Repeat a text, to show how a long tool result is truncated.

    Args:
        text (str): The text to repeat.
        times (int): How many times to repeat it.

    Returns:
        str: The text repeated.
    """
    return text * times
