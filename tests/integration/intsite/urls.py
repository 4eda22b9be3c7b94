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
    path("groupsend/", views.group_send),
]
