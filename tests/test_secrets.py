"""The one masking function: which values are secret, how each spelling of them is masked, and the
length rule for short values."""

from __future__ import annotations

import base64
import json
import string
from pathlib import Path
from typing import Any

import pytest
from _pytest._io.saferepr import saferepr
from hypothesis import assume, given
from hypothesis import strategies as st

from harness.secrets import FRAGMENT_MIN, MASK, Secrets, answer_secrets, secret_parameter, url_credentials

KEY = "sk-test/abc+def=123"  # "/" and "+" and "=" make every spelling differ


def masked(*values: str) -> Secrets:
    return Secrets(frozenset(values))


# ------------------------------------------------------------------ what is secret


ERROR_CAUSES = json.loads(
    (Path(__file__).parent / "llm" / "provider_bodies" / "error_causes.json").read_text(encoding="utf-8")
)["cases"]
GROQ_ORG = "org_01jexampleorg0000000000000"
OPENROUTER_USER = "user_2exampleUserId0000000000000"


def test_the_account_ids_providers_name_in_error_answers_are_secrets() -> None:
    """Groq's rate limits name the organization, OpenAI's its organization or project, OpenRouter's errors
    carry the account's `user_id`: no header says them, so they are read from the error answer."""
    groq_429 = json.dumps(
        {
            "error": {
                "message": f"Rate limit reached for model `llama-3.3-70b-versatile` in organization `{GROQ_ORG}` "
                "service tier `on_demand` on tokens per day (TPD): Limit 100000, Used 97050, Requested 3619.",
                "type": "tokens",
                "code": "rate_limit_exceeded",
            }
        }
    )
    assert answer_secrets(429, groq_429) == {GROQ_ORG}
    openai_429 = "Rate limit reached for gpt-4 in organization org-sgDVddZhv965GLodgIQVRoUD on tokens per min."
    assert answer_secrets(429, json.dumps({"error": {"message": openai_429}})) == {"org-sgDVddZhv965GLodgIQVRoUD"}
    project = "Project `proj_Ab12Cd34Ef56Gh78Ij90Kl12` does not have access to model `gpt-4o`"
    assert answer_secrets(403, json.dumps({"error": {"message": project}})) == {"proj_Ab12Cd34Ef56Gh78Ij90Kl12"}
    bodies = {case["provider"].partition(":")[0]: json.dumps(case.get("json")) for case in ERROR_CAUSES}
    assert answer_secrets(400, bodies["OpenRouter"]) == {OPENROUTER_USER}
    assert answer_secrets(413, bodies["Groq"]) == {GROQ_ORG}
    assert answer_secrets(402, bodies["DeepSeek"]) == set()


def test_account_ids_are_never_read_from_what_the_model_wrote() -> None:
    """A 2xx body is the model's answer: an id-shaped word in it is left alone (an org chart, a slug)."""
    said = json.dumps({"choices": [{"message": {"content": f"in organization `{GROQ_ORG}`", "user_id": "u-1234"}}]})
    assert answer_secrets(200, said) == set()
    assert answer_secrets(400, json.dumps({"error": {"message": "see org-chart and proj_x, org_1"}})) == set()
    assert answer_secrets(400, "<html>not json</html>") == set()


def test_collect_reads_the_named_variables_the_secret_suffixes_and_the_sdk_ids() -> None:
    environ = {
        "MY_KEY_VAR": "custom-value-1",
        "GROQ_API_KEY": "groq-value-2",
        "HF_TOKEN": "token-value-3",
        "DB_PASSWORD": "password-value-4",
        "CLIENT_SECRET": "client-value-5",
        "OPENAI_ORG_ID": "org-value-6",
        "OPENAI_PROJECT_ID": "proj-value-7",
        "HOME": "/home/someone",
        "OTHER": "other-value-8",
    }
    secrets = Secrets.collect(names=["MY_KEY_VAR"], environ=environ)
    assert secrets.values == {
        "custom-value-1",
        "groq-value-2",
        "token-value-3",
        "password-value-4",
        "client-value-5",
        "org-value-6",
        "proj-value-7",
    }


def test_values_under_four_characters_are_never_secret() -> None:
    environ = {"A_API_KEY": "abc", "B_API_KEY": "", "C_API_KEY": "abcd"}
    assert Secrets.collect(environ=environ).values == {"abcd"}
    assert Secrets.collect(values=["1", "no", "yes"], environ={}).values == frozenset()


def test_numbers_and_booleans_are_never_secret() -> None:
    """A `*_TOKEN` variable may be a flag: masking `true` would break the JSON of every tool call's arguments."""
    environ = {"A_TOKEN": "true", "B_TOKEN": "False", "C_PASSWORD": "123456", "D_SECRET": "-1.50", "E_TOKEN": "off1"}
    assert Secrets.collect(environ=environ).values == {"off1"}


def test_url_credentials_are_user_password_and_secret_query_values_decoded_too() -> None:
    url = "https://me:p%2Fss-word@host.example/v1?api-version=2024-10-21&api-key=k3y-value&sig=s1g-value"
    basic = base64.b64encode(b"me:p/ss-word").decode()  # what httpx sends as HTTP Basic auth
    assert url_credentials(url) == {"me", "p%2Fss-word", "p/ss-word", "k3y-value", "s1g-value", basic}
    assert url_credentials("http://127.0.0.1:8088/v1") == set()


def test_the_basic_auth_a_base_url_sends_is_masked_where_an_endpoint_echoes_it() -> None:
    secrets = Secrets.collect(urls=["http://probeuser:pw-SECRET456@127.0.0.1:9/v1"], environ={})
    echoed = '{"seen": "Basic cHJvYmV1c2VyOnB3LVNFQ1JFVDQ1Ng=="}'
    assert secrets.mask_json_text(echoed) == '{"seen": "Basic <SECRET>"}'


def test_secret_query_parameters_are_named_for_credentials() -> None:
    for name in (
        "api-key",
        "api_key",
        "key",
        "access_token",
        "sig",
        "Signature",
        "password",
        "auth",
        "X-Secret",
        "code",
    ):
        assert secret_parameter(name), name
    for name in ("api-version", "model", "deployment", "format", "country_code", "encode"):
        assert not secret_parameter(name), name


# ------------------------------------------------------------------ masking text


def test_every_spelling_is_masked() -> None:
    secrets = masked(KEY)
    spellings = [KEY, KEY.replace("/", "\\/"), "sk-test%2Fabc%2Bdef%3D123", "sk-test/abc%2Bdef%3D123"]
    for spelling in spellings:
        assert secrets.mask(f"key: {spelling}.") == f"key: {MASK}.", spelling


def test_non_ascii_secrets_are_masked_json_escaped_too() -> None:
    secrets = masked("clé-secrète-42")
    assert secrets.mask('"clé-secrète-42"') == f'"{MASK}"'
    assert secrets.mask(json.dumps("clé-secrète-42")) == f'"{MASK}"'  # \u00e9 escapes


@given(st.text(st.characters(exclude_categories=["Cs"]), min_size=8, max_size=20))
def test_a_secret_is_masked_in_json_inside_json(key: str) -> None:
    """A tool call's arguments are JSON text inside JSON: a key holding `"` or `\\` is escaped twice there
    (failure lines quoting the arguments printed it so)."""
    # A key that holds the mask itself would be found in any masked text (hypothesis found `<SECRET>`).
    assume(key.strip() == key and any(c.isalnum() for c in key) and MASK not in key)
    secrets = masked(key)
    arguments = json.dumps({"message": f"your key is {key}"})
    for text in (
        arguments,
        json.dumps({"arguments": arguments}),
        json.dumps({"arguments": arguments}, ensure_ascii=False),
    ):
        assert key not in secrets.mask(text) and MASK in secrets.mask(text)
        assert json.dumps(key)[1:-1] not in secrets.mask(text)


def test_short_values_are_masked_only_where_they_stand_alone() -> None:
    secrets = masked("memo", "Qz7kX2")
    assert secrets.mask("Bearer Qz7kX2") == f"Bearer {MASK}"
    assert secrets.mask('{"key": "memo"}') == f'{{"key": "{MASK}"}}'
    assert secrets.mask("memory and memos, xQz7kX2y") == "memory and memos, xQz7kX2y"
    # from eight characters on, anywhere
    assert masked("longerkey").mask("xlongerkeyx") == f"x{MASK}x"


def test_a_secret_spelt_like_the_mask_leaves_the_mask_whole() -> None:
    secrets = masked("SECRET", "<SECRET>x")
    assert secrets.mask(f"a {MASK} b SECRET") == f"a {MASK} b {MASK}"
    assert secrets.mask(secrets.mask("SECRET SECRET")) == f"{MASK} {MASK}"


def test_no_secrets_changes_nothing() -> None:
    secrets = Secrets()
    assert not secrets
    text = '{"a": "b"}'
    assert secrets.mask(text) is text
    assert secrets.mask_json_text(text) is text
    data = {"a": ["b"]}
    assert secrets.mask_data(data) is data


# ------------------------------------------------------------------ JSON and URLs


def test_json_is_masked_in_its_strings_and_stays_json() -> None:
    secrets = masked("true-secret-1234", "1234")
    text = json.dumps({"true-secret-1234": 1234, "v": "x 1234 y", "n": [True, None, "true-secret-1234"]})
    out = secrets.mask_json_text(text)
    assert json.loads(out) == {MASK: 1234, "v": f"x {MASK} y", "n": [True, None, MASK]}


def test_json_escaped_slashes_are_found_by_decoding() -> None:
    secrets = masked(KEY)
    text = json.dumps({"message": f"your key is {KEY}"}).replace("/", "\\/")
    assert json.loads(secrets.mask_json_text(text)) == {"message": f"your key is {MASK}"}


def test_json_without_a_secret_is_returned_as_it_was() -> None:
    text = '{"a":  "spaced",\n "b": "\\/"}'
    assert masked(KEY).mask_json_text(text) is text


def test_text_that_is_not_json_is_masked_anywhere() -> None:
    assert masked(KEY).mask_json_text(f"<html>{KEY}</html>") == f"<html>{MASK}</html>"


def test_mask_url_drops_userinfo_and_masks_secret_parameters() -> None:
    secrets = masked("path-secret-99")
    url = "https://me:pw@host.example:8443/openai/path-secret-99/chat?api-version=2024-10-21&api-key=abc&x"
    assert secrets.mask_url(url) == (
        f"https://host.example:8443/openai/{MASK}/chat?api-version=2024-10-21&api-key={MASK}&x"
    )
    assert secrets.mask_url("http://127.0.0.1:8088/v1/chat/completions") == "http://127.0.0.1:8088/v1/chat/completions"


# ------------------------------------------------------------------ properties

SECRET_CHARS = string.ascii_letters + string.digits + "-_./+=:"
secrets_st = st.text(SECRET_CHARS, min_size=8, max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(secrets_st, st.lists(st.text(max_size=30), min_size=1, max_size=5))
def test_a_long_secret_never_survives_masking(secret: str, pieces: list[str]) -> None:
    text = secret.join(pieces)
    out = masked(secret).mask(text)
    assert secret not in out
    assert out.count(MASK) >= text.count(secret)


@given(st.lists(secrets_st, min_size=1, max_size=3), st.text())
def test_masking_is_idempotent(values: list[str], text: str) -> None:
    secrets = masked(*values)
    once = secrets.mask(text + values[0] + text)
    assert secrets.mask(once) == once


@given(secrets_st, json_values)
def test_json_stays_json_and_loses_the_secret(secret: str, value: Any) -> None:
    document = {"content": f"say {secret}!", "nested": [value, {secret: secret}]}
    out = masked(secret).mask_json_text(json.dumps(document))
    decoded = json.loads(out)
    assert secret not in out
    assert secret not in json.dumps(decoded, ensure_ascii=False)
    assert decoded["content"] == f"say {MASK}!"
    assert decoded["nested"][1] == {MASK: MASK}


@given(json_values)
def test_json_without_the_secret_is_untouched(value: Any) -> None:
    text = json.dumps(value)
    secret = "zz-never-in-generated-text-" + "Q" * 8
    if secret not in text:
        assert masked(secret).mask_json_text(text) is text


# ------------------------------------------------------------------ shortened text (what pytest reports)

LONG_KEY = "sk-proj-Q7vX2mLp9RtY4wZs8KdN3bHc6FgJ1aEu5iOo0PqWeRtYuIoPaSdFgHjKlZxCvBnM"


def test_the_pieces_of_a_secret_beside_an_ellipsis_are_masked() -> None:
    """pytest's assertion message showed `'I read your...gHjKlZxCvBnM'`: the key's tail, past exact masking."""
    secrets = masked(LONG_KEY)
    assert secrets.mask_shortened("assert 'key' not in 'I read your...gHjKlZxCvBnM'") == (
        f"assert 'key' not in 'I read your...{MASK}'"
    )
    assert secrets.mask_shortened("'sk-proj-Q7vX...jKlZxCvBnMabc'") == f"'{MASK}...{MASK}abc'"
    # the short summary cuts the line again: a piece between two cuts
    assert secrets.mask_shortened("assert ['x...KlZxCvBn...") == f"assert ['x...{MASK}..."
    assert secrets.mask_shortened("a key: sk-proj-Q7\u2026") == f"a key: {MASK}\u2026"  # rich's ellipsis


def test_the_pieces_pytests_diff_leaves_at_its_cuts_are_masked() -> None:
    secrets = masked(LONG_KEY)
    leading = (
        "E         Skipping 64 identical leading characters in diff, use -v to show\n"
        "E         - lZxCvBnMabd\nE         ?           ^\nE         + lZxCvBnMabc\n"
        "E           KlZxCvBnM"
    )
    assert secrets.mask_shortened(leading) == (
        "E         Skipping 64 identical leading characters in diff, use -v to show\n"
        f"E         - {MASK}abd\nE         ?           ^\nE         + {MASK}abc\n"
        f"E           {MASK}"
    )
    trailing = "Skipping 63 identical trailing characters in diff, use -v to show\n- abdsk-proj-Q\n+ abcsk-proj-Q"
    assert secrets.mask_shortened(trailing) == (
        f"Skipping 63 identical trailing characters in diff, use -v to show\n- abd{MASK}\n+ abc{MASK}"
    )


def test_a_piece_of_a_secret_away_from_a_cut_is_left_alone() -> None:
    """`sk-proj-` in a sentence is no one's key; nor is a piece shorter than FRAGMENT_MIN, nor a piece of a
    secret too short to be masked inside words."""
    assert masked(LONG_KEY).mask_shortened("keys start with sk-proj- and so on...") == (
        "keys start with sk-proj- and so on..."
    )
    assert masked(LONG_KEY).mask_shortened("I read...BnM") == "I read...BnM"
    assert masked("abcdefg").mask_shortened("...efg and abcd...") == "...efg and abcd..."


def test_a_secret_that_is_a_word_leaves_the_words_beside_a_texts_own_ellipsis() -> None:
    """With `POSTGRES_PASSWORD=postgres` (the usual CI service), `blog post...` became `blog <SECRET>...`: a
    piece that reads as a word is masked only where pytest's saferepr cut a repr (the middle of the quotes)."""
    secrets = Secrets.collect(environ={"POSTGRES_PASSWORD": "postgres"})
    for text in ["assert 'Reading the blog post...' == 'x'", "E  '...gres is down'", "Post... and Gres"]:
        assert secrets.mask_shortened(text) == text
    assert secrets.mask_shortened("assert 'x postgres y' == 'x post...es y'") == (
        f"assert 'x {MASK} y' == 'x post...es y'"  # the cut is not in the middle: the pieces are words
    )
    cut = saferepr("a postgres b" * 3, 18)
    assert cut == "'a post...tgres b'"  # as pytest shows it: cut in the middle
    assert secrets.mask_shortened(cut) == f"'a {MASK}...{MASK} b'"
    # a piece that is no word is masked wherever it stands beside an ellipsis
    assert masked(LONG_KEY).mask_shortened("see the blog...gHjKlZxCvBnM") == f"see the blog...{MASK}"


def test_the_diff_after_skipping_is_read_once_and_ends_at_a_blank_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each "Skipping N identical leading characters" scanned every line to the end of the text: quadratic
    (18 s for 243 KB), and lines far past its diff were masked."""
    secrets = masked(LONG_KEY)
    block = "E   Skipping 10 identical leading characters in diff\n" + "E   - abc\n" * 20
    looked = []
    real = Secrets._ending_after
    monkeypatch.setattr(Secrets, "_ending_after", lambda self, *a: looked.append(a) or real(self, *a))
    secrets.mask_shortened(block * 300)
    assert len(looked) == 300 * 21  # each line once (the last block's trailing empty line too)
    text = "Skipping 3 identical leading characters in diff\n- gHjKlZxCvBnM\n\nlater: gHjKlZxCvBnM was said"
    assert secrets.mask_shortened(text) == text.replace("- gHjKlZxCvBnM", f"- {MASK}")


SHOWN_CHARS = string.ascii_letters + string.digits + "-_"
AROUND = st.text(" ,;:!?()[]{}#%&*=.", max_size=200)  # no character of a secret, none repr escapes


@given(st.text(SHOWN_CHARS, min_size=8, max_size=80), AROUND, AROUND, st.integers(3, 300))
def test_no_piece_of_a_secret_survives_pytests_shortening(secret: str, before: str, after: str, size: int) -> None:
    """However pytest's saferepr cuts a text holding the secret, no piece of FRAGMENT_MIN characters stays;
    masking again changes nothing, and the text around it is left as it was."""
    shown = saferepr(before + secret + after, size)
    out = masked(secret).mask_shortened(shown)
    pieces = {secret[i : i + FRAGMENT_MIN] for i in range(len(secret) - FRAGMENT_MIN + 1)}
    assert not any(piece in out.replace(MASK, "\x00") for piece in pieces)
    assert masked(secret).mask_shortened(out) == out
    assert masked(secret).mask_shortened(saferepr(before + after, size)) == saferepr(before + after, size)


def test_the_credentials_of_a_url_urlsplit_refuses_are_still_found() -> None:
    """An unbalanced `[` makes urlsplit raise: the command must still say so masked, not crash."""
    found = url_credentials("http://alice:pw-Hunter22@[bad/v1?api-key=k3y-value")
    assert {"alice", "pw-Hunter22", "k3y-value"} <= found
    secrets = Secrets.collect(urls=["http://alice:pw-Hunter22@[bad/v1"], environ={})
    assert "pw-Hunter22" not in secrets.mask("sent to http://alice:pw-Hunter22@[bad/v1")


def test_named_in_says_which_secret_a_text_spells_never_its_value() -> None:
    environ = {"OPENAI_API_KEY": "sk-abcdefghijkl", "MY_TOKEN": "sk-abcdefghijkl", "DB_PASSWORD": "hunter2hunter2"}
    secrets = Secrets.collect(urls=["http://bob:s3cretpass@host/v1"], values=["cookie-value-1"], environ=environ)
    assert secrets.named_in("key sk-abcdefghijkl") == ["MY_TOKEN", "OPENAI_API_KEY"]  # one value, two variables
    assert secrets.named_in(json.dumps(json.dumps("pw hunter2hunter2"))) == ["DB_PASSWORD"]  # as JSON in JSON
    assert secrets.named_in("s3cretpass") == ["a base URL's credentials"]
    assert secrets.named_in("cookie-value-1") == ["a credential an endpoint sent"]
    assert secrets.named_in(f"{MASK} and nothing else") == []
    assert Secrets(frozenset({"unnamed-value"})).named_in("an unnamed-value") == ["a secret"]


def test_the_names_of_secrets_are_no_part_of_the_set() -> None:
    one = Secrets.collect(environ={"A_TOKEN": "value-of-it"})
    other = Secrets.collect(environ={"B_TOKEN": "value-of-it"})
    assert one == other and one.values == other.values
    assert (one | other).named_in("value-of-it") == ["A_TOKEN", "B_TOKEN"]


@given(name=st.from_regex(r"[A-Z]{1,8}_TOKEN", fullmatch=True), value=st.text(string.printable, min_size=8))
def test_a_name_is_told_wherever_the_value_is_masked(name: str, value: str) -> None:
    secrets = Secrets.collect(environ={name: value})
    assume(secrets.values and value not in name)
    text = f"the result: {value}."
    named = secrets.named_in(text)
    assert bool(named) == (secrets.mask(text) != text)
    assert named in ([name], [])
    assert value not in " ".join(named)
