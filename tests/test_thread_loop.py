"""`asgiref._thread_loop`: the event loop a sync thread shares among objects bound to one loop."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest
from helpers import run_in_thread

from asgiref._loop_call import LoopGoneError
from asgiref._thread_loop import LoopLease
from asgiref.sync import sync_to_async


async def running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "asgiref-thread-loop" and t.is_alive()]


def test_leases_on_one_thread_share_its_loop_until_the_last_is_released() -> None:
    first, second = LoopLease("first"), LoopLease("second")
    loop = first.run(running_loop)
    assert second.run(running_loop) is loop
    assert first.run(running_loop) is loop  # kept between calls
    assert len(loop_threads()) == 1
    first.release()
    assert not loop.is_closed()  # the second lease still holds it
    second.release()
    assert loop.is_closed()
    assert loop_threads() == []  # released with waiting: the thread has ended


def test_a_lease_after_the_last_release_gets_a_new_loop() -> None:
    lease = LoopLease("lease")
    old = lease.run(running_loop)
    lease.release()
    new = lease.run(running_loop)
    lease.release()
    assert new is not old
    assert old.is_closed()
    assert new.is_closed()


def test_each_thread_has_a_loop_of_its_own() -> None:
    here = LoopLease("here")
    there = LoopLease("there")
    try:
        assert here.run(running_loop) is not run_in_thread(lambda: there.run(running_loop))
    finally:
        here.release()
        there.release()


def test_a_lease_keeps_its_loop_when_used_from_another_thread() -> None:
    lease = LoopLease("lease")
    try:
        loop = lease.run(running_loop)
        assert run_in_thread(lambda: lease.run(running_loop)) is loop
    finally:
        lease.release()


@pytest.mark.asyncio
async def test_inside_sync_to_async_the_awaiting_loop_is_used_and_nothing_is_started() -> None:
    lease = LoopLease("lease")
    assert await sync_to_async(lambda: lease.run(running_loop))() is asyncio.get_running_loop()
    assert loop_threads() == []
    lease.release()


@pytest.mark.asyncio
async def test_from_a_thread_running_an_event_loop_it_refuses_instead_of_blocking_it() -> None:
    lease = LoopLease("async_to_sync_iter()")
    with pytest.raises(RuntimeError, match=r"async_to_sync_iter\(\) cannot be used from a thread"):
        lease.run(running_loop)
    assert lease.loop is None  # nothing was taken


def test_a_release_without_waiting_stops_the_loop_and_leaves_the_thread_to_end() -> None:
    lease = LoopLease("lease")
    loop = lease.run(running_loop)
    thread = loop_threads()[0]
    lease.release(wait=False)
    thread.join(10)
    assert not thread.is_alive()
    assert loop.is_closed()


def test_a_loop_taken_by_a_thread_that_has_ended_lasts_until_its_last_lease_goes() -> None:
    lease = LoopLease("lease")
    loop = run_in_thread(lambda: lease.run(running_loop))  # that thread has ended on return
    gc.collect()
    assert not loop.is_closed()  # the lease, not the thread that took it, holds the loop
    assert lease.run(running_loop) is loop
    lease.release()
    assert loop.is_closed()


def test_a_lease_on_an_awaiting_loop_that_has_ended_says_so() -> None:
    lease = LoopLease("the facade")

    async def main() -> None:
        await sync_to_async(lambda: lease.run(running_loop))()

    asyncio.run(main())
    with pytest.raises(LoopGoneError, match="the event loop the facade ran on has closed"):
        lease.run(running_loop)
    lease.release()
