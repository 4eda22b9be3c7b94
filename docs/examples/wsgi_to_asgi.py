import asyncio
from typing import Any

from asgiref.testing import HttpCommunicator
from asgiref.wsgi import WsgiToAsgi


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    # The body streams in as the client sends it.
    size = len(environ["wsgi.input"].read())
    start_response("200 OK", [("Content-Type", "text/plain")])
    method, script, path = (
        environ["REQUEST_METHOD"],
        environ["SCRIPT_NAME"],
        environ["PATH_INFO"],
    )
    return [f"{method} {script}|{path}: {size} bytes".encode()]


# Serve it with any ASGI server, e.g. `uvicorn module:application`.
application = WsgiToAsgi(wsgi_app, max_body_size=1024)


async def main() -> None:
    response = await HttpCommunicator(
        application, "POST", "/upload", body=b"x" * 100
    ).get_response()
    print(response.status, response.body)

    mounted = {"root_path": "/app", "path": "/app/upload"}
    response = await HttpCommunicator(
        application, "GET", "/", scope=mounted
    ).get_response()
    print(response.status, response.body)

    response = await HttpCommunicator(
        application, "POST", "/", body=b"x" * 2000
    ).get_response()
    print(response.status)


asyncio.run(main())
