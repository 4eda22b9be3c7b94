"""The demonstration that `scripts/demo` runs (the README's first command) runs to the end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_demo_runs_to_the_end() -> None:
    completed = subprocess.run(
        [sys.executable, "demo.py"],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    output = completed.stdout
    for heading in ("1. ", "4. A StatelessServer", "6. WSGI apps under ASGI servers"):
        assert heading in output
    assert "WSGI app behind WsgiToAsgi: 200 read 3000000 bytes" in output
    assert output.rstrip().endswith("Done.")
