"""Letta's base tools, with Letta's docstrings (the model reads them) and Letta's exact semantics."""

from __future__ import annotations

from typing import Any

from harness.tools.context import AgentState


def send_message(agent_state: AgentState, message: str) -> None:
    """Sends a message to the human user.

    Args:
        message (str): Message contents. All unicode (including emojis) are supported.

    Returns:
        Optional[str]: None is always returned as this function does not produce a response.
    """
    return None


def core_memory_append(agent_state: AgentState, label: str, content: str) -> None:
    """Append to the contents of core memory.

    Args:
        label (str): Section of the memory to be edited (persona or human).
        content (str): Content to write to the memory. All unicode (including emojis) are supported.

    Returns:
        Optional[str]: None is always returned as this function does not produce a response.
    """
    # Letta appends "\n" + content whatever the block holds: this is what turns a JSON `tasks` block into
    # invalid JSON in the seed notebook, and the testbed reproduces it on purpose.
    current_value = str(agent_state.memory.get_block(label).value)
    new_value = current_value + "\n" + str(content)
    agent_state.memory.update_block_value(label=label, value=new_value)
    return None


def core_memory_replace(agent_state: AgentState, label: str, old_content: str, new_content: str) -> None:
    """Replace the contents of core memory. To delete memories, use an empty string for new_content.

    Args:
        label (str): Section of the memory to be edited (persona or human).
        old_content (str): String to replace. Must be an exact match.
        new_content (str): Content to write to the memory. All unicode (including emojis) are supported.

    Returns:
        Optional[str]: None is always returned as this function does not produce a response.
    """
    current_value = str(agent_state.memory.get_block(label).value)
    if old_content not in current_value:
        raise ValueError(f"Old content '{old_content}' not found in memory block '{label}'")
    new_value = current_value.replace(str(old_content), str(new_content))
    agent_state.memory.update_block_value(label=label, value=new_value)
    return None


BUILTIN_TOOLS: dict[str, Any] = {fn.__name__: fn for fn in (send_message, core_memory_append, core_memory_replace)}

# A call to a terminal tool ends the turn unless another call in the same step asks to go on.
TERMINAL_TOOLS = frozenset({"send_message"})
