"""The request body a WSGI app reads (`wsgi.input`), streamed from the ASGI server as it arrives.

`wsgi.input` is the standard library's `io.BufferedReader` over `_PipeReader`, a raw stream whose
reads take the chunks the event loop puts in a `Pipe`, so every read blocks only until it can be
answered (`read(n)` until `n` bytes or the end of the body, `readline()` until a newline) and the
app reads at the pace the client sends. The pipe's byte budget keeps memory bounded for any body.

If the client disconnects, or the body exceeds the adapter's `max_body_size`, the pipe is aborted
and the read in progress (and every later one) raises the error: an `OSError` subclass, which is
what WSGI frameworks expect from a broken `wsgi.input` (Django turns it into UnreadablePostError).

Streaming is why `wsgi.input` cannot seek (the original spools the whole body to a temporary file
before starting the app): `seekable()` is False, and `seek()` and `fileno()` raise
`io.UnsupportedOperation`, as an unseekable file does, so code that asks can tell.
"""

from __future__ import annotations

import io
from typing import Any

from ._pipe import Pipe


class ClientDisconnectedError(OSError):
    """The client went away before the request (or response) was complete."""


class RequestBodyTooLargeError(OSError):
    """The request body is larger than the adapter's `max_body_size`."""


class _PipeReader(io.RawIOBase):
    """A raw, read-only binary stream over a request body arriving in chunks through a `Pipe`."""

    def __init__(self, pipe: Pipe[bytes]) -> None:
        super().__init__()
        self._pipe = pipe
        self._rest = memoryview(b"")  # of the latest chunk, not yet read
        self._position = 0
        self._ended = False

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bool:
        """Wait for the next chunk; False at the end of the body."""
        while not self._ended and not self._rest:
            chunk = self._pipe.get_blocking()
            if chunk is None:
                self._ended = True
            else:
                self._rest = memoryview(chunk)
        return bool(self._rest)

    def readinto(self, buffer: Any) -> int:
        if not self._next_chunk():
            return 0
        size = min(len(buffer), len(self._rest))
        buffer[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        self._position += size
        return size

    def readall(self) -> bytes:
        # Joined once: `io.RawIOBase.readall` would copy the body through small reads.
        pieces = []
        while self._next_chunk():
            pieces.append(bytes(self._rest))
            self._position += len(self._rest)
            self._rest = memoryview(b"")
        return b"".join(pieces)

    def tell(self) -> int:
        return self._position

    def fileno(self) -> int:
        raise io.UnsupportedOperation("wsgi.input streams the request body and has no file number")


class RequestBody(io.BufferedReader):
    """`wsgi.input`: a buffered, read-only binary file over a body arriving through a `Pipe`."""

    def __init__(self, pipe: Pipe[bytes]) -> None:
        super().__init__(_PipeReader(pipe))

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        raise io.UnsupportedOperation(
            "wsgi.input streams the request body as it arrives and cannot seek; read it into a "
            "BytesIO to read it twice"
        )
