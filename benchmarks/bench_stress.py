#!/usr/bin/env python3
"""Stress the sync/async bridge: this repository against asgiref 3.13.0, in the same run.

Run from anywhere (standard library only; PyPI is needed once, for the venvs)::

    python3 benchmarks/bench_stress.py [--rounds N] [--quick] [--python PATH]

It runs ``tests/stress/bridge_stress.py`` (public API only) in six scenarios, in the venvs of
``bench_sync.py``: one process per implementation, scenario and round (3 rounds; ``--quick``: 1,
with a fifth of the calls), alternating which goes first, each with ``--seed 13 --deadline 30``;
each process gets 5 s after its JSON report to exit, else it is killed. A run "hung" if calls were
left unfinished or it did not exit (asgiref 3.13.0 exhausts its thread pool in some scenarios:
expect 30 s for each such run). The table (also in ``benchmarks/results-stress.md``): calls
settled and median ``seconds`` per implementation, and their ratio when both settled every call.
"""

from __future__ import annotations

import json
import queue
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

STRESS_SCRIPT = h.REPO_ROOT / "tests" / "stress" / "bridge_stress.py"
SEED = 13
#: The stress program's own deadline (seconds from the start of its event loop).
DEADLINE = 30.0
#: Seconds a process may take to exit by itself after printing its report.
GRACE = 5.0
#: Seconds allowed for the report line beyond the deadline (start-up, cleanup before the report).
REPORT_SLACK = 60.0
#: In --quick mode the calls are divided by this (the concurrency is capped by the calls).
QUICK_DIVISOR = 5


#: name -> (the program's arguments without --calls/--concurrency, calls, concurrency).
SCENARIOS = {
    "thread-sensitive chains": ("chains --sensitivity ts", 5000, 100),
    "non-thread-sensitive chains": ("chains --sensitivity nts", 1000, 10),
    "mixed chains with cancellations and timeouts": (
        "chains --sensitivity mixed --fates",
        5000,
        200,
    ),
    "WsgiToAsgi requests + Local among chains": ("wsgi_local", 2000, 100),
    # The two above where the original finishes too, for a ratio: thread-sensitive hops only.
    "thread-sensitive chains with cancellations and timeouts": (
        "chains --sensitivity ts --fates",
        5000,
        200,
    ),
    "WsgiToAsgi requests + Local among thread-sensitive chains": (
        "wsgi_local --sensitivity ts",
        2000,
        100,
    ),
}


def command(name: str, quick: bool) -> list[str]:
    args, calls, concurrency = SCENARIOS[name]
    calls = max(1, calls // QUICK_DIVISOR) if quick else calls
    return [*args.split(), "--calls", str(calls), "--concurrency", str(min(concurrency, calls))]


@dataclass
class Run:
    """One run of the stress program: what its report said and how the process ended."""

    report: dict[str, Any] = field(default_factory=dict)
    exited: bool = False  # the process exited by itself within the grace
    wall: float = 0.0
    error: str | None = None  # no report line (crash, or no report in time)

    def get(self, key: str) -> int:
        return int(self.report.get(key, 0))

    @property
    def seconds(self) -> float | None:
        return float(self.report["seconds"]) if "seconds" in self.report else None

    @property
    def hung(self) -> bool:
        return bool(self.get("unfinished")) or not self.exited

    @property
    def complete(self) -> bool:
        """Every call settled, the process exited, no failure."""
        ok = self.error is None and not self.hung and not self.get("failures")
        return ok and self.get("settled") == self.get("calls")


#: scenario -> impl -> one run per round.
Results = dict[str, dict[str, list[Run]]]


def run_stress(env: h.Env, args: list[str]) -> Run:
    """Run the stress program once, isolated (``-I``, from a scratch directory, so that only the
    venv's asgiref can be imported); return its report and how it ended."""
    run = Run()
    started = time.monotonic()
    deadline = started + DEADLINE + REPORT_SLACK
    options = ["--seed", str(SEED), "--deadline", f"{DEADLINE:g}"]
    with h.Child([str(env.python), "-I", str(STRESS_SCRIPT), *args, *options]) as child:
        for _ in range(10_000):
            try:
                line = child.line(deadline)
            except queue.Empty:
                line = ""
            if line is None:
                run.error = "exited without a report"
                break
            if line.startswith("{"):
                run.report = json.loads(line)
                break
            if time.monotonic() > deadline:
                run.error = f"no report within {DEADLINE + REPORT_SLACK:.0f} s"
                break
        run.exited = child.wait(GRACE)
        if run.exited and child.proc.returncode != 0 and run.error is None:
            run.error = f"exit code {child.proc.returncode}"
        if run.error is not None:
            run.error += f"; {child.stderr_tail()}"
    run.wall = time.monotonic() - started
    return run


def _settled_text(runs: list[Run]) -> str:
    settled = sorted({run.get("settled") for run in runs})
    head = str(settled[0]) if len(settled) == 1 else f"{settled[0]}..{settled[-1]}"
    return f"{head}/{max(run.get('calls') for run in runs)}"


def _median_seconds(runs: list[Run]) -> float | None:
    values = [run.seconds for run in runs if run.seconds is not None]
    return statistics.median(values) if values else None


def _cell(runs: list[Run]) -> str:
    if all(run.error is not None and not run.report for run in runs):
        return "ERROR: " + h.cell((runs[0].error or "")[:120])
    median = _median_seconds(runs)
    text = f"{_settled_text(runs)}, " + ("n/a" if median is None else f"{median:.2f} s")
    hung = sum(run.hung for run in runs)
    if hung:
        stayed = sum(not run.exited for run in runs)
        text += f" (hung in {hung}/{len(runs)} rounds; {stayed} did not exit by itself)"
    failures = sum(run.get("failures") for run in runs)
    text += f" ({failures} failures)" if failures else ""
    errors = [run.error for run in runs if run.error is not None]
    return text + (h.cell(f" (errors in {len(errors)} rounds: {errors[0][:80]})") if errors else "")


def _ratio_cell(orig: list[Run], ours: list[Run]) -> str:
    if all(run.complete for run in orig + ours):
        o, u = _median_seconds(orig), _median_seconds(ours)
        return f"{u / o:.2f}" if o and u is not None else "n/a"
    parts = []
    for side, runs in (("original", orig), ("ours", ours)):
        hung = [run for run in runs if run.hung]
        if hung:
            settled = _settled_text(hung).split("/")[0]
            calls = max(run.get("calls") for run in hung)
            parts.append(f"{side} hung: {settled} of {calls} settled in {DEADLINE:g} s")
    return "; ".join(parts) or "n/a (failures or errors)"


def _round_text(run: Run) -> str:
    """One run, for the log and the per-round lines of the report."""
    if run.error is not None and not run.report:
        return f"error: {run.error}"
    text = f"{run.seconds}" + (
        f" hung ({run.get('settled')}/{run.get('calls')})" if run.hung else ""
    )
    text += "" if run.exited else " (did not exit; killed)"
    if run.get("failures"):
        text += f" {run.get('failures')} failures"
    return text + (
        f" threads_left={run.report['threads_left']}" if "threads_left" in run.report else ""
    )


def build_report(
    results: Results, envs: dict[str, h.Env], rounds: int, quick: bool, took: float
) -> str:
    run = f"{rounds} rounds{' (quick)' if quick else ''}, total wall time {took:.0f} s"
    lines = h.head("asgiref bridge stress (ours vs asgiref 3.13.0)", run, envs)
    lines += [
        f"- `tests/stress/bridge_stress.py <scenario> --seed {SEED} --deadline {DEADLINE:g}`,"
        f" killed {GRACE:g} s after its report; time: its `seconds`, median over rounds",
        "",
        "| scenario | original: settled, time | ours: settled, time | ratio ours/original |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in SCENARIOS:
        orig, ours = results[name]["original"], results[name]["ours"]
        args = " ".join(command(name, quick))
        lines.append(
            f"| {name} (`{args}`) | {_cell(orig)} | {_cell(ours)} | {_ratio_cell(orig, ours)} |"
        )
    lines += ["", "Per round (seconds; `hung` = calls unfinished or the process did not exit):", ""]
    for name in SCENARIOS:
        for impl in h.IMPLS:
            per_round = ", ".join(_round_text(run) for run in results[name][impl])
            lines.append(f"- {name}, {impl}: {per_round}")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = h.arg_parser(__doc__, (3, 1), f"1 round, a {QUICK_DIVISOR}th of the calls")
    args = parser.parse_args(argv)
    rounds = h.rounds_of(args, 20)
    if not STRESS_SCRIPT.exists():
        raise SystemExit(f"{STRESS_SCRIPT} not found")
    started = time.monotonic()
    results: Results = {name: {impl: [] for impl in h.IMPLS} for name in SCENARIOS}
    try:
        envs = h.prepare_envs(args.python)
    except h.BenchError as exc:
        h.log(f"error: {exc}")
        return 2
    for index in range(rounds):
        for name in SCENARIOS:
            for impl in h.IMPLS if index % 2 else h.IMPLS[::-1]:
                run = run_stress(envs[impl], command(name, args.quick))
                results[name][impl].append(run)
                wall = f"{run.wall:.1f} s wall"
                h.log(f"round {index + 1}/{rounds}, {name}, {impl}: {_round_text(run)} ({wall})")
    text = build_report(results, envs, rounds, args.quick, time.monotonic() - started)
    h.finish("stress", text, results, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
