import asyncio
import warnings

from asgiref.timeout import timeout


async def main() -> None:
    with warnings.catch_warnings():
        # On Python 3.11+ making one warns: use asyncio.timeout() in new code.
        warnings.simplefilter("ignore", DeprecationWarning)
        deadline = timeout(0.1)
    try:
        async with deadline:
            await asyncio.sleep(1)
    except asyncio.TimeoutError:
        print(
            "timed out; expired:",
            deadline.expired,
            "remaining:",
            deadline.remaining,
        )


asyncio.run(main())
