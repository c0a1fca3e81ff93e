"""What every signal page shares: the permission guard, the admin's context, links,
activity figures and receiver rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView, View

from .. import conf, inspection
from ..bridging import pauses
from ..inspection import SignalInfo, picture
from ..inspection.describe import ReceiverInfo
from ..models import Signal
from ..observation import activity, store
from ..observation.figures import SignalTotals, Totals, signal_figures

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

PERMISSION = "django_blinker.view_signal"
PAUSE_PERMISSION = "django_blinker.pause_receiver"
RECEIVERS_PER_PAGE = 200


@dataclass(frozen=True)
class ReceiverRow:
    """A receiver as one table row: its description, model page link and figures.

    ``recorded`` says whether its calls can be recorded at all (see
    :func:`django_blinker.observation.activity.is_recorded`): a row that is not shows no figures.
    """

    info: ReceiverInfo
    activity: Totals | None
    model_url: str | None = None
    recorded: bool = False
    reason: str = ""
    signal: SignalInfo | None = None
    signal_url: str = ""
    pause: pauses.Pause | None = None
    skipped: int = 0


class GuardedView(View):
    """A view for staff users who hold ``permission`` (superusers do), never cached:
    anyone else is sent to the admin login, or gets 403 when logged in as staff."""

    admin_site: AdminSite = admin.site
    permission: ClassVar[str] = PERMISSION

    @method_decorator(never_cache)
    @method_decorator(staff_member_required)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.has_perm(self.permission):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


class SignalPageView(GuardedView, TemplateView):
    """Base of the signal pages: the admin's context, the permission guard, GET only."""

    http_method_names: ClassVar[list[str]] = ["get", "head"]  # type: ignore[misc]
    title: StrOrPromise = ""

    def url(self, route: str, /, **kwargs: str) -> str:
        # A page links the same few signals and models from every row: reverse each once.
        key = (route, *sorted(kwargs.items()))
        urls: dict[tuple[Any, ...], str] = self.__dict__.setdefault("_urls", {})
        if key not in urls:
            urls[key] = reverse(
                f"{self.admin_site.name}:django_blinker_signal_{route}", kwargs=kwargs
            )
        return urls[key]

    def signal_url(self, signal: SignalInfo) -> str:
        system, namespace, name = signal.key
        return self.url("detail", system=system, namespace=namespace, name=name)

    def model_url(self, label: str | None) -> str | None:
        return self.url("model", label=label) if label else None

    def picture(
        self, found: dict[str, list[inspection.ModelReceiver]], title: str, *, link_models: bool
    ) -> SafeString | None:
        """The wiring picture of ``found`` as inline SVG, or ``None`` when nothing runs."""
        graph = picture.wiring(
            found,
            signal_url=self.signal_url,
            model_url=self.model_url if link_models else None,
        )
        if not graph.edges:
            return None
        # to_svg escapes every text it draws.
        return mark_safe(picture.to_svg(graph, title))

    @cached_property
    def site(self) -> store.SiteActivity | None:
        """Every process's activity when ``ACTIVITY_STORE`` is set, read once per request."""
        return store.site_activity()

    def figures(self, signal: SignalInfo) -> SignalTotals | None:
        """``signal``'s activity: the site's with a store, else this process's."""
        return signal_figures(signal.signal, self.site)

    def skipped(self, signal: SignalInfo, receiver: str) -> int:
        """Calls of ``receiver`` skipped while paused: the site's with a store."""
        found = self.figures(signal)
        totals = found.receivers.get(receiver) if found is not None else None
        return totals.skipped if totals is not None else 0

    def receiver_row(
        self, signal: SignalInfo, receiver: ReceiverInfo, /, **shown: Any
    ) -> ReceiverRow:
        """``receiver`` of ``signal`` as a row with its figures and pause; ``shown`` sets
        the row's other fields (its model link, why it runs, its signal's link)."""
        figures = self.figures(signal)
        return ReceiverRow(
            info=receiver,
            activity=figures.receivers.get(receiver.name) if figures else None,
            recorded=activity.is_recorded(signal.signal),
            pause=pauses.pause_of(receiver.name),
            skipped=self.skipped(signal, receiver.name),
            **shown,
        )

    def receiver_rows(
        self, signal: SignalInfo, receivers: Iterable[ReceiverInfo]
    ) -> list[ReceiverRow]:
        """Rows of ``receivers``, some of ``signal``'s: one page of them, never all."""
        return [
            self.receiver_row(signal, receiver, model_url=self.model_url(receiver.sender_model))
            for receiver in receivers
        ]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            **{
                **kwargs,
                **self.admin_site.each_context(self.request),
                "opts": Signal._meta,
                "title": self.title,
                "subtitle": None,
                "activity_on": activity.is_enabled(),
                "site": self.site,
                "list_url": self.url("changelist"),
                "can_pause": self.request.user.has_perm(PAUSE_PERMISSION),
                "pause_url": self.url("pause"),
                "pauses": pauses.pauses(),
                "pause_refresh": conf.settings.pause_refresh,
                "unused_url": self.url("unused"),
            }
        )


def page_numbers(number: int, count: int) -> list[int]:
    """The page numbers a paginated page links: the first, the last and three each side."""
    return sorted({1, count, *range(max(1, number - 3), min(count, number + 3) + 1)})
