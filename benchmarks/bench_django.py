#!/usr/bin/env python3
"""Benchmark a Django project under uvicorn: this repository against asgiref 3.13.0.

Run from anywhere with one command::

    python3 benchmarks/bench_django.py [--rounds N] [--quick] [--seconds S] [--http PARSER]
                                       [--python PATH]

The project is the integration tests' ``intsite`` (``tests/integration/intsite``: Django with
Channels' ``ProtocolTypeRouter`` in front, an async-only middleware wrapping a sync-only one,
SQLite). Three views are loaded, one after another:

- ``/sync/``: a sync hello-world view (Django runs it through ``sync_to_async``);
- ``/async/``: an async hello-world view;
- ``/orm/``: an async view that counts rows through ``sync_to_async(Item.objects.count)``.

The script

1. creates (or reuses) two virtual environments in ``benchmarks/.venvs/``: ``django-original``
   (``asgiref==3.13.0`` from PyPI) and ``django-ours`` (this repository, reinstalled
   non-editable from a scratch copy on every run), each with the same pinned Django, Channels and
   ``uvicorn[standard]``; it checks that the ``asgiref`` the server imports is the one meant
   (ours: byte-identical to this repository's ``asgiref/*.py``; the original: version 3.13.0
   from the package index, not ours);
2. migrates one pristine SQLite database per venv, and gives every server a fresh copy of it;
3. per round and HTTP parser (``--http h11`` and ``--http httptools``), starts one uvicorn server
   per implementation (both stay up for the round), checks one answer of every view, then for
   each view runs ``wrk -t1 -c50 --latency`` (a short warm-up, then the timed run) against each
   implementation, which one goes first alternating by round and view;
4. prints per-view medians of successful req/s (requests minus non-2xx, over the duration) and
   p99 latency, the median of the per-round ratios ours/original with their range, and the
   targets (sync view >= 1.2x, the others >= 1.0x); writes them to
   ``benchmarks/results-django.md`` and the raw data to ``benchmarks/.venvs/last-run-django.json``.

wrk's numbers are taken from a small Lua ``done()`` hook that prints them as JSON (exact
counts, p99 in microseconds). ``wrk`` itself is a Debian package: ``bench_wsgi.py``'s helper
installs it with apt-get if it is missing. Only 127.0.0.1 is contacted. Every loop is bounded in
count and time; every server is stopped (SIGTERM, then kill) at the end of its round.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import http.client
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
INTEGRATION_DIR = BENCH_DIR.parent / "tests" / "integration"
for _directory in (BENCH_DIR, INTEGRATION_DIR):
    if str(_directory) not in sys.path:
        sys.path.insert(0, str(_directory))

import stacks  # noqa: E402  (tests/integration/stacks.py: start, wait for and stop servers)
from bench_sync import (  # noqa: E402
    ORIGINAL_REQUIREMENT,
    ORIGINAL_VERSION,
    REPO_ROOT,
    VENVS_DIR,
    BenchError,
    _base_identity,
    _ensure_venv,
    _git_description,
    _install_ours,
    _pip,
    _venv_python,
    _verify,
)
from bench_wsgi import _cell, _ensure_wrk, _fmt, _ratio_cells, _verdict, _wrk_version  # noqa: E402

RESULTS_FILE = BENCH_DIR / "results-django.md"
#: Raw data of the last run (git-ignored, for digging into a result).
RAW_FILE = VENVS_DIR / "last-run-django.json"

#: What both venvs get besides their asgiref (same versions on both sides). Django 5.2 is the
#: newest series that runs on Python 3.10 and 3.11 (6.x needs 3.12).
REQUIREMENTS = ("Django==5.2.19", "channels==4.3.2", "uvicorn[standard]==0.54.0")
#: Distributions whose versions the report shows (and which must be installed).
DISTRIBUTIONS = ("asgiref", "Django", "channels", "uvicorn", "httptools", "h11", "uvloop")

IMPLS = ("ours", "original")
VENV_NAMES = {"ours": "django-ours", "original": "django-original"}
PARSERS = ("h11", "httptools")
#: (path, what the body of a good answer contains, minimum req/s ratio ours/original).
VIEWS = (
    ("/sync/", b"hello sync", 1.2),
    ("/async/", b"hello async", 1.0),
    ("/orm/", b'"count": 0', 1.0),
)
CONNECTIONS = 50
#: Seconds per timed wrk run, warm-up seconds before it, and rounds: (default, --quick).
SECONDS = (4, 2)
WARMUP_SECONDS = (1, 1)
ROUNDS = (4, 2)
#: wrk's per-request timeout (a request slower than this counts as a timeout error).
WRK_TIMEOUT = "5s"
#: Seconds a server gets to exit after SIGTERM before it is killed (and the fact reported).
SHUTDOWN_GRACE = 3.0

#: The settings module the servers use: the project's own, unchanged. It hard-codes
#: DEBUG = False (no query log growing per request) and allows 127.0.0.1.
SETTINGS_MODULE = "intsite.settings"

#: wrk calls `done` once at the end; it prints the run's numbers as one JSON line.
WRK_SCRIPT = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d,'
    .. ' "write": %d, "timeout": %d, "p50_us": %.1f, "p99_us": %.1f, "max_us": %.1f}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""
WRK_LINE = "WRK-JSON "


def _log(message: str) -> None:
    print(f"[bench_django] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Virtual environments, and which asgiref each one really imports
# --------------------------------------------------------------------------------------------

#: Run inside a venv, with the servers' environment: what the server process will import.
_PROBE = """\
import hashlib, importlib.metadata as md, json, os, sys
import asgiref, django, channels, uvicorn, httptools, uvloop
versions = {}
for name in NAMES:
    try:
        versions[name] = md.version(name)
    except md.PackageNotFoundError:
        versions[name] = None
package = os.path.dirname(os.path.realpath(asgiref.__file__))
digest = hashlib.sha256()
for name in sorted(n for n in os.listdir(package) if n.endswith(".py")):
    digest.update(name.encode() + b"\\0")
    with open(os.path.join(package, name), "rb") as source:
        digest.update(source.read() + b"\\0")
direct_url = md.distribution("asgiref").read_text("direct_url.json")
print(json.dumps({"file": os.path.realpath(asgiref.__file__), "versions": versions,
    "digest": digest.hexdigest(), "from_index": direct_url is None,
    "settings": os.environ.get("DJANGO_SETTINGS_MODULE")}))
"""


def _repo_digest() -> str:
    """The same digest as `_PROBE`'s, over this repository's asgiref/*.py."""
    package = REPO_ROOT / "asgiref"
    digest = hashlib.sha256()
    for path in sorted(p for p in package.iterdir() if p.suffix == ".py"):
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def server_env(db: Path) -> dict[str, str]:
    """The environment of a server (and of migrate and the probe): this one without anything
    that could change which packages Python finds, plus the project on the path."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTHON") and key not in ("VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        PYTHONPATH=str(INTEGRATION_DIR),
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
        INTSITE_DB=str(db),
    )
    return env


def _in_venv(
    venv: Path, args: Sequence[str], db: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run the venv's python with `args` as a server would run (cwd tests/integration)."""
    return subprocess.run(
        [str(_venv_python(venv)), *args],
        cwd=INTEGRATION_DIR,
        env=server_env(db),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _probe(venv: Path, db: Path) -> dict[str, Any]:
    script = _PROBE.replace("NAMES", repr(list(DISTRIBUTIONS)))
    proc = _in_venv(venv, ["-c", script], db, timeout=120)
    if proc.returncode != 0:
        return {"error": (proc.stdout + proc.stderr).strip()[-600:]}
    info: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return info


def _pins_missing(info: dict[str, Any]) -> bool:
    if "error" in info:
        return True
    versions = info["versions"]
    for requirement in REQUIREMENTS:
        name, _, version = requirement.partition("==")
        if versions.get(name.split("[")[0]) != version:
            return True
    return not all(versions.get(name) for name in DISTRIBUTIONS)


@dataclass
class Env:
    impl: str
    venv: Path
    info: dict[str, Any]
    pristine_db: Path | None = None


def _check_identity(env: Env, repo_digest: str) -> None:
    info = env.info
    if "error" in info:
        raise BenchError(f"{env.venv.name}: the server's imports fail: {info['error']}")
    if not Path(info["file"]).is_relative_to(env.venv.resolve()):
        raise BenchError(f"{env.venv.name}: asgiref is imported from {info['file']}")
    if _pins_missing(info):
        raise BenchError(f"{env.venv.name}: wrong packages: {info['versions']}")
    if env.impl == "ours":
        if info["digest"] != repo_digest:
            raise BenchError(
                f"{env.venv.name}: the installed asgiref is not this repository's"
                f" ({info['file']}; pip may have replaced it)"
            )
    else:
        if info["versions"]["asgiref"] != ORIGINAL_VERSION or not info["from_index"]:
            raise BenchError(f"{env.venv.name}: asgiref is not {ORIGINAL_REQUIREMENT} from PyPI")
        if info["digest"] == repo_digest:
            raise BenchError(f"{env.venv.name}: the 'original' asgiref is this repository's")


def prepare(python: str, tmp: Path) -> dict[str, Env]:
    """Both venvs, installed, checked, and each with a migrated pristine database."""
    identity = _base_identity(python)
    probe_db = tmp / "probe.sqlite3"
    original, _ = _ensure_venv(VENV_NAMES["original"], python, identity)
    info = _probe(original, probe_db)
    if _pins_missing(info) or info["versions"].get("asgiref") != ORIGINAL_VERSION:
        _log(f"installing {ORIGINAL_REQUIREMENT} and {', '.join(REQUIREMENTS)} into {original}")
        _pip(original, ORIGINAL_REQUIREMENT, *REQUIREMENTS)
    ours, _ = _ensure_venv(VENV_NAMES["ours"], python, identity)
    if _pins_missing(_probe(ours, probe_db)):
        # This pulls asgiref from PyPI as Django's dependency; it is replaced right below.
        _log(f"installing {', '.join(REQUIREMENTS)} into {ours}")
        _pip(ours, *REQUIREMENTS)
    _log(f"installing this repository ({REPO_ROOT}) into {ours}")
    _install_ours(ours, fresh=False)  # --force-reinstall --no-deps, from a scratch copy
    repo_digest = _repo_digest()
    envs: dict[str, Env] = {}
    for impl, venv in (("ours", ours), ("original", original)):
        _verify(venv)  # bench_sync's check: imported from inside the venv, a real venv
        env = Env(impl, venv, _probe(venv, probe_db))
        _check_identity(env, repo_digest)
        env.pristine_db = tmp / f"pristine-{impl}.sqlite3"
        proc = _in_venv(
            venv, ["-m", "django", "migrate", "--noinput", "-v0"], env.pristine_db, timeout=300
        )
        if proc.returncode != 0 or not env.pristine_db.exists():
            raise BenchError(f"migrate in {venv.name} failed: {(proc.stdout + proc.stderr)[-600:]}")
        envs[impl] = env
    return envs


# --------------------------------------------------------------------------------------------
# Servers and wrk
# --------------------------------------------------------------------------------------------


def _uvicorn_argv(env: Env, parser: str) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        # uvicorn's defaults (keep-alive, loop "auto" = uvloop, lifespan "auto"), the parser
        # named explicitly, and no access log: a line per request would measure the log pipe.
        return [
            str(_venv_python(env.venv)),
            "-m",
            "uvicorn",
            "intsite.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--http",
            parser,
            "--no-access-log",
            "--log-level",
            "warning",
        ]

    return argv


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read(1 << 20)
    finally:
        connection.close()


def check_views(port: int) -> str:
    """'' if every view answers as it should once, else what is wrong."""
    for path, marker, _ in VIEWS:
        try:
            status, headers, body = _get(port, path)
        except OSError as exc:
            return f"GET {path}: {exc!r}"
        if status != 200 or marker not in body:
            return f"GET {path}: {status} {body[:120]!r}"
        lowered = {key.lower(): value for key, value in headers.items()}
        if lowered.get("x-async-middleware") != "ran" or "x-sync-middleware" not in lowered:
            return f"GET {path}: the middleware headers are missing: {headers}"
    return ""


def run_wrk(wrk: str, script: Path, port: int, path: str, seconds: int) -> dict[str, Any]:
    cmd = [
        wrk,
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        WRK_TIMEOUT,
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{path}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    found = [line for line in proc.stdout.splitlines() if line.startswith(WRK_LINE)]
    if proc.returncode != 0 or not found:
        raise BenchError(
            f"wrk failed (exit {proc.returncode}): {(proc.stdout + proc.stderr)[-400:]}"
        )
    raw: dict[str, Any] = json.loads(found[-1][len(WRK_LINE) :])
    duration = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "seconds": duration,
        "non2xx": raw["non2xx"],
        "ok_rps": (raw["requests"] - raw["non2xx"]) / duration if duration > 0 else 0.0,
        "p50_ms": raw["p50_us"] / 1e3,
        "p99_ms": raw["p99_us"] / 1e3,
        "max_ms": raw["max_us"] / 1e3,
        "socket_errors": raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        "socket_errors_detail": {key: raw[key] for key in ("connect", "read", "write", "timeout")},
    }


def _threads(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


@dataclass
class Plan:
    rounds: int
    seconds: int
    warmup: int
    parsers: tuple[str, ...]


@dataclass
class Results:
    #: (parser, path, impl) -> one result per round (or {"error": ...}).
    runs: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    #: Anything odd: server logs with tracebacks, servers that died, failed checks.
    anomalies: list[str] = field(default_factory=list)
    #: impl -> servers that did not exit on SIGTERM within SHUTDOWN_GRACE seconds.
    hung_shutdowns: dict[str, int] = field(default_factory=lambda: dict.fromkeys(IMPLS, 0))


def _start(env: Env, parser: str, index: int, tmp: Path) -> stacks.Server:
    assert env.pristine_db is not None
    directory = tmp / f"{env.impl}-{parser}-{index}"
    directory.mkdir()
    db = stacks.copy_database(env.pristine_db, directory)
    return stacks.start_server(
        f"{env.impl} ({parser}, round {index + 1})",
        _uvicorn_argv(env, parser),
        env=server_env(db),
        log=directory / "server.log",
    )


def _stop(impl: str, server: stacks.Server, results: Results) -> None:
    """SIGTERM, and kill if the server has not exited within SHUTDOWN_GRACE seconds: uvicorn
    exits at once unless a request is still in flight, long after wrk has gone, which is worth
    reporting (and not worth waiting for)."""
    process = server.process
    threads = _threads(process.pid)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(SHUTDOWN_GRACE)
    except subprocess.TimeoutExpired:
        results.anomalies.append(
            f"{server.name}: still running {SHUTDOWN_GRACE:g} s after SIGTERM ({threads} threads"
            " before it): requests still in flight after wrk had gone; killed"
        )
        results.hung_shutdowns[impl] += 1
        process.kill()
        process.wait(30)
    text = server.log_text()
    found = [marker for marker in stacks.FORBIDDEN_IN_LOG if marker in text]
    if found:
        results.anomalies.append(f"{server.name}: the log has {found}: {text[-600:]!r}")


def _measure(
    server: stacks.Server, path: str, wrk: str, script: Path, plan: Plan
) -> dict[str, Any]:
    try:
        run_wrk(wrk, script, server.port, path, plan.warmup)  # warm-up, not recorded
        result = run_wrk(wrk, script, server.port, path, plan.seconds)
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        return {"error": str(exc)[:300]}
    result["threads"] = _threads(server.process.pid)
    if server.process.poll() is not None:
        result["error"] = f"the server died: {server.log_text()[-300:]!r}"
    return result


def run_rounds(envs: dict[str, Env], wrk: str, plan: Plan, tmp: Path) -> Results:
    results = Results()
    script = tmp / "report.lua"
    script.write_text(WRK_SCRIPT)
    for index in range(plan.rounds):
        started = time.monotonic()
        for parser in plan.parsers:
            servers: dict[str, stacks.Server] = {}
            try:
                for impl in IMPLS:
                    servers[impl] = _start(envs[impl], parser, index, tmp)
                    problem = check_views(servers[impl].port)
                    if problem:
                        raise BenchError(f"{impl} ({parser}): {problem}")
                for view_index, (path, _, _) in enumerate(VIEWS):
                    # Which implementation goes first alternates by round and view.
                    flip = (index + view_index) % 2 == 1
                    for impl in reversed(IMPLS) if flip else IMPLS:
                        result = _measure(servers[impl], path, wrk, script, plan)
                        results.runs.setdefault((parser, path, impl), []).append(result)
            except (BenchError, RuntimeError, OSError) as exc:
                results.anomalies.append(f"round {index + 1}, {parser}: {exc}"[:600])
                for path, _, _ in VIEWS:
                    for impl in IMPLS:
                        runs = results.runs.setdefault((parser, path, impl), [])
                        if len(runs) <= index:
                            runs.append({"error": str(exc)[:300]})
            finally:
                for impl, server in servers.items():
                    _stop(impl, server, results)
        _log(f"round {index + 1}/{plan.rounds} done in {time.monotonic() - started:.0f} s")
    return results


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _good(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [run for run in runs if "error" not in run]


def _ratios(results: Results, parser: str, path: str) -> list[float]:
    """Per-round successful req/s ratios ours/original (rounds where both were measured)."""
    ours = results.runs.get((parser, path, "ours"), [])
    original = results.runs.get((parser, path, "original"), [])
    return [
        a["ok_rps"] / b["ok_rps"]
        for a, b in zip(ours, original, strict=False)
        if "error" not in a and "error" not in b and b["ok_rps"] > 0
    ]


def _impl_cells(runs: list[dict[str, Any]]) -> tuple[str, str, str]:
    """(req/s median, p99 median, failures) cells of one implementation's runs."""
    good = _good(runs)
    errors = len(runs) - len(good)
    if not good:
        return "n/a", "n/a", f"{errors} runs failed" if errors else "n/a"
    rps = _fmt(statistics.median(run["ok_rps"] for run in good))
    p99 = _fmt(statistics.median(run["p99_ms"] for run in good))
    non2xx = sum(run["non2xx"] for run in good)
    socket_errors = sum(run["socket_errors"] for run in good)
    failures = f"{non2xx} / {socket_errors}"
    if errors:
        failures += f" ({errors} runs failed)"
    return rps, p99, failures


def _versions_line(env: Env) -> str:
    versions = env.info["versions"]
    listed = ", ".join(f"{name} {versions.get(name)}" for name in DISTRIBUTIONS)
    return f"- {env.impl} (`{env.venv.name}`): {listed}; asgiref from `{env.info['file']}`"


def build_report(
    envs: dict[str, Env], results: Results, plan: Plan, wrk: str, elapsed: float
) -> tuple[str, bool]:
    """The markdown report, and whether every target was met."""
    now = datetime.datetime.now().isoformat(timespec="seconds")
    lines = [
        "# Django under uvicorn: ours vs asgiref 3.13.0",
        "",
        f"- run: {now}, {plan.rounds} rounds, total {elapsed:.0f} s",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs;"
        f" Python {platform.python_version()} (venvs from {sys.executable})",
        f"- ours: {REPO_ROOT} at {_git_description()}",
        *(_versions_line(envs[impl]) for impl in IMPLS),
        f"- load: `wrk -t1 -c{CONNECTIONS} -d{plan.seconds}s --timeout {WRK_TIMEOUT} --latency`"
        f" per view and implementation after a {plan.warmup} s warm-up with the same command;"
        f" {_wrk_version(wrk)}",
        "- servers: `python -m uvicorn intsite.asgi:application --http PARSER --no-access-log"
        " --log-level warning` (otherwise uvicorn's defaults: keep-alive on, loop auto = uvloop);"
        f" settings `{SETTINGS_MODULE}` (DEBUG = False, SQLite, CONN_MAX_AGE = 0), a fresh copy of"
        " the migrated database per server; one server per implementation, parser and round",
        "- req/s = successful requests (all minus non-2xx) / duration, median over rounds; p99 is"
        " the median over rounds; non-2xx and socket errors are totals over rounds; the ratio is"
        " the median of per-round ratios ours/original (> 1: ours faster)",
        "",
        "| parser | view | original req/s | ours req/s | ratio ours/original | range"
        " | original p99 ms | ours p99 ms | non-2xx / socket errors, original | ours | target |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    all_met = True
    for parser in plan.parsers:
        for path, _, target in VIEWS:
            ours = _impl_cells(results.runs.get((parser, path, "ours"), []))
            original = _impl_cells(results.runs.get((parser, path, "original"), []))
            ratios = _ratios(results, parser, path)
            ratio_cell, range_cell = _ratio_cells(ratios)
            verdict = _verdict(statistics.median(ratios) if ratios else None, target)
            all_met = all_met and verdict == "met"
            lines.append(
                f"| {parser} | `{path}` | {original[0]} | {ours[0]} | {ratio_cell} | {range_cell}"
                f" | {original[1]} | {ours[1]} | {original[2]} | {ours[2]}"
                f" | >= {target:g} ({verdict}) |"
            )
    lines += [
        "",
        "Targets (issue): no view slower than the original (ratio >= 1.0), the sync view at least"
        " 1.2x; judged on the printed two-decimal median ratio:"
        f" **{'all met' if all_met else 'MISSED'}**.",
        "",
    ]
    threads = []
    for impl in IMPLS:
        counts = [
            run["threads"]
            for (_, _, name), runs in results.runs.items()
            if name == impl
            for run in _good(runs)
            if run.get("threads")
        ]
        if counts:
            threads.append(f"{impl} {min(counts)} .. {max(counts)}")
    if threads:
        lines += [f"Server threads right after a timed run: {', '.join(threads)}.", ""]
    servers = plan.rounds * len(plan.parsers)
    lines += [
        f"Servers still running {SHUTDOWN_GRACE:g} s after SIGTERM (requests left in flight"
        " when wrk closed its connections): "
        + ", ".join(f"{impl} {results.hung_shutdowns[impl]} of {servers}" for impl in IMPLS)
        + ".",
        "",
    ]
    if results.anomalies:
        lines += ["Anomalies:", ""]
        lines += [f"- {_cell(text)}" for text in results.anomalies]
        lines.append("")
    return "\n".join(lines), all_met


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 4, quick 2)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter wrk runs")
    parser.add_argument(
        "--seconds", type=int, default=None, help="seconds per timed wrk run (default 4, quick 2)"
    )
    parser.add_argument(
        "--http",
        choices=["both", *PARSERS],
        default="both",
        help="uvicorn's HTTP parser(s) to measure (default: both)",
    )
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter for both venvs (default: this one)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    quick = 1 if args.quick else 0
    plan = Plan(
        rounds=args.rounds if args.rounds is not None else ROUNDS[quick],
        seconds=args.seconds if args.seconds is not None else SECONDS[quick],
        warmup=WARMUP_SECONDS[quick],
        parsers=PARSERS if args.http == "both" else (args.http,),
    )
    if not 1 <= plan.rounds <= 50 or not 1 <= plan.seconds <= 120:
        raise SystemExit("--rounds must be in 1..50 and --seconds in 1..120")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-django-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            wrk = _ensure_wrk()
            envs = prepare(args.python, tmp)
            for env in envs.values():
                _log(
                    f"{env.impl}: asgiref {env.info['versions']['asgiref']} from"
                    f" {env.info['file']}, Django {env.info['versions']['Django']}"
                )
            results = run_rounds(envs, wrk, plan, tmp)
        except BenchError as exc:
            _log(f"error: {exc}")
            return 2
    raw = {
        "plan": vars(plan),
        "envs": {impl: {"venv": str(env.venv), **env.info} for impl, env in envs.items()},
        "runs": {"|".join(key): runs for key, runs in results.runs.items()},
        "anomalies": results.anomalies,
        "hung_shutdowns": results.hung_shutdowns,
    }
    RAW_FILE.write_text(json.dumps(raw, indent=1))
    text, _ = build_report(envs, results, plan, wrk, time.monotonic() - started)
    RESULTS_FILE.write_text(text)
    print(text)
    _log(f"written to {RESULTS_FILE}; total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
