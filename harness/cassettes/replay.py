"""Replay at the floor: a cassette read straight from its file and a chat model that answers from it.

No openai SDK, no vcrpy, no HTTP: the replay model builds the very request body the live client sends
(`llm.chat.chat_request`), keys it as recording keyed it, finds the response in an index built when the
cassette opens, and parses it with the live client's own parser. A step costs the same however long the
cassette is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.cassettes.diff import nearest_recorded
from harness.cassettes.format import CassetteData, parse
from harness.cassettes.keys import Keyer, RequestKey
from harness.errors import CassetteError, CassetteMiss, LLMError, MissedRequest
from harness.llm.chat import ChatResponse, chat_request, parse_completion
from harness.llm.settings import ModelSettings, without_credentials
from harness.yamlsource import CASSETTE_LIMITS, read_text


class ReplayCassette:
    """A cassette open for replay: every recorded request indexed by key, each response played once.

    Only the keys and the responses are kept: the recorded request bodies are read again from the file
    text when a miss needs the nearest one, so a long cassette leaves few objects for the garbage
    collector to walk during the run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.exists = path.exists()
        self._text = ""
        data = CassetteData([])
        if self.exists:
            try:
                self._text = read_text(path, CASSETTE_LIMITS)
            except (OSError, ValueError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise CassetteError(
                    f"{path} is not a readable cassette ({reason}); restore it from version control, "
                    "or re-record it with `harness record --mode all`"
                ) from None
            data = parse(self._text, str(path))
        self.metadata = data.metadata
        self.responses = [interaction.response for interaction in data.interactions]
        self.played = [False] * len(self.responses)
        self._index: dict[RequestKey, list[int]] = {}
        recorded = Keyer()
        for position, interaction in enumerate(data.interactions):
            request = interaction.request
            path_part = urlsplit(request.uri).path
            key = recorded.key(request.method, path_part, request.body, request.message_texts)
            self._index.setdefault(key, []).append(position)
        self.keyer = Keyer()  # for the requests replayed: their messages are other objects

    def recorded_bodies(self) -> list[Any]:
        """Every recorded request body, decoded (read again from the file)."""
        return [i.request.body for i in parse(self._text, str(self.path)).interactions] if self._text else []

    @property
    def unplayed(self) -> list[int]:
        """Indexes of recorded interactions this run never replayed."""
        return [i for i, played in enumerate(self.played) if not played]

    @property
    def change(self) -> None:
        """Replay never writes."""
        return None

    @property
    def recorded_with(self) -> dict[str, Any]:
        value = self.metadata.get("recorded_with", {})
        return dict(value) if isinstance(value, dict) else {}

    def note_recording(self, settings: ModelSettings) -> None:
        """Nothing is recorded in replay."""

    def respond(self, method: str, path: str, body: Any) -> dict[str, Any]:
        """The recorded response to this request (vcrpy's response dict), or CassetteMiss."""
        for position in self._index.get(self.keyer.key(method, path, body), ()):
            if not self.played[position]:
                self.played[position] = True
                return self.responses[position]
        nearest = nearest_recorded(self.recorded_bodies(), self.played, body)
        raise CassetteMiss(str(self.path), MissedRequest(method, path, body), nearest)


class ReplayChatModel:
    """A `ChatModel` answering from a `ReplayCassette`, exactly as the live model would have."""

    def __init__(self, settings: ModelSettings, cassette: ReplayCassette) -> None:
        self.settings = settings
        self.cassette = cassette
        self.shown_url = without_credentials(settings.endpoint)

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> ChatResponse:
        body = chat_request(self.settings, messages, tools)
        response = self.cassette.respond("POST", self.settings.completions_path, body)
        code = response.get("status", {}).get("code", 200)
        text = response.get("body", {}).get("string", "")
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if not 200 <= int(code) < 300:
            raise LLMError(
                f"the model endpoint {self.shown_url} answered HTTP {code}: {' '.join(str(text).split())[:300]}"
            )
        try:
            data = json.loads(text)
        except ValueError:
            raise LLMError(
                f"the model endpoint {self.shown_url} answered with a body that is not JSON: {str(text)[:300]}"
            ) from None
        return parse_completion(data, self.shown_url)
