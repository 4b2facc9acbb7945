"""Letta's base tools, with Letta's docstrings (the model reads them) and Letta's exact semantics.

`send_message`, `core_memory_append` and `core_memory_replace` follow Letta 0.6 (what the seed notebook
ran: they return None). The memory-editing tools (`memory_replace`, `memory_insert`, `memory_rethink`,
`memory_finish_edits` and the path-based `memory`) follow Letta 0.16.8, the last server release: the
docstrings and signatures of letta/functions/function_sets/base.py, the semantics and error texts of
letta/services/tool_executor/core_tool_executor.py (where the server actually runs them). Every change they
make goes through `Memory`, so a block's limit, read_only flag and schema hold for all of them. Archival
memory's two tools (Letta 0.16.8 too) are in harness/tools/archival.py.
Recall memory: `conversation_search` as Letta 0.16.8 runs it, and `conversation_search_date` as Letta
0.6.5 had it (the last release with it), over `AgentState.recall` (harness/recall.py).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any, Literal

from harness import jsontext
from harness.errors import MemoryEditError
from harness.memory import READ_ONLY_BLOCK_EDIT_ERROR, Block, Memory, as_letta_says
from harness.recall import Recall
from harness.tools.archival import archival_memory_insert, archival_memory_search
from harness.tools.context import AgentState

# letta/constants.py CORE_MEMORY_BLOCK_CHAR_LIMIT (0.16.8): the limit of a block Letta's `memory` creates.
CREATED_BLOCK_LIMIT = 100_000

# letta/constants.py (0.16.8): the view-only line numbers ("1→ text") and the banner above them. The harness
# renders no line numbers, but a model trained on Letta's prompts may still send them; Letta refuses them.
MEMORY_TOOLS_LINE_NUMBER_PREFIX_REGEX = re.compile(r"^[ \t]*\d+→[ \t]*", re.MULTILINE)
CORE_MEMORY_LINE_NUMBER_WARNING = (
    "# NOTE: Line numbers shown below (with arrows like '1→') are to help during editing. Do NOT include line "
    "number prefixes in your memory edit tool calls."
)


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


# ---------------------------------------------------------------- Letta 0.16.8 memory-editing tools


def _writable(memory: Memory, label: str) -> Block:
    """The block, after Letta's first check of every memory tool (raised as Letta raises it: ValueError)."""
    block = memory.get_block(label)
    if block.read_only:
        raise ValueError(READ_ONLY_BLOCK_EDIT_ERROR)
    return block


def _no_line_numbers(argument: str, text: str, *, warning: bool = True) -> None:
    if MEMORY_TOOLS_LINE_NUMBER_PREFIX_REGEX.search(text):
        raise ValueError(
            f"{argument} contains a line number prefix, which is not allowed. Do not include line numbers when "
            "calling memory tools (line numbers are for display purposes only)."
        )
    if warning and CORE_MEMORY_LINE_NUMBER_WARNING in text:
        raise ValueError(
            f"{argument} contains a line number warning, which is not allowed. Do not include line number "
            "information when calling memory tools (line numbers are for display purposes only)."
        )


def _replace_once(memory: Memory, label: str, old_string: str, new_string: str) -> str:
    block = _writable(memory, label)
    _no_line_numbers("old_string", old_string)
    _no_line_numbers("new_string", new_string, warning=False)
    old_string = str(old_string).expandtabs()
    new_string = str(new_string).expandtabs()
    current_value = str(block.value).expandtabs()
    occurences = current_value.count(old_string)
    if occurences == 0:
        raise ValueError(
            f"No replacement was performed, old_string `{old_string}` did not appear verbatim in memory block "
            f"with label `{label}`."
        )
    if occurences > 1:
        lines = [idx + 1 for idx, line in enumerate(current_value.split("\n")) if old_string in line]
        raise ValueError(
            f"No replacement was performed. Multiple occurrences of old_string `{old_string}` in lines {lines}. "
            "Please ensure it is unique."
        )
    new_value = current_value.replace(old_string, new_string)
    memory.update_block_value(label=label, value=new_value)
    return new_value


def _insert(memory: Memory, label: str, argument: str, new_string: str, insert_line: int) -> str:
    block = _writable(memory, label)
    _no_line_numbers(argument, new_string)
    current_value_lines = str(block.value).expandtabs().split("\n")
    n_lines = len(current_value_lines)
    if insert_line == -1:
        insert_line = n_lines
    elif insert_line < 0 or insert_line > n_lines:
        raise ValueError(
            f"Invalid `insert_line` parameter: {insert_line}. It should be within the range of lines of the "
            f"memory block: {[0, n_lines]}, or -1 to append to the end of the memory block."
        )
    new_lines = str(new_string).expandtabs().split("\n")
    new_value = "\n".join(current_value_lines[:insert_line] + new_lines + current_value_lines[insert_line:])
    memory.update_block_value(label=label, value=new_value)
    return new_value


def memory_replace(agent_state: AgentState, label: str, old_string: str, new_string: str) -> str:
    """The memory_replace command allows you to replace a specific string in a memory block with a new string. This is used for making precise edits.

    Do NOT attempt to replace long strings, e.g. do not attempt to replace the entire contents of a memory block with a new string.

    Args:
        label (str): Section of the memory to be edited, identified by its label.
        old_string (str): The text to replace (must match exactly, including whitespace and indentation).
        new_string (str): The new text to insert in place of the old text. Do not include line number prefixes.

    Examples:
        # Update a block containing information about the user
        memory_replace(label="human", old_string="Their name is Alice", new_string="Their name is Bob")

        # Update a block containing a todo list
        memory_replace(label="todos", old_string="- [ ] Step 5: Search the web", new_string="- [x] Step 5: Search the web")

        # Pass an empty string to
        memory_replace(label="human", old_string="Their name is Alice", new_string="")

        # Bad example - do NOT add (view-only) line numbers to the args
        memory_replace(label="human", old_string="1: Their name is Alice", new_string="1: Their name is Bob")

        # Bad example - do NOT include the line number warning either
        memory_replace(label="human", old_string="# NOTE: Line numbers shown below (with arrows like '1→') are to help during editing. Do NOT include line number prefixes in your memory edit tool calls.\\n1→ Their name is Alice", new_string="1→ Their name is Bob")

        # Good example - no line numbers or line number warning (they are view-only), just the text
        memory_replace(label="human", old_string="Their name is Alice", new_string="Their name is Bob")

    Returns:
        str: The updated value of the memory block.
    """  # noqa: E501
    # Exactly one match, or an error saying how many (Letta's `memory_replace`; core_memory_replace
    # replaces every occurrence instead).
    return _replace_once(agent_state.memory, label, old_string, new_string)


def memory_insert(agent_state: AgentState, label: str, new_string: str, insert_line: int = -1) -> str:
    """The memory_insert command allows you to insert text at a specific location in a memory block.

    Args:
        label (str): Section of the memory to be edited, identified by its label.
        new_string (str): The text to insert. Do not include line number prefixes.
        insert_line (int): The line number after which to insert the text (0 for beginning of file). Defaults to -1 (end of the file).

    Examples:
        # Update a block containing information about the user (append to the end of the block)
        memory_insert(label="customer", new_string="The customer's ticket number is 12345")

        # Update a block containing information about the user (insert at the beginning of the block)
        memory_insert(label="customer", new_string="The customer's ticket number is 12345", insert_line=0)

    Returns:
        Optional[str]: None is always returned as this function does not produce a response.
    """  # noqa: E501
    # (Letta's docstring says None; its executor returns the new value, and so does this.)
    return _insert(agent_state.memory, label, "new_string", new_string, insert_line)


def memory_rethink(agent_state: AgentState, label: str, new_memory: str) -> str:
    """The memory_rethink command allows you to completely rewrite the contents of a memory block. Use this tool to make large sweeping changes (e.g. when you want to condense or reorganize the memory blocks), do NOT use this tool to make small precise edits (e.g. add or remove a line, replace a specific string, etc).

    Args:
        label (str): The memory block to be rewritten, identified by its label.
        new_memory (str): The new memory contents with information integrated from existing memory blocks and the conversation context.

    Returns:
        None: None is always returned as this function does not produce a response.
    """  # noqa: E501
    # Letta's executor looks the block up (read_only check) before its "create the block if missing"
    # branch, so a missing label is an error there, and here.
    _writable(agent_state.memory, label)
    _no_line_numbers("new_memory", new_memory)
    agent_state.memory.update_block_value(label=label, value=new_memory)
    return new_memory


def memory_finish_edits(agent_state: AgentState) -> None:
    """Call the memory_finish_edits command when you are finished making edits (integrating all new information) into the memory blocks. This function is called when the agent is done rethinking the memory.

    Returns:
        Optional[str]: None is always returned as this function does not produce a response.
    """  # noqa: E501
    return None


def _label(path: str, *, slashes: bool = True) -> str:
    """`/memories/<label>` -> label, as Letta's executor derives it (most commands turn "/" into "_")."""
    label = path.removeprefix("/memories/").removeprefix("/")
    return label.replace("/", "_") if slashes else label


def memory(
    agent_state: AgentState,
    command: str,
    path: str | None = None,
    file_text: str | None = None,
    description: str | None = None,
    old_string: str | None = None,
    new_string: str | None = None,
    insert_line: int | None = None,
    insert_text: str | None = None,
    old_path: str | None = None,
    new_path: str | None = None,
) -> str | None:
    """Memory management tool with various sub-commands for memory block operations.

    Args:
        command (str): The sub-command to execute. Supported commands:
            - "create": Create a new memory block
            - "str_replace": Replace text in a memory block
            - "insert": Insert text at a specific line in a memory block
            - "delete": Delete a memory block
            - "rename": Rename a memory block
        path (Optional[str]): Path to the memory block (for str_replace, insert, delete)
        file_text (Optional[str]): The value to set in the memory block (for create)
        description (Optional[str]): The description to set in the memory block (for create, rename)
        old_string (Optional[str]): Old text to replace (for str_replace)
        new_string (Optional[str]): New text to replace with (for str_replace)
        insert_line (Optional[int]): Line number to insert at (for insert)
        insert_text (Optional[str]): Text to insert (for insert)
        old_path (Optional[str]): Old path for rename operation
        new_path (Optional[str]): New path for rename operation

    Returns:
        Optional[str]: Success message or error description

    Examples:
        # Replace text in a memory block
        memory(agent_state, "str_replace", path="/memories/user_preferences", old_string="theme: dark", new_string="theme: light")

        # Insert text at line 5
        memory(agent_state, "insert", path="/memories/notes", insert_line=5, insert_text="New note here")

        # Delete a memory block
        memory(agent_state, "delete", path="/memories/old_notes")

        # Rename a memory block
        memory(agent_state, "rename", old_path="/memories/temp", new_path="/memories/permanent")

        # Update the description of a memory block
        memory(agent_state, "rename", path="/memories/temp", description="The user's temporary notes.")

        # Create a memory block with starting text
        memory(agent_state, "create", path="/memories/coding_preferences", "description": "The user's coding preferences.", "file_text": "The user seems to add type hints to all of their Python code.")

        # Create an empty memory block
        memory(agent_state, "create", path="/memories/coding_preferences", "description": "The user's coding preferences.")
    """  # noqa: E501
    memory = agent_state.memory
    if command == "create":
        if path is None:
            raise ValueError("Error: path is required for create command")
        if description is None:
            raise ValueError("Error: description is required for create command")
        label = _label(path, slashes=False)
        # Letta's Block default limit (CORE_MEMORY_BLOCK_CHAR_LIMIT); a label already taken is refused here
        # instead of silently replacing that block.
        memory.add_block(
            Block(label=label, value=file_text if file_text else "", description=description, limit=CREATED_BLOCK_LIMIT)
        )
        return (
            f"Successfully created memory block '{label}'. "
            "Your system prompt has been recompiled with the new memory block and is now active in your context."
        )
    if command == "str_replace":
        if path is None:
            raise ValueError("Error: path is required for str_replace command")
        if old_string is None:
            raise ValueError("Error: old_string is required for str_replace command")
        if new_string is None:
            raise ValueError("Error: new_string is required for str_replace command")
        return _replace_once(memory, _label(path, slashes=False), old_string, new_string)
    if command == "insert":
        if path is None:
            raise ValueError("Error: path is required for insert command")
        if insert_text is None:
            raise ValueError("Error: insert_text is required for insert command")
        # Letta 0.16.8 passes a missing insert_line on as None and fails comparing it; -1 (the end of the
        # block, the default of memory_insert) is what the model meant.
        return _insert(memory, _label(path), "insert_text", insert_text, -1 if insert_line is None else insert_line)
    if command == "delete":
        if path is None:
            raise ValueError("Error: path is required for delete command")
        label = _label(path)
        try:
            memory.delete_block(label)
        except MemoryEditError as exc:
            # Letta's memory_delete returns (does not raise) its errors: the call counts as a success.
            return f"Error performing delete: {as_letta_says(exc)}"
        return (
            f"Successfully deleted memory block '{label}'. "
            "Your system prompt has been recompiled without this memory block and is now active in your context."
        )
    if command == "rename":
        if path and description:
            label = _label(path)
            try:
                memory.update_block_description(label, description)
            except MemoryEditError as exc:
                raise Exception(f"Error performing update_description: {as_letta_says(exc)}") from None
            return (
                f"Successfully updated description of memory block '{label}'. Your system prompt has been "
                "recompiled with the updated description and is now active in your context."
            )
        if old_path and new_path:
            old_label, new_label = _label(old_path), _label(new_path)
            try:
                memory.rename_block(old_label, new_label)
            except MemoryEditError as exc:
                raise Exception(f"Error performing rename: {as_letta_says(exc)}") from None
            return (
                f"Successfully renamed memory block '{old_label}' to '{new_label}'. Your system prompt has been "
                "recompiled with the renamed memory block and is now active in your context."
            )
        raise ValueError(
            "Error: path and description are required for update_description command, or old_path and new_path "
            "are required for rename command"
        )
    raise ValueError(
        f"Error: Unknown command '{command}'. Supported commands: create, str_replace, insert, delete, rename"
    )


# ---------------------------------------------------------------- recall memory (conversation history)

# letta/constants.py: how many results a search returns when the model gives no limit.
RETRIEVAL_QUERY_DEFAULT_PAGE_SIZE = 5
NO_RECALL = "recall memory is not available to this agent (it has no message index)"


def _recall(agent_state: AgentState) -> Recall:
    if agent_state.recall is None:
        raise ValueError(NO_RECALL)
    return agent_state.recall


def _moment(text: str, argument: str, *, end: bool) -> datetime:
    """Letta's parsing of a `start_date`/`end_date`: ISO 8601, naive times in the agent's timezone (UTC).
    A date alone is the start of that day, or for an end date its last microsecond, as Letta's docstring
    promises (its code, on Python 3.11+, takes a date-only end as midnight)."""
    text = str(text).strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            moment = datetime.strptime(text, "%Y-%m-%d")
            if end:
                moment = moment.replace(hour=23, minute=59, second=59, microsecond=999999)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"Invalid {argument} format: {text}. Use ISO 8601 format (YYYY-MM-DD or YYYY-MM-DDTHH:MM)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _ago(now: datetime, then: datetime) -> str:
    seconds = int((now - then).total_seconds())
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def conversation_search(
    agent_state: AgentState,
    query: str | None = None,
    roles: list[Literal["assistant", "user", "tool"]] | None = None,
    limit: int | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
) -> str:
    """Search prior conversation history using hybrid search (text + semantic similarity).

    Args:
        query (Optional[str]): String to search for using both text matching and semantic similarity. If not provided, returns messages based on other filters (time range, roles).
        roles (Optional[List[Literal["assistant", "user", "tool"]]]): Optional list of message roles to filter by.
        limit (Optional[int]): Maximum number of results to return. Uses system default if not specified.
        start_date (Optional[str]): Filter results to messages created on or after this date (INCLUSIVE). When using date-only format (e.g., "2024-01-15"), includes messages starting from 00:00:00 of that day. ISO 8601 format: "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM". Examples: "2024-01-15" (from start of Jan 15), "2024-01-15T14:30" (from 2:30 PM on Jan 15).
        end_date (Optional[str]): Filter results to messages created on or before this date (INCLUSIVE). When using date-only format (e.g., "2024-01-20"), includes all messages from that entire day. ISO 8601 format: "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM". Examples: "2024-01-20" (includes all of Jan 20), "2024-01-20T17:00" (up to 5 PM on Jan 20).

    Examples:
        # Search all messages
        conversation_search(query="project updates")

        # Search only assistant messages
        conversation_search(query="error handling", roles=["assistant"])

        # Search with date range (inclusive of both dates)
        conversation_search(query="meetings", start_date="2024-01-15", end_date="2024-01-20")
        # This includes all messages from Jan 15 00:00:00 through Jan 20 23:59:59

        # Search messages from a specific day (inclusive)
        conversation_search(query="bug reports", start_date="2024-09-04", end_date="2024-09-04")
        # This includes ALL messages from September 4, 2024

        # Search with specific time boundaries
        conversation_search(query="deployment", start_date="2024-01-15T09:00", end_date="2024-01-15T17:30")
        # This includes messages from 9 AM to 5:30 PM on Jan 15

        # Search with limit
        conversation_search(query="debugging", limit=10)

        # Time-range only search (no query)
        conversation_search(start_date="2024-01-15", end_date="2024-01-20")
        # Returns all messages from Jan 15 through Jan 20

    Returns:
        str: Query result string containing matching messages with timestamps and content.
    """  # noqa: E501
    # Letta 0.16.8 (LettaCoreToolExecutor.conversation_search): the result is Letta's dict, as JSON text.
    # Full-text search only (see harness/recall.py); tool results are never returned, as in Letta.
    recall = _recall(agent_state)
    start = _moment(start_date, "start_date", end=False) if start_date else None
    end = _moment(end_date, "end_date", end=True) if end_date else None
    wanted = [str(role) for role in roles] if roles else None
    hits = recall.search(
        query or None, wanted, RETRIEVAL_QUERY_DEFAULT_PAGE_SIZE if limit is None else limit, start, end
    )
    if not hits:
        return json.dumps({"message": "No results found.", "results": []}, ensure_ascii=False)
    now = agent_state.now()
    results = []
    for hit in hits:
        entry: dict[str, Any] = {
            "timestamp": hit.created_at.isoformat(),
            "time_ago": _ago(now, hit.created_at),
            "role": hit.role,
        }
        if hit.rank is not None:
            entry["relevance"] = {"fts_rank": hit.rank, "search_mode": "fts"}
        entry.update(hit.detail)
        results.append(entry)
    return json.dumps({"message": f"Showing {len(results)} results:", "results": results}, ensure_ascii=False)


def conversation_search_date(agent_state: AgentState, start_date: str, end_date: str, page: int | None = 0) -> str:
    """Search prior conversation history using a date range.

    Args:
        start_date (str): The start of the date range to search, in the format 'YYYY-MM-DD'.
        end_date (str): The end of the date range to search, in the format 'YYYY-MM-DD'.
        page (int): Allows you to page through results. Only use on a follow-up query. Defaults to 0 (first page).

    Returns:
        str: Query result string
    """
    # Letta 0.6.5 (the last release with this tool; 0.16.8 folded the date range into conversation_search):
    # the user's messages in the range, oldest first (`list_user_messages_for_agent`: role user, ascending).
    # Its `page` was ignored and its total counted only that page; here pages work and the total counts
    # every user message in the range. Its lines read `d['timestamp']` off a Message, which raised whenever
    # there was a result: the line below is the harness's own, in the shape 0.6.5 meant.
    if page is None or (isinstance(page, str) and page.lower().strip() == "none"):
        page = 0
    try:
        page = int(page)
        if page < 0:
            raise ValueError
    except Exception:  # Letta's bare `except:`: a list or an object is refused alike
        raise ValueError("'page' argument must be an integer") from None
    try:
        start = datetime.strptime(start_date, "%Y-%m-%d").replace(tzinfo=UTC)
        end = datetime.strptime(end_date, "%Y-%m-%d").replace(
            hour=23, minute=59, second=59, microsecond=999999, tzinfo=UTC
        )
    except ValueError:
        raise ValueError("Dates must be in the format 'YYYY-MM-DD'") from None
    recall = _recall(agent_state)
    count = RETRIEVAL_QUERY_DEFAULT_PAGE_SIZE
    hits = recall.search(None, ["user"], count, start, end, offset=page * count, oldest_first=True)
    total = recall.count(start, end, ["user"])
    if not hits:
        return "No results found."
    num_pages = math.ceil(total / count) - 1  # 0 index
    results = [f"timestamp: {hit.created_at.isoformat()}, {hit.role} - {hit.text}" for hit in hits]
    return f"Showing {len(hits)} of {total} results (page {page}/{num_pages}): {jsontext.dumps(results, indent=2)}"


BUILTIN_TOOLS: dict[str, Any] = {
    fn.__name__: fn
    for fn in (
        send_message,
        core_memory_append,
        core_memory_replace,
        memory_replace,
        memory_insert,
        memory_rethink,
        memory_finish_edits,
        memory,
        archival_memory_insert,
        archival_memory_search,
        conversation_search,
        conversation_search_date,
    )
}

# Built-ins that need the agent's archival memory, and so an `embedding:` model.
ARCHIVAL_TOOLS = frozenset({"archival_memory_insert", "archival_memory_search"})

# A call to a terminal tool ends the turn unless another call in the same step asks to go on.
TERMINAL_TOOLS = frozenset({"send_message"})
