"""Background receivers on Celery (``pip install django-blinker[celery]``).

Connect with ``in_background(signal, receiver, backend="celery")`` or set
``DJANGO_BLINKER = {"BACKGROUND_BACKEND": "celery"}``. Each committed event becomes one
``django_blinker.deliver`` task (a shared task: it binds to the project's Celery app, and
the worker registers it when Django starts and the receivers connect; ``include``
``"django_blinker.celery"`` in the app to be explicit). The Celery task id is the event id.

Retry policy: a receiver that raises :class:`~django_blinker.background.Retry`,
``django.db.OperationalError`` or ``django.db.InterfaceError`` is retried up to
``MAX_RETRIES`` (3) times, after 1, 2 and 4 seconds; any other exception fails the task
at once. Every failure is logged on the ``django_blinker`` logger with the event id, the
payload and the traceback. A receiver may therefore run more than once for one event: use
``current_event().id`` to stay idempotent.
"""

from __future__ import annotations

from celery import Task, shared_task  # type: ignore[import-untyped]
from django.db import InterfaceError, OperationalError

from .background import Retry, deliver, deliver_many
from .payload import Payload

MAX_RETRIES = 3
TASK_NAME = "django_blinker.deliver"
BATCH_TASK_NAME = "django_blinker.deliver_batch"


RETRY_FOR: tuple[type[BaseException], ...] = (Retry, OperationalError, InterfaceError)


@shared_task(  # type: ignore[untyped-decorator]
    bind=True,
    name=TASK_NAME,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def deliver_task(self: Task, payload: Payload) -> None:
    """Run the background receiver of ``payload`` in the worker."""
    try:
        deliver(payload)
    except RETRY_FOR as error:
        raise self.retry(exc=error, countdown=2**self.request.retries) from error


def enqueue(payload: Payload) -> None:
    """Send ``payload`` to the broker now (called at commit); raises if the broker is down."""
    # An explicit argsrepr spares Celery a saferepr() walk of the payload on every publish.
    deliver_task.apply_async(
        (payload,),
        task_id=payload["event"],
        argsrepr=f"(<{payload['signal']} event for {payload['receiver']}>,)",
        kwargsrepr="{}",
    )


@shared_task(  # type: ignore[untyped-decorator]
    bind=True,
    name=BATCH_TASK_NAME,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def deliver_batch_task(self: Task, payloads: list[Payload]) -> None:
    """Run the coalesced events of one transaction in order; retry only the ones that
    asked for it, fail the task if any other failed (each failure is logged)."""
    failed = deliver_many(payloads)
    retry = [payload for payload, error in failed if isinstance(error, RETRY_FOR)]
    if retry:
        raise self.retry(args=(retry,), countdown=2**self.request.retries)
    if failed:
        raise failed[0][1]


def enqueue_many(payloads: list[Payload]) -> None:
    """Send the coalesced ``payloads`` of one transaction as one task now."""
    deliver_batch_task.apply_async(
        (payloads,),
        argsrepr=f"(<{len(payloads)} {payloads[0]['signal']} events for "
        f"{payloads[0]['receiver']}>,)",
        kwargsrepr="{}",
    )
