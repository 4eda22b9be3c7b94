"""A plain WSGI app behind WsgiToAsgi, run by uvicorn in a process of its own so the test can
watch that process's memory: `python -m wsgi_sites.memory_site FD` serves on the listening
socket with file descriptor FD (inherited from the test, so there is no port to race for)."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterable, Iterator
from urllib.parse import parse_qs

from asgiref.wsgi import WsgiToAsgi

from .common import Environ, StartResponse, consume, pattern_block


def _blocks(count: int) -> Iterator[bytes]:
    for index in range(count):
        yield pattern_block(index)


def wsgi_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/upload":
        count, digest = consume(environ["wsgi.input"].read)
        body = json.dumps({"bytes": count, "sha256": digest}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    if path == "/download":
        count = int(parse_qs(environ["QUERY_STRING"])["blocks"][0])
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return _blocks(count)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


app = WsgiToAsgi(wsgi_app)


def main() -> None:
    import uvicorn

    listener = socket.socket(fileno=int(sys.argv[1]))
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main()
