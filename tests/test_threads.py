"""`asgiref._threads`: every owner of threads is ended at interpreter exit, in the right order,
and reset in a forked child."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import weakref

import pytest

from asgiref._threads import FORKS, OWNERS, SERVING_OWNERS
from asgiref._workers import WorkerPool


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_worker_pool_is_closed_and_joined_at_exit_before_atexit_hooks_run() -> None:
    result = run_python(
        """
        import atexit, threading
        from asgiref._workers import WorkerPool

        pool = WorkerPool(4, "test-pool")
        done = threading.Event()
        pool.post(done.set)
        assert done.wait(10)
        atexit.register(lambda: print("threads left at atexit:", pool.thread_count()))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "threads left at atexit: 0\n"


def test_a_loop_thread_serves_non_daemon_threads_until_python_has_joined_them() -> None:
    # A request thread of a WSGI server still waiting on an AsgiToWsgi loop when the main thread
    # ends must be answered: the loop is stopped only after Python joined that thread.
    result = run_python(
        """
        import asyncio, threading
        from asgiref._loops import LoopThread

        loop_thread = LoopThread("test-loop")
        main_ended = threading.Event()

        def late_request():
            main_ended.wait(10)
            async def answer():
                await asyncio.sleep(0.05)
                return "answered"
            future = asyncio.run_coroutine_threadsafe(answer(), loop_thread.loop)
            print(future.result(10))

        threading.Thread(target=late_request).start()
        main_ended.set()
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "answered\n"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_worker_pool_inherited_through_fork_starts_new_workers_in_the_child() -> None:
    pool = WorkerPool(2, "test-fork-pool")
    ran = threading.Event()
    pool.post(ran.set)
    assert ran.wait(10)
    generation = FORKS.generation
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: exit with what it found, never return into pytest
        code = 1
        try:
            in_child = threading.Event()
            accepted = pool.post(in_child.set)
            if accepted and in_child.wait(10) and FORKS.generation == generation + 1:
                code = 0
            os.write(write_end, b"%d" % pool.thread_count())
        finally:
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    threads_in_child = os.read(read_end, 16)
    os.close(read_end)
    pool.close()
    assert pool.join(10)
    assert os.waitstatus_to_exitcode(status) == 0
    assert threads_in_child == b"1"  # a new worker of its own, none of the parent's


def test_owners_are_known_while_their_threads_run_and_forgotten_after() -> None:
    pool = WorkerPool(1, "test-known-pool")
    ran = threading.Event()
    pool.post(ran.set)
    assert ran.wait(10)
    assert pool in OWNERS
    assert pool not in SERVING_OWNERS
    pool.close()
    assert pool.join(10)
    known = weakref.ref(pool)
    del pool
    gc.collect()
    assert known() is None  # neither the registry nor a thread kept it
