from typing import Any
from wsgiref.util import setup_testing_defaults

from asgiref.wsgi import AsgiToWsgi


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            print("lifespan startup")
            await send({"type": "lifespan.startup.complete"})
        print("lifespan shutdown")
        await send({"type": "lifespan.shutdown.complete"})
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": f"{scope['path']}".encode()})


# Give this to any WSGI server (gunicorn, waitress, mod_wsgi).
application = AsgiToWsgi(asgi_app)


def start_response(
    status: str, headers: list[tuple[str, str]], exc_info: Any = None
) -> None:
    print("status:", status)


environ: dict[str, Any] = {}
setup_testing_defaults(environ)
environ["PATH_INFO"] = "/hello"
print(b"".join(application(environ, start_response)))
application.close()  # runs the lifespan shutdown and ends the event loop's thread
