"""`StatelessServer`: the base class for servers of stateless protocols (UDP, channel layers).

Such a server sees messages, not connections: each message carries a scope id, and the server keeps
one running application instance per scope id, started on the first message and fed the later ones
through its input queue.

Theory
------
* Instances live in an insertion-ordered dict kept in recency order (a use moves an instance to the
  end), so the least recently used one is always first: eviction is O(1), however many there are.
  There are never more than `max_applications` live instances: the oldest is stopped *before* a new
  one starts.
* An instance is its own input queue (`ApplicationInstance` is an `asyncio.Queue`), so real-world
  callers that use the result of `get_or_create_application_instance` as a queue work; its
  application starts with the first message (or when its `future` is asked for), so code that runs
  `instance["application"]` itself (the seed page does) runs it once. It also reads like a dict
  (`instance["future"]`, `["input_queue"]`, `["scope"]`, `["last_used"]`, `["application"]`) and
  can be awaited, for code written in the style of the seed page, which
  awaits these methods and overrides them as coroutines. The delete methods act at once and return
  an already-finished awaitable, so they work called plainly or awaited.
* A finished instance tells the server through a done-callback, so the checker looks only at
  instances that finished, never at all of them. A failing or cancelled instance is reported
  through `application_exception` and forgotten; it never stops the server or the others.
* Stopping the server cancels every instance and waits for it, so nothing is left pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from .compatibility import guarantee_single_callable

__all__ = ["ApplicationInstance", "StatelessServer"]

logger = logging.getLogger("asgiref.server")


async def _value(value: Any) -> Any:
    return value


class _Done:
    """An awaitable that is already finished: what the delete methods return, so that callers
    may await them (seed style) or not (asgiref style) without a never-awaited warning (no
    coroutine exists until someone awaits)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return _value(None).__await__()


_DONE = _Done()


class ApplicationInstance(asyncio.Queue[dict[str, Any]]):
    """One application instance: it is its input queue, and reads like a dict.

    The application starts on the first message put into the queue, or when `future` is first
    asked for, not when the instance is made: code in the style of the seed page takes
    `instance["application"]` and runs it itself, and must not get a second, unseen run.
    """

    _KEYS = frozenset({"input_queue", "future", "scope", "last_used", "application", "scope_id"})

    def __init__(
        self,
        scope_id: str,
        scope: dict[str, Any],
        application: Any,
        start: Callable[[ApplicationInstance], asyncio.Task[Any]],
    ) -> None:
        super().__init__()
        self.scope_id = scope_id
        self.scope = scope
        self.application = application
        self.last_used = time.monotonic()
        self._start = start
        self._future: asyncio.Task[Any] | None = None

    @property
    def started(self) -> bool:
        return self._future is not None

    @property
    def future(self) -> asyncio.Task[Any]:
        """The task running the application (started now if it had not been)."""
        if self._future is None:
            self._future = self._start(self)
        return self._future

    @property
    def input_queue(self) -> ApplicationInstance:
        return self

    def put_nowait(self, item: dict[str, Any]) -> None:
        self.future  # noqa: B018 - starts the application
        super().put_nowait(item)

    async def put(self, item: dict[str, Any]) -> None:
        self.future  # noqa: B018 - starts the application
        await super().put(item)

    def __getitem__(self, key: str) -> Any:
        if key not in self._KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self._KEYS

    def __await__(self) -> Generator[Any, None, ApplicationInstance]:
        return _value(self).__await__()

    def __repr__(self) -> str:
        state = "running" if self.started else "not started"
        return f"<ApplicationInstance {self.scope_id!r} {state} queued={self.qsize()}>"


class StatelessServer:
    """Base class for servers of stateless protocols; subclasses implement `handle()` and
    `application_send(scope, message)`."""

    # How often, in seconds, the checker forgets finished instances and reports failed ones.
    application_checker_interval: float = 0.1

    def __init__(self, application: Any, max_applications: int = 1000) -> None:
        if max_applications < 1:
            raise ValueError(f"max_applications must be at least 1, got {max_applications}")
        self.application = application
        self.max_applications = max_applications
        # scope id -> instance, least recently used first.
        self.application_instances: dict[str, ApplicationInstance] = {}
        self._finished: list[ApplicationInstance] = []
        self._hook_tasks: set[asyncio.Future[Any]] = set()
        self._single_for: Any = None
        self._single: Any = None

    # --- to implement ---------------------------------------------------------------------------

    async def handle(self) -> None:
        """Serve: receive messages and pass them to application instances. Returning ends
        the server."""
        raise NotImplementedError("You must implement handle()")

    async def application_send(self, scope: dict[str, Any], message: dict[str, Any]) -> None:
        """Deliver `message`, sent by the application instance for `scope`, to its client."""
        raise NotImplementedError("You must implement application_send()")

    # --- running --------------------------------------------------------------------------------

    def run(self) -> None:
        """Run the server on a new event loop until `handle()` returns, Ctrl-C or SIGTERM."""
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self._run_until_signalled())

    async def _run_until_signalled(self) -> None:
        main = asyncio.current_task()
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        if main is not None and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(sig, main.cancel)
                    handled.append(sig)
                except (NotImplementedError, RuntimeError):  # not supported here
                    pass
        try:
            await self.arun()
        except asyncio.CancelledError:
            if not handled:
                raise
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)

    async def arun(self) -> None:
        """Run `handle()` and the application checker together; return when `handle()` does."""
        checker = asyncio.ensure_future(self.application_checker())
        try:
            await self.handle()
        finally:
            checker.cancel()
            await asyncio.gather(checker, return_exceptions=True)
            await self._stop_all_instances()

    async def _stop_all_instances(self) -> None:
        instances = list(self.application_instances.values())
        self.application_instances.clear()
        futures = [i.future for i in instances if i.started]
        for future in futures:
            future.cancel()
        await asyncio.gather(*futures, *self._hook_tasks, return_exceptions=True)
        self._finished.clear()

    # --- instances ------------------------------------------------------------------------------

    def get_or_create_application_instance(
        self, scope_id: str, scope: dict[str, Any]
    ) -> ApplicationInstance:
        """The live instance for `scope_id`, or a new one started for `scope` (stopping the least
        recently used instance first if `max_applications` are live). The result is the
        instance's input queue; it can also be awaited, and read like a dict."""
        instances = self.application_instances
        instance = instances.get(scope_id)
        if instance is not None:
            instance.last_used = time.monotonic()
            instances[scope_id] = instances.pop(scope_id)  # most recently used goes last
            return instance
        while len(instances) >= self.max_applications:
            self._evict_oldest()
        instance = ApplicationInstance(
            scope_id, scope, self._single_callable(), self._start_instance
        )
        instances[scope_id] = instance
        return instance

    def _single_callable(self) -> Any:
        """`self.application` as an ASGI 3 callable, worked out once per application object."""
        if self._single_for is not self.application:
            self._single = guarantee_single_callable(self.application)
            self._single_for = self.application
        return self._single

    def _start_instance(self, instance: ApplicationInstance) -> asyncio.Task[Any]:
        scope = instance.scope

        async def send(message: dict[str, Any]) -> None:
            await self.application_send(scope, message)

        task: asyncio.Task[Any] = asyncio.ensure_future(
            instance.application(scope, instance.get, send)
        )
        task.add_done_callback(lambda _task: self._note_finished(instance))
        return task

    def _note_finished(self, instance: ApplicationInstance) -> None:
        # Only instances that ended by themselves; stopped ones are already forgotten, and must
        # not be kept alive here until the next check.
        if self.application_instances.get(instance.scope_id) is instance:
            self._finished.append(instance)

    def _evict_oldest(self) -> None:
        """Stop the least recently used instance now (so the limit holds at once), then let
        `delete_application_instance` know: an override may be a coroutine (seed style); it runs
        as a task the server awaits when it stops, and its `super()` call finds nothing left."""
        oldest = next(iter(self.application_instances))
        self._stop_instance(oldest)
        result = self.delete_application_instance(oldest)
        if inspect.isawaitable(result) and not isinstance(result, _Done):
            task = asyncio.ensure_future(result)
            self._hook_tasks.add(task)
            task.add_done_callback(self._hook_tasks.discard)

    def delete_oldest_application_instance(self) -> Awaitable[None]:
        """Stop and forget the least recently used instance."""
        if self.application_instances:
            self._stop_instance(next(iter(self.application_instances)))
        return _DONE

    def delete_application_instance(self, scope_id: str) -> Awaitable[None]:
        """Stop and forget the instance for `scope_id` (nothing if there is none)."""
        self._stop_instance(scope_id)
        return _DONE

    def _stop_instance(self, scope_id: str) -> None:
        instance = self.application_instances.pop(scope_id, None)
        if instance is not None and instance.started and not instance.future.done():
            instance.future.cancel()

    async def application_checker(self) -> None:
        """Forever, every `application_checker_interval` seconds: forget finished instances and
        report the ones that failed to `application_exception`."""
        while True:
            await asyncio.sleep(self.application_checker_interval)
            await self._check_finished()

    async def _check_finished(self) -> None:
        finished, self._finished = self._finished, []
        for instance in finished:
            if self.application_instances.get(instance.scope_id) is instance:
                del self.application_instances[instance.scope_id]
            future = instance.future
            if future.cancelled():
                continue
            exception = future.exception()
            if exception is not None:
                try:
                    await _maybe_await(self.application_exception(exception, instance))
                except Exception:
                    logger.exception("application_exception() itself raised")

    async def application_exception(
        self, exception: BaseException, application_details: Any
    ) -> None:
        """Called for an instance that raised; logs it. Override to do more."""
        logger.error(
            "Exception inside application for scope id %r",
            getattr(application_details, "scope_id", application_details),
            exc_info=exception,
        )


async def _maybe_await(result: Any) -> Any:
    if inspect.isawaitable(result):
        return await result
    return result
