"""Letta's newer loop (`letta_v1_agent`, LettaAgentV3 in letta/agents/letta_agent_v3.py, 0.16.8).

Its `_decide_continuation`: a tool call keeps the turn going (a tool that fails too), unless a tool rule
ends it (`exit_loop`); an answer without a tool call ends the turn, and its text is the reply, unless a
`required_before_exit` tool is not called yet: then a heartbeat says so (`ToolRuleViolated: You must call
...`) and the turn goes on (at the last step too: V3 never sets `is_final_step`; the turn then stops at
max_steps). An answer with no text, reasoning or call is not kept. There are no other heartbeats: tools are
offered without `request_heartbeat` (and as 0.16.8's generate_schema writes them: `letta_v1_tool_schema`),
nothing else is said between steps, and no `send_message` is needed.
Only the first call of an answer runs; requests say `parallel_tool_calls: false` (with tools) and `user`
(harness/loops/kinds.py). A call goes into history as V3 keeps it (`json.dumps` of the parsed arguments,
`{}` when they are not JSON, the tool still run with them); `reasoning_content` only beside text, as
Letta's OpenAIClient sends it (its DeepseekClient, for the `deepseek` provider, sends `""` beside a call
without text and drops reasoning at a new user message: not copied, so DeepSeek's thinking mode refuses
the step after a call made without text). Core tools
return and fail as LettaCoreToolExecutor; custom tools get their schema's arguments, coerced to their
annotations, and return and fail as out of the sandbox (`sandbox_return`, `sandbox_failure`); results
are packaged as Letta does (status, message, time as indented JSON, a returned dict nested, cut at 50,000
characters). `tool_choice` is `auto`, and `required` while a tool rule forces a call
(`should_force_tool_call`), as Letta's OpenAI client sends it for a letta_v1_agent. Not copied: V3
registers each call twice with the rules solver (a `max_count_per_step` limit of 2 withdraws a tool after
one call), which looks like a Letta bug.

The system message is Letta 0.16.8's, byte for byte (tests/test_loops.py checks it against
real Agent Files): the prompt, `{CORE_MEMORY}` replaced (or appended after a blank line) by `<memory_blocks>`
(each block's description, `<metadata>` with read_only, chars_current and chars_limit, and value), the
tool rules' `<tool_usage_rules>`, and `<memory_metadata>` (agent id, conversation, when the prompt was last
recompiled, the counts). Letta persists that message and rebuilds it only when a tool changes memory, not
at each step: so does this loop. A new agent's message has no tool rules (Letta's
`initialize_message_sequence_async` passes none); a turn sends the message as it stood when the turn began
(V3 keeps the message objects it loaded); after a call Letta's executor rebuilds it as its tool does (see
`_rebuild_after`). Times are the agent's clock.

What is the harness's here, not Letta's: the user's text as it is, and the wire body beyond the fields
above (tool-call ids are not cut to 29 characters); a declared tool's arguments checked; times in the clock's
timezone (Letta: the agent's, UTC by default); the harness's compaction does not rebuild the message (V3
forces a rebuild after compacting), and a restarted agent starts from a fresh message. The turn rules and
the system message follow Letta; the requests are not conformance-tested against a live server
(tests/conformance covers letta-memgpt).
"""

from __future__ import annotations

import ast
import copy
import functools
import inspect
import json
import re
import traceback
import typing
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pydantic

from harness import jsontext
from harness.config import AgentSpec
from harness.errors import RunError
from harness.llm.chat import ChatResponse, ToolCall
from harness.llm.settings import ToolChoice
from harness.loops.base import CallOutcome, HarnessLoop, LoopHost, user_call
from harness.loops.kinds import LoopName
from harness.loops.letta_memgpt import (
    INNER_THOUGHTS_KWARG,
    NON_USER_MSG_PREFIX,
    json_dumps,
    tool_docstring,
)
from harness.memory import READ_ONLY_BLOCK_EDIT_ERROR, EditKind, Memory, as_letta_says
from harness.tools.builtin import BUILTIN_TOOLS
from harness.tools.context import AgentState
from harness.tools.letta_schema import letta_parameters, source_annotations
from harness.tools.rules import ToolRulesSolver
from harness.tools.runtime import ToolTimeout, exception_name, printed, stops_the_run
from harness.tools.schema import HEARTBEAT_PARAMETER, Tool, ToolResult

# letta/constants.py IN_CONTEXT_MEMORY_KEYWORD, and the header of Memory._render_memory_blocks_standard (0.16.8)
CORE_MEMORY_VARIABLE = "{CORE_MEMORY}"
MEMORY_BLOCKS_HEADER = (
    "<memory_blocks>\nThe following memory blocks are currently engaged in your core memory unit:\n\n"
)
DEFAULT_CONVERSATION_ID = "default"

# How Letta 0.16.8's CoreToolExecutor leaves the system message after a core tool returns (`_rebuild_after`).
# Through `update_memory_if_changed_async`: the value edits of blocks, then a rebuild if memory is not in it.
_UPDATES_MEMORY = frozenset(
    {"core_memory_append", "core_memory_replace", "memory_replace", "memory_insert", "memory_rethink"}
)
# `rebuild_system_prompt_async(force=True)`: rebuilt now, whatever changed.
_FORCES_REBUILD = frozenset({"archival_memory_insert"})
# The `memory` tool's commands: create updates memory; delete detaches the block and rebuilds nothing.
_MEMORY_COMMAND_FORCES = frozenset({"str_replace", "insert", "rename"})


def _letta_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %I:%M:%S %p %Z%z").strip()


# letta/constants.py FUNCTION_RETURN_CHAR_LIMIT (a Tool's return_char_limit default) and
# BASE_FUNCTION_RETURN_CHAR_LIMIT (the core tools'), both 50,000 in 0.16.8.
FUNCTION_RETURN_CHAR_LIMIT = 50_000
# LettaAgentV3 5e: the results validate_function_response does not cut (it still counts them).
_UNCUT_RETURNS = frozenset({"conversation_search", "conversation_search_date", "archival_memory_search"})
# function_sets/base.py (0.16.8): the core memory tools' `label`, where Letta 0.6's named persona and human.
CORE_LABEL_DESCRIPTION = "Section of the memory to be edited."
_CORE_LABEL_TOOLS = frozenset({"core_memory_append", "core_memory_replace"})


def _new_value(state: AgentState, arguments: dict[str, Any], value: Any) -> Any:
    return state.memory.get_block(str(arguments["label"])).value


# What LettaCoreToolExecutor (0.16.8) returns where the harness's built-ins (Letta 0.6's) return otherwise:
# core_memory_append/replace the block's new value, send_message its receipt, conversation_search its dict.
_CORE_RETURNS: dict[str, Callable[[AgentState, dict[str, Any], Any], Any]] = {
    "send_message": lambda state, arguments, value: "Sent message successfully.",
    "core_memory_append": _new_value,
    "core_memory_replace": _new_value,
    "conversation_search": lambda state, arguments, value: json.loads(value),
}


# The core tools whose LettaCoreToolExecutor method (0.16.8) refuses a read-only block before anything else;
# the harness's functions are Letta 0.6's, which look for `old_content` first.
_READ_ONLY_FIRST = frozenset({"core_memory_append", "core_memory_replace"})


def _refuse_read_only_first(tool: Tool, state: AgentState, kwargs: dict[str, Any]) -> None:
    """`if agent_state.memory.get_block(label).read_only: raise ValueError(READ_ONLY_BLOCK_EDIT_ERROR)`, the
    first line of those methods, once the arguments bind (a missing one fails the call with its own text)."""
    try:
        bound = inspect.signature(tool.function).bind(state, **kwargs)
    except TypeError:
        return
    if state.memory.get_block(bound.arguments["label"]).read_only:
        raise ValueError(READ_ONLY_BLOCK_EDIT_ERROR)


def _cut(text: str, limit: int) -> str:
    return (
        f"{text[:limit]}... [NOTE: function output was truncated since it exceeded the character limit "
        f"({len(text)} > {limit})]"
    )


def function_return(value: Any, name: str, limit: int = FUNCTION_RETURN_CHAR_LIMIT) -> str | dict[str, Any]:
    """A tool's return as Letta 0.16.8 packages it. ToolExecutionManager first turns a return whose text
    (a dict's `json.dumps`) is over the limit into that text with a NOTE appended, uncut; then
    validate_function_response cuts text over the limit with its own NOTE (not for the search tools) and
    keeps a dict as it is, to be nested in the packaged JSON, unless its indented JSON is over the limit."""
    if isinstance(value, dict):
        try:
            json_dumps(value)
        except (TypeError, ValueError, RecursionError):  # a set, an object in it: nested, it would not write
            value = _as_text(value)
    text = json.dumps(value, default=str) if isinstance(value, dict) else str(value)
    if len(text) > limit:
        value = (
            f"{text}... [NOTE: function output was truncated since it exceeded the character limit: "
            f"{len(text)} > {limit}]"
        )
    truncate = name not in _UNCUT_RETURNS
    if isinstance(value, dict):
        indented = json_dumps(value)
        return _cut(indented, limit) if truncate and len(indented) > limit else value
    text = "None" if value is None else str(value)
    return _cut(text, limit) if truncate and len(text) > limit else text


# letta/constants.py (0.16.8): get_friendly_error_msg cuts an error text here.
MAX_ERROR_MESSAGE_CHAR_LIMIT = 1000


def friendly_error(name: str, exception_name: str, message: str) -> str:
    """letta.utils.get_friendly_error_msg (0.16.8)."""
    return f"Error executing function {name}: {exception_name}: {message}"[:MAX_ERROR_MESSAGE_CHAR_LIMIT]


def parse_stderr_error_msg(stderr_txt: str, last_n_lines: int = 3) -> tuple[str, str]:
    """letta.utils.parse_stderr_error_msg (0.16.8): the exception's name and message, from the last lines of
    the sandbox process's stderr (the empty string after the final newline is one of them)."""
    index = -(last_n_lines + 1)
    pattern = r"(\w+(?:Error|Exception)): (.+?)$"
    for line in stderr_txt.split("\n")[:index:-1]:
        if "Error" in line or "Exception" in line:
            match = re.search(pattern, line)
            if match:
                return match.group(1), match.group(2)
    return "", ""


def sandbox_failure(name: str, exc: BaseException, stderr: str = "") -> str | None:
    """What Letta 0.16.8's local sandbox makes of a custom tool that raised or exited: its subprocess ends
    with no result, and the error is read back from its stderr (`stderr`: what the tool wrote there, then
    Python's traceback, or the text of a `sys.exit` that was not a number). So a multi-line message keeps
    the line that names the exception, an exception not named `...Error`/`...Exception` is `: `, and so is
    `sys.exit(3)`. None: the process exited with status 0 (`sys.exit()`), which Letta takes for a call
    that returned None. A call out of time is the sandbox's own TimeoutError, said as it is."""
    if isinstance(exc, ToolTimeout):
        return friendly_error(name, exception_name(exc), str(exc))
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None or (isinstance(code, int) and code % 256 == 0):  # the status the OS keeps
            return None
        if not isinstance(code, int):  # Python prints it, then exits with 1
            stderr += f"{code}\n"
    else:
        stderr += "".join(traceback.format_exception(exc))
    return friendly_error(name, *parse_stderr_error_msg(stderr))


class _TempResultWrapper(pydantic.BaseModel):
    """The sandbox script's wrapper (tool_sandbox/base.py, 0.16.8): its model_dump is a return's first step
    out of the sandbox."""

    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    result: Any


_AS_THEY_ARE = frozenset({str, int, float, bool, type(None)})  # what the way out leaves as it was


def sandbox_return(value: Any) -> Any:
    """A custom tool's return as it comes out of Letta 0.16.8's sandbox: the script's
    `_TempResultWrapper(result=...).model_dump()` (or `str()` of a value it cannot dump), then
    `json.dumps(default=str)`, then the server's `json.loads` (parse_stdout_best_effort). So a pydantic
    model or a dataclass becomes an object, a tuple or a set a list, and a datetime, a set inside a dict or
    any other object its `str()`. What JSON cannot write even so (a list that contains itself) fails the
    script: raised, as its exception."""
    if type(value) in _AS_THEY_ARE:
        return value
    try:
        with warnings.catch_warnings():  # pydantic warns of the types it does not know: the sandbox's stderr
            warnings.simplefilter("ignore")
            serialized = _TempResultWrapper(result=value).model_dump()["result"]
    except Exception:
        serialized = str(value)
    return json.loads(json.dumps({"results": serialized, "agent_state": None}, default=str))["results"]


def _as_text(value: dict[str, Any]) -> str:
    """A dict JSON cannot write as it is (a core tool's: a custom tool's return comes out of the sandbox
    as JSON, `sandbox_return`): its JSON with anything else as text."""
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):  # a dict that contains itself
        return str(value)


def coerce_arguments(arguments: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    """coerce_dict_args_by_annotations (functions/ast_parsers.py, 0.16.8) as the sandbox executor applies it:
    a text argument is read as JSON or a Python literal first, then converted to the annotated type (a
    `list[int]` by its origin); if any argument fails, the arguments go as they came (the executor's
    `_prepare_function_args` logs the error and goes on)."""
    coerced = dict(arguments)
    try:
        for name, value in coerced.items():
            if name not in annotations:
                continue
            kind = _resolve_type(annotations[name])
            if isinstance(value, str):
                try:
                    # jsontext: a lone surrogate escaped in the text is U+FFFD, as in the arguments around
                    # it; too deep a nesting is its ValueError, not a JSONDecodeError: it fails them all.
                    value = jsontext.loads(value)
                except json.JSONDecodeError:
                    try:
                        value = ast.literal_eval(value)
                    except (SyntaxError, ValueError):
                        if kind is not str:
                            raise
            origin = typing.get_origin(kind)
            coerced[name] = origin(value) if origin in (list, dict, tuple, set) else kind(value)
    except Exception:
        return dict(arguments)
    return coerced


@functools.lru_cache(maxsize=256)
def _resolve_type(annotation: str) -> Any:
    """ast_parsers.resolve_type without unsafe eval: a name of typing or builtins, or an expression of them
    (worked out once per annotation: each call of a custom tool asks)."""
    import builtins

    names = {**vars(typing), **vars(builtins)}
    if annotation in names:
        return names[annotation]
    allowed: dict[str, Any] = {k: v for k, v in vars(typing).items() if not k.startswith("_")}
    allowed.update({k: v for k, v in vars(builtins).items() if isinstance(v, type)})
    allowed["typing"] = typing
    return eval(compile(ast.parse(annotation, mode="eval"), "<annotation>", "eval"), {"__builtins__": {}}, allowed)


def letta_v1_tool_schema(tool: Tool) -> dict[str, Any]:
    """The tool as Letta 0.16.8's `generate_schema` (functions/schema_generator.py) writes it, without
    `request_heartbeat` (v1 has no heartbeats): the description with the docstring's `Examples:` section
    appended, each parameter's docstring text as written (its newlines kept), no `default` anywhere, and
    each property's keys in Letta's order (`type` first, `description` last). The argument checks stay
    pydantic's (the harness loop and letta-memgpt keep the harness's schema). A tool declared by its JSON
    schema alone is offered as declared."""
    schema: dict[str, Any] = json.loads(json.dumps(tool.openai_schema()))
    function = schema["function"]
    parameters = function["parameters"]
    parameters["properties"].pop(HEARTBEAT_PARAMETER, None)
    parameters["required"] = [name for name in parameters.get("required", []) if name != HEARTBEAT_PARAMETER]
    if tool.declared_parameters is not None:
        return schema
    _, described = tool_docstring(tool.function)
    examples = examples_section(tool.function.__doc__)
    if examples and "Examples:" not in function["description"]:
        function["description"] = f"{function['description']}\n\n{examples}"
    generated, required = letta_parameters(tool.function, "0.16.8")
    properties = parameters["properties"]
    for name, prop in properties.items():
        text = described.get(name)
        if generated.get(name) is not None:  # Letta's own (a model in place, a bare dict without more)
            properties[name] = {**copy.deepcopy(generated[name]), "description": text}
            continue
        if text:
            prop["description"] = text
        properties[name] = _letta_ordered(prop)  # a type Letta refuses: the harness's schema, in Letta's order
    if tool.name in _CORE_LABEL_TOOLS and BUILTIN_TOOLS.get(tool.name) is tool.function:
        properties["label"]["description"] = CORE_LABEL_DESCRIPTION
    rest = {key: value for key, value in parameters.items() if key not in ("type", "properties", "required")}
    if "$ref" not in json.dumps(properties):  # the models are in place
        rest.pop("$defs", None)
    function["parameters"] = {"type": "object", "properties": properties, "required": required, **rest}
    return schema


# The keywords whose value is a schema, or a list or mapping of schemas (what `_letta_ordered` walks into;
# a `properties` mapping's keys are parameter names, never reordered).
_SUBSCHEMA = frozenset({"items", "additionalProperties", "not", "contains"})
_SUBSCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SUBSCHEMA_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties"})


def _letta_ordered(schema: Any) -> Any:
    """A property as Letta's `type_to_json_schema_type` builds it and generate_schema adds its description
    to: `type` first, `description` last, no `default` (Letta writes none; pydantic writes the signature's),
    nested schemas alike."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {"type": schema["type"]} if "type" in schema else {}
    for key, value in schema.items():
        if key in ("type", "description", "default"):
            continue
        if key in _SUBSCHEMA:
            value = _letta_ordered(value)
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            value = [_letta_ordered(item) for item in value]
        elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            value = {name: _letta_ordered(item) for name, item in value.items()}
        out[key] = value
    if "description" in schema:
        out["description"] = schema["description"]
    return out


# How deep a top-level function's docstring is indented in its source: what Letta's server, which builds a
# tool's schema from its source, reads in `__doc__` (its image runs Python 3.11, which keeps the indentation).
_DOCSTRING_INDENT = "    "


def examples_section(docstring: str | None) -> str | None:
    """extract_examples_section (functions/schema_generator.py, 0.16.8): the docstring from its `Examples:`
    line up to a line that is not indented and ends with `:`, indentation kept (so, as in Letta, a
    `Returns:` section after the examples comes along). The docstring is read as written in the source of
    a top-level function, whatever the Python running the harness: 3.13 strips the indentation from
    `__doc__`, which would change the text the model is sent."""
    if not docstring or "Examples:" not in docstring:
        return None
    cleaned = inspect.cleandoc(docstring).splitlines()
    lines = cleaned[:1] + [f"{_DOCSTRING_INDENT}{line}" if line.strip() else line for line in cleaned[1:]]
    examples: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not examples:
            if stripped.startswith("Examples:"):
                examples.append(line)
            continue
        if stripped and not line.startswith(" ") and stripped.endswith(":"):
            break
        examples.append(line)
    return "\n".join(examples).strip() if examples else None


def tool_call_arguments(raw: str) -> dict[str, Any]:
    """A call's arguments as LettaAgentV3 reads them (agents/helpers.py `_safe_load_tool_call_str`, then
    `request_heartbeat` and `inner_thoughts` popped): only the first object of `{...}{...}`, a JSON string
    holding the object read again, and anything that is not a JSON object is `{}` (Letta's json.loads raises
    on too deep a nesting or a non-object in a string; here those are `{}` too, not a failed step)."""
    if "}{" in raw:
        raw = raw.split("}{", 1)[0] + "}"
    try:
        arguments = jsontext.loads(raw)
        if isinstance(arguments, str):
            arguments = jsontext.loads(arguments)
    except ValueError:
        arguments = {}
    if not isinstance(arguments, dict):
        return {}
    arguments.pop(HEARTBEAT_PARAMETER, None)
    arguments.pop(INNER_THOUGHTS_KWARG, None)
    return arguments


def compile_memory(memory: Memory, tool_rules: str | None) -> str:
    """Memory.compile (letta/schemas/memory.py, 0.16.8) as a letta_v1_agent gets it from an endpoint that is
    not Anthropic's (`_render_memory_blocks_standard`; line numbers are for Anthropic models alone): each
    block's description, metadata and value in `<memory_blocks>`, then `tool_rules` (the solver's
    `<tool_usage_rules>` section) after a blank line. No blocks: no `<memory_blocks>` at all."""
    rendered = []
    for block in memory.get_blocks():
        label = block.label or "block"
        read_only = "\n- read_only=true" if block.read_only else ""
        rendered.append(
            f"<{label}>\n<description>\n{block.description or ''}\n</description>\n"
            f"<metadata>{read_only}\n- chars_current={len(block.value)}\n- chars_limit={block.limit}\n</metadata>\n"
            f"<value>\n{block.value}\n</value>\n</{label}>\n"
        )
    compiled = MEMORY_BLOCKS_HEADER + "\n".join(rendered) + "\n</memory_blocks>" if rendered else ""
    return compiled if tool_rules is None else f"{compiled}\n\n{tool_rules}"


def memory_metadata(recompiled: datetime, agent_id: str, previous_messages: int = 0, archival_memories: int = 0) -> str:
    """PromptGenerator.compile_memory_metadata_block (letta/prompts/prompt_generator.py, 0.16.8); the
    archival line only when there are archival memories."""
    lines = [
        "<memory_metadata>",
        f"- AGENT_ID: {agent_id}",
        f"- CONVERSATION_ID: {DEFAULT_CONVERSATION_ID}",
        f"- System prompt last recompiled: {_letta_time(recompiled)}",
        f"- {previous_messages} previous messages between you and the user are stored in recall memory",
    ]
    if archival_memories > 0:
        lines.append(
            f"- {archival_memories} total memories you created are stored in archival memory (use tools to access them)"
        )
    lines.append("</memory_metadata>")
    return "\n".join(lines)


def system_message(prompt: str, compiled_memory: str, metadata: str) -> str:
    """PromptGenerator.get_system_message_from_compiled_memory (0.16.8): the memory, a blank line and the
    metadata, at `{CORE_MEMORY}` (a plain replace: other braces stay as written) or after a blank line."""
    if CORE_MEMORY_VARIABLE not in prompt:
        prompt += "\n\n" + CORE_MEMORY_VARIABLE
    return prompt.replace(CORE_MEMORY_VARIABLE, f"{compiled_memory}\n\n{metadata}")


class LettaV1Loop(HarnessLoop):
    name = LoopName.LETTA_V1
    text_is_reply = True
    unknown_tool_breaks_rules = True  # V3: a name not among the tools offered is a rule violation
    failure_overrides_rules = False  # V3's _decide_continuation: an exit_loop tool ends the turn, failed or not

    def __init__(self, spec: AgentSpec) -> None:
        self.spec = spec
        self._schemas: dict[str, dict[str, Any]] = {}
        self._tool_rules = ToolRulesSolver(spec.tool_rules).compile_prompt() if spec.tool_rules else None
        self._stored: str | None = None  # the system message as Letta keeps it (its database's)
        self._created: datetime | None = None  # that message's created_at: the agent's creation
        self._new_turn = True  # the next request starts a turn: it loads the stored message

    # ------------------------------------------------------------ the system message

    def initial_messages(self, host: LoopHost) -> list[dict[str, Any]]:
        """initialize_message_sequence_async: a letta_v1_agent starts with its system message alone,
        compiled without tool rules (none are passed there) and with no counts."""
        self._create(host)
        return []

    def _create(self, host: LoopHost) -> None:
        self._created = host.state.now()
        self._stored = system_message(
            self.spec.system, compile_memory(host.state.memory, None), memory_metadata(self._created, host.state.id)
        )

    def user_message(self, text: str, now: datetime) -> dict[str, Any]:
        self._new_turn = True
        return super().user_message(text, now)

    def request_messages(self, host: LoopHost) -> list[dict[str, Any]]:
        """The stored message as the turn began: LettaAgentV3.step loads the in-context messages once, so a
        rebuild during a turn reaches the model in the next one."""
        text = self.system_text(host)
        if self._system_message is None or self._system_message["content"] != text:
            self._system_message = {"role": "system", "content": text}
        self._new_turn = False
        return [self._system_message, *host.messages]

    def system_text(self, host: LoopHost) -> str:
        """What the next request sends: this turn's message, or the stored one when a turn starts."""
        if self._stored is None:  # an agent given its history (imported, restarted) was not created here
            self._create(host)
        if self._new_turn or self._system_message is None:
            assert self._stored is not None
            return self._stored
        return str(self._system_message["content"])

    def _rebuild(self, host: LoopHost, recompiled: datetime) -> None:
        """rebuild_system_prompt_async: the prompt, memory with the tool rules, and the counts (messages out of
        context, archival passages) as they are now."""
        archival = host.state.archival
        metadata = memory_metadata(
            recompiled,
            host.state.id,
            host.evicted_messages,
            len(archival.passages()) if archival is not None else 0,
        )
        self._stored = system_message(self.spec.system, compile_memory(host.state.memory, self._tool_rules), metadata)

    def _rebuild_after(self, host: LoopHost, tool: Tool, outcome: CallOutcome, edits: int) -> None:
        """What Letta 0.16.8's executor does to the stored message once a tool returned (not after one that
        raised). `update_memory_if_changed_async` (the memory-editing core tools, `memory` create, and a
        custom tool given the agent's state): a changed block value goes through BlockManager's update,
        which rebuilds at the message's own created_at (`update_timestamp=False`); then, if memory with
        the tool rules is still not in the message, it is rebuilt now. The `memory` tool's str_replace,
        insert and rename, and `archival_memory_insert`, force a rebuild now; `memory` delete rebuilds
        nothing (the block stays in the message until the next rebuild)."""
        if not outcome.result.ok or self._stored is None or self._created is None:
            return
        builtin = BUILTIN_TOOLS.get(tool.name) is tool.function
        command = outcome.arguments.get("command") if builtin and tool.name == "memory" else None
        if builtin and (tool.name in _FORCES_REBUILD or command in _MEMORY_COMMAND_FORCES):
            self._rebuild(host, host.state.now())
            return
        # a custom tool: Letta's sandbox hands back the state it was given, and memory is updated from it
        updates = (tool.name in _UPDATES_MEMORY or command == "create") if builtin else tool.state_parameter is not None
        if not updates:
            return
        memory = host.state.memory
        if any(edit.kind is EditKind.VALUE for edit in memory.edits[edits:]):
            self._rebuild(host, self._created)
        if compile_memory(memory, self._tool_rules) not in self._stored:
            self._rebuild(host, host.state.now())

    # ------------------------------------------------------------ tools

    def tools(self, host: LoopHost, offered: list[Tool]) -> list[dict[str, Any]]:
        return [self._schema(tool) for tool in offered]

    def _schema(self, tool: Tool) -> dict[str, Any]:
        if tool.name not in self._schemas:
            self._schemas[tool.name] = letta_v1_tool_schema(tool)
        return self._schemas[tool.name]

    def calls(self, response: ChatResponse) -> tuple[ToolCall, ...]:
        return response.tool_calls[:1]

    def assistant_message(
        self, response: ChatResponse, calls: tuple[ToolCall, ...], call_ids: list[str]
    ) -> dict[str, Any] | None:
        """The answer as Letta 0.16.8 persists it and `Message.to_openai_dict` sends it back. An answer with
        no text, no reasoning and no call is not kept (`_handle_ai_response` case 1a). The arguments are
        re-serialised from what was parsed (`json.dumps(args)`, rest_api/utils.py), so the model sees
        `{}` for arguments that were not JSON and never its `request_heartbeat`. `reasoning_content` goes
        back only beside text: the adapter stores reasoning and text as content parts, and to_openai_dict
        reads the reasoning only from a message of more than one part."""
        reasoning = response.extra.get("reasoning_content")
        if not calls and not response.content and not reasoning:
            return None
        extra = dict(response.extra)
        if not response.content:
            extra.pop("reasoning_content", None)
        message: dict[str, Any] = {"role": "assistant", "content": response.content or None, **extra}
        if calls:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(tool_call_arguments(call.arguments))},
                    **call.extra,
                }
                for call_id, call in zip(call_ids, calls, strict=True)
            ]
        return message

    def run_tool(self, host: LoopHost, tool: Tool | None, call: ToolCall) -> CallOutcome:
        edits = len(host.state.memory.edits)
        outcome = self._run(host, tool, call)
        if tool is not None:
            self._rebuild_after(host, tool, outcome, edits)
        return outcome

    def _run(self, host: LoopHost, tool: Tool | None, call: ToolCall) -> CallOutcome:
        """A call as LettaAgentV3 runs it: the arguments as it parsed them (`{}` when they are not JSON: the
        tool still runs). A core tool (LettaCoreToolExecutor) gets them as they are and fails with the
        exception's own text (a missing argument names `LettaCoreToolExecutor.X()`); a custom tool (the
        sandbox) gets only those its schema names, coerced to its annotations, and fails as the sandbox
        reads a failure back (`sandbox_failure`). Declared tools (no code) are run as the harness runs
        them. The return is packaged as Letta does (`function_return`)."""
        if tool is None or tool.declared_parameters is not None:
            return super().run_tool(host, tool, call)
        arguments = tool_call_arguments(call.arguments)
        builtin = BUILTIN_TOOLS.get(tool.name) is tool.function
        kwargs = dict(arguments)
        if not builtin:
            properties = tool.openai_schema()["function"]["parameters"]["properties"]
            kwargs = coerce_arguments(
                {k: v for k, v in kwargs.items() if k in properties}, source_annotations(tool.function)
            )
        user = user_call(tool, host.spec)
        try:
            if builtin and tool.name in _READ_ONLY_FIRST:
                _refuse_read_only_first(tool, host.state, kwargs)
            value = tool.invoke(host.state, dict(kwargs), user)
            if not builtin:
                value = sandbox_return(value)
            if builtin and tool.name in _CORE_RETURNS:
                value = _CORE_RETURNS[tool.name](host.state, kwargs, value)
        except RunError:  # an endpoint or cassette under the tool: ends the run (see Tool.call)
            raise
        except BaseException as exc:  # any of the tool's: the call fails (its sandbox process ends), not the run
            if stops_the_run(exc):
                raise
            if not builtin:
                failure = sandbox_failure(tool.name, exc, printed(user)[1])
                if failure is None:  # exited with status 0: a call that returned None
                    return CallOutcome(ToolResult(True, "None", *printed(user)), False, arguments)
                error = failure
            elif isinstance(exc, TypeError) and str(exc).startswith(f"{tool.name}() "):
                error = f"LettaCoreToolExecutor.{exc}"  # bound to Letta's executor, the method says so
            else:
                error = as_letta_says(exc)
            failed = ToolResult(False, str(function_return(error, tool.name)), *printed(user))
            return CallOutcome(failed, False, arguments)
        returned = function_return(value, tool.name)
        if isinstance(returned, dict):
            return CallOutcome(ToolResult(True, json_dumps(returned), *printed(user)), False, arguments, returned)
        return CallOutcome(ToolResult(True, returned, *printed(user)), False, arguments)

    def tool_message(self, call_id: str, outcome: CallOutcome, now: datetime) -> dict[str, Any]:
        """package_function_response (a dict nested as an object), then, for an agent with a context window,
        the cut Letta makes of every tool return when it builds a request (`truncate_tool_return` at
        `_compute_tool_return_truncation_chars`: a fifth of the window, 4 characters a token, at least 5,000).
        Letta cuts the request's copy and keeps the whole; the harness sends its history, so cuts it there."""
        packaged = {
            "status": "OK" if outcome.result.ok else "Failed",
            "message": outcome.result.message if outcome.returned is None else outcome.returned,
            "time": _letta_time(now),
        }
        content = json_dumps(packaged)
        window = self.spec.context_window
        if window is not None:
            cap = max(5000, int(window * 0.2 * 4))
            if len(content) > cap:
                content = content[:cap] + f"... [truncated {len(content) - cap} chars]"
        return {"role": "tool", "tool_call_id": call_id, "content": content}

    def tool_choice(self, forced: bool) -> ToolChoice | None:
        """Letta's OpenAI client for letta_v1_agent: `required` while a rule forces a call
        (`requires_subsequent_tool_call`), else `auto`, whatever the agent's model says (validate refuses a
        `required` there: no turn could end)."""
        return ToolChoice.REQUIRED if forced else ToolChoice.AUTO

    def required_reminder(self, uncalled: list[str], now: datetime) -> dict[str, Any] | None:
        """LettaAgentV3._decide_continuation (and its no-op case): an answer without a tool call goes on,
        with a heartbeat (`create_heartbeat_system_message`, `get_heartbeat`) saying which tools to call."""
        reason = (
            f"{NON_USER_MSG_PREFIX}ToolRuleViolated: You must call {', '.join(uncalled)} at least once to exit "
            "the loop."
        )
        return {
            "role": "user",
            "content": json_dumps({"type": "heartbeat", "reason": reason, "time": _letta_time(now)}),
        }

    def call_goes_on(self, tool: Tool | None, outcome: CallOutcome) -> bool:
        return True  # any tool call continues (an exit_loop rule, applied by the agent, ends the turn)
