"""Integration tests: real stacks (Django, Channels, Daphne, uvicorn, Starlette, FastAPI) running
on this package unchanged. Run them with scripts/integration, which installs the `integration`
extra into its own virtual environment.

They need packages the unit-test environment does not have (Channels, Daphne), so this directory
collects nothing unless ASGIREF_INTEGRATION=1 is set (scripts/integration sets it): a plain
`python -m pytest` from the repository root, which walks all of tests/, skips it without
importing any of it but this file.

With it set, this file also points Django at the test project (tests/integration/intsite) and a
fresh SQLite database in a temporary directory, migrated once per session.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ENABLED = os.environ.get("ASGIREF_INTEGRATION") == "1"

if not ENABLED:
    collect_ignore_glob = ["*"]
else:
    _INTEGRATION_DIR = str(Path(__file__).resolve().parent)
    if _INTEGRATION_DIR not in sys.path:
        sys.path.insert(0, _INTEGRATION_DIR)
    _SESSION_DIR = Path(tempfile.mkdtemp(prefix="asgiref-integration-"))
    # Before anything imports Django's settings (a test module's imports may).
    os.environ["DJANGO_SETTINGS_MODULE"] = "intsite.settings"
    os.environ["INTSITE_DB"] = str(_SESSION_DIR / "session.sqlite3")


def pytest_unconfigure(config: pytest.Config) -> None:
    if ENABLED:
        shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def pristine_db() -> Path:
    """Set Django up in this process on the session's database, migrate it, and return the path
    of a copy taken right after migrating (servers each get their own copy of that)."""
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    call_command("migrate", verbosity=0)
    connections.close_all()
    pristine = _SESSION_DIR / "pristine.sqlite3"
    shutil.copyfile(os.environ["INTSITE_DB"], pristine)
    return pristine


def pytest_report_header(config: pytest.Config) -> str | None:
    if ENABLED:
        return None
    return (
        "tests/integration: not collected (set ASGIREF_INTEGRATION=1, as scripts/integration does)"
    )
