"""The placeholder model behind the admin's signal pages, the outbox, what processes report
about it, and the delivery log."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


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
        verbose_name = "signal"
        verbose_name_plural = "signals"

    def __str__(self) -> str:
        return f"signal {self.pk}"


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

    class Meta:
        verbose_name = "outbox event"
        verbose_name_plural = "outbox events"
        ordering = ("created_at",)
        default_permissions = ("view",)
        permissions = (("manage_outboxevent", "Can retry and discard outbox events"),)
        indexes = (
            models.Index(fields=["dead", "next_attempt_at"], name="django_blinker_outbox_due"),
            models.Index(
                fields=["confirmed_at", "published_at"], name="django_blinker_outbox_confirm"
            ),
        )

    def __str__(self) -> str:
        return f"{self.signal} event {self.id} for {self.receiver}"


class DeliveredEvent(models.Model):
    """That ``receiver`` ran to completion for ``event``: the record that
    :func:`~django_blinker.delivery.once_per_event` writes in the receiver's transaction."""

    event = models.UUIDField()
    receiver = models.CharField(max_length=300)
    delivered_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "delivered event"
        verbose_name_plural = "delivered events"
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

    ROLES = (("worker", "worker"), ("relay", "relay"))

    role = models.CharField(max_length=20, choices=ROLES)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    last_seen = models.DateTimeField(default=timezone.now)
    missing_rows = models.PositiveBigIntegerField(default=0)
    last_missing_event = models.UUIDField(null=True, blank=True)
    last_missing_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "outbox process"
        verbose_name_plural = "outbox processes"
        ordering = ("-last_seen",)
        default_permissions = ()
        constraints = (
            models.UniqueConstraint(
                fields=["role", "host", "pid"], name="django_blinker_outbox_process"
            ),
        )

    def __str__(self) -> str:
        return f"{self.role} {self.host}:{self.pid}"
