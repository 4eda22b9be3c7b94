from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("sync/", views.hello_sync),
    path("async/", views.hello_async),
    path("orm/", views.orm),
    path("orm/hold/", views.hold),
    path("whoami/", views.whoami),
    path("stream/sync/", views.stream_sync),
    path("stream/async/", views.stream_async),
    path("stream/orm-bridged/", views.stream_orm_bridged),
    path("stream/async-bridged/", views.stream_async_bridged),
    path("stream/release/", views.release),
    path("groupsend/", views.group_send),
]
