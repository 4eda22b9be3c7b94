from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):  # type: ignore[misc, unused-ignore]  # Django is untyped
    name = "intsite.shop"
    label = "shop"

    def ready(self) -> None:
        from . import signals

        signals.connect()
