"""The stacks under test run on this package: the asgiref that this process and the servers'
processes import is the repository's, and the frameworks are the versions the issue names."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

from stacks import INTEGRATION_DIR, REPO_ROOT, server_env

import asgiref


def test_this_process_imports_the_repositorys_asgiref() -> None:
    assert asgiref.__file__ is not None
    assert asgiref.__file__.startswith(str(REPO_ROOT / "asgiref"))


def test_server_processes_import_the_repositorys_asgiref() -> None:
    # As the servers start: in tests/integration, with it on PYTHONPATH (the repository root is
    # not on sys.path there, so this is whatever pip installed).
    result = subprocess.run(
        [sys.executable, "-c", "import asgiref, channels, daphne; print(asgiref.__file__)"],
        cwd=INTEGRATION_DIR,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip().startswith(str(REPO_ROOT / "asgiref"))


def test_framework_versions() -> None:
    assert int(version("channels").split(".")[0]) >= 4
    assert int(version("daphne").split(".")[0]) >= 4
    assert int(version("django").split(".")[0]) >= 4
    assert version("asgiref") == "3.13.0"
