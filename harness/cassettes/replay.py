"""Replay at the floor: a cassette read straight from its file, and the chat and embedding models that answer
from it.

No openai SDK, no vcrpy, no HTTP: the replay model builds the very request body the live client sends
(`llm.chat.chat_request`), keys it as recording keyed it, finds the response in an index built when the
cassette opens, and reads it with the live client's own `parse_answer` (an HTTP error or a malformed body
recorded gives the same outcome replayed). A step costs the same however long the cassette is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.cassettes.diff import (
    fingerprint_loop,
    loop_change,
    masked_secret,
    miss_cause,
    nearest_recorded,
    tool_result_change,
    unseen_difference,
)
from harness.cassettes.encodings import Undecodable, content_encodings, decoded
from harness.cassettes.format import (
    CALL_IDS_KEY,
    FINGERPRINT_KEY,
    CassetteData,
    history_call_ids,
    interaction_line,
    parse,
    too_big,
)
from harness.cassettes.keys import Keyer, path_prefix
from harness.cassettes.scrub import SecretSent
from harness.errors import (
    CassetteError,
    CassetteKeyMismatch,
    CassetteMiss,
    LLMError,
    MissedRequest,
    NearestRecorded,
)
from harness.llm.chat import CallIds, ChatResponse, chat_request, parse_answer, retried
from harness.llm.embeddings import Vector, embedding_request, parse_embeddings
from harness.llm.settings import (
    CHAT_COMPLETIONS,
    EMBEDDINGS,
    EmbeddingSettings,
    ModelSettings,
    ToolChoice,
    without_credentials,
)
from harness.yamlsource import CASSETTE_LIMITS, read_text


class ReplayCassette:
    """A cassette open for replay: every recorded request indexed by key, each response played once.

    Only the keys and each response's status and body text are kept: the recorded request bodies are read
    again from the file text when a miss needs the nearest one, so a long cassette leaves few objects for
    the garbage collector to walk during the run. A cassette stores each request's key (`keys.digest`)
    beside its body, so opening one decodes no request body at all; one without keys is keyed from its
    bodies."""

    def __init__(self, path: Path, *, verify: bool = False, shown: str | None = None) -> None:
        """`verify`: also check every stored request key against its body (`harness cassettes check`);
        replay trusts the keys, so a body edited by hand and its key no longer agree. `shown`: the path as
        messages name it (from the project's root, as reports do), `path` by default."""
        self.path = path
        self.shown = str(path) if shown is None else shown
        self.exists = True
        self._text = ""
        data = CassetteData([])
        try:
            self._text = read_text(path, CASSETTE_LIMITS)
        except (FileNotFoundError, NotADirectoryError):  # not recorded (yet): every request misses
            self.exists = False
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise CassetteError(path, f"not a readable cassette ({reason})") from None
        if self.exists:
            data = parse(self._text, str(path), keys_only=not verify)
        self.metadata = data.metadata
        self.answers: list[tuple[int, str]] = []
        for position, each in enumerate(data.interactions):
            try:
                self.answers.append(recorded_answer(each.response))
            except Undecodable as exc:
                line = interaction_line(self._text, position)
                at = f"interaction {position}" + (f" (line {line})" if line is not None else "")
                raise CassetteError(path, f"a cassette this Python cannot replay ({at}: {exc})") from None
        self.played = [False] * len(self.answers)
        # Which tool-call ids its history holds, when its metadata does not say: told from the bodies when
        # they were read (a plain vcrpy cassette; a harness cassette with keys is from before provider ids).
        self._told_call_ids = (
            history_call_ids([each.request.body for each in data.interactions], [text for _, text in self.answers])
            if CALL_IDS_KEY not in self.metadata
            else None
        )
        self._index: dict[str, int] = {}  # each key's first recording
        self._repeats: dict[str, list[int]] = {}  # a key's later recordings (a retried request), in order
        self.prefixes: set[str] = set()  # the base URL paths it was recorded through
        self.uris = [each.request.uri for each in data.interactions]  # where each answer came from
        self.last_played: int | None = None  # the interaction the last answer played is
        try:
            self._index_keys(data, verify)
        except MemoryError:  # keyed from its bodies in a process allowed little memory: as `format.parse` says it
            raise CassetteError(path, too_big(self._text)) from None
        self.keyer = Keyer()  # for the requests replayed: their messages are other objects

    def _index_keys(self, data: CassetteData, verify: bool) -> None:
        """Each recorded request's key (stored, or computed from its body) -> where it was recorded."""
        recorded = Keyer()
        for position, interaction in enumerate(data.interactions):
            request = interaction.request
            path_part = urlsplit(request.uri).path
            self.prefixes.add(path_prefix(path_part))
            key = request.key
            if key is None or verify:  # a cassette from before stored keys (or one being checked)
                computed = recorded.digest(request.method, path_part, request.body, request.message_texts)
                if verify and key is not None and key != computed:
                    raise CassetteKeyMismatch(self.path, position)
                key = computed
            if key not in self._index:
                self._index[key] = position
            else:
                self._repeats.setdefault(key, []).append(position)

    def recorded_fingerprint(self) -> Any:
        """The agent fingerprint stored with the recording (`metadata.agent`), read from the file again:
        opening a cassette for replay leaves it out."""
        return parse(self._text, str(self.path)).metadata.get(FINGERPRINT_KEY) if self._text else None

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

    @property
    def call_ids(self) -> CallIds:
        """The tool-call ids the recording put in history: as its metadata says; a cassette that does not
        say holds the ones its requests send back (`format.history_call_ids`: a plain vcrpy cassette holds the
        provider's), else it is from before provider ids were kept."""
        try:
            return CallIds(self.metadata.get(CALL_IDS_KEY, self._told_call_ids or CallIds.LOCAL))
        except ValueError:
            return CallIds.LOCAL

    def note_recording(
        self, settings: ModelSettings, agent: dict[str, Any] | None = None, repeats: int | None = None
    ) -> None:
        """Nothing is recorded in replay."""

    def secrets_sent(self) -> list[SecretSent]:
        """Nothing is recorded in replay, so nothing is masked."""
        return []

    def respond(self, method: str, path: str, body: Any) -> tuple[int, str]:
        """The recorded answer to this request (its status and body text), or CassetteMiss."""
        answer = self.next_response(method, path, body)
        if answer is not None:
            return answer
        recorded = parse(self._text, str(self.path)) if self._text else CassetteData([])
        bodies = [each.request.body for each in recorded.interactions]
        nearest = nearest_recorded(bodies, self.played, body)
        miss = CassetteMiss(str(self.path), MissedRequest(method, path, body), nearest)
        secret = masked_secret(bodies[nearest.index], body) if nearest is not None else None
        if nearest is not None and secret is not None:  # the diff's lines would read the same: none is shown
            miss.nearest = NearestRecorded(nearest.index, ())
            miss.cause, notes = secret
            miss.notes += notes
        elif nearest is not None and nearest.diff:
            loop = fingerprint_loop(recorded.metadata)
            miss.cause = miss_cause(bodies[nearest.index], body, loop) or tool_result_change(
                bodies[nearest.index], body
            )
            miss.also = loop_change(bodies[nearest.index], body, loop)
            if unseen := unseen_difference(bodies[nearest.index], body):
                miss.notes.append(f"  note: {unseen}")
        if nearest is not None and not nearest.diff:  # the very request was recorded: its key is what differs
            miss.notes.append(
                f"  interaction {nearest.index} records this very request, but its stored `key` does not match "
                "its body (was the cassette edited by hand?): delete the cassette's `key:` lines (they are "
                "worked out from the bodies again when it is next saved), or re-record it"
            )
        prefix = path_prefix(path)
        if self.prefixes and prefix not in self.prefixes:
            paths = ", ".join(sorted(repr(p or "/") for p in self.prefixes))
            miss.notes.append(
                f"  recorded through the base URL path {paths}, replayed through {prefix or '/'!r}: "
                "requests match whatever the prefix, so that is not why this one missed"
            )
        raise miss

    def played_at(self) -> str | None:
        """Where the answer played last is in the file, `path:line, interaction N`, for an error about it."""
        if self.last_played is None:
            return None
        line = interaction_line(self._text, self.last_played)
        return f"{self.shown}{'' if line is None else f':{line}'}, interaction {self.last_played}"

    def next_response(self, method: str, path: str, body: Any) -> tuple[int, str] | None:
        """The next unplayed recorded answer to this request, marked played; None when there is none."""
        key = self.keyer.digest(method, path, body)
        first = self._index.get(key)
        if first is None:
            return None
        for position in [first, *self._repeats.get(key, [])]:
            if not self.played[position]:
                self.played[position] = True
                self.last_played = position
                return self.answers[position]
        return None


class ReplayChatModel:
    """A `ChatModel` answering from a `ReplayCassette`, exactly as the live model would have."""

    def __init__(self, settings: ModelSettings, cassette: ReplayCassette) -> None:
        self.settings = settings
        self.cassette = cassette
        self.shown_url = without_credentials(settings.endpoint)

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], tool_choice: ToolChoice | None = None
    ) -> ChatResponse:
        body = chat_request(self.settings, messages, tools, tool_choice)
        status, text = _replayed(self.cassette, self.settings.completions_path, body)
        shown = _recorded_endpoint(self.cassette, CHAT_COMPLETIONS, self.shown_url)
        try:
            return parse_answer(status, text, shown, self.settings.credential, self.settings.name)
        except LLMError:  # read again, to say where it was recorded (worked out only for an error)
            recorded = self.cassette.played_at()
            return parse_answer(status, text, shown, self.settings.credential, self.settings.name, recorded=recorded)


class ReplayEmbeddingModel:
    """An `EmbeddingModel` answering from a `ReplayCassette`: the vectors recorded with the scenario. A text
    (or model) the recording never embedded is a CassetteMiss with a diff, as a chat request is."""

    def __init__(self, settings: EmbeddingSettings, cassette: ReplayCassette) -> None:
        self.settings = settings
        self.cassette = cassette
        self.shown_url = without_credentials(settings.endpoint)

    def embed(self, texts: list[str]) -> list[Vector]:
        body = embedding_request(self.settings, texts)
        status, text = _replayed(self.cassette, self.settings.embeddings_path, body)
        shown = _recorded_endpoint(self.cassette, EMBEDDINGS, self.shown_url)
        settings = self.settings
        try:
            return parse_embeddings(
                status, text, shown, len(texts), settings.credential, settings.dimensions, settings.name
            )
        except LLMError:  # read again, to say where it was recorded (worked out only for an error)
            recorded = self.cassette.played_at()
            return parse_embeddings(
                status,
                text,
                shown,
                len(texts),
                settings.credential,
                settings.dimensions,
                settings.name,
                recorded=recorded,
            )


def _recorded_endpoint(cassette: ReplayCassette, operation: str, configured: str) -> str:
    """The endpoint that answered what was just played, as the recording named it (an error quotes it):
    the recorded request's URL without the operation, credentials or query. The agents file's own when it is
    that one (its spelling, a trailing `/` kept), so a replay says what the recording said."""
    if cassette.last_played is None:
        return configured
    recorded = without_credentials(cassette.uris[cassette.last_played]).removesuffix("/" + operation)
    return configured if recorded.rstrip("/") == configured.rstrip("/") else recorded


def _replayed(cassette: ReplayCassette, path: str, body: Any) -> tuple[int, str]:
    """The recorded answer to `body`; after a status the SDK retries, the recorded retries, as the live
    client consumed them. All of them, whatever `max_retries` says now: a recording keeps only retries
    that ended in an answer, and how many the client may make is no part of what the model was asked."""
    status, text = cassette.respond("POST", path, body)
    while retried(status):
        again = cassette.next_response("POST", path, body)
        if again is None:
            break
        status, text = again
    return status, text


def recorded_answer(response: dict[str, Any]) -> tuple[int, str]:
    """A recorded response (vcrpy's dict, as `format.parse` reads and checks it: an integer `status.code`,
    a text or bytes `body.string`) as the status and body text replayed: bytes are decoded by their
    `Content-Encoding` first, as the live client's httpx decodes them (vcrpy keeps an answer compressed
    unless told otherwise), then as UTF-8. Undecodable (`encodings`) when they cannot be."""
    text = response["body"]["string"]
    if not isinstance(text, bytes):
        return response["status"]["code"], text
    codings = content_encodings(response.get("headers") or {})
    if codings:
        text = decoded(text, codings, CASSETTE_LIMITS.max_scalar)
    return response["status"]["code"], text.decode("utf-8", "replace")
