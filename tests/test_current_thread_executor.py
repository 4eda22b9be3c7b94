"""Tests for asgiref.current_thread_executor: work runs on the creating thread while it waits.

Threads are coordinated with futures and events, never with sleeps or elapsed times; a deadlock
fails by the per-test timeout (pyproject sets one) instead of hanging the suite.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

import pytest

from asgiref.current_thread_executor import CurrentThreadExecutor

_T = TypeVar("_T")

# asgiref 3.13's messages, whole.
OWN_THREAD = "^You cannot submit onto CurrentThreadExecutor from its own thread$"
ALREADY_QUIT = "^CurrentThreadExecutor already quit or is broken$"


def start_thread(fn: Callable[[], _T]) -> tuple[threading.Thread, Future[_T]]:
    """Start `fn` in a new thread; its outcome arrives in the returned future."""
    outcome: Future[_T] = Future()

    def target() -> None:
        try:
            outcome.set_result(fn())
        except BaseException as error:
            outcome.set_exception(error)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def finish(thread: threading.Thread, outcome: Future[_T]) -> _T:
    """Join a thread from `start_thread` and return its result or raise its exception."""
    thread.join(30)
    assert not thread.is_alive(), "the thread did not finish"
    return outcome.result(timeout=0)


def run_in_thread(fn: Callable[[], _T]) -> _T:
    """Run `fn` in a new thread and return its result or raise its exception."""
    thread, outcome = start_thread(fn)
    return finish(thread, outcome)


def wait_until_serving(executor: CurrentThreadExecutor) -> None:
    """Block until `executor`'s thread is inside `run_until_future` and has run a probe item."""
    executor.submit(lambda: None).result(timeout=30)


def serve_while(executor: CurrentThreadExecutor, client: Callable[[], _T]) -> _T:
    """Run `client` in another thread while this thread serves `executor`, until it returns."""
    done: Future[None] = Future()

    def wrapped() -> _T:
        try:
            return client()
        finally:
            done.set_result(None)

    thread, outcome = start_thread(wrapped)
    executor.run_until_future(done)
    return finish(thread, outcome)


def test_is_an_executor_of_the_creating_thread() -> None:
    executor = CurrentThreadExecutor(None)
    assert isinstance(executor, Executor)
    assert executor.thread is threading.current_thread()
    assert (
        run_in_thread(lambda: CurrentThreadExecutor(None)).thread is not threading.current_thread()
    )


def test_old_executor_is_a_required_argument_as_in_asgiref() -> None:
    with pytest.raises(TypeError, match=r"missing 1 required positional argument: .old_executor."):
        CurrentThreadExecutor()  # type: ignore[call-arg]


def test_work_runs_on_the_creating_thread_in_submission_order() -> None:
    executor = CurrentThreadExecutor(None)
    ran: list[tuple[int, threading.Thread]] = []

    def work(number: int) -> int:
        ran.append((number, threading.current_thread()))
        return number * 10

    def client() -> list[int]:
        wait_until_serving(executor)
        futures = [executor.submit(work, number) for number in range(20)]
        return [future.result(timeout=30) for future in futures]

    assert serve_while(executor, client) == [number * 10 for number in range(20)]
    assert ran == [(number, threading.current_thread()) for number in range(20)]


def test_submit_passes_arguments_and_keyword_arguments() -> None:
    executor = CurrentThreadExecutor(None)

    def client() -> tuple[Any, ...]:
        wait_until_serving(executor)
        return executor.submit(lambda *a, **k: (a, k), 1, 2, fn="fn", key="value").result(30)

    assert serve_while(executor, client) == ((1, 2), {"fn": "fn", "key": "value"})


def test_exceptions_come_back_through_the_future() -> None:
    executor = CurrentThreadExecutor(None)
    error = ValueError("it broke on the executor's thread")

    def fail() -> None:
        raise error

    def client() -> tuple[BaseException | None, int]:
        wait_until_serving(executor)
        failing = executor.submit(fail)
        with pytest.raises(ValueError, match="it broke on the executor's thread"):
            failing.result(timeout=30)
        # A failure does not stop the executor from serving the next item.
        return failing.exception(timeout=0), executor.submit(int, "7").result(timeout=30)

    assert serve_while(executor, client) == (error, 7)


def test_base_exceptions_come_back_without_stopping_the_executor() -> None:
    executor = CurrentThreadExecutor(None)

    def interrupt() -> None:
        raise KeyboardInterrupt("from work")

    def client() -> str:
        wait_until_serving(executor)
        future = executor.submit(interrupt)
        with pytest.raises(KeyboardInterrupt, match="from work"):
            future.result(timeout=30)
        return executor.submit(str, "still serving").result(timeout=30)

    assert serve_while(executor, client) == "still serving"


def test_submit_from_its_own_thread_raises() -> None:
    executor = CurrentThreadExecutor(None)
    with pytest.raises(RuntimeError, match=OWN_THREAD):
        executor.submit(print, "never")

    # Also while serving: work running on the executor's thread may not submit more to it.
    def nested_submit() -> None:
        executor.submit(print, "never")

    def client() -> None:
        wait_until_serving(executor)
        with pytest.raises(RuntimeError, match=OWN_THREAD):
            executor.submit(nested_submit).result(timeout=30)

    serve_while(executor, client)


def test_submit_after_serving_ended_raises() -> None:
    executor = CurrentThreadExecutor(None)
    serve_while(executor, lambda: wait_until_serving(executor))

    def late_submit() -> None:
        executor.submit(print, "never")

    with pytest.raises(RuntimeError, match=ALREADY_QUIT):
        run_in_thread(late_submit)


def test_submit_after_serving_an_already_done_future_raises() -> None:
    executor = CurrentThreadExecutor(None)
    done: Future[None] = Future()
    done.set_result(None)
    executor.run_until_future(done)
    with pytest.raises(RuntimeError, match=ALREADY_QUIT):
        run_in_thread(lambda: executor.submit(print, "never"))


def test_work_submitted_before_serving_starts_runs_once_serving() -> None:
    executor = CurrentThreadExecutor(None)
    ran: list[int] = []
    # Submitted (and the submitting thread gone) before this thread ever serves: asgiref queues
    # such work, and it runs, in order, once run_until_future starts.
    early = run_in_thread(lambda: [executor.submit(ran.append, n) for n in range(3)])
    last = run_in_thread(lambda: executor.submit(threading.current_thread))
    executor.run_until_future(last)
    assert ran == [0, 1, 2]
    assert [future.result(timeout=0) for future in early] == [None, None, None]
    assert last.result(timeout=0) is threading.current_thread()


def occupy(executor: CurrentThreadExecutor) -> tuple[Future[None], threading.Event]:
    """Submit an item that keeps the executor's thread busy until the returned event is set.

    Returns once the item is running, so what is submitted next queues up behind it.
    """
    started, release = threading.Event(), threading.Event()

    def block() -> None:
        started.set()
        release.wait(30)

    blocker = executor.submit(block)
    started.wait(30)
    return blocker, release


def test_work_accepted_before_the_future_is_done_still_runs() -> None:
    executor = CurrentThreadExecutor(None)
    done: Future[None] = Future()
    ran: list[threading.Thread] = []

    def client() -> Future[None]:
        wait_until_serving(executor)
        _blocker, release = occupy(executor)
        accepted = executor.submit(lambda: ran.append(threading.current_thread()))
        # The future is done while the accepted item still waits in the queue.
        done.set_result(None)
        release.set()
        return accepted

    thread, outcome = start_thread(client)
    executor.run_until_future(done)
    # Serving returned, so everything it accepted has already run, on this thread.
    assert ran == [threading.current_thread()]
    accepted = finish(thread, outcome)
    assert accepted.result(timeout=0) is None


def test_cancelled_work_does_not_run() -> None:
    executor = CurrentThreadExecutor(None)
    ran: list[str] = []

    def client() -> tuple[bool, list[str]]:
        wait_until_serving(executor)
        _blocker, release = occupy(executor)
        doomed = executor.submit(ran.append, "cancelled")
        cancelled = doomed.cancel()
        release.set()
        executor.submit(ran.append, "next").result(timeout=30)
        return cancelled, ran

    assert serve_while(executor, client) == (True, ["next"])


def test_old_executor_takes_work_when_the_new_one_quit() -> None:
    old = CurrentThreadExecutor(None)

    def make_new() -> CurrentThreadExecutor:
        new = CurrentThreadExecutor(old_executor=old)
        done: Future[None] = Future()
        done.set_result(None)
        new.run_until_future(done)
        return new

    new = run_in_thread(make_new)

    def client() -> threading.Thread:
        wait_until_serving(old)
        return new.submit(threading.current_thread).result(timeout=30)

    # The new executor's thread has quit; its work goes to the old one, served by this thread.
    assert serve_while(old, client) is threading.current_thread()
    # Once neither serves, submitting fails.
    with pytest.raises(RuntimeError, match=ALREADY_QUIT):
        run_in_thread(lambda: new.submit(print, "never"))


def test_old_executor_is_not_used_while_the_new_one_serves() -> None:
    old = CurrentThreadExecutor(None)
    new_ready: Future[CurrentThreadExecutor] = Future()
    release_new: Future[None] = Future()

    def serve_new() -> None:
        new = CurrentThreadExecutor(old_executor=old)
        new_ready.set_result(new)
        new.run_until_future(release_new)

    new_thread, new_outcome = start_thread(serve_new)
    new = new_ready.result(timeout=30)

    def client() -> tuple[threading.Thread, threading.Thread]:
        wait_until_serving(new)
        try:
            return new.submit(threading.current_thread).result(timeout=30), new_thread
        finally:
            release_new.set_result(None)

    ran_on, expected = serve_while(old, client)
    finish(new_thread, new_outcome)
    assert ran_on is expected


def test_run_until_future_from_another_thread_raises() -> None:
    executor = CurrentThreadExecutor(None)
    future: Future[None] = Future()
    future.set_result(None)
    with pytest.raises(
        RuntimeError, match=r"^You cannot run CurrentThreadExecutor from a different thread$"
    ):
        run_in_thread(lambda: executor.run_until_future(future))
    # The refused call changed nothing: the executor's own thread can still serve it.

    def client() -> int:
        wait_until_serving(executor)
        return executor.submit(int, "3").result(timeout=30)

    assert serve_while(executor, client) == 3


def test_nested_run_until_future_on_the_same_thread() -> None:
    executor = CurrentThreadExecutor(None)
    order: list[str] = []

    def inner_work() -> str:
        order.append("inner work")
        return threading.current_thread().name

    def outer_work() -> str:
        order.append("outer work starts")
        inner_done: Future[str] = Future()

        def inner_client() -> None:
            # The executor is already serving (the outer level), so this is accepted at once.
            inner_done.set_result(executor.submit(inner_work).result(timeout=30))

        thread, outcome = start_thread(inner_client)
        executor.run_until_future(inner_done)
        finish(thread, outcome)
        order.append("outer work ends")
        return inner_done.result(timeout=0)

    def after_nesting() -> str:
        order.append("after nesting")
        return threading.current_thread().name

    def client() -> tuple[str, str]:
        wait_until_serving(executor)
        inner_thread_name = executor.submit(outer_work).result(timeout=30)
        # Leaving the nested level must not stop the outer one from serving.
        return inner_thread_name, executor.submit(after_nesting).result(timeout=30)

    me = threading.current_thread().name
    assert serve_while(executor, client) == (me, me)
    assert order == ["outer work starts", "inner work", "outer work ends", "after nesting"]
    with pytest.raises(RuntimeError, match=ALREADY_QUIT):
        run_in_thread(lambda: executor.submit(print, "never"))


def test_many_clients_all_get_their_results() -> None:
    executor = CurrentThreadExecutor(None)
    client_count, per_client = 8, 50
    barrier = threading.Barrier(client_count)
    ran_on: set[threading.Thread] = set()

    def work(client: int, number: int) -> tuple[int, int]:
        ran_on.add(threading.current_thread())
        return client, number

    def one_client(client: int) -> list[tuple[int, int]]:
        barrier.wait(30)
        futures = [executor.submit(work, client, number) for number in range(per_client)]
        return [future.result(timeout=30) for future in futures]

    def clients() -> list[list[tuple[int, int]]]:
        wait_until_serving(executor)
        started = [start_thread(functools.partial(one_client, c)) for c in range(client_count)]
        return [finish(thread, outcome) for thread, outcome in started]

    results = serve_while(executor, clients)
    assert results == [[(c, n) for n in range(per_client)] for c in range(client_count)]
    assert ran_on == {threading.current_thread()}
