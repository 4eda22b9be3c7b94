#!/usr/bin/env python3
"""Benchmark ``asgiref.testing`` and ``asgiref.server``: this repository against asgiref 3.13.0.

Run from anywhere (standard library only; PyPI is needed once, for the venvs)::

    python3 benchmarks/bench_plumbing.py [--rounds N] [--quick] [--python PATH] [--only TEXT]
                                         [--self-test]

It measures an ``ApplicationCommunicator`` round trip with an echo application, and a full
``StatelessServer`` (so that each creation evicts the least recently used instance) at
``max_applications`` 1,000 and 100,000: ``get_or_create_application_instance``, ``put_nowait`` of
one message, then the loop runs until ``application_send`` has the reply. Options and method are
``bench_sync.py``'s, with ~1 s per case (0.3 s with ``--quick``; cap 10 s): the original's 100k
case takes milliseconds per operation. It also reports each implementation's growth from 1,000 to
100,000 instances. Written to ``benchmarks/results-plumbing.md``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

# Workers run with ``python -I``, which leaves the script's directory out of sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

SCRIPT = Path(__file__).resolve()
#: The "forever" of the test applications: more messages than any run can send.
APP_MAX_MESSAGES = h.MAX_ITERS + 1_000_000
#: Untimed operations after filling a server, so that timing starts in the evicting steady state.
SERVER_WARMUP_OPS = 50
#: The server is filled in batches of this many instances (one loop turn per batch).
FILL_BATCH = 1000
#: Our 100k/1k cost ratio that counts as flat.
FLAT_TARGET = 1.25

STOP = "bench.stop"  # the message that ends the echo application


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
    """A full StatelessServer on its own event loop for the life of the worker, filled once
    (untimed, on the first chunk); each chunk times k creations, each evicting the oldest."""

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
            async def application_send(self, scope: Any, message: Any) -> None:
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
        self.next_id = self.started = self.ended = self.replies = self.wanted = 0
        self.waiter: asyncio.Future[None] | None = None
        fill_seconds = self._run(self._fill())
        print(f"filled {n} instances in {fill_seconds:.2f} s", file=sys.stderr, flush=True)
        self._run(self._ops(SERVER_WARMUP_OPS))
        self._check()

    def _ids(self, count: int) -> list[str]:
        first = self.next_id
        self.next_id += count
        return [f"bench-{i}" for i in range(first, first + count)]

    def _run(self, coro: Any) -> float:
        """Run ``coro`` on this bench's loop, cancelled after h.CHUNK_TIMEOUT seconds."""
        task = self.loop.create_task(coro)
        timer = self.loop.call_later(h.CHUNK_TIMEOUT, task.cancel)
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


def _case_server(n: int) -> h.ChunkFn:
    def chunk(k: int) -> float:
        if n not in _SERVERS:
            _SERVERS[n] = _ServerBench(n)
        return _SERVERS[n].chunk(k)

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
    h.Case(COMM, _chunk_communicator, target=0.7),
    h.Case(SERVER_1K, _case_server(1_000)),
    h.Case(SERVER_100K, _case_server(100_000)),
]


def report(run: h.InProcessRun) -> str:
    """The harness's table, then each implementation's growth from 1,000 to 100,000."""
    lines = [
        "Growth with the number of instances: cost at 100,000 / cost at 1,000, median of the"
        " per-round ratios (both measured in the same worker):",
        "",
        "| implementation | 100k / 1k (median) | range over rounds | target |",
        "| --- | ---: | ---: | --- |",
    ]
    for impl, label in (("original", "original"), ("ours", run.ours_label)):
        ratios = run.ratios((impl, SERVER_100K), (impl, SERVER_1K))
        ratio, ratio_cell, range_cell = h.ratio_cells(ratios)
        target = "(none)"
        if impl == "ours":
            met = None if ratio is None else ratio <= FLAT_TARGET
            target = f"<= {FLAT_TARGET:g} ({h.verdict(met)})"
        lines.append(f"| {label} | {ratio_cell} | {range_cell} | {target} |")
    lines.append("")
    return run.report("asgiref testing/server benchmark", "", lines)


def main(argv: list[str] | None = None) -> int:
    return h.in_process_main(argv, __doc__, SCRIPT, "plumbing", CASES, (1.0, 10.0), report)


if __name__ == "__main__":
    sys.exit(main())
