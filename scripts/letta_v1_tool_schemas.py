"""Write Letta 0.16.8's own tool schemas for its base tools: tests/conformance/letta-0.16.8-tool-schemas.json.

Opt-in, never run by tests or CI. Runs Letta's `generate_schema` (letta/functions/schema_generator.py) on
the functions of letta/functions/function_sets/base.py, both taken from a clone of letta-ai/letta at a
tag, with nothing of Letta installed: only `letta.log` and the MCP types it imports are stubbed (neither
takes part in a schema). tests/test_loops.py compares the harness's letta-v1 schemas with the result.

    python scripts/letta_v1_tool_schemas.py PATH/TO/letta [TAG]     # TAG defaults to 0.16.8

Run it with Python 3.11 or 3.12, as Letta's server image runs 3.11: from 3.13 `__doc__` loses its
indentation, which changes the `Examples:` text Letta appends.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's harness, run from anywhere

from harness.tools.builtin import BUILTIN_TOOLS

# The harness's built-ins, less the one Letta's base.py no longer defines at 0.16.8 (MemGPT's date search).
TOOLS = tuple(name for name in BUILTIN_TOOLS if name != "conversation_search_date")
SOURCES = ("letta/constants.py", "letta/functions/schema_generator.py", "letta/functions/function_sets/base.py")
STUBS = {
    "letta/__init__.py": "",
    "letta/functions/__init__.py": "",
    "letta/functions/function_sets/__init__.py": "",
    "letta/functions/mcp_client/__init__.py": "",
    "letta/functions/mcp_client/types.py": "class MCPTool: pass\n",
    "letta/log.py": "import logging\n\n\ndef get_logger(name):\n    return logging.getLogger(name)\n",
}


def main(repo: str, tag: str = "0.16.8") -> None:
    out = Path(__file__).resolve().parent.parent / "tests" / "conformance" / f"letta-{tag}-tool-schemas.json"
    with tempfile.TemporaryDirectory() as root:
        for path, text in STUBS.items():
            (Path(root) / path).parent.mkdir(parents=True, exist_ok=True)
            (Path(root) / path).write_text(text)
        for path in SOURCES:
            shown = subprocess.run(["git", "-C", repo, "show", f"{tag}:{path}"], capture_output=True, check=True)
            (Path(root) / path).write_bytes(shown.stdout)
        sys.path.insert(0, root)
        generate_schema = importlib.import_module("letta.functions.schema_generator").generate_schema
        base = importlib.import_module("letta.functions.function_sets.base")
        schemas = {name: generate_schema(getattr(base, name)) for name in TOOLS}
    out.write_text(json.dumps(schemas, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    if not 2 <= len(sys.argv) <= 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
