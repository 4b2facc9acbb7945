"""The loops an agent can run (`loop:` in agents.yaml), and what each puts on the wire besides messages
and tools. A leaf module: agents.yaml's compiler reads it without importing any loop."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from harness.tools.rules import TextEnds, TurnEnds


class LoopName(StrEnum):
    """`harness`: the harness's simplified MemGPT loop (every tool call runs, plain JSON results, plain user
    text). `letta-memgpt`: Letta 0.6's MemGPT agent, request for request. `letta-v1`: Letta's newer loop
    (letta_v1_agent): no heartbeats, any tool call continues, a reply without tool calls ends the turn."""

    HARNESS = "harness"
    LETTA_MEMGPT = "letta-memgpt"
    LETTA_V1 = "letta-v1"


DEFAULT_LOOP = LoopName.LETTA_MEMGPT

# letta/schemas/llm_config.py (0.6): LLMConfig.temperature defaults to 0.7; the harness's default is 0.
LETTA_DEFAULT_TEMPERATURE = 0.7
# Letta 0.16.8's LLMConfig.temperature default (schemas/llm_config.py): a letta_v1_agent created with a model
# handle gets it (no provider and no create_agent path sets another unless `model_settings` is given).
LETTA_V1_DEFAULT_TEMPERATURE = 1.0

# The harness's bound on a turn's steps, and Letta 0.16.8's (constants.py DEFAULT_MAX_STEPS, the default of a
# request's `max_steps` and of LettaAgentV3.step).
HARNESS_MAX_STEPS = 10
LETTA_V1_MAX_STEPS = 50

# The id of the user Letta's in-process client acts as (letta/services/user_manager.py, DEFAULT_USER_ID, the
# same in 0.16.8): Letta 0.6 sends it as `user` with every request, 0.16.8 as the actor's id.
LETTA_DEFAULT_USER_ID = "user-00000000-0000-4000-8000-000000000000"

# What Letta 0.6's ChatCompletionRequest adds to every body (its pydantic defaults, dumped without the
# None ones). `parallel_tool_calls: false` is not among them: prepare_openai_payload adds it only to a request
# with tools (OpenAI refuses it without), see tools_body.
LETTA_MEMGPT_BODY: tuple[tuple[str, Any], ...] = (
    ("frequency_penalty", 0),
    ("logprobs", False),
    ("n", 1),
    ("presence_penalty", 0),
    ("stream", False),
    ("top_p", 1),
    ("user", LETTA_DEFAULT_USER_ID),
)


# LLMConfig.set_default_put_inner_thoughts: inner thoughts go in a tool argument for every model but these.
NO_INNER_THOUGHTS_MODELS = frozenset({"gpt-4"})


def inner_thoughts_in_kwargs(model: str, setting: bool | None) -> bool:
    """Letta's `put_inner_thoughts_in_kwargs`: as set, else true for every model but `gpt-4`."""
    return setting if setting is not None else model not in NO_INNER_THOUGHTS_MODELS


def default_temperature(loop: LoopName) -> float:
    """The temperature an agent gets when agents.yaml gives none."""
    if loop is LoopName.LETTA_V1:
        return LETTA_V1_DEFAULT_TEMPERATURE
    return 0.0 if loop is LoopName.HARNESS else LETTA_DEFAULT_TEMPERATURE


def default_max_steps(loop: LoopName) -> int:
    """A turn's bound when agents.yaml gives none: Letta 0.16.8's for letta-v1 (Letta 0.6 has none)."""
    return LETTA_V1_MAX_STEPS if loop is LoopName.LETTA_V1 else HARNESS_MAX_STEPS


def default_tool_choice(loop: LoopName) -> str:
    """`tool_choice` when agents.yaml gives none: a Letta v1 turn ends on an answer without a tool call, so
    the model must be free not to call one."""
    return "auto" if loop is LoopName.LETTA_V1 else "required"


def turn_ends(loop: LoopName, tool_choice: str) -> TurnEnds:
    """How a turn of this loop may end, for the check that tool rules let one (harness/tools/rules.py):
    letta-v1 ends a turn on an answer without a call, which the rules forbid only while they force a call
    (`required` there), and never after a call but an exit_loop one; the other loops end it after a call
    that asks no heartbeat, and on an answer without a call whenever the agent's `tool_choice` lets one come."""
    if loop is LoopName.LETTA_V1:  # its tool_choice is Letta's, whatever the agent's (harness/loops/letta_v1.py)
        return TurnEnds(TextEnds.UNFORCED, quiet_call=False)
    return TurnEnds(TextEnds.ALWAYS if tool_choice == "auto" else TextEnds.NEVER, quiet_call=True)


def extra_body(loop: LoopName) -> tuple[tuple[str, Any], ...]:
    """Fields every request of this loop carries besides model, messages, temperature and tools. letta-v1:
    Letta 0.16.8's OpenAI client sets `user` to the actor's id on every request (openai_client.py
    build_request_data); its other ChatCompletionRequest defaults are not sent (`exclude_unset`)."""
    if loop is LoopName.LETTA_MEMGPT:
        return LETTA_MEMGPT_BODY
    return (("user", LETTA_DEFAULT_USER_ID),) if loop is LoopName.LETTA_V1 else ()


def tools_body(loop: LoopName) -> tuple[tuple[str, Any], ...]:
    """Fields a request of this loop carries only when it offers tools. letta-memgpt: Letta 0.6.23's
    prepare_openai_payload sets `parallel_tool_calls: false` `if chat_completion_request.tools is not None`
    (so a summary request, or an agent with no tools, goes without it). letta-v1: Letta 0.16.8 sets it from
    LLMConfig (False by default, and LettaAgentV3 forces False under tool rules) for a model that takes it
    (see parallel_by_model)."""
    if loop is LoopName.HARNESS:
        return ()
    return (("parallel_tool_calls", False),)


def parallel_by_model(loop: LoopName) -> bool:
    """Whether `chat_request` leaves `parallel_tool_calls` out for OpenAI's reasoning models, by the name the
    request goes out with (a `--model` or a matrix model replaces the declared one): Letta 0.16.8 does;
    Letta 0.6.23 sends it to every model a request with tools goes to."""
    return loop is LoopName.LETTA_V1


# letta/constants.py IN_CONTEXT_MEMORY_KEYWORD: where the memory goes in a system prompt.
CORE_MEMORY = "CORE_MEMORY"


class _Preserve(dict[str, str]):
    """letta.services.helpers.agent_manager_helper.PreserveMapping: an unknown `{name}` stays as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def letta_safe_format(template: str, variables: dict[str, str]) -> str:
    """Letta 0.6's `safe_format`: `{}` kept, known `{names}` filled in, unknown ones kept, everything else
    as Python's `str.format_map` reads it (a lone `}` or `{key: value}` fails it)."""
    return template.replace("{}", "{{}}").format_map(_Preserve(variables))


def letta_format_problem(prompt: str) -> str | None:
    """Why Letta 0.6's `compile_system_message` cannot fill in this system prompt (it raises `Failed to
    format system prompt`, and the agent never runs), or None."""
    try:
        letta_safe_format(prompt, {CORE_MEMORY: ""})
    except (ValueError, IndexError, KeyError, AttributeError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def letta_literal(prompt: str) -> str | None:
    """`prompt` with its braces doubled (but `{CORE_MEMORY}`, and a `{}`, which safe_format doubles itself), so
    that Letta 0.6's `safe_format` shows it as it is written (as Letta 0.7 on, which only replaces
    `{CORE_MEMORY}`, shows it); None where no such writing exists."""
    escaped = _BRACES.sub(lambda brace: brace.group() if len(brace.group()) > 1 else brace.group() * 2, prompt)
    variable = "{" + CORE_MEMORY + "}"
    try:
        shown = letta_safe_format(escaped, {CORE_MEMORY: variable})
    except (ValueError, IndexError, KeyError, AttributeError, TypeError):
        return None
    return escaped if shown == prompt else None


_BRACES = re.compile(r"\{" + CORE_MEMORY + r"\}|\{\}|[{}]")  # kept whole, kept whole, doubled
