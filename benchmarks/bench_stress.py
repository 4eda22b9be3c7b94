#!/usr/bin/env python3
"""Stress the sync/async bridge: this repository against asgiref 3.13.0, in the same run.

Run from anywhere with one command::

    python3 benchmarks/bench_stress.py [--rounds N] [--quick] [--python PATH]

The script

1. prepares the two virtual environments of ``bench_sync.py`` under ``benchmarks/.venvs/``
   (``original`` = ``asgiref==3.13.0`` from PyPI, ``ours`` = this repository, reinstalled
   non-editable from a scratch copy of the tree), by calling ``bench_sync``'s own functions;
2. runs the stress program ``tests/stress/bridge_stress.py`` (public API only, so the very same
   program runs against either implementation) in six scenarios, one subprocess per
   implementation, scenario and round (default 3 rounds, ``--quick`` = 1 round with a fifth of
   the calls), alternating which implementation goes first; every run uses ``--seed 13`` and
   ``--deadline 30``;
3. reads the JSON report line each run prints (as soon as every call settled or the deadline
   passed), then gives the process a grace of 5 s to exit by itself and kills it otherwise: a
   run is "hung" when calls were left unfinished or the process did not exit by itself (asgiref
   3.13.0 exhausts its thread pool by nesting in some scenarios and never exits);
4. prints a markdown table: calls settled and the median of the report's ``seconds`` for each
   implementation, and the ratio ours/original of the medians when both settled every call in
   every round (else how far the hung side got), and writes it to
   ``benchmarks/results-stress.md``.

Only the standard library is used, no network at all. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import bench_sync  # noqa: E402
from bench_sync import BenchError, _base_identity, _prepare, _read_lines, _venv_python  # noqa: E402

REPO_ROOT = bench_sync.REPO_ROOT
STRESS_SCRIPT = REPO_ROOT / "tests" / "stress" / "bridge_stress.py"
RESULTS_FILE = BENCH_DIR / "results-stress.md"

SEED = 13
#: The stress program's own deadline (seconds from the start of its event loop).
DEADLINE = 30.0
#: Seconds a process may take to exit by itself after printing its report.
GRACE = 5.0
#: Seconds allowed for the report line beyond the deadline (start-up, cleanup before the report).
REPORT_SLACK = 60.0
#: In --quick mode the calls are divided by this (the concurrency is capped by the calls).
QUICK_DIVISOR = 5
IMPLS = ("original", "ours")


@dataclass(frozen=True)
class Scenario:
    name: str
    args: tuple[str, ...]  # scenario and its options, without --calls/--concurrency
    calls: int
    concurrency: int

    def command(self, quick: bool) -> list[str]:
        calls = max(1, self.calls // QUICK_DIVISOR) if quick else self.calls
        concurrency = min(self.concurrency, calls)
        return [
            *self.args,
            "--calls",
            str(calls),
            "--concurrency",
            str(concurrency),
            "--seed",
            str(SEED),
            "--deadline",
            f"{DEADLINE:g}",
        ]


SCENARIOS = (
    Scenario("thread-sensitive chains", ("chains", "--sensitivity", "ts"), 5000, 100),
    Scenario("non-thread-sensitive chains", ("chains", "--sensitivity", "nts"), 1000, 10),
    Scenario(
        "mixed chains with cancellations and timeouts",
        ("chains", "--sensitivity", "mixed", "--fates"),
        5000,
        200,
    ),
    Scenario("WsgiToAsgi requests + Local among chains", ("wsgi_local",), 2000, 100),
    # The two above where the original finishes too, for a ratio: thread-sensitive hops only.
    Scenario(
        "thread-sensitive chains with cancellations and timeouts",
        ("chains", "--sensitivity", "ts", "--fates"),
        5000,
        200,
    ),
    Scenario(
        "WsgiToAsgi requests + Local among thread-sensitive chains",
        ("wsgi_local", "--sensitivity", "ts"),
        2000,
        100,
    ),
)


@dataclass
class Run:
    """One run of the stress program: what its report said and how the process ended."""

    report: dict[str, Any] = field(default_factory=dict)
    exited: bool = False  # the process exited by itself within the grace
    exit_code: int | None = None
    wall: float = 0.0
    error: str | None = None  # no report line (crash, or no report in time)

    @property
    def calls(self) -> int:
        return int(self.report.get("calls", 0))

    @property
    def settled(self) -> int:
        return int(self.report.get("settled", 0))

    @property
    def seconds(self) -> float | None:
        value = self.report.get("seconds")
        return None if value is None else float(value)

    @property
    def failures(self) -> int:
        return int(self.report.get("failures", 0))

    @property
    def hung(self) -> bool:
        return bool(self.report.get("unfinished", 0)) or not self.exited

    @property
    def complete(self) -> bool:
        """Every call settled, the process exited, no failure."""
        return (
            self.error is None
            and not self.hung
            and self.settled == self.calls
            and self.failures == 0
        )


def _log(message: str) -> None:
    print(f"[bench_stress] {message}", file=sys.stderr, flush=True)


def _stderr_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " / ".join(lines[-3:])[:300]


def run_stress(python: Path, args: list[str]) -> Run:
    """Run the stress program once with ``python`` (isolated, from a scratch directory, so that
    only the venv's asgiref can be imported); return its report and how it ended."""
    cmd = [str(python), "-I", str(STRESS_SCRIPT), *args]
    run = Run()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-stress-") as tmp:
        err_path = Path(tmp) / "stderr.txt"
        with err_path.open("w") as err:
            proc = subprocess.Popen(
                cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1
            )
            lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
            reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True)
            try:
                reader.start()
                report_deadline = started + DEADLINE + REPORT_SLACK
                for _ in range(10_000):
                    try:
                        line = lines.get(timeout=max(0.1, report_deadline - time.monotonic()))
                    except queue.Empty:
                        run.error = f"no report within {DEADLINE + REPORT_SLACK:.0f} s"
                        break
                    if line is None:
                        run.error = "exited without a report"
                        break
                    if line.startswith("{"):
                        run.report = json.loads(line)
                        break
                    if time.monotonic() > report_deadline:
                        run.error = f"no report within {DEADLINE + REPORT_SLACK:.0f} s"
                        break
                try:
                    proc.wait(timeout=GRACE)
                    run.exited = True
                except subprocess.TimeoutExpired:
                    run.exited = False
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)
                run.exit_code = proc.returncode
                reader.join(5)
        if run.exited and run.exit_code != 0 and run.error is None:
            run.error = f"exit code {run.exit_code}"
        if run.error is not None:
            run.error += f"; {_stderr_tail(err_path)}"
    run.wall = time.monotonic() - started
    return run


def _describe(run: Run) -> str:
    if run.error is not None and not run.report:
        return f"error: {run.error}"
    text = f"{run.settled}/{run.calls} settled in {run.seconds} s"
    if run.report.get("unfinished"):
        text += f", {run.report['unfinished']} unfinished"
    text += ", exited" if run.exited else ", did not exit (killed)"
    if run.failures:
        text += f", {run.failures} failures"
    return text


def run_rounds(
    envs: dict[str, tuple[Path, dict[str, Any]]], rounds: int, quick: bool
) -> dict[str, dict[str, list[Run]]]:
    """{scenario name: {impl: [run per round]}}."""
    results: dict[str, dict[str, list[Run]]] = {
        scenario.name: {impl: [] for impl in IMPLS} for scenario in SCENARIOS
    }
    for index in range(rounds):
        order = ["ours", "original"] if index % 2 == 0 else ["original", "ours"]
        for scenario in SCENARIOS:
            for impl in order:
                run = run_stress(_venv_python(envs[impl][0]), scenario.command(quick))
                results[scenario.name][impl].append(run)
                _log(
                    f"round {index + 1}/{rounds}, {scenario.name}, {impl}: {_describe(run)}"
                    f" ({run.wall:.1f} s wall)"
                )
    return results


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _settled_text(runs: list[Run]) -> str:
    settled = sorted({run.settled for run in runs})
    calls = max((run.calls for run in runs), default=0)
    head = str(settled[0]) if len(settled) == 1 else f"{settled[0]}..{settled[-1]}"
    return f"{head}/{calls}"


def _median_seconds(runs: list[Run]) -> float | None:
    values = [run.seconds for run in runs if run.seconds is not None]
    return statistics.median(values) if values else None


def _cell(runs: list[Run]) -> str:
    if not runs:
        return "n/a"
    if all(run.error is not None and not run.report for run in runs):
        return "ERROR: " + (runs[0].error or "")[:120].replace("|", "/")
    median = _median_seconds(runs)
    cell = f"{_settled_text(runs)}, " + ("n/a" if median is None else f"{median:.2f} s")
    hung = sum(run.hung for run in runs)
    if hung:
        stayed = sum(not run.exited for run in runs)
        cell += f" (hung in {hung}/{len(runs)} rounds; {stayed} did not exit by itself)"
    failures = sum(run.failures for run in runs)
    if failures:
        cell += f" ({failures} failures)"
    errors = [run.error for run in runs if run.error is not None]
    if errors:
        cell += f" (errors in {len(errors)} rounds: {errors[0][:80]})".replace("|", "/")
    return cell


def _hung_text(side: str, runs: list[Run]) -> str:
    calls = max((run.calls for run in runs), default=0)
    return f"{side} hung: {_settled_text(runs).split('/')[0]} of {calls} settled in {DEADLINE:g} s"


def _ratio_cell(orig: list[Run], ours: list[Run]) -> str:
    if orig and all(run.complete for run in orig) and ours and all(run.complete for run in ours):
        o, u = _median_seconds(orig), _median_seconds(ours)
        if o and u is not None:
            return f"{u / o:.2f}"
        return "n/a"
    parts = []
    if any(run.hung for run in orig):
        parts.append(_hung_text("original", [run for run in orig if run.hung]))
    if any(run.hung for run in ours):
        parts.append(_hung_text("ours", [run for run in ours if run.hung]))
    if not parts:
        parts.append("n/a (failures or errors)")
    return "; ".join(parts)


def _round_text(run: Run) -> str:
    if run.error is not None and not run.report:
        return "error"
    text = f"{run.seconds}"
    if run.hung:
        text += f" hung ({run.settled}/{run.calls})"
    if "threads_left" in run.report:
        text += f" threads_left={run.report['threads_left']}"
    return text


def build_report(
    results: dict[str, dict[str, list[Run]]], rounds: int, quick: bool, python: str, total: float
) -> str:
    now = datetime.datetime.now().isoformat(timespec="seconds")
    lines = [
        "# asgiref bridge stress (ours vs asgiref 3.13.0)",
        "",
        f"- run: {now}, Python {python}, {rounds} rounds{' (quick)' if quick else ''},"
        f" total wall time {total:.0f} s",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs",
        f"- program: `tests/stress/bridge_stress.py <scenario> --seed {SEED}"
        f" --deadline {DEADLINE:g}`, one process per implementation, scenario and round;"
        f" a process that does not exit within {GRACE:g} s of its report is killed",
        "- time: the report's `seconds` (until every call settled or the deadline), median over"
        " rounds; the ratio is of the medians, given only when both settled every call",
        "",
        "| scenario | original: settled, time | ours: settled, time | ratio ours/original |",
        "| --- | ---: | ---: | ---: |",
    ]
    for scenario in SCENARIOS:
        orig = results[scenario.name]["original"]
        ours = results[scenario.name]["ours"]
        args = " ".join(scenario.command(quick)[:-4])
        lines.append(
            f"| {scenario.name} (`{args}`) | {_cell(orig)} | {_cell(ours)}"
            f" | {_ratio_cell(orig, ours)} |"
        )
    lines.append("")
    lines.append("Per round (seconds; `hung` = calls unfinished or the process did not exit):")
    lines.append("")
    for scenario in SCENARIOS:
        for impl in IMPLS:
            runs = results[scenario.name][impl]
            per_round = ", ".join(_round_text(run) for run in runs)
            lines.append(f"- {scenario.name}, {impl}: {per_round}")
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 1)")
    parser.add_argument(
        "--quick", action="store_true", help=f"1 round, a {QUICK_DIVISOR}th of the calls"
    )
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter for both venvs (default: this one)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    if not 1 <= rounds <= 20:
        raise SystemExit("--rounds must be between 1 and 20")
    if not STRESS_SCRIPT.exists():
        raise SystemExit(f"{STRESS_SCRIPT} not found")
    started = time.monotonic()
    try:
        # As bench_sync's main does: both venvs, ours reinstalled from the current tree.
        envs = _prepare(args.python, False)
        for impl, (venv, info) in envs.items():
            _log(f"{impl}: asgiref {info.get('version')} from {info['file']} ({venv})")
        python_version = _base_identity(args.python)[1].split()[0]
        results = run_rounds(envs, rounds, args.quick)
    except BenchError as exc:
        _log(f"error: {exc}")
        return 2
    text = build_report(results, rounds, args.quick, python_version, time.monotonic() - started)
    RESULTS_FILE.write_text(text)
    print(text)
    _log(f"written to {RESULTS_FILE}; total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
