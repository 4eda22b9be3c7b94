"""The Flask app served by uvicorn through WsgiToAsgi (tests/test_wsgi_servers.py)."""

from __future__ import annotations

import threading

from flask import Flask, Response, jsonify, redirect, request, send_file

from .common import Probe, consume, read_until_failure, stream_blocks


def make_app(probe: Probe) -> Flask:
    app = Flask(__name__)

    @app.get("/hello")
    def hello() -> Response:
        return jsonify(
            method=request.method,
            name=request.args.get("name"),
            tags=request.args.getlist("tag"),
            path=request.path,
        )

    @app.post("/upload")
    def upload() -> Response:
        # werkzeug hands over `wsgi.input` itself (the adapter sets wsgi.input_terminated), so
        # these are reads of wsgi.input, with or without a Content-Length.
        count, digest = consume(request.stream.read)
        return jsonify(
            bytes=count,
            sha256=digest,
            content_length=request.headers.get("Content-Length"),
            transfer_encoding=request.headers.get("Transfer-Encoding"),
        )

    @app.post("/raw-upload")
    def raw_upload() -> Response:
        count = read_until_failure(probe, request.environ["wsgi.input"].read)
        return jsonify(bytes=count)

    @app.get("/download")
    def download() -> Response:
        blocks = int(request.args["blocks"])
        gated = "gated" in request.args
        return Response(stream_blocks(probe, blocks, gated), mimetype="application/octet-stream")

    @app.get("/file")
    def file() -> Response:
        return send_file(probe.file_path, mimetype="application/octet-stream")

    @app.get("/cookies")
    def cookies() -> Response:
        response = jsonify(cookies=dict(request.cookies), header=request.headers.get("Cookie"))
        response.set_cookie("first", "one")
        response.set_cookie("second", "two", httponly=True)
        return response

    @app.get("/redirect")
    def go_elsewhere() -> Response:
        return redirect("/hello?name=redirected", code=302)  # type: ignore[return-value]

    @app.get("/barrier")
    def barrier() -> Response:
        probe.barrier.wait()
        return jsonify(thread=threading.get_ident())

    return app
