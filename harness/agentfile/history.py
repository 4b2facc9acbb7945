"""An agent's in-context Letta messages as the chat messages Letta sends an OpenAI endpoint for them.

Mirrors Letta 0.16.8's `Message.to_openai_dicts_from_list` (letta/schemas/message.py): its
`filter_messages_for_llm_api` (a trailing lone approval request or reasoning-only reply left out, an
assistant call merged with the approval request after it, a tool result or call id given twice kept
once), then `to_openai_dict` per message (reasoning-only replies and approval responses are not sent,
approval requests go as assistant calls, summaries as user messages, text parts joined by a blank line,
a tool message's `tool_returns` one message each, call ids cut to 29 characters). What Letta would send
but an OpenAI endpoint refuses (a tool result answering no call before it, a call never answered) is
left out here, message by message, with a note: a history file is checked as the API would check it.
"""

from __future__ import annotations

import json
from typing import Any

TOOL_CALL_ID_MAX_LEN = 29  # letta/constants.py: Letta cuts every call id to this when it sends them
REASONING_PARTS = ("reasoning", "redacted_reasoning", "omitted_reasoning", "summarized_reasoning")

Message = dict[str, Any]


def letta_chat_messages(messages: list[Message]) -> tuple[list[Message], list[str]]:
    """The chat messages Letta sends for `messages` (in-context, the system prompt left out: the harness
    compiles its own), and a note for each message not kept or kept otherwise. A message is named by its
    position among `messages`, plus one (Letta's message 0 is the system prompt)."""
    notes: list[str] = []
    indexed = [(index + 1, dict(message)) for index, message in enumerate(messages)]
    indexed = _filtered(indexed, notes)
    chat: list[tuple[int, Message]] = []
    reasoning = 0
    for index, message in indexed:
        converted, why = _openai_dicts(message)
        if why:
            notes.append(f"message {index} ({message.get('role')}): {why}")
        chat += [(index, one) for one in converted]
        if message.get("role") in ("assistant", "approval") and converted and _parts(message, *REASONING_PARTS):
            reasoning += 1
    if reasoning:
        notes.append(
            f"the reasoning of {reasoning} messages not kept (Letta sends it as `reasoning_content`, a field a "
            "history has not; their text and calls are kept)"
        )
    return _answerable(chat, notes), notes


def _parts(message: Message, *kinds: str) -> list[dict[str, Any]]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [part for part in content if isinstance(part, dict) and (not kinds or part.get("type") in kinds)]


def _calls(message: Message) -> list[dict[str, Any]]:
    calls = message.get("tool_calls")
    return [call for call in calls if isinstance(call, dict)] if isinstance(calls, list) else []


def _returns(message: Message) -> list[dict[str, Any]]:
    """A tool message's `tool_returns` that name their call: letta 0.6-0.8 wrote them with only a status
    (its messages were sent by their `tool_call_id` and content, as a message with none is)."""
    returns = message.get("tool_returns")
    if not isinstance(returns, list):
        return []
    return [r for r in returns if isinstance(r, dict) and r.get("tool_call_id")]


def _is_summary(message: Message) -> bool:
    if message.get("role") == "summary":
        return True
    parts = _parts(message)
    return (
        message.get("role") == "user"
        and len(parts) == 1
        and parts[0].get("type") == "text"
        and "system_alert" in str(parts[0].get("text"))
    )


def _filtered(indexed: list[tuple[int, Message]], notes: list[str]) -> list[tuple[int, Message]]:
    """Letta's `filter_messages_for_llm_api`, on the messages as the file holds them."""

    def drop(position: int, why: str) -> None:
        index, message = indexed.pop(position)
        notes.append(f"message {index} ({message.get('role')}): not kept: {why}")

    def approval_request(message: Message) -> bool:
        return message.get("role") == "approval" and bool(_calls(message))

    for position in reversed(range(len(indexed) - 1)):
        following = [message for _, message in indexed[position + 1 : position + 3]]
        if (
            approval_request(indexed[position][1])
            and _is_summary(following[0])
            and (len(following) == 1 or _is_approval_response(following[1]))
        ):
            drop(position, "an approval request a summary followed (Letta leaves it out of its requests)")
    if indexed and approval_request(indexed[-1][1]):
        drop(-1, "an approval request still pending (Letta sends none without its answer)")
        if indexed and indexed[-1][1].get("role") == "assistant" and _calls(indexed[-1][1]):
            drop(-1, "its calls wait on the pending approval request (Letta leaves them out with it)")
    if indexed:
        last = indexed[-1][1]
        if last.get("role") == "assistant" and last.get("tool_calls") is None and not _parts(last, "text"):
            drop(-1, "the last reply holds no text nor call (Letta leaves it out of its requests)")
    for position in reversed(range(len(indexed) - 1)):  # an assistant's calls, then the approval request's
        first, second = indexed[position][1], indexed[position + 1][1]
        if first.get("role") == "assistant" and first.get("tool_calls") is not None and approval_request(second):
            first["content"] = _parts(first) + _parts(second)
            first["tool_calls"] = _calls(first) + _calls(second)
            index, _ = indexed.pop(position + 1)
            notes.append(
                f"message {index} (approval): its calls sent with message {indexed[position][0]}, as Letta does"
            )
    seen: set[str] = set()
    kept: list[tuple[int, Message]] = []
    for index, message in indexed:
        if message.get("role") == "tool":  # a result for a call already answered is sent once
            returns = _returns(message)
            call_id = str(message.get("tool_call_id") or "")
            unique = [r for r in returns if str(r["tool_call_id"]) not in seen]
            seen.update(str(r["tool_call_id"]) for r in unique)
            if unique:
                message["tool_returns"] = unique
            elif call_id and call_id not in seen and (_parts(message) or not returns):
                message.pop("tool_returns", None)
                seen.add(call_id)
            elif call_id or returns:
                notes.append(f"message {index} (tool): not kept: a second result for its call (Letta sends the first)")
                continue
        if message.get("role") == "assistant" and _calls(message):
            ids: set[str] = set()
            calls = []
            for call in _calls(message):
                if call.get("id") and str(call["id"]) in ids:
                    notes.append(f"message {index} (assistant): a call id given twice is sent once, as Letta does")
                    continue
                ids.add(str(call.get("id")))
                calls.append(call)
            message["tool_calls"] = calls
        kept.append((index, message))
    return kept


def _is_approval_response(message: Message) -> bool:
    return (
        message.get("role") == "approval" and message.get("tool_calls") is None and message.get("approve") is not None
    )


def _text(message: Message) -> str | None:
    """`to_openai_dict`'s text: one text (or tool-return) part as it is, an image as a placeholder, the text
    parts of several joined by a blank line (images counted after them)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = _parts(message)
    if len(parts) == 1:
        kind = parts[0].get("type")
        if kind == "text":
            return str(parts[0].get("text") or "")
        if kind == "tool_return":
            return str(parts[0].get("content") or "")
        return "[Image Here]" if kind == "image" else None
    if len(parts) > 1:
        text = "\n\n".join(str(part.get("text") or "") for part in parts if part.get("type") == "text")
        images = len([part for part in parts if part.get("type") == "image"])
        if images:
            placeholder = "[Image omitted]" if images == 1 else f"[{images} images omitted]"
            text = (text + (" " if text else "")) + placeholder
        return text
    return None


def _returned_text(response: Any) -> str:
    """Letta's `tool_return_to_text`: text parts on lines of their own, images as a placeholder."""
    if response is None or isinstance(response, str):
        return response or ""
    if not isinstance(response, list):
        return json.dumps(response)
    texts = [str(part.get("text")) for part in response if isinstance(part, dict) and part.get("type") == "text"]
    images = len([part for part in response if isinstance(part, dict) and part.get("type") == "image"])
    text = "\n".join(t for t in texts if t)
    if images:
        placeholder = "[Image omitted]" if images == 1 else f"[{images} images omitted]"
        text = f"{text} {placeholder}" if text else placeholder
    return text


def _openai_dicts(message: Message) -> tuple[list[Message], str | None]:
    """One Letta message as the chat messages `to_openai_dict` makes of it, and a note when it is not kept
    or not kept whole."""
    role = message.get("role")
    text = _text(message)
    images = len(_parts(message, "image"))
    lost = f"its {images} image(s) not kept (a history holds text): Letta's text for them in their place"
    if role == "system":
        return [{"role": "system", "content": text or ""}], None
    if role in ("user", "summary"):
        why = lost if images else ("a summary, sent as a user message as Letta does" if role == "summary" else None)
        return [{"role": "user", "content": text or ""}], why
    if role in ("assistant", "approval"):
        if role == "approval" and message.get("tool_calls") is None:
            return [], "not kept: an approval response (Letta sends none)"
        calls = _calls(message)
        if not calls and text is None:
            if _parts(message) and len(_parts(message, *REASONING_PARTS)) == len(_parts(message)):
                return [], "not kept: its reasoning alone (Letta sends no reply without text or calls)"
            return [], "not kept: a reply without text or calls (Letta cannot send it)"
        out: Message = {"role": "assistant", "content": text}
        if calls:
            out["tool_calls"] = [_call(call) for call in calls]
            if any(call is None for call in out["tool_calls"]):
                return [], "not kept: a tool call without a function name"
        why = "an approval request, sent as the assistant's calls as Letta does" if role == "approval" else None
        return [out], why
    if role == "tool":
        returns = _returns(message)
        if returns:
            return [
                {
                    "role": "tool",
                    "content": _returned_text(r.get("func_response")),
                    "tool_call_id": str(r.get("tool_call_id"))[:TOOL_CALL_ID_MAX_LEN],
                }
                for r in returns
            ], None
        if not message.get("tool_call_id"):
            return [], "not kept: a tool result without the id of its call"
        call_id = str(message["tool_call_id"])[:TOOL_CALL_ID_MAX_LEN]
        return [{"role": "tool", "content": text or "", "tool_call_id": call_id}], None
    return [], f"not kept: a message with role {role!r}"


def _call(call: dict[str, Any]) -> dict[str, Any] | None:
    function = call.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        return None
    arguments = function.get("arguments", "{}")
    return {
        "id": str(call.get("id"))[:TOOL_CALL_ID_MAX_LEN],
        "type": "function",
        "function": {
            "name": function["name"],
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
        },
    }


def _answerable(chat: list[tuple[int, Message]], notes: list[str]) -> list[Message]:
    """`chat` as a conversation an OpenAI endpoint takes: a tool result with no open call before it is left
    out, and so is a call not answered before the conversation goes on (its message kept if it has text).
    Letta would send them, and the endpoint refuse the request."""
    kept: list[Message] = []
    open_calls: dict[str, tuple[int, Message]] = {}  # call id -> (its message's index, the chat message)

    def close() -> None:
        for call_id, (index, message) in open_calls.items():
            message["tool_calls"] = [call for call in message["tool_calls"] if call["id"] != call_id]
            notes.append(
                f"message {index} (assistant): its call '{call_id}' not kept: no result answers it "
                "(an OpenAI endpoint refuses an unanswered call)"
            )
            if not message["tool_calls"]:
                del message["tool_calls"]
                if message["content"] is None:
                    kept.remove(message)
        open_calls.clear()

    for index, message in chat:
        if message["role"] == "tool":
            if message["tool_call_id"] not in open_calls:
                notes.append(
                    f"message {index} (tool): not kept: it answers no call made before it (an OpenAI endpoint "
                    "refuses it)"
                )
                continue
            open_calls.pop(message["tool_call_id"])
            kept.append(message)
            continue
        close()
        kept.append(message)
        for call in message.get("tool_calls") or ():
            open_calls[call["id"]] = (index, message)
    close()
    return kept
