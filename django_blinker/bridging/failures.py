"""Receivers that raise: one logger, one message, and how Django's send_robust is told.

Under the ``ROBUST`` setting a receiver's exception is logged through :func:`log_failure`
and dispatch goes on (read when a plan is built). Under Django's ``send_robust`` the hook
logs each failure, calls the remaining receivers and raises the first, which Django puts
in its responses.
"""

from __future__ import annotations

import logging
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from django.dispatch import Signal as DjangoSignal

from .naming import receiver_name, sender_label

if TYPE_CHECKING:
    from .bridged import BridgedSignal

logger = logging.getLogger("django_blinker")

_DISPATCHER_FILE = DjangoSignal.send_robust.__code__.co_filename
_django_dispatch_logger = logging.getLogger("django.dispatch")


def sent_robustly(caller: FrameType | None) -> bool:
    """Whether ``caller``, the frame that called a hook, is Django's send_robust/asend_robust.

    Django gives its receivers no other way to know; it is read only once a receiver
    has raised, so it costs nothing on the dispatch path.
    """
    if caller is None:
        return False
    code = caller.f_code
    return code.co_filename == _DISPATCHER_FILE and "send_robust" in code.co_qualname


def log_failure(signal: BridgedSignal, receiver: object, sender: Any, error: Exception) -> None:
    """Log ``error``, raised by ``receiver`` of ``signal``: the one record of every failure,
    under ``ROBUST`` or Django's ``send_robust``."""
    logger.error(
        "Error calling %s (Blinker receiver of %s) for sender %s",
        receiver_name(receiver),
        signal.name,
        sender_label(sender) if sender is not None else "None",
        exc_info=error,
    )


_handed_to_django = threading.local()


class _LoggedAlready(logging.Filter):
    """Drops Django's send_robust record of an error a hook has logged and re-raised."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = getattr(_handed_to_django, "error", None)
        if error is None or not record.exc_info or record.exc_info[1] is not error:
            return True
        _handed_to_django.error = None
        return False


_logged_already = _LoggedAlready()


def hand_to_django(error: Exception) -> Exception:
    """``error``, to raise to Django's send_robust, which will not log it a second time."""
    # Django logs what a receiver raises in send_robust; the hook logged it already,
    # naming the Blinker receiver rather than the hook.
    if _django_dispatch_logger.isEnabledFor(logging.ERROR):
        _django_dispatch_logger.addFilter(_logged_already)
        _handed_to_django.error = error
    return error
