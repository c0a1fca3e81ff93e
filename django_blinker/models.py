"""The placeholder model behind the admin's signal pages, the outbox, what processes report
about it, and the delivery log."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, ClassVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class _NoRows(models.Manager["Signal"]):
    """Querysets that are empty without asking the database, which has no table for them."""

    def get_queryset(self) -> models.QuerySet[Signal]:
        return super().get_queryset().none()


class Signal(models.Model):
    """An unmanaged placeholder with no table and no rows: it puts the signal pages on the
    admin index as "Signals" and gives them the ``django_blinker.view_signal`` permission.
    Its manager, the base manager too, finds nothing, so a lookup such as the admin's "view
    on site" shortcut gets ``DoesNotExist`` (a 404) instead of a missing-table error."""

    objects = _NoRows()

    class Meta:
        managed = False
        base_manager_name = "objects"
        default_permissions = ("view",)
        verbose_name = _("signal")
        verbose_name_plural = _("signals")

    def __str__(self) -> str:
        return f"signal {self.pk}"


class OutboxEventQuerySet(models.QuerySet["OutboxEvent"]):
    """Outbox events by state (:attr:`OutboxEvent.STATES`), as the admin, the relay and
    the worker select them."""

    def in_state(self, state: str) -> OutboxEventQuerySet:
        """The events in ``state``, one of :attr:`OutboxEvent.STATES`."""
        if state not in OutboxEvent.STATES:
            raise ValueError(
                f"{state!r} is not an outbox event state; use one of "
                f"{', '.join(map(repr, OutboxEvent.STATES))}"
            )
        return self.filter(state_filter(state))

    def waiting(self) -> OutboxEventQuerySet:
        """Never published, not dead: the relay (or the sender) publishes these."""
        return self.in_state("waiting")

    def published(self) -> OutboxEventQuerySet:
        """Published and not yet confirmed by a worker."""
        return self.in_state("published")

    def confirmed(self) -> OutboxEventQuerySet:
        """Confirmed by the worker that ran the receiver."""
        return self.in_state("confirmed")

    def dead(self) -> OutboxEventQuerySet:
        """Dead-lettered after ``OUTBOX_MAX_ATTEMPTS`` and never confirmed."""
        return self.in_state("dead")

    def unconfirmed(self) -> OutboxEventQuerySet:
        """Not confirmed, whatever else: what a worker may still confirm or a retry reset."""
        return self.filter(confirmed_at__isnull=True)

    def as_written(self) -> OutboxEventQuerySet:
        """Never published nor tried: rows as their sender wrote them, on which its record
        of a publish at commit may still be made. The relay's publishes and a worker's
        return of a paused receiver's event leave at least one attempt, so a record that
        comes late does not undo them."""
        return self.filter(published_at__isnull=True, attempts=0)

    def write(
        self,
        event: str,
        signal: str,
        receiver: str,
        backend: str,
        message: str,
        *,
        again: bool,
        due_in: datetime.timedelta | None = None,
    ) -> None:
        """Insert one event's row, in the current transaction, without model signals (a
        ``post_save`` would make a new event of this one), due for the relay ``due_in``
        after it is written (at once by default); ``again``: a row of that event may exist
        already (a second delivery), leave it."""
        row = OutboxEvent(
            id=event, signal=signal, receiver=receiver, backend=backend, message=message
        )
        # Due from the moment it was written: the relay takes due rows in that order.
        row.next_attempt_at = row.created_at + (due_in or datetime.timedelta(0))
        self.bulk_create([row], ignore_conflicts=again)

    def due(self, now: datetime.datetime) -> OutboxEventQuerySet:
        """Not dead, not confirmed, and whose next attempt is at ``now`` or before."""
        return self.filter(due_filter(now))


class OutboxEvent(models.Model):
    """A background event written in the sending transaction (``DJANGO_BLINKER["OUTBOX"]``):
    waiting for its sender (at commit) or the relay to publish it, then (``published_at``,
    its last publish) for the worker that ran its receiver to confirm it (``confirmed_at``;
    the relay deletes confirmed rows soon after); dead after ``OUTBOX_MAX_ATTEMPTS``
    publishes that failed or were never confirmed. Its ``id`` is the event id;
    ``message`` is the signed payload."""

    id = models.UUIDField(primary_key=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    signal = models.CharField(max_length=200, editable=False)
    receiver = models.CharField(max_length=300, editable=False)
    backend = models.CharField(max_length=20, editable=False)
    message = models.TextField(editable=False)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, default="")
    dead = models.BooleanField(default=False)

    objects = OutboxEventQuerySet.as_manager()

    #: Each state an event is in, and what a page calls it.
    STATES: ClassVar[dict[str, StrOrPromise]] = {
        "waiting": _("waiting to be published"),
        "published": _("published, not confirmed"),
        "confirmed": _("confirmed"),
        "dead": _("dead-lettered"),
    }

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        ordering = ("created_at",)
        default_permissions = ("view",)
        permissions = (("manage_outboxevent", _("Can retry and discard outbox events")),)
        indexes = (
            models.Index(fields=["dead", "next_attempt_at"], name="django_blinker_outbox_due"),
            # The relay reads its queues' marks from each end of a backend's confirmations,
            # and prunes the oldest.
            models.Index(
                fields=["backend", "confirmed_at", "published_at"],
                name="django_blinker_outbox_marks",
            ),
            # The relay asks whether an event is its backend's newest publish, and takes
            # those waiting out a failed publish soonest due first.
            models.Index(
                fields=["backend", "published_at", "next_attempt_at"],
                name="django_blinker_outbox_queue",
            ),
        )

    def __str__(self) -> str:
        return f"{self.signal} event {self.id} for {self.receiver}"

    @property
    def state(self) -> str:
        """This event's state, one of :attr:`STATES`, read from its fields as
        :meth:`OutboxEventQuerySet.in_state` selects it."""
        if self.confirmed_at is not None:
            return "confirmed"
        if self.dead:
            return "dead"
        return "waiting" if self.published_at is None else "published"


def due_filter(now: datetime.datetime) -> models.Q:
    """The condition for an event the relay may publish at ``now``: not dead, not
    confirmed, its next attempt due."""
    return models.Q(dead=False, confirmed_at__isnull=True, next_attempt_at__lte=now)


def state_filter(state: str) -> models.Q:
    """The condition on an outbox event's fields for ``state``, for a filter or a count."""
    return _STATE_FILTERS[state]


_STATE_FILTERS: dict[str, models.Q] = {
    # A row its worker confirmed before its sender's record of the publish was written
    # (the sender killed in between) is confirmed, not waiting.
    "waiting": models.Q(dead=False, published_at__isnull=True, confirmed_at__isnull=True),
    "published": models.Q(dead=False, published_at__isnull=False, confirmed_at__isnull=True),
    "confirmed": models.Q(confirmed_at__isnull=False),
    "dead": models.Q(dead=True, confirmed_at__isnull=True),
}


class DeliveredEvent(models.Model):
    """That ``receiver`` ran to completion for ``event``: the record that
    :func:`~django_blinker.delivery.worker.once_per_event` writes in the receiver's transaction."""

    event = models.UUIDField()
    receiver = models.CharField(max_length=300)
    delivered_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("delivered event")
        verbose_name_plural = _("delivered events")
        default_permissions = ()
        constraints = (
            models.UniqueConstraint(
                fields=["event", "receiver"], name="django_blinker_delivered_once"
            ),
        )

    def __str__(self) -> str:
        return f"{self.receiver} ran for event {self.event}"


class OutboxProcess(models.Model):
    """What one process (a ``worker`` or a ``relay``, on ``host`` with ``pid``) reported
    about the outbox of the database that holds this row, last at ``last_seen``.

    A relay records that it ran (``last_seen``, at most every 30 seconds): events due for
    a relay while none was seen recently show on the outbox page and in ``check --deploy``.
    A worker counts the events it received whose outbox row this database does not have
    (``missing_rows``; the latest ``last_missing_event``, at ``last_missing_at``): it
    probably reads another database than the process that sent them. The admin's outbox
    page shows these reports. Rows are written with ``update()`` and ``bulk_create()``,
    which send no model signals.
    """

    ROLES = (("worker", _("worker")), ("relay", _("relay")))

    role = models.CharField(max_length=20, choices=ROLES)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    last_seen = models.DateTimeField(default=timezone.now)
    missing_rows = models.PositiveBigIntegerField(default=0)
    last_missing_event = models.UUIDField(null=True, blank=True)
    last_missing_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("outbox process")
        verbose_name_plural = _("outbox processes")
        ordering = ("-last_seen",)
        default_permissions = ()
        constraints = (
            models.UniqueConstraint(
                fields=["role", "host", "pid"], name="django_blinker_outbox_process"
            ),
        )

    def __str__(self) -> str:
        return f"{self.role} {self.host}:{self.pid}"


class PausedReceiver(models.Model):
    """A receiver paused site-wide since ``paused_at`` by ``paused_by`` (a username):
    :mod:`django_blinker.bridging.pauses` reads these rows in every process. ``receiver``
    is its name as the admin and ``manage.py signals`` print it. Pausing and resuming take
    ``django_blinker.pause_receiver``."""

    receiver = models.CharField(max_length=300, unique=True)
    paused_at = models.DateTimeField(default=timezone.now)
    paused_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("paused receiver")
        verbose_name_plural = _("paused receivers")
        ordering = ("paused_at",)
        default_permissions = ()
        permissions = (("pause_receiver", "Can pause and resume receivers"),)

    def __str__(self) -> str:
        return self.receiver
