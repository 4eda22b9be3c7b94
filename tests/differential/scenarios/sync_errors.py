"""Exceptions across sync_to_async / async_to_sync: what arrives, with which traceback, chaining
and sys.exc_info(), including BaseExceptions a bridged function raises itself."""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback
from typing import Any

from _observe import Observer, describe_exception, differs

from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async

# What asyncio itself raises from 3.13 on for a StopIteration set into a future.
STOP_ITERATION_ERROR = {
    "exception": "RuntimeError",
    "message": "StopIteration interacts badly with generators and cannot be raised into a Future",
}

BOUND = 1.0

# Frames of the scenarios' own functions (library frames are left out of traceback records).
OWN_FRAMES = {
    "scn_top",
    "scn_sync_fails",
    "scn_async_fails",
    "scn_sync_middle",
    "scn_async_middle",
    "scn_helper",
}


class AppError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _frames(error: BaseException) -> list[str]:
    return [
        frame.name
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.name in OWN_FRAMES
    ]


def _exc_info_name() -> str | None:
    current = sys.exc_info()[1]
    return None if current is None else f"{type(current).__name__}: {current}"


def scenario_exceptions_propagate_as_the_same_object(obs: Observer) -> None:
    raised: dict[str, BaseException] = {}

    def scn_sync_fails() -> None:
        error = AppError("sync side", 401)
        raised["sync"] = error
        raise error

    async def scn_async_fails() -> None:
        error = AppError("async side", 402)
        raised["async"] = error
        raise error

    try:
        async_to_sync(scn_async_fails)()
    except AppError as error:
        obs("a2s caught", [type(error).__name__, str(error), error.code, error.args])
        obs("a2s same object", error is raised["async"])

    async def scn_top() -> None:
        for mode, sensitive in (("sensitive", True), ("insensitive", False)):
            try:
                await sync_to_async(scn_sync_fails, thread_sensitive=sensitive)()
            except AppError as error:
                obs(
                    f"s2a {mode} caught", [type(error).__name__, str(error), error.code, error.args]
                )
                obs(f"s2a {mode} same object", error is raised["sync"])

    asyncio.run(scn_top())


def scenario_traceback_frames_sync_to_async(obs: Observer) -> None:
    def scn_helper() -> None:
        raise ValueError("deep")

    def scn_sync_fails() -> None:
        scn_helper()

    def scn_sync_middle() -> None:
        async_to_sync(scn_async_middle)()

    async def scn_async_middle() -> None:
        await sync_to_async(scn_sync_fails)()

    async def scn_top() -> None:
        try:
            await sync_to_async(scn_sync_fails)()
        except ValueError as error:
            obs("direct", _frames(error))
        try:
            await sync_to_async(scn_sync_fails, thread_sensitive=False)()
        except ValueError as error:
            obs("insensitive", _frames(error))
        try:
            await sync_to_async(scn_sync_middle)()
        except ValueError as error:
            obs("nested", _frames(error))

    asyncio.run(scn_top())


def scenario_traceback_frames_async_to_sync(obs: Observer) -> None:
    async def scn_helper() -> None:
        raise KeyError("deep")

    async def scn_async_fails() -> None:
        await scn_helper()

    def scn_sync_middle() -> None:
        async_to_sync(scn_async_fails)()

    async def scn_async_middle() -> None:
        await sync_to_async(scn_sync_middle)()

    def scn_top() -> None:
        try:
            async_to_sync(scn_async_fails)()
        except KeyError as error:
            obs("direct", _frames(error))
        try:
            async_to_sync(scn_async_middle)()
        except KeyError as error:
            obs("nested", _frames(error))

    scn_top()


def scenario_exc_info_inside_sync_function(obs: Observer) -> None:
    async def main() -> None:
        obs("outside an except block", await sync_to_async(_exc_info_name)())
        try:
            raise LookupError("being handled")
        except LookupError:
            obs("sensitive", await sync_to_async(_exc_info_name)())
            obs("insensitive", await sync_to_async(_exc_info_name, thread_sensitive=False)())
            obs("caller after", _exc_info_name())

    asyncio.run(main())


def scenario_exc_info_inside_coroutine(obs: Observer) -> None:
    async def coroutine() -> str | None:
        return _exc_info_name()

    obs("outside an except block", async_to_sync(coroutine)())
    try:
        raise LookupError("handled in main")
    except LookupError:
        obs("no loop", async_to_sync(coroutine)())
        obs("caller after", _exc_info_name())

    def in_thread() -> None:
        try:
            raise IndexError("handled in sync thread")
        except IndexError:
            obs("outer loop", async_to_sync(coroutine)())

    async def main() -> None:
        await sync_to_async(in_thread)()

    asyncio.run(main())


def _probe_base_exception_s2a(obs: Observer, name: str, exception: BaseException) -> None:
    def scn_sync_fails() -> None:
        raise exception

    async def main() -> None:
        try:
            await asyncio.wait_for(sync_to_async(scn_sync_fails)(), BOUND)
        except BaseException as error:
            obs(f"{name}: at the await", {"raised": describe_exception(error)})
            obs(f"{name}: same object", error is exception)
        else:
            obs(f"{name}: at the await", "returned")

    try:
        asyncio.run(main())
    except BaseException as error:
        obs(f"{name}: out of asyncio.run", {"raised": describe_exception(error)})
    else:
        obs(f"{name}: out of asyncio.run", "returned")


def _probe_base_exception_a2s(obs: Observer, name: str, exception: BaseException) -> None:
    result: dict[str, Any] = {}

    async def scn_async_fails() -> None:
        raise exception

    def body() -> None:
        try:
            async_to_sync(scn_async_fails)()
        except BaseException as error:
            result["raised"] = describe_exception(error)
            result["same object"] = error is exception
        else:
            result["returned"] = None

    # In a thread of its own, so that a call that never returns is seen (and not waited for).
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    thread.join(BOUND)
    obs(f"{name}: a2s", result if not thread.is_alive() else "still running")


def scenario_keyboard_interrupt_inside(obs: Observer) -> None:
    _probe_base_exception_s2a(obs, "s2a", KeyboardInterrupt("ki"))
    _probe_base_exception_a2s(obs, "a2s", KeyboardInterrupt("ki"))


def scenario_system_exit_inside(obs: Observer) -> None:
    _probe_base_exception_s2a(obs, "s2a", SystemExit(3))
    _probe_base_exception_a2s(obs, "a2s", SystemExit(3))


@differs(
    "SYNC-1",
    original={
        "s2a: at the await": {"raised": {"exception": "TimeoutError", "message": ""}},
        "stderr": ["Traceback (most recent call last)"],
    },
    ours={"s2a: at the await": {"raised": STOP_ITERATION_ERROR}, "stderr": []},
    before_python=(3, 13),
)
def scenario_stop_iteration_inside(obs: Observer) -> None:
    _probe_base_exception_s2a(obs, "s2a", StopIteration("stop"))
    _probe_base_exception_a2s(obs, "a2s", StopIteration("stop"))


def scenario_generator_exit_inside(obs: Observer) -> None:
    _probe_base_exception_s2a(obs, "s2a", GeneratorExit("bye"))
    _probe_base_exception_a2s(obs, "a2s", GeneratorExit("bye"))


def scenario_cause_and_context_chaining(obs: Observer) -> None:
    def chained(kind: str) -> None:
        try:
            raise KeyError("original")
        except KeyError as error:
            if kind == "from":
                raise ValueError("explicit") from error
            if kind == "from None":
                raise ValueError("suppressed") from None
            raise ValueError("implicit")  # noqa: B904 - the implicit __context__ is the point

    async def achained(kind: str) -> None:
        chained(kind)

    def describe(error: BaseException) -> list[Any]:
        return [
            None if error.__cause__ is None else describe_exception(error.__cause__),
            None if error.__context__ is None else describe_exception(error.__context__),
            error.__suppress_context__,
        ]

    for kind in ("from", "from None", "implicit"):
        try:
            async_to_sync(achained)(kind)
        except ValueError as error:
            obs(f"a2s {kind}", describe(error))

    try:
        raise RuntimeError("caller handling")
    except RuntimeError:
        try:
            async_to_sync(achained)("from None")
        except ValueError as error:
            obs("a2s raised inside caller's except", describe(error))

    async def main() -> None:
        for kind in ("from", "from None", "implicit"):
            try:
                await sync_to_async(chained)(kind)
            except ValueError as error:
                obs(f"s2a {kind}", describe(error))
        try:
            raise RuntimeError("caller handling")
        except RuntimeError:
            try:
                await sync_to_async(chained)("from None")
            except ValueError as error:
                obs("s2a raised inside caller's except", describe(error))

    asyncio.run(main())


def scenario_exception_inside_thread_sensitive_context(obs: Observer) -> None:
    def fails() -> None:
        raise AppError("in context", 500)

    async def main() -> None:
        try:
            async with ThreadSensitiveContext():
                await sync_to_async(fails)()
        except AppError as error:
            obs("escaped the context", [str(error), error.code])
        async with ThreadSensitiveContext():
            obs("next context works", await sync_to_async(lambda: "ok")())
        try:
            async with ThreadSensitiveContext():
                raise AppError("raised by the block", 501)
        except AppError as error:
            obs("block's own exception", [str(error), error.code])

    asyncio.run(main())
