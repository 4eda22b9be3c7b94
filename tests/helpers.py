"""Helpers shared by the test modules."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")


def run_in_thread(fn: Callable[[], _T], *, inherit_context: bool = False) -> _T:
    """Run `fn` in a new plain thread and return its result or raise its exception.

    With `inherit_context`, the thread runs in a copy of the caller's context, as every new thread
    does on free-threaded Python 3.14.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = fn()
        except BaseException as error:
            outcome["error"] = error

    if inherit_context:
        thread = threading.Thread(target=contextvars.copy_context().run, args=(target,))
    else:
        thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the thread did not finish"
    if "error" in outcome:
        raise outcome["error"]
    result: _T = outcome["result"]
    return result
