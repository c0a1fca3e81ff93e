"""Settings of the processes that tests/observation/test_store.py starts: a web server's
(``tests.support.server_settings``) or, with ``DJANGO_BLINKER_ACTIVITY_PROCESS=worker``, a
worker's (``tests.support.worker_settings``), recording activity into a Redis cache named by
``DJANGO_BLINKER_ACTIVITY_REDIS`` under the key prefix ``DJANGO_BLINKER_ACTIVITY_PREFIX``,
written every 0.2 s; with ``DJANGO_BLINKER_ACTIVITY_WAIT_FOREVER`` set, without socket
timeouts."""

from __future__ import annotations

import os

if os.environ.get("DJANGO_BLINKER_ACTIVITY_PROCESS") == "worker":
    from tests.support.worker_settings import *  # noqa: F403
else:
    from tests.support.server_settings import *  # noqa: F403

ACTIVITY_CACHE = {
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": os.environ["DJANGO_BLINKER_ACTIVITY_REDIS"],
    "KEY_PREFIX": os.environ["DJANGO_BLINKER_ACTIVITY_PREFIX"],
    # A stopped Redis must fail a flush at once, not after the OS's connect timeout.
    "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1},
}
if os.environ.get("DJANGO_BLINKER_ACTIVITY_WAIT_FOREVER"):
    # A cache that never answers then holds a flush for an hour (some versions of Django
    # or redis-py set a timeout of their own): only django-blinker's own bounds end it.
    ACTIVITY_CACHE["OPTIONS"] = {"socket_timeout": 3600, "socket_connect_timeout": 3600}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "activity": ACTIVITY_CACHE,
}
DJANGO_BLINKER = {
    "ACTIVITY": True,
    "ACTIVITY_STORE": "activity",
    "ACTIVITY_FLUSH_INTERVAL": 0.2,
}
