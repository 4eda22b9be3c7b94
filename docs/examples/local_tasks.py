import asyncio

from asgiref.local import Local

state = Local()


async def child(name: str) -> None:
    print(f"{name} starts with", state.request_id)
    state.request_id = name  # changes this task's copy only


async def main() -> None:
    state.request_id = "parent"
    await asyncio.gather(child("a"), child("b"))
    print("parent still has", state.request_id)
    await child("awaited directly")  # same task: no copy
    print("parent now has", state.request_id)


asyncio.run(main())
