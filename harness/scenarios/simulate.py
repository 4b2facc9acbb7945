"""A simulated user: a model plays the user from a persona and a goal, through the scenario's cassette.

Its requests are recorded with the agent's and replayed offline, so a simulated conversation replays
byte for byte: the simulator sees the conversation with the roles swapped (the agent's replies are its
user messages) and ends it with `###STOP###`, as tau2-bench's user simulator does. Only that ends it quietly:
an answer with no text (a tool call, an answer cut off or refused) is the simulator misbehaving, and says so.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from harness.config import AgentSpec
from harness.llm.chat import ChatModel, ChatResponse
from harness.scenarios.model import Simulation

STOP = "###STOP###"
INSTRUCTIONS = (
    "You are playing a user talking to an AI assistant. Stay in character and write only the user's next "
    "message, short and natural, with no explanations.\n\n"
    "Who you are: {persona}\n\nWhat you want: {goal}\n\n"
    f"When you have what you want, or the conversation cannot go on, reply with exactly {STOP}."
)
OPENING = "(The conversation starts. Write your first message to the assistant.)"


class NoMessage(Exception):
    """The simulator's model answered without a message and without `###STOP###`: read as a stop, a tool
    call or a cut-off answer ended the conversation early and the scenario passed with nothing saying why.
    The text says what it sent instead."""


def _sent_instead(answer: ChatResponse) -> str:
    """What an answer with no text held: its finish_reason, tool calls, refusal or blank content."""
    said = [f"finish_reason {answer.finish_reason!r}"]
    if answer.content is not None and answer.content != "":
        said.append(f"only blank text {answer.content[:40]!r}")
    if answer.refusal:
        said.append(f"a refusal {' '.join(answer.refusal.split())[:200]!r}")
    calls = [f"{call.name}({' '.join(call.arguments.split())[:200]})" for call in answer.tool_calls[:3]]
    if calls:
        more = f" and {len(answer.tool_calls) - 3} more" if len(answer.tool_calls) > 3 else ""
        said.append(f"{'a tool call' if len(calls) == 1 else 'tool calls'} " + ", ".join(calls) + more)
    return "; ".join(said)


@dataclass
class SimulatedUser:
    simulation: Simulation
    spec: AgentSpec
    models: Callable[[AgentSpec], ChatModel]

    _built: list[dict[str, object]] = field(default_factory=list, init=False, repr=False)
    _seen: list[tuple[str, str | None]] = field(default_factory=list, init=False, repr=False)

    def _messages(self, exchanges: list[tuple[str, str | None]]) -> list[dict[str, object]]:
        """The conversation as the simulator sees it, roles swapped. The messages built for the exchanges
        it saw before are the same objects again (the conversation only grows), so a replay keys each
        message once (`keys.Keyer`) rather than the whole conversation at every turn."""
        system = INSTRUCTIONS.format(persona=self.simulation.persona, goal=self.simulation.goal)
        kept = len(self._seen) <= len(exchanges) and all(map(operator.is_, self._seen, exchanges))
        if not (kept and self._built and self._built[0]["content"] == system):
            self._built = [{"role": "system", "content": system}, {"role": "user", "content": OPENING}]
            self._seen = []
        for sent, reply in exchanges[len(self._seen) :]:
            self._built.append({"role": "assistant", "content": sent})
            self._built.append({"role": "user", "content": reply or "(no reply)"})
        self._seen = list(exchanges)
        return list(self._built)

    def next_message(self, exchanges: list[tuple[str, str | None]]) -> str | None:
        """The user's next message after `exchanges` (user message, agent reply), or None to stop (it said
        `###STOP###`); NoMessage when its model answered with no text."""
        if not exchanges and self.simulation.first_message is not None:
            return self.simulation.first_message
        settings = replace(self.spec.model, name=self.simulation.model or self.spec.model.name)
        chat = self.models(replace(self.spec, model=settings))
        answer = chat.complete(self._messages(exchanges), [])
        text = (answer.content or "").strip()
        if STOP in text:
            return None
        if not text:
            raise NoMessage(f"its model answered with no text ({_sent_instead(answer)})")
        return text
