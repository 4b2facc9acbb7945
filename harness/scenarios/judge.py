"""The LLM judge behind the `judge:` check: a model call through the scenario's own cassette.

The judge's request goes through the same cassette as the agent's, so it is recorded once and replayed
offline like any other exchange: the rubric, the judged text and the judge model are all in the recorded
request, so changing any of them makes the replay miss with a diff, as a changed agent does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from harness import jsontext
from harness.config import AgentSpec
from harness.llm.chat import ChatModel
from harness.scenarios.checks import Verdict

INSTRUCTIONS = (
    "You are a strict evaluator. You are given a rubric and a text. Decide how well the text meets the "
    "rubric. Answer with one JSON object and nothing else: "
    '{"score": <a number from 0 (does not meet it at all) to 1 (fully meets it)>, "reason": "<one sentence>"}'
)
_OBJECT = re.compile(r"\{.*\}", re.S)


@dataclass
class LLMJudge:
    """`models(spec)` gives the chat model for a spec, answering through the scenario's cassette."""

    spec: AgentSpec
    models: Callable[[AgentSpec], ChatModel]

    def __call__(self, rubric: str, text: str, what: str, model: str | None) -> Verdict:
        settings = replace(self.spec.model, name=model or self.spec.model.name, temperature=0.0)
        chat = self.models(replace(self.spec, model=settings))
        messages = [
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": f"Rubric: {rubric}\n\nText ({what}):\n{text}"},
        ]
        answer = chat.complete(messages, [])
        return replace(parse_verdict(answer.content or ""), model=settings.name)


def parse_verdict(content: str) -> Verdict:
    """The judge's JSON verdict; an answer that is not one scores 0 with the answer as the reason (a small
    model may wrap the object in prose or a code fence: the first {...} is taken). A score outside 0..1 is
    not one either: small models often answer on a scale of 10, and a 3 clamped to 1 passed any threshold."""
    match = _OBJECT.search(content)
    try:
        data = jsontext.loads(match.group()) if match else None
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("score"), int | float) and not isinstance(data["score"], bool):
        score = float(data["score"])
        reason = str(data.get("reason", "")).strip() or "(no reason given)"
        if 0.0 <= score <= 1.0:
            return Verdict(score, reason)
        return Verdict(
            0.0, f"the judge's answer is not a verdict: its score {data['score']!r} is not from 0 to 1 ({reason})"
        )
    shown = " ".join(content.split())
    return Verdict(0.0, f"the judge's answer is not a verdict: {shown[:200]!r}")
