"""A conversation a scenario starts from (`history:`): chat messages the agent has in context before the
first turn, e.g. the in-context history of an imported Letta Agent File.

Written inline or as a file beside the scenario (`history: history/agent.yaml`, a mapping with
`messages:`); either way validated strictly, with located errors, and checked as a conversation the
chat-completions API accepts: a tool message answers a call made before it, and every call is answered
before the conversation goes on. The system message is not part of it: the agent's prompt and memory
make that afresh.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic

from harness.errors import Problem, ScenarioError
from harness.files import OutsideProject, confined
from harness.wire import StrictModel, validate_document
from harness.yamlsource import Loc, YamlDocument, load_yaml

HISTORY_KEY = "history"


class Role(StrEnum):
    SYSTEM = "system"  # one in the middle, as Letta sends a summary or an alert; the first is the agent's
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class HistoryFunctionWire(StrictModel):
    name: str = pydantic.Field(description="The tool called")
    arguments: str = pydantic.Field("{}", description="Its arguments, as JSON text")


class HistoryToolCallWire(StrictModel):
    id: str = pydantic.Field(description="The call's id (a tool message answers it)")
    type: Literal["function"] = pydantic.Field("function", description="Always function")
    function: HistoryFunctionWire = pydantic.Field(description="The tool called, and its arguments")


class MessageWire(StrictModel):
    """One chat message, as the chat-completions API takes it."""

    role: Role = pydantic.Field(description="user, assistant, tool or system (an alert sent mid-conversation)")
    content: str | None = pydantic.Field(None, description="The text (an assistant's may be null)")
    tool_calls: list[HistoryToolCallWire] | None = pydantic.Field(None, description="An assistant's tool calls")
    tool_call_id: str | None = pydantic.Field(None, description="A tool message: the call it answers")

    @pydantic.model_validator(mode="after")
    def _shaped_for_its_role(self) -> MessageWire:
        if self.tool_calls is not None and self.role != Role.ASSISTANT:
            raise ValueError("only an assistant message has `tool_calls`")
        if (self.tool_call_id is not None) != (self.role == Role.TOOL):
            raise ValueError("a tool message, and only one, has `tool_call_id` (the call it answers)")
        if self.content is None and self.role != Role.ASSISTANT:
            raise ValueError(f"a {self.role.value} message needs `content`")
        if self.role == Role.ASSISTANT and self.content is None and not self.tool_calls:
            raise ValueError("an assistant message needs `content` or `tool_calls`")
        return self

    def chat_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role.value, "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [call.model_dump() for call in self.tool_calls]
        if self.tool_call_id is not None:
            message["tool_call_id"] = self.tool_call_id
        return message


# `history:` is a file's path or the messages; a discriminator picks the branch, so a mistake in a message
# is not also reported as "should be text" (the tags are branch names, left out of error locations).
HistoryWire = Annotated[
    Annotated[str, pydantic.Tag("history-file")] | Annotated[list[MessageWire], pydantic.Tag("history-messages")],
    pydantic.Discriminator(lambda value: "history-file" if isinstance(value, str) else "history-messages"),
]


class HistoryFileWire(StrictModel):
    source: str | None = pydantic.Field(None, description="Where the conversation comes from (for people)")
    messages: list[MessageWire] = pydantic.Field(description="The messages, oldest first")


def load_history(value: str | list[MessageWire], doc: YamlDocument) -> tuple[tuple[dict[str, Any], ...], list[Problem]]:
    """The chat messages of a scenario's `history:` (inline, or a file named relative to the scenario)."""
    if isinstance(value, str):
        try:
            path = confined(Path(doc.path).parent, value)
        except OutsideProject as exc:
            return (), [doc.problem((HISTORY_KEY,), f"the history file {exc}")]
        if not path.is_file():
            return (), [doc.problem((HISTORY_KEY,), f"no history file {value} beside the scenario")]
        try:
            history_doc = load_yaml(path, ScenarioError)
        except ScenarioError as exc:
            return (), exc.problems
        wire, problems = validate_document(HistoryFileWire, history_doc)
        if wire is None:
            return (), problems
        return _checked(wire.messages, history_doc, ("messages",))
    return _checked(value, doc, (HISTORY_KEY,))  # validated with the scenario already


def _checked(
    messages: list[MessageWire], doc: YamlDocument, loc: Loc
) -> tuple[tuple[dict[str, Any], ...], list[Problem]]:
    """The messages, and a located problem for each way they are not a conversation the API takes."""
    problems = [doc.problem((*loc, *where), message) for where, message in conversation_problems(messages)]
    return tuple(message.chat_message() for message in messages), problems


def conversation_problems(messages: list[MessageWire]) -> list[tuple[Loc, str]]:
    """Where (index, key) and why `messages` are not a conversation the chat-completions API takes: every
    tool message answers an open call, and every call is answered before the conversation goes on."""
    problems: list[tuple[Loc, str]] = []
    open_calls: dict[str, int] = {}  # call id -> the message that made it
    for index, message in enumerate(messages):
        if message.role == Role.TOOL:
            if message.tool_call_id not in open_calls:
                text = f"answers no open tool call: no call before it has the id '{message.tool_call_id}'"
                problems.append(((index, "tool_call_id"), text))
            open_calls.pop(message.tool_call_id or "", None)
            continue
        if open_calls:
            first = next(iter(open_calls))
            text = f"the call '{first}' is not answered by a tool message before the conversation goes on"
            problems.append(((open_calls[first], "tool_calls"), text))
            open_calls.clear()
        for call in message.tool_calls or ():
            open_calls[call.id] = index
    if open_calls:
        first = next(iter(open_calls))
        problems.append(((open_calls[first], "tool_calls"), f"the call '{first}' is never answered by a tool message"))
    return problems
