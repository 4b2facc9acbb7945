"""The replay model answers exactly as the live client did: same request body on the wire, same key,
same parsed response, without the SDK or vcrpy."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from harness.cassettes import format
from harness.cassettes.keys import Keyer
from harness.cassettes.mode import RecordMode
from harness.cassettes.recording import RecordingSession
from harness.cassettes.replay import ReplayCassette, ReplayChatModel, ReplayEmbeddingModel
from harness.errors import CassetteError, CassetteMiss, LLMError
from harness.llm.chat import CallIds, chat_request
from harness.llm.openai_client import OpenAIChatModel
from harness.llm.settings import EmbeddingSettings, ModelSettings, ToolChoice
from harness.tools.builtin import BUILTIN_TOOLS
from harness.tools.schema import tool_from_function
from tests.fakes import FakeOpenAI, Raw, append, completion, reply

TOOLS = [tool_from_function(fn, terminal=name == "send_message").openai_schema() for name, fn in BUILTIN_TOOLS.items()]
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a test agent.\n<human>Name: Bob</human>"},
    {"role": "user", "content": "Hi, I am Azin ✨"},
]


@pytest.mark.parametrize(
    "settings",
    [
        ModelSettings(name="m", temperature=0.0),
        ModelSettings(name="m", temperature=0.7, max_tokens=50, seed=3, tool_choice=ToolChoice.AUTO),
    ],
    ids=["defaults", "every-setting"],
)
@pytest.mark.parametrize("prefix", ["/v1", "/proxy/openai/v1/"])
def test_recorded_through_the_sdk_replayed_without_it(tmp_path: Path, settings: ModelSettings, prefix: str) -> None:
    path = tmp_path / "c.yaml"
    answers = [append("human", "Azin"), reply("Hello Azin"), completion(content="plain text, no tool")]
    with FakeOpenAI(list(answers)) as server:
        live_settings = ModelSettings(**{**settings.__dict__, "base_url": server.base_url.replace("/v1", prefix)})
        live = OpenAIChatModel(live_settings)
        with RecordingSession(path, RecordMode.ALL).open() as session:
            recorded = [live.complete(CONVERSATION[: n + 1], TOOLS if n else []) for n in range(len(answers))]
            session.note_recording(live_settings)
    sent = [received.body for received in server.received]

    cassette = ReplayCassette(path)
    model = ReplayChatModel(live_settings, cassette)
    replayed = [model.complete(CONVERSATION[: n + 1], TOOLS if n else []) for n in range(len(answers))]
    assert replayed == recorded  # content, tool calls (ids included), model, finish reason, usage
    # the body the replay model builds is the one the SDK put on the wire, byte for byte as JSON
    assert [chat_request(live_settings, CONVERSATION[: n + 1], TOOLS if n else []) for n in range(3)] == sent
    keyer = Keyer()
    stored = [keyer.key("POST", live_settings.completions_path, body) for body in cassette.recorded_bodies()]
    assert stored == [Keyer().key("POST", live_settings.completions_path, body) for body in sent]
    assert cassette.unplayed == []


def record_one_reply(path: Path) -> ModelSettings:
    """`CONVERSATION` recorded into `path` through the SDK, answered with one reply; the settings used."""
    with FakeOpenAI([reply("hi")]) as server:
        settings = ModelSettings(name="m", base_url=server.base_url)
        with RecordingSession(path, RecordMode.ALL).open():
            OpenAIChatModel(settings).complete(CONVERSATION, TOOLS)
    return settings


def test_a_request_not_recorded_is_a_miss_naming_the_cassette(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    settings = record_one_reply(path)
    model = ReplayChatModel(settings, ReplayCassette(path))
    with pytest.raises(CassetteMiss) as miss:
        model.complete([*CONVERSATION[:1], {"role": "user", "content": "Hi, I am Azim"}], TOOLS)
    assert miss.value.cassette == str(path)
    assert "    -Hi, I am Azin ✨" in miss.value.diff_lines()
    assert "    +Hi, I am Azim" in miss.value.diff_lines()
    model.complete(CONVERSATION, TOOLS)  # the recorded one still plays, once
    with pytest.raises(CassetteMiss):
        model.complete(CONVERSATION, TOOLS)


def test_a_miss_whose_only_difference_is_unicode_normalisation_says_so(tmp_path: Path) -> None:
    """The user message retyped with a decomposed `é` (NFD, as macOS file names and some editors
    give): the diff showed two lines that look the same, and nothing said why; a failed text check says."""
    path = tmp_path / "c.yaml"
    conversation = [CONVERSATION[0], {"role": "user", "content": "Je suis Zo\u00e9"}]
    with FakeOpenAI([reply("hi")]) as server:
        settings = ModelSettings(name="m", base_url=server.base_url)
        with RecordingSession(path, RecordMode.ALL).open():
            OpenAIChatModel(settings).complete(conversation, TOOLS)
    model = ReplayChatModel(settings, ReplayCassette(path))
    note = (
        "  note: the recorded request and the one sent differ only in Unicode normalisation (one character "
        "composed, NFC, vs decomposed, NFD), compared exactly as written"
    )
    with pytest.raises(CassetteMiss) as caught:
        model.complete([CONVERSATION[0], {"role": "user", "content": "Je suis Zoe\u0301"}], TOOLS)
    assert "    -Je suis Zo\u00e9" in caught.value.diff_lines() and caught.value.diff_lines()[-1] == note
    with pytest.raises(CassetteMiss) as caught:  # another difference beside it: no note
        model.complete([CONVERSATION[0], {"role": "user", "content": "Je suis Zoe\u0301!"}], TOOLS)
    assert not any("note:" in line for line in caught.value.diff_lines())


def test_replay_matches_on_the_stored_keys_and_verify_catches_a_body_edited_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    settings = record_one_reply(path)
    text = path.read_text(encoding="utf-8")
    assert text.count("    key: k1:") == 1
    path.write_text(text.replace("Hi, I am Azin", "Hi, I am Azim"), encoding="utf-8")
    # replay trusts the key: it still answers the request recorded, and decodes no body to do so
    assert ReplayChatModel(settings, ReplayCassette(path)).complete(CONVERSATION, TOOLS).content is None
    with pytest.raises(CassetteError, match=r"the `key` of interaction 0 does not match its request body"):
        ReplayCassette(path, verify=True)
    # without its keys the cassette is keyed from its bodies: the edited body is what it answers now
    lines = path.read_text(encoding="utf-8").splitlines(True)
    path.write_text("".join(line for line in lines if "key: k1:" not in line), encoding="utf-8")
    ReplayCassette(path, verify=True)
    with pytest.raises(CassetteMiss):
        ReplayChatModel(settings, ReplayCassette(path)).complete(CONVERSATION, TOOLS)
    edited = [*CONVERSATION[:1], {"role": "user", "content": "Hi, I am Azim ✨"}]
    ReplayChatModel(settings, ReplayCassette(path)).complete(edited, TOOLS)


def test_a_miss_on_a_key_edited_by_hand_says_so_not_an_empty_diff(tmp_path: Path) -> None:
    """The very request is recorded, under a key that is not its body's: the diff was empty, the advice
    ("the agent or its prompt changed") wrong."""
    path = tmp_path / "c.yaml"
    settings = record_one_reply(path)
    text = path.read_text(encoding="utf-8")
    at = text.index("key: k1:") + len("key: k1:")
    path.write_text(text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1 :], encoding="utf-8")
    with pytest.raises(CassetteMiss) as caught:
        ReplayChatModel(settings, ReplayCassette(path)).complete(CONVERSATION, TOOLS)
    assert caught.value.diff_lines() == [
        "  interaction 0 records this very request, but its stored `key` does not match its body (was the "
        "cassette edited by hand?): delete the cassette's `key:` lines (they are worked out from the bodies "
        "again when it is next saved), or re-record it"
    ]


def test_a_miss_on_line_endings_alone_is_a_diff_not_blamed_on_the_key(tmp_path: Path) -> None:
    """A prompt sent with CRLF line endings against the LF one recorded: the diff, made of `splitlines`, was
    empty, and the miss said the stored key was edited by hand (deleting the keys changed nothing)."""
    path = tmp_path / "c.yaml"
    settings = record_one_reply(path)
    system = {"role": "system", "content": CONVERSATION[0]["content"].replace("\n", "\r\n")}
    with pytest.raises(CassetteMiss) as caught:
        ReplayChatModel(settings, ReplayCassette(path)).complete([system, *CONVERSATION[1:]], TOOLS)
    explained = caught.value.diff_lines()
    assert "    -You are a test agent." in explained
    assert '    +"You are a test agent.\\r"' in explained
    assert not any("edited by hand" in line for line in explained)


def test_a_recorded_error_status_replays_as_the_live_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "version: 1\ninteractions:\n- request:\n    method: POST\n    uri: http://h/v1/chat/completions\n"
        '    body: \'{"model": "m", "messages": [], "temperature": 0.0}\'\n'
        '  response:\n    status: 429\n    body: \'{"error": {"message": "slow down"}}\'\n',
        encoding="utf-8",
    )
    model = ReplayChatModel(ModelSettings(name="m", base_url="http://user:pw@h/v1"), ReplayCassette(path))
    with pytest.raises(LLMError, match=r"^the model endpoint http://h/v1 answered HTTP 429: .*slow down"):
        model.complete([], [])


def one_interaction(uri: str, status: int, body: str, request: str = "") -> str:
    request = request or '{"model": "m", "messages": [], "temperature": 0.0}'
    return (
        f"version: 1\ninteractions:\n- request:\n    method: POST\n    uri: {uri}\n"
        f"    body: '{request}'\n  response:\n    status: {status}\n    body: '{body}'\n"
    )


@pytest.mark.parametrize(
    ("configured", "shown"),
    [
        ("http://127.0.0.1:8088/v1", "http://127.0.0.1:9/mistral/v1"),  # another endpoint: the recorded one
        ("http://127.0.0.1:9/mistral/v1/", "http://127.0.0.1:9/mistral/v1/"),  # the same: as the agents file says
    ],
)
def test_a_replayed_error_names_the_endpoint_that_answered_it(tmp_path: Path, configured: str, shown: str) -> None:
    """Recorded through `--base-url`, replayed with the agents file's `base_url`: the error names the server
    that answered (and the recording's report named), not one that never did."""
    path = tmp_path / "c.yaml"
    refused = '{"object": "error", "message": "Tool call id was x", "type": "invalid_request_message_order"}'
    path.write_text(
        one_interaction("http://<SECRET>@127.0.0.1:9/mistral/v1/chat/completions?key=<SECRET>", 422, refused),
        encoding="utf-8",
    )
    model = ReplayChatModel(ModelSettings(name="m", base_url=configured), ReplayCassette(path))
    with pytest.raises(LLMError) as info:
        model.complete([], [])
    assert (
        str(info.value)
        == f"the model endpoint {shown} answered HTTP 422: Tool call id was x (invalid_request_message_order)"
    )
    embedded = '{"model": "e", "input": ["a"], "encoding_format": "float"}'
    path.write_text(
        one_interaction(
            "http://127.0.0.1:9/mistral/v1/embeddings", 400, '{"error": {"message": "too long"}}', embedded
        ),
        encoding="utf-8",
    )
    embedder = ReplayEmbeddingModel(EmbeddingSettings(name="e", base_url=configured), ReplayCassette(path))
    with pytest.raises(LLMError, match=f"^the embedding endpoint {shown} answered HTTP 400: too long$"):
        embedder.embed(["a"])


def test_a_replayed_body_that_does_not_decode_names_the_cassette_text_not_the_endpoint(tmp_path: Path) -> None:
    """A recorded body nested too deep for Python's decoder (or not JSON) is the cassette's text, maybe
    edited by hand: its error names the recording, the file and the interaction's line, not the endpoint as
    though it had just answered (the probe's `deep_body`)."""
    path = tmp_path / "c.yaml"
    deep = '{"choices": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path.write_text(one_interaction("http://127.0.0.1:9/v1/chat/completions", 200, deep), encoding="utf-8")
    model = ReplayChatModel(ModelSettings(name="m", base_url="http://127.0.0.1:9/v1"), ReplayCassette(path))
    with pytest.raises(LLMError) as info:
        model.complete([], [])
    assert str(info.value).startswith(
        f"the recording of the model endpoint http://127.0.0.1:9/v1 ({path}:3, interaction 0) answered with a body "
        "that Python's JSON decoder refuses ("
    )
    embedded = '{"model": "e", "input": ["a"], "encoding_format": "float"}'
    path.write_text(
        "# a comment\n" + one_interaction("http://127.0.0.1:9/v1/embeddings", 200, "<html>", embedded),
        encoding="utf-8",
    )
    cassette = ReplayCassette(path, shown="cassettes/c.yaml")
    embedder = ReplayEmbeddingModel(EmbeddingSettings(name="e", base_url="http://127.0.0.1:9/v1"), cassette)
    with pytest.raises(LLMError) as info:
        embedder.embed(["a"])
    assert str(info.value) == (
        "the recording of the embedding endpoint http://127.0.0.1:9/v1 (cassettes/c.yaml:4, interaction 0) "
        "answered with a body that is not JSON: <html>"
    )


# Any YAML value, for a field edited by hand.
_ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_FIELDS = [
    ("interactions",),
    ("interactions", 0),
    ("interactions", 0, "request"),
    ("interactions", 0, "request", "uri"),
    ("interactions", 0, "request", "method"),
    ("interactions", 0, "request", "key"),
    ("interactions", 0, "request", "body"),
    ("interactions", 0, "response"),
    ("interactions", 0, "response", "status"),
    ("interactions", 0, "response", "body"),
    ("interactions", 0, "response", "headers"),
    ("interactions", 1, "request", "body"),
    ("interactions", 1, "response", "status"),
    ("metadata",),
    ("metadata", "tool_call_ids"),
    ("metadata", "recorded_with"),
]


def _two_step_cassette() -> Any:
    """A cassette as recording writes one: metadata, keys, the second request a delta from the first."""
    first = chat_request(ModelSettings("m"), CONVERSATION, TOOLS)
    second = chat_request(ModelSettings("m"), [*CONVERSATION, {"role": "user", "content": "again"}], TOOLS)
    interactions = [
        {
            "request": {"method": "POST", "uri": "http://h/v1/chat/completions", "body": json.dumps(body)},
            "response": {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": "{}"}},
        }
        for body in (first, second)
    ]
    metadata = {"recorded_with": {"model": "m"}, "tool_call_ids": "provider"}
    return yaml.safe_load(format.dump({"version": 1, "interactions": interactions, "metadata": metadata}))


_EXAMPLE = _two_step_cassette()


@hypothesis.settings(max_examples=200, deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
@given(field=st.sampled_from(_FIELDS), value=_ANY_VALUE, verify=st.booleans())
def test_a_field_edited_by_hand_to_any_value_replays_or_is_a_cassette_error(
    tmp_path_factory: pytest.TempPathFactory, field: tuple[str | int, ...], value: Any, verify: bool
) -> None:
    """A status that is not a code, a uri that is a list, a request that is null...: the cassette opens and
    replays, or it is a CassetteError naming it, never another exception (it used to be a traceback)."""
    data = copy.deepcopy(_EXAMPLE)
    parent = data
    for step in field[:-1]:
        parent = parent[step]
    parent[field[-1]] = value
    path = tmp_path_factory.mktemp("edited") / "c.yaml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    try:
        cassette = ReplayCassette(path, verify=verify)
        assert cassette.call_ids in CallIds and isinstance(cassette.recorded_with, dict)
        cassette.respond("POST", "/v1/chat/completions", {"model": "m", "messages": []})
    except CassetteMiss:
        pass  # opened: the request is not in it
    except CassetteError as exc:
        assert str(path) in str(exc) and "re-record" in str(exc)


def _compressed(coding: str, data: bytes) -> bytes:
    import gzip
    import zlib

    import brotli  # a dev dependency

    if sys.version_info >= (3, 14):
        from compression import zstd  # type: ignore[import-not-found, unused-ignore]
    else:
        from backports import zstd  # type: ignore[import-not-found, import-untyped, unused-ignore]
    encoders = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress, "zstd": zstd.compress}
    return bytes(encoders[coding](data))


def plain_vcrpy_cassette(path: Path, coding: str) -> tuple[ModelSettings, Any]:
    """`CONVERSATION` recorded by vcrpy itself with its defaults (the answer kept as it came: compressed)
    around the openai SDK, as a vcrpy user's cassette is; the settings and the answer the SDK read."""
    import openai
    import vcr

    answer = Raw(_compressed(coding, json.dumps(reply("hi")).encode()), headers=(("Content-Encoding", coding),))
    with FakeOpenAI([answer]) as s:
        settings = ModelSettings(name="m", base_url=s.base_url)
        with vcr.use_cassette(str(path)):
            live = openai.OpenAI(base_url=s.base_url, api_key="sk-test").chat.completions.create(
                **chat_request(settings, CONVERSATION, TOOLS)
            )
    return settings, live


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_a_plain_vcrpy_cassette_of_a_compressed_answer_replays_decoded(tmp_path: Path, coding: str) -> None:
    """vcrpy keeps the answer compressed (`!!binary`, `content-encoding`); replay decodes it as httpx does,
    where it was read as text ('a body that is not JSON: \\ufffd\\x08...')."""
    path = tmp_path / "c.yaml"
    settings, live = plain_vcrpy_cassette(path, coding)
    text = path.read_text(encoding="utf-8")
    assert "!!binary" in text and coding in text  # as vcrpy wrote it
    replayed = ReplayChatModel(settings, ReplayCassette(path)).complete(CONVERSATION, TOOLS)
    assert replayed.tool_calls[0].name == live.choices[0].message.tool_calls[0].function.name == "send_message"
    assert replayed.tool_calls[0].arguments == live.choices[0].message.tool_calls[0].function.arguments
    assert path.read_text(encoding="utf-8") == text


def test_a_compressed_answer_this_python_cannot_decode_is_an_unreadable_cassette_naming_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.yaml"
    plain_vcrpy_cassette(path, "br")
    for module in ("brotli", "brotlicffi"):
        monkeypatch.setitem(sys.modules, module, None)  # not installed
    with pytest.raises(CassetteError) as error:
        ReplayCassette(path)
    assert error.value.reason == (
        "a cassette this Python cannot replay (interaction 0 (line 2): it is br-compressed (content-encoding: br), "
        "which needs the `brotli` package (pip install brotli) to read)"
    )
    path.write_text(path.read_text(encoding="utf-8").replace("- br", "- gzip"), encoding="utf-8")  # not gzip
    with pytest.raises(CassetteError, match=r"\(interaction 0 \(line 2\): its gzip body does not decode \(Error -3"):
        ReplayCassette(path, verify=True)
