"""The `harness` command line. Exit codes: 0 ok, 1 a run failed, 2 a mistake in the user's files or flags."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from harness.config import DEFAULT_AGENTS_FILE, json_schema, load_agents
from harness.errors import HarnessError, UserError
from harness.store import DEFAULT_DB


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except HarnessError as exc:
        print(_error_text(exc), file=sys.stderr)
        return exc.exit_code if isinstance(exc, UserError) else 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def _error_text(exc: HarnessError) -> str:
    if isinstance(exc, UserError) and len(exc.problems) > 1:
        return f"error: {len(exc.problems)} problems\n" + "\n".join(f"  {p}" for p in exc.problems)
    return f"error: {exc}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="A YAML-configured testbed for LLM agents with editable memory (Letta/MemGPT style).",
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def agents_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--agents",
            default=DEFAULT_AGENTS_FILE,
            metavar="FILE",
            help=f"agents file (default: {DEFAULT_AGENTS_FILE})",
        )

    p = commands.add_parser("validate", help="check an agents file; exit 2 with located errors")
    agents_option(p)
    p.set_defaults(command=_validate)

    p = commands.add_parser("compile", help="print the exact system message the model would receive")
    p.add_argument("agent", metavar="AGENT")
    agents_option(p)
    p.add_argument("--tools", action="store_true", help="also print the tool schemas the model receives")
    p.set_defaults(command=_compile)

    p = commands.add_parser("chat", help="talk to an agent; its memory persists across restarts")
    p.add_argument("agent", metavar="AGENT")
    agents_option(p)
    p.add_argument("--db", default=DEFAULT_DB, metavar="FILE", help=f"state database (default: {DEFAULT_DB})")
    p.add_argument("--base-url", metavar="URL", help="override the agent's model endpoint")
    p.add_argument("--model", metavar="NAME", help="override the agent's model name")
    p.set_defaults(command=_chat)

    p = commands.add_parser("schema", help="print the JSON Schema of agents.yaml (for editors)")
    p.set_defaults(command=lambda _args: _print_json(json_schema()))
    return parser


def _print_json(value: object) -> int:
    print(json.dumps(value, indent=2))
    return 0


def _validate(args: argparse.Namespace) -> int:
    config = load_agents(args.agents)
    names = ", ".join(config.agents)
    print(f"{args.agents}: ok ({len(config.agents)} agents: {names})")
    return 0


def _compile(args: argparse.Namespace) -> int:
    spec = load_agents(args.agents).get(args.agent)
    print(spec.system_message(spec.new_memory()))
    if args.tools:
        print(json.dumps([tool.openai_schema() for tool in spec.tools], indent=2))
    return 0


def _chat(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from harness.agent import open_agent
    from harness.llm import OpenAIChatModel
    from harness.store import Store

    spec = load_agents(args.agents).get(args.agent)
    overrides = {k: v for k, v in (("base_url", args.base_url), ("name", args.model)) if v}
    if overrides:
        spec = replace(spec, model=replace(spec.model, **overrides))
    store = Store(args.db)
    agent = open_agent(spec, OpenAIChatModel(spec.model), store)
    print(
        f"{spec.name} ({agent.state.id}, {agent.turns} earlier turns) on {spec.model.name}; "
        "/memory shows the blocks, /quit or Ctrl-D ends",
        file=sys.stderr,
    )
    try:
        while True:
            try:
                text = input("you> ")
            except EOFError:
                print(file=sys.stderr)
                return 0
            if not text.strip():
                continue
            if text.strip() in ("/quit", "/exit"):
                return 0
            if text.strip() == "/memory":
                print(agent.memory.compile())
                continue
            result = agent.send(text)
            for step in result.steps:
                if step.content:
                    print(f"  ({step.content.strip()})", file=sys.stderr)
                for call in step.tool_calls:
                    status = "ok" if call.ok else "FAILED"
                    print(f"  -> {call.name}({call.arguments}) {status}: {call.result}", file=sys.stderr)
            for reply in result.replies:
                print(f"{spec.name}> {reply}")
            if result.stop_reason != "replied":
                print(f"  [turn ended: {result.stop_reason}]", file=sys.stderr)
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
