"""A custom tool's source as Letta's sandbox runs it: its module's imports and helpers with it, nothing else."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from harness.agentfile.toolsource import tool_source


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Load `source` as a module (in sys.modules, as a tools module is), and return it."""

    def load(source: str) -> ModuleType:
        path = tmp_path / "letta_tools_under_test.py"
        path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, path.stem, module)
        spec.loader.exec_module(module)
        return module

    return load


def run_as_letta(source: str, name: str, **arguments: Any) -> Any:
    """What Letta's sandbox does (letta/services/tool_sandbox/base.py): its own lines, the source, the call."""
    scope: dict[str, Any] = {}
    exec("from typing import *\nagent_state = None\n" + source, scope)
    return scope[name](**arguments)


MODULE = '''
"""Tools."""
from __future__ import annotations

import json, os
import re
from typing import TYPE_CHECKING, Any, Dict  # noqa

from harness.tools.context import AgentState

if TYPE_CHECKING:
    from harness.memory import Memory

WORD = r"\\w+"  # what a word is
_cache: Dict[str, int] = {}


def _words(text: str) -> list[str]:
    return re.findall(WORD, text)


def count_words(agent_state: AgentState, text: str, memory: Memory | None = None) -> int:
    """Count the words of a text.

    Args:
        text: the text
    """
    return len(_words(text))


def other(x: str) -> str:
    """Another tool."""
    return json.dumps(os.sep) + str(_cache)


print("imported")
if __name__ == "__main__":
    other("x")
'''


def test_a_tool_takes_its_imports_and_helpers_and_nothing_else(load: Any) -> None:
    """The function alone raised NameError in Letta (`re`, `_words`); the whole module would bring the other
    tool and what runs at import, and `from __future__` after Letta's own lines is a SyntaxError."""
    source = tool_source(load(MODULE).count_words)
    assert source is not None and source.harness_names == []
    assert source.text == textwrap.dedent(
        '''\
        import re


        WORD = r"\\w+"  # what a word is


        def _words(text: str) -> list[str]:
            return re.findall(WORD, text)


        def count_words(agent_state: 'AgentState', text: str, memory: 'Memory | None' = None) -> int:
            """Count the words of a text.

            Args:
                text: the text
            """
            return len(_words(text))
        '''
    )
    assert run_as_letta(source.text, "count_words", agent_state=None, text="one two three") == 3


def test_evaluated_annotations_take_their_imports_and_harness_imports_are_left_out_or_reported(load: Any) -> None:
    module = load(
        '''
        from typing import Any, Dict, List  # noqa: F401
        from harness.tools.context import AgentState
        from harness.memory import DEFAULT_LIMIT


        def tally(agent_state: AgentState, counts: Dict[str, int]) -> int:
            """Tally.

            Args:
                counts: the counts
            """
            return sum(counts.values()) + DEFAULT_LIMIT
        '''
    )
    source = tool_source(module.tally)
    assert source is not None
    # an import is written as the module has it (its other names and comment too: the source unchanged)
    assert source.text.startswith(
        "from typing import Any, Dict, List  # noqa: F401\n\n\ndef tally(agent_state: AgentState, counts"
    )
    assert "harness" not in source.text  # Letta has AgentState in scope for a tool that takes agent_state
    assert source.harness_names == ["DEFAULT_LIMIT"]


def test_a_function_that_is_no_top_level_def_is_written_alone(load: Any) -> None:
    module = load(
        '''
        import re


        def make():
            def inner(text: str) -> int:
                """Inner.

                Args:
                    text: the text
                """
                return len(text)
            return inner


        tool = make()
        '''
    )
    source = tool_source(module.tool)
    assert source is not None and source.text.startswith("def inner(text: str) -> int:")
    assert run_as_letta(source.text, "inner", text="abc") == 3


def test_a_line_of_whitespace_alone_is_written_as_it_is(load: Any) -> None:
    """Inside a string literal it is part of the value: 'top\\n   \\nbottom' was exported as 'top\\n\\nbottom'."""
    banner = 'def banner(who: str) -> str:\n    """Return a banner.\n\n    Args:\n        who (str): who\n    """\n'
    banner += '    text = """top\n   \nbottom"""\n    return text + who\n'
    module = load("import re\n")  # the fixture's dedent would empty the line: the module is written here
    path = Path(module.__file__)
    path.write_text(banner, encoding="utf-8")
    module = load_again(path)
    source = tool_source(module.banner)
    assert source is not None and source.text == banner
    assert run_as_letta(source.text, "banner", who="!") == module.banner("!") == "top\n   \nbottom!"


def load_again(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # the fixture put it there, and takes it out again
    spec.loader.exec_module(module)
    return module


SECTIONS = '''\
from typing import Any, Dict, List, Literal, Optional, Tuple, Union  # noqa: F401, UP035

from harness.tools.context import AgentState  # noqa: F401


# a comment on the first tool
from typing import Literal, Optional
import re


def note(command: str, path: Optional[str] = None) -> str:
    """A note.

    Args:
        command: what
        path: where
    """
    result = re.sub("x", "y", command)
    return result + (path or "")


# Example usage:
if __name__ == "__main__":
    result = note("x")
    print(result)


def plain(text: Optional[str] = None) -> str:
    """Plain.

    Args:
        text: the text
    """
    return text or ""


from typing import Literal, Optional
import re


def vault(command: str, path: Optional[str] = None) -> str:
    """A vault.

    Args:
        command: what
        path: where
    """
    result = re.escape(command)
    return result
'''


def test_each_import_is_written_once_as_written_and_no_other_tool_s_code(load: Any) -> None:
    """A module of several tools' sources, as `harness import` writes agent_tools.py: `from typing import
    Optional` came out three times (once per statement binding it) and without `Literal`; a local `result`
    brought another tool's `if __name__ == "__main__":` block (run in Letta's sandbox) and that tool."""
    module = load(SECTIONS)
    vault = tool_source(module.vault)
    assert vault is not None and vault.harness_names == []
    assert vault.text == SECTIONS[SECTIONS.rindex("from typing import Literal") :]
    note = tool_source(module.note)
    assert note is not None
    own = SECTIONS[SECTIONS.index("from typing import Literal") : SECTIONS.index("\n\n\n# Example")]
    assert note.text == own + "\n"
    # what Letta puts in scope (agent_tools.py's first line says so) needs no import
    plain = tool_source(module.plain)
    assert plain is not None and plain.text.startswith("def plain(") and plain.harness_names == []
    assert run_as_letta(plain.text, "plain", text="t") == "t"


def test_a_statement_gets_the_binding_in_effect_where_it_runs(load: Any) -> None:
    """Each name one statement: the last binding before the one that reads it (which may read an earlier)."""
    module = load(
        '''
        LIMIT = 2
        LIMIT = LIMIT * 10


        def capped(n: int) -> int:
            """Capped.

            Args:
                n: the number
            """
            return min(n, LIMIT)
        '''
    )
    source = tool_source(module.capped)
    assert source is not None and source.text.startswith("LIMIT = 2\nLIMIT = LIMIT * 10\n\n\ndef capped(")
    assert run_as_letta(source.text, "capped", n=50) == 20
