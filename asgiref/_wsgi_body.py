"""The request body a WSGI app reads (`wsgi.input`), streamed from the ASGI server as it arrives.

Every read blocks only until it can be answered: `read(n)` until `n` bytes (or the end of the
body) arrived, `readline()` until a newline, and so on, so an app starts on the first body message
and reads at the pace the client sends. Chunks come through a `Pipe` fed by the event loop, whose
byte budget is what keeps memory bounded for any body size.

If the client disconnects, or the body exceeds the adapter's `max_body_size`, the pipe is aborted
and the read in progress (and every later one) raises the error: an `OSError` subclass, which is
what WSGI frameworks expect from a broken `wsgi.input` (Django turns it into UnreadablePostError).

Streaming is why `wsgi.input` cannot seek (the original spools the whole body to a temporary file
before starting the app): it has the file methods, as an unseekable file does (`seekable()` is
False, `seek()` and `fileno()` raise `io.UnsupportedOperation`), so code that asks can tell.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from ._pipe import Pipe


class ClientDisconnectedError(OSError):
    """The client went away before the request (or response) was complete."""


class RequestBodyTooLargeError(OSError):
    """The request body is larger than the adapter's `max_body_size`."""


class RequestBody:
    """A read-only binary file over a request body that arrives in chunks through a `Pipe`."""

    __slots__ = ("_buffer", "_eof", "_pipe", "_position", "_read_count")

    def __init__(self, pipe: Pipe[bytes]) -> None:
        self._pipe = pipe
        # Bytes received and not yet read are `_buffer[_position:]`: many small reads (readline
        # over a form) then slice the chunk instead of copying its remainder each time.
        self._buffer = b""
        self._position = 0
        self._eof = False
        self._read_count = 0

    def _available(self) -> int:
        return len(self._buffer) - self._position

    def _fill(self) -> bool:
        """With the buffer used up: wait for the next chunk; False at the end of the body."""
        if self._eof:
            return False
        chunk = self._pipe.get_blocking()
        if chunk is None:
            self._eof = True
            return False
        self._buffer = chunk
        self._position = 0
        return True

    def _take(self, size: int) -> bytes:
        """Up to `size` bytes from the buffer (it holds at least one)."""
        start = self._position
        if start == 0 and size >= len(self._buffer):
            data, self._buffer = self._buffer, b""
            return data
        end = min(start + size, len(self._buffer))
        self._position = end
        return self._buffer[start:end]

    def read(self, size: int | None = -1) -> bytes:
        """Read up to `size` bytes, blocking until that many arrived or the body ended; all of
        the rest when `size` is negative or None."""
        return self._collect(size, to_line_end=False)

    def readline(self, size: int | None = -1) -> bytes:
        """Read one line (up to and including b"\\n"), at most `size` bytes if given."""
        return self._collect(size, to_line_end=True)

    def _collect(self, size: int | None, to_line_end: bool) -> bytes:
        """Up to `size` bytes (all, if negative or None), stopping after a newline if
        `to_line_end`; waits only while more is needed and the body has not ended."""
        wanted = -1 if size is None else size
        # Pieces are joined once at the end: growing one bytes object chunk by chunk would copy
        # the whole body again for every chunk of a large read.
        pieces: list[bytes] = []
        while wanted != 0:
            if not self._available() and not self._fill():
                break
            length = self._available()
            if to_line_end:
                newline = self._buffer.find(b"\n", self._position)
                if newline != -1:
                    length = newline + 1 - self._position
            piece = self._take(length if wanted < 0 else min(length, wanted))
            pieces.append(piece)
            if to_line_end and piece.endswith(b"\n"):
                break
            if wanted > 0:
                wanted -= len(piece)
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._read_count += len(data)
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        """Read lines until the end of the body, or until they total at least `hint` bytes."""
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        """How many bytes were read so far."""
        return self._read_count

    def seekable(self) -> bool:
        return False

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        raise io.UnsupportedOperation(
            "wsgi.input streams the request body as it arrives and cannot seek; read it into a "
            "BytesIO to read it twice"
        )

    def fileno(self) -> int:
        raise io.UnsupportedOperation("wsgi.input streams the request body and has no file number")

    def close(self) -> None:
        """Nothing to release: the adapter ends the stream when the request ends."""
