"""Settings of the test-only project `intsite`.

The SQLite database lives where `INTSITE_DB` says (the tests give every server a fresh copy of a
migrated database in a temporary directory); without it, a file in the system's temp directory.
"""

from __future__ import annotations

import os
import tempfile

SECRET_KEY = "intsite-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
ROOT_URLCONF = "intsite.urls"
WSGI_APPLICATION = "intsite.wsgi.application"
ASGI_APPLICATION = "intsite.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = ["channels", "intsite.shop"]

# Outermost first: the async-only one wraps the sync-only one, so Django must adapt between
# them (and to the view) in both directions, whichever the handler's mode.
MIDDLEWARE = [
    "intsite.middleware.AsyncStampMiddleware",
    "intsite.middleware.SyncStampMiddleware",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("INTSITE_DB")
        or os.path.join(tempfile.gettempdir(), "intsite.sqlite3"),
        # Closed at the end of every request: the tests check that none stays open.
        "CONN_MAX_AGE": 0,
        # Seconds SQLite waits for another connection's write lock (requests write at once).
        "OPTIONS": {"timeout": 30},
    }
}

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    # Tracebacks of failing requests go to stderr, where the tests look for them.
    "loggers": {"django": {"handlers": ["stderr"], "level": "WARNING"}},
}
