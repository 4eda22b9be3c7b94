"""Tests for asgiref.timeout: expiry, outside cancellation, nesting, and the deprecation.

Nothing here measures elapsed time. A block that must time out waits on an event nobody sets,
under a tiny timeout; a block that must not time out finishes without waiting, under a generous
one. A hang fails by the per-test timeout that pyproject sets.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import warnings
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import pytest

import asgiref.timeout as timeout_module
from asgiref.timeout import (
    TimeoutLoopMismatchError,
    TimeoutNotInTaskError,
    TimeoutReusedError,
    timeout,
)

_T = TypeVar("_T")

Mode = Literal["with", "async with"]
MODES: list[Mode] = ["with", "async with"]

TINY = 0.01
GENEROUS = 30.0

only_311 = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="Task.cancelling() and asyncio.timeout are 3.11+"
)


def new_timeout(delay: float | None) -> timeout:
    """A `timeout`, expecting the deprecation warning where Python has `asyncio.timeout`."""
    if sys.version_info >= (3, 11):
        with pytest.warns(DeprecationWarning, match=r"asyncio\.timeout\(\)"):
            return timeout(delay)
    else:
        return timeout(delay)


async def run_block(mode: Mode, deadline: timeout, body: Callable[[], Awaitable[_T]]) -> _T:
    """Run `body` inside `deadline`, entered with ``with`` or ``async with``."""
    if mode == "with":
        with deadline:
            return await body()
    async with deadline:
        return await body()


async def wait_forever() -> None:
    await asyncio.Event().wait()


async def finish_at_once() -> str:
    return "done"


def cancel_count() -> int:
    """How many cancellations of the current task are outstanding (3.11+)."""
    if sys.version_info >= (3, 11):
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()
    else:
        return 0  # pragma: no cover - only called on 3.11+


# --- expiry ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_block_that_overruns_times_out(mode: Mode) -> None:
    deadline = new_timeout(TINY)
    with pytest.raises(asyncio.TimeoutError) as excinfo:
        await run_block(mode, deadline, wait_forever)
    assert deadline.expired is True
    assert deadline.remaining == 0.0
    assert isinstance(excinfo.value.__cause__, asyncio.CancelledError)


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_block_that_finishes_in_time_is_left_alone(mode: Mode) -> None:
    deadline = new_timeout(GENEROUS)
    assert await run_block(mode, deadline, finish_at_once) == "done"
    assert deadline.expired is False


@pytest.mark.asyncio
@only_311
async def test_timeout_error_is_the_builtin() -> None:
    with pytest.raises(TimeoutError), new_timeout(TINY):
        await wait_forever()
    assert cancel_count() == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("delay", [0, -1.0])
async def test_deadline_already_past_times_out_at_the_first_wait(delay: float) -> None:
    deadline = new_timeout(delay)
    with pytest.raises(asyncio.TimeoutError):
        async with deadline:
            await wait_forever()
    assert deadline.expired is True


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_none_means_no_deadline(mode: Mode) -> None:
    deadline = new_timeout(None)
    assert deadline.remaining is None
    released = asyncio.Event()

    async def body() -> str:
        assert deadline.remaining is None
        asyncio.get_running_loop().call_soon(released.set)
        await released.wait()
        return "done"

    assert await run_block(mode, deadline, body) == "done"
    assert deadline.expired is False
    assert deadline.remaining is None


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_other_errors_pass_through_unchanged(mode: Mode) -> None:
    deadline = new_timeout(GENEROUS)

    async def body() -> None:
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        await run_block(mode, deadline, body)
    assert deadline.expired is False


@pytest.mark.asyncio
async def test_block_that_swallows_the_cancellation_ends_normally() -> None:
    deadline = new_timeout(TINY)
    swallowed = False
    with deadline:
        try:
            await wait_forever()
        except asyncio.CancelledError:
            swallowed = True
    assert swallowed is True
    assert deadline.expired is True
    if sys.version_info >= (3, 11):
        assert cancel_count() == 0


# --- remaining ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_remaining_before_during_and_after() -> None:
    deadline = new_timeout(GENEROUS)
    assert deadline.remaining == GENEROUS
    async with deadline:
        inside = deadline.remaining
        assert inside is not None
        assert 0.0 < inside <= GENEROUS
    after = deadline.remaining
    assert after is not None
    assert 0.0 < after <= inside
    await asyncio.sleep(0)
    assert deadline.remaining == after  # frozen once the block has ended


@pytest.mark.asyncio
async def test_remaining_is_zero_inside_once_expired() -> None:
    deadline = new_timeout(TINY)
    seen: list[float | None] = []

    async def body() -> None:
        try:
            await wait_forever()
        finally:
            seen.append(deadline.remaining)

    with pytest.raises(asyncio.TimeoutError):
        await run_block("async with", deadline, body)
    assert seen == [0.0]


# --- nesting --------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_inner_expiry_leaves_the_outer_block_running(mode: Mode) -> None:
    outer, inner = new_timeout(GENEROUS), new_timeout(TINY)

    async def outer_body() -> str:
        with pytest.raises(asyncio.TimeoutError):
            await run_block(mode, inner, wait_forever)
        await asyncio.sleep(0)  # the outer block is not cancelled: it can still wait
        return "outer done"

    assert await run_block(mode, outer, outer_body) == "outer done"
    assert inner.expired is True
    assert outer.expired is False
    if sys.version_info >= (3, 11):
        assert cancel_count() == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_outer_expiry_passes_through_the_inner_block_as_cancellation(mode: Mode) -> None:
    outer, inner = new_timeout(TINY), new_timeout(GENEROUS)
    left_inner: list[type[BaseException]] = []

    async def outer_body() -> None:
        try:
            await run_block(mode, inner, wait_forever)
        except BaseException as error:
            left_inner.append(type(error))
            raise

    with pytest.raises(asyncio.TimeoutError):
        await run_block(mode, outer, outer_body)
    assert left_inner == [asyncio.CancelledError]
    assert inner.expired is False
    assert outer.expired is True
    if sys.version_info >= (3, 11):
        assert cancel_count() == 0


# --- cancellation from outside --------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_outside_cancellation_is_not_a_timeout(mode: Mode) -> None:
    deadline = new_timeout(GENEROUS)
    entered = asyncio.Event()
    counts: list[int] = []

    async def body() -> None:
        entered.set()
        await wait_forever()

    async def victim() -> None:
        try:
            await run_block(mode, deadline, body)
        except asyncio.CancelledError:
            counts.append(cancel_count())
            raise

    task = asyncio.create_task(victim())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled() is True
    assert deadline.expired is False
    if sys.version_info >= (3, 11):
        assert counts == [1]  # the outside request only


@pytest.mark.asyncio
@only_311
@pytest.mark.parametrize("mode", MODES)
async def test_outside_cancellation_racing_the_deadline_wins(mode: Mode) -> None:
    # A past deadline fires on the loop's next iteration; the outside cancel is queued for the
    # same iteration, so both land before the task resumes. The count shows the outside request
    # is still outstanding, so the task is cancelled, not timed out.
    deadline = new_timeout(0)
    counts: list[int] = []

    async def body() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().call_soon(task.cancel)
        await wait_forever()

    async def victim() -> None:
        try:
            await run_block(mode, deadline, body)
        except asyncio.CancelledError:
            counts.append(cancel_count())
            raise

    task = asyncio.create_task(victim())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert deadline.expired is True
    assert counts == [1]


@pytest.mark.asyncio
@only_311
async def test_timeout_in_a_task_already_asked_to_cancel() -> None:
    # A task already asked to cancel (and ignoring it for now) still times out, and keeps that
    # one earlier request: only requests made while inside the block count against a timeout.
    if sys.version_info >= (3, 11):
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0)
        assert task.cancelling() == 1
        deadline = new_timeout(TINY)
        with pytest.raises(asyncio.TimeoutError):
            await run_block("async with", deadline, wait_forever)
        assert deadline.expired is True
        assert task.cancelling() == 1
        task.uncancel()


# --- misuse ---------------------------------------------------------------------------------------


def test_entering_without_a_running_loop_raises() -> None:
    deadline = new_timeout(GENEROUS)
    with pytest.raises(TimeoutNotInTaskError, match="no event loop running"), deadline:
        pass  # pragma: no cover - never entered
    assert issubclass(TimeoutNotInTaskError, RuntimeError)


@pytest.mark.asyncio
async def test_entering_in_a_loop_callback_raises() -> None:
    deadline = new_timeout(GENEROUS)
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[BaseException | None] = loop.create_future()

    def callback() -> None:
        try:
            with deadline:
                pass
        except BaseException as error:
            outcome.set_result(error)
        else:
            outcome.set_result(None)

    loop.call_soon(callback)
    error = await outcome
    assert isinstance(error, TimeoutNotInTaskError)
    assert "outside an asyncio task" in str(error)


@pytest.mark.asyncio
async def test_a_timeout_can_be_entered_only_once() -> None:
    deadline = new_timeout(GENEROUS)
    async with deadline:
        pass
    with pytest.raises(TimeoutReusedError, match=r"create a new timeout\(\.\.\.\)"):
        async with deadline:
            pass  # pragma: no cover - never entered
    assert issubclass(TimeoutReusedError, RuntimeError)


def new_timeout_with_loop(delay: float, loop: asyncio.AbstractEventLoop) -> timeout:
    """A `timeout` given a `loop`, expecting the loop argument's deprecation warning."""
    with pytest.warns(DeprecationWarning, match=r"loop argument|asyncio\.timeout\(\)") as record:
        result = timeout(delay, loop=loop)
    messages = [str(warning.message) for warning in record]
    assert any("loop argument" in message for message in messages)
    assert len(messages) == (2 if sys.version_info >= (3, 11) else 1)
    return result


@pytest.mark.asyncio
async def test_loop_argument_naming_the_running_loop_is_accepted() -> None:
    deadline = new_timeout_with_loop(TINY, asyncio.get_running_loop())
    with pytest.raises(asyncio.TimeoutError):
        async with deadline:
            await wait_forever()


@pytest.mark.asyncio
async def test_loop_argument_naming_another_loop_is_refused() -> None:
    other = asyncio.new_event_loop()
    try:
        deadline = new_timeout_with_loop(GENEROUS, other)
        with pytest.raises(TimeoutLoopMismatchError, match="leave out the loop argument"):
            async with deadline:
                pass  # pragma: no cover - never entered
    finally:
        other.close()
    assert issubclass(TimeoutLoopMismatchError, RuntimeError)


# --- deprecation ----------------------------------------------------------------------------------


@only_311
def test_deprecation_warning_names_asyncio_timeout_and_the_caller() -> None:
    with pytest.warns(DeprecationWarning, match=r"asyncio\.timeout\(\)") as record:
        timeout(1.0)
    assert len(record) == 1
    message = str(record[0].message)
    assert "asgiref.timeout.timeout is deprecated" in message
    assert "asyncio.timeout()" in message
    assert record[0].filename == __file__


@pytest.mark.skipif(sys.version_info >= (3, 11), reason="deprecated where asyncio.timeout exists")
def test_no_deprecation_warning_before_asyncio_timeout_existed() -> None:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        timeout(1.0)
    assert record == []


def test_public_names() -> None:
    assert sorted(timeout_module.__all__) == [
        "TimeoutLoopMismatchError",
        "TimeoutNotInTaskError",
        "TimeoutReusedError",
        "timeout",
    ]
