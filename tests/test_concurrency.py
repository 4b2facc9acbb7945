"""`-j N`: scenarios recorded and replayed in worker processes, with the results, summary, reports and exit
code of `-j 1`; a crashing scenario fails alone; Ctrl-C keeps every finished cassette."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from tests.fakes import (
    FORGETFUL,
    REMEMBER,
    FakeByContent,
    Project,
    append,
    completion,
    make_project,
    reply,
)
from tests.helpers import ROOT, call

HARNESS = [sys.executable, "-m", "harness.cli"]
ANOTHER = """
agent: chat
description: a second fact, in two turns
turns:
  - user: "I live in Lyon."
    expect:
      tool_calls: [core_memory_append, send_message]
  - user: "Thanks!"
expect:
  blocks:
    human: {contains: Lyon}
"""


def scripted() -> FakeByContent:
    return (
        FakeByContent()
        .script("Hi! My name is Azin.", append("human", "Azin"), reply("Nice to meet you, Azin!"))
        .script("My name is Carol.", reply("Hello Carol!"))
        .script("I live in Lyon.", append("human", "Lives in Lyon"), reply("Lyon is lovely."))
        .script("Thanks!", reply("You are welcome."))
    )


def suite(root: Path) -> Project:
    return make_project(root, {"remember": REMEMBER, "forgetful": FORGETFUL, "another": ANOTHER})


def rows(out: str) -> list[str]:
    """The output with the time column (the one figure that changes run to run) taken out."""
    return [re.sub(r"\s+(\d+ ms|time|-+)$", "", line) for line in out.splitlines()]


def report_without_timings(path: Path, folder: str = "") -> dict[str, Any]:
    """The report with its timings taken out, and the cassette folder `folder` called `cassettes`."""
    text = path.read_text(encoding="utf-8")
    report = json.loads(text.replace(f"/{folder}/", "/cassettes/") if folder else text)
    for scenario in report["scenarios"]:
        scenario.pop("timing")
    return report


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_j2_records_the_cassettes_j1_records_and_reports_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = suite(tmp_path / "p")
    agents = str(project.agents)
    outputs = {}
    with scripted() as server:  # one endpoint: its address is in the cassettes
        for jobs in ("1", "2"):
            code = main(
                [
                    "record",
                    "--agents",
                    agents,
                    "--base-url",
                    server.base_url,
                    "--cassettes",
                    str(tmp_path / f"j{jobs}"),
                    "--repeat",
                    "2",
                    "-j",
                    jobs,
                    "--report",
                    str(tmp_path / f"j{jobs}.json"),
                ]
            )
            assert code == 1  # forgetful fails, in both
            outputs[jobs] = capsys.readouterr()
    assert rows(outputs["1"].out) == rows(outputs["2"].out)
    assert report_without_timings(tmp_path / "j1.json", "j1") == report_without_timings(tmp_path / "j2.json", "j2")
    recorded = files(tmp_path / "j2")
    assert sorted(recorded) == [
        "another.repeat-2.yaml",
        "another.yaml",
        "forgetful.repeat-2.yaml",
        "forgetful.yaml",
        "remember.repeat-2.yaml",
        "remember.yaml",
    ]
    assert recorded == files(tmp_path / "j1")  # byte for byte: no worker wrote another's file
    assert recorded["remember.yaml"].startswith(b"metadata:\n  repeats: 2\n")  # the count, from a worker too
    err = outputs["2"].err
    assert "recording 6 scenario run(s) in 2 worker process(es)" in err
    assert "j2/another.repeat-2.yaml: new cassette (3 interaction(s))" in err
    assert not project.cassettes.exists()  # every cassette went to --cassettes
    assert "[6/6] " in err and "\x1b[" not in err  # plain lines off a terminal: no bar

    # Replayed offline, at -j 1 and -j 2: the figures recorded, in scenario order.
    replays = {}
    for jobs in ("1", "2"):
        report = tmp_path / f"replay-j{jobs}.json"
        code = main(
            ["run", "--agents", agents, "--cassettes", str(tmp_path / "j2"), "-j", jobs, "--report", str(report)]
        )
        assert code == 1
        replays[jobs] = capsys.readouterr().out
    assert rows(replays["1"]) == rows(replays["2"]) == rows(outputs["2"].out)
    assert [line.split()[0] for line in replays["2"].splitlines()[2:8]] == [
        "scenarios/another.yaml",
        "scenarios/another.yaml",
        "scenarios/forgetful.yaml",
        "scenarios/forgetful.yaml",
        "scenarios/remember.yaml",
        "scenarios/remember.yaml",
    ]
    assert "scenarios/forgetful.yaml  2/2" not in replays["2"] and "scenarios/forgetful.yaml  0/2" in replays["2"]
    assert (
        report_without_timings(tmp_path / "replay-j2.json")["reliability"]
        == (report_without_timings(tmp_path / "j2.json")["reliability"])
    )


def test_jobs_must_be_a_positive_whole_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = suite(tmp_path / "p")
    for bad, message in (("0", "must be 1 or more, not 0"), ("two", "a whole number, not 'two'")):
        with pytest.raises(SystemExit) as exit_:
            main(["run", "--agents", str(project.agents), "-j", bad])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"argument -j/--jobs: {message}" in err
        assert "Traceback" not in err


# ---------------------------------------------------------------- one crash fails one scenario

CRASHY_TOOLS = '''
import asyncio
import os
import re
import signal


def crash(reason: str) -> str:
    """Ends the process at once, as a crash in a C extension does.

    Args:
        reason: Why.

    Returns:
        Nothing: it never returns.
    """
    os.kill(os.getpid(), signal.SIGSEGV)


def quit(reason: str) -> str:
    """Exits the process, as a script's `sys.exit` does.

    Args:
        reason: Why.
    """
    import sys

    sys.exit(3)


def cancel(reason: str) -> str:
    """Raises a BaseException, as an asyncio library does.

    Args:
        reason: Why.
    """
    raise asyncio.CancelledError()
'''

CRASHY_AGENT = """
  crashy:
    system: You are a test agent that crashes.
    blocks:
      - {label: human, value: "Name: Bob"}
    tools: [send_message, "crashy_tools:crash", "crashy_tools:quit", "crashy_tools:cancel"]
"""

CRASH = """
agent: crashy
turns:
  - user: "Crash now."
"""


def test_a_scenario_whose_worker_dies_errors_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = suite(tmp_path / "p")
    project.agents.write_text(project.agents.read_text(encoding="utf-8") + CRASHY_AGENT, encoding="utf-8")
    (project.root / "crashy_tools.py").write_text(CRASHY_TOOLS, encoding="utf-8")
    project.write_scenario("crash", CRASH)
    fake = scripted().script("Crash now.", completion(call("crash", {"reason": "test", "request_heartbeat": False})))
    with fake as server:
        code = main(["record", "--agents", str(project.agents), "--base-url", server.base_url, "-j", "2"])
    assert code == 1
    out, err = capsys.readouterr()
    results = {line.split()[0]: line.split()[4] for line in out.splitlines()[2:6]}
    assert results == {
        "scenarios/another.yaml": "PASS",
        "scenarios/crash.yaml": "ERROR",
        "scenarios/forgetful.yaml": "FAIL",
        "scenarios/remember.yaml": "PASS",
    }
    assert (
        "scenarios/crash.yaml: the harness failed on this scenario: the worker process running it died (killed by "
        "signal 11)" in err
    )
    assert not (project.cassettes / "crash.yaml").exists()
    assert (project.cassettes / "another.yaml").exists() and (project.cassettes / "remember.yaml").exists()


QUIT = """
agent: crashy
turns:
  - user: "Quit now."
    expect:
      tool_calls: [{name: quit, ok: false}, send_message]
"""

CANCEL = """
agent: crashy
turns:
  - user: "Cancel now."
    expect:
      tool_calls: [{name: cancel, ok: false}, send_message]
"""


def test_a_tool_that_exits_or_raises_a_base_exception_fails_its_call_alone_at_j1(tmp_path: Path) -> None:
    """Without worker processes, asyncio.CancelledError in a tool ended `harness record`/`run` with a
    traceback. It, and `sys.exit`, are that call's failure, as in Letta's sandbox process, and every
    scenario runs. (In a child process: a BaseException not contained ends the process that runs it.)"""
    project = suite(tmp_path / "p")
    project.agents.write_text(project.agents.read_text(encoding="utf-8") + CRASHY_AGENT, encoding="utf-8")
    (project.root / "crashy_tools.py").write_text(CRASHY_TOOLS, encoding="utf-8")
    project.write_scenario("quit", QUIT)
    project.write_scenario("cancel", CANCEL)
    failing = {"reason": "test", "request_heartbeat": False}
    fake = (
        scripted()
        .script("Quit now.", completion(call("quit", failing)), reply("The tool quit."))
        .script("Cancel now.", completion(call("cancel", failing)), reply("The tool was cancelled."))
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with fake as server:
        recorded = subprocess.run(
            [*HARNESS, "record", "--agents", str(project.agents), "--base-url", server.base_url, "-j", "1"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
    replayed = subprocess.run(
        [*HARNESS, "run", "--agents", str(project.agents), "-j", "1", "--report", str(tmp_path / "report.json")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    for done in (recorded, replayed):
        assert done.returncode == 1, done.stderr  # forgetful fails, as ever
        assert "Traceback" not in done.stderr
        results = {line.split()[0]: line.split()[4] for line in done.stdout.splitlines()[2:7]}
        assert results == {
            "scenarios/another.yaml": "PASS",
            "scenarios/cancel.yaml": "PASS",
            "scenarios/forgetful.yaml": "FAIL",
            "scenarios/quit.yaml": "PASS",
            "scenarios/remember.yaml": "PASS",
        }, done.stdout
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    said = {
        Path(entry["scenario"]).stem: entry["turns"][0]["steps"][0]["tool_calls"][0]["result"]
        for entry in report["scenarios"]
        if Path(entry["scenario"]).stem in ("quit", "cancel")
    }
    assert said == {
        "quit": "Error executing function quit: SystemExit: 3",
        "cancel": "Error executing function cancel: CancelledError: ",
    }


# ---------------------------------------------------------------- Ctrl-C


def wait_for(condition: Any, what: str, limit: float = 60.0) -> None:
    """Poll until `condition()` holds (a wait, not a timing assertion: the limit only stops a hung test)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def as_from_a_terminal() -> None:
    """Ctrl-C as a terminal delivers it: a test suite run in the background of a shell without job control
    (`(pytest &)` in a script) has SIGINT ignored, which every process it starts inherits, and a Python
    started so never turns SIGINT into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("jobs", "stop", "code"),
    [("1", signal.SIGINT, 130), ("2", signal.SIGINT, 130), ("1", signal.SIGTERM, 143), ("2", signal.SIGTERM, 143)],
)
def test_ctrl_c_keeps_every_finished_cassette(tmp_path: Path, jobs: str, stop: signal.Signals, code: int) -> None:
    """SIGTERM (a cancelled CI job) as Ctrl-C: it killed the parent at once, and the workers it left behind
    printed BrokenPipeError tracebacks."""
    project = suite(tmp_path / "p")
    old = b"interactions: []\n"
    (project.cassettes).mkdir()
    (project.cassettes / "remember.yaml").write_bytes(old)  # an old take, which the cut recording must keep
    fake = scripted()
    fake.held["Hi! My name is Azin."] = threading.Event()  # `remember` (the last) never gets its first answer
    command = [*HARNESS, "record", "--agents", str(project.agents), "-j", jobs, "--mode", "all"]
    with fake as server:
        process = subprocess.Popen(
            [*command, "--base-url", server.base_url],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            preexec_fn=as_from_a_terminal,
        )
        lines: list[str] = []  # stderr as it comes: the parent says when it has a run's result
        assert process.stderr is not None
        reader = threading.Thread(target=lambda: lines.extend(iter(process.stderr.readline, "")), daemon=True)
        reader.start()
        try:
            wait_for(lambda: "Hi! My name is Azin." in fake.users(), "the held scenario to start")
            # the parent has the two other runs' results (their cassettes written) once it counts [2/3]
            wait_for(lambda: any(line.startswith("[2/3]") for line in lines), "the other two runs' results")
            process.send_signal(stop)
            out = process.stdout.read() if process.stdout is not None else ""
            process.wait(timeout=60)
            reader.join(timeout=60)
            err = "".join(lines)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == code, err
    assert "interrupted: 2 of 3 scenario run(s) finished; kept 2 finished cassette(s): " in err
    assert "p/cassettes/another.yaml, " in err and "p/cassettes/forgetful.yaml; the others wrote nothing" in err
    assert "Traceback" not in err
    assert out == ""  # no summary of a run cut short
    assert (project.cassettes / "remember.yaml").read_bytes() == old
    assert sorted(p.name for p in project.cassettes.iterdir()) == ["another.yaml", "forgetful.yaml", "remember.yaml"]


def test_ctrl_c_while_the_fork_server_imports_prints_no_traceback(tmp_path: Path) -> None:
    """The fork server is in the terminal's process group and ignores SIGINT only once it has imported
    (about 2 s when recording): a Ctrl-C in the first second of any `-j N` command printed its
    KeyboardInterrupt traceback. Here the server gets its SIGINT right after it is spawned, and must still
    serve; the parent's own signal mask and handler are as they were."""
    project = suite(tmp_path / "p")
    probe = textwrap.dedent(
        f"""
        import multiprocessing.forkserver, os, signal
        from harness.project import Project
        from harness.scenarios.pool import start_server

        handler = signal.getsignal(signal.SIGINT)
        context = start_server(Project.build(agents={str(project.agents)!r}, record_mode="all"))
        os.kill(multiprocessing.forkserver._forkserver._forkserver_pid, signal.SIGINT)  # mid-import
        assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == set(), "the parent's mask is restored"
        assert signal.getsignal(signal.SIGINT) is handler
        worker = context.Process(target=os.getpid)
        worker.start()
        worker.join()
        print("served", worker.exitcode)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.stdout.split() == ["served", "0"], done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr


def test_the_worker_module_is_loaded_only_for_jobs() -> None:
    probe = textwrap.dedent(
        """
        import contextlib, io, sys
        from harness.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(['run', '--agents', 'agents.yaml']) == 0
        print('harness.scenarios.pool' in sys.modules, 'tqdm' in sys.modules, 'multiprocessing' in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False", "False"]
