"""Letta's newer loop (`letta_v1_agent`, LettaAgentV3 in letta/agents/letta_agent_v3.py, 0.16.8).

Its `_decide_continuation`: a tool call keeps the turn going (a tool that fails too), unless a tool rule
ends it (`exit_loop`); an answer without a tool call ends the turn, and its text is the reply, unless a
`required_before_exit` tool is not called yet: then a heartbeat says so (`ToolRuleViolated: You must call
...`) and the turn goes on. There are no other heartbeats: tools are offered without `request_heartbeat`,
nothing else is said between steps, and no `send_message` is needed. Only the first call of an answer
runs (`parallel_tool_calls` is off by default) and its result is packaged as Letta does
(`package_function_response`: status, message and time as indented JSON). `tool_choice` is the agent's
(`auto` by default), and `required` while a tool rule forces a call (`should_force_tool_call`).

What is the harness's here, not Letta's: the system message (the prompt and the blocks as the harness
compiles them, not Letta 0.16's `<memory_blocks>` layout), the user's text as it is, and the wire body. The
loop's semantics follow Letta; its requests are not conformance-tested (tests/conformance covers
letta-memgpt).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from harness.config import AgentSpec
from harness.errors import RunError
from harness.llm.chat import ChatResponse, ToolCall
from harness.llm.settings import ToolChoice
from harness.loops.base import CallOutcome, HarnessLoop, LoopHost
from harness.loops.kinds import LoopName
from harness.loops.letta_memgpt import NON_USER_MSG_PREFIX, json_dumps
from harness.memory import as_letta_says
from harness.tools.builtin import BUILTIN_TOOLS
from harness.tools.schema import HEARTBEAT_PARAMETER, Tool, ToolResult


def _letta_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %I:%M:%S %p %Z%z").strip()


class LettaV1Loop(HarnessLoop):
    name = LoopName.LETTA_V1
    text_is_reply = True
    unknown_tool_breaks_rules = True  # V3: a name not among the tools offered is a rule violation

    def __init__(self, spec: AgentSpec) -> None:
        self.spec = spec
        self._schemas: dict[str, dict[str, Any]] = {}

    def tools(self, host: LoopHost, offered: list[Tool]) -> list[dict[str, Any]]:
        return [self._schema(tool) for tool in offered]

    def _schema(self, tool: Tool) -> dict[str, Any]:
        """The tool without `request_heartbeat`: v1 has no heartbeats."""
        if tool.name not in self._schemas:
            schema = json.loads(json.dumps(tool.openai_schema()))
            parameters = schema["function"]["parameters"]
            parameters["properties"].pop(HEARTBEAT_PARAMETER, None)
            parameters["required"] = [name for name in parameters.get("required", []) if name != HEARTBEAT_PARAMETER]
            self._schemas[tool.name] = schema
        return self._schemas[tool.name]

    def calls(self, response: ChatResponse) -> tuple[ToolCall, ...]:
        return response.tool_calls[:1]

    def run_tool(self, host: LoopHost, tool: Tool | None, call: ToolCall) -> CallOutcome:
        """Letta's core tools (its `CoreToolExecutor`) fail with the exception's own text, `str(e)`; the
        other tools as the harness runs them (`Error executing function X: ...`, arguments validated)."""
        if tool is None or BUILTIN_TOOLS.get(tool.name) is not tool.function:
            return super().run_tool(host, tool, call)
        arguments = self.arguments(tool.name, call.arguments)
        if isinstance(arguments, CallOutcome):
            return arguments
        arguments.pop(HEARTBEAT_PARAMETER, None)
        try:
            text = str(tool.invoke(host.state, dict(arguments)))
        except RunError:  # an endpoint or cassette under the tool: ends the run (see Tool.call)
            raise
        except (Exception, SystemExit) as exc:
            return CallOutcome(ToolResult(False, as_letta_says(exc)), False, arguments)
        return CallOutcome(ToolResult(True, text), False, arguments)

    def tool_message(self, call_id: str, outcome: CallOutcome, now: datetime) -> dict[str, Any]:
        packaged = {
            "status": "OK" if outcome.result.ok else "Failed",
            "message": outcome.result.message,
            "time": _letta_time(now),
        }
        return {"role": "tool", "tool_call_id": call_id, "content": json.dumps(packaged, indent=2, ensure_ascii=False)}

    def tool_choice(self, forced: bool) -> ToolChoice | None:
        """Letta's OpenAI client for letta_v1_agent: `required` while a rule forces a call
        (`requires_subsequent_tool_call`), else the agent's (`auto` unless agents.yaml says otherwise)."""
        return ToolChoice.REQUIRED if forced else None

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
