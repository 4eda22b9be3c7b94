import asyncio

from asgiref.local import Local

state = Local()


async def main() -> None:
    state.items = []
    state.name = "parent"

    async def child() -> None:
        state.items.append("child")  # mutates the one list the parent holds too
        state.name = "child"  # rebinds: the parent never sees it

    await asyncio.create_task(child())
    print(state.items, state.name)


asyncio.run(main())
