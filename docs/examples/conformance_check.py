"""Checking an application against the ASGI specification."""

import asyncio

from asgiref.conformance import ApplicationChecker, ProtocolError
from asgiref.testing import HttpCommunicator


async def sloppy(scope, receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": "text, not bytes"})


async def main():
    try:
        await HttpCommunicator(ApplicationChecker(sloppy), "GET", "/").get_response()
    except ProtocolError as error:
        print("rule:", error.rule)
        print("section:", error.section)
        print(error)


asyncio.run(main())
