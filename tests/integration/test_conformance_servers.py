"""`python -m asgiref.conformance server HOST:PORT` against real servers serving the probe app:
uvicorn (h11 and httptools), Hypercorn and Daphne. Whatever a report finds is the finding (the
README records them); the test asserts that each report is produced, whole, and that the rules
every one of these servers keeps are kept."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from stacks import python_module, server_env, serving

APP = "asgiref.conformance:probe_app"


def _uvicorn(http: str) -> Callable[[int], Sequence[str]]:
    def argv(port: int) -> Sequence[str]:
        return python_module(
            "uvicorn", APP, "--http", http, "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning",
        )  # fmt: skip

    return argv


def _hypercorn(port: int) -> Sequence[str]:
    return python_module("hypercorn", "--bind", f"127.0.0.1:{port}", APP)


def _daphne(port: int) -> Sequence[str]:
    return python_module("daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), APP)


SERVERS = {
    "uvicorn-h11": _uvicorn("h11"),
    "uvicorn-httptools": _uvicorn("httptools"),
    "hypercorn": _hypercorn,
    "daphne": _daphne,
}
CHECKS = 20  # every report has a line for each
# Daphne speaks no lifespan protocol; every other rule these four servers keep.
NOT_KEPT_BY_ALL = {
    "lifespan supported: startup ran before requests",
    "lifespan state reaches each request's scope",
}


@pytest.mark.parametrize("name", list(SERVERS))
def test_the_report_of_each_server(name: str, tmp_path: Path) -> None:
    with serving(name, SERVERS[name], env=server_env(), log=tmp_path / "server.log") as server:
        run = subprocess.run(
            [sys.executable, "-m", "asgiref.conformance", "server", f"127.0.0.1:{server.port}"],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    print(run.stdout)  # the report, for the record (pytest -s shows it)
    lines = run.stdout.splitlines()
    assert lines[0] == f"ASGI conformance of 127.0.0.1:{server.port}", run.stderr
    results = [line for line in lines[1:-1] if line.startswith("  ")]
    assert len(results) == CHECKS, run.stdout
    broken = {line[9:].split(" -- ")[0] for line in results if line.startswith("  BROKEN")}
    assert broken <= NOT_KEPT_BY_ALL, run.stdout
    assert run.returncode == (1 if broken else 0)
