"""Tests for asgiref._workers.WorkerPool: the bounded threads WsgiToAsgi runs requests on."""

from __future__ import annotations

import threading

import pytest

from asgiref._workers import WorkerPool

WAIT = 10.0


def test_runs_up_to_max_workers_items_at_once_and_queues_the_rest() -> None:
    pool = WorkerPool(2, "test-pool")
    barrier = threading.Barrier(2, timeout=WAIT)
    release = threading.Event()
    done: list[int] = []
    all_done = threading.Event()

    def item(number: int) -> None:
        if number < 2:
            barrier.wait()  # the first two run at the same time
            release.wait(WAIT)
        done.append(number)
        if len(done) == 5:
            all_done.set()

    for number in range(5):
        assert pool.post(lambda number=number: item(number))  # type: ignore[misc]
    assert pool.thread_count() == 2  # items beyond max_workers wait instead of adding threads
    release.set()
    assert all_done.wait(WAIT)
    assert sorted(done) == [0, 1, 2, 3, 4]
    pool.shutdown()
    assert pool.thread_count() == 0


def test_an_idle_worker_takes_the_next_item_instead_of_a_new_thread() -> None:
    pool = WorkerPool(4, "test-pool")
    names: list[str] = []
    for _ in range(20):
        finished = threading.Event()

        def item(finished: threading.Event = finished) -> None:
            names.append(threading.current_thread().name)
            finished.set()

        pool.post(item)
        assert finished.wait(WAIT)
    assert len(set(names)) == 1
    pool.shutdown()


def test_idle_workers_retire() -> None:
    pool = WorkerPool(1, "test-pool", idle_timeout=0.01)
    ran = threading.Event()
    pool.post(ran.set)
    assert ran.wait(WAIT)
    assert pool.join(WAIT)  # the worker exits by itself once idle
    assert pool.thread_count() == 0
    again = threading.Event()
    pool.post(again.set)  # and a new one starts when work comes back
    assert again.wait(WAIT)
    pool.shutdown()


def test_closed_pool_refuses_work_and_finishes_what_it_accepted() -> None:
    pool = WorkerPool(1, "test-pool")
    gate = threading.Event()
    results: list[int] = []

    def first() -> None:
        gate.wait(WAIT)
        results.append(1)

    pool.post(first)
    pool.post(lambda: results.append(2))
    pool.close()
    assert not pool.post(lambda: results.append(3))
    with pytest.raises(RuntimeError, match="is not accepting work: it has shut down"):
        pool.submit(int)
    gate.set()
    assert pool.join(WAIT)
    assert results == [1, 2]


def test_submit_returns_a_future() -> None:
    pool = WorkerPool(1, "test-pool")
    assert pool.submit(pow, 2, 10).result(WAIT) == 1024
    failing = pool.submit(int, "x")
    with pytest.raises(ValueError, match="invalid literal"):
        failing.result(WAIT)
    pool.shutdown()
