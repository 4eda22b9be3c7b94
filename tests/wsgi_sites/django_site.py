"""The Django project served by uvicorn through WsgiToAsgi (tests/test_wsgi_servers.py).

This module is also the project's URLconf. Django's settings are process-wide and another test
module may have configured them already, with its own URLconf: `django_settings()` configures
them only if nobody has, points ROOT_URLCONF here only while the site is in use, and undoes its
own configuration afterwards, so the other module's Django setup finds what it expects whichever
runs first.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from .common import Environ, Probe, StartResponse, WsgiApp, consume, read_until_failure
from .common import stream_blocks as _stream_blocks

PROBE_KEY = "wsgi_sites.probe"  # the environ key the site's probe travels under


@contextlib.contextmanager
def django_settings() -> Iterator[None]:
    import django
    from django.conf import settings
    from django.test.utils import override_settings
    from django.utils.functional import empty

    configured_here = not settings.configured
    if configured_here:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="tests-only",
            ALLOWED_HOSTS=["127.0.0.1"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            USE_TZ=True,
        )
    django.setup(set_prefix=False)
    try:
        with override_settings(
            ROOT_URLCONF=__name__, MIDDLEWARE=[], DEBUG=False, ALLOWED_HOSTS=["127.0.0.1"]
        ):
            yield
    finally:
        if configured_here:
            settings._wrapped = empty  # as if never configured, for whoever configures next


def make_app(probe: Probe) -> WsgiApp:
    """The project's WSGI application (call inside `django_settings()`), with `probe` in every
    request's environ."""
    from django.core.wsgi import get_wsgi_application

    handler = get_wsgi_application()

    def app(environ: Environ, start_response: StartResponse) -> Any:
        environ[PROBE_KEY] = probe
        return handler(environ, start_response)

    return app


def _probe(request: Any) -> Probe:
    probe = request.META[PROBE_KEY]
    assert isinstance(probe, Probe)
    return probe


def hello(request: Any) -> Any:
    from django.http import JsonResponse

    return JsonResponse(
        {
            "method": request.method,
            "name": request.GET.get("name"),
            "tags": request.GET.getlist("tag"),
            "path": request.path,
        }
    )


def upload(request: Any) -> Any:
    from django.http import JsonResponse

    # WSGIRequest.read reads wsgi.input (bounded by Content-Length); request.body would hold
    # the whole body in memory (and Django caps it at 2.5 MB).
    count, digest = consume(request.read)
    return JsonResponse(
        {
            "bytes": count,
            "sha256": digest,
            "content_length": request.headers.get("Content-Length"),
            "transfer_encoding": request.headers.get("Transfer-Encoding"),
        }
    )


def raw_upload(request: Any) -> Any:
    from django.http import JsonResponse

    count = read_until_failure(_probe(request), request.META["wsgi.input"].read)
    return JsonResponse({"bytes": count})


def download(request: Any) -> Any:
    from django.http import StreamingHttpResponse

    blocks = int(request.GET["blocks"])
    gated = "gated" in request.GET
    return StreamingHttpResponse(
        _stream_blocks(_probe(request), blocks, gated), content_type="application/octet-stream"
    )


def file(request: Any) -> Any:
    from django.http import FileResponse

    # Django would hand the file to wsgi.file_wrapper if the server offered one.
    return FileResponse(open(_probe(request).file_path, "rb"))


def cookies(request: Any) -> Any:
    from django.http import JsonResponse

    response = JsonResponse(
        {"cookies": dict(request.COOKIES), "header": request.headers.get("Cookie")}
    )
    response.set_cookie("first", "one")
    response.set_cookie("second", "two", httponly=True)
    return response


def go_elsewhere(request: Any) -> Any:
    from django.shortcuts import redirect

    return redirect("/hello?name=redirected")


def barrier(request: Any) -> Any:
    from django.http import JsonResponse

    _probe(request).barrier.wait()
    return JsonResponse({"thread": threading.get_ident()})


def urlpatterns_factory() -> list[Any]:
    from django.urls import path

    return [
        path("hello", hello),
        path("upload", upload),
        path("raw-upload", raw_upload),
        path("download", download),
        path("file", file),
        path("cookies", cookies),
        path("redirect", go_elsewhere),
        path("barrier", barrier),
    ]


def __getattr__(name: str) -> Any:
    # Django reads `urlpatterns` from the URLconf lazily, once settings are in place.
    if name == "urlpatterns":
        return urlpatterns_factory()
    raise AttributeError(name)
