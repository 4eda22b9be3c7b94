#!/usr/bin/env python3
"""Benchmark ``asgiref.testing`` and ``asgiref.server``: this repository against asgiref 3.13.0.

Run from anywhere with one command::

    python3 benchmarks/bench_plumbing.py [--rounds N] [--quick] [--python PATH] [--self-test]

It measures

1. an ``ApplicationCommunicator`` round trip with an echo application
   (``await comm.send_input(msg); await comm.receive_output()``);
2. ``StatelessServer`` instance creation + one message + its reply, with the server full, so
   that every creation evicts the least recently used instance, at ``max_applications`` 1,000
   and 100,000 (``get_or_create_application_instance`` called synchronously, ``put_nowait``
   on the queue it returns, then the loop runs until ``application_send`` has the reply).

The machinery is ``bench_sync.py``'s, reused as is: the two virtual environments in
``benchmarks/.venvs/``, calibration, interleaved worker processes alternating which
implementation goes first, medians over chunks and rounds, median of per-round ratios. This
file only brings its own cases and report (written to ``benchmarks/results-plumbing.md``).

Only the standard library is used. Every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
# Workers run with ``python -I``, which leaves the script's directory out of sys.path.
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import bench_sync  # noqa: E402
from bench_sync import (  # noqa: E402
    MAX_ITERS,
    VENVS_DIR,
    Case,
    Config,
    RoundResult,
    _first_line,
    _git_description,
    _parse_args,
    _ratios,
    case_row,
    run_benchmark,
    worker_main,
)

RESULTS_FILE = BENCH_DIR / "results-plumbing.md"
SELFTEST_RESULTS_FILE = BENCH_DIR / "results-plumbing-selftest.md"
#: Raw per-round worker output of the last run (git-ignored, for digging into a result).
RAW_FILE = VENVS_DIR / "last-run-plumbing.json"

#: The "forever" of the test applications: more messages than any run can send.
APP_MAX_MESSAGES = MAX_ITERS + 1_000_000
#: Seconds one chunk of a server case may take before it is cancelled (counts as an error).
CHUNK_TIMEOUT = 60.0
#: Untimed operations after filling a server, so that timing starts in the evicting steady state.
SERVER_WARMUP_OPS = 50
#: The server is filled in batches of this many instances (one loop turn per batch).
FILL_BATCH = 1000
#: Our 100k/1k cost ratio that counts as flat.
FLAT_TARGET = 1.25

STOP = "bench.stop"

# --------------------------------------------------------------------------------------------
# Worker side: cases
# --------------------------------------------------------------------------------------------


async def _echo_app(scope: Any, receive: Any, send: Any) -> None:
    """Receives a message, sends it back, "forever" (until a stop message)."""
    for _ in range(APP_MAX_MESSAGES):
        message = await receive()
        if message["type"] == STOP:
            return
        await send(message)


def _chunk_communicator(k: int) -> float:
    from asgiref.testing import ApplicationCommunicator

    async def main() -> float:
        comm = ApplicationCommunicator(_echo_app, {"type": "bench"})
        message = {"type": "bench.ping"}
        await comm.send_input(message)
        if await comm.receive_output() is not message:
            raise AssertionError("the echo application sent back something else")
        start = time.perf_counter()
        for _ in range(k):
            await comm.send_input(message)
            await comm.receive_output()
        elapsed = time.perf_counter() - start
        await comm.send_input({"type": STOP})
        await comm.wait()
        return elapsed

    return asyncio.run(main())


class _ServerBench:
    """A full StatelessServer on its own event loop, kept for the life of the worker process.

    Filling it is untimed and happens once per worker (on the first chunk); every chunk then
    times ``k`` creations, each of which evicts the least recently used instance.
    """

    def __init__(self, n: int) -> None:
        from asgiref.server import StatelessServer

        bench = self

        async def application(scope: Any, receive: Any, send: Any) -> None:
            bench.started += 1
            try:
                for _ in range(APP_MAX_MESSAGES):
                    await receive()
                    await send(bench.reply)
            finally:
                bench.ended += 1

        class Server(StatelessServer):
            async def application_send(
                self, scope: dict[str, Any], message: dict[str, Any]
            ) -> None:
                bench.replies += 1
                waiter = bench.waiter
                if waiter is not None and bench.replies >= bench.wanted and not waiter.done():
                    waiter.set_result(None)

        self.n = n
        self.server = Server(application, max_applications=n)
        self.loop = asyncio.new_event_loop()
        self.scope: dict[str, Any] = {"type": "bench"}
        self.message: dict[str, Any] = {"type": "bench.message"}
        self.reply: dict[str, Any] = {"type": "bench.reply"}
        self.next_id = 0
        self.started = 0
        self.ended = 0
        self.replies = 0
        self.wanted = 0
        self.waiter: asyncio.Future[None] | None = None
        self.fill_seconds = self._run(self._fill())
        print(f"filled {n} instances in {self.fill_seconds:.2f} s", file=sys.stderr, flush=True)
        self._run(self._ops(SERVER_WARMUP_OPS))
        self._check()

    def _ids(self, count: int) -> list[str]:
        first = self.next_id
        self.next_id += count
        return [f"bench-{i}" for i in range(first, first + count)]

    def _run(self, coro: Any) -> float:
        """Run ``coro`` on this bench's loop, cancelled after CHUNK_TIMEOUT seconds."""
        task = self.loop.create_task(coro)
        timer = self.loop.call_later(CHUNK_TIMEOUT, task.cancel)
        try:
            result: float = self.loop.run_until_complete(task)
        finally:
            timer.cancel()
        return result

    async def _fill(self) -> float:
        start = time.perf_counter()
        get = self.server.get_or_create_application_instance
        loop = asyncio.get_running_loop()
        for _ in range(-(-self.n // FILL_BATCH)):
            ids = self._ids(min(FILL_BATCH, self.n - self.next_id))
            waiter: asyncio.Future[None] = loop.create_future()
            self.waiter, self.wanted = waiter, self.replies + len(ids)
            for scope_id in ids:
                get(scope_id, self.scope).put_nowait(self.message)
            await waiter
        return time.perf_counter() - start

    async def _ops(self, k: int) -> float:
        ids = self._ids(k)
        get = self.server.get_or_create_application_instance
        scope, message = self.scope, self.message
        create_future = asyncio.get_running_loop().create_future
        start = time.perf_counter()
        for scope_id in ids:
            waiter: asyncio.Future[None] = create_future()
            self.waiter, self.wanted = waiter, self.replies + 1
            get(scope_id, scope).put_nowait(message)
            await waiter
        elapsed = time.perf_counter() - start
        for _ in range(10):  # let the last evicted instances see their cancellation
            await asyncio.sleep(0)
        return elapsed

    def _check(self) -> None:
        """Every message got its reply, and the server holds about n live instances."""
        if self.replies != self.next_id:
            raise AssertionError(f"{self.replies} replies to {self.next_id} messages")
        live = self.started - self.ended
        held = len(self.server.application_instances)
        if not (self.n <= live <= self.n + 1 and self.n <= held <= self.n + 1):
            raise AssertionError(
                f"max_applications={self.n}: {live} live instances, {held} held by the server"
            )

    def chunk(self, k: int) -> float:
        elapsed = self._run(self._ops(k))
        self._check()
        return elapsed


_SERVERS: dict[int, _ServerBench] = {}


def _case_server(n: int) -> bench_sync.ChunkFn:
    def chunk(k: int) -> float:
        bench = _SERVERS.get(n)
        if bench is None:
            bench = _SERVERS[n] = _ServerBench(n)
        return bench.chunk(k)

    return chunk


COMM = "ApplicationCommunicator round trip (send_input + receive_output)"
SERVER_1K = (
    "StatelessServer instance creation + one message + reply, at 1,000 instances (each evicts one)"
)
SERVER_100K = (
    "StatelessServer instance creation + one message + reply, at 100,000 instances"
    " (each evicts one)"
)

CASES = [
    Case(COMM, _chunk_communicator, target=0.7),
    Case(SERVER_1K, _case_server(1_000)),
    Case(SERVER_100K, _case_server(100_000)),
]


def _install_cases(cases: list[Case]) -> None:
    """Make bench_sync's calibration, rounds and workers run ``cases`` instead of its own."""
    bench_sync.CASES[:] = cases
    bench_sync.CASES_BY_NAME.clear()
    bench_sync.CASES_BY_NAME.update((case.name, case) for case in cases)


@contextlib.contextmanager
def _workers_run_this_file() -> Iterator[None]:
    """Adapter: bench_sync starts each worker as ``python -I <bench_sync.__file__> --worker``;
    point that at this file, whose worker mode knows the plumbing cases."""
    saved = bench_sync.__file__
    bench_sync.__file__ = str(Path(__file__).resolve())
    try:
        yield
    finally:
        bench_sync.__file__ = saved


# --------------------------------------------------------------------------------------------
# Parent side: report
# --------------------------------------------------------------------------------------------


def _ratio_text(ratios: list[float]) -> tuple[float | None, str, str]:
    if not ratios:
        return None, "n/a", ""
    ratio = statistics.median(ratios)
    return ratio, f"{ratio:.2f}", f"{min(ratios):.2f} .. {max(ratios):.2f}"


def build_report(
    rounds: list[RoundResult], iters: dict[str, int], cfg: Config, elapsed: float
) -> str:
    us = "\u00b5s"
    ours_label = "ours (= original, A/A self-test)" if cfg.self_test else "ours"
    title = "A/A self-test: original vs original" if cfg.self_test else "ours vs asgiref 3.13.0"
    now = datetime.datetime.now().isoformat(timespec="seconds")
    lines = [
        f"# asgiref testing/server benchmark ({title})",
        "",
        f"- run: {now}, {cfg.rounds} rounds, ~{cfg.target:g} s per measurement,"
        f" cap {cfg.cap:g} s, total {elapsed:.0f} s",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs;"
        f" Python {_first_line(rounds, 'original', 'python')}",
    ]
    if not cfg.self_test:
        lines.append(f"- ours: {bench_sync.REPO_ROOT} at {_git_description()}")
    lines += [
        "- times are per operation, median over rounds; the ratio is the median of the"
        " per-round ratios ours/original (same round)",
        "",
        f"| case | original (median, {us}) | {ours_label} (median, {us}) |"
        " ratio ours/original (median of per-round ratios) | ratio range over rounds | target |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for case in CASES:
        lines.append(case_row(rounds, case))
    lines += [
        "",
        "Growth with the number of instances: cost at 100,000 / cost at 1,000, median of the"
        " per-round ratios (both measured in the same worker):",
        "",
        "| implementation | 100k / 1k (median) | range over rounds | target |",
        "| --- | ---: | ---: | --- |",
    ]
    for impl, label in (("original", "original"), ("ours", ours_label)):
        ratio, ratio_cell, range_cell = _ratio_text(
            _ratios(rounds, (impl, SERVER_100K), (impl, SERVER_1K))
        )
        if impl != "ours":
            target_cell = "(none)"
        elif ratio is None:
            target_cell = f"<= {FLAT_TARGET:g} (not measured)"
        else:
            target_cell = f"<= {FLAT_TARGET:g} ({'met' if ratio <= FLAT_TARGET else 'MISSED'})"
        lines.append(f"| {label} | {ratio_cell} | {range_cell} | {target_cell} |")
    lines += [
        "",
        "Iteration counts (calibrated once, identical for both implementations): "
        + ", ".join(f"{name}: {iters[name]}" for name in iters),
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    cases = list(CASES)
    if args.only and not args.worker:
        wanted = [part.strip() for part in args.only.split(",") if part.strip()]
        cases = [case for case in cases if any(part in case.name for part in wanted)]
        CASES[:] = cases
    _install_cases(cases)
    if args.worker:
        worker_main(args)
        return 0
    # Longer measurements than bench_sync's (0.3 s): the original's 100k case costs
    # milliseconds per operation, and ours is measured for at most 4x the original's count.
    return run_benchmark(
        args,
        measure_seconds=1.0,
        cap_seconds=10.0,
        report=lambda rounds, _envs, iters, cfg, elapsed: build_report(rounds, iters, cfg, elapsed),
        results_file=RESULTS_FILE,
        selftest_results_file=SELFTEST_RESULTS_FILE,
        raw_file=RAW_FILE,
        workers=_workers_run_this_file(),
    )


if __name__ == "__main__":
    sys.exit(main())
