"""post_save receivers for Item: a sync one, and an async one (which Django's sync `send()` runs
through `async_to_sync`, and whose ORM call goes back through `sync_to_async`)."""

from __future__ import annotations

import threading
from typing import Any

from django.db.models.signals import post_save


def log_sync(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    from .models import ItemLog

    if created:
        ItemLog.objects.create(
            item_name=instance.name, receiver="sync", thread=threading.get_ident()
        )


async def log_async(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    from asgiref.sync import sync_to_async

    from .models import ItemLog

    if not created:
        return

    def write() -> None:
        ItemLog.objects.create(
            item_name=instance.name, receiver="async", thread=threading.get_ident()
        )

    # Thread-sensitive: this must come back to the thread that is saving the item (it waits in
    # async_to_sync for this receiver), or it would deadlock or write through another connection.
    await sync_to_async(write)()


def connect() -> None:
    from .models import Item

    post_save.connect(log_sync, sender=Item, dispatch_uid="intsite.shop.log_sync")
    post_save.connect(log_async, sender=Item, dispatch_uid="intsite.shop.log_async")
