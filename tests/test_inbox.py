"""`asgiref._inbox`: arrivals from other threads reach their loop in batches, one wake-up each;
per-loop state is found from the loop's thread and dies with its users."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref

from asgiref._inbox import INBOXES, Inbox, PerLoop


class Arrival:
    def __init__(self, name: str, arrived: list[str]) -> None:
        self.name = name
        self.arrived = arrived

    def arrive(self) -> None:
        self.arrived.append(self.name)


def test_arrivals_delivered_together_ride_one_wake_up_in_order() -> None:
    async def main() -> tuple[list[str], int]:
        loop = asyncio.get_running_loop()
        inbox = INBOXES.of(loop)
        arrived: list[str] = []
        wake_ups = 0
        call_soon_threadsafe = loop.call_soon_threadsafe

        def counting(*args: object) -> asyncio.Handle:
            nonlocal wake_ups
            wake_ups += 1
            return call_soon_threadsafe(*args)  # type: ignore[arg-type]

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign,assignment]
        try:

            def deliver_five() -> None:
                for number in range(5):
                    inbox.deliver(Arrival(str(number), arrived))

            thread = threading.Thread(target=deliver_five)
            thread.start()
            thread.join(10)
            await asyncio.sleep(0)
        finally:
            del loop.call_soon_threadsafe
        return arrived, wake_ups

    arrived, wake_ups = asyncio.run(main())
    assert arrived == ["0", "1", "2", "3", "4"]
    assert wake_ups == 1


def test_delivering_to_a_closed_loop_drops_the_arrival_quietly() -> None:
    loop = asyncio.new_event_loop()
    inbox = Inbox(loop)
    loop.close()
    arrived: list[str] = []
    inbox.deliver(Arrival("late", arrived))
    inbox.deliver(Arrival("later", arrived))  # not stuck behind the first, dropped one
    assert arrived == []


def test_per_loop_state_is_one_per_loop_and_made_again_once_dropped() -> None:
    made: list[asyncio.AbstractEventLoop] = []

    class State:
        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            self.loop = loop
            made.append(loop)

    states = PerLoop(State)
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        held = states.of(first)
        assert states.of(first) is held
        other = states.of(second)
        assert other is not held
        assert other.loop is second
        dropped = weakref.ref(other)
        del other
        gc.collect()
        assert dropped() is None  # the registry does not keep it (nor its loop) alive
        assert states.of(second).loop is second
        assert made == [first, second, second]
    finally:
        first.close()
        second.close()
