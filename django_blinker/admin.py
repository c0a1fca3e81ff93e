"""Puts the signal pages on the admin index, under the app, as "Signals", and the outbox
as "Outbox events"."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_permission_codename
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.utils.text import Truncator

from . import outbox, views
from .message import Rejected, unseal
from .models import OutboxEvent, Signal
from .outbox_health import STATES, health
from .redaction import redacted

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Signal]
    _OutboxAdmin = admin.ModelAdmin[OutboxEvent]
else:
    _ModelAdmin = _OutboxAdmin = admin.ModelAdmin

ERROR_SHOWN = 80


@admin.register(Signal)
class SignalAdmin(_ModelAdmin):
    """Read-only: the changelist is the signal list; nothing can be added, changed or deleted."""

    def get_urls(self) -> list[URLPattern]:
        site = self.admin_site

        def view(cls: type[views.SignalPageView]) -> Any:
            return site.admin_view(cls.as_view(admin_site=site))

        return [
            path("", view(views.SignalListView), name="django_blinker_signal_changelist"),
            path(
                "signal/<str:system>/<str:namespace>/<path:name>/",
                view(views.SignalDetailView),
                name="django_blinker_signal_detail",
            ),
            path(
                "model/<str:label>/",
                view(views.ModelSignalsView),
                name="django_blinker_signal_model",
            ),
            path(
                "app/<str:app_label>/",
                view(views.AppSignalsView),
                name="django_blinker_signal_app",
            ),
            path(
                "unused/",
                view(views.UnusedReceiversView),
                name="django_blinker_signal_unused",
            ),
            path(
                "pause/",
                site.admin_view(views.PauseView.as_view(admin_site=site)),
                name="django_blinker_signal_pause",
            ),
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class OutboxStateFilter(admin.SimpleListFilter):
    """Waiting for the relay, published and awaiting confirmation, confirmed, or dead."""

    title = "state"
    parameter_name = "state"
    STATES: ClassVar[dict[str, tuple[str, dict[str, Any]]]] = STATES

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _filters) in self.STATES.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        found = self.STATES.get(self.value() or "")
        return queryset if found is None else queryset.filter(**found[1])


def _state(event: OutboxEvent) -> str:
    if event.confirmed_at is not None:
        return "confirmed"
    if event.dead:
        return "dead-lettered"
    if event.published_at is None:
        return "waiting to be published"
    return "published, not confirmed"


@admin.register(OutboxEvent)
class OutboxEventAdmin(_OutboxAdmin):
    """Events waiting for the relay, published ones awaiting a worker's confirmation,
    confirmed ones (until the relay deletes them) and dead-lettered ones, read-only.

    ``django_blinker.view_outboxevent`` shows the list, headed by the outbox's health
    (events by state, workers that found no outbox row for events they received), and
    each event with its decoded payload, sensitive values hidden
    (:func:`~django_blinker.redaction.redacted`); ``django_blinker.manage_outboxevent``
    (which implies viewing) adds the actions "Retry now" and "Discard" (after a
    confirmation page). Nothing is added or edited through the admin.
    """

    list_display = (
        "created_at",
        "signal",
        "receiver",
        "event_id",
        "backend",
        "state",
        "attempts",
        "next_attempt",
        "error",
    )
    list_filter = (OutboxStateFilter, "signal", "backend")
    search_fields = ("id", "receiver", "signal")
    search_help_text = "Event id, receiver or signal."
    fields = (
        "id",
        "signal",
        "receiver",
        "backend",
        "created_at",
        "state",
        "attempts",
        "published_at",
        "confirmed_at",
        "next_attempt",
        "last_error",
        "payload",
    )
    readonly_fields = fields
    actions = ("retry_now", "discard")
    # A broker outage can fill the outbox; counting every row for each page would hurt.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> Any:
        if self.has_view_permission(request):
            extra_context = {
                **(extra_context or {}),
                "outbox_health": [health(alias) for alias in outbox.outbox_databases()],
            }
        return super().changelist_view(request, extra_context)

    def has_change_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_manage_permission(request)

    def has_manage_permission(self, request: HttpRequest) -> bool:
        """Whether the user may retry and discard events."""
        codename = get_permission_codename("manage", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    @admin.display(description="event id", ordering="id")
    def event_id(self, event: OutboxEvent) -> str:
        return str(event.pk)

    @admin.display(description="next attempt at", ordering="next_attempt_at")
    def next_attempt(self, event: OutboxEvent) -> Any:
        """None (shown as "-") once nothing more will be attempted: confirmed or dead."""
        if event.confirmed_at is not None or event.dead:
            return None
        return event.next_attempt_at

    @admin.display(description="state")
    def state(self, event: OutboxEvent) -> str:
        return _state(event)

    @admin.display(description="last error")
    def error(self, event: OutboxEvent) -> str:
        return Truncator(event.last_error).chars(ERROR_SHOWN)

    @admin.display(description="payload")
    def payload(self, event: OutboxEvent) -> str:
        try:
            payload = unseal(event.message, expires=False)
        except Rejected as error:
            return f"unreadable: {error.reason}"
        except ValueError as error:
            return f"unreadable: {error}"
        text = json.dumps(redacted(payload), indent=2, ensure_ascii=False)
        return format_html('<pre class="django-blinker-payload">{}</pre>', text)

    @admin.action(permissions=["manage"], description="Retry now")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        events = [event for event in queryset if event.confirmed_at is None]
        confirmed = queryset.count() - len(events)
        count = outbox.retry(queryset)
        LogEntry.objects.log_actions(
            user_id=cast(int, request.user.pk),  # admin views have a logged-in user
            queryset=events,
            action_flag=CHANGE,
            change_message="Retried now.",
        )
        self.message_user(
            request,
            f"{_events(count)} will be published on the relay's next pass."
            + (
                f" {_events(confirmed)} already confirmed by a worker, left alone."
                if confirmed
                else ""
            ),
            messages.SUCCESS,
        )

    @admin.action(permissions=["manage"], description="Discard")
    def discard(
        self, request: HttpRequest, queryset: QuerySet[OutboxEvent]
    ) -> TemplateResponse | None:
        if request.POST.get("post") != "yes":
            request.current_app = self.admin_site.name
            return TemplateResponse(
                request,
                f"admin/{self.opts.app_label}/{self.opts.model_name}/discard_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Discard outbox events",
                    "subtitle": None,
                    "opts": self.opts,
                    "events": queryset,
                    "action_checkbox_name": ACTION_CHECKBOX_NAME,
                },
            )
        self.log_deletions(request, queryset)
        count = outbox.discard(queryset)
        self.message_user(
            request,
            f"Discarded {_events(count)}; their receivers will not run for them.",
            messages.SUCCESS,
        )
        return None


def _events(count: int) -> str:
    return f"{count} event{'s' if count != 1 else ''}"
