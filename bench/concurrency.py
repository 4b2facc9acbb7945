"""Benchmark of concurrent recording (`harness record -j N`): model steps per minute at each -j, side by side.

A benchmark, not a test: figures are printed, never asserted.

    python bench/concurrency.py                       # the stub: 200 ms a request, -j 1 vs -j 8
    python bench/concurrency.py --latency-ms 200 --jobs 1,2,4,8 --scenarios 96 --rounds 3
    python bench/concurrency.py --base-url http://127.0.0.1:8088/v1 --jobs 1,4 --repeat 4 --rounds 1 \\
        scenarios/chat/recall_from_memory.yaml        # a live endpoint (e.g. scripts/local-llm start 4)

Each variant is a whole `harness record --mode all -j N` process, wall clock from its start to its exit (the
harness's start-up, the workers' start-up and writing every cassette included), recording into a folder of
its own. Steps are the model requests of every scenario run (from the run's --report), so
steps/minute = steps / wall time * 60. Variants run interleaved: in each round every -j once, the order
rotated from round to round, so machine noise lands on all columns alike; figures are medians over rounds.

The stub (bench/stub_server.py, its own process) answers each chat completion after a fixed latency, as a
network model would: on 2 cores an instant stub would make -j 1 CPU-bound, and this measures what it is
meant to, the harness's own overhead in driving N requests at once. Its project is a temp folder of small
scenarios (1-3 turns, bench/benchlib.py's `small_scenario`) for the example `chat` agent.

With --base-url the given scenario files of this project are recorded from that endpoint instead (into temp
cassette folders: the project's own cassettes are left alone), each --repeat times.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, Variant, interleave, median, small_scenario, stub_server, write_project, write_scenario

HARNESS = [sys.executable, "-m", "harness.cli"]
STEP = re.compile(r"turn \d+ step \d+: ")  # a step's progress line, as -j 1 and -j N print it off a terminal


def steps_in(report: Path) -> int:
    data = json.loads(report.read_text(encoding="utf-8"))
    return sum(len(turn["steps"]) for scenario in data["scenarios"] for turn in scenario["turns"])


def record_variant(
    jobs: int, agents: Path, paths: list[str], work: Path, extra: list[str], steps: list[int]
) -> Variant:
    def run() -> list[float]:
        cassettes = work / f"cassettes-j{jobs}"
        shutil.rmtree(cassettes, ignore_errors=True)
        report = work / f"report-j{jobs}.json"
        command = [*HARNESS, "record", "--mode", "all", "--agents", str(agents), "--cassettes", str(cassettes)]
        command += ["-j", str(jobs), "--report", str(report), *extra, *paths]
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert process.stderr is not None
        landed = []  # when each step's line was read: the steady state is from the first to the last
        tail = []
        for line in process.stderr:
            if STEP.search(line):
                landed.append(time.perf_counter())
            tail = [*tail[-40:], line]
        code = process.wait()
        seconds = time.perf_counter() - started
        if code not in (0, 1):  # 1: a scenario failed, which a live model may do
            sys.exit(f"-j {jobs} exited {code}:\n{''.join(tail)}")
        steps.append(steps_in(report))
        steady = (len(landed) - 1) / (landed[-1] - landed[0]) * 60 if len(landed) > 1 else float("nan")
        return [seconds, steady]

    return Variant(f"-j {jobs}", run, warmup=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="scenario files to record (with --base-url)")
    parser.add_argument("--jobs", default="1,8", help="the -j values, comma separated (default 1,8)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=200.0, help="the stub's latency (default 200)")
    parser.add_argument("--scenarios", type=int, default=96, help="the stub project's scenario count (default 96)")
    parser.add_argument("--base-url", help="record from this live endpoint instead of the stub")
    parser.add_argument("--repeat", type=int, default=1, help="with --base-url: record each scenario K times")
    args = parser.parse_args()
    jobs = [int(j) for j in args.jobs.split(",")]
    steps: dict[int, list[int]] = {j: [] for j in jobs}
    with tempfile.TemporaryDirectory(prefix="harness-bench-j") as tmp:
        work = Path(tmp)
        if args.base_url:
            agents, paths = ROOT / "agents.yaml", args.paths
            extra = ["--base-url", args.base_url, "--repeat", str(args.repeat)]
            where = f"{args.base_url}: {len(paths)} scenario file(s) x {args.repeat} repeat(s)"
            variants = [record_variant(j, agents, paths, work, extra, steps[j]) for j in jobs]
            interleave(variants, args.rounds, warmup=False)
        else:
            with stub_server(args.latency_ms) as base_url:
                agents = write_project(work / "project", base_url)
                for n in range(args.scenarios):
                    write_scenario(work / "project" / "scenarios" / f"s{n:04d}.yaml", small_scenario(n))
                where = f"stub answering after {args.latency_ms:.0f} ms: {args.scenarios} scenarios"
                variants = [record_variant(j, agents, [], work, [], steps[j]) for j in jobs]
                interleave(variants, args.rounds, warmup=False)
    print(f"harness record --mode all -j N, {where}, {args.rounds} round(s), interleaved; medians")
    print("whole process: steps / wall time from start to exit; steady: between the first step and the last")
    print(
        f"{'jobs':>5}  {'steps':>6}  {'wall s':>8}  {'steps/min':>10}  {'ratio':>6}  {'steady/min':>10}  {'ratio':>6}"
    )
    base = steady_base = None
    for j, variant in zip(jobs, variants, strict=True):
        wall = [run[0] for run in variant.runs]
        rate = median([s / t * 60 for s, t in zip(steps[j], wall, strict=True)])
        # Meaningless unless each worker takes many steps (j one-step runs land at once): then "-".
        steady = median([run[1] for run in variant.runs]) if median(steps[j]) >= 8 * j else float("nan")
        base = base or rate
        steady_base = steady_base or steady
        print(
            f"{j:>5}  {median(steps[j]):>6.0f}  {median(wall):>8.2f}  {rate:>10.1f}  {rate / base:>5.2f}x  "
            f"{steady:>10.1f}  {steady / steady_base:>5.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
