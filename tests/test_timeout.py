"""Tests for asgiref.timeout: expiry, `remaining`, reuse, outside cancellation, misuse, warnings.

Nothing here measures elapsed time. A block that must time out waits on an event nobody sets,
under a tiny timeout; a block that must not time out finishes without waiting, under a generous
one. Where the passing of time itself is the subject (`remaining`, which deadline is pending), the
running loop's clock is replaced by one the test moves by hand. A hang fails by the per-test
timeout that pyproject sets.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal, TypeVar

import pytest
import pytest_asyncio

import asgiref.timeout as timeout_module
from asgiref.timeout import timeout

_T = TypeVar("_T")

Mode = Literal["with", "async with"]
MODES: list[Mode] = ["with", "async with"]

TINY = 0.01
GENEROUS = 30.0

DEPRECATED = r"^asgiref\.timeout\.timeout is deprecated\. Use asyncio\.timeout\(\) instead\.$"
LOOP_DEPRECATED = r"^The loop argument to timeout\(\) is deprecated\.$"
NOT_IN_TASK = r"^Timeout context manager should be used inside a task$"

only_311 = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="Task.cancelling() and asyncio.timeout are 3.11+"
)


def new_timeout(delay: float | None) -> timeout:
    """A `timeout`, expecting the deprecation warning where Python has `asyncio.timeout`."""
    if sys.version_info >= (3, 11):
        with pytest.warns(DeprecationWarning, match=DEPRECATED):
            return timeout(delay)
    else:
        return timeout(delay)


def new_timeout_with_loop(delay: float, loop: asyncio.AbstractEventLoop) -> timeout:
    """A `timeout` given a `loop`, expecting the loop argument's deprecation warning too."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = timeout(delay, loop=loop)
    messages = [str(warning.message) for warning in record]
    assert messages[-1] == "The loop argument to timeout() is deprecated."
    assert len(messages) == (2 if sys.version_info >= (3, 11) else 1)
    return result


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


class HandClock:
    """The running loop's clock, moved only by `advance`; timers fire when it passes them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.now = loop.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest_asyncio.fixture
async def clock() -> AsyncIterator[HandClock]:
    loop = asyncio.get_running_loop()
    hand = HandClock(loop)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "time", hand.time)
        yield hand


# --- expiry ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_block_that_overruns_times_out(mode: Mode) -> None:
    deadline = new_timeout(TINY)
    with pytest.raises(asyncio.TimeoutError) as excinfo:
        await run_block(mode, deadline, wait_forever)
    assert deadline.expired is True
    assert deadline.remaining == 0.0
    # Raised while the CancelledError was being handled, not "from" it (as asgiref 3.13 does).
    error = excinfo.value
    assert isinstance(error.__context__, asyncio.CancelledError)
    assert (error.__cause__, error.__suppress_context__, error.args) == (None, False, ())


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODES)
async def test_block_that_finishes_in_time_is_left_alone(mode: Mode) -> None:
    deadline = new_timeout(GENEROUS)
    assert await run_block(mode, deadline, finish_at_once) == "done"
    assert deadline.expired is False


@pytest.mark.asyncio
@only_311
async def test_timeout_error_is_the_builtin_and_the_cancellation_is_taken_back() -> None:
    with pytest.raises(TimeoutError), new_timeout(TINY):
        await wait_forever()
    assert cancel_count() == 0  # asgiref 3.13 leaves it at 1


@pytest.mark.asyncio
@pytest.mark.parametrize("delay", [0, -1.0])
async def test_deadline_already_past_times_out_at_the_first_wait(delay: float) -> None:
    deadline = new_timeout(delay)
    with pytest.raises(asyncio.TimeoutError):
        async with deadline:
            await asyncio.sleep(0)  # the cancellation is queued ahead of the task's wake-up
    assert deadline.expired is True


@pytest.mark.asyncio
async def test_deadline_already_past_needs_a_wait_to_time_out() -> None:
    deadline = new_timeout(0)
    async with deadline:
        pass
    assert deadline.expired is False
    await asyncio.sleep(0)  # the pending cancellation was withdrawn on the way out
    assert deadline.expired is False


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
async def test_remaining_counts_down_from_entry_and_goes_on_after_the_block(
    clock: HandClock,
) -> None:
    deadline = new_timeout(10.0)
    before = deadline.remaining
    assert before is None  # nothing to count until the block starts
    async with deadline:
        assert deadline.remaining == 10.0
        clock.advance(4.0)
        assert deadline.remaining == 6.0
    clock.advance(2.0)
    assert deadline.remaining == 4.0  # the deadline of the last entry, still counting
    clock.advance(100.0)
    assert deadline.remaining == 0.0
    assert deadline.expired is False


@pytest.mark.asyncio
@pytest.mark.parametrize("delay", [0, -1.0, None])
async def test_remaining_is_none_without_a_deadline_time(delay: float | None) -> None:
    deadline = new_timeout(delay)
    with contextlib.suppress(asyncio.TimeoutError):
        async with deadline:
            assert deadline.remaining is None
            await asyncio.sleep(0)
    assert deadline.remaining is None


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


# --- entering the same timeout again --------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_timeout_can_be_entered_again_with_a_fresh_deadline(clock: HandClock) -> None:
    deadline = new_timeout(10.0)
    async with deadline:
        clock.advance(8.0)
    async with deadline:
        assert deadline.remaining == 10.0
    assert deadline.expired is False


@pytest.mark.asyncio
async def test_a_timeout_can_expire_again_and_stays_expired() -> None:
    deadline = new_timeout(TINY)
    for _ in range(2):
        with pytest.raises(asyncio.TimeoutError):
            async with deadline:
                await wait_forever()
    async with deadline:
        assert deadline.expired is True  # it did expire once; entering again does not reset it
    if sys.version_info >= (3, 11):
        assert cancel_count() == 0


@pytest.mark.asyncio
async def test_entering_inside_itself_replaces_the_pending_deadline(clock: HandClock) -> None:
    deadline = new_timeout(1.0)
    async with deadline:
        async with deadline:
            pass
        # The second entry replaced the first deadline and leaving it withdrew the replacement,
        # so moving past both deadlines cancels nothing.
        clock.advance(5.0)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert deadline.expired is False


@pytest.mark.asyncio
async def test_a_hand_moved_clock_does_fire_a_pending_deadline(clock: HandClock) -> None:
    # The counterpart of the test above: the same clock moves make a plain deadline fire.
    deadline = new_timeout(1.0)

    async def body() -> None:
        clock.advance(5.0)
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    with pytest.raises(asyncio.TimeoutError):
        await run_block("async with", deadline, body)
    assert deadline.expired is True


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
    # A zero delay cancels at the loop's next turn; the outside cancel is queued for the same
    # turn, so both land before the task resumes. The count shows the outside request is still
    # outstanding, so the task is cancelled, not timed out (asgiref 3.13 reports a timeout and
    # the outside request is lost).
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
async def test_outside_cancellation_after_an_earlier_expiry_is_not_a_timeout() -> None:
    # `expired` stays true once a deadline passed; that alone must not turn a later, outside
    # cancellation into a timeout (asgiref 3.13 does).
    deadline = new_timeout(TINY)
    with pytest.raises(asyncio.TimeoutError):
        async with deadline:
            await wait_forever()
    entered = asyncio.Event()

    async def victim() -> None:
        with deadline:
            entered.set()
            await wait_forever()

    task = asyncio.create_task(victim())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled() is True


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


def test_making_one_without_a_running_loop_raises() -> None:
    with pytest.raises(RuntimeError, match=r"^no running event loop$") as excinfo:
        new_timeout(GENEROUS)
    assert type(excinfo.value) is RuntimeError


def test_entering_without_a_running_loop_raises() -> None:
    loop = asyncio.new_event_loop()
    try:
        deadline = new_timeout_with_loop(GENEROUS, loop)
        with pytest.raises(RuntimeError, match=NOT_IN_TASK), deadline:
            pass  # pragma: no cover - never entered
    finally:
        loop.close()


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
    assert type(error) is RuntimeError
    assert str(error) == "Timeout context manager should be used inside a task"


@pytest.mark.asyncio
async def test_entering_in_a_task_of_another_loop_raises() -> None:
    # The timeout belongs to the loop it was made in (or was given).
    other = asyncio.new_event_loop()
    try:
        deadline = new_timeout_with_loop(GENEROUS, other)
        with pytest.raises(RuntimeError, match=NOT_IN_TASK):
            async with deadline:
                pass  # pragma: no cover - never entered
    finally:
        other.close()


@pytest.mark.asyncio
async def test_loop_argument_naming_the_running_loop_is_accepted() -> None:
    deadline = new_timeout_with_loop(TINY, asyncio.get_running_loop())
    with pytest.raises(asyncio.TimeoutError):
        async with deadline:
            await wait_forever()


@pytest.mark.asyncio
async def test_a_timeout_can_be_entered_by_another_task_of_its_loop() -> None:
    deadline = new_timeout(GENEROUS)
    async with deadline:
        pass

    async def other() -> bool:
        async with deadline:
            return deadline.remaining is not None

    assert await asyncio.create_task(other()) is True


# --- deprecation ----------------------------------------------------------------------------------


@only_311
@pytest.mark.asyncio
async def test_deprecation_warning_is_attributed_to_the_caller() -> None:
    with pytest.warns(DeprecationWarning, match=DEPRECATED) as record:
        timeout(1.0)
    assert len(record) == 1
    assert record[0].filename == __file__


@pytest.mark.asyncio
async def test_loop_warning_is_attributed_to_asgiref() -> None:
    # As in asgiref 3.13; so the default filters (which show DeprecationWarning for __main__
    # only) keep it quiet.
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        timeout(1.0, loop=asyncio.get_running_loop())
    loop_warnings = [w for w in record if "loop argument" in str(w.message)]
    assert [(w.category, w.filename) for w in loop_warnings] == [
        (DeprecationWarning, timeout_module.__file__)
    ]


@pytest.mark.skipif(sys.version_info >= (3, 11), reason="deprecated where asyncio.timeout exists")
@pytest.mark.asyncio
async def test_no_deprecation_warning_before_asyncio_timeout_existed() -> None:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        timeout(1.0)
    assert record == []


def test_public_names() -> None:
    assert timeout_module.__all__ == ["timeout"]
