import threading

from asgiref.local import Local
from asgiref.sync import async_to_sync

state = Local()


async def handler() -> str:
    state.seen_by_async = True  # set on the event loop's side
    return f"handler sees {state.user!r}"


def sync_view() -> None:
    state.user = "bob"
    print(async_to_sync(handler)())
    print("back in sync code:", state.seen_by_async)


sync_view()


def unrelated_thread() -> None:
    print("an unrelated thread:", getattr(state, "user", "<not set>"))


thread = threading.Thread(target=unrelated_thread)
thread.start()
thread.join()
