"""`harness chat` and `harness memory`: one agent talked to, its memory persisted in the state database
across restarts, and shown from it."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING, Any, TextIO

from harness.cli.console import Console
from harness.cli.options import project_of
from harness.jsontext import inert

if TYPE_CHECKING:
    from pathlib import Path

    from harness.llm.chat import ChatModel, ChatResponse
    from harness.llm.settings import ToolChoice
    from harness.project import Project


def memory_command(args: argparse.Namespace, console: Console) -> int:
    from harness.errors import HarnessError, UserError
    from harness.factory import AgentFactory
    from harness.files import unreachable_reason
    from harness.store import Store

    project = project_of(args)
    with contextlib.suppress(HarnessError):  # the database was masked as written; this only adds to it
        console.learn(AgentFactory(project))
    db = project.as_given(project.state_db)
    unreachable = unreachable_reason(project.state_db)
    if unreachable is not None:
        raise UserError(f"{db}: {unreachable}")
    if not project.state_db.exists():
        older = older_default(args, project)
        if older is not None:
            raise UserError(
                f"{db}: no state database here (the default since 2026-11-24, beside the agents file); there is one "
                f"at {older}, where the harness kept it before: give --db {older}"
            )
        raise UserError(f"{db}: no state database here (give --db, or start one with `harness chat`)")
    if args.agent is not None and args.block is not None:
        raise UserError(
            f"give an AGENT name or --block ID, not both ('{inert(args.agent)}' and --block '{inert(args.block)}')"
        )
    if args.agent is None and args.block is None:
        raise UserError("give an AGENT name or --block ID")
    store = Store(project.state_db, console.secrets, read_only=True, shown=db)  # shows, never changes (migrates) it
    try:
        if args.block is not None:
            block = store.get_block(args.block)
            if block is None:  # as an unknown agent: the id given is the mistake
                raise UserError(f"{db}: no block with id '{args.block}' is persisted here")
            blocks = [block]
        else:
            agent_id = store.find_agent(args.agent)
            if agent_id is None:
                raise UserError(f"{db}: no agent named '{inert(args.agent)}' has been persisted here")
            blocks = store.get_core_memory(agent_id).get_blocks()
    finally:
        store.close()
    for block in blocks:
        flags = ", read-only" if block.read_only else ""
        # a label the model chose is any text, as its value is: its controls are shown, not obeyed
        console.out(f"{inert(block.label)} ({block.id}, {len(block.value)}/{block.limit} characters{flags})")
        console.out("  " + inert(block.value).replace("\n", "\n  "))
    return 0


def chat_command(args: argparse.Namespace, console: Console) -> int:
    from harness.errors import RunError
    from harness.factory import AgentFactory
    from harness.store import Store

    if sys.stdin is None or sys.stdout is None:  # `<&-`, `>&-`: said before a session starts that cannot go on
        closed = "stdin, which it reads your messages from," if sys.stdin is None else "stdout, which it replies on,"
        raise RunError(f"`harness chat` cannot run with {closed} closed: give it a terminal, a file or a pipe")
    project = project_of(args)
    factory = AgentFactory(project)
    spec = factory.spec(args.agent)
    console.learn(factory)
    db = project.as_given(project.state_db)
    older = older_default(args, project)  # looked for before the Store makes the new default
    # the path checked (a folder, not SQLite...) before a lock
    store = Store(project.state_db, console.secrets, shown=db)
    lock_file = lock_path(project.state_db, spec.name)
    had_lock_file = lock_file.exists()
    try:
        lock = lock_agent(project.state_db, spec.name, db)
    except BaseException:
        store.close()
        raise
    try:
        model = factory.chat_model(spec)
        if sys.stderr.isatty():
            model = WaitingLine(model, sys.stderr)
        agent = factory.resume(spec, store, model=model)  # reads the agent: a damaged table is refused here
    except BaseException:  # refused: the lock file this run made goes too, the folder left as it was
        store.close()
        if not had_lock_file:
            lock_file.unlink(missing_ok=True)
        lock.close()
        raise
    if older is not None:  # said once the new database is open (a refusal says only what went wrong)
        console.err(
            f"note: no state database at {db} (the default since 2026-11-24, beside the agents file), but there is "
            f"one at {older}, where the harness kept it before: this chat starts a new one at {db}; to go on with "
            f"the agents kept there, give --db {older}"
        )
    console.err(
        f"{spec.name} ({agent.state.id}, {agent.turns} earlier turns) on {spec.model.name}; "
        "/memory shows the blocks, /quit or Ctrl-D ends"
    )
    from harness.context_window import describe
    from harness.errors import LLMError, UnknownModel
    from harness.records import StopReason

    failed = 0  # a turn the endpoint failed: the session goes on, and ends with exit code 1 (2: a model name)
    try:
        while console.lost is None:  # the replies can no longer be shown: `main` says why
            line = _next_line(console)
            if line is None:
                if console.lost is None:  # the end of stdin (Ctrl-D)
                    console.err()
                return failed
            text = _as_typed(line)
            if not text.strip():
                continue
            bad = _undecodable(text)
            if bad is not None:
                console.err(f"  that line is not UTF-8 ({bad}); nothing was sent or saved: type it again")
                continue
            if text.strip() in ("/quit", "/exit"):
                return failed
            if text.strip() == "/memory":
                console.out(inert(agent.memory.compile()))
                continue
            try:
                result = agent.send(text)
            except LLMError as exc:  # down, rate-limited, an answer it cannot use: one turn, not the session
                failed = max(failed, 2 if isinstance(exc, UnknownModel) else 1)
                console.err(f"error: {inert(str(exc))}")
                console.err("  (that turn ended there; type a message to go on, /quit or Ctrl-D ends)")
                continue
            for step in result.steps:  # what the model and its tools wrote: shown, never obeyed
                for event in step.context:  # a warning, an eviction (its summary is the model's: not shown)
                    console.err(f"  [{describe(event)}]")
                if step.content:
                    console.err(f"  ({inert(step.content.strip())})")
                for call in step.tool_calls:
                    said = "ok (returned None)" if call.ok and call.result == "None" else None  # as failures say it
                    said = said or f"{'ok' if call.ok else 'FAILED'}: {call.result}"
                    console.err(inert(f"  -> {call.name}({call.arguments}) {said}"))
            for reply in result.replies:
                console.out(f"{spec.name}> {inert(reply)}")
            if result.stop_reason != StopReason.REPLIED:
                console.err(f"  [turn ended: {result.stop_reason}]")
    finally:
        store.close()
        lock.close()
    return failed


PROMPT = "you> "


def _next_line(console: Console) -> str | None:
    """The user's next line, or None at the end of stdin or when the prompt could not be shown. On a
    terminal `input` shows the prompt (its line editing redraws it); elsewhere the console writes it, as
    it writes the replies: `input` drops an error flushing its prompt (a full disk went unsaid)."""
    terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if not terminal:
        console.out(PROMPT, end="")
        if console.lost is not None:
            return None
    try:
        return input(PROMPT if terminal else "")
    except EOFError:
        return None


def _as_typed(line: str) -> str:
    """A line read from stdin as the user typed it: a stdin whose locale is not UTF-8 (`LC_ALL=C` with
    `PYTHONUTF8=0`) hands UTF-8 bytes over as lone surrogates, which are read again as UTF-8 when they are.
    Bytes that are UTF-8 in no way stay as they were (`_undecodable` says where)."""
    if line.isascii() or not any("\udc80" <= char <= "\udcff" for char in line):
        return line
    try:
        return line.encode(sys.stdin.encoding or "utf-8", "surrogateescape").decode("utf-8")
    except (UnicodeError, LookupError):
        return line


def older_default(args: argparse.Namespace, project: Project) -> str | None:
    """The database the harness of 2026-11-23 used by default (`.harness/state.db` in the folder it ran in),
    as typed, when no --db is given, the default (beside the agents file) does not exist and that one does:
    a chat from another folder than the agents file's would otherwise silently start its agents afresh."""
    import os
    from pathlib import Path

    from harness.project import DEFAULT_STATE_DB

    # os.path's tests are False, not PermissionError, behind a folder it may not enter: the store says that
    if getattr(args, "db", None) is not None or os.path.exists(project.state_db):
        return None
    older = Path(DEFAULT_STATE_DB)
    if not os.path.isfile(older) or os.path.realpath(older) == os.path.realpath(project.state_db):
        return None
    return older.as_posix()


def _undecodable(text: str) -> str | None:
    """Where a line read from stdin was not UTF-8 (Python hands its bytes over as lone surrogates), or None."""
    for column, char in enumerate(text, start=1):
        if "\udc80" <= char <= "\udcff":
            return f"byte 0x{ord(char) - 0xDC00:02x} at column {column}"
    return None


def lock_path(db: Path, name: str) -> Path:
    """The lock file of agent `name` on `db`: beside the file, one for it whichever link names it."""
    import os
    from pathlib import Path

    real = Path(os.path.realpath(db))
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return real.parent / f"{real.name}.{safe}.lock"


def lock_agent(db: Path, name: str, shown: str | None = None) -> TextIO:
    """One `harness chat` per agent and database at a time: two would interleave their histories and lose
    each other's memory edits. The lock is the OS's (flock), so it goes away with the process. `shown`:
    the database as messages name it (`db` when not given)."""
    import fcntl
    import os

    from harness.errors import RunError

    try:
        lock = open(lock_path(db, name), "a+", encoding="utf-8")  # noqa: SIM115 - held to the end
    except OSError as exc:
        raise RunError(
            f"cannot lock agent '{name}' on {shown or db}: {exc.strerror or exc} (`harness chat` keeps a lock file "
            "beside the database: give --db a file in a folder it can write to)"
        ) from None
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise RunError(
            f"agent '{name}' is in use by another `harness chat` ({holder}) on {shown or db}; end that one first"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()}")
    lock.flush()
    return lock


class WaitingLine:
    """A chat model that shows a live `waiting for the model... 3 s` line on a terminal while it waits:
    a local model takes seconds a step, and a silent terminal looks hung."""

    def __init__(self, model: ChatModel, stream: TextIO, interval: float = 1.0) -> None:
        self.model = model
        self.stream = stream
        self.interval = interval

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice | None = None
    ) -> ChatResponse:
        import threading
        import time

        done = threading.Event()
        started = time.monotonic()

        def show() -> None:
            while not done.wait(self.interval):
                self.stream.write(f"\r  waiting for the model... {time.monotonic() - started:.0f} s")
                self.stream.flush()

        thread = threading.Thread(target=show, daemon=True)
        thread.start()
        try:
            if tool_choice is None:  # a model written before tool_choice existed takes two arguments
                return self.model.complete(messages, tools)
            return self.model.complete(messages, tools, tool_choice)
        finally:
            done.set()
            thread.join()
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
