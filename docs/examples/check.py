"""Runs every example the documentation shows; checks it prints what the page says.

Each ``NAME.py`` here is included in a page together with ``NAME.out``, the output
shown under it. Run by ``scripts/docs`` before the site is built:
``python docs/examples/check.py``.
"""

import difflib
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failures = 0
    examples = sorted(path for path in HERE.glob("*.py") if path.name != "check.py")
    for example in examples:
        expected = example.with_suffix(".out").read_text()
        run = subprocess.run(
            [sys.executable, "-W", "error", str(example)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if run.returncode != 0 or run.stdout != expected or run.stderr:
            failures += 1
            print(f"FAILED {example.name} (exit code {run.returncode})")
            sys.stdout.writelines(
                difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    run.stdout.splitlines(keepends=True),
                    "expected",
                    "printed",
                )
            )
            print(run.stderr, end="")
    print(f"examples: {len(examples) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
