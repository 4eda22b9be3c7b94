"""The differential suite: every scenario in `scenarios/` runs against the original asgiref 3.13.0
(in a virtual environment of its own, built from PyPI on first use) and against this package, and
what a user could observe must be the same, or differ exactly as `DIFFERENCES.md` documents.

See `scenarios/_observe.py` for what a scenario records and `differential_harness.py` for how the
runs are made and compared.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from differential_harness import (
    REPOSITORY,
    Run,
    Runs,
    Scenario,
    compare,
    find_scenarios,
    original_python,
)

SCENARIOS = find_scenarios()

pytestmark = [
    pytest.mark.skipif(
        sys.version_info < (3, 11),
        reason="asgiref 3.13.0 requires Python 3.11 or later, so there is no original to compare "
        "with on this Python",
    ),
    # The first test waits for the original's environment to be built (a pip install from PyPI).
    pytest.mark.timeout(900),
]


def _selected(items: list[pytest.Item]) -> list[Scenario]:
    """The scenarios of the tests this session runs (all of them, or those `-k` picked)."""
    selected = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        scenario = callspec.params.get("scenario") if callspec is not None else None
        if isinstance(scenario, Scenario):
            selected.append(scenario)
    return selected


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest) -> Iterator[Runs]:
    all_runs = Runs(original_python(), sys.executable, _selected(request.session.items))
    yield all_runs
    all_runs.close()


def _check_location(run: Run, side: str) -> None:
    location = run.asgiref_location
    assert location is not None, f"the {side} run printed nothing:\n{run.stderr}"
    in_repository = Path(location) == REPOSITORY / "asgiref"
    if side == "ours":
        assert in_repository, f"our run imported asgiref from {location}, not this repository"
    else:
        assert not in_repository, "the original's run imported this repository's asgiref"
        assert "site-packages" in location, f"the original's run imported asgiref from {location}"


def test_there_are_enough_scenarios() -> None:
    assert len(SCENARIOS) >= 150


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_same_as_the_original(runs: Runs, scenario: Scenario) -> None:
    original, ours = runs.get("original", scenario), runs.get("ours", scenario)
    _check_location(original, "original")
    _check_location(ours, "ours")
    problems = compare(original, ours)
    if problems:
        pytest.fail(
            f"{scenario.id} differs from asgiref 3.13.0:\n  "
            + "\n  ".join(problems)
            + f"\n--- original stderr ---\n{original.stderr[-3000:]}"
            + f"\n--- our stderr ---\n{ours.stderr[-3000:]}",
            pytrace=False,
        )
