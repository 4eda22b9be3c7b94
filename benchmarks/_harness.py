"""The machinery shared by the benchmarks in this directory (standard library only).

Every benchmark compares this repository ("ours") with asgiref 3.13.0 from PyPI ("original"),
each in a venv of its own under ``benchmarks/.venvs/`` (git-ignored), measured in the same run:
on the small shared VMs here only a ratio measured side by side means much. Here are the venvs
(`prepare_envs`, `check_env`); in-process cases (`Case`, `measure`: calibration, then rounds of
one worker process per implementation, alternating which goes first; `worker_main`: the
benchmark script run with ``--worker``, speaking JSON lines; `in_process_main`: a whole benchmark
of such cases); subprocesses read with bounded waits (`Child`), servers on 127.0.0.1, ``wrk``;
and the report (formatting, medians of per-round ratios, `head`, `finish`, which prints it and
writes ``benchmarks/results-<name>.md``, git-ignored). Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import gc
import hashlib
import http.client
import json
import math
import os
import platform
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
VENVS_DIR = BENCH_DIR / ".venvs"
HOST = "127.0.0.1"
ORIGINAL_VERSION = "3.13.0"
ORIGINAL_REQUIREMENT = f"asgiref=={ORIGINAL_VERSION}"
IMPLS = ("original", "ours")
#: In each venv: the identity of the interpreter that made it (another one means a rebuild).
META_FILE = ".bench-meta.json"
#: Prefix of every protocol line a worker prints on stdout.
LINE_PREFIX = "BENCH-JSON "
#: A measurement of n iterations is split into at most this many timed chunks (interleaved with
#: the chunks of the other cases); the time cap is checked between chunks.
CHUNKS = 25
#: Bounds on any iteration count: several chunks per measurement, and a ceiling for calibration.
MIN_ITERS, MAX_ITERS = 5, 50_000_000
#: Seconds a chunk may wait on its own (for a thread, say) before it fails by itself; the parent
#: allows this much on top of the measurement before it calls a case hung.
CHUNK_TIMEOUT = 60.0
Completed = subprocess.CompletedProcess[str]


class BenchError(Exception):
    """The run cannot go on: an environment cannot be built, a tool is missing..."""


def log(message: str) -> None:
    print(f"[{Path(sys.argv[0]).stem}] {message}", file=sys.stderr, flush=True)


def run(cmd: Sequence[str], cwd: Path, timeout: float = 900, **kw: Any) -> Completed:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)


def exited_within(proc: subprocess.Popen[Any], seconds: float) -> bool:
    """Whether `proc` exits by itself within `seconds` (it is killed otherwise)."""
    try:
        proc.wait(seconds)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)
        return False


def checked(proc: Completed, what: str) -> str:
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BenchError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


# ---- Virtual environments -------------------------------------------------------------------

#: Run inside a venv: installed versions, and where asgiref comes from, with a digest of its
#: sources computed as `repo_digest` computes this repository's.
_PROBE = """\
import hashlib, importlib.metadata as md, json, os, sys
out = {"prefix": sys.prefix, "python": sys.version}
out["versions"] = versions = {}
for name in DISTS:
    try:
        versions[name] = md.version(name)
    except md.PackageNotFoundError:
        versions[name] = None
try:
    import asgiref
    package = os.path.dirname(os.path.realpath(asgiref.__file__))
    digest = hashlib.sha256()
    for name in sorted(n for n in os.listdir(package) if n.endswith(".py")):
        with open(os.path.join(package, name), "rb") as source:
            digest.update(name.encode() + b"\\0" + source.read() + b"\\0")
    out.update(file=os.path.realpath(asgiref.__file__), digest=digest.hexdigest(),
        version=getattr(asgiref, "__version__", None),
        from_index=md.distribution("asgiref").read_text("direct_url.json") is None)
except Exception as exc:
    out["error"] = repr(exc)
print(json.dumps(out))
"""


@dataclass
class Env:
    """One implementation's venv, and what `probe` found in it."""

    impl: str
    venv: Path
    info: dict[str, Any]
    #: For ours: the digest of the copy of the tree that was installed (the tree may change since).
    source_digest: str = ""

    @property
    def python(self) -> Path:
        return self.venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def repo_digest(root: Path = REPO_ROOT) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in (root / "asgiref").iterdir() if p.suffix == ".py"):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def probe(venv: Env, dists: Sequence[str], **server: Any) -> dict[str, Any]:
    """What the venv's python sees: isolated (``-I``), or as a server runs (`server`: the `cwd`
    and `env` of one)."""
    script = _PROBE.replace("DISTS", repr(["asgiref", *dists]))
    cmd = [str(venv.python), *([] if server else ["-I"]), "-c", script]
    out = checked(run(cmd, server.get("cwd", venv.venv), 120, env=server.get("env")), "probe")
    info: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return info


def check_env(env: Env) -> None:
    """Raise BenchError unless `env.info` shows the asgiref meant for `env.impl`, imported from
    inside the venv: ours byte-identical to the ``asgiref/*.py`` copied to build it, the original
    3.13.0 from the index (and not ours)."""
    name, info = env.venv.name, env.info
    if "error" in info:
        raise BenchError(f"{name}: importing asgiref failed: {info['error']}")
    if not Path(info["file"]).is_relative_to(env.venv.resolve()):
        raise BenchError(f"{name}: asgiref is imported from outside the venv: {info['file']}")
    if env.impl == "ours" and info["digest"] != env.source_digest:
        raise BenchError(f"{name}: the installed asgiref is not this repository's ({info['file']})")
    original = info["version"] == ORIGINAL_VERSION and info["from_index"]
    if env.impl == "original" and (not original or info["digest"] == repo_digest()):
        raise BenchError(f"{name}: asgiref is not {ORIGINAL_REQUIREMENT} from PyPI")


def _ensure_venv(name: str, python: str, identity: str) -> tuple[Env, bool]:
    """The venv `name` made by `python` (rebuilt if broken, seeing system site packages or made
    by another interpreter), and whether it was just created."""
    env = Env(name.rpartition("-")[2], VENVS_DIR / name, {})
    with contextlib.suppress(OSError):
        cfg = (env.venv / "pyvenv.cfg").read_text().replace(" ", "").lower()
        if (env.venv / META_FILE).read_text() == identity and (
            "include-system-site-packages=false" in cfg
            and run([str(env.python), "-I", "-c", "print(1)"], env.venv, 60).returncode == 0
        ):
            return env, False
    if env.venv.exists():
        if env.venv.resolve().parent != VENVS_DIR.resolve():
            raise BenchError(f"refusing to delete unexpected path {env.venv}")
        shutil.rmtree(env.venv)
    VENVS_DIR.mkdir(parents=True, exist_ok=True)
    log(f"creating virtual environment {env.venv} with {python}")
    checked(run([python, "-m", "venv", str(env.venv)], BENCH_DIR, 300), "python -m venv")
    (env.venv / META_FILE).write_text(identity)
    return env, True


def pip(env: Env, *args: str) -> None:
    cmd = [str(env.python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args]
    checked(run(cmd, env.venv), f"pip install {' '.join(args)} in {env.venv.name}")


def _install_ours(env: Env, fresh: bool) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skip = {".git", ".venvs", "build", "dist", "__pycache__", ".mypy_cache", ".ruff_cache"}
        skip.add(".pytest_cache")
        return {n for n in names if n in skip or n.startswith(".venv") or n.endswith(".egg-info")}

    # From a scratch copy, so that the build writes nothing into the work tree; forced, since
    # the venv may hold an older build (or PyPI's asgiref, pulled in by a dependency).
    with tempfile.TemporaryDirectory(prefix="bench-src-") as tmp:
        shutil.copytree(REPO_ROOT, Path(tmp) / "src", ignore=ignore, symlinks=True)
        env.source_digest = repo_digest(Path(tmp) / "src")
        pip(env, "--force-reinstall", *([] if fresh else ["--no-deps"]), str(Path(tmp) / "src"))


def prepare_envs(
    python: str,
    prefix: str = "",
    extras: Sequence[str] = (),
    dists: Sequence[str] = (),
    self_test: bool = False,
) -> dict[str, Env]:
    """{"original": ..., "ours": ...}: the venvs ``<prefix>original`` and ``<prefix>ours`` made
    by `python`, each with the pinned `extras` (pip leaves what is already installed alone),
    checked; `info["versions"]` has the versions of the extras and of `dists`. Ours is
    reinstalled non-editable on every run, to measure the current tree. With `self_test`, ours
    is the original's venv (an A/A comparison)."""
    if not (REPO_ROOT / "pyproject.toml").exists():
        raise BenchError(f"{REPO_ROOT / 'pyproject.toml'} not found: cannot install ours")
    script = "import json,os,sys;print(json.dumps([os.path.realpath(sys.executable),sys.version]))"
    identity = checked(run([python, "-I", "-c", script], BENCH_DIR, 60), python).strip()
    names = [*(r.partition("==")[0].partition("[")[0] for r in extras), *dists]
    original, _ = _ensure_venv(f"{prefix}original", python, identity)
    pip(original, ORIGINAL_REQUIREMENT, *extras)
    envs = {"original": original, "ours": original}
    if not self_test:
        envs["ours"], fresh = _ensure_venv(f"{prefix}ours", python, identity)
        if extras:  # may pull PyPI's asgiref in as a dependency: replaced right below
            pip(envs["ours"], *extras)
        log(f"installing this repository ({REPO_ROOT}) into {envs['ours'].venv}")
        _install_ours(envs["ours"], fresh)
    for env in (original,) if self_test else (original, envs["ours"]):
        env.info = probe(env, names)
        check_env(env)
    for impl, env in envs.items():
        log(f"{impl}: asgiref {env.info['version']} from {env.info['file']}")
    return envs


# ---- Command line ---------------------------------------------------------------------------


def arg_parser(
    doc: str | None, rounds: tuple[int, int], quick_help: str, worker: bool = False
) -> argparse.ArgumentParser:
    """--rounds, --quick, --python; with `worker`, the internal --worker (JSON for worker_main)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0] if doc else None)
    parser.add_argument("--rounds", type=int, help=f"default {rounds[0]}, quick {rounds[1]}")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--python", default=sys.executable, help="makes both venvs (default: this)")
    if worker:
        parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.set_defaults(default_rounds=rounds)
    return parser


def rounds_of(args: argparse.Namespace, limit: int) -> int:
    default, quick = args.default_rounds
    rounds: int = args.rounds if args.rounds is not None else (quick if args.quick else default)
    if not 1 <= rounds <= limit:
        raise SystemExit(f"--rounds must be between 1 and {limit}")
    return rounds


# ---- In-process cases: the worker side ------------------------------------------------------

#: ``chunk(k)`` runs ``k`` iterations of a case in a fresh setup (event loop, thread, ...) and
#: returns the seconds spent in the timed loop alone. Before the timed loop it makes one untimed
#: call, so that lazily started threads and first-call costs are not timed.
ChunkFn = Callable[[int], float]
AsyncStep = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Case:
    name: str
    chunk: ChunkFn
    ops_per_iter: int = 1
    #: Ratio ours/original (per operation) to stay at or below.
    target: float | None = None
    #: No asgiref involved: reported from the ours worker only.
    floor: bool = False
    #: The workers that run it (the others report nothing for it).
    impls: tuple[str, ...] = IMPLS


def timed(k: int, step: Callable[[], object], warm: Callable[[], object] | None = None) -> float:
    """One untimed call of `warm` (default: `step`), then the seconds k calls of `step` take."""
    (warm or step)()
    start = time.perf_counter()
    for _ in range(k):
        step()
    return time.perf_counter() - start


def timed_async(k: int, step: AsyncStep, warm: AsyncStep | None = None) -> float:
    """As `timed`, awaiting each call, in a fresh event loop (``asyncio.run``)."""

    async def main() -> float:
        await (warm or step)()
        start = time.perf_counter()
        for _ in range(k):
            await step()
        return time.perf_counter() - start

    return asyncio.run(main())


def _emit(event: str, **fields: Any) -> None:
    sys.stdout.write(LINE_PREFIX + json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()[:300]


def _calibrate(case: Case, target: float, cap: float) -> int:
    """n such that n iterations take about `target` seconds."""
    started, n, elapsed = time.perf_counter(), 1, 0.0
    for _ in range(60):
        elapsed = case.chunk(n)
        if elapsed >= target / 4 or n >= MAX_ITERS or elapsed > cap:
            break
        if time.perf_counter() - started > max(4 * target, 2):
            break
        grow = target / 3 / max(elapsed, 1e-9)
        n = min(MAX_ITERS, max(n * 2, min(n * 100, int(n * grow))))
    return max(MIN_ITERS, min(MAX_ITERS, math.ceil(n * target / max(elapsed, 1e-9))))


@dataclass
class _Progress:
    """The measurement of one case in a worker: n iterations in chunks of `size`."""

    case: Case
    n: int
    size: int
    done: int = 0
    spent: float = 0.0
    error: str | None = None
    per_iter: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        ordered, scale = sorted(self.per_iter), 1e6 / self.case.ops_per_iter
        return {
            # The median of the per-chunk times: robust against the slow phases of a shared VM,
            # which come and go for 0.1-2 s at a time.
            "us_per_op": statistics.median(ordered) * scale,
            "q25_us_per_op": ordered[(len(ordered) - 1) // 4] * scale,
            "mean_us_per_op": self.spent / self.done * scale,
            "iters": self.n,
            "done": self.done,
            "chunks": len(ordered),
            "capped": self.done < self.n,
            "seconds": self.spent,
        }


def _measure(cases: list[Case], iters: dict[str, int], cap: float) -> None:
    """Measure every case once in at most CHUNKS chunks, the chunks of all cases taking turns:
    each case is sampled across the whole worker run, not in one slow phase of the machine."""
    progress = []
    for case in cases:
        n = max(1, int(iters[case.name]))
        progress.append(_Progress(case, n, max(1, -(-n // CHUNKS))))
    for p in progress:  # warm-up: one untimed chunk of every case
        _emit("start", case=p.case.name)
        try:
            p.case.chunk(p.size)
        except BaseException as exc:
            p.error = _error_text(exc)
    gc.collect()
    for _ in range(CHUNKS + 1):
        for p in [p for p in progress if p.error is None and p.done < p.n and p.spent <= cap]:
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
        _emit("result", case=p.case.name, **p.summary())


def worker_main(cases: Sequence[Case], spec_json: str) -> NoReturn:
    """The worker process: calibrate or measure the cases named by the parent's `spec_json`,
    report on stdout, and leave without the interpreter's shutdown."""
    spec = json.loads(spec_json)
    by_name = {case.name: case for case in cases}
    if spec["mode"] == "calibrate":
        for name in spec["cases"]:
            _emit("start", case=name)
            try:
                n = _calibrate(by_name[name], spec["target"], spec["cap"])
            except BaseException as exc:
                _emit("result", case=name, error=_error_text(exc))
            else:
                _emit("result", case=name, iters=n)
    else:
        _measure([by_name[name] for name in spec["cases"]], spec["iters"], spec["cap"])
    _emit("end")
    # A broken implementation may leave non-daemon threads behind: do not wait for them.
    os._exit(0)


# ---- In-process cases: the parent side ------------------------------------------------------


class Child:
    """A subprocess started in a scratch directory: a thread reads its stdout, so that every
    wait for a line is bounded; its stderr goes to a file (see `stderr_tail`)."""

    def __init__(self, cmd: Sequence[str]) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-child-")
        self._err_path = Path(self._tmp.name) / "stderr.txt"
        with self._err_path.open("w") as err:
            out = subprocess.PIPE
            self.proc = subprocess.Popen(cmd, cwd=self._tmp.name, stdout=out, stderr=err, text=True)
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for line in self.proc.stdout or ():
                self._lines.put(line)
        finally:
            self._lines.put(None)

    def line(self, deadline: float) -> str | None:
        """The next line (None once stdout is closed); raises queue.Empty at `deadline`."""
        return self._lines.get(timeout=max(0.1, deadline - time.monotonic()))

    def wait(self, seconds: float) -> bool:
        return exited_within(self.proc, seconds)

    def stderr_tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = self._err_path.read_text(errors="replace").strip().splitlines()
            return " / ".join(lines[-3:])[:300]
        return ""

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc.poll() is None:
            self.wait(0)
        self._reader.join(5)
        self._tmp.cleanup()


@dataclass
class Config:
    rounds: int
    target: float  # seconds per measurement of a case
    cap: float  # the most one may take
    self_test: bool = False


#: One round of in-process measurements: impl -> case name -> what its worker reported.
Round = dict[str, dict[str, dict[str, Any]]]


def _run_worker(script: Path, env: Env, spec: dict[str, Any], cfg: Config, results: Any) -> None:
    """One worker process over the cases of `spec`: fills `results` with what it reported, and
    an error for the case it hung in or died on."""
    # The longest silence allowed between two "start" lines (one calibration or one chunk).
    per_case = 2 * cfg.cap + max(4 * cfg.target, 2.0) + CHUNK_TIMEOUT
    current: str | None = None
    problem: str | None = None
    with Child([str(env.python), "-I", str(script), "--worker", json.dumps(spec)]) as child:
        deadline = time.monotonic() + 60
        for _ in range(100_000):
            try:
                line = child.line(deadline)
            except queue.Empty:
                problem = f"timed out after {per_case:.0f} s (hang?)"
                child.proc.kill()
                break
            if line is None:
                problem = "worker exited unexpectedly"
                break
            msg = json.loads(line.removeprefix(LINE_PREFIX)) if line.startswith(LINE_PREFIX) else {}
            if msg.get("event") == "start":
                current, deadline = msg["case"], time.monotonic() + per_case
            elif msg.get("event") == "result":
                results[msg.pop("case")], current = msg, None
            elif msg.get("event") == "end":
                break
        child.wait(30)
        if problem is not None:
            detail = f"{problem}; exit code {child.proc.returncode}; {child.stderr_tail()}"
            for name in [current] if current is not None else spec["cases"]:
                results.setdefault(name, {"error": detail})


def run_worker(
    script: Path, env: Env, mode: str, cases: Sequence[Case], iters: dict[str, int], cfg: Config
) -> dict[str, dict[str, Any]]:
    """Run workers until every case of `env.impl` has a result or an error: after a case hangs
    or kills its worker, a new worker goes on with the remaining cases."""
    names = [case.name for case in cases if env.impl in case.impls]
    results: dict[str, dict[str, Any]] = {}
    spec = {"mode": mode, "impl": env.impl, "target": cfg.target, "cap": cfg.cap, "iters": iters}
    for _ in range(len(names) + 1):
        pending = [name for name in names if name not in results]
        if not pending:
            break
        _run_worker(script, env, {**spec, "cases": pending}, cfg, results)
    return results


def measure(
    script: Path, cases: Sequence[Case], envs: dict[str, Env], cfg: Config
) -> tuple[dict[str, int], list[Round]]:
    """Calibrate the cases once, then measure them in `cfg.rounds` rounds of one worker (the
    script run with ``--worker``) per implementation, alternating which goes first."""
    log("calibrating iteration counts (round 1)")
    calibrated = [run_worker(script, envs[impl], "calibrate", cases, {}, cfg) for impl in IMPLS]
    iters: dict[str, int] = {}
    for case in cases:
        n_orig, n_ours = (found.get(case.name, {}).get("iters") for found in calibrated)
        # Both sides use the same count in every round: the larger (so that the faster side is
        # measured for about the target time), within 4x the original's (to bound its time).
        both = n_orig and n_ours and min(max(n_orig, n_ours), 4 * n_orig)
        iters[case.name] = int(both or n_orig or n_ours or 1)
    # Both workers run every case, floors included, so that they do the same work: the chunks
    # of all cases are interleaved, so a case's neighbours matter.
    rounds: list[Round] = []
    for index in range(cfg.rounds):
        rounds.append({})
        for impl in IMPLS if index % 2 else IMPLS[::-1]:
            started = time.monotonic()
            rounds[-1][impl] = results = run_worker(
                script, envs[impl], "measure", cases, iters, cfg
            )
            errors = sum("error" in r for r in results.values())
            took = time.monotonic() - started
            log(f"round {index + 1}/{cfg.rounds}: {impl} done in {took:.1f} s ({errors} errors)")
    return iters, rounds


def _result(rnd: Round, impl: str, name: str) -> dict[str, Any]:
    return rnd.get(impl, {}).get(name, {})


@dataclass
class InProcessRun:
    """Everything a report of in-process measurements needs."""

    cases: list[Case]
    envs: dict[str, Env]
    iters: dict[str, int]
    rounds: list[Round]
    cfg: Config
    elapsed: float

    @property
    def ours_label(self) -> str:
        return "ours (= original, A/A self-test)" if self.cfg.self_test else "ours"

    def values(self, impl: str, name: str) -> tuple[list[float], list[str], bool]:
        """Microseconds per operation of `impl` in case `name` over the rounds, the errors, and
        whether a measurement hit the time cap."""
        found = [_result(rnd, impl, name) for rnd in self.rounds]
        times = [float(result["us_per_op"]) for result in found if "us_per_op" in result]
        errors = [result["error"] for result in found if "error" in result]
        return times, errors, any(result.get("capped") for result in found)

    def ratios(self, num: tuple[str, str], den: tuple[str, str]) -> list[float]:
        """Per-round ratios of the times of (impl, case) `num` and (impl, case) `den`."""
        times = [[_result(rnd, *key).get("us_per_op") for key in (num, den)] for rnd in self.rounds]
        return [a / b for a, b in times if a is not None and b]

    def time_cell(self, impl: str, name: str) -> str:
        found, errors, _ = self.values(impl, name)
        if not found:
            return "ERROR: " + cell(errors[0][:120]) if errors else "n/a"
        text = fmt(statistics.median(found))
        if errors:
            text += f" (errors in {len(errors)}/{len(self.rounds)} rounds: {cell(errors[0][:80])})"
        return text

    def case_row(self, case: Case) -> str:
        """Both medians, the median per-round ratio ours/original, its range, the target."""
        name = case.name
        ratio, ratio_cell, range_cell = ratio_cells(self.ratios(("ours", name), ("original", name)))
        target = "(none)"
        if case.target is not None:
            met = None if ratio is None else ratio <= case.target
            target = f"<= {case.target:g} ({verdict(met)})"
        capped = [impl for impl in IMPLS if self.values(impl, name)[2]]
        note = f" (time cap hit: {', '.join(capped)})" if capped else ""
        return (
            f"| {name}{note} | {self.time_cell('original', name)} | {self.time_cell('ours', name)}"
            f" | {ratio_cell} | {range_cell} | {target} |"
        )

    def report(self, title: str, unit_note: str, extra: list[str]) -> str:
        """Header, the table of the cases that are not floors, `extra`, iteration counts."""
        cfg = self.cfg
        what = "A/A self-test: original vs original" if cfg.self_test else "ours vs asgiref 3.13.0"
        run = f"{cfg.rounds} rounds, ~{cfg.target:g} s per measurement, cap {cfg.cap:g} s"
        run += f", total {self.elapsed:.0f} s"
        lines = head(f"{title} ({what})", run, self.envs, ours=not cfg.self_test)
        lines += [
            f"- times are per operation{unit_note}, median over rounds; the ratio is the median"
            " of the per-round ratios ours/original (same round)",
            "",
            f"| case | original (median, µs) | {self.ours_label} (median, µs) | ratio ours/original"
            " (median of per-round ratios) | ratio range over rounds | target |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
            *(self.case_row(case) for case in self.cases if not case.floor),
            "",
            *extra,
            "Iteration counts (calibrated once, identical for both implementations): "
            + ", ".join(f"{name}: {n}" for name, n in self.iters.items()),
            "",
        ]
        return "\n".join(lines)


def in_process_main(
    argv: list[str] | None,
    doc: str | None,
    script: Path,
    name: str,
    cases: list[Case],
    seconds: tuple[float, float],
    report: Callable[[InProcessRun], str],
) -> int:
    """A whole benchmark of in-process cases (options --self-test and --only too). `seconds`:
    (per measurement, cap) of the default run; --quick uses a third of them."""
    parser = arg_parser(doc, (7, 3), "3 rounds, shorter measurements", worker=True)
    parser.add_argument("--self-test", action="store_true", help="A/A run: original against itself")
    parser.add_argument("--only", help="comma-separated substrings of the case names to run")
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(cases, args.worker)
    if args.only:
        wanted = [part.strip() for part in args.only.split(",") if part.strip()]
        cases = [c for c in cases if c.floor or any(part in c.name for part in wanted)]
    scale = 1 / 3 if args.quick else 1.0
    cfg = Config(rounds_of(args, 100), seconds[0] * scale, seconds[1] * scale, args.self_test)
    started = time.monotonic()
    try:
        envs = prepare_envs(args.python, self_test=args.self_test)
        iters, rounds = measure(script, cases, envs, cfg)
    except BenchError as exc:
        log(f"error: {exc}")
        return 2
    result = InProcessRun(cases, envs, iters, rounds, cfg, time.monotonic() - started)
    raw = {"iters": iters, "rounds": rounds}
    finish(f"{name}-selftest" if cfg.self_test else name, report(result), raw, started)
    return 0


# ---- Servers and wrk (127.0.0.1 only) -------------------------------------------------------


def http_get(port: int, path: str, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, up to 1 MiB of body) of one GET."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        headers = {key.lower(): value for key, value in response.getheaders()}
        return response.status, headers, response.read(1 << 20)
    finally:
        connection.close()


def proc_status(pid: int) -> dict[str, int]:
    """The numbers in /proc/PID/status (VmRSS and VmHWM in KiB, Threads...); {} if gone."""
    with contextlib.suppress(OSError):
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        pairs = [(key, value.split()) for key, _, value in (line.partition(":") for line in lines)]
        return {key: int(words[0]) for key, words in pairs if words and words[0].isdigit()}
    return {}


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")
        return ""

    def stop(self, sig: int, grace: float) -> bool:
        """Send `sig`; whether the server exits within `grace` seconds (it is killed if not)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return exited_within(self.proc, grace)


def start_server(
    name: str, argv: Callable[[int], list[str]], cwd: Path, log_path: Path, **popen: Any
) -> Server:
    """Start `argv(port)` on a free port of 127.0.0.1; return once the port accepts
    connections (within 45 s)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    with log_path.open("wb") as out:
        popen.update(stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        proc = subprocess.Popen(argv(port), cwd=cwd, **popen)
    server, deadline = Server(name, proc, port, log_path), time.monotonic() + 45
    for _ in range(2250):
        if proc.poll() is not None or time.monotonic() > deadline:
            break
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return server
        time.sleep(0.02)
    server.stop(signal.SIGKILL, 10)
    tail = " / ".join(server.log_text().strip().splitlines()[-4:])[:400]
    raise BenchError(f"{name} did not start (exit code {proc.returncode}): {tail}")


#: wrk calls `done` once at the end: it prints the run's exact numbers as one JSON line.
_WRK_SCRIPT = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d,'
    .. ' "write": %d, "timeout": %d, "p50_us": %.1f, "p99_us": %.1f, "max_us": %.1f}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


class Wrk:
    """The load generator ``wrk`` (a Debian package: installed with apt-get, as root, when it is
    not on PATH). Its numbers come from a Lua hook, written into `directory`."""

    def __init__(self, directory: Path) -> None:
        tail = ""
        if not shutil.which("wrk") and hasattr(os, "geteuid") and os.geteuid() == 0:
            log("wrk is not on PATH: apt-get install -y wrk")
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for cmd in ("install -y wrk", "update", "install -y wrk"):
                if not shutil.which("wrk"):
                    tail = run(["apt-get", *cmd.split()], BENCH_DIR, 600, env=env).stderr[-300:]
        found = shutil.which("wrk")
        if found is None:
            raise BenchError(f"wrk is needed: apt-get install wrk (as root) failed: {tail}")
        self.path, self.script = found, directory / "report.lua"
        self.script.write_text(_WRK_SCRIPT)
        proc = run([found, "--version"], directory, 30)
        self.version = (proc.stdout + proc.stderr + "wrk").split(" Copyright")[0].strip()

    def load(
        self, server: Server, path: str, seconds: int, connections: int, warmup: int = 0
    ) -> dict[str, Any]:
        """``wrk -t1 -cN -dS --timeout 5s --latency`` on `server` (after a `warmup` s untimed
        run), with its thread count after it; an "error" if wrk failed or the server died."""
        try:
            if warmup:
                self._run(server.port, path, warmup, connections)
            result = self._run(server.port, path, seconds, connections)
        except (BenchError, OSError, subprocess.SubprocessError) as exc:
            return {"error": str(exc)[:300]}
        result["threads"] = proc_status(server.proc.pid).get("Threads")
        if server.proc.poll() is not None:
            result["error"] = f"the server died: {server.log_text()[-300:]!r}"
        return result

    def _run(self, port: int, path: str, seconds: int, connections: int) -> dict[str, Any]:
        cmd = [self.path, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
        cmd += ["--latency", "-s", str(self.script), f"http://{HOST}:{port}{path}"]
        proc = run(cmd, BENCH_DIR, seconds + 60)
        found = [line for line in proc.stdout.splitlines() if line.startswith("WRK-JSON ")]
        if proc.returncode != 0 or not found:
            raise BenchError(f"wrk failed: {(proc.stdout + proc.stderr)[-400:]}")
        raw: dict[str, Any] = json.loads(found[-1].removeprefix("WRK-JSON "))
        raw.update(seconds=raw["duration_us"] / 1e6, p99_ms=raw["p99_us"] / 1e3)
        raw["ok_rps"] = (raw["requests"] - raw["non2xx"]) / max(raw["seconds"], 1e-9)
        raw["socket_errors"] = sum(raw[key] for key in ("connect", "read", "write", "timeout"))
        return raw


def wrk_summary(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Medians of successful req/s and p99, totals of non-2xx and socket errors, over the runs
    of `Wrk.load` that did not fail (None if all did); "failed" lists the failures."""
    good = [run for run in runs if "error" not in run]
    if not good:
        return None
    requests, non2xx = sum(run["requests"] for run in good), sum(run["non2xx"] for run in good)
    return {
        "ok_rps": statistics.median(run["ok_rps"] for run in good),
        "p99_ms": statistics.median(run["p99_ms"] for run in good),
        "non2xx": non2xx,
        "share": non2xx / requests if requests else 0.0,
        "socket_errors": sum(run["socket_errors"] for run in good),
        "failed": [run["error"] for run in runs if "error" in run],
    }


def wrk_ratios(num: list[dict[str, Any]], den: list[dict[str, Any]]) -> list[float]:
    """Per-round ratios of successful req/s (rounds where both runs succeeded)."""
    pairs = zip(num, den, strict=False)
    return [a["ok_rps"] / b["ok_rps"] for a, b in pairs if "error" not in a | b and b["ok_rps"] > 0]


# ---- Report ---------------------------------------------------------------------------------


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def cell(text: str) -> str:
    """`text` made safe for a markdown table cell."""
    return text.replace("|", "/").replace("\n", " ")


def ratio_cells(ratios: list[float], flag_below: float = 0.0) -> tuple[float | None, str, str]:
    """(median, its cell, the range cell) of ratios; a median under `flag_below` is **slower**."""
    if not ratios:
        return None, "n/a", ""
    ratio = statistics.median(ratios)
    flag = " **slower**" if ratio < flag_below else ""
    return ratio, f"{ratio:.2f}{flag}", f"{min(ratios):.2f} .. {max(ratios):.2f}"


def verdict(met: bool | None) -> str:
    return "not measured" if met is None else "met" if met else "MISSED"


def head(title: str, run_text: str, envs: dict[str, Env], *, ours: bool = True) -> list[str]:
    """The title and first lines of a report: when, on what, and which code was measured."""
    now = datetime.datetime.now().isoformat(timespec="seconds")
    python = str(envs["original"].info.get("python", "?")).split()[0]
    lines = [f"# {title}", "", f"- run: {now}, {run_text}"]
    lines.append(f"- machine: {platform.platform()}, {os.cpu_count()} CPUs; Python {python}")
    if ours:
        # The commit is read from .git: no git command, which could take the index's lock.
        commit = "?"
        with contextlib.suppress(OSError):
            ref = (REPO_ROOT / ".git" / "HEAD").read_text().strip().removeprefix("ref: ")
            path = REPO_ROOT / ".git" / ref
            commit = (path.read_text().strip() if path.exists() else ref)[:10]
        digest = envs["ours"].info.get("digest", "?")[:12]
        lines.append(f"- ours: {REPO_ROOT} at commit {commit}; asgiref/*.py sha256 {digest}")
    return lines


def finish(name: str, text: str, raw: object, started: float) -> None:
    """Print the report and write it to ``results-<name>.md``; the raw data go to
    ``.venvs/last-run-<name>.json`` (both git-ignored), for digging into a result."""
    out = BENCH_DIR / f"results-{name}.md"
    out.write_text(text)
    VENVS_DIR.mkdir(parents=True, exist_ok=True)
    as_json = json.dumps(raw, indent=1, default=lambda o: getattr(o, "__dict__", str(o)))
    (VENVS_DIR / f"last-run-{name}.json").write_text(as_json)
    print(text)
    log(f"written to {out}; total {time.monotonic() - started:.0f} s")
