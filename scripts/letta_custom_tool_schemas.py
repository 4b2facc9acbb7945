"""Write what Letta does with the custom tools of tests/conformance/custom_tool_schemas.py:
tests/conformance/letta-custom-tool-schemas.json.

Opt-in, never run by tests or CI. For each function it records:

- `letta-memgpt`: the tool as Letta 0.6.23 sends it to an OpenAI model: its `generate_schema`
  (letta/functions/schema_generator.py), `add_inner_thoughts_to_functions` with the default inner thoughts,
  the request's dump (`FunctionSchema`, `exclude_none`), then `convert_to_structured_output`
  (letta/llm_api/helpers.py), or the tool as dumped when that refuses it, as `prepare_openai_payload` does;
- `letta-v1`: the tool as Letta 0.16.8's `generate_schema` writes it;

or, where Letta refuses the tool when it is created, `{"refused": "<exception>"}`. Both versions' files come
from a clone of letta-ai/letta with `git show`, nothing of Letta installed: only the modules they import
and that take no part in a schema are stubbed (Composio's parameters model, `letta.log`, the MCP types).

    python scripts/letta_custom_tool_schemas.py PATH/TO/letta

Run it with Python 3.11 or 3.12, with `docstring-parser` and `pydantic` (Letta pins 0.16 and 2.9).
"""

from __future__ import annotations

import ast
import copy
import importlib
import importlib.util
import json
import logging
import subprocess
import sys
import tempfile
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tests" / "conformance" / "custom_tool_schemas.py"
OUT = ROOT / "tests" / "conformance" / "letta-custom-tool-schemas.json"
INNER_THOUGHTS = ("inner_thoughts", "Deep inner monologue private to you only.")  # 0.6.23 local_llm/constants.py
STUBS_0168 = {
    "letta/__init__.py": "",
    "letta/functions/__init__.py": "",
    "letta/functions/mcp_client/__init__.py": "",
    "letta/functions/mcp_client/types.py": "class MCPTool: pass\n",
    "letta/log.py": "import logging\n\n\ndef get_logger(name):\n    return logging.getLogger(name)\n",
}


def show(repo: str, tag: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, "show", f"{tag}:{path}"], capture_output=True, check=True, text=True
    ).stdout


def generator_0623(repo: str) -> Any:
    """0.6.23's schema_generator imports nothing of Letta's but Composio's parameters model."""
    collections = types.ModuleType("composio.client.collections")
    collections.ActionParametersModel = object  # type: ignore[attr-defined]
    for name in ("composio", "composio.client"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["composio.client.collections"] = collections
    module = types.ModuleType("letta_schema_generator_0623")
    exec(compile(show(repo, "0.6.23", "letta/functions/schema_generator.py"), "schema_generator", "exec"), vars(module))
    return module.generate_schema


def helpers_0623(repo: str) -> dict[str, Any]:
    """The three functions of 0.6.23's llm_api/helpers.py a tool goes through, taken out of the module
    (which imports most of Letta)."""
    wanted = {"_convert_to_structured_output_helper", "convert_to_structured_output", "add_inner_thoughts_to_functions"}
    namespace: dict[str, Any] = {"copy": copy, "OrderedDict": OrderedDict, "List": list}
    for node in ast.parse(show(repo, "0.6.23", "letta/llm_api/helpers.py")).body:
        if isinstance(node, ast.FunctionDef) and node.name in wanted:
            exec(compile(ast.Module([node], []), "helpers", "exec"), namespace)
    return namespace


def generator_0168(repo: str, root: Path) -> Any:
    for path, text in STUBS_0168.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    for path in ("letta/constants.py", "letta/functions/schema_generator.py"):
        (root / path).write_text(show(repo, "0.16.8", path))
    sys.path.insert(0, str(root))
    return importlib.import_module("letta.functions.schema_generator").generate_schema


def sent_0623(schema: dict[str, Any], helpers: dict[str, Any]) -> dict[str, Any]:
    """build_openai_chat_completions_request, then prepare_openai_payload."""
    [function] = helpers["add_inner_thoughts_to_functions"]([schema], *INNER_THOUGHTS)
    dumped = {key: value for key, value in function.items() if value is not None}  # FunctionSchema, exclude_none
    try:
        return dict(helpers["convert_to_structured_output"](dumped))
    except ValueError:
        return dumped


def refused(exc: BaseException) -> dict[str, str]:
    return {"refused": f"{type(exc).__name__}: {exc}"}


def main(repo: str) -> None:
    logging.disable(logging.WARNING)  # 0.16.8 warns of every docstring not in Google style
    spec = importlib.util.spec_from_file_location("custom_tool_schemas", TOOLS)
    assert spec is not None and spec.loader is not None
    tools = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tools)
    functions = [value for name, value in vars(tools).items() if isinstance(value, types.FunctionType)]
    functions = [function for function in functions if function.__module__ == "custom_tool_schemas"]
    generate_0623, helpers = generator_0623(repo), helpers_0623(repo)
    with tempfile.TemporaryDirectory() as root:
        generate_0168 = generator_0168(repo, Path(root))
        schemas: dict[str, dict[str, Any]] = {}
        for function in functions:
            entry: dict[str, Any] = {}
            try:
                entry["letta-memgpt"] = sent_0623(generate_0623(function), helpers)
            except Exception as exc:
                entry["letta-memgpt"] = refused(exc)
            try:
                entry["letta-v1"] = generate_0168(function)
            except Exception as exc:
                entry["letta-v1"] = refused(exc)
            schemas[function.__name__] = entry
    OUT.write_text(json.dumps(schemas, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
