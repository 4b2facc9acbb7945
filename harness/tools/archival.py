"""Letta's archival memory tools, `archival_memory_insert` and `archival_memory_search`.

Docstrings and signatures are Letta 0.16.8's (letta/functions/function_sets/base.py: the model reads
them); the semantics are its server's (letta/services/tool_executor/core_tool_executor.py and
agent_manager.search_agent_archival_memory_async): insert returns None; search returns the Python text of
a list of `{"id", "timestamp", "content", "tags"}` dicts, best first, `[]` for a blank query, `top_k`
defaulting to 5, dates parsed with `datetime.fromisoformat` (else `%Y-%m-%d`) in the agent's time zone
(UTC), both ends inclusive. Passages live behind `agent_state.archival` (harness/archival.py), times come
from `agent_state.now()`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from harness.archival import DEFAULT_TOP_K, NO_LIMIT, Archival, TagMatchMode
from harness.tools.context import AgentState

NO_ARCHIVAL = (
    "archival memory is not available to this agent: give it an `embedding:` model in agents.yaml (archival "
    "passages are searched by their embeddings)"
)


def _archival(agent_state: AgentState) -> Archival:
    if agent_state.archival is None:
        raise ValueError(NO_ARCHIVAL)
    return agent_state.archival


def archival_memory_insert(agent_state: AgentState, content: str, tags: list[str] | None = None) -> str | None:
    """Add information to long-term archival memory for later retrieval.

    Use this tool to store facts, knowledge, or context that you want to remember
    across all future conversations. Archival memory is permanent and searchable by
    semantic similarity.

    Best practices:
    - Store self-contained facts or summaries, not conversational fragments
    - Add descriptive tags to make information easier to find later
    - Use for: meeting notes, project updates, conversation summaries, events, reports
    - Information stored here persists indefinitely and can be searched semantically

    Args:
        content: The information to store. Should be clear and self-contained.
        tags: Optional list of category tags (e.g., ["meetings", "project-updates"])

    Returns:
        Confirmation message with the ID of the inserted memory.

    Examples:
        archival_memory_insert(
            content="Meeting on 2024-03-15: Discussed Q2 roadmap priorities. Decided to focus on performance optimization and API v2 release. John will lead the optimization effort.",
            tags=["meetings", "roadmap", "q2-2024"]
        )
    """  # noqa: E501
    # (Letta's docstring promises the new passage's id; its executor returns None, and so does this.)
    _archival(agent_state).insert(content, tags, agent_state.now())
    return None


def archival_memory_search(
    agent_state: AgentState,
    query: str,
    tags: list[str] | None = None,
    tag_match_mode: Literal["any", "all"] = "any",
    top_k: int | None = None,
    start_datetime: str | None = None,
    end_datetime: str | None = None,
) -> str | None:
    """Search archival memory using semantic similarity to find relevant information.

    This tool searches your long-term memory storage by meaning, not exact keyword
    matching. Use it when you need to recall information from past conversations or
    knowledge you've stored.

    Search strategy:
    - Query by concept/meaning, not exact phrases
    - Use tags to narrow results when you know the category
    - Start broad, then narrow with tags if needed
    - Results are ranked by semantic relevance

    Args:
        query: What you're looking for, described naturally (e.g., "meetings about API redesign")
        tags: Filter to memories with these tags. Use tag_match_mode to control matching.
        tag_match_mode: "any" = match memories with ANY of the tags, "all" = match only memories with ALL tags
        start_datetime: Only return memories created after this time (ISO 8601: "2024-01-15" or "2024-01-15T14:30")
        end_datetime: Only return memories created before this time (ISO 8601 format)
        top_k: Maximum number of results to return (default: 10)

    Returns:
        A list of relevant memories with IDs, timestamps, and content, ranked by similarity.

    Examples:
        # Search for project discussions
        archival_memory_search(
            query="database migration decisions and timeline",
            tags=["projects"]
        )

        # Search meeting notes from Q1
        archival_memory_search(
            query="roadmap planning discussions",
            start_datetime="2024-01-01",
            end_datetime="2024-03-31",
            tags=["meetings", "roadmap"],
            tag_match_mode="all"
        )
    """
    archival = _archival(agent_state)
    if not query or not query.strip():
        return str([])
    start = _moment(start_datetime, "start_datetime", end_of_day=False)
    end = _moment(end_datetime, "end_datetime", end_of_day=True)
    # Letta's default is RETRIEVAL_QUERY_DEFAULT_PAGE_SIZE (5), whatever the docstring says; a top_k of 0 is
    # no limit there (`if limit:`), and here.
    limit = top_k if top_k is not None else DEFAULT_TOP_K
    if limit < 0:
        raise ValueError(f"top_k must be 0 or more, not {limit}")
    passages = archival.search(
        query,
        tags=tags,
        tag_match_mode=TagMatchMode.ALL if tag_match_mode == "all" else TagMatchMode.ANY,
        top_k=limit if limit else NO_LIMIT,
        start=start,
        end=end,
    )
    results = [
        {"id": p.id, "timestamp": p.created_at.astimezone(UTC).isoformat(), "content": p.text, "tags": list(p.tags)}
        for p in passages
    ]
    # Letta returns the list and its executor coerces it with str(): the model reads the Python text.
    return str(results)


def _moment(text: str | None, argument: str, *, end_of_day: bool) -> datetime | None:
    """Letta's parsing: `datetime.fromisoformat` (which takes "2024-01-15" too, as midnight), else
    `%Y-%m-%d`; a time without a zone is in the agent's (UTC)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.strptime(text, "%Y-%m-%d")
            if end_of_day:
                moment = moment.replace(hour=23, minute=59, second=59, microsecond=999999)
        except ValueError:
            raise ValueError(
                f"Invalid {argument} format: {text}. Use ISO 8601 format (YYYY-MM-DD or YYYY-MM-DDTHH:MM)"
            ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
