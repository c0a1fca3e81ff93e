"""Celery apps whose broker is down, made current for the length of a test."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def broker_down() -> Iterator[Any]:
    """A current Celery app whose broker refuses every connection (nothing listens on
    port 1): a publish fails within about a second."""
    from celery import Celery, _state

    import django_blinker.backends.celery  # noqa: F401  (registers the shared tasks)

    down = Celery("broker_down", set_as_current=False)
    down.conf.update(
        broker_url="redis://127.0.0.1:1/0",
        broker_connection_timeout=1,
        broker_connection_retry=False,
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.1},
    )
    previous = _state.get_current_app()
    down.set_current()
    try:
        yield down
    finally:
        previous.set_current()
