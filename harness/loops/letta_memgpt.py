"""Letta 0.6's MemGPT agent (letta 0.6.23, the seed notebook's version), request for request.

Each behaviour cites where Letta has it; tests/conformance/ compares this loop's requests with the ones real
Letta sent for the same conversations (scripts/letta-conformance captured them), field by field.

- Only an answer's first tool call runs (`_handle_ai_response`), and every request with tools says
  `parallel_tool_calls: false` (`prepare_openai_payload`, which leaves it out without tools, as OpenAI
  requires); every request carries the other ChatCompletionRequest defaults (harness/loops/kinds.py).
- A turn goes on while a call asks for a heartbeat or fails (a failed call of an exit_loop tool too: every
  failure returns from `_handle_ai_response` before the rules' heartbeat override); before the next step a
  heartbeat comes as a user message (`get_heartbeat`: `Function called using request_heartbeat=true,
  returning control`, or `Function call failed, returning control` after a failure), and the tool that
  failed is not offered for that step (`_get_ai_reply`).
- Tool results are `{"status", "message", "time"}` as indented JSON (`package_function_response`); the
  user's text is `{"type": "user_message", "message", "time"}` (`package_user_message`); history starts with
  the boot `send_message` call, its result and a login event (`initialize_message_sequence`).
- The system message is the prompt, then `### Memory [last modified: ...]` with the counts and the blocks
  (`compile_system_message`), rebuilt (with a new timestamp) only when the compiled memory is no longer in
  it (`rebuild_system_prompt`).
- Plain text is private reasoning: the user gets nothing; the turn ends.
- OpenAI-style models (all but `gpt-4`, `LLMConfig`'s validator) get a required `inner_thoughts` first on
  every tool (`add_inner_thoughts_to_functions`), and tools go out as strict structured outputs
  (`convert_to_structured_output`); the thoughts come back out of the arguments into the message
  (`unpack_inner_thoughts_from_kwargs`), and go back in on the next request (`to_openai_dict`). Arguments
  that are not JSON fail that unpacking: Letta asks again, three times in all, then its message call
  raises; so does an answer cut off by the length limit. Here the turn ends there (stop reason
  `invalid_answer` or `length`, Letta's exception text in the turn's `error`), with nothing of the failed
  step in history, as Letta keeps it, and the next message goes on from there.
- Error texts: `No function named X`, `Error executing function X: TypeError: ...` (a missing argument),
  `KeyError: 'Block field x does not exist (available sections = ...)'`, the over-limit ValidationError,
  all cut at 500 characters (`get_friendly_error_msg`); any result starting with `Error` is a failure.
- A custom tool's arguments are coerced to its annotations (`coerce_dict_args_by_annotations`: a number
  for a `str` becomes text), and those its schema does not name are dropped (the sandbox's
  `invoke_function_call`); its result is cut at 6,000 characters with Letta's note
  (`validate_function_response`); built-in tools' at 1,000,000.

Left as in the harness: `max_steps` still bounds a turn (Letta 0.6 has no bound); the time is printed in
the clock's timezone (UTC without `clock:`), where Letta uses the machine's; a block's `read_only` holds
(0.6.23's Block has none: it came in 0.8), as its limit does; the fields a provider needs echoed (DeepSeek's
`reasoning_content`, Gemini 3's `extra_content`), which Letta 0.6 predates and drops, go back with the
answer (those providers refuse the next step without them). Context pressure (`context_window:`) is Letta
0.16.8's, as under every loop (harness/context_window.py, summarizer.py): counted before each request
(the system message as sent), compacted past 90% by sliding window, `memory_warning` opt-in. Letta 0.6.23
summarizes only after the provider refuses a request as too long (`summarize_messages_inplace`: a 70%
token cutoff, `gpt_summarize.SYSTEM`, keeping only the system message and the summary), which this loop
does not reproduce; its summary requests go to the agent's own model.
"""

from __future__ import annotations

import ast
import functools
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from harness import jsontext
from harness.config import AgentSpec
from harness.errors import MemoryEditError, ModelAnswerError, RunError
from harness.llm.chat import ChatResponse, ToolCall
from harness.llm.settings import ToolChoice
from harness.loops.base import CallOutcome, LoopHost, NothingToAsk, TurnAborted, user_call
from harness.loops.kinds import CORE_MEMORY, LoopName, inner_thoughts_in_kwargs, letta_safe_format
from harness.memory import OverLimit, UnknownBlock
from harness.records import StopReason
from harness.tools.builtin import BUILTIN_TOOLS
from harness.tools.letta_schema import LETTA_COERCED_TYPES, letta_parameters, source_annotations
from harness.tools.runtime import exception_name, printed, stops_the_run
from harness.tools.schema import HEARTBEAT_PARAMETER, HEARTBEAT_SCHEMA, Tool, ToolResult, read_docstring

# letta/constants.py and letta/local_llm/constants.py (0.6.23)
NON_USER_MSG_PREFIX = "[This is an automated system message hidden from the user] "
REQ_HEARTBEAT_MESSAGE = f"{NON_USER_MSG_PREFIX}Function called using request_heartbeat=true, returning control"
FUNC_FAILED_HEARTBEAT_MESSAGE = f"{NON_USER_MSG_PREFIX}Function call failed, returning control"
INITIAL_BOOT_MESSAGE_SEND_MESSAGE_THOUGHT = (
    "Bootup sequence complete. Persona activated. Testing messaging functionality."
)
INITIAL_BOOT_MESSAGE_SEND_MESSAGE_FIRST_MSG = "More human than human is our motto."
INNER_THOUGHTS_KWARG = "inner_thoughts"
INNER_THOUGHTS_KWARG_DESCRIPTION = "Deep inner monologue private to you only."
INNER_THOUGHTS_KWARG_DESCRIPTION_GO_FIRST = (
    "Deep inner monologue private to you only. Think before you act, so always generate arg "
    f"'{INNER_THOUGHTS_KWARG}' first before any other arg."
)
TOOL_CALL_ID_MAX_LEN = 29
MISTRAL_TOOL_CALL_ID_LEN = 9  # Mistral's rule: "a-z, A-Z, 0-9, with a length of 9"
FUNCTION_RETURN_CHAR_LIMIT = 6000
BASE_FUNCTION_RETURN_CHAR_LIMIT = 1_000_000
MAX_ERROR_MESSAGE_CHAR_LIMIT = 500
ERROR_MESSAGE_PREFIX = "Error"
EMPTY_RESPONSE_RETRY_LIMIT = 3


_COMPACT = json.JSONEncoder(ensure_ascii=False)  # no indent: the C encoder
_encode_string = json.encoder.encode_basestring  # C: a str's JSON, unicode kept
_SCALARS: dict[Any, str] = {None: "null", True: "true", False: "false"}


def json_dumps(data: Any) -> str:
    """letta.utils.json_dumps: indented by 2, unicode kept. What Letta's loop packages (a message, a tool's
    result, a call's arguments) is almost always one flat object: written here line by line, each key and
    value by the C encoder, the same text as `json.dumps(indent=2)`, whose indenting encoder is pure
    Python (a fifth of a replayed step)."""
    if type(data) is dict and data:
        lines = []
        for key, value in data.items():
            if type(key) is not str:
                break
            kind = type(value)
            if kind is str:
                text = _encode_string(value)
            elif kind is bool or value is None:
                text = _SCALARS[value]
            elif kind is int or kind is float:
                text = _COMPACT.encode(value)
            else:
                break
            lines.append(f"  {_encode_string(key)}: {text}")
        else:
            return "{\n" + ",\n".join(lines) + "\n}"
    return json.dumps(data, indent=2, ensure_ascii=False, default=_safe_serializer)


def _safe_serializer(value: Any) -> str:
    """json_dumps's `safe_serializer`: a datetime in a tool's result is written as its ISO text."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"Type {type(value)} not serializable")


@functools.lru_cache(maxsize=64)
def letta_time(moment: datetime) -> str:
    """letta.utils.get_local_time's format: `2025-02-11 02:26:32 PM UTC+0000` (a frozen clock shows one
    moment many times: formatted once)."""
    return moment.strftime("%Y-%m-%d %I:%M:%S %p %Z%z").strip()


def package_function_response(ok: bool, message: str | None, now: datetime) -> str:
    return json_dumps({"status": "OK" if ok else "Failed", "message": message, "time": letta_time(now)})


def friendly_error(name: str, exception_name: str, message: str) -> str:
    """letta.utils.get_friendly_error_msg."""
    return f"{ERROR_MESSAGE_PREFIX} executing function {name}: {exception_name}: {message}"[
        :MAX_ERROR_MESSAGE_CHAR_LIMIT
    ]


def compile_system_message(prompt: str, memory: str, edited: datetime) -> str:
    """compile_system_message (letta/services/helpers/agent_manager_helper.py): the memory header, the
    blocks, placed at `{CORE_MEMORY}` or after the prompt; the recall and archival counts are 0, as Letta 0.6
    never passes them when it rebuilds."""
    header = "\n".join(
        [
            f"### Memory [last modified: {letta_time(edited)}]",
            "0 previous messages between you and the user are stored in recall memory (use functions to access them)",
            "0 total memories you created are stored in archival memory (use functions to access them)",
            "\nCore memory shown below (limited in size, additional information stored in archival / recall memory):",
        ]
    )
    variable = "{" + CORE_MEMORY + "}"
    if variable not in prompt:
        prompt += "\n" + variable
    return letta_safe_format(prompt, {CORE_MEMORY: header + "\n" + memory})


LETTA_DEFAULT_ORG_ID = "org-00000000-0000-4000-8000-000000000000"  # the in-process client's organisation


def over_limit_error(error: OverLimit) -> str:
    """What pydantic 2 says when Letta's block refuses a value over its limit (its `verify_char_limit`
    validator, run on assignment), after `ValidationError: `. Letta loads a block labelled human or persona
    as its Human or Persona class, which names the error. The whole text is cut at 500 characters, so only
    its start matters in practice."""
    block = error.block
    kind = {"human": "Human", "persona": "Persona"}.get(block.label, "Block")
    fields = [
        ("value", error.value),
        ("limit", block.limit),
        ("template_name", None),
        ("is_template", False),
        ("label", block.label),
        ("description", block.description),
        ("metadata", block.metadata),
        ("id", block.id),
        ("organization_id", LETTA_DEFAULT_ORG_ID),
        ("created_by_id", None),
        ("last_updated_by_id", None),
    ]
    shown = " ".join(f"{name}={value!r}" for name, value in fields)
    as_input = ", ".join(f"{name}={value!r}" for name, value in fields)
    inner = f"Edit failed: Exceeds {block.limit} character limit (requested {len(error.value)}) - {shown}."
    return (
        f"1 validation error for {kind}\n  Value error, {inner} [type=value_error, input_value={kind}({as_input}), "
        f"input_type={kind}]\n    For further information visit https://errors.pydantic.dev/2.9/v/value_error"
    )


def _error_text(name: str, exc: BaseException) -> str:
    """The friendly error Letta 0.6 makes of an exception in a tool, with the harness's memory errors
    worded as Letta's memory raises them."""
    cause = exc.cause if isinstance(exc, MemoryEditError) else None
    if isinstance(cause, UnknownBlock):
        return friendly_error(name, "KeyError", cause.letta_text())
    if isinstance(cause, OverLimit):
        return friendly_error(name, "ValidationError", over_limit_error(cause))
    # Letta raises ValueError for what else its memory refuses (a read-only block, 0.8+)
    return friendly_error(name, "ValueError" if isinstance(exc, MemoryEditError) else exception_name(exc), str(exc))


def coerce_arguments(arguments: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    """coerce_dict_args_by_annotations (letta/functions/ast_parsers.py): each argument converted to its
    annotated builtin type; any other annotation is refused (ValueError, as Letta's `resolve_type`)."""
    coerced = dict(arguments)
    for name, value in coerced.items():
        if name not in annotations:
            continue
        annotation = annotations[name]
        try:
            kind = LETTA_COERCED_TYPES.get(annotation)
            if kind is None:
                try:
                    parsed = ast.literal_eval(annotation)
                except (ValueError, SyntaxError):
                    raise ValueError(f"Unsupported annotation: {annotation}") from None
                if not isinstance(parsed, type):
                    raise ValueError(f"Unsupported annotation: {annotation}")
                kind = parsed
            if kind in (dict, list) and isinstance(value, str):
                try:
                    value = jsontext.loads(value)
                except ValueError:
                    value = ast.literal_eval(value)
            coerced[name] = kind(value)
        except (TypeError, ValueError, SyntaxError) as exc:
            raise ValueError(f"Failed to coerce argument '{name}' to {annotation}: {exc}") from None
    return coerced


def function_response_text(value: Any, limit: int) -> str:
    """validate_function_response (letta/utils.py): the result as text, cut at `limit` with Letta's note. A
    dict JSON cannot write is refused as Letta refuses it: `ValueError` of the dict (its bare `except:`)."""
    if value is None:
        text = "None"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, dict):
        try:
            text = json_dumps(value)
        except Exception:
            raise ValueError(value) from None
    else:
        text = str(value)
    if len(text) > limit:
        text = (
            f"{text[:limit]}... [NOTE: function output was truncated since it exceeded the character limit "
            f"({len(text)} > {limit})]"
        )
    return text


def structured_property(prop: dict[str, Any], description: str | None, defs: dict[str, Any]) -> dict[str, Any]:
    """One parameter as convert_to_structured_output writes it: type and description (and enum, items; an
    object's properties, all required, no others). A schema it cannot take is a ValueError, as in Letta.
    Pydantic refers to a model or an Enum by `$ref` where Letta's generate_schema writes it in place."""
    prop = _resolved(prop, defs)
    kind = prop.get("type")
    if kind == "object":
        out = _structured_object(prop, defs)
        return {"type": "object", "description": description, **{k: v for k, v in out.items() if k != "type"}}
    if not isinstance(kind, str):
        raise ValueError(f"Property {prop} is missing a type")
    out = {"type": kind, "description": description}
    if kind == "array" and "items" in prop:
        items = _resolved(prop["items"], defs)
        if items.get("type") in ("object", "array"):
            out["items"] = _structured_part(items, defs)
        else:
            out["items"] = {key: items[key] for key in ("type", "enum") if key in items}
    if "enum" in prop:
        out["enum"] = prop["enum"]
    return out


def _structured_part(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """_convert_to_structured_output_helper: a nested property, its description kept if it has one."""
    prop = _resolved(prop, defs)
    kind = prop.get("type")
    if kind == "object":
        out = _structured_object(prop, defs)
    elif kind == "array":
        if "items" not in prop:
            raise ValueError(f"Property {prop} of type array is missing items")
        out = {"type": "array", "items": _structured_part(prop["items"], defs)}
    elif isinstance(kind, str):
        out = {"type": kind}
    else:
        raise ValueError(f"Property {prop} is missing a type")
    if "description" in prop:
        out["description"] = prop["description"]
    return out


def _structured_object(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    properties = prop.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise ValueError(f"Property {prop} of type object is missing properties")
    return {
        "type": "object",
        "properties": {name: _structured_part(value, defs) for name, value in properties.items()},
        "additionalProperties": False,
        "required": list(properties),
    }


def _resolved(prop: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """`prop` with pydantic's `$ref` to `#/$defs/X` replaced by X's schema (its own keys kept over X's)."""
    ref = prop.get("$ref")
    if not isinstance(ref, str):
        return prop
    name = ref.removeprefix("#/$defs/")
    if depth > 32 or name not in defs:  # a model that contains itself has no strict schema
        raise ValueError(f"Reference {ref} cannot be resolved")
    rest = {key: value for key, value in prop.items() if key != "$ref"}
    return {**_resolved(defs[name], defs, depth + 1), **rest}


@functools.cache
def tool_docstring(function: Callable[..., Any]) -> tuple[str | None, dict[str, str | None]]:
    """A tool function's short description (None for a docstring opening with a section) and its
    parameters' texts, parsed once per function (every new agent offers its tools again: parsing took
    half a one-step scenario's replay)."""
    doc = read_docstring(function.__doc__)  # Tool read it already, so it reads
    return doc.short_description, {param.arg_name: param.description for param in doc.params}


def letta_tool_schema(tool: Tool, inner_thoughts: str | None) -> dict[str, Any]:
    """The tool as Letta 0.6 offers it: `generate_schema` (the docstring's short description, each
    parameter's docstring text, `request_heartbeat` on all but send_message), then inner thoughts first, all
    as a strict structured output (every property required, no others allowed); a tool structured outputs
    cannot express (an object parameter without properties) goes as generated, not strict, as Letta's
    prepare_openai_payload sends it when convert_to_structured_output refuses it."""
    if tool.declared_parameters is None:
        summary, described = tool_docstring(tool.function)
    else:  # Letta sends a tool known by its JSON schema as stored: its own texts (the harness's stub has none)
        summary = tool.description
        described = {name: prop.get("description") for name, prop in tool.declared_parameters["properties"].items()}
    parameters = tool.openai_schema()["function"]["parameters"]
    defs = parameters.get("$defs", {})
    own = {name: prop for name, prop in parameters["properties"].items() if name != HEARTBEAT_PARAMETER}
    thoughts = {}
    if inner_thoughts is not None:
        thoughts[INNER_THOUGHTS_KWARG] = {"type": "string", "description": inner_thoughts}
    heartbeat = (
        {}
        if tool.name == "send_message"
        else {HEARTBEAT_PARAMETER: {"type": "boolean", "description": HEARTBEAT_SCHEMA["description"]}}
    )
    try:
        structured = {name: structured_property(prop, described.get(name), defs) for name, prop in own.items()}
    except ValueError:
        letta: dict[str, Any] = {}
        letta_required: list[str] = parameters["required"]
        if tool.declared_parameters is None:
            letta, letta_required = letta_parameters(tool.function, "0.6.23")
        generated = {
            # Letta's own property (a bare dict is `{"type": "object"}`), or the harness's for a type it refuses
            name: {**(letta.get(name) or prop), "description": described.get(name)}
            for name, prop in own.items()
        }
        properties = {**thoughts, **generated, **heartbeat}
        required = [*thoughts, *(name for name in letta_required if name in own), *heartbeat]
        loose: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
        if defs:
            loose["$defs"] = defs
        # No summary (`Args:` on the docstring's first line): Letta's description is None, which the
        # request's dump (exclude_none) leaves out; convert_to_structured_output, after it, writes "".
        described_as = {} if summary is None else {"description": summary}
        return {"type": "function", "function": {"name": tool.name, **described_as, "parameters": loose}}
    properties = {**thoughts, **structured, **heartbeat}
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": summary or "",
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": properties,
                "additionalProperties": False,
                "required": list(properties),
            },
        },
    }


class LettaMemGPTLoop:
    name = LoopName.LETTA_MEMGPT
    text_is_reply = False  # Letta: plain text is the agent's inner monologue
    unknown_tool_breaks_rules = False  # Letta 0.6: "No function named X"
    # Agent.step chains on `function_failed` before it reads the heartbeat the rules set (exit_loop's False)
    failure_overrides_rules = True

    def __init__(self, spec: AgentSpec) -> None:
        self.spec = spec
        self.inner_thoughts = inner_thoughts_in_kwargs(spec.model.name, spec.model.put_inner_thoughts_in_kwargs)
        # The system message, one object for as long as its text stands: a request is keyed by its message
        # objects, and a system message new at every step was encoded again at every step.
        self._system_message: dict[str, Any] | None = None
        self._schemas: dict[str, dict[str, Any]] = {}
        self._failed_tool: str | None = None  # the tool whose call failed in the step before
        self._boot_call_id: str | None = None  # the boot call's id on the wire, once this agent booted

    # ------------------------------------------------------------ history

    def initial_messages(self, host: LoopHost) -> list[dict[str, Any]]:
        """initialize_message_sequence: the boot send_message (its id a uuid, cut to 29 characters on the
        wire; with `mistral_tool_call_ids`, its first 9 hex digits, as Mistral takes only 9 letters and
        digits), its result, and a login event."""
        now = host.state.now()
        self._system_message = self._compiled(host.state.memory.compile(), now)
        call_id = str(host.ids.uuid())
        if self.spec.model.mistral_tool_call_ids:
            call_id = call_id.replace("-", "")[:MISTRAL_TOOL_CALL_ID_LEN]
        self._boot_call_id = call_id[:TOOL_CALL_ID_MAX_LEN]
        if "gpt-3.5" in self.spec.model.name:
            thought = "*inner thoughts* Still waiting on the user. Sending a message with function."
            message = "Hi, is anyone there?"
        else:
            thought, message = INITIAL_BOOT_MESSAGE_SEND_MESSAGE_THOUGHT, INITIAL_BOOT_MESSAGE_SEND_MESSAGE_FIRST_MSG
        arguments = '{\n  "message": "' + message + '"\n}'
        login = json_dumps({"type": "login", "last_login": "Never (first login)", "time": letta_time(now)})
        return [
            self._assistant(thought, [(call_id, "send_message", arguments, {})]),
            {"content": package_function_response(True, None, now), "role": "tool", "tool_call_id": call_id[:29]},
            {"content": login, "role": "user"},
        ]

    def user_message(self, text: str, now: datetime) -> dict[str, Any]:
        self._failed_tool = None  # a new message: Letta's step starts with no failure behind it
        packaged = json_dumps({"type": "user_message", "message": text, "time": letta_time(now)})
        return {"content": packaged, "role": "user"}

    def tool_choice(self, forced: bool) -> ToolChoice | None:
        return None  # Letta 0.6 sends `required` (the agent's default) whatever the rules

    def required_reminder(self, uncalled: list[str], now: datetime) -> dict[str, Any] | None:
        return None  # Letta 0.6 has no required_before_exit: plain text ends the turn

    def follow_up(self, failed: bool, now: datetime) -> dict[str, Any] | None:
        reason = FUNC_FAILED_HEARTBEAT_MESSAGE if failed else REQ_HEARTBEAT_MESSAGE
        return {"content": json_dumps({"type": "heartbeat", "reason": reason, "time": letta_time(now)}), "role": "user"}

    def _assistant(
        self,
        thoughts: str | None,
        calls: list[tuple[str, str, str, dict[str, Any]]],
        echoed: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Message.to_openai_dict: with inner thoughts in kwargs the content goes into each call's
        arguments (first), and the message carries none. `echoed` (on the message) and each call's last
        item: the provider's fields its next request must carry back (DeepSeek's `reasoning_content`,
        Gemini 3's `extra_content`), which Letta 0.6, older than them, drops; none on Letta's own answers."""
        message: dict[str, Any] = {"role": "assistant"}
        if not self.inner_thoughts and thoughts is not None:
            message["content"] = thoughts
        message.update(echoed or {})
        if calls:
            message["tool_calls"] = [
                {
                    "id": call_id[:TOOL_CALL_ID_MAX_LEN],
                    "type": "function",
                    "function": {
                        "name": name,
                        "arguments": _with_thoughts(arguments, thoughts) if self.inner_thoughts else arguments,
                    },
                    **extra,
                }
                for call_id, name, arguments, extra in calls
            ]
        return message

    # ------------------------------------------------------------ the request

    def request_messages(self, host: LoopHost) -> list[dict[str, Any]]:
        return [self._current_system(host), *host.messages]

    def system_text(self, host: LoopHost) -> str:
        """The system message the next request sends (Letta's compiled one, with its memory header): the
        context window counts the request as sent. (It measured the harness's own shorter message, so a
        request near the window went out uncompacted.)"""
        return str(self._current_system(host)["content"])

    def _current_system(self, host: LoopHost) -> dict[str, Any]:
        """The system message as it is now, recompiled (with a new timestamp) only when the compiled memory
        is no longer in it; the context window's count and the request that follows get the same one."""
        memory = host.state.memory.compile()
        if self._system_message is None or memory not in self._system_message["content"]:
            self._system_message = self._compiled(memory, host.state.now())
        return self._system_message

    def _compiled(self, memory: str, now: datetime) -> dict[str, Any]:
        return {"content": compile_system_message(self.spec.system, memory, now), "role": "system"}

    def tools(self, host: LoopHost, offered: list[Tool]) -> list[dict[str, Any]]:
        """The tools allowed, but not the one whose call failed in the step before; if that leaves none,
        Letta's `_get_ai_reply` sends nothing and its step ends the turn."""
        schemas = [self._schema(tool) for tool in offered if tool.name != self._failed_tool]
        if offered and not schemas:
            raise NothingToAsk(StopReason.NO_TOOLS_LEFT)
        return schemas

    def _schema(self, tool: Tool) -> dict[str, Any]:
        if tool.name not in self._schemas:
            description = None
            if self.inner_thoughts:
                lm_studio = ":1234" in self.spec.model.endpoint  # Letta asks LM Studio to think first
                description = (
                    INNER_THOUGHTS_KWARG_DESCRIPTION_GO_FIRST if lm_studio else INNER_THOUGHTS_KWARG_DESCRIPTION
                )
            self._schemas[tool.name] = letta_tool_schema(tool, description)
        return self._schemas[tool.name]

    # ------------------------------------------------------------ the answer

    def answer(self, ask: Callable[[], ChatResponse]) -> ChatResponse:
        """_get_ai_reply: an answer Letta cannot use (a bad finish reason, arguments it cannot unpack) is
        asked for again, three times in all; then, or at once for an answer cut off by the length limit,
        Letta's message call raises: here the turn ends (TurnAborted) with nothing of that step kept."""
        for attempt in range(1, EMPTY_RESPONSE_RETRY_LIMIT + 1):
            try:
                response = ask()
            except ModelAnswerError as exc:
                raise self._boot_id_hinted(exc) from None
            try:
                unpacked = self._unpacked(response)  # inside Letta's `create`, before the finish reason is read
                if response.finish_reason not in ("stop", "function_call", "tool_calls"):
                    if response.finish_reason == "length":
                        message = "Finish reason was length (maximum context length)"
                        raise TurnAborted(StopReason.LENGTH, message, response)
                    raise ValueError(f"Bad finish reason from API: {response.finish_reason}")
                return unpacked
            except ValueError as exc:
                if attempt == EMPTY_RESPONSE_RETRY_LIMIT:
                    message = f"Retries exhausted and no valid response received. Final error: {exc}"
                    raise TurnAborted(StopReason.INVALID_ANSWER, message, response) from None
        raise AssertionError("unreachable")

    def _boot_id_hinted(self, error: ModelAnswerError) -> ModelAnswerError:
        """A provider refusing the boot call's id (Mistral: HTTP 422 "Tool call id was ... but must be a-z,
        A-Z, 0-9, with a length of 9.") is told what that id is and the setting that changes it."""
        boot = self._boot_call_id
        if boot is None or self.spec.model.mistral_tool_call_ids or boot not in str(error):
            return error
        return ModelAnswerError(
            f"{error}; {boot} is the id of the boot message's send_message call, a uuid cut to "
            f"{TOOL_CALL_ID_MAX_LEN} characters as Letta 0.6 makes it: for a provider that takes only "
            f"{MISTRAL_TOOL_CALL_ID_LEN} letters and digits (Mistral), set `mistral_tool_call_ids: true` in the "
            "agent's `model:`"
        )

    def _unpacked(self, response: ChatResponse) -> ChatResponse:
        """unpack_inner_thoughts_from_kwargs: the first call's `inner_thoughts` becomes the content."""
        if not self.inner_thoughts or not response.tool_calls:
            return response
        first = response.tool_calls[0]
        arguments = jsontext.loads(first.arguments)  # a JSONDecodeError is a ValueError: asked again
        if not isinstance(arguments, dict):  # Letta's dict(...) of it raises out of its message call
            message = f"the arguments of {first.name} are not a JSON object: {first.arguments}"
            raise TurnAborted(StopReason.INVALID_ANSWER, message, response)
        if INNER_THOUGHTS_KWARG not in arguments:
            return response
        thoughts = arguments.pop(INNER_THOUGHTS_KWARG)
        content = thoughts if isinstance(thoughts, str) or thoughts is None else json_dumps(thoughts)
        unpacked = replace(first, arguments=json_dumps(arguments))
        return replace(response, content=content, tool_calls=(unpacked, *response.tool_calls[1:]))

    def calls(self, response: ChatResponse) -> tuple[ToolCall, ...]:
        self._failed_tool = None
        return response.tool_calls[:1]

    def assistant_message(
        self, response: ChatResponse, calls: tuple[ToolCall, ...], call_ids: list[str]
    ) -> dict[str, Any]:
        return self._assistant(
            response.content,
            [(call_id, call.name, call.arguments, call.extra) for call_id, call in zip(call_ids, calls, strict=True)],
            response.extra,
        )

    # ------------------------------------------------------------ running a call

    def run_tool(self, host: LoopHost, tool: Tool | None, call: ToolCall) -> CallOutcome:
        outcome = self._run(host, tool, call)
        if not outcome.result.ok:
            self._failed_tool = call.name
        return outcome

    def _run(self, host: LoopHost, tool: Tool | None, call: ToolCall) -> CallOutcome:
        name = call.name
        if tool is None:
            return CallOutcome(ToolResult(False, f"No function named {name}"), False, {})
        try:
            parsed = jsontext.loads(call.arguments, strict=False)  # letta.utils.json_loads
        except ValueError:
            error = f"Error parsing JSON for function '{name}' arguments: {call.arguments}"
            return CallOutcome(ToolResult(False, error), False, {})
        arguments = dict(parsed) if isinstance(parsed, dict) else {}
        arguments.pop(INNER_THOUGHTS_KWARG, None)
        heartbeat = arguments.pop(HEARTBEAT_PARAMETER, None)
        if isinstance(heartbeat, str) and heartbeat.lower().strip() == "true":
            heartbeat = True
        heartbeat = heartbeat if isinstance(heartbeat, bool) else False
        builtin = BUILTIN_TOOLS.get(name) is tool.function
        kwargs = dict(arguments)
        user = user_call(tool, host.spec)
        try:
            if not builtin:
                kwargs = coerce_arguments(kwargs, source_annotations(tool.function))
                if tool.declared_parameters is None:
                    # The sandbox passes only the arguments the tool's schema names (`initialize_param` and
                    # `invoke_function_call` skip the others): an argument a model made up is dropped.
                    kwargs = {key: value for key, value in kwargs.items() if key in tool.parameter_names}
            value = tool.invoke(host.state, kwargs, user)
            text = function_response_text(
                value, BASE_FUNCTION_RETURN_CHAR_LIMIT if builtin else FUNCTION_RETURN_CHAR_LIMIT
            )  # inside Letta's try too (validate_function_response)
        except RunError:  # an endpoint or cassette under the tool: ends the run (see Tool.call)
            raise
        except BaseException as exc:
            # sys.exit(), any BaseException of the tool's: the call fails, not the run. (Letta 0.6.23 runs a
            # custom tool in its own process by default, and catches only Exception: its server goes down.)
            if stops_the_run(exc):
                raise
            return CallOutcome(ToolResult(False, _error_text(name, exc), *printed(user)), heartbeat, arguments)
        ok = not text.startswith(ERROR_MESSAGE_PREFIX)
        return CallOutcome(ToolResult(ok, text, *printed(user)), heartbeat, arguments)

    def tool_message(self, call_id: str, outcome: CallOutcome, now: datetime) -> dict[str, Any]:
        content = package_function_response(outcome.result.ok, outcome.result.message, now)
        return {"content": content, "role": "tool", "tool_call_id": call_id[:TOOL_CALL_ID_MAX_LEN]}

    def call_goes_on(self, tool: Tool | None, outcome: CallOutcome) -> bool:
        return not outcome.result.ok or outcome.heartbeat


def _with_thoughts(arguments: str, thoughts: str | None) -> str:
    """add_inner_thoughts_to_tool_call: the thoughts first, then the arguments, re-serialised. Read with
    `jsontext.loads`, as `_unpacked` reads them: a lone surrogate the model escaped is U+FFFD, which the
    next request can encode (plain `json.loads` gave it back raw, and the SDK failed on it)."""
    return json_dumps({INNER_THOUGHTS_KWARG: thoughts, **jsontext.loads(arguments)})
