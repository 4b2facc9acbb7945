"""Recording: the live model's traffic captured by vcrpy into a cassette (the only module importing vcrpy).

vcrpy patches the HTTP client the openai SDK uses, so what is recorded is what went over the wire. We
plug in through vcrpy's public extension points (serializer, persister, matcher, the cassette's request
and response filters) and subclass its `Cassette` for an index (pinned: vcrpy 9.4.x), so recording a long
conversation stays linear: vcrpy's own lookup runs the matcher over every recorded interaction for every
request. Our filters build what is kept rather than edit a deep copy of what was sent, and secrets are
masked by the serializer: vcrpy's own filter chain and its `before_save_interaction` deep-copy every
request and interaction, a long conversation's bodies included.

- A recording that breaks off saves nothing, and saves are atomic (a temporary file, fsync, rename): a good
  cassette is never lost. A new file gets the mode the umask gives; a rewritten one keeps its mode.
- Mode `new` replays what still matches, records what is missing, and drops what was not asked for, so a
  cassette never keeps stale exchanges that would let it pass for an old and a new config alike.
- Only `content-type` headers are kept, and secrets (`harness.secrets`) are masked in URIs, bodies and
  metadata as the cassette is saved: in memory the session keeps what went over the wire, so a request
  echoing a secret still matches its own recording within the session.
- The cassette's `metadata.recorded_with` names the model and the kind of endpoint that produced it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import vcr
import vcr.errors
import vcr.filters
import vcr.serialize
from vcr.cassette import Cassette
from vcr.persisters.filesystem import CassetteNotFoundError, FilesystemPersister
from vcr.record_mode import RecordMode
from vcr.request import Request

from harness.cassettes import format
from harness.cassettes.encodings import Undecodable, decompress_zstd
from harness.cassettes.format import CALL_IDS_KEY, FINGERPRINT_KEY, history_call_ids
from harness.cassettes.keys import Keyer, decode_body
from harness.cassettes.mode import CassetteChange
from harness.cassettes.mode import RecordMode as HarnessRecordMode
from harness.cassettes.repeats import REPEATS_KEY
from harness.cassettes.replay import recorded_answer
from harness.cassettes.scrub import (
    SecretSent,
    SecretsSent,
    endpoint_kind,
    header_secrets,
    kept_headers,
    masked_body,
    masked_response,
)
from harness.errors import CassetteError, OutputError
from harness.files import cannot_write, write_atomically
from harness.fingerprint import agents_changes
from harness.llm.chat import PLAYED_HEADER, CallIds
from harness.llm.settings import ModelSettings, without_credentials
from harness.secrets import Secrets
from harness.yamlsource import CASSETTE_LIMITS, read_text

Masker = Callable[[dict[str, Any]], dict[str, Any]]  # an interaction (vcrpy's serialized dict) as the file gets it

VCR_MODES = {HarnessRecordMode.NEW: RecordMode.NEW_EPISODES, HarnessRecordMode.ALL: RecordMode.ALL}


class CassetteSerializer:
    """vcrpy serializer for `format`; `metadata`, when set, replaces the cassette's on save (vcrpy offers
    no public setter for an existing key). `mask` gives each interaction as the file gets it (secrets
    masked): here, on vcrpy's serialized copies, rather than in its `before_save_interaction` hook, which
    deep-copies every interaction of the cassette first."""

    def __init__(self, path: Path, mask: Callable[[], Masker] | None = None) -> None:
        self.path = path
        self.metadata: dict[str, Any] | None = None
        self.mask = mask

    def serialize(self, cassette_dict: dict[str, Any]) -> str:
        data = dict(cassette_dict)
        if self.metadata is not None:
            data["metadata"] = self.metadata
        if self.mask is not None and "interactions" in data:
            masked = self.mask()
            data["interactions"] = [masked(interaction) for interaction in data["interactions"]]
        return format.dump(data)

    def deserialize(self, cassette_string: str) -> dict[str, Any]:
        return format.to_vcr_dict(format.parse(cassette_string, str(self.path)))


class SafePersister(FilesystemPersister):  # type: ignore[misc]
    """Writes through a temporary file and an atomic rename; reading an unreadable cassette is an error
    naming it, never a silent "empty" that a later save would overwrite.

    Re-recording everything (`replace`) reads nothing: every exchange is recorded again and the file is
    replaced only when the recording completes, so the old interactions would only be parsed to be
    dropped."""

    def __init__(self, replace: bool) -> None:
        self.replace = replace

    def load_cassette(self, cassette_path: str, serializer: Any) -> Any:
        """vcrpy's load (a missing or empty file is no cassette yet), reading through the harness's
        bounded reader, as replay does."""
        if self.replace or not Path(cassette_path).is_file():
            raise CassetteNotFoundError()
        try:
            text = read_text(Path(cassette_path), CASSETTE_LIMITS)
            if not text.strip():
                raise CassetteNotFoundError()
            return vcr.serialize.deserialize(text, serializer)
        except CassetteNotFoundError:
            raise
        except Exception as exc:
            if isinstance(exc, CassetteError):
                raise
            reason = " ".join(str(exc).split())
            raise CassetteError(cassette_path, f"not a readable cassette ({type(exc).__name__}: {reason})") from None

    def save_cassette(self, cassette_path: str, cassette_dict: dict[str, Any], serializer: Any) -> None:
        """Written whole or not at all; a file that cannot be written (a full disk, a folder removed) is an
        OutputError naming it and why, which fails this scenario alone."""
        path = Path(cassette_path)
        kept = "the cassette keeps its old takes" if path.is_file() else "no cassette was written"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, vcr.serialize.serialize(cassette_dict, serializer))
        except OSError as exc:
            raise OutputError(cannot_write(path, exc, kept)) from None
        self.saved = True

    saved = False


class IndexedCassette(Cassette):  # type: ignore[misc]
    """vcrpy's cassette with recorded requests found through a dict, not a scan with the matcher."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # vcrpy decodes nothing: each body is decoded afresh, so nothing is cached by object, and requests are
        # indexed by digest (a key holds every message's text: a long conversation's keys would be quadratic).
        self._keyer = Keyer(by_identity=False)
        self._index: dict[str, list[int]] = {}
        self._indexed = 0

    def _key(self, request: Request) -> str:
        return self._keyer.digest(request.method, urlsplit(request.uri).path, decode_body(request.body))

    def _positions(self, request: Request) -> list[int]:
        for position in range(self._indexed, len(self.data)):
            self._index.setdefault(self._key(self.data[position][0]), []).append(position)
        self._indexed = len(self.data)
        filtered = self._before_record_request(request)
        return self._index.get(self._key(filtered), []) if filtered else []

    def _responses(self, request: Request) -> Iterator[tuple[int, Any]]:
        """What the file held when it was loaded, never what this session recorded: vcrpy would play an
        interaction recorded a moment ago to the same request sent again (Letta's loop asks again after an
        answer it cannot use), and the file would then hold one answer fewer than a replay asks for."""
        for position in self._positions(request):
            if position < self._loaded_count:
                yield position, self.data[position][1]

    def play_response(self, request: Request) -> Any:
        """The recorded response, marked as played (`PLAYED_HEADER`): the client then consumes a recorded
        retry as replay does, whatever `max_retries` says now. The cassette keeps the response unmarked."""
        response = super().play_response(request)
        return {**response, "headers": {**response.get("headers", {}), PLAYED_HEADER: ["1"]}}

    def can_play_response_for(self, request: Request) -> bool:
        if self.record_mode == RecordMode.ALL:  # nothing is ever played back: skip the lookup
            return False
        return bool(super().can_play_response_for(request))


def same_request(r1: Request, r2: Request) -> bool:
    """vcrpy matcher (what `_rerecorded_interactions` and friends compare with): the harness's request key."""
    keyer = Keyer()
    return bool(
        keyer.key(r1.method, urlsplit(r1.uri).path, decode_body(r1.body))
        == keyer.key(r2.method, urlsplit(r2.uri).path, decode_body(r2.body))
    )


class RecordingSession:
    """One cassette open for recording: new or all."""

    def __init__(
        self, path: Path, mode: HarnessRecordMode, secrets: Secrets | None = None, learned: set[str] | None = None
    ) -> None:
        """`learned` gets the values of the credential headers the endpoint sends (a cookie, its organization
        id), which are masked like `secrets` from then on."""
        self.path = path
        self.mode = mode
        self.serializer = CassetteSerializer(path, self._masker)
        self.secrets = Secrets.collect() if secrets is None else secrets
        self.learned: set[str] = set() if learned is None else learned
        self.cassette: IndexedCassette | None = None
        self.persister = SafePersister(replace=mode == HarnessRecordMode.ALL)
        self.existed = path.is_file()
        self.loaded = 0  # interactions read from the file when it was opened
        self.call_ids = CallIds.PROVIDER  # decided when the cassette is open (see _loaded_call_ids)
        self.repeats_changed: tuple[int | None, int] | None = None  # (said, now) when `note_recording` changed it
        self._looked = 0  # the interactions `secrets_sent` has looked at
        self._secrets_sent = SecretsSent()
        self.fingerprint_changed = False  # `note_recording` wrote the agents' fingerprint anew, alone

    @property
    def unplayed(self) -> list[int]:
        return []

    @property
    def change(self) -> CassetteChange | None:
        """What this session did to the cassette (once closed)."""
        cassette = self.cassette
        if cassette is None:
            return None
        loaded = self.loaded
        kept = sum(1 for n in range(loaded) if cassette.play_counts[n])
        return CassetteChange(
            mode=self.mode,
            existed=self.existed,
            kept=kept,
            recorded=len(cassette.data) - loaded,
            dropped=loaded - kept if self.mode == HarnessRecordMode.NEW else 0,
            saved=self.persister.saved,
            repeats=self.repeats_changed,
            fingerprint=self.fingerprint_changed,
        )

    def secrets_sent(self) -> list[SecretSent]:
        """The parts of the requests recorded since the last call that held a secret's value: the cassette
        masks it (`<SECRET>`), so those requests can never be sent again as recorded, and never replay.
        Each part is told once, at the first request that sent it."""
        cassette = self.cassette
        if cassette is None:
            return []
        start, self._looked = max(self._looked, self.loaded), len(cassette.data)
        if start >= len(cassette.data):
            return []
        secrets = self.secrets | Secrets.collect(values=self.learned, environ={})
        bodies = [request.body for request, _ in cassette.data[start:]]
        texts = [body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "") for body in bodies]
        # A scan of the text first (as saving it does): a request without a secret is not decoded
        return self._secrets_sent.found(secrets, [decode_body(text) for text in texts if secrets.found_in(text)])

    @property
    def recorded_with(self) -> dict[str, Any]:
        if self.serializer.metadata is not None:  # just recorded: what was written to the file
            return dict(self.serializer.metadata.get("recorded_with", {}))
        value = self._metadata("recorded_with")
        return dict(value) if isinstance(value, dict) else {}

    def _loaded_call_ids(self) -> CallIds:
        """Provider ids, except when adding to a cassette recorded before they were kept (`--mode new`
        on an old cassette): its interactions must still be answered, so it keeps its scheme. One whose
        metadata does not say is told as replay tells it (`format.history_call_ids`)."""
        if self.cassette is None or not self.cassette.data:
            return CallIds.PROVIDER
        said = self._metadata(CALL_IDS_KEY)
        if said is None:
            answers: list[str] = []
            for _, response in self.cassette.data:
                with suppress(Undecodable):
                    answers.append(recorded_answer(response)[1])
            said = history_call_ids((decode_body(request.body) for request, _ in self.cassette.data), answers)
        try:
            return CallIds(said or CallIds.LOCAL)
        except ValueError:
            return CallIds.LOCAL

    def _metadata(self, key: str) -> Any:
        if self.cassette is None:
            return None
        try:
            return self.cassette.get_metadata(key, None)
        except vcr.errors.MissingMetadataError:
            return None

    def note_recording(
        self, settings: ModelSettings, agent: dict[str, Any] | None = None, repeats: int | None = None
    ) -> None:
        """Name the producing model and endpoint in the cassette, and the agent's fingerprint when given:
        when something was recorded, or recorded exchanges this agent no longer asks for are dropped (what
        is left is then this agent's conversation, and a fingerprint left as it was would name a change the
        cassette already matches at every later check). `repeats`, for a scenario's first cassette: how many
        repeats its recording made (`harness.cassettes.repeats`); a cassette that still matches is written
        again when it said another number, or (mode new) when its stored fingerprint names a change, with
        nothing else changed."""
        cassette = self.cassette
        if cassette is None:
            return
        dropping = any(not cassette.play_counts[n] for n in range(self.loaded))
        # What the file said (vcrpy's `get_metadata` would store a missing key, and mark the cassette dirty)
        said = cassette._metadata.get(REPEATS_KEY) if self.mode == HarnessRecordMode.NEW else None
        if self.mode == HarnessRecordMode.NEW and repeats is not None and repeats != said:
            self.repeats_changed = (said if isinstance(said, int) else None, repeats)
        if not (cassette.dirty or dropping):
            # Every exchange still matched. A fingerprint naming changes since (none on the wire, such as a
            # block's description) is written anew, or a later stale verdict would name them as its cause.
            stored = cassette._metadata.get(FINGERPRINT_KEY)
            self.fingerprint_changed = bool(
                self.mode == HarnessRecordMode.NEW and agent is not None and stored and agents_changes(stored, agent)
            )
            if self.repeats_changed is not None or self.fingerprint_changed:  # the rest of the file as it was
                kept = dict(cassette._metadata)
                if self.repeats_changed is not None:  # first, as it is written
                    kept = {REPEATS_KEY: repeats, **{k: v for k, v in kept.items() if k != REPEATS_KEY}}
                if self.fingerprint_changed:
                    kept[FINGERPRINT_KEY] = agent
                self.serializer.metadata = kept
                cassette.dirty = True
            return
        last = cassette.responses[-1] if cassette.responses else None
        body = last.get("body", {}).get("string") if last else None
        info = {
            "model": settings.name,
            "endpoint": endpoint_kind(settings.endpoint, body),
            "base_url": without_credentials(settings.endpoint),
        }
        decoded = decode_body(body) if body else None
        if isinstance(decoded, dict) and decoded.get("system_fingerprint"):
            info["server"] = decoded["system_fingerprint"]
        secrets = self.secrets | Secrets.collect(values=self.learned, environ={})
        metadata: dict[str, Any] = {"recorded_with": secrets.mask_data(info), CALL_IDS_KEY: str(self.call_ids)}
        if repeats is not None:  # first: what replay reads of a cassette before playing it (see `repeats`)
            metadata = {REPEATS_KEY: repeats, **metadata}
        if agent is not None:
            metadata[FINGERPRINT_KEY] = agent
        self.serializer.metadata = metadata

    @staticmethod
    def _recorded_request(request: Request) -> Request:
        """What the cassette keeps of a request: a new one with only the kept headers (vcrpy's own filter
        chain would deep-copy the request, a long conversation's body and all, then filter the copy)."""
        return Request(request.method, request.uri, request.body, kept_headers(request.headers))

    def _recorded_response(self, response: dict[str, Any]) -> dict[str, Any]:
        """Only content-type headers are kept (credential headers an endpoint sent become secrets from then
        on), so an encoded body is decoded first: gzip, deflate and brotli by vcrpy's `decode_response`,
        zstd here, when Python has it. vcrpy hands over its own copy of the response."""
        headers = response.get("headers", {})
        self.learned |= header_secrets(headers)
        encoding = [str(v).lower() for k, values in headers.items() if k.lower() == "content-encoding" for v in values]
        if encoding == ["zstd"]:
            body = response.get("body", {})
            decoded = decompress_zstd(body.get("string", b""), CASSETTE_LIMITS.max_scalar)
            if decoded is not None:
                body["string"] = decoded
        elif encoding:
            response = vcr.filters.decode_response(response)
        response["headers"] = kept_headers(response.get("headers", {}))
        return response

    def _masker(self) -> Masker:
        """What the file gets of each interaction (vcrpy's serialized dicts): secrets masked, those learned
        from the endpoint's headers while recording included."""
        secrets = self.secrets | Secrets.collect(values=self.learned, environ={})

        def masked(interaction: dict[str, Any]) -> dict[str, Any]:
            request = dict(interaction["request"])
            request["uri"] = secrets.mask_url(request["uri"])
            request["body"] = masked_body(secrets, request.get("body"), json_dumps_spelling=True)
            return {**interaction, "request": request, "response": masked_response(secrets, interaction["response"])}

        return masked

    @contextmanager
    def open(self) -> Iterator[RecordingSession]:
        config = vcr.VCR(
            record_mode=VCR_MODES[self.mode],
            match_on=["harness_request"],
            drop_unused_requests=True,
            serializer="harness",
        )
        config.register_matcher("harness_request", same_request)
        config.register_persister(self.persister)
        config.register_serializer("harness", self.serializer)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A recording that breaks off (endpoint down, Ctrl-C) saves nothing: the cassette keeps its old takes.
        options = config.get_merged_config(path=str(self.path), record_on_exception=False)
        # The cassette's own filters, in place of the chains vcrpy builds (they deep-copy each request first:
        # ours build what is kept instead of editing what was sent). Only content-type headers are kept,
        # so no credential header is recorded, and a compressed answer is stored decoded.
        options["before_record_request"] = self._recorded_request
        options["before_record_response"] = self._recorded_response
        with IndexedCassette.use(**options) as cassette:
            self.cassette = cassette
            self.loaded = len(cassette.data)
            self.call_ids = self._loaded_call_ids()
            yield self
