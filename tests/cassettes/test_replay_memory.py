"""Replay's memory grows with the conversation, not with its square: a request is keyed without keeping its
messages' canonical texts, even when each step's messages are new objects (as a simulated user's were)."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from harness.cassettes import format
from harness.cassettes.replay import ReplayCassette
from harness.llm.chat import chat_request
from harness.llm.settings import ModelSettings
from tests.fakes import completion

SETTINGS = ModelSettings(name="m", temperature=0.0)
MESSAGE = 20_000  # characters in each user message


def _texts(turns: int) -> list[str]:
    return [f"turn {n} " + "x" * MESSAGE for n in range(turns)]


def _conversation(texts: list[str], turns: int) -> list[dict[str, object]]:
    """The first `turns` messages as new dicts (the texts are shared), as a caller rebuilding them would send."""
    return [{"role": "system", "content": "You are a test."}] + [{"role": "user", "content": t} for t in texts[:turns]]


def _replay_peak(tmp_path: Path, turns: int) -> int:
    """The traced peak (bytes) of replaying a `turns`-step conversation, its cassette already open."""
    texts = _texts(turns)
    answer = json.dumps(completion(content="ok"))
    interactions = [
        {
            "request": {
                "method": "POST",
                "uri": "http://h/v1/chat/completions",
                "body": json.dumps(chat_request(SETTINGS, _conversation(texts, n + 1), [])),
            },
            "response": {"status": {"code": 200, "message": "OK"}, "body": {"string": answer}},
        }
        for n in range(turns)
    ]
    path = tmp_path / f"c{turns}.yaml"
    path.write_text(format.dump({"version": 1, "interactions": interactions}), encoding="utf-8")
    cassette = ReplayCassette(path)
    tracemalloc.start()
    try:
        for n in range(turns):
            body = chat_request(SETTINGS, _conversation(texts, n + 1), [])
            played = cassette.next_response("POST", "/v1/chat/completions", body)
            assert played is not None and json.loads(played[1]) == json.loads(answer)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_replaying_twice_the_turns_takes_about_twice_the_memory_not_four_times(tmp_path: Path) -> None:
    short, long = _replay_peak(tmp_path, 20), _replay_peak(tmp_path, 40)
    # Keeping each request's message texts held 20 KB x 210 (4.2 MB) against 20 KB x 820 (16.4 MB): x3.9.
    assert long < 2.5 * short, (short, long)
    assert long < 40 * MESSAGE, long  # not even one copy of the conversation's 40 messages
