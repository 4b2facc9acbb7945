"""Cassettes: every model exchange of a scenario, recorded once with vcrpy and replayed offline.

- Requests match on method, path and the canonical JSON body. Replay finds them through an index built
  when the cassette opens (`IndexedCassette`), so a step costs the same however long the cassette grows;
  vcrpy's own `body` matcher diffs every recorded request that does not match, twice per request.
- A recording that breaks off saves nothing, and saves are atomic: a good cassette is never lost.
- Only `content-type` headers are written: authorization, api-key, openai-organization, openai-project,
  cookie and set-cookie never reach a file. Bodies are stored decoded, as indented JSON, in literal
  YAML blocks, so a cassette reads (and diffs) like the conversation it holds.
- The cassette's `metadata` names the model and the kind of endpoint that produced it.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import vcr
import vcr.errors
import vcr.serialize
import yaml
from vcr.cassette import Cassette
from vcr.persisters.filesystem import CassetteNotFoundError, FilesystemPersister
from vcr.record_mode import RecordMode
from vcr.request import Request

from harness.errors import RunError
from harness.llm import without_credentials

RecordModeName = Literal["none", "new", "all"]


class CassetteError(RunError):
    """A cassette file cannot be read."""


RECORD_MODES: dict[str, RecordMode] = {
    "none": RecordMode.NONE,
    "new": RecordMode.NEW_EPISODES,
    "all": RecordMode.ALL,
}
KEPT_HEADERS = frozenset({"content-type"})
SECRET_HEADERS = ("authorization", "api-key", "openai-organization", "openai-project", "cookie", "set-cookie")


def canonical_body(body: bytes | str | None) -> str:
    """The request body with JSON key order and whitespace normalised away."""
    if body is None:
        return ""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)


def request_key(request: Request) -> str:
    return f"{request.method} {request.path}\n{canonical_body(request.body)}"


def same_request(r1: Request, r2: Request) -> bool:
    """vcrpy matcher: method, path and canonical JSON body. vcrpy uses it while recording and to explain a
    miss; replay looks requests up by the same key in `IndexedCassette`."""
    return request_key(r1) == request_key(r2)


class IndexedCassette(Cassette):  # type: ignore[misc]
    """A replay-only cassette that finds a request's response through a dict keyed by `request_key`.

    vcrpy's own lookup runs every matcher against every recorded interaction, twice per request: replay
    then slows down as the cassette grows. Here each recorded request is canonicalised once, and each
    new request costs one canonicalisation and one dict lookup, whatever the cassette's length. Only
    used in record mode `none`, where nothing is appended or saved.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._index: dict[str, list[int]] = {}
        self._indexed = 0
        self._last: tuple[Any, str] | None = None  # vcrpy asks twice per request: canonicalise once

    def _key_of(self, request: Request) -> str | None:
        filtered = self.filter_request(request)
        if not filtered:
            return None
        if self._last is None or self._last[0] != filtered.body:
            self._last = (filtered.body, request_key(filtered))
        return self._last[1]

    @classmethod
    def load(cls, **kwargs: Any) -> IndexedCassette:
        """Load, then index every recorded request once: the cost belongs to opening, not to a step."""
        cassette: IndexedCassette = super().load(**kwargs)
        cassette._update_index()
        return cassette

    def _update_index(self) -> None:
        for position in range(self._indexed, len(self.data)):
            self._index.setdefault(request_key(self.data[position][0]), []).append(position)
        self._indexed = len(self.data)

    def _positions(self, request: Request) -> list[int]:
        self._update_index()
        key = self._key_of(request)
        return self._index.get(key, []) if key is not None else []

    def _unplayed_position(self, request: Request) -> int | None:
        for position in self._positions(request):
            if self.play_counts[position] == 0 or self.allow_playback_repeats:
                return position
        return None

    def can_play_response_for(self, request: Request) -> bool:
        return bool(self.rewound or self.allow_playback_repeats) and self._unplayed_position(request) is not None

    def play_response(self, request: Request) -> Any:
        position = self._unplayed_position(request)
        if position is None:
            raise vcr.errors.UnhandledHTTPRequestError(
                f"The cassette ({self.path!r}) doesn't contain the request ({request!r}) asked for"
            )
        self.play_counts[position] += 1
        return self.data[position][1]

    def __contains__(self, request: Request) -> bool:
        return bool(self._positions(request))


# ------------------------------------------------------------------ serializer: readable YAML


_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def _pretty_json(text: Any) -> Any:
    if not isinstance(text, str) or not text.lstrip().startswith(("{", "[")):
        return text
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
    except ValueError:
        return text


class ReadableYamlSerializer:
    """vcrpy serializer writing JSON bodies indented inside literal YAML blocks; `metadata`, when set,
    replaces the cassette's metadata on save (vcrpy offers no public setter for an existing key)."""

    def __init__(self) -> None:
        self.metadata: dict[str, Any] | None = None

    def serialize(self, cassette_dict: dict[str, Any]) -> str:
        data = dict(cassette_dict)
        if self.metadata is not None:
            data["metadata"] = self.metadata
        for interaction in data.get("interactions", []):
            request, response = interaction["request"], interaction["response"]
            request["body"] = _pretty_json(request.get("body"))
            body = response.get("body")
            if isinstance(body, dict) and "string" in body:
                body["string"] = _pretty_json(body["string"])
        ordered = {key: data[key] for key in ("metadata", "version", "interactions") if key in data}
        return yaml.dump(ordered, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)

    @staticmethod
    def deserialize(cassette_string: str) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.load(cassette_string, Loader=_FAST_LOADER)
        return loaded


# ------------------------------------------------------------------ persister: never half a cassette


class SafePersister(FilesystemPersister):  # type: ignore[misc]
    """Writes a cassette through a temporary file and an atomic rename, so an interrupted save never
    leaves half a file; reading an unreadable cassette is an error naming it, never a silent "empty"
    that a later save would overwrite (except when re-recording everything, which replaces it anyway)."""

    def __init__(self, overwrite_unreadable: bool) -> None:
        self.overwrite_unreadable = overwrite_unreadable

    def load_cassette(self, cassette_path: str, serializer: Any) -> Any:
        try:
            return super().load_cassette(cassette_path, serializer)
        except CassetteNotFoundError:
            raise
        except Exception as exc:
            if self.overwrite_unreadable:
                raise CassetteNotFoundError() from exc
            reason = " ".join(str(exc).split())
            raise CassetteError(
                f"{cassette_path} is not a readable cassette ({type(exc).__name__}: {reason}); "
                "restore it from version control, or re-record it with `harness record --mode all`"
            ) from None

    @staticmethod
    def save_cassette(cassette_path: str, cassette_dict: dict[str, Any], serializer: Any) -> None:
        path = Path(cassette_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = vcr.serialize.serialize(cassette_dict, serializer)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)


# ------------------------------------------------------------------ hooks


def _keep_safe_request_headers(request: Request) -> Request:
    request.headers = {k: v for k, v in request.headers.items() if k.lower() in KEPT_HEADERS}
    return request


def _keep_safe_response_headers(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"] = {k: v for k, v in response.get("headers", {}).items() if k.lower() in KEPT_HEADERS}
    return response


def endpoint_kind(base_url: str, response: dict[str, Any] | None) -> str:
    host = urlsplit(base_url).hostname or ""
    if host.endswith("openai.com"):
        return "openai"
    body = _response_json(response) if response else None
    if isinstance(body, dict) and "timings" in body:
        return "llama.cpp (llama-server)"
    if host in ("127.0.0.1", "localhost", "::1"):
        return "openai-compatible (local)"
    return "openai-compatible"


def _response_json(response: dict[str, Any]) -> Any:
    raw = response.get("body", {}).get("string")
    try:
        return json.loads(raw) if raw else None
    except (ValueError, TypeError):
        return None


# ------------------------------------------------------------------ sessions


@dataclass
class CassetteSession:
    """One scenario's cassette, open for replay or recording."""

    path: Path
    mode: RecordModeName
    serializer: ReadableYamlSerializer = field(default_factory=ReadableYamlSerializer)
    cassette: Cassette | None = None
    last_request: Request | None = None

    @property
    def unplayed(self) -> list[int]:
        """Indexes of recorded interactions this run never replayed (in replay mode)."""
        if self.cassette is None or self.mode != "none":
            return []
        return [i for i in range(len(self.cassette.data)) if self.cassette.play_counts[i] == 0]

    @property
    def metadata(self) -> dict[str, Any]:
        if self.serializer.metadata is not None:  # just recorded: what was written to the file
            return dict(self.serializer.metadata.get("recorded_with", {}))
        if self.cassette is None:
            return {}
        try:
            value = self.cassette.get_metadata("recorded_with", {})
        except vcr.errors.MissingMetadataError:
            return {}
        return dict(value) if isinstance(value, dict) else {}

    def note_recording(self, model: str, base_url: str) -> None:
        """Name the producing model and endpoint in the cassette (only when something was recorded)."""
        if self.cassette is None or self.mode == "none" or not self.cassette.dirty:
            return
        last_response = self.cassette.responses[-1] if self.cassette.responses else None
        info = {
            "model": model,
            "endpoint": endpoint_kind(base_url, last_response),
            "base_url": without_credentials(base_url),
        }
        body = _response_json(last_response) if last_response else None
        if isinstance(body, dict) and body.get("system_fingerprint"):
            info["server"] = body["system_fingerprint"]
        self.serializer.metadata = {"recorded_with": info}

    def miss_diff(self, limit: int = 80) -> list[str]:
        """Why the last request missed: a diff between the nearest recorded request and the one sent."""
        sent = self.last_request.body if self.last_request is not None else None
        nearest = nearest_recorded(self, sent) if self.path.exists() else None
        if nearest is None:
            return ["  the cassette holds no interactions"]
        diff = nearest[1]
        lines = ["  diff between the nearest recorded request and the one sent now:"]
        lines += [f"    {line}" for line in diff[:limit]]
        if len(diff) > limit:
            lines.append(f"    ... ({len(diff) - limit} more diff lines)")
        return lines

    def capture(self, request: Request) -> Request:
        self.last_request = request
        return _keep_safe_request_headers(request)


def build_vcr(mode: RecordModeName, serializer: ReadableYamlSerializer, secrets: tuple[str, ...] = ()) -> vcr.VCR:
    config = vcr.VCR(
        record_mode=RECORD_MODES[mode],
        match_on=["harness_request"],
        decode_compressed_response=True,
        filter_headers=list(SECRET_HEADERS),
        before_record_response=_keep_safe_response_headers,
        # vcrpy takes (placeholder, value) pairs: the value is hidden behind the placeholder on save.
        filter_sensitive_data=[("<SECRET>", secret) for secret in secrets if secret],
        drop_unused_requests=mode == "all",
        serializer="harness-yaml",
    )
    config.register_matcher("harness_request", same_request)
    config.register_persister(SafePersister(overwrite_unreadable=mode == "all"))
    config.register_serializer("harness-yaml", serializer)
    return config


@contextmanager
def use_cassette(
    path: Path, mode: RecordModeName = "none", secret_variables: tuple[str, ...] = ()
) -> Iterator[CassetteSession]:
    """Open `path` for the duration of a scenario; in mode `none` a request not in it raises.

    While recording, the values of `secret_variables` and of every `*_API_KEY` / `*_TOKEN` variable are
    masked wherever they appear in a body."""
    secrets: tuple[str, ...] = ()
    if mode != "none":
        secrets = tuple(
            value
            for name, value in os.environ.items()
            if (name in secret_variables or name.endswith(("_API_KEY", "_TOKEN"))) and len(value) >= 8
        )
    session = CassetteSession(path, mode)
    config = build_vcr(mode, session.serializer, secrets)
    if mode != "none":
        path.parent.mkdir(parents=True, exist_ok=True)
    # A recording that breaks off (endpoint down, Ctrl-C) saves nothing: the cassette keeps its old takes.
    options = config.get_merged_config(path=str(path), before_record_request=session.capture, record_on_exception=False)
    cassette_class = IndexedCassette if mode == "none" else Cassette
    with cassette_class.use(**options) as cassette:
        session.cassette = cassette
        yield session


# ------------------------------------------------------------------ stale cassettes


def is_cassette_miss(error: BaseException | None) -> bool:
    return isinstance(error, vcr.errors.CannotOverwriteExistingCassetteException)


def request_lines(body: bytes | str | None) -> list[str]:
    """A request rendered line by line for diffing: settings, tool names, then each message's text."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return canonical_body(body).splitlines()
    if not isinstance(data, dict):
        return [canonical_body(body)]
    lines = [f"{key}: {json.dumps(value)}" for key, value in data.items() if key not in ("messages", "tools")]
    for tool in data.get("tools", []):
        lines.append(f"tool: {json.dumps(tool, sort_keys=True)}")
    for index, message in enumerate(data.get("messages", [])):
        lines.append(f"--- message {index} ({message.get('role')})")
        content = message.get("content")
        if isinstance(content, str):
            lines += content.splitlines() or [""]
        elif content is not None:
            lines.append(json.dumps(content))
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            lines.append(f"tool_call {call.get('id')}: {function.get('name')}({function.get('arguments')})")
        if message.get("tool_call_id"):
            lines.append(f"tool_call_id: {message['tool_call_id']}")
    return lines


def nearest_recorded(session: CassetteSession, sent: bytes | str | None) -> tuple[int, list[str]] | None:
    """The recorded request most like `sent` (preferring ones not yet played) and a unified diff to it."""
    cassette = session.cassette
    if cassette is None or not cassette.data:
        return None
    sent_lines = request_lines(sent)
    candidates = [i for i in range(len(cassette.data)) if cassette.play_counts[i] == 0] or list(
        range(len(cassette.data))
    )

    def similarity(index: int) -> float:
        recorded_lines = request_lines(cassette.data[index][0].body)
        return difflib.SequenceMatcher(None, recorded_lines, sent_lines, autojunk=False).ratio()

    best = max(candidates, key=similarity)
    diff = difflib.unified_diff(
        request_lines(cassette.data[best][0].body),
        sent_lines,
        fromfile=f"recorded (interaction {best})",
        tofile="sent now",
        lineterm="",
        n=2,
    )
    return best, list(diff)
