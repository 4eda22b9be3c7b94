from __future__ import annotations

from django.db import models


class Item(models.Model):  # type: ignore[misc, unused-ignore]  # Django is untyped
    name = models.CharField(max_length=100)
    # The thread that saved the item.
    thread = models.BigIntegerField(default=0)

    class Meta:
        app_label = "shop"


class ItemLog(models.Model):  # type: ignore[misc, unused-ignore]
    """Written by the post_save receivers of Item: one row per receiver and saved item."""

    item_name = models.CharField(max_length=100)
    receiver = models.CharField(max_length=10)  # "sync" or "async"
    # The thread the receiver's write ran on.
    thread = models.BigIntegerField()

    class Meta:
        app_label = "shop"
