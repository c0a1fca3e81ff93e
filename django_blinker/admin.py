"""Puts the signal pages on the admin index, under the app, as "Signals", and the outbox
as "Outbox events"."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_permission_codename
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.formats import date_format, time_format
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timezone import localtime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .background import outbox
from .delivery.event import Rejected, unseal
from .delivery.outbox_health import health
from .delivery.redaction import redacted
from .models import OutboxEvent, Signal, state_filter
from .templatetags.django_blinker import breakable
from .views.catalogue import SignalDetailView, SignalListView
from .views.page import SignalPageView
from .views.pausing import PauseView
from .views.unused import UnusedReceiversView
from .views.wiring import AppSignalsView, ModelSignalsView

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

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

        def view(cls: type[SignalPageView]) -> Any:
            return site.admin_view(cls.as_view(admin_site=site))

        return [
            path("", view(SignalListView), name="django_blinker_signal_changelist"),
            path(
                "signal/<str:system>/<str:namespace>/<path:name>/",
                view(SignalDetailView),
                name="django_blinker_signal_detail",
            ),
            path(
                "model/<str:label>/",
                view(ModelSignalsView),
                name="django_blinker_signal_model",
            ),
            path(
                "app/<str:app_label>/",
                view(AppSignalsView),
                name="django_blinker_signal_app",
            ),
            path(
                "unused/",
                view(UnusedReceiversView),
                name="django_blinker_signal_unused",
            ),
            path(
                "pause/",
                site.admin_view(PauseView.as_view(admin_site=site)),
                name="django_blinker_signal_pause",
            ),
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def _titled(title: StrOrPromise) -> type[admin.AllValuesFieldListFilter]:
    """A filter of a field's values headed ``title`` (translated) instead of the field's
    name."""

    class Titled(admin.AllValuesFieldListFilter):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.title = title

    return Titled


class OutboxStateFilter(admin.SimpleListFilter):
    """Waiting for the relay, published and awaiting confirmation, confirmed, or dead."""

    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        return list(OutboxEvent.STATES.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        state = self.value()
        return queryset.filter(state_filter(state)) if state in OutboxEvent.STATES else queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(_OutboxAdmin):
    """Events waiting for the relay, published ones awaiting a worker's confirmation,
    confirmed ones (until the relay deletes them) and dead-lettered ones, read-only.

    ``django_blinker.view_outboxevent`` shows the list, headed by the outbox's health
    (events by state, workers that found no outbox row for events they received), and
    each event with its decoded payload, sensitive values hidden
    (:func:`~django_blinker.delivery.redaction.redacted`); ``django_blinker.manage_outboxevent``
    (which implies viewing) adds the actions "Retry now" and "Discard" (after a
    confirmation page). Nothing is added or edited through the admin.
    """

    # Six columns: the list fits beside the admin's navigation and filter at 1280 px. The
    # backend is a filter and on each event's page; the full id is on the event's page.
    list_display = ("created", "event", "concerns", "receiver_name", "state", "error")
    list_filter = (
        OutboxStateFilter,
        ("signal", _titled(_("signal"))),
        ("backend", _titled(_("backend"))),
    )
    search_fields = ("id", "receiver", "signal")
    search_help_text = _("Event id, receiver or signal.")
    fields = (
        "id",
        "signal",
        "concerns",
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

    class Media:
        css: ClassVar[dict[str, tuple[str, ...]]] = {"all": ("django_blinker/outbox.css",)}

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, event: OutboxEvent) -> str:
        when = localtime(event.created_at)
        return format_html(
            "{}<br>{}", date_format(when, "DATE_FORMAT"), time_format(when, "TIME_FORMAT")
        )

    @admin.display(description=_("event"), ordering="id")
    def event(self, event: OutboxEvent) -> str:
        """The signal, and the first group of the id: enough to tell events apart on one
        page; the full id is in the tooltip and on the event's page."""
        full = str(event.pk)
        return format_html(
            '{}<br><code class="db-event-id" title="{}">{}</code>', event.signal, full, full[:8]
        )

    @admin.display(description=_("receiver"), ordering="receiver")
    def receiver_name(self, event: OutboxEvent) -> str:
        # A narrow column: a long function name may wrap after its underscores too.
        return breakable(event.receiver, "._")

    @admin.display(description=_("concerns"))
    def concerns(self, event: OutboxEvent) -> str:
        """The model and key of the row the event is about (its ``instance``), else its
        sender's model; read from the signed payload, a secret key hidden."""
        try:
            payload = redacted(unseal(event.message, expires=False))
        except (Rejected, ValueError):
            return "-"
        found = _subject(payload)
        if found is None:
            return "-"
        label, key = found
        if key is None:
            return label
        return format_html('{} <span class="db-key">{}</span>', label, key)

    @admin.display(description=_("next attempt at"), ordering="next_attempt_at")
    def next_attempt(self, event: OutboxEvent) -> Any:
        """None (shown as "-") once nothing more will be attempted: confirmed or dead."""
        if event.confirmed_at is not None or event.dead:
            return None
        return event.next_attempt_at

    @admin.display(description=_("state"))
    def state(self, event: OutboxEvent) -> str:
        """The state, how many publishes were attempted and when the next one is due."""
        attempts = ngettext("%(count)d attempt", "%(count)d attempts", event.attempts) % {
            "count": event.attempts
        }
        due = self.next_attempt(event)
        if due is not None:
            attempts = gettext("%(attempts)s, next at %(time)s") % {
                "attempts": attempts,
                "time": time_format(localtime(due), "TIME_FORMAT"),
            }
        return format_html(
            '{}<div class="db-quiet">{}</div>', OutboxEvent.STATES[event.state], attempts
        )

    @admin.display(description=_("last error"))
    def error(self, event: OutboxEvent) -> str:
        return Truncator(event.last_error).chars(ERROR_SHOWN)

    @admin.display(description=_("payload"))
    def payload(self, event: OutboxEvent) -> str:
        try:
            payload = unseal(event.message, expires=False)
        except Rejected as error:
            return gettext("unreadable: %(reason)s") % {"reason": error.reason}
        except ValueError as error:
            return gettext("unreadable: %(reason)s") % {"reason": error}
        text = json.dumps(redacted(payload), indent=2, ensure_ascii=False)
        return format_html('<pre class="django-blinker-payload">{}</pre>', text)

    @admin.action(permissions=["manage"], description=_("Retry now"))
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
        text = ngettext(
            "%(count)d event will be published on the relay's next pass.",
            "%(count)d events will be published on the relay's next pass.",
            count,
        ) % {"count": count}
        if confirmed:
            text += " " + ngettext(
                "%(count)d event already confirmed by a worker, left alone.",
                "%(count)d events already confirmed by a worker, left alone.",
                confirmed,
            ) % {"count": confirmed}
        self.message_user(request, text, messages.SUCCESS)

    @admin.action(permissions=["manage"], description=_("Discard"))
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
                    "title": gettext("Discard outbox events"),
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
            ngettext(
                "Discarded %(count)d event; its receiver will not run for it.",
                "Discarded %(count)d events; their receivers will not run for them.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
        return None


def _subject(payload: dict[str, Any]) -> tuple[str, str | None] | None:
    """``(model label, shown key)`` of the row an event concerns, ``(label, None)`` when
    only its sender's model is known, None when neither is."""
    kwargs = payload.get("kwargs")
    instance = kwargs.get("instance") if isinstance(kwargs, dict) else None
    if isinstance(instance, dict) and len(instance) == 1:
        ((tag, inner),) = instance.items()
        if tag == "$model" and isinstance(inner, list) and len(inner) == 2:
            return str(inner[0]), _shown(inner[1])
        if tag == "$snapshot" and isinstance(inner, list) and len(inner) == 2:
            return str(inner[0]), _snapshot_key(str(inner[0]), inner[1])
    sender = payload.get("sender")
    if isinstance(sender, dict) and isinstance(sender.get("$class"), str):
        return sender["$class"], None
    return None


def _snapshot_key(label: str, values: Any) -> str | None:
    try:
        fields = apps.get_model(label)._meta.pk_fields
    except (LookupError, ValueError):
        return None
    if not isinstance(values, dict):
        return None
    key = [values.get(field.attname) for field in fields]
    if any(part is None for part in key):
        return gettext("unsaved")
    return ", ".join(_shown(part) for part in key)


def _shown(key: Any) -> str:
    """A key as the payload holds it, without its JSON tags: ``{"$uuid": "..."}`` as the
    UUID, a ``$tuple`` as its parts."""
    if isinstance(key, dict) and len(key) == 1:
        ((_tag, inner),) = key.items()
        return ", ".join(_shown(part) for part in inner) if isinstance(inner, list) else str(inner)
    return str(key)
