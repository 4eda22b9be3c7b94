"""`StatelessServer`: the base class for servers of stateless protocols (UDP, channel layers).

Such a server sees messages, not connections: each message carries a scope id, and the server keeps
one application instance per scope id, fed through that instance's input queue. It behaves as
asgiref 3.13.0's does (docs/server.rst), except where DIFFERENCES.md says (SERVER-1 to SERVER-6):
it also serves code written like the seed page, which awaits these methods and overrides them as
coroutines, and it fixes four bugs of the original that stop or hang a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import operator
import time
import traceback
from collections.abc import Awaitable, Generator
from typing import Any

from .compatibility import guarantee_single_callable

__all__ = ["StatelessServer"]

# Not used here (the default `application_exception` logs to the root logger, as the original's
# does), but the original module has it, so code may refer to it.
logger = logging.getLogger(__name__)


_LAST_USED = operator.itemgetter("last_used")


class _Done:
    """An awaitable that is already finished: what the delete methods return, so that callers may
    await them (seed style) or not (asgiref style), with no never-awaited warning either way."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # makes this a generator that finishes at once, without suspending


_DONE = _Done()


class _InputQueue(asyncio.Queue[Any]):
    """An instance's input queue, as the original returns it, plus what seed-style code needs:

    * `await queue` gives the queue itself, once the deletions that coroutine overrides of the
      delete methods do (run as tasks) have finished, as an awaiting `get_or_create` would;
    * `queue[key]` reads the instance's entry (`"future"`, `"scope"`, ...), and
      `queue["application"]` is the application, for the caller to run with its own `receive`
      and `send` (see `_run_here`).
    """

    def __init__(
        self, application: Any, deletions: set[asyncio.Future[Any]], entry: dict[str, Any]
    ) -> None:
        super().__init__()
        self._application = application
        self._deletions = deletions
        self._entry = entry
        self._run_by_caller = False

    def __getitem__(self, key: str) -> Any:
        if key == "application":
            return self._run_here
        return self._entry[key]

    def __await__(self) -> Generator[Any, None, _InputQueue]:
        return self._after_deletions().__await__()

    async def _after_deletions(self) -> _InputQueue:
        if self._deletions:
            await asyncio.gather(*self._deletions)
        return self

    def _run_here(self, scope: Any, receive: Any, send: Any) -> Any:
        """Call the application with the caller's `receive` and `send`, instead of the server's.

        The server's own run is cancelled first (right after the instance was made, it has not
        begun, so the application never sees it), and the instance's future becomes one that only
        deleting the instance ends: the instance stays listed, and counted, until then.
        """
        if not self._run_by_caller:
            self._run_by_caller = True
            self._entry["future"].cancel()
            self._entry["future"] = asyncio.get_running_loop().create_future()
        return self._application(scope, receive, send)


class StatelessServer:
    """Base class for servers of stateless protocols; subclasses implement `handle()` and
    `application_send(scope, message)`."""

    # How often, in seconds, the checker looks for instances whose application ended.
    application_checker_interval: float = 0.1

    def __init__(self, application: Any, max_applications: int = 1000) -> None:
        self.application = application
        self.max_applications = max_applications
        # scope id -> {"input_queue", "future", "scope", "last_used"}, in creation order.
        self.application_instances: dict[str, dict[str, Any]] = {}
        # Deletions that coroutine overrides of the delete methods do, running as tasks.
        self._deletions: set[asyncio.Future[Any]] = set()

    # --- to implement ---------------------------------------------------------------------------

    async def handle(self) -> None:
        """Serve: receive messages and pass them to application instances. Returning ends the
        server."""
        raise NotImplementedError("You must implement handle()")

    async def application_send(self, scope: dict[str, Any], message: dict[str, Any]) -> Any:
        """Deliver `message`, sent by the application instance for `scope`, to its client."""
        raise NotImplementedError("You must implement application_send()")

    # --- running --------------------------------------------------------------------------------

    def run(self) -> None:
        """Run `arun()` on a new event loop; Ctrl-C (a KeyboardInterrupt) stops it quietly."""
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self.arun())

    async def arun(self) -> None:
        """Run `handle()` and the application checker, each as a task. Return when `handle()`
        returns; raise what `handle()` or the checker raised. Both are stopped on the way out."""
        checker = asyncio.ensure_future(self.application_checker())
        handler = asyncio.ensure_future(self.handle())
        tasks = (checker, handler)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            # Waits until both have stopped, and marks their exceptions as retrieved (else a
            # KeyboardInterrupt from handle() is reported as "never retrieved").
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in (handler, checker):
            if task in done:
                task.result()

    # --- instances ------------------------------------------------------------------------------

    def get_or_create_application_instance(
        self, scope_id: str, scope: dict[str, Any]
    ) -> _InputQueue:
        """The input queue of the instance for `scope_id`; if there is none, first make room (see
        `max_applications`), then start the application for `scope` and list the new instance."""
        instances = self.application_instances
        if scope_id in instances:
            instances[scope_id]["last_used"] = time.time()
            existing: _InputQueue = instances[scope_id]["input_queue"]
            return existing
        self._make_room()
        application: Any = guarantee_single_callable(self.application)
        entry: dict[str, Any] = {}
        input_queue = _InputQueue(application, self._deletions, entry)
        future = asyncio.ensure_future(
            application(  # by keyword, as the original calls it
                scope=scope,
                receive=input_queue.get,
                # A lambda, as in the original: `await send(m)` gives what application_send
                # returned, and async_to_sync(send) warns that send is not async-marked.
                send=lambda message: self.application_send(scope, message),
            )
        )
        entry.update(input_queue=input_queue, future=future, scope=scope, last_used=time.time())
        instances[scope_id] = entry
        return input_queue

    def _make_room(self) -> None:
        """Delete the least recently used instances while more than `max_applications` are
        listed."""
        while len(self.application_instances) > self.max_applications:
            count = len(self.application_instances)
            result = self.delete_oldest_application_instance()
            if result is not _DONE and isinstance(result, Awaitable):
                # A coroutine override (seed style): it can only run as a task.
                deletion = asyncio.ensure_future(result)
                self._deletions.add(deletion)
                deletion.add_done_callback(self._deletions.discard)
            if len(self.application_instances) >= count:
                break  # nothing was deleted now; asking again would loop forever

    def delete_oldest_application_instance(self) -> Awaitable[None] | None:
        """Delete the instance with the smallest `last_used` (the first listed, if several), through
        `delete_application_instance`, and return what that returned. ValueError if there is
        none."""
        # Every entry is looked at, as the original does: `last_used` is a plain dict value that
        # code may change, so no order kept on the side could be trusted to match it.
        instances = self.application_instances
        last_used = list(map(_LAST_USED, instances.values()))
        # The first position holding the minimum: what min() over the entries picks, done in C.
        oldest = next(itertools.islice(instances, last_used.index(min(last_used)), None))
        return self.delete_application_instance(oldest)

    def delete_application_instance(self, scope_id: str) -> Awaitable[None] | None:
        """Forget the instance for `scope_id` and cancel its application if it is still running.
        KeyError if there is none. Returns an already finished awaitable (for seed-style
        `await`)."""
        future = self.application_instances.pop(scope_id)["future"]
        if not future.done():
            future.cancel()
        return _DONE

    async def application_checker(self) -> None:
        """Forever, every `application_checker_interval` seconds: forget the instances whose
        application ended, handing what one raised to `application_exception` first."""
        while True:
            await asyncio.sleep(self.application_checker_interval)
            for scope_id, details in list(self.application_instances.items()):
                future = details["future"]
                if not future.done():
                    continue
                # A cancelled future has no exception to give: asking raises CancelledError,
                # which stops the original's checker, and with it the server.
                if not future.cancelled():
                    exception = future.exception()
                    if exception:
                        await self.application_exception(exception, details)
                self.application_instances.pop(scope_id, None)

    async def application_exception(
        self, exception: BaseException, application_details: Any
    ) -> None:
        """Called by the checker for an instance whose application raised, with its entry; logs
        the exception and its traceback to the root logger at ERROR. Override to do more."""
        logging.error(
            "Exception inside application: %s\n%s%s",
            exception,
            "".join(traceback.format_tb(exception.__traceback__)),
            f"  {exception}",
        )
