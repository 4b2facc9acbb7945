"""Scenarios run concurrently in worker processes (`-j N` on `harness record` and `harness run`).

vcrpy patches the HTTP client process-wide, so two cassettes can only be recorded at once in two processes:
each worker is a process of its own (forkserver: forked from a server that has imported the harness once)
that runs one job (a scenario, one repeat, one model) at a time and sends back a plain picklable record.

Why not `concurrent.futures.ProcessPoolExecutor`: a worker that dies (a tool calling `os._exit`, a crash in
a C extension) breaks that pool and fails every pending job with it. Here the parent knows which job each
worker holds, so a dead worker fails its own job only, and a fresh worker takes the next one.

- Jobs writing the same file (two scenarios naming one `cassette:`) never run at the same time.
- Ctrl-C: nothing new starts, the workers are terminated (a recording cut off saves nothing,
  as in one process), and `Interrupted` carries the jobs that finished: their cassettes are written.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from harness.errors import Stopped
from harness.project import Project

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import ForkServerContext
    from multiprocessing.process import BaseProcess

    from harness.scenarios.model import Scenario
    from harness.scenarios.results import ScenarioResult

TERMINATE_GRACE = 5.0  # seconds a terminated worker has to unwind before it is killed


@dataclass(frozen=True)
class Job:
    """One scenario run, as a worker finds it again: the file, the dataset row and matrix model that pick
    the scenario in it, and the repeat."""

    index: int  # the job's place in the run: results are ordered by it, never by completion
    path: Path
    row: str | None
    model: str | None
    variant: int
    cassette: Path  # what it writes (also the key that keeps two jobs off one file)
    repeats: int | None = None  # recording with `--repeat K`: K, which the first repeat's cassette keeps


class Event(StrEnum):
    STEP = "step"  # a model step landed (the text of its progress line)
    DONE = "done"  # the job finished: a `Finished`


@dataclass
class Finished:
    """What a worker sends back: the result without its scenario (compiled checks do not pickle; the
    parent has the scenario), the credential values the endpoint answered with (to be masked), or why the
    harness itself failed on this job."""

    index: int
    result: ScenarioResult | None
    learned: set[str] = field(default_factory=set)
    crash: str | None = None


class Interrupted(Exception):
    """Ctrl-C: the jobs that finished before it (their cassettes are written), by job index."""

    def __init__(self, finished: dict[int, Finished], by: KeyboardInterrupt) -> None:
        super().__init__("interrupted")
        self.finished = finished
        self.by = by  # Ctrl-C, or the CLI's SIGTERM (a KeyboardInterrupt of its own kind)


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    job: Job | None = None


def start_server(project: Project) -> ForkServerContext:
    """The server the workers fork from, started now (it imports in its own process, while this one goes on
    checking the scenarios). It imports the harness once, not once per worker; the SDK and vcrpy only
    when recording (replay never loads them)."""
    context = multiprocessing.get_context("forkserver")
    live = [] if project.replaying else ["harness.cassettes.recording", "harness.llm.openai_client", "openai"]
    context.set_forkserver_preload([__name__, "harness.scenarios.runner", *live])
    # The server is in the terminal's process group, and ignores SIGINT only once it has imported (about 2 s
    # when recording): a Ctrl-C before that printed its KeyboardInterrupt traceback. Spawned with SIGINT
    # blocked (as CPython's resource tracker is), it keeps such a Ctrl-C pending until it ignores it; this
    # process gets its own when it unblocks, and is interrupted as ever. The resource tracker first: starting
    # it unblocks SIGINT (it is spawned the same way, then unblocks rather than restores).
    multiprocessing.resource_tracker.ensure_running()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return context


def job_for(index: int, scenario: Scenario, variant: int, cassette: Path, repeats: int | None = None) -> Job:
    return Job(index, scenario.path, scenario.row, scenario.model, variant, cassette, repeats)


class WorkerPool:
    """At most `workers` processes running `jobs`; `on_step(job, line)` and `on_done(job, finished)` are
    called in the parent as events arrive; `on_done` returns False to start nothing more (`-x`)."""

    def __init__(
        self, project: Project, workers: int, update_snapshots: bool = False, record_options: tuple[str, ...] = ()
    ) -> None:
        self.project = project
        self.size = workers
        self.update_snapshots = update_snapshots
        self.record_options = record_options  # the workers' record hints carry the command's options too
        self._context = start_server(project)
        self._workers: list[_Worker] = []

    def run(
        self,
        jobs: Sequence[Job],
        on_step: Callable[[Job, str], None],
        on_done: Callable[[Job, Finished], bool],
    ) -> dict[int, Finished]:
        pending = list(jobs)
        finished: dict[int, Finished] = {}
        going = True
        try:
            while pending or any(worker.job is not None for worker in self._workers):
                if going:
                    self._dispatch(pending)
                busy = [worker for worker in self._workers if worker.job is not None]
                if not busy:  # -x stopped dispatching and every running job is done (or a worker was lost idle)
                    if going and pending:
                        continue
                    break
                ready = multiprocessing.connection.wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
                for worker in busy:
                    job = worker.job
                    assert job is not None
                    if worker.conn in ready or worker.conn.poll():
                        done = self._receive(worker, job, on_step)
                    elif worker.process.sentinel in ready:
                        done = self._died(worker, job)
                    else:
                        continue
                    if done is not None:
                        finished[job.index] = done
                        worker.job = None
                        if not on_done(job, done):
                            going = False
                if not going:
                    pending.clear()
        except KeyboardInterrupt as stop:
            self._collect_sent(finished)
            self.terminate()
            raise Interrupted(finished, stop) from None
        finally:
            self.close()
        return finished

    def _collect_sent(self, finished: dict[int, Finished]) -> None:
        """At Ctrl-C: results workers had already sent are jobs that finished (their cassettes are written)."""
        for worker in self._workers:
            job = worker.job
            try:
                while job is not None and worker.conn.poll():
                    event, payload = worker.conn.recv()
                    if event == Event.DONE:
                        finished[job.index] = payload
                        worker.job = None
                        break
            except Exception:  # a message cut by the interrupt, a dead worker: nothing more to learn there
                continue

    def _dispatch(self, pending: list[Job]) -> None:
        """Hand pending jobs to idle workers (starting workers up to the pool's size), skipping a job whose
        file another running job writes."""
        writing = {worker.job.cassette for worker in self._workers if worker.job is not None}
        for job in list(pending):
            if job.cassette in writing:
                continue
            worker = next((w for w in self._workers if w.job is None), None)
            if worker is None and len(self._workers) < self.size:
                worker = self._start()
            if worker is None:
                return
            try:
                worker.conn.send(job)
            except OSError:  # the worker died idle: forget it, the job waits for another
                worker.conn.close()
                self._workers.remove(worker)
                return
            worker.job = job
            writing.add(job.cassette)
            pending.remove(job)

    def _start(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_work,
            args=(child, self.project, self.update_snapshots, self.record_options),
            daemon=True,
            name="harness-worker",
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._workers.append(worker)
        return worker

    def _receive(self, worker: _Worker, job: Job, on_step: Callable[[Job, str], None]) -> Finished | None:
        try:
            event, payload = worker.conn.recv()
        except (EOFError, OSError):
            return self._died(worker, job)
        if event == Event.STEP:
            on_step(job, payload)
            return None
        done: Finished = payload
        return done

    def _died(self, worker: _Worker, job: Job) -> Finished:
        """The worker ended without finishing its job: the job fails, the worker is replaced when needed."""
        worker.process.join(TERMINATE_GRACE)
        code = worker.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        worker.conn.close()
        self._workers.remove(worker)
        return Finished(job.index, None, crash=f"the worker process running it died ({how})")

    def terminate(self) -> None:
        """Stop every worker now: a recording cut off saves nothing (the cassette keeps its old takes)."""
        for worker in self._workers:
            if worker.process.is_alive():
                worker.process.terminate()
        for worker in self._workers:
            worker.process.join(TERMINATE_GRACE)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()

    def close(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(OSError):  # a dead worker's pipe
                worker.conn.send(None)  # no more jobs: the worker returns
        for worker in self._workers:
            worker.process.join(TERMINATE_GRACE)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join()
            worker.conn.close()
        self._workers.clear()


def _stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM from the parent: unwind (a recording in progress saves nothing, temporary files go away);
    `Stopped`, which a tool call or a scenario never takes for the user's code failing (a plain SystemExit
    raised in a tool's call was that call's failure, and the worker went on)."""
    raise Stopped(128 + signum)


def _work(conn: Connection, project: Project, update_snapshots: bool, record_options: tuple[str, ...]) -> None:
    """A worker's life: run the jobs the parent sends until it sends None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it terminates us
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked in the server (`start_server`)
    signal.signal(signal.SIGTERM, _stop)
    from harness.factory import AgentFactory
    from harness.progress import step_line
    from harness.scenarios import ScenarioRunner
    from harness.scenarios.results import crash_reason

    factory = AgentFactory(project)
    runner = ScenarioRunner(factory, update_snapshots=update_snapshots, record_options=record_options)
    loaded: dict[Path, list[Scenario]] = {}
    try:
        while True:
            job: Job | None = conn.recv()
            if job is None:
                return
            runner.on_step = lambda step: conn.send((Event.STEP, step_line(step)))
            try:
                scenario = _find(loaded, job)
                result = runner.run(scenario, variant=job.variant, repeats=job.repeats)
                done = Finished(job.index, replace(result, scenario=_NO_SCENARIO), set(factory.learned_secrets))
                conn.send((Event.DONE, done))
            except (BrokenPipeError, ConnectionResetError, Stopped):
                raise
            except BaseException as exc:  # a bug, or user code (any BaseException): this job fails, the worker goes on
                crash = Finished(job.index, None, set(factory.learned_secrets), crash_reason(exc))
                conn.send((Event.DONE, crash))
    except (BrokenPipeError, ConnectionResetError, EOFError):
        return  # the parent is gone (killed): nobody to tell, and nothing half-written (see _stop)


def _find(loaded: dict[Path, list[Scenario]], job: Job) -> Scenario:
    """The job's scenario, from its file (read once per worker)."""
    from harness.errors import RunError, ScenarioError
    from harness.scenarios.model import load_scenarios_partially

    if job.path not in loaded:
        scenarios, problems = load_scenarios_partially(job.path)
        if problems:
            raise ScenarioError(problems)
        loaded[job.path] = scenarios
    for scenario in loaded[job.path]:
        if scenario.row == job.row and scenario.model == job.model:
            return scenario
    raise RunError(f"{job.path}: the scenario is no longer in the file (it changed during the run)")


_NO_SCENARIO: Any = None  # stands for the scenario a result is sent without; the parent puts it back
