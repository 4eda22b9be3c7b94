"""The bridge under stress: thousands of mixed call chains settle, correctly, and leave nothing
behind. Each run is `bridge_stress.py` in a process of its own, so that the threads it leaves and
the way its interpreter exits are its own."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

PROGRAM = Path(__file__).with_name("bridge_stress.py")

# What may stay after a run: the process-wide thread-sensitive thread and the spare thread
# started ahead of the next call (see `asgiref._lanes`).
THREADS_THAT_STAY = {"asgiref-sync-main", "asgiref-spare"}

# Bounds that only a hang can break: every call settles well within them on a loaded 2-core VM.
DEADLINE_S = 120
EXIT_WITHIN_S = 15


def run_stress(*arguments: str) -> dict[str, Any]:
    """Run the program; return its report, after checking it exited promptly and cleanly."""
    command = [sys.executable, str(PROGRAM), *arguments, "--deadline", str(DEADLINE_S)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        reported = time.monotonic()
        try:
            _, stderr = process.communicate(timeout=EXIT_WITHIN_S + DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"the interpreter did not exit after the report: {line}")
        exited_after = time.monotonic() - reported
    assert line, f"no report; stderr:\n{stderr}"
    report: dict[str, Any] = json.loads(line)
    assert process.returncode == 0, stderr
    assert stderr == ""
    assert exited_after < EXIT_WITHIN_S, f"exit took {exited_after:.1f} s after the report"
    return report


def assert_all_settled(report: dict[str, Any]) -> None:
    assert report["first_failure"] == ""
    assert report["failures"] == 0
    assert report["unfinished"] == 0
    assert report["settled"] == report["calls"]
    assert report["results_correct"] + report["cancelled"] == report["calls"]
    assert report["slowest_s"] < DEADLINE_S
    assert report["pending_tasks"] == 0
    assert set(report["thread_names_left"]) <= THREADS_THAT_STAY
    assert report["threads_left"] <= len(THREADS_THAT_STAY)


@pytest.mark.timeout(DEADLINE_S + EXIT_WITHIN_S + 30)
def test_non_thread_sensitive_chains_settle_although_nesting_exhausts_the_default_pool() -> None:
    # The case asgiref 3.13.0 never finishes: every default-executor thread is a sync function
    # waiting in async_to_sync for a coroutine whose own call needs an executor thread.
    report = run_stress("chains", "--sensitivity", "nts", "--calls", "1000", "--concurrency", "10")
    assert_all_settled(report)
    assert report["results_correct"] == 1000


@pytest.mark.timeout(DEADLINE_S + EXIT_WITHIN_S + 30)
def test_mixed_chains_with_cancellations_and_timeouts_all_settle() -> None:
    report = run_stress(
        "chains", "--sensitivity", "mixed", "--fates", "--calls", "5000", "--concurrency", "200"
    )
    assert_all_settled(report)
    # Only chains that were cancelled or timed out may end cancelled (some finish first).
    assert 0 < report["cancelled"] <= report["expected_cancellable"]


@pytest.mark.timeout(DEADLINE_S + EXIT_WITHIN_S + 30)
def test_thread_sensitive_chains_all_settle() -> None:
    report = run_stress("chains", "--sensitivity", "ts", "--calls", "3000", "--concurrency", "100")
    assert_all_settled(report)
    assert report["results_correct"] == 3000


@pytest.mark.timeout(DEADLINE_S + EXIT_WITHIN_S + 30)
def test_wsgi_requests_among_chains_keep_their_own_local_values() -> None:
    report = run_stress("wsgi_local", "--calls", "2000", "--concurrency", "100")
    assert_all_settled(report)
    assert report["results_correct"] == 2000
    assert report["local_left_in_main"] is False


@pytest.mark.timeout(DEADLINE_S + EXIT_WITHIN_S + 30)
def test_non_thread_sensitive_chains_settle_on_uvloop_whose_default_executor_is_unseen() -> None:
    pytest.importorskip("uvloop", reason="not installed (the test extra has it where it builds)")
    report = run_stress(
        "chains",
        "--sensitivity",
        "nts",
        "--calls",
        "1000",
        "--concurrency",
        "10",
        "--loop",
        "uvloop",
    )
    assert_all_settled(report)
    assert report["results_correct"] == 1000
