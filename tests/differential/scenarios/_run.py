"""Run one differential scenario in this interpreter and print its records.

Usage: python _run.py MODULE SCENARIO DEADLINE

Prints, one line each: a meta line (where `asgiref` was imported from, and the scenario's
documented difference, if any), then every record as the scenario makes it, then an `outcome`
record ("returned", or the exception that escaped the scenario). A scenario still running after
DEADLINE seconds is recorded as `"outcome": "hung"`; an interpreter that has not exited 10 seconds
after the scenario ended is recorded as `"exit": "hung"`; both then dump every thread's stack to
stderr and leave at once.
"""

from __future__ import annotations

import asyncio
import faulthandler
import importlib
import inspect
import json
import os
import sys
import threading
from typing import Any

from _observe import Observer, describe_exception, print_record

EXIT_DEADLINE = 10.0


class Watchdog:
    """A daemon thread that ends a run stuck past its deadline, saying where it was stuck."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadline_passed = threading.Event()
        self._armed: tuple[float, str, str] | None = None
        self._rearmed = threading.Event()
        threading.Thread(target=self._watch, name="differential-watchdog", daemon=True).start()

    def arm(self, seconds: float, key: str, value: str) -> None:
        with self._lock:
            self._armed = (seconds, key, value)
        self._rearmed.set()

    def _watch(self) -> None:
        while True:
            self._rearmed.wait()
            with self._lock:
                armed = self._armed
                self._rearmed.clear()
            assert armed is not None
            seconds, key, value = armed
            if self._rearmed.wait(seconds):
                continue  # re-armed before the deadline: watch the new one
            print_record(key, value)
            faulthandler.dump_traceback(all_threads=True)
            sys.stderr.flush()
            os._exit(3)


def main() -> None:
    module_name, scenario_name, deadline = sys.argv[1], sys.argv[2], float(sys.argv[3])
    watchdog = Watchdog()
    watchdog.arm(deadline, "outcome", "hung")
    module = importlib.import_module(module_name)
    scenario = getattr(module, f"scenario_{scenario_name}")
    import asgiref  # after the scenario's imports, exactly as the scenario sees it

    meta: dict[str, Any] = {
        "asgiref": os.path.dirname(os.path.abspath(asgiref.__file__)),
        "difference": getattr(scenario, "difference", None),
    }
    sys.stdout.write("@@meta " + json.dumps(meta, sort_keys=True) + "\n")
    sys.stdout.flush()
    obs = Observer(print_record)
    try:
        result = scenario(obs)
        if inspect.iscoroutine(result):
            asyncio.run(result)
    except BaseException as error:
        print_record("outcome", {"raised": describe_exception(error)})
    else:
        print_record("outcome", "returned")
    watchdog.arm(EXIT_DEADLINE, "exit", "hung")


if __name__ == "__main__":
    main()
