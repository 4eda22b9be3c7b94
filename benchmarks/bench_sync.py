#!/usr/bin/env python3
"""Benchmark ``asgiref.sync`` and ``asgiref.local``: this repository against asgiref 3.13.0.

Run from anywhere with one command::

    python3 benchmarks/bench_sync.py [--rounds N] [--quick] [--python PATH] [--self-test]

The script

1. creates (or reuses) two virtual environments without system site packages under
   ``benchmarks/.venvs/``: ``original`` (``asgiref==3.13.0`` from PyPI) and ``ours`` (this
   repository, reinstalled non-editable on every run from a scratch copy of the tree, so that
   the build leaves no files in the work tree);
2. calibrates an iteration count per case once, then runs one worker process per
   implementation and round (this same file with ``--worker``), alternating which
   implementation goes first; each worker measures every case once and prints JSON lines;
3. prints a markdown table with medians and the median of per-round ratios ours/original, the
   floors measured in the same ``ours`` worker, and writes it to ``benchmarks/results-sync.md``.

``--self-test`` runs the original against itself (an A/A comparison, ratios should be near 1.0)
and writes ``benchmarks/results-sync-selftest.md`` instead.

Only the standard library is used. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import datetime
import gc
import json
import math
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
VENVS_DIR = BENCH_DIR / ".venvs"
RESULTS_FILE = BENCH_DIR / "results-sync.md"
SELFTEST_RESULTS_FILE = BENCH_DIR / "results-sync-selftest.md"
ORIGINAL_REQUIREMENT = "asgiref==3.13.0"
ORIGINAL_VERSION = "3.13.0"
META_FILE = ".bench-meta.json"
#: Raw per-round worker output of the last run (git-ignored, for digging into a result).
RAW_FILE = VENVS_DIR / "last-run-sync.json"

#: Prefix of every protocol line a worker prints on stdout.
LINE_PREFIX = "BENCH-JSON "
#: A measurement of n iterations is split into at most this many timed chunks (interleaved with
#: the chunks of the other cases); the time cap is checked between chunks.
CHUNKS = 25
#: Inner calls per outer call in the nested cases.
NESTED_K = 100
#: Statements per loop iteration in the unrolled micro-benchmarks (Local, floors).
UNROLL = 10
#: Concurrent calls per batch in the gather cases.
BATCH = 1000
#: Lower bound on any iteration count, so that every measurement has several chunks.
MIN_ITERS = 5
#: Hard upper bound on any iteration count (calibration cannot go past it).
MAX_ITERS = 50_000_000

# --------------------------------------------------------------------------------------------
# Worker side: cases
# --------------------------------------------------------------------------------------------

#: ``chunk(k)`` runs ``k`` iterations of a case in a fresh setup (event loop, thread, Local...)
#: and returns the seconds spent in the timed loop alone. Before the timed loop it makes one
#: untimed call, so that lazily started threads and first-call costs are not timed.
ChunkFn = Callable[[int], float]


@dataclass(frozen=True)
class Case:
    name: str
    chunk: ChunkFn
    ops_per_iter: int = 1
    target: float | None = None
    floor: bool = False


def _in_plain_thread(fn: Callable[[], T], timeout: float) -> T:
    """Run ``fn`` in a fresh non-async thread and return its result (or re-raise its error)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="bench-plain-thread", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"plain thread did not finish within {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result


#: Seconds a plain thread of one chunk may take before the chunk counts as hung.
THREAD_TIMEOUT = 60.0


def _trivial() -> int:
    return 1


async def noop() -> int:
    return 1


def _case_s2a_sequential(thread_sensitive: bool) -> ChunkFn:
    def chunk(k: int) -> float:
        from asgiref.sync import sync_to_async

        async def main() -> float:
            await sync_to_async(_trivial, thread_sensitive=thread_sensitive)()
            start = time.perf_counter()
            for _ in range(k):
                await sync_to_async(_trivial, thread_sensitive=thread_sensitive)()
            return time.perf_counter() - start

        return asyncio.run(main())

    return chunk


def _case_s2a_concurrent(thread_sensitive: bool) -> ChunkFn:
    def chunk(k: int) -> float:
        from asgiref.sync import sync_to_async

        async def batch() -> None:
            calls = [
                sync_to_async(_trivial, thread_sensitive=thread_sensitive)() for _ in range(BATCH)
            ]
            results = await asyncio.gather(*calls)
            if len(results) != BATCH:
                raise AssertionError("gather returned the wrong number of results")

        async def main() -> float:
            await sync_to_async(_trivial, thread_sensitive=thread_sensitive)()
            start = time.perf_counter()
            for _ in range(k):
                await batch()
            return time.perf_counter() - start

        return asyncio.run(main())

    return chunk


def _chunk_a2s_from_thread(k: int) -> float:
    from asgiref.sync import async_to_sync

    def body() -> float:
        async_to_sync(noop)()
        start = time.perf_counter()
        for _ in range(k):
            async_to_sync(noop)()
        return time.perf_counter() - start

    return _in_plain_thread(body, THREAD_TIMEOUT)


def _chunk_a2s_inside_s2a(k: int) -> float:
    from asgiref.sync import async_to_sync, sync_to_async

    def g() -> None:
        for _ in range(NESTED_K):
            async_to_sync(noop)()

    async def main() -> float:
        await sync_to_async(async_to_sync(noop))()
        start = time.perf_counter()
        for _ in range(k):
            await sync_to_async(g)()
        return time.perf_counter() - start

    return asyncio.run(main())


def _chunk_s2a_inside_a2s(k: int) -> float:
    from asgiref.sync import async_to_sync, sync_to_async

    async def h() -> None:
        for _ in range(NESTED_K):
            await sync_to_async(_trivial)()

    async def check() -> int:
        return await sync_to_async(threading.get_ident)()

    def body() -> float:
        # Also checks the documented behaviour: a thread-sensitive sync function called under
        # async_to_sync runs in the thread that called async_to_sync (untimed).
        if async_to_sync(check)() != threading.get_ident():
            raise AssertionError("thread-sensitive sync_to_async did not run in the outer thread")
        start = time.perf_counter()
        for _ in range(k):
            async_to_sync(h)()
        return time.perf_counter() - start

    return _in_plain_thread(body, THREAD_TIMEOUT)


def _chunk_thread_sensitive_context(k: int) -> float:
    from asgiref.sync import ThreadSensitiveContext, sync_to_async

    async def main() -> float:
        async with ThreadSensitiveContext():
            await sync_to_async(_trivial)()
        start = time.perf_counter()
        for _ in range(k):
            async with ThreadSensitiveContext():
                await sync_to_async(_trivial)()
        return time.perf_counter() - start

    return asyncio.run(main())


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


def _case_local(op: str, in_async: bool, thread_critical: bool) -> ChunkFn:
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
    async def main() -> float:
        await asyncio.to_thread(_trivial)
        start = time.perf_counter()
        for _ in range(k):
            await asyncio.to_thread(_trivial)
        return time.perf_counter() - start

    return asyncio.run(main())


class _BareThread:
    """One dedicated thread serving callables from a SimpleQueue (the bare round trip floor)."""

    def __init__(self, idle_timeout: float) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._idle_timeout = idle_timeout
        self._thread = threading.Thread(target=self._serve, name="bench-bare-thread", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for _ in range(MAX_ITERS):
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
    worker = _BareThread(idle_timeout=THREAD_TIMEOUT)

    async def main() -> float:
        await worker.call(_trivial)
        start = time.perf_counter()
        for _ in range(k):
            await worker.call(_trivial)
        return time.perf_counter() - start

    try:
        return asyncio.run(main())
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
FLOOR_TO_THREAD = "floor: asyncio.to_thread(f) round trip"
FLOOR_BARE = "floor: bare thread round trip (SimpleQueue + call_soon_threadsafe)"
BARE_TARGET = 1.25


def _build_cases() -> list[Case]:
    cases = [
        Case(S2A_SEQ_TS, _case_s2a_sequential(True), target=0.8),
        Case(S2A_SEQ_NTS, _case_s2a_sequential(False), target=0.8),
        Case(
            f"{BATCH} concurrent sync_to_async, thread_sensitive=False (per batch)",
            _case_s2a_concurrent(False),
            target=0.6,
        ),
        Case(
            f"{BATCH} concurrent sync_to_async, thread_sensitive=True (per batch)",
            _case_s2a_concurrent(True),
        ),
        Case("async_to_sync from a plain thread", _chunk_a2s_from_thread, target=0.1),
        Case(
            "async_to_sync inside sync_to_async (per inner call)",
            _chunk_a2s_inside_s2a,
            ops_per_iter=NESTED_K,
            target=1.0,
        ),
        Case(
            "sync_to_async inside async_to_sync (thread-sensitive, back to the outer thread;"
            " per inner call)",
            _chunk_s2a_inside_a2s,
            ops_per_iter=NESTED_K,
            target=0.7,
        ),
        Case("ThreadSensitiveContext enter+exit with one call", _chunk_thread_sensitive_context),
    ]
    for thread_critical in (False, True):
        label = "Local(thread_critical=True)" if thread_critical else "Local()"
        for in_async in (False, True):
            for op in ("get", "set"):
                mode = "async" if in_async else "sync"
                cases.append(
                    Case(
                        f"{label} {op} ({mode})",
                        _case_local(op, in_async, thread_critical),
                        ops_per_iter=UNROLL,
                        target=0.25,
                    )
                )
    cases += [
        Case(FLOOR_TO_THREAD, _chunk_floor_to_thread, floor=True),
        Case(FLOOR_BARE, _chunk_floor_bare_thread, floor=True),
        Case("floor: contextvars.ContextVar.get()", _chunk_floor_contextvar, UNROLL, floor=True),
        Case(
            "floor: threading.local attribute get",
            _chunk_floor_threading_local,
            UNROLL,
            floor=True,
        ),
    ]
    return cases


CASES = _build_cases()
CASES_BY_NAME = {case.name: case for case in CASES}


# --------------------------------------------------------------------------------------------
# Worker side: measuring
# --------------------------------------------------------------------------------------------


def _emit(event: str, **fields: Any) -> None:
    sys.stdout.write(LINE_PREFIX + json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text[:300]


def _calibrate(case: Case, target: float, cap: float, budget: float) -> int:
    """Find n such that n iterations take about ``target`` seconds (within ``budget`` s)."""
    started = time.perf_counter()
    n = 1
    elapsed = 0.0
    for _ in range(60):
        elapsed = case.chunk(n)
        if elapsed >= target / 4 or n >= MAX_ITERS or elapsed > cap:
            break
        if time.perf_counter() - started > budget:
            break
        grow = target / 3 / max(elapsed, 1e-9)
        n = min(MAX_ITERS, max(n * 2, min(n * 100, int(n * grow))))
    return max(MIN_ITERS, min(MAX_ITERS, math.ceil(n * target / max(elapsed, 1e-9))))


@dataclass
class _Progress:
    """The measurement of one case in a worker: n iterations in chunks of ``size``."""

    case: Case
    n: int
    size: int
    done: int = 0
    spent: float = 0.0
    error: str | None = None
    per_iter: list[float] = field(default_factory=list)

    def active(self, cap: float) -> bool:
        return self.error is None and self.done < self.n and self.spent <= cap


def _measure(names: list[str], iters: dict[str, int], cap: float) -> None:
    """Measure every case once, interleaving their chunks.

    Each case's n iterations run in at most CHUNKS chunks, and the chunks of all cases take
    turns (chunk 1 of every case, then chunk 2 of every case, ...), so every case is sampled
    across the whole run of the worker instead of during one short window: this keeps the slow
    phases of a shared machine from landing on a single case. The reported time per operation
    is the median over the chunks (see ``_summarize``); the mean is reported as well.
    """
    progress: list[_Progress] = []
    for name in names:
        n = max(1, int(iters[name]))
        progress.append(_Progress(CASES_BY_NAME[name], n, max(1, -(-n // CHUNKS))))
    for p in progress:  # warm-up: one untimed chunk of every case
        _emit("start", case=p.case.name)
        try:
            p.case.chunk(p.size)
        except BaseException as exc:
            p.error = _error_text(exc)
    gc.collect()
    for _ in range(CHUNKS + 1):
        active = [p for p in progress if p.active(cap)]
        if not active:
            break
        for p in active:
            k = min(p.size, p.n - p.done)
            _emit("start", case=p.case.name)
            try:
                seconds = p.case.chunk(k)
            except BaseException as exc:
                p.error = _error_text(exc)
                continue
            p.per_iter.append(seconds / k)
            p.done += k
            p.spent += seconds
    for p in progress:
        _emit("result", case=p.case.name, **_summarize(p))


def _summarize(p: _Progress) -> dict[str, Any]:
    if p.error is not None:
        return {"error": p.error}
    ordered = sorted(p.per_iter)
    scale = 1e6 / p.case.ops_per_iter
    return {
        # The primary number: the median of the per-chunk times (robust against the slow
        # phases of a shared VM, which come and go for 0.1-2 s at a time).
        "us_per_op": statistics.median(ordered) * scale,
        "q25_us_per_op": ordered[(len(ordered) - 1) // 4] * scale,
        "mean_us_per_op": p.spent / p.done * scale,
        "iters": p.n,
        "done": p.done,
        "chunks": len(ordered),
        "capped": p.done < p.n,
        "seconds": p.spent,
    }


def worker_main(args: argparse.Namespace) -> None:
    names: list[str] = json.loads(args.cases)
    info: dict[str, Any] = {"impl": args.impl, "python": sys.version, "prefix": sys.prefix}
    try:
        import asgiref

        info["asgiref_file"] = asgiref.__file__
        info["asgiref_version"] = getattr(asgiref, "__version__", None)
    except BaseException as exc:
        info["asgiref_error"] = _error_text(exc)
    _emit("info", **info)
    if args.mode == "calibrate":
        for name in names:
            _emit("start", case=name)
            try:
                n = _calibrate(CASES_BY_NAME[name], args.target, args.cap, max(4 * args.target, 2))
            except BaseException as exc:
                _emit("result", case=name, error=_error_text(exc))
            else:
                _emit("result", case=name, iters=n)
    else:
        _measure(names, json.loads(args.iters), args.cap)
    _emit("end")
    # Skip interpreter shutdown: a broken implementation may leave non-daemon threads behind.
    os._exit(0)


# --------------------------------------------------------------------------------------------
# Parent side: virtual environments
# --------------------------------------------------------------------------------------------


class BenchError(Exception):
    pass


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _run(cmd: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def _check(proc: subprocess.CompletedProcess[str], what: str) -> str:
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BenchError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


_PROBE = "import json, os, sys; print(json.dumps([os.path.realpath(sys.executable), sys.version]))"
_VERIFY = (
    "import json, sys\n"
    "try:\n"
    "    import asgiref\n"
    "except Exception as e:\n"
    "    print(json.dumps({'error': repr(e)}))\n"
    "else:\n"
    "    print(json.dumps({'file': asgiref.__file__, 'prefix': sys.prefix,\n"
    "        'base_prefix': sys.base_prefix, 'version': getattr(asgiref, '__version__', None)}))\n"
)


def _base_identity(python: str) -> list[str]:
    out = _check(_run([python, "-I", "-c", _PROBE], cwd=BENCH_DIR, timeout=60), "probing python")
    identity: list[str] = json.loads(out)
    return identity


def _venv_is_valid(venv: Path, identity: list[str]) -> bool:
    cfg = venv / "pyvenv.cfg"
    meta = venv / META_FILE
    if not (_venv_python(venv).exists() and cfg.exists() and meta.exists()):
        return False
    try:
        if json.loads(meta.read_text()) != identity:
            return False
    except ValueError:
        return False
    settings = {}
    for line in cfg.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            settings[key.strip()] = value.strip().lower()
    if settings.get("include-system-site-packages") != "false":
        return False
    proc = _run([str(_venv_python(venv)), "-I", "-c", "print(1)"], cwd=venv, timeout=60)
    return proc.returncode == 0


def _ensure_venv(name: str, python: str, identity: list[str]) -> tuple[Path, bool]:
    """Return (venv path, freshly created)."""
    venv = VENVS_DIR / name
    if _venv_is_valid(venv, identity):
        return venv, False
    if venv.exists():
        if venv.resolve().parent != VENVS_DIR.resolve():
            raise BenchError(f"refusing to delete unexpected path {venv}")
        shutil.rmtree(venv)
    VENVS_DIR.mkdir(parents=True, exist_ok=True)
    _log(f"creating virtual environment {venv} with {python}")
    _check(_run([python, "-m", "venv", str(venv)], cwd=BENCH_DIR, timeout=300), "python -m venv")
    (venv / META_FILE).write_text(json.dumps(identity))
    return venv, True


def _pip(venv: Path, *args: str) -> None:
    cmd = [str(_venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    _check(_run([*cmd, *args], cwd=venv), f"pip install {' '.join(args)} in {venv.name}")


def _verify(venv: Path) -> dict[str, Any]:
    out = _check(_run([str(_venv_python(venv)), "-I", "-c", _VERIFY], cwd=venv), "import check")
    info: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if "error" in info:
        raise BenchError(f"importing asgiref in {venv} failed: {info['error']}")
    file = Path(info["file"]).resolve()
    if not file.is_relative_to(venv.resolve()):
        raise BenchError(f"asgiref in {venv} is imported from outside the venv: {file}")
    if info["prefix"] == info["base_prefix"]:
        raise BenchError(f"{venv} does not behave as a virtual environment")
    return info


def _ignore_for_copy(directory: str, names: list[str]) -> set[str]:
    skip = {".git", "build", "dist", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    return {
        n
        for n in names
        if n in skip or n.startswith(".venv") or n.endswith(".egg-info") or n == ".venvs"
    }


def _install_ours(venv: Path, fresh: bool) -> None:
    if not (REPO_ROOT / "pyproject.toml").exists():
        raise BenchError(f"{REPO_ROOT / 'pyproject.toml'} not found: cannot install ours")
    # Build from a scratch copy so that the build backend writes nothing into the work tree.
    with tempfile.TemporaryDirectory(prefix="bench-sync-src-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(REPO_ROOT, src, ignore=_ignore_for_copy, symlinks=True)
        if fresh:
            _pip(venv, str(src))
        else:
            _pip(venv, "--force-reinstall", "--no-deps", str(src))


def _prepare(python: str, self_test: bool) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Return {impl: (venv, import info)} for "ours" and "original"."""
    identity = _base_identity(python)
    original, _ = _ensure_venv("original", python, identity)
    info = _original_info(original)
    if info is None:
        _log(f"installing {ORIGINAL_REQUIREMENT} into {original}")
        _pip(original, ORIGINAL_REQUIREMENT)
        info = _verify(original)
    if info.get("version") != ORIGINAL_VERSION:
        raise BenchError(f"{original} has asgiref {info.get('version')}, not {ORIGINAL_VERSION}")
    envs = {"original": (original, info)}
    if self_test:
        envs["ours"] = (original, info)
        return envs
    ours, fresh = _ensure_venv("ours", python, identity)
    _log(f"installing this repository ({REPO_ROOT}) into {ours}")
    _install_ours(ours, fresh)
    envs["ours"] = (ours, _verify(ours))
    return envs


def _original_info(venv: Path) -> dict[str, Any] | None:
    """Import info of an already installed original, or None if it must be (re)installed."""
    try:
        info = _verify(venv)
    except BenchError:
        return None
    return info if info.get("version") == ORIGINAL_VERSION else None


# --------------------------------------------------------------------------------------------
# Parent side: running workers
# --------------------------------------------------------------------------------------------


@dataclass
class Config:
    rounds: int
    target: float
    cap: float
    self_test: bool


def _log(message: str) -> None:
    print(f"[bench_sync] {message}", file=sys.stderr, flush=True)


def _read_lines(stream: Any, sink: queue.SimpleQueue[str | None]) -> None:
    try:
        for line in stream:
            sink.put(line)
    finally:
        sink.put(None)


def _stderr_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " / ".join(lines[-3:])[:300]


def _run_worker_once(
    python: Path,
    impl: str,
    mode: str,
    names: list[str],
    iters: dict[str, int],
    cfg: Config,
    results: dict[str, dict[str, Any]],
    info: dict[str, Any],
) -> None:
    """Run one worker process over ``names``; fill ``results`` with what it reported."""
    # Longest silence allowed between two "start" lines (one calibration or one chunk).
    per_case = 2 * cfg.cap + max(4 * cfg.target, 2.0) + THREAD_TIMEOUT
    cmd = [
        str(python),
        "-I",
        str(Path(__file__).resolve()),
        "--worker",
        "--mode",
        mode,
        "--impl",
        impl,
        "--target",
        repr(cfg.target),
        "--cap",
        repr(cfg.cap),
        "--cases",
        json.dumps(names),
        "--iters",
        json.dumps(iters),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        err_path = Path(tmp) / "stderr.txt"
        with err_path.open("w") as err:
            proc = subprocess.Popen(
                cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1
            )
            lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
            reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True)
            reader.start()
            current: str | None = None
            deadline = time.monotonic() + 60
            problem: str | None = None
            for _ in range(100_000):
                try:
                    line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    problem = f"timed out after {per_case:.0f} s (hang?)"
                    proc.kill()
                    break
                if line is None:
                    problem = "worker exited unexpectedly"
                    break
                if not line.startswith(LINE_PREFIX):
                    continue
                msg = json.loads(line[len(LINE_PREFIX) :])
                event = msg.pop("event")
                if event == "info":
                    info.update(msg)
                elif event == "start":
                    current = msg["case"]
                    deadline = time.monotonic() + per_case
                elif event == "result":
                    results[msg.pop("case")] = msg
                    current = None
                elif event == "end":
                    break
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
            reader.join(5)
        if problem is not None:
            detail = f"{problem}; exit code {proc.returncode}; {_stderr_tail(err_path)}"
            if current is not None:
                results[current] = {"error": detail}
            else:
                for name in names:
                    results.setdefault(name, {"error": detail})


def run_worker(
    python: Path, impl: str, mode: str, names: list[str], iters: dict[str, int], cfg: Config
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Run worker processes until every case in ``names`` has a result or an error.

    A case that hangs or kills the worker is recorded as an error and a new worker goes on with
    the remaining cases.
    """
    results: dict[str, dict[str, Any]] = {}
    info: dict[str, Any] = {}
    for _ in range(len(names) + 1):
        pending = [name for name in names if name not in results]
        if not pending:
            break
        _run_worker_once(python, impl, mode, pending, iters, cfg, results, info)
    return results, info


def calibrate(envs: dict[str, tuple[Path, dict[str, Any]]], cfg: Config) -> dict[str, int]:
    """One iteration count per case, used by both implementations in every round.

    Each implementation calibrates n so that one measurement takes about the target time; the
    larger n is used (so the faster implementation is measured for about the target time),
    limited to 4x the original's n to keep the slower side's run time bounded.
    """
    _log("calibrating iteration counts (round 1)")
    names = [case.name for case in CASES]
    orig, _ = run_worker(_venv_python(envs["original"][0]), "original", "calibrate", names, {}, cfg)
    ours, _ = run_worker(_venv_python(envs["ours"][0]), "ours", "calibrate", names, {}, cfg)
    iters: dict[str, int] = {}
    for name in names:
        n_orig = orig.get(name, {}).get("iters")
        n_ours = ours.get(name, {}).get("iters")
        if n_orig and n_ours:
            iters[name] = min(max(n_orig, n_ours), 4 * n_orig)
        else:
            iters[name] = int(n_orig or n_ours or 1)
    return iters


@dataclass
class RoundResult:
    results: dict[str, dict[str, dict[str, Any]]]  # impl -> case -> result
    infos: dict[str, dict[str, Any]]


def run_rounds(
    envs: dict[str, tuple[Path, dict[str, Any]]], iters: dict[str, int], cfg: Config
) -> list[RoundResult]:
    # Both workers run every case, floors included, so that they do identical work (the chunks
    # of all cases are interleaved, so a case's neighbours matter); floors are reported from the
    # ours worker only.
    names = [case.name for case in CASES]
    rounds: list[RoundResult] = []
    for index in range(cfg.rounds):
        order = ["ours", "original"] if index % 2 == 0 else ["original", "ours"]
        round_result = RoundResult(results={}, infos={})
        for impl in order:
            started = time.monotonic()
            results, info = run_worker(
                _venv_python(envs[impl][0]), impl, "measure", names, iters, cfg
            )
            round_result.results[impl] = results
            round_result.infos[impl] = info
            errors = sum(1 for r in results.values() if "error" in r)
            _log(
                f"round {index + 1}/{cfg.rounds}: {impl} done in "
                f"{time.monotonic() - started:.1f} s ({errors} errors)"
            )
            _check_worker_location(envs[impl][0], info)
        rounds.append(round_result)
    return rounds


def _check_worker_location(venv: Path, info: dict[str, Any]) -> None:
    file = info.get("asgiref_file")
    if file and not Path(file).resolve().is_relative_to(venv.resolve()):
        raise BenchError(f"worker imported asgiref from {file}, outside {venv}")


# --------------------------------------------------------------------------------------------
# Parent side: report
# --------------------------------------------------------------------------------------------


def _fmt_us(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _cell_text(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def _values(rounds: list[RoundResult], impl: str, name: str) -> tuple[list[float], list[str]]:
    values: list[float] = []
    errors: list[str] = []
    for rnd in rounds:
        result = rnd.results.get(impl, {}).get(name)
        if result is None:
            continue
        if "error" in result:
            errors.append(result["error"])
        else:
            values.append(float(result["us_per_op"]))
    return values, errors


def _summary_cell(values: list[float], errors: list[str], total: int) -> str:
    if not values:
        return "ERROR: " + _cell_text(errors[0][:120]) if errors else "n/a"
    cell = _fmt_us(statistics.median(values))
    if errors:
        cell += f" (errors in {len(errors)}/{total} rounds: {_cell_text(errors[0][:80])})"
    return cell


def _ratios(rounds: list[RoundResult], num: tuple[str, str], den: tuple[str, str]) -> list[float]:
    """Per-round ratios of (impl, case) ``num`` to (impl, case) ``den``."""
    out: list[float] = []
    for rnd in rounds:
        a = rnd.results.get(num[0], {}).get(num[1], {})
        b = rnd.results.get(den[0], {}).get(den[1], {})
        if "us_per_op" in a and "us_per_op" in b and b["us_per_op"] > 0:
            out.append(a["us_per_op"] / b["us_per_op"])
    return out


def _capped_note(rounds: list[RoundResult], name: str) -> str:
    capped = [
        impl
        for impl in ("original", "ours")
        if any(rnd.results.get(impl, {}).get(name, {}).get("capped") for rnd in rounds)
    ]
    return f" (time cap hit: {', '.join(capped)})" if capped else ""


def _git_description() -> str:
    head = _run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], REPO_ROOT, 30)
    status = _run(["git", "-C", str(REPO_ROOT), "status", "--porcelain"], REPO_ROOT, 30)
    if head.returncode != 0:
        return "no commit yet (uncommitted tree)"
    return head.stdout.strip() + ("+uncommitted changes" if status.stdout.strip() else "")


def case_row(rounds: list[RoundResult], case: Case) -> str:
    """One case's table row: both medians, the median per-round ratio, its range, the target."""
    total = len(rounds)
    orig_vals, orig_errs = _values(rounds, "original", case.name)
    ours_vals, ours_errs = _values(rounds, "ours", case.name)
    ratios = _ratios(rounds, ("ours", case.name), ("original", case.name))
    if ratios:
        ratio: float | None = statistics.median(ratios)
        ratio_cell = f"{ratio:.2f}"
        range_cell = f"{min(ratios):.2f} .. {max(ratios):.2f}"
    else:
        ratio, ratio_cell, range_cell = None, "n/a", ""
    if case.target is None:
        target_cell = "(none)"
    elif ratio is None:
        target_cell = f"<= {case.target:g} (not measured)"
    else:
        target_cell = f"<= {case.target:g} ({'met' if ratio <= case.target else 'MISSED'})"
    return (
        f"| {case.name}{_capped_note(rounds, case.name)}"
        f" | {_summary_cell(orig_vals, orig_errs, total)}"
        f" | {_summary_cell(ours_vals, ours_errs, total)}"
        f" | {ratio_cell} | {range_cell} | {target_cell} |"
    )


def build_report(
    rounds: list[RoundResult],
    envs: dict[str, tuple[Path, dict[str, Any]]],
    iters: dict[str, int],
    cfg: Config,
    elapsed: float,
) -> str:
    us = "\u00b5s"
    ours_label = "ours (= original, A/A self-test)" if cfg.self_test else "ours"
    lines: list[str] = []
    title = "A/A self-test: original vs original" if cfg.self_test else "ours vs asgiref 3.13.0"
    lines.append(f"# asgiref sync/local benchmark ({title})")
    lines.append("")
    now = datetime.datetime.now().isoformat(timespec="seconds")
    lines.append(
        f"- run: {now}, {cfg.rounds} rounds, ~{cfg.target:g} s per measurement,"
        f" cap {cfg.cap:g} s, total {elapsed:.0f} s"
    )
    lines.append(
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs;"
        f" Python {_first_line(rounds, 'original', 'python')}"
    )
    if not cfg.self_test:
        lines.append(f"- ours: {REPO_ROOT} at {_git_description()}")
    lines.append(
        "- times are per operation (per batch for the concurrent cases), median over rounds;"
        " the ratio is the median of the per-round ratios ours/original (same round)"
    )
    lines.append("")
    lines.append(
        f"| case | original (median, {us}) | {ours_label} (median, {us}) |"
        " ratio ours/original (median of per-round ratios) | ratio range over rounds | target |"
    )
    lines.append("| --- | ---: | ---: | ---: | ---: | --- |")
    total = len(rounds)
    for case in CASES:
        if case.floor:
            continue
        lines.append(case_row(rounds, case))
    lines.append("")
    lines.append(
        f"Floors (measured in the {ours_label} worker of each round, no asgiref involved):"
    )
    lines.append("")
    lines.append(f"| floor | median, {us} |")
    lines.append("| --- | ---: |")
    for case in CASES:
        if case.floor:
            vals, errs = _values(rounds, "ours", case.name)
            label = case.name.removeprefix("floor: ")
            lines.append(f"| {label} | {_summary_cell(vals, errs, total)} |")
    lines.append("")
    for name in (S2A_SEQ_TS, S2A_SEQ_NTS):
        ratios = _ratios(rounds, ("ours", name), ("ours", FLOOR_BARE))
        if ratios:
            ratio = statistics.median(ratios)
            verdict = "met" if ratio <= BARE_TARGET else "MISSED"
            text = f"{ratio:.2f}x (target <= {BARE_TARGET:g}: {verdict})"
        else:
            text = "n/a"
        lines.append(f"- {ours_label} `{name}` / bare thread round trip (same worker): {text}")
    lines.append("")
    lines.append(
        "Iteration counts (calibrated once, identical for both implementations): "
        + ", ".join(f"{name}: {iters[name]}" for name in iters)
    )
    lines.append("")
    return "\n".join(lines)


def _first_line(rounds: list[RoundResult], impl: str, key: str) -> str:
    for rnd in rounds:
        value = rnd.infos.get(impl, {}).get(key)
        if value:
            return str(value).splitlines()[0]
    return "?"


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 7, quick 3)")
    parser.add_argument("--quick", action="store_true", help="3 rounds, shorter measurements")
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter for both venvs (default: this one)"
    )
    parser.add_argument("--self-test", action="store_true", help="A/A run: original against itself")
    parser.add_argument(
        "--only",
        help="comma-separated substrings: measure only the cases whose names contain one "
        "(the floors are always measured); for iterating on one case",
    )
    # Worker mode (internal).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["calibrate", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--target", type=float, default=0.3, help=argparse.SUPPRESS)
    parser.add_argument("--cap", type=float, default=5.0, help=argparse.SUPPRESS)
    parser.add_argument("--cases", help=argparse.SUPPRESS)
    parser.add_argument("--iters", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_benchmark(
    args: argparse.Namespace,
    *,
    measure_seconds: float,
    cap_seconds: float,
    report: Callable[
        [list[RoundResult], dict[str, tuple[Path, dict[str, Any]]], dict[str, int], Config, float],
        str,
    ],
    results_file: Path,
    selftest_results_file: Path,
    raw_file: Path,
    workers: contextlib.AbstractContextManager[object] | None = None,
) -> int:
    """The parent's whole run, shared by every benchmark script: venvs, calibration, the rounds,
    the raw data and the report. `measure_seconds`/`cap_seconds` are the default run's; --quick
    uses a third of them. `workers` wraps the part that starts worker processes."""
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 7)
    if not 1 <= rounds <= 100:
        raise SystemExit("--rounds must be between 1 and 100")
    scale = 1 / 3 if args.quick else 1.0
    cfg = Config(
        rounds=rounds,
        target=measure_seconds * scale,
        cap=cap_seconds * scale,
        self_test=args.self_test,
    )
    started = time.monotonic()
    try:
        envs = _prepare(args.python, args.self_test)
        for impl, (venv, info) in envs.items():
            _log(f"{impl}: asgiref {info.get('version')} from {info['file']} ({venv})")
        with workers if workers is not None else contextlib.nullcontext():
            iters = calibrate(envs, cfg)
            rounds_done = run_rounds(envs, iters, cfg)
    except BenchError as exc:
        _log(f"error: {exc}")
        return 2
    raw = [{"results": rnd.results, "infos": rnd.infos} for rnd in rounds_done]
    raw_file.write_text(json.dumps({"iters": iters, "rounds": raw}, indent=1))
    text = report(rounds_done, envs, iters, cfg, time.monotonic() - started)
    out = selftest_results_file if cfg.self_test else results_file
    out.write_text(text)
    print(text)
    _log(f"written to {out}; total {time.monotonic() - started:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0
    if args.only:
        wanted = [part.strip() for part in args.only.split(",") if part.strip()]
        CASES[:] = [
            case
            for case in CASES
            if case.name.startswith("floor") or any(part in case.name for part in wanted)
        ]
    return run_benchmark(
        args,
        measure_seconds=0.3,
        cap_seconds=5.0,
        report=build_report,
        results_file=RESULTS_FILE,
        selftest_results_file=SELFTEST_RESULTS_FILE,
        raw_file=RAW_FILE,
    )


if __name__ == "__main__":
    sys.exit(main())
