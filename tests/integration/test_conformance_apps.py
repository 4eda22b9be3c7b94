"""Real applications through `asgiref.conformance.ApplicationChecker`: the Django project (HTTP
views, streaming, the ORM, Channels consumers) and the Starlette app with FastAPI mounted keep
every rule of the ASGI specification the checker knows."""

from __future__ import annotations

from pathlib import Path

import pytest

from asgiref.conformance import ApplicationChecker
from asgiref.testing import HttpCommunicator, WebsocketCommunicator

TIMEOUT = 10.0
HOST = [(b"host", b"testserver")]


@pytest.fixture
def checked_project(pristine_db: Path) -> ApplicationChecker:
    from intsite.asgi import application

    return ApplicationChecker(application)


@pytest.mark.asyncio
# Django's own warning for a sync iterator served under ASGI (the case of issue 11), not ours.
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
@pytest.mark.parametrize(
    "path",
    ["/sync/", "/async/", "/orm/", "/stream/sync/?n=3", "/stream/async/?n=3", "/nowhere/"],
)
async def test_django_views_keep_the_rules(checked_project: ApplicationChecker, path: str) -> None:
    communicator = HttpCommunicator(checked_project, "GET", path, headers=HOST)
    response = await communicator.get_response(timeout=TIMEOUT)
    assert response.status in (200, 404)
    assert checked_project.violations == []
    # Django writes header names with capitals ("Content-Type"), which the specification says
    # must be lowercase and every server accepts: noted, not raised.
    assert {advisory.rule for advisory in checked_project.advisories} <= {"header-names-lowercase"}


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/ws/echo/", "/ws/async/"])
async def test_channels_consumers_keep_the_rules(
    checked_project: ApplicationChecker, path: str
) -> None:
    communicator = WebsocketCommunicator(checked_project, path, headers=HOST)
    assert (await communicator.connect(timeout=TIMEOUT))[0]
    await communicator.send_to(text_data="hello")
    await communicator.receive_from(timeout=TIMEOUT)
    assert await communicator.disconnect(timeout=TIMEOUT) is True
    assert checked_project.violations == []


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/api/digest?data=x", "/digest/parallel?data=x", "/missing"])
async def test_starlette_and_fastapi_keep_the_rules(path: str) -> None:
    from hashing_app import app

    checker = ApplicationChecker(app)
    response = await HttpCommunicator(checker, "GET", path).get_response(timeout=TIMEOUT)
    assert response.status in (200, 404)
    assert checker.violations == []
    assert checker.advisories == []
