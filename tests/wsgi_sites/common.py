"""What the test sites and tests/test_wsgi_servers.py share: the body pattern both sides
compute, and `Probe`, through which a site tells the test what happened inside the app."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], None]]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

WAIT = 10.0  # seconds: the bound on every wait for something that should happen promptly
BLOCK_SIZE = 64 * 1024
# Reads an app makes of a body are bounded too: enough for 1 GiB in BLOCK_SIZE pieces.
MAX_READS = 16 * 1024


def pattern_block(index: int) -> bytes:
    """Block `index` of the bodies both sides generate: BLOCK_SIZE bytes that differ per block,
    so a lost, repeated or reordered block changes the hash."""
    return hashlib.sha256(index.to_bytes(8, "big")).digest() * (BLOCK_SIZE // 32)


def pattern_digest(blocks: int) -> str:
    """The sha256 of blocks 0..blocks-1."""
    digest = hashlib.sha256()
    for index in range(blocks):
        digest.update(pattern_block(index))
    return digest.hexdigest()


def consume(read: Callable[[int], bytes]) -> tuple[int, str]:
    """Read a body to its end in BLOCK_SIZE reads: (byte count, sha256 hex)."""
    digest = hashlib.sha256()
    total = 0
    for _ in range(MAX_READS):
        chunk = read(BLOCK_SIZE)
        if not chunk:
            return total, digest.hexdigest()
        total += len(chunk)
        digest.update(chunk)
    raise AssertionError("the body was longer than MAX_READS blocks")


class LoopGate:
    """A gate an async app waits at, opened from another thread (the test's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._opened = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def open(self) -> None:
        with self._lock:
            self._opened = True
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    async def wait(self, timeout: float) -> bool:
        """Wait (at most `timeout` seconds) for the gate to open; whether it did."""
        event = asyncio.Event()
        with self._lock:
            if self._opened:
                return True
            self._waiters.append((asyncio.get_running_loop(), event))
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True


class Probe:
    """Signals from inside a site's app to the test; thread-safe."""

    def __init__(self, parties: int = 8) -> None:
        self._lock = threading.Lock()
        # The test opens these once it has the first bytes of a streamed response.
        self.release = threading.Event()
        self.gate = LoopGate()
        # Whether each gated stream saw the release (True) or gave up waiting (False).
        self.gate_results: list[bool] = []
        self.barrier = threading.Barrier(parties, timeout=WAIT)
        self.upload_started = threading.Event()
        self.read_failed = threading.Event()
        self.read_errors: list[BaseException] = []
        # Set when the server ends a streamed response early; how the app saw it, if it did.
        self.stream_closed = threading.Event()
        self.stream_errors: list[BaseException] = []
        # Set when a streamed WSGI response body has ended, whichever way.
        self.stream_ended = threading.Event()
        self.startups = 0
        self.shutdown = threading.Event()
        self.file_path = ""
        # The file wrappers the app was offered and used, in the order it used them.
        self.file_wrappers_used: list[Any] = []

    def note_gate(self, released: bool) -> None:
        with self._lock:
            self.gate_results.append(released)

    def note_read_error(self, error: BaseException) -> None:
        with self._lock:
            self.read_errors.append(error)
        self.read_failed.set()

    def note_stream_cut(self, error: BaseException) -> None:
        with self._lock:
            self.stream_errors.append(error)
        self.stream_closed.set()

    def note_startup(self) -> int:
        with self._lock:
            self.startups += 1
            return self.startups


def stream_blocks(probe: Probe, blocks: int, gated: bool) -> Iterator[bytes]:
    """A WSGI response body of pattern blocks. With `gated`, after the first block it waits
    (bounded) until the test says it received that block. If the server closes it early,
    `probe.stream_closed` is set; when it ends, whichever way, `probe.stream_ended`."""
    try:
        for index in range(blocks):
            yield pattern_block(index)
            if gated and index == 0:
                probe.note_gate(probe.release.wait(WAIT))
    except GeneratorExit:
        probe.stream_closed.set()
        raise
    finally:
        probe.stream_ended.set()


def read_until_failure(probe: Probe, read: Callable[[int], bytes]) -> int:
    """Read a body whose client will go away: how many bytes arrived before the end; a read
    error is noted in `probe` (and then counts as the end)."""
    total = 0
    try:
        for _ in range(MAX_READS):
            chunk = read(BLOCK_SIZE)
            if not chunk:
                break
            total += len(chunk)
            probe.upload_started.set()
    except OSError as error:
        probe.note_read_error(error)
    return total


def watch_file_wrapper(probe: Probe, app: WsgiApp) -> WsgiApp:
    """`app`, with the server's `wsgi.file_wrapper` noted in `probe` whenever the app uses it."""

    def watched(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        offered = environ.get("wsgi.file_wrapper")
        if offered is not None:

            def file_wrapper(filelike: Any, block_size: int = 8192) -> Any:
                probe.file_wrappers_used.append(offered)
                return offered(filelike, block_size)

            environ["wsgi.file_wrapper"] = file_wrapper
        return app(environ, start_response)

    return watched
