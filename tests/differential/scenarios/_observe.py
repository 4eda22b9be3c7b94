"""What a differential scenario can observe, written so that two runs compare exactly.

A scenario is a function `scenario_<name>(obs)` (sync or async) in a module of this directory. It
exercises the asgiref API the way a user would and hands what a user could see to `obs`, each
under a key of its own: return values, exceptions (type and message), warnings, which thread ran
what, context variables, ASGI messages. `_run.py` runs one scenario in one interpreter and prints
the records; the test runs every scenario against the original asgiref 3.13.0 and against this
package and asserts the records are equal, or differ exactly as a documented difference says.

Values are encoded so that nothing a test could tell apart is merged: a tuple is not a list,
bytes are not str, a dict is compared by its items whatever their order. Threads are recorded as
labels given in order of first appearance ("main", "T1", "T2", ...), so runs compare which code
shared a thread rather than thread names.

This module runs in both environments (the original's and ours), so it uses only the standard
library and never imports asgiref.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

_T = TypeVar("_T")

# Printed before each record line, so that what a scenario itself prints is never mistaken for one.
RECORD_PREFIX = "@@record "


def encode(value: Any) -> Any:
    """`value` as JSON data that keeps apart everything a test's `==` or `type()` could."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if type(value) is int else {"int": int(value), "class": _class_name(value)}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, bytes):
        return {"bytes": value.decode("latin-1")}
    if isinstance(value, bytearray):
        return {"bytearray": value.decode("latin-1")}
    if isinstance(value, tuple):
        return {"tuple": [encode(item) for item in value]}
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        items = [[encode(key), encode(item)] for key, item in value.items()]
        return {"dict": sorted(items, key=lambda pair: json.dumps(pair[0], sort_keys=True))}
    if isinstance(value, (set, frozenset)):
        return {"set": sorted((encode(item) for item in value), key=json.dumps)}
    if isinstance(value, BaseException):
        return describe_exception(value)
    return {"object": _class_name(value)}


def describe_exception(error: BaseException) -> dict[str, Any]:
    """An exception as a user sees it: the class a handler would catch it by, and its message.

    An exception class defined by asgiref itself is recorded as the nearest base outside asgiref
    (the builtin or asyncio class that `except` clauses in user code name), with a note that it
    was a subclass; the note is compared too, so a run that raises a bare `RuntimeError` and one
    that raises `SomeAsgirefError(RuntimeError)` differ in exactly that note.
    """
    cls = type(error)
    public = next(c for c in cls.__mro__ if not c.__module__.startswith("asgiref"))
    message = without_addresses(str(error))
    described: dict[str, Any] = {"exception": _class_name_of(public), "message": message}
    if public is not cls:
        described["asgiref_subclass"] = True
    return described


_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_MOCK_ID = re.compile(r" id='[0-9]+'")


def without_addresses(text: str) -> str:
    """`text` with object addresses and mock ids, which change from run to run, blanked."""
    return _MOCK_ID.sub(" id='?'", _ADDRESS.sub("0x?", text))


def outcome(fn: Callable[[], Any]) -> dict[str, Any]:
    """What calling `fn()` did: `{"returned": value}` or `{"raised": <the exception>}`."""
    try:
        return {"returned": fn()}
    except BaseException as error:
        return {"raised": describe_exception(error)}


async def aoutcome(awaitable: Awaitable[Any]) -> dict[str, Any]:
    """What awaiting `awaitable` did, as `outcome` says it."""
    try:
        return {"returned": await awaitable}
    except BaseException as error:
        return {"raised": describe_exception(error)}


async def until(condition: threading.Event | Callable[[], bool], timeout: float = 2.0) -> bool:
    """Wait, without blocking the event loop, until `condition` (an event, or a function saying
    whether it holds) is met; False if it was not within `timeout` seconds."""
    met = condition.is_set if isinstance(condition, threading.Event) else condition
    deadline = time.monotonic() + timeout
    while not met():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.005)
    return True


def _class_name(value: object) -> str:
    return _class_name_of(type(value))


def _class_name_of(cls: type) -> str:
    module = cls.__module__
    if module in ("builtins", "__main__"):
        return cls.__qualname__
    if module.startswith("asyncio"):
        module = "asyncio"  # where the class lives inside asyncio moved between versions
    elif module.startswith("concurrent.futures"):
        module = "concurrent.futures"
    return f"{module}.{cls.__qualname__}"


class Observer:
    """The record of one scenario run; a scenario gets one as its only argument."""

    def __init__(self, emit: Callable[[str, Any], None]) -> None:
        self._emit = emit
        self._emit_lock = threading.Lock()
        self._keys: set[str] = set()
        self._threads: dict[threading.Thread, str] = {}
        self._threads_lock = threading.Lock()

    def __call__(self, key: str, value: Any) -> None:
        """Record `value` under `key` (each key once per scenario)."""
        encoded = encode(value)
        with self._emit_lock:
            if key in self._keys:
                raise ValueError(f"scenario recorded {key!r} twice")
            self._keys.add(key)
            self._emit(key, encoded)

    # --- calls whose outcome is the observation ---------------------------------------------

    def call(self, key: str, fn: Callable[[], _T]) -> _T | None:
        """Call `fn()`; record its result, or the exception it raised (which is not re-raised)."""
        try:
            result = fn()
        except BaseException as error:
            self(key, {"raised": describe_exception(error)})
            return None
        self(key, {"returned": result})
        return result

    async def acall(self, key: str, awaitable: Awaitable[_T]) -> _T | None:
        """Await `awaitable`; record its result or the exception it raised (not re-raised)."""
        try:
            result = await awaitable
        except BaseException as error:
            self(key, {"raised": describe_exception(error)})
            return None
        self(key, {"returned": result})
        return result

    @contextlib.contextmanager
    def raises(self, key: str) -> Iterator[None]:
        """Record the exception the block raises (not re-raised), or that it raised none."""
        try:
            yield
        except BaseException as error:
            self(key, {"raised": describe_exception(error)})
        else:
            self(key, {"raised": None})

    @contextlib.contextmanager
    def warnings(self, key: str) -> Iterator[None]:
        """Record every warning the block emits: category and message, in order."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        self(key, [[_class_name_of(w.category), str(w.message)] for w in caught])

    @contextlib.contextmanager
    def logs(self, key: str) -> Iterator[None]:
        """Record the log records of WARNING and above that the block emits (whichever logger
        and thread): [logger, level, exception class or None], sorted, since records from several
        threads come in no fixed order."""
        seen: list[list[str | None]] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                error = record.exc_info[0] if record.exc_info else None
                seen.append([record.name, record.levelname, error.__name__ if error else None])

        handler = Keep(logging.WARNING)
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            yield
        finally:
            root.removeHandler(handler)
            self(key, sorted(seen, key=json.dumps))

    # --- threads ------------------------------------------------------------------------------

    def thread_label(self, thread: threading.Thread | None = None) -> str:
        """A label for `thread` (default: the current one), the same every time it is asked."""
        thread = thread if thread is not None else threading.current_thread()
        if thread is threading.main_thread():
            return "main"
        with self._threads_lock:
            label = self._threads.get(thread)
            if label is None:
                label = self._threads[thread] = f"T{len(self._threads) + 1}"
        return label

    def thread(self, key: str) -> None:
        """Record which thread this code runs on."""
        self(key, self.thread_label())

    def loop_running(self) -> bool:
        """Whether this code runs on a thread with a running event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True


def differs(
    difference: str,
    *,
    original: dict[str, Any],
    ours: dict[str, Any],
    before_python: tuple[int, int] | None = None,
) -> Callable[[_T], _T]:
    """Mark a scenario as showing a documented difference (`difference` is its heading anchor in
    DIFFERENCES.md): for each key, the value each implementation must record; all other records
    must still be equal. `ABSENT` stands for a key that run does not record. With
    `before_python`, the difference exists only on older Pythons; from that version on, the runs
    must be equal."""

    def mark(scenario: _T) -> _T:
        if before_python is not None and sys.version_info >= before_python:
            return scenario
        scenario.difference = {  # type: ignore[attr-defined]
            "id": difference,
            "original": {key: encode(value) for key, value in original.items()},
            "ours": {key: encode(value) for key, value in ours.items()},
        }
        return scenario

    return mark


ABSENT = "<absent>"


def print_record(key: str, value: Any) -> None:
    """How `_run.py` emits a record: one line, flushed at once, so a run that hangs or dies keeps
    what it recorded until then."""
    line = RECORD_PREFIX + json.dumps([key, value], sort_keys=True)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
