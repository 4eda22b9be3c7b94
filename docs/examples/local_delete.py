import asyncio

from asgiref.local import Local

state = Local()


async def main() -> None:
    state.user = "alice"

    async def log_out() -> None:
        del state.user  # deletes it in this task's context only
        print("in the task:", hasattr(state, "user"))

    await asyncio.create_task(log_out())
    print("in main:", state.user)


asyncio.run(main())
