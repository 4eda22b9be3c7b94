"""The differential suite's machinery: the original's environment, running scenarios, comparing.

`test_differential.py` holds the tests; this module knows how to

* find the scenarios (`scenario_*` functions in `scenarios/*.py`, read without importing them);
* build the original's environment: a virtual environment of its own with `asgiref==3.13.0` from
  PyPI and the same versions of the third-party packages the scenarios use as this environment
  has (rebuilt when that list changes);
* run a scenario in an interpreter (`scenarios/_run.py`) and parse its records;
* compare two runs, allowing only the documented difference a scenario declares.
"""

from __future__ import annotations

import ast
import concurrent.futures
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
REPOSITORY = HERE.parent.parent
DIFFERENCES_FILE = REPOSITORY / "DIFFERENCES.md"

ORIGINAL_REQUIREMENT = "asgiref==3.13.0"
# Third-party packages some scenarios import; the original's environment gets the very versions
# installed here, so that both runs differ in asgiref only.
SHARED_PACKAGES = ("django", "channels", "daphne", "twisted", "uvicorn", "h11", "httpx")

# How long one scenario may run before it counts as hung (scenarios finish in well under a second
# unless they wait on purpose); the process as a whole gets a little longer to exit.
SCENARIO_DEADLINE = 20.0
PROCESS_TIMEOUT = SCENARIO_DEADLINE + 20.0

# Lines of stderr a user sees and some test setups turn into failures; compared as a set.
STDERR_MARKERS = (
    "Task was destroyed but it is pending",
    "Task exception was never retrieved",
    "Exception in thread",
    "was never awaited",
    "Exception ignored in",
    "Traceback (most recent call last)",
)

ABSENT = "<absent>"


@dataclasses.dataclass(frozen=True)
class Scenario:
    module: str
    name: str

    @property
    def id(self) -> str:
        return f"{self.module}::{self.name}"


def find_scenarios() -> list[Scenario]:
    """Every `scenario_*` function, module by module, in file order."""
    found = []
    for path in sorted(SCENARIOS.glob("[!_]*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
                "scenario_"
            ):
                found.append(Scenario(path.stem, node.name.removeprefix("scenario_")))
    return found


@dataclasses.dataclass
class Run:
    """What one scenario run printed: its records in order, and what it says about itself."""

    records: list[tuple[str, Any]]
    asgiref_location: str | None
    difference: dict[str, Any] | None
    stderr: str
    returncode: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.records)


def scenario_environment() -> dict[str, str]:
    """The environment scenarios run in: this one, without what would change how Python, pytest,
    Django or asgiref behave. Taken once, on the main thread (pytest changes `os.environ` as it
    runs tests, and scenarios run on worker threads)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "PYTEST", "DJANGO_", "ASGIREF_"))
    }
    env.update(PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8")
    return env


def run_scenario(python: str, scenario: Scenario, env: dict[str, str]) -> Run:
    command = [
        python,
        str(SCENARIOS / "_run.py"),
        scenario.module,
        scenario.name,
        str(SCENARIO_DEADLINE),
    ]
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=env,
            cwd=SCENARIOS,
            timeout=PROCESS_TIMEOUT,
            check=False,
        )
        stdout, stderr, returncode = completed.stdout, completed.stderr, completed.returncode
    except subprocess.TimeoutExpired as expired:
        stdout = _text(expired.stdout)
        stderr = _text(expired.stderr) + "\n[killed by the harness: the watchdog did not fire]"
        returncode = -9
    return parse_run(stdout, stderr, returncode)


def _text(output: str | bytes | None) -> str:
    if output is None:
        return ""
    return output if isinstance(output, str) else output.decode("utf-8", "replace")


def parse_run(stdout: str, stderr: str, returncode: int) -> Run:
    records: list[tuple[str, Any]] = []
    location = difference = None
    for line in stdout.splitlines():
        if line.startswith("@@meta "):
            meta = json.loads(line.removeprefix("@@meta "))
            location, difference = meta["asgiref"], meta["difference"]
        elif line.startswith("@@record "):
            key, value = json.loads(line.removeprefix("@@record "))
            records.append((key, value))
    keys = {key for key, _ in records}
    if "exit" not in keys and "outcome" in keys:
        records.append(("exit", "prompt" if returncode == 0 else f"exit code {returncode}"))
    markers = sorted(marker for marker in STDERR_MARKERS if marker in stderr)
    records.append(("stderr", markers))
    return Run(records, location, difference, stderr, returncode)


def compare(original: Run, ours: Run) -> list[str]:
    """What differs between the two runs beyond the scenario's documented difference, as lines
    a reader can act on (empty: the runs agree)."""
    problems: list[str] = []
    difference = ours.difference
    documented: set[str] = set()
    if difference is not None:
        documented = set(difference["original"]) | set(difference["ours"])
        if set(difference["original"]) != set(difference["ours"]):
            problems.append("the documented difference names different keys for the two runs")
        if not _documented_in_file(difference["id"]):
            problems.append(f"difference {difference['id']!r} is not a heading in DIFFERENCES.md")
        for side, run in (("original", original), ("ours", ours)):
            recorded = run.as_dict()
            for key, expected in difference[side].items():
                actual = recorded.get(key, ABSENT)
                if actual != expected:
                    problems.append(
                        f"documented difference: {side} recorded {key} = {_show(actual)}, "
                        f"expected {_show(expected)}"
                    )
    mine = [(k, v) for k, v in ours.records if k not in documented]
    theirs = [(k, v) for k, v in original.records if k not in documented]
    if mine != theirs:
        problems.extend(_describe_mismatch(theirs, mine))
    return problems


def _documented_in_file(difference_id: str) -> bool:
    if not DIFFERENCES_FILE.exists():
        return False
    text = DIFFERENCES_FILE.read_text(encoding="utf-8")
    return any(
        line.startswith("#") and line.lstrip("#").strip().startswith(difference_id + ":")
        for line in text.splitlines()
    )


def _describe_mismatch(
    original: list[tuple[str, Any]], ours: list[tuple[str, Any]]
) -> Iterator[str]:
    original_values, our_values = dict(original), dict(ours)
    for key in dict.fromkeys([k for k, _ in original] + [k for k, _ in ours]):
        theirs = original_values.get(key, ABSENT)
        mine = our_values.get(key, ABSENT)
        if theirs != mine:
            yield f"{key}: original {_show(theirs)} | ours {_show(mine)}"
    if [k for k, _ in original] != [k for k, _ in ours] and all(
        original_values.get(k, ABSENT) == our_values.get(k, ABSENT) for k in original_values
    ):
        yield (
            f"records in another order: original {[k for k, _ in original]} | "
            f"ours {[k for k, _ in ours]}"
        )


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 600 else text[:600] + "..."


# --- the original's environment ---------------------------------------------------------------


def original_requirements() -> list[str]:
    """`asgiref==3.13.0` plus the shared packages pinned to the versions installed here."""
    requirements = [ORIGINAL_REQUIREMENT]
    for package in SHARED_PACKAGES:
        try:
            requirements.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue  # not installed here: scenarios that need it fail in both runs alike
    return requirements


def original_python() -> str:
    """The interpreter of the original's environment, built (or rebuilt) when needed."""
    version = "{}.{}".format(*sys.version_info[:2])
    venv = REPOSITORY / f".venv-differential-{version}"
    python = venv / "bin" / "python"
    marker = venv / "requirements.json"
    requirements = original_requirements()
    if (
        python.exists()
        and marker.exists()
        and json.loads(marker.read_text(encoding="utf-8")) == requirements
    ):
        return str(python)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *requirements], check=True)
    marker.write_text(json.dumps(requirements), encoding="utf-8")
    return str(python)


class Runs:
    """Every scenario run in both interpreters, started together in the background on first use
    so that the suite takes about as long as its slowest scenarios, not their sum."""

    def __init__(self, original: str, ours: str, scenarios: list[Scenario]) -> None:
        workers = max(4, 2 * (os.cpu_count() or 1))
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, "differential")
        self._futures: dict[tuple[str, Scenario], concurrent.futures.Future[Run]] = {}
        env = scenario_environment()
        for scenario in scenarios:
            for side, python in (("original", original), ("ours", ours)):
                future = self._pool.submit(run_scenario, python, scenario, env)
                self._futures[side, scenario] = future

    def get(self, side: str, scenario: Scenario) -> Run:
        return self._futures[side, scenario].result()

    def close(self) -> None:
        for future in self._futures.values():
            future.cancel()
        self._pool.shutdown(wait=True)
