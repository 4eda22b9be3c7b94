"""Stress runs of the sync/async bridge, as a program: `python bridge_stress.py <scenario> ...`.

It uses asgiref's public API only, so that the benchmark can run the very same stress against
asgiref 3.13.0. Everything is drawn from a seeded random generator, so a run can be replayed.
It prints one JSON line, the report, as soon as every call has settled or the deadline passed
(so that a caller can see how far a hung run got), and then exits the way any program ends:
`asyncio.run` returns and the interpreter waits for its threads.

Scenarios:

* `chains`: `--calls` call chains, `--concurrency` at a time, on one event loop. A chain crosses
  the bridge 1 to 5 times, alternating `sync_to_async` and `async_to_sync`; `--sensitivity` says
  whether its `sync_to_async` hops are thread-sensitive (`ts`), not (`nts`), or each at random
  (`mixed`). Half the chains run inside a `ThreadSensitiveContext`. With `--fates`, a tenth are
  cancelled and a tenth run under a timeout, at a random moment. Each chain checks on its way
  that context variables and thread-sensitivity hold, and returns a value the report checks.
* `wsgi_local`: `--calls` runs, `--concurrency` at a time: every other one a request through
  `WsgiToAsgi` behind an async middleware, where both keep the request's id in one `Local` and
  bridge back and forth meanwhile (every read must see its own request's value), and between
  them chains as above (with `--sensitivity`, no fates).

`--loop uvloop` runs them on uvloop's event loop (whose default executor is out of asgiref's
sight). Every loop is bounded: by the count of calls and by `--deadline` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import gc
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from asgiref.local import Local
from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async
from asgiref.wsgi import WsgiToAsgi

# The chain a call belongs to, set by its task; every hop checks it sees it.
CHAIN: contextvars.ContextVar[int] = contextvars.ContextVar("stress_chain")
# Set by a chain's innermost hop; it must reach the chain's task when the call returns.
REACHED: contextvars.ContextVar[int] = contextvars.ContextVar("stress_reached")


class Broken(AssertionError):
    """A chain saw something the bridge promises otherwise."""


@dataclass(frozen=True)
class ChainPlan:
    number: int
    depth: int  # bridge crossings, 1 to 5
    sensitive: tuple[bool, ...]  # per sync_to_async hop
    in_context: bool  # inside a ThreadSensitiveContext
    fate: str  # "normal", "cancel" or "timeout"
    fate_after: float  # seconds after the chain starts
    blocking: float  # seconds the innermost sync hop blocks, if the innermost hop is sync

    @property
    def expected(self) -> int:
        return self.number * 10 + self.depth


def plan_chains(seed: int, calls: int, sensitivity: str, fates: bool) -> list[ChainPlan]:
    rng = random.Random(seed)
    plans = []
    for number in range(calls):
        depth = rng.randint(1, 5)
        hops = (depth + 1) // 2  # sync_to_async hops: crossings 1, 3, 5
        if sensitivity == "mixed":
            sensitive = tuple(rng.random() < 0.5 for _ in range(hops))
        else:
            sensitive = (sensitivity == "ts",) * hops
        roll = rng.random() if fates else 1.0
        fate = "cancel" if roll < 0.1 else "timeout" if roll < 0.2 else "normal"
        plans.append(
            ChainPlan(
                number=number,
                depth=depth,
                sensitive=sensitive,
                in_context=rng.random() < 0.5,
                fate=fate,
                fate_after=rng.uniform(0, 0.005),
                blocking=rng.choice((0.0, 0.0, 0.0005, 0.002)),
            )
        )
    return plans


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise Broken(what)


async def _async_hop(plan: ChainPlan, level: int, waiting_thread: int | None) -> int:
    """Crossing `level` has just brought the chain into async code (from `waiting_thread`)."""
    _check(CHAIN.get() == plan.number, f"chain {plan.number} lost its context at {level}")
    await asyncio.sleep(0)
    if level == plan.depth:
        REACHED.set(plan.number)
        return plan.number * 10
    sensitive = plan.sensitive[level // 2]

    def sync_hop() -> int:
        if sensitive and waiting_thread is not None:
            # Thread-sensitive code called from a coroutine that a sync thread waits for in
            # async_to_sync runs on that very thread.
            _check(threading.get_ident() == waiting_thread, "thread-sensitive hop moved thread")
        return _sync_hop(plan, level + 1)

    return await sync_to_async(sync_hop, thread_sensitive=sensitive)() + 1


def _sync_hop(plan: ChainPlan, level: int) -> int:
    """Crossing `level` has just brought the chain into sync code, on a thread."""
    _check(CHAIN.get() == plan.number, f"chain {plan.number} lost its context at {level}")
    if level == plan.depth:
        if plan.blocking:
            time.sleep(plan.blocking)
        REACHED.set(plan.number)
        return plan.number * 10
    here = threading.get_ident()

    async def async_hop() -> int:
        return await _async_hop(plan, level + 1, here)

    return async_to_sync(async_hop)() + 1


async def run_chain(plan: ChainPlan) -> int:
    CHAIN.set(plan.number)
    if plan.in_context:
        async with ThreadSensitiveContext():
            result = await _async_hop(plan, 0, None)
    else:
        result = await _async_hop(plan, 0, None)
    _check(REACHED.get(None) == plan.number, f"chain {plan.number}: context not carried back")
    return result


@dataclass
class Tally:
    settled: int = 0
    results_correct: int = 0
    cancelled: int = 0
    wrong: int = 0
    failures: int = 0
    slowest_s: float = 0.0
    first_failure: str = ""

    def fail(self, what: str) -> None:
        self.failures += 1
        if not self.first_failure:
            self.first_failure = what


async def _settle_all(
    runs: Iterable[Callable[[], Awaitable[None]]], concurrency: int, deadline: float
) -> tuple[int, int]:
    """Run the coroutines, `concurrency` at a time, until all are done or `deadline` seconds pass;
    return (how many are unfinished, how many other tasks are still pending after them)."""
    gate = asyncio.Semaphore(concurrency)

    async def gated(run: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await run()

    tasks = [asyncio.ensure_future(gated(run)) for run in runs]
    _, unfinished = await asyncio.wait(tasks, timeout=deadline)
    # Leftovers: tasks the bridge started and did not end (ours are all done or unfinished).
    others = [
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task() and task not in unfinished and not task.done()
    ]
    return len(unfinished), len(others)


def settle_chain(plan: ChainPlan, tally: Tally) -> Callable[[], Awaitable[None]]:
    """A run of `plan`'s chain that counts its outcome in `tally`."""

    async def run() -> None:
        started = time.monotonic()
        task = asyncio.ensure_future(run_chain(plan))
        loop = asyncio.get_running_loop()
        timer = None
        if plan.fate == "cancel":
            timer = loop.call_later(plan.fate_after, task.cancel)
        try:
            if plan.fate == "timeout":
                result = await asyncio.wait_for(task, plan.fate_after)
            else:
                result = await task
        except (asyncio.CancelledError, asyncio.TimeoutError):
            if plan.fate == "normal":
                tally.fail(f"chain {plan.number} was cancelled though nothing cancelled it")
            tally.cancelled += 1
        except Broken as error:
            tally.fail(str(error))
        except Exception as error:  # anything else is a bug in the bridge
            tally.fail(f"chain {plan.number}: {error!r}")
        else:
            if result == plan.expected:
                tally.results_correct += 1
            else:
                tally.wrong += 1
                tally.fail(f"chain {plan.number} returned {result}, not {plan.expected}")
        finally:
            if timer is not None:
                timer.cancel()
        tally.settled += 1
        tally.slowest_s = max(tally.slowest_s, time.monotonic() - started)

    return run


def chains_scenario(args: argparse.Namespace) -> dict[str, Any]:
    plans = plan_chains(args.seed, args.calls, args.sensitivity, args.fates)
    tally = Tally()
    return _run_scenario(
        [settle_chain(plan, tally) for plan in plans],
        args,
        tally,
        lambda: {"expected_cancellable": sum(plan.fate != "normal" for plan in plans)},
    )


def wsgi_local_scenario(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    local = Local()
    tally = Tally()

    def check(request: int | None, seen: object, where: str) -> None:
        if seen != request:
            raise Broken(f"request {request} read {seen!r} from the Local in {where}")

    def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        request = int(environ["PATH_INFO"].strip("/"))
        check(request, getattr(local, "request", None), "the WSGI app")
        body = environ["wsgi.input"].read()

        async def back_in_async() -> int:
            await asyncio.sleep(0)
            check(request, getattr(local, "request", None), "async_to_sync inside the WSGI app")
            value: int = await sync_to_async(lambda: local.request)()
            return value

        check(request, async_to_sync(back_in_async)(), "sync_to_async inside async_to_sync")
        check(request, getattr(local, "request", None), "the WSGI app after async_to_sync")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%d:" % request, b"%d" % len(body)]

    # The adapter, dropped once every request is done, as a server drops its app: what it owns
    # (the threads it ran requests on) must end with it.
    adapters = [WsgiToAsgi(wsgi_app)]

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = int(scope["path"].strip("/"))
        check(None, getattr(local, "request", None), "a request's middleware before it set one")
        local.request = request
        await asyncio.sleep(0)
        await adapters[0](scope, receive, send)
        check(request, getattr(local, "request", None), "the middleware after the app")

    def settle(request: int, size: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            started = time.monotonic()
            body = bytes(size)
            sent: list[dict[str, Any]] = []
            pieces = [body[i : i + 4096] for i in range(0, size, 4096)] or [b""]
            incoming = asyncio.Queue[dict[str, Any]]()
            for index, piece in enumerate(pieces):
                more = index < len(pieces) - 1
                incoming.put_nowait({"type": "http.request", "body": piece, "more_body": more})

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            try:
                await middleware(_scope(request), incoming.get, send)
                got = b"".join(
                    m.get("body", b"") for m in sent if m["type"] == "http.response.body"
                )
                if got != b"%d:%d" % (request, size):
                    tally.fail(f"request {request} got {got!r}")
                else:
                    tally.results_correct += 1
            except Broken as error:
                tally.fail(str(error))
            except Exception as error:
                tally.fail(f"request {request}: {error!r}")
            tally.settled += 1
            tally.slowest_s = max(tally.slowest_s, time.monotonic() - started)

        return run

    # Requests, with bridge chains (without a Local) between them on the same loop.
    plans = plan_chains(args.seed, args.calls // 2, args.sensitivity, fates=False)
    runs = []
    for number in range(args.calls):
        if number % 2:
            runs.append(settle_chain(plans[number // 2], tally))
        else:
            runs.append(settle(number, rng.choice((0, 10, 5000, 70000))))

    def extra() -> dict[str, Any]:
        adapters.clear()
        return {"local_left_in_main": hasattr(local, "request")}

    return _run_scenario(runs, args, tally, extra)


def _scope(request: int) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/{request}",
        "raw_path": f"/{request}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


def _run_scenario(
    runs: list[Callable[[], Awaitable[None]]],
    args: argparse.Namespace,
    tally: Tally,
    extra: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    threads_before = threading.active_count()
    started = time.monotonic()

    async def main() -> tuple[int, int]:
        return await _settle_all(runs, args.concurrency, args.deadline)

    report: dict[str, Any] = {"scenario": args.scenario, "calls": len(runs)}

    def write(report: dict[str, Any]) -> None:
        print(json.dumps(report, sort_keys=True), flush=True)

    loop = _new_event_loop(args.loop)
    try:
        unfinished, other_tasks = loop.run_until_complete(main())
        report.update(
            seconds=round(time.monotonic() - started, 3),
            unfinished=unfinished,
            pending_tasks=other_tasks,
            **vars(tally),
            **extra(),
        )
        if unfinished:
            # A hung run: say how far it got before trying to end (which may hang too).
            write(report)
            return report
        asyncio.set_event_loop(None)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        if not report.get("unfinished"):
            loop.close()
    gc.collect()
    for thread in threading.enumerate():
        if thread.name.startswith("asgiref-wsgi"):  # told to end when their adapter went
            thread.join(5)
    report.update(
        threads_left=threading.active_count() - threads_before,
        thread_names_left=sorted(
            t.name for t in threading.enumerate() if t is not threading.main_thread()
        ),
    )
    write(report)
    return report


def _new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
    return asyncio.new_event_loop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=("chains", "wsgi_local"))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--sensitivity", choices=("mixed", "ts", "nts"), default="mixed")
    parser.add_argument("--fates", action="store_true", help="cancel and time out some chains")
    parser.add_argument("--deadline", type=float, default=120.0)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args(argv)
    if args.scenario == "chains":
        chains_scenario(args)
    else:
        wsgi_local_scenario(args)


if __name__ == "__main__":
    main()
