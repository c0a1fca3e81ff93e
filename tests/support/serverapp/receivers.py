"""Background receivers of the request signals, run inline in the server process.

Each call appends one JSON line to the file named by ``DJANGO_BLINKER_SERVER_RECORDS``:
the signal, the sender as the receiver got it (a class by its dotted path), the keyword
arguments, and the process. One ``os.write`` on an ``O_APPEND`` descriptor per line keeps
lines whole when several threads or workers record at once.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any


def _sender_name(sender: Any) -> str:
    if isinstance(sender, type):
        return f"{sender.__module__}.{sender.__qualname__}"
    return repr(sender)


def record(signal: str, sender: Any, kwargs: dict[str, Any]) -> None:
    entry = {
        "signal": signal,
        "sender": _sender_name(sender),
        "sender_is_class": isinstance(sender, type),
        "kwargs": kwargs,
        "pid": os.getpid(),
        "ppid": os.getppid(),
    }
    line = (json.dumps(entry, default=repr) + "\n").encode()
    path = os.environ["DJANGO_BLINKER_SERVER_RECORDS"]
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


def request_started(sender: Any, **kwargs: Any) -> None:
    record("request_started", sender, kwargs)


def request_finished(sender: Any, **kwargs: Any) -> None:
    record("request_finished", sender, kwargs)


# Inline receivers, connected when DJANGO_BLINKER_SERVER_INLINE is set ----------------------


def started_inline(sender: Any, **kwargs: Any) -> None:
    """A plain Blinker receiver of request_started, called where Django sends it."""
    record("inline request_started", sender, {"thread": threading.current_thread().name})


def author_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    record("inline post_save", sender, {"name": instance.name, "created": created})


async def author_saved_async(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    record("coroutine post_save", sender, {"name": instance.name, "created": created})


def author_saved_at_commit(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    from django.db import connection

    record(
        "after-commit post_save",
        sender,
        {"name": instance.name, "in_atomic": connection.in_atomic_block},
    )
