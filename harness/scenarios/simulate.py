"""A simulated user: a model plays the user from a persona and a goal, through the scenario's cassette.

Its requests are recorded with the agent's and replayed offline, so a simulated conversation replays
byte for byte: the simulator sees the conversation with the roles swapped (the agent's replies are its
user messages) and ends it with `###STOP###`, as tau2-bench's user simulator does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from harness.config import AgentSpec
from harness.llm.chat import ChatModel
from harness.scenarios.model import Simulation

STOP = "###STOP###"
INSTRUCTIONS = (
    "You are playing a user talking to an AI assistant. Stay in character and write only the user's next "
    "message, short and natural, with no explanations.\n\n"
    "Who you are: {persona}\n\nWhat you want: {goal}\n\n"
    f"When you have what you want, or the conversation cannot go on, reply with exactly {STOP}."
)
OPENING = "(The conversation starts. Write your first message to the assistant.)"


@dataclass
class SimulatedUser:
    simulation: Simulation
    spec: AgentSpec
    models: Callable[[AgentSpec], ChatModel]

    def next_message(self, exchanges: list[tuple[str, str | None]]) -> str | None:
        """The user's next message after `exchanges` (user message, agent reply), or None to stop."""
        if not exchanges and self.simulation.first_message is not None:
            return self.simulation.first_message
        settings = replace(self.spec.model, name=self.simulation.model or self.spec.model.name)
        chat = self.models(replace(self.spec, model=settings))
        system = INSTRUCTIONS.format(persona=self.simulation.persona, goal=self.simulation.goal)
        messages: list[dict[str, object]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": OPENING},
        ]
        for sent, reply in exchanges:
            messages.append({"role": "assistant", "content": sent})
            messages.append({"role": "user", "content": reply or "(no reply)"})
        answer = chat.complete(messages, [])
        text = (answer.content or "").strip()
        if not text or STOP in text:
            return None
        return text
