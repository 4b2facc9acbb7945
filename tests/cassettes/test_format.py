"""The cassette file format: whatever the traffic, a cassette reads back as exactly what was written,
keys as it did, and grows linearly with a conversation."""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from harness.cassettes import format
from harness.cassettes.delta import apply_delta, body_delta
from harness.cassettes.keys import KEY_SCHEME, Keyer, canonical, digest
from harness.errors import CassetteError
from tests.helpers import ROOT

URI = "http://127.0.0.1:8088/v1/chat/completions"

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
# Keys a delta's own items use: a message (or a provider field echoed on one) may have them too.
directive_keys = st.fixed_dictionaries(
    {},
    optional={
        "same": st.one_of(st.just([0, 0]), st.just("yes")),
        "edit": st.integers(0, 2),
        "at": st.integers(0, 2),
        "cut": st.integers(0, 2),
        "insert": texts,
        "splices": st.just([]),
        "literal": st.just({"a": 1}),
    },
)
messages = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "tool"]), "content": st.one_of(st.none(), texts)},
        optional={"tool_call_id": st.text(max_size=8), "name": st.text(max_size=8)},
    ),
    st.tuples(st.fixed_dictionaries({"role": st.just("assistant"), "content": texts}), directive_keys).map(
        lambda pair: {**pair[0], **pair[1]}
    ),
    directive_keys,  # a message with nothing but such keys: exactly a directive's shape, sometimes
)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Request bodies as an agent sends them: history grows, the system message changes now and then,
    settings change rarely, and sometimes a request is not a chat at all."""
    history: list[dict[str, Any]] = []
    system = draw(texts)
    settings: dict[str, Any] = {"model": "m", "temperature": draw(st.sampled_from([0.0, 0.7, 1]))}
    bodies: list[Any] = []
    for _ in range(draw(st.integers(1, 6))):
        move = draw(st.sampled_from(["grow", "grow", "edit", "settings", "repeat", "other"]))
        if move == "edit":
            system = draw(texts)
        elif move == "settings":
            settings = {**settings, "temperature": draw(st.floats(0, 2, allow_nan=False))}
            if draw(st.booleans()):
                settings.pop("model", None)
        elif move == "other":
            bodies.append(draw(st.one_of(texts, st.fixed_dictionaries({"input": texts}))))
            continue
        if move != "repeat":
            history += draw(st.lists(messages, max_size=3))
        bodies.append({**settings, "messages": [{"role": "system", "content": system}, *history]})
    return bodies


def as_sent(body: Any) -> Any:
    """A body as the server received it: text that happens to be JSON ("true", "12") is that JSON."""
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def as_vcr(bodies: list[Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": URI,
                    "body": b if isinstance(b, str) else json.dumps(b),
                    "headers": {"authorization": ["Bearer sk-never-written"]},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"content-type": ["application/json"]},
                    "body": {"string": json.dumps({"id": i, "choices": []})},
                },
            }
            for i, b in enumerate(bodies)
        ],
    }


@given(conversations())
def test_a_cassette_reads_back_exactly_what_was_written(bodies: list[Any]) -> None:
    text = format.dump(as_vcr(bodies))
    assert "sk-never-written" not in text  # request headers are never written
    read = format.parse(text, "c.yaml")
    assert [canonical(i.request.body) for i in read.interactions] == [canonical(as_sent(b)) for b in bodies]
    assert [json.loads(i.response["body"]["string"])["id"] for i in read.interactions] == list(range(len(bodies)))
    assert all(i.response["status"] == {"code": 200, "message": "OK"} for i in read.interactions)
    # and keys as the bodies did
    keyer = Keyer()
    expected = [Keyer().key("POST", "/v1/chat/completions", as_sent(b)) for b in bodies]
    assert [keyer.key("POST", "/v1/chat/completions", i.request.body) for i in read.interactions] == expected
    # the texts the reader builds along the way key the same
    with_texts = [
        Keyer().key("POST", "/v1/chat/completions", i.request.body, i.request.message_texts) for i in read.interactions
    ]
    assert with_texts == expected
    # the key stored beside each body is the digest of that body's key, and a keys-only read finds them
    assert [i.request.key for i in read.interactions] == [Keyer().digest("POST", URI, as_sent(b)) for b in bodies]
    lazy = format.parse(text, "c.yaml", keys_only=True)
    assert [i.request.key for i in lazy.interactions] == [i.request.key for i in read.interactions]
    assert all(i.request.body is None for i in lazy.interactions)  # no request body decoded
    # writing what was read gives the same file
    assert format.dump(format.to_vcr_dict(read)) == text


@given(st.lists(texts, min_size=1, max_size=4), texts, texts)
def test_a_system_message_edit_is_a_splice(lines: list[str], before: str, after: str) -> None:
    old = {"messages": [{"role": "system", "content": "\n".join([*lines, before])}, {"role": "user", "content": "x"}]}
    new = {"messages": [{"role": "system", "content": "\n".join([*lines, after])}, {"role": "user", "content": "x"}]}
    assume(before != after)
    delta = body_delta(old, new)
    assert apply_delta(old, delta) == new
    assert delta["messages"][0]["edit"] == 0  # only the changed text is stored
    assert len(delta["messages"][0]["insert"]) <= len(after)
    assert delta["messages"][-1] == {"same": [1, 1]}


def test_a_growing_conversation_grows_the_file_linearly() -> None:
    def cassette(turns: int) -> int:
        history: list[dict[str, Any]] = []
        bodies = []
        for turn in range(turns):
            history += [{"role": "user", "content": f"message {turn} " + "words " * 20}]
            bodies.append({"model": "m", "tools": [{"name": "t", "about": "x" * 500}], "messages": list(history)})
            history += [{"role": "assistant", "content": f"answer {turn}"}]
        return len(format.dump(as_vcr(bodies)))

    per_turn_at_50 = (cassette(100) - cassette(50)) / 50
    per_turn_at_150 = (cassette(200) - cassette(150)) / 50
    assert per_turn_at_150 < per_turn_at_50 * 1.1  # a turn costs the same late as early


def test_defaults_are_left_out_and_read_back() -> None:
    data = as_vcr([{"messages": []}, "plain text body"])
    data["interactions"][1]["request"]["method"] = "GET"
    data["interactions"][1]["response"]["status"] = {"code": 503, "message": "Service Unavailable"}
    data["interactions"][1]["response"]["headers"] = {"content-type": ["text/plain"]}
    data["interactions"][1]["response"]["body"] = {"string": "busy"}
    text = format.dump(data)
    assert text.count("method:") == 1 and "method: GET" in text  # POST is not written
    assert text.count("status:") == 1 and "status: 503" in text  # 200 is not written
    first, second = format.parse(text, "c.yaml").interactions
    assert (first.request.method, first.response["status"]) == ("POST", {"code": 200, "message": "OK"})
    assert first.response["headers"] == {"content-type": ["application/json"]}
    assert (second.request.method, second.response["status"]["code"]) == ("GET", 503)
    assert second.response["headers"] == {"content-type": ["text/plain"]}
    assert second.response["body"] == {"string": "busy"}


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 12), st.sampled_from([0.0, -0.0, 1.0, 1.5, 1e20]), texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("abc"), inner, max_size=3)),
    max_leaves=6,
)


@given(st.lists(st.lists(json_values, max_size=5), min_size=1, max_size=5), st.sampled_from([None, 2]))
def test_messages_reused_by_their_text_are_exactly_the_messages_sent(
    histories: list[list[Any]], indent: int | None
) -> None:
    """Writing reuses a message when its JSON text stands where the previous request's did: numbers that
    are prefixes of others (1, 12), 1 vs 1.0 vs true, and any spacing must never be taken for one another."""
    bodies = []
    grown: list[Any] = []
    for step, added in enumerate(histories):
        grown = [*grown, *added] if step % 3 else [*added, *grown]  # grow at the end, now and then at the start
        bodies.append({"model": "m", "messages": grown})
    data = as_vcr(bodies)
    for interaction, body in zip(data["interactions"], bodies, strict=True):
        interaction["request"]["body"] = json.dumps(body, indent=indent)
    read = format.parse(format.dump(data), "c.yaml")
    assert [canonical(i.request.body) for i in read.interactions] == [canonical(b) for b in bodies]


@given(st.lists(st.lists(st.integers(0, 5), max_size=6), min_size=1, max_size=8))
def test_a_keyer_reusing_the_previous_requests_texts_keys_as_a_fresh_one(picks: list[list[int]]) -> None:
    """Requests drawn from one pool of message objects (as a conversation resends its history, but in any
    order): the keyer that carries texts over from request to request keys each exactly as a new one."""
    pool = [{"role": "user", "content": f"message {n}"} for n in range(6)]
    keyer = Keyer()
    digests = Keyer()
    for pick in picks:
        body = {"model": "m", "messages": [pool[n] for n in pick]}
        assert keyer.key("POST", "/v1/chat/completions", body) == Keyer().key("POST", "/v1/chat/completions", body)
        # and its digests, which carry the previous request's over too
        fresh = Keyer().digest("POST", "/v1/chat/completions", body)
        assert digests.digest("POST", "/v1/chat/completions", body) == fresh


@given(conversations())
def test_a_keyer_for_bodies_decoded_afresh_keys_as_one_by_identity_and_keeps_none_of_them(bodies: list[Any]) -> None:
    """A recording's keyer sees each body decoded anew (vcrpy keeps bytes): caching its objects by id kept
    every one alive, so a long conversation's recording grew quadratic in memory."""
    fresh = Keyer(by_identity=False)
    for body in bodies:
        decoded = json.loads(json.dumps(as_sent(body)))  # new objects, as vcrpy's bytes decode to
        assert fresh.key("POST", "/v1/chat/completions", decoded) == Keyer().key(
            "POST", "/v1/chat/completions", decoded
        )
        assert fresh.digest("POST", URI, decoded) == Keyer().digest("POST", URI, decoded)
    assert fresh._kept == [] and fresh._encoded == {}


def test_request_bodies_that_are_json_but_not_objects_are_written_as_json() -> None:
    bodies: list[Any] = ["0", "[1, 2.5, true]", '"text"', "null", "not json at all"]
    read = format.parse(format.dump(as_vcr(bodies)), "c.yaml")
    assert [i.request.body for i in read.interactions] == [0, [1, 2.5, True], "text", None, "not json at all"]


schemas = st.dictionaries(st.text(max_size=4), st.one_of(st.integers(), texts, st.lists(st.integers(), max_size=2)))


@given(st.lists(schemas, max_size=4), st.lists(st.lists(st.integers(0, 3), max_size=5), min_size=1, max_size=4))
def test_tools_offered_in_new_lists_of_the_same_schemas_key_as_their_canonical_json(
    pool: list[dict[str, Any]], picks: list[list[int]]
) -> None:
    """A loop builds a new list of tools at every step from the same schema objects: the keyer encodes
    each schema once, and the key still holds exactly the canonical JSON of the list."""
    keyer = Keyer()
    for pick in picks:
        tools = [pool[n] for n in pick if n < len(pool)]
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools}
        key = keyer.key("POST", "/v1/chat/completions", body)
        assert key[2] == canonical({"model": "m"}) + "\n" + canonical(tools)
        assert key == Keyer().key("POST", "/v1/chat/completions", json.loads(json.dumps(body)))


request_keys = st.tuples(
    st.sampled_from(["POST", "GET"]),
    st.sampled_from(["chat/completions", "embeddings"]),
    texts,
    st.one_of(st.none(), st.lists(texts, max_size=4).map(tuple)),
)


@given(request_keys, request_keys)
def test_digests_are_equal_exactly_when_keys_are(a: Any, b: Any) -> None:
    """The stored key stands for the request key: a digest tells keys apart however their parts split
    (JSON parts never hold a raw NUL, the separator)."""
    a = (*a[:2], a[2].replace("\0", ""), a[3] and tuple(t.replace("\0", "") for t in a[3]))
    b = (*b[:2], b[2].replace("\0", ""), b[3] and tuple(t.replace("\0", "") for t in b[3]))
    assert (digest(a) == digest(b)) == (a == b)
    assert digest(a).startswith(KEY_SCHEME + ":")


def test_a_cassette_without_stored_keys_is_keyed_from_its_bodies() -> None:
    """Cassettes written before keys were stored still load, keyed from their bodies, even for a
    keys-only read (one request without a key is enough for every body to be decoded)."""
    bodies = [{"messages": [{"role": "user", "content": "hi"}]}, {"messages": [{"role": "user", "content": "yo"}]}]
    text = format.dump(as_vcr(bodies))
    old = text.replace("    key: " + Keyer().digest("POST", URI, bodies[1]) + "\n", "", 1)
    assert old != text
    read = format.parse(old, "c.yaml", keys_only=True)
    assert [i.request.body for i in read.interactions] == bodies
    assert read.interactions[1].request.key is None
    assert read.interactions[0].request.key == Keyer().digest("POST", URI, bodies[0])


lines_of_text = st.lists(st.sampled_from(["a\n", "b\n", "ab\n", "\n", "x", "ü\r\n", "c\u2028"]), max_size=12).map(
    "".join
)


@given(lines_of_text, lines_of_text)
def test_a_message_edited_in_several_places_is_stored_as_splices_that_rebuild_it(old: str, new: str) -> None:
    """However a text changed, its splices rebuild it, apart and in order, and store no more than the
    characters that differ from the old text around each change."""
    before = {"messages": [{"role": "system", "content": old}]}
    after = {"messages": [{"role": "system", "content": new}]}
    assume(old != new)
    delta = body_delta(before, after)
    assert apply_delta(before, delta) == after
    item = delta["messages"][0]
    splices = item.get("splices") or [[item["at"], item["cut"], item["insert"]]]
    assert len(splices) == 1 or "at" not in item
    ends = [0]
    for at, cut, insert in splices:
        assert at >= ends[-1] and (cut or insert)
        ends.append(at + cut)
    assert sum(len(insert) for _at, _cut, insert in splices) <= len(new)


@st.composite
def interleaved(draw: st.DrawFn) -> list[Any]:
    """Two or three conversations in one cassette (an agent, its summarizer, a simulated user): each
    its own system prompt's first line and tools, their requests taken in any order."""
    streams = []
    for number in range(draw(st.integers(2, 3))):
        bodies = draw(conversations())
        tools = draw(st.sampled_from([None, [{"name": "a"}], [{"name": "b"}]]))
        for body in bodies:
            if isinstance(body, dict) and "messages" in body:
                body["messages"][0]["content"] = f"prompt {number % 2}\n" + body["messages"][0]["content"]
                if tools is not None:
                    body["tools"] = tools
        streams.append(bodies)
    order = draw(st.permutations([i for i, bodies in enumerate(streams) for _ in bodies]))
    taken = [0] * len(streams)
    merged = []
    for stream in order:
        merged.append(streams[stream][taken[stream]])
        taken[stream] += 1
    return merged


@given(interleaved())
def test_interleaved_conversations_read_back_exactly(bodies: list[Any]) -> None:
    """A request is a delta from the latest one of its own conversation (`base` names it when that is
    not the request just before), and every body reads back as it was sent."""
    text = format.dump(as_vcr(bodies))
    read = format.parse(text, "c.yaml")
    assert [canonical(i.request.body) for i in read.interactions] == [canonical(as_sent(b)) for b in bodies]
    expected = [Keyer().key("POST", "/v1/chat/completions", as_sent(b)) for b in bodies]
    assert [
        Keyer().key("POST", "/v1/chat/completions", i.request.body, i.request.message_texts) for i in read.interactions
    ] == expected
    assert format.dump(format.to_vcr_dict(read)) == text


def test_a_request_is_a_delta_from_the_latest_of_its_own_conversation() -> None:
    agent = [{"role": "system", "content": "You are an agent.\nmemory: a"}, {"role": "user", "content": "hi"}]
    summarizer = [{"role": "system", "content": "Summarize.\n"}, {"role": "user", "content": "hi"}]
    bodies = [
        {"messages": agent, "tools": [{"name": "send_message"}]},
        {"messages": summarizer},
        {
            "messages": [{**agent[0], "content": "You are an agent.\nmemory: ab"}, agent[1]],
            "tools": [{"name": "send_message"}],
        },
    ]
    data = yaml.safe_load(format.dump(as_vcr(bodies)))
    third = json.loads(data["interactions"][2]["request"]["body"]["delta"])
    assert third == {"base": 0, "messages": [{"edit": 0, "at": 27, "cut": 0, "insert": "b"}, {"same": [1, 1]}]}
    assert [canonical(i.request.body) for i in format.parse(format.dump(as_vcr(bodies)), "c").interactions] == [
        canonical(b) for b in bodies
    ]


def test_a_delta_naming_no_earlier_request_is_a_cassette_error() -> None:
    text = format.dump(
        as_vcr([{"messages": [{"role": "user", "content": "a"}]}, {"messages": [{"role": "user", "content": "b"}]}])
    )
    broken = text.replace("delta: |\n        {\n", 'delta: |\n        {\n        "base": 1,\n', 1)
    assert broken != text
    with pytest.raises(
        CassetteError,
        match=r"interaction 1 \(line [0-9]+\): ValueError: a delta's base must be an earlier request's number, not 1",
    ):
        format.parse(broken, "c.yaml")


def test_a_key_of_another_scheme_is_not_trusted() -> None:
    """A key written by a harness that keys requests another way (another scheme prefix) is ignored:
    the request is keyed from its body, as in a cassette without keys."""
    bodies = [{"messages": [{"role": "user", "content": "hi"}]}]
    text = format.dump(as_vcr(bodies))
    stored = Keyer().digest("POST", URI, bodies[0])
    other = text.replace(f"key: {stored}", "key: k0:" + stored.split(":", 1)[1])
    assert other != text
    read = format.parse(other, "c.yaml", keys_only=True)
    assert read.interactions[0].request.key is None
    assert read.interactions[0].request.body == bodies[0]  # decoded, to be keyed


def test_the_key_scheme_is_pinned() -> None:
    """Cassettes store these digests and replay trusts them: a change to how requests are keyed or hashed
    must come with a new KEY_SCHEME (old keys are then recomputed from the bodies), never silently."""
    chat = {
        "model": "m",
        "temperature": 0.0,
        "messages": [{"role": "system", "content": "You are ✨"}, {"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "send_message"}}],
    }
    embeddings = {"model": "e", "input": ["a", "b"], "encoding_format": "float"}
    assert KEY_SCHEME == "k1"
    assert Keyer().digest("POST", "/v1/chat/completions", chat) == "k1:85648e77f315a26dc622c7a2e766b444"
    assert Keyer().digest("POST", "/proxy/v1/embeddings", embeddings) == "k1:f9f6fbfb753b788d4ef72734df9ee905"
    assert Keyer().digest("GET", "/v1/models", "not json") == "k1:e8ab46b5276e04169535fb0e68d1d841"


def test_a_system_message_changed_at_its_top_and_bottom_is_two_splices_and_a_rewrite_is_one() -> None:
    lines = [f"line {n}\n" for n in range(40)]
    old = "".join(lines)
    new = "".join(["line 0 (12:01)\n", *lines[1:30], "a new fact\n", *lines[30:]])
    item = body_delta(
        {"messages": [{"role": "system", "content": old}]}, {"messages": [{"role": "system", "content": new}]}
    )
    assert item["messages"][0]["splices"] == [[6, 0, " (12:01)"], [old.index("line 30"), 0, "a new fact\n"]]
    rewritten = "".join(f"other {n}\n" for n in range(200))  # past the edits a script may take: one splice
    item = body_delta(
        {"messages": [{"role": "system", "content": old}]}, {"messages": [{"role": "system", "content": rewritten}]}
    )
    assert set(item["messages"][0]) == {"edit", "at", "cut", "insert"}


@pytest.mark.parametrize("where", ["request", "response"])
def test_a_body_nested_deeper_than_json_reads_is_written_and_read_back_as_text(where: str) -> None:
    """An endpoint can answer `[[[[...` thousands deep: writing the cassette (which decodes JSON bodies to
    store them readably) raised RecursionError; the body is kept as the text it came as."""
    deep = "[" * 100_000 + "]" * 100_000
    cassette = as_vcr([{"messages": []}])
    if where == "request":
        cassette["interactions"][0]["request"]["body"] = deep
    else:
        cassette["interactions"][0]["response"]["body"]["string"] = deep
    back = format.parse(format.dump(cassette), "c.yaml").interactions[0]
    if where == "request":
        assert back.request.body == deep
    else:
        assert back.response["body"]["string"].strip() == deep


metadata_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), texts),
    lambda inner: st.dictionaries(st.sampled_from(["agent", "parts", "model", "x", "tools"]), inner, max_size=3),
    max_leaves=8,
)


@given(
    st.dictionaries(st.sampled_from(["recorded_with", "agent", "tool_call_ids", "other"]), metadata_values),
    st.lists(st.dictionaries(texts, texts, max_size=2), max_size=3),
)
def test_a_replay_read_leaves_out_the_fingerprint_and_nothing_else(metadata: dict[str, Any], bodies: list[Any]) -> None:
    text = format.dump({**as_vcr([{"messages": [m], "model": "m"} for m in bodies]), "metadata": metadata})
    full, lazy = format.parse(text, "c.yaml"), format.parse(text, "c.yaml", keys_only=True)
    assert full.metadata == metadata
    key = format.FINGERPRINT_KEY
    assert {k: v for k, v in lazy.metadata.items() if k != key} == {k: v for k, v in metadata.items() if k != key}
    if isinstance(metadata.get(key), dict) and metadata[key]:
        assert key not in lazy.metadata  # a fingerprint block is not even parsed
    assert [i.response for i in lazy.interactions] == [i.response for i in full.interactions]
    assert [i.request.key for i in lazy.interactions] == [i.request.key for i in full.interactions]


def test_a_replay_read_of_a_broken_file_names_the_files_own_line() -> None:
    """Replay reads the cassette without its fingerprint's lines; an error must still point at the line of
    the file as it is (it pointed 20 lines too early, where `cassettes check` was right)."""
    text = (ROOT / "cassettes" / "chat" / "remember_name.yaml").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    broken_at = next(n for n, line in enumerate(lines, 1) if n > 40 and line.startswith("        {"))
    lines[broken_at - 1] = "\t" + lines[broken_at - 1]
    broken = "".join(lines)
    for keys_only in (False, True):
        with pytest.raises(CassetteError) as caught:
            format.parse(broken, "remember_name.yaml", keys_only=keys_only)
        assert f"line {broken_at}, column 1" in str(caught.value)


def test_an_interaction_edited_into_nonsense_is_told_with_its_line() -> None:
    """It said `interaction 2: ...: line 4 column 3`, the line counted from the start of the delta block."""
    bodies: list[Any] = [
        {"model": "m", "messages": [{"role": "user", "content": f"message {n}"} for n in range(count)]}
        for count in (1, 2, 3)
    ]
    text = format.dump(as_vcr(bodies))
    lines = text.splitlines()
    third = [number for number, line in enumerate(lines, start=1) if line.startswith("- request:")][2]
    broken = "\n".join(lines[:third] + [line.replace('{"same":[0,1]}', '{"same":[0,9]}') for line in lines[third:]])
    with pytest.raises(CassetteError, match=rf"interaction 2 \(line {third}\): ValueError: message item 0: 'same' ref"):
        format.parse(broken, "c.yaml")


_SHIPPED = (ROOT / "cassettes" / "chat" / "remember_name.yaml").read_text(encoding="utf-8")
_SCALAR_ENTRIES = [  # (line number, indent, key, the line): a `key: value` entry whose value is on its line
    (number, len(found.group(1)), found.group(3), line)
    for number, line in enumerate(_SHIPPED.splitlines(), start=1)
    if (found := re.match(r"( *)(- )?([A-Za-z_]+): (?![|>])\S", line))
]

_FINGERPRINT_LINES = (  # the lines of `agent:` and of the key after its block, 1-based
    _SHIPPED[: _SHIPPED.index("\n  agent:\n")].count("\n") + 2,
    _SHIPPED.splitlines().index("version: 1") + 1,
)


@given(st.sampled_from(_SCALAR_ENTRIES), st.booleans())
def test_a_key_given_twice_is_refused_with_both_lines(entry: tuple[int, int, str, str], keys_only: bool) -> None:
    """PyYAML keeps the last of two equal keys silently: a merge that kept both sides replayed whichever
    came second, and `cassettes check` said nothing. Refused as agents.yaml and scenario files refuse it."""
    number, indent, key, line = entry
    copy = " " * indent + line[indent:].removeprefix("- ")
    if line[indent:].startswith("- "):
        copy = "  " + copy  # the entry after `- ` is a mapping's first key: its copy is that mapping's next
    lines = _SHIPPED.splitlines(keepends=True)
    lines.insert(number, copy + "\n")
    if keys_only and _FINGERPRINT_LINES[0] < number < _FINGERPRINT_LINES[1]:
        format.parse("".join(lines), "c.yaml", keys_only=True)  # replay leaves the fingerprint unread
        keys_only = False  # `cassettes check` reads it
    with pytest.raises(CassetteError, match=rf"line {number + 1}: duplicate key `{key}` \(first at line {number}\)"):
        format.parse("".join(lines), "c.yaml", keys_only=keys_only)


def test_a_merge_that_kept_both_sides_is_refused() -> None:
    """Two `response:` in one interaction, two `interactions:` lists: each is named at its second line."""
    start = _SHIPPED.index("  response:\n")
    twice = _SHIPPED + _SHIPPED[start:]  # `response:` again, in the last interaction
    line = _SHIPPED.count("\n") + 1
    with pytest.raises(CassetteError, match=rf"line {line}: duplicate key `response` \(first at line \d+\)"):
        format.parse(twice, "c.yaml", keys_only=True)
    interactions = _SHIPPED[_SHIPPED.index("interactions:\n") :]
    with pytest.raises(CassetteError, match=rf"line {line}: duplicate key `interactions`"):
        format.parse(_SHIPPED + interactions, "c.yaml")
    assert format.parse(_SHIPPED, "c.yaml").interactions  # as shipped: read


@pytest.mark.parametrize("key", ["{[1]: 2}", "{{a: 1}: 2}", "\n  ? [a, b]\n  : c"])
def test_a_list_or_mapping_as_a_key_is_a_cassette_error_with_its_line(key: str) -> None:
    """`{build(key): ...}` raised TypeError (unhashable), which named neither the cassette nor the line."""
    text = _SHIPPED + f"extra: {key}\n"
    line = _SHIPPED.count("\n") + 1 + key.count("\n") - (1 if "?" in key else 0)
    with pytest.raises(
        CassetteError, match=rf"c.yaml is not a readable cassette .*line {line}: a mapping key that is a"
    ):
        format.parse(text, "c.yaml")


def test_a_control_character_in_a_cassette_is_refused_at_its_line_and_column() -> None:
    """The fast reader took a DEL in a literal block that PyYAML refuses (a cassette read differently once a
    comment was added), and PyYAML's refusal said "position N", an offset in bytes."""
    lines = _SHIPPED.splitlines(keepends=True)
    number = next(n for n, line in enumerate(lines, 1) if n > 40 and line.startswith("        {"))
    lines[number - 1] = lines[number - 1].replace("{", "{é\x7f", 1)
    for text in ("".join(lines), "# edited\n" + "".join(lines)):
        line = number + text.startswith("#")
        with pytest.raises(CassetteError, match=rf"#x007f: control characters are not allowed, line {line}, column 11"):
            format.parse(text, "c.yaml", keys_only=True)


def test_a_cassette_at_the_size_limit_is_read_well_within_a_gibibyte(tmp_path: Path) -> None:
    """A 240 MB cassette (the limit was 256 MB) ran `cassettes check` out of a 1 GiB allowance (MemoryError):
    what reading one takes, measured on a cassette of big answers, times the limit, stays under 512 MB."""
    from harness.cassettes.replay import ReplayCassette
    from harness.yamlsource import CASSETTE_LIMITS

    start = _SHIPPED.index("interactions:\n") + len("interactions:\n")
    item = _SHIPPED[start:].replace('"content":"', '"content":"' + "x" * 2_000_000, 1)
    cassette = tmp_path / "big.yaml"
    unkeyed = "".join(
        line for line in (_SHIPPED + item * 4).splitlines(keepends=True) if not line.startswith("    key:")
    )
    cassette.write_text(unkeyed, encoding="utf-8")  # keyed from its bodies: an interaction repeated keeps its key
    size = cassette.stat().st_size
    tracemalloc.start()
    try:
        for verify in (False, True):  # as replay reads it, and as `cassettes check` does
            ReplayCassette(cassette, verify=verify)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / size * CASSETTE_LIMITS.max_bytes < 512 * 2**20, f"{peak / size:.1f} times the file's size"


def test_a_cassette_too_big_for_the_memory_allowed_is_one_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `ulimit -v` (or in a small container) a MemoryError was a traceback naming no file."""

    def exhausted(text: str) -> Any:
        raise MemoryError

    monkeypatch.setattr(format.yamlsubset, "read", exhausted)
    with pytest.raises(CassetteError, match=r"^c.yaml is too big \(0 MB\) to read in the memory this process may use"):
        format.parse(_SHIPPED, "c.yaml")


def _asked(*ids: str) -> dict[str, object]:
    calls = [{"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in ids]
    return {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": calls}]
    }


def _answered(*ids: str, stream: bool = False) -> str:
    calls = [{"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in ids]
    if stream:
        return "".join(
            f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'tool_calls': [call]}}]})}\n\n" for call in calls
        )
    return json.dumps({"choices": [{"message": {"role": "assistant", "tool_calls": calls}}]})


@pytest.mark.parametrize("stream", [False, True])
def test_which_ids_a_cassette_without_metadata_holds_is_told_from_its_requests(stream: bool) -> None:
    """A plain vcrpy cassette sends back the provider's ids, the harness's from before provider ids were kept
    `call_N_i`: taking every cassette without `metadata.tool_call_ids` for the latter made the former miss."""
    answers = [_answered("call_abc", stream=stream), "not json", _answered(stream=stream)]
    assert format.history_call_ids([_asked(), _asked("call_abc")], answers) == "provider"
    assert format.history_call_ids([_asked(), _asked("call_1_0")], answers) == "local"
    assert format.history_call_ids([_asked(), _asked("call_1_0", "call_abc")], answers) == "provider"
    # nothing sent back (one step), or only ids neither scheme tells (Letta's boot call's): not told
    assert format.history_call_ids([_asked(), "text", None], answers) is None
    assert format.history_call_ids([_asked("eb1167b3-67a9-4378-bc65-c1e58")], answers) is None


@given(st.lists(st.from_regex(r"call_[a-z0-9]{1,8}", fullmatch=True), min_size=1, max_size=4, unique=True))
def test_a_provider_id_sent_back_is_always_told_provider(ids: list[str]) -> None:
    assert format.history_call_ids([_asked(ids[-1])], [_answered(*ids)]) == "provider"


# ------------------------------------------------------------------ text beyond U+FFFF


class PurePythonDumper(yaml.SafeDumper):
    pass


PurePythonDumper.add_representer(str, format._str_representer)


def without_libyaml(data: dict[str, Any]) -> str:
    """`format.dump` as it writes where PyYAML has no libyaml: PyYAML's own emitter."""
    saved = format._Dumper, format._DUMPER
    format._Dumper, format._DUMPER = PurePythonDumper, yaml.SafeDumper
    try:
        return format.dump(data)
    finally:
        format._Dumper, format._DUMPER = saved


def test_an_emoji_keeps_each_body_a_literal_block_one_message_a_line() -> None:
    """libyaml's emitter takes a character beyond U+FFFF for unprintable: one emoji in a persona made every
    body holding it a double-quoted scalar of `\\U0001F916` escapes, and the cassette's diffs unreadable."""
    system = {"role": "system", "content": "<persona>\nI am a bot 🤖\n</persona>"}
    user = {"role": "user", "content": "hi 😀, 👩\u200d💻 here"}
    answer = {"role": "assistant", "content": "hello 👋"}
    bodies = [{"model": "m", "messages": [system, user]}, {"model": "m", "messages": [system, user, answer]}]
    data = {**as_vcr(bodies), "metadata": {"agent": {"blocks": {"persona": "I am a bot 🤖"}}}}
    data["interactions"][0]["response"]["body"]["string"] = json.dumps(answer, ensure_ascii=False)
    text = format.dump(data)
    assert "\\U" not in text
    assert re.findall(r"^ +(?:body|delta): (\S+)", text, re.MULTILINE) == ["|"] * 4  # two requests, their responses
    assert '\n        {"role":"system","content":"<persona>\\nI am a bot 🤖\\n</persona>"},\n' in text
    assert '\n        {"role":"user","content":"hi 😀, 👩\u200d💻 here"}\n' in text
    assert '\n          {"role":"assistant","content":"hello 👋"}\n' in text  # in the second request's delta
    assert '\n    body: |\n      {"role":"assistant","content":"hello 👋"}\n' in text  # the first response
    assert "\n      persona: I am a bot 🤖\n" in text
    read = format.parse(text, "c.yaml")
    assert [i.request.body for i in read.interactions] == bodies
    assert read.metadata == data["metadata"]
    assert json.loads(read.interactions[0].response["body"]["string"]) == answer
    assert format.dump(format.to_vcr_dict(read)) == text
    assert without_libyaml(data) == text  # the text PyYAML's own emitter writes


# Text as messages hold it: words, quotes and backslashes, line breaks and tabs, non-ASCII in and beyond the
# BMP (an emoji with a joiner, a tag character, U+10FFFF which both emitters escape), the private use area,
# DEL, which JSON leaves raw (its body is then written double-quoted), and NEL, which JSON bodies escape but a
# persona or a text answer holds as it is.
beyond = st.text(
    alphabet=st.sampled_from(list('ab "\\\n\té中😀👩‍💻\U000e0041\U0010ffff\U00010000\ue000\ue001\uf8ff\x7f\x85')),
    max_size=12,
)


@given(st.lists(beyond, min_size=1, max_size=4), beyond, beyond)
def test_text_beyond_the_bmp_is_written_as_pyyaml_writes_it_and_read_back_exactly(
    contents: list[str], persona: str, answer: str
) -> None:
    bodies = [
        {"model": "m", "messages": [{"role": "user", "content": c} for c in contents[: n + 1]]}
        for n in range(len(contents))
    ]
    data = {**as_vcr(bodies), "metadata": {"agent": {"persona": persona, "tools": [persona]}}}
    data["interactions"][0]["response"]["body"]["string"] = f"not JSON: {answer}"  # text kept as it is
    text = format.dump(data)
    assert text == without_libyaml(data)
    read = format.parse(text, "c.yaml")
    assert [i.request.body for i in read.interactions] == bodies
    assert read.metadata == data["metadata"]
    assert read.interactions[0].response["body"]["string"] == f"not JSON: {answer}"
    assert format.dump(format.to_vcr_dict(read)) == text


@pytest.mark.parametrize("text", ["a\x85b", "line\x85\nnext\n", "\x85"])
def test_a_next_line_character_outside_json_is_read_back_with_or_without_libyaml(text: str) -> None:
    """PyYAML's own emitter wrote a NEL (U+0085) raw, in a `|` block or a quoted line, where YAML reads it as
    a line break: a persona or a text answer holding one came back with a newline, or a space, in its place.
    libyaml escapes it (`\\N`); so does the text written without libyaml now, the same text."""
    data = {**as_vcr([{"model": "m", "messages": []}]), "metadata": {"agent": {"persona": text}}}
    data["interactions"][0]["response"]["body"]["string"] = f"not JSON: {text}"
    written = without_libyaml(data)
    assert written == format.dump(data)
    read = format.parse(written, "c.yaml")
    assert read.metadata == data["metadata"]
    assert read.interactions[0].response["body"]["string"] == f"not JSON: {text}"
