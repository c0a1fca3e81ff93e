"""Background receivers of the request signals, run inline in the server process.

Each call appends one JSON line to the file named by ``DJANGO_BLINKER_SERVER_RECORDS``:
the signal, the sender as the receiver got it (a class by its dotted path), the keyword
arguments, and the process. One ``os.write`` on an ``O_APPEND`` descriptor per line keeps
lines whole when several threads or workers record at once.
"""

from __future__ import annotations

import json
import os
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
