"""Replay does not depend on where a cassette was recorded: requests match on the endpoint's operation
(`chat/completions`), not the base URL's prefix, and a miss says when the prefix differs."""

from __future__ import annotations

from pathlib import Path

from harness.cassettes.keys import Keyer, current_digest, digest, operation, path_prefix
from tests.fakes import REMEMBER, REMEMBER_RESPONSES, FakeOpenAI, make_project


def test_operation_and_prefix() -> None:
    assert operation("/some/prefix/v1/chat/completions") == "chat/completions"
    assert operation("/v1/embeddings") == "embeddings"
    assert operation("/openai/deployments/gpt-4o/chat/completions") == "chat/completions"
    assert operation("/v1/models") == "/v1/models"  # no known operation: the whole path
    assert path_prefix("/some/prefix/v1/chat/completions") == "/some/prefix/v1"
    assert path_prefix("/chat/completions") == ""
    keyer = Keyer()
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert keyer.key("POST", "/a/v1/chat/completions", body) == keyer.key("post", "/b/chat/completions", body)
    assert keyer.key("POST", "/v1/chat/completions", body) != keyer.key("POST", "/v1/embeddings", body)


def test_an_operation_is_a_whole_path_segment_and_a_trailing_slash_is_no_other_path() -> None:
    assert operation("/v1/chat/completions/") == "chat/completions"
    assert path_prefix("/x/v1/embeddings/") == "/x/v1"
    # a path that merely ends in an operation's name names another endpoint
    assert operation("/v1/my_embeddings") == "/v1/my_embeddings"
    assert operation("/v1/text_completions") == "/v1/text_completions"


def test_the_method_counts_case_blind_whatever_the_body() -> None:
    """vcrpy and httpx may spell a method in either case; a text body or a JSON body without messages is
    keyed alike."""
    for body in ("not json", {"input": "hi"}, [1, 2]):
        assert Keyer().key("post", "/v1/embeddings", body) == Keyer().key("POST", "/v1/embeddings", body)


def test_only_a_full_length_key_of_this_scheme_is_trusted() -> None:
    stored = digest(Keyer().key("POST", "/v1/embeddings", {"input": "hi"}))
    assert current_digest(stored)
    assert not current_digest(stored[:-1]) and not current_digest(stored + "0")
    assert not current_digest("k1:") and not current_digest("k0" + stored[2:])


def test_a_cassette_recorded_through_a_prefix_replays_through_another(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        prefixed = server.base_url.removesuffix("/v1") + "/some/prefix/v1"
        project.write_agents(base_url=prefixed)
        recorded = project.runner("all").run(project.scenario("remember"))
    assert recorded.outcome == "passed", recorded.explain()
    assert "/some/prefix/v1/chat/completions" in (project.cassettes / "remember.yaml").read_text(encoding="utf-8")
    for base_url in ("http://127.0.0.1:9/v1", "http://localhost:1/other/gateway/v1", "https://api.openai.com/v1"):
        project.write_agents(base_url=base_url)
        replayed = project.replay("remember")
        assert replayed.outcome == "passed", (base_url, replayed.explain())
        assert replayed.unplayed == []


def test_a_miss_through_another_prefix_says_the_prefix_is_not_why(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"remember": REMEMBER})
    with FakeOpenAI(list(REMEMBER_RESPONSES)) as server:
        project.write_agents(base_url=server.base_url.removesuffix("/v1") + "/some/prefix/v1")
        project.runner("all").run(project.scenario("remember"))
    project.write_agents(base_url="http://127.0.0.1:9/v1")
    path = project.scenario_path("remember")
    path.write_text(path.read_text(encoding="utf-8").replace("Hi! My name is Azin.", "Hi! I am Azin."))
    result = project.replay("remember")
    assert result.outcome == "failed" and result.stale
    text = "\n".join(result.stale)
    assert "-Hi! My name is Azin." in text and "+Hi! I am Azin." in text  # the real reason, as a diff
    assert (
        "  recorded through the base URL path '/some/prefix/v1', replayed through '/v1': requests match whatever "
        "the prefix, so that is not why this one missed"
    ) in result.stale
