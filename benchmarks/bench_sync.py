#!/usr/bin/env python3
"""Benchmark ``asgiref.sync`` and ``asgiref.local``: this repository against asgiref 3.13.0.

Run from anywhere (standard library only; PyPI is needed once, for the venvs)::

    python3 benchmarks/bench_sync.py [--rounds N] [--quick] [--python PATH] [--only TEXT]
                                     [--self-test]

It measures, per operation: ``sync_to_async`` one at a time and 1,000 at once (with and without
``thread_sensitive``), ``async_to_sync`` from a plain thread, each nested in the other, a
``ThreadSensitiveContext`` with one call, ``Local`` reads and writes (plain and thread-critical,
from sync and async code); and floors without asgiref. 7 rounds (3 with ``--quick``) of one
worker per implementation, ~0.3 s per case (0.1 s with ``--quick``); the table (median of the
per-round ratios ours/original, targets) goes to ``benchmarks/results-sync.md``. ``--only`` keeps
the cases whose names contain one of its comma-separated substrings (and the floors);
``--self-test`` measures the original against itself (A/A), into ``results-sync-selftest.md``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import itertools
import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

# Workers run with ``python -I``, which leaves the script's directory out of sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

T = TypeVar("T")
SCRIPT = Path(__file__).resolve()
#: Inner calls per outer call in the nested cases.
NESTED_K = 100
#: Statements per loop iteration in the unrolled micro-benchmarks (Local, floors).
UNROLL = 10
#: Concurrent calls per batch in the gather cases.
BATCH = 1000

# The cases run in the workers, where they import asgiref (the venv's) when they run.


def _in_plain_thread(fn: Callable[[], float]) -> float:
    """Run `fn` in a fresh thread without an event loop; its result, or its error re-raised."""
    future: concurrent.futures.Future[float] = concurrent.futures.Future()

    def target() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=target, name="bench-plain-thread", daemon=True).start()
    return future.result(timeout=h.CHUNK_TIMEOUT)


def _trivial() -> int:
    return 1


async def noop() -> int:
    return 1


def _case_s2a_sequential(ts: bool) -> h.ChunkFn:
    def chunk(k: int) -> float:
        from asgiref.sync import sync_to_async

        return h.timed_async(k, lambda: sync_to_async(_trivial, thread_sensitive=ts)())

    return chunk


def _case_s2a_iter(ts: bool) -> h.ChunkFn:
    """k items of one `sync_to_async_iter` stream (ours only: the original has none)."""

    def chunk(k: int) -> float:
        from asgiref.sync import sync_to_async_iter

        async def main() -> float:
            async for _ in sync_to_async_iter(range(1), thread_sensitive=ts):
                pass  # warm-up
            start = time.perf_counter()
            async for _ in sync_to_async_iter(range(k), thread_sensitive=ts):
                pass
            return time.perf_counter() - start

        return asyncio.run(main())

    return chunk


def _case_s2a_concurrent(ts: bool) -> h.ChunkFn:
    def chunk(k: int) -> float:
        from asgiref.sync import sync_to_async

        async def batch() -> None:
            calls = [sync_to_async(_trivial, thread_sensitive=ts)() for _ in range(BATCH)]
            if len(await asyncio.gather(*calls)) != BATCH:
                raise AssertionError("gather returned the wrong number of results")

        # Warmed up with one call only: each chunk has a loop (and default executor) of its own.
        return h.timed_async(k, batch, lambda: sync_to_async(_trivial, thread_sensitive=ts)())

    return chunk


def _chunk_a2s_from_thread(k: int) -> float:
    from asgiref.sync import async_to_sync

    return _in_plain_thread(lambda: h.timed(k, lambda: async_to_sync(noop)()))


def _chunk_a2s_inside_s2a(k: int) -> float:
    from asgiref.sync import async_to_sync, sync_to_async

    def g() -> None:
        for _ in range(NESTED_K):
            async_to_sync(noop)()

    return h.timed_async(
        k, lambda: sync_to_async(g)(), lambda: sync_to_async(async_to_sync(noop))()
    )


def _chunk_s2a_inside_a2s(k: int) -> float:
    from asgiref.sync import async_to_sync, sync_to_async

    async def inner() -> None:
        for _ in range(NESTED_K):
            await sync_to_async(_trivial)()

    async def check() -> int:
        return await sync_to_async(threading.get_ident)()

    def body() -> float:
        # The warm-up checks the documented behaviour: a thread-sensitive sync function called
        # under async_to_sync runs in the thread that called async_to_sync.
        if async_to_sync(check)() != threading.get_ident():
            raise AssertionError("thread-sensitive sync_to_async did not run in the outer thread")
        return h.timed(k, lambda: async_to_sync(inner)(), lambda: None)

    return _in_plain_thread(body)


def _chunk_thread_sensitive_context(k: int) -> float:
    from asgiref.sync import ThreadSensitiveContext, sync_to_async

    async def step() -> None:
        async with ThreadSensitiveContext():
            await sync_to_async(_trivial)()

    return h.timed_async(k, step)


def _get_loop(obj: Any, k: int) -> float:
    """Time ``k`` iterations of UNROLL reads of ``obj.x``."""
    start = time.perf_counter()
    v: object = None
    for _ in range(k):
        v = obj.x
        v = obj.x
        v = obj.x
        v = obj.x
        v = obj.x
        v = obj.x
        v = obj.x
        v = obj.x
        v = obj.x
        v = obj.x
    elapsed = time.perf_counter() - start
    if v is None:
        raise AssertionError("attribute read returned None")
    return elapsed


def _set_loop(obj: Any, k: int) -> float:
    """Time ``k`` iterations of UNROLL writes of ``obj.x``."""
    start = time.perf_counter()
    for i in range(k):
        obj.x = i
        obj.x = i
        obj.x = i
        obj.x = i
        obj.x = i
        obj.x = i
        obj.x = i
        obj.x = i
        obj.x = i
        obj.x = i
    return time.perf_counter() - start


def _case_local(op: str, in_async: bool, thread_critical: bool) -> h.ChunkFn:
    loop_fn = _get_loop if op == "get" else _set_loop

    def body(k: int) -> float:
        from asgiref.local import Local

        local = Local(thread_critical=thread_critical)
        local.x = -1
        loop_fn(local, 1)
        return loop_fn(local, k)

    def chunk(k: int) -> float:
        if not in_async:
            return body(k)

        async def main() -> float:
            # The loop runs inside this coroutine (in its task and context, with the event
            # loop running); it is a plain function call so that the sync and async variants
            # execute the very same bytecode.
            return body(k)

        return asyncio.run(main())

    return chunk


def _chunk_floor_to_thread(k: int) -> float:
    return h.timed_async(k, lambda: asyncio.to_thread(_trivial))


class _BareThread:
    """One dedicated thread serving callables from a SimpleQueue (the bare round trip floor)."""

    def __init__(self, idle_timeout: float) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._idle_timeout = idle_timeout
        self._thread = threading.Thread(target=self._serve, name="bench-bare-thread", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for _ in range(h.MAX_ITERS):
            try:
                job = self._jobs.get(timeout=self._idle_timeout)
            except queue.Empty:
                return
            if job is None:
                return
            job()

    async def call(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def resolve(result: T) -> None:
            if not future.done():
                future.set_result(result)

        def fail(exc: BaseException) -> None:
            if not future.done():
                future.set_exception(exc)

        def job() -> None:
            try:
                result = fn()
            except BaseException as exc:
                loop.call_soon_threadsafe(fail, exc)
            else:
                loop.call_soon_threadsafe(resolve, result)

        self._jobs.put(job)
        return await future

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(5)


def _chunk_floor_bare_thread(k: int) -> float:
    worker = _BareThread(idle_timeout=h.CHUNK_TIMEOUT)
    try:
        return h.timed_async(k, lambda: worker.call(_trivial))
    finally:
        worker.stop()


_FLOOR_VAR: contextvars.ContextVar[int] = contextvars.ContextVar("bench_floor_var", default=0)


def _chunk_floor_contextvar(k: int) -> float:
    get = _FLOOR_VAR.get
    _FLOOR_VAR.set(1)
    get()
    start = time.perf_counter()
    v = 0
    for _ in range(k):
        v = get()
        v = get()
        v = get()
        v = get()
        v = get()
        v = get()
        v = get()
        v = get()
        v = get()
        v = get()
    elapsed = time.perf_counter() - start
    if v != 1:
        raise AssertionError("ContextVar.get() returned the wrong value")
    return elapsed


def _chunk_floor_threading_local(k: int) -> float:
    tl = threading.local()
    tl.x = 1
    _get_loop(tl, 1)
    return _get_loop(tl, k)


S2A_SEQ_TS = "sync_to_async sequential, thread_sensitive=True"
S2A_SEQ_NTS = "sync_to_async sequential, thread_sensitive=False"
FLOOR_BARE = "floor: bare thread round trip (SimpleQueue + call_soon_threadsafe)"
S2A_ITER_TS = "sync_to_async_iter, per item, thread_sensitive=True"
S2A_ITER_NTS = "sync_to_async_iter, per item, thread_sensitive=False"
# An item of a stream may cost at most this much more than one sequential sync_to_async call.
ITER_TARGET = 1.25
#: Our sequential sync_to_async over the bare round trip (same worker) that counts as lean.
BARE_TARGET = 1.25


def build_cases() -> list[h.Case]:
    batch = f"{BATCH} concurrent sync_to_async, thread_sensitive="
    s2a_in_a2s = "sync_to_async inside async_to_sync (thread-sensitive, back to the outer thread;"
    cases = [
        h.Case(S2A_SEQ_TS, _case_s2a_sequential(True), target=0.8),
        h.Case(S2A_SEQ_NTS, _case_s2a_sequential(False), target=0.8),
        h.Case(S2A_ITER_TS, _case_s2a_iter(True), impls=("ours",)),
        h.Case(S2A_ITER_NTS, _case_s2a_iter(False), impls=("ours",)),
        h.Case(f"{batch}False (per batch)", _case_s2a_concurrent(False), target=0.6),
        h.Case(f"{batch}True (per batch)", _case_s2a_concurrent(True)),
        h.Case("async_to_sync from a plain thread", _chunk_a2s_from_thread, target=0.1),
        h.Case(
            "async_to_sync inside sync_to_async (per inner call)",
            _chunk_a2s_inside_s2a,
            NESTED_K,
            1.0,
        ),
        h.Case(f"{s2a_in_a2s} per inner call)", _chunk_s2a_inside_a2s, NESTED_K, target=0.7),
        h.Case("ThreadSensitiveContext enter+exit with one call", _chunk_thread_sensitive_context),
    ]
    for critical in (False, True):
        label = "Local(thread_critical=True)" if critical else "Local()"
        for mode, op in itertools.product(("sync", "async"), ("get", "set")):
            chunk = _case_local(op, mode == "async", critical)
            cases.append(h.Case(f"{label} {op} ({mode})", chunk, UNROLL, target=0.25))
    floors = [
        ("floor: asyncio.to_thread(f) round trip", _chunk_floor_to_thread, 1),
        (FLOOR_BARE, _chunk_floor_bare_thread, 1),
        ("floor: contextvars.ContextVar.get()", _chunk_floor_contextvar, UNROLL),
        ("floor: threading.local attribute get", _chunk_floor_threading_local, UNROLL),
    ]
    return cases + [h.Case(name, chunk, ops, floor=True) for name, chunk, ops in floors]


def report(run: h.InProcessRun) -> str:
    """The harness's table, then the floors and our sequential calls over the bare round trip."""
    label = run.ours_label
    lines = [
        f"Floors (measured in the {label} worker of each round, no asgiref involved):",
        "",
        "| floor | median, µs |",
        "| --- | ---: |",
    ]
    for case in [case for case in run.cases if case.floor]:
        name = case.name.removeprefix("floor: ")
        lines.append(f"| {name} | {run.time_cell('ours', case.name)} |")
    lines.append("")
    for name in (S2A_SEQ_TS, S2A_SEQ_NTS):
        ratio = h.ratio_cells(run.ratios(("ours", name), ("ours", FLOOR_BARE)))[0]
        text = "n/a"
        if ratio is not None:
            text = f"{ratio:.2f}x (target <= {BARE_TARGET:g}: {h.verdict(ratio <= BARE_TARGET)})"
        lines.append(f"- {label} `{name}` / bare thread round trip (same worker): {text}")
    for stream, call in ((S2A_ITER_TS, S2A_SEQ_TS), (S2A_ITER_NTS, S2A_SEQ_NTS)):
        ratio = h.ratio_cells(run.ratios(("ours", stream), ("ours", call)))[0]
        text = "n/a"
        if ratio is not None:
            text = f"{ratio:.2f}x (target <= {ITER_TARGET:g}: {h.verdict(ratio <= ITER_TARGET)})"
        lines.append(f"- {label} `{stream}` / `{call}` (same worker): {text}")
    lines.append("")
    per_batch = " (per batch for the concurrent cases)"
    return run.report("asgiref sync/local benchmark", per_batch, lines)


def main(argv: list[str] | None = None) -> int:
    return h.in_process_main(argv, __doc__, SCRIPT, "sync", build_cases(), (0.3, 5.0), report)


if __name__ == "__main__":
    sys.exit(main())
