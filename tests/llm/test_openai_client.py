from __future__ import annotations

import base64
import http.server
import json
import socket
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from harness.errors import LLMError, RunError
from harness.factory import AgentFactory
from harness.llm import openai_client
from harness.llm.openai_client import NO_KEY, OpenAIChatModel
from harness.llm.settings import OPENAI_BASE_URL, ModelSettings
from harness.secrets import MASK, Secrets
from tests.fakes import REMEMBER, make_project
from tests.helpers import TEST_SETTINGS, Script, call, completion, serve

MESSAGES = [{"role": "user", "content": "hi"}]


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_one_line_naming_the_endpoint() -> None:
    base_url = f"http://127.0.0.1:{unused_port()}/v1"
    model = OpenAIChatModel(ModelSettings(name="m", base_url=base_url, max_retries=0, timeout=5))
    with pytest.raises(LLMError) as info:
        model.complete(MESSAGES, [])
    message = str(info.value)
    assert message.startswith(f"cannot reach the model endpoint {base_url}: ")
    assert "\n" not in message
    assert isinstance(info.value, RunError) and info.value.exit_code == 1


def test_unauthorized_names_the_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    script = Script([httpx2.Response(401, json={"error": {"message": "Incorrect API key", "type": "auth"}})])
    model = script.model(ModelSettings(name="gpt-4o-mini", max_retries=0))
    with pytest.raises(LLMError) as info:
        model.complete(MESSAGES, [])
    assert str(info.value) == (
        f"the model endpoint {OPENAI_BASE_URL} refused the API key from $OPENAI_API_KEY (HTTP 401)"
    )
    assert len(script.requests) == 1


def test_a_base_url_with_a_user_and_password_sends_them_as_basic_auth_and_a_refusal_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unsent")
    sent: list[str] = []

    def refuse(request: httpx2.Request) -> httpx2.Response:
        sent.append(request.headers["authorization"])
        return httpx2.Response(401, json={"error": {"message": "who are you"}})

    settings = ModelSettings(name="m", base_url="http://probe:pw-SECRET@llm.test/v1", max_retries=0)
    model = OpenAIChatModel(settings, http_client=httpx2.Client(transport=httpx2.MockTransport(refuse)))
    with pytest.raises(LLMError) as info:
        model.complete(MESSAGES, [])
    assert str(info.value) == (
        "the model endpoint http://llm.test/v1 refused the user and password in its base URL (sent as HTTP "
        "Basic auth, in place of a bearer API key) (HTTP 401)"
    )
    assert sent == ["Basic " + base64.b64encode(b"probe:pw-SECRET").decode()]


def test_forbidden_is_also_a_key_problem() -> None:
    script = Script([httpx2.Response(403, json={"error": {"message": "no"}})])
    with pytest.raises(LLMError, match=r"refused the API key from \$OPENAI_API_KEY \(HTTP 403\)"):
        script.model().complete(MESSAGES, [])


def test_missing_api_key_without_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMError, match="no API key: set the environment variable OPENAI_API_KEY"):
        OpenAIChatModel(ModelSettings(name="gpt-4o-mini"))
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(LLMError, match="environment variable MY_KEY"):
        OpenAIChatModel(ModelSettings(name="gpt-4o-mini", api_key_env="MY_KEY"))


def test_key_from_named_variable_or_placeholder_for_local_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers.get("authorization"))
        return httpx2.Response(200, json=completion(content="hi"))

    client = httpx2.Client(transport=httpx2.MockTransport(handler))
    OpenAIChatModel(TEST_SETTINGS, http_client=client).complete(MESSAGES, [])
    monkeypatch.setenv("MY_KEY", "sk-mine")
    OpenAIChatModel(ModelSettings(name="m", api_key_env="MY_KEY"), http_client=client).complete(MESSAGES, [])
    assert seen == [f"Bearer {NO_KEY}", "Bearer sk-mine"]


def test_other_http_error_is_one_line() -> None:
    script = Script([httpx2.Response(500, json={"error": {"message": "model\n  overloaded", "type": "server"}})])
    with pytest.raises(LLMError) as info:
        script.model().complete(MESSAGES, [])
    message = str(info.value)
    assert message.startswith("the model endpoint http://llm.test/v1 answered HTTP 500: ")
    assert "model overloaded" in message and "\n" not in message


def test_timeout_names_the_limit() -> None:
    script = Script([httpx2.ReadTimeout("slow")])
    with pytest.raises(LLMError, match=r"^the model endpoint http://llm.test/v1 did not answer within 10 s$"):
        script.model().complete(MESSAGES, [])


def test_transport_error_becomes_llm_error() -> None:
    script = Script([httpx2.ConnectError("no route")])
    with pytest.raises(LLMError, match=r"cannot reach the model endpoint http://llm\.test/v1: no route$"):
        script.model().complete(MESSAGES, [])


def test_no_choices() -> None:
    body = completion(content="x")
    body["choices"] = []
    with pytest.raises(LLMError, match="returned no choices"):
        Script([body]).model().complete(MESSAGES, [])


def test_request_body_and_parsed_response() -> None:
    settings = ModelSettings(
        name="m1",
        base_url="http://llm.test/v1",
        temperature=0.3,
        max_tokens=64,
        seed=7,
        tool_choice="auto",
        max_retries=0,
    )
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    script = Script([completion(call("f", {"a": 1}, "srv-1"), content="thinking")])
    response = script.model(settings).complete(MESSAGES, tools)
    body = script.requests[0]
    assert body["model"] == "m1"
    assert body["messages"] == MESSAGES
    assert body["temperature"] == 0.3
    assert body["max_tokens"] == 64 and body["seed"] == 7
    assert body["tools"] == tools and body["tool_choice"] == "auto"
    assert response.content == "thinking"
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [("srv-1", "f", '{"a": 1}')]
    assert response.model == "scripted-model"
    assert response.finish_reason == "tool_calls"
    assert response.usage == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def test_no_tools_means_no_tool_choice() -> None:
    script = Script([completion(content="plain")])
    response = script.model().complete(MESSAGES, [])
    assert "tools" not in script.requests[0] and "tool_choice" not in script.requests[0]
    assert "max_tokens" not in script.requests[0] and "seed" not in script.requests[0]
    assert response.tool_calls == () and response.content == "plain"


def test_errors_never_print_credentials_in_the_url() -> None:
    settings = ModelSettings(name="m", base_url="http://user:s3cret@127.0.0.1:9/v1?token=abc", max_retries=0, timeout=2)
    with pytest.raises(LLMError) as caught:
        OpenAIChatModel(settings, api_key="k").complete([{"role": "user", "content": "hi"}], [])
    message = str(caught.value)
    assert "http://127.0.0.1:9/v1" in message
    assert "s3cret" not in message and "user" not in message and "token" not in message


LONG_KEY = "sk-" + "x" * 40 + "/tail-9"


def test_an_error_quoting_the_key_is_masked_before_it_is_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", LONG_KEY)
    # The key straddles the 300-character cut: cutting first would leave its first half in the message.
    message = "y" * 260 + f" Incorrect API key provided: {LONG_KEY}"
    script = Script([httpx2.Response(400, json={"error": {"message": message, "type": "invalid_request_error"}})])
    with pytest.raises(LLMError) as info:
        script.model().complete(MESSAGES, [])
    assert "HTTP 400" in str(info.value)
    assert "sk-x" not in str(info.value)


def test_a_key_echoed_in_a_completion_is_masked_before_the_agent_sees_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", LONG_KEY)
    body = completion(call("send_message", {"message": f"key {LONG_KEY}"}), content=f"I saw {LONG_KEY}")
    escaped = json.dumps(body).replace("/", "\\/")  # as PHP-style servers write JSON
    script = Script([httpx2.Response(200, content=escaped, headers={"content-type": "application/json"})])
    response = script.model().complete(MESSAGES, [])
    assert response.content == f"I saw {MASK}"
    assert json.loads(response.tool_calls[0].arguments) == {"message": f"key {MASK}"}


def test_the_secrets_given_are_masked_too() -> None:
    """The factory hands the run's secrets (every agent's key variable, URL credentials) to the client."""
    script = Script([completion(content="the password is hunter2-horse")])
    client = httpx2.Client(transport=httpx2.MockTransport(script.handler))
    model = OpenAIChatModel(TEST_SETTINGS, http_client=client, secrets=Secrets(frozenset({"hunter2-horse"})))
    assert model.complete(MESSAGES, []).content == f"the password is {MASK}"


def test_a_timeout_is_not_retried_so_a_hung_endpoint_costs_one_timeout() -> None:
    script = Script([httpx2.ReadTimeout("slow"), completion(content="late")])
    settings = ModelSettings(name="m", base_url="http://llm.test/v1", max_retries=2, timeout=3)
    with pytest.raises(LLMError, match="did not answer within 3 s"):
        script.model(settings).complete(MESSAGES, [])
    assert len(script.requests) == 1


def test_retried_statuses_and_connection_errors_are_retried() -> None:
    overloaded = httpx2.Response(503, headers={"retry-after": "0"}, json={"error": {"message": "overloaded"}})
    script = Script([overloaded, httpx2.ConnectError("reset"), completion(content="hello")])
    settings = ModelSettings(name="m", base_url="http://llm.test/v1", max_retries=2)
    assert script.model(settings).complete(MESSAGES, []).content == "hello"
    assert len(script.requests) == 3
    gone = Script([overloaded, overloaded])
    with pytest.raises(LLMError, match="answered HTTP 503"):
        gone.model(ModelSettings(name="m", base_url="http://llm.test/v1", max_retries=1)).complete(MESSAGES, [])
    assert len(gone.requests) == 2


def test_a_body_its_content_encoding_does_not_decode_is_said_so_and_not_retried() -> None:
    script = Script(
        [httpx2.Response(200, headers={"content-encoding": "gzip"}, stream=httpx2.ByteStream(b"{not gzip}"))]
    )
    settings = ModelSettings(name="m", base_url="http://llm.test/v1", max_retries=2)
    with pytest.raises(LLMError, match=r"^the model endpoint http://llm\.test/v1 answered with a body its Content-Enc"):
        script.model(settings).complete(MESSAGES, [])
    assert len(script.requests) == 1


def test_a_client_error_is_not_retried() -> None:
    script = Script([httpx2.Response(400, json={"error": {"message": "bad"}}), completion(content="x")])
    with pytest.raises(LLMError, match="answered HTTP 400"):
        script.model(ModelSettings(name="m", base_url="http://llm.test/v1", max_retries=2)).complete(MESSAGES, [])
    assert len(script.requests) == 1


class _Dripping(http.server.BaseHTTPRequestHandler):
    """Headers at once, then the body a byte every 50 ms: each read is quick, the whole answer is not."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps(completion(content="late " * 40)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:  # the client gave up
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def dripping() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Dripping)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_the_timeout_bounds_the_whole_request_not_each_read(dripping: str) -> None:
    """An answer read a byte at a time (a slow stream, a proxy's keep-alive) never trips httpx's per-read
    timeout: the whole request is bounded, or `timeout` would promise nothing (this one takes 15 s)."""
    model = OpenAIChatModel(ModelSettings(name="m", base_url=dripping, max_retries=2, timeout=0.5))
    with pytest.raises(LLMError, match=rf"^the model endpoint {dripping} did not answer within 0.5 s$"):
        model.complete(MESSAGES, [])


def test_a_late_answer_is_never_taken_for_the_next_requests() -> None:
    """The request that overran is left to finish on its own thread; the next one gets a new thread and
    its own answer (the late one arrives while the next waits)."""
    calls = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(0.6)
            return httpx2.Response(200, json=completion(content="late"))
        time.sleep(0.3)
        return httpx2.Response(200, json=completion(content="on time"))

    settings = ModelSettings(name="m", base_url="http://llm.test/v1", max_retries=0, timeout=0.4)
    model = OpenAIChatModel(settings, http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
    with pytest.raises(LLMError, match=r"did not answer within 0\.4 s"):
        model.complete(MESSAGES, [])
    assert model.complete(MESSAGES, []).content == "on time"
    assert model.complete(MESSAGES, []).content == "on time"


def test_a_redirect_is_not_followed_and_says_where_it_points(tmp_path: Path) -> None:
    """The factory's client follows no redirect: a recording keys each request by its URL, so a redirected
    request would record as passing and replay to the redirect (the URL it points at is shown without its
    credentials)."""
    script = Script([])
    with serve(script) as base_url:
        host = base_url.removeprefix("http://").removesuffix("/v1")
        location = f"http://u:pw-SECRET@{host}/v1/chat/completions"
        script.responses += [httpx2.Response(307, headers={"location": location}), completion(content="found")]
        client = AgentFactory(make_project(tmp_path).project()).http_client()
        model = OpenAIChatModel(ModelSettings(name="m", base_url=f"http://{host}/moved/v1"), http_client=client)
        with pytest.raises(LLMError) as info:
            model.complete(MESSAGES, [])
        assert str(info.value) == (
            f"the model endpoint http://{host}/moved/v1 answered HTTP 307, a redirect to "
            f"http://{host}/v1/chat/completions: the harness follows no redirect (a recording keys each request "
            "by its URL); point `model.base_url` (or --base-url) at the endpoint itself"
        )
        assert len(script.requests) == 1  # the redirect's target was never asked
        direct = OpenAIChatModel(ModelSettings(name="m", base_url=base_url), http_client=client)
        assert direct.complete(MESSAGES, []).content == "found"


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (
            httpx2.Response(200, headers={"content-type": "text/html"}, text="<html><h1>502 Bad Gateway</h1></html>"),
            "answered HTTP 200 with a body that is not JSON (text/html), which no model endpoint sends (a proxy or "
            "gateway in between?): <html><h1>502 Bad Gateway</h1></html>",
        ),
        (
            httpx2.Response(203, text="\ufeff  Please log in to the Wi-Fi " + "x" * 1000),
            "answered HTTP 203 with a body that is not JSON (text/plain; charset=utf-8), which no model endpoint "
            "sends (a proxy or gateway in between?): Please log in to the Wi-Fi xxx",
        ),
    ],
    ids=["proxy_page", "portal_text"],
)
def test_a_2xx_body_that_is_not_json_is_the_environments_not_the_models_answer(
    answer: httpx2.Response, says: str
) -> None:
    """An HTML page a proxy answers with 200 was taken for the model's answer (a ModelAnswerError, which a
    recording keeps): `harness record --mode all` replaced a good cassette with it. Now it is an LLMError, as
    a 502 is, and the message bounds what it shows of the page."""
    from harness.errors import ModelAnswerError

    with pytest.raises(LLMError) as info:
        Script([answer]).model().complete(MESSAGES, [])
    assert not isinstance(info.value, ModelAnswerError)
    assert str(info.value).startswith(f"the model endpoint http://llm.test/v1 {says}")
    assert len(str(info.value)) < 400


@pytest.mark.parametrize(
    "body",
    ['{"choices": [{"message": {"role": "assist', "null", '  ["x"]', ""],
    ids=["cut_off_json", "json_null", "json_list", "empty"],
)
def test_a_2xx_body_that_starts_as_json_is_still_the_models_answer(body: str) -> None:
    """JSON the parser refuses (cut off, not a completion) and an empty body stay the model's answer: they
    are recorded and replay to the same error."""
    from harness.errors import ModelAnswerError

    answer = httpx2.Response(200, headers={"content-type": "application/json"}, text=body)
    with pytest.raises(ModelAnswerError):
        Script([answer]).model().complete(MESSAGES, [])


class _Endless(http.server.BaseHTTPRequestHandler):
    """A 200 JSON answer that never ends (64 KB a write, `pause` seconds apart), until the client hangs up:
    `sent` counts what went out, `ended` is set once the client stopped reading."""

    base_url = ""
    pause = 0.0
    sent = 0
    ended = threading.Event()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        start, chunk = b'{"choices":[{"message":{"content":"', b"a" * 65536
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(start), start))
            while True:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                type(self).sent += len(chunk)
                time.sleep(self.pause)
        except OSError:  # the client hung up
            type(self).ended.set()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def endless(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Endless]]:
    """The endless server; the cap on an answer made 1 MB, so reaching it costs little."""
    handler = type("Endless", (_Endless,), {"sent": 0, "ended": threading.Event()})
    monkeypatch.setattr(openai_client, "MAX_ANSWER_BYTES", 1 << 20)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    handler.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield handler
    server.shutdown()
    server.server_close()


def test_an_answer_larger_than_a_cassette_keeps_is_an_error_and_read_no_further(endless: type[_Endless]) -> None:
    base_url = endless.base_url
    model = OpenAIChatModel(ModelSettings(name="m", base_url=base_url, max_retries=2, timeout=60))
    with pytest.raises(LLMError) as info:
        model.complete(MESSAGES, [])
    assert str(info.value).startswith(f"the model endpoint {base_url}'s answer is larger than 1 MB, the most the")
    assert endless.ended.wait(30), "the client kept reading the endless answer"
    assert endless.sent < 16 << 20  # 1 MB read, and what the sockets' buffers held
    assert "\n" not in str(info.value)


def test_an_answer_recorded_is_bounded_too(endless: type[_Endless], tmp_path: Path) -> None:
    """vcrpy reads a recorded answer whole inside the transport, before the SDK sees a byte of it."""
    project = make_project(tmp_path / "project", {"remember": REMEMBER})
    result = project.runner("all", base_url=endless.base_url).run(project.scenario("remember"))
    assert result.outcome == "error"
    assert "answer is larger than 1 MB" in result.explain()
    assert endless.ended.wait(30) and endless.sent < 16 << 20
    assert not project.cassettes.joinpath("remember.yaml").exists()


def test_a_request_that_timed_out_reads_no_more_of_its_answer(endless: type[_Endless]) -> None:
    """The thread left with it stops reading and hangs up, rather than fill memory with an answer no
    one waits for (2.5 GB in 32 s against a 40 MB/s stream)."""
    endless.pause = 0.2  # 320 KB a second: under the 1 MB cap within the timeout
    base_url = endless.base_url
    model = OpenAIChatModel(ModelSettings(name="m", base_url=base_url, max_retries=0, timeout=0.5))
    with pytest.raises(LLMError, match=r"did not answer within 0\.5 s$"):
        model.complete(MESSAGES, [])
    assert endless.ended.wait(30), "the request that timed out kept reading its answer"
    assert endless.sent < 1 << 20


def test_https_to_a_plain_http_server_says_to_try_http(dripping: str) -> None:
    base_url = dripping.replace("http://", "https://")
    model = OpenAIChatModel(ModelSettings(name="m", base_url=base_url, max_retries=0, timeout=5))
    with pytest.raises(LLMError) as info:
        model.complete(MESSAGES, [])
    message = str(info.value)
    assert message.startswith(f"cannot reach the model endpoint {base_url}: ") and "WRONG_VERSION_NUMBER" in message
    assert message.endswith("(the server may speak plain HTTP: try http:// in `model.base_url`, or --base-url)")


def test_the_bound_is_in_place_for_the_httpcore_installed_and_its_absence_fails_no_request() -> None:
    """The cap sits in httpcore's pool (the one place below vcrpy), reached through an attribute httpx does
    not make public: a later httpcore that moved it must cost the bound, never every request."""
    from harness.llm.openai_client import BoundedTransport, bound_pool

    assert BoundedTransport().bounded  # the version installed: answers are bounded
    moved = types.SimpleNamespace(network_backend=object())  # as a later httpcore might keep it
    assert bound_pool(moved) is False
    assert vars(moved) == {"network_backend": moved.network_backend}  # left as it was
