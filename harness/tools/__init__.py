"""Tools the model can call: plain Python functions whose JSON schema comes from signature and docstring."""

from harness.tools.builtin import BUILTIN_TOOLS, TERMINAL_TOOLS
from harness.tools.context import AgentState
from harness.tools.registry import resolve_tool
from harness.tools.schema import Tool, ToolResult, tool_from_function

__all__ = ["BUILTIN_TOOLS", "TERMINAL_TOOLS", "AgentState", "Tool", "ToolResult", "resolve_tool", "tool_from_function"]
