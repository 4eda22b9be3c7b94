#!/usr/bin/env python3
"""Benchmark a Django project under uvicorn: this repository against asgiref 3.13.0.

Run from anywhere (standard library only; PyPI is needed once, for the venvs)::

    python3 benchmarks/bench_django.py [--rounds N] [--quick] [--seconds S] [--http PARSER]
                                       [--python PATH]

The project is ``tests/integration/intsite``, unchanged (Channels in front of Django, an async
middleware around a sync one, SQLite): every request crosses the bridge several times. Views:
``/sync/``, ``/async/`` (hello world) and ``/orm/`` (``sync_to_async(Item.objects.count)``).
Venvs: ``benchmarks/.venvs/django-original`` and ``django-ours``, with the same Django, Channels
and uvicorn. Per round (4; 2 with ``--quick``) and parser (``--http``: h11, httptools, both), one
uvicorn server per implementation, each on a fresh copy of a migrated database; every view is
checked, then loaded with ``wrk -t1 -c50 --latency`` per implementation (1 s warm-up, then
``--seconds``: 4, or 2 with ``--quick``), which goes first alternating by round and view.
Reported (and written to ``benchmarks/results-django.md``): successful req/s and p99, the median
of per-round ratios ours/original against the targets (``/sync/`` >= 1.2, the others >= 1.0),
server threads, and servers still running 3 s after SIGTERM. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h

INTEGRATION_DIR = h.REPO_ROOT / "tests" / "integration"
#: What both venvs get besides their asgiref (same versions on both sides). Django 5.2 is the
#: newest series that runs on Python 3.10 and 3.11 (6.x needs 3.12).
REQUIREMENTS = ("Django==5.2.19", "channels==4.3.2", "uvicorn[standard]==0.54.0")
DISTS = ("httptools", "h11", "uvloop")
#: Distributions whose versions the report shows.
DISTRIBUTIONS = ("Django", "channels", "uvicorn", *DISTS)
PARSERS = ("h11", "httptools")
#: (path, what the body of a good answer contains, minimum req/s ratio ours/original).
VIEWS = (
    ("/sync/", b"hello sync", 1.2),
    ("/async/", b"hello async", 1.0),
    ("/orm/", b'"count": 0', 1.0),
)
CONNECTIONS = 50
#: (default, --quick): seconds per timed wrk run, warm-up seconds before it, rounds.
SECONDS, WARMUP_SECONDS, ROUNDS = (4, 2), (1, 1), (4, 2)
#: Seconds a server gets to exit after SIGTERM before it is killed (and the fact reported).
SHUTDOWN_GRACE = 3.0
#: The project's own settings: DEBUG = False (no query log growing per request), 127.0.0.1.
SETTINGS_MODULE = "intsite.settings"
#: What must never appear in a server's log (as in tests/integration/stacks.py).
FORBIDDEN_IN_LOG = ("Traceback", "SynchronousOnlyOperation", "You cannot call this from an async")


def server_env(db: Path) -> dict[str, str]:
    """The environment of a server (and of migrate and the probe): this one without anything
    that could change which packages Python finds, plus the project on the path."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTHON") and key not in ("VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE")
    }
    env.update(PYTHONPATH=str(INTEGRATION_DIR), PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    return {**env, "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE, "INTSITE_DB": str(db)}


def prepare(python: str, tmp: Path) -> dict[str, h.Env]:
    """Both venvs, checked as the servers will run, each with a migrated pristine database."""
    envs = h.prepare_envs(python, "django-", REQUIREMENTS, DISTS)
    for env in envs.values():
        db = tmp / f"pristine-{env.impl}.sqlite3"
        env.info = h.probe(env, DISTRIBUTIONS, cwd=INTEGRATION_DIR, env=server_env(db))
        h.check_env(env)
        migrate = [str(env.python), "-m", "django", "migrate", "--noinput", "-v0"]
        proc = h.run(migrate, INTEGRATION_DIR, 300, env=server_env(db))
        if proc.returncode != 0 or not db.exists():
            output = (proc.stdout + proc.stderr)[-600:]
            raise h.BenchError(f"migrate in {env.venv.name} failed: {output}")
    return envs


def check_views(port: int) -> str:
    """'' if every view answers as it should once, else what is wrong."""
    for path, marker, _ in VIEWS:
        try:
            status, headers, body = h.http_get(port, path, 10)
        except (OSError, http.client.HTTPException) as exc:
            return f"GET {path}: {exc!r}"
        if status != 200 or marker not in body:
            return f"GET {path}: {status} {body[:120]!r}"
        if headers.get("x-async-middleware") != "ran" or "x-sync-middleware" not in headers:
            return f"GET {path}: the middleware headers are missing: {headers}"
    return ""


@dataclass
class Results:
    #: (parser, path, impl) -> one `Wrk.load` result per round (or {"error": ...}).
    runs: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    #: Anything odd: server logs with tracebacks, servers that died, failed checks.
    anomalies: list[str] = field(default_factory=list)
    #: impl -> servers that did not exit on SIGTERM within SHUTDOWN_GRACE seconds.
    hung_shutdowns: dict[str, int] = field(default_factory=lambda: dict.fromkeys(h.IMPLS, 0))


def _start(env: h.Env, parser: str, index: int, tmp: Path) -> h.Server:
    directory = tmp / f"{env.impl}-{parser}-{index}"
    directory.mkdir()
    db = directory / "server.sqlite3"
    shutil.copyfile(tmp / f"pristine-{env.impl}.sqlite3", db)
    # uvicorn's defaults (keep-alive, loop "auto" = uvloop, lifespan "auto"), the parser named,
    # and no access log: a line per request would measure the log pipe.
    argv = [str(env.python), "-m", "uvicorn", "intsite.asgi:application", "--host", h.HOST]
    argv += ["--http", parser, "--no-access-log", "--log-level", "warning", "--port"]
    name, log_path = f"{env.impl} ({parser}, round {index + 1})", directory / "server.log"
    return h.start_server(
        name, lambda port: [*argv, str(port)], INTEGRATION_DIR, log_path, env=server_env(db)
    )


def _stop(impl: str, server: h.Server, results: Results) -> None:
    """SIGTERM; uvicorn exits at once unless a request is still in flight long after wrk has
    gone, which is worth reporting (and not worth waiting for)."""
    threads = h.proc_status(server.proc.pid).get("Threads")
    if not server.stop(signal.SIGTERM, SHUTDOWN_GRACE):
        results.anomalies.append(
            f"{server.name}: still running {SHUTDOWN_GRACE:g} s after SIGTERM ({threads} threads"
            " before it): requests still in flight after wrk had gone; killed"
        )
        results.hung_shutdowns[impl] += 1
    text = server.log_text()
    found = [marker for marker in FORBIDDEN_IN_LOG if marker in text]
    if found:
        results.anomalies.append(f"{server.name}: the log has {found}: {text[-600:]!r}")


def run_rounds(envs: dict[str, h.Env], wrk: h.Wrk, args: argparse.Namespace, tmp: Path) -> Results:
    results = Results()
    for index in range(args.rounds):
        started = time.monotonic()
        for parser in args.parsers:
            servers: dict[str, h.Server] = {}
            try:
                for impl in h.IMPLS[::-1]:
                    servers[impl] = _start(envs[impl], parser, index, tmp)
                    problem = check_views(servers[impl].port)
                    if problem:
                        raise h.BenchError(f"{impl} ({parser}): {problem}")
                for view_index, (path, _, _) in enumerate(VIEWS):
                    # Which implementation goes first alternates by round and view.
                    for impl in h.IMPLS if (index + view_index) % 2 else h.IMPLS[::-1]:
                        result = wrk.load(
                            servers[impl], path, args.seconds, CONNECTIONS, args.warmup
                        )
                        results.runs.setdefault((parser, path, impl), []).append(result)
            except (h.BenchError, OSError) as exc:
                results.anomalies.append(f"round {index + 1}, {parser}: {exc}"[:600])
                for key in ((parser, path, impl) for path, _, _ in VIEWS for impl in h.IMPLS):
                    if len(results.runs.setdefault(key, [])) <= index:
                        results.runs[key].append({"error": str(exc)[:300]})
            finally:
                for impl, server in servers.items():
                    _stop(impl, server, results)
        h.log(f"round {index + 1}/{args.rounds} done in {time.monotonic() - started:.0f} s")
    return results


def _impl_cells(runs: list[dict[str, Any]]) -> tuple[str, str, str]:
    """(req/s median, p99 median, failures) cells of one implementation's runs."""
    stats = h.wrk_summary(runs)
    if stats is None:
        return "n/a", "n/a", f"{len(runs)} runs failed" if runs else "n/a"
    failures = f"{stats['non2xx']} / {stats['socket_errors']}"
    if stats["failed"]:
        failures += f" ({len(stats['failed'])} runs failed)"
    return h.fmt(stats["ok_rps"]), h.fmt(stats["p99_ms"]), failures


def build_report(
    envs: dict[str, h.Env], results: Results, args: argparse.Namespace, wrk: h.Wrk, elapsed: float
) -> str:
    title = "Django under uvicorn: ours vs asgiref 3.13.0"
    lines = h.head(title, f"{args.rounds} rounds, total {elapsed:.0f} s", envs)
    for env in (envs["ours"], envs["original"]):
        listed = ", ".join(f"{name} {version}" for name, version in env.info["versions"].items())
        lines.append(
            f"- {env.impl} (`{env.venv.name}`): {listed}; asgiref from `{env.info['file']}`"
        )
    lines += [
        f"- load: `wrk -t1 -c{CONNECTIONS} -d{args.seconds}s --timeout 5s --latency` per view and"
        f" implementation after a {args.warmup} s warm-up with the same command; {wrk.version}",
        "- servers: `python -m uvicorn intsite.asgi:application --http PARSER --no-access-log"
        f" --log-level warning`, settings `{SETTINGS_MODULE}`, a fresh copy of the migrated"
        " database each; req/s = (requests - non-2xx) / duration and p99 are medians over rounds,"
        " non-2xx and socket errors totals; the ratio is the median of per-round ratios",
        "",
        "| parser | view | original req/s | ours req/s | ratio ours/original | range"
        " | original p99 ms | ours p99 ms | non-2xx / socket errors, original | ours | target |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    all_met = True
    for parser in args.parsers:
        for path, _, target in VIEWS:
            ours = results.runs.get((parser, path, "ours"), [])
            original = results.runs.get((parser, path, "original"), [])
            ratios = h.wrk_ratios(ours, original)
            ratio, ratio_cell, range_cell = h.ratio_cells(ratios, flag_below=1.0)
            met = None if ratio is None else round(ratio, 2) >= target  # judged as printed
            all_met = all_met and bool(met)
            o, u = _impl_cells(original), _impl_cells(ours)
            lines.append(
                f"| {parser} | `{path}` | {o[0]} | {u[0]} | {ratio_cell} | {range_cell}"
                f" | {o[1]} | {u[1]} | {o[2]} | {u[2]} | >= {target:g} ({h.verdict(met)}) |"
            )
    lines += [
        "",
        "Targets (issue): no view slower than the original (ratio >= 1.0), the sync view at least"
        " 1.2x; judged on the printed two-decimal median ratio:"
        f" **{'all met' if all_met else 'MISSED'}**.",
        "",
    ]
    threads = []
    for impl in h.IMPLS[::-1]:
        runs = [run for key, runs in results.runs.items() if key[2] == impl for run in runs]
        counts = [run["threads"] for run in runs if "error" not in run and run.get("threads")]
        threads += [f"{impl} {min(counts)} .. {max(counts)}"] if counts else []
    if threads:
        lines += [f"Server threads right after a timed run: {', '.join(threads)}.", ""]
    servers = args.rounds * len(args.parsers)
    lines += [
        f"Servers still running {SHUTDOWN_GRACE:g} s after SIGTERM (requests left in flight"
        " when wrk closed its connections): "
        + ", ".join(f"{impl} {results.hung_shutdowns[impl]} of {servers}" for impl in h.IMPLS[::-1])
        + ".",
        "",
    ]
    if results.anomalies:
        lines += ["Anomalies:", "", *(f"- {h.cell(text)}" for text in results.anomalies), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = h.arg_parser(__doc__, ROUNDS, "fewer rounds, shorter wrk runs")
    parser.add_argument("--seconds", type=int, help="per timed wrk run (default 4, quick 2)")
    choices = ["both", *PARSERS]
    parser.add_argument("--http", choices=choices, default="both", help="uvicorn's parser(s)")
    args = parser.parse_args(argv)
    args.rounds = h.rounds_of(args, 50)
    args.seconds = args.seconds if args.seconds is not None else SECONDS[args.quick]
    args.warmup = WARMUP_SECONDS[args.quick]
    args.parsers = PARSERS if args.http == "both" else (args.http,)
    if not 1 <= args.seconds <= 120:
        raise SystemExit("--seconds must be in 1..120")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-django-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            wrk = h.Wrk(tmp)
            envs = prepare(args.python, tmp)
            results = run_rounds(envs, wrk, args, tmp)
        except h.BenchError as exc:
            h.log(f"error: {exc}")
            return 2
    raw: dict[str, Any] = {"args": vars(args), "envs": {i: e.info for i, e in envs.items()}}
    raw.update(runs={"|".join(key): runs for key, runs in results.runs.items()})
    raw.update(anomalies=results.anomalies, hung_shutdowns=results.hung_shutdowns)
    text = build_report(envs, results, args, wrk, time.monotonic() - started)
    h.finish("django", text, raw, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
