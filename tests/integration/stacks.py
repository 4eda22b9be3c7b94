"""Running real servers for the integration tests: start one as a subprocess on 127.0.0.1, wait
(bounded) until its port accepts connections, read its log, look at its open files, stop it.

Every wait here is bounded both in time (a deadline) and in count (a number of polls).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INTEGRATION_DIR = Path(__file__).resolve().parent
REPO_ROOT = INTEGRATION_DIR.parent.parent

STARTUP_DEADLINE = 45.0  # seconds for a server to accept connections
STOP_DEADLINE = 15.0  # seconds for a server to exit after SIGTERM (then it is killed)
POLL_INTERVAL = 0.02  # seconds between two looks at something we wait for
HTTP_TIMEOUT = 30.0  # seconds, for every request the tests make

# What must never appear in a server's output.
FORBIDDEN_IN_LOG = (
    "Traceback",
    "SynchronousOnlyOperation",
    "You cannot call this from an async context",
)


def poll(check: Callable[[], bool], deadline: float) -> bool:
    """Call `check` every POLL_INTERVAL seconds until it returns True (then return True) or
    `deadline` seconds have passed (then return False)."""
    end = time.monotonic() + deadline
    for _ in range(int(deadline / POLL_INTERVAL) + 2):
        if check():
            return True
        if time.monotonic() >= end:
            break
        time.sleep(POLL_INTERVAL)  # poll interval of a deadline-bounded wait
    return check()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Server:
    """A server subprocess that listens on 127.0.0.1:`port`; its stdout and stderr go to `log`."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def assert_log_clean(self) -> None:
        text = self.log_text()
        found = [marker for marker in FORBIDDEN_IN_LOG if marker in text]
        assert not found, f"{self.name} logged {found}:\n{text[-5000:]}"

    def open_files_under(self, prefix: Path) -> list[str]:
        """The server process's open file descriptors whose target starts with `prefix` (read
        from /proc/PID/fd; the SQLite database and its journal files, for a database path)."""
        fd_dir = Path(f"/proc/{self.process.pid}/fd")
        found = []
        for entry in os.listdir(fd_dir):
            try:
                target = os.readlink(fd_dir / entry)
            except OSError:  # closed since listdir
                continue
            if target.startswith(str(prefix)):
                found.append(f"{entry} -> {target}")
        return found

    def assert_no_open_files_under(self, prefix: Path, deadline: float = 10.0) -> None:
        """Within `deadline` seconds the process holds no file under `prefix` open (requests
        close their database connection at their very end, a moment after the client has the
        response)."""
        assert poll(lambda: not self.open_files_under(prefix), deadline), (
            f"{self.name} still holds {self.open_files_under(prefix)} open"
        )


def start_server(
    name: str,
    argv_for_port: Callable[[int], Sequence[str]],
    *,
    env: dict[str, str],
    log: Path,
    attempts: int = 3,
) -> Server:
    """Start `argv_for_port(port)` in tests/integration on a free port and wait until the port
    accepts connections. Tries another port if one was taken in the meantime."""
    for _ in range(attempts):
        server = _launch(name, argv_for_port, env=env, log=log)
        if server is not None:
            return server
    raise RuntimeError(f"{name}: no free port after {attempts} attempts")


def _launch(
    name: str,
    argv_for_port: Callable[[int], Sequence[str]],
    *,
    env: dict[str, str],
    log: Path,
) -> Server | None:
    """One attempt of `start_server`: the server, or None if its port was taken meanwhile."""
    port = free_port()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            list(argv_for_port(port)),
            cwd=INTEGRATION_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, process, port, log)
    if not poll(lambda: process.poll() is not None or _accepts(port), STARTUP_DEADLINE):
        stop_server(server)
        raise RuntimeError(f"{name} did not listen within {STARTUP_DEADLINE} s:\n{log}")
    if process.poll() is None:
        return server
    if "already in use" in server.log_text():
        return None
    raise RuntimeError(f"{name} exited at startup:\n{server.log_text()}")


def stop_server(server: Server) -> None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_DEADLINE seconds."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_DEADLINE)


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a server: this one, with tests/integration importable."""
    env = dict(os.environ)
    path = [str(INTEGRATION_DIR)]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@contextlib.contextmanager
def serving(
    name: str,
    argv_for_port: Callable[[int], Sequence[str]],
    *,
    env: dict[str, str],
    log: Path,
) -> Iterator[Server]:
    """A running server for the block; stopped afterwards, and its log checked clean."""
    server = start_server(name, argv_for_port, env=env, log=log)
    try:
        yield server
    finally:
        stop_server(server)
    server.assert_log_clean()


def copy_database(pristine: Path, directory: Path) -> Path:
    """A migrated database of its own (a copy of `pristine` in `directory`), for one server."""
    path = directory / "server.sqlite3"
    shutil.copyfile(pristine, path)
    return path


def python_module(module: str, *args: str) -> list[str]:
    """argv running `python -m module args...` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def percentiles(samples: Sequence[float], points: Sequence[int] = (50, 90, 99)) -> dict[str, float]:
    """Nearest-rank percentiles of `samples` (in the samples' unit), keyed "p50" etc."""
    ordered = sorted(samples)
    result = {}
    for point in points:
        rank = max(1, -(-point * len(ordered) // 100))  # ceil(point / 100 * n)
        result[f"p{point}"] = ordered[rank - 1]
    return result


def latency_file() -> Path:
    """Where latency summaries go: ASGIREF_LATENCY_FILE, by default
    tests/integration/last-latency.json."""
    return Path(os.environ.get("ASGIREF_LATENCY_FILE", INTEGRATION_DIR / "last-latency.json"))


def record_latency(name: str, summary: dict[str, Any]) -> Path:
    """Add `summary` under `name` to the latency file and return the file's path."""
    path = latency_file()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    data[name] = summary
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path
