"""The package's structure, checked: imports run one way (no cycles), and each entry point loads only what
it needs (replay never loads the openai SDK or vcrpy; loading the pytest plugin loads nothing heavy)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "harness"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every harness module `path` imports, at any level (module, TYPE_CHECKING block or function)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("harness")}


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: imports_of(path) & (modules.keys() - {name, "harness"}) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_imports() -> None:
    graph = import_graph()
    assert "harness.config" in graph["harness.agent"]
    assert "harness.tools.context" in graph["harness.tools.builtin"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def layout_layers() -> dict[str, int]:
    """README's Layout, read as data: each listed module or package and the line (layer) it is on, top
    first. A line lists `harness/x.py`, more files of the same folder (`report_md.py`) or a package
    (`harness/scenarios/`)."""
    layout = (ROOT / "README.md").read_text(encoding="utf-8").split("## Layout", 1)[1]
    layers: dict[str, int] = {}
    lines = [line for line in layout.splitlines() if line.startswith("    harness/")]
    for layer, line in enumerate(lines):
        folder = "harness"
        for entry in line.strip().split("  ")[0].split(", "):
            path = entry if entry.startswith("harness/") else f"{folder}/{entry}"
            folder = path.rstrip("/").rsplit("/", 1)[0] if path.endswith(".py") else path.rstrip("/")
            layers[path.rstrip("/").removesuffix(".py").replace("/", ".")] = layer
    return layers


def layer_of(module: str, layers: dict[str, int]) -> tuple[str, int] | None:
    """The most specific Layout entry holding `module` (harness.loops.kinds has a line of its own)."""
    parts = module.split(".")
    while len(parts) > 1:
        name = ".".join(parts)
        if name in layers:
            return name, layers[name]
        parts.pop()
    return None


def test_the_layout_reads_its_entries() -> None:
    layers = layout_layers()
    assert layers["harness.cli"] == layers["harness.pytest_plugin"] == 0
    assert layers["harness.report_html"] == layers["harness.report_md"]
    assert layers["harness.context_window"] == layers["harness.summarizer"]
    assert layer_of("harness.loops.kinds", layers) == ("harness.loops.kinds", layers["harness.clock"])
    assert layer_of("harness.loops.letta_v1", layers) == ("harness.loops", layers["harness.loops"])
    assert max(layers.values()) == layers["harness.files"]


def test_every_module_imports_only_what_the_layout_lists_below_it() -> None:
    """README's Layout is the architecture: a module imports modules on lines below its own (or its own
    line's), never above. The bottom (files.py) and errors.py import nothing from the harness."""
    layers = layout_layers()
    graph = import_graph()
    unlisted = sorted(name for name in graph if name != "harness" and layer_of(name, layers) is None)
    assert unlisted == [], "modules the Layout does not list"
    upward = []
    for module, imported in sorted(graph.items()):
        if module == "harness":
            continue
        (entry, layer) = layer_of(module, layers) or ("", 0)
        for target in sorted(imported):
            (target_entry, target_layer) = layer_of(target, layers) or ("", 0)
            if target_entry != entry and target_layer < layer:
                upward.append(f"{module} -> {target}")
    assert upward == []
    assert graph["harness.files"] == graph["harness.errors"] == set()


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("harness.agent", "harness.store"),  # the loop writes to a journal, never to the store itself
        ("harness.store", "harness.agent"),  # the store takes ids and records, not the live agent
        ("harness.tools.builtin", "harness.agent"),  # tools see AgentState, beside them
        ("harness.llm.settings", "harness.config"),  # model settings belong to the LLM layer
        ("harness.cassettes.replay", "harness.cassettes.recording"),  # replay never reaches vcrpy
    ],
)
def test_layers_do_not_reach_up(lower: str, upper: str) -> None:
    assert upper not in import_graph()[lower]


def loaded_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running `code`."""
    probe = f"import sys\n{code}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_replay_never_loads_the_sdk_or_vcrpy() -> None:
    loaded = loaded_after(
        "from harness.cli import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['run', '--agents', 'agents.yaml']) == 0"
    )
    assert "harness" in loaded and "pydantic" in loaded
    assert not loaded & {"openai", "vcr", "httpx2", "httpcore2"}


def test_help_validate_and_compile_load_neither() -> None:
    parser_only = loaded_after("from harness.cli.parser import build_parser\nbuild_parser()")
    assert not parser_only & {"pydantic", "openai", "vcr", "yaml"}
    assert "email" not in parser_only  # importlib.metadata (and email) only for --version
    loaded = loaded_after(
        "from harness.cli import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['validate']); main(['compile', 'chat'])"
    )
    assert not loaded & {"openai", "vcr", "httpx2"}


def test_loading_the_pytest_plugin_loads_nothing_heavy() -> None:
    loaded = loaded_after("import harness.pytest_plugin")
    assert not loaded & {"pydantic", "openai", "vcr", "yaml", "httpx2", "docstring_parser"}
